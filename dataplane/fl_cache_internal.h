/*
 * fl_cache_internal.h - internal to the flow-log plugin: the per-worker flow
 * cache (a set-associative hash table of 64-byte entries), the worker state
 * and the helpers shared by flowlog.c (set-up, config), fl_cache.c (the
 * per-packet path) and fl_export.c (aging, export, loss).
 *
 * Main design choice: one cache line per IPv4 / non-IP flow. A bucket is
 * FL_WAYS (4) lines, 256 bytes, chosen by the low bits of a 32-bit
 * multiplicative hash of the key; each entry keeps that hash inside its key,
 * so a lookup rejects a way with one 8-byte compare and never follows a
 * pointer. An IPv6 flow takes two adjacent ways (an aligned pair): the head
 * holds the key with 32-bit folds of the addresses plus the counters, the
 * tail holds the 32 address bytes. A new flow whose bucket is full goes to a
 * second-choice bucket; only if that is full too is the least recently used
 * flow of the first bucket evicted (exported, end reason cache-pressure), so
 * the cache never refuses a packet.
 * The measurement behind this choice is in docs/benchmarks.md.
 */
#ifndef ENIFLOW_FL_CACHE_INTERNAL_H
#define ENIFLOW_FL_CACHE_INTERNAL_H

#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <rte_common.h>
#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_ring.h>

#include "flowlog.h"
#include "fl_parse.h"
#include "record.h"
#include "shm_layout.h"

#define FL_WAYS 4
#define FL_BURST_MAX 32
#define FL_DEFAULT_FLOWS (1u << 20)
#define FL_DEFAULT_RING (1u << 16)
#define FL_DEFAULT_IDLE_NS (15ull * 1000000000ull)
#define FL_DEFAULT_CLOSE_NS (1ull * 1000000000ull)
#define FL_DEFAULT_BUDGET 256
#define FL_DEFAULT_AGG_S 60
#define FL_AGG_MAX_S 600
#define FL_NS_PER_S 1000000000ull
/* The aging sweep covers the whole table once per this period (bounded by
 * aging_budget per poll), so a closed flow leaves within ~close delay +
 * this, and a busy core sweeps only as fast as time requires. The sweep
 * reads every slot from DRAM whatever the packet rate: a 4M-slot table
 * (1.5M live entries) once per 250 ms was 1 GB/s and ~280
 * cycles per packet in eniflow-vswitch at 1-2 Mpps; once per second (the
 * default TCP close delay) it is a quarter of that. */
#define FL_SWEEP_PERIOD_NS (1000ull * 1000 * 1000)
/* The sweep prefetches this many slots ahead of its cursor. Without it,
 * every slot it inspected was a DRAM miss in the worker's loop: ~17
 * cycles per packet in eniflow-vswitch at 1M flows (4M slots). */
#define FL_SWEEP_AHEAD 16
/* A wall-clock step back up to this much is clamped (the worker's time
 * stands still until the clock catches up); a bigger one is taken as the
 * new time, see fl_clock(). */
#define FL_CLOCK_CLAMP_NS (10ull * FL_NS_PER_S)

/* fl_ekey.kflags: the small key fields packed in one byte. */
#define FL_KF_EGRESS 0x01      /* direction: REC_DIR_EGRESS */
#define FL_KF_REJECT 0x02      /* verdict: REC_VERDICT_REJECT */
#define FL_KF_L2_SHIFT 2       /* 2 bits: enum rec_l2_class */
#define FL_KF_IPV_SHIFT 4      /* 2 bits: 0 non-IP, 1 IPv4, 2 IPv6 */
#define FL_KF_LAYER_SHIFT 6    /* 2 bits: enum rec_layer */
#define FL_KF_IPV6 (2u << FL_KF_IPV_SHIFT)
#define FL_KF_IPV_MASK (3u << FL_KF_IPV_SHIFT)

/* An entry this full leaves at once (end reason active), so that a cell's
 * packets (at most UINT16_MAX) still fit when they are added to it. */
