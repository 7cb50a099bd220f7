/*
 * efd_http.c - libmicrohttpd plumbing: listening socket, limits, request
 * bodies, auth, routing and the JSON error shape.
 *
 * Bodies are read by hand with a cap (no MHD PostProcessor: CVE-2023-27371)
 * and parsed by jansson only after a depth/size pre-scan. MHD runs one thread
 * per connection so a streamed response (segment download, live tail) can
 * block without holding up others; the connection limit, per-IP limit,
 * timeout and per-connection memory limit bound what a flood can take.
 * The listening socket is ours, not MHD's, so it survives a re-exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <microhttpd.h>
#include "efd_internal.h"

#define EFD_MAX_DEPTH 8

struct efd_http {
	struct MHD_Daemon *mhd;
	struct efd *d;
	int fd;
};

/** Per-request state, allocated on the first callback, freed on completion. */
struct req_state {
	char *body;
	size_t len;
	bool too_big;
};

int efd_listen_socket(const char *listen_addr, struct efd_err *err)
{
	int fd;

	if (strncmp(listen_addr, "unix:", 5) == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", listen_addr + 5);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		unlink(sa.sun_path);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
		    chmod(sa.sun_path, 0660) != 0 || listen(fd, 128) != 0) {
			efd_err_set(err, 0, "listen", "%s: %s", listen_addr, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		return fd;
	}
	char host[256];
	const char *colon = strrchr(listen_addr, ':');
	snprintf(host, sizeof(host), "%.*s", (int)(colon - listen_addr), listen_addr);
	if (host[0] == '[') { /* [::1]:8080 */
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
	int rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc != 0) {
		efd_err_set(err, 0, "listen", "%s: %s", listen_addr, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
		efd_err_set(err, 0, "listen", "%s: %s", listen_addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

void efd_resp_error(struct efd_resp *r, const struct efd_err *e)
{
	r->status = e->status ? e->status : 400;
	r->json = json_pack("{s:s, s:s?}", "error", e->msg, "field",
			    e->field[0] ? e->field : NULL);
}

/** Nesting depth outside strings, so a hostile body never reaches a deep parse. */
static int json_depth(const char *s, size_t n)
{
	int depth = 0, max = 0;
	bool in_str = false;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				max = depth;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return max;
}

json_t *efd_parse_body(const struct efd_req *q, struct efd_err *err)
{
	json_error_t je;

	if (q->body_len == 0) {
		efd_err_set(err, 400, "", "a JSON body is required");
		return NULL;
	}
	if (json_depth(q->body, q->body_len) > EFD_MAX_DEPTH) {
		efd_err_set(err, 400, "", "JSON nested deeper than %d", EFD_MAX_DEPTH);
		return NULL;
	}
	json_t *j = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL) {
		bool dup = strstr(je.text, "duplicate") != NULL;
		char key[64] = "";
		const char *q1 = dup ? strchr(je.text, '\'') : NULL;
		if (q1 && q1[1] == '"') /* jansson: duplicate object key near '"name"' */
			snprintf(key, sizeof(key), "%.*s", (int)strcspn(q1 + 2, "\""), q1 + 2);
		efd_err_set(err, 400, key, "%s JSON at line %d column %d: %s",
			    dup ? "duplicate key in" : "bad", je.line, je.column, je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		efd_err_set(err, 400, "", "body must be a JSON object");
		return NULL;
	}
	return j;
}

/** Constant-time comparison so the token cannot be guessed byte by byte. */
static bool token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

static bool check_auth(struct efd *d, struct MHD_Connection *c, struct efd_err *err)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	if (h == NULL || strncmp(h, "Bearer ", 7) != 0 || h[7] == '\0') {
		efd_err_set(err, 401, "Authorization", "a Bearer token is required");
		return false;
	}
	if (!token_equal(h + 7, d->cfg.token)) {
		efd_err_set(err, 403, "Authorization", "wrong token");
		return false;
	}
	return true;
}

static bool is_mutating(const char *m)
{
	return strcmp(m, "POST") == 0 || strcmp(m, "PATCH") == 0 || strcmp(m, "DELETE") == 0 ||
	       strcmp(m, "PUT") == 0;
}

static void method_not_allowed(struct efd_resp *r, const char *method)
{
	struct efd_err e;
	efd_err_set(&e, 405, "", "method %s not allowed here", method);
	efd_resp_error(r, &e);
}

/** Map a URL to its route; sub is the {id}/{name} path segment, if any. */
static void route(struct efd *d, const struct efd_req *q, struct efd_resp *r)
{
	const char *u = q->url, *m = q->method;
	bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
	struct efd_err e;

	if (strcmp(u, "/v1/enis") == 0)
		get ? api_enis_get(d, q, r) : method_not_allowed(r, m);
	else if (strcmp(u, "/v1/flow-logs") == 0)
		api_flowlogs(d, q, NULL, r);
	else if (strncmp(u, "/v1/flow-logs/", 14) == 0 && u[14])
		api_flowlogs(d, q, u + 14, r);
	else if (strcmp(u, "/v1/segments") == 0)
		api_segments(d, q, NULL, r);
	else if (strncmp(u, "/v1/segments/", 13) == 0 && u[13]) /* the name is validated there */
		api_segments(d, q, u + 13, r);
	else if (strcmp(u, "/v1/stats") == 0)
		get ? api_stats_get(d, q, r) : method_not_allowed(r, m);
	else if (strcmp(u, "/metrics") == 0)
		get ? api_metrics_get(d, q, r) : method_not_allowed(r, m);
	else if (strcmp(u, "/v1/health") == 0)
		get ? api_health_get(d, q, r) : method_not_allowed(r, m);
	else if (strcmp(u, "/v1/flows/stream") == 0)
		get ? api_stream_get(d, q, r) : method_not_allowed(r, m);
	else if (strcmp(u, "/v1/query") == 0)
		api_query_get(d, q, r);
	else if (strncmp(u, "/v1/detections", 14) == 0 && (!u[14] || (u[14] == '/' && u[15])))
		api_detections_get(d, q, u[14] ? u + 15 : NULL, r);
	else {
		efd_err_set(&e, 404, "", "no route %s", u);
		efd_resp_error(r, &e);
	}
}

static enum MHD_Result send_resp(struct MHD_Connection *c, struct efd_resp *r)
{
	struct MHD_Response *resp = r->raw;
	enum MHD_Result ret;

	if (resp == NULL) {
		char *txt = r->json ? json_dumps(r->json, JSON_COMPACT) : strdup("");
		size_t n = strlen(txt);
		txt[n] = '\0';
		char *body = malloc(n + 2);
		memcpy(body, txt, n);
		body[n] = '\n';
		free(txt);
		resp = MHD_create_response_from_buffer(n + 1, body, MHD_RESPMEM_MUST_FREE);
		MHD_add_response_header(resp, "Content-Type", "application/json");
		json_decref(r->json);
	}
	if (r->status == 401)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
	ret = MHD_queue_response(c, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/** Accumulate the body up to the cap; beyond it, keep reading but remember. */
static void take_body(struct efd *d, struct req_state *st, const char *data, size_t n)
{
	if (st->too_big || st->len + n > d->cfg.body_max) {
		st->too_big = true;
		return;
	}
	char *nb = realloc(st->body, st->len + n + 1);
	if (nb == NULL) {
		st->too_big = true;
		return;
	}
	memcpy(nb + st->len, data, n);
	st->body = nb;
	st->len += n;
	st->body[st->len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	struct efd *d = cls;
	struct req_state *st = *con_cls;
	struct efd_resp r = { .status = 200 };
	struct efd_err e;
	(void)version;

	if (st == NULL) {
		st = calloc(1, sizeof(*st));
		if (st == NULL)
			return MHD_NO;
		*con_cls = st;
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		if (cl && strtoull(cl, NULL, 10) > d->cfg.body_max)
			st->too_big = true;
		return MHD_YES;
	}
	if (*data_size > 0) {
		take_body(d, st, data, *data_size);
		*data_size = 0;
		return MHD_YES;
	}
	struct efd_req q = { method, url, st->body ? st->body : "", st->len, c };
	if (is_mutating(method) && !check_auth(d, c, &e))
		efd_resp_error(&r, &e);
	else if (st->too_big) {
		efd_err_set(&e, 413, "", "body larger than %u bytes", d->cfg.body_max);
		efd_resp_error(&r, &e);
	} else
		route(d, &q, &r);
	return send_resp(c, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req_state *st = *con_cls;
	(void)cls; (void)c; (void)toe;
	if (st) {
		free(st->body);
		free(st);
		*con_cls = NULL;
	}
}

struct efd_http *efd_http_start(struct efd *d, int listen_fd)
{
	struct efd_http *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->d = d;
	h->fd = listen_fd;
	h->mhd = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
			MHD_USE_POLL,
		0, NULL, NULL, on_request, d,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listen_fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)d->cfg.max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)d->cfg.max_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)d->cfg.conn_timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_END);
	if (h->mhd == NULL) {
		free(h);
		errno = EIO;
		return NULL;
	}
	return h;
}

int efd_http_stop(struct efd_http *h, bool keep_listen_fd)
{
	int fd = -1;

	if (h == NULL)
		return -1;
	if (keep_listen_fd)
		fd = MHD_quiesce_daemon(h->mhd);
	MHD_stop_daemon(h->mhd);
	free(h);
	return fd;
}
