/* Proves the IPFIX encoder writes the documented bytes, keeps messages within the bound, numbers them per RFC 7011, and that the exporter delivers or counts every record over UDP and TCP. */
#include "ipfix.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int failures;

#include "test_check.h"

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) << 16 | rd16(p + 2); }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) << 32 | rd32(p + 4); }

/* ---- an independent decoder: templates are learnt from the wire ---- */

struct tfield { uint16_t ie, len; uint32_t pen; };
struct ttpl { uint16_t id, nf, scope; struct tfield f[48]; };
static struct ttpl tpls[8];
static int ntpls;

static struct ttpl *find_tpl(uint16_t id)
{
	for (int i = 0; i < ntpls; i++)
		if (tpls[i].id == id)
			return &tpls[i];
	return NULL;
}

/* One decoded data record: value pointer and length per (pen, ie). */
struct drec { uint16_t tid; int n; struct { uint16_t ie; uint32_t pen; const uint8_t *v; uint16_t len; } f[48]; };

static const uint8_t *get(const struct drec *d, uint32_t pen, uint16_t ie, uint16_t *len)
{
	for (int i = 0; i < d->n; i++)
		if (d->f[i].ie == ie && d->f[i].pen == pen) {
			if (len)
				*len = d->f[i].len;
			return d->f[i].v;
		}
	return NULL;
}

static int parse_tpl_set(const uint8_t *p, const uint8_t *end, int options)
{
	while (end - p >= 4) {
		struct ttpl *t = find_tpl(rd16(p)); /* a refresh replaces */
		if (!t && ntpls == 8)
			return -1;
		t = t ? t : &tpls[ntpls++];
		t->id = rd16(p);
		t->nf = rd16(p + 2);
		p += 4;
		t->scope = options ? rd16(p) : 0;
		p += options ? 2 : 0;
		for (int i = 0; i < t->nf; i++) {
			uint16_t ie = rd16(p);
			t->f[i].ie = ie & 0x7fff;
			t->f[i].len = rd16(p + 2);
			t->f[i].pen = ie & 0x8000 ? rd32(p + 4) : 0;
			if (i == 47)
				return -1;
			p += ie & 0x8000 ? 8 : 4;
		}
	}
	return p == end ? 0 : -1;
}

/* Decode a message: learn templates, hand data records to out[]. Returns records or -1. */
static int decode(const uint8_t *m, size_t len, struct drec *out, int max)
{
	const uint8_t *p = m + 16, *end = m + len;
	int n = 0;

	if (len < 16 || rd16(m) != 10 || rd16(m + 2) != len)
		return -1;
	while (p < end) {
		uint16_t sid = rd16(p), slen = rd16(p + 2);
		const uint8_t *q = p + 4, *send = p + slen;
		if (slen < 4 || send > end)
			return -1;
		if (sid == 2 || sid == 3) {
			if (parse_tpl_set(q, send, sid == 3))
				return -1;
		} else {
			struct ttpl *t = find_tpl(sid);
			if (!t)
				return -1;
			while (q < send && n < max) {
				struct drec *d = &out[n++];
				d->tid = sid;
				d->n = t->nf;
				for (int i = 0; i < t->nf; i++) {
					uint16_t l = t->f[i].len;
					if (l == 0xffff)
						l = *q++;
					d->f[i].ie = t->f[i].ie;
					d->f[i].pen = t->f[i].pen;
					d->f[i].v = q;
					d->f[i].len = l;
					q += l;
				}
			}
			if (q != send)
				return -1;
		}
		p = send;
	}
	return n;
}

static const struct seg_eni_info enis[2] = {
	{3, "eni-0123456789abcdef0", "vpc-0aaaabbbbccccdddd", "subnet-0123abcd4567ef890", "123456789012"},
	{9, "eni-09", "vpc-9", "subnet-9", "999"},
};

