/*
 * recgen.c - deterministic generator of realistic flow records.
 *
 * Design: a fixed-size pool of live flows. Each record picks a flow with a
 * skewed (cubic) popularity, so hot flows recur the way they do on a real
 * host, and a small share of picks replace the flow by a new connection of
 * the same ENI (new ephemeral port, often the same peer). Keys, ports and
 * addresses come from small per-ENI and per-peer tables; only counters and
 * times vary per record. All randomness is one splitmix64 stream.
 */
#include "recgen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEN_DEFAULT_START_NS 1767225600000000000ULL /* 2026-01-01T00:00:00Z */
#define GEN_PEERS 4096

struct gen_flow {
	struct rec_flow key;  /* every field except counters and times */
	uint32_t mean_size;   /* average frame size of the flow */
};

struct rec_gen {
	struct rec_gen_params p;
	uint64_t rng;
	uint64_t now_ns;
	struct gen_flow *flows;
	bool have_reply;
	struct rec_flow reply;  /* the other direction of the last flow record */
};

static uint64_t next_u64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(((next_u64(s) >> 32) * (uint64_t)n) >> 32);
}

/* Skewed pick in [0, n): fourth power of a uniform makes low indexes hot. */
static uint32_t skewed(uint64_t *s, uint32_t n)
{
	double u = (double)(next_u64(s) >> 11) / 9007199254740992.0;
	uint32_t i = (uint32_t)(u * u * u * u * n);
	return i < n ? i : n - 1;
}

static uint64_t mix(uint64_t x)
{
	uint64_t s = x;
	return next_u64(&s);
}

void rec_gen_eni_info(uint32_t index, struct seg_eni_info *out)
{
	memset(out, 0, sizeof(*out));
	out->index = index;
	/* AWS ids are 17 hex digits; 64 random bits print as "0" + 16 digits. */
	snprintf(out->eni_id, sizeof(out->eni_id), "eni-%017llx", (unsigned long long)mix(index));
	snprintf(out->vpc_id, sizeof(out->vpc_id), "vpc-%017llx",
		 (unsigned long long)mix(0x1000000ULL + index / 16));
	snprintf(out->subnet_id, sizeof(out->subnet_id), "subnet-%017llx",
		 (unsigned long long)mix(0x2000000ULL + index / 4));
	snprintf(out->account_id, sizeof(out->account_id), "%012llu",
		 (unsigned long long)(mix(0x3000000ULL + index / 64) % 1000000000000ULL));
}

/* The ENI's own address: 10.<vpc>.<subnet>.<host> or 2600:1f18:<vpc>::<host>. */
static void eni_addr(uint32_t eni, int v6, uint8_t a[16])
{
	memset(a, 0, 16);
	if (!v6) {
		a[0] = 10;
		a[1] = (uint8_t)(eni / 16);
		a[2] = (uint8_t)(eni / 4 % 256);
		a[3] = (uint8_t)(10 + eni % 200);
		return;
	}
	a[0] = 0x26; a[1] = 0x00; a[2] = 0x1f; a[3] = 0x18;
	a[4] = (uint8_t)(eni / 16 >> 8); a[5] = (uint8_t)(eni / 16);
	a[6] = (uint8_t)(eni / 4 % 256);
	a[14] = (uint8_t)(eni >> 8); a[15] = (uint8_t)eni;
}

/* A peer: a quarter inside the VPC, the rest from a pool of public hosts. */
static void peer_addr(uint64_t *s, uint32_t eni, int v6, uint8_t a[16])
{
	if (below(s, 4) == 0) {
		eni_addr(eni ^ (1 + below(s, 15)), v6, a);
		return;
	}
	uint64_t h = mix(0x5000000ULL + skewed(s, GEN_PEERS));
	memset(a, 0, 16);
	if (!v6) {
		static const uint8_t nets[] = {52, 54, 3, 18, 142, 151, 104, 185};
		a[0] = nets[h % sizeof(nets)];
		a[1] = (uint8_t)(h >> 8); a[2] = (uint8_t)(h >> 16); a[3] = (uint8_t)(h >> 24 | 1);
		return;
	}
	a[0] = 0x2a; a[1] = 0x00; a[2] = (uint8_t)(h >> 8); a[3] = (uint8_t)(h >> 16);
	a[14] = (uint8_t)(h >> 24); a[15] = (uint8_t)(h >> 32 | 1);
}

