/* SPDX-License-Identifier: ISC */
/*
 * Received descriptors: what they are (THREATS.md 27-29).
 *
 * A peer chooses what it sends: a FIFO, a tty or a device where a file is
 * expected, a memfd it shrinks after sending, an O_PATH descriptor.  These
 * calls only look (fstat, F_GET_SEALS, F_GETFL): they never open, read,
 * map or reopen a descriptor (no /proc/self/fd), so none of them can block
 * on a FIFO with no writer, wake a device, or turn O_PATH into a real open.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "fdmsg.h"
#include "util.h"

/* Wrong kind: EFTYPE where the system names it (BSD, macOS), else Linux's
 * EBADFD ("file descriptor in bad state"). */
#if defined(EFTYPE)
#define WRONG_KIND EFTYPE
#elif defined(EBADFD)
#define WRONG_KIND EBADFD
#else
#define WRONG_KIND EPERM
#endif

static int
valid_kind(mode_t kind)
{
	switch (kind) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFSOCK:
	case S_IFIFO:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFLNK: /* an O_PATH|O_NOFOLLOW descriptor of a symlink */
		return 1;
	default:
		return 0;
	}
}

int
fdmsg_fd_check_kind(int fd, mode_t kind)
{
	struct stat st;

	if (!valid_kind(kind))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	/* fstat works on O_PATH descriptors and never blocks. */
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((st.st_mode & S_IFMT) != kind)
		return -WRONG_KIND;
	return 0;
}

int
fdmsg_fd_check_sealed(int fd, size_t min_size)
{
#ifdef F_GET_SEALS
	/* SHRINK: no page the reader mapped can vanish (no SIGBUS).  GROW:
	 * the size checked here is the size for good.  WRITE is left to
	 * the application: a shared, writable memfd is a legitimate ring. */
	const int need = F_SEAL_SHRINK | F_SEAL_GROW;
	struct stat st;
	int seals;

	if (fd < 0)
		return -EBADF;
	/* First, so that a descriptor that is not open is -EBADF, never
	 * "not sealed". */
	if (fstat(fd, &st) < 0)
		return -errno;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0) {
		/* EINVAL: not a sealable file (not a memfd); EBADF after a
		 * good fstat: an O_PATH descriptor, which cannot be mapped. */
		if (errno == EINVAL || errno == EBADF)
			return -EPERM;
		return -errno;
	}
	if ((seals & need) != need)
		return -EPERM;
	if (st.st_size < 0 || (uintmax_t)st.st_size < (uintmax_t)min_size)
		return -EMSGSIZE;
	return 0;
#else
	(void)fd;
	(void)min_size;
	return -EOPNOTSUPP;
#endif
}

int
fdmsg_fd_status(int fd, int *flags)
{
	int fl;

	if (flags == NULL)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	*flags = fl;
	return 0;
}
