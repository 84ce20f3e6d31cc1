/*
 * verdict.h - the netlink verdict message of the C reference filter
 * (docs/filter-spec.md, "Batch verdicts").
 *
 * Why this module exists: the Rust filter builds the same message with its own
 * encoder (the nfq crate has no batch verdict), and the two must be byte for
 * byte identical.  Keeping the C encoder apart from the socket code lets the
 * Rust tests compare them and lets a micro-benchmark time "decide + encode the
 * verdict" in both languages.  No I/O, no global state.
 */
#ifndef NFQB_VERDICT_H
#define NFQB_VERDICT_H

#include <stddef.h>
#include <stdint.h>

/* nlmsghdr (16) + nfgenmsg (4) + NFQA_VERDICT_HDR attribute (4 + 8). */
#define NFQB_VERDICT_MSG_LEN 32

/*
 * Encode the verdict message for packet `id` of queue `queue` into buf:
 * NFQNL_MSG_VERDICT_BATCH (every waiting packet with id <= `id`) when batch is
 * non-zero, else NFQNL_MSG_VERDICT (that packet only).  verdict is NFQB_ACCEPT
 * or NFQB_DROP (decide.h); any other value encodes as a drop.  buf needs no
 * particular alignment.  Returns the message length (NFQB_VERDICT_MSG_LEN), or
 * 0 without writing anything when buflen is smaller than that.
 */
size_t nfqb_encode_verdict(uint16_t queue, uint32_t id, int verdict, int batch,
			   void *buf, size_t buflen);

#endif /* NFQB_VERDICT_H */
