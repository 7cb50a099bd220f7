/*
 * vs_telemetry.c - read-only telemetry commands of eniflow-vswitch.
 *
 * DPDK 22.11 telemetry nests only arrays inside a dict, so the all-ENI view
 * is "one array per counter, indexed by ENI index" (with the ids in "eni"),
 * and the one-ENI view is a flat dict. Callbacks run on the telemetry
 * thread and only read counters that workers write (64-bit aligned stores).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <rte_telemetry.h>

#include "vs_internal.h"
#include "vs_telemetry.h"

static struct vs_switch *g_sw;

void vs_eni_totals(struct vs_switch *sw, uint32_t eni, struct vs_eni_totals *t)
{
	struct efl_shm_stats *st = sw->stats;
	uint64_t rej_p = 0, rej_b = 0;
	memset(t, 0, sizeof(*t));
	/* Egress rejects first: a worker counts rx before it rejects, so rx read
	 * after them is never behind them and forwarded never goes negative. */
	for (uint32_t w = 0; w < sw->n_workers && eni < VS_MAX_PORTS; w++) {
		rej_p += sw->workers[w]->egress_rejected[eni][0];
		rej_b += sw->workers[w]->egress_rejected[eni][1];
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	for (uint32_t w = 0; w < sw->n_workers; w++) {
		const volatile struct efl_eni_switch_stats *s = efl_stats_sw(st, sw->n_workers, w, eni);
		const volatile struct efl_eni_stats *f = efl_stats_eni(st, w, eni);
		t->rx_packets += s->rx_packets;
		t->rx_bytes += s->rx_bytes;
		t->tx_packets += s->tx_packets;
		t->tx_bytes += s->tx_bytes;
		t->rejected_packets += s->rejected_packets;
		t->rejected_bytes += s->rejected_bytes;
		t->seen_packets += f->packets_seen;
		t->seen_bytes += f->bytes_seen;
		t->accounted_packets += f->packets_accounted;
		t->accounted_bytes += f->bytes_accounted;
		t->lost_packets += f->lost_packets;
	}
	t->forwarded_packets = t->rx_packets - rej_p;
	t->forwarded_bytes = t->rx_bytes - rej_b;
}

/* Counter names and their place in struct vs_eni_totals, in one table. */
static const struct {
	const char *name;
	size_t off;
} counters[] = {
#define C(f) {#f, offsetof(struct vs_eni_totals, f)}
	C(rx_packets), C(rx_bytes), C(forwarded_packets), C(forwarded_bytes),
	C(tx_packets), C(tx_bytes),
	C(rejected_packets), C(rejected_bytes), C(seen_packets), C(seen_bytes),
	C(accounted_packets), C(accounted_bytes), C(lost_packets),
#undef C
};
#define N_COUNTERS (sizeof(counters) / sizeof(counters[0]))

static uint64_t counter(const struct vs_eni_totals *t, size_t i)
{
	return *(const uint64_t *)((const char *)t + counters[i].off);
}

static int find_eni(const char *params)
{
	const struct vs_config *cfg = g_sw->cfg;
	char *end;
	if (params == NULL || *params == '\0')
		return -1;
	for (uint32_t e = 0; e < cfg->n_enis; e++)
		if (strcmp(cfg->enis[e].id, params) == 0)
			return (int)e;
	unsigned long v = strtoul(params, &end, 10);
	return *end == '\0' && v < cfg->n_enis ? (int)v : -1;
}

static int cmd_enis(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct vs_config *cfg = g_sw->cfg;
	const char *names[] = {"eni", "vpc", "subnet", "account", "port"};
	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	for (size_t k = 0; k < 5; k++) {
		struct rte_tel_data *a = rte_tel_data_alloc();
		if (a == NULL)
			return -ENOMEM;
		rte_tel_data_start_array(a, RTE_TEL_STRING_VAL);
		for (uint32_t e = 0; e < cfg->n_enis; e++) {
			const struct vs_eni *x = &cfg->enis[e];
			const char *v[] = {x->id, x->vpc, x->subnet, x->account,
					   cfg->ports[cfg->eni_port[e]].name};
			rte_tel_data_add_array_string(a, v[k]);
		}
		rte_tel_data_add_dict_container(d, names[k], a, 0);
	}
	return 0;
}

