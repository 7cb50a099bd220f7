/* Proves each named detection finds exactly the planted cases in hand-built records (v4 and v6), reports nothing on clean input, and rejects bad settings by name. */
#include "detect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int failures;

#include "test_check.h"

#define S 1000000000ull
#define T0 (1700000000ull * S) /* Tue 2023-11-14 22:13:20 UTC */

static struct seg_eni_info dict[3] = {
	{.index = 1, .eni_id = "eni-a", .vpc_id = "vpc-1", .subnet_id = "sn-1", .account_id = "1"},
	{.index = 2, .eni_id = "eni-b", .vpc_id = "vpc-1", .subnet_id = "sn-2", .account_id = "1"},
	{.index = 3, .eni_id = "eni-c", .vpc_id = "vpc-2", .subnet_id = "sn-3", .account_id = "2"},
};
static struct seg_header_info hdr = {.format_version = 1, .n_enis = 3, .enis = dict};

static struct rec_flow recs[40000];
static size_t n_recs;

static struct rec_flow *add(uint32_t eni, const char *src, const char *dst, uint16_t dp,
			    uint64_t pk, uint64_t by, uint64_t t)
{
	struct rec_flow *r = &recs[n_recs++];

	memset(r, 0, sizeof(*r));
	r->version = REC_VERSION;
	r->eni = eni;
	r->ip_version = strchr(src, ':') ? 6 : 4;
	inet_pton(r->ip_version == 4 ? AF_INET : AF_INET6, src, r->src_addr);
	inet_pton(r->ip_version == 4 ? AF_INET : AF_INET6, dst, r->dst_addr);
	r->protocol = 6;
	r->src_port = 40000;
	r->dst_port = dp;
	r->packets = pk;
	r->bytes = by;
	r->first_ns = t;
	r->last_ns = t + 1000;
	r->direction = REC_DIR_EGRESS;
	return r;
}

/* Run detection name over recs[0..n_recs) with settings; NULL on error (err printed). */
static struct qry_table *det(const char *name, const char *const *set, size_t n, uint64_t since,
			     uint64_t until)
{
	struct qry_err err;
	struct qry_det *d = qry_det_create(name, set, n, since, until, NULL, &err);

	if (!d) {
		fprintf(stderr, "create %s: %s\n", name, err.msg);
		return NULL;
	}
	qry_det_begin_file(d, &hdr);
	for (size_t i = 0; i < n_recs; i++)
		if (qry_det_add(d, &recs[i]))
			fprintf(stderr, "add %s failed\n", name);
	struct qry_table *t = qry_det_finish(d, &err);
	qry_det_destroy(d);
	return t;
}

static const char *str(const struct qry_table *t, uint32_t r, const char *col)
{
	static char buf[8][64];
	static int k;

	for (uint32_t c = 0; c < t->n_cols; c++)
		if (!strcmp(t->col_names[c], col)) {
			const struct qry_cell *x = &t->cells[(size_t)r * t->n_cols + c];
			char *b = buf[k++ % 8];
			if (t->col_types[c] == QRY_COL_STR)
				return x->s;
			if (t->col_types[c] == QRY_COL_F64)
				snprintf(b, 64, "%.3f", x->d);
			else
				snprintf(b, 64, "%llu", (unsigned long long)x->u);
			return b;
		}
	return "<no column>";
}

#define EQ(t, r, col, want)                                                                  \
	CHECK((t) && (r) < (t)->n_rows && !strcmp(str(t, r, col), want), "row %u %s = '%s', want '%s'", \
	      (unsigned)(r), col, (t) && (r) < (t)->n_rows ? str(t, r, col) : "<no row>", want)
#define ROWS(t, n) CHECK((t) && (t)->n_rows == (n), "rows %u, want %u", (t) ? (t)->n_rows : 0, (unsigned)(n))

