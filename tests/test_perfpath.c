/* SPDX-License-Identifier: ISC */
/*
 * The per-message paths made shorter for issue #12, held to what they
 * did before: a send on a poisoned channel reports the poison (one word
 * now tested instead of two); a stream receive without a deadline that
 * blocks in recvmsg (no poll) still waits for the rest of a frame, on a
 * blocking and on a non-blocking socket; and the credentials a message
 * reports, settled once per read now, are the blank ones without
 * FDMSG_OPT_CREDS (never root) and the sender's with it, for every
 * message of several reads; a corked frame's own path (send_corked)
 * refuses, batches and flushes as any send.  The peer is a plain socket
 * written by hand.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fdmsg.h"
#include "rawpeer.h"
#include "testutil.h"

#define WAIT_MS 5000

/* A raw peer (sv[0]) and a channel on the other end. */
static struct fdmsg_chan *
raw_pair(int type, unsigned optflags, int *peer)
{
	struct fdmsg_chan *c = NULL;
	struct fdmsg_opts o;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0,
		     "socketpair: %s", strerror(errno));
	fdmsg_opts_init(&o);
	o.max_fds = 4;
	o.flags = optflags;
	cr_assert_eq(fdmsg_chan_new(&c, sv[1], &o, FDMSG_CHAN_OWN_FD), 0);
	*peer = sv[0];
	return c;
}

/* A whole frame of type 7 with len payload bytes of value v, into buf. */
static size_t
frame(uint8_t *buf, uint8_t version, uint32_t peerid, size_t len, uint8_t v)
{
	struct fdmsg_hdr h = { 0 };

	h.version = FDMSG_WIRE_VERSION;
	h.len = (uint32_t)(FDMSG_HDR_SIZE + len);
	h.type = 7;
	h.peerid = peerid;
	cr_assert_eq(fdmsg_hdr_encode(&h, buf), FDMSG_HDR_SIZE);
	buf[0] = version; /* after encode, which checks it */
	memset(buf + FDMSG_HDR_SIZE, v, len);
	return FDMSG_HDR_SIZE + len;
}

static void
put(int fd, const void *p, size_t n)
{
	cr_assert_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n,
		     "send: %s", strerror(errno));
}

/* ------------------------------------------------------------------ */
/* A poisoned channel's sends                                          */
/* ------------------------------------------------------------------ */

TEST_CONN_TYPES(perfpath, send_after_poison_returns_its_error)
{
	uint8_t buf[64];
	struct fdmsg_msg m;
	struct iovec iov = { buf, 8 };
	struct fdmsg_chan *c;
	int peer, fd, base;

	c = raw_pair(type, 0, &peer);
	/* Version 9: -EBADMSG, and the channel is poisoned. */
	put(peer, buf, frame(buf, 9, 1, 8, 0x11));
	cr_assert_eq(fdmsg_recv_wait(c, &m, WAIT_MS), -EBADMSG);
	cr_assert_eq(fdmsg_send(c, 1, 2, &iov, 1, NULL, 0, 0), -EBADMSG);
	cr_assert_eq(fdmsg_send(c, 1, 2, &iov, 1, NULL, 0, FDMSG_MORE),
		     -EBADMSG);
	cr_assert_eq(fdmsg_send(c, 1, 2, &iov, 1, NULL, 0, FDMSG_NO_QUEUE),
		     -EBADMSG);
	/* Refused before anything is queued: the given descriptor is
	 * closed all the same, and nothing is left behind. */
	base = fd_count();
	fd = memfd_create("perfpath", MFD_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fdmsg_send(c, 1, 2, &iov, 1, &fd, 1, FDMSG_CLOSE_FDS),
		     -EBADMSG);
	cr_assert_eq(fd_count(), base, "the given descriptor stayed open");
	cr_assert_eq(fcntl(fd, F_GETFD), -1);
	cr_assert_eq(fdmsg_want_write(c), 0);
	/* Nothing went to the peer. */
	cr_assert_eq(recv(peer, buf, sizeof(buf), MSG_DONTWAIT), -1);
	cr_assert_eq(errno, EAGAIN);
	/* The receive side keeps the same error, without blocking. */
	cr_assert_eq(fdmsg_recv_wait(c, &m, -1), -EBADMSG);
	cr_assert_eq(fdmsg_recv(c, &m), -EBADMSG);
	fdmsg_chan_free(c);
	close(peer);
}

/* ------------------------------------------------------------------ */
/* A stream receive without a deadline, waiting in recvmsg              */
/* ------------------------------------------------------------------ */

struct rest {
	int fd;
	const uint8_t *p;
	size_t n;
};

