/*
 * efd_drain.c - from the export rings to segment blocks, with nothing lost
 * in silence.
 *
 * Records leave a ring only after they are in the file as a whole LZ4
 * frame: each pass peeks (rte_ring_dequeue_burst_elem_start) up to one
 * block from the rings, writes the block, and only then finishes the
 * dequeue. A kill -9 at any point leaves every unwritten record in the
 * ring for the next eniflowd (page cache survives the kill; recovery keeps
 * whole frames). If a write fails the records stay in the ring; the open
 * segment is sealed with the blocks it holds whole, and only what that
 * could not keep is reported as REC_END_LOSS_WRITER records, per ENI, in
 * the next segment that can be written. The drain also
 * adds NODATA records and feeds the live tail, and is the single writer of
 * the dataplane's config table.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_ring_peek.h>
#include "efd_internal.h"
#include "rec_format.h"

/** Per-ENI state kept by the drain. */
struct eni_state {
	struct efl_eni_cfg cfg;        /**< effective config last published */
	uint64_t win_start_ns;         /**< current no-data window */
	uint64_t win_accounted;        /**< dataplane packets_accounted when it began */
	/* what the open segment holds for this ENI, for loss accounting */
	uint64_t seg_records, seg_packets, seg_bytes, seg_first, seg_last;
	/* what a failed segment held, until its recovery says what it kept */
	uint64_t pend_records, pend_packets, pend_bytes, pend_first, pend_last;
	/* writer loss not yet written as a LOSS record */
	uint64_t lost_records, lost_packets, lost_bytes, lost_first, lost_last;
};

#define EFD_JOURNAL_MAGIC 0x45464a524e4c3031ULL /* "EFJRNL01" */

/** DATA_DIR/.drain-<instance>.journal: the block in flight (no fsync: it only
 * has to survive a process kill, like the page cache it describes). */
struct efd_journal {
	uint64_t magic;
	uint64_t primary_start_ns;   /**< which primary's rings */
	uint64_t primary_pid;
	uint32_t valid;              /**< 1 from before the write until the finish */
	uint32_t n_rings;
	uint64_t frame_offset;       /**< where the block frame starts in the segment */
	uint32_t peeked[EFL_MAX_LCORES];
	uint32_t tail_before[EFL_MAX_LCORES];
	char segment[EFD_PATH_MAX];  /**< path the segment has once sealed */
};

struct efd_drain {
	struct efd *d;
	struct rec_flow *buf;          /**< block being built */
	uint32_t cap;                  /**< records per block */
	uint32_t peeked[EFL_MAX_LCORES];
	uint64_t last_flush_ns;
	uint64_t last_nodata_ns;
	uint64_t retry_after_ns;       /**< back-off after a write failure */
	uint64_t published_dirty;
	uint32_t n_enis;
	struct eni_state eni[EFL_MAX_ENIS];
	struct seg_header_info dict;
	struct seg_eni_info dict_enis[EFL_MAX_ENIS];
	int jfd;                       /**< journal file */
	struct efd_journal j;
	unsigned long test_exit_after; /**< EFD_TEST_EXIT_AFTER_WRITE: crash-test hook */
};

