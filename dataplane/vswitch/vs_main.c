/*
 * vs_main.c - eniflow-vswitch: a DPDK primary process that forwards between
 * ENI ports and an uplink, applies security groups and network ACLs, and
 * gives every packet to the flow-log plugin.
 *
 *   eniflow-vswitch [EAL options] -- --config FILE [--instance NAME]
 *                   [--enable-all] [--drain-wait-ms N]
 *
 * The config's ports become EAL virtual devices: this program adds one
 * --vdev per port (the caller passes no --vdev for them), and -l main,workers
 * when the caller gives no lcore list. The main lcore only keeps the
 * heartbeat; SIGINT/SIGTERM stop the workers, which flush every flow to the
 * export rings, and the process exits 0.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include "vs_forward.h"
#include "vs_telemetry.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

struct opts {
	const char *config;
	const char *instance;
	bool enable_all;
	unsigned drain_wait_ms;
};

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [EAL options] -- --config FILE [--instance NAME] "
		"[--enable-all] [--drain-wait-ms N]\n"
		"  --instance NAME   names the shared memory (default \"vs\"; <= %d chars)\n"
		"  --enable-all      log every ENI until eniflowd configures them (benchmarks)\n"
		"  --drain-wait-ms N at exit, wait up to N ms for eniflowd to drain (default 2000)\n",
		prog, EFL_INSTANCE_MAX);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"config", required_argument, NULL, 'c'},
		{"instance", required_argument, NULL, 'i'},
		{"enable-all", no_argument, NULL, 'a'},
		{"drain-wait-ms", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	*o = (struct opts){.instance = "vs", .drain_wait_ms = 2000};
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:i:aw:h", lo, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'i': o->instance = optarg; break;
		case 'a': o->enable_all = true; break;
		case 'w': o->drain_wait_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		default: return -EINVAL;
		}
	}
	if (o->config == NULL || optind != argc) {
		fprintf(stderr, "eniflow-vswitch: --config FILE is required after \"--\"\n");
		return -EINVAL;
	}
	size_t n = strlen(o->instance);
	if (n == 0 || n > EFL_INSTANCE_MAX || strspn(o->instance,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n) {
		fprintf(stderr, "eniflow-vswitch: --instance \"%s\": 1..%d letters, digits, _ or -\n",
			o->instance, EFL_INSTANCE_MAX);
		return -EINVAL;
	}
	return 0;
}

/* EAL argv: the caller's EAL options, one --vdev per port, and -l if missing. */
static char **eal_args(int n_eal, char **argv, const struct vs_config *cfg, int *out_n)
{
	char **a = calloc((size_t)n_eal + 2 * VS_MAX_PORTS + 4, sizeof(char *));
	static char lcores[512];
	bool has_l = false;
	int n = 0;
	for (int i = 0; i < n_eal; i++) {
		has_l |= !strcmp(argv[i], "-l") || !strcmp(argv[i], "-c") ||
			 !strncmp(argv[i], "--lcores", 8);
		a[n++] = argv[i];
	}
	for (uint32_t p = 0; p < cfg->n_ports; p++) {
		a[n++] = "--vdev";
		a[n++] = (char *)cfg->ports[p].devargs;
	}
	if (!has_l) {
		/* Main lcore: the lowest id no worker uses. */
		unsigned main_lc = 0;
		for (bool clash = true; clash; main_lc += clash) {
			clash = false;
			for (uint32_t i = 0; i < cfg->n_lcores; i++)
				clash |= cfg->lcores[i].lcore_id == main_lc;
		}
		int off = snprintf(lcores, sizeof(lcores), "%u", main_lc);
		for (uint32_t i = 0; i < cfg->n_lcores; i++)
			off += snprintf(lcores + off, sizeof(lcores) - (size_t)off, ",%u",
					cfg->lcores[i].lcore_id);
		a[n++] = "-l";
		a[n++] = lcores;
	}
	*out_n = n;
	return a;
}

