//! Built-in load generator: TCP bandwidth and UDP packet-rate tests.
//!
//! Why it exists: the benchmark pushes traffic through the NFQUEUE filters
//! with Microsoft's `ethr` when it is installed. A fresh machine often does
//! not have it (it is not a Debian package), so the harness carries this
//! generator to benchmark without it. It uses ethr's method, so numbers from
//! either tool mean the same thing:
//!
//! * TCP bandwidth: one connection by default (`streams` for more), the
//!   client writes 16 KiB buffers as fast as it can for the duration, and the
//!   *receiver* counts the bytes it read in each one-second interval.
//! * UDP packet rate: small datagrams (64 bytes of payload by default), sent
//!   as fast as possible, counted as packets per second *at the receiver*.
//!   Client-side UDP rates lie: the sender reports what it handed to the
//!   kernel, not what passed the filter and arrived, so only the server's
//!   numbers are results.
//!
//! The server emits one [`Interval`] per elapsed second (the caller prints it
//! as a JSON line with [`interval_to_json_line`]) from the first byte received
//! until `duration` has passed since that byte, or all TCP streams closed, or
//! (UDP) 2 s passed without a datagram after the first one. A partial last
//! interval is emitted with its real length in `seconds`.
//!
//! Receiver design, for accuracy and low overhead:
//! * TCP: one thread per accepted stream reads into a 128 KiB buffer and adds
//!   to a shared atomic byte counter; the calling thread is the sampler. It
//!   sleeps to absolute deadlines (first byte + k seconds, so there is no
//!   drift), swaps the counter to zero and emits the interval with its
//!   measured length. A closing stream wakes it at once, so the last interval
//!   ends when the data did.
//! * UDP: one socket with an 8 MiB receive buffer (`SO_RCVBUFFORCE`, falling
//!   back to `SO_RCVBUF`), drained by one thread with `recvmmsg` in batches of
//!   64 (`MSG_WAITFORONE`, so a batch returns as soon as one datagram is in;
//!   `MSG_TRUNC`, so bytes are counted at their real size). After a batch
//!   that emptied the queue it naps 100 µs, so datagrams pile up instead of
//!   each one waking it (worth about +20% to a loopback sender, whose core
//!   pays for those wake-ups). The sampler holds each interval back by one
//!   tick: when the run ends by silence, the interval holding the last
//!   datagram is cut at that datagram and the silent seconds after it are
//!   not reported. UDP lines therefore appear about one second late.
//!
//! Every wait has a timeout: `accept_timeout` for the first client (and the
//! first byte), 100 ms socket timeouts so worker threads notice the end, and
//! `connect_timeout` on the client.

use std::fmt;
use std::io::{self, IoSliceMut, Read};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::errno::Errno;
use nix::sys::socket::{self, sockopt, MsgFlags, MultiHeaders, SockaddrStorage};
use nix::sys::time::TimeVal;
use serde::{Deserialize, Serialize};

/// Client TCP write size (ethr's default buffer).
pub const DEFAULT_WRITE_SIZE: usize = 16 * 1024;
/// Client UDP payload size.
pub const DEFAULT_DATAGRAM_SIZE: usize = 64;
/// How long the server waits for its client (and then for the first byte).
pub const DEFAULT_ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Client connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default test length.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Server TCP read buffer, per stream.
pub const TCP_READ_BUFFER: usize = 128 * 1024;
/// Receive buffer requested for the UDP server socket.
pub const UDP_RCVBUF: usize = 8 << 20;
/// A UDP run ends after this long without a datagram (after the first one).
pub const UDP_IDLE_END: Duration = Duration::from_secs(2);

const UDP_BATCH: usize = 64;
/// Receive slot per datagram; longer datagrams are still counted at full
/// size thanks to `MSG_TRUNC`, only their payload is not kept.
const UDP_SLOT: usize = 2048;
/// Pause of the UDP receiver after a batch that emptied the queue. Even at
/// 1 M datagrams/s that is ~100-200 datagrams (the sleep overshoots a little),
/// far below what the 8 MiB buffer holds; it saves a wake-up per datagram,
/// which on loopback costs the sender (and, through NFQUEUE, the filter
/// whose verdict delivers the datagram) more than the receiver.
const UDP_NAP: Duration = Duration::from_micros(100);
/// Socket timeout of worker threads: how fast they notice the end.
const POLL: Duration = Duration::from_millis(100);
const TICK: Duration = Duration::from_secs(1);
/// A UDP "connection refused" this early in a run means no server at all
/// (an error); later, that the server's window closed (the stream ends).
const UDP_REFUSED_GRACE: Duration = Duration::from_secs(1);
/// UDP sends between two looks at the clock.
const UDP_SENDS_PER_CLOCK: u32 = 64;

/// Transport of a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Proto {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            _ => bail!("unknown protocol '{s}' (expected tcp or udp)"),
        }
    }
}

