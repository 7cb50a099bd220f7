/*
 * threatlist.c - threat-list parsing and prefix lookup.
 *
 * Design: CIDR prefixes either nest or are disjoint, so after sorting by
 * (start ascending, end descending) every prefix inside a kept one can be
 * dropped; what remains is a sorted array of disjoint [lo, hi] ranges and a
 * lookup is one binary search. IPv4 ranges are 32-bit, IPv6 ranges are two
 * 64-bit halves (host order, so plain integer compares give address order).
 * This is smaller and simpler than a trie and as fast for read-mostly sets.
 */
#include "threatlist.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct r4 {
	uint32_t lo, hi;
	uint32_t tag;
};

struct r6 {
	uint64_t lo[2], hi[2]; /* [0] = high 64 bits */
	uint32_t tag;
};

struct qry_threat {
	struct r4 *v4;
	size_t n4, cap4;
	struct r6 *v6;
	size_t n6, cap6;
	char **tags;
	uint32_t n_tags, cap_tags;
	uint64_t n_prefixes;
};

struct qry_threat *qry_threat_create(void)
{
	return calloc(1, sizeof(struct qry_threat));
}

void qry_threat_destroy(struct qry_threat *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->n_tags; i++)
		free(t->tags[i]);
	free(t->tags);
	free(t->v4);
	free(t->v6);
	free(t);
}

static int tag_id(struct qry_threat *t, const char *name, uint32_t *id)
{
	if (t->n_tags && !strcmp(t->tags[t->n_tags - 1], name)) {
		*id = t->n_tags - 1; /* loads add runs of one name */
		return 0;
	}
	for (uint32_t i = 0; i < t->n_tags; i++)
		if (!strcmp(t->tags[i], name)) {
			*id = i;
			return 0;
		}
	if (t->n_tags == t->cap_tags) {
		uint32_t nc = t->cap_tags ? t->cap_tags * 2 : 8;
		char **n = realloc(t->tags, nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		t->tags = n;
		t->cap_tags = nc;
	}
	t->tags[t->n_tags] = strdup(name);
	if (!t->tags[t->n_tags])
		return -ENOMEM;
	*id = t->n_tags++;
	return 0;
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int qry_threat_add(struct qry_threat *t, const char *cidr, const char *name)
{
	char buf[64];
	uint8_t a[16] = {0};
	unsigned bits, max;
	char *slash, *end;
	uint32_t tag;
	int v6;

	if (strlen(cidr) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, cidr);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, a) == 1)
		v6 = 0, max = 32;
	else if (inet_pton(AF_INET6, buf, a) == 1)
		v6 = 1, max = 128;
	else
		return -EINVAL;
	bits = max;
	if (slash) {
		if (!isdigit((unsigned char)slash[1]))
			return -EINVAL;
		unsigned long b = strtoul(slash + 1, &end, 10);
		if (*end || b > max)
			return -EINVAL;
		bits = (unsigned)b;
	}
	if (tag_id(t, name ? name : "threat", &tag))
		return -ENOMEM;
	if (!v6) {
		uint32_t x = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
		uint32_t host = bits ? (bits == 32 ? 0 : 0xffffffffu >> bits) : 0xffffffffu;
		if (t->n4 == t->cap4) {
			size_t nc = t->cap4 ? t->cap4 * 2 : 1024;
			struct r4 *n = realloc(t->v4, nc * sizeof(*n));
			if (!n)
				return -ENOMEM;
			t->v4 = n;
			t->cap4 = nc;
		}
		t->v4[t->n4++] = (struct r4){x & ~host, x | host, tag};
	} else {
		uint64_t h[2] = {be64(a), be64(a + 8)}, m[2];
		m[0] = bits >= 64 ? 0 : (bits ? UINT64_MAX >> bits : UINT64_MAX);
		m[1] = bits >= 128 ? 0 : (bits <= 64 ? UINT64_MAX : UINT64_MAX >> (bits - 64));
		if (t->n6 == t->cap6) {
			size_t nc = t->cap6 ? t->cap6 * 2 : 256;
			struct r6 *n = realloc(t->v6, nc * sizeof(*n));
			if (!n)
				return -ENOMEM;
			t->v6 = n;
			t->cap6 = nc;
		}
		t->v6[t->n6++] = (struct r6){{h[0] & ~m[0], h[1] & ~m[1]}, {h[0] | m[0], h[1] | m[1]}, tag};
	}
	t->n_prefixes++;
	return 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

long qry_threat_load(struct qry_threat *t, const char *path, const char *name,
		     struct qry_err *err)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	long n = 0, lineno = 0;

	if (!f) {
		int e = errno;
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(e));
		return -e;
	}
	if (!name)
		name = base_name(path);
	while (fgets(line, sizeof(line), f)) {
		char *p = line, tok[128];
		size_t len;
		lineno++;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#' || *p == ';')
			continue;
		/* The address is the first token; DROP's "; SBLnnn" and trailing comments follow. */
		len = strcspn(p, " \t\r\n;#");
		if (len >= sizeof(tok)) {
			snprintf(err->msg, sizeof(err->msg), "%s:%ld: token too long", path, lineno);
			fclose(f);
			return -EINVAL;
		}
		memcpy(tok, p, len);
		tok[len] = '\0';
		int rc = qry_threat_add(t, tok, name);
		if (rc) {
			snprintf(err->msg, sizeof(err->msg), "%s:%ld: '%s' is not an IP address or CIDR",
				 path, lineno, tok);
			fclose(f);
			return rc;
		}
		n++;
	}
	if (ferror(f)) {
		snprintf(err->msg, sizeof(err->msg), "%s: read error", path);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	return n;
}

