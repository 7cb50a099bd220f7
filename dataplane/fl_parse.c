/*
 * fl_parse.c - the per-packet parser of the flow-log plugin: one frame in,
 * the fields of its flow key out (see fl_parse.h).
 *
 * Design: straight-line code over a (pointer, remaining length) cursor. Every
 * read goes through a helper that first checks the remaining length, so no
 * header field, however it lies, can move a read outside [data, data+len).
 * The only loops run over headers (VLAN tags, IPv6 extension headers), each
 * capped by a small constant; none runs over bytes.
 *
 * Choices for odd input (documented in docs/parser.md as well):
 *   - 802.3 frames (type/length field < 0x0600, i.e. a length, followed by
 *     LLC): ethertype 0. The length varies per frame and would split one
 *     LLC conversation (STP, say) into many keys.
 *   - More than FL_PARSE_MAX_VLAN tags: parsing stops; ethertype is the TPID
 *     of the first tag not taken off (0x8100, ...).
 *   - IPv4 with version != 4, IHL < 5 or 0 < total length < IHL * 4 (IPv6
 *     with version != 6): not IP (ip_version 0, no addresses), ethertype
 *     stays 0x0800. The header is inconsistent with itself, so addresses or
 *     ports read from it would be guesses; tshark makes the same call (no IP
 *     conversation for such frames).
 *   - IPv4 total length (IPv6 payload length) bounds the L4 parse, so
 *     Ethernet padding is never read as a port. Total length 0 (TSO
 *     captures) is ignored: the data length bounds instead. IPv6 payload
 *     length 0 likewise: a jumbogram (RFC 2675) or a Linux BIG TCP / GSO
 *     packet, which carries no hop-by-hop header on the wire. tshark 4.0
 *     reads the latter as an empty payload; a switch that lost the ports
 *     of every GSO packet would log them all wrong.
 *   - More than FL_PARSE_MAX_EXT IPv6 extension headers: parsing stops with
 *     proto = the next-header value not taken (an extension header number),
 *     no ports.
 *   - ESP (50) and no-next-header (59) end the IPv6 chain: proto is 50/59.
 *   - Truncated L4 header: what fits is kept (TCP ports without flags, ...)
 *     and FL_PARSED_TRUNCATED is set.
 */
#include "fl_parse.h"

#include <string.h>

#include "record.h"

/** VLAN tags taken off before giving up (QinQ plus a little room). */
#define FL_PARSE_MAX_VLAN 4
/** IPv6 extension headers followed before giving up (RFC 8200 lists ~6 in a sane chain). */
#define FL_PARSE_MAX_EXT 8

#define ETH_HLEN 14
#define VLAN_HLEN 4
#define IPV4_HLEN_MIN 20
#define IPV6_HLEN 40

#define ET_IPV4 0x0800
#define ET_IPV6 0x86dd
#define ET_VLAN 0x8100
#define ET_QINQ 0x88a8
#define ET_QINQ_OLD1 0x9100
#define ET_QINQ_OLD2 0x9200
#define ET_MIN_TYPE 0x0600

enum {
	P_HOPOPT = 0, P_ICMP = 1, P_TCP = 6, P_UDP = 17, P_DCCP = 33,
	P_ROUTING = 43, P_FRAGMENT = 44, P_ESP = 50, P_AH = 51, P_ICMPV6 = 58,
	P_NONEXT = 59, P_DSTOPTS = 60, P_SCTP = 132, P_UDPLITE = 136,
};

/** Big-endian 16-bit load; compiles to one load and a rotate. */
static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline int is_vlan_tpid(uint16_t et)
{
	return et == ET_VLAN || et == ET_QINQ || et == ET_QINQ_OLD1 || et == ET_QINQ_OLD2;
}

static inline uint8_t l2_class_of(const uint8_t *dmac)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	if (!(dmac[0] & 1))
		return REC_L2_UNICAST;
	return memcmp(dmac, bcast, 6) == 0 ? REC_L2_BROADCAST : REC_L2_MULTICAST;
}

/*
 * L4 ports/type+code/flags from l4 (avail bytes readable, bounded by both the
 * data and the IP length). Only protocols with ports (or ICMP type/code) are
 * read; a header too short for them sets TRUNCATED.
 */
static inline void parse_l4(const uint8_t *l4, uint32_t avail, struct fl_parsed *out)
{
	switch (out->proto) {
	case P_TCP:
		if (avail >= 14) {
			out->sport = rd16(l4);
			out->dport = rd16(l4 + 2);
			out->tcp_flags = l4[13];
			return;
		}
		break;
	case P_UDP:
	case P_UDPLITE:
	case P_SCTP:
	case P_DCCP:
		if (avail >= 4) {
			out->sport = rd16(l4);
			out->dport = rd16(l4 + 2);
			return;
		}
		break;
	case P_ICMP:
	case P_ICMPV6:
		if (avail >= 2) {
			out->sport = l4[0];
			out->dport = l4[1];
			return;
		}
		break;
	default:
		return;
	}
	/* Keep the ports of a TCP header cut before its flags byte. */
	if (avail >= 4) {
		out->sport = rd16(l4);
		out->dport = rd16(l4 + 2);
	}
	out->flags |= FL_PARSED_TRUNCATED;
}