/// What [`serve`] does.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    pub proto: Proto,
    /// Address to listen on; port 0 picks a free one (reported via `ready`).
    pub bind: SocketAddr,
    /// TCP: connections to accept, all within `accept_timeout`. Ignored for
    /// UDP (all client streams send to one socket).
    pub streams: u32,
    /// Upper bound of the measurement, counted from the first byte. A run
    /// normally ends when the client closes (TCP) or falls silent (UDP), so
    /// give the client's duration plus a few seconds; a cap shorter than the
    /// client's run cuts it (the client then sees a reset, not an error).
    pub duration: Duration,
    /// No client (TCP: fewer than `streams` connections) within this time,
    /// or no first byte within this time after that, is an error.
    pub accept_timeout: Duration,
}

impl ServerConfig {
    /// One stream, [`DEFAULT_DURATION`], [`DEFAULT_ACCEPT_TIMEOUT`].
    pub fn new(proto: Proto, bind: SocketAddr) -> Self {
        ServerConfig {
            proto,
            bind,
            streams: 1,
            duration: DEFAULT_DURATION,
            accept_timeout: DEFAULT_ACCEPT_TIMEOUT,
        }
    }
}

/// What [`run_client`] does.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientConfig {
    pub proto: Proto,
    pub target: SocketAddr,
    /// Parallel connections (TCP) or sockets (UDP), one thread each.
    pub streams: u32,
    /// Sending time, counted once every stream is connected.
    pub duration: Duration,
    /// TCP: bytes per write (the buffer is reused).
    pub write_size: usize,
    /// UDP: payload bytes per datagram.
    pub datagram_size: usize,
    /// TCP connect timeout, per stream.
    pub connect_timeout: Duration,
}

impl ClientConfig {
    /// One stream, [`DEFAULT_DURATION`] and the other defaults.
    pub fn new(proto: Proto, target: SocketAddr) -> Self {
        ClientConfig {
            proto,
            target,
            streams: 1,
            duration: DEFAULT_DURATION,
            write_size: DEFAULT_WRITE_SIZE,
            datagram_size: DEFAULT_DATAGRAM_SIZE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// One reporting interval of the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// 1-based index of the second this interval ends in (first byte = 0).
    pub second: u32,
    /// Real length of the interval (about 1; less for a partial last one).
    pub seconds: f64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Datagrams received (UDP); 0 for TCP, whose segments a socket does not see.
    pub packets: u64,
    /// Payload bits per second.
    pub bits_per_second: f64,
    pub packets_per_second: f64,
}

/// Passed to `ready` once the server socket is bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerReady {
    pub local_addr: SocketAddr,
}

/// Why a server run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// `duration` passed since the first byte.
    Duration,
    /// TCP: every stream was closed by the client.
    StreamsClosed,
    /// UDP: no datagram for [`UDP_IDLE_END`].
    Idle,
}

/// Result of [`serve`]; the totals cover the emitted intervals only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub proto: Proto,
    /// TCP connections accepted; 0 for UDP.
    pub connections: u32,
    pub intervals: Vec<Interval>,
    pub seconds: f64,
    pub bytes: u64,
    pub packets: u64,
    pub bits_per_second: f64,
    pub packets_per_second: f64,
    pub end: EndReason,
    /// Received after the window closed (`duration` cap); not in any interval.
    pub late_bytes: u64,
    pub late_packets: u64,
    /// UDP: the socket's `SO_RCVBUF` as the kernel reports it (twice the
    /// usable size); `None` for TCP.
    pub rcvbuf: Option<usize>,
}

/// Per-stream result of [`run_client`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamSummary {
    /// Bytes the kernel accepted from this stream (TCP: exactly what the
    /// server can read; UDP: what was sent, not what arrived).
    pub bytes: u64,
    /// UDP datagrams sent; 0 for TCP.
    pub packets: u64,
    /// UDP sends refused with ENOBUFS/EAGAIN (counted, not fatal).
    pub send_errors: u64,
    /// The server went away before our end: TCP reset/EPIPE, UDP port
    /// unreachable after the first second.
    pub peer_closed: bool,
    /// From the common start to the end of this stream.
    pub seconds: f64,
}

/// Result of [`run_client`]. Sender-side rates: for UDP they are not results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientSummary {
    pub proto: Proto,
    pub streams: u32,
    pub seconds: f64,
    pub bytes: u64,
    pub packets: u64,
    pub send_errors: u64,
    pub peer_closed: bool,
    pub bits_per_second: f64,
    pub packets_per_second: f64,
    pub per_stream: Vec<StreamSummary>,
}

/// One JSON object on one line, without the trailing newline.
pub fn interval_to_json_line(interval: &Interval) -> String {
    // A struct of numbers always serializes (non-finite floats become null,
    // and `make_interval` never produces them).
    serde_json::to_string(interval).expect("Interval serializes to JSON")
}

