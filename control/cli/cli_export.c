/*
 * cli_export.c - `eniflow export ipfix SEG... --to HOST:PORT`: offline export
 * of segment files to an IPFIX collector.
 *
 * The exporter in lib/ never blocks and drops when its queue is full; that is
 * right for eniflowd, but a file export can wait. So this verb applies back
 * pressure: it feeds the queue only as fast as the socket drains it, and
 * gives up (dropping and counting the rest) only after the collector made no
 * progress for --timeout seconds. The summary (one JSON object on stdout)
 * says what was sent and what was lost; any loss makes the exit status 1.
 */
#include "cli.h"
#include "ipfix.h"
#include "segment.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ~100k records/s over UDP: what nfcapd and Filebeat take with default buffers. */
#define CLI_EXPORT_DEFAULT_RATE 10000

struct export_ctx {
	const char *prog;
	struct ipfix_exporter *x;
	int timeout_ms; /* give up after this long without progress */
	bool gave_up;   /* timed out once: stop waiting until the collector moves again */
};

static void export_usage(FILE *f)
{
	fprintf(f,
		"usage: eniflow export ipfix SEG... --to HOST:PORT [--tcp] [--mtu N]\n"
		"                            [--domain N] [--rate N] [--timeout S]\n"
		"                            [--nanoseconds] [--pen N]\n"
		"\n"
		"Send every record of the segment files to an IPFIX (RFC 7011) collector.\n"
		"Templates and fields are documented in docs/ipfix.md.\n"
		"\n"
		"  --to HOST:PORT   collector address ([v6addr]:port for IPv6)\n"
		"  --tcp            TCP instead of UDP\n"
		"  --mtu N          largest message in bytes (default 1400 UDP, 65535 TCP)\n"
		"  --domain N       observation domain id (default 0)\n"
		"  --rate N         UDP: at most N messages per second (default 10000;\n"
		"                   0: no limit). A burst faster than the collector reads\n"
		"                   is lost in its socket buffer, where no one counts it.\n"
		"  --timeout S      give up after S seconds without progress (default 10)\n"
		"  --nanoseconds    also send flowStart/EndNanoseconds\n"
		"  --pen N          enterprise number of the eniflow elements (default 32473)\n"
		"\n"
		"Prints a JSON summary on stdout. Exit status 1 if any record was lost.\n");
}

/* Split HOST:PORT or [V6]:PORT into host and port (modifies s). */
static int split_hostport(char *s, char **host, char **port)
{
	char *c;

	if (s[0] == '[') {
		c = strchr(s, ']');
		if (!c || c[1] != ':')
			return -EINVAL;
		*c = '\0';
		*host = s + 1;
		*port = c + 2;
	} else {
		c = strrchr(s, ':');
		if (!c)
			return -EINVAL;
		*c = '\0';
		*host = s;
		*port = c + 1;
	}
	return **host && **port ? 0 : -EINVAL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Poll until the queue has room or timeout_ms passed (at once after a
 * time-out, so a dead collector costs one timeout, not one per block).
 * Returns the room. */
static size_t wait_room(struct export_ctx *c)
{
	uint64_t end = now_ms() + (c->gave_up ? 0 : (uint64_t)c->timeout_ms);

	for (;;) {
		struct pollfd pfd;
		short ev;
		int t;

		ipfix_exporter_poll(c->x);
		if (ipfix_exporter_room(c->x) || now_ms() >= end)
			return ipfix_exporter_room(c->x);
		pfd.fd = ipfix_exporter_fd(c->x, &ev, &t);
		pfd.events = ev;
		if (t < 0 || t > 100)
			t = 100;
		poll(&pfd, pfd.fd >= 0 && ev ? 1 : 0, t);
	}
}

static int feed(struct export_ctx *c, const struct rec_flow *recs, size_t n)
{
	while (n) {
		size_t room = ipfix_exporter_room(c->x);
		if (!room)
			room = wait_room(c);
		if (!room) { /* no progress for timeout: drop (counted) and go on */
			bool first = !c->gave_up;
			c->gave_up = true;
			ipfix_exporter_enqueue(c->x, recs, n);
			return first ? -ETIMEDOUT : 0;
		}
		c->gave_up = false; /* the collector takes records again */
		size_t k = ipfix_exporter_enqueue(c->x, recs, n < room ? n : room);
		recs += k;
		n -= k;
		ipfix_exporter_poll(c->x);
	}
	return 0;
}

static int export_open(void *ctx, struct seg_reader *r, const char *path)
{
	struct export_ctx *c = ctx;
	const struct seg_header_info *h = seg_reader_header(r);

	/* ENI ids are looked up at encoding time: the previous file's records
	 * must be out before its dictionary is replaced. */
	if (!c->gave_up && ipfix_exporter_flush(c->x, c->timeout_ms) < 0) {
		fprintf(stderr, "%s: collector made no progress for %d ms\n", c->prog, c->timeout_ms);
		c->gave_up = true;
	}
	if (ipfix_exporter_set_enis(c->x, h->enis, h->n_enis) < 0) {
		fprintf(stderr, "%s: %s: out of memory\n", c->prog, path);
		return -ENOMEM;
	}
	return 0;
}

/* A stalled collector is reported and counted, not a reason to stop reading. */
static int export_block(void *ctx, const struct rec_flow *recs, size_t n, const char *path)
{
	struct export_ctx *c = ctx;

	if (feed(c, recs, n) == -ETIMEDOUT)
		fprintf(stderr, "%s: %s: collector made no progress for %d ms: "
			"dropping (counted)\n", c->prog, path, c->timeout_ms);
	return 0;
}

static const struct cli_block_ops export_ops = {export_open, export_block};

static void print_summary(const struct ipfix_exporter_stats *s)
{
	printf("{\"offered\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"nodata_skipped\":%" PRIu64
	       ",\"dropped_queue\":%" PRIu64 ",\"dropped_send\":%" PRIu64
	       ",\"dropped_packets\":%" PRIu64 ",\"dropped_bytes\":%" PRIu64
	       ",\"unsent\":%" PRIu64 ",\"messages\":%" PRIu64 ",\"octets\":%" PRIu64
	       ",\"template_messages\":%" PRIu64 ",\"connects\":%" PRIu64
	       ",\"connect_failures\":%" PRIu64 ",\"send_errors\":%" PRIu64
	       ",\"last_error\":\"%s\"}\n",
	       s->offered, s->sent, s->nodata_skipped, s->dropped_queue, s->dropped_send,
	       s->dropped_packets, s->dropped_bytes, s->queued, s->messages, s->octets,
	       s->template_msgs, s->connects, s->connect_failures, s->send_errors,
	       s->last_errno ? strerror(s->last_errno) : "");
}

static int parse_opts(int argc, char **argv, struct ipfix_exporter_opts *o,
		      char **to, int *timeout_ms)
{
	static const struct option opts[] = {
		{"to", required_argument, NULL, 't'}, {"tcp", no_argument, NULL, 'T'},
		{"mtu", required_argument, NULL, 'm'}, {"domain", required_argument, NULL, 'd'},
		{"rate", required_argument, NULL, 'r'}, {"timeout", required_argument, NULL, 'w'},
		{"nanoseconds", no_argument, NULL, 'n'}, {"pen", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
	};
	uint64_t v;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 't': *to = optarg; break;
		case 'T': o->tcp = true; break;
		case 'n': o->nanoseconds = true; break;
		case 'm':
			if (cli_parse_u64(argv[0], "--mtu", optarg, IPFIX_MIN_MTU, IPFIX_MAX_MSG, &v))
				return CLI_USAGE;
			o->mtu = (uint32_t)v;
			break;
		case 'd':
			if (cli_parse_u64(argv[0], "--domain", optarg, 0, UINT32_MAX, &v))
				return CLI_USAGE;
			o->domain_id = (uint32_t)v;
			break;
		case 'r':
			if (cli_parse_u64(argv[0], "--rate", optarg, 0, 10000000, &v))
				return CLI_USAGE;
			o->rate_msgs = (uint32_t)v;
			break;
		case 'w':
			if (cli_parse_u64(argv[0], "--timeout", optarg, 1, 86400, &v))
				return CLI_USAGE;
			*timeout_ms = (int)v * 1000;
			break;
		case 'p':
			if (cli_parse_u64(argv[0], "--pen", optarg, 1, UINT32_MAX, &v))
				return CLI_USAGE;
			o->pen = (uint32_t)v;
			break;
		case 'h': export_usage(stdout); return -1;
		default: return cli_usage_hint(argv[0]);
		}
	}
	return CLI_OK;
}

