/*
 * efd_dest_stats.c - what the live destinations report: per destination
 * (offered, delivered, dropped records/packets/bytes, queue, connection)
 * and per ENI (records/packets/bytes its destinations missed), for
 * /v1/stats and /metrics. Split from efd_dest.c to keep the delivery path
 * short to read; it reads the same state under the same mutex.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "efd_dest_internal.h"
#include "ipfix.h"

#include "efd_dest_layout.h"

static json_t *sink_json(const struct sink *s)
{
	json_t *o = efd_dests_to_json(&(struct efd_flowlog){ .n_dest = 1, .dest = { s->cfg } });
	json_t *d = json_incref(json_array_get(o, 0));
	json_decref(o);
	uint64_t delivered = 0, queued = 0;
	bool up = false;
	int err = 0;
	if (s->x) {
		struct ipfix_exporter_stats st;
		ipfix_exporter_get_stats(s->x, &st);
		delivered = st.sent, queued = st.queued, up = st.connected, err = st.last_errno;
		json_object_set_new(d, "messages", json_integer((json_int_t)st.messages));
	} else if (s->j) {
		struct efd_jsonl_stats st;
		efd_jsonl_get_stats(s->j, &st);
		delivered = st.lines, up = true, err = st.last_errno;
		json_object_set_new(d, "files_sealed", json_integer((json_int_t)st.files_sealed));
	}
	json_object_set_new(d, "flow_log", json_string(s->fl_id));
	json_object_set_new(d, "index", json_integer(s->idx));
	json_object_set_new(d, "offered", json_integer((json_int_t)s->offered));
	json_object_set_new(d, "delivered", json_integer((json_int_t)delivered));
	json_object_set_new(d, "queued", json_integer((json_int_t)queued));
	json_object_set_new(d, "dropped_records", json_integer((json_int_t)s->dropped));
	json_object_set_new(d, "dropped_packets", json_integer((json_int_t)s->dropped_packets));
	json_object_set_new(d, "dropped_bytes", json_integer((json_int_t)s->dropped_bytes));
	json_object_set_new(d, "up", json_boolean(up));
	json_object_set_new(d, "last_error", json_string(err ? strerror(err) : ""));
	return d;
}

json_t *efd_dests_stats_json(struct efd_dests *x)
{
	json_t *arr = json_array(), *enis = json_object();

	pthread_mutex_lock(&x->mu);
	for (uint32_t k = 0; k < x->n; k++)
		json_array_append_new(arr, sink_json(x->s[k]));
	for (uint32_t e = 0; e < x->n_enis; e++) {
		const struct loss *l = &x->total[e];
		if (l->records)
			json_object_set_new(enis, x->dict[e].eni_id, json_pack("{s:I, s:I, s:I}",
				"dropped_records", (json_int_t)l->records,
				"dropped_packets", (json_int_t)l->packets,
				"dropped_bytes", (json_int_t)l->bytes));
	}
	pthread_mutex_unlock(&x->mu);
	return json_pack("{s:o, s:o}", "destinations", arr, "dropped_by_eni", enis);
}

/** Append to a malloc'd string, growing it. */
static void cat(char **p, size_t *len, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void cat(char **p, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(*p ? *p + *len : NULL, *p ? *cap - *len : 0, fmt, ap);
		va_end(ap);
		if (*p && n >= 0 && (size_t)n < *cap - *len) {
			*len += (size_t)n;
			return;
		}
		*cap = *cap * 2 + (size_t)n + 256;
		char *q = realloc(*p, *cap);
		if (q == NULL)
			return;
		*p = q;
	}
}

char *efd_dests_metrics(struct efd_dests *x)
{
	char *p = NULL;
	size_t len = 0, cap = 0;
	static const char *const names[] = { "offered", "dropped_records", "dropped_packets",
					     "dropped_bytes" };

	cat(&p, &len, &cap, "# HELP eniflowd_dest_records_offered records given to a destination\n");
	pthread_mutex_lock(&x->mu);
	for (int f = 0; f < 4; f++) {
		cat(&p, &len, &cap, "# TYPE eniflowd_dest_%s counter\n", names[f]);
		for (uint32_t k = 0; k < x->n; k++) {
			const struct sink *s = x->s[k];
			uint64_t v = f == 0 ? s->offered : f == 1 ? s->dropped :
				     f == 2 ? s->dropped_packets : s->dropped_bytes;
			cat(&p, &len, &cap,
			    "eniflowd_dest_%s{flow_log=\"%s\",dest=\"%u\",type=\"%s\"} %" PRIu64 "\n",
			    names[f], s->fl_id, s->idx,
			    s->cfg.type == EFD_DEST_IPFIX ? "ipfix" : "jsonl", v);
		}
	}
	for (int f = 1; f < 4; f++) {
		cat(&p, &len, &cap, "# TYPE eniflowd_eni_dest_%s counter\n", names[f]);
		for (uint32_t e = 0; e < x->n_enis; e++) {
			const struct loss *l = &x->total[e];
			uint64_t v = f == 1 ? l->records : f == 2 ? l->packets : l->bytes;
			if (l->records)
				cat(&p, &len, &cap, "eniflowd_eni_dest_%s{eni=\"%s\"} %" PRIu64 "\n",
				    names[f], x->dict[e].eni_id, v);
		}
	}
	pthread_mutex_unlock(&x->mu);
	return p;
}
