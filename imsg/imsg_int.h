/*
 * fdmsg-imsg internals: the reader's private state, kept in the last bytes
 * of struct ibuf_read's buffer (the struct's size is the classic ABI, and
 * imsg_init cannot fail, so there is nowhere else to put it without an
 * allocation that nothing would free).
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

struct imsg_pend {
	int fd;
	uint64_t start;	/* stream offset of the first byte of its read */
};

struct imsg_rstate {
	uint64_t base;	/* stream offset of r.buf[0] */
	int err;	/* sticky errno; 0: none */
	unsigned npend;
	struct imsg_pend pend[IMSG_PEND_MAX];
};

/* Bytes of r.buf that hold received data; the state follows, aligned. */
#define IMSG_RBUF_DATA \
	((IBUF_READ_SIZE - sizeof(struct imsg_rstate)) & ~(size_t)15)

_Static_assert(IMSG_RBUF_DATA >= MAX_IMSGSIZE,
    "the receive buffer must hold a whole message");
_Static_assert(offsetof(struct imsgbuf, r.buf) % 16 == 0 ||
    offsetof(struct imsgbuf, r.buf) % _Alignof(struct imsg_rstate) == 0,
    "the state must be aligned");

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

static inline struct imsg_rstate *
imsg_rstate(struct imsgbuf *ibuf)
{
	return (struct imsg_rstate *)(void *)(ibuf->r.buf + IMSG_RBUF_DATA);
}

#endif
