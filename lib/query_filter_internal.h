/*
 * query_filter_internal.h - the compiled filter program (query_filter.c
 * only). The filter is a tree of nodes in one array; children are array
 * indexes. Value sets (ranges, prefixes, ENI names) live in side pools so
 * that a node stays 24 bytes and evaluation touches little memory.
 */
#ifndef ENIFLOW_QUERY_FILTER_INTERNAL_H
#define ENIFLOW_QUERY_FILTER_INTERNAL_H

#include <stdbool.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "query.h"

#define QF_CHUNK QRY_FILTER_BURST
/* Bounds a filter's memory (12 KB of scratch per and/or/not) for REST callers. */
#define QF_MAX_NODES 1024

enum qf_op {
	QF_TRUE,
	QF_AND,      /* a, b: children */
	QF_OR,
	QF_NOT,      /* a: child */
	QF_CMP,      /* field cmp v */
	QF_RANGES,   /* field in ranges[a .. a+b) */
	QF_PREFIXES, /* address field in prefixes[a .. a+b) */
	QF_HAS,      /* (tcp_flags & v) == v */
	QF_NAMES,    /* ENI index in the bound set of names[a .. a+b) */
};

enum qf_cmp { QF_EQ, QF_NE, QF_LT, QF_LE, QF_GT, QF_GE };

/* Fields; "either end" fields (port, addr) test both ends. */
enum qf_field {
	QF_F_ENI, QF_F_VPC, QF_F_SUBNET, QF_F_ACCOUNT,
	QF_F_SRC, QF_F_DST, QF_F_ADDR,
	QF_F_SPORT, QF_F_DPORT, QF_F_PORT,
	QF_F_PROTO, QF_F_ACTION, QF_F_DIRECTION, QF_F_RULE, QF_F_LAYER,
	QF_F_TCPFLAGS, QF_F_L2, QF_F_KIND, QF_F_PACKETS, QF_F_BYTES,
	QF_F_DURATION, QF_F_IPVER, QF_F_ETHERTYPE, QF_F_END, QF_F_SAMPLE,
	QF_F_FRAGMENTS,
	QF_F_MAX
};

struct qf_node {
	uint8_t op;    /* enum qf_op */
	uint8_t field; /* enum qf_field */
	uint8_t cmp;   /* enum qf_cmp */
	uint8_t pad;
	uint32_t a, b;
	uint64_t v;
};

struct qf_range {
	uint64_t lo, hi; /* inclusive */
};

/* A prefix as two masked 64-bit halves of the 16-byte address field. */
struct qf_prefix {
	uint64_t addr[2];
	uint64_t mask[2];
	uint8_t ipver; /* 4 or 6 */
};

/* An ENI reference by name: which dictionary column, which text, or an index. */
struct qf_name {
	uint8_t field;     /* QF_F_ENI/VPC/SUBNET/ACCOUNT */
	bool is_index;     /* eni given as a number */
	uint32_t index;
	char text[64];
};

/* Per-segment resolution of one QF_NAMES node. */
struct qf_bound {
	uint32_t *idx; /* sorted ENI indexes */
	uint32_t n, cap;
};

struct qry_filter {
	struct qf_node *nodes;
	uint32_t n_nodes, cap_nodes;
	uint32_t root;
	struct qf_range *ranges;
	uint32_t n_ranges, cap_ranges;
	struct qf_prefix *prefixes;
	uint32_t n_prefixes, cap_prefixes;
	struct qf_name *names;
	uint32_t n_names, cap_names;
	struct qf_bound *bound; /* one per QF_NAMES node (node.v is the slot) */
	uint32_t n_bound;
	bool uses_eni;
	uint32_t *scratch; /* 3 x QF_CHUNK indexes per inner node (slot in node.v) */
	uint64_t *vals;    /* 2 x QF_CHUNK extracted field values */
};


#define GROW(arr, n, cap)                                                          \
	((n) < (cap) ? 0 : grow_array((void **)&(arr), &(cap), sizeof(*(arr))))

static inline int grow_array(void **arr, uint32_t *cap, size_t elem)
{
	uint32_t ncap = *cap ? *cap * 2 : 8;
	void *n = realloc(*arr, (size_t)ncap * elem);

	if (!n)
		return -ENOMEM;
	*arr = n;
	*cap = ncap;
	return 0;
}

#endif /* ENIFLOW_QUERY_FILTER_INTERNAL_H */