static void test_hogs(void)
{
	const char *by_peer[] = {"by=peer", "window=1s", "top=0"};
	struct qry_table *t;

	n_recs = 0;
	add(1, "10.0.0.1", "198.51.100.1", 443, 100, 1000000, T0);
	add(1, "10.0.0.1", "198.51.100.1", 443, 100, 1000000, T0 + S / 2);
	add(1, "2001:db8::1", "2001:db8::7", 443, 10, 500000, T0 + 5 * S);
	add(2, "10.0.0.2", "198.51.100.2", 80, 10, 100000, T0 + 2 * S);
	add(3, "10.0.0.3", "198.51.100.3", 80, 1, 100, T0);
	t = det("hogs", (const char *[]){"top=2", "window=1s"}, 2, T0, T0 + 10 * S);
	ROWS(t, 2);
	EQ(t, 0, "eni", "eni-a");
	EQ(t, 0, "bytes", "2500000");
	EQ(t, 0, "peak_bps_window", "16000000.000"); /* 2 MB in the first second */
	EQ(t, 0, "avg_bps", "2000000.000");         /* 2.5 MB over 10 s */
	EQ(t, 1, "eni", "eni-b");
	qry_table_destroy(t);
	t = det("hogs", by_peer, 3, T0, T0 + 10 * S);
	ROWS(t, 4);
	EQ(t, 0, "peer", "198.51.100.1");
	EQ(t, 1, "peer", "2001:db8::7");
	qry_table_destroy(t);
	n_recs = 0;
	t = det("hogs", NULL, 0, 0, 0);
	ROWS(t, 0);
	qry_table_destroy(t);
}

static void test_storm(void)
{
	struct qry_table *t;

	n_recs = 0;
	/* eni-a: 5000 broadcast packets in one second: over the absolute threshold */
	add(1, "10.0.0.1", "255.255.255.255", 67, 5000, 300000, T0 + 3 * S)->l2_class = REC_L2_BROADCAST;
	/* eni-b: 20 pps multicast for 10 s, then 500 in one second: over its baseline */
	for (int i = 0; i < 10; i++)
		add(2, "10.0.0.2", "224.0.0.251", 5353, 20, 2000, T0 + (uint64_t)i * S)->l2_class = REC_L2_MULTICAST;
	add(2, "10.0.0.2", "224.0.0.251", 5353, 500, 50000, T0 + 50 * S)->l2_class = REC_L2_MULTICAST;
	/* eni-c: lots of unicast: never a storm */
	add(3, "10.0.0.3", "10.0.0.4", 80, 100000, 1000000, T0);
	t = det("storm", NULL, 0, T0, T0 + 100 * S);
	ROWS(t, 2);
	EQ(t, 0, "eni", "eni-a");
	EQ(t, 0, "reason", "over pps threshold");
	EQ(t, 0, "pps", "5000.000");
	EQ(t, 1, "eni", "eni-b");
	EQ(t, 1, "reason", "over baseline");
	EQ(t, 1, "baseline_pps", "7.000");
	qry_table_destroy(t);
	n_recs = 0;
	add(3, "10.0.0.3", "10.0.0.4", 80, 100000, 1000000, T0);
	t = det("storm", NULL, 0, T0, T0 + 100 * S);
	ROWS(t, 0);
	qry_table_destroy(t);
}

static void test_drops(void)
{
	struct qry_table *t;
	struct rec_flow *r;

	n_recs = 0;
	add(1, "10.0.0.1", "10.0.1.1", 443, 3, 180, T0);
	r = add(1, "10.0.0.1", "10.0.9.9", 22, 5, 300, T0);
	r->verdict = REC_VERDICT_REJECT, r->layer = REC_LAYER_SG, r->rule_id = 5;
	r = add(2, "2001:db8::5", "2001:db8::6", 3389, 9, 600, T0 + S);
	r->verdict = REC_VERDICT_REJECT, r->layer = REC_LAYER_ACL, r->rule_id = 9;
	r->direction = REC_DIR_INGRESS;
	t = det("drops", NULL, 0, 0, 0);
	ROWS(t, 2);
	EQ(t, 0, "eni", "eni-b"); /* most packets first */
	EQ(t, 0, "layer", "acl");
	EQ(t, 0, "rule", "9");
	EQ(t, 0, "direction", "ingress");
	EQ(t, 0, "src", "2001:db8::5");
	EQ(t, 1, "layer", "sg");
	EQ(t, 1, "rule", "5");
	EQ(t, 1, "dport", "22");
	qry_table_destroy(t);
	n_recs = 0;
	add(1, "10.0.0.1", "10.0.1.1", 443, 3, 180, T0);
	t = det("drops", NULL, 0, 0, 0);
	ROWS(t, 0);
	qry_table_destroy(t);
}

