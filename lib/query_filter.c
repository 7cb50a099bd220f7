/*
 * query_filter.c - filter expressions: lexer, recursive-descent parser and
 * the evaluator of the compiled node tree.
 *
 * Design: the expression is compiled once into an array of small nodes
 * (query_filter_internal.h); values are resolved at compile time (protocol
 * names, CIDRs to masked 64-bit halves, lists to sorted ranges), so matching
 * a record is a short recursive walk with no allocation and no string work.
 * ENI/VPC/subnet names are resolved per segment by qry_filter_bind(), which
 * turns each name node into a sorted set of the segment's ENI indexes.
 * Grammar and field list: docs/query.md.
 */
#include "query.h"
#include "query_filter_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ field table */

enum qf_vkind {
	VK_NUM,      /* plain number */
	VK_SIZE,     /* number with k/M/G (decimal) or Ki/Mi/Gi suffix */
	VK_DURATION, /* ns; units ns/us/ms/s/m/h/d, bare = seconds */
	VK_PROTO, VK_ACTION, VK_DIR, VK_LAYER, VK_L2, VK_KIND, VK_FLAGS, VK_END,
	VK_ADDR,     /* IP or CIDR */
	VK_NAME,     /* ENI dictionary text (eni also takes an index) */
};

struct qf_field_desc {
	const char *name;
	uint8_t field;
	uint8_t vkind;
};

static const struct qf_field_desc fields[] = {
	{"eni", QF_F_ENI, VK_NAME}, {"vpc", QF_F_VPC, VK_NAME},
	{"subnet", QF_F_SUBNET, VK_NAME}, {"account", QF_F_ACCOUNT, VK_NAME},
	{"src", QF_F_SRC, VK_ADDR}, {"dst", QF_F_DST, VK_ADDR},
	{"addr", QF_F_ADDR, VK_ADDR}, {"host", QF_F_ADDR, VK_ADDR},
	{"sport", QF_F_SPORT, VK_NUM}, {"dport", QF_F_DPORT, VK_NUM},
	{"port", QF_F_PORT, VK_NUM}, {"proto", QF_F_PROTO, VK_PROTO},
	{"action", QF_F_ACTION, VK_ACTION}, {"verdict", QF_F_ACTION, VK_ACTION},
	{"direction", QF_F_DIRECTION, VK_DIR}, {"dir", QF_F_DIRECTION, VK_DIR},
	{"rule", QF_F_RULE, VK_NUM}, {"layer", QF_F_LAYER, VK_LAYER},
	{"tcpflags", QF_F_TCPFLAGS, VK_FLAGS}, {"flags", QF_F_TCPFLAGS, VK_FLAGS},
	{"l2", QF_F_L2, VK_L2}, {"kind", QF_F_KIND, VK_KIND},
	{"packets", QF_F_PACKETS, VK_SIZE}, {"bytes", QF_F_BYTES, VK_SIZE},
	{"duration", QF_F_DURATION, VK_DURATION}, {"ipver", QF_F_IPVER, VK_NUM},
	{"ethertype", QF_F_ETHERTYPE, VK_NUM}, {"end", QF_F_END, VK_END},
	{"sample", QF_F_SAMPLE, VK_NUM}, {"fragments", QF_F_FRAGMENTS, VK_NUM},
};

struct qf_sym {
	const char *name;
	uint64_t v;
};

static const struct qf_sym action_syms[] = {{"accept", 0}, {"reject", 1}, {NULL, 0}};
static const struct qf_sym dir_syms[] = {
	{"ingress", 0}, {"in", 0}, {"egress", 1}, {"out", 1}, {NULL, 0}};
static const struct qf_sym layer_syms[] = {
	{"none", 0}, {"sg", 1}, {"security-group", 1}, {"acl", 2}, {"nacl", 2}, {NULL, 0}};
static const struct qf_sym l2_syms[] = {
	{"ucast", 0}, {"unicast", 0}, {"bcast", 1}, {"broadcast", 1},
	{"mcast", 2}, {"multicast", 2}, {NULL, 0}};