static const uint16_t server_ports[] = {443, 443, 443, 80, 53, 22, 3306, 5432, 6379, 8080, 123, 9092};

static void new_flow(struct rec_gen *g, struct gen_flow *f, uint32_t eni)
{
	uint64_t *s = &g->rng;
	struct rec_flow *k = &f->key;
	int v6 = below(s, 100) < g->p.v6_percent;
	uint32_t r = below(s, 100);
	uint16_t svc = server_ports[below(s, sizeof(server_ports) / sizeof(server_ports[0]))];
	uint16_t eph = (uint16_t)(32768 + below(s, 28232));
	uint8_t local[16], remote[16];

	memset(k, 0, sizeof(*k));
	k->version = REC_VERSION;
	k->eni = eni;
	k->direction = below(s, 3) == 0 ? REC_DIR_INGRESS : REC_DIR_EGRESS;
	k->ip_version = v6 ? 6 : 4;
	k->ethertype = v6 ? 0x86dd : 0x0800;
	k->sample_1_in_n = 1;
	if (r < 70) {
		k->protocol = 6;
		k->tcp_flags = REC_TCP_SYN | REC_TCP_ACK | REC_TCP_PSH | REC_TCP_FIN;
		k->end_reason = REC_END_TCP_CLOSE;
	} else if (r < 94) {
		k->protocol = 17;
		if (svc == 443 || svc == 80 || svc == 22)
			svc = 53;
		k->end_reason = REC_END_IDLE;
	} else {
		k->protocol = v6 ? 58 : 1;
		k->end_reason = REC_END_IDLE;
	}
	if (k->protocol == 1 || k->protocol == 58) {
		k->src_port = v6 ? 128 : 8; /* echo request */
		k->dst_port = 0;
	} else if (k->direction == REC_DIR_EGRESS) {
		k->src_port = eph;
		k->dst_port = svc;
	} else {
		k->src_port = eph;
		k->dst_port = svc == 53 ? 53 : (below(s, 2) ? 443 : 22);
	}
	eni_addr(eni, v6, local);
	peer_addr(s, eni, v6, remote);
	memcpy(k->src_addr, k->direction == REC_DIR_EGRESS ? local : remote, 16);
	memcpy(k->dst_addr, k->direction == REC_DIR_EGRESS ? remote : local, 16);
	k->layer = REC_LAYER_SG;
	k->rule_id = 100 + eni % 7;
	if (below(s, 100) < 4) {
		k->verdict = REC_VERDICT_REJECT;
		k->layer = below(s, 2) ? REC_LAYER_SG : REC_LAYER_ACL;
		k->rule_id = k->layer == REC_LAYER_ACL ? 32767 : 0;
		k->tcp_flags = k->protocol == 6 ? REC_TCP_SYN : 0;
		k->end_reason = REC_END_IDLE;
	}
	f->mean_size = k->protocol == 6 ? 60 + below(s, 1440) : 70 + below(s, 400);
}

struct rec_gen *rec_gen_create(const struct rec_gen_params *p)
{
	struct rec_gen *g;

