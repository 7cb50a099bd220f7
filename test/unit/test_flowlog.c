/*
 * Proves the flow-log plugin counts every packet exactly once: exported flow
 * records + reported loss == accounted, per key against a reference model
 * (a plain map, flowlog_model.c), under eviction, ring overflow, aging with a
 * test clock, TCP close and config changes under traffic.
 *
 * Frames are real Ethernet frames written into mbufs from a small mempool
 * and parsed by the plugin's own parser; the model knows each packet's key
 * from the generator, not from parsing. The only plugin code the model
 * borrows is the flow hash, to predict which flows 1-in-N sampling keeps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_memzone.h>
#include <rte_ring.h>

#include "flowlog_model.h"

int failures;

/**
 * 1M packets over 100K flows into a 16K-flow cache. ring_size/drain_every
 * decide whether the ring overflows: exact=true needs it not to.
 */
/* odd_sample: 1-in-N flow sampling on the odd ENIs for the first half of
 * the packets (1 = every flow). */
static void run_conservation(const char *inst, uint32_t ring_size, unsigned drain_every,
			     unsigned drain_max, bool exact, uint32_t odd_sample)
{
	struct fl_dp *dp = make_dp(inst, N_ENIS, 16384, ring_size);
	struct fl_worker *w = fl_dp_worker(dp, 0);
	uint32_t model_n[N_ENIS];
	uint8_t model_type[N_ENIS];
	uint64_t now = 1700000000ull * NS;
	uint32_t idx[BURST];

	reset_model();
	for (uint32_t e = 0; e < N_ENIS; e++) {
		model_n[e] = e % 2 ? odd_sample : 1;
		cfg_set(dp, e, 1, EFL_TRAFFIC_ALL, model_n[e], 20);
		model_type[e] = EFL_TRAFFIC_ALL;
	}
	fl_dp_poll(w, now);
	for (unsigned b = 0; b < N_PKTS / BURST; b++) {
		if (b == N_PKTS / BURST / 2 && odd_sample > 1) {
			/* sampling turned off halfway: the flows counted
			 * 1-in-N until now must not take unsampled packets */
			for (uint32_t e = 1; e < N_ENIS; e += 2) {
				model_n[e] = 1;
				cfg_set(dp, e, 1, EFL_TRAFFIC_ALL, 1, 20);
			}
			fl_dp_poll(w, now);
		}
		for (unsigned i = 0; i < BURST; i++) {
			/* a hot tenth of the flows gets half the packets */
			uint64_t r = rnd();
			idx[i] = (uint32_t)((r & 1) ? (r >> 1) % (N_FLOWS / 10) : (r >> 1) % N_FLOWS);
		}
		send_burst(w, idx, BURST, now, model_n, model_type);
		fl_dp_poll(w, now);
		if (b % drain_every == 0)
			drain(w->ring, drain_max);
		now += 2 * 1000 * 1000; /* 2 ms per burst: ~62 s in all, so aging runs */
	}
	finish_and_compare(dp, w, now, exact, inst);
	struct efl_lcore_stats *ls = &fl_dp_shm_stats(dp)->lcore[0];
	printf("%s: %lu records (idle %lu active %lu close %lu evicted %lu shutdown %lu), "
	       "ring-full %lu, loss records %lu\n", inst, tot.records, tot.by_reason[REC_END_IDLE],
	       tot.by_reason[REC_END_ACTIVE], tot.by_reason[REC_END_TCP_CLOSE],
	       tot.by_reason[REC_END_CACHE_PRESSURE], tot.by_reason[REC_END_SHUTDOWN],
	       ls->ring_full_records, ls->loss_records_exported);
	CHECK(ls->packets_seen == N_PKTS / BURST * BURST, "%s: seen %lu", inst, ls->packets_seen);
	CHECK(ls->packets_accounted + ls->packets_filtered == ls->packets_seen &&
		      (odd_sample > 1) == (ls->packets_filtered > 0),
	      "%s: accounted %lu + filtered %lu of %lu", inst, ls->packets_accounted,
	      ls->packets_filtered, ls->packets_seen);
	CHECK(ls->flows_evicted > 1000 && tot.by_reason[REC_END_CACHE_PRESSURE] > 0,
	      "%s: eviction not exercised (%lu)", inst, ls->flows_evicted);
	CHECK(tot.by_reason[REC_END_IDLE] > 0 && tot.by_reason[REC_END_ACTIVE] > 0 &&
		      tot.by_reason[REC_END_TCP_CLOSE] > 0,
	      "%s: aging not exercised", inst);
	if (exact)
		CHECK(ls->ring_full_records == 0, "%s: ring overflowed (%lu)", inst,
		      ls->ring_full_records);
	else
		CHECK(ls->ring_full_records > 1000 && ls->loss_records_exported > 0,
		      "%s: ring overflow not exercised (%lu)", inst, ls->ring_full_records);
	fl_dp_destroy(dp);
}

/* A plugin with 2 ENIs and 1K flows, ENI 0 logging all traffic at a 60 s
 * interval, polled once at t so the config is in force. */
static struct fl_dp *timed_dp(const char *inst, uint64_t t)
{
	struct fl_dp *dp = make_dp(inst, 2, 1024, 1024);

	cfg_set(dp, 0, 1, EFL_TRAFFIC_ALL, 1, 60);
	fl_dp_poll(fl_dp_worker(dp, 0), t);
	return dp;
}

