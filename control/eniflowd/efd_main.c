/*
 * efd_main.c - eniflowd: command line, start-up and the main loop.
 *
 * The main thread waits for the switch, attaches, then loops: publish
 * flow-log config, drain the rings into blocks, rotate, apply retention.
 * The API runs in libmicrohttpd's threads from the first second, switch or
 * not. When the switch goes away the daemon seals what it holds and
 * re-execs itself (a process can run rte_eal_init only once), handing the
 * listening socket to the new image in EFD_LISTEN_FD so clients never see
 * the API vanish.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <rte_eal.h>
#include "efd_internal.h"



/*
 * rte_eal_init as a secondary waits, without a timeout, for the primary to
 * finish its own init; a primary that dies half-way would hang us there.
 * While it runs, SIGTERM exits at once (nothing is open yet) and a SIGALRM
 * watchdog re-execs the daemon with the listening socket: execve and
 * close_range are plain syscalls, safe in a signal handler.
 */
static volatile sig_atomic_t in_eal_init;
/* Set by reexec() once it is committed. A process-directed SIGTERM is
 * taken by any thread that does not block it (HTTP, EAL threads), and a
 * flag set there after reexec() checked it would die with the old image:
 * everything is drained and sealed by then, so the handler exits at once. */
static volatile sig_atomic_t reexec_started;
static int watchdog_fd = -1;
static char **saved_argv;

static void close_others(int keep)
{
	if (keep > 3)
		syscall(__NR_close_range, 3U, (unsigned)keep - 1, 0U);
	syscall(__NR_close_range, (unsigned)(keep > 2 ? keep + 1 : 3), ~0U, 0U);
}

static void on_signal(int sig)
{
	if (in_eal_init && sig != SIGALRM)
		_exit(0);
	if (in_eal_init && sig == SIGALRM) {
		static const char msg[] = "eniflowd level=error event=eal_init_timeout\n";
		if (write(2, msg, sizeof(msg) - 1) < 0) { /* nothing to do */ }
		close_others(watchdog_fd);
		execv("/proc/self/exe", saved_argv);
		_exit(1);
	}
	efd_stop_flag = 1;
	if (reexec_started && sig != SIGALRM)
		_exit(0);
}

/** rte_eal_init under the watchdog. */
static int eal_init_guarded(struct efd *d, int listen_fd)
{
	char env[32];

	snprintf(env, sizeof(env), "%d", listen_fd);
	setenv("EFD_LISTEN_FD", env, 1);
	fcntl(listen_fd, F_SETFD, 0);
	watchdog_fd = listen_fd;
	in_eal_init = 1;
	alarm(d->cfg.eal_init_timeout_s);
	int rc = efd_attach_eal(d);
	alarm(0);
	in_eal_init = 0;
	fcntl(listen_fd, F_SETFD, FD_CLOEXEC);
	unsetenv("EFD_LISTEN_FD");
	return rc;
}

static void usage(void)
{
	fprintf(stderr, "usage: eniflowd --config FILE [--instance NAME]\n"
			"  Serves the eniflow REST API and drains eniflow-vswitch's flow records\n"
			"  into segment files. See docs/operations.md.\n");
}

static int parse_args(int argc, char **argv, struct efd_config *c)
{
	const char *config = NULL, *instance = NULL;
	struct efd_err err;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[++i];
		else if (strcmp(argv[i], "--instance") == 0 && i + 1 < argc)
			instance = argv[++i];
		else {
			usage();
			return -EINVAL;
		}
	}
	if (config == NULL) {
		usage();
		return -EINVAL;
	}
	if (efd_config_load(config, c, &err) != 0) {
		fprintf(stderr, "eniflowd: config: %s\n", err.msg);
		return -EINVAL;
	}
	if (instance) {
		if (strlen(instance) > EFL_INSTANCE_MAX || !*instance ||
		    strspn(instance, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(instance)) {
			fprintf(stderr, "eniflowd: --instance: 1..%d characters of [a-z0-9_]\n",
				EFL_INSTANCE_MAX);
			return -EINVAL;
		}
		snprintf(c->instance, sizeof(c->instance), "%s", instance);
	}
	return 0;
}

