/*
 * fault_io.c - LD_PRELOAD shim that fails one chosen storage call.
 *
 * It wraps the calls the segment writer and recovery make (open/openat,
 * write/pwrite/writev, fsync/fdatasync, rename/renameat/renameat2) and, for
 * files under FAULT_DIR only, counts them per class. The FAULT_AT-th call of
 * class FAULT_OP fails as FAULT_ERR says:
 *   EIO, ENOSPC    the call does nothing and returns -1 with that errno;
 *   SHORT          a write writes half its bytes and returns that count
 *                  (legal for regular files: the caller must finish it);
 *   SHORT_ENOSPC   as SHORT, then the next write to that fd fails with
 *                  ENOSPC: what a filling disk really does.
 * Classes: write (write, pwrite, writev), fsync (fsync, fdatasync), rename,
 * open, truncate (ftruncate, which recovery uses to cut a torn tail). Whether an fd is "under FAULT_DIR" is decided from
 * /proc/self/fd/N at each call, so dup/close/reuse cannot confuse it.
 * At exit, if FAULT_REPORT names a file, the per-class counts and whether
 * the fault fired are written there (one "key=value" line), which is how a
 * clean run tells the test how many indexes to try.
 */
/* define write/open/pwrite themselves, not their *64 aliases */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

enum fclass { FC_WRITE, FC_FSYNC, FC_RENAME, FC_OPEN, FC_TRUNC, FC_N };
static const char *const class_names[FC_N] = {"write", "fsync", "rename", "open", "truncate"};
enum fmode { FM_EIO, FM_ENOSPC, FM_SHORT, FM_SHORT_ENOSPC };

static struct {
	bool init;
	char dir[PATH_MAX];
	size_t dir_len;
	int op;            /* class to fail, -1 = none */
	unsigned long at;  /* 1-based index of the call to fail, 0 = none */
	enum fmode mode;
	unsigned long count[FC_N];
	int fired;         /* 1 once the fault has been injected */
	int enospc_fd;     /* SHORT_ENOSPC: fd whose next write fails */
	char report[PATH_MAX];
} F = {.op = -1, .enospc_fd = -1};

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned int);
static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_ftruncate)(int, off_t);

static void *sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (!p) {
		fprintf(stderr, "fault_io: cannot find %s\n", name);
		abort();
	}
	return p;
}

static void setup(void)
{
	const char *d = getenv("FAULT_DIR"), *op = getenv("FAULT_OP");
	const char *at = getenv("FAULT_AT"), *err = getenv("FAULT_ERR");
	const char *rep = getenv("FAULT_REPORT");

	real_write = sym("write");
	real_pwrite = sym("pwrite");
	real_writev = sym("writev");
	real_fsync = sym("fsync");
	real_fdatasync = sym("fdatasync");
	real_rename = sym("rename");
	real_renameat = sym("renameat");
	real_renameat2 = sym("renameat2");
	real_open = sym("open");
	real_openat = sym("openat");
	real_ftruncate = sym("ftruncate");
	if (d && *d && realpath(d, F.dir))
		F.dir_len = strlen(F.dir);
	for (int c = 0; op && c < FC_N; c++)
		if (!strcmp(op, class_names[c]))
			F.op = c;
	F.at = at ? strtoul(at, NULL, 10) : 0;
	if (err && !strcmp(err, "ENOSPC"))
		F.mode = FM_ENOSPC;
	else if (err && !strcmp(err, "SHORT"))
		F.mode = FM_SHORT;
	else if (err && !strcmp(err, "SHORT_ENOSPC"))
		F.mode = FM_SHORT_ENOSPC;
	else
		F.mode = FM_EIO;
	if (rep)
		snprintf(F.report, sizeof(F.report), "%s", rep);
	F.init = true;
}

__attribute__((constructor)) static void fault_init(void)
{
	if (!F.init)
		setup();
}

__attribute__((destructor)) static void fault_fini(void)
{
	char line[256];
	int fd, n;

	if (!F.report[0])
		return;
	n = snprintf(line, sizeof(line),
		     "write=%lu fsync=%lu rename=%lu open=%lu truncate=%lu fired=%d\n",
		     F.count[FC_WRITE], F.count[FC_FSYNC], F.count[FC_RENAME], F.count[FC_OPEN],
		     F.count[FC_TRUNC], F.fired);
	fd = real_open(F.report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (real_write(fd, line, (size_t)n) != n)
			fprintf(stderr, "fault_io: short report write\n");
		close(fd);
	}
}

static bool path_under(const char *p)
{
	return F.dir_len && !strncmp(p, F.dir, F.dir_len) &&
	       (p[F.dir_len] == '/' || p[F.dir_len] == '\0');
}

static bool fd_under(int fd)
{
	char link[64], p[PATH_MAX];
	ssize_t n;

	if (!F.dir_len || fd < 0)
		return false;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, p, sizeof(p) - 1);
	if (n <= 0)
		return false;
	p[n] = '\0';
	return path_under(p);
}

/* Absolute form of (dirfd, name) for the directory test; best effort. */
static bool at_under(int dirfd, const char *name)
{
	char base[PATH_MAX], p[PATH_MAX * 2];
	char link[64];
	ssize_t n;

	if (!F.dir_len || !name)
		return false;
	if (name[0] == '/') {
		snprintf(p, sizeof(p), "%s", name);
	} else {
		if (dirfd == AT_FDCWD) {
			if (!getcwd(base, sizeof(base)))
				return false;
		} else {
			snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
			n = readlink(link, base, sizeof(base) - 1);
			if (n <= 0)
				return false;
			base[n] = '\0';
		}
		snprintf(p, sizeof(p), "%s/%s", base, name);
	}
	/* the dir itself may be given through a symlink: compare its real path */
	char *slash = strrchr(p, '/'), real[PATH_MAX];
	if (slash && slash != p) {
		*slash = '\0';
		if (realpath(p, real)) {
			*slash = '/';
			snprintf(base, sizeof(base), "%s%s", real, slash);
			return path_under(base);
		}
		*slash = '/';
	}
	return path_under(p);
}

