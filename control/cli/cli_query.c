/*
 * cli_query.c - `eniflow query`, `eniflow top` and `eniflow detect`: the
 * query engine (lib/query.h, lib/detect.h) on the command line.
 *
 * The three verbs share one option parser: the same --since/--until,
 * --filter, --format and limits mean the same thing everywhere, and match
 * the parameters of the REST routes. query lists matching records or, with
 * --group-by/--agg/--bucket, aggregates them; top is query with defaults
 * for a top-N; detect runs a named detection.
 */
#include "cli.h"
#include "detect.h"
#include "query.h"
#include "rec_format.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum qverb { V_QUERY, V_TOP, V_DETECT };

struct qopts {
	const char *prog;
	enum qverb verb;
	struct qry_params p;          /* the same parameters as the REST routes */
	const char *format;           /* as given: records also take "aws" */
	bool stats, list;
	const char *det_name;
	char *const *paths;
	size_t n_paths;
};

static void usage(enum qverb v, FILE *f)
{
	static const char *const head[] = {
		"usage: eniflow query [OPTIONS] PATH...\n"
		"\n"
		"Print the records of segment files (PATH: files, or directories searched\n"
		"recursively for *.fls) that match --filter in the time range; or, with\n"
		"--group-by, --agg or --bucket, aggregate them into a table.\n",
		"usage: eniflow top [OPTIONS] PATH...\n"
		"\n"
		"The top N groups (default: sources) by bytes (or --order) in the range.\n",
		"usage: eniflow detect NAME [OPTIONS] PATH...\n"
		"       eniflow detect --list\n"
		"\n"
		"Run a named detection over the records in the range. Thresholds are set\n"
		"with --set NAME=VALUE; --list shows every detection and its settings.\n",
	};
	fprintf(f, "%s\n", head[v]);
	fprintf(f,
		"  -S, --since TIME      from TIME: ISO 8601 (2026-11-28T09:00:00Z), @NS,\n"
		"                        or relative to now (30m, 1h, 2d)\n"
		"  -U, --until TIME      up to TIME (exclusive), same forms\n"
		"  -f, --filter EXPR     filter expression (docs/query.md), e.g.\n"
		"                        'src in 10.0.0.0/8 and dport in {22, 3389}'\n"
		"  -F, --format FMT      table, json or csv (records: json, csv or aws)\n"
		"      --max-records N   stop with an error after scanning N records\n"
		"      --max-groups N    stop with an error past N groups\n"
		"      --timeout DUR     stop with an error after DUR (e.g. 30s)\n"
		"      --stats           print files, blocks read/total and records to stderr\n");
	if (v != V_DETECT)
		fprintf(f,
			"  -g, --group-by KEYS   e.g. eni,src,dport (eni vpc subnet account src dst\n"
			"                        peer local sport dport proto action direction rule\n"
			"                        layer l2 kind tcpflags ipver ethertype eni_index)\n"
			"  -a, --agg AGGS        e.g. flows,packets,bytes,bps,pps,distinct(dst),\n"
			"                        distinct(dport),rejected,peak_bps,first,last\n"
			"  -o, --order AGG       sort by this aggregate, largest first (--asc)\n"
			"      --asc             ascending order\n"
			"  -t, --top N           keep N rows (per time bucket)\n"
			"  -b, --bucket DUR      time series: one row per group per DUR bucket\n"
			"  -n, --limit N         records to print without aggregation (default all)\n");
	else
		fprintf(f,
			"  -s, --set NAME=VALUE  a detection setting (repeatable)\n"
			"      --list            list detections and settings\n");
	fprintf(f, "  -h, --help            this help\n\nexamples:\n");
	if (v == V_QUERY)
		fprintf(f,
			"  eniflow query --since 1h -f 'action = reject and dport = 22' data/\n"
			"  eniflow query -S 2026-11-28T09:00:00Z -U 2026-11-28T10:00:00Z \\\n"
			"      -g eni,dport -a flows,bytes,distinct(src) -o bytes -F csv data/\n"
			"  eniflow query -b 1m -g eni -a bps,pps data/   # per-minute series\n");
	else if (v == V_TOP)
		fprintf(f,
			"  eniflow top --since 1h data/                  # top 10 sources by bytes\n"
			"  eniflow top -g dst,dport -o flows -t 20 -f 'proto = udp' data/\n");
	else
		fprintf(f,
			"  eniflow detect scanners --since 1d --set min_dsts=50 data/\n"
			"  eniflow detect drops -f 'src = 10.0.0.5 and dport = 443' data/\n"
			"  eniflow detect threats --set lists=firehol_level1.netset,drop.txt data/\n");
}

