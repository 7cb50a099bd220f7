/*
 * vs_conn.c - the per-lcore connection table that makes security groups
 * stateful: a packet a security group allowed at an ENI opens an entry,
 * and the reverse packet at the same ENI finds it.
 *
 * Owned by one lcore, so plain loads and stores. 4-way set-associative
 * with a second-choice bucket: a bucket is one cache line of hash
 * signatures, rule ids and last-seen times, and the keys live in a
 * separate array of one-line slots touched only on a signature match, so
 * a probe costs one line (prefetched before classification) plus one for
 * the hit. A connection whose first bucket is full goes to a second bucket
 * picked by other bits of its hash (loaded only when the first has no
 * signature match), so a table a third full keeps its live connections:
 * with one bucket, 6.5% of 1.5M connections in 1M buckets fell in buckets
 * of five or more and evicted each other on every round. The hit's line
 * also holds the flow-log plugin's cells or hints for the connection
 * (fl_pkt_meta.cell, .flow_hint), so the plugin finds its flow without a
 * search of its own. Nothing is allocated after creation; when both
 * buckets are full the least recently used entry of the two is given up
 * (an evicted connection must be re-opened by a rule, which is the safe
 * direction to fail in). ICMP and other port-less protocols are keyed
 * without ports, so a reply matches its request.
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

/* A connection's key as words: [0] eni | family | proto | sport, [1] dport,
 * then the addresses: IPv4 in one word (src | dst << 32), IPv6 in four. */
struct conn_key {
	uint64_t w[6];
};

/*
 * A connection: its key and, in the same cache line (which the lookup has
 * just compared), the flow-log plugin's state for its two directions at
 * this ENI, [0] the direction that opened it and [1] replies. An IPv4
 * connection's key takes three words and leaves room for two plugin cells
 * (fl_pkt_meta.cell: the plugin counts the packet in this line and reads
 * no other); an IPv6 one takes six and leaves two hint words
 * (fl_pkt_meta.flow_hint).
 */
struct conn_slot {
	uint64_t kw[3];
	union {
		struct fl_cell cell[2];
		struct {
			uint64_t kw[3];
			uint32_t fl_hint[2];
		} v6;
	} u;
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
	struct fl_worker *fl;   /* owner of the slots' cells; NULL: none handed out */
	uint64_t recycled_busy; /* now_ns of the last reuse of a slot stamped at its now_ns */
	struct conn_bucket *b;
	struct conn_slot *keys; /* [bucket * WAYS + way] */
};

struct vs_conn *vs_conn_create(const char *name, uint32_t entries, uint64_t idle_ns,
			       struct fl_worker *fl, int socket)
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
	ct->fl = fl;
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

/*
 * The key as words built in registers, hashed from the registers and
 * stored whole. Filling the struct field by field and then reading it back
 * as words (or spilling a word array and reloading it 16 bytes at a time)
 * made every call wait for those narrow stores to reach the cache (a failed
 * store-to-load forward), behind any older store still missing in DRAM:
 * perf put a third of the worker's samples on that reload at 1M flows.
 */
static uint32_t key_of(struct conn_key *k, uint32_t eni, const struct vs_flow *f, bool reverse)
{
	bool has_ports = f->proto == 6 || f->proto == 17 || f->proto == 132;
	uint64_t sp = has_ports ? (reverse ? f->dport : f->sport) : 0;
	uint64_t dp = has_ports ? (reverse ? f->sport : f->dport) : 0;
	const uint8_t *src = reverse ? f->dst : f->src, *dst = reverse ? f->src : f->dst;
	uint64_t w0 = eni | (uint64_t)f->family << 32 | (uint64_t)f->proto << 40 | sp << 48;
	uint32_t h = rte_hash_crc_8byte(w0, 0);

	h = rte_hash_crc_8byte(dp, h);
	k->w[0] = w0;
	k->w[1] = dp;
	if (f->family == 4) {
		uint32_t s4, d4;
		memcpy(&s4, src, 4);
		memcpy(&d4, dst, 4);
		k->w[2] = s4 | (uint64_t)d4 << 32;
		k->w[3] = k->w[4] = k->w[5] = 0;
		return rte_hash_crc_8byte(k->w[2], h);
	}
	uint64_t a[4];
	memcpy(a, src, 16);
	memcpy(a + 2, dst, 16);
	for (int i = 0; i < 4; i++) {
		h = rte_hash_crc_8byte(a[i], h);
		k->w[2 + i] = a[i];
	}
	return h;
}

static inline bool key_is_v4(uint64_t w0)
{
	return ((w0 >> 32) & 0xff) == 4;
}

