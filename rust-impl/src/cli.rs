//! Command-line flags (spec, "Command line").
//!
//! Why this module exists: clap declares the flags and enforces their ranges, so a bad
//! value is rejected before anything else happens, with clap's message and exit code 2.
//! The rest of the program only sees the typed, already-valid [`Options`].

use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::Parser;

/// The flags as declared to clap.
#[derive(Debug, Parser)]
#[command(
    name = "rust-filter",
    about = "NFQUEUE packet filter (Rust, nfq crate): decides each queued packet by a rules file",
    disable_version_flag = true
)]
pub struct Args {
    /// First queue number to bind.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u16))]
    pub queue: u16,

    /// Bytes of each packet copied to user space.
    #[arg(long = "copy-range", value_name = "BYTES", default_value_t = 65535,
          value_parser = clap::value_parser!(u16).range(1..=65535))]
    pub copy_range: u16,

    /// Kernel queue length [default: the kernel's, 1024]; only sent when given.
    #[arg(long = "queue-maxlen", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=4_294_967_295))]
    pub queue_maxlen: Option<u32>,

    /// Netlink socket receive buffer, set with SO_RCVBUFFORCE (falls back to SO_RCVBUF);
    /// 0 keeps the system default.
    #[arg(long, value_name = "BYTES", default_value_t = 8_388_608,
          value_parser = clap::value_parser!(u32).range(0..=i32::MAX as i64))]
    pub rcvbuf: u32,

    /// Have the kernel accept instead of drop when the queue is full (NFQA_CFG_F_FAIL_OPEN).
    #[arg(long = "fail-open")]
    pub fail_open: bool,

    /// Receive GSO super-packets whole (NFQA_CFG_F_GSO).
    #[arg(long)]
    pub gso: bool,

    /// Verdicts per netlink verdict message, at most (1 = one verdict per packet).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub batch: u32,

    /// Bind queues Q..Q+N-1 (Q = --queue), one thread and socket each.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub queues: u16,

    /// Rules file [default: none, accept everything].
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,

    /// Where the stats JSON goes at exit ("-" = stdout).
    #[arg(long, value_name = "FILE|-", default_value = "-", value_parser = non_empty)]
    pub stats: String,

    /// Parse the rules file, print a summary and exit (no socket is opened).
    #[arg(long)]
    pub check: bool,
}

fn non_empty(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(s.to_string())
    }
}

/// How to size the netlink receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcvBuf {
    /// `--rcvbuf 0`: leave the socket's default alone.
    SystemDefault,
    /// Request this many bytes (the kernel doubles it for bookkeeping).
    Bytes(u32),
}

/// Where the stats JSON goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsDest {
    Stdout,
    File(PathBuf),
}

/// Validated options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub queue: u16,
    /// `1..=65535`.
    pub copy_range: u16,
    pub queue_maxlen: Option<u32>,
    pub rcvbuf: RcvBuf,
    pub fail_open: bool,
    pub gso: bool,
    /// `1..=65535`.
    pub batch: u32,
    /// `1..=64`, and `queue + queues - 1 <= 65535`.
    pub queues: u16,
    pub rules: Option<PathBuf>,
    pub stats: StatsDest,
    pub check: bool,
}

impl Options {
    /// The queue numbers to bind: `queue ..= queue + queues - 1`.
    pub fn queue_numbers(&self) -> impl Iterator<Item = u16> {
        let (first, count) = (self.queue, self.queues);
        (0..count).map(move |i| first + i)
    }
}

impl From<Args> for Options {
    fn from(a: Args) -> Options {
        Options {
            queue: a.queue,
            copy_range: a.copy_range,
            queue_maxlen: a.queue_maxlen,
            rcvbuf: match a.rcvbuf {
                0 => RcvBuf::SystemDefault,
                n => RcvBuf::Bytes(n),
            },
            fail_open: a.fail_open,
            gso: a.gso,
            batch: a.batch,
            queues: a.queues,
            rules: a.rules,
            stats: match a.stats.as_str() {
                "-" => StatsDest::Stdout,
                path => StatsDest::File(PathBuf::from(path)),
            },
            check: a.check,
        }
    }
}