static struct rec_flow mk(int i)
{
	struct rec_flow r;
	memset(&r, 0, sizeof(r));
	r.version = REC_VERSION;
	r.kind = REC_KIND_FLOW;
	r.ip_version = i % 3 == 0 ? 4 : i % 3 == 1 ? 6 : 0;
	r.protocol = r.ip_version ? (i % 2 ? 17 : 6) : 0;
	r.ethertype = r.ip_version == 4 ? 0x0800 : r.ip_version == 6 ? 0x86dd : 0x0806;
	r.direction = (uint8_t)(i & 1);
	r.eni = i % 5 == 0 ? 77 : (i % 2 ? 3 : 9); /* 77: not in the dictionary */
	r.src_port = (uint16_t)(1000 + i);
	r.dst_port = 443;
	for (int k = 0; k < 16; k++) {
		r.src_addr[k] = (uint8_t)(r.ip_version == 6 || k < 4 ? 10 + k + i : 0);
		r.dst_addr[k] = (uint8_t)(r.ip_version == 6 || k < 4 ? 200 - k : 0);
	}
	if (!r.ip_version)
		memset(r.src_addr, 0, 32), r.src_port = r.dst_port = 0;
	r.packets = 1000u + (uint64_t)i;
	r.bytes = 1500000u + (uint64_t)i * 7;
	r.first_ns = 1700000000123456789ull + (uint64_t)i * 1000000;
	r.last_ns = r.first_ns + 999999999u;
	r.rule_id = (uint32_t)i;
	r.sample_1_in_n = 1;
	return r;
}

static void test_template_bytes(void)
{
	struct ipfix_enc_opts o = {.domain_id = 7};
	struct ipfix_enc *e = ipfix_enc_create(&o);
	uint8_t buf[2048];
	long len = ipfix_enc_templates(e, 0x01020304, NULL, buf, sizeof(buf));
	/* Hand-computed: 26/26/19 flow-template fields (17/17/10 IANA, 9 enterprise),
	 * loss options 12 fields (9 enterprise), stats 4: 16 + 4+144+144+116 + 4+90+22. */
	static const uint8_t head[] = {
		0x00, 0x0a, 0x02, 0x1c, 0x01, 0x02, 0x03, 0x04, 0, 0, 0, 0, 0, 0, 0, 7,
		0x00, 0x02, 0x01, 0x98,             /* template set, 408 bytes */
		0x01, 0x00, 0x00, 0x1a,             /* template 256, 26 fields */
		0x00, 0x08, 0x00, 0x04, 0x00, 0x0c, 0x00, 0x04, /* src/dst IPv4 */
		0x00, 0x07, 0x00, 0x02, 0x00, 0x0b, 0x00, 0x02, /* ports */
		0x00, 0x04, 0x00, 0x01, 0x00, 0x06, 0x00, 0x02, /* proto, tcp flags */
		0x00, 0x20, 0x00, 0x02, 0x00, 0x3d, 0x00, 0x01, /* icmpTypeCodeIPv4, flowDirection */
		0x00, 0x88, 0x00, 0x01, 0x00, 0x59, 0x00, 0x01, /* flowEndReason, forwardingStatus */
		0x01, 0x00, 0x00, 0x02, 0x00, 0x0a, 0x00, 0x04, /* ethernetType, ingressInterface */
		0x00, 0x0e, 0x00, 0x04, 0x00, 0x02, 0x00, 0x08, /* egressInterface, packets */
		0x00, 0x01, 0x00, 0x08, 0x00, 0x98, 0x00, 0x08, /* octets, flowStartMilliseconds */
		0x00, 0x99, 0x00, 0x08,                         /* flowEndMilliseconds */
		0x80, 0x0d, 0x00, 0x04, 0x00, 0x00, 0x7e, 0xd9, /* eniIndex, PEN 32473 */
	};
	CHECK(len == 540, "template message length %ld", len);
	CHECK(memcmp(buf, head, sizeof(head)) == 0, "template message head differs");
	/* The variable-length ENI id: enterprise bit, id 1, length 65535, PEN. */
	static const uint8_t eni_id[] = {0x80, 0x01, 0xff, 0xff, 0x00, 0x00, 0x7e, 0xd9};
	CHECK(memmem(buf, (size_t)len, eni_id, sizeof(eni_id)) != NULL, "no ENI id field");
	CHECK(ipfix_enc_seq(e) == 0, "templates advanced seq to %u", ipfix_enc_seq(e));

	/* With nanoseconds and a loss report: still within IPFIX_MIN_MTU. */
	ipfix_enc_destroy(e);
	o.nanoseconds = true;
	o.max_msg = IPFIX_MIN_MTU;
	e = ipfix_enc_create(&o);
	struct ipfix_loss_counts c = {5, 6, 7};
	len = ipfix_enc_templates(e, 1, &c, buf, sizeof(buf));
	CHECK(len == 540 + 3 * 8 + 32, "templates+ns+stats length %ld", len);
	CHECK(len > 0 && (uint32_t)len <= IPFIX_MIN_MTU, "%ld over %u", len, IPFIX_MIN_MTU);
	CHECK(ipfix_enc_seq(e) == 1, "stats record must count: seq %u", ipfix_enc_seq(e));
	CHECK(rd16(buf + len - 32) == IPFIX_TPL_STATS && rd16(buf + len - 30) == 32 &&
	      rd32(buf + len - 28) == 7 && rd64(buf + len - 24) == 5 &&
	      rd64(buf + len - 16) == 6 && rd64(buf + len - 8) == 7, "stats set bytes");
	ipfix_enc_destroy(e);
	o.max_msg = IPFIX_MIN_MTU - 1;
	CHECK(ipfix_enc_create(&o) == NULL && errno == EINVAL, "mtu below minimum accepted");
}

