/* SPDX-License-Identifier: ISC */
/*
 * fdmsg-imsg against the classic imsg (built from -Dimsg_reference, its
 * names renamed stock_*), two ways; the first input byte picks one.
 *
 * Raw (even): the same byte stream and descriptors, write by write, go to
 * two socketpairs; the classic reader takes one, fdmsg-imsg's the other,
 * reading and draining at the same points.  Checked:
 *  - every message fdmsg-imsg hands out is the classic reader's message
 *    at the same index: header, data, and the same file (inode) or none;
 *  - where the classic reader stops at a header with a bad len (ERANGE),
 *    fdmsg-imsg has stopped by then with an error, ERANGE if at that very
 *    message;
 *  - fdmsg-imsg's EBADMSG is a header with a flag the classic code does
 *    not define;
 *  - fdmsg-imsg's other refusals (EPROTO) are where the classic reader is
 *    unsafe: descriptors it matched by count alone (docs: fdmsg_imsg(3));
 *  - every descriptor fdmsg-imsg hands out is close-on-exec and above 2,
 *    and once both are cleared the process holds what it held before.
 * Conforming (odd): the classic *sender* (imsg_compose, with or without a
 * descriptor, and msgbuf_write through a small SO_SNDBUF, so its writes
 * are partial and its descriptors run ahead of their messages) feeds
 * fdmsg-imsg's reader, reading at the input's chosen points: every
 * message arrives exactly as composed, with its own descriptor, and
 * nothing is ever refused.
 *
 * Raw input, after the mode byte: ops of [u8 op] ...
 *   0: header  [u8 flags][u16 len][u8 type]      16 bytes, one write
 *   1: bytes   [u8 n][n bytes]                   one write
 *   2: fill    [u16 n][u8 v]                     n bytes of v, one write
 *   3: read    both readers read once and drain
 * with op bits 4-5 the descriptors sent with the write (0-3).
 * Conforming input: ops [u8 op]: 0 compose [u16 len][u8 hasfd], 1 write,
 * 2 read, 3 write and read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "imsg.h"
#include "imsg_int.h"
#include "stock_imsg.h"

#define MAX_MSGS 512
#define MAX_WRITES 128
#define MAX_STREAM (128 * 1024)	/* well within both sockets' buffers */

struct rec {
	struct imsg_hdr hdr;
	uint32_t sum;	/* of the data */
	ino_t ino;	/* 0: no descriptor */
};

struct side {
	struct imsgbuf ib;
	struct rec m[MAX_MSGS];
	size_t n;
	int err;	/* errno of the first -1; 0 none */
	int stock;
};

static unsigned char pattern[MAX_IMSGSIZE];

static uint32_t
sum(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t h = 2166136261u;

	while (n-- > 0)
		h = (h ^ *b++) * 16777619u;
	return h;
}

static ino_t
ino_of(int fd)
{
	struct stat st;

	FUZZ_CHECK(fstat(fd, &st) == 0);
	return st.st_ino;
}

