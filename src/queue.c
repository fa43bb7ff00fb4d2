/* SPDX-License-Identifier: ISC */
/*
 * The send queue: frames the socket could not take yet, as they go on
 * the wire, and their descriptors; the batching and cork rules and the
 * flush loops (DESIGN.md, per socket type).
 *
 * Its bytes are a ring of whole frames (struct fdmsg_bytes): a frame is
 * encoded straight into it, header first, and never moves while it
 * waits.  The ring grows geometrically, up to max_queue, only when a
 * frame finds no room in either region, which cannot happen once it is
 * twice the most ever queued plus two frames: after warm-up a queue
 * allocates nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmsg.h"
#include "frame.h"
#include "queue.h"

static void
vec_pop(struct fdmsg_vec *v, size_t n)
{
	v->head += n;
	if (v->head >= v->end)
		v->head = v->end = 0;
}

/*
 * Room for n more elements of size sz after v->end, max elements in all.
 * While the live elements and the new ones fill at most half of it (or
 * it cannot grow), the live ones move to the front: that leaves room for
 * half the capacity more, so each element moves at most once per half a
 * capacity appended.  Else it grows geometrically, to at least twice
 * what it must hold.  Never changes the live elements' values.
 */
static int
vec_reserve(struct fdmsg_vec *v, size_t sz, size_t n, size_t max)
{
	size_t live = v->end - v->head, need, ncap, bytes;
	void *np;

	if (n <= v->cap - v->end)
		return 0;
	if (size_add(live, n, &need) < 0 || need > max)
		return -ENOBUFS;
	if (need <= v->cap / 2 || (need <= v->cap && v->cap >= max)) {
		memmove(v->p, (char *)v->p + v->head * sz, live * sz);
		v->head = 0;
		v->end = live;
		return 0;
	}
	ncap = v->cap > 8 ? v->cap : 8;
	while (ncap / 2 < need) {
		if (ncap > max / 2) {
			ncap = max;
			break;
		}
		ncap *= 2;
	}
	if (ncap > max)
		ncap = max; /* the first step's 8 */
	if (size_mul(ncap, sz, &bytes) < 0)
		return -ENOMEM;
	np = malloc(bytes);
	if (np == NULL)
		return -ENOMEM;
	if (live > 0)
		memcpy(np, (char *)v->p + v->head * sz, live * sz);
	free(v->p);
	v->p = np;
	v->cap = ncap;
	v->head = 0;
	v->end = live;
	return 0;
}

static size_t
ring_alen(const struct fdmsg_bytes *b)
{
	return b->end - b->head;
}

static void
ring_pop(struct fdmsg_bytes *b, size_t n)
{
	b->head += n;
	if (b->head < b->end)
		return;
	/* A is written out: B, if any, becomes A. */
	b->head = 0;
	b->end = b->wend;
	b->wend = 0;
}

/* Where n more bytes go without moving anything: 0 with *at set, or -1. */
static int
ring_room(const struct fdmsg_bytes *b, size_t n, size_t *at)
{
	if (b->wend == 0 && n <= b->cap - b->end) {
		*at = b->end;
		return 0;
	}
	if (b->head != b->end && n <= b->head - b->wend) {
		*at = b->wend;
		return 0;
	}
	return -1;
}

/*
 * Room for n more bytes, live + n <= max (checked by the caller).  Grows
 * to at least twice what it must hold, copying A then B to the front of
 * the new buffer; at max, moves A to the end of the buffer instead,
 * which leaves the free bytes in one piece after B (at most once per
 * max_queue bytes written, and only while nearly full).
 */
static int
ring_reserve(struct fdmsg_bytes *b, size_t n, size_t max)
{
	size_t live = ring_alen(b) + b->wend, need = live + n, ncap, at;
	uint8_t *np;

	if (ring_room(b, n, &at) == 0)
		return 0;
	if (b->cap >= max) {
		memmove(b->p + b->cap - ring_alen(b), b->p + b->head,
			ring_alen(b));
		b->end = b->cap;
		b->head = b->cap - (live - b->wend);
		return 0;
	}
	ncap = b->cap > 64 ? b->cap : 64;
	while (ncap / 2 < need || ncap == b->cap) {
		if (ncap > max / 2) {
			ncap = max;
			break;
		}
		ncap *= 2;
	}
	if (ncap > max)
		ncap = max;
	np = malloc(ncap);
	if (np == NULL)
		return -ENOMEM;
	if (ring_alen(b) > 0)
		memcpy(np, b->p + b->head, ring_alen(b));
	if (b->wend > 0)
		memcpy(np + ring_alen(b), b->p, b->wend);
	free(b->p);
	b->p = np;
	b->cap = ncap;
	b->head = 0;
	b->end = live;
	b->wend = 0;
	return 0;
}

