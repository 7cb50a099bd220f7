/*
 * vs_internal.h - the switch's structs, shared by vs_switch.c (set-up) and
 * vs_forward.c (the poll loop) only. Hot per-worker fields first.
 */
#ifndef ENIFLOW_VS_INTERNAL_H
#define ENIFLOW_VS_INTERNAL_H

#include <rte_memzone.h>
#include <rte_mempool.h>

#include "vs_forward.h"

#define VS_MAC_SLOTS 256 /* > 2 x VS_MAX_PORTS: short probes */

struct vs_mac_slot {
	uint64_t key;   /* MAC (48 bits) | VPC index << 48 */
	int32_t eni;    /* -1 = empty */
};

#define VS_REJ_SLOTS 256 /* distinct (ENI, direction, layer, rule) rejects kept */

/* Rejects by deciding rule: filled on the (rare) reject path only. */
struct vs_rej_slot {
	uint64_t key;      /* 0 = empty; see vs_rej_key() */
	uint64_t packets;
	uint64_t bytes;
};

static inline uint64_t vs_rej_key(uint32_t eni, uint8_t dir, uint8_t layer, uint32_t rule)
{
	return 1ull << 63 | (uint64_t)eni << 40 | (uint64_t)dir << 36 | (uint64_t)layer << 32 | rule;
}

struct vs_worker {
	struct vs_switch *sw;
	struct fl_worker *fl;
	struct vs_conn *ct;
	const struct vs_lcore *lc;
	uint32_t idx;
	uint16_t ntx[VS_MAX_PORTS];
	struct rte_mbuf *txb[VS_MAX_PORTS][VS_BURST];
	struct efl_eni_switch_stats *sw_stats; /* [EFL_MAX_ENIS] of this worker */
	struct vs_worker_stats st;
	uint64_t rej_overflow;  /* rejects that found the table full */
	uint64_t egress_rejected[VS_MAX_PORTS][2]; /* per ENI: packets, bytes */
	struct vs_rej_slot rej[VS_REJ_SLOTS];
} __rte_cache_aligned;

struct vs_switch {
	const struct vs_config *cfg;
	struct vs_policy *pol;
	struct fl_dp *dp;
	struct efl_shm_stats *stats;
	struct efl_shm_header *hdr;
	const struct rte_memzone *mz_enis;
	struct efl_shm_eni *enis;
	struct rte_mempool *pool;
	uint32_t n_workers;
	volatile int stop;
	uint64_t tsc_hz;
	uint64_t wall0_ns, tsc0;  /* wall clock = wall0 + (tsc - tsc0) / hz */
	struct vs_port_rt ports[VS_MAX_PORTS];
	uint16_t cfg_port_of[RTE_MAX_ETHPORTS]; /* DPDK port -> config port */
	uint16_t vpc_members[VS_MAX_PORTS][VS_MAX_PORTS]; /* per VPC: ENI indexes */
	uint16_t n_vpc_members[VS_MAX_PORTS];
	struct vs_mac_slot mac[VS_MAC_SLOTS];
	struct vs_worker *workers[VS_MAX_LCORES];
};

static inline uint32_t vs_mac_hash(uint64_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ULL) >> 56) & (VS_MAC_SLOTS - 1);
}

static inline uint64_t vs_mac_key(const uint8_t *mac, uint16_t vpc)
{
	uint64_t k = (uint64_t)vpc << 48;
	for (int i = 0; i < 6; i++)
		k |= (uint64_t)mac[i] << (8 * (5 - i));
	return k;
}

static inline int32_t vs_mac_lookup(const struct vs_switch *sw, const uint8_t *mac, uint16_t vpc)
{
	uint64_t k = vs_mac_key(mac, vpc);
	for (uint32_t i = vs_mac_hash(k), n = 0; n < VS_MAC_SLOTS; n++, i = (i + 1) & (VS_MAC_SLOTS - 1)) {
		if (sw->mac[i].eni < 0)
			return -1;
		if (sw->mac[i].key == k)
			return sw->mac[i].eni;
	}
	return -1;
}

#endif /* ENIFLOW_VS_INTERNAL_H */
