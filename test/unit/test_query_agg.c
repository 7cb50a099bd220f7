/* Proves grouping, every aggregate, top-N, time series and the limits give known answers, and that on random data the engine equals a naive implementation. */
#include "query.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int failures;

#include "test_check.h"

static struct seg_eni_info dict[4] = {
	{.index = 1, .eni_id = "eni-a", .vpc_id = "vpc-1", .subnet_id = "sn-1", .account_id = "1"},
	{.index = 2, .eni_id = "eni-b", .vpc_id = "vpc-1", .subnet_id = "sn-2", .account_id = "1"},
	{.index = 3, .eni_id = "eni-c", .vpc_id = "vpc-2", .subnet_id = "sn-3", .account_id = "2"},
	{.index = 4, .eni_id = "eni-d", .vpc_id = "vpc-2", .subnet_id = "sn-3", .account_id = "2"},
};
static struct seg_header_info hdr = {.format_version = 1, .n_enis = 4, .enis = dict};

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static struct rec_flow mk(uint32_t eni, const char *src, const char *dst, uint16_t dp,
			  uint64_t pk, uint64_t by, uint64_t t)
{
	struct rec_flow r;

	memset(&r, 0, sizeof(r));
	r.version = REC_VERSION;
	r.eni = eni;
	r.ip_version = strchr(src, ':') ? 6 : 4;
	inet_pton(r.ip_version == 4 ? AF_INET : AF_INET6, src, r.src_addr);
	inet_pton(r.ip_version == 4 ? AF_INET : AF_INET6, dst, r.dst_addr);
	r.protocol = 6;
	r.src_port = 1000;
	r.dst_port = dp;
	r.packets = pk;
	r.bytes = by;
	r.first_ns = t;
	r.last_ns = t + 1000;
	return r;
}

static const char *cell_s(const struct qry_table *t, uint32_t r, const char *col, char *buf)
{
	for (uint32_t c = 0; c < t->n_cols; c++)
		if (!strcmp(t->col_names[c], col)) {
			const struct qry_cell *x = &t->cells[(size_t)r * t->n_cols + c];
			if (t->col_types[c] == QRY_COL_STR)
				return x->s;
			if (t->col_types[c] == QRY_COL_F64)
				sprintf(buf, "%.3f", x->d);
			else
				sprintf(buf, "%llu", (unsigned long long)x->u);
			return buf;
		}
	return "<no column>";
}

static struct qry_table *run(struct qry_agg_spec *s, const struct qry_limits *lim,
			     const struct rec_flow *recs, size_t n, int *rc)
{
	struct qry_agg_state *a = qry_agg_create(s, lim);

	*rc = 0;
	if (!a)
		return NULL;
	qry_agg_begin_file(a, &hdr);
	for (size_t i = 0; i < n && !*rc; i++)
		*rc = qry_agg_add(a, &recs[i]);
	struct qry_table *t = *rc ? NULL : qry_agg_finish(a);
	qry_agg_destroy(a);
	return t;
}

