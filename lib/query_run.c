/*
 * query_run.c - the glue that feeds a scan into an aggregation (qry_run)
 * or a detection (qry_det_run).
 *
 * Kept apart from the scan so that the aggregator and the detections can be
 * used (and unit-tested) on record streams that do not come from files.
 */
#include "detect.h"
#include "query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ run */

struct run_ctx {
	struct qry_agg_state *agg;
	struct qry_err *err;
	uint64_t max_groups, max_distinct;
};

static int run_file(const struct qry_seg_ctx *seg, void *arg)
{
	struct run_ctx *r = arg;

	return qry_agg_begin_file(r->agg, seg->hdr);
}

static int run_burst(const struct rec_flow *recs, const uint32_t *idx, size_t n,
		     const struct qry_seg_ctx *seg, void *arg)
{
	struct run_ctx *r = arg;
	int rc = qry_agg_add_burst(r->agg, recs, idx, n);

	(void)seg;
	if (rc == -ENOSPC)
		snprintf(r->err->msg, sizeof(r->err->msg),
			 "query limit exceeded: max groups %llu or max distinct values %llu",
			 (unsigned long long)r->max_groups, (unsigned long long)r->max_distinct);
	return rc;
}

struct qry_table *qry_run(const char *const *paths, size_t n_paths,
			  const struct qry_scan_opts *opts, const struct qry_agg_spec *spec,
			  struct qry_stats *stats, struct qry_err *err)
{
	struct qry_stats local;
	struct qry_err lerr;
	struct qry_agg_spec s = *spec;
	struct qry_table *t = NULL;

	if (!stats)
		stats = &local;
	if (!err)
		err = &lerr;
	/* Rates over an explicit range use the range, not the data span. */
	if (!s.window_ns && !s.bucket_ns && opts->since_ns && opts->until_ns > opts->since_ns)
		s.window_ns = opts->until_ns - opts->since_ns;
	struct run_ctx r = {.agg = qry_agg_create(&s, &opts->limits), .err = err,
			    .max_groups = opts->limits.max_groups,
			    .max_distinct = opts->limits.max_distinct};
	if (!r.agg) {
		int e = errno;
		snprintf(err->msg, sizeof(err->msg), "bad aggregation spec: %s", strerror(e));
		return NULL;
	}
	struct qry_scan_cb cb = {.file_cb = run_file, .burst_cb = run_burst, .arg = &r};
	int rc = qry_scan(paths, n_paths, opts, &cb, stats, err);
	stats->groups = qry_agg_groups(r.agg);
	if (!rc) {
		t = qry_agg_finish(r.agg);
		if (!t)
			rc = -ENOMEM;
	}
	if (rc == -ENOMEM && !err->msg[0])
		snprintf(err->msg, sizeof(err->msg), "out of memory");
	qry_agg_destroy(r.agg);
	if (!t)
		errno = -rc;
	return t;
}

/* ------------------------------------------------------------------ run */

struct det_ctx {
	struct qry_det *d;
	struct qry_err *err;
	const struct qry_limits *limits;
};

static int det_file(const struct qry_seg_ctx *seg, void *arg)
{
	struct det_ctx *c = arg;

	return qry_det_begin_file(c->d, seg->hdr);
}

static int det_rec(const struct rec_flow *r, const struct qry_seg_ctx *seg, void *arg)
{
	struct det_ctx *c = arg;
	int rc = qry_det_add(c->d, r);

	(void)seg;
	if (rc == -ENOSPC)
		snprintf(c->err->msg, sizeof(c->err->msg),
			 "query limit exceeded: max groups %llu or max distinct values %llu",
			 (unsigned long long)c->limits->max_groups,
			 (unsigned long long)c->limits->max_distinct);
	return rc;
}

struct qry_table *qry_det_run(const char *name, const char *const *settings, size_t n_settings,
			      const char *const *paths, size_t n_paths,
			      const struct qry_scan_opts *opts, struct qry_stats *stats,
			      struct qry_err *err)
{
	struct qry_err lerr;
	struct det_ctx c = {.err = err ? err : &lerr, .limits = &opts->limits};
	struct qry_scan_cb cb = {.file_cb = det_file, .rec_cb = det_rec, .arg = &c};
	struct qry_table *t = NULL;
	int rc;

	if (stats)
		memset(stats, 0, sizeof(*stats));
	c.d = qry_det_create(name, settings, n_settings, opts->since_ns, opts->until_ns,
			     &opts->limits, c.err);
	if (!c.d)
		return NULL;
	rc = qry_scan(paths, n_paths, opts, &cb, stats, c.err);
	if (!rc)
		t = qry_det_finish(c.d, c.err);
	qry_det_destroy(c.d);
	if (rc) {
		errno = -rc;
		return NULL;
	}
	return t;
}
