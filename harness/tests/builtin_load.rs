//! The built-in load generator end to end on the host's loopback: no
//! netfilter is involved, so no namespace or privilege is needed. Speed is
//! only checked against trivial floors.

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use harness::load::builtin::{
    interval_to_json_line, run_client, serve, ClientConfig, ClientSummary, EndReason, Interval,
    Mode, Proto, ServerConfig, Summary,
};

/// Throughput runs one at a time: on two cores, parallel runs would only
/// measure each other.
static SERIAL: Mutex<()> = Mutex::new(());

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

struct Run {
    server: Summary,
    emitted: Vec<Interval>,
    lines: Vec<String>,
    client: ClientSummary,
}

/// Server in a thread, client on this one, with the port the server reports.
fn run_pair(server_cfg: ServerConfig, mut client_cfg: ClientConfig) -> Run {
    let (ready_tx, ready_rx) = mpsc::channel();
    let server = thread::spawn(move || {
        let mut emitted = Vec::new();
        let mut lines = Vec::new();
        let summary = serve(
            &server_cfg,
            |r| ready_tx.send(r.local_addr).unwrap(),
            |iv| {
                emitted.push(iv.clone());
                lines.push(interval_to_json_line(iv));
            },
        );
        (summary, emitted, lines)
    });
    let addr = ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("server ready");
    client_cfg.target = addr;
    let client = run_client(&client_cfg);
    let (summary, emitted, lines) = server.join().expect("server thread");
    let client = client.expect("client run");
    Run {
        server: summary.expect("server run"),
        emitted,
        lines,
        client,
    }
}

fn tcp_run(streams: u32) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut scfg = ServerConfig::new(Proto::Tcp, loopback());
    scfg.streams = streams;
    // A cap well past the client's run: the run ends when the client closes.
    scfg.duration = Duration::from_secs(6);
    let mut ccfg = ClientConfig::new(Proto::Tcp, loopback());
    ccfg.streams = streams;
    ccfg.duration = Duration::from_secs(3);
    let run = run_pair(scfg, ccfg);
    let s = &run.server;
    eprintln!(
        "TCP {streams} stream(s): server {:.3} Gbit/s over {:.3} s, client {:.3} Gbit/s",
        s.bits_per_second / 1e9,
        s.seconds,
        run.client.bits_per_second / 1e9
    );
    for l in &run.lines {
        eprintln!("  {l}");
    }

    assert_eq!(s.proto, Proto::Tcp);
    assert_eq!(s.connections, streams);
    assert_eq!(s.end, EndReason::StreamsClosed);
    assert_eq!(run.emitted, s.intervals, "emit saw every interval");
    assert_eq!(run.lines.len(), s.intervals.len());
    let full: Vec<&Interval> = s
        .intervals
        .iter()
        .filter(|iv| (0.9..1.2).contains(&iv.seconds))
        .collect();
    assert!(full.len() >= 2, "two full intervals: {:?}", s.intervals);
    for iv in &full {
        assert!(
            iv.bits_per_second > 1e8,
            "loopback TCP under 100 Mbit/s: {iv:?}"
        );
        assert_eq!(iv.packets, 0);
    }
    for (i, iv) in s.intervals.iter().enumerate() {
        assert!(iv.seconds > 0.0 && iv.seconds < 1.5, "{iv:?}");
        if i > 0 {
            assert!(iv.second > s.intervals[i - 1].second);
        }
    }
    // TCP is reliable and the client counts what the kernel took.
    let sum: u64 = s.intervals.iter().map(|iv| iv.bytes).sum();
    assert_eq!(sum, run.client.bytes, "server intervals vs client bytes");
    assert_eq!(s.bytes, sum);
    assert_eq!(s.late_bytes, 0);
    assert!(!run.client.peer_closed);
    assert_eq!(run.client.per_stream.len(), streams as usize);
    assert!(run.client.per_stream.iter().all(|p| p.bytes > 0));
    assert!(
        (2.9..4.0).contains(&run.client.seconds),
        "{}",
        run.client.seconds
    );
}

#[test]
fn tcp_one_stream_counts_every_byte() {
    tcp_run(1);
}