static const struct qf_sym kind_syms[] = {
	{"flow", 0}, {"loss", 1}, {"nodata", 2}, {"no-data", 2}, {NULL, 0}};
static const struct qf_sym flag_syms[] = {
	{"fin", 0x01}, {"syn", 0x02}, {"rst", 0x04}, {"psh", 0x08}, {"ack", 0x10},
	{"urg", 0x20}, {"ece", 0x40}, {"cwr", 0x80}, {NULL, 0}};
static const struct qf_sym end_syms[] = {
	{"idle", 0}, {"active", 1}, {"tcp-close", 2}, {"cache-pressure", 3},
	{"shutdown", 4}, {"ring-full", 16}, {"writer", 17}, {"recovery", 18},
	{"exporter", 19}, {NULL, 0}};

/* ------------------------------------------------------------------ lexer */

enum tok_type {
	T_END, T_LPAREN, T_RPAREN, T_LBRACE, T_RBRACE, T_COMMA, T_CMP,
	T_AND, T_OR, T_NOT, T_IN, T_HAS, T_WORD, T_BAD,
};

struct tok {
	enum tok_type type;
	int col;         /* 1-based */
	uint8_t cmp;     /* T_CMP */
	char text[128];  /* T_WORD */
};

struct parser {
	const char *src;
	size_t pos;
	struct tok tok;
	struct qry_filter *f;
	struct qry_err *err;
	int depth;
	bool failed;
};

static bool is_word_char(int c)
{
	return isalnum(c) || c == '_' || c == '.' || c == ':' || c == '/' || c == '-' ||
	       c == '+' || c == '*';
}

/* Fill err once: "column N: what", then the expression and a caret. */
static void fail_at(struct parser *p, int col, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (!p->err)
		return;
	p->err->column = col;
	snprintf(p->err->msg, sizeof(p->err->msg), "column %d: %s\n  %.*s\n  %*s^", col, what,
		 (int)(sizeof(p->err->msg) / 2), p->src, col - 1, "");
}

/* A word (field, value, keyword) starting at src[start]. */
static void lex_word(struct parser *p, size_t start)
{
	const char *s = p->src;
	struct tok *t = &p->tok;
	size_t len;

	while (is_word_char((unsigned char)s[p->pos]))
		p->pos++;
	len = p->pos - start;
	if (len >= sizeof(t->text)) {
		fail_at(p, t->col, "word too long (%zu characters, at most %zu)", len,
			sizeof(t->text) - 1);
		t->type = T_BAD;
		return;
	}
	memcpy(t->text, s + start, len);
	t->text[len] = '\0';
	t->type = T_WORD;
	if (!strcasecmp(t->text, "and"))
		t->type = T_AND;
	else if (!strcasecmp(t->text, "or"))
		t->type = T_OR;
	else if (!strcasecmp(t->text, "not"))
		t->type = T_NOT;
	else if (!strcasecmp(t->text, "in"))
		t->type = T_IN;
	else if (!strcasecmp(t->text, "has"))
		t->type = T_HAS;
}

static void next(struct parser *p)
{
	const char *s = p->src;
	struct tok *t = &p->tok;

	while (s[p->pos] && isspace((unsigned char)s[p->pos]))
		p->pos++;
	t->col = (int)p->pos + 1;
	t->text[0] = '\0';
	char c = s[p->pos];
	char c2 = c ? s[p->pos + 1] : '\0';
	if (!c) {
		t->type = T_END;
		return;
	}
	p->pos++;
	switch (c) {
	case '(': t->type = T_LPAREN; return;
	case ')': t->type = T_RPAREN; return;
	case '{': t->type = T_LBRACE; return;
	case '}': t->type = T_RBRACE; return;
	case ',': t->type = T_COMMA; return;
	case '&':
	case '|':
		if (c2 != c)
			break;
		p->pos++;
		t->type = c == '&' ? T_AND : T_OR;
		return;
	case '=':
		if (c2 == '=')
			p->pos++;
		t->type = T_CMP, t->cmp = QF_EQ;
		return;
	case '!':
		if (c2 == '=') {
			p->pos++;
			t->type = T_CMP, t->cmp = QF_NE;
		} else {
			t->type = T_NOT;
		}
		return;
	case '<':
	case '>':
		t->type = T_CMP;
		t->cmp = c == '<' ? QF_LT : QF_GT;
		if (c2 == '=') {
			p->pos++;
			t->cmp = c == '<' ? QF_LE : QF_GE;
		}
		return;
	default:
		if (is_word_char((unsigned char)c)) {
			lex_word(p, p->pos - 1);
			return;
		}
	}
	t->type = T_BAD;
	fail_at(p, t->col, "unexpected character '%c'", c);
}

