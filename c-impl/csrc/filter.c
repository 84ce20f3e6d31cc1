/*
 * filter.c - the C reference NFQUEUE filter: command line, netlink socket,
 * receive loop, verdicts, stats (docs/filter-spec.md, "Command line",
 * "Receive loop", "Stats JSON").
 *
 * Why this module exists: it is the baseline the Rust filter is measured and
 * differentially tested against, written in the style of libnetfilter_queue's
 * examples/nf-queue.c (modern libmnl API).  The packet decision itself lives
 * in decide.c; this file only moves packets between the kernel and it.
 *
 * The only global is the stop flag written by the SIGINT/SIGTERM handler (and
 * by a loop that gives up).  The handlers are installed without SA_RESTART so a
 * blocking recv returns EINTR; a loop on another thread sees the flag within
 * the 100 ms SO_RCVTIMEO of its socket.  With --queues N each queue has its
 * own socket, buffer, stats and verdict run (struct worker); threads share only
 * the read-only rules and the flag.
 */
#include "decide.h"
#include "verdict.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/types.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define PROG              "c-filter"
#define IMPL              "c"

#define EXIT_USAGE        2   /* bad flag, bad value, bad rules file */
#define MAX_CONSEC_ERRORS 1000
#define MAX_QUEUES        64
#define MAX_BATCH         65535
#define RCVTIMEO_MS       100 /* stop-request backstop, docs/filter-spec.md */

/* A config or verdict message: nlmsghdr + nfgenmsg + a few small attributes. */
#define SMALL_MSG_BUF     256

/* Lock-free, hence async-signal-safe, and race-free between threads. */
static atomic_int stop_requested;

/* ---- options ------------------------------------------------------------ */

struct options {
	unsigned long queue;
	unsigned long copy_range;
	int have_maxlen;
	unsigned long maxlen;
	unsigned long rcvbuf;
	int fail_open;
	int gso;
	unsigned long batch;
	unsigned long queues;
	const char *rules_path;
	const char *stats_path;
	int check;
};

enum {
	OPT_QUEUE = 1000, OPT_COPY_RANGE, OPT_QUEUE_MAXLEN, OPT_RCVBUF,
	OPT_FAIL_OPEN, OPT_GSO, OPT_BATCH, OPT_QUEUES, OPT_RULES, OPT_STATS, OPT_CHECK,
	OPT_HELP = 'h',
};

static const struct option long_opts[] = {
	{ "queue",        required_argument, NULL, OPT_QUEUE },
	{ "copy-range",   required_argument, NULL, OPT_COPY_RANGE },
	{ "queue-maxlen", required_argument, NULL, OPT_QUEUE_MAXLEN },
	{ "rcvbuf",       required_argument, NULL, OPT_RCVBUF },
	{ "fail-open",    no_argument,       NULL, OPT_FAIL_OPEN },
	{ "gso",          no_argument,       NULL, OPT_GSO },
	{ "batch",        required_argument, NULL, OPT_BATCH },
	{ "queues",       required_argument, NULL, OPT_QUEUES },
	{ "rules",        required_argument, NULL, OPT_RULES },
	{ "stats",        required_argument, NULL, OPT_STATS },
	{ "check",        no_argument,       NULL, OPT_CHECK },
	{ "help",         no_argument,       NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};
#define N_OPTS (sizeof(long_opts) / sizeof(long_opts[0]) - 1)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [options]\n"
		"  --queue N            first queue number to bind (0..=65535, default 0)\n"
		"  --copy-range BYTES   bytes copied to user space (1..=65535, default 65535)\n"
		"  --queue-maxlen N     kernel queue length (1..=4294967295, default: kernel's)\n"
		"  --rcvbuf BYTES       socket receive buffer (0 = system default, default 8388608)\n"
		"  --fail-open          accept instead of drop when the queue is full\n"
		"  --gso                receive GSO super-packets whole (NFQA_CFG_F_GSO)\n"
		"  --batch N            verdicts per verdict message, at most (1..=65535, default 1)\n"
		"  --queues N           bind queues Q..Q+N-1, one thread each (1..=64, default 1)\n"
		"  --rules FILE         rules file (default: accept everything)\n"
		"  --stats FILE|-       where the stats JSON goes at exit (default - = stdout)\n"
		"  --check              parse the rules file, report and exit\n"
		"  -h, --help           this text\n");
}

