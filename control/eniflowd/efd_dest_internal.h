/*
 * efd_dest_internal.h - the JSON Lines file writer behind a "jsonl"
 * destination (efd_dest_jsonl.c), used by the destination manager
 * (efd_dest.c).
 */
#ifndef ENIFLOWD_EFD_DEST_INTERNAL_H
#define ENIFLOWD_EFD_DEST_INTERNAL_H

#include "efd_internal.h"

/** Called with records a writer gave up on (write error): same shape as ipfix on_drop. */
typedef void (*efd_drop_fn)(void *arg, const struct rec_flow *recs, size_t n);

struct efd_jsonl;

/**
 * Open the writer of destination idx of flow log fl_id under
 * DATA_DIR/jsonl/<fl_id>/, first sealing what a previous run left open
 * (cut back to its last whole line). NULL+errno.
 */
struct efd_jsonl *efd_jsonl_open(const char *data_dir, const char *fl_id, unsigned idx,
				 const struct efd_dest_cfg *c, const char *observer,
				 efd_drop_fn on_drop, void *arg);
/** Stage one record (formatting happens at flush); flushes when the stage is full. */
void efd_jsonl_add(struct efd_jsonl *j, const struct rec_flow *r,
		   const struct seg_eni_info *eni);
/** Write the staged records as whole lines; on failure they go to on_drop. */
void efd_jsonl_flush(struct efd_jsonl *j);
/** Seal the open file when its age is due. */
void efd_jsonl_tick(struct efd_jsonl *j, uint64_t now_ns);
/** Flush, seal, free. NULL: no-op. */
void efd_jsonl_close(struct efd_jsonl *j);

struct efd_jsonl_stats {
	uint64_t lines;        /**< lines written */
	uint64_t bytes;        /**< bytes written */
	uint64_t files_sealed; /**< files renamed to *.jsonl */
	uint64_t write_errors;
	int last_errno;
};
void efd_jsonl_get_stats(const struct efd_jsonl *j, struct efd_jsonl_stats *s);

#endif /* ENIFLOWD_EFD_DEST_INTERNAL_H */
