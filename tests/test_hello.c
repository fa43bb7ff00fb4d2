/* SPDX-License-Identifier: ISC */
/*
 * The connection hello between two channels, and between a channel and a
 * raw peer that reads and writes hellos by hand: who greets and who
 * answers, what each side learns, and that a sender never builds a frame,
 * a batch or a descriptor count the receiver said it refuses.  Hostile
 * hellos (truncated, repeated, late, unknown versions, contradictory
 * limits) are in test_hostile.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fdmsg.h"
#include "testutil.h"

#define WAIT_MS 10000

static const char *
tname(int type)
{
	return type == SOCK_STREAM ? "stream" :
	       type == SOCK_DGRAM ? "dgram" : "seqpacket";
}

static void
pair(int type, const struct fdmsg_opts *oa, unsigned fa,
     const struct fdmsg_opts *ob, unsigned fb,
     struct fdmsg_chan **a, struct fdmsg_chan **b)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(fdmsg_chan_new(a, sv[0], oa, FDMSG_CHAN_OWN_FD | fa), 0);
	cr_assert_eq(fdmsg_chan_new(b, sv[1], ob, FDMSG_CHAN_OWN_FD | fb), 0);
}

/* Receives until a frame or an error; -EAGAIN stays -EAGAIN. */
static int
recv_now(struct fdmsg_chan *c, struct fdmsg_msg *m)
{
	return fdmsg_recv(c, m);
}

static int
send_n(struct fdmsg_chan *c, uint32_t type, size_t len,
       const int *fds, size_t nfds, unsigned flags)
{
	static uint8_t buf[1 << 17];
	struct iovec iov = { buf, len };

	cr_assert_leq(len, sizeof(buf));
	memset(buf, (int)(type & 0xff), len);
	return fdmsg_send(c, type, ~type, &iov, 1, fds, nfds, flags);
}

/* Drains whatever b has, checking the sequence from *next. */
static void
take(struct fdmsg_chan *b, unsigned *next, size_t len)
{
	struct fdmsg_msg m;
	int r;

	while ((r = fdmsg_recv(b, &m)) == 0) {
		cr_assert_eq(m.type, *next, "frame %u arrived as %u", *next,
			     m.type);
		cr_assert_eq(m.len, len);
		(*next)++;
	}
	cr_assert_eq(r, -EAGAIN, "receive: %d (%s)", r, fdmsg_strerror(r));
}

/*
 * The case: a sender on defaults, a receiver with max_frame 4096,
 * 20000 frames of 100 bytes with FDMSG_MORE.  Every one arrives, whether
 * or not the two exchanged hellos, on every socket type.
 */
static void
small_receiver(int type, unsigned sender_flags)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts ob;
	unsigned i, next = 0;
	int r;

	fdmsg_opts_init(&ob);
	ob.max_frame = 4096;
	ob.max_queue = 4096;
	pair(type, NULL, sender_flags, &ob, 0, &a, &b);
	for (i = 0; i < 20000; i++) {
		r = send_n(a, i, 100 - FDMSG_HDR_SIZE, NULL, 0, FDMSG_MORE);
		while (r == -ENOBUFS) {
			/* The socket is full: the receiver reads. */
			take(b, &next, 100 - FDMSG_HDR_SIZE);
			r = send_n(a, i, 100 - FDMSG_HDR_SIZE, NULL, 0,
				   FDMSG_MORE);
		}
		cr_assert_eq(r, 0, "%s: frame %u: %d (%s)", tname(type), i, r,
			     fdmsg_strerror(r));
		if (i % 512 == 0) {
			take(b, &next, 100 - FDMSG_HDR_SIZE);
			(void)recv_now(a, &(struct fdmsg_msg){ 0 });
		}
	}
	while ((r = fdmsg_flush(a)) == -EAGAIN)
		take(b, &next, 100 - FDMSG_HDR_SIZE);
	cr_assert_eq(r, 0);
	take(b, &next, 100 - FDMSG_HDR_SIZE);
	cr_assert_eq(next, 20000, "%s: %u of 20000 frames arrived",
		     tname(type), next);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST(hello, small_receiver_gets_every_frame_without_a_hello)
{
	small_receiver(SOCK_SEQPACKET, 0);
	small_receiver(SOCK_STREAM, 0);
	small_receiver(SOCK_DGRAM, 0);
}

