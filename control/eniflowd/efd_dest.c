/*
 * efd_dest.c - live destinations of flow logs: IPFIX collectors and JSON
 * Lines files, fed by the drain after each block is safely in a segment.
 *
 * The segment is the record of truth; a destination gets a copy. Copies
 * never hold up the drain: IPFIX goes through lib/ipfix's bounded,
 * non-blocking exporter, and whatever a destination gives up on (queue
 * full, collector refusing, write error) is that destination's delivery
 * loss: counted per destination and per ENI (/v1/stats, /metrics), and
 * written into the segments as REC_END_LOSS_EXPORTER records, which say
 * "this ENI's copy at a destination missed N records / P packets / B
 * bytes" - the flow records themselves are in the segment, so readers
 * doing conservation must not add these to the dataplane's loss
 * (docs/operations.md). Only FLOW records are delivered.
 *
 * Threads: everything runs in the drain thread except the stats readers;
 * one mutex guards it all (held per delivery batch, never across a block
 * write).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "efd_dest_internal.h"
#include "ipfix.h"

#include "efd_dest_layout.h"

static void add_loss(struct loss *l, const struct rec_flow *r)
{
	if (l->records == 0 || r->first_ns < l->first)
		l->first = r->first_ns;
	if (r->last_ns > l->last)
		l->last = r->last_ns;
	l->records++;
	l->packets += r->packets;
	l->bytes += r->bytes;
}

/** Records a destination gave up on: its loss, per ENI. Called with mu held. */
static void on_drop(void *arg, const struct rec_flow *recs, size_t n)
{
	struct sink *s = arg;
	struct efd_dests *x = s->owner;

	for (size_t i = 0; i < n; i++) {
		const struct rec_flow *r = &recs[i];
		if (r->kind != REC_KIND_FLOW || r->eni >= EFL_MAX_ENIS)
			continue;
		s->dropped++;
		s->dropped_packets += r->packets;
		s->dropped_bytes += r->bytes;
		add_loss(&x->pend[r->eni], r);
		add_loss(&x->total[r->eni], r);
		x->any_pending = true;
	}
}

struct efd_dests *efd_dests_create(struct efd *d)
{
	struct efd_dests *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NULL;
	x->d = d;
	pthread_mutex_init(&x->mu, NULL);
	return x;
}

static void sink_close(struct sink *s)
{
	if (s->x) {
		ipfix_exporter_destroy(s->x); /* queued records -> on_drop */
	}
	efd_jsonl_close(s->j);
	efd_log("info", "dest_closed",
		"flow_log=%s dest=%u type=%s offered=%llu dropped_records=%llu "
		"dropped_packets=%llu dropped_bytes=%llu", s->fl_id, s->idx,
		s->cfg.type == EFD_DEST_IPFIX ? "ipfix" : "jsonl",
		(unsigned long long)s->offered, (unsigned long long)s->dropped,
		(unsigned long long)s->dropped_packets, (unsigned long long)s->dropped_bytes);
	free(s);
}

void efd_dests_destroy(struct efd_dests *x)
{
	if (x == NULL)
		return;
	efd_dests_flush(x, 1000);
	efd_dests_close_all(x);
	pthread_mutex_destroy(&x->mu);
	free(x);
}