static void *
send_rest(void *arg)
{
	struct rest *r = arg;

	sleep_ms(50);
	if (send(r->fd, r->p, r->n, MSG_NOSIGNAL) != (ssize_t)r->n)
		r->n = 0;
	return NULL;
}

/* The header and 3 payload bytes now, the other 97 from a thread later:
 * fdmsg_recv_wait(-1) returns the whole frame, once. */
static void
rest_later(int nonblock)
{
	uint8_t buf[128];
	struct fdmsg_msg m;
	struct fdmsg_chan *c;
	struct rest r;
	pthread_t t;
	size_t n;
	int peer, fl;

	c = raw_pair(SOCK_STREAM, 0, &peer);
	if (nonblock) {
		fl = fcntl(fdmsg_chan_fd(c), F_GETFL);
		cr_assert_eq(fcntl(fdmsg_chan_fd(c), F_SETFL, fl | O_NONBLOCK),
			     0);
	}
	n = frame(buf, FDMSG_WIRE_VERSION, 5, 100, 0x5a);
	put(peer, buf, FDMSG_HDR_SIZE + 3);
	r.fd = peer;
	r.p = buf + FDMSG_HDR_SIZE + 3;
	r.n = n - FDMSG_HDR_SIZE - 3;
	cr_assert_eq(pthread_create(&t, NULL, send_rest, &r), 0);
	cr_assert_eq(fdmsg_recv_wait(c, &m, -1), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_neq(r.n, 0, "the peer's second write failed");
	cr_assert_eq(m.type, 7);
	cr_assert_eq(m.peerid, 5);
	cr_assert_eq(m.len, 100);
	for (n = 0; n < 100; n++)
		cr_assert_eq(((const uint8_t *)m.payload)[n], 0x5a);
	cr_assert_eq(fdmsg_recv(c, &m), -EAGAIN);
	/* The peer's end after it: -EPIPE, not a cut frame. */
	close(peer);
	cr_assert_eq(fdmsg_recv_wait(c, &m, -1), -EPIPE);
	fdmsg_chan_free(c);
}

TEST(perfpath_stream, recv_wait_blocks_for_the_rest_of_a_frame)
{
	rest_later(0);
}

TEST(perfpath_stream, recv_wait_polls_for_the_rest_on_a_nonblocking_socket)
{
	rest_later(1);
}

/* A peer that trickles a frame's bytes, one every TRICKLE_MS, up to
 * TRICKLE_MAX of them or until told to stop. */
#define TRICKLE_MS 50
#define TRICKLE_MAX 200

struct trickle {
	int fd;
	atomic_int stop;
	atomic_int sent;
};

static void *
trickle(void *arg)
{
	struct trickle *t = arg;
	uint8_t b = 0x33;

	while (!atomic_load(&t->stop) &&
	       atomic_load(&t->sent) < TRICKLE_MAX) {
		if (send(t->fd, &b, 1, MSG_NOSIGNAL) != 1)
			break;
		atomic_fetch_add(&t->sent, 1);
		sleep_ms(TRICKLE_MS);
	}
	return NULL;
}

/*
 * A slow peer cannot stretch a deadline: each byte wakes the wait, and
 * the wait goes on to the deadline set when the call began, not to one
 * restarted by each byte.  The peer would trickle for 10 s; the call's
 * 300 ms end long before it, with -ETIMEDOUT and the bytes kept.
 */
TEST(perfpath_stream, recv_wait_deadline_holds_against_a_trickling_peer)
{
	uint8_t buf[64];
	struct fdmsg_msg m;
	struct fdmsg_chan *c;
	struct trickle t;
	pthread_t th;
	size_t pending;
	int peer, fl;

	c = raw_pair(SOCK_STREAM, 0, &peer);
	fl = fcntl(fdmsg_chan_fd(c), F_GETFL);
	cr_assert_eq(fcntl(fdmsg_chan_fd(c), F_SETFL, fl | O_NONBLOCK), 0);
	/* The header of a frame of 1000 payload bytes, then the trickle. */
	(void)frame(buf, FDMSG_WIRE_VERSION, 5, 0, 0);
	buf[4] = (uint8_t)(FDMSG_HDR_SIZE + 1000);
	buf[5] = (uint8_t)((FDMSG_HDR_SIZE + 1000) >> 8);
	put(peer, buf, FDMSG_HDR_SIZE);
	t.fd = peer;
	atomic_init(&t.stop, 0);
	atomic_init(&t.sent, 0);
	cr_assert_eq(pthread_create(&th, NULL, trickle, &t), 0);
	cr_assert_eq(fdmsg_recv_wait(c, &m, 300), -ETIMEDOUT);
	cr_assert_lt(atomic_load(&t.sent), TRICKLE_MAX,
		     "the wait lasted as long as the peer wrote");
	atomic_store(&t.stop, 1);
	cr_assert_eq(pthread_join(th, NULL), 0);
	/* Nothing lost: what came waits for the rest of the frame. */
	cr_assert_eq(fdmsg_recv(c, &m), -EAGAIN);
	cr_assert_eq(fdmsg_recv_pending(c, NULL, NULL), 1);
	(void)fdmsg_recv_pending(c, &pending, NULL);
	cr_assert_geq(pending, FDMSG_HDR_SIZE);
	fdmsg_chan_free(c);
	close(peer);
}

/* ------------------------------------------------------------------ */
/* The credentials each message reports                                 */
/* ------------------------------------------------------------------ */

/* Three reads of two frames each (one datagram each, or one write each
 * on a stream, read apart): every message reports the same. */
static void
creds_of_every_message(int type, unsigned optflags)
{
	uint8_t buf[2][64];
	struct fdmsg_msg m;
	struct fdmsg_chan *c;
	struct iovec iov[2];
	struct msghdr mh;
	int peer, i, k, want = (optflags & FDMSG_OPT_CREDS) != 0;

	c = raw_pair(type, optflags, &peer);
	for (i = 0; i < 3; i++) {
		iov[0].iov_base = buf[0];
		iov[0].iov_len = frame(buf[0], FDMSG_WIRE_VERSION,
				       (uint32_t)(2 * i), 4, 1);
		iov[1].iov_base = buf[1];
		iov[1].iov_len = frame(buf[1], FDMSG_WIRE_VERSION,
				       (uint32_t)(2 * i + 1), 4, 2);
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = 2;
		cr_assert_eq(sendmsg(peer, &mh, MSG_NOSIGNAL),
			     (ssize_t)(iov[0].iov_len + iov[1].iov_len));
		for (k = 0; k < 2; k++) {
			cr_assert_eq(fdmsg_recv_wait(c, &m, WAIT_MS), 0);
			cr_assert_eq(m.peerid, (uint32_t)(2 * i + k));
			cr_assert_eq(m.has_cred, want, "message %d", 2 * i + k);
			if (want) {
				cr_assert_eq(m.cred.pid, getpid());
				cr_assert_eq(m.cred.uid, getuid());
				cr_assert_eq(m.cred.gid, getgid());
			} else {
				cr_assert_eq(m.cred.pid, 0);
				cr_assert_eq(m.cred.uid, (uid_t)-1,
					     "message %d: uid %u", 2 * i + k,
					     (unsigned)m.cred.uid);
				cr_assert_eq(m.cred.gid, (gid_t)-1);
			}
			/* A read's pidfd goes to its first frame only. */
			if ((optflags & FDMSG_OPT_PIDFD) && k == 0) {
				cr_assert_geq(m.cred.pidfd, 0);
				cr_assert_eq(pidfd_pid(m.cred.pidfd),
					     (long)getpid());
			} else {
				cr_assert_eq(m.cred.pidfd, -1);
			}
		}
	}
	fdmsg_msg_release(&m);
	cr_assert_eq(fdmsg_recv(c, &m), -EAGAIN);
	fdmsg_chan_free(c);
	close(peer);
}

TEST_ALL_TYPES(perfpath, messages_report_blank_credentials_without_creds)
{
	creds_of_every_message(type, 0);
}

TEST_ALL_TYPES(perfpath, pidfd_alone_reports_no_credentials)
{
	creds_of_every_message(type, FDMSG_OPT_PIDFD);
}

TEST_ALL_TYPES(perfpath, creds_reported_for_every_message)
{
	creds_of_every_message(type, FDMSG_OPT_CREDS);
}

/* The credentials of one message, or the blank ones (never root). */
static void
assert_cred(const struct fdmsg_msg *m, int want, const char *what)
{
	cr_assert_eq(m->has_cred, want, "%s: has_cred %d", what, m->has_cred);
	cr_assert_eq(m->cred.pid, want ? getpid() : 0, "%s: pid %ld", what,
		     (long)m->cred.pid);
	cr_assert_eq(m->cred.uid, want ? getuid() : (uid_t)-1, "%s: uid %u",
		     what, (unsigned)m->cred.uid);
	cr_assert_eq(m->cred.gid, want ? getgid() : (gid_t)-1, "%s: gid %u",
		     what, (unsigned)m->cred.gid);
}

/*
 * Settled per read, a message's credentials are its own read's, never a
 * previous read's: a frame sent before SO_PASSCRED was on (the kernel's
 * placeholder, pid 0: none), one after (the sender's), then one read
 * with SO_PASSCRED off again (no record at all: none).
 */
TEST_ALL_TYPES(perfpath, creds_of_a_read_without_them_are_blank)
{
	struct fdmsg_chan *c = NULL;
	struct fdmsg_opts o;
	struct fdmsg_msg m;
	uint8_t buf[64];
	int sv[2], off = 0;
	size_t n;

	cr_assert_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0,
		     "socketpair: %s", strerror(errno));
	n = frame(buf, FDMSG_WIRE_VERSION, 1, 4, 1);
	put(sv[0], buf, n); /* before the channel turns SO_PASSCRED on */
	fdmsg_opts_init(&o);
	o.flags = FDMSG_OPT_CREDS;
	cr_assert_eq(fdmsg_chan_new(&c, sv[1], &o, FDMSG_CHAN_OWN_FD), 0);
	n = frame(buf, FDMSG_WIRE_VERSION, 2, 4, 2);
	put(sv[0], buf, n);

	cr_assert_eq(fdmsg_recv_wait(c, &m, WAIT_MS), 0);
	cr_assert_eq(m.peerid, 1);
	assert_cred(&m, 0, "sent before SO_PASSCRED");
	cr_assert_eq(fdmsg_recv_wait(c, &m, WAIT_MS), 0);
	cr_assert_eq(m.peerid, 2);
	assert_cred(&m, 1, "sent with SO_PASSCRED");

	cr_assert_eq(setsockopt(fdmsg_chan_fd(c), SOL_SOCKET, SO_PASSCRED,
				&off, sizeof(off)), 0);
	n = frame(buf, FDMSG_WIRE_VERSION, 3, 4, 3);
	put(sv[0], buf, n);
	cr_assert_eq(fdmsg_recv_wait(c, &m, WAIT_MS), 0);
	cr_assert_eq(m.peerid, 3);
	assert_cred(&m, 0, "read with SO_PASSCRED off");
	fdmsg_msg_release(&m);
	cr_assert_eq(fdmsg_recv(c, &m), -EAGAIN);
	fdmsg_chan_free(c);
	close(sv[0]);
}

