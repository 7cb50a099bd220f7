/*
 * Proves, through the real switch, that flow records stay exact per flow
 * while the connection table is under pressure: the plugin counts a known
 * IPv4 flow's packets in cells that live in the switch's connection slots
 * (fl_pkt_meta.cell), and those slots are displaced, evicted and recycled,
 * some inside one burst. No cell may lose, duplicate or misattribute a count.
 *
 * Two ENIs (A, B) in one VPC exchange ~7,000 frames over 300 connections
 * (IPv4 TCP and UDP, some with IP options, ICMP, IPv6 TCP) through net_ring
 * ports, with 64 connection slots per worker. Each burst (1..32 frames, on
 * one port) is processed before the next is injected, so the test knows the
 * order of the switch's policy checks: every burst's egress checks, then its
 * ingress checks. The model keeps every flow-log key (ENI, direction,
 * 5-tuple, verdict, rule) with the packets, bytes and TCP flags it must get:
 * - a crossing a rule allows (every egress; ingress TCP to the server ports,
 *   UDP, IPv6 TCP to the server ports) is accepted by that rule;
 * - a crossing only the connection table lets in (a reply to a client port
 *   outside the rules, ICMP) is accepted, by the rule that last opened its
 *   connection, if the frame came out of the port (frames carry an id), and
 *   rejected otherwise (its connection was evicted).
 * A few frames carry a request's own addresses and ports towards the client
 * ENI: one connection slot (one cell) then sees both directions, and the
 * rule a connection stores changes while a cell holds packets of the old one.
 *
 * After the workers stop (and flush), every record must match a model key,
 * and per key the sums must be equal; totals must equal the plugin's
 * accounted counters and the switch's reject and tx counters, with no loss,
 * and the records of one key must not overlap in time.
 *
 * Run 0: big flow cache, 1 s aggregation interval (active exports fold
 * cells mid-run), a stop/flush/restart early on. Run 1: a 1,024-flow cache,
 * so the plugin evicts flows (and folds their cells) as well.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <rte_cycles.h>
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

#define N_CONN 300
#define CONN_SLOTS 64     /* connections per worker: 16 buckets of 4 */
#define HOT 12            /* connections of a round that get most packets */
#define PER_ROUND 400
#define MAX_PKTS 8192
#define TBL 16384         /* model table slots (power of 2) */
#define SRV_LO 1000       /* ingress TCP rules allow dports [1000, 1999] */
#define SRV_HI 1999

enum { A, B, UP, N_PORTS };
/* Rule ids are unique per direction only: the UDP ingress rule shares its id
 * with the egress rule, so a cell that sees both directions of a UDP
 * connection (see the file comment) can tell them apart by direction only. */
enum { R_IN4 = 11, R_IN6 = 13, R_OUT4 = 21, R_OUT6 = 22, R_UDP = R_OUT4 };
enum { DIR_CONN = 2 };    /* a connection-table key in the model table */

static struct rte_mempool *pool;
static struct rte_ring *rx[N_PORTS], *tx[N_PORTS];
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)((rng >> 32) % n);
}

/* One connection: the client ENI opens it, the other one answers. */
struct conn {
	uint8_t v6, proto, cli;
	uint8_t cip[16], sip[16];
	uint16_t cport, sport;
};
static struct conn conns[N_CONN];

/* A flow-log key (dir: enum rec_direction), or a connection key (DIR_CONN). */
struct xkey {
	uint32_t eni, rule;
	uint8_t dir, ipv, proto, verdict;
	uint16_t sport, dport;
	uint8_t src[16], dst[16];
};

struct xent {
	struct xkey k;
	bool used;
	uint8_t want_f, got_f;
	uint32_t cur; /* connection: rule of its latest opening, 0 never opened */
	uint64_t want_p, want_b, got_p, got_b;
};
static struct xent tbl[TBL];

static struct xent *lookup(const struct xkey *k, bool add)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ ((const uint8_t *)k)[i]) * 1099511628211ull;
	for (uint32_t i = (uint32_t)h & (TBL - 1), n = 0; n < TBL; n++, i = (i + 1) & (TBL - 1)) {
		if (!tbl[i].used) {
			if (!add)
				return NULL;
			tbl[i].used = true;
			tbl[i].k = *k;
			return &tbl[i];
		}
		if (memcmp(&tbl[i].k, k, sizeof(*k)) == 0)
			return &tbl[i];
	}
	fprintf(stderr, "model table full\n");
	exit(1);
}

/* One injected frame: its ingress crossing, decided only when we see
 * whether the frame came out. */
