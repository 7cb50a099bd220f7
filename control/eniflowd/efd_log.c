/*
 * efd_log.c - small helpers every eniflowd module uses: the log line format
 * (one line per event, level and key=value pairs, to stderr for journald),
 * the wall clock, and struct efd_err.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "efd_internal.h"

uint64_t efd_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void efd_log(const char *level, const char *event, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n = snprintf(line, sizeof(line), "eniflowd level=%s event=%s ", level, event);

	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}

void efd_err_set(struct efd_err *e, int status, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return;
	e->status = status;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

void efd_err_prefix(struct efd_err *e, const char *pre)
{
	char old[sizeof(e->msg)];
	size_t pl = strlen(pre), ol;

	memcpy(old, e->msg, sizeof(old));
	ol = strnlen(old, sizeof(old) - 1);
	if (pl > sizeof(e->msg) - 1)
		pl = sizeof(e->msg) - 1;
	memcpy(e->msg, pre, pl);
	if (ol > sizeof(e->msg) - 1 - pl)
		ol = sizeof(e->msg) - 1 - pl;
	memcpy(e->msg + pl, old, ol);
	e->msg[pl + ol] = '\0';
}
