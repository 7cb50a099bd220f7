/*
 * vs_policy.c - security groups and network ACLs compiled to rte_acl, the
 * per-lcore connection table that makes security groups stateful, and the
 * small header parser that feeds both.
 *
 * Keys are built in network byte order as rte_acl expects (rules are in
 * host order). The scope field (ACL index or ENI index) lets one context
 * hold every ACL, or every ENI's security groups, of one IP version and one
 * direction: 8 contexts in all, so a burst costs at most 8 classify calls.
 * The connection table is a 4-way set-associative array owned by one lcore:
 * no locks, no allocation after creation, LRU replacement in a full bucket.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <rte_acl.h>
#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include "record.h"
#include "vs_policy_internal.h"

/* Key layouts: the first field must be one byte, the others come in 4-byte groups. */
struct vs_key4 {
	uint8_t proto;
	uint8_t pad[3];
	uint32_t scope;
	uint32_t ip;
	uint16_t sport, dport;
};

struct vs_key6 {
	uint8_t proto;
	uint8_t pad[3];
	uint32_t scope;
	uint32_t ip[4];
	uint16_t sport, dport;
};

#define N_FIELDS4 5
#define N_FIELDS6 8
RTE_ACL_RULE_DEF(vs_acl_rule, N_FIELDS6);

enum { F_PROTO, F_SCOPE, F_IP };
enum { CTX_ACL, CTX_SG };

/* What a matched rule means: rte_acl returns index+1 of this table. */
struct rule_meta {
	uint32_t rule_id;
	uint8_t allow;
};

struct vs_ctx {
	struct rte_acl_ctx *acl; /* NULL: no rule, nothing matches */
	struct rule_meta *meta;
	uint32_t n;
};

struct vs_policy {
	const struct vs_config *cfg;
	struct vs_ctx ctx[2][2][VS_DIR_MAX]; /* [layer][v6][dir] */
};

static void field_defs(struct rte_acl_config *bc, int v6)
{
	struct rte_acl_field_def *d = bc->defs;
	uint8_t n = 0, in = 1;
	d[n] = (struct rte_acl_field_def){.type = RTE_ACL_FIELD_TYPE_BITMASK, .size = 1,
		.field_index = F_PROTO, .input_index = 0, .offset = 0};
	n++;
	d[n] = (struct rte_acl_field_def){.type = RTE_ACL_FIELD_TYPE_MASK, .size = 4,
		.field_index = F_SCOPE, .input_index = in++, .offset = 4};
	n++;
	for (int i = 0; i < (v6 ? 4 : 1); i++, n++)
		d[n] = (struct rte_acl_field_def){.type = RTE_ACL_FIELD_TYPE_MASK, .size = 4,
			.field_index = n, .input_index = in++, .offset = (uint32_t)(8 + 4 * i)};
	uint32_t po = v6 ? offsetof(struct vs_key6, sport) : offsetof(struct vs_key4, sport);
	/* Both ports share one 4-byte input group. */
	for (int i = 0; i < 2; i++, n++)
		d[n] = (struct rte_acl_field_def){.type = RTE_ACL_FIELD_TYPE_RANGE, .size = 2,
			.field_index = n, .input_index = in, .offset = po + 2 * (uint32_t)i};
	bc->num_fields = n;
	bc->num_categories = 1;
}

