/*
 * detect.c - the detection registry, settings, and the detections built
 * directly from one or two aggregations (bandwidth hogs, storms, why was it
 * dropped, scanners, known-threat traffic).
 *
 * Design: a detection is a small vtable over struct qry_det: init reads its
 * settings and creates aggregators, add routes each record into them, and
 * finish turns the aggregated tables into findings. All counting is done by
 * the query engine's aggregator, so detections inherit its limits and its
 * tests; the detections in detect_history.c compare windows with history.
 */
#include "detect.h"
#include "detect_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- settings */

const char *det_str(const struct qry_det *d, const char *name)
{
	for (int i = 0; i < QRY_DET_MAX_PARAMS && d->info->params[i].name; i++)
		if (!strcmp(d->info->params[i].name, name))
			return d->vals[i] ? d->vals[i] : d->info->params[i].def;
	return "";
}

int det_dur(struct qry_det *d, const char *name, uint64_t *out)
{
	if (qry_parse_duration(det_str(d, name), out) || !*out)
		return det_fail(d, "%s: %s must be a duration > 0 (e.g. 10s, 5m), got '%s'",
				d->info->name, name, det_str(d, name));
	return 0;
}

int det_num(struct qry_det *d, const char *name, double *out)
{
	char *end;
	const char *s = det_str(d, name);

	*out = strtod(s, &end);
	if (!*s || *end || *out < 0)
		return det_fail(d, "%s: %s must be a number >= 0, got '%s'", d->info->name, name, s);
	return 0;
}

int det_fail(struct qry_det *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err->msg, sizeof(d->err->msg), fmt, ap);
	va_end(ap);
	d->err->column = 0;
	return -EINVAL;
}

/* Aggregator with keys, aggregates, order (agg index or -1) and bucket. */
struct qry_agg_state *det_agg(struct qry_det *d, const char *keys, const char *aggs, int order_by,
			      uint64_t bucket_ns, uint64_t peak_ns)
{
	struct qry_agg_spec s = {.order_by = order_by, .bucket_ns = bucket_ns, .peak_ns = peak_ns};
	struct qry_agg_state *a;

	if (qry_parse_keys(keys, &s, d->err) || qry_parse_aggs(aggs, &s, d->err)) {
		errno = EINVAL;
		return NULL;
	}
	if (d->until_ns > d->since_ns && d->since_ns)
		s.window_ns = d->until_ns - d->since_ns;
	a = qry_agg_create(&s, &d->limits);
	if (!a)
		snprintf(d->err->msg, sizeof(d->err->msg), "%s: out of memory", d->info->name);
	return a;
}

/* ---------------------------------------------------------- table helpers */

int tcol(const struct qry_table *t, const char *name)
{
	for (uint32_t c = 0; c < t->n_cols; c++)
		if (!strcmp(t->col_names[c], name))
			return (int)c;
	return -1;
}

struct qry_cell *tcell(const struct qry_table *t, uint32_t row, const char *name)
{
	int c = tcol(t, name);

	return c < 0 ? NULL : &t->cells[(size_t)row * t->n_cols + (uint32_t)c];
}

void ttrunc(struct qry_table *t, uint64_t n)
{
	if (!n || t->n_rows <= n)
		return;
	for (uint32_t r = (uint32_t)n; r < t->n_rows; r++)
		for (uint32_t c = 0; c < t->n_cols; c++)
			if (t->col_types[c] == QRY_COL_STR)
				free(t->cells[(size_t)r * t->n_cols + c].s);
	t->n_rows = (uint32_t)n;
}

double det_span_s(const struct qry_det *d, const struct qry_agg_state *a)
{
	uint64_t first, last;

	if (d->since_ns && d->until_ns > d->since_ns)
		return (double)(d->until_ns - d->since_ns) / 1e9;
	qry_agg_time_span(a, &first, &last);
	return last > first ? (double)(last - first) / 1e9 : 1.0;
}

int trename(struct qry_table *t, const char *from, const char *to)
{
	int c = tcol(t, from);
	char *s;

	if (c < 0)
		return 0;
	s = strdup(to);
	if (!s)
		return -ENOMEM;
	free(t->col_names[c]);
	t->col_names[c] = s;
	return 0;
}

/* --------------------------------------------------------- bandwidth hogs */

static struct qry_table *top_finish(struct qry_det *d)
{
	struct qry_table *t = qry_agg_finish(d->agg[0]);

