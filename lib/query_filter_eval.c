/*
 * query_filter_eval.c - running a compiled filter: binding ENI names to a
 * segment's dictionary, matching one record, matching a burst, and the
 * three-valued ENI evaluation used for index skipping.
 *
 * Design: the burst evaluator works column-at-a-time on lists of record
 * indexes (a vectorised interpreter): each node is dispatched once per
 * burst, a leaf extracts its field into a value array in one loop and
 * compares in a second, AND narrows the list for its right side, OR
 * evaluates its right side only on what the left rejected. No allocation:
 * scratch lists are sized per inner node at compile time.
 */
#include "query.h"
#include "query_filter_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ bind */

static const char *dict_text(const struct seg_eni_info *e, uint8_t field)
{
	switch (field) {
	case QF_F_ENI: return e->eni_id;
	case QF_F_VPC: return e->vpc_id;
	case QF_F_SUBNET: return e->subnet_id;
	default: return e->account_id;
	}
}

static int bound_add(struct qf_bound *b, uint32_t idx)
{
	if (GROW(b->idx, b->n, b->cap))
		return -ENOMEM;
	b->idx[b->n++] = idx;
	return 0;
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

int qry_filter_bind(struct qry_filter *f, const struct seg_eni_info *enis, uint32_t n)
{
	for (uint32_t i = 0; i < f->n_nodes; i++) {
		const struct qf_node *nd = &f->nodes[i];
		if (nd->op != QF_NAMES)
			continue;
		struct qf_bound *b = &f->bound[nd->v];
		b->n = 0;
		for (uint32_t k = nd->a; k < nd->a + nd->b; k++) {
			const struct qf_name *nm = &f->names[k];
			if (nm->is_index) {
				if (bound_add(b, nm->index))
					return -ENOMEM;
				continue;
			}
			for (uint32_t e = 0; e < n; e++)
				if (!strcmp(dict_text(&enis[e], nm->field), nm->text) &&
				    bound_add(b, enis[e].index))
					return -ENOMEM;
		}
		if (b->n)
			qsort(b->idx, b->n, sizeof(*b->idx), cmp_u32);
	}
	return 0;
}

/* ------------------------------------------------------------------ match */

static inline uint64_t field_value(const struct rec_flow *r, uint8_t field)
{
	switch (field) {
	case QF_F_ENI: return r->eni;
	case QF_F_SPORT: return r->src_port;
	case QF_F_DPORT: return r->dst_port;
	case QF_F_PROTO: return r->protocol;
	case QF_F_ACTION: return r->verdict;
	case QF_F_DIRECTION: return r->direction;
	case QF_F_RULE: return r->rule_id;
	case QF_F_LAYER: return r->layer;
	case QF_F_TCPFLAGS: return r->tcp_flags;
	case QF_F_L2: return r->l2_class;
	case QF_F_KIND: return r->kind;
	case QF_F_PACKETS: return r->packets;
	case QF_F_BYTES: return r->bytes;
	case QF_F_DURATION: return r->last_ns - r->first_ns;
	case QF_F_IPVER: return r->ip_version;
	case QF_F_ETHERTYPE: return r->ethertype;
	case QF_F_END: return r->end_reason;
	case QF_F_SAMPLE: return r->sample_1_in_n;
	case QF_F_FRAGMENTS: return r->fragments;
	default: return 0;
	}
}

static inline bool cmp_value(uint64_t x, uint8_t cmp, uint64_t v)
{
	switch (cmp) {
	case QF_EQ: return x == v;
	case QF_NE: return x != v;
	case QF_LT: return x < v;
	case QF_LE: return x <= v;
	case QF_GT: return x > v;
	default: return x >= v;
	}
}

static inline bool in_ranges(const struct qf_range *r, uint32_t n, uint64_t x)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (x < r[mid].lo)
			hi = mid;
		else if (x > r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static inline bool in_prefixes(const struct qf_prefix *pf, uint32_t n, uint8_t ipver,
			       const uint8_t *addr)
{
	uint64_t a[2];

	memcpy(a, addr, 16);
	for (uint32_t i = 0; i < n; i++)
		if (pf[i].ipver == ipver && (a[0] & pf[i].mask[0]) == pf[i].addr[0] &&
		    (a[1] & pf[i].mask[1]) == pf[i].addr[1])
			return true;
	return false;
}

static inline bool in_bound(const struct qf_bound *b, uint32_t x)
{
	uint32_t lo = 0, hi = b->n;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (x < b->idx[mid])
			hi = mid;
		else if (x > b->idx[mid])
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static bool eval(const struct qry_filter *f, uint32_t i, const struct rec_flow *r)
{
	const struct qf_node *n = &f->nodes[i];

	switch (n->op) {
	case QF_TRUE: return true;
	case QF_AND: return eval(f, n->a, r) && eval(f, n->b, r);
	case QF_OR: return eval(f, n->a, r) || eval(f, n->b, r);
	case QF_NOT: return !eval(f, n->a, r);
	case QF_CMP:
		if (n->field == QF_F_PORT)
			return cmp_value(r->src_port, n->cmp, n->v) ||
			       cmp_value(r->dst_port, n->cmp, n->v);
		return cmp_value(field_value(r, n->field), n->cmp, n->v);
	case QF_RANGES:
		if (n->field == QF_F_PORT)
			return in_ranges(f->ranges + n->a, n->b, r->src_port) ||
			       in_ranges(f->ranges + n->a, n->b, r->dst_port);
		return in_ranges(f->ranges + n->a, n->b, field_value(r, n->field));
	case QF_PREFIXES: {
		const struct qf_prefix *pf = f->prefixes + n->a;
		if (n->field != QF_F_DST && in_prefixes(pf, n->b, r->ip_version, r->src_addr))
			return true;
		return n->field != QF_F_SRC && in_prefixes(pf, n->b, r->ip_version, r->dst_addr);
	}
	case QF_HAS: return (r->tcp_flags & n->v) == n->v;
	case QF_NAMES: return in_bound(&f->bound[n->v], r->eni);
	default: return false;
	}
}

bool qry_filter_match(const struct qry_filter *f, const struct rec_flow *r)
{
	return eval(f, f->root, r);
}

/* Three-valued evaluation knowing only the ENI: 0 false, 1 true, 2 unknown. */
static int eval_eni(const struct qry_filter *f, uint32_t i, uint32_t eni)
{
	const struct qf_node *n = &f->nodes[i];
	int a, b;

	switch (n->op) {
	case QF_TRUE: return 1;
	case QF_AND:
		a = eval_eni(f, n->a, eni);
		b = eval_eni(f, n->b, eni);
		return (a == 0 || b == 0) ? 0 : (a == 1 && b == 1) ? 1 : 2;
	case QF_OR:
		a = eval_eni(f, n->a, eni);
		b = eval_eni(f, n->b, eni);
		return (a == 1 || b == 1) ? 1 : (a == 0 && b == 0) ? 0 : 2;
	case QF_NOT:
		a = eval_eni(f, n->a, eni);
		return a == 2 ? 2 : !a;
	case QF_NAMES: return in_bound(&f->bound[n->v], eni);
	case QF_CMP:
		if (n->field == QF_F_ENI)
			return cmp_value(eni, n->cmp, n->v);
		return 2;
	case QF_RANGES:
		if (n->field == QF_F_ENI)
			return in_ranges(f->ranges + n->a, n->b, eni);
		return 2;
	default: return 2;
	}
}

bool qry_filter_eni_may_match(const struct qry_filter *f, uint32_t eni)
{
	return eval_eni(f, f->root, eni) != 0;
}

bool qry_filter_uses_eni(const struct qry_filter *f)
{
	if (f->uses_eni)
		return true;
	for (uint32_t i = 0; i < f->n_nodes; i++)
		if ((f->nodes[i].op == QF_CMP || f->nodes[i].op == QF_RANGES) &&
		    f->nodes[i].field == QF_F_ENI)
			return true;
	return false;
}

/* ------------------------------------------------------------------ burst */

/* out = a \ b (both ascending). */
static uint32_t minus(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb, uint32_t *out)
{
	uint32_t i = 0, j = 0, m = 0;

	for (; i < na; i++) {
		while (j < nb && b[j] < a[i])
			j++;
		if (j < nb && b[j] == a[i])
			continue;
		out[m++] = a[i];
	}
	return m;
}

/* out = a u b (disjoint, ascending). */
static uint32_t merge(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb, uint32_t *out)
{
	uint32_t i = 0, j = 0, m = 0;

	while (i < na && j < nb)
		out[m++] = a[i] < b[j] ? a[i++] : b[j++];
	while (i < na)
		out[m++] = a[i++];
	while (j < nb)
		out[m++] = b[j++];
	return m;
}

/* One loop per field so the switch is paid once per burst, not per record. */
#define EXTRACT(expr)                                              \
	do {                                                       \
		for (uint32_t k = 0; k < n; k++) {                 \
			const struct rec_flow *r = &recs[in[k]];   \
			v[k] = (expr);                             \
		}                                                  \
	} while (0)

static void extract(uint8_t field, const struct rec_flow *recs, const uint32_t *in, uint32_t n,
		    uint64_t *v)
{
	switch (field) {
	case QF_F_ENI: EXTRACT(r->eni); break;
	case QF_F_SPORT: EXTRACT(r->src_port); break;
	case QF_F_DPORT: EXTRACT(r->dst_port); break;
	case QF_F_PROTO: EXTRACT(r->protocol); break;
	case QF_F_ACTION: EXTRACT(r->verdict); break;
	case QF_F_DIRECTION: EXTRACT(r->direction); break;
	case QF_F_RULE: EXTRACT(r->rule_id); break;
	case QF_F_LAYER: EXTRACT(r->layer); break;
	case QF_F_TCPFLAGS: EXTRACT(r->tcp_flags); break;
	case QF_F_L2: EXTRACT(r->l2_class); break;
	case QF_F_KIND: EXTRACT(r->kind); break;
	case QF_F_PACKETS: EXTRACT(r->packets); break;
	case QF_F_BYTES: EXTRACT(r->bytes); break;
	case QF_F_DURATION: EXTRACT(r->last_ns - r->first_ns); break;
	case QF_F_IPVER: EXTRACT(r->ip_version); break;
	case QF_F_ETHERTYPE: EXTRACT(r->ethertype); break;
	case QF_F_END: EXTRACT(r->end_reason); break;
	case QF_F_SAMPLE: EXTRACT(r->sample_1_in_n); break;
	case QF_F_FRAGMENTS: EXTRACT(r->fragments); break;
	default: memset(v, 0, n * sizeof(*v)); break;
	}
}

#define KEEP(cond)                                   \
	do {                                         \
		for (uint32_t k = 0; k < n; k++) {   \
			out[m] = in[k];              \
			m += (cond);                 \
		}                                    \
	} while (0)

/* Numeric leaf over values v (and w for the other port of "port"). */
static uint32_t leaf_num(const struct qry_filter *f, const struct qf_node *nd, const uint64_t *v,
			 const uint64_t *w, const uint32_t *in, uint32_t n, uint32_t *out)
{
	uint32_t m = 0;
	uint64_t x = nd->v;

	if (nd->op == QF_HAS) {
		KEEP((v[k] & x) == x);
	} else if (nd->op == QF_RANGES) {
		const struct qf_range *r = f->ranges + nd->a;
		if (nd->b == 1 && !w) {
			KEEP(v[k] - r->lo <= r->hi - r->lo); /* one compare: unsigned wrap */
		} else if (nd->b <= 8 && !w) {
			/* small sets (port lists): branch-free linear test beats bsearch */
			for (uint32_t k = 0; k < n; k++) {
				bool hit = false;
				for (uint32_t j = 0; j < nd->b; j++)
					hit |= v[k] - r[j].lo <= r[j].hi - r[j].lo;
				out[m] = in[k];
				m += hit;
			}
		} else if (!w)
			KEEP(in_ranges(r, nd->b, v[k]));
		else
			KEEP(in_ranges(r, nd->b, v[k]) || in_ranges(r, nd->b, w[k]));
	} else if (w) {
		KEEP(cmp_value(v[k], nd->cmp, x) || cmp_value(w[k], nd->cmp, x));
	} else {
		switch (nd->cmp) {
		case QF_EQ: KEEP(v[k] == x); break;
		case QF_NE: KEEP(v[k] != x); break;
		case QF_LT: KEEP(v[k] < x); break;
		case QF_LE: KEEP(v[k] <= x); break;
		case QF_GT: KEEP(v[k] > x); break;
		default: KEEP(v[k] >= x); break;
		}
	}
	return m;
}

static uint32_t leaf(struct qry_filter *f, const struct qf_node *nd, const struct rec_flow *recs,
		     const uint32_t *in, uint32_t n, uint32_t *out)
{
	uint32_t m = 0;

	if (nd->op == QF_PREFIXES) {
		const struct qf_prefix *pf = f->prefixes + nd->a;
		for (uint32_t k = 0; k < n; k++) {
			const struct rec_flow *r = &recs[in[k]];
			out[m] = in[k];
			m += (nd->field != QF_F_DST && in_prefixes(pf, nd->b, r->ip_version, r->src_addr)) ||
			     (nd->field != QF_F_SRC && in_prefixes(pf, nd->b, r->ip_version, r->dst_addr));
		}
		return m;
	}
	if (nd->op == QF_NAMES) {
		const struct qf_bound *b = &f->bound[nd->v];
		if (b->n == 1)
			KEEP(recs[in[k]].eni == b->idx[0]);
		else
			KEEP(in_bound(b, recs[in[k]].eni));
		return m;
	}
	if (nd->field == QF_F_PORT) {
		extract(QF_F_SPORT, recs, in, n, f->vals);
		extract(QF_F_DPORT, recs, in, n, f->vals + QF_CHUNK);
		return leaf_num(f, nd, f->vals, f->vals + QF_CHUNK, in, n, out);
	}
	extract(nd->field, recs, in, n, f->vals);
	return leaf_num(f, nd, f->vals, NULL, in, n, out);
}

static uint32_t sel(struct qry_filter *f, uint32_t i, const struct rec_flow *recs,
		    const uint32_t *in, uint32_t n, uint32_t *out)
{
	const struct qf_node *nd = &f->nodes[i];
	uint32_t m, r;

	if (!n)
		return 0;
	if (nd->op == QF_TRUE) {
		memcpy(out, in, n * sizeof(*in));
		return n;
	}
	if (nd->op != QF_AND && nd->op != QF_OR && nd->op != QF_NOT)
		return leaf(f, nd, recs, in, n, out);
	/* v is the scratch slot of an inner node only; a leaf's v is its operand
	 * (up to 2^64 - 1), and even forming a pointer from it is undefined
	 * (found by fuzz_query_filter: "bytes > 5Ki and duration < 1.5w"). */
	uint32_t *t0 = f->scratch + (size_t)nd->v * 3 * QF_CHUNK, *t1 = t0 + QF_CHUNK, *t2 = t1 + QF_CHUNK;
	switch (nd->op) {
	case QF_AND:
		m = sel(f, nd->a, recs, in, n, t0);
		return sel(f, nd->b, recs, t0, m, out);
	case QF_OR:
		m = sel(f, nd->a, recs, in, n, t0);
		r = minus(in, n, t0, m, t1);
		r = sel(f, nd->b, recs, t1, r, t2);
		return merge(t0, m, t2, r, out);
	default: /* QF_NOT */
		m = sel(f, nd->a, recs, in, n, t0);
		return minus(in, n, t0, m, out);
	}
}

size_t qry_filter_select(struct qry_filter *f, const struct rec_flow *recs, const uint32_t *in,
			 size_t n, uint32_t *out)
{
	if (n > QF_CHUNK)
		n = QF_CHUNK;
	return sel(f, f->root, recs, in, (uint32_t)n, out);
}
