/*
 * efd_http.c - libmicrohttpd plumbing: listening socket, limits, request
 * bodies, auth, routing and the JSON error shape.
 *
 * Bodies are read by hand with a cap (no MHD PostProcessor: CVE-2023-27371)
 * and parsed by jansson only after a depth/size pre-scan. MHD runs one thread
 * per connection so a streamed response (segment download, live tail) can
 * block without holding up others; the connection limit, per-IP limit,
 * timeout and per-connection memory limit bound what a flood can take.
 * MHD's timeout is an idle timeout, so a client trickling a byte at a time
 * (slowloris) would never hit it: a reaper thread cuts (shutdown) any
 * connection whose request is not fully received conn_timeout_s after the
 * connection opened or its previous response completed. What MHD 0.9.75
 * lets through is refused here before routing: a NUL, raw or %00, in the
 * URI (MHD truncates there, so "/v1/health%00x" would reach /v1/health),
 * raw bytes outside printable ASCII, a path that decodes to invalid UTF-8
 * or control characters, and repeated Content-Length, Transfer-Encoding,
 * Authorization, Host or Range headers (MHD keeps the first: a smuggling
 * vector). Refusals that need no body (bad auth, a declared body over the
 * cap) are answered before the body is read, with Connection: close.
 * The listening socket is ours, not MHD's, so it survives a re-exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <strings.h>
#include <time.h>
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
/* How long a re-exec waits for the responses being sent (finish_responses()). */
#define EFD_REEXEC_WAIT_S 10

/** One open connection, watched by the reaper for the request deadline. */
struct conn_ent {
	struct conn_ent *prev, *next;
	int fd;
	uint64_t since_ns; /**< connection opened or previous response completed */
	bool receiving;    /**< a request is not yet fully received */
	bool cut;
};

struct efd_http {
	struct MHD_Daemon *mhd;
	struct efd *d;
	int fd;
	pthread_mutex_t lock; /**< guards conns and every conn_ent */
	struct conn_ent conns; /**< list head */
	pthread_t reaper;
	bool reaper_running;
	volatile bool stop;
};

