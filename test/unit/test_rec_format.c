/* Proves JSON, CSV and AWS renderings of hand-built records (each kind; v4, v6, non-IP) are exactly the documented strings. */
#include "rec_format.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int failures;

#include "test_check.h"

/* Format r as f and compare with want, printing both on a mismatch. */
static void expect(enum rec_fmt f, const struct rec_flow *r, const struct seg_eni_info *eni,
		   const char *want, int line)
{
	char buf[REC_FMT_LINE_MAX];
	int n = rec_format(f, r, eni, buf, sizeof(buf));

	if (n < 0 || strcmp(buf, want) != 0 || (size_t)n != strlen(want)) {
		fprintf(stderr, "line %d: FAIL %s format (rc %d)\n  got:  %s  want: %s",
			line, rec_fmt_name(f), n, buf, want);
		failures++;
	}
}
#define EXPECT(f, r, eni, want) expect((f), (r), (eni), (want), __LINE__)

static const struct seg_eni_info eni3 = {
	.index = 3,
	.eni_id = "eni-0a1b2c3d4e5f60718",
	.vpc_id = "vpc-0123",
	.subnet_id = "subnet-0456",
	.account_id = "123456789012",
};

static struct rec_flow base(void)
{
	struct rec_flow r;
	memset(&r, 0, sizeof(r));
	r.version = REC_VERSION;
	r.eni = 3;
	r.sample_1_in_n = 1;
	r.first_ns = 1764322825123456789ull;
	r.last_ns = 1764322830999999999ull;
	return r;
}

static struct rec_flow tcp_v4(void)
{
	struct rec_flow r = base();
	r.kind = REC_KIND_FLOW;
	r.direction = REC_DIR_INGRESS;
	r.verdict = REC_VERDICT_ACCEPT;
	r.ip_version = 4;
	r.protocol = 6;
	r.tcp_flags = REC_TCP_SYN | REC_TCP_ACK | REC_TCP_FIN;
	r.layer = REC_LAYER_SG;
	r.rule_id = 42;
	r.end_reason = REC_END_TCP_CLOSE;
	r.l2_class = REC_L2_UNICAST;
	r.ethertype = 0x0800;
	r.src_port = 443;
	r.dst_port = 51000;
	r.src_addr[0] = 10; r.src_addr[2] = 1; r.src_addr[3] = 5;
	r.dst_addr[0] = 10; r.dst_addr[2] = 2; r.dst_addr[3] = 9;
	r.packets = 10;
	r.bytes = 8400;
	return r;
}

static void test_tcp_v4(void)
{
	struct rec_flow r = tcp_v4();

	EXPECT(REC_FMT_AWS, &r, &eni3,
	       "2 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.5 10.0.2.9 443 51000 6 10 8400 "
	       "1764322825 1764322830 ACCEPT OK\n");
	EXPECT(REC_FMT_JSON, &r, &eni3,
	       "{\"version\":5,\"account-id\":\"123456789012\",\"interface-id\":\"eni-0a1b2c3d4e5f60718\","
	       "\"srcaddr\":\"10.0.1.5\",\"dstaddr\":\"10.0.2.9\",\"srcport\":443,\"dstport\":51000,"
	       "\"protocol\":6,\"packets\":10,\"bytes\":8400,\"start\":1764322825,\"end\":1764322830,"
	       "\"action\":\"ACCEPT\",\"log-status\":\"OK\",\"vpc-id\":\"vpc-0123\","
	       "\"subnet-id\":\"subnet-0456\",\"type\":\"IPv4\",\"tcp-flags\":19,"
	       "\"flow-direction\":\"ingress\",\"record-version\":1,\"eni-index\":3,\"rule-id\":42,"
	       "\"layer\":\"sg\",\"end-reason\":\"tcp-close\",\"l2-class\":\"unicast\","
	       "\"ethertype\":\"0x0800\",\"icmp-type\":null,\"icmp-code\":null,\"sample-1-in-n\":1,"
	       "\"fragments\":0,\"start-ns\":1764322825123456789,\"end-ns\":1764322830999999999,"
	       "\"lost-packets\":null,\"lost-bytes\":null,\"lost-records\":null}\n");
	EXPECT(REC_FMT_CSV, &r, &eni3,
	       "5,123456789012,eni-0a1b2c3d4e5f60718,10.0.1.5,10.0.2.9,443,51000,6,10,8400,"
	       "1764322825,1764322830,ACCEPT,OK,vpc-0123,subnet-0456,IPv4,19,ingress,1,3,42,sg,"
	       "tcp-close,unicast,0x0800,,,1,0,1764322825123456789,1764322830999999999,,,\n");
}