/* ------------------------------------------------------------ node pools */

static uint32_t add_node(struct parser *p, uint8_t op, uint8_t field, uint8_t cmp, uint32_t a,
			 uint32_t b, uint64_t v)
{
	struct qry_filter *f = p->f;

	if (f->n_nodes >= QF_MAX_NODES) {
		fail_at(p, p->tok.col, "expression too complex (more than %d terms); use lists: x in {a, b}",
			QF_MAX_NODES);
		return 0;
	}
	if (GROW(f->nodes, f->n_nodes, f->cap_nodes)) {
		fail_at(p, p->tok.col, "out of memory");
		return 0;
	}
	f->nodes[f->n_nodes] = (struct qf_node){.op = op, .field = field, .cmp = cmp,
						.a = a, .b = b, .v = v};
	return f->n_nodes++;
}

/* ----------------------------------------------------------- value parse */

static int lookup_sym(const struct qf_sym *t, const char *w, uint64_t *v)
{
	for (; t->name; t++)
		if (!strcasecmp(t->name, w)) {
			*v = t->v;
			return 0;
		}
	return -1;
}

static int parse_u64(const char *w, uint64_t *v, const char **end)
{
	char *e;

	if (!isdigit((unsigned char)w[0]))
		return -1;
	errno = 0;
	*v = strtoull(w, &e, 0);
	if (errno)
		return -1;
	*end = e;
	return 0;
}

static int parse_plain(const char *w, uint64_t *v)
{
	const char *e;

	return parse_u64(w, v, &e) || *e ? -1 : 0;
}

static int parse_size(const char *w, uint64_t *v)
{
	static const struct qf_sym mult[] = {
		{"", 1}, {"k", 1000}, {"K", 1000}, {"M", 1000000}, {"G", 1000000000ull},
		{"T", 1000000000000ull}, {"Ki", 1ull << 10}, {"Mi", 1ull << 20},
		{"Gi", 1ull << 30}, {"Ti", 1ull << 40}, {NULL, 0}};
	const char *e;

	if (parse_u64(w, v, &e))
		return -1;
	for (const struct qf_sym *m = mult; m->name; m++)
		if (!strcmp(m->name, e)) {
			if (*v > UINT64_MAX / m->v)
				return -1;
			*v *= m->v;
			return 0;
		}
	return -1;
}

static int parse_flags(const char *w, uint64_t *v)
{
	/* A number, or flag names joined by '+': "syn+ack". */
	char buf[128], *save = NULL;
	uint64_t acc = 0, one;

	if (isdigit((unsigned char)w[0]))
		return parse_plain(w, v) || *v > 255 ? -1 : 0;
	snprintf(buf, sizeof(buf), "%s", w);
	for (char *s = strtok_r(buf, "+", &save); s; s = strtok_r(NULL, "+", &save)) {
		if (lookup_sym(flag_syms, s, &one))
			return -1;
		acc |= one;
	}
	*v = acc;
	return acc ? 0 : -1;
}

static int parse_proto(const char *w, uint64_t *v)
{
	if (isdigit((unsigned char)w[0]))
		return parse_plain(w, v) || *v > 255 ? -1 : 0;
	for (unsigned i = 0; i < 256; i++) {
		const char *n = rec_proto_name((uint8_t)i);
		if (n && !strcasecmp(n, w)) {
			*v = i;
			return 0;
		}
	}
	return -1;
}

