/*
 * cli_gen.c - `eniflow gen`: write sealed segments of generated records.
 *
 * The records come from lib/recgen (the same generator the unit tests and
 * benchmarks use), so a segment written here is what eniflowd would write
 * for that traffic: same ENI dictionary, same block size, sealed with fsync
 * and rename. Files are named gen-NNNNNN.fls with the first free numbers,
 * so running gen twice into one directory adds files and never replaces any.
 */
#include "cli.h"
#include "recgen.h"
#include "segment.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GEN_CHUNK 4096 /* records generated per call, before appending */

struct gen_opts {
	uint64_t records;
	const char *out;
	uint64_t per_segment;
	uint64_t block_records;
	struct rec_gen_params p;
};

static void gen_usage(FILE *f)
{
	fprintf(f,
		"usage: eniflow gen --records N --out DIR [OPTIONS]\n"
		"\n"
		"Write sealed segment files of realistic generated flow records into DIR\n"
		"(created if missing) as gen-NNNNNN.fls, and print what was written.\n"
		"The same options and seed give the same records.\n"
		"\n"
		"  -n, --records N       records to write in all (required)\n"
		"  -o, --out DIR         output directory (required)\n"
		"  -e, --enis K          ENIs the records belong to (default 8)\n"
		"  -F, --flows F         distinct flows that recur (default 10000)\n"
		"  -s, --seed S          random seed (default 1)\n"
		"  -m, --per-segment M   records per segment file (default 1000000)\n"
		"  -b, --block-records B records per LZ4 block (default %u, max %u)\n"
		"      --v6-percent P    share of IPv6 flows, 0..100 (default 20)\n"
		"      --flows-only      only IP flow records (default: also a few loss,\n"
		"                        no-data and non-IP (ARP) records)\n"
		"      --start SECONDS   time of the first record, Unix seconds\n"
		"                        (default: the records end about now)\n"
		"      --step-ns NS      mean time between records in ns (default 10000)\n"
		"  -h, --help            this help\n",
		SEG_DEFAULT_BLOCK_RECORDS, SEG_MAX_BLOCK_RECORDS);
}

/* Records end about now: start = now - records * step (at least 1 s). */
static uint64_t default_start(const struct gen_opts *o)
{
	uint64_t now = (uint64_t)time(NULL) * 1000000000u;

	if (o->records > (now - 1000000000u) / o->p.step_ns)
		return 1000000000u;
	return now - o->records * o->p.step_ns;
}

enum { O_V6 = 256, O_FLOWS_ONLY, O_START, O_STEP };

/* Apply one parsed option to o; 0, or -EINVAL once a usage error is printed. */
static int gen_option(const char *prog, int opt, struct gen_opts *o, uint64_t *start_s,
		      bool *have_start)
{
	uint64_t v = 0;
	int rc = 0;

	switch (opt) {
	case 'n':
		rc = cli_parse_u64(prog, "--records", optarg, 1, UINT64_MAX / REC_SIZE, &o->records);
		break;
	case 'o': o->out = optarg; break;
	case 'e':
		rc = cli_parse_u64(prog, "--enis", optarg, 1, 1u << 20, &v);
		o->p.n_enis = (uint32_t)v; break;
	case 'F':
		rc = cli_parse_u64(prog, "--flows", optarg, 1, 1u << 26, &v);
		o->p.n_flows = (uint32_t)v; break;
	case 's':
		rc = cli_parse_u64(prog, "--seed", optarg, 0, UINT64_MAX, &o->p.seed);
		break;
	case 'm':
		rc = cli_parse_u64(prog, "--per-segment", optarg, 1, UINT64_MAX, &o->per_segment);
		break;
	case 'b':
		rc = cli_parse_u64(prog, "--block-records", optarg, 1, SEG_MAX_BLOCK_RECORDS, &o->block_records);
		break;
	case O_V6:
		rc = cli_parse_u64(prog, "--v6-percent", optarg, 0, 100, &v);
		o->p.v6_percent = (uint8_t)v; break;
	case O_FLOWS_ONLY: o->p.all_kinds = false; break;
	case O_START:
		rc = cli_parse_u64(prog, "--start", optarg, 1, UINT64_MAX / 2000000000u, start_s);
		*have_start = true; break;
	case O_STEP:
		rc = cli_parse_u64(prog, "--step-ns", optarg, 1, 1000000000000ull, &o->p.step_ns);
		break;
	default: cli_usage_hint(prog); return -EINVAL;
	}
	return rc;
}

