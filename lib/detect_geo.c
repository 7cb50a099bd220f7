/*
 * detect_geo.c - "where users come from": remote peers grouped by country
 * from an MMDB database read with libmaxminddb.
 *
 * Design: records are first aggregated by remote peer (cheap, in the
 * engine); each distinct peer is looked up once at finish and the peers are
 * folded into countries. Without libmaxminddb at build time, or without a
 * database file, the detection returns an empty table whose note says why,
 * and every other detection works as usual.
 */
#include "detect.h"
#include "detect_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_MAXMINDDB
#include <maxminddb.h>
#endif

int geo_init(struct qry_det *d)
{
	double top;

	if (det_num(d, "top", &top))
		return -EINVAL;
	d->top = (uint64_t)top;
	d->agg[0] = det_agg(d, "peer", "flows,packets,bytes", -1, 0, 0);
	if (!d->agg[0])
		return -errno;
#ifdef HAVE_MAXMINDDB
	const char *path = det_str(d, "mmdb");
	if (*path) {
		MMDB_s *db = calloc(1, sizeof(*db));
		if (!db)
			return -ENOMEM;
		int rc = MMDB_open(path, MMDB_MODE_MMAP, db);
		if (rc != MMDB_SUCCESS) {
			free(db);
			return det_fail(d, "geo: %s: %s", path, MMDB_strerror(rc));
		}
		d->geo = db;
	}
#endif
	return 0;
}

void det_geo_close(struct qry_det *d)
{
#ifdef HAVE_MAXMINDDB
	if (d->geo) {
		MMDB_close(d->geo);
		free(d->geo);
		d->geo = NULL;
	}
#else
	(void)d;
#endif
}

int geo_add(struct qry_det *d, const struct rec_flow *r)
{
	if (!d->geo || r->kind != REC_KIND_FLOW || !r->ip_version)
		return 0;
	return qry_agg_add(d->agg[0], r);
}

#ifdef HAVE_MAXMINDDB
/* ISO country code of addr ("??" when the database has none). */
static void country_of(MMDB_s *db, const char *addr, char out[8])
{
	int gai = 0, err = 0;
	MMDB_lookup_result_s res = MMDB_lookup_string(db, addr, &gai, &err);
	MMDB_entry_data_s v;

	snprintf(out, 8, "??");
	if (gai || err != MMDB_SUCCESS || !res.found_entry)
		return;
	/* MaxMind layout, then the flat layout of the ip-location-db files. */
	if ((MMDB_get_value(&res.entry, &v, "country", "iso_code", NULL) == MMDB_SUCCESS &&
	     v.has_data && v.type == MMDB_DATA_TYPE_UTF8_STRING) ||
	    (MMDB_get_value(&res.entry, &v, "country_code", NULL) == MMDB_SUCCESS && v.has_data &&
	     v.type == MMDB_DATA_TYPE_UTF8_STRING))
		snprintf(out, 8, "%.*s", (int)(v.data_size < 7 ? v.data_size : 7), v.utf8_string);
}

struct country {
	char cc[8];
	uint64_t peers, flows, packets, bytes;
};

static int cmp_country(const void *x, const void *y)
{
	const struct country *a = x, *b = y;

	if (a->bytes != b->bytes)
		return a->bytes > b->bytes ? -1 : 1;
	return strcmp(a->cc, b->cc);
}

static int fold(struct qry_det *d, const struct qry_table *peers, struct qry_table *out)
{
	struct country *c = NULL;
	size_t n = 0;
	int rc = 0;

	for (uint32_t r = 0; r < peers->n_rows; r++) {
		char cc[8];
		size_t i;
		country_of(d->geo, tcell(peers, r, "peer")->s, cc);
		for (i = 0; i < n && strcmp(c[i].cc, cc); i++)
			;
		if (i == n) {
			struct country *nc = realloc(c, (n + 1) * sizeof(*c));
			if (!nc) {
				free(c);
				return -ENOMEM;
			}
			c = nc;
			memset(&c[n], 0, sizeof(c[n]));
			memcpy(c[n].cc, cc, sizeof(cc));
			n++;
		}
		c[i].peers++;
		c[i].flows += tcell(peers, r, "flows")->u;
		c[i].packets += tcell(peers, r, "packets")->u;
		c[i].bytes += tcell(peers, r, "bytes")->u;
	}
	if (n)
		qsort(c, n, sizeof(*c), cmp_country);
	for (size_t i = 0; i < n && !rc; i++) {
		struct qry_cell *row = qry_table_add_row(out);
		if (!row) {
			rc = -ENOMEM;
			break;
		}
		row[1].u = c[i].peers;
		row[2].u = c[i].flows;
		row[3].u = c[i].packets;
		row[4].u = c[i].bytes;
		rc = qry_cell_set_str(&row[0], c[i].cc);
	}
	free(c);
	return rc;
}
#endif

struct qry_table *geo_finish(struct qry_det *d)
{
	static const char *const names[] = {"country", "peers", "flows", "packets", "bytes"};
	static const enum qry_col_type types[] = {QRY_COL_STR, QRY_COL_U64, QRY_COL_U64, QRY_COL_U64,
						  QRY_COL_U64};
	struct qry_table *out = qry_table_create(5, names, types);

	if (!out)
		return NULL;
#ifdef HAVE_MAXMINDDB
	if (!d->geo) {
		qry_table_set_note(out, "geo: no MMDB database given (set mmdb=FILE); nothing to group");
		return out;
	}
	struct qry_table *peers = qry_agg_finish(d->agg[0]);
	int rc = peers ? fold(d, peers, out) : -ENOMEM;
	qry_table_destroy(peers);
	if (rc) {
		qry_table_destroy(out);
		errno = -rc;
		return NULL;
	}
	ttrunc(out, d->top);
#else
	qry_table_set_note(out, "geo: eniflow was built without libmaxminddb; nothing to group");
#endif
	return out;
}
