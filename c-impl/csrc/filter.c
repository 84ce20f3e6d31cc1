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
 * The only global is the stop flag written by the SIGINT/SIGTERM handler.  The
 * handlers are installed without SA_RESTART so a blocking recv returns EINTR.
 */
#include "decide.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
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

/* A config or verdict message: nlmsghdr + nfgenmsg + a few small attributes. */
#define SMALL_MSG_BUF     256

static volatile sig_atomic_t stop_requested;

/* ---- options ------------------------------------------------------------ */

struct options {
	unsigned long queue;
	unsigned long copy_range;
	int have_maxlen;
	unsigned long maxlen;
	unsigned long rcvbuf;
	int fail_open;
	const char *rules_path;
	const char *stats_path;
	int check;
};

enum {
	OPT_QUEUE = 1000, OPT_COPY_RANGE, OPT_QUEUE_MAXLEN, OPT_RCVBUF,
	OPT_FAIL_OPEN, OPT_RULES, OPT_STATS, OPT_CHECK, OPT_HELP = 'h',
};

static const struct option long_opts[] = {
	{ "queue",        required_argument, NULL, OPT_QUEUE },
	{ "copy-range",   required_argument, NULL, OPT_COPY_RANGE },
	{ "queue-maxlen", required_argument, NULL, OPT_QUEUE_MAXLEN },
	{ "rcvbuf",       required_argument, NULL, OPT_RCVBUF },
	{ "fail-open",    no_argument,       NULL, OPT_FAIL_OPEN },
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
	uint64_t recv_errors, enobufs, verdict_errors;
	uint64_t *rule_hits;       /* one per rule */
};

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

/* ---- packets ------------------------------------------------------------ */

struct loop_ctx {
	struct mnl_socket *nl;
	const struct nfqb_rules *rules;
	struct stats *st;
};

static int send_verdict(struct mnl_socket *nl, uint16_t queue, uint32_t id, int verdict)
{
	char buf[SMALL_MSG_BUF] __attribute__((aligned(8)));
	struct nlmsghdr *nlh;
	ssize_t rc;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT, queue);
	nfq_nlmsg_verdict_put(nlh, (int)id, verdict == NFQB_ACCEPT ? NF_ACCEPT : NF_DROP);
	do
		rc = mnl_socket_sendto(nl, nlh, nlh->nlmsg_len);
	while (rc < 0 && errno == EINTR);
	return rc < 0 ? -1 : 0;
}

/* mnl_cb_run data callback: one queued packet.  Never stops the batch. */
static int queue_cb(const struct nlmsghdr *nlh, void *data)
{
	struct loop_ctx *ctx = data;
	struct stats *st = ctx->st;
	struct nlattr *attr[NFQA_MAX + 1] = { NULL };
	const struct nfqnl_msg_packet_hdr *ph;
	const struct nfgenmsg *nfg;
	const uint8_t *payload = NULL;
	size_t plen = 0;
	uint64_t pkt_len;
	struct nfqb_decision d;

	if (nfq_nlmsg_parse(nlh, attr) < 0 || attr[NFQA_PACKET_HDR] == NULL) {
		st->recv_errors++;   /* cannot be verdicted without a packet id */
		return MNL_CB_OK;
	}
	nfg = mnl_nlmsg_get_payload(nlh);
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);

	if (attr[NFQA_PAYLOAD]) {
		payload = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
		plen = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	}
	pkt_len = attr[NFQA_CAP_LEN] ? ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN])) : plen;

	d = nfqb_decide(ctx->rules, payload, plen);
	if (send_verdict(ctx->nl, ntohs(nfg->res_id), ntohl(ph->packet_id), d.verdict) < 0)
		st->verdict_errors++;

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
	return MNL_CB_OK;
}

/* ---- netlink setup ------------------------------------------------------ */

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/*
 * Bind the queue and configure it in one acknowledged message (BIND first,
 * then copy mode/range, maxlen and flags: the kernel applies them in that
 * order), so there is no moment where the queue exists in its default
 * metadata-only copy mode.  Packets queued before the ACK arrives are handled
 * by the normal callback.  Returns 0 or -1 with errno set.
 */
