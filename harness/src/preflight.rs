//! Checks made before the harness changes anything on the machine. Each failure is one
//! sentence that says what is missing and how to fix it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::iptables::Protocol;
use crate::load::generator::which;
use crate::model::Impl;
use crate::netns::{Host, Place};

/// Paths of the programs a run needs, found by the checks.
#[derive(Debug, Clone)]
pub struct Programs {
    pub c_filter: Option<PathBuf>,
    pub rust_filter: Option<PathBuf>,
    pub harness: PathBuf,
}

impl Programs {
    pub fn filter(&self, i: Impl) -> Option<&Path> {
        match i {
            Impl::C => self.c_filter.as_deref(),
            Impl::Rust => self.rust_filter.as_deref(),
            Impl::None => None,
        }
    }
}

pub fn require_root() -> Result<()> {
    if !crate::privilege::is_root() {
        bail!(
            "the benchmark needs root (it creates a network namespace and NFQUEUE rules): \
             run it with sudo, e.g. `sudo make bench`"
        );
    }
    Ok(())
}

pub fn require_program(name: &str, package: &str) -> Result<PathBuf> {
    if name.contains('/') && Path::new(name).is_file() {
        return Ok(name.into());
    }
    which(name).ok_or_else(|| {
        anyhow::anyhow!(
            "`{name}` is not installed: install the {package} package (`sudo make deps`)"
        )
    })
}

/// The kernel's NFQUEUE support: the nfnetlink_queue module (loaded on demand).
pub fn require_nfqueue() -> Result<()> {
    let loaded = |m: &str| Path::new(&format!("/sys/module/{m}")).exists();
    if !loaded("nfnetlink_queue") {
        let _ = std::process::Command::new("modprobe")
            .arg("nfnetlink_queue")
            .status();
    }
    if !loaded("nfnetlink_queue") && !Path::new("/proc/net/netfilter/nfnetlink_queue").exists() {
        bail!(
            "the kernel has no NFQUEUE support (module nfnetlink_queue): \
             load it with `modprobe nfnetlink_queue` or use a kernel with CONFIG_NETFILTER_NETLINK_QUEUE"
        );
    }
    Ok(())
}

pub fn find_programs(impls: &[Impl]) -> Result<Programs> {
    let find = |i: Impl, name: &str| -> Result<Option<PathBuf>> {
        if impls.contains(&i) {
            crate::filters::binary_path(name).map(Some)
        } else {
            Ok(None)
        }
    };
    Ok(Programs {
        c_filter: find(Impl::C, "c-filter")?,
        rust_filter: find(Impl::Rust, "rust-filter")?,
        harness: std::env::current_exe()?,
    })
}

/// In host mode: the port must be free and no rule may already use our queue.
pub fn host_checks(iptables: &str, protocol: Protocol, port: u16, queue: u16) -> Result<()> {
    let flag = match protocol {
        Protocol::Tcp => "-ltnH",
        Protocol::Udp => "-lunH",
    };
    let listening = Host.run("ss", &[flag, &format!("sport = :{port}")])?;
    if !listening.trim().is_empty() {
        bail!("port {port} is already in use on the host: stop what listens there or pick another --port");
    }
    let rules = crate::iptables::rules_on_queue(&Host, iptables, queue)?;
    if let Some(r) = rules.first() {
        bail!(
            "the host already has a rule sending to queue {queue} ({r}): remove it or pick another --queue"
        );
    }
    Ok(())
}

/// Has every filter of the plan parse the rules file (`--check`), so a typo is reported
/// before anything changes, in the filter's own words (file, line, what is wrong).
pub fn check_rules(programs: &Programs, impls: &[Impl], rules: &Path) -> Result<()> {
    for &i in impls {
        let Some(bin) = programs.filter(i) else {
            continue;
        };
        let out = std::process::Command::new(bin)
            .arg("--check")
            .arg("--rules")
            .arg(rules)
            .stdin(std::process::Stdio::null())
            .output()?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            bail!(
                "{}",
                err.lines()
                    .next()
                    .unwrap_or("the rules file was refused")
                    .trim()
            );
        }
    }
    Ok(())
}
