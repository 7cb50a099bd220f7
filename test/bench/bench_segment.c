/*
 * bench_segment.c - write and read 10,000,000 generated records as segments.
 *
 * Records come from rec_gen (ENI and address reuse, monotonic times) in
 * chunks of 1,000,000, one sealed segment per chunk (as a daemon rotating
 * segments would); only the writer calls are timed, fsyncs included. The
 * baselines run in the same process over the same records: raw LZ4 block
 * compression / decompression of each 4096-record block, with no framing,
 * checksums or I/O. Prints one JSON object per case; never fails on speed.
 * Usage: bench_segment [records] [dir]   (dir defaults to $TMPDIR or /var/tmp)
 */
#include "segment.h"
#include "recgen.h"

#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 1000000UL

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* CPU time of this process: on a shared machine it shows the cost on one
 * core, while wall time also counts waiting for the disk and for the CPU. */
static double cpu(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct span {
	double wall;
	double cpu;
};

static void span_start(struct span *s, double *w0, double *c0)
{
	(void)s;
	*w0 = now();
	*c0 = cpu();
}

static void span_stop(struct span *s, double w0, double c0)
{
	s->wall += now() - w0;
	s->cpu += cpu() - c0;
}

struct sum {
	uint64_t packets;
	uint64_t records;
};

static int sum_cb(const struct rec_flow *recs, size_t n, void *arg)
{
	struct sum *s = arg;
	for (size_t i = 0; i < n; i++)
		s->packets += recs[i].packets;
	s->records += n;
	return 0;
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_segment: %s: %s\n", what, msg);
	exit(1);
}

/* Raw LZ4 over the same blocks: compress time, decompress time, bytes out. */
static void baseline(const struct rec_flow *r, size_t n, struct span *ct, struct span *dt,
		     uint64_t *out)
{
	const int bs = SEG_DEFAULT_BLOCK_RECORDS * REC_SIZE;
	char *c = malloc((size_t)LZ4_compressBound(bs)), *d = malloc((size_t)bs);
	double t0, c0;

	for (size_t i = 0; i < n; i += SEG_DEFAULT_BLOCK_RECORDS) {
		int len = (int)((n - i < SEG_DEFAULT_BLOCK_RECORDS ? n - i : SEG_DEFAULT_BLOCK_RECORDS) * REC_SIZE);
		span_start(ct, &t0, &c0);
		int cl = LZ4_compress_default((const char *)(r + i), c, len, LZ4_compressBound(bs));
		span_stop(ct, t0, c0);
		span_start(dt, &t0, &c0);
		int dl = LZ4_decompress_safe(c, d, cl, bs);
		span_stop(dt, t0, c0);
		if (cl <= 0 || dl != len || memcmp(d, r + i, (size_t)len))
			die("baseline", "raw LZ4 round trip failed");
		*out += (uint64_t)cl;
	}
	free(c);
	free(d);
}

/* Rates: wall time decides meets_target; CPU time is shown beside it. */
static void rate_line(const char *name, uint64_t n, struct span t, const char *base,
		      struct span bt, double target)
{
	printf("{\"bench\":\"segment\",\"case\":\"%s\",\"records\":%llu,"
	       "\"records_per_s\":%.0f,\"records_per_cpu_s\":%.0f,\"baseline\":\"%s\","
	       "\"baseline_records_per_s\":%.0f,\"baseline_records_per_cpu_s\":%.0f,"
	       "\"ratio\":%.3f,\"target\":%.0f,\"meets_target\":%s}\n",
	       name, (unsigned long long)n, n / t.wall, n / t.cpu, base, n / bt.wall, n / bt.cpu,
	       bt.wall / t.wall, target, n / t.wall >= target ? "true" : "false");
}

int main(int argc, char **argv)
{
	uint64_t total = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000ULL;
	const char *base = argc > 2 ? argv[2] : getenv("TMPDIR");
	struct rec_gen_params p = {.seed = 1, .n_enis = 64, .n_flows = 4096, .v6_percent = 20};
	static struct seg_eni_info enis[64];
	struct seg_header_info h = {.created_ns = 1767225600000000000ULL, .n_enis = 64, .enis = enis};
	struct rec_gen *g = rec_gen_create(&p);
	struct rec_flow *r = malloc(CHUNK * sizeof(*r));
	char dir[512], name[64], path[600];
	struct span wt = {0}, rt = {0}, ct = {0}, dt = {0};
	double t0, c0;
	uint64_t file_bytes = 0, raw_out = 0, want_packets = 0, nseg = 0;
	struct sum s = {0};
	struct seg_err err;

	if (!g || !r)
		die("setup", "out of memory");
	for (uint32_t i = 0; i < 64; i++)
		rec_gen_eni_info(i, &enis[i]);
	snprintf(h.host_id, sizeof(h.host_id), "bench");
	snprintf(dir, sizeof(dir), "%s/bench_segment.XXXXXX", base && *base ? base : "/var/tmp");
	if (!mkdtemp(dir))
		die(dir, "mkdtemp failed");
	for (uint64_t done = 0; done < total; done += CHUNK, nseg++) {
		size_t n = total - done < CHUNK ? (size_t)(total - done) : CHUNK;
		rec_gen_next(g, r, n);
		for (size_t i = 0; i < n; i++)
			want_packets += r[i].packets;
		snprintf(name, sizeof(name), "seg-%04llu.fls", (unsigned long long)nseg);
		span_start(&wt, &t0, &c0);
		struct seg_writer *w = seg_writer_create(dir, name, &h, NULL, &err);
		if (!w || seg_writer_append(w, r, n, &err) || seg_writer_seal(w, &err))
			die("write", err.msg);
		span_stop(&wt, t0, c0);
		baseline(r, n, &ct, &dt, &raw_out);
	}
	for (uint64_t k = 0; k < nseg; k++) {
		snprintf(path, sizeof(path), "%s/seg-%04llu.fls", dir, (unsigned long long)k);
		span_start(&rt, &t0, &c0);
		struct seg_reader *rd = seg_reader_open(path, &err);
		if (!rd || seg_reader_foreach(rd, NULL, sum_cb, &s, NULL, &err))
			die("read", err.msg);
		span_stop(&rt, t0, c0);
		FILE *f = fopen(path, "rb");
		fseek(f, 0, SEEK_END);
		file_bytes += (uint64_t)ftell(f);
		fclose(f);
		seg_reader_close(rd);
		unlink(path);
	}
	rmdir(dir);
	if (s.records != total || s.packets != want_packets)
		die("read", "records read back differ from those written");
	rate_line("write", total, wt, "lz4_compress_default", ct, 4e6);
	rate_line("read", total, rt, "lz4_decompress_safe", dt, 20e6);
	double cr = (double)total * REC_SIZE / file_bytes, br = (double)total * REC_SIZE / raw_out;
	printf("{\"bench\":\"segment\",\"case\":\"compression\",\"records\":%llu,"
	       "\"compression_x\":%.3f,\"baseline\":\"lz4_raw_blocks\",\"baseline_compression_x\":%.3f,"
	       "\"ratio\":%.3f,\"target\":3.0,\"meets_target\":%s}\n",
	       (unsigned long long)total, cr, br, cr / br, cr >= 3.0 ? "true" : "false");
	rec_gen_destroy(g);
	free(r);
	return 0;
}
