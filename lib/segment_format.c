/*
 * segment_format.c - byte-level framing shared by writer, reader and
 * recovery (see segment_internal.h and docs/segment-format.md).
 *
 * Every metadata payload (header, index, trailer) ends in a CRC32C of the
 * bytes before it; block data relies on the LZ4 frame's own XXH32 block and
 * content checksums (segment_frame.c), so `lz4 -dc` verifies it too.
 */
#include "segment_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>

static uint32_t crc_table[8][256];
static int crc_ready;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78U : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
	__atomic_store_n(&crc_ready, 1, __ATOMIC_RELEASE);
}

/* Slicing-by-8: metadata is small, but an index of a big segment is not tiny. */
uint32_t seg_crc32c(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = 0xFFFFFFFFU;

	if (!__atomic_load_n(&crc_ready, __ATOMIC_ACQUIRE))
		crc_init(); /* idempotent: racing initialisers write the same table */
	while (len >= 8) {
		uint32_t lo = c ^ seg_get32(p), hi = seg_get32(p + 4);
		c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
	return c ^ 0xFFFFFFFFU;
}

int seg_fail(struct seg_err *err, const char *file, uint64_t off, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err)
		return rc;
	err->offset = off;
	n = snprintf(err->msg, sizeof(err->msg), "%s: offset %llu: ", file ? file : "?",
		     (unsigned long long)off);
	if (n < 0 || (size_t)n >= sizeof(err->msg))
		return rc;
	va_start(ap, fmt);
	vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return rc;
}

static void put_id(uint8_t *p, const char *s)
{
	size_t n = strnlen(s, SEG_ID_LEN - 1);

	memset(p, 0, SEG_ID_LEN);
	memcpy(p, s, n);
}

int seg_encode_header(const struct seg_header_info *h, uint8_t **buf, size_t *len)
{
	size_t plen = SEG_HDR_FIXED + (size_t)h->n_enis * SEG_ENI_ENTRY + 4;
	uint8_t *b, *p;

	if (h->n_enis > SEG_MAX_ENIS || (h->n_enis && !h->enis))
		return -EINVAL;
	b = calloc(1, SEG_SKIP_HDR + plen);
	if (!b)
		return -ENOMEM;
	seg_put32(b, SEG_MAGIC_HEADER);
	seg_put32(b + 4, (uint32_t)plen);
	p = b + SEG_SKIP_HDR;
	memcpy(p, SEG_TAG_HEADER, SEG_TAG_LEN);
	seg_put32(p + 8, SEG_FORMAT_VERSION);
	seg_put32(p + 12, REC_VERSION);
	seg_put32(p + 16, REC_SIZE);
	seg_put32(p + 20, h->n_enis);
	seg_put64(p + 24, h->created_ns);
	put_id(p + 32, h->host_id);
	for (uint32_t i = 0; i < h->n_enis; i++) {
		uint8_t *e = p + SEG_HDR_FIXED + (size_t)i * SEG_ENI_ENTRY;
		seg_put32(e, h->enis[i].index);
		put_id(e + 4, h->enis[i].eni_id);
		put_id(e + 4 + SEG_ID_LEN, h->enis[i].vpc_id);
		put_id(e + 4 + 2 * SEG_ID_LEN, h->enis[i].subnet_id);
		put_id(e + 4 + 3 * SEG_ID_LEN, h->enis[i].account_id);
	}
	seg_put32(p + plen - 4, seg_crc32c(p, plen - 4));
	*buf = b;
	*len = SEG_SKIP_HDR + plen;
	return 0;
}

/* Copy a fixed-size id field, refusing one without a terminating NUL. */
static int get_id(char *dst, const uint8_t *src)
{
	if (!memchr(src, 0, SEG_ID_LEN))
		return -1;
	memcpy(dst, src, SEG_ID_LEN);
	return 0;
}

int seg_decode_header(const uint8_t *p, size_t plen, uint64_t base, const char *file,
		      struct seg_header_info *h, struct seg_err *err)
{
	uint32_t n;

