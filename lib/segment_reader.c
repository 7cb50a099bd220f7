/*
 * segment_reader.c - open a sealed segment through its trailer, read blocks.
 *
 * Open reads only metadata: trailer (last bytes) → index → header, checking
 * every magic, version, CRC and every offset and size against the file
 * size before trusting it. Blocks are read on demand with pread into one
 * reused buffer and decoded (segment_frame.c) straight into one reused
 * record buffer, so a scan costs LZ4 plus its checksums and nothing per
 * record.
 */
#include "segment_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct seg_reader {
	int fd;
	char *path;
	uint64_t file_size;
	struct seg_header_info hdr;
	struct seg_block_info *blocks;
	uint32_t n_blocks;
	uint32_t *eni_pool;     /* all blocks' ENI lists, one allocation */
	uint64_t n_records;
	uint64_t data_start;    /* end of the header frame */
	uint64_t index_off;
	uint8_t *frame;         /* compressed frame buffer */
	size_t frame_cap;
	uint8_t *recs;          /* decoded records */
	size_t recs_cap;
};

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t r = pread(fd, p, len, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO; /* file shrank under us */
		p += r;
		off += (uint64_t)r;
		len -= (size_t)r;
	}
	return 0;
}

/* Read len bytes at off into a fresh buffer; the caller checked the bounds. */
static int read_region(struct seg_reader *r, uint64_t off, size_t len, uint8_t **out,
		       struct seg_err *err)
{
	uint8_t *b = malloc(len ? len : 1);
	int rc;

	if (!b)
		return seg_fail(err, r->path, off, -ENOMEM, "out of memory reading %zu bytes", len);
	rc = pread_all(r->fd, b, len, off);
	if (rc) {
		free(b);
		return seg_fail(err, r->path, off, rc, "read: %s", strerror(-rc));
	}
	*out = b;
	return 0;
}

static int check_skip_hdr(struct seg_reader *r, const uint8_t *p, uint64_t off, uint32_t magic,
			  const char *what, struct seg_err *err)
{
	if (seg_get32(p) != magic)
		return seg_fail(err, r->path, off, -EINVAL, "%s: bad magic 0x%08x (want 0x%08x)",
				what, seg_get32(p), magic);
	return 0;
}

static int read_trailer(struct seg_reader *r, uint64_t *index_size, struct seg_err *err)
{
	uint8_t t[SEG_TRAILER_SIZE];
	uint64_t off;
	const uint8_t *p = t + SEG_SKIP_HDR;
	int rc;

	if (r->file_size < SEG_TRAILER_SIZE + 2 * SEG_SKIP_HDR)
		return seg_fail(err, r->path, 0, -EINVAL,
				"file of %llu bytes is too small to be a sealed segment",
				(unsigned long long)r->file_size);
	off = r->file_size - SEG_TRAILER_SIZE;
	rc = pread_all(r->fd, t, sizeof(t), off);
	if (rc)
		return seg_fail(err, r->path, off, rc, "reading trailer: %s", strerror(-rc));
	rc = check_skip_hdr(r, t, off, SEG_MAGIC_TRAILER, "trailer", err);
	if (rc)
		return rc;
	if (seg_get32(t + 4) != SEG_TRAILER_PAYLOAD)
		return seg_fail(err, r->path, off + 4, -EINVAL, "trailer: payload size %u (want %u)",
				seg_get32(t + 4), SEG_TRAILER_PAYLOAD);
	if (seg_crc32c(p, 44) != seg_get32(p + 44))
		return seg_fail(err, r->path, off + SEG_SKIP_HDR + 44, -EINVAL,
				"trailer: CRC32C mismatch (stored 0x%08x, computed 0x%08x)",
				seg_get32(p + 44), seg_crc32c(p, 44));
	if (memcmp(p, SEG_TAG_TRAILER, SEG_TAG_LEN))
		return seg_fail(err, r->path, off + SEG_SKIP_HDR, -EINVAL, "trailer: bad tag");
	if (seg_get32(p + 8) != SEG_FORMAT_VERSION)
		return seg_fail(err, r->path, off + SEG_SKIP_HDR + 8, -EINVAL,
				"trailer: unsupported format version %u (want %u)",
				seg_get32(p + 8), SEG_FORMAT_VERSION);
	r->n_blocks = seg_get32(p + 12);
	r->index_off = seg_get64(p + 16);
	*index_size = seg_get64(p + 24);
	r->n_records = seg_get64(p + 32);
	if (r->index_off > off || *index_size != off - r->index_off ||
	    *index_size < SEG_SKIP_HDR + SEG_IDX_FIXED + 4 || *index_size > UINT32_MAX)
		return seg_fail(err, r->path, off + SEG_SKIP_HDR + 16, -EINVAL,
				"trailer: index at %llu size %llu does not end where the trailer starts (%llu)",
				(unsigned long long)r->index_off, (unsigned long long)*index_size,
				(unsigned long long)off);
	return 0;
}

