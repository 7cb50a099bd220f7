/* Proves segments round-trip records exactly, are plain LZ4 to `lz4 -dc`, recover torn tails to the last whole block, detect every corruption with a located error, and skip blocks by time and ENI through the index. */
#include "segment.h"
#include "segment_internal.h"
#include "recgen.h"

#include <lz4frame.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

int failures;

#include "test_check.h"

#define N_ENIS 64
static char tmpdir[256];
static struct seg_eni_info enis[N_ENIS];

static struct seg_header_info make_hdr(void)
{
	struct seg_header_info h = {0};

	for (uint32_t i = 0; i < N_ENIS; i++)
		rec_gen_eni_info(i, &enis[i]);
	snprintf(h.host_id, sizeof(h.host_id), "i-0123456789abcdef0");
	h.created_ns = 1767225600123456789ULL;
	h.n_enis = N_ENIS;
	h.enis = enis;
	return h;
}

static struct rec_flow *gen(size_t n, uint64_t seed)
{
	struct rec_gen_params p = {.seed = seed, .n_enis = N_ENIS, .n_flows = 4096,
				   .v6_percent = 30, .all_kinds = true};
	struct rec_gen *g = rec_gen_create(&p);
	struct rec_flow *r = malloc(n * sizeof(*r));

	if (!g || !r) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	rec_gen_next(g, r, n);
	rec_gen_destroy(g);
	return r;
}

/* Write recs as a sealed segment DIR/name; returns 0 or the failing rc. */
static int write_seg(const char *name, const struct rec_flow *r, size_t n, uint32_t block)
{
	struct seg_header_info h = make_hdr();
	struct seg_writer_opts o = {.block_records = block, .no_fsync = true};
	struct seg_err err;
	struct seg_writer *w = seg_writer_create(tmpdir, name, &h, &o, &err);
	int rc;

	if (!w) {
		fprintf(stderr, "create %s: %s\n", name, err.msg);
		return -errno;
	}
	/* Odd-sized appends exercise both the copy path and the direct path. */
	for (size_t i = 0; i < n;) {
		size_t k = (i * 7919 + 1) % 3 == 0 ? 37 : 3 * (size_t)block + 11;
		if (k > n - i)
			k = n - i;
		rc = seg_writer_append(w, r + i, k, &err);
		if (rc) {
			fprintf(stderr, "append: %s\n", err.msg);
			seg_writer_abort(w);
			return rc;
		}
		i += k;
	}
	rc = seg_writer_seal(w, &err);
	if (rc)
		fprintf(stderr, "seal: %s\n", err.msg);
	return rc;
}

static char *path_of(const char *name)
{
	static char p[4][512];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", tmpdir, name);
	return p[k];
}

/* Field-by-field comparison, so a failure names the field. */
static const char *diff_field(const struct rec_flow *a, const struct rec_flow *b)
{
#define F(x) if (memcmp(&a->x, &b->x, sizeof(a->x))) return #x
	F(version); F(kind); F(direction); F(verdict); F(ip_version); F(protocol);
	F(tcp_flags); F(layer); F(end_reason); F(l2_class); F(ethertype); F(src_port);
	F(dst_port); F(eni); F(rule_id); F(sample_1_in_n); F(fragments); F(src_addr);
	F(dst_addr); F(packets); F(bytes); F(first_ns); F(last_ns);
#undef F
	return NULL;
}

struct cmp_ctx {
	const struct rec_flow *want;
	size_t n;
	size_t pos;
	size_t bad;
};

static int cmp_cb(const struct rec_flow *recs, size_t n, void *arg)
{
	struct cmp_ctx *c = arg;

	for (size_t i = 0; i < n; i++, c->pos++) {
		const char *f = c->pos < c->n ? diff_field(&recs[i], &c->want[c->pos]) : "extra";
		if (f && c->bad++ < 5)
			fprintf(stderr, "record %zu differs in %s\n", c->pos, f);
	}
	return 0;
}

