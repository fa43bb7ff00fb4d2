/* SPDX-License-Identifier: ISC */
/* Helpers shared by the Criterion suites. */
#ifndef FDMSG_TESTUTIL_H
#define FDMSG_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <criterion/criterion.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/*
 * valgrind keeps descriptors of its own at the top of the table, so a test
 * that moves RLIMIT_NOFILE measures valgrind, not fdmsg: such tests skip
 * there (they run in the gcc and sanitizer builds of ci/test).
 */
#define SKIP_UNDER_VALGRIND()                                            \
	do {                                                             \
		if (RUNNING_ON_VALGRIND)                                 \
			cr_skip_test("RLIMIT_NOFILE test: valgrind owns "  \
				     "the top of the descriptor table"); \
	} while (0)

/* Open descriptors of this process, counted through /proc/self/fd. */
static inline int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d, "opendir /proc/self/fd");
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* Sleeps ms milliseconds, through signals.  For pacing a peer, never
 * for a timing assertion. */
static inline void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The pid a pidfd refers to, from its /proc/self/fdinfo "Pid:" line:
 * -1 once the process is gone, -2 when unreadable.  No Criterion
 * asserts: children use it. */
static inline long pidfd_pid(int pidfd)
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

/* Open descriptors of another process, counted through /proc/PID/fd. */
static inline int fd_count_of(pid_t pid)
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

/* Brackets a test body: the descriptor table must end as it began. */
#define FD_GUARD_BEGIN() const int fd_guard_base_ = fd_count()
#define FD_GUARD_END()                                                   \
	cr_assert_eq(fd_count(), fd_guard_base_,                         \
		     "descriptor leak: %d open, %d before", fd_count(),  \
		     fd_guard_base_)

#endif
