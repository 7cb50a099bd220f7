/*
 * efd_dest_layout.h - the destination manager's private state, shared by
 * efd_dest.c (delivery) and efd_dest_stats.c (reporting) only.
 */
#ifndef ENIFLOWD_EFD_DEST_LAYOUT_H
#define ENIFLOWD_EFD_DEST_LAYOUT_H

#include "efd_dest_internal.h"

struct ipfix_exporter;

/** Records/packets/bytes dropped, and the time span of their flows. */
struct loss {
	uint64_t records, packets, bytes, first, last;
};

struct sink {
	struct efd_dests *owner;
	char fl_id[EFD_FL_ID_LEN];
	unsigned idx;
	struct efd_dest_cfg cfg;
	bool keep;
	struct ipfix_exporter *x;
	struct efd_jsonl *j;
	uint64_t offered, dropped, dropped_packets, dropped_bytes;
};

struct efd_dests {
	struct efd *d;
	pthread_mutex_t mu;
	struct sink *s[EFD_MAX_SINKS];
	uint32_t n;
	uint32_t n_enis;
	uint8_t eni_n[EFL_MAX_ENIS];
	uint8_t eni_sink[EFL_MAX_ENIS][EFD_MAX_DESTS];
	struct seg_eni_info dict[EFL_MAX_ENIS];
	struct loss pend[EFL_MAX_ENIS];  /**< not yet written as LOSS_EXPORTER records */
	struct loss total[EFL_MAX_ENIS]; /**< since start, for stats */
	bool any_pending;
};

#endif /* ENIFLOWD_EFD_DEST_LAYOUT_H */