static void test_lz4_cli(const char *path, const struct rec_flow *r, size_t n)
{
	char cmd[1024];
	FILE *p;
	size_t got = 0, k, bad = 0;
	static uint8_t buf[1 << 16];
	const uint8_t *want = (const uint8_t *)r;

	snprintf(cmd, sizeof(cmd), "lz4 -dc '%s'", path);
	p = popen(cmd, "r");
	CHECK(p, "popen lz4: %s", strerror(errno));
	if (!p)
		return;
	while ((k = fread(buf, 1, sizeof(buf), p)) > 0) {
		if (got + k > n * sizeof(*r) || memcmp(buf, want + got, k))
			bad++;
		got += k;
	}
	int st = pclose(p);
	CHECK(st == 0, "lz4 -dc exit status %d", st);
	CHECK(got == n * sizeof(*r), "lz4 -dc gave %zu bytes, want %zu", got, n * sizeof(*r));
	CHECK(bad == 0, "lz4 -dc output differs from the records in %zu chunks", bad);
}

/* The checksums are the documented ones: CRC32C check value, and XXH32 as liblz4 computes it. */
static void test_checksums(void)
{
	uint8_t buf[300], frame[1024];
	LZ4F_preferences_t p = {0};

	CHECK(seg_crc32c("123456789", 9) == 0xE3069283U, "CRC32C check value 0x%08x",
	      seg_crc32c("123456789", 9));
	p.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 37 + 11);
	for (size_t len = 0; len <= sizeof(buf); len += 7) {
		size_t n = LZ4F_compressFrame(frame, sizeof(frame), buf, len, &p);
		uint32_t want;
		memcpy(&want, frame + n - 4, 4);
		CHECK(seg_xxh32(buf, len, 0) == want, "XXH32 of %zu bytes 0x%08x, liblz4 0x%08x",
		      len, seg_xxh32(buf, len, 0), want);
	}
}

static void test_round_trip(void)
{
	const size_t n = 1000000;
	struct rec_flow *r = gen(n, 42);
	size_t kinds[REC_KIND_MAX] = {0}, v4 = 0, v6 = 0, nonip = 0;
	struct seg_err err;

	for (size_t i = 0; i < n; i++) {
		kinds[r[i].kind]++;
		v4 += r[i].ip_version == 4;
		v6 += r[i].ip_version == 6;
		nonip += r[i].kind == REC_KIND_FLOW && r[i].ip_version == 0;
	}
	CHECK(kinds[0] && kinds[1] && kinds[2] && v4 && v6 && nonip,
	      "generator must give every kind: flow %zu loss %zu nodata %zu v4 %zu v6 %zu non-IP %zu",
	      kinds[0], kinds[1], kinds[2], v4, v6, nonip);
	CHECK(write_seg("rt.fls", r, n, 0) == 0, "write failed");
	struct seg_reader *rd = seg_reader_open(path_of("rt.fls"), &err);
	CHECK(rd, "open: %s", err.msg);
	if (rd) {
		const struct seg_header_info *h = seg_reader_header(rd);
		struct cmp_ctx c = {.want = r, .n = n};
		uint64_t blocks = 0;
		CHECK(seg_reader_n_records(rd) == n, "n_records %llu", (unsigned long long)seg_reader_n_records(rd));
		CHECK(h->n_enis == N_ENIS && !strcmp(h->host_id, "i-0123456789abcdef0") &&
		      h->created_ns == 1767225600123456789ULL, "header n_enis %u host %s created %llu",
		      h->n_enis, h->host_id, (unsigned long long)h->created_ns);
		for (uint32_t i = 0; i < h->n_enis && i < N_ENIS; i++)
			CHECK(!memcmp(&h->enis[i], &enis[i], sizeof(enis[i])), "ENI entry %u: %s/%s", i,
			      h->enis[i].eni_id, h->enis[i].vpc_id);
		int rc = seg_reader_foreach(rd, NULL, cmp_cb, &c, &blocks, &err);
		CHECK(rc == 0, "foreach: %d %s", rc, err.msg);
		CHECK(c.pos == n && c.bad == 0, "read %zu records, %zu differ", c.pos, c.bad);
		CHECK(blocks == (n + SEG_DEFAULT_BLOCK_RECORDS - 1) / SEG_DEFAULT_BLOCK_RECORDS,
		      "blocks read %llu", (unsigned long long)blocks);
		seg_reader_close(rd);
	}
	CHECK(seg_verify(path_of("rt.fls"), &err) == 0, "verify: %s", err.msg);
	test_lz4_cli(path_of("rt.fls"), r, n);
	unlink(path_of("rt.fls"));
	free(r);
}