fn make_interval(second: u32, start: Instant, end: Instant, bytes: u64, packets: u64) -> Interval {
    let seconds = end.saturating_duration_since(start).as_secs_f64();
    let (bits_per_second, packets_per_second) = if seconds > 0.0 {
        (bytes as f64 * 8.0 / seconds, packets as f64 / seconds)
    } else {
        (0.0, 0.0)
    };
    Interval {
        second,
        seconds,
        bytes,
        packets,
        bits_per_second,
        packets_per_second,
    }
}

/// Index of the next whole-second deadline after `now`.
fn next_tick_index(t0: Instant, now: Instant) -> u32 {
    let elapsed = now.saturating_duration_since(t0).as_secs();
    u32::try_from(elapsed).unwrap_or(u32::MAX - 1) + 1
}

fn tick_at(t0: Instant, k: u32) -> Instant {
    t0 + TICK * k
}

// ---------------------------------------------------------------- server

#[derive(Default)]
struct State {
    first: Option<Instant>,
    open: usize,
    closed_at: Option<Instant>,
    error: Option<String>,
}

/// What the receiving threads share with the sampler.
struct Shared {
    bytes: AtomicU64,
    packets: AtomicU64,
    /// UDP: nanoseconds after `base` of the latest datagram batch.
    last_rx_ns: AtomicU64,
    stop: AtomicBool,
    base: Instant,
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn new() -> Self {
        Shared {
            bytes: AtomicU64::new(0),
            packets: AtomicU64::new(0),
            last_rx_ns: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            base: Instant::now(),
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>, until: Instant) -> MutexGuard<'a, State> {
        let left = until.saturating_duration_since(Instant::now());
        match self.wake.wait_timeout(guard, left) {
            Ok((g, _)) => g,
            Err(e) => e.into_inner().0,
        }
    }

    fn mark_first(&self, at: Instant) {
        let mut st = self.lock();
        if st.first.is_none() {
            st.first = Some(at);
            self.wake.notify_all();
        }
    }

    fn fail(&self, msg: String) {
        let mut st = self.lock();
        st.error.get_or_insert(msg);
        self.wake.notify_all();
    }

    fn stream_closed(&self) {
        let mut st = self.lock();
        st.open = st.open.saturating_sub(1);
        if st.open == 0 {
            st.closed_at = Some(Instant::now());
        }
        self.wake.notify_all();
    }

    fn last_rx(&self) -> Instant {
        self.base + Duration::from_nanos(self.last_rx_ns.load(Ordering::Acquire))
    }

    fn take_counts(&self) -> (u64, u64) {
        (
            self.bytes.swap(0, Ordering::AcqRel),
            self.packets.swap(0, Ordering::AcqRel),
        )
    }

    /// Waits for the first byte until `deadline`.
    fn wait_first(&self, deadline: Instant, tcp: bool) -> Result<Instant> {
        let mut st = self.lock();
        loop {
            if let Some(t) = st.first {
                return Ok(t);
            }
            if let Some(e) = &st.error {
                bail!("{e}");
            }
            if tcp && st.open == 0 {
                bail!("the client closed its connections without sending data");
            }
            if Instant::now() >= deadline {
                bail!("no data received within the accept timeout");
            }
            st = self.wait(st, deadline);
        }
    }

    /// Sleeps until `until`; returns early with the close time once no TCP
    /// stream is open (`tcp`), or with an error a worker reported.
    fn wait_until(&self, until: Instant, tcp: bool) -> Result<Option<Instant>> {
        let mut st = self.lock();
        loop {
            if let Some(e) = &st.error {
                bail!("{e}");
            }
            if tcp && st.open == 0 {
                return Ok(st.closed_at.or(Some(Instant::now())));
            }
            if Instant::now() >= until {
                return Ok(None);
            }
            st = self.wait(st, until);
        }
    }
}

/// Sets `stop` when the sampler leaves, however it leaves, so that the
/// scoped worker threads end and the scope can join them.
struct StopOnDrop<'a>(&'a Shared);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Release);
    }
}

/// Runs one server test; see the module documentation for when it ends.
///
/// Binds, then calls `ready` (so the caller can print that it is ready and
/// the port), accepts `streams` connections (TCP) or receives (UDP), and
/// calls `emit` once per interval, as it is measured.
pub fn serve(
    cfg: &ServerConfig,
    ready: impl FnOnce(ServerReady),
    mut emit: impl FnMut(&Interval),
) -> Result<Summary> {
    if cfg.duration.is_zero() {
        bail!("server duration must be positive");
    }
    if cfg.accept_timeout.is_zero() {
        bail!("accept timeout must be positive");
    }
    match cfg.proto {
        Proto::Tcp => serve_tcp(cfg, ready, &mut emit),
        Proto::Udp => serve_udp(cfg, ready, &mut emit),
    }
}

