/*
 * vs_policy.h - security groups and network ACLs of eniflow-vswitch.
 *
 * The config's rules are compiled once into DPDK rte_acl contexts, one per
 * (layer, IP version, direction). The ENI (SG) or the ACL (subnet) is a
 * field of the classified key, so a burst needs at most 8 classify calls
 * whatever the number of ENIs. Each verdict names the rule and the layer
 * that decided, which the flow log reports.
 *
 * Order, per crossing: the subnet's network ACL (stateless, lowest rule
 * number that matches wins, default deny), then the ENI's security groups
 * (allow rules only, default deny). Security groups are stateful: a packet
 * they allow opens an entry in the calling lcore's connection table
 * (struct vs_conn), and the reverse packet at the same ENI is allowed by it,
 * reported with the rule that opened the connection.
 * Non-IP frames (ARP, ...) are not subject to either layer, nor is IPv6
 * neighbour discovery (ICMPv6 types 133-137 with hop limit 255, which no
 * router forwards), the IPv6 counterpart of ARP: the kernel sends its
 * unicast neighbour probes from the link-local address, so a security group
 * allowing ICMPv6 only from the VPC's prefix would drop them and IPv6
 * between its ENIs would stall each time a neighbour entry goes stale.
 */
#ifndef ENIFLOW_VS_POLICY_H
#define ENIFLOW_VS_POLICY_H

#include <stdint.h>
#include "vs_config.h"
#include "flowlog.h"

/** What the policy looks at in a packet (addresses in network order). */
struct vs_flow {
	uint8_t family;  /**< 4, 6, or 0 for a non-IP frame */
	uint8_t proto;   /**< IP protocol */
	uint16_t sport;  /**< TCP/UDP ports in host order, 0 otherwise */
	uint16_t dport;
	uint8_t nd;      /**< 1: IPv6 neighbour discovery, exempt from the policy */
	uint8_t src[16];
	uint8_t dst[16];
};

/** One ENI crossing to decide. */
struct vs_check {
	uint32_t eni;
	uint8_t dir;     /**< enum vs_dir, as seen by the ENI */
	const struct vs_flow *flow;
};

/** The decision, in the flow log's terms (enum rec_verdict, rec_layer). */
struct vs_verdict {
	uint8_t verdict;
	uint8_t layer;
	uint32_t rule_id; /**< SG rule id or ACL rule number; 0 = the default deny */
	/** When the SG layer allowed the packet through its connection table:
	 * the connection's flow-log cell (fl_pkt_meta.cell; IPv4) or hint word
	 * (fl_pkt_meta.flow_hint; IPv6) for this direction. Else NULL. */
	struct fl_cell *flow_cell;
	uint32_t *flow_hint;
};

#define VS_CHECK_BURST 64 /**< most checks per vs_policy_check() call */

struct vs_policy;
struct vs_conn;

/**
 * Compile the config's security groups and ACLs. Returns NULL and writes
 * a message into err (VS_ERR_LEN) on failure. The config must outlive it.
 */
struct vs_policy *vs_policy_create(const struct vs_config *cfg, int socket_id, char *err);
void vs_policy_destroy(struct vs_policy *p);

/**
 * A connection table for one lcore (not thread-safe: one owner).
 * entries is rounded up to a power of two (4-way buckets, a second-choice
 * bucket, a move to make room; only then is the least recently used entry
 * lost). fl: the flow-log worker of this lcore, which gets the IPv4
 * connections' cells (a slot's cells are released to it before the slot
 * is reused or moved); NULL hands out none.
 * Returns NULL + rte_errno.
 */
struct vs_conn *vs_conn_create(const char *name, uint32_t entries, uint64_t idle_ns,
			       struct fl_worker *fl, int socket_id);
/** Free ct; with a flow-log worker, only after its fl_dp_flush() (which
 * empties the cells this table holds). */
void vs_conn_destroy(struct vs_conn *ct);
/** Live entries (not idle past the timeout) at now_ns, for tests. */
uint32_t vs_conn_count(const struct vs_conn *ct, uint64_t now_ns);

/**
 * Decide n (<= VS_CHECK_BURST) crossings; out[i] belongs to c[i].
 * Updates the lcore's connection table ct.
 */
void vs_policy_check(const struct vs_policy *p, struct vs_conn *ct, const struct vs_check *c,
		     uint16_t n, struct vs_verdict *out, uint64_t now_ns);

/**
 * Parse the L3/L4 header of an Ethernet frame (data bounded by len).
 * Frames that are not IPv4/IPv6, or too short to be, give family 0.
 * IPv6 extension headers (hop-by-hop, routing, fragment, destination
 * options, AH; at most 8) are followed to the upper-layer protocol.
 * Fragments other than the first, and chains cut short or too long, give
 * ports 0 (proto: the fragment's protocol, or the header not followed).
 */
void vs_flow_parse(const uint8_t *frame, uint32_t len, struct vs_flow *f);

#endif /* ENIFLOW_VS_POLICY_H */
