/*
 * fuzz_vs_parse.c - libFuzzer target for the switch's header parser
 * (vs_flow_parse) against the plugin's (fl_parse_frame): any byte string is
 * a frame. Besides "no crash, no sanitizer report", it aborts when the two
 * disagree on an untagged IPv6 frame both read whole (the IPv6 payload
 * length matches the data, the plugin saw nothing cut short): the switch
 * must decide on the protocol, addresses and ports the flow record reports,
 * whatever the extension-header chain. And neighbour discovery, which the
 * switch exempts from its policy, must be ICMPv6 133..137 by both.
 */
#include "fl_parse.h"
#include "vs_policy.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *why, const struct vs_flow *v, const struct fl_parsed *p)
{
	fprintf(stderr, "fuzz_vs_parse: %s (switch: family %u proto %u ports %u/%u nd %u; "
		"plugin: ipv %u proto %u ports %u/%u flags 0x%x)\n", why, v->family, v->proto,
		v->sport, v->dport, v->nd, p->ip_version, p->proto, p->sport, p->dport, p->flags);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vs_flow v;
	struct fl_parsed p;

	if (size > 65535)
		return 0;
	vs_flow_parse(data, (uint32_t)size, &v);
	fl_parse_frame(data, (uint32_t)size, &p);
	if (v.family != 0 && v.family != 4 && v.family != 6)
		fail("bad family", &v, &p);
	if (v.nd && (v.family != 6 || v.proto != 58))
		fail("neighbour discovery that is not ICMPv6", &v, &p);
	if (size < 54 || data[12] != 0x86 || data[13] != 0xdd || (data[14] >> 4) != 6)
		return 0;
	if (v.family != 6 || p.ip_version != 6)
		fail("an IPv6 frame not read as IPv6", &v, &p);
	if ((uint32_t)(data[18] << 8 | data[19]) != size - 54 || (p.flags & FL_PARSED_TRUNCATED))
		return 0;
	if (v.proto != p.proto)
		fail("protocols differ", &v, &p);
	if (memcmp(v.src, p.src, 16) != 0 || memcmp(v.dst, p.dst, 16) != 0)
		fail("addresses differ", &v, &p);
	if ((v.proto == 6 || v.proto == 17) && (v.sport != p.sport || v.dport != p.dport))
		fail("ports differ", &v, &p);
	if (v.nd && (p.sport < 133 || p.sport > 137))
		fail("neighbour discovery with an ICMPv6 type outside 133..137", &v, &p);
	return 0;
}
