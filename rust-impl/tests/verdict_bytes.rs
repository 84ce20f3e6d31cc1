//! The Rust verdict-message encoder (`rust_impl::verdict`) against the C one, which
//! builds its messages with libnetfilter_queue (`c_impl::encode_verdict`): byte for byte
//! identical for single and batch verdicts, both verdicts, and ids and queues that
//! exercise every byte.
//!
//! Why this file exists: the Rust filter sends these bytes on nfq's socket itself (nfq
//! has no batch verdict); a wrong byte would make the kernel refuse or misapply verdicts.

use c_impl::Verdict as CVerdict;
use rust_impl::decide::Verdict;
use rust_impl::verdict::{verdict_message, Run, VerdictRun, VERDICT_MSG_LEN};

const QUEUES: [u16; 7] = [0, 1, 2, 255, 256, 0x8001, 65535];
const IDS: [u32; 11] = [
    0,
    1,
    2,
    0xff,
    0x100,
    0xffff,
    0x1_0000,
    0x0102_0304,
    0x7fff_ffff,
    0x8000_0000,
    u32::MAX,
];

#[test]
fn rust_and_libnetfilter_queue_build_identical_messages() {
    assert_eq!(VERDICT_MSG_LEN, c_impl::VERDICT_MSG_LEN);
    let mut checked = 0;
    for queue in QUEUES {
        for id in IDS {
            for (verdict, cverdict) in [
                (Verdict::Accept, CVerdict::Accept),
                (Verdict::Drop, CVerdict::Drop),
            ] {
                for batch in [false, true] {
                    let mut rbuf = [0x55u8; VERDICT_MSG_LEN];
                    let mut cbuf = [0xAAu8; VERDICT_MSG_LEN];
                    let r = verdict_message(queue, id, verdict, batch, &mut rbuf);
                    let c = c_impl::encode_verdict(queue, id, cverdict, batch, &mut cbuf);
                    assert_eq!(r, c, "queue {queue} id {id:#x} {verdict:?} batch {batch}");
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, QUEUES.len() * IDS.len() * 4);
}

#[test]
fn a_run_of_one_is_a_single_verdict_and_longer_runs_are_batches() {
    let mut rbuf = [0u8; VERDICT_MSG_LEN];
    let mut cbuf = [0u8; VERDICT_MSG_LEN];
    let one = Run {
        last_id: 41,
        verdict: Verdict::Drop,
        len: 1,
    };
    assert_eq!(
        one.message(3, &mut rbuf),
        c_impl::encode_verdict(3, 41, CVerdict::Drop, false, &mut cbuf)
    );
    let many = Run {
        last_id: 77,
        verdict: Verdict::Accept,
        len: 32,
    };
    assert_eq!(
        many.message(3, &mut rbuf),
        c_impl::encode_verdict(3, 77, CVerdict::Accept, true, &mut cbuf)
    );
}

/// The batching policy on a mixed stream: every packet is covered by exactly one flushed
/// run, runs are in id order, and each run's verdict is that of all its packets.
#[test]
fn every_packet_is_verdicted_once_with_its_own_verdict() {
    for max in [1u32, 2, 3, 32] {
        let verdicts: Vec<Verdict> = (0..500u32)
            .map(|i| {
                if (i * 7919) % 11 < 3 {
                    Verdict::Drop
                } else {
                    Verdict::Accept
                }
            })
            .collect();
        let mut run = VerdictRun::new(max);
        let mut flushed = Vec::new();
        for (id, &v) in verdicts.iter().enumerate() {
            run.push(id as u32, v, |r| flushed.push(r));
        }
        flushed.extend(run.take());
        let mut next = 0u32;
        for r in &flushed {
            assert!(r.len >= 1 && r.len <= max, "max {max}: {r:?}");
            assert_eq!(r.last_id + 1 - r.len, next, "max {max}: gap before {r:?}");
            for id in next..=r.last_id {
                assert_eq!(verdicts[id as usize], r.verdict, "max {max}: id {id}");
            }
            next = r.last_id + 1;
        }
        assert_eq!(next, 500);
        if max == 1 {
            assert_eq!(flushed.len(), 500);
        }
    }
}
