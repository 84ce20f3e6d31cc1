//! `c-filter`: the C reference NFQUEUE filter. All receive, parse and verdict
//! work is done in C (csrc/filter.c); this only hands over argv and the exit code.

fn main() {
    std::process::exit(c_impl::c_main(std::env::args_os()));
}
