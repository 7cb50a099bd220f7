/*
 * fuzz_vs_config.c - libFuzzer target for eniflow-vswitch's JSON config
 * parser: any input is either refused with a message naming a field, or
 * gives a struct whose cross references all point inside their tables
 * (what the rest of the switch trusts without checking).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vs_config.h"

#define REQUIRE(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

static void check(const struct vs_config *c)
{
	REQUIRE(c->n_ports >= 2 && c->n_ports <= VS_MAX_PORTS);
	REQUIRE(c->uplink >= 0 && (uint32_t)c->uplink < c->n_ports);
	REQUIRE(c->n_enis == c->n_ports - 1);
	REQUIRE(c->n_lcores >= 1 && c->n_lcores <= VS_MAX_LCORES);
	REQUIRE(c->n_vpcs >= 1 && c->n_vpcs <= c->n_enis);
	for (uint32_t p = 0; p < c->n_ports; p++) {
		const struct vs_port *pt = &c->ports[p];
		REQUIRE(pt->lcore >= 0 && (uint32_t)pt->lcore < c->n_lcores);
		REQUIRE(pt->uplink == (pt->eni < 0));
		REQUIRE(pt->eni < 0 || c->eni_port[pt->eni] == p);
		REQUIRE(memchr(pt->devargs, 0, sizeof(pt->devargs)) != NULL);
	}
	for (uint32_t e = 0; e < c->n_enis; e++) {
		const struct vs_eni *x = &c->enis[e];
		REQUIRE(x->n_sgs >= 1 && x->n_sgs <= VS_MAX_SG_PER_ENI);
		for (uint32_t k = 0; k < x->n_sgs; k++)
			REQUIRE(x->sg[k] < c->n_sgs);
		REQUIRE(x->acl < (int)c->n_acls);
		REQUIRE(x->vpc_idx < c->n_vpcs);
		REQUIRE(x->n_ipv4 <= VS_MAX_ADDRS && x->n_ipv6 <= VS_MAX_ADDRS);
		REQUIRE((x->mac[0] & 1) == 0);
	}
	for (uint32_t a = 0; a < c->n_acls; a++)
		for (int d = 0; d < VS_DIR_MAX; d++)
			for (uint32_t i = 1; i < c->acls[a].dir[d].n; i++)
				REQUIRE(c->acls[a].dir[d].r[i - 1].id < c->acls[a].dir[d].r[i].id);
	for (uint32_t s = 0; s < c->n_sgs; s++)
		for (int d = 0; d < VS_DIR_MAX; d++)
			for (uint32_t i = 0; i < c->sgs[s].dir[d].n; i++) {
				const struct vs_rule *r = &c->sgs[s].dir[d].r[i];
				REQUIRE(r->port_lo <= r->port_hi);
				REQUIRE(r->cidr.family == 4 ? r->cidr.len <= 32 : r->cidr.len <= 128);
			}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vs_config cfg;
	char err[VS_ERR_LEN];
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = '\0';
	if (vs_config_parse(text, &cfg, err) == 0)
		check(&cfg);
	else
		REQUIRE(err[0] != '\0' && memchr(err, 0, sizeof(err)) != NULL);
	free(text);
	return 0;
}
