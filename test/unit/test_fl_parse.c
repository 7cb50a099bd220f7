/* Proves fl_parse_frame() gets every key field right on hand-built frames and never reads outside the frame (cut or lying). */
/*
 * Each frame is parsed from a heap copy of exactly its length, so under ASan
 * a read one byte past the end is a report, not luck. The truncation sweeps
 * parse every prefix of three frames and check, per prefix length, which
 * fields must already be there.
 */
#include "fl_parse.h"
#include "test_check.h"
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int failures;

/* ---- frame builder ---------------------------------------------------- */

struct fb {
	uint8_t b[4096];
	uint32_t n;
};

static const uint8_t MAC_UC[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t MAC_BC[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t MAC_MC4[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };
static const uint8_t MAC_MC6[6] = { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t MAC_SRC[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
static const uint8_t V4A[4] = { 10, 0, 0, 1 }, V4B[4] = { 192, 168, 7, 200 };
static const uint8_t V6A[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t V6B[16] = { 0xfe, 0x80, [8] = 0xaa, [15] = 0x55 };

static void put(struct fb *f, const void *p, uint32_t n)
{
	memcpy(f->b + f->n, p, n);
	f->n += n;
}

static void put8(struct fb *f, uint8_t v) { f->b[f->n++] = v; }

static void put16(struct fb *f, uint16_t v)
{
	put8(f, (uint8_t)(v >> 8));
	put8(f, (uint8_t)v);
}

static void zeros(struct fb *f, uint32_t n)
{
	memset(f->b + f->n, 0, n);
	f->n += n;
}

static void eth(struct fb *f, const uint8_t *dmac, uint16_t et)
{
	f->n = 0;
	put(f, dmac, 6);
	put(f, MAC_SRC, 6);
	put16(f, et);
}

static void vlan(struct fb *f, uint16_t tci, uint16_t next)
{
	put16(f, tci);
	put16(f, next);
}

/* IPv4 header with ihl words (options filled with NOP), total length fixed by fix_v4(). */
static uint32_t ipv4(struct fb *f, uint8_t ihl, uint8_t proto, uint16_t frag)
{
	uint32_t at = f->n;

	put8(f, (uint8_t)(0x40 | ihl));
	put8(f, 0);
	put16(f, 0);
	put16(f, 0x1234);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	put(f, V4A, 4);
	put(f, V4B, 4);
	while (f->n - at < (uint32_t)ihl * 4)
		put8(f, 1);
	return at;
}

static void fix_v4(struct fb *f, uint32_t at)
{
	uint32_t len = f->n - at;

	f->b[at + 2] = (uint8_t)(len >> 8);
	f->b[at + 3] = (uint8_t)len;
}

static uint32_t ipv6(struct fb *f, uint8_t nh)
{
	uint32_t at = f->n;

	put8(f, 0x60);
	zeros(f, 3);
	put16(f, 0);
	put8(f, nh);
	put8(f, 64);
	put(f, V6A, 16);
	put(f, V6B, 16);
	return at;
}

static void fix_v6(struct fb *f, uint32_t at)
{
	uint32_t len = f->n - at - 40;

	f->b[at + 4] = (uint8_t)(len >> 8);
	f->b[at + 5] = (uint8_t)len;
}

/* Hop-by-hop, routing or destination options: (len8 + 1) * 8 bytes. */
static void ext6(struct fb *f, uint8_t nh, uint8_t len8)
{
	put8(f, nh);
	put8(f, len8);
	zeros(f, (uint32_t)(len8 + 1) * 8 - 2);
}

static void frag6(struct fb *f, uint8_t nh, uint16_t offset8, int more)
{
	put8(f, nh);
	put8(f, 0);
	put16(f, (uint16_t)(offset8 << 3 | (more ? 1 : 0)));
	put16(f, 0xabcd);
	put16(f, 0x0001);
}

static void ah(struct fb *f, uint8_t nh, uint8_t len4)
{
	put8(f, nh);
	put8(f, len4);
	zeros(f, (uint32_t)(len4 + 2) * 4 - 2);
}

static void tcp(struct fb *f, uint16_t sp, uint16_t dp, uint8_t flags)
{
	put16(f, sp);
	put16(f, dp);
	zeros(f, 8);
	put8(f, 0x50);
	put8(f, flags);
	zeros(f, 6);
}

static void udp(struct fb *f, uint16_t sp, uint16_t dp)
{
	put16(f, sp);
	put16(f, dp);
	put16(f, 8);
	put16(f, 0);
}

/* ---- parse helpers ---------------------------------------------------- */

/* Parse from a heap copy of exactly n bytes so ASan sees any over-read. */
static struct fl_parsed parse_n(const uint8_t *b, uint32_t n)
{
	struct fl_parsed p;
	uint8_t *c = malloc(n ? n : 1);

	if (!c) {
		perror("malloc");
		exit(2);
	}
	if (n)
		memcpy(c, b, n);
	fl_parse_frame(c, n, &p);
	free(c);
	return p;
}

static struct fl_parsed parse(const struct fb *f)
{
	return parse_n(f->b, f->n);
}

#define EXPECT(p, et, ipv, pr, sp, dp, fl)                                    \
	CHECK((p).ethertype == (et) && (p).ip_version == (ipv) &&             \
	      (p).proto == (pr) && (p).sport == (sp) && (p).dport == (dp) &&  \
	      (p).flags == (fl),                                              \
	      "got et=0x%04x ipv=%u proto=%u sport=%u dport=%u flags=0x%x",   \
	      (p).ethertype, (p).ip_version, (p).proto, (p).sport, (p).dport, \
	      (p).flags)

static int v4_addrs_ok(const struct fl_parsed *p)
{
	static const uint8_t z[12];

	return memcmp(p->src, V4A, 4) == 0 && memcmp(p->dst, V4B, 4) == 0 &&
	       memcmp(p->src + 4, z, 12) == 0 && memcmp(p->dst + 4, z, 12) == 0;
}

static int v6_addrs_ok(const struct fl_parsed *p)
{
	return memcmp(p->src, V6A, 16) == 0 && memcmp(p->dst, V6B, 16) == 0;
}

static int addrs_zero(const struct fl_parsed *p)
{
	static const uint8_t z[16];

	return memcmp(p->src, z, 16) == 0 && memcmp(p->dst, z, 16) == 0;
}

/* ---- cases ------------------------------------------------------------ */

static void test_v4(void)
{
	struct fb f;
	struct fl_parsed p;
	uint32_t ip;

	/* plain v4/TCP with payload */
	eth(&f, MAC_UC, 0x0800);
	ip = ipv4(&f, 5, 6, 0x4000 /* DF only: not a fragment */);
	tcp(&f, 40000, 443, 0x12);
	zeros(&f, 100);
	fix_v4(&f, ip);
	p = parse(&f);
	EXPECT(p, 0x0800, 4, 6, 40000, 443, 0);
	CHECK(p.tcp_flags == 0x12 && p.l2_class == REC_L2_UNICAST && v4_addrs_ok(&p),
	      "flags 0x%x l2 %u", p.tcp_flags, p.l2_class);

	/* options: IHL 15 (40 bytes of options), UDP */
	eth(&f, MAC_UC, 0x0800);
	ip = ipv4(&f, 15, 17, 0);
	udp(&f, 53, 5353);
	fix_v4(&f, ip);
	p = parse(&f);
	EXPECT(p, 0x0800, 4, 17, 53, 5353, 0);

	/* UDP-Lite, SCTP, DCCP carry ports; GRE does not */
	static const uint8_t with_ports[] = { 136, 132, 33 };
	for (unsigned i = 0; i < sizeof(with_ports); i++) {
		eth(&f, MAC_UC, 0x0800);
		ip = ipv4(&f, 5, with_ports[i], 0);
		udp(&f, 1000 + i, 2000 + i);
		fix_v4(&f, ip);
		p = parse(&f);
		EXPECT(p, 0x0800, 4, with_ports[i], 1000 + i, 2000 + i, 0);
	}
	eth(&f, MAC_UC, 0x0800);
	ip = ipv4(&f, 5, 47, 0);
	udp(&f, 1, 2);
	fix_v4(&f, ip);
	p = parse(&f);
	EXPECT(p, 0x0800, 4, 47, 0, 0, 0);

	/* ICMP echo request: type 8 -> sport, code 0 -> dport; unreachable 3/13 */
	eth(&f, MAC_UC, 0x0800);
	ip = ipv4(&f, 5, 1, 0);
	put8(&f, 3);
	put8(&f, 13);
	zeros(&f, 6);
	fix_v4(&f, ip);
	p = parse(&f);
	EXPECT(p, 0x0800, 4, 1, 3, 13, 0);
}

static void test_v4_fragments(void)
{
	struct fb f;
	struct fl_parsed p;
	uint32_t ip;

	/* first fragment (MF, offset 0): ports read */
	eth(&f, MAC_UC, 0x0800);
	ip = ipv4(&f, 5, 17, 0x2000);
	udp(&f, 1111, 2222);
	zeros(&f, 64);
	fix_v4(&f, ip);
	p = parse(&f);
	EXPECT(p, 0x0800, 4, 17, 1111, 2222, FL_PARSED_FRAGMENT);

	/* middle fragment (MF, offset 185): payload looks like ports but is not */
	eth(&f, MAC_UC, 0x0800);
	ip = ipv4(&f, 5, 17, 0x2000 | 185);
	udp(&f, 1111, 2222);
	fix_v4(&f, ip);
	p = parse(&f);
	EXPECT(p, 0x0800, 4, 17, 0, 0, FL_PARSED_FRAGMENT | FL_PARSED_NONFIRST);
	CHECK(v4_addrs_ok(&p), "addresses lost on a fragment");

	/* last fragment (no MF, offset 370) */
	eth(&f, MAC_UC, 0x0800);
	ip = ipv4(&f, 5, 6, 370);
	tcp(&f, 1, 2, 0x02);
	fix_v4(&f, ip);
	p = parse(&f);
	EXPECT(p, 0x0800, 4, 6, 0, 0, FL_PARSED_FRAGMENT | FL_PARSED_NONFIRST);
	CHECK(p.tcp_flags == 0, "tcp flags 0x%x read from a non-first fragment", p.tcp_flags);
}

/* Headers that lie: bad version, IHL < 5, IHL past the data, total length too short or zero. */
static void test_v4_lies(void)
{
	struct fb f;
	struct fl_parsed p;
	uint32_t ip;

	for (int ihl = 0; ihl < 5; ihl++) {
		eth(&f, MAC_UC, 0x0800);
		ip = ipv4(&f, 5, 6, 0);
		tcp(&f, 1, 2, 0);
		fix_v4(&f, ip);
		f.b[ip] = (uint8_t)(0x40 | ihl);
		p = parse(&f);
		EXPECT(p, 0x0800, 0, 0, 0, 0, 0);
		CHECK(addrs_zero(&p), "ihl %d: addresses set on a non-IP frame", ihl);
	}
	/* version 6 inside ethertype 0x0800 */
	eth(&f, MAC_UC, 0x0800);
	ip = ipv4(&f, 5, 6, 0);
	tcp(&f, 1, 2, 0);
	f.b[ip] = 0x65;
	p = parse(&f);
	EXPECT(p, 0x0800, 0, 0, 0, 0, 0);

	/* IHL 15 and total length 60, but only the 20-byte header is there */
	eth(&f, MAC_UC, 0x0800);
	ip = ipv4(&f, 5, 6, 0);
	f.b[ip] = 0x4f;
	f.b[ip + 3] = 60;
	p = parse(&f);
	EXPECT(p, 0x0800, 4, 6, 0, 0, FL_PARSED_TRUNCATED);
	CHECK(v4_addrs_ok(&p), "addresses lost");

	/* total length 19 < header length: the header contradicts itself, not IP */
	eth(&f, MAC_UC, 0x0800);
	ip = ipv4(&f, 5, 17, 0);
	udp(&f, 1, 2);
	f.b[ip + 3] = 19;
	p = parse(&f);
	EXPECT(p, 0x0800, 0, 0, 0, 0, 0);

	/* total length 0 (TSO capture): ignored, data bounds the parse */
	eth(&f, MAC_UC, 0x0800);
	ipv4(&f, 5, 6, 0);
	tcp(&f, 7, 8, 0x10);
	p = parse(&f);
	EXPECT(p, 0x0800, 4, 6, 7, 8, 0);

	/* total length 65535 with 40 bytes of data: data bounds the parse */
	eth(&f, MAC_UC, 0x0800);
	ip = ipv4(&f, 5, 6, 0);
	tcp(&f, 7, 8, 0x10);
	f.b[ip + 2] = 0xff;
	f.b[ip + 3] = 0xff;
	p = parse(&f);
	EXPECT(p, 0x0800, 4, 6, 7, 8, 0);

	/* total length 22: UDP ports lie in Ethernet padding, not read */
	eth(&f, MAC_UC, 0x0800);
	ip = ipv4(&f, 5, 17, 0);
	put16(&f, 9999);
	fix_v4(&f, ip);
	put16(&f, 8888);
	zeros(&f, 20);
	p = parse(&f);
	EXPECT(p, 0x0800, 4, 17, 0, 0, FL_PARSED_TRUNCATED);

	/* total length covers ports but not the TCP flags byte: ports kept */
	eth(&f, MAC_UC, 0x0800);
	ip = ipv4(&f, 5, 6, 0);
	tcp(&f, 5, 6, 0x02);
	f.b[ip + 3] = 20 + 8;
	p = parse(&f);
	EXPECT(p, 0x0800, 4, 6, 5, 6, FL_PARSED_TRUNCATED);
	CHECK(p.tcp_flags == 0, "flags 0x%x read beyond the IP length", p.tcp_flags);
}

static void test_v6(void)
{
	struct fb f;
	struct fl_parsed p;
	uint32_t ip;

	eth(&f, MAC_UC, 0x86dd);
	ip = ipv6(&f, 6);
	tcp(&f, 22, 50000, 0x11);
	fix_v6(&f, ip);
	p = parse(&f);
	EXPECT(p, 0x86dd, 6, 6, 22, 50000, 0);
	CHECK(p.tcp_flags == 0x11 && v6_addrs_ok(&p), "flags 0x%x", p.tcp_flags);

	/* HBH -> routing -> dstopts -> AH -> UDP */
	eth(&f, MAC_MC6, 0x86dd);
	ip = ipv6(&f, 0);
	ext6(&f, 43, 0);
	ext6(&f, 60, 2);
	ext6(&f, 51, 1);
	ah(&f, 17, 4);
	udp(&f, 546, 547);
	fix_v6(&f, ip);
	p = parse(&f);
	EXPECT(p, 0x86dd, 6, 17, 546, 547, 0);
	CHECK(p.l2_class == REC_L2_MULTICAST, "l2 %u", p.l2_class);

	/* ICMPv6 neighbour solicitation 135/0 */
	eth(&f, MAC_MC6, 0x86dd);
	ip = ipv6(&f, 58);
	put8(&f, 135);
	put8(&f, 0);
	zeros(&f, 22);
	fix_v6(&f, ip);
	p = parse(&f);
	EXPECT(p, 0x86dd, 6, 58, 135, 0, 0);

	/* fragment header: first (offset 0, M) with ports, then non-first */
	eth(&f, MAC_UC, 0x86dd);
	ip = ipv6(&f, 44);
	frag6(&f, 17, 0, 1);
	udp(&f, 4789, 4789);
	fix_v6(&f, ip);
	p = parse(&f);
	EXPECT(p, 0x86dd, 6, 17, 4789, 4789, FL_PARSED_FRAGMENT);
	eth(&f, MAC_UC, 0x86dd);
	ip = ipv6(&f, 0);
	ext6(&f, 44, 0);
	frag6(&f, 17, 181, 0);
	udp(&f, 4789, 4789);
	fix_v6(&f, ip);
	p = parse(&f);
	EXPECT(p, 0x86dd, 6, 17, 0, 0, FL_PARSED_FRAGMENT | FL_PARSED_NONFIRST);

	/* ESP and no-next-header end the chain */
	eth(&f, MAC_UC, 0x86dd);
	ip = ipv6(&f, 60);
	ext6(&f, 50, 0);
	udp(&f, 1, 2);
	fix_v6(&f, ip);
	p = parse(&f);
	EXPECT(p, 0x86dd, 6, 50, 0, 0, 0);
	eth(&f, MAC_UC, 0x86dd);
	ipv6(&f, 59);
	p = parse(&f);
	EXPECT(p, 0x86dd, 6, 59, 0, 0, 0);

	/* version 4 inside 0x86dd: not IP */
	eth(&f, MAC_UC, 0x86dd);
	ip = ipv6(&f, 6);
	tcp(&f, 1, 2, 0);
	f.b[ip] = 0x45;
	p = parse(&f);
	EXPECT(p, 0x86dd, 0, 0, 0, 0, 0);
	CHECK(addrs_zero(&p), "addresses set on a non-IP frame");
}

/* Extension-header abuse: long chains, self-loops, lengths past the data, jumbograms. */
static void test_v6_ext_abuse(void)
{
	struct fb f;
	struct fl_parsed p;
	uint32_t ip;
	int i;

	/* 8 headers are followed, the 9th is not */
	eth(&f, MAC_UC, 0x86dd);
	ip = ipv6(&f, 60);
	for (i = 0; i < 7; i++)
		ext6(&f, 60, 0);
	ext6(&f, 17, 0);
	udp(&f, 10, 20);
	fix_v6(&f, ip);
	p = parse(&f);
	EXPECT(p, 0x86dd, 6, 17, 10, 20, 0);
	eth(&f, MAC_UC, 0x86dd);
	ip = ipv6(&f, 60);
	for (i = 0; i < 8; i++)
		ext6(&f, 60, 0);
	ext6(&f, 17, 0);
	udp(&f, 10, 20);
	fix_v6(&f, ip);
	p = parse(&f);
	EXPECT(p, 0x86dd, 6, 60, 0, 0, 0);

	/* a hop-by-hop header whose next header is itself, 400 times over */
	eth(&f, MAC_UC, 0x86dd);
	ip = ipv6(&f, 0);
	for (i = 0; i < 400; i++)
		ext6(&f, 0, 0);
	fix_v6(&f, ip);
	p = parse(&f);
	EXPECT(p, 0x86dd, 6, 0, 0, 0, 0);

	/* extension length 255 (2048 bytes) with 16 bytes present */
	eth(&f, MAC_UC, 0x86dd);
	ip = ipv6(&f, 60);
	put8(&f, 17);
	put8(&f, 255);
	zeros(&f, 14);
	fix_v6(&f, ip);
	p = parse(&f);
	EXPECT(p, 0x86dd, 6, 60, 0, 0, FL_PARSED_TRUNCATED);

	/* payload length 8 while a 16-byte dstopts follows: the IP length bounds */
	eth(&f, MAC_UC, 0x86dd);
	ip = ipv6(&f, 60);
	ext6(&f, 17, 1);
	udp(&f, 1, 2);
	f.b[ip + 5] = 8;
	p = parse(&f);
	EXPECT(p, 0x86dd, 6, 60, 0, 0, FL_PARSED_TRUNCATED);

	/* payload length 0 without hop-by-hop (BIG TCP / GSO): the data bounds */
	eth(&f, MAC_UC, 0x86dd);
	ipv6(&f, 6);
	tcp(&f, 443, 50001, 0x18);
	zeros(&f, 100);
	p = parse(&f);
	EXPECT(p, 0x86dd, 6, 6, 443, 50001, 0);

	/* jumbogram: payload length 0, HBH with the jumbo option, then TCP */
	eth(&f, MAC_UC, 0x86dd);
	ipv6(&f, 0);
	put8(&f, 6);
	put8(&f, 0);
	put8(&f, 0xc2);
	put8(&f, 4);
	put16(&f, 0x0001);
	put16(&f, 0x0010);
	tcp(&f, 80, 8080, 0x18);
	zeros(&f, 200);
	p = parse(&f);
	EXPECT(p, 0x86dd, 6, 6, 80, 8080, 0);
}

static void test_l2(void)
{
	struct fb f;
	struct fl_parsed p;
	uint32_t ip;
	static const uint16_t tpids[] = { 0x8100, 0x88a8, 0x9100, 0x9200 };

	/* ARP broadcast, LLDP multicast */
	eth(&f, MAC_BC, 0x0806);
	zeros(&f, 28);
	p = parse(&f);
	EXPECT(p, 0x0806, 0, 0, 0, 0, 0);
	CHECK(p.l2_class == REC_L2_BROADCAST, "l2 %u", p.l2_class);
	eth(&f, (const uint8_t[]){ 0x01, 0x80, 0xc2, 0, 0, 0x0e }, 0x88cc);
	zeros(&f, 40);
	p = parse(&f);
	EXPECT(p, 0x88cc, 0, 0, 0, 0, 0);
	CHECK(p.l2_class == REC_L2_MULTICAST, "l2 %u", p.l2_class);
	/* almost-broadcast is multicast */
	eth(&f, (const uint8_t[]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe }, 0x0800);
	p = parse(&f);
	CHECK(p.l2_class == REC_L2_MULTICAST, "l2 %u", p.l2_class);
	eth(&f, MAC_MC4, 0x0800);
	p = parse(&f);
	CHECK(p.l2_class == REC_L2_MULTICAST, "l2 %u", p.l2_class);

	/* 802.3 + LLC (STP): length field, ethertype 0 */
	eth(&f, (const uint8_t[]){ 0x01, 0x80, 0xc2, 0, 0, 0 }, 38);
	put8(&f, 0x42);
	put8(&f, 0x42);
	put8(&f, 0x03);
	zeros(&f, 35);
	p = parse(&f);
	EXPECT(p, 0, 0, 0, 0, 0, 0);

	/* every TPID, and QinQ 0x88a8 over 0x8100 */
	for (unsigned i = 0; i < 4; i++) {
		eth(&f, MAC_UC, tpids[i]);
		vlan(&f, 100, 0x0800);
		ip = ipv4(&f, 5, 17, 0);
		udp(&f, 67, 68);
		fix_v4(&f, ip);
		p = parse(&f);
		EXPECT(p, 0x0800, 4, 17, 67, 68, 0);
	}
	eth(&f, MAC_UC, 0x88a8);
	vlan(&f, 10, 0x8100);
	vlan(&f, 20, 0x86dd);
	ip = ipv6(&f, 17);
	udp(&f, 123, 123);
	fix_v6(&f, ip);
	p = parse(&f);
	EXPECT(p, 0x86dd, 6, 17, 123, 123, 0);

	/* 4 tags are taken off; a 5th stops parsing at its TPID */
	eth(&f, MAC_UC, 0x88a8);
	for (int i = 0; i < 3; i++)
		vlan(&f, 1, 0x8100);
	vlan(&f, 1, 0x0806);
	zeros(&f, 28);
	p = parse(&f);
	EXPECT(p, 0x0806, 0, 0, 0, 0, 0);
	eth(&f, MAC_UC, 0x88a8);
	for (int i = 0; i < 4; i++)
		vlan(&f, 1, 0x8100);
	vlan(&f, 1, 0x0806);
	zeros(&f, 28);
	p = parse(&f);
	EXPECT(p, 0x8100, 0, 0, 0, 0, 0);
}

/* Fields every prefix of length n must show, given where each one becomes readable. */
struct stage {
	uint32_t from;      /* prefix length from which this line holds */
	uint16_t et;
	uint8_t ipv, proto;
	uint16_t sport, dport;
	uint8_t flags;
};

/* Parse every prefix of f; the last stage whose 'from' <= n gives the expected fields. */
static void sweep(const char *name, const struct fb *f, const struct stage *st, int nst,
		  uint8_t l2)
{
	for (uint32_t n = 0; n <= f->n; n++) {
		struct fl_parsed p = parse_n(f->b, n);
		const struct stage *s = NULL;

		for (int i = 0; i < nst; i++)
			if (st[i].from <= n)
				s = &st[i];
		if (!s)
			continue;
		CHECK(p.ethertype == s->et && p.ip_version == s->ipv && p.proto == s->proto &&
		      p.sport == s->sport && p.dport == s->dport && p.flags == s->flags &&
		      p.l2_class == (n >= 6 ? l2 : REC_L2_UNICAST),
		      "%s cut at %u: et=0x%04x ipv=%u proto=%u ports=%u/%u flags=0x%x l2=%u",
		      name, n, p.ethertype, p.ip_version, p.proto, p.sport, p.dport,
		      p.flags, p.l2_class);
		if (p.ip_version == 4)
			CHECK(v4_addrs_ok(&p), "%s cut at %u: v4 addresses", name, n);
		else if (p.ip_version == 6)
			CHECK(v6_addrs_ok(&p), "%s cut at %u: v6 addresses", name, n);
		else
			CHECK(addrs_zero(&p), "%s cut at %u: addresses on non-IP", name, n);
	}
}

static void test_truncation(void)
{
	const uint8_t T = FL_PARSED_TRUNCATED, F = FL_PARSED_FRAGMENT;
	struct fb f;
	uint32_t ip;

	/* v4/TCP: IP at 14, TCP at 34, flags byte at 47 */
	eth(&f, MAC_BC, 0x0800);
	ip = ipv4(&f, 5, 6, 0);
	tcp(&f, 1234, 80, 0x02);
	zeros(&f, 10);
	fix_v4(&f, ip);
	const struct stage s4[] = {
		{ 0, 0, 0, 0, 0, 0, T },          { 14, 0x0800, 0, 0, 0, 0, T },
		{ 34, 0x0800, 4, 6, 0, 0, T },    { 38, 0x0800, 4, 6, 1234, 80, T },
		{ 48, 0x0800, 4, 6, 1234, 80, 0 },
	};
	sweep("v4/tcp", &f, s4, 5, REC_L2_BROADCAST);

	/* v6/HBH(8)/dstopts(16)/frag(8, first)/UDP: IP at 14, exts at 54, 62, 78, UDP at 86 */
	eth(&f, MAC_MC6, 0x86dd);
	ip = ipv6(&f, 0);
	ext6(&f, 60, 0);
	ext6(&f, 44, 1);
	frag6(&f, 17, 0, 1);
	udp(&f, 5000, 6000);
	zeros(&f, 7);
	fix_v6(&f, ip);
	const struct stage s6[] = {
		{ 0, 0, 0, 0, 0, 0, T },           { 14, 0x86dd, 0, 0, 0, 0, T },
		{ 54, 0x86dd, 6, 0, 0, 0, T },     { 62, 0x86dd, 6, 60, 0, 0, T },
		{ 78, 0x86dd, 6, 44, 0, 0, T },    { 86, 0x86dd, 6, 17, 0, 0, T | F },
		{ 90, 0x86dd, 6, 17, 5000, 6000, F },
	};
	sweep("v6/ext/udp", &f, s6, 7, REC_L2_MULTICAST);

	/* QinQ 0x88a8/0x8100 v4/UDP: tags at 14 and 18, IP at 22, UDP at 42 */
	eth(&f, MAC_UC, 0x88a8);
	vlan(&f, 100, 0x8100);
	vlan(&f, 200, 0x0800);
	ip = ipv4(&f, 5, 17, 0);
	udp(&f, 161, 162);
	fix_v4(&f, ip);
	const struct stage sq[] = {
		{ 0, 0, 0, 0, 0, 0, T },           { 14, 0x88a8, 0, 0, 0, 0, T },
		{ 18, 0x8100, 0, 0, 0, 0, T },     { 22, 0x0800, 0, 0, 0, 0, T },
		{ 42, 0x0800, 4, 17, 0, 0, T },    { 46, 0x0800, 4, 17, 161, 162, 0 },
	};
	sweep("qinq/v4/udp", &f, sq, 6, REC_L2_UNICAST);
}

/* Invariants that must hold for any input (random and mutated frames). */
static void check_invariants(const struct fl_parsed *p, const char *what, unsigned iter)
{
	static const uint8_t z[12];

	CHECK(p->ip_version == 0 || p->ip_version == 4 || p->ip_version == 6,
	      "%s %u: ipv %u", what, iter, p->ip_version);
	CHECK(p->l2_class < REC_L2_MAX, "%s %u: l2 %u", what, iter, p->l2_class);
	CHECK(!(p->flags & ~(FL_PARSED_FRAGMENT | FL_PARSED_NONFIRST | FL_PARSED_TRUNCATED)),
	      "%s %u: flags 0x%x", what, iter, p->flags);
	if (p->flags & FL_PARSED_NONFIRST)
		CHECK((p->flags & FL_PARSED_FRAGMENT) && p->sport == 0 && p->dport == 0 &&
		      p->tcp_flags == 0, "%s %u: non-first with ports %u/%u",
		      what, iter, p->sport, p->dport);
	if (p->ip_version == 0)
		CHECK(addrs_zero(p) && p->proto == 0 && p->sport == 0 && p->dport == 0,
		      "%s %u: L3/L4 fields on non-IP", what, iter);
	if (p->ip_version == 4)
		CHECK(memcmp(p->src + 4, z, 12) == 0 && memcmp(p->dst + 4, z, 12) == 0,
		      "%s %u: v4 address tail not zero", what, iter);
	CHECK(p->pad == 0, "%s %u: pad %u", what, iter, p->pad);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

/* Random bytes behind plausible Ethernet/VLAN/IP starts, and byte-flipped real frames. */
static void test_random(void)
{
	struct fb f, base;
	static const uint16_t ets[] = { 0x0800, 0x86dd, 0x8100, 0x88a8, 0x0806, 0x0042 };
	uint32_t ip;

	for (unsigned it = 0; it < 100000; it++) {
		uint32_t n = rnd() % 160;

		for (uint32_t i = 0; i < n; i++)
			f.b[i] = (uint8_t)rnd();
		if (n >= 14) {
			f.b[12] = (uint8_t)(ets[it % 6] >> 8);
			f.b[13] = (uint8_t)ets[it % 6];
		}
		if (n >= 15 && (it & 1))
			f.b[14] = (uint8_t)((ets[it % 6] == 0x86dd ? 0x60 : 0x40) | (f.b[14] & 0x0f));
		struct fl_parsed p = parse_n(f.b, n);
		check_invariants(&p, "random", it);
	}
	eth(&base, MAC_UC, 0x8100);
	vlan(&base, 5, 0x86dd);
	ip = ipv6(&base, 0);
	ext6(&base, 43, 1);
	ext6(&base, 44, 0);
	frag6(&base, 51, 0, 1);
	ah(&base, 6, 1);
	tcp(&base, 1, 2, 3);
	fix_v6(&base, ip);
	for (unsigned it = 0; it < 100000; it++) {
		f = base;
		for (int k = 0; k < 3; k++)
			f.b[rnd() % f.n] = (uint8_t)rnd();
		f.n = rnd() % (f.n + 1);
		struct fl_parsed p = parse_n(f.b, f.n);
		check_invariants(&p, "mutated", it);
	}
}

int main(void)
{
	test_v4();
	test_v4_fragments();
	test_v4_lies();
	test_v6();
	test_v6_ext_abuse();
	test_l2();
	test_truncation();
	test_random();
	if (failures) {
		fprintf(stderr, "test_fl_parse: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_fl_parse: ok\n");
	return 0;
}
