/*
 * shm_layout.h - what eniflow-vswitch (DPDK primary) and eniflowd (DPDK
 * secondary) share through named memzones. Defined once, here.
 *
 * WARNING: this is a cross-process ABI. Any change to a struct or a name
 * must bump EFL_SHM_LAYOUT_VERSION; eniflowd refuses a primary whose
 * header carries another version.
 *
 * No pointers and no function pointers live in these structs: the two
 * processes are different binaries. Rings are DPDK rte_rings found by name
 * (rte_ring_lookup), created single-producer/single-consumer with 96-byte
 * elements (struct rec_flow).
 *
 * Per-ENI flow-log config is published lock-free with a sequence counter per
 * entry (odd while being written) plus a global generation that the
 * dataplane polls once per loop iteration; see efl_cfg_read()/write().
 */
#ifndef ENIFLOW_SHM_LAYOUT_H
#define ENIFLOW_SHM_LAYOUT_H

#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include "record.h"

#define EFL_SHM_MAGIC 0x45464c53484d3031ULL /* "EFLSHM01" */
#define EFL_SHM_LAYOUT_VERSION 2 /* 2: cfg_refreshes, cfg_deferred */

/** Longest instance name: memzone names are at most 31 characters. */
#define EFL_INSTANCE_MAX 12
#define EFL_MAX_ENIS 4096
#define EFL_MAX_LCORES 64
#define EFL_ID_LEN 64

/* Memzone / ring names; "%s" is the instance name. */
#define EFL_MZ_HEADER "efl_%s_hdr"
#define EFL_MZ_ENIS "efl_%s_enis"
#define EFL_MZ_CFG "efl_%s_cfg"
#define EFL_MZ_STATS "efl_%s_stats"
#define EFL_RING_EXPORT "efl_%s_ring%u" /* %u = worker index */

#define EFL_CACHE_LINE 64

/** Flow-log traffic types (AWS names). */
enum efl_traffic_type {
	EFL_TRAFFIC_ALL = 0,
	EFL_TRAFFIC_ACCEPT = 1,
	EFL_TRAFFIC_REJECT = 2,
};

/** Memzone EFL_MZ_HEADER: identifies the primary and sizes everything else. */
struct efl_shm_header {
	uint64_t magic;           /**< EFL_SHM_MAGIC */
	uint32_t layout_version;  /**< EFL_SHM_LAYOUT_VERSION */
	uint32_t n_workers;       /**< export rings / per-lcore stats in use */
	uint32_t n_enis;          /**< entries used in the ENI table */
	uint32_t ring_size;       /**< slots per export ring */
	uint64_t start_ns;        /**< when the primary started (epoch ns) */
	uint64_t pid;             /**< primary's pid */
	volatile uint64_t heartbeat_ns; /**< refreshed by the primary ~every 100 ms */
	volatile uint32_t running;      /**< 1 while forwarding, 0 once stopping */
	volatile uint32_t flushed;      /**< 1 after shutdown flush reached the rings */
	char instance[EFL_INSTANCE_MAX + 4];
};

/** One ENI as the switch knows it (memzone EFL_MZ_ENIS, array of EFL_MAX_ENIS). */
struct efl_shm_eni {
	uint32_t index;           /**< = position in the table */
	uint32_t port_id;         /**< DPDK port behind the ENI */
	char eni_id[EFL_ID_LEN];
	char vpc_id[EFL_ID_LEN];
	char subnet_id[EFL_ID_LEN];
	char account_id[EFL_ID_LEN];
	uint8_t mac[6];
	uint8_t n_ipv4;
	uint8_t n_ipv6;
	uint8_t ipv4[4][4];
	uint8_t ipv6[4][16];
};

/** Per-ENI flow-log config, as the dataplane applies it. */
struct efl_eni_cfg {
	uint8_t enabled;          /**< 0: this ENI is not logged */
	uint8_t traffic_type;     /**< enum efl_traffic_type */
	uint16_t agg_interval_s;  /**< active timeout, 1..600 */
	uint32_t sample_1_in_n;   /**< 1 = every packet; N = one flow in N */
};

/** Slot of the config table: a seqlock around one efl_eni_cfg. */
struct efl_shm_cfg_slot {
	volatile uint32_t seq;    /**< odd while the writer is inside */
	uint32_t pad;
	struct efl_eni_cfg cfg;
};

/** Memzone EFL_MZ_CFG. */
struct efl_shm_cfg {
	volatile uint64_t generation; /**< bumped after every published change */
	uint8_t pad[EFL_CACHE_LINE - sizeof(uint64_t)];
	struct efl_shm_cfg_slot slot[EFL_MAX_ENIS];
};

