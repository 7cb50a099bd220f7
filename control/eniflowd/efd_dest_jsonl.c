/*
 * efd_dest_jsonl.c - rotating JSON Lines files for log shippers (Filebeat,
 * Fluent Bit, a Splunk forwarder).
 *
 * A file is written as d<idx>-<start_ns>.jsonl.open and sealed by rename
 * to d<idx>-<start_ns>.jsonl when it reaches its size or age, so a shipper
 * that globs *.jsonl only ever sees finished files, and one that follows
 * the open file keeps its inode across the rename. Lines are written whole:
 * records are staged, formatted into one buffer and written together; if a
 * write fails the file is cut back to where it was, so it never holds a
 * torn line, and the staged records are handed to on_drop as this
 * destination's loss. The path is always eniflowd's, never a client's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "efd_dest_internal.h"
#include "rec_format.h"

#define STAGE_MAX 256

struct efd_jsonl {
	char dir[EFD_PATH_MAX];
	char open_path[EFD_PATH_MAX + 64];
	unsigned idx;
	struct efd_dest_cfg c;
	char observer[64];
	efd_drop_fn on_drop;
	void *arg;
	int fd;
	uint64_t size, opened_ns;
	uint32_t n_stage;
	struct rec_flow stage[STAGE_MAX];
	const struct seg_eni_info *stage_eni[STAGE_MAX];
	char *buf;
	size_t buf_cap;
	struct efd_jsonl_stats st;
};

/** Cut path back to its last newline and rename x.jsonl.open -> x.jsonl (or drop it if empty). */
static void seal_file(const char *path, int fd_or_minus1)
{
	char sealed[EFD_PATH_MAX + 64];
	int fd = fd_or_minus1 >= 0 ? fd_or_minus1 : open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END), keep = end;
	char c;
	while (keep > 0 && pread(fd, &c, 1, keep - 1) == 1 && c != '\n')
		keep--;
	if (keep != end && ftruncate(fd, keep) != 0)
		keep = 0;
	close(fd);
	size_t n = strlen(path);
	if (keep == 0 || n < 6) {
		unlink(path);
		return;
	}
	snprintf(sealed, sizeof(sealed), "%.*s", (int)(n - 5), path); /* strip ".open" */
	if (rename(path, sealed) != 0)
		efd_log("warn", "jsonl_seal_failed", "path=%s err=\"%s\"", path, strerror(errno));
}

static void recover_dir(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	char p[EFD_PATH_MAX + 300];

	while (dp && (e = readdir(dp)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n > 11 && strcmp(e->d_name + n - 11, ".jsonl.open") == 0) {
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			seal_file(p, -1);
			efd_log("info", "jsonl_recovered", "path=%s", p);
		}
	}
	if (dp)
		closedir(dp);
}

static int open_new(struct efd_jsonl *j)
{
	j->opened_ns = efd_now_ns();
	snprintf(j->open_path, sizeof(j->open_path), "%s/d%u-%llu.jsonl.open", j->dir, j->idx,
		 (unsigned long long)j->opened_ns);
	j->fd = open(j->open_path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
	j->size = 0;
	return j->fd < 0 ? -errno : 0;
}

static void rotate(struct efd_jsonl *j)
{
	if (j->fd >= 0) {
		if (j->size > 0)
			j->st.files_sealed++;
		seal_file(j->open_path, j->fd);
		j->fd = -1;
	}
	if (open_new(j) != 0) {
		j->st.last_errno = errno;
		efd_log("error", "jsonl_open_failed", "path=%s err=\"%s\"", j->open_path,
			strerror(errno));
	}
}

struct efd_jsonl *efd_jsonl_open(const char *data_dir, const char *fl_id, unsigned idx,
				 const struct efd_dest_cfg *c, const char *observer,
				 efd_drop_fn on_drop, void *arg)
{
	struct efd_jsonl *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return NULL;
	j->idx = idx;
	j->c = *c;
	j->on_drop = on_drop;
	j->arg = arg;
	j->fd = -1;
	snprintf(j->observer, sizeof(j->observer), "%s", observer);
	j->buf_cap = (size_t)STAGE_MAX * REC_FMT_LINE_MAX;
	j->buf = malloc(j->buf_cap);
	snprintf(j->dir, sizeof(j->dir), "%s/jsonl", data_dir);
	mkdir(j->dir, 0750);
	snprintf(j->dir, sizeof(j->dir), "%s/jsonl/%s", data_dir, fl_id);
	if (j->buf == NULL || (mkdir(j->dir, 0750) != 0 && errno != EEXIST)) {
		int e = errno;
		free(j->buf);
		free(j);
		errno = e;
		return NULL;
	}
	recover_dir(j->dir);
	if (open_new(j) != 0) {
		int e = errno;
		free(j->buf);
		free(j);
		errno = e;
		return NULL;
	}
	return j;
}

void efd_jsonl_add(struct efd_jsonl *j, const struct rec_flow *r, const struct seg_eni_info *eni)
{
	if (j->n_stage == STAGE_MAX)
		efd_jsonl_flush(j);
	j->stage[j->n_stage] = *r;
	j->stage_eni[j->n_stage++] = eni;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

void efd_jsonl_flush(struct efd_jsonl *j)
{
	size_t len = 0;
	int rc = j->fd < 0 ? -EBADF : 0;

	if (j->n_stage == 0)
		return;
	for (uint32_t i = 0; i < j->n_stage && rc == 0; i++) {
		int n = j->c.format == REC_FMT_ECS ?
			rec_format_ecs(&j->stage[i], j->stage_eni[i], j->observer, j->buf + len,
				       j->buf_cap - len) :
			rec_format(REC_FMT_JSON, &j->stage[i], j->stage_eni[i], j->buf + len,
				   j->buf_cap - len);
		if (n < 0)
			rc = n;
		else
			len += (size_t)n;
	}
	if (rc == 0)
		rc = write_all(j->fd, j->buf, len);
	if (rc != 0) {
		/* never leave a torn line: cut the file back to before this write */
		if (j->fd >= 0 && ftruncate(j->fd, (off_t)j->size) != 0)
			rotate(j);
		j->st.write_errors++;
		j->st.last_errno = -rc;
		if (j->on_drop)
			j->on_drop(j->arg, j->stage, j->n_stage);
	} else {
		j->size += len;
		j->st.lines += j->n_stage;
		j->st.bytes += len;
	}
	j->n_stage = 0;
	if (j->size >= j->c.rotate_bytes || j->fd < 0)
		rotate(j);
}

void efd_jsonl_tick(struct efd_jsonl *j, uint64_t now_ns)
{
	if (j->size > 0 && now_ns - j->opened_ns >= (uint64_t)j->c.rotate_age_s * 1000000000ULL)
		rotate(j);
}

void efd_jsonl_close(struct efd_jsonl *j)
{
	if (j == NULL)
		return;
	efd_jsonl_flush(j);
	if (j->fd >= 0) {
		if (j->size > 0)
			j->st.files_sealed++;
		seal_file(j->open_path, j->fd);
	}
	free(j->buf);
	free(j);
}

void efd_jsonl_get_stats(const struct efd_jsonl *j, struct efd_jsonl_stats *s)
{
	*s = j->st;
}
