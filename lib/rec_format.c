/*
 * rec_format.c - JSON Lines, CSV and AWS text renderings of flow records.
 *
 * Design: one table of columns decides, per record kind, each field's value
 * once (missing, number or string); three small renderers turn those values
 * into text. So the formats cannot disagree about what a field means, and
 * the AWS text is just the first 14 columns of the table.
 */
#include "rec_format.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/** One field's value: missing, an unsigned number or a string. */
enum val_type { V_NULL, V_U64, V_STR };

struct val {
	enum val_type t;
	uint64_t u;
	const char *s;
};

/** Scratch space the string values point into, per formatted record. */
struct scratch {
	char src[64];
	char dst[64];
	char ethertype[8];
};

/*
 * The columns, in output order, as X-macros: the enum, the name table and
 * both header lines are generated from these lists, so they cannot drift.
 * AWS_COLS after "version" make AWS's default format (14 fields).
 */
#define AWS_COLS(X)                                                          \
	X(ACCOUNT, "account-id") X(INTERFACE, "interface-id")                \
	X(SRCADDR, "srcaddr") X(DSTADDR, "dstaddr") X(SRCPORT, "srcport")     \
	X(DSTPORT, "dstport") X(PROTOCOL, "protocol") X(PACKETS, "packets")   \
	X(BYTES, "bytes") X(START, "start") X(END, "end") X(ACTION, "action") \
	X(LOG_STATUS, "log-status")
/* AWS custom-format fields we can fill, then eniflow's own. */
#define EXTRA_COLS(X)                                                        \
	X(VPC, "vpc-id") X(SUBNET, "subnet-id") X(TYPE, "type")               \
	X(TCP_FLAGS, "tcp-flags") X(FLOW_DIRECTION, "flow-direction")         \
	X(RECORD_VERSION, "record-version") X(ENI_INDEX, "eni-index")         \
	X(RULE_ID, "rule-id") X(LAYER, "layer") X(END_REASON, "end-reason")   \
	X(L2_CLASS, "l2-class") X(ETHERTYPE, "ethertype")                     \
	X(ICMP_TYPE, "icmp-type") X(ICMP_CODE, "icmp-code")                   \
	X(SAMPLE, "sample-1-in-n") X(FRAGMENTS, "fragments")                  \
	X(START_NS, "start-ns") X(END_NS, "end-ns")                           \
	X(LOST_PACKETS, "lost-packets") X(LOST_BYTES, "lost-bytes")           \
	X(LOST_RECORDS, "lost-records")

#define COL_ENUM(id, name) C_##id,
#define COL_SP(id, name) " " name
#define COL_COMMA(id, name) "," name
#define COL_JKEY(id, name) "\"" name "\":",
#define COL_JLEN(id, name) sizeof("\"" name "\":") - 1,

enum col { C_VERSION, AWS_COLS(COL_ENUM) EXTRA_COLS(COL_ENUM) C_COUNT };

/* JSON keys with their quotes and colon, ready to copy. */
static const char *const json_keys[C_COUNT] = {
	"\"version\":", AWS_COLS(COL_JKEY) EXTRA_COLS(COL_JKEY)
};
static const size_t json_key_len[C_COUNT] = {
	sizeof("\"version\":") - 1, AWS_COLS(COL_JLEN) EXTRA_COLS(COL_JLEN)
};

static const char aws_header[] = "version" AWS_COLS(COL_SP) "\n";
static const char csv_header[] = "version" AWS_COLS(COL_COMMA) EXTRA_COLS(COL_COMMA) "\n";

/* The AWS default format is the columns up to log-status. */
#define AWS_FIELDS (C_LOG_STATUS + 1)
_Static_assert(AWS_FIELDS == 14, "AWS default format has 14 fields");

static const char *const fmt_names[REC_FMT_MAX] = {"json", "csv", "aws", "ecs"};

int rec_fmt_parse(const char *name, enum rec_fmt *out)
{
	for (int f = 0; f < REC_FMT_MAX; f++) {
		if (strcmp(name, fmt_names[f]) == 0) {
			*out = (enum rec_fmt)f;
			return 0;
		}
	}
	return -EINVAL;
}

const char *rec_fmt_name(enum rec_fmt f)
{
	return (unsigned)f < REC_FMT_MAX ? fmt_names[f] : NULL;
}

const char *rec_fmt_header(enum rec_fmt f)
{
	switch (f) {
	case REC_FMT_JSON:
	case REC_FMT_ECS:
		return "";
	case REC_FMT_CSV:
		return csv_header;
	case REC_FMT_AWS:
		return aws_header;
	default:
		return NULL;
	}
}

/* ------------------------------------------------------------- values */

