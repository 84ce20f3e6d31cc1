//! Built-in load generator: TCP bandwidth and UDP packet-rate tests, plus
//! TCP round-trip (latency) and connect-rate tests.
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
//! Two more TCP test modes ([`Mode`]) measure what a filter costs per packet
//! and per connection rather than in bulk (ethr's `-t l` and `-t c`):
//!
//! * Round trip: each stream is one `TCP_NODELAY` connection on which the
//!   client writes a `message_size`-byte message and waits for the whole of
//!   it to come back before sending the next. The server echoes and counts a
//!   round trip each time the last byte of a message has been echoed, per
//!   second as `Interval.packets`; the client also times every round trip
//!   (latency percentiles in [`ClientSummary::latency_us`]). A connection
//!   opens with an 8-byte header (magic and the message size), so the server
//!   knows the message size and refuses a client in another mode clearly.
//! * Connect: each client stream connects and closes at once, in a loop; the
//!   server accepts and closes each connection, counting connections per
//!   second as `Interval.packets`. It ends like UDP: the duration cap after
//!   the first connection, or 2 s without a new one.
//!
//! Every wait has a timeout: `accept_timeout` for the first client (and the
//! first byte), 100 ms socket timeouts so worker threads notice the end, and
//! `connect_timeout` on the client.

use std::fmt;
use std::io::{self, IoSliceMut, Read};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::errno::Errno;
use nix::sys::socket::{self, sockopt, Backlog, MsgFlags, MultiHeaders, SockaddrStorage};
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

/// Default round-trip message size.
pub const DEFAULT_MESSAGE_SIZE: usize = 64;
/// Largest round-trip message. Larger ones measure bandwidth, not latency,
/// and the echo could stall: the client writes a whole message before it
/// reads, so a message must fit in what the socket buffers hold in flight.
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024;
/// Listen backlog of the connect-mode server (the kernel caps it at
/// `net.core.somaxconn`, 4096 by default).
pub const CONNECT_BACKLOG: i32 = 1024;
/// A connect-mode run ends after this long without a new connection (after
/// the first one).
pub const CONNECT_IDLE_END: Duration = UDP_IDLE_END;

/// How long past its duration a round-trip client waits for the echo of the
/// message in flight before giving up on it.
const ROUND_TRIP_GRACE: Duration = Duration::from_secs(2);
/// First bytes of every round-trip connection, followed by the message size
/// as a big-endian u32.
const ROUND_TRIP_MAGIC: [u8; 4] = *b"NFRT";
const ROUND_TRIP_HEADER: usize = 8;
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

/// What a test measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Bulk transfer: TCP bandwidth or UDP packet rate.
    #[default]
    Stream,
    /// TCP only: one message at a time, echoed; round trips per second and
    /// per-round-trip latency.
    RoundTrip,
    /// TCP only: connections opened and closed per second.
    Connect,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Stream => "stream",
            Mode::RoundTrip => "round-trip",
            Mode::Connect => "connect",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "stream" => Ok(Mode::Stream),
            "round-trip" | "round_trip" | "roundtrip" => Ok(Mode::RoundTrip),
            "connect" => Ok(Mode::Connect),
            _ => bail!("unknown test mode '{s}' (expected stream, round-trip or connect)"),
        }
    }
}

/// Round trips and connections are TCP's: UDP has neither.
fn check_mode(proto: Proto, mode: Mode) -> Result<()> {
    if proto == Proto::Udp && mode != Mode::Stream {
        bail!("the {mode} test needs TCP (UDP has only the stream test)");
    }
    Ok(())
}

/// What [`serve`] does.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    pub proto: Proto,
    /// Stream (default), round trip or connect; the latter two need TCP and
    /// a client in the same mode.
    pub mode: Mode,
    /// Address to listen on; port 0 picks a free one (reported via `ready`).
    pub bind: SocketAddr,
    /// TCP stream and round trip: connections to accept, all within
    /// `accept_timeout`. Ignored for UDP (all client streams send to one
    /// socket) and connect (every connection is accepted).
    pub streams: u32,
    /// Upper bound of the measurement, counted from the first byte (connect:
    /// the first connection). A run
    /// normally ends when the client closes (TCP) or falls silent (UDP), so
    /// give the client's duration plus a few seconds; a cap shorter than the
    /// client's run cuts it (the client then sees a reset, not an error).
    pub duration: Duration,
    /// No client (TCP: fewer than `streams` connections) within this time,
    /// or no first byte within this time after that, is an error.
    pub accept_timeout: Duration,
}

