/* Proves scans over real segment files read only the blocks the index allows (time range, ENI), honour per-file ENI dictionaries and limits, and that qry_run equals a naive count on generated records. */
#include "query.h"
#include "recgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int failures;

#include "test_check.h"

#define S 1000000000ull
#define T0 (1700000000ull * S)

static char dir[] = "/tmp/test_query_scan.XXXXXX";

static struct seg_eni_info dict_a[5] = {
	{.index = 1, .eni_id = "eni-1", .vpc_id = "vpc-x", .subnet_id = "sn-1", .account_id = "1"},
	{.index = 2, .eni_id = "eni-2", .vpc_id = "vpc-x", .subnet_id = "sn-1", .account_id = "1"},
	{.index = 3, .eni_id = "eni-3", .vpc_id = "vpc-y", .subnet_id = "sn-2", .account_id = "1"},
	{.index = 4, .eni_id = "eni-4", .vpc_id = "vpc-y", .subnet_id = "sn-2", .account_id = "1"},
	{.index = 5, .eni_id = "eni-5", .vpc_id = "vpc-z", .subnet_id = "sn-3", .account_id = "2"},
};

static void write_seg(const char *sub, const char *name, struct seg_eni_info *dict, uint32_t n_dict,
		      const struct rec_flow *recs, size_t n, uint32_t block)
{
	char d[512];
	struct seg_err err;
	struct seg_header_info h = {.format_version = SEG_FORMAT_VERSION, .n_enis = n_dict, .enis = dict};
	struct seg_writer_opts o = {.block_records = block, .no_fsync = true};
	struct seg_writer *w;

	snprintf(d, sizeof(d), "%s%s%s", dir, sub ? "/" : "", sub ? sub : "");
	mkdir(d, 0755);
	snprintf(h.host_id, sizeof(h.host_id), "test");
	w = seg_writer_create(d, name, &h, &o, &err);
	CHECK(w != NULL, "writer %s: %s", name, err.msg);
	if (!w)
		return;
	CHECK(seg_writer_append(w, recs, n, &err) == 0, "append: %s", err.msg);
	CHECK(seg_writer_seal(w, &err) == 0, "seal: %s", err.msg);
}

static struct rec_flow mk(uint32_t eni, uint16_t dport, uint64_t t)
{
	struct rec_flow r;

	memset(&r, 0, sizeof(r));
	r.version = REC_VERSION;
	r.eni = eni;
	r.ip_version = 4;
	r.ethertype = 0x0800;
	r.protocol = 6;
	inet_pton(AF_INET, "10.0.0.1", r.src_addr);
	inet_pton(AF_INET, "10.0.0.2", r.dst_addr);
	r.dst_port = dport;
	r.packets = 1;
	r.bytes = 100;
	r.first_ns = t;
	r.last_ns = t + S / 2;
	r.sample_1_in_n = 1;
	return r;
}

static int count_rec(const struct rec_flow *r, const struct qry_seg_ctx *seg, void *arg)
{
	(void)r;
	(void)seg;
	(*(uint64_t *)arg)++;
	return 0;
}

/* Scan path with filter expr and range; returns records seen, fills st. */
static long scan(const char *path, const char *expr, uint64_t since, uint64_t until,
		 struct qry_stats *st, struct qry_limits *lim, struct qry_err *err)
{
	struct qry_scan_opts o = {.since_ns = since, .until_ns = until};
	uint64_t n = 0;
	struct qry_scan_cb cb = {.rec_cb = count_rec, .arg = &n};
	const char *paths[] = {path};

	if (lim)
		o.limits = *lim;
	o.filter = expr ? qry_filter_compile(expr, err) : NULL;
	int rc = qry_scan(paths, 1, &o, &cb, st, err);
	qry_filter_destroy(o.filter);
	return rc ? rc : (long)n;
}

