/* SPDX-License-Identifier: ISC */
/*
 * The body of the seqpacket and stream targets: a raw peer on a real
 * socketpair writes a script of chunks (bytes plus descriptors of one memfd)
 * and a channel drains them with fdmsg_recv.  Every frame handed out must
 * be the next frame of what the peer wrote (header valid under the
 * channel's limits, same type, peerid, payload and descriptor count), each
 * descriptor that memfd, above stdio and close-on-exec; an error must stick;
 * -EPIPE only once every whole frame before the end was delivered; and the
 * process's descriptor count is the same after every input.
 *
 * Input: [u8 cfg][u8 cfg2] then chunks [u16 len][u8 nfds % 5][len bytes]
 * (len 0xffff means 65536).
 *   cfg:  bits0-2 max_fds {0,1,2,3,4,7,16,253}; bits3-4 max_frame
 *         {65536, 16, 64, 4096}; bit5 max_batch = 4 * max_frame
 *   cfg2: bit0 FDMSG_OPT_CREDS, bit1 FDMSG_OPT_PIDFD, bit2 take some
 *         descriptors, bit3 release some messages early, bits4-5 the end
 *         {peer stays open, peer SHUT_WR, peer closes, fdmsg_shutdown},
 *         bit6 SOCK_DGRAM instead of SOCK_SEQPACKET (seqpacket target
 *         only), bit7 the channel first sends the peer a frame it never
 *         reads (so that the peer's close is a reset)
 */
#ifndef FDMSG_FUZZ_PEER_H
#define FDMSG_FUZZ_PEER_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fdmsg.h"
#include "fuzz.h"
#include "why.h"

#define PEER_MAX_CHUNKS 128
#define PEER_MAX_WIRE (256u * 1024u)
#define PEER_MAX_FDS_PER_CHUNK 4

struct peer {
	int type;
	int sock;               /* the raw peer's end */
	struct fdmsg_chan *ch;
	struct fdmsg_opts opts;
	unsigned cfg2;
	uint8_t *wire;          /* every byte the peer got written */
	size_t wlen;
	size_t cur;             /* start of the next frame expected */
	size_t eof_at;          /* datagrams: bytes before an empty one */
	int eof_sent;
	int last;               /* last fdmsg_recv result */
	int stuck;              /* the channel stopped reading */
	unsigned nmsg;
};

/* The descriptor the peer passes: a memfd of its own (not /dev/null, which
 * OSS-Fuzz's runners may lack, and which anything else could be too). */
static int peer_memfd = -1;
static struct stat peer_memfd_st;

/* At exit, so a descriptor checker (valgrind --track-fds) sees none. */
static void
peer_teardown(void)
{
	if (peer_memfd >= 0)
		close(peer_memfd);
	peer_memfd = -1;
}

static void
peer_setup(void)
{
	if (peer_memfd >= 0)
		return;
	peer_memfd = memfd_create("fdmsg-fuzz-peer", MFD_CLOEXEC);
	FUZZ_CHECK(peer_memfd >= 0);
	FUZZ_CHECK(fstat(peer_memfd, &peer_memfd_st) == 0);
	(void)atexit(peer_teardown);
}

static int
peer_expected_err(int r)
{
	return r == -EAGAIN || r == -EPIPE || r == -EBADMSG ||
	       r == -EMSGSIZE || r == -EPROTO || r == -ESHUTDOWN ||
	       r == -EPROTONOSUPPORT; /* a hello without version 1 */
}

/* A received descriptor: the peer's memfd, above stdio, close-on-exec. */
static void
peer_check_fd(int fd)
{
	struct stat st;
	int fl;

	FUZZ_CHECK(fd > 2);
	fl = fcntl(fd, F_GETFD);
	FUZZ_CHECK(fl >= 0 && (fl & FD_CLOEXEC));
	FUZZ_CHECK(fstat(fd, &st) == 0);
	FUZZ_CHECK(st.st_dev == peer_memfd_st.st_dev &&
		   st.st_ino == peer_memfd_st.st_ino);
}

/* A valid hello opening what the peer wrote is the channel's own: taken,
 * never handed out.  The model steps over it once it was written. */
