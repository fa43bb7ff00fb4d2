/* SPDX-License-Identifier: ISC */
/*
 * Hostile-peer suite: the referee of DESIGN.md against a live channel.
 *
 * Every test puts a raw peer on a plain socketpair(2): it builds frame
 * headers by hand, byte by byte in little-endian order, and attaches
 * descriptors with its own sendmsg(2) (never fdmsg_send).  A channel
 * (fdmsg_chan_new) receives on the other end.  Each test asserts the exact
 * return of fdmsg_recv, that every descriptor that arrived was closed (the
 * descriptor count right after the receive equals the count before the
 * hostile send: the peer closes its own copies as soon as they are sent),
 * that a poisoned channel answers the same error twice more, and that
 * fdmsg_chan_free brings the table back to where the test began.
 *
 * Tests are named after THREATS.md entries where one applies.  Datagram
 * rules run on SOCK_SEQPACKET and SOCK_DGRAM (suites hostile_seqpacket and
 * hostile_dgram), stream rules on SOCK_STREAM (hostile_stream); rules of
 * every socket type run in all three suites.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fdmsg.h"
#include "rawpeer.h"
#include "testutil.h"

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83 /* Linux 6.16+, asm-generic/socket.h */
#endif

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A frame limit small enough to overrun cheaply. */
#define SMALL_FRAME 256u
/* A datagram no receiver's buffer holds unless max_batch is larger: one
 * past FDMSG_DGRAM_SAFE, which every receiver takes. */
#define DGRAM_OVER (FDMSG_DGRAM_SAFE + 64u)

/* ------------------------------------------------------------------ */
/* The hostile peer: bytes and descriptors by hand (rawpeer.h)         */
/* ------------------------------------------------------------------ */

static uint8_t
pattern(uint32_t type, size_t i)
{
	return (uint8_t)(type * 31u + i * 7u + 1u);
}

/* A well-formed frame with a recognisable payload; returns its length. */
static size_t
put_frame(uint8_t *p, uint8_t nfds, uint32_t type,
	  uint32_t peerid, size_t paylen)
{
	put_hdr(p, 1, nfds, 0, (uint32_t)(16 + paylen), type, peerid);
	for (size_t i = 0; i < paylen; i++)
		p[16 + i] = pattern(type, i);
	return 16 + paylen;
}

/* ------------------------------------------------------------------ */
/* The receiving channel                                               */
/* ------------------------------------------------------------------ */

struct hostile {
	int type;
	int peer;               /* the hostile end; -1 once closed */
	struct fdmsg_chan *chan; /* owns the other end */
	struct fdmsg_msg msg;
	int base;               /* fd count: both ends open, none in flight */
};

static void
setup(struct hostile *h, int type, unsigned max_fds,
      uint32_t max_frame, uint32_t max_batch, unsigned optflags)
{
	int r;

	memset(h, 0, sizeof(*h));
	h->type = type;
	r = open_chan(type, max_fds, max_frame, max_batch, optflags, &h->peer,
		      &h->chan);
	cr_assert_eq(r, 0, "fdmsg_chan_new(type %d, max_fds %u): %d %s", type,
		     max_fds, r, ename(r));
	h->base = fd_count();
}

/* The peer goes away; it held one descriptor. */
static void
peer_close(struct hostile *h)
{
	close(h->peer);
	h->peer = -1;
	h->base--;
}

/* fdmsg_chan_free must close the socket and everything it held. */
static void
teardown(struct hostile *h)
{
	fdmsg_chan_free(h->chan);
	h->chan = NULL;
	cr_assert_eq(fd_count(), h->base - 1,
		     "after fdmsg_chan_free: %d open, %d expected", fd_count(),
		     h->base - 1);
	if (h->peer >= 0)
		close(h->peer);
	h->peer = -1;
}

static int
recv_some(struct hostile *h)
{
	return recv_retry(h->chan, h->type, &h->msg);
}

/* The next frame must be exactly this, with these descriptors in order. */
static void
expect_frame(struct hostile *h, const char *what, uint32_t type,
	     uint32_t peerid, size_t paylen, unsigned nfds,
	     const struct ident *ids)
{
	const uint8_t *p;
	int r = recv_some(h);

	cr_assert_eq(r, 0, "%s: expected frame type %u, got %d %s", what, type,
		     r, ename(r));
	cr_assert_eq(h->msg.type, type, "%s: type %u, expected %u", what,
		     h->msg.type, type);
	cr_assert_eq(h->msg.peerid, peerid, "%s: peerid %u, expected %u",
		     what, h->msg.peerid, peerid);
	cr_assert_eq(h->msg.len, paylen, "%s: payload %zu bytes, expected %zu",
		     what, h->msg.len, paylen);
	p = h->msg.payload;
	for (size_t i = 0; i < paylen; i++)
		cr_assert_eq(p[i], pattern(type, i),
			     "%s: payload byte %zu differs", what, i);
	cr_assert_eq(h->msg.nfds, nfds, "%s: %u descriptors, expected %u",
		     what, h->msg.nfds, nfds);
	for (unsigned i = 0; i < nfds; i++) {
		int fd = h->msg.fds[i];

		cr_assert_gt(fd, 2, "%s: descriptor %u is %d (stdio or none)",
			     what, i, fd);
		cr_assert(same_ident(fd, &ids[i]),
			  "%s: descriptor %u is not the one sent as %u", what,
			  i, i);
		cr_assert_neq(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0,
			      "%s: descriptor %u not close-on-exec", what, i);
	}
}

/* The next receive must be -EAGAIN (nothing whole, nothing wrong). */
static void
expect_again(struct hostile *h, const char *what)
{
	int r = fdmsg_recv(h->chan, &h->msg);

	cr_assert_eq(r, -EAGAIN, "%s: expected -EAGAIN, got %d %s", what, r,
		     ename(r));
}

/*
 * The next receive must fail with err, every descriptor that arrived
 * closed, nothing handed out; and the channel must answer the same twice
 * more (poison; or the sticky end for -EPIPE).
 */
static void
reject(struct hostile *h, const char *what, int err)
{
	int r = recv_some(h);

	cr_assert_eq(r, err, "%s: expected %s, got %d %s", what, ename(err), r,
		     ename(r));
	/*
	 * No out-parameter is written on failure, so msg may still describe
	 * the previous frame (the caller may pass another msg each time);
	 * but that frame was released: no live descriptor may remain in it.
	 */
	for (unsigned i = 0; i < h->msg.nfds; i++)
		cr_assert_eq(h->msg.fds[i], -1,
			     "%s: after %s msg.fds[%u] is %d, not -1", what,
			     ename(err), i, h->msg.fds[i]);
	cr_assert_eq(fd_count(), h->base,
		     "%s: descriptors left after %s: %d open, %d expected",
		     what, ename(err), fd_count(), h->base);
	for (int i = 1; i <= 2; i++) {
		r = fdmsg_recv(h->chan, &h->msg);
		cr_assert_eq(r, err, "%s: receive #%d after %s gave %d %s",
			     what, i + 1, ename(err), r, ename(r));
		cr_assert_eq(fd_count(), h->base, "%s: fd count moved", what);
	}
}

/* ------------------------------------------------------------------ */
/* Header rules, every socket type                                     */
/* ------------------------------------------------------------------ */

struct hdr_case {
	const char *what;
	uint8_t version;
	uint8_t nfds;
	uint16_t flags;
	uint32_t len;
	unsigned attach; /* descriptors the peer really sends */
	int err;
};

/*
 * One broken header on a fresh channel (max_fds 2, max_frame 256).  When
 * len is itself legal the whole frame follows, so the only broken rule is
 * the one under test; otherwise the header goes alone and a stream channel
 * must answer at once, without waiting for len bytes.
 */
static void
run_hdr_case(int type, const struct hdr_case *c)
{
	uint8_t buf[64];
	struct hostile h;
	size_t n = 16;

	setup(&h, type, 2, SMALL_FRAME, 0, 0);
	put_hdr(buf, c->version, c->nfds, c->flags, c->len, 7, 9);
	if (c->len >= 16 && c->len <= sizeof(buf)) {
		for (size_t i = 16; i < c->len; i++)
			buf[i] = (uint8_t)i;
		n = c->len;
	}
	peer_send(h.peer, buf, n, c->attach, NULL);
	reject(&h, c->what, c->err);
	teardown(&h);
}

static void
run_hdr_cases(int type, const struct hdr_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		run_hdr_case(type, &c[i]);
}

TEST_ALL_TYPES(hostile, header_version_not_1_is_ebadmsg)
{
	static const struct hdr_case c[] = {
		{ "version 0", 0, 1, 0, 32, 1, -EBADMSG },
		{ "version 2", 2, 1, 0, 32, 1, -EBADMSG },
		{ "version 255", 255, 1, 0, 32, 1, -EBADMSG },
		{ "version 0 no fds", 0, 0, 0, 16, 0, -EBADMSG },
	};

	run_hdr_cases(type, c, NELEM(c));
}

TEST_ALL_TYPES(hostile, header_flag_bit_is_ebadmsg)
{
	static const struct hdr_case c[] = {
		/* 0x0001 marks a hello: a hello 32 bytes long. */
		{ "flags 0x0001", 1, 0, 0x0001, 32, 0, -EBADMSG },
		{ "flags 0x0100", 1, 1, 0x0100, 32, 1, -EBADMSG },
		{ "flags 0x8000", 1, 0, 0x8000, 16, 0, -EBADMSG },
		{ "flags 0xffff", 1, 2, 0xffff, 16, 2, -EBADMSG },
	};

	run_hdr_cases(type, c, NELEM(c));
}

TEST_ALL_TYPES(hostile, threat24_len_below_16_is_ebadmsg)
{
	static const struct hdr_case c[] = {
		{ "len 0", 1, 1, 0, 0, 1, -EBADMSG },
		{ "len 15", 1, 1, 0, 15, 1, -EBADMSG },
		{ "len 1 no fds", 1, 0, 0, 1, 0, -EBADMSG },
	};

	run_hdr_cases(type, c, NELEM(c));
}

TEST_ALL_TYPES(hostile, threat24_len_over_max_frame_is_emsgsize)
{
	static const struct hdr_case c[] = {
		{ "len max_frame+1", 1, 1, 0, SMALL_FRAME + 1, 1, -EMSGSIZE },
		{ "len 0xFFFFFFFF", 1, 1, 0, 0xFFFFFFFFu, 1, -EMSGSIZE },
		{ "len 0x80000000", 1, 0, 0, 0x80000000u, 0, -EMSGSIZE },
		{ "len 16 MiB + 1", 1, 0, 0, FDMSG_MAX_FRAME_CAP + 1, 0,
		  -EMSGSIZE },
	};

	run_hdr_cases(type, c, NELEM(c));
}

TEST_ALL_TYPES(hostile, threat21_nfds_over_max_fds_is_eproto)
{
	static const struct hdr_case c[] = {
		{ "nfds 3 > max_fds 2, 2 sent", 1, 3, 0, 32, 2, -EPROTO },
		{ "nfds 3 > max_fds 2, none sent", 1, 3, 0, 16, 0, -EPROTO },
		{ "nfds 255", 1, 255, 0, 16, 0, -EPROTO },
		{ "nfds 254, 1 sent", 1, 254, 0, 24, 1, -EPROTO },
	};

	run_hdr_cases(type, c, NELEM(c));
}

/* DESIGN "which error wins": header rules in the table's order. */
TEST_ALL_TYPES(hostile, header_error_precedence)
{
	static const struct hdr_case c[] = {
		{ "version beats nfds, flags, len", 2, 3, 1, 0, 0, -EBADMSG },
		{ "version beats len too large", 0, 0, 0, 0xFFFFFFFFu, 0,
		  -EBADMSG },
		{ "nfds beats flags and len", 1, 3, 1, 0xFFFFFFFFu, 0,
		  -EPROTO },
		{ "nfds beats len too small", 1, 3, 0, 15, 1, -EPROTO },
		{ "flags beats len too large", 1, 1, 0x8000, 0xFFFFFFFFu, 1,
		  -EBADMSG },
		{ "flags beats len too small", 1, 0, 2, 0, 0, -EBADMSG },
		{ "len too large beats fd count", 1, 0, 0, SMALL_FRAME + 1, 2,
		  -EMSGSIZE },
		{ "len too small beats fd count", 1, 0, 0, 8, 2, -EBADMSG },
		/* The read's own flags first: MSG_CTRUNC before the header. */
		{ "MSG_CTRUNC beats version", 0, 2, 0, 32, 3, -EPROTO },
		{ "MSG_CTRUNC beats flags", 1, 2, 4, 32, 3, -EPROTO },
		{ "MSG_CTRUNC beats len too large", 1, 2, 0, 0xFFFFFFFFu, 3,
		  -EPROTO },
	};

	run_hdr_cases(type, c, NELEM(c));
}

/* DESIGN: "A header of 16 bytes and no payload is a legal frame". */
TEST_ALL_TYPES(hostile, header_only_frame_is_legal)
{
	struct ident ids[2];
	struct hostile h;
	uint8_t buf[16];

	setup(&h, type, 2, SMALL_FRAME, 0, 0);
	put_frame(buf, 0, 11, 12, 0);
	peer_send(h.peer, buf, 16, 0, NULL);
	expect_frame(&h, "16-byte frame, no fds", 11, 12, 0, 0, NULL);
	put_frame(buf, 2, 13, 14, 0);
	peer_send(h.peer, buf, 16, 2, ids);
	expect_frame(&h, "16-byte frame, 2 fds", 13, 14, 0, 2, ids);
	expect_again(&h, "after both");
	teardown(&h);
}