struct efd_drain *efd_drain_create(struct efd *d)
{
	struct efd_drain *dr = calloc(1, sizeof(*dr));
	if (dr == NULL)
		return NULL;
	dr->d = d;
	dr->cap = d->cfg.block_records;
	/* room for the peeked block plus the loss/no-data records added to it
	 * (writer loss, no data, destination loss: at most one each per ENI) */
	dr->buf = calloc((size_t)dr->cap + 3 * EFL_MAX_ENIS, sizeof(struct rec_flow));
	d->dests = efd_dests_create(d);
	if (dr->buf == NULL || d->dests == NULL) {
		efd_dests_destroy(d->dests);
		d->dests = NULL;
		free(dr->buf);
		free(dr);
		return NULL;
	}
	dr->published_dirty = UINT64_MAX;
	char jpath[EFD_PATH_MAX + 64];
	snprintf(jpath, sizeof(jpath), "%s/.drain-%s.journal", d->cfg.data_dir, d->cfg.instance);
	dr->jfd = open(jpath, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	const char *t = getenv("EFD_TEST_EXIT_AFTER_WRITE");
	dr->test_exit_after = t ? strtoul(t, NULL, 10) : 0;
	dr->dict.format_version = SEG_FORMAT_VERSION;
	dr->dict.enis = dr->dict_enis;
	snprintf(dr->dict.host_id, sizeof(dr->dict.host_id), "%s", d->cfg.instance);
	return dr;
}

void efd_drain_destroy(struct efd_drain *dr)
{
	if (dr == NULL)
		return;
	if (dr->jfd >= 0)
		close(dr->jfd);
	efd_dests_destroy(dr->d->dests);
	dr->d->dests = NULL;
	free(dr->buf);
	free(dr);
}

static void seal_now(struct efd_drain *dr);

/** Copy the switch's ENI table (if it changed) into d->enis and the dictionary. */
static bool refresh_enis(struct efd_drain *dr)
{
	struct efd *d = dr->d;
	uint32_t n = d->shm.hdr->n_enis;

	if (n > EFL_MAX_ENIS)
		n = EFL_MAX_ENIS;
	if (n == dr->n_enis && d->enis_known)
		return false;
	pthread_mutex_lock(&d->lock);
	memcpy(d->enis.eni, d->shm.enis, n * sizeof(struct efl_shm_eni));
	d->enis.n = n;
	d->enis_known = true;
	pthread_mutex_unlock(&d->lock);
	for (uint32_t i = 0; i < n; i++) {
		struct seg_eni_info *e = &dr->dict_enis[i];
		const struct efl_shm_eni *s = &d->enis.eni[i];
		e->index = i;
		snprintf(e->eni_id, SEG_ID_LEN, "%s", s->eni_id);
		snprintf(e->vpc_id, SEG_ID_LEN, "%s", s->vpc_id);
		snprintf(e->subnet_id, SEG_ID_LEN, "%s", s->subnet_id);
		snprintf(e->account_id, SEG_ID_LEN, "%s", s->account_id);
	}
	dr->dict.n_enis = n;
	dr->n_enis = n;
	efd_log("info", "eni_table", "n_enis=%u", n);
	return true;
}

void efd_drain_idle(struct efd_drain *dr, unsigned us)
{
	struct efd *d = dr->d;
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += (long)us * 1000;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&d->lock);
	if (d->cfg_dirty == dr->published_dirty)
		pthread_cond_timedwait(&d->fls_commit.changed, &d->lock, &until);
	pthread_mutex_unlock(&d->lock);
}

/** The dataplane's packets_accounted for ENI i, summed over workers. */
static uint64_t accounted(const struct efd *d, uint32_t i)
{
	uint64_t n = 0;
	for (uint32_t w = 0; w < d->shm.hdr->n_workers; w++)
		n += efl_stats_eni(d->shm.stats, w, i)->packets_accounted;
	return n;
}

void efd_publish_config(struct efd *d)
{
	struct efd_drain *dr = d->drain;
	bool changed = refresh_enis(dr);

	/* A segment's dictionary is fixed at creation: new ENIs need a new one. */
	if (changed)
		seal_now(dr);

	pthread_mutex_lock(&d->lock);
	if (!changed && d->cfg_dirty == dr->published_dirty) {
		pthread_mutex_unlock(&d->lock);
		return;
	}
	dr->published_dirty = d->cfg_dirty;
	uint64_t now = efd_now_ns();
	for (uint32_t i = 0; i < dr->n_enis; i++) {
		struct efl_eni_cfg want, cur;
		efd_fls_effective(&d->fls, &d->enis.eni[i], &want);
		if (!efl_cfg_read(d->shm.cfg, i, &cur) || memcmp(&cur, &want, sizeof(want)) != 0)
			efl_cfg_write(d->shm.cfg, i, &want);
		if (want.enabled && !dr->eni[i].cfg.enabled) {
			dr->eni[i].win_start_ns = now;
			dr->eni[i].win_accounted = accounted(d, i);
		}
		dr->eni[i].cfg = want;
	}
	efd_dests_sync(d->dests, dr->dict_enis, dr->n_enis);
	pthread_mutex_unlock(&d->lock);
}

static void init_meta_rec(struct rec_flow *r, uint32_t eni, uint8_t kind)
{
	memset(r, 0, sizeof(*r));
	r->version = REC_VERSION;
	r->kind = kind;
	r->eni = eni;
	r->sample_1_in_n = 1;
}