static int cmd_eni(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct vs_config *cfg = g_sw->cfg;
	struct vs_eni_totals t;
	char mac[24];
	int e = find_eni(params);
	(void)cmd;
	if (e < 0)
		return -EINVAL;
	const struct vs_eni *x = &cfg->enis[e];
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "eni", x->id);
	rte_tel_data_add_dict_u64(d, "index", (uint64_t)e);
	rte_tel_data_add_dict_string(d, "vpc", x->vpc);
	rte_tel_data_add_dict_string(d, "subnet", x->subnet);
	rte_tel_data_add_dict_string(d, "account", x->account);
	rte_tel_data_add_dict_string(d, "port", cfg->ports[cfg->eni_port[e]].name);
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", x->mac[0], x->mac[1],
		 x->mac[2], x->mac[3], x->mac[4], x->mac[5]);
	rte_tel_data_add_dict_string(d, "mac", mac);
	vs_eni_totals(g_sw, (uint32_t)e, &t);
	for (size_t i = 0; i < N_COUNTERS; i++)
		rte_tel_data_add_dict_u64(d, counters[i].name, counter(&t, i));
	return 0;
}

static int cmd_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct vs_config *cfg = g_sw->cfg;
	struct vs_eni_totals t[VS_MAX_PORTS];
	(void)cmd;
	if (params != NULL && *params != '\0')
		return cmd_eni(cmd, params, d);
	for (uint32_t e = 0; e < cfg->n_enis; e++)
		vs_eni_totals(g_sw, e, &t[e]);
	rte_tel_data_start_dict(d);
	struct rte_tel_data *ids = rte_tel_data_alloc();
	if (ids == NULL)
		return -ENOMEM;
	rte_tel_data_start_array(ids, RTE_TEL_STRING_VAL);
	for (uint32_t e = 0; e < cfg->n_enis; e++)
		rte_tel_data_add_array_string(ids, cfg->enis[e].id);
	rte_tel_data_add_dict_container(d, "eni", ids, 0);
	for (size_t i = 0; i < N_COUNTERS; i++) {
		struct rte_tel_data *a = rte_tel_data_alloc();
		if (a == NULL)
			return -ENOMEM;
		rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
		for (uint32_t e = 0; e < cfg->n_enis; e++)
			rte_tel_data_add_array_u64(a, counter(&t[e], i));
		rte_tel_data_add_dict_container(d, counters[i].name, a, 0);
	}
	return 0;
}

static int cmd_workers(const char *cmd, const char *params, struct rte_tel_data *d)
{
	static const char *const names[] = {"lcore", "iterations", "rx_packets", "tx_dropped",
		"no_route", "uplink_flood_dropped", "busy_cycles", "busy_packets",
		"iter_max_cycles", "poll_max_cycles"};
	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		struct rte_tel_data *a = rte_tel_data_alloc();
		if (a == NULL)
			return -ENOMEM;
		rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
		for (uint32_t w = 0; w < g_sw->n_workers; w++) {
			const struct vs_worker_stats *s = &g_sw->workers[w]->st;
			const uint64_t v[] = {g_sw->cfg->lcores[w].lcore_id, s->iterations,
				s->rx_packets, s->tx_dropped, s->no_route, s->uplink_flood_dropped,
				s->busy_cycles, s->busy_packets, s->iter_max_cycles,
				s->poll_max_cycles};
			rte_tel_data_add_array_u64(a, v[k]);
		}
		rte_tel_data_add_dict_container(d, names[k], a, 0);
	}
	return 0;
}

