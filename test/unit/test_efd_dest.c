/* Proves flow-log destinations: strict validation naming destinations[i].field, defaults, a round trip through flowlogs.json, and the JSON Lines writer: whole lines only, rotation by size sealed by rename, a torn file from a crash cut back to its last line and sealed. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "efd_dest_internal.h"
#include "rec_format.h"

#include "test_check.h"

int failures;

/** Validate a destinations array; expect success (field NULL) or a 400 naming field. */
static void dests(const char *text, const char *field, struct efd_flowlog *fl)
{
	struct efd_err e = { 0 };
	json_t *j = json_loads(text, 0, NULL);
	int rc = efd_dests_from_json(j, fl, &e);
	json_decref(j);
	if (field == NULL)
		CHECK(rc == 0, "%s refused: %s (%s)", text, e.msg, e.field);
	else
		CHECK(rc == -EINVAL && e.status == 400 && strcmp(e.field, field) == 0,
		      "%s: rc %d status %d field '%s', want 400 '%s'", text, rc, e.status, e.field, field);
}

static void test_validation(void)
{
	struct efd_flowlog fl = { 0 };

	dests("[{\"type\":\"ipfix\",\"host\":\"127.0.0.1\"}]", NULL, &fl);
	CHECK(fl.n_dest == 1 && fl.dest[0].port == 4739 && !fl.dest[0].tcp, "ipfix defaults: n %u port %u",
	      fl.n_dest, fl.dest[0].port);
	dests("[{\"type\":\"jsonl\"},{\"type\":\"ipfix\",\"host\":\"::1\",\"port\":9995,\"transport\":\"tcp\"}]",
	      NULL, &fl);
	CHECK(fl.n_dest == 2 && fl.dest[0].format == REC_FMT_JSON && fl.dest[0].rotate_bytes > 0 &&
	      fl.dest[1].tcp && fl.dest[1].port == 9995, "two destinations: n %u", fl.n_dest);
	dests("[]", NULL, &fl);
	CHECK(fl.n_dest == 0, "empty list clears: n %u", fl.n_dest);
	dests("{}", "destinations", &fl);
	dests("[1,2,3,4,5]", "destinations", &fl);
	dests("[7]", "destinations[0]", &fl);
	dests("[{\"host\":\"127.0.0.1\"}]", "destinations[0].type", &fl);
	dests("[{\"type\":\"jsonl\"},{\"type\":\"kafka\"}]", "destinations[1].type", &fl);
	dests("[{\"type\":\"ipfix\"}]", "destinations[0].host", &fl);
	dests("[{\"type\":\"ipfix\",\"host\":\"localhost\"}]", "destinations[0].host", &fl);
	dests("[{\"type\":\"ipfix\",\"host\":\"1.2.3.4 \"}]", "destinations[0].host", &fl);
	dests("[{\"type\":\"ipfix\",\"host\":\"1.2.3.4\",\"port\":0}]", "destinations[0].port", &fl);
	dests("[{\"type\":\"ipfix\",\"host\":\"1.2.3.4\",\"port\":65536}]", "destinations[0].port", &fl);
	dests("[{\"type\":\"ipfix\",\"host\":\"1.2.3.4\",\"port\":\"80\"}]", "destinations[0].port", &fl);
	dests("[{\"type\":\"ipfix\",\"host\":\"1.2.3.4\",\"transport\":\"sctp\"}]",
	      "destinations[0].transport", &fl);
	dests("[{\"type\":\"ipfix\",\"host\":\"1.2.3.4\",\"format\":\"json\"}]", "destinations[0].format", &fl);
	dests("[{\"type\":\"jsonl\",\"path\":\"/etc/passwd\"}]", "destinations[0].path", &fl);
	dests("[{\"type\":\"jsonl\",\"format\":\"aws\"}]", "destinations[0].format", &fl);
	dests("[{\"type\":\"jsonl\",\"rotate_bytes\":10}]", "destinations[0].rotate_bytes", &fl);
	dests("[{\"type\":\"jsonl\",\"rotate_age_s\":0}]", "destinations[0].rotate_age_s", &fl);
	CHECK(fl.n_dest == 0, "a refused list left the old one: n %u", fl.n_dest);
}

