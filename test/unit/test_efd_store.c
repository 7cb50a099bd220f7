/* Proves eniflowd's store: strict segment names, recovery of a partial file at start, the catalog (list with time filter, lookup, delete), sequence numbers continuing after restart, and retention by bytes and age. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "efd_internal.h"
#include "recgen.h"

int failures;

#include "test_check.h"

static void test_names(void)
{
	const char *good[] = { "default-0000000000.fls", "a-9999999999.fls", "host_01-0000000042.fls" };
	const char *bad[] = { "", ".fls", "-0000000001.fls", "a-000000001.fls", "a-00000000001.fls",
			      "a-0000000001.fl", "A-0000000001.fls", "../a-0000000001.fls",
			      "a/b-0000000001.fls", ".a-0000000001.fls.partial",
			      "thirteenchars-0000000001.fls", "a-000000000x.fls", "a-0000000001.fls/" };
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		CHECK(efd_seg_name_valid(good[i]), "'%s' refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		CHECK(!efd_seg_name_valid(bad[i]), "'%s' accepted", bad[i]);
}

static struct seg_eni_info enis[4];
static struct seg_header_info dict = { .format_version = SEG_FORMAT_VERSION, .n_enis = 4,
				       .enis = enis };

static void open_store(struct efd *d, const char *dir)
{
	memset(d, 0, sizeof(*d));
	efd_config_defaults(&d->cfg);
	snprintf(d->cfg.data_dir, sizeof(d->cfg.data_dir), "%s", dir);
	snprintf(d->cfg.instance, sizeof(d->cfg.instance), "t");
	d->cfg.no_fsync = true;
	d->cfg.retain_age_s = 0;
	pthread_mutex_init(&d->lock, NULL);
	d->store = efd_store_open(d);
	CHECK(d->store != NULL, "store open: %s", strerror(errno));
}

static size_t n_listed(struct efd *d, uint64_t since, uint64_t until)
{
	json_t *l = efd_store_list(d->store, since, until);
	size_t n = json_array_size(l);
	json_decref(l);
	return n;
}

int main(void)
{
	static struct efd d;
	char dir[] = "/tmp/test_efd_store.XXXXXX", cmd[128], path[EFD_PATH_MAX];
	struct rec_gen_params gp = { .seed = 7, .n_enis = 4 };
	struct rec_gen *g = rec_gen_create(&gp);
	struct rec_flow recs[1000];
	uint64_t size;

	test_names();
	for (uint32_t i = 0; i < 4; i++)
		rec_gen_eni_info(i, &enis[i]);
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	open_store(&d, dir);
	for (int s = 0; s < 3; s++) { /* three sealed segments */
		rec_gen_next(g, recs, 1000);
		CHECK(efd_store_write(d.store, recs, 1000, &dict) == 0, "write %d", s);
		CHECK(efd_store_seal(d.store) == 0, "seal %d", s);
	}
	rec_gen_next(g, recs, 1000);
	pid_t pid = fork(); /* a child writes a fourth segment and "crashes" with it open */
	if (pid == 0)
		_exit(efd_store_write(d.store, recs, 1000, &dict) == 0 ? 0 : 1);
	int st = -1;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child write failed");
	CHECK(n_listed(&d, 0, 0) == 3, "listed %zu, want 3 sealed", n_listed(&d, 0, 0));
	CHECK(n_listed(&d, 1, 2) == 0, "time filter: %zu segments in [1,2] ns", n_listed(&d, 1, 2));
	CHECK(efd_store_lookup(d.store, "t-0000000001.fls", path, sizeof(path), &size) == 0 &&
	      size > 0 && strstr(path, dir) == path, "lookup t-0000000001.fls: %s", path);
	CHECK(efd_store_lookup(d.store, "t-0000000009.fls", path, sizeof(path), &size) == -ENOENT,
	      "unknown segment found");
	CHECK(efd_store_lookup(d.store, "../x", path, sizeof(path), &size) == -EINVAL, "bad name");
	efd_store_close(d.store); /* nothing open in this process */
	static struct efd d2; /* restart: recovery seals the child's partial file */
	open_store(&d2, dir);
	CHECK(n_listed(&d2, 0, 0) == 4, "after recovery listed %zu, want 4", n_listed(&d2, 0, 0));
	CHECK(d2.ctr.recovered_files == 1, "recovered %llu files",
	      (unsigned long long)d2.ctr.recovered_files);
	CHECK(efd_store_lookup(d2.store, "t-0000000003.fls", path, sizeof(path), &size) == 0 &&
	      seg_verify(path, &(struct seg_err){ 0 }) == 0, "recovered segment does not verify");
	rec_gen_next(g, recs, 10);
	CHECK(efd_store_write(d2.store, recs, 10, &dict) == 0 && efd_store_seal(d2.store) == 0, "w");
	CHECK(efd_store_lookup(d2.store, "t-0000000004.fls", path, sizeof(path), &size) == 0,
	      "sequence did not continue at 4 after restart");
	char first[EFD_PATH_MAX];
	CHECK(efd_store_lookup(d2.store, "t-0000000000.fls", first, sizeof(first), &size) == 0, "l0");
	CHECK(efd_store_delete(d2.store, "t-0000000000.fls") == 0 && access(first, F_OK) != 0 &&
	      n_listed(&d2, 0, 0) == 4, "delete: file still there or wrong count");
	CHECK(efd_store_delete(d2.store, "t-0000000000.fls") == -ENOENT, "delete twice");
	/* retention by bytes keeps the newest segments under the limit */
	d2.cfg.retain_bytes = size + 1;
	efd_store_tick(d2.store, efd_now_ns());
	CHECK(n_listed(&d2, 0, 0) == 1, "retain_bytes: %zu left, want 1", n_listed(&d2, 0, 0));
	CHECK(efd_store_lookup(d2.store, "t-0000000004.fls", path, sizeof(path), &size) == 0,
	      "retention removed the newest segment");
	d2.cfg.retain_bytes = 0;
	d2.cfg.retain_age_s = 1;
	efd_store_tick(d2.store, efd_now_ns() + 5000000000ULL);
	CHECK(n_listed(&d2, 0, 0) == 0, "retain_age_s: %zu left", n_listed(&d2, 0, 0));
	efd_store_close(d2.store);
	rec_gen_destroy(g);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "cleanup");
	if (failures) {
		fprintf(stderr, "test_efd_store: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_efd_store: ok\n");
	return 0;
}
