//! Everything that talks to the OS outside the `nfq` crate; the one module with `unsafe`.
//!
//! Why this module exists: four things the filter needs are not offered safely by its
//! dependencies, and each `unsafe` block here says why it is sound:
//!
//! - **Receive buffer.** `nfq` 0.2.5 never sets `SO_RCVBUF` and does not expose its socket
//!   (no `AsRawFd`). With a 64 KiB copy range the default ~208 KiB buffer holds three
//!   packets, the kernel drops the rest (`user_dropped`) and throughput collapses. We find
//!   the socket by what the kernel says it is, and only ever *borrow* it: see
//!   [`NfqSocket`] and [`QueueFd`]. The same borrow sets `SO_RCVTIMEO`.
//! - **Batch verdicts.** `nfq` has no `NFQNL_MSG_VERDICT_BATCH`; the filter sends the
//!   verdict messages that [`crate::verdict`] encodes on the borrowed socket itself
//!   ([`NfqSocket::send_to_kernel`], soundness argued there).
//! - **Signals.** SIGINT/SIGTERM must interrupt a blocking `recv` (no `SA_RESTART`) and only
//!   set a flag that the loops read; `SO_RCVTIMEO` (100 ms) wakes loops on other threads.
//! - **CPU time** for the stats (`getrusage`, safe in nix).

use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::socket::{getsockopt, sendto, setsockopt, sockopt, MsgFlags, NetlinkAddr};
use nix::sys::stat::Mode;
use nix::sys::time::TimeVal;

// ---------------------------------------------------------------------------------------
// The queue's socket
// ---------------------------------------------------------------------------------------

/// An `nfq::Queue` together with the number of the netlink socket it owns.
///
/// The queue is private and only reachable through the forwarding methods below, so
/// nothing can drop it or swap it for another queue (`mem::replace`) while the recorded
/// descriptor is in use: the descriptor stays open exactly as long as this value lives.
pub struct NfqSocket {
    queue: nfq::Queue,
    /// The socket `queue` opened and will close in its `Drop`. Never closed here.
    fd: RawFd,
}

/// How the receive buffer size was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcvBufMethod {
    /// `SO_RCVBUFFORCE` (needs `CAP_NET_ADMIN`; ignores `net.core.rmem_max`).
    Forced,
    /// `SO_RCVBUF` after `SO_RCVBUFFORCE` was refused (capped at `net.core.rmem_max`).
    Capped,
}

impl NfqSocket {
    /// Opens the queue socket (`nfq::Queue::open`) and identifies its descriptor.
    ///
    /// The process's descriptors are listed from `/proc/self/fd` immediately before and
    /// after the call. Among the new ones, exactly one must be a socket whose kernel-reported
    /// domain is `AF_NETLINK` and protocol `NETLINK_NETFILTER` (`SO_DOMAIN`/`SO_PROTOCOL`):
    /// that is the socket `nfq` created. Nothing is guessed from numbering. This must run
    /// while the process has a single thread (checked), so no other code can open or close
    /// descriptors between the two listings.
    pub fn open() -> io::Result<NfqSocket> {
        ensure_single_threaded()?;
        let before = open_fds()?;
        let queue = nfq::Queue::open()?;
        let after = open_fds()?;
        let found: Vec<RawFd> = after
            .difference(&before)
            .copied()
            .filter(|&fd| is_nfnetlink_socket(fd))
            .collect();
        match found[..] {
            [fd] => Ok(NfqSocket { queue, fd }),
            _ => Err(io::Error::other(format!(
                "expected 1 new NETLINK_NETFILTER socket after nfq::Queue::open, found {}",
                found.len()
            ))),
        }
    }

