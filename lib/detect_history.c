/*
 * detect_history.c - detections that compare against what came before or
 * against a configured list: policy optimisation (rules never matched or
 * used by few ports), uncommon protocols and rare ports, and hour-of-week
 * baselines.
 *
 * Design: as in detect.c the counting is done by the query aggregator;
 * here finish walks the aggregated rows (sorted by key, so rows of one
 * rule or one ENI are adjacent) and compares them. "Recent" means the last
 * `recent` of the query range, whose end is --until or the time of the run.
 */
#include "detect.h"
#include "detect_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------- policy optimisation */

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

/* "100,200-210" -> sorted rule ids. */
static int parse_rules(struct qry_det *d, const char *s)
{
	const char *p = s;

	while (*p) {
		char *end;
		unsigned long lo = strtoul(p, &end, 10), hi = lo;
		if (end == p)
			return det_fail(d, "policy: rules: bad rule id at '%s'", p);
		if (*end == '-') {
			p = end + 1;
			hi = strtoul(p, &end, 10);
			if (end == p || hi < lo || hi - lo > 1000000)
				return det_fail(d, "policy: rules: bad range at '%s'", p);
		}
		if (hi > UINT32_MAX)
			return det_fail(d, "policy: rules: id %lu too large", hi);
		for (unsigned long r = lo; r <= hi; r++) {
			if (!(d->n_rules & (d->n_rules + 1)) || !d->rules) {
				uint32_t *n = realloc(d->rules, (d->n_rules * 2 + 2) * sizeof(*n));
				if (!n)
					return -ENOMEM;
				d->rules = n;
			}
			d->rules[d->n_rules++] = (uint32_t)r;
		}
		if (*end && *end != ',')
			return det_fail(d, "policy: rules: expected ',' at '%s'", end);
		p = *end ? end + 1 : end;
	}
	if (d->n_rules)
		qsort(d->rules, d->n_rules, sizeof(*d->rules), cmp_u32);
	return 0;
}

int policy_init(struct qry_det *d)
{
	int rc;

	if (det_num(d, "max_ports", &d->th[0]) || det_num(d, "min_flows", &d->th[1]))
		return -EINVAL;
	rc = parse_rules(d, det_str(d, "rules"));
	if (rc)
		return rc;
	d->agg[0] = det_agg(d, "rule,dport", "flows", -1, 0, 0);
	return d->agg[0] ? 0 : -errno;
}

int policy_add(struct qry_det *d, const struct rec_flow *r)
{
	if (r->kind != REC_KIND_FLOW || !r->rule_id)
		return 0;
	return qry_agg_add(d->agg[0], r);
}

static int policy_row(struct qry_table *out, uint64_t rule, const char *finding, uint64_t flows,
		      uint64_t nports, const char *ports)
{
	struct qry_cell *row = qry_table_add_row(out);

	if (!row)
		return -ENOMEM;
	row[0].u = rule;
	row[2].u = flows;
	row[3].u = nports;
	if (qry_cell_set_str(&row[1], finding) || qry_cell_set_str(&row[4], ports))
		return -ENOMEM;
	return 0;
}

/* Rows of in are sorted by (rule, dport): one run per rule. */
static int policy_walk(struct qry_det *d, const struct qry_table *in, struct qry_table *out)
{
	size_t next_cfg = 0;
	int rc = 0;

	for (uint32_t r = 0; r < in->n_rows && !rc;) {
		uint64_t rule = tcell(in, r, "rule")->u, flows = 0, n = 0;
		char ports[256] = "";
		size_t len = 0;
		for (; r < in->n_rows && tcell(in, r, "rule")->u == rule; r++, n++) {
			flows += tcell(in, r, "flows")->u;
			if (len < sizeof(ports) - 8)
				len += (size_t)snprintf(ports + len, sizeof(ports) - len, "%s%llu",
							len ? "," : "",
							(unsigned long long)tcell(in, r, "dport")->u);
		}
		for (; next_cfg < d->n_rules && d->rules[next_cfg] < rule && !rc; next_cfg++)
			rc = policy_row(out, d->rules[next_cfg], "never-matched", 0, 0, "");
		if (next_cfg < d->n_rules && d->rules[next_cfg] == rule)
			next_cfg++;
		if (!rc && (double)n <= d->th[0] && (double)flows >= d->th[1])
			rc = policy_row(out, rule, "few-ports", flows, n, ports);
	}
	for (; next_cfg < d->n_rules && !rc; next_cfg++)
		if (!next_cfg || d->rules[next_cfg] != d->rules[next_cfg - 1])
			rc = policy_row(out, d->rules[next_cfg], "never-matched", 0, 0, "");
	return rc;
}

