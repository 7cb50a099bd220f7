/*
 * vs_config.c - JSON config of eniflow-vswitch into struct vs_config.
 *
 * One pass per section, each reader given the JSON path of what it reads so
 * that every message names the field exactly. Unknown keys are refused (a
 * typo must not silently become a default). Cross references are resolved
 * at the end, when every section is known.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <inttypes.h>
#include <string.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <jansson.h>

#include "vs_config.h"

struct pctx {
	char *err;
	struct vs_config *cfg;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct pctx *c, const char *path, const char *fmt, ...)
{
	char msg[VS_ERR_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, VS_ERR_LEN, "%s: %s", path, msg);
	return -EINVAL;
}

/* Refuse keys outside the allowed list; the list ends with NULL. */
static int check_keys(struct pctx *c, const char *path, json_t *obj, const char *const *allowed)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		int ok = 0;
		for (const char *const *a = allowed; *a != NULL; a++)
			ok |= strcmp(*a, key) == 0;
		if (!ok)
			return fail(c, path, "unknown field \"%s\"", key);
	}
	return 0;
}

static int get_str(struct pctx *c, const char *path, json_t *obj, const char *key, bool required,
		   char *out, size_t cap)
{
	char p[VS_ERR_LEN];
	json_t *v = json_object_get(obj, key);
	snprintf(p, sizeof(p), "%s.%s", path, key);
	if (v == NULL) {
		if (required)
			return fail(c, p, "missing");
		out[0] = '\0';
		return 0;
	}
	if (!json_is_string(v))
		return fail(c, p, "must be a string");
	if (json_string_length(v) == 0)
		return fail(c, p, "must not be empty");
	if (json_string_length(v) >= cap)
		return fail(c, p, "\"%s\" is longer than %zu characters", json_string_value(v), cap - 1);
	snprintf(out, cap, "%s", json_string_value(v));
	return 0;
}

static int get_uint(struct pctx *c, const char *path, json_t *v, uint64_t lo, uint64_t hi,
		    uint64_t *out)
{
	if (!json_is_integer(v))
		return fail(c, path, "must be an integer");
	json_int_t x = json_integer_value(v);
	if (x < 0 || (uint64_t)x < lo || (uint64_t)x > hi)
		return fail(c, path, "%lld is not in %llu..%llu", (long long)x,
			    (unsigned long long)lo, (unsigned long long)hi);
	*out = (uint64_t)x;
	return 0;
}

int vs_parse_ipv4(const char *s, uint8_t out[4])
{
	unsigned v[4];
	char tail;
	if (sscanf(s, "%3u.%3u.%3u.%3u%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4)
		return -EINVAL;
	for (int i = 0; i < 4; i++) {
		if (v[i] > 255)
			return -EINVAL;
		out[i] = (uint8_t)v[i];
	}
	/* sscanf accepts "+1" and " 1": insist on digits and dots only. */
	for (const char *p = s; *p; p++)
		if ((*p < '0' || *p > '9') && *p != '.')
			return -EINVAL;
	return 0;
}

static int parse_mac(const char *s, uint8_t out[6])
{
	unsigned v[6];
	char tail;
	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
				      &v[4], &v[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		out[i] = (uint8_t)v[i];
	return 0;
}

static int parse_cidr(struct pctx *c, const char *path, json_t *v, struct vs_cidr *out)
{
	char buf[64], *slash;
	if (!json_is_string(v))
		return fail(c, path, "must be a string like \"10.0.0.0/16\"");
	const char *s = json_string_value(v);
	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash == NULL || strlen(s) >= sizeof(buf))
		return fail(c, path, "\"%s\" is not a CIDR (address/length)", s);
	*slash = '\0';
	memset(out, 0, sizeof(*out));
	unsigned max;
	if (vs_parse_ipv4(buf, out->addr) == 0) {
		out->family = 4;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = 6;
		max = 128;
	} else {
		return fail(c, path, "\"%s\" is not a CIDR (address/length)", s);
	}
	char *end;
	unsigned long len = strtoul(slash + 1, &end, 10);
	if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || len > max)
		return fail(c, path, "\"%s\": prefix length must be 0..%u", s, max);
	out->len = (uint8_t)len;
	/* Host bits set usually mean a typo: refuse rather than guess. */
	for (unsigned bit = out->len; bit < max; bit++)
		if (out->addr[bit / 8] & (0x80 >> (bit % 8)))
			return fail(c, path, "\"%s\" has host bits set", s);
	return 0;
}

static int parse_proto(struct pctx *c, const char *path, json_t *v, uint16_t *out)
{
	static const struct { const char *name; uint16_t num; } names[] = {
		{"all", VS_PROTO_ANY}, {"tcp", 6}, {"udp", 17}, {"icmp", 1}, {"icmpv6", 58},
	};
	if (json_is_integer(v)) {
		uint64_t x;
		int rc = get_uint(c, path, v, 0, 255, &x);
		*out = (uint16_t)x;
		return rc;
	}
	if (json_is_string(v))
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcmp(json_string_value(v), names[i].name) == 0) {
				*out = names[i].num;
				return 0;
			}
	return fail(c, path, "must be \"all\", \"tcp\", \"udp\", \"icmp\", \"icmpv6\" or 0..255");
}