/** Idle timeout and active interval (also after a config change), driven by a test clock. */
static void test_idle_active(void)
{
	uint64_t t0 = 1000 * NS;
	struct fl_dp *dp = timed_dp("tfl_to", t0);
	struct fl_worker *w = fl_dp_worker(dp, 0);
	struct rec_flow r[16];
	struct gflow f;
	unsigned n;

	/* idle: packets at 0 and 1 s; due at 16 s */
	tcp_flow(&f, 1);
	send_one(w, &f, 100, 0x02, t0);
	send_one(w, &f, 200, 0x10, t0 + NS);
	n = poll_all(w, t0 + 16 * NS - 1);
	CHECK(n == 0 && rte_ring_count(w->ring) == 0, "idle too early: %u", n);
	poll_all(w, t0 + 16 * NS + FL_SWEEP_PERIOD_NS); /* one sweep period late at most */
	n = drain_recs(w->ring, r, 16);
	CHECK(n == 1 && r[0].end_reason == REC_END_IDLE && r[0].packets == 2 && r[0].bytes == 300 &&
		      r[0].first_ns == t0 && r[0].last_ns == t0 + NS && r[0].tcp_flags == 0x12 &&
		      r[0].src_port == 40001 && r[0].dst_port == 443 && r[0].protocol == 6,
	      "idle: n %u reason %u pkts %lu bytes %lu first %lu last %lu flags %x", n,
	      r[0].end_reason, r[0].packets, r[0].bytes, r[0].first_ns - t0, r[0].last_ns - t0,
	      r[0].tcp_flags);

	/* active: one packet per second; the 60 s interval exports 60 of them */
	uint64_t t1 = t0 + 100 * NS;
	tcp_flow(&f, 2);
	for (int s = 0; s <= 61; s++) {
		poll_all(w, t1 + (uint64_t)s * NS);
		send_one(w, &f, 100, 0x10, t1 + (uint64_t)s * NS);
	}
	n = drain_recs(w->ring, r, 16);
	CHECK(n == 1 && r[0].end_reason == REC_END_ACTIVE && r[0].packets == 60 &&
		      r[0].first_ns == t1 && r[0].last_ns == t1 + 59 * NS,
	      "active: n %u reason %u pkts %lu first %lu last %lu", n, r[0].end_reason,
	      r[0].packets, r[0].first_ns - t1, r[0].last_ns - t1);
	/* a shorter interval is picked up from the config on the next poll */
	cfg_set(dp, 0, 1, EFL_TRAFFIC_ALL, 1, 5);
	poll_all(w, t1 + 66 * NS);
	n = drain_recs(w->ring, r, 16);
	CHECK(n == 1 && r[0].end_reason == REC_END_ACTIVE && r[0].packets == 2,
	      "active after change: n %u reason %u pkts %lu", n, r[0].end_reason, r[0].packets);
	fl_dp_destroy(dp);
}

/** A FIN or RST flow leaves tcp_close_delay after its last packet, not before. */
static void test_tcp_close(void)
{
	uint64_t t1 = 1100 * NS; /* any start time: aging only sees differences */
	struct fl_dp *dp = timed_dp("tfl_cl", t1);
	struct fl_worker *w = fl_dp_worker(dp, 0);
	struct rec_flow r[16];
	struct gflow f;
	unsigned n;

	/* FIN: exported 1 s after its last packet, not before */
	uint64_t t2 = t1 + 200 * NS;
	tcp_flow(&f, 3);
	send_one(w, &f, 80, 0x02, t2);
	send_one(w, &f, 80, 0x11, t2 + NS / 2);
	n = poll_all(w, t2 + NS / 2 + NS - 1);
	CHECK(n == 0, "FIN exported too early");
	poll_all(w, t2 + NS / 2 + NS + FL_SWEEP_PERIOD_NS);
	n = drain_recs(w->ring, r, 16);
	CHECK(n == 1 && r[0].end_reason == REC_END_TCP_CLOSE && r[0].packets == 2 &&
		      r[0].tcp_flags == 0x13,
	      "FIN: n %u reason %u pkts %lu flags %x", n, r[0].end_reason, r[0].packets,
	      r[0].tcp_flags);
	/* RST */
	tcp_flow(&f, 4);
	uint64_t t3 = t2 + 10 * NS;
	send_one(w, &f, 80, 0x10, t3);
	send_one(w, &f, 80, 0x04, t3 + 10);
	poll_all(w, t3 + 10 + NS - 1);
	CHECK(rte_ring_count(w->ring) == 0, "RST exported too early");
	poll_all(w, t3 + 10 + NS + FL_SWEEP_PERIOD_NS);
	n = drain_recs(w->ring, r, 16);
	CHECK(n == 1 && r[0].end_reason == REC_END_TCP_CLOSE && r[0].packets == 2,
	      "RST: n %u reason %u pkts %lu", n, r[0].end_reason, r[0].packets);
	fl_dp_destroy(dp);
}

/* The only live entry of ENI 0 in w's cache, or NULL. */
static struct fl_entry *only_entry(struct fl_worker *w)
{
	struct fl_entry *e = NULL;
	for (uint32_t i = 0; i < w->cache.n_buckets * FL_WAYS; i++)
		if (w->cache.slots[i].k.hash != 0 && w->cache.slots[i].k.eni == 0)
			e = &w->cache.slots[i];
	return e;
}