TEST(hello, small_receiver_gets_every_frame_with_a_hello)
{
	small_receiver(SOCK_SEQPACKET, FDMSG_CHAN_HELLO);
	small_receiver(SOCK_STREAM, FDMSG_CHAN_HELLO);
	small_receiver(SOCK_DGRAM, FDMSG_CHAN_HELLO);
}

/*
 * Once the receiver's hello arrived, a frame over its max_frame, or with
 * more descriptors than its max_fds, fails at the sender (-EMSGSIZE,
 * -EPERM), sending nothing, and the channel goes on.
 */
static void
peer_limits_at_send(int type)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts ob;
	struct fdmsg_peer_info info;
	struct fdmsg_msg m;
	int fds[3], i;

	fdmsg_opts_init(&ob);
	ob.max_frame = 4096;
	ob.max_fds = 2;
	pair(type, NULL, FDMSG_CHAN_HELLO, &ob, 0, &a, &b);
	cr_assert_eq(fdmsg_peer_info(a, &info), -EAGAIN);
	cr_assert_eq(fdmsg_peer_info(b, &info), -EAGAIN);
	/* b takes a's hello and answers; a takes b's.  (On SOCK_DGRAM a
	 * hello waits in the queue for the next flush.) */
	cr_assert_eq(fdmsg_flush(a), 0);
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	cr_assert_eq(fdmsg_flush(b), 0);
	cr_assert_eq(fdmsg_peer_info(b, &info), 0);
	cr_assert_eq(info.hello.max_frame, FDMSG_MAX_FRAME_DEFAULT);
	cr_assert_eq(info.hello.max_fds, 0);
	cr_assert_eq(info.version, 1);
	cr_assert_eq(fdmsg_recv(a, &m), -EAGAIN);
	cr_assert_eq(fdmsg_peer_info(a, &info), 0);
	cr_assert_eq(info.hello.min_version, 1);
	cr_assert_eq(info.hello.max_version, 1);
	cr_assert_eq(info.hello.max_frame, 4096);
	cr_assert_eq(info.hello.max_fds, 2);
	cr_assert_eq(info.hello.caps & FDMSG_CAP_FDS, FDMSG_CAP_FDS);
	cr_assert_eq(info.hello.max_batch,
		     type == SOCK_STREAM ? 0 : FDMSG_DGRAM_SAFE);

	for (i = 0; i < 3; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert_eq(send_n(a, 1, 4096 - FDMSG_HDR_SIZE + 1, NULL, 0, 0),
		     -EMSGSIZE);
	cr_assert_eq(send_n(a, 2, 0, fds, 3, 0), -EPERM);
	cr_assert_eq(fdmsg_want_write(a), 0, "nothing of either was queued");
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN, "nothing of either arrived");
	cr_assert_eq(send_n(a, 3, 4096 - FDMSG_HDR_SIZE, fds, 2, 0), 0);
	cr_assert_eq(fdmsg_recv_wait(b, &m, WAIT_MS), 0);
	cr_assert_eq(m.type, 3);
	cr_assert_eq(m.len, 4096 - FDMSG_HDR_SIZE);
	cr_assert_eq(m.nfds, 2);
	fdmsg_msg_release(&m);
	for (i = 0; i < 3; i++)
		close(fds[i]);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST(hello, peer_limits_fail_at_send_seqpacket)
{
	peer_limits_at_send(SOCK_SEQPACKET);
}

TEST(hello, peer_limits_fail_at_send_stream)
{
	peer_limits_at_send(SOCK_STREAM);
}

TEST(hello, peer_limits_fail_at_send_dgram)
{
	peer_limits_at_send(SOCK_DGRAM);
}

/* Reads one datagram (or the next n stream bytes) from a raw socket. */
static ssize_t
raw_read(int s, void *buf, size_t n, int *nfds)
{
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int) * FDMSG_MAX_FDS_CAP)];
	} ctl;
	struct iovec iov = { buf, n };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	ssize_t r;
	int fd;

	mh.msg_control = ctl.b;
	mh.msg_controllen = sizeof(ctl.b);
	r = recvmsg(s, &mh, MSG_CMSG_CLOEXEC | MSG_TRUNC | MSG_DONTWAIT);
	*nfds = 0;
	for (c = CMSG_FIRSTHDR(&mh); r >= 0 && c != NULL;
	     c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		     i++) {
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			close(fd);
			(*nfds)++;
		}
	}
	return r;
}

