/* SPDX-License-Identifier: ISC */
/*
 * The classic imsg buffers and send queue: struct ibuf (one message being
 * built), struct msgbuf (the queue), and the writes that drain it.  Sizes
 * are checked without wrapping; a write never raises SIGPIPE.  A
 * descriptor always starts its own sendmsg at its message's first byte,
 * so it reaches the peer in the read that holds that byte (a classic
 * receiver takes it either way: it only counts descriptors).
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "imsg.h"
#include "cmsg.h"
#include "imsg_int.h"
#include "util.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

struct ibuf *
ibuf_open(size_t len)
{
	struct ibuf *buf;

	if ((buf = calloc(1, sizeof(*buf))) == NULL)
		return NULL;
	/* Never malloc(0): NULL there would read as a failure. */
	if ((buf->buf = malloc(len > 0 ? len : 1)) == NULL) {
		free(buf);
		return NULL;
	}
	buf->size = buf->max = len;
	buf->fd = -1;
	return buf;
}

struct ibuf *
ibuf_dynamic(size_t len, size_t max)
{
	struct ibuf *buf;

	if (max < len) {
		errno = EINVAL;
		return NULL;
	}
	if ((buf = ibuf_open(len)) == NULL)
		return NULL;
	if (max > 0)
		buf->max = max;
	return buf;
}

/* Makes room for len more bytes: ERANGE past max (a fixed buffer's max is
 * its size). */
static int
ibuf_room(struct ibuf *buf, size_t len)
{
	unsigned char *b;
	size_t need;

	if (size_add(buf->wpos, len, &need) < 0 || need > buf->max) {
		errno = ERANGE;
		return -1;
	}
	if (need <= buf->size)
		return 0;
	if ((b = realloc(buf->buf, need)) == NULL)
		return -1;
	memset(b + buf->size, 0, need - buf->size);
	buf->buf = b;
	buf->size = need;
	return 0;
}

int
ibuf_add(struct ibuf *buf, const void *data, size_t len)
{
	if (buf == NULL || (data == NULL && len > 0)) {
		errno = EINVAL;
		return -1;
	}
	if (ibuf_room(buf, len) == -1)
		return -1;
	if (len > 0)
		memcpy(buf->buf + buf->wpos, data, len);
	buf->wpos += len;
	return 0;
}

void *
ibuf_reserve(struct ibuf *buf, size_t len)
{
	void *b;

	if (buf == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (ibuf_room(buf, len) == -1)
		return NULL;
	b = buf->buf + buf->wpos;
	buf->wpos += len;
	return b;
}

void *
ibuf_seek(struct ibuf *buf, size_t pos, size_t len)
{
	/* Only what was written; by subtraction, so pos + len cannot wrap
	 * into range. */
	if (buf == NULL || len > buf->wpos || pos > buf->wpos - len)
		return NULL;
	return buf->buf + pos;
}

size_t
ibuf_size(struct ibuf *buf)
{
	return buf->wpos;
}

size_t
ibuf_left(struct ibuf *buf)
{
	return buf->max - buf->wpos;
}

void
ibuf_close(struct msgbuf *msgbuf, struct ibuf *buf)
{
	TAILQ_INSERT_TAIL(&msgbuf->bufs, buf, entry);
	msgbuf->queued++;
}

void
ibuf_free(struct ibuf *buf)
{
	if (buf == NULL)
		return;
	if (buf->buf != NULL)
		explicit_bzero(buf->buf, buf->size);
	free(buf->buf);
	free(buf);
}

void
msgbuf_init(struct msgbuf *msgbuf)
{
	msgbuf->queued = 0;
	msgbuf->fd = -1;
	TAILQ_INIT(&msgbuf->bufs);
}

static void
ibuf_dequeue(struct msgbuf *msgbuf, struct ibuf *buf)
{
	TAILQ_REMOVE(&msgbuf->bufs, buf, entry);
	close_keep_errno(take_fd(&buf->fd));
	msgbuf->queued--;
	ibuf_free(buf);
}

void
msgbuf_drain(struct msgbuf *msgbuf, size_t n)
{
	struct ibuf *buf, *next;
	size_t left;

	for (buf = TAILQ_FIRST(&msgbuf->bufs); buf != NULL && n > 0;
	    buf = next) {
		next = TAILQ_NEXT(buf, entry);
		left = buf->wpos - buf->rpos;
		if (n >= left) {
			n -= left;
			ibuf_dequeue(msgbuf, buf);
		} else {
			buf->rpos += n;
			n = 0;
		}
	}
}

void
msgbuf_clear(struct msgbuf *msgbuf)
{
	struct ibuf *buf;

	while ((buf = TAILQ_FIRST(&msgbuf->bufs)) != NULL)
		ibuf_dequeue(msgbuf, buf);
}

/* 1 written (some or all), 0 nothing to write or the peer took nothing
 * (errno 0), -1 and errno; ENOBUFS reads as EAGAIN, as the classic code
 * has it. */
static int
written(struct msgbuf *msgbuf, ssize_t n)
{
	if (n == -1) {
		if (errno == ENOBUFS)
			errno = EAGAIN;
		return -1;
	}
	if (n == 0) {
		errno = 0;
		return 0;
	}
	msgbuf_drain(msgbuf, (size_t)n);
	return 1;
}

int
ibuf_write(struct msgbuf *msgbuf)
{
	struct iovec iov[IOV_MAX];
	struct ibuf *buf;
	int i = 0;
	ssize_t n;

	TAILQ_FOREACH(buf, &msgbuf->bufs, entry) {
		if (i >= IOV_MAX)
			break;
		iov[i].iov_base = buf->buf + buf->rpos;
		iov[i].iov_len = buf->wpos - buf->rpos;
		i++;
	}
	do
		n = writev(msgbuf->fd, iov, i);
	while (n == -1 && errno == EINTR);
	return written(msgbuf, n);
}

ssize_t
fdmsg_imsg_sendfds(int s, const struct iovec *iov, size_t iovcnt,
    const int *fds, unsigned nfds, int flags)
{
	ssize_t n;

	if (nfds > IMSG_SEND_MAXFDS) {
		errno = EINVAL;
		return -1;
	}
	if ((n = fdmsg_send_iov(s, iov, iovcnt, fds, nfds, flags)) < 0) {
		errno = (int)-n;
		return -1;
	}
	return n;
}

int
msgbuf_write(struct msgbuf *msgbuf)
{
	struct iovec iov[IOV_MAX];
	struct ibuf *buf, *fdbuf = NULL;
	size_t i = 0;
	ssize_t n;

	TAILQ_FOREACH(buf, &msgbuf->bufs, entry) {
		if (i >= IOV_MAX)
			break;
		/* A message with a descriptor begins a sendmsg of its own
		 * (a queued one has sent nothing yet: its descriptor goes
		 * with the first byte, then fd is -1). */
		if (buf->fd != -1) {
			if (i > 0)
				break;
			fdbuf = buf;
		}
		iov[i].iov_base = buf->buf + buf->rpos;
		iov[i].iov_len = buf->wpos - buf->rpos;
		i++;
	}
	n = fdmsg_imsg_sendfds(msgbuf->fd, iov, i,
	    fdbuf != NULL ? &fdbuf->fd : NULL, fdbuf != NULL, 0);
	/* The descriptor went with the first byte: never again. */
	if (n > 0 && fdbuf != NULL)
		close_keep_errno(take_fd(&fdbuf->fd));
	return written(msgbuf, n);
}
