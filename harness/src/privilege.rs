//! Root checks shared by the harness and by privileged tests.
//!
//! Privileged tests call `require_root`: without root they print why they skip, except in
//! CI (`CI=true`), where a skip would hide a broken set-up and therefore fails.

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// True when running in CI (`CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Returns true when the privileged test `name` may run; prints a skip line otherwise.
/// Panics when the test would be skipped in CI.
pub fn require_root(name: &str) -> bool {
    if is_root() {
        return true;
    }
    let reason = "needs root (network namespaces, iptables, NFQUEUE); run `sudo make test`";
    assert!(!in_ci(), "{name}: {reason}; in CI a skip is a failure");
    eprintln!("SKIPPED {name}: {reason}");
    false
}