static struct sink *sink_open(struct efd_dests *x, const char *fl_id, unsigned idx,
			      const struct efd_dest_cfg *c)
{
	struct sink *s = calloc(1, sizeof(*s));
	char msg[256] = "", port[8];

	if (s == NULL)
		return NULL;
	s->owner = x;
	snprintf(s->fl_id, sizeof(s->fl_id), "%s", fl_id);
	s->idx = idx;
	s->cfg = *c;
	if (c->type == EFD_DEST_IPFIX) {
		snprintf(port, sizeof(port), "%u", c->port);
		struct ipfix_exporter_opts o = {
			.host = c->host, .port = port, .tcp = c->tcp, .domain_id = 1,
			.on_drop = on_drop, .on_drop_arg = s,
		};
		s->x = ipfix_exporter_create(&o, msg, sizeof(msg));
	} else {
		s->j = efd_jsonl_open(x->d->cfg.data_dir, fl_id, idx, c, x->d->cfg.instance,
				      on_drop, s);
		if (s->j == NULL)
			snprintf(msg, sizeof(msg), "%s", strerror(errno));
	}
	if (s->x == NULL && s->j == NULL) /* kept: everything offered counts as its loss */
		efd_log("error", "dest_open_failed", "flow_log=%s dest=%u err=\"%s\"", fl_id, idx, msg);
	else
		efd_log("info", "dest_opened", "flow_log=%s dest=%u type=%s", fl_id, idx,
			c->type == EFD_DEST_IPFIX ? "ipfix" : "jsonl");
	return s;
}

/** The live sink for (fl, i) with the same config, marked kept; or a new one. */
static void want_sink(struct efd_dests *x, const struct efd_flowlog *fl, unsigned i,
		      struct sink **out, uint32_t *n_out)
{
	for (uint32_t k = 0; k < x->n; k++) {
		struct sink *s = x->s[k];
		if (s && !s->keep && s->idx == i && strcmp(s->fl_id, fl->id) == 0 &&
		    memcmp(&s->cfg, &fl->dest[i], sizeof(s->cfg)) == 0) {
			s->keep = true;
			out[(*n_out)++] = s;
			x->s[k] = NULL;
			return;
		}
	}
	struct sink *s = sink_open(x, fl->id, i, &fl->dest[i]);
	if (s)
		out[(*n_out)++] = s;
}

void efd_dests_sync(struct efd_dests *x, const struct seg_eni_info *dict, uint32_t n_enis)
{
	struct efd *d = x->d;
	struct sink *next[EFD_MAX_SINKS];
	uint32_t nn = 0;

	pthread_mutex_lock(&x->mu);
	for (uint32_t f = 0; f < d->fls.n; f++)
		for (unsigned i = 0; i < d->fls.fl[f].n_dest; i++) {
			if (nn == EFD_MAX_SINKS) { /* said loudly: this flow log gets no copy */
				efd_log("error", "dest_limit", "flow_log=%s dest=%u max=%d",
					d->fls.fl[f].id, i, EFD_MAX_SINKS);
				continue;
			}
			want_sink(x, &d->fls.fl[f], i, next, &nn);
		}
	for (uint32_t k = 0; k < x->n; k++)
		if (x->s[k])
			sink_close(x->s[k]);
	memcpy(x->s, next, nn * sizeof(next[0]));
	x->n = nn;
	x->n_enis = n_enis;
	memcpy(x->dict, dict, n_enis * sizeof(dict[0]));
	for (uint32_t k = 0; k < nn; k++) {
		next[k]->keep = false;
		if (next[k]->x)
			ipfix_exporter_set_enis(next[k]->x, dict, n_enis);
	}
	for (uint32_t e = 0; e < n_enis; e++) {
		struct efl_eni_cfg cfg;
		const struct efd_flowlog *fl = efd_fls_effective(&d->fls, &d->enis.eni[e], &cfg);
		x->eni_n[e] = 0;
		for (uint32_t k = 0; fl && k < nn; k++)
			if (strcmp(x->s[k]->fl_id, fl->id) == 0 && x->eni_n[e] < EFD_MAX_DESTS)
				x->eni_sink[e][x->eni_n[e]++] = (uint8_t)k;
	}
	pthread_mutex_unlock(&x->mu);
}

