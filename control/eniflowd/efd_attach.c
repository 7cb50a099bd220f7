/*
 * efd_attach.c - the DPDK secondary's life cycle.
 *
 * rte_eal_init() can run only once per process, so eniflowd starts without
 * EAL and serves its API; it calls rte_eal_init() as a secondary only once
 * the primary's runtime config file exists and is fcntl-locked (the primary
 * holds that lock for its whole life). When the primary is gone, the main
 * loop drains what is left, seals and re-execs the daemon (efd_main.c), which
 * comes back EAL-free and waits for the next primary.
 *
 * The daemon needs the primary's memzones and rings, never its ports, so it
 * keeps the primary's virtual devices out of its EAL (ignore_primary_vdevs).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <rte_dev.h>
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

/*
 * A DPDK 22.11 secondary probes every vdev of its primary at rte_eal_init:
 * the vdev bus's scan asks the primary for its list over the mp channel
 * (action "bus_vdev_mp", drivers/bus/vdev/vdev.c), the primary answers with
 * one VDEV_SCAN_ONE message per device, and the secondary's copy of that
 * action adds each one to its bus, which then probes it. For net_tap the
 * probe asks the primary again, for the fds of every queue (1 s timeout per
 * port); on a loaded machine those requests time out, slowing or breaking
 * the attach, and every restart of the daemon adds work on the switch's
 * side. No EAL option stops it in 22.11: the vdev bus ignores the
 * block list (-b/--block sets a devargs policy that vdev_scan/vdev_probe
 * never read; tried: with -b naming each of the switch's vdevs, all were
 * still probed and their tap fds held), --no-pci concerns
 * PCI only, and every PMD in the plugin directory (the vdev bus included)
 * is loaded whatever -d says. But vdev_scan registers its action only if
 * none is registered under that name (EEXIST is accepted), and
 * rte_mp_action_register works before rte_eal_init (the action table is
 * static). So the daemon registers its own action first: the primary's
 * list arrives and is counted, but nothing is added to the bus, and no
 * driver of the primary's ports runs here. The reply that ends the scan is
 * matched to the pending request, not to an action, so the scan still
 * completes. The action stays: the primary broadcasts its list to every
 * secondary whenever one starts, and those copies are ignored too.
 * test/e2e/daemon_noports.sh fails if a DPDK update changes any of this.
 */
#define VDEV_MP_ACTION "bus_vdev_mp"

static unsigned vdevs_ignored; /* atomic: the mp thread counts, main reads */

static int ignore_vdev_msg(const struct rte_mp_msg *msg, const void *peer)
{
	(void)msg;
	(void)peer;
	__atomic_fetch_add(&vdevs_ignored, 1, __ATOMIC_RELAXED);
	return 0;
}

static void ignore_primary_vdevs(void)
{
	if (rte_mp_action_register(VDEV_MP_ACTION, ignore_vdev_msg) != 0 && rte_errno != EEXIST)
		efd_log("warn", "vdev_ignore_failed", "err=\"%s\"", rte_strerror(rte_errno));
}

/** Devices on the vdev bus after init, and how many a driver probed (both 0). */
static void count_vdevs(unsigned *present, unsigned *probed)
{
	struct rte_dev_iterator it;
	struct rte_device *dev;

	*present = *probed = 0;
	rte_errno = 0; /* the init returns -rte_errno even when it succeeds */
	if (rte_dev_iterator_init(&it, "bus=vdev") != 0) {
		efd_log("warn", "vdev_count_failed", "err=\"%s\"", rte_strerror(rte_errno));
		return;
	}
	while ((dev = rte_dev_iterator_next(&it)) != NULL) {
		(*present)++;
		*probed += rte_dev_is_probed(dev) != 0;
	}
}

static int eal_init(const struct efd_config *c)
{
	char prefix[96], lcore[16];
	char *argv[] = { "eniflowd", "--proc-type=secondary", "--no-pci", prefix, "-l", lcore,
			 "--log-level=*:error", "--no-telemetry", NULL };

	snprintf(prefix, sizeof(prefix), "--file-prefix=%s", c->file_prefix);
	snprintf(lcore, sizeof(lcore), "%u", c->eal_lcore);
	ignore_primary_vdevs();
	uint64_t t0 = efd_now_ns();
	int rc = rte_eal_init((int)(sizeof(argv) / sizeof(argv[0]) - 1), argv);
	if (rc < 0) {
		efd_log("error", "eal_init_failed", "file_prefix=%s err=\"%s\"", c->file_prefix,
			rte_strerror(rte_errno));
		return -(rte_errno ? rte_errno : EIO);
	}
	unsigned present, probed;
	count_vdevs(&present, &probed);
	efd_log("info", "eal_ready", "ms=%llu primary_vdevs_ignored=%u vdevs=%u vdevs_probed=%u",
		(unsigned long long)((efd_now_ns() - t0) / 1000000),
		__atomic_load_n(&vdevs_ignored, __ATOMIC_RELAXED), present, probed);
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