int cli_export(int argc, char **argv)
{
	struct ipfix_exporter_opts o = {.rate_msgs = CLI_EXPORT_DEFAULT_RATE};
	struct ipfix_exporter_stats s;
	struct export_ctx c = {.prog = argv[0], .timeout_ms = 10000};
	char *to = NULL, *host, *port, msg[256];
	int rc, status = CLI_OK;

	if (argc < 2 || strcmp(argv[1], "ipfix") != 0) {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			export_usage(stdout);
			return CLI_OK;
		}
		return cli_usage_error(argv[0], "export needs a format: 'ipfix'");
	}
	argc--, argv++;
	argv[0] = (char *)c.prog;
	rc = parse_opts(argc, argv, &o, &to, &c.timeout_ms);
	if (rc)
		return rc < 0 ? CLI_OK : rc;
	if (!to)
		return cli_usage_error(c.prog, "--to HOST:PORT is required");
	if (split_hostport(to, &host, &port))
		return cli_usage_error(c.prog, "--to '%s': want HOST:PORT or [IPV6]:PORT", to);
	if (optind >= argc)
		return cli_usage_error(c.prog, "no segment file given");
	o.host = host;
	o.port = port;
	c.x = ipfix_exporter_create(&o, msg, sizeof(msg));
	if (!c.x) {
		fprintf(stderr, "%s: %s\n", c.prog, msg);
		return CLI_FAULT;
	}
	for (int i = optind; i < argc; i++)
		if (cli_each_block(c.prog, argv[i], &export_ops, &c) != CLI_OK)
			status = CLI_FAULT;
	if (ipfix_exporter_flush(c.x, c.gave_up ? 0 : c.timeout_ms) < 0 && !c.gave_up)
		fprintf(stderr, "%s: collector made no progress for %d ms\n", c.prog, c.timeout_ms);
	ipfix_exporter_get_stats(c.x, &s);
	print_summary(&s);
	if (s.dropped_queue || s.dropped_send || s.queued) {
		fprintf(stderr, "%s: %" PRIu64 " of %" PRIu64 " records not delivered\n", c.prog,
			s.dropped_queue + s.dropped_send + s.queued, s.offered);
		status = CLI_FAULT;
	}
	ipfix_exporter_destroy(c.x);
	return cli_finish_stdout(c.prog) != CLI_OK ? CLI_FAULT : status;
}