/* Limits are inclusive: len == max_frame and max_fds descriptors pass. */
TEST_ALL_TYPES(hostile, limits_at_the_edge_are_accepted)
{
	static uint8_t buf[SMALL_FRAME];
	struct ident ids[3];
	struct hostile h;

	setup(&h, type, 3, SMALL_FRAME, 0, 0);
	put_frame(buf, 3, 0xFFFFFFFFu, 0x80000001u, SMALL_FRAME - 16);
	peer_send(h.peer, buf, SMALL_FRAME, 3, ids);
	expect_frame(&h, "len == max_frame, nfds == max_fds", 0xFFFFFFFFu,
		     0x80000001u, SMALL_FRAME - 16, 3, ids);
	teardown(&h);
}

/* ------------------------------------------------------------------ */
/* Descriptor count against the kernel boundary, every socket type     */
/* ------------------------------------------------------------------ */

TEST_ALL_TYPES(hostile, threat01_more_fds_than_max_fds_is_eproto)
{
	static const struct {
		unsigned max_fds, nfds, attach;
	} c[] = {
		{ 2, 2, 3 }, { 2, 0, 3 }, { 2, 2, 253 }, { 8, 8, 9 },
		{ 8, 8, 253 }, { 252, 252, 253 },
	};
	struct hostile h;
	uint8_t buf[32];
	char what[80];

	for (size_t i = 0; i < NELEM(c); i++) {
		snprintf(what, sizeof(what),
			 "max_fds %u, header nfds %u, %u sent", c[i].max_fds,
			 c[i].nfds, c[i].attach);
		setup(&h, type, c[i].max_fds, 0, 0, 0);
		put_frame(buf, (uint8_t)c[i].nfds, 1, 2, 16);
		peer_send(h.peer, buf, 32, c[i].attach, NULL);
		reject(&h, what, -EPROTO);
		teardown(&h);
	}
}

/* CMSG_SPACE padding holds one more descriptor when max_fds is odd. */
TEST_ALL_TYPES(hostile, threat02_padding_slot_descriptor_is_eproto)
{
	struct hostile h;
	uint8_t buf[16];
	char what[80];

	for (unsigned max_fds = 1; max_fds <= 7; max_fds += 2) {
		snprintf(what, sizeof(what), "max_fds %u, %u sent, nfds %u",
			 max_fds, max_fds + 1, max_fds);
		setup(&h, type, max_fds, 0, 0, 0);
		put_frame(buf, (uint8_t)max_fds, 1, 2, 0);
		peer_send(h.peer, buf, 16, max_fds + 1, NULL);
		reject(&h, what, -EPROTO);
		teardown(&h);
	}
}

static int
kernel_has_passrights(void)
{
	int sv[2], zero = 0, r;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	r = setsockopt(sv[1], SOL_SOCKET, SO_PASSRIGHTS, &zero, sizeof(zero));
	close(sv[0]);
	close(sv[1]);
	return r == 0;
}

/*
 * max_fds 0 refuses descriptors.  Where the kernel has SO_PASSRIGHTS the
 * channel must have asked it to (DESIGN rule 3): the sender's sendmsg
 * fails with EPERM, nothing arrives, and the channel still takes a frame
 * without descriptors.  Elsewhere the descriptors arrive and are -EPROTO.
 */
TEST_ALL_TYPES(hostile, threat11_fds_to_max_fds_0_refused)
{
	struct hostile h;
	uint8_t buf[24];
	ssize_t r;
	int passrights = kernel_has_passrights();

	setup(&h, type, 0, 0, 0, 0);
	put_frame(buf, 0, 5, 6, 8);
	r = raw_send(h.peer, buf, 24, 1, NULL, 0);
	if (passrights) {
		cr_assert_eq(r, -EPERM,
			     "kernel has SO_PASSRIGHTS but the channel did not "
			     "refuse descriptors: sender's sendmsg gave %zd",
			     r);
		cr_assert_eq(fd_count(), h.base);
		peer_send(h.peer, buf, 24, 0, NULL);
		expect_frame(&h, "fd-less frame after EPERM", 5, 6, 8, 0, NULL);
		expect_again(&h, "after it");
	} else {
		cr_assert_eq(r, 24);
		reject(&h, "1 fd to max_fds 0", -EPROTO);
	}
	teardown(&h);
}

/*
 * The receiver at its RLIMIT_NOFILE: the kernel installs what fits, sets
 * MSG_CTRUNC and drops the rest.  In a child, which reports by exit status
 * (no Criterion calls there).
 */
static int
rlimit_child(int type, unsigned room)
{
	struct fdmsg_msg msg;
	struct fdmsg_chan *chan;
	uint8_t buf[16];
	int peer, r;

	memset(&msg, 0, sizeof(msg));
	if (open_chan(type, 4, 0, 0, 0, &peer, &chan) < 0)
		return 10;
	put_frame(buf, 3, 5, 6, 0);
	if (raw_send(peer, buf, 16, 3, NULL, 0) != 16)
		return 11;
	if (rlimit_squeeze(room) < 0)
		return 14;
	r = fdmsg_recv(chan, &msg);
	if (r != -EPROTO) {
		dprintf(2, "rlimit child: %u free: fdmsg_recv gave %d %s, "
			"expected -EPROTO\n", room, r, ename(r));
		return 20;
	}
	/* Whatever the kernel installed must have been closed again. */
	r = free_slots();
	if (r != (int)room) {
		dprintf(2, "rlimit child: %u free before, %d after the error "
			"(leak)\n", room, r);
		return 21;
	}
	if (fdmsg_recv(chan, &msg) != -EPROTO ||
	    fdmsg_recv(chan, &msg) != -EPROTO)
		return 23;
	if (rlimit_release() < 0)
		return 24;
	fdmsg_chan_free(chan);
	close(peer);
	return 0;
}

TEST_ALL_TYPES(hostile, threat03_receiver_at_rlimit_nofile_is_eproto)
{
	SKIP_UNDER_VALGRIND();
	run_child(rlimit_child, type, 0, "no free slot");
	run_child(rlimit_child, type, 1, "one free slot of three fds");
	run_child(rlimit_child, type, 2, "two free slots of three fds");
}

/* Credentials and a pidfd on: max_fds still fits; one more does not. */
TEST_ALL_TYPES(hostile, threat04_creds_pidfd_and_max_fds)
{
	struct ident ids[3];
	struct hostile h;
	uint8_t buf[16];

	setup(&h, type, 3, 0, 0, FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD);
	put_frame(buf, 3, 1, 2, 0);
	peer_send(h.peer, buf, 16, 3, ids);
	expect_frame(&h, "3 fds with creds and pidfd", 1, 2, 0, 3, ids);
	cr_assert_eq(h.msg.has_cred, 1, "no credentials");
	cr_assert_eq(h.msg.cred.pid, getpid());
	cr_assert_eq(h.msg.cred.uid, getuid());
	cr_assert_eq(h.msg.cred.gid, getgid());
	if (type != SOCK_STREAM)
		cr_assert_geq(h.msg.cred.pidfd, 0, "no pidfd on frame 1");
	peer_send(h.peer, buf, 16, 4, NULL);
	reject(&h, "4 fds with creds and pidfd, max_fds 3", -EPROTO);
	teardown(&h);
}

/* ------------------------------------------------------------------ */
/* Ownership after delivery, every socket type                         */
/* ------------------------------------------------------------------ */

/* A dropped frame's descriptors close; the next frame gets its own. */
TEST_ALL_TYPES(hostile, threat26_dropped_frame_fds_closed_next_gets_its_own)
{
	struct ident a[2], b[1];
	struct hostile h;
	uint8_t buf[40];
	int held;

	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 2, 1, 10, 20);
	peer_send(h.peer, buf, 36, 2, a);
	put_frame(buf, 1, 2, 20, 4);
	peer_send(h.peer, buf, 20, 1, b);
	expect_frame(&h, "frame A", 1, 10, 20, 2, a);
	held = fdmsg_msg_take_fd(&h.msg, 0);
	cr_assert(same_ident(held, &a[0]), "took the wrong descriptor");
	cr_assert_eq(fdmsg_msg_take_fd(&h.msg, 0), -EBADF, "taken twice");
	cr_assert_eq(fd_count(), h.base + 2);
	expect_frame(&h, "frame B after A dropped", 2, 20, 4, 1, b);
	cr_assert_eq(fd_count(), h.base + 2,
		     "A's untaken fd not closed by the next receive");
	fdmsg_msg_release(&h.msg);
	fdmsg_msg_release(&h.msg);
	cr_assert_eq(fd_count(), h.base + 1, "release left B's fd open");
	cr_assert(same_ident(held, &a[0]), "a taken fd was closed");
	close(held);
	/* A frame never released: fdmsg_chan_free closes its fds. */
	put_frame(buf, 2, 3, 30, 0);
	peer_send(h.peer, buf, 16, 2, a);
	expect_frame(&h, "frame C left to chan_free", 3, 30, 0, 2, a);
	teardown(&h);
}

/* Rule 2: received descriptors are close-on-exec, even across exec. */
TEST_ALL_TYPES(hostile, threat31_received_fds_are_cloexec)
{
	struct ident ids[2];
	struct hostile h;
	uint8_t buf[24];
	char cmd[64];

	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 2, 4, 5, 8);
	peer_send(h.peer, buf, 24, 2, ids);
	expect_frame(&h, "two fds", 4, 5, 8, 2, ids);
	for (unsigned i = 0; i < 2; i++) {
		int status;
		pid_t pid;

		snprintf(cmd, sizeof(cmd), "test ! -e /proc/self/fd/%d",
			 h.msg.fds[i]);
		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
			_exit(127);
		}
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "fd %d survived exec (status %#x)", h.msg.fds[i],
			  status);
	}
	teardown(&h);
}

/* Rule 2: with stdio closed, received descriptors still land above 2. */
static int
stdio_child(int type, unsigned unused)
{
	struct fdmsg_msg msg;
	struct fdmsg_chan *chan;
	struct ident ids[3];
	uint8_t buf[24];
	int peer, r;

	(void)unused;
	memset(&msg, 0, sizeof(msg));
	if (open_chan(type, 3, 0, 0, 0, &peer, &chan) < 0)
		return 10;
	put_frame(buf, 3, 8, 9, 8);
	if (raw_send(peer, buf, 24, 3, ids, 0) != 24)
		return 11;
	close_stdio();
	r = fdmsg_recv(chan, &msg);
	for (int i = 0; r == -EAGAIN && type == SOCK_STREAM && i < 3; i++)
		r = fdmsg_recv(chan, &msg);
	if (r != 0)
		return 12;
	if (msg.nfds != 3)
		return 13;
	for (unsigned i = 0; i < 3; i++) {
		if (msg.fds[i] <= 2)
			return 14; /* a peer's file where stdio belongs */
		if (!same_ident(msg.fds[i], &ids[i]))
			return 15;
		if (!(fcntl(msg.fds[i], F_GETFD) & FD_CLOEXEC))
			return 16;
	}
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			return 17; /* the move left a copy on stdio */
	fdmsg_chan_free(chan);
	for (int fd = 3; fd < 64; fd++)
		if (fd != peer && fcntl(fd, F_GETFD) >= 0 &&
		    (same_ident(fd, &ids[0]) || same_ident(fd, &ids[1]) ||
		     same_ident(fd, &ids[2])))
			return 18; /* chan_free left a received fd open */
	close(peer);
	return 0;
}

TEST_ALL_TYPES(hostile, threat30_fds_never_land_on_stdio)
{
	run_child(stdio_child, type, 0, "stdio closed");
}

/* ------------------------------------------------------------------ */
/* Datagram rules: SOCK_SEQPACKET and SOCK_DGRAM                       */
/* ------------------------------------------------------------------ */

/* The datagram ends before the frame's len does. */
TEST_RECORD_TYPES(hostile, dgram_frame_cut_short_is_ebadmsg)
{
	struct hostile h;
	uint8_t buf[64];

	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 1, 1, 2, 48);
	peer_send(h.peer, buf, 40, 1, NULL);
	reject(&h, "len 64 in a 40-byte datagram", -EBADMSG);
	teardown(&h);

	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 0, 1, 2, 1);
	peer_send(h.peer, buf, 16, 0, NULL);
	reject(&h, "len 17 in a 16-byte datagram", -EBADMSG);
	teardown(&h);

	/* Second frame of a batch runs past the end. */
	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 1, 1, 2, 8);
	put_frame(buf + 24, 1, 3, 4, 16);
	peer_send(h.peer, buf, 24 + 20, 2, NULL);
	reject(&h, "2nd frame len 32 with 20 bytes left", -EBADMSG);
	teardown(&h);
}

/* Bytes after the last frame: a 1..15-byte tail, or a whole bad one. */
TEST_RECORD_TYPES(hostile, dgram_trailing_bytes_are_ebadmsg)
{
	struct hostile h;
	uint8_t buf[64];
	char what[64];

	for (size_t tail = 1; tail <= 15; tail++) {
		snprintf(what, sizeof(what), "%zu-byte tail", tail);
		setup(&h, type, 2, 0, 0, 0);
		put_frame(buf, 1, 1, 2, 16);
		/* The tail is the start of a valid header. */
		put_frame(buf + 32, 0, 3, 4, 0);
		peer_send(h.peer, buf, 32 + tail, 1, NULL);
		reject(&h, what, -EBADMSG);
		teardown(&h);
	}

	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 1, 1, 2, 16);
	memset(buf + 32, 0, 16);
	peer_send(h.peer, buf, 48, 1, NULL);
	reject(&h, "16 zero bytes after the frame", -EBADMSG);
	teardown(&h);
}