/* A scalar value of field kind vk; hint names what was expected on error. */
static int parse_scalar(uint8_t vk, const char *w, uint64_t *v, const char **hint)
{
	const struct qf_sym *syms = NULL;

	switch (vk) {
	case VK_NUM: *hint = "a number"; return parse_plain(w, v);
	case VK_SIZE: *hint = "a number (suffix k, M, G, Ki, Mi, Gi allowed)"; return parse_size(w, v);
	case VK_DURATION:
		*hint = "a duration (e.g. 500ms, 10s, 5m)";
		return qry_parse_duration(w, v) ? -1 : 0;
	case VK_PROTO: *hint = "a protocol name or number"; return parse_proto(w, v);
	case VK_FLAGS: *hint = "TCP flags (syn, ack, syn+ack, ...) or a number"; return parse_flags(w, v);
	case VK_ACTION: syms = action_syms; *hint = "accept or reject"; break;
	case VK_DIR: syms = dir_syms; *hint = "ingress or egress"; break;
	case VK_LAYER: syms = layer_syms; *hint = "none, sg or acl"; break;
	case VK_L2: syms = l2_syms; *hint = "ucast, bcast or mcast"; break;
	case VK_KIND: syms = kind_syms; *hint = "flow, loss or nodata"; break;
	case VK_END: syms = end_syms; *hint = "an end reason (idle, active, tcp-close, ...)"; break;
	default: *hint = "a value"; return -1;
	}
	if (!lookup_sym(syms, w, v))
		return 0;
	return parse_plain(w, v);
}

static void mask_bytes(const uint8_t *addr, unsigned bits, struct qf_prefix *pf)
{
	uint8_t a[16] = {0}, m[16] = {0};

	for (unsigned i = 0; i < 16; i++) {
		unsigned take = bits >= 8 ? 8 : bits;
		m[i] = take ? (uint8_t)(0xff00u >> take) : 0;
		a[i] = addr[i] & m[i];
		bits -= take;
	}
	memcpy(pf->addr, a, 16);
	memcpy(pf->mask, m, 16);
}

/* "10.0.0.0/8", "2001:db8::/32", "10.1.2.3". */
static int parse_prefix(const char *w, struct qf_prefix *pf)
{
	char buf[128];
	uint8_t addr[16] = {0};
	unsigned bits;
	char *slash;

	snprintf(buf, sizeof(buf), "%s", w);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1) {
		pf->ipver = 4;
		bits = 32;
	} else if (inet_pton(AF_INET6, buf, addr) == 1) {
		pf->ipver = 6;
		bits = 128;
	} else {
		return -1;
	}
	if (slash) {
		uint64_t b;
		if (parse_plain(slash + 1, &b) || b > bits)
			return -1;
		bits = (unsigned)b;
	}
	mask_bytes(addr, bits, pf);
	return 0;
}

/* ------------------------------------------------------------------ parser */

static uint32_t parse_or(struct parser *p);

static const struct qf_field_desc *find_field(const char *w)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (!strcasecmp(fields[i].name, w))
			return &fields[i];
	return NULL;
}

static int add_range(struct parser *p, uint64_t lo, uint64_t hi)
{
	struct qry_filter *f = p->f;

	if (GROW(f->ranges, f->n_ranges, f->cap_ranges))
		return -ENOMEM;
	f->ranges[f->n_ranges++] = (struct qf_range){lo, hi};
	return 0;
}

