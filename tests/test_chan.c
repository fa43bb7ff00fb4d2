/* SPDX-License-Identifier: ISC */
/*
 * The channel, functionally, on SOCK_SEQPACKET, SOCK_STREAM and SOCK_DGRAM:
 * round trips (payload sizes, iovecs, descriptors up to 253 with their
 * identity checked by st_dev/st_ino), descriptor ownership on both sides,
 * the end of the peer, the send queue under a small SO_SNDBUF (order,
 * descriptors, stream partial writes, the max_queue cap, SEQPACKET
 * batching), the blocking helpers and fdmsg_shutdown across threads,
 * option validation, credentials and pidfds.  Hostile peers are in
 * test_hostile.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fdmsg.h"
#include "queue.h"
#include "rawpeer.h"
#include "testutil.h"

#define WAIT_MS 10000

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static void
opts_fds(struct fdmsg_opts *o, unsigned max_fds)
{
	fdmsg_opts_init(o);
	o->max_fds = max_fds;
}

/* A connected pair of channels over socketpair(type), both owning their
 * socket; oa/ob may be NULL for the defaults. */
static void
chan_pair(int type, const struct fdmsg_opts *oa,
	  const struct fdmsg_opts *ob, struct fdmsg_chan **a,
	  struct fdmsg_chan **b)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0,
		     "socketpair: %s", strerror(errno));
	cr_assert_eq(fdmsg_chan_new(a, sv[0], oa, FDMSG_CHAN_OWN_FD), 0);
	cr_assert_eq(fdmsg_chan_new(b, sv[1], ob, FDMSG_CHAN_OWN_FD), 0);
}

/* A distinct file per call (its own inode). */
static int
new_file(void)
{
	int fd = memfd_create("chan-test", MFD_CLOEXEC);

	cr_assert_geq(fd, 0, "memfd_create: %s", strerror(errno));
	return fd;
}

static void
assert_same_file(int a, int b)
{
	cr_assert(same_file(a, b), "descriptor %d is not the file of %d", a,
		  b);
}

static void
fill(uint8_t *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	for (i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
}

static void
set_small_sndbuf(struct fdmsg_chan *c)
{
	int one = 1;

	cr_assert_eq(setsockopt(fdmsg_chan_fd(c), SOL_SOCKET, SO_SNDBUF, &one,
				sizeof(one)), 0);
}

static int
send_bytes(struct fdmsg_chan *c, uint32_t type, const void *p,
	   size_t n, const int *fds, size_t nfds, unsigned flags)
{
	struct iovec iov = { (void *)(uintptr_t)p, n };

	return fdmsg_send(c, type, type * 7u, &iov, 1, fds, nfds, flags);
}

/* The frame a sequence test sends as number i: type i, peerid 7 i,
 * payload of plen bytes seeded by i. */
static int
send_seq(struct fdmsg_chan *c, unsigned i, size_t plen,
	 const int *fds, size_t nfds, unsigned flags)
{
	uint8_t *buf = malloc(plen ? plen : 1);
	int r;

	cr_assert_not_null(buf);
	fill(buf, plen, i);
	r = send_bytes(c, i, buf, plen, fds, nfds, flags);
	free(buf);
	return r;
}

static void
check_seq(const struct fdmsg_msg *m, unsigned i, size_t plen)
{
	uint8_t *want = malloc(plen ? plen : 1);

	cr_assert_not_null(want);
	fill(want, plen, i);
	cr_assert_eq(m->type, i, "frame %u arrived as type %u", i, m->type);
	cr_assert_eq(m->peerid, i * 7u);
	cr_assert_eq(m->len, plen, "frame %u: len %zu, want %zu", i, m->len,
		     plen);
	cr_assert(plen == 0 || memcmp(m->payload, want, plen) == 0,
		  "frame %u: payload differs", i);
	free(want);
}

/* Receives one frame, blocking up to WAIT_MS. */
static void
recv_ok(struct fdmsg_chan *c, struct fdmsg_msg *m)
{
	int r = fdmsg_recv_wait(c, m, WAIT_MS);

	cr_assert_eq(r, 0, "recv_wait: %d (%s)", r, fdmsg_strerror(r));
}

/* Sends into a with the given size until a's queue holds data (the
 * socket is full); returns the frames sent, each carrying fds[i] when
 * fds is given. */
static unsigned
fill_socket(struct fdmsg_chan *a, size_t plen, int *fds,
	    unsigned max)
{
	unsigned i;

	for (i = 0; i < max && !fdmsg_want_write(a); i++) {
		if (fds != NULL)
			fds[i] = new_file();
		cr_assert_eq(send_seq(a, i, plen, fds ? &fds[i] : NULL,
				      fds ? 1 : 0, 0), 0);
	}
	cr_assert_eq(fdmsg_want_write(a), 1, "socket never filled (%u)", i);
	return i;
}

/* Flushes a and receives on b until n frames arrived; checks each
 * against the sequence, and its one descriptor against fds[i]. */
static void
drain_seq(struct fdmsg_chan *a, struct fdmsg_chan *b,
	  unsigned first, unsigned n, size_t plen, const int *fds)
{
	struct fdmsg_msg m;
	unsigned got = 0;
	long iter;
	int r;

	for (iter = 0; got < n && iter < 10000000; iter++) {
		r = fdmsg_flush(a);
		cr_assert(r == 0 || r == -EAGAIN, "flush: %d", r);
		r = fdmsg_recv(b, &m);
		if (r == -EAGAIN)
			continue;
		cr_assert_eq(r, 0, "recv: %d (%s)", r, fdmsg_strerror(r));
		check_seq(&m, first + got, plen);
		if (fds != NULL) {
			cr_assert_eq(m.nfds, 1);
			assert_same_file(m.fds[0], fds[first + got]);
		} else {
			cr_assert_eq(m.nfds, 0);
		}
		got++;
	}
	cr_assert_eq(got, n, "received %u of %u frames", got, n);
	cr_assert_eq(fdmsg_flush(a), 0);
	cr_assert_eq(fdmsg_want_write(a), 0);
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
}

static void
close_all(int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* ------------------------------------------------------------------ */
/* Round trips                                                         */
/* ------------------------------------------------------------------ */

static void
roundtrip(int type, size_t plen)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;

	chan_pair(type, NULL, NULL, &a, &b);
	cr_assert_eq(send_seq(a, 5, plen, NULL, 0, 0), 0);
	cr_assert_eq(send_seq(a, 6, plen, NULL, 0, 0), 0);
	cr_assert_eq(fdmsg_want_write(a), 0);
	recv_ok(b, &m);
	check_seq(&m, 5, plen);
	cr_assert_eq(m.nfds, 0);
	cr_assert_eq(m.has_cred, 0);
	cr_assert_eq(m.cred.pidfd, -1);
	recv_ok(b, &m);
	check_seq(&m, 6, plen);
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST_ALL_TYPES(chan, roundtrip_empty_payload)
{
	roundtrip(type, 0);
}

TEST_ALL_TYPES(chan, roundtrip_one_byte)
{
	roundtrip(type, 1);
}

TEST_ALL_TYPES(chan, roundtrip_max_frame_payload)
{
	roundtrip(type, FDMSG_MAX_FRAME_DEFAULT - FDMSG_HDR_SIZE);
}

TEST_ALL_TYPES(chan, roundtrip_small_max_frame_at_limit)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	struct fdmsg_msg m;

	fdmsg_opts_init(&o);
	o.max_frame = 64;
	o.max_queue = 64;
	chan_pair(type, &o, &o, &a, &b);
	cr_assert_eq(send_seq(a, 1, 48, NULL, 0, 0), 0);
	cr_assert_eq(send_seq(a, 2, 49, NULL, 0, 0), -EMSGSIZE);
	recv_ok(b, &m);
	check_seq(&m, 1, 48);
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/* n iovecs of varied sizes, some empty; returns the total. */
static size_t
make_iovs(struct iovec *iov, uint8_t *data, unsigned n)
{
	size_t off = 0;
	unsigned i;

	for (i = 0; i < n; i++) {
		size_t l = (i % 3 == 1) ? 0 : (size_t)(i * 37 % 200 + 1);

		iov[i].iov_base = data + off;
		iov[i].iov_len = l;
		off += l;
	}
	return off;
}

static void
roundtrip_iovs(int type, unsigned n)
{
	static uint8_t data[64 * 1024];
	struct iovec iov[64];
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;
	size_t total;

	cr_assert_leq(n, 64);
	fill(data, sizeof(data), n);
	total = make_iovs(iov, data, n);
	chan_pair(type, NULL, NULL, &a, &b);
	cr_assert_eq(fdmsg_send(a, 9, 10, iov, n, NULL, 0, 0), 0);
	recv_ok(b, &m);
	cr_assert_eq(m.type, 9);
	cr_assert_eq(m.peerid, 10);
	cr_assert_eq(m.len, total);
	cr_assert(total == 0 || memcmp(m.payload, data, total) == 0);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST_ALL_TYPES(chan, roundtrip_several_iovecs)
{
	roundtrip_iovs(type, 5);
}

TEST_ALL_TYPES(chan, roundtrip_many_iovecs)
{
	roundtrip_iovs(type, 64); /* past the stack iovec array */
}

TEST_ALL_TYPES(chan, roundtrip_no_iovecs)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;

	chan_pair(type, NULL, NULL, &a, &b);
	cr_assert_eq(fdmsg_send(a, 1, 2, NULL, 0, NULL, 0, 0), 0);
	recv_ok(b, &m);
	cr_assert_eq(m.type, 1);
	cr_assert_eq(m.len, 0);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/* ------------------------------------------------------------------ */
/* Descriptors                                                         */
/* ------------------------------------------------------------------ */

static void
roundtrip_fds(int type, unsigned n)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	struct fdmsg_msg m;
	int fds[FDMSG_MAX_FDS_CAP], got[FDMSG_MAX_FDS_CAP];
	unsigned i;
	int base;

	opts_fds(&o, n);
	chan_pair(type, NULL, &o, &a, &b);
	for (i = 0; i < n; i++)
		fds[i] = new_file();
	cr_assert_eq(send_seq(a, 3, 10, fds, n, 0), 0);
	/* Still the caller's after the call. */
	for (i = 0; i < n; i++)
		cr_assert(fd_is_open(fds[i]));
	base = fd_count();
	recv_ok(b, &m);
	check_seq(&m, 3, 10);
	cr_assert_eq(m.nfds, n);
	cr_assert_eq(fd_count(), base + (int)n);
	for (i = 0; i < n; i++) {
		cr_assert_gt(m.fds[i], 2);
		cr_assert(fcntl(m.fds[i], F_GETFD) & FD_CLOEXEC);
		assert_same_file(m.fds[i], fds[i]);
		got[i] = fdmsg_msg_take_fd(&m, i);
		cr_assert_geq(got[i], 0);
		cr_assert_eq(fdmsg_msg_take_fd(&m, i), -EBADF);
	}
	cr_assert_eq(fdmsg_msg_take_fd(&m, n), -EBADF);
	fdmsg_msg_release(&m);
	cr_assert_eq(fd_count(), base + (int)n, "taken fds were closed");
	close_all(got, n);
	close_all(fds, n);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST_ALL_TYPES(chan, fds_one)
{
	roundtrip_fds(type, 1);
}

TEST_ALL_TYPES(chan, fds_several)
{
	roundtrip_fds(type, 7);
}

TEST_ALL_TYPES(chan, fds_max_253)
{
	roundtrip_fds(type, FDMSG_MAX_FDS_CAP);
}

TEST_ALL_TYPES(chan, fds_frames_back_to_back_keep_their_own)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	struct fdmsg_msg m;
	int f[5];
	unsigned i;

	opts_fds(&o, 4);
	chan_pair(type, NULL, &o, &a, &b);
	for (i = 0; i < 5; i++)
		f[i] = new_file();
	cr_assert_eq(send_seq(a, 0, 3, &f[0], 2, 0), 0);
	cr_assert_eq(send_seq(a, 1, 0, NULL, 0, 0), 0);
	cr_assert_eq(send_seq(a, 2, 5, &f[2], 3, 0), 0);
	recv_ok(b, &m);
	check_seq(&m, 0, 3);
	cr_assert_eq(m.nfds, 2);
	assert_same_file(m.fds[0], f[0]);
	assert_same_file(m.fds[1], f[1]);
	recv_ok(b, &m);
	check_seq(&m, 1, 0);
	cr_assert_eq(m.nfds, 0);
	recv_ok(b, &m);
	check_seq(&m, 2, 5);
	cr_assert_eq(m.nfds, 3);
	for (i = 0; i < 3; i++)
		assert_same_file(m.fds[i], f[2 + i]);
	close_all(f, 5);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST_ALL_TYPES(chan, untaken_fds_closed_by_release_and_next_recv)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	struct fdmsg_msg m;
	int f[4], base, kept;

	opts_fds(&o, 2);
	chan_pair(type, NULL, &o, &a, &b);
	for (int i = 0; i < 4; i++)
		f[i] = new_file();
	cr_assert_eq(send_seq(a, 0, 1, &f[0], 2, 0), 0);
	cr_assert_eq(send_seq(a, 1, 1, &f[2], 2, 0), 0);
	cr_assert_eq(send_seq(a, 2, 1, &f[0], 2, 0), 0);
	base = fd_count();

	/* Frame 0: one taken, the other closed by the next receive. */
	recv_ok(b, &m);
	cr_assert_eq(fd_count(), base + 2);
	kept = fdmsg_msg_take_fd(&m, 1);
	assert_same_file(kept, f[1]);
	recv_ok(b, &m);
	check_seq(&m, 1, 1);
	cr_assert_eq(fd_count(), base + 1 + 2, "untaken fd of frame 0 open");
	assert_same_file(m.fds[0], f[2]);
	cr_assert(fd_is_open(kept));

	/* Frame 1: released explicitly, twice. */
	fdmsg_msg_release(&m);
	cr_assert_eq(fd_count(), base + 1);
	cr_assert_eq(m.nfds, 0);
	cr_assert_null(m.payload);
	fdmsg_msg_release(&m);
	cr_assert_eq(fdmsg_msg_take_fd(&m, 0), -EBADF);

	/* Frame 2: freed with the channel. */
	recv_ok(b, &m);
	cr_assert_eq(fd_count(), base + 1 + 2);
	fdmsg_chan_free(b);
	cr_assert_eq(fd_count(), base + 1 - 1, "chan_free left fds open");
	close(kept);
	close_all(f, 4);
	fdmsg_chan_free(a);
}

TEST(chan_msg, release_and_take_on_zeroed_msg)
{
	struct fdmsg_msg m;

	memset(&m, 0, sizeof(m));
	fdmsg_msg_release(&m);
	fdmsg_msg_release(&m);
	cr_assert_eq(m.cred.pidfd, -1);
	cr_assert_eq(fdmsg_msg_take_fd(&m, 0), -EBADF);
	cr_assert_eq(fdmsg_msg_take_pidfd(&m), -EBADF);
	cr_assert_eq(fdmsg_msg_take_fd(NULL, 0), -EINVAL);
	fdmsg_msg_release(NULL);
}

TEST_ALL_TYPES(chan, fds_to_channel_without_max_fds_refused)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;
	int f, r;

	chan_pair(type, NULL, NULL, &a, &b); /* max_fds 0 on b */
	f = new_file();
	r = send_seq(a, 1, 4, &f, 1, 0);
	if (r == 0) {
		/* A kernel without SO_PASSRIGHTS: the gate refuses. */
		cr_assert_eq(fdmsg_recv_wait(b, &m, WAIT_MS), -EPROTO);
	} else {
		cr_assert_eq(r, -EPERM, "send: %d", r);
		/* The frame was dropped; the channel goes on. */
		cr_assert_eq(send_seq(a, 2, 4, NULL, 0, 0), 0);
		recv_ok(b, &m);
		check_seq(&m, 2, 4);
	}
	close(f);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/* ------------------------------------------------------------------ */
/* Nothing to read, the peer's end                                     */
/* ------------------------------------------------------------------ */

TEST_ALL_TYPES(chan, eagain_when_nothing)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;

	chan_pair(type, NULL, NULL, &a, &b);
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	cr_assert_eq(fdmsg_recv(a, &m), -EAGAIN);
	cr_assert_eq(fdmsg_flush(a), 0);
	cr_assert_eq(fdmsg_want_write(a), 0);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST_CONN_TYPES(chan, epipe_after_peer_close_once_frames_delivered)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	struct fdmsg_msg m;
	int f;

	opts_fds(&o, 1);
	chan_pair(type, NULL, &o, &a, &b);
	f = new_file();
	cr_assert_eq(send_seq(a, 0, 100, NULL, 0, 0), 0);
	cr_assert_eq(send_seq(a, 1, 0, &f, 1, FDMSG_CLOSE_FDS), 0);
	fdmsg_chan_free(a);
	recv_ok(b, &m);
	check_seq(&m, 0, 100);
	recv_ok(b, &m);
	check_seq(&m, 1, 0);
	cr_assert_eq(m.nfds, 1);
	cr_assert_eq(fdmsg_recv(b, &m), -EPIPE);
	cr_assert_eq(fdmsg_recv(b, &m), -EPIPE);
	cr_assert_eq(fdmsg_recv_wait(b, &m, 0), -EPIPE);
	/* Sending to a peer that is gone. */
	cr_assert_eq(send_seq(b, 2, 1, NULL, 0, 0), -EPIPE);
	fdmsg_chan_free(b);
}

/* The peer closes with our frames unread (ECONNRESET on our side): its
 * frames still come first, then the end. */
TEST_CONN_TYPES(chan, peer_close_with_unread_data_delivers_frames_first)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;

	chan_pair(type, NULL, NULL, &a, &b);
	cr_assert_eq(send_seq(b, 9, 4, NULL, 0, 0), 0);
	cr_assert_eq(send_seq(a, 0, 4, NULL, 0, 0), 0);
	cr_assert_eq(send_seq(a, 1, 4, NULL, 0, 0), 0);
	fdmsg_chan_free(a);
	recv_ok(b, &m);
	check_seq(&m, 0, 4);
	recv_ok(b, &m);
	check_seq(&m, 1, 4);
	cr_assert_eq(fdmsg_recv(b, &m), -EPIPE);
	cr_assert_eq(fdmsg_recv(b, &m), -EPIPE);
	fdmsg_chan_free(b);
}

