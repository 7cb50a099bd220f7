/*
 * vs_conn.c - the per-lcore connection table that makes security groups
 * stateful: a packet a security group allowed at an ENI opens an entry,
 * and the reverse packet at the same ENI finds it.
 *
 * Owned by one lcore, so plain loads and stores. 4-way set-associative:
 * a bucket is one cache line of hash signatures, rule ids and last-seen
 * times, and the keys live in a separate array of one-line slots touched
 * only on a signature match, so a probe costs one line (prefetched before
 * classification) plus one for the hit. The hit's line also holds the
 * flow-log plugin's hints for the connection (fl_pkt_meta.flow_hint), so
 * the plugin finds its flow without a search of its own. Nothing is allocated after creation; a full bucket gives
 * up its least recently used entry (an evicted connection must be re-opened
 * by a rule, which is the safe direction to fail in). ICMP and other
 * port-less protocols are keyed without ports, so a reply matches its
 * request.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include "vs_policy_internal.h"

#define WAYS 4

struct conn_key {
	uint32_t eni;
	uint8_t family, proto;
	uint16_t sport, dport;
	uint8_t pad[6];
	uint8_t src[16], dst[16];
};
_Static_assert(sizeof(struct conn_key) == 48, "conn_key is hashed as six 8-byte words");

/* A connection's key and, in the same cache line (which the lookup has just
 * compared), the flow-log plugin's hints for its two directions at this ENI
 * (fl_pkt_meta.flow_hint): [0] the direction that opened it, [1] replies. */
struct conn_slot {
	struct conn_key k;
	uint32_t fl_hint[2];
	uint8_t pad[8];
} __rte_cache_aligned;
_Static_assert(sizeof(struct conn_slot) == 64, "a connection slot is one cache line");

struct conn_bucket {
	uint32_t sig[WAYS];     /* key hash; meaningful only where last_ns != 0 */
	uint32_t rule[WAYS];
	uint64_t last_ns[WAYS]; /* 0 = empty */
} __rte_cache_aligned;

struct vs_conn {
	uint32_t mask; /* buckets - 1 */
	uint64_t idle_ns;
	struct conn_bucket *b;
	struct conn_slot *keys; /* [bucket * WAYS + way] */
};

