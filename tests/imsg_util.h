/* SPDX-License-Identifier: ISC */
/* Helpers of the fdmsg-imsg suites: socketpairs, marked descriptors, raw
 * writes, and draining an imsgbuf. */
#ifndef FDMSG_IMSG_UTIL_H
#define FDMSG_IMSG_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "imsg.h"
#include "imsg_int.h"
#include "testutil.h"

/* A stream socketpair; both ends non-blocking when nb. */
static inline void
imsg_pair(int sv[2], int nb)
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	if (nb) {
		cr_assert_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
		cr_assert_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	}
}

/* A descriptor that can be told apart: a pipe's read end (its write end
 * is closed); *ino is its inode. */
static inline int
marked_fd(ino_t *ino)
{
	struct stat st;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	close(p[1]);
	cr_assert_eq(fstat(p[0], &st), 0);
	*ino = st.st_ino;
	return p[0];
}

static inline ino_t
fd_ino(int fd)
{
	struct stat st;

	cr_assert_eq(fstat(fd, &st), 0, "fstat %d: %s", fd, strerror(errno));
	return st.st_ino;
}

/* sendmsg of buf[0..n) with nfds descriptors, all written. */
static inline void
raw_send(int s, const void *buf, size_t n, const int *fds, int nfds)
{
	struct iovec iov = { (void *)buf, n };

	cr_assert_eq(fdmsg_imsg_sendfds(s, &iov, 1, fds, (unsigned)nfds, 0),
	    (ssize_t)n, "sendmsg: %s", strerror(errno));
}

/* A header in host order, as the classic code writes it. */
static inline void
raw_hdr(void *out, uint32_t type, uint16_t len, uint16_t flags,
    uint32_t peerid, uint32_t pid)
{
	struct imsg_hdr h = { type, len, flags, peerid, pid };

	memcpy(out, &h, sizeof(h));
}

/* A non-blocking pair with fdmsg-imsg on both ends: a writes on sv[0],
 * b reads on sv[1] (tests also write raw bytes to sv[0]). */
struct rx {
	struct imsgbuf a, b;
	int sv[2];
};

static inline void
rx_open(struct rx *r)
{
	imsg_pair(r->sv, 1);
	imsg_init(&r->a, r->sv[0]);
	imsg_init(&r->b, r->sv[1]);
}

static inline void
rx_close(struct rx *r)
{
	imsg_clear(&r->a);
	imsg_clear(&r->b);
	close(r->sv[0]);
	close(r->sv[1]);
}

/* Writes bytes [from, to) of a 16-byte header (type, len, flags) to the
 * reader in one write, with nfds marked descriptors (closed here once
 * sent; the first one's inode in *ino when ino is not NULL). */
static inline void
rx_hdr(struct rx *r, uint32_t type, uint16_t len, uint16_t flags,
    size_t from, size_t to, int nfds, ino_t *ino)
{
	unsigned char h[16];
	ino_t i0;
	int fds[4], i;

	raw_hdr(h, type, len, flags, 0, 0);
	for (i = 0; i < nfds; i++)
		fds[i] = marked_fd(i == 0 ? &i0 : &(ino_t){ 0 });
	raw_send(r->sv[0], h + from, to - from, fds, nfds);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	if (ino != NULL && nfds > 0)
		*ino = i0;
}

/* Waits (bounded: 5 s) until s is readable. */
static inline void
wait_readable(int s)
{
	struct pollfd p = { s, POLLIN, 0 };

	cr_assert_eq(poll(&p, 1, 5000), 1, "peer silent for 5 s");
}

/* One imsg implementation's calls: fdmsg-imsg's, or the reference's. */
struct imsg_api {
	const char *name;
	void (*init)(struct imsgbuf *, int);
	ssize_t (*read)(struct imsgbuf *);
	ssize_t (*get)(struct imsgbuf *, struct imsg *);
	int (*compose)(struct imsgbuf *, uint32_t, uint32_t, pid_t, int,
	    const void *, uint16_t);
	int (*flush)(struct imsgbuf *);
	int (*write)(struct msgbuf *);
	void (*free)(struct imsg *);
	void (*clear)(struct imsgbuf *);
};

static const struct imsg_api fdmsg_imsg_api = {
	"fdmsg-imsg", imsg_init, imsg_read, imsg_get, imsg_compose,
	imsg_flush, msgbuf_write, imsg_free, imsg_clear,
};

/* Message i of a plan: type 1000 + i, peerid i, len[i] data bytes of
 * (i * 7 + j) & 0xff, a marked descriptor when hasfd[i]. */
struct imsg_plan {
	size_t n;
	uint16_t len[512];
	int hasfd[512];
	ino_t ino[512];
};