fn summarize(
    proto: Proto,
    connections: u32,
    intervals: Vec<Interval>,
    end: EndReason,
    late: (u64, u64),
    rcvbuf: Option<usize>,
) -> Summary {
    let seconds: f64 = intervals.iter().map(|i| i.seconds).sum();
    let bytes: u64 = intervals.iter().map(|i| i.bytes).sum();
    let packets: u64 = intervals.iter().map(|i| i.packets).sum();
    let (bits_per_second, packets_per_second) = if seconds > 0.0 {
        (bytes as f64 * 8.0 / seconds, packets as f64 / seconds)
    } else {
        (0.0, 0.0)
    };
    Summary {
        proto,
        connections,
        intervals,
        seconds,
        bytes,
        packets,
        bits_per_second,
        packets_per_second,
        end,
        late_bytes: late.0,
        late_packets: late.1,
        rcvbuf,
    }
}

fn timeval(d: Duration) -> TimeVal {
    // A zero SO_RCVTIMEO means "wait forever": never pass one.
    let d = d.max(Duration::from_millis(1));
    TimeVal::new(
        d.as_secs().try_into().unwrap_or(i64::MAX as _),
        d.subsec_micros().into(),
    )
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// `accept` with a deadline: Linux applies `SO_RCVTIMEO` to `accept`.
fn accept_until(listener: &TcpListener, deadline: Instant) -> io::Result<Option<TcpStream>> {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        socket::setsockopt(listener, sockopt::ReceiveTimeout, &timeval(deadline - now))?;
        match listener.accept() {
            Ok((stream, _)) => return Ok(Some(stream)),
            Err(e) if is_timeout(&e) => continue,
            Err(e) => return Err(e),
        }
    }
}

fn serve_tcp(
    cfg: &ServerConfig,
    ready: impl FnOnce(ServerReady),
    emit: &mut dyn FnMut(&Interval),
) -> Result<Summary> {
    if cfg.streams == 0 {
        bail!("TCP server needs at least one stream");
    }
    let listener =
        TcpListener::bind(cfg.bind).with_context(|| format!("binding TCP {}", cfg.bind))?;
    let local = listener.local_addr().context("TCP local address")?;
    ready(ServerReady { local_addr: local });

    let shared = Shared::new();
    let accept_deadline = Instant::now() + cfg.accept_timeout;
    let (intervals, end) = thread::scope(|scope| -> Result<_> {
        let _stop = StopOnDrop(&shared);
        for i in 0..cfg.streams {
            let stream = accept_until(&listener, accept_deadline)
                .with_context(|| format!("accepting TCP connections on {local}"))?
                .ok_or_else(|| {
                    anyhow!(
                        "TCP server {local}: {i} of {} client connection(s) arrived within the \
                         accept timeout of {:?}",
                        cfg.streams,
                        cfg.accept_timeout
                    )
                })?;
            stream
                .set_read_timeout(Some(POLL))
                .context("setting the TCP read timeout")?;
            shared.lock().open += 1;
            let sh = &shared;
            let spawned = thread::Builder::new()
                .name(format!("load-tcp-rx{i}"))
                .spawn_scoped(scope, move || tcp_reader(stream, sh));
            if let Err(e) = spawned {
                shared.stream_closed();
                return Err(e).context("spawning a TCP reader thread");
            }
        }
        // Further connection attempts are refused instead of left hanging.
        drop(listener);
        let t0 = shared
            .wait_first(Instant::now() + cfg.accept_timeout, true)
            .with_context(|| format!("TCP server {local}"))?;
        sample_tcp(&shared, t0, cfg.duration, emit)
    })?;
    // Workers are joined: what they counted after the last sample is late.
    let late = shared.take_counts();
    Ok(summarize(
        Proto::Tcp,
        cfg.streams,
        intervals,
        end,
        late,
        None,
    ))
}

fn tcp_reader(mut stream: TcpStream, shared: &Shared) {
    let mut buf = vec![0u8; TCP_READ_BUFFER];
    let mut seen = false;
    while !shared.stop.load(Ordering::Acquire) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if !seen {
                    seen = true;
                    shared.mark_first(Instant::now());
                }
                shared.bytes.fetch_add(n as u64, Ordering::AcqRel);
            }
            Err(e) if is_timeout(&e) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) =>
            {
                break
            }
            Err(e) => {
                shared.fail(format!("TCP read: {e}"));
                break;
            }
        }
    }
    shared.stream_closed();
}

fn sample_tcp(
    shared: &Shared,
    t0: Instant,
    duration: Duration,
    emit: &mut dyn FnMut(&Interval),
) -> Result<(Vec<Interval>, EndReason)> {
    let end = t0 + duration;
    let mut out = Vec::new();
    let mut start = t0;
    let mut k = 1;
    loop {
        let tick = tick_at(t0, k).min(end);
        let closed_at = shared.wait_until(tick, true)?;
        let now = Instant::now();
        let (bytes, _) = shared.take_counts();
        if let Some(closed) = closed_at {
            if bytes > 0 {
                let iv = make_interval(k, start, closed.clamp(start, now), bytes, 0);
                emit(&iv);
                out.push(iv);
            }
            return Ok((out, EndReason::StreamsClosed));
        }
        let iv = make_interval(k, start, now, bytes, 0);
        emit(&iv);
        out.push(iv);
        start = now;
        if now >= end {
            return Ok((out, EndReason::Duration));
        }
        k = next_tick_index(t0, now);
    }
}

