/*
 * Proves that vs_config accepts config/vswitch-example.json with every field
 * where it belongs, and refuses each bad variant of it with the exact
 * message naming the field (no EAL needed: the parser is plain C).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vs_config.h"

static int failures;

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		failures++; \
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} } while (0)

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	char *buf = calloc(1, 1 << 20);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Replace the first occurrence of find by repl (find must occur). */
static char *patch(const char *base, const char *find, const char *repl)
{
	const char *at = strstr(base, find);
	if (at == NULL) {
		fprintf(stderr, "test bug: \"%s\" not in the base config\n", find);
		exit(1);
	}
	size_t n = strlen(base) + strlen(repl) + 1;
	char *out = malloc(n);
	snprintf(out, n, "%.*s%s%s", (int)(at - base), base, repl, at + strlen(find));
	return out;
}

static void test_good(const char *base, struct vs_config *c)
{
	char err[VS_ERR_LEN] = "";
	int rc = vs_config_parse(base, c, err);
	CHECK(rc == 0, "example config refused: rc=%d %s", rc, err);
	CHECK(c->n_ports == 4 && c->n_enis == 3 && c->uplink == 3, "ports %u enis %u uplink %d",
	      c->n_ports, c->n_enis, c->uplink);
	CHECK(strcmp(c->ports[0].devargs, "net_tap0,iface=efl-web1") == 0, "devargs %s",
	      c->ports[0].devargs);
	const struct vs_eni *e = &c->enis[2];
	CHECK(strcmp(e->id, "eni-0a1b2c03") == 0 && strcmp(e->subnet, "subnet-b") == 0 &&
	      strcmp(e->account, "123456789012") == 0 && strcmp(e->vpc, "vpc-01") == 0,
	      "eni 2 identity %s %s %s %s", e->id, e->subnet, e->account, e->vpc);
	CHECK(e->mac[0] == 2 && e->mac[5] == 0x0a && e->mac[4] == 2, "mac");
	CHECK(e->n_ipv4 == 1 && e->ipv4[0][0] == 10 && e->ipv4[0][2] == 2 && e->ipv4[0][3] == 10,
	      "ipv4");
	CHECK(c->enis[0].n_ipv6 == 1 && c->enis[0].ipv6[0][0] == 0xfd && c->enis[0].ipv6[0][15] == 0x10,
	      "ipv6");
	CHECK(e->n_sgs == 2 && e->sg[0] == 0 && e->sg[1] == 1, "sgs %u %u %u", e->n_sgs, e->sg[0],
	      e->sg[1]);
	CHECK(e->acl == 0 && c->enis[0].acl == 0, "acl %d", e->acl);
	CHECK(c->n_vpcs == 1 && e->vpc_idx == 0, "vpcs %u", c->n_vpcs);
	const struct vs_rule *r = &c->sgs[0].dir[VS_DIR_INGRESS].r[1];
	CHECK(r->id == 102 && r->proto == 6 && r->port_lo == 8080 && r->port_hi == 8080 &&
	      r->cidr.family == 4 && r->cidr.len == 0, "sg rule 102: id %u proto %u %u-%u",
	      r->id, r->proto, r->port_lo, r->port_hi);
	r = &c->acls[0].dir[VS_DIR_INGRESS].r[0];
	CHECK(r->id == 10 && !r->allow && r->port_lo == 22, "acl rule 10: %u %d", r->id, r->allow);
	CHECK(c->n_lcores == 1 && c->lcores[0].lcore_id == 1 && c->lcores[0].n_ports == 4,
	      "lcores");
	CHECK(c->mbufs == 16383 && c->mbuf_data_room == 2048, "defaults %u %u", c->mbufs,
	      c->mbuf_data_room);
}

