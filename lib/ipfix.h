/*
 * ipfix.h - IPFIX (RFC 7011) export of eniflow records.
 *
 * Two layers, one header:
 *  - the encoder (ipfix_encode.c) turns records into IPFIX messages in a
 *    caller's buffer: templates, data sets, options data. Pure: no I/O, no
 *    clock, so unit tests check it byte for byte;
 *  - the exporter (ipfix_export.c) owns a bounded record queue and a UDP or
 *    TCP socket. It never blocks its caller: enqueue copies what fits and
 *    counts the rest as dropped; poll sends what the socket takes now.
 *    eniflowd calls enqueue from its ring-drain loop and poll when the fd is
 *    writable or a timer fires; the CLI wraps both in ipfix_exporter_flush().
 *
 * Every template, information element and enterprise element is specified
 * in docs/ipfix.md. The enterprise number defaults to 32473, the number IANA
 * reserves for documentation (RFC 5612): it is nobody's, and an operator
 * with a registered PEN sets its own.
 *
 * Errors: int functions return 0 or -errno; constructors return NULL and set
 * errno (with a message in the caller's buffer when one is given).
 * Threads: an encoder or exporter belongs to one thread at a time (no locks);
 * eniflowd runs one exporter per collector in its drain thread.
 */
#ifndef ENIFLOW_IPFIX_H
#define ENIFLOW_IPFIX_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include "record.h"
#include "segment.h"

#define IPFIX_VERSION 10
#define IPFIX_HDR_LEN 16
#define IPFIX_SET_HDR_LEN 4
/** Default enterprise number: RFC 5612's documentation PEN (not registered to us). */
#define IPFIX_DEFAULT_PEN 32473u
/** Default UDP payload bound: fits a 1500-byte MTU with IPv6 and tunnel headroom. */
#define IPFIX_DEFAULT_MTU 1400u
/** Smallest message size accepted: the largest template or record must fit. */
#define IPFIX_MIN_MTU 640u
#define IPFIX_MAX_MSG 65535u

/** Template ids (data sets carry these as set ids). */
enum ipfix_template_id {
	IPFIX_TPL_FLOW4 = 256, /**< IPv4 flows */
	IPFIX_TPL_FLOW6 = 257, /**< IPv6 flows */
	IPFIX_TPL_L2 = 258,    /**< non-IP frames (ARP, other ethertypes) */
	IPFIX_TPL_LOSS = 259,  /**< options: loss reported by the dataplane/writer, per ENI */
	IPFIX_TPL_STATS = 260, /**< options: exporter reliability statistics (RFC 7011 §4.3) */
};

/** Enterprise-specific information element ids (under the configured PEN). */
enum ipfix_ent_ie {
	IPFIX_ENT_ENI_ID = 1,      /**< string: "eni-..." */
	IPFIX_ENT_VPC_ID = 2,      /**< string */
	IPFIX_ENT_SUBNET_ID = 3,   /**< string */
	IPFIX_ENT_ACCOUNT_ID = 4,  /**< string */
	IPFIX_ENT_LAYER = 5,       /**< unsigned8: enum rec_layer */
	IPFIX_ENT_RULE_ID = 6,     /**< unsigned32 */
	IPFIX_ENT_L2_CLASS = 7,    /**< unsigned8: enum rec_l2_class */
	IPFIX_ENT_SAMPLE_N = 8,    /**< unsigned32: 1-in-N sampling in force */
	IPFIX_ENT_LOST_RECORDS = 9,/**< unsigned32 */
	IPFIX_ENT_LOST_PACKETS = 10,/**< unsigned64 */
	IPFIX_ENT_LOST_BYTES = 11, /**< unsigned64 */
	IPFIX_ENT_LOSS_SITE = 12,  /**< unsigned8: enum rec_end_reason (REC_END_LOSS_*) */
	IPFIX_ENT_ENI_INDEX = 13,  /**< unsigned32: ENI index within the host */
};

/* --------------------------------------------------------------- encoder */

struct ipfix_enc;

struct ipfix_enc_opts {
	uint32_t domain_id;  /**< observation domain id in every message header */
	uint32_t pen;        /**< enterprise number; 0 = IPFIX_DEFAULT_PEN */
	uint32_t max_msg;    /**< bound on one message's length; 0 = IPFIX_DEFAULT_MTU */
	bool nanoseconds;    /**< also carry flowStart/EndNanoseconds (156/157) */
};