static void
peer_skip_hello(struct peer *p)
{
	struct fdmsg_hello hello;

	if (p->nmsg == 0 && p->cur == 0 &&
	    fdmsg_hello_decode(p->wire, p->wlen, &hello) == FDMSG_HELLO_SIZE &&
	    hello.min_version <= FDMSG_WIRE_VERSION &&
	    hello.max_version >= FDMSG_WIRE_VERSION)
		p->cur = FDMSG_HELLO_SIZE;
}

static void
peer_check_msg(struct peer *p, struct fdmsg_msg *m)
{
	struct fdmsg_hdr h;
	size_t avail;
	unsigned i;
	int fd;

	peer_skip_hello(p);
	avail = p->wlen - p->cur;
	/* The next frame of what was written, valid under the limits. */
	FUZZ_CHECK(fdmsg_hdr_decode(p->wire + p->cur, avail,
				    p->opts.max_frame, p->opts.max_fds,
				    &h) == FDMSG_HDR_SIZE);
	FUZZ_CHECK(h.len <= avail);
	if (p->eof_sent)
		FUZZ_CHECK(p->cur + h.len <= p->eof_at);
	FUZZ_CHECK(m->type == h.type && m->peerid == h.peerid);
	FUZZ_CHECK(m->len == h.len - FDMSG_HDR_SIZE);
	FUZZ_CHECK(m->len == 0 ||
		   memcmp(m->payload, p->wire + p->cur + FDMSG_HDR_SIZE,
			  m->len) == 0);
	FUZZ_CHECK(m->nfds == h.nfds);
	for (i = 0; i < m->nfds; i++)
		peer_check_fd(m->fds[i]);
	if (p->opts.flags & FDMSG_OPT_CREDS) {
		FUZZ_CHECK(m->has_cred == 1);
		FUZZ_CHECK(m->cred.pid == getpid() && m->cred.uid == getuid() &&
			   m->cred.gid == getgid());
	}
	if (m->cred.pidfd >= 0) {
		FUZZ_CHECK(p->opts.flags & FDMSG_OPT_PIDFD);
		FUZZ_CHECK(m->cred.pidfd > 2);
	}
	p->cur += h.len;
	p->nmsg++;

	/* Ownership: take some, leave the rest to release / next recv. */
	if ((p->cfg2 & 4) && m->nfds > 0) {
		i = p->nmsg % m->nfds;
		fd = fdmsg_msg_take_fd(m, i);
		FUZZ_CHECK(fd > 2);
		FUZZ_CHECK(fdmsg_msg_take_fd(m, i) == -EBADF);
		close(fd);
	}
	if ((p->cfg2 & 4) && (p->nmsg & 1)) {
		fd = fdmsg_msg_take_pidfd(m);
		if (fd >= 0)
			close(fd);
		else
			FUZZ_CHECK(fd == -EBADF);
	}
	FUZZ_CHECK(fdmsg_msg_take_fd(m, m->nfds) == -EBADF);
	if ((p->cfg2 & 8) && (p->nmsg & 2)) {
		fdmsg_msg_release(m);
		fdmsg_msg_release(m);
	}
}

/* Receives until the channel has nothing more; returns the last result. */
static int
peer_drain(struct peer *p)
{
	struct fdmsg_error_info why;
	struct fdmsg_msg m;
	size_t i, bound = p->wlen / FDMSG_HDR_SIZE + 4;
	int r = -EAGAIN;

	memset(&m, 0, sizeof(m));
	for (i = 0; i <= bound; i++) {
		r = fdmsg_recv(p->ch, &m);
		if (r == 0) {
			peer_check_msg(p, &m);
			continue;
		}
		if (!peer_expected_err(r)) {
			fprintf(stderr, "fdmsg_recv: unexpected %d\n", r);
			abort();
		}
		/* A rejection names its rule; the end and -EAGAIN none. */
		FUZZ_CHECK(fdmsg_chan_error(p->ch, &why) == why.err);
		fuzz_check_why(&why, r == -EAGAIN || r == -EPIPE ||
				     r == -ESHUTDOWN ? 0 : r);
		if (r == -EAGAIN && p->type == SOCK_STREAM) {
			unsigned nfds;

			/* Descriptors ahead of their frames: at most max_fds
			 * beyond the partial frame's (DESIGN.md). */
			FUZZ_CHECK(fdmsg_recv_pending(p->ch, NULL, &nfds) >= 0);
			FUZZ_CHECK(nfds <= 2 * p->opts.max_fds);
		}
		if (r != -EAGAIN) {
			/* Sticky: poison, and the end too. */
			FUZZ_CHECK(fdmsg_recv(p->ch, &m) == r);
			if (r == -EPIPE)
				peer_skip_hello(p);
			if (r == -EPIPE)
				FUZZ_CHECK(p->cur ==
					   (p->eof_sent ? p->eof_at : p->wlen));
		}
		break;
	}
	/* Never more frames than whole headers were written. */
	FUZZ_CHECK(i <= bound);
	fdmsg_msg_release(&m);
	p->last = r;
	return r;
}

