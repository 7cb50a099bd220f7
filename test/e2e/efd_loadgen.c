/*
 * efd_loadgen.c - a minimal DPDK primary for eniflowd's drain tests: it
 * embeds the real flow-log plugin (dataplane/flowlog.h), publishes an ENI
 * table, and feeds the plugin synthetic UDP frames from real mbufs, as a
 * switch's worker would, without ports. At the end it flushes the plugin
 * and prints the dataplane's own counters per ENI as one JSON line, the
 * independent count the test compares the segments against.
 *
 * usage: efd_loadgen INSTANCE FILE_PREFIX SECONDS PPS [FLOWS_PER_ENI]
 * ENIs: 0 eni-a (subnet-1), 1 eni-b (subnet-1), 2 eni-c (subnet-2), and
 * 3 eni-d (subnet-2), which never gets a packet (for no-data records).
 * VPC vpc-x. Flows: 64 per ENI unless told (at most 1300, so that all fit
 * the flow cache); odd flows are REJECTed by security-group rule 7.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_memzone.h>
#include "flowlog.h"

#define N_ENIS 4
#define N_TRAFFIC_ENIS 3 /* eni-d gets none */
#define MAX_FLOWS_PER_ENI 1300
#define BURST 32

static volatile int stop;
static uint32_t flows_per_eni = 64;

static void on_signal(int s)
{
	(void)s;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int publish_enis(const char *instance)
{
	static const char *const ids[N_ENIS][2] = {
		{ "eni-a", "subnet-1" }, { "eni-b", "subnet-1" }, { "eni-c", "subnet-2" },
		{ "eni-d", "subnet-2" } };
	char name[RTE_MEMZONE_NAMESIZE];

	snprintf(name, sizeof(name), EFL_MZ_ENIS, instance);
	const struct rte_memzone *mz = rte_memzone_reserve(
		name, sizeof(struct efl_shm_eni) * EFL_MAX_ENIS, SOCKET_ID_ANY, 0);
	if (mz == NULL)
		return -1;
	struct efl_shm_eni *t = mz->addr;
	memset(t, 0, mz->len);
	for (uint32_t i = 0; i < N_ENIS; i++) {
		t[i].index = i;
		snprintf(t[i].eni_id, EFL_ID_LEN, "%s", ids[i][0]);
		snprintf(t[i].subnet_id, EFL_ID_LEN, "%s", ids[i][1]);
		snprintf(t[i].vpc_id, EFL_ID_LEN, "vpc-x");
		snprintf(t[i].account_id, EFL_ID_LEN, "123456789012");
		t[i].n_ipv4 = 1;
		t[i].ipv4[0][0] = 10, t[i].ipv4[0][2] = (uint8_t)i, t[i].ipv4[0][3] = 2;
	}
	return 0;
}

/** Ethernet + IPv4 + UDP, flow f of ENI e; size varies with the flow. */
static void build(struct rte_mbuf *m, uint32_t e, uint32_t f)
{
	uint16_t len = (uint16_t)(64 + (f % 32) * 8);
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, len);

	memset(p, 0, len);
	p[0] = 0x02, p[5] = (uint8_t)(e + 1);
	p[6] = 0x02, p[11] = 0xfe;
	p[12] = 0x08, p[13] = 0x00;
	uint8_t *ip = p + 14;
	ip[0] = 0x45;
	uint16_t ipl = (uint16_t)(len - 14);
	ip[2] = (uint8_t)(ipl >> 8), ip[3] = (uint8_t)ipl;
	ip[8] = 64, ip[9] = 17;
	ip[12] = 10, ip[13] = 1, ip[14] = (uint8_t)((f + 1) >> 8), ip[15] = (uint8_t)(f + 1);
	ip[16] = 10, ip[17] = 0, ip[18] = (uint8_t)e, ip[19] = 2;
	uint8_t *udp = ip + 20;
	udp[0] = (uint8_t)(0x30 + (f >> 8)), udp[1] = (uint8_t)f;
	udp[2] = 0x00, udp[3] = 53;
	uint16_t ul = (uint16_t)(ipl - 20);
	udp[4] = (uint8_t)(ul >> 8), udp[5] = (uint8_t)ul;
}

static void run(struct fl_worker *w, struct rte_mempool *pool, double seconds, uint64_t pps,
		struct efl_shm_header *hdr)
{
	struct rte_mbuf *m[BURST];
	struct fl_pkt_meta meta[BURST];
	uint64_t start = now_ns(), sent = 0, seq = 0, last_hb = 0;

