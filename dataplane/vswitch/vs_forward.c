/*
 * vs_forward.c - the per-lcore poll loop of eniflow-vswitch.
 *
 * One rx burst at a time: parse each frame, pick its destination (an ENI of
 * the same VPC by destination MAC, every other ENI of the VPC for broadcast
 * and multicast, else the uplink), check the source ENI's egress (subnet
 * ACL, then security groups), then each destination ENI's ingress, and
 * hand one fl_pkt_meta per ENI crossing to the flow-log plugin before the
 * packet is sent or dropped. Checks are batched (VS_CHECK_BURST) so the
 * policy classifies many packets per rte_acl call. A flooded frame is
 * sent by reference (one refcount per copy), never copied.
 *
 * Each iteration's length, and its fl_dp_poll() part, go into log2
 * histograms (telemetry /eniflow/stalls), so a test can show what config
 * changes or anything else do to the loop over a chosen time window.
 */
#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_prefetch.h>

#include "record.h"
#include "vs_internal.h"

enum dest_kind { D_DROP, D_ENI, D_UPLINK, D_FLOOD };

/* Everything the loop needs about one burst. */
struct burst {
	struct rte_mbuf *pkts[VS_BURST];
	struct vs_flow flow[VS_BURST];
	uint8_t kind[VS_BURST];
	int32_t dst[VS_BURST];         /* ENI for D_ENI */
	struct vs_check egr[VS_BURST]; /* egress checks at the source ENI */
	/* pending ingress checks */
	struct vs_check chk[VS_CHECK_BURST];
	uint16_t chk_pkt[VS_CHECK_BURST];
	uint16_t n_chk;
	uint64_t now;
};

static inline uint64_t wall_now(const struct vs_switch *sw, uint64_t tsc)
{
	uint64_t d = tsc - sw->tsc0;
	return sw->wall0_ns + d / sw->tsc_hz * 1000000000ull + d % sw->tsc_hz * 1000000000ull / sw->tsc_hz;
}

static void port_flush(struct vs_worker *w, uint16_t pi)
{
	struct vs_switch *sw = w->sw;
	struct vs_port_rt *rt = &sw->ports[pi];
	uint16_t n = w->ntx[pi], sent;
	bool shared = rt->n_txq < sw->n_workers;

	if (n == 0)
		return;
	if (shared)
		rte_spinlock_lock(&rt->tx_lock);
	sent = rte_eth_tx_burst(rt->port_id, (uint16_t)(w->idx % rt->n_txq), w->txb[pi], n);
	if (shared)
		rte_spinlock_unlock(&rt->tx_lock);
	if (rt->eni >= 0) {
		struct efl_eni_switch_stats *s = &w->sw_stats[rt->eni];
		uint64_t bytes = 0;
		for (uint16_t i = 0; i < sent; i++)
			bytes += w->txb[pi][i]->pkt_len;
		s->tx_packets += sent;
		s->tx_bytes += bytes;
	}
	for (uint16_t i = sent; i < n; i++)
		rte_pktmbuf_free(w->txb[pi][i]);
	w->st.tx_dropped += n - sent;
	w->ntx[pi] = 0;
}

static inline void port_send(struct vs_worker *w, uint16_t pi, struct rte_mbuf *m)
{
	w->txb[pi][w->ntx[pi]++] = m;
	if (w->ntx[pi] == VS_BURST)
		port_flush(w, pi);
}

static void account(struct vs_worker *w, struct rte_mbuf *const *pkts, const struct vs_check *c,
		    const struct vs_verdict *v, uint16_t n, uint64_t now)
{
	struct fl_pkt_meta meta[VS_CHECK_BURST];
	for (uint16_t i = 0; i < n; i++)
		meta[i] = (struct fl_pkt_meta){.eni = c[i].eni,
			.direction = c[i].dir == VS_DIR_INGRESS ? REC_DIR_INGRESS : REC_DIR_EGRESS,
			.verdict = v[i].verdict, .layer = v[i].layer, .rule_id = v[i].rule_id,
			.flow_hint = v[i].flow_hint, .cell = v[i].flow_cell};
	fl_dp_account_burst(w->fl, pkts, meta, n, now);
}

