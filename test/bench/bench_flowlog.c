/*
 * bench_flowlog.c - cycles per packet of the flow-log plugin on one core.
 *
 * Pre-built bursts of 32 mbufs holding 64-byte IPv4/TCP or IPv6/UDP frames
 * over 1K, 64K or 1M flows, uniform or Zipf-like (s = 1) popularity. Per
 * case, in the same run: parse only (the baseline), parse + account, and
 * parse + account + fl_dp_poll() with aging exporting into the ring (drained
 * outside the timed region, as eniflowd would on its own core). Also the same
 * accounting done with DPDK's rte_hash (rte_hash_lookup_bulk, then add on a
 * miss) over the same keys, to justify the plugin's own table. Every figure
 * is TSC ticks per packet (rte_rdtsc around each burst). One JSON object per
 * line. Never fails on a figure: it reports.
 *
 * Run: ./build/test/bench/bench_flowlog [quick | <flows>]  (quick: 64K only)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "flowlog.h"
#include "fl_cache_internal.h"

#define BURST 32
#define N_SEQ (1u << 20)       /* packets in the flow sequence of a case */
#define N_PKTS (1u << 15)      /* mbufs: one chunk of the sequence at a time */
#define REPS 5                 /* each figure is the best of REPS passes */
#define N_ENIS 16

static struct rte_mempool *pool;
static struct rte_mbuf **pkts;
static struct fl_pkt_meta *meta;
static uint32_t *seq;          /* flow of each packet, N_SEQ long */
static bool cur_v6;
static volatile uint64_t sink;
static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Write a 64-byte frame of flow f (v6: IPv6/UDP, else IPv4/TCP). */
static void frame(uint8_t *d, uint32_t f, bool v6)
{
	memset(d, 0, 64);
	d[0] = 0x02;
	d[5] = 1;
	d[6] = 0x02;
	if (v6) {
		d[12] = 0x86; d[13] = 0xdd;
		d[14] = 0x60; d[19] = 10; d[20] = 17; d[21] = 64;
		d[22] = 0x20; d[23] = 0x01;
		memcpy(d + 34, &f, 4);
		d[38] = 0xfd; d[53] = 1;
		d[54] = (uint8_t)(f >> 24); d[55] = 0x35;
		d[56] = 0; d[57] = 53;
	} else {
		d[12] = 0x08; d[13] = 0x00;
		d[14] = 0x45; d[17] = 50; d[22] = 64; d[23] = 6;
		d[26] = 10; d[27] = (uint8_t)(f >> 16); d[28] = (uint8_t)(f >> 8); d[29] = (uint8_t)f;
		d[30] = 10; d[31] = 255; d[32] = 0; d[33] = 1;
		d[34] = (uint8_t)(0x80 | (f >> 24)); d[35] = 7; d[36] = 1; d[37] = 0xbb;
		d[46] = 0x50; d[47] = 0x10;
	}
}

/* Flow sequence: uniform, or Zipf-like (rank r with weight 1/r) with ranks
 * scattered over the flow ids so hot flows do not share buckets. */
static void make_seq(uint32_t n_flows, bool zipf)
{
	double lnf = log((double)n_flows + 1.0);
	for (uint32_t i = 0; i < N_SEQ; i++) {
		uint32_t f;
		if (!zipf) {
			f = (uint32_t)(rnd() % n_flows);
		} else {
			double u = (double)(rnd() >> 11) / 9007199254740992.0;
			uint32_t rank = (uint32_t)(exp(u * lnf) - 1.0);
			if (rank >= n_flows)
				rank = n_flows - 1;
			f = (uint32_t)(((uint64_t)rank * 2654435761u) & (n_flows - 1));
		}
		seq[i] = f;
	}
}

/* Write chunk c of the sequence into the mbufs (not timed: the frames are
 * then in cache, as a just-received burst is). */
static void build_pkts(uint32_t c)
{
	bool v6 = cur_v6;
	const uint32_t *sq = seq + (size_t)c * N_PKTS;
	for (uint32_t i = 0; i < N_PKTS; i++) {
		struct rte_mbuf *m = pkts[i];
		rte_pktmbuf_reset(m);
		uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, 64);
		if (d == NULL) {
			fprintf(stderr, "mbuf too small for a 64-byte frame\n");
			exit(1);
		}
		frame(d, sq[i], v6);
		meta[i] = (struct fl_pkt_meta){ .eni = sq[i] % N_ENIS, .direction = 1 };
	}
}