	memset(h, 0, sizeof(*h));
	if (plen < SEG_HDR_FIXED + 4)
		return seg_fail(err, file, base - 4, -EINVAL, "header: payload size %zu below minimum %u",
				plen, SEG_HDR_FIXED + 4);
	if (seg_crc32c(p, plen - 4) != seg_get32(p + plen - 4))
		return seg_fail(err, file, base + plen - 4, -EINVAL,
				"header: CRC32C mismatch (stored 0x%08x, computed 0x%08x)",
				seg_get32(p + plen - 4), seg_crc32c(p, plen - 4));
	if (memcmp(p, SEG_TAG_HEADER, SEG_TAG_LEN))
		return seg_fail(err, file, base, -EINVAL, "header: bad tag (not an eniflow segment)");
	if (seg_get32(p + 8) != SEG_FORMAT_VERSION)
		return seg_fail(err, file, base + 8, -EINVAL, "header: unsupported format version %u (want %u)",
				seg_get32(p + 8), SEG_FORMAT_VERSION);
	if (seg_get32(p + 12) != REC_VERSION || seg_get32(p + 16) != REC_SIZE)
		return seg_fail(err, file, base + 12, -EINVAL,
				"header: record version %u size %u, want version %u size %u",
				seg_get32(p + 12), seg_get32(p + 16), REC_VERSION, REC_SIZE);
	n = seg_get32(p + 20);
	if (n > SEG_MAX_ENIS || SEG_HDR_FIXED + (uint64_t)n * SEG_ENI_ENTRY + 4 != plen)
		return seg_fail(err, file, base + 20, -EINVAL,
				"header: %u ENI entries do not fit payload size %zu", n, plen);
	h->format_version = SEG_FORMAT_VERSION;
	h->created_ns = seg_get64(p + 24);
	if (get_id(h->host_id, p + 32))
		return seg_fail(err, file, base + 32, -EINVAL, "header: host id not NUL-terminated");
	h->n_enis = n;
	h->enis = n ? calloc(n, sizeof(*h->enis)) : NULL;
	if (n && !h->enis)
		return seg_fail(err, file, base, -ENOMEM, "header: out of memory for %u ENIs", n);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = p + SEG_HDR_FIXED + (size_t)i * SEG_ENI_ENTRY;
		struct seg_eni_info *d = &h->enis[i];
		d->index = seg_get32(e);
		if (get_id(d->eni_id, e + 4) || get_id(d->vpc_id, e + 4 + SEG_ID_LEN) ||
		    get_id(d->subnet_id, e + 4 + 2 * SEG_ID_LEN) ||
		    get_id(d->account_id, e + 4 + 3 * SEG_ID_LEN)) {
			free(h->enis);
			h->enis = NULL;
			return seg_fail(err, file, base + (uint64_t)(e - p), -EINVAL,
					"header: ENI entry %u has an unterminated string", i);
		}
	}
	return 0;
}

int seg_encode_index(const struct seg_block_info *b, uint32_t n, uint8_t **buf, size_t *len)
{
	size_t plen = SEG_IDX_FIXED + 4, off;
	uint8_t *out, *p;

	for (uint32_t i = 0; i < n; i++)
		plen += SEG_IDX_ENTRY + 4 * (size_t)b[i].n_enis;
	if (plen > UINT32_MAX)
		return -EFBIG;
	out = malloc(SEG_SKIP_HDR + plen);
	if (!out)
		return -ENOMEM;
	seg_put32(out, SEG_MAGIC_INDEX);
	seg_put32(out + 4, (uint32_t)plen);
	p = out + SEG_SKIP_HDR;
	memcpy(p, SEG_TAG_INDEX, SEG_TAG_LEN);
	seg_put32(p + 8, n);
	seg_put32(p + 12, 0);
	off = SEG_IDX_FIXED;
	for (uint32_t i = 0; i < n; i++) {
		seg_put64(p + off, b[i].offset);
		seg_put32(p + off + 8, b[i].frame_size);
		seg_put32(p + off + 12, b[i].n_records);
		seg_put64(p + off + 16, b[i].min_ns);
		seg_put64(p + off + 24, b[i].max_ns);
		seg_put32(p + off + 32, b[i].n_enis);
		memcpy(p + off + SEG_IDX_ENTRY, b[i].enis, 4 * (size_t)b[i].n_enis);
		off += SEG_IDX_ENTRY + 4 * (size_t)b[i].n_enis;
	}
	seg_put32(p + off, seg_crc32c(p, off));
	*buf = out;
	*len = SEG_SKIP_HDR + plen;
	return 0;
}

void seg_encode_trailer(uint8_t *out, uint32_t n_blocks, uint64_t index_off,
			uint64_t index_size, uint64_t n_records)
{
	uint8_t *p = out + SEG_SKIP_HDR;

	seg_put32(out, SEG_MAGIC_TRAILER);
	seg_put32(out + 4, SEG_TRAILER_PAYLOAD);
	memcpy(p, SEG_TAG_TRAILER, SEG_TAG_LEN);
	seg_put32(p + 8, SEG_FORMAT_VERSION);
	seg_put32(p + 12, n_blocks);
	seg_put64(p + 16, index_off);
	seg_put64(p + 24, index_size);
	seg_put64(p + 32, n_records);
	seg_put32(p + 40, 0);
	seg_put32(p + 44, seg_crc32c(p, 44));
}

int seg_eniset_init(struct seg_eniset *s, uint32_t max_records)
{
	uint32_t slots = 64;

	while (slots < 2 * max_records)
		slots <<= 1;
	memset(s, 0, sizeof(*s));
	s->key = malloc(slots * sizeof(uint32_t));
	s->gen = calloc(slots, sizeof(uint32_t));
	s->list = malloc(max_records * sizeof(uint32_t) + sizeof(uint32_t));
	if (!s->key || !s->gen || !s->list) {
		seg_eniset_free(s);
		return -ENOMEM;
	}
	s->mask = slots - 1;
	return 0;
}