/** Per-request state, allocated by the URI log callback, freed on completion. */
struct req_state {
	char *body;
	size_t len;
	bool too_big;
	bool started;        /**< the first access-handler call (headers) happened */
	const char *raw_uri; /**< the request line's URI as MHD parsed it, in place */
	size_t raw_len;      /**< strlen(raw_uri): shorter than the URI if it held a NUL */
	const char *bad_uri; /**< why the URI is refused, or NULL */
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
	if (r->json == NULL) /* the message echoed bytes that are not UTF-8 */
		r->json = json_pack("{s:s}", "error", "request refused (details not valid UTF-8)");
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

/** Accumulate the body up to the cap; beyond it, remember (the caller closes). */
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

/** Strict UTF-8 (no overlongs, surrogates or > U+10FFFF) without control characters. */
static bool utf8_printable(const unsigned char *s)
{
	while (*s) {
		unsigned c = *s, n, cp;
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return false;
			s++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return false;
		for (unsigned k = 1; k <= n; k++) {
			if ((s[k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[k] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		s += n + 1;
	}
	return true;
}

/** MHD's URI log callback: sees the raw URI first; its return value is *con_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct req_state *st = calloc(1, sizeof(*st));
	(void)cls; (void)c;
	if (st == NULL)
		return NULL;
	st->raw_uri = uri;
	st->raw_len = strlen(uri);
	for (const char *p = uri; *p; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			st->bad_uri = "raw bytes outside printable ASCII in the URI";
		else if (p[0] == '%' && p[1] == '0' && p[2] == '0')
			st->bad_uri = "an encoded NUL (%00) in the URI";
	}
	return st;
}

struct dup_scan {
	unsigned seen[5];
	const char *dup;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *value)
{
	static const char *const once[] = { "Content-Length", "Transfer-Encoding",
					    "Authorization", "Host", "Range" };
	struct dup_scan *ds = cls;
	(void)kind; (void)value;
	for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++)
		if (strcasecmp(key, once[i]) == 0 && ++ds->seen[i] == 2 && ds->dup == NULL)
			ds->dup = once[i];
	return MHD_YES;
}

/**
 * The headers are in: refuse what must not reach a route, and what needs no
 * body to refuse. 0 to go on reading the body, else the status put in r.
 */
static int screen_request(struct efd *d, struct MHD_Connection *c, struct req_state *st,
			  const char *url, const char *method, const char *version,
			  struct efd_resp *r)
{
	struct efd_err e;
	struct dup_scan ds = { { 0 }, NULL };

	/* MHD parses the request line in place: the version follows the URI's
	 * terminating NUL, unless a raw NUL cut the URI short */
	if (st->bad_uri == NULL && st->raw_uri + st->raw_len + 1 != version)
		st->bad_uri = "a NUL byte in the URI";
	if (st->bad_uri == NULL && !utf8_printable((const unsigned char *)url))
		st->bad_uri = "the path is not printable UTF-8";
	MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &ds);
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	if (st->bad_uri)
		efd_err_set(&e, 400, "url", "%s", st->bad_uri);
	else if (ds.dup)
		efd_err_set(&e, 400, ds.dup, "header %s given more than once", ds.dup);
	else if (is_mutating(method) && !check_auth(d, c, &e))
		;
	else if (cl && strtoull(cl, NULL, 10) > d->cfg.body_max)
		efd_err_set(&e, 413, "", "body larger than %u bytes", d->cfg.body_max);
	else
		return 0;
	efd_resp_error(r, &e);
	return r->status;
}

static struct conn_ent *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	struct efd_http *h = cls;
	struct efd *d = h->d;
	struct req_state *st = *con_cls;
	struct efd_resp r = { .status = 200 };

	if (st == NULL)
		return MHD_NO;
	if (!st->started) {
		st->started = true;
		if (screen_request(d, c, st, url, method, version, &r) == 0)
			return MHD_YES;
		/* answered before the body: the connection cannot be reused */
		char *txt = json_dumps(r.json, JSON_COMPACT);
		json_decref(r.json);
		r.json = NULL;
		size_t n = txt ? strlen(txt) : 0;
		r.raw = MHD_create_response_from_buffer(n, txt ? txt : "", txt ? MHD_RESPMEM_MUST_FREE
									: MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(r.raw, "Content-Type", "application/json");
		MHD_add_response_header(r.raw, "Connection", "close");
		return send_resp(c, &r);
	}
	if (*data_size > 0) {
		take_body(d, st, data, *data_size);
		*data_size = 0;
		/* a chunked body past the cap: MHD takes no response mid-body, so close */
		return st->too_big ? MHD_NO : MHD_YES;
	}
	struct conn_ent *ce = conn_of(c);
	if (ce) {
		pthread_mutex_lock(&h->lock);
		ce->receiving = false;
		pthread_mutex_unlock(&h->lock);
	}
	struct efd_req q = { method, url, st->body ? st->body : "", st->len, c };
	route(d, &q, &r);
	return send_resp(c, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct efd_http *h = cls;
	struct req_state *st = *con_cls;
	struct conn_ent *ce = conn_of(c);
	(void)toe;
	if (st) {
		free(st->body);
		free(st);
		*con_cls = NULL;
	}
	if (ce) { /* the next request on this connection gets its own deadline */
		pthread_mutex_lock(&h->lock);
		ce->receiving = true;
		ce->since_ns = efd_now_ns();
		pthread_mutex_unlock(&h->lock);
	}
}

/** Track connections for the reaper; MHD calls CLOSED before it closes the fd. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct efd_http *h = cls;
	struct conn_ent *ce = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		ce = ci ? calloc(1, sizeof(*ce)) : NULL;
		if (ce == NULL)
			return; /* not watched: MHD's idle timeout still applies */
		ce->fd = ci->connect_fd;
		ce->since_ns = efd_now_ns();
		ce->receiving = true;
		pthread_mutex_lock(&h->lock);
		ce->next = h->conns.next;
		ce->prev = &h->conns;
		h->conns.next->prev = ce;
		h->conns.next = ce;
		pthread_mutex_unlock(&h->lock);
		*socket_context = ce;
	} else if (ce) {
		pthread_mutex_lock(&h->lock);
		ce->prev->next = ce->next;
		ce->next->prev = ce->prev;
		pthread_mutex_unlock(&h->lock);
		free(ce);
		*socket_context = NULL;
	}
}

/** Cut connections whose request is still arriving after conn_timeout_s. */
static void *reaper_main(void *arg)
{
	struct efd_http *h = arg;
	const uint64_t limit = (uint64_t)h->d->cfg.conn_timeout_s * 1000000000ULL;
	const struct timespec tick = { 0, 100 * 1000 * 1000 };

	while (!h->stop) {
		nanosleep(&tick, NULL);
		uint64_t now = efd_now_ns(), n = 0;
		pthread_mutex_lock(&h->lock);
		for (struct conn_ent *ce = h->conns.next; ce != &h->conns; ce = ce->next)
			if (ce->receiving && !ce->cut && now - ce->since_ns > limit) {
				shutdown(ce->fd, SHUT_RDWR); /* MHD's thread sees EOF and closes */
				ce->cut = true;
				n++;
			}
		pthread_mutex_unlock(&h->lock);
		if (n) {
			pthread_mutex_lock(&h->d->lock);
			h->d->ctr.http_requests_cut += n;
			pthread_mutex_unlock(&h->d->lock);
		}
	}
	return NULL;
}

struct efd_http *efd_http_start(struct efd *d, int listen_fd)
{
	struct efd_http *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->d = d;
	h->fd = listen_fd;
	h->conns.next = h->conns.prev = &h->conns;
	pthread_mutex_init(&h->lock, NULL);
	h->mhd = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
			MHD_USE_POLL,
		0, NULL, NULL, on_request, h,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listen_fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)d->cfg.max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)d->cfg.max_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)d->cfg.conn_timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
		MHD_OPTION_END);
	if (h->mhd == NULL ||
	    (h->reaper_running = pthread_create(&h->reaper, NULL, reaper_main, h) == 0) == false) {
		if (h->mhd)
			MHD_stop_daemon(h->mhd);
		pthread_mutex_destroy(&h->lock);
		free(h);
		errno = EIO;
		return NULL;
	}
	return h;
}