static int bind_queue(struct mnl_socket *nl, const struct options *o, char *rbuf,
		      size_t rbufsize, struct loop_ctx *ctx)
{
	char buf[SMALL_MSG_BUF] __attribute__((aligned(8)));
	unsigned portid = mnl_socket_get_portid(nl);
	unsigned seq = 1;
	struct nlmsghdr *nlh;
	ssize_t n;
	int rc;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, (uint32_t)o->queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, (int)o->copy_range);
	if (o->have_maxlen)
		nfq_nlmsg_cfg_put_qmaxlen(nlh, (uint32_t)o->maxlen);
	if (o->fail_open) {
		mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_FAIL_OPEN));
		mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN));
	}
	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -1;

	for (;;) {
		n = mnl_socket_recvfrom(nl, rbuf, rbufsize);
		if (n < 0) {
			if (errno == EINTR)
				continue;   /* the ACK is on its way; stop later */
			return -1;
		}
		rc = mnl_cb_run(rbuf, (size_t)n, seq, portid, queue_cb, ctx);
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

/* ---- entry point -------------------------------------------------------- */

int nfqb_main(int argc, char **argv)
{
	struct options o;
	struct nfqb_rules *rules = NULL;
	struct stats st;
	struct loop_ctx ctx;
	struct mnl_socket *nl = NULL;
	struct sigaction sa, old_int, old_term;
	/* largest possible packet payload, plus netlink data overhead: */
	size_t bufsize = 0xffff + (size_t)(MNL_SOCKET_BUFFER_SIZE / 2);
	char *buf = NULL;
	const char *step;
	unsigned portid, consecutive = 0;
	int rcvbuf = 0, rc, exit_code = 1, signals_set = 0;

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

	memset(&st, 0, sizeof(st));
	st.rule_hits = calloc(nfqb_rules_count(rules) + 1, sizeof(*st.rule_hits));
	buf = malloc(bufsize);
	if (st.rule_hits == NULL || buf == NULL) {
		fprintf(stderr, PROG ": allocate buffers: %s\n", strerror(ENOMEM));
		goto out;
	}

	stop_requested = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: recv must return EINTR */
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	signals_set = 1;

	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (nl == NULL) {
		fprintf(stderr, PROG ": mnl_socket_open: %s\n", strerror(errno));
		goto out;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		fprintf(stderr, PROG ": mnl_socket_bind: %s\n", strerror(errno));
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	step = setup_socket(nl, o.rcvbuf, &rcvbuf);
	if (step) {
		fprintf(stderr, PROG ": %s: %s\n", step, strerror(errno));
		goto out;
	}

	ctx.nl = nl;
	ctx.rules = rules;
	ctx.st = &st;
	if (bind_queue(nl, &o, buf, bufsize, &ctx) < 0) {
		fprintf(stderr, PROG ": bind queue %lu: %s\n", o.queue, strerror(errno));
		goto out;
	}
	fprintf(stderr, PROG ": queue %lu bound, copy-range %lu, rcvbuf %d\n",
		o.queue, o.copy_range, rcvbuf);

	exit_code = 0;
	while (!stop_requested) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, bufsize);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS)
				st.enobufs++;
			st.recv_errors++;
		} else if (mnl_cb_run(buf, (size_t)n, 0, portid, queue_cb, &ctx) < 0) {
			st.recv_errors++;  /* an NLMSG_ERROR from the kernel */
		} else {
			consecutive = 0;
			continue;
		}
		if (++consecutive >= MAX_CONSEC_ERRORS) {
			fprintf(stderr, PROG ": receive: %d consecutive errors, last: %s\n",
				MAX_CONSEC_ERRORS, strerror(errno));
			exit_code = 1;
			break;
		}
	}

	unbind_queue(nl, (unsigned)o.queue);
	if (write_stats(o.stats_path, &o, rcvbuf, rules, &st) < 0)
		exit_code = 1;
out:
	if (nl)
		mnl_socket_close(nl);
	if (signals_set) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
	}
	free(buf);
	free(st.rule_hits);
	nfqb_rules_free(rules);
	fflush(stdout);
	fflush(stderr);
	return exit_code;
}
