/*
 * query_params.c - a query given as named text parameters, the form both
 * the CLI options and the REST query string take.
 *
 * One parser for both, so `--since 1h` and `?since=1h` cannot drift apart
 * and every bad value gets the same message naming the parameter. Building
 * checks the whole request before anything is scanned.
 */
#include "query.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int bad(struct qry_err *err, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(struct qry_err *err, const char *name, const char *fmt, ...)
{
	char what[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(err->msg, sizeof(err->msg), "%s: %s", name, what);
	return -EINVAL;
}

static int set_u64(const char *name, const char *v, uint64_t min, uint64_t *out,
		   struct qry_err *err)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = v[0] >= '0' && v[0] <= '9' ? strtoull(v, &end, 10) : 0;
	if (v[0] < '0' || v[0] > '9' || errno || *end || x < min)
		return bad(err, name, "'%s' is not an integer >= %llu", v, (unsigned long long)min);
	*out = x;
	return 0;
}

static int set_text(char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

/* Parameters that change the aggregation. */
static int set_agg_param(struct qry_params *p, const char *name, const char *v,
			 struct qry_err *err)
{
	p->aggregate = true;
	if (!strcmp(name, "group_by"))
		return set_text(&p->keys, v);
	if (!strcmp(name, "agg"))
		return set_text(&p->aggs, v);
	if (!strcmp(name, "order"))
		return set_text(&p->order, v);
	if (!strcmp(name, "top"))
		return set_u64(name, v, 1, &p->spec.top, err);
	if (qry_parse_duration(v, &p->spec.bucket_ns) || !p->spec.bucket_ns)
		return bad(err, name, "'%s' is not a duration > 0 (e.g. 1m, 1h)", v);
	return 0;
}

int qry_params_set(struct qry_params *p, const char *name, const char *v, struct qry_err *err)
{
	uint64_t d;

	err->column = 0;
	err->msg[0] = '\0';
	if (!strcmp(name, "since") || !strcmp(name, "until")) {
		uint64_t *t = name[0] == 's' ? &p->scan.since_ns : &p->scan.until_ns;
		if (qry_parse_time(v, qry_wall_ns(), t))
			return bad(err, name, "'%s' is not a time (ISO 8601, @NS, or relative like 1h)", v);
		return 0;
	}
	if (!strcmp(name, "filter")) {
		struct qry_filter *f = qry_filter_compile(v, err);
		if (!f)
			return errno == ENOMEM ? -ENOMEM : bad(err, name, "%s", err->msg);
		qry_filter_destroy(p->scan.filter);
		p->scan.filter = f;
		return 0;
	}
	if (!strcmp(name, "group_by") || !strcmp(name, "agg") || !strcmp(name, "order") ||
	    !strcmp(name, "top") || !strcmp(name, "bucket"))
		return set_agg_param(p, name, v, err);
	if (!strcmp(name, "asc")) {
		p->spec.ascending = !strcmp(v, "1") || !strcmp(v, "true") || !*v;
		return 0;
	}
	if (!strcmp(name, "format")) {
		if (qry_format_parse(v, &p->format))
			return bad(err, name, "'%s' is not table, json or csv", v);
		p->format_set = true;
		return 0;
	}
	if (!strcmp(name, "limit"))
		return set_u64(name, v, 1, &p->limit, err);
	if (!strcmp(name, "max_records"))
		return set_u64(name, v, 1, &p->scan.limits.max_records, err);
	if (!strcmp(name, "max_groups"))
		return set_u64(name, v, 1, &p->scan.limits.max_groups, err);
	if (!strcmp(name, "max_distinct"))
		return set_u64(name, v, 1, &p->scan.limits.max_distinct, err);
	if (!strcmp(name, "timeout")) {
		if (qry_parse_duration(v, &d) || !d)
			return bad(err, name, "'%s' is not a duration > 0", v);
		p->scan.limits.deadline_ns = qry_now_ns() + d;
		return 0;
	}
	if (!strcmp(name, "set")) {
		if (p->n_settings == QRY_PARAMS_MAX_SETTINGS)
			return bad(err, name, "more than %d settings", QRY_PARAMS_MAX_SETTINGS);
		if (!strchr(v, '='))
			return bad(err, name, "'%s' is not NAME=VALUE", v);
		p->settings[p->n_settings] = strdup(v);
		return p->settings[p->n_settings] ? (p->n_settings++, 0) : -ENOMEM;
	}
	return bad(err, name, "unknown parameter");
}

int qry_params_build(struct qry_params *p, bool top_defaults, struct qry_err *err)
{
	const char *keys = p->keys ? p->keys : (top_defaults ? "src" : "");
	const char *aggs = p->aggs ? p->aggs : "flows,packets,bytes";
	const char *order = p->order ? p->order : (top_defaults ? "bytes" : NULL);
	uint64_t top = p->spec.top, bucket = p->spec.bucket_ns;
	bool asc = p->spec.ascending;

	err->column = 0;
	err->msg[0] = '\0';
	if (p->scan.until_ns && p->scan.until_ns <= p->scan.since_ns)
		return bad(err, "until", "must be after since");
	memset(&p->spec, 0, sizeof(p->spec));
	p->spec.top = top ? top : (top_defaults ? 10 : 0);
	p->spec.bucket_ns = bucket;
	p->spec.ascending = asc;
	if (qry_parse_keys(keys, &p->spec, err))
		return bad(err, "group_by", "%s", err->msg);
	if (qry_parse_aggs(aggs, &p->spec, err))
		return bad(err, "agg", "%s", err->msg);
	p->spec.order_by = -1;
	if (order) {
		p->spec.order_by = qry_spec_find_agg(&p->spec, order);
		if (p->spec.order_by < 0)
			return bad(err, "order", "'%s' is not one of the aggregates (%s)", order, aggs);
	}
	return 0;
}

void qry_params_clear(struct qry_params *p)
{
	if (!p)
		return;
	qry_filter_destroy(p->scan.filter);
	free(p->keys);
	free(p->aggs);
	free(p->order);
	for (size_t i = 0; i < p->n_settings; i++)
		free(p->settings[i]);
	memset(p, 0, sizeof(*p));
}
