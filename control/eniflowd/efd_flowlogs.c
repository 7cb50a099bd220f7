/*
 * efd_flowlogs.c - the flow-log model: validation of API bodies, the set of
 * flow logs, its persistence and the per-ENI config it implies.
 *
 * One flow log per resource. An ENI's effective config is the most specific
 * flow log that covers it (ENI, then subnet, then VPC), so a subnet or VPC
 * flow log reaches present and future ENIs while an ENI-level one can
 * override it. The set is saved as DATA_DIR/flowlogs.json with
 * write-temp/fsync/rename/fsync-dir, so a crash leaves the old or the new set
 * (efd_commit.c groups concurrent changes into one such write).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <unistd.h>
#include <libgen.h>
#include "efd_internal.h"

static const char *const traffic_names[] = { "ALL", "ACCEPT", "REJECT" };

const char *efd_traffic_name(uint8_t t)
{
	return t < 3 ? traffic_names[t] : "?";
}

static int traffic_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(s, traffic_names[i]) == 0)
			return i;
	return -1;
}

/** eni-/subnet-/vpc- followed by 1..56 of [A-Za-z0-9]. */
static int resource_kind(const char *s)
{
	static const char *const pre[] = { "eni-", "subnet-", "vpc-" };
	for (int k = 0; k < 3; k++) {
		size_t pl = strlen(pre[k]);
		if (strncmp(s, pre[k], pl) != 0)
			continue;
		size_t n = strlen(s + pl);
		if (n < 1 || n > 56)
			return -1;
		for (const char *p = s + pl; *p; p++)
			if (!isalnum((unsigned char)*p))
				return -1;
		return k;
	}
	return -1;
}

static bool eni_known(const struct efd_enis *enis, const char *id)
{
	for (uint32_t i = 0; enis && i < enis->n; i++)
		if (strcmp(enis->eni[i].eni_id, id) == 0)
			return true;
	return false;
}

static int field_resource(json_t *v, const struct efd_enis *enis, struct efd_flowlog *fl,
			  struct efd_err *err)
{
	if (!json_is_string(v) || resource_kind(json_string_value(v)) < 0) {
		efd_err_set(err, 400, "resource", "want eni-…, subnet-… or vpc-… ([A-Za-z0-9], 1..56)");
		return -EINVAL;
	}
	const char *s = json_string_value(v);
	if (resource_kind(s) == 0 && !eni_known(enis, s)) {
		efd_err_set(err, 404, "resource", "unknown ENI %s", s);
		return -ENOENT;
	}
	snprintf(fl->resource, sizeof(fl->resource), "%s", s);
	return 0;
}

