/* Proves the per-ENI config seqlock never lets the dataplane apply a torn config: a writer thread publishes configs with efl_cfg_write() at full speed, every field of config k derived from k, while the plugin's own reader (fl_cfg_refresh() into the worker's private copy) runs for 1.5 s; every applied copy must be one whole config k, on the ENI k was written to, and never older than the one before it. A control run with a writer that skips the sequence counter must be caught mixing fields, so the check is known to see tears. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_pause.h>

#include "flowlog.h"
#include "fl_cache_internal.h"

int failures;

#include "test_check.h"

#define N_ENIS 8

static volatile int stop;
static uint64_t published;

/* Config number k: which ENI it goes to and every field, all from k. */
static uint32_t k_eni(uint64_t k) { return (uint32_t)(k % N_ENIS); }
static uint8_t k_type(uint64_t k) { return (uint8_t)(k % 3); }
static uint16_t k_agg(uint64_t k) { return (uint16_t)(1 + (k / N_ENIS) % 600); }

static struct efl_eni_cfg cfg_of(uint64_t k)
{
	return (struct efl_eni_cfg){ .enabled = 1, .traffic_type = k_type(k),
				     .agg_interval_s = k_agg(k), .sample_1_in_n = (uint32_t)k };
}

static uint8_t mask_of(uint8_t type)
{
	if (type == EFL_TRAFFIC_ACCEPT)
		return 1u << REC_VERDICT_ACCEPT;
	if (type == EFL_TRAFFIC_REJECT)
		return 1u << REC_VERDICT_REJECT;
	return (1u << REC_VERDICT_ACCEPT) | (1u << REC_VERDICT_REJECT);
}

/* The real writer, as eniflowd publishes. */
static void *writer(void *arg)
{
	struct efl_shm_cfg *c = arg;
	uint64_t k = 2 * N_ENIS;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		struct efl_eni_cfg v = cfg_of(k);
		efl_cfg_write(c, k_eni(k), &v);
		k++;
	}
	__atomic_store_n(&published, k - 2 * N_ENIS, __ATOMIC_RELEASE);
	return NULL;
}

/* A broken writer for the control run: fields one by one, no sequence counter. */
static void *torn_writer(void *arg)
{
	struct efl_shm_cfg *c = arg;
	uint64_t k = 2 * N_ENIS;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		volatile struct efl_eni_cfg *s = &c->slot[k_eni(k)].cfg;
		s->sample_1_in_n = (uint32_t)k;
		for (int i = 0; i < 200; i++)
			rte_pause(); /* a wide window: a tear is seen even on one shared core */
		s->traffic_type = k_type(k);
		s->agg_interval_s = k_agg(k);
		__atomic_add_fetch(&c->generation, 1, __ATOMIC_RELEASE);
		k++;
	}
	return NULL;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct run {
	uint64_t refreshes, applied_changes, torn, stale, first_bad_k;
	char first_bad[160];
};

/* Check one applied copy; returns true if it is one whole config. */
static bool whole(uint32_t e, const struct fl_eni_local *l, uint64_t *last_k, struct run *r)
{
	uint64_t k = l->sample_n;
	bool ok = l->enabled == 1 && k_eni(k) == e && l->verdict_mask == mask_of(k_type(k)) &&
		  l->agg_ns == (uint64_t)k_agg(k) * 1000000000ull;
	if (!ok) {
		if (r->torn++ == 0)
			snprintf(r->first_bad, sizeof(r->first_bad),
				 "eni %u: sample %lu mask 0x%x agg_ns %lu enabled %u (config %lu has "
				 "eni %u mask 0x%x agg %u s)", e, k, l->verdict_mask, l->agg_ns,
				 l->enabled, k, k_eni(k), mask_of(k_type(k)), k_agg(k));
		return false;
	}
	if (k < *last_k)
		r->stale++;
	if (k != *last_k)
		r->applied_changes++;
	*last_k = k;
	return true;
}

static void run_reader(struct fl_dp *dp, void *(*wfn)(void *), double seconds, uint64_t stop_at_torn,
		       struct run *r)
{
	struct fl_worker *w = fl_dp_worker(dp, 0);
	struct efl_shm_cfg *c = fl_dp_shm_cfg(dp);
	uint64_t last_k[N_ENIS];
	pthread_t th;