static void test_known(void)
{
	struct rec_flow recs[] = {
		mk(1, "10.0.0.1", "10.0.1.1", 80, 10, 1000, 1000000000ull),
		mk(1, "10.0.0.1", "10.0.1.2", 80, 20, 2000, 1500000000ull),
		mk(1, "10.0.0.1", "10.0.1.2", 443, 5, 500, 2100000000ull),
		mk(2, "10.0.0.2", "10.0.1.1", 22, 1, 60, 2200000000ull),
		mk(3, "2001:db8::1", "2001:db8::2", 53, 2, 200, 3000000000ull),
		mk(4, "2001:db8::1", "2001:db8::3", 53, 2, 200, 3000000000ull),
	};
	struct qry_agg_spec s = {.order_by = -1};
	struct qry_err err;
	struct qry_table *t;
	char b[64];
	int rc;

	CHECK(qry_parse_keys("eni", &s, &err) == 0, "%s", err.msg);
	CHECK(qry_parse_aggs("flows,packets,bytes,distinct(dst),distinct(dport),bps,pps", &s, &err) == 0,
	      "%s", err.msg);
	s.window_ns = 2000000000ull;
	t = run(&s, NULL, recs, 6, &rc);
	CHECK(t && t->n_rows == 4, "rows %u rc %d", t ? t->n_rows : 0, rc);
	if (t && t->n_rows == 4) {
		CHECK(!strcmp(cell_s(t, 0, "eni", b), "eni-a"), "row0 eni %s", cell_s(t, 0, "eni", b));
		CHECK(!strcmp(cell_s(t, 0, "flows", b), "3"), "flows %s", cell_s(t, 0, "flows", b));
		CHECK(!strcmp(cell_s(t, 0, "packets", b), "35"), "pk %s", cell_s(t, 0, "packets", b));
		CHECK(!strcmp(cell_s(t, 0, "bytes", b), "3500"), "by %s", cell_s(t, 0, "bytes", b));
		CHECK(!strcmp(cell_s(t, 0, "distinct(dst)", b), "2"), "dd %s", cell_s(t, 0, "distinct(dst)", b));
		CHECK(!strcmp(cell_s(t, 0, "distinct(dport)", b), "2"), "dp %s", cell_s(t, 0, "distinct(dport)", b));
		CHECK(!strcmp(cell_s(t, 0, "bps", b), "14000.000"), "bps %s", cell_s(t, 0, "bps", b));
		CHECK(!strcmp(cell_s(t, 0, "pps", b), "17.500"), "pps %s", cell_s(t, 0, "pps", b));
		CHECK(!strcmp(cell_s(t, 3, "eni", b), "eni-d"), "row3 %s", cell_s(t, 3, "eni", b));
	}
	qry_table_destroy(t);

	/* vpc + v6 src, ordered by bytes, top 1 */
	memset(&s, 0, sizeof(s));
	qry_parse_keys("vpc, src", &s, &err);
	qry_parse_aggs("bytes,distinct(dst),distinct(eni)", &s, &err);
	s.order_by = 0;
	s.top = 2;
	t = run(&s, NULL, recs, 6, &rc);
	CHECK(t && t->n_rows == 2, "rows %u", t ? t->n_rows : 0);
	if (t && t->n_rows == 2) {
		CHECK(!strcmp(cell_s(t, 0, "src", b), "10.0.0.1"), "src %s", cell_s(t, 0, "src", b));
		CHECK(!strcmp(cell_s(t, 1, "src", b), "2001:db8::1"), "src %s", cell_s(t, 1, "src", b));
		CHECK(!strcmp(cell_s(t, 1, "vpc", b), "vpc-2"), "vpc %s", cell_s(t, 1, "vpc", b));
		CHECK(!strcmp(cell_s(t, 1, "distinct(dst)", b), "2"), "%s", cell_s(t, 1, "distinct(dst)", b));
		CHECK(!strcmp(cell_s(t, 1, "distinct(eni)", b), "2"), "%s", cell_s(t, 1, "distinct(eni)", b));
	}
	qry_table_destroy(t);

	/* time series: 1 s buckets, no keys, top 1 per bucket by packets */
	memset(&s, 0, sizeof(s));
	qry_parse_keys("dport", &s, &err);
	qry_parse_aggs("packets", &s, &err);
	s.bucket_ns = 1000000000ull;
	s.order_by = 0;
	s.top = 1;
	t = run(&s, NULL, recs, 6, &rc);
	CHECK(t && t->n_rows == 3, "buckets %u", t ? t->n_rows : 0);
	if (t && t->n_rows == 3) {
		CHECK(t->cells[0].u == 1000000000ull, "bucket0 %llu", (unsigned long long)t->cells[0].u);
		CHECK(!strcmp(cell_s(t, 0, "dport", b), "80") && !strcmp(cell_s(t, 0, "packets", b), "30"),
		      "b0 %s", cell_s(t, 0, "packets", b));
		CHECK(!strcmp(cell_s(t, 1, "dport", b), "443"), "b1 dport %s", cell_s(t, 1, "dport", b));
		CHECK(!strcmp(cell_s(t, 2, "packets", b), "4"), "b2 %s", cell_s(t, 2, "packets", b));
	}
	qry_table_destroy(t);

	/* peer (remote end by direction), rejected, peak rates over 1 s windows, tags */
	recs[1].direction = REC_DIR_INGRESS; /* 10.0.0.1 -> 10.0.1.2 seen inbound: peer is the src */
	recs[2].verdict = REC_VERDICT_REJECT;
	recs[0].direction = recs[2].direction = REC_DIR_EGRESS;
	memset(&s, 0, sizeof(s));
	qry_parse_keys("eni,peer", &s, &err);
	CHECK(qry_parse_aggs("flows,rejected,peak_bps,peak_pps", &s, &err) == 0, "%s", err.msg);
	s.order_by = -1;
	t = run(&s, NULL, recs, 3, &rc);
	CHECK(t && t->n_rows == 3, "peer rows %u", t ? t->n_rows : 0);
	if (t && t->n_rows == 3) {
		/* sorted by peer: 10.0.0.1 (ingress rec 1), 10.0.1.1 (rec 0), 10.0.1.2 (rec 2) */
		CHECK(!strcmp(cell_s(t, 0, "peer", b), "10.0.0.1"), "peer0 %s", cell_s(t, 0, "peer", b));
		CHECK(!strcmp(cell_s(t, 2, "peer", b), "10.0.1.2"), "peer2 %s", cell_s(t, 2, "peer", b));
		CHECK(!strcmp(cell_s(t, 2, "rejected", b), "1"), "rej %s", cell_s(t, 2, "rejected", b));
		CHECK(!strcmp(cell_s(t, 0, "rejected", b), "0"), "rej0 %s", cell_s(t, 0, "rejected", b));
		CHECK(!strcmp(cell_s(t, 1, "peak_bps", b), "8000.000"), "peak %s", cell_s(t, 1, "peak_bps", b));
	}
	qry_table_destroy(t);
	/* peak: eni-a has 1000+2000 bytes in second 1 and 500 in second 2 -> 24000 bps */
	memset(&s, 0, sizeof(s));
	qry_parse_keys("eni", &s, &err);
	qry_parse_aggs("peak_bps,peak_pps,bytes", &s, &err);
	s.order_by = 0;
	t = run(&s, NULL, recs, 6, &rc);
	CHECK(t && t->n_rows == 4 && !strcmp(cell_s(t, 0, "peak_bps", b), "24000.000") &&
		      !strcmp(cell_s(t, 0, "peak_pps", b), "30.000"),
	      "peak row0 %s", t ? cell_s(t, 0, "peak_bps", b) : "-");
	qry_table_destroy(t);
	{
		struct qry_agg_state *ag;
		memset(&s, 0, sizeof(s));
		qry_parse_keys("tag", &s, &err);
		qry_parse_aggs("flows", &s, &err);
		s.order_by = -1;
		ag = qry_agg_create(&s, NULL);
		qry_agg_add_tagged(ag, &recs[0], "listA");
		qry_agg_add_tagged(ag, &recs[1], "listB");
		qry_agg_add_tagged(ag, &recs[2], "listA");
		qry_agg_add(ag, &recs[3]);
		t = qry_agg_finish(ag);
		CHECK(t && t->n_rows == 3 && !strcmp(cell_s(t, 0, "tag", b), "-") &&
			      !strcmp(cell_s(t, 1, "tag", b), "listA") && !strcmp(cell_s(t, 1, "flows", b), "2"),
		      "tags %u", t ? t->n_rows : 0);
		qry_table_destroy(t);
		qry_agg_destroy(ag);
	}

	/* empty input: no rows, still the right columns */
	memset(&s, 0, sizeof(s));
	qry_parse_keys("dport", &s, &err);
	qry_parse_aggs("packets", &s, &err);
	s.bucket_ns = 1000000000ull;
	t = run(&s, NULL, recs, 0, &rc);
	CHECK(t && t->n_rows == 0 && t->n_cols == 3, "empty rows %u", t ? t->n_rows : 9);
	qry_table_destroy(t);

	/* limits */
	struct qry_limits lim = {.max_groups = 2};
	memset(&s, 0, sizeof(s));
	qry_parse_keys("dst", &s, &err);
	qry_parse_aggs("flows", &s, &err);
	t = run(&s, &lim, recs, 6, &rc);
	CHECK(!t && rc == -ENOSPC, "max_groups rc %d", rc);
	lim = (struct qry_limits){.max_distinct = 3};
	qry_parse_aggs("distinct(dst)", &s, &err);
	s.n_keys = 0;
	t = run(&s, &lim, recs, 6, &rc);
	CHECK(!t && rc == -ENOSPC, "max_distinct rc %d", rc);

	/* parse errors point at the bad name */
	CHECK(qry_parse_keys("src,bogus", &s, &err) == -EINVAL && err.column == 5, "col %d", err.column);
	CHECK(qry_parse_aggs("flows, distinct(xx)", &s, &err) == -EINVAL && err.column == 8,
	      "col %d %s", err.column, err.msg);
}

