/*
 * efd_store.c - segment files on disk: the open segment (create, append
 * whole blocks, rotate by size and age, seal), crash recovery on start,
 * retention by age and bytes, and the catalog of sealed segments that the
 * API lists, serves and deletes.
 *
 * Layout DATA_DIR/YYYY/MM/DD/HH/<instance>-<seq>.fls (UTC hour of creation).
 * The catalog is the only way from a segment name to a path, so an API
 * request never chooses a file path. A write or seal failure keeps the
 * blocks already written: the partial file is cut back to the end of the
 * last whole block and recovered (sealed) at once, or, if that fails too
 * (no space for the index), at the next attempt. Accounting what was lost
 * is the caller's (efd_drain.c), once the recovery outcome is known. What a
 * recovery at start cuts off (a torn tail, after the process that wrote it
 * is gone) is counted from the segment's ledger (efd_ledger.c) and written
 * as REC_END_LOSS_RECOVERY records in a new segment with the recovered
 * one's ENI dictionary.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "efd_internal.h"

struct efd_store {
	struct efd *d;
	pthread_mutex_t lock;       /* guards the catalog */
	struct efd_segment *segs;
	size_t n, cap;
	uint64_t next_seq;
	/* open segment: main thread only */
	struct seg_writer *w;
	char w_dir[EFD_PATH_MAX];
	char w_name[EFD_SEG_NAME_MAX];
	uint64_t w_created_ns;
	uint64_t last_retention_ns;
	/* a failed segment's partial file, cut to its whole blocks, not yet sealed */
	char pend_dir[EFD_PATH_MAX];
	char pend_name[EFD_SEG_NAME_MAX];
	bool pending;
	/* torn-tail losses found while opening, written once next_seq is known */
	struct recovery_loss *losses;
};

/** Blocks a start-up recovery cut off, to be written as loss records. */
struct recovery_loss {
	struct recovery_loss *next;
	char dir[EFD_PATH_MAX];
	char name[EFD_SEG_NAME_MAX];
	struct seg_header_info dict;   /**< the recovered segment's (enis copied) */
	struct efd_ledger_loss loss;
};

static void write_recovery_losses(struct efd_store *s);

bool efd_seg_name_valid(const char *name)
{
	const char *dash = strrchr(name, '-');
	size_t n = strlen(name);

	if (dash == NULL || dash == name || dash - name > EFL_INSTANCE_MAX || n >= EFD_SEG_NAME_MAX)
		return false;
	for (const char *p = name; p < dash; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_')
			return false;
	if (strlen(dash + 1) != 10 + strlen(SEG_SUFFIX) || strcmp(dash + 11, SEG_SUFFIX) != 0)
		return false;
	for (int i = 1; i <= 10; i++)
		if (!isdigit((unsigned char)dash[i]))
			return false;
	return true;
}

static void seg_free(struct efd_segment *s)
{
	free(s->eni_ids);
	s->eni_ids = NULL;
}

/** Read a sealed segment's index into a catalog entry. 0 or -errno (logged). */
static int seg_describe(const char *dir, const char *name, struct efd_segment *out)
{
	struct seg_err err;
	struct stat st;

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", name);
	snprintf(out->path, sizeof(out->path), "%s/%s", dir, name);
	struct seg_reader *r = seg_reader_open(out->path, &err);
	if (r == NULL) {
		efd_log("warn", "segment_unreadable", "path=%s err=\"%s\"", out->path, err.msg);
		return -EINVAL;
	}
	if (stat(out->path, &st) == 0)
		out->size = (uint64_t)st.st_size;
	const struct seg_header_info *h = seg_reader_header(r);
	bool *present = calloc(h->n_enis + 1, sizeof(bool));
	out->created_ns = h->created_ns;
	out->records = seg_reader_n_records(r);
	out->min_ns = UINT64_MAX;
	for (uint32_t b = 0; b < seg_reader_n_blocks(r); b++) {
		const struct seg_block_info *bi = seg_reader_block(r, b);
		if (bi->n_records && bi->min_ns < out->min_ns)
			out->min_ns = bi->min_ns;
		if (bi->max_ns > out->max_ns)
			out->max_ns = bi->max_ns;
		for (uint32_t k = 0; k < bi->n_enis; k++)
			for (uint32_t j = 0; j < h->n_enis; j++)
				if (h->enis[j].index == bi->enis[k])
					present[j] = true;
	}
	if (out->min_ns == UINT64_MAX)
		out->min_ns = 0;
	out->eni_ids = calloc(h->n_enis + 1, SEG_ID_LEN);
	for (uint32_t j = 0; j < h->n_enis; j++)
		if (present[j])
			memcpy(out->eni_ids[out->n_enis++], h->enis[j].eni_id, SEG_ID_LEN);
	free(present);
	seg_reader_close(r);
	return 0;
}

static void catalog_add(struct efd_store *s, struct efd_segment *seg)
{
	pthread_mutex_lock(&s->lock);
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->segs = realloc(s->segs, s->cap * sizeof(*s->segs));
	}
	s->segs[s->n++] = *seg;
	pthread_mutex_unlock(&s->lock);
}