static void test_data_bytes(void)
{
	struct ipfix_enc_opts o = {.domain_id = 0x01020304};
	struct ipfix_enc *e = ipfix_enc_create(&o);
	struct rec_flow r = mk(0); /* IPv4 TCP, eni 77 (unknown) */
	struct ipfix_enc_result res;
	uint8_t buf[1400];
	static const uint8_t want[] = {
		0x00, 0x0a, 0x00, 0x64, 0, 0, 0, 9, 0, 0, 0, 0, 0x01, 0x02, 0x03, 0x04,
		0x01, 0x00, 0x00, 0x54,             /* set 256, 84 bytes */
		10, 11, 12, 13, 200, 199, 198, 197, /* addresses */
		0x03, 0xe8, 0x01, 0xbb, 6, 0x00, 0x00, 0x00, 0x00, /* ports, proto, flags, icmp */
		0, 1, 66, 0x08, 0x00,               /* ingress, idle, forwarded, IPv4 */
		0, 0, 0, 0, 0, 0, 0, 78,            /* in if 0, out if eni+1 */
		0, 0, 0, 0, 0, 0, 0x03, 0xe8,       /* packets 1000 */
		0, 0, 0, 0, 0, 0x16, 0xe3, 0x60,    /* bytes 1500000 */
		0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b, /* start ms 1700000000123 */
		0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x6c, 0x63, /* end ms 1700000001123 */
		0, 0, 0, 77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, /* eni, layer, rule, l2, sample */
		0, 0, 0, 0,                         /* four empty strings */
	};
	long len = ipfix_enc_data(e, &r, 1, 9, buf, sizeof(buf), &res);
	CHECK(len == (long)sizeof(want), "length %ld want %zu", len, sizeof(want));
	CHECK(len > 0 && memcmp(buf, want, sizeof(want)) == 0, "data record bytes differ");
	for (long i = 0; len == (long)sizeof(want) && i < len; i++)
		if (buf[i] != want[i]) {
			fprintf(stderr, "  first difference at byte %ld: 0x%02x want 0x%02x\n", i, buf[i], want[i]);
			break;
		}
	CHECK(res.used == 1 && res.records == 1 && res.packets == 1000, "res %zu %zu", res.used, res.records);
	CHECK(ipfix_enc_seq(e) == 1, "seq %u", ipfix_enc_seq(e));

	/* ICMP: ports move into icmpTypeCode; REJECT by an SG rule is 129. */
	r.protocol = 1; r.src_port = 8; r.dst_port = 0;
	r.verdict = REC_VERDICT_REJECT; r.layer = REC_LAYER_SG;
	len = ipfix_enc_data(e, &r, 1, 9, buf, sizeof(buf), &res);
	CHECK(rd32(buf + 8) == 1, "second message seq %u", rd32(buf + 8));
	CHECK(rd16(buf + 28) == 0 && rd16(buf + 30) == 0 && rd16(buf + 35) == 0x0800,
	      "icmp ports %u %u typecode 0x%04x", rd16(buf + 28), rd16(buf + 30), rd16(buf + 35));
	CHECK(buf[39] == 129, "forwardingStatus %u", buf[39]);
	ipfix_enc_destroy(e);
}

