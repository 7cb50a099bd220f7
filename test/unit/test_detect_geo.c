/* Proves the geo detection folds remote peers into countries from a real MMDB file (written here, byte by byte, per the MaxMind DB spec), v4 and v6, with unknown addresses as "??", and refuses a bad file by name. */
#include "detect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int failures;

#include "test_check.h"

/* ------------------------------------------------ a minimal MMDB writer */

struct buf {
	uint8_t b[4096];
	size_t n;
};

static void put(struct buf *o, const void *p, size_t n)
{
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void put_ctrl(struct buf *o, unsigned type, unsigned size)
{
	uint8_t c[2];

	if (type <= 7) {
		c[0] = (uint8_t)(type << 5 | size);
		put(o, c, 1);
	} else { /* extended type */
		c[0] = (uint8_t)size;
		c[1] = (uint8_t)(type - 7);
		put(o, c, 2);
	}
}

static void put_str(struct buf *o, const char *s)
{
	put_ctrl(o, 2, (unsigned)strlen(s));
	put(o, s, strlen(s));
}

static void put_uint(struct buf *o, unsigned type, uint64_t v, unsigned bytes)
{
	put_ctrl(o, type, bytes);
	for (unsigned i = bytes; i > 0; i--) {
		uint8_t x = (uint8_t)(v >> (8 * (i - 1)));
		put(o, &x, 1);
	}
}

/* Search tree over 128 bits (IPv4 at ::/96); records are node ids or data pointers. */
#define MAXN 512
#define EMPTY UINT32_MAX
static uint32_t rec[MAXN][2];
static uint32_t n_nodes = 1;
static uint32_t data_of[MAXN][2]; /* data offset + 1 when the record points at data */

static void insert(const uint8_t *addr16, unsigned bits, uint32_t data_off)
{
	uint32_t node = 0;

	for (unsigned i = 0; i < bits; i++) {
		unsigned bit = addr16[i / 8] >> (7 - i % 8) & 1;
		if (i == bits - 1) {
			data_of[node][bit] = data_off + 1;
			return;
		}
		if (rec[node][bit] == EMPTY) {
			rec[node][bit] = n_nodes;
			rec[n_nodes][0] = rec[n_nodes][1] = EMPTY;
			n_nodes++;
		}
		node = rec[node][bit];
	}
}

static int write_mmdb(const char *path)
{
	struct buf data = {.n = 0}, meta = {.n = 0};
	uint8_t a[16] = {0};
	uint32_t jp, de;
	FILE *f;

	/* data section: {"country":{"iso_code":"JP"}}, then DE */
	jp = (uint32_t)data.n;
	put_ctrl(&data, 7, 1), put_str(&data, "country"), put_ctrl(&data, 7, 1);
	put_str(&data, "iso_code"), put_str(&data, "JP");
	de = (uint32_t)data.n;
	put_ctrl(&data, 7, 1), put_str(&data, "country"), put_ctrl(&data, 7, 1);
	put_str(&data, "iso_code"), put_str(&data, "DE");

	rec[0][0] = rec[0][1] = EMPTY;
	inet_pton(AF_INET, "198.51.100.0", a + 12);
	insert(a, 96 + 24, jp);
	memset(a, 0, 16);
	inet_pton(AF_INET6, "2001:db8::", a);
	insert(a, 32, de);

	/* metadata map */
	put_ctrl(&meta, 7, 9);
	put_str(&meta, "node_count"), put_uint(&meta, 6, n_nodes, 4);
	put_str(&meta, "record_size"), put_uint(&meta, 5, 24, 2);
	put_str(&meta, "ip_version"), put_uint(&meta, 5, 6, 2);
	put_str(&meta, "database_type"), put_str(&meta, "eniflow-test-country");
	put_str(&meta, "languages"), put_ctrl(&meta, 11, 1), put_str(&meta, "en");
	put_str(&meta, "binary_format_major_version"), put_uint(&meta, 5, 2, 2);
	put_str(&meta, "binary_format_minor_version"), put_uint(&meta, 5, 0, 2);
	put_str(&meta, "build_epoch"), put_uint(&meta, 9, 1700000000, 8);
	put_str(&meta, "description"), put_ctrl(&meta, 7, 1), put_str(&meta, "en"), put_str(&meta, "test");

	f = fopen(path, "wb");
	if (!f)
		return -errno;
	for (uint32_t nd = 0; nd < n_nodes; nd++)
		for (int s = 0; s < 2; s++) {
			uint32_t v = data_of[nd][s] ? n_nodes + 16 + data_of[nd][s] - 1
				     : rec[nd][s] == EMPTY ? n_nodes : rec[nd][s];
			uint8_t b[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
			fwrite(b, 1, 3, f);
		}
	static const uint8_t zeros[16];
	fwrite(zeros, 1, 16, f);
	fwrite(data.b, 1, data.n, f);
	fwrite("\xab\xcd\xefMaxMind.com", 1, 14, f);
	fwrite(meta.b, 1, meta.n, f);
	return fclose(f) ? -EIO : 0;
}

/* ----------------------------------------------------------------- test */

static struct rec_flow flow(const char *src, const char *dst, uint8_t dir, uint64_t bytes)
{
	struct rec_flow r;
	int v6 = strchr(src, ':') != NULL;

	memset(&r, 0, sizeof(r));
	r.version = REC_VERSION;
	r.ip_version = v6 ? 6 : 4;
	inet_pton(v6 ? AF_INET6 : AF_INET, src, r.src_addr);
	inet_pton(v6 ? AF_INET6 : AF_INET, dst, r.dst_addr);
	r.direction = dir;
	r.protocol = 6;
	r.packets = 1;
	r.bytes = bytes;
	r.first_ns = r.last_ns = 1700000000000000000ull;
	return r;
}

int main(void)
{
	char path[] = "/tmp/test_detect_geo.XXXXXX", set[64];
	int fd = mkstemp(path);
	struct qry_err err;
	struct rec_flow recs[] = {
		flow("10.0.0.1", "198.51.100.7", REC_DIR_EGRESS, 1000),   /* JP */
		flow("10.0.0.1", "198.51.100.8", REC_DIR_EGRESS, 500),    /* JP */
		flow("2001:db8::9", "2600::1", REC_DIR_INGRESS, 3000),    /* DE (src is the peer) */
		flow("10.0.0.1", "203.0.113.1", REC_DIR_EGRESS, 10),      /* not in the database */
		flow("198.51.100.9", "10.0.0.1", REC_DIR_EGRESS, 99999),  /* peer is 10.0.0.1: ?? */
	};

	if (fd < 0)
		return 1;
	close(fd);
	CHECK(write_mmdb(path) == 0, "write mmdb");
	snprintf(set, sizeof(set), "mmdb=%s", path);
	const char *settings[] = {set};
	struct qry_det *d = qry_det_create("geo", settings, 1, 0, 0, NULL, &err);
	CHECK(d != NULL, "create: %s", err.msg);
	if (d) {
		for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
			qry_det_add(d, &recs[i]);
		struct qry_table *t = qry_det_finish(d, &err);
		CHECK(t && t->n_rows == 3, "rows %u", t ? t->n_rows : 0);
		if (t && t->n_rows == 3) {
			/* by bytes: ?? (99999 + 10), DE 3000, JP 1500 */
			CHECK(!strcmp(t->cells[0].s, "??") && t->cells[1].u == 2 && t->cells[4].u == 100009,
			      "row0 %s peers %llu bytes %llu", t->cells[0].s,
			      (unsigned long long)t->cells[1].u, (unsigned long long)t->cells[4].u);
			CHECK(!strcmp(t->cells[5].s, "DE") && t->cells[6].u == 1 && t->cells[9].u == 3000,
			      "row1 %s", t->cells[5].s);
			CHECK(!strcmp(t->cells[10].s, "JP") && t->cells[11].u == 2 && t->cells[12].u == 2 &&
				      t->cells[14].u == 1500,
			      "row2 %s peers %llu", t->cells[10].s, (unsigned long long)t->cells[11].u);
		}
		qry_table_destroy(t);
		qry_det_destroy(d);
	}
	/* a file that is not an MMDB is refused, naming it */
	FILE *f = fopen(path, "w");
	fputs("not a database\n", f);
	fclose(f);
	d = qry_det_create("geo", settings, 1, 0, 0, NULL, &err);
	CHECK(!d && strstr(err.msg, path), "bad mmdb: '%s'", err.msg);
	qry_det_destroy(d);
	unlink(path);
	if (failures) {
		fprintf(stderr, "%d failure(s)\n", failures);
		return 1;
	}
	printf("detect geo: all passed\n");
	return 0;
}