static int read_header(struct seg_reader *r, struct seg_err *err)
{
	uint8_t sh[SEG_SKIP_HDR], *p;
	uint32_t plen;
	int rc = pread_all(r->fd, sh, sizeof(sh), 0);

	if (rc)
		return seg_fail(err, r->path, 0, rc, "reading header: %s", strerror(-rc));
	rc = check_skip_hdr(r, sh, 0, SEG_MAGIC_HEADER, "header", err);
	if (rc)
		return rc;
	plen = seg_get32(sh + 4);
	if (SEG_SKIP_HDR + (uint64_t)plen > r->index_off)
		return seg_fail(err, r->path, 4, -EINVAL,
				"header: payload size %u runs past the index at %llu", plen,
				(unsigned long long)r->index_off);
	rc = read_region(r, SEG_SKIP_HDR, plen, &p, err);
	if (rc)
		return rc;
	rc = seg_decode_header(p, plen, SEG_SKIP_HDR, r->path, &r->hdr, err);
	free(p);
	r->data_start = SEG_SKIP_HDR + (uint64_t)plen;
	return rc;
}

/* Check one index entry against the file and its neighbours. */
static int check_entry(struct seg_reader *r, const struct seg_block_info *b, uint32_t i,
		       uint64_t expect_off, uint64_t at, struct seg_err *err)
{
	if (b->offset != expect_off)
		return seg_fail(err, r->path, at, -EINVAL,
				"index: block %u at offset %llu, expected %llu (blocks must be contiguous)",
				i, (unsigned long long)b->offset, (unsigned long long)expect_off);
	if (b->frame_size < 15 || b->offset + b->frame_size > r->index_off)
		return seg_fail(err, r->path, at + 8, -EINVAL,
				"index: block %u frame size %u at %llu runs past the index at %llu",
				i, b->frame_size, (unsigned long long)b->offset,
				(unsigned long long)r->index_off);
	if (b->n_records == 0 || b->n_records > SEG_MAX_BLOCK_RECORDS)
		return seg_fail(err, r->path, at + 12, -EINVAL,
				"index: block %u record count %u out of range 1..%u", i, b->n_records,
				SEG_MAX_BLOCK_RECORDS);
	if (b->min_ns > b->max_ns)
		return seg_fail(err, r->path, at + 16, -EINVAL, "index: block %u min_ns after max_ns", i);
	for (uint32_t k = 1; k < b->n_enis; k++)
		if (b->enis[k] <= b->enis[k - 1])
			return seg_fail(err, r->path, at + SEG_IDX_ENTRY + 4 * k, -EINVAL,
					"index: block %u ENI list not strictly ascending", i);
	return 0;
}

