/*
 * segment_frame.c - the LZ4 frame of one segment block, encoded and decoded
 * here rather than through LZ4F.
 *
 * Why: every block frame carries XXH32 block and content checksums, and the
 * XXH32 inside the system liblz4 ran at under a third of the speed of a
 * plain four-lane implementation, making checksums three quarters of read
 * time. Writing the (small, fully specified) frame format ourselves keeps
 * the bytes a standard LZ4 frame that `lz4 -dc` reads, lets the reader
 * decode each LZ4 block straight into the record buffer with
 * LZ4_decompress_safe, and verifies both checksums with our XXH32.
 * XXH32 is written from its published specification.
 */
#include "segment_internal.h"

#include <errno.h>
#include <lz4.h>

#define XXP1 2654435761U
#define XXP2 2246822519U
#define XXP3 3266489917U
#define XXP4 668265263U
#define XXP5 374761393U

static inline uint32_t rotl32(uint32_t x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static inline uint32_t xx_round(uint32_t acc, uint32_t in)
{
	acc += in * XXP2;
	return rotl32(acc, 13) * XXP1;
}

uint32_t seg_xxh32(const void *buf, size_t len, uint32_t seed)
{
	const uint8_t *p = buf, *end = p + len;
	uint32_t h;

	if (len >= 16) {
		uint32_t v1 = seed + XXP1 + XXP2, v2 = seed + XXP2, v3 = seed, v4 = seed - XXP1;
		const uint8_t *lim = end - 16;
		do { /* four independent lanes: the CPU overlaps their multiplies */
			v1 = xx_round(v1, seg_get32(p));
			v2 = xx_round(v2, seg_get32(p + 4));
			v3 = xx_round(v3, seg_get32(p + 8));
			v4 = xx_round(v4, seg_get32(p + 12));
			p += 16;
		} while (p <= lim);
		h = rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18);
	} else {
		h = seed + XXP5;
	}
	h += (uint32_t)len;
	for (; p + 4 <= end; p += 4)
		h = rotl32(h + seg_get32(p) * XXP3, 17) * XXP4;
	for (; p < end; p++)
		h = rotl32(h + *p * XXP5, 11) * XXP1;
	h ^= h >> 15;
	h *= XXP2;
	h ^= h >> 13;
	h *= XXP3;
	h ^= h >> 16;
	return h;
}

size_t seg_frame_bound(size_t content)
{
	size_t n = SEG_FRAME_HDR + 8, chunks = content / SEG_FRAME_BLOCK_MAX + 1;

	n += chunks * 8 + (size_t)LZ4_compressBound((int)(content < SEG_FRAME_BLOCK_MAX ?
							 content : SEG_FRAME_BLOCK_MAX)) * chunks;
	return n;
}

size_t seg_frame_state_size(void)
{
	return (size_t)LZ4_sizeofState();
}

int seg_frame_encode(void *state, const void *src, size_t len, uint8_t *dst, size_t cap,
		     size_t *out_len)
{
	const uint8_t *s = src;
	size_t pos = SEG_FRAME_HDR, done = 0;

	if (cap < seg_frame_bound(len))
		return -ENOSPC;
	seg_put32(dst, SEG_MAGIC_LZ4);
	dst[4] = SEG_FRAME_FLG;
	dst[5] = SEG_FRAME_BD;
	seg_put64(dst + 6, len);
	dst[14] = (uint8_t)(seg_xxh32(dst + 4, 10, 0) >> 8);
	while (done < len) {
		size_t chunk = len - done < SEG_FRAME_BLOCK_MAX ? len - done : SEG_FRAME_BLOCK_MAX;
		uint8_t *data = dst + pos + 4;
		int n = LZ4_compress_fast_extState(state, (const char *)s + done, (char *)data,
						   (int)chunk, (int)(cap - pos - 8), 1);
		uint32_t size = (uint32_t)n;
		if (n <= 0 || (size_t)n >= chunk) { /* incompressible: store it */
			memcpy(data, s + done, chunk);
			size = (uint32_t)chunk | 0x80000000U;
			n = (int)chunk;
		}
		seg_put32(dst + pos, size);
		seg_put32(data + n, seg_xxh32(data, (size_t)n, 0));
		pos += 8 + (size_t)n;
		done += chunk;
	}
	seg_put32(dst + pos, 0); /* end mark */
	seg_put32(dst + pos + 4, seg_xxh32(src, len, 0));
	*out_len = pos + 8;
	return 0;
}