/**
 * A flow counted in a host cell: the sweep brings its entry up to date
 * before it judges it idle, so it leaves idle_timeout after its last packet
 * (not its last one before the cell), with that packet's time to the
 * cell's 1,024 ns; release gives the counts back; a TCP FIN goes to the
 * entry (close delay); a cell armed for one flow and passed with another
 * rule hands its counts over first.
 */
static void test_cells(void)
{
	uint64_t t1 = 1100 * NS, t2 = t1 + 100 * NS;
	uint64_t last = t2 + 9 * NS + 12345;
	struct fl_dp *dp = timed_dp("tfl_cell", t1);
	struct fl_worker *w = fl_dp_worker(dp, 0);
	struct fl_cell cell = { 0 };
	struct rec_flow r[8];
	struct gflow f;
	unsigned n;

	tcp_flow(&f, 7);
	send_one_cell(w, &f, 100, 0x10, t2, &cell);          /* creates the flow, arms the cell */
	send_one_cell(w, &f, 200, 0x18, t2 + NS + 777, &cell); /* in the cell */
	send_one_cell(w, &f, 300, 0x10, last, &cell);
	struct fl_entry *e = only_entry(w);
	CHECK(e != NULL && e->packets == 1 && cell.packets == 2 && cell.bytes == 500,
	      "cell: entry %u packets, cell %u packets %u bytes", e ? e->packets : 0, cell.packets,
	      cell.bytes);
	/* 11 s after the last packet, 20 s after the entry's: not idle */
	n = poll_all(w, t2 + 20 * NS + FL_SWEEP_PERIOD_NS);
	CHECK(n == 0 && cell.packets == 0 && cell.flow != 0 && e->packets == 3 && e->bytes == 600,
	      "sweep: %u exported, cell %u packets, entry %u packets", n, cell.packets, e->packets);
	send_one_cell(w, &f, 50, 0x10, last, &cell);
	poll_all(w, last + 15 * NS + 2 * FL_SWEEP_PERIOD_NS);
	n = drain_recs(w->ring, r, 8);
	CHECK(n == 1 && r[0].end_reason == REC_END_IDLE && r[0].packets == 4 && r[0].bytes == 650 &&
		      r[0].first_ns == t2 && r[0].last_ns == (last & ~1023ull) && r[0].tcp_flags == 0x18,
	      "idle: n %u reason %u pkts %lu bytes %lu first %lu last %lu (want %llu) flags %x", n,
	      r[0].end_reason, r[0].packets, r[0].bytes, r[0].first_ns - t2, r[0].last_ns,
	      last & ~1023ull, r[0].tcp_flags);
	CHECK(cell.flow == 0 && cell.packets == 0, "an exported flow's cell is disarmed");

	/* release, a FIN, another rule */
	uint64_t t3 = last + 100 * NS;
	send_one_cell(w, &f, 100, 0x10, t3, &cell);
	send_one_cell(w, &f, 100, 0x10, t3 + 1000, &cell);
	fl_dp_cell_release(w, &cell);
	CHECK(cell.flow == 0 && only_entry(w) != NULL && only_entry(w)->packets == 2,
	      "release: cell flow %u, entry %u packets", cell.flow,
	      only_entry(w) ? only_entry(w)->packets : 0);
	send_one_cell(w, &f, 100, 0x10, t3 + 2000, &cell);   /* arms again */
	send_one_cell(w, &f, 100, 0x10, t3 + 3000, &cell);   /* in the cell */
	struct gflow g = f;
	g.rule_id ^= 0x100;
	send_one_cell(w, &g, 70, 0x10, t3 + 4000, &cell);    /* another flow: the cell moves */
	send_one_cell(w, &f, 100, 0x11, t3 + 5000, &cell);   /* FIN: to the entry */
	CHECK(cell.packets == 0, "a FIN is not kept in the cell");
	poll_all(w, t3 + 5000 + NS + FL_SWEEP_PERIOD_NS);
	n = drain_recs(w->ring, r, 8);
	CHECK(n == 1 && r[0].end_reason == REC_END_TCP_CLOSE && r[0].packets == 5 &&
		      r[0].bytes == 500 && r[0].tcp_flags == 0x11,
	      "close: n %u reason %u pkts %lu bytes %lu flags %x", n, r[0].end_reason,
	      r[0].packets, r[0].bytes, r[0].tcp_flags);

	/* counts that would pass FL_PKTS_FULL leave at once, exact */
	fl_dp_flush(w, t3 + 10 * NS);
	drain_recs(w->ring, r, 8);
	memset(&cell, 0, sizeof(cell));
	uint64_t t4 = t3 + 20 * NS;
	send_one_cell(w, &f, 64, 0x10, t4, &cell);
	only_entry(w)->packets = FL_PKTS_FULL - 3;
	for (int i = 0; i < 5; i++)
		send_one_cell(w, &f, 64, 0x10, t4 + 1 + (uint64_t)i, &cell);
	fl_dp_cell_release(w, &cell);
	n = drain_recs(w->ring, r, 8);
	CHECK(n == 1 && r[0].end_reason == REC_END_ACTIVE && r[0].packets == FL_PKTS_FULL + 2,
	      "full: n %u reason %u pkts %lu", n, r[0].end_reason, r[0].packets);

	/* the clock jumps 2 h ahead (the cell's time covers 73 min): the
	 * counts stay exact and the time stays within the flow's life */
	uint64_t t5 = t4 + 100 * NS;
	send_one_cell(w, &f, 64, 0x10, t5, &cell);
	send_one_cell(w, &f, 64, 0x10, t5 + NS, &cell);
	poll_all(w, t5 + 7200 * NS);
	n = drain_recs(w->ring, r, 8);
	CHECK(n == 1 && r[0].packets == 2 && r[0].last_ns >= t5 &&
		      r[0].last_ns <= t5 + (FL_AGG_MAX_S + 1) * NS,
	      "clock jump: n %u pkts %lu last %lu s after the first", n, r[0].packets,
	      (unsigned long)((r[0].last_ns - t5) / NS));
	fl_dp_destroy(dp);
}

