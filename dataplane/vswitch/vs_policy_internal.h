/*
 * vs_policy_internal.h - the connection-table hooks vs_policy.c calls in
 * vs_conn.c. Only these two files include it.
 */
#ifndef ENIFLOW_VS_POLICY_INTERNAL_H
#define ENIFLOW_VS_POLICY_INTERNAL_H

#include "vs_policy.h"

/** Prefetch the bucket of (eni, flow) and return its hash for vs_conn_open(). */
uint32_t vs_conn_prefetch(const struct vs_conn *ct, uint32_t eni, const struct vs_flow *f);
/**
 * Second stage, once the bucket has arrived: prefetch the stored key of
 * every way whose signature matches hash (the key vs_conn_open() compares),
 * or, if none does, the second-choice bucket.
 */
void vs_conn_prefetch_key(const struct vs_conn *ct, uint32_t hash);
/**
 * Open or refresh (eni, flow), allowed by rule_id; hash from vs_conn_prefetch().
 * Sets v's flow-log cell or hint for this direction.
 */
void vs_conn_open(struct vs_conn *ct, uint32_t eni, const struct vs_flow *f, uint32_t hash,
		  uint32_t rule_id, uint64_t now_ns, struct vs_verdict *v);
/**
 * Is the reverse of flow an open connection at eni? Refreshes it and gives
 * its rule, and sets v's flow-log cell or hint for replies.
 */
bool vs_conn_lookup_reverse(struct vs_conn *ct, uint32_t eni, const struct vs_flow *f,
			    uint64_t now_ns, uint32_t *rule_id, struct vs_verdict *v);
/**
 * Did a vs_conn_open() at now_ns reuse or move a slot already stamped at
 * now_ns? A cell handed out earlier in the same batch may then belong to
 * another connection (or have moved): the caller must not pass this
 * batch's cells to the plugin.
 */
bool vs_conn_recycled_busy(const struct vs_conn *ct, uint64_t now_ns);

#endif /* ENIFLOW_VS_POLICY_INTERNAL_H */
