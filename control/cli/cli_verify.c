/*
 * cli_verify.c - `eniflow verify`: check segment files completely.
 *
 * The checking itself is seg_verify() (lib/segment): trailer, index, header,
 * every block's LZ4 checksums and record count, every record. This file only
 * turns its verdict into one line per file on stdout, so that scripts can
 * grep "^FAIL" and people can read it, and sets the exit status.
 */
#include "cli.h"
#include "segment.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

static void verify_usage(FILE *f)
{
	fprintf(f,
		"usage: eniflow verify SEG...\n"
		"\n"
		"Check each segment file: trailer, index, header and ENI dictionary,\n"
		"every block's LZ4 block and content checksums, record counts, every\n"
		"record's fields, and that the index matches the blocks.\n"
		"Prints one line per file:\n"
		"  OK PATH records=N blocks=M\n"
		"  FAIL PATH: offset N: PROBLEM\n"
		"and exits 1 if any file failed.\n"
		"\n"
		"  -h, --help  this help\n");
}

/* "FAIL path: problem"; err.msg normally starts with the path already. */
static void print_fail(const char *path, const struct seg_err *err, int rc)
{
	const char *msg = err->msg[0] ? err->msg : strerror(-rc);
	size_t n = strlen(path);

	if (strncmp(msg, path, n) == 0 && msg[n] == ':')
		printf("FAIL %s\n", msg);
	else
		printf("FAIL %s: %s\n", path, msg);
}

static int verify_file(const char *path)
{
	struct seg_err err = {0};
	struct seg_reader *r;
	int rc = seg_verify(path, &err);

	if (rc == 0) {
		/* verified: opening again only reads trailer, index and header */
		r = seg_reader_open(path, &err);
		if (r) {
			printf("OK %s records=%" PRIu64 " blocks=%u\n", path,
			       seg_reader_n_records(r), seg_reader_n_blocks(r));
			seg_reader_close(r);
			return CLI_OK;
		}
		rc = -errno; /* changed under our feet */
	}
	print_fail(path, &err, rc);
	return CLI_FAULT;
}

int cli_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt, status = CLI_OK;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt != 'h')
			return cli_usage_hint(argv[0]);
		verify_usage(stdout);
		return CLI_OK;
	}
	if (optind >= argc)
		return cli_usage_error(argv[0], "no segment file given");
	for (int i = optind; i < argc; i++) {
		if (verify_file(argv[i]) != CLI_OK)
			status = CLI_FAULT;
		fflush(stdout); /* one line per file, as it is decided */
	}
	return cli_finish_stdout(argv[0]) != CLI_OK ? CLI_FAULT : status;
}
