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
 * stream keeps at most one partial frame at the front of the buffer and at
 * most two descriptor batches (DESIGN.md, SOCK_STREAM).  Every recvmsg goes
 * through the ancillary gate (src/cmsg.c).
 *
 * Send: straight from the caller's iovecs when the queue is empty; what
 * must wait is copied into a capped queue with duplicated descriptors.
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
#include "util.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* Caller iovecs up to this many go through a stack array. */
#define SMALL_IOV 16

/* Growable array whose live elements are [head, end). */
struct vec {
	void *p;
	size_t head;
	size_t end;
	size_t cap;
};

/* Descriptors of one stream read and the stream range of its bytes. */
struct batch {
	uint64_t start;
	uint64_t end;
	unsigned n;    /* descriptors that came */
	unsigned next; /* fds[next..n) not yet claimed by a frame */
	int *fds;
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
	int rd_block;    /* fdmsg_recv_wait without a deadline: reads may
			    block (the socket's own mode decides) */

	/* The hello (DESIGN.md, "The connection hello"). */
	int hello_sent;  /* ours is queued or sent: never another */
	int app_sent;    /* an application frame went to the queue or out:
			    too late to answer a hello */
	int app_rcvd;    /* an application frame arrived: no hello may */
	int peer_hello;  /* the peer's hello arrived: peer holds it */
	struct fdmsg_hello peer;

	/* Receive. */
	uint8_t *rbuf;
	size_t rcap;
	size_t rlen; /* bytes in rbuf */
	size_t rpos; /* the next frame starts at rbuf + rpos */
	size_t rfirst; /* datagram: where its first application frame
			  starts (after a hello) */
	struct cmsghdr *ctl;
	size_t ctl_size;
	/* The last read's ancillary data; for a datagram, the descriptors
	 * its later frames have still to take, from res_next on. */
	struct fdmsg_gate_result res;
	unsigned res_next;
	int has_cred;
	struct fdmsg_cred cred; /* of the buffered bytes; pidfd unused */
	int *mfds;              /* the current message's descriptors */
	unsigned m_nfds;
	int mpidfd; /* the current message's pidfd */

	/* Stream only. */
	uint64_t rbase; /* stream offset of rbuf[0] */
	struct batch batch[2];
	unsigned nbatch;
	int *batch_fds;
	int rd_pidfd;      /* the last read's pidfd, for the first frame
			      starting in it */
	uint64_t rd_start; /* stream offset where the last read began */
	int f_pidfd;       /* the pidfd of the read where the buffered
			      partial frame began */

