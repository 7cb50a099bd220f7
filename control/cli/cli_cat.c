/*
 * cli_cat.c - `eniflow cat`: print the records of segment files.
 *
 * Blocks are read one by one through the index rather than with
 * seg_reader_foreach, so that a bad block is reported (file, offset,
 * problem) and the blocks after it are still printed: a damaged file shows
 * everything that can be trusted and says what could not. Text comes from
 * lib/rec_format, the same code the daemon and query engine use.
 */
#include "cli.h"
#include "rec_format.h"
#include "segment.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/** "raw" is the record bytes themselves, the same as `lz4 -dc` of the blocks. */
#define CAT_RAW REC_FMT_MAX

struct cat_ctx {
	const char *prog;
	int fmt; /* enum rec_fmt, or CAT_RAW */
	/* the current file's dictionary, sorted by index for bsearch */
	const struct seg_eni_info **dict;
	uint32_t n_dict;
	const struct seg_eni_info *last; /* records come in runs of one ENI */
	const char *host_id; /* the current file's host: ECS observer.hostname */
	char line[REC_FMT_LINE_MAX];
};

static void cat_usage(FILE *f)
{
	fprintf(f,
		"usage: eniflow cat [--format json|csv|aws|ecs|raw] SEG...\n"
		"\n"
		"Print every record of each segment file, in file order.\n"
		"\n"
		"  -f, --format FMT  json (default): JSON Lines, AWS VPC flow-log field names\n"
		"                    csv: the same columns as CSV, one header row\n"
		"                    aws: AWS's default flow-log text format with its header\n"
		"                    ecs: Elastic Common Schema JSON Lines (Filebeat, Logstash)\n"
		"                    raw: the 96-byte binary records (as `lz4 -dc` gives them)\n"
		"  -h, --help        this help\n"
		"\n"
		"A file that cannot be opened, or a block that fails its checksum, is\n"
		"reported on stderr with the file, offset and problem; the other files\n"
		"and blocks are still printed, and the exit status is 1.\n"
		"Fields are documented in docs/record-format.md.\n");
}

static int cmp_eni(const void *a, const void *b)
{
	uint32_t x = (*(const struct seg_eni_info *const *)a)->index;
	uint32_t y = (*(const struct seg_eni_info *const *)b)->index;
	return x < y ? -1 : x > y;
}

static int load_dict(struct cat_ctx *c, const struct seg_header_info *h)
{
	free(c->dict);
	c->dict = NULL;
	c->n_dict = 0;
	c->last = NULL;
	if (h->n_enis == 0)
		return 0;
	c->dict = malloc(h->n_enis * sizeof(*c->dict));
	if (!c->dict)
		return -ENOMEM;
	for (uint32_t i = 0; i < h->n_enis; i++)
		c->dict[i] = &h->enis[i];
	c->n_dict = h->n_enis;
	qsort(c->dict, c->n_dict, sizeof(*c->dict), cmp_eni);
	return 0;
}

/* The dictionary entry of ENI index eni, or NULL if the segment has none. */
static const struct seg_eni_info *lookup(struct cat_ctx *c, uint32_t eni)
{
	struct seg_eni_info key = {.index = eni};
	const struct seg_eni_info *kp = &key, **hit;

	if (c->last && c->last->index == eni)
		return c->last;
	hit = bsearch(&kp, c->dict, c->n_dict, sizeof(*c->dict), cmp_eni);
	c->last = hit ? *hit : NULL;
	return c->last;
}

static int print_records(struct cat_ctx *c, const struct rec_flow *recs, size_t n)
{
	if (c->fmt == CAT_RAW)
		return fwrite(recs, sizeof(*recs), n, stdout) == n ? 0 : -EIO;
	for (size_t i = 0; i < n; i++) {
		int len = c->fmt == REC_FMT_ECS
			? rec_format_ecs(&recs[i], lookup(c, recs[i].eni), c->host_id,
					 c->line, sizeof(c->line))
			: rec_format((enum rec_fmt)c->fmt, &recs[i], lookup(c, recs[i].eni),
				     c->line, sizeof(c->line));
		if (len < 0) /* cannot happen with REC_FMT_LINE_MAX; say so if it does */
			return len;
		if (fwrite(c->line, 1, (size_t)len, stdout) != (size_t)len)
			return -EIO;
	}
	return 0;
}

static int cat_open(void *ctx, struct seg_reader *r, const char *path)
{
	struct cat_ctx *c = ctx;

	c->host_id = seg_reader_header(r)->host_id;
	if (load_dict(c, seg_reader_header(r)) < 0) {
		fprintf(stderr, "%s: %s: out of memory\n", c->prog, path);
		return -ENOMEM;
	}
	return 0;
}

/* A failure here is stdout breaking: cli_finish_stdout says why. */
static int cat_block(void *ctx, const struct rec_flow *recs, size_t n, const char *path)
{
	(void)path;
	return print_records(ctx, recs, n);
}

static const struct cli_block_ops cat_ops = {cat_open, cat_block};

int cli_cat(int argc, char **argv)
{
	static const struct option opts[] = {
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cat_ctx *c;
	enum rec_fmt f;
	int fmt = REC_FMT_JSON, opt, status = CLI_OK;

	while ((opt = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			if (strcmp(optarg, "raw") == 0)
				fmt = CAT_RAW;
			else if (rec_fmt_parse(optarg, &f) == 0)
				fmt = (int)f;
			else
				return cli_usage_error(argv[0], "--format: unknown format '%s' "
						       "(json, csv, aws, ecs or raw)", optarg);
			break;
		case 'h':
			cat_usage(stdout);
			return CLI_OK;
		default:
			return cli_usage_hint(argv[0]);
		}
	}
	if (optind >= argc)
		return cli_usage_error(argv[0], "no segment file given");
	c = calloc(1, sizeof(*c));
	if (!c) {
		fprintf(stderr, "%s: out of memory\n", argv[0]);
		return CLI_FAULT;
	}
	c->prog = argv[0];
	c->fmt = fmt;
	/* big writes: text output is most of cat's work */
	setvbuf(stdout, NULL, _IOFBF, 1 << 20);
	if (fmt != CAT_RAW)
		fputs(rec_fmt_header((enum rec_fmt)fmt), stdout);
	for (int i = optind; i < argc && !ferror(stdout); i++)
		if (cli_each_block(c->prog, argv[i], &cat_ops, c) != CLI_OK)
			status = CLI_FAULT;
	free(c->dict);
	free(c);
	return cli_finish_stdout(argv[0]) != CLI_OK ? CLI_FAULT : status;
}