struct qry_table *policy_finish(struct qry_det *d)
{
	static const char *const names[] = {"rule", "finding", "flows", "dports", "ports"};
	static const enum qry_col_type types[] = {QRY_COL_U64, QRY_COL_STR, QRY_COL_U64, QRY_COL_U64,
						  QRY_COL_STR};
	struct qry_table *in = qry_agg_finish(d->agg[0]), *out = qry_table_create(5, names, types);
	int rc = in && out ? policy_walk(d, in, out) : -ENOMEM;

	qry_table_destroy(in);
	if (rc) {
		qry_table_destroy(out);
		errno = -rc;
		return NULL;
	}
	if (!d->n_rules)
		qry_table_set_note(out, "no rule list given (rules=...): never-matched rules cannot be found");
	return out;
}

/* ------------------------------------------------------- uncommon protocols */

int uncommon_init(struct qry_det *d)
{
	char buf[512], *save = NULL;
	uint64_t recent;

	if (det_dur(d, "recent", &recent) || det_num(d, "rare_max", &d->th[0]))
		return -EINVAL;
	d->recent_ns = recent;
	snprintf(buf, sizeof(buf), "%s", det_str(d, "protos"));
	for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		int found = -1;
		char *end;
		unsigned long n = strtoul(p, &end, 10);
		if (!*end && end != p && n < 256)
			found = (int)n;
		for (int i = 0; i < 256 && found < 0; i++)
			if (rec_proto_name((uint8_t)i) && !strcmp(rec_proto_name((uint8_t)i), p))
				found = i;
		if (found < 0)
			return det_fail(d, "uncommon: protos: unknown protocol '%s'", p);
		d->protos[found] = true;
	}
	d->agg[0] = det_agg(d, "eni,proto,peer", "flows,packets,bytes,first", 0, 0, 0);
	d->agg[1] = det_agg(d, "eni,dport,tag", "flows,first", -1, 0, 0);
	return d->agg[0] && d->agg[1] ? 0 : -errno;
}

int uncommon_add(struct qry_det *d, const struct rec_flow *r)
{
	if (r->kind != REC_KIND_FLOW || !r->ip_version)
		return 0;
	if (!d->protos[r->protocol])
		return qry_agg_add(d->agg[0], r);
	if (r->protocol != 6 && r->protocol != 17)
		return 0;
	bool recent = r->first_ns + d->recent_ns >= d->end_ns;
	return qry_agg_add_tagged(d->agg[1], r, recent ? "recent" : "history");
}

static int uncommon_row(struct qry_table *out, const char *finding, const char *eni,
			const char *proto, uint64_t port, const char *peer, uint64_t flows,
			uint64_t hist)
{
	struct qry_cell *row = qry_table_add_row(out);

	if (!row)
		return -ENOMEM;
	row[3].u = port;
	row[5].u = flows;
	row[6].u = hist;
	if (qry_cell_set_str(&row[0], finding) || qry_cell_set_str(&row[1], eni) ||
	    qry_cell_set_str(&row[2], proto) || qry_cell_set_str(&row[4], peer))
		return -ENOMEM;
	return 0;
}

