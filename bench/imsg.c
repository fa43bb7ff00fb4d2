/* SPDX-License-Identifier: ISC */
/*
 * The OpenBSD imsg side of each case on a stream, as tmux and the OpenBSD
 * daemons use it: imsg_compose queues, imsg_flush writes, imsg_read reads
 * up to 64 KiB, imsg_get takes one message out.  imsg carries at most one
 * descriptor per message, so a frame with eight is eight imsgs (the first
 * with the payload, the rest with none); imsg closes what it has sent, so
 * the sender gives it a dup() of each.  The one-way sender flushes every
 * 64 KiB of messages, the batch of the raw baseline.
 *
 * Built only when ci/bench has put imsg.c, imsg-buffer.c and imsg.h from
 * Debian's tmux source into the build directory (bench/meson.build); the
 * rest of the benchmark runs without.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdmsg.h"

#include "bench.h"

#ifndef BENCH_HAVE_IMSG
const int imsg_built = 0;

int
imsg_role(const struct role *x, int which, struct res *rs)
{
	(void)x;
	(void)which;
	return FAIL(-ENOSYS);
}
#else
#include <sys/queue.h>

#include "imsg.h"

const int imsg_built = 1;

/* The next imsg, reading as needed. */
static int
get_one(struct imsgbuf *ib, struct imsg *im)
{
	ssize_t n;

	for (;;) {
		if ((n = imsg_get(ib, im)) < 0)
			return -errno;
		if (n > 0)
			return 0;
		n = imsg_read(ib);
		if (n == 0)
			return -EPIPE;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

/* One frame's imsgs: max(1, nfds), the payload in the first. */
static int
get_frame(struct imsgbuf *ib, const struct bcase *bc)
{
	const unsigned cnt = bc->nfds > 0 ? bc->nfds : 1;
	const size_t len = bc->frame - FDMSG_HDR_SIZE;
	struct imsg im;
	unsigned j;
	int r, bad;

	for (j = 0; j < cnt; j++) {
		if ((r = get_one(ib, &im)) < 0)
			return r;
		bad = im.hdr.type != BENCH_TYPE ||
		      im.hdr.len - IMSG_HEADER_SIZE != (j == 0 ? len : 0) ||
		      (bc->nfds > 0) != (im.fd >= 0);
		if (im.fd >= 0)
			close(im.fd);
		imsg_free(&im);
		if (bad)
			return -EBADMSG;
	}
	return 0;
}

static int
put_frame_imsg(struct imsgbuf *ib, const struct bcase *bc, const int *fds,
	       const uint8_t *payload)
{
	const unsigned cnt = bc->nfds > 0 ? bc->nfds : 1;
	const uint16_t len = (uint16_t)(bc->frame - FDMSG_HDR_SIZE);
	unsigned j;
	int fd;

	for (j = 0; j < cnt; j++) {
		fd = -1;
		if (bc->nfds > 0 && (fd = dup(fds[j])) < 0)
			return -errno;
		if (imsg_compose(ib, BENCH_TYPE, 0, 0, fd, j == 0 ? payload :
				 NULL, j == 0 ? len : 0) < 0) {
			if (fd >= 0)
				close(fd);
			return -errno;
		}
	}
	return 0;
}

static int
flush(struct imsgbuf *ib)
{
	return imsg_flush(ib) < 0 ? (errno ? -errno : -EPIPE) : 0;
}

static uint8_t payload[CHUNK];
static struct imsgbuf ib;

static int
imsg_client(const struct role *x, struct res *rs)
{
	size_t i;
	int r;

	for (i = 0; i < x->warm + x->n; i++)
		if ((r = warm_wait(x, i, rs)) < 0 ||
		    (r = put_frame_imsg(&ib, x->bc, NULL, payload)) < 0 ||
		    (r = flush(&ib)) < 0 || (r = get_frame(&ib, x->bc)) < 0)
			return r;
	mark_end(rs, x->label);
	return 0;
}

static int
imsg_server(const struct role *x, struct res *rs)
{
	size_t i;
	int r;

	for (i = 0; i < x->warm + x->n; i++)
		if ((r = get_frame(&ib, x->bc)) < 0 ||
		    (r = put_frame_imsg(&ib, x->bc, NULL, payload)) < 0 ||
		    (r = flush(&ib)) < 0 || (r = warm_post(x, i, rs)) < 0)
			return r;
	mark_end(rs, x->label);
	return 0;
}

/* n frames, flushed every 64 KiB of imsgs and at the end. */
static int
send_frames(const struct role *x, const int *fds, size_t n)
{
	const struct bcase *bc = x->bc;
	const size_t per = (bc->nfds > 0 ? bc->nfds : 1) * IMSG_HEADER_SIZE +
			   bc->frame - FDMSG_HDR_SIZE;
	size_t i, queued = 0;
	int r;

	for (i = 0; i < n; i++) {
		if ((r = put_frame_imsg(&ib, bc, fds, payload)) < 0)
			return r;
		queued += per;
		if (queued >= CHUNK) {
			if ((r = flush(&ib)) < 0)
				return r;
			queued = 0;
		}
	}
	return flush(&ib);
}

static int
recv_frame(const struct role *x)
{
	return get_frame(&ib, x->bc);
}

int
imsg_role(const struct role *x, int which, struct res *rs)
{
	memset(payload, 0xab, sizeof(payload));
	imsg_init(&ib, x->sock);
	return run_role(x, which, rs, imsg_client, imsg_server, send_frames,
			recv_frame);
}
#endif
