/*
 * efd_internal.h - eniflowd's modules and the one context they share.
 *
 * eniflowd has two kinds of threads: the main thread (attach, drain, seal,
 * publish config: the only one that touches DPDK shared memory for writing)
 * and libmicrohttpd's threads (one per connection). They meet in struct efd,
 * whose mutable parts are guarded by efd.lock; HTTP handlers hold it only
 * to copy state out, never across I/O.
 */
#ifndef ENIFLOWD_EFD_INTERNAL_H
#define ENIFLOWD_EFD_INTERNAL_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <jansson.h>
#include "record.h"
#include "segment.h"
#include "shm_layout.h"

#define EFD_PATH_MAX 4096
#define EFD_MAX_FLOWLOGS 4096
#define EFD_FL_ID_LEN 24
#define EFD_SEG_NAME_MAX 40

/** A user-visible failure: a message and the JSON field / config key it concerns. */
struct efd_err {
	char msg[256];
	char field[64]; /**< "" when no single field is to blame */
	int status;     /**< HTTP status for API errors */
};

void efd_err_set(struct efd_err *e, int status, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/** Put pre in front of e->msg (truncating). */
void efd_err_prefix(struct efd_err *e, const char *pre);

/* ------------------------------------------------------------ config */

/** The config file, validated (efd_config.c). Everything downstream trusts it. */
struct efd_config {
	char data_dir[EFD_PATH_MAX];
	char listen[EFD_PATH_MAX];   /**< "HOST:PORT" or "unix:/path" */
	char token_file[EFD_PATH_MAX];
	char token[256];             /**< read from token_file */
	char instance[EFL_INSTANCE_MAX + 1];
	char file_prefix[64];        /**< DPDK --file-prefix of the switch */
	unsigned eal_lcore;          /**< our lcore for the secondary EAL */
	uint32_t eal_init_timeout_s; /**< watchdog on rte_eal_init (a primary dying mid-init) */
	uint64_t rotate_bytes;
	uint32_t rotate_age_s;
	uint64_t retain_age_s;       /**< 0 = keep forever (by age) */
	uint64_t retain_bytes;       /**< 0 = no byte limit */
	uint32_t flush_ms;           /**< write a partial block after this long */
	uint32_t block_records;
	uint32_t max_connections;
	uint32_t max_per_ip;
	uint32_t conn_timeout_s;
	uint32_t body_max;           /**< request body cap, bytes */
	uint32_t stream_buffer;      /**< live-tail buffer per client, bytes */
	bool no_fsync;               /**< tests only */
	/* /v1/query and /v1/detections bounds (a request may lower, never raise them) */
	uint64_t query_max_records;  /**< records scanned per query */
	uint64_t query_max_groups;   /**< groups held per query */
	uint64_t query_max_distinct; /**< (group, value) pairs for distinct counts */
	uint32_t query_timeout_ms;   /**< deadline per query */
	uint32_t query_max_list;     /**< records listed by a query without aggregation */
	uint32_t query_concurrency;  /**< queries running at once; more get 503 */
	char threat_lists[EFD_PATH_MAX]; /**< "lists" of the threats detection (server files) */
	char geo_mmdb[EFD_PATH_MAX];     /**< "mmdb" of the geo detection */
};

void efd_config_defaults(struct efd_config *c);
/** Load and validate a JSON config file. 0, or -EINVAL/-errno with err naming the field. */
int efd_config_load(const char *path, struct efd_config *c, struct efd_err *err);
/** Same from a JSON text (used by the file loader and tests). */
int efd_config_parse(const char *text, size_t len, struct efd_config *c, struct efd_err *err);

/* ---------------------------------------------------------- flow logs */

/* ------------------------------------------------------- destinations */

#define EFD_MAX_DESTS 4   /**< destinations per flow log */
#define EFD_MAX_SINKS 64  /**< live destinations in the daemon */

enum efd_dest_type { EFD_DEST_IPFIX = 1, EFD_DEST_JSONL = 2 };

/** One live destination of a flow log (efd_dest.c validates it). */
struct efd_dest_cfg {
	uint8_t type;           /**< enum efd_dest_type */
	bool tcp;               /**< ipfix: TCP instead of UDP */
	uint8_t format;         /**< jsonl: REC_FMT_JSON or REC_FMT_ECS */
	uint16_t port;          /**< ipfix */
	char host[64];          /**< ipfix: numeric IPv4/IPv6 address */
	uint64_t rotate_bytes;  /**< jsonl: seal the file at this size */
	uint32_t rotate_age_s;  /**< jsonl: ... or at this age */
};

/** One flow log as created through the API. */
struct efd_flowlog {
	char id[EFD_FL_ID_LEN];        /**< "fl-" + 16 hex */
	char resource[EFL_ID_LEN];     /**< eni-…, subnet-… or vpc-… */
	uint8_t traffic_type;          /**< enum efl_traffic_type */
	uint16_t agg_interval_s;
	uint32_t sample_1_in_n;
	uint64_t created_ns;
	uint32_t n_dest;
	struct efd_dest_cfg dest[EFD_MAX_DESTS];
};

/** The set of flow logs, persisted to DATA_DIR/flowlogs.json. Not locked: callers hold efd.lock. */
struct efd_flowlogs {
	struct efd_flowlog fl[EFD_MAX_FLOWLOGS];
	uint32_t n;
	char path[EFD_PATH_MAX];
};

/** ENI identity table as last read from the switch. */
struct efd_enis {
	uint32_t n;
	struct efl_shm_eni eni[EFL_MAX_ENIS];
};

const char *efd_traffic_name(uint8_t t);
/**
 * Validate a JSON body into fl. patch: only the fields present change
 * (resource cannot). enis (may be NULL when the switch was never seen)
 * resolves eni-… resources. 0 or -EINVAL with err (status, field).
 */
int efd_fl_from_json(const json_t *body, bool patch, const struct efd_enis *enis,
		     struct efd_flowlog *fl, struct efd_err *err);
json_t *efd_fl_to_json(const struct efd_flowlog *fl);
/** Load DATA_DIR/flowlogs.json (absent file = empty set). 0 or -errno, err names the problem. */
int efd_fls_load(struct efd_flowlogs *s, const char *data_dir, struct efd_err *err);
/** Write the set atomically (temp file, fsync, rename, fsync dir). 0 or -errno. */
int efd_fls_save(const struct efd_flowlogs *s);
/** Same for n flow logs fl to path: the file holds the old or the new set, never a mix. */
int efd_fls_write(const char *path, const struct efd_flowlog *fl, uint32_t n);

struct efd_commit_waiter;
/**
 * Group commit of the flow-log set (efd_commit.c): concurrent changes share
 * one write. Guarded by the same lock as the set.
 */
struct efd_fls_commit {
	pthread_cond_t cv;               /**< signalled when a write ends */
	pthread_cond_t changed;          /**< signalled on every change: the drain publishes */
	bool cv_ok;
	bool busy;                       /**< a leader is writing (lock released) */
	uint64_t seq;                    /**< changes made so far */
	struct efd_commit_waiter *head, *tail; /**< changes not yet durable */
	struct efd_flowlog *durable;     /**< [EFD_MAX_FLOWLOGS]: the set the file holds */
	uint32_t durable_n;
	struct efd_flowlog *snap;        /**< [EFD_MAX_FLOWLOGS]: the leader's copy */
	uint64_t writes;                 /**< files written (one per group) */
	uint64_t write_errors;           /**< failed writes (each rolled the set back) */
	uint64_t changes_durable;        /**< changes answered as saved */
	uint64_t changes_failed;         /**< changes rolled back */
};

/** s is the set the file holds (as loaded). 0 or -ENOMEM. */
int efd_commit_init(struct efd_fls_commit *c, const struct efd_flowlogs *s);
/** Free the buffers. NULL: no-op. */
void efd_commit_fini(struct efd_fls_commit *c);
/**
 * The caller holds lock (which guards s and c) and has just changed s. Wait,
 * releasing lock, until a write holds the change (s may change meanwhile:
 * pointers into s->fl are stale afterwards). 0: durable. -errno: the write
 * failed and s was rolled back to the file's set, dropping this change and
 * every other change not yet durable. Returns with lock held.
 */
int efd_commit_wait(struct efd_fls_commit *c, struct efd_flowlogs *s, pthread_mutex_t *lock);
/** Add fl (gets a fresh id). -EEXIST if the resource already has one (err filled). */
int efd_fls_add(struct efd_flowlogs *s, struct efd_flowlog *fl, struct efd_err *err);
struct efd_flowlog *efd_fls_find(struct efd_flowlogs *s, const char *id);
int efd_fls_remove(struct efd_flowlogs *s, const char *id);
/**
 * The config the dataplane should apply to ENI e: the most specific flow log
 * (ENI over subnet over VPC) wins. Returns that flow log or NULL (disabled);
 * fills cfg either way.
 */
const struct efd_flowlog *efd_fls_effective(const struct efd_flowlogs *s,
					    const struct efl_shm_eni *e, struct efl_eni_cfg *cfg);

/** Validate the "destinations" array into fl (replacing fl's). 0 or -EINVAL, err names destinations[i].field. */
int efd_dests_from_json(const json_t *v, struct efd_flowlog *fl, struct efd_err *err);
/** fl's destinations as a JSON array (new reference). */
json_t *efd_dests_to_json(const struct efd_flowlog *fl);

struct efd;
struct efd_dests;
/** Live destinations, owned by the main (drain) thread. NULL+errno. */
struct efd_dests *efd_dests_create(struct efd *d);
/** Flush (bounded), close every destination, seal JSON Lines files. NULL: no-op. */
void efd_dests_destroy(struct efd_dests *x);
/** Caller holds d->lock: open/close destinations to match the flow logs, map ENIs to them. */
void efd_dests_sync(struct efd_dests *x, const struct seg_eni_info *dict, uint32_t n_enis);
/** Copy the FLOW records among recs to the destinations of their ENI. Never blocks on a collector. */
void efd_dests_deliver(struct efd_dests *x, const struct rec_flow *recs, size_t n);
/** Non-blocking I/O and time-based JSON Lines rotation. */
void efd_dests_poll(struct efd_dests *x, uint64_t now_ns);
/** Give the exporters up to timeout_ms to send what they hold (shutdown). */
void efd_dests_flush(struct efd_dests *x, int timeout_ms);
/** Close every destination (detach: JSON Lines sealed); the next sync reopens them. */
void efd_dests_close_all(struct efd_dests *x);
/** True when destination loss waits to be written as REC_END_LOSS_EXPORTER records. */
bool efd_dests_loss_pending(const struct efd_dests *x);
/** Append pending per-ENI exporter-loss records to out (at most room). Returns how many. */
uint32_t efd_dests_add_loss(struct efd_dests *x, struct rec_flow *out, uint32_t room);
/** Those loss records are now in a written block: no longer pending. */
void efd_dests_loss_written(struct efd_dests *x, const struct rec_flow *recs, size_t n);
/** Per-destination counters for /v1/stats (new reference). */
json_t *efd_dests_stats_json(struct efd_dests *x);
/** Per-destination Prometheus lines (malloc'd text, caller frees; NULL on ENOMEM). */
char *efd_dests_metrics(struct efd_dests *x);

/* -------------------------------------------------------------- store */

/** One sealed segment in the catalog. */
struct efd_segment {
	char name[EFD_SEG_NAME_MAX];
	char path[EFD_PATH_MAX];
	uint64_t size;
	uint64_t records;
	uint64_t min_ns, max_ns;
	uint64_t created_ns;
	uint32_t n_enis;
	char (*eni_ids)[SEG_ID_LEN]; /**< ENIs present in the segment's blocks */
};

struct efd_store;
struct efd;

/** Open the store: recover partial files, build the catalog, pick the next seq. NULL+errno. */
struct efd_store *efd_store_open(struct efd *d);
void efd_store_close(struct efd_store *s);
/**
 * Append n (<= block_records) records as one whole LZ4 block frame. On
 * -errno the open segment failed: its partial file is cut back to its whole
 * blocks and pending (efd_store_recover_pending); while one is pending,
 * writing returns -EAGAIN.
 */
int efd_store_write(struct efd_store *s, const struct rec_flow *recs, size_t n,
		    const struct seg_header_info *dict);
/**
 * Open a segment if none is open; give the path it will have once sealed
 * and the file offset the next block frame will start at. 0 or -errno.
 */
int efd_store_position(struct efd_store *s, const struct seg_header_info *dict, char *path,
			size_t len, uint64_t *offset);
/** Seal the open segment if any. 0, or -errno: it is pending, as after a failed write. */
int efd_store_seal(struct efd_store *s);
/** True while a failed segment waits to be sealed with the blocks it holds. */
bool efd_store_pending(const struct efd_store *s);
/**
 * Seal the pending failed segment with its whole blocks. 0: settled, path is
 * the sealed file ("" if nothing could be kept); -errno: still pending
 * (e.g. no space for the index), the partial stays for a later try or the
 * recovery at start.
 */
int efd_store_recover_pending(struct efd_store *s, char *path, size_t len);
/** True when the open segment is due for rotation (size or age). */
bool efd_store_rotate_due(const struct efd_store *s, uint64_t now);
/** Periodic: retention by age and bytes. */
void efd_store_tick(struct efd_store *s, uint64_t now_ns);
/** JSON list of sealed segments overlapping [since, until] (0 = open). New reference. */
json_t *efd_store_list(struct efd_store *s, uint64_t since_ns, uint64_t until_ns);
/**
 * Paths of the sealed segments that may hold records of [since, until)
 * (0 = open), copied out under the catalog lock (for queries). NULL+ENOMEM.
 */
char **efd_store_paths(struct efd_store *s, uint64_t since_ns, uint64_t until_ns, size_t *n);
void efd_store_paths_free(char **v, size_t n);
/** Path and size of a sealed segment by strict name. -EINVAL bad name, -ENOENT unknown. */
int efd_store_lookup(struct efd_store *s, const char *name, char *path, size_t len, uint64_t *size);
int efd_store_delete(struct efd_store *s, const char *name);
bool efd_seg_name_valid(const char *name);

/* ------------------------------------------------------------- ledger */

/** Per ENI (index in the segment's dictionary): records as loss counts them. */
struct efd_ledger_item {
	uint32_t eni;
	uint32_t reserved;
	uint64_t records, packets, bytes, first_ns, last_ns;
};

/** What the blocks a recovery did not keep held (efd_ledger_lost). */
struct efd_ledger_loss {
	uint64_t blocks, blocks_lost;        /**< blocks in the ledger; not kept */
	struct efd_ledger_item total;        /**< over all ENIs */
	struct efd_ledger_item eni[EFL_MAX_ENIS];
};

/**
 * Does r count toward a segment's loss if it is lost, and as how many
 * records (a writer or recovery LOSS record counts its lost_records)?
 * NODATA and exporter-loss records do not count (nothing of the traffic).
 */
bool efd_rec_loss_weight(const struct rec_flow *r, uint64_t *records);
/** Add x to the running sum to (records, packets, bytes; first/last widened). */
void efd_ledger_item_add(struct efd_ledger_item *to, const struct efd_ledger_item *x);
/** DIR/.NAME.ledger */
void efd_ledger_path(const char *dir, const char *name, char *buf, size_t len);
/** The block at frame_offset of DIR/.NAME.partial holds r[0..n): append its tally. 0/-errno (logged). */
int efd_ledger_append(const char *dir, const char *name, uint64_t frame_offset,
		      const struct rec_flow *r, uint32_t n);
/**
 * Sum what the ledger's blocks held whose frame offsets are not among
 * kept_offsets (the blocks the recovered segment holds). 0, or -errno when
 * there is no readable ledger.
 */
int efd_ledger_lost(const char *dir, const char *name, const uint64_t *kept_offsets,
		    size_t n_kept, struct efd_ledger_loss *out);
void efd_ledger_remove(const char *dir, const char *name);

/* ------------------------------------------------------------- stream */

struct efd_tail;
/** Register a live-tail client for ENI index eni (UINT32_MAX = all). */
struct efd_tail *efd_tail_open(struct efd *d, uint32_t eni);
void efd_tail_close(struct efd *d, struct efd_tail *t);
/**
 * Copy up to max bytes of buffered NDJSON into buf, waiting up to ~1 s.
 * -1 when cut off (the client fell behind), EFD_TAIL_END once the stream
 * was ended by efd_tail_end_all() and everything before it was read.
 */
long efd_tail_read(struct efd_tail *t, char *buf, size_t max);
#define EFD_TAIL_END (-2L)
/** End every live tail after what it holds: a re-exec is coming, and its
 * clients get a complete response to reconnect from. */
void efd_tail_end_all(struct efd *d);
/** Called by the drain: give records to every subscribed client. */
void efd_tail_publish(struct efd *d, const struct rec_flow *recs, size_t n);

/* ------------------------------------------------------------ counters */

/** The writer's own counters (X-macro so name, help and field agree). */
#define EFD_WRITER_COUNTERS(X) \
	X(records_drained, "records taken from the export rings") \
	X(records_written, "records written to segment files in whole blocks") \
	X(blocks_written, "LZ4 block frames written") \
	X(segments_sealed, "segments sealed") \
	X(segment_seal_errors, "segments whose seal failed (left for recovery)") \
	X(write_errors, "failed writes (ENOSPC, EIO, ...)") \
	X(records_lost_writer, "records lost because the writer failed") \
	X(packets_lost_writer, "packets in records lost by the writer") \
	X(bytes_lost_writer, "bytes in records lost by the writer") \
	X(records_lost_recovery, "records in blocks a crash recovery cut off (torn tail)") \
	X(packets_lost_recovery, "packets in records lost to a torn tail") \
	X(bytes_lost_recovery, "bytes in records lost to a torn tail") \
	X(loss_records_written, "REC_END_LOSS_WRITER records written") \
	X(nodata_records, "no-data records added") \
	X(recovered_files, "partial files recovered") \
	X(segments_deleted, "segments removed by API or retention") \
	X(attaches, "times the daemon attached to a switch") \
	X(tail_clients_cut, "live-tail clients cut off for being slow") \
	X(http_requests_cut, "HTTP requests cut off for not arriving within conn_timeout_s")

struct efd_counters {
#define EFD_X(name, help) uint64_t name;
	EFD_WRITER_COUNTERS(EFD_X)
#undef EFD_X
};

/* --------------------------------------------------------------- attach */

/** What the attach module mapped; all NULL while detached. */
struct efd_shm {
	struct efl_shm_header *hdr;
	struct efl_shm_eni *enis;
	struct efl_shm_cfg *cfg;
	struct efl_shm_stats *stats;
	struct rte_ring *rings[EFL_MAX_LCORES];
	uint32_t n_rings;
};

/** Whether the DPDK primary looks alive (runtime config file locked by a process). */
bool efd_primary_present(const struct efd_config *c);
/** rte_eal_init as secondary (once per process). 0 or -errno (logged). */
int efd_attach_eal(struct efd *d);
/** After efd_attach_eal: map memzones and rings (retrying 30 s). 0 or -errno (logged). */
int efd_attach(struct efd *d);
/** True while the primary is alive and its heartbeat fresh. */
bool efd_primary_alive(struct efd *d);

/* ---------------------------------------------------------------- drain */

struct efd_drain;
struct efd_drain *efd_drain_create(struct efd *d);
void efd_drain_destroy(struct efd_drain *dr);
/** One pass over every ring; returns records drained. */
unsigned efd_drain_poll(struct efd_drain *dr, uint64_t now_ns, bool force_flush);
/** Seal the open segment; if that fails, keep its whole blocks and account the rest as loss. */
void efd_drain_seal(struct efd_drain *dr);
/**
 * After attach: if the previous eniflowd died between writing a block and
 * finishing the dequeues, drop from the rings what that block already holds.
 */
void efd_drain_reconcile(struct efd_drain *dr);
/** Publish flow-log config to the dataplane if it changed. */
void efd_publish_config(struct efd *d);
/**
 * Nothing to drain: wait up to us microseconds, or less if a flow-log
 * change arrives (the API signals fls_commit.changed), so changes reach
 * the dataplane without waiting out a sleep.
 */
void efd_drain_idle(struct efd_drain *dr, unsigned us);

/**
 * The block the drain journal says was being written when the last daemon
 * stopped (a kill between the write and the rings' finish): its segment's
 * path once sealed and its frame offset. If its frame is not in the file,
 * efd_drain_reconcile leaves its records in the rings to be drained again,
 * so they are not lost. False if no block was in flight.
 */
bool efd_drain_block_in_flight(const struct efd_config *c, char *segment, size_t len,
			       uint64_t *offset);

/* ------------------------------------------------------------------ http */

struct efd_http;
/** Start MHD on listen_fd (created by efd_listen_socket or inherited across exec). */
struct efd_http *efd_http_start(struct efd *d, int listen_fd);
/** Stop MHD; returns the listening fd still open (quiesced) for re-exec, or -1. */
int efd_http_stop(struct efd_http *h, bool keep_listen_fd);
int efd_listen_socket(const char *listen, struct efd_err *err);

/* ------------------------------------------------------------- context */

struct efd {
	struct efd_config cfg;
	pthread_mutex_t lock;
	/* guarded by lock */
	struct efd_flowlogs fls;
	struct efd_fls_commit fls_commit; /**< saves fls: changes answered once durable */
	struct efd_enis enis;      /**< last ENI table seen (kept while detached) */
	bool enis_known;
	bool attached;
	bool switch_gone;          /**< attached, but the switch exited: final drain */
	bool writer_error;
	char last_error[256];
	uint64_t cfg_dirty;        /**< bumped by the API; drain publishes */
	struct efd_counters ctr;
	struct efd_shm shm;        /**< mapped by attach; read by stats under lock */
	struct efd_tail *tails;    /**< live-tail clients */
	uint64_t start_ns;
	/* owned by the main thread */
	struct efd_store *store;
	struct efd_drain *drain;
	struct efd_dests *dests;   /**< created with the drain; stats lock it themselves */
};

extern volatile int efd_stop_flag;

uint64_t efd_now_ns(void);
/** One log line to stderr: "level=… event=… key=value…". */
void efd_log(const char *level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ----------------------------------------------------------- API routes */

/** A parsed request handed to a route. */
struct efd_req {
	const char *method;
	const char *url;
	const char *body;
	size_t body_len;
	struct MHD_Connection *conn;
};

/** What a route answers: a JSON body (stolen) + status, or a ready MHD response. */
struct efd_resp {
	int status;
	json_t *json;
	struct MHD_Response *raw;
};

void efd_resp_error(struct efd_resp *r, const struct efd_err *e);
/** Parse a body as a JSON object with bounded depth, rejecting duplicates. NULL + err. */
json_t *efd_parse_body(const struct efd_req *q, struct efd_err *err);

void api_enis_get(struct efd *d, const struct efd_req *q, struct efd_resp *r);
void api_flowlogs(struct efd *d, const struct efd_req *q, const char *id, struct efd_resp *r);
void api_segments(struct efd *d, const struct efd_req *q, const char *name, struct efd_resp *r);
void api_stats_get(struct efd *d, const struct efd_req *q, struct efd_resp *r);
void api_metrics_get(struct efd *d, const struct efd_req *q, struct efd_resp *r);
void api_health_get(struct efd *d, const struct efd_req *q, struct efd_resp *r);
void api_stream_get(struct efd *d, const struct efd_req *q, struct efd_resp *r);
void api_query_get(struct efd *d, const struct efd_req *q, struct efd_resp *r);
/** name NULL: the list of detections. */
void api_detections_get(struct efd *d, const struct efd_req *q, const char *name,
			struct efd_resp *r);

#endif /* ENIFLOWD_EFD_INTERNAL_H */