static int list_detections(void)
{
	size_t n;
	const struct qry_det_info *l = qry_det_list(&n);

	for (size_t i = 0; i < n; i++) {
		printf("%s: %s\n", l[i].name, l[i].summary);
		for (int p = 0; p < QRY_DET_MAX_PARAMS && l[i].params[p].name; p++)
			printf("    %s=%s\t%s\n", l[i].params[p].name,
			       *l[i].params[p].def ? l[i].params[p].def : "(unset)", l[i].params[p].help);
	}
	return CLI_OK;
}

/* After the options: --list, the detection name, the paths, and the
 * parameters checked as a whole. Same returns as parse(). */
static int parse_operands(int argc, char **argv, struct qopts *o)
{
	struct qry_err err;

	if (o->list)
		return o->verb == V_DETECT ? list_detections() : cli_usage_error(o->prog, "--list is for detect");
	if (o->verb == V_DETECT) {
		if (optind >= argc)
			return cli_usage_error(o->prog, "which detection? (eniflow detect --list)");
		o->det_name = argv[optind++];
	}
	if (optind >= argc)
		return cli_usage_error(o->prog, "no segment file or directory given");
	o->paths = argv + optind;
	o->n_paths = (size_t)(argc - optind);
	if (o->verb != V_QUERY || o->p.aggregate) {
		if (o->format && qry_params_set(&o->p, "format", o->format, &err))
			return cli_usage_error(o->prog, "%s", err.msg);
		if (qry_params_build(&o->p, o->verb == V_TOP, &err))
			return cli_usage_error(o->prog, "%s", err.msg);
	} else if (o->p.scan.until_ns && o->p.scan.until_ns <= o->p.scan.since_ns) {
		return cli_usage_error(o->prog, "until: must be after since");
	}
	return -1;
}