/** The listening socket: inherited across re-exec, or made from the config. */
static int get_listen_fd(const struct efd_config *c)
{
	const char *env = getenv("EFD_LISTEN_FD");
	struct efd_err err;

	if (env) {
		int fd = atoi(env), acc = 0;
		socklen_t l = sizeof(acc);
		unsetenv("EFD_LISTEN_FD");
		if (fd > 2 && getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) == 0 && acc) {
			fcntl(fd, F_SETFD, FD_CLOEXEC);
			return fd;
		}
		efd_log("warn", "inherited_fd_bad", "fd=%s", env);
	}
	int fd = efd_listen_socket(c->listen, &err);
	if (fd < 0)
		fprintf(stderr, "eniflowd: %s\n", err.msg);
	return fd;
}

static int init(struct efd *d, int argc, char **argv)
{
	struct efd_err err;

	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	d->start_ns = efd_now_ns();
	if (parse_args(argc, argv, &d->cfg) != 0)
		return -EINVAL;
	d->store = efd_store_open(d);
	if (d->store == NULL) {
		fprintf(stderr, "eniflowd: data_dir %s: %s\n", d->cfg.data_dir, strerror(errno));
		return -errno;
	}
	if (efd_fls_load(&d->fls, d->cfg.data_dir, &err) != 0) {
		fprintf(stderr, "eniflowd: %s\n", err.msg);
		return -EINVAL;
	}
	if (efd_commit_init(&d->fls_commit, &d->fls) != 0)
		return -ENOMEM;
	d->drain = efd_drain_create(d);
	return d->drain ? 0 : -ENOMEM;
}

/**
 * Close every descriptor but stdio and keep. EAL opens its hugepage and
 * fbarray files without close-on-exec and holds locks on them; carried
 * into the new image they would keep the next primary from starting.
 */
static void close_fds_except(int keep)
{
	DIR *dh = opendir("/proc/self/fd");
	struct dirent *de;
	int fds[1024], n = 0;

	if (dh == NULL)
		return;
	while ((de = readdir(dh)) != NULL && n < 1024) {
		int fd = atoi(de->d_name);
		if (fd > 2 && fd != keep && fd != dirfd(dh))
			fds[n++] = fd;
	}
	closedir(dh);
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/**
 * Hand the listening socket to a fresh image of ourselves. Returns only on
 * failure, or when a stop was asked for (then nothing was torn down).
 * SIGTERM/SIGINT stay blocked across the exec: one arriving after the last
 * check of efd_stop_flag stays pending, and the new image, which unblocks
 * them once its handlers are in place, still stops (a kill during a re-exec
 * was lost before). That holds for the main thread only: one that another
 * thread takes ends the process there (reexec_started), which is what the
 * new image would do.
 */
static int reexec(struct efd *d, struct efd_http *h, char **argv)
{
	char env[32];
	sigset_t stop_sigs;

	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGTERM);
	sigaddset(&stop_sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &stop_sigs, NULL);
	reexec_started = 1;
	if (efd_stop_flag) {
		reexec_started = 0;
		sigprocmask(SIG_UNBLOCK, &stop_sigs, NULL);
		return 0;
	}
	int fd = efd_http_stop(h, true);

	efd_store_close(d->store);
	if (fd >= 0) {
		fcntl(fd, F_SETFD, 0);
		snprintf(env, sizeof(env), "%d", fd);
		setenv("EFD_LISTEN_FD", env, 1);
	}
	efd_log("info", "reexec", "listen_fd=%d", fd);
	const char *delay = getenv("EFD_TEST_REEXEC_DELAY_MS"); /* test hook: widen the window */
	if (delay)
		usleep((useconds_t)strtoul(delay, NULL, 10) * 1000);
	close_fds_except(fd);
	execv("/proc/self/exe", argv);
	reexec_started = 0;
	efd_log("error", "reexec_failed", "err=\"%s\"", strerror(errno));
	return -1;
}

