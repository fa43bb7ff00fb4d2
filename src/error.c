/* SPDX-License-Identifier: ISC */
/*
 * fdmsg_strerror: a message for every error the library returns.  A
 * static table, not strerror(3): thread-safe, and worded for fdmsg.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>

#include "fdmsg.h"
#include "util.h"

static const struct {
	int code;
	const char *msg;
} errors[] = {
	{ 0, "success" },
	{ EINVAL, "invalid argument" },
	{ EPROTO, "protocol error: descriptors or ancillary data break "
		  "the rules" },
	{ EBADMSG, "malformed frame" },
	{ EMSGSIZE, "frame larger than the limit" },
	{ ENOBUFS, "buffer or send queue limit reached" },
	{ EOVERFLOW, "size would overflow" },
	{ ENOMEM, "out of memory" },
	{ EAGAIN, "would block: try again later" },
	{ EPIPE, "peer closed the connection" },
	{ ESHUTDOWN, "channel shut down" },
	{ ETIMEDOUT, "timed out" },
	{ EBADF, "bad descriptor, or already taken" },
	{ ENOTSOCK, "descriptor is not a socket" },
	{ EAFNOSUPPORT, "socket is not a Unix domain socket" },
	{ ESOCKTNOSUPPORT, "socket type not supported" },
	{ EOPNOTSUPP, "not supported on this system" },
	{ ESRCH, "peer process no longer exists" },
	{ EPERM, "operation not permitted" },
	{ EACCES, "permission denied" },
	{ EEXIST, "path exists and is not a stale socket" },
	{ EADDRINUSE, "address in use by a live listener" },
	{ ENAMETOOLONG, "socket path too long" },
	{ ENOTCONN, "socket not connected" },
	{ ECONNRESET, "connection reset by peer" },
	{ ECONNREFUSED, "connection refused: nobody listens" },
	{ ENOENT, "no such file or socket" },
	{ ETOOMANYREFS, "too many descriptors in flight" },
	{ EMFILE, "too many open descriptors in this process" },
#ifdef EBADFD
	{ EBADFD, "descriptor is not of the kind required" },
#endif
#ifdef EFTYPE
	{ EFTYPE, "descriptor is not of the kind required" },
#endif
	{ ENFILE, "too many open files in the system" },
	{ EINTR, "interrupted" },
};

const char *
fdmsg_strerror(int err)
{
	size_t i;

	/* -INT_MIN does not exist; no errno is that large anyway. */
	if (err == INT_MIN)
		return "unknown error";
	if (err < 0)
		err = -err;
	for (i = 0; i < ARRAY_SIZE(errors); i++)
		if (errors[i].code == err)
			return errors[i].msg;
	return "unknown error";
}
