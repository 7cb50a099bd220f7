/* Proves every filter operator and field gives the known answer on hand-built v4/v6 records, and that bad expressions name the right column. */
#include "query.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int failures;

#include "test_check.h"

static const struct seg_eni_info dict[] = {
	{.index = 7, .eni_id = "eni-aaa", .vpc_id = "vpc-1", .subnet_id = "subnet-1", .account_id = "111"},
	{.index = 9, .eni_id = "eni-bbb", .vpc_id = "vpc-1", .subnet_id = "subnet-2", .account_id = "111"},
	{.index = 12, .eni_id = "eni-ccc", .vpc_id = "vpc-2", .subnet_id = "subnet-3", .account_id = "222"},
};

static struct rec_flow v4(const char *src, const char *dst, uint16_t sp, uint16_t dp)
{
	struct rec_flow r;

	memset(&r, 0, sizeof(r));
	r.version = REC_VERSION;
	r.ip_version = 4;
	r.ethertype = 0x0800;
	r.protocol = 6;
	inet_pton(AF_INET, src, r.src_addr);
	inet_pton(AF_INET, dst, r.dst_addr);
	r.src_port = sp;
	r.dst_port = dp;
	r.eni = 7;
	r.packets = 10;
	r.bytes = 1500;
	r.first_ns = 1000000000ull;
	r.last_ns = 3000000000ull; /* 2 s */
	r.sample_1_in_n = 1;
	return r;
}

static struct rec_flow v6(const char *src, const char *dst, uint16_t sp, uint16_t dp)
{
	struct rec_flow r = v4("0.0.0.0", "0.0.0.0", sp, dp);

	r.ip_version = 6;
	r.ethertype = 0x86dd;
	inet_pton(AF_INET6, src, r.src_addr);
	inet_pton(AF_INET6, dst, r.dst_addr);
	return r;
}

/* Compile expr, bind to dict, and return whether r matches (or -1 on compile error). */
static int m(const char *expr, const struct rec_flow *r)
{
	struct qry_err err;
	struct qry_filter *f = qry_filter_compile(expr, &err);
	int rc;

	if (!f) {
		fprintf(stderr, "compile '%s': %s\n", expr, err.msg);
		return -1;
	}
	if (qry_filter_bind(f, dict, 3))
		return -1;
	rc = qry_filter_match(f, r);
	/* the burst evaluator must agree on every expression */
	uint32_t in = 0, out = 99;
	size_t n = qry_filter_select(f, r, &in, 1, &out);
	CHECK(n == (size_t)rc && (!n || out == 0), "'%s': select %zu, match %d", expr, n, rc);
	qry_filter_destroy(f);
	return rc;
}

#define YES(expr, r) CHECK(m(expr, &(r)) == 1, "'%s' should match", expr)
#define NO(expr, r) CHECK(m(expr, &(r)) == 0, "'%s' should not match", expr)

/* Expect a compile error at column col whose message contains text. */
static void bad(const char *expr, int col, const char *text)
{
	struct qry_err err;
	struct qry_filter *f = qry_filter_compile(expr, &err);

	CHECK(!f && errno == EINVAL, "'%s' compiled", expr);
	qry_filter_destroy(f);
	CHECK(err.column == col, "'%s': column %d, want %d (%s)", expr, err.column, col, err.msg);
	CHECK(strstr(err.msg, text) != NULL, "'%s': message '%s' lacks '%s'", expr, err.msg, text);
	/* The caret line: two spaces of indent, col-1 spaces, '^'. */
	const char *caret = strrchr(err.msg, '\n');
	CHECK(caret && (int)strlen(caret) == col + 3 && caret[col + 2] == '^',
	      "'%s': caret line wrong in '%s'", expr, err.msg);
}