/* Digits only, no sign, value in [min, max].  Returns 0 or -1. */
static int parse_flag_num(const char *s, unsigned long min, unsigned long max,
			  unsigned long *out)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -1;
	}
	if (v < min)
		return -1;
	*out = v;
	return 0;
}

/*
 * getopt_long with three deviations from GNU defaults, so the C and the Rust
 * (clap) filter accept the same command lines: no abbreviated long options,
 * no option given twice, no separate value that looks like another option.
 * Returns -1 to go on, otherwise the exit code (0 after --help).
 */
static int parse_options(int argc, char **argv, struct options *o)
{
	int given[N_OPTS] = { 0 };

	o->queue = 0;
	o->copy_range = 65535;
	o->have_maxlen = 0;
	o->maxlen = 0;
	o->rcvbuf = 8388608;
	o->fail_open = 0;
	o->gso = 0;
	o->batch = 1;
	o->queues = 1;
	o->rules_path = NULL;
	o->stats_path = "-";
	o->check = 0;

	optind = 0;   /* full re-initialisation: nfqb_main may run twice */
	opterr = 0;   /* we print our own one-line messages */
	for (;;) {
		int cur = optind == 0 ? 1 : optind;
		int idx = -1, c;
		const char *arg, *eq;
		size_t namelen;

		c = getopt_long(argc, argv, "+:h", long_opts, &idx);
		if (c == -1)
			break;
		arg = cur < argc ? argv[cur] : "";
		if (c == '?') {   /* unknown, ambiguous, or a value where none is taken */
			if (strncmp(arg, "--", 2) == 0)
				fprintf(stderr, PROG ": unknown option '%s'\n", arg);
			else
				fprintf(stderr, PROG ": unknown option '-%c'\n", optopt);
			return EXIT_USAGE;
		}
		if (c == ':') {
			fprintf(stderr, PROG ": missing value for '%s'\n", arg);
			return EXIT_USAGE;
		}
		if (c == OPT_HELP)
			idx = (int)N_OPTS - 1; /* "help" is the last entry */
		if (strncmp(arg, "--", 2) == 0) {
			eq = strchr(arg, '=');
			namelen = eq ? (size_t)(eq - arg) - 2 : strlen(arg) - 2;
			if (namelen != strlen(long_opts[idx].name) ||
			    strncmp(arg + 2, long_opts[idx].name, namelen) != 0) {
				fprintf(stderr, PROG ": unknown option '%.*s'\n",
					(int)namelen + 2, arg);
				return EXIT_USAGE;
			}
			if (optarg && !eq && optarg[0] == '-' && optarg[1] != '\0') {
				fprintf(stderr, PROG ": missing value for '--%s'\n",
					long_opts[idx].name);
				return EXIT_USAGE;
			}
		}
		if (given[idx]++) {
			fprintf(stderr, PROG ": option '--%s' given twice\n", long_opts[idx].name);
			return EXIT_USAGE;
		}

		switch (c) {
		case OPT_QUEUE:
			if (parse_flag_num(optarg, 0, 65535, &o->queue) < 0)
				goto bad_value;
			break;
		case OPT_COPY_RANGE:
			if (parse_flag_num(optarg, 1, 65535, &o->copy_range) < 0)
				goto bad_value;
			break;
		case OPT_QUEUE_MAXLEN:
			if (parse_flag_num(optarg, 1, UINT32_MAX, &o->maxlen) < 0)
				goto bad_value;
			o->have_maxlen = 1;
			break;
		case OPT_RCVBUF:
			if (parse_flag_num(optarg, 0, INT_MAX, &o->rcvbuf) < 0)
				goto bad_value;
			break;
		case OPT_FAIL_OPEN:
			o->fail_open = 1;
			break;
		case OPT_GSO:
			o->gso = 1;
			break;
		case OPT_BATCH:
			if (parse_flag_num(optarg, 1, MAX_BATCH, &o->batch) < 0)
				goto bad_value;
			break;
		case OPT_QUEUES:
			if (parse_flag_num(optarg, 1, MAX_QUEUES, &o->queues) < 0)
				goto bad_value;
			break;
		case OPT_RULES:
			o->rules_path = optarg;
			break;
		case OPT_STATS:
			if (optarg[0] == '\0')
				goto bad_value;
			o->stats_path = optarg;
			break;
		case OPT_CHECK:
			o->check = 1;
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		}
		continue;
bad_value:
		fprintf(stderr, PROG ": bad value '%s' for '--%s'\n", optarg, long_opts[idx].name);
		return EXIT_USAGE;
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (o->queue + o->queues - 1 > 65535) {
		fprintf(stderr, PROG ": bad value '%lu' for '--queues': queue %lu + %lu - 1 > 65535\n",
			o->queues, o->queue, o->queues);
		return EXIT_USAGE;
	}
	return -1;
}

/* ---- rules file --------------------------------------------------------- */

/* Read and parse the rules file (or none).  Returns 0 or prints one line, -1. */
static int load_rules(const char *path, struct nfqb_rules **out)
{
	char err[NFQB_ERR_LEN];
	unsigned line;
	char *text = NULL;
	size_t len = 0, cap = 0;
	FILE *f;
	int rc;

	if (path == NULL)
		return nfqb_rules_parse("", 0, out, &line, err, sizeof(err));

	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "rules %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			char *t = realloc(text, cap ? cap * 2 : 65536);

			if (t == NULL) {
				fprintf(stderr, "rules %s: out of memory\n", path);
				goto fail;
			}
			text = t;
			cap = cap ? cap * 2 : 65536;
		}
		n = fread(text + len, 1, cap - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f)) {
				fprintf(stderr, "rules %s: %s\n", path, strerror(errno));
				goto fail;
			}
			break;
		}
	}
	fclose(f);

	rc = nfqb_rules_parse(text, len, out, &line, err, sizeof(err));
	free(text);
	if (rc < 0) {
		if (line)
			fprintf(stderr, "rules %s:%u: %s\n", path, line, err);
		else
			fprintf(stderr, "rules %s: %s\n", path, err);
		return -1;
	}
	return 0;