static int parse_index(struct seg_reader *r, const uint8_t *p, uint32_t plen, struct seg_err *err)
{
	uint64_t base = r->index_off + SEG_SKIP_HDR, total = 0, expect = r->data_start;
	size_t off = SEG_IDX_FIXED, pool = 0;
	int rc;

	if (memcmp(p, SEG_TAG_INDEX, SEG_TAG_LEN))
		return seg_fail(err, r->path, base, -EINVAL, "index: bad tag");
	if (seg_get32(p + 8) != r->n_blocks)
		return seg_fail(err, r->path, base + 8, -EINVAL,
				"index: %u blocks, trailer says %u", seg_get32(p + 8), r->n_blocks);
	/* Entries are variable-sized: bound every one before allocating. */
	for (uint32_t i = 0; i < r->n_blocks; i++) {
		if (off + SEG_IDX_ENTRY > plen - 4U)
			return seg_fail(err, r->path, base + off, -EINVAL, "index: entry %u truncated", i);
		uint32_t ne = seg_get32(p + off + 32);
		if (ne > SEG_MAX_BLOCK_RECORDS || off + SEG_IDX_ENTRY + 4ULL * ne > plen - 4U)
			return seg_fail(err, r->path, base + off + 32, -EINVAL,
					"index: entry %u ENI count %u runs past the index", i, ne);
		off += SEG_IDX_ENTRY + 4 * (size_t)ne;
		pool += ne;
	}
	if (off != plen - 4U)
		return seg_fail(err, r->path, base + off, -EINVAL,
				"index: %zu stray bytes after the last entry", plen - 4U - off);
	r->blocks = calloc(r->n_blocks ? r->n_blocks : 1, sizeof(*r->blocks));
	r->eni_pool = malloc(pool * 4 + 4);
	if (!r->blocks || !r->eni_pool)
		return seg_fail(err, r->path, base, -ENOMEM, "out of memory for %u index entries", r->n_blocks);
	off = SEG_IDX_FIXED;
	pool = 0;
	for (uint32_t i = 0; i < r->n_blocks; i++) {
		struct seg_block_info *b = &r->blocks[i];
		b->offset = seg_get64(p + off);
		b->frame_size = seg_get32(p + off + 8);
		b->n_records = seg_get32(p + off + 12);
		b->min_ns = seg_get64(p + off + 16);
		b->max_ns = seg_get64(p + off + 24);
		b->n_enis = seg_get32(p + off + 32);
		b->enis = r->eni_pool + pool;
		memcpy(b->enis, p + off + SEG_IDX_ENTRY, 4 * (size_t)b->n_enis);
		rc = check_entry(r, b, i, expect, base + off, err);
		if (rc)
			return rc;
		if (b->n_enis > b->n_records)
			return seg_fail(err, r->path, base + off + 32, -EINVAL,
					"index: block %u lists %u ENIs for %u records", i, b->n_enis, b->n_records);
		expect = b->offset + b->frame_size;
		total += b->n_records;
		pool += b->n_enis;
		off += SEG_IDX_ENTRY + 4 * (size_t)b->n_enis;
	}
	if (expect != r->index_off)
		return seg_fail(err, r->path, expect, -EINVAL,
				"index: blocks end at %llu but the index starts at %llu",
				(unsigned long long)expect, (unsigned long long)r->index_off);
	if (total != r->n_records)
		return seg_fail(err, r->path, base, -EINVAL,
				"index: blocks hold %llu records, trailer says %llu",
				(unsigned long long)total, (unsigned long long)r->n_records);
	return 0;
}