#[test]
fn tcp_two_streams_count_every_byte() {
    tcp_run(2);
}

#[test]
fn tcp_duration_cap_cuts_the_run_without_client_error() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut scfg = ServerConfig::new(Proto::Tcp, loopback());
    scfg.duration = Duration::from_millis(1500);
    let mut ccfg = ClientConfig::new(Proto::Tcp, loopback());
    ccfg.duration = Duration::from_secs(3);
    let started = Instant::now();
    let run = run_pair(scfg, ccfg);
    let s = &run.server;
    assert_eq!(s.end, EndReason::Duration);
    assert_eq!(s.intervals.len(), 2, "{:?}", s.intervals);
    let last = &s.intervals[1];
    assert_eq!(last.second, 2);
    assert!(
        (0.2..0.8).contains(&last.seconds),
        "partial last interval keeps its real length: {last:?}"
    );
    assert!((1.45..1.7).contains(&s.seconds), "{:?}", s.intervals);
    // The server hung up mid-run: a reset at the end is not a client error,
    // and it never received more than the client wrote.
    assert!(run.client.peer_closed);
    assert!(s.bytes + s.late_bytes <= run.client.bytes);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn udp_counts_received_packets() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut scfg = ServerConfig::new(Proto::Udp, loopback());
    scfg.duration = Duration::from_secs(6);
    let mut ccfg = ClientConfig::new(Proto::Udp, loopback());
    ccfg.duration = Duration::from_secs(2);
    let run = run_pair(scfg, ccfg);
    let s = &run.server;
    eprintln!(
        "UDP 64 B: server {:.0} packets/s ({:.3} Gbit/s) over {:.3} s; client sent {:.0} packets/s, \
         {} send errors; rcvbuf {:?}",
        s.packets_per_second,
        s.bits_per_second / 1e9,
        s.seconds,
        run.client.packets_per_second,
        run.client.send_errors,
        s.rcvbuf
    );
    for l in &run.lines {
        eprintln!("  {l}");
    }

    assert_eq!(s.proto, Proto::Udp);
    assert_eq!(s.end, EndReason::Idle);
    assert_eq!(run.emitted, s.intervals);
    assert!(!s.intervals.is_empty());
    assert!(s.packets > 1000, "received {} packets", s.packets);
    assert!(
        s.packets + s.late_packets <= run.client.packets,
        "received {} > sent {}",
        s.packets,
        run.client.packets
    );
    assert_eq!(s.bytes, s.packets * 64, "64-byte payloads");
    // Trailing silence is not reported: the run is about the client's length.
    assert!(s.seconds < 2.5, "{:?}", s.intervals);
    for iv in &s.intervals {
        assert!(iv.seconds <= 1.5, "{iv:?}");
    }
    assert!(s.rcvbuf.unwrap_or(0) > 0);
}

#[test]
fn udp_duration_cap_cuts_the_run_without_client_error() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut scfg = ServerConfig::new(Proto::Udp, loopback());
    scfg.duration = Duration::from_millis(1500);
    let mut ccfg = ClientConfig::new(Proto::Udp, loopback());
    ccfg.duration = Duration::from_secs(3);
    let run = run_pair(scfg, ccfg);
    let s = &run.server;
    assert_eq!(s.end, EndReason::Duration);
    assert_eq!(s.intervals.len(), 2, "{:?}", s.intervals);
    assert!(
        (0.2..0.8).contains(&s.intervals[1].seconds),
        "{:?}",
        s.intervals
    );
    assert!((1.45..1.7).contains(&s.seconds), "{:?}", s.intervals);
    assert!(s.packets + s.late_packets <= run.client.packets);
    // The closed server socket answers with port unreachable: the client
    // stops early and says so, without failing.
    assert!(run.client.peer_closed);
    assert!(run.client.seconds < 2.9, "{}", run.client.seconds);
}

