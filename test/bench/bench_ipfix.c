/*
 * bench_ipfix.c - delivery throughput on one core: IPFIX records/s encoded,
 * IPFIX records/s encoded and sent over UDP to a local socket (drained by a
 * second thread, which counts what arrived), JSON Lines and ECS lines/s,
 * each beside the segment writer's records/s measured in the same run (the
 * baseline: what eniflowd already does with every record).
 *
 * usage: bench_ipfix [RECORDS]   (default 1000000)
 * Prints one JSON object per case per line. Never fails on a figure.
 */
#include "ipfix.h"
#include "rec_format.h"
#include "recgen.h"
#include "segment.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ENIS 16

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct seg_eni_info enis[ENIS];

static double bench_segment(const struct rec_flow *r, size_t n)
{
	char dir[] = "/tmp/bench_ipfix.XXXXXX";
	struct seg_header_info h = {.format_version = SEG_FORMAT_VERSION, .n_enis = ENIS, .enis = enis};
	struct seg_writer_opts o = {.no_fsync = true};
	struct seg_err err;
	char path[128];

	if (!mkdtemp(dir))
		return 0;
	snprintf(h.host_id, sizeof(h.host_id), "bench");
	double t0 = now_s();
	struct seg_writer *w = seg_writer_create(dir, "bench.fls", &h, &o, &err);
	if (!w) {
		fprintf(stderr, "segment writer: %s\n", err.msg);
		return 0;
	}
	for (size_t i = 0; i < n; i += 4096)
		seg_writer_append(w, r + i, n - i < 4096 ? n - i : 4096, &err);
	seg_writer_seal(w, &err);
	double t = now_s() - t0;
	snprintf(path, sizeof(path), "%s/bench.fls", dir);
	unlink(path);
	rmdir(dir);
	return (double)n / t;
}

static double bench_encode(const struct rec_flow *r, size_t n, size_t *msgs)
{
	struct ipfix_enc_opts o = {.domain_id = 1};
	struct ipfix_enc *e = ipfix_enc_create(&o);
	static uint8_t buf[IPFIX_DEFAULT_MTU];
	volatile uint8_t sink = 0;
	size_t at = 0;

	ipfix_enc_set_enis(e, enis, ENIS);
	*msgs = 0;
	double t0 = now_s();
	while (at < n) {
		struct ipfix_enc_result res;
		long len = ipfix_enc_data(e, r + at, n - at, 1, buf, sizeof(buf), &res);
		if (len > 0)
			sink ^= buf[len - 1], (*msgs)++;
		at += res.used;
	}
	double t = now_s() - t0;
	(void)sink;
	ipfix_enc_destroy(e);
	return (double)n / t;
}

static atomic_bool drain_stop;
static atomic_ulong drained_msgs;

static void *drain(void *arg)
{
	int fd = *(int *)arg;
	static uint8_t buf[65536];
	while (!atomic_load(&drain_stop)) {
		ssize_t k = recv(fd, buf, sizeof(buf), 0);
		if (k > 0)
			atomic_fetch_add(&drained_msgs, 1);
	}
	return NULL;
}

static double bench_udp(const struct rec_flow *r, size_t n, struct ipfix_exporter_stats *st)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0), big = 32 << 20;
	struct timeval tv = {.tv_usec = 100000};
	char port[16], msg[256];
	pthread_t th;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &l);
	snprintf(port, sizeof(port), "%u", ntohs(a.sin_port));
	struct ipfix_exporter_opts o = {.host = "127.0.0.1", .port = port, .queue_records = 1 << 16};
	struct ipfix_exporter *x = ipfix_exporter_create(&o, msg, sizeof(msg));
	if (!x) {
		fprintf(stderr, "exporter: %s\n", msg);
		return 0;
	}
	ipfix_exporter_set_enis(x, enis, ENIS);
	pthread_create(&th, NULL, drain, &fd);
	double t0 = now_s();
	for (size_t i = 0; i < n;) {
		/* the daemon's pattern: hand a burst over, poll, never wait */
		size_t k = ipfix_exporter_room(x);
		k = k > 4096 ? 4096 : k;
		k = k > n - i ? n - i : k;
		i += ipfix_exporter_enqueue(x, r + i, k);
		ipfix_exporter_poll(x);
	}
	ipfix_exporter_flush(x, 10000);
	double t = now_s() - t0;
	usleep(200000);
	atomic_store(&drain_stop, true);
	pthread_join(th, NULL);
	ipfix_exporter_get_stats(x, st);
	ipfix_exporter_destroy(x);
	close(fd);
	return (double)n / t;
}

static double bench_text(const struct rec_flow *r, size_t n, enum rec_fmt f, double *mb_s)
{
	static char line[REC_FMT_LINE_MAX];
	size_t bytes = 0;
	double t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		int len = rec_format(f, &r[i], &enis[r[i].eni % ENIS], line, sizeof(line));
		bytes += len > 0 ? (size_t)len : 0;
	}
	double t = now_s() - t0;
	*mb_s = (double)bytes / t / 1e6;
	return (double)n / t;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	struct rec_gen_params p = {.seed = 42, .n_enis = ENIS, .v6_percent = 20, .all_kinds = true};
	struct rec_gen *g = rec_gen_create(&p);
	struct rec_flow *r = malloc(n * sizeof(*r));
	struct ipfix_exporter_stats st;
	size_t msgs;
	double mb;

	if (!g || !r || !n)
		return 1;
	rec_gen_next(g, r, n);
	for (uint32_t i = 0; i < ENIS; i++)
		rec_gen_eni_info(i, &enis[i]);
	double base = bench_segment(r, n);
	printf("{\"case\":\"segment_writer\",\"records\":%zu,\"records_per_s\":%.0f,\"ratio\":1.00}\n",
	       n, base);
	double enc = bench_encode(r, n, &msgs);
	printf("{\"case\":\"ipfix_encode\",\"records\":%zu,\"messages\":%zu,\"records_per_s\":%.0f,"
	       "\"ratio_to_segment_writer\":%.2f}\n", n, msgs, enc, enc / base);
	double udp = bench_udp(r, n, &st);
	printf("{\"case\":\"ipfix_udp_send\",\"records\":%zu,\"sent\":%llu,\"nodata_skipped\":%llu,"
	       "\"dropped\":%llu,\"messages\":%llu,\"drained_messages\":%lu,\"records_per_s\":%.0f,"
	       "\"ratio_to_segment_writer\":%.2f}\n", n, (unsigned long long)st.sent,
	       (unsigned long long)st.nodata_skipped,
	       (unsigned long long)(st.dropped_queue + st.dropped_send),
	       (unsigned long long)st.messages, atomic_load(&drained_msgs), udp, udp / base);
	double js = bench_text(r, n, REC_FMT_JSON, &mb);
	printf("{\"case\":\"json_lines\",\"records\":%zu,\"lines_per_s\":%.0f,\"mb_per_s\":%.1f,"
	       "\"ratio_to_segment_writer\":%.2f}\n", n, js, mb, js / base);
	double ecs = bench_text(r, n, REC_FMT_ECS, &mb);
	printf("{\"case\":\"ecs_lines\",\"records\":%zu,\"lines_per_s\":%.0f,\"mb_per_s\":%.1f,"
	       "\"ratio_to_segment_writer\":%.2f}\n", n, ecs, mb, ecs / base);
	rec_gen_destroy(g);
	free(r);
	return 0;
}