/* Rows sorted by (eni, dport, tag): "history" sorts before "recent". */
static int rare_ports(struct qry_det *d, const struct qry_table *t, struct qry_table *out)
{
	int rc = 0;

	for (uint32_t r = 0; r < t->n_rows && !rc;) {
		const char *eni = tcell(t, r, "eni")->s;
		uint32_t start = r;
		uint64_t eni_hist = 0;
		for (; r < t->n_rows && !strcmp(tcell(t, r, "eni")->s, eni); r++)
			if (!strcmp(tcell(t, r, "tag")->s, "history"))
				eni_hist += tcell(t, r, "flows")->u;
		if (!eni_hist)
			continue; /* no history for this ENI: everything would look new */
		for (uint32_t k = start; k < r && !rc; k++) {
			if (strcmp(tcell(t, k, "tag")->s, "recent"))
				continue;
			uint64_t port = tcell(t, k, "dport")->u, hist = 0;
			if (k > start && tcell(t, k - 1, "dport")->u == port &&
			    !strcmp(tcell(t, k - 1, "tag")->s, "history"))
				hist = tcell(t, k - 1, "flows")->u;
			if ((double)hist <= d->th[0])
				rc = uncommon_row(out, "rare-port", eni, "-", port, "-",
						  tcell(t, k, "flows")->u, hist);
		}
	}
	return rc;
}

struct qry_table *uncommon_finish(struct qry_det *d)
{
	static const char *const names[] = {"finding", "eni", "proto", "dport", "peer", "flows",
					    "history_flows"};
	static const enum qry_col_type types[] = {QRY_COL_STR, QRY_COL_STR, QRY_COL_STR, QRY_COL_U64,
						  QRY_COL_STR, QRY_COL_U64, QRY_COL_U64};
	struct qry_table *p = qry_agg_finish(d->agg[0]), *q = qry_agg_finish(d->agg[1]);
	struct qry_table *out = qry_table_create(7, names, types);
	int rc = p && q && out ? 0 : -ENOMEM;

	for (uint32_t r = 0; p && r < p->n_rows && !rc; r++)
		rc = uncommon_row(out, "protocol", tcell(p, r, "eni")->s, tcell(p, r, "proto")->s, 0,
				  tcell(p, r, "peer")->s, tcell(p, r, "flows")->u, 0);
	if (!rc)
		rc = rare_ports(d, q, out);
	qry_table_destroy(p);
	qry_table_destroy(q);
	if (rc) {
		qry_table_destroy(out);
		errno = -rc;
		return NULL;
	}
	return out;
}

/* ------------------------------------------------------------- baselines */

#define HOURS_PER_WEEK 168
#define HOUR_NS 3600000000000ull

int baseline_init(struct qry_det *d)
{
	if (det_num(d, "z", &d->th[0]) || det_num(d, "min_samples", &d->th[1]))
		return -EINVAL;
	d->agg[0] = det_agg(d, "eni", "bytes,packets,flows", -1, HOUR_NS, 0);
	return d->agg[0] ? 0 : -errno;
}

int baseline_add(struct qry_det *d, const struct rec_flow *r)
{
	return r->kind == REC_KIND_FLOW ? qry_agg_add(d->agg[0], r) : 0;
}

static unsigned hour_of_week(uint64_t ns)
{
	/* 1970-01-01 was a Thursday; count from Monday 00:00 UTC. */
	return (unsigned)((ns / HOUR_NS + 3 * 24) % HOURS_PER_WEEK);
}

/* Rows ordered by (ENI, hour of week): each run is one baseline's samples. */
static int cmp_how(const void *x, const void *y, void *arg)
{
	const struct qry_table *t = arg;
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	int c = strcmp(tcell(t, a, "eni")->s, tcell(t, b, "eni")->s);
	unsigned ha = hour_of_week(tcell(t, a, "time")->u), hb = hour_of_week(tcell(t, b, "time")->u);

	if (c)
		return c;
	if (ha != hb)
		return ha < hb ? -1 : 1;
	return a < b ? -1 : a > b;
}

