/*
 * cli.h - internal interface of the eniflow CLI: one entry point per verb
 * and the few helpers every verb shares (argument parsing, messages).
 *
 * Exit codes are the same for every verb: 0 success, 1 a fault in the data
 * or the system (bad segment, missing file, disk full), 2 a usage error.
 * Scripts can therefore tell "you called me wrong" from "the data is bad".
 */
#ifndef ENIFLOW_CLI_H
#define ENIFLOW_CLI_H

#include <stdint.h>
#include <stdio.h>

enum cli_exit {
	CLI_OK = 0,
	CLI_FAULT = 1,
	CLI_USAGE = 2,
};

/*
 * Verbs. argv[0] is "eniflow VERB" (getopt prints it in its messages); the
 * verb's own options and operands follow. Each returns an enum cli_exit.
 */
int cli_cat(int argc, char **argv);
int cli_verify(int argc, char **argv);
int cli_gen(int argc, char **argv);
int cli_recover(int argc, char **argv);
int cli_query(int argc, char **argv);
int cli_top(int argc, char **argv);
int cli_detect(int argc, char **argv);
int cli_export(int argc, char **argv); /* argv[1] is the format: "ipfix" */

/**
 * Print "eniflow VERB: MESSAGE" and a hint to run --help on stderr.
 * prog is argv[0] of the verb. Returns CLI_USAGE, so verbs can
 * `return cli_usage_error(...)`.
 */
int cli_usage_error(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/**
 * After getopt has printed its own message for a bad option: print the hint
 * to run --help. Returns CLI_USAGE.
 */
int cli_usage_hint(const char *prog);

/**
 * Parse a decimal unsigned integer in [min, max] for option opt. On failure
 * print a usage error naming opt and the value, and return -EINVAL.
 */
int cli_parse_u64(const char *prog, const char *opt, const char *s,
		  uint64_t min, uint64_t max, uint64_t *out);

/**
 * Flush stdout and report a write error (disk full, closed pipe) on stderr.
 * Returns CLI_OK or CLI_FAULT.
 */
int cli_finish_stdout(const char *prog);

#endif /* ENIFLOW_CLI_H */
