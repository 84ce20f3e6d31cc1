//! Fuzz smoke for `cargo test`: replays the committed seed corpora of every fuzz target
//! (fuzz/corpus/<target>/) through the same checks the libFuzzer targets run, without
//! libFuzzer, so CI exercises them on every run. The checks are the fuzz crate's own
//! (fuzz/src/check.rs, included here), so a corpus file means the same in both places.
//! The C-only targets' corpora go through the differential checks of the same layout.

#[allow(dead_code)]
#[path = "../../fuzz/src/check.rs"]
mod check;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Runs every file of fuzz/corpus/<target>/ through the target's check; returns how many.
fn replay(target: &str) -> usize {
    let check = check::check_for_target(target).expect("known target");
    let dir = fuzz_dir().join("corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut failures = Vec::new();
    for f in &files {
        let data = std::fs::read(f).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", f.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} of {} corpus files fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    files.len()
}

#[test]
fn rule_files_list_matches_the_directory() {
    // The C fuzzer loads fuzz/rules/*.rules in name order; the Rust list must be the same.
    let mut on_disk: Vec<String> = std::fs::read_dir(fuzz_dir().join("rules"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rules"))
        .collect();
    on_disk.sort();
    let listed: Vec<&str> = check::RULE_FILES.iter().map(|(n, _)| *n).collect();
    assert_eq!(on_disk, listed);
    // And both parsers take every one of them.
    let sets = check::RuleSets::load();
    assert_eq!(sets.c.len(), sets.rust.len());
}

#[test]
fn packet_corpora_replay() {
    for target in ["rust_decide", "differential", "fuzz_decide"] {
        let n = replay(target);
        assert!(n >= 20, "{target}: only {n} seeds");
    }
}

#[test]
fn rules_corpora_replay() {
    for target in ["rust_rules", "differential_rules", "fuzz_rules"] {
        let n = replay(target);
        assert!(n >= 10, "{target}: only {n} seeds");
    }
}
