//! `rust-filter`: see the library crate (`rust_impl`) and docs/filter-spec.md.

fn main() -> std::process::ExitCode {
    rust_impl::main_with_args(std::env::args_os())
}