	if (t)
		ttrunc(t, d->top);
	return t;
}


static int hogs_init(struct qry_det *d)
{
	const char *by = det_str(d, "by");
	uint64_t w;
	double top;

	if (det_dur(d, "window", &w) || det_num(d, "top", &top))
		return -EINVAL;
	if (strcmp(by, "eni") && strcmp(by, "peer") && strcmp(by, "eni,peer"))
		return det_fail(d, "hogs: by must be eni, peer or eni,peer, got '%s'", by);
	d->agg[0] = det_agg(d, by, "bytes,packets,flows,bps,peak_bps", 0, 0, w);
	if (!d->agg[0])
		return -errno;
	d->top = (uint64_t)top;
	return 0;
}

static int hogs_add(struct qry_det *d, const struct rec_flow *r)
{
	return r->kind == REC_KIND_FLOW ? qry_agg_add(d->agg[0], r) : 0;
}

static struct qry_table *hogs_finish(struct qry_det *d)
{
	struct qry_table *t = top_finish(d);

	if (t && (trename(t, "bps", "avg_bps") || trename(t, "peak_bps", "peak_bps_window"))) {
		qry_table_destroy(t);
		return NULL;
	}
	return t;
}

/* ------------------------------------------------- broadcast/multicast storm */

static int storm_init(struct qry_det *d)
{
	uint64_t w;

	if (det_dur(d, "window", &w) || det_num(d, "pps", &d->th[0]) ||
	    det_num(d, "factor", &d->th[1]) || det_num(d, "min_pps", &d->th[2]))
		return -EINVAL;
	d->window_ns = w;
	d->agg[0] = det_agg(d, "eni", "packets,bytes", -1, w, 0);   /* per window */
	d->agg[1] = det_agg(d, "eni", "packets", -1, 0, 0);         /* whole range */
	return d->agg[0] && d->agg[1] ? 0 : -errno;
}

static int storm_add(struct qry_det *d, const struct rec_flow *r)
{
	int rc;

	if (r->kind != REC_KIND_FLOW || r->l2_class == REC_L2_UNICAST)
		return 0;
	rc = qry_agg_add(d->agg[0], r);
	return rc ? rc : qry_agg_add(d->agg[1], r);
}

static struct qry_table *storm_finish(struct qry_det *d)
{
	static const char *const names[] = {"time", "eni", "pps", "baseline_pps", "packets", "reason"};
	static const enum qry_col_type types[] = {QRY_COL_TIME, QRY_COL_STR, QRY_COL_F64,
						  QRY_COL_F64, QRY_COL_U64, QRY_COL_STR};
	struct qry_table *w = qry_agg_finish(d->agg[0]), *tot = qry_agg_finish(d->agg[1]);
	struct qry_table *out = qry_table_create(6, names, types);
	double win_s = (double)d->window_ns / 1e9, span_s = det_span_s(d, d->agg[1]);

	if (!w || !tot || !out)
		goto fail;
	for (uint32_t r = 0; r < w->n_rows; r++) {
		const char *eni = tcell(w, r, "eni")->s;
		double pps = (double)tcell(w, r, "packets")->u / win_s, base = 0;
		/* tot is sorted by ENI name: binary search */
		uint32_t lo = 0, hi = tot->n_rows;
		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;
			if (strcmp(tcell(tot, mid, "eni")->s, eni) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < tot->n_rows && !strcmp(tcell(tot, lo, "eni")->s, eni))
			base = (double)tcell(tot, lo, "packets")->u / span_s;
		const char *why = pps >= d->th[0] ? "over pps threshold"
				  : (pps >= d->th[2] && pps >= d->th[1] * base) ? "over baseline"
										 : NULL;
		if (!why)
			continue;
		struct qry_cell *row = qry_table_add_row(out);
		if (!row)
			goto fail;
		row[0].u = tcell(w, r, "time")->u;
		row[2].d = pps;
		row[3].d = base;
		row[4].u = tcell(w, r, "packets")->u;
		if (qry_cell_set_str(&row[1], eni) || qry_cell_set_str(&row[5], why))
			goto fail;
	}
	qry_table_destroy(w);
	qry_table_destroy(tot);
	return out;
fail:
	qry_table_destroy(w);
	qry_table_destroy(tot);
	qry_table_destroy(out);
	errno = ENOMEM;
	return NULL;
}

/* ------------------------------------------------------ why was it dropped */

