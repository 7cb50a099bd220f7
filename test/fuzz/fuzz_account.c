/*
 * fuzz_account.c - libFuzzer target for the plugin's accounting path on raw
 * frames: fl_dp_account_burst(), fl_dp_poll() and fl_dp_flush() over a tiny
 * flow cache (16) and export ring (8), so eviction, ring-full loss and aging
 * all run.
 * EAL (--no-huge --no-pci) and the plugin are set up once per process; each
 * input is self-contained because it ends with a flush and a full drain.
 *
 * Input: 5 config bytes (one per ENI), then frames, each
 *   [ctl][len lo][len hi & 7][len bytes of frame]
 * ctl bits 0-2 ENI (5..7 are beyond n_enis), 3 direction, 4 verdict,
 * 5 "drain the ring after this burst", 6-7 time step before the frame.
 * Beyond "no crash", it aborts unless every ENI's accounted packets and bytes
 * equal those in its flow records plus its loss records, exactly.
 * The harness is also a host with 8 connection cells (fl_pkt_meta.cell),
 * keyed as a switch would key them for an IPv4 frame (ENI, direction,
 * protocol, addresses, ports: frame bytes 23 and 26-37), released when
 * another key takes one, and given to one key per burst.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "flowlog.h"
#include "fl_cache_internal.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_ENIS 5
#define BURST 32
#define NS 1000000000ull

static struct rte_mempool *pool;
static struct fl_dp *dp;
static struct fl_worker *w;
static uint64_t now = 1700000000ull * NS;
static uint64_t got_pk[N_ENIS], got_by[N_ENIS];

#define N_CELLS 8
#define CELL_KEY 15
static struct fl_cell cells[N_CELLS];
static uint8_t cell_key[N_CELLS][CELL_KEY]; /* whose cell it is */
static uint8_t burst_key[N_CELLS][CELL_KEY];
static uint32_t burst_used;                  /* bit c: cell c given out in this burst */

static void fail(const char *fmt, unsigned long a, unsigned long b, unsigned long c)
{
	fprintf(stderr, "fuzz_account: ");
	fprintf(stderr, fmt, a, b, c);
	fputc('\n', stderr);
	abort();
}

static void setup(void)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=fuzz_account_%d", (int)getpid());
	char *eal[] = { "fuzz_account", "--no-huge", "--no-pci", "-m", "128", "-l", "0",
			prefix, "--log-level=*:error", "--no-shconf" };
	if (rte_eal_init((int)RTE_DIM(eal), eal) < 0)
		fail("rte_eal_init: %lu%lu%lu", (unsigned long)rte_errno, 0, 0);
	pool = rte_pktmbuf_pool_create("fza_pool", 2 * BURST - 1, 0, 0,
				       2048 + RTE_PKTMBUF_HEADROOM, SOCKET_ID_ANY);
	/* 16 flows and 8 ring slots (7 usable): a short input fills both */
	struct fl_dp_params p = { .instance = "fza", .n_workers = 1, .n_enis = N_ENIS - 2,
				  .flows_per_worker = 16, .ring_size = 8, .aging_budget = 4,
				  .idle_timeout_ns = 2 * NS, .tcp_close_delay_ns = NS / 2,
				  .socket_id = SOCKET_ID_ANY };
	dp = pool ? fl_dp_create(&p) : NULL;
	if (dp == NULL)
		fail("set-up failed: %lu%lu%lu", (unsigned long)rte_errno, 0, 0);
	w = fl_dp_worker(dp, 0);
}

/** Take every record off the ring, check it and add it to got_*. */
static void drain(void)
{
	struct rec_flow recs[BURST];
	char msg[128];
	unsigned n;

	while ((n = rte_ring_sc_dequeue_burst_elem(w->ring, recs, sizeof(recs[0]), BURST,
						   NULL)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			const struct rec_flow *x = &recs[i];
			if (rec_validate(x, msg, sizeof(msg)) != 0) {
				fprintf(stderr, "fuzz_account: bad record: %s\n", msg);
				abort();
			}
			if (x->eni >= N_ENIS - 2)
				fail("record for eni %lu of %lu%lu", x->eni, N_ENIS - 2, 0);
			if (x->kind == REC_KIND_FLOW && x->packets == 0)
				fail("flow record with 0 packets (eni %lu)%lu%lu", x->eni, 0, 0);
			got_pk[x->eni] += x->packets;
			got_by[x->eni] += x->bytes;
		}
	}
}

static void configure(const uint8_t *c)
{
	static const uint16_t agg[4] = { 1, 2, 10, 60 };
	struct efl_shm_cfg *cfg = fl_dp_shm_cfg(dp);
	for (uint32_t e = 0; e < N_ENIS - 2; e++) {
		struct efl_eni_cfg v = { .enabled = c[e] & 1, .traffic_type = (c[e] >> 1) % 3,
					 .agg_interval_s = agg[(c[e] >> 3) & 3],
					 .sample_1_in_n = 1u + ((c[e] >> 5) & 7) };
		efl_cfg_write(cfg, e, &v);
	}
}

/* The cell the host gives frame f (len bytes) crossing eni in direction dir. */
static struct fl_cell *host_cell(const uint8_t *f, size_t len, uint8_t eni, uint8_t dir)
{
	uint8_t k[CELL_KEY];
	uint32_t h = 2166136261u;