/* Whole datagram checked first: header rules, then length, then count. */
TEST_RECORD_TYPES(hostile, dgram_error_precedence)
{
	static uint8_t big[DGRAM_OVER];
	struct hostile h;
	uint8_t buf[64];

	memset(buf, 0, sizeof(buf));
	/* Length (-EBADMSG) before the descriptor count (-EPROTO). */
	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 1, 1, 2, 32);
	peer_send(h.peer, buf, 16, 0, NULL);
	reject(&h, "cut short and missing fd", -EBADMSG);
	teardown(&h);

	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 1, 1, 2, 0);
	peer_send(h.peer, buf, 20, 2, NULL);
	reject(&h, "4-byte tail and a surplus fd", -EBADMSG);
	teardown(&h);

	/* A later header's error beats an earlier frame's fd count. */
	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 2, 1, 2, 0);
	put_hdr(buf + 16, 0, 0, 0, 16, 3, 4);
	peer_send(h.peer, buf, 32, 0, NULL);
	reject(&h, "frame 1 short of fds, frame 2 version 0", -EBADMSG);
	teardown(&h);

	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 0, 1, 2, 0);
	put_hdr(buf + 16, 1, 0, 0, 0xFFFFFFFFu, 3, 4);
	peer_send(h.peer, buf, 32, 1, NULL);
	reject(&h, "surplus fd, frame 2 len too large", -EMSGSIZE);
	teardown(&h);

	/* MSG_TRUNC (-EMSGSIZE) before every header rule. */
	setup(&h, type, 2, SMALL_FRAME, 0, 0);
	memset(big, 0, sizeof(big));
	put_hdr(big, 1, 3, 0, 16, 1, 2); /* header says -EPROTO */
	peer_send(h.peer, big, sizeof(big), 1, NULL);
	reject(&h, "MSG_TRUNC beats nfds > max_fds", -EMSGSIZE);
	teardown(&h);

	setup(&h, type, 2, SMALL_FRAME, 0, 0);
	put_hdr(big, 0, 0, 0, 16, 1, 2);
	peer_send(h.peer, big, sizeof(big), 0, NULL);
	reject(&h, "MSG_TRUNC beats version", -EMSGSIZE);
	teardown(&h);

	/* MSG_CTRUNC (-EPROTO) before MSG_TRUNC (-EMSGSIZE). */
	setup(&h, type, 2, SMALL_FRAME, 0, 0);
	put_hdr(big, 1, 2, 0, SMALL_FRAME, 1, 2);
	peer_send(h.peer, big, sizeof(big), 3, NULL);
	reject(&h, "MSG_CTRUNC beats MSG_TRUNC", -EPROTO);
	teardown(&h);
}

/* THREATS 18: frames back to back in one datagram keep their fds apart. */
TEST_RECORD_TYPES(hostile, threat18_frames_in_one_datagram_get_their_own_fds)
{
	struct ident ids[5];
	struct hostile h;
	uint8_t buf[128];
	size_t n = 0;

	setup(&h, type, 5, 0, 0, 0);
	n += put_frame(buf + n, 1, 1, 100, 9);
	n += put_frame(buf + n, 0, 2, 200, 0);
	n += put_frame(buf + n, 2, 3, 300, 3);
	n += put_frame(buf + n, 2, 4, 400, 0);
	peer_send(h.peer, buf, n, 5, ids);
	expect_frame(&h, "batch frame 1", 1, 100, 9, 1, ids);
	expect_frame(&h, "batch frame 2", 2, 200, 0, 0, NULL);
	expect_frame(&h, "batch frame 3", 3, 300, 3, 2, ids + 1);
	expect_frame(&h, "batch frame 4", 4, 400, 0, 2, ids + 3);
	expect_again(&h, "after the batch");
	cr_assert_eq(fd_count(), h.base, "fds of the batch left open");
	teardown(&h);
}

/* One or two frames declaring nfds1 (and nfds2, unless 255) with
 * `attach` descriptors on the datagram: a count that does not match is
 * -EPROTO, and everything that arrived is closed. */
struct fd_count_case {
	const char *what;
	uint8_t nfds1, nfds2;
	unsigned attach;
};

static void
fd_count_mismatch(int type, const struct fd_count_case *c,
		  size_t ncases)
{
	struct hostile h;
	uint8_t buf[64];
	size_t n;

	for (size_t i = 0; i < ncases; i++) {
		setup(&h, type, 4, 0, 0, 0);
		n = put_frame(buf, c[i].nfds1, 1, 2, 4);
		if (c[i].nfds2 != 255)
			n += put_frame(buf + n, c[i].nfds2, 3, 4, 4);
		peer_send(h.peer, buf, n, c[i].attach, NULL);
		reject(&h, c[i].what, -EPROTO);
		teardown(&h);
	}
}

/* THREATS 19: fewer arrived than declared; nothing handed out. */
TEST_RECORD_TYPES(hostile, threat19_fewer_fds_than_declared_is_eproto)
{
	static const struct fd_count_case c[] = {
		{ "nfds 1, none sent", 1, 255, 0 },
		{ "nfds 2, 1 sent", 2, 255, 1 },
		{ "nfds 3, 2 sent", 3, 255, 2 },
		{ "batch 1+1, 1 sent", 1, 1, 1 },
		{ "batch 2+2, 3 sent", 2, 2, 3 },
	};

	fd_count_mismatch(type, c, NELEM(c));
}

/* THREATS 20: more arrived than declared; the surplus closed too. */
TEST_RECORD_TYPES(hostile, threat20_more_fds_than_declared_is_eproto)
{
	static const struct fd_count_case c[] = {
		{ "nfds 0, 1 sent", 0, 255, 1 },
		{ "nfds 1, 2 sent", 1, 255, 2 },
		{ "nfds 1, 4 sent", 1, 255, 4 },
		{ "batch 1+0, 2 sent", 1, 0, 2 },
		{ "batch 0+2, 3 sent", 0, 2, 3 },
	};

	fd_count_mismatch(type, c, NELEM(c));
}

/* THREATS 14: MSG_TRUNC with descriptors → -EMSGSIZE, fds closed. */
TEST_RECORD_TYPES(hostile, threat14_oversized_datagram_with_fds_is_emsgsize)
{
	static uint8_t big[DGRAM_OVER];
	struct ident ids[2];
	struct hostile h;

	memset(big, 0, sizeof(big));
	setup(&h, type, 2, 64, 0, 0);
	put_frame(big, 2, 1, 2, 48); /* a valid 64-byte frame... */
	peer_send(h.peer, big, 64, 2, ids);
	expect_frame(&h, "64 bytes at max_frame 64", 1, 2, 48, 2, ids);
	/* ...then a datagram one byte past what every receiver takes. */
	peer_send(h.peer, big, FDMSG_DGRAM_SAFE + 1, 2, NULL);
	reject(&h, "datagram of FDMSG_DGRAM_SAFE + 1 bytes", -EMSGSIZE);
	teardown(&h);

	setup(&h, type, 2, 64, 0, 0);
	put_hdr(big, 1, 2, 0, 4096, 1, 2);
	peer_send(h.peer, big, 4096, 2, NULL);
	reject(&h, "4096-byte frame, max_frame 64", -EMSGSIZE);
	teardown(&h);
}

/*
 * How large a datagram may be: FDMSG_DGRAM_SAFE bytes whatever max_frame
 * (so a sender batches within it with no hello), max_batch where larger;
 * one byte more is -EMSGSIZE.  Frames of 64 bytes, two with a descriptor.
 */
static void
datagram_limit(int type, uint32_t max_batch, size_t limit)
{
	static uint8_t big[2 * FDMSG_DGRAM_SAFE + 64];
	struct ident ids[2];
	struct hostile h;
	size_t off, k = 0;

	cr_assert_leq(limit + 64, sizeof(big));
	setup(&h, type, 2, 64, max_batch, 0);
	for (off = 0; off + 64 <= limit + 64; off += 64)
		put_frame(big + off, off < 128 ? 1 : 0, (uint32_t)(off / 64),
			  7, 48);
	peer_send(h.peer, big, limit, 2, ids);
	for (off = 0; off < limit; off += 64, k++)
		expect_frame(&h, "batched frame", (uint32_t)k, 7, 48,
			     k < 2 ? 1 : 0, ids + (k < 2 ? k : 0));
	expect_again(&h, "after the datagram");
	peer_send(h.peer, big, limit + 1, 2, NULL);
	reject(&h, "one byte past the datagram limit", -EMSGSIZE);
	teardown(&h);
}

TEST_RECORD_TYPES(hostile, max_batch_bounds_the_datagram)
{
	uint8_t buf[96];
	struct hostile h;

	datagram_limit(type, 128, FDMSG_DGRAM_SAFE);
	datagram_limit(type, 2 * FDMSG_DGRAM_SAFE, 2 * FDMSG_DGRAM_SAFE);

	/* A single frame over max_frame is still -EMSGSIZE in a batch. */
	setup(&h, type, 2, 64, 128, 0);
	put_frame(buf, 0, 1, 2, 80);
	peer_send(h.peer, buf, 96, 0, NULL);
	reject(&h, "96-byte frame, max_frame 64, max_batch 128", -EMSGSIZE);
	teardown(&h);
}

/* THREATS 12: a zero-length datagram with fds ends the channel. */
TEST_RECORD_TYPES(hostile, threat12_zero_length_datagram_with_fds_ends_channel)
{
	struct hostile h;
	uint8_t buf[16];

	setup(&h, type, 4, 0, 0, 0);
	peer_send(h.peer, "", 0, 3, NULL);
	/* A valid frame after the end must not revive the channel. */
	put_frame(buf, 0, 1, 2, 0);
	peer_send(h.peer, buf, 16, 0, NULL);
	reject(&h, "0 bytes + 3 fds", -EPIPE);
	teardown(&h);
}

/*
 * A zero-length datagram with more fds than max_fds: MSG_CTRUNC on an
 * empty read.  DESIGN puts the read's own flags first (-EPROTO); the
 * empty read also ends the channel (-EPIPE).  Either is sticky; the fds
 * that fit must be closed.
 */
TEST_RECORD_TYPES(hostile, threat12_zero_length_datagram_ctrunc)
{
	struct hostile h;
	int r;

	setup(&h, type, 2, 0, 0, 0);
	peer_send(h.peer, "", 0, 5, NULL);
	r = fdmsg_recv(h.chan, &h.msg);
	cr_assert(r == -EPROTO || r == -EPIPE,
		  "0 bytes + 5 fds, max_fds 2: got %d %s", r, ename(r));
	cr_assert_eq(fd_count(), h.base, "fds left after %s", ename(r));
	reject(&h, "0 bytes + 5 fds, later receives", r);
	teardown(&h);
}

/* One bad frame poisons its whole datagram: no earlier frame comes out. */
TEST_RECORD_TYPES(hostile, dgram_bad_later_frame_no_earlier_frame_delivered)
{
	static const struct {
		const char *what;
		uint8_t version, nfds;
		uint16_t flags;
		uint32_t len;
		int err;
	} c[] = {
		{ "2nd frame version 2", 2, 0, 0, 16, -EBADMSG },
		{ "2nd frame flags 1", 1, 0, 1, 16, -EBADMSG },
		{ "2nd frame nfds 9", 1, 9, 0, 16, -EPROTO },
		{ "2nd frame len max_frame+1", 1, 0, 0, SMALL_FRAME + 1,
		  -EMSGSIZE },
		{ "2nd frame len 8", 1, 0, 0, 8, -EBADMSG },
		{ "2nd frame 1 fd not sent", 1, 1, 0, 16, -EPROTO },
	};
	struct hostile h;
	uint8_t buf[48];

	for (size_t i = 0; i < NELEM(c); i++) {
		setup(&h, type, 2, SMALL_FRAME, 0, 0);
		put_frame(buf, 1, 1, 2, 16); /* valid, with its fd */
		put_hdr(buf + 32, c[i].version, c[i].nfds, c[i].flags,
			c[i].len, 3, 4);
		peer_send(h.peer, buf, 48, 1, NULL);
		reject(&h, c[i].what, c[i].err);
		teardown(&h);
	}
}

/* THREATS 13: an empty datagram reads as the end: -EPIPE, sticky. */
TEST_RECORD_TYPES(hostile, threat13_empty_datagram_is_epipe)
{
	struct hostile h;
	uint8_t buf[16];
	struct ident id;

	setup(&h, type, 1, 0, 0, 0);
	put_frame(buf, 1, 1, 2, 0);
	peer_send(h.peer, buf, 16, 1, &id);
	peer_send(h.peer, "", 0, 0, NULL);
	expect_frame(&h, "the frame before the end", 1, 2, 0, 1, &id);
	reject(&h, "empty datagram", -EPIPE);
	teardown(&h);
}

/*
 * The peer's end after whole frames: they come out, then -EPIPE (DESIGN
 * rule 5).  With unread_at_peer the channel's side has sent the peer bytes
 * it never read: Linux then reports ECONNRESET to the channel, on
 * SOCK_SEQPACKET once and BEFORE the datagrams still queued (measured on
 * 6.18: recv gives ECONNRESET, then each datagram, then 0); on a stream
 * after the queued bytes.  The frames sent before the end must still
 * come out.
 */
