/*
 * ipfix_encode.c - IPFIX message encoder: templates, data sets, options data.
 *
 * Each template is a table of fields (IE id, length, enterprise bit, where
 * the value comes from). The same table writes the template record and
 * drives the data-record writer, so a template and its records cannot
 * disagree. Variable-length fields (the ENI identity strings) come last in
 * every template, and are pre-encoded once per ENI when the dictionary is
 * set, so a data record is fixed fields plus one memcpy.
 *
 * No I/O and no clock: the caller passes the export time. The sequence
 * number counts data records written, modulo 2^32 (RFC 7011 §3.1).
 */
#include "ipfix.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define VARLEN 0xFFFFu
#define NTP_UNIX_OFFSET 2208988800ull

/** Where a field's value comes from. */
enum fsrc {
	F_SRC4, F_DST4, F_SRC6, F_DST6, F_SPORT, F_DPORT, F_PROTO, F_TCPFLAGS,
	F_ICMP, F_DIR, F_ENDREASON, F_FWD, F_ETHTYPE, F_IN_IF, F_OUT_IF,
	F_PKTS, F_BYTES, F_START_MS, F_END_MS, F_START_NS, F_END_NS,
	F_ENI_INDEX, F_LAYER, F_RULE, F_L2, F_SAMPLE,
	F_LOST_REC, F_LOST_PKTS, F_LOST_BYTES, F_LOSS_SITE,
	F_ENI_STRS, /* the four identity strings, each a varlen field */
	F_DOMAIN, F_NS_FLOWS, F_NS_PKTS, F_NS_BYTES,
};

struct field {
	uint16_t ie;
	uint16_t len;  /* VARLEN for strings */
	uint8_t ent;   /* 1: enterprise-specific (PEN follows in the template) */
	uint8_t src;   /* enum fsrc */
	uint8_t ns;    /* 1: only when nanoseconds are on */
};

#define STRS \
	{IPFIX_ENT_ENI_ID, VARLEN, 1, F_ENI_STRS, 0}, \
	{IPFIX_ENT_VPC_ID, VARLEN, 1, F_ENI_STRS, 0}, \
	{IPFIX_ENT_SUBNET_ID, VARLEN, 1, F_ENI_STRS, 0}, \
	{IPFIX_ENT_ACCOUNT_ID, VARLEN, 1, F_ENI_STRS, 0}

#define COMMON_TAIL \
	{61, 1, 0, F_DIR, 0}, {136, 1, 0, F_ENDREASON, 0}, {89, 1, 0, F_FWD, 0}, \
	{256, 2, 0, F_ETHTYPE, 0}, {10, 4, 0, F_IN_IF, 0}, {14, 4, 0, F_OUT_IF, 0}, \
	{2, 8, 0, F_PKTS, 0}, {1, 8, 0, F_BYTES, 0}, \
	{152, 8, 0, F_START_MS, 0}, {153, 8, 0, F_END_MS, 0}, \
	{156, 8, 0, F_START_NS, 1}, {157, 8, 0, F_END_NS, 1}, \
	{IPFIX_ENT_ENI_INDEX, 4, 1, F_ENI_INDEX, 0}, {IPFIX_ENT_LAYER, 1, 1, F_LAYER, 0}, \
	{IPFIX_ENT_RULE_ID, 4, 1, F_RULE, 0}, {IPFIX_ENT_L2_CLASS, 1, 1, F_L2, 0}, \
	{IPFIX_ENT_SAMPLE_N, 4, 1, F_SAMPLE, 0}, STRS