	while (!stop && now_ns() - start < (uint64_t)(seconds * 1e9)) {
		uint64_t now = now_ns();
		if (now - last_hb > 50000000ULL) {
			hdr->heartbeat_ns = now;
			last_hb = now;
		}
		fl_dp_poll(w, now);
		if (sent * 1000000000ULL > pps * (now - start)) {
			usleep(200);
			continue;
		}
		if (rte_pktmbuf_alloc_bulk(pool, m, BURST) != 0)
			continue;
		for (int i = 0; i < BURST; i++, seq++) {
			uint32_t e = (uint32_t)(seq % N_TRAFFIC_ENIS);
			uint32_t f = (uint32_t)((seq / N_TRAFFIC_ENIS) % flows_per_eni);
			build(m[i], e, f);
			meta[i] = (struct fl_pkt_meta){ .eni = e, .direction = REC_DIR_INGRESS,
				.verdict = (f & 1) ? REC_VERDICT_REJECT : REC_VERDICT_ACCEPT,
				.layer = (f & 1) ? REC_LAYER_SG : REC_LAYER_NONE,
				.rule_id = (f & 1) ? 7 : 0 };
		}
		fl_dp_account_burst(w, m, meta, BURST, now);
		rte_pktmbuf_free_bulk(m, BURST);
		sent += BURST;
	}
}

static void report(struct fl_dp *dp, unsigned unflushed)
{
	struct efl_shm_stats *s = fl_dp_shm_stats(dp);
	const struct efl_lcore_stats *l = &s->lcore[0];

	printf("{\"unflushed\": %u, \"ring_full_records\": %llu, \"records_exported\": %llu, \"enis\": [",
	       unflushed, (unsigned long long)l->ring_full_records,
	       (unsigned long long)l->records_exported);
	for (uint32_t e = 0; e < N_ENIS; e++) {
		const struct efl_eni_stats *x = efl_stats_eni(s, 0, e);
		printf("%s{\"eni\": %u, \"packets_accounted\": %llu, \"bytes_accounted\": %llu, "
		       "\"lost_records\": %llu, \"lost_packets\": %llu, \"lost_bytes\": %llu}",
		       e ? ", " : "", e, (unsigned long long)x->packets_accounted,
		       (unsigned long long)x->bytes_accounted, (unsigned long long)x->lost_records,
		       (unsigned long long)x->lost_packets, (unsigned long long)x->lost_bytes);
	}
	printf("]}\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	char prefix[128];

	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: efd_loadgen INSTANCE FILE_PREFIX SECONDS PPS [FLOWS_PER_ENI]\n");
		return 2;
	}
	if (argc == 6)
		flows_per_eni = (uint32_t)strtoul(argv[5], NULL, 10);
	if (flows_per_eni == 0 || flows_per_eni > MAX_FLOWS_PER_ENI) {
		fprintf(stderr, "efd_loadgen: FLOWS_PER_ENI must be 1..%d\n", MAX_FLOWS_PER_ENI);
		return 2;
	}
	snprintf(prefix, sizeof(prefix), "--file-prefix=%s", argv[2]);
	char *eal[] = { argv[0], "--no-pci", "-l", "0", "-m", "128", prefix,
			"--log-level=*:warning", "--no-telemetry" };
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])), eal) < 0) {
		fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	struct fl_dp_params p = { .instance = argv[1], .n_workers = 1, .n_enis = N_ENIS,
				  .flows_per_worker = 4096, .ring_size = 65536,
				  .idle_timeout_ns = 500000000ULL, .socket_id = SOCKET_ID_ANY };
	/* the ENI table first: eniflowd reads it once the plugin's header exists */
	int enis_rc = publish_enis(argv[1]);
	struct fl_dp *dp = enis_rc == 0 ? fl_dp_create(&p) : NULL;
	struct rte_mempool *pool = rte_pktmbuf_pool_create("lg_pool", 1023, 0, 0,
							   RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (dp == NULL || pool == NULL) {
		fprintf(stderr, "efd_loadgen: set-up failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	struct efl_shm_header *hdr = fl_dp_shm_header(dp);
	hdr->running = 1;
	run(fl_dp_worker(dp, 0), pool, atof(argv[3]), strtoull(argv[4], NULL, 10), hdr);
	hdr->running = 0;
	unsigned unflushed = fl_dp_flush(fl_dp_worker(dp, 0), now_ns());
	hdr->flushed = 1;
	report(dp, unflushed);
	/* Exit without freeing: the daemon drains the rings from its own mapping. */
	return 0;
}