#[test]
fn tcp_server_without_client_times_out() {
    let mut scfg = ServerConfig::new(Proto::Tcp, loopback());
    scfg.accept_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let mut port = None;
    let err = serve(&scfg, |r| port = Some(r.local_addr), |_| {}).unwrap_err();
    let took = started.elapsed();
    assert!(port.is_some(), "ready was called");
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let msg = format!("{err:#}");
    assert!(msg.contains("accept timeout"), "{msg}");
}

#[test]
fn udp_server_without_client_times_out() {
    let mut scfg = ServerConfig::new(Proto::Udp, loopback());
    scfg.accept_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let err = serve(&scfg, |_| {}, |_| {}).unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "{took:?}");
    let msg = format!("{err:#}");
    assert!(msg.contains("no datagram"), "{msg}");
}

#[test]
fn tcp_server_with_too_few_streams_times_out() {
    let mut scfg = ServerConfig::new(Proto::Tcp, loopback());
    scfg.streams = 2;
    scfg.accept_timeout = Duration::from_secs(1);
    let (tx, rx) = mpsc::channel();
    let server = thread::spawn(move || serve(&scfg, |r| tx.send(r.local_addr).unwrap(), |_| {}));
    let addr = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let _one = std::net::TcpStream::connect(addr).unwrap();
    let err = server.join().unwrap().unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("1 of 2"), "{msg}");
}

fn closed_port() -> SocketAddr {
    let l = TcpListener::bind(loopback()).unwrap();
    l.local_addr().unwrap()
    // dropped here: nothing listens on that port any more
}

#[test]
fn tcp_client_to_closed_port_fails_fast() {
    let mut ccfg = ClientConfig::new(Proto::Tcp, closed_port());
    ccfg.duration = Duration::from_secs(5);
    let started = Instant::now();
    let err = run_client(&ccfg).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    let msg = format!("{err:#}");
    assert!(msg.contains("cannot connect"), "{msg}");
    assert!(msg.to_lowercase().contains("refused"), "{msg}");
}

#[test]
fn udp_client_to_closed_port_fails_fast() {
    let port = std::net::UdpSocket::bind(loopback())
        .unwrap()
        .local_addr()
        .unwrap();
    let mut ccfg = ClientConfig::new(Proto::Udp, port);
    ccfg.duration = Duration::from_secs(5);
    let started = Instant::now();
    let err = run_client(&ccfg).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    let msg = format!("{err:#}");
    assert!(msg.contains("no UDP server"), "{msg}");
}

// ------------------------------------------------------------ round trip

fn round_trip_run(streams: u32) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut scfg = ServerConfig::new(Proto::Tcp, loopback());
    scfg.mode = Mode::RoundTrip;
    scfg.streams = streams;
    scfg.duration = Duration::from_secs(6);
    let mut ccfg = ClientConfig::new(Proto::Tcp, loopback());
    ccfg.mode = Mode::RoundTrip;
    ccfg.streams = streams;
    ccfg.duration = Duration::from_secs(2);
    let run = run_pair(scfg, ccfg);
    let s = &run.server;
    let c = &run.client;
    let lat = c.latency_us.expect("round-trip latency");
    eprintln!(
        "round trip, {streams} stream(s), 64 B: server {:.0} round trips/s over {:.3} s, \
         client {:.0}/s; latency µs mean {:.1} p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}",
        s.packets_per_second,
        s.seconds,
        c.packets_per_second,
        lat.mean,
        lat.p50,
        lat.p90,
        lat.p99,
        lat.max
    );
    for l in &run.lines {
        eprintln!("  {l}");
    }

    assert_eq!(s.mode, Mode::RoundTrip);
    assert_eq!(c.mode, Mode::RoundTrip);
    assert_eq!(s.connections, streams);
    assert_eq!(s.end, EndReason::StreamsClosed);
    assert_eq!(run.emitted, s.intervals);
    assert!(s.packets >= 1000, "{} round trips", s.packets);
    // The client looks at the clock only between round trips, and the
    // server counts a message before it can see the client's close: both
    // count the same round trips.
    assert!(!c.peer_closed);
    assert_eq!(s.late_packets, 0);
    assert_eq!(s.packets, c.packets, "server vs client round trips");
    assert_eq!(s.bytes, s.packets * 64, "64-byte messages, counted one way");
    assert_eq!(c.bytes, c.packets * 64);
    assert!(
        s.intervals.iter().all(|iv| iv.seconds < 1.5),
        "{:?}",
        s.intervals
    );
    assert!(s.seconds < 2.5, "{:?}", s.intervals);

    assert!(lat.mean > 0.0 && lat.mean <= lat.max, "{lat:?}");
    assert!(lat.p50 > 0.0, "{lat:?}");
    assert!(
        lat.p50 <= lat.p90 && lat.p90 <= lat.p99 && lat.p99 <= lat.max,
        "{lat:?}"
    );
    assert_eq!(c.per_stream.len(), streams as usize);
    for p in &c.per_stream {
        assert!(p.packets > 0, "{p:?}");
        let l = p.latency_us.expect("per-stream latency");
        assert!(
            l.p50 <= l.p99 && l.p99 <= l.max && l.max <= lat.max,
            "{l:?}"
        );
    }
}

