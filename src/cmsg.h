/* SPDX-License-Identifier: ISC */
/*
 * The ancillary gate: everything between recvmsg(2) and a descriptor the
 * channel may keep.  fdmsg_gate_check is pure over memory (the cmsg fuzzer
 * drives it with forged buffers); it closes through gate->close_fd only.
 */
#ifndef FDMSG_CMSG_H
#define FDMSG_CMSG_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "compat.h"
#include "fdmsg.h"
#include "util.h"

struct fdmsg_gate {
	unsigned max_fds;           /* descriptors one read may carry */
	unsigned flags;             /* FDMSG_OPT_CREDS, FDMSG_OPT_PIDFD */
	int (*close_fd)(int fd);    /* NULL: close(2) */
};

/* What one accepted read carried, in arrival order. */
struct fdmsg_gate_result {
	int fds[FDMSG_MAX_FDS_CAP];
	unsigned nfds;
	int has_cred;               /* real SCM_CREDENTIALS: not the kernel's
				       placeholder (pid 0) for none */
	struct fdmsg_cred cred;     /* cred.pidfd: SCM_PIDFD, else -1 */
	int consumed;               /* recvmsg took a message off the socket
				       (set by fdmsg_gate_recv, even when it
				       then fails) */
	struct fdmsg_error_info why; /* the rule a failed check broke:
					written on failure only */
};

/* Control buffer bytes for gate's policy: CMSG_SPACE of each record it
 * allows (credentials, max_fds descriptors, pidfd). */
FDMSG_HIDDEN size_t fdmsg_gate_control_size(const struct fdmsg_gate *gate);

/*
 * Checks the result of one recvmsg: mh->msg_flags, and every cmsg in
 * mh->msg_control[0..msg_controllen), walked with explicit bounds.
 * 0: accepted, descriptors moved into *res (res->cred.pidfd likewise).
 * -EPROTO: MSG_CTRUNC, a level other than SOL_SOCKET, a type the policy
 *   does not allow, a cmsg_len that is short, overruns the buffer or is
 *   not whole descriptors, a negative descriptor, a repeated credential
 *   record, more than max_fds descriptors.
 * -EMSGSIZE: MSG_TRUNC (checked after MSG_CTRUNC).
 * A credentials record with pid 0 is the kernel's placeholder for a
 * sender it attached no identity to (sent before SO_PASSCRED was on, or
 * from outside the receiver's pid namespace): accepted, has_cred 0.  An
 * SCM_PIDFD holding -ESRCH is the kernel's failure to make one for a
 * reaped sender (before 6.17): accepted, no pidfd; any other negative
 * value is our descriptor table being full: -EMFILE (-ENFILE).
 * On error every descriptor found in an SCM_RIGHTS or SCM_PIDFD record,
 * clamped to the buffer, has been closed through the hook, and *res is
 * empty (nfds 0, pidfd -1).
 */
FDMSG_HIDDEN int fdmsg_gate_check(const struct fdmsg_gate *gate,
				  const struct msghdr *mh,
				  struct fdmsg_gate_result *res);

/* Closes every descriptor res holds (through the hook) and empties it. */
FDMSG_HIDDEN void fdmsg_gate_discard(const struct fdmsg_gate *gate,
				     struct fdmsg_gate_result *res);

/*
 * recvmsg(fd, mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC), restarted on EINTR,
 * then fdmsg_gate_check, then every accepted descriptor on 0, 1 or 2
 * moved above 2.  The caller sets mh->msg_control and msg_controllen to an
 * aligned buffer of at least fdmsg_gate_control_size() bytes before each
 * call (recvmsg overwrites msg_controllen).
 * Returns the bytes read (0: end of file or an empty datagram; its
 * descriptors are in *res for the caller to discard) or a negative errno:
 * the socket's (-EAGAIN, -ECONNRESET ...: res->consumed 0) or, after
 * recvmsg took a message, the gate's or lifting's (res->consumed 1).
 */