#define FL_PKTS_FULL (UINT32_MAX - UINT16_MAX)
/* A cell's time is 32 bits of ns >> FL_CELL_T_SHIFT (73 min). An entry
 * lives at most the longest active timeout (plus a sweep) and its export
 * folds its cell, so a fold never meets a cell time that has wrapped,
 * unless the clock itself jumped (see cell_fold()). */
_Static_assert(((uint64_t)FL_AGG_MAX_S * 1000000000ull + 2 * FL_SWEEP_PERIOD_NS) >> FL_CELL_T_SHIFT <
		       (1ull << 32),
	       "a cell's time must cover an entry's longest life");

/* fl_entry.state */
#define FL_ST_CLOSING 0x01     /* saw FIN or RST in this direction */

/**
 * The exact-match part of a flow: 24 bytes, compared as three words. The
 * hash is part of it, so a free entry (hash 0) never matches a live key.
 * Layer and rule id are part of the key: packets decided by another rule
 * are another flow, so a record never names a rule that did not decide all
 * of its packets. For non-IP frames sport holds the ethertype.
 */
struct fl_ekey {
	uint32_t src4;     /**< IPv4 source (network order); IPv6: fold of the address */
	uint32_t dst4;
	uint16_t sport;    /**< host order; ICMP type; non-IP: ethertype */
	uint16_t dport;    /**< host order; ICMP code */
	uint16_t eni;
	uint8_t proto;
	uint8_t kflags;    /**< FL_KF_* */
	uint32_t rule_id;
	uint32_t hash;     /**< fl_key_build()'s hash of the key, never 0 in a live entry */
};

/** One flow: exactly one cache line. */
struct fl_entry {
	union {
		struct fl_ekey k;
		uint64_t kw[3];
	};
	uint8_t tcp_flags;
	uint8_t state;     /**< FL_ST_* */
	uint16_t pad;
	uint32_t fragments;
	/* Packets fit 32 bits because an entry that reaches FL_PKTS_FULL is
	 * exported at once (end reason active): see fl_cache.c. */
	uint32_t packets;
	/* Part of the match: a flow sampled under another 1-in-N is another
	 * record, so every record's sample_1_in_n is true for all its packets. */
	uint32_t sample_n;
	uint64_t bytes;
	uint64_t first_ns;
	uint64_t last_ns;
} __rte_aligned(RTE_CACHE_LINE_SIZE);

_Static_assert(sizeof(struct fl_ekey) == 24, "fl_ekey is three words");
_Static_assert(sizeof(struct fl_entry) == 64, "a flow entry is one cache line");

/** Second way of an IPv6 flow. Its word at the head's hash offset stays 0. */
struct fl_v6tail {
	uint8_t pad0[20];
	uint32_t zero;
	uint8_t src[16];
	uint8_t dst[16];
	uint8_t pad1[8];
};
_Static_assert(sizeof(struct fl_v6tail) == 64, "v6 tail is one cache line");
_Static_assert(offsetof(struct fl_v6tail, zero) == offsetof(struct fl_ekey, hash),
	       "a v6 tail must look free at the hash offset");

/** A packet's key while a burst is processed. */
struct fl_lkey {
	union {
		struct fl_ekey k;
		uint64_t kw[3];
	};
	uint8_t src6[16];
	uint8_t dst6[16];
};

/** The table. */
struct fl_cache {
	struct fl_entry *slots;   /**< n_buckets * FL_WAYS entries */
	/** [slot]: the host cell (fl_pkt_meta.cell) that holds counts of the
	 * entry, or NULL. Kept apart from the entries: read when the sweep
	 * finds the entry seemingly due, when it is evicted or leaves, or when
	 * its cell changes; never per packet. */
	struct fl_cell **cell_of;
	/** A cell was ever armed here: until then nothing reads cell_of (an
	 * export or eviction would load a line of it for nothing; with a host
	 * that passes no cells that cost bench_flowlog 3-8 cycles/packet). */
	bool has_cells;
	uint32_t n_buckets;       /**< power of 2 */
	uint32_t bucket_mask;
	uint32_t n_live;          /**< live flows (a v6 flow counts once) */
	uint32_t sweep;           /**< next slot the aging sweep inspects */
};