static void test_skipping(void)
{
	static struct rec_flow recs[1000];
	struct qry_stats st;
	struct qry_err err;
	char p[512];
	long n;

	/* 10 blocks of 100 records, 1 s apart; block k holds ENI k % 5 + 1 only. */
	for (int i = 0; i < 1000; i++)
		recs[i] = mk((uint32_t)((i / 100) % 5 + 1), (uint16_t)(i % 2 ? 80 : 443), T0 + (uint64_t)i * S);
	write_seg("skip", "a.fls", dict_a, 5, recs, 1000, 100);
	snprintf(p, sizeof(p), "%s/skip", dir);

	n = scan(p, NULL, 0, 0, &st, NULL, &err);
	CHECK(n == 1000 && st.blocks_read == 10 && st.blocks_total == 10, "all: n %ld blocks %llu/%llu",
	      n, (unsigned long long)st.blocks_read, (unsigned long long)st.blocks_total);
	/* records 250..449 overlap [T0+250s, T0+450s): blocks 2, 3, 4 (and 249's tail ends at 249.5 s) */
	n = scan(p, NULL, T0 + 250 * S, T0 + 450 * S, &st, NULL, &err);
	CHECK(n == 200 && st.blocks_read == 3, "time: n %ld blocks %llu", n, (unsigned long long)st.blocks_read);
	CHECK(st.records_scanned == 300, "time: scanned %llu", (unsigned long long)st.records_scanned);
	n = scan(p, "eni = eni-3", 0, 0, &st, NULL, &err);
	CHECK(n == 200 && st.blocks_read == 2, "eni: n %ld blocks %llu", n, (unsigned long long)st.blocks_read);
	n = scan(p, "vpc = vpc-y and dport = 80", 0, 0, &st, NULL, &err);
	CHECK(n == 200 && st.blocks_read == 4, "vpc: n %ld blocks %llu", n, (unsigned long long)st.blocks_read);
	n = scan(p, "eni = 5 and dport = 80", T0 + 400 * S, T0 + 500 * S, &st, NULL, &err);
	CHECK(n == 50 && st.blocks_read == 1, "eni+time: n %ld blocks %llu", n, (unsigned long long)st.blocks_read);
	n = scan(p, "dport = 80", 0, 0, &st, NULL, &err);
	CHECK(n == 500 && st.blocks_read == 10, "no eni: n %ld blocks %llu", n, (unsigned long long)st.blocks_read);
	n = scan(p, "eni = eni-1 or dport = 80", 0, 0, &st, NULL, &err);
	CHECK(n == 600 && st.blocks_read == 10, "or: n %ld blocks %llu", n, (unsigned long long)st.blocks_read);
	n = scan(p, "not eni in {eni-1, eni-2, eni-3, eni-4}", 0, 0, &st, NULL, &err);
	CHECK(n == 200 && st.blocks_read == 2, "not: n %ld blocks %llu", n, (unsigned long long)st.blocks_read);
	n = scan(p, "eni = eni-nope", 0, 0, &st, NULL, &err);
	CHECK(n == 0 && st.blocks_read == 0 && st.files_skipped == 1, "none: n %ld blocks %llu", n,
	      (unsigned long long)st.blocks_read);
	n = scan(p, NULL, T0 + 5000 * S, 0, &st, NULL, &err);
	CHECK(n == 0 && st.blocks_read == 0, "after: n %ld blocks %llu", n, (unsigned long long)st.blocks_read);

	/* limits */
	struct qry_limits lim = {.max_records = 150};
	n = scan(p, NULL, 0, 0, &st, &lim, &err);
	CHECK(n == -EFBIG && strstr(err.msg, "max records"), "max_records: %ld '%s'", n, err.msg);
	lim = (struct qry_limits){.deadline_ns = 1};
	n = scan(p, NULL, 0, 0, &st, &lim, &err);
	CHECK(n == -ETIMEDOUT && strstr(err.msg, "deadline"), "deadline: %ld '%s'", n, err.msg);
}