/// Asks for `want` bytes of receive buffer, beyond `rmem_max` if privileged;
/// returns what the kernel reports.
fn set_rcvbuf<F: AsFd>(sock: &F, want: usize) -> Option<usize> {
    if socket::setsockopt(sock, sockopt::RcvBufForce, &want).is_err() {
        let _ = socket::setsockopt(sock, sockopt::RcvBuf, &want);
    }
    socket::getsockopt(sock, sockopt::RcvBuf).ok()
}

fn serve_udp(
    cfg: &ServerConfig,
    ready: impl FnOnce(ServerReady),
    emit: &mut dyn FnMut(&Interval),
) -> Result<Summary> {
    let sock = UdpSocket::bind(cfg.bind).with_context(|| format!("binding UDP {}", cfg.bind))?;
    let local = sock.local_addr().context("UDP local address")?;
    let rcvbuf = set_rcvbuf(&sock, UDP_RCVBUF);
    sock.set_read_timeout(Some(POLL))
        .context("setting the UDP read timeout")?;
    ready(ServerReady { local_addr: local });

    let shared = Shared::new();
    let first_deadline = Instant::now() + cfg.accept_timeout;
    let (intervals, end) = thread::scope(|scope| -> Result<_> {
        let _stop = StopOnDrop(&shared);
        let (sh, so) = (&shared, &sock);
        thread::Builder::new()
            .name("load-udp-rx".into())
            .spawn_scoped(scope, move || udp_receiver(so, sh))
            .context("spawning the UDP receiver thread")?;
        let t0 = shared.wait_first(first_deadline, false).with_context(|| {
            format!(
                "UDP server {local}: no datagram within the accept timeout of {:?}",
                cfg.accept_timeout
            )
        })?;
        sample_udp(&shared, t0, cfg.duration, emit)
    })?;
    let late = shared.take_counts();
    Ok(summarize(Proto::Udp, 0, intervals, end, late, rcvbuf))
}

fn udp_receiver(sock: &UdpSocket, shared: &Shared) {
    let fd = sock.as_raw_fd();
    let mut bufs = vec![0u8; UDP_BATCH * UDP_SLOT];
    // Real address storage, though the sender's address is not used: the
    // kernel writes the address length back into each header, and with
    // nix's zero-sized `()` address the next call then faults (EFAULT).
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(UDP_BATCH, None);
    // WAITFORONE: block (up to SO_RCVTIMEO) for the first datagram only,
    // then take what is queued. TRUNC: report each datagram's real length.
    let flags = MsgFlags::MSG_WAITFORONE | MsgFlags::MSG_TRUNC;
    let mut seen = false;
    while !shared.stop.load(Ordering::Acquire) {
        // nix ties the slices' lifetime to the headers' borrow, so the small
        // vector of slice descriptors is rebuilt per batch (the buffers are not).
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> = bufs
            .chunks_exact_mut(UDP_SLOT)
            .map(|slot| [IoSliceMut::new(slot)])
            .collect();
        match socket::recvmmsg(fd, &mut headers, iovs.iter_mut(), flags, None) {
            Ok(msgs) => {
                let (mut packets, mut bytes) = (0u64, 0u64);
                for m in msgs {
                    packets += 1;
                    bytes += m.bytes as u64;
                }
                if packets == 0 {
                    continue;
                }
                if packets < UDP_BATCH as u64 {
                    // Queue drained: let datagrams pile up rather than be
                    // woken for each one (wake-ups cost the sending side).
                    thread::sleep(UDP_NAP);
                }
                let now = Instant::now();
                if !seen {
                    seen = true;
                    shared.mark_first(now);
                }
                shared.packets.fetch_add(packets, Ordering::AcqRel);
                shared.bytes.fetch_add(bytes, Ordering::AcqRel);
                let ns = now.saturating_duration_since(shared.base).as_nanos();
                shared
                    .last_rx_ns
                    .store(u64::try_from(ns).unwrap_or(u64::MAX), Ordering::Release);
            }
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(e) => {
                shared.fail(format!("UDP recvmmsg: {e}"));
                break;
            }
        }
    }
}

/// A measured interval not yet emitted.
struct Raw {
    k: u32,
    start: Instant,
    end: Instant,
    bytes: u64,
    packets: u64,
}