static void note_seq(struct efd_store *s, const char *name)
{
	size_t il = strlen(s->d->cfg.instance);
	if (strncmp(name, s->d->cfg.instance, il) == 0 && name[il] == '-') {
		uint64_t seq = strtoull(name + il + 1, NULL, 10);
		if (seq >= s->next_seq)
			s->next_seq = seq + 1;
	}
}

static void on_recovered(const struct seg_recovery_report *r, void *arg)
{
	struct efd_store *s = arg;
	efd_log("info", "segment_recovered", "path=%s blocks=%llu records=%llu dropped_bytes=%llu "
		"header_lost=%d", r->path, (unsigned long long)r->blocks_kept,
		(unsigned long long)r->records_kept, (unsigned long long)r->bytes_dropped,
		r->header_lost);
	pthread_mutex_lock(&s->d->lock);
	s->d->ctr.recovered_files++;
	pthread_mutex_unlock(&s->d->lock);
}

/** Block offsets of the sealed segment DIR/NAME and a copy of its header. */
static uint64_t *kept_blocks(const char *dir, const char *name, size_t *n,
			     struct seg_header_info *dict)
{
	char path[EFD_PATH_MAX + EFD_SEG_NAME_MAX];
	struct seg_err err;
	uint64_t *off = NULL;

	*n = 0;
	memset(dict, 0, sizeof(*dict));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct seg_reader *r = seg_reader_open(path, &err);
	if (r == NULL)
		return NULL; /* nothing kept: header lost, moved aside, or unreadable */
	const struct seg_header_info *h = seg_reader_header(r);
	*dict = *h;
	dict->enis = calloc(h->n_enis + 1, sizeof(*h->enis));
	off = calloc(seg_reader_n_blocks(r) + 1, sizeof(*off));
	if (dict->enis == NULL || off == NULL) {
		free(off);
		off = NULL;
	} else {
		memcpy(dict->enis, h->enis, h->n_enis * sizeof(*h->enis));
		for (uint32_t b = 0; b < seg_reader_n_blocks(r); b++)
			off[(*n)++] = seg_reader_block(r, b)->offset;
	}
	if (off == NULL) {
		free(dict->enis);
		dict->enis = NULL;
	}
	seg_reader_close(r);
	return off;
}

/**
 * The segment NAME was recovered (or removed, or moved aside): count what
 * its ledger lists beyond the blocks it kept as loss, and queue the loss
 * records. A ledger whose partial file is still there waits for the next try.
 */
static void settle_ledger(struct efd_store *s, const char *dir, const char *name)
{
	char partial[EFD_PATH_MAX + EFD_SEG_NAME_MAX + 16];
	struct recovery_loss *rl = calloc(1, sizeof(*rl));
	size_t n_kept;

	snprintf(partial, sizeof(partial), "%s/.%s.partial", dir, name);
	if (rl == NULL || access(partial, F_OK) == 0) {
		free(rl);
		return;
	}
	uint64_t *kept = kept_blocks(dir, name, &n_kept, &rl->dict), in_flight[1];
	char jseg[EFD_PATH_MAX], path[EFD_PATH_MAX + EFD_SEG_NAME_MAX];
	size_t n_known = n_kept;
	/* the journal's in-flight block goes back to the rings (efd_drain_reconcile),
	 * if they still hold it: counting it lost here would count it twice */
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (efd_drain_block_in_flight(&s->d->cfg, jseg, sizeof(jseg), &in_flight[0]) &&
	    strcmp(jseg, path) == 0) {
		if (kept)
			kept[n_known++] = in_flight[0]; /* kept_blocks left room for one */
		else
			n_known = 1;
	}
	int rc = efd_ledger_lost(dir, name, kept ? kept : in_flight, n_known, &rl->loss);
	free(kept);
	if (rc == 0 && rl->loss.total.records > 0) {
		const struct efd_ledger_item *t = &rl->loss.total;
		efd_log("error", "recovery_loss", "segment=%s/%s blocks_dropped=%llu blocks_kept=%zu "
			"records=%llu packets=%llu bytes=%llu", dir, name,
			(unsigned long long)rl->loss.blocks_lost, n_kept,
			(unsigned long long)t->records, (unsigned long long)t->packets,
			(unsigned long long)t->bytes);
		pthread_mutex_lock(&s->d->lock);
		s->d->ctr.records_lost_recovery += t->records;
		s->d->ctr.packets_lost_recovery += t->packets;
		s->d->ctr.bytes_lost_recovery += t->bytes;
		pthread_mutex_unlock(&s->d->lock);
		snprintf(rl->dir, sizeof(rl->dir), "%s", dir);
		snprintf(rl->name, sizeof(rl->name), "%s", name);
		rl->next = s->losses;
		s->losses = rl;
		return; /* the ledger goes once the loss records are sealed */
	}
	if (rc == 0)
		efd_ledger_remove(dir, name);
	free(rl->dict.enis);
	free(rl);
}

