/*
 * efd_segsum.c - reads segment files (lib/segment.h reader) and prints, as
 * one JSON line, what eniflowd's drain tests compare: per ENI the packets
 * and bytes of FLOW records by verdict, the rule ids of REJECT records,
 * loss packets/bytes by where they were lost, NODATA counts; and whether
 * every file passed seg_verify.
 *
 * usage: efd_segsum FILE...
 *        efd_segsum --flows FILE...   one line per IPv4 FLOW record instead:
 *        "eni dir verdict proto src dst sport dport packets bytes layer rule_id"
 *        efd_segsum --times FILE...   one line per record of any kind:
 *        "kind eni first_ns last_ns" (kind: flow, loss, nodata)
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include "segment.h"

#define MAX_ENI 64

struct sum {
	unsigned long long pk[2], by[2], recs[2];
	unsigned long long loss_pk[5], loss_by[5]; /* ring, writer, recovery, other, exporter */
	unsigned long long loss_exp_recs; /* lost_records of REC_END_LOSS_EXPORTER records */
	unsigned long long nodata, bad_rule;
};

static struct sum sums[MAX_ENI];
static int flows_mode;

static void print_flow(const struct rec_flow *r)
{
	char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];
	if (r->kind != REC_KIND_FLOW || r->ip_version != 4)
		return;
	inet_ntop(AF_INET, r->src_addr, src, sizeof(src));
	inet_ntop(AF_INET, r->dst_addr, dst, sizeof(dst));
	printf("%u %u %u %u %s %s %u %u %llu %llu %u %u\n", r->eni, r->direction, r->verdict,
	       r->protocol, src, dst, r->src_port, r->dst_port, (unsigned long long)r->packets,
	       (unsigned long long)r->bytes, r->layer, r->rule_id);
}

static void print_times(const struct rec_flow *r)
{
	static const char *const kind[] = { "flow", "loss", "nodata" };
	printf("%s %u %llu %llu\n", r->kind < 3 ? kind[r->kind] : "other", r->eni,
	       (unsigned long long)r->first_ns, (unsigned long long)r->last_ns);
}

static int add(const struct rec_flow *r, size_t n, void *arg)
{
	(void)arg;
	for (size_t i = 0; i < n; i++) {
		if (r[i].eni >= MAX_ENI)
			continue;
		struct sum *s = &sums[r[i].eni];
		if (flows_mode) {
			if (flows_mode == 2)
				print_flow(&r[i]);
			else
				print_times(&r[i]);
			continue;
		}
		if (r[i].kind == REC_KIND_FLOW && r[i].verdict < 2) {
			s->pk[r[i].verdict] += r[i].packets;
			s->by[r[i].verdict] += r[i].bytes;
			s->recs[r[i].verdict]++;
			if (r[i].verdict == REC_VERDICT_REJECT && r[i].rule_id == 0)
				s->bad_rule++;
		} else if (r[i].kind == REC_KIND_LOSS) {
			int k = r[i].end_reason == REC_END_LOSS_RING ? 0 :
				r[i].end_reason == REC_END_LOSS_WRITER ? 1 :
				r[i].end_reason == REC_END_LOSS_RECOVERY ? 2 :
				/* a destination's copy, not the segment's records: apart */
				r[i].end_reason == REC_END_LOSS_EXPORTER ? 4 : 3;
			if (k == 4)
				s->loss_exp_recs += r[i].lost_records;
			s->loss_pk[k] += r[i].packets;
			s->loss_by[k] += r[i].bytes;
		} else if (r[i].kind == REC_KIND_NODATA) {
			s->nodata++;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct seg_err err;
	int bad = 0, first = 1;

	if (argc > 1 && strcmp(argv[1], "--flows") == 0)
		flows_mode = first = 2;
	else if (argc > 1 && strcmp(argv[1], "--times") == 0)
		flows_mode = 3, first = 2;
	for (int i = first; i < argc; i++) {
		if (seg_verify(argv[i], &err) != 0) {
			fprintf(stderr, "verify: %s\n", err.msg);
			bad++;
			continue;
		}
		struct seg_reader *r = seg_reader_open(argv[i], &err);
		if (r == NULL || seg_reader_foreach(r, NULL, add, NULL, NULL, &err) != 0) {
			fprintf(stderr, "read: %s\n", err.msg);
			bad++;
		}
		seg_reader_close(r);
	}
	if (flows_mode)
		return bad ? 1 : 0;
	printf("{\"files\": %d, \"bad_files\": %d, \"enis\": [", argc - first, bad);
	for (int e = 0; e < MAX_ENI; e++) {
		const struct sum *s = &sums[e];
		printf("%s{\"eni\": %d, \"accept_packets\": %llu, \"accept_bytes\": %llu, "
		       "\"reject_packets\": %llu, \"reject_bytes\": %llu, \"accept_records\": %llu, "
		       "\"reject_records\": %llu, \"reject_without_rule\": %llu, "
		       "\"loss_ring_packets\": %llu, \"loss_ring_bytes\": %llu, "
		       "\"loss_writer_packets\": %llu, \"loss_writer_bytes\": %llu, "
		       "\"loss_recovery_packets\": %llu, \"loss_recovery_bytes\": %llu, "
		       "\"loss_other_packets\": %llu, \"nodata\": %llu, "
		       "\"loss_exporter_records\": %llu, \"loss_exporter_packets\": %llu, "
		       "\"loss_exporter_bytes\": %llu}",
		       e ? ", " : "", e, s->pk[0], s->by[0], s->pk[1], s->by[1], s->recs[0], s->recs[1],
		       s->bad_rule, s->loss_pk[0], s->loss_by[0], s->loss_pk[1], s->loss_by[1],
		       s->loss_pk[2], s->loss_by[2], s->loss_pk[3], s->nodata, s->loss_exp_recs, s->loss_pk[4],
		       s->loss_by[4]);
	}
	printf("]}\n");
	return bad ? 1 : 0;
}