static int parse_ports(struct pctx *c, const char *path, json_t *v, struct vs_rule *r)
{
	uint64_t lo, hi;
	char p[VS_ERR_LEN];
	if (!json_is_array(v) || json_array_size(v) != 2)
		return fail(c, path, "must be [first, last]");
	snprintf(p, sizeof(p), "%s[0]", path);
	if (get_uint(c, p, json_array_get(v, 0), 0, 65535, &lo) != 0)
		return -EINVAL;
	snprintf(p, sizeof(p), "%s[1]", path);
	if (get_uint(c, p, json_array_get(v, 1), 0, 65535, &hi) != 0)
		return -EINVAL;
	if (lo > hi)
		return fail(c, path, "first port %llu is above last port %llu",
			    (unsigned long long)lo, (unsigned long long)hi);
	if (r->proto != 6 && r->proto != 17)
		return fail(c, path, "a port range needs proto \"tcp\" or \"udp\"");
	r->port_lo = (uint16_t)lo;
	r->port_hi = (uint16_t)hi;
	return 0;
}

/* One rule; is_acl selects "number"+"action" instead of "id". */
static int parse_rule(struct pctx *c, const char *path, json_t *o, bool is_acl, struct vs_rule *r)
{
	static const char *const sg_keys[] = {"id", "proto", "ports", "cidr", NULL};
	static const char *const acl_keys[] = {"number", "action", "proto", "ports", "cidr", NULL};
	char p[VS_ERR_LEN];
	uint64_t x;
	json_t *v;

	if (!json_is_object(o))
		return fail(c, path, "must be an object");
	if (check_keys(c, path, o, is_acl ? acl_keys : sg_keys) != 0)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	const char *idk = is_acl ? "number" : "id";
	snprintf(p, sizeof(p), "%s.%s", path, idk);
	if ((v = json_object_get(o, idk)) == NULL)
		return fail(c, p, "missing");
	if (get_uint(c, p, v, 1, is_acl ? 32766 : UINT32_MAX, &x) != 0)
		return -EINVAL;
	r->id = (uint32_t)x;
	r->allow = true;
	if (is_acl) {
		snprintf(p, sizeof(p), "%s.action", path);
		v = json_object_get(o, "action");
		if (v == NULL)
			return fail(c, p, "missing");
		if (!json_is_string(v) || (strcmp(json_string_value(v), "allow") != 0 &&
					   strcmp(json_string_value(v), "deny") != 0))
			return fail(c, p, "must be \"allow\" or \"deny\"");
		r->allow = strcmp(json_string_value(v), "allow") == 0;
	}
	snprintf(p, sizeof(p), "%s.proto", path);
	if ((v = json_object_get(o, "proto")) == NULL)
		return fail(c, p, "missing");
	if (parse_proto(c, p, v, &r->proto) != 0)
		return -EINVAL;
	r->port_hi = 65535;
	snprintf(p, sizeof(p), "%s.ports", path);
	if ((v = json_object_get(o, "ports")) != NULL && parse_ports(c, p, v, r) != 0)
		return -EINVAL;
	snprintf(p, sizeof(p), "%s.cidr", path);
	if ((v = json_object_get(o, "cidr")) == NULL)
		return fail(c, p, "missing");
	return parse_cidr(c, p, v, &r->cidr);
}

