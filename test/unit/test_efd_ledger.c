/* Proves the block ledger: per-ENI tallies follow the loss rules (a flow counts 1, a writer/recovery loss record its lost_records, no-data and exporter loss nothing), kept blocks are not counted, a torn ledger entry is ignored, and a torn tail cut off between two store runs is counted exactly and written as REC_END_LOSS_RECOVERY records, once. */
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
#include "efd_test_store.h"

#define N_ENIS 4
#define BLOCKS 6
#define PER_BLOCK 100

/** The reference rule, written out independently of efd_rec_loss_weight. */
static uint64_t ref_weight(const struct rec_flow *r)
{
	if (r->kind == REC_KIND_NODATA)
		return 0;
	if (r->kind == REC_KIND_LOSS) {
		if (r->end_reason == REC_END_LOSS_EXPORTER)
			return 0;
		if (r->end_reason == REC_END_LOSS_WRITER || r->end_reason == REC_END_LOSS_RECOVERY)
			return r->lost_records;
	}
	return 1;
}

static bool counts(const struct rec_flow *r)
{
	return !(r->kind == REC_KIND_NODATA ||
		 (r->kind == REC_KIND_LOSS && r->end_reason == REC_END_LOSS_EXPORTER));
}

struct ref { uint64_t records, packets, bytes; };

static void ref_add(struct ref *t, const struct rec_flow *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!counts(&r[i]))
			continue;
		t[r[i].eni].records += ref_weight(&r[i]);
		t[r[i].eni].packets += r[i].packets;
		t[r[i].eni].bytes += r[i].bytes;
		t[N_ENIS].records += ref_weight(&r[i]);
		t[N_ENIS].packets += r[i].packets;
		t[N_ENIS].bytes += r[i].bytes;
	}
}

static void check_loss(const struct efd_ledger_loss *l, const struct ref *want, const char *what)
{
	for (uint32_t e = 0; e < N_ENIS; e++)
		CHECK(l->eni[e].records == want[e].records && l->eni[e].packets == want[e].packets &&
		      l->eni[e].bytes == want[e].bytes,
		      "%s: eni %u: %llu rec %llu pk %llu B, want %llu %llu %llu", what, e,
		      (unsigned long long)l->eni[e].records, (unsigned long long)l->eni[e].packets,
		      (unsigned long long)l->eni[e].bytes, (unsigned long long)want[e].records,
		      (unsigned long long)want[e].packets, (unsigned long long)want[e].bytes);
	CHECK(l->total.records == want[N_ENIS].records, "%s: total %llu records, want %llu", what,
	      (unsigned long long)l->total.records, (unsigned long long)want[N_ENIS].records);
}

