/* SPDX-License-Identifier: ISC */
/*
 * The short send paths of src/chan.c against the general one, at random:
 * fdmsg_send with flags FDMSG_MORE takes send_corked, with no flag
 * send_plain; FDMSG_CLOSE_FDS added, with no descriptors, means the same
 * and takes send_general.  Two channels fed the same operations (corked,
 * plain and descriptor-carrying sends, reads of any size by a raw peer,
 * flushes, hellos that lower the limits, a poisoning frame, a departed
 * peer, small send buffers, any max_frame, max_batch, max_queue and
 * descriptor caps) must return the same values, want to write alike and
 * put the same bytes and descriptors on the wire.  A seed that differs
 * is named in the failure.  FDMSG_CORKED_SEEDS=N runs N seeds (1000).
 *
 * Written as an attacker's review probe of send_corked; it failed at
 * seeds 5, 3, 44 and 1 against four deliberate bugs (an off-by-one in
 * the batch check, no region B check, no batch_fds check, no max_plen
 * check).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fdmsg.h"
#include "rawpeer.h"
#include "testutil.h"

static uint64_t rng_state;

static uint32_t
rnd(uint32_t n)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return n == 0 ? 0 : (uint32_t)(rng_state >> 33) % n;
}

struct side {
	struct fdmsg_chan *c;
	int peer;
	unsigned flags; /* of a corked send; without FDMSG_MORE, a plain one */
};

static uint8_t payload[70000];

static void
side_open(struct side *s, int type, const struct fdmsg_opts *o, int sndbuf,
	  unsigned flags)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
	if (sndbuf > 0)
		cr_assert_eq(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf,
					sizeof(sndbuf)),
			     0);
	cr_assert_eq(fdmsg_chan_new(&s->c, sv[1], o, FDMSG_CHAN_OWN_FD), 0);
	s->peer = sv[0];
	s->flags = flags;
}

/* The raw peer greets with a hello of its own limits; the channel takes
 * it with a receive (nothing else arrives). */
static int
side_hello(struct side *s, const struct fdmsg_hello *h)
{
	uint8_t hello[FDMSG_HELLO_SIZE];
	struct fdmsg_msg m;

	cr_assert_eq(fdmsg_hello_encode(h, hello), FDMSG_HELLO_SIZE);
	if (send(s->peer, hello, sizeof(hello), MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(hello))
		return -errno;
	return fdmsg_recv(s->c, &m);
}

/* A peer's hello of random limits, max_frame up to ours + 64. */
static void
random_hello(struct fdmsg_hello *h, int type, uint32_t max_frame)
{
	h->min_version = h->max_version = 1;
	h->max_frame = 16 + rnd(max_frame + 64);
	h->max_batch = type == SOCK_STREAM ? 0 :
		       h->max_frame + rnd(2) * rnd(4000);
	h->max_fds = rnd(5);
}

/* Reads up to n bytes; *nfds: the descriptors that came (closed). */
static ssize_t
side_read(struct side *s, uint8_t *buf, size_t n, int *nfds)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(253 * sizeof(int))];
	} ctl;
	struct iovec iov = { buf, n };
	struct msghdr mh = { 0 };
	struct cmsghdr *cm;
	ssize_t r;
	size_t i;
	int fd;

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.b;
	mh.msg_controllen = sizeof(ctl.b);
	*nfds = 0;
	r = recvmsg(s->peer, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (r < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		     i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			close(fd);
			(*nfds)++;
		}
	}
	return r;
}