/* Count one call of class c; true if it is the one to fail. */
static bool hit(enum fclass c)
{
	if (!F.init)
		setup();
	F.count[c]++;
	if ((int)c != F.op || F.count[c] != F.at)
		return false;
	F.fired = 1;
	fprintf(stderr, "fault_io: injecting %s at %s #%lu\n",
		F.mode == FM_EIO ? "EIO" : F.mode == FM_ENOSPC ? "ENOSPC" :
		F.mode == FM_SHORT ? "SHORT" : "SHORT_ENOSPC", class_names[c], F.at);
	return true;
}

/* errno for a failing call in the current mode (short modes: ENOSPC). */
static int fail_errno(void)
{
	return F.mode == FM_EIO ? EIO : ENOSPC;
}

/* Shared logic of the write family: -2 = do the real call with len bytes. */
static ssize_t write_fault(int fd, size_t *len)
{
	if (!F.init)
		setup();
	if (!fd_under(fd))
		return -2;
	if (F.enospc_fd == fd) { /* the write after a SHORT_ENOSPC short write */
		F.enospc_fd = -1;
		F.count[FC_WRITE]++;
		errno = ENOSPC;
		return -1;
	}
	if (!hit(FC_WRITE))
		return -2;
	if ((F.mode == FM_SHORT || F.mode == FM_SHORT_ENOSPC) && *len > 1) {
		*len /= 2;
		if (F.mode == FM_SHORT_ENOSPC)
			F.enospc_fd = fd;
		return -2;
	}
	errno = fail_errno();
	return -1;
}

ssize_t write(int fd, const void *buf, size_t len)
{
	ssize_t r = write_fault(fd, &len);
	return r == -2 ? real_write(fd, buf, len) : r;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t r = write_fault(fd, &len);
	return r == -2 ? real_pwrite(fd, buf, len, off) : r;
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	return pwrite(fd, buf, len, off);
}

/* A short writev keeps whole iovecs up to half the total (at least part of one). */
ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	size_t total = 0, len;
	ssize_t r;

	for (int i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	len = total;
	r = write_fault(fd, &len);
	if (r != -2)
		return r;
	if (len == total)
		return real_writev(fd, iov, cnt);
	struct iovec cut[cnt > 0 ? cnt : 1];
	int n = 0;
	for (size_t left = len; n < cnt && left; n++) {
		cut[n] = iov[n];
		if (cut[n].iov_len > left)
			cut[n].iov_len = left;
		left -= cut[n].iov_len;
	}
	return real_writev(fd, cut, n);
}

static int sync_fault(int fd)
{
	if (!F.init)
		setup();
	if (!fd_under(fd) || !hit(FC_FSYNC))
		return 0;
	errno = fail_errno();
	return -1;
}

int fsync(int fd)
{
	return sync_fault(fd) ? -1 : real_fsync(fd);
}

int fdatasync(int fd)
{
	return sync_fault(fd) ? -1 : real_fdatasync(fd);
}

static int rename_fault(int ofd, const char *from)
{
	if (!F.init)
		setup();
	if (!at_under(ofd, from) || !hit(FC_RENAME))
		return 0;
	errno = fail_errno();
	return -1;
}

int rename(const char *from, const char *to)
{
	return rename_fault(AT_FDCWD, from) ? -1 : real_rename(from, to);
}

int renameat(int ofd, const char *from, int nfd, const char *to)
{
	return rename_fault(ofd, from) ? -1 : real_renameat(ofd, from, nfd, to);
}

int renameat2(int ofd, const char *from, int nfd, const char *to, unsigned int flags)
{
	return rename_fault(ofd, from) ? -1 : real_renameat2(ofd, from, nfd, to, flags);
}

/* Only opens that may write count: reads cannot fail the writer's way. */
static int open_fault(int dirfd, const char *path, int flags)
{
	if (!F.init)
		setup();
	if (!(flags & (O_WRONLY | O_RDWR | O_CREAT)) || !at_under(dirfd, path) || !hit(FC_OPEN))
		return 0;
	errno = fail_errno();
	return -1;
}

static mode_t open_mode(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t m = open_mode(flags, ap);
	va_end(ap);
	return open_fault(AT_FDCWD, path, flags) ? -1 : real_open(path, flags, m);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t m = open_mode(flags, ap);
	va_end(ap);
	return open_fault(AT_FDCWD, path, flags) ? -1 : real_open(path, flags, m);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t m = open_mode(flags, ap);
	va_end(ap);
	return open_fault(dirfd, path, flags) ? -1 : real_openat(dirfd, path, flags, m);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t m = open_mode(flags, ap);
	va_end(ap);
	return open_fault(dirfd, path, flags) ? -1 : real_openat(dirfd, path, flags, m);
}

int ftruncate(int fd, off_t len)
{
	if (!F.init)
		setup();
	if (fd_under(fd) && hit(FC_TRUNC)) {
		errno = fail_errno();
		return -1;
	}
	return real_ftruncate(fd, len);
}

int ftruncate64(int fd, off_t len)
{
	return ftruncate(fd, len);
}