#[test]
fn round_trip_one_stream_counts_every_echo() {
    round_trip_run(1);
}

#[test]
fn round_trip_two_streams_count_every_echo() {
    round_trip_run(2);
}

#[test]
fn round_trip_duration_cap_cuts_the_run_without_client_error() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut scfg = ServerConfig::new(Proto::Tcp, loopback());
    scfg.mode = Mode::RoundTrip;
    scfg.duration = Duration::from_millis(1500);
    let mut ccfg = ClientConfig::new(Proto::Tcp, loopback());
    ccfg.mode = Mode::RoundTrip;
    ccfg.duration = Duration::from_secs(3);
    let started = Instant::now();
    let run = run_pair(scfg, ccfg);
    let s = &run.server;
    assert_eq!(s.end, EndReason::Duration);
    assert_eq!(s.intervals.len(), 2, "{:?}", s.intervals);
    assert!((1.45..1.7).contains(&s.seconds), "{:?}", s.intervals);
    assert!(s.packets > 0);
    // The server hung up: the client says so without failing. A reset may
    // discard the last echo before the client read it.
    assert!(run.client.peer_closed);
    let total = s.packets + s.late_packets;
    assert!(
        run.client.packets <= total && total <= run.client.packets + 1,
        "server {total} vs client {}",
        run.client.packets
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn round_trip_server_refuses_a_stream_client() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut scfg = ServerConfig::new(Proto::Tcp, loopback());
    scfg.mode = Mode::RoundTrip;
    scfg.accept_timeout = Duration::from_secs(2);
    let (tx, rx) = mpsc::channel();
    let server = thread::spawn(move || serve(&scfg, |r| tx.send(r.local_addr).unwrap(), |_| {}));
    let addr = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let mut ccfg = ClientConfig::new(Proto::Tcp, addr);
    ccfg.duration = Duration::from_secs(1);
    let started = Instant::now();
    // The client may or may not notice; the server must say why it stopped.
    let _ = run_client(&ccfg);
    let err = server.join().unwrap().unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("round-trip header"), "{msg}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn round_trip_client_without_echo_fails() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // A stream server reads and never answers.
    let mut scfg = ServerConfig::new(Proto::Tcp, loopback());
    scfg.duration = Duration::from_secs(5);
    let (tx, rx) = mpsc::channel();
    let server = thread::spawn(move || serve(&scfg, |r| tx.send(r.local_addr).unwrap(), |_| {}));
    let addr = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let mut ccfg = ClientConfig::new(Proto::Tcp, addr);
    ccfg.mode = Mode::RoundTrip;
    ccfg.duration = Duration::from_millis(500);
    let started = Instant::now();
    let err = run_client(&ccfg).unwrap_err();
    // Duration plus the grace for the echo in flight, not a hang.
    assert!(started.elapsed() < Duration::from_secs(4));
    let msg = format!("{err:#}");
    assert!(msg.contains("no round trip"), "{msg}");
    let _ = server.join().unwrap();
}

// ------------------------------------------------------------ connect

