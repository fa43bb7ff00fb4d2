/* SPDX-License-Identifier: ISC */
/*
 * The channel: one connected AF_UNIX socket (SOCK_SEQPACKET, SOCK_STREAM or
 * SOCK_DGRAM) carrying frames with descriptors.  Non-blocking at its core:
 * every syscall uses MSG_DONTWAIT; the *_wait helpers poll.
 *
 * Receive: one buffer allocated once: max_frame bytes on a stream (at
 * least a hello's), max(max_frame, max_batch, FDMSG_DGRAM_SAFE) on
 * datagram sockets.
 * A datagram is validated whole before its first frame is handed out; a
 * stream keeps at most one partial frame at the front of the buffer, and
 * its descriptors in arrival order, at most max_fds of them ahead of
 * their frames (DESIGN.md, SOCK_STREAM).  Every recvmsg goes through the
 * ancillary gate (src/cmsg.c).
 *
 * Send: straight from the caller's iovecs when the queue is empty; what
 * must wait is copied into a capped queue (src/queue.c) with its
 * descriptors: duplicates, or the caller's own with FDMSG_CLOSE_FDS.
 *
 * Where a descriptor rests, and what moves it on:
 *   received: the gate's result (rx.res), by fdmsg_gate_recv;
 *     datagram: stays there until recv_dgram moves it to the current
 *     message (or bad_read/poison/drop_received close it);
 *     stream: read_stream moves it to the ring of descriptors ahead
 *     (srx.ahead), stream_frame to the current message, or
 *     drop_received closes it; a read's pidfd rests in srx.rd_pidfd,
 *     then srx.f_pidfd while its frame is partial, then the message;
 *   the current message (cur): the caller's through
 *     fdmsg_msg_take_fd/_pidfd, else closed by fdmsg_msg_release or
 *     release_cur at the next receive;
 *   sent: the caller's, borrowed for fdmsg_send; a frame that must wait
 *     keeps a duplicate, or the caller's own with FDMSG_CLOSE_FDS, in the
 *     send queue (tx.q) until a write carries it (fdmsg_q_flush closes
 *     ours) or the frame is dropped (fdmsg_q_drop_head);
 *   fdmsg_chan_free closes every one of them.
 *
 * With max_fds == 0 the channel turns SO_PASSRIGHTS off on the socket,
 * lent or owned, so the kernel itself refuses descriptors (Linux 6.16+);
 * with max_fds > 0 it turns it on.  SO_PASSCRED and SO_PASSPIDFD are
 * likewise set to what the options ask (pidfds bring credentials along),
 * so a lent socket's earlier setting cannot make every read fail the gate.
 *
 * The hello (DESIGN.md): sent first, by a greeting channel or to answer
 * one; the peer's is taken by the receive paths and bounds the send side.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cmsg.h"
#include "compat.h"
#include "explain.h"
#include "fdmsg.h"
#include "frame.h"
#include "queue.h"
#include "util.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* Caller iovecs up to this many go through a stack array. */
#define SMALL_IOV 16

/* Stream: descriptors received and not yet claimed by a frame, in
 * arrival order, each with the stream offset where its read began. */
struct fdring {
	int *fd;
	uint64_t *at;
	unsigned head;
	unsigned n;
	unsigned cap;
};

struct fdmsg_chan {
	int fd;
	int type;
	int connected;
	unsigned cflags; /* FDMSG_CHAN_* */
	struct fdmsg_opts opts;
	struct fdmsg_gate gate;
	atomic_int shut; /* fdmsg_shutdown was called (any thread) */
	int poison;      /* a protocol error, returned by every receive */
	struct fdmsg_error_info why; /* the rule of the last rejection */
	int dropped;     /* a queued frame the kernel refused while sending
			    a later one: reported by the next fdmsg_flush */
	int ended;       /* the peer's end was read: -EPIPE from now on */

	/* The hello (DESIGN.md, "The connection hello"). */
	int hello_sent;  /* ours is queued or sent: never another */
	int app_sent;    /* an application frame went to the queue or out:
			    too late to answer a hello */
	int app_rcvd;    /* an application frame arrived: no hello may */
	int peer_hello;  /* the peer's hello arrived: peer holds it */
	struct fdmsg_hello peer;

	/* Named parts; anonymous where the receive code keeps its field
	 * names.  Receive, every socket type. */
	struct {
		uint8_t *rbuf;
		size_t rcap;
		size_t rlen; /* bytes in rbuf */
		size_t rpos; /* the next frame starts at rbuf + rpos */
		size_t rfirst; /* datagram: where its first application frame
				  starts (after a hello) */
		struct cmsghdr *ctl;
		size_t ctl_size;
		/* Every read's msghdr, its iovec and control buffer set at
		 * creation: gate_read fills in only what changes. */
		struct msghdr rmh;
		struct iovec riov;
		/* The last read's ancillary data; for a datagram, the
		 * descriptors its later frames have still to take, from
		 * res_next on. */
		struct fdmsg_gate_result res;
		unsigned res_next;
		int has_cred;
		struct fdmsg_cred cred; /* of the buffered bytes; pidfd
					   unused */
		/* What a message of them reports (take_cred): set per
		 * read, copied per frame. */
		int m_has_cred;
		struct fdmsg_cred m_cred;
	};

	/* The current message. */
	struct {
		int *mfds; /* its descriptors */
		unsigned m_nfds;
		int mpidfd; /* its pidfd */
	};

	/* Stream receive. */
	struct {
		uint64_t rbase; /* stream offset of rbuf[0] */
		struct fdring ahead; /* descriptors no frame has claimed yet */
		int rd_pidfd;      /* the last read's pidfd, for the first frame
				      starting in it */
		uint64_t rd_start; /* stream offset where the last read began */
		int f_pidfd;       /* the pidfd of the read where the buffered
				      partial frame began */
	};

	/* Send. */
	struct {
		struct fdmsg_queue q; /* src/queue.c */
		struct iovec *siov;   /* caller iovecs past SMALL_IOV */
		size_t siov_cap;
		/* FDMSG_MORE with a full socket: write again once the
		 * queue holds this many bytes or descriptors, not at every
		 * frame. */
		size_t more_bytes;
		size_t more_fds;
		/* What the options and the peer's hello allow, set by
		 * send_limits: read once per frame. */
		size_t max_plen;    /* payload bytes of one frame */
		size_t peer_fds;    /* descriptors of one frame the peer
				       takes (its hello's; else the cap) */
		size_t batch_fds;   /* batch_fds() */
		struct fdmsg_qlim lim; /* lim.bytes: batch_bytes() */
		/* What every send returns before anything else: -ENOTCONN
		 * on an unconnected socket, else the poison once set. */
		int refuse;
	} tx;
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

/* Stream: the i-th descriptor of the ring, from its oldest. */
static unsigned
ring_at(const struct fdring *r, unsigned i)
{
	i += r->head;
	return i >= r->cap ? i - r->cap : i;
}

/* Appends fds[0..n), all from the read that began at start (n fits). */
static void
ring_push(struct fdring *r, const int *fds, unsigned n,
	  uint64_t start)
{
	unsigned tail = ring_at(r, r->n), k, i;

	k = r->cap - tail < n ? r->cap - tail : n;
	memcpy(r->fd + tail, fds, k * sizeof(int));
	if (n > k)
		memcpy(r->fd, fds + k, (n - k) * sizeof(int));
	for (i = 0; i < k; i++)
		r->at[tail + i] = start;
	for (; i < n; i++)
		r->at[i - k] = start;
	r->n += n;
}

/* How many of the oldest came in reads that began by offset f. */
static unsigned
ring_by(const struct fdring *r, uint64_t f)
{
	unsigned i;

	for (i = 0; i < r->n && r->at[ring_at(r, i)] <= f; i++)
		continue;
	return i;
}

/* Moves the n oldest to fds[0..n) (n held). */
static void
ring_take(struct fdring *r, int *fds, unsigned n)
{
	unsigned k = r->cap - r->head < n ? r->cap - r->head : n;

	memcpy(fds, r->fd + r->head, k * sizeof(int));
	if (n > k)
		memcpy(fds + k, r->fd, (n - k) * sizeof(int));
	r->head = ring_at(r, n);
	r->n -= n;
}

/* ------------------------------------------------------------------ */
/* Options and construction                                            */
/* ------------------------------------------------------------------ */

void
fdmsg_opts_init(struct fdmsg_opts *opts)
{
	if (opts == NULL)
		return;
	memset(opts, 0, sizeof(*opts));
	opts->max_frame = FDMSG_MAX_FRAME_DEFAULT;
	opts->max_batch = 0;
	opts->max_fds = FDMSG_MAX_FDS_DEFAULT;
	opts->max_queue = FDMSG_MAX_QUEUE_DEFAULT;
	opts->max_queue_fds = FDMSG_MAX_QUEUE_FDS_DEFAULT;
	opts->flags = 0;
}

/* Validate, never clamp. */
static int
check_opts(const struct fdmsg_opts *o)
{
	size_t i;

	if (o->max_frame < FDMSG_HDR_SIZE || o->max_frame > FDMSG_MAX_FRAME_CAP)
		return -EINVAL;
	if (o->max_batch != 0 && (o->max_batch < o->max_frame ||
				  o->max_batch > FDMSG_MAX_FRAME_CAP))
		return -EINVAL;
	if (o->max_fds > FDMSG_MAX_FDS_CAP)
		return -EINVAL;
	if (o->max_queue < o->max_frame || o->max_queue > FDMSG_MAX_QUEUE_CAP)
		return -EINVAL;
	if (o->max_queue_fds > FDMSG_MAX_QUEUE_FDS_CAP)
		return -EINVAL;
	if (o->flags & ~(FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD))
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(o->reserved); i++)
		if (o->reserved[i] != 0)
			return -EINVAL; /* an option this version lacks */
	return 0;
}