/* ------------------------------------------------------- property test */

#define NREC 3000
struct naive_group {
	char key[256];
	uint64_t flows, packets, bytes;
	char dsts[96][48];
	uint32_t n_dst;
	uint16_t dports[16];
	uint32_t n_dport;
};

static struct naive_group ng[NREC];
static uint32_t n_ng;

static void rand_rec(struct rec_flow *r)
{
	char src[64], dst[64];

	if (rnd() % 4 == 0) {
		sprintf(src, "2001:db8::%x", (unsigned)(rnd() % 8));
		sprintf(dst, "2001:db8:1::%x", (unsigned)(rnd() % 16));
	} else {
		sprintf(src, "10.0.%u.%u", (unsigned)(rnd() % 2), (unsigned)(rnd() % 8));
		sprintf(dst, "192.168.%u.%u", (unsigned)(rnd() % 2), (unsigned)(rnd() % 32));
	}
	*r = mk((uint32_t)(1 + rnd() % 4), src, dst, (uint16_t)(rnd() % 6 * 100), rnd() % 100,
		rnd() % 100000, rnd() % 10000000000ull);
	r->protocol = rnd() % 3 ? 6 : 17;
	r->verdict = rnd() % 5 == 0;
}

/* The naive reference for the filter used below. */
static bool naive_filter(const struct rec_flow *r, int which, uint16_t c1)
{
	switch (which) {
	case 0: return r->dst_port == c1;
	case 1: return r->dst_port >= 100 && r->dst_port <= c1;
	case 2: return r->ip_version == 4 && r->src_addr[2] == 1;
	case 3: return r->protocol == 17 || r->verdict == 1;
	case 4: return !(r->eni == 1 || r->eni == 3);
	default: return r->ip_version == 6 && r->dst_port != c1;
	}
}