FDMSG_HIDDEN ssize_t fdmsg_gate_recv(const struct fdmsg_gate *gate, int fd,
				     struct msghdr *mh,
				     struct fdmsg_gate_result *res);

/* The same without MSG_DONTWAIT: the socket's own mode decides whether
 * recvmsg blocks (fdmsg_recv_wait with no deadline). */
FDMSG_HIDDEN ssize_t fdmsg_gate_recv_block(const struct fdmsg_gate *gate,
					   int fd, struct msghdr *mh,
					   struct fdmsg_gate_result *res);

/* The credentials of a read without them.  Not 0: a caller that
 * forgets has_cred must not see root. */
static inline void
fdmsg_cred_blank(struct fdmsg_cred *cred)
{
	cred->pid = 0;
	cred->uid = (uid_t)-1;
	cred->gid = (gid_t)-1;
	cred->pidfd = -1;
}

/* An empty result, before each read. */
static inline void
fdmsg_gate_res_init(struct fdmsg_gate_result *res)
{
	res->nfds = 0;
	res->consumed = 0;
	res->has_cred = 0;
	fdmsg_cred_blank(&res->cred);
}

/* fdmsg_gate_recv's work after a recvmsg that brought ancillary data
 * or a truncation flag (n: what recvmsg returned). */
FDMSG_HIDDEN ssize_t fdmsg_gate_finish(const struct fdmsg_gate *gate,
				       const struct msghdr *mh,
				       struct fdmsg_gate_result *res,
				       ssize_t n);

/* fdmsg_gate_recv with recvmsg's flags (MSG_DONTWAIT or 0).  Inline:
 * per read; bytes alone, the common case, need no walk and no call. */
static inline ssize_t
fdmsg_gate_recv_flags(const struct fdmsg_gate *gate, int fd, struct msghdr *mh,
		      struct fdmsg_gate_result *res, int flags)
{
	ssize_t n;

	fdmsg_gate_res_init(res);
	do
		n = recvmsg(fd, mh, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* Bytes alone: nothing to walk or lift (fdmsg_gate_finish would
	 * accept them the same way). */
	if (mh->msg_controllen == 0 &&
	    !(mh->msg_flags & (MSG_CTRUNC | MSG_TRUNC))) {
		res->consumed = 1;
		return n;
	}
	return fdmsg_gate_finish(gate, mh, res, n);
}

/* Control buffer bytes for n descriptors in one SCM_RIGHTS record. */
#define FDMSG_RIGHTS_SPACE(n) CMSG_SPACE(sizeof(int) * (n))

/*
 * The sending side of the same record: fds[0..nfds) in one SCM_RIGHTS
 * record built in buf (aligned for struct cmsghdr, at least
 * FDMSG_RIGHTS_SPACE(nfds) bytes), which becomes mh's control buffer;
 * nfds 0 leaves mh without one.
 */
FDMSG_HIDDEN void fdmsg_rights_build(struct msghdr *mh, void *buf,
				     const int *fds, size_t nfds);

/* One sendmsg with flags (MSG_DONTWAIT or 0) and MSG_NOSIGNAL, fds in one
 * SCM_RIGHTS record; EINTR is restarted.  Returns the bytes written or
 * -errno.  Inline: per write. */
static FDMSG_INLINE ssize_t
fdmsg_send_iov(int fd, const struct iovec *iov, size_t iovcnt, const int *fds,
	       size_t nfds, int flags)
{
	union {
		struct cmsghdr align;
		unsigned char buf[FDMSG_RIGHTS_SPACE(FDMSG_MAX_FDS_CAP)];
	} u;
	struct msghdr mh;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = (struct iovec *)(uintptr_t)iov;
	mh.msg_iovlen = iovcnt;
	if (nfds > 0)
		fdmsg_rights_build(&mh, u.buf, fds, nfds);
	do
		n = sendmsg(fd, &mh, flags | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

#endif