static void
nonblock(int fd)
{
	FUZZ_CHECK(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
}

/* Reads once (unless stopped) and takes every whole message. */
static void
step(struct side *s, int do_read)
{
	struct imsg m;
	ssize_t n;

	if (s->err != 0)
		return;
	if (do_read) {
		n = s->stock ? stock_imsg_read(&s->ib) : imsg_read(&s->ib);
		if (n == -1 && errno != EAGAIN) {
			s->err = errno;
			return;
		}
	}
	for (;;) {
		n = s->stock ? stock_imsg_get(&s->ib, &m) : imsg_get(&s->ib, &m);
		if (n == 0)
			return;
		if (n == -1) {
			s->err = errno;
			return;
		}
		FUZZ_CHECK(n == m.hdr.len);
		if (s->n < MAX_MSGS) {
			s->m[s->n].hdr = m.hdr;
			s->m[s->n].sum = sum(m.data, m.hdr.len - IMSG_HEADER_SIZE);
			s->m[s->n].ino = m.fd >= 0 ? ino_of(m.fd) : 0;
		}
		s->n++;
		if (m.fd >= 0) {
			if (!s->stock) {
				FUZZ_CHECK(m.fd > 2);
				FUZZ_CHECK(fcntl(m.fd, F_GETFD) & FD_CLOEXEC);
			}
			close(m.fd);
		}
		if (s->stock)
			stock_imsg_free(&m);
		else
			imsg_free(&m);
	}
}

/* What the raw writes were: where each began in the stream, and the
 * file of its first descriptor. */
static struct {
	uint64_t start;
	ino_t ino;
	int nfds;
} wr[MAX_WRITES];
static size_t nwr;
static uint64_t woff;
static int diverged;

/* One write of buf[0..n) with nfds fresh pipes (the same files to both). */
static int
send_both(int a, int b, const void *buf, size_t n, int nfds)
{
	struct iovec iov = { (void *)buf, n };
	int fds[3], p[2], i, ok = 1;
	ssize_t ra, rb;

	if (n == 0)
		return 1;
	if (woff + n > MAX_STREAM)
		return 0;
	for (i = 0; i < nfds; i++) {
		FUZZ_CHECK(pipe(p) == 0);
		close(p[1]);
		fds[i] = p[0];
	}
	/* Whole writes only: a socket too full ends the input, and if the
	 * two took different amounts their streams differ from there. */
	ra = fdmsg_imsg_sendfds(a, &iov, 1, fds, (unsigned)nfds, MSG_DONTWAIT);
	rb = fdmsg_imsg_sendfds(b, &iov, 1, fds, (unsigned)nfds, MSG_DONTWAIT);
	if (ra != (ssize_t)n || rb != (ssize_t)n) {
		ok = 0;
		if (ra != rb)
			diverged = 1;
	}
	if (ok && nwr < MAX_WRITES) {
		wr[nwr].start = woff;
		wr[nwr].ino = nfds > 0 ? ino_of(fds[0]) : 0;
		wr[nwr].nfds = nfds;
		nwr++;
		woff += n;
	}
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	return ok;
}

/*
 * Whether the classic reader matched a descriptor by count alone where
 * the stream says otherwise, from message k on: a read with more than one
 * descriptor (it keeps the first, closes the rest, and the count slips),
 * more descriptors than fdmsg-imsg lets wait, or a flagged message that
 * got none (-1) or one whose write began after the message did.
 */
static int
stock_unsafe(const struct side *st, size_t k)
{
	uint64_t off = 0;
	size_t i, j, fds = 0;

	for (i = 0; i < nwr; i++) {
		if (wr[i].nfds > 1)
			return 1;
		fds += (size_t)wr[i].nfds;
	}
	if (fds > IMSG_PEND_MAX)
		return 1;
	for (j = 0; j < st->n && j < MAX_MSGS; off += st->m[j].hdr.len, j++) {
		if (j < k || !(st->m[j].hdr.flags & IMSGF_HASFD))
			continue;
		if (st->m[j].ino == 0)
			return 1;
		for (i = 0; i < nwr; i++)
			if (wr[i].ino == st->m[j].ino && wr[i].start > off)
				return 1;
	}
	return 0;
}

static void
raw(struct fuzz_in *in)
{
	static struct side st, fm;
	unsigned char buf[256], h[16];
	int sa[2], sb[2], nfds, writes = 0, i, ok = 1;
	struct imsg_hdr hdr;
	uint8_t op;
	size_t n, k;

	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sa) == 0);
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sb) == 0);
	nonblock(sa[1]);
	nonblock(sb[1]);
	memset(&st, 0, sizeof(st));
	memset(&fm, 0, sizeof(fm));
	nwr = 0;
	woff = 0;
	diverged = 0;
	st.stock = 1;
	stock_imsg_init(&st.ib, sa[1]);
	imsg_init(&fm.ib, sb[1]);
	while (in->n > 0 && ok && writes++ < MAX_WRITES) {
		op = in_u8(in);
		nfds = (op >> 4) & 3;
		switch (op & 3) {
		case 0:
			memset(&hdr, 0, sizeof(hdr));
			hdr.flags = in_u8(in);
			hdr.len = in_u16(in);
			hdr.type = in_u8(in);
			hdr.pid = 7;
			memcpy(h, &hdr, sizeof(h));
			ok = send_both(sa[0], sb[0], h, sizeof(h), nfds);
			break;
		case 1:
			n = in_u8(in);
			for (k = 0; k < n; k++)
				buf[k] = in_u8(in);
			ok = send_both(sa[0], sb[0], buf, n, nfds);
			break;
		case 2:
			n = in_u16(in) % (MAX_IMSGSIZE + 1);
			memset(pattern, in_u8(in), n);
			ok = send_both(sa[0], sb[0], pattern, n, nfds);
			break;
		default:
			step(&st, 1);
			step(&fm, 1);
			break;
		}
	}
	close(sa[0]);
	close(sb[0]);
	/* Everything left, up to the end of each stream. */
	for (i = 0; i < 16; i++) {
		step(&st, 1);
		step(&fm, 1);
	}

	if (fuzz_debug())
		fprintf(stderr, "raw: stock %zu msgs err %d, fdmsg %zu err %d\n",
		    st.n, st.err, fm.n, fm.err);
	if (diverged)
		goto out;
	/* fdmsg-imsg's messages are the classic reader's. */
	FUZZ_CHECK(fm.n <= st.n || st.err == ERANGE);
	for (k = 0; k < fm.n && k < st.n && k < MAX_MSGS; k++) {
		FUZZ_CHECK(memcmp(&fm.m[k].hdr, &st.m[k].hdr,
		    sizeof(fm.m[k].hdr)) == 0);
		FUZZ_CHECK(fm.m[k].sum == st.m[k].sum);
		FUZZ_CHECK(fm.m[k].ino == st.m[k].ino);
	}
	FUZZ_CHECK(fm.n <= st.n);
	if (st.err == ERANGE)
		FUZZ_CHECK(fm.err != 0);
	if (fm.err == ERANGE)
		FUZZ_CHECK(st.err == ERANGE && st.n == fm.n);
	if (fm.err == EBADMSG) {
		memcpy(&hdr, fm.ib.r.buf, sizeof(hdr));
		FUZZ_CHECK(hdr.flags & ~IMSGF_HASFD);
	}
	/* EPROTO only where the classic reader was unsafe. */
	FUZZ_CHECK(fm.err == 0 || fm.err == ERANGE || fm.err == EBADMSG ||
	    fm.err == EPROTO);
	if (fm.err == EPROTO)
		FUZZ_CHECK(stock_unsafe(&st, fm.n));
