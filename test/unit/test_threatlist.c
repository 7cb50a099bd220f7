/* Proves threat lists in plain, FireHOL netset and Spamhaus DROP form load with the right prefixes, bad lines are named, and lookups equal a naive scan on random v4/v6 prefixes. */
#include "threatlist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int failures;

#include "test_check.h"

static char dir[] = "/tmp/test_threatlist.XXXXXX";

static const char *write_file(const char *name, const char *text)
{
	static char path[4][256];
	static int i;
	char *p = path[i++ % 4];

	snprintf(p, 256, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
	return p;
}

static const char *look(const struct qry_threat *t, const char *ip)
{
	uint8_t a[16] = {0};

	if (inet_pton(AF_INET, ip, a) == 1)
		return qry_threat_lookup(t, 4, a);
	inet_pton(AF_INET6, ip, a);
	return qry_threat_lookup(t, 6, a);
}

#define IS(t, ip, want)                                                                   \
	do {                                                                              \
		const char *got_ = look(t, ip);                                           \
		CHECK((want) ? got_ && !strcmp(got_, (want)) : !got_, "%s -> %s, want %s", ip, \
		      got_ ? got_ : "NULL", (want) ? (want) : "NULL");                    \
	} while (0)

static void test_formats(void)
{
	struct qry_threat *t = qry_threat_create();
	struct qry_err err;
	const char *none = NULL;

	CHECK(qry_threat_load(t, write_file("plain.txt", "# my list\n\n192.0.2.7\n  198.51.100.0/24  # net\n"
							"2001:db8:bad::/48\n"), "plain", &err) == 3,
	      "%s", err.msg);
	CHECK(qry_threat_load(t, write_file("fh.netset",
					    "#\n# firehol_level1\n#\n0.0.0.0/8\n10.0.0.0/8\n10.1.0.0/16\n"
					    "203.0.113.9\n"), NULL, &err) == 4,
	      "%s", err.msg);
	CHECK(qry_threat_load(t, write_file("drop.txt",
					    "; Spamhaus DROP List 2024/01/01\n; Last-Modified: x\n"
					    "1.10.16.0/20 ; SBL256894\n223.254.0.0/16 ; SBL212803\n"), "drop", &err) == 2,
	      "%s", err.msg);
	CHECK(qry_threat_build(t) == 0, "build");
	CHECK(qry_threat_n_prefixes(t) == 9, "prefixes %llu", (unsigned long long)qry_threat_n_prefixes(t));
	CHECK(qry_threat_n_ranges(t) == 8, "ranges %llu (10.1/16 nests in 10/8)",
	      (unsigned long long)qry_threat_n_ranges(t));
	IS(t, "192.0.2.7", "plain");
	IS(t, "192.0.2.8", none);
	IS(t, "198.51.100.0", "plain");
	IS(t, "198.51.100.255", "plain");
	IS(t, "198.51.101.0", none);
	IS(t, "10.1.2.3", "fh.netset");
	IS(t, "10.255.255.255", "fh.netset");
	IS(t, "11.0.0.0", none);
	IS(t, "0.0.0.1", "fh.netset");
	IS(t, "1.10.31.255", "drop");
	IS(t, "1.10.32.0", none);
	IS(t, "223.254.7.7", "drop");
	IS(t, "2001:db8:bad::1", "plain");
	IS(t, "2001:db8:bad:ffff:ffff:ffff:ffff:ffff", "plain");
	IS(t, "2001:db8:bae::", none);
	IS(t, "::1", none);
	qry_threat_destroy(t);

	/* bad lines name file and line */
	t = qry_threat_create();
	CHECK(qry_threat_load(t, write_file("bad.txt", "# x\n10.0.0.0/8\n10.0.0.0/40\n"), NULL, &err) == -EINVAL,
	      "bad cidr accepted");
	CHECK(strstr(err.msg, "bad.txt:3:") && strstr(err.msg, "10.0.0.0/40"), "msg '%s'", err.msg);
	CHECK(qry_threat_load(t, write_file("bad2.txt", "example.com\n"), NULL, &err) == -EINVAL &&
		      strstr(err.msg, "bad2.txt:1:"),
	      "msg '%s'", err.msg);
	CHECK(qry_threat_load(t, "/nonexistent/list", NULL, &err) == -ENOENT, "missing file");
	/* empty set */
	qry_threat_build(t);
	qry_threat_destroy(t);
	t = qry_threat_create();
	qry_threat_build(t);
	IS(t, "10.0.0.1", none);
	IS(t, "::", none);
	qry_threat_destroy(t);
}

static uint64_t rng = 0x1234567887654321ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct pf {
	uint8_t a[16];
	unsigned bits;
	int v6;
};

static bool naive_in(const struct pf *p, int v6, const uint8_t *a)
{
	if (p->v6 != v6)
		return false;
	for (unsigned b = 0; b < p->bits; b++)
		if (((p->a[b / 8] ^ a[b / 8]) >> (7 - b % 8)) & 1)
			return false;
	return true;
}

static void random_addr(uint8_t *a, int v6)
{
	memset(a, 0, 16);
	/* a narrow space so that random lookups hit */
	a[0] = v6 ? 0x20 : 10;
	a[1] = (uint8_t)rnd();
	for (int i = 2; i < (v6 ? 16 : 4); i++)
		a[i] = (uint8_t)rnd();
}

static void test_random(void)
{
	enum { NP = 20000, NL = 4000 };
	static struct pf p[NP];
	struct qry_threat *t = qry_threat_create();
	char s[64];

	for (int i = 0; i < NP; i++) {
		p[i].v6 = rnd() % 3 == 0;
		random_addr(p[i].a, p[i].v6);
		p[i].bits = p[i].v6 ? 16 + (unsigned)(rnd() % 113) : 18 + (unsigned)(rnd() % 15);
		inet_ntop(p[i].v6 ? AF_INET6 : AF_INET, p[i].a, s, sizeof(s));
		sprintf(s + strlen(s), "/%u", p[i].bits);
		CHECK(qry_threat_add(t, s, "r") == 0, "add %s", s);
	}
	qry_threat_build(t);
	int hits = 0;
	for (int i = 0; i < NL; i++) {
		uint8_t a[16];
		int v6 = i % 3 == 0;
		random_addr(a, v6);
		bool want = false;
		for (int k = 0; k < NP && !want; k++)
			want = naive_in(&p[k], v6, a);
		bool got = qry_threat_lookup(t, v6 ? 6 : 4, a) != NULL;
		hits += want;
		CHECK(got == want, "lookup %d: got %d want %d", i, got, want);
	}
	CHECK(hits > NL / 20 && hits < NL - NL / 20, "random test degenerate: %d hits", hits);
	printf("threatlist random: %d of %d lookups hit\n", hits, NL);
	qry_threat_destroy(t);
}

/* Speed: 200K prefixes, 1M lookups; reported, and a loose floor so a regression to linear is caught. */
static void test_speed(void)
{
	struct qry_threat *t = qry_threat_create();
	char s[64];
	uint8_t a[16] = {0};
	struct timespec t0, t1;
	long found = 0;

	for (int i = 0; i < 200000; i++) {
		uint32_t x = (uint32_t)rnd();
		snprintf(s, sizeof(s), "%u.%u.%u.%u/%u", x >> 24, (x >> 16) & 255, (x >> 8) & 255, x & 255,
			 (unsigned)(16 + rnd() % 17));
		qry_threat_add(t, s, "big");
	}
	qry_threat_build(t);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 1000000; i++) {
		uint32_t x = (uint32_t)rnd();
		memcpy(a, &x, 4);
		found += qry_threat_lookup(t, 4, a) != NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("threatlist: 200000 prefixes, %llu ranges, 1M lookups in %.3f s (%.1f M/s), %ld hits\n",
	       (unsigned long long)qry_threat_n_ranges(t), sec, 1.0 / sec, found);
	CHECK(sec < 2.0, "1M lookups took %.3f s", sec);
	qry_threat_destroy(t);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_formats();
	test_random();
	test_speed();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	if (failures) {
		fprintf(stderr, "%d failure(s)\n", failures);
		return 1;
	}
	printf("threatlist: all passed\n");
	return 0;
}
