/* Proves the flow-log model: body validation (fields, ranges, unknown ENI, PATCH rules), one flow log per resource, most-specific-wins resolution, and persistence that survives a reload. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "efd_internal.h"

int failures;

#include "test_check.h"

static struct efd_enis enis;

static void setup_enis(void)
{
	const char *ids[][3] = { { "eni-a", "subnet-1", "vpc-x" }, { "eni-b", "subnet-1", "vpc-x" },
				 { "eni-c", "subnet-2", "vpc-x" }, { "eni-d", "subnet-3", "vpc-y" } };
	enis.n = 4;
	for (uint32_t i = 0; i < 4; i++) {
		enis.eni[i].index = i;
		snprintf(enis.eni[i].eni_id, EFL_ID_LEN, "%s", ids[i][0]);
		snprintf(enis.eni[i].subnet_id, EFL_ID_LEN, "%s", ids[i][1]);
		snprintf(enis.eni[i].vpc_id, EFL_ID_LEN, "%s", ids[i][2]);
	}
}

/** Validate text as a create (or patch onto *fl); expect status/field or success. */
static int body(const char *text, bool patch, struct efd_flowlog *fl, int status, const char *field)
{
	struct efd_err e = { 0 };
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	int rc = efd_fl_from_json(j, patch, &enis, fl, &e);
	json_decref(j);
	if (status == 0)
		CHECK(rc == 0, "%s refused: %s (%s)", text, e.msg, e.field);
	else
		CHECK(rc != 0 && e.status == status && strcmp(e.field, field) == 0,
		      "%s: rc %d status %d field '%s', want %d '%s'", text, rc, e.status, e.field,
		      status, field);
	return rc;
}

static void test_validation(void)
{
	struct efd_flowlog fl;
	body("{\"resource\":\"eni-a\",\"traffic_type\":\"REJECT\"}", false, &fl, 0, NULL);
	CHECK(fl.agg_interval_s == 60 && fl.sample_1_in_n == 1 && fl.traffic_type == EFL_TRAFFIC_REJECT,
	      "defaults: agg %u sample %u type %u", fl.agg_interval_s, fl.sample_1_in_n, fl.traffic_type);
	body("{\"resource\":\"eni-zz\",\"traffic_type\":\"ALL\"}", false, &fl, 404, "resource");
	body("{\"resource\":\"subnet-new\",\"traffic_type\":\"ALL\"}", false, &fl, 0, NULL);
	body("{\"resource\":\"vpc-\",\"traffic_type\":\"ALL\"}", false, &fl, 400, "resource");
	body("{\"resource\":\"eni-a/../x\",\"traffic_type\":\"ALL\"}", false, &fl, 400, "resource");
	body("{\"resource\":7,\"traffic_type\":\"ALL\"}", false, &fl, 400, "resource");
	body("{\"resource\":\"vpc-x\",\"traffic_type\":\"all\"}", false, &fl, 400, "traffic_type");
	body("{\"resource\":\"vpc-x\"}", false, &fl, 400, "traffic_type");
	body("{\"traffic_type\":\"ALL\"}", false, &fl, 400, "resource");
	body("{\"resource\":\"vpc-x\",\"traffic_type\":\"ALL\",\"aggregation_interval_s\":600}", false, &fl, 0, NULL);
	body("{\"resource\":\"vpc-x\",\"traffic_type\":\"ALL\",\"aggregation_interval_s\":601}", false, &fl, 400, "aggregation_interval_s");
	body("{\"resource\":\"vpc-x\",\"traffic_type\":\"ALL\",\"aggregation_interval_s\":1.5}", false, &fl, 400, "aggregation_interval_s");
	body("{\"resource\":\"vpc-x\",\"traffic_type\":\"ALL\",\"sample_1_in_n\":0}", false, &fl, 400, "sample_1_in_n");
	body("{\"resource\":\"vpc-x\",\"traffic_type\":\"ALL\",\"extra\":null}", false, &fl, 400, "extra");
	/* PATCH: only the named fields change, resource is fixed */
	body("{\"resource\":\"eni-a\",\"traffic_type\":\"ALL\",\"aggregation_interval_s\":5}", false, &fl, 0, NULL);
	body("{\"traffic_type\":\"ACCEPT\"}", true, &fl, 0, NULL);
	CHECK(fl.traffic_type == EFL_TRAFFIC_ACCEPT && fl.agg_interval_s == 5 &&
	      strcmp(fl.resource, "eni-a") == 0, "patch changed more than asked");
	body("{\"resource\":\"eni-b\"}", true, &fl, 400, "resource");
	body("{}", true, &fl, 400, "");
}

