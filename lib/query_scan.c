/*
 * query_scan.c - which segment files and blocks a query reads.
 *
 * Design: paths are expanded to a sorted list of sealed segments (*.fls,
 * hidden partial files skipped); each file's index is asked first. The time
 * range and the ENIs the filter can match (three-valued evaluation of the
 * filter over the file's ENI dictionary) become a seg_select, so blocks that
 * cannot match are never decompressed. Limits are checked per block, so a
 * run stops within one block of its record budget or deadline.
 */
#include "query.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct path_list {
	char **v;
	size_t n, cap;
};

static int list_add(struct path_list *l, const char *p)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		char **v = realloc(l->v, nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = nc;
	}
	l->v[l->n] = strdup(p);
	return l->v[l->n] ? (l->n++, 0) : -ENOMEM;
}

static void list_free(struct path_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && !strcmp(s + a - b, suf);
}

static int walk(const char *path, struct path_list *l, int depth, struct qry_err *err)
{
	struct stat st;

	if (stat(path, &st)) {
		int e = errno;
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode))
		return list_add(l, path);
	if (depth > 32)
		return 0;
	DIR *d = opendir(path);
	if (!d) {
		int e = errno;
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(e));
		return -e;
	}
	struct dirent *de;
	int rc = 0;
	char sub[4096];
	while (!rc && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue; /* ".", "..", and hidden partial segments */
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (stat(sub, &st))
			continue; /* vanished (retention) between readdir and stat */
		if (S_ISDIR(st.st_mode))
			rc = walk(sub, l, depth + 1, err);
		else if (has_suffix(de->d_name, SEG_SUFFIX))
			rc = list_add(l, sub);
	}
	closedir(d);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct scan_ctx {
	const struct qry_scan_opts *o;
	const struct qry_scan_cb *cb;
	struct qry_seg_ctx seg;
	struct qry_stats *st;
	struct qry_err *err;
	int stop;        /* reason the scan stopped (a limit or a callback) */
	uint32_t in[QRY_FILTER_BURST], out[QRY_FILTER_BURST];
};

static int limit_err(struct scan_ctx *c, int rc, const char *what, unsigned long long v)
{
	snprintf(c->err->msg, sizeof(c->err->msg), "query limit exceeded: %s %llu", what, v);
	c->stop = rc;
	return rc;
}

static int on_block(const struct rec_flow *recs, size_t n, void *arg)
{
	struct scan_ctx *c = arg;
	const struct qry_scan_opts *o = c->o;
	uint64_t until = o->until_ns ? o->until_ns : UINT64_MAX;

	if (o->limits.max_records && c->st->records_scanned + n > o->limits.max_records)
		return limit_err(c, -EFBIG, "max records scanned", (unsigned long long)o->limits.max_records);
	if (o->limits.deadline_ns && qry_now_ns() > o->limits.deadline_ns)
		return limit_err(c, -ETIMEDOUT, "deadline after records scanned",
				 (unsigned long long)c->st->records_scanned);
	c->st->records_scanned += n;
	for (size_t base = 0; base < n; base += QRY_FILTER_BURST) {
		const struct rec_flow *b = recs + base;
		size_t len = n - base < QRY_FILTER_BURST ? n - base : QRY_FILTER_BURST, m = 0;
		for (size_t i = 0; i < len; i++) {
			c->in[m] = (uint32_t)i;
			m += b[i].last_ns >= o->since_ns && b[i].first_ns < until;
		}
		const uint32_t *sel = c->in;
		if (o->filter) {
			m = qry_filter_select(o->filter, b, c->in, m, c->out);
			sel = c->out;
		}
		c->st->records_matched += m;
		if (c->cb->burst_cb && m) {
			int rc = c->cb->burst_cb(b, sel, m, &c->seg, c->cb->arg);
			if (rc) {
				c->stop = rc;
				return rc;
			}
			continue;
		}
		for (size_t i = 0; i < m; i++) {
			int rc = c->cb->rec_cb(&b[sel[i]], &c->seg, c->cb->arg);
			if (rc) {
				c->stop = rc;
				return rc;
			}
		}
	}
	return 0;
}

/* Scan one file. Returns 0, a stop value, or -errno. */
static int scan_file(struct scan_ctx *c, const char *path)
{
	struct seg_err se = {{0}, 0};
	struct seg_reader *r = seg_reader_open(path, &se);
	uint32_t *enis = NULL;
	int rc = 0;

	if (!r) {
		int e = errno ? errno : EIO;
		snprintf(c->err->msg, sizeof(c->err->msg), "%s", se.msg[0] ? se.msg : strerror(e));
		return -e;
	}
	const struct seg_header_info *h = seg_reader_header(r);
	struct seg_select sel = {.since_ns = c->o->since_ns, .until_ns = c->o->until_ns};
	c->seg.path = path;
	c->seg.hdr = h;
	c->st->files++;
	c->st->blocks_total += seg_reader_n_blocks(r);
	if (c->o->filter) {
		if (qry_filter_bind(c->o->filter, h->enis, h->n_enis)) {
			rc = -ENOMEM;
			goto out;
		}
		if (qry_filter_uses_eni(c->o->filter)) {
			enis = malloc((h->n_enis + 1) * sizeof(*enis));
			if (!enis) {
				rc = -ENOMEM;
				goto out;
			}
			for (uint32_t i = 0; i < h->n_enis; i++)
				if (qry_filter_eni_may_match(c->o->filter, h->enis[i].index))
					enis[sel.n_enis++] = h->enis[i].index;
			if (!sel.n_enis) {
				c->st->files_skipped++;
				goto out; /* no ENI of this file can match */
			}
			sel.enis = enis;
		}
	}
	if (c->cb->file_cb && (rc = c->cb->file_cb(&c->seg, c->cb->arg)))
		goto out;
	uint64_t blocks = 0;
	rc = seg_reader_foreach(r, &sel, on_block, c, &blocks, &se);
	c->st->blocks_read += blocks;
	if (rc && !c->stop)
		snprintf(c->err->msg, sizeof(c->err->msg), "%s", se.msg);
out:
	free(enis);
	seg_reader_close(r);
	return rc;
}

int qry_scan(const char *const *paths, size_t n_paths, const struct qry_scan_opts *opts,
	     const struct qry_scan_cb *cb, struct qry_stats *stats, struct qry_err *err)
{
	struct qry_stats local;
	struct qry_err lerr;
	struct path_list files = {0};
	struct scan_ctx c = {.o = opts, .cb = cb, .st = stats ? stats : &local,
			     .err = err ? err : &lerr};
	int rc = 0;

	memset(c.st, 0, sizeof(*c.st));
	c.err->column = 0;
	c.err->msg[0] = '\0';
	for (size_t i = 0; i < n_paths && !rc; i++)
		rc = walk(paths[i], &files, 0, c.err);
	if (!rc && files.n)
		qsort(files.v, files.n, sizeof(*files.v), cmp_str);
	for (size_t i = 0; i < files.n && !rc; i++)
		rc = scan_file(&c, files.v[i]);
	if (rc == -ENOMEM && !c.err->msg[0])
		snprintf(c.err->msg, sizeof(c.err->msg), "out of memory");
	list_free(&files);
	return rc;
}