static int drops_init(struct qry_det *d)
{
	double top;

	if (det_num(d, "top", &top))
		return -EINVAL;
	d->top = (uint64_t)top;
	d->agg[0] = det_agg(d, "eni,direction,layer,rule,src,dst,proto,dport",
			    "flows,packets,bytes,first,last", 1, 0, 0);
	return d->agg[0] ? 0 : -errno;
}

static int drops_add(struct qry_det *d, const struct rec_flow *r)
{
	if (r->kind != REC_KIND_FLOW || r->verdict != REC_VERDICT_REJECT)
		return 0;
	return qry_agg_add(d->agg[0], r);
}


/* -------------------------------------------------------------- scanners */

static int scan_init(struct qry_det *d)
{
	uint64_t w;

	if (det_dur(d, "window", &w) || det_num(d, "min_dsts", &d->th[0]) ||
	    det_num(d, "min_ports", &d->th[1]))
		return -EINVAL;
	d->agg[0] = det_agg(d, "src", "distinct(dst),flows,rejected", -1, w, 0);
	d->agg[1] = det_agg(d, "src,dst", "distinct(dport),flows,rejected", -1, w, 0);
	return d->agg[0] && d->agg[1] ? 0 : -errno;
}

static int scan_add(struct qry_det *d, const struct rec_flow *r)
{
	int rc;

	if (r->kind != REC_KIND_FLOW || !r->ip_version)
		return 0;
	rc = qry_agg_add(d->agg[0], r);
	return rc ? rc : qry_agg_add(d->agg[1], r);
}

static int scan_rows(struct qry_table *out, struct qry_table *in, const char *what,
		     const char *count_col, double min)
{
	for (uint32_t r = 0; r < in->n_rows; r++) {
		uint64_t n = tcell(in, r, count_col)->u, flows = tcell(in, r, "flows")->u;
		if ((double)n < min || !n)
			continue;
		struct qry_cell *row = qry_table_add_row(out);
		struct qry_cell *dst = tcell(in, r, "dst");
		if (!row)
			return -ENOMEM;
		row[0].u = tcell(in, r, "time")->u;
		row[4].u = n;
		row[5].u = flows;
		row[6].d = flows ? (double)tcell(in, r, "rejected")->u / (double)flows : 0;
		if (qry_cell_set_str(&row[1], tcell(in, r, "src")->s) || qry_cell_set_str(&row[2], what) ||
		    qry_cell_set_str(&row[3], dst ? dst->s : "-"))
			return -ENOMEM;
	}
	return 0;
}

static struct qry_table *scan_finish(struct qry_det *d)
{
	static const char *const names[] = {"time", "src", "kind", "target", "distinct", "flows",
					    "reject_share"};
	static const enum qry_col_type types[] = {QRY_COL_TIME, QRY_COL_STR, QRY_COL_STR, QRY_COL_STR,
						  QRY_COL_U64, QRY_COL_U64, QRY_COL_F64};
	struct qry_table *a = qry_agg_finish(d->agg[0]), *b = qry_agg_finish(d->agg[1]);
	struct qry_table *out = qry_table_create(7, names, types);
	int rc = -ENOMEM;

	if (a && b && out)
		rc = scan_rows(out, a, "hosts", "distinct(dst)", d->th[0]);
	if (!rc)
		rc = scan_rows(out, b, "ports", "distinct(dport)", d->th[1]);
	qry_table_destroy(a);
	qry_table_destroy(b);
	if (rc) {
		qry_table_destroy(out);
		errno = -rc;
		return NULL;
	}
	return out;
}

/* ----------------------------------------------------- known-threat traffic */

static int threat_init(struct qry_det *d)
{
	const char *lists = det_str(d, "lists");
	char buf[4096], *save = NULL;

	if (!*lists)
		return det_fail(d, "threats: no threat list given (set lists=FILE[,FILE...])");
	d->threat = qry_threat_create();
	if (!d->threat)
		return -ENOMEM;
	snprintf(buf, sizeof(buf), "%s", lists);
	for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		long n = qry_threat_load(d->threat, p, NULL, d->err);
		if (n < 0)
			return (int)n;
	}
	if (qry_threat_build(d->threat))
		return -ENOMEM;
	d->agg[0] = det_agg(d, "tag,eni,direction,action,src,dst,proto,dport",
			    "flows,packets,bytes,first,last", 2, 0, 0);
	return d->agg[0] ? 0 : -errno;
}