static const struct field tpl_flow4[] = {
	{8, 4, 0, F_SRC4, 0}, {12, 4, 0, F_DST4, 0},
	{7, 2, 0, F_SPORT, 0}, {11, 2, 0, F_DPORT, 0}, {4, 1, 0, F_PROTO, 0},
	{6, 2, 0, F_TCPFLAGS, 0}, {32, 2, 0, F_ICMP, 0}, COMMON_TAIL,
};
static const struct field tpl_flow6[] = {
	{27, 16, 0, F_SRC6, 0}, {28, 16, 0, F_DST6, 0},
	{7, 2, 0, F_SPORT, 0}, {11, 2, 0, F_DPORT, 0}, {4, 1, 0, F_PROTO, 0},
	{6, 2, 0, F_TCPFLAGS, 0}, {139, 2, 0, F_ICMP, 0}, COMMON_TAIL,
};
static const struct field tpl_l2[] = { COMMON_TAIL };
/* Options templates: the first scope_count fields are the scope. */
static const struct field tpl_loss[] = {
	{IPFIX_ENT_ENI_INDEX, 4, 1, F_ENI_INDEX, 0},
	{152, 8, 0, F_START_MS, 0}, {153, 8, 0, F_END_MS, 0}, {61, 1, 0, F_DIR, 0},
	{IPFIX_ENT_LOSS_SITE, 1, 1, F_LOSS_SITE, 0},
	{IPFIX_ENT_LOST_RECORDS, 4, 1, F_LOST_REC, 0},
	{IPFIX_ENT_LOST_PACKETS, 8, 1, F_LOST_PKTS, 0},
	{IPFIX_ENT_LOST_BYTES, 8, 1, F_LOST_BYTES, 0}, STRS,
};
static const struct field tpl_stats[] = {
	{149, 4, 0, F_DOMAIN, 0}, {166, 8, 0, F_NS_FLOWS, 0},
	{167, 8, 0, F_NS_PKTS, 0}, {168, 8, 0, F_NS_BYTES, 0},
};

struct tpl {
	uint16_t id;
	uint16_t scope;          /* 0: plain template; else options, scope field count */
	const struct field *f;
	uint16_t nf;
	uint16_t fixed_len;      /* bytes of the fixed-length fields (with nanoseconds setting) */
};

/* Pre-encoded identity strings of one ENI: four length-prefixed strings. */
struct eni_strs {
	uint32_t index;
	uint16_t len;
	uint8_t bytes[4 * SEG_ID_LEN];
};

struct ipfix_enc {
	struct ipfix_enc_opts o;
	uint32_t seq;
	struct tpl tpl[5];       /* flow4, flow6, l2, loss, stats */
	struct eni_strs *enis;   /* sorted by index */
	uint32_t n_enis;
	uint32_t last;           /* index into enis of the last hit */
	struct eni_strs unknown; /* four empty strings */
};

enum { T_FLOW4, T_FLOW6, T_L2, T_LOSS, T_STATS };

static inline uint8_t *put8(uint8_t *p, uint8_t v) { *p = v; return p + 1; }
static inline uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v;
	return p + 2;
}
static inline uint8_t *put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
	return p + 4;
}
static inline uint8_t *put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	return put32(p + 4, (uint32_t)v);
}

static void tpl_init(struct tpl *t, uint16_t id, uint16_t scope, const struct field *f,
		     uint16_t nf, bool ns)
{
	t->id = id; t->scope = scope; t->f = f; t->nf = nf; t->fixed_len = 0;
	for (uint16_t i = 0; i < nf; i++)
		if (f[i].len != VARLEN && (!f[i].ns || ns))
			t->fixed_len += f[i].len;
}

#define NF(a) ((uint16_t)(sizeof(a) / sizeof((a)[0])))

struct ipfix_enc *ipfix_enc_create(const struct ipfix_enc_opts *o)
{
	struct ipfix_enc *e;
	uint32_t max = o->max_msg ? o->max_msg : IPFIX_DEFAULT_MTU;

	if (max < IPFIX_MIN_MTU || max > IPFIX_MAX_MSG) {
		errno = EINVAL;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->o = *o;
	e->o.max_msg = max;
	if (!e->o.pen)
		e->o.pen = IPFIX_DEFAULT_PEN;
	tpl_init(&e->tpl[T_FLOW4], IPFIX_TPL_FLOW4, 0, tpl_flow4, NF(tpl_flow4), o->nanoseconds);
	tpl_init(&e->tpl[T_FLOW6], IPFIX_TPL_FLOW6, 0, tpl_flow6, NF(tpl_flow6), o->nanoseconds);
	tpl_init(&e->tpl[T_L2], IPFIX_TPL_L2, 0, tpl_l2, NF(tpl_l2), o->nanoseconds);
	tpl_init(&e->tpl[T_LOSS], IPFIX_TPL_LOSS, 1, tpl_loss, NF(tpl_loss), false);
	tpl_init(&e->tpl[T_STATS], IPFIX_TPL_STATS, 1, tpl_stats, NF(tpl_stats), false);
	e->unknown.len = 4; /* four zero-length strings */
	return e;
}

void ipfix_enc_destroy(struct ipfix_enc *e)
{
	if (!e)
		return;
	free(e->enis);
	free(e);
}

static int eni_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct eni_strs *)a)->index, y = ((const struct eni_strs *)b)->index;
	return x < y ? -1 : x > y;
}