static void reject(struct vs_worker *w, const struct vs_check *c, const struct vs_verdict *v,
		   struct rte_mbuf *m)
{
	struct efl_eni_switch_stats *s = &w->sw_stats[c->eni];
	uint64_t key = vs_rej_key(c->eni, c->dir, v->layer, v->rule_id);
	uint32_t i = (uint32_t)((key * 0x9e3779b97f4a7c15ULL) >> 56) & (VS_REJ_SLOTS - 1);
	s->rejected_packets++;
	s->rejected_bytes += m->pkt_len;
	if (c->dir == VS_DIR_EGRESS) {
		w->egress_rejected[c->eni][0]++;
		w->egress_rejected[c->eni][1] += m->pkt_len;
	}
	for (uint32_t n = 0; n < VS_REJ_SLOTS; n++, i = (i + 1) & (VS_REJ_SLOTS - 1)) {
		struct vs_rej_slot *r = &w->rej[i];
		if (r->key == 0)
			__atomic_store_n(&r->key, key, __ATOMIC_RELEASE);
		if (r->key == key) {
			r->packets++;
			r->bytes += m->pkt_len;
			rte_pktmbuf_free(m);
			return;
		}
	}
	w->rej_overflow++;
	rte_pktmbuf_free(m);
}

/* Decide the pending ingress checks, account them, deliver or drop. */
static void ingress_flush(struct vs_worker *w, struct burst *b)
{
	struct vs_switch *sw = w->sw;
	struct vs_verdict v[VS_CHECK_BURST];
	struct rte_mbuf *pk[VS_CHECK_BURST];
	uint16_t n = b->n_chk;

	if (n == 0)
		return;
	vs_policy_check(sw->pol, w->ct, b->chk, n, v, b->now);
	for (uint16_t i = 0; i < n; i++)
		pk[i] = b->pkts[b->chk_pkt[i]];
	account(w, pk, b->chk, v, n, b->now);
	for (uint16_t i = 0; i < n; i++) {
		if (v[i].verdict == REC_VERDICT_REJECT)
			reject(w, &b->chk[i], &v[i], pk[i]);
		else
			port_send(w, (uint16_t)sw->cfg->eni_port[b->chk[i].eni], pk[i]);
	}
	b->n_chk = 0;
}

static inline void ingress_add(struct vs_worker *w, struct burst *b, uint16_t i, uint32_t eni)
{
	b->chk[b->n_chk] = (struct vs_check){.eni = eni, .dir = VS_DIR_INGRESS, .flow = &b->flow[i]};
	b->chk_pkt[b->n_chk++] = i;
	if (b->n_chk == VS_CHECK_BURST)
		ingress_flush(w, b);
}

/* Parse and route: where does each frame go, before any policy. */
static void route(struct vs_worker *w, struct burst *b, uint16_t n, int32_t src)
{
	const struct vs_switch *sw = w->sw;
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = b->pkts[i];
		const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
		if (i + 2 < n)
			rte_prefetch0(rte_pktmbuf_mtod(b->pkts[i + 2], void *));
		vs_flow_parse(d, m->data_len, &b->flow[i]);
		b->dst[i] = -1;
		if (unlikely(m->data_len < 14)) {
			b->kind[i] = D_DROP;
		} else if (d[0] & 1) {
			b->kind[i] = src >= 0 ? D_FLOOD : D_DROP;
		} else if (src >= 0) {
			b->dst[i] = vs_mac_lookup(sw, d, sw->cfg->enis[src].vpc_idx);
			b->kind[i] = b->dst[i] == src ? D_DROP : b->dst[i] >= 0 ? D_ENI : D_UPLINK;
		} else {
			/* From the uplink: any VPC may own the MAC (usually there is one). */
			for (uint16_t v = 0; v < sw->cfg->n_vpcs && b->dst[i] < 0; v++)
				b->dst[i] = vs_mac_lookup(sw, d, v);
			b->kind[i] = b->dst[i] >= 0 ? D_ENI : D_DROP;
		}
	}
}

/* Egress at the source ENI for the whole burst; clears rejected packets. */
static void egress(struct vs_worker *w, struct burst *b, uint16_t n, int32_t src)
{
	struct vs_check *chk = b->egr;
	struct vs_verdict v[VS_BURST];
	struct efl_eni_switch_stats *s = &w->sw_stats[src];
	for (uint16_t i = 0; i < n; i++) {
		chk[i] = (struct vs_check){.eni = (uint32_t)src, .dir = VS_DIR_EGRESS,
			.flow = &b->flow[i]};
		s->rx_packets++;
		s->rx_bytes += b->pkts[i]->pkt_len;
	}
	vs_policy_check(w->sw->pol, w->ct, chk, n, v, b->now);
	account(w, b->pkts, chk, v, n, b->now);
	for (uint16_t i = 0; i < n; i++)
		if (v[i].verdict == REC_VERDICT_REJECT) {
			reject(w, &chk[i], &v[i], b->pkts[i]);
			b->pkts[i] = NULL;
		}
}