/* One set item for a numeric field: a value or "lo..hi". */
static int parse_num_item(struct parser *p, const struct qf_field_desc *fd)
{
	const char *hint;
	char lo_s[128];
	uint64_t lo, hi;
	char *dots = strstr(p->tok.text, "..");
	int col = p->tok.col;

	snprintf(lo_s, sizeof(lo_s), "%s", p->tok.text);
	if (dots)
		lo_s[dots - p->tok.text] = '\0';
	if (parse_scalar(fd->vkind, lo_s, &lo, &hint)) {
		fail_at(p, col, "%s: expected %s, got '%s'", fd->name, hint, lo_s);
		return -1;
	}
	hi = lo;
	if (dots && parse_scalar(fd->vkind, dots + 2, &hi, &hint)) {
		fail_at(p, col + (int)(dots + 2 - p->tok.text), "%s: range end: expected %s, got '%s'",
			fd->name, hint, dots + 2);
		return -1;
	}
	if (hi < lo) {
		fail_at(p, col, "%s: empty range %s (end before start)", fd->name, p->tok.text);
		return -1;
	}
	if (add_range(p, lo, hi)) {
		fail_at(p, col, "out of memory");
		return -1;
	}
	return 0;
}

static int parse_addr_item(struct parser *p, const struct qf_field_desc *fd)
{
	struct qry_filter *f = p->f;
	struct qf_prefix pf;

	if (parse_prefix(p->tok.text, &pf)) {
		fail_at(p, p->tok.col, "%s: expected an IPv4/IPv6 address or CIDR, got '%s'", fd->name,
			p->tok.text);
		return -1;
	}
	if (GROW(f->prefixes, f->n_prefixes, f->cap_prefixes)) {
		fail_at(p, p->tok.col, "out of memory");
		return -1;
	}
	f->prefixes[f->n_prefixes++] = pf;
	return 0;
}

static int parse_name_item(struct parser *p, const struct qf_field_desc *fd)
{
	struct qry_filter *f = p->f;
	struct qf_name nm = {.field = fd->field};
	uint64_t v;

	if (strlen(p->tok.text) >= sizeof(nm.text)) {
		fail_at(p, p->tok.col, "%s: name too long", fd->name);
		return -1;
	}
	if (fd->field == QF_F_ENI && !parse_plain(p->tok.text, &v)) {
		if (v > UINT32_MAX) {
			fail_at(p, p->tok.col, "eni: index %s out of range", p->tok.text);
			return -1;
		}
		nm.is_index = true;
		nm.index = (uint32_t)v;
	}
	snprintf(nm.text, sizeof(nm.text), "%s", p->tok.text);
	if (GROW(f->names, f->n_names, f->cap_names)) {
		fail_at(p, p->tok.col, "out of memory");
		return -1;
	}
	f->names[f->n_names++] = nm;
	return 0;
}

static int parse_item(struct parser *p, const struct qf_field_desc *fd)
{
	if (p->tok.type != T_WORD) {
		fail_at(p, p->tok.col, "%s: expected a value", fd->name);
		return -1;
	}
	int rc = fd->vkind == VK_ADDR ? parse_addr_item(p, fd)
		 : fd->vkind == VK_NAME ? parse_name_item(p, fd)
					: parse_num_item(p, fd);
	if (!rc)
		next(p);
	return rc;
}

static int cmp_range(const void *x, const void *y)
{
	const struct qf_range *a = x, *b = y;

	return a->lo < b->lo ? -1 : a->lo > b->lo;
}

/* Sort and merge the ranges [first, n) so evaluation can binary-search. */
static uint32_t normalise_ranges(struct qry_filter *f, uint32_t first)
{
	struct qf_range *r = f->ranges + first;
	uint32_t n = f->n_ranges - first, out = 0;

	if (n)
		qsort(r, n, sizeof(*r), cmp_range);
	for (uint32_t i = 0; i < n; i++) {
		if (out && (r[i].lo <= r[out - 1].hi || r[i].lo == r[out - 1].hi + 1)) {
			if (r[i].hi > r[out - 1].hi)
				r[out - 1].hi = r[i].hi;
		} else {
			r[out++] = r[i];
		}
	}
	f->n_ranges = first + out;
	return out;
}