/* Compare one decoded data record with the record it came from; returns mismatches. */
static int check_rec(const struct rec_flow *r, const struct drec *x, bool ns)
{
	const char *want = r->eni == 3 ? enis[0].eni_id : r->eni == 9 ? enis[1].eni_id : "";
	const uint8_t *v = get(x, 0, 152, NULL);
	uint16_t l;
	int bad = 0;

	bad += !v || rd64(v) != r->first_ns / 1000000;
	v = get(x, IPFIX_DEFAULT_PEN, IPFIX_ENT_ENI_ID, &l);
	bad += !v || l != strlen(want) || memcmp(v, want, l);
	if (r->kind == REC_KIND_LOSS) {
		bad += x->tid != IPFIX_TPL_LOSS;
		v = get(x, IPFIX_DEFAULT_PEN, IPFIX_ENT_LOST_RECORDS, NULL);
		return bad + (!v || rd32(v) != 5);
	}
	bad += x->tid != (r->ip_version == 4 ? 256 : r->ip_version == 6 ? 257 : 258);
	v = get(x, 0, 2, NULL);
	bad += !v || rd64(v) != r->packets;
	v = get(x, 0, 1, NULL);
	bad += !v || rd64(v) != r->bytes;
	if (ns) {
		v = get(x, 0, 157, NULL);
		bad += !v || rd32(v) != r->last_ns / 1000000000 + 2208988800u ||
		       ((uint64_t)rd32(v + 4) * 1000000000u) >> 32 != r->last_ns % 1000000000u;
	}
	if (r->ip_version == 6) {
		v = get(x, 0, 27, NULL);
		bad += !v || memcmp(v, r->src_addr, 16);
	} else if (r->ip_version == 4) {
		v = get(x, 0, 11, NULL);
		bad += !v || rd16(v) != r->dst_port;
	}
	return bad;
}