static struct val vnull(void) { return (struct val){.t = V_NULL}; }
static struct val vu64(uint64_t u) { return (struct val){.t = V_U64, .u = u}; }

/* A string value; an empty or absent string is a missing value. */
static struct val vstr(const char *s)
{
	return s && s[0] ? (struct val){.t = V_STR, .s = s} : vnull();
}

/* An enum's name, or its number when the value has no name. */
static struct val vname(const char *name, uint8_t v)
{
	return name ? vstr(name) : vu64(v);
}

static bool is_icmp(const struct rec_flow *r)
{
	return (r->ip_version == 4 && r->protocol == 1) ||
	       (r->ip_version == 6 && r->protocol == 58);
}

/* Identity and time columns: every kind of record has them. */
static void fill_common(const struct rec_flow *r, const struct seg_eni_info *eni,
			struct val *v)
{
	v[C_ACCOUNT] = vstr(eni ? eni->account_id : NULL);
	v[C_INTERFACE] = vstr(eni ? eni->eni_id : NULL);
	v[C_VPC] = vstr(eni ? eni->vpc_id : NULL);
	v[C_SUBNET] = vstr(eni ? eni->subnet_id : NULL);
	v[C_START] = vu64(r->first_ns / 1000000000u);
	v[C_END] = vu64(r->last_ns / 1000000000u);
	v[C_RECORD_VERSION] = vu64(r->version);
	v[C_ENI_INDEX] = vu64(r->eni);
	v[C_SAMPLE] = vu64(r->sample_1_in_n);
	v[C_START_NS] = vu64(r->first_ns);
	v[C_END_NS] = vu64(r->last_ns);
}

/* Key and counter columns of a flow record (kind FLOW, or an unknown kind). */
static void fill_flow(const struct rec_flow *r, struct scratch *s, struct val *v)
{
	bool ip = r->ip_version == 4 || r->ip_version == 6;

	if (ip) {
		v[C_SRCADDR] = vstr(rec_addr_str(r, true, s->src, sizeof(s->src)));
		v[C_DSTADDR] = vstr(rec_addr_str(r, false, s->dst, sizeof(s->dst)));
		/* AWS reports ports 0 for ICMP; type and code get their own columns. */
		v[C_SRCPORT] = vu64(is_icmp(r) ? 0 : r->src_port);
		v[C_DSTPORT] = vu64(is_icmp(r) ? 0 : r->dst_port);
		v[C_PROTOCOL] = vu64(r->protocol);
		v[C_TYPE] = vstr(r->ip_version == 4 ? "IPv4" : "IPv6");
		v[C_TCP_FLAGS] = vu64(r->tcp_flags);
	}
	if (is_icmp(r)) {
		v[C_ICMP_TYPE] = vu64(r->src_port);
		v[C_ICMP_CODE] = vu64(r->dst_port);
	}
	v[C_PACKETS] = vu64(r->packets);
	v[C_BYTES] = vu64(r->bytes);
	v[C_ACTION] = vname(rec_verdict_name(r->verdict), r->verdict);
	v[C_LOG_STATUS] = r->kind == REC_KIND_FLOW ? vstr("OK") : vu64(r->kind);
	v[C_FLOW_DIRECTION] = vname(rec_direction_name(r->direction), r->direction);
	v[C_RULE_ID] = vu64(r->rule_id);
	v[C_LAYER] = vname(rec_layer_name(r->layer), r->layer);
	v[C_END_REASON] = vname(rec_end_reason_name(r->end_reason), r->end_reason);
	v[C_L2_CLASS] = vname(rec_l2_class_name(r->l2_class), r->l2_class);
	for (int i = 0; i < 4; i++) /* "0x%04x" without snprintf's cost */
		s->ethertype[2 + i] = "0123456789abcdef"[(r->ethertype >> (12 - 4 * i)) & 0xf];
	memcpy(s->ethertype, "0x", 2);
	s->ethertype[6] = '\0';
	v[C_ETHERTYPE] = vstr(s->ethertype);
	v[C_FRAGMENTS] = vu64(r->fragments);
}

static void fill_values(const struct rec_flow *r, const struct seg_eni_info *eni,
			struct scratch *s, struct val *v)
{
	for (int i = 0; i < C_COUNT; i++)
		v[i] = vnull();
	fill_common(r, eni, v);
	switch (r->kind) {
	case REC_KIND_LOSS:
		/* AWS SKIPDATA: no key, no counters; the lost amounts go to extras. */
		v[C_LOG_STATUS] = vstr("SKIPDATA");
		v[C_END_REASON] = vname(rec_end_reason_name(r->end_reason), r->end_reason);
		v[C_LOST_PACKETS] = vu64(r->packets);
		v[C_LOST_BYTES] = vu64(r->bytes);
		v[C_LOST_RECORDS] = vu64(r->lost_records);
		break;
	case REC_KIND_NODATA:
		v[C_LOG_STATUS] = vstr("NODATA");
		break;
	default:
		fill_flow(r, s, v);
		break;
	}
	v[C_VERSION] = vu64(REC_FMT_JSON_VERSION);
}