/** Rules, kept offsets and a torn last entry, on the ledger file alone. */
static void test_ledger_file(struct rec_gen *g, const char *dir)
{
	static struct efd_ledger_loss l;
	struct rec_flow recs[3][PER_BLOCK];
	struct ref all[N_ENIS + 1] = { 0 }, last[N_ENIS + 1] = { 0 };
	const uint64_t offs[3] = { 1000, 5000, 9000 };
	char path[EFD_PATH_MAX];
	int kinds[4] = { 0 };

	for (int b = 0; b < 3; b++) {
		rec_gen_next(g, recs[b], PER_BLOCK);
		/* the loss kinds the generator does not make: the daemon's own */
		const uint8_t why[3] = { REC_END_LOSS_WRITER, REC_END_LOSS_RECOVERY,
					 REC_END_LOSS_EXPORTER };
		struct rec_flow *x = &recs[b][10 + b];
		x->kind = REC_KIND_LOSS;
		x->end_reason = why[b];
		x->lost_records = 7 + (uint32_t)b;
		for (int i = 0; i < PER_BLOCK; i++)
			kinds[recs[b][i].kind & 3]++;
		CHECK(efd_ledger_append(dir, "t-0000000099.fls", offs[b], recs[b], PER_BLOCK) == 0,
		      "append %d", b);
		ref_add(all, recs[b], PER_BLOCK);
	}
	ref_add(last, recs[2], PER_BLOCK);
	CHECK(kinds[REC_KIND_LOSS] > 0 && kinds[REC_KIND_NODATA] > 0,
	      "generator gave %d loss and %d no-data records: the rules are not exercised",
	      kinds[REC_KIND_LOSS], kinds[REC_KIND_NODATA]);
	CHECK(efd_ledger_lost(dir, "t-0000000099.fls", NULL, 0, &l) == 0 && l.blocks == 3 &&
	      l.blocks_lost == 3, "nothing kept: %llu blocks, %llu lost",
	      (unsigned long long)l.blocks, (unsigned long long)l.blocks_lost);
	check_loss(&l, all, "nothing kept");
	CHECK(efd_ledger_lost(dir, "t-0000000099.fls", offs, 2, &l) == 0 && l.blocks_lost == 1,
	      "two kept: %llu lost", (unsigned long long)l.blocks_lost);
	check_loss(&l, last, "two kept");
	/* a torn last entry (the process died inside its write) is not read */
	efd_ledger_path(dir, "t-0000000099.fls", path, sizeof(path));
	struct stat st;
	CHECK(stat(path, &st) == 0 && truncate(path, st.st_size - 5) == 0, "truncate ledger");
	CHECK(efd_ledger_lost(dir, "t-0000000099.fls", offs, 2, &l) == 0 && l.blocks == 2 &&
	      l.blocks_lost == 0 && l.total.records == 0, "torn entry read: %llu blocks %llu lost",
	      (unsigned long long)l.blocks, (unsigned long long)l.blocks_lost);
	efd_ledger_remove(dir, "t-0000000099.fls");
	CHECK(access(path, F_OK) != 0, "ledger not removed");
	CHECK(efd_ledger_lost(dir, "t-0000000099.fls", NULL, 0, &l) == -ENOENT, "no ledger: not ENOENT");
}

static struct seg_eni_info enis[N_ENIS];
static struct seg_header_info dict = { .format_version = SEG_FORMAT_VERSION, .n_enis = N_ENIS,
				       .enis = enis };

/** Sum of lost_records, per ENI, of the REC_END_LOSS_RECOVERY records in path. */
static void recovery_records(const char *path, struct ref *got)
{
	struct seg_err err;
	const struct rec_flow *r;
	struct seg_reader *rd = seg_reader_open(path, &err);

	CHECK(rd != NULL, "open %s: %s", path, rd ? "" : err.msg);
	for (uint32_t b = 0; rd && b < seg_reader_n_blocks(rd); b++) {
		long n = seg_reader_read_block(rd, b, &r, &err);
		for (long i = 0; i < n; i++)
			if (r[i].kind == REC_KIND_LOSS && r[i].end_reason == REC_END_LOSS_RECOVERY) {
				got[r[i].eni].records += r[i].lost_records;
				got[r[i].eni].packets += r[i].packets;
				got[r[i].eni].bytes += r[i].bytes;
			}
	}
	seg_reader_close(rd);
}