/* One worker's loop-length histograms (parameter: worker index, default 0). */
static int cmd_stalls(const char *cmd, const char *params, struct rte_tel_data *d)
{
	unsigned long wi = 0;
	char *end = NULL;
	(void)cmd;
	if (params != NULL && *params != '\0') {
		wi = strtoul(params, &end, 10);
		if (*end != '\0')
			return -EINVAL;
	}
	if (wi >= g_sw->n_workers)
		return -EINVAL;
	const struct vs_worker *wk = g_sw->workers[wi];
	const struct vs_worker_stats *s = &wk->st;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "worker", wi);
	rte_tel_data_add_dict_u64(d, "lcore", g_sw->cfg->lcores[wi].lcore_id);
	rte_tel_data_add_dict_u64(d, "tsc_hz", g_sw->tsc_hz);
	rte_tel_data_add_dict_u64(d, "iterations", s->iterations);
	rte_tel_data_add_dict_u64(d, "iter_max_cycles", s->iter_max_cycles);
	rte_tel_data_add_dict_u64(d, "poll_max_cycles", s->poll_max_cycles);
	rte_tel_data_add_dict_u64(d, "cfg_poll_max_cycles", s->cfg_poll_max_cycles);
	const uint64_t *h[] = {s->iter_hist, s->poll_hist, s->cfg_poll_hist};
	const char *names[] = {"iter_hist", "poll_hist", "cfg_poll_hist"};
	for (int k = 0; k < 3; k++) {
		struct rte_tel_data *a = rte_tel_data_alloc();
		if (a == NULL)
			return -ENOMEM;
		rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
		for (unsigned b = 0; b < VS_STALL_BUCKETS; b++)
			rte_tel_data_add_array_u64(a, h[k][b]);
		rte_tel_data_add_dict_container(d, names[k], a, 0);
	}
	return 0;
}

/* Rejects summed over workers, one entry per (ENI, direction, layer, rule). */
static int cmd_rejects(const char *cmd, const char *params, struct rte_tel_data *d)
{
	static struct vs_rej_slot sum[VS_REJ_SLOTS * 2];
	uint32_t n = 0;
	uint64_t overflow = 0;
	(void)cmd;
	(void)params;
	for (uint32_t w = 0; w < g_sw->n_workers; w++) {
		const struct vs_worker *wk = g_sw->workers[w];
		overflow += wk->rej_overflow;
		for (uint32_t i = 0; i < VS_REJ_SLOTS; i++) {
			uint64_t key = __atomic_load_n(&wk->rej[i].key, __ATOMIC_ACQUIRE);
			uint32_t j;
			if (key == 0)
				continue;
			for (j = 0; j < n && sum[j].key != key; j++)
				;
			if (j == n) {
				if (n == RTE_DIM(sum))
					continue;
				sum[n++] = (struct vs_rej_slot){.key = key};
			}
			sum[j].packets += wk->rej[i].packets;
			sum[j].bytes += wk->rej[i].bytes;
		}
	}
	static const char *const names[] = {"eni_index", "direction", "layer", "rule",
					    "packets", "bytes"};
	rte_tel_data_start_dict(d);
	for (size_t k = 0; k < RTE_DIM(names); k++) {
		struct rte_tel_data *a = rte_tel_data_alloc();
		if (a == NULL)
			return -ENOMEM;
		rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
		for (uint32_t j = 0; j < n; j++) {
			uint64_t key = sum[j].key;
			const uint64_t v[] = {(key >> 40) & 0xfff, (key >> 36) & 0xf, (key >> 32) & 0xf,
					      key & 0xffffffff, sum[j].packets, sum[j].bytes};
			rte_tel_data_add_array_u64(a, v[k]);
		}
		rte_tel_data_add_dict_container(d, names[k], a, 0);
	}
	rte_tel_data_add_dict_u64(d, "overflow", overflow);
	return 0;
}

int vs_telemetry_register(struct vs_switch *sw)
{
	int rc = 0;
	g_sw = sw;
	rc |= rte_telemetry_register_cmd("/eniflow/enis", cmd_enis,
		"ENI ids, VPCs, subnets, accounts and ports, by ENI index. No parameters");
	rc |= rte_telemetry_register_cmd("/eniflow/eni", cmd_eni,
		"One ENI's identity and counters. Parameter: ENI id or index");
	rc |= rte_telemetry_register_cmd("/eniflow/stats", cmd_stats,
		"Per-ENI counters, one array per counter by ENI index. Optional parameter: ENI id or index");
	rc |= rte_telemetry_register_cmd("/eniflow/workers", cmd_workers,
		"Per-worker loop counters. No parameters");
	rc |= rte_telemetry_register_cmd("/eniflow/stalls", cmd_stalls,
		"Loop and fl_dp_poll lengths: max, log2 histograms of TSC cycles. Parameter: worker index");
	rc |= rte_telemetry_register_cmd("/eniflow/rejects", cmd_rejects,
		"Rejected packets by ENI index, direction (0 ingress, 1 egress), layer (1 SG, 2 ACL) and rule (0 = default deny)");
	return rc == 0 ? 0 : -EINVAL;
}