/* ----------------------------------------------------------- renderers */

/** Bounded appender: remembers overflow instead of failing at each call. */
struct out {
	char *buf;
	size_t len;
	size_t pos;
	bool full;
};

static void put_mem(struct out *o, const char *s, size_t n)
{
	if (o->full || o->len - o->pos <= n) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->pos, s, n);
	o->pos += n;
	o->buf[o->pos] = '\0';
}

static void put_s(struct out *o, const char *s) { put_mem(o, s, strlen(s)); }
static void put_c(struct out *o, char c) { put_mem(o, &c, 1); }

/* Decimal digits by hand: snprintf was half of the JSON formatting time. */
static void put_u64(struct out *o, uint64_t u)
{
	char num[20];
	size_t i = sizeof(num);

	do {
		num[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	put_mem(o, num + i, sizeof(num) - i);
}

/* Length of the prefix of s that is printable ASCII without quote or backslash. */
static size_t plain_len(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
		p++;
	return (size_t)(p - (const unsigned char *)s);
}

/* JSON string: printable ASCII as is; the rest escaped as \u00XX (Latin-1). */
static void put_json_str(struct out *o, const char *s)
{
	put_c(o, '"');
	while (*s) {
		size_t n = plain_len(s);
		char esc[8];
		put_mem(o, s, n); /* runs of plain bytes in one copy */
		s += n;
		if (!*s)
			break;
		if (*s == '"' || *s == '\\') {
			put_c(o, '\\');
			put_c(o, *s);
		} else {
			put_mem(o, esc, (size_t)snprintf(esc, sizeof(esc), "\\u%04x",
							 (unsigned char)*s));
		}
		s++;
	}
	put_c(o, '"');
}

/* CSV cell (RFC 4180): quoted only when it holds a comma, quote or line break. */
static void put_csv_str(struct out *o, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		put_s(o, s);
		return;
	}
	put_c(o, '"');
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			put_c(o, '"');
		put_c(o, *p);
	}
	put_c(o, '"');
}

/* AWS text field: one token, so blanks and non-printables become '?'. */
static void put_aws_str(struct out *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p > 0x20 && *p < 0x7f)
		p++;
	if (!*p) { /* the usual case: an id with nothing to replace */
		put_mem(o, s, (size_t)(p - (const unsigned char *)s));
		return;
	}
	for (p = (const unsigned char *)s; *p; p++)
		put_c(o, *p <= 0x20 || *p >= 0x7f ? '?' : (char)*p);
}

static void render(enum rec_fmt f, const struct val *v, struct out *o)
{
	int n = f == REC_FMT_AWS ? AWS_FIELDS : C_COUNT;

	if (f == REC_FMT_JSON)
		put_c(o, '{');
	for (int i = 0; i < n; i++) {
		if (i)
			put_c(o, f == REC_FMT_AWS ? ' ' : ',');
		if (f == REC_FMT_JSON)
			put_mem(o, json_keys[i], json_key_len[i]);
		if (v[i].t == V_U64)
			put_u64(o, v[i].u);
		else if (v[i].t == V_STR && f == REC_FMT_JSON)
			put_json_str(o, v[i].s);
		else if (v[i].t == V_STR && f == REC_FMT_CSV)
			put_csv_str(o, v[i].s);
		else if (v[i].t == V_STR)
			put_aws_str(o, v[i].s);
		else if (f == REC_FMT_JSON)
			put_s(o, "null");
		else if (f == REC_FMT_AWS)
			put_c(o, '-');
	}
	put_s(o, f == REC_FMT_JSON ? "}\n" : "\n");
}

int rec_format(enum rec_fmt f, const struct rec_flow *r,
	       const struct seg_eni_info *eni, char *buf, size_t len)
{
	struct val v[C_COUNT];
	struct scratch s;
	struct out o = {.buf = buf, .len = len};

	if ((unsigned)f >= REC_FMT_MAX)
		return -EINVAL;
	if (len == 0)
		return -ENOSPC;
	if (f == REC_FMT_ECS)
		return rec_format_ecs(r, eni, NULL, buf, len);
	buf[0] = '\0';
	fill_values(r, eni, &s, v);
	if (f == REC_FMT_AWS)
		v[C_VERSION] = vu64(REC_FMT_AWS_VERSION);
	render(f, v, &o);
	if (o.full) {
		buf[0] = '\0';
		return -ENOSPC;
	}
	return (int)o.pos;
}
