/*
 * api_query.c - GET /v1/query, GET /v1/detections and
 * GET /v1/detections/{name}: the query engine (lib/query.h, lib/detect.h)
 * over the daemon's sealed segments.
 *
 * The query string goes through qry_params_set(), the parser `eniflow
 * query|top|detect` uses, so a parameter means the same thing (and fails
 * with the same message) on both. The files come from the store's catalog,
 * never from the request, already cut to the time range. Every run is
 * bounded by the config (records scanned, groups, distinct pairs, a
 * deadline, records listed) and by a cap on queries at once, so memory is
 * bounded too; a request may lower these bounds, not raise them. Tables are
 * the engine's own JSON (the CLI's --format json, byte for byte) with a
 * "stats" member added.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>
#include "efd_internal.h"
#include "detect.h"
#include "query.h"
#include "rec_format.h"

static atomic_uint running;

/** A failure: HTTP status, parameter at fault, message (filter: column too). */
struct qerr {
	int status;
	char field[32];
	struct qry_err e;
};

static void send_err(struct efd_resp *r, const struct qerr *x)
{
	r->status = x->status;
	r->json = json_pack("{s:s, s:s?}", "error", x->e.msg, "field",
			    x->field[0] ? x->field : NULL);
	if (r->json && x->e.column > 0)
		json_object_set_new(r->json, "column", json_integer(x->e.column));
}

static void set_err(struct qerr *x, int status, const char *field, const char *msg)
{
	x->status = status;
	snprintf(x->field, sizeof(x->field), "%s", field);
	x->e.column = 0;
	snprintf(x->e.msg, sizeof(x->e.msg), "%s", msg);
}

struct args {
	struct qry_params *p;
	struct qerr *x;
	bool failed;
};

static enum MHD_Result take_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct args *a = cls;
	(void)kind;

	if (a->failed)
		return MHD_NO;
	if (!value)
		value = "";
	if (!strcmp(key, "format")) {
		if (strcmp(value, "json") == 0)
			return MHD_YES;
		set_err(a->x, 400, "format", "format: only json is served over REST");
		a->failed = true;
		return MHD_NO;
	}
	/* File paths on the server come from the config, never from a request. */
	if (!strcmp(key, "set") && (!strncmp(value, "lists=", 6) || !strncmp(value, "mmdb=", 5))) {
		set_err(a->x, 400, "set", "set: lists and mmdb are server files: set threat_lists "
			"or geo_mmdb in eniflowd's config");
		a->failed = true;
		return MHD_NO;
	}
	int rc = qry_params_set(a->p, key, value, &a->x->e);
	if (rc) {
		a->x->status = rc == -ENOMEM ? 500 : 400;
		snprintf(a->x->field, sizeof(a->x->field), "%s", key);
		a->failed = true;
		return MHD_NO;
	}
	return MHD_YES;
}

/** The server's bounds over what the request asked for (0 = not asked). */
static void clamp(const struct efd_config *c, struct qry_limits *l)
{
	uint64_t dl = qry_now_ns() + (uint64_t)c->query_timeout_ms * 1000000ull;

	if (!l->max_records || l->max_records > c->query_max_records)
		l->max_records = c->query_max_records;
	if (!l->max_groups || l->max_groups > c->query_max_groups)
		l->max_groups = c->query_max_groups;
	if (!l->max_distinct || l->max_distinct > c->query_max_distinct)
		l->max_distinct = c->query_max_distinct;
	if (!l->deadline_ns || l->deadline_ns > dl)
		l->deadline_ns = dl;
}

/** HTTP status and limit parameter for a failed run's errno (docs/query.md). */
static void run_err(int e, struct qerr *x)
{
	const char *f = "";

	switch (e) {
	case EFBIG: x->status = 413; f = "max_records"; break;
	case ENOSPC: x->status = 422; f = "max_groups"; break; /* or max_distinct: msg says */
	case ETIMEDOUT: x->status = 503; f = "timeout"; break;
	default: x->status = 500; break;
	}
	snprintf(x->field, sizeof(x->field), "%s", f);
	if (!x->e.msg[0])
		snprintf(x->e.msg, sizeof(x->e.msg), "%s", strerror(e));
}

static void stats_json(FILE *f, const struct qry_stats *s)
{
	fprintf(f, "\"stats\":{\"files\":%" PRIu64 ",\"files_skipped\":%" PRIu64
		",\"blocks_read\":%" PRIu64 ",\"blocks_total\":%" PRIu64
		",\"records_scanned\":%" PRIu64 ",\"records_matched\":%" PRIu64
		",\"groups\":%" PRIu64 "}}\n", s->files, s->files_skipped, s->blocks_read,
		s->blocks_total, s->records_scanned, s->records_matched, s->groups);
}