/** IP fragments and the shutdown flush. */
static void test_fragments_flush(void)
{
	uint64_t t1 = 1100 * NS; /* any start time: aging only sees differences */
	uint64_t t3 = t1 + 210 * NS;
	struct fl_dp *dp = timed_dp("tfl_fr", t1);
	struct fl_worker *w = fl_dp_worker(dp, 0);
	struct rec_flow r[16];
	struct gflow f;
	unsigned n;

	/* IP fragments: the first keeps the ports, a later one is keyed with
	 * ports zeroed; both count in the record's fragments */
	uint64_t t4 = t3 + 3 * NS;
	struct gflow u;
	memset(&u, 0, sizeof(u));
	u.kind = F_V4;
	u.proto = 17;
	u.ethertype = 0x0800;
	u.src[0] = 10;
	u.src[3] = 77;
	u.dst[0] = 10;
	u.dst[3] = 78;
	u.sport = 5000;
	u.dport = 6000;
	struct rte_mbuf *fm[3];
	struct fl_pkt_meta fmeta[3];
	CHECK(rte_pktmbuf_alloc_bulk(pool, fm, 3) == 0, "alloc");
	for (int i = 0; i < 3; i++) {
		frame_build(fm[i], &u, 200, 0);
		uint8_t *ip = rte_pktmbuf_mtod(fm[i], uint8_t *) + 14;
		ip[6] = i == 0 ? 0x20 : 0x00;         /* MF on the first */
		ip[7] = i == 0 ? 0 : (uint8_t)(22 * i); /* offset in 8-byte units */
		fmeta[i] = (struct fl_pkt_meta){ .eni = 0 };
	}
	fl_dp_account_burst(w, fm, fmeta, 3, t4);
	rte_pktmbuf_free_bulk(fm, 3);
	CHECK(fl_dp_flush(w, t4) == 0, "flush lost records");
	n = drain_recs(w->ring, r, 16);
	unsigned with_ports = 0, without = 0;
	for (unsigned i = 0; i < n; i++) {
		if (r[i].src_port == 5000 && r[i].dst_port == 6000 && r[i].packets == 1 &&
		    r[i].fragments == 1)
			with_ports++;
		if (r[i].src_port == 0 && r[i].dst_port == 0 && r[i].packets == 2 &&
		    r[i].fragments == 2 && r[i].protocol == 17)
			without++;
	}
	CHECK(n == 2 && with_ports == 1 && without == 1,
	      "fragments: %u records, %u first-fragment, %u later-fragment records", n,
	      with_ports, without);

	/* shutdown flush */
	tcp_flow(&f, 5);
	send_one(w, &f, 80, 0x10, t3 + 2 * NS);
	CHECK(fl_dp_flush(w, t3 + 2 * NS) == 0, "flush lost records");
	n = drain_recs(w->ring, r, 16);
	CHECK(n == 1 && r[0].end_reason == REC_END_SHUTDOWN, "flush: n %u reason %u", n,
	      r[0].end_reason);
	fl_dp_destroy(dp);
}

/**
 * Wall-clock steps back (NTP): every record stays valid (last >= first),
 * counts stay exact, and aging still happens after the step.
 */
