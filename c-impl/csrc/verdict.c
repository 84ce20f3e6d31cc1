/*
 * verdict.c - the verdict message, built by libnetfilter_queue itself
 * (nfq_nlmsg_put + nfq_nlmsg_verdict_put), so it is the reference the Rust
 * encoder is tested against.  See verdict.h.
 */
#include "verdict.h"
#include "decide.h"

#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/types.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

size_t nfqb_encode_verdict(uint16_t queue, uint32_t id, int verdict, int batch,
			   void *buf, size_t buflen)
{
	/* libmnl writes through struct pointers: build in an aligned, large
	 * enough local buffer, then copy out (buf may be unaligned). */
	uint32_t msg[2 * NFQB_VERDICT_MSG_LEN / 4] = { 0 };
	struct nlmsghdr *nlh;

	if (buflen < NFQB_VERDICT_MSG_LEN)
		return 0;
	nlh = nfq_nlmsg_put((char *)msg, batch ? NFQNL_MSG_VERDICT_BATCH : NFQNL_MSG_VERDICT,
			    queue);
	/* nfq_nlmsg_verdict_put takes the id as int and stores htonl(id): the
	 * conversion keeps the 32 bits. */
	nfq_nlmsg_verdict_put(nlh, (int)id, verdict == NFQB_ACCEPT ? NF_ACCEPT : NF_DROP);
	if (nlh->nlmsg_len != NFQB_VERDICT_MSG_LEN)
		return 0;   /* cannot happen: fixed layout (checked, not assumed) */
	memcpy(buf, msg, NFQB_VERDICT_MSG_LEN);
	return NFQB_VERDICT_MSG_LEN;
}