out:
	stock_imsg_clear(&st.ib);
	imsg_clear(&fm.ib);
	close(sa[1]);
	close(sb[1]);
}

static void
conforming(struct fuzz_in *in)
{
	static struct side fm;
	static struct rec want[MAX_MSGS];
	struct imsgbuf tx;
	size_t nwant = 0, len;
	int sv[2], p[2], fd, sndbuf = 1, i, ops = 0;
	uint8_t op;

	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	nonblock(sv[0]);
	nonblock(sv[1]);
	/* The smallest send buffer: writes come out partial. */
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	memset(&fm, 0, sizeof(fm));
	stock_imsg_init(&tx, sv[0]);
	imsg_init(&fm.ib, sv[1]);
	while (in->n > 0 && ops++ < MAX_WRITES) {
		op = in_u8(in);
		switch (op & 3) {
		case 0:
			if (nwant == MAX_MSGS || tx.w.queued >= IMSG_PEND_MAX / 2)
				break;
			len = in_u16(in) % (MAX_IMSGSIZE - IMSG_HEADER_SIZE + 1);
			fd = -1;
			want[nwant].ino = 0;
			if (in_u8(in) & 1) {
				FUZZ_CHECK(pipe(p) == 0);
				close(p[1]);
				fd = p[0];
				want[nwant].ino = ino_of(fd);
			}
			want[nwant].hdr.len = (uint16_t)(len + IMSG_HEADER_SIZE);
			want[nwant].hdr.type = (uint32_t)nwant;
			want[nwant].sum = sum(pattern, len);
			FUZZ_CHECK(stock_imsg_compose(&tx, (uint32_t)nwant, 3, 0,
			    fd, pattern, (uint16_t)len) == 1);
			nwant++;
			break;
		case 1:
			if (tx.w.queued > 0)
				(void)stock_msgbuf_write(&tx.w);
			break;
		case 2:
			step(&fm, 1);
			break;
		default:
			if (tx.w.queued > 0)
				(void)stock_msgbuf_write(&tx.w);
			step(&fm, 1);
			break;
		}
		if (fm.err != 0 && fuzz_debug())
			fprintf(stderr, "conforming: %s after %zu of %zu\n",
			    strerror(fm.err), fm.n, nwant);
		FUZZ_CHECK(fm.err == 0);
	}
	for (i = 0; i < 100000 && fm.n < nwant; i++) {
		if (tx.w.queued > 0 && stock_msgbuf_write(&tx.w) == -1)
			FUZZ_CHECK(errno == EAGAIN);
		step(&fm, 1);
		FUZZ_CHECK(fm.err == 0);
	}
	FUZZ_CHECK(fm.n == nwant);
	for (i = 0; (size_t)i < nwant; i++) {
		FUZZ_CHECK(fm.m[i].hdr.type == want[i].hdr.type);
		FUZZ_CHECK(fm.m[i].hdr.len == want[i].hdr.len);
		FUZZ_CHECK(fm.m[i].hdr.flags == (want[i].ino ? IMSGF_HASFD : 0));
		FUZZ_CHECK(fm.m[i].sum == want[i].sum);
		FUZZ_CHECK(fm.m[i].ino == want[i].ino);
	}
	stock_imsg_clear(&tx);
	imsg_clear(&fm.ib);
	close(sv[0]);
	close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	int before = fuzz_fd_count(), i;

	if (pattern[1] == 0)
		for (i = 0; i < MAX_IMSGSIZE; i++)
			pattern[i] = (unsigned char)(i * 31 + 1);
	if (in_u8(&in) & 1)
		conforming(&in);
	else
		raw(&in);
	FUZZ_CHECK(fuzz_fd_count() == before);
	return 0;
}
