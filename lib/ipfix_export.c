/*
 * ipfix_export.c - IPFIX transport: a bounded record queue in front of a
 * non-blocking UDP or TCP socket.
 *
 * The one promise is that the caller (eniflowd's ring-drain loop, or the
 * CLI) never waits for a collector. enqueue only copies into a ring of
 * records and counts what does not fit; poll encodes one message at a time
 * and sends it with MSG_DONTWAIT, keeping a message the socket did not take
 * for the next poll. Whatever cannot be delivered is dropped and counted in
 * records, packets and bytes, and the counts go on the wire too, as an
 * RFC 7011 §4.3 reliability-statistics options record.
 *
 * UDP: a connected socket, so that ICMP port-unreachable comes back as
 * ECONNREFUSED (the refused message is counted as lost, and templates are
 * resent at once because the collector may have restarted); templates are
 * refreshed by time and by message count; an optional message rate limit.
 * TCP: non-blocking connect, reconnect with exponential back-off, templates
 * once per connection; a message cut by a reset is counted as lost.
 */
#include "ipfix.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

enum conn_state { ST_DOWN, ST_CONNECTING, ST_UP };

/* Messages one poll may build and send (~0.2 ms of work), so that a long
 * queue never holds the caller's loop for long. */
#define IPFIX_POLL_BUDGET 128