static uint64_t parse_chunk(void)
{
	struct fl_parsed p;
	uint64_t cyc = 0, acc = 0;

	for (uint32_t b = 0; b < N_PKTS; b += BURST) {
		uint64_t t0 = rte_rdtsc();
		for (uint32_t k = 0; k < BURST; k++) {
			const struct rte_mbuf *m = pkts[b + k];
			fl_parse_frame(rte_pktmbuf_mtod(m, const uint8_t *), m->data_len, &p);
			acc += p.sport;
		}
		cyc += rte_rdtsc() - t0;
	}
	sink = acc;
	return cyc;
}

/*
 * Best of REPS passes over the whole sequence of fn (ticks per packet). The
 * parse-only baseline runs on each chunk right before fn, so both see the
 * same machine load (the bench shares its cores); *parse gets its best.
 */
static double best_of(uint64_t (*fn)(void *), void *arg, double *parse)
{
	double best = 1e30, best_p = 1e30;
	for (int r = 0; r < REPS; r++) {
		uint64_t cyc = 0, cyc_p = 0;
		for (uint32_t c = 0; c < N_SEQ / N_PKTS; c++) {
			build_pkts(c);
			cyc_p += parse_chunk();
			cyc += fn(arg);
		}
		best = RTE_MIN(best, (double)cyc / N_SEQ);
		best_p = RTE_MIN(best_p, (double)cyc_p / N_SEQ);
	}
	if (parse != NULL)
		*parse = best_p;
	return best;
}


static uint64_t heap_used(void)
{
	struct rte_malloc_socket_stats s;
	rte_malloc_get_socket_stats(rte_socket_id(), &s);
	return s.heap_allocsz_bytes;
}

/* Drain a ring (not timed: the daemon's job, on another core). */
static void drain(struct rte_ring *r)
{
	struct rec_flow recs[256];
	while (rte_ring_sc_dequeue_burst_elem(r, recs, sizeof(recs[0]), 256, NULL) > 0)
		;
}

struct acc_arg {
	struct fl_worker *w;
	bool with_poll;
	uint64_t now;
};

/* Time account (and poll if with_poll) over one chunk; 10 us of clock per burst. */
static uint64_t account_fn(void *arg)
{
	struct acc_arg *a = arg;
	struct fl_worker *w = a->w;
	bool with_poll = a->with_poll;
	uint64_t *now = &a->now;
	uint64_t cyc = 0;

	for (uint32_t b = 0; b < N_PKTS; b += BURST) {
		uint64_t t0 = rte_rdtsc();
		fl_dp_account_burst(w, pkts + b, meta + b, BURST, *now);
		if (with_poll)
			fl_dp_poll(w, *now);
		cyc += rte_rdtsc() - t0;
		if (with_poll && (b & 1023) == 0)
			drain(w->ring);
		*now += 3200;
	}
	drain(w->ring);
	return cyc;
}

/* What the plugin per-packet path would do with rte_hash instead of its own table. */
struct hflow {
	uint64_t packets, bytes, first_ns, last_ns;
	uint8_t tcp_flags;
	uint8_t pad[31];
};

struct rh_arg {
	struct rte_hash *h;
	struct hflow *fl;
	uint64_t now;
};

/* One chunk through parse + key + rte_hash_lookup_bulk (+ add on a miss) + update. */
static uint64_t rte_hash_fn(void *arg)
{
	struct rh_arg *a = arg;
	struct fl_lkey keys[BURST];
	const void *kp[BURST];
	int32_t pos[BURST];
	struct fl_parsed p;
	uint64_t cyc = 0;

	for (uint32_t b = 0; b < N_PKTS; b += BURST) {
		uint64_t t0 = rte_rdtsc();
		for (uint32_t k = 0; k < BURST; k++) {
			const struct rte_mbuf *m = pkts[b + k];
			fl_parse_frame(rte_pktmbuf_mtod(m, const uint8_t *), m->data_len, &p);
			fl_key_build(&keys[k], &p, &meta[b + k]);
			keys[k].k.hash = 0; /* rte_hash hashes the key itself */
			kp[k] = &keys[k];
		}
		rte_hash_lookup_bulk(a->h, kp, BURST, pos);
		for (uint32_t k = 0; k < BURST; k++) {
			if (pos[k] < 0) {
				pos[k] = rte_hash_add_key(a->h, kp[k]);
				if (pos[k] < 0)
					continue; /* full: a real cache would evict here */
				a->fl[pos[k]].first_ns = a->now;
			}
			struct hflow *f = &a->fl[pos[k]];
			f->packets++;
			f->bytes += pkts[b + k]->pkt_len;
			f->last_ns = a->now;
		}
		cyc += rte_rdtsc() - t0;
		a->now++;
	}
	return cyc;
}