static void rule_fill(struct vs_acl_rule *ar, const struct vs_rule *r, uint32_t scope, int v6,
		      uint32_t prio, uint32_t userdata)
{
	memset(ar, 0, sizeof(*ar));
	ar->data.category_mask = 1;
	ar->data.priority = (int32_t)prio;
	ar->data.userdata = userdata;
	ar->field[F_PROTO].value.u8 = r->proto == VS_PROTO_ANY ? 0 : (uint8_t)r->proto;
	ar->field[F_PROTO].mask_range.u8 = r->proto == VS_PROTO_ANY ? 0 : 0xff;
	ar->field[F_SCOPE].value.u32 = scope;
	ar->field[F_SCOPE].mask_range.u32 = 32;
	int words = v6 ? 4 : 1;
	for (int i = 0; i < words; i++) {
		uint32_t w;
		memcpy(&w, r->cidr.addr + 4 * i, 4);
		int len = (int)r->cidr.len - 32 * i;
		ar->field[F_IP + i].value.u32 = rte_be_to_cpu_32(w);
		ar->field[F_IP + i].mask_range.u32 = (uint32_t)(len < 0 ? 0 : len > 32 ? 32 : len);
	}
	ar->field[F_IP + words].value.u16 = 0; /* source port: any */
	ar->field[F_IP + words].mask_range.u16 = 65535;
	ar->field[F_IP + words + 1].value.u16 = r->port_lo;
	ar->field[F_IP + words + 1].mask_range.u16 = r->port_hi;
}

/* Add one rule set to a context being filled, scoped to one ACL or ENI. */
static int ctx_add(struct vs_ctx *c, struct rte_acl_ctx *acl, const struct vs_rule_set *rs,
		   uint32_t scope, int v6, bool by_number, uint32_t *pos)
{
	struct vs_acl_rule ar;
	for (uint32_t i = 0; i < rs->n; i++) {
		const struct vs_rule *r = &rs->r[i];
		if (r->cidr.family != (v6 ? 6 : 4))
			continue;
		/* ACL: the lowest number wins; SG: every rule allows, first listed reported. */
		uint32_t prio = RTE_ACL_MAX_PRIORITY - (by_number ? r->id : (*pos)++);
		c->meta[c->n] = (struct rule_meta){.rule_id = r->id, .allow = r->allow};
		rule_fill(&ar, r, scope, v6, prio, c->n + 1);
		int rc = rte_acl_add_rules(acl, (const struct rte_acl_rule *)&ar, 1);
		if (rc != 0)
			return rc;
		c->n++;
	}
	return 0;
}

static uint32_t count_rules(const struct vs_config *cfg, int layer)
{
	uint32_t n = 0;
	if (layer == CTX_ACL)
		for (uint32_t a = 0; a < cfg->n_acls; a++)
			n += cfg->acls[a].dir[0].n + cfg->acls[a].dir[1].n;
	else
		for (uint32_t e = 0; e < cfg->n_enis; e++)
			for (uint32_t k = 0; k < cfg->enis[e].n_sgs; k++) {
				const struct vs_sg *sg = &cfg->sgs[cfg->enis[e].sg[k]];
				n += sg->dir[0].n + sg->dir[1].n;
			}
	return n;
}

static int ctx_build(struct vs_policy *p, int layer, int v6, int dir, int socket, char *err)
{
	static uint32_t seq;
	const struct vs_config *cfg = p->cfg;
	struct vs_ctx *c = &p->ctx[layer][v6][dir];
	uint32_t max = count_rules(cfg, layer) + 1, pos = 0;
	char name[RTE_ACL_NAMESIZE];
	int rc = 0;

	c->meta = rte_zmalloc_socket("vs_rule_meta", sizeof(*c->meta) * max, 0, socket);
	snprintf(name, sizeof(name), "vs%u_%d%d%d", __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED),
		 layer, v6, dir);
	struct rte_acl_param ap = {.name = name, .socket_id = socket,
		.rule_size = RTE_ACL_RULE_SZ(v6 ? N_FIELDS6 : N_FIELDS4), .max_rule_num = max};
	struct rte_acl_ctx *acl = c->meta ? rte_acl_create(&ap) : NULL;
	if (acl == NULL) {
		snprintf(err, VS_ERR_LEN, "rte_acl_create %s: %s", name, rte_strerror(rte_errno));
		return -ENOMEM;
	}
	if (layer == CTX_ACL)
		for (uint32_t a = 0; a < cfg->n_acls && rc == 0; a++)
			rc = ctx_add(c, acl, &cfg->acls[a].dir[dir], a, v6, true, &pos);
	else
		for (uint32_t e = 0; e < cfg->n_enis && rc == 0; e++)
			for (uint32_t k = 0; k < cfg->enis[e].n_sgs && rc == 0; k++)
				rc = ctx_add(c, acl, &cfg->sgs[cfg->enis[e].sg[k]].dir[dir], e, v6,
					     false, &pos);
	if (rc == 0 && c->n > 0) {
		struct rte_acl_config bc;
		memset(&bc, 0, sizeof(bc));
		field_defs(&bc, v6);
		rc = rte_acl_build(acl, &bc);
	}
	if (rc != 0 || c->n == 0) {
		rte_acl_free(acl);
		if (rc != 0) {
			snprintf(err, VS_ERR_LEN, "compiling %s rules (IPv%d, %s): %s",
				 layer == CTX_ACL ? "network ACL" : "security group", v6 ? 6 : 4,
				 dir == VS_DIR_INGRESS ? "ingress" : "egress", strerror(-rc));
			return rc;
		}
		return 0;
	}
	c->acl = acl;
	return 0;
}

