/*
 * efd_config.c - eniflowd's JSON config file, parsed and validated in one
 * place into struct efd_config.
 *
 * Every key is checked against a table (type, range); an unknown key or a
 * bad value refuses the whole file with the key named, so a typo never
 * silently falls back to a default.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <ctype.h>
#include <jansson.h>
#include "efd_internal.h"

void efd_config_defaults(struct efd_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:8080");
	snprintf(c->instance, sizeof(c->instance), "default");
	snprintf(c->file_prefix, sizeof(c->file_prefix), "eniflow");
	c->eal_lcore = 0;
	c->eal_init_timeout_s = 20;
	c->rotate_bytes = 64ULL << 20;
	c->rotate_age_s = 60;
	c->retain_age_s = 7 * 86400;
	c->retain_bytes = 0;
	c->flush_ms = 200;
	c->block_records = SEG_DEFAULT_BLOCK_RECORDS;
	c->max_connections = 64;
	c->max_per_ip = 16;
	c->conn_timeout_s = 30;
	c->body_max = 64 * 1024;
	c->stream_buffer = 256 * 1024;
	c->query_max_records = 200000000; /* ~10 s of scanning on one core */
	c->query_max_groups = 200000;
	c->query_max_distinct = 2000000;
	c->query_timeout_ms = 10000;
	c->query_max_list = 10000;
	c->query_concurrency = 2;
}

enum cfg_kind { K_STR, K_U64, K_BOOL };

struct cfg_key {
	const char *name;
	enum cfg_kind kind;
	size_t off;
	size_t size;      /* string capacity or integer width */
	uint64_t min, max;
};

#define S(f) K_STR, offsetof(struct efd_config, f), sizeof(((struct efd_config *)0)->f)
#define U(f, lo, hi) K_U64, offsetof(struct efd_config, f), \
	sizeof(((struct efd_config *)0)->f), lo, hi

static const struct cfg_key keys[] = {
	{ "data_dir", S(data_dir), 0, 0 },
	{ "listen", S(listen), 0, 0 },
	{ "token_file", S(token_file), 0, 0 },
	{ "instance", S(instance), 0, 0 },
	{ "file_prefix", S(file_prefix), 0, 0 },
	{ "eal_lcore", U(eal_lcore, 0, 1023) },
	{ "eal_init_timeout_s", U(eal_init_timeout_s, 1, 3600) },
	{ "rotate_bytes", U(rotate_bytes, 1ULL << 16, 1ULL << 40) },
	{ "rotate_age_s", U(rotate_age_s, 1, 86400) },
	{ "retain_age_s", U(retain_age_s, 0, 10ULL * 365 * 86400) },
	{ "retain_bytes", U(retain_bytes, 0, 1ULL << 50) },
	{ "flush_ms", U(flush_ms, 1, 10000) },
	{ "block_records", U(block_records, 1, SEG_MAX_BLOCK_RECORDS) },
	{ "max_connections", U(max_connections, 1, 10000) },
	{ "max_per_ip", U(max_per_ip, 1, 10000) },
	{ "conn_timeout_s", U(conn_timeout_s, 1, 3600) },
	{ "body_max", U(body_max, 256, 16 << 20) },
	{ "stream_buffer", U(stream_buffer, 4096, 64 << 20) },
	{ "query_max_records", U(query_max_records, 1, 1ULL << 40) },
	{ "query_max_groups", U(query_max_groups, 1, 1ULL << 32) },
	{ "query_max_distinct", U(query_max_distinct, 1, 1ULL << 32) },
	{ "query_timeout_ms", U(query_timeout_ms, 1, 3600000) },
	{ "query_max_list", U(query_max_list, 1, 10000000) },
	{ "query_concurrency", U(query_concurrency, 1, 64) },
	{ "threat_lists", S(threat_lists), 0, 0 },
	{ "geo_mmdb", S(geo_mmdb), 0, 0 },
	{ "no_fsync", K_BOOL, offsetof(struct efd_config, no_fsync), sizeof(bool), 0, 1 },
};

static int set_key(struct efd_config *c, const struct cfg_key *k, json_t *v, struct efd_err *err)
{
	char *base = (char *)c + k->off;

	if (k->kind == K_STR) {
		if (!json_is_string(v))
			goto type;
		if (json_string_length(v) == 0 || json_string_length(v) >= k->size) {
			efd_err_set(err, 400, k->name, "must be 1..%zu characters", k->size - 1);
			return -EINVAL;
		}
		memcpy(base, json_string_value(v), json_string_length(v) + 1);
		return 0;
	}
	if (k->kind == K_BOOL) {
		if (!json_is_boolean(v))
			goto type;
		*(bool *)base = json_is_true(v);
		return 0;
	}
	if (!json_is_integer(v))
		goto type;
	json_int_t x = json_integer_value(v);
	if (x < 0 || (uint64_t)x < k->min || (uint64_t)x > k->max) {
		efd_err_set(err, 400, k->name, "must be in %llu..%llu, got %lld",
			    (unsigned long long)k->min, (unsigned long long)k->max, (long long)x);
		return -EINVAL;
	}
	if (k->size == sizeof(uint64_t))
		*(uint64_t *)base = (uint64_t)x;
	else
		*(uint32_t *)base = (uint32_t)x;
	return 0;
type:
	efd_err_set(err, 400, k->name, "wrong type (want %s)",
		    k->kind == K_STR ? "string" : k->kind == K_BOOL ? "boolean" : "integer");
	return -EINVAL;
}

