/*
 * query_agg.c - grouping, aggregates, ordering, top-N and time series.
 *
 * Design: each matching record is packed into a fixed-layout key (only the
 * chosen fields, at offsets fixed when the spec is checked) and looked up in
 * one open-addressing hash table of groups; no allocation per record except
 * when a table doubles. ENI/VPC/subnet/account keys are interned as global
 * name ids, because ENI indexes are only meaningful inside one segment's
 * dictionary. Distinct counts are exact: one shared hash set of
 * (group, kind, value) triples, bounded by qry_limits.max_distinct.
 */
#include "query.h"
#include "query_agg_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>


const char *const qa_key_names[QRY_KEY_MAX] = {
	"eni", "vpc", "subnet", "account", "src", "dst", "sport", "dport", "proto", "action",
	"direction", "rule", "layer", "l2", "kind", "tcpflags", "ipver", "ethertype", "eni_index",
	"peer", "local", "tag",
};
const uint8_t qa_key_size[QRY_KEY_MAX] = {
	4, 4, 4, 4, 17, 17, 2, 2, 1, 1, 1, 4, 1, 1, 1, 1, 1, 2, 4, 17, 17, 4,
};
const char *const qa_agg_names[QRY_AGG_MAX] = {
	"flows", "packets", "bytes", "bps", "pps", "distinct(src)", "distinct(dst)",
	"distinct(sport)", "distinct(dport)", "distinct(eni)", "first", "last",
	"rejected", "peak_bps", "peak_pps",
};

const char *qry_key_name(enum qry_key k) { return k < QRY_KEY_MAX ? qa_key_names[k] : NULL; }
const char *qry_agg_name(enum qry_agg a) { return a < QRY_AGG_MAX ? qa_agg_names[a] : NULL; }

/* ----------------------------------------------------------------- names */

static int intern(struct qry_agg_state *a, const char *s, uint32_t *id);

static int name_slots_grow(struct qry_agg_state *a)
{
	uint32_t n = a->n_name_slots ? a->n_name_slots * 2 : 64;
	uint32_t *s = calloc(n, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; i < a->n_names; i++) {
		uint32_t h = (uint32_t)qa_hash_bytes(a->names[i], strlen(a->names[i])) & (n - 1);
		while (s[h])
			h = (h + 1) & (n - 1);
		s[h] = i + 1;
	}
	free(a->name_slots);
	a->name_slots = s;
	a->n_name_slots = n;
	return 0;
}

