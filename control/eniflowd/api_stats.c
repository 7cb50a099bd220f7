/*
 * api_stats.c - GET /v1/stats, /metrics, /v1/health and the live tail
 * /v1/flows/stream. Dataplane counters are summed over workers on read (each
 * worker writes only its own); the writer's counters come from one X-macro
 * so JSON names, metric names and help text never drift apart.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>
#include "efd_internal.h"

#define LCORE_FIELDS(X) X(packets_seen) X(packets_accounted) X(packets_filtered) \
	X(flows_created) X(records_exported) X(flows_evicted) X(ring_full_records) \
	X(loss_records_exported) X(poll_calls) X(poll_max_cycles) X(cfg_refreshes) X(cfg_deferred)
#define ENI_FIELDS(X) X(packets_seen) X(bytes_seen) X(packets_accounted) X(bytes_accounted) \
	X(lost_records) X(lost_packets) X(lost_bytes)

static json_t *writer_json(const struct efd_counters *c)
{
	json_t *o = json_object();
#define EFD_X(name, help) json_object_set_new(o, #name, json_integer((json_int_t)c->name));
	EFD_WRITER_COUNTERS(EFD_X)
#undef EFD_X
	return o;
}

/** Per-ENI sums over workers; caller holds d->lock and checked d->shm.stats. */
static void eni_sum(struct efd *d, uint32_t eni, struct efl_eni_stats *s)
{
	memset(s, 0, sizeof(*s));
	for (uint32_t w = 0; w < d->shm.hdr->n_workers; w++) {
		const struct efl_eni_stats *x = efl_stats_eni(d->shm.stats, w, eni);
#define SUM(f) s->f += x->f;
		ENI_FIELDS(SUM)
#undef SUM
	}
}

void api_stats_get(struct efd *d, const struct efd_req *q, struct efd_resp *r)
{
	json_t *lcores = json_array(), *enis = json_array();
	(void)q;

	pthread_mutex_lock(&d->lock);
	if (d->attached && d->shm.stats) {
		for (uint32_t w = 0; w < d->shm.hdr->n_workers && w < EFL_MAX_LCORES; w++) {
			const struct efl_lcore_stats *l = &d->shm.stats->lcore[w];
			json_t *o = json_pack("{s:i}", "worker", (int)w);
#define PUT(f) json_object_set_new(o, #f, json_integer((json_int_t)l->f));
			LCORE_FIELDS(PUT)
			json_array_append_new(lcores, o);
		}
		for (uint32_t i = 0; i < d->enis.n; i++) {
			struct efl_eni_stats s;
			eni_sum(d, i, &s);
			json_t *o = json_pack("{s:s}", "eni_id", d->enis.eni[i].eni_id);
			struct efl_eni_stats *l = &s;
			ENI_FIELDS(PUT)
#undef PUT
			json_array_append_new(enis, o);
		}
	}
	const struct efd_fls_commit *c = &d->fls_commit;
	json_t *saves = json_pack("{s:I, s:I, s:I, s:I}", "writes", (json_int_t)c->writes,
				  "changes_durable", (json_int_t)c->changes_durable,
				  "changes_failed", (json_int_t)c->changes_failed,
				  "write_errors", (json_int_t)c->write_errors);
	r->json = json_pack("{s:b, s:b, s:s, s:o, s:o, s:o, s:o}", "switch_up", d->attached,
			    "writer_error", d->writer_error, "last_error", d->last_error,
			    "writer", writer_json(&d->ctr), "flowlog_saves", saves,
			    "lcores", lcores, "enis", enis);
	pthread_mutex_unlock(&d->lock);
	if (d->dests && r->json) { /* after d->lock: the destinations have their own */
		json_t *ds = efd_dests_stats_json(d->dests);
		json_object_update(r->json, ds);
		json_decref(ds);
	}
}

struct mbuf {
	char *p;
	size_t len, cap;
};

static void mprintf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mprintf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (size_t)n + 1;
		b->p = realloc(b->p, b->cap);
	}
}

static void metrics_dataplane(struct efd *d, struct mbuf *b)
{
#define LC(f) mprintf(b, "# TYPE eniflow_lcore_" #f " %s\n", strcmp(#f, "poll_max_cycles") ? \
	"counter" : "gauge"); \
	for (uint32_t w = 0; w < d->shm.hdr->n_workers; w++) \
		mprintf(b, "eniflow_lcore_" #f "{worker=\"%u\"} %" PRIu64 "\n", w, \
			d->shm.stats->lcore[w].f);
	LCORE_FIELDS(LC)