static void naive_key(const struct rec_flow *r, const struct qry_agg_spec *s, char *out)
{
	char a[64];

	out[0] = '\0';
	for (unsigned i = 0; i < s->n_keys; i++) {
		switch (s->keys[i]) {
		case QRY_KEY_ENI: strcat(out, dict[r->eni - 1].eni_id); break;
		case QRY_KEY_VPC: strcat(out, dict[r->eni - 1].vpc_id); break;
		case QRY_KEY_SRC: strcat(out, rec_addr_str(r, true, a, sizeof(a))); break;
		case QRY_KEY_DST: strcat(out, rec_addr_str(r, false, a, sizeof(a))); break;
		case QRY_KEY_DPORT: sprintf(a, "%u", r->dst_port); strcat(out, a); break;
		case QRY_KEY_PROTO: strcat(out, rec_proto_name(r->protocol)); break;
		case QRY_KEY_ACTION: strcat(out, rec_verdict_name(r->verdict)); break;
		default: break;
		}
		strcat(out, "|");
	}
}

static void naive_add(const struct rec_flow *r, const struct qry_agg_spec *s)
{
	char k[256], a[64];
	uint32_t g;

	naive_key(r, s, k);
	for (g = 0; g < n_ng && strcmp(ng[g].key, k); g++)
		;
	if (g == n_ng) {
		memset(&ng[g], 0, sizeof(ng[g]));
		strcpy(ng[g].key, k);
		n_ng++;
	}
	ng[g].flows++;
	ng[g].packets += r->packets;
	ng[g].bytes += r->bytes;
	rec_addr_str(r, false, a, sizeof(a));
	uint32_t i;
	for (i = 0; i < ng[g].n_dst && strcmp(ng[g].dsts[i], a); i++)
		;
	if (i == ng[g].n_dst)
		strcpy(ng[g].dsts[ng[g].n_dst++], a);
	for (i = 0; i < ng[g].n_dport && ng[g].dports[i] != r->dst_port; i++)
		;
	if (i == ng[g].n_dport)
		ng[g].dports[ng[g].n_dport++] = r->dst_port;
}