struct pkt {
	struct xkey in;  /* verdict and rule filled in at the end */
	uint32_t rule;   /* the rule that allows the crossing; 0: the connection table */
	uint32_t conn_rule; /* then: the rule of its connection at the check, 0 none */
	uint16_t len;
	uint8_t flags;
	bool delivered;
};
static struct pkt pk[MAX_PKTS];
static uint32_t n_pk;
static uint64_t n_delivered, flips;

static const uint8_t eni_mac[2][6] = {{2, 0, 0, 0, 0, 0x0a}, {2, 0, 0, 0, 0, 0x0b}};

static void make_conns(void)
{
	for (int i = 0; i < N_CONN; i++) {
		struct conn *c = &conns[i];
		uint32_t r = rnd(100);
		memset(c, 0, sizeof(*c));
		c->v6 = r < 10;
		c->proto = c->v6 || r < 65 ? 6 : r < 92 ? 17 : 1;
		c->cli = rnd(5) == 0 ? B : A;
		if (c->v6) {
			c->cip[0] = c->sip[0] = 0xfd;
			c->cip[13] = c->cli == A ? 0xa : 0xb;
			c->sip[13] = c->cli == A ? 0xb : 0xa;
			c->cip[15] = (uint8_t)(1 + rnd(4));
			c->sip[15] = (uint8_t)(1 + rnd(4));
		} else {
			memcpy(c->cip, (uint8_t[]){10, 0, c->cli == A ? 0 : 1, (uint8_t)(1 + rnd(4))}, 4);
			memcpy(c->sip, (uint8_t[]){10, 0, c->cli == A ? 1 : 0, (uint8_t)(1 + rnd(4))}, 4);
		}
		/* Client ports are unique and apart from the server ports; a
		 * third inside the ingress rules' range (replies open their own
		 * connection), the rest outside (replies get in only through
		 * the connection table). */
		c->cport = (uint16_t)(i % 3 == 0 ? 1500 + i : 30000 + i);
		c->sport = (uint16_t)(c->proto == 6 ? SRV_LO + rnd(500) : 5000 + rnd(1000));
	}
}

/* The connection key of a crossing (reverse: the key its reply looks up). */
static struct xent *conn_of(const struct xkey *x, bool reverse)
{
	struct xkey k = *x;
	k.dir = DIR_CONN;
	k.verdict = 0;
	k.rule = 0;
	if (reverse) {
		memcpy(k.src, x->dst, 16);
		memcpy(k.dst, x->src, 16);
		k.sport = x->dport;
		k.dport = x->sport;
	}
	if (k.proto == 1) /* ICMP: keyed without type and code */
		k.sport = k.dport = 0;
	return lookup(&k, true);
}

/* A rule-allowed crossing opens (or refreshes) its connection with its rule. */
static void conn_open(const struct xkey *x, uint32_t rule)
{
	struct xent *c = conn_of(x, false);
	flips += c->cur != 0 && c->cur != rule;
	c->cur = rule;
}

static void model_add(const struct xkey *k, uint16_t len, uint8_t flags)
{
	struct xent *e = lookup(k, true);
	e->want_p++;
	e->want_b += len;
	e->want_f |= flags;
}

/* Build one frame of connection c (reply: from the server; mirror: the
 * request's addresses and ports, but from the server's ENI), carrying its
 * id in its last 4 bytes. Fills pk[id] and *eg, its egress crossing. */
static struct rte_mbuf *packet(const struct conn *c, bool reply, bool mirror, uint32_t id,
			       struct xkey *eg)
{
	int s = reply || mirror ? !c->cli : c->cli, d = !s;
	const uint8_t *sip = reply ? c->sip : c->cip, *dip = reply ? c->cip : c->sip;
	uint16_t sp = reply ? c->sport : c->cport, dp = reply ? c->cport : c->sport;
	bool opts = !c->v6 && c->proto != 1 && rnd(20) == 0; /* off the plugin's fast path */
	uint32_t l3 = c->v6 ? 40 : opts ? 24 : 20;
	uint16_t len = (uint16_t)((c->v6 ? 80 : 64) + rnd(1450));
	uint8_t flags = 0;
	struct rte_mbuf *m = id < MAX_PKTS ? rte_pktmbuf_alloc(pool) : NULL;
	uint8_t *p;

