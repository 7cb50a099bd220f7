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

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 96
#define N_DISTINCT 5
#define NAME_COLS 4

static const char *const key_names[QRY_KEY_MAX] = {
	"eni", "vpc", "subnet", "account", "src", "dst", "sport", "dport", "proto", "action",
	"direction", "rule", "layer", "l2", "kind", "tcpflags", "ipver", "ethertype", "eni_index",
};
static const uint8_t key_size[QRY_KEY_MAX] = {
	4, 4, 4, 4, 17, 17, 2, 2, 1, 1, 1, 4, 1, 1, 1, 1, 1, 2, 4,
};
static const char *const agg_names[QRY_AGG_MAX] = {
	"flows", "packets", "bytes", "bps", "pps", "distinct(src)", "distinct(dst)",
	"distinct(sport)", "distinct(dport)", "distinct(eni)", "first", "last",
};

const char *qry_key_name(enum qry_key k) { return k < QRY_KEY_MAX ? key_names[k] : NULL; }
const char *qry_agg_name(enum qry_agg a) { return a < QRY_AGG_MAX ? agg_names[a] : NULL; }

struct group {
	uint64_t flows, packets, bytes, first, last;
	uint64_t distinct[N_DISTINCT];
};

struct dentry {          /* one (group, kind, value) of the distinct set */
	uint32_t group;  /* UINT32_MAX = empty slot */
	uint8_t kind;
	uint8_t val[17];
};

struct name_map {        /* one dictionary entry of the current file */
	uint32_t index;
	uint32_t id[NAME_COLS];
};

struct qry_agg_state {
	struct qry_agg_spec spec;
	struct qry_limits limits;
	uint32_t key_off[QRY_MAX_KEYS];
	uint32_t key_len;        /* bytes used, incl. the time bucket */
	uint32_t key_stride;     /* key_len rounded up to 8 */
	bool need_names, need_distinct;
	/* groups */
	struct group *groups;
	uint8_t *keys;
	uint32_t n_groups, cap_groups;
	uint32_t *slots;         /* group index + 1; 0 = empty */
	uint64_t *slot_hash;
	uint32_t n_slots;
	/* distinct set */
	struct dentry *dset;
	uint64_t n_dset, cap_dset;
	/* interned names */
	char **names;
	uint32_t n_names, cap_names;
	uint32_t *name_slots;
	uint32_t n_name_slots;
	struct name_map *map;
	uint32_t n_map, cap_map, last_map;
	uint64_t min_first, max_last;
};

