/*
 * replay_main.c - a stand-in for libFuzzer's main(): feeds every regular file
 * of the corpus directories (or files) named on the command line to
 * LLVMFuzzerTestOneInput(), so the corpus runs as a plain test under any
 * compiler and sanitizer. Each input sits in a heap buffer of exactly its
 * size, so an over-read is an ASan report. Fails on an empty corpus: a test
 * that replays nothing proves nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Run one file; returns 0 or -errno (and says which file). */
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;
	size_t got;

	if (!f || fstat(fileno(f), &st) != 0) {
		int e = errno;
		fprintf(stderr, "replay: %s: %s\n", path, strerror(e));
		if (f)
			fclose(f);
		return -e;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	got = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	if (got != (size_t)st.st_size) {
		fprintf(stderr, "replay: %s: short read %zu of %lld\n", path, got,
			(long long)st.st_size);
		free(buf);
		return -EIO;
	}
	LLVMFuzzerTestOneInput(buf, got);
	free(buf);
	return 0;
}

/* Run every regular file in dir (sorted, for a stable order). Returns files run or -errno. */
static long run_dir(const char *dir)
{
	struct dirent **ents;
	char path[4096];
	long n = 0;
	int k = scandir(dir, &ents, NULL, alphasort);

	if (k < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	for (int i = 0; i < k; i++) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(path) == 0)
				n++;
			else
				n = n >= 0 ? -EIO : n;
		}
		free(ents[i]);
	}
	free(ents);
	return n;
}

int main(int argc, char **argv)
{
	long total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		long n;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : (run_file(argv[i]) == 0 ? 1 : -EIO);
		if (n < 0)
			return 1;
		total += n;
	}
	if (total == 0) {
		fprintf(stderr, "replay: no inputs found in the corpus\n");
		return 1;
	}
	printf("replay: %ld inputs ran\n", total);
	return 0;
}
