/*
 * segment_recover.c - turn partial segments left by a crash into sealed ones.
 *
 * A partial file is header + block frames, possibly torn in the last one.
 * Recovery trusts nothing it has not decoded: it walks the frames from the
 * header on, fully decodes each one (verifying its block and content
 * checksums), validates every record, and stops at the first frame that is
 * torn, corrupt or not a block frame. The file is cut there, a fresh index
 * is built from the decoded records, and the file is sealed exactly as the
 * writer would have sealed it.
 *
 * The report is exact: what follows the last good frame counts as dropped
 * unless it is the beginning of the very index and trailer recovery writes
 * (a crash while or after sealing, before the rename, loses nothing). A
 * file whose header is whole but wrong cannot be recovered and is not ours
 * to delete: it is moved aside as ".NAME.corrupt", which recovery never
 * looks at again, and the error says so.
 */
#include "segment_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct scan {
	const uint8_t *map;
	uint64_t size;
	uint64_t end;               /* end of the last good frame */
	struct seg_block_info *blocks;
	uint32_t n_blocks;
	uint64_t n_records;
	bool bad_header;            /* whole but failing its checks */
};

/* Validate every record of a decoded frame; records must be whole. */
static bool records_ok(const uint8_t *buf, size_t len)
{
	if (len == 0 || len % REC_SIZE || len > SEG_MAX_BLOCK_BYTES)
		return false;
	for (size_t k = 0; k < len / REC_SIZE; k++) {
		struct rec_flow r;
		memcpy(&r, buf + k * REC_SIZE, REC_SIZE);
		if (rec_validate(&r, NULL, 0))
			return false;
	}
	return true;
}

/* Walk frames from s->end; keep each one that decodes whole and valid. */
static int scan_frames(struct scan *s, uint8_t *buf, size_t cap,
		       struct seg_eniset *set)
{
	uint32_t cap_blocks = 0;

	while (s->size - s->end >= 4 && seg_get32(s->map + s->end) == SEG_MAGIC_LZ4) {
		size_t used, got;
		const char *why;
		struct seg_block_info *b;

		if (seg_frame_decode(s->map + s->end, s->size - s->end, buf, cap, &used, &got, &why) ||
		    !records_ok(buf, got) || used > UINT32_MAX)
			break;
		if (s->n_blocks == cap_blocks) {
			cap_blocks = cap_blocks ? 2 * cap_blocks : 64;
			void *nb = realloc(s->blocks, cap_blocks * sizeof(*s->blocks));
			if (!nb)
				return -ENOMEM;
			s->blocks = nb;
		}
		b = &s->blocks[s->n_blocks];
		memset(b, 0, sizeof(*b));
		if (seg_block_stats(set, (const struct rec_flow *)buf, (uint32_t)(got / REC_SIZE), b))
			return -ENOMEM;
		b->offset = s->end;
		b->frame_size = (uint32_t)used;
		s->n_blocks++;
		s->n_records += b->n_records;
		s->end += used;
	}
	return 0;
}

/*
 * Length of the header frame at the start of the map. 0 if it is torn (the
 * writer died while writing it: nothing else can follow), -EINVAL with err
 * filled if it is whole but wrong (not ours to delete).
 */
static int64_t header_len(const struct scan *s, const char *path, struct seg_err *err)
{
	struct seg_header_info h;
	uint32_t plen;

	if (s->size >= 4 && seg_get32(s->map) != SEG_MAGIC_HEADER)
		return seg_fail(err, path, 0, -EINVAL, "header: bad magic 0x%08x (want 0x%08x)",
				seg_get32(s->map), SEG_MAGIC_HEADER);
	if (s->size < SEG_SKIP_HDR)
		return 0;
	plen = seg_get32(s->map + 4);
	if (SEG_SKIP_HDR + (uint64_t)plen > s->size)
		return 0;
	if (seg_decode_header(s->map + SEG_SKIP_HDR, plen, SEG_SKIP_HDR, path, &h, err))
		return -EINVAL;
	free(h.enis);
	return SEG_SKIP_HDR + (int64_t)plen;
}