/* One sendmsg from the peer; returns bytes written or -errno. */
static ssize_t
peer_sendmsg(struct peer *p, const uint8_t *b, size_t n, unsigned nfds)
{
	return fuzz_sendmsg_fds(p->sock, b, n, peer_memfd, nfds,
				MSG_DONTWAIT);
}

static void
peer_log(struct peer *p, const uint8_t *b, size_t n)
{
	memcpy(p->wire + p->wlen, b, n);
	p->wlen += n;
}

/* Writes one chunk, draining the channel whenever the socket is full. */
static void
peer_chunk(struct peer *p, const uint8_t *b, size_t n, unsigned nfds)
{
	unsigned tries = 0;
	ssize_t r;

	if (p->stuck || n > PEER_MAX_WIRE - p->wlen)
		return;
	if (p->type != SOCK_STREAM && p->eof_sent)
		return; /* the channel has ended: nobody reads on */
	if (p->type == SOCK_STREAM && n == 0) {
		/* The kernel drops a zero-length stream write's descriptors:
		 * nothing arrives, and the channel must not care. */
		(void)peer_sendmsg(p, b, 0, nfds);
		return;
	}
	while (n > 0 || p->type != SOCK_STREAM) {
		r = peer_sendmsg(p, b, n, nfds);
		if (r == -EPERM || r == -ETOOMANYREFS) {
			/* SO_PASSRIGHTS off (max_fds 0): send the bytes bare. */
			FUZZ_CHECK(nfds > 0);
			nfds = 0;
			continue;
		}
		if (r == -EAGAIN || r == -ENOBUFS) {
			if (++tries > 8 || peer_drain(p) != -EAGAIN) {
				p->stuck = 1;
				return;
			}
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "peer sendmsg: %d\n", (int)r);
			abort();
		}
		if (p->type != SOCK_STREAM) {
			FUZZ_CHECK((size_t)r == n);
			if (n == 0 && !p->eof_sent) {
				p->eof_sent = 1;
				p->eof_at = p->wlen;
			}
			peer_log(p, b, n);
			return;
		}
		/* Stream: the descriptors went with the first byte. */
		peer_log(p, b, (size_t)r);
		b += r;
		n -= (size_t)r;
		nfds = 0;
		tries = 0;
	}
}

/* A chunk's length: 0xffff stands for 65536, so that one datagram can be
 * a frame of the largest max_frame. */
static size_t
peer_chunk_len(struct fuzz_in *in)
{
	size_t n = in_u16(in);

	return n == 0xffff ? 0x10000 : n;
}