static double run_rte_hash(uint32_t n_entries, bool v6, double *bytes_per_flow, double *parse)
{
	char name[32];
	snprintf(name, sizeof(name), "bfl_h%d", (int)getpid());
	uint64_t h0 = heap_used();
	struct rte_hash_parameters hp = {
		.name = name, .entries = n_entries,
		.key_len = v6 ? sizeof(struct fl_lkey) : sizeof(struct fl_ekey),
		.hash_func = rte_hash_crc, .hash_func_init_val = 0, .socket_id = (int)rte_socket_id(),
	};
	struct rh_arg a = { .h = rte_hash_create(&hp), .now = 1 };
	a.fl = rte_zmalloc("bfl_hf", sizeof(*a.fl) * (n_entries + 1), 64);
	if (a.h == NULL || a.fl == NULL) {
		fprintf(stderr, "rte_hash_create: %s\n", rte_strerror(rte_errno));
		exit(1);
	}
	*bytes_per_flow = (double)(heap_used() - h0) / n_entries;
	best_of(rte_hash_fn, &a, NULL); /* warm: flows inserted */
	double r = best_of(rte_hash_fn, &a, parse);
	rte_hash_free(a.h);
	rte_free(a.fl);
	return r;
}

static void bench_case(uint32_t n_flows, bool zipf, bool v6, uint32_t cache_flows)
{
	static int inst_no;
	char inst[16];

	cur_v6 = v6;
	make_seq(n_flows, zipf);
	double parse, parse_p, parse_h;

	snprintf(inst, sizeof(inst), "bfl%d", inst_no++);
	/* Clock: 3.2 us per burst of 32 (10 Mpps); idle timeout short so that the
	 * aging pass really exports while it runs (50 ms: flows seen less often
	 * than that, the 1M-uniform case, are exported and re-created all along). */
	struct fl_dp_params prm = { .instance = inst, .n_workers = 1, .n_enis = N_ENIS,
				    .flows_per_worker = cache_flows, .socket_id = SOCKET_ID_ANY,
				    .idle_timeout_ns = 50ull * 1000 * 1000 };
	struct fl_dp *dp = fl_dp_create(&prm);
	if (dp == NULL) {
		fprintf(stderr, "fl_dp_create: %s\n", rte_strerror(rte_errno));
		exit(1);
	}
	struct fl_worker *w = fl_dp_worker(dp, 0);
	double table_bytes = (double)w->cache.n_buckets * FL_WAYS * sizeof(struct fl_entry);
	for (uint32_t e = 0; e < N_ENIS; e++) {
		struct efl_eni_cfg c = { .enabled = 1, .traffic_type = EFL_TRAFFIC_ALL,
					 .agg_interval_s = 60, .sample_1_in_n = 1 };
		efl_cfg_write(fl_dp_shm_cfg(dp), e, &c);
	}
	struct acc_arg aa = { .w = w, .with_poll = false, .now = 1700000000ull * 1000000000ull };
	fl_dp_poll(w, aa.now);
	best_of(account_fn, &aa, NULL); /* warm: every flow of the sequence is in */
	double acc = best_of(account_fn, &aa, &parse);
	uint32_t live = w->cache.n_live;
	struct efl_lcore_stats *ls = &fl_dp_shm_stats(dp)->lcore[0];
	uint64_t rec0 = ls->records_exported, ev0 = ls->flows_evicted;
	aa.with_poll = true;
	double accp = best_of(account_fn, &aa, &parse_p);
	/* every ENI disabled: what logging costs when it is off */
	for (uint32_t e = 0; e < N_ENIS; e++) {
		struct efl_eni_cfg c = { .enabled = 0 };
		efl_cfg_write(fl_dp_shm_cfg(dp), e, &c);
	}
	fl_dp_poll(w, aa.now);
	aa.with_poll = false;
	double dis = best_of(account_fn, &aa, NULL); /* no parse: not even that runs */
	double hbpf;
	double rh = run_rte_hash(cache_flows / (v6 ? 2 : 1), v6, &hbpf, &parse_h);

	printf("{\"bench\":\"flowlog\",\"case\":\"%s_%s_%u\",\"flows\":%u,\"cache_slots\":%u,"
	       "\"frame_bytes\":64,\"parse_cpp\":%.1f,\"parse_account_cpp\":%.1f,"
	       "\"parse_account_poll_cpp\":%.1f,\"account_added_cpp\":%.1f,"
	       "\"account_poll_added_cpp\":%.1f,\"ratio_account\":%.2f,\"ratio_account_poll\":%.2f,"
	       "\"entry_bytes\":%zu,\"table_mib\":%.0f,\"live_flows\":%u,"
	       "\"evicted_no_poll\":%lu,\"records_with_poll\":%lu,\"ring_full\":%lu,"
	       "\"rte_hash_parse_account_cpp\":%.1f,\"rte_hash_added_cpp\":%.1f,"
	       "\"rte_hash_bytes_per_flow\":%.1f,\"ratio_rte_hash_to_own\":%.2f,"
	       "\"disabled_account_cpp\":%.1f}\n",
	       v6 ? "v6" : "v4", zipf ? "zipf" : "uniform", n_flows, n_flows, cache_flows, parse,
	       acc, accp, acc - parse, accp - parse_p, acc / parse, accp / parse_p,
	       sizeof(struct fl_entry) * (v6 ? 2 : 1), table_bytes / 1048576.0, live,
	       ev0, ls->records_exported - rec0, ls->ring_full_records, rh, rh - parse_h,
	       hbpf, (rh - parse_h) / (acc - parse), dis);
	fflush(stdout);
	fl_dp_destroy(dp);
}