    /// Borrows the socket for socket options. The borrow of `self` keeps the queue, and so
    /// the descriptor, alive for as long as the returned value exists.
    pub fn fd(&self) -> QueueFd<'_> {
        // SAFETY: `self.fd` is the socket owned by `self.queue` (identified in `open` by
        // its kernel-reported domain and protocol among the descriptors that `Queue::open`
        // created). `self.queue` is only closed by its `Drop`, which cannot run while
        // `&self` is borrowed for the returned lifetime, and it cannot be replaced because
        // it is private and no `&mut nfq::Queue` is ever handed out. We never close it.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        QueueFd { fd }
    }

    /// See [`nfq::Queue::bind`] (binds and sets copy range 65535).
    pub fn bind(&mut self, queue_num: u16) -> io::Result<()> {
        self.queue.bind(queue_num)
    }

    /// See [`nfq::Queue::unbind`].
    pub fn unbind(&mut self, queue_num: u16) -> io::Result<()> {
        self.queue.unbind(queue_num)
    }

    /// See [`nfq::Queue::set_copy_range`] (copy mode packet for a non-zero range).
    pub fn set_copy_range(&mut self, queue_num: u16, range: u16) -> io::Result<()> {
        self.queue.set_copy_range(queue_num, range)
    }

    /// See [`nfq::Queue::set_queue_max_len`].
    pub fn set_queue_max_len(&mut self, queue_num: u16, len: u32) -> io::Result<()> {
        self.queue.set_queue_max_len(queue_num, len)
    }

    /// See [`nfq::Queue::set_fail_open`].
    pub fn set_fail_open(&mut self, queue_num: u16, enabled: bool) -> io::Result<()> {
        self.queue.set_fail_open(queue_num, enabled)
    }

    /// See [`nfq::Queue::set_recv_gso`]: `NFQA_CFG_F_GSO` with its own mask bit.
    pub fn set_recv_gso(&mut self, queue_num: u16, enabled: bool) -> io::Result<()> {
        self.queue.set_recv_gso(queue_num, enabled)
    }

    /// See [`nfq::Queue::set_recv_enobufs`]: `false` sets `NETLINK_NO_ENOBUFS`.
    pub fn set_recv_enobufs(&mut self, enabled: bool) -> io::Result<()> {
        self.queue.set_recv_enobufs(enabled)
    }

    /// See [`nfq::Queue::recv`]: blocks for the next packet.
    #[inline]
    pub fn recv(&mut self) -> io::Result<nfq::Message> {
        self.queue.recv()
    }

    /// See [`nfq::Queue::verdict`].
    #[inline]
    pub fn verdict(&mut self, msg: nfq::Message) -> io::Result<()> {
        self.queue.verdict(msg)
    }

    /// See [`nfq::Queue::set_nonblocking`]: only switches the flag nfq passes to `recv`
    /// (`MSG_DONTWAIT`), no system call. A non-blocking `recv` on an empty socket fails
    /// with `EAGAIN`.
    #[inline]
    pub fn set_nonblocking(&mut self, nonblocking: bool) {
        self.queue.set_nonblocking(nonblocking)
    }

    /// Sends one netlink message (a verdict built by [`crate::verdict`]) to the kernel
    /// (`nl_pid` 0) on the queue's socket; retried on EINTR.
    ///
    /// Soundness and coexistence with `nfq`:
    /// - The descriptor is borrowed through [`NfqSocket::fd`], so it is open (owned by
    ///   `self.queue`) for the whole call; `sendto` only reads `msg`.
    /// - `nfq` keeps no state about verdicts: `Queue::verdict` just encodes and sends a
    ///   message on the same socket, so sending our own (batch) verdicts instead leaves
    ///   `nfq`'s receive side untouched. No ACK is requested, so the kernel only answers a
    ///   failed verdict, with an `NLMSG_ERROR` that nfq's `recv` returns as an error, as it
    ///   would for its own verdicts.
    /// - The `nfq::Message` of a packet verdicted this way is simply dropped: `Message` has
    ///   no `Drop` impl in nfq 0.2.5 (it sends nothing and cannot panic); dropping it
    ///   releases its reference to nfq's receive buffer, which nfq then reuses.
    /// - `&self` suffices: `sendto` hands the kernel one whole datagram atomically and
    ///   touches no user-space state, so it cannot disturb a `recv` (which needs
    ///   `&mut self` anyway) or another send. In the filter each `NfqSocket` is used by
    ///   one thread.
    #[inline]
    pub fn send_to_kernel(&self, msg: &[u8]) -> io::Result<()> {
        let fd = self.fd();
        let kernel = NetlinkAddr::new(0, 0);
        loop {
            match sendto(fd.as_fd().as_raw_fd(), msg, &kernel, MsgFlags::empty()) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The queue's socket, borrowed from an [`NfqSocket`]; cannot outlive it.
#[derive(Debug, Clone, Copy)]
pub struct QueueFd<'q> {
    fd: BorrowedFd<'q>,
}

impl AsFd for QueueFd<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd
    }
}

impl QueueFd<'_> {
    /// Requests a receive buffer of `bytes` with `SO_RCVBUFFORCE`, falling back to
    /// `SO_RCVBUF` when that is refused (no `CAP_NET_ADMIN`). The kernel doubles the value.
    pub fn set_rcvbuf(&self, bytes: u32) -> io::Result<RcvBufMethod> {
        let bytes = bytes as usize;
        match setsockopt(&self.fd, sockopt::RcvBufForce, &bytes) {
            Ok(()) => Ok(RcvBufMethod::Forced),
            Err(_) => {
                setsockopt(&self.fd, sockopt::RcvBuf, &bytes)?;
                Ok(RcvBufMethod::Capped)
            }
        }
    }

    /// The receive buffer size as `getsockopt(SO_RCVBUF)` reports it.
    pub fn rcvbuf(&self) -> io::Result<usize> {
        Ok(getsockopt(&self.fd, sockopt::RcvBuf)?)
    }

    /// Sets `SO_RCVTIMEO`: a blocking `recv` fails with `EAGAIN` after `timeout`.
    pub fn set_rcvtimeo(&self, timeout: Duration) -> io::Result<()> {
        let tv = TimeVal::new(
            timeout.as_secs() as libc::time_t,
            timeout.subsec_micros() as libc::suseconds_t,
        );
        Ok(setsockopt(&self.fd, sockopt::ReceiveTimeout, &tv)?)
    }

    /// Whether `NETLINK_NO_ENOBUFS` is set (the kernel then never fails `recv` with
    /// ENOBUFS after dropping; it only counts `user_dropped`).
    pub fn no_enobufs(&self) -> io::Result<bool> {
        get_int_opt(
            self.fd.as_raw_fd(),
            libc::SOL_NETLINK,
            libc::NETLINK_NO_ENOBUFS,
        )
        .map(|v| v != 0)
    }
}