static void
eof_after_frames(int type, int unread_at_peer)
{
	struct ident ids[2];
	struct hostile h;
	uint8_t buf[32];

	setup(&h, type, 2, 0, 0, 0);
	if (unread_at_peer)
		cr_assert_eq(write(fdmsg_chan_fd(h.chan), "unread", 6), 6);
	put_frame(buf, 2, 1, 2, 16);
	peer_send(h.peer, buf, 32, 2, ids);
	put_frame(buf, 0, 3, 4, 0);
	peer_send(h.peer, buf, 16, 0, NULL);
	peer_close(&h);
	expect_frame(&h, "frame 1 before the end", 1, 2, 16, 2, ids);
	expect_frame(&h, "frame 2 before the end", 3, 4, 0, 0, NULL);
	reject(&h, "the end after whole frames", -EPIPE);
	teardown(&h);
}

TEST(hostile_seqpacket, eof_after_whole_frames_is_epipe)
{
	eof_after_frames(SOCK_SEQPACKET, 0);
}

TEST(hostile_seqpacket, econnreset_after_whole_frames_delivers_them)
{
	eof_after_frames(SOCK_SEQPACKET, 1);
}

TEST(hostile_stream, eof_after_whole_frames_is_epipe)
{
	eof_after_frames(SOCK_STREAM, 0);
}

TEST(hostile_stream, econnreset_after_whole_frames_delivers_them)
{
	eof_after_frames(SOCK_STREAM, 1);
}

/* Reset mid-frame on a stream: the cut frame is -EBADMSG. */
TEST(hostile_stream, threat25_econnreset_mid_frame_is_ebadmsg)
{
	struct hostile h;
	uint8_t buf[64];

	setup(&h, SOCK_STREAM, 2, 0, 0, 0);
	cr_assert_eq(write(fdmsg_chan_fd(h.chan), "unread", 6), 6);
	put_frame(buf, 2, 1, 2, 48);
	peer_send(h.peer, buf, 30, 2, NULL);
	peer_close(&h);
	reject(&h, "reset after 30 of 64 bytes, 2 fds", -EBADMSG);
	teardown(&h);
}

/* ------------------------------------------------------------------ */
/* Stream rules                                                        */
/* ------------------------------------------------------------------ */

#define S17_PAY 24u
#define S17_LEN (16u + S17_PAY)

/*
 * THREATS 17: a frame with two fds, split at every byte, the fds on the
 * first chunk, the rest (and a whole fd-less frame after it) in a second
 * write: the same frames as one write, on one long-lived channel.
 */
TEST_STREAM_TYPE(hostile, threat17_every_split_point_same_result)
{
	struct ident ids[2];
	struct hostile h;
	uint8_t buf[S17_LEN + 32];
	char what[64];
	size_t n;

	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 2, 0xA1B2C3D4u, 0x01020304u, S17_PAY);
	n = S17_LEN + put_frame(buf + S17_LEN, 0, 77, 78, 5);
	peer_send(h.peer, buf, n, 2, ids);
	expect_frame(&h, "one write", 0xA1B2C3D4u, 0x01020304u, S17_PAY, 2,
		     ids);
	expect_frame(&h, "one write, 2nd frame", 77, 78, 5, 0, NULL);
	for (size_t k = 1; k < S17_LEN; k++) {
		snprintf(what, sizeof(what), "split at %zu", k);
		peer_send(h.peer, buf, k, 2, ids);
		expect_again(&h, what);
		peer_send(h.peer, buf + k, n - k, 0, NULL);
		expect_frame(&h, what, 0xA1B2C3D4u, 0x01020304u, S17_PAY, 2,
			     ids);
		expect_frame(&h, what, 77, 78, 5, 0, NULL);
		expect_again(&h, what);
		fdmsg_msg_release(&h.msg);
		cr_assert_eq(fd_count(), h.base, "%s: fds left", what);
	}
	teardown(&h);
}

/* THREATS 17: fds on the first byte, then every byte on its own. */
TEST_STREAM_TYPE(hostile, threat17_byte_by_byte_same_result)
{
	struct ident ids[2];
	struct hostile h;
	uint8_t buf[S17_LEN];
	char what[64];

	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 2, 5, 6, S17_PAY);
	for (int round = 0; round < 2; round++) {
		peer_send(h.peer, buf, 1, 2, ids);
		for (size_t k = 1; k < S17_LEN; k++) {
			snprintf(what, sizeof(what), "round %d byte %zu",
				 round, k);
			expect_again(&h, what);
			peer_send(h.peer, buf + k, 1, 0, NULL);
		}
		expect_frame(&h, "byte by byte", 5, 6, S17_PAY, 2, ids);
	}
	teardown(&h);
}

/*
 * THREATS 16: the tail of fd-less frame A and fd-carrying frame B come
 * back in one read (the kernel glues a descriptor-less write to the next
 * one).  A must get none, B its own.
 */
TEST_STREAM_TYPE(hostile, threat16_fdless_tail_in_read_of_next_frames_fds)
{
	struct ident ids[2];
	struct hostile h;
	uint8_t a[40], b[24];

	setup(&h, type, 2, 0, 0, 0);
	put_frame(a, 0, 1, 2, 24);
	put_frame(b, 2, 3, 4, 8);
	peer_send(h.peer, a, 20, 0, NULL);
	expect_again(&h, "half of A");
	peer_send(h.peer, a + 20, 20, 0, NULL);
	peer_send(h.peer, b, 24, 2, ids);
	expect_frame(&h, "A", 1, 2, 24, 0, NULL);
	expect_frame(&h, "B", 3, 4, 8, 2, ids);
	expect_again(&h, "after B");

	/* Whole fd-less frames before B in the same read. */
	peer_send(h.peer, a, 40, 0, NULL);
	peer_send(h.peer, a, 40, 0, NULL);
	peer_send(h.peer, b, 24, 2, ids);
	expect_frame(&h, "A1", 1, 2, 24, 0, NULL);
	expect_frame(&h, "A2", 1, 2, 24, 0, NULL);
	expect_frame(&h, "B after A1 A2", 3, 4, 8, 2, ids);
	expect_again(&h, "after second B");
	teardown(&h);
}

/* THREATS 16, hostile: A's fds come with A's tail (and B's start). */
TEST_STREAM_TYPE(hostile, threat16_fds_shifted_to_a_later_read_is_eproto)
{
	struct hostile h;
	uint8_t buf[80];
	int r;

	put_frame(buf, 1, 1, 2, 24);
	put_frame(buf + 40, 1, 3, 4, 0);

	/* A's header incomplete in the first read. */
	setup(&h, type, 2, 0, 0, 0);
	peer_send(h.peer, buf, 10, 0, NULL);
	expect_again(&h, "A's first 10 bytes, no fds");
	peer_send(h.peer, buf + 10, 46, 1, NULL);
	reject(&h, "A's fd with A's tail and B's start", -EPROTO);
	teardown(&h);

	/* A's header whole in the first read: -EPROTO may come at once. */
	setup(&h, type, 2, 0, 0, 0);
	peer_send(h.peer, buf, 20, 0, NULL);
	r = fdmsg_recv(h.chan, &h.msg);
	cr_assert(r == -EAGAIN || r == -EPROTO,
		  "A's header (nfds 1) without fds: got %d %s", r, ename(r));
	if (r == -EAGAIN)
		peer_send(h.peer, buf + 20, 36, 1, NULL);
	reject(&h, "A's fd with A's tail and B's start", -EPROTO);
	teardown(&h);
}

/* A frame declares nfds; its first byte's read had none. */
TEST_STREAM_TYPE(hostile, stream_fds_after_first_byte_is_eproto)
{
	struct hostile h;
	uint8_t buf[32];
	int r;

	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 1, 1, 2, 16);
	peer_send(h.peer, buf, 10, 0, NULL);
	expect_again(&h, "10 header bytes, no fds");
	peer_send(h.peer, buf + 10, 22, 1, NULL);
	reject(&h, "fd with bytes 10..32", -EPROTO);
	teardown(&h);

	/* Header complete first: -EPROTO now or with the rest. */
	setup(&h, type, 2, 0, 0, 0);
	peer_send(h.peer, buf, 16, 0, NULL);
	r = fdmsg_recv(h.chan, &h.msg);
	cr_assert(r == -EAGAIN || r == -EPROTO,
		  "header nfds 1, no fds: got %d %s", r, ename(r));
	if (r == -EAGAIN)
		peer_send(h.peer, buf + 16, 16, 1, NULL);
	reject(&h, "header nfds 1 without fds, fd with the payload",
	       -EPROTO);
	teardown(&h);
}

/*
 * THREATS 52: descriptors on a write that starts inside a frame's payload
 * (or its header) belong to no frame begun: they wait ahead, and the next
 * frame that declares descriptors takes them, oldest first.  The frame
 * they came inside takes none.
 */
TEST_STREAM_TYPE(hostile, threat52_fds_mid_frame_wait_for_a_later_frame)
{
	struct ident id[1];
	struct hostile h;
	uint8_t buf[64], b2[16];
	size_t bytes;
	unsigned nfds;

	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 0, 1, 2, 48);
	put_frame(b2, 1, 5, 6, 0);
	peer_send(h.peer, buf, 20, 0, NULL);
	expect_again(&h, "20 bytes of a 64-byte frame");
	peer_send(h.peer, buf + 20, 20, 1, id);
	expect_again(&h, "fd on bytes 20..40 of 64");
	cr_assert_eq(fdmsg_recv_pending(h.chan, &bytes, &nfds), 1);
	cr_assert_eq(bytes, 40u);
	cr_assert_eq(nfds, 1u);
	peer_send(h.peer, buf + 40, 24, 0, NULL);
	expect_frame(&h, "the frame it came inside", 1, 2, 48, 0, NULL);
	expect_again(&h, "the fd waits ahead");
	cr_assert_eq(fd_count(), h.base + 1);
	peer_send(h.peer, b2, 16, 0, NULL);
	expect_frame(&h, "the next frame takes it", 5, 6, 0, 1, id);
	expect_again(&h, "after it");
	cr_assert_eq(fdmsg_recv_pending(h.chan, &bytes, &nfds), 0);
	teardown(&h);

	/* Inside an incomplete header: the frame there declares none. */
	setup(&h, type, 2, 0, 0, 0);
	peer_send(h.peer, buf, 6, 0, NULL);
	expect_again(&h, "6 header bytes");
	peer_send(h.peer, buf + 6, 58, 1, id);
	expect_frame(&h, "fd on header bytes 6..64", 1, 2, 48, 0, NULL);
	peer_send(h.peer, b2, 16, 0, NULL);
	expect_frame(&h, "the next frame takes it", 5, 6, 0, 1, id);
	teardown(&h);

	/* Nothing claims it before the end: -EPROTO, closed. */
	setup(&h, type, 2, 0, 0, 0);
	peer_send(h.peer, buf, 20, 0, NULL);
	expect_again(&h, "20 bytes of 64");
	peer_send(h.peer, buf + 20, 44, 1, NULL);
	expect_frame(&h, "the frame, without the fd", 1, 2, 48, 0, NULL);
	peer_close(&h);
	reject(&h, "EOF with an fd no frame claimed", -EPROTO);
	teardown(&h);
}

/*
 * THREATS 52: a receiver holds at most max_fds descriptors ahead of
 * their frames (beyond those the frames begun in its buffer declare).
 * A write of a frame that takes none, with max_fds descriptors, parks
 * them all; one more in a later write is -EPROTO, every one closed.  A
 * later frame that declares one keeps the count at max_fds: accepted,
 * and it takes the oldest.
 */
TEST_STREAM_TYPE(hostile, threat52_fds_ahead_bounded_by_max_fds)
{
	struct ident ids[3], last[1];
	struct hostile h;
	uint8_t f0[20], f1[16], f2[16];
	size_t bytes;
	unsigned nfds;

	put_frame(f0, 0, 1, 2, 4);
	put_frame(f1, 0, 3, 4, 0);
	put_frame(f2, 1, 5, 6, 0);

	/* One past: a frame declaring none brings the fourth. */
	setup(&h, type, 3, 0, 0, 0);
	peer_send(h.peer, f0, 20, 3, NULL);
	expect_frame(&h, "frame with 3 fds ahead", 1, 2, 4, 0, NULL);
	expect_again(&h, "3 fds ahead, within max_fds 3");
	cr_assert_eq(fdmsg_recv_pending(h.chan, &bytes, &nfds), 1);
	cr_assert_eq(bytes, 0u);
	cr_assert_eq(nfds, 3u);
	cr_assert_eq(fd_count(), h.base + 3);
	peer_send(h.peer, f1, 16, 1, NULL);
	reject(&h, "a 4th fd ahead, max_fds 3", -EPROTO);
	cr_assert_eq(fdmsg_recv_pending(h.chan, NULL, &nfds), 1);
	cr_assert_eq(nfds, 0u, "poisoned, it holds no descriptor");
	teardown(&h);

	/* At the bound: the frame that comes with the 4th takes the 1st. */
	setup(&h, type, 3, 0, 0, 0);
	peer_send(h.peer, f0, 20, 3, ids);
	expect_frame(&h, "frame with 3 fds ahead", 1, 2, 4, 0, NULL);
	peer_send(h.peer, f2, 16, 1, last);
	expect_frame(&h, "nfds 1 takes the oldest", 5, 6, 0, 1, ids);
	expect_again(&h, "3 still ahead");
	cr_assert_eq(fdmsg_recv_pending(h.chan, &bytes, &nfds), 1);
	cr_assert_eq(nfds, 3u);
	peer_send(h.peer, f2, 16, 0, NULL);
	expect_frame(&h, "then the 2nd", 5, 6, 0, 1, ids + 1);
	peer_send(h.peer, f2, 16, 0, NULL);
	expect_frame(&h, "then the 3rd", 5, 6, 0, 1, ids + 2);
	peer_send(h.peer, f2, 16, 0, NULL);
	expect_frame(&h, "then the one that came last", 5, 6, 0, 1, last);
	expect_again(&h, "none ahead");
	cr_assert_eq(fdmsg_recv_pending(h.chan, &bytes, &nfds), 0);
	teardown(&h);
}

