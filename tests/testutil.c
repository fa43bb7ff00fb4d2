/* SPDX-License-Identifier: ISC */
/* The test library: see testutil.h. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

int
fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d, "opendir /proc/self/fd: %s", strerror(errno));
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* The highest open descriptor and what it names, for a leak's message. */
static void
describe_highest(char *out, size_t len)
{
	char path[64], target[PATH_MAX];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long fd, top = -1;
	ssize_t n;

	snprintf(out, len, "unknown");
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		fd = strtol(e->d_name, NULL, 10);
		if (e->d_name[0] != '.' && fd != dirfd(d) && fd > top)
			top = fd;
	}
	closedir(d);
	snprintf(path, sizeof(path), "/proc/self/fd/%ld", top);
	n = readlink(path, target, sizeof(target) - 1);
	if (top < 0 || n < 0)
		return;
	target[n] = '\0';
	snprintf(out, len, "fd %ld -> %s", top, target);
}

void
fd_guard_check(int base, const char *what)
{
	char top[PATH_MAX + 64];
	int now = fd_count();

	if (now == base)
		return;
	describe_highest(top, sizeof(top));
	cr_assert_fail("%s: descriptor leak: %d open, %d before (highest: %s)",
		       what, now, base, top);
}

int
fd_count_of(pid_t pid)
{
	char p[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(p, sizeof(p), "/proc/%ld/fd", (long)pid);
	d = opendir(p);
	cr_assert_not_null(d, "opendir %s: %s", p, strerror(errno));
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

long
pidfd_pid(int pidfd)
{
	char path[64], line[256];
	long pid = -2;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	f = fopen(path, "re");
	if (f == NULL)
		return -2;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Pid: %ld", &pid) == 1)
			break;
	fclose(f);
	return pid;
}

int
dir_entry_count(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d, "opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

int
rm_tree(const char *dir)
{
	return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
