//! The receive loop: bind the queue, decide each packet, send verdicts, count.
//!
//! Why this module exists: it is the only code that runs per packet besides
//! [`crate::decide`], and it owns the spec's error policy ("Receive loop"): which `recv`
//! errors are counted where, when the loop gives up, and how a stop request ends it.

use std::fmt;
use std::io;

use crate::cli::{Options, RcvBuf};
use crate::decide::{decide, Verdict};
use crate::rules::RuleSet;
use crate::stats::Stats;
use crate::sys::{self, NfqSocket};

/// After this many consecutive `recv` errors (EINTR not counted) the loop gives up.
pub const MAX_CONSECUTIVE_ERRORS: u32 = 1000;

/// A netlink step failed while setting up the queue (exit 1).
#[derive(Debug)]
pub struct StartError {
    /// What was being done, e.g. `bind queue 0`.
    pub step: String,
    pub error: io::Error,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, errno_text(&self.error))
    }
}

impl std::error::Error for StartError {}

/// `strerror` text for an OS error, the message otherwise.
pub fn errno_text(error: &io::Error) -> String {
    match error.raw_os_error() {
        Some(errno) => nix::errno::Errno::from_raw(errno).desc().to_string(),
        None => error.to_string(),
    }
}

/// How the loop ended.
#[derive(Debug)]
pub enum Outcome {
    /// SIGINT or SIGTERM (exit 0).
    Stopped,
    /// [`MAX_CONSECUTIVE_ERRORS`] `recv` errors in a row; the last one (exit 1).
    TooManyErrors(io::Error),
}

/// A bound, configured queue ready to receive.
pub struct Filter<'r> {
    socket: NfqSocket,
    rules: &'r RuleSet,
    queue: u16,
    stats: Stats,
}

impl<'r> Filter<'r> {
    /// Opens and configures the queue in the spec's order: bind with copy mode packet and
    /// the copy range; queue maxlen and fail-open when given; `NETLINK_NO_ENOBUFS`; receive
    /// buffer. Then prints the start line on stderr.
    pub fn start(opts: &Options, rules: &'r RuleSet) -> Result<Filter<'r>, StartError> {
        let q = opts.queue;
        let step = |step: String| move |error: io::Error| StartError { step, error };

        let mut socket = NfqSocket::open().map_err(step("open netlink socket".into()))?;
        socket.bind(q).map_err(step(format!("bind queue {q}")))?;
        socket
            .set_copy_range(q, opts.copy_range)
            .map_err(step(format!("set copy range {}", opts.copy_range)))?;
        if let Some(len) = opts.queue_maxlen {
            socket
                .set_queue_max_len(q, len)
                .map_err(step(format!("set queue maxlen {len}")))?;
        }
        if opts.fail_open {
            socket
                .set_fail_open(q, true)
                .map_err(step("set fail-open".into()))?;
        }
        // nfq::Queue::open already sets NETLINK_NO_ENOBUFS; say so explicitly and check it,
        // because a loop that gets ENOBUFS on every overflow spends its time on errors.
        socket
            .set_recv_enobufs(false)
            .map_err(step("set NETLINK_NO_ENOBUFS".into()))?;
        let rcvbuf = {
            let fd = socket.fd();
            let no_enobufs = fd
                .no_enobufs()
                .map_err(step("read NETLINK_NO_ENOBUFS".into()))?;
            if !no_enobufs {
                return Err(StartError {
                    step: "set NETLINK_NO_ENOBUFS".into(),
                    error: io::Error::other("the option did not stick"),
                });
            }
            if let RcvBuf::Bytes(bytes) = opts.rcvbuf {
                fd.set_rcvbuf(bytes)
                    .map_err(step(format!("set receive buffer {bytes}")))?;
            }
            fd.rcvbuf().map_err(step("read receive buffer".into()))?
        };
        eprintln!(
            "rust-filter: queue {q} bound, copy-range {}, rcvbuf {rcvbuf}",
            opts.copy_range
        );
        Ok(Filter {
            socket,
            rules,
            queue: q,
            stats: Stats::new(q, u32::from(opts.copy_range), rcvbuf as u64, rules),
        })
    }

    /// Receives, decides and answers packets until a stop request (or too many errors).
    pub fn run(&mut self) -> Outcome {
        let mut consecutive_errors = 0u32;
        loop {
            if sys::stop_requested() {
                return Outcome::Stopped;
            }
            match self.socket.recv() {
                Ok(mut msg) => {
                    consecutive_errors = 0;
                    let decision = decide(self.rules, msg.get_payload());
                    msg.set_verdict(match decision.verdict {
                        Verdict::Accept => nfq::Verdict::Accept,
                        Verdict::Drop => nfq::Verdict::Drop,
                    });
                    // NFQA_CAP_LEN when the copy range cut the packet, else the payload length.
                    let len = msg.get_original_len() as u64;
                    self.stats.record(&decision, len);
                    if self.socket.verdict(msg).is_err() {
                        self.stats.verdict_errors += 1;
                    }
                }
                Err(error) => {
                    match error.raw_os_error() {
                        // A signal (or nfq's NLM_F_DUMP_INTR): the flag is checked above.
                        Some(libc::EINTR) => continue,
                        Some(libc::ENOBUFS) => {
                            self.stats.enobufs += 1;
                            self.stats.recv_errors += 1;
                        }
                        // E.g. ENOSPC: nfq saw a message larger than its buffer (MSG_TRUNC);
                        // or an errno from a netlink error message.
                        _ => self.stats.recv_errors += 1,
                    }
                    consecutive_errors += 1;
                    if consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
                        return Outcome::TooManyErrors(error);
                    }
                }
            }
        }
    }

    /// Unbinds the queue (which closes nothing: the socket closes when `self` is dropped)
    /// and returns the stats with the CPU times filled in. An unbind failure is reported
    /// on stderr; the stats are still returned.
    pub fn finish(mut self) -> Stats {
        sys::end_stop_kicks();
        let mut result = self.socket.unbind(self.queue);
        // A second signal may interrupt the unbind's wait for the kernel's answer.
        for _ in 0..3 {
            match &result {
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {
                    result = self.socket.unbind(self.queue);
                }
                _ => break,
            }
        }
        if let Err(e) = result {
            eprintln!(
                "rust-filter: unbind queue {}: {}",
                self.queue,
                errno_text(&e)
            );
        }
        match sys::cpu_times_us() {
            Ok((user, system)) => {
                self.stats.cpu_user_us = user;
                self.stats.cpu_sys_us = system;
            }
            Err(e) => eprintln!("rust-filter: getrusage: {}", errno_text(&e)),
        }
        self.stats
    }

    /// The counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}