/** Append pending writer-loss records and due no-data records after the n records. */
static uint32_t add_meta(struct efd_drain *dr, uint32_t n, uint64_t now, uint64_t *nodata)
{
	bool nodata_pass = now - dr->last_nodata_ns >= 100000000ULL;
	if (nodata_pass)
		dr->last_nodata_ns = now;
	for (uint32_t i = 0; i < dr->n_enis; i++) {
		struct eni_state *e = &dr->eni[i];
		if (e->lost_records) {
			struct rec_flow *r = &dr->buf[n++];
			init_meta_rec(r, i, REC_KIND_LOSS);
			r->end_reason = REC_END_LOSS_WRITER;
			r->lost_records = (uint32_t)e->lost_records;
			r->packets = e->lost_packets;
			r->bytes = e->lost_bytes;
			r->first_ns = e->lost_first;
			r->last_ns = e->lost_last;
		}
		uint64_t win = (uint64_t)e->cfg.agg_interval_s * 1000000000ULL;
		if (!nodata_pass || !e->cfg.enabled || now < e->win_start_ns + win)
			continue;
		/* No data = the dataplane accounted nothing for this ENI in the
		 * window (its counter, not the records, which arrive later). */
		uint64_t acc = accounted(dr->d, i);
		if (acc == e->win_accounted) {
			struct rec_flow *r = &dr->buf[n++];
			init_meta_rec(r, i, REC_KIND_NODATA);
			r->sample_1_in_n = e->cfg.sample_1_in_n;
			r->first_ns = e->win_start_ns;
			r->last_ns = e->win_start_ns + win;
			(*nodata)++;
		}
		e->win_start_ns += win * ((now - e->win_start_ns) / win);
		e->win_accounted = acc;
	}
	return n + efd_dests_add_loss(dr->d->dests, dr->buf + n, EFL_MAX_ENIS);
}

/** Tally per ENI (seg_* of st[]) what records r hold, as loss would count them. */
static void tally_into(struct eni_state *st, const struct rec_flow *r, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t lr; /* the same rule as the ledger's (efd_ledger.c) */
		if (!efd_rec_loss_weight(&r[i], &lr))
			continue;
		struct eni_state *e = &st[r[i].eni];
		if (e->seg_records == 0 || r[i].first_ns < e->seg_first)
			e->seg_first = r[i].first_ns;
		if (r[i].last_ns > e->seg_last)
			e->seg_last = r[i].last_ns;
		e->seg_records += lr;
		e->seg_packets += r[i].packets;
		e->seg_bytes += r[i].bytes;
	}
}

/** Tally what the open segment holds per ENI (to report what a failure loses). */
static void tally(struct efd_drain *dr, const struct rec_flow *r, uint32_t n)
{
	tally_into(dr->eni, r, n);
}

static void writer_failed(struct efd_drain *dr, const char *what, int rc)
{
	pthread_mutex_lock(&dr->d->lock);
	dr->d->writer_error = true;
	snprintf(dr->d->last_error, sizeof(dr->d->last_error), "%s: %s", what, strerror(-rc));
	pthread_mutex_unlock(&dr->d->lock);
	dr->retry_after_ns = efd_now_ns() + 1000000000ULL;
}

/** Per ENI, what the sealed file at path holds (seg_* of a new array). NULL if unreadable. */
static struct eni_state *tally_file(const char *path)
{
	struct seg_err err;
	const struct rec_flow *recs;
	struct eni_state *st = calloc(EFL_MAX_ENIS, sizeof(*st));
	struct seg_reader *r = st && path[0] ? seg_reader_open(path, &err) : NULL;

	for (uint32_t b = 0; r && b < seg_reader_n_blocks(r); b++) {
		long n = seg_reader_read_block(r, b, &recs, &err);
		if (n < 0) {
			efd_log("error", "segment_kept_unreadable", "err=\"%s\"", err.msg);
			free(st);
			st = NULL;
			break;
		}
		tally_into(st, recs, (uint32_t)n);
	}
	seg_reader_close(r);
	return st;
}

/*
 * Settle a failed segment: seal it with its whole blocks, then count as
 * writer loss only what the sealed file does not hold (pend - kept, per
 * ENI). Loss is counted here and only here, once the outcome is known, so
 * blocks kept are never reported lost. 0 when nothing is pending any more.
 */
