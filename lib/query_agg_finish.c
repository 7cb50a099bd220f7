/*
 * query_agg_finish.c - turning groups into a result: rates, ordering,
 * top-N (per time bucket for time series) and the typed result table.
 *
 * Keys render as the filter language spells them (names, addresses,
 * protocol names), so a row can be pasted back into a --filter.
 */
#include "query.h"
#include "query_agg_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
	case QRY_AGG_REJECTED: return (double)g->rejected;
	case QRY_AGG_PEAK_BPS: return (double)g->peak_bytes * 8.0 / ((double)a->peak_ns / 1e9);
	case QRY_AGG_PEAK_PPS: return (double)g->peak_packets / ((double)a->peak_ns / 1e9);
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
		if (k <= QRY_KEY_ACCOUNT || k == QRY_KEY_TAG)
			c = strcmp(a->names[key_num(px, 4)], a->names[key_num(py, 4)]);
		else if (k == QRY_KEY_SRC || k == QRY_KEY_DST || k == QRY_KEY_PEER || k == QRY_KEY_LOCAL)
			c = memcmp(px, py, 17);
		else {
			uint64_t vx = key_num(px, qa_key_size[k]), vy = key_num(py, qa_key_size[k]);
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
		c->u = key_num(p, qa_key_size[k]);
		return 0;
	}
	switch (k) {
	case QRY_KEY_ENI: case QRY_KEY_VPC: case QRY_KEY_SUBNET: case QRY_KEY_ACCOUNT:
	case QRY_KEY_TAG:
		s = a->names[key_num(p, 4)];
		break;
	case QRY_KEY_SRC: case QRY_KEY_DST: case QRY_KEY_PEER: case QRY_KEY_LOCAL:
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
		names[n] = qa_key_names[a->spec.keys[i]];
		types[n++] = key_type(a->spec.keys[i]);
	}
	for (unsigned i = 0; i < a->spec.n_aggs; i++) {
		enum qry_agg g = a->spec.aggs[i];
		names[n] = qa_agg_names[g];
		types[n++] = g == QRY_AGG_BPS || g == QRY_AGG_PPS || g == QRY_AGG_PEAK_BPS ||
					     g == QRY_AGG_PEAK_PPS
				     ? QRY_COL_F64
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
		else if (ag == QRY_AGG_REJECTED)
			row[c].u = a->groups[g].rejected;
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
	for (uint64_t i = 0; i < a->cap_peak; i++) {
		const struct pentry *e = &a->peak[i];
		if (e->group == UINT32_MAX)
			continue;
		struct group *g = &a->groups[e->group];
		if (e->bytes > g->peak_bytes)
			g->peak_bytes = e->bytes;
		if (e->packets > g->peak_packets)
			g->peak_packets = e->packets;
	}
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