static uint16_t put_str(uint8_t *p, const char *s)
{
	size_t n = strnlen(s, SEG_ID_LEN - 1);
	p[0] = (uint8_t)n; /* < 255: the one-octet length form suffices */
	memcpy(p + 1, s, n);
	return (uint16_t)(n + 1);
}

int ipfix_enc_set_enis(struct ipfix_enc *e, const struct seg_eni_info *enis, uint32_t n)
{
	struct eni_strs *t = n ? calloc(n, sizeof(*t)) : NULL;

	if (n && !t)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t *p = t[i].bytes;
		t[i].index = enis[i].index;
		p += put_str(p, enis[i].eni_id);
		p += put_str(p, enis[i].vpc_id);
		p += put_str(p, enis[i].subnet_id);
		p += put_str(p, enis[i].account_id);
		t[i].len = (uint16_t)(p - t[i].bytes);
	}
	if (n)
		qsort(t, n, sizeof(*t), eni_cmp);
	free(e->enis);
	e->enis = t;
	e->n_enis = n;
	e->last = 0;
	return 0;
}

static const struct eni_strs *eni_lookup(struct ipfix_enc *e, uint32_t index)
{
	uint32_t lo = 0, hi = e->n_enis;

	if (e->n_enis && e->enis[e->last].index == index)
		return &e->enis[e->last];
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (e->enis[mid].index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < e->n_enis && e->enis[lo].index == index) {
		e->last = lo;
		return &e->enis[lo];
	}
	return &e->unknown;
}

static uint8_t *put_header(uint8_t *p, uint32_t export_s, uint32_t seq, uint32_t domain)
{
	p = put16(p, IPFIX_VERSION);
	p = put16(p, 0); /* length, patched when the message is done */
	p = put32(p, export_s);
	p = put32(p, seq);
	return put32(p, domain);
}

static long finish(uint8_t *buf, uint8_t *end)
{
	long len = end - buf;
	put16(buf + 2, (uint16_t)len);
	return len;
}

/* Bytes of one template record of t. */
static size_t tpl_rec_len(const struct ipfix_enc *e, const struct tpl *t)
{
	size_t len = t->scope ? 6 : 4;
	for (uint16_t i = 0; i < t->nf; i++)
		if (!t->f[i].ns || e->o.nanoseconds)
			len += t->f[i].ent ? 8 : 4;
	return len;
}

static uint8_t *put_tpl_rec(const struct ipfix_enc *e, const struct tpl *t, uint8_t *p)
{
	uint16_t count = 0;
	for (uint16_t i = 0; i < t->nf; i++)
		count += !t->f[i].ns || e->o.nanoseconds;
	p = put16(p, t->id);
	p = put16(p, count);
	if (t->scope)
		p = put16(p, t->scope);
	for (uint16_t i = 0; i < t->nf; i++) {
		const struct field *f = &t->f[i];
		if (f->ns && !e->o.nanoseconds)
			continue;
		p = put16(p, (uint16_t)(f->ie | (f->ent ? 0x8000 : 0)));
		p = put16(p, f->len);
		if (f->ent)
			p = put32(p, e->o.pen);
	}
	return p;
}

static uint8_t *put_stats_set(struct ipfix_enc *e, const struct ipfix_loss_counts *c,
			      uint8_t *p)
{
	uint8_t *set = p;

	p = put16(p, IPFIX_TPL_STATS);
	p = put16(p, 0);
	p = put32(p, e->o.domain_id);
	p = put64(p, c->records);
	p = put64(p, c->packets);
	p = put64(p, c->bytes);
	put16(set + 2, (uint16_t)(p - set));
	return p;
}

