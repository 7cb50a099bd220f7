/*
 * efd_tail.c - live tail (/v1/flows/stream): each client has a bounded
 * byte buffer of NDJSON lines. The drain appends without ever waiting; a
 * client whose buffer is full is cut off (its stream ends with an error),
 * so a slow reader can never slow the writer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "efd_internal.h"
#include "rec_format.h"

struct efd_tail {
	struct efd_tail *next;
	struct efd *d;
	uint32_t eni;          /**< UINT32_MAX = every ENI */
	pthread_cond_t cond;
	char *buf;
	size_t len, cap;
	bool cut;
	bool ending; /**< efd_tail_end_all(): end once the buffer is empty */
};

struct efd_tail *efd_tail_open(struct efd *d, uint32_t eni)
{
	struct efd_tail *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->eni = eni;
	t->d = d;
	t->cap = d->cfg.stream_buffer;
	t->buf = malloc(t->cap);
	pthread_cond_init(&t->cond, NULL);
	pthread_mutex_lock(&d->lock);
	t->next = d->tails;
	d->tails = t;
	pthread_mutex_unlock(&d->lock);
	return t;
}

void efd_tail_close(struct efd *d, struct efd_tail *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&d->lock);
	for (struct efd_tail **p = &d->tails; *p; p = &(*p)->next)
		if (*p == t) {
			*p = t->next;
			break;
		}
	pthread_mutex_unlock(&d->lock);
	pthread_cond_destroy(&t->cond);
	free(t->buf);
	free(t);
}

long efd_tail_read(struct efd_tail *t, char *buf, size_t max)
{
	struct efd *d = t->d; /* d->lock also guards tails: few clients, short lines */
	struct timespec ts;
	long n;

	pthread_mutex_lock(&d->lock);
	if (t->len == 0 && !t->cut && !t->ending) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&t->cond, &d->lock, &ts);
	}
	if (t->len == 0 && (t->cut || t->ending)) {
		n = t->cut ? -1 : EFD_TAIL_END;
		pthread_mutex_unlock(&d->lock);
		return n;
	}
	n = (long)(t->len < max ? t->len : max);
	memcpy(buf, t->buf, (size_t)n);
	memmove(t->buf, t->buf + n, t->len - (size_t)n);
	t->len -= (size_t)n;
	pthread_mutex_unlock(&d->lock);
	if (n == 0) {
		/* keep-alive: an empty line every idle second also detects gone clients */
		buf[0] = '\n';
		n = 1;
	}
	return n;
}

void efd_tail_end_all(struct efd *d)
{
	pthread_mutex_lock(&d->lock);
	for (struct efd_tail *t = d->tails; t != NULL; t = t->next) {
		t->ending = true;
		pthread_cond_broadcast(&t->cond);
	}
	pthread_mutex_unlock(&d->lock);
}

void efd_tail_publish(struct efd *d, const struct rec_flow *recs, size_t n)
{
	char line[REC_FMT_LINE_MAX];
	struct seg_eni_info info;

	pthread_mutex_lock(&d->lock);
	for (struct efd_tail *t = d->tails; t; t = t->next) {
		for (size_t i = 0; i < n && !t->cut; i++) {
			const struct rec_flow *r = &recs[i];
			if (t->eni != UINT32_MAX && r->eni != t->eni)
				continue;
			const struct seg_eni_info *ip = NULL;
			if (r->eni < d->enis.n) {
				const struct efl_shm_eni *e = &d->enis.eni[r->eni];
				info.index = r->eni;
				memcpy(info.eni_id, e->eni_id, SEG_ID_LEN);
				memcpy(info.vpc_id, e->vpc_id, SEG_ID_LEN);
				memcpy(info.subnet_id, e->subnet_id, SEG_ID_LEN);
				memcpy(info.account_id, e->account_id, SEG_ID_LEN);
				ip = &info;
			}
			int len = rec_format(REC_FMT_JSON, r, ip, line, sizeof(line));
			if (len <= 0)
				continue;
			if (t->len + (size_t)len > t->cap) {
				t->cut = true;
				d->ctr.tail_clients_cut++;
				break;
			}
			memcpy(t->buf + t->len, line, (size_t)len);
			t->len += (size_t)len;
		}
		pthread_cond_signal(&t->cond);
	}
	pthread_mutex_unlock(&d->lock);
}