static int settle_failed(struct efd_drain *dr)
{
	struct efd *d = dr->d;
	char path[EFD_PATH_MAX + EFD_SEG_NAME_MAX];
	uint64_t recs = 0, pk = 0, by = 0;

	if (!efd_store_pending(d->store))
		return 0;
	int rc = efd_store_recover_pending(d->store, path, sizeof(path));
	if (rc) {
		writer_failed(dr, "failed segment not yet sealed", rc);
		return rc;
	}
	struct eni_state *kept = tally_file(path);
	for (uint32_t i = 0; i < EFL_MAX_ENIS; i++) {
		struct eni_state *e = &dr->eni[i];
		uint64_t kr = kept ? kept[i].seg_records : 0, kp = kept ? kept[i].seg_packets : 0,
			 kb = kept ? kept[i].seg_bytes : 0;
		if (e->pend_records > kr) {
			if (e->lost_records == 0 || e->pend_first < e->lost_first)
				e->lost_first = e->pend_first;
			if (e->pend_last > e->lost_last)
				e->lost_last = e->pend_last;
			e->lost_records += e->pend_records - kr;
			e->lost_packets += e->pend_packets - kp;
			e->lost_bytes += e->pend_bytes - kb;
			recs += e->pend_records - kr, pk += e->pend_packets - kp;
			by += e->pend_bytes - kb;
		}
		e->pend_records = e->pend_packets = e->pend_bytes = 0;
		e->pend_first = e->pend_last = 0;
	}
	free(kept);
	pthread_mutex_lock(&d->lock);
	d->ctr.records_lost_writer += recs;
	d->ctr.packets_lost_writer += pk;
	d->ctr.bytes_lost_writer += by;
	if (path[0])
		d->ctr.segments_sealed++;
	pthread_mutex_unlock(&d->lock);
	efd_log(recs ? "error" : "info", "writer_loss", "records=%llu packets=%llu bytes=%llu "
		"kept_in=\"%s\"", (unsigned long long)recs, (unsigned long long)pk,
		(unsigned long long)by, path);
	return 0;
}

/** The open segment failed (write or seal): what it holds waits for settle_failed. */
static void segment_failed(struct efd_drain *dr, int rc)
{
	for (uint32_t i = 0; i < EFL_MAX_ENIS; i++) {
		struct eni_state *e = &dr->eni[i];
		if (e->seg_records == 0)
			continue;
		if (e->pend_records == 0 || e->seg_first < e->pend_first)
			e->pend_first = e->seg_first;
		if (e->seg_last > e->pend_last)
			e->pend_last = e->seg_last;
		e->pend_records += e->seg_records;
		e->pend_packets += e->seg_packets;
		e->pend_bytes += e->seg_bytes;
		e->seg_records = e->seg_packets = e->seg_bytes = 0;
		e->seg_first = e->seg_last = 0;
	}
	pthread_mutex_lock(&dr->d->lock);
	dr->d->ctr.write_errors++;
	pthread_mutex_unlock(&dr->d->lock);
	writer_failed(dr, "segment write failed", rc);
	settle_failed(dr);
}

static void segment_sealed(struct efd_drain *dr)
{
	for (uint32_t i = 0; i < EFL_MAX_ENIS; i++) {
		struct eni_state *e = &dr->eni[i];
		e->seg_records = e->seg_packets = e->seg_bytes = e->seg_first = e->seg_last = 0;
	}
	pthread_mutex_lock(&dr->d->lock);
	dr->d->ctr.segments_sealed++;
	pthread_mutex_unlock(&dr->d->lock);
}

static void seal_now(struct efd_drain *dr)
{
	int rc = efd_store_seal(dr->d->store);
	if (rc)
		segment_failed(dr, rc);
	else
		segment_sealed(dr);
}

/** Written: loss records now in a block are no longer pending. */
static void loss_written(struct efd_drain *dr, const struct rec_flow *r, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (r[i].kind == REC_KIND_LOSS && r[i].end_reason == REC_END_LOSS_WRITER &&
		    r[i].eni < EFL_MAX_ENIS) {
			struct eni_state *e = &dr->eni[r[i].eni];
			e->lost_records = e->lost_packets = e->lost_bytes = 0;
			e->lost_first = e->lost_last = 0;
		}
}

static uint32_t peek_rings(struct efd_drain *dr)
{
	struct efd_shm *shm = &dr->d->shm;
	uint32_t total = 0;

	for (uint32_t i = 0; i < shm->n_rings; i++) {
		dr->peeked[i] = rte_ring_dequeue_burst_elem_start(shm->rings[i], dr->buf + total,
								  sizeof(struct rec_flow),
								  dr->cap - total, NULL);
		total += dr->peeked[i];
	}
	return total;
}