static void test_clock_steps_back(void)
{
	uint64_t t0 = 5000 * NS;
	struct fl_dp *dp = timed_dp("tfl_clk", t0);
	struct fl_worker *w = fl_dp_worker(dp, 0);
	struct rec_flow r[16];
	struct gflow f, g;
	char msg[160];
	unsigned n;

	/* a small step back (2 s) in the middle of a flow is clamped */
	tcp_flow(&f, 11);
	send_one(w, &f, 100, 0x10, t0);
	send_one(w, &f, 100, 0x10, t0 - 2 * NS);
	poll_all(w, t0 - 2 * NS);
	/* the flow is idle 15 s after its last packet on the clamped clock */
	poll_all(w, t0 + 16 * NS);
	n = drain_recs(w->ring, r, 16);
	CHECK(n == 1 && r[0].packets == 2 && r[0].end_reason == REC_END_IDLE &&
		      r[0].last_ns >= r[0].first_ns && rec_validate(&r[0], msg, sizeof(msg)) == 0,
	      "small step: n %u pkts %lu reason %u first %lu last %lu (%s)", n, r[0].packets,
	      r[0].end_reason, r[0].first_ns, r[0].last_ns, msg);

	/* a big step back (1 hour): the new time is taken, flows stamped in the
	 * "future" leave by the sweep, and records stay valid */
	uint64_t t1 = t0 + 100 * NS, t2 = t1 - 3600 * NS;
	tcp_flow(&f, 12);
	tcp_flow(&g, 13);
	send_one(w, &f, 100, 0x10, t1);
	send_one(w, &g, 100, 0x10, t1);
	poll_all(w, t1);
	send_one(w, &g, 100, 0x10, t2);   /* g continues after the step */
	fl_dp_poll(w, t2);
	n = poll_all(w, t2 + FL_SWEEP_PERIOD_NS);
	n = drain_recs(w->ring, r, 16);
	unsigned valid = 0;
	uint64_t pkts = 0;
	for (unsigned i = 0; i < n; i++) {
		valid += rec_validate(&r[i], msg, sizeof(msg)) == 0;
		pkts += r[i].packets;
	}
	CHECK(n == 2 && valid == 2 && pkts == 3, "big step: n %u valid %u pkts %lu", n, valid,
	      pkts);
	/* after the step, aging runs on the new time */
	send_one(w, &f, 100, 0x10, t2 + NS);
	poll_all(w, t2 + 17 * NS + FL_SWEEP_PERIOD_NS);
	n = drain_recs(w->ring, r, 16);
	CHECK(n == 1 && r[0].end_reason == REC_END_IDLE && r[0].first_ns == t2 + NS &&
		      rec_validate(&r[0], msg, sizeof(msg)) == 0,
	      "after big step: n %u reason %u first %lu", n, r[0].end_reason, r[0].first_ns);
	CHECK(fl_dp_flush(w, t2 + 20 * NS) == 0, "flush lost records");
	fl_dp_destroy(dp);
}

/** A full bucket evicts its least recently used flow; a full ring becomes a loss record. */
static void test_pressure_and_loss(void)
{
	/* 4 flows = one bucket of 4 ways; ring of 4 holds 3 records */
	struct fl_dp *dp = make_dp("tfl_pl", 2, 4, 4);
	struct fl_worker *w = fl_dp_worker(dp, 0);
	struct rec_flow r[16];
	struct gflow f[8];
	uint64_t t = 5000 * NS;
	unsigned n;

	cfg_set(dp, 1, 1, EFL_TRAFFIC_ALL, 1, 60);
	fl_dp_poll(w, t);
	for (uint32_t i = 0; i < 5; i++) {
		tcp_flow(&f[i], 10 + i);
		f[i].eni = 1;
		send_one(w, &f[i], 100, 0x10, t + i);
	}
	n = drain_recs(w->ring, r, 16);
	CHECK(n == 1 && r[0].end_reason == REC_END_CACHE_PRESSURE && r[0].src_addr[3] == 10 &&
		      r[0].eni == 1,
	      "eviction: n %u reason %u src .%u", n, r[0].end_reason, r[0].src_addr[3]);
	/* an IPv6 flow needs a pair of ways: evicts the older pair (two v4 flows) */
	struct gflow g;
	memset(&g, 0, sizeof(g));
	g.kind = F_V6;
	g.proto = 17;
	g.ethertype = 0x86dd;
	g.eni = 1;
	g.src[0] = 0x20;
	g.dst[15] = 9;
	g.sport = 53;
	g.dport = 53;
	send_one(w, &g, 120, 0, t + 10);
	n = drain_recs(w->ring, r, 16);
	CHECK(n == 2 && r[0].end_reason == REC_END_CACHE_PRESSURE &&
		      r[1].end_reason == REC_END_CACHE_PRESSURE,
	      "v6 eviction: n %u", n);
	CHECK(w->cache.n_live == 3, "live %u (2 v4 + 1 v6 expected)", w->cache.n_live);
	/* ring of 4 holds 3: the eviction below and two of the three flushed
	 * flows fit; the v6 flow (last in slot order) is lost */
	send_one(w, &f[0], 100, 0x10, t + 20); /* evicts one more */
	n = fl_dp_flush(w, t + 30);
	struct efl_eni_stats *es = efl_stats_eni(fl_dp_shm_stats(dp), 0, 1);
	CHECK(n == 1 + (es->lost_records > 0), "flush reported %u unsent, lost %lu", n,
	      es->lost_records);
	CHECK(es->lost_records == 1 && es->lost_packets == 1 && es->lost_bytes == 120,
	      "loss counters %lu %lu %lu", es->lost_records, es->lost_packets, es->lost_bytes);
	n = drain_recs(w->ring, r, 16);
	CHECK(n == 3, "ring had %u records", n);
	fl_dp_poll(w, t + 40);
	n = drain_recs(w->ring, r, 16);
	CHECK(n == 1 && r[0].kind == REC_KIND_LOSS && r[0].lost_records == 1 &&
		      r[0].packets == 1 && r[0].bytes == 120 && r[0].eni == 1,
	      "loss record: n %u kind %u recs %u pkts %lu", n, r[0].kind, r[0].lost_records,
	      r[0].packets);
	fl_dp_destroy(dp);
}

/* ------------------------------------------------- config under traffic */
/** Enable, disable, traffic type and sampling change under traffic; the model predicts all. */
/* With send_hints set, the same with host flow hints: an ENI whose flow logs
 * are turned off must forget them (so a host never prefetches for nothing),
 * and the counts stay exact across every change. */
