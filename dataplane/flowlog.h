/*
 * flowlog.h - the eniflow flow-log plugin: the one header a DPDK switch
 * includes to give every forwarded or dropped packet a place in a flow log.
 *
 * The host switch calls, on each worker lcore:
 *   - fl_dp_account_burst() once per burst, after its verdict, with per-packet
 *     metadata (ENI index, direction, verdict, deciding layer and rule);
 *   - fl_dp_poll() once per loop iteration: picks up config changes, ages a
 *     bounded slice of the flow cache and hands records to the export ring.
 * Each worker owns one struct fl_worker; nothing in it is shared with other
 * threads except counters that others only read.
 *
 * Everything is sized in fl_dp_create(): the per-packet path does no malloc,
 * takes no lock, makes no syscall and does not log.
 *
 * Errors follow the house rule: constructors return NULL and set rte_errno /
 * errno and log why; burst functions return a count.
 */
#ifndef ENIFLOW_FLOWLOG_H
#define ENIFLOW_FLOWLOG_H

#include <stdint.h>
#include <stdbool.h>
#include <rte_mbuf.h>
#include "shm_layout.h"

/** Plugin-wide settings, fixed for the plugin's lifetime. */
struct fl_dp_params {
	const char *instance;       /**< names the memzones (<= EFL_INSTANCE_MAX chars) */
	uint32_t n_workers;         /**< worker lcores that will call the plugin */
	uint32_t n_enis;            /**< ENIs the host knows (<= EFL_MAX_ENIS) */
	uint32_t flows_per_worker;  /**< flow-cache entries per worker; 0 = 1M */
	uint32_t ring_size;         /**< export ring slots (power of 2); 0 = 64K */
	uint64_t idle_timeout_ns;   /**< 0 = 15 s */
	uint64_t tcp_close_delay_ns;/**< export a closed TCP flow after this; 0 = 1 s */
	uint32_t aging_budget;      /**< cache entries inspected per poll; 0 = 256 */
	int socket_id;              /**< NUMA socket for memory; SOCKET_ID_ANY ok */
};

/**
 * Optional per-connection counters the host keeps for the plugin (see
 * fl_pkt_meta.cell): 20 bytes, best placed in a cache line the host reads
 * for every packet of the connection anyway (its session slot), so that
 * counting the packet touches no other line. The fields belong to the
 * plugin; the host only zeroes a cell before its first use and calls
 * fl_dp_cell_release() before it reuses the cell's memory.
 */
struct fl_cell {
	uint32_t flow;      /**< plugin: the cache entry counts go to, + 1; 0 = none */
	uint32_t rule_id;   /**< plugin: the rule of that entry's key */
	uint32_t bytes;     /**< plugin: bytes not yet in the entry */
	uint32_t t_last;    /**< plugin: time of the latest of them, ns >> FL_CELL_T_SHIFT */
	uint16_t packets;   /**< plugin: packets not yet in the entry */
	uint8_t kflags;     /**< plugin: direction, verdict, layer... of that entry's key */
	uint8_t tcp_flags;  /**< plugin: OR of those packets' TCP flags */
};
_Static_assert(sizeof(struct fl_cell) == 20, "hosts lay out their session lines around 20 bytes");

/** Resolution of a cell's time: 1,024 ns (a counted packet's last time is
 * rounded down to it); the field covers 73 minutes. */
#define FL_CELL_T_SHIFT 10