	if (m == NULL || (p = (uint8_t *)rte_pktmbuf_append(m, len)) == NULL) {
		fprintf(stderr, "out of mbufs or frame ids\n");
		exit(1);
	}
	memset(p, 0, len);
	memcpy(p, eni_mac[d], 6);
	memcpy(p + 6, eni_mac[s], 6);
	uint8_t *ip = p + 14, *l4 = ip + l3;
	if (c->v6) {
		p[12] = 0x86, p[13] = 0xdd;
		ip[0] = 0x60;
		ip[4] = (uint8_t)((len - 54) >> 8), ip[5] = (uint8_t)(len - 54);
		ip[6] = c->proto, ip[7] = 64;
		memcpy(ip + 8, sip, 16);
		memcpy(ip + 24, dip, 16);
	} else {
		p[12] = 0x08, p[13] = 0x00;
		ip[0] = (uint8_t)(0x40 | l3 / 4);
		ip[2] = (uint8_t)((len - 14) >> 8), ip[3] = (uint8_t)(len - 14);
		ip[6] = rnd(2) ? 0x40 : 0; /* DF */
		ip[8] = 64, ip[9] = c->proto;
		memcpy(ip + 12, sip, 4);
		memcpy(ip + 16, dip, 4);
		if (opts)
			ip[20] = 1, ip[21] = 1, ip[22] = 1, ip[23] = 0; /* NOPs, EOL */
	}
	if (c->proto == 1) {
		sp = reply ? 0 : 8; /* echo reply / request: type, code 0 */
		dp = 0;
		l4[0] = (uint8_t)sp;
	} else {
		l4[0] = (uint8_t)(sp >> 8), l4[1] = (uint8_t)sp;
		l4[2] = (uint8_t)(dp >> 8), l4[3] = (uint8_t)dp;
	}
	if (c->proto == 6) {
		uint32_t r = rnd(100);
		flags = r < 4 ? (reply ? 0x12 : 0x02) : r < 8 ? 0x11 : r < 10 ? 0x04 : r < 25 ? 0x18 : 0x10;
		l4[12] = 0x50;
		l4[13] = flags;
	} else if (c->proto == 17) {
		uint16_t ul = (uint16_t)(len - 14 - l3);
		l4[4] = (uint8_t)(ul >> 8), l4[5] = (uint8_t)ul;
	}
	memcpy(p + len - 4, &id, 4);

	struct pkt *q = &pk[id];
	memset(q, 0, sizeof(*q));
	memset(eg, 0, sizeof(*eg));
	eg->ipv = c->v6 ? 6 : 4;
	eg->proto = c->proto;
	eg->sport = sp;
	eg->dport = dp;
	memcpy(eg->src, sip, c->v6 ? 16 : 4);
	memcpy(eg->dst, dip, c->v6 ? 16 : 4);
	q->in = *eg;
	eg->eni = (uint32_t)s;
	eg->dir = REC_DIR_EGRESS;
	eg->verdict = REC_VERDICT_ACCEPT;
	eg->rule = c->v6 ? R_OUT6 : R_OUT4; /* every egress rule set allows all */
	q->in.eni = (uint32_t)d;
	q->in.dir = REC_DIR_INGRESS;
	if (c->proto == 6 && dp >= SRV_LO && dp <= SRV_HI)
		q->rule = c->v6 ? R_IN6 : R_IN4;
	else if (c->proto == 17 && !c->v6)
		q->rule = R_UDP;
	q->len = len;
	q->flags = flags;
	return m;
}

static uint64_t delivered[N_PORTS];

static void drain_tx(void)
{
	void *o[64];
	for (int p = 0; p < N_PORTS; p++) {
		unsigned n;
		while ((n = rte_ring_dequeue_burst(tx[p], o, 64, NULL)) > 0) {
			for (unsigned i = 0; i < n; i++) {
				struct rte_mbuf *m = o[i];
				uint32_t id;
				memcpy(&id, rte_pktmbuf_mtod_offset(m, uint8_t *, m->pkt_len - 4), 4);
				bool ok = id < n_pk && !pk[id].delivered && pk[id].in.eni == (uint32_t)p;
				CHECK(ok, "port %d sent frame %u (of %u) %s", p, id, n_pk,
				      id < n_pk && pk[id].delivered ? "twice" : "not addressed to it");
				if (ok)
					pk[id].delivered = true;
			}
			delivered[p] += n;
			n_delivered += n;
			rte_pktmbuf_free_bulk((struct rte_mbuf **)o, n);
		}
	}
}

static struct rec_flow *recs;
static size_t n_recs, cap_recs;
static char summary[1024];

