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

/* source.*, destination.*, network.*: the flow key and counters. */
static void put_flow(struct ecs_out *o, const struct rec_flow *r)
{
	char a[64], num[8];
	bool ip = r->ip_version == 4 || r->ip_version == 6;
	bool icmp = (r->ip_version == 4 && r->protocol == 1) ||
		    (r->ip_version == 6 && r->protocol == 58);
	bool ports = ip && !icmp && (r->protocol == 6 || r->protocol == 17 || r->protocol == 132);

	if (ip) {
		put_f(o, ",\"source\":{");
		put_kstr(o, "ip", rec_addr_str(r, true, a, sizeof(a)));
		if (ports)
			put_f(o, ",\"port\":%u", r->src_port);
		put_f(o, "},\"destination\":{");
		put_kstr(o, "ip", rec_addr_str(r, false, a, sizeof(a)));
		if (ports)
			put_f(o, ",\"port\":%u", r->dst_port);
		put_f(o, "}");
	}
	put_f(o, ",\"network\":{");
	if (ip) {
		put_kstr(o, "transport", transport(r->protocol, num, sizeof(num)));
		put_f(o, ",\"iana_number\":\"%u\",\"type\":\"ipv%u\",", r->protocol, r->ip_version);
	} else if (r->ethertype == 0x0806) {
		put_f(o, "\"type\":\"arp\",");
	}
	put_f(o, "\"direction\":\"%s\",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
	      r->direction == REC_DIR_EGRESS ? "egress" : "ingress", r->packets, r->bytes);
	if (r->rule_id || r->layer != REC_LAYER_NONE) {
		const char *l = rec_layer_name(r->layer);
		put_f(o, ",\"rule\":{\"id\":\"%" PRIu32 "\",\"ruleset\":\"%s\"}", r->rule_id,
		      l ? l : "unknown");
	}
}

/* eniflow.*: fields ECS has no name for. */
static void put_custom(struct ecs_out *o, const struct rec_flow *r)
{
	const char *er = rec_end_reason_name(r->end_reason);
	const char *l2 = rec_l2_class_name(r->l2_class);

	put_f(o, ",\"eniflow\":{\"kind\":\"%s\",\"eni_index\":%" PRIu32
	      ",\"sample_1_in_n\":%" PRIu32 ",\"ethertype\":\"0x%04x\"",
	      rec_kind_name(r->kind) ? rec_kind_name(r->kind) : "unknown", r->eni,
	      r->sample_1_in_n, r->ethertype);
	if (er)
		put_f(o, ",\"end_reason\":\"%s\"", er);
	if (r->kind == REC_KIND_LOSS) {
		put_f(o, ",\"lost_records\":%" PRIu32 ",\"lost_packets\":%" PRIu64
		      ",\"lost_bytes\":%" PRIu64 "}", r->lost_records, r->packets, r->bytes);
		return;
	}
	if (r->kind == REC_KIND_FLOW && ((r->ip_version == 4 && r->protocol == 1) ||
					 (r->ip_version == 6 && r->protocol == 58)))
		put_f(o, ",\"icmp_type\":%u,\"icmp_code\":%u", r->src_port, r->dst_port);
	put_f(o, ",\"tcp_flags\":%u,\"fragments\":%" PRIu32 ",\"l2_class\":\"%s\",\"layer\":\"%s\"}",
	      r->tcp_flags, r->fragments, l2 ? l2 : "unknown",
	      rec_layer_name(r->layer) ? rec_layer_name(r->layer) : "unknown");
}

/* cloud.*, observer.*, labels.*: ENI identity from the dictionary. */
static void put_identity(struct ecs_out *o, const struct rec_flow *r,
			 const struct seg_eni_info *eni, const char *observer)
{
	/* The ENI is where traffic leaves the switch (ingress to the ENI) or
	 * enters it (egress from the ENI). */
	const char *side = r->direction == REC_DIR_EGRESS ? "ingress" : "egress";

	if (eni && eni->account_id[0]) {
		put_f(o, ",\"cloud\":{\"account\":{");
		put_kstr(o, "id", eni->account_id);
		put_f(o, "}}");
	}
	put_f(o, ",\"observer\":{\"type\":\"switch\",\"vendor\":\"eniflow\",\"product\":\"eniflow\"");
	if (observer && observer[0]) {
		put_f(o, ",");
		put_kstr(o, "hostname", observer);
	}
	put_f(o, ",\"%s\":{\"interface\":{\"id\":\"%" PRIu32 "\"", side, r->eni);
	if (eni && eni->eni_id[0]) {
		put_f(o, ",");
		put_kstr(o, "name", eni->eni_id);
	}
	put_f(o, "}}}");
	if (eni) {
		put_f(o, ",\"labels\":{");
		put_kstr(o, "eni_id", eni->eni_id);
		put_f(o, ",");
		put_kstr(o, "vpc_id", eni->vpc_id);
		put_f(o, ",");
		put_kstr(o, "subnet_id", eni->subnet_id);
		put_f(o, "}");
	}
}

int rec_format_ecs(const struct rec_flow *r, const struct seg_eni_info *eni,
		   const char *observer, char *buf, size_t len)
{
	struct ecs_out o = {.buf = buf, .len = len};
	bool flow = r->kind == REC_KIND_FLOW;

	if (len == 0)
		return -ENOSPC;
	buf[0] = '\0';
	put_f(&o, "{");
	put_time(&o, "@timestamp", r->first_ns);
	put_f(&o, ",\"ecs\":{\"version\":\"" ECS_VERSION "\"},\"event\":{\"kind\":\"event\","
	      "\"category\":[\"network\"],\"type\":[\"connection\"%s],\"action\":\"%s\","
	      "\"outcome\":\"%s\",\"dataset\":\"eniflow.flow\",",
	      !flow ? "" : r->verdict == REC_VERDICT_ACCEPT ? ",\"allowed\"" : ",\"denied\"",
	      action(r), !flow ? "unknown" : r->verdict == REC_VERDICT_ACCEPT ? "success" : "failure");
	put_time(&o, "start", r->first_ns);
	put_f(&o, ",");
	put_time(&o, "end", r->last_ns);
	put_f(&o, ",\"duration\":%" PRIu64 "}",
	      r->last_ns > r->first_ns ? r->last_ns - r->first_ns : 0);
	if (flow)
		put_flow(&o, r);
	put_identity(&o, r, eni, observer);
	put_custom(&o, r);
	put_f(&o, "}\n");
	if (o.full) {
		buf[0] = '\0';
		return -ENOSPC;
	}
	return (int)o.pos;
}
