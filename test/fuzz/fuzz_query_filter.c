/*
 * fuzz_query_filter.c - libFuzzer target for the query filter language and
 * the time/duration parsers: any byte string is an expression. Besides "no
 * crash, no sanitizer report", it aborts when a promise breaks: a refused
 * expression must name a column inside the text, and a compiled one must
 * give the same answer per record (qry_filter_match) and per burst
 * (qry_filter_select) on a fixed set of v4, v6 and non-IP records.
 */
#include "query.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct seg_eni_info dict[2] = {
	{.index = 1, .eni_id = "eni-a", .vpc_id = "vpc-1", .subnet_id = "sn-1", .account_id = "1"},
	{.index = 7, .eni_id = "eni-b", .vpc_id = "vpc-2", .subnet_id = "sn-2", .account_id = "2"},
};

static void records(struct rec_flow *r)
{
	memset(r, 0, 4 * sizeof(*r));
	for (int i = 0; i < 4; i++) {
		r[i].version = REC_VERSION;
		r[i].eni = i % 2 ? 7 : 1;
		r[i].packets = (uint64_t)i * 1000;
		r[i].bytes = (uint64_t)i * 150000;
		r[i].first_ns = 1000000000ull;
		r[i].last_ns = 1000000000ull * (uint64_t)(i + 1);
		r[i].src_port = (uint16_t)(1000 * i + 22);
		r[i].dst_port = (uint16_t)(443 - i);
		r[i].tcp_flags = (uint8_t)(0x12 >> i);
		r[i].l2_class = (uint8_t)(i % 3);
		r[i].verdict = (uint8_t)(i % 2);
	}
	r[0].ip_version = 4, r[0].protocol = 6;
	inet_pton(AF_INET, "10.1.2.3", r[0].src_addr);
	inet_pton(AF_INET, "192.168.0.9", r[0].dst_addr);
	r[1].ip_version = 6, r[1].protocol = 17;
	inet_pton(AF_INET6, "2001:db8::1", r[1].src_addr);
	inet_pton(AF_INET6, "fe80::1", r[1].dst_addr);
	r[2].ip_version = 4, r[2].protocol = 1;
	inet_pton(AF_INET, "0.0.0.0", r[2].src_addr);
	inet_pton(AF_INET, "255.255.255.255", r[2].dst_addr);
	r[3].ethertype = 0x0806; /* ARP: non-IP */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *expr = malloc(size + 1);
	struct rec_flow recs[4];
	struct qry_err err;
	uint64_t v;

	if (!expr)
		return 0;
	memcpy(expr, data, size);
	expr[size] = '\0';
	size_t len = strlen(expr); /* the text stops at an embedded NUL */
	struct qry_filter *f = qry_filter_compile(expr, &err);
	if (!f) {
		if (errno == EINVAL && (err.column < 1 || err.column > (int)len + 1 || !strstr(err.msg, "column"))) {
			fprintf(stderr, "fuzz_query_filter: bad error column %d of %zu: %s\n", err.column, len,
				err.msg);
			abort();
		}
	} else {
		uint32_t in[4] = {0, 1, 2, 3}, out[4];
		records(recs);
		if (qry_filter_bind(f, dict, 2))
			abort();
		size_t n = qry_filter_select(f, recs, in, 4, out), k = 0;
		for (uint32_t i = 0; i < 4; i++) {
			if (!qry_filter_match(f, &recs[i]))
				continue;
			if (k >= n || out[k] != i) {
				fprintf(stderr, "fuzz_query_filter: select and match differ on record %u\n", i);
				abort();
			}
			k++;
		}
		if (k != n)
			abort();
		(void)qry_filter_eni_may_match(f, 1);
		qry_filter_destroy(f);
	}
	(void)qry_parse_time(expr, 1000000000000000000ull, &v);
	(void)qry_parse_duration(expr, &v);
	free(expr);
	return 0;
}