/*
 * THREATS 53: descriptors may come before the read of their frame's
 * first byte, never after it.  A frame whose first byte came in a read
 * before its descriptors is -EPROTO, even with descriptors parked ahead
 * that could make up part of its count.
 */
TEST_STREAM_TYPE(hostile, threat53_fds_after_first_byte_despite_parked_ones)
{
	struct hostile h;
	uint8_t f0[16], f1[24];

	put_frame(f0, 0, 1, 2, 0);
	put_frame(f1, 2, 3, 4, 8);
	setup(&h, type, 4, 0, 0, 0);
	peer_send(h.peer, f0, 16, 1, NULL);
	expect_frame(&h, "frame parking 1 fd", 1, 2, 0, 0, NULL);
	peer_send(h.peer, f1, 8, 0, NULL);
	expect_again(&h, "8 header bytes of a frame declaring 2");
	peer_send(h.peer, f1 + 8, 16, 1, NULL);
	reject(&h, "its 2nd fd with bytes 8..24", -EPROTO);
	teardown(&h);

	/* Its header whole in the first read: -EPROTO at once, the
	 * parked descriptor closed with it. */
	setup(&h, type, 4, 0, 0, 0);
	peer_send(h.peer, f0, 16, 1, NULL);
	expect_frame(&h, "frame parking 1 fd", 1, 2, 0, 0, NULL);
	peer_send(h.peer, f1, 16, 0, NULL);
	reject(&h, "header declaring 2, 1 parked, none with it", -EPROTO);
	teardown(&h);
}

/*
 * THREATS 54: a peer parks descriptors ahead of any frame and goes
 * silent.  fdmsg_recv_pending reports them as a partial frame (what a
 * deadline watches), a receive with a deadline times out holding them,
 * and freeing the channel closes them; the peer's end instead is
 * -EPROTO, all closed.
 */
TEST_STREAM_TYPE(hostile, threat54_parked_fds_then_silence)
{
	struct hostile h;
	uint8_t f0[16];
	size_t bytes;
	unsigned nfds;

	put_frame(f0, 0, 1, 2, 0);
	setup(&h, type, 2, 0, 0, 0);
	peer_send(h.peer, f0, 16, 2, NULL);
	expect_frame(&h, "frame parking 2 fds", 1, 2, 0, 0, NULL);
	expect_again(&h, "silent peer");
	cr_assert_eq(fdmsg_recv_pending(h.chan, &bytes, &nfds), 1,
		     "parked descriptors are a partial frame");
	cr_assert_eq(bytes, 0u);
	cr_assert_eq(nfds, 2u);
	cr_assert_eq(fdmsg_recv_wait(h.chan, &h.msg, 20), -ETIMEDOUT);
	cr_assert_eq(fdmsg_recv_pending(h.chan, NULL, NULL), 1);
	cr_assert_eq(fd_count(), h.base + 2);
	teardown(&h); /* chan_free must close the 2 parked fds */

	setup(&h, type, 2, 0, 0, 0);
	peer_send(h.peer, f0, 16, 2, NULL);
	expect_frame(&h, "frame parking 2 fds", 1, 2, 0, 0, NULL);
	expect_again(&h, "silent peer");
	peer_close(&h);
	reject(&h, "the end with 2 fds parked", -EPROTO);
	cr_assert_eq(fdmsg_recv_pending(h.chan, NULL, NULL), 0);
	teardown(&h);
}

/* THREATS 18: separate fd-carrying writes, each frame its own fds. */
TEST_STREAM_TYPE(hostile, threat18_fd_frames_back_to_back_do_not_cross)
{
	struct ident a[1], b[2], d[1];
	struct hostile h;
	uint8_t buf[32];

	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 1, 1, 10, 4);
	peer_send(h.peer, buf, 20, 1, a);
	put_frame(buf, 2, 2, 20, 0);
	peer_send(h.peer, buf, 16, 2, b);
	put_frame(buf, 0, 3, 30, 16);
	peer_send(h.peer, buf, 32, 0, NULL);
	put_frame(buf, 1, 4, 40, 1);
	peer_send(h.peer, buf, 17, 1, d);
	expect_frame(&h, "A", 1, 10, 4, 1, a);
	expect_frame(&h, "B", 2, 20, 0, 2, b);
	expect_frame(&h, "C", 3, 30, 16, 0, NULL);
	expect_frame(&h, "D", 4, 40, 1, 1, d);
	expect_again(&h, "after D");
	teardown(&h);
}

/* THREATS 18, hostile: A declares 2 but carries 1; B's must not fill in. */
TEST_STREAM_TYPE(hostile, threat18_short_frame_cannot_borrow_next_frames_fds)
{
	struct ident ids[2];
	struct hostile h;
	uint8_t buf[20];

	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 2, 1, 2, 4);
	peer_send(h.peer, buf, 20, 1, NULL);
	put_frame(buf, 1, 3, 4, 4);
	peer_send(h.peer, buf, 20, 1, NULL);
	reject(&h, "A nfds 2 with 1, B nfds 1 with 1", -EPROTO);
	teardown(&h);

	/* THREATS 52: A's stray fd waits ahead; B, declaring 2, takes it
	 * and its own, in arrival order. */
	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 0, 1, 2, 4);
	peer_send(h.peer, buf, 20, 1, ids);
	put_frame(buf, 2, 3, 4, 4);
	peer_send(h.peer, buf, 20, 1, ids + 1);
	expect_frame(&h, "A nfds 0 with 1", 1, 2, 4, 0, NULL);
	expect_frame(&h, "B nfds 2 with 1, 1 ahead", 3, 4, 4, 2, ids);
	expect_again(&h, "after B");
	teardown(&h);
}

/* Frames that start in the same read share its batch, in order. */
TEST_STREAM_TYPE(hostile, stream_one_write_two_frames_split_the_batch)
{
	struct ident ids[3];
	struct hostile h;
	uint8_t buf[64];
	size_t n;

	setup(&h, type, 3, 0, 0, 0);
	n = put_frame(buf, 1, 1, 2, 3);
	n += put_frame(buf + n, 2, 3, 4, 5);
	peer_send(h.peer, buf, n, 3, ids);
	expect_frame(&h, "first of one write", 1, 2, 3, 1, ids);
	expect_frame(&h, "second of one write", 3, 4, 5, 2, ids + 1);
	expect_again(&h, "after both");
	teardown(&h);
}

/*
 * Frames of max_frame bytes back to back: the receive buffer holds one
 * frame, so each read stops short of the next; fds stay with their frame.
 */
TEST_STREAM_TYPE(hostile, stream_max_frame_frames_reassembled)
{
	static uint8_t buf[3 * SMALL_FRAME];
	struct ident ids[4];
	struct hostile h;
	char what[32];

	setup(&h, type, 1, SMALL_FRAME, 0, 0);
	for (uint32_t i = 0; i < 3; i++) {
		put_frame(buf, 1, 10 + i, i, SMALL_FRAME - 16);
		peer_send(h.peer, buf, SMALL_FRAME, 1, &ids[i]);
	}
	put_frame(buf, 0, 13, 3, SMALL_FRAME - 16);
	peer_send(h.peer, buf, 100, 0, NULL);
	peer_send(h.peer, buf + 100, 100, 0, NULL);
	peer_send(h.peer, buf + 200, SMALL_FRAME - 200, 0, NULL);
	put_frame(buf, 1, 14, 4, 0);
	peer_send(h.peer, buf, 16, 1, &ids[3]);
	for (uint32_t i = 0; i < 3; i++) {
		snprintf(what, sizeof(what), "max frame %u", i);
		expect_frame(&h, what, 10 + i, i, SMALL_FRAME - 16, 1, &ids[i]);
	}
	expect_frame(&h, "max frame in 3 writes", 13, 3, SMALL_FRAME - 16, 0,
		     NULL);
	expect_frame(&h, "16-byte frame after", 14, 4, 0, 1, &ids[3]);
	expect_again(&h, "after all");

	/* Three whole frames in one fd-less write, 3x the buffer. */
	for (uint32_t i = 0; i < 3; i++)
		put_frame(buf + i * SMALL_FRAME, 0, 20 + i, i,
			  SMALL_FRAME - 16);
	peer_send(h.peer, buf, sizeof(buf), 0, NULL);
	for (uint32_t i = 0; i < 3; i++) {
		snprintf(what, sizeof(what), "one write, frame %u", i);
		expect_frame(&h, what, 20 + i, i, SMALL_FRAME - 16, 0, NULL);
	}
	expect_again(&h, "after the big write");
	teardown(&h);
}

/* THREATS 19 on a stream: fewer than declared, nothing handed out. */
TEST_STREAM_TYPE(hostile, threat19_stream_fewer_fds_than_declared_is_eproto)
{
	struct hostile h;
	uint8_t buf[24];

	setup(&h, type, 3, 0, 0, 0);
	put_frame(buf, 2, 1, 2, 8);
	peer_send(h.peer, buf, 24, 1, NULL);
	reject(&h, "nfds 2, 1 sent", -EPROTO);
	teardown(&h);

	setup(&h, type, 3, 0, 0, 0);
	put_frame(buf, 3, 1, 2, 0);
	peer_send(h.peer, buf, 16, 0, NULL);
	reject(&h, "nfds 3, none sent", -EPROTO);
	teardown(&h);
}

/*
 * THREATS 20 on a stream: the surplus of a read waits ahead for later
 * frames (THREATS 52); nobody claims it by the end: -EPROTO.
 */
TEST_STREAM_TYPE(hostile, threat20_stream_more_fds_than_declared_is_eproto)
{
	struct ident ids[3];
	struct hostile h;
	uint8_t buf[24];
	unsigned nfds;

	setup(&h, type, 3, 0, 0, 0);
	put_frame(buf, 1, 1, 2, 8);
	peer_send(h.peer, buf, 24, 3, ids);
	expect_frame(&h, "nfds 1, 3 sent", 1, 2, 8, 1, ids);
	expect_again(&h, "2 ahead");
	cr_assert_eq(fdmsg_recv_pending(h.chan, NULL, &nfds), 1);
	cr_assert_eq(nfds, 2u);
	peer_close(&h);
	reject(&h, "the end with 2 unclaimed", -EPROTO);
	teardown(&h);
}

/*
 * The stream ends right after a whole frame that declared no descriptors
 * but carried one: the surplus is -EPROTO (descriptors no frame claims),
 * not -EBADMSG (no frame was cut short).
 */
TEST_STREAM_TYPE(hostile, eof_after_frame_with_unclaimed_fds_is_eproto)
{
	struct hostile h;
	uint8_t buf[24];

	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 0, 3, 4, 8);
	peer_send(h.peer, buf, 24, 1, NULL);
	peer_close(&h);
	/* The whole frame may come out first, without the stray fd. */
	if (recv_some(&h) == 0)
		cr_assert_eq(h.msg.nfds, 0u);
	reject(&h, "EOF after a frame with 1 unclaimed fd", -EPROTO);
	teardown(&h);
}

/* THREATS 15: a zero-length write with fds delivers nothing. */
TEST_STREAM_TYPE(hostile, threat15_zero_length_write_with_fds_no_hang)
{
	struct ident id;
	struct hostile h;
	uint8_t buf[20];

	setup(&h, type, 2, 0, 0, 0);
	cr_assert_eq(raw_send(h.peer, "", 0, 2, NULL, 0), 0);
	expect_again(&h, "after a 0-byte write with 2 fds");
	cr_assert_eq(fd_count(), h.base);
	put_frame(buf, 1, 1, 2, 4);
	peer_send(h.peer, buf, 20, 1, &id);
	expect_frame(&h, "next frame", 1, 2, 4, 1, &id);
	teardown(&h);
}

/* THREATS 25: the peer dies mid-frame with fds queued. */
TEST_STREAM_TYPE(hostile, threat25_eof_mid_frame_is_ebadmsg)
{
	struct hostile h;
	uint8_t buf[64];

	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 2, 1, 2, 48);
	peer_send(h.peer, buf, 36, 2, NULL);
	peer_close(&h);
	reject(&h, "EOF after 36 of 64 bytes, 2 fds", -EBADMSG);
	teardown(&h);

	/* The frame's fds already read, the rest never comes. */
	setup(&h, type, 2, 0, 0, 0);
	peer_send(h.peer, buf, 20, 2, NULL);
	expect_again(&h, "20 of 64 bytes");
	peer_close(&h);
	reject(&h, "EOF after an -EAGAIN, fds queued", -EBADMSG);
	teardown(&h);

	/* Truncated header. */
	setup(&h, type, 2, 0, 0, 0);
	peer_send(h.peer, buf, 10, 1, NULL);
	peer_close(&h);
	reject(&h, "EOF after 10 header bytes", -EBADMSG);
	teardown(&h);

	/* A whole frame, then part of the next: the whole one first. */
	setup(&h, type, 2, 0, 0, 0);
	put_frame(buf, 0, 3, 4, 0);
	peer_send(h.peer, buf, 16, 0, NULL);
	peer_send(h.peer, buf, 5, 0, NULL);
	peer_close(&h);
	expect_frame(&h, "whole frame before the cut", 3, 4, 0, 0, NULL);
	reject(&h, "EOF 5 bytes into a frame", -EBADMSG);
	teardown(&h);
}

