/* SPDX-License-Identifier: ISC */
/*
 * Replay runner for builds without a fuzzing engine (gcc, plain clang):
 * feeds every file named on the command line, and every file under every
 * directory named there (recursively, in sorted order), to the harness
 * once.  Each input is copied into an exact-size heap block so that
 * AddressSanitizer catches a read one byte past its end.  The same pattern
 * as systemd's src/fuzz/fuzz-main.c and harfbuzz's test/fuzzing/main.cc.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static unsigned long ninputs;

/* Reads the whole file into a malloc of exactly its size (1 for empty). */
static int
read_file(const char *path, uint8_t **out, size_t *outlen)
{
	uint8_t *buf = NULL, *nbuf;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			nbuf = realloc(buf, cap);
			if (nbuf == NULL) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			free(buf);
			close(fd);
			return (int)n;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	/* Exact size: the harness must not read data[len]. */
	nbuf = malloc(len ? len : 1);
	if (nbuf == NULL) {
		free(buf);
		return -ENOMEM;
	}
	if (len)
		memcpy(nbuf, buf, len);
	free(buf);
	*out = nbuf;
	*outlen = len;
	return 0;
}

static int
run_file(const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r;

	r = read_file(path, &data, &len);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		return -1;
	}
	fprintf(stderr, "Running: %s (%zu bytes)\n", path, len);
	/* Like libFuzzer: a valid pointer even for an empty input. */
	(void)LLVMFuzzerTestOneInput(data, len);
	free(data);
	ninputs++;
	return 0;
}

static int run_path(const char *path);

static int
skip_entry(const struct dirent *d)
{
	/* Dot files too: README-style notes never hide in a corpus. */
	return d->d_name[0] != '.';
}

static int
run_dir(const char *path)
{
	struct dirent **ents;
	int n, i, rc = 0;

	n = scandir(path, &ents, skip_entry, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		size_t plen = strlen(path) + strlen(ents[i]->d_name) + 2;
		char *sub = malloc(plen);

		if (sub == NULL) {
			rc = -1;
		} else {
			snprintf(sub, plen, "%s/%s", path, ents[i]->d_name);
			if (run_path(sub) < 0)
				rc = -1;
			free(sub);
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

static int
run_path(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		return run_dir(path);
	return run_file(path);
}

int
main(int argc, char **argv)
{
	int i, rc = 0;

	if (LLVMFuzzerInitialize != NULL)
		(void)LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		/* libFuzzer-style flags (-runs=0 ...) are accepted and ignored. */
		if (argv[i][0] == '-')
			continue;
		if (run_path(argv[i]) < 0)
			rc = 1;
	}
	printf("%lu inputs\n", ninputs);
	return rc;
}
