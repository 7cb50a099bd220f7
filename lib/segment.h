/*
 * segment.h - LZ4 segment files: writer, crash recovery and reader.
 *
 * A segment is an append-only file that is also a valid LZ4 stream:
 *   header (skippable frame) | block frames (LZ4, checksums on) ... |
 *   index (skippable frame) | trailer (skippable frame, fixed size)
 * so `lz4 -dc seg.fls` prints exactly the concatenated records. The byte
 * layout is specified in docs/segment-format.md.
 *
 * Writing goes to a hidden partial file ".NAME.partial" in the target
 * directory; seg_writer_seal() writes index and trailer, fsyncs the file,
 * renames it to NAME and fsyncs the directory. Only then does the segment
 * exist. seg_recover_dir() turns partial files left by a crash into sealed
 * segments holding their longest valid prefix.
 *
 * Errors: int functions return 0 or -errno; constructors return NULL and set
 * errno. Functions that can fail for a reason a user must see fill a
 * struct seg_err naming the file, the offset and the problem.
 */
#ifndef ENIFLOW_SEGMENT_H
#define ENIFLOW_SEGMENT_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include "record.h"

#define SEG_FORMAT_VERSION 1
#define SEG_SUFFIX ".fls"
/** Records per block unless the writer is told otherwise. */
#define SEG_DEFAULT_BLOCK_RECORDS 4096
#define SEG_MAX_BLOCK_RECORDS 65536
#define SEG_ID_LEN 64

/** A user-visible failure: which file, where, what. */
struct seg_err {
	char msg[512];  /**< "FILE: offset N: problem" */
	uint64_t offset;
};

/** One ENI dictionary entry: index → identity. Strings are NUL-terminated. */
struct seg_eni_info {
	uint32_t index;
	char eni_id[SEG_ID_LEN];
	char vpc_id[SEG_ID_LEN];
	char subnet_id[SEG_ID_LEN];
	char account_id[SEG_ID_LEN];
};

/** Header fields of a segment. */
struct seg_header_info {
	uint32_t format_version;
	char host_id[SEG_ID_LEN];   /**< host / instance that wrote the segment */
	uint64_t created_ns;        /**< creation time, ns since epoch */
	uint32_t n_enis;
	struct seg_eni_info *enis;  /**< owned by whoever filled the struct */
};

/** One index entry: where a block is and what it can contain. */
struct seg_block_info {
	uint64_t offset;     /**< file offset of the block's LZ4 frame */
	uint32_t frame_size; /**< bytes of the frame */
	uint32_t n_records;
	uint64_t min_ns;     /**< min first_ns over the block's records */
	uint64_t max_ns;     /**< max last_ns over the block's records */
	uint32_t n_enis;     /**< distinct ENI indexes in the block */
	uint32_t *enis;      /**< sorted ascending; owned by the reader */
};

/* ---------------------------------------------------------------- writer */

struct seg_writer;

struct seg_writer_opts {
	uint32_t block_records; /**< records per block; 0 = default */
	bool no_fsync;          /**< tests/benchmarks only: skip fsyncs */
};

/**
 * Start a segment: create DIR/.NAME.partial and write the header.
 * name must be a plain file name ending in ".fls". The header info (and the
 * ENI dictionary) is copied. Returns NULL with errno set, and err filled.
 */
struct seg_writer *seg_writer_create(const char *dir, const char *name,
				     const struct seg_header_info *hdr,
				     const struct seg_writer_opts *opts,
				     struct seg_err *err);

/**
 * Append n records. Full blocks are compressed and written as they fill.
 * Returns 0, or -errno: the segment is then failed. Either call
 * seg_writer_seal(), which fails too but frees w and leaves the partial file
 * for seg_recover_file() (records it keeps are not lost), or
 * seg_writer_abort(), which deletes the file (all its records are lost).
 */
int seg_writer_append(struct seg_writer *w, const struct rec_flow *recs, size_t n,
		      struct seg_err *err);

/** Compress and write the pending partial block, if any. 0 or -errno. */
int seg_writer_flush(struct seg_writer *w, struct seg_err *err);

/**
 * Flush, write index and trailer, fsync, rename to NAME, fsync the directory,
 * and free w. On failure w is freed and -errno is returned; the partial file
 * is left for recovery, except when an fsync (of the file or the directory)
 * failed: the data may then never reach the disk whatever is tried later,
 * so the file is moved aside as ".NAME.failed", which recovery ignores, and
 * all the segment's records are lost (RELIABILITY.md: never retry fsync).
 */
