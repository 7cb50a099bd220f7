/* Proves eniflowd's store: strict segment names, recovery of a partial file at start, the catalog (list with time filter, lookup, delete), sequence numbers continuing after restart, retention by bytes and age, and that a failed write keeps the blocks written before it (sealed once there is room, nothing of the failed block). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "efd_internal.h"
#include "recgen.h"

int failures;

#include "test_check.h"
#include "efd_test_store.h"

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

static size_t n_listed(struct efd *d, uint64_t since, uint64_t until)
{
	json_t *l = efd_store_list(d->store, since, until);
	size_t n = json_array_size(l);
	json_decref(l);
	return n;
}

static void set_fsize(rlim_t n)
{
	struct rlimit rl = { n, RLIM_INFINITY };
	CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit: %s", strerror(errno));
}

/* RLIMIT_FSIZE makes writes past a size fail (EFBIG), like a full disk,
 * without privileges; run in a child so the limit stays there. */
static void write_failure_child(struct rec_gen *g)
{
	static struct efd d;
	char dir[] = "/tmp/test_efd_store_fail.XXXXXX", path[EFD_PATH_MAX];
	static struct rec_flow recs[2000];
	uint64_t off;

	signal(SIGXFSZ, SIG_IGN);
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	open_store(&d, dir);
	rec_gen_next(g, recs, 2000);
	for (int b = 0; b < 3; b++) /* three whole blocks */
		CHECK(efd_store_write(d.store, recs + b * 500, 500, &dict) == 0, "write %d", b);
	CHECK(efd_store_position(d.store, &dict, path, sizeof(path), &off) == 0, "position");
	set_fsize(off + 16); /* room for a bit of the next frame, not for an index */
	int rc = efd_store_write(d.store, recs + 1500, 500, &dict);
	CHECK(rc == -EFBIG, "write past the limit: %d", rc);
	CHECK(efd_store_pending(d.store), "failed segment not pending");
	rc = efd_store_recover_pending(d.store, path, sizeof(path));
	CHECK(rc < 0 && efd_store_pending(d.store), "sealed without room for the index: %d", rc);
	CHECK(efd_store_write(d.store, recs, 1, &dict) == -EAGAIN, "wrote while one is pending");
	CHECK(n_listed(&d, 0, 0) == 0, "listed before it is sealed");
	set_fsize(RLIM_INFINITY);
	rc = efd_store_recover_pending(d.store, path, sizeof(path));
	CHECK(rc == 0 && path[0] && !efd_store_pending(d.store), "keep: rc %d path '%s'", rc, path);
	struct seg_err err;
	struct seg_reader *r = seg_reader_open(path, &err);
	CHECK(r != NULL, "kept segment: %s", r ? "" : err.msg);
	uint64_t n = r ? seg_reader_n_records(r) : 0;
	CHECK(n == 1500 && seg_reader_n_blocks(r) == 3, "kept %llu records in %u blocks, want 1500 in 3",
	      (unsigned long long)n, r ? seg_reader_n_blocks(r) : 0);
	for (uint32_t b = 0; r && b < seg_reader_n_blocks(r); b++) {
		const struct rec_flow *got;
		long k = seg_reader_read_block(r, b, &got, &err);
		CHECK(k == 500 && memcmp(got, recs + b * 500, 500 * sizeof(*got)) == 0,
		      "block %u: %ld records, or not the ones written", b, k);
	}
	seg_reader_close(r);
	CHECK(n_listed(&d, 0, 0) == 1, "kept segment listed %zu times", n_listed(&d, 0, 0));
	/* a segment whose first block fails keeps nothing and leaves no file */
	CHECK(efd_store_position(d.store, &dict, path, sizeof(path), &off) == 0, "position 2");
	set_fsize(off + 16);
	CHECK(efd_store_write(d.store, recs, 500, &dict) == -EFBIG, "first block did not fail");
	set_fsize(RLIM_INFINITY);
	rc = efd_store_recover_pending(d.store, path, sizeof(path));
	CHECK(rc == 0 && path[0] == '\0', "empty keep: rc %d path '%s'", rc, path);
	CHECK(n_listed(&d, 0, 0) == 1, "empty segment listed");
	CHECK(efd_store_write(d.store, recs, 10, &dict) == 0 && efd_store_seal(d.store) == 0,
	      "writing after the failures");
	CHECK(n_listed(&d, 0, 0) == 2, "listed %zu after a good segment, want 2", n_listed(&d, 0, 0));
	efd_store_close(d.store);
	snprintf(path, sizeof(path), "find %s -name '*.fls*' | grep -c . | grep -qx 2 && rm -rf %s",
		 dir, dir);
	CHECK(system(path) == 0, "%s: not exactly the 2 sealed files on disk", dir);
}

static void test_write_failure(struct rec_gen *g)
{
	int st = -1;
	pid_t pid = fork();
	if (pid == 0) {
		write_failure_child(g);
		_exit(failures ? 1 : 0);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "write-failure checks failed (status %d)", st);
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
	test_write_failure(g);
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