static void test_numbers(void)
{
	struct rec_flow r = v4("10.1.2.3", "192.168.0.9", 40000, 443);

	YES("", r);
	YES("   ", r);
	YES("dport = 443", r);
	YES("dport == 443", r);
	NO("dport = 80", r);
	YES("dport != 80", r);
	NO("dport != 443", r);
	YES("dport > 442", r);
	NO("dport > 443", r);
	YES("dport >= 443", r);
	YES("dport < 444", r);
	NO("dport < 443", r);
	YES("dport <= 443", r);
	YES("sport in 1000..50000", r);
	NO("sport in 1000..2000", r);
	YES("dport in {22, 80, 443}", r);
	NO("dport in {22, 80}", r);
	YES("dport in {22, 400..500}", r);
	YES("dport not in {22, 80}", r);
	NO("dport not in {443}", r);
	YES("port = 40000", r);
	YES("port = 443", r);
	NO("port = 22", r);
	YES("port in {22, 443}", r);
	NO("port != 443", r);
	YES("proto = tcp", r);
	YES("proto = 6", r);
	YES("proto in {udp, tcp}", r);
	NO("proto = udp", r);
	YES("packets = 10", r);
	YES("bytes > 1k", r);
	NO("bytes > 2k", r);
	NO("bytes < 1Ki", r);
	YES("bytes < 2Ki", r);
	YES("duration = 2s", r);
	YES("duration > 1500ms", r);
	NO("duration > 2s", r);
	YES("duration >= 2", r);
	YES("ipver = 4", r);
	YES("ethertype = 0x0800", r);
	YES("sample = 1", r);
	YES("fragments = 0", r);
}

static void test_enums(void)
{
	struct rec_flow r = v4("10.1.2.3", "192.168.0.9", 40000, 443);

	r.verdict = REC_VERDICT_REJECT;
	r.direction = REC_DIR_EGRESS;
	r.layer = REC_LAYER_ACL;
	r.rule_id = 1234;
	r.l2_class = REC_L2_BROADCAST;
	r.tcp_flags = REC_TCP_SYN | REC_TCP_ACK;
	r.end_reason = REC_END_TCP_CLOSE;
	YES("action = reject", r);
	YES("action = REJECT", r);
	NO("action = accept", r);
	YES("verdict != accept", r);
	YES("direction = egress", r);
	YES("dir = out", r);
	NO("direction = ingress", r);
	YES("layer = acl", r);
	NO("layer = sg", r);
	YES("rule = 1234", r);
	YES("rule in 1000..2000", r);
	YES("l2 = bcast", r);
	YES("l2 = broadcast", r);
	NO("l2 in {ucast, mcast}", r);
	YES("kind = flow", r);
	NO("kind = loss", r);
	YES("tcpflags has syn", r);
	YES("tcpflags has syn+ack", r);
	NO("tcpflags has fin", r);
	NO("tcpflags has syn+rst", r);
	YES("tcpflags = syn+ack", r);
	NO("tcpflags = syn", r);
	YES("tcpflags = 0x12", r);
	YES("end = tcp-close", r);
}

static void test_addresses(void)
{
	struct rec_flow r = v4("10.1.2.3", "192.168.0.9", 40000, 443);
	struct rec_flow s = v6("2001:db8::1", "fe80::1234", 5353, 53);

	YES("src = 10.1.2.3", r);
	NO("src = 10.1.2.4", r);
	YES("src in 10.0.0.0/8", r);
	NO("src in 10.1.2.0/31", r);
	YES("src in 10.1.2.2/31", r);
	YES("src in 0.0.0.0/0", r);
	NO("src in ::/0", r);          /* a v6 prefix never matches a v4 record */
	NO("dst in 10.0.0.0/8", r);
	YES("dst in {10.0.0.0/8, 192.168.0.0/16}", r);
	YES("addr = 192.168.0.9", r);
	YES("addr in 10.0.0.0/8", r);
	NO("addr in 172.16.0.0/12", r);
	YES("src not in 172.16.0.0/12", r);
	YES("addr != 1.2.3.4", r);
	NO("addr != 10.1.2.3", r);
	YES("src in 2001:db8::/32", s);
	NO("src in 2001:db9::/32", s);
	YES("src = 2001:db8::1", s);
	YES("dst in fe80::/10", s);
	YES("addr in fe80::/10", s);
	NO("src in 0.0.0.0/0", s);
	YES("src in 2001:db8::/127", s);
	NO("src in 2001:db8::2/127", s);
	YES("ipver = 6 and dport = 53", s);
}

