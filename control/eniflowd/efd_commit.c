/*
 * efd_commit.c - group commit of the flow-log set (DATA_DIR/flowlogs.json).
 *
 * An API change is answered only once the file holds it, but one
 * write+fsync+rename+fsync(dir) takes milliseconds, so a file per change
 * caps the API near 200 changes/s. Instead every change joins a queue of
 * waiters under efd.lock; the first waiter that finds no write in flight
 * becomes the leader: it copies the newest set, writes it with the lock
 * released, and settles every waiter whose change that copy holds. Changes
 * made meanwhile queue up and share the next write. The set in memory (and
 * the dataplane, which the caller signals at once) runs ahead of the file
 * by at most one group.
 *
 * A failed write rolls the set back to what the file holds and fails every
 * waiting change, including those made after the leader's copy: an error
 * still means "not applied", and memory never keeps a change the file lacks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "efd_internal.h"

/** One change waiting to be durable (lives on its request thread's stack). */
struct efd_commit_waiter {
	uint64_t seq;                    /**< the change's number (efd_fls_commit.seq) */
	int rc;                          /**< 0 durable, -errno rolled back */
	bool done;
	struct efd_commit_waiter *next;  /**< queue in seq order */
};

int efd_commit_init(struct efd_fls_commit *c, const struct efd_flowlogs *s)
{
	memset(c, 0, sizeof(*c));
	c->durable = calloc(EFD_MAX_FLOWLOGS, sizeof(*c->durable));
	c->snap = calloc(EFD_MAX_FLOWLOGS, sizeof(*c->snap));
	if (c->durable == NULL || c->snap == NULL) {
		efd_commit_fini(c);
		return -ENOMEM;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* timed waits immune to clock steps */
	int rc = pthread_cond_init(&c->cv, NULL);
	if (rc == 0) {
		rc = pthread_cond_init(&c->changed, &ca);
		if (rc != 0)
			pthread_cond_destroy(&c->cv);
	}
	pthread_condattr_destroy(&ca);
	if (rc != 0) {
		efd_commit_fini(c);
		return -rc;
	}
	c->cv_ok = true;
	memcpy(c->durable, s->fl, s->n * sizeof(*s->fl));
	c->durable_n = s->n;
	return 0;
}

void efd_commit_fini(struct efd_fls_commit *c)
{
	if (c == NULL)
		return;
	free(c->durable);
	free(c->snap);
	if (c->cv_ok) {
		pthread_cond_destroy(&c->cv);
		pthread_cond_destroy(&c->changed);
	}
	memset(c, 0, sizeof(*c));
}

/* Settle the queued waiters up to seq `upto` with rc; they are dequeued. */
static void settle(struct efd_fls_commit *c, uint64_t upto, int rc)
{
	while (c->head != NULL && c->head->seq <= upto) {
		struct efd_commit_waiter *w = c->head;
		c->head = w->next;
		w->rc = rc;
		w->done = true;
		if (rc == 0)
			c->changes_durable++;
		else
			c->changes_failed++;
	}
	if (c->head == NULL)
		c->tail = NULL;
}

/* Write the newest set for every waiter; called and returns with lock held. */
static void lead(struct efd_fls_commit *c, struct efd_flowlogs *s, pthread_mutex_t *lock)
{
	uint64_t upto = c->seq;
	uint32_t n = s->n;

	c->busy = true;
	memcpy(c->snap, s->fl, n * sizeof(*s->fl));
	pthread_mutex_unlock(lock);
	int rc = efd_fls_write(s->path, c->snap, n);
	pthread_mutex_lock(lock);
	if (rc == 0) {
		struct efd_flowlog *t = c->durable;
		c->durable = c->snap;
		c->snap = t;
		c->durable_n = n;
		c->writes++;
		settle(c, upto, 0);
	} else {
		/* Back to the file's set: every queued change is dropped, so all fail. */
		memcpy(s->fl, c->durable, c->durable_n * sizeof(*s->fl));
		s->n = c->durable_n;
		c->write_errors++;
		settle(c, UINT64_MAX, rc);
	}
	c->busy = false;
	pthread_cond_broadcast(&c->cv);
}

int efd_commit_wait(struct efd_fls_commit *c, struct efd_flowlogs *s, pthread_mutex_t *lock)
{
	struct efd_commit_waiter w = { .seq = ++c->seq };

	/* w is queued only until it is settled, which happens before we return. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
	if (c->tail != NULL)
		c->tail->next = &w;
	else
		c->head = &w;
	c->tail = &w;
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic pop
#endif
	while (!w.done) {
		if (!c->busy)
			lead(c, s, lock);
		else
			pthread_cond_wait(&c->cv, lock);
	}
	return w.rc;
}
