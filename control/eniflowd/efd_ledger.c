/*
 * efd_ledger.c - what each block of the open segment holds, per ENI, so
 * that the blocks a later crash recovery cuts off (a torn tail) can be
 * counted as loss.
 *
 * Recovery (lib/segment_recover.c) sees only bytes: it keeps the longest
 * prefix of whole frames and can say how many bytes it dropped, never how
 * many records, packets or bytes of which ENI were in them (a torn LZ4
 * frame does not decode). So next to DIR/.NAME.partial the store appends,
 * after each block is written, one entry to DIR/.NAME.ledger: the block's
 * file offset and its per-ENI tally. Entries are written whole with one
 * write() (O_APPEND) and carry a CRC32C, so a torn ledger tail is seen and
 * ignored. No fsync: like the journal, the ledger describes the page cache
 * and has to survive what the page cache survives. The ledger is removed
 * once the segment is sealed, or once what its recovery kept is settled.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "efd_internal.h"
#include "segment_internal.h"

#define LEDGER_MAGIC 0x4c444745u /* "EGDL" */
#define LEDGER_MAX_ITEMS 65536u

struct ledger_head {
	uint32_t magic;
	uint32_t n_items;
	uint64_t frame_offset;
	uint32_t crc;                /**< CRC32C of head (crc = 0) and items */
	uint32_t reserved;
};

bool efd_rec_loss_weight(const struct rec_flow *r, uint64_t *records)
{
	/* a destination's loss is not the segment's: its flows are in it */
	if (r->eni >= EFL_MAX_ENIS || r->kind == REC_KIND_NODATA ||
	    (r->kind == REC_KIND_LOSS && r->end_reason == REC_END_LOSS_EXPORTER))
		return false;
	/* a loss record stands for the records it reports */
	*records = r->kind == REC_KIND_LOSS && (r->end_reason == REC_END_LOSS_WRITER ||
						r->end_reason == REC_END_LOSS_RECOVERY) ?
		r->lost_records : 1;
	return true;
}

void efd_ledger_path(const char *dir, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/.%s.ledger", dir, name);
}

static int by_eni(const void *a, const void *b)
{
	const struct efd_ledger_item *x = a, *y = b;
	return (x->eni > y->eni) - (x->eni < y->eni);
}

/** One item per record that counts, sorted by ENI and merged. Returns items. */
static uint32_t tally_block(const struct rec_flow *r, uint32_t n, struct efd_ledger_item *it)
{
	uint32_t k = 0, m = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t recs;
		if (!efd_rec_loss_weight(&r[i], &recs))
			continue;
		it[k] = (struct efd_ledger_item){ .eni = r[i].eni, .records = recs,
			.packets = r[i].packets, .bytes = r[i].bytes,
			.first_ns = r[i].first_ns, .last_ns = r[i].last_ns };
		k++;
	}
	qsort(it, k, sizeof(*it), by_eni);
	for (uint32_t i = 0; i < k; i++) {
		if (m && it[m - 1].eni == it[i].eni) {
			efd_ledger_item_add(&it[m - 1], &it[i]);
			continue;
		}
		it[m++] = it[i];
	}
	return m;
}

int efd_ledger_append(const char *dir, const char *name, uint64_t frame_offset,
		      const struct rec_flow *r, uint32_t n)
{
	char path[EFD_PATH_MAX + EFD_SEG_NAME_MAX + 16];
	size_t cap = sizeof(struct ledger_head) + (size_t)n * sizeof(struct efd_ledger_item);
	uint8_t *buf = malloc(cap);
	int rc = 0;

	if (buf == NULL)
		return -ENOMEM;
	struct ledger_head *h = (struct ledger_head *)buf;
	struct efd_ledger_item *it = (struct efd_ledger_item *)(h + 1);
	*h = (struct ledger_head){ .magic = LEDGER_MAGIC, .frame_offset = frame_offset };
	h->n_items = tally_block(r, n, it);
	size_t len = sizeof(*h) + h->n_items * sizeof(*it);
	h->crc = seg_crc32c(buf, len);
	efd_ledger_path(dir, name, path, sizeof(path));
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		rc = -(errno ? errno : EIO);
	if (fd >= 0)
		close(fd);
	free(buf);
	if (rc)
		efd_log("warn", "ledger_write_failed", "path=%s err=\"%s\"", path, strerror(-rc));
	return rc;
}

void efd_ledger_item_add(struct efd_ledger_item *to, const struct efd_ledger_item *x)
{
	if (to->records == 0 || x->first_ns < to->first_ns)
		to->first_ns = x->first_ns;
	if (x->last_ns > to->last_ns)
		to->last_ns = x->last_ns;
	to->records += x->records;
	to->packets += x->packets;
	to->bytes += x->bytes;
}

static bool kept(uint64_t offset, const uint64_t *kept_offsets, size_t n_kept)
{
	for (size_t i = 0; i < n_kept; i++)
		if (kept_offsets[i] == offset)
			return true;
	return false;
}

/** Read the whole ledger file; NULL (errno) if it cannot be read. */
static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && (buf = malloc((size_t)st.st_size + 1)) != NULL) {
		ssize_t got = pread(fd, buf, (size_t)st.st_size, 0);
		*len = got > 0 ? (size_t)got : 0;
	}
	close(fd);
	return buf;
}

int efd_ledger_lost(const char *dir, const char *name, const uint64_t *kept_offsets,
		    size_t n_kept, struct efd_ledger_loss *out)
{
	char path[EFD_PATH_MAX + EFD_SEG_NAME_MAX + 16];
	size_t len = 0, off = 0;

	memset(out, 0, sizeof(*out));
	efd_ledger_path(dir, name, path, sizeof(path));
	uint8_t *buf = slurp(path, &len);
	if (buf == NULL)
		return -errno;
	while (off + sizeof(struct ledger_head) <= len) {
		struct ledger_head h;
		memcpy(&h, buf + off, sizeof(h));
		size_t elen = sizeof(h) + (size_t)h.n_items * sizeof(struct efd_ledger_item);
		if (h.magic != LEDGER_MAGIC || h.n_items > LEDGER_MAX_ITEMS || off + elen > len)
			break;
		uint32_t crc = h.crc;
		((struct ledger_head *)(buf + off))->crc = 0;
		if (seg_crc32c(buf + off, elen) != crc)
			break;
		out->blocks++;
		if (!kept(h.frame_offset, kept_offsets, n_kept)) {
			out->blocks_lost++;
			for (uint32_t i = 0; i < h.n_items; i++) {
				struct efd_ledger_item it;
				memcpy(&it, buf + off + sizeof(h) + i * sizeof(it), sizeof(it));
				if (it.eni >= EFL_MAX_ENIS)
					continue;
				efd_ledger_item_add(&out->eni[it.eni], &it);
				efd_ledger_item_add(&out->total, &it);
			}
		}
		off += elen;
	}
	if (off != len) /* a torn last entry: its block may be torn too; it is not counted */
		efd_log("warn", "ledger_torn", "path=%s at=%zu size=%zu", path, off, len);
	free(buf);
	return 0;
}

void efd_ledger_remove(const char *dir, const char *name)
{
	char path[EFD_PATH_MAX + EFD_SEG_NAME_MAX + 16];

	efd_ledger_path(dir, name, path, sizeof(path));
	if (unlink(path) != 0 && errno != ENOENT)
		efd_log("warn", "ledger_remove_failed", "path=%s err=\"%s\"", path, strerror(errno));
}