static void drain_export(struct rte_ring *r)
{
	for (;;) {
		if (n_recs + 256 > cap_recs) {
			cap_recs = cap_recs ? cap_recs * 2 : 4096;
			recs = realloc(recs, cap_recs * sizeof(*recs));
			if (recs == NULL)
				exit(1);
		}
		unsigned n = rte_ring_sc_dequeue_burst_elem(r, recs + n_recs, sizeof(*recs), 256, NULL);
		if (n == 0)
			return;
		n_recs += n;
	}
}

static uint64_t rejected_now(struct vs_switch *sw)
{
	uint64_t n = 0;
	for (uint32_t e = 0; e < 2; e++) {
		struct vs_eni_totals t;
		vs_eni_totals(sw, e, &t);
		n += t.rejected_packets;
	}
	return n;
}

/* Wait until every injected frame was delivered or rejected. */
static void settle(struct vs_switch *sw, struct rte_ring *er)
{
	uint64_t t0 = rte_get_timer_cycles(), hz = rte_get_timer_hz();
	for (;;) {
		drain_tx();
		uint64_t done = n_delivered + rejected_now(sw);
		if (done == n_pk)
			return;
		if (rte_get_timer_cycles() - t0 > 10 * hz) {
			fprintf(stderr, "frames delivered or rejected %lu, injected %u\n",
				(unsigned long)done, n_pk);
			exit(1);
		}
		drain_export(er);
		usleep(20);
	}
}

static void make_ports(int run)
{
	static const char *const tag = "abu";
	char name[32];
	for (int p = 0; p < N_PORTS; p++) {
		snprintf(name, sizeof(name), "c_rx%d%d", run, p);
		rx[p] = rte_ring_create(name, 64, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "c_tx%d%d", run, p);
		tx[p] = rte_ring_create(name, 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "c%c%d", tag[p], run);
		if (rx[p] == NULL || tx[p] == NULL ||
		    rte_eth_from_rings(name, &rx[p], 1, &tx[p], 1, SOCKET_ID_ANY) < 0) {
			fprintf(stderr, "net_ring port %s failed\n", name);
			exit(1);
		}
	}
}

/* The plugin's key of a record (all but counters, flags, reason, times). */
static int key_cmp(const struct rec_flow *x, const struct rec_flow *y)
{
#define K(f) if (x->f != y->f) return x->f < y->f ? -1 : 1
	K(eni); K(direction); K(verdict); K(layer); K(rule_id); K(ip_version); K(protocol);
	K(l2_class); K(src_port); K(dst_port);
#undef K
	return memcmp(x->src_addr, y->src_addr, 32);
}

static int cmp_rec(const void *a, const void *b)
{
	const struct rec_flow *x = a, *y = b;
	int c = key_cmp(x, y);
	return c ? c : (x->first_ns > y->first_ns) - (x->first_ns < y->first_ns);
}

static void print_key(const char *what, const struct xkey *k, const struct xent *e)
{
	char s[64], d[64];
	struct rec_flow t = {.ip_version = k->ipv};
	memcpy(t.src_addr, k->src, 16);
	memcpy(t.dst_addr, k->dst, 16);
	fprintf(stderr, "%s: eni %u %s %s rule %u proto %u %s:%u -> %s:%u", what, k->eni,
		rec_direction_name(k->dir), rec_verdict_name(k->verdict), k->rule, k->proto,
		rec_addr_str(&t, true, s, sizeof(s)), k->sport, rec_addr_str(&t, false, d, sizeof(d)),
		k->dport);
	if (e != NULL)
		fprintf(stderr, ": packets %lu bytes %lu flags 0x%x, want %lu %lu 0x%x",
			(unsigned long)e->got_p, (unsigned long)e->got_b, e->got_f,
			(unsigned long)e->want_p, (unsigned long)e->want_b, e->want_f);
	fputc('\n', stderr);
}

struct run_opts {
	uint32_t flows;    /* flow cache entries per worker */
	uint16_t agg_s;    /* aggregation interval */
	int rounds;
	int restart_after; /* stop (flush) and relaunch after this round; -1 none */
	unsigned nap_us;   /* between rounds */
};

static struct vs_switch *make_switch(int idx, const struct run_opts *o, char *inst, size_t len)
{
	char config[4096], err[VS_ERR_LEN];
	static struct vs_config cfg;

