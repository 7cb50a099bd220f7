/*
 * bench_vswitch - eniflow-vswitch forwarding rate with flow logs off and on
 * for every ENI, in the same run, on one forwarding lcore.
 *
 *   bench_vswitch CAPTURE.pcap FLOWS [SECONDS_PER_PHASE [ROUNDS [MODES]]]
 *
 * A net_pcap port (infinite_rx=1) replays the capture as an ENI; half of it
 * goes to a second ENI and half to the uplink, both net_null. The main
 * lcore drains the export ring as eniflowd would, so no record meets a full
 * ring (sized to hold a whole end-of-phase flush). The flow cache and the
 * SG connection table are sized for the flows
 * (FLOWS x 1.5 live entries each: half the packets cross two ENIs) at 4x
 * FLOWS entries, as docs/operations.md says to size them.
 *
 * Each round runs an "off" phase then an "on" phase (MODES "on" or "off"
 * runs only that one, for a profiler). Every phase starts the worker afresh
 * with an empty flow cache (the previous phase's flows were flushed when it
 * stopped), warms up 0.5 s, then measures SECONDS_PER_PHASE. Per phase:
 *   - mpps: packets received / wall seconds;
 *   - cycles_per_pkt: the worker thread's CPU time (CLOCK_THREAD_CPUTIME_ID,
 *     in TSC cycles) / packets, so time the thread was descheduled on a
 *     shared machine does not count; loop_cycles_per_pkt is the old TSC
 *     span of busy loop iterations, which does count it.
 * Reported: medians over the rounds, and the median of the per-round ratios
 * on/off of CPU-time throughput (adjacent phases see the same machine load);
 * measured_* are the plugin's counters summed over the measured windows of
 * the on phases (the flushes at the ends of phases are not measured).
 * Prints one JSON line.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include "record.h"
#include "vs_forward.h"
#include "vs_telemetry.h"

#define MAX_ROUNDS 32

struct sample {
	double mpps, cpp, loop_cpp;
	uint64_t evicted, ring_full; /* during the measured window */
};

static struct vs_switch *g_sw;
static struct rte_ring *g_ring;
static uint64_t g_drained;
static clockid_t g_worker_clock;
static volatile int g_clock_ready;

static int worker_entry(void *arg)
{
	pthread_getcpuclockid(pthread_self(), &g_worker_clock);
	__atomic_store_n(&g_clock_ready, 1, __ATOMIC_RELEASE);
	return vs_worker_main(arg);
}