static int
sock_info(int fd, int *typep, int *connp)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int type, family;

	sl = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) < 0)
		return -errno;
#ifdef SO_DOMAIN
	sl = sizeof(family);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &sl) < 0)
		return -errno;
#else
	memset(&ss, 0, sizeof(ss));
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	family = ss.ss_family;
#endif
	if (family != AF_UNIX)
		return -EAFNOSUPPORT;
	if (type != SOCK_SEQPACKET && type != SOCK_STREAM && type != SOCK_DGRAM)
		return -ESOCKTNOSUPPORT;
	sl = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		*connp = 1;
	} else if (errno == ENOTCONN && type == SOCK_DGRAM) {
		*connp = 0; /* bound, receive only */
	} else {
		return -errno;
	}
	*typep = type;
	return 0;
}

/* setsockopt of an int; ignore_off: an unknown option is fine when the
 * value asked for is the kernel's default behaviour anyway. */
static int
set_flag(int fd, int opt, int on, int ignore_off)
{
	if (setsockopt(fd, SOL_SOCKET, opt, &on, sizeof(on)) == 0)
		return 0;
	if (ignore_off && (errno == ENOPROTOOPT || errno == EINVAL ||
			   errno == EOPNOTSUPP))
		return 0;
	if (errno == ENOPROTOOPT)
		return -EOPNOTSUPP;
	return -errno;
}

/*
 * THREATS 39: a stream frame may be assembled from reads of different
 * writers sharing the socket (the kernel never merges writers within one
 * read); credentials tell reads apart, and pidfds where credentials read
 * alike.  So pidfds switch credentials on too; msg_fill reports them only
 * when asked for.
 */
static unsigned
gate_flags(const struct fdmsg_opts *o)
{
	if (o->flags & FDMSG_OPT_PIDFD)
		return o->flags | FDMSG_OPT_CREDS;
	return o->flags;
}

static int
set_sockopts(int fd, const struct fdmsg_opts *o)
{
	int creds = (gate_flags(o) & FDMSG_OPT_CREDS) != 0;
	int pidfd = (o->flags & FDMSG_OPT_PIDFD) != 0;
	int r;

#ifdef SO_PASSCRED
	if ((r = set_flag(fd, SO_PASSCRED, creds, !creds)) < 0)
		return r;
#else
	if (creds)
		return -EOPNOTSUPP;
#endif
#ifdef SO_PASSPIDFD
	if ((r = set_flag(fd, SO_PASSPIDFD, pidfd, !pidfd)) < 0)
		return r;
#else
	if (pidfd)
		return -EOPNOTSUPP;
#endif
#ifdef SO_PASSRIGHTS
	/* Older kernels do not know it: the gate still rejects. */
	if ((r = set_flag(fd, SO_PASSRIGHTS, o->max_fds > 0, 1)) < 0)
		return r;
#endif
	(void)r;
	return 0;
}

static void drop_received(struct fdmsg_chan *c);
static void release_cur(struct fdmsg_chan *c);
static void send_hello(struct fdmsg_chan *c);
static void send_limits(struct fdmsg_chan *c);

static void
chan_destroy(struct fdmsg_chan *c)
{
	if (c == NULL)
		return;
	release_cur(c);
	drop_received(c);
	fdmsg_q_free(&c->tx.q);
	free(c->tx.siov);
	free(c->ahead.fd);
	free(c->ahead.at);
	free(c->mfds);
	free(c->ctl);
	free(c->rbuf);
	free(c);
}

int
fdmsg_chan_new(struct fdmsg_chan **out, int fd,
	       const struct fdmsg_opts *opts, unsigned flags)
{
	struct fdmsg_chan *c = NULL;
	struct fdmsg_opts o;
	size_t nslots, n;
	int r, type = 0, connected = 0;

	if (opts != NULL)
		o = *opts;
	else
		fdmsg_opts_init(&o);
	if (out == NULL ||
	    (flags & ~(FDMSG_CHAN_OWN_FD | FDMSG_CHAN_HELLO |
		       FDMSG_CHAN_NO_HELLO)) ||
	    (flags & (FDMSG_CHAN_HELLO | FDMSG_CHAN_NO_HELLO)) ==
		    (FDMSG_CHAN_HELLO | FDMSG_CHAN_NO_HELLO)) {
		r = -EINVAL;
		goto fail;
	}
	if ((r = check_opts(&o)) < 0)
		goto fail;
	if (fd < 0) {
		r = -EBADF;
		goto fail;
	}
	if ((r = sock_info(fd, &type, &connected)) < 0)
		goto fail;
	if (!connected && (flags & FDMSG_CHAN_HELLO)) {
		r = -EINVAL; /* a receive-only channel sends nothing */
		goto fail;
	}
	if ((r = set_sockopts(fd, &o)) < 0)
		goto fail;

	r = -ENOMEM;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto fail;
	/* Before anything can fail: no slot may read as descriptor 0. */
	fdmsg_gate_res_init(&c->res);
	c->mpidfd = -1;
	c->rd_pidfd = -1;
	c->f_pidfd = -1;
	/* The blank credentials, as the gate's (not root). */
	fdmsg_cred_blank(&c->cred);
	fdmsg_cred_blank(&c->m_cred);
	c->fd = fd;
	c->type = type;
	c->connected = connected;
	c->tx.refuse = connected ? 0 : -ENOTCONN;
	c->cflags = flags;
	c->opts = o;
	c->gate.max_fds = o.max_fds;
	c->gate.flags = gate_flags(&o);
	c->gate.close_fd = NULL;
	atomic_init(&c->shut, 0);
	fdmsg_q_init(&c->tx.q, o.max_queue, o.max_queue_fds);
	send_limits(c);

	/* A stream reads only while no whole frame is buffered (or a
	 * hello).  A datagram of FDMSG_DGRAM_SAFE bytes fits every
	 * receiver, so senders batch within it with no hello. */
	c->rcap = o.max_frame > FDMSG_HELLO_SIZE ? o.max_frame :
						   FDMSG_HELLO_SIZE;
	if (type != SOCK_STREAM) {
		if (o.max_batch > c->rcap)
			c->rcap = o.max_batch;
		if (FDMSG_DGRAM_SAFE > c->rcap)
			c->rcap = FDMSG_DGRAM_SAFE;
	}
	c->rbuf = malloc(c->rcap);
	if (c->rbuf == NULL)
		goto fail;
	c->ctl_size = fdmsg_gate_control_size(&c->gate);
	n = c->ctl_size / sizeof(struct cmsghdr) + 1;
	c->ctl = calloc(n, sizeof(struct cmsghdr)); /* aligned for cmsghdr */
	if (c->ctl == NULL)
		goto fail;
	c->rmh.msg_iov = &c->riov; /* the rest 0 from calloc: no name */
	c->rmh.msg_iovlen = 1;
	c->rmh.msg_control = c->ctl;
	nslots = o.max_fds > 0 ? o.max_fds : 1;
	c->mfds = malloc(nslots * sizeof(int));
	if (c->mfds == NULL)
		goto fail;
	if (type == SOCK_STREAM) {
		/* Up to max_fds ahead, those of the partial frame and what
		 * one read brings (DESIGN.md, SOCK_STREAM). */
		c->ahead.cap = 3 * (unsigned)nslots;
		c->ahead.fd = malloc(c->ahead.cap * sizeof(int));
		c->ahead.at = malloc(c->ahead.cap * sizeof(uint64_t));
		if (c->ahead.fd == NULL || c->ahead.at == NULL)
			goto fail;
	}
	if (flags & FDMSG_CHAN_HELLO)
		send_hello(c);
	*out = c;
	return 0;

fail:
	chan_destroy(c);
	if ((flags & FDMSG_CHAN_OWN_FD) && fd >= 0)
		close_keep_errno(fd);
	return r;
}

