/*
 * efd_dest_cfg.c - validation and JSON form of a flow log's live
 * destinations ("destinations" on POST/PATCH /v1/flow-logs).
 *
 * Strict on purpose: an IPFIX host must be a numeric IPv4/IPv6 address (no
 * name resolution in the drain thread, no surprise of where records go), a
 * JSON Lines destination takes no path at all (eniflowd picks
 * DATA_DIR/jsonl/<flow-log-id>/), and every error names the field as
 * destinations[i].key so a client knows exactly what to fix.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include "efd_internal.h"
#include "rec_format.h"

#define JSONL_ROTATE_BYTES_DEFAULT (64ULL << 20)
#define JSONL_ROTATE_AGE_DEFAULT 300

static int bad(struct efd_err *err, size_t i, const char *key, const char *msg)
{
	char field[64];
	snprintf(field, sizeof(field), "destinations[%zu]%s%s", i, key[0] ? "." : "", key);
	efd_err_set(err, 400, field, "%s", msg);
	return -EINVAL;
}

static int int_in(json_t *v, long long lo, long long hi, long long *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

static int ipfix_field(const char *k, json_t *v, size_t i, struct efd_dest_cfg *c,
		       struct efd_err *err)
{
	long long x;
	unsigned char a[16];

	if (strcmp(k, "host") == 0) {
		const char *s = json_is_string(v) ? json_string_value(v) : "";
		if (strlen(s) >= sizeof(c->host) ||
		    (inet_pton(AF_INET, s, a) != 1 && inet_pton(AF_INET6, s, a) != 1))
			return bad(err, i, k, "want a numeric IPv4 or IPv6 address");
		snprintf(c->host, sizeof(c->host), "%s", s);
	} else if (strcmp(k, "port") == 0) {
		if (int_in(v, 1, 65535, &x))
			return bad(err, i, k, "want an integer in 1..65535");
		c->port = (uint16_t)x;
	} else if (strcmp(k, "transport") == 0) {
		const char *s = json_is_string(v) ? json_string_value(v) : "";
		if (strcmp(s, "udp") != 0 && strcmp(s, "tcp") != 0)
			return bad(err, i, k, "want \"udp\" or \"tcp\"");
		c->tcp = strcmp(s, "tcp") == 0;
	} else {
		return bad(err, i, k, "unknown field for type ipfix");
	}
	return 0;
}

static int jsonl_field(const char *k, json_t *v, size_t i, struct efd_dest_cfg *c,
		       struct efd_err *err)
{
	long long x;

	if (strcmp(k, "format") == 0) {
		const char *s = json_is_string(v) ? json_string_value(v) : "";
		if (strcmp(s, "json") != 0 && strcmp(s, "ecs") != 0)
			return bad(err, i, k, "want \"json\" or \"ecs\"");
		c->format = strcmp(s, "ecs") == 0 ? REC_FMT_ECS : REC_FMT_JSON;
	} else if (strcmp(k, "rotate_bytes") == 0) {
		if (int_in(v, 4096, 1LL << 40, &x))
			return bad(err, i, k, "want an integer in 4096..2^40");
		c->rotate_bytes = (uint64_t)x;
	} else if (strcmp(k, "rotate_age_s") == 0) {
		if (int_in(v, 1, 86400, &x))
			return bad(err, i, k, "want an integer in 1..86400");
		c->rotate_age_s = (uint32_t)x;
	} else {
		return bad(err, i, k, "unknown field for type jsonl (the path is eniflowd's choice)");
	}
	return 0;
}

static int one_dest(json_t *o, size_t i, struct efd_dest_cfg *c, struct efd_err *err)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return bad(err, i, "", "want an object");
	const char *t = json_string_value(json_object_get(o, "type"));
	memset(c, 0, sizeof(*c));
	if (t && strcmp(t, "ipfix") == 0) {
		c->type = EFD_DEST_IPFIX;
		c->port = 4739;
	} else if (t && strcmp(t, "jsonl") == 0) {
		c->type = EFD_DEST_JSONL;
		c->format = REC_FMT_JSON;
		c->rotate_bytes = JSONL_ROTATE_BYTES_DEFAULT;
		c->rotate_age_s = JSONL_ROTATE_AGE_DEFAULT;
	} else {
		return bad(err, i, "type", "want \"ipfix\" or \"jsonl\"");
	}
	json_object_foreach(o, k, v) {
		if (strcmp(k, "type") == 0)
			continue;
		int rc = c->type == EFD_DEST_IPFIX ? ipfix_field(k, v, i, c, err) :
						     jsonl_field(k, v, i, c, err);
		if (rc)
			return rc;
	}
	if (c->type == EFD_DEST_IPFIX && c->host[0] == '\0')
		return bad(err, i, "host", "required");
	return 0;
}

int efd_dests_from_json(const json_t *v, struct efd_flowlog *fl, struct efd_err *err)
{
	struct efd_dest_cfg d[EFD_MAX_DESTS];
	size_t i;
	json_t *o;

	if (!json_is_array(v) || json_array_size(v) > EFD_MAX_DESTS) {
		efd_err_set(err, 400, "destinations", "want an array of at most %d objects",
			    EFD_MAX_DESTS);
		return -EINVAL;
	}
	json_array_foreach(v, i, o) {
		if (one_dest(o, i, &d[i], err))
			return -EINVAL;
	}
	fl->n_dest = (uint32_t)json_array_size(v);
	memcpy(fl->dest, d, fl->n_dest * sizeof(d[0]));
	return 0;
}

json_t *efd_dests_to_json(const struct efd_flowlog *fl)
{
	json_t *a = json_array();

	for (uint32_t i = 0; i < fl->n_dest; i++) {
		const struct efd_dest_cfg *c = &fl->dest[i];
		if (c->type == EFD_DEST_IPFIX)
			json_array_append_new(a, json_pack("{s:s, s:s, s:i, s:s}", "type", "ipfix",
				"host", c->host, "port", (int)c->port,
				"transport", c->tcp ? "tcp" : "udp"));
		else
			json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:i}", "type", "jsonl",
				"format", c->format == REC_FMT_ECS ? "ecs" : "json",
				"rotate_bytes", (json_int_t)c->rotate_bytes,
				"rotate_age_s", (int)c->rotate_age_s));
	}
	return a;
}