static void finish_rings(struct efd_drain *dr, bool consumed)
{
	struct efd_shm *shm = &dr->d->shm;
	for (uint32_t i = 0; i < shm->n_rings; i++)
		rte_ring_dequeue_elem_finish(shm->rings[i], consumed ? dr->peeked[i] : 0);
}

static uint32_t ring_backlog(struct efd_drain *dr)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < dr->d->shm.n_rings; i++)
		n += rte_ring_count(dr->d->shm.rings[i]);
	return n;
}

static void journal_put(struct efd_drain *dr)
{
	if (dr->jfd >= 0 && pwrite(dr->jfd, &dr->j, sizeof(dr->j), 0) != (ssize_t)sizeof(dr->j))
		efd_log("warn", "journal_write_failed", "err=\"%s\"", strerror(errno));
}

/** Note the block about to be written: where it goes, what it takes from the rings. */
static int journal_begin(struct efd_drain *dr)
{
	struct efd_shm *shm = &dr->d->shm;
	int rc = efd_store_position(dr->d->store, &dr->dict, dr->j.segment, sizeof(dr->j.segment),
				    &dr->j.frame_offset);
	if (rc)
		return rc;
	dr->j.magic = EFD_JOURNAL_MAGIC;
	dr->j.primary_start_ns = shm->hdr->start_ns;
	dr->j.primary_pid = shm->hdr->pid;
	dr->j.n_rings = shm->n_rings;
	for (uint32_t i = 0; i < shm->n_rings; i++) {
		dr->j.peeked[i] = dr->peeked[i];
		dr->j.tail_before[i] = __atomic_load_n(&shm->rings[i]->cons.tail, __ATOMIC_ACQUIRE);
	}
	dr->j.valid = 1;
	journal_put(dr);
	return 0;
}

static void journal_end(struct efd_drain *dr)
{
	dr->j.valid = 0;
	journal_put(dr);
}

bool efd_drain_block_in_flight(const struct efd_config *c, char *segment, size_t len,
			       uint64_t *offset)
{
	char jpath[EFD_PATH_MAX + 64];
	struct efd_journal j;

	snprintf(jpath, sizeof(jpath), "%s/.drain-%s.journal", c->data_dir, c->instance);
	int fd = open(jpath, O_RDONLY | O_CLOEXEC);
	bool valid = fd >= 0 && pread(fd, &j, sizeof(j), 0) == (ssize_t)sizeof(j) &&
		     j.magic == EFD_JOURNAL_MAGIC && j.valid;
	if (fd >= 0)
		close(fd);
	if (valid) {
		j.segment[sizeof(j.segment) - 1] = '\0';
		snprintf(segment, len, "%s", j.segment);
		*offset = j.frame_offset;
	}
	return valid;
}

/** True if the segment at path holds a block frame starting at offset. */
static bool frame_in_segment(const char *path, uint64_t offset)
{
	struct seg_err err;
	struct seg_reader *r = seg_reader_open(path, &err);
	bool found = false;

	for (uint32_t b = 0; r && b < seg_reader_n_blocks(r) && !found; b++)
		found = seg_reader_block(r, b)->offset == offset;
	seg_reader_close(r);
	return found;
}

void efd_drain_reconcile(struct efd_drain *dr)
{
	struct efd_shm *shm = &dr->d->shm;
	struct efd_journal *j = &dr->j;

	if (dr->jfd < 0 || pread(dr->jfd, j, sizeof(*j), 0) != (ssize_t)sizeof(*j) ||
	    j->magic != EFD_JOURNAL_MAGIC || !j->valid)
		return;
	if (j->primary_start_ns != shm->hdr->start_ns || j->primary_pid != shm->hdr->pid ||
	    j->n_rings != shm->n_rings)
		return; /* another primary: its rings are new */
	for (uint32_t i = 0; i < j->n_rings; i++)
		if (shm->rings[i]->cons.tail != j->tail_before[i])
			return; /* the finish happened */
	if (!frame_in_segment(j->segment, j->frame_offset)) {
		efd_log("info", "journal_block_not_written", "segment=%s offset=%llu", j->segment,
			(unsigned long long)j->frame_offset);
		return;
	}
	unsigned total = 0;
	for (uint32_t i = 0; i < j->n_rings; i++) {
		for (uint32_t left = j->peeked[i]; left > 0;) {
			unsigned k = left < dr->cap ? left : dr->cap;
			k = rte_ring_dequeue_bulk_elem(shm->rings[i], dr->buf, sizeof(struct rec_flow),
						       k, NULL);
			if (k == 0)
				break;
			left -= k;
			total += k;
		}
	}
	efd_log("warn", "journal_block_already_written", "segment=%s offset=%llu records=%u",
		j->segment, (unsigned long long)j->frame_offset, total);
	journal_end(dr);
}