static int
peer_run(int type, const uint8_t *data, size_t size)
{
	static const unsigned fdlim[] = { 0, 1, 2, 3, 4, 7, 16, 253 };
	static const uint32_t frames[] = { 65536, 16, 64, 4096 };
	struct fuzz_in in = { data, size };
	struct peer p;
	int sv[2], before, r, end;
	unsigned k;
	uint8_t cfg, cfg2;

	peer_setup();
	before = fuzz_fd_count();

	memset(&p, 0, sizeof(p));
	cfg = in_u8(&in);
	cfg2 = in_u8(&in);
	p.cfg2 = cfg2;
	p.type = type;
	if (type == SOCK_SEQPACKET && (cfg2 & 0x40))
		p.type = SOCK_DGRAM;
	fdmsg_opts_init(&p.opts);
	p.opts.max_fds = fdlim[cfg & 7];
	p.opts.max_frame = frames[(cfg >> 3) & 3];
	if (p.type != SOCK_STREAM && (cfg & 0x20))
		p.opts.max_batch = 4 * p.opts.max_frame;
	if (p.opts.max_queue < p.opts.max_frame)
		p.opts.max_queue = p.opts.max_frame;
	p.opts.flags = (cfg2 & 1 ? FDMSG_OPT_CREDS : 0) |
		       (cfg2 & 2 ? FDMSG_OPT_PIDFD : 0);

	p.wire = malloc(PEER_MAX_WIRE);
	FUZZ_CHECK(p.wire != NULL);
	FUZZ_CHECK(socketpair(AF_UNIX, p.type | SOCK_CLOEXEC, 0, sv) == 0);
	p.sock = sv[1];
	r = fdmsg_chan_new(&p.ch, sv[0], &p.opts, FDMSG_CHAN_OWN_FD);
	if (r == -EOPNOTSUPP && (p.opts.flags & FDMSG_OPT_PIDFD)) {
		/* A kernel without SO_PASSPIDFD. */
		p.opts.flags &= ~FDMSG_OPT_PIDFD;
		FUZZ_CHECK(socketpair(AF_UNIX, p.type | SOCK_CLOEXEC, 0,
				      sv) == 0);
		r = fdmsg_chan_new(&p.ch, sv[0], &p.opts, FDMSG_CHAN_OWN_FD);
		close(p.sock);
		p.sock = sv[1];
	}
	if (r != 0) {
		fprintf(stderr, "fdmsg_chan_new: %d\n", r);
		abort();
	}
	/* The peer never blocks the harness: the socket goes non-blocking. */
	FUZZ_CHECK(fcntl(p.sock, F_SETFL, O_NONBLOCK) == 0);
	p.last = -EAGAIN;
	if (cfg2 & 0x80) {
		/* Header only: within every max_frame. */
		FUZZ_CHECK(fdmsg_send(p.ch, 7, 7, NULL, 0, NULL, 0, 0) == 0);
	}

	for (k = 0; k < PEER_MAX_CHUNKS && in.n > 0; k++) {
		size_t want = peer_chunk_len(&in), got;
		unsigned nfds = in_u8(&in) % (PEER_MAX_FDS_PER_CHUNK + 1);
		const uint8_t *b = in_bytes(&in, want, &got);

		peer_chunk(&p, b, got, nfds);
		/* Sometimes read as it goes, so writes and reads interleave. */
		if (!p.stuck && (nfds & 1))
			(void)peer_drain(&p);
	}

	end = (cfg2 >> 4) & 3;
	if (end == 1) {
		(void)shutdown(p.sock, SHUT_WR);
	} else if (end == 2) {
		close(p.sock);
		p.sock = -1;
	}
	if (end == 3) {
		/* Shut down from our side: a sticky -ESHUTDOWN, unless the
		 * channel had already failed or ended. */
		int before_err = p.last;

		FUZZ_CHECK(fdmsg_shutdown(p.ch) == 0);
		r = peer_drain(&p);
		FUZZ_CHECK(r == -ESHUTDOWN ||
			   (before_err != -EAGAIN && r == before_err));
	} else {
		r = peer_drain(&p);
	}
	/* The end was written: the channel must reach a verdict.  (A
	 * SOCK_DGRAM peer's shutdown or close does not reach the other end:
	 * only an empty datagram does.) */
	if ((end != 0 && p.type != SOCK_DGRAM && !p.stuck) || p.eof_sent)
		FUZZ_CHECK(r != -EAGAIN);

	if (fuzz_debug())
		fprintf(stderr, "%s max_fds %u max_frame %u: wrote %zu, "
			"%u frames (%zu bytes), last %d (%s)%s\n",
			p.type == SOCK_STREAM ? "stream" :
			p.type == SOCK_DGRAM ? "dgram" : "seqpacket",
			p.opts.max_fds, p.opts.max_frame, p.wlen, p.nmsg,
			p.cur, r, fdmsg_strerror(r), p.stuck ? " stuck" : "");
	fdmsg_chan_free(p.ch);
	if (p.sock >= 0)
		close(p.sock);
	free(p.wire);
	/* Every descriptor that arrived is closed: none leaked. */
	if (fuzz_fd_count() != before) {
		fprintf(stderr, "descriptor leak: %d before, %d after\n",
			before, fuzz_fd_count());
		abort();
	}
	return 0;
}

#endif