static void test_policy(void)
{
	struct qry_table *t;

	n_recs = 0;
	for (int i = 0; i < 20; i++) {
		add(1, "10.0.0.1", "10.0.1.1", 22, 1, 60, T0)->rule_id = 1;
		add(1, "10.0.0.1", "10.0.1.1", (uint16_t)(1000 + i % 10), 1, 60, T0)->rule_id = 2;
	}
	add(1, "10.0.0.1", "10.0.1.1", 443, 1, 60, T0)->rule_id = 3;
	add(1, "10.0.0.1", "10.0.1.1", 443, 1, 60, T0)->rule_id = 0; /* no rule: ignored */
	t = det("policy", (const char *[]){"rules=1-3,5,4"}, 1, 0, 0);
	ROWS(t, 3);
	EQ(t, 0, "rule", "1");
	EQ(t, 0, "finding", "few-ports");
	EQ(t, 0, "ports", "22");
	EQ(t, 0, "flows", "20");
	EQ(t, 1, "rule", "4");
	EQ(t, 1, "finding", "never-matched");
	EQ(t, 2, "rule", "5");
	qry_table_destroy(t);
	t = det("policy", (const char *[]){"max_ports=10"}, 1, 0, 0);
	ROWS(t, 2); /* rules 1 and 2; no list so no never-matched */
	CHECK(t && t->note && strstr(t->note, "no rule list"), "note %s", t && t->note ? t->note : "-");
	qry_table_destroy(t);
	n_recs = 0;
	t = det("policy", (const char *[]){"rules=7"}, 1, 0, 0);
	ROWS(t, 1);
	EQ(t, 0, "finding", "never-matched");
	qry_table_destroy(t);
}

static void test_scanners(void)
{
	struct qry_table *t;
	char dst[64];

	n_recs = 0;
	for (int i = 0; i < 150; i++) {
		snprintf(dst, sizeof(dst), "10.1.%d.%d", i / 250, i % 250 + 1);
		add(1, "203.0.113.9", dst, 22, 1, 60, T0 + (uint64_t)i * (S / 10))->verdict = i % 3 != 0;
	}
	for (int i = 0; i < 120; i++)
		add(2, "2001:db8::bad", "2001:db8::1", (uint16_t)(1 + i), 1, 60, T0 + (uint64_t)i * (S / 10));
	for (int i = 0; i < 5; i++) {
		snprintf(dst, sizeof(dst), "10.2.0.%d", i + 1);
		add(3, "10.0.0.3", dst, 443, 10, 6000, T0);
	}
	t = det("scanners", (const char *[]){"window=60s"}, 1, 0, 0);
	ROWS(t, 2);
	EQ(t, 0, "src", "203.0.113.9");
	EQ(t, 0, "kind", "hosts");
	EQ(t, 0, "distinct", "150");
	EQ(t, 0, "reject_share", "0.667");
	EQ(t, 1, "src", "2001:db8::bad");
	EQ(t, 1, "kind", "ports");
	EQ(t, 1, "target", "2001:db8::1");
	EQ(t, 1, "distinct", "120");
	qry_table_destroy(t);
	/* a lower threshold also flags the normal source's 5 hosts */
	t = det("scanners", (const char *[]){"min_dsts=5", "min_ports=1000"}, 2, 0, 0);
	ROWS(t, 2);
	qry_table_destroy(t);
	n_recs = 0;
	t = det("scanners", NULL, 0, 0, 0);
	ROWS(t, 0);
	qry_table_destroy(t);
}

static void test_flood(void)
{
	struct qry_table *t;
	struct rec_flow *r;
	char src[64];

	n_recs = 0;
	/* 10.0.0.9:80 gets 1200 SYN-only flows from one source and 300 from spoofed ones */
	for (int i = 0; i < 1500; i++) {
		if (i < 1200)
			snprintf(src, sizeof(src), "203.0.113.66");
		else
			snprintf(src, sizeof(src), "198.18.%d.%d", i / 200, i % 200 + 1);
		r = add(1, src, "10.0.0.9", 80, 1, 60, T0 + (uint64_t)i * (S / 1000));
		r->tcp_flags = REC_TCP_SYN;
		r->src_port = (uint16_t)(1024 + i);
		r->direction = REC_DIR_INGRESS;
	}
	/* 10.0.0.10:443 (sorts after .9 as bytes, before it as text) gets 1100 */
	for (int i = 0; i < 1100; i++) {
		r = add(2, "198.51.100.5", "10.0.0.10", 443, 2, 120, T0 + (uint64_t)i * (S / 1000));
		r->tcp_flags = REC_TCP_SYN | REC_TCP_ECE | REC_TCP_CWR;
	}
	/* completed handshakes and a small v6 trickle are not floods */
	for (int i = 0; i < 3000; i++)
		add(1, "192.0.2.1", "10.0.0.9", 80, 10, 6000, T0)->tcp_flags = REC_TCP_SYN | REC_TCP_ACK;
	for (int i = 0; i < 10; i++)
		add(3, "2001:db8::66", "2001:db8::1", 22, 1, 80, T0)->tcp_flags = REC_TCP_SYN;
	t = det("flood", NULL, 0, 0, 0);
	ROWS(t, 2);
	EQ(t, 0, "dst", "10.0.0.9");
	EQ(t, 0, "dport", "80");
	EQ(t, 0, "syn_flows", "1500");
	EQ(t, 0, "sources", "301");
	EQ(t, 0, "top_src", "203.0.113.66");
	EQ(t, 0, "top_src_share", "0.800");
	EQ(t, 1, "dst", "10.0.0.10");
	EQ(t, 1, "top_src", "198.51.100.5");
	EQ(t, 1, "syn_pps", "220.000");
	qry_table_destroy(t);
	/* by packet rate alone */
	t = det("flood", (const char *[]){"min_flows=100000", "min_pps=200"}, 2, 0, 0);
	ROWS(t, 1);
	EQ(t, 0, "dst", "10.0.0.10");
	qry_table_destroy(t);
	n_recs = 0;
	add(1, "192.0.2.1", "10.0.0.9", 80, 10, 6000, T0)->tcp_flags = REC_TCP_SYN | REC_TCP_ACK;
	t = det("flood", NULL, 0, 0, 0);
	ROWS(t, 0);
	qry_table_destroy(t);
}