void efd_dests_deliver(struct efd_dests *x, const struct rec_flow *recs, size_t n)
{
	pthread_mutex_lock(&x->mu);
	if (x->n == 0) {
		pthread_mutex_unlock(&x->mu);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct rec_flow *r = &recs[i];
		if (r->kind != REC_KIND_FLOW || r->eni >= x->n_enis)
			continue;
		for (unsigned k = 0; k < x->eni_n[r->eni]; k++) {
			struct sink *s = x->s[x->eni_sink[r->eni][k]];
			s->offered++;
			if (s->x)
				ipfix_exporter_enqueue(s->x, r, 1);
			else if (s->j)
				efd_jsonl_add(s->j, r, &x->dict[r->eni]);
			else
				on_drop(s, r, 1);
		}
	}
	for (uint32_t k = 0; k < x->n; k++) {
		if (x->s[k]->j)
			efd_jsonl_flush(x->s[k]->j);
		if (x->s[k]->x)
			ipfix_exporter_poll(x->s[k]->x);
	}
	pthread_mutex_unlock(&x->mu);
}

void efd_dests_poll(struct efd_dests *x, uint64_t now_ns)
{
	pthread_mutex_lock(&x->mu);
	for (uint32_t k = 0; k < x->n; k++) {
		if (x->s[k]->x)
			ipfix_exporter_poll(x->s[k]->x);
		if (x->s[k]->j)
			efd_jsonl_tick(x->s[k]->j, now_ns);
	}
	pthread_mutex_unlock(&x->mu);
}

void efd_dests_flush(struct efd_dests *x, int timeout_ms)
{
	pthread_mutex_lock(&x->mu);
	for (uint32_t k = 0; k < x->n; k++) {
		if (x->s[k]->x && ipfix_exporter_flush(x->s[k]->x, timeout_ms) != 0)
			efd_log("warn", "dest_flush_timeout", "flow_log=%s dest=%u", x->s[k]->fl_id,
				x->s[k]->idx);
		if (x->s[k]->j)
			efd_jsonl_flush(x->s[k]->j);
	}
	pthread_mutex_unlock(&x->mu);
}

void efd_dests_close_all(struct efd_dests *x)
{
	pthread_mutex_lock(&x->mu);
	for (uint32_t i = 0; i < x->n; i++)
		sink_close(x->s[i]);
	x->n = 0;
	memset(x->eni_n, 0, sizeof(x->eni_n));
	pthread_mutex_unlock(&x->mu);
}

bool efd_dests_loss_pending(const struct efd_dests *x)
{
	return x->any_pending; /* drain thread only writes it */
}

uint32_t efd_dests_add_loss(struct efd_dests *x, struct rec_flow *out, uint32_t room)
{
	uint32_t n = 0;

	pthread_mutex_lock(&x->mu);
	for (uint32_t e = 0; e < EFL_MAX_ENIS && n < room && x->any_pending; e++) {
		const struct loss *l = &x->pend[e];
		if (l->records == 0)
			continue;
		rec_loss_init(&out[n++], e, REC_END_LOSS_EXPORTER, 1, l->records, l->packets,
			      l->bytes, l->first, l->last);
	}
	pthread_mutex_unlock(&x->mu);
	return n;
}

void efd_dests_loss_written(struct efd_dests *x, const struct rec_flow *recs, size_t n)
{
	bool left = false;

	pthread_mutex_lock(&x->mu);
	for (size_t i = 0; i < n; i++) {
		const struct rec_flow *r = &recs[i];
		if (r->kind != REC_KIND_LOSS || r->end_reason != REC_END_LOSS_EXPORTER ||
		    r->eni >= EFL_MAX_ENIS)
			continue;
		struct loss *l = &x->pend[r->eni];
		l->records -= r->lost_records;
		l->packets -= r->packets;
		l->bytes -= r->bytes;
		if (l->records == 0)
			memset(l, 0, sizeof(*l));
		else
			l->first = l->last; /* what remains arrived after the record was built */
	}
	for (uint32_t e = 0; e < EFL_MAX_ENIS && !left; e++)
		left = x->pend[e].records != 0;
	x->any_pending = left;
	pthread_mutex_unlock(&x->mu);
}