/** Attached: drain until the primary dies or we are told to stop. */
static void run_attached(struct efd *d)
{
	uint64_t last_check = 0;

	efd_drain_reconcile(d->drain);
	efd_publish_config(d);
	while (!efd_stop_flag) {
		uint64_t now = efd_now_ns();
		efd_publish_config(d);
		unsigned n = efd_drain_poll(d->drain, now, false);
		efd_store_tick(d->store, now);
		if (now - last_check >= 100000000ULL) {
			last_check = now;
			if (!efd_primary_alive(d)) {
				efd_log("warn", "switch_gone", "instance=%s", d->cfg.instance);
				/* health says so now ("draining"), not only after the
				 * final drain ("down": everything sealed) */
				pthread_mutex_lock(&d->lock);
				d->switch_gone = true;
				pthread_mutex_unlock(&d->lock);
				break;
			}
		}
		if (n == 0)
			efd_drain_idle(d->drain, 1000); /* a flow-log change ends it early */
	}
	/* Our mappings keep the hugepages alive even after the primary exits,
	 * so what it flushed at shutdown can still be drained. */
	uint64_t until = efd_now_ns() + 2000000000ULL; /* bounded: a live switch keeps producing */
	while (efd_drain_poll(d->drain, efd_now_ns(), true) > 0 && efd_now_ns() < until)
		;
	efd_drain_seal(d->drain);
	pthread_mutex_lock(&d->lock);
	d->attached = false;
	d->switch_gone = false;
	memset(&d->shm, 0, sizeof(d->shm));
	pthread_mutex_unlock(&d->lock);
}

int main(int argc, char **argv)
{
	static struct efd d;
	struct sigaction sa = { .sa_handler = on_signal };

	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	/* Signal masks survive execve. A re-exec leaves SIGTERM/SIGINT blocked
	 * (reexec(): a pending stop is delivered now), and the watchdog's exec
	 * runs inside the SIGALRM handler, so SIGALRM arrives blocked: left so,
	 * the next watchdog alarm would stay pending and a second hang in
	 * rte_eal_init would never be cut. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGALRM);
	sigprocmask(SIG_UNBLOCK, &sigs, NULL);
	saved_argv = argv;
	if (init(&d, argc, argv) != 0)
		return 2;
	int fd = get_listen_fd(&d.cfg);
	if (fd < 0)
		return 2;
	struct efd_http *h = efd_http_start(&d, fd);
	if (h == NULL) {
		fprintf(stderr, "eniflowd: cannot start the HTTP server on %s\n", d.cfg.listen);
		return 2;
	}
	efd_log("info", "listening", "listen=%s instance=%s file_prefix=%s", d.cfg.listen,
		d.cfg.instance, d.cfg.file_prefix);
	while (!efd_stop_flag) {
		efd_store_tick(d.store, efd_now_ns());
		if (!efd_primary_present(&d.cfg)) {
			usleep(200000);
			continue;
		}
		if (eal_init_guarded(&d, fd) != 0 || efd_attach(&d) != 0) {
			/* EAL cannot be initialised twice: start over in a fresh image. */
			sleep(1);
			if (reexec(&d, h, argv) != 0)
				return 1;
			break;
		}
		run_attached(&d);
		if (!efd_stop_flag) {
			if (reexec(&d, h, argv) != 0)
				return 1;
			break;
		}
	}
	efd_log("info", "stopping", "instance=%s", d.cfg.instance);
	efd_http_stop(h, false);
	efd_store_close(d.store);
	efd_drain_destroy(d.drain);
	if (d.ctr.attaches)
		rte_eal_cleanup();
	return 0;
}