struct vs_policy *vs_policy_create(const struct vs_config *cfg, int socket_id, char *err)
{
	struct vs_policy *p = rte_zmalloc_socket("vs_policy", sizeof(*p), 0, socket_id);
	if (p == NULL) {
		snprintf(err, VS_ERR_LEN, "out of memory for the policy");
		rte_errno = ENOMEM;
		return NULL;
	}
	p->cfg = cfg;
	for (int l = 0; l < 2; l++)
		for (int v6 = 0; v6 < 2; v6++)
			for (int d = 0; d < VS_DIR_MAX; d++)
				if (ctx_build(p, l, v6, d, socket_id, err) != 0) {
					vs_policy_destroy(p);
					rte_errno = EINVAL;
					return NULL;
				}
	return p;
}

void vs_policy_destroy(struct vs_policy *p)
{
	if (p == NULL)
		return;
	for (int l = 0; l < 2; l++)
		for (int v6 = 0; v6 < 2; v6++)
			for (int d = 0; d < VS_DIR_MAX; d++) {
				rte_acl_free(p->ctx[l][v6][d].acl);
				rte_free(p->ctx[l][v6][d].meta);
			}
	rte_free(p);
}

/* Key of one crossing for a context; the remote address is the peer's. */
union vs_key {
	struct vs_key4 k4;
	struct vs_key6 k6;
};

static void key_make(union vs_key *k, const struct vs_check *c, uint32_t scope)
{
	const struct vs_flow *f = c->flow;
	const uint8_t *remote = c->dir == VS_DIR_INGRESS ? f->src : f->dst;
	memset(k, 0, sizeof(*k));
	if (f->family == 4) {
		k->k4.proto = f->proto;
		k->k4.scope = rte_cpu_to_be_32(scope);
		memcpy(&k->k4.ip, remote, 4);
		k->k4.sport = rte_cpu_to_be_16(f->sport);
		k->k4.dport = rte_cpu_to_be_16(f->dport);
	} else {
		k->k6.proto = f->proto;
		k->k6.scope = rte_cpu_to_be_32(scope);
		memcpy(k->k6.ip, remote, 16);
		k->k6.sport = rte_cpu_to_be_16(f->sport);
		k->k6.dport = rte_cpu_to_be_16(f->dport);
	}
}

/*
 * Classify every IP check of one layer: res[i] = 1-based rule_meta index
 * in the context of check i, 0 for no match. want[i] false skips check i.
 */
