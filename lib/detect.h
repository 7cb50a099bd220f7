/*
 * detect.h - named detections: documented queries with settable thresholds
 * that answer the product's questions (bandwidth hogs, storms, drops,
 * policy clean-up, scanners, threat-list traffic, uncommon protocols,
 * baseline anomalies). Each is documented in docs/query.md.
 *
 * A detection consumes the same record stream as a query (so the caller's
 * filter, time range, index skipping and limits apply) and returns a
 * struct qry_table. Thresholds are "name=value" settings; every detection
 * lists its parameters with defaults through qry_det_list().
 */
#ifndef ENIFLOW_DETECT_H
#define ENIFLOW_DETECT_H

#include "query.h"

#define QRY_DET_MAX_PARAMS 8

/** One threshold or option of a detection. */
struct qry_det_param {
	const char *name;
	const char *def;  /**< default value as text ("" = unset) */
	const char *help;
};

/** A detection's public description. */
struct qry_det_info {
	const char *name;
	const char *summary;
	struct qry_det_param params[QRY_DET_MAX_PARAMS]; /**< ends at name == NULL */
};

/** All detections; *n gets the count. Static storage. */
const struct qry_det_info *qry_det_list(size_t *n);
/** The detection called name, or NULL. */
const struct qry_det_info *qry_det_find(const char *name);

struct qry_det;

/**
 * Prepare detection name with settings ("min_dsts=50", ...). since/until
 * (ns, 0 = open) are the query range: rates and "recent" windows use them
 * (an open until means "now"). Returns NULL with errno EINVAL and err
 * naming the unknown detection, setting or bad value (or the threat list
 * line), or ENOMEM.
 */
struct qry_det *qry_det_create(const char *name, const char *const *settings, size_t n_settings,
			       uint64_t since_ns, uint64_t until_ns,
			       const struct qry_limits *limits, struct qry_err *err);
/** Free. NULL is a no-op. */
void qry_det_destroy(struct qry_det *d);
/** A segment begins (its ENI dictionary). 0 or -ENOMEM. */
int qry_det_begin_file(struct qry_det *d, const struct seg_header_info *hdr);
/** Feed one record (already through the caller's filter and range). 0 or -errno. */
int qry_det_add(struct qry_det *d, const struct rec_flow *r);
/** The findings (new table; caller destroys). NULL + errno, err filled. */
struct qry_table *qry_det_finish(struct qry_det *d, struct qry_err *err);

/**
 * Scan paths with opts and run detection name over the records. NULL +
 * errno with err filled; stats filled either way.
 */
struct qry_table *qry_det_run(const char *name, const char *const *settings, size_t n_settings,
			      const char *const *paths, size_t n_paths,
			      const struct qry_scan_opts *opts, struct qry_stats *stats,
			      struct qry_err *err);

#endif /* ENIFLOW_DETECT_H */