void seg_eniset_free(struct seg_eniset *s)
{
	free(s->key);
	free(s->gen);
	free(s->list);
	memset(s, 0, sizeof(*s));
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * One pass over the block: min/max times, and distinct ENIs through an
 * open-addressing set whose slots are invalidated by bumping a generation
 * number instead of clearing them. Only the few distinct ENIs get sorted.
 */
int seg_block_stats(struct seg_eniset *s, const struct rec_flow *recs, uint32_t n,
		    struct seg_block_info *b)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	uint32_t nu = 0, last = 0;
	int have_last = 0;

	if (++s->cur == 0) { /* generation wrapped: really clear once */
		memset(s->gen, 0, (s->mask + 1) * sizeof(uint32_t));
		s->cur = 1;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct rec_flow *r = &recs[i];
		lo = r->first_ns < lo ? r->first_ns : lo;
		hi = r->last_ns > hi ? r->last_ns : hi;
		if (have_last && r->eni == last)
			continue; /* runs of one ENI are common: skip the hash */
		last = r->eni;
		have_last = 1;
		uint32_t h = (r->eni * 0x9E3779B1U) & s->mask;
		while (s->gen[h] == s->cur && s->key[h] != r->eni)
			h = (h + 1) & s->mask;
		if (s->gen[h] != s->cur) {
			s->gen[h] = s->cur;
			s->key[h] = r->eni;
			s->list[nu++] = r->eni;
		}
	}
	qsort(s->list, nu, sizeof(uint32_t), cmp_u32);
	b->n_records = n;
	b->min_ns = n ? lo : 0;
	b->max_ns = hi;
	b->n_enis = nu;
	b->enis = malloc(nu * sizeof(uint32_t) + 1);
	if (!b->enis)
		return -ENOMEM;
	memcpy(b->enis, s->list, nu * sizeof(uint32_t));
	return 0;
}

int seg_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Never replace a sealed segment; fall back where renameat2 is unsupported. */
static int rename_noreplace(int dirfd, const char *from, const char *to)
{
	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (faccessat(dirfd, to, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	return renameat(dirfd, from, dirfd, to);
}

int seg_move_aside(int dirfd, const char *from, const char *final, const char *suffix,
		   char *out, size_t cap)
{
	for (int k = 0; k < 100; k++) {
		if (k == 0)
			snprintf(out, cap, ".%s.%s", final, suffix);
		else
			snprintf(out, cap, ".%s.%s.%d", final, suffix, k);
		if (rename_noreplace(dirfd, from, out) == 0)
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/*
 * A failed fsync fails the segment for good: after a write-back error the
 * kernel may have dropped the dirty pages and marked them clean, so the data
 * read back (and any later fsync, by recovery too) can look fine while the
 * disk lacks it. The file is moved aside under a name recovery ignores and
 * its records are the caller's loss; it is kept, not deleted, for a person
 * to look at.
 */
static int fsync_failed(int dirfd, const char *from, const char *final, const char *shown,
			uint64_t off, uint64_t n_records, const char *what, int e,
			struct seg_err *err)
{
	char aside[512];
	int rc = seg_move_aside(dirfd, from, final, "failed", aside, sizeof(aside));

	if (rc)
		return seg_fail(err, shown, off, -e, "%s: %s; segment failed, and moving it aside "
				"failed too: %s", what, strerror(e), strerror(-rc));
	return seg_fail(err, shown, off, -e, "%s: %s; segment failed, moved aside as %s "
			"(its %llu records are lost)", what, strerror(e), aside,
			(unsigned long long)n_records);
}

int seg_seal_fd(int fd, int dirfd, const char *partial, const char *final,
		const char *shown, const struct seg_block_info *b, uint32_t n_blocks,
		uint64_t data_end, uint64_t n_records, bool no_fsync, struct seg_err *err)
{
	uint8_t trailer[SEG_TRAILER_SIZE];
	uint8_t *idx;
	size_t idx_len;
	int rc;

	rc = seg_encode_index(b, n_blocks, &idx, &idx_len);
	if (rc)
		return seg_fail(err, shown, data_end, rc, "encoding index: %s", strerror(-rc));
	seg_encode_trailer(trailer, n_blocks, data_end, idx_len, n_records);
	if (lseek(fd, (off_t)data_end, SEEK_SET) < 0)
		rc = -errno;
	if (!rc)
		rc = seg_write_all(fd, idx, idx_len);
	if (!rc)
		rc = seg_write_all(fd, trailer, sizeof(trailer));
	free(idx);
	if (rc)
		return seg_fail(err, shown, data_end, rc, "writing index and trailer: %s", strerror(-rc));
	if (!no_fsync && fsync(fd) < 0)
		return fsync_failed(dirfd, partial, final, shown, data_end, n_records, "fsync",
				    errno, err);
	if (rename_noreplace(dirfd, partial, final) < 0)
		return seg_fail(err, shown, 0, -errno, "rename to %s: %s", final, strerror(errno));
	/* the rename may not be durable: the segment does not exist yet */
	if (!no_fsync && fsync(dirfd) < 0)
		return fsync_failed(dirfd, final, final, shown, 0, n_records,
				    "fsync of directory", errno, err);
	return 0;
}