static void send_body(struct efd_resp *r, char *body, size_t len)
{
	r->status = 200;
	r->raw = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r->raw, "Content-Type", "application/json");
}

/* Record listing (no aggregation): {"records":[...],"truncated":b,"stats":{}}. */
struct list_ctx {
	FILE *f;
	uint64_t left;
	uint64_t n;
	bool truncated;
};

static int list_rec(const struct rec_flow *rec, const struct qry_seg_ctx *seg, void *arg)
{
	struct list_ctx *c = arg;
	const struct seg_eni_info *eni = NULL;
	char line[REC_FMT_LINE_MAX];

	if (c->left == 0) {
		c->truncated = true;
		return 1; /* one more matched than asked for: stop quietly */
	}
	for (uint32_t i = 0; i < seg->hdr->n_enis; i++)
		if (seg->hdr->enis[i].index == rec->eni)
			eni = &seg->hdr->enis[i];
	int len = rec_format(REC_FMT_JSON, rec, eni, line, sizeof(line));
	if (len < 0)
		return -EINVAL;
	while (len > 0 && line[len - 1] == '\n')
		len--;
	fprintf(c->f, "%s%.*s", c->n ? "," : "", len, line);
	c->n++;
	c->left--;
	return 0;
}

/** Run the query or detection over paths; body on success, x on failure. */
static int run_once(struct efd *d, struct qry_params *p, const char *det, char **paths,
		    size_t n, FILE *f, struct qerr *x)
{
	const char *const *pp = (const char *const *)paths;
	struct qry_stats st = {0};
	struct qry_table *t;

	if (!det && !p->aggregate) {
		struct list_ctx c = {.f = f, .left = p->limit ? p->limit : d->cfg.query_max_list};
		struct qry_scan_cb cb = {.rec_cb = list_rec, .arg = &c};
		fputs("{\"records\":[", f);
		int rc = qry_scan(pp, n, &p->scan, &cb, &st, &x->e);
		if (rc < 0)
			return rc;
		fprintf(f, "],\"truncated\":%s,", c.truncated ? "true" : "false");
		stats_json(f, &st);
		return 0;
	}
	if (det) {
		/* Settings are checked before any file is read: their errors are 400. */
		struct qry_det *chk = qry_det_create(det, (const char *const *)p->settings,
						     p->n_settings, p->scan.since_ns,
						     p->scan.until_ns, &p->scan.limits, &x->e);
		if (!chk) {
			x->status = errno == ENOMEM ? 500 : 400;
			snprintf(x->field, sizeof(x->field), "set");
			return -EPERM; /* x filled */
		}
		qry_det_destroy(chk);
	}
	if (det)
		t = qry_det_run(det, (const char *const *)p->settings, p->n_settings, pp, n,
				&p->scan, &st, &x->e);
	else
		t = qry_run(pp, n, &p->scan, &p->spec, &st, &x->e);
	if (!t)
		return -(errno ? errno : EIO);
	qry_table_print(t, QRY_FMT_JSON, f);
	qry_table_destroy(t);
	fflush(f);
	/* The engine's JSON object ends "}\n": reopen it for "stats". */
	long end = ftell(f);
	fseek(f, end - 2, SEEK_SET);
	fputc(',', f);
	stats_json(f, &st);
	return 0;
}

static void run(struct efd *d, struct qry_params *p, const char *det, struct efd_resp *r)
{
	struct qerr x = {0};
	char *body = NULL;
	size_t len = 0;
	int rc = -ENOENT;

	/* A segment removed by retention mid-query: try once more on a fresh catalog. */
	for (int attempt = 0; attempt < 2 && rc == -ENOENT; attempt++) {
		size_t n;
		char **paths = efd_store_paths(d->store, p->scan.since_ns, p->scan.until_ns, &n);
		FILE *f = open_memstream(&body, &len);
		if (!paths || !f) {
			if (f)
				fclose(f);
			free(body);
			efd_store_paths_free(paths, n);
			set_err(&x, 500, "", "out of memory");
			send_err(r, &x);
			return;
		}
		memset(&x, 0, sizeof(x));
		rc = run_once(d, p, det, paths, n, f, &x);
		fclose(f);
		efd_store_paths_free(paths, n);
		if (rc) {
			free(body);
			body = NULL;
		}
	}
	if (rc) {
		if (rc != -EPERM)
			run_err(-rc, &x);
		send_err(r, &x);
		return;
	}
	send_body(r, body, len);
}

