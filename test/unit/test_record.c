/* Proves the v1 record layout is the documented one and that validation names the bad field. */
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int failures;

#include "test_check.h"

static struct rec_flow good(void)
{
	struct rec_flow r;
	memset(&r, 0, sizeof(r));
	r.version = REC_VERSION;
	r.ip_version = 4;
	r.protocol = 6;
	r.first_ns = 10;
	r.last_ns = 20;
	return r;
}

int main(void)
{
	char msg[128];
	struct rec_flow r = good();

	CHECK(sizeof(struct rec_flow) == 96, "size %zu", sizeof(struct rec_flow));
	CHECK(offsetof(struct rec_flow, eni) == 16, "eni at %zu", offsetof(struct rec_flow, eni));
	CHECK(offsetof(struct rec_flow, rule_id) == 20, "rule_id at %zu", offsetof(struct rec_flow, rule_id));
	CHECK(offsetof(struct rec_flow, lost_records) == 28, "lost_records at %zu",
	      offsetof(struct rec_flow, lost_records));
	CHECK(offsetof(struct rec_flow, last_ns) == 88, "last_ns at %zu", offsetof(struct rec_flow, last_ns));
	CHECK(rec_validate(&r, msg, sizeof(msg)) == 0, "good record rejected: %s", msg);

	r.version = 2;
	CHECK(rec_validate(&r, msg, sizeof(msg)) != 0 && strstr(msg, "version"), "msg '%s'", msg);
	r = good();
	r.kind = 7;
	CHECK(rec_validate(&r, msg, sizeof(msg)) != 0 && strstr(msg, "kind"), "msg '%s'", msg);
	r = good();
	r.ip_version = 5;
	CHECK(rec_validate(&r, msg, sizeof(msg)) != 0 && strstr(msg, "ip_version"), "msg '%s'", msg);
	r = good();
	r.end_reason = 9;
	CHECK(rec_validate(&r, msg, sizeof(msg)) != 0 && strstr(msg, "end_reason"), "msg '%s'", msg);
	r = good();
	r.last_ns = 5;
	CHECK(rec_validate(&r, msg, sizeof(msg)) != 0 && strstr(msg, "last_ns"), "msg '%s'", msg);

	char buf[64];
	r = good();
	r.src_addr[0] = 10; r.src_addr[3] = 7;
	CHECK(strcmp(rec_addr_str(&r, true, buf, sizeof(buf)), "10.0.0.7") == 0, "got %s", buf);
	r.ip_version = 6;
	memset(r.dst_addr, 0, 16); r.dst_addr[0] = 0x20; r.dst_addr[1] = 0x01; r.dst_addr[15] = 1;
	CHECK(strcmp(rec_addr_str(&r, false, buf, sizeof(buf)), "2001::1") == 0, "got %s", buf);
	r.ip_version = 0;
	CHECK(strcmp(rec_addr_str(&r, false, buf, sizeof(buf)), "-") == 0, "got %s", buf);
	CHECK(strcmp(rec_proto_name(6), "tcp") == 0, "tcp");
	CHECK(rec_proto_name(253) == NULL, "253 unnamed");
	CHECK(strcmp(rec_end_reason_name(REC_END_LOSS_RING), "ring-full") == 0, "ring-full");

	if (failures) {
		fprintf(stderr, "test_record: %d failures\n", failures);
		return 1;
	}
	printf("test_record: ok\n");
	return 0;
}
