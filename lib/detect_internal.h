/*
 * detect_internal.h - what detect.c and detect_history.c share: the
 * detection vtable, the per-run state and small table helpers.
 */
#ifndef ENIFLOW_DETECT_INTERNAL_H
#define ENIFLOW_DETECT_INTERNAL_H

#include "detect.h"
#include "threatlist.h"

#define DET_MAX_AGGS 3

struct qry_det;

struct det_def {
	struct qry_det_info info;
	int (*init)(struct qry_det *d);          /* read settings, create aggregators */
	int (*add)(struct qry_det *d, const struct rec_flow *r);
	struct qry_table *(*finish)(struct qry_det *d);
};

struct qry_det {
	const struct det_def *def;
	const struct qry_det_info *info;
	char *vals[QRY_DET_MAX_PARAMS];   /* settings given; NULL = default */
	struct qry_err *err;
	struct qry_limits limits;
	uint64_t since_ns, until_ns;
	uint64_t end_ns;                  /* until, or "now" when open */
	uint64_t window_ns, recent_ns, top;
	double th[4];                     /* numeric thresholds, per detection */
	struct qry_agg_state *agg[DET_MAX_AGGS];
	struct qry_threat *threat;
	bool protos[256];                 /* uncommon: expected protocols */
	uint32_t *rules;                  /* policy: configured rule ids, sorted */
	size_t n_rules;
	void *geo;                        /* geo: the MMDB handle */
};

/* settings */
const char *det_str(const struct qry_det *d, const char *name);
int det_dur(struct qry_det *d, const char *name, uint64_t *out);
int det_num(struct qry_det *d, const char *name, double *out);
int det_fail(struct qry_det *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct qry_agg_state *det_agg(struct qry_det *d, const char *keys, const char *aggs, int order_by,
			      uint64_t bucket_ns, uint64_t peak_ns);
double det_span_s(const struct qry_det *d, const struct qry_agg_state *a);

/* tables */
int tcol(const struct qry_table *t, const char *name);
struct qry_cell *tcell(const struct qry_table *t, uint32_t row, const char *name);
int trename(struct qry_table *t, const char *from, const char *to);
void ttrunc(struct qry_table *t, uint64_t n);

/* detect_history.c */
int policy_init(struct qry_det *d);
int policy_add(struct qry_det *d, const struct rec_flow *r);
struct qry_table *policy_finish(struct qry_det *d);
int uncommon_init(struct qry_det *d);
int uncommon_add(struct qry_det *d, const struct rec_flow *r);
struct qry_table *uncommon_finish(struct qry_det *d);
int baseline_init(struct qry_det *d);
int baseline_add(struct qry_det *d, const struct rec_flow *r);
struct qry_table *baseline_finish(struct qry_det *d);

/* detect_geo.c */
int geo_init(struct qry_det *d);
int geo_add(struct qry_det *d, const struct rec_flow *r);
struct qry_table *geo_finish(struct qry_det *d);
void det_geo_close(struct qry_det *d);

#endif /* ENIFLOW_DETECT_INTERNAL_H */
