/*
 * segment_writer.c - append records to a hidden partial segment, seal it.
 *
 * Records gather in one block buffer; a full block becomes one LZ4 frame
 * written with a single write(). When the caller hands over whole blocks
 * the writer compresses straight from the caller's array, so the hot path
 * is LZ4 plus one pass for the block's index statistics, with no copy.
 * The LZ4 state, the output buffer and the ENI set are reused.
 */
#include "segment_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct seg_writer {
	int fd;
	int dirfd;
	char *dir;
	char *name;
	char *partial;      /* ".NAME.partial", relative to dirfd */
	char *shown;        /* "DIR/.NAME.partial", for messages */
	bool no_fsync;
	bool failed;
	uint32_t block_records;
	struct rec_flow *block;
	uint32_t n_pending;
	uint8_t *out;
	size_t out_cap;
	void *lz4_state;
	struct seg_block_info *blocks;
	uint32_t n_blocks;
	uint32_t cap_blocks;
	uint64_t records;
	uint64_t bytes;
	struct seg_eniset set;
};

/* A plain file name: no directory part, not hidden, ends in ".fls". */
static int check_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	size_t sl = strlen(SEG_SUFFIX);

	if (n <= sl || n > 200 || name[0] == '.' || strchr(name, '/') ||
	    strcmp(name + n - sl, SEG_SUFFIX))
		return -EINVAL;
	return 0;
}

static void free_blocks(struct seg_block_info *b, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		free(b[i].enis);
	free(b);
}

static void writer_free(struct seg_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	if (w->dirfd >= 0)
		close(w->dirfd);
	free(w->lz4_state);
	seg_eniset_free(&w->set);
	free_blocks(w->blocks, w->n_blocks);
	free(w->block);
	free(w->out);
	free(w->dir);
	free(w->name);
	free(w->partial);
	free(w->shown);
	free(w);
}

static int writer_alloc(struct seg_writer *w, const char *dir, const char *name,
			const struct seg_writer_opts *opts)
{
	w->block_records = opts && opts->block_records ? opts->block_records : SEG_DEFAULT_BLOCK_RECORDS;
	w->no_fsync = opts && opts->no_fsync;
	if (w->block_records > SEG_MAX_BLOCK_RECORDS)
		return -EINVAL;
	w->out_cap = seg_frame_bound((size_t)w->block_records * REC_SIZE);
	w->dir = strdup(dir);
	w->name = strdup(name);
	w->block = malloc((size_t)w->block_records * REC_SIZE);
	w->out = malloc(w->out_cap);
	if (!w->dir || !w->name || !w->block || !w->out ||
	    asprintf(&w->partial, ".%s.partial", name) < 0 ||
	    asprintf(&w->shown, "%s/.%s.partial", dir, name) < 0)
		return -ENOMEM;
	w->lz4_state = malloc(seg_frame_state_size());
	if (!w->lz4_state)
		return -ENOMEM;
	return seg_eniset_init(&w->set, w->block_records);
}

static int write_header(struct seg_writer *w, const struct seg_header_info *hdr,
			struct seg_err *err)
{
	uint8_t *buf;
	size_t len;
	int rc = seg_encode_header(hdr, &buf, &len);

	if (rc)
		return seg_fail(err, w->shown, 0, rc, "encoding header: %s", strerror(-rc));
	rc = seg_write_all(w->fd, buf, len);
	free(buf);
	if (rc)
		return seg_fail(err, w->shown, 0, rc, "writing header: %s", strerror(-rc));
	w->bytes = len;
	return 0;
}

struct seg_writer *seg_writer_create(const char *dir, const char *name,
				     const struct seg_header_info *hdr,
				     const struct seg_writer_opts *opts,
				     struct seg_err *err)
{
	struct seg_writer *w;
	int rc;

	if (!dir || !hdr || check_name(name)) {
		seg_fail(err, name ? name : "(null)", 0, -EINVAL,
			 "bad segment name: want a plain file name ending in \"%s\"", SEG_SUFFIX);
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		seg_fail(err, name, 0, -ENOMEM, "out of memory");
		return NULL;
	}
	w->fd = w->dirfd = -1;
	rc = writer_alloc(w, dir, name, opts);
	if (rc) {
		seg_fail(err, name, 0, rc, "creating writer: %s", strerror(-rc));
		goto fail;
	}
	w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0) {
		rc = seg_fail(err, dir, 0, -errno, "cannot open directory: %s", strerror(errno));
		goto fail;
	}
	if (faccessat(w->dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		rc = seg_fail(err, name, 0, -EEXIST, "segment already exists in %s", dir);
		goto fail;
	}
	w->fd = openat(w->dirfd, w->partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		rc = seg_fail(err, w->shown, 0, -errno, "cannot create: %s", strerror(errno));
		goto fail;
	}
	rc = write_header(w, hdr, err);
	if (rc) {
		unlinkat(w->dirfd, w->partial, 0);
		goto fail;
	}
	return w;
fail:
	writer_free(w);
	errno = -rc;
	return NULL;
}