/* "DIR/.NAME.partial" → dir fd + "NAME"; -EINVAL if not a partial name. */
static int split_partial(const char *path, int *dirfd, char **base, char **final)
{
	const char *slash = strrchr(path, '/');
	const char *b = slash ? slash + 1 : path;
	size_t n = strlen(b), sl = strlen(".partial");
	char *dir;

	if (n <= sl + 1 + strlen(SEG_SUFFIX) || b[0] != '.' || strcmp(b + n - sl, ".partial"))
		return -EINVAL;
	dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
	*base = strdup(b);
	*final = strndup(b + 1, n - sl - 1);
	if (!dir || !*base || !*final) {
		free(dir);
		return -ENOMEM;
	}
	*dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	return *dirfd < 0 ? -errno : 0;
}

static void free_scan(struct scan *s)
{
	for (uint32_t i = 0; i < s->n_blocks; i++)
		free(s->blocks[i].enis);
	free(s->blocks);
}

/* Map the file and find its longest valid prefix. */
static int scan_file(int fd, const char *path, struct scan *s, struct seg_err *err)
{
	struct stat st;
	struct seg_eniset set = {0};
	size_t cap = SEG_MAX_BLOCK_BYTES;
	uint8_t *buf = NULL;
	int64_t hl;
	int rc = 0;

	if (fstat(fd, &st) < 0)
		return seg_fail(err, path, 0, -errno, "stat: %s", strerror(errno));
	s->size = (uint64_t)st.st_size;
	if (s->size) {
		void *m = mmap(NULL, s->size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED)
			return seg_fail(err, path, 0, -errno, "mmap: %s", strerror(errno));
		s->map = m;
	}
	hl = header_len(s, path, err);
	if (hl <= 0) {
		rc = (int)hl;
		s->bad_header = hl < 0;
		goto out;
	}
	s->end = (uint64_t)hl;
	buf = malloc(cap);
	if (!buf || seg_eniset_init(&set, SEG_MAX_BLOCK_RECORDS))
		rc = -ENOMEM;
	if (!rc)
		rc = scan_frames(s, buf, cap, &set);
	if (rc)
		seg_fail(err, path, s->end, rc, "out of memory while scanning");
out:
	seg_eniset_free(&set);
	free(buf);
	if (s->map)
		munmap((void *)s->map, s->size);
	s->map = NULL;
	return rc;
}

/*
 * True if the bytes after the last good frame are a prefix of the index and
 * trailer recovery is about to write: the writer was sealing (or had sealed)
 * and died before the rename, so nothing in them is lost.
 */
static bool tail_is_own_seal(int fd, const struct scan *s)
{
	uint8_t trailer[SEG_TRAILER_SIZE], *idx, *tail;
	size_t idx_len, n = s->size - s->end;
	bool same = false;

	if (n == 0)
		return true;
	if (seg_encode_index(s->blocks, s->n_blocks, &idx, &idx_len))
		return false;
	seg_encode_trailer(trailer, s->n_blocks, s->end, idx_len, s->n_records);
	tail = n <= idx_len + sizeof(trailer) ? malloc(n) : NULL;
	if (tail && pread(fd, tail, n, (off_t)s->end) == (ssize_t)n) {
		size_t a = n < idx_len ? n : idx_len;
		same = !memcmp(tail, idx, a) && !memcmp(tail + a, trailer, n - a);
	}
	free(tail);
	free(idx);
	return same;
}

/* Header whole but wrong: rename the file out of recovery's way, say where. */
static int set_aside(int dirfd, const char *base, const char *final, const char *path,
		     struct seg_recovery_report *rep, struct seg_err *err)
{
	char aside[512];
	int rc = seg_move_aside(dirfd, base, final, "corrupt", aside, sizeof(aside));
	size_t used = err ? strlen(err->msg) : 0;

