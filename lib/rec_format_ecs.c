/*
 * rec_format_ecs.c - Elastic Common Schema (ECS) JSON Lines rendering.
 *
 * One nested JSON object per record, with ECS field names and ECS types
 * (IPs as strings, ports and counters as numbers, network.iana_number as a
 * string, times in ISO 8601 UTC with nanoseconds), so Filebeat's ndjson
 * input or Logstash's json codec index it with no custom pipeline. What ECS
 * has no field for (VPC, subnet, ENI index, deciding layer, end reason, ...)
 * goes under "labels" (keywords ECS reserves for this) and "eniflow" (a
 * custom object, as ECS advises for vendor fields). Mapping: docs/record-format.md.
 */
#include "rec_format.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define ECS_VERSION "8.11.0"

struct ecs_out {
	char *buf;
	size_t len, pos;
	bool full;
};

static void put_f(struct ecs_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_f(struct ecs_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->pos, o->len - o->pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->len - o->pos) {
		o->full = true;
		return;
	}
	o->pos += (size_t)n;
}

static void put_mem(struct ecs_out *o, const char *p, size_t n)
{
	if (o->full || o->len - o->pos <= n) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->pos, p, n);
	o->pos += n;
	o->buf[o->pos] = '\0';
}

/* "key":"value" with JSON escaping: runs of plain bytes are copied at once. */
static void put_kstr(struct ecs_out *o, const char *key, const char *s)
{
	put_mem(o, "\"", 1);
	put_mem(o, key, strlen(key));
	put_mem(o, "\":\"", 3);
	while (*s) {
		size_t n = 0;
		while (s[n] && s[n] != '"' && s[n] != '\\' && (unsigned char)s[n] >= 0x20 &&
		       (unsigned char)s[n] < 0x7f)
			n++;
		put_mem(o, s, n);
		s += n;
		if (*s) {
			put_f(o, *s == '"' || *s == '\\' ? "\\%c" : "\\u%04x", (unsigned char)*s);
			s++;
		}
	}
	put_mem(o, "\"", 1);
}

/* ISO 8601 UTC with nanoseconds; the second's text is cached (records come in time order). */
static void put_time(struct ecs_out *o, const char *key, uint64_t ns)
{
	static _Thread_local time_t last = -1;
	static _Thread_local char text[32];
	time_t s = (time_t)(ns / 1000000000u);
	char frac[16];

	if (s != last) {
		struct tm tm;
		gmtime_r(&s, &tm);
		strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
		last = s;
	}
	put_mem(o, "\"", 1);
	put_mem(o, key, strlen(key));
	put_mem(o, "\":\"", 3);
	put_mem(o, text, 19);
	uint32_t f = (uint32_t)(ns % 1000000000u);
	frac[0] = '.';
	for (int i = 9; i >= 1; i--, f /= 10)
		frac[i] = (char)('0' + f % 10);
	frac[10] = 'Z';
	frac[11] = '"';
	put_mem(o, frac, 12);
}

static const char *transport(uint8_t proto, char *num, size_t len)
{
	const char *n = proto == 58 ? "ipv6-icmp" : rec_proto_name(proto);
	if (n)
		return n;
	snprintf(num, len, "%u", proto);
	return num;
}

static const char *action(const struct rec_flow *r)
{
	if (r->kind == REC_KIND_LOSS)
		return "skipdata";
	if (r->kind == REC_KIND_NODATA)
		return "nodata";
	return r->verdict == REC_VERDICT_ACCEPT ? "accept" : "reject";
}

#define LIT(o, s) put_mem((o), (s), sizeof(s) - 1)

static void put_s(struct ecs_out *o, const char *s) { put_mem(o, s, strlen(s)); }

static void put_u(struct ecs_out *o, uint64_t v)
{
	char b[24];
	int i = (int)sizeof(b);

	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put_mem(o, b + i, sizeof(b) - (size_t)i);
}

