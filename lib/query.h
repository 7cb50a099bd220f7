/*
 * query.h - the eniflow query engine: filters, scans, aggregation, tables.
 *
 * Used by the `eniflow` CLI (query, top, detect) and by eniflowd's REST
 * routes. A query is: a filter expression compiled once into a small node
 * program (no per-record malloc), a scan over segment files that skips
 * blocks through the segment index (time range, ENI), and an aggregator
 * that groups matching records by key fields plus an optional time bucket.
 * Results come back as a struct qry_table that prints as an aligned table,
 * JSON or CSV. Detections (detect.h) are named queries built on the same
 * pieces.
 *
 * Every run is bounded by struct qry_limits; a query that goes over a limit
 * stops with a distinct -errno (see below) and a message saying which limit,
 * so a server can answer 413/422/503 instead of running away.
 *
 * Errors: int functions return 0 or -errno; constructors return NULL and set
 * errno. Errors a user must see fill a struct qry_err.
 */
#ifndef ENIFLOW_QUERY_H
#define ENIFLOW_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "record.h"
#include "segment.h"

/** A user-visible failure. */
struct qry_err {
	/** 1-based column in the filter (or list) text at fault; 0 if none. */
	int column;
	/**
	 * "column N: problem" followed, for expression errors, by two more
	 * lines: the expression and a caret under the column.
	 */
	char msg[1024];
};

/* ---------------------------------------------------------------- limits */

/**
 * Bounds on one run. A zero field means "no limit". Exceeding one stops the
 * run: max_records -> -EFBIG, max_groups or max_distinct -> -ENOSPC,
 * deadline -> -ETIMEDOUT. A bad file or block -> -EIO/-EINVAL (err names
 * the file and offset).
 */
struct qry_limits {
	uint64_t max_records;  /**< records scanned (after index skipping) */
	uint64_t max_groups;   /**< distinct groups held by the aggregator */
	uint64_t max_distinct; /**< (group, value) pairs held for distinct counts */
	uint64_t deadline_ns;  /**< CLOCK_MONOTONIC time at which to give up */
};

/** What a run did. */
struct qry_stats {
	uint64_t files;           /**< segment files opened */
	uint64_t files_skipped;   /**< files whose index excluded all blocks */
	uint64_t blocks_total;    /**< blocks in the opened files */
	uint64_t blocks_read;     /**< blocks decoded */
	uint64_t records_scanned; /**< records in decoded blocks */
	uint64_t records_matched; /**< records passing time range and filter */
	uint64_t groups;          /**< groups before top-N */
};

/** Monotonic clock in ns (for deadlines). */
uint64_t qry_now_ns(void);

/* ---------------------------------------------------------------- filter */

struct qry_filter;

/**
 * Compile a filter expression (grammar in docs/query.md), e.g.
 *   "src in 10.0.0.0/8 and dport in {22, 80, 443} and not action = reject".
 * NULL or an all-blank string compiles to "match everything".
 * Returns NULL with errno = EINVAL and err filled (column + caret), or
 * ENOMEM.
 */
struct qry_filter *qry_filter_compile(const char *expr, struct qry_err *err);
/** Free. NULL is a no-op. */
void qry_filter_destroy(struct qry_filter *f);

/**
 * Bind the ENI/VPC/subnet/account names used in f to one segment's ENI
 * dictionary. Must be called before matching records of that segment; a
 * filter without such names needs no binding. enis is only read during the
 * call. Returns 0 or -ENOMEM.
 */
int qry_filter_bind(struct qry_filter *f, const struct seg_eni_info *enis, uint32_t n);

/** True if r passes f (bound to r's segment). */
bool qry_filter_match(const struct qry_filter *f, const struct rec_flow *r);

/** Most indexes one qry_filter_select() call takes. */
#define QRY_FILTER_BURST 1024

/**
 * Burst match: of the records recs[in[0..n-1]] (n <= QRY_FILTER_BURST,
 * in ascending), write the indexes of those that pass f to out (ascending)
 * and return their count. Several times faster than qry_filter_match per
 * record. Uses scratch space inside f: one thread per filter at a time.
 */
size_t qry_filter_select(struct qry_filter *f, const struct rec_flow *recs, const uint32_t *in,
			 size_t n, uint32_t *out);