	make_ports(idx);
	snprintf(config, sizeof(config),
		 "{\"ports\": ["
		 "{\"name\": \"a\", \"devargs\": \"net_ring_ca%d\", \"eni\": {\"id\": \"eni-a\", \"account\": \"1\","
		 " \"vpc\": \"vpc-1\", \"subnet\": \"s1\", \"mac\": \"02:00:00:00:00:0a\","
		 " \"ipv4\": [\"10.0.0.1\", \"10.0.0.2\", \"10.0.0.3\", \"10.0.0.4\"], \"ipv6\": [\"fd00::a:1\"],"
		 " \"security_groups\": [\"sg\"]}},"
		 "{\"name\": \"b\", \"devargs\": \"net_ring_cb%d\", \"eni\": {\"id\": \"eni-b\", \"account\": \"1\","
		 " \"vpc\": \"vpc-1\", \"subnet\": \"s1\", \"mac\": \"02:00:00:00:00:0b\","
		 " \"ipv4\": [\"10.0.1.1\", \"10.0.1.2\", \"10.0.1.3\", \"10.0.1.4\"], \"ipv6\": [\"fd00::b:1\"],"
		 " \"security_groups\": [\"sg\"]}},"
		 "{\"name\": \"up\", \"devargs\": \"net_ring_cu%d\", \"uplink\": true}],"
		 "\"security_groups\": [{\"id\": \"sg\","
		 " \"ingress\": [{\"id\": %d, \"proto\": \"tcp\", \"ports\": [%d, %d], \"cidr\": \"0.0.0.0/0\"},"
		 "  {\"id\": %d, \"proto\": \"udp\", \"cidr\": \"0.0.0.0/0\"},"
		 "  {\"id\": %d, \"proto\": \"tcp\", \"ports\": [%d, %d], \"cidr\": \"::/0\"}],"
		 " \"egress\": [{\"id\": %d, \"proto\": \"all\", \"cidr\": \"0.0.0.0/0\"},"
		 "  {\"id\": %d, \"proto\": \"all\", \"cidr\": \"::/0\"}]}],"
		 "\"lcores\": [{\"lcore\": 1, \"ports\": [\"a\", \"b\", \"up\"]}],"
		 "\"mbufs\": 4095, \"flows_per_worker\": %u, \"flow_ring_size\": 65536}",
		 idx, idx, idx, R_IN4, SRV_LO, SRV_HI, R_UDP, R_IN6, SRV_LO, SRV_HI, R_OUT4, R_OUT6,
		 o->flows);
	if (vs_config_parse(config, &cfg, err) != 0) {
		fprintf(stderr, "config: %s\n", err);
		exit(1);
	}
	/* "connections_per_worker" has a minimum of 1,024 in the config file;
	 * the switch parameter (used when the config has none) has not. */
	snprintf(inst, len, "tcell%d", idx);
	struct vs_switch_params sp = {.instance = inst, .conn_entries = CONN_SLOTS};
	struct vs_switch *sw = vs_switch_create(&cfg, &sp, err);
	if (sw == NULL) {
		fprintf(stderr, "vs_switch_create: %s\n", err);
		exit(1);
	}
	/* Flow logs on for both ENIs, every verdict, every flow, published as
	 * eniflowd would (the worker's first fl_dp_poll() picks it up). */
	struct efl_eni_cfg ec = {.enabled = 1, .traffic_type = EFL_TRAFFIC_ALL,
				 .agg_interval_s = o->agg_s, .sample_1_in_n = 1};
	for (uint32_t e = 0; e < 2; e++)
		efl_cfg_write(fl_dp_shm_cfg(vs_switch_plugin(sw)), e, &ec);
	return sw;
}

/* Inject the rounds, one burst at a time, modelling each burst as the
 * switch checks it: all egress crossings, then all ingress crossings. */
static void traffic(struct vs_switch *sw, struct rte_ring *er, const struct run_opts *o)
{
	int port = A;
	for (int r = 0; r < o->rounds; r++) {
		int base = (int)rnd(N_CONN);
		for (unsigned done = 0; done < PER_ROUND;) {
			struct rte_mbuf *m[32];
			struct xkey eg[32];
			uint32_t first = n_pk, k = RTE_MIN(1 + rnd(32), PER_ROUND - done);
			for (uint32_t i = 0; i < k; i++) {
				/* most frames from a rotating hot set, which about
				 * fits the table (its cells get reused); the rest
				 * from any connection, which evicts */
				const struct conn *c = &conns[rnd(4) ? (base + (int)rnd(HOT)) % N_CONN
								     : (int)rnd(N_CONN)];
				bool mirror = c->cli != port && c->proto != 1 && rnd(10) == 0;
				m[i] = packet(c, c->cli != port && !mirror, mirror, n_pk++, &eg[i]);
			}
			for (uint32_t i = 0; i < k; i++) {
				model_add(&eg[i], pk[first + i].len, pk[first + i].flags);
				conn_open(&eg[i], eg[i].rule);
			}
			for (uint32_t i = 0; i < k; i++) {
				struct pkt *q = &pk[first + i];
				if (q->rule != 0)
					conn_open(&q->in, q->rule);
				else
					q->conn_rule = conn_of(&q->in, true)->cur;
			}
			if (rte_ring_enqueue_bulk(rx[port], (void **)m, k, NULL) != k) {
				fprintf(stderr, "rx ring full\n");
				exit(1);
			}
			settle(sw, er);
			done += k;
			port = !port;
		}
		if (r == o->restart_after) {
			vs_switch_stop(sw);
			rte_eal_mp_wait_lcore();
			vs_switch_rearm(sw);
			rte_eal_remote_launch(vs_worker_main, vs_switch_worker(sw, 0), 1);
		}
		if (o->nap_us)
			usleep(o->nap_us);
	}
}