static void
differential(uint64_t seed)
{
	static uint8_t w0[1 << 17], w1[1 << 17];
	struct side s[2];
	struct fdmsg_opts o;
	struct fdmsg_hello h;
	int type, sndbuf, step, i, r[2], nf[2], mfd[3];
	ssize_t n[2];
	size_t want;

	rng_state = seed;
	switch (rnd(3)) {
	case 0:
		type = SOCK_STREAM;
		break;
	case 1:
		type = SOCK_SEQPACKET;
		break;
	default:
		type = SOCK_DGRAM;
		break;
	}
	fdmsg_opts_init(&o);
	o.max_frame = 16 + rnd(4) * 512 + rnd(600);
	switch (rnd(4)) {
	case 0:
		o.max_batch = 0;
		break;
	case 1:
		o.max_batch = o.max_frame;
		break;
	case 2:
		o.max_batch = o.max_frame + rnd(3000);
		break;
	default:
		o.max_batch = o.max_frame * (2 + rnd(8));
		break;
	}
	o.max_queue = o.max_frame + rnd(3) * rnd(4 * o.max_frame);
	o.max_fds = rnd(5);
	o.max_queue_fds = rnd(3) * rnd(8);
	sndbuf = rnd(2) ? 0 : 2048 + (int)rnd(8192);
	memset(&h, 0, sizeof(h));
	for (i = 0; i < 2; i++)
		side_open(&s[i], type, &o, sndbuf,
			  i == 0 ? FDMSG_MORE : FDMSG_MORE | FDMSG_CLOSE_FDS);
	if (rnd(3) == 0) {
		random_hello(&h, type, o.max_frame);
		for (i = 0; i < 2; i++)
			cr_assert_eq(side_hello(&s[i], &h), -EAGAIN);
	}
	for (i = 0; i < 3; i++) {
		mfd[i] = memfd_create("review", MFD_CLOEXEC);
		cr_assert_geq(mfd[i], 0);
	}
	for (step = 0; step < 400; step++) {
		uint32_t op = rnd(100), plen = 0, t = rnd(1000);
		struct iovec iov[2];
		size_t iovcnt = 1;
		int null_iov = 0;
		/* Mostly corked (send_corked), else plain (send_plain). */
		unsigned nomore = rnd(4) == 0 ? FDMSG_MORE : 0;

		if (op < 70) {
			switch (rnd(8)) {
			case 0:
				plen = o.max_frame - 16;
				break;
			case 1:
				plen = o.max_frame - 16 + 1;
				break;
			case 2:
				plen = 0;
				break;
			case 3:
				plen = h.max_frame > 16 ? h.max_frame - 16 +
								rnd(2) :
							  rnd(64);
				break;
			default:
				plen = rnd(o.max_frame / (1 + rnd(8)) + 1);
				break;
			}
			iov[0].iov_base = payload;
			iov[0].iov_len = plen;
			iov[1] = iov[0];
			switch (rnd(16)) {
			case 0:
				iov[0].iov_base = NULL; /* base NULL */
				break;
			case 1:
				iov[0].iov_base = NULL;
				iov[0].iov_len = 0;
				break;
			case 2:
				iovcnt = 0;
				break;
			case 3:
				null_iov = 1;
				break;
			case 4:
				iovcnt = 2;
				iov[1].iov_len = 0;
				break;
			default:
				break;
			}
			memset(payload, (int)(step & 0xff), plen < 1024 ?
					plen : 1024);
			for (i = 0; i < 2; i++)
				r[i] = fdmsg_send(s[i].c, t, (uint32_t)step,
						  null_iov ? NULL : iov, iovcnt,
						  NULL, 0, s[i].flags & ~nomore);
			cr_assert_eq(r[0], r[1],
				     "seed %llu step %d: %s send of %u bytes: "
				     "%d (its own path) vs %d (send_general)",
				     (unsigned long long)seed, step,
				     nomore ? "plain" : "corked", plen, r[0],
				     r[1]);
		} else if (op < 76) {
			unsigned nfds = 1 + rnd(3), fl = rnd(2) ? FDMSG_MORE : 0;

			plen = rnd(o.max_frame - 15);
			iov[0].iov_base = payload;
			iov[0].iov_len = plen;
			for (i = 0; i < 2; i++)
				r[i] = fdmsg_send(s[i].c, t, (uint32_t)step, iov,
						  1, mfd, nfds, fl);
			cr_assert_eq(r[0], r[1],
				     "seed %llu step %d: send with fds",
				     (unsigned long long)seed, step);
		} else if (op < 80) {
			plen = rnd(o.max_frame - 15);
			iov[0].iov_base = payload;
			iov[0].iov_len = plen;
			for (i = 0; i < 2; i++)
				r[i] = fdmsg_send(s[i].c, t, (uint32_t)step, iov,
						  1, NULL, 0, 0);
			cr_assert_eq(r[0], r[1], "seed %llu step %d: send",
				     (unsigned long long)seed, step);
		} else if (op < 95) {
			want = 1 + rnd(type == SOCK_STREAM ? 20000 : 70000);
			for (i = 0; i < 2; i++)
				n[i] = side_read(&s[i], i ? w1 : w0, want,
						 &nf[i]);
			cr_assert_eq(nf[0], nf[1], "seed %llu step %d: fds",
				     (unsigned long long)seed, step);
			cr_assert_eq(n[0], n[1],
				     "seed %llu step %d: read %zd vs %zd",
				     (unsigned long long)seed, step, n[0], n[1]);
			if (n[0] > 0)
				cr_assert_eq(memcmp(w0, w1, (size_t)n[0]), 0,
					     "seed %llu step %d: bytes",
					     (unsigned long long)seed, step);
		} else if (op < 97) {
			for (i = 0; i < 2; i++)
				r[i] = fdmsg_flush(s[i].c);
			cr_assert_eq(r[0], r[1], "seed %llu step %d: flush",
				     (unsigned long long)seed, step);
		} else if (op == 97 && rnd(40) == 0) {
			/* The peer goes away. */
			for (i = 0; i < 2; i++)
				shutdown(s[i].peer, SHUT_RDWR);
		} else if (op == 98 && h.min_version == 0) {
			/* A hello later on, lowering the limits. */
			random_hello(&h, type, o.max_frame);
			for (i = 0; i < 2; i++)
				r[i] = side_hello(&s[i], &h);
			cr_assert_eq(r[0], r[1], "seed %llu step %d: hello",
				     (unsigned long long)seed, step);
		} else if (op == 99 && rnd(40) == 0) {
			/* A frame of a wire version nobody speaks: both
			 * channels poisoned. */
			uint8_t bad[16] = { 9, 0, 0, 0, 16 };
			struct fdmsg_msg m;

			for (i = 0; i < 2; i++) {
				r[i] = send(s[i].peer, bad, 16, MSG_NOSIGNAL) ==
							16 ?
						fdmsg_recv(s[i].c, &m) :
						-errno;
			}
			cr_assert_eq(r[0], r[1]);
		}
		cr_assert_eq(fdmsg_want_write(s[0].c), fdmsg_want_write(s[1].c),
			     "seed %llu step %d: want_write",
			     (unsigned long long)seed, step);
	}
	/* Everything left, in the same order and bytes. */
	for (;;) {
		for (i = 0; i < 2; i++)
			r[i] = fdmsg_flush(s[i].c);
		cr_assert_eq(r[0], r[1]);
		for (i = 0; i < 2; i++)
			n[i] = side_read(&s[i], i ? w1 : w0, sizeof(w0),
					 &nf[i]);
		cr_assert_eq(nf[0], nf[1]);
		cr_assert_eq(n[0], n[1], "seed %llu: drain",
			     (unsigned long long)seed);
		if (n[0] > 0)
			cr_assert_eq(memcmp(w0, w1, (size_t)n[0]), 0);
		if (n[0] <= 0 && r[0] == 0)
			break;
	}
	for (i = 0; i < 2; i++)
		cr_assert_eq(fdmsg_shutdown(s[i].c), 0);
	for (step = 0; step < 2; step++) {
		for (i = 0; i < 2; i++)
			r[i] = fdmsg_send(s[i].c, 1, 1,
					  &(struct iovec){ payload, 4 }, 1,
					  NULL, 0,
					  step ? s[i].flags & ~FDMSG_MORE :
						 s[i].flags);
		cr_assert_eq(r[0], r[1], "seed %llu: after shutdown %d vs %d",
			     (unsigned long long)seed, r[0], r[1]);
	}
	for (i = 0; i < 3; i++)
		close(mfd[i]);
	for (i = 0; i < 2; i++) {
		fdmsg_chan_free(s[i].c);
		close(s[i].peer);
	}
}

TEST(corked, same_as_general_at_random)
{
	const char *env = getenv("FDMSG_CORKED_SEEDS");
	uint64_t seed, seeds = env != NULL ? strtoull(env, NULL, 10) : 1000;

	for (seed = 1; seed <= seeds; seed++)
		differential(seed);
}

/* A NULL channel and a NULL iov are -EINVAL either way. */
TEST(corked, null_arguments)
{
	struct iovec iov = { payload, 4 };

	cr_assert_eq(fdmsg_send(NULL, 1, 1, &iov, 1, NULL, 0, FDMSG_MORE),
		     -EINVAL);
	cr_assert_eq(fdmsg_send(NULL, 1, 1, NULL, 1, NULL, 0, FDMSG_MORE),
		     -EINVAL);
}
