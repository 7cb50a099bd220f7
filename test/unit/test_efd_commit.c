/* Proves the group commit of flowlogs.json: with 8 threads changing their own flow log concurrently, every acknowledged change is already in the file when it is acknowledged, concurrent changes share writes (fewer files than changes), a process SIGKILLed at random points (40 times) leaves a file that loads and holds every change it acknowledged, and a failed write (a FIFO as the temp file: fsync fails) fails the leader's change and the change queued behind it, rolls the set back to the file's, and leaves the file as it was. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "efd_internal.h"

int failures;

#include "test_check.h"

#define N_THREADS 8
#define N_CHANGES 60

static struct efd_flowlogs set;
static struct efd_fls_commit gc;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char dir[] = "/tmp/test_efd_commit.XXXXXX";

/* sample_1_in_n of the flow log on resource res in the file, or 0. */
static uint32_t file_value(const char *res)
{
	static __thread struct efd_flowlogs t;
	struct efd_err e;
	if (efd_fls_load(&t, dir, &e) != 0)
		return 0;
	for (uint32_t i = 0; i < t.n; i++)
		if (strcmp(t.fl[i].resource, res) == 0)
			return t.fl[i].sample_1_in_n;
	return 0;
}

/* Change flow log `res` to v and wait for it, as a PATCH does. */
static int change(const char *res, uint32_t v)
{
	pthread_mutex_lock(&lock);
	struct efd_flowlog *f = NULL;
	for (uint32_t i = 0; i < set.n; i++)
		if (strcmp(set.fl[i].resource, res) == 0)
			f = &set.fl[i];
	f->sample_1_in_n = v;
	int rc = efd_commit_wait(&gc, &set, &lock);
	pthread_mutex_unlock(&lock);
	return rc;
}

static void *worker(void *arg)
{
	long t = (long)arg;
	char res[32];
	int bad = 0;

	snprintf(res, sizeof(res), "vpc-t%ld", t);
	for (uint32_t k = 1; k <= N_CHANGES; k++) {
		uint32_t v = (uint32_t)t * 1000 + k;
		int rc = change(res, v);
		uint32_t got = file_value(res);
		/* only this thread changes res: the file must hold v right now */
		if (rc != 0 || got != v) {
			if (bad++ < 3)
				CHECK(0, "%s change %u: rc %d, file holds %u", res, v, rc, got);
		}
	}
	return NULL;
}

static void add(const char *res)
{
	struct efd_flowlog fl = { .traffic_type = EFL_TRAFFIC_ALL, .agg_interval_s = 60,
				  .sample_1_in_n = 1 };
	struct efd_err e;
	snprintf(fl.resource, sizeof(fl.resource), "%s", res);
	CHECK(efd_fls_add(&set, &fl, &e) == 0, "add %s: %s", res, e.msg);
}

static void test_concurrent(void)
{
	pthread_t th[N_THREADS];
	struct efd_err e;
	char res[32];

	CHECK(efd_fls_load(&set, dir, &e) == 0 && set.n == 0, "empty dir");
	for (long t = 0; t < N_THREADS; t++) {
		snprintf(res, sizeof(res), "vpc-t%ld", t);
		add(res);
	}
	CHECK(efd_fls_save(&set) == 0, "first save");
	CHECK(efd_commit_init(&gc, &set) == 0, "init");
	for (long t = 0; t < N_THREADS; t++)
		pthread_create(&th[t], NULL, worker, (void *)t);
	for (int t = 0; t < N_THREADS; t++)
		pthread_join(th[t], NULL);
	uint64_t n = (uint64_t)N_THREADS * N_CHANGES;
	CHECK(gc.changes_durable == n && gc.changes_failed == 0 && gc.write_errors == 0,
	      "durable %llu failed %llu errors %llu, want %llu/0/0",
	      (unsigned long long)gc.changes_durable, (unsigned long long)gc.changes_failed,
	      (unsigned long long)gc.write_errors, (unsigned long long)n);
	CHECK(gc.writes < n && gc.writes > 0, "%llu writes for %llu changes: nothing shared",
	      (unsigned long long)gc.writes, (unsigned long long)n);
	printf("concurrent: %llu changes in %llu writes\n", (unsigned long long)n,
	       (unsigned long long)gc.writes);
	for (long t = 0; t < N_THREADS; t++) {
		snprintf(res, sizeof(res), "vpc-t%ld", t);
		CHECK(file_value(res) == (uint32_t)t * 1000 + N_CHANGES, "%s final: %u", res,
		      file_value(res));
	}
}

struct fail_arg {
	const char *res;
	uint32_t v;
	int rc;
};

static void *fail_worker(void *arg)
{
	struct fail_arg *a = arg;
	a->rc = change(a->res, a->v);
	return NULL;
}

