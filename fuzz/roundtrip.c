/* SPDX-License-Identifier: ISC */
/*
 * Two channels on a socketpair: the input decides the frames (type,
 * peerid, payload, 0..3 descriptors of distinct files, iovec splits, send
 * flags) and the socket's configuration (type, a small SO_SNDBUF to force
 * queueing and short writes, limits).  The sender sends everything,
 * flushing and receiving in turn whenever the socket or the queue is full;
 * the receiver must get every frame, in order, equal to what went in, with
 * descriptors of the same files (st_dev/st_ino).  Valid traffic never
 * fails; no descriptor leaks per input.
 *
 * Input: [u8 cfg][u8 cfg2] then frames [u8 sel][u16 plen][u8 split][u8 n]
 * and n payload bytes.
 *   cfg:  bits0-1 type {seqpacket, stream, dgram, stream}; bit2 small
 *         SO_SNDBUF; bits3-4 max_frame {64, 512, 4096, 65536}; bits5-6
 *         max_fds {0, 1, 3, 8}; bit7 max_batch = 4 * max_frame
 *   cfg2: bits0-1 max_queue {max_frame, 4x, 64x, default}; bit2 lazy
 *         receiver; bit3 FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD; bit4 receive
 *         with fdmsg_recv_wait(0), bit5 flush with fdmsg_flush_wait(0);
 *         bit6 the sender greets (FDMSG_CHAN_HELLO) and both take the
 *         hellos first; bit7 the receiver's max_frame is 512 (mismatched
 *         limits: without a hello the sender keeps its frames within it,
 *         with one a larger frame must fail at fdmsg_send, -EMSGSIZE)
 *   sel:  bits0-1 nfds (at most max_fds), bit2 FDMSG_NO_QUEUE, bit3
 *         FDMSG_CLOSE_FDS, bit4 receive right after, bits5-7 type
 *   payload: plen % (max_frame - 15) bytes, the n given bytes repeated
 *         (an index pattern when n is 0), over split + 1 iovecs.
 */
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

#define RT_MAX_FRAMES 64
#define RT_POOL 4
#define RT_MAX_IOV 8
#define RT_MAX_STEPS 100000

/* Distinct files opened once: their identities are what must arrive. */
static int pool[RT_POOL] = { -1, -1, -1, -1 };
static struct stat pool_st[RT_POOL];

struct rt_frame {
	uint32_t type, peerid;
	size_t off, len;        /* payload in the expectation buffer */
	unsigned nfds;
	unsigned pool_idx[3];
};

struct rt {
	struct fdmsg_chan *tx, *rx;
	struct fdmsg_opts opts;
	struct fdmsg_opts rx_opts;
	int hello;              /* the hellos were exchanged */
	int type;
	uint8_t *payloads;
	size_t plen_total;
	struct rt_frame frames[RT_MAX_FRAMES];
	unsigned nframes;       /* sent (or queued) */
	unsigned nrecv;
	int use_wait_recv, use_wait_flush;
};

/* At exit, so a descriptor checker (valgrind --track-fds) sees none. */
static void
pool_close(void)
{
	int i;

	for (i = 0; i < RT_POOL; i++) {
		if (pool[i] >= 0)
			close(pool[i]);
		pool[i] = -1;
	}
}

static void
pool_open(void)
{
	int pfd[2];
	int i;

	if (pool[0] >= 0)
		return;
	pool[0] = memfd_create("fdmsg-fuzz-a", MFD_CLOEXEC);
	pool[1] = memfd_create("fdmsg-fuzz-b", MFD_CLOEXEC);
	/* Two pipes, not /dev/null (OSS-Fuzz's runners may lack it): a read
	 * end and a write end with inodes of their own. */
	FUZZ_CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	pool[2] = pfd[0];
	close(pfd[1]);
	FUZZ_CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	pool[3] = pfd[1];
	close(pfd[0]);
	for (i = 0; i < RT_POOL; i++) {
		FUZZ_CHECK(pool[i] >= 0);
		FUZZ_CHECK(fstat(pool[i], &pool_st[i]) == 0);
	}
	(void)atexit(pool_close);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	pool_open();
	return 0;
}

