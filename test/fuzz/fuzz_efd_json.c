/*
 * fuzz_efd_json.c - libFuzzer target for eniflowd's two JSON inputs: the
 * config file (first byte 'c') and flow-log request bodies (anything else;
 * odd first byte = PATCH). Beyond "no crash", it aborts when an accepted
 * input breaks what downstream code trusts: ranges, enum values, resource
 * syntax, absolute data dir, and a flow log surviving its JSON round trip.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "efd_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *why)
{
	fprintf(stderr, "fuzz_efd_json: %s\n", why);
	abort();
}

static void check_config(const char *text, size_t len)
{
	struct efd_config c;
	struct efd_err e;
	if (efd_config_parse(text, len, &c, &e) != 0) {
		if (e.msg[0] == '\0')
			fail("config refused without a message");
		return;
	}
	if (c.data_dir[0] != '/' || c.token_file[0] == '\0' || strlen(c.instance) == 0 ||
	    strlen(c.instance) > EFL_INSTANCE_MAX || c.rotate_age_s == 0 || c.flush_ms == 0 ||
	    c.block_records == 0 || c.block_records > SEG_MAX_BLOCK_RECORDS)
		fail("accepted config breaks an invariant");
}

static void check_flowlog(const struct efd_flowlog *fl)
{
	if (fl->traffic_type > EFL_TRAFFIC_REJECT || fl->agg_interval_s < 1 ||
	    fl->agg_interval_s > 600 || fl->sample_1_in_n < 1)
		fail("accepted flow log out of range");
	if (strncmp(fl->resource, "eni-", 4) && strncmp(fl->resource, "subnet-", 7) &&
	    strncmp(fl->resource, "vpc-", 4))
		fail("accepted resource with a bad prefix");
	if (strpbrk(fl->resource, "/.\\ \"") != NULL)
		fail("accepted resource with a path or quote character");
	/* round trip through the JSON the API and flowlogs.json use */
	json_t *j = efd_fl_to_json(fl);
	json_object_del(j, "id");
	json_object_del(j, "created_ns");
	struct efd_enis one = { .n = 1 };
	snprintf(one.eni[0].eni_id, EFL_ID_LEN, "%s", fl->resource);
	struct efd_flowlog back;
	struct efd_err e;
	if (efd_fl_from_json(j, false, &one, &back, &e) != 0 ||
	    strcmp(back.resource, fl->resource) || back.traffic_type != fl->traffic_type ||
	    back.agg_interval_s != fl->agg_interval_s || back.sample_1_in_n != fl->sample_1_in_n)
		fail("flow log does not survive its JSON round trip");
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct efd_enis enis = { .n = 2 };
	struct efd_err e;

	if (size == 0)
		return 0;
	snprintf(enis.eni[0].eni_id, EFL_ID_LEN, "eni-a1");
	snprintf(enis.eni[1].eni_id, EFL_ID_LEN, "eni-b2");
	if (data[0] == 'c') {
		check_config((const char *)data + 1, size - 1);
		return 0;
	}
	struct efd_req q = { .method = "POST", .url = "/v1/flow-logs",
			     .body = (const char *)data + 1, .body_len = size - 1 };
	json_t *body = efd_parse_body(&q, &e);
	if (body == NULL)
		return 0;
	struct efd_flowlog fl = { .traffic_type = 0, .agg_interval_s = 60, .sample_1_in_n = 1 };
	snprintf(fl.resource, sizeof(fl.resource), "vpc-base");
	bool patch = data[0] & 1;
	if (efd_fl_from_json(body, patch, &enis, &fl, &e) == 0)
		check_flowlog(&fl);
	else if (e.status < 400 || e.status > 499)
		fail("refused body without a 4xx status");
	json_decref(body);
	return 0;
}
