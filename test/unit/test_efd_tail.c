/* Proves the live tail's bound: a client that does not read is cut off once its buffer is full (counted), without the publisher ever waiting, while an ENI filter keeps other ENIs' records out. */
#include <stdio.h>
#include <string.h>
#include "efd_internal.h"
#include "recgen.h"

int failures;

#include "test_check.h"

int main(void)
{
	static struct efd d;
	static struct rec_flow recs[64];
	static char buf[1 << 16];
	struct rec_gen_params gp = { .seed = 3, .n_enis = 2 };
	struct rec_gen *g = rec_gen_create(&gp);

	efd_config_defaults(&d.cfg);
	d.cfg.stream_buffer = 4096;
	pthread_mutex_init(&d.lock, NULL);
	d.enis.n = 2;
	snprintf(d.enis.eni[0].eni_id, EFL_ID_LEN, "eni-zero");
	snprintf(d.enis.eni[1].eni_id, EFL_ID_LEN, "eni-one");
	struct efd_tail *slow = efd_tail_open(&d, UINT32_MAX);
	struct efd_tail *one = efd_tail_open(&d, 1);

	rec_gen_next(g, recs, 64);
	for (int i = 0; i < 64; i++)
		recs[i].eni = (uint32_t)(i % 2);
	efd_tail_publish(&d, recs, 4); /* 2 records of ENI 1 */
	long n = efd_tail_read(one, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	int lines = 0;
	for (char *p = buf; (p = strchr(p, '\n')); p++)
		lines++;
	CHECK(lines == 2 && strstr(buf, "eni-one") && !strstr(buf, "eni-zero"),
	      "ENI filter: %d lines: %.200s", lines, buf);
	for (int round = 0; round < 100; round++) /* nobody reads `slow` */
		efd_tail_publish(&d, recs, 64);
	CHECK(d.ctr.tail_clients_cut >= 1, "slow client not cut: cut=%llu",
	      (unsigned long long)d.ctr.tail_clients_cut);
	long total = 0;
	while ((n = efd_tail_read(slow, buf, sizeof(buf))) > 0)
		total += n;
	CHECK(n == -1 && total <= 4096, "cut client: read %ld bytes then %ld", total, n);
	efd_tail_close(&d, slow);
	efd_tail_close(&d, one);
	CHECK(d.tails == NULL, "tails left registered");
	rec_gen_destroy(g);
	if (failures) {
		fprintf(stderr, "test_efd_tail: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_efd_tail: ok\n");
	return 0;
}