static void settle_ledgers(struct efd_store *s, const char *dir)
{
	static const char suffix[] = ".ledger";
	struct dirent *de;
	DIR *dh = opendir(dir);

	if (dh == NULL)
		return;
	while ((de = readdir(dh)) != NULL) {
		char name[EFD_SEG_NAME_MAX];
		size_t n = strlen(de->d_name);
		if (de->d_name[0] != '.' || n <= sizeof(suffix) ||
		    strcmp(de->d_name + n - (sizeof(suffix) - 1), suffix) != 0 ||
		    n - sizeof(suffix) >= sizeof(name))
			continue;
		memcpy(name, de->d_name + 1, n - sizeof(suffix));
		name[n - sizeof(suffix)] = '\0';
		if (efd_seg_name_valid(name))
			settle_ledger(s, dir, name);
	}
	closedir(dh);
}

/** One hour directory: recover partials, then catalog the sealed files. */
static void scan_hour(struct efd_store *s, const char *dir)
{
	struct seg_err err;
	struct dirent *de;

	if (seg_recover_dir(dir, on_recovered, s, &err) < 0)
		efd_log("error", "recovery_failed", "dir=%s err=\"%s\"", dir, err.msg);
	settle_ledgers(s, dir);
	DIR *dh = opendir(dir);
	if (dh == NULL)
		return;
	while ((de = readdir(dh)) != NULL) {
		struct efd_segment seg;
		if (!efd_seg_name_valid(de->d_name))
			continue;
		note_seq(s, de->d_name);
		if (seg_describe(dir, de->d_name, &seg) == 0)
			catalog_add(s, &seg);
	}
	closedir(dh);
}

/** Walk DATA_DIR/YYYY/MM/DD/HH (numeric names of the right width only). */
static void scan_level(struct efd_store *s, const char *dir, int level)
{
	static const size_t width[] = { 4, 2, 2, 2 };
	struct dirent *de;
	DIR *dh = opendir(dir);

	if (dh == NULL)
		return;
	while ((de = readdir(dh)) != NULL) {
		char sub[EFD_PATH_MAX];
		size_t n = strlen(de->d_name);
		if (n != width[level] || strspn(de->d_name, "0123456789") != n)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		if (level == 3)
			scan_hour(s, sub);
		else
			scan_level(s, sub, level + 1);
	}
	closedir(dh);
}

struct efd_store *efd_store_open(struct efd *d)
{
	struct efd_store *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->d = d;
	pthread_mutex_init(&s->lock, NULL);
	if (mkdir(d->cfg.data_dir, 0750) != 0 && errno != EEXIST) {
		int e = errno;
		efd_log("error", "data_dir", "path=%s err=\"%s\"", d->cfg.data_dir, strerror(e));
		free(s);
		errno = e;
		return NULL;
	}
	scan_level(s, d->cfg.data_dir, 0);
	write_recovery_losses(s);
	efd_log("info", "store_open", "data_dir=%s segments=%zu next_seq=%llu", d->cfg.data_dir,
		s->n, (unsigned long long)s->next_seq);
	return s;
}

static int mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int rc = mkdir(path, 0750);
		*p = '/';
		if (rc != 0 && errno != EEXIST)
			return -errno;
	}
	return mkdir(path, 0750) != 0 && errno != EEXIST ? -errno : 0;
}

