/*
 * efd_attach.c - the DPDK secondary's life cycle.
 *
 * rte_eal_init() can run only once per process, so eniflowd starts without
 * EAL and serves its API; it calls rte_eal_init() as a secondary only once
 * the primary's runtime config file exists and is fcntl-locked (the primary
 * holds that lock for its whole life). When the primary is gone, the main
 * loop drains what is left, seals and re-execs the daemon (efd_main.c), which
 * comes back EAL-free and waits for the next primary.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_memzone.h>
#include <rte_ring.h>
#include <rte_log.h>
#include "efd_internal.h"

/** Set by SIGTERM/SIGINT (efd_main.c); long waits here give up when it is. */
volatile int efd_stop_flag;

static void runtime_config_path(const struct efd_config *c, char *buf, size_t len)
{
	const char *base = "/var/run/dpdk";
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (getuid() != 0)
		base = xdg ? xdg : "/tmp";
	snprintf(buf, len, "%s%s/%s/config", base, getuid() != 0 ? "/dpdk" : "",
		 c->file_prefix);
}

bool efd_primary_present(const struct efd_config *c)
{
	char path[EFD_PATH_MAX];
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 0 }; /* whole file: the primary locks a field range */

	runtime_config_path(c, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	/* F_GETLK tells whether someone (the primary) holds the lock, without taking it. */
	bool locked = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
	close(fd);
	return locked;
}

static int eal_init(const struct efd_config *c)
{
	char prefix[96], lcore[16];
	char *argv[] = { "eniflowd", "--proc-type=secondary", "--no-pci", prefix, "-l", lcore,
			 "--log-level=*:error", "--no-telemetry", NULL };

	snprintf(prefix, sizeof(prefix), "--file-prefix=%s", c->file_prefix);
	snprintf(lcore, sizeof(lcore), "%u", c->eal_lcore);
	int rc = rte_eal_init((int)(sizeof(argv) / sizeof(argv[0]) - 1), argv);
	if (rc < 0) {
		efd_log("error", "eal_init_failed", "file_prefix=%s err=\"%s\"", c->file_prefix,
			rte_strerror(rte_errno));
		return -(rte_errno ? rte_errno : EIO);
	}
	return 0;
}

static const void *mz(const char *fmt, const char *instance)
{
	char name[RTE_MEMZONE_NAMESIZE];
	snprintf(name, sizeof(name), fmt, instance);
	const struct rte_memzone *m = rte_memzone_lookup(name);
	return m ? m->addr : NULL;
}

/**
 * A consumer killed between dequeue_start and finish leaves cons.head ahead
 * of cons.tail; the next SC dequeue would start at head and skip records.
 * We are the only consumer and have not started, so pull head back.
 */
static void reset_consumer(struct rte_ring *r)
{
	uint32_t tail = __atomic_load_n(&r->cons.tail, __ATOMIC_ACQUIRE);
	if (r->cons.head != tail) {
		efd_log("warn", "ring_head_reset", "ring=%s skipped=%u", r->name, r->cons.head - tail);
		__atomic_store_n(&r->cons.head, tail, __ATOMIC_RELEASE);
	}
}

/** Find header, tables and rings; the primary may still be creating them. */
static int map_shared(struct efd *d)
{
	const char *inst = d->cfg.instance;
	struct efd_shm shm = { 0 };

	shm.hdr = (struct efl_shm_header *)mz(EFL_MZ_HEADER, inst);
	shm.enis = (struct efl_shm_eni *)mz(EFL_MZ_ENIS, inst);
	shm.cfg = (struct efl_shm_cfg *)mz(EFL_MZ_CFG, inst);
	shm.stats = (struct efl_shm_stats *)mz(EFL_MZ_STATS, inst);
	if (!shm.hdr || !shm.enis || !shm.cfg || !shm.stats)
		return -EAGAIN;
	if (shm.hdr->magic != EFL_SHM_MAGIC || shm.hdr->layout_version != EFL_SHM_LAYOUT_VERSION) {
		efd_log("error", "shm_version", "magic=%llx version=%u want=%u",
			(unsigned long long)shm.hdr->magic, shm.hdr->layout_version,
			EFL_SHM_LAYOUT_VERSION);
		return -EPROTO;
	}
	if (shm.hdr->n_workers == 0 || shm.hdr->n_workers > EFL_MAX_LCORES)
		return -EAGAIN;
	for (uint32_t i = 0; i < shm.hdr->n_workers; i++) {
		char name[RTE_RING_NAMESIZE];
		snprintf(name, sizeof(name), EFL_RING_EXPORT, inst, i);
		shm.rings[i] = rte_ring_lookup(name);
		if (shm.rings[i] == NULL)
			return -EAGAIN;
		/* the peek API below needs a single-consumer ring */
		if (rte_ring_get_cons_sync_type(shm.rings[i]) != RTE_RING_SYNC_ST) {
			efd_log("error", "ring_not_sc", "ring=%s", name);
			return -EPROTO;
		}
	}
	shm.n_rings = shm.hdr->n_workers;
	for (uint32_t i = 0; i < shm.n_rings; i++)
		reset_consumer(shm.rings[i]);
	pthread_mutex_lock(&d->lock);
	d->shm = shm;
	d->attached = true;
	d->ctr.attaches++;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int efd_attach_eal(struct efd *d)
{
	return eal_init(&d->cfg);
}

int efd_attach(struct efd *d)
{
	int rc = 0;

	/* The primary may still be building its memzones: give it 30 s. */
	for (int i = 0; i < 300 && !efd_stop_flag; i++) {
		rc = map_shared(d);
		if (rc != -EAGAIN)
			break;
		usleep(100000);
	}
	if (rc) {
		efd_log("error", "attach_failed", "instance=%s err=\"%s\"", d->cfg.instance,
			strerror(-rc));
		return rc;
	}
	efd_log("info", "attached", "instance=%s primary_pid=%llu workers=%u enis=%u",
		d->cfg.instance, (unsigned long long)d->shm.hdr->pid, d->shm.n_rings,
		d->shm.hdr->n_enis);
	return 0;
}

bool efd_primary_alive(struct efd *d)
{
	if (!rte_eal_primary_proc_alive(NULL))
		return false;
	pid_t pid = (pid_t)d->shm.hdr->pid;
	return pid <= 0 || kill(pid, 0) == 0 || errno != ESRCH;
}