	if (len < 38)
		return NULL;
	k[0] = eni;
	k[1] = dir;
	k[2] = f[23];
	memcpy(k + 3, f + 26, 12);
	for (int i = 0; i < CELL_KEY; i++)
		h = (h ^ k[i]) * 16777619u;
	unsigned c = h % N_CELLS;
	if (burst_used & (1u << c))
		return memcmp(burst_key[c], k, CELL_KEY) == 0 ? &cells[c] : NULL;
	if (memcmp(cell_key[c], k, CELL_KEY) != 0) {
		fl_dp_cell_release(w, &cells[c]);
		memcpy(cell_key[c], k, CELL_KEY);
	}
	burst_used |= 1u << c;
	memcpy(burst_key[c], k, CELL_KEY);
	return &cells[c];
}

static void account(struct rte_mbuf **m, const struct fl_pkt_meta *meta, uint16_t n, bool dr)
{
	burst_used = 0;
	if (n > 0)
		fl_dp_account_burst(w, m, meta, n, now);
	rte_pktmbuf_free_bulk(m, n);
	fl_dp_poll(w, now);
	if (dr)
		drain();
}

/** Compare the counters' growth over this input with what reached the ring. */
static void check(const struct efl_eni_stats *before)
{
	struct efl_shm_stats *st = fl_dp_shm_stats(dp);
	for (uint32_t e = 0; e < N_ENIS - 2; e++) {
		const struct efl_eni_stats *a = efl_stats_eni(st, 0, e);
		uint64_t acc = a->packets_accounted - before[e].packets_accounted;
		uint64_t accb = a->bytes_accounted - before[e].bytes_accounted;
		if (acc != got_pk[e] || accb != got_by[e])
			fail("eni %lu: accounted %lu packets, records+loss say %lu", e, acc,
			     got_pk[e]);
	}
}

/* FUZZ_ACCOUNT_STATS=1 prints the worker's counters at exit: the proof that
 * a corpus reaches eviction, ring-full loss and every end reason. */
__attribute__((destructor)) static void report(void)
{
	if (dp == NULL || getenv("FUZZ_ACCOUNT_STATS") == NULL)
		return;
	const struct efl_lcore_stats *l = &fl_dp_shm_stats(dp)->lcore[0];
	fprintf(stderr, "fuzz_account: seen %lu accounted %lu filtered %lu flows %lu "
		"records %lu evicted %lu ring_full %lu loss_records %lu\n",
		(unsigned long)l->packets_seen, (unsigned long)l->packets_accounted,
		(unsigned long)l->packets_filtered, (unsigned long)l->flows_created,
		(unsigned long)l->records_exported, (unsigned long)l->flows_evicted,
		(unsigned long)l->ring_full_records, (unsigned long)l->loss_records_exported);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t step[4] = { 0, NS / 1000, 3 * NS / 2, 61 * NS };
	struct rte_mbuf *m[BURST];
	struct fl_pkt_meta meta[BURST];
	struct efl_eni_stats before[N_ENIS];
	uint16_t n = 0;
	bool dr = false;

	if (dp == NULL)
		setup();
	if (size < N_ENIS)
		return 0;
	for (uint32_t e = 0; e < N_ENIS - 2; e++)
		before[e] = *efl_stats_eni(fl_dp_shm_stats(dp), 0, e);
	memset(got_pk, 0, sizeof(got_pk));
	memset(got_by, 0, sizeof(got_by));
	configure(data);
	fl_dp_poll(w, now);
	size_t off = N_ENIS;
	while (off + 3 <= size) {
		uint8_t ctl = data[off];
		size_t len = data[off + 1] | (size_t)(data[off + 2] & 7) << 8;
		off += 3;
		len = RTE_MIN(len, size - off);
		if (step[ctl >> 6] != 0 || n == BURST) {
			account(m, meta, n, dr); /* a burst shares one timestamp */
			n = 0;
			dr = false;
			now += step[ctl >> 6];
		}
		struct rte_mbuf *b = rte_pktmbuf_alloc(pool);
		char *dst = b ? rte_pktmbuf_append(b, (uint16_t)len) : NULL;
		if (dst == NULL)
			fail("mbuf for %lu bytes%lu%lu", len, 0, 0);
		memcpy(dst, data + off, len);
		off += len;
		m[n] = b;
		meta[n] = (struct fl_pkt_meta){ .eni = ctl & 7, .direction = (ctl >> 3) & 1,
						.verdict = (ctl >> 4) & 1,
						.cell = host_cell(data + off - len, len, ctl & 7,
								  (ctl >> 3) & 1) };
		dr |= (ctl >> 5) & 1;
		n++;
	}
	account(m, meta, n, dr);
	fl_dp_flush(w, now);
	for (int i = 0; i < 100 && (w->n_loss > 0 || rte_ring_count(w->ring) > 0); i++) {
		drain();
		fl_dp_poll(w, now);
	}
	drain();
	if (w->n_loss != 0 || w->cache.n_live != 0)
		fail("after flush: %lu pending loss, %lu live flows%lu", w->n_loss,
		     w->cache.n_live, 0);
	check(before);
	now += 100 * NS; /* the next input starts well after this one */
	return 0;
}