/*
 * THREATS 37.  Linux AF_UNIX stream keeps the latest MSG_OOB byte out of
 * the ordinary stream and stops a read at its mark.  A channel that never
 * reads out of band sees the frames intact around one OOB byte (a short
 * read).  A second OOB byte turns the first into an ordinary byte of the
 * stream: that shifts the frames and must end in a clean protocol error.
 */
TEST_STREAM_TYPE(hostile, threat37_oob_byte_is_not_read)
{
	struct ident id;
	struct hostile h;
	uint8_t buf[40];

	setup(&h, type, 1, 0, 0, 0);
	put_frame(buf, 0, 1, 2, 24);
	peer_send(h.peer, buf, 10, 0, NULL);
	cr_assert_eq(send(h.peer, "!", 1, MSG_OOB | MSG_NOSIGNAL), 1);
	peer_send(h.peer, buf + 10, 30, 0, NULL);
	put_frame(buf, 1, 3, 4, 4);
	peer_send(h.peer, buf, 20, 1, &id);
	expect_frame(&h, "frame around an OOB byte", 1, 2, 24, 0, NULL);
	expect_frame(&h, "frame after an OOB byte", 3, 4, 4, 1, &id);
	expect_again(&h, "after both");
	/* Another OOB byte once the first is behind the reader. */
	cr_assert_eq(send(h.peer, "?", 1, MSG_OOB | MSG_NOSIGNAL), 1);
	put_frame(buf, 1, 5, 6, 0);
	peer_send(h.peer, buf, 16, 1, &id);
	expect_frame(&h, "frame after a 2nd OOB byte", 5, 6, 0, 1, &id);
	expect_again(&h, "after all");
	teardown(&h);

	setup(&h, type, 1, 0, 0, 0);
	put_frame(buf, 0, 1, 2, 0);
	peer_send(h.peer, buf, 16, 0, NULL);
	cr_assert_eq(send(h.peer, "!", 1, MSG_OOB | MSG_NOSIGNAL), 1);
	cr_assert_eq(send(h.peer, "?", 1, MSG_OOB | MSG_NOSIGNAL), 1);
	put_frame(buf, 0, 3, 4, 0);
	peer_send(h.peer, buf, 16, 0, NULL);
	expect_frame(&h, "frame before two OOB bytes", 1, 2, 0, 0, NULL);
	/* "!" is now in-band: version 0x21. */
	reject(&h, "stream shifted by an in-band former OOB byte", -EBADMSG);
	teardown(&h);
}

/* THREATS 22: header and fds, then silence; chan_free closes them. */
TEST_STREAM_TYPE(hostile, threat22_header_then_silence_fds_closed_by_free)
{
	struct hostile h;
	uint8_t buf[16];

	setup(&h, type, 3, 0, 0, 0);
	put_hdr(buf, 1, 3, 0, 116, 1, 2);
	peer_send(h.peer, buf, 16, 3, NULL);
	expect_again(&h, "header + 3 fds, payload never comes");
	expect_again(&h, "still silent");
	cr_assert_leq(fd_count(), h.base + 3);
	teardown(&h); /* chan_free must close the 3 queued fds */
}

/* ------------------------------------------------------------------ */
/* Credentials                                                         */
/* ------------------------------------------------------------------ */

static void
expect_own_cred(const struct hostile *h, const char *what)
{
	cr_assert_eq(h->msg.has_cred, 1, "%s: no credentials", what);
	cr_assert_eq(h->msg.cred.pid, getpid(), "%s: pid %d", what,
		     (int)h->msg.cred.pid);
	cr_assert_eq(h->msg.cred.uid, getuid(), "%s: uid", what);
	cr_assert_eq(h->msg.cred.gid, getgid(), "%s: gid", what);
}

TEST_STREAM_TYPE(hostile, creds_same_sender_same_credentials)
{
	struct hostile h;
	uint8_t buf[24];

	setup(&h, type, 0, 0, 0, FDMSG_OPT_CREDS);
	put_frame(buf, 0, 1, 2, 8);
	peer_send(h.peer, buf, 24, 0, NULL);
	peer_send(h.peer, buf, 10, 0, NULL);
	peer_send(h.peer, buf + 10, 14, 0, NULL);
	expect_frame(&h, "frame 1", 1, 2, 8, 0, NULL);
	expect_own_cred(&h, "frame 1");
	expect_frame(&h, "frame 2 in two writes", 1, 2, 8, 0, NULL);
	expect_own_cred(&h, "frame 2");
	teardown(&h);
}

/* Every frame of a datagram carries the datagram's credentials. */
TEST(hostile_seqpacket, creds_every_frame_of_a_datagram)
{
	struct hostile h;
	uint8_t buf[48];
	size_t n;

	setup(&h, SOCK_SEQPACKET, 0, 0, 0, FDMSG_OPT_CREDS);
	n = put_frame(buf, 0, 1, 2, 8);
	n += put_frame(buf + n, 0, 3, 4, 0);
	peer_send(h.peer, buf, n, 0, NULL);
	expect_frame(&h, "frame 1", 1, 2, 8, 0, NULL);
	expect_own_cred(&h, "frame 1");
	expect_frame(&h, "frame 2", 3, 4, 0, 0, NULL);
	expect_own_cred(&h, "frame 2");
	teardown(&h);
}

/*
 * THREATS 34: a child process writes the first part of a frame on the
 * shared stream socket and exits; the parent writes the rest.  Same uid,
 * different pid: one frame, two writers → -EPROTO.
 */
static void
two_writers(size_t cut, unsigned optflags)
{
	struct hostile h;
	uint8_t buf[40];
	char what[64];

	snprintf(what, sizeof(what), "child wrote %zu bytes, parent the rest",
		 cut);
	setup(&h, SOCK_STREAM, 0, 0, 0, optflags);
	put_frame(buf, 0, 1, 2, 24);
	write_from_child(h.peer, buf, cut);
	peer_send(h.peer, buf + cut, 40 - cut, 0, NULL);
	reject(&h, what, -EPROTO);
	teardown(&h);
}

TEST(hostile_creds, threat34_frame_from_two_writers_is_eproto)
{
	two_writers(20, FDMSG_OPT_CREDS);
	two_writers(8, FDMSG_OPT_CREDS);
	two_writers(16, FDMSG_OPT_CREDS);
	two_writers(1, FDMSG_OPT_CREDS);
}

/* The frame before the change of writer is whole: it comes out. */
TEST(hostile_creds, threat34_writers_taking_turns_at_frame_bounds)
{
	struct hostile h;
	uint8_t buf[40];

	setup(&h, SOCK_STREAM, 0, 0, 0, FDMSG_OPT_CREDS);
	put_frame(buf, 0, 1, 2, 24);
	write_from_child(h.peer, buf, 40);
	peer_send(h.peer, buf, 40, 0, NULL);
	expect_frame(&h, "child's whole frame", 1, 2, 24, 0, NULL);
	cr_assert_eq(h.msg.has_cred, 1);
	cr_assert_neq(h.msg.cred.pid, getpid(), "child's frame has our pid");
	expect_frame(&h, "parent's whole frame", 1, 2, 24, 0, NULL);
	expect_own_cred(&h, "parent's frame");
	teardown(&h);
}

/* ------------------------------------------------------------------ */
/* Identity past the parser (THREATS 38-40)                            */
/* ------------------------------------------------------------------ */

/*
 * THREATS 39: with pidfds alone (or with credentials too) a frame whose
 * header came from one process and payload from another carries no one's
 * identity: -EPROTO, as with credentials alone.
 */
TEST(hostile_creds, threat39_pidfd_frame_from_two_writers_is_eproto)
{
	two_writers(20, FDMSG_OPT_PIDFD);
	two_writers(16, FDMSG_OPT_PIDFD);
	two_writers(1, FDMSG_OPT_PIDFD);
	two_writers(8, FDMSG_OPT_PIDFD | FDMSG_OPT_CREDS);
}

/* One writer in two writes, pidfds alone: its pidfd, and no
 * credentials reported (they were not asked for). */
TEST(hostile_creds, threat39_pidfd_one_writer_in_two_writes)
{
	struct hostile h;
	uint8_t buf[40];

	setup(&h, SOCK_STREAM, 0, 0, 0, FDMSG_OPT_PIDFD);
	put_frame(buf, 0, 1, 2, 24);
	peer_send(h.peer, buf, 10, 0, NULL);
	/* Two reads for certain: the frame's pidfd is the first read's. */
	expect_again(&h, "10 bytes of the frame");
	peer_send(h.peer, buf + 10, 30, 0, NULL);
	expect_frame(&h, "one writer, two writes", 1, 2, 24, 0, NULL);
	cr_assert_eq(h.msg.has_cred, 0, "credentials not asked for");
	cr_assert_eq(h.msg.cred.pid, 0);
	cr_assert_geq(h.msg.cred.pidfd, 0, "no pidfd");
	cr_assert_eq(pidfd_pid(h.msg.cred.pidfd), (long)getpid());
	teardown(&h);
}

/*
 * THREATS 38: frame A is written (by a child) before the receiver's
 * channel turns SO_PASSCRED on, frame B after.  A carries the kernel's
 * placeholder (pid 0, uid 65534): no credentials.  B carries the child's.
 * With split, the child writes the first 10 bytes of B before and the
 * rest after: bytes with and without an identity, one frame: -EPROTO.
 */
static void
placeholder_case(int type, int split)
{
	struct fdmsg_chan *chan;
	struct fdmsg_msg m = { 0 };
	struct fdmsg_opts o;
	uint8_t a[24], b[24];
	int sv[2], go[2], ready[2], status, r;
	char x = 0;
	pid_t pid;

	cr_assert_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(ready, O_CLOEXEC), 0);
	put_frame(a, 0, 1, 2, 8);
	put_frame(b, 0, 3, 4, 8);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		size_t first = split ? 10 : 0;

		if (write(sv[0], a, 24) != 24 ||
		    (first && write(sv[0], b, first) != (ssize_t)first) ||
		    write(ready[1], "r", 1) != 1 || read(go[0], &x, 1) != 1 ||
		    write(sv[0], b + first, 24 - first) != (ssize_t)(24 - first))
			_exit(1);
		_exit(0);
	}
	/* A (and B's start) are queued before the channel exists. */
	cr_assert_eq(read(ready[0], &x, 1), 1);
	fdmsg_opts_init(&o);
	o.flags = FDMSG_OPT_CREDS;
	cr_assert_eq(fdmsg_chan_new(&chan, sv[1], &o, FDMSG_CHAN_OWN_FD), 0);
	cr_assert_eq(write(go[1], "g", 1), 1);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	cr_assert_eq(fdmsg_recv(chan, &m), 0);
	cr_assert_eq(m.type, 1);
	cr_assert_eq(m.has_cred, 0, "placeholder reported: pid %d uid %d",
		     (int)m.cred.pid, (int)m.cred.uid);
	cr_assert_eq(m.cred.pid, 0);
	cr_assert_eq(m.cred.uid, (uid_t)-1, "uid %d", (int)m.cred.uid);
	cr_assert_eq(m.cred.gid, (gid_t)-1);
	r = fdmsg_recv(chan, &m);
	if (split) {
		cr_assert_eq(r, -EPROTO, "split B: %d %s", r, ename(r));
		cr_assert_eq(fdmsg_recv(chan, &m), -EPROTO);
	} else {
		cr_assert_eq(r, 0, "B: %d %s", r, ename(r));
		cr_assert_eq(m.type, 3);
		cr_assert_eq(m.has_cred, 1);
		cr_assert_eq(m.cred.pid, pid);
		cr_assert_eq(m.cred.uid, getuid());
		cr_assert_eq(m.cred.gid, getgid());
	}
	fdmsg_chan_free(chan);
	close(sv[0]);
	close(go[0]);
	close(go[1]);
	close(ready[0]);
	close(ready[1]);
}

TEST_ALL_TYPES(hostile, threat38_placeholder_credentials_are_none)
{
	placeholder_case(type, 0);
	if (type == SOCK_STREAM)
		placeholder_case(type, 1);
}

/*
 * THREATS 40: the sender exited and was reaped before its frame is read.
 * The frame is delivered; its credentials are those it had; its pidfd
 * (6.17 and later deliver one) refers to a process that is gone, so a
 * check of liveness says so, and nothing falls back to the pid.
 */
TEST_ALL_TYPES(hostile, threat40_pidfd_of_a_reaped_sender)
{
	struct hostile h;
	uint8_t buf[24];
	pid_t pid;

	setup(&h, type, 0, 0, 0, FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD);
	put_frame(buf, 0, 1, 2, 8);
	pid = write_from_child(h.peer, buf, 24);
	expect_frame(&h, "a reaped sender's frame", 1, 2, 8, 0, NULL);
	cr_assert_eq(h.msg.has_cred, 1);
	cr_assert_eq(h.msg.cred.pid, pid);
	if (h.msg.cred.pidfd >= 0) {
		cr_assert_eq(pidfd_pid(h.msg.cred.pidfd), -1,
			     "pidfd of a reaped sender reads as alive");
		cr_assert_eq(syscall(SYS_pidfd_send_signal, h.msg.cred.pidfd,
				     0, NULL, 0), -1);
		/* valgrind does not know the syscall (ENOSYS). */
		cr_assert(errno == ESRCH || (RUNNING_ON_VALGRIND &&
					     errno == ENOSYS),
			  "pidfd_send_signal: %s", strerror(errno));
	}
	teardown(&h);
}

/* ------------------------------------------------------------------ */
/* A receive-only datagram channel (THREATS 44)                        */
/* ------------------------------------------------------------------ */

