/*
 * Proves the switch's forwarding and per-crossing accounting on net_ring
 * ports driven by the test: unicast by destination MAC within the VPC,
 * broadcast flooded to the VPC only (not to another VPC, not to the uplink),
 * unknown MACs to the uplink, uplink frames to the owning ENI, rejects at the
 * right ENI with the right rule, and one plugin crossing per ENI a packet
 * touches (seen = egress + ingress checks). EAL without hugepages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "vs_forward.h"
#include "vs_telemetry.h"

int failures;
#include "test_check.h"

/* Ports: a, b (vpc-1, subnet s1 with an ACL), c (vpc-2), uplink. */
static const char config[] =
	"{\"ports\": ["
	"{\"name\": \"a\", \"devargs\": \"net_ring_ta\", \"eni\": {\"id\": \"eni-a\", \"account\": \"1\","
	" \"vpc\": \"vpc-1\", \"subnet\": \"s1\", \"mac\": \"02:00:00:00:00:0a\", \"security_groups\": [\"sg\"]}},"
	"{\"name\": \"b\", \"devargs\": \"net_ring_tb\", \"eni\": {\"id\": \"eni-b\", \"account\": \"1\","
	" \"vpc\": \"vpc-1\", \"subnet\": \"s1\", \"mac\": \"02:00:00:00:00:0b\", \"security_groups\": [\"sg\"]}},"
	"{\"name\": \"c\", \"devargs\": \"net_ring_tc\", \"eni\": {\"id\": \"eni-c\", \"account\": \"1\","
	" \"vpc\": \"vpc-2\", \"subnet\": \"s2\", \"mac\": \"02:00:00:00:00:0c\", \"security_groups\": [\"sg\"]}},"
	"{\"name\": \"up\", \"devargs\": \"net_ring_tu\", \"uplink\": true}],"
	"\"security_groups\": [{\"id\": \"sg\","
	" \"ingress\": [{\"id\": 11, \"proto\": \"icmp\", \"cidr\": \"0.0.0.0/0\"}],"
	" \"egress\": [{\"id\": 21, \"proto\": \"all\", \"cidr\": \"0.0.0.0/0\"}]}],"
	"\"network_acls\": [{\"id\": \"acl\", \"subnets\": [\"s1\"],"
	" \"ingress\": [{\"number\": 5, \"action\": \"deny\", \"proto\": \"tcp\", \"ports\": [22, 22], \"cidr\": \"0.0.0.0/0\"},"
	"  {\"number\": 9, \"action\": \"allow\", \"proto\": \"all\", \"cidr\": \"0.0.0.0/0\"}],"
	" \"egress\": [{\"number\": 9, \"action\": \"allow\", \"proto\": \"all\", \"cidr\": \"0.0.0.0/0\"}]}],"
	"\"lcores\": [{\"lcore\": 1, \"ports\": [\"a\", \"b\", \"c\", \"up\"]}]}";

/* rte_eth_from_rings() names the port "net_ring_" + name, as the config says. */
static const char *const port_names[4] = {"ta", "tb", "tc", "tu"};
static struct rte_ring *rx[4], *tx[4];
static struct rte_mempool *pool;

enum { A, B, C, UP };

/* An Ethernet frame: IPv4 ICMP or TCP to dport, or ARP when proto is 0. */
static struct rte_mbuf *frame(uint8_t dst_last, int proto, uint16_t dport, uint16_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, len);
	memset(p, 0, len);
	if (dst_last == 0xff)
		memset(p, 0xff, 6);
	else
		memcpy(p, (uint8_t[]){2, 0, 0, 0, 0, dst_last}, 6);
	memcpy(p + 6, (uint8_t[]){2, 0, 0, 0, 0, 0x0a}, 6);
	if (proto == 0) {
		p[12] = 0x08, p[13] = 0x06;
		return m;
	}
	if (proto < 0) { /* IPv6/UDP: the ACL has IPv4 rules only */
		p[12] = 0x86, p[13] = 0xdd;
		p[14] = 0x60, p[20] = 17;
		return m;
	}
	p[12] = 0x08, p[13] = 0x00;
	p[14] = 0x45, p[23] = (uint8_t)proto;
	memcpy(p + 26, (uint8_t[]){10, 0, 0, 1, 10, 0, 0, 2}, 8);
	p[34] = 0x9c, p[35] = 0x40; /* sport 40000 */
	p[36] = (uint8_t)(dport >> 8), p[37] = (uint8_t)dport;
	return m;
}

static void inject(int port, struct rte_mbuf *m)
{
	if (rte_ring_enqueue(rx[port], m) != 0) {
		fprintf(stderr, "rx ring full\n");
		exit(1);
	}
}

static unsigned drain(int port)
{
	void *o[64];
	unsigned n, total = 0;
	while ((n = rte_ring_dequeue_burst(tx[port], o, 64, NULL)) > 0) {
		total += n;
		rte_pktmbuf_free_bulk((struct rte_mbuf **)o, n);
	}
	return total;
}

static void settle(void)
{
	for (int i = 0; i < 200; i++) {
		unsigned left = 0;
		for (int p = 0; p < 4; p++)
			left += rte_ring_count(rx[p]);
		if (left == 0)
			break;
		usleep(1000);
	}
	usleep(20000);
}

