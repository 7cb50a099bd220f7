/*
 * api_segments.c - /v1/segments: list sealed segments, download one
 * (streamed from the file, single HTTP Range honoured) and delete one (the
 * storage job's acknowledgement). A name is validated strictly and looked up
 * in the store's catalog: a request never builds a path.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <microhttpd.h>
#include "efd_internal.h"

static int query_ns(struct MHD_Connection *c, const char *key, uint64_t *out, struct efd_err *e)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
	char *end;

	*out = 0;
	if (v == NULL || v[0] == '\0')
		return 0;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || *end || v[0] == '-') {
		efd_err_set(e, 400, key, "want nanoseconds since the epoch (unsigned integer)");
		return -EINVAL;
	}
	*out = x;
	return 0;
}

/** Parse "bytes=A-B", "bytes=A-" or "bytes=-N" against size. 0 ok, -1 unsatisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
	unsigned long long a, b;
	char *end;

	if (strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return -1;
	h += 6;
	if (*h == '-') {
		a = strtoull(h + 1, &end, 10);
		if (*end || a == 0 || size == 0)
			return -1;
		*off = a > size ? 0 : size - a;
		*len = size - *off;
		return 0;
	}
	a = strtoull(h, &end, 10);
	if (end == h || *end != '-' || a >= size)
		return -1;
	h = end + 1;
	b = *h ? strtoull(h, &end, 10) : size - 1;
	if ((*h && *end) || b < a)
		return -1;
	if (b >= size)
		b = size - 1;
	*off = a;
	*len = b - a + 1;
	return 0;
}

static void download(struct efd *d, const struct efd_req *q, const char *name, struct efd_resp *r)
{
	char path[EFD_PATH_MAX], hdr[96];
	uint64_t size, off = 0, len;
	struct efd_err e;
	int rc = efd_store_lookup(d->store, name, path, sizeof(path), &size);

	if (rc) {
		efd_err_set(&e, rc == -EINVAL ? 400 : 404, "name", "%s segment name",
			    rc == -EINVAL ? "bad" : "no such");
		efd_resp_error(r, &e);
		return;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		efd_err_set(&e, 404, "name", "no such segment");
		efd_resp_error(r, &e);
		return;
	}
	len = size;
	const char *rh = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Range");
	r->status = 200;
	if (rh && parse_range(rh, size, &off, &len) != 0) {
		close(fd);
		r->raw = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
		snprintf(hdr, sizeof(hdr), "bytes */%" PRIu64, size);
		MHD_add_response_header(r->raw, "Content-Range", hdr);
		r->status = 416;
		return;
	}
	r->raw = MHD_create_response_from_fd_at_offset64(len, fd, off);
	if (rh) {
		snprintf(hdr, sizeof(hdr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off,
			 off + len - 1, size);
		MHD_add_response_header(r->raw, "Content-Range", hdr);
		r->status = 206;
	}
	MHD_add_response_header(r->raw, "Accept-Ranges", "bytes");
	MHD_add_response_header(r->raw, "Content-Type", "application/octet-stream");
}

void api_segments(struct efd *d, const struct efd_req *q, const char *name, struct efd_resp *r)
{
	struct efd_err e;
	const char *m = q->method;
	bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;

	if (name == NULL && get) {
		uint64_t since, until;
		if (query_ns(q->conn, "since", &since, &e) || query_ns(q->conn, "until", &until, &e)) {
			efd_resp_error(r, &e);
			return;
		}
		if (until && since > until) {
			efd_err_set(&e, 400, "until", "until is before since");
			efd_resp_error(r, &e);
			return;
		}
		r->json = json_pack("{s:o}", "segments", efd_store_list(d->store, since, until));
	} else if (name && get) {
		download(d, q, name, r);
	} else if (name && strcmp(m, "DELETE") == 0) {
		int rc = efd_store_delete(d->store, name);
		if (rc == 0) {
			r->json = json_pack("{s:s}", "deleted", name);
			return;
		}
		efd_err_set(&e, rc == -EINVAL ? 400 : rc == -ENOENT ? 404 : 500, "name", "%s",
			    rc == -EINVAL ? "bad segment name" : rc == -ENOENT ? "no such segment" :
			    strerror(-rc));
		efd_resp_error(r, &e);
	} else {
		efd_err_set(&e, 405, "", "method %s not allowed here", m);
		efd_resp_error(r, &e);
	}
}