/** What the host decided for one packet at one ENI crossing. */
struct fl_pkt_meta {
	uint32_t eni;       /**< ENI index, < n_enis */
	uint8_t direction;  /**< enum rec_direction, as seen by the ENI */
	uint8_t verdict;    /**< enum rec_verdict */
	uint8_t layer;      /**< enum rec_layer that decided */
	uint8_t pad;
	uint32_t rule_id;   /**< deciding rule, 0 if none */
	/**
	 * Optional (NULL: none): a word the host keeps for this crossing's
	 * connection and direction (in its session table, say), where the
	 * plugin caches where the crossing's flow lives in its cache. Start it
	 * at 0. The plugin checks the entry a hint names against the packet's
	 * whole key before it uses it, so a stale, reused or garbage hint costs
	 * only an ordinary lookup, never a wrong count.
	 */
	uint32_t *flow_hint;
	/**
	 * Optional (NULL: none), and it takes the place of flow_hint: a cell
	 * the host keeps for this crossing's connection and direction. A
	 * packet of a flow already in the cache is then added to the cell,
	 * not to the flow's entry, which the plugin brings up to date when it
	 * ages, exports or evicts the flow. Unlike a hint, a cell is trusted:
	 * the host must pass a cell only with packets of one ENI, address
	 * pair, protocol and port pair (its connection's), on one worker, and
	 * within one fl_dp_account_burst() call for one connection only; it
	 * must call fl_dp_cell_release() before it passes the cell for another
	 * connection (in a later call) or frees it, and fl_dp_flush() before
	 * it frees its cells at exit. The direction, rule, verdict and layer
	 * may change: the plugin checks those.
	 */
	struct fl_cell *cell;
};

struct fl_dp;     /**< the plugin instance (shared memory, workers) */
struct fl_worker; /**< one worker lcore's cache, ring and counters */

/**
 * Create the plugin: memzones for header, config and stats, one export ring
 * and one flow cache per worker. Must run in the DPDK primary after
 * rte_eal_init(), and after the host has published its ENI table
 * (EFL_MZ_ENIS): eniflowd attaches as soon as the header exists and reads
 * the table then. Returns NULL (and logs why) on failure.
 */
struct fl_dp *fl_dp_create(const struct fl_dp_params *p);

/**
 * Free everything fl_dp_create() made. Call after fl_dp_flush() on every
 * worker and after the workers have stopped. NULL is a no-op.
 */
void fl_dp_destroy(struct fl_dp *dp);

/** Worker i's handle (i < n_workers). Borrowed: valid until fl_dp_destroy(). */
struct fl_worker *fl_dp_worker(struct fl_dp *dp, uint32_t i);

/** The shared header and config table, for the host to fill (ENI table lives with the host). */
struct efl_shm_header *fl_dp_shm_header(struct fl_dp *dp);
struct efl_shm_cfg *fl_dp_shm_cfg(struct fl_dp *dp);
struct efl_shm_stats *fl_dp_shm_stats(struct fl_dp *dp);

/**
 * Account a burst of n packets: parse each frame (bounded by its real data
 * length), find or create its flow in this worker's cache and add it up.
 * meta[i] belongs to pkts[i]. A packet may be passed once per ENI it
 * crosses. now_ns is wall-clock time (ns since epoch) for the whole burst.
 * The mbufs are only read. Returns n.
 */
uint16_t fl_dp_account_burst(struct fl_worker *w, struct rte_mbuf *const *pkts,
			     const struct fl_pkt_meta *meta, uint16_t n, uint64_t now_ns);

/**
 * Give back what a cell holds (to its flow's entry) and zero it, so the
 * host may reuse its memory or pass it for another connection. Call on the
 * worker the cell was passed to. A zeroed cell is a no-op.
 */
void fl_dp_cell_release(struct fl_worker *w, struct fl_cell *c);

/**
 * Housekeeping for one loop iteration: apply a newer config generation,
 * age up to aging_budget entries, export due records and pending loss
 * records. Bounded; never waits. Returns the number of records exported.
 */
unsigned fl_dp_poll(struct fl_worker *w, uint64_t now_ns);

/**
 * Export every live flow (end reason shutdown) and pending loss counts.
 * Returns the number of records that could not be enqueued (they are
 * counted as loss). Call from the worker's own lcore, or after it stopped.
 */
unsigned fl_dp_flush(struct fl_worker *w, uint64_t now_ns);

#endif /* ENIFLOW_FLOWLOG_H */
