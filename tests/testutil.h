/* Helpers shared by the Criterion suites. */
#ifndef FDMSG_TESTUTIL_H
#define FDMSG_TESTUTIL_H

#include <dirent.h>
#include <criterion/criterion.h>

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

/* Brackets a test body: the descriptor table must end as it began. */
#define FD_GUARD_BEGIN() const int fd_guard_base_ = fd_count()
#define FD_GUARD_END()                                                   \
	cr_assert_eq(fd_count(), fd_guard_base_,                         \
		     "descriptor leak: %d open, %d before", fd_count(),  \
		     fd_guard_base_)

#endif