static void test_enis(void)
{
	struct rec_flow r = v4("10.1.2.3", "192.168.0.9", 40000, 443);
	struct qry_err err;
	struct qry_filter *f;

	YES("eni = eni-aaa", r);
	NO("eni = eni-bbb", r);
	YES("eni = 7", r);
	NO("eni = 9", r);
	YES("eni in {eni-bbb, 7}", r);
	YES("vpc = vpc-1", r);
	NO("vpc = vpc-2", r);
	YES("subnet = subnet-1", r);
	YES("account = 111", r);
	NO("eni = eni-unknown", r);
	r.eni = 12;
	YES("vpc = vpc-2 and subnet = subnet-3", r);
	YES("eni != eni-aaa", r);

	/* Index skipping: three-valued evaluation knowing only the ENI. */
	f = qry_filter_compile("vpc = vpc-1 and dport = 443", &err);
	CHECK(f && qry_filter_bind(f, dict, 3) == 0, "%s", err.msg);
	CHECK(qry_filter_uses_eni(f), "uses_eni");
	CHECK(qry_filter_eni_may_match(f, 7) && qry_filter_eni_may_match(f, 9), "7/9");
	CHECK(!qry_filter_eni_may_match(f, 12), "12 cannot match");
	qry_filter_destroy(f);
	f = qry_filter_compile("eni = eni-ccc or dport = 443", &err);
	CHECK(f && qry_filter_bind(f, dict, 3) == 0, "%s", err.msg);
	CHECK(qry_filter_eni_may_match(f, 7), "or with unknown must say maybe");
	qry_filter_destroy(f);
	f = qry_filter_compile("not eni = eni-ccc", &err);
	CHECK(f && qry_filter_bind(f, dict, 3) == 0, "%s", err.msg);
	CHECK(!qry_filter_eni_may_match(f, 12) && qry_filter_eni_may_match(f, 7), "not");
	qry_filter_destroy(f);
	f = qry_filter_compile("dport = 1", &err);
	CHECK(f && !qry_filter_uses_eni(f) && qry_filter_eni_may_match(f, 12), "no eni");
	qry_filter_destroy(f);
}

static void test_logic(void)
{
	struct rec_flow r = v4("10.1.2.3", "192.168.0.9", 40000, 443);

	YES("dport = 443 and proto = tcp", r);
	NO("dport = 443 and proto = udp", r);
	YES("dport = 80 or proto = tcp", r);
	NO("dport = 80 or proto = udp", r);
	YES("not dport = 80", r);
	NO("not dport = 443", r);
	YES("! dport = 80", r);
	YES("dport = 443 && !(proto = udp || sport = 1)", r);
	/* and binds tighter than or */
	YES("dport = 443 or dport = 1 and proto = udp", r);
	NO("(dport = 443 or dport = 1) and proto = udp", r);
	YES("not not dport = 443", r);
	YES("((((dport = 443))))", r);
	YES("DPORT = 443 AND PROTO = TCP", r);
}

