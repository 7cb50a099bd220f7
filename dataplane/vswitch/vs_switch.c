/*
 * vs_switch.c - set-up and tear-down of eniflow-vswitch: finds the ports
 * EAL made from the config's devargs, configures them (one rx queue, one
 * tx queue per worker where the driver allows it), builds the MAC table
 * and the per-VPC flood lists, creates the flow-log plugin and publishes
 * the ENI table memzone that eniflowd reads.
 * Everything here runs before the workers start or after they stopped.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "vs_internal.h"

#define RX_DESC 1024
#define TX_DESC 1024

static int port_setup(struct vs_switch *sw, uint32_t pi, char *err)
{
	const struct vs_port *cp = &sw->cfg->ports[pi];
	struct vs_port_rt *rt = &sw->ports[pi];
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	char name[VS_DEVARGS_LEN];
	uint16_t pid, nrx = RX_DESC, ntx = TX_DESC;
	int rc;

	snprintf(name, sizeof(name), "%.*s", (int)strcspn(cp->devargs, ","), cp->devargs);
	if (rte_eth_dev_get_port_by_name(name, &pid) != 0) {
		snprintf(err, VS_ERR_LEN, "ports[%u].devargs: no DPDK port \"%s\" (EAL could not "
			 "create the device; see the EAL log above)", pi, name);
		return -ENODEV;
	}
	rt->port_id = pid;
	rt->eni = cp->eni;
	rte_spinlock_init(&rt->tx_lock);
	sw->cfg_port_of[pid] = (uint16_t)pi;
	rc = rte_eth_dev_info_get(pid, &info);
	if (rc != 0)
		goto fail;
	rt->n_txq = (uint16_t)RTE_MIN(sw->n_workers, info.max_tx_queues);
	if (rt->n_txq == 0)
		rt->n_txq = 1;
	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_configure(pid, 1, rt->n_txq, &conf);
	if (rc == 0)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nrx, &ntx);
	if (rc == 0)
		rc = rte_eth_rx_queue_setup(pid, 0, nrx, (unsigned)rte_eth_dev_socket_id(pid), NULL,
					    sw->pool);
	for (uint16_t q = 0; rc == 0 && q < rt->n_txq; q++)
		rc = rte_eth_tx_queue_setup(pid, q, ntx, (unsigned)rte_eth_dev_socket_id(pid), NULL);
	if (rc == 0)
		rc = rte_eth_dev_start(pid);
	if (rc != 0)
		goto fail;
	/* ENI ports carry one VM's traffic, whatever its MAC: see everything. */
	rte_eth_promiscuous_enable(pid);
	rte_eth_allmulticast_enable(pid);
	return 0;
fail:
	snprintf(err, VS_ERR_LEN, "ports[%u] (%s): setting up the port failed: %s", pi, name,
		 rte_strerror(-rc));
	return rc;
}

static int mac_table_fill(struct vs_switch *sw, char *err)
{
	const struct vs_config *cfg = sw->cfg;
	for (uint32_t i = 0; i < VS_MAC_SLOTS; i++)
		sw->mac[i].eni = -1;
	for (uint32_t e = 0; e < cfg->n_enis; e++) {
		uint64_t k = vs_mac_key(cfg->enis[e].mac, cfg->enis[e].vpc_idx);
		uint32_t i = vs_mac_hash(k);
		while (sw->mac[i].eni >= 0)
			i = (i + 1) & (VS_MAC_SLOTS - 1);
		sw->mac[i] = (struct vs_mac_slot){.key = k, .eni = (int32_t)e};
		uint16_t v = cfg->enis[e].vpc_idx;
		sw->vpc_members[v][sw->n_vpc_members[v]++] = (uint16_t)e;
	}
	(void)err;
	return 0;
}