/* What the records add up to, for the checks after matching. */
struct tally {
	size_t cell_last, active, pressure;
	uint64_t rec_p, in_acc[2], rej_p[2], rej_b[2];
	uint64_t amb_acc, amb_rej; /* replies only the connection table decided */
};

/* Decide each ingress crossing by what came out of the ports, into the model. */
static void decide_ingress(struct tally *t)
{
	for (uint32_t i = 0; i < n_pk; i++) {
		struct pkt *q = &pk[i];
		CHECK(q->delivered || q->rule == 0, "frame %u, allowed by rule %u, was dropped", i,
		      q->rule);
		CHECK(!q->delivered || q->rule != 0 || q->conn_rule != 0,
		      "frame %u got in with no rule and no connection", i);
		q->in.verdict = q->delivered ? REC_VERDICT_ACCEPT : REC_VERDICT_REJECT;
		q->in.rule = !q->delivered ? 0 : q->rule ? q->rule : q->conn_rule;
		t->amb_acc += q->rule == 0 && q->delivered;
		t->amb_rej += !q->delivered;
		model_add(&q->in, q->len, q->flags);
	}
}

/* Add every record to its model key; count what no key explains. */
static void match_records(struct tally *t)
{
	size_t bad = 0;
	for (size_t i = 0; i < n_recs; i++) {
		const struct rec_flow *rc = &recs[i];
		char msg[128];
		CHECK(rec_validate(rc, msg, sizeof(msg)) == 0, "record %zu: %s", i, msg);
		if (rc->kind != REC_KIND_FLOW) {
			CHECK(rc->kind == REC_KIND_FLOW, "record %zu: kind %u (%lu packets)", i,
			      rc->kind, (unsigned long)rc->packets);
			continue;
		}
		struct xkey k;
		memset(&k, 0, sizeof(k));
		k.eni = rc->eni;
		k.dir = rc->direction;
		k.verdict = rc->verdict;
		k.rule = rc->rule_id;
		k.ipv = rc->ip_version;
		k.proto = rc->protocol;
		k.sport = rc->src_port;
		k.dport = rc->dst_port;
		memcpy(k.src, rc->src_addr, 16);
		memcpy(k.dst, rc->dst_addr, 16);
		struct xent *e = k.dir < DIR_CONN ? lookup(&k, false) : NULL;
		t->rec_p += rc->packets;
		if (e == NULL || e->want_p == 0 || rc->layer != REC_LAYER_SG) {
			if (bad++ < 10)
				print_key("record of no model key", &k, NULL);
			continue;
		}
		CHECK(rc->sample_1_in_n == 1 && rc->l2_class == REC_L2_UNICAST && rc->fragments == 0 &&
		      (rc->tcp_flags & ~e->want_f) == 0,
		      "record %zu: sample %u l2 %u fragments %u flags 0x%x (key's 0x%x)", i,
		      rc->sample_1_in_n, rc->l2_class, rc->fragments, rc->tcp_flags, e->want_f);
		e->got_p += rc->packets;
		e->got_b += rc->bytes;
		e->got_f |= rc->tcp_flags;
		if (rc->eni < 2 && rc->verdict == REC_VERDICT_REJECT) {
			t->rej_p[rc->eni] += rc->packets;
			t->rej_b[rc->eni] += rc->bytes;
		} else if (rc->eni < 2 && rc->direction == REC_DIR_INGRESS) {
			t->in_acc[rc->eni] += rc->packets;
		}
		/* a cell keeps time in 1,024 ns units: a record whose last
		 * packet was counted in a cell ends on a multiple of 1,024 */
		if (rc->ip_version == 4 && rc->last_ns % 1024 == 0 && rc->last_ns != rc->first_ns)
			t->cell_last++;
		t->active += rc->end_reason == REC_END_ACTIVE;
		t->pressure += rc->end_reason == REC_END_CACHE_PRESSURE;
	}
	CHECK(bad == 0, "%zu records match no key of the model", bad);
}