static void test_errors(void)
{
	bad("srcc = 1.2.3.4", 1, "unknown field 'srcc'");
	bad("dport = ", 9, "expected a value");
	bad("dport = http", 9, "expected a number");
	bad("src = 10.0.0.300", 7, "IPv4/IPv6");
	bad("src in 10.0.0.0/33", 8, "CIDR");
	bad("dport = 80 and", 15, "expected a field name");
	bad("dport = 80 80", 12, "expected 'and', 'or'");
	bad("(dport = 80", 12, "expected ')'");
	bad("dport in {22, 80", 17, "expected ',' or '}'");
	bad("dport in {}", 11, "empty list");
	bad("dport in 2000..1000", 10, "empty range");
	bad("dport in 10..x", 14, "range end");
	bad("proto = tcpp", 9, "protocol");
	bad("action = maybe", 10, "accept or reject");
	bad("src > 1.2.3.4", 5, "only =, != and in");
	bad("dport has syn", 7, "tcpflags only");
	bad("dport # 1", 7, "unexpected character '#'");
	bad("dport", 6, "expected a comparison");
	bad("dport not 5", 11, "expected 'in'");
	bad("l2 = ucast and tcpflags has bogus", 29, "tcpflags has");
	bad("bytes > 5X", 9, "suffix");
	{
		/* 600 "or"s make 1201 nodes: refused, pointing at the term past the bound */
		static char big[16384];
		size_t n = 0;
		for (int i = 0; i < 600; i++)
			n += (size_t)snprintf(big + n, sizeof(big) - n, "%sdport = %d", i ? " or " : "", i);
		struct qry_err err;
		struct qry_filter *f = qry_filter_compile(big, &err);
		CHECK(!f && strstr(err.msg, "too complex") && err.column > 1, "big: %.80s", err.msg);
		qry_filter_destroy(f);
		/* the same as a list compiles */
		n = (size_t)snprintf(big, sizeof(big), "dport in {");
		for (int i = 0; i < 600; i++)
			n += (size_t)snprintf(big + n, sizeof(big) - n, "%s%d", i ? ", " : "", i);
		snprintf(big + n, sizeof(big) - n, "}");
		f = qry_filter_compile(big, &err);
		CHECK(f != NULL, "list of 600: %s", err.msg);
		qry_filter_destroy(f);
	}
}

/* Burst selection equals per-record matching on random records, for nested expressions. */
static void test_burst(void)
{
	static const char *const exprs[] = {
		"dport in {22, 80, 443} and (proto = tcp or not action = reject)",
		"not (src in 10.0.0.0/8 or addr in 2001:db8::/32) or port = 53",
		"eni in {eni-aaa, 12} and bytes > 500 and tcpflags has syn",
		"(dport < 100 or sport > 60000) and not (l2 = bcast or ipver = 6)",
		"vpc = vpc-1 or duration >= 1s",
		"port in 1000..2000 or dst = 192.168.1.1",
		"",
	};
	static struct rec_flow recs[3000];
	uint64_t x = 12345;
	uint32_t in[QRY_FILTER_BURST], out[QRY_FILTER_BURST];
	char a[64], b[64];

	for (int i = 0; i < 3000; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		unsigned v = (unsigned)(x >> 33);
		snprintf(a, sizeof(a), "%u.%u.1.%u", v % 3 ? 10 : 192, (v >> 3) % 2 ? 168 : 0, v % 250);
		snprintf(b, sizeof(b), "192.168.%u.%u", (v >> 5) % 2, (v >> 7) % 4);
		recs[i] = (v >> 9) % 4 ? v4(a, b, (uint16_t)(v >> 11), (uint16_t)((v >> 13) % 3000))
					: v6(v % 2 ? "2001:db8::5" : "2001:db9::5", "fe80::1",
					     (uint16_t)(v >> 11), (uint16_t)((v >> 13) % 100));
		recs[i].eni = (v >> 17) % 2 ? 7 : 12;
		recs[i].protocol = (v >> 18) % 2 ? 6 : 17;
		recs[i].verdict = (v >> 19) % 2;
		recs[i].bytes = (v >> 20) % 1000;
		recs[i].tcp_flags = (uint8_t)(v >> 21);
		recs[i].l2_class = (v >> 23) % 3;
		recs[i].last_ns = recs[i].first_ns + ((v >> 25) % 2) * 2000000000ull;
	}
	for (size_t e = 0; e < sizeof(exprs) / sizeof(exprs[0]); e++) {
		struct qry_err err;
		struct qry_filter *f = qry_filter_compile(exprs[e], &err);
		CHECK(f && qry_filter_bind(f, dict, 3) == 0, "%s", err.msg);
		if (!f)
			continue;
		size_t total = 0, want_total = 0, considered = 0;
		for (int base = 0; base < 3000; base += QRY_FILTER_BURST) {
			uint32_t n = 0;
			/* every other record, to use a non-trivial input list */
			for (int i = base; i < 3000 && i < base + 2 * QRY_FILTER_BURST && n < QRY_FILTER_BURST; i += 2)
				in[n++] = (uint32_t)i;
			size_t got = qry_filter_select(f, recs, in, n, out), k = 0;
			considered += n;
			for (uint32_t i = 0; i < n; i++) {
				bool want = qry_filter_match(f, &recs[in[i]]);
				want_total += want;
				if (want) {
					CHECK(k < got && out[k] == in[i], "'%s': record %u missing from select",
					      exprs[e], in[i]);
					k++;
				}
			}
			CHECK(k == got, "'%s': select gave %zu, match %zu", exprs[e], got, k);
			total += got;
		}
		CHECK(want_total > 0 && (e == 6 || want_total < considered), "'%s' degenerate: %zu of %zu",
		      exprs[e], want_total, considered);
		qry_filter_destroy(f);
	}
}