/** A store "crashes" with BLOCKS blocks open; the tail is cut; the next start reports it. */
static void test_torn_tail(struct rec_gen *g, const char *dir)
{
	static struct efd d, d2, d3;
	static struct rec_flow recs[BLOCKS][PER_BLOCK];
	struct ref want[N_ENIS + 1] = { 0 }, got[N_ENIS + 1] = { 0 };
	char cmd[2 * EFD_PATH_MAX], partial[EFD_PATH_MAX], sealed[EFD_PATH_MAX], loss[EFD_PATH_MAX];
	uint64_t size;
	int st = -1;

	for (int b = 0; b < BLOCKS; b++)
		rec_gen_next(g, recs[b], PER_BLOCK);
	open_store(&d, dir);
	pid_t pid = fork();
	if (pid == 0) {
		for (int b = 0; b < BLOCKS; b++)
			if (efd_store_write(d.store, recs[b], PER_BLOCK, &dict) != 0)
				_exit(1);
		_exit(0); /* "killed" with the segment open */
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child write failed");
	efd_store_close(d.store);
	snprintf(cmd, sizeof(cmd), "find %s -name '.t-0000000000.fls.partial'", dir);
	FILE *f = popen(cmd, "r");
	CHECK(f && fgets(partial, sizeof(partial), f), "no partial file");
	if (f)
		pclose(f);
	partial[strcspn(partial, "\n")] = '\0';
	struct stat sb;
	CHECK(stat(partial, &sb) == 0 && truncate(partial, sb.st_size * 6 / 10) == 0, "cut the tail");
	open_store(&d2, dir);
	CHECK(efd_store_lookup(d2.store, "t-0000000000.fls", sealed, sizeof(sealed), &size) == 0,
	      "recovered segment not listed");
	struct seg_reader *r = seg_reader_open(sealed, &(struct seg_err){ 0 });
	uint32_t kept = r ? seg_reader_n_blocks(r) : 0;
	seg_reader_close(r);
	CHECK(kept > 0 && kept < BLOCKS, "the cut kept %u of %d blocks", kept, BLOCKS);
	for (uint32_t b = kept; b < BLOCKS; b++)
		ref_add(want, recs[b], PER_BLOCK);
	CHECK(d2.ctr.records_lost_recovery == want[N_ENIS].records &&
	      d2.ctr.packets_lost_recovery == want[N_ENIS].packets &&
	      d2.ctr.bytes_lost_recovery == want[N_ENIS].bytes,
	      "counters %llu rec %llu pk %llu B, want %llu %llu %llu",
	      (unsigned long long)d2.ctr.records_lost_recovery,
	      (unsigned long long)d2.ctr.packets_lost_recovery,
	      (unsigned long long)d2.ctr.bytes_lost_recovery,
	      (unsigned long long)want[N_ENIS].records, (unsigned long long)want[N_ENIS].packets,
	      (unsigned long long)want[N_ENIS].bytes);
	CHECK(efd_store_lookup(d2.store, "t-0000000001.fls", loss, sizeof(loss), &size) == 0,
	      "no segment with the loss records");
	recovery_records(loss, got);
	for (uint32_t e = 0; e < N_ENIS; e++)
		CHECK(got[e].records == want[e].records && got[e].packets == want[e].packets &&
		      got[e].bytes == want[e].bytes, "loss records eni %u: %llu rec %llu pk, want %llu %llu",
		      e, (unsigned long long)got[e].records, (unsigned long long)got[e].packets,
		      (unsigned long long)want[e].records, (unsigned long long)want[e].packets);
	efd_store_close(d2.store);
	snprintf(cmd, sizeof(cmd), "find %s -name '.*.ledger' | grep -q .", dir);
	CHECK(system(cmd) != 0, "a ledger is left after the loss was written");
	open_store(&d3, dir); /* reported once, not at every start */
	CHECK(d3.ctr.records_lost_recovery == 0, "reported again: %llu",
	      (unsigned long long)d3.ctr.records_lost_recovery);
	efd_store_close(d3.store);
}

int main(void)
{
	char dir[] = "/tmp/test_efd_ledger.XXXXXX", cmd[128];
	struct rec_gen_params gp = { .seed = 11, .n_enis = N_ENIS, .all_kinds = true };
	struct rec_gen *g = rec_gen_create(&gp);

	CHECK(g && mkdtemp(dir) != NULL, "setup");
	for (uint32_t i = 0; i < N_ENIS; i++)
		rec_gen_eni_info(i, &enis[i]);
	test_ledger_file(g, dir);
	test_torn_tail(g, dir);
	rec_gen_destroy(g);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "cleanup");
	if (failures) {
		fprintf(stderr, "test_efd_ledger: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_efd_ledger: all checks passed\n");
	return 0;
}
