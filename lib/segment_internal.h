/*
 * segment_internal.h - framing shared by the segment writer, reader and
 * recovery: frame magics, fixed sizes, little-endian field access, CRC32C,
 * header/index/trailer encoding and decoding, per-block statistics.
 *
 * Kept in one place so that the three users cannot disagree on a byte; the
 * layout is specified in docs/segment-format.md and these constants are its
 * single source in code.
 */
#ifndef ENIFLOW_SEGMENT_INTERNAL_H
#define ENIFLOW_SEGMENT_INTERNAL_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include "segment.h"

/* LZ4 skippable frames are 0x184D2A50..0x184D2A5F; we use three of them. */
#define SEG_MAGIC_HEADER  0x184D2A5AU
#define SEG_MAGIC_INDEX   0x184D2A5BU
#define SEG_MAGIC_TRAILER 0x184D2A5CU
#define SEG_MAGIC_LZ4     0x184D2204U /* ordinary LZ4 frame */
#define SEG_SKIP_HDR      8U          /* magic u32 + payload size u32 */

#define SEG_TAG_HEADER  "ENIFLHDR"
#define SEG_TAG_INDEX   "ENIFLIDX"
#define SEG_TAG_TRAILER "ENIFLTRL"
#define SEG_TAG_LEN 8

/* Header payload: tag, version, rec version, rec size, n_enis, created, host. */
#define SEG_HDR_FIXED 96U
#define SEG_ENI_ENTRY 260U  /* u32 index + 4 strings of SEG_ID_LEN */
#define SEG_MAX_ENIS  (1U << 20)
/* Index payload: tag, n_blocks, reserved, entries, crc. Entry: 36 + 4*n_enis. */
#define SEG_IDX_FIXED 16U
#define SEG_IDX_ENTRY 36U
/* Trailer: fixed-size skippable frame, always the last bytes of the file. */
#define SEG_TRAILER_PAYLOAD 48U
#define SEG_TRAILER_SIZE (SEG_SKIP_HDR + SEG_TRAILER_PAYLOAD)

/*
 * Block frames: FLG 0x7C = version 01, independent blocks, block checksum,
 * content size, content checksum; BD 0x70 = 4 MiB maximum LZ4 block.
 * Header: magic(4) FLG(1) BD(1) content size(8) HC(1).
 */
#define SEG_FRAME_FLG 0x7CU
#define SEG_FRAME_BD  0x70U
#define SEG_FRAME_HDR 15U
#define SEG_FRAME_BLOCK_MAX (4U * 1024U * 1024U)
#define SEG_MAX_BLOCK_BYTES ((size_t)SEG_MAX_BLOCK_RECORDS * REC_SIZE)

static inline void seg_put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void seg_put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint32_t seg_get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t seg_get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/** CRC32C (Castagnoli, reflected 0x82F63B78, init/xorout 0xFFFFFFFF). */
uint32_t seg_crc32c(const void *buf, size_t len);

/** Fill err with "FILE: offset N: problem" and return rc. err may be NULL. */
int seg_fail(struct seg_err *err, const char *file, uint64_t off, int rc,
	     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/** XXH32 (the LZ4 frame checksum), from its specification. */
uint32_t seg_xxh32(const void *buf, size_t len, uint32_t seed);
/** Largest frame seg_frame_encode() can produce for content bytes. */
size_t seg_frame_bound(size_t content);
/** Bytes of the reusable LZ4 compression state seg_frame_encode() needs. */
size_t seg_frame_state_size(void);
/** Encode content as one block frame into dst. 0 or -ENOSPC. */
int seg_frame_encode(void *state, const void *src, size_t len, uint8_t *dst, size_t cap,
		     size_t *out_len);

/** Encode the header skippable frame into a malloc'd buffer. 0 or -errno. */
int seg_encode_header(const struct seg_header_info *h, uint8_t **buf, size_t *len);
/**
 * Decode a header payload (after the 8-byte frame header) of plen bytes.
 * Fills h (h->enis malloc'd). base is the file offset of the payload, for
 * error messages. 0 or -EINVAL with err filled.
 */
int seg_decode_header(const uint8_t *p, size_t plen, uint64_t base, const char *file,
		      struct seg_header_info *h, struct seg_err *err);

/** Encode the index skippable frame. 0 or -errno. */
int seg_encode_index(const struct seg_block_info *b, uint32_t n, uint8_t **buf, size_t *len);
/** Encode the trailer frame into out[SEG_TRAILER_SIZE]. */
void seg_encode_trailer(uint8_t *out, uint32_t n_blocks, uint64_t index_off,
			uint64_t index_size, uint64_t n_records);

/** Scratch for computing a block's distinct ENIs without sorting records. */
struct seg_eniset {
	uint32_t *key;
	uint32_t *gen;
	uint32_t *list;
	uint32_t mask;
	uint32_t cur;
};
int seg_eniset_init(struct seg_eniset *s, uint32_t max_records);
void seg_eniset_free(struct seg_eniset *s);
/**
 * Fill b's n_records, min_ns, max_ns and enis (malloc'd, sorted) from recs.
 * 0 or -ENOMEM.
 */
int seg_block_stats(struct seg_eniset *s, const struct rec_flow *recs, uint32_t n,
		    struct seg_block_info *b);

/** Write all of buf to fd (retrying short writes). 0 or -errno. */
int seg_write_all(int fd, const void *buf, size_t len);

/**
 * Rename from (in dirfd) to ".FINAL.SUFFIX", or ".FINAL.SUFFIX.K" if that
 * exists, never replacing a file; the name used goes to out. 0 or -errno.
 * Recovery ignores these names: a file moved aside is never resurrected.
 */
int seg_move_aside(int dirfd, const char *from, const char *final, const char *suffix,
		   char *out, size_t cap);

/**
 * Seal an open partial file whose valid content ends at data_end: write
 * index and trailer there, fsync (unless no_fsync), rename partial → final
 * in dirfd without replacing an existing file, fsync the directory.
 * shown is the path used in error messages. 0 or -errno. If either fsync
 * fails the file is moved aside as ".FINAL.failed" (see seg_move_aside):
 * its content can no longer be trusted to be on disk, so it must count as
 * lost and no later recovery may seal it.
 */
int seg_seal_fd(int fd, int dirfd, const char *partial, const char *final,
		const char *shown, const struct seg_block_info *b, uint32_t n_blocks,
		uint64_t data_end, uint64_t n_records, bool no_fsync, struct seg_err *err);

/**
 * Decode one whole block frame at src (up to srclen bytes) into dst,
 * verifying descriptor, block and content checksums. Sets *consumed and
 * *produced. Returns 0, -EPIPE if the input ends inside the frame, -EIO on
 * a bad frame, -ENOSPC if its content exceeds dstcap (*why says why).
 */
int seg_frame_decode(const uint8_t *src, size_t srclen, uint8_t *dst, size_t dstcap,
		     size_t *consumed, size_t *produced, const char **why);

#endif /* ENIFLOW_SEGMENT_INTERNAL_H */
