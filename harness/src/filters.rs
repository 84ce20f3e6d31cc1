//! The two filter programs as the harness sees them: where their binaries are, the flags
//! they share, and the stats JSON they write at exit (docs/filter-spec.md).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Keys of the stats object, in the order both filters write them.
pub const STATS_KEYS: [&str; 21] = [
    "impl",
    "queue",
    "copy_range",
    "rcvbuf",
    "queues",
    "gso",
    "batch",
    "packets",
    "bytes",
    "accepted",
    "dropped",
    "malformed",
    "default_hits",
    "rule_hits",
    "recv_errors",
    "enobufs",
    "verdict_errors",
    "gso_packets",
    "verdict_messages",
    "cpu_user_us",
    "cpu_sys_us",
];

/// One entry of `rule_hits`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleHit {
    pub line: u64,
    pub rule: String,
    pub hits: u64,
}

/// The stats a filter writes on SIGINT/SIGTERM. The keys added with `--gso`, `--batch`
/// and `--queues` default to the values of a filter run without those flags, so stats
/// saved before them still parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterStats {
    #[serde(rename = "impl")]
    pub implementation: String,
    /// The first queue.
    pub queue: u32,
    pub copy_range: u32,
    pub rcvbuf: u64,
    /// Queues bound (`--queues`), counters are summed over them.
    #[serde(default = "one_u32")]
    pub queues: u32,
    /// `--gso` was given.
    #[serde(default)]
    pub gso: bool,
    /// `--batch`: verdicts per verdict message, at most.
    #[serde(default = "one_u32")]
    pub batch: u32,
    pub packets: u64,
    pub bytes: u64,
    pub accepted: u64,
    pub dropped: u64,
    pub malformed: u64,
    pub default_hits: u64,
    pub rule_hits: Vec<RuleHit>,
    pub recv_errors: u64,
    pub enobufs: u64,
    pub verdict_errors: u64,
    /// Packets the kernel flagged as GSO super-packets.
    #[serde(default)]
    pub gso_packets: u64,
    /// Netlink verdict messages sent (= `packets` with `--batch 1`).
    #[serde(default)]
    pub verdict_messages: u64,
    pub cpu_user_us: u64,
    pub cpu_sys_us: u64,
}

fn one_u32() -> u32 {
    1
}

impl FilterStats {
    pub fn parse(text: &str) -> Result<FilterStats> {
        serde_json::from_str(text.trim()).with_context(|| format!("bad filter stats {text:?}"))
    }

    /// CPU time (user + system) in nanoseconds per packet decided.
    pub fn cpu_ns_per_packet(&self) -> Option<f64> {
        (self.packets > 0)
            .then(|| (self.cpu_user_us + self.cpu_sys_us) as f64 * 1000.0 / self.packets as f64)
    }
}

/// Flags shared by both filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilterArgs {
    pub queue: u16,
    pub copy_range: u32,
    pub queue_maxlen: Option<u32>,
    pub rcvbuf: Option<u64>,
    pub fail_open: bool,
    /// `--gso`: GSO super-packets are queued whole.
    pub gso: bool,
    /// `--batch N` when given (the filters' default is 1).
    pub batch: Option<u32>,
    /// `--queues N` when given (the filters' default is 1); the NFQUEUE rule must then
    /// spread over `queue ..= queue + N - 1` (`--queue-balance`).
    pub queues: Option<u16>,
    pub rules: Option<PathBuf>,
    pub stats: PathBuf,
}

impl FilterArgs {
    pub fn new(stats: PathBuf) -> FilterArgs {
        FilterArgs {
            queue: 0,
            copy_range: 65535,
            queue_maxlen: None,
            rcvbuf: None,
            fail_open: false,
            gso: false,
            batch: None,
            queues: None,
            rules: None,
            stats,
        }
    }

    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec![
            "--queue".to_string(),
            self.queue.to_string(),
            "--copy-range".into(),
            self.copy_range.to_string(),
        ];
        if let Some(n) = self.queue_maxlen {
            a.extend(["--queue-maxlen".into(), n.to_string()]);
        }
        if let Some(n) = self.rcvbuf {
            a.extend(["--rcvbuf".into(), n.to_string()]);
        }
        if self.fail_open {
            a.push("--fail-open".into());
        }
        if self.gso {
            a.push("--gso".into());
        }
        if let Some(n) = self.batch {
            a.extend(["--batch".into(), n.to_string()]);
        }
        if let Some(n) = self.queues {
            a.extend(["--queues".into(), n.to_string()]);
        }
        if let Some(r) = &self.rules {
            a.extend(["--rules".into(), r.display().to_string()]);
        }
        a.extend(["--stats".into(), self.stats.display().to_string()]);
        a
    }
}