/* Wait (bounded) until pred holds under the lock. */
static int wait_until(bool (*pred)(void))
{
	for (int i = 0; i < 5000; i++) {
		pthread_mutex_lock(&lock);
		bool ok = pred();
		pthread_mutex_unlock(&lock);
		if (ok)
			return 0;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

static bool leader_writing(void) { return gc.busy; }
static uint64_t seq0;
static bool two_queued(void) { return gc.seq == seq0 + 2; }

static void test_failed_write(void)
{
	char tmp[EFD_PATH_MAX + 8], buf[4096];
	struct fail_arg a = { "vpc-t0", 77, 1 }, b = { "vpc-t1", 88, 1 };
	pthread_t ta, tb;

	uint32_t before0 = file_value("vpc-t0"), before1 = file_value("vpc-t1");
	snprintf(tmp, sizeof(tmp), "%s.tmp", set.path);
	seq0 = gc.seq;
	CHECK(mkfifo(tmp, 0600) == 0, "mkfifo %s: %s", tmp, strerror(errno));
	/* a: the leader, blocked opening the FIFO; b: queued behind it */
	pthread_create(&ta, NULL, fail_worker, &a);
	CHECK(wait_until(leader_writing) == 0, "no leader");
	pthread_create(&tb, NULL, fail_worker, &b);
	CHECK(wait_until(two_queued) == 0, "second change not queued");
	int fd = open(tmp, O_RDONLY | O_NONBLOCK);
	CHECK(fd >= 0, "open fifo: %s", strerror(errno));
	fcntl(fd, F_SETFL, 0);
	while (read(fd, buf, sizeof(buf)) > 0)
		; /* the leader writes the JSON, then fsync on a FIFO fails */
	close(fd);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CHECK(a.rc == -EINVAL && b.rc == -EINVAL, "rc %d %d, want -EINVAL both", a.rc, b.rc);
	CHECK(gc.write_errors == 1 && gc.changes_failed == 2, "errors %llu failed %llu",
	      (unsigned long long)gc.write_errors, (unsigned long long)gc.changes_failed);
	CHECK(set.fl[0].sample_1_in_n == before0 && set.fl[1].sample_1_in_n == before1,
	      "memory not rolled back: %u %u, file %u %u", set.fl[0].sample_1_in_n,
	      set.fl[1].sample_1_in_n, before0, before1);
	CHECK(file_value("vpc-t0") == before0 && file_value("vpc-t1") == before1,
	      "file changed by a failed write");
	CHECK(access(tmp, F_OK) != 0, "temp file left behind");
	CHECK(change("vpc-t1", 99) == 0 && file_value("vpc-t1") == 99, "write after a failure");
}

#define N_KILLS 40
static int ack_fd;

struct ack {
	uint32_t t, v;
};

static void *kill_worker(void *arg)
{
	long t = (long)arg;
	char res[32];
	snprintf(res, sizeof(res), "vpc-t%ld", t);
	for (uint32_t v = 100000;; v++) {
		if (change(res, v) == 0) {
			struct ack a = { (uint32_t)t, v };
			if (write(ack_fd, &a, sizeof(a)) != sizeof(a))
				_exit(3);
		}
	}
	return NULL;
}

/* A child changes flow logs from 4 threads until SIGKILL; the file must load
 * and hold, per flow log, at least the last value the child acknowledged. */
static void test_killed(void)
{
	struct efd_err e;
	uint64_t acks = 0;
	srand((unsigned)time(NULL));
	for (int round = 0; round < N_KILLS; round++) {
		int p[2];
		CHECK(pipe(p) == 0, "pipe");
		pid_t pid = fork();
		if (pid == 0) {
			close(p[0]);
			ack_fd = p[1];
			efd_commit_fini(&gc);
			if (efd_fls_load(&set, dir, &e) != 0 || efd_commit_init(&gc, &set) != 0)
				_exit(2);
			pthread_t th[4];
			for (long t = 0; t < 4; t++)
				pthread_create(&th[t], NULL, kill_worker, (void *)t);
			pthread_join(th[0], NULL);
			_exit(0);
		}
		close(p[1]);
		usleep(10000 + (useconds_t)(rand() % 50000));
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);
		uint32_t acked[4] = { 0 };
		struct ack a;
		while (read(p[0], &a, sizeof(a)) == sizeof(a)) {
			acks++;
			if (a.t < 4 && a.v > acked[a.t])
				acked[a.t] = a.v;
		}
		close(p[0]);
		static struct efd_flowlogs t;
		CHECK(efd_fls_load(&t, dir, &e) == 0 && t.n == N_THREADS,
		      "kill %d: file does not load: %s (n %u)", round, e.msg, t.n);
		for (uint32_t k = 0; k < 4; k++) {
			char res[32];
			snprintf(res, sizeof(res), "vpc-t%u", k);
			uint32_t v = file_value(res);
			CHECK(v >= acked[k], "kill %d: %s holds %u, but %u was acknowledged", round, res,
			      v, acked[k]);
		}
	}
	printf("killed: %d kills, %llu acknowledged changes checked\n", N_KILLS,
	       (unsigned long long)acks);
	CHECK(acks >= N_KILLS, "only %llu changes acknowledged before the kills",
	      (unsigned long long)acks);
	char tmp[EFD_PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", set.path);
	unlink(tmp); /* a kill between open and rename leaves it: the next write truncates it */
	CHECK(efd_fls_load(&set, dir, &e) == 0, "reload after kills: %s", e.msg);
	efd_commit_fini(&gc);
	CHECK(efd_commit_init(&gc, &set) == 0, "init after kills");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_concurrent();
	test_killed();
	test_failed_write();
	efd_commit_fini(&gc);
	efd_commit_fini(NULL);
	unlink(set.path);
	rmdir(dir);
	if (failures) {
		fprintf(stderr, "test_efd_commit: %d failures\n", failures);
		return 1;
	}
	printf("test_efd_commit: ok\n");
	return 0;
}
