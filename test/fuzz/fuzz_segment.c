/*
 * fuzz_segment.c - libFuzzer target for the segment reader, verifier,
 * recovery and block-frame decoder: any byte string is a segment file.
 * Beyond "no crash, no sanitizer report" it aborts when a promise breaks:
 * a block that reads back must hold exactly the records the index says, a
 * frame that decodes must fill its declared content size, and whatever
 * recovery seals must pass seg_verify().
 */
#include "segment.h"
#include "segment_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void remove_dir(void)
{
	rmdir(dir);
}

static void fail(const char *why, const char *detail)
{
	fprintf(stderr, "fuzz_segment: %s: %s\n", why, detail);
	abort();
}

static void put(const char *path, const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f))
		fail("cannot write", path);
}

static void read_all(const char *path)
{
	struct seg_err err;
	struct seg_reader *r = seg_reader_open(path, &err);

	if (!r) {
		if (!strstr(err.msg, "offset "))
			fail("open error without an offset", err.msg);
		return;
	}
	for (uint32_t i = 0; i < seg_reader_n_blocks(r); i++) {
		const struct rec_flow *recs;
		long n = seg_reader_read_block(r, i, &recs, &err);
		if (n >= 0 && (uint32_t)n != seg_reader_block(r, i)->n_records)
			fail("block record count differs from the index", path);
	}
	seg_reader_close(r);
	seg_verify(path, &err);
}

static void frame(const uint8_t *data, size_t size)
{
	static uint8_t out[1 << 16];
	size_t used, got;
	const char *why;

	if (seg_frame_decode(data, size, out, sizeof(out), &used, &got, &why) == 0 &&
	    (used > size || got != seg_get64(data + 6)))
		fail("frame decoded to a size other than its content size", why);
}

/*
 * Rewrite the header, index and trailer CRCs wherever the input's own size
 * fields place them, so that mutations reach the checks behind the CRCs
 * (bounds, counts, offsets) instead of all dying at the first CRC.
 */
static void fix_crcs(uint8_t *b, size_t size)
{
	if (size >= 8) {
		uint64_t plen = seg_get32(b + 4);
		if (plen >= 4 && 8 + plen <= size)
			seg_put32(b + 8 + plen - 4, seg_crc32c(b + 8, plen - 4));
	}
	if (size < SEG_TRAILER_SIZE)
		return;
	uint8_t *t = b + size - SEG_TRAILER_PAYLOAD;
	uint64_t io = seg_get64(t + 16), isz = seg_get64(t + 24);
	if (isz >= 12 && io <= size && isz <= size - io)
		seg_put32(b + io + isz - 4, seg_crc32c(b + io + 8, isz - 12));
	seg_put32(t + 44, seg_crc32c(t, 44));
}

static void one(const uint8_t *data, size_t size)
{
	char path[128], sealed[128];
	struct seg_recovery_report rep;
	struct seg_err err;

	if (!dir[0]) {
		atexit(remove_dir);
		const char *t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(dir, sizeof(dir), "%s/fuzz_segment.%d", t, (int)getpid());
		if (mkdir(dir, 0700) && errno != EEXIST)
			fail("mkdir", dir);
	}
	frame(data, size);
	snprintf(path, sizeof(path), "%s/in.fls", dir);
	put(path, data, size);
	read_all(path);
	unlink(path);
	/* The same bytes as a crash's partial file: whatever is sealed must verify. */
	snprintf(path, sizeof(path), "%s/.in.fls.partial", dir);
	snprintf(sealed, sizeof(sealed), "%s/in.fls", dir);
	put(path, data, size);
	if (seg_recover_file(path, &rep, &err) == 0 && !rep.header_lost &&
	    seg_verify(sealed, &err) != 0)
		fail("recovered segment does not verify", err.msg);
	unlink(path);
	unlink(sealed);
	/* a whole but bad header is moved aside, not deleted, by recovery */
	snprintf(path, sizeof(path), "%s/.in.fls.corrupt", dir);
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		return 0;
	one(data, size);
	memcpy(copy, data, size);
	fix_crcs(copy, size);
	if (size && memcmp(copy, data, size))
		one(copy, size);
	free(copy);
	return 0;
}