/* A quoted number: ECS keywords that hold ids. */
static void put_qu(struct ecs_out *o, uint64_t v)
{
	LIT(o, "\"");
	put_u(o, v);
	LIT(o, "\"");
}

/* source.*, destination.*, network.*: the flow key and counters. */
static void put_flow(struct ecs_out *o, const struct rec_flow *r)
{
	char a[64], num[8];
	bool ip = r->ip_version == 4 || r->ip_version == 6;
	bool icmp = (r->ip_version == 4 && r->protocol == 1) ||
		    (r->ip_version == 6 && r->protocol == 58);
	bool ports = ip && !icmp && (r->protocol == 6 || r->protocol == 17 || r->protocol == 132);

	if (ip) {
		LIT(o, ",\"source\":{");
		put_kstr(o, "ip", rec_addr_str(r, true, a, sizeof(a)));
		if (ports)
			LIT(o, ",\"port\":"), put_u(o, r->src_port);
		LIT(o, "},\"destination\":{");
		put_kstr(o, "ip", rec_addr_str(r, false, a, sizeof(a)));
		if (ports)
			LIT(o, ",\"port\":"), put_u(o, r->dst_port);
		LIT(o, "}");
	}
	LIT(o, ",\"network\":{");
	if (ip) {
		put_kstr(o, "transport", transport(r->protocol, num, sizeof(num)));
		LIT(o, ",\"iana_number\":");
		put_qu(o, r->protocol);
		LIT(o, ",\"type\":\"ipv");
		put_u(o, r->ip_version);
		LIT(o, "\",");
	} else if (r->ethertype == 0x0806) {
		LIT(o, "\"type\":\"arp\",");
	}
	LIT(o, "\"direction\":\"");
	put_s(o, r->direction == REC_DIR_EGRESS ? "egress" : "ingress");
	LIT(o, "\",\"packets\":");
	put_u(o, r->packets);
	LIT(o, ",\"bytes\":");
	put_u(o, r->bytes);
	LIT(o, "}");
	if (r->rule_id || r->layer != REC_LAYER_NONE) {
		const char *l = rec_layer_name(r->layer);
		LIT(o, ",\"rule\":{\"id\":");
		put_qu(o, r->rule_id);
		LIT(o, ",\"ruleset\":\"");
		put_s(o, l ? l : "unknown");
		LIT(o, "\"}");
	}
}

/* ,"key":"name" for names from record.c's tables (plain ASCII). */
static void put_kname(struct ecs_out *o, const char *key, const char *name)
{
	LIT(o, ",\"");
	put_s(o, key);
	LIT(o, "\":\"");
	put_s(o, name ? name : "unknown");
	LIT(o, "\"");
}

static void put_ku(struct ecs_out *o, const char *key, uint64_t v)
{
	LIT(o, ",\"");
	put_s(o, key);
	LIT(o, "\":");
	put_u(o, v);
}

/* eniflow.*: fields ECS has no name for. */
static void put_custom(struct ecs_out *o, const struct rec_flow *r)
{
	static const char hex[] = "0123456789abcdef";
	const char *er = rec_end_reason_name(r->end_reason);
	char et[6] = {'0', 'x', hex[r->ethertype >> 12], hex[(r->ethertype >> 8) & 15],
		      hex[(r->ethertype >> 4) & 15], hex[r->ethertype & 15]};

	LIT(o, ",\"eniflow\":{\"kind\":\"");
	put_s(o, rec_kind_name(r->kind) ? rec_kind_name(r->kind) : "unknown");
	LIT(o, "\"");
	put_ku(o, "eni_index", r->eni);
	put_ku(o, "sample_1_in_n", r->sample_1_in_n);
	LIT(o, ",\"ethertype\":\"");
	put_mem(o, et, sizeof(et));
	LIT(o, "\"");
	if (er)
		put_kname(o, "end_reason", er);
	if (r->kind == REC_KIND_LOSS) {
		put_ku(o, "lost_records", r->lost_records);
		put_ku(o, "lost_packets", r->packets);
		put_ku(o, "lost_bytes", r->bytes);
		LIT(o, "}");
		return;
	}
	if (r->kind == REC_KIND_FLOW && ((r->ip_version == 4 && r->protocol == 1) ||
					 (r->ip_version == 6 && r->protocol == 58))) {
		put_ku(o, "icmp_type", r->src_port);
		put_ku(o, "icmp_code", r->dst_port);
	}
	put_ku(o, "tcp_flags", r->tcp_flags);
	put_ku(o, "fragments", r->fragments);
	put_kname(o, "l2_class", rec_l2_class_name(r->l2_class));
	put_kname(o, "layer", rec_layer_name(r->layer));
	LIT(o, "}");
}