fail:
	fclose(f);
	free(text);
	return -1;
}

/* ---- stats -------------------------------------------------------------- */

struct stats {
	uint64_t packets, bytes, accepted, dropped, malformed, default_hits;
	uint64_t recv_errors, enobufs, verdict_errors, gso_packets, verdict_messages;
	uint64_t *rule_hits;       /* one per rule */
};

/* into += from (rule_hits: nrules entries each). */
static void stats_add(struct stats *into, const struct stats *from, size_t nrules)
{
	size_t i;

	into->packets += from->packets;
	into->bytes += from->bytes;
	into->accepted += from->accepted;
	into->dropped += from->dropped;
	into->malformed += from->malformed;
	into->default_hits += from->default_hits;
	into->recv_errors += from->recv_errors;
	into->enobufs += from->enobufs;
	into->verdict_errors += from->verdict_errors;
	into->gso_packets += from->gso_packets;
	into->verdict_messages += from->verdict_messages;
	for (i = 0; i < nrules; i++)
		into->rule_hits[i] += from->rule_hits[i];
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static int write_stats(const char *path, const struct options *o, int rcvbuf,
		       const struct nfqb_rules *rules, const struct stats *st)
{
	struct rusage ru;
	FILE *f;
	size_t i;
	int err;

	getrusage(RUSAGE_SELF, &ru);
	if (strcmp(path, "-") == 0) {
		f = stdout;
	} else {
		f = fopen(path, "w");
		if (f == NULL) {
			fprintf(stderr, PROG ": write stats %s: %s\n", path, strerror(errno));
			return -1;
		}
	}

	fprintf(f, "{\"impl\":\"" IMPL "\",\"queue\":%lu,\"copy_range\":%lu,\"rcvbuf\":%d,",
		o->queue, o->copy_range, rcvbuf);
	fprintf(f, "\"queues\":%lu,\"gso\":%s,\"batch\":%lu,",
		o->queues, o->gso ? "true" : "false", o->batch);
	fprintf(f, "\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"accepted\":%" PRIu64
		",\"dropped\":%" PRIu64 ",\"malformed\":%" PRIu64 ",",
		st->packets, st->bytes, st->accepted, st->dropped, st->malformed);
	fprintf(f, "\"default_hits\":%" PRIu64 ",\"rule_hits\":[", st->default_hits);
	for (i = 0; i < nfqb_rules_count(rules); i++) {
		fprintf(f, "%s{\"line\":%u,\"rule\":", i ? "," : "", nfqb_rules_line(rules, i));
		json_string(f, nfqb_rules_text(rules, i));
		fprintf(f, ",\"hits\":%" PRIu64 "}", st->rule_hits[i]);
	}
	fprintf(f, "],\"recv_errors\":%" PRIu64 ",\"enobufs\":%" PRIu64
		",\"verdict_errors\":%" PRIu64 ",",
		st->recv_errors, st->enobufs, st->verdict_errors);
	fprintf(f, "\"gso_packets\":%" PRIu64 ",\"verdict_messages\":%" PRIu64 ",",
		st->gso_packets, st->verdict_messages);
	fprintf(f, "\"cpu_user_us\":%lld,\"cpu_sys_us\":%lld}\n",
		(long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
		(long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec);

	err = fflush(f) != 0 || ferror(f);
	if (f != stdout)
		err |= fclose(f) != 0;
	if (err) {
		fprintf(stderr, PROG ": write stats %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- one queue: socket, buffer, stats, pending verdict run -------------- */

struct worker {
	struct mnl_socket *nl;
	unsigned portid;
	uint16_t queue;
	unsigned batch;            /* --batch: flush a run at this many packets */
	const struct nfqb_rules *rules;
	char *buf;
	size_t bufsize;
	int rcvbuf;                /* getsockopt(SO_RCVBUF) after sizing */
	struct stats st;
	/* The pending run of equal verdicts (docs/filter-spec.md, "Batch verdicts"). */
	uint32_t run_last_id;
	int run_verdict;
	unsigned run_len;
	/* Set when the loop gave up after MAX_CONSEC_ERRORS; errno of the last one. */
	int gave_up, last_errno;
	pthread_t thread;
	int thread_started;
};

/* Send the pending run: one NFQNL_MSG_VERDICT for a run of 1, else one
 * NFQNL_MSG_VERDICT_BATCH for its last id.  No-op when nothing is pending. */
static void flush_run(struct worker *w)
{
	char msg[NFQB_VERDICT_MSG_LEN] __attribute__((aligned(8)));
	size_t len;
	ssize_t rc;

	if (w->run_len == 0)
		return;
	len = nfqb_encode_verdict(w->queue, w->run_last_id, w->run_verdict, w->run_len > 1,
				  msg, sizeof(msg));
	w->st.verdict_messages++;
	do
		rc = mnl_socket_sendto(w->nl, msg, len);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		w->st.verdict_errors++;
	w->run_len = 0;
}

/* Add one packet's verdict to the run: a different verdict flushes the run
 * first; a full run is flushed at once. */
static void add_verdict(struct worker *w, uint32_t id, int verdict)
{
	if (w->run_len > 0 && verdict != w->run_verdict)
		flush_run(w);
	w->run_verdict = verdict;
	w->run_last_id = id;
	if (++w->run_len >= w->batch)
		flush_run(w);
}

/* mnl_cb_run data callback: one queued packet.  Never stops the batch. */
static int queue_cb(const struct nlmsghdr *nlh, void *data)
{
	struct worker *w = data;
	struct stats *st = &w->st;
	struct nlattr *attr[NFQA_MAX + 1] = { NULL };
	const struct nfqnl_msg_packet_hdr *ph;
	const uint8_t *payload = NULL;
	size_t plen = 0;
	uint64_t pkt_len;
	struct nfqb_decision d;

	if (nfq_nlmsg_parse(nlh, attr) < 0 || attr[NFQA_PACKET_HDR] == NULL) {
		st->recv_errors++;   /* cannot be verdicted without a packet id */
		return MNL_CB_OK;
	}
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);

	if (attr[NFQA_PAYLOAD]) {
		payload = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
		plen = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	}
	pkt_len = attr[NFQA_CAP_LEN] ? ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN])) : plen;

	d = nfqb_decide(w->rules, payload, plen);

	st->packets++;
	st->bytes += pkt_len;
	if (d.verdict == NFQB_ACCEPT)
		st->accepted++;
	else
		st->dropped++;
	if (d.malformed)
		st->malformed++;
	if (d.rule < 0)
		st->default_hits++;
	else
		st->rule_hits[d.rule]++;
	/* nfq_nlmsg_parse validated NFQA_SKB_INFO as a u32. */
	if (attr[NFQA_SKB_INFO] && (ntohl(mnl_attr_get_u32(attr[NFQA_SKB_INFO])) & NFQA_SKB_GSO))
		st->gso_packets++;

	add_verdict(w, ntohl(ph->packet_id), d.verdict);
	return MNL_CB_OK;
}

/*
 * recvmsg with flags (MSG_DONTWAIT while a run is pending); otherwise what
 * mnl_socket_recvfrom does: a truncated datagram fails with ENOSPC.
 */
static ssize_t recv_datagram(int fd, void *buf, size_t len, int flags)
{
	struct sockaddr_nl addr;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_name = &addr, .msg_namelen = sizeof(addr),
		.msg_iov = &iov, .msg_iovlen = 1,
	};
	ssize_t n = recvmsg(fd, &msg, flags);

	if (n < 0)
		return n;
	if (msg.msg_flags & MSG_TRUNC) {
		errno = ENOSPC;
		return -1;
	}
	if (msg.msg_namelen != sizeof(addr)) {
		errno = EINVAL;
		return -1;
	}
	return n;
}

/* The receive loop of one queue (docs/filter-spec.md, "Receive loop"). */
static void run_loop(struct worker *w)
{
	int fd = mnl_socket_get_fd(w->nl);
	unsigned consecutive = 0;

	while (!atomic_load_explicit(&stop_requested, memory_order_relaxed)) {
		ssize_t n = recv_datagram(fd, w->buf, w->bufsize, w->run_len ? MSG_DONTWAIT : 0);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				flush_run(w);   /* empty socket (or SO_RCVTIMEO) */
				continue;
			}
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS)
				w->st.enobufs++;
			w->st.recv_errors++;
		} else if (mnl_cb_run(w->buf, (size_t)n, 0, w->portid, queue_cb, w) < 0) {
			w->st.recv_errors++;  /* an NLMSG_ERROR from the kernel */
		} else {
			consecutive = 0;
			continue;
		}
		if (++consecutive >= MAX_CONSEC_ERRORS) {
			w->gave_up = 1;
			w->last_errno = errno;
			atomic_store(&stop_requested, 1);   /* the whole filter stops */
			break;
		}
	}
	flush_run(w);
}

