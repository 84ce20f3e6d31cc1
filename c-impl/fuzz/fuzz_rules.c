/*
 * fuzz_rules.c - libFuzzer target for the C rules parser alone (csrc/decide.c, no
 * Rust involved).
 *
 * Input: a whole rules file.  The text is copied into a buffer of exactly its size
 * without a NUL terminator, as nfqb_rules_parse allows, so ASan catches any read past
 * it.  Checks: a failure has a line within the file and a NUL-terminated message; a
 * success has at most 4096 rules with increasing lines and printable-ASCII texts, and
 * decides a few real packets within range.
 *
 * Build: as fuzz_decide.c, without NFQB_FUZZ_RULES_DIR.
 */
#include "decide.h"

#include <stdlib.h>
#include <string.h>

/* IPv4 TCP SYN 127.0.0.1:56448 -> 127.0.0.1:9999 (rust-impl/src/wire/testdata.rs). */
static const uint8_t v4_tcp[] = {
	0x45, 0x00, 0x00, 0x28, 0xf4, 0x2b, 0x40, 0x00, 0x40, 0x06, 0x48, 0x8e, 0x7f, 0x00,
	0x00, 0x01, 0x7f, 0x00, 0x00, 0x01, 0xdc, 0x80, 0x27, 0x0f, 0x5b, 0x79, 0x47, 0xdf,
	0x00, 0x00, 0x00, 0x00, 0x50, 0x02, 0xff, 0xd7, 0xfe, 0x30, 0x00, 0x00,
};
/* IPv4 UDP 10.1.2.3:41145 -> 192.168.1.77:5353, payload "hello". */
static const uint8_t v4_udp[] = {
	0x45, 0x00, 0x00, 0x21, 0x9e, 0xc4, 0x40, 0x00, 0x40, 0x11, 0x9e, 0x05, 0x0a, 0x01,
	0x02, 0x03, 0xc0, 0xa8, 0x01, 0x4d, 0xa0, 0xb9, 0x14, 0xe9, 0x00, 0x0d, 0xfe, 0x20,
	0x68, 0x65, 0x6c, 0x6c, 0x6f,
};
/* IPv4 ICMP echo request 127.0.0.1 -> 127.0.0.1. */
static const uint8_t v4_icmp[] = {
	0x45, 0x00, 0x00, 0x20, 0x79, 0xe6, 0x40, 0x00, 0x40, 0x01, 0xc2, 0xf4, 0x7f, 0x00,
	0x00, 0x01, 0x7f, 0x00, 0x00, 0x01, 0x08, 0x00, 0x06, 0xfa, 0x12, 0x34, 0x00, 0x01,
	0x70, 0x69, 0x6e, 0x67,
};
/* IPv6 UDP [2001:db8:abcd:12::5]:36699 -> [fe80::1]:5353 after a hop-by-hop header. */
static const uint8_t v6_udp[] = {
	0x60, 0x00, 0x00, 0x00, 0x00, 0x15, 0x00, 0x40,
	0x20, 0x01, 0x0d, 0xb8, 0xab, 0xcd, 0x00, 0x12, 0, 0, 0, 0, 0, 0, 0, 0x05,
	0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
	0x11, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00,
	0x8f, 0x5b, 0x14, 0xe9, 0x00, 0x0d, 0x00, 0x20, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};
/* IPv6 ICMPv6 echo reply ::1 -> ::1. */
static const uint8_t v6_icmp[] = {
	0x60, 0x0e, 0xab, 0xe7, 0x00, 0x0c, 0x3a, 0x40, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
	0x81, 0x00, 0x8d, 0xb1, 0x12, 0x34, 0x00, 0x01, 0x70, 0x69, 0x6e, 0x67,
};

static const struct { const uint8_t *p; size_t n; } probes[] = {
	{ v4_tcp, sizeof(v4_tcp) }, { v4_udp, sizeof(v4_udp) }, { v4_icmp, sizeof(v4_icmp) },
	{ v6_udp, sizeof(v6_udp) }, { v6_icmp, sizeof(v6_icmp) },
};

static size_t count_lines(const uint8_t *data, size_t size)
{
	size_t i, lines = 0;

	for (i = 0; i < size; i++)
		if (data[i] == '\n')
			lines++;
	return lines + (size > 0 && data[size - 1] != '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[NFQB_ERR_LEN];
	struct nfqb_rules *r = NULL;
	unsigned line = 12345;
	char *text = malloc(size ? size : 1);
	size_t i, n, lines;
	unsigned last = 0;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	memset(err, 'x', sizeof(err));
	lines = count_lines(data, size);

	if (nfqb_rules_parse(text, size, &r, &line, err, sizeof(err)) < 0) {
		if (r != NULL || line == 0 || line > lines || memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		free(text);
		return 0;
	}
	if (r == NULL || line != 0)
		abort();
	n = nfqb_rules_count(r);
	if (n > NFQB_MAX_RULES || nfqb_rules_text(r, n) != NULL || nfqb_rules_line(r, n) != 0)
		abort();
	for (i = 0; i < n; i++) {
		const char *t = nfqb_rules_text(r, i), *c;

		if (t == NULL || nfqb_rules_line(r, i) <= last || nfqb_rules_line(r, i) > lines)
			abort();
		last = nfqb_rules_line(r, i);
		for (c = t; *c; c++)
			if (*c <= ' ' && *c != ' ')
				abort(); /* tokens are joined by single spaces */
	}
	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		struct nfqb_decision d = nfqb_decide(r, probes[i].p, probes[i].n);

		if (d.malformed || d.rule < -1 || d.rule >= (int)n)
			abort();
		if (d.rule == -1 && d.verdict != nfqb_rules_default(r))
			abort();
	}
	nfqb_rules_free(r);
	free(text);
	return 0;
}