/*
 * Robustness: 20000 random mutations of valid expressions either compile
 * (and then match without trouble) or fail with a column inside the text.
 */
static void test_mutations(void)
{
	static const char *const seeds[] = {
		"src in 10.0.0.0/8 and dport in {22, 80, 443}",
		"not (addr in 2001:db8::/32 or port = 53) || tcpflags has syn+ack",
		"eni in {eni-aaa, 12} and bytes > 5Ki and duration < 1.5s",
		"(dport in 1000..2000 or proto = udp) and action = reject and l2 = bcast",
	};
	static const char alphabet[] = " (){},.:/=!<>&|abcdeinorst0123456789-+_#\"\t";
	struct rec_flow r = v4("10.1.2.3", "192.168.0.9", 40000, 443);
	uint64_t x = 99;
	char buf[256];

	for (int i = 0; i < 20000; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		const char *seed = seeds[(x >> 40) % 4];
		size_t len = strlen(seed);
		memcpy(buf, seed, len + 1);
		for (int k = 0; k < 1 + (int)((x >> 20) % 4); k++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			size_t at = (x >> 33) % (len + 1);
			char c = alphabet[(x >> 13) % (sizeof(alphabet) - 1)];
			switch ((x >> 50) % 3) {
			case 0: if (at < len) buf[at] = c; break;            /* replace */
			case 1: if (at < len) { memmove(buf + at, buf + at + 1, len - at); len--; } break;
			default:
				if (len + 1 < sizeof(buf)) {                   /* insert */
					memmove(buf + at + 1, buf + at, len - at + 1);
					buf[at] = c;
					len++;
				}
			}
		}
		struct qry_err err;
		struct qry_filter *f = qry_filter_compile(buf, &err);
		if (f) {
			uint32_t in = 0, out;
			CHECK(qry_filter_bind(f, dict, 3) == 0, "bind");
			bool a = qry_filter_match(f, &r);
			CHECK(qry_filter_select(f, &r, &in, 1, &out) == (size_t)a, "'%s': select != match", buf);
			qry_filter_destroy(f);
		} else {
			CHECK(errno == EINVAL && err.column >= 1 && err.column <= (int)len + 1 &&
				      strstr(err.msg, "column"),
			      "'%s': column %d of %zu, '%s'", buf, err.column, len, err.msg);
		}
	}
}

int main(void)
{
	test_burst();
	test_mutations();
	test_numbers();
	test_enums();
	test_addresses();
	test_enis();
	test_logic();
	test_errors();
	if (failures) {
		fprintf(stderr, "%d failure(s)\n", failures);
		return 1;
	}
	printf("query filter: all passed\n");
	return 0;
}