struct vs_conn *vs_conn_create(const char *name, uint32_t entries, uint64_t idle_ns, int socket)
{
	uint32_t buckets = 1;
	while (buckets * WAYS < entries && buckets < (1u << 26))
		buckets <<= 1;
	struct vs_conn *ct = rte_zmalloc_socket(name, sizeof(*ct), 0, socket);
	if (ct == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	ct->b = rte_zmalloc_socket(name, sizeof(*ct->b) * buckets, RTE_CACHE_LINE_SIZE, socket);
	ct->keys = rte_zmalloc_socket(name, sizeof(*ct->keys) * buckets * WAYS,
				      RTE_CACHE_LINE_SIZE, socket);
	if (ct->b == NULL || ct->keys == NULL) {
		vs_conn_destroy(ct);
		rte_errno = ENOMEM;
		return NULL;
	}
	ct->mask = buckets - 1;
	ct->idle_ns = idle_ns;
	return ct;
}

void vs_conn_destroy(struct vs_conn *ct)
{
	if (ct == NULL)
		return;
	rte_free(ct->keys);
	rte_free(ct->b);
	rte_free(ct);
}

/* An address as two key words: IPv4 in the low 4 bytes, else all 16. */
static inline void addr_words(const uint8_t *a, bool v4, uint64_t *lo, uint64_t *hi)
{
	if (v4) {
		uint32_t x;
		memcpy(&x, a, 4);
		*lo = x;
		*hi = 0;
	} else {
		memcpy(lo, a, 8);
		memcpy(hi, a + 8, 8);
	}
}

/*
 * The key as six words built in registers, hashed from the registers and
 * stored whole. Filling the struct field by field and then reading it back
 * as words (or spilling a word array and reloading it 16 bytes at a time)
 * made every call wait for those narrow stores to reach the cache (a failed
 * store-to-load forward), behind any older store still missing in DRAM:
 * perf put a third of the worker's samples on that reload at 1M flows.
 */
static uint32_t key_of(struct conn_key *k, uint32_t eni, const struct vs_flow *f, bool reverse)
{
	bool v4 = f->family == 4;
	bool has_ports = f->proto == 6 || f->proto == 17 || f->proto == 132;
	uint64_t sp = has_ports ? (reverse ? f->dport : f->sport) : 0;
	uint64_t dp = has_ports ? (reverse ? f->sport : f->dport) : 0;
	uint64_t w0, w1, s0, s1, d0, d1;
	uint32_t h;
	char *o = (char *)k;

	_Static_assert(offsetof(struct conn_key, sport) == 6 && offsetof(struct conn_key, dport) == 8 &&
		       offsetof(struct conn_key, src) == 16 && offsetof(struct conn_key, dst) == 32,
		       "key_of() builds conn_key's layout in words");
	w0 = eni | (uint64_t)f->family << 32 | (uint64_t)f->proto << 40 | sp << 48;
	w1 = dp;
	addr_words(reverse ? f->dst : f->src, v4, &s0, &s1);
	addr_words(reverse ? f->src : f->dst, v4, &d0, &d1);
	h = rte_hash_crc_8byte(w0, 0);
	h = rte_hash_crc_8byte(w1, h);
	h = rte_hash_crc_8byte(s0, h);
	h = rte_hash_crc_8byte(s1, h);
	h = rte_hash_crc_8byte(d0, h);
	h = rte_hash_crc_8byte(d1, h);
	memcpy(o, &w0, 8);
	memcpy(o + 8, &w1, 8);
	memcpy(o + 16, &s0, 8);
	memcpy(o + 24, &s1, 8);
	memcpy(o + 32, &d0, 8);
	memcpy(o + 40, &d1, 8);
	return h;
}

static inline bool live(const struct vs_conn *ct, const struct conn_bucket *bk, int w,
			uint64_t now_ns)
{
	return bk->last_ns[w] != 0 && now_ns - bk->last_ns[w] <= ct->idle_ns;
}

/* The way holding k in its bucket, or -1; *victim = the way to reuse. */
static int find(const struct vs_conn *ct, const struct conn_key *k, uint32_t h, uint64_t now_ns,
		int *victim)
{
	const struct conn_bucket *bk = &ct->b[h & ct->mask];
	uint32_t base = (h & ct->mask) * WAYS;
	*victim = 0;
	for (int w = 0; w < WAYS; w++) {
		bool l = live(ct, bk, w, now_ns);
		if (l && bk->sig[w] == h && memcmp(&ct->keys[base + w].k, k, sizeof(*k)) == 0)
			return w;
		uint64_t lw = l ? bk->last_ns[w] : 0, lv = bk->last_ns[*victim];
		if (!live(ct, bk, *victim, now_ns))
			lv = 0;
		if (lw < lv)
			*victim = w;
	}
	return -1;
}

/*
 * Start loading the bucket an allowed packet will open or refresh, so the
 * miss overlaps the rte_acl classification that runs before it. Returns
 * the key's hash for vs_conn_open().
 */
uint32_t vs_conn_prefetch(const struct vs_conn *ct, uint32_t eni, const struct vs_flow *f)
{
	struct conn_key k;
	uint32_t h = key_of(&k, eni, f, false);
	rte_prefetch0(&ct->b[h & ct->mask]);
	return h;
}

void vs_conn_prefetch_key(const struct vs_conn *ct, uint32_t hash)
{
	const struct conn_bucket *bk = &ct->b[hash & ct->mask];
	uint32_t base = (hash & ct->mask) * WAYS;
	for (int w = 0; w < WAYS; w++)
		if (bk->sig[w] == hash)
			rte_prefetch0(&ct->keys[base + (uint32_t)w]);
}

bool vs_conn_lookup_reverse(struct vs_conn *ct, uint32_t eni, const struct vs_flow *f,
			    uint64_t now_ns, uint32_t *rule_id, uint32_t **fl_hint)
{
	struct conn_key k;
	int victim;
	uint32_t h = key_of(&k, eni, f, true);
	int w = find(ct, &k, h, now_ns, &victim);
	if (w < 0)
		return false;
	struct conn_bucket *bk = &ct->b[h & ct->mask];
	bk->last_ns[w] = now_ns ? now_ns : 1;
	*rule_id = bk->rule[w];
	*fl_hint = &ct->keys[(h & ct->mask) * WAYS + (uint32_t)w].fl_hint[1];
	return true;
}

uint32_t *vs_conn_open(struct vs_conn *ct, uint32_t eni, const struct vs_flow *f, uint32_t hash,
		       uint32_t rule_id, uint64_t now_ns)
{
	struct conn_key k;
	int victim;
	key_of(&k, eni, f, false);
	int w = find(ct, &k, hash, now_ns, &victim);
	struct conn_bucket *bk = &ct->b[hash & ct->mask];
	struct conn_slot *slot = &ct->keys[(hash & ct->mask) * WAYS + (uint32_t)(w < 0 ? victim : w)];
	if (w < 0) {
		w = victim;
		slot->k = k;
		slot->fl_hint[0] = 0;
		slot->fl_hint[1] = 0;
		bk->sig[w] = hash;
	}
	bk->rule[w] = rule_id;
	bk->last_ns[w] = now_ns ? now_ns : 1;
	return &slot->fl_hint[0];
}

uint32_t vs_conn_count(const struct vs_conn *ct, uint64_t now_ns)
{
	uint32_t n = 0;
	for (uint32_t b = 0; b <= ct->mask; b++)
		for (int w = 0; w < WAYS; w++)
			n += live(ct, &ct->b[b], w, now_ns);
	return n;
}
