//! `rust-filter`: an NFQUEUE packet filter on the pure-Rust `nfq` crate.
//!
//! Why this crate exists: it is the Rust side of a C-vs-Rust comparison; it implements
//! `docs/filter-spec.md` exactly as the C reference does. Layout:
//!
//! - [`wire`]: bounds-checked views of IPv4, IPv6 (with the extension-header walk),
//!   TCP, UDP and ICMP headers.
//! - [`rules`]: the rules file grammar -> [`rules::RuleSet`].
//! - [`decide`]: the pure per-packet decision.
//! - [`stats`]: counters and their JSON.
//! - [`cli`]: flags -> [`cli::Options`].
//! - [`queue`]: the receive loop over `nfq::Queue`.
//! - [`sys`]: receive buffer, signals, rusage: the only `unsafe` code.

// `unsafe` is allowed in `sys` alone, where each use carries its soundness argument.
#![deny(unsafe_code)]

pub mod cli;
pub mod decide;
pub mod queue;
pub mod rules;
pub mod stats;
#[allow(unsafe_code)]
pub mod sys;
pub mod wire;

use std::fs::File;
use std::io;
use std::process::ExitCode;

use cli::{Options, StatsDest};
use rules::RuleSet;

/// The whole program: parse flags, load rules, run the queue, write the stats.
/// Exit codes per the spec: 0 ok, 2 bad flag or rules file, 1 netlink failure
/// (or 1000 consecutive receive errors).
pub fn main_with_args<I, T>(argv: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let opts = match Options::try_parse_from(argv) {
        Ok(opts) => opts,
        Err(err) => return ExitCode::from(cli::report(&err)),
    };
    let rules = match load_rules(&opts) {
        Ok(rules) => rules,
        Err(line) => {
            eprintln!("{line}");
            return ExitCode::from(2);
        }
    };
    if opts.check {
        println!(
            "rules ok: {} rules, default {}",
            rules.len(),
            rules.default_verdict().as_str()
        );
        return ExitCode::SUCCESS;
    }
    if let Err(e) = sys::install_stop_handlers() {
        eprintln!(
            "rust-filter: install signal handlers: {}",
            queue::errno_text(&e)
        );
        return ExitCode::from(1);
    }
    let mut filter = match queue::Filter::start(&opts, &rules) {
        Ok(filter) => filter,
        Err(e) => {
            eprintln!("rust-filter: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = filter.run();
    let stats = filter.finish();
    let mut code = ExitCode::SUCCESS;
    if let queue::Outcome::TooManyErrors(e) = &outcome {
        eprintln!(
            "rust-filter: {} consecutive receive errors, last: {}",
            queue::MAX_CONSECUTIVE_ERRORS,
            queue::errno_text(e)
        );
        code = ExitCode::from(1);
    }
    if let Err(e) = write_stats(&opts.stats, &stats) {
        eprintln!("rust-filter: write stats: {}", queue::errno_text(&e));
        code = ExitCode::from(1);
    }
    code
}

/// Reads and parses `--rules`; the error is the complete stderr line.
fn load_rules(opts: &Options) -> Result<RuleSet, String> {
    let Some(path) = &opts.rules else {
        return Ok(RuleSet::default());
    };
    let shown = path.display();
    let bytes =
        std::fs::read(path).map_err(|e| format!("rules {shown}: {}", queue::errno_text(&e)))?;
    RuleSet::parse_bytes(&bytes).map_err(|e| format!("rules {shown}:{}: {}", e.line, e.message))
}

fn write_stats(dest: &StatsDest, stats: &stats::Stats) -> io::Result<()> {
    match dest {
        StatsDest::Stdout => stats.write_to(io::stdout().lock()),
        StatsDest::File(path) => stats.write_to(File::create(path)?),
    }
}