static inline void
plan_data(size_t i, unsigned char *buf, size_t len)
{
	size_t j;

	for (j = 0; j < len; j++)
		buf[j] = (unsigned char)((i * 7 + j) & 0xff);
}

/* Queues message i on ib through api. */
static inline void
plan_compose(const struct imsg_api *api, struct imsgbuf *ib,
    struct imsg_plan *pl, size_t i)
{
	static unsigned char buf[MAX_IMSGSIZE];
	int fd = -1;

	plan_data(i, buf, pl->len[i]);
	if (pl->hasfd[i])
		fd = marked_fd(&pl->ino[i]);
	cr_assert_eq(api->compose(ib, 1000 + (uint32_t)i, (uint32_t)i, 0, fd,
	    buf, pl->len[i]), 1, "%s: compose %zu: %s", api->name, i,
	    strerror(errno));
}

/* Checks a received message against message i of the plan, and closes
 * its descriptor. */
static inline void
plan_check(const struct imsg_api *api, struct imsg_plan *pl, size_t i,
    struct imsg *m, ssize_t got)
{
	static unsigned char buf[MAX_IMSGSIZE];

	cr_assert_eq(got, (ssize_t)(IMSG_HEADER_SIZE + pl->len[i]),
	    "%s: message %zu: %zd bytes", api->name, i, got);
	cr_assert_eq(m->hdr.type, 1000 + i);
	cr_assert_eq(m->hdr.peerid, i);
	cr_assert_eq(m->hdr.len, IMSG_HEADER_SIZE + pl->len[i]);
	cr_assert_eq(m->hdr.flags, pl->hasfd[i] ? IMSGF_HASFD : 0);
	cr_assert_eq(m->hdr.pid, (uint32_t)getpid());
	plan_data(i, buf, pl->len[i]);
	if (pl->len[i] == 0)
		cr_assert_null(m->data);
	else
		cr_assert_eq(memcmp(m->data, buf, pl->len[i]), 0,
		    "%s: message %zu: data differs", api->name, i);
	if (pl->hasfd[i]) {
		cr_assert_geq(m->fd, 0, "%s: message %zu lost its descriptor",
		    api->name, i);
		cr_assert_eq(fd_ino(m->fd), pl->ino[i],
		    "%s: message %zu got another message's descriptor",
		    api->name, i);
		if (api == &fdmsg_imsg_api)
			cr_assert(fcntl(m->fd, F_GETFD) & FD_CLOEXEC,
			    "message %zu: descriptor not close-on-exec", i);
		close(m->fd);
	} else
		cr_assert_eq(m->fd, -1, "%s: message %zu: fd %d", api->name, i,
		    m->fd);
}

/*
 * Sends the plan from tx (over sv[0]) to rx (over sv[1]), both
 * non-blocking.  batch: compose everything and flush it all before the
 * first read (the receiver's read boundaries then fall where its buffer
 * ends); otherwise one message at a time, reading as it goes.
 */
static inline void
plan_run(const struct imsg_api *tx, const struct imsg_api *rx,
    struct imsg_plan *pl, int batch)
{
	struct imsgbuf a, b;
	struct imsg m;
	size_t sent = 0, got = 0;
	ssize_t n;
	int sv[2], rounds = 0;

	imsg_pair(sv, 1);
	tx->init(&a, sv[0]);
	rx->init(&b, sv[1]);
	if (batch) {
		for (; sent < pl->n; sent++)
			plan_compose(tx, &a, pl, sent);
		cr_assert_eq(tx->flush(&a), 0, "%s: flush: %s", tx->name,
		    strerror(errno));
	}
	while (got < pl->n) {
		cr_assert_lt(rounds++, 100000, "no progress");
		if (sent < pl->n && a.w.queued == 0)
			plan_compose(tx, &a, pl, sent++);
		if (a.w.queued > 0 && tx->write(&a.w) <= 0)
			cr_assert_eq(errno, EAGAIN, "%s: write: %s", tx->name,
			    strerror(errno));
		n = rx->read(&b);
		if (n == -1 && errno == EAGAIN)
			continue;
		cr_assert_gt(n, 0, "%s: read %zd: %s", rx->name, n,
		    strerror(errno));
		while ((n = rx->get(&b, &m)) > 0) {
			cr_assert_lt(got, pl->n, "more messages than sent");
			plan_check(rx, pl, got++, &m, n);
			rx->free(&m);
		}
		cr_assert_eq(n, 0, "%s: get: %s", rx->name, strerror(errno));
	}
	tx->clear(&a);
	rx->clear(&b);
	close(sv[0]);
	close(sv[1]);
}

#endif
