/*
 * bench_rec_format.c - how fast lib/rec_format turns records into text.
 *
 * Formats the same generated records (rec_gen: 64 ENIs, 20 % IPv6, every
 * kind) as JSON, CSV and AWS text into a memory buffer, so that only the
 * formatting is timed (no I/O). Baseline, in the same run: the obvious
 * implementation of the AWS line, one snprintf per record with inet_ntop'd
 * addresses. Prints one JSON object per case.
 * usage: bench_rec_format [RECORDS]   (default 1,000,000)
 */
#include "rec_format.h"
#include "recgen.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_ENIS 64

static double now_s(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The straightforward AWS line: what rec_format's AWS output is measured against. */
static int naive_aws(const struct rec_flow *r, const struct seg_eni_info *e, char *buf, size_t len)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	int af = r->ip_version == 6 ? AF_INET6 : AF_INET;

	inet_ntop(af, r->src_addr, s, sizeof(s));
	inet_ntop(af, r->dst_addr, d, sizeof(d));
	return snprintf(buf, len, "2 %s %s %s %s %u %u %u %" PRIu64 " %" PRIu64 " %" PRIu64
			" %" PRIu64 " %s OK\n", e->account_id, e->eni_id, s, d, r->src_port,
			r->dst_port, r->protocol, r->packets, r->bytes, r->first_ns / 1000000000u,
			r->last_ns / 1000000000u, r->verdict ? "REJECT" : "ACCEPT");
}

struct result {
	double wall, cpu;
	uint64_t bytes;
};

/* fmt < 0: the naive baseline. */
static struct result run(int fmt, const struct rec_flow *recs, size_t n,
			 const struct seg_eni_info *dict)
{
	char line[REC_FMT_LINE_MAX];
	struct result res = {0};
	double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);

	for (size_t i = 0; i < n; i++) {
		const struct seg_eni_info *e = &dict[recs[i].eni % N_ENIS];
		int len = fmt < 0 ? naive_aws(&recs[i], e, line, sizeof(line))
				  : rec_format((enum rec_fmt)fmt, &recs[i], e, line, sizeof(line));
		if (len < 0) {
			fprintf(stderr, "bench_rec_format: record %zu: error %d\n", i, len);
			exit(1);
		}
		res.bytes += (uint64_t)len;
	}
	res.wall = now_s(CLOCK_MONOTONIC) - w0;
	res.cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	return res;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	struct rec_gen_params p = {.seed = 1, .n_enis = N_ENIS, .n_flows = 4096,
				   .v6_percent = 20, .all_kinds = true};
	struct rec_flow *recs = malloc(n * sizeof(*recs));
	struct seg_eni_info dict[N_ENIS];
	struct rec_gen *g = rec_gen_create(&p);

	if (!recs || !g || n == 0) {
		fprintf(stderr, "bench_rec_format: cannot set up %zu records\n", n);
		return 1;
	}
	rec_gen_next(g, recs, n);
	for (uint32_t i = 0; i < N_ENIS; i++)
		rec_gen_eni_info(i, &dict[i]);
	run(REC_FMT_JSON, recs, n < 100000 ? n : 100000, dict); /* warm caches */
	struct result base = run(-1, recs, n, dict);
	for (int f = 0; f < REC_FMT_MAX; f++) {
		struct result r = run(f, recs, n, dict);
		printf("{\"bench\":\"rec_format\",\"case\":\"%s\",\"records\":%zu,"
		       "\"records_per_s\":%.0f,\"records_per_cpu_s\":%.0f,\"bytes_per_record\":%.1f,"
		       "\"baseline\":\"snprintf_aws\",\"baseline_records_per_s\":%.0f,"
		       "\"baseline_records_per_cpu_s\":%.0f,\"ratio\":%.3f}\n",
		       rec_fmt_name((enum rec_fmt)f), n, (double)n / r.wall, (double)n / r.cpu,
		       (double)r.bytes / (double)n, (double)n / base.wall, (double)n / base.cpu,
		       base.cpu / r.cpu);
	}
	rec_gen_destroy(g);
	free(recs);
	return 0;
}