/* Many records: each message within the bound, all decoded, values and seq right. */
static void test_bound_and_seq(uint32_t mtu, bool ns)
{
	enum { N = 3000 };
	struct ipfix_enc_opts o = {.domain_id = 1, .max_msg = mtu, .nanoseconds = ns};
	struct ipfix_enc *e = ipfix_enc_create(&o);
	static struct rec_flow recs[N];
	static struct drec d[1000];
	uint8_t buf[65536];
	size_t at = 0, enc_recs = 0, nodata = 0, msgs = 0;
	uint32_t seq = 0;
	int bad = 0;

	ntpls = 0;
	ipfix_enc_set_enis(e, enis, 2);
	for (int i = 0; i < N; i++) {
		recs[i] = mk(i);
		if (i % 97 == 0)
			recs[i].kind = REC_KIND_NODATA;
		if (i % 89 == 0)
			recs[i].kind = REC_KIND_LOSS, recs[i].lost_records = 5;
	}
	long len = ipfix_enc_templates(e, 1, NULL, buf, sizeof(buf));
	CHECK(decode(buf, (size_t)len, d, 1000) == 0, "template message does not decode");
	CHECK(ntpls == 5, "templates learnt %d", ntpls);
	while (at < N) {
		struct ipfix_enc_result res;
		len = ipfix_enc_data(e, recs + at, N - at, 2, buf, sizeof(buf), &res);
		CHECK(len >= 0 && (uint32_t)len <= mtu, "message %zu: length %ld over %u", msgs, len, mtu);
		if (len <= 0)
			break;
		CHECK(rd32(buf + 8) == seq, "message %zu seq %u want %u", msgs, rd32(buf + 8), seq);
		int n = decode(buf, (size_t)len, d, 1000);
		CHECK(n == (int)res.records, "decoded %d records, encoder said %zu", n, res.records);
		int k = 0;
		for (size_t i = at; i < at + res.used && k < n; i++)
			if (recs[i].kind != REC_KIND_NODATA)
				bad += check_rec(&recs[i], &d[k++], ns);
		CHECK(bad == 0, "message %zu: %d field mismatches", msgs, bad);
		bad = 0;
		seq += (uint32_t)res.records;
		enc_recs += res.records;
		nodata += res.nodata;
		at += res.used;
		msgs++;
	}
	CHECK(at == N && enc_recs + nodata == N, "mtu %u: consumed %zu, encoded %zu + nodata %zu",
	      mtu, at, enc_recs, nodata);
	CHECK(nodata == 30, "nodata skipped %zu", nodata); /* i % 97 == 0, except 0 (a loss record) */
	CHECK(mtu > 1400 || msgs > N / 12, "mtu %u: only %zu messages", mtu, msgs);
	ipfix_enc_destroy(e);
}


/* ---- exporter over loopback sockets ---- */

static int bind_sock(int type, uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(*port)};
	socklen_t l = sizeof(a);
	int one = 1, fd = socket(AF_INET, type | SOCK_NONBLOCK, 0), big = 4 << 20;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 4) < 0)) {
		perror("bind");
		exit(1);
	}
	getsockname(fd, (struct sockaddr *)&a, &l);
	*port = ntohs(a.sin_port);
	return fd;
}

/* What on_drop was handed: loss records/packets (NODATA ones are not loss). */
static uint64_t cb_records, cb_packets, cb_nodata;

static void on_drop(void *arg, const struct rec_flow *recs, size_t n)
{
	(void)arg;
	for (size_t i = 0; i < n; i++) {
		if (recs[i].kind == REC_KIND_NODATA) {
			cb_nodata++;
			continue;
		}
		cb_records++;
		cb_packets += recs[i].kind == REC_KIND_FLOW ? recs[i].packets : 0;
	}
}

static struct ipfix_exporter *mk_exporter(uint16_t port, bool tcp, uint32_t queue,
					  uint32_t refresh_msgs)
{
	char ps[16], msg[256];
	struct ipfix_exporter_opts o = {.host = "127.0.0.1", .port = ps, .tcp = tcp,
		.domain_id = 5, .queue_records = queue, .refresh_msgs = refresh_msgs,
		.backoff_min_ms = 5, .backoff_max_ms = 20, .on_drop = on_drop};
	snprintf(ps, sizeof(ps), "%u", port);
	cb_records = cb_packets = cb_nodata = 0;
	struct ipfix_exporter *x = ipfix_exporter_create(&o, msg, sizeof(msg));
	if (!x) {
		fprintf(stderr, "exporter: %s\n", msg);
		exit(1);
	}
	ipfix_exporter_set_enis(x, enis, 2);
	return x;
}

/* Receive every datagram; check seq continuity; count data records and loss reports. */
struct rx { size_t msgs, records, tpl_msgs; uint64_t stats_lost; uint32_t next_seq; int seq_gaps; };