static inline uint64_t hash_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;

	while (n >= 8) {
		uint64_t w;
		memcpy(&w, b, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
		b += 8;
		n -= 8;
	}
	if (n) {
		uint64_t w = 0;
		memcpy(&w, b, n);
		h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

/* ----------------------------------------------------------------- names */

static int intern(struct qry_agg_state *a, const char *s, uint32_t *id);

static int name_slots_grow(struct qry_agg_state *a)
{
	uint32_t n = a->n_name_slots ? a->n_name_slots * 2 : 64;
	uint32_t *s = calloc(n, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; i < a->n_names; i++) {
		uint32_t h = (uint32_t)hash_bytes(a->names[i], strlen(a->names[i])) & (n - 1);
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
	uint32_t m = a->n_name_slots - 1, h = (uint32_t)hash_bytes(s, strlen(s)) & m;
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
		if (!strcmp(agg_names[spec->aggs[i]], name))
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

int qry_parse_keys(const char *list, struct qry_agg_spec *spec, struct qry_err *err)
{
	const char *p = list;

	spec->n_keys = 0;
	while (*p) {
		size_t len = strcspn(p, ",");
		size_t lead = strspn(p, " ");
		const char *tok = p + lead;
		size_t tl = len - lead;
		while (tl && tok[tl - 1] == ' ')
			tl--;
		int found = -1;
		for (int k = 0; k < QRY_KEY_MAX; k++)
			if (strlen(key_names[k]) == tl && !strncmp(key_names[k], tok, tl))
				found = k;
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
		size_t lead = strspn(p, " ");
		const char *tok = p + lead;
		size_t tl = len - lead;
		while (tl && tok[tl - 1] == ' ')
			tl--;
		int found = -1;
		for (int k = 0; k < QRY_AGG_MAX; k++)
			if (strlen(agg_names[k]) == tl && !strncmp(agg_names[k], tok, tl))
				found = k;
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
	free(a->slot_hash);
	free(a->dset);
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
		off += key_size[spec->keys[i]];
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
	}
	a->key_len = off;
	a->key_stride = (off + 7) & ~7u;
	if (!a->key_stride)
		a->key_stride = 8;
	a->min_first = UINT64_MAX;
	return a;
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
	uint32_t *s = calloc(n, sizeof(*s));
	uint64_t *h = malloc((size_t)n * sizeof(*h));

	if (!s || !h) {
		free(s);
		free(h);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < a->n_slots; i++) {
		if (!a->slots[i])
			continue;
		uint32_t j = (uint32_t)a->slot_hash[i] & m;
		while (s[j])
			j = (j + 1) & m;
		s[j] = a->slots[i];
		h[j] = a->slot_hash[i];
	}
	free(a->slots);
	free(a->slot_hash);
	a->slots = s;
	a->slot_hash = h;
	a->n_slots = n;
	return 0;
}

/* Find or create the group of key k. Returns its index or -errno. */
static long find_group(struct qry_agg_state *a, const uint8_t *k)
{
	uint64_t h = hash_bytes(k, a->key_stride);
	uint32_t m, j;

	if ((a->n_groups + 1) * 2 > a->n_slots && grow_slots(a))
		return -ENOMEM;
	m = a->n_slots - 1;
	for (j = (uint32_t)h & m; a->slots[j]; j = (j + 1) & m) {
		uint32_t g = a->slots[j] - 1;
		if (a->slot_hash[j] == h && !memcmp(a->keys + (size_t)g * a->key_stride, k, a->key_stride))
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
	a->slots[j] = g + 1;
	a->slot_hash[j] = h;
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
		uint64_t j = hash_bytes(&a->dset[i], sizeof(a->dset[i])) & m;
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
	uint64_t m = a->cap_dset - 1, j = hash_bytes(&e, sizeof(e)) & m;
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

int qry_agg_add(struct qry_agg_state *a, const struct rec_flow *r)
{
	uint8_t k[KEY_MAX + 8];
	long g;

	if (make_key(a, r, k))
		return -ENOMEM;
	g = find_group(a, k);
	if (g < 0)
		return (int)g;
	struct group *gr = &a->groups[g];
	gr->flows++;
	gr->packets += r->packets;
	gr->bytes += r->bytes;
	if (r->first_ns < gr->first)
		gr->first = r->first_ns;
	if (r->last_ns > gr->last)
		gr->last = r->last_ns;
	if (r->first_ns < a->min_first)
		a->min_first = r->first_ns;
	if (r->last_ns > a->max_last)
		a->max_last = r->last_ns;
	return a->need_distinct ? add_distinct(a, (uint32_t)g, r) : 0;
}

/* ---------------------------------------------------------------- finish */

static double window_s(const struct qry_agg_state *a)
{
	uint64_t w = a->spec.bucket_ns ? a->spec.bucket_ns : a->spec.window_ns;

	if (!w && a->max_last > a->min_first)
		w = a->max_last - a->min_first;
	return w ? (double)w / 1e9 : 1.0;
}

static double agg_value(const struct qry_agg_state *a, const struct group *g, enum qry_agg ag)
{
	switch (ag) {
	case QRY_AGG_FLOWS: return (double)g->flows;
	case QRY_AGG_PACKETS: return (double)g->packets;
	case QRY_AGG_BYTES: return (double)g->bytes;
	case QRY_AGG_BPS: return (double)g->bytes * 8.0 / window_s(a);
	case QRY_AGG_PPS: return (double)g->packets / window_s(a);
	case QRY_AGG_FIRST: return (double)g->first;
	case QRY_AGG_LAST: return (double)g->last;
	default: return (double)g->distinct[ag - QRY_AGG_DISTINCT_SRC];
	}
}

static uint64_t key_num(const uint8_t *p, unsigned size)
{
	uint64_t v = 0;

	memcpy(&v, p, size);
	return v;
}

/* Natural order of two groups' keys: time, then each key field. */
static int cmp_keys(const struct qry_agg_state *a, uint32_t x, uint32_t y)
{
	const uint8_t *kx = a->keys + (size_t)x * a->key_stride;
	const uint8_t *ky = a->keys + (size_t)y * a->key_stride;

	if (a->spec.bucket_ns) {
		uint64_t tx = key_num(kx, 8), ty = key_num(ky, 8);
		if (tx != ty)
			return tx < ty ? -1 : 1;
	}
	for (unsigned i = 0; i < a->spec.n_keys; i++) {
		enum qry_key k = a->spec.keys[i];
		const uint8_t *px = kx + a->key_off[i], *py = ky + a->key_off[i];
		int c;
		if (k <= QRY_KEY_ACCOUNT)
			c = strcmp(a->names[key_num(px, 4)], a->names[key_num(py, 4)]);
		else if (k == QRY_KEY_SRC || k == QRY_KEY_DST)
			c = memcmp(px, py, 17);
		else {
			uint64_t vx = key_num(px, key_size[k]), vy = key_num(py, key_size[k]);
			c = vx < vy ? -1 : vx > vy;
		}
		if (c)
			return c;
	}
	return 0;
}

static int cmp_groups(const void *xp, const void *yp, void *arg)
{
	const struct qry_agg_state *a = arg;
	uint32_t x = *(const uint32_t *)xp, y = *(const uint32_t *)yp;

	if (a->spec.bucket_ns) {
		uint64_t tx = key_num(a->keys + (size_t)x * a->key_stride, 8);
		uint64_t ty = key_num(a->keys + (size_t)y * a->key_stride, 8);
		if (tx != ty)
			return tx < ty ? -1 : 1;
	}
	if (a->spec.order_by >= 0) {
		enum qry_agg ag = a->spec.aggs[a->spec.order_by];
		double vx = agg_value(a, &a->groups[x], ag), vy = agg_value(a, &a->groups[y], ag);
		if (vx != vy)
			return (vx < vy) == a->spec.ascending ? -1 : 1;
	}
	return cmp_keys(a, x, y);
}

static const char *flags_text(uint8_t f, char *buf, size_t len)
{
	static const char *const names[8] = {"fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"};
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < 8; i++)
		if (f & (1u << i))
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? "+" : "", names[i]);
	if (!f)
		snprintf(buf, len, "-");
	return buf;
}

static enum qry_col_type key_type(enum qry_key k)
{
	switch (k) {
	case QRY_KEY_SPORT: case QRY_KEY_DPORT: case QRY_KEY_RULE: case QRY_KEY_IPVER:
	case QRY_KEY_ETHERTYPE: case QRY_KEY_ENI_INDEX:
		return QRY_COL_U64;
	default:
		return QRY_COL_STR;
	}
}

static int key_cell(const struct qry_agg_state *a, enum qry_key k, const uint8_t *p,
		    struct qry_cell *c)
{
	char buf[64];
	const char *s = buf;
	uint8_t v = p[0];

	if (key_type(k) == QRY_COL_U64) {
		c->u = key_num(p, key_size[k]);
		return 0;
	}
	switch (k) {
	case QRY_KEY_ENI: case QRY_KEY_VPC: case QRY_KEY_SUBNET: case QRY_KEY_ACCOUNT:
		s = a->names[key_num(p, 4)];
		break;
	case QRY_KEY_SRC: case QRY_KEY_DST:
		if (v == 4 || v == 6)
			inet_ntop(v == 4 ? AF_INET : AF_INET6, p + 1, buf, sizeof(buf));
		else
			s = "-";
		break;
	case QRY_KEY_PROTO: s = rec_proto_name(v); break;
	case QRY_KEY_ACTION: s = rec_verdict_name(v); break;
	case QRY_KEY_DIRECTION: s = rec_direction_name(v); break;
	case QRY_KEY_LAYER: s = rec_layer_name(v); break;
	case QRY_KEY_L2: s = rec_l2_class_name(v); break;
	case QRY_KEY_KIND: s = rec_kind_name(v); break;
	case QRY_KEY_TCPFLAGS: s = flags_text(v, buf, sizeof(buf)); break;
	default: s = NULL; break;
	}
	if (!s) {
		snprintf(buf, sizeof(buf), "%u", v);
		s = buf;
	}
	return qry_cell_set_str(c, s);
}

static struct qry_table *empty_table(const struct qry_agg_state *a)
{
	const char *names[1 + QRY_MAX_KEYS + QRY_MAX_AGGS];
	enum qry_col_type types[1 + QRY_MAX_KEYS + QRY_MAX_AGGS];
	uint32_t n = 0;

	if (a->spec.bucket_ns) {
		names[n] = "time";
		types[n++] = QRY_COL_TIME;
	}
	for (unsigned i = 0; i < a->spec.n_keys; i++) {
		names[n] = key_names[a->spec.keys[i]];
		types[n++] = key_type(a->spec.keys[i]);
	}
	for (unsigned i = 0; i < a->spec.n_aggs; i++) {
		enum qry_agg g = a->spec.aggs[i];
		names[n] = agg_names[g];
		types[n++] = g == QRY_AGG_BPS || g == QRY_AGG_PPS ? QRY_COL_F64
			     : g == QRY_AGG_FIRST || g == QRY_AGG_LAST ? QRY_COL_TIME
								   : QRY_COL_U64;
	}
	return qry_table_create(n, names, types);
}

static int emit_row(const struct qry_agg_state *a, struct qry_table *t, uint32_t g)
{
	const uint8_t *k = a->keys + (size_t)g * a->key_stride;
	struct qry_cell *row = qry_table_add_row(t);
	uint32_t c = 0;

	if (!row)
		return -ENOMEM;
	if (a->spec.bucket_ns)
		row[c++].u = key_num(k, 8);
	for (unsigned i = 0; i < a->spec.n_keys; i++)
		if (key_cell(a, a->spec.keys[i], k + a->key_off[i], &row[c++]))
			return -ENOMEM;
	for (unsigned i = 0; i < a->spec.n_aggs; i++, c++) {
		enum qry_agg ag = a->spec.aggs[i];
		double v = agg_value(a, &a->groups[g], ag);
		if (t->col_types[c] == QRY_COL_F64)
			row[c].d = v;
		else if (ag == QRY_AGG_FIRST)
			row[c].u = a->groups[g].first;
		else if (ag == QRY_AGG_LAST)
			row[c].u = a->groups[g].last;
		else if (ag <= QRY_AGG_BYTES)
			row[c].u = ag == QRY_AGG_FLOWS ? a->groups[g].flows
				   : ag == QRY_AGG_PACKETS ? a->groups[g].packets
							   : a->groups[g].bytes;
		else
			row[c].u = a->groups[g].distinct[ag - QRY_AGG_DISTINCT_SRC];
	}
	return 0;
}

struct qry_table *qry_agg_finish(struct qry_agg_state *a)
{
	struct qry_table *t = empty_table(a);
	uint32_t *order = malloc(((size_t)a->n_groups + 1) * sizeof(*order));
	uint64_t in_bucket = 0, cur_bucket = UINT64_MAX;

	if (!t || !order)
		goto nomem;
	for (uint32_t i = 0; i < a->n_groups; i++)
		order[i] = i;
	qsort_r(order, a->n_groups, sizeof(*order), cmp_groups, a);
	for (uint32_t i = 0; i < a->n_groups; i++) {
		uint64_t b = a->spec.bucket_ns ? key_num(a->keys + (size_t)order[i] * a->key_stride, 8) : 0;
		if (b != cur_bucket) {
			cur_bucket = b;
			in_bucket = 0;
		}
		if (a->spec.top && in_bucket >= a->spec.top)
			continue;
		in_bucket++;
		if (emit_row(a, t, order[i]))
			goto nomem;
	}
	free(order);
	return t;
nomem:
	free(order);
	qry_table_destroy(t);
	errno = ENOMEM;
	return NULL;
}