/* Drain the export ring for a while; nap when it is empty unless busy. */
static void drain_for(double seconds, bool busy)
{
	uint64_t end = rte_rdtsc() + (uint64_t)(seconds * (double)rte_get_tsc_hz());
	struct rec_flow recs[256];
	do {
		unsigned n = rte_ring_sc_dequeue_burst_elem(g_ring, recs, sizeof(recs[0]), 256, NULL);
		g_drained += n;
		if (n == 0 && !busy)
			usleep(200);
	} while (rte_rdtsc() < end);
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(g_worker_clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct sample phase(bool on, double seconds, const struct efl_lcore_stats *ls)
{
	struct vs_worker *w = vs_switch_worker(g_sw, 0);
	const struct vs_worker_stats *st = vs_worker_stats(w);
	double hz = (double)rte_get_tsc_hz();

	vs_switch_flowlog_all(g_sw, on);
	vs_switch_rearm(g_sw);
	__atomic_store_n(&g_clock_ready, 0, __ATOMIC_RELEASE);
	rte_eal_remote_launch(worker_entry, w, 1);
	while (!__atomic_load_n(&g_clock_ready, __ATOMIC_ACQUIRE))
		usleep(100);
	drain_for(0.5, false); /* one pass of a 1M-flow capture creates every flow */
	uint64_t e0 = ls->flows_evicted, f0 = ls->ring_full_records;
	uint64_t p0 = st->busy_packets, c0 = st->busy_cycles, t0 = rte_rdtsc();
	double u0 = cpu_s();
	drain_for(seconds, false);
	uint64_t p1 = st->busy_packets, c1 = st->busy_cycles, t1 = rte_rdtsc();
	double u1 = cpu_s(), pk = (double)(p1 - p0);
	struct sample s = {.mpps = pk / ((double)(t1 - t0) / hz) / 1e6,
			   .cpp = (u1 - u0) * hz / pk, .loop_cpp = (double)(c1 - c0) / pk,
			   .evicted = ls->flows_evicted - e0, .ring_full = ls->ring_full_records - f0};
	vs_switch_stop(g_sw);
	while (rte_eal_get_lcore_state(1) != WAIT)
		drain_for(0.001, true); /* the worker's final flush goes through the ring */
	rte_eal_wait_lcore(1);
	drain_for(0.01, true);
	return s;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[MAX_ROUNDS];
	if (n == 0)
		return 0;
	memcpy(s, v, sizeof(double) * (size_t)n);
	qsort(s, (size_t)n, sizeof(double), cmp_d);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static const char *config_json(const char *pcap, unsigned flows, char *buf, size_t cap)
{
	unsigned mbufs = flows + 65536, cache = flows * 4 < 65536 ? 65536 : flows * 4, ring = 65536;
	while (ring < flows * 2 && ring < (1u << 21))
		ring <<= 1; /* holds the 1.5x FLOWS records of the end-of-phase flush */
	snprintf(buf, cap,
		 "{\"mbufs\": %u, \"mbuf_data_room\": 128, \"flows_per_worker\": %u,"
		 " \"connections_per_worker\": %u, \"flow_ring_size\": %u,"
		 "\"ports\": ["
		 "{\"name\": \"src\", \"devargs\": \"net_pcap_b0,rx_pcap=%s,infinite_rx=1\","
		 " \"eni\": {\"id\": \"eni-bench1\", \"account\": \"1\", \"vpc\": \"v\", \"subnet\": \"s\","
		 "  \"mac\": \"02:00:00:00:00:01\", \"security_groups\": [\"sg\"]}},"
		 "{\"name\": \"dst\", \"devargs\": \"net_null_b1,no-rx=1\","
		 " \"eni\": {\"id\": \"eni-bench2\", \"account\": \"1\", \"vpc\": \"v\", \"subnet\": \"s\","
		 "  \"mac\": \"02:00:00:00:00:02\", \"security_groups\": [\"sg\"]}},"
		 "{\"name\": \"up\", \"devargs\": \"net_null_b2,no-rx=1\", \"uplink\": true}],"
		 "\"security_groups\": [{\"id\": \"sg\","
		 " \"ingress\": [{\"id\": 1, \"proto\": \"tcp\", \"ports\": [80, 80], \"cidr\": \"10.0.0.0/8\"},"
		 "  {\"id\": 2, \"proto\": \"udp\", \"ports\": [53, 53], \"cidr\": \"10.0.0.0/8\"}],"
		 " \"egress\": [{\"id\": 3, \"proto\": \"all\", \"cidr\": \"0.0.0.0/0\"}]}],"
		 "\"network_acls\": [{\"id\": \"acl\", \"subnets\": [\"s\"],"
		 " \"ingress\": [{\"number\": 10, \"action\": \"deny\", \"proto\": \"tcp\", \"ports\": [22, 22], \"cidr\": \"0.0.0.0/0\"},"
		 "  {\"number\": 100, \"action\": \"allow\", \"proto\": \"all\", \"cidr\": \"0.0.0.0/0\"}],"
		 " \"egress\": [{\"number\": 100, \"action\": \"allow\", \"proto\": \"all\", \"cidr\": \"0.0.0.0/0\"}]}],"
		 "\"lcores\": [{\"lcore\": 1, \"ports\": [\"src\", \"dst\", \"up\"]}]}",
		 mbufs, cache, cache, ring, pcap);
	return buf;
}

static struct vs_switch *switch_make(const char *prog, const char *pcap, unsigned flows)
{
	static char json[8192], err[VS_ERR_LEN];
	static struct vs_config cfg;
	if (vs_config_parse(config_json(pcap, flows, json, sizeof(json)), &cfg, err) != 0) {
		fprintf(stderr, "bench config: %s\n", err);
		return NULL;
	}
	/* One fixed prefix (benchmarks run one at a time): no dir left per run. */
	char *eal[32] = {(char *)prog, "--no-pci", "-l", "0,1", "--file-prefix=bench_vswitch",
			 "--log-level=*:warning", "--in-memory", "-m", "2048"};
	int n = 9;
	for (uint32_t p = 0; p < cfg.n_ports; p++) {
		eal[n++] = "--vdev";
		eal[n++] = cfg.ports[p].devargs;
	}
	if (rte_eal_init(n, eal) < 0) {
		fprintf(stderr, "rte_eal_init failed\n");
		return NULL;
	}
	struct vs_switch_params sp = {.instance = "bench"};
	struct vs_switch *sw = vs_switch_create(&cfg, &sp, err);
	if (sw == NULL)
		fprintf(stderr, "vs_switch_create: %s\n", err);
	return sw;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s CAPTURE.pcap FLOWS [SECONDS_PER_PHASE [ROUNDS [offon|on|off]]]\n",
			argv[0]);
		return 2;
	}
	unsigned flows = (unsigned)strtoul(argv[2], NULL, 10);
	double secs = argc > 3 ? atof(argv[3]) : 2.0;
	int rounds = argc > 4 ? atoi(argv[4]) : 3;
	const char *modes = argc > 5 ? argv[5] : "offon";
	bool do_off = strcmp(modes, "on") != 0, do_on = strcmp(modes, "off") != 0;
	rounds = rounds < 1 ? 1 : rounds > MAX_ROUNDS ? MAX_ROUNDS : rounds;

	g_sw = switch_make(argv[0], argv[1], flows);
	if (g_sw == NULL)
		return 1;
	char rn[RTE_RING_NAMESIZE];
	snprintf(rn, sizeof(rn), EFL_RING_EXPORT, "bench", 0u);
	g_ring = rte_ring_lookup(rn);
	const struct efl_lcore_stats *ls = &fl_dp_shm_stats(vs_switch_plugin(g_sw))->lcore[0];

	double v[6][MAX_ROUNDS], ratio[MAX_ROUNDS], ratio_wall[MAX_ROUNDS];
	int nr = 0;
	uint64_t evicted = 0, ring_full = 0;
	for (int r = 0; r < rounds; r++, nr++) {
		struct sample off = {0}, on = {0};
		if (do_off)
			off = phase(false, secs, ls);
		if (do_on)
			on = phase(true, secs, ls);
		evicted += on.evicted;
		ring_full += on.ring_full;
		double s[6] = {off.mpps, off.cpp, off.loop_cpp, on.mpps, on.cpp, on.loop_cpp};
		for (int k = 0; k < 6; k++)
			v[k][r] = s[k];
		ratio[r] = on.cpp > 0 && off.cpp > 0 ? off.cpp / on.cpp : 0;
		ratio_wall[r] = off.mpps > 0 ? on.mpps / off.mpps : 0;
	}
	printf("{\"bench\": \"vswitch\", \"flows\": %u, \"rounds\": %d, \"secs_per_phase\": %.1f, "
	       "\"off_mpps\": %.3f, \"off_cycles_per_pkt\": %.1f, \"off_loop_cycles_per_pkt\": %.1f, "
	       "\"on_mpps\": %.3f, \"on_cycles_per_pkt\": %.1f, \"on_loop_cycles_per_pkt\": %.1f, "
	       "\"added_cycles_per_pkt\": %.1f, \"ratio_on_off\": %.3f, \"ratio_on_off_wall\": %.3f, "
	       "\"measured_flows_evicted\": %" PRIu64 ", \"measured_ring_full_records\": %" PRIu64
	       ", \"flows_created\": %" PRIu64 ", \"records_exported\": %" PRIu64
	       ", \"ring_full_records\": %" PRIu64 ", \"records_drained\": %" PRIu64 "}\n",
	       flows, nr, secs, median(v[0], nr), median(v[1], nr), median(v[2], nr),
	       median(v[3], nr), median(v[4], nr), median(v[5], nr),
	       median(v[4], nr) - median(v[1], nr), median(ratio, nr), median(ratio_wall, nr),
	       evicted, ring_full, ls->flows_created, ls->records_exported,
	       ls->ring_full_records, g_drained);
	vs_switch_destroy(g_sw);
	rte_eal_cleanup();
	return 0;
}
