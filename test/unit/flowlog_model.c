/*
 * flowlog_model.c - the reference model and harness of test_flowlog (see
 * flowlog_model.h). The model knows each packet's key from the generator,
 * not from parsing; the only plugin code it borrows is the flow hash, to
 * predict which flows 1-in-N sampling keeps.
 */
#include "flowlog_model.h"

#include <stdlib.h>
#include <string.h>
#include <rte_errno.h>

struct rte_mempool *pool;

/* ---------------------------------------------------------------- rng */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* ----------------------------------------------------------- flows */

void gflow_make(struct gflow *f, uint32_t i, uint32_t n_enis)
{
	static const uint8_t protos[] = { 6, 17, 1, 6, 17, 6 };
	static const uint16_t nonip[] = { 0x0806, 0x88cc, 0x9000, 0x88b5 };
	uint64_t r = rnd();

	memset(f, 0, sizeof(*f));
	f->kind = i % 10 < 6 ? F_V4 : i % 10 < 9 ? F_V6 : F_NONIP;
	f->eni = (uint32_t)(r % n_enis);
	f->dir = (r >> 8) & 1;
	f->verdict = ((r >> 9) & 3) == 0; /* a quarter rejected */
	f->layer = f->verdict ? 1 + ((r >> 11) & 1) : 0;
	f->rule_id = f->verdict ? (uint32_t)(r >> 12) % 5 + 1 : 0;
	f->l2 = 0;
	if (f->kind == F_NONIP) {
		f->ethertype = nonip[(r >> 16) % 4];
		f->l2 = (r >> 20) % 3;
		/* few distinct non-IP keys: many generated "flows" share one */
		return;
	}
	f->proto = protos[(r >> 16) % 6];
	if (f->kind == F_V4) {
		f->ethertype = 0x0800;
		f->src[0] = 10;
		memcpy(f->src + 1, &i, 3);
		f->dst[0] = 192;
		f->dst[1] = 168;
		f->dst[2] = (uint8_t)(r >> 24);
		f->dst[3] = (uint8_t)(r >> 32);
		if (f->proto == 1)
			f->l2 = ((r >> 40) & 7) == 0 ? 2 : 0; /* some multicast */
	} else {
		f->ethertype = 0x86dd;
		f->src[0] = 0x20;
		f->src[1] = 0x01;
		memcpy(f->src + 8, &i, 4);
		f->dst[0] = 0xfd;
		memcpy(f->dst + 4, &r, 8);
		if (f->proto == 1)
			f->proto = 58;
	}
	if (f->proto == 1 || f->proto == 58) {
		f->sport = (uint16_t)((r >> 44) % 16); /* type */
		f->dport = (uint16_t)((r >> 50) % 4);  /* code */
	} else {
		f->sport = (uint16_t)(1024 + (r >> 44) % 60000);
		f->dport = (uint16_t)((r >> 50) % 1024);
	}
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/** Write flow f as a frame of len bytes (>= 64) with TCP flags fl into m. */
void frame_build(struct rte_mbuf *m, const struct gflow *f, uint16_t len, uint8_t fl)
{
	uint8_t *d;

	rte_pktmbuf_reset(m);
	d = (uint8_t *)rte_pktmbuf_append(m, len);
	memset(d, 0, RTE_MIN(len, (uint16_t)128));
	static const uint8_t dmac[3][6] = { { 0x02, 0, 0, 0, 0, 1 },
					    { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
					    { 0x01, 0x00, 0x5e, 0, 0, 1 } };
	memcpy(d, dmac[f->l2], 6);
	d[6] = 0x02;
	d[11] = 2;
	put16(d + 12, f->ethertype);
	uint8_t *l3 = d + 14, *l4;
	if (f->kind == F_NONIP)
		return;
	if (f->kind == F_V4) {
		l3[0] = 0x45;
		put16(l3 + 2, (uint16_t)(len - 14));
		l3[8] = 64;
		l3[9] = f->proto;
		memcpy(l3 + 12, f->src, 4);
		memcpy(l3 + 16, f->dst, 4);
		l4 = l3 + 20;
	} else {
		l3[0] = 0x60;
		put16(l3 + 4, (uint16_t)(len - 54));
		l3[6] = f->proto;
		l3[7] = 64;
		memcpy(l3 + 8, f->src, 16);
		memcpy(l3 + 24, f->dst, 16);
		l4 = l3 + 40;
	}
	if (f->proto == 1 || f->proto == 58) {
		l4[0] = (uint8_t)f->sport;
		l4[1] = (uint8_t)f->dport;
	} else {
		put16(l4, f->sport);
		put16(l4 + 2, f->dport);
		if (f->proto == 6) {
			l4[12] = 0x50;
			l4[13] = fl;
		} else {
			put16(l4 + 4, (uint16_t)(len - (l4 - d)));
		}
	}
}

/* ----------------------------------------------------------- model map */

struct mval *map;

static uint64_t mkey_hash(const struct mkey *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

struct mval *map_get(const struct mkey *k)
{
	uint64_t i = mkey_hash(k) & (MAP_SLOTS - 1);
	for (;; i = (i + 1) & (MAP_SLOTS - 1)) {
		if (!map[i].used) {
			map[i].used = 1;
			map[i].k = *k;
			return &map[i];
		}
		if (memcmp(&map[i].k, k, sizeof(*k)) == 0)
			return &map[i];
	}
}

void mkey_of_flow(struct mkey *k, const struct gflow *f, uint32_t n)
{
	memset(k, 0, sizeof(*k));
	k->eni = f->eni;
	k->rule_id = f->rule_id;
	k->sample_n = n;
	k->dir = f->dir;
	k->verdict = f->verdict;
	k->layer = f->layer;
	k->l2 = f->l2;
	k->ethertype = f->ethertype;
	if (f->kind == F_NONIP)
		return;
	k->ipv = f->kind == F_V4 ? 4 : 6;
	k->proto = f->proto;
	memcpy(k->src, f->src, 16);
	memcpy(k->dst, f->dst, 16);
	k->sport = f->sport;
	k->dport = f->dport;
}

void mkey_of_rec(struct mkey *k, const struct rec_flow *r)
{
	memset(k, 0, sizeof(*k));
	k->eni = r->eni;
	k->rule_id = r->rule_id;
	k->sample_n = r->sample_1_in_n;
	k->dir = r->direction;
	k->verdict = r->verdict;
	k->layer = r->layer;
	k->l2 = r->l2_class;
	k->ethertype = r->ethertype;
	k->ipv = r->ip_version;
	k->proto = r->protocol;
	memcpy(k->src, r->src_addr, 16);
	memcpy(k->dst, r->dst_addr, 16);
	k->sport = r->src_port;
	k->dport = r->dst_port;
}

/** The plugin's flow hash of f, for the model's sampling decision. */
uint32_t plugin_hash(const struct gflow *f)
{
	struct fl_parsed p;
	struct fl_pkt_meta m = { .eni = f->eni, .direction = f->dir, .verdict = f->verdict,
				 .layer = f->layer, .rule_id = f->rule_id };
	struct fl_lkey lk;

	memset(&p, 0, sizeof(p));
	p.ip_version = f->kind == F_V4 ? 4 : f->kind == F_V6 ? 6 : 0;
	memcpy(p.src, f->src, 16);
	memcpy(p.dst, f->dst, 16);
	p.sport = f->kind == F_NONIP ? 0 : f->sport;
	p.dport = f->kind == F_NONIP ? 0 : f->dport;
	p.ethertype = f->ethertype;
	p.proto = f->proto;
	p.l2_class = f->l2;
	fl_key_build(&lk, &p, &m);
	return lk.k.hash;
}

/* ----------------------------------------------------------- harness */
struct totals tot;

/** Dequeue up to max records from the ring into the map and totals. */
unsigned drain(struct rte_ring *r, unsigned max)
{
	struct rec_flow recs[64];
	unsigned got = 0, n;
	char msg[128];

	while (got < max &&
	       (n = rte_ring_sc_dequeue_burst_elem(r, recs, sizeof(recs[0]),
						   RTE_MIN(64u, max - got), NULL)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			const struct rec_flow *x = &recs[i];
			CHECK(rec_validate(x, msg, sizeof(msg)) == 0, "bad record: %s", msg);
			if (x->kind == REC_KIND_LOSS) {
				CHECK(x->end_reason == REC_END_LOSS_RING, "loss reason %u", x->end_reason);
				tot.loss_pkts[x->eni] += x->packets;
				tot.loss_bytes[x->eni] += x->bytes;
				tot.loss_recs[x->eni] += x->lost_records;
				tot.loss_records++;
				continue;
			}
			struct mkey k;
			mkey_of_rec(&k, x);
			struct mval *v = map_get(&k);
			v->exp_pkts += x->packets;
			v->exp_bytes += x->bytes;
			tot.exp_pkts[x->eni] += x->packets;
			tot.exp_bytes[x->eni] += x->bytes;
			tot.records++;
			tot.by_reason[x->end_reason & 31]++;
		}
		got += n;
	}
	return got;
}

void cfg_set(struct fl_dp *dp, uint32_t eni, int enabled, int type, uint32_t n, int agg)
{
	struct efl_eni_cfg c = { .enabled = (uint8_t)enabled, .traffic_type = (uint8_t)type,
				 .agg_interval_s = (uint16_t)agg, .sample_1_in_n = n };
	efl_cfg_write(fl_dp_shm_cfg(dp), eni, &c);
}

struct fl_dp *make_dp(const char *inst, uint32_t n_enis, uint32_t flows, uint32_t ring)
{
	struct fl_dp_params p = { .instance = inst, .n_workers = 1, .n_enis = n_enis,
				  .flows_per_worker = flows, .ring_size = ring,
				  .socket_id = SOCKET_ID_ANY };
	struct fl_dp *dp = fl_dp_create(&p);
	if (dp == NULL) {
		fprintf(stderr, "fl_dp_create(%s): %s\n", inst, rte_strerror(rte_errno));
		exit(1);
	}
	return dp;
}

static uint32_t *cell_owner; /* [send_cells_n]: flow index + 1 using the cell, 0 none */

void reset_model(void)
{
	memset(map, 0, sizeof(*map) * MAP_SLOTS);
	memset(&tot, 0, sizeof(tot));
	free(cell_owner); /* a new plugin instance: no cell is armed */
	cell_owner = NULL;
	if (send_cells != NULL)
		memset(send_cells, 0, send_cells_n * sizeof(*send_cells));
}

struct gflow *flows;

/** Send one burst of flow indexes idx[] at time now; the model follows. */
uint32_t *send_hints;
uint32_t send_hints_n;
struct fl_cell *send_cells;
uint32_t send_cells_n;
uint32_t cells_pending_max;

/* The host side of cells: which cell packet i's flow gets, or NULL. */
static struct fl_cell *host_cell(struct fl_worker *w, const uint32_t *idx, unsigned i, uint64_t r)
{
	uint32_t ci = idx[i] % send_cells_n;

	if (cell_owner == NULL)
		cell_owner = calloc(send_cells_n, sizeof(*cell_owner));
	/* a cell goes to one connection per burst: the switch's rule too
	 * (vs_conn_recycled_busy()) */
	for (unsigned j = 0; j < i; j++)
		if (idx[j] % send_cells_n == ci && idx[j] != idx[i])
			return NULL;
	if (cell_owner[ci] != idx[i] + 1) {
		fl_dp_cell_release(w, &send_cells[ci]);
		cell_owner[ci] = idx[i] + 1;
	}
	if ((r >> 20) % 97 == 0) {
		/* the host reuses a session slot: not one this burst uses */
		uint32_t cj = (uint32_t)((r >> 28) % send_cells_n);
		bool used = false;
		for (unsigned j = 0; j <= i; j++)
			used |= idx[j] % send_cells_n == cj;
		if (!used) {
			fl_dp_cell_release(w, &send_cells[cj]);
			cell_owner[cj] = 0;
		}
	}
	return &send_cells[ci];
}

void send_burst(struct fl_worker *w, const uint32_t *idx, unsigned n, uint64_t now,
		       const uint32_t *model_n /* per ENI sample N, 0 = disabled */,
		       const uint8_t *model_type)
{
	struct rte_mbuf *m[BURST];
	struct fl_pkt_meta meta[BURST];

	if (rte_pktmbuf_alloc_bulk(pool, m, n) != 0) {
		fprintf(stderr, "mbuf alloc failed\n");
		exit(1);
	}
	for (unsigned i = 0; i < n; i++) {
		const struct gflow *f = &flows[idx[i]];
		struct gflow renamed;
		/* v6 frames long enough for the L4 header: a cut one is another key */
		uint16_t len = (uint16_t)((f->kind == F_V6 ? 78 : 64) + rnd() % 1400);
		uint64_t r = rnd();
		if ((send_hints != NULL || send_cells != NULL) && (r >> 40) % 8 == 0) {
			/* the same connection decided by another rule (a rule
			 * change): another flow, behind the same hint word */
			renamed = *f;
			renamed.rule_id ^= 0x100;
			f = &renamed;
		}
		uint8_t tfl = (r & 1023) == 0 ? 0x04 : (r & 1023) < 8 ? 0x11 : 0x10;
		frame_build(m[i], f, len, tfl);
		meta[i] = (struct fl_pkt_meta){ .eni = f->eni, .direction = f->dir,
						.verdict = f->verdict, .layer = f->layer,
						.rule_id = f->rule_id };
		if (send_hints != NULL) {
			/* two flows per hint word, and now and then garbage in one */
			meta[i].flow_hint = &send_hints[idx[i] % send_hints_n];
			if ((r >> 20) % 64 == 0)
				send_hints[(r >> 26) % send_hints_n] = (uint32_t)((r * 0x9e3779b97f4a7c15ull) >> 32);
		} else if (send_cells != NULL) {
			meta[i].cell = host_cell(w, idx, i, r);
		}
		uint32_t sn = model_n[f->eni];
		uint8_t ty = model_type[f->eni];
		bool type_ok = ty == EFL_TRAFFIC_ALL || (ty == EFL_TRAFFIC_ACCEPT && !f->verdict) ||
			       (ty == EFL_TRAFFIC_REJECT && f->verdict);
		if (sn != 0 && type_ok && fl_sample_keep(plugin_hash(f), sn)) {
			struct mkey k;
			mkey_of_flow(&k, f, sn);
			struct mval *v = map_get(&k);
			v->pkts++;
			v->bytes += len;
		}
	}
	CHECK(fl_dp_account_burst(w, m, meta, (uint16_t)n, now) == n, "burst count");
	rte_pktmbuf_free_bulk(m, n);
	if (send_cells != NULL) {
		uint32_t pending = 0;
		for (uint32_t c = 0; c < send_cells_n; c++)
			pending += send_cells[c].packets != 0;
		cells_pending_max = pending > cells_pending_max ? pending : cells_pending_max;
	}
}

/** Flush, drain everything (loss records included) and compare with the model. */
void finish_and_compare(struct fl_dp *dp, struct fl_worker *w, uint64_t now, bool exact,
			       const char *name)
{
	struct rte_ring *ring = w->ring;

	fl_dp_flush(w, now);
	for (int i = 0; i < 1000 && (w->n_loss > 0 || rte_ring_count(ring) > 0); i++) {
		drain(ring, ~0u);
		fl_dp_poll(w, now);
	}
	drain(ring, ~0u);
	CHECK(w->n_loss == 0, "%s: pending loss left %u", name, w->n_loss);
	CHECK(w->cache.n_live == 0, "%s: %u live flows after flush", name, w->cache.n_live);

	uint64_t model_pk[EFL_MAX_ENIS] = { 0 }, model_by[EFL_MAX_ENIS] = { 0 };
	unsigned bad = 0;
	for (uint32_t i = 0; i < MAP_SLOTS; i++) {
		struct mval *v = &map[i];
		if (!v->used)
			continue;
		model_pk[v->k.eni] += v->pkts;
		model_by[v->k.eni] += v->bytes;
		bool ok = exact ? v->exp_pkts == v->pkts && v->exp_bytes == v->bytes
				: v->exp_pkts <= v->pkts && v->exp_bytes <= v->bytes;
		if (!ok && bad++ < 5)
			CHECK(ok, "%s: key eni %u ipv %u proto %u sport %u n %u: exported %lu/%lu, "
				  "model %lu/%lu", name, v->k.eni, v->k.ipv, v->k.proto, v->k.sport,
			      v->k.sample_n, v->exp_pkts, v->exp_bytes, v->pkts, v->bytes);
	}
	CHECK(bad == 0, "%s: %u keys differ from the model", name, bad);
	struct efl_shm_stats *st = fl_dp_shm_stats(dp);
	for (uint32_t e = 0; e < N_ENIS; e++) {
		struct efl_eni_stats *es = efl_stats_eni(st, 0, e);
		CHECK(es->packets_accounted == model_pk[e] && es->bytes_accounted == model_by[e],
		      "%s: eni %u accounted %lu/%lu, model %lu/%lu", name, e, es->packets_accounted,
		      es->bytes_accounted, model_pk[e], model_by[e]);
		CHECK(tot.exp_pkts[e] + es->lost_packets == model_pk[e] &&
			      tot.exp_bytes[e] + es->lost_bytes == model_by[e],
		      "%s: eni %u exported %lu + lost %lu != accounted %lu (bytes %lu + %lu != %lu)",
		      name, e, tot.exp_pkts[e], es->lost_packets, model_pk[e], tot.exp_bytes[e],
		      es->lost_bytes, model_by[e]);
		CHECK(tot.loss_pkts[e] == es->lost_packets && tot.loss_bytes[e] == es->lost_bytes &&
			      tot.loss_recs[e] == es->lost_records,
		      "%s: eni %u loss records say %lu pkts %lu bytes %lu recs, counters %lu %lu %lu",
		      name, e, tot.loss_pkts[e], tot.loss_bytes[e], tot.loss_recs[e],
		      es->lost_packets, es->lost_bytes, es->lost_records);
	}
}

unsigned drain_recs(struct rte_ring *r, struct rec_flow *out, unsigned max)
{
	return rte_ring_sc_dequeue_burst_elem(r, out, sizeof(*out), max, NULL);
}

void send_one(struct fl_worker *w, const struct gflow *f, uint16_t len, uint8_t tfl,
		     uint64_t now)
{
	send_one_cell(w, f, len, tfl, now, NULL);
}

void send_one_cell(struct fl_worker *w, const struct gflow *f, uint16_t len, uint8_t tfl,
		   uint64_t now, struct fl_cell *cell)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	struct fl_pkt_meta meta = { .eni = f->eni, .direction = f->dir, .verdict = f->verdict,
				    .layer = f->layer, .rule_id = f->rule_id, .cell = cell };
	frame_build(m, f, len, tfl);
	fl_dp_account_burst(w, &m, &meta, 1, now);
	rte_pktmbuf_free(m);
}

/* Poll often enough at one instant to spend the sweep credit the clock
 * step gave (a step of FL_SWEEP_PERIOD_NS or more covers the whole table). */
unsigned poll_all(struct fl_worker *w, uint64_t now)
{
	unsigned n = 0;
	for (int i = 0; i < 8; i++)
		n += fl_dp_poll(w, now);
	return n;
}

void tcp_flow(struct gflow *f, uint32_t i)
{
	memset(f, 0, sizeof(*f));
	f->kind = F_V4;
	f->proto = 6;
	f->ethertype = 0x0800;
	f->src[0] = 10;
	f->src[3] = (uint8_t)i;
	f->dst[0] = 10;
	f->dst[3] = 200;
	f->sport = (uint16_t)(40000 + i);
	f->dport = 443;
}