/** Parse and check the request into p. 0, or -1 with x filled. */
static int parse_request(struct efd *d, const struct efd_req *q, const char *det,
			 struct qry_params *p, struct qerr *x)
{
	struct args a = {.p = p, .x = x};
	const char *path = !det ? "" : !strcmp(det, "threats") ? d->cfg.threat_lists :
			   !strcmp(det, "geo") ? d->cfg.geo_mmdb : "";
	char buf[EFD_PATH_MAX + 8];

	MHD_get_connection_values(q->conn, MHD_GET_ARGUMENT_KIND, take_arg, &a);
	if (a.failed)
		return -1;
	if (*path) {
		snprintf(buf, sizeof(buf), "%s=%s", det[0] == 't' ? "lists" : "mmdb", path);
		if (qry_params_set(p, "set", buf, &x->e)) {
			x->status = 500;
			return -1;
		}
	}
	if (!det && p->n_settings) {
		set_err(x, 400, "set", "set: detection settings are for /v1/detections/{name}");
		return -1;
	}
	if (!det && !p->aggregate && p->limit > d->cfg.query_max_list) {
		snprintf(buf, sizeof(buf), "limit: at most %u records per request",
			 d->cfg.query_max_list);
		set_err(x, 400, "limit", buf);
		return -1;
	}
	if ((det || p->aggregate) && qry_params_build(p, false, &x->e)) {
		/* its messages start with the parameter's name */
		x->status = 400;
		snprintf(x->field, sizeof(x->field), "%.*s", (int)strcspn(x->e.msg, ":"), x->e.msg);
		return -1;
	}
	if (p->scan.until_ns && p->scan.until_ns <= p->scan.since_ns) {
		set_err(x, 400, "until", "until: must be after since");
		return -1;
	}
	return 0;
}

/** Parse, check and bound the request, then run it. */
static void handle(struct efd *d, const struct efd_req *q, const char *det, struct efd_resp *r)
{
	struct qry_params p = {0};
	struct qerr x = {0};

	if (parse_request(d, q, det, &p, &x)) {
		send_err(r, &x);
		qry_params_clear(&p);
		return;
	}
	clamp(&d->cfg, &p.scan.limits);
	if (atomic_fetch_add(&running, 1) >= d->cfg.query_concurrency) {
		atomic_fetch_sub(&running, 1);
		set_err(&x, 503, "", "too many queries running; retry shortly");
		send_err(r, &x);
		qry_params_clear(&p);
		return;
	}
	run(d, &p, det, r);
	atomic_fetch_sub(&running, 1);
	qry_params_clear(&p);
}

static bool get_only(const struct efd_req *q, struct efd_resp *r)
{
	struct qerr x = {0};

	if (!strcmp(q->method, "GET") || !strcmp(q->method, "HEAD"))
		return true;
	snprintf(x.e.msg, sizeof(x.e.msg), "method %s not allowed here", q->method);
	x.status = 405;
	send_err(r, &x);
	return false;
}

void api_query_get(struct efd *d, const struct efd_req *q, struct efd_resp *r)
{
	if (get_only(q, r))
		handle(d, q, NULL, r);
}

/** The list of detections with their settings and defaults. */
static json_t *det_list(void)
{
	size_t n;
	const struct qry_det_info *l = qry_det_list(&n);
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *ps = json_array();
		for (int k = 0; k < QRY_DET_MAX_PARAMS && l[i].params[k].name; k++)
			json_array_append_new(ps, json_pack("{s:s, s:s, s:s}", "name",
				l[i].params[k].name, "default", l[i].params[k].def, "help",
				l[i].params[k].help));
		json_array_append_new(arr, json_pack("{s:s, s:s, s:o}", "name", l[i].name,
						     "summary", l[i].summary, "settings", ps));
	}
	return json_pack("{s:o}", "detections", arr);
}

void api_detections_get(struct efd *d, const struct efd_req *q, const char *name,
			struct efd_resp *r)
{
	struct qerr x = {0};

	if (!get_only(q, r))
		return;
	if (name == NULL) {
		r->json = det_list();
		return;
	}
	if (qry_det_find(name) == NULL) {
		snprintf(x.e.msg, sizeof(x.e.msg), "no detection '%.64s' (GET /v1/detections lists them)",
			 name);
		x.status = 404;
		snprintf(x.field, sizeof(x.field), "name");
		send_err(r, &x);
		return;
	}
	handle(d, q, name, r);
}