/* "in" set: one item, or "{ item, item, ... }". Emits the set node. */
static uint32_t parse_set(struct parser *p, const struct qf_field_desc *fd)
{
	struct qry_filter *f = p->f;
	uint32_t first = fd->vkind == VK_ADDR ? f->n_prefixes
			 : fd->vkind == VK_NAME ? f->n_names
						: f->n_ranges;
	bool braced = p->tok.type == T_LBRACE;

	if (braced) {
		next(p);
		if (p->tok.type == T_RBRACE) {
			fail_at(p, p->tok.col, "%s: empty list", fd->name);
			return 0;
		}
		for (;;) {
			if (parse_item(p, fd))
				return 0;
			if (p->tok.type == T_RBRACE)
				break;
			if (p->tok.type != T_COMMA) {
				fail_at(p, p->tok.col, "%s: expected ',' or '}' in list", fd->name);
				return 0;
			}
			next(p);
		}
		next(p);
	} else if (parse_item(p, fd)) {
		return 0;
	}
	if (fd->vkind == VK_ADDR)
		return add_node(p, QF_PREFIXES, fd->field, 0, first, f->n_prefixes - first, 0);
	if (fd->vkind == VK_NAME) {
		f->uses_eni = true;
		return add_node(p, QF_NAMES, fd->field, 0, first, f->n_names - first, f->n_bound++);
	}
	uint32_t n = normalise_ranges(f, first);
	return add_node(p, QF_RANGES, fd->field, 0, first, n, 0);
}

/* tcpflags has FLAGS */
static uint32_t parse_has(struct parser *p, const struct qf_field_desc *fd)
{
	const char *hint;
	uint64_t v;

	if (fd->field != QF_F_TCPFLAGS) {
		fail_at(p, p->tok.col, "'has' applies to tcpflags only");
		return 0;
	}
	next(p);
	if (p->tok.type != T_WORD || parse_scalar(VK_FLAGS, p->tok.text, &v, &hint)) {
		fail_at(p, p->tok.col, "tcpflags has: expected %s", "syn, ack, syn+ack, ...");
		return 0;
	}
	next(p);
	return add_node(p, QF_HAS, fd->field, 0, 0, 0, v);
}

/* field < | <= | > | >= value (numeric fields only). */
static uint32_t parse_order_cmp(struct parser *p, const struct qf_field_desc *fd, uint8_t cmp,
				int ccol)
{
	const char *hint;
	uint64_t v;

	if (fd->vkind == VK_ADDR || fd->vkind == VK_NAME) {
		fail_at(p, ccol, "%s: only =, != and in apply", fd->name);
		return 0;
	}
	if (p->tok.type != T_WORD || parse_scalar(fd->vkind, p->tok.text, &v, &hint)) {
		fail_at(p, p->tok.col, "%s: expected %s", fd->name, p->tok.type == T_WORD ? hint : "a value");
		return 0;
	}
	next(p);
	return add_node(p, QF_CMP, fd->field, cmp, 0, 0, v);
}

/* field (= | != | < | ...) value | field [not] in set | tcpflags has flags */
static uint32_t parse_comparison(struct parser *p)
{
	const struct qf_field_desc *fd;
	int col = p->tok.col;
	uint32_t n;

	if (p->tok.type != T_WORD) {
		fail_at(p, col, "expected a field name, 'not' or '('");
		return 0;
	}
	fd = find_field(p->tok.text);
	if (!fd) {
		fail_at(p, col, "unknown field '%s'", p->tok.text);
		return 0;
	}
	next(p);
	if (p->tok.type == T_HAS)
		return parse_has(p, fd);
	bool negate = false;
	if (p->tok.type == T_NOT) {
		negate = true;
		next(p);
		if (p->tok.type != T_IN) {
			fail_at(p, p->tok.col, "expected 'in' after 'not'");
			return 0;
		}
	}
	if (p->tok.type == T_IN) {
		next(p);
		n = parse_set(p, fd);
	} else if (p->tok.type == T_CMP) {
		uint8_t cmp = p->tok.cmp;
		int ccol = p->tok.col;
		next(p);
		if (cmp == QF_NE)
			negate = true;
		if (cmp == QF_EQ || cmp == QF_NE) {
			if (p->tok.type == T_LBRACE) {
				fail_at(p, p->tok.col, "use 'in' with a list");
				return 0;
			}
			n = parse_set(p, fd);
		} else {
			n = parse_order_cmp(p, fd, cmp, ccol);
		}
	} else {
		fail_at(p, p->tok.col, "expected a comparison (=, !=, <, <=, >, >=, in) after '%s'",
			fd->name);
		return 0;
	}
	if (negate && !p->failed)
		n = add_node(p, QF_NOT, 0, 0, n, 0, 0);
	return n;
}