static inline bool slot_holds(const struct conn_slot *s, const struct conn_key *k)
{
	if (((s->kw[0] ^ k->w[0]) | (s->kw[1] ^ k->w[1]) | (s->kw[2] ^ k->w[2])) != 0)
		return false;
	return key_is_v4(k->w[0]) || ((s->u.v6.kw[0] ^ k->w[3]) | (s->u.v6.kw[1] ^ k->w[4]) |
				      (s->u.v6.kw[2] ^ k->w[5])) == 0;
}

/* Where the plugin keeps direction dir of the connection in s. */
static inline void hand_out(const struct vs_conn *ct, struct conn_slot *s, int dir,
			    struct vs_verdict *v)
{
	if (key_is_v4(s->kw[0])) {
		v->flow_cell = ct->fl != NULL ? &s->u.cell[dir] : NULL;
		v->flow_hint = NULL;
	} else {
		v->flow_cell = NULL;
		v->flow_hint = &s->u.v6.fl_hint[dir];
	}
}

/* Take slot s, last stamped at stamp, from its connection: its cells go
 * back to the plugin. A slot stamped in this very call may have handed its
 * cells to a crossing of this batch: vs_conn_recycled_busy() tells the
 * caller. */
static void slot_take(struct vs_conn *ct, struct conn_slot *s, uint64_t stamp, uint64_t now_ns)
{
	if (key_is_v4(s->kw[0]) && ct->fl != NULL) {
		fl_dp_cell_release(ct->fl, &s->u.cell[0]);
		fl_dp_cell_release(ct->fl, &s->u.cell[1]);
	}
	if (stamp == (now_ns ? now_ns : 1))
		ct->recycled_busy = now_ns ? now_ns : 1;
}

/* Give slot s, last stamped at stamp, to key k. */
static void slot_reuse(struct vs_conn *ct, struct conn_slot *s, const struct conn_key *k,
		       uint64_t stamp, uint64_t now_ns)
{
	slot_take(ct, s, stamp, now_ns);
	memset(&s->u, 0, sizeof(s->u));
	memcpy(s->kw, k->w, sizeof(s->kw));
	if (!key_is_v4(k->w[0]))
		memcpy(s->u.v6.kw, &k->w[3], sizeof(s->u.v6.kw));
}

bool vs_conn_recycled_busy(const struct vs_conn *ct, uint64_t now_ns)
{
	return ct->recycled_busy == (now_ns ? now_ns : 1);
}

static inline bool live(const struct vs_conn *ct, const struct conn_bucket *bk, int w,
			uint64_t now_ns)
{
	return bk->last_ns[w] != 0 && now_ns - bk->last_ns[w] <= ct->idle_ns;
}

static inline uint32_t alt_bucket(const struct vs_conn *ct, uint32_t h)
{
	return (((h >> 16) | (h << 16)) * 0x9e3779b1u) & ct->mask;
}

/* The way holding k in bucket b, or -1; *victim = the way to reuse. */
static int find(const struct vs_conn *ct, const struct conn_key *k, uint32_t h, uint32_t b,
		uint64_t now_ns, int *victim)
{
	const struct conn_bucket *bk = &ct->b[b];
	uint32_t base = b * WAYS;
	*victim = 0;
	for (int w = 0; w < WAYS; w++) {
		bool l = live(ct, bk, w, now_ns);
		if (l && bk->sig[w] == h && slot_holds(&ct->keys[base + w], k))
			return w;
		uint64_t lw = l ? bk->last_ns[w] : 0, lv = bk->last_ns[*victim];
		if (!live(ct, bk, *victim, now_ns))
			lv = 0;
		if (lw < lv)
			*victim = w;
	}
	return -1;
}

/* Last use of way w of bucket b, 0 if it is free or idle. */
static inline uint64_t age_of(const struct vs_conn *ct, uint32_t b, int w, uint64_t now_ns)
{
	return live(ct, &ct->b[b], w, now_ns) ? ct->b[b].last_ns[w] : 0;
}

/*
 * Free a way of full bucket b by moving one of its connections to that
 * connection's other bucket, if that has a free or idle way. Returns the
 * freed way, or -1. Rare (both of a new connection's buckets full), so it
 * may read a few more lines.
 */