int main(int argc, char **argv)
{
	char prefix[64];
	bool quick = argc > 1 && strcmp(argv[1], "quick") == 0;
	uint32_t only = argc > 1 && !quick ? (uint32_t)strtoul(argv[1], NULL, 0) : 0;

	snprintf(prefix, sizeof(prefix), "--file-prefix=bench_flowlog_%d", (int)getpid());
	char *eal[] = { argv[0], "--no-pci", "--in-memory", "-l", "0", prefix,
			"--log-level=*:warning" };
	if (rte_eal_init((int)RTE_DIM(eal), eal) < 0) {
		fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	pool = rte_pktmbuf_pool_create("bfl_pool", N_PKTS + 1024, 0, 0,
				       RTE_PKTMBUF_HEADROOM + 64, SOCKET_ID_ANY);
	pkts = calloc(N_PKTS, sizeof(*pkts));
	meta = calloc(N_PKTS, sizeof(*meta));
	seq = calloc(N_SEQ, sizeof(*seq));
	if (pool == NULL || pkts == NULL || meta == NULL || seq == NULL ||
	    rte_pktmbuf_alloc_bulk(pool, pkts, N_PKTS) != 0) {
		fprintf(stderr, "set-up: no memory (%s)\n", rte_strerror(rte_errno));
		return 1;
	}
	static const uint32_t nf[] = { 1024, 65536, 1u << 20 };
	for (int v6 = 0; v6 < 2; v6++)
		for (int z = 0; z < 2; z++)
			for (int i = quick ? 1 : 0; i < (quick ? 2 : 3); i++) {
				if (only != 0 && nf[i] != only)
					continue;
				/* The default 1M-slot cache, or 2 slots per flow when that is
				 * more (4-way buckets at load 1.0 would evict all the time).
				 * Only the lines of live flows are touched, so a big table
				 * costs memory, not cache misses. */
				uint32_t cache = RTE_MAX(1u << 20, nf[i] * 2 * (v6 ? 2 : 1));
				bench_case(nf[i], z, v6, cache);
			}
	rte_pktmbuf_free_bulk(pkts, N_PKTS);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	return 0;
}