static void test_persist(const char *dir)
{
	struct efd_flowlogs *s = calloc(2, sizeof(*s));
	struct efd_err e = { 0 };
	struct efd_flowlog fl;
	json_t *b = json_loads("{\"resource\":\"vpc-x\",\"traffic_type\":\"ALL\",\"destinations\":"
			       "[{\"type\":\"jsonl\",\"format\":\"ecs\",\"rotate_age_s\":5},"
			       "{\"type\":\"ipfix\",\"host\":\"10.0.0.9\",\"port\":2055}]}", 0, NULL);

	CHECK(efd_fl_from_json(b, false, NULL, &fl, &e) == 0, "create: %s", e.msg);
	json_decref(b);
	CHECK(efd_fls_load(&s[0], dir, &e) == 0 && efd_fls_add(&s[0], &fl, &e) == 0, "add: %s", e.msg);
	CHECK(efd_fls_save(&s[0]) == 0, "save");
	CHECK(efd_fls_load(&s[1], dir, &e) == 0 && s[1].n == 1, "reload: %s", e.msg);
	CHECK(memcmp(s[1].fl[0].dest, fl.dest, sizeof(fl.dest)) == 0 && s[1].fl[0].n_dest == 2,
	      "destinations differ after reload (n %u)", s[1].fl[0].n_dest);
	free(s);
}

static int count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), k = strlen(suffix);
		n += l > k && strcmp(e->d_name + l - k, suffix) == 0;
	}
	if (d)
		closedir(d);
	return n;
}

/** Lines in every sealed file of dir, each checked to parse as JSON. */
static long sealed_lines(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "cat %s/*.jsonl 2>/dev/null", dir);
	FILE *p = popen(cmd, "r");
	char line[REC_FMT_LINE_MAX];
	long n = 0;
	while (p && fgets(line, sizeof(line), p)) {
		json_t *j = json_loads(line, 0, NULL);
		CHECK(j != NULL && line[strlen(line) - 1] == '\n', "line %ld is not whole JSON: %.80s", n, line);
		json_decref(j);
		n++;
	}
	if (p)
		pclose(p);
	return n;
}

static void test_jsonl(const char *data)
{
	struct efd_dest_cfg c = { .type = EFD_DEST_JSONL, .format = REC_FMT_JSON,
				  .rotate_bytes = 16384, .rotate_age_s = 3600 };
	struct seg_eni_info eni = { .index = 0, .eni_id = "eni-a", .vpc_id = "vpc-x" };
	struct rec_flow r = { .version = REC_VERSION, .kind = REC_KIND_FLOW, .ip_version = 4, .ethertype = 0x0800,
			      .protocol = 17, .packets = 3, .bytes = 300, .sample_1_in_n = 1 };
	char dir[600], torn[700];

	snprintf(dir, sizeof(dir), "%s/jsonl/fl-test", data);
	struct efd_jsonl *j = efd_jsonl_open(data, "fl-test", 0, &c, "host1", NULL, NULL);
	CHECK(j != NULL, "open: %s", strerror(errno));
	if (j == NULL)
		return;
	for (int i = 0; i < 1000; i++)
		efd_jsonl_add(j, &r, &eni);
	efd_jsonl_flush(j);
	struct efd_jsonl_stats st;
	efd_jsonl_get_stats(j, &st);
	CHECK(st.lines == 1000 && st.files_sealed >= 2, "lines %llu sealed %llu",
	      (unsigned long long)st.lines, (unsigned long long)st.files_sealed);
	CHECK(count_files(dir, ".jsonl.open") == 1, "one open file, got %d", count_files(dir, ".jsonl.open"));
	efd_jsonl_close(j);
	CHECK(count_files(dir, ".jsonl.open") == 0, "open file left after close");
	CHECK(sealed_lines(dir) == 1000, "sealed lines %ld, want 1000", sealed_lines(dir));

	/* a crash left an open file ending in half a line: the next open cuts and seals it */
	snprintf(torn, sizeof(torn), "%s/d0-1.jsonl.open", dir);
	FILE *f = fopen(torn, "w");
	fputs("{\"a\":1}\n{\"b\":2}\n{\"c\":", f);
	fclose(f);
	j = efd_jsonl_open(data, "fl-test", 0, &c, "host1", NULL, NULL);
	CHECK(access(torn, F_OK) != 0, "torn file not sealed");
	efd_jsonl_close(j);
	CHECK(sealed_lines(dir) == 1002, "after recovery: %ld lines, want 1002", sealed_lines(dir));
}

int main(void)
{
	char tmpl[] = "/tmp/test_efd_dest.XXXXXX";
	char *dir = mkdtemp(tmpl);
	if (dir == NULL)
		return 1;
	test_validation();
	test_persist(dir);
	test_jsonl(dir);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		failures++;
	if (failures) {
		fprintf(stderr, "test_efd_dest: %d failures\n", failures);
		return 1;
	}
	printf("test_efd_dest: ok\n");
	return 0;
}
