/* Proves recovery reports exactly what a crash cost: a partial holding a complete (or partly written) seal of its own reports 0 bytes dropped, a torn block the bytes cut, and a partial with a whole but corrupt header is moved aside as .NAME.fls.corrupt (never deleted, never sealed) with an error naming it. */
#include "segment.h"
#include "segment_internal.h"
#include "recgen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                         \
			fputc('\n', stderr);                                  \
			failures++;                                           \
		}                                                             \
	} while (0)

static char tmpdir[256];

static char *path_of(const char *name)
{
	static char p[4][512];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", tmpdir, name);
	return p[k];
}

/* A sealed segment of n records (blocks of 500) as bytes; *data_end = index offset. */
static uint8_t *sealed_bytes(uint64_t n, size_t *len, uint64_t *data_end)
{
	struct rec_gen_params p = {.seed = 3, .n_enis = 4, .n_flows = 256};
	struct rec_gen *g = rec_gen_create(&p);
	struct rec_flow *r = malloc(n * sizeof(*r));
	struct seg_eni_info enis[4];
	struct seg_header_info h = {.n_enis = 4, .enis = enis, .created_ns = 1};
	struct seg_writer_opts o = {.block_records = 500, .no_fsync = true};
	struct seg_err err;
	uint8_t *buf = NULL;
	FILE *f;

	for (uint32_t i = 0; i < 4; i++)
		rec_gen_eni_info(i, &enis[i]);
	rec_gen_next(g, r, n);
	rec_gen_destroy(g);
	struct seg_writer *w = seg_writer_create(tmpdir, "src.fls", &h, &o, &err);
	if (!w || seg_writer_append(w, r, n, &err) || seg_writer_flush(w, &err)) {
		fprintf(stderr, "writing the source segment: %s\n", err.msg);
		exit(1);
	}
	*data_end = seg_writer_bytes(w);
	if (seg_writer_seal(w, &err)) {
		fprintf(stderr, "seal: %s\n", err.msg);
		exit(1);
	}
	f = fopen(path_of("src.fls"), "rb");
	if (f && fseek(f, 0, SEEK_END) == 0) {
		*len = (size_t)ftell(f);
		buf = malloc(*len);
		rewind(f);
		if (buf && fread(buf, 1, *len, f) != *len) {
			free(buf);
			buf = NULL;
		}
	}
	if (f)
		fclose(f);
	unlink(path_of("src.fls"));
	free(r);
	if (!buf) {
		fprintf(stderr, "cannot read back the source segment\n");
		exit(1);
	}
	return buf;
}

static void spit(const char *path, const uint8_t *b, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(b, 1, len, f) != len) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(1);
	}
	fclose(f);
}

/* Recover .x.fls.partial = file[0, cut) and check records kept and bytes dropped. */
static void expect(const uint8_t *file, size_t cut, uint64_t want_records, uint64_t want_dropped,
		   const char *what)
{
	struct seg_recovery_report rep;
	struct seg_err err = {0};

	spit(path_of(".x.fls.partial"), file, cut);
	int rc = seg_recover_file(path_of(".x.fls.partial"), &rep, &err);
	CHECK(rc == 0 && rep.records_kept == want_records && rep.bytes_dropped == want_dropped,
	      "%s (cut at %zu): rc %d, kept %llu records, dropped %llu bytes; want %llu, %llu (%s)",
	      what, cut, rc, (unsigned long long)rep.records_kept,
	      (unsigned long long)rep.bytes_dropped, (unsigned long long)want_records,
	      (unsigned long long)want_dropped, err.msg);
	CHECK(seg_verify(path_of("x.fls"), &err) == 0, "%s: recovered file fails verify: %s", what,
	      err.msg);
	unlink(path_of("x.fls"));
}