fn connect_run(streams: u32) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut scfg = ServerConfig::new(Proto::Tcp, loopback());
    scfg.mode = Mode::Connect;
    scfg.duration = Duration::from_secs(6);
    let mut ccfg = ClientConfig::new(Proto::Tcp, loopback());
    ccfg.mode = Mode::Connect;
    ccfg.streams = streams;
    ccfg.duration = Duration::from_secs(2);
    let started = Instant::now();
    let run = run_pair(scfg, ccfg);
    let s = &run.server;
    let c = &run.client;
    eprintln!(
        "connect, {streams} stream(s): server {:.0} connections/s over {:.3} s ({} accepted, \
         {} accept errors); client {:.0}/s ({} made, {} failed attempts)",
        s.packets_per_second,
        s.seconds,
        s.packets,
        s.accept_errors,
        c.packets_per_second,
        c.packets,
        c.send_errors
    );
    for l in &run.lines {
        eprintln!("  {l}");
    }

    assert_eq!(s.mode, Mode::Connect);
    assert_eq!(c.mode, Mode::Connect);
    assert_eq!(s.end, EndReason::Idle);
    assert_eq!(run.emitted, s.intervals);
    assert!(s.packets > 500, "{} connections", s.packets);
    // A connection can complete at the server while its client thread has
    // already given up on it at the deadline: at most one per stream.
    assert!(
        s.packets + s.late_packets <= c.packets + u64::from(streams),
        "accepted {} > made {} + {streams}",
        s.packets + s.late_packets,
        c.packets
    );
    assert_eq!(
        u64::from(s.connections),
        s.packets + s.late_packets,
        "connections = all accepted"
    );
    assert_eq!(s.bytes, 0);
    assert!(c.latency_us.is_none());
    assert!(!c.peer_closed, "the client ended first");
    assert_eq!(c.per_stream.len(), streams as usize);
    assert!(c.per_stream.iter().all(|p| p.packets > 0));
    // Trailing silence is not reported; the run ended by idleness.
    assert!(s.seconds < 2.5, "{:?}", s.intervals);
    assert!(started.elapsed() < Duration::from_secs(6));
}

#[test]
fn connect_one_stream_counts_connections() {
    connect_run(1);
}

#[test]
fn connect_two_streams_count_connections() {
    connect_run(2);
}

#[test]
fn connect_server_without_client_times_out() {
    let mut scfg = ServerConfig::new(Proto::Tcp, loopback());
    scfg.mode = Mode::Connect;
    scfg.accept_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let err = serve(&scfg, |_| {}, |_| {}).unwrap_err();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let msg = format!("{err:#}");
    assert!(msg.contains("no connection"), "{msg}");
}

#[test]
fn connect_client_to_closed_port_fails_fast() {
    let mut ccfg = ClientConfig::new(Proto::Tcp, closed_port());
    ccfg.mode = Mode::Connect;
    ccfg.streams = 2;
    ccfg.duration = Duration::from_secs(5);
    let started = Instant::now();
    let err = run_client(&ccfg).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    let msg = format!("{err:#}");
    assert!(msg.contains("cannot connect"), "{msg}");
}

#[test]
fn udp_refuses_round_trip_and_connect() {
    for mode in [Mode::RoundTrip, Mode::Connect] {
        let mut scfg = ServerConfig::new(Proto::Udp, loopback());
        scfg.mode = mode;
        let mut ready = false;
        let err = serve(&scfg, |_| ready = true, |_| {}).unwrap_err();
        assert!(!ready, "refused before binding");
        assert!(format!("{err:#}").contains("needs TCP"), "{err:#}");

        let mut ccfg = ClientConfig::new(Proto::Udp, closed_port());
        ccfg.mode = mode;
        let err = run_client(&ccfg).unwrap_err();
        assert!(format!("{err:#}").contains("needs TCP"), "{err:#}");
    }
}

#[test]
fn round_trip_message_size_is_checked() {
    for size in [0, 64 * 1024 + 1] {
        let mut ccfg = ClientConfig::new(Proto::Tcp, closed_port());
        ccfg.mode = Mode::RoundTrip;
        ccfg.message_size = size;
        let err = run_client(&ccfg).unwrap_err();
        assert!(format!("{err:#}").contains("message size"), "{err:#}");
    }
}