/* Parse the options into o. Returns CLI_OK, or CLI_USAGE after a message. */
static int gen_parse(int argc, char **argv, struct gen_opts *o)
{
	static const struct option opts[] = {
		{"records", required_argument, NULL, 'n'},
		{"out", required_argument, NULL, 'o'},
		{"enis", required_argument, NULL, 'e'},
		{"flows", required_argument, NULL, 'F'},
		{"seed", required_argument, NULL, 's'},
		{"per-segment", required_argument, NULL, 'm'},
		{"block-records", required_argument, NULL, 'b'},
		{"v6-percent", required_argument, NULL, O_V6},
		{"flows-only", no_argument, NULL, O_FLOWS_ONLY},
		{"start", required_argument, NULL, O_START},
		{"step-ns", required_argument, NULL, O_STEP},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *prog = argv[0];
	uint64_t start_s = 0;
	bool have_start = false;
	int opt, rc = 0;

	while (rc == 0 && (opt = getopt_long(argc, argv, "n:o:e:F:s:m:b:h", opts, NULL)) != -1) {
		if (opt == 'h') {
			gen_usage(stdout);
			return -1;
		}
		rc = gen_option(prog, opt, o, &start_s, &have_start);
	}
	if (rc)
		return CLI_USAGE;
	if (optind < argc)
		return cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
	if (!o->records)
		return cli_usage_error(prog, "--records N is required");
	if (!o->out)
		return cli_usage_error(prog, "--out DIR is required");
	o->p.start_ns = have_start ? start_s * 1000000000u : default_start(o);
	return CLI_OK;
}

/* Make sure dir exists (one level is created). CLI_OK or CLI_FAULT. */
static int ensure_dir(const char *prog, const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "%s: cannot create directory %s: %s\n", prog, dir, strerror(errno));
		return CLI_FAULT;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "%s: %s is not a directory\n", prog, dir);
		return CLI_FAULT;
	}
	return CLI_OK;
}