/* Per key: the model's sums, exactly. Returns the keys and connections seen. */
static void check_sums(const struct tally *t, size_t *n_keys, size_t *n_conns)
{
	uint64_t want_total = 0;
	size_t wrong = 0;
	*n_keys = *n_conns = 0;
	for (uint32_t i = 0; i < TBL; i++) {
		struct xent *e = &tbl[i];
		if (!e->used)
			continue;
		if (e->k.dir == DIR_CONN) {
			*n_conns += e->cur != 0;
			continue;
		}
		(*n_keys)++;
		want_total += e->want_p;
		if ((e->got_p != e->want_p || e->got_b != e->want_b || e->got_f != e->want_f) &&
		    wrong++ < 10)
			print_key("wrong sums", &e->k, e);
	}
	CHECK(wrong == 0, "%zu of %zu flow keys have wrong sums in their records", wrong, *n_keys);
	CHECK(t->rec_p == want_total && want_total == 2ull * n_pk,
	      "packets in records %lu, model %lu, crossings of injected frames %lu",
	      (unsigned long)t->rec_p, (unsigned long)want_total, 2ul * n_pk);
}

/* Against the plugin's and the switch's own counters: no loss, nothing else sent. */
static void check_counters(struct vs_switch *sw, const struct tally *t)
{
	struct efl_shm_stats *st = fl_dp_shm_stats(vs_switch_plugin(sw));
	const struct efl_lcore_stats *ls = &st->lcore[0];
	uint64_t acc = 0, lost = 0;
	for (uint32_t e = 0; e < 2; e++) {
		const struct efl_eni_stats *es = efl_stats_eni(st, 0, e);
		struct vs_eni_totals v;
		vs_eni_totals(sw, e, &v);
		acc += es->packets_accounted;
		lost += es->lost_records + es->lost_packets + es->lost_bytes;
		CHECK(t->in_acc[e] == delivered[e] && delivered[e] == v.tx_packets,
		      "eni %u: ingress accepted in records %lu, frames out of the port %lu, tx %lu", e,
		      (unsigned long)t->in_acc[e], (unsigned long)delivered[e],
		      (unsigned long)v.tx_packets);
		CHECK(t->rej_p[e] == v.rejected_packets && t->rej_b[e] == v.rejected_bytes,
		      "eni %u: rejected in records %lu packets %lu bytes, switch %lu %lu", e,
		      (unsigned long)t->rej_p[e], (unsigned long)t->rej_b[e],
		      (unsigned long)v.rejected_packets, (unsigned long)v.rejected_bytes);
	}
	CHECK(acc == t->rec_p && ls->packets_accounted == t->rec_p && ls->packets_seen == t->rec_p,
	      "accounted: per ENI %lu, worker %lu, seen %lu; in records %lu", (unsigned long)acc,
	      (unsigned long)ls->packets_accounted, (unsigned long)ls->packets_seen,
	      (unsigned long)t->rec_p);
	CHECK(lost == 0 && ls->ring_full_records == 0 && ls->loss_records_exported == 0,
	      "loss: per ENI %lu, ring full %lu, loss records %lu", (unsigned long)lost,
	      (unsigned long)ls->ring_full_records, (unsigned long)ls->loss_records_exported);
	CHECK(ls->records_exported == n_recs, "records exported %lu, drained %zu",
	      (unsigned long)ls->records_exported, n_recs);
	const struct vs_worker_stats *ws = vs_worker_stats(vs_switch_worker(sw, 0));
	CHECK(ws->tx_dropped == 0 && ws->no_route == 0 && delivered[UP] == 0,
	      "tx_dropped %lu no_route %lu uplink %lu", (unsigned long)ws->tx_dropped,
	      (unsigned long)ws->no_route, (unsigned long)delivered[UP]);
}

/* Records of one key never overlap in time: an entry leaves (with its
 * cell's counts) before the next one of its key starts. */
static void check_no_overlap(void)
{
	size_t overlap = 0;
	qsort(recs, n_recs, sizeof(*recs), cmp_rec);
	for (size_t i = 1; i < n_recs; i++)
		overlap += key_cmp(&recs[i - 1], &recs[i]) == 0 &&
			   recs[i - 1].last_ns > recs[i].first_ns;
	CHECK(overlap == 0, "%zu records overlap an earlier record of their key in time", overlap);
}

