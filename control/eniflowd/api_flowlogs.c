/*
 * api_flowlogs.c - /v1/flow-logs CRUD. Every change is validated, applied
 * to the set in memory and marked dirty at once, so the drain thread (the
 * single writer of the shared config table) publishes it without waiting
 * for the disk; the answer waits until the file holds it (efd_commit.c,
 * where concurrent changes share one write). If that write fails, the set
 * and then the dataplane go back to what the file holds, and the answer is
 * a 500: an error still means the change is not applied.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "efd_internal.h"

/*
 * Caller holds d->lock and has just changed d->fls: publish, wait until it
 * is durable, answer ok_status with ok or a 500. Returns with the lock held.
 */
static int commit_answer(struct efd *d, struct efd_resp *r, int ok_status, json_t *ok)
{
	struct efd_err e;

	d->cfg_dirty++;
	pthread_cond_signal(&d->fls_commit.changed);
	int rc = efd_commit_wait(&d->fls_commit, &d->fls, &d->lock);
	if (rc != 0) {
		d->cfg_dirty++; /* the set was rolled back: publish that too */
		pthread_cond_signal(&d->fls_commit.changed);
		json_decref(ok);
		efd_err_set(&e, 500, "", "could not save flow logs: %s", strerror(-rc));
		efd_resp_error(r, &e);
		return rc;
	}
	r->status = ok_status;
	r->json = ok;
	return 0;
}

static void create(struct efd *d, const struct efd_req *q, struct efd_resp *r)
{
	struct efd_err e;
	struct efd_flowlog fl;
	json_t *body = efd_parse_body(q, &e);

	if (body == NULL) {
		efd_resp_error(r, &e);
		return;
	}
	pthread_mutex_lock(&d->lock);
	int rc = efd_fl_from_json(body, false, d->enis_known ? &d->enis : NULL, &fl, &e);
	if (rc == 0)
		rc = efd_fls_add(&d->fls, &fl, &e);
	if (rc == 0) {
		if (commit_answer(d, r, 201, efd_fl_to_json(&fl)) == 0)
			efd_log("info", "flowlog_created", "id=%s resource=%s traffic_type=%s agg_s=%u",
				fl.id, fl.resource, efd_traffic_name(fl.traffic_type), fl.agg_interval_s);
	} else {
		efd_resp_error(r, &e);
	}
	pthread_mutex_unlock(&d->lock);
	json_decref(body);
}

static void list(struct efd *d, struct efd_resp *r)
{
	json_t *arr = json_array();
	pthread_mutex_lock(&d->lock);
	for (uint32_t i = 0; i < d->fls.n; i++)
		json_array_append_new(arr, efd_fl_to_json(&d->fls.fl[i]));
	pthread_mutex_unlock(&d->lock);
	r->status = 200;
	r->json = json_pack("{s:o}", "flow_logs", arr);
}

static void patch(struct efd *d, const struct efd_req *q, struct efd_flowlog *fl,
		  struct efd_resp *r)
{
	struct efd_err e;
	json_t *body = efd_parse_body(q, &e);
	struct efd_flowlog old = *fl;

	if (body == NULL) {
		efd_resp_error(r, &e);
		return;
	}
	if (efd_fl_from_json(body, true, NULL, fl, &e) != 0) {
		*fl = old;
		efd_resp_error(r, &e);
	} else {
		commit_answer(d, r, 200, efd_fl_to_json(fl)); /* fl is stale after this */
	}
	json_decref(body);
}

void api_flowlogs(struct efd *d, const struct efd_req *q, const char *id, struct efd_resp *r)
{
	struct efd_err e;
	const char *m = q->method;

	if (id == NULL) {
		if (strcmp(m, "POST") == 0)
			create(d, q, r);
		else if (strcmp(m, "GET") == 0)
			list(d, r);
		else {
			efd_err_set(&e, 405, "", "method %s not allowed here", m);
			efd_resp_error(r, &e);
		}
		return;
	}
	pthread_mutex_lock(&d->lock);
	struct efd_flowlog *fl = efd_fls_find(&d->fls, id);
	if (fl == NULL) {
		efd_err_set(&e, 404, "id", "no flow log %.40s", id);
		efd_resp_error(r, &e);
	} else if (strcmp(m, "GET") == 0) {
		r->json = efd_fl_to_json(fl);
	} else if (strcmp(m, "PATCH") == 0) {
		patch(d, q, fl, r);
	} else if (strcmp(m, "DELETE") == 0) {
		json_t *ok = json_pack("{s:s}", "deleted", fl->id);
		efd_fls_remove(&d->fls, id);
		commit_answer(d, r, 200, ok);
	} else {
		efd_err_set(&e, 405, "", "method %s not allowed here", m);
		efd_resp_error(r, &e);
	}
	pthread_mutex_unlock(&d->lock);
}