/* First gen-NNNNNN.fls at or after *seq with neither it nor its partial present. */
static int next_name(const char *dir, uint32_t *seq, char *name, size_t len)
{
	char path[4096];

	for (; *seq < 1000000; (*seq)++) {
		snprintf(name, len, "gen-%06u%s", *seq, SEG_SUFFIX);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (access(path, F_OK) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/.%s.partial", dir, name);
		if (access(path, F_OK) == 0)
			continue;
		return 0;
	}
	return -EEXIST;
}

/* Generate n records into one sealed segment. Returns bytes written or -errno. */
static int64_t write_segment(const struct gen_opts *o, struct rec_gen *g,
			     const struct seg_header_info *hdr, const char *name,
			     uint64_t n, struct rec_flow *buf, struct seg_err *err)
{
	struct seg_writer_opts wo = {.block_records = (uint32_t)o->block_records};
	struct seg_writer *w = seg_writer_create(o->out, name, hdr, &wo, err);
	char path[4096];
	struct stat st;
	int rc;

	if (!w)
		return -errno;
	for (uint64_t done = 0; done < n;) {
		size_t k = n - done < GEN_CHUNK ? (size_t)(n - done) : GEN_CHUNK;
		rec_gen_next(g, buf, k);
		rc = seg_writer_append(w, buf, k, err);
		if (rc < 0) {
			seg_writer_abort(w);
			return rc;
		}
		done += k;
	}
	rc = seg_writer_seal(w, err);
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/%s", o->out, name);
	if (stat(path, &st) != 0) {
		snprintf(err->msg, sizeof(err->msg), "%.400s: sealed but cannot stat: %s",
			 path, strerror(errno));
		return -errno;
	}
	return (int64_t)st.st_size;
}

/* Header of every generated segment: the generator's ENI dictionary. */
static struct seg_eni_info *make_dict(uint32_t n_enis)
{
	struct seg_eni_info *d = calloc(n_enis, sizeof(*d));

	for (uint32_t i = 0; d && i < n_enis; i++)
		rec_gen_eni_info(i, &d[i]);
	return d;
}

static int gen_run(const char *prog, const struct gen_opts *o)
{
	struct seg_header_info hdr = {.format_version = SEG_FORMAT_VERSION,
				      .n_enis = o->p.n_enis};
	struct rec_flow *buf = malloc(GEN_CHUNK * sizeof(*buf));
	struct rec_gen *g = rec_gen_create(&o->p);
	uint64_t left = o->records, bytes = 0, segs = 0;
	struct seg_err err = {0};
	struct timespec ts;
	uint32_t seq = 0;
	char name[64];
	int status = CLI_OK;

	hdr.enis = make_dict(o->p.n_enis);
	snprintf(hdr.host_id, sizeof(hdr.host_id), "eniflow-gen");
	clock_gettime(CLOCK_REALTIME, &ts);
	hdr.created_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (!buf || !g || !hdr.enis) {
		fprintf(stderr, "%s: cannot set up the generator: %s\n", prog, strerror(errno));
		status = CLI_FAULT;
		goto out;
	}
	while (left > 0) {
		uint64_t n = left < o->per_segment ? left : o->per_segment;
		int64_t size;
		if (next_name(o->out, &seq, name, sizeof(name)) < 0) {
			fprintf(stderr, "%s: %s: no free gen-NNNNNN.fls name left\n", prog, o->out);
			status = CLI_FAULT;
			break;
		}
		size = write_segment(o, g, &hdr, name, n, buf, &err);
		if (size < 0) {
			fprintf(stderr, "%s: %s\n", prog, err.msg[0] ? err.msg : strerror((int)-size));
			status = CLI_FAULT;
			break;
		}
		printf("wrote %s/%s records=%" PRIu64 " bytes=%" PRId64 "\n", o->out, name, n, size);
		fflush(stdout);
		left -= n;
		bytes += (uint64_t)size;
		segs++;
	}
	if (status == CLI_OK)
		printf("total segments=%" PRIu64 " records=%" PRIu64 " bytes=%" PRIu64
		       " raw_bytes=%" PRIu64 " ratio=%.2f\n", segs, o->records, bytes,
		       o->records * REC_SIZE, bytes ? (double)(o->records * REC_SIZE) / (double)bytes : 0.0);
out:
	rec_gen_destroy(g);
	free(hdr.enis);
	free(buf);
	return status;
}

int cli_gen(int argc, char **argv)
{
	struct gen_opts o = {
		.per_segment = 1000000,
		.block_records = SEG_DEFAULT_BLOCK_RECORDS,
		.p = {.seed = 1, .n_enis = 8, .n_flows = 10000, .step_ns = 10000,
		      .v6_percent = 20, .all_kinds = true},
	};
	int rc = gen_parse(argc, argv, &o);

	if (rc < 0)
		return CLI_OK; /* --help */
	if (rc != CLI_OK)
		return rc;
	if (ensure_dir(argv[0], o.out) != CLI_OK)
		return CLI_FAULT;
	rc = gen_run(argv[0], &o);
	return cli_finish_stdout(argv[0]) != CLI_OK ? CLI_FAULT : rc;
}
