/*
 * pcap_replay.c - replays capture files through a DPDK net_pcap vdev into
 * the flow-log plugin and prints what came out of the export ring. The
 * checks against capinfos/tshark live in test_pcap_replay.py, which runs
 * this program; this program checks conservation by itself.
 *
 * Usage: pcap_replay LISTFILE   (one capture path per line)
 *
 * One EAL for all files: each file becomes a net_pcap vdev added with
 * rte_eal_hotplug_add(), drained to the end, accounted in bursts of 32 with
 * fl_dp_account_burst(), flushed with fl_dp_flush(), and removed again, so
 * hundreds of captures cost one process. The export ring is drained after
 * every burst (this program is its consumer), so no record is ever lost to
 * a full ring; a loss record would still be printed and counted.
 *
 * Output, tab-separated, per file:
 *   file <path> <status> <frames received> <packets in records> <lost packets>
 *   rec <ip_version> <ethertype> <src> <dst> <proto> <sport> <dport> <packets> <bytes> <fragments>
 * status is "ok", or "open-failed" when net_pcap cannot open the file (not a
 * capture libpcap reads). Exit 1 if any file broke conservation: frames
 * received == the plugin's packets_accounted counter == packets in flow
 * records + packets in loss records.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "flowlog.h"
#include "record.h"
#include "shm_layout.h"

#define BURST 32
#define INSTANCE "replay"
#define BASE_NS 1700000000000000000ull

struct replay {
	struct fl_dp *dp;
	struct fl_worker *w;
	struct rte_ring *ring;
	struct rte_mempool *mp;
	uint64_t now_ns;
};

/* Per-file tallies, all from different places so that they can disagree. */
struct tally {
	uint64_t rx;           /* frames rte_eth_rx_burst returned */
	uint64_t rec_packets;  /* packets in flow records */
	uint64_t lost_packets; /* packets in loss records */
};

static void print_record(const struct rec_flow *r, struct tally *t)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

	if (r->kind == REC_KIND_LOSS) {
		t->lost_packets += r->packets;
		printf("loss\t%" PRIu64 "\t%" PRIu64 "\n", r->packets, r->bytes);
		return;
	}
	t->rec_packets += r->packets;
	rec_addr_str(r, true, s, sizeof(s));
	rec_addr_str(r, false, d, sizeof(d));
	printf("rec\t%u\t0x%04x\t%s\t%s\t%u\t%u\t%u\t%" PRIu64 "\t%" PRIu64 "\t%u\n",
	       r->ip_version, r->ethertype, s, d, r->protocol, r->src_port, r->dst_port,
	       r->packets, r->bytes, r->fragments);
}

static void drain(struct replay *rp, struct tally *t)
{
	struct rec_flow recs[64];
	unsigned n;

	while ((n = rte_ring_dequeue_burst_elem(rp->ring, recs, sizeof(recs[0]), 64, NULL)) > 0)
		for (unsigned i = 0; i < n; i++)
			print_record(&recs[i], t);
}

static int port_start(struct replay *rp, uint16_t port)
{
	struct rte_eth_conf conf;
	int rc;

	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_configure(port, 1, 1, &conf);
	if (rc == 0)
		rc = rte_eth_rx_queue_setup(port, 0, 256, SOCKET_ID_ANY, NULL, rp->mp);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(port, 0, 256, SOCKET_ID_ANY, NULL);
	if (rc == 0)
		rc = rte_eth_dev_start(port);
	return rc;
}

/* Receive until the vdev has nothing left; account every frame. */
static void pump(struct replay *rp, uint16_t port, struct tally *t)
{
	struct rte_mbuf *pkts[BURST];
	struct fl_pkt_meta meta[BURST];
	unsigned idle = 0;

	memset(meta, 0, sizeof(meta)); /* ENI 0, ingress, accept, no rule */
	while (idle < 4) { /* net_pcap returns 0 at EOF (and after a read error) */
		uint16_t n = rte_eth_rx_burst(port, 0, pkts, BURST);

		if (n == 0) {
			idle++;
			continue;
		}
		idle = 0;
		t->rx += n;
		rp->now_ns += 1000;
		fl_dp_account_burst(rp->w, pkts, meta, n, rp->now_ns);
		rte_pktmbuf_free_bulk(pkts, n);
		drain(rp, t);
	}
}