static void run(int idx, const struct run_opts *o)
{
	char inst[16], rn[RTE_RING_NAMESIZE];
	struct tally t;
	size_t n_keys, n_conns;

	memset(tbl, 0, sizeof(tbl));
	memset(delivered, 0, sizeof(delivered));
	memset(&t, 0, sizeof(t));
	n_recs = 0;
	n_pk = 0;
	n_delivered = 0;
	flips = 0;
	struct vs_switch *sw = make_switch(idx, o, inst, sizeof(inst));
	snprintf(rn, sizeof(rn), EFL_RING_EXPORT, inst, 0u);
	struct rte_ring *er = rte_ring_lookup(rn);
	if (er == NULL) {
		fprintf(stderr, "no export ring %s\n", rn);
		exit(1);
	}
	uint64_t t0 = rte_get_timer_cycles();
	rte_eal_remote_launch(vs_worker_main, vs_switch_worker(sw, 0), 1);
	traffic(sw, er, o);
	vs_switch_stop(sw);
	rte_eal_mp_wait_lcore();
	drain_tx();
	drain_export(er);
	double secs = (double)(rte_get_timer_cycles() - t0) / (double)rte_get_timer_hz();

	decide_ingress(&t);
	match_records(&t);
	check_sums(&t, &n_keys, &n_conns);
	check_counters(sw, &t);
	check_no_overlap();

	/* The pressure was real, and cells were in use. */
	CHECK(n_conns >= 8 * CONN_SLOTS, "%zu connections opened, the table holds %u", n_conns,
	      CONN_SLOTS);
	CHECK(t.amb_rej > 0 && t.amb_acc > 0, "replies through the table: %lu accepted, %lu rejected",
	      (unsigned long)t.amb_acc, (unsigned long)t.amb_rej);
	CHECK(flips > 0, "no connection changed its rule");
	CHECK(t.cell_last > 0, "no record ends on a cell's time: were cells used at all?");
	if (o->flows <= 1024) {
		const struct efl_lcore_stats *ls = &fl_dp_shm_stats(vs_switch_plugin(sw))->lcore[0];
		CHECK(ls->flows_evicted > 0 && t.pressure > 0, "flow cache never evicted (%lu, %zu)",
		      (unsigned long)ls->flows_evicted, t.pressure);
	}
	size_t at = strlen(summary);
	snprintf(summary + at, sizeof(summary) - at,
		 "%srun %d: %u frames, %zu flow keys, %zu connections on %u slots (%lu rule "
		 "changes), table-only replies %lu accepted %lu rejected, %zu records (%zu active, "
		 "%zu evicted, %zu ending in a cell), %.2f s", at ? "; " : "", idx, n_pk, n_keys,
		 n_conns, CONN_SLOTS, (unsigned long)flips, (unsigned long)t.amb_acc,
		 (unsigned long)t.amb_rej, n_recs, t.active, t.pressure, t.cell_last, secs);
	vs_switch_destroy(sw);
	CHECK(rte_mempool_in_use_count(pool) == 0, "test mbufs still in use: %u",
	      rte_mempool_in_use_count(pool));
}

int main(int argc, char **argv)
{
	(void)argc;
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=t_vs_cells_%d", (int)getpid());
	char *eal[] = {argv[0], "--no-huge", "-m", "256", "--no-pci", "--log-level=*:warning",
		       prefix, "--no-shconf", "--no-telemetry", "-l", "0,1"};
	if (rte_eal_init(sizeof(eal) / sizeof(eal[0]), eal) < 0) {
		fprintf(stderr, "rte_eal_init failed\n");
		return 1;
	}
	pool = rte_pktmbuf_pool_create("t_cells_pool", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	if (pool == NULL) {
		fprintf(stderr, "mbuf pool failed\n");
		return 1;
	}
	make_conns();
	/* Big cache, active exports every second, a flush early on. */
	run(0, &(struct run_opts){.flows = 65536, .agg_s = 1, .rounds = 12, .restart_after = 1,
				  .nap_us = 150000});
	/* A 1,024-flow cache: the plugin evicts flows too. */
	run(1, &(struct run_opts){.flows = 1024, .agg_s = 60, .rounds = 6, .restart_after = -1});
	free(recs);
	rte_eal_cleanup();
	printf("test_vs_cells: %s: %s\n", failures ? "FAILED" : "ok", summary);
	if (failures) {
		fprintf(stderr, "test_vs_cells: %d failures\n", failures);
		return 1;
	}
	return 0;
}
