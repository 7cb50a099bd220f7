/*
 * fuzz_parse.c - libFuzzer target for fl_parse_frame(): any byte string is a
 * frame. Besides "no crash, no sanitizer report", it aborts on any parse
 * result that breaks the parser's promises (fl_parse.h, docs/parser.md), so
 * the fuzzer also hunts wrong answers, not only bad reads.
 */
#include "fl_parse.h"
#include "record.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *why, const struct fl_parsed *p)
{
	fprintf(stderr, "fuzz_parse: %s (et=0x%04x ipv=%u proto=%u ports=%u/%u flags=0x%x l2=%u)\n",
		why, p->ethertype, p->ip_version, p->proto, p->sport, p->dport, p->flags,
		p->l2_class);
	abort();
}

static int all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

static void check(const struct fl_parsed *p, uint32_t len)
{
	if (p->ip_version != 0 && p->ip_version != 4 && p->ip_version != 6)
		fail("bad ip_version", p);
	if (p->l2_class >= REC_L2_MAX)
		fail("bad l2_class", p);
	if (p->flags & ~(FL_PARSED_FRAGMENT | FL_PARSED_NONFIRST | FL_PARSED_TRUNCATED))
		fail("unknown flag", p);
	if ((p->flags & FL_PARSED_NONFIRST) &&
	    (!(p->flags & FL_PARSED_FRAGMENT) || p->sport || p->dport || p->tcp_flags))
		fail("non-first fragment with ports", p);
	if (p->ip_version == 0 &&
	    (p->proto || p->sport || p->dport || !all_zero(p->src, 16) || !all_zero(p->dst, 16)))
		fail("L3/L4 fields on a non-IP frame", p);
	if (p->ip_version == 4 && (!all_zero(p->src + 4, 12) || !all_zero(p->dst + 4, 12)))
		fail("IPv4 address tail not zero", p);
	if (len < 14 && !(p->flags & FL_PARSED_TRUNCATED))
		fail("runt frame not marked truncated", p);
	if (p->pad)
		fail("pad set", p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fl_parsed p, q;
	uint32_t len = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;

	fl_parse_frame(data, len, &p);
	check(&p, len);
	/* Deterministic: the same bytes give the same fields. */
	fl_parse_frame(data, len, &q);
	if (memcmp(&p, &q, sizeof(p)) != 0)
		fail("two parses of one frame differ", &p);
	return 0;
}
