/*
 * flowlog_model.h - the unit test's side of test_flowlog: generated flows,
 * real frames written into mbufs, the reference model (a plain map keyed
 * like the plugin's records) and the harness that drains the export ring
 * and compares. Kept apart from the scenarios in test_flowlog.c.
 */
#ifndef ENIFLOW_TEST_FLOWLOG_MODEL_H
#define ENIFLOW_TEST_FLOWLOG_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "flowlog.h"
#include "fl_cache_internal.h"
#include "test_check.h"

#define NS 1000000000ull
#define BURST 32
#define MAP_SLOTS (1u << 19)
#define N_FLOWS 100000
#define N_PKTS 1000000
#define N_ENIS 8

enum fkind { F_V4, F_V6, F_NONIP };

/** One generated flow: everything that makes its key. */
struct gflow {
	uint8_t kind, proto, dir, verdict, layer, l2;
	uint16_t sport, dport, ethertype;
	uint32_t eni, rule_id;
	uint8_t src[16], dst[16];
};

/** The model's key: a record's key fields plus its sampling rate. */
struct mkey {
	uint8_t src[16], dst[16];
	uint32_t eni, rule_id, sample_n;
	uint16_t sport, dport, ethertype;
	uint8_t dir, verdict, layer, l2, ipv, proto;
};

struct mval {
	struct mkey k;
	uint8_t used;
	uint64_t pkts, bytes;         /* model: accounted */
	uint64_t exp_pkts, exp_bytes; /* plugin: exported in flow records */
};

struct totals {
	uint64_t exp_pkts[EFL_MAX_ENIS], exp_bytes[EFL_MAX_ENIS];
	uint64_t loss_pkts[EFL_MAX_ENIS], loss_bytes[EFL_MAX_ENIS], loss_recs[EFL_MAX_ENIS];
	uint64_t records, loss_records, by_reason[32];
};

extern struct rte_mempool *pool;
extern struct mval *map;        /* [MAP_SLOTS] */
extern struct totals tot;
extern struct gflow *flows;     /* [N_FLOWS] */

uint64_t rnd(void);
void gflow_make(struct gflow *f, uint32_t i, uint32_t n_enis);
/** Write flow f as a frame of len bytes (>= 64) with TCP flags fl into m. */
void frame_build(struct rte_mbuf *m, const struct gflow *f, uint16_t len, uint8_t fl);
struct mval *map_get(const struct mkey *k);
void mkey_of_flow(struct mkey *k, const struct gflow *f, uint32_t n);
void mkey_of_rec(struct mkey *k, const struct rec_flow *r);
uint32_t plugin_hash(const struct gflow *f);
/** Dequeue up to max records from the ring into the map and totals. */
unsigned drain(struct rte_ring *r, unsigned max);
void cfg_set(struct fl_dp *dp, uint32_t eni, int enabled, int type, uint32_t n, int agg);
struct fl_dp *make_dp(const char *inst, uint32_t n_enis, uint32_t flows, uint32_t ring);
void reset_model(void);
/** If set, send_burst() passes &send_hints[flow % send_hints_n] as each
 * packet's flow_hint (shared by flows, sometimes overwritten with garbage). */
extern uint32_t *send_hints;
extern uint32_t send_hints_n;
/** If set (and send_hints is not), send_burst() acts as a host with
 * per-connection cells: flow f uses send_cells[f % send_cells_n], releases
 * it first when another flow had it (and at random, as a host reusing a
 * session slot), and passes no cell to a second flow in one burst.
 * cells_pending_max: the most cells holding packets after one burst. */
extern struct fl_cell *send_cells;
extern uint32_t send_cells_n;
extern uint32_t cells_pending_max;
void send_burst(struct fl_worker *w, const uint32_t *idx, unsigned n, uint64_t now,
		const uint32_t *model_n, const uint8_t *model_type);
void finish_and_compare(struct fl_dp *dp, struct fl_worker *w, uint64_t now, bool exact,
			const char *name);
unsigned drain_recs(struct rte_ring *r, struct rec_flow *out, unsigned max);
void send_one(struct fl_worker *w, const struct gflow *f, uint16_t len, uint8_t tfl,
	      uint64_t now);
/** send_one() with a host cell (NULL: none). */
void send_one_cell(struct fl_worker *w, const struct gflow *f, uint16_t len, uint8_t tfl,
		   uint64_t now, struct fl_cell *cell);
unsigned poll_all(struct fl_worker *w, uint64_t now);
void tcp_flow(struct gflow *f, uint32_t i);

#endif