static int field_int(json_t *v, const char *name, long long lo, long long hi, long long *out,
		     struct efd_err *err)
{
	if (!json_is_integer(v)) {
		efd_err_set(err, 400, name, "must be an integer");
		return -EINVAL;
	}
	long long x = json_integer_value(v);
	if (x < lo || x > hi) {
		efd_err_set(err, 400, name, "must be in %lld..%lld, got %lld", lo, hi, x);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

static int apply_field(const char *key, json_t *v, bool patch, const struct efd_enis *enis,
		       struct efd_flowlog *fl, struct efd_err *err)
{
	long long x;

	if (strcmp(key, "resource") == 0) {
		if (patch) {
			efd_err_set(err, 400, "resource", "cannot change; create another flow log");
			return -EINVAL;
		}
		return field_resource(v, enis, fl, err);
	}
	if (strcmp(key, "traffic_type") == 0) {
		int t = json_is_string(v) ? traffic_parse(json_string_value(v)) : -1;
		if (t < 0) {
			efd_err_set(err, 400, "traffic_type", "want ACCEPT, REJECT or ALL");
			return -EINVAL;
		}
		fl->traffic_type = (uint8_t)t;
		return 0;
	}
	if (strcmp(key, "aggregation_interval_s") == 0) {
		if (field_int(v, key, 1, 600, &x, err))
			return -EINVAL;
		fl->agg_interval_s = (uint16_t)x;
		return 0;
	}
	if (strcmp(key, "sample_1_in_n") == 0) {
		if (field_int(v, key, 1, 1000000, &x, err))
			return -EINVAL;
		fl->sample_1_in_n = (uint32_t)x;
		return 0;
	}
	if (strcmp(key, "destinations") == 0)
		return efd_dests_from_json(v, fl, err);
	efd_err_set(err, 400, key, "unknown field");
	return -EINVAL;
}

int efd_fl_from_json(const json_t *body, bool patch, const struct efd_enis *enis,
		     struct efd_flowlog *fl, struct efd_err *err)
{
	const char *key;
	json_t *v;
	int rc;

	if (!json_is_object(body)) {
		efd_err_set(err, 400, "", "body must be a JSON object");
		return -EINVAL;
	}
	if (!patch) {
		memset(fl, 0, sizeof(*fl));
		fl->agg_interval_s = 60;
		fl->sample_1_in_n = 1;
		fl->traffic_type = 0xff;
	}
	json_object_foreach((json_t *)body, key, v) {
		rc = apply_field(key, v, patch, enis, fl, err);
		if (rc)
			return rc;
	}
	if (patch && json_object_size(body) == 0) {
		efd_err_set(err, 400, "", "nothing to change");
		return -EINVAL;
	}
	if (!patch && fl->resource[0] == '\0') {
		efd_err_set(err, 400, "resource", "required");
		return -EINVAL;
	}
	if (!patch && fl->traffic_type == 0xff) {
		efd_err_set(err, 400, "traffic_type", "required");
		return -EINVAL;
	}
	return 0;
}

json_t *efd_fl_to_json(const struct efd_flowlog *fl)
{
	return json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:o}", "id", fl->id,
			 "resource", fl->resource,
			 "traffic_type", efd_traffic_name(fl->traffic_type),
			 "aggregation_interval_s", (int)fl->agg_interval_s,
			 "sample_1_in_n", (int)fl->sample_1_in_n,
			 "created_ns", (json_int_t)fl->created_ns,
			 "destinations", efd_dests_to_json(fl));
}

static int fl_from_saved(json_t *o, struct efd_flowlog *fl, struct efd_err *err)
{
	json_t *copy = json_deep_copy(o);
	json_t *id = json_object_get(o, "id"), *cr = json_object_get(o, "created_ns");
	int rc;

	if (!json_is_string(id) || json_string_length(id) >= EFD_FL_ID_LEN || !json_is_integer(cr)) {
		json_decref(copy);
		efd_err_set(err, 400, "id", "missing id or created_ns");
		return -EINVAL;
	}
	json_object_del(copy, "id");
	json_object_del(copy, "created_ns");
	/* The saved resource was valid when created; the ENI may be away now. */
	json_t *res = json_object_get(copy, "resource");
	struct efd_enis one = { .n = 1 };
	if (json_is_string(res))
		snprintf(one.eni[0].eni_id, EFL_ID_LEN, "%s", json_string_value(res));
	rc = efd_fl_from_json(copy, false, &one, fl, err);
	json_decref(copy);
	if (rc == 0) {
		snprintf(fl->id, sizeof(fl->id), "%s", json_string_value(id));
		fl->created_ns = (uint64_t)json_integer_value(cr);
	}
	return rc;
}

int efd_fls_load(struct efd_flowlogs *s, const char *data_dir, struct efd_err *err)
{
	json_error_t je;
	size_t i;
	json_t *v;

	s->n = 0;
	snprintf(s->path, sizeof(s->path), "%s/flowlogs.json", data_dir);
	if (access(s->path, F_OK) != 0)
		return 0;
	json_t *root = json_load_file(s->path, JSON_REJECT_DUPLICATES, &je);
	json_t *arr = json_object_get(root, "flow_logs");
	if (!json_is_array(arr) || json_array_size(arr) > EFD_MAX_FLOWLOGS) {
		efd_err_set(err, 400, "flow_logs", "%s: line %d: %s", s->path, je.line,
			    root ? "want {\"flow_logs\": [...]}" : je.text);
		json_decref(root);
		return -EINVAL;
	}
	json_array_foreach(arr, i, v) {
		int rc = fl_from_saved(v, &s->fl[s->n], err);
		if (rc) {
			char pre[EFD_PATH_MAX + 40];
			snprintf(pre, sizeof(pre), "%s: flow_logs[%zu]: ", s->path, i);
			efd_err_prefix(err, pre);
			json_decref(root);
			return rc;
		}
		s->n++;
	}
	json_decref(root);
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char tmp[EFD_PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	int fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) ? -errno : 0;
	close(fd);
	return rc;
}