static int parse_rule_set(struct pctx *c, const char *path, json_t *o, const char *key,
			  bool is_acl, struct vs_rule_set *rs)
{
	char p[VS_ERR_LEN];
	json_t *arr = json_object_get(o, key);
	size_t i;
	json_t *v;

	snprintf(p, sizeof(p), "%s.%s", path, key);
	rs->n = 0;
	if (arr == NULL)
		return 0;
	if (!json_is_array(arr))
		return fail(c, p, "must be an array");
	if (json_array_size(arr) > VS_MAX_SG_RULES)
		return fail(c, p, "more than %d rules", VS_MAX_SG_RULES);
	json_array_foreach(arr, i, v) {
		char rp[VS_ERR_LEN];
		snprintf(rp, sizeof(rp), "%s[%zu]", p, i);
		if (parse_rule(c, rp, v, is_acl, &rs->r[i]) != 0)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (rs->r[j].id == rs->r[i].id)
				return fail(c, rp, "%s %u is also used by %s[%zu]",
					    is_acl ? "number" : "id", rs->r[i].id, p, j);
		rs->n++;
	}
	return 0;
}

static int parse_addr_list(struct pctx *c, const char *path, json_t *arr, int family,
			   uint8_t *n, uint8_t *out)
{
	size_t i;
	json_t *v;
	if (arr == NULL)
		return 0;
	if (!json_is_array(arr))
		return fail(c, path, "must be an array");
	if (json_array_size(arr) > VS_MAX_ADDRS)
		return fail(c, path, "more than %d addresses", VS_MAX_ADDRS);
	json_array_foreach(arr, i, v) {
		char p[VS_ERR_LEN];
		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (!json_is_string(v))
			return fail(c, p, "must be a string");
		const char *s = json_string_value(v);
		if (family == 4 && vs_parse_ipv4(s, out + 4 * i) != 0)
			return fail(c, p, "\"%s\" is not an IPv4 address", s);
		if (family == 6 && inet_pton(AF_INET6, s, out + 16 * i) != 1)
			return fail(c, p, "\"%s\" is not an IPv6 address", s);
		(*n)++;
	}
	return 0;
}

/* Security-group ids stay names until resolve(): remember them per ENI. */
static char sg_names[VS_MAX_PORTS][VS_MAX_SG_PER_ENI][EFL_ID_LEN];