/**
 * Could a record with ENI index eni pass f, knowing nothing else about it?
 * (Three-valued evaluation of f; used to skip blocks through the index.)
 */
bool qry_filter_eni_may_match(const struct qry_filter *f, uint32_t eni);

/** True if f constrains the ENI (so qry_filter_eni_may_match can say no). */
bool qry_filter_uses_eni(const struct qry_filter *f);

/* ----------------------------------------------------------------- scan */

/** One segment as seen by a scan callback. */
struct qry_seg_ctx {
	const char *path;
	const struct seg_header_info *hdr; /**< borrowed; valid during the file */
};

/** What to scan. */
struct qry_scan_opts {
	uint64_t since_ns;               /**< keep records with last_ns >= since; 0 open */
	uint64_t until_ns;               /**< keep records with first_ns < until; 0 open */
	struct qry_filter *filter;       /**< NULL = all; the scan binds it per file */
	struct qry_limits limits;
};

/**
 * Per-file and per-record callbacks. file_cb (may be NULL) is called when a
 * file is opened; rec_cb for each matching record, in file/block order.
 * A non-zero return stops the scan and is returned.
 */
struct qry_scan_cb {
	int (*file_cb)(const struct qry_seg_ctx *seg, void *arg);
	int (*rec_cb)(const struct rec_flow *r, const struct qry_seg_ctx *seg, void *arg);
	/**
	 * Optional, used instead of rec_cb when set: the matching records
	 * recs[idx[0..n-1]] of one burst (n <= QRY_FILTER_BURST).
	 */
	int (*burst_cb)(const struct rec_flow *recs, const uint32_t *idx, size_t n,
			const struct qry_seg_ctx *seg, void *arg);
	void *arg;
};

/**
 * Scan paths: each a segment file or a directory searched recursively for
 * "*.fls" files (hidden files, i.e. partial segments, are skipped). Files
 * are visited in sorted path order. Fills stats (may be NULL).
 * Returns 0, a callback's non-zero value, or -errno with err filled.
 */
int qry_scan(const char *const *paths, size_t n_paths, const struct qry_scan_opts *opts,
	     const struct qry_scan_cb *cb, struct qry_stats *stats, struct qry_err *err);

/* ---------------------------------------------------------------- table */

enum qry_col_type {
	QRY_COL_U64,  /**< unsigned integer */
	QRY_COL_F64,  /**< floating point (rates, shares) */
	QRY_COL_STR,  /**< text (addresses, names) */
	QRY_COL_TIME, /**< ns since epoch, printed ISO 8601 UTC */
};

struct qry_cell {
	union {
		uint64_t u;
		double d;
		char *s; /**< owned by the table */
	};
};

/** A result: named, typed columns and row-major cells. */
struct qry_table {
	uint32_t n_cols;
	uint32_t n_rows;
	uint32_t cap_rows;
	char **col_names;          /**< owned */
	enum qry_col_type *col_types;
	struct qry_cell *cells;    /**< n_rows * n_cols */
	char *note;                /**< optional remark printed with the table; owned */
};

enum qry_format { QRY_FMT_TABLE, QRY_FMT_JSON, QRY_FMT_CSV };

/** Parse "table", "json" or "csv". Returns 0 or -EINVAL. */
int qry_format_parse(const char *s, enum qry_format *out);

/** New empty table with these columns. NULL + errno on failure. */
struct qry_table *qry_table_create(uint32_t n_cols, const char *const *names,
				   const enum qry_col_type *types);
