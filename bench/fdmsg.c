/* SPDX-License-Identifier: ISC */
/*
 * The fdmsg side of each case: an application using the public API as
 * documented, the way fdmsg(3) suggests for the work.  The one-way sender
 * first fills its queue while the receiver waits (so it has grown to its
 * cap), then warms up as the baselines do and marks its last warm-up
 * frame with peerid 1; the receiver measures from that frame on.  Where
 * a case gives descriptors away, each message's are fresh dup()s sent
 * with FDMSG_CLOSE_FDS.  The decode-only case is here too:
 * fdmsg_hdr_decode over 64 KiB of frames against a memcpy of them.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fdmsg.h"

#include "bench.h"

int
fdmsg_socketpair(int type, int sv[2])
{
	return fdmsg_pair(type, sv);
}

static int
chan_open(const struct role *x, struct fdmsg_chan **c)
{
	struct fdmsg_opts o;
	struct rlimit rl;

	fdmsg_opts_init(&o);
	o.max_fds = x->bc->max_fds;
	/* fd_sender fills the queue until -ENOBUFS: its descriptors must
	 * reach their cap before the table does (a soft RLIMIT_NOFILE of
	 * 1024 is common, and the default cap is 1024 as well). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur / 2 < o.max_queue_fds)
		o.max_queue_fds = (unsigned)(rl.rlim_cur / 2);
	return fdmsg_chan_new(c, x->sock, &o, FDMSG_CHAN_OWN_FD);
}

enum sender
sender_of(const struct bcase *bc)
{
	enum sender m = opt_sender >= 0 ? (enum sender)opt_sender : bc->send;

#ifndef FDMSG_MORE
	if (m == SEND_MORE)
		m = SEND_QUEUE; /* the library has no cork */
#endif
	return m;
}

static int
wait_out(int fd)
{
	struct pollfd p;

	p.fd = fd;
	p.events = POLLOUT;
	p.revents = 0;
	if (poll(&p, 1, -1) < 0 && errno != EINTR)
		return -errno;
	return 0;
}

static unsigned
send_flags(enum sender mode)
{
#ifdef FDMSG_MORE
	if (mode == SEND_MORE)
		return FDMSG_MORE;
#endif
	return mode == SEND_POLL ? FDMSG_NO_QUEUE : 0;
}

/* FDMSG_CLOSE_FDS where the case gives its descriptors away (set by
 * fdmsg_role from bcase.give). */
static unsigned give_flag;

/* One fdmsg_send; given away, of fresh dup()s of fds, which the library
 * owns from the call on, whatever it returns. */
static inline __attribute__((always_inline)) int
send_once(struct fdmsg_chan *c, uint32_t peerid, const struct iovec *iov,
	  const int *fds, unsigned nfds, enum sender mode)
{
	int mine[FDMSG_MAX_FDS_CAP];
	unsigned i;

	if (give_flag != 0 && nfds > 0) {
		for (i = 0; i < nfds; i++) {
			if ((mine[i] = dup(fds[i])) < 0) {
				close_fds(mine, i);
				return -errno;
			}
		}
		fds = mine;
	}
	return fdmsg_send(c, BENCH_TYPE, peerid, iov, 1, fds, nfds,
			  send_flags(mode) | give_flag);
}

/* fd_send's waits: -EAGAIN in poll mode, -ENOBUFS. */
static int
fd_send_wait(struct fdmsg_chan *c, uint32_t peerid, const struct iovec *iov,
	     const int *fds, unsigned nfds, enum sender mode, int r)
{
	for (;;) {
		if (mode == SEND_POLL && r == -EAGAIN) {
			r = wait_out(fdmsg_chan_fd(c));
		} else if (r == -ENOBUFS) {
			r = fdmsg_flush_wait(c, -1);
		} else {
			return r;
		}
		if (r < 0)
			return r;
		r = send_once(c, peerid, iov, fds, nfds, mode);
	}
}

/* One frame, the way an application of this kind sends it: one call,
 * inline as an application writes it, and a wait only when the library
 * asks for one. */
static inline __attribute__((always_inline)) int
fd_send(struct fdmsg_chan *c, uint32_t peerid, const struct iovec *iov,
	const int *fds, unsigned nfds, enum sender mode)
{
	int r = send_once(c, peerid, iov, fds, nfds, mode);

	if (r == -ENOBUFS || (r == -EAGAIN && mode == SEND_POLL))
		return fd_send_wait(c, peerid, iov, fds, nfds, mode, r);
	return r;
}

/* The next message, of the case's type, size and descriptors. */
static int
recv_ok(struct fdmsg_chan *c, struct fdmsg_msg *m, const struct bcase *bc)
{
	int r = fdmsg_recv_wait(c, m, -1);

	if (r < 0)
		return r;
	if (m->type != BENCH_TYPE || m->len != bc->frame - FDMSG_HDR_SIZE ||
	    m->nfds != bc->nfds)
		return -EBADMSG;
	return 0;
}

static uint8_t payload[CHUNK];

static int
fd_client(const struct role *x, struct fdmsg_chan *c, struct res *rs)
{
	struct fdmsg_msg m;
	struct iovec iov;
	size_t i;
	int r;

	iov.iov_base = payload;
	iov.iov_len = x->bc->frame - FDMSG_HDR_SIZE;
	for (i = 0; i < x->warm + x->n; i++) {
		if ((r = warm_wait(x, i, rs)) < 0 ||
		    (r = fd_send(c, 0, &iov, NULL, 0, SEND_QUEUE)) < 0 ||
		    (r = recv_ok(c, &m, x->bc)) < 0)
			return r;
	}
	mark_end(rs, x->label);
	return 0;
}