static void property_round(int round)
{
	static const char *const filters[] = {
		"dport = %u", "dport in 100..%u", "src in 10.0.1.0/24", "proto = udp or action = reject",
		"not eni in {eni-a, 3}", "ipver = 6 and dport != %u"};
	static const enum qry_key keyset[] = {QRY_KEY_ENI, QRY_KEY_VPC, QRY_KEY_SRC, QRY_KEY_DST,
					      QRY_KEY_DPORT, QRY_KEY_PROTO, QRY_KEY_ACTION};
	static struct rec_flow recs[NREC];
	struct qry_agg_spec s = {.order_by = -1};
	struct qry_err err;
	char expr[128], k[256], b[64];
	int which = (int)(rnd() % 6);
	uint16_t c1 = (uint16_t)(rnd() % 6 * 100);

	if (which == 1)
		c1 += 100; /* a non-empty range 100..c1 */
	snprintf(expr, sizeof(expr), filters[which], c1);
	struct qry_filter *f = qry_filter_compile(expr, &err);
	CHECK(f != NULL, "%s", err.msg);
	if (!f)
		return;
	qry_filter_bind(f, dict, 4);
	s.n_keys = (unsigned)(rnd() % 3);
	for (unsigned i = 0; i < s.n_keys; i++)
		s.keys[i] = keyset[rnd() % 7];
	qry_parse_aggs("flows,packets,bytes,distinct(dst),distinct(dport)", &s, &err);
	struct qry_agg_state *a = qry_agg_create(&s, NULL);
	qry_agg_begin_file(a, &hdr);
	n_ng = 0;
	for (int i = 0; i < NREC; i++) {
		rand_rec(&recs[i]);
		bool want = naive_filter(&recs[i], which, c1);
		CHECK(qry_filter_match(f, &recs[i]) == want, "round %d '%s' rec %d: engine %d naive %d",
		      round, expr, i, !want, want);
		if (!want)
			continue;
		qry_agg_add(a, &recs[i]);
		naive_add(&recs[i], &s);
	}
	struct qry_table *t = qry_agg_finish(a);
	/* the burst path gives the same table */
	{
		static uint32_t idx[NREC];
		uint32_t n_idx = 0;
		for (uint32_t i = 0; i < NREC; i++)
			if (naive_filter(&recs[i], which, c1))
				idx[n_idx++] = i;
		struct qry_agg_state *b = qry_agg_create(&s, NULL);
		qry_agg_begin_file(b, &hdr);
		CHECK(qry_agg_add_burst(b, recs, idx, n_idx) == 0, "burst add");
		struct qry_table *u = qry_agg_finish(b);
		bool same = t && u && t->n_rows == u->n_rows;
		for (uint32_t i = 0; same && i < t->n_rows * t->n_cols; i++)
			same = t->col_types[i % t->n_cols] == QRY_COL_STR
				       ? !strcmp(t->cells[i].s, u->cells[i].s)
				       : t->cells[i].u == u->cells[i].u;
		CHECK(same, "round %d: burst table differs", round);
		qry_table_destroy(u);
		qry_agg_destroy(b);
	}
	CHECK(t && t->n_rows == n_ng, "round %d: rows %u naive %u", round, t ? t->n_rows : 0, n_ng);
	for (uint32_t r = 0; t && r < t->n_rows; r++) {
		k[0] = '\0';
		for (unsigned i = 0; i < s.n_keys; i++) {
			strcat(k, cell_s(t, r, qry_key_name(s.keys[i]), b));
			strcat(k, "|");
		}
		uint32_t g;
		for (g = 0; g < n_ng && strcmp(ng[g].key, k); g++)
			;
		CHECK(g < n_ng, "round %d: group '%s' not in naive", round, k);
		if (g == n_ng)
			continue;
		CHECK(t->cells[(size_t)r * t->n_cols + s.n_keys].u == ng[g].flows &&
			      t->cells[(size_t)r * t->n_cols + s.n_keys + 1].u == ng[g].packets &&
			      t->cells[(size_t)r * t->n_cols + s.n_keys + 2].u == ng[g].bytes &&
			      t->cells[(size_t)r * t->n_cols + s.n_keys + 3].u == ng[g].n_dst &&
			      t->cells[(size_t)r * t->n_cols + s.n_keys + 4].u == ng[g].n_dport,
		      "round %d group '%s': engine %llu/%llu naive flows %llu bytes %llu dst %u dport %u",
		      round, k, (unsigned long long)t->cells[(size_t)r * t->n_cols + s.n_keys].u,
		      (unsigned long long)t->cells[(size_t)r * t->n_cols + s.n_keys + 2].u,
		      (unsigned long long)ng[g].flows, (unsigned long long)ng[g].bytes, ng[g].n_dst,
		      ng[g].n_dport);
	}
	qry_table_destroy(t);
	qry_agg_destroy(a);
	qry_filter_destroy(f);
}