/* cloud.*, observer.*, labels.*: ENI identity from the dictionary. */
static void put_identity(struct ecs_out *o, const struct rec_flow *r,
			 const struct seg_eni_info *eni, const char *observer)
{
	if (eni && eni->account_id[0]) {
		LIT(o, ",\"cloud\":{\"account\":{");
		put_kstr(o, "id", eni->account_id);
		LIT(o, "}}");
	}
	LIT(o, ",\"observer\":{\"type\":\"switch\",\"vendor\":\"eniflow\",\"product\":\"eniflow\"");
	if (observer && observer[0]) {
		LIT(o, ",");
		put_kstr(o, "hostname", observer);
	}
	/* The ENI is where traffic leaves the switch (ingress to the ENI) or
	 * enters it (egress from the ENI). */
	if (r->direction == REC_DIR_EGRESS)
		LIT(o, ",\"ingress\":{\"interface\":{\"id\":");
	else
		LIT(o, ",\"egress\":{\"interface\":{\"id\":");
	put_qu(o, r->eni);
	if (eni && eni->eni_id[0]) {
		LIT(o, ",");
		put_kstr(o, "name", eni->eni_id);
	}
	LIT(o, "}}}");
	if (eni) {
		LIT(o, ",\"labels\":{");
		put_kstr(o, "eni_id", eni->eni_id);
		LIT(o, ",");
		put_kstr(o, "vpc_id", eni->vpc_id);
		LIT(o, ",");
		put_kstr(o, "subnet_id", eni->subnet_id);
		LIT(o, "}");
	}
}

int rec_format_ecs(const struct rec_flow *r, const struct seg_eni_info *eni,
		   const char *observer, char *buf, size_t len)
{
	struct ecs_out o = {.buf = buf, .len = len};
	bool flow = r->kind == REC_KIND_FLOW;
	bool ok = r->verdict == REC_VERDICT_ACCEPT;

	if (len == 0)
		return -ENOSPC;
	buf[0] = '\0';
	LIT(&o, "{");
	put_time(&o, "@timestamp", r->first_ns);
	LIT(&o, ",\"ecs\":{\"version\":\"" ECS_VERSION "\"},\"event\":{\"kind\":\"event\","
	    "\"category\":[\"network\"],\"type\":[\"connection\"");
	if (flow)
		put_s(&o, ok ? ",\"allowed\"" : ",\"denied\"");
	LIT(&o, "],\"action\":\"");
	put_s(&o, action(r));
	LIT(&o, "\",\"outcome\":\"");
	put_s(&o, !flow ? "unknown" : ok ? "success" : "failure");
	LIT(&o, "\",\"dataset\":\"eniflow.flow\",");
	put_time(&o, "start", r->first_ns);
	LIT(&o, ",");
	put_time(&o, "end", r->last_ns);
	LIT(&o, ",\"duration\":");
	put_u(&o, r->last_ns > r->first_ns ? r->last_ns - r->first_ns : 0);
	LIT(&o, "}");
	if (flow)
		put_flow(&o, r);
	put_identity(&o, r, eni, observer);
	put_custom(&o, r);
	LIT(&o, "}\n");
	if (o.full) {
		buf[0] = '\0';
		return -ENOSPC;
	}
	return (int)o.pos;
}