/** Exporter loss, sent as an options record of template IPFIX_TPL_STATS. */
struct ipfix_loss_counts {
	uint64_t records;  /**< notSentFlowTotalCount */
	uint64_t packets;  /**< notSentPacketTotalCount */
	uint64_t bytes;    /**< notSentOctetTotalCount */
};

/**
 * Create an encoder. NULL with errno EINVAL if max_msg is outside
 * [IPFIX_MIN_MTU, IPFIX_MAX_MSG], or ENOMEM.
 */
struct ipfix_enc *ipfix_enc_create(const struct ipfix_enc_opts *o);
/** Free. NULL is a no-op. */
void ipfix_enc_destroy(struct ipfix_enc *e);

/**
 * Give the encoder the ENI dictionary (copied) so records carry ENI, VPC,
 * subnet and account ids. Records whose ENI is not in it get empty strings.
 * Returns 0 or -ENOMEM.
 */
int ipfix_enc_set_enis(struct ipfix_enc *e, const struct seg_eni_info *enis, uint32_t n);

/**
 * Write one message holding the template set (flow templates) and the
 * options template set into buf, then, if loss is not NULL, a data set with
 * one reliability-statistics record (template IPFIX_TPL_STATS). Templates
 * do not advance the sequence number; the statistics record does.
 * Returns the message length, or -ENOSPC if cap or max_msg is too small.
 */
long ipfix_enc_templates(struct ipfix_enc *e, uint32_t export_s,
			 const struct ipfix_loss_counts *loss, uint8_t *buf, size_t cap);

/** What one ipfix_enc_data() call consumed and wrote. */
struct ipfix_enc_result {
	size_t used;      /**< records consumed from the front of recs */
	size_t records;   /**< data records encoded (flows and loss reports) */
	size_t nodata;    /**< REC_KIND_NODATA records consumed, not encoded */
	uint64_t packets; /**< sum of packets over the flow records encoded */
	uint64_t bytes;   /**< sum of bytes over the flow records encoded */
};

/**
 * Write one message of data records taken from the front of recs[0..n):
 * as many as fit in min(cap, max_msg), in data sets grouped by template.
 * REC_KIND_NODATA records are consumed but not encoded (they carry no
 * traffic). The sequence number advances by the records encoded.
 * Returns the message length (res filled), 0 if every consumed record was
 * skipped (nothing to send), or -ENOSPC if not even one record fits in cap.
 */
long ipfix_enc_data(struct ipfix_enc *e, const struct rec_flow *recs, size_t n,
		    uint32_t export_s, uint8_t *buf, size_t cap,
		    struct ipfix_enc_result *res);

/**
 * Write one message holding an exporter reliability statistics options
 * record (scope: observation domain). It counts as a data record for the
 * sequence number. Returns the length or -ENOSPC.
 */
long ipfix_enc_stats(struct ipfix_enc *e, uint32_t export_s,
		     const struct ipfix_loss_counts *c, uint8_t *buf, size_t cap);

/** Sequence number the next message will carry. */
uint32_t ipfix_enc_seq(const struct ipfix_enc *e);
/** The message bound in force. */
uint32_t ipfix_enc_max_msg(const struct ipfix_enc *e);

/* -------------------------------------------------------------- exporter */

struct ipfix_exporter;

struct ipfix_exporter_opts {
	const char *host;          /**< collector name or address */
	const char *port;          /**< service or port number; NULL = "4739" */
	bool tcp;                  /**< TCP instead of UDP */
	uint32_t domain_id;
	uint32_t pen;              /**< 0 = IPFIX_DEFAULT_PEN */
	uint32_t mtu;              /**< max message bytes; 0 = 1400 (UDP) or 65535 (TCP) */
	bool nanoseconds;          /**< add flowStart/EndNanoseconds */
	uint32_t queue_records;    /**< queue capacity, rounded up to 2^k; 0 = 65536 */
	uint32_t refresh_s;        /**< UDP: resend templates every N s; 0 = 60 */
	uint32_t refresh_msgs;     /**< UDP: ... and every N messages; 0 = 1000 */
	uint32_t rate_msgs;        /**< UDP: at most N messages/s; 0 = unlimited */
	uint32_t backoff_min_ms;   /**< TCP reconnect back-off start; 0 = 100 */
	uint32_t backoff_max_ms;   /**< ... doubling up to this; 0 = 30000 */
	/**
	 * Optional: called with every record the exporter gives up on (queue
	 * full, or in a message the socket refused or a connection cut), from
	 * inside enqueue or poll, in the caller's thread; recs is valid only
	 * during the call and may include NODATA records (not loss). eniflowd
	 * turns these into per-ENI loss records (REC_END_LOSS_EXPORTER). The
	 * callback must not call the exporter.
	 */
	void (*on_drop)(void *arg, const struct rec_flow *recs, size_t n);
	void *on_drop_arg;
};