static void test_icmp_v6(void)
{
	static const uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	static const uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
	struct rec_flow r = base();

	r.direction = REC_DIR_EGRESS;
	r.verdict = REC_VERDICT_REJECT;
	r.ip_version = 6;
	r.protocol = 58;
	r.layer = REC_LAYER_ACL;
	r.rule_id = 7;
	r.end_reason = REC_END_IDLE;
	r.l2_class = REC_L2_UNICAST;
	r.ethertype = 0x86dd;
	r.src_port = 128; /* echo request */
	r.dst_port = 0;
	memcpy(r.src_addr, a, 16);
	memcpy(r.dst_addr, b, 16);
	r.packets = 3;
	r.bytes = 354;
	r.sample_1_in_n = 100;
	r.fragments = 2;

	/* AWS prints ICMP with ports 0; type and code are in icmp-type/icmp-code. */
	EXPECT(REC_FMT_AWS, &r, &eni3,
	       "2 123456789012 eni-0a1b2c3d4e5f60718 2001:db8::1 2001:db8::2 0 0 58 3 354 "
	       "1764322825 1764322830 REJECT OK\n");
	EXPECT(REC_FMT_CSV, &r, &eni3,
	       "5,123456789012,eni-0a1b2c3d4e5f60718,2001:db8::1,2001:db8::2,0,0,58,3,354,"
	       "1764322825,1764322830,REJECT,OK,vpc-0123,subnet-0456,IPv6,0,egress,1,3,7,acl,"
	       "idle,unicast,0x86dd,128,0,100,2,1764322825123456789,1764322830999999999,,,\n");
	EXPECT(REC_FMT_JSON, &r, NULL,
	       "{\"version\":5,\"account-id\":null,\"interface-id\":null,"
	       "\"srcaddr\":\"2001:db8::1\",\"dstaddr\":\"2001:db8::2\",\"srcport\":0,\"dstport\":0,"
	       "\"protocol\":58,\"packets\":3,\"bytes\":354,\"start\":1764322825,\"end\":1764322830,"
	       "\"action\":\"REJECT\",\"log-status\":\"OK\",\"vpc-id\":null,"
	       "\"subnet-id\":null,\"type\":\"IPv6\",\"tcp-flags\":0,"
	       "\"flow-direction\":\"egress\",\"record-version\":1,\"eni-index\":3,\"rule-id\":7,"
	       "\"layer\":\"acl\",\"end-reason\":\"idle\",\"l2-class\":\"unicast\","
	       "\"ethertype\":\"0x86dd\",\"icmp-type\":128,\"icmp-code\":0,\"sample-1-in-n\":100,"
	       "\"fragments\":2,\"start-ns\":1764322825123456789,\"end-ns\":1764322830999999999,"
	       "\"lost-packets\":null,\"lost-bytes\":null,\"lost-records\":null}\n");
	/* IPv4 ICMP is recognised by protocol 1, and ICMPv4's number 58 is not ICMP. */
	r.ip_version = 4;
	memset(r.src_addr, 0, 16);
	memset(r.dst_addr, 0, 16);
	r.src_addr[0] = 192; r.src_addr[1] = 0; r.src_addr[2] = 2; r.src_addr[3] = 1;
	r.protocol = 1;
	r.src_port = 3;
	r.dst_port = 4;
	EXPECT(REC_FMT_AWS, &r, &eni3,
	       "2 123456789012 eni-0a1b2c3d4e5f60718 192.0.2.1 0.0.0.0 0 0 1 3 354 "
	       "1764322825 1764322830 REJECT OK\n");
	r.protocol = 58;
	EXPECT(REC_FMT_AWS, &r, &eni3,
	       "2 123456789012 eni-0a1b2c3d4e5f60718 192.0.2.1 0.0.0.0 3 4 58 3 354 "
	       "1764322825 1764322830 REJECT OK\n");
}

static void test_non_ip(void)
{
	struct rec_flow r = base();

	r.ethertype = 0x0806;
	r.l2_class = REC_L2_BROADCAST;
	r.end_reason = REC_END_ACTIVE;
	r.packets = 5;
	r.bytes = 300;
	EXPECT(REC_FMT_AWS, &r, &eni3,
	       "2 123456789012 eni-0a1b2c3d4e5f60718 - - - - - 5 300 1764322825 1764322830 ACCEPT OK\n");
	EXPECT(REC_FMT_CSV, &r, &eni3,
	       "5,123456789012,eni-0a1b2c3d4e5f60718,,,,,,5,300,1764322825,1764322830,ACCEPT,OK,"
	       "vpc-0123,subnet-0456,,,ingress,1,3,0,none,active,broadcast,0x0806,,,1,0,"
	       "1764322825123456789,1764322830999999999,,,\n");
}