impl ServerConfig {
    /// Stream mode, one stream, [`DEFAULT_DURATION`], [`DEFAULT_ACCEPT_TIMEOUT`].
    pub fn new(proto: Proto, bind: SocketAddr) -> Self {
        ServerConfig {
            proto,
            mode: Mode::Stream,
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
    /// Stream (default), round trip or connect; the latter two need TCP.
    pub mode: Mode,
    pub target: SocketAddr,
    /// Parallel connections (TCP) or sockets (UDP), one thread each.
    /// Connect: parallel threads, each opening one connection at a time.
    pub streams: u32,
    /// Sending time, counted once every stream is connected.
    pub duration: Duration,
    /// TCP: bytes per write (the buffer is reused).
    pub write_size: usize,
    /// UDP: payload bytes per datagram.
    pub datagram_size: usize,
    /// Round trip: bytes per message, each way (1 to [`MAX_MESSAGE_SIZE`]).
    pub message_size: usize,
    /// TCP connect timeout, per stream (connect: per connection).
    pub connect_timeout: Duration,
}

impl ClientConfig {
    /// Stream mode, one stream, [`DEFAULT_DURATION`] and the other defaults.
    pub fn new(proto: Proto, target: SocketAddr) -> Self {
        ClientConfig {
            proto,
            mode: Mode::Stream,
            target,
            streams: 1,
            duration: DEFAULT_DURATION,
            write_size: DEFAULT_WRITE_SIZE,
            datagram_size: DEFAULT_DATAGRAM_SIZE,
            message_size: DEFAULT_MESSAGE_SIZE,
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
    /// Payload bytes received (round trip: echoed, counted one way; connect: 0).
    pub bytes: u64,
    /// Datagrams received (UDP), round trips echoed (round trip: one per
    /// complete message), connections accepted (connect); 0 for a TCP
    /// stream, whose segments a socket does not see.
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
    /// UDP: no datagram for [`UDP_IDLE_END`]; connect: no new connection
    /// for [`CONNECT_IDLE_END`].
    Idle,
}

/// Result of [`serve`]; the totals cover the emitted intervals only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub proto: Proto,
    #[serde(default)]
    pub mode: Mode,
    /// TCP connections accepted (connect: all of them, late ones included,
    /// saturating); 0 for UDP.
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
    /// Connect: `accept` failures that do not end the run (EMFILE, ENFILE,
    /// ENOBUFS, ENOMEM: out of descriptors or memory; ECONNABORTED and the
    /// network errors Linux passes on from a connection that died in the
    /// queue). 0 in the other modes.
    #[serde(default)]
    pub accept_errors: u64,
}

/// Round-trip latency in microseconds, from before the message's write to
/// its echo's last byte read. Percentiles come from a log-linear histogram
/// (within 1.6% of the true value, clamped to the observed range); `mean`
/// and `max` are exact.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// Per-stream result of [`run_client`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamSummary {
    /// Bytes the kernel accepted from this stream (TCP: exactly what the
    /// server can read; UDP: what was sent, not what arrived).
    pub bytes: u64,
    /// UDP datagrams sent, round trips completed, connections made; 0 for
    /// a TCP stream.
    pub packets: u64,
    /// UDP sends refused with ENOBUFS/EAGAIN; connect: failed attempts
    /// after the first success (timeouts, no local port free). Counted, not
    /// fatal.
    pub send_errors: u64,
    /// The server went away before our end: TCP reset/EPIPE (connect: a
    /// refused connection after the first success), UDP port unreachable
    /// after the first second.
    pub peer_closed: bool,
    /// From the common start to the end of this stream.
    pub seconds: f64,
    /// Round trip: this stream's latency; `None` in the other modes.
    #[serde(default)]
    pub latency_us: Option<LatencySummary>,
}

/// Result of [`run_client`]. Sender-side rates: for UDP they are not results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientSummary {
    pub proto: Proto,
    #[serde(default)]
    pub mode: Mode,
    pub streams: u32,
    pub seconds: f64,
    pub bytes: u64,
    pub packets: u64,
    pub send_errors: u64,
    pub peer_closed: bool,
    pub bits_per_second: f64,
    pub packets_per_second: f64,
    pub per_stream: Vec<StreamSummary>,
    /// Round trip: latency over all streams; `None` in the other modes.
    #[serde(default)]
    pub latency_us: Option<LatencySummary>,
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

// ---------------------------------------------------------------- latency

/// Values below this many nanoseconds have a bucket each.
const HIST_EXACT: u64 = 128;
/// Buckets per power of two above [`HIST_EXACT`] (2^6: 1.6% resolution).
const HIST_SUB_BITS: u32 = 6;
const HIST_SUB: u64 = 1 << HIST_SUB_BITS;
/// Exact buckets, then one row of 64 for each power of two from 2^7 to 2^63.
const HIST_BUCKETS: usize = HIST_EXACT as usize + (64 - 7) * HIST_SUB as usize;

/// Latency histogram in nanoseconds, log-linear like HdrHistogram: exact
/// below 128 ns, then 64 buckets per power of two. One fixed array per
/// stream (30 KiB, allocated once), nothing allocated per sample, and any
/// run length fits.
struct Histogram {
    counts: Box<[u64]>,
    n: u64,
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: vec![0; HIST_BUCKETS].into_boxed_slice(),
            n: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }

    fn bucket(ns: u64) -> usize {
        if ns < HIST_EXACT {
            return ns as usize;
        }
        // ns in [2^e, 2^(e+1)), e >= 7: the 6 bits after the leading one
        // pick the sub-bucket.
        let e = 63 - ns.leading_zeros();
        let sub = (ns >> (e - HIST_SUB_BITS)) - HIST_SUB;
        HIST_EXACT as usize + (e as usize - 7) * HIST_SUB as usize + sub as usize
    }

    /// Smallest and largest value of a bucket.
    fn bounds(i: usize) -> (u64, u64) {
        let i = i as u64;
        if i < HIST_EXACT {
            return (i, i);
        }
        let j = i - HIST_EXACT;
        let e = 7 + (j / HIST_SUB) as u32;
        let width = 1u64 << (e - HIST_SUB_BITS);
        let lo = (1u64 << e) + (j % HIST_SUB) * width;
        (lo, lo + (width - 1))
    }

    fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.counts[Self::bucket(ns)] += 1;
        self.n += 1;
        self.sum_ns += u128::from(ns);
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.n += other.n;
        self.sum_ns += other.sum_ns;
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// The `q` quantile (0 < q <= 1) in nanoseconds: the middle of the
    /// bucket holding the sample of rank ceil(q n), within the observed range.
    fn quantile_ns(&self, q: f64) -> u64 {
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n.max(1));
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = Self::bounds(i);
                return (lo + (hi - lo) / 2).clamp(self.min_ns, self.max_ns);
            }
        }
        self.max_ns
    }

    fn summary(&self) -> Option<LatencySummary> {
        if self.n == 0 {
            return None;
        }
        let us = |ns: u64| ns as f64 / 1e3;
        Some(LatencySummary {
            mean: self.sum_ns as f64 / self.n as f64 / 1e3,
            p50: us(self.quantile_ns(0.50)),
            p90: us(self.quantile_ns(0.90)),
            p99: us(self.quantile_ns(0.99)),
            max: us(self.max_ns),
        })
    }
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
    /// UDP: nanoseconds after `base` of the latest datagram batch (connect:
    /// of the latest connection).
    last_rx_ns: AtomicU64,
    /// Connect: `accept` errors that did not end the run.
    accept_errors: AtomicU64,
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
            accept_errors: AtomicU64::new(0),
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

    fn set_last_rx(&self, at: Instant) {
        let ns = at.saturating_duration_since(self.base).as_nanos();
        self.last_rx_ns
            .store(u64::try_from(ns).unwrap_or(u64::MAX), Ordering::Release);
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
/// the port), accepts `streams` connections (TCP stream and round trip),
/// or every connection (connect), or receives (UDP), and calls `emit` once
/// per interval, as it is measured. A mode other than stream with UDP is an
/// error before anything is bound.
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
    check_mode(cfg.proto, cfg.mode)?;
    match (cfg.proto, cfg.mode) {
        (Proto::Tcp, Mode::Stream | Mode::RoundTrip) => serve_tcp(cfg, ready, &mut emit),
        (Proto::Tcp, Mode::Connect) => serve_connect(cfg, ready, &mut emit),
        (Proto::Udp, _) => serve_udp(cfg, ready, &mut emit),
    }
}