void
fdmsg_chan_free(struct fdmsg_chan *chan)
{
	int saved = errno;

	if (chan == NULL)
		return;
	if (chan->cflags & FDMSG_CHAN_OWN_FD)
		close_keep_errno(chan->fd);
	chan_destroy(chan);
	errno = saved;
}

int
fdmsg_chan_fd(const struct fdmsg_chan *chan)
{
	if (chan == NULL)
		return -EINVAL;
	return chan->fd;
}

/* ------------------------------------------------------------------ */
/* Receive                                                             */
/* ------------------------------------------------------------------ */

/* Closes what the current message did not take. */
static void
release_cur(struct fdmsg_chan *c)
{
	if (c->m_nfds > 0) {
		close_fds(c->mfds, c->m_nfds);
		c->m_nfds = 0;
	}
	if (c->mpidfd >= 0)
		close_keep_errno(take_fd(&c->mpidfd));
}

/* Closes every received descriptor no message holds yet. */
static void
drop_received(struct fdmsg_chan *c)
{
	fdmsg_gate_discard(&c->gate, &c->res);
	c->res_next = 0;
	/* Only [head, head + n) of the ring is live. */
	while (c->ahead.n > 0) {
		close_keep_errno(c->ahead.fd[c->ahead.head]);
		c->ahead.head = ring_at(&c->ahead, 1);
		c->ahead.n--;
	}
	close_keep_errno(take_fd(&c->rd_pidfd));
	close_keep_errno(take_fd(&c->f_pidfd));
}

static int
poison(struct fdmsg_chan *c, int err)
{
	c->poison = err;
	if (c->tx.refuse == 0) /* -ENOTCONN stays first */
		c->tx.refuse = err;
	drop_received(c);
	return err;
}

/* Records the rule a read broke, for fdmsg_chan_error; returns err. */
static int
why(struct fdmsg_chan *c, int rule, uint64_t value,
    uint64_t limit, int err)
{
	return fdmsg_why(&c->why, rule, value, limit, err);
}

/* A frame cut short at p (n bytes there): its length, once known. */
static uint64_t
cut_len(const uint8_t *p, size_t n)
{
	return n >= FDMSG_HDR_SIZE ? le32_load(p + OFF_LEN) : FDMSG_HDR_SIZE;
}

/* A read that took a message off the socket and then failed.  On a
 * connected socket nobody can tell where the next frame starts: poisoned.
 * A receive-only datagram channel (many senders) drops that datagram,
 * which stands alone, and reports it (THREATS 44). */
static int
bad_read(struct fdmsg_chan *c, int err)
{
	if (c->connected)
		return poison(c, err);
	fdmsg_gate_discard(&c->gate, &c->res);
	c->res_next = 0;
	c->rlen = c->rpos = 0;
	return err;
}

/* The sender of a read's bytes (res), from now on the buffered bytes'.
 * FDMSG_OPT_PIDFD alone also turns credentials on, to tell writers
 * apart: messages report them only when asked for.  Per read. */
static FDMSG_INLINE void
take_cred(struct fdmsg_chan *c)
{
	/* None before and none now (no SO_PASSCRED, the common case):
	 * cred and m_cred hold the blank credentials already. */
	if (!c->res.has_cred && !c->has_cred)
		return;
	c->has_cred = c->res.has_cred;
	c->cred = c->res.cred;
	c->m_has_cred = c->has_cred && (c->opts.flags & FDMSG_OPT_CREDS);
	c->m_cred = c->cred;
	if (!c->m_has_cred)
		fdmsg_cred_blank(&c->m_cred); /* its pidfd: msg_fill's */
}

static FDMSG_INLINE void
msg_fill(struct fdmsg_chan *c, struct fdmsg_msg *msg,
	 const struct fdmsg_hdr *h,
	 const uint8_t *frame)
{
	c->app_rcvd = 1;
	msg->type = h->type;
	msg->peerid = h->peerid;
	msg->payload = frame + FDMSG_HDR_SIZE;
	msg->len = h->len - FDMSG_HDR_SIZE;
	msg->fds = c->mfds;
	msg->nfds = h->nfds;
	msg->has_cred = c->m_has_cred;
	msg->cred = c->m_cred;
	msg->cred.pidfd = c->mpidfd;
	msg->pidfd_slot = &c->mpidfd;
}

static int
stream_end(struct fdmsg_chan *c)
{
	/* THREATS 25: a frame cut short is -EBADMSG; descriptors that no
	 * frame took are -EPROTO (THREATS 52). */
	if (c->rlen > c->rpos)
		return poison(c, why(c, FDMSG_RULE_CUT, c->rlen - c->rpos,
				     cut_len(c->rbuf + c->rpos,
					     c->rlen - c->rpos), -EBADMSG));
	if (c->ahead.n > 0)
		return poison(c, why(c, FDMSG_RULE_FDS_UNCLAIMED, c->ahead.n,
				     0, -EPROTO));
	c->ended = 1;
	return -EPIPE;
}

/* A failed fdmsg_gate_recv: the gate has closed what came. */
static int
recv_error(struct fdmsg_chan *c, int err)
{
	/* THREATS 46: whatever failed after recvmsg took bytes (the gate,
	 * moving a descriptor above 2), those bytes are gone. */
	if (c->res.consumed) {
		c->why = c->res.why;
		return bad_read(c, err);
	}
	/* A recvmsg that failed for want of a descriptor may have taken
	 * the message with it. */
	if (err == -EMFILE || err == -ENFILE)
		return bad_read(c, why(c, FDMSG_RULE_FD_TABLE, 0, 0, err));
	if (err == -EAGAIN || err == -EWOULDBLOCK)
		return -EAGAIN;
	/* A stream reports it only once its queue is empty. */
	if (err == -ECONNRESET) {
		if (c->type == SOCK_STREAM)
			return stream_end(c);
		c->ended = 1;
		return -EPIPE;
	}
	return err; /* a socket error that consumed nothing */
}

/* One read through the gate; rdflags: MSG_DONTWAIT, or 0 where the
 * read may block (fdmsg_recv_wait without a deadline: the socket's own
 * mode decides).  Inline: per read. */
static FDMSG_INLINE ssize_t
gate_read(struct fdmsg_chan *c, void *p,
	  size_t n, int rdflags)
{
	c->riov.iov_base = p;
	c->riov.iov_len = n;
	/* recvmsg rewrites msg_controllen and msg_flags; nothing else. */
	c->rmh.msg_controllen = c->ctl_size;
	c->rmh.msg_flags = 0;
	return fdmsg_gate_recv_flags(&c->gate, c->fd, &c->rmh, &c->res,
				     rdflags);
}

/* A hello may be the peer's first frame on a connected socket, once;
 * anywhere else it is a header with an undefined flag (-EBADMSG). */
static int
hello_here(const struct fdmsg_chan *c, const uint8_t *p, size_t n)
{
	/* app_rcvd first: after the first frame, the only test. */
	return !c->app_rcvd && c->connected && !c->peer_hello &&
	       fdmsg_hello_is(p, n);
}

/*
 * The peer's hello at p (n bytes there): its limits bound what we send
 * from now on, and we answer it with ours unless we spoke first.  0:
 * taken; 1: need more bytes; < 0: the error.
 */
static int
take_hello(struct fdmsg_chan *c, const uint8_t *p, size_t n)
{
	struct fdmsg_hello h;
	int r;

	r = fdmsg_hello_decode_why(p, n, &h, &c->why);
	if (r == 0)
		return 1;
	if (r < 0)
		return r;
	if (h.min_version > FDMSG_WIRE_VERSION ||
	    h.max_version < FDMSG_WIRE_VERSION)
		return why(c, FDMSG_RULE_HELLO_NO_VERSION, h.min_version,
			   h.max_version, -EPROTONOSUPPORT);
	c->peer = h;
	c->peer_hello = 1;
	send_limits(c);
	if (!c->hello_sent && !c->app_sent &&
	    !(c->cflags & FDMSG_CHAN_NO_HELLO))
		send_hello(c);
	return 0;
}