static int parse_eni(struct pctx *c, const char *path, json_t *o, struct vs_eni *e, uint32_t ei)
{
	static const char *const keys[] = {"id", "account", "vpc", "subnet", "mac", "ipv4",
					   "ipv6", "security_groups", NULL};
	char p[VS_ERR_LEN], mac[32];
	if (!json_is_object(o))
		return fail(c, path, "must be an object");
	if (check_keys(c, path, o, keys) != 0 ||
	    get_str(c, path, o, "id", true, e->id, sizeof(e->id)) != 0 ||
	    get_str(c, path, o, "account", true, e->account, sizeof(e->account)) != 0 ||
	    get_str(c, path, o, "vpc", true, e->vpc, sizeof(e->vpc)) != 0 ||
	    get_str(c, path, o, "subnet", true, e->subnet, sizeof(e->subnet)) != 0 ||
	    get_str(c, path, o, "mac", true, mac, sizeof(mac)) != 0)
		return -EINVAL;
	snprintf(p, sizeof(p), "%s.mac", path);
	if (parse_mac(mac, e->mac) != 0)
		return fail(c, p, "\"%s\" is not a MAC address (aa:bb:cc:dd:ee:ff)", mac);
	if (e->mac[0] & 1)
		return fail(c, p, "\"%s\" is a multicast MAC address", mac);
	snprintf(p, sizeof(p), "%s.ipv4", path);
	if (parse_addr_list(c, p, json_object_get(o, "ipv4"), 4, &e->n_ipv4, &e->ipv4[0][0]) != 0)
		return -EINVAL;
	snprintf(p, sizeof(p), "%s.ipv6", path);
	if (parse_addr_list(c, p, json_object_get(o, "ipv6"), 6, &e->n_ipv6, &e->ipv6[0][0]) != 0)
		return -EINVAL;
	snprintf(p, sizeof(p), "%s.security_groups", path);
	json_t *sgs = json_object_get(o, "security_groups"), *v;
	size_t i;
	if (sgs == NULL)
		return fail(c, p, "missing (an ENI needs at least one security group)");
	if (!json_is_array(sgs) || json_array_size(sgs) == 0 ||
	    json_array_size(sgs) > VS_MAX_SG_PER_ENI)
		return fail(c, p, "must be an array of 1..%d security group ids", VS_MAX_SG_PER_ENI);
	json_array_foreach(sgs, i, v) {
		char sp[VS_ERR_LEN];
		snprintf(sp, sizeof(sp), "%s[%zu]", p, i);
		if (!json_is_string(v) || json_string_length(v) >= EFL_ID_LEN)
			return fail(c, sp, "must be a security group id string");
		snprintf(sg_names[ei][i], EFL_ID_LEN, "%s", json_string_value(v));
		e->n_sgs++;
	}
	return 0;
}

static int parse_port(struct pctx *c, const char *path, json_t *o, uint32_t pi)
{
	static const char *const keys[] = {"name", "devargs", "uplink", "eni", NULL};
	struct vs_config *cfg = c->cfg;
	struct vs_port *pt = &cfg->ports[pi];
	char p[VS_ERR_LEN];
	json_t *up;

	if (!json_is_object(o))
		return fail(c, path, "must be an object");
	if (check_keys(c, path, o, keys) != 0 ||
	    get_str(c, path, o, "name", true, pt->name, sizeof(pt->name)) != 0 ||
	    get_str(c, path, o, "devargs", true, pt->devargs, sizeof(pt->devargs)) != 0)
		return -EINVAL;
	static const char *const drivers[] = {"net_tap", "net_pcap", "net_ring", "net_null",
					      "net_vhost", "virtio_user"};
	bool known = false;
	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		known |= strncmp(pt->devargs, drivers[i], strlen(drivers[i])) == 0;
	snprintf(p, sizeof(p), "%s.devargs", path);
	if (!known)
		return fail(c, p, "\"%s\" is not a net_tap, net_pcap, net_ring, net_null, "
			    "net_vhost or virtio_user device", pt->devargs);
	for (uint32_t j = 0; j < pi; j++) {
		if (strcmp(cfg->ports[j].name, pt->name) == 0)
			return fail(c, path, "name \"%s\" is also used by ports[%u]", pt->name, j);
		if (strcspn(cfg->ports[j].devargs, ",") == strcspn(pt->devargs, ",") &&
		    strncmp(cfg->ports[j].devargs, pt->devargs, strcspn(pt->devargs, ",")) == 0)
			return fail(c, p, "device \"%.*s\" is also used by ports[%u]",
				    (int)strcspn(pt->devargs, ","), pt->devargs, j);
	}
	pt->lcore = -1;
	pt->eni = -1;
	up = json_object_get(o, "uplink");
	snprintf(p, sizeof(p), "%s.uplink", path);
	if (up != NULL && !json_is_boolean(up))
		return fail(c, p, "must be true or false");
	pt->uplink = up != NULL && json_is_true(up);
	snprintf(p, sizeof(p), "%s.eni", path);
	json_t *eni = json_object_get(o, "eni");
	if (pt->uplink) {
		if (eni != NULL)
			return fail(c, p, "the uplink port has no ENI");
		if (cfg->uplink >= 0)
			return fail(c, path, "a second uplink (ports[%d] is the uplink)", cfg->uplink);
		cfg->uplink = (int32_t)pi;
		return 0;
	}
	if (eni == NULL)
		return fail(c, p, "missing (every port but the uplink carries an ENI)");
	pt->eni = (int32_t)cfg->n_enis;
	cfg->eni_port[cfg->n_enis] = pi;
	return parse_eni(c, p, eni, &cfg->enis[cfg->n_enis++], (uint32_t)pt->eni);
}