/** Counters of one worker lcore (written by that lcore only). */
struct efl_lcore_stats {
	uint64_t packets_seen;     /**< handed to fl_dp_account_burst */
	uint64_t packets_accounted;/**< counted into a flow (logging enabled) */
	uint64_t packets_filtered; /**< logging enabled, but traffic type/sampling skipped them */
	uint64_t flows_created;
	uint64_t records_exported; /**< flow records enqueued on the ring */
	uint64_t flows_evicted;    /**< exported early because the cache was full */
	uint64_t ring_full_records;/**< records that found the ring full */
	uint64_t loss_records_exported;
	uint64_t poll_calls;
	uint64_t poll_max_cycles;  /**< longest fl_dp_poll() call */
	/* layout 2: */
	uint64_t cfg_refreshes;    /**< config re-read because the generation moved */
	uint64_t cfg_deferred;     /**< ENI reads that met a writer every try: old kept, retried */
	uint8_t pad[EFL_CACHE_LINE - (12 * sizeof(uint64_t)) % EFL_CACHE_LINE];
} __attribute__((aligned(EFL_CACHE_LINE)));
_Static_assert(sizeof(struct efl_lcore_stats) == 2 * EFL_CACHE_LINE,
	       "layout 2 kept the per-lcore line pair: fields were appended into the pad");

/** Per-ENI counters of one worker lcore (written by that lcore only). */
struct efl_eni_stats {
	uint64_t packets_seen;
	uint64_t bytes_seen;
	uint64_t packets_accounted;
	uint64_t bytes_accounted;
	uint64_t lost_records;     /**< ring full: records not handed over */
	uint64_t lost_packets;
	uint64_t lost_bytes;
	uint64_t pad;
};

/** Per-ENI counters kept by the reference switch (not by the plugin). */
struct efl_eni_switch_stats {
	uint64_t rx_packets;       /**< received from the ENI's port */
	uint64_t rx_bytes;
	uint64_t tx_packets;       /**< sent to the ENI's port */
	uint64_t tx_bytes;
	uint64_t rejected_packets; /**< dropped by SG or ACL at this ENI */
	uint64_t rejected_bytes;
	uint64_t pad[2];
};

/**
 * Memzone EFL_MZ_STATS: lcore[n_workers], then eni[n_workers][EFL_MAX_ENIS],
 * then sw[n_workers][EFL_MAX_ENIS]. Readers sum over workers.
 */
struct efl_shm_stats {
	struct efl_lcore_stats lcore[EFL_MAX_LCORES];
	/* followed by the flexible per-ENI arrays, see efl_stats_eni() */
};

static inline size_t efl_stats_size(uint32_t n_workers)
{
	return sizeof(struct efl_shm_stats) +
	       (size_t)n_workers * EFL_MAX_ENIS *
		       (sizeof(struct efl_eni_stats) + sizeof(struct efl_eni_switch_stats));
}

static inline struct efl_eni_stats *efl_stats_eni(struct efl_shm_stats *s, uint32_t worker,
						  uint32_t eni)
{
	struct efl_eni_stats *base = (struct efl_eni_stats *)(s + 1);
	return &base[(size_t)worker * EFL_MAX_ENIS + eni];
}

static inline struct efl_eni_switch_stats *efl_stats_sw(struct efl_shm_stats *s,
							 uint32_t n_workers, uint32_t worker,
							 uint32_t eni)
{
	struct efl_eni_stats *eni_base = (struct efl_eni_stats *)(s + 1);
	struct efl_eni_switch_stats *base =
		(struct efl_eni_switch_stats *)(eni_base + (size_t)n_workers * EFL_MAX_ENIS);
	return &base[(size_t)worker * EFL_MAX_ENIS + eni];
}

/**
 * Publish a new config for one ENI (single writer: eniflowd). Readers see
 * the old or the new value, never a mix.
 */
static inline void efl_cfg_write(struct efl_shm_cfg *c, uint32_t eni, const struct efl_eni_cfg *v)
{
	struct efl_shm_cfg_slot *s = &c->slot[eni];
	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy((void *)&s->cfg, v, sizeof(*v));
	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&c->generation, 1, __ATOMIC_RELEASE);
}

/**
 * Read one ENI's config without a lock. Returns true and fills out if a
 * consistent copy was read within a few tries; false means a writer was
 * inside every time: keep the old value and try again next poll.
 */
static inline bool efl_cfg_read(const struct efl_shm_cfg *c, uint32_t eni, struct efl_eni_cfg *out)
{
	const struct efl_shm_cfg_slot *s = &c->slot[eni];
	for (int tries = 0; tries < 4; tries++) {
		uint32_t s1 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		if (s1 & 1)
			continue;
		memcpy(out, (const void *)&s->cfg, sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == s1)
			return true;
	}
	return false;
}

#endif /* ENIFLOW_SHM_LAYOUT_H */