void
fdmsg_q_init(struct fdmsg_queue *q, size_t max_bytes, size_t max_fds)
{
	memset(q, 0, sizeof(*q));
	q->max_bytes = max_bytes;
	q->max_fds = max_fds;
}

void
fdmsg_q_free(struct fdmsg_queue *q)
{
	fdmsg_q_drop_all(q);
	free(q->bytes.p);
	free(q->fds.p);
	q->bytes.p = NULL;
	q->fds.p = NULL;
	q->bytes.cap = q->fds.cap = 0;
}

static uint8_t *
q_data(const struct fdmsg_queue *q)
{
	return q->bytes.p + q->bytes.head;
}

static int *
q_fds(const struct fdmsg_queue *q)
{
	/* NULL until the first queued descriptor: no offset from NULL. */
	return q->fds.p != NULL ? (int *)q->fds.p + q->fds.head : NULL;
}

/* Length, and descriptors still to carry, of the frame off bytes after
 * the head, in region A (its header was validated when it was
 * encoded). */
static void
q_frame(const struct fdmsg_queue *q, size_t off, size_t *len,
	size_t *nfds)
{
	struct fdmsg_hdr h;

	fdmsg_hdr_fields(q_data(q) + off, &h);
	*len = h.len;
	*nfds = off < q->gone ? 0 : h.nfds;
}

/*
 * Room for a frame of len bytes and nfds descriptors within both caps: a
 * peer that never reads must not make us hold unbounded bytes, nor
 * descriptors that drain our table (16-byte frames with 253 descriptors
 * each).  *at: where its bytes go.
 */
static inline int
q_place(struct fdmsg_queue *q, size_t len, size_t nfds,
	size_t *at)
{
	int r;

	if (len > q->max_bytes - fdmsg_q_bytes(q) ||
	    nfds > q->max_fds - fdmsg_q_nfds(q))
		return -ENOBUFS;
	/* Per frame: room everywhere is the common case. */
	if (ring_room(&q->bytes, len, at) < 0) {
		if ((r = ring_reserve(&q->bytes, len, q->max_bytes)) < 0)
			return r;
		(void)ring_room(&q->bytes, len, at); /* made above */
	}
	if (nfds > q->fds.cap - q->fds.end)
		return vec_reserve(&q->fds, sizeof(int), nfds, q->max_fds);
	return 0;
}

int
fdmsg_q_reserve_slow(struct fdmsg_queue *q, size_t len, size_t nfds)
{
	size_t at;

	return q_place(q, len, nfds, &at);
}

/* A descriptor twice in one frame: given away, it would be closed twice
 * (the second time maybe someone else's). */
static int
repeats(const int *fds, size_t nfds)
{
	size_t i;

	for (i = 1; i < nfds; i++)
		if (fd_named_before(fds, i))
			return 1;
	return 0;
}

/*
 * 0 if every descriptor given away is open, else -EBADF: a number not
 * open now may be a file the caller opens next, which the queue would
 * send and close.  F_GETFD only looks at the descriptor table, as
 * sendmsg's own check does.  poll() would look at several in one call,
 * but it calls each file's poll method: a FUSE file's waits for its
 * server, which may be a peer's, and an O_PATH descriptor is POLLNVAL.
 */
static int
given_open(const int *fds, size_t nfds)
{
	size_t i;

	for (i = 0; i < nfds; i++)
		if (fcntl(fds[i], F_GETFD) < 0)
			return -errno;
	return 0;
}