/* ------------------------------------------------------------------ */
/* A descriptor given away that is not open (FDMSG_CLOSE_FDS)          */
/* ------------------------------------------------------------------ */

/* A descriptor number that is not open: a duplicate's, closed. */
static int
closed_fd(int like)
{
	int fd = dup(like);

	cr_assert_geq(fd, 0);
	cr_assert_eq(close(fd), 0);
	return fd;
}

/* Two channels of max_fds on a socketpair. */
static void
fd_chans(int type, unsigned max_fds, struct fdmsg_chan **a,
	 struct fdmsg_chan **b)
{
	struct fdmsg_opts o;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
	fdmsg_opts_init(&o);
	o.max_fds = max_fds;
	cr_assert_eq(fdmsg_chan_new(a, sv[0], &o, FDMSG_CHAN_OWN_FD), 0);
	cr_assert_eq(fdmsg_chan_new(b, sv[1], &o, FDMSG_CHAN_OWN_FD), 0);
}

static int
new_memfd(void)
{
	int fd = memfd_create("perfpath", MFD_CLOEXEC);

	cr_assert_geq(fd, 0, "memfd_create: %s", strerror(errno));
	return fd;
}

/*
 * The queue is empty and the socket full (the peer never reads): the
 * frame's one sendmsg fails, and a descriptor given away that is not
 * open is -EBADF, not a frame queued to fail later; the open one given
 * beside it is closed.  Then an open one is queued as it is, no
 * duplicate, and closed with the channel.
 */