fn summarize(
    cfg: &ServerConfig,
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
        proto: cfg.proto,
        mode: cfg.mode,
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
        accept_errors: 0,
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
            let echo = cfg.mode == Mode::RoundTrip;
            if echo {
                // Each echo leaves at once, not after Nagle's wait for an ACK.
                stream.set_nodelay(true).context("setting TCP_NODELAY")?;
                // Bounds each blocking echo write, so `stop` is seen.
                stream
                    .set_write_timeout(Some(POLL))
                    .context("setting the TCP write timeout")?;
            }
            shared.lock().open += 1;
            let sh = &shared;
            let spawned = thread::Builder::new()
                .name(format!("load-tcp-{}{i}", if echo { "echo" } else { "rx" }))
                .spawn_scoped(scope, move || {
                    if echo {
                        tcp_echoer(stream, sh)
                    } else {
                        tcp_reader(stream, sh)
                    }
                });
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
    Ok(summarize(cfg, cfg.streams, intervals, end, late, None))
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

/// Round-trip server stream: reads the header, then echoes everything back
/// until the client closes, counting a round trip each time the last byte of
/// a message has been echoed.
fn tcp_echoer(stream: TcpStream, shared: &Shared) {
    if let Err(e) = echo(&stream, shared) {
        shared.fail(e);
    }
    shared.stream_closed();
}

fn echo(stream: &TcpStream, shared: &Shared) -> std::result::Result<(), String> {
    let fd = stream.as_raw_fd();
    let stop = &shared.stop;
    let mut header = [0u8; ROUND_TRIP_HEADER];
    match recv_exact(fd, &mut header, None, stop) {
        Ok(Io::Done) => {}
        // Closed before its header, or the run ended: nothing to count.
        Ok(Io::PeerClosed | Io::GaveUp) => return Ok(()),
        Err(e) => return Err(format!("round-trip header read: {e}")),
    }
    let size = parse_round_trip_header(&header)?;
    let mut buf = vec![0u8; MAX_MESSAGE_SIZE];
    let (mut echoed, mut counted) = (0u64, 0u64);
    let mut seen = false;
    while !stop.load(Ordering::Acquire) {
        match socket::recv(fd, &mut buf, MsgFlags::empty()) {
            Ok(0) => break,
            Ok(n) => {
                if !seen {
                    seen = true;
                    shared.mark_first(Instant::now());
                }
                match send_all(fd, &buf[..n], None, stop) {
                    Ok(Io::Done) => {}
                    Ok(Io::PeerClosed | Io::GaveUp) => break,
                    Err(e) => return Err(format!("round-trip echo write: {e}")),
                }
                // Counted once echoed, before this thread can see the
                // client's close: the sampler gets every counted message.
                echoed += n as u64;
                let done = echoed / size;
                shared.bytes.fetch_add(n as u64, Ordering::AcqRel);
                if done > counted {
                    shared.packets.fetch_add(done - counted, Ordering::AcqRel);
                    counted = done;
                }
            }
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(Errno::ECONNRESET) => break,
            Err(e) => return Err(format!("round-trip read: {e}")),
        }
    }
    Ok(())
}

fn round_trip_header(message_size: usize) -> [u8; ROUND_TRIP_HEADER] {
    let mut h = [0u8; ROUND_TRIP_HEADER];
    h[..4].copy_from_slice(&ROUND_TRIP_MAGIC);
    // Checked by the caller: at most MAX_MESSAGE_SIZE.
    h[4..].copy_from_slice(&(message_size as u32).to_be_bytes());
    h
}

fn parse_round_trip_header(h: &[u8; ROUND_TRIP_HEADER]) -> std::result::Result<u64, String> {
    if h[..4] != ROUND_TRIP_MAGIC {
        return Err(
            "round-trip server: the client did not open with the round-trip header \
                    (is it running another test mode?)"
                .into(),
        );
    }
    let size = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    if size == 0 || size as usize > MAX_MESSAGE_SIZE {
        return Err(format!(
            "round-trip server: message size {size} in the header is not 1 to {MAX_MESSAGE_SIZE}"
        ));
    }
    Ok(u64::from(size))
}

/// How a bounded blocking transfer ended.
#[derive(Debug, PartialEq, Eq)]
enum Io {
    Done,
    /// EOF, reset or EPIPE.
    PeerClosed,
    /// `stop` was set or `give_up` passed while the socket timed out.
    GaveUp,
}

fn should_give_up(give_up: Option<Instant>, stop: &AtomicBool) -> bool {
    stop.load(Ordering::Acquire) || give_up.is_some_and(|t| Instant::now() >= t)
}

/// Sends all of `buf` on a socket with a send timeout (MSG_NOSIGNAL: EPIPE
/// as an error, never SIGPIPE).
fn send_all(
    fd: RawFd,
    buf: &[u8],
    give_up: Option<Instant>,
    stop: &AtomicBool,
) -> std::result::Result<Io, Errno> {
    let mut off = 0;
    while off < buf.len() {
        match socket::send(fd, &buf[off..], MsgFlags::MSG_NOSIGNAL) {
            Ok(n) => off += n,
            Err(Errno::EAGAIN | Errno::EINTR) => {
                if should_give_up(give_up, stop) {
                    return Ok(Io::GaveUp);
                }
            }
            Err(Errno::EPIPE | Errno::ECONNRESET) => return Ok(Io::PeerClosed),
            Err(e) => return Err(e),
        }
    }
    Ok(Io::Done)
}

/// Fills `buf` from a socket with a receive timeout.
fn recv_exact(
    fd: RawFd,
    buf: &mut [u8],
    give_up: Option<Instant>,
    stop: &AtomicBool,
) -> std::result::Result<Io, Errno> {
    let mut off = 0;
    while off < buf.len() {
        match socket::recv(fd, &mut buf[off..], MsgFlags::empty()) {
            Ok(0) => return Ok(Io::PeerClosed),
            Ok(n) => off += n,
            Err(Errno::EAGAIN | Errno::EINTR) => {
                if should_give_up(give_up, stop) {
                    return Ok(Io::GaveUp);
                }
            }
            Err(Errno::ECONNRESET) => return Ok(Io::PeerClosed),
            Err(e) => return Err(e),
        }
    }
    Ok(Io::Done)
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
        // Packets: round trips (0 for a stream).
        let (bytes, packets) = shared.take_counts();
        if let Some(closed) = closed_at {
            if bytes > 0 || packets > 0 {
                let iv = make_interval(k, start, closed.clamp(start, now), bytes, packets);
                emit(&iv);
                out.push(iv);
            }
            return Ok((out, EndReason::StreamsClosed));
        }
        let iv = make_interval(k, start, now, bytes, packets);
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
        sample_idle(&shared, t0, cfg.duration, UDP_IDLE_END, emit)
    })?;
    let late = shared.take_counts();
    Ok(summarize(cfg, 0, intervals, end, late, rcvbuf))
}