static inline void parse_ipv4(const uint8_t *ip, uint32_t len, struct fl_parsed *out)
{
	uint32_t hlen, tot;
	uint16_t frag;

	if (len < IPV4_HLEN_MIN) {
		out->flags |= FL_PARSED_TRUNCATED;
		return;
	}
	hlen = (uint32_t)(ip[0] & 0x0f) * 4;
	tot = rd16(ip + 2);
	if ((ip[0] >> 4) != 4 || hlen < IPV4_HLEN_MIN || (tot != 0 && tot < hlen))
		return; /* not IP we can place: see the file comment */
	out->ip_version = 4;
	memcpy(out->src, ip + 12, 4);
	memcpy(out->dst, ip + 16, 4);
	out->proto = ip[9];
	frag = rd16(ip + 6);
	if (frag & 0x3fff) { /* MF or a non-zero offset */
		out->flags |= FL_PARSED_FRAGMENT;
		if (frag & 0x1fff) {
			out->flags |= FL_PARSED_NONFIRST;
			return;
		}
	}
	if (hlen > len) { /* options cut short */
		out->flags |= FL_PARSED_TRUNCATED;
		return;
	}
	if (tot != 0 && tot < len)
		len = tot; /* padding after the datagram is not L4; 0: TSO, use the data */
	parse_l4(ip + hlen, len - hlen, out);
}

static inline int is_ipv6_ext(uint8_t nh)
{
	return nh == P_HOPOPT || nh == P_ROUTING || nh == P_DSTOPTS || nh == P_FRAGMENT ||
	       nh == P_AH;
}

/*
 * Walk the IPv6 extension-header chain from next-header nh at p (len bytes
 * left). Sets proto and the fragment flags; returns the L4 header offset from
 * p, or -1 when there are no ports to read (non-first fragment, cut short,
 * ESP, too many headers).
 */
static inline int32_t ipv6_ext_walk(const uint8_t *p, uint32_t len, uint8_t nh,
				    struct fl_parsed *out)
{
	uint32_t off = 0, hl;
	int i;

	for (i = 0; i <= FL_PARSE_MAX_EXT; i++) {
		if (!is_ipv6_ext(nh)) {
			out->proto = nh; /* L4, ESP or no-next-header */
			return (int32_t)off;
		}
		if (i == FL_PARSE_MAX_EXT)
			break;
		switch (nh) {
		case P_HOPOPT:
		case P_ROUTING:
		case P_DSTOPTS:
			if (len - off < 2)
				goto cut;
			hl = ((uint32_t)p[off + 1] + 1) * 8;
			break;
		case P_FRAGMENT:
			if (len - off < 8)
				goto cut;
			out->flags |= FL_PARSED_FRAGMENT;
			if (rd16(p + off + 2) & 0xfff8) {
				out->flags |= FL_PARSED_NONFIRST;
				out->proto = p[off];
				return -1;
			}
			hl = 8;
			break;
		default: /* P_AH */
			if (len - off < 2)
				goto cut;
			hl = ((uint32_t)p[off + 1] + 2) * 4;
			break;
		}
		if (hl > len - off)
			goto cut;
		nh = p[off];
		off += hl;
	}
	out->proto = nh; /* chain too long: stop, no ports */
	return -1;
cut:
	out->proto = nh;
	out->flags |= FL_PARSED_TRUNCATED;
	return -1;
}

static inline void parse_ipv6(const uint8_t *ip, uint32_t len, struct fl_parsed *out)
{
	uint32_t plen;
	int32_t l4off;
	uint8_t nh;

	if (len < IPV6_HLEN || (ip[0] >> 4) != 6) {
		if (len < IPV6_HLEN)
			out->flags |= FL_PARSED_TRUNCATED;
		return;
	}
	out->ip_version = 6;
	memcpy(out->src, ip + 8, 16);
	memcpy(out->dst, ip + 24, 16);
	plen = rd16(ip + 4);
	nh = ip[6];
	len -= IPV6_HLEN;
	if (plen != 0 && plen < len)
		len = plen; /* padding is not payload; 0: jumbogram or BIG TCP, use the data */
	ip += IPV6_HLEN;
	if (nh == P_TCP || nh == P_UDP) { /* fast path: no extension headers */
		out->proto = nh;
		parse_l4(ip, len, out);
		return;
	}
	l4off = ipv6_ext_walk(ip, len, nh, out);
	if (l4off >= 0)
		parse_l4(ip + l4off, len - (uint32_t)l4off, out);
}

void fl_parse_frame(const uint8_t *data, uint32_t data_len, struct fl_parsed *out)
{
	uint32_t off = ETH_HLEN;
	uint16_t et;
	int i;

	memset(out, 0, sizeof(*out));
	if (data_len < ETH_HLEN) {
		if (data_len >= 6)
			out->l2_class = l2_class_of(data);
		out->flags = FL_PARSED_TRUNCATED;
		return;
	}
	out->l2_class = l2_class_of(data);
	et = rd16(data + 12);
	for (i = 0; i < FL_PARSE_MAX_VLAN && is_vlan_tpid(et); i++) {
		if (data_len - off < VLAN_HLEN) {
			out->ethertype = et;
			out->flags = FL_PARSED_TRUNCATED;
			return;
		}
		et = rd16(data + off + 2);
		off += VLAN_HLEN;
	}
	if (et < ET_MIN_TYPE)
		et = 0; /* 802.3 length field: see the file comment */
	out->ethertype = et;
	if (et == ET_IPV4)
		parse_ipv4(data + off, data_len - off, out);
	else if (et == ET_IPV6)
		parse_ipv6(data + off, data_len - off, out);
}