static uint32_t parse_unary(struct parser *p)
{
	if (p->failed)
		return 0;
	if (p->tok.type == T_NOT) {
		next(p);
		uint32_t c = parse_unary(p);
		return p->failed ? 0 : add_node(p, QF_NOT, 0, 0, c, 0, 0);
	}
	if (p->tok.type == T_LPAREN) {
		int col = p->tok.col;
		if (++p->depth > 64) {
			fail_at(p, col, "parentheses nested too deep");
			return 0;
		}
		next(p);
		uint32_t c = parse_or(p);
		if (p->failed)
			return 0;
		if (p->tok.type != T_RPAREN) {
			fail_at(p, p->tok.col, "expected ')' to close '(' at column %d", col);
			return 0;
		}
		p->depth--;
		next(p);
		return c;
	}
	return parse_comparison(p);
}

static uint32_t parse_and(struct parser *p)
{
	uint32_t l = parse_unary(p);

	while (!p->failed && p->tok.type == T_AND) {
		next(p);
		uint32_t r = parse_unary(p);
		if (p->failed)
			return 0;
		l = add_node(p, QF_AND, 0, 0, l, r, 0);
	}
	return l;
}

static uint32_t parse_or(struct parser *p)
{
	uint32_t l = parse_and(p);

	while (!p->failed && p->tok.type == T_OR) {
		next(p);
		uint32_t r = parse_and(p);
		if (p->failed)
			return 0;
		l = add_node(p, QF_OR, 0, 0, l, r, 0);
	}
	return l;
}

void qry_filter_destroy(struct qry_filter *f)
{
	if (!f)
		return;
	for (uint32_t i = 0; f->bound && i < f->n_bound; i++)
		free(f->bound[i].idx);
	free(f->bound);
	free(f->nodes);
	free(f->ranges);
	free(f->prefixes);
	free(f->names);
	free(f->scratch);
	free(f->vals);
	free(f);
}

struct qry_filter *qry_filter_compile(const char *expr, struct qry_err *err)
{
	struct qry_filter *f = calloc(1, sizeof(*f));
	struct parser p = {.src = expr ? expr : "", .f = f, .err = err};

	if (err) {
		err->column = 0;
		err->msg[0] = '\0';
	}
	if (!f)
		return NULL;
	next(&p);
	if (p.tok.type == T_END) {
		f->root = add_node(&p, QF_TRUE, 0, 0, 0, 0, 0);
	} else {
		f->root = parse_or(&p);
		if (!p.failed && p.tok.type != T_END)
			fail_at(&p, p.tok.col, "expected 'and', 'or' or the end of the expression");
	}
	if (!p.failed) {
		/* scratch lists for the inner nodes only; node.v is the slot */
		uint32_t inner = 0;
		for (uint32_t i = 0; i < f->n_nodes; i++)
			if (f->nodes[i].op == QF_AND || f->nodes[i].op == QF_OR || f->nodes[i].op == QF_NOT)
				f->nodes[i].v = inner++;
		f->scratch = malloc(((size_t)inner * 3 + 1) * QF_CHUNK * sizeof(*f->scratch));
		f->vals = malloc(2 * QF_CHUNK * sizeof(*f->vals));
		if (!f->scratch || !f->vals)
			fail_at(&p, 1, "out of memory");
	}
	if (!p.failed && f->n_bound) {
		f->bound = calloc(f->n_bound, sizeof(*f->bound));
		if (!f->bound)
			fail_at(&p, 1, "out of memory");
	}
	if (p.failed) {
		qry_filter_destroy(f);
		errno = EINVAL;
		return NULL;
	}
	return f;
}