int
fdmsg_q_append(struct fdmsg_queue *q, const struct fdmsg_hdr *h,
	       const struct iovec *iov, size_t iovcnt, size_t sent,
	       const int *fds, size_t nfds, int own)
{
	size_t len = 0, i, at = 0;
	uint8_t *dst;
	int *slot;
	int r;

	if (h != NULL) {
		len = h->len;
	} else {
		for (i = 0; i < iovcnt; i++)
			len += iov[i].iov_len; /* a whole hello */
	}
	if ((r = q_place(q, len, nfds, &at)) < 0)
		return r;
	dst = q->bytes.p + at;
	if (h != NULL) {
		fdmsg_hdr_put(h, dst);
		dst += FDMSG_HDR_SIZE;
	}
	if (own != FDMSG_Q_DUP && nfds > 1 && repeats(fds, nfds))
		own = FDMSG_Q_DUP;
	slot = nfds > 0 ? (int *)q->fds.p + q->fds.end : NULL;
	/* Given: kept as they are, once they are known to be open. */
	if (own == FDMSG_Q_GIVEN && (r = given_open(fds, nfds)) < 0)
		return r;
	if (own != FDMSG_Q_DUP && nfds > 0)
		memcpy(slot, fds, nfds * sizeof(*slot));
	for (i = 0; own == FDMSG_Q_DUP && i < nfds; i++) {
		if ((slot[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3)) < 0) {
			r = -errno;
			close_fds(slot, i);
			return r;
		}
	}
	fdmsg_q_copy(dst, iov, iovcnt);
	if (sent > 0) {
		q->sent = sent;
		q->gone = len;
	}
	if (at >= q->bytes.end)
		q->bytes.end = at + len; /* A (or the queue was empty) */
	else
		q->bytes.wend = at + len;
	q->fds.end += nfds;
	return own != FDMSG_Q_DUP;
}

void
fdmsg_q_drop_head(struct fdmsg_queue *q)
{
	size_t len, nfds;

	q_frame(q, 0, &len, &nfds);
	close_fds(q_fds(q), nfds);
	vec_pop(&q->fds, nfds);
	ring_pop(&q->bytes, len);
	q->sent = 0;
	q->gone = q->gone > len ? q->gone - len : 0;
}

void
fdmsg_q_drop_all(struct fdmsg_queue *q)
{
	while (!fdmsg_q_empty(q))
		fdmsg_q_drop_head(q);
}

/*
 * SEQPACKET, DGRAM: the datagram flush_dgram_once sends, of consecutive
 * whole frames from the head, at most n of them, within lim->bytes and
 * max(lim->fds, first frame's nfds) descriptors: its bytes and
 * descriptors.  Returns the frames it spans.
 */
static size_t
dgram_span(const struct fdmsg_queue *q, const struct fdmsg_qlim *lim, size_t n,
	   size_t *totalp, size_t *tfdsp)
{
	const size_t qlen = ring_alen(&q->bytes);
	size_t flim, total, tfds, len, nfds, i;

	q_frame(q, 0, &total, &tfds);
	flim = lim->fds < tfds ? tfds : lim->fds;
	for (i = 1; total < qlen && i < n; i++) {
		q_frame(q, total, &len, &nfds);
		if (total >= lim->bytes || len > lim->bytes - total ||
		    nfds > flim - tfds)
			break;
		total += len;
		tfds += nfds;
	}
	*totalp = total;
	*tfdsp = tfds;
	return i;
}

/* SEQPACKET, DGRAM: one datagram (dgram_span).  *k: the frames tried. */
static int
flush_dgram_once(struct fdmsg_queue *q, const struct fdmsg_qlim *lim, size_t n,
		 size_t *k)
{
	const size_t qlen = ring_alen(&q->bytes);
	size_t total, tfds;
	struct iovec iov;
	ssize_t w;

	/* Per batch: no descriptor waits and all of A fits one datagram,
	 * so the span is all of A, no frame need be looked at (*k only
	 * on failure, where it is needed). */
	if (n == SIZE_MAX && fdmsg_q_nfds(q) == 0 && qlen <= lim->bytes) {
		total = qlen;
		tfds = 0;
		*k = 0;
	} else {
		*k = dgram_span(q, lim, n, &total, &tfds);
	}
	iov.iov_base = q_data(q);
	iov.iov_len = total;
	w = fdmsg_send_iov(lim->fd, &iov, 1, q_fds(q), tfds,
			   MSG_DONTWAIT);
	if (w < 0) {
		if (*k == 0)
			*k = dgram_span(q, lim, n, &total, &tfds);
		return (int)w;
	}
	if ((size_t)w != total)
		return -EIO; /* datagrams are atomic */
	/* Sent: close what the queue held, drop the frames at once. */
	close_fds(q_fds(q), tfds);
	vec_pop(&q->fds, tfds);
	ring_pop(&q->bytes, total);
	return 0;
}