static void add(struct efd_flowlogs *s, const char *res, uint8_t type, uint16_t agg)
{
	struct efd_flowlog fl = { .traffic_type = type, .agg_interval_s = agg, .sample_1_in_n = 1 };
	struct efd_err e;
	snprintf(fl.resource, sizeof(fl.resource), "%s", res);
	CHECK(efd_fls_add(s, &fl, &e) == 0, "add %s: %s", res, e.msg);
}

static void test_resolution_and_persistence(void)
{
	static struct efd_flowlogs s, t;
	char dir[] = "/tmp/test_efd_fl.XXXXXX";
	struct efd_err e;
	struct efl_eni_cfg cfg;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	CHECK(efd_fls_load(&s, dir, &e) == 0 && s.n == 0, "empty dir: n %u", s.n);
	add(&s, "vpc-x", EFL_TRAFFIC_REJECT, 10);
	add(&s, "subnet-1", EFL_TRAFFIC_ACCEPT, 20);
	add(&s, "eni-a", EFL_TRAFFIC_ALL, 2);
	struct efd_flowlog dup = { .traffic_type = 0, .agg_interval_s = 1, .sample_1_in_n = 1 };
	snprintf(dup.resource, sizeof(dup.resource), "subnet-1");
	CHECK(efd_fls_add(&s, &dup, &e) == -EEXIST && e.status == 409 &&
	      strcmp(e.field, "resource") == 0, "duplicate resource: status %d", e.status);
	/* eni-a: own flow log; eni-b: subnet-1's; eni-c: vpc-x's; eni-d: none */
	const struct { int idx; uint8_t en, type; uint16_t agg; } want[] = {
		{ 0, 1, EFL_TRAFFIC_ALL, 2 }, { 1, 1, EFL_TRAFFIC_ACCEPT, 20 },
		{ 2, 1, EFL_TRAFFIC_REJECT, 10 }, { 3, 0, 0, 0 } };
	for (int i = 0; i < 4; i++) {
		efd_fls_effective(&s, &enis.eni[want[i].idx], &cfg);
		CHECK(cfg.enabled == want[i].en && cfg.traffic_type == want[i].type &&
		      cfg.agg_interval_s == want[i].agg, "%s: enabled %u type %u agg %u",
		      enis.eni[want[i].idx].eni_id, cfg.enabled, cfg.traffic_type, cfg.agg_interval_s);
	}
	CHECK(efd_fls_save(&s) == 0, "save");
	CHECK(efd_fls_load(&t, dir, &e) == 0 && t.n == 3, "reload: n %u (%s)", t.n, e.msg);
	for (uint32_t i = 0; i < s.n; i++) {
		struct efd_flowlog *f = efd_fls_find(&t, s.fl[i].id);
		CHECK(f && memcmp(f, &s.fl[i], sizeof(*f)) == 0, "reloaded %s differs", s.fl[i].id);
	}
	CHECK(efd_fls_remove(&t, s.fl[0].id) == 0 && t.n == 2, "remove");
	CHECK(efd_fls_remove(&t, "fl-nope") == -ENOENT, "remove unknown");
	/* a corrupt file is refused, naming the file */
	FILE *f = fopen(s.path, "w");
	fputs("{\"flow_logs\":[{\"id\":\"fl-1\",\"created_ns\":1,\"resource\":\"vpc-x\","
	      "\"traffic_type\":\"SOME\"}]}", f);
	fclose(f);
	CHECK(efd_fls_load(&t, dir, &e) != 0 && strstr(e.msg, "flow_logs[0]") &&
	      strcmp(e.field, "traffic_type") == 0, "corrupt file: '%s' field '%s'", e.msg, e.field);
	unlink(s.path);
	rmdir(dir);
}

int main(void)
{
	setup_enis();
	test_validation();
	test_resolution_and_persistence();
	if (failures) {
		fprintf(stderr, "test_efd_flowlogs: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_efd_flowlogs: ok\n");
	return 0;
}