TEST(chan_dgram, empty_datagram_ends_after_frames_delivered)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;

	chan_pair(SOCK_DGRAM, NULL, NULL, &a, &b);
	cr_assert_eq(send_seq(a, 0, 3, NULL, 0, 0), 0);
	cr_assert_eq(send(fdmsg_chan_fd(a), "", 0, 0), 0);
	cr_assert_eq(send_seq(a, 1, 3, NULL, 0, 0), 0);
	recv_ok(b, &m);
	check_seq(&m, 0, 3);
	cr_assert_eq(fdmsg_recv(b, &m), -EPIPE);
	cr_assert_eq(fdmsg_recv(b, &m), -EPIPE, "the end is sticky");
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST(chan_dgram, unconnected_receives_only)
{
	struct sockaddr_un sa;
	struct fdmsg_chan *c, *a;
	struct fdmsg_msg m;
	socklen_t sl;
	int fd, cl;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa_family_t)), 0);
	sl = sizeof(sa);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	cr_assert_eq(fdmsg_chan_new(&c, fd, NULL, FDMSG_CHAN_OWN_FD), 0);
	cr_assert_eq(send_seq(c, 1, 1, NULL, 0, 0), -ENOTCONN);

	cl = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(cl, 0);
	cr_assert_eq(connect(cl, (struct sockaddr *)&sa, sl), 0);
	cr_assert_eq(fdmsg_chan_new(&a, cl, NULL, FDMSG_CHAN_OWN_FD), 0);
	cr_assert_eq(send_seq(a, 4, 8, NULL, 0, 0), 0);
	recv_ok(c, &m);
	check_seq(&m, 4, 8);
	/* Nothing to shut down, but the flag holds. */
	cr_assert_eq(fdmsg_shutdown(c), 0);
	cr_assert_eq(fdmsg_recv(c, &m), -ESHUTDOWN);
	fdmsg_chan_free(a);
	fdmsg_chan_free(c);
}

TEST(chan_seqpacket, unconnected_socket_refused)
{
	int fd;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	struct fdmsg_chan *c = NULL;
	cr_assert_eq(fdmsg_chan_new(&c, fd, NULL, 0), -ENOTCONN);
	cr_assert_null(c);
	cr_assert(fd_is_open(fd));
	close(fd);
}

/* ------------------------------------------------------------------ */
/* The send queue                                                      */
/* ------------------------------------------------------------------ */