impl Raw {
    fn emit(self, emit: &mut dyn FnMut(&Interval), out: &mut Vec<Interval>) {
        let iv = make_interval(self.k, self.start, self.end, self.bytes, self.packets);
        emit(&iv);
        out.push(iv);
    }
}

fn sample_udp(
    shared: &Shared,
    t0: Instant,
    duration: Duration,
    emit: &mut dyn FnMut(&Interval),
) -> Result<(Vec<Interval>, EndReason)> {
    let end = t0 + duration;
    let mut out = Vec::new();
    let mut start = t0;
    let mut k = 1;
    // Latest interval with traffic, held back one tick in case it is the
    // last one (then it is cut at the last datagram) ...
    let mut pending: Option<Raw> = None;
    // ... and the silent intervals after it: reported if traffic resumes,
    // dropped if the run ends by silence.
    let mut quiet: Vec<Raw> = Vec::new();
    // The receiver stores the time of a batch after counting it: never
    // older than the first byte.
    let last_rx = || shared.last_rx().max(t0);
    loop {
        let tick = tick_at(t0, k).min(end);
        let idle_end = last_rx() + UDP_IDLE_END;
        shared.wait_until(tick.min(idle_end), false)?;
        let now = Instant::now();
        if now >= last_rx() + UDP_IDLE_END {
            let (bytes, packets) = shared.take_counts();
            let last = last_rx();
            if packets > 0 {
                // Traffic since the last tick (only possible if the sampler
                // was late): everything before it is complete.
                if let Some(p) = pending.take() {
                    p.emit(emit, &mut out);
                }
                for q in quiet.drain(..) {
                    q.emit(emit, &mut out);
                }
                let cut = last.clamp(start, now);
                Raw {
                    k,
                    start,
                    end: cut,
                    bytes,
                    packets,
                }
                .emit(emit, &mut out);
            } else if let Some(mut p) = pending.take() {
                p.end = last.clamp(p.start, p.end);
                p.emit(emit, &mut out);
            }
            return Ok((out, EndReason::Idle));
        }
        if now < tick {
            continue;
        }
        let (bytes, packets) = shared.take_counts();
        let raw = Raw {
            k,
            start,
            end: now,
            bytes,
            packets,
        };
        start = now;
        if raw.packets > 0 {
            if let Some(p) = pending.take() {
                p.emit(emit, &mut out);
            }
            for q in quiet.drain(..) {
                q.emit(emit, &mut out);
            }
            pending = Some(raw);
        } else {
            quiet.push(raw);
        }
        if now >= end {
            if let Some(p) = pending.take() {
                p.emit(emit, &mut out);
            }
            for q in quiet.drain(..) {
                q.emit(emit, &mut out);
            }
            return Ok((out, EndReason::Duration));
        }
        k = next_tick_index(t0, now);
    }
}

// ---------------------------------------------------------------- client

/// Runs one client test: `streams` threads sending to `cfg.target` for
/// `cfg.duration`, counted from when every stream is connected.
///
/// TCP: each stream connects (with `connect_timeout`; a refused or timed-out
/// connection fails the run at once), then writes one reused buffer of
/// `write_size` bytes until the duration is over, and closes. The byte count
/// is exactly what the kernel accepted, so a server that reads to the end
/// receives exactly that. A reset or EPIPE from the server after data went
/// through (its duration cap ended first) ends the stream, not the run.
///
/// UDP: one connected socket per stream sends `datagram_size`-byte datagrams
/// as fast as it can; ENOBUFS/EAGAIN are counted in `send_errors`. An ICMP
/// port unreachable (ECONNREFUSED) in the first second means no receiver: an
/// error; later it ends the stream with `peer_closed` (the server stopped).
pub fn run_client(cfg: &ClientConfig) -> Result<ClientSummary> {
    if cfg.streams == 0 {
        bail!("client needs at least one stream");
    }
    match cfg.proto {
        Proto::Tcp => {
            if cfg.write_size == 0 {
                bail!("TCP write size must be positive");
            }
            let mut conns = Vec::with_capacity(cfg.streams as usize);
            for i in 0..cfg.streams {
                let stream = TcpStream::connect_timeout(&cfg.target, cfg.connect_timeout)
                    .with_context(|| {
                        format!(
                            "TCP stream {} of {}: cannot connect to {} (timeout {:?})",
                            i + 1,
                            cfg.streams,
                            cfg.target,
                            cfg.connect_timeout
                        )
                    })?;
                // Bounds each blocking write, so the deadline is kept even
                // if the server stops reading.
                stream
                    .set_write_timeout(Some(POLL))
                    .context("setting the TCP write timeout")?;
                conns.push(stream);
            }
            let buf = vec![0u8; cfg.write_size];
            run_streams(cfg, conns, |stream, deadline, stop| {
                tcp_writer(stream, &buf, deadline, stop)
            })
        }
        Proto::Udp => {
            let local: SocketAddr = match cfg.target {
                SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
                SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
            };
            let mut socks = Vec::with_capacity(cfg.streams as usize);
            for i in 0..cfg.streams {
                let sock = UdpSocket::bind(local)
                    .and_then(|s| s.connect(cfg.target).map(|()| s))
                    .with_context(|| {
                        format!(
                            "UDP stream {} of {}: cannot open a socket to {}",
                            i + 1,
                            cfg.streams,
                            cfg.target
                        )
                    })?;
                sock.set_write_timeout(Some(POLL))
                    .context("setting the UDP write timeout")?;
                socks.push(sock);
            }
            let buf = vec![0u8; cfg.datagram_size];
            let target = cfg.target;
            run_streams(cfg, socks, |sock, deadline, stop| {
                udp_sender(sock, &buf, target, deadline, stop)
            })
        }
    }
}