/// Connect mode: one thread accepts and closes connections, the calling
/// thread samples like UDP's (a connection is a datagram).
fn serve_connect(
    cfg: &ServerConfig,
    ready: impl FnOnce(ServerReady),
    emit: &mut dyn FnMut(&Interval),
) -> Result<Summary> {
    let listener =
        TcpListener::bind(cfg.bind).with_context(|| format!("binding TCP {}", cfg.bind))?;
    // A second listen() on a listening socket only resizes its queue: room
    // for bursts of handshakes completed while the acceptor is busy.
    let backlog = Backlog::new(CONNECT_BACKLOG).context("listen backlog")?;
    socket::listen(&listener, backlog).context("setting the TCP listen backlog")?;
    // The acceptor's accept() returns every 100 ms to look at `stop`.
    socket::setsockopt(&listener, sockopt::ReceiveTimeout, &timeval(POLL))
        .context("setting the TCP accept timeout")?;
    let local = listener.local_addr().context("TCP local address")?;
    ready(ServerReady { local_addr: local });

    let shared = Shared::new();
    let first_deadline = Instant::now() + cfg.accept_timeout;
    let (intervals, end) = thread::scope(|scope| -> Result<_> {
        let _stop = StopOnDrop(&shared);
        let (sh, li) = (&shared, &listener);
        thread::Builder::new()
            .name("load-tcp-accept".into())
            .spawn_scoped(scope, move || tcp_acceptor(li, sh))
            .context("spawning the TCP accept thread")?;
        let t0 = shared.wait_first(first_deadline, false).with_context(|| {
            format!(
                "TCP connect server {local}: no connection within the accept timeout of {:?}",
                cfg.accept_timeout
            )
        })?;
        sample_idle(&shared, t0, cfg.duration, CONNECT_IDLE_END, emit)
    })?;
    let late = shared.take_counts();
    let total: u64 = intervals.iter().map(|i| i.packets).sum::<u64>() + late.1;
    let connections = u32::try_from(total).unwrap_or(u32::MAX);
    let mut summary = summarize(cfg, connections, intervals, end, late, None);
    summary.accept_errors = shared.accept_errors.load(Ordering::Acquire);
    Ok(summary)
}

