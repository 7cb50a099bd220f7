/*
 * bench_query.c - records scanned per second by the query engine on one
 * core, against a decode-only baseline measured in the same run.
 *
 * Writes N generated records (default 20M, recgen, 4096-record blocks, each
 * record clamped to a 60 s aggregation interval) as segments in a temporary
 * directory, then times:
 *   decode_only  seg_reader_foreach with a no-op callback (the floor: LZ4
 *                decode + checksums, what any query must pay per block);
 *   full_scan    filter + group-by + top-10 over every record;
 *   skip_90      the same query with a time range the index narrows to
 *                ~10% of the blocks (records/s counts the whole data set,
 *                i.e. the rate at which the query "covers" records).
 * One JSON object per case per line, each with its ratio to decode_only.
 * Rates are per CPU second of this process (the machine may be shared);
 * wall time is printed too.
 * Usage: bench_query [RECORDS] [DIR]   (DIR is kept if given)
 */
#include "query.h"
#include "recgen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define PER_SEGMENT 1000000ull
#define CHUNK 65536

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process: on a shared machine, what one core really spent. */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_data(const char *dir, uint64_t n, uint64_t *t_first, uint64_t *t_last)
{
	struct rec_gen_params gp = {.seed = 42, .n_enis = 16, .n_flows = 20000,
				    .start_ns = 1764000000ull * 1000000000ull, .step_ns = 1000000,
				    .v6_percent = 20};
	struct rec_gen *g = rec_gen_create(&gp);
	struct rec_flow *buf = malloc(CHUNK * sizeof(*buf));
	struct seg_eni_info dict[16];
	struct seg_header_info h = {.format_version = SEG_FORMAT_VERSION, .n_enis = 16, .enis = dict};
	struct seg_writer_opts o = {.no_fsync = true};
	struct seg_err err;
	uint64_t done = 0;

	if (!g || !buf)
		return -ENOMEM;
	snprintf(h.host_id, sizeof(h.host_id), "bench");
	for (uint32_t i = 0; i < 16; i++)
		rec_gen_eni_info(i, &dict[i]);
	for (unsigned seg = 0; done < n; seg++) {
		char name[64];
		snprintf(name, sizeof(name), "bench-%06u.fls", seg);
		struct seg_writer *w = seg_writer_create(dir, name, &h, &o, &err);
		if (!w) {
			fprintf(stderr, "bench_query: %s\n", err.msg);
			return -EIO;
		}
		for (uint64_t in_seg = 0; in_seg < PER_SEGMENT && done < n;) {
			size_t k = CHUNK;
			if (k > PER_SEGMENT - in_seg)
				k = (size_t)(PER_SEGMENT - in_seg);
			if (k > n - done)
				k = (size_t)(n - done);
			rec_gen_next(g, buf, k);
			/*
			 * A flow-log record covers at most one aggregation interval
			 * (the switch's active timeout); recgen's flows can be
			 * hours long, so clamp them to 60 s as eniflowd would see.
			 */
			for (size_t i = 0; i < k; i++)
				if (buf[i].last_ns - buf[i].first_ns > 60000000000ull)
					buf[i].first_ns = buf[i].last_ns - 60000000000ull;
			if (!done)
				*t_first = buf[0].first_ns;
			*t_last = buf[k - 1].last_ns;
			if (seg_writer_append(w, buf, k, &err)) {
				fprintf(stderr, "bench_query: %s\n", err.msg);
				return -EIO;
			}
			in_seg += k;
			done += k;
		}
		if (seg_writer_seal(w, &err)) {
			fprintf(stderr, "bench_query: %s\n", err.msg);
			return -EIO;
		}
	}
	rec_gen_destroy(g);
	free(buf);
	return 0;
}

static int noop(const struct rec_flow *recs, size_t n, void *arg)
{
	(void)recs;
	*(uint64_t *)arg += n;
	return 0;
}

/* Decode every block of every segment in dir; returns records. */
static uint64_t decode_only(const char *dir, uint64_t n_files)
{
	uint64_t recs = 0;

	for (uint64_t i = 0; i < n_files; i++) {
		char p[4200];
		struct seg_err err;
		snprintf(p, sizeof(p), "%s/bench-%06llu.fls", dir, (unsigned long long)i);
		struct seg_reader *r = seg_reader_open(p, &err);
		if (!r) {
			fprintf(stderr, "bench_query: %s\n", err.msg);
			return 0;
		}
		seg_reader_foreach(r, NULL, noop, &recs, NULL, &err);
		seg_reader_close(r);
	}
	return recs;
}

