/*
 * vs_conn.c - the per-lcore connection table that makes security groups
 * stateful: a packet a security group allowed at an ENI opens an entry,
 * and the reverse packet at the same ENI finds it.
 *
 * Owned by one lcore, so plain loads and stores. 4-way set-associative
 * buckets of fixed size: nothing is allocated after creation, a lookup
 * touches one bucket, and a full bucket gives up its least recently used
 * entry (an evicted connection must be re-opened by a rule, which is the
 * safe direction to fail in). ICMP and other port-less protocols are keyed
 * without ports, so an echo reply matches its request.
 */
#include <errno.h>
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
	uint8_t pad[2];
	uint8_t src[16], dst[16];
};

struct conn_entry {
	struct conn_key k;
	uint32_t rule_id;
	uint64_t last_ns; /* 0 = empty */
};

struct vs_conn {
	uint32_t mask; /* buckets - 1 */
	uint64_t idle_ns;
	struct conn_entry (*b)[WAYS];
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
	if (ct->b == NULL) {
		rte_free(ct);
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
	rte_free(ct->b);
	rte_free(ct);
}

static void key_of(struct conn_key *k, uint32_t eni, const struct vs_flow *f, bool reverse)
{
	size_t alen = f->family == 4 ? 4 : 16;
	memset(k, 0, sizeof(*k));
	k->eni = eni;
	k->family = f->family;
	k->proto = f->proto;
	bool has_ports = f->proto == 6 || f->proto == 17 || f->proto == 132;
	k->sport = has_ports ? (reverse ? f->dport : f->sport) : 0;
	k->dport = has_ports ? (reverse ? f->sport : f->dport) : 0;
	memcpy(k->src, reverse ? f->dst : f->src, alen);
	memcpy(k->dst, reverse ? f->src : f->dst, alen);
}

static struct conn_entry *find(struct vs_conn *ct, const struct conn_key *k, uint32_t hash,
			       uint64_t now_ns, struct conn_entry **victim)
{
	struct conn_entry *bk = ct->b[hash & ct->mask];
	*victim = &bk[0];
	for (int w = 0; w < WAYS; w++) {
		struct conn_entry *e = &bk[w];
		bool live = e->last_ns != 0 && now_ns - e->last_ns <= ct->idle_ns;
		if (live && memcmp(&e->k, k, sizeof(*k)) == 0)
			return e;
		if (!live)
			e->last_ns = 0;
		if (e->last_ns < (*victim)->last_ns)
			*victim = e;
	}
	return NULL;
}


/*
 * Start loading the bucket an allowed packet will open or refresh, so the
 * miss overlaps the rte_acl classification that runs before it. Returns
 * the key's hash for vs_conn_open().
 */
uint32_t vs_conn_prefetch(const struct vs_conn *ct, uint32_t eni, const struct vs_flow *f)
{
	struct conn_key k;
	key_of(&k, eni, f, false);
	uint32_t h = rte_hash_crc(&k, sizeof(k), 0);
	const struct conn_entry *bk = ct->b[h & ct->mask];
	rte_prefetch0(bk);
	rte_prefetch0((const char *)bk + RTE_CACHE_LINE_SIZE);
	rte_prefetch0((const char *)bk + 2 * RTE_CACHE_LINE_SIZE);
	rte_prefetch0((const char *)bk + 3 * RTE_CACHE_LINE_SIZE);
	return h;
}

bool vs_conn_lookup_reverse(struct vs_conn *ct, uint32_t eni, const struct vs_flow *f,
			    uint64_t now_ns, uint32_t *rule_id)
{
	struct conn_key k;
	struct conn_entry *victim, *e;
	key_of(&k, eni, f, true);
	e = find(ct, &k, rte_hash_crc(&k, sizeof(k), 0), now_ns, &victim);
	if (e == NULL)
		return false;
	e->last_ns = now_ns ? now_ns : 1;
	*rule_id = e->rule_id;
	return true;
}

void vs_conn_open(struct vs_conn *ct, uint32_t eni, const struct vs_flow *f, uint32_t hash,
		  uint32_t rule_id, uint64_t now_ns)
{
	struct conn_key k;
	struct conn_entry *victim, *e;
	key_of(&k, eni, f, false);
	e = find(ct, &k, hash, now_ns, &victim);
	if (e == NULL) {
		e = victim;
		e->k = k;
	}
	e->rule_id = rule_id;
	e->last_ns = now_ns ? now_ns : 1;
}

uint32_t vs_conn_count(const struct vs_conn *ct, uint64_t now_ns)
{
	uint32_t n = 0;
	for (uint32_t b = 0; b <= ct->mask; b++)
		for (int w = 0; w < WAYS; w++)
			n += ct->b[b][w].last_ns != 0 && now_ns - ct->b[b][w].last_ns <= ct->idle_ns;
	return n;
}