/// One thread per connected socket, a common start; the first error stops
/// the other streams and is returned.
fn run_streams<S: Send>(
    cfg: &ClientConfig,
    socks: Vec<S>,
    work: impl Fn(S, Instant, &AtomicBool) -> Result<(u64, u64, u64, bool)> + Sync,
) -> Result<ClientSummary> {
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let deadline = start + cfg.duration;
    let results: Vec<Result<StreamSummary>> = thread::scope(|scope| {
        let handles: Vec<_> = socks
            .into_iter()
            .enumerate()
            .map(|(i, sock)| {
                let (work, stop) = (&work, &stop);
                thread::Builder::new()
                    .name(format!("load-{}-tx{i}", cfg.proto))
                    .spawn_scoped(scope, move || {
                        let r = work(sock, deadline, stop);
                        if r.is_err() {
                            stop.store(true, Ordering::Release);
                        }
                        let (bytes, packets, send_errors, peer_closed) = r?;
                        Ok(StreamSummary {
                            bytes,
                            packets,
                            send_errors,
                            peer_closed,
                            seconds: start.elapsed().as_secs_f64(),
                        })
                    })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|_| Err(anyhow!("a client stream thread panicked"))),
                Err(e) => {
                    stop.store(true, Ordering::Release);
                    Err(anyhow::Error::from(e).context("spawning a client stream thread"))
                }
            })
            .collect()
    });
    let per_stream = results.into_iter().collect::<Result<Vec<_>>>()?;
    let seconds = per_stream.iter().map(|s| s.seconds).fold(0.0, f64::max);
    let bytes = per_stream.iter().map(|s| s.bytes).sum::<u64>();
    let packets = per_stream.iter().map(|s| s.packets).sum::<u64>();
    let (bits_per_second, packets_per_second) = if seconds > 0.0 {
        (bytes as f64 * 8.0 / seconds, packets as f64 / seconds)
    } else {
        (0.0, 0.0)
    };
    Ok(ClientSummary {
        proto: cfg.proto,
        streams: cfg.streams,
        seconds,
        bytes,
        packets,
        send_errors: per_stream.iter().map(|s| s.send_errors).sum(),
        peer_closed: per_stream.iter().any(|s| s.peer_closed),
        bits_per_second,
        packets_per_second,
        per_stream,
    })
}

/// Returns (bytes, packets, send_errors, peer_closed).
fn tcp_writer(
    stream: TcpStream,
    buf: &[u8],
    deadline: Instant,
    stop: &AtomicBool,
) -> Result<(u64, u64, u64, bool)> {
    let fd = stream.as_raw_fd();
    let mut bytes = 0u64;
    let mut peer_closed = false;
    while Instant::now() < deadline && !stop.load(Ordering::Acquire) {
        // MSG_NOSIGNAL: EPIPE as an error, never SIGPIPE, whatever the
        // embedding program did with that signal.
        match socket::send(fd, buf, MsgFlags::MSG_NOSIGNAL) {
            Ok(n) => bytes += n as u64,
            // Write timeout with nothing sent, or a signal: look at the clock.
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(Errno::EPIPE | Errno::ECONNRESET) if bytes > 0 => {
                peer_closed = true;
                break;
            }
            Err(e) => {
                let peer = stream
                    .peer_addr()
                    .map_or_else(|_| "the server".to_string(), |a| a.to_string());
                bail!("TCP send to {peer} after {bytes} bytes: {e}");
            }
        }
    }
    if !peer_closed {
        // FIN after the last byte: the server reads everything, then EOF.
        let _ = stream.shutdown(Shutdown::Write);
    }
    Ok((bytes, 0, 0, peer_closed))
}