static void rx_msg(struct rx *rx, const uint8_t *m, size_t len)
{
	static struct drec d[1000];
	int n = decode(m, len, d, 1000);
	CHECK(n >= 0, "message %zu (%zu bytes) does not decode", rx->msgs, len);
	if (n < 0)
		return;
	if (rd16(m + 16) == 2)
		rx->tpl_msgs++;
	if (rd32(m + 8) != rx->next_seq)
		rx->seq_gaps++;
	rx->next_seq = rd32(m + 8) + (uint32_t)n;
	for (int i = 0; i < n; i++) {
		if (d[i].tid == IPFIX_TPL_STATS)
			rx->stats_lost = rd64(get(&d[i], 0, 166, NULL));
		else
			rx->records++;
	}
	rx->msgs++;
}

static void drain_udp(int fd, struct rx *rx)
{
	uint8_t buf[65536];
	ssize_t n;
	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		rx_msg(rx, buf, (size_t)n);
}

/* 1000 records (10 no-data): all delivered, one template message, no gap. */
static void test_udp_deliver(uint16_t port, int fd, struct rec_flow *recs)
{
	struct ipfix_exporter *x = mk_exporter(port, false, 4096, 0);
	struct ipfix_exporter_stats st;
	struct rx rx = {0};

	ntpls = 0;
	for (int i = 0; i < 1000; i++) {
		recs[i] = mk(i);
		if (i % 100 == 0)
			recs[i].kind = REC_KIND_NODATA;
	}
	CHECK(ipfix_exporter_enqueue(x, recs, 1000) == 1000, "enqueue refused records");
	CHECK(ipfix_exporter_flush(x, 2000) == 0, "flush timed out");
	drain_udp(fd, &rx);
	ipfix_exporter_get_stats(x, &st);
	CHECK(st.sent == 990 && st.nodata_skipped == 10 && st.queued == 0,
	      "sent %llu nodata %llu queued %llu", (unsigned long long)st.sent,
	      (unsigned long long)st.nodata_skipped, (unsigned long long)st.queued);
	CHECK(rx.records == 990 && rx.seq_gaps == 0 && rx.tpl_msgs == 1,
	      "received %zu records, %d seq gaps, %zu template messages", rx.records,
	      rx.seq_gaps, rx.tpl_msgs);
	CHECK(st.messages == rx.msgs, "sent %llu messages, received %zu",
	      (unsigned long long)st.messages, rx.msgs);
	ipfix_exporter_destroy(x);
}

/* A queue of 16 takes 16 of 100; the 84 others are counted, handed to on_drop,
 * and reported on the wire in the reliability-statistics record. */
static void test_udp_overflow(uint16_t port, int fd, struct rec_flow *recs)
{
	struct ipfix_exporter_stats st;
	struct rx rx = {0};
	struct ipfix_exporter *x;

	x = mk_exporter(port, false, 16, 1);
	memset(&rx, 0, sizeof(rx));
	ntpls = 0;
	for (int i = 0; i < 100; i++)
		recs[i].kind = REC_KIND_FLOW;
	uint64_t lost_pkts = 0;
	for (int i = 16; i < 100; i++)
		lost_pkts += recs[i].packets;
	CHECK(ipfix_exporter_enqueue(x, recs, 100) == 16, "queue of 16 took more");
	CHECK(ipfix_exporter_flush(x, 2000) == 0, "flush timed out");
	ipfix_exporter_get_stats(x, &st);
	CHECK(st.dropped_queue == 84 && st.dropped_packets == lost_pkts && st.sent == 16,
	      "dropped %llu packets %llu (want %llu) sent %llu", (unsigned long long)st.dropped_queue,
	      (unsigned long long)st.dropped_packets, (unsigned long long)lost_pkts,
	      (unsigned long long)st.sent);
	CHECK(cb_records == 84 && cb_packets == lost_pkts, "on_drop saw %llu records %llu packets",
	      (unsigned long long)cb_records, (unsigned long long)cb_packets);
	drain_udp(fd, &rx);
	CHECK(rx.stats_lost == 84 && rx.seq_gaps == 0, "wire loss report %llu, %d gaps",
	      (unsigned long long)rx.stats_lost, rx.seq_gaps);
	/* refresh_msgs = 1: templates ahead of every data message */
	CHECK(rx.tpl_msgs >= 2 && rx.msgs == 2 * rx.tpl_msgs, "%zu messages, %zu with templates",
	      rx.msgs, rx.tpl_msgs);
	ipfix_exporter_destroy(x);
}

