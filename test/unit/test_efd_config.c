/* Proves eniflowd's config parser: defaults, every field's type and range, unknown and duplicate keys refused with the field named, and the token file rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "efd_internal.h"

int failures;

#include "test_check.h"

/** Parse text; expect failure naming field (NULL: expect success). */
static void expect(const char *text, const char *field)
{
	struct efd_config c;
	struct efd_err e = { 0 };
	int rc = efd_config_parse(text, strlen(text), &c, &e);
	if (field == NULL)
		CHECK(rc == 0, "%s: refused: %s (field %s)", text, e.msg, e.field);
	else
		CHECK(rc != 0 && strcmp(e.field, field) == 0, "%s: rc %d field '%s' msg '%s', want field %s",
		      text, rc, e.field, e.msg, field);
}

static void test_defaults(void)
{
	struct efd_config c;
	struct efd_err e;
	const char *t = "{\"data_dir\":\"/d\",\"token_file\":\"/t\"}";
	CHECK(efd_config_parse(t, strlen(t), &c, &e) == 0, "minimal config refused: %s", e.msg);
	CHECK(strcmp(c.listen, "127.0.0.1:8080") == 0, "listen default %s", c.listen);
	CHECK(c.rotate_bytes == 64ULL << 20, "rotate_bytes %llu", (unsigned long long)c.rotate_bytes);
	CHECK(c.rotate_age_s == 60, "rotate_age_s %u", c.rotate_age_s);
	CHECK(c.flush_ms == 200, "flush_ms %u", c.flush_ms);
	CHECK(strcmp(c.instance, "default") == 0, "instance %s", c.instance);
	CHECK(c.query_max_records == 200000000 && c.query_max_groups == 200000 &&
	      c.query_timeout_ms == 10000 && c.query_max_list == 10000 && c.query_concurrency == 2,
	      "query defaults %llu %llu %u %u %u", (unsigned long long)c.query_max_records,
	      (unsigned long long)c.query_max_groups, c.query_timeout_ms, c.query_max_list,
	      c.query_concurrency);
}

static void test_fields(void)
{
#define BASE "\"data_dir\":\"/d\",\"token_file\":\"/t\""
	expect("{" BASE ",\"listen\":\"unix:/run/efd.sock\",\"rotate_bytes\":1048576,"
	       "\"retain_bytes\":0,\"no_fsync\":true,\"instance\":\"host_01\"}", NULL);
	expect("{" BASE ",\"listen\":\"[::1]:9000\"}", NULL);
	expect("{" BASE ",\"bogus\":1}", "bogus");
	expect("{" BASE ",\"rotate_age_s\":1,\"rotate_age_s\":2}", "");
	expect("{\"token_file\":\"/t\"}", "data_dir");
	expect("{\"data_dir\":\"relative\",\"token_file\":\"/t\"}", "data_dir");
	expect("{\"data_dir\":\"/d\"}", "token_file");
	expect("{" BASE ",\"rotate_age_s\":0}", "rotate_age_s");
	expect("{" BASE ",\"rotate_age_s\":-5}", "rotate_age_s");
	expect("{" BASE ",\"rotate_age_s\":\"60\"}", "rotate_age_s");
	expect("{" BASE ",\"rotate_bytes\":100}", "rotate_bytes");
	expect("{" BASE ",\"block_records\":65537}", "block_records");
	expect("{" BASE ",\"body_max\":1}", "body_max");
	expect("{" BASE ",\"no_fsync\":1}", "no_fsync");
	expect("{" BASE ",\"instance\":\"UPPER\"}", "instance");
	expect("{" BASE ",\"instance\":\"much_too_long_name\"}", "instance");
	expect("{" BASE ",\"instance\":\"\"}", "instance");
	expect("{" BASE ",\"listen\":\"unix:relative\"}", "listen");
	expect("{" BASE ",\"listen\":\"noport\"}", "listen");
	expect("{" BASE ",\"file_prefix\":\"a/b\"}", "file_prefix");
	expect("{" BASE ",\"query_max_records\":1000,\"query_max_groups\":10,\"query_max_distinct\":10,"
	       "\"query_timeout_ms\":500,\"query_max_list\":5,\"query_concurrency\":1,"
	       "\"threat_lists\":\"/a.netset,/b.txt\",\"geo_mmdb\":\"/c.mmdb\"}", NULL);
	expect("{" BASE ",\"query_timeout_ms\":0}", "query_timeout_ms");
	expect("{" BASE ",\"query_concurrency\":65}", "query_concurrency");
	expect("{" BASE ",\"query_max_records\":0}", "query_max_records");
	expect("{" BASE ",\"threat_lists\":1}", "threat_lists");
	expect("[1]", "");
	expect("{", "");
}

static void test_token_file(void)
{
	char dir[] = "/tmp/test_efd_config.XXXXXX", cfg[128], tok[128], text[512];
	struct efd_config c;
	struct efd_err e;
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(cfg, sizeof(cfg), "%s/cfg.json", dir);
	snprintf(tok, sizeof(tok), "%s/token", dir);
	snprintf(text, sizeof(text), "{\"data_dir\":\"%s\",\"token_file\":\"%s\"}", dir, tok);
	FILE *f = fopen(cfg, "w");
	fputs(text, f);
	fclose(f);
	CHECK(efd_config_load(cfg, &c, &e) != 0 && strcmp(e.field, "token_file") == 0,
	      "missing token file: field '%s'", e.field);
	f = fopen(tok, "w");
	fputs("short\n", f);
	fclose(f);
	CHECK(efd_config_load(cfg, &c, &e) != 0 && strcmp(e.field, "token_file") == 0,
	      "short token accepted");
	f = fopen(tok, "w");
	fputs("0123456789abcdef-secret\n\n", f);
	fclose(f);
	CHECK(efd_config_load(cfg, &c, &e) == 0, "good token refused: %s", e.msg);
	CHECK(strcmp(c.token, "0123456789abcdef-secret") == 0, "token '%s' (whitespace kept?)", c.token);
	unlink(tok);
	unlink(cfg);
	rmdir(dir);
}

int main(void)
{
	test_defaults();
	test_fields();
	test_token_file();
	if (failures) {
		fprintf(stderr, "test_efd_config: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_efd_config: ok\n");
	return 0;
}
