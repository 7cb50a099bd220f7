/*
 * seg_writer_driver.c - writes a known record stream through seg_writer the
 * way eniflowd does, says what it acknowledged and lost, and checks a
 * directory against what it said.
 *
 *   seg_writer_driver write --dir D [--records N] [--per-segment M]
 *                     [--block-records B] [--chunk C] [--flush-every K] [--seed S]
 *   seg_writer_driver check --dir D --log L
 *
 * write: records come from rec_gen (seed S), so record i of the stream is
 * known to anyone. Segments of M records rotate; every K appends of C
 * records are followed by a flush. Each outcome is one line on stdout,
 * written with one write(2) so a SIGKILL never leaves half a line:
 *   START seed=S per_segment=M block=B
 *   OPEN NAME first=I                 (before the file is created)
 *   ACK NAME first=I records=N        (after seal: fsync, rename, fsync dir)
 *   FAIL NAME first=I appended=A kept=K lost=L dropped_bytes=D why=...
 *   END written=W acked=A lost=L
 * A failed segment is handled as RELIABILITY.md says for the daemon: never
 * retry; recover what the partial file holds (seg_recover_file, or nothing
 * if the library moved it aside after a failed fsync), count appended minus
 * kept as lost, go on with a new file. N = 0 writes until killed.
 *
 * check: recovery must already have run. Every sealed file must verify and
 * hold exactly stream[first, first+n) for its OPEN line; an ACKed file must
 * hold all it was acknowledged with, a FAILed one exactly what was kept;
 * no partial file may remain; and after END, written = records in sealed
 * files + lost, exactly. Exit 0 only if all of that holds.
 */
#include "recgen.h"
#include "segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_ENIS 4
#define MAX_SEGS 100000

struct opts {
	const char *dir;
	const char *log;
	uint64_t records;
	uint64_t per_segment;
	uint32_t block;
	uint32_t chunk;
	uint32_t flush_every;
	uint64_t seed;
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	for (int off = 0; off < n;) {
		ssize_t w = write(1, line + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			exit(3);
		off += (int)w;
	}
}

static struct rec_gen *make_gen(uint64_t seed)
{
	struct rec_gen_params p = {.seed = seed, .n_enis = N_ENIS, .n_flows = 512,
				   .start_ns = 1700000000000000000ull, .v6_percent = 20,
				   .all_kinds = true};
	struct rec_gen *g = rec_gen_create(&p);