/// Returns (bytes, packets, send_errors, peer_closed).
fn udp_sender(
    sock: UdpSocket,
    buf: &[u8],
    target: SocketAddr,
    deadline: Instant,
    stop: &AtomicBool,
) -> Result<(u64, u64, u64, bool)> {
    let fd = sock.as_raw_fd();
    let began = Instant::now();
    let (mut bytes, mut packets, mut send_errors) = (0u64, 0u64, 0u64);
    while Instant::now() < deadline && !stop.load(Ordering::Acquire) {
        for _ in 0..UDP_SENDS_PER_CLOCK {
            match socket::send(fd, buf, MsgFlags::empty()) {
                Ok(n) => {
                    packets += 1;
                    bytes += n as u64;
                }
                Err(Errno::ENOBUFS | Errno::EAGAIN) => send_errors += 1,
                Err(Errno::EINTR) => {}
                // The ICMP port unreachable for an earlier datagram. Early in
                // the run: nobody listens. Later: the server's window closed.
                Err(Errno::ECONNREFUSED) if began.elapsed() < UDP_REFUSED_GRACE => bail!(
                    "UDP send to {target}: connection refused (ICMP port unreachable: \
                     no UDP server is listening there)"
                ),
                Err(Errno::ECONNREFUSED) => return Ok((bytes, packets, send_errors, true)),
                Err(e) => bail!("UDP send to {target}: {e}"),
            }
        }
    }
    Ok((bytes, packets, send_errors, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto_serde_is_lowercase_and_parses() {
        assert_eq!(serde_json::to_string(&Proto::Tcp).unwrap(), "\"tcp\"");
        assert_eq!(serde_json::to_string(&Proto::Udp).unwrap(), "\"udp\"");
        assert_eq!(
            serde_json::from_str::<Proto>("\"udp\"").unwrap(),
            Proto::Udp
        );
        assert_eq!("TCP".parse::<Proto>().unwrap(), Proto::Tcp);
        assert_eq!(Proto::Udp.to_string(), "udp");
        let err = "sctp".parse::<Proto>().unwrap_err().to_string();
        assert!(err.contains("sctp"), "{err}");
    }

    #[test]
    fn interval_rates_use_the_real_length() {
        let t0 = Instant::now();
        let iv = make_interval(3, t0, t0 + Duration::from_millis(500), 1000, 10);
        assert_eq!(iv.second, 3);
        assert!((iv.seconds - 0.5).abs() < 1e-9);
        assert!((iv.bits_per_second - 16000.0).abs() < 1e-6);
        assert!((iv.packets_per_second - 20.0).abs() < 1e-9);
        // An empty or reversed span gives zero rates, never inf/NaN.
        let z = make_interval(1, t0, t0, 5, 5);
        assert_eq!(
            (z.seconds, z.bits_per_second, z.packets_per_second),
            (0.0, 0.0, 0.0)
        );
        let r = make_interval(1, t0 + Duration::from_secs(1), t0, 5, 5);
        assert_eq!(r.seconds, 0.0);
    }

    #[test]
    fn json_line_is_one_line_and_round_trips() {
        let iv = Interval {
            second: 2,
            seconds: 1.000_25,
            bytes: 123_456,
            packets: 0,
            bits_per_second: 987_648.0,
            packets_per_second: 0.0,
        };
        let line = interval_to_json_line(&iv);
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        for key in [
            "second",
            "seconds",
            "bytes",
            "packets",
            "bits_per_second",
            "packets_per_second",
        ] {
            assert!(v.get(key).is_some(), "missing {key} in {line}");
        }
        assert_eq!(serde_json::from_str::<Interval>(&line).unwrap(), iv);
    }

    #[test]
    fn ticks_are_absolute_and_skip_missed_ones() {
        let t0 = Instant::now();
        assert_eq!(next_tick_index(t0, t0), 1);
        assert_eq!(next_tick_index(t0, t0 + Duration::from_millis(1001)), 2);
        assert_eq!(next_tick_index(t0, t0 + Duration::from_millis(3500)), 4);
        assert_eq!(tick_at(t0, 4) - t0, Duration::from_secs(4));
    }

    #[test]
    fn configs_have_the_documented_defaults() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let c = ClientConfig::new(Proto::Tcp, addr);
        assert_eq!(c.streams, 1);
        assert_eq!(c.write_size, 16384);
        assert_eq!(c.datagram_size, 64);
        assert_eq!(c.connect_timeout, Duration::from_secs(5));
        let s = ServerConfig::new(Proto::Udp, addr);
        assert_eq!(s.accept_timeout, Duration::from_secs(10));
        assert_eq!(s.streams, 1);
    }

    #[test]
    fn bad_configs_are_refused_before_any_socket() {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut c = ClientConfig::new(Proto::Tcp, addr);
        c.streams = 0;
        assert!(run_client(&c).is_err());
        let mut s = ServerConfig::new(Proto::Tcp, addr);
        s.duration = Duration::ZERO;
        let called = std::cell::Cell::new(false);
        assert!(serve(&s, |_| called.set(true), |_| {}).is_err());
        assert!(!called.get());
    }

    #[test]
    fn udp_server_reports_its_receive_buffer() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let got = set_rcvbuf(&sock, 1 << 20).unwrap();
        // Linux doubles the request; unprivileged runs are capped by rmem_max.
        assert!(got > 0);
    }
}