static void *worker_thread(void *arg)
{
	run_loop(arg);
	return NULL;
}

/* ---- netlink setup ------------------------------------------------------ */

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop_requested, 1);
}

/*
 * Bind the queue and configure it in one acknowledged message (BIND first,
 * then copy mode/range, maxlen and flags: the kernel applies them in that
 * order), so there is no moment where the queue exists in its default
 * metadata-only copy mode.  Packets queued before the ACK arrives are handled
 * by the normal callback (their verdicts join the pending run).  Returns 0 or
 * -1 with errno set.
 */
static int bind_queue(struct worker *w, const struct options *o)
{
	char buf[SMALL_MSG_BUF] __attribute__((aligned(8)));
	uint32_t flags = (o->fail_open ? NFQA_CFG_F_FAIL_OPEN : 0) | (o->gso ? NFQA_CFG_F_GSO : 0);
	unsigned seq = 1;
	struct nlmsghdr *nlh;
	ssize_t n;
	int rc;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, w->queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, (int)o->copy_range);
	if (o->have_maxlen)
		nfq_nlmsg_cfg_put_qmaxlen(nlh, (uint32_t)o->maxlen);
	if (flags) {   /* the mask names exactly the flags we set */
		mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
		mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(flags));
	}
	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(w->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;

	for (;;) {
		n = mnl_socket_recvfrom(w->nl, w->buf, w->bufsize);
		if (n < 0) {
			if (errno == EINTR)
				continue;   /* the ACK is on its way; stop later */
			return -1;
		}
		rc = mnl_cb_run(w->buf, (size_t)n, seq, w->portid, queue_cb, w);
		if (rc < 0)
			return -1;  /* NLMSG_ERROR: errno is the kernel's answer */
		if (rc == MNL_CB_STOP)
			return 0;   /* the ACK */
	}
}