/* Check the frame descriptor; on success *content is the declared size. */
static int check_descriptor(const uint8_t *src, size_t srclen, uint32_t *block_max,
			    uint64_t *content, const char **why)
{
	if (srclen < 4)
		return -EPIPE;
	if (seg_get32(src) != SEG_MAGIC_LZ4) {
		*why = "bad LZ4 frame magic";
		return -EIO;
	}
	if (srclen < SEG_FRAME_HDR)
		return -EPIPE;
	if (src[4] != SEG_FRAME_FLG) {
		*why = "frame flags are not those of a segment block (independent blocks, block and content checksums, content size)";
		return -EIO;
	}
	if ((src[5] & 0x8F) || (src[5] >> 4) < 4) {
		*why = "bad block-size descriptor";
		return -EIO;
	}
	if (src[14] != (uint8_t)(seg_xxh32(src + 4, 10, 0) >> 8)) {
		*why = "frame descriptor checksum mismatch";
		return -EIO;
	}
	*block_max = 1U << (8 + 2 * (src[5] >> 4));
	*content = seg_get64(src + 6);
	return 0;
}

int seg_frame_decode(const uint8_t *src, size_t srclen, uint8_t *dst, size_t dstcap,
		     size_t *consumed, size_t *produced, const char **why)
{
	uint32_t block_max;
	uint64_t content;
	size_t pos = SEG_FRAME_HDR, out = 0;
	int rc;

	*consumed = *produced = 0;
	*why = "truncated";
	rc = check_descriptor(src, srclen, &block_max, &content, why);
	if (rc)
		return rc;
	if (content > dstcap) {
		*why = "frame holds more bytes than its block may";
		return -ENOSPC;
	}
	for (;;) {
		if (srclen - pos < 4)
			return -EPIPE;
		uint32_t bs = seg_get32(src + pos), sz = bs & 0x7FFFFFFFU;
		if (bs == 0)
			break;
		if (sz > block_max) {
			*why = "LZ4 block larger than the frame's block size";
			return -EIO;
		}
		if (srclen - pos - 4 < (uint64_t)sz + 4)
			return -EPIPE;
		const uint8_t *data = src + pos + 4;
		if (seg_xxh32(data, sz, 0) != seg_get32(data + sz)) {
			*why = "LZ4 block checksum mismatch";
			return -EIO;
		}
		size_t room = content - out < block_max ? (size_t)(content - out) : block_max;
		int n;
		if (bs & 0x80000000U) {
			n = sz <= room ? (int)sz : -1;
			if (n >= 0)
				memcpy(dst + out, data, sz);
		} else {
			n = LZ4_decompress_safe((const char *)data, (char *)dst + out, (int)sz, (int)room);
		}
		if (n < 0) {
			*why = "LZ4 block does not decode within the frame's content size";
			return -EIO;
		}
		out += (size_t)n;
		pos += 8 + (size_t)sz;
	}
	if (srclen - pos < 8)
		return -EPIPE;
	*consumed = pos + 8;
	*produced = out;
	if (out != content) {
		*why = "frame decodes to fewer bytes than its content size";
		return -EIO;
	}
	if (seg_xxh32(dst, out, 0) != seg_get32(src + pos + 4)) {
		*why = "content checksum mismatch";
		return -EIO;
	}
	return 0;
}