TEST_ALL_TYPES(perfpath, given_closed_descriptor_on_a_full_socket_is_ebadf)
{
	uint8_t buf[8] = { 0 };
	struct iovec iov = { buf, 8 };
	struct fdmsg_chan *c;
	int peer, base, fds[2], g;

	c = raw_pair(type, 0, &peer);
	cr_assert_eq(fdmsg_flush(c), 0); /* the hello, queued on DGRAM */
	cr_assert_eq(fill_socket_raw(fdmsg_chan_fd(c)), 0);
	cr_assert_eq(fdmsg_want_write(c), 0);

	base = fd_count();
	fds[0] = new_memfd();
	fds[1] = closed_fd(fds[0]);
	cr_assert_eq(fdmsg_send(c, 1, 2, &iov, 1, fds, 2, FDMSG_CLOSE_FDS),
		     -EBADF);
	cr_assert_eq(fd_count(), base, "the open one given stayed open");
	cr_assert_eq(fdmsg_want_write(c), 0, "the refused frame was queued");

	g = new_memfd();
	cr_assert_eq(fdmsg_send(c, 1, 3, &iov, 1, &g, 1, FDMSG_CLOSE_FDS), 0);
	cr_assert_eq(fdmsg_want_write(c), 1);
	cr_assert(fd_is_open(g), "queued: the given descriptor waits as it is");
	cr_assert_eq(fd_count(), base + 1, "a duplicate was made");
	fdmsg_chan_free(c);
	cr_assert_eq(fd_count(), base - 1, "the queued one stayed open");
	close(peer);
}