/* Time refresh: templates again once refresh_s has passed, not before. */
static void test_udp_refresh(uint16_t port, int fd, struct rec_flow *recs)
{
	char ps[16], m[128];
	struct ipfix_exporter_opts o = {.host = "127.0.0.1", .port = ps, .refresh_s = 1};
	struct ipfix_exporter *x;
	struct rx rx = {0};

	snprintf(ps, sizeof(ps), "%u", port);
	x = ipfix_exporter_create(&o, m, sizeof(m));
	ipfix_exporter_enqueue(x, recs, 5);
	ipfix_exporter_flush(x, 1000);
	ipfix_exporter_enqueue(x, recs, 5);
	ipfix_exporter_flush(x, 1000);
	drain_udp(fd, &rx);
	CHECK(rx.tpl_msgs == 1, "templates resent within refresh_s: %zu", rx.tpl_msgs);
	usleep(1100000);
	ipfix_exporter_enqueue(x, recs, 5);
	ipfix_exporter_flush(x, 1000);
	drain_udp(fd, &rx);
	CHECK(rx.tpl_msgs == 2, "templates after refresh_s: %zu template messages", rx.tpl_msgs);
	ipfix_exporter_destroy(x);
}

/* No collector: refused datagrams are counted, every record accounted. */
static void test_udp_refused(uint16_t port, struct rec_flow *recs)
{
	struct ipfix_exporter_stats st;
	struct ipfix_exporter *x;

	x = mk_exporter(port, false, 4096, 0);
	CHECK(ipfix_exporter_enqueue(x, recs, 1000) == 1000, "enqueue");
	ipfix_exporter_flush(x, 2000);
	ipfix_exporter_get_stats(x, &st);
	CHECK(st.dropped_send > 0 && st.send_errors > 0 && st.last_errno == ECONNREFUSED,
	      "no collector: dropped_send %llu errors %llu errno %d",
	      (unsigned long long)st.dropped_send, (unsigned long long)st.send_errors, st.last_errno);
	CHECK(st.sent + st.dropped_send + st.nodata_skipped == 1000, "accounted %llu",
	      (unsigned long long)(st.sent + st.dropped_send + st.nodata_skipped));
	CHECK(cb_records == st.dropped_send && cb_packets == st.dropped_packets,
	      "on_drop saw %llu records %llu packets; counted %llu %llu",
	      (unsigned long long)cb_records, (unsigned long long)cb_packets,
	      (unsigned long long)st.dropped_send, (unsigned long long)st.dropped_packets);
	ipfix_exporter_destroy(x);
}

static void test_udp(void)
{
	static struct rec_flow recs[1000];
	uint16_t port = 0;
	int fd = bind_sock(SOCK_DGRAM, &port);

	test_udp_deliver(port, fd, recs);
	test_udp_overflow(port, fd, recs);
	test_udp_refresh(port, fd, recs);
	close(fd);
	test_udp_refused(port, recs);
}

/* Read a TCP stream into whole messages; returns the unparsed tail length. */
static size_t rx_stream(int fd, struct rx *rx, uint8_t *buf, size_t have)
{
	ssize_t n;
	while ((n = recv(fd, buf + have, 262144 - have, MSG_DONTWAIT)) > 0)
		have += (size_t)n;
	size_t off = 0;
	while (have - off >= 4 && have - off >= rd16(buf + off + 2)) {
		rx_msg(rx, buf + off, rd16(buf + off + 2));
		off += rd16(buf + off + 2);
	}
	memmove(buf, buf + off, have - off);
	return have - off;
}