static void test_loss_nodata(void)
{
	struct rec_flow r = base();

	r.kind = REC_KIND_LOSS;
	r.end_reason = REC_END_LOSS_RING;
	r.packets = 1000;
	r.bytes = 64000;
	r.lost_records = 17;
	EXPECT(REC_FMT_AWS, &r, &eni3,
	       "2 123456789012 eni-0a1b2c3d4e5f60718 - - - - - - - 1764322825 1764322830 - SKIPDATA\n");
	EXPECT(REC_FMT_JSON, &r, &eni3,
	       "{\"version\":5,\"account-id\":\"123456789012\",\"interface-id\":\"eni-0a1b2c3d4e5f60718\","
	       "\"srcaddr\":null,\"dstaddr\":null,\"srcport\":null,\"dstport\":null,"
	       "\"protocol\":null,\"packets\":null,\"bytes\":null,\"start\":1764322825,\"end\":1764322830,"
	       "\"action\":null,\"log-status\":\"SKIPDATA\",\"vpc-id\":\"vpc-0123\","
	       "\"subnet-id\":\"subnet-0456\",\"type\":null,\"tcp-flags\":null,"
	       "\"flow-direction\":null,\"record-version\":1,\"eni-index\":3,\"rule-id\":null,"
	       "\"layer\":null,\"end-reason\":\"ring-full\",\"l2-class\":null,"
	       "\"ethertype\":null,\"icmp-type\":null,\"icmp-code\":null,\"sample-1-in-n\":1,"
	       "\"fragments\":null,\"start-ns\":1764322825123456789,\"end-ns\":1764322830999999999,"
	       "\"lost-packets\":1000,\"lost-bytes\":64000,\"lost-records\":17}\n");
	EXPECT(REC_FMT_CSV, &r, &eni3,
	       "5,123456789012,eni-0a1b2c3d4e5f60718,,,,,,,,1764322825,1764322830,,SKIPDATA,"
	       "vpc-0123,subnet-0456,,,,1,3,,,ring-full,,,,,1,,"
	       "1764322825123456789,1764322830999999999,1000,64000,17\n");

	r = base();
	r.kind = REC_KIND_NODATA;
	EXPECT(REC_FMT_AWS, &r, &eni3,
	       "2 123456789012 eni-0a1b2c3d4e5f60718 - - - - - - - 1764322825 1764322830 - NODATA\n");
	EXPECT(REC_FMT_CSV, &r, &eni3,
	       "5,123456789012,eni-0a1b2c3d4e5f60718,,,,,,,,1764322825,1764322830,,NODATA,"
	       "vpc-0123,subnet-0456,,,,1,3,,,,,,,,1,,"
	       "1764322825123456789,1764322830999999999,,,\n");
	EXPECT(REC_FMT_AWS, &r, NULL,
	       "2 - - - - - - - - - 1764322825 1764322830 - NODATA\n");
}

/* Dictionary strings are user data: each format must keep its line one record. */
static void test_escaping(void)
{
	struct seg_eni_info e = eni3;
	struct rec_flow r = base();

	r.kind = REC_KIND_NODATA;
	snprintf(e.eni_id, sizeof(e.eni_id), "eni \"x\",y");
	snprintf(e.account_id, sizeof(e.account_id), "a\\b\n\x01\xe9");
	EXPECT(REC_FMT_AWS, &r, &e,
	       "2 a\\b??? eni?\"x\",y - - - - - - - 1764322825 1764322830 - NODATA\n");
	EXPECT(REC_FMT_CSV, &r, &e,
	       "5,\"a\\b\n\x01\xe9\",\"eni \"\"x\"\",y\",,,,,,,,1764322825,1764322830,,NODATA,"
	       "vpc-0123,subnet-0456,,,,1,3,,,,,,,,1,,"
	       "1764322825123456789,1764322830999999999,,,\n");
	char buf[REC_FMT_LINE_MAX];
	int n = rec_format(REC_FMT_JSON, &r, &e, buf, sizeof(buf));
	const char *want = "{\"version\":5,\"account-id\":\"a\\\\b\\u000a\\u0001\\u00e9\","
			   "\"interface-id\":\"eni \\\"x\\\",y\",";
	CHECK(n > 0 && strncmp(buf, want, strlen(want)) == 0, "got %s", buf);
}

/* Unknown enum values still print (as numbers), so a reader shows what is there. */
static void test_unknown_values(void)
{
	struct rec_flow r = tcp_v4();

	r.verdict = 9;
	r.direction = 8;
	r.layer = 7;
	r.end_reason = 6;
	r.l2_class = 5;
	r.kind = 4;
	EXPECT(REC_FMT_AWS, &r, &eni3,
	       "2 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.5 10.0.2.9 443 51000 6 10 8400 "
	       "1764322825 1764322830 9 4\n");
	EXPECT(REC_FMT_CSV, &r, &eni3,
	       "5,123456789012,eni-0a1b2c3d4e5f60718,10.0.1.5,10.0.2.9,443,51000,6,10,8400,"
	       "1764322825,1764322830,9,4,vpc-0123,subnet-0456,IPv4,19,8,1,3,42,7,"
	       "6,5,0x0800,,,1,0,1764322825123456789,1764322830999999999,,,\n");
}