static void test_output(void)
{
	const char *names[] = {"name", "n", "rate", "t"};
	enum qry_col_type types[] = {QRY_COL_STR, QRY_COL_U64, QRY_COL_F64, QRY_COL_TIME};
	struct qry_table *t = qry_table_create(4, names, types);
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	struct qry_cell *row = qry_table_add_row(t);
	qry_cell_set_str(&row[0], "a,\"b\"");
	row[1].u = 42;
	row[2].d = 1.5;
	row[3].u = 1700000000123000000ull;
	out = open_memstream(&buf, &len);
	qry_table_print(t, QRY_FMT_CSV, out);
	fclose(out);
	CHECK(!strcmp(buf, "name,n,rate,t\n\"a,\"\"b\"\"\",42,1.50,2023-11-14T22:13:20.123000000Z\n"),
	      "csv '%s'", buf);
	free(buf);
	out = open_memstream(&buf, &len);
	qry_table_print(t, QRY_FMT_JSON, out);
	fclose(out);
	CHECK(!strcmp(buf, "{\"columns\":[\"name\",\"n\",\"rate\",\"t\"],\"rows\":[{\"name\":\"a,\\\"b\\\"\","
			   "\"n\":42,\"rate\":1.500,\"t\":\"2023-11-14T22:13:20.123000000Z\"}]}\n"),
	      "json '%s'", buf);
	free(buf);
	out = open_memstream(&buf, &len);
	qry_table_print(t, QRY_FMT_TABLE, out);
	fclose(out);
	CHECK(strstr(buf, "name    n  rate  t\n") == buf, "table '%s'", buf);
	free(buf);
	qry_table_destroy(t);
}

static void test_time(void)
{
	uint64_t v;

	CHECK(qry_parse_time("2023-11-14T22:13:20Z", 0, &v) == 0 && v == 1700000000000000000ull,
	      "iso %llu", (unsigned long long)v);
	CHECK(qry_parse_time("2023-11-14T23:13:20.5+01:00", 0, &v) == 0 && v == 1700000000500000000ull,
	      "iso tz %llu", (unsigned long long)v);
	CHECK(qry_parse_time("2023-11-14", 0, &v) == 0 && v == 1699920000000000000ull, "date");
	CHECK(qry_parse_time("1h", 7200000000000ull, &v) == 0 && v == 3600000000000ull, "rel %llu",
	      (unsigned long long)v);
	CHECK(qry_parse_time("@123", 0, &v) == 0 && v == 123, "@");
	CHECK(qry_parse_time("yesterday", 0, &v) == -EINVAL, "bad");
	CHECK(qry_parse_duration("250ms", &v) == 0 && v == 250000000ull, "ms");
	CHECK(qry_parse_duration("5x", &v) == -EINVAL, "bad unit");
}