static int displace(struct vs_conn *ct, uint32_t b, uint64_t now_ns)
{
	struct conn_bucket *bk = &ct->b[b];

	for (int w = 0; w < WAYS; w++) {
		uint32_t h = bk->sig[w];
		uint32_t o = (h & ct->mask) == b ? alt_bucket(ct, h) : h & ct->mask;
		struct conn_bucket *ob = &ct->b[o];
		if (o == b)
			continue;
		for (int x = 0; x < WAYS; x++) {
			if (live(ct, ob, x, now_ns))
				continue;
			struct conn_slot *from = &ct->keys[b * WAYS + (uint32_t)w];
			struct conn_slot *to = &ct->keys[o * WAYS + (uint32_t)x];
			/* the plugin's cells live in the slot: they go back
			 * before it moves (a hint word may move: it is checked) */
			slot_take(ct, to, ob->last_ns[x], now_ns);
			slot_take(ct, from, bk->last_ns[w], now_ns);
			*to = *from;
			ob->sig[x] = h;
			ob->rule[x] = bk->rule[w];
			ob->last_ns[x] = bk->last_ns[w];
			bk->last_ns[w] = 0;
			return w;
		}
	}
	return -1;
}

/*
 * Where k lives: its bucket and way, true. Else false, with v1 and v2 the
 * ways of its first and second bucket a new entry could take.
 */
static bool locate(const struct vs_conn *ct, const struct conn_key *k, uint32_t h,
		   uint64_t now_ns, uint32_t *b, int *w, int *v1, int *v2)
{
	*b = h & ct->mask;
	*w = find(ct, k, h, *b, now_ns, v1);
	if (*w >= 0)
		return true;
	*b = alt_bucket(ct, h);
	*w = find(ct, k, h, *b, now_ns, v2);
	return *w >= 0;
}

/*
 * The bucket and way a new entry of hash h takes (v1, v2 from locate()): a
 * free or idle way of the first bucket, else of the second, else one freed
 * by moving a connection of either to its other bucket, else the least
 * recently used of the two.
 */
static void place(struct vs_conn *ct, uint32_t h, int v1, int v2, uint64_t now_ns, uint32_t *b,
		  int *w)
{
	uint32_t b1 = h & ct->mask, b2 = alt_bucket(ct, h);
	uint64_t a1 = age_of(ct, b1, v1, now_ns), a2 = age_of(ct, b2, v2, now_ns);

	if (a1 != 0 && a2 != 0) {
		int f = displace(ct, b1, now_ns);
		*b = b1;
		if (f < 0) {
			f = displace(ct, b2, now_ns);
			*b = b2;
		}
		if (f >= 0) {
			*w = f;
			return;
		}
	}
	if (a1 == 0 || a1 <= a2) {
		*b = b1;
		*w = v1;
	} else {
		*b = b2;
		*w = v2;
	}
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
	bool any = false;
	for (int w = 0; w < WAYS; w++)
		if (bk->sig[w] == hash) {
			rte_prefetch0(&ct->keys[base + (uint32_t)w]);
			any = true;
		}
	if (!any)
		rte_prefetch0(&ct->b[alt_bucket(ct, hash)]);
}

bool vs_conn_lookup_reverse(struct vs_conn *ct, uint32_t eni, const struct vs_flow *f,
			    uint64_t now_ns, uint32_t *rule_id, struct vs_verdict *v)
{
	struct conn_key k;
	uint32_t b;
	int w, v1, v2;
	uint32_t h = key_of(&k, eni, f, true);
	if (!locate(ct, &k, h, now_ns, &b, &w, &v1, &v2))
		return false;
	struct conn_bucket *bk = &ct->b[b];
	bk->last_ns[w] = now_ns ? now_ns : 1;
	*rule_id = bk->rule[w];
	hand_out(ct, &ct->keys[b * WAYS + (uint32_t)w], 1, v);
	return true;
}

void vs_conn_open(struct vs_conn *ct, uint32_t eni, const struct vs_flow *f, uint32_t hash,
		  uint32_t rule_id, uint64_t now_ns, struct vs_verdict *v)
{
	struct conn_key k;
	uint32_t b;
	int w, v1, v2;
	key_of(&k, eni, f, false);
	bool found = locate(ct, &k, hash, now_ns, &b, &w, &v1, &v2);
	if (!found)
		place(ct, hash, v1, v2, now_ns, &b, &w);
	struct conn_bucket *bk = &ct->b[b];
	struct conn_slot *slot = &ct->keys[b * WAYS + (uint32_t)w];
	if (!found) {
		slot_reuse(ct, slot, &k, bk->last_ns[w], now_ns);
		bk->sig[w] = hash;
	}
	bk->rule[w] = rule_id;
	bk->last_ns[w] = now_ns ? now_ns : 1;
	hand_out(ct, slot, 0, v);
}

uint32_t vs_conn_count(const struct vs_conn *ct, uint64_t now_ns)
{
	uint32_t n = 0;
	for (uint32_t b = 0; b <= ct->mask; b++)
		for (int w = 0; w < WAYS; w++)
			n += live(ct, &ct->b[b], w, now_ns);
	return n;
}
