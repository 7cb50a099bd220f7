/*
 * query_agg_internal.h - the aggregator's state, shared by query_agg.c
 * (adding records) and query_agg_finish.c (ordering and the result table).
 * Only those two files include it.
 */
#ifndef ENIFLOW_QUERY_AGG_INTERNAL_H
#define ENIFLOW_QUERY_AGG_INTERNAL_H

#include <string.h>

#include "query.h"

#define KEY_MAX 96
#define N_DISTINCT 5
#define NAME_COLS 4

extern const char *const qa_key_names[QRY_KEY_MAX];
extern const uint8_t qa_key_size[QRY_KEY_MAX];
extern const char *const qa_agg_names[QRY_AGG_MAX];

struct group {
	uint64_t flows, packets, bytes, first, last, rejected;
	uint64_t peak_bytes, peak_packets; /* filled by finish */
	uint64_t distinct[N_DISTINCT];
};

struct dentry {          /* one (group, kind, value) of the distinct set */
	uint32_t group;  /* UINT32_MAX = empty slot */
	uint8_t kind;
	uint8_t val[17];
};

struct pentry {           /* bytes/packets of one group in one peak window */
	uint32_t group;   /* UINT32_MAX = empty slot */
	uint32_t pad;
	uint64_t window;  /* first_ns / peak_ns */
	uint64_t bytes, packets;
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
	bool need_names, need_distinct, need_peak;
	uint64_t peak_ns;
	uint32_t cur_tag;        /* name id of the tag of the record being added */
	struct pentry *peak;
	uint64_t n_peak, cap_peak;
	/* groups */
	struct group *groups;
	uint8_t *keys;
	uint32_t n_groups, cap_groups;
	uint64_t *slots;         /* hash high 32 bits << 32 | group index + 1; 0 = empty */
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

/*
 * Hash of n bytes: each 8-byte word is multiplied by its own odd constant
 * (independent multiplies, so they overlap in the pipeline), then mixed.
 */
static inline uint64_t qa_hash_bytes(const void *p, size_t n)
{
	static const uint64_t k[4] = {0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full,
				      0x165667b19e3779f9ull, 0xd6e8feb86659fd93ull};
	const uint8_t *b = p;
	uint64_t h = n * 0xff51afd7ed558ccdull;
	unsigned i = 0;

	while (n >= 8) {
		uint64_t w;
		memcpy(&w, b, 8);
		h ^= (w + i) * k[i & 3];
		h = (h << 17 | h >> 47) ^ (h >> 3);
		b += 8;
		n -= 8;
		i++;
	}
	if (n) {
		uint64_t w = 0;
		memcpy(&w, b, n);
		h ^= (w + i) * k[i & 3];
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

/* Equal keys of stride bytes (a multiple of 8). */
static inline bool qa_key_eq(const uint8_t *a, const uint8_t *b, uint32_t stride)
{
	uint64_t diff = 0;

	for (uint32_t i = 0; i < stride; i += 8) {
		uint64_t x, y;
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		diff |= x ^ y;
	}
	return !diff;
}


#endif /* ENIFLOW_QUERY_AGG_INTERNAL_H */
