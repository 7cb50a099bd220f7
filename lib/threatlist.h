/*
 * threatlist.h - sets of IPv4/IPv6 prefixes from threat lists, with fast
 * lookup of an address.
 *
 * Reads plain lists (one IP or CIDR per line, '#' comments), FireHOL
 * .netset files (the same shape) and Spamhaus DROP/EDROP ("CIDR ; SBLnnn",
 * ';' comments). After qry_threat_build() the prefixes are a sorted array
 * of disjoint address ranges searched by binary search: O(log n) per lookup
 * and 16 (v4) or 40 (v6) bytes per range, so 100K+ prefixes stay fast.
 */
#ifndef ENIFLOW_THREATLIST_H
#define ENIFLOW_THREATLIST_H

#include <stdint.h>

#include "query.h"

struct qry_threat;

/** Empty set. NULL + errno. */
struct qry_threat *qry_threat_create(void);
/** Free. NULL is a no-op. */
void qry_threat_destroy(struct qry_threat *t);

/**
 * Add every prefix of the list file at path, tagged with list name name
 * (copied; NULL = the file's base name). A line that is not a comment, a
 * blank or a valid address/CIDR fails the load with err naming
 * "path:line: ...". Returns the number of prefixes added, or -errno.
 */
long qry_threat_load(struct qry_threat *t, const char *path, const char *name,
		     struct qry_err *err);

/** Add one prefix ("10.0.0.0/8", "2001:db8::1"). 0, -EINVAL or -ENOMEM. */
int qry_threat_add(struct qry_threat *t, const char *cidr, const char *name);

/** Sort and flatten for lookup; must follow the last add. 0 or -ENOMEM. */
int qry_threat_build(struct qry_threat *t);

/**
 * Name of the list holding addr (ipver 4: addr[0..3]; 6: addr[0..15]), or
 * NULL. The string is borrowed from t. When prefixes nest, the outermost
 * one's list is named.
 */
const char *qry_threat_lookup(const struct qry_threat *t, uint8_t ipver, const uint8_t *addr);

/** Prefixes added, and disjoint ranges after build (v4 + v6). */
uint64_t qry_threat_n_prefixes(const struct qry_threat *t);
uint64_t qry_threat_n_ranges(const struct qry_threat *t);

#endif /* ENIFLOW_THREATLIST_H */