	if (!p || p->v6_percent > 100) {
		errno = EINVAL;
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->p = *p;
	if (!g->p.n_enis)
		g->p.n_enis = 16;
	if (!g->p.n_flows)
		g->p.n_flows = 4096;
	if (!g->p.start_ns)
		g->p.start_ns = GEN_DEFAULT_START_NS;
	if (!g->p.step_ns)
		g->p.step_ns = 10000;
	g->rng = p->seed ^ 0x6a09e667f3bcc909ULL;
	g->now_ns = g->p.start_ns;
	g->flows = calloc(g->p.n_flows, sizeof(*g->flows));
	if (!g->flows) {
		free(g);
		errno = ENOMEM;
		return NULL;
	}
	for (uint32_t i = 0; i < g->p.n_flows; i++)
		new_flow(g, &g->flows[i], skewed(&g->rng, g->p.n_enis));
	return g;
}

void rec_gen_destroy(struct rec_gen *g)
{
	if (!g)
		return;
	free(g->flows);
	free(g);
}

/* Loss, no-data and ARP records: rare, window-shaped, no flow key. */
static void special(struct rec_gen *g, struct rec_flow *o, uint32_t what)
{
	uint64_t *s = &g->rng;
	uint64_t win = 60000000000ULL;

	memset(o, 0, sizeof(*o));
	o->version = REC_VERSION;
	o->eni = below(s, g->p.n_enis);
	o->sample_1_in_n = 1;
	o->last_ns = g->now_ns;
	o->first_ns = g->now_ns - g->p.start_ns < win ? g->p.start_ns : g->now_ns - win;
	if (what == 0) {
		o->kind = REC_KIND_LOSS;
		o->end_reason = REC_END_LOSS_RING;
		o->lost_records = 1 + below(s, 64);
		o->packets = o->lost_records * (1 + below(s, 8));
		o->bytes = o->packets * 400;
	} else if (what == 1) {
		o->kind = REC_KIND_NODATA;
		o->end_reason = REC_END_ACTIVE;
	} else {
		o->ethertype = 0x0806;
		o->l2_class = REC_L2_BROADCAST;
		o->direction = REC_DIR_INGRESS;
		o->packets = 1 + below(s, 4);
		o->bytes = o->packets * 60;
		o->end_reason = REC_END_IDLE;
	}
}

/*
 * Flow records are unidirectional, so most connections also log their
 * reply direction, aged out by the same sweep: swapped addresses and
 * ports, the other direction, similar packet count, other byte count.
 */
static void make_reply(struct rec_gen *g, const struct rec_flow *o, uint32_t mean_size)
{
	uint64_t *s = &g->rng;
	struct rec_flow *r = &g->reply;

	*r = *o;
	memcpy(r->src_addr, o->dst_addr, 16);
	memcpy(r->dst_addr, o->src_addr, 16);
	r->src_port = o->dst_port;
	r->dst_port = o->src_port;
	if (o->protocol == 1 || o->protocol == 58) { /* echo reply */
		r->src_port = o->protocol == 1 ? 0 : 129;
		r->dst_port = 0;
	}
	r->direction = o->direction == REC_DIR_INGRESS ? REC_DIR_EGRESS : REC_DIR_INGRESS;
	r->packets = o->packets > 2 ? o->packets - below(s, (uint32_t)(o->packets / 2)) : o->packets;
	r->bytes = r->packets * (mean_size > 600 ? 66 : mean_size);
	g->have_reply = true;
}

void rec_gen_next(struct rec_gen *g, struct rec_flow *out, size_t n)
{
	uint64_t *s = &g->rng;

	for (size_t i = 0; i < n; i++) {
		struct rec_flow *o = &out[i];
		g->now_ns += below(s, (uint32_t)(2 * g->p.step_ns + 1));
		if (g->have_reply) {
			*o = g->reply;
			o->last_ns = g->now_ns;
			g->have_reply = false;
			continue;
		}
		if (g->p.all_kinds && below(s, 1000) < 6) {
			special(g, o, below(s, 3));
			continue;
		}
		uint32_t fi = skewed(s, g->p.n_flows);
		struct gen_flow *f = &g->flows[fi];
		if (below(s, 100) < 1) /* churn: a new connection of the same ENI */
			new_flow(g, f, f->key.eni);
		*o = f->key;
		uint32_t lg = below(s, 1 + below(s, 12)); /* most flows are small */
		o->packets = 1 + below(s, 1u << lg);
		o->bytes = o->packets * f->mean_size;
		if (o->packets > 1 && o->bytes > 60)
			o->bytes -= below(s, 60);
		uint64_t dur = o->packets == 1 ? 0 : below(s, 2) ? below(s, 1000000000) :
			(uint64_t)below(s, 60000) * 1000000;
		o->last_ns = g->now_ns;
		o->first_ns = g->now_ns - g->p.start_ns < dur ? g->p.start_ns : g->now_ns - dur;
		if (o->verdict == REC_VERDICT_ACCEPT && below(s, 100) < 70)
			make_reply(g, o, f->mean_size);
	}
}