static void classify_layer(const struct vs_policy *p, int layer, const struct vs_check *c,
			   uint16_t n, const bool *want, uint32_t *res)
{
	union vs_key keys[VS_CHECK_BURST];
	const uint8_t *data[VS_CHECK_BURST];
	uint32_t out[VS_CHECK_BURST];
	uint16_t idx[VS_CHECK_BURST];

	for (int v6 = 0; v6 < 2; v6++)
		for (int d = 0; d < VS_DIR_MAX; d++) {
			const struct vs_ctx *ctx = &p->ctx[layer][v6][d];
			uint32_t m = 0;
			for (uint16_t i = 0; i < n; i++) {
				if (!want[i] || c[i].dir != d || c[i].flow->family != (v6 ? 6 : 4))
					continue;
				if (ctx->acl == NULL) {
					res[i] = 0;
					continue;
				}
				const struct vs_eni *e = &p->cfg->enis[c[i].eni];
				key_make(&keys[m], &c[i], layer == CTX_ACL ? (uint32_t)e->acl : c[i].eni);
				data[m] = (const uint8_t *)&keys[m];
				idx[m++] = i;
			}
			if (m == 0)
				continue;
			rte_acl_classify(ctx->acl, data, out, m, 1);
			for (uint32_t j = 0; j < m; j++)
				res[idx[j]] = out[j];
		}
}


static void sg_decide(const struct vs_policy *p, struct vs_conn *ct, const struct vs_check *c,
		      uint32_t hit, uint32_t hash, struct vs_verdict *v, uint64_t now_ns)
{
	const struct vs_ctx *ctx = &p->ctx[CTX_SG][c->flow->family == 6][c->dir];
	uint32_t rule;
	v->layer = REC_LAYER_SG;
	if (hit != 0) {
		v->verdict = REC_VERDICT_ACCEPT;
		v->rule_id = ctx->meta[hit - 1].rule_id;
		vs_conn_open(ct, c->eni, c->flow, hash, v->rule_id, now_ns, v);
	} else if (vs_conn_lookup_reverse(ct, c->eni, c->flow, now_ns, &rule, v)) {
		v->verdict = REC_VERDICT_ACCEPT;
		v->rule_id = rule;
	} else {
		v->verdict = REC_VERDICT_REJECT;
		v->rule_id = 0;
	}
}

/* IP, and not neighbour discovery: what the ACL and the SGs decide. */
static inline bool policed(const struct vs_flow *f)
{
	return f->family != 0 && !f->nd;
}

void vs_policy_check(const struct vs_policy *p, struct vs_conn *ct, const struct vs_check *c,
		     uint16_t n, struct vs_verdict *out, uint64_t now_ns)
{
	uint32_t acl_res[VS_CHECK_BURST], sg_res[VS_CHECK_BURST], hash[VS_CHECK_BURST];
	bool want[VS_CHECK_BURST] = {false};

	for (uint16_t i = 0; i < n; i++) {
		want[i] = policed(c[i].flow) && p->cfg->enis[c[i].eni].acl >= 0;
		if (policed(c[i].flow))
			hash[i] = vs_conn_prefetch(ct, c[i].eni, c[i].flow);
		out[i] = (struct vs_verdict){.verdict = REC_VERDICT_ACCEPT, .layer = REC_LAYER_NONE};
	}
	classify_layer(p, CTX_ACL, c, n, want, acl_res);
	for (uint16_t i = 0; i < n; i++) {
		if (!want[i]) {
			want[i] = policed(c[i].flow);
			continue;
		}
		const struct vs_ctx *ctx = &p->ctx[CTX_ACL][c[i].flow->family == 6][c[i].dir];
		uint32_t hit = acl_res[i];
		if (hit == 0 || !ctx->meta[hit - 1].allow) {
			out[i] = (struct vs_verdict){.verdict = REC_VERDICT_REJECT,
				.layer = REC_LAYER_ACL, .rule_id = hit ? ctx->meta[hit - 1].rule_id : 0};
			want[i] = false;
		}
	}
	/* The buckets prefetched above have arrived during the ACL lookup: start
	 * loading the matching keys now, so they arrive during the SG lookup
	 * (at 1M flows that key compare was the worker's top DRAM stall). */
	for (uint16_t i = 0; i < n; i++)
		if (want[i])
			vs_conn_prefetch_key(ct, hash[i]);
	classify_layer(p, CTX_SG, c, n, want, sg_res);
	for (uint16_t i = 0; i < n; i++)
		if (want[i])
			sg_decide(p, ct, &c[i], sg_res[i], hash[i], &out[i], now_ns);
	/* Full buckets gave up or moved a connection this batch had used (a
	 * burst opening more connections in two buckets than they have ways):
	 * its cells now belong to another connection. Rare; the plugin then
	 * looks these flows up instead. */
	if (unlikely(vs_conn_recycled_busy(ct, now_ns)))
		for (uint16_t i = 0; i < n; i++)
			out[i].flow_cell = NULL;
}