/** Per-ENI config as this worker applies it (its own copy). */
struct fl_eni_local {
	uint8_t enabled;
	uint8_t verdict_mask;  /**< bit v set: verdict v is logged; 0 if disabled */
	uint16_t pad;
	uint32_t sample_n;     /**< >= 1 */
	uint64_t agg_ns;       /**< active timeout */
};

/** Loss not yet reported in a loss record, per ENI. */
struct fl_loss {
	uint64_t packets;
	uint64_t bytes;
	uint64_t first_ns;
	uint64_t last_ns;
	uint32_t records;
	uint32_t listed;       /**< on the worker's pending list */
};

struct fl_dp;

/** One worker lcore's state. Touched by that lcore only. */
struct fl_worker {
	struct fl_cache cache;
	struct rte_ring *ring;
	struct fl_dp *dp;
	uint32_t idx;
	uint32_t n_enis;
	struct fl_eni_local *cfg;     /**< [n_enis] */
	const struct efl_shm_cfg *shm_cfg;
	uint64_t cfg_gen;             /**< generation the local copy reflects */
	bool cfg_valid;               /**< local copy read at least once */
	struct efl_lcore_stats *ls;   /**< shared memory, this worker's line */
	struct efl_eni_stats *es;     /**< shared memory, [EFL_MAX_ENIS] of this worker */
	struct fl_loss *loss;         /**< [n_enis] */
	uint32_t *loss_list;          /**< ENIs with pending loss */
	uint32_t n_loss;
	uint32_t budget;
	uint64_t sweep_credit;        /**< slots * ns owed to the sweep, see age_budget() */
	uint64_t last_poll_ns;
	uint64_t clock_ns;            /**< latest time this worker used, see fl_clock() */
	uint64_t idle_ns;
	uint64_t close_ns;
} __rte_cache_aligned;

/** The plugin instance. */
struct fl_dp {
	struct fl_dp_params p;
	char instance[EFL_INSTANCE_MAX + 1];
	const struct rte_memzone *mz_hdr;
	const struct rte_memzone *mz_cfg;
	const struct rte_memzone *mz_stats;
	struct efl_shm_header *hdr;
	struct efl_shm_cfg *cfg;
	struct efl_shm_stats *stats;
	struct fl_worker **workers;
};

/* ---- key and hash (also used by the unit test's reference model) ---- */

/* The small key fields of w1's top byte (FL_KF_*). */
static inline uint64_t fl_kflags(const struct fl_pkt_meta *m, unsigned l2_class, uint64_t ipv)
{
	return (m->direction & 1) | ((m->verdict & 1u) << 1) | ((l2_class & 3u) << FL_KF_L2_SHIFT) |
	       (ipv << FL_KF_IPV_SHIFT) | ((uint64_t)(m->layer & 3u) << FL_KF_LAYER_SHIFT);
}

/*
 * Finish a key: x is the address words' part of the hash (see
 * fl_key_build()); mix in w1 and the rule id and store the three words.
 */
static inline void fl_key_finish(struct fl_lkey *lk, uint64_t w0, uint64_t w1, uint64_t x,
				 uint32_t rule_id)
{
	uint32_t h;

	x ^= w1 * 0xc6a4a7935bd1e995ull ^ (rule_id + 1) * 0xff51afd7ed558ccdull;
	x ^= x >> 32;
	x *= 0xc4ceb9fe1a85ec53ull;
	h = (uint32_t)(x >> 32);
	h = h ? h : 1;
	lk->kw[0] = w0;
	lk->kw[1] = w1;
	lk->kw[2] = rule_id | ((uint64_t)h << 32);
}

/**
 * Build the key of a parsed frame for the given metadata and hash it.
 * ip_version other than 4 or 6 makes a non-IP key (ethertype only).
 * The key words are assembled in registers and stored whole: building them
 * field by field and then loading them as words would stall on
 * store-to-load forwarding, which cost ~20 cycles per packet.
 *
 * The hash multiplies each key word by its own odd constant, XORs the
 * products and finishes with one xorshift-multiply: the words hash in
 * parallel (~10 cycles of latency), where a CRC32-C chain over the same
 * words took ~25 and left the per-packet pipeline waiting on it.
 */
