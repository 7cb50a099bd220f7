/*
 * fl_export.c - aging, export and loss accounting of the flow-log plugin.
 *
 * fl_dp_poll() inspects a fixed number of cache slots per call (a sweep
 * cursor walks the table round-robin), so a huge table never stalls the
 * poll loop. Records go to the worker's SP/SC rte_ring with a non-blocking
 * enqueue. When the ring is full the record's packets, bytes and one record
 * are added to the ENI's loss counters (shared memory) and to a pending
 * loss that leaves later, in the same ring, as a REC_KIND_LOSS record. So
 * for every enabled ENI: accounted == exported in flow records + lost, and
 * lost == reported in loss records + still pending.
 */
#include <rte_cycles.h>
#include <rte_branch_prediction.h>
#include <rte_prefetch.h>

#include "fl_cache_internal.h"

static void entry_to_record(const struct fl_entry *e, uint8_t reason, struct rec_flow *r)
{
	const struct fl_ekey *k = &e->k;
	unsigned ipv = (k->kflags & FL_KF_IPV_MASK) >> FL_KF_IPV_SHIFT;

	memset(r, 0, sizeof(*r));
	r->version = REC_VERSION;
	r->kind = REC_KIND_FLOW;
	r->direction = k->kflags & FL_KF_EGRESS ? REC_DIR_EGRESS : REC_DIR_INGRESS;
	r->verdict = k->kflags & FL_KF_REJECT ? REC_VERDICT_REJECT : REC_VERDICT_ACCEPT;
	r->l2_class = (k->kflags >> FL_KF_L2_SHIFT) & 3;
	r->layer = (k->kflags >> FL_KF_LAYER_SHIFT) & 3;
	r->tcp_flags = e->tcp_flags;
	r->end_reason = reason;
	r->eni = k->eni;
	r->rule_id = k->rule_id;
	r->sample_1_in_n = e->sample_n;
	r->fragments = e->fragments;
	r->packets = e->packets;
	r->bytes = e->bytes;
	r->first_ns = e->first_ns;
	r->last_ns = e->last_ns;
	if (ipv == 1) {
		r->ip_version = 4;
		r->ethertype = 0x0800;
		r->protocol = k->proto;
		r->src_port = k->sport;
		r->dst_port = k->dport;
		memcpy(r->src_addr, &k->src4, 4);
		memcpy(r->dst_addr, &k->dst4, 4);
	} else if (ipv == 2) {
		const struct fl_v6tail *t = (const struct fl_v6tail *)(e + 1);
		r->ip_version = 6;
		r->ethertype = 0x86dd;
		r->protocol = k->proto;
		r->src_port = k->sport;
		r->dst_port = k->dport;
		memcpy(r->src_addr, t->src, 16);
		memcpy(r->dst_addr, t->dst, 16);
	} else {
		r->ethertype = k->sport;
	}
}

/* Count a record that found the ring full, and queue its loss report. */
static void note_loss(struct fl_worker *w, const struct rec_flow *r)
{
	struct efl_eni_stats *es = &w->es[r->eni];
	struct fl_loss *l = &w->loss[r->eni];

	es->lost_records++;
	es->lost_packets += r->packets;
	es->lost_bytes += r->bytes;
	w->ls->ring_full_records++;
	if (l->records == 0) {
		l->first_ns = r->first_ns;
		l->last_ns = r->last_ns;
	} else {
		l->first_ns = RTE_MIN(l->first_ns, r->first_ns);
		l->last_ns = RTE_MAX(l->last_ns, r->last_ns);
	}
	l->records++;
	l->packets += r->packets;
	l->bytes += r->bytes;
	if (!l->listed) {
		l->listed = 1;
		w->loss_list[w->n_loss++] = r->eni;
	}
}

void fl_export_entry(struct fl_worker *w, struct fl_entry *e, uint8_t reason)
{
	struct rec_flow r;

	fl_cell_detach_slot(w, (uint32_t)(e - w->cache.slots));
	entry_to_record(e, reason, &r);
	fl_cache_free(&w->cache, e);
	if (likely(rte_ring_sp_enqueue_elem(w->ring, &r, sizeof(r)) == 0))
		w->ls->records_exported++;
	else
		note_loss(w, &r);
}

unsigned fl_loss_drain(struct fl_worker *w)
{
	unsigned sent = 0;

	while (w->n_loss > 0) {
		uint32_t eni = w->loss_list[w->n_loss - 1];
		struct fl_loss *l = &w->loss[eni];
		struct rec_flow r;

		rec_loss_init(&r, eni, REC_END_LOSS_RING, w->cfg[eni].sample_n, l->records,
			      l->packets, l->bytes, l->first_ns, l->last_ns);
		if (rte_ring_sp_enqueue_elem(w->ring, &r, sizeof(r)) != 0)
			break; /* still full: the loss stays pending, nothing new is lost */
		memset(l, 0, sizeof(*l));
		w->n_loss--;
		w->ls->loss_records_exported++;
		sent++;
	}
	return sent;
}

/* Why e is due now, or -1 if it is not. */
static int due_reason(const struct fl_worker *w, const struct fl_entry *e, uint64_t now)
{
	/* stamped before a big clock step back: leave now, or it would wait hours */
	if (unlikely(e->last_ns > now))
		return REC_END_IDLE;
	if ((e->state & FL_ST_CLOSING) && now >= e->last_ns + w->close_ns)
		return REC_END_TCP_CLOSE;
	if (now >= e->last_ns + w->idle_ns)
		return REC_END_IDLE;
	if (now >= e->first_ns + w->cfg[e->k.eni].agg_ns)
		return REC_END_ACTIVE;
	return -1;
}