/*
 * Follow the IPv6 extension headers from offset off (next header nh) to the
 * upper-layer protocol, so that a rule for "icmpv6" or "tcp" matches an MLD
 * report behind a hop-by-hop header or the first fragment of a TCP segment
 * as it does for IPv4, and the switch decides on the protocol the flow
 * record reports (the plugin's parser follows as many headers: the
 * fuzz_vs_parse target checks that the two agree). Non-first fragments: the
 * real protocol, no ports (IPv4 likewise). A chain longer than VS_MAX_EXT or
 * cut short stops there.
 */
#define VS_MAX_EXT 8
static uint32_t ipv6_walk(const uint8_t *b, uint32_t len, uint32_t off, uint8_t nh,
			  uint8_t *proto, bool *ports)
{
	*ports = false;
	for (int i = 0; i <= VS_MAX_EXT; i++) {
		uint32_t hl;
		bool ext = nh == 0 || nh == 43 || nh == 44 || nh == 60 || nh == 51;
		if (!ext) {
			*proto = nh;
			*ports = true;
			return off;
		}
		if (i == VS_MAX_EXT)
			break;
		if (nh == 44) { /* fragment */
			if (len < off + 8)
				break;
			if (((b[off + 2] << 8 | b[off + 3]) & 0xfff8) != 0) {
				nh = b[off]; /* non-first fragment */
				break;
			}
			hl = 8;
		} else {
			if (len < off + 2)
				break;
			hl = nh == 51 ? (b[off + 1] + 2u) * 4 : (b[off + 1] + 1u) * 8;
		}
		if (len < off + hl)
			break;
		nh = b[off];
		off += hl;
	}
	*proto = nh;
	*ports = false;
	return off;
}

void vs_flow_parse(const uint8_t *b, uint32_t len, struct vs_flow *f)
{
	uint32_t off = 14, l4 = 0;
	uint16_t et;
	bool ports = false;

	memset(f, 0, sizeof(*f));
	if (len < 14)
		return;
	et = (uint16_t)(b[12] << 8 | b[13]);
	if (et == 0x8100 && len >= 18) { /* one VLAN tag */
		et = (uint16_t)(b[16] << 8 | b[17]);
		off = 18;
	}
	if (et == 0x0800 && len >= off + 20 && (b[off] >> 4) == 4) {
		uint32_t ihl = (uint32_t)(b[off] & 0xf) * 4;
		if (ihl < 20 || len < off + ihl)
			return;
		f->family = 4;
		f->proto = b[off + 9];
		memcpy(f->src, b + off + 12, 4);
		memcpy(f->dst, b + off + 16, 4);
		ports = ((b[off + 6] & 0x1f) | b[off + 7]) == 0; /* first fragment only */
		l4 = off + ihl;
	} else if (et == 0x86dd && len >= off + 40 && (b[off] >> 4) == 6) {
		f->family = 6;
		memcpy(f->src, b + off + 8, 16);
		memcpy(f->dst, b + off + 24, 16);
		l4 = ipv6_walk(b, len, off + 40, b[off + 6], &f->proto, &ports);
	} else {
		return;
	}
	/* Neighbour discovery: hop limit 255 proves it never left the link. */
	if (f->family == 6 && f->proto == 58 && ports && len > l4 && b[l4] >= 133 && b[l4] <= 137 &&
	    b[off + 7] == 255)
		f->nd = 1;
	if (ports && (f->proto == 6 || f->proto == 17 || f->proto == 132) && len >= l4 + 4) {
		f->sport = (uint16_t)(b[l4] << 8 | b[l4 + 1]);
		f->dport = (uint16_t)(b[l4 + 2] << 8 | b[l4 + 3]);
	}
}