fn tcp_acceptor(listener: &TcpListener, shared: &Shared) {
    let mut seen = false;
    while !shared.stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _)) => {
                // Closed at once: the test is the handshake.
                drop(stream);
                let now = Instant::now();
                if !seen {
                    seen = true;
                    shared.mark_first(now);
                }
                shared.packets.fetch_add(1, Ordering::AcqRel);
                shared.set_last_rx(now);
            }
            Err(e) if is_timeout(&e) => {}
            Err(e) => match e.raw_os_error() {
                // Out of descriptors or memory: the queued connections wait
                // (or time out at the client); retry after a breath instead
                // of spinning on the same error.
                Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                    shared.accept_errors.fetch_add(1, Ordering::AcqRel);
                    thread::sleep(Duration::from_millis(1));
                }
                // A connection that died in the queue; Linux also passes on
                // pending network errors of the new socket (accept(2)).
                Some(
                    libc::ECONNABORTED
                    | libc::EPROTO
                    | libc::ENETDOWN
                    | libc::ENOPROTOOPT
                    | libc::EHOSTDOWN
                    | libc::ENONET
                    | libc::EHOSTUNREACH
                    | libc::EOPNOTSUPP
                    | libc::ENETUNREACH,
                ) => {
                    shared.accept_errors.fetch_add(1, Ordering::AcqRel);
                }
                _ => {
                    shared.fail(format!("TCP accept: {e}"));
                    break;
                }
            },
        }
    }
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
                shared.set_last_rx(now);
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

