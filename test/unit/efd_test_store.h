/*
 * efd_test_store.h - the segment store the eniflowd unit tests open: a data
 * directory of their own, instance "t", no fsync (tests need no durability
 * against power loss), no age retention. Shared by test_efd_store.c and
 * test_efd_ledger.c.
 */
#ifndef ENIFLOW_EFD_TEST_STORE_H
#define ENIFLOW_EFD_TEST_STORE_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "efd_internal.h"
#include "test_check.h"

static inline void open_store(struct efd *d, const char *dir)
{
	memset(d, 0, sizeof(*d));
	efd_config_defaults(&d->cfg);
	snprintf(d->cfg.data_dir, sizeof(d->cfg.data_dir), "%s", dir);
	snprintf(d->cfg.instance, sizeof(d->cfg.instance), "t");
	d->cfg.no_fsync = true;
	d->cfg.retain_age_s = 0;
	pthread_mutex_init(&d->lock, NULL);
	d->store = efd_store_open(d);
	CHECK(d->store != NULL, "store open: %s", strerror(errno));
}

#endif /* ENIFLOW_EFD_TEST_STORE_H */
