/*
 * fuzz_decide.c - libFuzzer target for the C per-packet decision alone
 * (csrc/decide.c, no Rust involved).
 *
 * Input: byte 0 picks one of the rules files of fuzz/rules/ (byte % count, files in
 * name order, the same layout as the Rust targets `rust_decide` and `differential`);
 * the rest is the packet.  Checks, beyond ASan/UBSan's: the decision's fields are in
 * range, a matched rule's verdict is that rule's, a malformed packet matches no rule
 * and gets the default.
 *
 * Build (scripts/fuzz.sh does this):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *     -DNFQB_FUZZ_RULES_DIR='"fuzz/rules"' -Ic-impl/csrc \
 *     c-impl/fuzz/fuzz_decide.c c-impl/csrc/decide.c -o fuzz_decide
 */
#include "decide.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef NFQB_FUZZ_RULES_DIR
#error "define NFQB_FUZZ_RULES_DIR, the path of fuzz/rules"
#endif

#define MAX_FILES 64

static struct nfqb_rules *sets[MAX_FILES];
static int rule_verdict[MAX_FILES][NFQB_MAX_RULES]; /* from each rule's first token */
static size_t nsets;

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		perror(path);
		exit(1);
	}
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		perror(path);
		exit(1);
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("NFQB_FUZZ_RULES_DIR");
	char *names[MAX_FILES];
	size_t n = 0, i;
	struct dirent *e;
	DIR *d;

	(void)argc;
	(void)argv;
	if (dir == NULL)
		dir = NFQB_FUZZ_RULES_DIR;
	d = opendir(dir);
	if (d == NULL) {
		perror(dir);
		exit(1);
	}
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);

		if (l > 6 && strcmp(e->d_name + l - 6, ".rules") == 0 && n < MAX_FILES)
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), by_name);
	for (i = 0; i < n; i++) {
		char path[4096], err[NFQB_ERR_LEN];
		unsigned line;
		size_t len, r;
		char *text;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		text = slurp(path, &len);
		if (nfqb_rules_parse(text, len, &sets[i], &line, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s:%u: %s\n", path, line, err);
			exit(1);
		}
		for (r = 0; r < nfqb_rules_count(sets[i]); r++)
			rule_verdict[i][r] = strncmp(nfqb_rules_text(sets[i], r), "accept", 6) == 0
				? NFQB_ACCEPT : NFQB_DROP;
		free(text);
		free(names[i]);
	}
	nsets = n;
	if (nsets == 0) {
		fprintf(stderr, "no *.rules files in %s\n", dir);
		exit(1);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct nfqb_rules *r;
	struct nfqb_decision d;
	size_t idx;

	if (size == 0)
		return 0;
	idx = data[0] % nsets;
	r = sets[idx];
	/* libFuzzer's buffer is exactly `size` bytes: ASan sees any read past the packet. */
	d = nfqb_decide(r, size > 1 ? data + 1 : NULL, size - 1);

	if (d.verdict != NFQB_ACCEPT && d.verdict != NFQB_DROP)
		abort();
	if (d.rule < -1 || d.rule >= (int)nfqb_rules_count(r))
		abort();
	if (d.rule >= 0 && (d.malformed || d.verdict != rule_verdict[idx][d.rule]))
		abort();
	if (d.rule == -1 && d.verdict != nfqb_rules_default(r))
		abort();
	if ((size == 1 || ((data[1] >> 4) != 4 && (data[1] >> 4) != 6)) && !d.malformed)
		abort();
	return 0;
}