	/* Send queue: whole frames back to back as on the wire, so each
	 * frame's own header gives its length and descriptor count; no
	 * record beside the bytes, so max_queue bounds the queue's heap
	 * (THREATS 45). */
	struct vec qbytes; /* uint8_t, capped at max_queue */
	struct vec qfds;   /* int: duplicates we own, capped at
			      max_queue_fds */
	size_t qsent;      /* stream: bytes of the head frame written
			      already (its descriptors went with the
			      first one) */
	struct iovec *siov;
	size_t siov_cap;
	/* FDMSG_MORE with a full socket: write again once the queue holds
	 * this many bytes or descriptors, not at every frame. */
	size_t more_bytes;
	size_t more_fds;
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static void close_fds(int *fds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		close_keep_errno(take_fd(&fds[i]));
}

static size_t vec_len(const struct vec *v)
{
	return v->end - v->head;
}

static void vec_pop(struct vec *v, size_t n)
{
	v->head += n;
	if (v->head >= v->end)
		v->head = v->end = 0;
}

/*
 * Room for n more elements of size sz after v->end, max elements in all.
 * Moves the live elements to the front when the head has passed them (so
 * each element is moved at most once per time it is consumed), else grows
 * geometrically.  Never changes the live elements' values.
 */
static int vec_reserve(struct vec *v, size_t sz, size_t n, size_t max)
{
	size_t live = v->end - v->head, need, ncap, bytes;
	void *np;

	if (n <= v->cap - v->end)
		return 0;
	if (size_add(live, n, &need) < 0 || need > max)
		return -ENOBUFS;
	if (need <= v->cap && (v->head >= live || v->cap >= max)) {
		memmove(v->p, (char *)v->p + v->head * sz, live * sz);
		v->head = 0;
		v->end = live;
		return 0;
	}
	ncap = v->cap > 8 ? v->cap : 8;
	while (ncap < need || ncap == v->cap) {
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

static int is_dead(int err)
{
	return err == -EPIPE || err == -ECONNRESET || err == -ECONNREFUSED;
}

/* ------------------------------------------------------------------ */
/* Options and construction                                            */
/* ------------------------------------------------------------------ */

void fdmsg_opts_init(struct fdmsg_opts *opts)
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
static int check_opts(const struct fdmsg_opts *o)
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

static int sock_info(int fd, int *typep, int *connp)
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
static int set_flag(int fd, int opt, int on, int ignore_off)
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
static unsigned gate_flags(const struct fdmsg_opts *o)
{
	if (o->flags & FDMSG_OPT_PIDFD)
		return o->flags | FDMSG_OPT_CREDS;
	return o->flags;
}

static int set_sockopts(int fd, const struct fdmsg_opts *o)
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
static void q_drop_all(struct fdmsg_chan *c);
static void release_cur(struct fdmsg_chan *c);
static void send_hello(struct fdmsg_chan *c);

static void chan_destroy(struct fdmsg_chan *c)
{
	if (c == NULL)
		return;
	release_cur(c);
	drop_received(c);
	q_drop_all(c);
	free(c->qbytes.p);
	free(c->qfds.p);
	free(c->siov);
	free(c->batch_fds);
	free(c->mfds);
	free(c->ctl);
	free(c->rbuf);
	free(c);
}

int fdmsg_chan_new(struct fdmsg_chan **out, int fd,
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
	c->res.nfds = 0;
	c->res.cred.pidfd = -1;
	c->mpidfd = -1;
	c->rd_pidfd = -1;
	c->f_pidfd = -1;
	c->fd = fd;
	c->type = type;
	c->connected = connected;
	c->cflags = flags;
	c->opts = o;
	c->gate.max_fds = o.max_fds;
	c->gate.flags = gate_flags(&o);
	c->gate.close_fd = NULL;
	atomic_init(&c->shut, 0);

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
	nslots = o.max_fds > 0 ? o.max_fds : 1;
	c->mfds = malloc(nslots * sizeof(int));
	if (c->mfds == NULL)
		goto fail;
	if (type == SOCK_STREAM) {
		c->batch_fds = malloc(2 * nslots * sizeof(int));
		if (c->batch_fds == NULL)
			goto fail;
		c->batch[0].fds = c->batch_fds;
		c->batch[1].fds = c->batch_fds + nslots;
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

void fdmsg_chan_free(struct fdmsg_chan *chan)
{
	int saved = errno;

	if (chan == NULL)
		return;
	if (chan->cflags & FDMSG_CHAN_OWN_FD)
		close_keep_errno(chan->fd);
	chan_destroy(chan);
	errno = saved;
}

int fdmsg_chan_fd(const struct fdmsg_chan *chan)
{
	if (chan == NULL)
		return -EINVAL;
	return chan->fd;
}

/* ------------------------------------------------------------------ */
/* Receive                                                             */
/* ------------------------------------------------------------------ */

/* Closes what the current message did not take. */
static void release_cur(struct fdmsg_chan *c)
{
	/* Per frame: nothing to close is the common case. */
	if (c->m_nfds > 0) {
		close_fds(c->mfds, c->m_nfds);
		c->m_nfds = 0;
	}
	if (c->mpidfd >= 0)
		close_keep_errno(take_fd(&c->mpidfd));
}

/* Closes every received descriptor no message holds yet. */
static void drop_received(struct fdmsg_chan *c)
{
	unsigned i;

	fdmsg_gate_discard(&c->gate, &c->res);
	c->res_next = 0;
	for (i = 0; i < c->nbatch; i++)
		close_fds(c->batch[i].fds, c->batch[i].n);
	c->nbatch = 0;
	close_keep_errno(take_fd(&c->rd_pidfd));
	close_keep_errno(take_fd(&c->f_pidfd));
}

static int poison(struct fdmsg_chan *c, int err)
{
	c->poison = err;
	drop_received(c);
	return err;
}

/* Records the rule a read broke, for fdmsg_chan_error; returns err. */
static int why(struct fdmsg_chan *c, int rule, uint64_t value,
	       uint64_t limit, int err)
{
	return fdmsg_why(&c->why, rule, value, limit, err);
}

/* A frame cut short at p (n bytes there): its length, once known. */
static uint64_t cut_len(const uint8_t *p, size_t n)
{
	return n >= FDMSG_HDR_SIZE ? le32_load(p + 4) : FDMSG_HDR_SIZE;
}

/* A read that took a message off the socket and then failed.  On a
 * connected socket nobody can tell where the next frame starts: poisoned.
 * A receive-only datagram channel (many senders) drops that datagram,
 * which stands alone, and reports it (THREATS 44). */
static int bad_read(struct fdmsg_chan *c, int err)
{
	if (c->connected)
		return poison(c, err);
	fdmsg_gate_discard(&c->gate, &c->res);
	c->res_next = 0;
	c->rlen = c->rpos = 0;
	return err;
}

static void msg_fill(struct fdmsg_chan *c, struct fdmsg_msg *msg,
		     const struct fdmsg_hdr *h, const uint8_t *frame)
{
	c->app_rcvd = 1;
	msg->type = h->type;
	msg->peerid = h->peerid;
	msg->payload = frame + FDMSG_HDR_SIZE;
	msg->len = h->len - FDMSG_HDR_SIZE;
	msg->fds = c->mfds;
	msg->nfds = h->nfds;
	/* FDMSG_OPT_PIDFD alone also turns credentials on, to tell
	 * writers apart: report them only when asked for. */
	msg->has_cred = c->has_cred && (c->opts.flags & FDMSG_OPT_CREDS);
	msg->cred = c->cred;
	if (!msg->has_cred) {
		msg->cred.pid = 0;
		msg->cred.uid = (uid_t)-1;
		msg->cred.gid = (gid_t)-1;
	}
	msg->cred.pidfd = c->mpidfd;
	msg->pidfd_slot = &c->mpidfd;
}

static int stream_end(struct fdmsg_chan *c)
{
	unsigned i;

	/* THREATS 25: a frame cut short is -EBADMSG; descriptors that no
	 * frame took are -EPROTO, as anywhere else in the stream. */
	if (c->rlen > c->rpos)
		return poison(c, why(c, FDMSG_RULE_CUT, c->rlen - c->rpos,
				     cut_len(c->rbuf + c->rpos,
					     c->rlen - c->rpos), -EBADMSG));
	for (i = 0; i < c->nbatch; i++)
		if (c->batch[i].next < c->batch[i].n)
			return poison(c, why(c, FDMSG_RULE_FDS_UNCLAIMED,
					     c->batch[i].n - c->batch[i].next,
					     0, -EPROTO));
	c->ended = 1;
	return -EPIPE;
}

/* A failed fdmsg_gate_recv: the gate has closed what came. */
static int recv_error(struct fdmsg_chan *c, int err)
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

static ssize_t gate_read(struct fdmsg_chan *c, void *p, size_t n)
{
	struct iovec iov;
	struct msghdr mh;

	iov.iov_base = p;
	iov.iov_len = n;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = c->ctl;
	mh.msg_controllen = c->ctl_size;
	if (c->rd_block)
		return fdmsg_gate_recv_block(&c->gate, c->fd, &mh, &c->res);
	return fdmsg_gate_recv(&c->gate, c->fd, &mh, &c->res);
}

/* A hello may be the peer's first frame on a connected socket, once;
 * anywhere else it is a header with an undefined flag (-EBADMSG). */
static int hello_here(const struct fdmsg_chan *c, const uint8_t *p, size_t n)
{
	return c->connected && !c->app_rcvd && !c->peer_hello &&
	       fdmsg_hello_is(p, n);
}

/*
 * The peer's hello at p (n bytes there): its limits bound what we send
 * from now on, and we answer it with ours unless we spoke first.  0:
 * taken; 1: need more bytes; < 0: the error.
 */
static int take_hello(struct fdmsg_chan *c, const uint8_t *p, size_t n)
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
	if (!c->hello_sent && !c->app_sent &&
	    !(c->cflags & FDMSG_CHAN_NO_HELLO))
		send_hello(c);
	return 0;
}

/* SEQPACKET, DGRAM: reads and validates one whole datagram. */
static int read_dgram(struct fdmsg_chan *c)
{
	struct fdmsg_hdr h;
	size_t off = 0, sum = 0, n, first;
	ssize_t got;
	int r;

	got = gate_read(c, c->rbuf, c->rcap);
	/* A datagram socket reports a pending ECONNRESET (the peer closed
	 * with our data unread) before the datagrams still queued, and
	 * clears it: read again so they are delivered before the end. */
	if (got == -ECONNRESET)
		got = gate_read(c, c->rbuf, c->rcap);
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
		r = fdmsg_hdr_decode_why(c->rbuf + off, n - off,
					 c->opts.max_frame, c->opts.max_fds,
					 &h, &c->why);
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
	c->has_cred = c->res.has_cred;
	c->cred = c->res.cred;
	return 0;

bad:
	return bad_read(c, r);
}

/* The fields of a header that has been validated. */
static void hdr_fields(const uint8_t *p, struct fdmsg_hdr *h)
{
	h->version = p[0];
	h->nfds = p[1];
	h->flags = le16_load(p + 2);
	h->len = le32_load(p + 4);
	h->type = le32_load(p + 8);
	h->peerid = le32_load(p + 12);
}

static int recv_dgram(struct fdmsg_chan *c, struct fdmsg_msg *msg)
{
	struct fdmsg_hdr h;
	unsigned i;
	int r;

	/* A datagram that held only a hello leaves nothing: read on. */
	while (c->rpos >= c->rlen) {
		c->rpos = c->rlen = 0;
		if ((r = read_dgram(c)) < 0)
			return r;
	}
	/* read_dgram validated every header: only the fields here, and
	 * the bounds this function relies on, once more. */
	if (c->rlen - c->rpos < FDMSG_HDR_SIZE) { /* cannot happen */
		CANNOT_HAPPEN();
		return poison(c, why(c, FDMSG_RULE_INTERNAL, 0, 0, -EBADMSG));
	}
	hdr_fields(c->rbuf + c->rpos, &h);
	if (h.len < FDMSG_HDR_SIZE || h.len > c->rlen - c->rpos ||
	    h.nfds > c->res.nfds - c->res_next) { /* cannot happen */
		CANNOT_HAPPEN();
		return poison(c, why(c, FDMSG_RULE_INTERNAL, 0, 0, -EBADMSG));
	}
	for (i = 0; i < h.nfds; i++)
		c->mfds[i] = take_fd(&c->res.fds[c->res_next + i]);
	c->res_next += h.nfds;
	c->m_nfds = h.nfds;
	/* The datagram's pidfd goes to its first frame only. */
	if (c->rpos == c->rfirst)
		c->mpidfd = take_fd(&c->res.cred.pidfd);
	msg_fill(c, msg, &h, c->rbuf + c->rpos);
	c->rpos += h.len;
	if (c->rpos >= c->rlen) {
		c->res.nfds = 0;
		c->res_next = 0;
	}
	return 0;
}

static void batch_pop(struct fdmsg_chan *c)
{
	struct batch b = c->batch[0];

	c->batch[0] = c->batch[1];
	c->batch[1] = b; /* keeps its slot array */
	c->batch[1].n = c->batch[1].next = 0;
	c->nbatch--;
}

/*
 * STREAM: hands out the frame at the front of the buffer.  0: handed
 * out; 1: more bytes are needed; 2: a hello was taken, look again;
 * < 0: poisoned.
 */
static int stream_frame(struct fdmsg_chan *c, struct fdmsg_msg *msg)
{
	const uint64_t f = c->rbase + c->rpos;
	const size_t avail = c->rlen - c->rpos;
	struct fdmsg_hdr h;
	struct batch *b;
	uint64_t flen;
	unsigned i;
	int r;

	/* A batch that ends at or before this frame's start can no longer
	 * be claimed by a frame starting in it. */
	while (c->nbatch > 0 && c->batch[0].end <= f) {
		if (c->batch[0].next < c->batch[0].n)
			return poison(c, why(c, FDMSG_RULE_FDS_UNCLAIMED,
					     c->batch[0].n - c->batch[0].next,
					     0, -EPROTO));
		batch_pop(c);
	}
	if (hello_here(c, c->rbuf + c->rpos, avail)) {
		r = take_hello(c, c->rbuf + c->rpos, avail);
		if (r == 1)
			return 1;
		if (r < 0)
			return poison(c, r);
		c->rpos += FDMSG_HELLO_SIZE;
		return 2;
	}
	r = fdmsg_hdr_decode_why(c->rbuf + c->rpos, avail, c->opts.max_frame,
				 c->opts.max_fds, &h, &c->why);
	if (r < 0)
		return poison(c, r);
	/* Until the header is whole, the frame is at least a header long. */
	flen = r > 0 ? h.len : FDMSG_HDR_SIZE;
	/* A batch after this frame's start that ends before the next frame
	 * can start holds descriptors no frame can claim; this also bounds
	 * the batches held to two. */
	for (i = 0; i < c->nbatch; i++) {
		b = &c->batch[i];
		if (b->start > f && b->end <= f + flen)
			return poison(c, why(c, FDMSG_RULE_FDS_UNCLAIMED,
					     b->n - b->next, 0, -EPROTO));
	}
	if (r == 0)
		return 1;
	b = c->nbatch > 0 && c->batch[0].start <= f ? &c->batch[0] : NULL;
	if (h.nfds > 0 && (b == NULL || b->n - b->next < h.nfds))
		return poison(c, why(c, FDMSG_RULE_FDS_MISSING, h.nfds,
				     b == NULL ? 0 : b->n - b->next,
				     -EPROTO));
	if (avail < h.len)
		return 1;

	for (i = 0; i < h.nfds; i++)
		c->mfds[i] = take_fd(&b->fds[b->next + i]);
	if (b != NULL)
		b->next += h.nfds;
	c->m_nfds = h.nfds;
	if (f < c->rd_start) {
		c->mpidfd = take_fd(&c->f_pidfd);
	} else {
		close_keep_errno(take_fd(&c->f_pidfd));
		c->mpidfd = take_fd(&c->rd_pidfd);
	}
	msg_fill(c, msg, &h, c->rbuf + c->rpos);
	c->rpos += h.len;
	return 0;
}

static int same_cred(const struct fdmsg_cred *a, const struct fdmsg_cred *b)
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
static int same_process(int a, int b)
{
	struct stat sa, sb;

	if (a < 0 || b < 0 || fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return 0;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * THREATS 34, 39: may this read's bytes continue the buffered partial
 * frame?  Only from the same sender: the same credentials, and, where
 * the frame will carry a pidfd (the one of the read it began in, still
 * held), a pidfd of the same process with this read.
 */
static int same_sender(const struct fdmsg_chan *c)
{
	int claimed;

	if (c->rlen == 0)
		return 1;
	if (c->has_cred != c->res.has_cred ||
	    (c->has_cred && !same_cred(&c->cred, &c->res.cred)))
		return 0;
	claimed = c->rbase >= c->rd_start ? c->rd_pidfd : c->f_pidfd;
	return claimed < 0 || same_process(claimed, c->res.cred.pidfd);
}

/* STREAM: one read into the free space after the buffered bytes. */
static int read_stream(struct fdmsg_chan *c)
{
	struct batch *b;
	uint64_t start;
	ssize_t got;
	size_t n;

	/* Drop the frames handed out: the partial frame moves to the front. */
	if (c->rpos > 0) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rbase += c->rpos;
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	if (c->rlen >= c->rcap) /* a whole frame fits: cannot be */
		return poison(c, why(c, FDMSG_RULE_INTERNAL, 0, 0, -EBADMSG));
	got = gate_read(c, c->rbuf + c->rlen, c->rcap - c->rlen);
	if (got < 0)
		return recv_error(c, (int)got);
	if (got == 0) {
		fdmsg_gate_discard(&c->gate, &c->res);
		if (atomic_load(&c->shut))
			return -ESHUTDOWN; /* raced with fdmsg_shutdown */
		return stream_end(c);
	}
	n = (size_t)got;
	start = c->rbase + c->rlen;

	/* THREATS 34, 39: the kernel never merges senders within one read,
	 * so all buffered bytes share one sender; a frame continued by
	 * another sender is forged. */
	if (!same_sender(c))
		return poison(c, why(c, FDMSG_RULE_SENDER,
				     (uint64_t)c->res.cred.pid,
				     (uint64_t)c->cred.pid, -EPROTO));
	c->has_cred = c->res.has_cred;
	c->cred = c->res.cred;

	/* The previous read's pidfd belongs to the first frame starting in
	 * it: the buffered partial frame, if it began there. */
	if (c->rd_pidfd >= 0) {
		if (c->rlen > 0 && c->rbase >= c->rd_start) {
			close_keep_errno(take_fd(&c->f_pidfd));
			c->f_pidfd = take_fd(&c->rd_pidfd);
		} else {
			close_keep_errno(take_fd(&c->rd_pidfd));
		}
	}
	c->rd_pidfd = take_fd(&c->res.cred.pidfd);
	c->rd_start = start;

	if (c->res.nfds > 0) {
		if (c->nbatch >= ARRAY_SIZE(c->batch)) /* ruled out */
			return poison(c, why(c, FDMSG_RULE_INTERNAL, 0, 0,
					     -EPROTO));
		b = &c->batch[c->nbatch++];
		b->start = start;
		b->end = start + n;
		b->n = c->res.nfds;
		b->next = 0;
		memcpy(b->fds, c->res.fds, c->res.nfds * sizeof(int));
		c->res.nfds = 0;
	}
	c->rlen += n;
	return 0;
}

static int recv_stream(struct fdmsg_chan *c, struct fdmsg_msg *msg)
{
	int r;

	for (;;) {
		r = stream_frame(c, msg);
		if (r <= 0)
			return r;
		if (r == 2)
			continue;
		if ((r = read_stream(c)) < 0)
			return r;
	}
}

int fdmsg_recv(struct fdmsg_chan *chan, struct fdmsg_msg *msg)
{
	if (chan == NULL || msg == NULL)
		return -EINVAL;
	release_cur(chan);
	if (chan->poison)
		return chan->poison;
	if (atomic_load(&chan->shut))
		return -ESHUTDOWN;
	if (chan->ended)
		return -EPIPE;
	if (chan->type == SOCK_STREAM)
		return recv_stream(chan, msg);
	return recv_dgram(chan, msg);
}

int fdmsg_chan_error(const struct fdmsg_chan *chan,
		     struct fdmsg_error_info *info)
{
	if (chan == NULL || info == NULL)
		return -EINVAL;
	*info = chan->why;
	return info->err;
}

int fdmsg_recv_pending(const struct fdmsg_chan *chan, size_t *bytes,
		       unsigned *nfds)
{
	unsigned n = 0, i;

	if (chan == NULL)
		return -EINVAL;
	if (chan->type == SOCK_STREAM) {
		for (i = 0; i < chan->nbatch; i++)
			n += chan->batch[i].n - chan->batch[i].next;
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

int fdmsg_msg_take_fd(struct fdmsg_msg *msg, unsigned i)
{
	if (msg == NULL)
		return -EINVAL;
	if (msg->fds == NULL || i >= msg->nfds || msg->fds[i] < 0)
		return -EBADF;
	return take_fd(&msg->fds[i]);
}

int fdmsg_msg_take_pidfd(struct fdmsg_msg *msg)
{
	if (msg == NULL)
		return -EINVAL;
	if (msg->pidfd_slot == NULL || *msg->pidfd_slot < 0)
		return -EBADF;
	msg->cred.pidfd = -1;
	return take_fd(msg->pidfd_slot);
}

void fdmsg_msg_release(struct fdmsg_msg *msg)
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

/* One sendmsg, non-blocking, fds in one SCM_RIGHTS record; EINTR is
 * restarted.  Returns the bytes written or -errno. */
static ssize_t send_iov(int fd, const struct iovec *iov, size_t iovcnt,
			const int *fds, size_t nfds)
{
	union {
		struct cmsghdr align;
		unsigned char buf[CMSG_SPACE(sizeof(int) * FDMSG_MAX_FDS_CAP)];
	} u;
	struct cmsghdr *cm;
	struct msghdr mh;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = (struct iovec *)(uintptr_t)iov;
	mh.msg_iovlen = iovcnt;
	if (nfds > 0) {
		memset(u.buf, 0, CMSG_SPACE(sizeof(int) * nfds));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/* Copies the frame, header then payload, to dst.  An iovec {NULL, 0} is
 * legal: memcpy must not see its NULL. */
static void gather(uint8_t *dst, const uint8_t *hdr, const struct iovec *iov,
		   size_t iovcnt)
{
	size_t i;

	memcpy(dst, hdr, FDMSG_HDR_SIZE);
	dst += FDMSG_HDR_SIZE;
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len == 0)
			continue;
		memcpy(dst, iov[i].iov_base, iov[i].iov_len);
		dst += iov[i].iov_len;
	}
}

static int q_empty(const struct fdmsg_chan *c)
{
	return vec_len(&c->qbytes) == 0;
}

static int *q_fds(const struct fdmsg_chan *c)
{
	/* NULL until the first queued descriptor: no offset from NULL. */
	return c->qfds.p != NULL ? (int *)c->qfds.p + c->qfds.head : NULL;
}

static uint8_t *q_data(const struct fdmsg_chan *c)
{
	return (uint8_t *)c->qbytes.p + c->qbytes.head;
}

/* Length and descriptors of the queued frame at q (validated when it
 * was encoded); the head's descriptors are gone once its first byte is. */
static void q_frame(const struct fdmsg_chan *c, const uint8_t *q,
		    size_t *len, size_t *nfds)
{
	struct fdmsg_hdr h;

	hdr_fields(q, &h);
	*len = h.len;
	*nfds = q == q_data(c) && c->qsent > 0 ? 0 : h.nfds;
}

static int q_reserve(struct fdmsg_chan *c, size_t len, size_t nfds)
{
	int r;

	/* Per frame: room everywhere is the common case. */
	if (len <= c->qbytes.cap - c->qbytes.end &&
	    nfds <= c->qfds.cap - c->qfds.end)
		return 0;
	if ((r = vec_reserve(&c->qbytes, 1, len, c->opts.max_queue)) < 0)
		return r;
	return vec_reserve(&c->qfds, sizeof(int), nfds,
			   c->opts.max_queue_fds);
}

/*
 * Queues the frame (header hdr, payload iov, len bytes in all) with
 * duplicates of fds; sent: bytes of it a stream wrote already (the queue
 * was empty), so it is queued whole as the head with qsent = sent.
 * Nothing is queued on failure.
 */
static int q_append(struct fdmsg_chan *c, const uint8_t *hdr,
		    const struct iovec *iov, size_t iovcnt, size_t len,
		    size_t sent, const int *fds, size_t nfds)
{
	size_t i;
	int *dup;
	int r;

	/* Both bounds: a peer that never reads must not make us hold
	 * unbounded bytes, nor duplicates that drain our descriptor table
	 * (16-byte frames with 253 descriptors each). */
	if (len > c->opts.max_queue - vec_len(&c->qbytes) ||
	    nfds > c->opts.max_queue_fds - vec_len(&c->qfds))
		return -ENOBUFS;
	if ((r = q_reserve(c, len, nfds)) < 0)
		return r;
	dup = nfds > 0 ? (int *)c->qfds.p + c->qfds.end : NULL;
	for (i = 0; i < nfds; i++) {
		dup[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
		if (dup[i] < 0) {
			r = -errno;
			close_fds(dup, i);
			return r;
		}
	}
	gather((uint8_t *)c->qbytes.p + c->qbytes.end, hdr, iov, iovcnt);
	if (sent > 0)
		c->qsent = sent;
	c->qbytes.end += len;
	c->qfds.end += nfds;
	return 0;
}

/* Drops the head frame: its unsent bytes and its descriptors. */
static void q_drop_head(struct fdmsg_chan *c)
{
	size_t len, nfds;

	q_frame(c, q_data(c), &len, &nfds);
	close_fds(q_fds(c), nfds);
	vec_pop(&c->qfds, nfds);
	vec_pop(&c->qbytes, len);
	c->qsent = 0;
}

static void q_drop_all(struct fdmsg_chan *c)
{
	while (!q_empty(c))
		q_drop_head(c);
}

/*
 * The most one write takes from the queue.  On a datagram socket, the
 * most bytes a datagram of several frames holds: within ours, and within
 * the peer's as its hello said, or without one FDMSG_DGRAM_SAFE, which
 * every receiver takes.
 */
static size_t batch_bytes(const struct fdmsg_chan *c)
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

/*
 * SEQPACKET, DGRAM: one datagram of consecutive whole frames, at most lim
 * of them, within max_batch bytes and max(max_fds, first frame's nfds)
 * descriptors.  *k: the frames tried.
 */
static int flush_dgram_once(struct fdmsg_chan *c, size_t lim, size_t *k)
{
	const uint8_t *q = q_data(c);
	const size_t qlen = vec_len(&c->qbytes);
	size_t blim, flim, total, tfds, len, nfds, i;
	struct iovec iov;
	ssize_t n;

	blim = batch_bytes(c);
	q_frame(c, q, &total, &tfds);
	/* What one read of the peer takes: its hello's max_fds, else, as
	 * the two ends agree without one, ours. */
	flim = c->peer_hello ? c->peer.max_fds : c->opts.max_fds;
	if (flim < tfds)
		flim = tfds; /* a frame always goes, alone if need be */
	for (i = 1; total < qlen && i < lim; i++) {
		q_frame(c, q + total, &len, &nfds);
		if (total >= blim || len > blim - total || nfds > flim - tfds)
			break;
		total += len;
		tfds += nfds;
	}
	*k = i;
	iov.iov_base = (void *)(uintptr_t)q;
	iov.iov_len = total;
	n = send_iov(c->fd, &iov, 1, q_fds(c), tfds);
	if (n < 0)
		return (int)n;
	if ((size_t)n != total)
		return -EIO; /* datagrams are atomic */
	/* Sent: close our duplicates, drop the i frames at once. */
	close_fds(q_fds(c), tfds);
	vec_pop(&c->qfds, tfds);
	vec_pop(&c->qbytes, total);
	return 0;
}

/*
 * STREAM: one write from where the head stands (maybe mid-frame) up to
 * the next frame that carries descriptors; a write may start at such a
 * frame, carrying exactly its descriptors with its first byte.
 */
static int flush_stream_once(struct fdmsg_chan *c)
{
	const uint8_t *q = q_data(c);
	const size_t qlen = vec_len(&c->qbytes);
	size_t total, hfds, len, nfds, done, off;
	struct iovec iov;
	ssize_t n;

	q_frame(c, q, &total, &hfds);
	while (total < qlen) {
		q_frame(c, q + total, &len, &nfds);
		if (nfds > 0)
			break;
		total += len;
	}
	iov.iov_base = (void *)(uintptr_t)(q + c->qsent);
	iov.iov_len = total - c->qsent;
	n = send_iov(c->fd, &iov, 1, q_fds(c), hfds);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -EAGAIN;
	if (hfds > 0) {
		/* They went with the first byte. */
		close_fds(q_fds(c), hfds);
		vec_pop(&c->qfds, hfds);
	}
	/* Drop the frames written whole; the rest of one stays the head. */
	done = c->qsent + (size_t)n;
	for (off = 0; off < done; off += len) {
		q_frame(c, q + off, &len, &nfds);
		if (len > done - off)
			break;
	}
	c->qsent = done - off;
	vec_pop(&c->qbytes, off);
	return 0;
}

/* The most descriptors one datagram of a batch takes (0: no limit of
 * its own), within what the queue may hold. */
static size_t batch_fds(const struct fdmsg_chan *c)
{
	if (c->type == SOCK_STREAM || c->opts.max_fds == 0)
		return 0;
	return c->opts.max_fds < c->opts.max_queue_fds ? c->opts.max_fds :
							 c->opts.max_queue_fds;
}

/* FDMSG_MORE: a whole batch waits, so a write would be a full one. */
static int batch_whole(const struct fdmsg_chan *c)
{
	return vec_len(&c->qbytes) >= batch_bytes(c) ||
	       (batch_fds(c) > 0 && vec_len(&c->qfds) >= batch_fds(c));
}

/* FDMSG_MORE and a full socket: try again one batch later, not at every
 * frame. */
static void more_later(struct fdmsg_chan *c)
{
	c->more_bytes = vec_len(&c->qbytes) + batch_bytes(c);
	c->more_fds = batch_fds(c) > 0 ? vec_len(&c->qfds) + batch_fds(c) :
					 SIZE_MAX;
}

/* whole: write only while a whole batch waits (FDMSG_MORE). */
static int flush_queue(struct fdmsg_chan *chan, int whole)
{
	size_t lim = SIZE_MAX, k = 1, len, nfds;
	int r;

	while (!q_empty(chan)) {
		if (whole && !batch_whole(chan))
			return 0;
		if (chan->type == SOCK_STREAM) {
			r = flush_stream_once(chan);
		} else {
			r = flush_dgram_once(chan, lim, &k);
			if (r == 0) {
				lim = SIZE_MAX;
				continue;
			}
		}
		if (r == 0)
			continue;
		if (r == -EAGAIN || r == -EWOULDBLOCK ||
		    (r == -ENOBUFS && chan->type != SOCK_STREAM))
			return -EAGAIN;
		if (is_dead(r)) {
			q_drop_all(chan);
			return r;
		}
		if (r == -EPERM || r == -ETOOMANYREFS || r == -EMSGSIZE) {
			/* A datagram too big for the socket buffer: halve
			 * the batch.  Descriptors refused: find the frame
			 * alone.  A single frame refused is dropped. */
			if (chan->type != SOCK_STREAM && k > 1) {
				lim = r == -EMSGSIZE ? k / 2 : 1;
				continue;
			}
			q_frame(chan, q_data(chan), &len, &nfds);
			if (chan->type != SOCK_STREAM || nfds > 0)
				q_drop_head(chan);
			return r;
		}
		return r;
	}
	return 0;
}

/* Our hello goes first (the queue is empty: nothing was sent yet). */
static void own_hello(const struct fdmsg_chan *c, struct fdmsg_hello *h)
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
static void send_hello(struct fdmsg_chan *c)
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
		n = send_iov(c->fd, &body, 1, NULL, 0);
		if (n == FDMSG_HELLO_SIZE || (n < 0 && is_dead((int)n))) {
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
	body.iov_base = buf + FDMSG_HDR_SIZE;
	body.iov_len = FDMSG_HELLO_SIZE - FDMSG_HDR_SIZE;
	if (q_append(c, buf, &body, 1, FDMSG_HELLO_SIZE, (size_t)n, NULL,
		     0) < 0)
		return; /* no room: the peer stays within safe defaults */
	c->hello_sent = 1;
}

int fdmsg_peer_info(const struct fdmsg_chan *chan,
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

int fdmsg_flush(struct fdmsg_chan *chan)
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
	chan->more_bytes = chan->more_fds = 0;
	r = flush_queue(chan, 0);
	return r;
}

/*
 * fdmsg_send's flush of what is queued before its frame: a refusal there
 * belongs to an earlier frame, already accepted with 0, so it is kept for
 * the next fdmsg_flush instead of being reported as this frame's.
 */
static int flush_behind(struct fdmsg_chan *chan, int whole)
{
	int r;

	/* One refusal waits for its report: writing on could drop another
	 * frame whose error would have nowhere to go. */
	if (chan->dropped != 0)
		return q_empty(chan) ? 0 : -EAGAIN;
	r = flush_queue(chan, whole);

	if (r < 0 && r != -EAGAIN && !is_dead(r)) {
		if (chan->dropped == 0)
			chan->dropped = r;
		r = 0;
	}
	return r;
}

int fdmsg_want_write(const struct fdmsg_chan *chan)
{
	return chan != NULL && !q_empty(chan);
}

static int siov_reserve(struct fdmsg_chan *c, size_t n)
{
	struct iovec *p;

	if (n <= c->siov_cap)
		return 0;
	p = realloc(c->siov, n * sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	c->siov = p;
	c->siov_cap = n;
	return 0;
}

/* The queue is empty: one sendmsg straight from the caller's memory. */
static int send_direct(struct fdmsg_chan *c, const uint8_t *hdr,
		       const struct iovec *iov, size_t iovcnt, size_t len,
		       const int *fds, size_t nfds, unsigned flags)
{
	struct iovec small[SMALL_IOV], *v = small;
	ssize_t n;
	int r;

	if (iovcnt + 1 > SMALL_IOV) {
		if ((r = siov_reserve(c, iovcnt + 1)) < 0)
			return r;
		v = c->siov;
	}
	v[0].iov_base = (void *)(uintptr_t)hdr;
	v[0].iov_len = FDMSG_HDR_SIZE;
	if (iovcnt > 0)
		memcpy(v + 1, iov, iovcnt * sizeof(*iov));
	/* A stream frame must never be left half sent: make room for the
	 * rest of a short write before writing. */
	if (c->type == SOCK_STREAM && (r = q_reserve(c, len, 0)) < 0)
		return r;

	n = send_iov(c->fd, v, iovcnt + 1, fds, nfds);
	if (n >= 0 && (size_t)n == len)
		return 0;
	if (n > 0 && c->type == SOCK_STREAM) {
		/* The first byte carried the descriptors; the rest is
		 * queued without them, even with FDMSG_NO_QUEUE. */
		return q_append(c, hdr, iov, iovcnt, len, (size_t)n, NULL, 0);
	}
	if (n > 0)
		return -EIO; /* datagrams are atomic */
	if (n == 0 || n == -EAGAIN || n == -EWOULDBLOCK ||
	    (n == -ENOBUFS && c->type != SOCK_STREAM)) {
		if (flags & FDMSG_NO_QUEUE)
			return -EAGAIN;
		return q_append(c, hdr, iov, iovcnt, len, 0, fds, nfds);
	}
	return (int)n;
}

int fdmsg_send(struct fdmsg_chan *chan, uint32_t type, uint32_t peerid,
	       const struct iovec *iov, size_t iovcnt, const int *fds,
	       size_t nfds, unsigned flags)
{
	uint8_t hdr[FDMSG_HDR_SIZE];
	struct fdmsg_hdr h;
	size_t plen = 0, i;
	int r;

	if (chan == NULL || (iov == NULL && iovcnt > 0) ||
	    (fds == NULL && nfds > 0) ||
	    (flags & ~(FDMSG_CLOSE_FDS | FDMSG_NO_QUEUE | FDMSG_MORE)) ||
	    (flags & (FDMSG_NO_QUEUE | FDMSG_MORE)) ==
		    (FDMSG_NO_QUEUE | FDMSG_MORE) ||
	    iovcnt > (size_t)IOV_MAX - 1 || nfds > FDMSG_MAX_FDS_CAP) {
		r = -EINVAL;
		goto out;
	}
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_base == NULL && iov[i].iov_len > 0) {
			r = -EINVAL;
			goto out;
		}
		if (size_add(plen, iov[i].iov_len, &plen) < 0) {
			r = -EMSGSIZE;
			goto out;
		}
	}
	if (plen > chan->opts.max_frame - FDMSG_HDR_SIZE ||
	    (chan->peer_hello &&
	     plen > chan->peer.max_frame - FDMSG_HDR_SIZE)) {
		r = -EMSGSIZE;
		goto out;
	}
	if (chan->peer_hello && nfds > chan->peer.max_fds) {
		r = -EPERM; /* the peer said it takes fewer */
		goto out;
	}
	for (i = 0; i < nfds; i++) {
		if (fds[i] < 0) {
			r = -EBADF;
			goto out;
		}
	}
	if (!chan->connected) {
		r = -ENOTCONN;
		goto out;
	}
	if (chan->poison) {
		r = chan->poison;
		goto out;
	}
	if (atomic_load(&chan->shut)) {
		r = -ESHUTDOWN;
		goto out;
	}

	memset(&h, 0, sizeof(h));
	h.version = FDMSG_WIRE_VERSION;
	h.nfds = (uint8_t)nfds;
	h.len = (uint32_t)(FDMSG_HDR_SIZE + plen);
	h.type = type;
	h.peerid = peerid;
	if ((r = fdmsg_hdr_encode(&h, hdr)) < 0)
		goto out;

	/* With max_queue_fds 0 no descriptor ever waits: such a frame
	 * takes the plain path. */
	if ((flags & FDMSG_MORE) &&
	    (nfds == 0 || chan->opts.max_queue_fds > 0)) {
		/* Corked: behind the queue, written once a whole batch
		 * waits (or by the next send without it, or a flush). */
		r = q_append(chan, hdr, iov, iovcnt, h.len, 0, fds, nfds);
		if (r == -ENOBUFS && !q_empty(chan)) {
			/* A batch that can never fill (descriptors on a
			 * stream, max_batch past max_queue): write what
			 * waits, and queue behind what the socket left. */
			r = flush_behind(chan, 0);
			chan->more_bytes = chan->more_fds = 0;
			if (is_dead(r))
				goto out;
			r = q_append(chan, hdr, iov, iovcnt, h.len, 0, fds,
				     nfds);
		}
		if (r < 0)
			goto out;
		if (batch_whole(chan) &&
		    (vec_len(&chan->qbytes) >= chan->more_bytes ||
		     vec_len(&chan->qfds) >= chan->more_fds)) {
			r = flush_behind(chan, 1);
			chan->more_bytes = chan->more_fds = 0;
			if (batch_whole(chan))
				more_later(chan); /* the socket is full */
			r = is_dead(r) ? r : 0;
		}
		goto out;
	}
	if (!q_empty(chan)) {
		if (!(flags & FDMSG_NO_QUEUE)) {
			/* Behind the queue, to keep the order. */
			r = q_append(chan, hdr, iov, iovcnt, h.len, 0, fds,
				     nfds);
			if (r < 0)
				goto out;
			r = flush_behind(chan, 0);
			/* Queued: only a dead peer is this frame's error. */
			r = is_dead(r) ? r : 0;
			goto out;
		}
		r = flush_behind(chan, 0);
		if (!q_empty(chan)) {
			r = is_dead(r) ? r : -EAGAIN;
			goto out;
		}
	}
	r = send_direct(chan, hdr, iov, iovcnt, h.len, fds, nfds, flags);

out:
	if (r == 0)
		chan->app_sent = 1;
	if ((flags & FDMSG_CLOSE_FDS) && fds != NULL)
		for (i = 0; i < nfds; i++)
			close_keep_errno(fds[i]);
	return r;
}

/* ------------------------------------------------------------------ */
/* Blocking helpers and shutdown                                       */
/* ------------------------------------------------------------------ */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Polls until events, the deadline (timeout_ms < 0: none) or a signal.
 * 0: try again; -ETIMEDOUT; -ESHUTDOWN; a poll error. */
static int wait_fd(struct fdmsg_chan *c, short events, int timeout_ms,
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

int fdmsg_recv_wait(struct fdmsg_chan *chan, struct fdmsg_msg *msg,
		    int timeout_ms)
{
	int64_t deadline = 0;
	int r;

	if (chan == NULL || msg == NULL || timeout_ms < -1)
		return -EINVAL;
	if (timeout_ms >= 0)
		deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	for (;;) {
		/* No deadline, datagrams: a blocking socket blocks in
		 * recvmsg itself, one syscall per read as a hand-written
		 * loop (fdmsg_shutdown's shutdown(2) wakes it); a
		 * non-blocking one says EAGAIN and is polled.  A stream
		 * polls: measured, EAGAIN + poll + read costs less CPU
		 * there than a blocking read (bench/, ping-pong). */
		chan->rd_block = timeout_ms < 0 && chan->type != SOCK_STREAM;
		r = fdmsg_recv(chan, msg);
		chan->rd_block = 0;
		if (r != -EAGAIN)
			return r;
		if ((r = wait_fd(chan, POLLIN, timeout_ms, deadline)) < 0)
			return r;
	}
}

int fdmsg_flush_wait(struct fdmsg_chan *chan, int timeout_ms)
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
int fdmsg_shutdown(struct fdmsg_chan *chan)
{
	if (chan == NULL)
		return -EINVAL;
	atomic_store(&chan->shut, 1);
	if (shutdown(chan->fd, SHUT_RDWR) < 0 && errno != ENOTCONN)
		return -errno;
	return 0;
}