/** Counters. Every record enqueued ends in exactly one of sent/dropped/nodata/queued. */
struct ipfix_exporter_stats {
	uint64_t offered;          /**< records passed to enqueue */
	uint64_t sent;             /**< records in messages the kernel accepted */
	uint64_t nodata_skipped;   /**< NODATA records, not exported by design */
	uint64_t dropped_queue;    /**< loss: queue full */
	uint64_t dropped_send;     /**< loss: message refused or cut by the socket */
	uint64_t dropped_packets;  /**< loss: packets in the dropped flow records */
	uint64_t dropped_bytes;    /**< loss: bytes in the dropped flow records */
	uint64_t queued;           /**< records waiting now */
	uint64_t messages;         /**< messages sent (data, templates, stats) */
	uint64_t octets;           /**< message bytes sent */
	uint64_t template_msgs;    /**< template messages sent */
	uint64_t connects;         /**< TCP connections established */
	uint64_t connect_failures; /**< TCP connection attempts that failed */
	uint64_t send_errors;      /**< send() errors other than EAGAIN */
	int last_errno;            /**< last socket error, 0 if none */
	bool connected;            /**< UDP: always; TCP: connection up */
};

/**
 * Create an exporter: resolve the collector, open the socket (TCP connects
 * in the background). Returns NULL with errno set and a message in msg.
 */
struct ipfix_exporter *ipfix_exporter_create(const struct ipfix_exporter_opts *o,
					     char *msg, size_t msglen);
/** Close the socket and free; queued records are counted as dropped. NULL: no-op. */
void ipfix_exporter_destroy(struct ipfix_exporter *x);

/** Set the ENI dictionary (copied). 0 or -ENOMEM. */
int ipfix_exporter_set_enis(struct ipfix_exporter *x, const struct seg_eni_info *enis,
			    uint32_t n);

/**
 * Copy up to n records into the queue. Never blocks, never does I/O.
 * Records that do not fit are dropped and counted (dropped_queue).
 * Returns the number accepted.
 */
size_t ipfix_exporter_enqueue(struct ipfix_exporter *x, const struct rec_flow *recs,
			      size_t n);

/**
 * Do the I/O that can be done now without blocking: finish a TCP connect,
 * reconnect when the back-off expired, send templates when due, encode and
 * send queued records until the socket would block, at most 128 messages
 * per call (so a long queue never holds the caller's loop for long; call
 * again when ipfix_exporter_fd() gives a 0 timeout). Returns 0, or -errno
 * of the last socket error (informational: the exporter keeps going).
 */
int ipfix_exporter_poll(struct ipfix_exporter *x);

/**
 * Socket to watch and events wanted (POLLOUT while a message waits), and
 * the milliseconds until poll has timed work (-1: none), for an event loop.
 */
int ipfix_exporter_fd(const struct ipfix_exporter *x, short *events, int *timeout_ms);

/**
 * Poll until the queue is empty and the last message went out, or
 * timeout_ms passed. Blocks: for the CLI and shutdown, not the drain loop.
 * Returns 0 or -ETIMEDOUT.
 */
int ipfix_exporter_flush(struct ipfix_exporter *x, int timeout_ms);

/** Free room in the queue, in records. */
size_t ipfix_exporter_room(const struct ipfix_exporter *x);

void ipfix_exporter_get_stats(const struct ipfix_exporter *x, struct ipfix_exporter_stats *s);

#endif /* ENIFLOW_IPFIX_H */
