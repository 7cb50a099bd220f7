/*
 * vs_config.h - the eniflow-vswitch configuration as a plain struct.
 *
 * vs_config_load() reads the JSON file once, validates everything and fills
 * struct vs_config; the rest of the switch trusts the struct and never sees
 * JSON. Every error names the field by its JSON path, e.g.
 *   ports[2].eni.ipv4[0]: "10.0.0.300" is not an IPv4 address
 * Cross references (security group ids, port names in lcores) are resolved
 * to indexes here, so the fast path works on small integers only.
 */
#ifndef ENIFLOW_VS_CONFIG_H
#define ENIFLOW_VS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include "shm_layout.h"

#define VS_MAX_PORTS 64
#define VS_MAX_SGS 64
#define VS_MAX_SG_PER_ENI 5
#define VS_MAX_SG_RULES 128   /**< per security group and direction */
#define VS_MAX_ACLS 64
#define VS_MAX_ACL_RULES 128  /**< per network ACL and direction */
#define VS_MAX_LCORES 16
#define VS_MAX_LCORE_ID 127 /**< highest lcore id accepted */
#define VS_MAX_ADDRS 4
#define VS_NAME_LEN 32
#define VS_DEVARGS_LEN 256
#define VS_ERR_LEN 256

/** L4 protocol of a rule: VS_PROTO_ANY or an IP protocol number. */
#define VS_PROTO_ANY 256

enum vs_dir { VS_DIR_INGRESS = 0, VS_DIR_EGRESS = 1, VS_DIR_MAX };

/** An address prefix, v4 (family 4, first 4 bytes of addr) or v6. */
struct vs_cidr {
	uint8_t family;   /**< 4 or 6 */
	uint8_t len;      /**< prefix length */
	uint8_t addr[16]; /**< network byte order, host bits zero */
};

/** One rule of a security group (always allow) or a network ACL. */
struct vs_rule {
	uint32_t id;       /**< SG: the rule id; ACL: the rule number */
	uint16_t proto;    /**< IP protocol or VS_PROTO_ANY */
	uint16_t port_lo;  /**< destination port range (TCP/UDP); 0..65535 = any */
	uint16_t port_hi;
	bool allow;        /**< ACL: allow or deny; SG: always true */
	struct vs_cidr cidr; /**< remote side: source on ingress, destination on egress */
};

struct vs_rule_set {
	uint32_t n;
	struct vs_rule r[VS_MAX_SG_RULES];
};

struct vs_sg {
	char id[EFL_ID_LEN];
	struct vs_rule_set dir[VS_DIR_MAX];
};

struct vs_acl {
	char id[EFL_ID_LEN];
	struct vs_rule_set dir[VS_DIR_MAX]; /**< sorted by rule number */
};

/** The ENI behind a port. */
struct vs_eni {
	char id[EFL_ID_LEN];
	char account[EFL_ID_LEN];
	char vpc[EFL_ID_LEN];
	char subnet[EFL_ID_LEN];
	uint8_t mac[6];
	uint8_t n_ipv4, n_ipv6;
	uint8_t ipv4[VS_MAX_ADDRS][4];
	uint8_t ipv6[VS_MAX_ADDRS][16];
	uint8_t n_sgs;
	uint16_t sg[VS_MAX_SG_PER_ENI]; /**< indexes into vs_config.sgs */
	int16_t acl;      /**< network ACL of the subnet, -1 = none (allow all) */
	uint16_t vpc_idx; /**< small integer per distinct VPC id */
};

struct vs_port {
	char name[VS_NAME_LEN];
	char devargs[VS_DEVARGS_LEN]; /**< passed to EAL as --vdev */
	bool uplink;
	int32_t eni;      /**< index into vs_config.enis, -1 for the uplink */
	int16_t lcore;    /**< index into vs_config.lcores that polls it */
};

struct vs_lcore {
	uint32_t lcore_id;
	uint32_t n_ports;
	uint16_t port[VS_MAX_PORTS]; /**< indexes into vs_config.ports */
};

struct vs_config {
	uint32_t n_ports;
	struct vs_port ports[VS_MAX_PORTS];
	int32_t uplink;   /**< index of the uplink port */
	uint32_t n_enis;
	struct vs_eni enis[VS_MAX_PORTS];
	uint32_t eni_port[VS_MAX_PORTS]; /**< ENI index -> port index */
	uint32_t n_sgs;
	struct vs_sg sgs[VS_MAX_SGS];
	uint32_t n_acls;
	struct vs_acl acls[VS_MAX_ACLS];
	uint32_t n_lcores;
	struct vs_lcore lcores[VS_MAX_LCORES];
	uint32_t n_vpcs;
	uint32_t mbufs;          /**< mbuf pool size (default 16383) */
	uint32_t mbuf_data_room; /**< bytes of packet data per mbuf (default 2048) */
	uint32_t flows_per_worker; /**< plugin flow cache size; 0 = plugin default */
	uint32_t flow_ring_size;   /**< plugin export ring slots (power of 2); 0 = plugin default */
	uint32_t connections_per_worker; /**< SG connection table entries; 0 = 64K */
};

/**
 * Parse and validate a config from a JSON text. On error returns -EINVAL
 * and writes one line naming the field into err (VS_ERR_LEN bytes).
 * The struct is large: allocate it, don't put it on a small stack.
 */
int vs_config_parse(const char *text, struct vs_config *cfg, char *err);

/** Same, from a file; I/O errors name the file. */
int vs_config_load(const char *path, struct vs_config *cfg, char *err);

/** Parse "a.b.c.d" (strict) into 4 bytes; 0 or -EINVAL. */
int vs_parse_ipv4(const char *s, uint8_t out[4]);

#endif /* ENIFLOW_VS_CONFIG_H */