static void test_dictionaries_and_tree(void)
{
	struct seg_eni_info da = {.index = 1, .eni_id = "eni-a", .vpc_id = "vpc-1"};
	struct seg_eni_info db = {.index = 1, .eni_id = "eni-b", .vpc_id = "vpc-1"};
	struct rec_flow r[3] = {mk(1, 22, T0), mk(1, 22, T0 + S), mk(1, 80, T0 + 2 * S)};
	struct qry_stats st;
	struct qry_err err;
	char p[512], bad[600];

	write_seg("tree", "a.fls", &da, 1, r, 1, 0);
	write_seg("tree/sub", "b.fls", &db, 1, r + 1, 2, 0);
	snprintf(p, sizeof(p), "%s/tree/sub/notes.txt", dir);
	FILE *f = fopen(p, "w");
	fputs("not a segment\n", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/tree/sub/.c.fls.partial", dir);
	f = fopen(p, "w");
	fputs("partial\n", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/tree", dir);

	CHECK(scan(p, NULL, 0, 0, &st, NULL, &err) == 3 && st.files == 2, "tree: files %llu",
	      (unsigned long long)st.files);
	CHECK(scan(p, "eni = eni-b", 0, 0, &st, NULL, &err) == 2, "eni-b by name");
	CHECK(scan(p, "eni = eni-a", 0, 0, &st, NULL, &err) == 1, "eni-a by name");
	CHECK(scan(p, "eni = 1", 0, 0, &st, NULL, &err) == 3, "index 1 in both");

	struct qry_agg_spec s = {.order_by = -1};
	struct qry_scan_opts o = {0};
	const char *paths[] = {p};
	qry_parse_keys("eni", &s, &err);
	qry_parse_aggs("flows,distinct(dport)", &s, &err);
	struct qry_table *t = qry_run(paths, 1, &o, &s, &st, &err);
	CHECK(t && t->n_rows == 2 && !strcmp(t->cells[0].s, "eni-a") && t->cells[1].u == 1 &&
		      !strcmp(t->cells[3].s, "eni-b") && t->cells[4].u == 2 && t->cells[5].u == 2,
	      "groups across dictionaries: %u rows", t ? t->n_rows : 0);
	qry_table_destroy(t);
	/* limits through qry_run */
	o.limits.max_groups = 1;
	t = qry_run(paths, 1, &o, &s, &st, &err);
	CHECK(!t && errno == ENOSPC && strstr(err.msg, "max groups"), "max_groups: '%s'", err.msg);

	/* a corrupt segment is named */
	snprintf(bad, sizeof(bad), "%s/tree/zz.fls", dir);
	f = fopen(bad, "w");
	fputs("garbage garbage garbage garbage garbage garbage garbage garbage\n", f);
	fclose(f);
	long n = scan(p, NULL, 0, 0, &st, NULL, &err);
	CHECK(n < 0 && strstr(err.msg, "zz.fls"), "bad file: %ld '%s'", n, err.msg);
	unlink(bad);
	n = scan("/nonexistent/path", NULL, 0, 0, &st, NULL, &err);
	CHECK(n == -ENOENT && strstr(err.msg, "/nonexistent/path"), "missing: %ld '%s'", n, err.msg);
}

/* Property: on generated records, qry_run equals a naive count. */
static void test_property(void)
{
	enum { N = 60000, NENI = 6 };
	static struct rec_flow recs[N];
	struct rec_gen_params gp = {.seed = 7, .n_enis = NENI, .n_flows = 2000, .start_ns = T0,
				    .step_ns = 1000000, .v6_percent = 30, .all_kinds = true};
	struct rec_gen *g = rec_gen_create(&gp);
	struct seg_eni_info dict[NENI];
	uint64_t flows[NENI][2] = {{0}}, bytes[NENI][2] = {{0}};
	struct qry_stats st;
	struct qry_err err;
	char p[512];

	CHECK(g != NULL, "rec_gen");
	if (!g)
		return;
	rec_gen_next(g, recs, N);
	rec_gen_destroy(g);
	for (uint32_t i = 0; i < NENI; i++)
		rec_gen_eni_info(i, &dict[i]);
	write_seg("prop", "p1.fls", dict, NENI, recs, N / 2, 1000);
	write_seg("prop", "p2.fls", dict, NENI, recs + N / 2, N / 2, 1000);
	uint64_t since = recs[N / 4].last_ns, until = recs[3 * N / 4].last_ns; /* last_ns is monotonic */
	for (int i = 0; i < N; i++) {
		const struct rec_flow *r = &recs[i];
		if (r->last_ns < since || r->first_ns >= until)
			continue;
		if (!((r->protocol == 6 || r->protocol == 17) && r->dst_port < 1024 && r->ip_version))
			continue;
		flows[r->eni][r->protocol == 17]++;
		bytes[r->eni][r->protocol == 17] += r->bytes;
	}
	snprintf(p, sizeof(p), "%s/prop", dir);
	const char *paths[] = {p};
	struct qry_scan_opts o = {.since_ns = since, .until_ns = until};
	struct qry_agg_spec s = {.order_by = -1};
	o.filter = qry_filter_compile("proto in {tcp, udp} and dport < 1024 and ipver != 0", &err);
	qry_parse_keys("eni,proto", &s, &err);
	qry_parse_aggs("flows,bytes", &s, &err);
	struct qry_table *t = qry_run(paths, 1, &o, &s, &st, &err);
	CHECK(t != NULL, "run: %s", err.msg);
	unsigned want_rows = 0, matched = 0;
	for (int e = 0; e < NENI; e++)
		for (int k = 0; k < 2; k++)
			want_rows += flows[e][k] > 0;
	for (uint32_t r = 0; t && r < t->n_rows; r++) {
		const char *eni = t->cells[r * 4].s, *proto = t->cells[r * 4 + 1].s;
		int e = -1, k = !strcmp(proto, "udp");
		for (int i = 0; i < NENI; i++)
			if (!strcmp(dict[i].eni_id, eni))
				e = i;
		CHECK(e >= 0 && t->cells[r * 4 + 2].u == flows[e][k] && t->cells[r * 4 + 3].u == bytes[e][k],
		      "%s/%s: engine %llu flows %llu bytes, naive %llu %llu", eni, proto,
		      (unsigned long long)t->cells[r * 4 + 2].u, (unsigned long long)t->cells[r * 4 + 3].u,
		      e >= 0 ? (unsigned long long)flows[e][k] : 0ull, e >= 0 ? (unsigned long long)bytes[e][k] : 0ull);
		matched++;
	}
	CHECK(t && t->n_rows == want_rows && want_rows > 2, "rows %u want %u", t ? t->n_rows : 0, want_rows);
	CHECK(st.blocks_read < st.blocks_total, "time range should skip blocks: %llu of %llu",
	      (unsigned long long)st.blocks_read, (unsigned long long)st.blocks_total);
	qry_table_destroy(t);
	qry_filter_destroy(o.filter);
	(void)matched;
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_skipping();
	test_dictionaries_and_tree();
	test_property();
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	if (failures) {
		fprintf(stderr, "%d failure(s)\n", failures);
		return 1;
	}
	printf("query scan: all passed\n");
	return 0;
}