/// `getsockopt` of an `int` option on a raw descriptor.
fn get_int_opt(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live locals of the sizes passed; the kernel writes at
    // most `len` bytes into `value`. A descriptor that is not an open socket only makes
    // the call fail (EBADF/ENOTSOCK); getsockopt reads, it changes nothing, so even a
    // descriptor we do not own is not affected.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

/// Whether the kernel reports `fd` as an `AF_NETLINK` / `NETLINK_NETFILTER` socket.
fn is_nfnetlink_socket(fd: RawFd) -> bool {
    let opt = |name| get_int_opt(fd, libc::SOL_SOCKET, name).ok();
    opt(libc::SO_DOMAIN) == Some(libc::AF_NETLINK)
        && opt(libc::SO_PROTOCOL) == Some(libc::NETLINK_NETFILTER)
}

/// The process's open descriptors, from `/proc/self/fd`, without the listing's own.
fn open_fds() -> io::Result<BTreeSet<RawFd>> {
    let mut dir = Dir::open(
        "/proc/self/fd",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let own = dir.as_raw_fd();
    let mut fds = BTreeSet::new();
    for entry in dir.iter() {
        let entry = entry?;
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        if let Ok(fd) = name.parse::<RawFd>() {
            if fd != own {
                fds.insert(fd);
            }
        }
    }
    Ok(fds)
}

/// Fails unless the process has exactly one thread (`/proc/self/task`).
fn ensure_single_threaded() -> io::Result<()> {
    let threads = std::fs::read_dir("/proc/self/task")?.count();
    if threads == 1 {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "the queue socket must be opened while single-threaded, found {threads} threads"
        )))
    }
}

// ---------------------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------------------

/// Set by SIGINT/SIGTERM (or by a loop that gives up, [`request_stop`]).
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_signal: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the SIGINT/SIGTERM handlers, without `SA_RESTART`, so a blocking `recv` on the
/// thread that takes the signal fails with EINTR and its loop sees [`stop_requested`].
///
/// A signal that lands between a loop's flag check and its entry into `recv`, or on
/// another thread, does not interrupt that `recv`; every queue socket therefore has a
/// 100 ms `SO_RCVTIMEO` ([`QueueFd::set_rcvtimeo`]) and each loop sees the flag within
/// 100 ms whatever the timing.
pub fn install_stop_handlers() -> io::Result<()> {
    STOP.store(false, Ordering::SeqCst);
    let stop = SigAction::new(
        SigHandler::Handler(on_stop),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic (lock-free, async-signal-safe); it
    // touches no locks, allocation or other non-reentrant state. The previous
    // dispositions are defaults we do not need to chain to.
    unsafe {
        sigaction(Signal::SIGINT, &stop)?;
        sigaction(Signal::SIGTERM, &stop)?;
    }
    Ok(())
}

/// Whether SIGINT or SIGTERM has arrived (or [`request_stop`] was called).
#[inline]
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Asks every loop to stop, as SIGINT does (a loop that gave up calls this).
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

// ---------------------------------------------------------------------------------------
// CPU time
// ---------------------------------------------------------------------------------------

/// `(user, system)` CPU time of the process so far, in microseconds.
pub fn cpu_times_us() -> io::Result<(u64, u64)> {
    let usage = getrusage(UsageWho::RUSAGE_SELF)?;
    let us = |t: nix::sys::time::TimeVal| {
        (t.tv_sec() as u64).saturating_mul(1_000_000) + t.tv_usec() as u64
    };
    Ok((us(usage.user_time()), us(usage.system_time())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_times_grow() {
        let (u0, _) = cpu_times_us().unwrap();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let (u1, _) = cpu_times_us().unwrap();
        assert!(u1 >= u0);
    }

    #[test]
    fn fd_listing_sees_standard_descriptors() {
        let fds = open_fds().unwrap();
        assert!(fds.contains(&0) || fds.contains(&1) || fds.contains(&2));
    }

    #[test]
    fn non_sockets_are_not_nfnetlink() {
        let f = std::fs::File::open("/proc/self/status").unwrap();
        assert!(!is_nfnetlink_socket(f.as_raw_fd()));
        assert!(!is_nfnetlink_socket(-1));
    }
}