static void unbind_queue(struct mnl_socket *nl, unsigned queue)
{
	char buf[SMALL_MSG_BUF] __attribute__((aligned(8)));
	struct nlmsghdr *nlh;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_UNBIND);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		fprintf(stderr, PROG ": unbind queue %u: %s\n", queue, strerror(errno));
}

/* NETLINK_NO_ENOBUFS and the receive buffer; returns the step name on error. */
static const char *setup_socket(struct mnl_socket *nl, unsigned long rcvbuf, int *rcvbuf_out)
{
	int fd = mnl_socket_get_fd(nl);
	int one = 1, val = (int)rcvbuf;
	socklen_t sl = sizeof(*rcvbuf_out);

	if (mnl_socket_setsockopt(nl, NETLINK_NO_ENOBUFS, &one, sizeof(one)) < 0)
		return "setsockopt NETLINK_NO_ENOBUFS";
	if (rcvbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &val, sizeof(val)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &val, sizeof(val)) < 0)
		return "setsockopt SO_RCVBUF";
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf_out, &sl) < 0)
		return "getsockopt SO_RCVBUF";
	return NULL;
}

/* SO_RCVTIMEO: a blocking recv returns EAGAIN after RCVTIMEO_MS, so a loop
 * whose thread did not get the signal still sees the stop flag. */