static void
check_frame(struct rt *t, struct fdmsg_msg *m)
{
	const struct rt_frame *f;
	struct stat st;
	unsigned i;
	int fl;

	FUZZ_CHECK(t->nrecv < t->nframes);
	f = &t->frames[t->nrecv];
	if (m->type != f->type || m->peerid != f->peerid ||
	    m->len != f->len || m->nfds != f->nfds) {
		fprintf(stderr, "frame %u: got type %u peerid %u len %zu "
			"nfds %u, sent %u %u %zu %u\n", t->nrecv, m->type,
			m->peerid, m->len, m->nfds, f->type, f->peerid,
			f->len, f->nfds);
		abort();
	}
	FUZZ_CHECK(m->len == 0 ||
		   memcmp(m->payload, t->payloads + f->off, m->len) == 0);
	for (i = 0; i < m->nfds; i++) {
		const struct stat *want = &pool_st[f->pool_idx[i]];

		FUZZ_CHECK(m->fds[i] > 2);
		fl = fcntl(m->fds[i], F_GETFD);
		FUZZ_CHECK(fl >= 0 && (fl & FD_CLOEXEC));
		FUZZ_CHECK(fstat(m->fds[i], &st) == 0);
		FUZZ_CHECK(st.st_dev == want->st_dev &&
			   st.st_ino == want->st_ino);
	}
	if (t->opts.flags & FDMSG_OPT_CREDS) {
		FUZZ_CHECK(m->has_cred == 1 && m->cred.pid == getpid() &&
			   m->cred.uid == getuid());
	}
	t->nrecv++;
}

/* Receives what is there; returns how many frames came. */
static unsigned
rt_recv(struct rt *t)
{
	struct fdmsg_msg m;
	unsigned got = 0;
	int r;

	memset(&m, 0, sizeof(m));
	for (;;) {
		if (t->use_wait_recv) {
			r = fdmsg_recv_wait(t->rx, &m, 0);
			if (r == -ETIMEDOUT)
				break;
		} else {
			r = fdmsg_recv(t->rx, &m);
		}
		if (r == -EAGAIN)
			break;
		if (r != 0) {
			fprintf(stderr, "fdmsg_recv on valid traffic: %d "
				"(%s) after %u of %u frames\n", r,
				fdmsg_strerror(r), t->nrecv, t->nframes);
			abort();
		}
		check_frame(t, &m);
		got++;
	}
	fdmsg_msg_release(&m);
	return got;
}

static int
rt_flush(struct rt *t)
{
	int r;

	if (t->use_wait_flush) {
		r = fdmsg_flush_wait(t->tx, 0);
		if (r == -ETIMEDOUT)
			r = -EAGAIN;
	} else {
		r = fdmsg_flush(t->tx);
	}
	if (r != 0 && r != -EAGAIN) {
		fprintf(stderr, "fdmsg_flush: %d (%s)\n", r, fdmsg_strerror(r));
		abort();
	}
	FUZZ_CHECK(fdmsg_want_write(t->tx) == (r == -EAGAIN));
	return r;
}

/* Sends frame f; retries after receiving and flushing while full.
 * 0: sent; -EMSGSIZE: refused for the receiver's hello (expected). */