static inline void fl_key_build(struct fl_lkey *lk, const struct fl_parsed *p,
				const struct fl_pkt_meta *m)
{
	uint64_t ipv = p->ip_version == 4 ? 1 : p->ip_version == 6 ? 2 : 0;
	uint64_t w0, w1, x, a[4];
	uint32_t s4, d4;

	if (ipv != 0) {
		w1 = p->sport | ((uint64_t)p->dport << 16) | ((uint64_t)p->proto << 48);
	} else {
		w1 = p->ethertype;
	}
	w1 |= ((uint64_t)(uint16_t)m->eni << 32) | (fl_kflags(m, p->l2_class, ipv) << 56);
	if (ipv == 2) {
		memcpy(a, p->src, 16);
		memcpy(a + 2, p->dst, 16);
		memcpy(lk->src6, p->src, 16);
		memcpy(lk->dst6, p->dst, 16);
		x = a[0] * 0x9e3779b97f4a7c15ull ^ a[1] * 0xd6e8feb86659fd93ull ^
		    a[2] * 0xc2b2ae3d27d4eb4full ^ a[3] * 0x165667b19e3779f9ull;
		s4 = (uint32_t)(a[0] ^ (a[0] >> 32) ^ a[1] ^ (a[1] >> 32));
		d4 = (uint32_t)(a[2] ^ (a[2] >> 32) ^ a[3] ^ (a[3] >> 32));
		w0 = s4 | ((uint64_t)d4 << 32);
	} else {
		if (ipv == 1) {
			memcpy(&s4, p->src, 4);
			memcpy(&d4, p->dst, 4);
		} else {
			s4 = 0;
			d4 = 0;
		}
		w0 = s4 | ((uint64_t)d4 << 32);
		x = w0 * 0x9e3779b97f4a7c15ull;
	}
	fl_key_finish(lk, w0, w1, x, m->rule_id);
}

/**
 * The common frame in one step: untagged, unicast Ethernet carrying an
 * unfragmented IPv4 datagram without options and a whole TCP or UDP
 * header. Builds the key words (all but the hash) that fl_parse_frame() +
 * fl_key_build() would, plus the TCP flags, straight from the frame;
 * returns false for anything else
 * (the caller then takes the general parser). Reads only bytes [0, 48) of
 * a frame whose data_len it has checked. Going through struct fl_parsed
 * (a call, a 48-byte clear, a byte-wise round trip) and the general
 * parser's branches cost ~10 cycles per ENI crossing in eniflow-vswitch.
 */
static inline bool fl_key_words_v4_fast(const uint8_t *f, uint32_t data_len,
					const struct fl_pkt_meta *m, uint64_t *w0p, uint64_t *w1p,
					uint8_t *tcp_flags)
{
	uint32_t eth_ip, frag_proto, ports, s4, d4, dvl, need;
	uint16_t tot;
	uint64_t kf;

	/* Whole words, compared under masks: bytes 12-15 are the ethertype,
	 * version/IHL and TOS; 20-23 the fragment field, TTL and protocol. */
	if (data_len < 14 + 20 + 14 || (f[0] & 1))
		return false;
	memcpy(&eth_ip, f + 12, 4);
	memcpy(&frag_proto, f + 20, 4);
	if ((eth_ip & 0x00ffffffu) != 0x00450008u || (frag_proto & 0xff3fu) != 0)
		return false;
	/* a whole TCP or UDP header within the datagram's total length (0:
	 * unknown, take the frame's; it holds 34 bytes past Ethernet) */
	if ((frag_proto >> 24) == 6)
		need = 20 + 14;
	else if ((frag_proto >> 24) == 17)
		need = 20 + 4;
	else
		return false;
	memcpy(&tot, f + 16, 2);
	tot = rte_be_to_cpu_16(tot);
	if (tot != 0 && tot < need)
		return false;
	*tcp_flags = need == 20 + 14 ? f[47] : 0;
	memcpy(&s4, f + 26, 4);
	memcpy(&d4, f + 30, 4);
	memcpy(&ports, f + 34, 4);
	ports = rte_be_to_cpu_32(ports); /* sport << 16 | dport, host order */
	ports = ports >> 16 | ports << 16;
	/* direction, verdict and layer in one load (fl_kflags()'s bits) */
	_Static_assert(offsetof(struct fl_pkt_meta, verdict) == offsetof(struct fl_pkt_meta, direction) + 1 &&
		       offsetof(struct fl_pkt_meta, layer) == offsetof(struct fl_pkt_meta, direction) + 2,
		       "direction, verdict, layer are adjacent bytes");
	memcpy(&dvl, &m->direction, 4);
	kf = (dvl & 1) | ((dvl >> 7) & 2) | ((dvl >> 10) & 0xc0) | (1u << FL_KF_IPV_SHIFT);
	*w0p = s4 | ((uint64_t)d4 << 32);
	*w1p = ports | ((uint64_t)(frag_proto >> 24) << 48) | ((uint64_t)(uint16_t)m->eni << 32) |
	       (kf << 56);
	return true;
}