static void test_config_changes(const char *inst)
{
	struct fl_dp *dp = make_dp(inst, N_ENIS, 1 << 15, 1 << 16);
	struct fl_worker *w = fl_dp_worker(dp, 0);
	static const struct { int en, type; uint32_t n; } phase[4][4] = {
		{ { 1, EFL_TRAFFIC_ALL, 1 }, { 0, 0, 1 }, { 1, EFL_TRAFFIC_ACCEPT, 1 },
		  { 1, EFL_TRAFFIC_REJECT, 4 } },
		{ { 0, 0, 1 }, { 1, EFL_TRAFFIC_REJECT, 1 }, { 1, EFL_TRAFFIC_ALL, 3 },
		  { 1, EFL_TRAFFIC_ACCEPT, 1 } },
		{ { 1, EFL_TRAFFIC_ALL, 7 }, { 1, EFL_TRAFFIC_ALL, 1 }, { 0, 0, 1 },
		  { 1, EFL_TRAFFIC_ALL, 4 } },
		{ { 1, EFL_TRAFFIC_ALL, 1 }, { 1, EFL_TRAFFIC_ACCEPT, 2 }, { 1, EFL_TRAFFIC_REJECT, 1 },
		  { 0, 0, 1 } },
	};
	uint32_t model_n[N_ENIS] = { 0 };
	uint8_t model_type[N_ENIS] = { 0 };
	uint64_t now = 1700000000ull * NS, seen = 0;
	uint32_t idx[BURST];

	reset_model();
	for (int ph = 0; ph < 4; ph++) {
		for (uint32_t e = 0; e < N_ENIS; e++) {
			int en = phase[ph][e % 4].en;
			cfg_set(dp, e, en, phase[ph][e % 4].type, phase[ph][e % 4].n, 30);
			model_n[e] = en ? phase[ph][e % 4].n : 0;
			model_type[e] = (uint8_t)phase[ph][e % 4].type;
		}
		fl_dp_poll(w, now); /* the change takes effect here, as in the model */
		for (unsigned b = 0; b < 2000; b++) {
			for (unsigned i = 0; i < BURST; i++)
				idx[i] = (uint32_t)(rnd() % 20000);
			send_burst(w, idx, BURST, now, model_n, model_type);
			seen += BURST;
			fl_dp_poll(w, now);
			drain(w->ring, ~0u);
			now += 1000 * 1000;
		}
	}
	if (send_hints != NULL) {
		/* last phase: ENIs 0 and 4 log everything, 3 and 7 are off */
		uint32_t on = 0, on_set = 0, off = 0, off_set = 0;
		for (uint32_t f = 0; f < 20000; f++) {
			bool set = send_hints[f % send_hints_n] != 0;
			if (flows[f].eni % 4 == 0) {
				on++;
				on_set += set;
			} else if (flows[f].eni % 4 == 3) {
				off++;
				off_set += set;
			}
		}
		CHECK(on_set * 2 > on && off_set * 10 < off,
		      "%s: hint words set: %u of %u flows of logged ENIs, %u of %u of ENIs turned off",
		      inst, on_set, on, off_set, off);
	}
	finish_and_compare(dp, w, now, true, inst);
	struct efl_lcore_stats *ls = &fl_dp_shm_stats(dp)->lcore[0];
	uint64_t model_acc = 0;
	for (uint32_t i = 0; i < MAP_SLOTS; i++)
		model_acc += map[i].pkts;
	CHECK(ls->packets_seen == seen && ls->packets_accounted == model_acc,
	      "%s: seen %lu (sent %lu), accounted %lu (model %lu)", inst, ls->packets_seen, seen,
	      ls->packets_accounted, model_acc);
	CHECK(ls->ring_full_records == 0, "%s: ring overflowed", inst);
	uint64_t sampled_keys = 0;
	for (uint32_t i = 0; i < MAP_SLOTS; i++)
		sampled_keys += map[i].used && map[i].k.sample_n > 1 && map[i].exp_pkts > 0;
	CHECK(sampled_keys > 100, "%s: only %lu sampled keys", inst, sampled_keys);
	fl_dp_destroy(dp);
}