static int parse_array(struct pctx *c, json_t *root, const char *key, size_t max, bool required,
		       json_t **out)
{
	*out = json_object_get(root, key);
	if (*out == NULL) {
		if (required)
			return fail(c, key, "missing");
		return 0;
	}
	if (!json_is_array(*out))
		return fail(c, key, "must be an array");
	if (json_array_size(*out) > max)
		return fail(c, key, "more than %zu entries", max);
	return 0;
}

static int parse_sgs(struct pctx *c, json_t *root)
{
	static const char *const keys[] = {"id", "ingress", "egress", NULL};
	json_t *arr, *o;
	size_t i;
	if (parse_array(c, root, "security_groups", VS_MAX_SGS, true, &arr) != 0)
		return -EINVAL;
	json_array_foreach(arr, i, o) {
		char p[VS_ERR_LEN];
		struct vs_sg *sg = &c->cfg->sgs[i];
		snprintf(p, sizeof(p), "security_groups[%zu]", i);
		if (!json_is_object(o))
			return fail(c, p, "must be an object");
		if (check_keys(c, p, o, keys) != 0 ||
		    get_str(c, p, o, "id", true, sg->id, sizeof(sg->id)) != 0 ||
		    parse_rule_set(c, p, o, "ingress", false, &sg->dir[VS_DIR_INGRESS]) != 0 ||
		    parse_rule_set(c, p, o, "egress", false, &sg->dir[VS_DIR_EGRESS]) != 0)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->cfg->sgs[j].id, sg->id) == 0)
				return fail(c, p, "id \"%s\" is also used by security_groups[%zu]",
					    sg->id, j);
		c->cfg->n_sgs++;
	}
	return 0;
}