/* SEQPACKET, DGRAM: reads and validates one whole datagram. */
static FDMSG_INLINE int
read_dgram(struct fdmsg_chan *c, int rdflags)
{
	struct fdmsg_hdr h;
	size_t off = 0, sum = 0, n, first;
	ssize_t got;
	int r;

	got = gate_read(c, c->rbuf, c->rcap, rdflags);
	/* A datagram socket reports a pending ECONNRESET (the peer closed
	 * with our data unread) before the datagrams still queued, and
	 * clears it: read again so they are delivered before the end. */
	if (got == -ECONNRESET)
		got = gate_read(c, c->rbuf, c->rcap, rdflags);
	if (got < 0)
		return recv_error(c, (int)got);
	if (got == 0) {
		if (atomic_load(&c->shut)) {
			fdmsg_gate_discard(&c->gate, &c->res);
			return -ESHUTDOWN; /* woken by fdmsg_shutdown */
		}
		/* Unconnected: no end exists, only an empty datagram,
		 * which holds no frame. */
		if (!c->connected)
			return bad_read(c, why(c, FDMSG_RULE_EMPTY, 0,
					       FDMSG_HDR_SIZE, -EBADMSG));
		/* An empty datagram and the end look alike (THREATS 12). */
		fdmsg_gate_discard(&c->gate, &c->res);
		c->ended = 1;
		return -EPIPE;
	}
	n = (size_t)got;
	/* A hello may open the peer's first datagram. */
	if (hello_here(c, c->rbuf, n)) {
		r = take_hello(c, c->rbuf, n);
		if (r == 1) /* cut short */
			r = why(c, FDMSG_RULE_CUT, n, FDMSG_HELLO_SIZE,
				-EBADMSG);
		if (r < 0)
			goto bad;
		off = FDMSG_HELLO_SIZE;
	}
	first = off;
	/* DESIGN "which error wins": headers in turn, lengths, then fds. */
	while (off < n) {
		r = fdmsg_hdr_read(c->rbuf + off, n - off, c->opts.max_frame,
				   c->opts.max_fds, &h, &c->why);
		if (r == 0)
			r = why(c, FDMSG_RULE_CUT, n - off, FDMSG_HDR_SIZE,
				-EBADMSG);
		if (r < 0)
			goto bad;
		if (h.len > n - off) {
			r = why(c, FDMSG_RULE_CUT, n - off, h.len, -EBADMSG);
			goto bad;
		}
		off += h.len;
		sum += h.nfds;
	}
	if (sum != c->res.nfds) {
		r = why(c, FDMSG_RULE_FDS_COUNT, c->res.nfds, sum, -EPROTO);
		goto bad;
	}
	if (first == n) {
		/* A hello alone: its pidfd belongs to no frame. */
		fdmsg_gate_discard(&c->gate, &c->res);
		c->rlen = c->rpos = 0;
		return 0;
	}
	c->rlen = n;
	c->rpos = c->rfirst = first;
	c->res_next = 0;
	take_cred(c);
	return 0;

bad:
	return bad_read(c, r);
}

/* SEQPACKET, DGRAM: hands out the next frame of the datagram read
 * (rpos < rlen).  Inline: per frame. */
static FDMSG_INLINE int
dgram_frame(struct fdmsg_chan *c,
	    struct fdmsg_msg *msg)
{
	struct fdmsg_hdr h;
	unsigned i;

	/* read_dgram validated every header: only the fields here, and
	 * the bounds this function relies on, once more. */
	if (c->rlen - c->rpos < FDMSG_HDR_SIZE) { /* cannot happen */
		CANNOT_HAPPEN();
		return poison(c, why(c, FDMSG_RULE_INTERNAL, 0, 0, -EBADMSG));
	}
	fdmsg_hdr_fields(c->rbuf + c->rpos, &h);
	if (h.len < FDMSG_HDR_SIZE || h.len > c->rlen - c->rpos ||
	    h.nfds > c->res.nfds - c->res_next) { /* cannot happen */
		CANNOT_HAPPEN();
		return poison(c, why(c, FDMSG_RULE_INTERNAL, 0, 0, -EBADMSG));
	}
	for (i = 0; i < h.nfds; i++)
		c->mfds[i] = take_fd(&c->res.fds[c->res_next + i]);
	c->res_next += h.nfds;
	c->m_nfds = h.nfds;
	/* The datagram's pidfd goes to its first frame only (there is
	 * none without FDMSG_OPT_PIDFD: the gate refuses it). */
	if ((c->gate.flags & FDMSG_OPT_PIDFD) && c->rpos == c->rfirst)
		c->mpidfd = take_fd(&c->res.cred.pidfd);
	msg_fill(c, msg, &h, c->rbuf + c->rpos);
	c->rpos += h.len;
	if (c->rpos >= c->rlen) {
		c->res.nfds = 0;
		c->res_next = 0;
	}
	return 0;
}

static FDMSG_INLINE int
recv_dgram(struct fdmsg_chan *c,
	    struct fdmsg_msg *msg, int rdflags)
{
	int r;

	/* A datagram that held only a hello leaves nothing: read on. */
	while (c->rpos >= c->rlen) {
		c->rpos = c->rlen = 0;
		if ((r = read_dgram(c, rdflags)) < 0)
			return r;
	}
	return dgram_frame(c, msg);
}

/* STREAM: the stream offset of the frame at the front of the buffer.
 * Computed where it is needed: per frame, only descriptors and pidfds
 * need it. */
static uint64_t
stream_at(const struct fdmsg_chan *c)
{
	return c->rbase + c->rpos;
}

/*
 * STREAM: hands out the frame at the front of the buffer.  0: handed
 * out; 1: more bytes are needed; 2: a hello was taken, look again;
 * < 0: poisoned.
 */
static FDMSG_INLINE int
stream_frame(struct fdmsg_chan *c,
	     struct fdmsg_msg *msg)
{
	const size_t avail = c->rlen - c->rpos;
	struct fdmsg_hdr h;
	int r;

	if (hello_here(c, c->rbuf + c->rpos, avail)) {
		r = take_hello(c, c->rbuf + c->rpos, avail);
		if (r == 1)
			return 1;
		if (r < 0)
			return poison(c, r);
		c->rpos += FDMSG_HELLO_SIZE;
		return 2;
	}
	r = fdmsg_hdr_read(c->rbuf + c->rpos, avail, c->opts.max_frame,
			   c->opts.max_fds, &h, &c->why);
	if (r < 0)
		return poison(c, r);
	if (r == 0)
		return 1;
	/* THREATS 52: its descriptors came by the read of its first byte,
	 * the oldest first. */
	if (h.nfds > 0 &&
	    (c->ahead.n < h.nfds ||
	     c->ahead.at[ring_at(&c->ahead, h.nfds - 1u)] > stream_at(c)))
		return poison(c, why(c, FDMSG_RULE_FDS_MISSING, h.nfds,
				     ring_by(&c->ahead, stream_at(c)),
				     -EPROTO));
	if (avail < h.len)
		return 1;

	if (h.nfds > 0)
		ring_take(&c->ahead, c->mfds, h.nfds);
	c->m_nfds = h.nfds;
	/* Without FDMSG_OPT_PIDFD the gate refuses every pidfd: no read
	 * has one to pass on (read_stream keeps none). */
	if (c->gate.flags & FDMSG_OPT_PIDFD) {
		if (stream_at(c) < c->rd_start) {
			c->mpidfd = take_fd(&c->f_pidfd);
		} else {
			close_keep_errno(take_fd(&c->f_pidfd));
			c->mpidfd = take_fd(&c->rd_pidfd);
		}
	}
	msg_fill(c, msg, &h, c->rbuf + c->rpos);
	c->rpos += h.len;
	return 0;
}

static int
same_cred(const struct fdmsg_cred *a, const struct fdmsg_cred *b)
{
	return a->pid == b->pid && a->uid == b->uid && a->gid == b->gid;
}

/*
 * Do two pidfds name the same process?  On pidfs (Linux 6.9+) each
 * process has its own inode, so two writers differ even where their
 * credentials read alike (both outside our pid namespace: pid 0; a pid
 * reused).  Older kernels give every pidfd one inode: the credentials
 * are then all there is.  A pidfd that cannot be examined proves
 * nothing: not the same.
 */