static int cmp4(const void *x, const void *y)
{
	const struct r4 *a = x, *b = y;

	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return a->hi > b->hi ? -1 : a->hi < b->hi;
}

static int cmp128(const uint64_t *a, const uint64_t *b)
{
	if (a[0] != b[0])
		return a[0] < b[0] ? -1 : 1;
	return a[1] < b[1] ? -1 : a[1] > b[1];
}

static int cmp6(const void *x, const void *y)
{
	const struct r6 *a = x, *b = y;
	int c = cmp128(a->lo, b->lo);

	return c ? c : -cmp128(a->hi, b->hi);
}

int qry_threat_build(struct qry_threat *t)
{
	size_t out = 0;

	if (t->n4)
		qsort(t->v4, t->n4, sizeof(*t->v4), cmp4);
	for (size_t i = 0; i < t->n4; i++)
		if (!out || t->v4[i].lo > t->v4[out - 1].hi)
			t->v4[out++] = t->v4[i];
	t->n4 = out;
	out = 0;
	if (t->n6)
		qsort(t->v6, t->n6, sizeof(*t->v6), cmp6);
	for (size_t i = 0; i < t->n6; i++)
		if (!out || cmp128(t->v6[i].lo, t->v6[out - 1].hi) > 0)
			t->v6[out++] = t->v6[i];
	t->n6 = out;
	return 0;
}

const char *qry_threat_lookup(const struct qry_threat *t, uint8_t ipver, const uint8_t *addr)
{
	size_t lo = 0, hi;

	if (ipver == 4) {
		uint32_t x = (uint32_t)addr[0] << 24 | (uint32_t)addr[1] << 16 |
			     (uint32_t)addr[2] << 8 | addr[3];
		hi = t->n4;
		while (lo < hi) { /* first range with lo > x */
			size_t mid = (lo + hi) / 2;
			if (t->v4[mid].lo <= x)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo && x <= t->v4[lo - 1].hi ? t->tags[t->v4[lo - 1].tag] : NULL;
	}
	if (ipver != 6)
		return NULL;
	uint64_t x[2] = {be64(addr), be64(addr + 8)};
	hi = t->n6;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (cmp128(t->v6[mid].lo, x) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && cmp128(x, t->v6[lo - 1].hi) <= 0 ? t->tags[t->v6[lo - 1].tag] : NULL;
}

uint64_t qry_threat_n_prefixes(const struct qry_threat *t)
{
	return t->n_prefixes;
}

uint64_t qry_threat_n_ranges(const struct qry_threat *t)
{
	return t->n4 + t->n6;
}