/* due_reason(e) >= 0, computed without branches (age_slice() still takes
 * the reason from due_reason(), so the two can never export with none). A free slot's fields are
 * stale or zero; its ENI index is clamped, and the caller ignores the
 * answer for it. */
static inline bool due_at_all(const struct fl_worker *w, const struct fl_entry *e, uint64_t now)
{
	uint64_t last = e->last_ns;
	uint32_t eni = e->k.eni < w->n_enis ? e->k.eni : 0;

	return (last > now) | ((e->state & FL_ST_CLOSING) & (now >= last + w->close_ns)) |
	       (now >= last + w->idle_ns) | (now >= e->first_ns + w->cfg[eni].agg_ns);
}

/* Inspect up to budget slots from the sweep cursor; export what is due. */
static unsigned age_slice(struct fl_worker *w, uint64_t now, uint32_t budget)
{
	struct fl_cache *c = &w->cache;
	uint32_t n_slots = c->n_buckets * FL_WAYS;
	uint32_t s = c->sweep;
	unsigned exported = 0;

	for (uint32_t i = 0; i < budget; i++, s++) {
		if (s >= n_slots)
			s = 0;
		/* Ahead of the cursor, across polls too: the lines the next
		 * slice starts with arrive while the worker forwards. */
		rte_prefetch0(&c->slots[(s + FL_SWEEP_AHEAD) & (n_slots - 1)]);
		struct fl_entry *e = &c->slots[s];
		/* Which slots are live is random (a table a third full
		 * mispredicted a branch on it every third slot), and almost
		 * none is due: one predictable branch on both. */
		bool live = e->k.hash != 0;
		bool tail = live & fl_entry_is_v6(e); /* read before an export frees e */
		if (unlikely(live & due_at_all(w, e, now))) {
			/* its last_ns may be old only because a cell holds
			 * its latest packets: count them first */
			fl_cell_fold_slot(w, s);
			int why = unlikely(e->packets >= FL_PKTS_FULL) ? REC_END_ACTIVE
								  : due_reason(w, e, now);
			if (why >= 0) {
				fl_export_entry(w, e, (uint8_t)why);
				exported++;
			}
		}
		if (unlikely(tail)) {
			s++; /* the v6 tail */
			i++;
		}
	}
	c->sweep = s >= n_slots ? 0 : s;
	return exported;
}

/*
 * Slots to inspect in this poll: the table once per FL_SWEEP_PERIOD_NS, in
 * proportion to the time since the last poll, at most aging_budget per poll.
 * Unspent time carries over up to one whole table, so after a pause (or a
 * test clock jump) the next polls catch up at aging_budget each, while a
 * busy core polling every few microseconds inspects a slot or two per poll.
 */
static uint32_t age_budget(struct fl_worker *w, uint64_t now)
{
	uint64_t n_slots = (uint64_t)w->cache.n_buckets * FL_WAYS;
	/* now < last_poll_ns only after a big step back (fl_clock()): no credit for it */
	uint64_t dt = now > w->last_poll_ns ? now - w->last_poll_ns : 0;
	uint64_t cap = n_slots * FL_SWEEP_PERIOD_NS;

	w->last_poll_ns = now;
	if (dt > FL_SWEEP_PERIOD_NS)
		dt = FL_SWEEP_PERIOD_NS;
	w->sweep_credit += n_slots * dt;
	if (w->sweep_credit > cap)
		w->sweep_credit = cap;
	uint64_t n = w->sweep_credit / FL_SWEEP_PERIOD_NS;
	if (n > w->budget)
		n = w->budget;
	w->sweep_credit -= n * FL_SWEEP_PERIOD_NS;
	return (uint32_t)n;
}

unsigned fl_dp_poll(struct fl_worker *w, uint64_t now_ns)
{
	uint64_t t0 = rte_rdtsc();
	unsigned n;

	now_ns = fl_clock(w, now_ns);
	fl_cfg_refresh(w);
	n = fl_loss_drain(w);
	uint32_t budget = age_budget(w, now_ns);
	if (w->cache.n_live > 0 && budget > 0)
		n += age_slice(w, now_ns, budget);
	n += fl_loss_drain(w);
	uint64_t dt = rte_rdtsc() - t0;
	w->ls->poll_calls++;
	if (dt > w->ls->poll_max_cycles)
		w->ls->poll_max_cycles = dt;
	return n;
}

unsigned fl_dp_flush(struct fl_worker *w, uint64_t now_ns)
{
	struct fl_cache *c = &w->cache;
	uint32_t n_slots = c->n_buckets * FL_WAYS;
	uint64_t lost0 = w->ls->ring_full_records;

	(void)now_ns;
	for (uint32_t s = 0; s < n_slots && c->n_live > 0; s++) {
		struct fl_entry *e = &c->slots[s];
		if (e->k.hash == 0)
			continue;
		bool v6 = fl_entry_is_v6(e);
		fl_export_entry(w, e, REC_END_SHUTDOWN);
		if (v6)
			s++;
	}
	fl_loss_drain(w);
	return (unsigned)(w->ls->ring_full_records - lost0) + w->n_loss;
}
