/*
 * decide.c - rules parser and per-packet decision of the C reference filter.
 *
 * Why this module exists: it is the executable form of the "Rules file" and
 * "The decision" sections of docs/filter-spec.md, kept free of I/O and of
 * global mutable state so that it can be unit-tested through the safe Rust
 * wrapper (c-impl/src/lib.rs) and compared with the Rust filter.  Every read of
 * packet bytes is preceded by a length check.
 */
#include "decide.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- header layout (offsets in bytes) ----------------------------------- */

#define IP_OFF_VERSION      0  /* version in the high nibble, both families */

#define IP4_OFF_VER_IHL     0  /* low nibble: header length in 32-bit words */
#define IP4_OFF_TOTAL_LEN   2  /* be16 */
#define IP4_OFF_FRAG        6  /* be16: flags (3 bits) + fragment offset */
#define IP4_OFF_PROTO       9
#define IP4_OFF_SRC         12
#define IP4_OFF_DST         16
#define IP4_MIN_HDR         20
#define IP4_FRAG_OFF_MASK   0x1fff
#define IP4_ADDR_LEN        4

#define IP6_OFF_PAYLOAD_LEN 4  /* be16 */
#define IP6_OFF_NEXT        6
#define IP6_OFF_SRC         8
#define IP6_OFF_DST         24
#define IP6_HDR_LEN         40
#define IP6_ADDR_LEN        16
#define IP6_MAX_EXT_HDRS    8  /* a 9th extension header is malformed */

#define EXT_OFF_NEXT        0  /* every extension header starts with next */
#define EXT_OFF_LEN         1  /* hdr ext len (units depend on the type) */
#define EXT_MIN_LEN         2  /* bytes needed to read next + len */
#define FRAG_HDR_LEN        8
#define FRAG_OFF_OFFSET     2  /* be16: offset (13 bits) << 3 | res | M */

#define TCP_MIN_HDR         20
#define UDP_HDR_LEN         8
#define ICMP_MIN_HDR        4
#define L4_OFF_SRC_PORT     0
#define L4_OFF_DST_PORT     2
#define ICMP_OFF_TYPE       0

/* ---- protocol numbers --------------------------------------------------- */

#define PROTO_HOPOPTS  0
#define PROTO_ICMP     1
#define PROTO_TCP      6
#define PROTO_UDP      17
#define PROTO_ROUTING  43
#define PROTO_FRAGMENT 44
#define PROTO_AH       51
#define PROTO_ICMPV6   58
#define PROTO_DSTOPTS  60

/* ---- the rule set ------------------------------------------------------- */

#define MAX_TOKENS ((NFQB_MAX_LINE + 1) / 2) /* 1-byte tokens, 1-byte gaps */

struct addr_match {
	int present;
	int family;              /* 4 or 6 */
	unsigned prefix;         /* bits */
	uint8_t addr[IP6_ADDR_LEN]; /* host bits already masked off */
};

struct port_match {
	int present;
	uint16_t lo, hi;
};

struct rule {
	unsigned line;
	int verdict;
	int has_proto;
	uint8_t proto;
	struct addr_match src, dst;
	struct port_match sport, dport;
	int has_icmp_type;
	uint8_t icmp_type;
	char *text;              /* tokens joined by single spaces */
};

struct nfqb_rules {
	int default_verdict;
	size_t count;
	size_t cap;
	struct rule *rules;
};

struct token {
	const char *p;
	size_t n;
};

/* ---- small helpers ------------------------------------------------------ */