/* Responses being sent: connections whose request was received and whose
 * response has not completed. */
static unsigned responses_in_flight(struct efd_http *h)
{
	unsigned n = 0;

	pthread_mutex_lock(&h->lock);
	for (struct conn_ent *ce = h->conns.next; ce != &h->conns; ce = ce->next)
		n += !ce->receiving;
	pthread_mutex_unlock(&h->lock);
	return n;
}

/*
 * Before a re-exec: no new connection is accepted (they wait in the
 * kernel's backlog for the new image), live tails end after what they
 * hold, and the responses being sent (a segment download, say) get up to
 * EFD_REEXEC_WAIT_S to finish; MHD_stop_daemon then closes every
 * connection, so one still going after that is cut (and logged).
 */
static void finish_responses(struct efd_http *h)
{
	const struct timespec tick = { 0, 20 * 1000 * 1000 };
	uint64_t t0 = efd_now_ns(), deadline = t0 + EFD_REEXEC_WAIT_S * 1000000000ull;
	unsigned first = responses_in_flight(h), left = first;

	efd_tail_end_all(h->d);
	if (first > 0)
		efd_log("info", "reexec_draining", "responses=%u wait_max_s=%d", first,
			EFD_REEXEC_WAIT_S);
	while (left > 0 && efd_now_ns() < deadline) {
		nanosleep(&tick, NULL);
		efd_tail_end_all(h->d); /* also one opened on a kept-alive connection since */
		left = responses_in_flight(h);
	}
	if (first > 0)
		efd_log(left ? "warn" : "info", "reexec_wait",
			"responses=%u unfinished=%u waited_ms=%" PRIu64, first, left,
			(efd_now_ns() - t0) / 1000000);
}

int efd_http_stop(struct efd_http *h, bool keep_listen_fd)
{
	int fd = -1;

	if (h == NULL)
		return -1;
	if (keep_listen_fd) {
		fd = MHD_quiesce_daemon(h->mhd);
		finish_responses(h);
	}
	h->stop = true;
	if (h->reaper_running)
		pthread_join(h->reaper, NULL);
	MHD_stop_daemon(h->mhd);
	pthread_mutex_destroy(&h->lock);
	free(h);
	return fd;
}
