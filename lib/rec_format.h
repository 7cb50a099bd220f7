/*
 * rec_format.h - text renderings of flow records: JSON Lines, CSV and AWS
 * VPC flow-log default text.
 *
 * One module so that the CLI, eniflowd's REST API and the query engine print
 * the same field names and the same values. Field names follow AWS VPC flow
 * logs where AWS has the field (srcaddr, log-status, flow-direction, ...);
 * eniflow's extra fields come after them. A field a record does not have is
 * "-" in AWS text, null in JSON and an empty cell in CSV, as AWS does for
 * NODATA/SKIPDATA lines. The mapping is specified in docs/record-format.md.
 *
 * Formatting writes into a caller buffer (no allocation, no stdio), so it
 * can run in any thread and feed any sink.
 */
#ifndef ENIFLOW_REC_FORMAT_H
#define ENIFLOW_REC_FORMAT_H

#include <stddef.h>
#include "record.h"
#include "segment.h"

/** Output formats. */
enum rec_fmt {
	REC_FMT_JSON = 0, /**< one JSON object per line (JSON Lines) */
	REC_FMT_CSV = 1,  /**< RFC 4180 CSV with a header row, same columns as JSON */
	REC_FMT_AWS = 2,  /**< AWS default flow-log text: 14 space-separated fields */
	REC_FMT_ECS = 3,  /**< Elastic Common Schema JSON Lines (rec_format_ecs.c) */
	REC_FMT_MAX
};

/**
 * A buffer of this size always holds one formatted line, whatever the
 * record and dictionary strings (worst case: every ENI string escaped).
 */
#define REC_FMT_LINE_MAX 4096

/** AWS flow-log "version" written in AWS text (the default field set is v2). */
#define REC_FMT_AWS_VERSION 2
/** AWS flow-log "version" written in JSON/CSV (they carry v5 fields). */
#define REC_FMT_JSON_VERSION 5

/**
 * Parse a format name ("json", "csv", "aws"). Returns 0 and sets *out, or
 * -EINVAL for an unknown name.
 */
int rec_fmt_parse(const char *name, enum rec_fmt *out);

/** Name of a format ("json", ...), or NULL if out of range. */
const char *rec_fmt_name(enum rec_fmt f);

/**
 * The header line of a format, newline included: the CSV column names or the
 * AWS field names. JSON has none and gets "". Static storage; never NULL for
 * a valid f (NULL otherwise).
 */
const char *rec_fmt_header(enum rec_fmt f);

/**
 * Format record r as one line of format f, newline included, NUL-terminated.
 * eni is r's ENI dictionary entry, or NULL if the dictionary has none (the
 * identity fields are then missing). Values outside an enum's range print as
 * their number rather than failing, so a reader can show any record it has.
 * Returns the line length (without the NUL), or -ENOSPC if it does not fit
 * in len bytes (never with len >= REC_FMT_LINE_MAX), or -EINVAL for a bad f.
 */
int rec_format(enum rec_fmt f, const struct rec_flow *r,
	       const struct seg_eni_info *eni, char *buf, size_t len);

/**
 * Format r as one Elastic Common Schema JSON line (what rec_format() does
 * for REC_FMT_ECS), with observer.hostname set to observer if not NULL
 * (the segment's host id). Same returns as rec_format().
 */
int rec_format_ecs(const struct rec_flow *r, const struct seg_eni_info *eni,
		   const char *observer, char *buf, size_t len);

#endif /* ENIFLOW_REC_FORMAT_H */