	if (rc) {
		if (err)
			snprintf(err->msg + used, sizeof(err->msg) - used,
				 "; cannot move it aside: %s", strerror(-rc));
		return -EINVAL;
	}
	const char *slash = strrchr(path, '/');
	int dl = slash ? (int)(slash - path) + 1 : 0;
	snprintf(rep->path, sizeof(rep->path), "%.*s%s", dl, path, aside);
	if (err)
		snprintf(err->msg + used, sizeof(err->msg) - used,
			 "; moved aside as %s, nothing recovered", aside);
	fsync(dirfd);
	return -EINVAL;
}

int seg_recover_file(const char *partial_path, struct seg_recovery_report *rep,
		     struct seg_err *err)
{
	struct scan s = {0};
	char *base = NULL, *final = NULL;
	int dirfd = -1, fd = -1, rc;

	memset(rep, 0, sizeof(*rep));
	snprintf(rep->path, sizeof(rep->path), "%s", partial_path);
	rc = split_partial(partial_path, &dirfd, &base, &final);
	if (rc) {
		seg_fail(err, partial_path, 0, rc, rc == -EINVAL ?
			 "not a partial segment name (want DIR/.NAME" SEG_SUFFIX ".partial)" :
			 "cannot open its directory: %s", strerror(-rc));
		goto out;
	}
	fd = openat(dirfd, base, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		rc = seg_fail(err, partial_path, 0, -errno, "cannot open: %s", strerror(errno));
		goto out;
	}
	rc = scan_file(fd, partial_path, &s, err);
	if (rc) {
		if (s.bad_header)
			rc = set_aside(dirfd, base, final, partial_path, rep, err);
		goto out;
	}
	if (s.end == 0) { /* torn header: the writer never got to a block */
		rep->header_lost = true;
		rep->bytes_dropped = s.size;
		if (unlinkat(dirfd, base, 0) < 0 || fsync(dirfd) < 0)
			rc = seg_fail(err, partial_path, 0, -errno, "removing: %s", strerror(errno));
		goto out;
	}
	bool own_seal = tail_is_own_seal(fd, &s);
	if (ftruncate(fd, (off_t)s.end) < 0) {
		rc = seg_fail(err, partial_path, s.end, -errno, "truncating torn tail: %s", strerror(errno));
		goto out;
	}
	rc = seg_seal_fd(fd, dirfd, base, final, partial_path, s.blocks, s.n_blocks, s.end,
			 s.n_records, false, err);
	if (rc)
		goto out;
	rep->blocks_kept = s.n_blocks;
	rep->records_kept = s.n_records;
	rep->bytes_dropped = own_seal ? 0 : s.size - s.end;
	{
		const char *slash = strrchr(partial_path, '/');
		int dl = slash ? (int)(slash - partial_path) + 1 : 0;
		snprintf(rep->path, sizeof(rep->path), "%.*s%s", dl, partial_path, final);
	}
out:
	free_scan(&s);
	if (fd >= 0)
		close(fd);
	if (dirfd >= 0)
		close(dirfd);
	free(base);
	free(final);
	return rc;
}

static bool is_partial_name(const char *n)
{
	size_t len = strlen(n), sl = strlen(".partial");
	return n[0] == '.' && len > sl + 1 + strlen(SEG_SUFFIX) && !strcmp(n + len - sl, ".partial");
}

int seg_recover_dir(const char *dir,
		    void (*cb)(const struct seg_recovery_report *r, void *arg),
		    void *arg, struct seg_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int count = 0, first_rc = 0;

	if (!d)
		return seg_fail(err, dir, 0, -errno, "cannot open directory: %s", strerror(errno));
	while ((e = readdir(d))) {
		struct seg_recovery_report rep;
		struct seg_err one;
		char *path;
		int rc;

		if (!is_partial_name(e->d_name))
			continue;
		if (asprintf(&path, "%s/%s", dir, e->d_name) < 0) {
			first_rc = first_rc ? first_rc : seg_fail(err, dir, 0, -ENOMEM, "out of memory");
			break;
		}
		rc = seg_recover_file(path, &rep, &one);
		free(path);
		if (rc) {
			if (!first_rc && err)
				*err = one;
			first_rc = first_rc ? first_rc : rc;
			continue;
		}
		count++;
		if (cb)
			cb(&rep, arg);
	}
	closedir(d);
	return first_rc ? first_rc : count;
}