static void test_empty_and_errors(void)
{
	struct seg_header_info h = make_hdr();
	struct seg_err err;
	struct seg_writer *w;
	const char *bad[] = {"x.txt", "a/b.fls", ".hidden.fls", "", ".fls"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		w = seg_writer_create(tmpdir, bad[i], &h, NULL, &err);
		CHECK(!w && errno == EINVAL && strstr(err.msg, "bad segment name"),
		      "name '%s': w %p errno %d msg %s", bad[i], (void *)w, errno, err.msg);
		seg_writer_abort(w);
	}
	w = seg_writer_create("/nonexistent/dir", "a.fls", &h, NULL, &err);
	CHECK(!w && errno == ENOENT && strstr(err.msg, "/nonexistent/dir: offset 0: cannot open directory"),
	      "missing dir: errno %d msg %s", errno, err.msg);
	/* Empty segment: valid, zero blocks. */
	CHECK(write_seg("empty.fls", NULL, 0, 0) == 0, "empty write");
	struct seg_reader *rd = seg_reader_open(path_of("empty.fls"), &err);
	CHECK(rd && seg_reader_n_blocks(rd) == 0 && seg_reader_n_records(rd) == 0, "empty open: %s",
	      rd ? "wrong counts" : err.msg);
	seg_reader_close(rd);
	CHECK(seg_verify(path_of("empty.fls"), &err) == 0, "verify empty: %s", err.msg);
	/* An existing segment is never replaced. */
	w = seg_writer_create(tmpdir, "empty.fls", &h, NULL, &err);
	CHECK(!w && errno == EEXIST, "existing: errno %d msg %s", errno, err.msg);
	/* Abort removes the partial file. */
	w = seg_writer_create(tmpdir, "ab.fls", &h, NULL, &err);
	CHECK(w, "create: %s", err.msg);
	seg_writer_abort(w);
	CHECK(access(path_of(".ab.fls.partial"), F_OK) != 0 && access(path_of("ab.fls"), F_OK) != 0,
	      "abort left a file");
	rd = seg_reader_open(path_of("missing.fls"), &err);
	CHECK(!rd && errno == ENOENT && strstr(err.msg, "missing.fls: offset 0: cannot open"),
	      "missing file: %s", err.msg);
	unlink(path_of("empty.fls"));
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return b;
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

/* Recover DIR/.cut.fls.partial holding bytes [0, cut) and check the outcome. */
static void check_cut(const uint8_t *file, size_t cut, const struct rec_flow *r,
		      uint64_t want_blocks, uint64_t want_dropped, bool want_lost)
{
	struct seg_recovery_report rep;
	struct seg_err err;
	int rc;

	spit(path_of(".cut.fls.partial"), file, cut);
	rc = seg_recover_file(path_of(".cut.fls.partial"), &rep, &err);
	CHECK(rc == 0, "cut %zu: recover rc %d: %s", cut, rc, err.msg);
	CHECK(rep.header_lost == want_lost && rep.blocks_kept == want_blocks &&
	      rep.records_kept == want_blocks * 1000 && rep.bytes_dropped == want_dropped,
	      "cut %zu: kept %llu blocks %llu records, dropped %llu bytes, header_lost %d; want %llu blocks, %llu bytes dropped",
	      cut, (unsigned long long)rep.blocks_kept, (unsigned long long)rep.records_kept,
	      (unsigned long long)rep.bytes_dropped, rep.header_lost,
	      (unsigned long long)want_blocks, (unsigned long long)want_dropped);
	CHECK(access(path_of(".cut.fls.partial"), F_OK) != 0, "cut %zu: partial file still there", cut);
	if (want_lost) {
		CHECK(access(path_of("cut.fls"), F_OK) != 0, "cut %zu: sealed a headerless file", cut);
		return;
	}
	CHECK(!strcmp(rep.path, path_of("cut.fls")), "cut %zu: report path %s", cut, rep.path);
	struct seg_reader *rd = seg_reader_open(path_of("cut.fls"), &err);
	CHECK(rd, "cut %zu: open recovered: %s", cut, err.msg);
	if (rd) {
		struct cmp_ctx c = {.want = r, .n = want_blocks * 1000};
		rc = seg_reader_foreach(rd, NULL, cmp_cb, &c, NULL, &err);
		CHECK(rc == 0 && c.pos == c.n && c.bad == 0, "cut %zu: read back %zu of %zu, %zu differ",
		      cut, c.pos, c.n, c.bad);
		seg_reader_close(rd);
	}
	CHECK(seg_verify(path_of("cut.fls"), &err) == 0, "cut %zu: verify: %s", cut, err.msg);
	unlink(path_of("cut.fls"));
}

static void count_cb(const struct seg_recovery_report *rep, void *arg)
{
	*(uint64_t *)arg += rep->records_kept;
}

static void test_torn_tail(void)
{
	struct seg_header_info h = make_hdr();
	struct seg_writer_opts o = {.block_records = 1000, .no_fsync = true};
	struct rec_flow *r = gen(5000, 7);
	struct seg_err err;
	uint64_t ends[6];
	size_t len;
	struct seg_writer *w = seg_writer_create(tmpdir, "torn.fls", &h, &o, &err);

	CHECK(w, "create: %s", err.msg);
	if (!w)
		return;
	ends[0] = seg_writer_bytes(w);
	for (int b = 0; b < 5; b++) {
		CHECK(seg_writer_append(w, r + b * 1000, 1000, &err) == 0, "append: %s", err.msg);
		ends[b + 1] = seg_writer_bytes(w);
	}
	uint8_t *file = slurp(path_of(".torn.fls.partial"), &len);
	seg_writer_abort(w);
	CHECK(file && len == ends[5], "partial is %zu bytes, writer says %llu", len,
	      (unsigned long long)ends[5]);
	if (!file)
		return;
	/* Every cut inside the last frame: its first and last 40 bytes, and a stride. */
	uint64_t a = ends[4], z = ends[5], step = (z - a) / 97 + 1;
	for (uint64_t c = a; c < z; c++) {
		if (c - a > 40 && z - c > 40 && (c - a) % step)
			continue;
		check_cut(file, c, r, 4, c - a, false);
	}
	check_cut(file, z, r, 5, 0, false);
	check_cut(file, (ends[2] + ends[3]) / 2, r, 2, (ends[2] + ends[3]) / 2 - ends[2], false);
	/* A torn header: nothing to keep; the empty sealed segment right after it. */
	const size_t hcuts[] = {0, 1, 4, 8, ends[0] - 1};
	for (size_t i = 0; i < sizeof(hcuts) / sizeof(hcuts[0]); i++)
		check_cut(file, hcuts[i], r, 0, hcuts[i], true);
	check_cut(file, ends[0], r, 0, 0, false);

	/* The directory walk recovers every partial file and reports each. */
	spit(path_of(".d1.fls.partial"), file, ends[3] + 5);
	spit(path_of(".d2.fls.partial"), file, ends[5]);
	spit(path_of("d3.fls.notpartial"), file, ends[5]);
	uint64_t reported = 0;
	int n = seg_recover_dir(tmpdir, count_cb, &reported, &err);
	CHECK(n == 2, "recover_dir returned %d (%s)", n, n < 0 ? err.msg : "");
	CHECK(reported == 3000 + 5000, "recover_dir reported %llu records kept", (unsigned long long)reported);
	CHECK(access(path_of("d1.fls"), F_OK) == 0 && access(path_of("d2.fls"), F_OK) == 0,
	      "recover_dir did not seal both");
	unlink(path_of("d1.fls"));
	unlink(path_of("d2.fls"));
	unlink(path_of("d3.fls.notpartial"));
	free(file);
	free(r);
}

/*
 * Write bytes as DIR/f.fls and read everything. Returns the stage that
 * failed (0 none, 1 open, 2 a block) and checks that whatever was returned
 * equals the original records: a flip may be caught, never read as data.
 */
static int try_flipped(const uint8_t *b, size_t len, const struct rec_flow *r,
		       struct seg_err *err, uint32_t *bad_block)
{
	struct seg_reader *rd;
	int stage = 0;

	spit(path_of("f.fls"), b, len);
	rd = seg_reader_open(path_of("f.fls"), err);
	if (!rd)
		return 1;
	for (uint32_t i = 0; i < seg_reader_n_blocks(rd); i++) {
		const struct rec_flow *got;
		struct seg_err e2;
		long n = seg_reader_read_block(rd, i, &got, stage ? &e2 : err);
		if (n < 0) {
			if (!stage)
				*bad_block = i;
			stage = 2;
			continue;
		}
		CHECK(n == 1000 && !memcmp(got, r + (size_t)i * 1000, 1000 * sizeof(*r)),
		      "block %u returned %ld records that are not the originals", i, n);
	}
	seg_reader_close(rd);
	return stage;
}

/* err names the file and "offset N" with N its own offset field, plus what. */
static bool located(const struct seg_err *err, const char *what)
{
	char want[600];
	snprintf(want, sizeof(want), "%s: offset %llu: ", path_of("f.fls"),
		 (unsigned long long)err->offset);
	return !strncmp(err->msg, want, strlen(want)) && strstr(err->msg, what);
}

static void test_flips(void)
{
	struct rec_flow *r = gen(8000, 9);
	struct seg_err err;
	size_t len;
	uint32_t bb = 0;

	CHECK(write_seg("flip.fls", r, 8000, 1000) == 0, "write");
	uint8_t *orig = slurp(path_of("flip.fls"), &len);
	struct seg_reader *rd = seg_reader_open(path_of("flip.fls"), &err);
	CHECK(orig && rd, "open: %s", err.msg);
	if (!orig || !rd)
		return;
	uint64_t hdr_end = seg_reader_block(rd, 0)->offset;
	const struct seg_block_info *b3 = seg_reader_block(rd, 3);
	uint64_t b3_off = b3->offset, b3_end = b3->offset + b3->frame_size;
	uint64_t idx_off = seg_reader_block(rd, 7)->offset + seg_reader_block(rd, 7)->frame_size;
	uint64_t trl_off = len - 56;
	seg_reader_close(rd);
	CHECK(try_flipped(orig, len, r, &err, &bb) == 0, "pristine copy failed: %s", err.msg);

	struct { const char *what; uint64_t from, to, step; int stage; } reg[] = {
		{"header", 0, hdr_end, 7, 1},
		{"block 3", b3_off, b3_end, 5, 2},
		{"index", idx_off, trl_off, 1, 1},
		{"trailer", trl_off, len, 1, 1},
	};
	for (size_t k = 0; k < sizeof(reg) / sizeof(reg[0]); k++) {
		unsigned missed = 0, tried = 0;
		for (uint64_t o = reg[k].from; o < reg[k].to; o += reg[k].step) {
			orig[o] ^= 0x5a;
			memset(&err, 0, sizeof(err));
			int st = try_flipped(orig, len, r, &err, &bb);
			orig[o] ^= 0x5a;
			tried++;
			/* Flips in the index/trailer may surface as any metadata error. */
			bool ok = st == reg[k].stage &&
				  (st == 2 ? bb == 3 && err.offset == b3_off && located(&err, "block 3")
					   : located(&err, k == 0 ? "header" : ""));
			if (!ok && missed++ < 3)
				fprintf(stderr, "%s flip at %llu: stage %d, block %u, error \"%s\"\n",
					reg[k].what, (unsigned long long)o, st, bb, err.msg);
		}
		CHECK(missed == 0, "%s: %u of %u flips not detected as expected", reg[k].what, missed, tried);
	}
	/* verify finds a block flip too, and names the block. */
	orig[(b3_off + b3_end) / 2] ^= 1;
	spit(path_of("f.fls"), orig, len);
	CHECK(seg_verify(path_of("f.fls"), &err) == -EIO && located(&err, "block 3"), "verify: %s", err.msg);
	/* Truncated sealed files are refused, not read. */
	for (size_t cut = 0; cut < len; cut += len / 50 + 1) {
		spit(path_of("f.fls"), orig, cut);
		rd = seg_reader_open(path_of("f.fls"), &err);
		CHECK(!rd && located(&err, ""), "truncated to %zu: opened or bad error \"%s\"", cut, err.msg);
		seg_reader_close(rd);
	}
	unlink(path_of("f.fls"));
	unlink(path_of("flip.fls"));
	free(orig);
	free(r);
}

/* Re-seal metadata after an edit, so only the semantic checks can catch it. */
static void fix_crcs(uint8_t *f, size_t len)
{
	uint8_t *t = f + len - 48;
	uint64_t io = seg_get64(t + 16), isz = seg_get64(t + 24);
	uint8_t *ip = f + io + 8;

	seg_put32(ip + isz - 12, seg_crc32c(ip, isz - 12));
	seg_put32(t + 44, seg_crc32c(t, 44));
}

/* An index whose CRCs are right but whose content lies is still caught: by open, read or verify. */
static void test_forged_index(void)
{
	struct rec_flow *r = gen(8000, 11);
	struct seg_err err;
	size_t len;
	uint32_t bb = 0;

	CHECK(write_seg("forge.fls", r, 8000, 1000) == 0, "write");
	uint8_t *orig = slurp(path_of("forge.fls"), &len);
	if (!orig)
		return;
	uint8_t *t = orig + len - 48;
	uint64_t io = seg_get64(t + 16);
	uint8_t *e3 = orig + io + 8 + 16; /* walk to entry 3 */
	for (int i = 0; i < 3; i++)
		e3 += 36 + 4 * seg_get32(e3 + 32);
	uint8_t *f = malloc(len);

	/* n_records of block 3 and the trailer total both changed: the frame disagrees. */
	memcpy(f, orig, len);
	seg_put32(f + (e3 - orig) + 12, 999);
	seg_put64(f + len - 48 + 32, 7999);
	fix_crcs(f, len);
	CHECK(try_flipped(f, len, r, &err, &bb) == 2 && bb == 3 && located(&err, "block 3"),
	      "forged record count: %s", err.msg);
	/* Record total alone changed: open refuses. */
	memcpy(f, orig, len);
	seg_put64(f + len - 48 + 32, 8001);
	fix_crcs(f, len);
	CHECK(try_flipped(f, len, r, &err, &bb) == 1 && located(&err, "trailer says"),
	      "forged total: %s", err.msg);
	/* Block 3 moved by one byte: offsets no longer chain. */
	memcpy(f, orig, len);
	seg_put64(f + (e3 - orig), seg_get64(e3) + 1);
	fix_crcs(f, len);
	CHECK(try_flipped(f, len, r, &err, &bb) == 1 && located(&err, "contiguous"),
	      "forged offset: %s", err.msg);
	/* Index time range narrower than the records: only verify can see it. */
	memcpy(f, orig, len);
	seg_put64(f + (e3 - orig) + 16, seg_get64(e3 + 16) + 1);
	fix_crcs(f, len);
	spit(path_of("f.fls"), f, len);
	CHECK(seg_verify(path_of("f.fls"), &err) == -EINVAL && located(&err, "does not match the records"),
	      "forged min_ns: %s", err.msg);
	unlink(path_of("f.fls"));
	unlink(path_of("forge.fls"));
	free(f);
	free(orig);
	free(r);
}

/* A write that fails (file size limit: the disk-full path) fails the writer with a located error; recovery keeps the blocks that were written whole. */
static void test_write_failure(void)
{
	struct seg_header_info h = make_hdr();
	struct seg_writer_opts o = {.block_records = 1000, .no_fsync = true};
	struct rec_flow *r = gen(20000, 5);
	struct seg_recovery_report rep;
	struct rlimit old, lim;
	struct seg_err err;
	char want[600];
	int rc = 0, i;

	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	struct seg_writer *w = seg_writer_create(tmpdir, "full.fls", &h, &o, &err);
	CHECK(w, "create: %s", err.msg);
	if (!w)
		return;
	lim = old;
	lim.rlim_cur = seg_writer_bytes(w) + 100000;
	setrlimit(RLIMIT_FSIZE, &lim);
	for (i = 0; i < 20 && !rc; i++)
		rc = seg_writer_append(w, r + i * 1000, 1000, &err);
	uint64_t good = seg_writer_bytes(w);
	int blocks = i - 1;
	snprintf(want, sizeof(want), "%s: offset %llu: writing block %d: ", path_of(".full.fls.partial"),
		 (unsigned long long)good, blocks);
	CHECK(rc == -EFBIG && !strncmp(err.msg, want, strlen(want)) && err.offset == good,
	      "rc %d, error \"%s\", want it to start \"%s\"", rc, err.msg, want);
	CHECK(seg_writer_append(w, r, 1, &err) == -EIO && strstr(err.msg, "already failed"),
	      "append after failure: %s", err.msg);
	CHECK(seg_writer_seal(w, &err) < 0, "seal of a failed writer succeeded");
	setrlimit(RLIMIT_FSIZE, &old);
	CHECK(access(path_of(".full.fls.partial"), F_OK) == 0, "failed seal removed the partial file");
	rc = seg_recover_file(path_of(".full.fls.partial"), &rep, &err);
	CHECK(rc == 0 && rep.blocks_kept == (uint64_t)blocks && rep.records_kept == (uint64_t)blocks * 1000 &&
	      rep.bytes_dropped == lim.rlim_cur - good,
	      "recover: rc %d kept %llu blocks, dropped %llu bytes; want %d blocks, %llu bytes (%s)", rc,
	      (unsigned long long)rep.blocks_kept, (unsigned long long)rep.bytes_dropped, blocks,
	      (unsigned long long)(lim.rlim_cur - good), err.msg);
	struct seg_reader *rd = seg_reader_open(path_of("full.fls"), &err);
	CHECK(rd, "open recovered: %s", err.msg);
	if (rd) {
		struct cmp_ctx c = {.want = r, .n = (size_t)blocks * 1000};
		rc = seg_reader_foreach(rd, NULL, cmp_cb, &c, NULL, &err);
		CHECK(rc == 0 && c.pos == c.n && c.bad == 0, "read back %zu of %zu, %zu differ", c.pos, c.n, c.bad);
		seg_reader_close(rd);
	}
	unlink(path_of("full.fls"));
	signal(SIGXFSZ, SIG_DFL);
	free(r);
}

struct sel_ctx {
	const struct seg_select *sel;
	size_t matched;
};

static bool rec_matches(const struct rec_flow *x, const struct seg_select *s)
{
	bool eni = !s->n_enis;
	for (uint32_t k = 0; k < s->n_enis; k++)
		eni |= x->eni == s->enis[k];
	return eni && (!s->since_ns || x->last_ns >= s->since_ns) &&
	       (!s->until_ns || x->first_ns <= s->until_ns);
}

static int sel_cb(const struct rec_flow *recs, size_t n, void *arg)
{
	struct sel_ctx *c = arg;
	for (size_t i = 0; i < n; i++)
		c->matched += rec_matches(&recs[i], c->sel);
	return 0;
}

/* Reference model, from the records alone: blocks whose time span and ENIs can match, and matching records. */
static void expect_sel(const struct rec_flow *r, size_t n, const struct seg_select *s,
		       uint64_t *blocks, size_t *recs)
{
	*blocks = 0;
	*recs = 0;
	for (size_t b = 0; b < n / 1000; b++) {
		uint64_t lo = UINT64_MAX, hi = 0;
		bool eni = !s->n_enis;
		for (size_t i = b * 1000; i < (b + 1) * 1000; i++) {
			*recs += rec_matches(&r[i], s);
			lo = r[i].first_ns < lo ? r[i].first_ns : lo;
			hi = r[i].last_ns > hi ? r[i].last_ns : hi;
			for (uint32_t k = 0; k < s->n_enis; k++)
				eni |= r[i].eni == s->enis[k];
		}
		*blocks += eni && (!s->since_ns || hi >= s->since_ns) && (!s->until_ns || lo <= s->until_ns);
	}
}

static void test_select(void)
{
	const size_t n = 20000;
	struct rec_gen_params p = {.seed = 3, .n_enis = 3, .n_flows = 512, .step_ns = 1000000000ULL,
				   .v6_percent = 10};
	struct rec_gen *g = rec_gen_create(&p);
	struct rec_flow *r = malloc(n * sizeof(*r));
	struct seg_err err;

	rec_gen_next(g, r, n);
	rec_gen_destroy(g);
	for (size_t i = 0; i < n; i++) /* block k holds ENIs 10k .. 10k+2 */
		r[i].eni = (uint32_t)(i / 1000) * 10 + r[i].eni % 3;
	CHECK(write_seg("sel.fls", r, n, 1000) == 0, "write");
	struct seg_reader *rd = seg_reader_open(path_of("sel.fls"), &err);
	CHECK(rd, "open: %s", err.msg);
	if (!rd)
		return;
	const uint32_t one[] = {41}, two[] = {11, 152, 7}, none[] = {999};
	struct seg_select sels[] = {
		{0},
		{.enis = one, .n_enis = 1},
		{.enis = two, .n_enis = 3},
		{.enis = none, .n_enis = 1},
		{.since_ns = r[5500].last_ns, .until_ns = r[7200].last_ns},
		{.since_ns = r[12345].last_ns},
		{.until_ns = r[999].last_ns},
		{.since_ns = r[5500].last_ns, .until_ns = r[17200].last_ns, .enis = two, .n_enis = 3},
		{.since_ns = r[n - 1].last_ns + 1},
	};
	const uint64_t at_most[] = {20, 1, 2, 0, 3, 8, 2, 1, 0};
	for (size_t k = 0; k < sizeof(sels) / sizeof(sels[0]); k++) {
		struct sel_ctx c = {.sel = &sels[k]};
		uint64_t blocks = 99, want_blocks;
		size_t want_recs;
		expect_sel(r, n, &sels[k], &want_blocks, &want_recs);
		int rc = seg_reader_foreach(rd, &sels[k], sel_cb, &c, &blocks, &err);
		CHECK(rc == 0, "select %zu: %s", k, err.msg);
		CHECK(blocks == want_blocks && blocks <= at_most[k],
		      "select %zu: read %llu blocks, the records say %llu can match (at most %llu expected)",
		      k, (unsigned long long)blocks, (unsigned long long)want_blocks,
		      (unsigned long long)at_most[k]);
		CHECK(c.matched == want_recs, "select %zu: %zu matching records seen, %zu exist",
		      k, c.matched, want_recs);
	}
	seg_reader_close(rd);
	unlink(path_of("sel.fls"));
	free(r);
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	struct stat st;

	/* Recovery fsyncs every file it seals; on tmpfs that costs nothing. */
	if ((!t || !*t) && stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode))
		t = "/dev/shm";

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_segment.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_checksums();
	test_empty_and_errors();
	test_torn_tail();
	test_flips();
	test_select();
	test_forged_index();
	test_write_failure();
	test_round_trip();
	if (rmdir(tmpdir) < 0)
		CHECK(0, "temp dir %s not empty after the tests: %s", tmpdir, strerror(errno));
	if (failures)
		fprintf(stderr, "test_segment: %d failures\n", failures);
	else
		printf("test_segment: all passed\n");
	return failures ? 1 : 0;
}