impl Options {
    /// Parses `argv` (program name first).
    pub fn try_parse_from<I, T>(argv: I) -> Result<Options, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args = Args::try_parse_from(argv)?;
        if u32::from(args.queue) + u32::from(args.queues) - 1 > 65535 {
            return Err(clap::Error::raw(
                ErrorKind::ValueValidation,
                format!(
                    "invalid value '{}' for '--queues <N>': queue {} + {} - 1 > 65535\n",
                    args.queues, args.queue, args.queues
                ),
            ));
        }
        Ok(Options::from(args))
    }
}

/// Reports a parse error as the spec wants and returns the exit code: help goes to
/// stdout with 0; anything else is one line on stderr (clap's first line, which names
/// the flag) with 2.
pub fn report(err: &clap::Error) -> u8 {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            0
        }
        _ => {
            let rendered = err.to_string();
            let first = rendered.lines().next().unwrap_or("error: bad arguments");
            eprintln!("{first}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, clap::Error> {
        Options::try_parse_from(std::iter::once("rust-filter").chain(args.iter().copied()))
    }

    #[test]
    fn defaults() {
        assert_eq!(
            parse(&[]).unwrap(),
            Options {
                queue: 0,
                copy_range: 65535,
                queue_maxlen: None,
                rcvbuf: RcvBuf::Bytes(8_388_608),
                fail_open: false,
                gso: false,
                batch: 1,
                queues: 1,
                rules: None,
                stats: StatsDest::Stdout,
                check: false,
            }
        );
    }

    #[test]
    fn tuning_flags() {
        let o = parse(&["--queue", "3", "--gso", "--batch", "32", "--queues", "2"]).unwrap();
        assert!(o.gso);
        assert_eq!((o.batch, o.queues), (32, 2));
        assert_eq!(o.queue_numbers().collect::<Vec<_>>(), [3, 4]);
        assert!(parse(&["--queue", "65472", "--queues", "64"]).is_ok());
        let err = parse(&["--queue", "65535", "--queues", "2"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let first = err.to_string().lines().next().unwrap().to_string();
        assert!(
            first.starts_with("error: ") && first.contains("--queues"),
            "{first}"
        );
    }

    #[test]
    fn all_flags() {
        let o = parse(&[
            "--queue",
            "65535",
            "--copy-range=1",
            "--queue-maxlen",
            "4294967295",
            "--rcvbuf",
            "0",
            "--fail-open",
            "--rules",
            "r.txt",
            "--stats",
            "/tmp/s.json",
            "--check",
        ])
        .unwrap();
        assert_eq!(o.queue, 65535);
        assert_eq!(o.copy_range, 1);
        assert_eq!(o.queue_maxlen, Some(u32::MAX));
        assert_eq!(o.rcvbuf, RcvBuf::SystemDefault);
        assert!(o.fail_open && o.check);
        assert_eq!(o.rules, Some(PathBuf::from("r.txt")));
        assert_eq!(o.stats, StatsDest::File("/tmp/s.json".into()));
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        for args in [
            &["--queue", "65536"][..],
            &["--queue", "x"],
            &["--copy-range", "0"],
            &["--copy-range", "65536"],
            &["--queue-maxlen", "0"],
            &["--queue-maxlen", "4294967296"],
            &["--rcvbuf", "2147483648"],
            &["--rcvbuf", "-1"],
            &["--stats", ""],
            &["--batch", "0"],
            &["--batch", "65536"],
            &["--queues", "0"],
            &["--queues", "65"],
            &["--gso=1"],
            &["--queue"],
            &["--bogus"],
            &["extra"],
        ] {
            let err = parse(args).unwrap_err();
            assert_ne!(err.kind(), ErrorKind::DisplayHelp, "{args:?}");
            assert_eq!(err.exit_code(), 2, "{args:?}");
            let first = err.to_string().lines().next().unwrap().to_string();
            assert!(first.starts_with("error: "), "{first}");
        }
    }

    #[test]
    fn error_line_names_the_flag() {
        let err = parse(&["--copy-range", "0"]).unwrap_err();
        let first = err.to_string().lines().next().unwrap().to_string();
        assert!(first.contains("--copy-range"), "{first}");
    }

    #[test]
    fn help_is_not_an_error() {
        for flag in ["-h", "--help"] {
            assert_eq!(parse(&[flag]).unwrap_err().kind(), ErrorKind::DisplayHelp);
        }
    }
}
