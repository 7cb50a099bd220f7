/*
 * record.c - names and validation for the v1 flow record.
 *
 * Kept apart from the segment code so that every consumer (CLI formats,
 * query engine, exporters) shares one spelling of each enum value.
 */
#include "record.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

static const char *const kind_names[] = {"flow", "loss", "nodata"};
static const char *const dir_names[] = {"ingress", "egress"};
static const char *const verdict_names[] = {"ACCEPT", "REJECT"};
static const char *const layer_names[] = {"none", "sg", "acl"};
static const char *const l2_names[] = {"unicast", "broadcast", "multicast"};

#define NAME_OR_NULL(tab, v) ((v) < sizeof(tab) / sizeof((tab)[0]) ? (tab)[(v)] : NULL)

const char *rec_kind_name(uint8_t kind) { return NAME_OR_NULL(kind_names, kind); }
const char *rec_direction_name(uint8_t dir) { return NAME_OR_NULL(dir_names, dir); }
const char *rec_verdict_name(uint8_t v) { return NAME_OR_NULL(verdict_names, v); }
const char *rec_layer_name(uint8_t layer) { return NAME_OR_NULL(layer_names, layer); }
const char *rec_l2_class_name(uint8_t l2) { return NAME_OR_NULL(l2_names, l2); }

const char *rec_end_reason_name(uint8_t reason)
{
	switch (reason) {
	case REC_END_IDLE: return "idle";
	case REC_END_ACTIVE: return "active";
	case REC_END_TCP_CLOSE: return "tcp-close";
	case REC_END_CACHE_PRESSURE: return "cache-pressure";
	case REC_END_SHUTDOWN: return "shutdown";
	case REC_END_LOSS_RING: return "ring-full";
	case REC_END_LOSS_WRITER: return "writer";
	case REC_END_LOSS_RECOVERY: return "recovery";
	case REC_END_LOSS_EXPORTER: return "exporter";
	default: return NULL;
	}
}

const char *rec_proto_name(uint8_t proto)
{
	switch (proto) {
	case 1: return "icmp";
	case 2: return "igmp";
	case 4: return "ipip";
	case 6: return "tcp";
	case 17: return "udp";
	case 41: return "ipv6";
	case 47: return "gre";
	case 50: return "esp";
	case 51: return "ah";
	case 58: return "icmpv6";
	case 89: return "ospf";
	case 103: return "pim";
	case 112: return "vrrp";
	case 132: return "sctp";
	default: return NULL;
	}
}

const char *rec_addr_str(const struct rec_flow *r, bool src, char *buf, size_t len)
{
	const uint8_t *a = src ? r->src_addr : r->dst_addr;

	if (r->ip_version == 4) {
		if (!inet_ntop(AF_INET, a, buf, (socklen_t)len))
			snprintf(buf, len, "?");
	} else if (r->ip_version == 6) {
		if (!inet_ntop(AF_INET6, a, buf, (socklen_t)len))
			snprintf(buf, len, "?");
	} else {
		snprintf(buf, len, "-");
	}
	return buf;
}

static int bad(char *msg, size_t len, const char *field, unsigned v)
{
	if (msg && len)
		snprintf(msg, len, "%s: invalid value %u", field, v);
	return -EINVAL;
}

void rec_loss_init(struct rec_flow *r, uint32_t eni, uint8_t end_reason, uint32_t sample_1_in_n,
		   uint64_t records, uint64_t packets, uint64_t bytes, uint64_t first_ns,
		   uint64_t last_ns)
{
	memset(r, 0, sizeof(*r));
	r->version = REC_VERSION;
	r->kind = REC_KIND_LOSS;
	r->end_reason = end_reason;
	r->eni = eni;
	r->sample_1_in_n = sample_1_in_n;
	r->lost_records = records > UINT32_MAX ? UINT32_MAX : (uint32_t)records;
	r->packets = packets;
	r->bytes = bytes;
	r->first_ns = first_ns;
	r->last_ns = last_ns;
}

int rec_validate(const struct rec_flow *r, char *msg, size_t msglen)
{
	if (r->version != REC_VERSION)
		return bad(msg, msglen, "version", r->version);
	if (r->kind >= REC_KIND_MAX)
		return bad(msg, msglen, "kind", r->kind);
	if (r->direction >= REC_DIR_MAX)
		return bad(msg, msglen, "direction", r->direction);
	if (r->verdict >= REC_VERDICT_MAX)
		return bad(msg, msglen, "verdict", r->verdict);
	if (r->ip_version != 0 && r->ip_version != 4 && r->ip_version != 6)
		return bad(msg, msglen, "ip_version", r->ip_version);
	if (r->layer >= REC_LAYER_MAX)
		return bad(msg, msglen, "layer", r->layer);
	if (!rec_end_reason_name(r->end_reason))
		return bad(msg, msglen, "end_reason", r->end_reason);
	if (r->l2_class >= REC_L2_MAX)
		return bad(msg, msglen, "l2_class", r->l2_class);
	if (r->last_ns < r->first_ns) {
		if (msg && msglen)
			snprintf(msg, msglen, "last_ns %llu is before first_ns %llu",
				 (unsigned long long)r->last_ns, (unsigned long long)r->first_ns);
		return -EINVAL;
	}
	return 0;
}