static int open_segment(struct efd_store *s, const struct seg_header_info *dict)
{
	struct efd_config *c = &s->d->cfg;
	uint64_t now = efd_now_ns();
	time_t t = (time_t)(now / 1000000000ULL);
	struct tm tm;
	struct seg_err err;
	int rc;

	gmtime_r(&t, &tm);
	snprintf(s->w_dir, sizeof(s->w_dir), "%s/%04d/%02d/%02d/%02d", c->data_dir,
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
	rc = mkdirs(s->w_dir);
	if (rc)
		return rc;
	snprintf(s->w_name, sizeof(s->w_name), "%s-%010llu%s", c->instance,
		 (unsigned long long)s->next_seq, SEG_SUFFIX);
	struct seg_header_info h = *dict;
	h.created_ns = now;
	struct seg_writer_opts o = { .block_records = c->block_records, .no_fsync = c->no_fsync };
	s->w = seg_writer_create(s->w_dir, s->w_name, &h, &o, &err);
	if (s->w == NULL) {
		rc = -errno;
		efd_log("error", "segment_create_failed", "err=\"%s\"", err.msg);
		return rc ? rc : -EIO;
	}
	s->next_seq++;
	s->w_created_ns = now;
	return 0;
}

int efd_store_position(struct efd_store *s, const struct seg_header_info *dict, char *path,
			size_t len, uint64_t *offset)
{
	int rc;

	if (s->w == NULL && (rc = open_segment(s, dict)) != 0)
		return rc;
	snprintf(path, len, "%s/%s", s->w_dir, s->w_name);
	*offset = seg_writer_bytes(s->w);
	return 0;
}

/*
 * The open segment failed: free the writer but keep its partial file, cut
 * back to good_bytes (the end of the last block that was written whole), so
 * that a torn or half-written frame of the failed block can never be
 * recovered while its records stay in the rings. Truncating never needs space.
 */
static void mark_pending(struct efd_store *s, uint64_t good_bytes)
{
	char partial[EFD_PATH_MAX + EFD_SEG_NAME_MAX + 16];

	snprintf(partial, sizeof(partial), "%s/.%s.partial", s->w_dir, s->w_name);
	if (truncate(partial, (off_t)good_bytes) != 0 && errno != ENOENT)
		efd_log("error", "partial_truncate_failed", "path=%s err=\"%s\"", partial,
			strerror(errno));
	snprintf(s->pend_dir, sizeof(s->pend_dir), "%s", s->w_dir);
	snprintf(s->pend_name, sizeof(s->pend_name), "%s", s->w_name);
	s->pending = true;
}

static void fail_segment(struct efd_store *s, uint64_t good_bytes)
{
	struct seg_err err;

	/* on a failed writer, seal only frees it and leaves the partial file */
	seg_writer_seal(s->w, &err);
	s->w = NULL;
	mark_pending(s, good_bytes);
}

bool efd_store_pending(const struct efd_store *s)
{
	return s->pending;
}

int efd_store_recover_pending(struct efd_store *s, char *path, size_t len)
{
	struct seg_recovery_report rep;
	struct seg_err err;
	struct efd_segment seg;
	char partial[EFD_PATH_MAX + EFD_SEG_NAME_MAX + 16];

	if (!s->pending)
		return -ENOENT;
	snprintf(partial, sizeof(partial), "%s/.%s.partial", s->pend_dir, s->pend_name);
	int rc = seg_recover_file(partial, &rep, &err);
	if (rc && access(partial, F_OK) != 0 && errno == ENOENT) {
		/* a failed fsync moved it aside (".NAME.failed"): nothing is kept */
		efd_log("error", "segment_not_kept", "segment=%s err=\"%s\"", s->pend_name, err.msg);
		efd_ledger_remove(s->pend_dir, s->pend_name);
		s->pending = false;
		path[0] = '\0';
		return 0;
	}
	if (rc) {
		efd_log("error", "segment_keep_failed", "segment=%s err=\"%s\"", s->pend_name,
			err.msg);
		return rc;
	}
	s->pending = false;
	/* the caller (efd_drain.c) counts what was not kept, from its own tally */
	efd_ledger_remove(s->pend_dir, s->pend_name);
	snprintf(path, len, "%s/%s", s->pend_dir, s->pend_name);
	efd_log("info", "segment_kept", "segment=%s blocks=%llu records=%llu header_lost=%d",
		s->pend_name, (unsigned long long)rep.blocks_kept,
		(unsigned long long)rep.records_kept, rep.header_lost);
	if (rep.header_lost) {
		path[0] = '\0'; /* nothing was kept: the file is gone */
		return 0;
	}
	if (rep.records_kept == 0) {
		unlink(path); /* the first block failed: a segment of no records helps nobody */
		path[0] = '\0';
		return 0;
	}
	if (seg_describe(s->pend_dir, s->pend_name, &seg) == 0)
		catalog_add(s, &seg);
	return 0;
}

int efd_store_write(struct efd_store *s, const struct rec_flow *recs, size_t n,
		    const struct seg_header_info *dict)
{
	struct seg_err err;
	int rc;

	if (s->pending)
		return -EAGAIN; /* the failed segment must be settled first */
	if (s->w == NULL && (rc = open_segment(s, dict)) != 0)
		return rc;
	uint64_t good = seg_writer_bytes(s->w);
	rc = seg_writer_append(s->w, recs, n, &err);
	if (rc == 0)
		rc = seg_writer_flush(s->w, &err);
	if (rc) {
		efd_log("error", "segment_write_failed", "segment=%s err=\"%s\"", s->w_name, err.msg);
		fail_segment(s, good);
		return rc;
	}
	/* a failed ledger write is logged; only a torn tail's count depends on it */
	efd_ledger_append(s->w_dir, s->w_name, good, recs, (uint32_t)n);
	return 0;
}

/** 0 when the open segment is sealed or there is none; -errno when sealing
 * failed (the segment is then pending: efd_store_recover_pending). */
static int seal(struct efd_store *s)
{
	struct seg_err err;
	struct efd_segment seg;

	if (s->w == NULL)
		return 0;
	bool empty = seg_writer_records(s->w) == 0;
	if (empty) {
		seg_writer_abort(s->w);
		s->w = NULL;
		efd_ledger_remove(s->w_dir, s->w_name);
		return 0;
	}
	/* every block is flushed (efd_store_write flushes), so this is where
	 * the index begins: a failed seal is cut back to here */
	uint64_t good = seg_writer_bytes(s->w);
	int rc = seg_writer_seal(s->w, &err);
	s->w = NULL;
	if (rc) {
		efd_log("error", "segment_seal_failed", "segment=%s err=\"%s\"", s->w_name, err.msg);
		mark_pending(s, good); /* a moved-aside file is found gone when settled */
		return rc;
	}
	efd_ledger_remove(s->w_dir, s->w_name);
	if (seg_describe(s->w_dir, s->w_name, &seg) == 0)
		catalog_add(s, &seg);
	return 0;
}

/** One segment of REC_END_LOSS_RECOVERY records, one per ENI, in rl's dictionary. */
static int write_recovery_loss(struct efd_store *s, const struct recovery_loss *rl)
{
	uint32_t n = 0;
	struct rec_flow *recs = calloc(rl->dict.n_enis + 1, sizeof(*recs));

	if (recs == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < rl->dict.n_enis; i++) {
		uint32_t idx = rl->dict.enis[i].index; /* the value records carry in eni */
		if (idx >= EFL_MAX_ENIS || rl->loss.eni[idx].records == 0)
			continue;
		const struct efd_ledger_item *it = &rl->loss.eni[idx];
		rec_loss_init(&recs[n++], idx, REC_END_LOSS_RECOVERY, 1, it->records, it->packets,
			      it->bytes, it->first_ns, it->last_ns);
	}
	int rc = n ? efd_store_write(s, recs, n, &rl->dict) : 0;
	if (rc == 0)
		rc = seal(s);
	free(recs);
	return rc;
}

/**
 * Write what start-up recovery lost as loss records, so that a reader of
 * the files alone sees it. The torn segment's ledger is removed only once
 * they are sealed: if this fails, the next start counts it again.
 */
static void write_recovery_losses(struct efd_store *s)
{
	while (s->losses) {
		struct recovery_loss *rl = s->losses;
		s->losses = rl->next;
		int rc = rl->dict.enis ? write_recovery_loss(s, rl) : 0;
		if (rc == 0 && rl->dict.enis) {
			efd_log("info", "recovery_loss_written", "segment=%s records=%llu in=%s",
				rl->name, (unsigned long long)rl->loss.total.records, s->w_name);
			efd_ledger_remove(rl->dir, rl->name);
		} else if (rc == 0) {
			/* nothing of the file is left, not even its ENI dictionary:
			 * the counters and the log line are all there can be */
			efd_ledger_remove(rl->dir, rl->name);
		} else {
			efd_log("error", "recovery_loss_not_written", "segment=%s err=\"%s\"",
				rl->name, strerror(-rc));
		}
		free(rl->dict.enis);
		free(rl);
	}
}

int efd_store_seal(struct efd_store *s)
{
	return seal(s);
}

bool efd_store_rotate_due(const struct efd_store *s, uint64_t now)
{
	return s->w && (seg_writer_bytes(s->w) >= s->d->cfg.rotate_bytes ||
			now - s->w_created_ns >= (uint64_t)s->d->cfg.rotate_age_s * 1000000000ULL);
}

static void remove_at(struct efd_store *s, size_t i, const char *why)
{
	if (unlink(s->segs[i].path) == 0 || errno == ENOENT)
		efd_log("info", "segment_deleted", "name=%s why=%s", s->segs[i].name, why);
	seg_free(&s->segs[i]);
	s->segs[i] = s->segs[--s->n];
	pthread_mutex_lock(&s->d->lock);
	s->d->ctr.segments_deleted++;
	pthread_mutex_unlock(&s->d->lock);
}

static void retention(struct efd_store *s, uint64_t now)
{
	const struct efd_config *c = &s->d->cfg;
	uint64_t total = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n;) {
		if (c->retain_age_s && s->segs[i].created_ns + c->retain_age_s * 1000000000ULL < now)
			remove_at(s, i, "age");
		else
			total += s->segs[i++].size;
	}
	while (c->retain_bytes && total > c->retain_bytes && s->n > 0) {
		size_t oldest = 0;
		for (size_t i = 1; i < s->n; i++)
			if (s->segs[i].created_ns < s->segs[oldest].created_ns)
				oldest = i;
		total -= s->segs[oldest].size;
		remove_at(s, oldest, "bytes");
	}
	pthread_mutex_unlock(&s->lock);
}