int efd_fls_write(const char *path, const struct efd_flowlog *fl, uint32_t n)
{
	char tmp[EFD_PATH_MAX + 8];
	json_t *arr = json_array();
	int rc = 0;

	for (uint32_t i = 0; i < n; i++)
		json_array_append_new(arr, efd_fl_to_json(&fl[i]));
	json_t *root = json_pack("{s:i, s:o}", "version", 1, "flow_logs", arr);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		json_decref(root);
		return -errno;
	}
	errno = 0;
	if (json_dumpfd(root, fd, JSON_INDENT(1)) != 0 || fsync(fd) != 0)
		rc = errno ? -errno : -EIO;
	close(fd);
	json_decref(root);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc == 0)
		rc = fsync_dir_of(path);
	if (rc)
		unlink(tmp);
	return rc;
}

int efd_fls_save(const struct efd_flowlogs *s)
{
	return efd_fls_write(s->path, s->fl, s->n);
}

int efd_fls_add(struct efd_flowlogs *s, struct efd_flowlog *fl, struct efd_err *err)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (strcmp(s->fl[i].resource, fl->resource) == 0) {
			efd_err_set(err, 409, "resource", "%s already has flow log %s",
				    fl->resource, s->fl[i].id);
			return -EEXIST;
		}
	if (s->n == EFD_MAX_FLOWLOGS) {
		efd_err_set(err, 409, "", "at most %d flow logs", EFD_MAX_FLOWLOGS);
		return -ENOSPC;
	}
	uint64_t r = 0;
	FILE *f = fopen("/dev/urandom", "r");
	if (f == NULL || fread(&r, sizeof(r), 1, f) != 1)
		r = efd_now_ns() ^ ((uint64_t)getpid() << 32);
	if (f)
		fclose(f);
	snprintf(fl->id, sizeof(fl->id), "fl-%016llx", (unsigned long long)r);
	fl->created_ns = efd_now_ns();
	s->fl[s->n++] = *fl;
	return 0;
}

struct efd_flowlog *efd_fls_find(struct efd_flowlogs *s, const char *id)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (strcmp(s->fl[i].id, id) == 0)
			return &s->fl[i];
	return NULL;
}

int efd_fls_remove(struct efd_flowlogs *s, const char *id)
{
	struct efd_flowlog *f = efd_fls_find(s, id);
	if (f == NULL)
		return -ENOENT;
	*f = s->fl[--s->n];
	return 0;
}

const struct efd_flowlog *efd_fls_effective(const struct efd_flowlogs *s,
					    const struct efl_shm_eni *e, struct efl_eni_cfg *cfg)
{
	const struct efd_flowlog *best = NULL;
	int best_rank = 99;

	for (uint32_t i = 0; i < s->n; i++) {
		const char *r = s->fl[i].resource;
		int rank = strcmp(r, e->eni_id) == 0 ? 0 :
			   (e->subnet_id[0] && strcmp(r, e->subnet_id) == 0) ? 1 :
			   (e->vpc_id[0] && strcmp(r, e->vpc_id) == 0) ? 2 : 99;
		if (rank < best_rank) {
			best_rank = rank;
			best = &s->fl[i];
		}
	}
	memset(cfg, 0, sizeof(*cfg));
	if (best) {
		cfg->enabled = 1;
		cfg->traffic_type = best->traffic_type;
		cfg->agg_interval_s = best->agg_interval_s;
		cfg->sample_1_in_n = best->sample_1_in_n;
	}
	return best;
}