static int read_index(struct seg_reader *r, uint64_t size, struct seg_err *err)
{
	uint8_t *buf, *p;
	uint32_t plen;
	int rc = read_region(r, r->index_off, (size_t)size, &buf, err);

	if (rc)
		return rc;
	rc = check_skip_hdr(r, buf, r->index_off, SEG_MAGIC_INDEX, "index", err);
	plen = seg_get32(buf + 4);
	if (!rc && plen != size - SEG_SKIP_HDR)
		rc = seg_fail(err, r->path, r->index_off + 4, -EINVAL,
			      "index: payload size %u, trailer implies %llu", plen,
			      (unsigned long long)(size - SEG_SKIP_HDR));
	p = buf + SEG_SKIP_HDR;
	if (!rc && seg_crc32c(p, plen - 4) != seg_get32(p + plen - 4))
		rc = seg_fail(err, r->path, r->index_off + SEG_SKIP_HDR + plen - 4, -EINVAL,
			      "index: CRC32C mismatch (stored 0x%08x, computed 0x%08x)",
			      seg_get32(p + plen - 4), seg_crc32c(p, plen - 4));
	if (!rc)
		rc = parse_index(r, p, plen, err);
	free(buf);
	return rc;
}

void seg_reader_close(struct seg_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->hdr.enis);
	free(r->blocks);
	free(r->eni_pool);
	free(r->frame);
	free(r->recs);
	free(r->path);
	free(r);
}

struct seg_reader *seg_reader_open(const char *path, struct seg_err *err)
{
	struct seg_reader *r = calloc(1, sizeof(*r));
	uint64_t index_size = 0;
	struct stat st;
	int rc;

	if (!r || !(r->path = strdup(path))) {
		free(r);
		seg_fail(err, path, 0, -ENOMEM, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		rc = seg_fail(err, path, 0, -errno, "cannot open: %s", strerror(errno));
		goto fail;
	}
	if (fstat(r->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = seg_fail(err, path, 0, -EINVAL, "not a regular file");
		goto fail;
	}
	r->file_size = (uint64_t)st.st_size;
	rc = read_trailer(r, &index_size, err);
	if (!rc)
		rc = read_header(r, err);
	if (!rc)
		rc = read_index(r, index_size, err);
	if (rc)
		goto fail;
	return r;
fail:
	seg_reader_close(r);
	errno = -rc;
	return NULL;
}

const struct seg_header_info *seg_reader_header(const struct seg_reader *r)
{
	return &r->hdr;
}

uint32_t seg_reader_n_blocks(const struct seg_reader *r)
{
	return r->n_blocks;
}

const struct seg_block_info *seg_reader_block(const struct seg_reader *r, uint32_t i)
{
	return i < r->n_blocks ? &r->blocks[i] : NULL;
}

uint64_t seg_reader_n_records(const struct seg_reader *r)
{
	return r->n_records;
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *nb;

	if (*cap >= need)
		return 0;
	nb = realloc(*buf, need);
	if (!nb)
		return -ENOMEM;
	*buf = nb;
	*cap = need;
	return 0;
}

long seg_reader_read_block(struct seg_reader *r, uint32_t i, const struct rec_flow **recs,
			   struct seg_err *err)
{
	const struct seg_block_info *b;
	size_t want, consumed, produced;
	const char *why;
	int rc;

	if (i >= r->n_blocks)
		return seg_fail(err, r->path, 0, -EINVAL, "block %u does not exist (%u blocks)", i,
				r->n_blocks);
	b = &r->blocks[i];
	want = (size_t)b->n_records * REC_SIZE;
	if (grow(&r->frame, &r->frame_cap, b->frame_size) ||
	    grow(&r->recs, &r->recs_cap, want))
		return seg_fail(err, r->path, b->offset, -ENOMEM, "block %u: out of memory", i);
	rc = pread_all(r->fd, r->frame, b->frame_size, b->offset);
	if (rc)
		return seg_fail(err, r->path, b->offset, rc, "block %u: read: %s", i, strerror(-rc));
	rc = seg_frame_decode(r->frame, b->frame_size, r->recs, want, &consumed, &produced, &why);
	if (rc == -EPIPE)
		why = "frame runs past the size the index gives it";
	if (rc)
		return seg_fail(err, r->path, b->offset, -EIO, "block %u: corrupt LZ4 frame (%u bytes): %s",
				i, b->frame_size, why);
	if (consumed != b->frame_size || produced != want)
		return seg_fail(err, r->path, b->offset + consumed, -EIO,
				"block %u: frame is %zu bytes holding %zu bytes of records; index says %u bytes, %u records",
				i, consumed, produced, b->frame_size, b->n_records);
	*recs = (const struct rec_flow *)r->recs;
	return (long)b->n_records;
}

bool seg_block_may_match(const struct seg_block_info *b, const struct seg_select *sel)
{
	if (!sel)
		return true;
	if (sel->since_ns && b->max_ns < sel->since_ns)
		return false;
	if (sel->until_ns && b->min_ns > sel->until_ns)
		return false;
	if (!sel->n_enis)
		return true;
	/* Both small; the block list is sorted, so binary-search it per wanted ENI. */
	for (uint32_t k = 0; k < sel->n_enis; k++) {
		uint32_t lo = 0, hi = b->n_enis, want = sel->enis[k];
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (b->enis[mid] < want)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < b->n_enis && b->enis[lo] == want)
			return true;
	}
	return false;
}

int seg_reader_foreach(struct seg_reader *r, const struct seg_select *sel,
		       int (*cb)(const struct rec_flow *recs, size_t n, void *arg),
		       void *arg, uint64_t *blocks_read, struct seg_err *err)
{
	if (blocks_read)
		*blocks_read = 0;
	for (uint32_t i = 0; i < r->n_blocks; i++) {
		const struct rec_flow *recs;
		long n;
		int rc;

		if (!seg_block_may_match(&r->blocks[i], sel))
			continue;
		n = seg_reader_read_block(r, i, &recs, err);
		if (n < 0)
			return (int)n;
		if (blocks_read)
			(*blocks_read)++;
		rc = cb(recs, (size_t)n, arg);
		if (rc)
			return rc;
	}
	return 0;
}

/* Recompute a block's index entry from its records and compare. */
static int verify_block(struct seg_reader *r, uint32_t i, const struct rec_flow *recs,
			struct seg_eniset *set, struct seg_err *err)
{
	const struct seg_block_info *b = &r->blocks[i];
	struct seg_block_info got = {0};
	char msg[128];
	int rc;

