/*
 * cli_main.c - the eniflow command: verb dispatch, top-level help, and the
 * helpers every verb shares.
 *
 * Each verb lives in its own file (cli_cat.c, cli_verify.c, cli_gen.c, cli_recover.c) and
 * parses its own options with getopt_long, so adding a verb is one table
 * line here and one file. The CLI is DPDK-free: it links only lib/.
 */
#include "cli.h"
#include "segment.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct verb {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct verb verbs[] = {
	{"cat", cli_cat, "print the records of segment files (JSON Lines, CSV, AWS text, raw)"},
	{"verify", cli_verify, "check every checksum, record and the index of segment files"},
	{"gen", cli_gen, "write sealed segments of realistic generated records"},
	{"recover", cli_recover, "seal the partial segments a crash left in directories"},
	{"query", cli_query, "filter records, or group and aggregate them (docs/query.md)"},
	{"top", cli_top, "top-N groups by bytes, packets or flows"},
	{"detect", cli_detect, "run a named detection (hogs, storm, drops, scanners, ...)"},
	{"export", cli_export, "send segment records to an IPFIX collector (UDP or TCP)"},
};

#define N_VERBS (sizeof(verbs) / sizeof(verbs[0]))

static void usage(FILE *f)
{
	fprintf(f,
		"usage: eniflow VERB [OPTIONS] [ARGS]\n"
		"       eniflow VERB --help\n"
		"       eniflow --version\n"
		"\n"
		"eniflow reads, checks and writes eniflow segment files (*.fls): LZ4\n"
		"streams of 96-byte VPC flow-log records with an ENI dictionary and an\n"
		"index (docs/record-format.md, docs/segment-format.md).\n"
		"\n"
		"verbs:\n");
	for (size_t i = 0; i < N_VERBS; i++)
		fprintf(f, "  %-8s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(f,
		"\n"
		"exit status: 0 success, 1 bad data or system error, 2 usage error\n");
}

int cli_usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	return CLI_USAGE;
}

int cli_usage_hint(const char *prog)
{
	fprintf(stderr, "Try '%s --help'.\n", prog);
	return CLI_USAGE;
}

int cli_parse_u64(const char *prog, const char *opt, const char *s,
		  uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	/* strtoull accepts "-1" (wrapping it) and leading blanks: refuse both */
	if (s[0] < '0' || s[0] > '9')
		goto bad;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	cli_usage_error(prog, "%s: '%s' is not an integer in [%" PRIu64 ", %" PRIu64 "]",
			opt, s, min, max);
	return -EINVAL;
}

int cli_finish_stdout(const char *prog)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: error writing output: %s\n", prog, strerror(errno));
		return CLI_FAULT;
	}
	return CLI_OK;
}

int main(int argc, char **argv)
{
	char prog[64];

	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "help") == 0 && argc > 2) {
		/* "eniflow help VERB" is "eniflow VERB --help" */
		static char help_opt[] = "--help";
		argv[1] = argv[2];
		argv[2] = help_opt;
		argc = 3;
	} else if (strcmp(argv[1], "--version") == 0) {
		printf("eniflow %s (record format v%d, segment format v%d)\n",
		       ENIFLOW_VERSION, REC_VERSION, SEG_FORMAT_VERSION);
		return CLI_OK;
	} else if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
		   !strcmp(argv[1], "help")) {
		usage(stdout);
		return CLI_OK;
	}
	for (size_t i = 0; i < N_VERBS; i++) {
		if (strcmp(argv[1], verbs[i].name) != 0)
			continue;
		snprintf(prog, sizeof(prog), "eniflow %s", verbs[i].name);
		argv[1] = prog;
		return verbs[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "eniflow: unknown verb '%s'\n\n", argv[1]);
	usage(stderr);
	return CLI_USAGE;
}
