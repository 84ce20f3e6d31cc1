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
//! - [`queue`]: the receive loop over `nfq::Queue`, one per queue (`--queues N`: one
//!   thread each).
//! - [`verdict`]: the verdict message encoder and the batching run (`--batch N`).
//! - [`sys`]: receive buffer, timeouts, sending verdicts on nfq's socket, signals,
//!   rusage: the only `unsafe` code.

// `unsafe` is allowed in `sys` alone, where each use carries its soundness argument.
#![deny(unsafe_code)]

pub mod cli;
pub mod decide;
pub mod queue;
pub mod rules;
pub mod stats;
#[allow(unsafe_code)]
pub mod sys;
pub mod verdict;
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
    // Every socket is opened here, while the process is single-threaded (sys::NfqSocket).
    let mut filters = Vec::with_capacity(usize::from(opts.queues));
    for q in opts.queue_numbers() {
        match queue::Filter::start(&opts, &rules, q) {
            Ok(filter) => filters.push(filter),
            Err(e) => {
                eprintln!("rust-filter: {e}");
                return ExitCode::from(1);
            }
        }
    }
    for filter in &filters {
        eprintln!("{}", filter.start_line());
    }
    let (outcomes, spawn_failed) = run_all(&mut filters);
    let mut code = ExitCode::SUCCESS;
    if spawn_failed {
        code = ExitCode::from(1);
    }
    for outcome in &outcomes {
        if let queue::Outcome::TooManyErrors(e) = outcome {
            eprintln!(
                "rust-filter: {} consecutive receive errors, last: {}",
                queue::MAX_CONSECUTIVE_ERRORS,
                queue::errno_text(e)
            );
            code = ExitCode::from(1);
        }
    }
    let mut per_queue = filters.into_iter().map(queue::Filter::finish);
    let mut stats = per_queue.next().expect("at least one queue");
    for more in per_queue {
        stats.add_counts(&more);
    }
    match sys::cpu_times_us() {
        Ok((user, system)) => {
            stats.cpu_user_us = user;
            stats.cpu_sys_us = system;
        }
        Err(e) => eprintln!("rust-filter: getrusage: {}", queue::errno_text(&e)),
    }
    if let Err(e) = write_stats(&opts.stats, &stats) {
        eprintln!("rust-filter: write stats: {}", queue::errno_text(&e));
        code = ExitCode::from(1);
    }
    code
}

/// Runs every queue's loop until the stop request: the first queue on this thread, each
/// other on a scoped thread of its own. Returns the outcomes of the loops that ran, and
/// whether a thread could not be started (then nothing more is started and all stop).
fn run_all(filters: &mut [queue::Filter<'_>]) -> (Vec<queue::Outcome>, bool) {
    let Some((first, rest)) = filters.split_first_mut() else {
        return (Vec::new(), false);
    };
    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(rest.len());
        let mut spawn_failed = false;
        for filter in rest.iter_mut() {
            let q = filter.stats().queue;
            let spawned = std::thread::Builder::new()
                .name(format!("queue-{q}"))
                .spawn_scoped(scope, move || filter.run());
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    eprintln!(
                        "rust-filter: start thread for queue {q}: {}",
                        queue::errno_text(&e)
                    );
                    sys::request_stop();
                    spawn_failed = true;
                    break;
                }
            }
        }
        // With a stop already requested this only flushes (verdicts from the bind).
        let mut outcomes = vec![first.run()];
        for handle in handles {
            match handle.join() {
                Ok(outcome) => outcomes.push(outcome),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        (outcomes, spawn_failed)
    })
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