static int enis_publish(struct vs_switch *sw, const char *instance, char *err)
{
	const struct vs_config *cfg = sw->cfg;
	char name[RTE_MEMZONE_NAMESIZE];
	snprintf(name, sizeof(name), EFL_MZ_ENIS, instance);
	sw->mz_enis = rte_memzone_reserve(name, sizeof(struct efl_shm_eni) * EFL_MAX_ENIS,
					  SOCKET_ID_ANY, 0);
	if (sw->mz_enis == NULL) {
		snprintf(err, VS_ERR_LEN, "memzone %s: %s", name, rte_strerror(rte_errno));
		return -ENOMEM;
	}
	sw->enis = sw->mz_enis->addr;
	memset(sw->enis, 0, sizeof(struct efl_shm_eni) * EFL_MAX_ENIS);
	for (uint32_t e = 0; e < cfg->n_enis; e++) {
		const struct vs_eni *c = &cfg->enis[e];
		struct efl_shm_eni *s = &sw->enis[e];
		s->index = e;
		s->port_id = sw->ports[cfg->eni_port[e]].port_id;
		snprintf(s->eni_id, sizeof(s->eni_id), "%s", c->id);
		snprintf(s->vpc_id, sizeof(s->vpc_id), "%s", c->vpc);
		snprintf(s->subnet_id, sizeof(s->subnet_id), "%s", c->subnet);
		snprintf(s->account_id, sizeof(s->account_id), "%s", c->account);
		memcpy(s->mac, c->mac, 6);
		s->n_ipv4 = c->n_ipv4;
		s->n_ipv6 = c->n_ipv6;
		memcpy(s->ipv4, c->ipv4, sizeof(s->ipv4));
		memcpy(s->ipv6, c->ipv6, sizeof(s->ipv6));
	}
	return 0;
}

static int workers_make(struct vs_switch *sw, const struct vs_switch_params *p, char *err)
{
	for (uint32_t i = 0; i < sw->n_workers; i++) {
		struct vs_worker *w = rte_zmalloc("vs_worker", sizeof(*w), RTE_CACHE_LINE_SIZE);
		char name[32];
		if (w == NULL)
			goto nomem;
		sw->workers[i] = w;
		w->sw = sw;
		w->idx = i;
		w->lc = &sw->cfg->lcores[i];
		w->fl = fl_dp_worker(sw->dp, i);
		w->sw_stats = efl_stats_sw(sw->stats, sw->n_workers, i, 0);
		snprintf(name, sizeof(name), "vs_conn%u", i);
		/* SG connections idle out after 5 minutes, as stateful firewalls do. */
		w->ct = vs_conn_create(name, sw->cfg->connections_per_worker ?
				       sw->cfg->connections_per_worker :
				       p->conn_entries ? p->conn_entries : 65536,
				       300ull * 1000000000ull, w->fl, SOCKET_ID_ANY);
		if (w->ct == NULL)
			goto nomem;
	}
	return 0;
nomem:
	snprintf(err, VS_ERR_LEN, "out of memory for the workers");
	return -ENOMEM;
}

static int plugin_make(struct vs_switch *sw, const struct vs_switch_params *p, char *err)
{
	struct fl_dp_params fp = {
		.instance = p->instance,
		.n_workers = sw->n_workers,
		.n_enis = sw->cfg->n_enis,
		.flows_per_worker = sw->cfg->flows_per_worker,
		.ring_size = sw->cfg->flow_ring_size,
		.socket_id = SOCKET_ID_ANY,
	};
	sw->dp = fl_dp_create(&fp);
	if (sw->dp == NULL) {
		snprintf(err, VS_ERR_LEN, "flow-log plugin: %s (is another switch running with "
			 "--instance %s?)", rte_strerror(rte_errno), p->instance);
		return -rte_errno;
	}
	sw->stats = fl_dp_shm_stats(sw->dp);
	sw->hdr = fl_dp_shm_header(sw->dp);
	return 0;
}