	memset(r, 0, sizeof(*r));
	for (uint32_t e = 0; e < N_ENIS; e++) {
		struct efl_eni_cfg v = cfg_of(N_ENIS + e);
		efl_cfg_write(c, e, &v);
		last_k[e] = 0;
	}
	fl_cfg_refresh(w);
	stop = 0;
	/* EAL pinned this thread (and so its children) to one CPU: let the
	 * writer run on the others, truly in parallel with the reader. */
	pthread_attr_t at;
	cpu_set_t cpus;
	int here = sched_getcpu();
	pthread_attr_init(&at);
	CPU_ZERO(&cpus);
	for (long i = 0; i < sysconf(_SC_NPROCESSORS_ONLN) && i < CPU_SETSIZE; i++)
		if (i != here || sysconf(_SC_NPROCESSORS_ONLN) == 1)
			CPU_SET(i, &cpus);
	pthread_attr_setaffinity_np(&at, sizeof(cpus), &cpus);
	pthread_create(&th, &at, wfn, c);
	pthread_attr_destroy(&at);
	uint64_t end = mono_ns() + (uint64_t)(seconds * 1e9);
	while (mono_ns() < end && r->torn < stop_at_torn) {
		for (int rep = 0; rep < 64; rep++) {
			fl_cfg_refresh(w); /* exactly what fl_dp_poll() does first */
			r->refreshes++;
			for (uint32_t e = 0; e < N_ENIS; e++)
				whole(e, &w->cfg[e], &last_k[e], r);
		}
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
}

/* A small plugin instance; NULL (a failure counted) if it cannot be made. */
static struct fl_dp *small_dp(const char *instance)
{
	struct fl_dp_params p = { .instance = instance, .n_workers = 1, .n_enis = N_ENIS,
				  .flows_per_worker = 64, .ring_size = 256,
				  .socket_id = SOCKET_ID_ANY };
	struct fl_dp *dp = fl_dp_create(&p);

	CHECK(dp != NULL, "create %s: %s", instance, rte_strerror(rte_errno));
	return dp;
}

static void test_real_writer(void)
{
	struct fl_dp *dp = small_dp("tsq_real");
	struct run r;

	if (dp == NULL)
		return;
	run_reader(dp, writer, 1.5, UINT64_MAX, &r);
	const struct efl_lcore_stats *ls = &fl_dp_shm_stats(dp)->lcore[0];
	printf("seqlock: %lu configs published, %lu refreshes, %lu changes applied, "
	       "%lu ENI reads deferred (writer inside), %lu torn, %lu stale\n",
	       __atomic_load_n(&published, __ATOMIC_ACQUIRE), r.refreshes, r.applied_changes,
	       ls->cfg_deferred, r.torn, r.stale);
	CHECK(r.torn == 0, "%lu torn configs applied; first: %s", r.torn, r.first_bad);
	CHECK(r.stale == 0, "%lu times an older config replaced a newer one", r.stale);
	CHECK(r.applied_changes > 1000 && published > 100000,
	      "too little churn to prove anything: %lu applied, %lu published", r.applied_changes,
	      published);
	CHECK(ls->cfg_refreshes > 1000, "cfg_refreshes %lu: the reader did not see the writer",
	      ls->cfg_refreshes);
	fl_dp_destroy(dp);
}

static void test_control_is_caught(void)
{
	struct fl_dp *dp = small_dp("tsq_torn");
	struct run r;

	if (dp == NULL)
		return;
	run_reader(dp, torn_writer, 2.0, 10, &r);
	printf("control (writer without seqlock): %lu torn configs caught in %lu refreshes; first: %s\n",
	       r.torn, r.refreshes, r.first_bad);
	CHECK(r.torn > 0, "a writer without the sequence counter went unnoticed (%lu refreshes)",
	      r.refreshes);
	fl_dp_destroy(dp);
}

int main(int argc, char **argv)
{
	char prefix[64];
	(void)argc;
	snprintf(prefix, sizeof(prefix), "--file-prefix=test_cfg_seqlock_%d", (int)getpid());
	char *eal[] = { argv[0], "--no-huge", "--no-pci", "-m", "512", "-l", "0", prefix,
			"--log-level=*:warning" };
	if (rte_eal_init((int)RTE_DIM(eal), eal) < 0) {
		fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	test_real_writer();
	test_control_is_caught();
	rte_eal_cleanup();
	if (failures) {
		fprintf(stderr, "test_cfg_seqlock: %d failures\n", failures);
		return 1;
	}
	printf("test_cfg_seqlock: ok\n");
	return 0;
}