/*
 * STREAM: one write from where the head stands (maybe mid-frame).  It
 * carries the descriptors of the frames starting in it, in one record
 * with its first byte (DESIGN.md, SOCK_STREAM): the frame it starts at
 * always; later ones while they start and end within lim->bytes of the
 * write's start, within lim->fds in all, unless narrow (n == 1), and
 * only once every frame whose descriptors an earlier, short write
 * carried has started (so the receiver never holds more than one write's
 * descriptors ahead of their frames).  Frames without descriptors
 * follow as far as the queue goes; the write ends before the first
 * frame that may not carry its descriptors in it.  *k: 1 if it carried
 * none, or one frame's that it starts at; else 2.
 */
static int
flush_stream_once(struct fdmsg_queue *q,
		  const struct fdmsg_qlim *lim, size_t n, size_t *k)
{
	const size_t qlen = ring_alen(&q->bytes);
	size_t off = 0, len, nfds, tfds = 0, fr = 0, done, drop;
	struct iovec iov;
	int held = 0, first = 0;
	ssize_t w;

	/* No descriptor waits: all of A goes, no frame need be looked at. */
	if (fdmsg_q_nfds(q) == 0)
		off = qlen;
	while (off < qlen) {
		q_frame(q, off, &len, &nfds);
		if (nfds > 0) {
			if (off == q->sent) {
				first = 1;
			} else if (held || n == 1 ||
				   off - q->sent > lim->bytes ||
				   len > lim->bytes - (off - q->sent) ||
				   tfds + nfds > lim->fds) {
				break;
			}
			tfds += nfds;
			fr++;
		} else if (off >= q->sent && off < q->gone) {
			held = 1;
		}
		off += len;
	}
	*k = fr == 0 || (fr == 1 && first) ? 1 : 2;
	iov.iov_base = q_data(q) + q->sent;
	iov.iov_len = off - q->sent;
	w = fdmsg_send_iov(lim->fd, &iov, 1, q_fds(q), tfds,
			   MSG_DONTWAIT);
	if (w < 0)
		return (int)w;
	if (w == 0)
		return -EAGAIN;
	if (tfds > 0) {
		/* They went with the first byte, for every frame starting
		 * before off, written or not. */
		close_fds(q_fds(q), tfds);
		vec_pop(&q->fds, tfds);
		q->gone = off;
	}
	/* Drop the frames written whole; the rest of one stays the head.
	 * All of A written is the common case: no frame need be looked
	 * at (the walk is a chain of dependent loads, one per frame). */
	done = q->sent + (size_t)w;
	if (done == qlen) {
		drop = qlen;
	} else {
		for (drop = 0; drop < done; drop += len) {
			q_frame(q, drop, &len, &nfds);
			if (len > done - drop)
				break;
		}
	}
	q->sent = done - drop;
	q->gone = q->gone > drop ? q->gone - drop : 0;
	ring_pop(&q->bytes, drop);
	return 0;
}

int
fdmsg_q_flush(struct fdmsg_queue *q, const struct fdmsg_qlim *lim,
	      int whole, size_t batch_fds)
{
	size_t n = SIZE_MAX, k = 1, len, nfds;
	int r;

	while (!fdmsg_q_empty(q)) {
		if (whole && !fdmsg_q_whole(q, lim->bytes, batch_fds))
			return 0;
		if (lim->stream)
			r = flush_stream_once(q, lim, n, &k);
		else
			r = flush_dgram_once(q, lim, n, &k);
		if (r == 0) {
			n = SIZE_MAX;
			continue;
		}
		if (r == -EAGAIN || r == -EWOULDBLOCK ||
		    (r == -ENOBUFS && !lim->stream))
			return -EAGAIN;
		if (fdmsg_is_dead(r)) {
			fdmsg_q_drop_all(q);
			return r;
		}
		if (r == -EPERM || r == -ETOOMANYREFS || r == -EMSGSIZE) {
			/* A datagram too big for the socket buffer: halve
			 * the batch.  Descriptors refused: find the frame
			 * alone.  A single frame refused is dropped (on a
			 * stream only a frame of its own descriptors, which
			 * the write started at). */
			if (k > 1) {
				n = r == -EMSGSIZE && !lim->stream ? k / 2 : 1;
				continue;
			}
			q_frame(q, 0, &len, &nfds);
			if (!lim->stream || (nfds > 0 && q->sent == 0))
				fdmsg_q_drop_head(q);
			return r;
		}
		return r;
	}
	return 0;
}