struct dgram_rx {
	int rx;                  /* bound, unconnected, lent to chan */
	int bad, good;           /* two senders */
	struct fdmsg_chan *chan;
	struct fdmsg_msg msg;
	int base;
};

static void
dgram_rx_open(struct dgram_rx *d, unsigned max_fds)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fdmsg_opts o;
	socklen_t len;
	int n;

	memset(&d->msg, 0, sizeof(d->msg));
	n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1,
		     "fdmsg-hostile-rx-%d", (int)getpid());
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	d->rx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(d->rx, 0);
	cr_assert_eq(bind(d->rx, (struct sockaddr *)&sa, len), 0, "bind: %s",
		     strerror(errno));
	d->bad = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	d->good = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(d->bad, (struct sockaddr *)&sa, len), 0);
	cr_assert_eq(connect(d->good, (struct sockaddr *)&sa, len), 0);
	fdmsg_opts_init(&o);
	o.max_fds = max_fds;
	o.max_frame = SMALL_FRAME;
	cr_assert_eq(fdmsg_chan_new(&d->chan, d->rx, &o, 0), 0);
	d->base = fd_count();
}

/* The bad sender's datagram is dropped and reported once, with every
 * descriptor closed; the good sender's next frame arrives intact. */
static void
dgram_rx_expect(struct dgram_rx *d, const char *what, int err)
{
	struct ident id[2];
	uint8_t buf[40];
	int r;

	r = fdmsg_recv(d->chan, &d->msg);
	cr_assert_eq(r, err, "%s: %d %s, want %s", what, r, ename(r),
		     ename(err));
	cr_assert_eq(fd_count(), d->base, "%s: descriptors left: %d, %d",
		     what, fd_count(), d->base);
	put_frame(buf, 2, 9, 10, 24);
	cr_assert_eq(raw_send(d->good, buf, 40, 2, id, 0), 40);
	r = fdmsg_recv(d->chan, &d->msg);
	cr_assert_eq(r, 0, "%s: the honest sender's frame after: %d %s", what,
		     r, ename(r));
	cr_assert_eq(d->msg.type, 9);
	cr_assert_eq(d->msg.len, 24);
	cr_assert_eq(d->msg.nfds, 2);
	cr_assert(same_ident(d->msg.fds[0], &id[0]));
	cr_assert(same_ident(d->msg.fds[1], &id[1]));
	fdmsg_msg_release(&d->msg);
	cr_assert_eq(fdmsg_recv(d->chan, &d->msg), -EAGAIN);
	cr_assert_eq(fd_count(), d->base);
}

static void
dgram_rx_close(struct dgram_rx *d)
{
	fdmsg_chan_free(d->chan);
	close(d->rx);
	close(d->bad);
	close(d->good);
}

TEST(hostile_dgram, threat44_receive_only_drops_bad_datagrams_and_goes_on)
{
	struct dgram_rx d;
	uint8_t buf[SMALL_FRAME + 64];
	size_t n;

	dgram_rx_open(&d, 2);

	put_hdr(buf, 2, 1, 0, 16, 1, 2);
	cr_assert_eq(raw_send(d.bad, buf, 16, 1, NULL, 0), 16);
	dgram_rx_expect(&d, "version 2 with a descriptor", -EBADMSG);

	cr_assert_eq(raw_send(d.bad, buf, 0, 0, NULL, 0), 0);
	dgram_rx_expect(&d, "empty datagram", -EBADMSG);

	cr_assert_eq(raw_send(d.bad, buf, 0, 2, NULL, 0), 0);
	dgram_rx_expect(&d, "empty datagram with 2 descriptors", -EBADMSG);

	put_frame(buf, 1, 1, 2, 0);
	cr_assert_eq(raw_send(d.bad, buf, 16, 0, NULL, 0), 16);
	dgram_rx_expect(&d, "declares 1 descriptor, none came", -EPROTO);

	put_frame(buf, 0, 1, 2, 0);
	cr_assert_eq(raw_send(d.bad, buf, 16, 2, NULL, 0), 16);
	dgram_rx_expect(&d, "2 descriptors, none declared", -EPROTO);

	put_frame(buf, 3, 1, 2, 0);
	cr_assert_eq(raw_send(d.bad, buf, 16, 3, NULL, 0), 16);
	dgram_rx_expect(&d, "3 descriptors, max_fds 2", -EPROTO);

	put_frame(buf, 1, 1, 2, SMALL_FRAME + 32);
	cr_assert_eq(raw_send(d.bad, buf, SMALL_FRAME + 48, 1, NULL, 0),
		     SMALL_FRAME + 48);
	dgram_rx_expect(&d, "datagram past the buffer (MSG_TRUNC)",
			-EMSGSIZE);

	n = put_frame(buf, 1, 1, 2, 8);
	put_hdr(buf + n, 1, 0, 0, 40, 3, 4);
	cr_assert_eq(raw_send(d.bad, buf, n + 20, 1, NULL, 0),
		     (ssize_t)(n + 20));
	dgram_rx_expect(&d, "second frame cut short", -EBADMSG);

	dgram_rx_close(&d);
}

/* ------------------------------------------------------------------ */
/* Poison after consumed bytes (THREATS 46)                            */
/* ------------------------------------------------------------------ */

/*
 * Moving a received descriptor above 2 fails (RLIMIT_NOFILE 3, stdio
 * closed: the kernel installs it on 0, F_DUPFD to 3 is refused).  The
 * frame's header and descriptor were read; its payload, which looks like
 * a header, follows in another write.  The channel must be poisoned: the
 * next receive may never parse that payload as a frame.  In a child,
 * reporting by exit status.
 */
static int
lift_fails_child(int type, unsigned unused)
{
	struct fdmsg_msg msg;
	struct fdmsg_chan *chan;
	uint8_t hdr[16], forged[16];
	int peer, r;

	(void)unused;
	memset(&msg, 0, sizeof(msg));
	if (open_chan(type, 1, 0, 0, 0, &peer, &chan) < 0)
		return 10;
	put_hdr(hdr, 1, 1, 0, 32, 1, 2);
	put_frame(forged, 0, 666, 666, 0);
	if (type == SOCK_STREAM) {
		if (raw_send(peer, hdr, 16, 1, NULL, 0) != 16 ||
		    raw_send(peer, forged, 16, 0, NULL, 0) != 16)
			return 11;
	} else {
		uint8_t both[32];

		memcpy(both, hdr, 16);
		memcpy(both + 16, forged, 16);
		if (raw_send(peer, both, 32, 1, NULL, 0) != 32 ||
		    raw_send(peer, forged, 16, 0, NULL, 0) != 16)
			return 11;
	}
	close_stdio();
	if (rlimit_nofile(3, NULL) < 0)
		return 12;
	r = fdmsg_recv(chan, &msg);
	if (r != -EMFILE)
		return 20;
	if (fcntl(0, F_GETFD) >= 0)
		return 21; /* the descriptor on 0 was not closed */
	r = fdmsg_recv(chan, &msg);
	if (r == 0 && msg.type == 666)
		return 22; /* resynchronised on the payload */
	if (r != -EMFILE || fdmsg_recv(chan, &msg) != -EMFILE)
		return 23;
	fdmsg_chan_free(chan);
	close(peer);
	return 0;
}

TEST_ALL_TYPES(hostile, threat46_failed_lift_poisons)
{
	SKIP_UNDER_VALGRIND();
	run_child(lift_fails_child, type, 0, "RLIMIT_NOFILE 3, stdio closed");
}

/* ------------------------------------------------------------------ */
/* The send queue's memory (THREATS 45)                                */
/* ------------------------------------------------------------------ */

/*
 * A peer that never reads: the sender queues header-only frames until
 * -ENOBUFS.  Exactly max_queue / 16 of them fit (max_queue to the byte),
 * and the heap grows by no more than max_queue (plus a page of slack
 * for the allocator's own records), not by a record per frame besides.
 * mallinfo2 sees glibc's heap: sanitizers and valgrind replace it.
 */
TEST_ALL_TYPES(hostile, threat45_queue_heap_within_max_queue)
{
#if defined(FDMSG_SANITIZED) || !defined(__GLIBC__)
	(void)type;
	cr_skip_test("mallinfo2 measures glibc's allocator only");
#else
	const size_t max_queue = 65536;
	struct fdmsg_chan *tx;
	struct fdmsg_opts o;
	struct mallinfo2 before, after;
	unsigned k = 0;
	int sv[2], one = 1, r;

	if (RUNNING_ON_VALGRIND)
		cr_skip_test("mallinfo2 measures glibc's allocator only");
	cr_assert_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &one,
				sizeof(one)), 0);
	fdmsg_opts_init(&o);
	o.max_queue = max_queue;
	cr_assert_eq(fdmsg_chan_new(&tx, sv[0], &o, FDMSG_CHAN_OWN_FD), 0);
	/* Fill the socket itself first. */
	while ((r = fdmsg_send(tx, 1, 2, NULL, 0, NULL, 0,
			       FDMSG_NO_QUEUE)) == 0)
		;
	cr_assert_eq(r, -EAGAIN);
	before = mallinfo2();
	while ((r = fdmsg_send(tx, 1, 2, NULL, 0, NULL, 0, 0)) == 0)
		k++;
	after = mallinfo2();
	cr_assert_eq(r, -ENOBUFS);
	cr_assert_eq(k, max_queue / 16, "%u frames queued", k);
	cr_assert_leq(after.uordblks - before.uordblks, max_queue + 4096,
		      "queue heap grew %zu bytes for max_queue %zu",
		      after.uordblks - before.uordblks, max_queue);
	fdmsg_chan_free(tx);
	close(sv[1]);
#endif
}

/* ------------------------------------------------------------------ */
/* -ETOOMANYREFS (THREATS 49)                                          */
/* ------------------------------------------------------------------ */

/*
 * Descriptors in flight count against the sender's RLIMIT_NOFILE; past
 * it the kernel refuses the frame with ETOOMANYREFS.  That frame fails
 * alone: nothing of ours is left open, the channel stays usable, and once
 * the receiver reads, the next frame with a descriptor goes through.
 * The check does not apply to CAP_SYS_RESOURCE, so the child drops root.
 */
static int
toomanyrefs_child(int type, unsigned unused)
{
	struct fdmsg_chan *a, *b;
	struct fdmsg_opts oa, ob;
	struct fdmsg_msg m;
	struct rlimit rl;
	int sv[2], p[2], r, i, sent = 0, got = 0;

	(void)unused;
	memset(&m, 0, sizeof(m));
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0 ||
	    pipe2(p, O_CLOEXEC) < 0)
		return 10;
	fdmsg_opts_init(&oa);
	fdmsg_opts_init(&ob);
	ob.max_fds = 1;
	if (fdmsg_chan_new(&a, sv[0], &oa, FDMSG_CHAN_OWN_FD) < 0 ||
	    fdmsg_chan_new(&b, sv[1], &ob, FDMSG_CHAN_OWN_FD) < 0)
		return 11;
	if (getuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
		return 12;
	if (rlimit_nofile(8, &rl) < 0)
		return 13;
	for (i = 0; i < 64; i++) {
		r = fdmsg_send(a, 1, (uint32_t)i, NULL, 0, &p[0], 1,
			       FDMSG_NO_QUEUE);
		if (r != 0)
			break;
		sent++;
	}
	if (r != -ETOOMANYREFS) {
		dprintf(2, "toomanyrefs child: send %d gave %d\n", i, r);
		return 20;
	}
	if (fcntl(p[0], F_GETFD) < 0 || fdmsg_want_write(a))
		return 21; /* ours closed, or the refused frame queued */
	/* The receiver (here the same process) needs room to take them. */
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 14;
	while ((r = fdmsg_recv(b, &m)) == 0) {
		if (m.peerid != (uint32_t)got || m.nfds != 1)
			return 22;
		got++;
	}
	if (r != -EAGAIN || got != sent)
		return 23;
	fdmsg_msg_release(&m);
	r = fdmsg_send(a, 2, 99, NULL, 0, &p[0], 1, 0);
	if (r != 0)
		return 24;
	if (fdmsg_recv(b, &m) != 0 || m.type != 2 || m.nfds != 1)
		return 25;
	fdmsg_msg_release(&m);
	fdmsg_chan_free(a);
	fdmsg_chan_free(b);
	return 0;
}

TEST_ALL_TYPES(hostile, threat49_etoomanyrefs_fails_one_frame)
{
	SKIP_UNDER_VALGRIND();
	run_child(toomanyrefs_child, type, 0, "in-flight past RLIMIT_NOFILE");
}

/* ------------------------------------------------------------------ */
/* What a partial frame holds (THREATS 41)                             */
/* ------------------------------------------------------------------ */

/*
 * One write holds a whole frame and the header of the next, which
 * declares a descriptor that came along.  After the whole frame and
 * -EAGAIN, fdmsg_recv_pending says what the unfinished frame holds, so
 * a server can put a deadline on it; once it completes, nothing.
 */