static void test_threats(void)
{
	char path[] = "/tmp/test_detect_list.XXXXXX", set[128];
	int fd = mkstemp(path);
	struct qry_table *t;
	struct qry_err err;

	CHECK(fd >= 0, "mkstemp");
	dprintf(fd, "# test list\n203.0.113.0/24\n2001:db8:bad::/48 ; SBL1\n");
	close(fd);
	snprintf(set, sizeof(set), "lists=%s", path);
	n_recs = 0;
	add(1, "10.0.0.1", "203.0.113.5", 443, 3, 180, T0);
	add(2, "2001:db8:bad::9", "2001:db8::2", 22, 4, 240, T0)->direction = REC_DIR_INGRESS;
	add(3, "10.0.0.3", "198.51.100.1", 443, 3, 180, T0);
	t = det("threats", (const char *[]){set}, 1, 0, 0);
	ROWS(t, 2);
	EQ(t, 0, "eni", "eni-b"); /* more bytes first */
	EQ(t, 0, "src", "2001:db8:bad::9");
	EQ(t, 1, "dst", "203.0.113.5");
	CHECK(t && t->n_rows && !strcmp(str(t, 0, "list"), strrchr(path, '/') + 1), "list '%s'",
	      t && t->n_rows ? str(t, 0, "list") : "-");
	qry_table_destroy(t);
	n_recs = 0;
	add(3, "10.0.0.3", "198.51.100.1", 443, 3, 180, T0);
	t = det("threats", (const char *[]){set}, 1, 0, 0);
	ROWS(t, 0);
	qry_table_destroy(t);
	CHECK(!qry_det_create("threats", NULL, 0, 0, 0, NULL, &err) && strstr(err.msg, "lists="),
	      "missing lists: %s", err.msg);
	unlink(path);
	CHECK(!qry_det_create("threats", (const char *[]){set}, 1, 0, 0, NULL, &err) &&
		      strstr(err.msg, path),
	      "missing file: %s", err.msg);
}

static void test_uncommon(void)
{
	uint64_t end = T0 + 10 * 3600 * S;
	struct qry_table *t;

	n_recs = 0;
	for (int i = 0; i < 8; i++) /* history: eni-a serves 443 */
		add(1, "10.0.0.1", "198.51.100.1", 443, 1, 60, T0 + (uint64_t)i * 3600 * S);
	add(1, "10.0.0.1", "198.51.100.1", 443, 1, 60, end - 600 * S);  /* recent, usual */
	add(1, "10.0.0.1", "198.51.100.66", 6667, 1, 60, end - 60 * S); /* recent, new */
	add(2, "10.0.0.2", "198.51.100.2", 8080, 1, 60, end - 60 * S);  /* no history: skipped */
	add(3, "10.0.0.3", "198.51.100.3", 0, 1, 60, end - 60 * S)->protocol = 47; /* gre */
	t = det("uncommon", NULL, 0, T0, end);
	ROWS(t, 2);
	EQ(t, 0, "finding", "protocol");
	EQ(t, 0, "proto", "gre");
	EQ(t, 0, "eni", "eni-c");
	EQ(t, 1, "finding", "rare-port");
	EQ(t, 1, "eni", "eni-a");
	EQ(t, 1, "dport", "6667");
	qry_table_destroy(t);
	t = det("uncommon", (const char *[]){"protos=tcp,udp,gre"}, 1, T0, end);
	ROWS(t, 1);
	qry_table_destroy(t);
	n_recs = 0;
	t = det("uncommon", NULL, 0, T0, end);
	ROWS(t, 0);
	qry_table_destroy(t);
}