/*
 * Behind a queue, plain and FDMSG_MORE: a descriptor given away that is
 * not open is -EBADF at once (the write that would carry it may be far
 * off), the open one beside it closed, nothing queued; the peer gets
 * every frame accepted before and after, and none of the refused ones.
 */
TEST_ALL_TYPES(perfpath, given_closed_descriptor_behind_the_queue_is_ebadf)
{
	static uint8_t big[1000];
	struct iovec iov = { big, sizeof(big) };
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;
	unsigned n, got;
	int base, fds[2], g, r;
	long iter;

	fd_chans(type, 4, &a, &b);
	for (n = 0; n < 100000 && !fdmsg_want_write(a); n++)
		cr_assert_eq(fdmsg_send(a, 1, n, &iov, 1, NULL, 0, 0), 0);
	cr_assert_eq(fdmsg_want_write(a), 1, "the socket never filled");

	base = fd_count();
	fds[0] = new_memfd();
	fds[1] = closed_fd(fds[0]);
	cr_assert_eq(fdmsg_send(a, 2, 0, &iov, 1, fds, 2, FDMSG_CLOSE_FDS),
		     -EBADF);
	cr_assert_eq(fd_count(), base, "the open one given stayed open");
	fds[0] = new_memfd();
	cr_assert_eq(fdmsg_send(a, 2, 1, &iov, 1, fds, 2,
				FDMSG_CLOSE_FDS | FDMSG_MORE), -EBADF);
	cr_assert_eq(fd_count(), base, "FDMSG_MORE: the open one stayed open");
	g = new_memfd();
	cr_assert_eq(fdmsg_send(a, 3, 0, &iov, 1, &g, 1, FDMSG_CLOSE_FDS), 0);
	cr_assert_eq(fd_count(), base + 1, "a duplicate was made");

	for (got = 0, iter = 0; got <= n && iter < 10000000; iter++) {
		r = fdmsg_flush(a);
		cr_assert(r == 0 || r == -EAGAIN, "flush: %d", r);
		if ((r = fdmsg_recv(b, &m)) == -EAGAIN)
			continue;
		cr_assert_eq(r, 0, "recv: %d", r);
		if (got < n) {
			cr_assert_eq(m.type, 1, "frame %u", got);
			cr_assert_eq(m.peerid, got);
			cr_assert_eq(m.nfds, 0);
		} else {
			cr_assert_eq(m.type, 3, "a refused frame went");
			cr_assert_eq(m.nfds, 1);
		}
		fdmsg_msg_release(&m);
		got++;
	}
	cr_assert_eq(got, n + 1);
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	cr_assert_eq(fd_count(), base);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/* ------------------------------------------------------------------ */
/* A corked frame's own path                                           */
/* ------------------------------------------------------------------ */

/* The corked frame that should be on the wire now: peerid, payload
 * length, payload bytes of value peerid; returns its length. */
static size_t
corked_frame_is(const uint8_t *p, size_t n, uint32_t peerid, size_t plen)
{
	struct fdmsg_hdr h;
	size_t i;

	cr_assert_eq(fdmsg_hdr_decode(p, n, 4096, 0, &h), FDMSG_HDR_SIZE,
		     "frame %u: no header in %zu bytes", peerid, n);
	cr_assert_eq(h.peerid, peerid);
	cr_assert_eq(h.type, 7, "frame %u", peerid);
	cr_assert_eq(h.nfds, 0, "frame %u", peerid);
	cr_assert_eq(h.len, FDMSG_HDR_SIZE + plen, "frame %u: %u bytes",
		     peerid, h.len);
	for (i = 0; i < plen; i++)
		cr_assert_eq(p[FDMSG_HDR_SIZE + i], (uint8_t)peerid,
			     "frame %u, byte %zu", peerid, i);
	return h.len;
}

static int
corked(struct fdmsg_chan *c, uint32_t peerid, void *base, size_t plen)
{
	struct iovec iov = { base, plen };

	if (base != NULL)
		memset(base, (int)peerid, plen);
	return fdmsg_send(c, 7, peerid, &iov, 1, NULL, 0, FDMSG_MORE);
}

static void
wire_is_empty(int peer)
{
	uint8_t b;

	cr_assert_eq(recv(peer, &b, 1, MSG_PEEK | MSG_DONTWAIT), -1,
		     "bytes on the wire before a whole batch");
	cr_assert_eq(errno, EAGAIN);
}

/* A channel of max_frame 4096 (and max_batch) on sv[1], its raw peer
 * sv[0]. */
static struct fdmsg_chan *
corked_chan(int type, uint32_t max_batch, int sv[2])
{
	struct fdmsg_chan *c;
	struct fdmsg_opts o;

	cr_assert_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
	fdmsg_opts_init(&o);
	o.max_frame = 4096;
	o.max_batch = max_batch;
	cr_assert_eq(fdmsg_chan_new(&c, sv[1], &o, FDMSG_CHAN_OWN_FD), 0);
	return c;
}

/*
 * FDMSG_MORE with one iovec and no descriptors takes a path of its own
 * (send_corked).  It refuses what any send refuses, with the same error
 * and nothing queued, on an empty queue and behind a corked frame; it
 * keeps frames while less than a batch (max_frame 4096 here) waits, and
 * the frame that makes exactly a batch writes all of them; a frame of
 * max_frame bytes is a batch alone; after fdmsg_shutdown it is
 * -ESHUTDOWN.
 */
TEST_CONN_TYPES(perfpath, corked_frames_refused_and_batched_as_any)
{
	static uint8_t big[4096], wire[8192];
	struct fdmsg_chan *c;
	size_t off;
	int sv[2], k;

	c = corked_chan(type, 0, sv);
	for (k = 0; k < 2; k++) {
		cr_assert_eq(corked(c, 1, NULL, 8), -EINVAL,
			     "a NULL base with a length");
		cr_assert_eq(corked(c, 2, big, 4096 - FDMSG_HDR_SIZE + 1),
			     -EMSGSIZE, "one byte past max_frame");
		if (k == 0)
			cr_assert_eq(corked(c, 10, big, 1008), 0);
	}
	cr_assert_eq(corked(c, 11, big, 1008), 0);
	cr_assert_eq(corked(c, 12, big, 1008), 0);
	cr_assert_eq(corked(c, 13, NULL, 0), 0);
	wire_is_empty(sv[0]);
	cr_assert_eq(fdmsg_want_write(c), 1);
	/* 4 * 1024 + 16 - 16 + 992 = 4096: a whole batch, written. */
	cr_assert_eq(corked(c, 14, big, 992), 0);
	cr_assert_eq(fdmsg_want_write(c), 0, "a whole batch stayed queued");
	cr_assert_eq(recv(sv[0], wire, sizeof(wire), MSG_DONTWAIT), 4096);
	off = corked_frame_is(wire, 4096, 10, 1008);
	off += corked_frame_is(wire + off, 4096 - off, 11, 1008);
	off += corked_frame_is(wire + off, 4096 - off, 12, 1008);
	off += corked_frame_is(wire + off, 4096 - off, 13, 0);
	off += corked_frame_is(wire + off, 4096 - off, 14, 992);
	cr_assert_eq(off, 4096);
	/* The largest frame is a batch of its own. */
	cr_assert_eq(corked(c, 15, big, 4096 - FDMSG_HDR_SIZE), 0);
	cr_assert_eq(fdmsg_want_write(c), 0);
	cr_assert_eq(recv(sv[0], wire, sizeof(wire), MSG_DONTWAIT), 4096);
	corked_frame_is(wire, 4096, 15, 4096 - FDMSG_HDR_SIZE);
	/* Refused after a shutdown, nothing queued. */
	cr_assert_eq(fdmsg_shutdown(c), 0);
	cr_assert_eq(corked(c, 16, big, 8), -ESHUTDOWN);
	cr_assert_eq(fdmsg_want_write(c), 0);
	fdmsg_chan_free(c);
	close(sv[0]);
}

/* A batch larger than max_frame (max_batch): a corked frame one byte past
 * max_frame is -EMSGSIZE all the same, though the queue has room for it
 * (2 frames, 4024 bytes, grow it to 8192) and it would fit the batch. */
TEST_CONN_TYPES(perfpath, corked_frame_past_max_frame_in_a_larger_batch)
{
	static uint8_t big[4096], wire[8192];
	struct fdmsg_chan *c;
	size_t off;
	int sv[2];

	c = corked_chan(type, 16384, sv);
	cr_assert_eq(corked(c, 2, big, 1008), 0);
	cr_assert_eq(corked(c, 3, big, 2984), 0);
	cr_assert_eq(corked(c, 1, big, 4096 - FDMSG_HDR_SIZE + 1), -EMSGSIZE);
	wire_is_empty(sv[0]);
	cr_assert_eq(fdmsg_flush(c), 0);
	cr_assert_eq(recv(sv[0], wire, sizeof(wire), MSG_DONTWAIT), 4024,
		     "the refused frame was queued");
	off = corked_frame_is(wire, 4024, 2, 1008);
	corked_frame_is(wire + off, 4024 - off, 3, 2984);
	fdmsg_chan_free(c);
	close(sv[0]);
}

/*
 * SEQPACKET, max_fds 4: four corked frames of a descriptor each make a
 * batch; the socket is full, so it waits, and fdmsg_flush fails with
 * -EAGAIN.  Once the peer has read, the next corked frame, of no
 * descriptor, writes them all with it, as any send behind a whole batch
 * does: one datagram, five frames, four descriptors.
 */
TEST(perfpath_seqpacket, corked_frame_behind_a_batch_of_descriptors_writes_it)
{
	static uint8_t big[64], wire[65536];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(8 * sizeof(int))];
	} ctl;
	struct iovec iov = { big, sizeof(big) }, riov = { wire, sizeof(wire) };
	struct msghdr mh = { 0 };
	struct cmsghdr *cm;
	struct fdmsg_chan *c;
	struct fdmsg_opts o;
	int sv[2], i, fd, got = 0, base;
	ssize_t n;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv),
		     0);
	fdmsg_opts_init(&o);
	o.max_fds = 4;
	cr_assert_eq(fdmsg_chan_new(&c, sv[1], &o, FDMSG_CHAN_OWN_FD), 0);
	base = fd_count();
	cr_assert_eq(fill_socket_raw(sv[1]), 0);
	for (i = 0; i < 4; i++) {
		fd = new_memfd();
		cr_assert_eq(fdmsg_send(c, 7, 20 + (uint32_t)i, &iov, 1, &fd, 1,
					FDMSG_MORE | FDMSG_CLOSE_FDS), 0);
	}
	cr_assert_eq(fdmsg_flush(c), -EAGAIN);
	while (recv(sv[0], wire, sizeof(wire), MSG_DONTWAIT) == 512)
		;
	cr_assert_eq(errno, EAGAIN);
	memset(big, 24, sizeof(big));
	cr_assert_eq(fdmsg_send(c, 7, 24, &iov, 1, NULL, 0, FDMSG_MORE), 0);
	cr_assert_eq(fdmsg_want_write(c), 0, "the batch stayed queued");
	mh.msg_iov = &riov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.b;
	mh.msg_controllen = sizeof(ctl.b);
	n = recvmsg(sv[0], &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	cr_assert_eq(n, 5 * (FDMSG_HDR_SIZE + 64), "recvmsg: %zd", n);
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (i = 0; (size_t)i < (cm->cmsg_len - CMSG_LEN(0)) /
						sizeof(int); i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
			       sizeof(fd));
			close(fd);
			got++;
		}
	}
	cr_assert_eq(got, 4);
	corked_frame_is(wire + 4 * (FDMSG_HDR_SIZE + 64), FDMSG_HDR_SIZE + 64,
			24, 64);
	cr_assert_eq(fd_count(), base);
	fdmsg_chan_free(c);
	close(sv[0]);
}