/* Run exporter and collector side by side for ms milliseconds. */
static void pump(struct ipfix_exporter *x, int lfd, int *cfd, struct rx *rx, uint8_t *buf,
		 size_t *have, int ms)
{
	for (int t = 0; t < ms; t++) {
		ipfix_exporter_poll(x);
		if (lfd >= 0 && *cfd < 0) {
			*cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
			if (*cfd >= 0)
				*have = 0, ntpls = 0, rx->next_seq = 0;
		}
		if (*cfd >= 0)
			*have = rx_stream(*cfd, rx, buf, *have);
		poll(NULL, 0, 1);
	}
}

static void test_tcp(void)
{
	static uint8_t buf[262144];
	static struct rec_flow recs[1000];
	uint16_t port = 0;
	int lfd = bind_sock(SOCK_STREAM, &port), cfd = -1;
	struct ipfix_exporter *x = mk_exporter(port, true, 4096, 0);
	struct ipfix_exporter_stats st;
	struct rx rx = {0};
	size_t have = 0;

	for (int i = 0; i < 1000; i++)
		recs[i] = mk(i);
	ipfix_exporter_enqueue(x, recs, 1000);
	pump(x, lfd, &cfd, &rx, buf, &have, 300);
	ipfix_exporter_get_stats(x, &st);
	CHECK(st.connects == 1 && st.sent == 1000 && rx.records == 1000 && rx.tpl_msgs == 1 &&
	      rx.seq_gaps == 0, "tcp: connects %llu sent %llu received %zu tpl %zu gaps %d",
	      (unsigned long long)st.connects, (unsigned long long)st.sent, rx.records,
	      rx.tpl_msgs, rx.seq_gaps);

	/* Collector goes away: the exporter keeps accepting, counts, backs off. */
	close(cfd);
	close(lfd);
	cfd = -1;
	for (int k = 0; k < 8; k++) {
		ipfix_exporter_enqueue(x, recs, 1000);
		pump(x, -1, &cfd, &rx, buf, &have, 30);
	}
	ipfix_exporter_get_stats(x, &st);
	CHECK(st.connect_failures > 0 && !st.connected && st.dropped_queue > 0,
	      "collector down: failures %llu connected %d dropped_queue %llu",
	      (unsigned long long)st.connect_failures, st.connected,
	      (unsigned long long)st.dropped_queue);
	/* It comes back on the same port: reconnect, templates first, loss reported. */
	lfd = bind_sock(SOCK_STREAM, &port);
	size_t before = rx.records;
	rx.tpl_msgs = 0;
	pump(x, lfd, &cfd, &rx, buf, &have, 300);
	ipfix_exporter_get_stats(x, &st);
	CHECK(st.connects == 2 && rx.tpl_msgs == 1 && rx.records - before == 4096 &&
	      rx.stats_lost == st.dropped_queue + st.dropped_send && st.queued == 0,
	      "reconnect: connects %llu tpl %zu records %zu lost on wire %llu counted %llu",
	      (unsigned long long)st.connects, rx.tpl_msgs, rx.records - before,
	      (unsigned long long)rx.stats_lost,
	      (unsigned long long)(st.dropped_queue + st.dropped_send));
	CHECK(st.offered == st.sent + st.dropped_queue + st.dropped_send + st.nodata_skipped,
	      "conservation: offered %llu", (unsigned long long)st.offered);
	CHECK(cb_records == st.dropped_queue + st.dropped_send && cb_packets == st.dropped_packets,
	      "tcp on_drop saw %llu records, counted %llu", (unsigned long long)cb_records,
	      (unsigned long long)(st.dropped_queue + st.dropped_send));
	ipfix_exporter_destroy(x);
	close(cfd);
	close(lfd);
}

int main(void)
{
	test_template_bytes();
	test_data_bytes();
	test_bound_and_seq(IPFIX_DEFAULT_MTU, false);
	test_bound_and_seq(IPFIX_MIN_MTU, true);
	test_bound_and_seq(IPFIX_MAX_MSG, false);
	test_udp();
	test_tcp();
	if (failures) {
		fprintf(stderr, "test_ipfix: %d failures\n", failures);
		return 1;
	}
	printf("test_ipfix: ok\n");
	return 0;
}
