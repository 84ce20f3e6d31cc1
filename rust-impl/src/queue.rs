//! The receive loop of one queue: bind it, decide each packet, send verdicts, count.
//!
//! Why this module exists: it is the only code that runs per packet besides
//! [`crate::decide`], and it owns the spec's error policy ("Receive loop"): which `recv`
//! errors are counted where, when the loop gives up, and how a stop request ends it;
//! and the spec's batching ("Batch verdicts"): verdicts join a [`VerdictRun`] and go out
//! as messages built by [`crate::verdict`], sent on the queue's socket
//! ([`NfqSocket::send_to_kernel`]) instead of through `nfq::Queue::verdict`.
//! With `--queues N` there is one [`Filter`] per queue, each used by one thread.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::cli::{Options, RcvBuf};
use crate::decide::decide;
use crate::rules::RuleSet;
use crate::stats::Stats;
use crate::sys::{self, NfqSocket};
use crate::verdict::{Run, VerdictRun, VERDICT_MSG_LEN};

/// After this many consecutive `recv` errors (EINTR and EAGAIN not counted) the loop
/// gives up (and asks every loop to stop).
pub const MAX_CONSECUTIVE_ERRORS: u32 = 1000;

/// `SO_RCVTIMEO` of every queue socket: the longest a loop can miss a stop request.
pub const RCVTIMEO: Duration = Duration::from_millis(100);

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
    run: VerdictRun,
}

impl<'r> Filter<'r> {
    /// Opens and configures queue `q` in the spec's order: bind with copy mode packet and
    /// the copy range; queue maxlen, fail-open and GSO when given; `NETLINK_NO_ENOBUFS`;
    /// receive buffer; `SO_RCVTIMEO`. Must run while the process is single-threaded (the
    /// socket is identified then, see [`NfqSocket::open`]). The caller prints the start
    /// line ([`Filter::start_line`]) once every queue is bound.
    pub fn start(opts: &Options, rules: &'r RuleSet, q: u16) -> Result<Filter<'r>, StartError> {
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
        if opts.gso {
            socket
                .set_recv_gso(q, true)
                .map_err(step("set GSO".into()))?;
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
            let rcvbuf = fd.rcvbuf().map_err(step("read receive buffer".into()))?;
            fd.set_rcvtimeo(RCVTIMEO)
                .map_err(step("set SO_RCVTIMEO".into()))?;
            rcvbuf
        };
        Ok(Filter {
            socket,
            rules,
            queue: q,
            stats: Stats::new(q, u32::from(opts.copy_range), rcvbuf as u64, rules).with_flags(
                opts.queues,
                opts.gso,
                opts.batch,
            ),
            run: VerdictRun::new(opts.batch),
        })
    }

    /// The spec's start line for this queue (without the newline).
    pub fn start_line(&self) -> String {
        format!(
            "rust-filter: queue {} bound, copy-range {}, rcvbuf {}",
            self.queue, self.stats.copy_range, self.stats.rcvbuf
        )
    }

    /// Receives, decides and answers packets until a stop request (or too many errors),
    /// then flushes the pending verdicts.
    pub fn run(&mut self) -> Outcome {
        let outcome = self.receive_loop();
        self.flush();
        outcome
    }

    fn receive_loop(&mut self) -> Outcome {
        let mut consecutive_errors = 0u32;
        loop {
            if sys::stop_requested() {
                return Outcome::Stopped;
            }
            // While verdicts are pending, only take what is already there: an empty socket
            // (EAGAIN) flushes them before the next, blocking, receive.
            self.socket.set_nonblocking(self.run.is_pending());
            match self.socket.recv() {
                Ok(msg) => {
                    consecutive_errors = 0;
                    let decision = decide(self.rules, msg.get_payload());
                    // NFQA_CAP_LEN when the copy range cut the packet, else the payload length.
                    let len = msg.get_original_len() as u64;
                    let id = msg.get_packet_id();
                    let gso = msg.is_seg_offloaded();
                    // Verdicted by our own message below, not by `Queue::verdict`: dropping
                    // the message sends nothing (see `NfqSocket::send_to_kernel`).
                    drop(msg);
                    self.stats.record(&decision, len);
                    if gso {
                        self.stats.gso_packets += 1;
                    }
                    let (socket, stats, queue) = (&self.socket, &mut self.stats, self.queue);
                    self.run.push(id, decision.verdict, |run| {
                        send_run(socket, stats, queue, run)
                    });
                }
                Err(error) => {
                    match error.raw_os_error() {
                        // Empty socket (MSG_DONTWAIT) or SO_RCVTIMEO: not an error.
                        Some(libc::EAGAIN) => {
                            self.flush();
                            continue;
                        }
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
                        sys::request_stop();
                        return Outcome::TooManyErrors(error);
                    }
                }
            }
        }
    }

    /// Sends the pending run, if any.
    fn flush(&mut self) {
        if let Some(run) = self.run.take() {
            send_run(&self.socket, &mut self.stats, self.queue, run);
        }
    }

    /// Unbinds the queue (which closes nothing: the socket closes when `self` is dropped)
    /// and returns its stats (CPU times are the caller's: they are per process). An unbind
    /// failure is reported on stderr; the stats are still returned.
    pub fn finish(mut self) -> Stats {
        self.flush();
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
        self.stats
    }

    /// The counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

/// Sends one run's verdict message on `socket` and counts it.
#[inline]
fn send_run(socket: &NfqSocket, stats: &mut Stats, queue: u16, run: Run) {
    let mut buf = [0u8; VERDICT_MSG_LEN];
    stats.verdict_messages += 1;
    if socket.send_to_kernel(run.message(queue, &mut buf)).is_err() {
        stats.verdict_errors += 1;
    }
}