	if (!g) {
		fprintf(stderr, "rec_gen_create: %s\n", strerror(errno));
		exit(2);
	}
	return g;
}

static uint64_t sealed_records(const char *path)
{
	struct seg_err err;
	struct seg_reader *r = seg_reader_open(path, &err);
	uint64_t n;

	if (!r)
		return 0;
	n = seg_reader_n_records(r);
	seg_reader_close(r);
	return n;
}

/*
 * The segment failed: find out what survives of it. Recovery runs on the
 * partial file if there is one; if recovery itself fails the file is moved
 * aside so no later recovery can resurrect records already counted lost.
 */
static uint64_t settle_failed(const struct opts *o, const char *name, uint64_t *dropped)
{
	char partial[4096], final[4096], aside[4096];
	struct seg_recovery_report rep;
	struct seg_err err;

	snprintf(partial, sizeof(partial), "%s/.%s.partial", o->dir, name);
	snprintf(final, sizeof(final), "%s/%s", o->dir, name);
	if (access(partial, F_OK) == 0) {
		if (seg_recover_file(partial, &rep, &err) == 0) {
			*dropped = rep.bytes_dropped;
			return rep.records_kept;
		}
		fprintf(stderr, "driver: recovery of a failed segment failed: %s\n", err.msg);
		snprintf(aside, sizeof(aside), "%s/.%s.failed", o->dir, name);
		if (access(partial, F_OK) == 0 && rename(partial, aside) < 0) {
			fprintf(stderr, "driver: cannot move %s aside: %s\n", partial, strerror(errno));
			exit(2);
		}
		return 0;
	}
	return access(final, F_OK) == 0 ? sealed_records(final) : 0;
}

static void fill_header(struct seg_header_info *h, struct seg_eni_info *enis)
{
	memset(h, 0, sizeof(*h));
	h->format_version = SEG_FORMAT_VERSION;
	snprintf(h->host_id, sizeof(h->host_id), "fault-driver");
	h->created_ns = 1700000000000000000ull;
	h->n_enis = N_ENIS;
	for (uint32_t i = 0; i < N_ENIS; i++)
		rec_gen_eni_info(i, &enis[i]);
	h->enis = enis;
}

/* One segment: returns records lost (0 if sealed). *written grows. */
static uint64_t write_segment(const struct opts *o, struct rec_gen *g, struct rec_flow *buf,
			      const char *name, uint64_t *seq, uint64_t *acked)
{
	struct seg_eni_info enis[N_ENIS];
	struct seg_header_info h;
	struct seg_writer_opts wo = {.block_records = o->block};
	struct seg_err err = {0};
	uint64_t first = *seq, appended = 0, kept, dropped = 0;
	uint32_t k = 0;
	int rc = 0;

	fill_header(&h, enis);
	say("OPEN %s first=%" PRIu64, name, first);
	struct seg_writer *w = seg_writer_create(o->dir, name, &h, &wo, &err);
	if (!w) {
		say("FAIL %s first=%" PRIu64 " appended=0 kept=0 lost=0 dropped_bytes=0 why=%s", name,
		    first, err.msg);
		return 0;
	}
	while (appended < o->per_segment && (o->records == 0 || *seq < o->records)) {
		uint64_t n = o->chunk;
		if (n > o->per_segment - appended)
			n = o->per_segment - appended;
		if (o->records && n > o->records - *seq)
			n = o->records - *seq;
		rec_gen_next(g, buf, n);
		rc = seg_writer_append(w, buf, n, &err);
		*seq += n;
		appended += n;
		if (!rc && ++k % o->flush_every == 0)
			rc = seg_writer_flush(w, &err);
		if (rc)
			break;
	}
	/* seal also closes a failed writer, leaving its partial for recovery */
	int src = seg_writer_seal(w, rc ? NULL : &err);
	if (!rc && !src) {
		say("ACK %s first=%" PRIu64 " records=%" PRIu64, name, first, appended);
		*acked += appended;
		return 0;
	}
	kept = settle_failed(o, name, &dropped);
	say("FAIL %s first=%" PRIu64 " appended=%" PRIu64 " kept=%" PRIu64 " lost=%" PRIu64
	    " dropped_bytes=%" PRIu64 " why=%s", name, first, appended, kept, appended - kept,
	    dropped, err.msg);
	return appended - kept;
}

static int run_write(const struct opts *o)
{
	struct rec_gen *g = make_gen(o->seed);
	struct rec_flow *buf = malloc((size_t)o->chunk * sizeof(*buf));
	uint64_t seq = 0, acked = 0, lost = 0;
	unsigned failed_creates = 0;

	if (!buf)
		return 2;
	say("START seed=%" PRIu64 " per_segment=%" PRIu64 " block=%u", o->seed, o->per_segment,
	    o->block);
	for (unsigned s = 0; s < MAX_SEGS && (o->records == 0 || seq < o->records); s++) {
		char name[64];
		uint64_t before = seq;
		snprintf(name, sizeof(name), "seg-%06u.fls", s);
		lost += write_segment(o, g, buf, name, &seq, &acked);
		/* a create that keeps failing would loop for ever: give up loudly */
		failed_creates = seq == before ? failed_creates + 1 : 0;
		if (failed_creates > 3) {
			fprintf(stderr, "driver: cannot create segments any more\n");
			return 2;
		}
	}
	say("END written=%" PRIu64 " acked=%" PRIu64 " lost=%" PRIu64, seq, acked, lost);
	free(buf);
	rec_gen_destroy(g);
	return 0;
}

/* ------------------------------------------------------------------ check */

struct seg_entry {
	char name[64];
	uint64_t first;
	int64_t acked;  /* -1 = not acknowledged */
	int64_t kept;   /* -1 = not failed */
	bool seen;
};

struct log_state {
	struct seg_entry *e;
	size_t n;
	uint64_t seed, per_segment, written, lost, acked;
	bool ended;
};

static struct seg_entry *find(struct log_state *L, const char *name)
{
	for (size_t i = L->n; i-- > 0;)
		if (!strcmp(L->e[i].name, name))
			return &L->e[i];
	return NULL;
}

static int parse_log(const char *path, struct log_state *L)
{
	FILE *f = fopen(path, "r");
	char line[2048], name[64];
	uint64_t a, b, c, d, e;

	if (!f) {
		fprintf(stderr, "check: %s: %s\n", path, strerror(errno));
		return -1;
	}
	L->e = calloc(MAX_SEGS, sizeof(*L->e));
	while (L->e && fgets(line, sizeof(line), f)) {
		struct seg_entry *s;
		if (sscanf(line, "START seed=%" SCNu64 " per_segment=%" SCNu64, &a, &b) == 2) {
			L->seed = a;
			L->per_segment = b;
		} else if (sscanf(line, "OPEN %63s first=%" SCNu64, name, &a) == 2 && L->n < MAX_SEGS) {
			s = &L->e[L->n++];
			snprintf(s->name, sizeof(s->name), "%s", name);
			s->first = a;
			s->acked = s->kept = -1;
		} else if (sscanf(line, "ACK %63s first=%" SCNu64 " records=%" SCNu64, name, &a, &b) == 3 &&
			   (s = find(L, name))) {
			s->acked = (int64_t)b;
		} else if (sscanf(line, "FAIL %63s first=%" SCNu64 " appended=%" SCNu64 " kept=%" SCNu64
				  " lost=%" SCNu64, name, &a, &b, &c, &d) == 5 && (s = find(L, name))) {
			s->kept = (int64_t)c;
		} else if (sscanf(line, "END written=%" SCNu64 " acked=%" SCNu64 " lost=%" SCNu64,
				  &a, &b, &e) == 3) {
			L->ended = true;
			L->written = a;
			L->acked = b;
			L->lost = e;
		}
	}
	fclose(f);
	return L->e ? 0 : -1;
}

/* The stream's records [0, n), generated once. */
static struct rec_flow *stream(uint64_t seed, uint64_t n)
{
	struct rec_flow *s = malloc((n ? n : 1) * sizeof(*s));
	struct rec_gen *g = make_gen(seed);