/*
 * Corked frames behind a full socket: three batches wait (max_frame 4096,
 * frames of 1024 bytes).  Once the peer has read, the corked sends of at
 * most one more batch write what waits, the queue longer than a batch
 * notwithstanding; a flush writes the rest, nothing lost or reordered.
 */
TEST_CONN_TYPES(perfpath, corked_queue_past_a_batch_goes_once_the_peer_reads)
{
	static uint8_t big[1008], wire[65536];
	struct fdmsg_chan *c;
	uint32_t i, next = 0;
	size_t off, got;
	ssize_t n;
	int sv[2];

	c = corked_chan(type, 0, sv);
	cr_assert_eq(fill_socket_raw(sv[1]), 0);
	for (i = 0; i < 12; i++)
		cr_assert_eq(corked(c, i, big, sizeof(big)), 0);
	while (recv(sv[0], wire, sizeof(wire), MSG_DONTWAIT) > 0)
		;
	cr_assert_eq(errno, EAGAIN);
	for (; i < 16; i++)
		cr_assert_eq(corked(c, i, big, sizeof(big)), 0);
	n = recv(sv[0], wire, sizeof(wire), MSG_DONTWAIT);
	cr_assert_gt(n, 0, "a batch more and nothing written");
	cr_assert_eq(fdmsg_flush(c), 0);
	for (got = (size_t)n; got < sizeof(wire); got += (size_t)n)
		if ((n = recv(sv[0], wire + got, sizeof(wire) - got,
			      MSG_DONTWAIT)) <= 0)
			break;
	cr_assert_eq(got, 16 * 1024, "%zu bytes written", got);
	for (off = 0; off < got; off += 1024)
		corked_frame_is(wire + off, got - off, next++, sizeof(big));
	cr_assert_eq(next, 16u);
	wire_is_empty(sv[0]);
	fdmsg_chan_free(c);
	close(sv[0]);
}