/*
 * A raw receiver says in its hello: frames of at most 4096 bytes,
 * datagrams of at most 4096 bytes, two descriptors a read.  The channel
 * answers it (it has sent nothing yet), then batches 100-byte frames with
 * one descriptor each: no datagram it writes is larger, or carries more.
 */
static void
raw_receiver_limits(int type)
{
	static uint8_t buf[1 << 17];
	struct fdmsg_hello mine = { 1, 1, 4096, 4096, 2, FDMSG_CAP_FDS };
	struct fdmsg_hello theirs;
	struct fdmsg_chan *a;
	struct fdmsg_opts oa;
	uint8_t hello[FDMSG_HELLO_SIZE];
	int sv[2], fd, nfds, r;
	unsigned i, got = 0;
	ssize_t n;

	cr_assert_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
	fdmsg_opts_init(&oa);
	oa.max_batch = 1 << 20;
	oa.max_queue = 1 << 20;
	cr_assert_eq(fdmsg_chan_new(&a, sv[0], &oa, FDMSG_CHAN_OWN_FD), 0);
	cr_assert_eq(fdmsg_hello_encode(&mine, hello), FDMSG_HELLO_SIZE);
	cr_assert_eq(send(sv[1], hello, sizeof(hello), 0), FDMSG_HELLO_SIZE);
	cr_assert_eq(fdmsg_recv(a, &(struct fdmsg_msg){ 0 }), -EAGAIN);
	cr_assert_eq(fdmsg_flush(a), 0); /* SOCK_DGRAM: it waited there */
	/* Its answer, first on the wire. */
	n = raw_read(sv[1], buf, FDMSG_HELLO_SIZE, &nfds);
	cr_assert_eq(n, FDMSG_HELLO_SIZE);
	cr_assert_eq(nfds, 0);
	cr_assert_eq(fdmsg_hello_decode(buf, (size_t)n, &theirs),
		     FDMSG_HELLO_SIZE);
	cr_assert_eq(theirs.max_frame, FDMSG_MAX_FRAME_DEFAULT);
	cr_assert_eq(theirs.max_batch, type == SOCK_STREAM ? 0 : 1u << 20);

	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (i = 0; i < 200; i++)
		cr_assert_eq(send_n(a, i, 84, &fd, 1, FDMSG_MORE), 0);
	cr_assert_eq(fdmsg_flush(a), 0);
	close(fd);
	while ((n = raw_read(sv[1], buf, sizeof(buf), &nfds)) > 0) {
		if (type != SOCK_STREAM) {
			cr_assert_leq(n, 4096, "a datagram of %zd bytes", n);
			cr_assert_leq(nfds, 2, "%d descriptors in one read",
				      nfds);
		}
		got += (unsigned)nfds;
	}
	cr_assert_eq(got, 200, "%u descriptors arrived", got);
	r = fdmsg_peer_info(a, &(struct fdmsg_peer_info){ 0 });
	cr_assert_eq(r, 0);
	fdmsg_chan_free(a);
	close(sv[1]);
}

TEST(hello, batches_cut_at_the_peers_limits)
{
	raw_receiver_limits(SOCK_SEQPACKET);
	raw_receiver_limits(SOCK_DGRAM);
	raw_receiver_limits(SOCK_STREAM);
}

/*
 * A peer that never greets never gets a hello: the raw peer sends an
 * application frame first and reads back exactly one application frame,
 * nothing before it.  A channel that sent first never answers a hello
 * that comes later, and a channel made with FDMSG_CHAN_NO_HELLO never
 * answers at all.
 */
