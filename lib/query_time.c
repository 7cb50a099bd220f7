/*
 * query_time.c - time and duration parsing for queries (--since/--until,
 * bucket sizes, filter durations) and the clocks the engine uses.
 *
 * Kept apart so that the CLI, the REST routes and the filter language share
 * one spelling of "1h" and of ISO 8601.
 */
#include "query.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t qry_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t qry_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int qry_parse_duration(const char *s, uint64_t *out_ns)
{
	static const struct {
		const char *unit;
		double ns;
	} units[] = {
		{"", 1e9}, {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9},
		{"m", 60e9}, {"min", 60e9}, {"h", 3600e9}, {"d", 86400e9}, {"w", 604800e9},
	};
	char *end;
	double v;

	if (!s || !(isdigit((unsigned char)s[0]) || s[0] == '.'))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || v < 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(end, units[i].unit)) {
			double ns = v * units[i].ns;
			if (ns >= 1.8e19)
				return -EINVAL;
			*out_ns = (uint64_t)(ns + 0.5);
			return 0;
		}
	return -EINVAL;
}

/* "+hh:mm", "-hhmm", "Z" or "" -> seconds east of UTC. */
static int parse_tz(const char *s, long *off)
{
	int h, m = 0;
	char c;

	*off = 0;
	if (!*s || !strcmp(s, "Z") || !strcmp(s, "z"))
		return 0;
	if ((s[0] != '+' && s[0] != '-') ||
	    (sscanf(s + 1, "%2d:%2d%c", &h, &m, &c) != 2 && sscanf(s + 1, "%2d%2d%c", &h, &m, &c) != 2))
		return -EINVAL;
	if (h > 23 || m > 59)
		return -EINVAL;
	*off = (h * 3600L + m * 60L) * (s[0] == '-' ? -1 : 1);
	return 0;
}

static int parse_iso(const char *s, uint64_t *out_ns)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%d", &tm);
	uint64_t frac = 0;
	long off;

	if (!p)
		return -EINVAL;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		const char *q = strptime(p + 1, "%H:%M", &tm);
		if (!q)
			return -EINVAL;
		p = q;
		if (*p == ':') {
			q = strptime(p + 1, "%S", &tm);
			if (!q)
				return -EINVAL;
			p = q;
		}
		if (*p == '.') {
			uint64_t scale = 100000000ull;
			for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
				frac += (uint64_t)(*p - '0') * scale;
		}
	}
	if (parse_tz(p, &off))
		return -EINVAL;
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || t - off < 0)
		return -EINVAL;
	*out_ns = (uint64_t)(t - off) * 1000000000ull + frac;
	return 0;
}

int qry_parse_time(const char *s, uint64_t now_ns, uint64_t *out_ns)
{
	uint64_t d;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '@') {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(s + 1, &end, 10);
		if (errno || *end || end == s + 1)
			return -EINVAL;
		*out_ns = v;
		return 0;
	}
	/* Relative: a duration with a unit (a bare number would read as a year). */
	if (strlen(s) < 8 && !qry_parse_duration(s, &d) && !isdigit((unsigned char)s[strlen(s) - 1])) {
		*out_ns = d > now_ns ? 0 : now_ns - d;
		return 0;
	}
	return parse_iso(s, out_ns);
}
