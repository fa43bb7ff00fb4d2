/* SPDX-License-Identifier: ISC */
/*
 * fdmsg-imsg internals.  struct imsgbuf keeps the classic size and
 * imsg_init cannot fail, and programs fill r.buf and r.wpos themselves
 * (OpenBGPD's and OpenSMTPD's imsg_read_nofd recv into the whole of
 * r.buf), so the reader keeps its state where no such program writes:
 * descriptors waiting for their messages on the fds list, as the classic
 * code does, each with where its read began; a sticky error in r.rptr,
 * which the classic code only ever pointed at its last message's data.
 */
#ifndef FDMSG_IMSG_INT_H
#define FDMSG_IMSG_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "imsg.h"
#include "util.h"

/* Descriptors that may wait for their message.  A classic sender puts one
 * descriptor in each sendmsg, at or before its message's first byte, and
 * after a partial write the next one rides with what is left of earlier
 * messages: descriptors run ahead of their messages.  Memory stays
 * bounded: one more than this many waiting is refused. */
#define IMSG_PEND_MAX 64

/* A waiting descriptor: the classic list entry, and where the read it
 * came in began, relative to r.buf[0] (negative once messages before it
 * were taken). */
struct imsg_pend {
	struct imsg_fd e;	/* first: the list holds &e */
	int64_t start;
};

/* Descriptors fdmsg_imsg_sendfds puts in one sendmsg at most. */
#define IMSG_SEND_MAXFDS 4

/*
 * sendmsg(s) of iov[0..iovcnt) with fds[0..nfds) in one SCM_RIGHTS
 * record, MSG_NOSIGNAL added to flags, restarted on EINTR: msgbuf_write's
 * write, and the tests' and fuzzers' raw one.  -1 and errno (EINVAL:
 * nfds > IMSG_SEND_MAXFDS).
 */
FDMSG_HIDDEN ssize_t fdmsg_imsg_sendfds(int s, const struct iovec *iov,
    size_t iovcnt, const int *fds, unsigned nfds, int flags);

/* Open descriptors of this process, from /proc/self/fd (0 without it). */
FDMSG_HIDDEN int fdmsg_imsg_fd_count(void);

#endif