static int
same_process(int a, int b)
{
	struct stat sa, sb;

	if (a < 0 || b < 0 || fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return 0;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * THREATS 34, 39: may this read's bytes continue the buffered partial
 * frame (rlen > 0: the caller checks, per read)?  Only from the same
 * sender: the same credentials, and, where the frame will carry a pidfd
 * (the one of the read it began in, still held), a pidfd of the same
 * process with this read.
 */
static int
same_sender(const struct fdmsg_chan *c)
{
	int claimed;

	if (c->has_cred != c->res.has_cred ||
	    (c->has_cred && !same_cred(&c->cred, &c->res.cred)))
		return 0;
	claimed = c->rbase >= c->rd_start ? c->rd_pidfd : c->f_pidfd;
	return claimed < 0 || same_process(claimed, c->res.cred.pidfd);
}

/* STREAM: one read into the free space after the buffered bytes. */
static FDMSG_INLINE int
read_stream(struct fdmsg_chan *c, int rdflags)
{
	ssize_t got;
	size_t n, claims;

	/* Drop the frames handed out: the partial frame moves to the front. */
	if (c->rpos > 0) {
		if (c->rlen > c->rpos) /* else no call: per read */
			memmove(c->rbuf, c->rbuf + c->rpos,
				c->rlen - c->rpos);
		c->rbase += c->rpos;
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	if (c->rlen >= c->rcap) /* a whole frame fits: cannot be */
		return poison(c, why(c, FDMSG_RULE_INTERNAL, 0, 0, -EBADMSG));
	got = gate_read(c, c->rbuf + c->rlen, c->rcap - c->rlen, rdflags);
	if (got < 0)
		return recv_error(c, (int)got);
	if (got == 0) {
		fdmsg_gate_discard(&c->gate, &c->res);
		if (atomic_load(&c->shut))
			return -ESHUTDOWN; /* raced with fdmsg_shutdown */
		return stream_end(c);
	}
	n = (size_t)got;

	/* THREATS 34, 39: the kernel never merges senders within one read,
	 * so all buffered bytes share one sender; a frame continued by
	 * another sender is forged. */
	if (c->rlen > 0 && !same_sender(c)) /* nothing buffered: no frame */
		return poison(c, why(c, FDMSG_RULE_SENDER,
				     (uint64_t)c->res.cred.pid,
				     (uint64_t)c->cred.pid, -EPROTO));
	take_cred(c);

	/* The previous read's pidfd belongs to the first frame starting in
	 * it: the buffered partial frame, if it began there.  Without
	 * FDMSG_OPT_PIDFD the gate refuses every pidfd: all stay -1, and
	 * rd_start only ever serves them. */
	if (c->gate.flags & FDMSG_OPT_PIDFD) {
		if (c->rd_pidfd >= 0) {
			if (c->rlen > 0 && c->rbase >= c->rd_start) {
				close_keep_errno(take_fd(&c->f_pidfd));
				c->f_pidfd = take_fd(&c->rd_pidfd);
			} else {
				close_keep_errno(take_fd(&c->rd_pidfd));
			}
		}
		c->rd_pidfd = take_fd(&c->res.cred.pidfd);
		c->rd_start = c->rbase + c->rlen; /* where this read began */
	}

	c->rlen += n;
	if (c->res.nfds > 0) {
		if (c->res.nfds > c->ahead.cap - c->ahead.n) /* ruled out */
			return poison(c, why(c, FDMSG_RULE_INTERNAL, 0, 0,
					     -EPROTO));
		/* This read began n bytes before the buffer's end. */
		ring_push(&c->ahead, c->res.fds, c->res.nfds,
			  c->rbase + c->rlen - n);
		c->res.nfds = 0;
		/* THREATS 52: at most max_fds beyond what the frames begun
		 * in the buffer declare. */
		claims = c->ahead.n > c->opts.max_fds ?
				 fdmsg_stream_claims(c->rbuf + c->rpos,
						     c->rlen - c->rpos,
						     c->opts.max_fds) :
				 0;
		if (c->ahead.n > c->opts.max_fds + claims)
			return poison(c, why(c, FDMSG_RULE_FDS_AHEAD,
					     c->ahead.n - claims,
					     c->opts.max_fds, -EPROTO));
	}
	return 0;
}

static FDMSG_INLINE int
recv_stream(struct fdmsg_chan *c,
	     struct fdmsg_msg *msg, int rdflags)
{
	int r;

	for (;;) {
		/* Nothing buffered holds no frame: read at once. */
		if (c->rlen > c->rpos) {
			r = stream_frame(c, msg);
			if (r <= 0)
				return r;
			if (r == 2)
				continue;
		}
		if ((r = read_stream(c, rdflags)) < 0)
			return r;
	}
}

/* fdmsg_recv once its arguments are checked; block: reads may block
 * (gate_read). */
static FDMSG_INLINE int
chan_recv_inline(struct fdmsg_chan *chan, struct fdmsg_msg *msg, int block)
{
	int r;

	/* Per frame: nothing to close is the common case. */
	if (chan->m_nfds > 0 || chan->mpidfd >= 0)
		release_cur(chan);
	if (chan->poison)
		return chan->poison;
	if (atomic_load(&chan->shut))
		return -ESHUTDOWN;
	if (chan->ended)
		return -EPIPE;
	if (chan->type == SOCK_STREAM)
		r = recv_stream(chan, msg, block ? 0 : MSG_DONTWAIT);
	else
		r = recv_dgram(chan, msg, block ? 0 : MSG_DONTWAIT);
	return r;
}

/* Out of line for fdmsg_recv and the waits after a first try: recv_next
 * hands out a buffered frame without it. */
static FDMSG_NOINLINE int
chan_recv(struct fdmsg_chan *chan,
	  struct fdmsg_msg *msg, int block)
{
	return chan_recv_inline(chan, msg, block);
}

/*
 * Per frame, inline in both entry points: the next frame of what was
 * read already, when nothing else is to be done first (descriptors or a
 * pidfd of the last message to close, an error or end to report); else
 * chan_recv.
 */
static FDMSG_INLINE int
recv_next_in(struct fdmsg_chan *c, struct fdmsg_msg *msg, int block, int inl)
{
	if (c->rpos < c->rlen && c->m_nfds == 0 && c->mpidfd < 0 &&
	    !c->poison && !atomic_load(&c->shut) && !c->ended) {
		if (c->type != SOCK_STREAM)
			return dgram_frame(c, msg);
		/* A stream frame buffered whole; else (more bytes, a
		 * hello, an error, which poisons) the general path. */
		if (stream_frame(c, msg) == 0)
			return 0;
	}
	return inl ? chan_recv_inline(c, msg, block) : chan_recv(c, msg, block);
}

static FDMSG_INLINE int
recv_next(struct fdmsg_chan *c, struct fdmsg_msg *msg,
	  int block)
{
	return recv_next_in(c, msg, block, 0);
}

int
fdmsg_recv(struct fdmsg_chan *chan, struct fdmsg_msg *msg)
{
	if (chan == NULL || msg == NULL)
		return -EINVAL;
	return recv_next(chan, msg, 0);
}

int
fdmsg_chan_error(const struct fdmsg_chan *chan,
		 struct fdmsg_error_info *info)
{
	if (chan == NULL || info == NULL)
		return -EINVAL;
	*info = chan->why;
	return info->err;
}

int
fdmsg_recv_pending(const struct fdmsg_chan *chan, size_t *bytes,
		   unsigned *nfds)
{
	unsigned n = 0;

	if (chan == NULL)
		return -EINVAL;
	if (chan->type == SOCK_STREAM) {
		n = chan->ahead.n;
	} else if (chan->res.nfds > chan->res_next) {
		n = chan->res.nfds - chan->res_next;
	}
	if (bytes != NULL)
		*bytes = chan->rlen - chan->rpos;
	if (nfds != NULL)
		*nfds = n;
	return chan->rlen > chan->rpos || n > 0;
}

/* ------------------------------------------------------------------ */
/* Message helpers                                                     */
/* ------------------------------------------------------------------ */

int
fdmsg_msg_take_fd(struct fdmsg_msg *msg, unsigned i)
{
	if (msg == NULL)
		return -EINVAL;
	if (msg->fds == NULL || i >= msg->nfds || msg->fds[i] < 0)
		return -EBADF;
	return take_fd(&msg->fds[i]);
}

int
fdmsg_msg_take_pidfd(struct fdmsg_msg *msg)
{
	if (msg == NULL)
		return -EINVAL;
	if (msg->pidfd_slot == NULL || *msg->pidfd_slot < 0)
		return -EBADF;
	msg->cred.pidfd = -1;
	return take_fd(msg->pidfd_slot);
}

void
fdmsg_msg_release(struct fdmsg_msg *msg)
{
	if (msg == NULL)
		return;
	if (msg->fds != NULL)
		close_fds(msg->fds, msg->nfds);
	if (msg->pidfd_slot != NULL)
		close_keep_errno(take_fd(msg->pidfd_slot));
	msg->cred.pidfd = -1;
	msg->nfds = 0;
	msg->payload = NULL;
	msg->len = 0;
}

/* ------------------------------------------------------------------ */
/* Send                                                                */
/* ------------------------------------------------------------------ */

/*
 * The most one write takes from the queue.  On a datagram socket, the
 * most bytes a datagram of several frames holds: within ours, and within
 * the peer's as its hello said, or without one FDMSG_DGRAM_SAFE, which
 * every receiver takes.
 */
static size_t
batch_bytes(const struct fdmsg_chan *c)
{
	size_t own, peer;

	own = c->opts.max_batch ? c->opts.max_batch : c->opts.max_frame;
	if (c->type == SOCK_STREAM)
		return own;
	peer = FDMSG_DGRAM_SAFE;
	if (c->peer_hello)
		peer = c->peer.max_batch ? c->peer.max_batch :
					   c->peer.max_frame;
	return own < peer ? own : peer;
}

/* The most descriptors one datagram of a batch takes (0: no limit of
 * its own), within what the queue may hold. */
static size_t
batch_fds(const struct fdmsg_chan *c)
{
	if (c->type == SOCK_STREAM || c->opts.max_fds == 0)
		return 0;
	return c->opts.max_fds < c->opts.max_queue_fds ? c->opts.max_fds :
							 c->opts.max_queue_fds;
}

/* The send side's limits, from the options and the peer's hello: at
 * creation and when the hello arrives. */
static void
send_limits(struct fdmsg_chan *c)
{
	size_t plen = c->opts.max_frame - FDMSG_HDR_SIZE;

	if (c->peer_hello && c->peer.max_frame - FDMSG_HDR_SIZE < plen)
		plen = c->peer.max_frame - FDMSG_HDR_SIZE;
	c->tx.max_plen = plen;
	c->tx.peer_fds = c->peer_hello ? c->peer.max_fds : FDMSG_MAX_FDS_CAP;
	c->tx.batch_fds = batch_fds(c);
	c->tx.lim.fd = c->fd;
	c->tx.lim.stream = c->type == SOCK_STREAM;
	c->tx.lim.bytes = batch_bytes(c);
	/* What one read of the peer takes: its hello's max_fds, else, as
	 * the two ends agree without one, ours. */
	c->tx.lim.fds = c->peer_hello ? c->peer.max_fds : c->opts.max_fds;
}

/* FDMSG_MORE: a whole batch waits, so a write would be a full one. */
static int
batch_whole(const struct fdmsg_chan *c)
{
	return fdmsg_q_whole(&c->tx.q, c->tx.lim.bytes, c->tx.batch_fds);
}

/* FDMSG_MORE and a full socket: try again one batch later, not at every
 * frame. */
static void
more_later(struct fdmsg_chan *c)
{
	c->tx.more_bytes = fdmsg_q_bytes(&c->tx.q) + c->tx.lim.bytes;
	c->tx.more_fds = c->tx.batch_fds > 0 ?
				 fdmsg_q_nfds(&c->tx.q) + c->tx.batch_fds :
				 SIZE_MAX;
}

/* whole: write only while a whole batch waits (FDMSG_MORE). */
static int
flush_queue(struct fdmsg_chan *c, int whole)
{
	return fdmsg_q_flush(&c->tx.q, &c->tx.lim, whole, c->tx.batch_fds);
}

/* Our hello goes first (the queue is empty: nothing was sent yet). */
static void
own_hello(const struct fdmsg_chan *c, struct fdmsg_hello *h)
{
	h->min_version = h->max_version = FDMSG_WIRE_VERSION;
	h->max_frame = c->opts.max_frame;
	h->max_batch = c->type == SOCK_STREAM ? 0 : (uint32_t)c->rcap;
	h->max_fds = c->opts.max_fds;
	h->caps = (c->opts.max_fds > 0 ? FDMSG_CAP_FDS : 0) |
		  (c->opts.flags & FDMSG_OPT_CREDS ? FDMSG_CAP_CREDS : 0) |
		  (c->opts.flags & FDMSG_OPT_PIDFD ? FDMSG_CAP_PIDFD : 0);
}

/*
 * Our hello, first on the wire (nothing was sent yet: the queue is
 * empty).  Written at once where it can be, else queued for the next
 * send or flush; an error shows there, as for any queued frame.  On a
 * connected SOCK_DGRAM it is only queued: a send to a peer that has
 * closed makes the kernel purge our own receive queue, and a receive
 * that answers a hello must never cost the datagrams after it.
 */
static void
send_hello(struct fdmsg_chan *c)
{
	uint8_t buf[FDMSG_HELLO_SIZE];
	struct fdmsg_hello h;
	struct iovec body;
	ssize_t n = 0;

	own_hello(c, &h);
	if (fdmsg_hello_encode(&h, buf) < 0) {
		CANNOT_HAPPEN(); /* the options were checked */
		return;
	}
	body.iov_base = buf;
	body.iov_len = FDMSG_HELLO_SIZE;
	if (c->type != SOCK_DGRAM) {
		n = fdmsg_send_iov(c->fd, &body, 1, NULL, 0, MSG_DONTWAIT);
		if (n == FDMSG_HELLO_SIZE || (n < 0 && fdmsg_is_dead((int)n))) {
			c->hello_sent = 1; /* sent, or nobody to hear it */
			return;
		}
		if (n < 0)
			n = 0;
		if (n > 0 && c->type != SOCK_STREAM) {
			CANNOT_HAPPEN(); /* datagrams are atomic */
			return;
		}
	}
	if (fdmsg_q_append(&c->tx.q, NULL, &body, 1, (size_t)n, NULL, 0, 0) <
	    0)
		return; /* no room: the peer stays within safe defaults */
	c->hello_sent = 1;
}

int
fdmsg_peer_info(const struct fdmsg_chan *chan,
		struct fdmsg_peer_info *info)
{
	if (chan == NULL || info == NULL)
		return -EINVAL;
	if (!chan->peer_hello)
		return chan->app_rcvd || !chan->connected || chan->ended ||
			       chan->poison ? -ENODATA : -EAGAIN;
	memset(info, 0, sizeof(*info));
	info->hello = chan->peer;
	info->version = FDMSG_WIRE_VERSION; /* the one both speak */
	return 0;
}

int
fdmsg_flush(struct fdmsg_chan *chan)
{
	int dropped, r;

	if (chan == NULL)
		return -EINVAL;
	if (atomic_load(&chan->shut))
		return -ESHUTDOWN;
	/* A refusal seen by an earlier fdmsg_send is this call's report;
	 * writing on now could drop another frame and lose its report. */
	dropped = chan->dropped;
	chan->dropped = 0;
	if (dropped != 0)
		return dropped;
	chan->tx.more_bytes = chan->tx.more_fds = 0;
	r = flush_queue(chan, 0);
	return r;
}

/*
 * fdmsg_send's flush of what is queued before its frame: a refusal there
 * belongs to an earlier frame, already accepted with 0, so it is kept for
 * the next fdmsg_flush instead of being reported as this frame's.
 */
static int
flush_behind(struct fdmsg_chan *chan, int whole)
{
	int r;

	/* One refusal waits for its report: writing on could drop another
	 * frame whose error would have nowhere to go. */
	if (chan->dropped != 0)
		return fdmsg_q_empty(&chan->tx.q) ? 0 : -EAGAIN;
	r = flush_queue(chan, whole);

	if (r < 0 && r != -EAGAIN && !fdmsg_is_dead(r)) {
		if (chan->dropped == 0)
			chan->dropped = r;
		r = 0;
	}
	return r;
}

int
fdmsg_want_write(const struct fdmsg_chan *chan)
{
	return chan != NULL && !fdmsg_q_empty(&chan->tx.q);
}

static int
siov_reserve(struct fdmsg_chan *c, size_t n)
{
	struct iovec *p;

	if (n <= c->tx.siov_cap)
		return 0;
	p = realloc(c->tx.siov, n * sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	c->tx.siov = p;
	c->tx.siov_cap = n;
	return 0;
}

/*
 * Not a flag of the API (fdmsg_send refuses it): the descriptors given
 * away are known open, because send_direct's sendmsg of them failed for
 * want of room and Linux fetches every SCM_RIGHTS descriptor (scm_send)
 * before it looks for room; a given one not open was -EBADF there.
 * Elsewhere the room may be looked at first.
 */
#define SEND_GIVEN_OPEN 0x80000000u

/*
 * Queues frame h behind what waits: the caller's descriptors given away
 * (FDMSG_CLOSE_FDS) become the queue's, *given set; else duplicates.
 */
static int
enqueue(struct fdmsg_chan *c, const struct fdmsg_hdr *h,
	const struct iovec *iov, size_t iovcnt, const int *fds,
	size_t nfds, unsigned flags, int *given)
{
	int r, own;

	if (nfds == 0) {
		r = fdmsg_q_put(&c->tx.q, h, iov, iovcnt);
		return r < 0 ? r : 0;
	}
	own = !(flags & FDMSG_CLOSE_FDS) ? FDMSG_Q_DUP :
	      (flags & SEND_GIVEN_OPEN) ? FDMSG_Q_GIVEN_OPEN : FDMSG_Q_GIVEN;
	r = fdmsg_q_append(&c->tx.q, h, iov, iovcnt, 0, fds, nfds, own);
	if (r > 0)
		*given = 1;
	return r < 0 ? r : 0;
}

/* flags after send_direct's sendmsg failed for want of room. */
static inline unsigned
sent_open(unsigned flags)
{
#ifdef __linux__
	return flags | SEND_GIVEN_OPEN;
#else
	return flags;
#endif
}

/* The queue is empty: one sendmsg straight from the caller's memory.
 * 1: the socket took none of it, queue it whole. */
static FDMSG_INLINE int
send_direct(struct fdmsg_chan *c,
	     const uint8_t *hdr,
	     const struct fdmsg_hdr *h,
	     const struct iovec *iov, size_t iovcnt,
	     const int *fds, size_t nfds)
{
	struct iovec small[SMALL_IOV], *v = small;
	ssize_t n;
	int r;

	if (iovcnt + 1 > SMALL_IOV) {
		if ((r = siov_reserve(c, iovcnt + 1)) < 0)
			return r;
		v = c->tx.siov;
	}
	v[0].iov_base = (void *)(uintptr_t)hdr;
	v[0].iov_len = FDMSG_HDR_SIZE;
	/* One iovec is the common case: no memcpy call for it. */
	if (iovcnt == 1)
		v[1] = iov[0];
	else if (iovcnt > 1)
		memcpy(v + 1, iov, iovcnt * sizeof(*iov));
	/* A stream frame must never be left half sent: make room for the
	 * rest of a short write before writing. */
	if (c->type == SOCK_STREAM &&
	    (r = fdmsg_q_reserve(&c->tx.q, h->len, 0)) < 0)
		return r;

	n = fdmsg_send_iov(c->fd, v, iovcnt + 1, fds, nfds,
			   MSG_DONTWAIT);
	if (n >= 0 && (size_t)n == h->len)
		return 0;
	if (n > 0 && c->type == SOCK_STREAM) {
		/* The first byte carried the descriptors; the rest is
		 * queued without them, even with FDMSG_NO_QUEUE. */
		r = fdmsg_q_append(&c->tx.q, h, iov, iovcnt, (size_t)n, NULL,
				   0, 0);
		return r < 0 ? r : 0;
	}
	if (n > 0)
		return -EIO; /* datagrams are atomic */
	if (n == 0 || n == -EAGAIN || n == -EWOULDBLOCK ||
	    (n == -ENOBUFS && c->type != SOCK_STREAM))
		return 1;
	return (int)n;
}

/* Closes the descriptors given away (FDMSG_CLOSE_FDS), each once however
 * often the frame names it. */
static void
close_given(const int *fds, size_t nfds)
{
	size_t i;

	for (i = 0; i < nfds; i++)
		if (!fd_named_before(fds, i))
			close_keep_errno(fds[i]);
}

/* Adds a caller's iovec to *plen: -EINVAL for a NULL base with a length,
 * -EMSGSIZE past SIZE_MAX. */
static FDMSG_INLINE int
iov_add(const struct iovec *v, size_t *plen)
{
	if (v->iov_base == NULL && v->iov_len > 0)
		return -EINVAL;
	if (size_add(*plen, v->iov_len, plen) < 0)
		return -EMSGSIZE;
	return 0;
}

static FDMSG_NOINLINE int
send_general(struct fdmsg_chan *chan, uint32_t type, uint32_t peerid,
	     const struct iovec *iov, size_t iovcnt, const int *fds,
	     size_t nfds, unsigned flags)
{
	uint8_t hdr[FDMSG_HDR_SIZE];
	struct fdmsg_queue *q;
	struct fdmsg_hdr h;
	size_t plen = 0, i;
	int r, given = 0;

	if (chan == NULL || (iov == NULL && iovcnt > 0) ||
	    (fds == NULL && nfds > 0) ||
	    (flags & ~(FDMSG_CLOSE_FDS | FDMSG_NO_QUEUE | FDMSG_MORE)) ||
	    (flags & (FDMSG_NO_QUEUE | FDMSG_MORE)) ==
		    (FDMSG_NO_QUEUE | FDMSG_MORE) ||
	    iovcnt > (size_t)IOV_MAX - 1 || nfds > FDMSG_MAX_FDS_CAP) {
		r = -EINVAL;
		goto out;
	}
	q = &chan->tx.q;
	/* One iovec is the common case: no loop for it. */
	if (iovcnt == 1) {
		if ((r = iov_add(&iov[0], &plen)) < 0)
			goto out;
	} else {
		for (i = 0; i < iovcnt; i++)
			if ((r = iov_add(&iov[i], &plen)) < 0)
				goto out;
	}
	/* Within our max_frame and the peer's. */
	if (plen > chan->tx.max_plen) {
		r = -EMSGSIZE;
		goto out;
	}
	if (nfds > chan->tx.peer_fds) {
		r = -EPERM; /* the peer said it takes fewer */
		goto out;
	}
	for (i = 0; i < nfds; i++) {
		if (fds[i] < 0) {
			r = -EBADF;
			goto out;
		}
	}
	if (chan->tx.refuse) { /* -ENOTCONN, else the poison */
		r = chan->tx.refuse;
		goto out;
	}
	if (atomic_load(&chan->shut)) {
		r = -ESHUTDOWN;
		goto out;
	}

	h.version = FDMSG_WIRE_VERSION;
	h.nfds = (uint8_t)nfds;
	h.flags = 0;
	h.len = (uint32_t)(FDMSG_HDR_SIZE + plen);
	h.type = type;
	h.peerid = peerid;

	/* With max_queue_fds 0 no descriptor ever waits: such a frame
	 * takes the plain path. */
	if ((flags & FDMSG_MORE) &&
	    (nfds == 0 || chan->opts.max_queue_fds > 0)) {
		/* Corked: behind the queue, written once a whole batch
		 * waits (or by the next send without it, or a flush).  No
		 * descriptors is the common case: inline. */
		if (nfds == 0)
			r = fdmsg_q_put(q, &h, iov, iovcnt);
		else
			r = enqueue(chan, &h, iov, iovcnt, fds, nfds, flags,
				    &given);
		if (r == -ENOBUFS && !fdmsg_q_empty(q)) {
			/* A batch that can never fill (max_batch past
			 * max_queue, descriptors past max_queue_fds):
			 * write what waits, and queue behind what the
			 * socket left. */
			r = flush_behind(chan, 0);
			chan->tx.more_bytes = chan->tx.more_fds = 0;
			if (fdmsg_is_dead(r))
				goto out;
			r = enqueue(chan, &h, iov, iovcnt, fds, nfds, flags,
				    &given);
		}
		if (r < 0)
			goto out;
		if (batch_whole(chan) &&
		    (fdmsg_q_bytes(q) >= chan->tx.more_bytes ||
		     fdmsg_q_nfds(q) >= chan->tx.more_fds)) {
			r = flush_behind(chan, 1);
			chan->tx.more_bytes = chan->tx.more_fds = 0;
			if (batch_whole(chan))
				more_later(chan); /* the socket is full */
			r = fdmsg_is_dead(r) ? r : 0;
		}
		goto out;
	}
	if (!fdmsg_q_empty(q)) {
		if (!(flags & FDMSG_NO_QUEUE)) {
			/* Behind the queue, to keep the order. */
			r = enqueue(chan, &h, iov, iovcnt, fds, nfds, flags,
				    &given);
			if (r < 0)
				goto out;
			r = flush_behind(chan, 0);
			/* Queued: only a dead peer is this frame's error. */
			r = fdmsg_is_dead(r) ? r : 0;
			goto out;
		}
		r = flush_behind(chan, 0);
		if (!fdmsg_q_empty(q)) {
			r = fdmsg_is_dead(r) ? r : -EAGAIN;
			goto out;
		}
	}
	/* From the arguments, not h: they are still in registers. */
	fdmsg_hdr_put_fields(hdr, FDMSG_WIRE_VERSION, (uint8_t)nfds, 0,
			     (uint32_t)(FDMSG_HDR_SIZE + plen), type, peerid);
	r = send_direct(chan, hdr, &h, iov, iovcnt, fds, nfds);
	if (r == 1)
		r = flags & FDMSG_NO_QUEUE ? -EAGAIN :
					     enqueue(chan, &h, iov, iovcnt, fds,
						     nfds, sent_open(flags),
						     &given);

out:
	if (r == 0)
		chan->app_sent = 1;
	/* Given to the queue, they are its own now (closed once sent, or
	 * by a dead peer's flush). */
	if ((flags & FDMSG_CLOSE_FDS) && fds != NULL && !given)
		close_given(fds, nfds);
	return r;
}

/*
 * FDMSG_MORE (fdmsg_send checked), one iovec, no descriptors: queued
 * here when there is room for the frame without making a batch whole,
 * in a function that saves no registers for send_general's work (a
 * corked burst's frame per frame).  Any other case, each error
 * included, is send_general's.
 */
static FDMSG_NOINLINE int
send_corked(struct fdmsg_chan *chan, uint32_t type, uint32_t peerid,
	    const struct iovec *iov, size_t iovcnt, const int *fds,
	    size_t nfds, unsigned flags)
{
	struct fdmsg_queue *q;
	uint8_t *dst;
	size_t plen;

	if (nfds != 0 || iovcnt != 1 || chan == NULL || iov == NULL)
		goto general;
	plen = iov->iov_len;
	q = &chan->tx.q;
	if ((iov->iov_base == NULL && plen > 0) || plen > chan->tx.max_plen ||
	    chan->tx.refuse || atomic_load(&chan->shut) ||
	    (chan->tx.batch_fds > 0 && fdmsg_q_nfds(q) >= chan->tx.batch_fds))
		goto general;
	/* max_plen keeps the sum within a frame's uint32_t length. */
	if (fdmsg_q_grab(q, FDMSG_HDR_SIZE + plen, chan->tx.lim.bytes,
			 &dst) < 0)
		goto general;
	chan->app_sent = 1;
	fdmsg_hdr_put_fields(dst, FDMSG_WIRE_VERSION, 0, 0,
			     (uint32_t)(FDMSG_HDR_SIZE + plen), type, peerid);
	if (plen > 0)
		memcpy(dst + FDMSG_HDR_SIZE, iov->iov_base, plen);
	return 0;
general:
	return send_general(chan, type, peerid, iov, iovcnt, fds, nfds,
			    flags);
}

/*
 * No flag, one iovec, no descriptors, an empty queue: one sendmsg from
 * the caller's memory, with send_general's checks in the same order and
 * its way of queueing what the socket did not take (a request and its
 * answer, message per message).  Any other case, each error included,
 * is send_general's.
 */
static FDMSG_NOINLINE int
send_plain(struct fdmsg_chan *chan, uint32_t type, uint32_t peerid,
	   const struct iovec *iov, size_t iovcnt, const int *fds,
	   size_t nfds, unsigned flags)
{
	uint8_t hdr[FDMSG_HDR_SIZE];
	struct fdmsg_hdr h;
	size_t plen;
	int r, given = 0;

	if (nfds != 0 || iovcnt != 1 || chan == NULL || iov == NULL)
		goto general;
	plen = iov->iov_len;
	if ((iov->iov_base == NULL && plen > 0) || plen > chan->tx.max_plen ||
	    chan->tx.refuse || atomic_load(&chan->shut) ||
	    !fdmsg_q_empty(&chan->tx.q))
		goto general;
	h.version = FDMSG_WIRE_VERSION;
	h.nfds = 0;
	h.flags = 0;
	h.len = (uint32_t)(FDMSG_HDR_SIZE + plen);
	h.type = type;
	h.peerid = peerid;
	fdmsg_hdr_put_fields(hdr, FDMSG_WIRE_VERSION, 0, 0,
			     (uint32_t)(FDMSG_HDR_SIZE + plen), type, peerid);
	r = send_direct(chan, hdr, &h, iov, 1, NULL, 0);
	if (r == 1)
		r = enqueue(chan, &h, iov, 1, NULL, 0, sent_open(0), &given);
	if (r == 0)
		chan->app_sent = 1;
	return r;
general:
	return send_general(chan, type, peerid, iov, iovcnt, fds, nfds,
			    flags);
}

int
fdmsg_send(struct fdmsg_chan *chan, uint32_t type, uint32_t peerid,
	   const struct iovec *iov, size_t iovcnt, const int *fds,
	   size_t nfds, unsigned flags)
{
	/* Tail calls all: nothing is saved or moved on the way. */
	if (flags == FDMSG_MORE)
		return send_corked(chan, type, peerid, iov, iovcnt, fds, nfds,
				   flags);
	if (flags == 0)
		return send_plain(chan, type, peerid, iov, iovcnt, fds, nfds,
				  flags);
	return send_general(chan, type, peerid, iov, iovcnt, fds, nfds, flags);
}

/* ------------------------------------------------------------------ */
/* Blocking helpers and shutdown                                       */
/* ------------------------------------------------------------------ */

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Polls until events, the deadline (timeout_ms < 0: none) or a signal.
 * 0: try again; -ETIMEDOUT; -ESHUTDOWN; a poll error. */
static int
wait_fd(struct fdmsg_chan *c, short events, int timeout_ms,
	int64_t deadline)
{
	struct pollfd p;
	int64_t left;
	int ms = -1;

	if (atomic_load(&c->shut))
		return -ESHUTDOWN;
	if (timeout_ms >= 0) {
		left = deadline - now_ns();
		if (left <= 0)
			return -ETIMEDOUT;
		left = (left + 999999) / 1000000; /* round up: no spin */
		ms = left > INT_MAX ? INT_MAX : (int)left;
	}
	p.fd = c->fd;
	p.events = events;
	p.revents = 0;
	if (poll(&p, 1, ms) < 0 && errno != EINTR)
		return -errno;
	if (atomic_load(&c->shut))
		return -ESHUTDOWN;
	return 0;
}

/* fdmsg_recv_wait once its first try said -EAGAIN: the waits.  Out of
 * line: a frame already buffered, or a blocking read, returns without
 * them. */
static FDMSG_NOINLINE int
recv_wait_slow(struct fdmsg_chan *chan, struct fdmsg_msg *msg, int timeout_ms)
{
	int64_t deadline = 0;
	int r;

	/* The deadline counts from here: the first try did not wait. */
	if (timeout_ms >= 0)
		deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	for (;;) {
		if ((r = wait_fd(chan, POLLIN, timeout_ms, deadline)) < 0)
			return r;
		r = recv_next(chan, msg, timeout_ms < 0);
		if (r != -EAGAIN)
			return r;
	}
}

int
fdmsg_recv_wait(struct fdmsg_chan *chan, struct fdmsg_msg *msg,
		int timeout_ms)
{
	int r;

	if (chan == NULL || msg == NULL || timeout_ms < -1)
		return -EINVAL;
	/* No deadline: a blocking socket blocks in recvmsg itself, one
	 * syscall per read as a hand-written loop (fdmsg_shutdown's
	 * shutdown(2) wakes it); a non-blocking one says EAGAIN and is
	 * polled.  Every socket type alike: a stream read returns whatever
	 * has arrived, so a partial frame waits in recvmsg as it would in
	 * poll. */
	r = recv_next_in(chan, msg, timeout_ms < 0, 1);
	if (r != -EAGAIN)
		return r;
	return recv_wait_slow(chan, msg, timeout_ms);
}

int
fdmsg_flush_wait(struct fdmsg_chan *chan, int timeout_ms)
{
	int64_t deadline = 0;
	int r;

	if (chan == NULL || timeout_ms < -1)
		return -EINVAL;
	if (timeout_ms >= 0)
		deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	for (;;) {
		r = fdmsg_flush(chan);
		if (r != -EAGAIN)
			return r;
		if ((r = wait_fd(chan, POLLOUT, timeout_ms, deadline)) < 0)
			return r;
	}
}

/*
 * Safe from another thread: an atomic flag, then shutdown(2), which wakes
 * a poll on this socket here and shows the end to the peer.  On a bound,
 * unconnected DGRAM there is nothing to shut down (ENOTCONN): only the
 * flag is set, and a waiter sees it at its next wakeup or timeout.
 */
int
fdmsg_shutdown(struct fdmsg_chan *chan)
{
	if (chan == NULL)
		return -EINVAL;
	atomic_store(&chan->shut, 1);
	if (shutdown(chan->fd, SHUT_RDWR) < 0 && errno != ENOTCONN)
		return -errno;
	return 0;
}