/** The shared header, rings and per-worker counters are where eniflowd looks for them. */
static void test_shm_layout(void)
{
	struct fl_dp_params p = { .instance = "tfl_shm", .n_workers = 2, .n_enis = 3,
				  .flows_per_worker = 64, .ring_size = 256,
				  .socket_id = SOCKET_ID_ANY };
	struct fl_dp *dp = fl_dp_create(&p);
	CHECK(dp != NULL, "create: %s", rte_strerror(rte_errno));
	if (dp == NULL)
		return;
	struct efl_shm_header *h = fl_dp_shm_header(dp);
	CHECK(h->magic == EFL_SHM_MAGIC && h->layout_version == EFL_SHM_LAYOUT_VERSION &&
		      h->n_workers == 2 && h->n_enis == 3 && h->ring_size == 256 &&
		      h->pid == (uint64_t)getpid() && h->start_ns > 0,
	      "header: magic %lx version %u workers %u enis %u ring %u pid %lu", h->magic,
	      h->layout_version, h->n_workers, h->n_enis, h->ring_size, h->pid);
	char name[64];
	for (unsigned i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), EFL_RING_EXPORT, "tfl_shm", i);
		struct rte_ring *r = rte_ring_lookup(name);
		CHECK(r != NULL && r == fl_dp_worker(dp, i)->ring && rte_ring_get_size(r) == 256,
		      "ring %s not found by name", name);
	}
	snprintf(name, sizeof(name), EFL_MZ_CFG, "tfl_shm");
	CHECK(rte_memzone_lookup(name) != NULL, "memzone %s missing", name);
	CHECK(fl_dp_worker(dp, 2) == NULL, "worker 2 of 2 exists");

	/* worker 1's packets land in worker 1's counters only; ENI 2 disabled */
	struct fl_worker *w1 = fl_dp_worker(dp, 1);
	struct gflow f;
	tcp_flow(&f, 7);
	f.eni = 1;
	cfg_set(dp, 1, 1, EFL_TRAFFIC_ALL, 1, 60);
	fl_dp_poll(w1, 10 * NS);
	send_one(w1, &f, 90, 0x10, 10 * NS);
	f.eni = 2;
	send_one(w1, &f, 90, 0x10, 10 * NS);
	f.eni = 9; /* beyond n_enis: a host bug, seen but nowhere else */
	send_one(w1, &f, 90, 0x10, 10 * NS);
	struct efl_shm_stats *st = fl_dp_shm_stats(dp);
	CHECK(st->lcore[1].packets_seen == 3 && st->lcore[1].packets_accounted == 1 &&
		      st->lcore[0].packets_seen == 0,
	      "lcore stats: w1 seen %lu acc %lu, w0 seen %lu", st->lcore[1].packets_seen,
	      st->lcore[1].packets_accounted, st->lcore[0].packets_seen);
	CHECK(efl_stats_eni(st, 1, 1)->packets_accounted == 1 &&
		      efl_stats_eni(st, 1, 2)->packets_seen == 1 &&
		      efl_stats_eni(st, 1, 2)->packets_accounted == 0 &&
		      efl_stats_eni(st, 0, 1)->packets_seen == 0,
	      "eni stats in the wrong place");

	/* a config slot caught mid-write keeps the old config until the next poll */
	struct efl_shm_cfg *cfg = fl_dp_shm_cfg(dp);
	struct efl_eni_cfg off = { .enabled = 0 };
	cfg->slot[1].seq++; /* a writer is inside */
	memcpy((void *)&cfg->slot[1].cfg, &off, sizeof(off));
	__atomic_add_fetch(&cfg->generation, 1, __ATOMIC_RELEASE);
	fl_dp_poll(w1, 11 * NS);
	CHECK(w1->cfg[1].enabled == 1, "torn config applied");
	cfg->slot[1].seq++; /* the writer leaves */
	fl_dp_poll(w1, 12 * NS);
	CHECK(w1->cfg[1].enabled == 0, "config not applied on the poll after the write ended");

	/* a flow whose 32-bit packet count would wrap leaves at once (active) */
	cfg_set(dp, 0, 1, EFL_TRAFFIC_ALL, 1, 60);
	fl_dp_poll(w1, 13 * NS);
	f.eni = 0;
	send_one(w1, &f, 90, 0x10, 13 * NS);
	struct fl_entry *big = NULL;
	for (uint32_t i = 0; i < w1->cache.n_buckets * FL_WAYS; i++)
		if (w1->cache.slots[i].k.hash != 0 && w1->cache.slots[i].k.eni == 0)
			big = &w1->cache.slots[i];
	CHECK(big != NULL, "flow not found in the cache");
	if (big != NULL) {
		struct rec_flow r[4];
		drain_recs(w1->ring, r, 4);
		big->packets = UINT32_MAX - 1;
		send_one(w1, &f, 90, 0x10, 14 * NS);
		unsigned n = drain_recs(w1->ring, r, 4);
		CHECK(n == 1 && r[0].packets == UINT32_MAX && r[0].end_reason == REC_END_ACTIVE,
		      "wrap guard: n %u pkts %lu reason %u", n, r[0].packets, r[0].end_reason);
	}
	fl_dp_destroy(dp);
	fl_dp_destroy(NULL);

	/* bad parameters: NULL and errno, no crash */
	struct fl_dp_params bad = p;
	bad.instance = "much_too_long_name";
	CHECK(fl_dp_create(&bad) == NULL && rte_errno == EINVAL, "long instance accepted");
	bad = p;
	bad.ring_size = 100;
	CHECK(fl_dp_create(&bad) == NULL && rte_errno == EINVAL, "ring 100 accepted");
	bad = p;
	bad.n_enis = EFL_MAX_ENIS + 1;
	CHECK(fl_dp_create(&bad) == NULL && rte_errno == EINVAL, "n_enis too big accepted");
}

/*
 * The one-step key of plain IPv4 TCP/UDP (fl_key_words_v4_fast + the hash) equals what
 * the general parser + fl_key_build give, on every frame it accepts: valid
 * frames and 2M mutations of them (random bytes in the header fields the
 * fast path tests, random lengths). It must also take the common frames.
 */