TEST(hello, only_a_greeting_gets_an_answer)
{
	struct fdmsg_chan *a;
	struct fdmsg_msg m;
	struct fdmsg_hello h = { 1, 1, 65536, 0, 0, 0 };
	uint8_t buf[128], hello[FDMSG_HELLO_SIZE];
	int sv[2], nfds;
	ssize_t n;

	cr_assert_eq(fdmsg_hello_encode(&h, hello), FDMSG_HELLO_SIZE);

	/* No greeting: no hello, ever. */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv),
		     0);
	cr_assert_eq(fdmsg_chan_new(&a, sv[0], NULL, FDMSG_CHAN_OWN_FD), 0);
	memset(buf, 0, 16);
	buf[0] = 1;
	buf[4] = 16;
	cr_assert_eq(send(sv[1], buf, 16, 0), 16);
	cr_assert_eq(fdmsg_recv(a, &m), 0);
	cr_assert_eq(fdmsg_peer_info(a, &(struct fdmsg_peer_info){ 0 }),
		     -ENODATA);
	cr_assert_eq(send_n(a, 5, 0, NULL, 0, 0), 0);
	n = raw_read(sv[1], buf, sizeof(buf), &nfds);
	cr_assert_eq(n, 16, "the reply, and only it: %zd bytes", n);
	cr_assert_eq(buf[2] | buf[3], 0, "an application frame");
	cr_assert_lt(raw_read(sv[1], buf, sizeof(buf), &nfds), 0);
	fdmsg_chan_free(a);
	close(sv[1]);

	/* It spoke first: a hello that comes later gets no answer. */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv),
		     0);
	cr_assert_eq(fdmsg_chan_new(&a, sv[0], NULL, FDMSG_CHAN_OWN_FD), 0);
	cr_assert_eq(send_n(a, 5, 0, NULL, 0, 0), 0);
	cr_assert_eq(send(sv[1], hello, sizeof(hello), 0), FDMSG_HELLO_SIZE);
	cr_assert_eq(fdmsg_recv(a, &m), -EAGAIN);
	cr_assert_eq(fdmsg_peer_info(a, &(struct fdmsg_peer_info){ 0 }), 0);
	cr_assert_eq(raw_read(sv[1], buf, sizeof(buf), &nfds), 16);
	cr_assert_lt(raw_read(sv[1], buf, sizeof(buf), &nfds), 0);
	fdmsg_chan_free(a);
	close(sv[1]);

	/* FDMSG_CHAN_NO_HELLO: understood, never answered. */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
		     0);
	cr_assert_eq(fdmsg_chan_new(&a, sv[0], NULL,
				    FDMSG_CHAN_OWN_FD | FDMSG_CHAN_NO_HELLO),
		     0);
	cr_assert_eq(send(sv[1], hello, sizeof(hello), 0), FDMSG_HELLO_SIZE);
	cr_assert_eq(fdmsg_recv(a, &m), -EAGAIN);
	cr_assert_eq(fdmsg_peer_info(a, &(struct fdmsg_peer_info){ 0 }), 0);
	cr_assert_lt(raw_read(sv[1], buf, sizeof(buf), &nfds), 0);
	fdmsg_chan_free(a);
	close(sv[1]);
}

/* Two channels that both greet, or neither: both work.  With pidfds on,
 * a datagram that held only a hello has a pidfd no frame takes: it must
 * be closed (the descriptor guard sees it). */
static void
both_or_neither(int type, unsigned flags)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	struct fdmsg_msg m;
	int r;

	fdmsg_opts_init(&o);
	o.flags = FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD;
	pair(type, &o, flags, &o, flags, &a, &b);
	cr_assert_eq(send_n(a, 1, 10, NULL, 0, 0), 0);
	cr_assert_eq(send_n(b, 2, 20, NULL, 0, 0), 0);
	cr_assert_eq(fdmsg_recv_wait(b, &m, WAIT_MS), 0);
	cr_assert_eq(m.type, 1);
	cr_assert_eq(fdmsg_recv_wait(a, &m, WAIT_MS), 0);
	cr_assert_eq(m.type, 2);
	r = fdmsg_peer_info(a, &(struct fdmsg_peer_info){ 0 });
	cr_assert_eq(r, flags ? 0 : -ENODATA, "%s: peer info %d", tname(type),
		     r);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}

TEST(hello, both_greet_or_neither)
{
	both_or_neither(SOCK_SEQPACKET, FDMSG_CHAN_HELLO);
	both_or_neither(SOCK_STREAM, FDMSG_CHAN_HELLO);
	both_or_neither(SOCK_DGRAM, FDMSG_CHAN_HELLO);
	both_or_neither(SOCK_SEQPACKET, 0);
	both_or_neither(SOCK_STREAM, 0);
	both_or_neither(SOCK_DGRAM, 0);
}

