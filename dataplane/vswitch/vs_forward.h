/*
 * vs_forward.h - the forwarding plane of eniflow-vswitch: ports, the MAC
 * table and the per-lcore poll loop that decides, checks, accounts and
 * sends every packet.
 *
 * struct vs_switch is built once by vs_switch_create() (ports configured
 * and started, policy compiled, plugin created) and is read-only while the
 * workers run; each worker owns its struct vs_worker (tx buffers, the
 * connection table, the plugin's per-lcore handle) and writes only its own
 * counters, so nothing on the packet path takes a lock (except a tx lock
 * on a port that has fewer tx queues than there are workers).
 */
#ifndef ENIFLOW_VS_FORWARD_H
#define ENIFLOW_VS_FORWARD_H

#include <stdbool.h>
#include <stdint.h>
#include <rte_mbuf.h>
#include <rte_spinlock.h>

#include "flowlog.h"
#include "vs_config.h"
#include "vs_policy.h"

#define VS_BURST 32

#define VS_STALL_BUCKETS 40 /* 2^40 cycles: minutes at any TSC rate */

/** Counters one worker keeps beside the shared per-ENI ones. */
struct vs_worker_stats {
	uint64_t iterations;
	uint64_t rx_packets;     /**< all ports, uplink included */
	uint64_t tx_dropped;     /**< a port's tx queue was full */
	uint64_t no_route;       /**< unknown destination from the uplink, hairpin */
	uint64_t uplink_flood_dropped; /**< broadcast/multicast from the uplink */
	uint64_t busy_cycles;    /**< TSC cycles of iterations that moved packets */
	uint64_t busy_packets;   /**< packets received in those iterations */
	/* Stalls: how long one loop iteration (rx, forward, tx, fl_dp_poll) and
	 * its fl_dp_poll() part took, in TSC cycles. Histograms have log2
	 * buckets: [b] counts lengths in [2^b, 2^(b+1)); a reader diffs two
	 * snapshots to get the distribution of a time window. */
	uint64_t iter_max_cycles;
	uint64_t poll_max_cycles;
	uint64_t iter_hist[VS_STALL_BUCKETS];
	uint64_t poll_hist[VS_STALL_BUCKETS];
	/* The fl_dp_poll() calls that re-read a flow-log config published
	 * before they started (generation moved before the call, and the
	 * plugin's cfg_refreshes moved during it): what config churn could
	 * stretch. Deciding before the timed span matters: a long (preempted)
	 * span is likelier to see a publish just because it lasts longer. */
	uint64_t cfg_poll_max_cycles;
	uint64_t cfg_poll_hist[VS_STALL_BUCKETS];
};

struct vs_port_rt {
	uint16_t port_id;        /**< DPDK port id */
	int32_t eni;             /**< ENI index, -1 for the uplink */
	uint16_t n_txq;
	rte_spinlock_t tx_lock;  /**< taken only when n_txq < workers */
};

struct vs_switch;

/** Options of vs_switch_create(). */
struct vs_switch_params {
	const char *instance;    /**< memzone names (EFL_INSTANCE_MAX chars) */
	bool enable_all;         /**< log every ENI until a daemon says otherwise */
	uint32_t conn_entries;   /**< per worker; 0 = 64K */
};

/**
 * Build the switch: find the ports EAL created from the config's devargs,
 * configure and start them, compile the policy, create the plugin and fill
 * the ENI-table memzone. Returns NULL and writes why into err.
 */
struct vs_switch *vs_switch_create(const struct vs_config *cfg,
				   const struct vs_switch_params *p, char *err);

/** Stop the ports, free the plugin and memzones. NULL is a no-op. */
void vs_switch_destroy(struct vs_switch *sw);

/** Worker loop for config lcore index i; pass (void *)sw-owned worker. */
int vs_worker_main(void *worker);

/** Worker i (i < number of config lcores). Borrowed. */
struct vs_worker *vs_switch_worker(struct vs_switch *sw, uint32_t i);
/** Worker i's private counters (read them from any thread). */
const struct vs_worker_stats *vs_worker_stats(const struct vs_worker *w);

/** Ask every worker to leave its loop; they flush their flows first. */
void vs_switch_stop(struct vs_switch *sw);

/**
 * Clear the stop request so the workers can be launched again, after
 * vs_switch_stop() and rte_eal_mp_wait_lcore(). Their flow caches are empty
 * then (the loops flushed them): a benchmark uses this to start every phase
 * from the same state.
 */
void vs_switch_rearm(struct vs_switch *sw);

/** Publish the flow-log config of every ENI (enabled or not, all traffic). */
void vs_switch_flowlog_all(struct vs_switch *sw, bool enabled);

/** Shared views for telemetry and the main loop. */
struct fl_dp *vs_switch_plugin(struct vs_switch *sw);
const struct vs_config *vs_switch_config(const struct vs_switch *sw);
uint32_t vs_switch_workers(const struct vs_switch *sw);
const struct efl_shm_eni *vs_switch_enis(const struct vs_switch *sw);

#endif /* ENIFLOW_VS_FORWARD_H */