	if (!s)
		exit(2);
	rec_gen_next(g, s, n);
	rec_gen_destroy(g);
	return s;
}

struct cmp { const struct rec_flow *want; uint64_t pos, max, bad; };

static int cmp_cb(const struct rec_flow *recs, size_t n, void *arg)
{
	struct cmp *c = arg;
	for (size_t i = 0; i < n; i++, c->pos++)
		if (c->pos >= c->max || memcmp(&recs[i], &c->want[c->pos], sizeof(recs[i])))
			c->bad++;
	return 0;
}

/* Check one sealed file against the log; returns its record count or -1. */
static int64_t check_file(const char *dir, const char *fname, struct log_state *L,
			  const struct rec_flow *s, uint64_t s_len)
{
	char path[4096];
	struct seg_err err = {0};
	struct seg_entry *e = find(L, fname);
	struct seg_reader *r;

	snprintf(path, sizeof(path), "%s/%s", dir, fname);
	if (!e) {
		printf("BAD %s: no OPEN line for it in the log\n", path);
		return -1;
	}
	e->seen = true;
	if (seg_verify(path, &err)) {
		printf("BAD %s: verify: %s\n", path, err.msg);
		return -1;
	}
	r = seg_reader_open(path, &err);
	if (!r) {
		printf("BAD %s: open: %s\n", path, err.msg);
		return -1;
	}
	struct cmp c = {.want = s + e->first, .max = s_len - e->first};
	if (c.max > L->per_segment)
		c.max = L->per_segment;
	int rc = seg_reader_foreach(r, NULL, cmp_cb, &c, NULL, &err);
	seg_reader_close(r);
	if (rc || c.bad) {
		printf("BAD %s: %" PRIu64 " of %" PRIu64 " records differ from stream[%" PRIu64
		       "...] (rc %d)\n", path, c.bad, c.pos, e->first, rc);
		return -1;
	}
	if ((e->acked >= 0 && c.pos != (uint64_t)e->acked) ||
	    (e->kept >= 0 && c.pos != (uint64_t)e->kept)) {
		printf("BAD %s: holds %" PRIu64 " records, log says acked %" PRId64 " kept %" PRId64 "\n",
		       path, c.pos, e->acked, e->kept);
		return -1;
	}
	return (int64_t)c.pos;
}

static int run_check(const struct opts *o)
{
	struct log_state L = {0};
	uint64_t max_end = 0, in_files = 0, files = 0, aside = 0, acked = 0;
	int bad = 0;
	DIR *d;
	struct dirent *de;

	if (parse_log(o->log, &L))
		return 2;
	for (size_t i = 0; i < L.n; i++)
		if (L.e[i].first + L.per_segment > max_end)
			max_end = L.e[i].first + L.per_segment;
	struct rec_flow *s = stream(L.seed, max_end);
	d = opendir(o->dir);
	if (!d) {
		printf("BAD %s: %s\n", o->dir, strerror(errno));
		return 1;
	}
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (de->d_name[0] == '.') {
			if (n > 8 && !strcmp(de->d_name + n - 8, ".partial")) {
				printf("BAD %s/%s: partial file left after recovery\n", o->dir, de->d_name);
				bad++;
			} else if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
				aside++;
			}
			continue;
		}
		int64_t k = check_file(o->dir, de->d_name, &L, s, max_end);
		if (k < 0) {
			bad++;
			continue;
		}
		files++;
		in_files += (uint64_t)k;
	}
	closedir(d);
	for (size_t i = 0; i < L.n; i++) {
		if (L.e[i].acked > 0 && !L.e[i].seen) {
			printf("BAD %s/%s: acknowledged with %" PRId64 " records but missing\n", o->dir,
			       L.e[i].name, L.e[i].acked);
			bad++;
		}
		if (L.e[i].acked > 0)
			acked += (uint64_t)L.e[i].acked;
	}
	if (L.ended && L.written != in_files + L.lost) {
		printf("BAD conservation: written %" PRIu64 " != in sealed files %" PRIu64
		       " + counted lost %" PRIu64 " (unreported %" PRId64 ")\n", L.written, in_files,
		       L.lost, (int64_t)(L.written - in_files - L.lost));
		bad++;
	}
	printf("CHECK %s files=%" PRIu64 " records=%" PRIu64 " acked=%" PRIu64 " aside=%" PRIu64,
	       bad ? "FAILED" : "ok", files, in_files, acked, aside);
	if (L.ended)
		printf(" written=%" PRIu64 " lost=%" PRIu64 " unreported=%" PRId64, L.written, L.lost,
		       (int64_t)(L.written - in_files - L.lost));
	printf("\n");
	free(s);
	free(L.e);
	return bad ? 1 : 0;
}

