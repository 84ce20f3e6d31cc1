//! Facts about the machine and the tools, recorded in run.json so a result can be
//! traced to the kernel, CPU, library and compiler versions that produced it.

use std::path::Path;
use std::process::{Command, Stdio};

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub kernel: String,
    pub cpu_model: String,
    pub cpu_count: usize,
    pub iptables: String,
    pub libnetfilter_queue: String,
    pub libmnl: String,
    pub rustc: String,
    pub gcc: String,
    pub git_revision: String,
    pub harness_version: String,
}

impl Environment {
    pub fn collect(iptables: &str) -> Environment {
        Environment {
            kernel: first_line_of(Path::new("uname"), &["-srvm"]),
            cpu_model: cpu_model(),
            cpu_count: std::thread::available_parallelism().map_or(0, |n| n.get()),
            iptables: first_line_of(Path::new(iptables), &["--version"]),
            libnetfilter_queue: first_line_of(
                Path::new("pkg-config"),
                &["--modversion", "libnetfilter_queue"],
            ),
            libmnl: first_line_of(Path::new("pkg-config"), &["--modversion", "libmnl"]),
            rustc: first_line_of(Path::new("rustc"), &["--version"]),
            gcc: first_line_of(Path::new("gcc"), &["--version"]),
            git_revision: git_revision(),
            harness_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// First non-empty line a command prints (stdout, else stderr), or "unknown (...)".
pub fn first_line_of(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) => {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("unknown (no output)")
                .to_string()
        }
        Err(e) => format!("unknown ({}: {e})", program.display()),
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn git_revision() -> String {
    let rev = first_line_of(Path::new("git"), &["rev-parse", "HEAD"]);
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .stdin(Stdio::null())
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    if dirty {
        format!("{rev} (with uncommitted changes)")
    } else {
        rev
    }
}