static int intern(struct qry_agg_state *a, const char *s, uint32_t *id)
{
	if ((a->n_names + 1) * 2 > a->n_name_slots && name_slots_grow(a))
		return -ENOMEM;
	uint32_t m = a->n_name_slots - 1, h = (uint32_t)qa_hash_bytes(s, strlen(s)) & m;
	for (; a->name_slots[h]; h = (h + 1) & m)
		if (!strcmp(a->names[a->name_slots[h] - 1], s)) {
			*id = a->name_slots[h] - 1;
			return 0;
		}
	if (a->n_names == a->cap_names) {
		uint32_t nc = a->cap_names ? a->cap_names * 2 : 64;
		char **n = realloc(a->names, nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		a->names = n;
		a->cap_names = nc;
	}
	a->names[a->n_names] = strdup(s);
	if (!a->names[a->n_names])
		return -ENOMEM;
	a->name_slots[h] = a->n_names + 1;
	*id = a->n_names++;
	return 0;
}

static int cmp_map(const void *x, const void *y)
{
	const struct name_map *a = x, *b = y;

	return a->index < b->index ? -1 : a->index > b->index;
}

int qry_agg_begin_file(struct qry_agg_state *a, const struct seg_header_info *hdr)
{
	a->n_map = 0;
	a->last_map = 0;
	if (!a->need_names || !hdr)
		return 0;
	if (hdr->n_enis > a->cap_map) {
		struct name_map *m = realloc(a->map, hdr->n_enis * sizeof(*m));
		if (!m)
			return -ENOMEM;
		a->map = m;
		a->cap_map = hdr->n_enis;
	}
	for (uint32_t i = 0; i < hdr->n_enis; i++) {
		const struct seg_eni_info *e = &hdr->enis[i];
		struct name_map *m = &a->map[i];
		m->index = e->index;
		if (intern(a, e->eni_id, &m->id[0]) || intern(a, e->vpc_id, &m->id[1]) ||
		    intern(a, e->subnet_id, &m->id[2]) || intern(a, e->account_id, &m->id[3]))
			return -ENOMEM;
	}
	a->n_map = hdr->n_enis;
	if (a->n_map)
		qsort(a->map, a->n_map, sizeof(*a->map), cmp_map);
	return 0;
}

/* Name id of column col (0 eni .. 3 account) for ENI index idx. */
static int name_id(struct qry_agg_state *a, uint32_t idx, int col, uint32_t *id)
{
	if (a->last_map < a->n_map && a->map[a->last_map].index == idx) {
		*id = a->map[a->last_map].id[col];
		return 0;
	}
	uint32_t lo = 0, hi = a->n_map;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (a->map[mid].index < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < a->n_map && a->map[lo].index == idx) {
		a->last_map = lo;
		*id = a->map[lo].id[col];
		return 0;
	}
	/* Not in the dictionary: name it by index so it still groups. */
	char buf[32];
	snprintf(buf, sizeof(buf), "#%u", idx);
	return intern(a, buf, id);
}

/* ------------------------------------------------------------------ spec */

int qry_spec_find_agg(const struct qry_agg_spec *spec, const char *name)
{
	for (unsigned i = 0; i < spec->n_aggs; i++)
		if (!strcmp(qa_agg_names[spec->aggs[i]], name))
			return (int)i;
	return -1;
}

static void list_err(struct qry_err *err, const char *list, size_t off, const char *what,
		     size_t len, const char *tok)
{
	if (!err)
		return;
	err->column = (int)off + 1;
	snprintf(err->msg, sizeof(err->msg), "column %d: %s '%.*s'\n  %s\n  %*s^", err->column, what,
		 (int)len, tok, list, (int)off, "");
}

/* Trims the list item p[0..len) of spaces (*tok, *tl) and finds it among names[0..n);
 * returns its index or -1. Shared by the group-by and aggregate lists. */
static int lookup_item(const char *p, size_t len, const char *const *names, int n,
		       const char **tok, size_t *tl)
{
	size_t lead = strspn(p, " ");

	*tok = p + lead;
	*tl = len - lead;
	while (*tl && (*tok)[*tl - 1] == ' ')
		(*tl)--;
	for (int k = 0; k < n; k++)
		if (strlen(names[k]) == *tl && !strncmp(names[k], *tok, *tl))
			return k;
	return -1;
}

int qry_parse_keys(const char *list, struct qry_agg_spec *spec, struct qry_err *err)
{
	const char *p = list;

	spec->n_keys = 0;
	while (*p) {
		size_t len = strcspn(p, ",");
		const char *tok;
		size_t tl;
		int found = lookup_item(p, len, qa_key_names, QRY_KEY_MAX, &tok, &tl);
		if (found < 0 || spec->n_keys == QRY_MAX_KEYS) {
			list_err(err, list, (size_t)(tok - list),
				 found < 0 ? "unknown group-by key" : "too many group-by keys", tl, tok);
			return -EINVAL;
		}
		spec->keys[spec->n_keys++] = (enum qry_key)found;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

int qry_parse_aggs(const char *list, struct qry_agg_spec *spec, struct qry_err *err)
{
	const char *p = list;

	spec->n_aggs = 0;
	while (*p) {
		/* split on commas outside parentheses */
		size_t len = 0;
		int depth = 0;
		while (p[len] && (p[len] != ',' || depth)) {
			depth += p[len] == '(' ? 1 : p[len] == ')' ? -1 : 0;
			len++;
		}
		const char *tok;
		size_t tl;
		int found = lookup_item(p, len, qa_agg_names, QRY_AGG_MAX, &tok, &tl);
		if (found < 0 || spec->n_aggs == QRY_MAX_AGGS) {
			list_err(err, list, (size_t)(tok - list),
				 found < 0 ? "unknown aggregate" : "too many aggregates", tl, tok);
			return -EINVAL;
		}
		spec->aggs[spec->n_aggs++] = (enum qry_agg)found;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* -------------------------------------------------------------- lifetime */

void qry_agg_destroy(struct qry_agg_state *a)
{
	if (!a)
		return;
	for (uint32_t i = 0; i < a->n_names; i++)
		free(a->names[i]);
	free(a->names);
	free(a->name_slots);
	free(a->map);
	free(a->groups);
	free(a->keys);
	free(a->slots);
	free(a->dset);
	free(a->peak);
	free(a);
}

struct qry_agg_state *qry_agg_create(const struct qry_agg_spec *spec,
				     const struct qry_limits *limits)
{
	struct qry_agg_state *a;
	uint32_t off = 0;

	if (spec->n_keys > QRY_MAX_KEYS || spec->n_aggs > QRY_MAX_AGGS ||
	    (spec->order_by >= 0 && (unsigned)spec->order_by >= spec->n_aggs)) {
		errno = EINVAL;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->spec = *spec;
	if (limits)
		a->limits = *limits;
	if (spec->bucket_ns)
		off = 8; /* time bucket first */
	for (unsigned i = 0; i < spec->n_keys; i++) {
		if (spec->keys[i] >= QRY_KEY_MAX) {
			free(a);
			errno = EINVAL;
			return NULL;
		}
		a->key_off[i] = off;
		off += qa_key_size[spec->keys[i]];
		if (spec->keys[i] <= QRY_KEY_ACCOUNT)
			a->need_names = true;
	}
	for (unsigned i = 0; i < spec->n_aggs; i++) {
		if (spec->aggs[i] >= QRY_AGG_MAX) {
			free(a);
			errno = EINVAL;
			return NULL;
		}
		if (spec->aggs[i] >= QRY_AGG_DISTINCT_SRC && spec->aggs[i] <= QRY_AGG_DISTINCT_ENI)
			a->need_distinct = true;
		if (spec->aggs[i] == QRY_AGG_DISTINCT_ENI)
			a->need_names = true;
		if (spec->aggs[i] == QRY_AGG_PEAK_BPS || spec->aggs[i] == QRY_AGG_PEAK_PPS)
			a->need_peak = true;
	}
	a->key_len = off;
	a->key_stride = (off + 7) & ~7u;
	if (!a->key_stride)
		a->key_stride = 8;
	a->min_first = UINT64_MAX;
	a->peak_ns = spec->peak_ns ? spec->peak_ns : 1000000000ull;
	/* Untagged records carry the tag "-". */
	if (intern(a, "-", &a->cur_tag)) {
		qry_agg_destroy(a);
		errno = ENOMEM;
		return NULL;
	}
	return a;
}

void qry_agg_time_span(const struct qry_agg_state *a, uint64_t *first_ns, uint64_t *last_ns)
{
	*first_ns = a->min_first;
	*last_ns = a->max_last;
}

uint64_t qry_agg_groups(const struct qry_agg_state *a)
{
	return a->n_groups;
}

/* ----------------------------------------------------------------- adding */

static void put_addr(uint8_t *k, const struct rec_flow *r, bool src)
{
	k[0] = r->ip_version;
	memcpy(k + 1, src ? r->src_addr : r->dst_addr, 16);
}

static int make_key(struct qry_agg_state *a, const struct rec_flow *r, uint8_t *k)
{
	const struct qry_agg_spec *s = &a->spec;

	memset(k, 0, a->key_stride);
	if (s->bucket_ns) {
		uint64_t b = r->first_ns / s->bucket_ns * s->bucket_ns;
		memcpy(k, &b, 8);
	}
	for (unsigned i = 0; i < s->n_keys; i++) {
		uint8_t *p = k + a->key_off[i];
		uint32_t id;
		uint16_t v16;
		switch (s->keys[i]) {
		case QRY_KEY_ENI:
		case QRY_KEY_VPC:
		case QRY_KEY_SUBNET:
		case QRY_KEY_ACCOUNT:
			if (name_id(a, r->eni, (int)(s->keys[i] - QRY_KEY_ENI), &id))
				return -ENOMEM;
			memcpy(p, &id, 4);
			break;
		case QRY_KEY_SRC: put_addr(p, r, true); break;
		case QRY_KEY_DST: put_addr(p, r, false); break;
		case QRY_KEY_SPORT: memcpy(p, &r->src_port, 2); break;
		case QRY_KEY_DPORT: memcpy(p, &r->dst_port, 2); break;
		case QRY_KEY_PROTO: *p = r->protocol; break;
		case QRY_KEY_ACTION: *p = r->verdict; break;
		case QRY_KEY_DIRECTION: *p = r->direction; break;
		case QRY_KEY_RULE: memcpy(p, &r->rule_id, 4); break;
		case QRY_KEY_LAYER: *p = r->layer; break;
		case QRY_KEY_L2: *p = r->l2_class; break;
		case QRY_KEY_KIND: *p = r->kind; break;
		case QRY_KEY_TCPFLAGS: *p = r->tcp_flags; break;
		case QRY_KEY_IPVER: *p = r->ip_version; break;
		case QRY_KEY_ETHERTYPE: v16 = r->ethertype; memcpy(p, &v16, 2); break;
		case QRY_KEY_ENI_INDEX: memcpy(p, &r->eni, 4); break;
		case QRY_KEY_PEER: put_addr(p, r, r->direction != REC_DIR_EGRESS); break;
		case QRY_KEY_LOCAL: put_addr(p, r, r->direction == REC_DIR_EGRESS); break;
		case QRY_KEY_TAG: memcpy(p, &a->cur_tag, 4); break;
		default: break;
		}
	}
	return 0;
}

static int grow_groups(struct qry_agg_state *a)
{
	uint32_t nc = a->cap_groups ? a->cap_groups * 2 : 256;
	struct group *g = realloc(a->groups, (size_t)nc * sizeof(*g));

	if (!g)
		return -ENOMEM;
	a->groups = g;
	uint8_t *k = realloc(a->keys, (size_t)nc * a->key_stride);
	if (!k)
		return -ENOMEM;
	a->keys = k;
	a->cap_groups = nc;
	return 0;
}

static int grow_slots(struct qry_agg_state *a)
{
	uint32_t n = a->n_slots ? a->n_slots * 2 : 512, m = n - 1;
	uint64_t *s = calloc(n, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; i < a->n_slots; i++) {
		uint64_t e = a->slots[i];
		if (!e)
			continue;
		/* The slot keeps only the high half of the hash: rehash the key. */
		uint32_t g = (uint32_t)e - 1;
		uint32_t j = (uint32_t)qa_hash_bytes(a->keys + (size_t)g * a->key_stride, a->key_stride) & m;
		while (s[j])
			j = (j + 1) & m;
		s[j] = e;
	}
	free(a->slots);
	a->slots = s;
	a->n_slots = n;
	return 0;
}

/* Find or create the group of key k. Returns its index or -errno. */
static long find_group(struct qry_agg_state *a, const uint8_t *k, uint64_t h)
{
	uint64_t hi = h & 0xffffffff00000000ull;
	uint32_t m, j;

	if ((a->n_groups + 1) * 2 > a->n_slots && grow_slots(a))
		return -ENOMEM;
	m = a->n_slots - 1;
	for (j = (uint32_t)h & m; a->slots[j]; j = (j + 1) & m) {
		uint64_t e = a->slots[j];
		uint32_t g = (uint32_t)e - 1;
		if ((e & 0xffffffff00000000ull) == hi &&
		    qa_key_eq(a->keys + (size_t)g * a->key_stride, k, a->key_stride))
			return g;
	}
	if (a->limits.max_groups && a->n_groups >= a->limits.max_groups)
		return -ENOSPC;
	if (a->n_groups == a->cap_groups && grow_groups(a))
		return -ENOMEM;
	uint32_t g = a->n_groups++;
	memcpy(a->keys + (size_t)g * a->key_stride, k, a->key_stride);
	memset(&a->groups[g], 0, sizeof(a->groups[g]));
	a->groups[g].first = UINT64_MAX;
	a->slots[j] = hi | (g + 1);
	return g;
}

static int grow_dset(struct qry_agg_state *a)
{
	uint64_t n = a->cap_dset ? a->cap_dset * 2 : 1024, m = n - 1;
	struct dentry *d = malloc(n * sizeof(*d));

	if (!d)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++)
		d[i].group = UINT32_MAX;
	for (uint64_t i = 0; i < a->cap_dset; i++) {
		if (a->dset[i].group == UINT32_MAX)
			continue;
		uint64_t j = qa_hash_bytes(&a->dset[i], sizeof(a->dset[i])) & m;
		while (d[j].group != UINT32_MAX)
			j = (j + 1) & m;
		d[j] = a->dset[i];
	}
	free(a->dset);
	a->dset = d;
	a->cap_dset = n;
	return 0;
}

/* Insert (g, kind, val); count it in the group if new. */
static int distinct_add(struct qry_agg_state *a, uint32_t g, uint8_t kind, const uint8_t *val,
			size_t len)
{
	struct dentry e;

	memset(&e, 0, sizeof(e));
	e.group = g;
	e.kind = kind;
	memcpy(e.val, val, len);
	if ((a->n_dset + 1) * 2 > a->cap_dset && grow_dset(a))
		return -ENOMEM;
	uint64_t m = a->cap_dset - 1, j = qa_hash_bytes(&e, sizeof(e)) & m;
	for (; a->dset[j].group != UINT32_MAX; j = (j + 1) & m)
		if (!memcmp(&a->dset[j], &e, sizeof(e)))
			return 0;
	if (a->limits.max_distinct && a->n_dset >= a->limits.max_distinct)
		return -ENOSPC;
	a->dset[j] = e;
	a->n_dset++;
	a->groups[g].distinct[kind]++;
	return 0;
}

static int add_distinct(struct qry_agg_state *a, uint32_t g, const struct rec_flow *r)
{
	uint8_t v[17];
	uint32_t id;
	int rc = 0;

	for (unsigned i = 0; i < a->spec.n_aggs && !rc; i++) {
		switch (a->spec.aggs[i]) {
		case QRY_AGG_DISTINCT_SRC:
			put_addr(v, r, true);
			rc = distinct_add(a, g, 0, v, 17);
			break;
		case QRY_AGG_DISTINCT_DST:
			put_addr(v, r, false);
			rc = distinct_add(a, g, 1, v, 17);
			break;
		case QRY_AGG_DISTINCT_SPORT:
			rc = distinct_add(a, g, 2, (const uint8_t *)&r->src_port, 2);
			break;
		case QRY_AGG_DISTINCT_DPORT:
			rc = distinct_add(a, g, 3, (const uint8_t *)&r->dst_port, 2);
			break;
		case QRY_AGG_DISTINCT_ENI:
			rc = name_id(a, r->eni, 0, &id);
			if (!rc)
				rc = distinct_add(a, g, 4, (const uint8_t *)&id, 4);
			break;
		default: break;
		}
	}
	return rc;
}

static int grow_peak(struct qry_agg_state *a)
{
	uint64_t n = a->cap_peak ? a->cap_peak * 2 : 1024, m = n - 1;
	struct pentry *d = malloc(n * sizeof(*d));

	if (!d)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++)
		d[i].group = UINT32_MAX;
	for (uint64_t i = 0; i < a->cap_peak; i++) {
		if (a->peak[i].group == UINT32_MAX)
			continue;
		uint64_t j = qa_hash_bytes(&a->peak[i], 16) & m;
		while (d[j].group != UINT32_MAX)
			j = (j + 1) & m;
		d[j] = a->peak[i];
	}
	free(a->peak);
	a->peak = d;
	a->cap_peak = n;
	return 0;
}

/* Count r in its group's peak window (window of first_ns). */
static int peak_add(struct qry_agg_state *a, uint32_t g, const struct rec_flow *r)
{
	struct pentry e = {.group = g, .pad = 0, .window = r->first_ns / a->peak_ns};

	if ((a->n_peak + 1) * 2 > a->cap_peak && grow_peak(a))
		return -ENOMEM;
	uint64_t m = a->cap_peak - 1, j = qa_hash_bytes(&e, 16) & m;
	for (; a->peak[j].group != UINT32_MAX; j = (j + 1) & m)
		if (a->peak[j].group == g && a->peak[j].window == e.window)
			break;
	if (a->peak[j].group == UINT32_MAX) {
		if (a->limits.max_distinct && a->n_peak >= a->limits.max_distinct)
			return -ENOSPC;
		a->peak[j] = e;
		a->n_peak++;
	}
	a->peak[j].bytes += r->bytes;
	a->peak[j].packets += r->packets;
	return 0;
}

/* Count r in group g. */
static int add_to(struct qry_agg_state *a, long g, const struct rec_flow *r)
{
	struct group *gr = &a->groups[g];

	gr->flows++;
	gr->packets += r->packets;
	gr->bytes += r->bytes;
	gr->rejected += r->verdict == REC_VERDICT_REJECT;
	if (r->first_ns < gr->first)
		gr->first = r->first_ns;
	if (r->last_ns > gr->last)
		gr->last = r->last_ns;
	if (r->first_ns < a->min_first)
		a->min_first = r->first_ns;
	if (r->last_ns > a->max_last)
		a->max_last = r->last_ns;
	if (a->need_peak) {
		int rc = peak_add(a, (uint32_t)g, r);
		if (rc)
			return rc;
	}
	return a->need_distinct ? add_distinct(a, (uint32_t)g, r) : 0;
}

int qry_agg_add(struct qry_agg_state *a, const struct rec_flow *r)
{
	uint8_t k[KEY_MAX + 8];
	long g;

	if (make_key(a, r, k))
		return -ENOMEM;
	g = find_group(a, k, qa_hash_bytes(k, a->key_stride));
	return g < 0 ? (int)g : add_to(a, g, r);
}

#define AGG_STRIDE 16

/*
 * In three passes over AGG_STRIDE records: keys and hashes (prefetching the
 * slot each will probe), lookups (prefetching each group), then the sums.
 * The loads of one record overlap the work on the others instead of
 * stalling one at a time.
 */
int qry_agg_add_burst(struct qry_agg_state *a, const struct rec_flow *recs, const uint32_t *idx,
		      size_t n)
{
	uint8_t keys[AGG_STRIDE][KEY_MAX + 8];
	uint64_t h[AGG_STRIDE];

	for (size_t base = 0; base < n; base += AGG_STRIDE) {
		size_t m = n - base < AGG_STRIDE ? n - base : AGG_STRIDE;
		/* grow first, so the prefetched slots stay the ones probed */
		if ((a->n_groups + m + 1) * 2 > a->n_slots && grow_slots(a))
			return -ENOMEM;
		for (size_t i = 0; i < m; i++) {
			if (make_key(a, &recs[idx[base + i]], keys[i]))
				return -ENOMEM;
			h[i] = qa_hash_bytes(keys[i], a->key_stride);
			__builtin_prefetch(&a->slots[(uint32_t)h[i] & (a->n_slots - 1)]);
		}
		long g[AGG_STRIDE];
		for (size_t i = 0; i < m; i++) {
			g[i] = find_group(a, keys[i], h[i]);
			if (g[i] < 0)
				return (int)g[i];
			__builtin_prefetch(&a->groups[g[i]], 1);
		}
		for (size_t i = 0; i < m; i++) {
			int rc = add_to(a, g[i], &recs[idx[base + i]]);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int qry_agg_add_tagged(struct qry_agg_state *a, const struct rec_flow *r, const char *tag)
{
	uint32_t dash = a->cur_tag;
	int rc;

	if (intern(a, tag, &a->cur_tag))
		return -ENOMEM;
	rc = qry_agg_add(a, r);
	a->cur_tag = dash;
	return rc;
}