static int threat_add(struct qry_det *d, const struct rec_flow *r)
{
	const char *hit;

	if (r->kind != REC_KIND_FLOW || !r->ip_version)
		return 0;
	hit = qry_threat_lookup(d->threat, r->ip_version, r->src_addr);
	if (!hit)
		hit = qry_threat_lookup(d->threat, r->ip_version, r->dst_addr);
	return hit ? qry_agg_add_tagged(d->agg[0], r, hit) : 0;
}

static struct qry_table *threat_finish(struct qry_det *d)
{
	struct qry_table *t = qry_agg_finish(d->agg[0]);

	if (t && trename(t, "tag", "list")) {
		qry_table_destroy(t);
		return NULL;
	}
	if (t)
		qry_table_set_note(t, "%llu prefixes from lists: %s",
				   (unsigned long long)qry_threat_n_prefixes(d->threat), det_str(d, "lists"));
	return t;
}

/* -------------------------------------------------------------- SYN flood */

/* A TCP flow record that saw SYN but never ACK: a half-open attempt. */
static bool half_open(const struct rec_flow *r)
{
	return r->protocol == 6 && (r->tcp_flags & REC_TCP_SYN) && !(r->tcp_flags & REC_TCP_ACK);
}

static int flood_init(struct qry_det *d)
{
	uint64_t w;

	if (det_dur(d, "window", &w) || det_num(d, "min_flows", &d->th[0]) ||
	    det_num(d, "min_pps", &d->th[1]))
		return -EINVAL;
	d->window_ns = w;
	/* per target, and per (target, source) to name the biggest source */
	d->agg[0] = det_agg(d, "dst,dport", "flows,packets,distinct(src)", -1, w, 0);
	d->agg[1] = det_agg(d, "dst,dport,src", "packets", -1, w, 0);
	return d->agg[0] && d->agg[1] ? 0 : -errno;
}

static int flood_add(struct qry_det *d, const struct rec_flow *r)
{
	int rc;

	if (r->kind != REC_KIND_FLOW || !half_open(r))
		return 0;
	rc = qry_agg_add(d->agg[0], r);
	return rc ? rc : qry_agg_add(d->agg[1], r);
}

/* An address cell as the aggregator orders it: IP version, then the bytes. */
static void addr_key(const char *text, uint8_t k[17])
{
	memset(k, 0, 17);
	if (inet_pton(AF_INET, text, k + 1) == 1)
		k[0] = 4;
	else if (inet_pton(AF_INET6, text, k + 1) == 1)
		k[0] = 6;
}

/* Order of (time, dst, dport) of row a of x against row b of y, as the tables sort. */
static int same_target(const struct qry_table *x, uint32_t a, const struct qry_table *y, uint32_t b)
{
	uint64_t ta = tcell(x, a, "time")->u, tb = tcell(y, b, "time")->u;
	uint8_t ka[17], kb[17];
	int c;

	if (ta != tb)
		return ta < tb ? -1 : 1;
	addr_key(tcell(x, a, "dst")->s, ka);
	addr_key(tcell(y, b, "dst")->s, kb);
	c = memcmp(ka, kb, 17);
	if (c)
		return c;
	uint64_t pa = tcell(x, a, "dport")->u, pb = tcell(y, b, "dport")->u;
	return pa < pb ? -1 : pa > pb;
}

/*
 * Both tables are sorted by time, then dst, dport (then src): one merge
 * walk finds each flagged target's run of sources and its biggest one.
 */
static int flood_rows(struct qry_det *d, const struct qry_table *a, const struct qry_table *b,
		      struct qry_table *out)
{
	double win_s = (double)d->window_ns / 1e9;
	uint32_t j = 0;

	for (uint32_t r = 0; r < a->n_rows; r++) {
		uint64_t flows = tcell(a, r, "flows")->u, pk = tcell(a, r, "packets")->u;
		double pps = (double)pk / win_s;
		while (j < b->n_rows && same_target(a, r, b, j) > 0)
			j++;
		if ((double)flows < d->th[0] && pps < d->th[1])
			continue;
		const char *top = "-";
		uint64_t top_pk = 0;
		for (uint32_t k = j; k < b->n_rows && !same_target(a, r, b, k); k++)
			if (tcell(b, k, "packets")->u > top_pk) {
				top_pk = tcell(b, k, "packets")->u;
				top = tcell(b, k, "src")->s;
			}
		struct qry_cell *row = qry_table_add_row(out);
		if (!row)
			return -ENOMEM;
		row[0].u = tcell(a, r, "time")->u;
		row[2].u = tcell(a, r, "dport")->u;
		row[3].u = flows;
		row[4].d = pps;
		row[5].u = tcell(a, r, "distinct(src)")->u;
		row[7].d = pk ? (double)top_pk / (double)pk : 0;
		if (qry_cell_set_str(&row[1], tcell(a, r, "dst")->s) || qry_cell_set_str(&row[6], top))
			return -ENOMEM;
	}
	return 0;
}

