//! The C verdict-message encoder (csrc/verdict.c, through libnetfilter_queue) against
//! the layout docs/filter-spec.md ("Batch verdicts") writes down byte by byte.
//!
//! Why this file exists: the Rust filter's own encoder is tested against this one
//! (rust-impl/tests/verdict_bytes.rs); these tests pin the C side to the spec, so the
//! pair cannot agree on something wrong.

use c_impl::{encode_verdict, Verdict, VERDICT_MSG_LEN};

/// The spec's layout, written out independently of both encoders.
fn expected(queue: u16, id: u32, accept: bool, batch: bool) -> [u8; 32] {
    let mut m = [0u8; 32];
    m[0..4].copy_from_slice(&32u32.to_ne_bytes()); // nlmsg_len
    let typ: u16 = (3 << 8) | if batch { 3 } else { 1 }; // NFNL_SUBSYS_QUEUE
    m[4..6].copy_from_slice(&typ.to_ne_bytes());
    m[6..8].copy_from_slice(&1u16.to_ne_bytes()); // NLM_F_REQUEST
                                                  // seq and pid stay 0 (8..16)
    m[16] = 0; // AF_UNSPEC
    m[17] = 0; // NFNETLINK_V0
    m[18..20].copy_from_slice(&queue.to_be_bytes());
    m[20..22].copy_from_slice(&12u16.to_ne_bytes()); // nla_len
    m[22..24].copy_from_slice(&2u16.to_ne_bytes()); // NFQA_VERDICT_HDR
    m[24..28].copy_from_slice(&u32::from(accept).to_be_bytes());
    m[28..32].copy_from_slice(&id.to_be_bytes());
    m
}

#[test]
fn messages_follow_the_spec_layout() {
    for queue in [0u16, 1, 7, 256, 0x1234, 65535] {
        for id in [
            0u32,
            1,
            2,
            255,
            256,
            65_536,
            0x0102_0304,
            0x7fff_ffff,
            0x8000_0000,
            u32::MAX,
        ] {
            for (verdict, accept) in [(Verdict::Accept, true), (Verdict::Drop, false)] {
                for batch in [false, true] {
                    let mut buf = [0xAAu8; VERDICT_MSG_LEN];
                    let got = encode_verdict(queue, id, verdict, batch, &mut buf).to_vec();
                    assert_eq!(
                        got,
                        expected(queue, id, accept, batch),
                        "queue {queue} id {id} {verdict:?} batch {batch}"
                    );
                }
            }
        }
    }
}

#[test]
fn one_known_message_byte_for_byte() {
    // queue 1, packet 0x01020304, accept, batch, as sent on little-endian x86-64.
    let mut buf = [0u8; VERDICT_MSG_LEN];
    let got = encode_verdict(1, 0x0102_0304, Verdict::Accept, true, &mut buf);
    if cfg!(target_endian = "little") {
        assert_eq!(
            got,
            [
                32, 0, 0, 0, 3, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, // nlmsghdr
                0, 0, 0, 1, // nfgenmsg: AF_UNSPEC, v0, res_id 1
                12, 0, 2, 0, // nlattr NFQA_VERDICT_HDR
                0, 0, 0, 1, 1, 2, 3, 4, // NF_ACCEPT, id
            ]
        );
    }
}
