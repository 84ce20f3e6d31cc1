/*
 * decide.h - the pure half of the C reference filter (docs/filter-spec.md).
 *
 * Why this module exists: the rules parser and the per-packet decision are the
 * part of the filter that the Rust filter must reproduce bit for bit, so they
 * live apart from all socket code.  They do no I/O and keep no global state,
 * which lets the Rust test-suite (c-impl/src/ffi.rs) call them directly and
 * lets several threads share one parsed rule set read-only.
 */
#ifndef NFQB_DECIDE_H
#define NFQB_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#define NFQB_MAX_RULES    4096 /* "At most 4096 rules." */
#define NFQB_MAX_LINE     1023 /* bytes per line, '\n' not counted */
#define NFQB_ERR_LEN      1280 /* fits any parser message (a token is < 1024 bytes) */

/* Verdicts as returned in struct nfqb_decision (equal to NF_DROP / NF_ACCEPT). */
#define NFQB_DROP   0
#define NFQB_ACCEPT 1

/* A parsed rules file.  Opaque; immutable once nfqb_rules_parse returned it. */
struct nfqb_rules;

struct nfqb_decision {
	int verdict;   /* NFQB_DROP or NFQB_ACCEPT */
	int rule;      /* 0-based index of the first matching rule, -1 = none */
	int malformed; /* 1 when the headers could not be parsed */
};

/*
 * Parse a rules file held in memory (text need not be NUL-terminated).
 * On success returns 0 and stores a new rule set in *out (free it with
 * nfqb_rules_free).  On failure returns -1, sets *err_line to the 1-based line
 * (0 when the failure is not tied to a line, e.g. out of memory) and writes a
 * NUL-terminated message such as "bad address '10.0.0.300'" into err.
 */
int nfqb_rules_parse(const char *text, size_t len, struct nfqb_rules **out,
		     unsigned *err_line, char *err, size_t errlen);

/* Free a rule set; NULL is allowed. */
void nfqb_rules_free(struct nfqb_rules *r);

/* Number of rules (comments, blank lines and the default line excluded). */
size_t nfqb_rules_count(const struct nfqb_rules *r);

/* 1-based line of rule i; 0 when i is out of range. */
unsigned nfqb_rules_line(const struct nfqb_rules *r, size_t i);

/* Rule i's tokens joined by single spaces; NULL when i is out of range.
 * The string lives as long as the rule set. */
const char *nfqb_rules_text(const struct nfqb_rules *r, size_t i);

/* NFQB_ACCEPT or NFQB_DROP: the verdict when no rule matches. */
int nfqb_rules_default(const struct nfqb_rules *r);

/*
 * The decision of docs/filter-spec.md for one packet: pkt is what the kernel
 * copied, starting at the IP header.  Never reads outside pkt[0..len).
 * pkt may be NULL when len is 0.
 */
struct nfqb_decision nfqb_decide(const struct nfqb_rules *r, const uint8_t *pkt,
				 size_t len);

#endif /* NFQB_DECIDE_H */