static int check_instance(const char *s)
{
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
			return -EINVAL;
	return 0;
}

static int check_semantics(struct efd_config *c, struct efd_err *err)
{
	if (c->data_dir[0] != '/') {
		efd_err_set(err, 400, "data_dir", "required, an absolute path");
		return -EINVAL;
	}
	if (c->token_file[0] == '\0') {
		efd_err_set(err, 400, "token_file", "required");
		return -EINVAL;
	}
	if (strlen(c->instance) > EFL_INSTANCE_MAX || check_instance(c->instance) != 0) {
		efd_err_set(err, 400, "instance", "1..%d characters of [a-z0-9_]", EFL_INSTANCE_MAX);
		return -EINVAL;
	}
	if (strncmp(c->listen, "unix:", 5) == 0) {
		if (c->listen[5] != '/' || strlen(c->listen + 5) >= 108) {
			efd_err_set(err, 400, "listen", "unix: needs an absolute path under 108 bytes");
			return -EINVAL;
		}
	} else if (strrchr(c->listen, ':') == NULL) {
		efd_err_set(err, 400, "listen", "want HOST:PORT or unix:/path");
		return -EINVAL;
	}
	for (const char *p = c->file_prefix; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-') {
			efd_err_set(err, 400, "file_prefix", "only [A-Za-z0-9_-]");
			return -EINVAL;
		}
	return 0;
}

int efd_config_parse(const char *text, size_t len, struct efd_config *c, struct efd_err *err)
{
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	const char *key;
	json_t *v;
	int rc = 0;

	efd_config_defaults(c);
	if (root == NULL) {
		efd_err_set(err, 400, "", "line %d column %d: %s", je.line, je.column, je.text);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		efd_err_set(err, 400, "", "top level must be an object");
		json_decref(root);
		return -EINVAL;
	}
	json_object_foreach(root, key, v) {
		size_t i;
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(keys[i].name, key) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0])) {
			efd_err_set(err, 400, key, "unknown field");
			rc = -EINVAL;
			break;
		}
		rc = set_key(c, &keys[i], v, err);
		if (rc)
			break;
	}
	json_decref(root);
	return rc ? rc : check_semantics(c, err);
}

static int read_small_file(const char *path, char *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -errno;
	*len = fread(buf, 1, cap, f);
	int bad = ferror(f) || !feof(f);
	fclose(f);
	return bad ? -EFBIG : 0;
}

static int load_token(struct efd_config *c, struct efd_err *err)
{
	size_t len;
	int rc = read_small_file(c->token_file, c->token, sizeof(c->token) - 1, &len);

	if (rc) {
		efd_err_set(err, 400, "token_file", "%s: %s", c->token_file,
			    rc == -EFBIG ? "longer than 255 bytes" : strerror(-rc));
		return -EINVAL;
	}
	while (len > 0 && isspace((unsigned char)c->token[len - 1]))
		len--;
	c->token[len] = '\0';
	if (len < 16) {
		efd_err_set(err, 400, "token_file", "%s: token must be at least 16 characters",
			    c->token_file);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++)
		if (!isgraph((unsigned char)c->token[i])) {
			efd_err_set(err, 400, "token_file", "%s: token has a blank or control byte",
				    c->token_file);
			return -EINVAL;
		}
	return 0;
}

int efd_config_load(const char *path, struct efd_config *c, struct efd_err *err)
{
	static char text[1 << 16];
	size_t len;
	int rc = read_small_file(path, text, sizeof(text), &len);

	if (rc) {
		efd_err_set(err, 400, "", "%s: %s", path, rc == -EFBIG ? "larger than 64 KiB" :
			    strerror(-rc));
		return rc;
	}
	rc = efd_config_parse(text, len, c, err);
	if (rc == 0)
		rc = load_token(c, err);
	if (rc) {
		char pre[EFD_PATH_MAX + 80];
		snprintf(pre, sizeof(pre), "%s: %s%s", path, err->field,
			 err->field[0] ? ": " : "");
		efd_err_prefix(err, pre);
		return rc;
	}
	return 0;
}