struct vs_switch *vs_switch_create(const struct vs_config *cfg,
				   const struct vs_switch_params *p, char *err)
{
	struct vs_switch *sw = rte_zmalloc("vs_switch", sizeof(*sw), RTE_CACHE_LINE_SIZE);
	char name[RTE_MEMPOOL_NAMESIZE];
	struct timespec ts;

	if (sw == NULL) {
		snprintf(err, VS_ERR_LEN, "out of memory for the switch");
		return NULL;
	}
	sw->cfg = cfg;
	sw->n_workers = cfg->n_lcores;
	sw->tsc_hz = rte_get_tsc_hz();
	clock_gettime(CLOCK_REALTIME, &ts);
	sw->tsc0 = rte_rdtsc();
	sw->wall0_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	snprintf(name, sizeof(name), "vs_mbuf_%s", p->instance);
	sw->pool = rte_pktmbuf_pool_create(name, cfg->mbufs, 256, 0,
					   (uint16_t)(cfg->mbuf_data_room + RTE_PKTMBUF_HEADROOM),
					   (int)rte_socket_id());
	if (sw->pool == NULL) {
		snprintf(err, VS_ERR_LEN, "mbufs: pool of %u mbufs: %s", cfg->mbufs,
			 rte_strerror(rte_errno));
		goto fail;
	}
	for (uint32_t pi = 0; pi < cfg->n_ports; pi++)
		if (port_setup(sw, pi, err) != 0)
			goto fail;
	sw->pol = vs_policy_create(cfg, SOCKET_ID_ANY, err);
	/* The ENI table before the plugin: eniflowd attaches once the plugin's
	 * header exists and reads the table then (an empty one named every
	 * record's ENI "" until the next attach). */
	if (sw->pol == NULL || mac_table_fill(sw, err) != 0 ||
	    enis_publish(sw, p->instance, err) != 0 || plugin_make(sw, p, err) != 0 ||
	    workers_make(sw, p, err) != 0)
		goto fail;
	vs_switch_flowlog_all(sw, p->enable_all);
	return sw;
fail:
	vs_switch_destroy(sw);
	return NULL;
}

void vs_switch_destroy(struct vs_switch *sw)
{
	if (sw == NULL)
		return;
	for (uint32_t pi = 0; pi < sw->cfg->n_ports; pi++)
		if (sw->ports[pi].n_txq != 0) {
			rte_eth_dev_stop(sw->ports[pi].port_id);
			rte_eth_dev_close(sw->ports[pi].port_id);
		}
	for (uint32_t i = 0; i < sw->n_workers; i++)
		if (sw->workers[i] != NULL) {
			vs_conn_destroy(sw->workers[i]->ct);
			rte_free(sw->workers[i]);
		}
	vs_policy_destroy(sw->pol);
	fl_dp_destroy(sw->dp);
	rte_memzone_free(sw->mz_enis);
	rte_mempool_free(sw->pool);
	rte_free(sw);
}

void vs_switch_flowlog_all(struct vs_switch *sw, bool enabled)
{
	struct efl_shm_cfg *c = fl_dp_shm_cfg(sw->dp);
	struct efl_eni_cfg v = {.enabled = enabled, .traffic_type = EFL_TRAFFIC_ALL,
		.agg_interval_s = 60, .sample_1_in_n = 1};
	for (uint32_t e = 0; e < sw->cfg->n_enis; e++)
		efl_cfg_write(c, e, &v);
}

void vs_switch_stop(struct vs_switch *sw)
{
	__atomic_store_n(&sw->stop, 1, __ATOMIC_RELEASE);
}

void vs_switch_rearm(struct vs_switch *sw)
{
	__atomic_store_n(&sw->stop, 0, __ATOMIC_RELEASE);
}

struct vs_worker *vs_switch_worker(struct vs_switch *sw, uint32_t i)
{
	return i < sw->n_workers ? sw->workers[i] : NULL;
}

const struct vs_worker_stats *vs_worker_stats(const struct vs_worker *w)
{
	return &w->st;
}

struct fl_dp *vs_switch_plugin(struct vs_switch *sw)
{
	return sw->dp;
}

const struct vs_config *vs_switch_config(const struct vs_switch *sw)
{
	return sw->cfg;
}

uint32_t vs_switch_workers(const struct vs_switch *sw)
{
	return sw->n_workers;
}

const struct efl_shm_eni *vs_switch_enis(const struct vs_switch *sw)
{
	return sw->enis;
}
