//! The iperf3 parser against real `iperf3 -J` output (iperf3 3.12 on loopback in a
//! throwaway namespace; see tests/fixtures/iperf3/README.md).

use harness::iperf3::{self, Iperf3Error, Role};
use harness::model::Sample;

fn fixture(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/iperf3/");
    std::fs::read_to_string(format!("{path}{name}")).unwrap_or_else(|e| panic!("{path}{name}: {e}"))
}

#[test]
fn tcp_server_gives_receiver_seconds_without_the_trailing_fragment() {
    let r = iperf3::parse(&fixture("tcp-server.json")).unwrap();
    assert_eq!(r.role, Role::Server);
    assert_eq!(r.protocol.as_deref(), Some("TCP"));
    assert_eq!(r.version.as_deref(), Some("iperf 3.12"));
    assert_eq!(r.intervals.len(), 4);
    // The last interval lasted 1.17 ms (3.000013–3.001187 s): left out.
    assert_eq!(r.short_intervals(), 1);
    let samples = r.to_samples(2).unwrap();
    assert_eq!(samples.len(), 3);
    assert_eq!(
        samples[0],
        Sample {
            run: 2,
            second: 1,
            bits_per_second: 25250608150.647083,
            packets_per_second: None
        }
    );
    assert_eq!(samples[2].second, 3);
    assert_eq!(
        r.received.as_ref().unwrap().bits_per_second,
        25735503846.977882
    );
    assert_eq!(
        iperf3::samples_from_server_json(&fixture("tcp-server.json"), 2).unwrap(),
        samples
    );
}

#[test]
fn parallel_streams_use_the_sum() {
    let r = iperf3::parse(&fixture("tcp-p2-server.json")).unwrap();
    assert_eq!(r.num_streams, Some(2));
    let s = r.to_samples(1).unwrap();
    assert_eq!(
        s.iter().map(|s| s.bits_per_second).collect::<Vec<_>>(),
        [32484431403.819275, 32523453043.23387, 28967101833.628777]
    );
}

#[test]
fn udp_server_counts_packets_that_arrived() {
    let r = iperf3::parse(&fixture("udp-server.json")).unwrap();
    assert!(r.is_udp());
    let first = &r.intervals[0];
    // iperf3's receiver `packets` is the highest sequence number seen: 284445 of which 8332
    // lost, so 276113 arrived, which is exactly bytes / 64-byte payload (17671232 / 64).
    assert_eq!(
        (first.packets, first.lost_packets),
        (Some(284445), Some(8332))
    );
    assert_eq!(first.packets_counted(), Some(first.bytes / 64));
    let s = r.to_samples(1).unwrap();
    assert_eq!(s.len(), 3);
    // 276113 / 1.0010910034179688 s = 275812.088… packets/s.
    assert!((s[0].packets_per_second.unwrap() - 275812.0880691994).abs() < 1e-6);
    for (i, sample) in r.intervals.iter().zip(&s) {
        assert_eq!(i.packets_counted(), Some(i.bytes / 64));
        assert_eq!(sample.bits_per_second, i.bits_per_second);
    }
    let received = r.received.unwrap();
    assert_eq!(
        (received.packets, received.lost_packets),
        (Some(913176), Some(26959))
    );
}

#[test]
fn client_json_is_sender_side() {
    for name in ["tcp-client.json", "udp-client.json", "tcp-p2-client.json"] {
        let r = iperf3::parse(&fixture(name)).unwrap();
        assert_eq!(r.role, Role::Client, "{name}");
        assert!(r.intervals.iter().all(|i| i.sender), "{name}");
        let e = r.to_samples(1).unwrap_err();
        assert!(
            matches!(
                e,
                Iperf3Error::SenderSide {
                    role: Role::Client,
                    reverse: false
                }
            ),
            "{name}: {e}"
        );
        assert!(e.to_string().contains("iperf3 -s -1 -J"), "{e}");
        // The receiver's totals are in the client's JSON too.
        assert!(r.received.is_some(), "{name}");
    }
    let udp = iperf3::parse(&fixture("udp-client.json")).unwrap();
    assert_eq!(udp.sent.unwrap().packets, Some(913190));
    // What the client sent per interval is all there is per interval on its side.
    assert_eq!(udp.intervals[0].packets_counted(), Some(286280));
}

#[test]
fn refused_connection_is_an_error() {
    let e = iperf3::parse(&fixture("refused-client.json")).unwrap_err();
    assert!(
        matches!(&e, Iperf3Error::Reported(m) if m.contains("Connection refused")),
        "{e}"
    );
    assert!(iperf3::samples_from_server_json("", 1).is_err());
}