static void make_ports(void)
{
	char name[32];
	for (int p = 0; p < 4; p++) {
		snprintf(name, sizeof(name), "t_rx%d", p);
		rx[p] = rte_ring_create(name, 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "t_tx%d", p);
		tx[p] = rte_ring_create(name, 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (rx[p] == NULL || tx[p] == NULL ||
		    rte_eth_from_rings(port_names[p], &rx[p], 1, &tx[p], 1, SOCKET_ID_ANY) < 0) {
			fprintf(stderr, "net_ring port %s failed\n", port_names[p]);
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	(void)argc;
	char prefix[64];
	/* One fixed prefix: meson runs this test once at a time, and no run leaves a new dir. */
	snprintf(prefix, sizeof(prefix), "--file-prefix=t_vs_forward");
	char *eal[] = {argv[0], "--no-huge", "-m", "256", "--no-pci", "--log-level=*:warning",
		       prefix, "--no-shconf", "-l", "0,1"};
	if (rte_eal_init(sizeof(eal) / sizeof(eal[0]), eal) < 0) {
		fprintf(stderr, "rte_eal_init failed\n");
		return 1;
	}
	pool = rte_pktmbuf_pool_create("t_pool", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	make_ports();
	static struct vs_config cfg;
	char err[VS_ERR_LEN];
	if (vs_config_parse(config, &cfg, err) != 0) {
		fprintf(stderr, "config: %s\n", err);
		return 1;
	}
	struct vs_switch_params sp = {.instance = "tfwd", .enable_all = true};
	struct vs_switch *sw = vs_switch_create(&cfg, &sp, err);
	if (sw == NULL) {
		fprintf(stderr, "vs_switch_create: %s\n", err);
		return 1;
	}
	rte_eal_remote_launch(vs_worker_main, vs_switch_worker(sw, 0), 1);

	for (int i = 0; i < 5; i++)
		inject(A, frame(0x0b, 1, 0, 100));   /* A -> B, ICMP: allowed */
	for (int i = 0; i < 3; i++)
		inject(A, frame(0xff, 0, 0, 60));    /* ARP broadcast: B only (same VPC) */
	for (int i = 0; i < 2; i++)
		inject(A, frame(0x0b, 6, 22, 80));   /* TCP 22: B's ACL rule 5 rejects */
	for (int i = 0; i < 4; i++)
		inject(A, frame(0x99, 1, 0, 70));    /* unknown MAC: uplink */
	inject(A, frame(0x0a, 1, 0, 64));            /* to itself: dropped after egress */
	inject(A, frame(0x0b, -1, 0, 90));           /* IPv6: A's egress ACL default denies */
	settle();
	for (int i = 0; i < 6; i++)
		inject(UP, frame(0x0c, 1, 0, 90));   /* uplink -> C, ICMP: allowed */
	inject(UP, frame(0xff, 0, 0, 60));           /* broadcast from the uplink: dropped */
	inject(UP, frame(0x0c, 6, 80, 90));          /* TCP 80 to C: SG default rejects */
	settle();

	unsigned got[4];
	for (int p = 0; p < 4; p++)
		got[p] = drain(p);
	CHECK(got[A] == 0 && got[B] == 8 && got[C] == 6 && got[UP] == 4,
	      "sent out: a %u b %u c %u uplink %u, want 0 8 6 4", got[A], got[B], got[C], got[UP]);
	static const struct {
		uint64_t rx, tx, rej, seen, fwd;
	} want[3] = {{16, 0, 1, 16, 15}, {0, 8, 2, 10, 0}, {0, 6, 1, 7, 0}};
	for (uint32_t e = 0; e < 3; e++) {
		struct vs_eni_totals t;
		vs_eni_totals(sw, e, &t);
		CHECK(t.rx_packets == want[e].rx && t.tx_packets == want[e].tx &&
		      t.rejected_packets == want[e].rej && t.seen_packets == want[e].seen &&
		      t.accounted_packets == want[e].seen && t.forwarded_packets == want[e].fwd,
		      "eni %u: rx %lu tx %lu rejected %lu seen %lu accounted %lu forwarded %lu; "
		      "want %lu %lu %lu %lu (forwarded %lu)",
		      e, (unsigned long)t.rx_packets, (unsigned long)t.tx_packets,
		      (unsigned long)t.rejected_packets, (unsigned long)t.seen_packets,
		      (unsigned long)t.accounted_packets, (unsigned long)t.forwarded_packets,
		      (unsigned long)want[e].rx,
		      (unsigned long)want[e].tx, (unsigned long)want[e].rej,
		      (unsigned long)want[e].seen, (unsigned long)want[e].fwd);
	}
	struct vs_eni_totals tb;
	vs_eni_totals(sw, 1, &tb);
	CHECK(tb.tx_bytes == 5 * 100 + 3 * 60 && tb.rejected_bytes == 2 * 80,
	      "eni-b bytes: tx %lu rejected %lu", (unsigned long)tb.tx_bytes,
	      (unsigned long)tb.rejected_bytes);
	const struct vs_worker_stats *ws = vs_worker_stats(vs_switch_worker(sw, 0));
	CHECK(ws->no_route == 1 && ws->uplink_flood_dropped == 1 && ws->tx_dropped == 0,
	      "worker: no_route %lu uplink_flood_dropped %lu tx_dropped %lu",
	      (unsigned long)ws->no_route, (unsigned long)ws->uplink_flood_dropped,
	      (unsigned long)ws->tx_dropped);
	vs_switch_stop(sw);
	rte_eal_mp_wait_lcore();
	/* Every mbuf is back: floods by reference did not leak or double free. */
	CHECK(rte_mempool_avail_count(pool) == 4095, "mbufs in pool %u, want 4095",
	      rte_mempool_avail_count(pool));
	vs_switch_destroy(sw);
	rte_eal_cleanup();
	if (failures) {
		fprintf(stderr, "test_vs_forward: %d failures\n", failures);
		return 1;
	}
	printf("test_vs_forward: ok\n");
	return 0;
}