long ipfix_enc_templates(struct ipfix_enc *e, uint32_t export_s,
			 const struct ipfix_loss_counts *loss, uint8_t *buf, size_t cap)
{
	size_t need = IPFIX_HDR_LEN + 2 * IPFIX_SET_HDR_LEN;
	uint32_t seq = e->seq;
	uint8_t *p, *set;

	for (int i = 0; i < 5; i++)
		need += tpl_rec_len(e, &e->tpl[i]);
	if (loss)
		need += IPFIX_SET_HDR_LEN + e->tpl[T_STATS].fixed_len;
	if (need > cap || need > e->o.max_msg)
		return -ENOSPC;
	p = put_header(buf, export_s, seq, e->o.domain_id);
	set = p; /* set 2: templates */
	p = put16(p, 2);
	p = put16(p, 0);
	for (int i = T_FLOW4; i <= T_L2; i++)
		p = put_tpl_rec(e, &e->tpl[i], p);
	put16(set + 2, (uint16_t)(p - set));
	set = p; /* set 3: options templates */
	p = put16(p, 3);
	p = put16(p, 0);
	for (int i = T_LOSS; i <= T_STATS; i++)
		p = put_tpl_rec(e, &e->tpl[i], p);
	put16(set + 2, (uint16_t)(p - set));
	if (loss) { /* its template is right above, so a collector can read it at once */
		p = put_stats_set(e, loss, p);
		e->seq += 1;
	}
	return finish(buf, p);
}

uint32_t ipfix_enc_seq(const struct ipfix_enc *e) { return e->seq; }
uint32_t ipfix_enc_max_msg(const struct ipfix_enc *e) { return e->o.max_msg; }


/* IPFIX flowEndReason (IANA): 1 idle, 2 active, 3 end detected, 4 forced, 5 lack of resources. */
static uint8_t end_reason(uint8_t r)
{
	switch (r) {
	case REC_END_IDLE: return 1;
	case REC_END_ACTIVE: return 2;
	case REC_END_TCP_CLOSE: return 3;
	case REC_END_SHUTDOWN: return 4;
	case REC_END_CACHE_PRESSURE: return 5;
	default: return 0;
	}
}

/* RFC 7270 forwardingStatus: 66 forwarded (not fragmented), 65 forwarded
 * (fragmented), 129 dropped by ACL deny (security group or network ACL),
 * 128 dropped for an unknown reason (no rule named). */
static uint8_t fwd_status(const struct rec_flow *r)
{
	if (r->verdict == REC_VERDICT_ACCEPT)
		return r->fragments ? 65 : 66;
	return r->layer == REC_LAYER_NONE ? 128 : 129;
}

/* dateTimeNanoseconds: NTP era-0 seconds, then a 2^-32 s fraction, rounded
 * up so that a decoder's floor(frac * 10^9 / 2^32) gives back the exact ns. */
static uint8_t *put_ntp(uint8_t *p, uint64_t ns)
{
	uint64_t sec = ns / 1000000000ull + NTP_UNIX_OFFSET;
	uint64_t frac = (((ns % 1000000000ull) << 32) + 999999999ull) / 1000000000ull;
	p = put32(p, (uint32_t)sec);
	return put32(p, (uint32_t)frac);
}

static bool is_icmp(const struct rec_flow *r)
{
	return (r->ip_version == 4 && r->protocol == 1) ||
	       (r->ip_version == 6 && r->protocol == 58);
}

static uint8_t *put_value(uint8_t *p, uint8_t src, const struct rec_flow *r)
{
	bool icmp = is_icmp(r);
	uint32_t eni_if = r->eni + 1; /* interface 0 means "not an ENI" (uplink) */

	switch (src) {
	case F_SRC4: memcpy(p, r->src_addr, 4); return p + 4;
	case F_DST4: memcpy(p, r->dst_addr, 4); return p + 4;
	case F_SRC6: memcpy(p, r->src_addr, 16); return p + 16;
	case F_DST6: memcpy(p, r->dst_addr, 16); return p + 16;
	case F_SPORT: return put16(p, icmp ? 0 : r->src_port);
	case F_DPORT: return put16(p, icmp ? 0 : r->dst_port);
	case F_PROTO: return put8(p, r->protocol);
	case F_TCPFLAGS: return put16(p, r->protocol == 6 ? r->tcp_flags : 0);
	case F_ICMP: return put16(p, icmp ? (uint16_t)(r->src_port << 8 | (r->dst_port & 0xff)) : 0);
	case F_DIR: return put8(p, r->direction);
	case F_ENDREASON: return put8(p, end_reason(r->end_reason));
	case F_FWD: return put8(p, fwd_status(r));
	case F_ETHTYPE: return put16(p, r->ethertype);
	case F_IN_IF: return put32(p, r->direction == REC_DIR_EGRESS ? eni_if : 0);
	case F_OUT_IF: return put32(p, r->direction == REC_DIR_INGRESS ? eni_if : 0);
	case F_PKTS: return put64(p, r->packets);
	case F_BYTES: return put64(p, r->bytes);
	case F_START_MS: return put64(p, r->first_ns / 1000000u);
	case F_END_MS: return put64(p, r->last_ns / 1000000u);
	case F_START_NS: return put_ntp(p, r->first_ns);
	case F_END_NS: return put_ntp(p, r->last_ns);
	case F_ENI_INDEX: return put32(p, r->eni);
	case F_LAYER: return put8(p, r->layer);
	case F_RULE: return put32(p, r->rule_id);
	case F_L2: return put8(p, r->l2_class);
	case F_SAMPLE: return put32(p, r->sample_1_in_n);
	case F_LOST_REC: return put32(p, r->lost_records);
	case F_LOST_PKTS: return put64(p, r->packets);
	case F_LOST_BYTES: return put64(p, r->bytes);
	case F_LOSS_SITE: return put8(p, r->end_reason);
	default: return p;
	}
}

