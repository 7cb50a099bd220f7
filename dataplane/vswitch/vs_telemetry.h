/*
 * vs_telemetry.h - eniflow-vswitch state over DPDK telemetry, so that
 * dpdk-telemetry.py (or any client of the v2 socket) reads it:
 *   /eniflow/enis             ENI ids, VPCs, subnets and ports, by ENI index
 *   /eniflow/eni,<id|index>   one ENI's identity and counters
 *   /eniflow/stats            every per-ENI counter as an array by ENI index
 *   /eniflow/workers          per-worker loop counters
 *   /eniflow/rejects          rejected packets by ENI, direction, layer and rule
 * Counters are summed over workers when read; nothing is reset.
 */
#ifndef ENIFLOW_VS_TELEMETRY_H
#define ENIFLOW_VS_TELEMETRY_H

#include "vs_forward.h"

/** Register the commands for this switch (one switch per process). 0 or -errno. */
int vs_telemetry_register(struct vs_switch *sw);

/** Per-ENI counters summed over workers (also used by the benchmark). */
struct vs_eni_totals {
	uint64_t rx_packets, rx_bytes;             /**< sent by the VM, received by the switch */
	uint64_t forwarded_packets, forwarded_bytes; /**< rx that passed the egress checks */
	uint64_t tx_packets, tx_bytes;             /**< delivered to the VM */
	uint64_t rejected_packets, rejected_bytes;
	uint64_t seen_packets, seen_bytes;         /**< handed to the plugin */
	uint64_t accounted_packets, accounted_bytes; /**< counted into a flow */
	uint64_t lost_packets;
};
void vs_eni_totals(struct vs_switch *sw, uint32_t eni, struct vs_eni_totals *t);

#endif /* ENIFLOW_VS_TELEMETRY_H */
