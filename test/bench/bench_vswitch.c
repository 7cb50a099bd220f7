/*
 * bench_vswitch - eniflow-vswitch forwarding rate with flow logs off and on
 * for every ENI, in the same run, on one forwarding lcore.
 *
 *   bench_vswitch CAPTURE.pcap FLOWS [SECONDS_PER_PHASE]
 *
 * A net_pcap port (infinite_rx=1) replays the capture as an ENI; half of it
 * goes to a second ENI and half to the uplink, both net_null. The main
 * lcore drains the export rings as eniflowd would. The flow cache has 4x
 * FLOWS entries (about 1.5x FLOWS flows live: half the packets cross two
 * ENIs). Phases alternate
 * off/on/off/on; the best of each is reported. Prints one JSON line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include "record.h"
#include "vs_forward.h"
#include "vs_telemetry.h"

struct sample {
	double mpps, cycles;
};

static struct vs_switch *g_sw;
static struct rte_ring *g_rings[1];
static uint64_t g_drained;

static void drain_for(double seconds)
{
	uint64_t end = rte_rdtsc() + (uint64_t)(seconds * (double)rte_get_tsc_hz());
	void *objs[64];
	while (rte_rdtsc() < end) {
		unsigned n = g_rings[0] ? rte_ring_dequeue_burst(g_rings[0], objs, 64, NULL) : 0;
		g_drained += n;
		if (n == 0)
			usleep(200);
	}
}

static struct sample phase(bool on, double seconds)
{
	const struct vs_worker_stats *st = vs_worker_stats(vs_switch_worker(g_sw, 0));
	vs_switch_flowlog_all(g_sw, on);
	drain_for(0.5); /* let the worker pick the config up and settle */
	uint64_t p0 = st->busy_packets, c0 = st->busy_cycles, t0 = rte_rdtsc();
	drain_for(seconds);
	uint64_t p1 = st->busy_packets, c1 = st->busy_cycles, t1 = rte_rdtsc();
	double secs = (double)(t1 - t0) / (double)rte_get_tsc_hz();
	return (struct sample){.mpps = (double)(p1 - p0) / secs / 1e6,
			       .cycles = (double)(c1 - c0) / (double)(p1 - p0)};
}

static const char *config_json(const char *pcap, unsigned flows, char *buf, size_t cap)
{
	unsigned mbufs = flows + 65536, cache = flows * 4 < 65536 ? 65536 : flows * 4;
	snprintf(buf, cap,
		 "{\"mbufs\": %u, \"mbuf_data_room\": 128, \"flows_per_worker\": %u,"
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
		 mbufs, cache, pcap);
	return buf;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s CAPTURE.pcap FLOWS [SECONDS_PER_PHASE]\n", argv[0]);
		return 2;
	}
	unsigned flows = (unsigned)strtoul(argv[2], NULL, 10);
	double secs = argc > 3 ? atof(argv[3]) : 3.0;
	static char json[8192], prefix[64], err[VS_ERR_LEN];
	static struct vs_config cfg;
	if (vs_config_parse(config_json(argv[1], flows, json, sizeof(json)), &cfg, err) != 0) {
		fprintf(stderr, "bench config: %s\n", err);
		return 1;
	}
	/* One fixed prefix (benchmarks run one at a time): no dir left per run. */
	snprintf(prefix, sizeof(prefix), "--file-prefix=bench_vswitch");
	char *eal[32] = {argv[0], "--no-pci", "-l", "0,1", prefix, "--log-level=*:warning",
			 "--in-memory", "-m", "2048"};
	int n = 9;
	for (uint32_t p = 0; p < cfg.n_ports; p++) {
		eal[n++] = "--vdev";
		eal[n++] = cfg.ports[p].devargs;
	}
	if (rte_eal_init(n, eal) < 0) {
		fprintf(stderr, "rte_eal_init failed\n");
		return 1;
	}
	struct vs_switch_params sp = {.instance = "bench"};
	g_sw = vs_switch_create(&cfg, &sp, err);
	if (g_sw == NULL) {
		fprintf(stderr, "vs_switch_create: %s\n", err);
		return 1;
	}
	char rn[RTE_RING_NAMESIZE];
	snprintf(rn, sizeof(rn), EFL_RING_EXPORT, "bench", 0u);
	g_rings[0] = rte_ring_lookup(rn);
	rte_eal_remote_launch(vs_worker_main, vs_switch_worker(g_sw, 0), 1);

	struct sample best[2] = {{0, 0}, {0, 0}};
	for (int r = 0; r < 4; r++) {
		struct sample s = phase(r % 2 == 1, secs);
		if (s.mpps > best[r % 2].mpps)
			best[r % 2] = s;
	}
	struct vs_eni_totals t;
	vs_eni_totals(g_sw, 0, &t);
	const struct efl_lcore_stats *ls = &fl_dp_shm_stats(vs_switch_plugin(g_sw))->lcore[0];
	vs_switch_stop(g_sw);
	rte_eal_mp_wait_lcore();
	printf("{\"bench\": \"vswitch\", \"flows\": %u, \"off_mpps\": %.3f, "
	       "\"off_cycles_per_pkt\": %.1f, \"on_mpps\": %.3f, \"on_cycles_per_pkt\": %.1f, "
	       "\"ratio_on_off\": %.3f, \"records_drained\": %" PRIu64 ", \"eni1_seen\": %" PRIu64
	       ", \"eni1_accounted\": %" PRIu64 ", \"eni1_lost\": %" PRIu64
	       ", \"flows_created\": %" PRIu64 ", \"flows_evicted\": %" PRIu64 "}\n",
	       flows, best[0].mpps, best[0].cycles, best[1].mpps, best[1].cycles,
	       best[1].mpps / best[0].mpps, g_drained, t.seen_packets, t.accounted_packets,
	       t.lost_packets, ls->flows_created, ls->flows_evicted);
	vs_switch_destroy(g_sw);
	rte_eal_cleanup();
	return 0;
}