#undef LC
	struct efl_eni_stats *s = calloc(d->enis.n + 1, sizeof(*s));
	for (uint32_t i = 0; i < d->enis.n; i++)
		eni_sum(d, i, &s[i]);
#define EN(f) mprintf(b, "# TYPE eniflow_eni_" #f " counter\n"); \
	for (uint32_t i = 0; i < d->enis.n; i++) \
		mprintf(b, "eniflow_eni_" #f "{eni=\"%s\"} %" PRIu64 "\n", d->enis.eni[i].eni_id, \
			s[i].f);
	ENI_FIELDS(EN)
#undef EN
	free(s);
}

void api_metrics_get(struct efd *d, const struct efd_req *q, struct efd_resp *r)
{
	struct mbuf b = { malloc(4096), 0, 4096 };
	(void)q;

	pthread_mutex_lock(&d->lock);
#define EFD_X(name, help) mprintf(&b, "# HELP eniflowd_" #name " " help "\n# TYPE eniflowd_" \
	#name " counter\neniflowd_" #name " %" PRIu64 "\n", d->ctr.name);
	EFD_WRITER_COUNTERS(EFD_X)
#undef EFD_X
	mprintf(&b, "# HELP eniflowd_switch_up 1 while attached to the switch\n"
		"# TYPE eniflowd_switch_up gauge\neniflowd_switch_up %d\n", d->attached);
	mprintf(&b, "# HELP eniflowd_writer_error 1 while segment writes fail\n"
		"# TYPE eniflowd_writer_error gauge\neniflowd_writer_error %d\n", d->writer_error);
	mprintf(&b, "# TYPE eniflowd_flow_logs gauge\neniflowd_flow_logs %u\n", d->fls.n);
	if (d->attached && d->shm.stats)
		metrics_dataplane(d, &b);
	pthread_mutex_unlock(&d->lock);
	char *dm = d->dests ? efd_dests_metrics(d->dests) : NULL;
	if (dm)
		mprintf(&b, "%s", dm);
	free(dm);
	r->raw = MHD_create_response_from_buffer(b.len, b.p, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r->raw, "Content-Type", "text/plain; version=0.0.4");
	r->status = 200;
}

void api_health_get(struct efd *d, const struct efd_req *q, struct efd_resp *r)
{
	(void)q;
	pthread_mutex_lock(&d->lock);
	uint64_t hb = d->attached && d->shm.hdr ? d->shm.hdr->heartbeat_ns : 0;
	uint64_t now = efd_now_ns();
	r->json = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}",
			    "status", d->writer_error ? "degraded" : "ok",
			    "switch", !d->attached ? "down" : d->switch_gone ? "draining" : "up",
			    "writer", d->writer_error ? "error" : "ok", "instance", d->cfg.instance,
			    "uptime_s", (json_int_t)((now - d->start_ns) / 1000000000ULL),
			    "switch_heartbeat_ns", (json_int_t)hb,
			    "switch_heartbeat_age_ms", (json_int_t)(hb && now > hb ? (now - hb) / 1000000 : 0),
			    "last_error", d->last_error);
	pthread_mutex_unlock(&d->lock);
	r->status = 200;
}

struct stream_ctx {
	struct efd *d;
	struct efd_tail *t;
};

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream_ctx *s = cls;
	long n = efd_tail_read(s->t, buf, max);
	(void)pos;
	if (n == EFD_TAIL_END)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
}

static void stream_free(void *cls)
{
	struct stream_ctx *s = cls;
	efd_tail_close(s->d, s->t);
	free(s);
}

void api_stream_get(struct efd *d, const struct efd_req *q, struct efd_resp *r)
{
	const char *eni = MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, "eni");
	uint32_t idx = UINT32_MAX;
	struct efd_err e;

	if (eni) {
		pthread_mutex_lock(&d->lock);
		for (uint32_t i = 0; i < d->enis.n; i++)
			if (strcmp(d->enis.eni[i].eni_id, eni) == 0)
				idx = i;
		pthread_mutex_unlock(&d->lock);
		if (idx == UINT32_MAX) {
			efd_err_set(&e, 404, "eni", "unknown ENI %.64s", eni);
			efd_resp_error(r, &e);
			return;
		}
	}
	struct stream_ctx *s = malloc(sizeof(*s));
	s->d = d;
	s->t = efd_tail_open(d, idx);
	r->raw = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_reader, s,
						   stream_free);
	MHD_add_response_header(r->raw, "Content-Type", "application/x-ndjson");
	r->status = 200;
}