int seg_writer_seal(struct seg_writer *w, struct seg_err *err);

/** Drop the segment: close and unlink the partial file, free w. NULL is a no-op. */
void seg_writer_abort(struct seg_writer *w);

/** Records appended so far (including the unflushed block). */
uint64_t seg_writer_records(const struct seg_writer *w);
/** Bytes written to the file so far. */
uint64_t seg_writer_bytes(const struct seg_writer *w);

/* -------------------------------------------------------------- recovery */

/** What recovering one partial file kept and dropped. */
struct seg_recovery_report {
	char path[4096];        /**< the sealed file (or the partial, if it failed) */
	uint64_t blocks_kept;
	uint64_t records_kept;
	/** torn tail cut from the file; 0 if what was cut was only the start
	 *  (or all) of the segment's own index and trailer: a crash while sealing */
	uint64_t bytes_dropped;
	bool header_lost;       /**< not even the header was whole: file removed */
};

/**
 * Recover a partial segment: keep the longest prefix of whole, checksum-valid
 * frames, rebuild the index, seal it under its final name. Fills report.
 * Returns 0 or -errno. A file whose header is whole but fails its checks is
 * moved aside as ".NAME.corrupt" (report->path names it) and -EINVAL is
 * returned with err saying so; it is never deleted, and never tried again.
 */
int seg_recover_file(const char *partial_path, struct seg_recovery_report *report,
		     struct seg_err *err);

/**
 * Recover every ".*.partial" file in dir (not recursive). Calls cb (if not
 * NULL) once per file recovered. Goes on past a file it cannot recover;
 * returns the number of files recovered, or the first file's -errno (err
 * filled) if any failed.
 */
int seg_recover_dir(const char *dir,
		    void (*cb)(const struct seg_recovery_report *r, void *arg),
		    void *arg, struct seg_err *err);

/* ---------------------------------------------------------------- reader */

struct seg_reader;

/**
 * Open a sealed segment: check trailer, index and header. Returns NULL with
 * errno set and err naming the file, offset and problem.
 */
struct seg_reader *seg_reader_open(const char *path, struct seg_err *err);
/** Close. NULL is a no-op. */
void seg_reader_close(struct seg_reader *r);

/** Header info; valid until seg_reader_close(). */
const struct seg_header_info *seg_reader_header(const struct seg_reader *r);
uint32_t seg_reader_n_blocks(const struct seg_reader *r);
/** Index entry i; valid until seg_reader_close(). */
const struct seg_block_info *seg_reader_block(const struct seg_reader *r, uint32_t i);
uint64_t seg_reader_n_records(const struct seg_reader *r);

/**
 * Decode block i into a reader-owned buffer, verifying the LZ4 block and
 * content checksums and the record count. *recs stays valid until the next
 * call on r. Returns the record count, or -errno with err filled.
 */
long seg_reader_read_block(struct seg_reader *r, uint32_t i,
			   const struct rec_flow **recs, struct seg_err *err);

/** Which blocks to read. A zero field means "no limit". */
struct seg_select {
	uint64_t since_ns;       /**< keep blocks with max_ns >= since_ns */
	uint64_t until_ns;       /**< keep blocks with min_ns <= until_ns (0: none) */
	const uint32_t *enis;    /**< keep blocks holding one of these ENIs */
	uint32_t n_enis;         /**< 0 = any ENI */
};

/** True if block i can hold a record matching sel (index only). */
bool seg_block_may_match(const struct seg_block_info *b, const struct seg_select *sel);

/**
 * Call cb for each block that may match sel (NULL = all). The records passed
 * are the whole block: callers filter records themselves. Stops and returns
 * cb's value if it is non-zero. Returns 0, or -errno on a bad block (err
 * filled). blocks_read, if not NULL, counts the blocks decoded.
 */
int seg_reader_foreach(struct seg_reader *r, const struct seg_select *sel,
		       int (*cb)(const struct rec_flow *recs, size_t n, void *arg),
		       void *arg, uint64_t *blocks_read, struct seg_err *err);

/**
 * Verify everything: trailer, index, header, every block's checksums and
 * record count, each record's validity, and that the index matches the
 * blocks. Returns 0 or -EINVAL/-EIO with err naming the first fault.
 */
int seg_verify(const char *path, struct seg_err *err);

#endif /* ENIFLOW_SEGMENT_H */