/* Buffer limits: REC_FMT_LINE_MAX holds the worst case; a short buffer gets -ENOSPC. */
static void test_sizes(void)
{
	struct seg_eni_info e;
	struct rec_flow r = tcp_v4();
	char buf[REC_FMT_LINE_MAX];
	char tiny[40];

	memset(&e, 0x01, sizeof(e)); /* every string byte needs \u0001 in JSON */
	e.eni_id[SEG_ID_LEN - 1] = e.vpc_id[SEG_ID_LEN - 1] = 0;
	e.subnet_id[SEG_ID_LEN - 1] = e.account_id[SEG_ID_LEN - 1] = 0;
	memset(r.src_addr, 0xff, 16);
	memset(r.dst_addr, 0xff, 16);
	r.ip_version = 6;
	r.packets = r.bytes = UINT64_MAX;
	for (int f = 0; f < REC_FMT_MAX; f++) {
		int n = rec_format((enum rec_fmt)f, &r, &e, buf, sizeof(buf));
		CHECK(n > 0 && n < REC_FMT_LINE_MAX, "%s worst case: rc %d", rec_fmt_name(f), n);
		CHECK(n > 0 && buf[n - 1] == '\n' && strchr(buf, '\n') == buf + n - 1,
		      "%s: not exactly one line", rec_fmt_name(f));
	}
	int n = rec_format(REC_FMT_JSON, &r, &e, tiny, sizeof(tiny));
	CHECK(n == -ENOSPC && tiny[0] == '\0', "tiny buffer: rc %d, buf '%s'", n, tiny);
	r = tcp_v4();
	n = rec_format(REC_FMT_AWS, &r, &eni3, buf, sizeof(buf));
	/* exactly the length needed plus the NUL fits; one byte less does not */
	CHECK(n > 0 && rec_format(REC_FMT_AWS, &r, &eni3, buf, (size_t)n + 1) == n, "exact fit");
	CHECK(rec_format(REC_FMT_AWS, &r, &eni3, buf, (size_t)n) == -ENOSPC, "one short");
	CHECK(rec_format(REC_FMT_MAX, &r, &eni3, buf, sizeof(buf)) == -EINVAL, "bad format");
}

static void test_names(void)
{
	enum rec_fmt f = REC_FMT_MAX;

	CHECK(rec_fmt_parse("csv", &f) == 0 && f == REC_FMT_CSV, "csv -> %d", f);
	CHECK(rec_fmt_parse("aws", &f) == 0 && f == REC_FMT_AWS, "aws -> %d", f);
	CHECK(rec_fmt_parse("json", &f) == 0 && f == REC_FMT_JSON, "json -> %d", f);
	CHECK(rec_fmt_parse("JSON", &f) == -EINVAL, "JSON accepted");
	CHECK(rec_fmt_parse("", &f) == -EINVAL, "empty accepted");
	CHECK(strcmp(rec_fmt_header(REC_FMT_AWS),
		     "version account-id interface-id srcaddr dstaddr srcport dstport protocol "
		     "packets bytes start end action log-status\n") == 0,
	      "aws header %s", rec_fmt_header(REC_FMT_AWS));
	CHECK(strcmp(rec_fmt_header(REC_FMT_CSV),
		     "version,account-id,interface-id,srcaddr,dstaddr,srcport,dstport,protocol,"
		     "packets,bytes,start,end,action,log-status,vpc-id,subnet-id,type,tcp-flags,"
		     "flow-direction,record-version,eni-index,rule-id,layer,end-reason,l2-class,"
		     "ethertype,icmp-type,icmp-code,sample-1-in-n,fragments,start-ns,end-ns,"
		     "lost-packets,lost-bytes,lost-records\n") == 0,
	      "csv header %s", rec_fmt_header(REC_FMT_CSV));
	CHECK(strcmp(rec_fmt_header(REC_FMT_JSON), "") == 0, "json header");
	CHECK(rec_fmt_header(REC_FMT_MAX) == NULL, "bad format header");
}

int main(void)
{
	test_tcp_v4();
	test_icmp_v6();
	test_non_ip();
	test_loss_nodata();
	test_escaping();
	test_unknown_values();
	test_sizes();
	test_names();
	if (failures) {
		fprintf(stderr, "test_rec_format: %d failures\n", failures);
		return 1;
	}
	printf("test_rec_format: ok\n");
	return 0;
}