/* Blocks of the data set whose index range overlaps [since, until]. */
static uint64_t blocks_in(const char *dir, uint64_t n_files, uint64_t since, uint64_t until)
{
	struct seg_select sel = {.since_ns = since, .until_ns = until};
	uint64_t hit = 0;

	for (uint64_t i = 0; i < n_files; i++) {
		char p[4200];
		struct seg_err err;
		snprintf(p, sizeof(p), "%s/bench-%06llu.fls", dir, (unsigned long long)i);
		struct seg_reader *r = seg_reader_open(p, &err);
		if (!r)
			continue;
		for (uint32_t b = 0; b < seg_reader_n_blocks(r); b++)
			hit += seg_block_may_match(seg_reader_block(r, b), &sel);
		seg_reader_close(r);
	}
	return hit;
}

static void report(const char *name, uint64_t covered, double sec, double cpu, double base_rate,
		   const struct qry_stats *st)
{
	double rate = (double)covered / cpu;

	printf("{\"case\":\"%s\",\"records\":%llu,\"wall_s\":%.3f,\"cpu_s\":%.3f,"
	       "\"records_per_cpu_s\":%.0f,\"ratio_to_decode_only\":%.3f",
	       name, (unsigned long long)covered, sec, cpu, rate, base_rate > 0 ? rate / base_rate : 1.0);
	if (st)
		printf(",\"blocks_read\":%llu,\"blocks_total\":%llu,\"records_scanned\":%llu,"
		       "\"records_matched\":%llu,\"groups\":%llu",
		       (unsigned long long)st->blocks_read, (unsigned long long)st->blocks_total,
		       (unsigned long long)st->records_scanned, (unsigned long long)st->records_matched,
		       (unsigned long long)st->groups);
	printf("}\n");
	fflush(stdout);
}

static double run_query(const char *dir, uint64_t since, uint64_t until, struct qry_stats *st,
			double *cpu)
{
	struct qry_err err;
	struct qry_agg_spec s = {.top = 10};
	struct qry_scan_opts o = {.since_ns = since, .until_ns = until};
	const char *paths[] = {dir};
	double t0;

	o.filter = qry_filter_compile("proto = tcp and dport in {22, 80, 443, 8080} and action = accept",
				      &err);
	qry_parse_keys("src", &s, &err);
	qry_parse_aggs("flows,packets,bytes", &s, &err);
	s.order_by = 2;
	t0 = now_s();
	double c0 = cpu_s();
	struct qry_table *t = qry_run(paths, 1, &o, &s, st, &err);
	double sec = now_s() - t0;
	*cpu = cpu_s() - c0;
	if (!t)
		fprintf(stderr, "bench_query: %s\n", err.msg);
	qry_table_destroy(t);
	qry_filter_destroy(o.filter);
	return sec;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000ull;
	char tmp[] = "/tmp/bench_query.XXXXXX";
	const char *dir = argc > 2 ? argv[2] : mkdtemp(tmp);
	uint64_t t_first = 0, t_last = 0, n_files = (n + PER_SEGMENT - 1) / PER_SEGMENT;
	struct qry_stats st;

	if (!dir || !n)
		return 1;
	mkdir(dir, 0755);
	double t0 = now_s();
	if (write_data(dir, n, &t_first, &t_last))
		return 1;
	fprintf(stderr, "bench_query: wrote %llu records in %.1f s to %s\n", (unsigned long long)n,
		now_s() - t0, dir);

	t0 = now_s();
	double c0 = cpu_s(), cpu;
	uint64_t got = decode_only(dir, n_files);
	double base_s = now_s() - t0, base_cpu = cpu_s() - c0, base_rate = (double)got / base_cpu;
	report("decode_only", got, base_s, base_cpu, base_rate, NULL);

	double full_s = run_query(dir, 0, 0, &st, &cpu);
	report("full_scan_filter_groupby_top10", n, full_s, cpu, base_rate, &st);

	/*
	 * Flows are long, so block time ranges overlap: find (through the index
	 * alone) the window in the middle of the data whose blocks are 10%.
	 */
	uint64_t span = t_last - t_first, since = t_first + span / 2, lo = 1, hi = span / 2;
	uint64_t total = blocks_in(dir, n_files, 0, 0);
	while (lo < hi) {
		uint64_t w = lo + (hi - lo) / 2;
		if (blocks_in(dir, n_files, since - w, since + w) * 10 >= total)
			hi = w;
		else
			lo = w + 1;
	}
	uint64_t until = since + lo;
	since -= lo;
	double skip_s = run_query(dir, since, until, &st, &cpu);
	report("skip_90_time_range", n, skip_s, cpu, base_rate, &st);

	if (argc <= 2) {
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_query: could not remove %s\n", dir);
	}
	return 0;
}
