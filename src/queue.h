/* SPDX-License-Identifier: ISC */
/*
 * The send queue (src/queue.c): whole frames back to back as on the wire,
 * so each frame's own header gives its length and descriptor count; no
 * record beside the bytes, so max_queue bounds the queue's heap (THREATS
 * 45).  Descriptors wait beside them in frame order, owned by the queue.
 */
#ifndef FDMSG_QUEUE_H
#define FDMSG_QUEUE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "cmsg.h"
#include "compat.h"
#include "fdmsg.h"
#include "frame.h"
#include "util.h"

/* Growable array whose live elements are [head, end). */
struct fdmsg_vec {
	void *p;
	size_t head;
	size_t end;
	size_t cap;
};

/*
 * The queued bytes: a ring of two regions that never splits a frame.
 * Frames go after region A while they fit before the end of the buffer,
 * then from its start (region B) up to A's head; once A is written
 * out, B becomes A.  So a frame never moves once queued.
 */
struct fdmsg_bytes {
	uint8_t *p;
	size_t cap;
	size_t head; /* region A: [head, end), the oldest frames */
	size_t end;
	size_t wend; /* region B: [0, wend), newer than all of A; 0: none */
};

struct fdmsg_queue {
	struct fdmsg_bytes bytes; /* capped at max_bytes */
	struct fdmsg_vec fds;   /* int, capped at max_fds: the descriptors
				   of the frames that still have to carry
				   theirs, in frame order */
	size_t max_bytes;
	size_t max_fds;
	size_t sent;            /* stream: bytes of the head frame written */
	size_t gone;            /* stream: the frames starting before this
				   offset from the head sent their
				   descriptors already (with an earlier
				   write's first byte) */
};

/* How one write may batch (chan.c decides from options and hello). */
struct fdmsg_qlim {
	int fd;
	int stream;
	size_t bytes; /* the most bytes one batch spans */
	size_t fds;   /* the most descriptors one sendmsg carries (a frame
			 with more still goes, alone) */
};

/* The peer is gone: nothing queued will ever go. */
static inline int
fdmsg_is_dead(int err)
{
	return err == -EPIPE || err == -ECONNRESET || err == -ECONNREFUSED;
}

FDMSG_HIDDEN void fdmsg_q_init(struct fdmsg_queue *q, size_t max_bytes,
			       size_t max_fds);
/* Closes every descriptor queued and frees the queue's memory. */
FDMSG_HIDDEN void fdmsg_q_free(struct fdmsg_queue *q);

static inline size_t
fdmsg_q_bytes(const struct fdmsg_queue *q)
{
	return q->bytes.end - q->bytes.head + q->bytes.wend;
}

static inline size_t
fdmsg_q_nfds(const struct fdmsg_queue *q)
{
	return q->fds.end - q->fds.head;
}

static inline int
fdmsg_q_empty(const struct fdmsg_queue *q)
{
	return q->bytes.end == q->bytes.head; /* B is never alone */
}

/* FDMSG_MORE: a whole batch waits (bytes; batch_fds > 0: or that many
 * descriptors), so a write would be a full one. */
static inline int
fdmsg_q_whole(const struct fdmsg_queue *q, size_t bytes,
	      size_t batch_fds)
{
	return fdmsg_q_bytes(q) >= bytes ||
	       (batch_fds > 0 && fdmsg_q_nfds(q) >= batch_fds);
}

FDMSG_HIDDEN int fdmsg_q_reserve_slow(struct fdmsg_queue *q, size_t len,
				      size_t nfds);

/* Room for a frame of len bytes and nfds descriptors without another
 * allocation (send_direct: a stream frame is never left half sent).
 * Inline: per frame, room after region A is the common case. */
static inline int
fdmsg_q_reserve(struct fdmsg_queue *q, size_t len,
		size_t nfds)
{
	if (q->bytes.wend == 0 && len <= q->bytes.cap - q->bytes.end &&
	    len <= q->max_bytes - fdmsg_q_bytes(q) &&
	    nfds <= q->fds.cap - q->fds.end &&
	    nfds <= q->max_fds - fdmsg_q_nfds(q))
		return 0;
	return fdmsg_q_reserve_slow(q, len, nfds);
}