static int
fd_server(const struct role *x, struct fdmsg_chan *c, struct res *rs)
{
	struct fdmsg_msg m;
	struct iovec iov;
	size_t i;
	int r;

	for (i = 0; i < x->warm + x->n; i++) {
		if ((r = recv_ok(c, &m, x->bc)) < 0)
			return r;
		iov.iov_base = (void *)(uintptr_t)m.payload;
		iov.iov_len = m.len;
		if ((r = fdmsg_send(c, m.type, m.peerid, &iov, 1, NULL, 0,
				    0)) < 0 ||
		    (r = warm_post(x, i, rs)) < 0)
			return r;
	}
	mark_end(rs, x->label);
	return 0;
}

static int
fd_sender(const struct role *x, struct fdmsg_chan *c, struct res *rs)
{
	const struct bcase *bc = x->bc;
	const enum sender mode = sender_of(bc);
	int fds[FDMSG_MAX_FDS_CAP];
	struct iovec iov;
	size_t i;
	int r;

	memset(fds, -1, sizeof(fds));
	if ((r = open_fds(fds, bc->nfds)) < 0)
		goto out;
	iov.iov_base = payload;
	iov.iov_len = bc->frame - FDMSG_HDR_SIZE;
	/* The queue grows to its cap only when it is full: fill it once
	 * while the receiver waits, so nothing grows in the measured phase
	 * however the two processes are scheduled. */
	if (mode != SEND_POLL) {
		do
			r = send_once(c, 0, &iov, fds, bc->nfds, mode);
		while (r >= 0);
		if (r != -ENOBUFS || (r = post_sync(x->sync)) < 0)
			goto out;
	}
	/* Warm-up; peerid 1 ends it. */
	for (i = 0; i < x->warm; i++)
		if ((r = fd_send(c, 0, &iov, fds, bc->nfds, mode)) < 0)
			goto out;
	if ((r = fd_send(c, 1, &iov, fds, bc->nfds, mode)) < 0 ||
	    (r = fdmsg_flush_wait(c, -1)) < 0 ||
	    (r = wait_sync(x->sync)) < 0)
		goto out;
	mark_begin(rs);
	for (i = 0; i < x->n; i++)
		if ((r = fd_send(c, 0, &iov, fds, bc->nfds, mode)) < 0)
			goto out;
	if ((r = fdmsg_flush_wait(c, -1)) < 0)
		goto out;
	mark_end(rs, x->label);
out:
	close_fds(fds, bc->nfds);
	return r;
}

static int
fd_receiver(const struct role *x, struct fdmsg_chan *c, struct res *rs)
{
	struct fdmsg_msg m;
	size_t i;
	int r;

	/* The sender fills its queue first (fd_sender); its warm-up ends
	 * with peerid 1. */
	if (sender_of(x->bc) != SEND_POLL && (r = wait_sync(x->sync)) < 0)
		return r;
	do {
		if ((r = recv_ok(c, &m, x->bc)) < 0)
			return r;
	} while (m.peerid != 1);
	mark_begin(rs);
	if ((r = post_sync(x->sync)) < 0)
		return r;
	/* The descriptors of a frame are closed by the next receive, as the
	 * raw receiver closes them. */
	for (i = 0; i < x->n; i++)
		if ((r = recv_ok(c, &m, x->bc)) < 0)
			return r;
	fdmsg_msg_release(&m);
	mark_end(rs, x->label);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Decode only                                                         */
/* ------------------------------------------------------------------ */

static uint64_t sink;

/* A frame of len bytes without descriptors, for the decoder. */
static void
put_frame(uint8_t *p, uint32_t len)
{
	struct fdmsg_hdr h;

	memset(&h, 0, sizeof(h));
	h.version = FDMSG_WIRE_VERSION;
	h.len = len;
	h.type = BENCH_TYPE;
	(void)fdmsg_hdr_encode(&h, p);
	memset(p + FDMSG_HDR_SIZE, 0xab, len - FDMSG_HDR_SIZE);
}

int
decode_role(const struct role *x, int impl, struct res *rs)
{
	const struct bcase *bc = x->bc;
	static uint8_t src[CHUNK], dst[CHUNK];
	const size_t per = CHUNK / bc->frame;
	struct fdmsg_hdr h;
	size_t i, off;
	int r;

	for (i = 0; i < per; i++)
		put_frame(src + i * bc->frame, bc->frame);
	for (i = 0; i < x->warm + x->n; i += per) {
		if (i == x->warm)
			mark_begin(rs);
		if (impl == IMPL_RAW) {
			memcpy(dst, src, sizeof(src));
			/* The copy must happen: dst escapes. */
			__asm__ volatile("" : : "r"(dst) : "memory");
			continue;
		}
		for (off = 0; off < sizeof(src); off += h.len) {
			r = fdmsg_hdr_decode(src + off, sizeof(src) - off,
					     FDMSG_MAX_FRAME_DEFAULT, 0, &h);
			if (r != FDMSG_HDR_SIZE)
				return FAIL(r < 0 ? r : -EBADMSG);
			sink += h.type;
		}
	}
	mark_end(rs, x->label);
	return 0;
}

int
fdmsg_role(const struct role *x, int which, struct res *rs)
{
	struct fdmsg_chan *c = NULL;
	int r;

	memset(payload, 0xab, sizeof(payload));
	give_flag = x->bc->give ? FDMSG_CLOSE_FDS : 0;
	if ((r = chan_open(x, &c)) < 0)
		return FAIL(r);
	if (x->bc->kind == K_PINGPONG)
		r = which == 0 ? fd_client(x, c, rs) : fd_server(x, c, rs);
	else
		r = which == 0 ? fd_sender(x, c, rs) : fd_receiver(x, c, rs);
	fdmsg_chan_free(c);
	return r < 0 ? FAIL(r) : 0;
}