static void test_baseline(void)
{
	const uint64_t week = 7ull * 24 * 3600 * S;
	struct qry_table *t;

	n_recs = 0;
	for (int w = 0; w < 3; w++)
		add(1, "10.0.0.1", "198.51.100.1", 443, 10, 1000, T0 + (uint64_t)w * week);
	add(1, "10.0.0.1", "198.51.100.1", 443, 10, 100000, T0 + 3 * week);
	add(2, "10.0.0.2", "198.51.100.2", 443, 10, 100000, T0 + 3 * week); /* no history */
	t = det("baseline", NULL, 0, 0, 0);
	ROWS(t, 1);
	EQ(t, 0, "eni", "eni-a");
	EQ(t, 0, "metric", "bytes");
	EQ(t, 0, "value", "100000");
	EQ(t, 0, "baseline_mean", "1000.000");
	EQ(t, 0, "samples", "3");
	qry_table_destroy(t);
	t = det("baseline", (const char *[]){"min_samples=4"}, 1, 0, 0);
	ROWS(t, 0);
	qry_table_destroy(t);

	/* scale: 4 weeks of hourly traffic for 53 ENIs with +-5% noise, one planted spike */
	n_recs = 0;
	uint64_t x = 1;
	for (uint64_t h = 0; h < 4 * 168 && n_recs < sizeof(recs) / sizeof(recs[0]); h++)
		for (uint32_t e = 0; e < 53 && n_recs < sizeof(recs) / sizeof(recs[0]); e++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			uint32_t eni = e < 3 ? e + 1 : e + 7; /* indexes not in the dictionary too */
			uint64_t by = 1000 + (x >> 33) % 100 - 50;
			if (eni == 2 && h == 2 * 168 + 50)
				by = 50000;
			add(eni, "10.0.0.1", "198.51.100.1", 443, 10, by, T0 + h * 3600 * S);
		}
	t = det("baseline", NULL, 0, 0, 0);
	ROWS(t, 1);
	EQ(t, 0, "eni", "eni-b");
	EQ(t, 0, "value", "50000");
	EQ(t, 0, "samples", "3");
	qry_table_destroy(t);
}

static void test_geo_and_errors(void)
{
	struct qry_err err;
	struct qry_table *t;
	size_t n;

	n_recs = 0;
	add(1, "10.0.0.1", "198.51.100.1", 443, 10, 1000, T0);
	t = det("geo", NULL, 0, 0, 0);
	ROWS(t, 0);
	CHECK(t && t->note && strstr(t->note, "geo:"), "geo note '%s'", t && t->note ? t->note : "-");
	qry_table_destroy(t);
	CHECK(!qry_det_create("nosuch", NULL, 0, 0, 0, NULL, &err) && strstr(err.msg, "nosuch"),
	      "%s", err.msg);
	CHECK(!qry_det_create("scanners", (const char *[]){"min_dst=5"}, 1, 0, 0, NULL, &err) &&
		      strstr(err.msg, "unknown setting 'min_dst'"),
	      "%s", err.msg);
	CHECK(!qry_det_create("scanners", (const char *[]){"window=fast"}, 1, 0, 0, NULL, &err) &&
		      strstr(err.msg, "window") && strstr(err.msg, "fast"),
	      "%s", err.msg);
	CHECK(!qry_det_create("policy", (const char *[]){"rules=1,x"}, 1, 0, 0, NULL, &err) &&
		      strstr(err.msg, "rules"),
	      "%s", err.msg);
	const struct qry_det_info *l = qry_det_list(&n);
	CHECK(n == 10 && qry_det_find("flood") && !strcmp(l[0].name, "hogs"), "list %zu", n);
	for (size_t i = 0; i < n; i++)
		for (int p = 0; p < QRY_DET_MAX_PARAMS && l[i].params[p].name; p++)
			CHECK(l[i].params[p].help && *l[i].params[p].help, "%s.%s undocumented", l[i].name,
			      l[i].params[p].name);
}

int main(void)
{
	test_hogs();
	test_storm();
	test_drops();
	test_policy();
	test_scanners();
	test_flood();
	test_threats();
	test_uncommon();
	test_baseline();
	test_geo_and_errors();
	if (failures) {
		fprintf(stderr, "%d failure(s)\n", failures);
		return 1;
	}
	printf("detect: all passed\n");
	return 0;
}