TEST_ALL_TYPES(chan, queue_small_sndbuf_order_and_fds)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	int fds[400];
	unsigned n, i;
	int base;

	opts_fds(&o, 4);
	chan_pair(type, &o, &o, &a, &b);
	set_small_sndbuf(a);
	n = fill_socket(a, 100, fds, 300);
	/* More behind the queue: each keeps a duplicate of its fd. */
	base = fd_count();
	for (i = n; i < n + 20; i++) {
		fds[i] = new_file();
		cr_assert_eq(send_seq(a, i, 100, &fds[i], 1, 0), 0);
	}
	cr_assert_eq(fdmsg_want_write(a), 1);
	/* 20 files and 20 duplicates waiting in the queue. */
	cr_assert_eq(fd_count(), base + 40);
	drain_seq(a, b, 0, n + 20, 100, fds);
	close_all(fds, n + 20);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST_ALL_TYPES(chan, queue_then_send_keeps_order_without_fds)
{
	struct fdmsg_chan *a, *b;
	unsigned n, i;

	chan_pair(type, NULL, NULL, &a, &b);
	set_small_sndbuf(a);
	n = fill_socket(a, 33, NULL, 1000);
	for (i = n; i < n + 50; i++)
		cr_assert_eq(send_seq(a, i, 33, NULL, 0, 0), 0);
	drain_seq(a, b, 0, n + 50, 33, NULL);
	/* Usable afterwards, straight again. */
	cr_assert_eq(send_seq(a, 0, 5, NULL, 0, 0), 0);
	cr_assert_eq(fdmsg_want_write(a), 0);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST(chan_stream, partial_writes_resume_at_the_right_byte)
{
	const size_t plen = 60000;
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	int fds[6];
	unsigned i;

	opts_fds(&o, 1);
	chan_pair(SOCK_STREAM, &o, &o, &a, &b);
	set_small_sndbuf(a);
	for (i = 0; i < 6; i++) {
		fds[i] = new_file();
		cr_assert_eq(send_seq(a, i, plen, &fds[i], 1, 0), 0);
		if (i == 0)
			cr_assert_eq(fdmsg_want_write(a), 1,
				     "60 kB did not short-write");
	}
	drain_seq(a, b, 0, 6, plen, fds);
	close_all(fds, 6);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST(chan_stream, no_queue_short_write_still_queues_the_rest)
{
	struct fdmsg_chan *a, *b;
	int f;

	chan_pair(SOCK_STREAM, NULL, &(struct fdmsg_opts){
		.max_frame = FDMSG_MAX_FRAME_DEFAULT,
		.max_fds = 1, .max_queue = FDMSG_MAX_QUEUE_DEFAULT }, &a, &b);
	set_small_sndbuf(a);
	f = new_file();
	/* A frame cannot be half sent: 0, and the rest waits. */
	cr_assert_eq(send_seq(a, 0, 60000, &f, 1, FDMSG_NO_QUEUE), 0);
	cr_assert_eq(fdmsg_want_write(a), 1);
	/* The queue is not empty: NO_QUEUE frames are refused. */
	cr_assert_eq(send_seq(a, 1, 10, NULL, 0, FDMSG_NO_QUEUE), -EAGAIN);
	drain_seq(a, b, 0, 1, 60000, &f);
	close(f);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST_ALL_TYPES(chan, no_queue_gives_eagain_and_queues_nothing)
{
	struct fdmsg_chan *a, *b;
	unsigned i;
	int r = 0, f, base;

	chan_pair(type, NULL, &(struct fdmsg_opts){
		.max_frame = FDMSG_MAX_FRAME_DEFAULT,
		.max_fds = 1, .max_queue = FDMSG_MAX_QUEUE_DEFAULT }, &a, &b);
	set_small_sndbuf(a);
	for (i = 0; i < 10000; i++) {
		r = send_seq(a, i, 50, NULL, 0, FDMSG_NO_QUEUE);
		if (r < 0)
			break;
	}
	cr_assert_eq(r, -EAGAIN);
	cr_assert_eq(fdmsg_want_write(a), 0);
	/* With a descriptor: nothing duplicated, the caller's fd intact. */
	f = new_file();
	base = fd_count();
	cr_assert_eq(send_seq(a, i, 50, &f, 1, FDMSG_NO_QUEUE), -EAGAIN);
	cr_assert_eq(fd_count(), base);
	cr_assert(fd_is_open(f));
	cr_assert_eq(fdmsg_want_write(a), 0);
	drain_seq(a, b, 0, i, 50, NULL);
	close(f);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST_ALL_TYPES(chan, max_queue_cap_enobufs_nothing_queued)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	int fds[300], f, base, r = 0;
	unsigned n, i;

	fdmsg_opts_init(&o);
	o.max_frame = 1024;
	o.max_queue = 1024; /* the smallest allowed */
	o.max_fds = 1;
	chan_pair(type, &o, &o, &a, &b);
	set_small_sndbuf(a);
	n = fill_socket(a, 200, fds, 250);
	/* 216-byte frames: the queue holds four of them. */
	for (i = n; i < n + 10; i++) {
		fds[i] = new_file();
		r = send_seq(a, i, 200, &fds[i], 1, 0);
		if (r < 0)
			break;
	}
	cr_assert_eq(r, -ENOBUFS);
	cr_assert_lt(i, n + 5);
	f = fds[i]; /* the refused frame's fd: not duplicated, still open */
	base = fd_count();
	cr_assert_eq(send_seq(a, i, 200, &f, 1, 0), -ENOBUFS);
	cr_assert_eq(fd_count(), base);
	cr_assert(fd_is_open(f));
	close(f);
	fds[i] = -1;
	/* Exactly the accepted frames arrive, in order. */
	drain_seq(a, b, 0, i, 200, fds);
	/* And the channel goes on. */
	cr_assert_eq(send_seq(a, i, 200, NULL, 0, 0), 0);
	drain_seq(a, b, i, 1, 200, NULL);
	close_all(fds, i);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST(chan_seqpacket, batching_several_frames_per_datagram)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	struct fdmsg_msg m;
	int fds[200], nf[200];
	unsigned n, i, k, total_fds = 0, got;
	ssize_t peek;
	uint8_t buf[65536];
	int bfd;

	opts_fds(&o, 8);
	chan_pair(SOCK_SEQPACKET, &o, &o, &a, &b);
	bfd = fdmsg_chan_fd(b);
	set_small_sndbuf(a);
	n = fill_socket(a, 16, NULL, 1000);
	/* Queue 12 frames with 0, 1 or 2 descriptors. */
	for (i = n; i < n + 12; i++) {
		nf[i] = (int)(i % 3);
		for (k = 0; k < (unsigned)nf[i]; k++)
			fds[total_fds + k] = new_file();
		cr_assert_eq(send_seq(a, i, 16, &fds[total_fds], nf[i], 0), 0);
		total_fds += nf[i];
	}
	/* Take out what went straight (the last of fill_socket's frames is
	 * queued), then send the queue. */
	for (i = 0; i < n - 1; i++) {
		recv_ok(b, &m);
		check_seq(&m, i, 16);
	}
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	cr_assert_eq(fdmsg_want_write(a), 1);
	cr_assert_eq(fdmsg_flush(a), 0);
	cr_assert_eq(fdmsg_want_write(a), 0);
	/* The first datagram holds several 32-byte frames (a peek without
	 * a control buffer installs no descriptor). */
	peek = recv(bfd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	cr_assert_gt(peek, 32, "not batched: datagram of %zd bytes", peek);
	cr_assert_eq(peek % 32, 0);
	nf[n - 1] = 0;
	for (i = n - 1, got = 0; i < n + 12; i++) {
		recv_ok(b, &m);
		check_seq(&m, i, 16);
		cr_assert_eq(m.nfds, (unsigned)nf[i]);
		for (k = 0; k < m.nfds; k++)
			assert_same_file(m.fds[k], fds[got + k]);
		got += m.nfds;
	}
	cr_assert_eq(got, total_fds);
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	close_all(fds, total_fds);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST_ALL_TYPES(chan, send_after_partial_drain_goes_behind_the_queue)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;
	unsigned n, i;

	chan_pair(type, NULL, NULL, &a, &b);
	set_small_sndbuf(a);
	n = fill_socket(a, 30, NULL, 1000);
	for (i = n; i < n + 5; i++)
		cr_assert_eq(send_seq(a, i, 30, NULL, 0, 0), 0);
	/* The socket empties, the queue still holds n - 1 .. n + 4. */
	for (i = 0; i < n - 1; i++) {
		recv_ok(b, &m);
		check_seq(&m, i, 30);
	}
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	cr_assert_eq(fdmsg_want_write(a), 1);
	cr_assert_eq(send_seq(a, n + 5, 30, NULL, 0, 0), 0);
	drain_seq(a, b, n - 1, 7, 30, NULL);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST_ALL_TYPES(chan, queue_dropped_when_peer_gone)
{
	struct fdmsg_chan *a, *b;
	int fds[400], before, r;
	unsigned n, i;

	chan_pair(type, NULL, &(struct fdmsg_opts){
		.max_frame = FDMSG_MAX_FRAME_DEFAULT,
		.max_fds = 1, .max_queue = FDMSG_MAX_QUEUE_DEFAULT }, &a, &b);
	set_small_sndbuf(a);
	n = fill_socket(a, 40, fds, 300);
	for (i = n; i < n + 5; i++) {
		fds[i] = new_file();
		cr_assert_eq(send_seq(a, i, 40, &fds[i], 1, 0), 0);
	}
	fdmsg_chan_free(b);
	before = fd_count();
	r = fdmsg_flush(a);
	cr_assert(r == -EPIPE || r == -ECONNRESET || r == -ECONNREFUSED,
		  "flush to a closed peer: %d", r);
	cr_assert_eq(fdmsg_want_write(a), 0);
	/* The six queued frames' duplicates are closed. */
	cr_assert_eq(fd_count(), before - 6);
	close_all(fds, n + 5);
	fdmsg_chan_free(a);
}

/* Frame i of the steady-state test: its payload size and whether it
 * carries pool[i % 4]. */
static size_t
steady_len(unsigned i)
{
	return (size_t)(i * 37u % 700u);
}

static int
steady_has_fd(unsigned i)
{
	return i % 5 == 0;
}

static void
steady_check(struct fdmsg_msg *m, unsigned i, const int *pool)
{
	check_seq(m, i, steady_len(i));
	cr_assert_eq(m->nfds, steady_has_fd(i) ? 1u : 0u);
	if (steady_has_fd(i))
		assert_same_file(m->fds[0], pool[i % 4]);
}

/* A sender faster than its reader for thousands of frames: the queue is
 * appended to while partly sent, so it compacts and grows in place. */
TEST_ALL_TYPES(chan, queue_steady_state_reader_slower_than_writer)
{
	const unsigned total = 3000;
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	struct fdmsg_msg m;
	unsigned i, got = 0, max_queued = 0, k;
	int pool[4], r;
	long iter;

	opts_fds(&o, 4);
	o.max_queue = 4 * 1024 * 1024;
	chan_pair(type, &o, &o, &a, &b);
	set_small_sndbuf(a);
	for (i = 0; i < 4; i++)
		pool[i] = new_file();
	for (i = 0; i < total; i++) {
		r = send_seq(a, i, steady_len(i), &pool[i % 4],
			     steady_has_fd(i) ? 1 : 0, 0);
		cr_assert_eq(r, 0, "send %u: %d", i, r);
		if (i - got > max_queued)
			max_queued = i - got;
		/* Read one frame for every two sent. */
		for (k = 0; k < (i % 2) && got <= i; k++) {
			r = fdmsg_recv(b, &m);
			if (r == -EAGAIN)
				break;
			cr_assert_eq(r, 0, "recv: %d", r);
			steady_check(&m, got++, pool);
		}
	}
	cr_assert_gt(max_queued, 100, "the queue never built up");
	for (iter = 0; got < total && iter < 10000000; iter++) {
		r = fdmsg_flush(a);
		cr_assert(r == 0 || r == -EAGAIN);
		r = fdmsg_recv(b, &m);
		if (r == -EAGAIN)
			continue;
		cr_assert_eq(r, 0);
		steady_check(&m, got++, pool);
	}
	cr_assert_eq(got, total);
	cr_assert_eq(fdmsg_want_write(a), 0);
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	close_all(pool, 4);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/* A batch over the socket's buffer (EMSGSIZE from the kernel) is split
 * until it fits; nothing is lost. */
static void
big_batches(int type)
{
	struct fdmsg_chan *a, *b;
	unsigned n, i;

	chan_pair(type, NULL, NULL, &a, &b);
	set_small_sndbuf(a);
	n = fill_socket(a, 1000, NULL, 1000);
	for (i = n; i < n + 40; i++)
		cr_assert_eq(send_seq(a, i, 1000, NULL, 0, 0), 0);
	drain_seq(a, b, 0, n + 40, 1000, NULL);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/* FDMSG_MORE: frames wait in the queue, nothing is written, until the
 * flush; then they go out in order, batched per datagram. */
TEST_ALL_TYPES(chan, more_corks_until_flush)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;
	uint8_t buf[4096];
	unsigned i;

	chan_pair(type, NULL, NULL, &a, &b);
	for (i = 0; i < 10; i++)
		cr_assert_eq(send_seq(a, i, 48, NULL, 0, FDMSG_MORE), 0);
	cr_assert_eq(fdmsg_want_write(a), 1);
	cr_assert_eq(recv(fdmsg_chan_fd(b), buf, sizeof(buf),
			  MSG_PEEK | MSG_DONTWAIT), -1, "corked bytes sent");
	cr_assert_eq(errno, EAGAIN);
	cr_assert_eq(fdmsg_flush(a), 0);
	cr_assert_eq(fdmsg_want_write(a), 0);
	if (type != SOCK_STREAM)
		cr_assert_eq(recv(fdmsg_chan_fd(b), buf, sizeof(buf),
				  MSG_PEEK | MSG_DONTWAIT), 640,
			     "not one datagram of the ten frames");
	for (i = 0; i < 10; i++) {
		recv_ok(b, &m);
		check_seq(&m, i, 48);
	}
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/* A send without FDMSG_MORE writes what is corked, behind it in order. */
TEST_ALL_TYPES(chan, more_then_plain_send_writes_all_in_order)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;
	unsigned i;

	chan_pair(type, NULL, NULL, &a, &b);
	for (i = 0; i < 5; i++)
		cr_assert_eq(send_seq(a, i, 100, NULL, 0, FDMSG_MORE), 0);
	cr_assert_eq(send_seq(a, 5, 100, NULL, 0, 0), 0);
	cr_assert_eq(fdmsg_want_write(a), 0);
	for (i = 0; i < 6; i++) {
		recv_ok(b, &m);
		check_seq(&m, i, 100);
	}
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/* A whole batch is written by the send that completes it: max_frame
 * bytes, or on a datagram socket max_fds descriptors. */
TEST_ALL_TYPES(chan, more_writes_each_whole_batch)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	struct fdmsg_msg m;
	int fds[4];
	unsigned i;

	opts_fds(&o, 4);
	o.max_frame = 1024;
	chan_pair(type, &o, &o, &a, &b);
	/* Eight frames of 128 bytes fill 1024: written at the eighth. */
	for (i = 0; i < 7; i++)
		cr_assert_eq(send_seq(a, i, 112, NULL, 0, FDMSG_MORE), 0);
	cr_assert_eq(fdmsg_want_write(a), 1);
	cr_assert_eq(send_seq(a, 7, 112, NULL, 0, FDMSG_MORE), 0);
	cr_assert_eq(fdmsg_want_write(a), 0);
	for (i = 0; i < 8; i++) {
		recv_ok(b, &m);
		check_seq(&m, i, 112);
	}
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	/* Four frames of one descriptor each: max_fds is a whole batch. */
	for (i = 0; i < 4; i++) {
		fds[i] = new_file();
		cr_assert_eq(send_seq(a, 8 + i, 8, &fds[i], 1, FDMSG_MORE), 0);
	}
	cr_assert_eq(fdmsg_want_write(a), type == SOCK_STREAM);
	cr_assert_eq(fdmsg_flush(a), 0);
	for (i = 0; i < 4; i++) {
		recv_ok(b, &m);
		check_seq(&m, 8 + i, 8);
		cr_assert_eq(m.nfds, 1);
		assert_same_file(m.fds[0], fds[i]);
	}
	close_all(fds, 4);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/* Corked frames count against max_queue like any queued frame. */
TEST(chan_seqpacket, more_past_max_queue_is_enobufs)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	unsigned i, n = 0;
	int r = 0;

	fdmsg_opts_init(&o);
	o.max_frame = 4096;
	o.max_queue = 4096;
	chan_pair(SOCK_SEQPACKET, &o, &o, &a, &b);
	set_small_sndbuf(a);
	for (i = 0; i < 10000; i++) {
		r = send_seq(a, i, 1008, NULL, 0, FDMSG_MORE);
		if (r == -ENOBUFS)
			break;
		cr_assert_eq(r, 0, "send %u: %d", i, r);
		n++;
	}
	cr_assert_eq(r, -ENOBUFS, "never full");
	cr_assert_eq(fdmsg_want_write(a), 1);
	drain_seq(a, b, 0, n, 1008, NULL);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST(chan_seqpacket, batch_over_sndbuf_is_split)
{
	big_batches(SOCK_SEQPACKET);
}

TEST(chan_dgram, batch_over_sndbuf_is_split)
{
	big_batches(SOCK_DGRAM);
}

TEST_ALL_TYPES(chan, chan_free_closes_queued_dups_and_received_fds)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	struct fdmsg_msg m;
	int fds[400], fds2[400], held, before;
	unsigned n, n2, i;

	opts_fds(&o, 2);
	chan_pair(type, &o, &o, &a, &b);
	set_small_sndbuf(a);
	n = fill_socket(a, 40, fds, 300);
	for (i = n; i < n + 5; i++) {
		fds[i] = new_file();
		cr_assert_eq(send_seq(a, i, 40, &fds[i], 1, 0), 0);
	}
	for (i = 0; i < n - 1; i++)
		recv_ok(b, &m);
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	/* Six frames of one fd each: two per datagram (max_fds 2). */
	cr_assert_eq(fdmsg_flush(a), 0);
	before = fd_count();
	recv_ok(b, &m);
	check_seq(&m, n - 1, 40);
	cr_assert_eq(m.nfds, 1);
	/* The message's fd, and its neighbour's waiting: in its datagram,
	 * or ahead of its frame on a stream (one write carries both). */
	held = 2;
	cr_assert_eq(fd_count(), before + held);

	/* a: fill again, and four frames' duplicates wait in its queue. */
	n2 = fill_socket(a, 40, fds2, 300);
	for (i = n2; i < n2 + 3; i++) {
		fds2[i] = new_file();
		cr_assert_eq(send_seq(a, i, 40, &fds2[i], 1, 0), 0);
	}
	before = fd_count();
	fdmsg_chan_free(a);
	cr_assert_eq(fd_count(), before - 1 - 4, "queued dups left open");
	fdmsg_chan_free(b);
	cr_assert_eq(fd_count(), before - 5 - 1 - held,
		     "received fds left open");
	close_all(fds, n + 5);
	close_all(fds2, n2 + 3);
}

TEST(chan_stream, chan_free_closes_fds_of_a_partial_frame)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	struct fdmsg_msg m;
	int f, before;

	opts_fds(&o, 1);
	chan_pair(SOCK_STREAM, &o, &o, &a, &b);
	set_small_sndbuf(a);
	f = new_file();
	cr_assert_eq(send_seq(a, 0, 60000, &f, 1, FDMSG_CLOSE_FDS), 0);
	cr_assert_eq(fdmsg_want_write(a), 1);
	before = fd_count();
	/* The frame's first bytes and its fd are read; the rest waits. */
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	cr_assert_eq(fd_count(), before + 1);
	fdmsg_chan_free(b);
	cr_assert_eq(fd_count(), before - 1);
	fdmsg_chan_free(a);
}

/* ------------------------------------------------------------------ */
/* Descriptor ownership on send                                        */
/* ------------------------------------------------------------------ */

TEST_ALL_TYPES(chan, close_fds_on_success_and_on_failure)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	struct fdmsg_msg m;
	static uint8_t big[FDMSG_MAX_FRAME_DEFAULT];
	unsigned n, got;
	int f[2], base, qf, keep, r;
	long iter;

	opts_fds(&o, 2);
	chan_pair(type, &o, &o, &a, &b);
	base = fd_count();

	/* Success. */
	f[0] = new_file();
	f[1] = new_file();
	cr_assert_eq(send_seq(a, 0, 1, f, 2, FDMSG_CLOSE_FDS), 0);
	cr_assert_eq(fd_count(), base);
	recv_ok(b, &m);
	cr_assert_eq(m.nfds, 2);
	fdmsg_msg_release(&m);

	/* -EMSGSIZE. */
	f[0] = new_file();
	f[1] = new_file();
	memset(big, 0, sizeof(big));
	cr_assert_eq(send_bytes(a, 1, big, sizeof(big) - 15, f, 2,
				FDMSG_CLOSE_FDS), -EMSGSIZE);
	cr_assert_eq(fd_count(), base);

	/* -EINVAL (unknown flag) and -EBADF (a negative fd among them). */
	f[0] = new_file();
	cr_assert_eq(send_seq(a, 2, 1, f, 1, FDMSG_CLOSE_FDS | 0x80), -EINVAL);
	cr_assert_eq(fd_count(), base);
	f[0] = new_file();
	f[1] = -1;
	cr_assert_eq(send_seq(a, 2, 1, f, 2, FDMSG_CLOSE_FDS), -EBADF);
	cr_assert_eq(fd_count(), base);

	/* Queued: given away, the caller's own descriptor waits in the
	 * queue (no duplicate) and travels. */
	set_small_sndbuf(a);
	n = fill_socket(a, 20, NULL, 1000);
	qf = new_file();
	keep = dup(qf);
	cr_assert_eq(send_seq(a, n, 20, &qf, 1, FDMSG_CLOSE_FDS), 0);
	cr_assert_eq(fdmsg_want_write(a), 1);
	cr_assert(fd_is_open(qf));
	cr_assert_eq(fd_count(), base + 2, "a duplicate was made");
	for (got = 0, iter = 0; got <= n && iter < 10000000; iter++) {
		r = fdmsg_flush(a);
		cr_assert(r == 0 || r == -EAGAIN);
		if ((r = fdmsg_recv(b, &m)) == -EAGAIN)
			continue;
		cr_assert_eq(r, 0);
		check_seq(&m, got, 20);
		cr_assert_eq(m.nfds, got == n ? 1u : 0u);
		if (got == n)
			assert_same_file(m.fds[0], keep);
		got++;
	}
	cr_assert_eq(got, n + 1);
	cr_assert_eq(fdmsg_want_write(a), 0);
	fdmsg_msg_release(&m);
	close(keep);
	cr_assert_eq(fd_count(), base);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST_ALL_TYPES(chan, emsgsize_over_max_frame_at_send)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	struct fdmsg_msg m;
	static uint8_t buf[4096];
	struct iovec iov[2];

	fdmsg_opts_init(&o);
	o.max_frame = 4096;
	o.max_queue = 4096;
	chan_pair(type, &o, &o, &a, &b);
	cr_assert_eq(send_bytes(a, 1, buf, 4096 - 16 + 1, NULL, 0, 0),
		     -EMSGSIZE);
	/* Split over iovecs: the sum counts. */
	iov[0].iov_base = buf;
	iov[0].iov_len = 2000;
	iov[1].iov_base = buf;
	iov[1].iov_len = 2081;
	cr_assert_eq(fdmsg_send(a, 1, 1, iov, 2, NULL, 0, 0), -EMSGSIZE);
	iov[1].iov_len = 2080;
	cr_assert_eq(fdmsg_send(a, 1, 1, iov, 2, NULL, 0, 0), 0);
	recv_ok(b, &m);
	cr_assert_eq(m.len, 4080);
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST_ALL_TYPES(chan, send_argument_errors)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;
	struct iovec iov[2], *many;
	int f, bad = -1;

	chan_pair(type, NULL, NULL, &a, &b);
	f = new_file();
	iov[0].iov_base = (char[]){ "x" };
	iov[0].iov_len = 1;
	cr_assert_eq(fdmsg_send(NULL, 1, 1, iov, 1, NULL, 0, 0), -EINVAL);
	cr_assert_eq(fdmsg_send(a, 1, 1, NULL, 1, NULL, 0, 0), -EINVAL);
	cr_assert_eq(fdmsg_send(a, 1, 1, iov, 1, NULL, 1, 0), -EINVAL);
	cr_assert_eq(fdmsg_send(a, 1, 1, iov, 1, NULL, 0, 0x8), -EINVAL);
	cr_assert_eq(fdmsg_send(a, 1, 1, iov, 1, NULL, 0,
				FDMSG_MORE | FDMSG_NO_QUEUE), -EINVAL);
	cr_assert_eq(fdmsg_send(a, 1, 1, iov, 1, &f, FDMSG_MAX_FDS_CAP + 1,
				0), -EINVAL);
	cr_assert_eq(fdmsg_send(a, 1, 1, iov, 1, &bad, 1, 0), -EBADF);
	iov[1].iov_base = NULL;
	iov[1].iov_len = 3;
	cr_assert_eq(fdmsg_send(a, 1, 1, iov, 2, NULL, 0, 0), -EINVAL);
	iov[0].iov_len = SIZE_MAX;
	iov[1].iov_base = (char[]){ "y" };
	iov[1].iov_len = 2;
	cr_assert_eq(fdmsg_send(a, 1, 1, iov, 2, NULL, 0, 0), -EMSGSIZE);
	/* IOV_MAX - 1 caller iovecs fit beside the header; IOV_MAX not. */
	many = calloc(IOV_MAX, sizeof(*many));
	cr_assert_not_null(many);
	cr_assert_eq(fdmsg_send(a, 1, 1, many, IOV_MAX, NULL, 0, 0), -EINVAL);
	cr_assert_eq(fdmsg_send(a, 7, 1, many, IOV_MAX - 1, NULL, 0, 0), 0);
	free(many);
	/* None of the refused ones went out. */
	recv_ok(b, &m);
	cr_assert_eq(m.type, 7);
	cr_assert_eq(m.len, 0);
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	cr_assert(fd_is_open(f));
	close(f);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/* ------------------------------------------------------------------ */
/* Blocking helpers and shutdown                                       */
/* ------------------------------------------------------------------ */

struct later {
	struct fdmsg_chan *chan;
	int delay_ms;
	int result;
	unsigned count;
};

static void *
send_later(void *arg)
{
	struct later *l = arg;

	sleep_ms(l->delay_ms);
	l->result = send_seq(l->chan, 42, 12, NULL, 0, 0);
	return NULL;
}

TEST_ALL_TYPES(chan, recv_wait_timeout_then_frame_from_thread)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;
	struct later l;
	pthread_t t;

	chan_pair(type, NULL, NULL, &a, &b);
	cr_assert_eq(fdmsg_recv_wait(b, &m, 0), -ETIMEDOUT);
	cr_assert_eq(fdmsg_recv_wait(b, &m, 30), -ETIMEDOUT);
	cr_assert_eq(fdmsg_recv_wait(b, &m, -2), -EINVAL);
	l.chan = a;
	l.delay_ms = 50;
	l.result = 1;
	cr_assert_eq(pthread_create(&t, NULL, send_later, &l), 0);
	cr_assert_eq(fdmsg_recv_wait(b, &m, -1), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(l.result, 0);
	check_seq(&m, 42, 12);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

static void *
recv_blocked(void *arg)
{
	struct later *l = arg;
	struct fdmsg_msg m;

	l->result = fdmsg_recv_wait(l->chan, &m, -1);
	return NULL;
}

TEST_CONN_TYPES(chan, shutdown_from_thread_wakes_recv_wait)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;
	struct later l;
	pthread_t t;

	chan_pair(type, NULL, NULL, &a, &b);
	l.chan = b;
	l.result = 1;
	cr_assert_eq(pthread_create(&t, NULL, recv_blocked, &l), 0);
	sleep_ms(50); /* most likely blocked in poll by now; either way the
			 result must be the same */
	cr_assert_eq(fdmsg_shutdown(b), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(l.result, -ESHUTDOWN);
	cr_assert_eq(fdmsg_recv(b, &m), -ESHUTDOWN);
	cr_assert_eq(send_seq(b, 1, 1, NULL, 0, 0), -ESHUTDOWN);
	cr_assert_eq(fdmsg_flush_wait(b, 100), -ESHUTDOWN);
	/* The peer sees the end. */
	cr_assert_eq(fdmsg_recv_wait(a, &m, WAIT_MS), -EPIPE);
	cr_assert_eq(fdmsg_recv(a, &m), -EPIPE);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/* The shutdown that wakes recv_wait with half a frame buffered is
 * -ESHUTDOWN, not the end of the stream cutting a frame short. */
TEST(chan_stream, shutdown_wakes_recv_wait_mid_frame)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;
	struct later l;
	pthread_t t;
	uint8_t hdr[FDMSG_HDR_SIZE];
	struct fdmsg_hdr h = { FDMSG_WIRE_VERSION, 0, 0, 100, 1, 7 };

	chan_pair(SOCK_STREAM, NULL, NULL, &a, &b);
	cr_assert_eq(fdmsg_hdr_encode(&h, hdr), FDMSG_HDR_SIZE);
	cr_assert_eq(send(fdmsg_chan_fd(a), hdr, sizeof(hdr), MSG_NOSIGNAL),
		     (ssize_t)sizeof(hdr));
	l.chan = b;
	l.result = 1;
	cr_assert_eq(pthread_create(&t, NULL, recv_blocked, &l), 0);
	sleep_ms(50);
	cr_assert_eq(fdmsg_shutdown(b), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(l.result, -ESHUTDOWN, "got %d", l.result);
	cr_assert_eq(fdmsg_recv(b, &m), -ESHUTDOWN);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/* On a socket the application made non-blocking, recv_wait without a
 * deadline still waits (EAGAIN, then poll). */
TEST_ALL_TYPES(chan, recv_wait_forever_on_nonblocking_socket)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;
	struct later l;
	pthread_t t;
	int fd, fl;

	chan_pair(type, NULL, NULL, &a, &b);
	fd = fdmsg_chan_fd(b);
	fl = fcntl(fd, F_GETFL);
	cr_assert_geq(fl, 0);
	cr_assert_eq(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
	l.chan = a;
	l.delay_ms = 50;
	l.result = 1;
	cr_assert_eq(pthread_create(&t, NULL, send_later, &l), 0);
	cr_assert_eq(fdmsg_recv_wait(b, &m, -1), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(l.result, 0);
	check_seq(&m, 42, 12);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

static void *
recv_count(void *arg)
{
	struct later *l = arg;
	struct fdmsg_msg m;
	unsigned i;

	l->result = 0;
	for (i = 0; i < l->count; i++) {
		int r = fdmsg_recv_wait(l->chan, &m, WAIT_MS);

		if (r < 0 || m.type != i) {
			l->result = r < 0 ? r : -EBADMSG;
			break;
		}
	}
	return NULL;
}

TEST_ALL_TYPES(chan, flush_wait_times_out_then_drains)
{
	struct fdmsg_chan *a, *b;
	struct later l;
	pthread_t t;
	unsigned n, i;

	chan_pair(type, NULL, NULL, &a, &b);
	set_small_sndbuf(a);
	n = fill_socket(a, 64, NULL, 1000);
	for (i = n; i < n + 30; i++)
		cr_assert_eq(send_seq(a, i, 64, NULL, 0, 0), 0);
	cr_assert_eq(fdmsg_flush_wait(a, 20), -ETIMEDOUT);
	cr_assert_eq(fdmsg_flush_wait(a, -7), -EINVAL);
	l.chan = b;
	l.count = n + 30;
	l.result = 1;
	cr_assert_eq(pthread_create(&t, NULL, recv_count, &l), 0);
	cr_assert_eq(fdmsg_flush_wait(a, WAIT_MS), 0);
	cr_assert_eq(fdmsg_want_write(a), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(l.result, 0, "receiver: %d", l.result);
	cr_assert_eq(fdmsg_flush_wait(a, 0), 0);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/* ------------------------------------------------------------------ */
/* Construction                                                        */
/* ------------------------------------------------------------------ */

static int
try_opts(const struct fdmsg_opts *o)
{
	struct fdmsg_chan *c = NULL;
	int sv[2], r;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv),
		     0);
	r = fdmsg_chan_new(&c, sv[0], o, 0);
	if (r == 0)
		fdmsg_chan_free(c);
	else
		cr_assert_null(c, "out written on failure");
	close(sv[0]);
	close(sv[1]);
	return r;
}

TEST(chan_new, option_limits_at_and_one_over)
{
	struct fdmsg_opts o;

	cr_assert_eq(try_opts(NULL), 0);
#define AT(field, v, want)                                              \
	do {                                                            \
		fdmsg_opts_init(&o);                                    \
		o.field = (v);                                          \
		cr_assert_eq(try_opts(&o), (want), #field " = %s",     \
			     #v);                                       \
	} while (0)
	AT(max_frame, 16, 0);
	AT(max_frame, 15, -EINVAL);
	AT(max_frame, 0, -EINVAL);
	fdmsg_opts_init(&o);
	o.max_frame = FDMSG_MAX_FRAME_CAP;
	o.max_queue = FDMSG_MAX_FRAME_CAP;
	cr_assert_eq(try_opts(&o), 0);
	o.max_frame = FDMSG_MAX_FRAME_CAP + 1;
	o.max_queue = FDMSG_MAX_QUEUE_CAP;
	cr_assert_eq(try_opts(&o), -EINVAL);

	AT(max_batch, 0, 0);
	AT(max_batch, FDMSG_MAX_FRAME_DEFAULT, 0);
	AT(max_batch, FDMSG_MAX_FRAME_DEFAULT - 1, -EINVAL);
	AT(max_batch, 1, -EINVAL);
	AT(max_batch, FDMSG_MAX_FRAME_CAP, 0);
	AT(max_batch, FDMSG_MAX_FRAME_CAP + 1, -EINVAL);

	AT(max_fds, FDMSG_MAX_FDS_CAP, 0);
	AT(max_fds, FDMSG_MAX_FDS_CAP + 1, -EINVAL);
	AT(max_fds, UINT_MAX, -EINVAL);

	AT(max_queue, FDMSG_MAX_FRAME_DEFAULT, 0);
	AT(max_queue, FDMSG_MAX_FRAME_DEFAULT - 1, -EINVAL);
	AT(max_queue, 0, -EINVAL);
	AT(max_queue, FDMSG_MAX_QUEUE_CAP, 0);
	AT(max_queue, (size_t)FDMSG_MAX_QUEUE_CAP + 1, -EINVAL);
	AT(max_queue, SIZE_MAX, -EINVAL);

	AT(max_queue_fds, 0, 0);
	AT(max_queue_fds, FDMSG_MAX_QUEUE_FDS_CAP, 0);
	AT(max_queue_fds, FDMSG_MAX_QUEUE_FDS_CAP + 1, -EINVAL);
	AT(max_queue_fds, UINT_MAX, -EINVAL);

	AT(flags, FDMSG_OPT_CREDS, 0);
	AT(flags, FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD, 0);
	AT(flags, 0x4, -EINVAL);
	AT(flags, ~0u, -EINVAL);
#undef AT
}

TEST(chan_new, argument_errors)
{
	struct fdmsg_chan *c = NULL;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(fdmsg_chan_new(NULL, sv[0], NULL, 0), -EINVAL);
	cr_assert_eq(fdmsg_chan_new(&c, sv[0], NULL, 0x8), -EINVAL);
	cr_assert_eq(fdmsg_chan_new(&c, -1, NULL, 0), -EBADF);
	cr_assert_null(c);
	cr_assert(fd_is_open(sv[0]));
	/* Owned: closed even on failure. */
	cr_assert_eq(fdmsg_chan_new(&c, sv[0], NULL, FDMSG_CHAN_OWN_FD | 0x8),
		     -EINVAL);
	cr_assert(!fd_is_open(sv[0]));
	close(sv[1]);
	cr_assert_eq(fdmsg_chan_fd(NULL), -EINVAL);
	cr_assert_eq(fdmsg_want_write(NULL), 0);
	cr_assert_eq(fdmsg_flush(NULL), -EINVAL);
	cr_assert_eq(fdmsg_recv(NULL, NULL), -EINVAL);
	cr_assert_eq(fdmsg_shutdown(NULL), -EINVAL);
	fdmsg_chan_free(NULL);
}

TEST(chan_new, not_a_socket_enotsock)
{
	struct fdmsg_chan *c = NULL;
	int p[2];

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(fdmsg_chan_new(&c, p[0], NULL, 0), -ENOTSOCK);
	cr_assert(fd_is_open(p[0]));
	cr_assert_eq(fdmsg_chan_new(&c, p[0], NULL, FDMSG_CHAN_OWN_FD),
		     -ENOTSOCK);
	cr_assert(!fd_is_open(p[0]));
	cr_assert_null(c);
	close(p[1]);
}

TEST(chan_new, inet_socket_eafnosupport)
{
	struct fdmsg_chan *c = NULL;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fdmsg_chan_new(&c, fd, NULL, 0), -EAFNOSUPPORT);
	cr_assert_null(c);
	close(fd);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fdmsg_chan_new(&c, fd, NULL, FDMSG_CHAN_OWN_FD),
		     -EAFNOSUPPORT);
	cr_assert(!fd_is_open(fd));
}

TEST_ALL_TYPES(chan, own_fd_closes_socket_at_free_lent_stays_open)
{
	struct fdmsg_chan *c;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(fdmsg_chan_new(&c, sv[0], NULL, 0), 0);
	cr_assert_eq(fdmsg_chan_fd(c), sv[0]);
	fdmsg_chan_free(c);
	cr_assert(fd_is_open(sv[0]), "a lent socket was closed");
	cr_assert_eq(fdmsg_chan_new(&c, sv[0], NULL, FDMSG_CHAN_OWN_FD), 0);
	fdmsg_chan_free(c);
	cr_assert(!fd_is_open(sv[0]), "an owned socket stayed open");
	close(sv[1]);
}

/* ------------------------------------------------------------------ */
/* Credentials and pidfds                                              */
/* ------------------------------------------------------------------ */

TEST_ALL_TYPES(chan, creds_per_frame)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	struct fdmsg_msg m;
	int i;

	fdmsg_opts_init(&o);
	o.flags = FDMSG_OPT_CREDS;
	chan_pair(type, NULL, &o, &a, &b);
	for (i = 0; i < 3; i++)
		cr_assert_eq(send_seq(a, (unsigned)i, 5, NULL, 0, 0), 0);
	for (i = 0; i < 3; i++) {
		recv_ok(b, &m);
		check_seq(&m, (unsigned)i, 5);
		cr_assert_eq(m.has_cred, 1);
		cr_assert_eq(m.cred.pid, getpid());
		cr_assert_eq(m.cred.uid, getuid());
		cr_assert_eq(m.cred.gid, getgid());
		cr_assert_eq(m.cred.pidfd, -1);
	}
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST_ALL_TYPES(chan, pidfd_refers_to_sender_and_can_be_taken)
{
	struct fdmsg_chan *a, *b = NULL;
	struct fdmsg_opts o;
	struct fdmsg_msg m;
	int sv[2], r, pfd, base;

	fdmsg_opts_init(&o);
	o.flags = FDMSG_OPT_PIDFD | FDMSG_OPT_CREDS;
	cr_assert_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
	r = fdmsg_chan_new(&b, sv[1], &o, FDMSG_CHAN_OWN_FD);
	if (r == -EOPNOTSUPP) {
		close(sv[0]);
		cr_skip_test("no SO_PASSPIDFD on this kernel");
	}
	cr_assert_eq(r, 0);
	cr_assert_eq(fdmsg_chan_new(&a, sv[0], NULL, FDMSG_CHAN_OWN_FD), 0);
	cr_assert_eq(send_seq(a, 0, 3, NULL, 0, 0), 0);
	cr_assert_eq(send_seq(a, 1, 3, NULL, 0, 0), 0);

	base = fd_count();
	recv_ok(b, &m);
	check_seq(&m, 0, 3);
	cr_assert_eq(m.has_cred, 1);
	cr_assert_eq(m.cred.pid, getpid());
	cr_assert_geq(m.cred.pidfd, 0);
	cr_assert(fcntl(m.cred.pidfd, F_GETFD) & FD_CLOEXEC);
	cr_assert_eq(pidfd_pid(m.cred.pidfd), (long)getpid());
	pfd = fdmsg_msg_take_pidfd(&m);
	cr_assert_geq(pfd, 0);
	cr_assert_eq(m.cred.pidfd, -1);
	cr_assert_eq(fdmsg_msg_take_pidfd(&m), -EBADF);

	/* The next frame's pidfd is closed by release if not taken. */
	recv_ok(b, &m);
	check_seq(&m, 1, 3);
	cr_assert(fd_is_open(pfd));
	cr_assert_eq(pidfd_pid(pfd), (long)getpid());
	if (m.cred.pidfd >= 0)
		cr_assert_eq(pidfd_pid(m.cred.pidfd), (long)getpid());
	fdmsg_msg_release(&m);
	cr_assert_eq(m.cred.pidfd, -1);
	cr_assert_eq(fd_count(), base + 1);
	close(pfd);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/*
 * A queued frame whose descriptors the receiving kernel refuses
 * (SO_PASSRIGHTS off: the receiver's max_fds is 0) is dropped while a
 * later fdmsg_send flushes the queue; that later send succeeds, and the
 * refusal is reported by the next fdmsg_flush, not lost.
 */
TEST(chan_seqpacket, refused_queued_frame_reported_by_next_flush)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;
	unsigned n, i, got = 0;
	int file, r;

	chan_pair(SOCK_SEQPACKET, NULL, NULL, &a, &b);
	set_small_sndbuf(a);
	n = fill_socket(a, 512, NULL, 100000);
	file = new_file();
	/* Queued behind the full socket: the library holds a duplicate. */
	cr_assert_eq(send_seq(a, n, 0, &file, 1, FDMSG_CLOSE_FDS), 0);
	cr_assert_eq(fdmsg_want_write(a), 1);

	/* Drain what went out; the queued fd-less frames may follow. */
	while ((r = fdmsg_recv(b, &m)) == 0) {
		check_seq(&m, got, 512);
		got++;
	}
	cr_assert_eq(r, -EAGAIN);

	/* This send flushes the queue: the kernel refuses the descriptor
	 * frame (EPERM); the new frame itself is fine. */
	for (i = 0; i < 1000 && fdmsg_want_write(a); i++) {
		r = send_seq(a, n + 1 + i, 0, NULL, 0, 0);
		cr_assert_eq(r, 0, "send: %d (%s)", r, fdmsg_strerror(r));
		while ((r = fdmsg_recv(b, &m)) == 0)
			got++;
		cr_assert_eq(r, -EAGAIN);
	}
	r = fdmsg_flush(a);
	cr_assert_eq(r, -EPERM, "flush after a refused frame: %d (%s)", r,
		     fdmsg_strerror(r));
	/* Reported once; the queue behind it waited for the report and
	 * now goes on. */
	while ((r = fdmsg_flush(a)) == -EAGAIN)
		while (fdmsg_recv(b, &m) == 0)
			got++;
	cr_assert_eq(r, 0, "flush after the report: %d (%s)", r,
		     fdmsg_strerror(r));
	while (fdmsg_recv(b, &m) == 0)
		got++;
	cr_assert_eq(got, n + i, "every frame but the refused one arrived");
	cr_assert_eq(send_seq(a, 999999, 4, NULL, 0, 0), 0);
	recv_ok(b, &m);
	check_seq(&m, 999999, 4);

	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/*
 * A peer that never reads must not make the sender hold unbounded
 * duplicates: small frames with many descriptors hit max_queue_fds long
 * before max_queue bytes, with -ENOBUFS, nothing queued for the refused
 * frame, and the channel still usable once the peer reads.
 */
static void
queue_fds_cap(int type)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts oa, ob;
	struct fdmsg_msg m;
	int files[8], r, base;
	unsigned i, queued_frames = 0, got = 0;

	fdmsg_opts_init(&oa);
	oa.max_queue_fds = 20;
	opts_fds(&ob, 8);
	chan_pair(type, &oa, &ob, &a, &b);
	set_small_sndbuf(a);
	for (i = 0; i < 8; i++)
		files[i] = new_file();
	/* Fill the socket with fd-less frames so the next ones queue. */
	(void)fill_socket(a, 512, NULL, 100000);
	base = fd_count();
	for (i = 0; i < 10; i++) {
		r = send_bytes(a, 77, "x", 1, files, 8, 0);
		if (r == -ENOBUFS)
			break;
		cr_assert_eq(r, 0, "send %u: %d (%s)", i, r, fdmsg_strerror(r));
		queued_frames++;
	}
	/* 20 duplicates fit: two frames of 8; the third is refused. */
	cr_assert_eq(queued_frames, 2, "frames queued before ENOBUFS: %u",
		     queued_frames);
	cr_assert_eq(fd_count(), base + 16, "the queue holds its duplicates");
	/* A frame without descriptors still queues. */
	cr_assert_eq(send_bytes(a, 78, "y", 1, NULL, 0, 0), 0);

	/* The peer reads: everything queued arrives, and the cap frees. */
	for (i = 0; i < 1000000 && (fdmsg_want_write(a) || got == 0); i++) {
		r = fdmsg_flush(a);
		cr_assert(r == 0 || r == -EAGAIN, "flush: %d", r);
		while ((r = fdmsg_recv(b, &m)) == 0) {
			if (m.type == 77) {
				cr_assert_eq(m.nfds, 8);
				assert_same_file(m.fds[7], files[7]);
				got++;
			}
		}
		cr_assert_eq(r, -EAGAIN);
	}
	cr_assert_eq(got, 2);
	cr_assert_eq(fdmsg_want_write(a), 0);
	cr_assert_eq(send_bytes(a, 77, "x", 1, files, 8, 0), 0);

	for (i = 0; i < 8; i++)
		close(files[i]);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST(chan_seqpacket, queue_fds_cap_is_enobufs)
{
	queue_fds_cap(SOCK_SEQPACKET);
}

TEST(chan_stream, queue_fds_cap_is_enobufs)
{
	queue_fds_cap(SOCK_STREAM);
}

/* ------------------------------------------------------------------ */
/* Issue 10: the queue under FDMSG_MORE, empty iovecs, refusals, and   */
/* options of later versions                                           */
/* ------------------------------------------------------------------ */

/* Receives every whole frame b has now, checking the sequence from
 * *next; each must carry want_fds descriptors (closed after checking). */
static void
take_seq(struct fdmsg_chan *b, unsigned *next, size_t plen,
	 unsigned want_fds)
{
	struct fdmsg_msg m;
	int r;

	while ((r = fdmsg_recv(b, &m)) == 0) {
		check_seq(&m, *next, plen);
		cr_assert_eq(m.nfds, want_fds, "frame %u: %u fds", *next,
			     m.nfds);
		for (unsigned i = 0; i < m.nfds; i++)
			cr_assert(fd_is_open(m.fds[i]));
		(*next)++;
	}
	cr_assert_eq(r, -EAGAIN, "recv: %d (%s)", r, fdmsg_strerror(r));
}

/*
 * FDMSG_MORE with a peer that reads: frames corked by a batch that can
 * never fill must still be written rather than fail with -ENOBUFS on an
 * idle socket.  The receiver reads every 8 frames, so the socket never
 * stays full.
 */
static void
more_always_fits(int type, const struct fdmsg_opts *oa,
		 const struct fdmsg_opts *ob, unsigned frames,
		 size_t plen, int with_fd, const char *what)
{
	struct fdmsg_chan *a, *b;
	unsigned i, next = 0;
	int fd, r;

	chan_pair(type, oa, ob, &a, &b);
	for (i = 0; i < frames; i++) {
		fd = with_fd ? new_file() : -1;
		r = send_seq(a, i, plen, with_fd ? &fd : NULL, with_fd ? 1 : 0,
			     FDMSG_MORE | FDMSG_CLOSE_FDS);
		cr_assert_eq(r, 0, "%s: FDMSG_MORE frame %u: %d (%s)", what, i,
			     r, fdmsg_strerror(r));
		if (i % 8 == 7)
			take_seq(b, &next, plen, with_fd ? 1 : 0);
	}
	while ((r = fdmsg_flush(a)) == -EAGAIN)
		take_seq(b, &next, plen, with_fd ? 1 : 0);
	cr_assert_eq(r, 0, "%s: flush: %d", what, r);
	take_seq(b, &next, plen, with_fd ? 1 : 0);
	cr_assert_eq(next, frames, "%s: %u of %u frames arrived", what, next,
		     frames);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST(chan_more, descriptors_on_a_stream_never_fill_a_batch)
{
	struct fdmsg_opts oa, ob;

	opts_fds(&oa, 1);
	oa.max_queue_fds = 4;
	opts_fds(&ob, 1);
	more_always_fits(SOCK_STREAM, &oa, &ob, 64, 100, 1, "stream");
}

TEST(chan_more, sender_max_fds_0_never_fills_a_batch)
{
	struct fdmsg_opts oa, ob;

	fdmsg_opts_init(&oa);
	oa.max_queue_fds = 4;
	opts_fds(&ob, 1);
	more_always_fits(SOCK_SEQPACKET, &oa, &ob, 64, 100, 1, "seqpacket");
}

TEST(chan_more, max_batch_beyond_max_queue)
{
	struct fdmsg_opts o;

	fdmsg_opts_init(&o);
	o.max_frame = 4096;
	o.max_batch = 1024 * 1024;
	o.max_queue = 65536;
	more_always_fits(SOCK_SEQPACKET, &o, &o, 2000, 100, 0, "max_batch");
	more_always_fits(SOCK_STREAM, &o, &o, 2000, 100, 0, "max_batch");
}

/*
 * An iovec {NULL, 0} is legal anywhere in a frame; copied into the queue
 * it must never reach memcpy (UBSan: null pointer argument).
 */
TEST_CONN_TYPES(chan, queued_frame_with_null_empty_iovecs)
{
	static const char abc[] = "abc";
	struct iovec iov[3] = {
		{ NULL, 0 },
		{ (void *)(uintptr_t)abc, 3 },
		{ NULL, 0 },
	};
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;
	unsigned n, next = 0;
	int r;

	chan_pair(type, NULL, NULL, &a, &b);
	/* Corked on an empty queue, then queued behind a full socket. */
	cr_assert_eq(fdmsg_send(a, 70000, 1, iov, 3, NULL, 0, FDMSG_MORE), 0);
	cr_assert_eq(fdmsg_flush(a), 0);
	recv_ok(b, &m);
	cr_assert_eq(m.len, 3);
	cr_assert_eq(memcmp(m.payload, abc, 3), 0);
	set_small_sndbuf(a);
	n = fill_socket(a, 512, NULL, 100000);
	cr_assert_eq(fdmsg_send(a, 70001, 1, iov, 3, NULL, 0, 0), 0);
	while (next < n) {
		r = fdmsg_flush(a);
		cr_assert(r == 0 || r == -EAGAIN);
		recv_ok(b, &m);
		check_seq(&m, next++, 512);
	}
	cr_assert_eq(fdmsg_flush_wait(a, WAIT_MS), 0);
	recv_ok(b, &m);
	cr_assert_eq(m.type, 70001);
	cr_assert_eq(m.len, 3);
	cr_assert_eq(memcmp(m.payload, abc, 3), 0);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/*
 * Two queued frames the receiving kernel refuses (SO_PASSRIGHTS off),
 * both dropped while later fdmsg_send calls flush the queue: each
 * refusal gets its own report from fdmsg_flush, none is lost, and every
 * other frame arrives.
 */
TEST(chan_seqpacket, two_refused_queued_frames_two_reports)
{
	struct fdmsg_chan *a, *b;
	unsigned n, i, next = 0, reports = 0;
	int file, r;

	chan_pair(SOCK_SEQPACKET, NULL, NULL, &a, &b);
	set_small_sndbuf(a);
	n = fill_socket(a, 512, NULL, 100000);
	file = new_file();
	cr_assert_eq(send_seq(a, n, 512, &file, 1, 0), 0);
	cr_assert_eq(send_seq(a, n + 1, 512, NULL, 0, 0), 0);
	cr_assert_eq(send_seq(a, n + 2, 512, &file, 1, FDMSG_CLOSE_FDS), 0);
	/* Frames n and n + 2 never arrive: the sequence skips them. */
	for (i = 0; i < 200; i++) {
		while ((r = fdmsg_recv(b, &(struct fdmsg_msg){ 0 })) == 0)
			next++;
		cr_assert_eq(r, -EAGAIN);
		cr_assert_eq(send_seq(a, n + 3 + i, 512, NULL, 0, 0), 0);
	}
	for (i = 0; i < 100000; i++) {
		r = fdmsg_flush(a);
		if (r == -EPERM) {
			reports++;
			continue;
		}
		cr_assert(r == 0 || r == -EAGAIN, "flush: %d (%s)", r,
			  fdmsg_strerror(r));
		while (fdmsg_recv(b, &(struct fdmsg_msg){ 0 }) == 0)
			next++;
		if (r == 0)
			break;
	}
	cr_assert_eq(reports, 2, "refused frames reported: %u, want 2",
		     reports);
	cr_assert_eq(next, n + 1 + 200, "frames that arrived: %u", next);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/* A socket on descriptor 0 (a daemon that closed its stdin) is a socket
 * like any other: owned, it is closed when fdmsg_chan_new fails too. */
TEST(chan_new, owned_socket_on_descriptor_0_closed_on_failure)
{
	struct fdmsg_chan *c = NULL;
	struct fdmsg_opts o;
	int saved, sv[2];

	saved = dup(0);
	cr_assert_geq(saved, 0);
	close(0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv),
		     0);
	cr_assert_eq(sv[0], 0, "the socket took descriptor 0");
	fdmsg_opts_init(&o);
	o.max_frame = 15;
	cr_assert_eq(fdmsg_chan_new(&c, 0, &o, FDMSG_CHAN_OWN_FD), -EINVAL);
	cr_assert_eq(fcntl(0, F_GETFD), -1, "descriptor 0 left open");
	close(sv[1]);
	cr_assert_eq(dup2(saved, 0), 0);
	close(saved);
}

/* Options a later version adds live in reserved: set, they are refused
 * by this version rather than silently ignored. */
TEST(chan_new, reserved_option_fields_must_be_zero)
{
	struct fdmsg_opts o;

	cr_assert_eq(sizeof(o.reserved), 8 * sizeof(uint32_t));
	for (size_t i = 0; i < 8; i++) {
		fdmsg_opts_init(&o);
		cr_assert_eq(o.reserved[i], 0, "fdmsg_opts_init zeroes it");
		o.reserved[i] = 1u << (i * 3);
		cr_assert_eq(try_opts(&o), -EINVAL, "reserved[%zu] set", i);
	}
}

/*
 * max_queue_fds to the descriptor: a queue of 4 takes four frames of one
 * descriptor each, exactly, and refuses the fifth with -ENOBUFS (the
 * typical gap mutation testing found: a bound moved by one).
 */
TEST_ALL_TYPES(chan, queue_fds_cap_to_the_descriptor)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts oa, ob;
	int file;
	unsigned i;

	fdmsg_opts_init(&oa);
	oa.max_queue_fds = 4;
	opts_fds(&ob, 1);
	chan_pair(type, &oa, &ob, &a, &b);
	set_small_sndbuf(a);
	(void)fill_socket(a, 512, NULL, 100000);
	file = new_file();
	for (i = 0; i < 4; i++)
		cr_assert_eq(send_bytes(a, 77, "x", 1, &file, 1, 0), 0,
			     "queued descriptor %u of 4", i + 1);
	cr_assert_eq(send_bytes(a, 77, "x", 1, &file, 1, 0), -ENOBUFS);
	close(file);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/* Every NULL a receive-side call can be given is -EINVAL (or nothing),
 * whichever argument it is. */
TEST(chan_new, receive_calls_refuse_each_null)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_msg m;

	chan_pair(SOCK_SEQPACKET, NULL, NULL, &a, &b);
	cr_assert_eq(fdmsg_recv(a, NULL), -EINVAL);
	cr_assert_eq(fdmsg_recv(NULL, &m), -EINVAL);
	cr_assert_eq(fdmsg_msg_take_pidfd(NULL), -EINVAL);
	memset(&m, 0, sizeof(m));
	cr_assert_eq(fdmsg_msg_take_fd(&m, 0), -EBADF, "no slots");
	cr_assert_eq(fdmsg_msg_take_pidfd(&m), -EBADF, "no slot");
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

/* ------------------------------------------------------------------ */
/* Stream descriptor batching across processes                         */
/* ------------------------------------------------------------------ */

#define SLOW_FRAMES 900u
#define SLOW_MAX_FDS 4u

/* Frame i carries i % 3 descriptors, file j of it holding i * 8 + j. */
static unsigned
slow_nfds(unsigned i)
{
	return i % 3u;
}

/* The child: a queueing sender into a tiny socket buffer, giving its
 * descriptors away, batching up to 4 KiB per write; it says on go once
 * its queue holds frames.  Exit status 0 when every frame went. */
static int
slow_sender(int sock, int go)
{
	struct fdmsg_chan *c;
	struct fdmsg_opts o;
	uint32_t tag;
	int fds[3], r;
	unsigned i, j;
	uint8_t pay[100];

	opts_fds(&o, SLOW_MAX_FDS);
	o.max_frame = 128;
	o.max_batch = 4096;
	if (fdmsg_chan_new(&c, sock, &o, FDMSG_CHAN_OWN_FD) < 0)
		return 10;
	(void)setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &(int){ 1 },
			 sizeof(int));
	for (i = 0; i < SLOW_FRAMES; i++) {
		for (j = 0; j < slow_nfds(i); j++) {
			tag = i * 8u + j;
			fds[j] = memfd_create("slow", MFD_CLOEXEC);
			if (fds[j] < 0 ||
			    pwrite(fds[j], &tag, sizeof(tag), 0) != 4)
				return 11;
		}
		fill(pay, i % sizeof(pay), i);
		r = send_bytes(c, i, pay, i % sizeof(pay), fds, slow_nfds(i),
			       FDMSG_CLOSE_FDS);
		if (r == -ENOBUFS) {
			/* The queue is full: wait for the reader. */
			if (fdmsg_flush_wait(c, WAIT_MS) < 0)
				return 12;
			i--;
			continue;
		}
		if (r < 0)
			return 13;
		if (go >= 0 && fdmsg_want_write(c)) {
			if (write(go, "q", 1) != 1)
				return 15;
			close(go);
			go = -1;
		}
	}
	r = fdmsg_flush_wait(c, WAIT_MS);
	fdmsg_chan_free(c);
	return r < 0 ? 14 : 0;
}

/*
 * THREATS 52: a sender in another process batches descriptor-carrying
 * frames into one write each (up to max_fds descriptors) through a
 * socket buffer of a few hundred bytes, so writes come short and the
 * reader, whose buffer holds one 128-byte frame, reads each write in
 * pieces: descriptors come ahead of their frames.  Every frame arrives
 * with exactly its own descriptors, in order; after every -EAGAIN the
 * reader holds at most 2 x max_fds (its partial frame's and max_fds
 * ahead); nothing leaks on either side.
 */
TEST(chan_stream, batched_fds_to_a_slow_reader_in_another_process)
{
	struct fdmsg_chan *b;
	struct fdmsg_opts o;
	struct fdmsg_msg m;
	struct pollfd p;
	unsigned i = 0, j, nfds, most = 0, held = 0;
	uint32_t tag;
	size_t bytes;
	pid_t pid;
	int sv[2], go[2], r, st;
	char ch;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
		     0);
	cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(sv[1]);
		close(go[0]);
		_exit(slow_sender(sv[0], go[1]));
	}
	close(sv[0]);
	close(go[1]);
	/* Read only once frames wait in the sender's queue. */
	cr_assert_eq(read(go[0], &ch, 1), 1, "the sender never queued");
	close(go[0]);
	opts_fds(&o, SLOW_MAX_FDS);
	o.max_frame = 128;
	cr_assert_eq(fdmsg_chan_new(&b, sv[1], &o, FDMSG_CHAN_OWN_FD), 0);
	(void)setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &(int){ 1 },
			 sizeof(int));
	while (i < SLOW_FRAMES) {
		r = fdmsg_recv(b, &m);
		if (r == -EAGAIN) {
			cr_assert_geq(fdmsg_recv_pending(b, &bytes, &nfds), 0);
			cr_assert_leq(nfds, 2 * SLOW_MAX_FDS,
				      "%u descriptors held before frame %u",
				      nfds, i);
			most = nfds > most ? nfds : most;
			p.fd = sv[1];
			p.events = POLLIN;
			cr_assert_eq(poll(&p, 1, WAIT_MS), 1,
				     "sender stalled before frame %u", i);
			continue;
		}
		cr_assert_eq(r, 0, "frame %u: %d (%s)", i, r,
			     fdmsg_strerror(r));
		check_seq(&m, i, i % 100u);
		cr_assert_eq(m.nfds, slow_nfds(i), "frame %u: %u fds", i,
			     m.nfds);
		for (j = 0; j < m.nfds; j++) {
			cr_assert_eq(pread(m.fds[j], &tag, 4, 0), 4);
			cr_assert_eq(tag, i * 8u + j,
				     "frame %u fd %u holds %u's", i, j, tag);
		}
		fdmsg_msg_release(&m);
		cr_assert_geq(fdmsg_recv_pending(b, &bytes, &nfds), 0);
		cr_assert_leq(nfds, 3 * SLOW_MAX_FDS);
		held += nfds > 0;
		i++;
	}
	/* Frames handed out while later frames' descriptors waited: the
	 * batched writes were read in pieces. */
	cr_assert_gt(held, 0u);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "sender exit status %d", WEXITSTATUS(st));
	cr_assert_eq(fdmsg_recv_wait(b, &m, WAIT_MS), -EPIPE);
	cr_log_info("most held after -EAGAIN: %u; frames leaving some: %u",
		    most, held);
	fdmsg_chan_free(b);
}

/* ------------------------------------------------------------------ */
/* The send queue's ring (src/queue.c)                                 */
/* ------------------------------------------------------------------ */

/* Queues frame i: type i, plen bytes seeded by i. */
static void
ring_put(struct fdmsg_queue *q, unsigned i, size_t plen)
{
	struct fdmsg_hdr h = { FDMSG_WIRE_VERSION, 0, 0, 0, i, i * 7u };
	uint8_t buf[2048];
	struct iovec iov = { buf, plen };

	cr_assert_leq(plen, sizeof(buf));
	fill(buf, plen, i);
	h.len = (uint32_t)(FDMSG_HDR_SIZE + plen);
	cr_assert_eq(fdmsg_q_append(q, &h, &iov, 1, 0, NULL, 0, 0), 0,
		     "frame %u", i);
}

/*
 * Frames wrap to the ring's start (region B) once the end is full, and
 * at max_queue, with the free bytes split around A, A moves to the end
 * of the buffer; the frames come out whole and in order, and the ring
 * never outgrows max_queue.
 */
TEST(queue, ring_wraps_and_moves_at_max_in_order)
{
	static const size_t len[] = { 984, 984, 984, 984, 984, 984, 1034 };
	struct fdmsg_queue q;
	struct fdmsg_qlim lim;
	struct fdmsg_hdr h;
	uint8_t *got, *p, want[2048];
	size_t n = 0, off = 0;
	unsigned i, next = 2;
	ssize_t r;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv),
		     0);
	fdmsg_q_init(&q, 4096, 0);
	for (i = 0; i < 4; i++)
		ring_put(&q, i, len[i]); /* A: 4000 bytes */
	cr_assert_eq(q.bytes.cap, 4096u);
	fdmsg_q_drop_head(&q);
	fdmsg_q_drop_head(&q); /* A from 2000 */
	ring_put(&q, 4, len[4]);
	ring_put(&q, 5, len[5]);
	cr_assert_eq(q.bytes.wend, 2000u, "frames 4 and 5 wrapped to B");
	fdmsg_q_drop_head(&q); /* A from 3000 */
	/* 1050 bytes: 1000 free in B, 96 at the end, 1096 in all. */
	ring_put(&q, 6, len[6]);
	cr_assert_eq(q.bytes.cap, 4096u, "grew past max_queue");
	cr_assert_eq(q.bytes.end, 4096u, "A moved to the end");
	cr_assert_eq(fdmsg_q_bytes(&q), 4096u - 46u);

	lim.fd = sv[0];
	lim.stream = 0;
	lim.bytes = 65536;
	lim.fds = 0;
	cr_assert_eq(fdmsg_q_flush(&q, &lim, 0, 0), 0);
	cr_assert(fdmsg_q_empty(&q));
	got = malloc(8192);
	cr_assert_not_null(got);
	while ((r = recv(sv[1], got + n, 8192 - n, MSG_DONTWAIT)) > 0)
		n += (size_t)r;
	for (i = 3; off < n; i++) {
		p = got + off;
		cr_assert_eq(fdmsg_hdr_decode(p, n - off, 4096, 0, &h),
			     FDMSG_HDR_SIZE);
		cr_assert_eq(h.type, i, "frame %u came as %u", i, h.type);
		cr_assert_eq(h.len, FDMSG_HDR_SIZE + len[i]);
		fill(want, len[i], i);
		cr_assert(memcmp(p + FDMSG_HDR_SIZE, want, len[i]) == 0,
			  "frame %u: payload differs", i);
		off += h.len;
		next = i + 1;
	}
	cr_assert_eq(next, 7u, "frames 3..6 came out");
	cr_assert_eq(off, n);
	free(got);
	fdmsg_q_free(&q);
	close(sv[0]);
	close(sv[1]);
}