/** Free. NULL is a no-op. */
void qry_table_destroy(struct qry_table *t);
/** Append a zeroed row; returns its first cell, or NULL (ENOMEM). */
struct qry_cell *qry_table_add_row(struct qry_table *t);
/** Set a string cell (copied). 0 or -ENOMEM. */
int qry_cell_set_str(struct qry_cell *c, const char *s);
/** Set the note (copied, printf-style). */
void qry_table_set_note(struct qry_table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/**
 * Print t. JSON is {"columns":[..],"rows":[{col:value,..}],"note":..};
 * CSV has a header line. Returns 0 or -EIO.
 */
int qry_table_print(const struct qry_table *t, enum qry_format fmt, FILE *out);

/* ----------------------------------------------------------- aggregation */

/** Group-by key fields. */
enum qry_key {
	QRY_KEY_ENI, QRY_KEY_VPC, QRY_KEY_SUBNET, QRY_KEY_ACCOUNT,
	QRY_KEY_SRC, QRY_KEY_DST, QRY_KEY_SPORT, QRY_KEY_DPORT,
	QRY_KEY_PROTO, QRY_KEY_ACTION, QRY_KEY_DIRECTION, QRY_KEY_RULE,
	QRY_KEY_LAYER, QRY_KEY_L2, QRY_KEY_KIND, QRY_KEY_TCPFLAGS,
	QRY_KEY_IPVER, QRY_KEY_ETHERTYPE, QRY_KEY_ENI_INDEX,
	QRY_KEY_PEER,  /**< the remote end: dst for egress, src for ingress */
	QRY_KEY_LOCAL, /**< the ENI's end: src for egress, dst for ingress */
	QRY_KEY_TAG,   /**< a label given by the caller (qry_agg_add_tagged) */
	QRY_KEY_MAX
};

/** Aggregates. */
enum qry_agg {
	QRY_AGG_FLOWS,     /**< matching records */
	QRY_AGG_PACKETS,
	QRY_AGG_BYTES,
	QRY_AGG_BPS,       /**< bytes*8 / window seconds */
	QRY_AGG_PPS,       /**< packets / window seconds */
	QRY_AGG_DISTINCT_SRC, QRY_AGG_DISTINCT_DST,
	QRY_AGG_DISTINCT_SPORT, QRY_AGG_DISTINCT_DPORT,
	QRY_AGG_DISTINCT_ENI,
	QRY_AGG_FIRST,     /**< min first_ns */
	QRY_AGG_LAST,      /**< max last_ns */
	QRY_AGG_REJECTED,  /**< records with verdict REJECT */
	QRY_AGG_PEAK_BPS,  /**< highest bytes*8/s over windows of peak_ns */
	QRY_AGG_PEAK_PPS,  /**< highest packets/s over windows of peak_ns */
	QRY_AGG_MAX
};

#define QRY_MAX_KEYS 8
#define QRY_MAX_AGGS 12

/** An aggregation query. */
struct qry_agg_spec {
	enum qry_key keys[QRY_MAX_KEYS];
	unsigned n_keys;
	uint64_t bucket_ns;  /**< > 0: time series, adds a "time" key (bucket of first_ns) */
	enum qry_agg aggs[QRY_MAX_AGGS];
	unsigned n_aggs;
	/**
	 * Sort column: >= 0 is an index into aggs (descending unless ascending);
	 * -1 sorts by time then keys ascending.
	 */
	int order_by;
	bool ascending;
	uint64_t top;        /**< keep the first top rows (per bucket if bucket_ns); 0 all */
	/** Window for rates when bucket_ns is 0; 0 = data span (max last - min first). */
	uint64_t window_ns;
	/** Window of peak_bps/peak_pps (records count in the window of first_ns); 0 = 1 s. */
	uint64_t peak_ns;
};

/**
 * Parse a comma-separated list of key names ("src,dport,eni") into spec.
 * Returns 0 or -EINVAL with err->column at the bad name.
 */
int qry_parse_keys(const char *list, struct qry_agg_spec *spec, struct qry_err *err);
/** Parse "flows,bytes,distinct(dst),bps" into spec. 0 or -EINVAL. */
int qry_parse_aggs(const char *list, struct qry_agg_spec *spec, struct qry_err *err);
const char *qry_key_name(enum qry_key k);
const char *qry_agg_name(enum qry_agg a);
/** Index of agg name in spec->aggs, or -1. */
int qry_spec_find_agg(const struct qry_agg_spec *spec, const char *name);

struct qry_agg_state;

/** Start an aggregation. NULL + errno (EINVAL bad spec, ENOMEM). */
struct qry_agg_state *qry_agg_create(const struct qry_agg_spec *spec,
				     const struct qry_limits *limits);
void qry_agg_destroy(struct qry_agg_state *a);
/** A file begins: map its ENI dictionary to names. 0 or -ENOMEM. */
int qry_agg_begin_file(struct qry_agg_state *a, const struct seg_header_info *hdr);
/** Add one record. 0, -ENOSPC (limit) or -ENOMEM. */
int qry_agg_add(struct qry_agg_state *a, const struct rec_flow *r);
/**
 * Add the records recs[idx[0..n-1]]; same result as qry_agg_add on each, in
 * order, but with memory loads overlapped. 0 or -errno (then some of them
 * were added).
 */
int qry_agg_add_burst(struct qry_agg_state *a, const struct rec_flow *recs, const uint32_t *idx,
		      size_t n);
/** Add one record under a caller-given label (the "tag" key). 0 or -errno. */
int qry_agg_add_tagged(struct qry_agg_state *a, const struct rec_flow *r, const char *tag);
/** min first_ns and max last_ns of the records added (UINT64_MAX/0 if none). */
void qry_agg_time_span(const struct qry_agg_state *a, uint64_t *first_ns, uint64_t *last_ns);
/** Groups so far. */
uint64_t qry_agg_groups(const struct qry_agg_state *a);
/** Sort, cut, and build the result table (new; caller destroys). NULL + errno. */
struct qry_table *qry_agg_finish(struct qry_agg_state *a);

/**
 * The whole thing: scan paths with opts, aggregate with spec, return the
 * table (caller owns). NULL + errno with err filled; stats filled either way.
 */
struct qry_table *qry_run(const char *const *paths, size_t n_paths,
			  const struct qry_scan_opts *opts, const struct qry_agg_spec *spec,
			  struct qry_stats *stats, struct qry_err *err);

/* ------------------------------------------------------------ parameters */

#define QRY_PARAMS_MAX_SETTINGS 32

/**
 * A query as named text parameters: what `eniflow query|top|detect` options
 * and the REST query strings (/v1/query, /v1/detections/{name}) carry, so
 * both parse them alike. Zero-initialise, qry_params_set() each parameter,
 * qry_params_build(), use scan/spec/format/settings, qry_params_clear().
 */
struct qry_params {
	struct qry_scan_opts scan;  /**< range, compiled filter (owned), limits */
	struct qry_agg_spec spec;   /**< filled by qry_params_build() */
	enum qry_format format;     /**< table unless format_set */
	bool format_set;
	bool aggregate;             /**< group_by, agg, order, top or bucket was given */
	uint64_t limit;             /**< records to list without aggregation; 0 all */
	char *keys, *aggs, *order;  /**< as given (owned) */
	char *settings[QRY_PARAMS_MAX_SETTINGS]; /**< detection "k=v" (owned) */
	size_t n_settings;
};

/**
 * Set parameter name to value. Names: since, until (times), filter,
 * group_by, agg, order, asc, top, bucket, format, limit, max_records,
 * max_groups, max_distinct, timeout (a duration from now), set (a detection
 * setting "k=v", repeatable). Returns 0, -EINVAL with err->msg starting
 * "NAME: " (filter errors keep their column and caret), or -ENOMEM.
 */
int qry_params_set(struct qry_params *p, const char *name, const char *value,
		   struct qry_err *err);
/**
 * Check the whole request and fill p->spec (top_defaults: group by src,
 * order by bytes, top 10, as `eniflow top`). 0 or -EINVAL with err.
 */
int qry_params_build(struct qry_params *p, bool top_defaults, struct qry_err *err);
/** Free what p owns and zero it. NULL is a no-op. */
void qry_params_clear(struct qry_params *p);

/* ------------------------------------------------------------- utilities */

/**
 * Parse a time: ISO 8601 UTC ("2026-11-28T09:00:00Z", fractional seconds
 * and "+hh:mm" offsets allowed, date alone allowed), ns since epoch
 * ("@1700000000000000000"), or relative to now_ns ("1h", "30m", "2d",
 * "90s" = now minus that). Returns 0 or -EINVAL.
 */
int qry_parse_time(const char *s, uint64_t now_ns, uint64_t *out_ns);
/** Parse a duration "500ms", "10s", "5m", "1h", "1d"; bare number = seconds. */
int qry_parse_duration(const char *s, uint64_t *out_ns);
/** Wall clock (CLOCK_REALTIME) in ns. */
uint64_t qry_wall_ns(void);

#endif /* ENIFLOW_QUERY_H */