static void test_fast_key(void)
{
	static const uint8_t tcp[54] = {
		0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,
		0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
		0x30, 0x39, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x12, 0xff, 0xff, 0, 0, 0, 0 };
	static const uint8_t hot[] = { 0, 12, 13, 14, 15, 16, 17, 20, 21, 22, 23, 34, 35, 36, 37,
				       47 };
	struct fl_pkt_meta md = { .eni = 7, .direction = REC_DIR_INGRESS,
				  .verdict = REC_VERDICT_ACCEPT, .layer = REC_LAYER_SG,
				  .rule_id = 42 };
	uint8_t f[64];
	uint64_t taken = 0, seed = 1;

	for (uint32_t it = 0; it < 2000000; it++) {
		memcpy(f, tcp, sizeof(tcp));
		memset(f + sizeof(tcp), 0, sizeof(f) - sizeof(tcp));
		uint32_t len = 60;
		if (it & 1)
			f[14 + 9] = 17;
		for (int m = 0; m < 3 && it > 1; m++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			unsigned r = (unsigned)(seed >> 33);
			if (m == 0 && (r & 7) == 0)
				len = r % 64;
			else
				f[hot[r % sizeof(hot)]] = (uint8_t)(r >> 8);
		}
		/* every direction, verdict and layer, any ENI and rule */
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		md.eni = (uint32_t)(seed >> 40) % EFL_MAX_ENIS;
		md.direction = (seed >> 20) & 1;
		md.verdict = (seed >> 21) & 1;
		md.layer = (seed >> 22) % 3;
		md.rule_id = (uint32_t)(seed >> 24) & 0xffff;
		struct fl_lkey fast, slow;
		struct fl_parsed p;
		uint8_t flags = 0xee;
		uint64_t w0, w1;
		if (!fl_key_words_v4_fast(f, len, &md, &w0, &w1, &flags))
			continue;
		fl_key_finish_v4(&fast, w0, w1, md.rule_id);
		taken++;
		fl_parse_frame(f, len, &p);
		fl_key_build(&slow, &p, &md);
		uint8_t want = p.proto == 6 ? p.tcp_flags : 0;
		CHECK(memcmp(fast.kw, slow.kw, sizeof(fast.kw)) == 0 && flags == want &&
		      !(p.flags & FL_PARSED_FRAGMENT),
		      "iteration %u len %u: fast key %016llx %016llx %016llx flags 0x%x, "
		      "general %016llx %016llx %016llx flags 0x%x frag %d", it, len,
		      (unsigned long long)fast.kw[0], (unsigned long long)fast.kw[1],
		      (unsigned long long)fast.kw[2], flags, (unsigned long long)slow.kw[0],
		      (unsigned long long)slow.kw[1], (unsigned long long)slow.kw[2], want,
		      (p.flags & FL_PARSED_FRAGMENT) != 0);
		if (failures > 20)
			return;
	}
	CHECK(taken > 200000, "the fast path took only %llu of 2M frames",
	      (unsigned long long)taken);
}

int main(int argc, char **argv)
{
	char prefix[64];
	(void)argc;
	snprintf(prefix, sizeof(prefix), "--file-prefix=test_flowlog_%d", (int)getpid());
	char *eal[] = { argv[0], "--no-huge", "--no-pci", "-m", "512", "-l", "0", prefix,
			"--log-level=*:warning" };
	if (rte_eal_init((int)RTE_DIM(eal), eal) < 0) {
		fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	pool = rte_pktmbuf_pool_create("tfl_pool", 1023, 0, 0, 2048 + RTE_PKTMBUF_HEADROOM,
				       SOCKET_ID_ANY);
	map = calloc(MAP_SLOTS, sizeof(*map));
	flows = calloc(N_FLOWS, sizeof(*flows));
	if (pool == NULL || map == NULL || flows == NULL) {
		fprintf(stderr, "set-up: no memory\n");
		return 1;
	}
	for (uint32_t i = 0; i < N_FLOWS; i++)
		gflow_make(&flows[i], i, N_ENIS);

	test_fast_key();
	test_shm_layout();
	test_idle_active();
	test_tcp_close();
	test_fragments_flush();
	test_clock_steps_back();
	test_pressure_and_loss();
	test_config_changes("tfl_cfg");
	run_conservation("tfl_exact", 32768, 1, ~0u, true, 1);
	/* The same with host flow hints that are shared and sometimes garbage:
	 * a hint may only ever save a lookup, never move a count. Hinted IPv4
	 * keys of unsampled ENIs are checked without their hash (entry_holds()),
	 * the sampled odd ENIs' with it. */
	send_hints_n = N_FLOWS / 2;
	send_hints = calloc(send_hints_n, sizeof(*send_hints));
	test_config_changes("tfl_cfgh");
	memset(send_hints, 0, send_hints_n * sizeof(*send_hints));
	run_conservation("tfl_hints", 32768, 1, ~0u, true, 3);
	uint32_t set = 0;
	for (uint32_t i = 0; i < send_hints_n; i++)
		set += send_hints[i] != 0;
	CHECK(set > send_hints_n / 2, "tfl_hints: the plugin filled only %u of %u hint words", set,
	      send_hints_n);
	free(send_hints);
	send_hints = NULL;
	/* The same with host cells, shared by flows and reused by the host:
	 * counts kept in a cell reach the records, every one, once. */
	test_cells();
	send_cells_n = N_FLOWS / 4;
	send_cells = calloc(send_cells_n, sizeof(*send_cells));
	test_config_changes("tfl_cfgc");
	run_conservation("tfl_cells", 32768, 1, ~0u, true, 3);
	CHECK(cells_pending_max > 1000, "tfl_cells: at most %u cells held packets",
	      cells_pending_max);
	free(send_cells);
	send_cells = NULL;
	run_conservation("tfl_lossy", 1024, 16, 600, false, 1);

	free(map);
	free(flows);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	if (failures) {
		fprintf(stderr, "test_flowlog: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_flowlog: ok\n");
	return 0;
}