static int tok_is(const struct token *t, const char *word)
{
	size_t n = strlen(word);

	return t->n == n && memcmp(t->p, word, n) == 0;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * A number is one or more ASCII digits (no sign, leading zeros allowed) whose
 * value is at most max.  Returns 0 and stores it, or -1.
 */
static int parse_num(const char *p, size_t n, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(p[i] - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

/* Protocol keyword -> number; -1 when the token is not one. */
static int proto_of(const struct token *t)
{
	if (tok_is(t, "tcp"))
		return PROTO_TCP;
	if (tok_is(t, "udp"))
		return PROTO_UDP;
	if (tok_is(t, "icmp"))
		return PROTO_ICMP;
	if (tok_is(t, "icmpv6"))
		return PROTO_ICMPV6;
	return -1;
}

/* Keep the first prefix bits of addr, zero the rest. */
static void mask_addr(uint8_t *addr, size_t addrlen, unsigned prefix)
{
	size_t i;

	for (i = 0; i < addrlen; i++) {
		if (prefix >= 8) {
			prefix -= 8;
		} else {
			addr[i] &= (uint8_t)(0xff00u >> prefix);
			prefix = 0;
		}
	}
}

/* "ADDR" or "ADDR/PREFIX", IPv4 or IPv6.  Returns 0 or -1. */
static int parse_addr(const struct token *t, struct addr_match *m)
{
	char buf[NFQB_MAX_LINE + 1];
	const char *slash;
	size_t alen;
	unsigned long prefix;

	/* inet_pton stops at a NUL byte: "::\0junk" would pass as "::". */
	if (t->n > NFQB_MAX_LINE || memchr(t->p, '\0', t->n) != NULL)
		return -1;
	slash = memchr(t->p, '/', t->n);
	alen = slash ? (size_t)(slash - t->p) : t->n;
	memcpy(buf, t->p, alen);
	buf[alen] = '\0';

	memset(m, 0, sizeof(*m));
	if (inet_pton(AF_INET, buf, m->addr) == 1) {
		m->family = 4;
		m->prefix = 32;
	} else if (inet_pton(AF_INET6, buf, m->addr) == 1) {
		m->family = 6;
		m->prefix = 128;
	} else {
		return -1;
	}
	if (slash) {
		if (parse_num(slash + 1, t->n - alen - 1, m->prefix, &prefix) < 0)
			return -1;
		m->prefix = (unsigned)prefix;
	}
	mask_addr(m->addr, m->family == 4 ? IP4_ADDR_LEN : IP6_ADDR_LEN, m->prefix);
	m->present = 1;
	return 0;
}

/* "P" or "P-Q".  Returns 0, -1 for a bad number, -2 for a reversed range. */
static int parse_ports(const struct token *t, struct port_match *m)
{
	const char *dash = memchr(t->p, '-', t->n);
	unsigned long lo, hi;

	if (dash == NULL) {
		if (parse_num(t->p, t->n, 65535, &lo) < 0)
			return -1;
		hi = lo;
	} else {
		size_t n1 = (size_t)(dash - t->p);

		if (parse_num(t->p, n1, 65535, &lo) < 0 ||
		    parse_num(dash + 1, t->n - n1 - 1, 65535, &hi) < 0)
			return -1;
		if (lo > hi)
			return -2;
	}
	m->present = 1;
	m->lo = (uint16_t)lo;
	m->hi = (uint16_t)hi;
	return 0;
}

/* ---- parsing one line --------------------------------------------------- */

/* Split on spaces and tabs.  Returns the number of tokens. */
static size_t tokenize(const char *p, size_t n, struct token *tok)
{
	size_t i = 0, ntok = 0;

	while (i < n) {
		size_t start;

		while (i < n && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (i == n)
			break;
		start = i;
		while (i < n && p[i] != ' ' && p[i] != '\t')
			i++;
		tok[ntok].p = p + start;
		tok[ntok].n = i - start;
		ntok++;
	}
	return ntok;
}

static char *join_tokens(const struct token *tok, size_t ntok)
{
	size_t i, len = 0;
	char *s, *w;

	for (i = 0; i < ntok; i++)
		len += tok[i].n + 1;
	s = malloc(len + 1);
	if (s == NULL)
		return NULL;
	w = s;
	for (i = 0; i < ntok; i++) {
		if (i > 0)
			*w++ = ' ';
		memcpy(w, tok[i].p, tok[i].n);
		w += tok[i].n;
	}
	*w = '\0';
	return s;
}

/*
 * Parse the tokens of a rule line (tok[0] is the action) into *r.
 * Tokens are checked left to right; for each keyword: given twice, then a
 * missing value, then a bad value, then the protocol it needs.
 * Returns 0, or -1 with err set.
 */
static int parse_rule(const struct token *tok, size_t ntok, struct rule *r,
		      char *err, size_t errlen)
{
	size_t i = 1;

	memset(r, 0, sizeof(*r));
	r->verdict = tok_is(&tok[0], "accept") ? NFQB_ACCEPT : NFQB_DROP;

	if (i < ntok && proto_of(&tok[i]) >= 0) {
		r->has_proto = 1;
		r->proto = (uint8_t)proto_of(&tok[i]);
		i++;
	}

	while (i < ntok) {
		const struct token *kw = &tok[i];
		const struct token *val = i + 1 < ntok ? &tok[i + 1] : NULL;
		int seen;

		if (proto_of(kw) >= 0) {
			set_err(err, errlen, "'%.*s' must come right after the action",
				(int)kw->n, kw->p);
			return -1;
		}
		if (tok_is(kw, "src"))
			seen = r->src.present;
		else if (tok_is(kw, "dst"))
			seen = r->dst.present;
		else if (tok_is(kw, "src-port"))
			seen = r->sport.present;
		else if (tok_is(kw, "dst-port"))
			seen = r->dport.present;
		else if (tok_is(kw, "icmp-type"))
			seen = r->has_icmp_type;
		else {
			set_err(err, errlen, "unknown keyword '%.*s'", (int)kw->n, kw->p);
			return -1;
		}
		if (seen) {
			set_err(err, errlen, "'%.*s' given twice", (int)kw->n, kw->p);
			return -1;
		}
		if (val == NULL) {
			set_err(err, errlen, "missing value after '%.*s'", (int)kw->n, kw->p);
			return -1;
		}

		if (tok_is(kw, "src") || tok_is(kw, "dst")) {
			struct addr_match *m = tok_is(kw, "src") ? &r->src : &r->dst;

			if (parse_addr(val, m) < 0) {
				set_err(err, errlen, "bad address '%.*s'", (int)val->n, val->p);
				return -1;
			}
		} else if (tok_is(kw, "src-port") || tok_is(kw, "dst-port")) {
			struct port_match *m = tok_is(kw, "src-port") ? &r->sport : &r->dport;
			int rc = parse_ports(val, m);

			if (rc == -1) {
				set_err(err, errlen, "bad port '%.*s'", (int)val->n, val->p);
				return -1;
			}
			if (rc == -2) {
				set_err(err, errlen, "port range %.*s is reversed",
					(int)val->n, val->p);
				return -1;
			}
			if (!r->has_proto ||
			    (r->proto != PROTO_TCP && r->proto != PROTO_UDP)) {
				set_err(err, errlen, "port match needs tcp or udp");
				return -1;
			}
		} else { /* icmp-type */
			unsigned long type;

			if (parse_num(val->p, val->n, 255, &type) < 0) {
				set_err(err, errlen, "bad icmp type '%.*s'", (int)val->n, val->p);
				return -1;
			}
			if (!r->has_proto ||
			    (r->proto != PROTO_ICMP && r->proto != PROTO_ICMPV6)) {
				set_err(err, errlen, "icmp-type needs icmp or icmpv6");
				return -1;
			}
			r->has_icmp_type = 1;
			r->icmp_type = (uint8_t)type;
		}
		i += 2;
	}
	return 0;
}

/* ---- the public parser -------------------------------------------------- */

void nfqb_rules_free(struct nfqb_rules *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->count; i++)
		free(r->rules[i].text);
	free(r->rules);
	free(r);
}

static int add_rule(struct nfqb_rules *rs, const struct rule *r)
{
	if (rs->count == rs->cap) {
		size_t ncap = rs->cap ? rs->cap * 2 : 16;
		struct rule *n = realloc(rs->rules, ncap * sizeof(*n));

		if (n == NULL)
			return -1;
		rs->rules = n;
		rs->cap = ncap;
	}
	rs->rules[rs->count++] = *r;
	return 0;
}

int nfqb_rules_parse(const char *text, size_t len, struct nfqb_rules **out,
		     unsigned *err_line, char *err, size_t errlen)
{
	struct token tok[MAX_TOKENS];
	struct nfqb_rules *rs;
	int default_seen = 0;
	unsigned line = 0;
	size_t pos = 0;

	*out = NULL;
	*err_line = 0;
	if (err && errlen)
		err[0] = '\0';

	rs = calloc(1, sizeof(*rs));
	if (rs == NULL) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	rs->default_verdict = NFQB_ACCEPT;

	while (pos < len) {
		const char *p = text + pos;
		const char *nl = memchr(p, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - p) : len - pos;
		const char *hash;
		size_t ntok;

		pos += n + (nl ? 1 : 0);
		line++;
		*err_line = line;

		if (n > NFQB_MAX_LINE) {
			set_err(err, errlen, "line too long");
			goto fail;
		}
		hash = memchr(p, '#', n);
		if (hash)
			n = (size_t)(hash - p);
		ntok = tokenize(p, n, tok);
		if (ntok == 0)
			continue;

		if (tok_is(&tok[0], "default")) {
			if (default_seen) {
				set_err(err, errlen, "'default' given twice");
				goto fail;
			}
			if (ntok < 2) {
				set_err(err, errlen, "missing value after 'default'");
				goto fail;
			}
			if (tok_is(&tok[1], "accept")) {
				rs->default_verdict = NFQB_ACCEPT;
			} else if (tok_is(&tok[1], "drop")) {
				rs->default_verdict = NFQB_DROP;
			} else {
				set_err(err, errlen, "bad default verdict '%.*s'",
					(int)tok[1].n, tok[1].p);
				goto fail;
			}
			if (ntok > 2) {
				set_err(err, errlen, "unexpected '%.*s' after the default verdict",
					(int)tok[2].n, tok[2].p);
				goto fail;
			}
			default_seen = 1;
		} else if (tok_is(&tok[0], "accept") || tok_is(&tok[0], "drop")) {
			struct rule r;

			if (rs->count == NFQB_MAX_RULES) {
				set_err(err, errlen, "too many rules");
				goto fail;
			}
			if (parse_rule(tok, ntok, &r, err, errlen) < 0)
				goto fail;
			r.line = line;
			r.text = join_tokens(tok, ntok);
			if (r.text == NULL || add_rule(rs, &r) < 0) {
				free(r.text);
				set_err(err, errlen, "out of memory");
				goto fail;
			}
		} else {
			set_err(err, errlen, "unknown action '%.*s'", (int)tok[0].n, tok[0].p);
			goto fail;
		}
	}

	*err_line = 0;
	*out = rs;
	return 0;
fail:
	nfqb_rules_free(rs);
	return -1;
}

size_t nfqb_rules_count(const struct nfqb_rules *r)
{
	return r->count;
}

unsigned nfqb_rules_line(const struct nfqb_rules *r, size_t i)
{
	return i < r->count ? r->rules[i].line : 0;
}

const char *nfqb_rules_text(const struct nfqb_rules *r, size_t i)
{
	return i < r->count ? r->rules[i].text : NULL;
}

int nfqb_rules_default(const struct nfqb_rules *r)
{
	return r->default_verdict;
}

/* ---- packet parsing ----------------------------------------------------- */

struct pkt_info {
	int family;          /* 4 or 6 */
	const uint8_t *src;  /* 4 or 16 bytes inside the packet */
	const uint8_t *dst;
	uint8_t proto;
	int has_ports;
	uint16_t sport, dport;
	int has_icmp_type;
	uint8_t icmp_type;
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/* Step 4 of the spec.  l4 may point one past the packet when l4len is 0. */
static int parse_l4(const uint8_t *l4, size_t l4len, struct pkt_info *pi)
{
	switch (pi->proto) {
	case PROTO_TCP:
	case PROTO_UDP:
		if (l4len < (pi->proto == PROTO_TCP ? TCP_MIN_HDR : UDP_HDR_LEN))
			return -1;
		pi->sport = be16(l4 + L4_OFF_SRC_PORT);
		pi->dport = be16(l4 + L4_OFF_DST_PORT);
		pi->has_ports = 1;
		return 0;
	case PROTO_ICMP:
	case PROTO_ICMPV6:
		if ((pi->proto == PROTO_ICMP) != (pi->family == 4))
			return 0; /* ICMP in IPv6 or ICMPv6 in IPv4: no L4 fields */
		if (l4len < ICMP_MIN_HDR)
			return -1;
		pi->icmp_type = l4[ICMP_OFF_TYPE];
		pi->has_icmp_type = 1;
		return 0;
	default:
		return 0;
	}
}

static int parse_ipv4(const uint8_t *p, size_t len, struct pkt_info *pi)
{
	size_t ihl, total, end;

	if (len < IP4_MIN_HDR)
		return -1;
	ihl = (size_t)(p[IP4_OFF_VER_IHL] & 0x0f) * 4;
	if (ihl < IP4_MIN_HDR || ihl > len)
		return -1;
	total = be16(p + IP4_OFF_TOTAL_LEN);
	if (total == 0)
		total = len; /* over 64 KiB (BIG TCP, GSO): the length is not in the header */
	if (total < ihl)
		return -1;
	end = total < len ? total : len;

	pi->family = 4;
	pi->proto = p[IP4_OFF_PROTO];
	pi->src = p + IP4_OFF_SRC;
	pi->dst = p + IP4_OFF_DST;
	if ((be16(p + IP4_OFF_FRAG) & IP4_FRAG_OFF_MASK) != 0)
		return 0; /* a later fragment: no L4 fields */
	return parse_l4(p + ihl, end - ihl, pi);
}

static int parse_ipv6(const uint8_t *p, size_t len, struct pkt_info *pi)
{
	size_t end, off = IP6_HDR_LEN;
	unsigned next, next_hdrs = 0;

	if (len < IP6_HDR_LEN)
		return -1;
	end = IP6_HDR_LEN + (size_t)be16(p + IP6_OFF_PAYLOAD_LEN);
	if (end == IP6_HDR_LEN || end > len) /* 0: jumbo/BIG TCP, length not in the header */
		end = len;

	pi->family = 6;
	pi->src = p + IP6_OFF_SRC;
	pi->dst = p + IP6_OFF_DST;
	next = p[IP6_OFF_NEXT];

	for (;;) {
		int later_fragment = 0;

		if (next != PROTO_HOPOPTS && next != PROTO_ROUTING &&
		    next != PROTO_DSTOPTS && next != PROTO_FRAGMENT &&
		    next != PROTO_AH)
			break; /* an upper-layer (or unknown, 59, ESP) header */
		if (next_hdrs == IP6_MAX_EXT_HDRS)
			return -1;
		next_hdrs++;

		if (next == PROTO_FRAGMENT) {
			if (end - off < FRAG_HDR_LEN)
				return -1;
			later_fragment = (be16(p + off + FRAG_OFF_OFFSET) >> 3) != 0;
			next = p[off + EXT_OFF_NEXT];
			off += FRAG_HDR_LEN;
		} else {
			if (end - off < EXT_MIN_LEN)
				return -1;
			if (next == PROTO_AH) {
				next = p[off + EXT_OFF_NEXT];
				off += ((size_t)p[off + EXT_OFF_LEN] + 2) * 4;
			} else {
				next = p[off + EXT_OFF_NEXT];
				off += ((size_t)p[off + EXT_OFF_LEN] + 1) * 8;
			}
		}
		if (off > end)
			return -1;
		if (later_fragment) {
			pi->proto = (uint8_t)next;
			return 0; /* parsed, no L4 fields */
		}
	}
	pi->proto = (uint8_t)next;
	return parse_l4(p + off, end - off, pi);
}

/* ---- matching ----------------------------------------------------------- */

static int addr_matches(const struct addr_match *m, const struct pkt_info *pi,
			const uint8_t *addr)
{
	unsigned full = m->prefix / 8, rest = m->prefix % 8;

	if (m->family != pi->family)
		return 0;
	if (memcmp(m->addr, addr, full) != 0)
		return 0;
	if (rest != 0) {
		uint8_t mask = (uint8_t)(0xff00u >> rest);

		if ((addr[full] & mask) != m->addr[full])
			return 0;
	}
	return 1;
}

static int ports_match(const struct port_match *m, int has_ports, uint16_t port)
{
	return has_ports && port >= m->lo && port <= m->hi;
}

static int rule_matches(const struct rule *r, const struct pkt_info *pi)
{
	if (r->has_proto && r->proto != pi->proto)
		return 0;
	if (r->src.present && !addr_matches(&r->src, pi, pi->src))
		return 0;
	if (r->dst.present && !addr_matches(&r->dst, pi, pi->dst))
		return 0;
	if (r->sport.present && !ports_match(&r->sport, pi->has_ports, pi->sport))
		return 0;
	if (r->dport.present && !ports_match(&r->dport, pi->has_ports, pi->dport))
		return 0;
	if (r->has_icmp_type &&
	    !(pi->has_icmp_type && pi->icmp_type == r->icmp_type))
		return 0;
	return 1;
}

struct nfqb_decision nfqb_decide(const struct nfqb_rules *r, const uint8_t *pkt,
				 size_t len)
{
	struct nfqb_decision d = { r->default_verdict, -1, 0 };
	struct pkt_info pi;
	int rc;
	size_t i;

	memset(&pi, 0, sizeof(pi));
	if (len == 0 || pkt == NULL) {
		d.malformed = 1;
		return d;
	}
	switch (pkt[IP_OFF_VERSION] >> 4) {
	case 4:
		rc = parse_ipv4(pkt, len, &pi);
		break;
	case 6:
		rc = parse_ipv6(pkt, len, &pi);
		break;
	default:
		rc = -1;
		break;
	}
	if (rc < 0) {
		d.malformed = 1;
		return d;
	}
	for (i = 0; i < r->count; i++) {
		if (rule_matches(&r->rules[i], &pi)) {
			d.verdict = r->rules[i].verdict;
			d.rule = (int)i;
			break;
		}
	}
	return d;
}