/* The shared CLI/REST parameter parser: values land in the right fields, errors name the parameter. */
static void test_params(void)
{
	struct qry_params p = {0};
	struct qry_err err;

	CHECK(qry_params_set(&p, "since", "@1000", &err) == 0 && p.scan.since_ns == 1000, "since");
	CHECK(qry_params_set(&p, "until", "@5000", &err) == 0 && p.scan.until_ns == 5000, "until");
	CHECK(qry_params_set(&p, "filter", "dport = 22", &err) == 0 && p.scan.filter, "filter");
	CHECK(qry_params_set(&p, "max_records", "100", &err) == 0 && p.scan.limits.max_records == 100, "mr");
	CHECK(qry_params_set(&p, "timeout", "5s", &err) == 0 && p.scan.limits.deadline_ns > qry_now_ns(), "to");
	CHECK(qry_params_set(&p, "set", "min_dsts=5", &err) == 0 && p.n_settings == 1, "set");
	CHECK(qry_params_set(&p, "format", "csv", &err) == 0 && p.format == QRY_FMT_CSV, "format");
	CHECK(!p.aggregate, "no aggregation yet");
	CHECK(qry_params_build(&p, true, &err) == 0 && p.spec.top == 10 && p.spec.n_keys == 1 &&
		      p.spec.keys[0] == QRY_KEY_SRC && p.spec.order_by == 2,
	      "top defaults: %s", err.msg);
	CHECK(qry_params_set(&p, "group_by", "dst,dport", &err) == 0 && p.aggregate, "group_by");
	CHECK(qry_params_set(&p, "agg", "bytes,distinct(src)", &err) == 0, "agg");
	CHECK(qry_params_set(&p, "order", "distinct(src)", &err) == 0, "order");
	CHECK(qry_params_set(&p, "bucket", "1m", &err) == 0 && p.spec.bucket_ns == 60000000000ull, "bucket");
	CHECK(qry_params_build(&p, false, &err) == 0 && p.spec.n_keys == 2 && p.spec.order_by == 1 &&
		      p.spec.bucket_ns == 60000000000ull,
	      "build: %s", err.msg);
	/* errors */
	CHECK(qry_params_set(&p, "filter", "dport = x", &err) == -EINVAL &&
		      !strncmp(err.msg, "filter: column 9:", 17) && err.column == 9,
	      "filter err '%s'", err.msg);
	CHECK(p.scan.filter != NULL, "old filter kept after a bad one");
	CHECK(qry_params_set(&p, "since", "soon", &err) == -EINVAL && !strncmp(err.msg, "since: ", 7), "%s", err.msg);
	CHECK(qry_params_set(&p, "top", "-3", &err) == -EINVAL && !strncmp(err.msg, "top: ", 5), "%s", err.msg);
	CHECK(qry_params_set(&p, "bogus", "1", &err) == -EINVAL && strstr(err.msg, "unknown parameter"), "%s", err.msg);
	CHECK(qry_params_set(&p, "order", "packets", &err) == 0 && qry_params_build(&p, false, &err) == -EINVAL &&
		      !strncmp(err.msg, "order: ", 7),
	      "%s", err.msg);
	CHECK(qry_params_set(&p, "until", "@500", &err) == 0 && qry_params_build(&p, false, &err) == -EINVAL &&
		      !strncmp(err.msg, "until: ", 7),
	      "%s", err.msg);
	qry_params_clear(&p);
	qry_params_clear(NULL);
}

int main(void)
{
	test_params();
	test_known();
	for (int i = 0; i < 40; i++)
		property_round(i);
	test_output();
	test_time();
	if (failures) {
		fprintf(stderr, "%d failure(s)\n", failures);
		return 1;
	}
	printf("query agg: all passed\n");
	return 0;
}