/* Compress n records (n <= block_records) into one frame and write it. */
static int write_block(struct seg_writer *w, const struct rec_flow *recs, uint32_t n,
		       struct seg_err *err)
{
	size_t pos;
	struct seg_block_info *b;
	int rc;

	if (w->n_blocks == w->cap_blocks) {
		uint32_t cap = w->cap_blocks ? 2 * w->cap_blocks : 64;
		void *nb = realloc(w->blocks, cap * sizeof(*w->blocks));
		if (!nb)
			return seg_fail(err, w->shown, w->bytes, -ENOMEM, "out of memory for the index");
		w->blocks = nb;
		w->cap_blocks = cap;
	}
	rc = seg_frame_encode(w->lz4_state, recs, (size_t)n * REC_SIZE, w->out, w->out_cap, &pos);
	if (rc)
		return seg_fail(err, w->shown, w->bytes, rc, "LZ4 compression: output buffer too small");
	b = &w->blocks[w->n_blocks];
	memset(b, 0, sizeof(*b));
	rc = seg_block_stats(&w->set, recs, n, b);
	if (rc)
		return seg_fail(err, w->shown, w->bytes, rc, "out of memory for the index");
	b->offset = w->bytes;
	b->frame_size = (uint32_t)pos;
	rc = seg_write_all(w->fd, w->out, pos);
	if (rc) {
		free(b->enis);
		return seg_fail(err, w->shown, w->bytes, rc, "writing block %u: %s", w->n_blocks,
				strerror(-rc));
	}
	w->n_blocks++;
	w->bytes += pos;
	return 0;
}

int seg_writer_append(struct seg_writer *w, const struct rec_flow *recs, size_t n,
		      struct seg_err *err)
{
	int rc;

	if (w->failed)
		return seg_fail(err, w->shown, w->bytes, -EIO, "writer already failed");
	while (n) {
		if (w->n_pending == 0 && n >= w->block_records) {
			rc = write_block(w, recs, w->block_records, err);
			if (rc)
				goto fail;
			recs += w->block_records;
			n -= w->block_records;
			w->records += w->block_records;
			continue;
		}
		uint32_t take = w->block_records - w->n_pending;
		if (take > n)
			take = (uint32_t)n;
		memcpy(&w->block[w->n_pending], recs, (size_t)take * REC_SIZE);
		w->n_pending += take;
		w->records += take;
		recs += take;
		n -= take;
		if (w->n_pending == w->block_records) {
			rc = write_block(w, w->block, w->n_pending, err);
			if (rc)
				goto fail;
			w->n_pending = 0;
		}
	}
	return 0;
fail:
	w->failed = true;
	return rc;
}

int seg_writer_flush(struct seg_writer *w, struct seg_err *err)
{
	int rc;

	if (w->failed)
		return seg_fail(err, w->shown, w->bytes, -EIO, "writer already failed");
	if (!w->n_pending)
		return 0;
	rc = write_block(w, w->block, w->n_pending, err);
	if (rc) {
		w->failed = true;
		return rc;
	}
	w->n_pending = 0;
	return 0;
}

int seg_writer_seal(struct seg_writer *w, struct seg_err *err)
{
	int rc = seg_writer_flush(w, err);

	if (!rc)
		rc = seg_seal_fd(w->fd, w->dirfd, w->partial, w->name, w->shown, w->blocks,
				 w->n_blocks, w->bytes, w->records, w->no_fsync, err);
	writer_free(w);
	return rc;
}

void seg_writer_abort(struct seg_writer *w)
{
	if (!w)
		return;
	unlinkat(w->dirfd, w->partial, 0);
	writer_free(w);
}

uint64_t seg_writer_records(const struct seg_writer *w)
{
	return w->records;
}

uint64_t seg_writer_bytes(const struct seg_writer *w)
{
	return w->bytes;
}
