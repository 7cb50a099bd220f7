/*
 * api_enis.c - GET /v1/enis: the ENIs the switch knows, each with the flow
 * log in force for it. While the switch is down the last table seen is
 * served, marked "switch_up": false, so a client can still read its state.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include "efd_internal.h"

static json_t *eni_json(const struct efl_shm_eni *e, const struct efd_flowlogs *fls)
{
	char buf[INET6_ADDRSTRLEN];
	struct efl_eni_cfg cfg;
	const struct efd_flowlog *fl = efd_fls_effective(fls, e, &cfg);
	json_t *v4 = json_array(), *v6 = json_array();

	for (unsigned i = 0; i < e->n_ipv4 && i < 4; i++)
		json_array_append_new(v4, json_string(inet_ntop(AF_INET, e->ipv4[i], buf, sizeof(buf))));
	for (unsigned i = 0; i < e->n_ipv6 && i < 4; i++)
		json_array_append_new(v6, json_string(inet_ntop(AF_INET6, e->ipv6[i], buf, sizeof(buf))));
	snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", e->mac[0], e->mac[1], e->mac[2],
		 e->mac[3], e->mac[4], e->mac[5]);
	return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "index", (int)e->index,
			 "eni_id", e->eni_id, "vpc_id", e->vpc_id, "subnet_id", e->subnet_id,
			 "account_id", e->account_id, "mac", buf, "ipv4", v4, "ipv6", v6,
			 "flow_log", fl ? efd_fl_to_json(fl) : json_null());
}

void api_enis_get(struct efd *d, const struct efd_req *q, struct efd_resp *r)
{
	json_t *arr = json_array();
	(void)q;

	pthread_mutex_lock(&d->lock);
	for (uint32_t i = 0; i < d->enis.n; i++)
		json_array_append_new(arr, eni_json(&d->enis.eni[i], &d->fls));
	bool up = d->attached;
	pthread_mutex_unlock(&d->lock);
	r->status = 200;
	r->json = json_pack("{s:b, s:o}", "switch_up", up, "enis", arr);
}
