/*
 * bench_efd_drain.c - eniflowd's drain on one core: records/s from an
 * export ring (SP/SC, 96-byte elements, as the plugin makes it) into
 * sealed segment files through efd_drain_poll (peek, filter, whole-block
 * write, finish). Baseline in the same run: the same records written
 * straight through seg_writer_append/flush (no ring, no daemon), so the
 * ratio is what the daemon's path costs on top of the segment writer.
 *
 * usage: bench_efd_drain [RECORDS]   (one JSON object per case; files in /tmp)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <rte_eal.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include "efd_internal.h"
#include "recgen.h"

#define N_ENIS 16
#define RING 65536

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct rec_flow *make_records(size_t n)
{
	struct rec_gen_params p = { .seed = 42, .n_enis = N_ENIS, .n_flows = 65536 };
	struct rec_gen *g = rec_gen_create(&p);
	struct rec_flow *r = malloc(n * sizeof(*r));
	rec_gen_next(g, r, n);
	for (size_t i = 0; i < n; i++)
		if (r[i].kind == REC_KIND_FLOW)
			r[i].eni %= N_ENIS;
	rec_gen_destroy(g);
	return r;
}

/** A daemon context wired to one in-process ring, as efd_attach would leave it. */
static void setup(struct efd *d, const char *dir, struct rte_ring *ring)
{
	static struct efl_shm_header hdr = { .n_workers = 1, .n_enis = N_ENIS };
	static struct efl_shm_eni enis[EFL_MAX_ENIS];
	static struct efl_shm_cfg cfg;
	struct efl_shm_stats *stats = calloc(1, efl_stats_size(1));

	efd_config_defaults(&d->cfg);
	snprintf(d->cfg.data_dir, sizeof(d->cfg.data_dir), "%s", dir);
	snprintf(d->cfg.instance, sizeof(d->cfg.instance), "bench");
	d->cfg.rotate_bytes = 64ULL << 20;
	d->cfg.rotate_age_s = 3600;
	pthread_mutex_init(&d->lock, NULL);
	for (uint32_t i = 0; i < N_ENIS; i++) {
		struct seg_eni_info info;
		rec_gen_eni_info(i, &info);
		enis[i].index = i;
		memcpy(enis[i].eni_id, info.eni_id, EFL_ID_LEN);
		memcpy(enis[i].vpc_id, info.vpc_id, EFL_ID_LEN);
		memcpy(enis[i].subnet_id, info.subnet_id, EFL_ID_LEN);
	}
	d->shm = (struct efd_shm){ .hdr = &hdr, .enis = enis, .cfg = &cfg, .stats = stats,
				   .rings = { ring }, .n_rings = 1 };
	d->attached = true;
	d->store = efd_store_open(d);
	d->drain = efd_drain_create(d);
	efd_publish_config(d);
}

static double bench_drain(const char *dir, const struct rec_flow *recs, size_t n)
{
	static struct efd d;
	struct rte_ring *ring = rte_ring_create_elem("bench_ring", sizeof(struct rec_flow), RING,
						     SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	double t = 0;

	setup(&d, dir, ring);
	for (size_t done = 0; done < n;) {
		size_t k = n - done < RING - 1 ? n - done : RING - 1;
		rte_ring_enqueue_bulk_elem(ring, recs + done, sizeof(*recs), (unsigned)k, NULL);
		double t0 = now_s();
		while (rte_ring_count(ring) > 0)
			efd_drain_poll(d.drain, efd_now_ns(), true);
		t += now_s() - t0;
		done += k;
	}
	double t0 = now_s();
	efd_drain_seal(d.drain);
	t += now_s() - t0;
	if (d.ctr.records_written < n)
		fprintf(stderr, "bench: only %llu of %zu written\n",
			(unsigned long long)d.ctr.records_written, n);
	efd_store_close(d.store);
	return (double)n / t;
}

static double bench_writer(const char *dir, const struct rec_flow *recs, size_t n)
{
	struct seg_eni_info enis[N_ENIS];
	struct seg_header_info h = { .format_version = SEG_FORMAT_VERSION, .n_enis = N_ENIS,
				     .enis = enis };
	struct seg_writer_opts o = { .block_records = SEG_DEFAULT_BLOCK_RECORDS };
	struct seg_err err;

	for (uint32_t i = 0; i < N_ENIS; i++)
		rec_gen_eni_info(i, &enis[i]);
	double t0 = now_s();
	struct seg_writer *w = seg_writer_create(dir, "baseline-0000000000.fls", &h, &o, &err);
	for (size_t i = 0; i < n; i += SEG_DEFAULT_BLOCK_RECORDS) {
		size_t k = n - i < SEG_DEFAULT_BLOCK_RECORDS ? n - i : SEG_DEFAULT_BLOCK_RECORDS;
		seg_writer_append(w, recs + i, k, &err);
		seg_writer_flush(w, &err);
	}
	seg_writer_seal(w, &err);
	return (double)n / (now_s() - t0);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 4000000;
	char dir[] = "/tmp/bench_efd_drain.XXXXXX";
	char *eal[] = { argv[0], "--no-huge", "--no-pci", "-m", "256", "-l", "0",
			"--no-shconf", "--file-prefix=bench_efd_drain", "--log-level=*:error",
			"--no-telemetry" };

	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])), eal) < 0)
		return 1;
	if (mkdtemp(dir) == NULL)
		return 1;
	const char *root = dir;
	struct rec_flow *recs = make_records(n);
	double base = bench_writer(root, recs, n);
	double drain = bench_drain(root, recs, n);
	printf("{\"case\": \"ring_to_sealed_segment\", \"records\": %zu, \"records_per_s\": %.0f, "
	       "\"baseline\": \"seg_writer_append_flush_only\", \"baseline_records_per_s\": %.0f, "
	       "\"ratio\": %.3f}\n", n, drain, base, drain / base);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	free(recs);
	rte_eal_cleanup();
	return 0;
}
