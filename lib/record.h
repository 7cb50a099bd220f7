/*
 * record.h - the eniflow flow record, format v1.
 *
 * One fixed-size (96-byte), little-endian record per flow, loss report or
 * no-data window. The same bytes travel through the dataplane's export ring,
 * sit in segment blocks and come out of `lz4 -dc`. ENI identity (eni id,
 * VPC, subnet, account) is not repeated here: it lives in the segment's ENI
 * dictionary, keyed by rec_flow.eni.
 *
 * The layout is part of the on-disk and shared-memory contract: any change
 * needs a new REC_VERSION. Every field is documented in docs/record-format.md.
 * eniflow only builds for little-endian hosts (checked below), so the struct
 * is the wire format.
 */
#ifndef ENIFLOW_RECORD_H
#define ENIFLOW_RECORD_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "eniflow records are little-endian; big-endian hosts are not supported"
#endif

#define REC_VERSION 1
#define REC_SIZE 96

/** What a record reports. */
enum rec_kind {
	REC_KIND_FLOW = 0,   /**< counters of one flow key over [first_ns, last_ns] */
	REC_KIND_LOSS = 1,   /**< packets/bytes/records that could not be logged */
	REC_KIND_NODATA = 2, /**< flow log enabled, no traffic in the window */
	REC_KIND_MAX
};

/** Direction as seen by the ENI. */
enum rec_direction {
	REC_DIR_INGRESS = 0, /**< towards the ENI (the VM receives) */
	REC_DIR_EGRESS = 1,  /**< from the ENI (the VM sends) */
	REC_DIR_MAX
};

enum rec_verdict {
	REC_VERDICT_ACCEPT = 0,
	REC_VERDICT_REJECT = 1,
	REC_VERDICT_MAX
};

/** Which policy layer decided the verdict. */
enum rec_layer {
	REC_LAYER_NONE = 0, /**< no rule involved (e.g. flow logs of an open port) */
	REC_LAYER_SG = 1,   /**< security group (stateful) */
	REC_LAYER_ACL = 2,  /**< subnet network ACL (stateless) */
	REC_LAYER_MAX
};

/**
 * Why a flow record ended. For REC_KIND_LOSS records the same byte says
 * where the loss happened (REC_END_LOSS_*).
 */
enum rec_end_reason {
	REC_END_IDLE = 0,          /**< idle timeout */
	REC_END_ACTIVE = 1,        /**< active timeout (aggregation interval) */
	REC_END_TCP_CLOSE = 2,     /**< FIN in both directions, or RST */
	REC_END_CACHE_PRESSURE = 3,/**< evicted to make room in a full cache */
	REC_END_SHUTDOWN = 4,      /**< flushed at shutdown */
	REC_END_LOSS_RING = 16,    /**< loss: dataplane export ring was full */
	REC_END_LOSS_WRITER = 17,  /**< loss: segment writer failed (disk full, EIO) */
	REC_END_LOSS_RECOVERY = 18,/**< loss: torn tail dropped by crash recovery */
	REC_END_LOSS_EXPORTER = 19,/**< loss: an exporter's queue overflowed */
};

/** Layer-2 destination class of the frames in the flow. */
enum rec_l2_class {
	REC_L2_UNICAST = 0,
	REC_L2_BROADCAST = 1,
	REC_L2_MULTICAST = 2,
	REC_L2_MAX
};

/** TCP flag bits, as in the TCP header's flags byte. */
#define REC_TCP_FIN 0x01
#define REC_TCP_SYN 0x02
#define REC_TCP_RST 0x04
#define REC_TCP_PSH 0x08
#define REC_TCP_ACK 0x10
#define REC_TCP_URG 0x20
#define REC_TCP_ECE 0x40
#define REC_TCP_CWR 0x80

/**
 * The v1 record. 96 bytes, naturally aligned, no padding.
 *
 * Addresses are in network byte order. An IPv4 address fills bytes 0..3 of
 * its 16-byte field; bytes 4..15 are zero. Non-IP records (ip_version 0)
 * have zero addresses and carry the frame's ethertype.
 */
struct rec_flow {
	uint8_t version;     /**< REC_VERSION */
	uint8_t kind;        /**< enum rec_kind */
	uint8_t direction;   /**< enum rec_direction */
	uint8_t verdict;     /**< enum rec_verdict */
	uint8_t ip_version;  /**< 0 (non-IP), 4 or 6 */
	uint8_t protocol;    /**< IP protocol number; 0 for non-IP */
	uint8_t tcp_flags;   /**< OR of the TCP flags of every packet */
	uint8_t layer;       /**< enum rec_layer */
	uint8_t end_reason;  /**< enum rec_end_reason */
	uint8_t l2_class;    /**< enum rec_l2_class */
	uint16_t ethertype;  /**< innermost ethertype (0x0800, 0x86dd, 0x0806, ...) */
	uint16_t src_port;   /**< source port; ICMP/ICMPv6: type */
	uint16_t dst_port;   /**< destination port; ICMP/ICMPv6: code */
	uint32_t eni;        /**< ENI index (key of the segment's ENI dictionary) */
	uint32_t rule_id;    /**< id of the rule that decided; 0 if none */
	uint32_t sample_1_in_n; /**< sampling rate in force (1 = every packet) */
	union {
		uint32_t fragments;   /**< flow: packets that were IP fragments */
		uint32_t lost_records;/**< loss: records that could not be logged */
	};
	uint8_t src_addr[16];
	uint8_t dst_addr[16];
	uint64_t packets;    /**< flow: packets; loss: packets lost */
	uint64_t bytes;      /**< flow: L2 frame bytes; loss: bytes lost */
	uint64_t first_ns;   /**< first packet (loss/no-data: window start), ns since epoch */
	uint64_t last_ns;    /**< last packet (loss/no-data: window end), ns since epoch */
};

_Static_assert(sizeof(struct rec_flow) == REC_SIZE, "rec_flow must be 96 bytes");
_Static_assert(offsetof(struct rec_flow, src_addr) == 32, "rec_flow layout");
_Static_assert(offsetof(struct rec_flow, packets) == 64, "rec_flow layout");

/**
 * Make *r a loss record (kind LOSS, end_reason one of REC_END_LOSS_*): every
 * field zeroed but these. records is clamped to UINT32_MAX (the field's
 * width); packets and bytes are what the lost records held.
 */
void rec_loss_init(struct rec_flow *r, uint32_t eni, uint8_t end_reason, uint32_t sample_1_in_n,
		   uint64_t records, uint64_t packets, uint64_t bytes, uint64_t first_ns,
		   uint64_t last_ns);

/**
 * Check that a record is well formed: version, enum ranges, time order.
 * Returns 0, or -EINVAL with a message naming the field in msg.
 */
int rec_validate(const struct rec_flow *r, char *msg, size_t msglen);

/** Name of a protocol number ("tcp", "udp", ...) or NULL if unnamed. */
const char *rec_proto_name(uint8_t proto);
const char *rec_kind_name(uint8_t kind);
const char *rec_direction_name(uint8_t dir);
const char *rec_verdict_name(uint8_t verdict);
const char *rec_layer_name(uint8_t layer);
const char *rec_end_reason_name(uint8_t reason);
const char *rec_l2_class_name(uint8_t l2);

/**
 * Format the source or destination address of r into buf (INET6_ADDRSTRLEN
 * is enough). Non-IP records give "-". Returns buf.
 */
const char *rec_addr_str(const struct rec_flow *r, bool src, char *buf, size_t len);

#endif /* ENIFLOW_RECORD_H */