static const struct bad_case {
	const char *find, *repl, *err;
} bad[] = {
	{"\"10.0.1.10\"", "\"10.0.0.300\"", "ports[0].eni.ipv4[0]: \"10.0.0.300\" is not an IPv4 address"},
	{"\"10.0.2.10\"", "\"10.0.2\"", "ports[2].eni.ipv4[0]: \"10.0.2\" is not an IPv4 address"},
	{"\"fd00:1::10\"", "\"fd00:::1\"", "ports[0].eni.ipv6[0]: \"fd00:::1\" is not an IPv6 address"},
	{"\"02:00:0a:00:02:0a\"", "\"02:00:0a:00:02\"",
	 "ports[2].eni.mac: \"02:00:0a:00:02\" is not a MAC address (aa:bb:cc:dd:ee:ff)"},
	{"\"02:00:0a:00:01:0b\"", "\"03:00:0a:00:01:0b\"",
	 "ports[1].eni.mac: \"03:00:0a:00:01:0b\" is a multicast MAC address"},
	{"\"02:00:0a:00:01:0b\"", "\"02:00:0a:00:01:0a\"",
	 "ports[1].eni.mac: MAC is also used by ports[0] in the same VPC"},
	{"\"net_null0,no-rx=1\"", "\"net_bonding0\"",
	 "ports[3].devargs: \"net_bonding0\" is not a net_tap, net_pcap, net_ring, net_null, net_vhost or virtio_user device"},
	{"\"net_tap1,iface=efl-web2\"", "\"net_tap0,iface=x\"",
	 "ports[1].devargs: device \"net_tap0\" is also used by ports[0]"},
	{"\"name\": \"web2\"", "\"name\": \"web1\"", "ports[1]: name \"web1\" is also used by ports[0]"},
	{"\"uplink\": true", "\"uplink\": false", "ports[3].eni: missing (every port but the uplink carries an ENI)"},
	{"\"uplink\": true", "\"uplink\": 1", "ports[3].uplink: must be true or false"},
	{"\"security_groups\": [\"sg-web\", \"sg-db\"]", "\"security_groups\": [\"sg-web\", \"sg-nope\"]",
	 "ports[2].eni.security_groups[1]: no security group has id \"sg-nope\""},
	{"\"security_groups\": [\"sg-web\"]}},\n    {\"name\": \"web2\"", "\"security_groups\": []}},\n    {\"name\": \"web2\"",
	 "ports[0].eni.security_groups: must be an array of 1..5 security group ids"},
	{"\"account\": \"123456789012\", \"vpc\": \"vpc-01\",\n             \"subnet\": \"subnet-b\"",
	 "\"vpc\": \"vpc-01\",\n             \"subnet\": \"subnet-b\"", "ports[2].eni.account: missing"},
	{"\"subnet\": \"subnet-a\", \"mac\"", "\"subnet\": \"subnet-a\", \"macc\": 1, \"mac\"",
	 "ports[0].eni: unknown field \"macc\""},
	{"\"proto\": \"icmp\"", "\"proto\": \"icmpx\"",
	 "security_groups[0].ingress[0].proto: must be \"all\", \"tcp\", \"udp\", \"icmp\", \"icmpv6\" or 0..255"},
	{"\"ports\": [8080, 8080]", "\"ports\": [8080, 80]",
	 "security_groups[0].ingress[1].ports: first port 8080 is above last port 80"},
	{"\"ports\": [8080, 8080]", "\"ports\": [8080, 70000]",
	 "security_groups[0].ingress[1].ports[1]: 70000 is not in 0..65535"},
	{"{\"id\": 101, \"proto\": \"icmp\", \"cidr\": \"10.0.0.0/16\"}",
	 "{\"id\": 101, \"proto\": \"icmp\", \"ports\": [1, 2], \"cidr\": \"10.0.0.0/16\"}",
	 "security_groups[0].ingress[0].ports: a port range needs proto \"tcp\" or \"udp\""},
	{"\"cidr\": \"10.0.0.0/16\"", "\"cidr\": \"10.0.0.0/33\"",
	 "security_groups[0].ingress[0].cidr: \"10.0.0.0/33\": prefix length must be 0..32"},
	{"\"cidr\": \"10.0.0.0/16\"", "\"cidr\": \"10.0.0.1/16\"",
	 "security_groups[0].ingress[0].cidr: \"10.0.0.1/16\" has host bits set"},
	{"\"cidr\": \"10.0.0.0/16\"", "\"cidr\": \"10.0.0.0\"",
	 "security_groups[0].ingress[0].cidr: \"10.0.0.0\" is not a CIDR (address/length)"},
	{"\"cidr\": \"fd00::/16\"", "\"cidr\": \"fd00::/129\"",
	 "security_groups[0].ingress[2].cidr: \"fd00::/129\": prefix length must be 0..128"},
	{"{\"id\": 102,", "{\"id\": 101,", "security_groups[0].ingress[1]: id 101 is also used by security_groups[0].ingress[0]"},
	{"{\"id\": 101,", "{\"id\": 0,", "security_groups[0].ingress[0].id: 0 is not in 1..4294967295"},
	{"{\"id\": \"sg-db\"", "{\"id\": \"sg-web\"", "security_groups[1]: id \"sg-web\" is also used by security_groups[0]"},
	{"{\"number\": 10, \"action\": \"deny\"", "{\"number\": 10, \"action\": \"drop\"",
	 "network_acls[0].ingress[0].action: must be \"allow\" or \"deny\""},
	{"{\"number\": 10, \"action\": \"deny\"", "{\"number\": 40000, \"action\": \"deny\"",
	 "network_acls[0].ingress[0].number: 40000 is not in 1..32766"},
	{"{\"number\": 100, \"action\": \"allow\"", "{\"number\": 10, \"action\": \"allow\"",
	 "network_acls[0].ingress[1]: number 10 is also used by network_acls[0].ingress[0]"},
	{"\"subnets\": [\"subnet-a\", \"subnet-b\"]", "\"subnets\": []",
	 "network_acls[0].subnets: must be an array of 1..64 subnet ids"},
	{"\"subnets\": [\"subnet-a\", \"subnet-b\"]", "\"subnets\": [\"subnet-a\", \"subnet-a\"]",
	 "network_acls[0].subnets[1]: subnet \"subnet-a\" already has network_acls[0]"},
	{"\"lcore\": 1,", "\"lcore\": 999,", "lcores[0].lcore: 999 is not in 0..127"},
	{"\"db1\", \"uplink\"]", "\"db2\", \"uplink\"]", "lcores[0].ports[2]: no port is named \"db2\""},
	{"\"db1\", \"uplink\"]", "\"uplink\"]", "ports[2]: port \"db1\" is polled by no lcore (see lcores)"},
	{"\"db1\", \"uplink\"]", "\"db1\", \"db1\", \"uplink\"]",
	 "lcores[0].ports[3]: port \"db1\" is already polled by lcores[0]"},
	{"\"lcores\"", "\"lcoresx\"", "(top level): unknown field \"lcoresx\""},
	{"\"ports\": [\n", "\"ports\": 5, \"mbufs\": [\n", "mbufs: must be an integer"},
	{"\"lcores\"", "\"flow_ring_size\": 3000, \"lcores\"", "flow_ring_size: 3000 is not a power of 2"},
	{"\"lcores\"", "\"connections_per_worker\": 5, \"lcores\"",
	 "connections_per_worker: 5 is not in 1024..67108864"},
	{"{\"id\": 101,", "{\"id\": 101, \"id\": 5,", "line 21 column 23: duplicate object key near '\"id\"'"},
};

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "config/vswitch-example.json";
	char *base = read_all(path);
	struct vs_config *c = malloc(sizeof(*c));
	test_good(base, c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[VS_ERR_LEN] = "";
		char *text = patch(base, bad[i].find, bad[i].repl);
		int rc = vs_config_parse(text, c, err);
		CHECK(rc != 0 && strcmp(err, bad[i].err) == 0,
		      "case %zu: rc=%d\n  want: %s\n  got:  %s", i, rc, bad[i].err, err);
		free(text);
	}
	char err[VS_ERR_LEN];
	/* The sizing knobs reach the struct (the example leaves them at 0 = default). */
	char *sized = patch(base, "\"lcores\"", "\"flow_ring_size\": 4096, "
			    "\"connections_per_worker\": 200000, \"lcores\"");
	int rc = vs_config_parse(sized, c, err);
	CHECK(rc == 0 && c->flow_ring_size == 4096 && c->connections_per_worker == 200000,
	      "sizing knobs: rc=%d ring=%u conns=%u %s", rc, c->flow_ring_size,
	      c->connections_per_worker, rc ? err : "");
	free(sized);
	rc = vs_config_load("/nonexistent/vs.json", c, err);
	CHECK(rc == -2 && strcmp(err, "/nonexistent/vs.json: No such file or directory") == 0,
	      "missing file: rc=%d %s", rc, err);
	free(c);
	free(base);
	if (failures) {
		fprintf(stderr, "test_vs_config: %d failures\n", failures);
		return 1;
	}
	printf("test_vs_config: %zu bad configs refused with the right message, example accepted\n",
	       sizeof(bad) / sizeof(bad[0]));
	return 0;
}