/*
 * Eight descriptors given away to a corked frame, one of them not open,
 * first, in the middle or last: -EBADF, the seven open ones closed,
 * nothing queued; eight open ones are queued and arrive.  With
 * RLIMIT_NOFILE below eight (a check of all of them in one call, as
 * poll() would make, is refused there) the same.
 */
static void
given_eight(int type, int squeeze)
{
	static const unsigned bad[] = { 0, 3, 7 };
	uint8_t buf[8] = { 0 };
	struct iovec iov = { buf, 8 };
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;
	struct rlimit rl;
	int fds[8], base, i;
	unsigned k;

	fd_chans(type, 8, &a, &b);
	cr_assert_eq(fdmsg_flush(a), 0); /* the hello, queued on DGRAM */
	base = fd_count();
	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		for (i = 0; i < 8; i++)
			fds[i] = (unsigned)i == bad[k] ? -1 : new_memfd();
		fds[bad[k]] = closed_fd(fds[(bad[k] + 1) % 8]);
		if (squeeze)
			cr_assert_eq(rlimit_nofile(4, &rl), 0);
		cr_assert_eq(fdmsg_send(a, 1, k, &iov, 1, fds, 8,
					FDMSG_MORE | FDMSG_CLOSE_FDS), -EBADF,
			     "not open: descriptor %u of 8", bad[k]);
		if (squeeze)
			cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
		cr_assert_eq(fd_count(), base, "descriptor %u not open: %d "
			     "open ones stayed open", bad[k], fd_count() - base);
		cr_assert_eq(fdmsg_want_write(a), 0, "the frame was queued");
	}
	for (i = 0; i < 8; i++)
		fds[i] = new_memfd();
	if (squeeze)
		cr_assert_eq(rlimit_nofile(4, &rl), 0);
	cr_assert_eq(fdmsg_send(a, 1, 9, &iov, 1, fds, 8,
				FDMSG_MORE | FDMSG_CLOSE_FDS), 0);
	if (squeeze)
		cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_assert_eq(fdmsg_flush(a), 0);
	cr_assert_eq(fd_count(), base, "sent, they stayed open");
	cr_assert_eq(fdmsg_recv(b, &m), 0);
	cr_assert_eq(m.peerid, 9);
	cr_assert_eq(m.nfds, 8);
	fdmsg_msg_release(&m);
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	cr_assert_eq(fd_count(), base);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST_ALL_TYPES(perfpath, given_eight_one_not_open_is_ebadf)
{
	given_eight(type, 0);
}