/// The program name of an implementation's filter ("none" has none).
pub fn binary_name(implementation: crate::model::Impl) -> &'static str {
    match implementation {
        crate::model::Impl::C => "c-filter",
        crate::model::Impl::Rust => "rust-filter",
        crate::model::Impl::None => "no filter",
    }
}

/// Finds a workspace binary (`c-filter`, `rust-filter`, `harness`): `NFQB_BIN_DIR` if set,
/// else beside the running executable (or one level up, for test executables in `deps/`).
pub fn binary_path(name: &str) -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::var_os("NFQB_BIN_DIR") {
        dirs.push(d.into());
    }
    let exe = std::env::current_exe().context("cannot find the running executable")?;
    if let Some(dir) = exe.parent() {
        dirs.push(dir.to_path_buf());
        if let Some(up) = dir.parent() {
            dirs.push(up.to_path_buf());
        }
    }
    for d in &dirs {
        let p = d.join(name);
        if is_executable(&p) {
            return Ok(p);
        }
    }
    bail!(
        "{name} is not built (looked in {}); run `cargo build --release --workspace` first",
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spec_example() {
        let s = FilterStats::parse(
            r#"{"impl":"c","queue":0,"copy_range":65535,"rcvbuf":16777216,
            "packets":10,"bytes":12345,"accepted":9,"dropped":1,"malformed":0,
            "default_hits":9,"rule_hits":[{"line":3,"rule":"drop tcp dst-port 23","hits":1}],
            "recv_errors":0,"enobufs":0,"verdict_errors":0,
            "cpu_user_us":1234,"cpu_sys_us":5678}"#,
        )
        .unwrap();
        assert_eq!(s.rule_hits[0].hits, 1);
        assert_eq!(s.cpu_ns_per_packet(), Some(691_200.0));
        assert!(FilterStats::parse(r#"{"impl":"c"}"#).is_err());
        // Written before the tuning flags: their keys take the defaults.
        assert_eq!((s.queues, s.gso, s.batch), (1, false, 1));
        assert_eq!((s.gso_packets, s.verdict_messages), (0, 0));
    }

    #[test]
    fn parses_tuned_stats() {
        let s = FilterStats::parse(
            r#"{"impl":"rust","queue":0,"copy_range":128,"rcvbuf":16777216,"queues":2,"gso":true,"batch":32,
            "packets":10,"bytes":12345,"accepted":9,"dropped":1,"malformed":0,
            "default_hits":9,"rule_hits":[{"line":3,"rule":"drop tcp dst-port 23","hits":1}],
            "recv_errors":0,"enobufs":0,"verdict_errors":0,"gso_packets":4,"verdict_messages":3,
            "cpu_user_us":1234,"cpu_sys_us":5678}"#,
        )
        .unwrap();
        assert_eq!((s.queues, s.gso, s.batch), (2, true, 32));
        assert_eq!((s.gso_packets, s.verdict_messages), (4, 3));
        let text = serde_json::to_string(&s).unwrap();
        let positions: Vec<usize> = STATS_KEYS
            .iter()
            .map(|k| text.find(&format!("\"{k}\"")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn tuning_flags_are_passed_when_given() {
        let mut a = FilterArgs::new("/tmp/s.json".into());
        a.copy_range = 128;
        a.gso = true;
        a.batch = Some(32);
        a.queues = Some(2);
        assert_eq!(
            a.to_args().join(" "),
            "--queue 0 --copy-range 128 --gso --batch 32 --queues 2 --stats /tmp/s.json"
        );
    }

    #[test]
    fn default_args_follow_the_paper() {
        let a = FilterArgs::new("/tmp/s.json".into()).to_args();
        assert_eq!(
            a.join(" "),
            "--queue 0 --copy-range 65535 --stats /tmp/s.json"
        );
    }
}
