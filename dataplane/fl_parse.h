/*
 * fl_parse.h - internal to the flow-log plugin: turn one frame into the
 * fields of a flow key. Used only by dataplane/ (the public header is
 * flowlog.h).
 *
 * Parsing is bounded by the frame's real data length: a header that claims
 * more than the data holds ends parsing at the last field that fits, and the
 * frame is still accounted (under whatever key fields were read).
 */
#ifndef ENIFLOW_FL_PARSE_H
#define ENIFLOW_FL_PARSE_H

#include <stdint.h>

/** Parse flags (struct fl_parsed.flags). */
#define FL_PARSED_FRAGMENT 0x01   /**< IP fragment (any: first or not) */
#define FL_PARSED_NONFIRST 0x02   /**< non-first fragment: ports zeroed */
#define FL_PARSED_TRUNCATED 0x04  /**< a header was cut short by the data length */

/** Key fields and per-packet facts of one frame. */
struct fl_parsed {
	uint8_t src[16];      /**< network order; IPv4 in bytes 0..3, rest zero */
	uint8_t dst[16];
	uint16_t sport;       /**< host order; ICMP type */
	uint16_t dport;       /**< host order; ICMP code */
	uint16_t ethertype;   /**< innermost ethertype after VLAN tags, host order */
	uint8_t ip_version;   /**< 0 (non-IP), 4, 6 */
	uint8_t proto;        /**< L4 protocol (after IPv6 extension headers) */
	uint8_t tcp_flags;
	uint8_t l2_class;     /**< enum rec_l2_class */
	uint8_t flags;        /**< FL_PARSED_* */
	uint8_t pad;
};

/**
 * Parse a frame. data/data_len is the contiguous first segment (what may be
 * read). Never reads outside [data, data + data_len). Always fills *out
 * (zeroing what it cannot read). Safe on any input.
 */
void fl_parse_frame(const uint8_t *data, uint32_t data_len, struct fl_parsed *out);

#endif /* ENIFLOW_FL_PARSE_H */