/** Write one block; on success the peeked records leave the rings. */
static unsigned write_block(struct efd_drain *dr, uint64_t now)
{
	struct efd *d = dr->d;
	uint64_t nodata = 0;
	if (settle_failed(dr))
		return 0; /* a failed segment first: its outcome decides the loss records */
	uint32_t peeked = peek_rings(dr);
	/* Every record is kept: the dataplane applied the traffic-type filter
	 * when it counted the packets, under the config of that moment, so a
	 * filter here (with the config of the drain's moment) would drop counted
	 * packets without a trace whenever the config changed in between. */
	uint32_t kept = peeked;
	uint32_t n = add_meta(dr, kept, now, &nodata);

	if (n == 0) {
		finish_rings(dr, peeked > 0);
		return peeked;
	}
	int rc = peeked ? journal_begin(dr) : 0;
	if (rc == 0)
		rc = efd_store_write(d->store, dr->buf, n, &dr->dict);
	if (rc) {
		finish_rings(dr, false); /* they stay in the ring for the next try */
		segment_failed(dr, rc);
		return 0;
	}
	if (dr->test_exit_after && --dr->test_exit_after == 0)
		_exit(9); /* crash test: the block is in the file, the rings not finished */
	finish_rings(dr, true);
	if (peeked)
		journal_end(dr);
	tally(dr, dr->buf, n);
	loss_written(dr, dr->buf, n);
	efd_dests_loss_written(d->dests, dr->buf, n);
	efd_tail_publish(d, dr->buf, kept);
	efd_dests_deliver(d->dests, dr->buf, kept);
	pthread_mutex_lock(&d->lock);
	d->ctr.records_drained += peeked;
	d->ctr.records_written += n;
	d->ctr.nodata_records += nodata;
	d->ctr.blocks_written++;
	d->writer_error = false;
	pthread_mutex_unlock(&d->lock);
	return peeked;
}

static bool meta_due(const struct efd_drain *dr, uint64_t now)
{
	if (now - dr->last_nodata_ns < 100000000ULL)
		return false;
	if (efd_dests_loss_pending(dr->d->dests))
		return true;
	for (uint32_t i = 0; i < dr->n_enis; i++) {
		const struct eni_state *e = &dr->eni[i];
		if (e->lost_records || (e->cfg.enabled &&
		    now >= e->win_start_ns + (uint64_t)e->cfg.agg_interval_s * 1000000000ULL))
			return true;
	}
	return false;
}

unsigned efd_drain_poll(struct efd_drain *dr, uint64_t now, bool force)
{
	unsigned total = 0;

	efd_dests_poll(dr->d->dests, now);
	if (now < dr->retry_after_ns && !force)
		return 0;
	if (efd_store_rotate_due(dr->d->store, now))
		seal_now(dr);
	for (int round = 0; round < 64; round++) {
		uint32_t backlog = ring_backlog(dr);
		bool timed = now - dr->last_flush_ns >= (uint64_t)dr->d->cfg.flush_ms * 1000000ULL;
		if (backlog < dr->cap && !force && !timed)
			break;
		if (backlog == 0 && !meta_due(dr, now))
			break;
		unsigned n = write_block(dr, now);
		dr->last_flush_ns = now;
		total += n;
		if (n == 0 || dr->d->writer_error)
			break;
	}
	if (total == 0 && meta_due(dr, now))
		write_block(dr, now);
	return total;
}

void efd_drain_seal(struct efd_drain *dr)
{
	/* what the destinations still hold goes out, or is counted and written
	 * as their loss, before the segment is sealed */
	efd_dests_flush(dr->d->dests, 1000);
	if (efd_dests_loss_pending(dr->d->dests) && dr->d->shm.hdr)
		write_block(dr, efd_now_ns());
	seal_now(dr);
	settle_failed(dr); /* one more try; else recovery at the next start keeps it */
	efd_dests_close_all(dr->d->dests);
	dr->published_dirty = UINT64_MAX; /* a re-attach reopens them */
}