TEST(hello, flag_errors)
{
	struct fdmsg_chan *c = NULL;
	int sv[2], fd;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv),
		     0);
	cr_assert_eq(fdmsg_chan_new(&c, sv[0], NULL,
				    FDMSG_CHAN_HELLO | FDMSG_CHAN_NO_HELLO),
		     -EINVAL);
	cr_assert_null(c);
	close(sv[0]);
	close(sv[1]);
	/* A receive-only channel greets nobody. */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fdmsg_chan_new(&c, fd, NULL, FDMSG_CHAN_HELLO), -EINVAL);
	cr_assert_eq(fdmsg_chan_new(&c, fd, NULL, 0), 0);
	cr_assert_eq(fdmsg_peer_info(c, &(struct fdmsg_peer_info){ 0 }),
		     -ENODATA);
	cr_assert_eq(fdmsg_peer_info(NULL, &(struct fdmsg_peer_info){ 0 }),
		     -EINVAL);
	cr_assert_eq(fdmsg_peer_info(c, NULL), -EINVAL);
	fdmsg_chan_free(c);
	close(fd);
}

/*
 * On a connected SOCK_DGRAM, a send to a peer that has closed makes the
 * kernel purge our own receive queue.  So the answer to a hello waits in
 * the queue rather than be written inside fdmsg_recv: a raw peer that
 * greets, sends a frame and closes, loses nothing.
 */
TEST(hello, dgram_answer_never_costs_queued_datagrams)
{
	struct fdmsg_hello h = { 1, 1, 65536, 0, 0, 0 };
	uint8_t hello[FDMSG_HELLO_SIZE], frame[20];
	struct fdmsg_chan *a;
	struct fdmsg_msg m;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(fdmsg_chan_new(&a, sv[0], NULL, FDMSG_CHAN_OWN_FD), 0);
	cr_assert_eq(fdmsg_hello_encode(&h, hello), FDMSG_HELLO_SIZE);
	memset(frame, 0, sizeof(frame));
	frame[0] = 1;
	frame[4] = 20;
	frame[8] = 42;
	cr_assert_eq(send(sv[1], hello, sizeof(hello), 0), FDMSG_HELLO_SIZE);
	cr_assert_eq(send(sv[1], frame, sizeof(frame), 0), 20);
	close(sv[1]);
	cr_assert_eq(fdmsg_recv(a, &m), 0, "the frame after the hello");
	cr_assert_eq(m.type, 42);
	cr_assert_eq(m.len, 4);
	cr_assert_eq(fdmsg_want_write(a), 1, "the answer waits");
	cr_assert_eq(fdmsg_recv(a, &m), -EAGAIN);
	fdmsg_chan_free(a);
}

/* After the peer's end, or a protocol error, no hello can come any
 * more: fdmsg_peer_info says so rather than "not yet". */
TEST(hello, peer_info_after_the_end_is_enodata)
{
	struct fdmsg_chan *a;
	struct fdmsg_msg m;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv),
		     0);
	cr_assert_eq(fdmsg_chan_new(&a, sv[0], NULL, FDMSG_CHAN_OWN_FD), 0);
	cr_assert_eq(fdmsg_peer_info(a, &(struct fdmsg_peer_info){ 0 }),
		     -EAGAIN);
	close(sv[1]);
	cr_assert_eq(fdmsg_recv(a, &m), -EPIPE);
	cr_assert_eq(fdmsg_peer_info(a, &(struct fdmsg_peer_info){ 0 }),
		     -ENODATA);
	fdmsg_chan_free(a);

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(fdmsg_chan_new(&a, sv[0], NULL, FDMSG_CHAN_OWN_FD), 0);
	cr_assert_eq(send(sv[1], "\2\0\0\0\20\0\0\0\0\0\0\0\0\0\0\0", 16,
			  0), 16);
	cr_assert_eq(fdmsg_recv(a, &m), -EBADMSG);
	cr_assert_eq(fdmsg_peer_info(a, &(struct fdmsg_peer_info){ 0 }),
		     -ENODATA);
	fdmsg_chan_free(a);
	close(sv[1]);
}

/* A queue smaller than a hello (max_queue 16 is legal) still greets:
 * the hello is written straight away, not first copied into the queue. */
TEST(hello, greets_with_a_queue_smaller_than_a_hello)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts o;
	struct fdmsg_msg m;

	fdmsg_opts_init(&o);
	o.max_frame = 16;
	o.max_queue = 16;
	pair(SOCK_SEQPACKET, &o, FDMSG_CHAN_HELLO, NULL, 0, &a, &b);
	cr_assert_eq(fdmsg_want_write(a), 0);
	cr_assert_eq(fdmsg_recv(b, &m), -EAGAIN);
	cr_assert_eq(fdmsg_peer_info(b, &(struct fdmsg_peer_info){ 0 }), 0);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
}