static struct qry_table *flood_finish(struct qry_det *d)
{
	static const char *const names[] = {"time", "dst", "dport", "syn_flows", "syn_pps",
					    "sources", "top_src", "top_src_share"};
	static const enum qry_col_type types[] = {QRY_COL_TIME, QRY_COL_STR, QRY_COL_U64, QRY_COL_U64,
						  QRY_COL_F64, QRY_COL_U64, QRY_COL_STR, QRY_COL_F64};
	struct qry_table *a = qry_agg_finish(d->agg[0]), *b = qry_agg_finish(d->agg[1]);
	struct qry_table *out = qry_table_create(8, names, types);
	int rc = a && b && out ? flood_rows(d, a, b, out) : -ENOMEM;

	qry_table_destroy(a);
	qry_table_destroy(b);
	if (rc) {
		qry_table_destroy(out);
		errno = -rc;
		return NULL;
	}
	return out;
}

/* -------------------------------------------------------------- registry */

const struct det_def det_defs[] = {
	{{"hogs", "ENIs or remote peers by bytes, with average and peak bps per window",
	  {{"by", "eni", "group by eni, peer or eni,peer"},
	   {"window", "10s", "window of the peak rate"},
	   {"top", "10", "rows to keep (0 = all)"}}},
	 hogs_init, hogs_add, hogs_finish},
	{{"storm", "ENIs whose broadcast/multicast packets per second exceed a threshold or their baseline",
	  {{"window", "1s", "window over which pps is measured"},
	   {"pps", "1000", "flag a window at or above this many bcast+mcast packets/s"},
	   {"factor", "10", "or at or above factor x the ENI's mean over the range..."},
	   {"min_pps", "100", "...when also at or above this floor"}}},
	 storm_init, storm_add, storm_finish},
	{{"drops", "why was it dropped: each REJECT with layer (sg/acl), rule, ENI and direction",
	  {{"top", "0", "rows to keep, most packets first (0 = all)"}}},
	 drops_init, drops_add, top_finish},
	{{"policy", "rules never matched, and rules whose traffic all goes to a few ports",
	  {{"rules", "", "configured rule ids, e.g. 100,200-210 (for never-matched)"},
	   {"max_ports", "3", "a rule whose matched traffic used at most this many dports..."},
	   {"min_flows", "10", "...and at least this many flows is a candidate to tighten"}}},
	 policy_init, policy_add, policy_finish},
	{{"scanners", "sources touching many hosts, or many ports on one host, within a window",
	  {{"window", "60s", "window length"},
	   {"min_dsts", "100", "flag a source with at least this many distinct destinations"},
	   {"min_ports", "100", "flag a source with at least this many dports on one destination"}}},
	 scan_init, scan_add, scan_finish},
	{{"flood", "TCP SYN floods: targets receiving many half-open (SYN, no ACK) flows per window",
	  {{"window", "10s", "window length"},
	   {"min_flows", "1000", "flag a target (dst, dport) with at least this many half-open flows..."},
	   {"min_pps", "5000", "...or at least this many half-open packets per second"}}},
	 flood_init, flood_add, flood_finish},
	{{"threats", "flows to or from addresses on threat lists (plain, FireHOL netset, Spamhaus DROP)",
	  {{"lists", "", "comma-separated list files (required)"}}},
	 threat_init, threat_add, threat_finish},
	{{"uncommon", "IP protocols outside a set, and destination ports new or rare for an ENI",
	  {{"protos", "tcp,udp,icmp,icmpv6", "expected IP protocols"},
	   {"recent", "1h", "the window at the end of the range checked against the history before it"},
	   {"rare_max", "0", "a port with at most this many flows in the history is rare"}}},
	 uncommon_init, uncommon_add, uncommon_finish},
	{{"baseline", "hours whose bytes, packets or flows are far above the same hour of week",
	  {{"z", "3", "flag when value > mean + z * max(stddev, 10% of mean)"},
	   {"min_samples", "2", "same-hour-of-week samples needed for a baseline"}}},
	 baseline_init, baseline_add, baseline_finish},
	{{"geo", "remote addresses grouped by country, from an MMDB file",
	  {{"mmdb", "", "MMDB country database (e.g. geo-whois-asn-country)"},
	   {"top", "20", "rows to keep (0 = all)"}}},
	 geo_init, geo_add, geo_finish},
};