struct ipfix_exporter {
	struct ipfix_exporter_opts o;
	char host[256], port[32];
	struct ipfix_enc *enc;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int fd;
	enum conn_state st;
	/* queue: a power-of-two ring of records. [head, cur) is in the message
	 * in hand (kept until the socket took it, so a lost message can be
	 * handed to on_drop); [cur, tail) waits to be encoded. */
	struct rec_flow *q;
	uint64_t mask, head, cur, tail;
	/* the message being sent */
	uint8_t *msg;
	size_t msg_len, msg_off;
	struct ipfix_enc_result msg_res; /* records in it (0 for templates/stats) */
	/* timers */
	uint64_t next_connect_ns, backoff_ms;
	uint64_t last_tpl_ns;
	uint32_t msgs_since_tpl;
	bool need_tpl;
	double tokens;
	uint64_t tokens_ns;
	struct ipfix_exporter_stats s;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t export_time(void)
{
	return (uint32_t)time(NULL);
}

static void set_defaults(struct ipfix_exporter_opts *o)
{
	if (!o->mtu)
		o->mtu = o->tcp ? IPFIX_MAX_MSG : IPFIX_DEFAULT_MTU;
	if (!o->queue_records)
		o->queue_records = 65536;
	if (!o->refresh_s)
		o->refresh_s = 60;
	if (!o->refresh_msgs)
		o->refresh_msgs = 1000;
	if (!o->backoff_min_ms)
		o->backoff_min_ms = 100;
	if (!o->backoff_max_ms)
		o->backoff_max_ms = 30000;
}

static int resolve(struct ipfix_exporter *x, char *msg, size_t msglen)
{
	struct addrinfo hints = {0}, *ai = NULL;
	int rc;

	hints.ai_socktype = x->o.tcp ? SOCK_STREAM : SOCK_DGRAM;
	rc = getaddrinfo(x->host, x->port, &hints, &ai);
	if (rc) {
		snprintf(msg, msglen, "collector %s port %s: %s", x->host, x->port, gai_strerror(rc));
		return -EINVAL;
	}
	memcpy(&x->addr, ai->ai_addr, ai->ai_addrlen);
	x->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static void close_sock(struct ipfix_exporter *x)
{
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
	x->st = ST_DOWN;
	x->s.connected = false;
}

/* Count the records of the message in hand as lost, tell on_drop, forget it. */
static void drop_msg(struct ipfix_exporter *x)
{
	x->s.dropped_send += x->msg_res.records;
	x->s.dropped_packets += x->msg_res.packets;
	x->s.dropped_bytes += x->msg_res.bytes;
	x->s.nodata_skipped += x->msg_res.nodata;
	if (x->o.on_drop && x->cur != x->head) /* never wraps: see build_data */
		x->o.on_drop(x->o.on_drop_arg, &x->q[x->head & x->mask], (size_t)(x->cur - x->head));
	x->head = x->cur;
	memset(&x->msg_res, 0, sizeof(x->msg_res));
	x->msg_len = x->msg_off = 0;
}

static void schedule_reconnect(struct ipfix_exporter *x, int err)
{
	uint64_t now = mono_ns();

	close_sock(x);
	x->s.last_errno = err;
	x->next_connect_ns = now + x->backoff_ms * 1000000ull;
	x->backoff_ms = x->backoff_ms * 2 > x->o.backoff_max_ms ? x->o.backoff_max_ms
								  : x->backoff_ms * 2;
}

/* Open the socket; UDP is connected at once, TCP starts connecting. */
static int open_sock(struct ipfix_exporter *x)
{
	int type = (x->o.tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;

	x->fd = socket(x->addr.ss_family, type, 0);
	if (x->fd < 0)
		return -errno;
	if (connect(x->fd, (struct sockaddr *)&x->addr, x->addrlen) == 0) {
		x->st = ST_UP;
	} else if (errno == EINPROGRESS) {
		x->st = ST_CONNECTING;
		return 0;
	} else {
		int err = -errno;
		close_sock(x);
		return err;
	}
	x->s.connected = true;
	x->need_tpl = true;
	if (x->o.tcp) {
		x->s.connects++;
		x->backoff_ms = x->o.backoff_min_ms;
	}
	return 0;
}

struct ipfix_exporter *ipfix_exporter_create(const struct ipfix_exporter_opts *o,
					     char *msg, size_t msglen)
{
	struct ipfix_exporter *x = calloc(1, sizeof(*x));
	struct ipfix_enc_opts eo = {0};
	uint64_t cap = 1;
	int rc;

	if (!x) {
		snprintf(msg, msglen, "out of memory");
		return NULL;
	}
	x->fd = -1;
	x->o = *o;
	set_defaults(&x->o);
	snprintf(x->host, sizeof(x->host), "%s", o->host ? o->host : "127.0.0.1");
	snprintf(x->port, sizeof(x->port), "%s", o->port ? o->port : "4739");
	x->o.host = x->host;
	x->o.port = x->port;
	eo.domain_id = o->domain_id;
	eo.pen = o->pen;
	eo.max_msg = x->o.mtu;
	eo.nanoseconds = o->nanoseconds;
	x->enc = ipfix_enc_create(&eo);
	if (!x->enc) {
		rc = -errno;
		snprintf(msg, msglen, "mtu %u: must be %u..%u", x->o.mtu, IPFIX_MIN_MTU, IPFIX_MAX_MSG);
		goto fail;
	}
	while (cap < x->o.queue_records)
		cap <<= 1;
	x->mask = cap - 1;
	x->q = malloc(cap * sizeof(*x->q));
	x->msg = malloc(x->o.mtu);
	if (!x->q || !x->msg) {
		rc = -ENOMEM;
		snprintf(msg, msglen, "out of memory for a queue of %llu records",
			 (unsigned long long)cap);
		goto fail;
	}
	rc = resolve(x, msg, msglen);
	if (rc)
		goto fail;
	x->backoff_ms = x->o.backoff_min_ms;
	x->tokens = 1;
	x->tokens_ns = mono_ns();
	rc = open_sock(x);
	if (rc && !x->o.tcp) {
		snprintf(msg, msglen, "collector %s:%s: %s", x->host, x->port, strerror(-rc));
		goto fail;
	}
	if (rc) { /* TCP: refused at once; retry after the back-off like any failure */
		x->s.connect_failures++;
		schedule_reconnect(x, -rc);
	}
	return x;
fail:
	ipfix_exporter_destroy(x);
	errno = -rc;
	return NULL;
}

void ipfix_exporter_destroy(struct ipfix_exporter *x)
{
	if (!x)
		return;
	close_sock(x);
	ipfix_enc_destroy(x->enc);
	free(x->q);
	free(x->msg);
	free(x);
}

int ipfix_exporter_set_enis(struct ipfix_exporter *x, const struct seg_eni_info *enis,
			    uint32_t n)
{
	return ipfix_enc_set_enis(x->enc, enis, n);
}

size_t ipfix_exporter_room(const struct ipfix_exporter *x)
{
	return (size_t)(x->mask + 1 - (x->tail - x->head));
}

size_t ipfix_exporter_enqueue(struct ipfix_exporter *x, const struct rec_flow *recs,
			      size_t n)
{
	size_t room = ipfix_exporter_room(x), k = n < room ? n : room;

	for (size_t i = 0; i < k; i++)
		x->q[(x->tail + i) & x->mask] = recs[i];
	x->tail += k;
	x->s.offered += n;
	if (k < n && x->o.on_drop)
		x->o.on_drop(x->o.on_drop_arg, recs + k, n - k);
	for (size_t i = k; i < n; i++) {
		x->s.dropped_queue++;
		if (recs[i].kind == REC_KIND_FLOW) {
			x->s.dropped_packets += recs[i].packets;
			x->s.dropped_bytes += recs[i].bytes;
		}
	}
	return k;
}


/* Check whether a background TCP connect finished. */
static void check_connect(struct ipfix_exporter *x)
{
	struct pollfd pfd = {.fd = x->fd, .events = POLLOUT};
	int err = 0;
	socklen_t len = sizeof(err);

	if (poll(&pfd, 1, 0) <= 0)
		return; /* still in progress */
	if (getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		x->s.connect_failures++;
		schedule_reconnect(x, err);
		return;
	}
	x->st = ST_UP;
	x->s.connected = true;
	x->s.connects++;
	x->backoff_ms = x->o.backoff_min_ms;
	x->need_tpl = true;
}

/*
 * Send the rest of the message in hand. Returns 0 when it is all out,
 * -EAGAIN when the socket is full (keep it), or -errno after dropping it.
 */
static int send_msg(struct ipfix_exporter *x)
{
	while (x->msg_off < x->msg_len) {
		ssize_t n = send(x->fd, x->msg + x->msg_off, x->msg_len - x->msg_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			int err = errno;
			if (err == EAGAIN || err == EWOULDBLOCK)
				return -EAGAIN;
			if (err == EINTR)
				continue;
			x->s.send_errors++;
			x->s.last_errno = err;
			drop_msg(x);
			if (x->o.tcp)
				schedule_reconnect(x, err);
			else
				x->need_tpl = true; /* the collector may come back empty */
			return -err;
		}
		x->msg_off += (size_t)n;
	}
	x->s.messages++;
	x->s.octets += x->msg_len;
	x->s.sent += x->msg_res.records;
	x->s.nodata_skipped += x->msg_res.nodata;
	x->head = x->cur; /* the records are out: their room is free */
	x->msgs_since_tpl += x->msg_res.records > 0; /* refresh counts data messages */
	memset(&x->msg_res, 0, sizeof(x->msg_res));
	x->msg_len = x->msg_off = 0;
	return 0;
}

static bool tpl_due(const struct ipfix_exporter *x, uint64_t now)
{
	if (x->need_tpl)
		return true;
	if (x->o.tcp || x->cur == x->tail)
		return false; /* refresh only ahead of data */
	return x->msgs_since_tpl >= x->o.refresh_msgs ||
	       now - x->last_tpl_ns >= (uint64_t)x->o.refresh_s * 1000000000ull;
}

/* Put templates in hand, with a loss report behind them if there is loss. */
static void build_templates(struct ipfix_exporter *x, uint64_t now)
{
	struct ipfix_loss_counts c = {x->s.dropped_queue + x->s.dropped_send,
				      x->s.dropped_packets, x->s.dropped_bytes};
	/* Templates and the report fit in IPFIX_MIN_MTU (checked by test_ipfix). */
	long len = ipfix_enc_templates(x->enc, export_time(), c.records ? &c : NULL,
				       x->msg, x->o.mtu);

	x->msg_len = len > 0 ? (size_t)len : 0;
	x->msg_off = 0;
	x->need_tpl = false;
	x->last_tpl_ns = now;
	x->msgs_since_tpl = 0;
	x->s.template_msgs++;
}

/*
 * Take the next data message from the queue; false if the queue is empty.
 * A message never spans the ring's end, so [head, cur) is contiguous.
 */
static bool build_data(struct ipfix_exporter *x)
{
	while (x->cur != x->tail) {
		uint64_t at = x->cur & x->mask;
		size_t n = (size_t)(x->tail - x->cur);
		long len;

		if (n > x->mask + 1 - at)
			n = (size_t)(x->mask + 1 - at); /* up to the ring's end */
		len = ipfix_enc_data(x->enc, &x->q[at], n, export_time(), x->msg, x->o.mtu,
				     &x->msg_res);
		if (len < 0) { /* cannot happen: mtu >= IPFIX_MIN_MTU fits any record */
			memset(&x->msg_res, 0, sizeof(x->msg_res));
			x->msg_res.records = 1;
			x->cur++;
			drop_msg(x);
			continue;
		}
		x->cur += x->msg_res.used;
		if (len > 0) {
			x->msg_len = (size_t)len;
			x->msg_off = 0;
			return true;
		}
		x->s.nodata_skipped += x->msg_res.nodata; /* only no-data records: done */
		x->head = x->cur;
		memset(&x->msg_res, 0, sizeof(x->msg_res));
	}
	return false;
}

/* UDP rate limit: a token bucket of rate_msgs/s, bursts of a tenth of a second. */
static bool take_token(struct ipfix_exporter *x, uint64_t now)
{
	double burst;

	if (x->o.tcp || !x->o.rate_msgs)
		return true;
	burst = x->o.rate_msgs / 10.0 < 1 ? 1 : x->o.rate_msgs / 10.0;
	x->tokens += (double)(now - x->tokens_ns) * x->o.rate_msgs / 1e9;
	x->tokens_ns = now;
	if (x->tokens > burst)
		x->tokens = burst;
	if (x->tokens < 1)
		return false;
	x->tokens -= 1;
	return true;
}

static int ensure_connected(struct ipfix_exporter *x, uint64_t now)
{
	int rc;

	if (x->st == ST_DOWN) {
		if (now < x->next_connect_ns)
			return -ENOTCONN;
		rc = open_sock(x);
		if (rc) {
			x->s.connect_failures++;
			schedule_reconnect(x, -rc);
			return rc;
		}
	}
	if (x->st == ST_CONNECTING)
		check_connect(x);
	return x->st == ST_UP ? 0 : -ENOTCONN;
}

int ipfix_exporter_poll(struct ipfix_exporter *x)
{
	uint64_t now = mono_ns();
	int rc = ensure_connected(x, now);

	if (rc)
		return rc == -ENOTCONN ? 0 : rc;
	for (int budget = IPFIX_POLL_BUDGET; budget > 0; budget--) {
		if (x->msg_len) {
			rc = send_msg(x);
			if (rc == -EAGAIN)
				return 0;
			if (rc)
				return rc; /* try again on the next poll */
			continue;
		}
		if (tpl_due(x, now)) {
			build_templates(x, now);
			continue;
		}
		if (x->cur == x->tail || !take_token(x, now))
			return 0;
		if (!build_data(x))
			return 0;
	}
	return 0; /* budget spent: ipfix_exporter_fd() asks to be called again at once */
}

int ipfix_exporter_fd(const struct ipfix_exporter *x, short *events, int *timeout_ms)
{
	uint64_t now = mono_ns();
	long t = -1; /* idle: nothing to do until the caller enqueues */

	/* The socket matters while a message waits for room or a TCP connect
	 * is in progress; otherwise only timers do. */
	*events = x->st == ST_CONNECTING || x->msg_len ? POLLOUT : 0;
	if (x->st == ST_DOWN)
		t = x->next_connect_ns > now ? (long)((x->next_connect_ns - now) / 1000000u) + 1 : 0;
	else if (!*events && x->cur != x->tail)
		t = x->o.rate_msgs && !x->o.tcp ? 1000 / (long)x->o.rate_msgs + 1 : 0;
	*timeout_ms = (int)(t > 1000000 ? 1000000 : t);
	return x->fd;
}

/* TCP: bytes the kernel still holds unacknowledged (0 for UDP or when down). */
static int unacked(const struct ipfix_exporter *x)
{
	int n = 0;

	if (!x->o.tcp || x->st != ST_UP || ioctl(x->fd, SIOCOUTQ, &n) < 0)
		return 0;
	return n;
}

int ipfix_exporter_flush(struct ipfix_exporter *x, int timeout_ms)
{
	uint64_t end = mono_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (;;) {
		struct pollfd pfd;
		short ev;
		int t;
		uint64_t now;

		ipfix_exporter_poll(x);
		if (x->head == x->tail && !x->msg_len && unacked(x) == 0)
			return 0;
		now = mono_ns();
		if (now >= end)
			return -ETIMEDOUT;
		pfd.fd = ipfix_exporter_fd(x, &ev, &t);
		pfd.events = ev;
		if (t < 0 || t > (int)((end - now) / 1000000u) + 1)
			t = (int)((end - now) / 1000000u) + 1;
		if (!ev || x->head == x->tail)
			t = t > 10 ? 10 : t; /* waiting on a timer or on TCP acks */
		poll(pfd.fd >= 0 && ev ? &pfd : NULL, pfd.fd >= 0 && ev ? 1 : 0, t);
	}
}

void ipfix_exporter_get_stats(const struct ipfix_exporter *x, struct ipfix_exporter_stats *s)
{
	*s = x->s;
	s->queued = x->tail - x->head; /* waiting, and in the message in hand */
}
