/*
 * test_check.h - the CHECK() of the flow-log plugin's unit tests: on a
 * false condition it prints file, line, the condition and the values the
 * test saw, counts a failure and goes on, so one run reports every broken
 * case. The test defines `int failures` and exits non-zero when it is set.
 */
#ifndef ENIFLOW_TEST_CHECK_H
#define ENIFLOW_TEST_CHECK_H

#include <stdio.h>

extern int failures;

#define CHECK(cond, ...)                                                             \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                \
			fputc('\n', stderr);                                         \
			failures++;                                                  \
		}                                                                    \
	} while (0)

#endif /* ENIFLOW_TEST_CHECK_H */