TEST_ALL_TYPES(perfpath, given_eight_under_a_low_rlimit_one_not_open_is_ebadf)
{
	given_eight(type, 1);
}

/*
 * O_PATH descriptors given away among several: open (F_GETFD and
 * sendmsg take them; poll() would call them POLLNVAL); queued and sent
 * like any, on their own and beside others.
 */
TEST_ALL_TYPES(perfpath, given_o_path_descriptors_are_open)
{
	uint8_t buf[8] = { 0 };
	struct iovec iov = { buf, 8 };
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;
	int fds[4], base, i;

	fd_chans(type, 4, &a, &b);
	cr_assert_eq(fdmsg_flush(a), 0); /* the hello, queued on DGRAM */
	base = fd_count();
	for (i = 0; i < 4; i++) {
		fds[i] = i % 2 ? new_memfd() : open("/", O_PATH | O_CLOEXEC);
		cr_assert_geq(fds[i], 0);
	}
	cr_assert_eq(fdmsg_send(a, 1, 1, &iov, 1, fds, 4,
				FDMSG_MORE | FDMSG_CLOSE_FDS), 0);
	fds[0] = open("/", O_PATH | O_CLOEXEC);
	fds[1] = open("/", O_PATH | O_CLOEXEC);
	cr_assert_eq(fdmsg_send(a, 1, 2, &iov, 1, fds, 2,
				FDMSG_MORE | FDMSG_CLOSE_FDS), 0);
	fds[0] = open("/", O_PATH | O_CLOEXEC);
	cr_assert_eq(fdmsg_send(a, 1, 3, &iov, 1, fds, 1,
				FDMSG_MORE | FDMSG_CLOSE_FDS), 0);
	cr_assert_eq(fdmsg_flush(a), 0);
	cr_assert_eq(fd_count(), base, "sent, they stayed open");
	for (i = 1; i <= 3; i++) {
		cr_assert_eq(fdmsg_recv(b, &m), 0, "frame %d", i);
		cr_assert_eq(m.peerid, (uint32_t)i);
		cr_assert_eq(m.nfds, i == 1 ? 4 : i == 2 ? 2 : 1);
		cr_assert_eq(fcntl(m.fds[0], F_GETFL) & O_PATH, O_PATH);
		fdmsg_msg_release(&m);
	}
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	cr_assert_eq(fd_count(), base);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}