	for (uint32_t k = 0; k < b->n_records; k++)
		if (rec_validate(&recs[k], msg, sizeof(msg)))
			return seg_fail(err, r->path, b->offset, -EINVAL,
					"block %u record %u: %s", i, k, msg);
	rc = seg_block_stats(set, recs, b->n_records, &got);
	if (rc)
		return seg_fail(err, r->path, b->offset, rc, "out of memory");
	if (got.min_ns != b->min_ns || got.max_ns != b->max_ns || got.n_enis != b->n_enis ||
	    memcmp(got.enis, b->enis, 4 * (size_t)got.n_enis))
		rc = seg_fail(err, r->path, b->offset, -EINVAL,
			      "block %u: index entry (time %llu..%llu, %u ENIs) does not match the records (time %llu..%llu, %u ENIs)",
			      i, (unsigned long long)b->min_ns, (unsigned long long)b->max_ns, b->n_enis,
			      (unsigned long long)got.min_ns, (unsigned long long)got.max_ns, got.n_enis);
	free(got.enis);
	return rc;
}

int seg_verify(const char *path, struct seg_err *err)
{
	struct seg_reader *r = seg_reader_open(path, err);
	struct seg_eniset set;
	int rc = 0;

	if (!r)
		return errno == EINVAL ? -EINVAL : -EIO;
	if (seg_eniset_init(&set, SEG_MAX_BLOCK_RECORDS)) {
		seg_reader_close(r);
		return seg_fail(err, path, 0, -ENOMEM, "out of memory");
	}
	for (uint32_t i = 0; i < r->n_blocks && !rc; i++) {
		const struct rec_flow *recs;
		long n = seg_reader_read_block(r, i, &recs, err);
		rc = n < 0 ? (int)n : verify_block(r, i, recs, &set, err);
	}
	seg_eniset_free(&set);
	seg_reader_close(r);
	return rc;
}