static void test_exact_report(void)
{
	size_t len;
	uint64_t end;
	uint8_t *f = sealed_bytes(2300, &len, &end);

	/* crash after the trailer, before the rename: nothing was lost */
	expect(f, len, 2300, 0, "whole seal left unrenamed");
	/* crash between index and trailer writes, or inside either */
	expect(f, len - SEG_TRAILER_SIZE, 2300, 0, "index written, trailer not");
	expect(f, len - 7, 2300, 0, "trailer torn");
	expect(f, end + 5, 2300, 0, "index torn");
	expect(f, end, 2300, 0, "no seal at all");
	/* a seal followed by anything else is not a seal in progress */
	uint8_t *g = malloc(len + 10);
	memcpy(g, f, len);
	memset(g + len, 0xAB, 10);
	expect(g, len + 10, 2300, len + 10 - end, "seal plus garbage");
	/* bytes that are not this file's own seal are torn data */
	g[end + 9] ^= 0x40;
	expect(g, len, 2300, len - end, "corrupt index");
	free(g);
	free(f);
}

/* A whole header that fails its checks is moved aside, reported, never deleted. */
static void corrupt_one(const uint8_t *file, size_t len, size_t flip, const char *what)
{
	struct seg_recovery_report rep;
	struct seg_err err = {0};
	uint8_t *g = malloc(len);
	struct stat st;

	memcpy(g, file, len);
	g[flip] ^= 0x01;
	spit(path_of(".c.fls.partial"), g, len);
	int rc = seg_recover_file(path_of(".c.fls.partial"), &rep, &err);
	CHECK(rc == -EINVAL && strstr(err.msg, path_of(".c.fls.partial")) &&
	      strstr(err.msg, "moved aside as .c.fls.corrupt"),
	      "%s: rc %d, error \"%s\"", what, rc, err.msg);
	CHECK(!strcmp(rep.path, path_of(".c.fls.corrupt")), "%s: report path %s", what, rep.path);
	CHECK(access(path_of(".c.fls.partial"), F_OK) != 0, "%s: partial still there", what);
	CHECK(access(path_of("c.fls"), F_OK) != 0, "%s: a corrupt file was sealed", what);
	CHECK(stat(path_of(".c.fls.corrupt"), &st) == 0 && (size_t)st.st_size == len,
	      "%s: the moved-aside file is not the whole original", what);
	unlink(path_of(".c.fls.corrupt"));
	free(g);
}

static void count_cb(const struct seg_recovery_report *rep, void *arg)
{
	*(uint64_t *)arg += rep->records_kept;
}

static void test_corrupt_header(void)
{
	size_t len;
	uint64_t end;
	uint8_t *f = sealed_bytes(1200, &len, &end);
	struct seg_err err = {0};
	uint64_t kept = 0;

	corrupt_one(f, end, 0, "bad magic");
	corrupt_one(f, end, SEG_SKIP_HDR + 2, "bad tag (CRC)");
	corrupt_one(f, end, SEG_SKIP_HDR + 9, "bad format version");

	/* the directory walk goes past it, recovers the rest, and reports it once */
	f[SEG_SKIP_HDR + 3] ^= 0x10;
	spit(path_of(".c.fls.partial"), f, end);
	f[SEG_SKIP_HDR + 3] ^= 0x10;
	spit(path_of(".ok.fls.partial"), f, end);
	int n = seg_recover_dir(tmpdir, count_cb, &kept, &err);
	CHECK(n == -EINVAL && strstr(err.msg, ".c.fls.corrupt") && kept == 1200,
	      "recover_dir: %d, kept %llu, error \"%s\"", n, (unsigned long long)kept, err.msg);
	CHECK(seg_verify(path_of("ok.fls"), &err) == 0, "ok.fls: %s", err.msg);
	n = seg_recover_dir(tmpdir, NULL, NULL, &err);
	CHECK(n == 0, "second recover_dir: %d (%s): the corrupt file must not fail it again", n,
	      err.msg);
	unlink(path_of("ok.fls"));
	unlink(path_of(".c.fls.corrupt"));
	free(f);
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	struct stat st;

	if ((!t || !*t) && stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode))
		t = "/dev/shm";
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_segment_recover.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_exact_report();
	test_corrupt_header();
	if (rmdir(tmpdir) < 0)
		CHECK(0, "temp dir %s not empty after the tests: %s", tmpdir, strerror(errno));
	if (failures)
		fprintf(stderr, "test_segment_recover: %d failures\n", failures);
	else
		printf("test_segment_recover: all passed\n");
	return failures ? 1 : 0;
}
