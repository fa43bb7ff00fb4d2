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

/* The descriptors listed in /proc/PID/fd into t; for this process
 * (self), without the listing's own. */
static void
fd_table_read(const char *dir, int self, struct fd_table *t)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	long fd;

	cr_assert_not_null(d, "opendir %s: %s", dir, strerror(errno));
	memset(t, 0, sizeof(*t));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		fd = strtol(e->d_name, NULL, 10);
		if (self && fd == dirfd(d))
			continue;
		t->count++;
		if (fd >= 0 && fd < FD_TABLE_MAX)
			t->open[fd / 8] |= (unsigned char)(1u << (fd % 8));
	}
	closedir(d);
}

void
fd_table_take(struct fd_table *t)
{
	fd_table_read("/proc/self/fd", 1, t);
}

int
fd_count(void)
{
	struct fd_table t;

	fd_table_take(&t);
	return t.count;
}

static int
fd_table_has(const struct fd_table *t, int fd)
{
	return (t->open[fd / 8] >> (fd % 8)) & 1;
}

/* Appends " +N (target)" or " -N" for a descriptor that differs. */
static void
fd_table_name(char *out, size_t len, int fd, int opened)
{
	char path[64], target[256];
	size_t used = strlen(out);
	ssize_t n = -1;

	if (opened) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
	}
	target[n < 0 ? 0 : n] = '\0';
	if (used < len)
		snprintf(out + used, len - used, n < 0 ? " %c%d" : " %c%d (%s)",
			 opened ? '+' : '-', fd, target);
}

void
fd_table_check(const struct fd_table *before, const char *what)
{
	struct fd_table now;
	char diff[1024] = "";
	int fd;

	fd_table_take(&now);
	if (now.count == before->count &&
	    memcmp(now.open, before->open, sizeof(now.open)) == 0)
		return;
	for (fd = 0; fd < FD_TABLE_MAX; fd++)
		if (fd_table_has(&now, fd) != fd_table_has(before, fd))
			fd_table_name(diff, sizeof(diff), fd,
				      fd_table_has(&now, fd));
	cr_assert_fail("%s: descriptor leak: %d open, %d before;%s", what,
		       now.count, before->count,
		       diff[0] != '\0' ? diff : " (above the first 1024)");
}

int
fd_count_of(pid_t pid)
{
	char dir[64];
	struct fd_table t;

	snprintf(dir, sizeof(dir), "/proc/%ld/fd", (long)pid);
	fd_table_read(dir, 0, &t);
	return t.count;
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