#define N_DEFS (sizeof(det_defs) / sizeof(det_defs[0]))

const struct qry_det_info *qry_det_list(size_t *n)
{
	static struct qry_det_info infos[N_DEFS];

	for (size_t i = 0; i < N_DEFS; i++)
		infos[i] = det_defs[i].info;
	*n = N_DEFS;
	return infos;
}

const struct qry_det_info *qry_det_find(const char *name)
{
	for (size_t i = 0; i < N_DEFS; i++)
		if (!strcmp(det_defs[i].info.name, name))
			return &det_defs[i].info;
	return NULL;
}

/* ------------------------------------------------------------- lifetime */

void qry_det_destroy(struct qry_det *d)
{
	if (!d)
		return;
	for (int i = 0; i < QRY_DET_MAX_PARAMS; i++)
		free(d->vals[i]);
	for (int i = 0; i < DET_MAX_AGGS; i++)
		qry_agg_destroy(d->agg[i]);
	qry_threat_destroy(d->threat);
	free(d->rules);
	det_geo_close(d);
	free(d);
}

/* Store one "name=value" setting. */
static int set_one(struct qry_det *d, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t len = eq ? (size_t)(eq - kv) : strlen(kv);

	for (int i = 0; i < QRY_DET_MAX_PARAMS && d->info->params[i].name; i++) {
		if (strlen(d->info->params[i].name) != len || strncmp(d->info->params[i].name, kv, len))
			continue;
		if (!eq)
			return det_fail(d, "%s: setting '%s' needs a value (%s=VALUE)", d->info->name, kv, kv);
		free(d->vals[i]);
		d->vals[i] = strdup(eq + 1);
		return d->vals[i] ? 0 : -ENOMEM;
	}
	return det_fail(d, "%s: unknown setting '%.*s' (see eniflow detect --list)", d->info->name,
			(int)len, kv);
}

struct qry_det *qry_det_create(const char *name, const char *const *settings, size_t n_settings,
			       uint64_t since_ns, uint64_t until_ns,
			       const struct qry_limits *limits, struct qry_err *err)
{
	const struct det_def *def = NULL;
	struct qry_det *d;
	int rc = 0;

	err->column = 0;
	err->msg[0] = '\0';
	for (size_t i = 0; i < N_DEFS; i++)
		if (!strcmp(det_defs[i].info.name, name))
			def = &det_defs[i];
	if (!def) {
		snprintf(err->msg, sizeof(err->msg), "unknown detection '%s' (see eniflow detect --list)",
			 name);
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->def = def;
	d->info = &def->info;
	d->err = err;
	d->since_ns = since_ns;
	d->until_ns = until_ns;
	d->end_ns = until_ns ? until_ns : qry_wall_ns();
	if (limits)
		d->limits = *limits;
	for (size_t i = 0; i < n_settings && !rc; i++)
		rc = set_one(d, settings[i]);
	if (!rc)
		rc = def->init(d);
	if (rc) {
		if (!err->msg[0])
			snprintf(err->msg, sizeof(err->msg), "%s: %s", name, strerror(-rc));
		qry_det_destroy(d);
		errno = -rc;
		return NULL;
	}
	return d;
}

int qry_det_begin_file(struct qry_det *d, const struct seg_header_info *hdr)
{
	for (int i = 0; i < DET_MAX_AGGS; i++)
		if (d->agg[i]) {
			int rc = qry_agg_begin_file(d->agg[i], hdr);
			if (rc)
				return rc;
		}
	return 0;
}

int qry_det_add(struct qry_det *d, const struct rec_flow *r)
{
	return d->def->add(d, r);
}

struct qry_table *qry_det_finish(struct qry_det *d, struct qry_err *err)
{
	struct qry_table *t = d->def->finish(d);

	if (!t) {
		int e = errno ? errno : ENOMEM;
		if (err && !err->msg[0])
			snprintf(err->msg, sizeof(err->msg), "%s: %s", d->info->name, strerror(e));
		errno = e;
	}
	return t;
}