static int check_lcores(const struct vs_config *cfg)
{
	for (uint32_t i = 0; i < cfg->n_lcores; i++) {
		unsigned lc = cfg->lcores[i].lcore_id;
		if (!rte_lcore_is_enabled(lc) || lc == rte_get_main_lcore()) {
			fprintf(stderr, "eniflow-vswitch: lcores[%u].lcore: lcore %u is %s\n", i, lc,
				lc == rte_get_main_lcore() ? "the EAL main lcore (workers need their own)"
							   : "not in the EAL lcore list (-l)");
			return -EINVAL;
		}
	}
	return 0;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Give eniflowd a chance to take the last records before the rings vanish. */
static void drain_wait(const char *instance, uint32_t n_workers, unsigned ms)
{
	for (unsigned waited = 0; waited < ms; waited += 10) {
		unsigned left = 0;
		for (uint32_t w = 0; w < n_workers; w++) {
			char name[RTE_RING_NAMESIZE];
			snprintf(name, sizeof(name), EFL_RING_EXPORT, instance, w);
			struct rte_ring *r = rte_ring_lookup(name);
			left += r ? rte_ring_count(r) : 0;
		}
		if (left == 0)
			return;
		usleep(10000);
	}
}

/*
 * rte_eal_cleanup() detaches the shared memory under the hotplug lock, and
 * a DPDK secondary killed with -9 while it held that lock for reading (an
 * eniflowd killed inside its rte_eal_init) leaves it held for good: the
 * switch would spin there forever. By then every flow is flushed and the
 * rings drained, so a cleanup that takes longer than this ends the process
 * with the run's own status and a line that says why.
 */
#define VS_CLEANUP_TIMEOUT_S 3
static volatile sig_atomic_t g_exit_rc;

static void on_cleanup_timeout(int sig)
{
	static const char msg[] = "eniflow-vswitch: EAL cleanup did not finish in "
				  RTE_STR(VS_CLEANUP_TIMEOUT_S) " s (a killed DPDK secondary left a shared lock held); "
				  "flows were flushed, exiting\n";
	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing left to tell */
	}
	_exit(g_exit_rc);
}

static int run(struct vs_switch *sw, const struct opts *o)
{
	struct fl_dp *dp = vs_switch_plugin(sw);
	struct efl_shm_header *hdr = fl_dp_shm_header(dp);
	uint32_t nw = vs_switch_workers(sw);
	const struct vs_config *cfg = vs_switch_config(sw);

	for (uint32_t i = 0; i < nw; i++)
		if (rte_eal_remote_launch(vs_worker_main, vs_switch_worker(sw, i),
					  cfg->lcores[i].lcore_id) != 0) {
			fprintf(stderr, "eniflow-vswitch: cannot start lcore %u\n",
				cfg->lcores[i].lcore_id);
			vs_switch_stop(sw);
			rte_eal_mp_wait_lcore();
			return 1;
		}
	hdr->heartbeat_ns = wall_ns();
	__atomic_store_n(&hdr->running, 1, __ATOMIC_RELEASE);
	printf("eniflow-vswitch: instance %s running: %u ports, %u ENIs, %u workers\n",
	       o->instance, cfg->n_ports, cfg->n_enis, nw);
	fflush(stdout);
	while (!g_stop) {
		usleep(100000);
		hdr->heartbeat_ns = wall_ns();
	}
	__atomic_store_n(&hdr->running, 0, __ATOMIC_RELEASE);
	vs_switch_stop(sw);
	rte_eal_mp_wait_lcore(); /* each worker flushed its flows on the way out */
	__atomic_store_n(&hdr->flushed, 1, __ATOMIC_RELEASE);
	drain_wait(o->instance, nw, o->drain_wait_ms);
	printf("eniflow-vswitch: stopped, flows flushed\n");
	fflush(stdout); /* before a cleanup that may end in _exit() */
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	char err[VS_ERR_LEN];
	int sep, n_eal, rc;

	/* A vhost-user peer (virtio_user port) that goes away must cost that
	 * port its link, not the switch its life: DPDK writes to the socket
	 * without MSG_NOSIGNAL, so a write after the peer closed raised SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	for (sep = 1; sep < argc && strcmp(argv[sep], "--") != 0; sep++)
		;
	if (sep == argc || parse_opts(argc - sep, argv + sep, &o) != 0) {
		usage(argv[0]);
		return 2;
	}
	struct vs_config *cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL || vs_config_load(o.config, cfg, err) != 0) {
		fprintf(stderr, "eniflow-vswitch: bad config: %s\n", cfg ? err : "out of memory");
		free(cfg);
		return 2;
	}
	char **eal = eal_args(sep, argv, cfg, &n_eal);
	optind = 1; /* EAL parses with getopt too */
	if (rte_eal_init(n_eal, eal) < 0) {
		fprintf(stderr, "eniflow-vswitch: EAL init failed: %s\n", rte_strerror(rte_errno));
		free(cfg);
		return 1;
	}
	if (check_lcores(cfg) != 0) {
		rte_eal_cleanup();
		return 2;
	}
	struct vs_switch_params sp = {.instance = o.instance, .enable_all = o.enable_all};
	struct vs_switch *sw = vs_switch_create(cfg, &sp, err);
	if (sw == NULL) {
		fprintf(stderr, "eniflow-vswitch: %s\n", err);
		rte_eal_cleanup();
		return 1;
	}
	if (vs_telemetry_register(sw) != 0)
		fprintf(stderr, "eniflow-vswitch: telemetry commands not registered\n");
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	rc = run(sw, &o);
	g_exit_rc = rc;
	signal(SIGALRM, on_cleanup_timeout);
	alarm(VS_CLEANUP_TIMEOUT_S);
	vs_switch_destroy(sw);
	rte_eal_cleanup();
	alarm(0);
	free(eal);
	free(cfg);
	return rc;
}