static uint8_t *put_rec(const struct ipfix_enc *e, const struct tpl *t,
			const struct rec_flow *r, const struct eni_strs *s, uint8_t *p)
{
	for (uint16_t i = 0; i < t->nf; i++) {
		const struct field *f = &t->f[i];
		if (f->ns && !e->o.nanoseconds)
			continue;
		if (f->src == F_ENI_STRS) {
			/* The four strings are the template's last fields. */
			memcpy(p, s->bytes, s->len);
			return p + s->len;
		}
		p = put_value(p, f->src, r);
	}
	return p;
}

static int tpl_of(const struct rec_flow *r)
{
	if (r->kind == REC_KIND_FLOW)
		return r->ip_version == 4 ? T_FLOW4 : r->ip_version == 6 ? T_FLOW6 : T_L2;
	return r->kind == REC_KIND_LOSS ? T_LOSS : -1;
}

long ipfix_enc_data(struct ipfix_enc *e, const struct rec_flow *recs, size_t n,
		    uint32_t export_s, uint8_t *buf, size_t cap,
		    struct ipfix_enc_result *res)
{
	size_t max = cap < e->o.max_msg ? cap : e->o.max_msg, i;
	uint8_t *p = buf + IPFIX_HDR_LEN, *end = buf + max, *set = NULL;
	int cur = -1;

	memset(res, 0, sizeof(*res));
	if (max < IPFIX_HDR_LEN)
		return -ENOSPC;
	for (i = 0; i < n; i++) {
		const struct rec_flow *r = &recs[i];
		int t = tpl_of(r);
		const struct eni_strs *s;
		size_t need;

		if (t < 0) {
			res->nodata++;
			continue;
		}
		s = eni_lookup(e, r->eni);
		need = e->tpl[t].fixed_len + s->len + (t != cur ? IPFIX_SET_HDR_LEN : 0);
		if ((size_t)(end - p) < need)
			break;
		if (t != cur) {
			if (set)
				put16(set + 2, (uint16_t)(p - set));
			set = p;
			p = put16(p, e->tpl[t].id);
			p = put16(p, 0);
			cur = t;
		}
		p = put_rec(e, &e->tpl[t], r, s, p);
		res->records++;
		if (r->kind == REC_KIND_FLOW) {
			res->packets += r->packets;
			res->bytes += r->bytes;
		}
	}
	res->used = i;
	if (!res->records)
		return i == 0 && n > 0 ? -ENOSPC : 0;
	put16(set + 2, (uint16_t)(p - set));
	put_header(buf, export_s, e->seq, e->o.domain_id);
	e->seq += (uint32_t)res->records;
	return finish(buf, p);
}

long ipfix_enc_stats(struct ipfix_enc *e, uint32_t export_s,
		     const struct ipfix_loss_counts *c, uint8_t *buf, size_t cap)
{
	uint8_t *p;

	if (cap < (size_t)IPFIX_HDR_LEN + IPFIX_SET_HDR_LEN + e->tpl[T_STATS].fixed_len)
		return -ENOSPC;
	p = put_header(buf, export_s, e->seq, e->o.domain_id);
	p = put_stats_set(e, c, p);
	e->seq += 1;
	return finish(buf, p);
}