static uint64_t num(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);
	if (*end) {
		fprintf(stderr, "driver: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct opts o = {.records = 20000, .per_segment = 5000, .block = 500, .chunk = 200,
			 .flush_every = 4, .seed = 1};

	if (argc < 2 || (strcmp(argv[1], "write") && strcmp(argv[1], "check"))) {
		fprintf(stderr, "usage: %s write|check --dir D [options] (see the source)\n", argv[0]);
		return 2;
	}
	for (int i = 2; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--dir")) o.dir = v;
		else if (!strcmp(k, "--log")) o.log = v;
		else if (!strcmp(k, "--records")) o.records = num(v);
		else if (!strcmp(k, "--per-segment")) o.per_segment = num(v);
		else if (!strcmp(k, "--block-records")) o.block = (uint32_t)num(v);
		else if (!strcmp(k, "--chunk")) o.chunk = (uint32_t)num(v);
		else if (!strcmp(k, "--flush-every")) o.flush_every = (uint32_t)num(v);
		else if (!strcmp(k, "--seed")) o.seed = num(v);
		else {
			fprintf(stderr, "driver: unknown option %s\n", k);
			return 2;
		}
	}
	if (!o.dir || !o.per_segment || !o.chunk || !o.flush_every || !o.block ||
	    (!strcmp(argv[1], "check") && !o.log)) {
		fprintf(stderr, "driver: --dir (and for check --log) needed; sizes must be > 0\n");
		return 2;
	}
	return strcmp(argv[1], "write") ? run_check(&o) : run_write(&o);
}
