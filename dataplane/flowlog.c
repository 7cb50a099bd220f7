/*
 * flowlog.c - set-up and config of the flow-log plugin: the shared memzones
 * (header, per-ENI config, counters), one export ring and one flow cache per
 * worker, and the per-worker copy of the per-ENI config.
 *
 * Everything is allocated here, once; the per-packet path (fl_cache.c) and
 * the poll path (fl_export.c) only use what this file sized. The config is
 * copied per worker so that the per-packet path reads a private, compact
 * array and never a line another process writes.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <time.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_memzone.h>

#include "fl_cache_internal.h"

RTE_LOG_REGISTER_DEFAULT(fl_logtype, INFO);
#define FL_LOG(level, ...) rte_log(RTE_LOG_##level, fl_logtype, "flowlog: " __VA_ARGS__)

static const struct rte_memzone *mz_make(const char *fmt, const char *inst, size_t len, int socket)
{
	char name[RTE_MEMZONE_NAMESIZE];
	const struct rte_memzone *mz;

	snprintf(name, sizeof(name), fmt, inst);
	mz = rte_memzone_reserve_aligned(name, len, socket, RTE_MEMZONE_SIZE_HINT_ONLY,
					 RTE_CACHE_LINE_SIZE);
	if (mz == NULL) {
		FL_LOG(ERR, "memzone %s (%zu bytes): %s\n", name, len, rte_strerror(rte_errno));
		return NULL;
	}
	memset(mz->addr, 0, len);
	return mz;
}

static void eni_local_apply(struct fl_eni_local *l, const struct efl_eni_cfg *c)
{
	uint32_t agg = c->agg_interval_s ? c->agg_interval_s : FL_DEFAULT_AGG_S;

	if (agg > FL_AGG_MAX_S)
		agg = FL_AGG_MAX_S;
	l->enabled = c->enabled ? 1 : 0;
	if (!c->enabled)
		l->verdict_mask = 0;
	else if (c->traffic_type == EFL_TRAFFIC_ACCEPT)
		l->verdict_mask = 1u << REC_VERDICT_ACCEPT;
	else if (c->traffic_type == EFL_TRAFFIC_REJECT)
		l->verdict_mask = 1u << REC_VERDICT_REJECT;
	else
		l->verdict_mask = (1u << REC_VERDICT_ACCEPT) | (1u << REC_VERDICT_REJECT);
	l->sample_n = c->sample_1_in_n ? c->sample_1_in_n : 1;
	l->agg_ns = (uint64_t)agg * FL_NS_PER_S;
}

void fl_cfg_refresh(struct fl_worker *w)
{
	uint64_t gen = __atomic_load_n(&w->shm_cfg->generation, __ATOMIC_ACQUIRE);
	bool all = true;

	if (gen == w->cfg_gen && w->cfg_valid)
		return;
	w->ls->cfg_refreshes++;
	for (uint32_t i = 0; i < w->n_enis; i++) {
		struct efl_eni_cfg c;
		if (efl_cfg_read(w->shm_cfg, i, &c)) {
			eni_local_apply(&w->cfg[i], &c);
		} else {
			all = false; /* keep the old one; a retry comes next poll */
			w->ls->cfg_deferred++;
		}
	}
	if (all) {
		w->cfg_gen = gen;
		w->cfg_valid = true;
	}
}

static void worker_free(struct fl_worker *w)
{
	if (w == NULL)
		return;
	fl_cache_fini(&w->cache);
	rte_ring_free(w->ring);
	rte_free(w->cfg);
	rte_free(w->loss);
	rte_free(w->loss_list);
	rte_free(w);
}

static struct fl_worker *worker_make(struct fl_dp *dp, uint32_t i)
{
	const struct fl_dp_params *p = &dp->p;
	char name[64]; /* instance and index are bounded: always fits RTE_RING_NAMESIZE */
	struct fl_worker *w;
	int rc;

