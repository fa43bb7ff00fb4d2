/* SPDX-License-Identifier: ISC */
/*
 * fdmsg_strerror and fdmsg_errname: a message and a name for every error
 * the library returns.  A static table, not strerror(3): thread-safe, and
 * worded for fdmsg.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>

#include "fdmsg.h"
#include "util.h"

/*
 * E(code, msg): msg NULL for an error the library only passes through
 * from a system call (bind's ELOOP, an open's EISDIR): named, with no
 * fdmsg wording.  fdmsg(1) names every error it prints from this table.
 */
#define E(code, msg) { code, #code, msg }
static const struct {
	int code;
	const char *name;
	const char *msg;
} errors[] = {
	{ 0, NULL, "success" },
	E(EINVAL, "invalid argument"),
	E(EPROTO, "protocol error: descriptors or ancillary data break "
		  "the rules"),
	E(EBADMSG, "malformed frame"),
	E(EMSGSIZE, "frame larger than the limit"),
	E(ENOBUFS, "buffer or send queue limit reached"),
	E(EOVERFLOW, "size would overflow"),
	E(ENOMEM, "out of memory"),
	E(EAGAIN, "would block: try again later"),
	E(EPIPE, "peer closed the connection"),
	E(ESHUTDOWN, "channel shut down"),
	E(ETIMEDOUT, "timed out"),
	E(EBADF, "bad descriptor, or already taken"),
	E(ENOTSOCK, "descriptor is not a socket"),
	E(EAFNOSUPPORT, "socket is not a Unix domain socket"),
	E(ESOCKTNOSUPPORT, "socket type not supported"),
	E(EOPNOTSUPP, "not supported on this system"),
	E(ESRCH, "peer process no longer exists"),
	E(EPERM, "operation not permitted"),
	E(EACCES, "permission denied"),
	E(EEXIST, "path exists and is not a stale socket"),
	E(EADDRINUSE, "address in use by a live listener"),
	E(ENAMETOOLONG, "socket path too long"),
	E(ENOTCONN, "socket not connected"),
	E(ECONNRESET, "connection reset by peer"),
	E(ECONNREFUSED, "connection refused: nobody listens"),
	E(ENOENT, "no such file or socket"),
	E(ETOOMANYREFS, "too many descriptors in flight"),
	E(EMFILE, "too many open descriptors in this process"),
#ifdef EBADFD
	E(EBADFD, "descriptor is not of the kind required"),
#endif
#ifdef EFTYPE
	E(EFTYPE, "descriptor is not of the kind required"),
#endif
	E(ENFILE, "too many open files in the system"),
	E(EINTR, "interrupted"),
	E(EIO, NULL), E(EISDIR, NULL), E(ENOTDIR, NULL), E(ELOOP, NULL),
	E(ENXIO, NULL), E(ENODEV, NULL), E(EFBIG, NULL), E(ENOSPC, NULL),
	E(EROFS, NULL), E(ERANGE, NULL), E(ECONNABORTED, NULL),
	E(EPROTOTYPE, NULL), E(ENOPROTOOPT, NULL), E(EPROTONOSUPPORT, NULL),
	E(EADDRNOTAVAIL, NULL), E(EDESTADDRREQ, NULL), E(EISCONN, NULL),
	E(ENOSYS, NULL), E(EBUSY, NULL), E(ETXTBSY, NULL),
};
#undef E

/* The table's index for err of either sign, or -1. */
static int
lookup(int err)
{
	size_t i;

	/* -INT_MIN does not exist; no errno is that large anyway. */
	if (err == INT_MIN)
		return -1;
	if (err < 0)
		err = -err;
	for (i = 0; i < ARRAY_SIZE(errors); i++)
		if (errors[i].code == err)
			return (int)i;
	return -1;
}

const char *
fdmsg_strerror(int err)
{
	int i = lookup(err);

	if (i < 0 || errors[i].msg == NULL)
		return "unknown error";
	return errors[i].msg;
}

const char *
fdmsg_errname(int err)
{
	int i = lookup(err);

	return i < 0 ? NULL : errors[i].name;
}