/* Replay one file. Returns 0 if conservation held (or the file is not a capture). */
static int replay_file(struct replay *rp, unsigned idx, const char *path)
{
	char name[64], args[4200];
	struct tally t = { 0, 0, 0 };
	uint64_t acc0, acc;
	uint16_t port;
	int rc;

	snprintf(name, sizeof(name), "net_pcap_r%u", idx);
	snprintf(args, sizeof(args), "rx_pcap=%s", path);
	if (rte_eal_hotplug_add("vdev", name, args) != 0 ||
	    rte_eth_dev_get_port_by_name(name, &port) != 0) {
		printf("file\t%s\topen-failed\t0\t0\t0\n", path);
		rte_eal_hotplug_remove("vdev", name);
		return 0;
	}
	rc = port_start(rp, port);
	if (rc != 0) {
		fprintf(stderr, "pcap_replay: %s: port start: %s\n", path, strerror(-rc));
		rte_eal_hotplug_remove("vdev", name);
		return -1;
	}
	acc0 = fl_dp_shm_stats(rp->dp)->lcore[0].packets_accounted;
	pump(rp, port, &t);
	acc = fl_dp_shm_stats(rp->dp)->lcore[0].packets_accounted - acc0;
	rp->now_ns += 1000;
	fl_dp_flush(rp->w, rp->now_ns);
	drain(rp, &t);
	fl_dp_poll(rp->w, rp->now_ns); /* loss records pending from the flush, if any */
	drain(rp, &t);
	printf("file\t%s\tok\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n", path, t.rx,
	       t.rec_packets, t.lost_packets);
	rte_eth_dev_stop(port);
	rte_eth_dev_close(port);
	rte_eal_hotplug_remove("vdev", name);
	if (t.rec_packets + t.lost_packets != t.rx || acc != t.rx) {
		fprintf(stderr, "pcap_replay: %s: %" PRIu64 " frames received, %" PRIu64
			" counted accounted, %" PRIu64 " in records + %" PRIu64 " lost\n", path,
			t.rx, acc, t.rec_packets, t.lost_packets);
		return -1;
	}
	return 0;
}

static int setup(struct replay *rp)
{
	struct fl_dp_params p;
	struct efl_eni_cfg c = { .enabled = 1, .traffic_type = EFL_TRAFFIC_ALL,
				 .agg_interval_s = 600, .sample_1_in_n = 1 };
	char ring[64];

	rp->mp = rte_pktmbuf_pool_create("replay_mp", 4095, 128, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					 SOCKET_ID_ANY);
	memset(&p, 0, sizeof(p));
	p.instance = INSTANCE;
	p.n_workers = 1;
	p.n_enis = 1;
	p.flows_per_worker = 1u << 16;
	p.ring_size = 1u << 17; /* > the cache: a flush never overflows it */
	p.socket_id = SOCKET_ID_ANY;
	rp->dp = rp->mp ? fl_dp_create(&p) : NULL;
	if (rp->dp == NULL) {
		fprintf(stderr, "pcap_replay: set-up: %s\n", rte_strerror(rte_errno));
		return -1;
	}
	rp->w = fl_dp_worker(rp->dp, 0);
	efl_cfg_write(fl_dp_shm_cfg(rp->dp), 0, &c);
	rp->now_ns = BASE_NS;
	fl_dp_poll(rp->w, rp->now_ns); /* picks up the config */
	snprintf(ring, sizeof(ring), EFL_RING_EXPORT, INSTANCE, 0u);
	rp->ring = rte_ring_lookup(ring);
	return rp->ring ? 0 : -1;
}

int main(int argc, char **argv)
{
	char prefix[64], line[4096];
	char *eal[] = { argv[0], "--no-huge", "-m", "512", "--no-pci", prefix,
			"--log-level=*:error", "--log-level=pmd.net.pcap:critical" };
	struct replay rp;
	unsigned idx = 0, bad = 0;
	FILE *list;

	if (argc != 2) {
		fprintf(stderr, "usage: %s LISTFILE\n", argv[0]);
		return 2;
	}
	list = fopen(argv[1], "r");
	if (list == NULL) {
		fprintf(stderr, "pcap_replay: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	snprintf(prefix, sizeof(prefix), "--file-prefix=pcap_replay_%d", (int)getpid());
	if (rte_eal_init((int)RTE_DIM(eal), eal) < 0) {
		fprintf(stderr, "pcap_replay: EAL: %s\n", rte_strerror(rte_errno));
		return 2;
	}
	memset(&rp, 0, sizeof(rp));
	if (setup(&rp) != 0)
		return 2;
	while (fgets(line, sizeof(line), list)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] != '\0' && replay_file(&rp, idx++, line) != 0)
			bad++;
	}
	fclose(list);
	fl_dp_destroy(rp.dp);
	rte_mempool_free(rp.mp);
	rte_eal_cleanup();
	fprintf(stderr, "pcap_replay: %u files, %u broke conservation\n", idx, bad);
	return bad ? 1 : 0;
}