static int cmp_rule(const void *a, const void *b)
{
	const struct vs_rule *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static char acl_subnets[VS_MAX_ACLS][VS_MAX_PORTS][EFL_ID_LEN];
static uint32_t acl_n_subnets[VS_MAX_ACLS];

static int parse_acls(struct pctx *c, json_t *root)
{
	static const char *const keys[] = {"id", "subnets", "ingress", "egress", NULL};
	json_t *arr, *o, *subs, *v;
	size_t i, k;
	if (parse_array(c, root, "network_acls", VS_MAX_ACLS, false, &arr) != 0)
		return -EINVAL;
	json_array_foreach(arr, i, o) {
		char p[VS_ERR_LEN], sp[VS_ERR_LEN];
		struct vs_acl *acl = &c->cfg->acls[i];
		snprintf(p, sizeof(p), "network_acls[%zu]", i);
		if (!json_is_object(o))
			return fail(c, p, "must be an object");
		if (check_keys(c, p, o, keys) != 0 ||
		    get_str(c, p, o, "id", true, acl->id, sizeof(acl->id)) != 0 ||
		    parse_rule_set(c, p, o, "ingress", true, &acl->dir[VS_DIR_INGRESS]) != 0 ||
		    parse_rule_set(c, p, o, "egress", true, &acl->dir[VS_DIR_EGRESS]) != 0)
			return -EINVAL;
		for (int d = 0; d < VS_DIR_MAX; d++)
			qsort(acl->dir[d].r, acl->dir[d].n, sizeof(struct vs_rule), cmp_rule);
		snprintf(sp, sizeof(sp), "%s.subnets", p);
		subs = json_object_get(o, "subnets");
		if (subs == NULL)
			return fail(c, sp, "missing");
		if (!json_is_array(subs) || json_array_size(subs) == 0 ||
		    json_array_size(subs) > VS_MAX_PORTS)
			return fail(c, sp, "must be an array of 1..%d subnet ids", VS_MAX_PORTS);
		json_array_foreach(subs, k, v) {
			if (!json_is_string(v) || json_string_length(v) >= EFL_ID_LEN)
				return fail(c, sp, "[%zu] must be a subnet id string", k);
			snprintf(acl_subnets[i][k], EFL_ID_LEN, "%s", json_string_value(v));
		}
		acl_n_subnets[i] = (uint32_t)json_array_size(subs);
		c->cfg->n_acls++;
	}
	return 0;
}

static int parse_lcores(struct pctx *c, json_t *root)
{
	static const char *const keys[] = {"lcore", "ports", NULL};
	struct vs_config *cfg = c->cfg;
	json_t *arr, *o, *ports, *v;
	size_t i, k;
	uint64_t x;
	if (parse_array(c, root, "lcores", VS_MAX_LCORES, true, &arr) != 0)
		return -EINVAL;
	if (json_array_size(arr) == 0)
		return fail(c, "lcores", "needs at least one forwarding lcore");
	json_array_foreach(arr, i, o) {
		char p[VS_ERR_LEN], q[VS_ERR_LEN];
		struct vs_lcore *lc = &cfg->lcores[i];
		snprintf(p, sizeof(p), "lcores[%zu]", i);
		if (!json_is_object(o))
			return fail(c, p, "must be an object");
		if (check_keys(c, p, o, keys) != 0)
			return -EINVAL;
		snprintf(q, sizeof(q), "%s.lcore", p);
		if ((v = json_object_get(o, "lcore")) == NULL)
			return fail(c, q, "missing");
		if (get_uint(c, q, v, 0, VS_MAX_LCORE_ID, &x) != 0)
			return -EINVAL;
		lc->lcore_id = (uint32_t)x;
		for (size_t j = 0; j < i; j++)
			if (cfg->lcores[j].lcore_id == lc->lcore_id)
				return fail(c, q, "lcore %u is also used by lcores[%zu]",
					    lc->lcore_id, j);
		snprintf(q, sizeof(q), "%s.ports", p);
		ports = json_object_get(o, "ports");
		if (ports == NULL || !json_is_array(ports))
			return fail(c, q, "must be an array of port names");
		json_array_foreach(ports, k, v) {
			char pp[VS_ERR_LEN];
			uint32_t pi;
			snprintf(pp, sizeof(pp), "%s[%zu]", q, k);
			if (!json_is_string(v))
				return fail(c, pp, "must be a port name");
			for (pi = 0; pi < cfg->n_ports; pi++)
				if (strcmp(cfg->ports[pi].name, json_string_value(v)) == 0)
					break;
			if (pi == cfg->n_ports)
				return fail(c, pp, "no port is named \"%s\"", json_string_value(v));
			if (cfg->ports[pi].lcore >= 0)
				return fail(c, pp, "port \"%s\" is already polled by lcores[%d]",
					    cfg->ports[pi].name, cfg->ports[pi].lcore);
			cfg->ports[pi].lcore = (int16_t)i;
			lc->port[lc->n_ports++] = (uint16_t)pi;
		}
		cfg->n_lcores++;
	}
	for (uint32_t pi = 0; pi < cfg->n_ports; pi++)
		if (cfg->ports[pi].lcore < 0) {
			char p[VS_ERR_LEN];
			snprintf(p, sizeof(p), "ports[%u]", pi);
			return fail(c, p, "port \"%s\" is polled by no lcore (see lcores)",
				    cfg->ports[pi].name);
		}
	return 0;
}

/* Security groups by name, subnets to ACLs, VPCs to small integers. */
static int resolve(struct pctx *c)
{
	struct vs_config *cfg = c->cfg;
	for (uint32_t ei = 0; ei < cfg->n_enis; ei++) {
		struct vs_eni *e = &cfg->enis[ei];
		char p[VS_ERR_LEN];
		for (uint32_t k = 0; k < e->n_sgs; k++) {
			uint32_t s;
			for (s = 0; s < cfg->n_sgs; s++)
				if (strcmp(cfg->sgs[s].id, sg_names[ei][k]) == 0)
					break;
			snprintf(p, sizeof(p), "ports[%u].eni.security_groups[%u]",
				 cfg->eni_port[ei], k);
			if (s == cfg->n_sgs)
				return fail(c, p, "no security group has id \"%s\"", sg_names[ei][k]);
			e->sg[k] = (uint16_t)s;
		}
		e->acl = -1;
		for (uint32_t a = 0; a < cfg->n_acls; a++)
			for (uint32_t k = 0; k < acl_n_subnets[a]; k++)
				if (strcmp(acl_subnets[a][k], e->subnet) == 0) {
					if (e->acl >= 0) {
						snprintf(p, sizeof(p), "network_acls[%u].subnets[%u]", a, k);
						return fail(c, p, "subnet \"%s\" already has network_acls[%d]",
							    e->subnet, e->acl);
					}
					e->acl = (int16_t)a;
				}
		uint32_t v;
		for (v = 0; v < ei; v++)
			if (strcmp(cfg->enis[v].vpc, e->vpc) == 0)
				break;
		e->vpc_idx = v < ei ? cfg->enis[v].vpc_idx : (uint16_t)cfg->n_vpcs++;
		for (v = 0; v < ei; v++)
			if (memcmp(cfg->enis[v].mac, e->mac, 6) == 0 && cfg->enis[v].vpc_idx == e->vpc_idx) {
				snprintf(p, sizeof(p), "ports[%u].eni.mac", cfg->eni_port[ei]);
				return fail(c, p, "MAC is also used by ports[%u] in the same VPC",
					    cfg->eni_port[v]);
			}
		for (v = 0; v < ei; v++)
			if (strcmp(cfg->enis[v].id, e->id) == 0) {
				snprintf(p, sizeof(p), "ports[%u].eni.id", cfg->eni_port[ei]);
				return fail(c, p, "\"%s\" is also used by ports[%u]", e->id,
					    cfg->eni_port[v]);
			}
	}
	return 0;
}

static int parse_options(struct pctx *c, json_t *root)
{
	json_t *v;
	uint64_t x;
	c->cfg->mbufs = 16383;
	c->cfg->mbuf_data_room = 2048;
	if ((v = json_object_get(root, "mbufs")) != NULL) {
		if (get_uint(c, "mbufs", v, 1023, 16u << 20, &x) != 0)
			return -EINVAL;
		c->cfg->mbufs = (uint32_t)x;
	}
	if ((v = json_object_get(root, "mbuf_data_room")) != NULL) {
		if (get_uint(c, "mbuf_data_room", v, 128, 9216, &x) != 0)
			return -EINVAL;
		c->cfg->mbuf_data_room = (uint32_t)x;
	}
	if ((v = json_object_get(root, "flows_per_worker")) != NULL) {
		if (get_uint(c, "flows_per_worker", v, 1024, 64u << 20, &x) != 0)
			return -EINVAL;
		c->cfg->flows_per_worker = (uint32_t)x;
	}
	if ((v = json_object_get(root, "flow_ring_size")) != NULL) {
		if (get_uint(c, "flow_ring_size", v, 1024, 16u << 20, &x) != 0)
			return -EINVAL;
		if ((x & (x - 1)) != 0)
			return fail(c, "flow_ring_size", "%" PRIu64 " is not a power of 2", x);
		c->cfg->flow_ring_size = (uint32_t)x;
	}
	if ((v = json_object_get(root, "connections_per_worker")) != NULL) {
		if (get_uint(c, "connections_per_worker", v, 1024, 64u << 20, &x) != 0)
			return -EINVAL;
		c->cfg->connections_per_worker = (uint32_t)x;
	}
	return 0;
}

static int parse_root(struct pctx *c, json_t *root)
{
	static const char *const keys[] = {"ports", "security_groups", "network_acls", "lcores",
					   "mbufs", "mbuf_data_room", "flows_per_worker",
					   "flow_ring_size", "connections_per_worker", NULL};
	json_t *arr, *o;
	size_t i;
	if (!json_is_object(root))
		return fail(c, "(top level)", "must be an object");
	if (check_keys(c, "(top level)", root, keys) != 0 || parse_options(c, root) != 0)
		return -EINVAL;
	if (parse_array(c, root, "ports", VS_MAX_PORTS, true, &arr) != 0)
		return -EINVAL;
	c->cfg->uplink = -1;
	json_array_foreach(arr, i, o) {
		char p[VS_ERR_LEN];
		snprintf(p, sizeof(p), "ports[%zu]", i);
		c->cfg->n_ports++;
		if (parse_port(c, p, o, (uint32_t)i) != 0)
			return -EINVAL;
	}
	if (c->cfg->uplink < 0)
		return fail(c, "ports", "no port has \"uplink\": true");
	if (c->cfg->n_enis == 0)
		return fail(c, "ports", "no ENI: at least one port must carry an \"eni\"");
	if (parse_sgs(c, root) != 0 || parse_acls(c, root) != 0 || parse_lcores(c, root) != 0)
		return -EINVAL;
	return resolve(c);
}

int vs_config_parse(const char *text, struct vs_config *cfg, char *err)
{
	struct pctx c = {.err = err, .cfg = cfg};
	json_error_t je;
	json_t *root;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	memset(sg_names, 0, sizeof(sg_names));
	memset(acl_n_subnets, 0, sizeof(acl_n_subnets));
	root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		snprintf(err, VS_ERR_LEN, "line %d column %d: %s", je.line, je.column, je.text);
		return -EINVAL;
	}
	rc = parse_root(&c, root);
	json_decref(root);
	return rc;
}

int vs_config_load(const char *path, struct vs_config *cfg, char *err)
{
	char sub[VS_ERR_LEN];
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		int e = errno;
		snprintf(err, VS_ERR_LEN, "%s: %s", path, strerror(e));
		return -e;
	}
	/* A switch config is small; refuse anything absurd instead of reading it. */
	char *buf = malloc(1 << 20);
	if (buf == NULL) {
		fclose(f);
		snprintf(err, VS_ERR_LEN, "%s: out of memory", path);
		return -ENOMEM;
	}
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	int big = !feof(f);
	fclose(f);
	buf[n] = '\0';
	if (big) {
		free(buf);
		snprintf(err, VS_ERR_LEN, "%s: larger than 1 MiB", path);
		return -EFBIG;
	}
	int rc = vs_config_parse(buf, cfg, sub);
	free(buf);
	if (rc != 0)
		snprintf(err, VS_ERR_LEN, "%s: %s", path, sub);
	return rc;
}