static int set_rcvtimeo(struct mnl_socket *nl)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = RCVTIMEO_MS * 1000 };

	return setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Open, configure and bind queue w->queue.  Prints one line and returns -1 on error. */
static int open_queue(struct worker *w, const struct options *o)
{
	const char *step;

	w->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (w->nl == NULL) {
		fprintf(stderr, PROG ": mnl_socket_open: %s\n", strerror(errno));
		return -1;
	}
	if (mnl_socket_bind(w->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		fprintf(stderr, PROG ": mnl_socket_bind: %s\n", strerror(errno));
		return -1;
	}
	w->portid = mnl_socket_get_portid(w->nl);
	step = setup_socket(w->nl, o->rcvbuf, &w->rcvbuf);
	if (step) {
		fprintf(stderr, PROG ": %s: %s\n", step, strerror(errno));
		return -1;
	}
	if (bind_queue(w, o) < 0) {
		fprintf(stderr, PROG ": bind queue %u: %s\n", (unsigned)w->queue, strerror(errno));
		return -1;
	}
	if (set_rcvtimeo(w->nl) < 0) {
		fprintf(stderr, PROG ": setsockopt SO_RCVTIMEO: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- entry point -------------------------------------------------------- */

int nfqb_main(int argc, char **argv)
{
	struct options o;
	struct nfqb_rules *rules = NULL;
	struct worker *workers = NULL;
	struct stats total;
	struct sigaction sa, old_int, old_term;
	/* largest possible packet payload, plus netlink data overhead: */
	size_t bufsize = 0xffff + (size_t)(MNL_SOCKET_BUFFER_SIZE / 2);
	size_t nrules, i, nw = 0;
	int rc, exit_code = 1, signals_set = 0;

	rc = parse_options(argc, argv, &o);
	if (rc >= 0) {
		fflush(stdout);
		return rc;
	}
	if (load_rules(o.rules_path, &rules) < 0)
		return EXIT_USAGE;
	if (o.check) {
		printf("rules ok: %zu rules, default %s\n", nfqb_rules_count(rules),
		       nfqb_rules_default(rules) == NFQB_ACCEPT ? "accept" : "drop");
		fflush(stdout);
		nfqb_rules_free(rules);
		return 0;
	}
	nrules = nfqb_rules_count(rules);

	memset(&total, 0, sizeof(total));
	total.rule_hits = calloc(nrules + 1, sizeof(*total.rule_hits));
	workers = calloc(o.queues, sizeof(*workers));
	if (total.rule_hits == NULL || workers == NULL) {
		fprintf(stderr, PROG ": allocate buffers: %s\n", strerror(ENOMEM));
		goto out;
	}
	for (nw = 0; nw < o.queues; nw++) {
		struct worker *w = &workers[nw];

		w->queue = (uint16_t)(o.queue + nw);
		w->batch = (unsigned)o.batch;
		w->rules = rules;
		w->bufsize = bufsize;
		w->buf = malloc(bufsize);
		w->st.rule_hits = calloc(nrules + 1, sizeof(*w->st.rule_hits));
		if (w->buf == NULL || w->st.rule_hits == NULL) {
			nw++;   /* free this one's buffers too */
			fprintf(stderr, PROG ": allocate buffers: %s\n", strerror(ENOMEM));
			goto out;
		}
	}

	atomic_store(&stop_requested, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: recv must return EINTR */
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	signals_set = 1;

	for (i = 0; i < nw; i++)
		if (open_queue(&workers[i], &o) < 0)
			goto out;
	for (i = 0; i < nw; i++)
		fprintf(stderr, PROG ": queue %u bound, copy-range %lu, rcvbuf %d\n",
			(unsigned)workers[i].queue, o.copy_range, workers[i].rcvbuf);

	/* Queue Q on this thread, every other queue on a thread of its own. */
	for (i = 1; i < nw; i++) {
		rc = pthread_create(&workers[i].thread, NULL, worker_thread, &workers[i]);
		if (rc != 0) {
			fprintf(stderr, PROG ": start thread for queue %u: %s\n",
				(unsigned)workers[i].queue, strerror(rc));
			atomic_store(&stop_requested, 1);
			break;
		}
		workers[i].thread_started = 1;
	}
	if (!atomic_load(&stop_requested))
		run_loop(&workers[0]);
	else
		flush_run(&workers[0]);   /* verdicts from the bind ACK wait */
	exit_code = 0;
	for (i = 1; i < nw; i++) {
		if (workers[i].thread_started)
			pthread_join(workers[i].thread, NULL);
		else
			exit_code = 1;   /* that thread could not be started */
	}

	for (i = 0; i < nw; i++) {
		struct worker *w = &workers[i];

		if (w->gave_up) {
			fprintf(stderr, PROG ": receive: %d consecutive errors, last: %s\n",
				MAX_CONSEC_ERRORS, strerror(w->last_errno));
			exit_code = 1;
		}
		unbind_queue(w->nl, w->queue);
		stats_add(&total, &w->st, nrules);
	}
	if (write_stats(o.stats_path, &o, workers[0].rcvbuf, rules, &total) < 0)
		exit_code = 1;
out:
	for (i = 0; i < nw; i++) {
		if (workers[i].nl)
			mnl_socket_close(workers[i].nl);
		free(workers[i].buf);
		free(workers[i].st.rule_hits);
	}
	if (signals_set) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
	}
	free(workers);
	free(total.rule_hits);
	nfqb_rules_free(rules);
	fflush(stdout);
	fflush(stderr);
	return exit_code;
}