/* The hash of an IPv4 key from its words (what fl_key_build() mixes). */
static inline void fl_key_finish_v4(struct fl_lkey *lk, uint64_t w0, uint64_t w1, uint32_t rule_id)
{
	fl_key_finish(lk, w0, w1, w0 * 0x9e3779b97f4a7c15ull, rule_id);
}

/**
 * 1-in-N flow sampling: keep the flow if the top bits of its hash fall in
 * the first 1/N of the range. The bucket uses the low bits, so kept flows
 * still spread over the whole table.
 */
static inline bool fl_sample_keep(uint32_t hash, uint32_t n)
{
	return n <= 1 || (((uint64_t)hash * n) >> 32) == 0;
}

static inline bool fl_entry_is_v6(const struct fl_entry *e)
{
	return (e->k.kflags & FL_KF_IPV_MASK) == FL_KF_IPV6;
}

/**
 * The time this worker uses for a burst or poll, given the host's wall
 * clock. Wall-clock time can step back (NTP). A record must never end
 * before it starts (rec_validate() rejects it, so its counts would be lost
 * downstream), so a small step back is clamped: time stands still until
 * the clock catches up, at the cost of pausing aging for that long. A step
 * back larger than FL_CLOCK_CLAMP_NS is taken as the new time, so that
 * aging is not paused for hours; entries stamped after it are then due at
 * once (see due_reason()) and account_one() never moves last_ns back.
 */
static inline uint64_t fl_clock(struct fl_worker *w, uint64_t now)
{
	if (likely(now >= w->clock_ns) || w->clock_ns - now > FL_CLOCK_CLAMP_NS)
		w->clock_ns = now;
	return w->clock_ns;
}

/* ---- fl_cache.c ---- */
int fl_cache_init(struct fl_cache *c, uint32_t flows, int socket);
void fl_cache_fini(struct fl_cache *c);
/** Free a live entry (and its v6 tail). */
void fl_cache_free(struct fl_cache *c, struct fl_entry *e);
/** Add what the host cell of the entry in slot s holds to the entry. */
void fl_cell_fold_slot(struct fl_worker *w, uint32_t s);
/** fl_cell_fold_slot(), then forget the cell (zeroed: disarmed). */
void fl_cell_detach_slot(struct fl_worker *w, uint32_t s);

/* ---- fl_export.c ---- */
/** Export e with the given end reason and free it. Never waits. */
void fl_export_entry(struct fl_worker *w, struct fl_entry *e, uint8_t reason);
/** Enqueue pending loss records while the ring has room. Returns records enqueued. */
unsigned fl_loss_drain(struct fl_worker *w);

/* ---- flowlog.c ---- */
/** Re-read the shared config if its generation moved. */
void fl_cfg_refresh(struct fl_worker *w);

#endif /* ENIFLOW_FL_CACHE_INTERNAL_H */