void efd_store_tick(struct efd_store *s, uint64_t now)
{
	if (now - s->last_retention_ns >= 1000000000ULL) {
		s->last_retention_ns = now;
		retention(s, now);
	}
}

json_t *efd_store_list(struct efd_store *s, uint64_t since, uint64_t until)
{
	json_t *arr = json_array();

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++) {
		const struct efd_segment *g = &s->segs[i];
		if ((since && g->max_ns < since) || (until && g->min_ns > until))
			continue;
		json_t *enis = json_array();
		for (uint32_t k = 0; k < g->n_enis; k++)
			json_array_append_new(enis, json_string(g->eni_ids[k]));
		json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:o}",
			"name", g->name, "size", (json_int_t)g->size, "records", (json_int_t)g->records,
			"min_ns", (json_int_t)g->min_ns, "max_ns", (json_int_t)g->max_ns,
			"created_ns", (json_int_t)g->created_ns, "enis", enis));
	}
	pthread_mutex_unlock(&s->lock);
	return arr;
}

char **efd_store_paths(struct efd_store *s, uint64_t since, uint64_t until, size_t *n)
{
	char **v;

	*n = 0;
	pthread_mutex_lock(&s->lock);
	v = calloc(s->n + 1, sizeof(*v));
	for (size_t i = 0; v && i < s->n; i++) {
		const struct efd_segment *g = &s->segs[i];
		if ((since && g->max_ns < since) || (until && g->min_ns >= until))
			continue;
		if ((v[*n] = strdup(g->path)) == NULL) {
			efd_store_paths_free(v, *n);
			v = NULL;
			break;
		}
		(*n)++;
	}
	pthread_mutex_unlock(&s->lock);
	if (v == NULL)
		errno = ENOMEM;
	return v;
}

void efd_store_paths_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

int efd_store_lookup(struct efd_store *s, const char *name, char *path, size_t len,
		     uint64_t *size)
{
	int rc = -ENOENT;

	if (!efd_seg_name_valid(name))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->segs[i].name, name) == 0) {
			snprintf(path, len, "%s", s->segs[i].path);
			*size = s->segs[i].size;
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int efd_store_delete(struct efd_store *s, const char *name)
{
	int rc = -ENOENT;

	if (!efd_seg_name_valid(name))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->segs[i].name, name) == 0) {
			remove_at(s, i, "api");
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void efd_store_close(struct efd_store *s)
{
	if (s == NULL)
		return;
	seal(s);
	for (size_t i = 0; i < s->n; i++)
		seg_free(&s->segs[i]);
	free(s->segs);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