TEST_STREAM_TYPE(hostile, threat41_pending_reports_the_partial_frame)
{
	struct ident id;
	struct hostile h;
	uint8_t buf[48];
	size_t bytes = 99;
	unsigned nfds = 99;

	setup(&h, type, 1, 0, 0, 0);
	cr_assert_eq(fdmsg_recv_pending(h.chan, &bytes, &nfds), 0);
	cr_assert_eq(bytes, 0);
	cr_assert_eq(nfds, 0);
	put_frame(buf, 0, 1, 2, 8);
	put_hdr(buf + 24, 1, 1, 0, 24, 3, 4);
	peer_send(h.peer, buf, 40, 1, &id);
	expect_frame(&h, "the whole frame", 1, 2, 8, 0, NULL);
	expect_again(&h, "the next is a header only");
	cr_assert_eq(fdmsg_recv_pending(h.chan, &bytes, &nfds), 1);
	cr_assert_eq(bytes, 16);
	cr_assert_eq(nfds, 1);
	cr_assert_eq(fdmsg_recv_pending(h.chan, NULL, NULL), 1);
	for (size_t i = 0; i < 8; i++)
		buf[i] = pattern(3, i);
	peer_send(h.peer, buf, 8, 0, NULL);
	expect_frame(&h, "the frame completed", 3, 4, 8, 1, &id);
	cr_assert_eq(fdmsg_recv_pending(h.chan, &bytes, &nfds), 0);
	cr_assert_eq(bytes, 0);
	cr_assert_eq(nfds, 0);
	cr_assert_eq(fdmsg_recv_pending(NULL, &bytes, &nfds), -EINVAL);
	teardown(&h);
}

TEST_RECORD_TYPES(hostile, pending_counts_the_rest_of_a_datagram)
{
	struct ident id[2];
	struct hostile h;
	uint8_t buf[64];
	size_t n, bytes;
	unsigned nfds;

	setup(&h, type, 2, 0, 0, 0);
	n = put_frame(buf, 1, 1, 2, 8);
	n += put_frame(buf + n, 1, 3, 4, 0);
	peer_send(h.peer, buf, n, 2, id);
	expect_frame(&h, "first of two", 1, 2, 8, 1, &id[0]);
	cr_assert_eq(fdmsg_recv_pending(h.chan, &bytes, &nfds), 1);
	cr_assert_eq(bytes, 16);
	cr_assert_eq(nfds, 1);
	expect_frame(&h, "second of two", 3, 4, 0, 1, &id[1]);
	cr_assert_eq(fdmsg_recv_pending(h.chan, &bytes, &nfds), 0);
	teardown(&h);
}

/* ------------------------------------------------------------------ */
/* Hostile hellos                                                      */
/* ------------------------------------------------------------------ */

/* A hello built by hand, so that it can break any rule. */
struct raw_hello {
	uint8_t nfds;
	uint16_t flags;
	uint32_t len, type, peerid;
	uint8_t min_version, max_version;
	uint16_t reserved16;
	uint32_t max_frame, max_batch, max_fds, caps, reserved32;
};

static const struct raw_hello good_hello = {
	0, FDMSG_HDR_HELLO, FDMSG_HELLO_SIZE, 0, 0, 1, 1, 0, 65536, 0, 0, 0, 0,
};

static void
put_hello(uint8_t *p, const struct raw_hello *h)
{
	put_hdr(p, 1, h->nfds, h->flags, h->len, h->type, h->peerid);
	p[16] = h->min_version;
	p[17] = h->max_version;
	p[18] = (uint8_t)h->reserved16;
	p[19] = (uint8_t)(h->reserved16 >> 8);
	put_le32(p + 20, h->max_frame);
	put_le32(p + 24, h->max_batch);
	put_le32(p + 28, h->max_fds);
	put_le32(p + 32, h->caps);
	put_le32(p + 36, h->reserved32);
}

enum hello_field {
	HF_NONE, HF_NFDS, HF_LEN, HF_TYPE, HF_PEERID, HF_MIN_VERSION,
	HF_VERSIONS, HF_MAX_FRAME, HF_MAX_BATCH, HF_MAX_FDS, HF_RESERVED16,
	HF_RESERVED32,
};

struct hello_case {
	const char *what;
	enum hello_field field; /* good_hello with this field = value */
	uint32_t value;
	size_t send;            /* bytes the peer sends of it */
	unsigned attach;        /* descriptors that come along */
	int err;
};

static struct raw_hello
hello_with(enum hello_field f, uint32_t v)
{
	struct raw_hello h = good_hello;

	switch (f) {
	case HF_NONE: break;
	case HF_NFDS: h.nfds = (uint8_t)v; break;
	case HF_LEN: h.len = v; break;
	case HF_TYPE: h.type = v; break;
	case HF_PEERID: h.peerid = v; break;
	case HF_MIN_VERSION: h.min_version = (uint8_t)v; break;
	case HF_VERSIONS:
		h.min_version = (uint8_t)v;
		h.max_version = (uint8_t)(v >> 8);
		break;
	case HF_MAX_FRAME: h.max_frame = v; break;
	case HF_MAX_BATCH: h.max_batch = v; break;
	case HF_MAX_FDS: h.max_fds = v; break;
	case HF_RESERVED16: h.reserved16 = (uint16_t)v; break;
	case HF_RESERVED32: h.reserved32 = v; break;
	}
	return h;
}

static void
run_hello_case(int type, const struct hello_case *c)
{
	struct raw_hello r = hello_with(c->field, c->value);
	struct hostile h;
	uint8_t buf[64];

	memset(buf, 0, sizeof(buf));
	setup(&h, type, 2, 0, 0, 0);
	put_hello(buf, &r);
	peer_send(h.peer, buf, c->send, c->attach, NULL);
	/* Cut short by the end; or on a stream a descriptor the hello does
	 * not declare, ahead of a frame that never comes (THREATS 52). */
	if (type == SOCK_STREAM && (c->send < FDMSG_HELLO_SIZE ||
				    (c->field == HF_NONE && c->attach > 0)))
		peer_close(&h);
	reject(&h, c->what, c->err);
	teardown(&h);
}

/* Each rule of fdmsg_hello_decode, broken by a raw peer's first frame. */
TEST_ALL_TYPES(hostile, hello_rules)
{
	static const struct hello_case c[] = {
		{ "hello cut short", HF_NONE, 0, 30, 0, -EBADMSG },
		{ "hello with a descriptor", HF_NONE, 0, 40, 1, -EPROTO },
		{ "hello declaring a descriptor", HF_NFDS, 1, 40, 1,
		  -EPROTO },
		{ "hello 41 bytes long", HF_LEN, 41, 41, 0, -EBADMSG },
		{ "hello of len 0xffffffff", HF_LEN, 0xFFFFFFFFu, 40, 0,
		  -EBADMSG },
		{ "hello with a type", HF_TYPE, 1, 40, 0, -EBADMSG },
		{ "hello with a peerid", HF_PEERID, 1, 40, 0, -EBADMSG },
		{ "hello min_version 0", HF_MIN_VERSION, 0, 40, 0, -EBADMSG },
		{ "hello min_version above max", HF_MIN_VERSION, 2, 40, 0,
		  -EBADMSG },
		{ "hello max_frame 15", HF_MAX_FRAME, 15, 40, 0, -EBADMSG },
		{ "hello max_frame past the cap", HF_MAX_FRAME,
		  FDMSG_MAX_FRAME_CAP + 1, 40, 0, -EBADMSG },
		{ "hello max_batch below max_frame", HF_MAX_BATCH, 100, 40, 0,
		  -EBADMSG },
		{ "hello max_batch past the cap", HF_MAX_BATCH,
		  FDMSG_MAX_FRAME_CAP + 1, 40, 0, -EBADMSG },
		{ "hello max_fds 254", HF_MAX_FDS, 254, 40, 0, -EBADMSG },
		{ "hello reserved16 set", HF_RESERVED16, 1, 40, 0, -EBADMSG },
		{ "hello reserved32 set", HF_RESERVED32, 1, 40, 0, -EBADMSG },
		{ "hello speaking versions 2-3 only", HF_VERSIONS, 0x0302, 40,
		  0, -EPROTONOSUPPORT },
	};

	for (size_t i = 0; i < NELEM(c); i++)
		run_hello_case(type, &c[i]);
}

/* Unknown capability bits are ignored; a newer version range that still
 * holds version 1 is negotiated down to it. */
TEST_ALL_TYPES(hostile, hello_newer_peer_negotiated_down)
{
	struct raw_hello r = good_hello;
	struct fdmsg_peer_info info;
	struct hostile h;
	uint8_t buf[64];

	r.max_version = 9;
	r.caps = 0xFFFFFFF0u;
	setup(&h, type, 0, 0, 0, 0);
	put_hello(buf, &r);
	put_frame(buf + 40, 0, 1, 2, 8);
	peer_send(h.peer, buf, 64, 0, NULL);
	expect_frame(&h, "a frame after the hello", 1, 2, 8, 0, NULL);
	cr_assert_eq(fdmsg_peer_info(h.chan, &info), 0);
	cr_assert_eq(info.version, 1);
	cr_assert_eq(info.hello.max_version, 9);
	cr_assert_eq(info.hello.caps, 0xFFFFFFF0u);
	teardown(&h);
}

/* A hello only opens the peer's side: a second one, or one after an
 * application frame, is a header with an undefined flag. */
TEST_ALL_TYPES(hostile, hello_repeated_or_late_is_ebadmsg)
{
	struct hostile h;
	uint8_t buf[80];

	setup(&h, type, 0, 0, 0, 0);
	put_hello(buf, &good_hello);
	put_hello(buf + 40, &good_hello);
	peer_send(h.peer, buf, 40, 0, NULL);
	peer_send(h.peer, buf + 40, 40, 0, NULL);
	reject(&h, "a second hello", -EBADMSG);
	teardown(&h);

	setup(&h, type, 0, 0, 0, 0);
	put_frame(buf, 0, 1, 2, 0);
	put_hello(buf + 16, &good_hello);
	peer_send(h.peer, buf, 16, 0, NULL);
	peer_send(h.peer, buf + 16, 40, 0, NULL);
	expect_frame(&h, "the application frame", 1, 2, 0, 0, NULL);
	reject(&h, "a hello after it", -EBADMSG);
	teardown(&h);
}

/*
 * THREATS 39, seen from a pid namespace: a receiver in a child pid
 * namespace (a sandboxed daemon) gets pid 0 for every writer outside it,
 * so credentials cannot tell two writers apart; the pidfds of their reads
 * can.  Writer A sends a header and half the payload, writer B the rest;
 * the frame must be -EPROTO, never handed out with A's pidfd.  Writers
 * stay alive until the verdict.  Skipped where unshare is refused.
 */
static int
pidns_receiver(int sock, int ready, int go)
{
	struct fdmsg_chan *c;
	struct fdmsg_opts o;
	struct fdmsg_msg m;
	char x;
	int r;

	memset(&m, 0, sizeof(m));
	fdmsg_opts_init(&o);
	o.flags = FDMSG_OPT_PIDFD;
	if (fdmsg_chan_new(&c, sock, &o, 0) < 0)
		return 10;
	if (write(ready, "r", 1) != 1 || read(go, &x, 1) != 1)
		return 11;
	r = fdmsg_recv_wait(c, &m, 10000);
	if (r != -EPROTO) {
		dprintf(2, "pid namespace receiver: %d %s, type %u pidfd %d\n",
			r, ename(r), m.type, m.cred.pidfd);
		return 20;
	}
	fdmsg_chan_free(c);
	return 0;
}

static pid_t
pidns_writer(int sock, const uint8_t *p, size_t n, int done,
	     int quit)
{
	pid_t pid = fork();
	char x;

	/* A reads quit until the test closes it: alive till the verdict. */
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(write(sock, p, n) == (ssize_t)n &&
		      write(done, "w", 1) == 1 && read(quit, &x, 1) >= 0 ? 0 :
									  1);
	return pid;
}

TEST(hostile_creds, threat39_two_writers_seen_from_a_pid_namespace)
{
	int sv[2], ready[2], go[2], wrote[2], quit[2], status;
	uint8_t buf[24];
	pid_t r, a, b;
	char x;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(pipe2(ready, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(wrote, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(quit, O_CLOEXEC), 0);
	put_frame(buf, 0, 7, 9, 8);
	r = fork();
	cr_assert_geq(r, 0);
	if (r == 0) {
		pid_t g;

		if (unshare(CLONE_NEWPID) < 0)
			_exit(77);
		g = fork();
		if (g == 0) {
			int rc = pidns_receiver(sv[1], ready[1], go[0]);
			/* pid 1 of its namespace: a log checker cannot see
			 * it is a helper, so it leaves nothing of ours open. */
			int mine[] = { sv[0], sv[1], ready[0], ready[1], go[0],
				       go[1], wrote[0], wrote[1], quit[0],
				       quit[1] };

			for (size_t i = 0; i < NELEM(mine); i++)
				close(mine[i]);
			_exit(rc);
		}
		_exit(g > 0 && waitpid(g, &status, 0) == g && WIFEXITED(status) ?
			      WEXITSTATUS(status) : 30);
	}
	close(quit[0]);
	if (read(ready[0], &x, 1) != 1) {
		cr_assert_eq(waitpid(r, &status, 0), r);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
			cr_skip_test("unshare(CLONE_NEWPID) refused here");
		cr_assert_fail("pid namespace receiver died: %#x", status);
	}
	a = pidns_writer(sv[0], buf, 20, wrote[1], quit[0]);
	cr_assert_eq(read(wrote[0], &x, 1), 1);
	b = pidns_writer(sv[0], buf + 20, 4, wrote[1], quit[0]);
	cr_assert_eq(read(wrote[0], &x, 1), 1);
	cr_assert_eq(write(go[1], "g", 1), 1);
	cr_assert_eq(waitpid(r, &status, 0), r);
	close(quit[1]); /* the writers go */
	cr_assert_eq(waitpid(a, NULL, 0), a);
	cr_assert_eq(waitpid(b, NULL, 0), b);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "receiver in a pid namespace: status %#x", status);
	close(sv[0]);
	close(sv[1]);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
	close(wrote[0]);
	close(wrote[1]);
}