static int baseline_row(struct qry_table *out, const struct qry_table *t, uint32_t r,
			const char *metric, double x, double mean, double spread, double n)
{
	struct qry_cell *row = qry_table_add_row(out);

	if (!row)
		return -ENOMEM;
	row[0].u = tcell(t, r, "time")->u;
	row[3].u = (uint64_t)x;
	row[4].d = mean;
	row[5].d = spread > 0 ? (x - mean) / spread : 0;
	row[6].u = (uint64_t)n;
	if (qry_cell_set_str(&row[1], tcell(t, r, "eni")->s) || qry_cell_set_str(&row[2], metric))
		return -ENOMEM;
	return 0;
}

/*
 * One run of rows (same ENI and hour of week): each row is compared with
 * the others of its run (sums minus itself), so the whole check is
 * O(n log n) in the rows rather than quadratic.
 */
static int baseline_run(struct qry_det *d, const struct qry_table *t, const uint32_t *run,
			uint32_t len, const char *metric, struct qry_table *out)
{
	double sum = 0, sq = 0, n = (double)len - 1;
	int rc = 0;

	if (n < d->th[1] || n < 1)
		return 0;
	for (uint32_t i = 0; i < len; i++) {
		double v = (double)tcell(t, run[i], metric)->u;
		sum += v;
		sq += v * v;
	}
	for (uint32_t i = 0; i < len && !rc; i++) {
		double x = (double)tcell(t, run[i], metric)->u;
		double mean = (sum - x) / n, sd = sqrt(fmax((sq - x * x) / n - mean * mean, 0));
		double spread = fmax(sd, 0.1 * mean);
		if (x > mean + d->th[0] * spread)
			rc = baseline_row(out, t, run[i], metric, x, mean, spread, n);
	}
	return rc;
}

static int cmp_out(const void *x, const void *y)
{
	const struct qry_cell *a = x, *b = y; /* first cell of a row: time */

	return a->u < b->u ? -1 : a->u > b->u;
}

struct qry_table *baseline_finish(struct qry_det *d)
{
	static const char *const names[] = {"time", "eni", "metric", "value", "baseline_mean",
					    "score", "samples"};
	static const enum qry_col_type types[] = {QRY_COL_TIME, QRY_COL_STR, QRY_COL_STR, QRY_COL_U64,
						  QRY_COL_F64, QRY_COL_F64, QRY_COL_U64};
	static const char *const metrics[] = {"bytes", "packets", "flows"};
	struct qry_table *t = qry_agg_finish(d->agg[0]), *out = qry_table_create(7, names, types);
	uint32_t *idx = t ? malloc(((size_t)t->n_rows + 1) * sizeof(*idx)) : NULL;
	int rc = t && out && idx ? 0 : -ENOMEM;

	for (uint32_t i = 0; !rc && i < t->n_rows; i++)
		idx[i] = i;
	if (!rc && t->n_rows)
		qsort_r(idx, t->n_rows, sizeof(*idx), cmp_how, t);
	for (uint32_t s = 0, e; !rc && s < t->n_rows; s = e) {
		const char *eni = tcell(t, idx[s], "eni")->s;
		unsigned how = hour_of_week(tcell(t, idx[s], "time")->u);
		for (e = s + 1; e < t->n_rows && hour_of_week(tcell(t, idx[e], "time")->u) == how &&
				!strcmp(tcell(t, idx[e], "eni")->s, eni);
		     e++)
			;
		for (int m = 0; m < 3 && !rc; m++)
			rc = baseline_run(d, t, idx + s, e - s, metrics[m], out);
	}
	/* findings in time order (rows are whole cells: sort row-wise on the time cell) */
	if (!rc && out->n_rows > 1)
		qsort(out->cells, out->n_rows, sizeof(*out->cells) * out->n_cols, cmp_out);
	free(idx);
	qry_table_destroy(t);
	if (rc) {
		qry_table_destroy(out);
		errno = -rc;
		return NULL;
	}
	return out;
}
