/* Proves every ECS line is one valid JSON object whose ECS fields have ECS types and the record's values (parsed back with jansson, not string-matched). */
#include "rec_format.h"
#include "recgen.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int failures;

#include "test_check.h"

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), to check timestamps without libc. */
static long days_from_civil(long y, long m, long d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static uint64_t parse_iso(const char *s)
{
	long y, mo, d, h, mi, sec;
	unsigned long long frac;
	char z;
	if (!s || strlen(s) != 30 ||
	    sscanf(s, "%4ld-%2ld-%2ldT%2ld:%2ld:%2ld.%9lluZ%c", &y, &mo, &d, &h, &mi, &sec, &frac, &z) != 7)
		return 0;
	return ((uint64_t)days_from_civil(y, mo, d) * 86400 + (uint64_t)(h * 3600 + mi * 60 + sec)) *
		       1000000000ull + frac;
}

static const char *sget(json_t *o, const char *a, const char *b)
{
	json_t *x = json_object_get(o, a);
	return json_string_value(b ? json_object_get(x, b) : x);
}

static json_t *oget(json_t *o, const char *a, const char *b)
{
	return json_object_get(json_object_get(o, a), b);
}

static int check_line(const struct rec_flow *r, const struct seg_eni_info *eni, const char *line)
{
	json_error_t err;
	json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &err);
	int bad = 0;
	char a[64];

	if (!o) {
		fprintf(stderr, "invalid JSON (%s) at %d: %s", err.text, err.position, line);
		return 1;
	}
	bad += parse_iso(sget(o, "@timestamp", NULL)) != r->first_ns;
	bad += parse_iso(sget(o, "event", "start")) != r->first_ns;
	bad += parse_iso(sget(o, "event", "end")) != r->last_ns;
	bad += !sget(o, "event", "action") || !sget(o, "event", "outcome");
	bad += !json_is_object(json_object_get(o, "cloud")) ||
	       strcmp(json_string_value(oget(json_object_get(o, "cloud"), "account", "id")) ?: "",
		      eni->account_id);
	bad += strcmp(sget(o, "labels", "vpc_id") ?: "", eni->vpc_id) != 0;
	if (r->kind == REC_KIND_FLOW) {
		bad += json_integer_value(oget(o, "network", "packets")) != (json_int_t)r->packets;
		bad += json_integer_value(oget(o, "network", "bytes")) != (json_int_t)r->bytes;
		bad += strcmp(sget(o, "network", "direction") ?: "",
			      r->direction ? "egress" : "ingress") != 0;
		bad += strcmp(sget(o, "event", "outcome") ?: "",
			      r->verdict ? "failure" : "success") != 0;
	}
	if (r->kind == REC_KIND_FLOW && r->ip_version) {
		bad += strcmp(sget(o, "source", "ip") ?: "", rec_addr_str(r, true, a, sizeof(a))) != 0;
		bad += strcmp(sget(o, "destination", "ip") ?: "", rec_addr_str(r, false, a, sizeof(a))) != 0;
		char num[8];
		snprintf(num, sizeof(num), "%u", r->protocol);
		bad += strcmp(sget(o, "network", "iana_number") ?: "", num) != 0;
		if (r->protocol == 6 || r->protocol == 17) {
			bad += !json_is_integer(oget(o, "source", "port")) ||
			       json_integer_value(oget(o, "source", "port")) != r->src_port;
			bad += json_integer_value(oget(o, "destination", "port")) != r->dst_port;
			bad += strcmp(sget(o, "network", "transport") ?: "",
				      r->protocol == 6 ? "tcp" : "udp") != 0;
		}
	}
	if (bad)
		fprintf(stderr, "%d wrong fields in: %s", bad, line);
	json_decref(o);
	return bad != 0;
}

int main(void)
{
	struct rec_gen_params p = {.seed = 7, .n_enis = 8, .v6_percent = 30, .all_kinds = true};
	struct rec_gen *g = rec_gen_create(&p);
	static struct rec_flow recs[20000];
	char line[REC_FMT_LINE_MAX];
	int kinds[REC_KIND_MAX] = {0}, bad = 0;

	CHECK(g != NULL, "rec_gen_create failed");
	rec_gen_next(g, recs, 20000);
	for (int i = 0; i < 20000; i++) {
		struct seg_eni_info eni;
		rec_gen_eni_info(recs[i].eni, &eni);
		int len = rec_format_ecs(&recs[i], &eni, "host-1", line, sizeof(line));
		int len2 = rec_format(REC_FMT_ECS, &recs[i], &eni, line + 2048, 2048);
		CHECK(len > 0 && line[len - 1] == '\n' && !memchr(line, '\n', (size_t)len - 1),
		      "record %d: length %d", i, len);
		CHECK(len2 > 0, "rec_format(REC_FMT_ECS) gave %d", len2);
		if (len <= 0)
			continue;
		line[len] = '\0';
		bad += check_line(&recs[i], &eni, line);
		kinds[recs[i].kind]++;
		if (bad > 5)
			break;
	}
	CHECK(bad == 0, "%d bad lines", bad);
	CHECK(kinds[0] && kinds[1] && kinds[2], "kinds seen %d %d %d", kinds[0], kinds[1], kinds[2]);
	enum rec_fmt f;
	CHECK(rec_fmt_parse("ecs", &f) == 0 && f == REC_FMT_ECS, "ecs format name not parsed");
	CHECK(rec_format_ecs(&recs[0], NULL, NULL, line, 40) == -ENOSPC, "small buffer accepted");
	rec_gen_destroy(g);
	if (failures) {
		fprintf(stderr, "test_rec_format_ecs: %d failures\n", failures);
		return 1;
	}
	printf("test_rec_format_ecs: ok\n");
	return 0;
}
