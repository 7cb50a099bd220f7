/*
 * recgen.h - deterministic generator of realistic flow records.
 *
 * Tests, benchmarks and `eniflow gen` need records that look like a real
 * host's flow log: a few ENIs and peers reused over and over (a pool of
 * live flows with skewed popularity and churn), monotonic end times, mostly
 * TCP/UDP/ICMP with typical ports, some rejects, optionally loss, no-data
 * and non-IP records. The same params (seed included) always give the same
 * records, on every host, so a failing test can be replayed.
 */
#ifndef ENIFLOW_RECGEN_H
#define ENIFLOW_RECGEN_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include "record.h"
#include "segment.h"

struct rec_gen;

struct rec_gen_params {
	uint64_t seed;
	uint32_t n_enis;     /**< ENI indexes 0..n_enis-1; 0 = 16 */
	uint32_t n_flows;    /**< live flows in the pool; 0 = 4096 */
	uint64_t start_ns;   /**< time of the first record; 0 = 2026-01-01 */
	uint64_t step_ns;    /**< mean time between records' last_ns; 0 = 10 us */
	uint8_t v6_percent;  /**< share of IPv6 flows, 0..100 */
	bool all_kinds;      /**< also loss, no-data and non-IP (ARP) records */
};

/** Create a generator. Returns NULL with errno set (ENOMEM, EINVAL). */
struct rec_gen *rec_gen_create(const struct rec_gen_params *p);
/** Fill out[0..n-1] with the next n records; each passes rec_validate(). */
void rec_gen_next(struct rec_gen *g, struct rec_flow *out, size_t n);
/** Free. NULL is a no-op. */
void rec_gen_destroy(struct rec_gen *g);

/**
 * Dictionary entry of generated ENI `index`: eni-…, vpc-… (16 ENIs per
 * VPC), subnet-… (4 per subnet), 12-digit account id (64 ENIs per account).
 */
void rec_gen_eni_info(uint32_t index, struct seg_eni_info *out);

#endif /* ENIFLOW_RECGEN_H */
