/*
 * cli_recover.c - `eniflow recover DIR...`: seal what a crash left behind.
 *
 * Runs seg_recover_dir() (lib/segment), the same recovery eniflowd runs at
 * start, and prints one line per partial file it handled, so that a person
 * or a script can see what was kept and what was cut. The walk goes on past
 * a file it cannot recover; the first such error is printed and the exit
 * status is 1.
 */
#include "cli.h"
#include "segment.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>

static void recover_usage(FILE *f)
{
	fprintf(f,
		"usage: eniflow recover DIR...\n"
		"\n"
		"Recover every partial segment (.NAME.fls.partial) in each DIR: keep the\n"
		"longest valid prefix of whole, checksum-valid blocks, rebuild the index\n"
		"and seal it as NAME.fls. Prints one line per file:\n"
		"  RECOVERED PATH blocks=B records=N dropped_bytes=D\n"
		"  REMOVED PARTIAL (header never written whole: nothing to keep)\n"
		"  FAIL DIR: PROBLEM\n"
		"and a total line. Exits 1 if a file could not be recovered.\n"
		"\n"
		"  -h, --help  this help\n");
}

struct tally { uint64_t files, records, dropped; };

static void report_cb(const struct seg_recovery_report *r, void *arg)
{
	struct tally *t = arg;

	t->files++;
	t->records += r->records_kept;
	t->dropped += r->bytes_dropped;
	if (r->header_lost)
		printf("REMOVED %s dropped_bytes=%" PRIu64 "\n", r->path, r->bytes_dropped);
	else
		printf("RECOVERED %s blocks=%" PRIu64 " records=%" PRIu64 " dropped_bytes=%" PRIu64 "\n",
		       r->path, r->blocks_kept, r->records_kept, r->bytes_dropped);
}

int cli_recover(int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct tally t = {0};
	int opt, status = CLI_OK;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt != 'h')
			return cli_usage_hint(argv[0]);
		recover_usage(stdout);
		return CLI_OK;
	}
	if (optind >= argc)
		return cli_usage_error(argv[0], "no directory given");
	for (int i = optind; i < argc; i++) {
		struct seg_err err = {0};
		int rc = seg_recover_dir(argv[i], report_cb, &t, &err);
		if (rc < 0) {
			printf("FAIL %s\n", err.msg[0] ? err.msg : strerror(-rc));
			status = CLI_FAULT;
		}
	}
	printf("total files=%" PRIu64 " records=%" PRIu64 " dropped_bytes=%" PRIu64 "\n", t.files,
	       t.records, t.dropped);
	return cli_finish_stdout(argv[0]) != CLI_OK ? CLI_FAULT : status;
}