/* getopt over argv; fills o. Returns -1 to go on, or an exit code. */
static int parse(int argc, char **argv, struct qopts *o)
{
	enum { O_MAXREC = 256, O_MAXGRP, O_TIMEOUT, O_STATS, O_ASC, O_LIST };
	static const struct option lopts[] = {
		{"since", required_argument, NULL, 'S'}, {"until", required_argument, NULL, 'U'},
		{"filter", required_argument, NULL, 'f'}, {"format", required_argument, NULL, 'F'},
		{"group-by", required_argument, NULL, 'g'}, {"agg", required_argument, NULL, 'a'},
		{"order", required_argument, NULL, 'o'}, {"top", required_argument, NULL, 't'},
		{"bucket", required_argument, NULL, 'b'}, {"limit", required_argument, NULL, 'n'},
		{"set", required_argument, NULL, 's'}, {"max-records", required_argument, NULL, O_MAXREC},
		{"max-groups", required_argument, NULL, O_MAXGRP},
		{"timeout", required_argument, NULL, O_TIMEOUT}, {"stats", no_argument, NULL, O_STATS},
		{"asc", no_argument, NULL, O_ASC}, {"list", no_argument, NULL, O_LIST},
		{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
	};
	/* option -> parameter name (qry_params_set) */
	static const struct {
		int opt;
		const char *name;
	} map[] = {
		{'S', "since"}, {'U', "until"}, {'f', "filter"}, {'g', "group_by"}, {'a', "agg"},
		{'o', "order"}, {'t', "top"}, {'b', "bucket"}, {'n', "limit"}, {'s', "set"},
		{O_MAXREC, "max_records"}, {O_MAXGRP, "max_groups"}, {O_TIMEOUT, "timeout"},
		{O_ASC, "asc"},
	};
	struct qry_err err;
	int c;

	while ((c = getopt_long(argc, argv, "S:U:f:F:g:a:o:t:b:n:s:h", lopts, NULL)) != -1) {
		const char *name = NULL;
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (map[i].opt == c)
				name = map[i].name;
		if (name) {
			int rc = qry_params_set(&o->p, name, optarg ? optarg : "", &err);
			if (rc == -ENOMEM) {
				fprintf(stderr, "%s: out of memory\n", o->prog);
				return CLI_FAULT;
			}
			if (rc)
				return cli_usage_error(o->prog, "%s", err.msg);
			continue;
		}
		switch (c) {
		case 'F': o->format = optarg; break;
		case O_STATS: o->stats = true; break;
		case O_LIST: o->list = true; break;
		case 'h': usage(o->verb, stdout); return CLI_OK;
		default: return cli_usage_hint(o->prog);
		}
	}
	return parse_operands(argc, argv, o);
}

static void print_stats(const struct qopts *o, const struct qry_stats *s)
{
	if (!o->stats)
		return;
	fprintf(stderr,
		"%s: files %" PRIu64 " (skipped %" PRIu64 "), blocks read %" PRIu64 " of %" PRIu64
		", records scanned %" PRIu64 ", matched %" PRIu64 ", groups %" PRIu64 "\n",
		o->prog, s->files, s->files_skipped, s->blocks_read, s->blocks_total,
		s->records_scanned, s->records_matched, s->groups);
}

struct list_ctx {
	enum rec_fmt fmt;
	uint64_t left;
};

static int list_rec(const struct rec_flow *r, const struct qry_seg_ctx *seg, void *arg)
{
	struct list_ctx *c = arg;
	const struct seg_eni_info *eni = NULL;
	char line[REC_FMT_LINE_MAX];

	for (uint32_t i = 0; i < seg->hdr->n_enis; i++)
		if (seg->hdr->enis[i].index == r->eni)
			eni = &seg->hdr->enis[i];
	if (rec_format(c->fmt, r, eni, line, sizeof(line)) < 0)
		return -EINVAL;
	if (fputs(line, stdout) == EOF)
		return -EIO;
	return --c->left ? 0 : 1; /* 1: limit reached, stop quietly */
}

/* query without aggregation: print the matching records. */
static int run_list(struct qopts *o, struct qry_stats *st, struct qry_err *err)
{
	struct list_ctx c = {.fmt = REC_FMT_JSON, .left = o->p.limit ? o->p.limit : UINT64_MAX};
	const char *f = o->format ? o->format : "json";

	if (!strcmp(f, "table"))
		f = "aws";
	if (rec_fmt_parse(f, &c.fmt))
		return cli_usage_error(o->prog, "--format: '%s' is not json, csv, aws or table", f);
	if (*rec_fmt_header(c.fmt))
		fputs(rec_fmt_header(c.fmt), stdout);
	struct qry_scan_cb cb = {.rec_cb = list_rec, .arg = &c};
	int rc = qry_scan((const char *const *)o->paths, o->n_paths, &o->p.scan, &cb, st, err);
	print_stats(o, st);
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", o->prog, err->msg[0] ? err->msg : strerror(-rc));
		return CLI_FAULT;
	}
	return cli_finish_stdout(o->prog);
}

static int run(struct qopts *o)
{
	struct qry_err err = {0};
	struct qry_stats st = {0};
	struct qry_table *t;

	if (o->verb == V_QUERY && !o->p.aggregate)
		return run_list(o, &st, &err);
	if (o->verb == V_DETECT)
		t = qry_det_run(o->det_name, (const char *const *)o->p.settings, o->p.n_settings,
				(const char *const *)o->paths, o->n_paths, &o->p.scan, &st, &err);
	else
		t = qry_run((const char *const *)o->paths, o->n_paths, &o->p.scan, &o->p.spec, &st,
			    &err);
	print_stats(o, &st);
	if (!t) {
		fprintf(stderr, "%s: %s\n", o->prog, err.msg[0] ? err.msg : strerror(errno));
		/* A bad detection name or setting is the caller's mistake. */
		return o->verb == V_DETECT && errno == EINVAL && !st.files ? CLI_USAGE : CLI_FAULT;
	}
	qry_table_print(t, o->p.format, stdout);
	qry_table_destroy(t);
	return cli_finish_stdout(o->prog);
}

static int verb_main(enum qverb v, int argc, char **argv)
{
	struct qopts o = {.prog = argv[0], .verb = v};
	int rc = parse(argc, argv, &o);

	if (rc == -1)
		rc = run(&o);
	qry_params_clear(&o.p);
	return rc;
}

int cli_query(int argc, char **argv)
{
	return verb_main(V_QUERY, argc, argv);
}

int cli_top(int argc, char **argv)
{
	return verb_main(V_TOP, argc, argv);
}

int cli_detect(int argc, char **argv)
{
	return verb_main(V_DETECT, argc, argv);
}
