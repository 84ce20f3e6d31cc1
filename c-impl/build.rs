//! Build script: compiles the C reference filter (csrc/*.c) into one static
//! library linked into this crate.
//!
//! Why it exists: the C filter is the baseline of the benchmark and must be
//! built by `cargo build` like everything else, with the flags the project
//! promises (-std=gnu11 -O2 -Wall -Wextra -Werror) and against the system's
//! libnetfilter_queue and libmnl found through pkg-config.
//!
//! `NFQB_SANITIZE=1` adds AddressSanitizer and UBSan (every UBSan finding aborts:
//! -fno-sanitize-recover=all) to the C code and links their runtimes; run with
//! `ASAN_OPTIONS=verify_asan_link_order=0` (the Rust binary does not load libasan
//! first). scripts/test-sanitize.sh (`make test-sanitize`) runs the C tests, the
//! differential tests and the filter on real traffic that way.

use std::path::Path;

const LIBS: [&str; 2] = ["libnetfilter_queue", "libmnl"];

fn main() {
    let mut include_paths = Vec::new();
    for lib in LIBS {
        match pkg_config::Config::new().probe(lib) {
            Ok(found) => include_paths.extend(found.include_paths),
            Err(e) => panic!(
                "\n\nc-impl needs the C library `{lib}` and its headers, found through pkg-config:\n\
                 {e}\n\n\
                 On Debian/Ubuntu install them with\n\
                 \x20   apt-get install libnetfilter-queue-dev libmnl-dev pkg-config\n\
                 (or run `make deps`).\n"
            ),
        }
    }

    let mut sources: Vec<_> = std::fs::read_dir("csrc")
        .expect("c-impl/csrc is missing")
        .map(|e| e.expect("reading c-impl/csrc").path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("c" | "h")))
        .collect();
    sources.sort();
    println!("cargo:rerun-if-changed=csrc");
    for src in &sources {
        println!("cargo:rerun-if-changed={}", src.display());
    }
    println!("cargo:rerun-if-env-changed=NFQB_SANITIZE");

    let c_files = sources
        .iter()
        .filter(|p| p.extension() == Some("c".as_ref()));
    let mut build = cc::Build::new();
    build
        .files(c_files)
        .include(Path::new("csrc"))
        .includes(&include_paths)
        .flag("-std=gnu11")
        .flag("-Wall")
        .flag("-Wextra")
        .flag("-Werror")
        .opt_level(2);
    if std::env::var("NFQB_SANITIZE").as_deref() == Ok("1") {
        build
            .flag("-fsanitize=address,undefined")
            // Without this UBSan prints its report and carries on: make it abort.
            .flag("-fno-sanitize-recover=all")
            .flag("-fno-omit-frame-pointer");
        // The Rust linker does not add the sanitizer runtimes by itself.
        println!("cargo:rustc-link-lib=dylib=asan");
        println!("cargo:rustc-link-lib=dylib=ubsan");
    }
    build.compile("nfqb");
}