	w = rte_zmalloc_socket("fl_worker", sizeof(*w), RTE_CACHE_LINE_SIZE, p->socket_id);
	if (w == NULL)
		return NULL;
	w->dp = dp;
	w->idx = i;
	w->n_enis = p->n_enis;
	w->shm_cfg = dp->cfg;
	w->ls = &dp->stats->lcore[i];
	w->es = efl_stats_eni(dp->stats, i, 0);
	w->budget = p->aging_budget;
	w->idle_ns = p->idle_timeout_ns;
	w->close_ns = p->tcp_close_delay_ns;
	w->cfg = rte_zmalloc_socket("fl_cfg", sizeof(*w->cfg) * p->n_enis, 0, p->socket_id);
	w->loss = rte_zmalloc_socket("fl_loss", sizeof(*w->loss) * p->n_enis, 0, p->socket_id);
	w->loss_list = rte_zmalloc_socket("fl_lossl", sizeof(uint32_t) * p->n_enis, 0,
					  p->socket_id);
	if (w->cfg == NULL || w->loss == NULL || w->loss_list == NULL) {
		FL_LOG(ERR, "worker %u: no memory for per-ENI state\n", i);
		goto fail;
	}
	rc = fl_cache_init(&w->cache, p->flows_per_worker, p->socket_id);
	if (rc != 0) {
		FL_LOG(ERR, "worker %u: flow cache of %u flows: %s\n", i, p->flows_per_worker,
		       strerror(-rc));
		goto fail;
	}
	snprintf(name, sizeof(name), EFL_RING_EXPORT, dp->instance, i);
	w->ring = rte_ring_create_elem(name, sizeof(struct rec_flow), p->ring_size, p->socket_id,
				       RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (w->ring == NULL) {
		FL_LOG(ERR, "ring %s (%u slots): %s\n", name, p->ring_size, rte_strerror(rte_errno));
		goto fail;
	}
	fl_cfg_refresh(w);
	return w;
fail:
	worker_free(w);
	return NULL;
}

static int params_check(struct fl_dp_params *p)
{
	if (p->instance == NULL || p->instance[0] == '\0' ||
	    strlen(p->instance) > EFL_INSTANCE_MAX) {
		FL_LOG(ERR, "instance name must be 1..%d characters\n", EFL_INSTANCE_MAX);
		return -EINVAL;
	}
	if (p->n_workers == 0 || p->n_workers > EFL_MAX_LCORES) {
		FL_LOG(ERR, "n_workers %u not in 1..%d\n", p->n_workers, EFL_MAX_LCORES);
		return -EINVAL;
	}
	if (p->n_enis == 0 || p->n_enis > EFL_MAX_ENIS) {
		FL_LOG(ERR, "n_enis %u not in 1..%d\n", p->n_enis, EFL_MAX_ENIS);
		return -EINVAL;
	}
	if (p->flows_per_worker == 0)
		p->flows_per_worker = FL_DEFAULT_FLOWS;
	if (p->ring_size == 0)
		p->ring_size = FL_DEFAULT_RING;
	if (!rte_is_power_of_2(p->ring_size)) {
		FL_LOG(ERR, "ring_size %u is not a power of 2\n", p->ring_size);
		return -EINVAL;
	}
	if (p->idle_timeout_ns == 0)
		p->idle_timeout_ns = FL_DEFAULT_IDLE_NS;
	if (p->tcp_close_delay_ns == 0)
		p->tcp_close_delay_ns = FL_DEFAULT_CLOSE_NS;
	if (p->aging_budget == 0)
		p->aging_budget = FL_DEFAULT_BUDGET;
	return 0;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * FL_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static int shm_make(struct fl_dp *dp)
{
	const struct fl_dp_params *p = &dp->p;

	dp->mz_hdr = mz_make(EFL_MZ_HEADER, dp->instance, sizeof(struct efl_shm_header),
			     p->socket_id);
	dp->mz_cfg = mz_make(EFL_MZ_CFG, dp->instance, sizeof(struct efl_shm_cfg), p->socket_id);
	dp->mz_stats = mz_make(EFL_MZ_STATS, dp->instance, efl_stats_size(p->n_workers),
			       p->socket_id);
	if (dp->mz_hdr == NULL || dp->mz_cfg == NULL || dp->mz_stats == NULL)
		return -ENOMEM;
	dp->hdr = dp->mz_hdr->addr;
	dp->cfg = dp->mz_cfg->addr;
	dp->stats = dp->mz_stats->addr;
	dp->hdr->magic = EFL_SHM_MAGIC;
	dp->hdr->layout_version = EFL_SHM_LAYOUT_VERSION;
	dp->hdr->n_workers = p->n_workers;
	dp->hdr->n_enis = p->n_enis;
	dp->hdr->ring_size = p->ring_size;
	dp->hdr->pid = (uint64_t)getpid();
	dp->hdr->start_ns = wall_ns();
	snprintf(dp->hdr->instance, sizeof(dp->hdr->instance), "%s", dp->instance);
	return 0;
}

struct fl_dp *fl_dp_create(const struct fl_dp_params *params)
{
	struct fl_dp *dp;
	int rc;

	if (params == NULL) {
		rte_errno = EINVAL;
		return NULL;
	}
	dp = rte_zmalloc("fl_dp", sizeof(*dp), RTE_CACHE_LINE_SIZE);
	if (dp == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	dp->p = *params;
	rc = params_check(&dp->p);
	if (rc != 0)
		goto fail;
	snprintf(dp->instance, sizeof(dp->instance), "%s", dp->p.instance);
	dp->p.instance = dp->instance;
	rc = shm_make(dp);
	if (rc != 0)
		goto fail;
	dp->workers = rte_zmalloc("fl_workers", sizeof(*dp->workers) * dp->p.n_workers, 0);
	if (dp->workers == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < dp->p.n_workers; i++) {
		dp->workers[i] = worker_make(dp, i);
		if (dp->workers[i] == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	return dp;
fail:
	fl_dp_destroy(dp);
	rte_errno = -rc;
	errno = -rc;
	return NULL;
}

void fl_dp_destroy(struct fl_dp *dp)
{
	if (dp == NULL)
		return;
	if (dp->workers != NULL)
		for (uint32_t i = 0; i < dp->p.n_workers; i++)
			worker_free(dp->workers[i]);
	rte_free(dp->workers);
	rte_memzone_free(dp->mz_stats);
	rte_memzone_free(dp->mz_cfg);
	rte_memzone_free(dp->mz_hdr);
	rte_free(dp);
}

struct fl_worker *fl_dp_worker(struct fl_dp *dp, uint32_t i)
{
	return dp != NULL && i < dp->p.n_workers ? dp->workers[i] : NULL;
}

struct efl_shm_header *fl_dp_shm_header(struct fl_dp *dp)
{
	return dp->hdr;
}

struct efl_shm_cfg *fl_dp_shm_cfg(struct fl_dp *dp)
{
	return dp->cfg;
}

struct efl_shm_stats *fl_dp_shm_stats(struct fl_dp *dp)
{
	return dp->stats;
}