static int
rt_send(struct rt *t, struct rt_frame *f, const struct iovec *iov,
	size_t iovcnt, unsigned flags)
{
	int fds[3], i, r;
	unsigned steps;

	for (steps = 0; steps < RT_MAX_STEPS; steps++) {
		for (i = 0; i < (int)f->nfds; i++) {
			fds[i] = pool[f->pool_idx[i]];
			if (flags & FDMSG_CLOSE_FDS) {
				/* The library closes these: give it dups. */
				fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
				FUZZ_CHECK(fds[i] >= 0);
			}
		}
		r = fdmsg_send(t->tx, f->type, f->peerid, iov, iovcnt, fds,
			       f->nfds, flags);
		if (r == 0)
			return 0;
		if (r == -EMSGSIZE && t->hello &&
		    f->len > t->rx_opts.max_frame - FDMSG_HDR_SIZE) {
			if (flags & FDMSG_CLOSE_FDS)
				for (i = 0; i < (int)f->nfds; i++)
					FUZZ_CHECK(fcntl(fds[i], F_GETFD) < 0);
			return r;
		}
		if (r != -EAGAIN && r != -ENOBUFS) {
			fprintf(stderr, "fdmsg_send of a valid frame: %d (%s)\n",
				r, fdmsg_strerror(r));
			abort();
		}
		if (r == -EAGAIN)
			FUZZ_CHECK(flags & FDMSG_NO_QUEUE);
		/* Make room: the peer reads, the queue drains. */
		(void)rt_recv(t);
		(void)rt_flush(t);
	}
	fprintf(stderr, "send never got through\n");
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int types[] = {
		SOCK_SEQPACKET, SOCK_STREAM, SOCK_DGRAM, SOCK_STREAM,
	};
	static const uint32_t frames[] = { 64, 512, 4096, 65536 };
	static const unsigned fdlim[] = { 0, 1, 3, 8 };
	struct fuzz_in in = { data, size };
	struct rt *t;
	struct iovec iov[RT_MAX_IOV];
	int sv[2], before, r;
	unsigned k, steps;
	uint8_t cfg, cfg2;
	size_t cap;

	pool_open();
	before = fuzz_fd_count();
	t = calloc(1, sizeof(*t));
	FUZZ_CHECK(t != NULL);

	cfg = in_u8(&in);
	cfg2 = in_u8(&in);
	t->type = types[cfg & 3];
	fdmsg_opts_init(&t->opts);
	t->opts.max_frame = frames[(cfg >> 3) & 3];
	/* A datagram longer than SO_SNDBUF - 32 cannot be sent at all. */
	if ((cfg & 4) && t->type != SOCK_STREAM && t->opts.max_frame > 4096)
		t->opts.max_frame = 4096;
	t->opts.max_fds = fdlim[(cfg >> 5) & 3];
	if ((cfg & 0x80) && t->type != SOCK_STREAM && !(cfg & 4) &&
	    t->opts.max_frame <= 16384)
		t->opts.max_batch = 4 * t->opts.max_frame;
	switch (cfg2 & 3) {
	case 0:
		t->opts.max_queue = t->opts.max_frame;
		break;
	case 1:
		t->opts.max_queue = 4 * (size_t)t->opts.max_frame;
		break;
	case 2:
		t->opts.max_queue = 64 * (size_t)t->opts.max_frame;
		break;
	default:
		break;
	}
	if (t->opts.max_queue < t->opts.max_frame)
		t->opts.max_queue = t->opts.max_frame;
	if (cfg2 & 8)
		t->opts.flags = FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD;
	t->rx_opts = t->opts;
	if ((cfg2 & 0x80) && t->opts.max_frame > 512) {
		t->rx_opts.max_frame = 512;
		t->rx_opts.max_batch = 0;
	}
	t->use_wait_recv = (cfg2 & 0x10) != 0;
	t->use_wait_flush = (cfg2 & 0x20) != 0;

	cap = RT_MAX_FRAMES * (size_t)t->opts.max_frame;
	if (cap > 2u * 1024 * 1024)
		cap = 2u * 1024 * 1024;
	t->payloads = malloc(cap);
	FUZZ_CHECK(t->payloads != NULL);

	for (;;) {
		FUZZ_CHECK(socketpair(AF_UNIX, t->type | SOCK_CLOEXEC, 0,
				      sv) == 0);
		if (cfg & 4) {
			int sndbuf = 1; /* the kernel's minimum, a few KiB */
			socklen_t sl = sizeof(sndbuf);

			FUZZ_CHECK(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF,
					      &sndbuf, sizeof(sndbuf)) == 0);
			FUZZ_CHECK(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF,
					      &sndbuf, &sl) == 0);
			/* A datagram must fit in SO_SNDBUF - 32 at all. */
			if (t->type != SOCK_STREAM)
				FUZZ_CHECK(t->opts.max_frame <=
					   (uint32_t)sndbuf - 64 &&
					   t->opts.max_batch <=
					   (uint32_t)sndbuf - 64);
		}
		/* The channel owns sv[0] from here, even on failure. */
		r = fdmsg_chan_new(&t->tx, sv[0], &t->opts,
				   FDMSG_CHAN_OWN_FD |
				   (cfg2 & 0x40 ? FDMSG_CHAN_HELLO : 0));
		if (r == -EOPNOTSUPP && (t->opts.flags & FDMSG_OPT_PIDFD)) {
			/* A kernel without SO_PASSPIDFD. */
			close(sv[1]);
			t->opts.flags &= ~FDMSG_OPT_PIDFD;
			t->rx_opts.flags &= ~FDMSG_OPT_PIDFD;
			continue;
		}
		break;
	}
	FUZZ_CHECK(r == 0);
	r = fdmsg_chan_new(&t->rx, sv[1], &t->rx_opts, FDMSG_CHAN_OWN_FD);
	FUZZ_CHECK(r == 0);
	if (cfg2 & 0x40) {
		struct fdmsg_peer_info info;
		struct fdmsg_msg m = { 0 };

		/* rx takes the hello and answers; tx takes the answer (on
		 * SOCK_DGRAM each waits in the queue for a flush). */
		FUZZ_CHECK(fdmsg_flush(t->tx) == 0);
		FUZZ_CHECK(fdmsg_recv(t->rx, &m) == -EAGAIN);
		FUZZ_CHECK(fdmsg_flush(t->rx) == 0);
		FUZZ_CHECK(fdmsg_recv(t->tx, &m) == -EAGAIN);
		FUZZ_CHECK(fdmsg_peer_info(t->tx, &info) == 0);
		FUZZ_CHECK(info.hello.max_frame == t->rx_opts.max_frame);
		FUZZ_CHECK(fdmsg_peer_info(t->rx, &info) == 0);
		FUZZ_CHECK(info.hello.max_frame == t->opts.max_frame);
		t->hello = 1;
	}

	for (k = 0; k < RT_MAX_FRAMES && in.n > 0; k++) {
		struct rt_frame *f = &t->frames[t->nframes];
		uint8_t sel = in_u8(&in);
		uint32_t lim = t->hello ? t->opts.max_frame :
					  t->rx_opts.max_frame;
		size_t plen = in_u16(&in) % (lim - 15);
		unsigned split = in_u8(&in) % RT_MAX_IOV, i;
		size_t n = in_u8(&in), got, off, piece;
		const uint8_t *src = in_bytes(&in, n, &got);
		unsigned flags = 0;

		if (plen > cap - t->plen_total)
			break;
		f->type = (uint32_t)(sel >> 5) * 0x01010101u + k;
		f->peerid = k * 7919u;
		f->off = t->plen_total;
		f->len = plen;
		for (i = 0; i < plen; i++)
			t->payloads[f->off + i] = got ? src[i % got] :
							(uint8_t)(i * 31 + k);
		t->plen_total += plen;
		f->nfds = sel & 3;
		if (f->nfds > t->opts.max_fds)
			f->nfds = t->opts.max_fds;
		for (i = 0; i < f->nfds; i++)
			f->pool_idx[i] = (k + i) % RT_POOL;
		if (sel & 4)
			flags |= FDMSG_NO_QUEUE;
		if (sel & 8)
			flags |= FDMSG_CLOSE_FDS;

		/* split + 1 iovecs over the payload, some of them empty. */
		if (split > plen + 1)
			split = (unsigned)plen + 1;
		off = 0;
		for (i = 0; i <= split && i < RT_MAX_IOV; i++) {
			piece = i == split ? plen - off :
				(plen - off) / (split + 1 - i) + (i & 1);
			if (piece > plen - off)
				piece = plen - off;
			iov[i].iov_base = t->payloads + f->off + off;
			iov[i].iov_len = piece;
			off += piece;
		}
		FUZZ_CHECK(off == plen);
		if (rt_send(t, f, plen == 0 && (sel & 0x10) ? NULL : iov,
			    plen == 0 && (sel & 0x10) ? 0 : i, flags) < 0) {
			t->plen_total -= plen; /* refused: never sent */
			continue;
		}
		t->nframes++;
		if ((sel & 0x10) || !(cfg2 & 4))
			(void)rt_recv(t);
	}

	/* Everything out, everything in. */
	for (steps = 0; steps < RT_MAX_STEPS; steps++) {
		r = rt_flush(t);
		(void)rt_recv(t);
		if (r == 0 && t->nrecv == t->nframes)
			break;
	}
	if (t->nrecv != t->nframes) {
		fprintf(stderr, "received %u of %u frames\n", t->nrecv,
			t->nframes);
		abort();
	}
	FUZZ_CHECK(fdmsg_want_write(t->tx) == 0);
	if (fuzz_debug())
		fprintf(stderr, "type %d max_frame %u max_fds %u max_queue "
			"%zu: %u frames, %zu payload bytes, %u steps\n",
			t->type, t->opts.max_frame, t->opts.max_fds,
			t->opts.max_queue, t->nframes, t->plen_total, steps);

	fdmsg_chan_free(t->tx);
	fdmsg_chan_free(t->rx);
	free(t->payloads);
	free(t);
	if (fuzz_fd_count() != before) {
		fprintf(stderr, "descriptor leak: %d before, %d after\n",
			before, fuzz_fd_count());
		abort();
	}
	return 0;
}