static void handle_burst(struct vs_worker *w, uint16_t pi, struct burst *b, uint16_t n)
{
	const struct vs_switch *sw = w->sw;
	int32_t src = sw->ports[pi].eni;

	route(w, b, n, src);
	if (src >= 0)
		egress(w, b, n, src);
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = b->pkts[i];
		if (m == NULL)
			continue;
		switch (b->kind[i]) {
		case D_ENI:
			ingress_add(w, b, i, (uint32_t)b->dst[i]);
			break;
		case D_UPLINK:
			port_send(w, (uint16_t)sw->cfg->uplink, m);
			break;
		case D_FLOOD: {
			uint16_t vpc = sw->cfg->enis[src].vpc_idx, k = sw->n_vpc_members[vpc];
			/* One reference per copy; the original one is dropped below. */
			rte_mbuf_refcnt_update(m, (int16_t)(k - 1));
			for (uint16_t j = 0; j < k; j++)
				if (sw->vpc_members[vpc][j] != src)
					ingress_add(w, b, i, sw->vpc_members[vpc][j]);
			ingress_flush(w, b); /* copies hold refs: the original may go now */
			rte_pktmbuf_free(m);
			break;
		}
		default:
			if (src < 0 && (rte_pktmbuf_mtod(m, uint8_t *)[0] & 1))
				w->st.uplink_flood_dropped++;
			else
				w->st.no_route++;
			rte_pktmbuf_free(m);
		}
	}
	ingress_flush(w, b);
}

static inline unsigned stall_bucket(uint64_t cycles)
{
	unsigned b = 63u - (unsigned)__builtin_clzll(cycles | 1);
	return b < VS_STALL_BUCKETS ? b : VS_STALL_BUCKETS - 1;
}

/* Per iteration: two rdtsc, one load of the config generation, two
 * increments; a few cycles per packet under load, so it stays on. */
static inline void stall_note(struct vs_worker_stats *st, uint64_t iter, uint64_t poll)
{
	st->iter_hist[stall_bucket(iter)]++;
	st->poll_hist[stall_bucket(poll)]++;
	if (unlikely(iter > st->iter_max_cycles))
		st->iter_max_cycles = iter;
	if (unlikely(poll > st->poll_max_cycles))
		st->poll_max_cycles = poll;
}

static void cfg_stall_note(struct vs_worker_stats *st, uint64_t poll)
{
	st->cfg_poll_hist[stall_bucket(poll)]++;
	if (poll > st->cfg_poll_max_cycles)
		st->cfg_poll_max_cycles = poll;
}

int vs_worker_main(void *arg)
{
	struct vs_worker *w = arg;
	struct vs_switch *sw = w->sw;
	static __thread struct burst b;
	uint64_t now = wall_now(sw, rte_rdtsc());
	/* the plugin's counters of this worker (same index), written by this lcore */
	const struct efl_lcore_stats *fl_ls = &sw->stats->lcore[w->idx];
	const volatile uint64_t *cfg_gen = &fl_dp_shm_cfg(sw->dp)->generation;
	uint64_t prev_gen = *cfg_gen;

	/* Pick up the flow-log config before the first packet, not after it. */
	fl_dp_poll(w->fl, now);
	while (!__atomic_load_n(&sw->stop, __ATOMIC_ACQUIRE)) {
		uint64_t t0 = rte_rdtsc();
		uint32_t got = 0;
		now = wall_now(sw, t0);
		b.now = now;
		for (uint32_t k = 0; k < w->lc->n_ports; k++) {
			uint16_t pi = w->lc->port[k];
			uint16_t n = rte_eth_rx_burst(sw->ports[pi].port_id, 0, b.pkts, VS_BURST);
			if (n == 0)
				continue;
			got += n;
			handle_burst(w, pi, &b, n);
		}
		for (uint16_t pi = 0; pi < sw->cfg->n_ports; pi++)
			port_flush(w, pi);
		uint64_t gen = __atomic_load_n(cfg_gen, __ATOMIC_ACQUIRE);
		uint64_t refreshes = fl_ls->cfg_refreshes;
		uint64_t t1 = rte_rdtsc();
		fl_dp_poll(w->fl, now);
		uint64_t t2 = rte_rdtsc();
		w->st.iterations++;
		if (got != 0) {
			w->st.rx_packets += got;
			w->st.busy_packets += got;
			w->st.busy_cycles += t2 - t0;
		}
		stall_note(&w->st, t2 - t0, t2 - t1);
		/* A config poll is one that a publish seen before t1 made refresh:
		 * a publish during a long (preempted) poll must not count, or
		 * long polls would look like config polls. */
		if (unlikely(gen != prev_gen)) {
			if (fl_ls->cfg_refreshes != refreshes)
				cfg_stall_note(&w->st, t2 - t1);
			prev_gen = gen;
		}
	}
	fl_dp_flush(w->fl, wall_now(sw, rte_rdtsc()));
	return 0;
}