/// UDP and connect: ends at the duration cap or after `idle` without a new
/// datagram (connection). Each interval with traffic is held back one tick,
/// so that the last one can be cut at the last datagram (connection).
fn sample_idle(
    shared: &Shared,
    t0: Instant,
    duration: Duration,
    idle: Duration,
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
        let idle_end = last_rx() + idle;
        shared.wait_until(tick.min(idle_end), false)?;
        let now = Instant::now();
        if now >= last_rx() + idle {
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
///
/// Round trip (TCP): each stream connects as above with `TCP_NODELAY`, sends
/// the header, then writes a `message_size`-byte message and reads its whole
/// echo, again and again. The duration is only looked at between round
/// trips, so the one in flight completes (its echo is awaited at most
/// [`ROUND_TRIP_GRACE`] past the end) and the client's count equals the
/// server's. A stream that completes no round trip at all is an error (the
/// server is not echoing, e.g. runs another mode).
///
/// Connect (TCP): each stream connects and closes at once, in a loop. The
/// first connection of a stream failing is an error (no server); a refused
/// one later ends the stream with `peer_closed` (the server stopped), other
/// failures (timeouts, no free local port) are counted in `send_errors`.
pub fn run_client(cfg: &ClientConfig) -> Result<ClientSummary> {
    if cfg.streams == 0 {
        bail!("client needs at least one stream");
    }
    check_mode(cfg.proto, cfg.mode)?;
    match (cfg.proto, cfg.mode) {
        (Proto::Tcp, Mode::Stream) => {
            if cfg.write_size == 0 {
                bail!("TCP write size must be positive");
            }
            let conns = connect_streams(cfg)?;
            let buf = vec![0u8; cfg.write_size];
            run_streams(cfg, conns, |stream, deadline, stop| {
                tcp_writer(stream, &buf, deadline, stop)
            })
        }
        (Proto::Tcp, Mode::RoundTrip) => {
            if cfg.message_size == 0 || cfg.message_size > MAX_MESSAGE_SIZE {
                bail!(
                    "round-trip message size must be 1 to {MAX_MESSAGE_SIZE} bytes (got {})",
                    cfg.message_size
                );
            }
            let conns = connect_streams(cfg)?;
            let header = round_trip_header(cfg.message_size);
            for stream in &conns {
                stream.set_nodelay(true).context("setting TCP_NODELAY")?;
                stream
                    .set_read_timeout(Some(POLL))
                    .context("setting the TCP read timeout")?;
                let give_up = Some(Instant::now() + cfg.connect_timeout);
                let never = AtomicBool::new(false);
                match send_all(stream.as_raw_fd(), &header, give_up, &never) {
                    Ok(Io::Done) => {}
                    Ok(_) => bail!("round trip: {} closed before the header", cfg.target),
                    Err(e) => bail!("round trip: sending the header to {}: {e}", cfg.target),
                }
            }
            let size = cfg.message_size;
            run_streams(cfg, conns, |stream, deadline, stop| {
                tcp_round_tripper(stream, size, deadline, stop)
            })
        }
        (Proto::Tcp, Mode::Connect) => {
            let (target, timeout) = (cfg.target, cfg.connect_timeout);
            let threads = vec![(); cfg.streams as usize];
            run_streams(cfg, threads, |(), deadline, stop| {
                tcp_connector(target, timeout, deadline, stop)
            })
        }
        (Proto::Udp, _) => {
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

/// Connects every TCP stream, each with a write timeout.
fn connect_streams(cfg: &ClientConfig) -> Result<Vec<TcpStream>> {
    let mut conns = Vec::with_capacity(cfg.streams as usize);
    for i in 0..cfg.streams {
        let stream =
            TcpStream::connect_timeout(&cfg.target, cfg.connect_timeout).with_context(|| {
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
    Ok(conns)
}

/// What one client stream did.
#[derive(Default)]
struct Outcome {
    bytes: u64,
    packets: u64,
    send_errors: u64,
    peer_closed: bool,
    /// Round trip only.
    latency: Option<Histogram>,
}

/// One thread per connected socket, a common start; the first error stops
/// the other streams and is returned.
fn run_streams<S: Send>(
    cfg: &ClientConfig,
    socks: Vec<S>,
    work: impl Fn(S, Instant, &AtomicBool) -> Result<Outcome> + Sync,
) -> Result<ClientSummary> {
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let deadline = start + cfg.duration;
    let results: Vec<Result<(StreamSummary, Option<Histogram>)>> = thread::scope(|scope| {
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
                        let o = r?;
                        let summary = StreamSummary {
                            bytes: o.bytes,
                            packets: o.packets,
                            send_errors: o.send_errors,
                            peer_closed: o.peer_closed,
                            seconds: start.elapsed().as_secs_f64(),
                            latency_us: o.latency.as_ref().and_then(Histogram::summary),
                        };
                        Ok((summary, o.latency))
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
    let mut per_stream = Vec::with_capacity(results.len());
    let mut latency: Option<Histogram> = None;
    for r in results {
        let (summary, hist) = r?;
        per_stream.push(summary);
        if let Some(h) = hist {
            match &mut latency {
                Some(all) => all.merge(&h),
                None => latency = Some(h),
            }
        }
    }
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
        mode: cfg.mode,
        streams: cfg.streams,
        seconds,
        bytes,
        packets,
        send_errors: per_stream.iter().map(|s| s.send_errors).sum(),
        peer_closed: per_stream.iter().any(|s| s.peer_closed),
        bits_per_second,
        packets_per_second,
        per_stream,
        latency_us: latency.as_ref().and_then(Histogram::summary),
    })
}

/// Round-trip stream: bytes and packets count completed round trips.
fn tcp_round_tripper(
    stream: TcpStream,
    size: usize,
    deadline: Instant,
    stop: &AtomicBool,
) -> Result<Outcome> {
    let fd = stream.as_raw_fd();
    let peer = || {
        stream
            .peer_addr()
            .map_or_else(|_| "the server".to_string(), |a| a.to_string())
    };
    let message = vec![0u8; size];
    let mut echo = vec![0u8; size];
    let mut hist = Histogram::new();
    let give_up = Some(deadline + ROUND_TRIP_GRACE);
    let mut round_trips = 0u64;
    let mut peer_closed = false;
    let mut gave_up = false;
    while Instant::now() < deadline && !stop.load(Ordering::Acquire) {
        let sent_at = Instant::now();
        let r = send_all(fd, &message, give_up, stop)
            .map_err(|e| anyhow!("round trip: send to {} after {round_trips}: {e}", peer()))?;
        let r = match r {
            Io::Done => recv_exact(fd, &mut echo, give_up, stop).map_err(|e| {
                anyhow!("round trip: read from {} after {round_trips}: {e}", peer())
            })?,
            other => other,
        };
        match r {
            Io::Done => {}
            Io::PeerClosed => {
                peer_closed = true;
                break;
            }
            Io::GaveUp => {
                gave_up = true;
                break;
            }
        }
        hist.record(sent_at.elapsed());
        round_trips += 1;
    }
    if round_trips == 0 && !stop.load(Ordering::Acquire) {
        let why = if peer_closed {
            "closed the connection"
        } else if gave_up {
            "did not echo"
        } else {
            "had no time"
        };
        bail!(
            "round trip: no round trip completed, {} {why} (is the server in round-trip mode?)",
            peer()
        );
    }
    if !peer_closed {
        let _ = stream.shutdown(Shutdown::Write);
    }
    Ok(Outcome {
        bytes: round_trips * size as u64,
        packets: round_trips,
        send_errors: 0,
        peer_closed,
        latency: Some(hist),
    })
}

/// Connect stream: packets count connections made.
fn tcp_connector(
    target: SocketAddr,
    connect_timeout: Duration,
    deadline: Instant,
    stop: &AtomicBool,
) -> Result<Outcome> {
    // SO_LINGER with a zero timeout makes close() send a reset and free the
    // socket at once. A normal close would leave the client, which closes
    // first, with a TIME_WAIT socket for 60 s per connection: at thousands
    // of connections per second the ~28k ephemeral ports towards one server
    // port run out within seconds (EADDRNOTAVAIL) and the test would then
    // measure port exhaustion, not the filter. The server's socket is freed
    // by the reset too.
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let mut out = Outcome::default();
    while Instant::now() < deadline && !stop.load(Ordering::Acquire) {
        // The first connection gets the full timeout (no server is an
        // error); later ones no more than the time left.
        let timeout = if out.packets == 0 {
            connect_timeout
        } else {
            connect_timeout
                .min(deadline.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(1))
        };
        match TcpStream::connect_timeout(&target, timeout) {
            Ok(s) => {
                socket::setsockopt(&s, sockopt::Linger, &linger).context("setting SO_LINGER")?;
                drop(s);
                out.packets += 1;
            }
            Err(e) if out.packets == 0 => {
                return Err(e).with_context(|| {
                    format!("TCP connect test: cannot connect to {target} (timeout {timeout:?})")
                })
            }
            // After a success: the server's window closed.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                out.peer_closed = true;
                break;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                ) =>
            {
                out.send_errors += 1;
            }
            // No local port or buffer free: retry after a breath.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EADDRNOTAVAIL | libc::ENOBUFS)) => {
                out.send_errors += 1;
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => bail!(
                "TCP connect to {target} after {} connections: {e}",
                out.packets
            ),
        }
    }
    Ok(out)
}

fn tcp_writer(
    stream: TcpStream,
    buf: &[u8],
    deadline: Instant,
    stop: &AtomicBool,
) -> Result<Outcome> {
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
    Ok(Outcome {
        bytes,
        peer_closed,
        ..Outcome::default()
    })
}

fn udp_sender(
    sock: UdpSocket,
    buf: &[u8],
    target: SocketAddr,
    deadline: Instant,
    stop: &AtomicBool,
) -> Result<Outcome> {
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
                Err(Errno::ECONNREFUSED) => {
                    return Ok(Outcome {
                        bytes,
                        packets,
                        send_errors,
                        peer_closed: true,
                        latency: None,
                    })
                }
                Err(e) => bail!("UDP send to {target}: {e}"),
            }
        }
    }
    Ok(Outcome {
        bytes,
        packets,
        send_errors,
        peer_closed: false,
        latency: None,
    })
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
        assert_eq!(c.message_size, 64);
        assert_eq!(c.mode, Mode::Stream);
        let s = ServerConfig::new(Proto::Udp, addr);
        assert_eq!(s.accept_timeout, Duration::from_secs(10));
        assert_eq!(s.streams, 1);
        assert_eq!(s.mode, Mode::Stream);
    }

    #[test]
    fn mode_names_parse_and_serialize() {
        for m in [Mode::Stream, Mode::RoundTrip, Mode::Connect] {
            assert_eq!(m.as_str().parse::<Mode>().unwrap(), m);
            assert_eq!(m.to_string(), m.as_str());
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<Mode>(&json).unwrap(), m);
        }
        assert_eq!(
            serde_json::to_string(&Mode::RoundTrip).unwrap(),
            "\"round_trip\""
        );
        assert_eq!("Round_Trip".parse::<Mode>().unwrap(), Mode::RoundTrip);
        assert_eq!(Mode::default(), Mode::Stream);
        let err = "latency".parse::<Mode>().unwrap_err().to_string();
        assert!(err.contains("latency"), "{err}");
        assert!(check_mode(Proto::Tcp, Mode::Connect).is_ok());
        assert!(check_mode(Proto::Udp, Mode::Stream).is_ok());
        assert!(check_mode(Proto::Udp, Mode::RoundTrip).is_err());
    }

    #[test]
    fn round_trip_header_round_trips_and_rejects_others() {
        let h = round_trip_header(1500);
        assert_eq!(parse_round_trip_header(&h), Ok(1500));
        let max = round_trip_header(MAX_MESSAGE_SIZE);
        assert_eq!(parse_round_trip_header(&max), Ok(MAX_MESSAGE_SIZE as u64));
        // A stream client's zero-filled buffer is not a header.
        let err = parse_round_trip_header(&[0; ROUND_TRIP_HEADER]).unwrap_err();
        assert!(err.contains("header"), "{err}");
        let mut zero = round_trip_header(1);
        zero[7] = 0;
        assert!(parse_round_trip_header(&zero).is_err());
    }

    #[test]
    fn histogram_buckets_cover_every_value_in_order() {
        assert_eq!(Histogram::bucket(u64::MAX), HIST_BUCKETS - 1);
        assert_eq!(Histogram::bounds(HIST_BUCKETS - 1).1, u64::MAX);
        let mut prev_hi = None;
        for i in 0..HIST_BUCKETS {
            let (lo, hi) = Histogram::bounds(i);
            assert!(lo <= hi);
            if let Some(p) = prev_hi {
                assert_eq!(lo, p + 1, "bucket {i} is contiguous");
            }
            prev_hi = Some(hi);
            assert_eq!(Histogram::bucket(lo), i);
            assert_eq!(Histogram::bucket(hi), i);
            // At most 1/64 relative width above the exact range.
            if lo >= HIST_EXACT {
                assert!((hi - lo) as f64 <= lo as f64 / 64.0, "bucket {i}");
            }
        }
    }

    #[test]
    fn histogram_quantiles_are_close_and_ordered() {
        let mut h = Histogram::new();
        assert!(h.summary().is_none());
        // 1..=10000 µs: p50 5000, p90 9000, p99 9900.
        for us in 1..=10_000u64 {
            h.record(Duration::from_micros(us));
        }
        let s = h.summary().unwrap();
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.016 + 0.001;
        assert!(close(s.p50, 5000.0), "{s:?}");
        assert!(close(s.p90, 9000.0), "{s:?}");
        assert!(close(s.p99, 9900.0), "{s:?}");
        assert!((s.mean - 5000.5).abs() < 1e-6, "{s:?}");
        assert_eq!(s.max, 10_000.0);
        assert!(s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.max);

        // One sample: every quantile is that sample, exactly.
        let mut one = Histogram::new();
        one.record(Duration::from_nanos(123_457));
        let o = one.summary().unwrap();
        assert_eq!(
            (o.p50, o.p99, o.max, o.mean),
            (123.457, 123.457, 123.457, 123.457)
        );

        // Merging adds the samples.
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.record(Duration::from_micros(10));
        b.record(Duration::from_micros(1000));
        b.record(Duration::from_micros(1000));
        a.merge(&b);
        let m = a.summary().unwrap();
        assert!(close(m.p50, 1000.0), "{m:?}");
        assert_eq!(m.max, 1000.0);
        assert!((m.mean - 670.0).abs() < 1e-6, "{m:?}");
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