/* fdmsg_q_append's own: whose the descriptors become. */
enum {
	FDMSG_Q_DUP = 0,        /* the caller's: the queue keeps duplicates */
	FDMSG_Q_GIVEN = 1,      /* the queue's (FDMSG_CLOSE_FDS), each
				   checked open first */
	FDMSG_Q_GIVEN_OPEN = 2, /* the queue's, known open: a sendmsg of
				   them just failed for want of room */
};

/*
 * Queues the frame h (h->len bytes: its header, encoded here, then the
 * payload iov) with fds; h NULL: iov holds a whole frame already encoded
 * (the hello).  own (FDMSG_Q_*): given, fds are kept and closed once
 * sent or dropped, unless one repeats (then duplicates, as for
 * FDMSG_Q_DUP: given away twice it would be closed twice).  sent:
 * bytes of it a stream wrote already (the queue was empty, its
 * descriptors went with them): queued as the head with nothing of its
 * own left to carry.  -ENOBUFS past
 * max_bytes or max_fds.  Nothing is queued or taken on failure.
 * Returns 1 when it took the caller's descriptors, 0 when it did not.
 */
FDMSG_HIDDEN int fdmsg_q_append(struct fdmsg_queue *q,
				const struct fdmsg_hdr *h,
				const struct iovec *iov, size_t iovcnt,
				size_t sent, const int *fds, size_t nfds,
				int own);

/* The payload iov, copied to dst. */
static inline void
fdmsg_q_copy(uint8_t *dst, const struct iovec *iov,
	     size_t iovcnt)
{
	size_t i;

	/* An iovec {NULL, 0} is legal: memcpy must not see its NULL. */
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len == 0)
			continue;
		memcpy(dst, iov[i].iov_base, iov[i].iov_len);
		dst += iov[i].iov_len;
	}
}

/*
 * fdmsg_q_append of a frame without descriptors, inline where it fits
 * after region A: per frame queued, the common case, which neither
 * allocates nor moves anything.
 */
static inline int
fdmsg_q_put(struct fdmsg_queue *q,
	    const struct fdmsg_hdr *h,
	    const struct iovec *iov, size_t iovcnt)
{
	uint8_t *dst;

	if (q->bytes.wend != 0 || h->len > q->bytes.cap - q->bytes.end ||
	    h->len > q->max_bytes - fdmsg_q_bytes(q))
		return fdmsg_q_append(q, h, iov, iovcnt, 0, NULL, 0, 0);
	dst = q->bytes.p + q->bytes.end;
	fdmsg_hdr_put(h, dst);
	fdmsg_q_copy(dst + FDMSG_HDR_SIZE, iov, iovcnt);
	q->bytes.end += h->len;
	return 0;
}

/*
 * Room for a frame of len bytes after region A that leaves the queue
 * below `below` bytes (it may hold more already, behind a full socket):
 * 0, *dst where it goes, now queued (its bytes are the caller's to fill
 * before anything else touches the queue); -ENOBUFS, nothing changed:
 * not there.  A corked burst's frame per frame, which neither flushes
 * nor allocates.
 */
static inline int
fdmsg_q_grab(struct fdmsg_queue *q, size_t len, size_t below,
	     uint8_t **dst)
{
	const size_t queued = fdmsg_q_bytes(q), end = q->bytes.end;

	/* Within max_bytes too: A alone never spans more than cap, which
	 * never grows past max_bytes. */
	if (q->bytes.wend != 0 || len > q->bytes.cap - end ||
	    queued >= below || len >= below - queued)
		return -ENOBUFS;
	*dst = q->bytes.p + end;
	q->bytes.end = end + len;
	return 0;
}

/* Drops the head frame: its unsent bytes and its descriptors. */
FDMSG_HIDDEN void fdmsg_q_drop_head(struct fdmsg_queue *q);
FDMSG_HIDDEN void fdmsg_q_drop_all(struct fdmsg_queue *q);

/*
 * Writes queued frames until the queue is empty or the socket full:
 * 0: empty; -EAGAIN: the socket took what it could; -EPIPE and the like:
 * the peer is gone (everything dropped); a frame refused (-EPERM,
 * -ETOOMANYREFS, -EMSGSIZE): that frame dropped (on a stream, only a
 * frame of its own descriptors), its error returned; else the error.
 * whole: stop while less than a batch waits (FDMSG_MORE; batch_fds 0:
 * bytes only).
 */
FDMSG_HIDDEN int fdmsg_q_flush(struct fdmsg_queue *q,
			       const struct fdmsg_qlim *lim, int whole,
			       size_t batch_fds);

#endif
