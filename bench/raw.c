/* SPDX-License-Identifier: ISC */
/*
 * The hand-written baselines: what a careful programmer writes with
 * sendmsg/recvmsg for the work of each case, on the same socket type as
 * fdmsg, with the same 16-byte header.  The receiver checks what fdmsg's
 * receiver checks of each frame (version, length, type, its descriptors)
 * and closes every descriptor it receives.  Nothing here allocates.
 *
 * Ping-pong: one sendmsg and one read per message; nothing can be batched
 * when each message waits for its answer.
 *
 * One-way, batched (R_BATCH, the goal rows), both socket types alike:
 *  - the sender builds its frames back to back in a 64 KiB buffer (each
 *    header written, each payload copied from the application's buffer,
 *    as fdmsg_send copies it) and sends them with one sendmsg per 64 KiB,
 *    with at most 253 descriptors (SCM_MAX_FD) per sendmsg: a batch of
 *    64-byte frames is 1024 frames, 253 with one descriptor each, 31 with
 *    eight;
 *  - the receiver reads 64 KiB at a time, takes whole frames out of its
 *    buffer and keeps a FIFO of the descriptors that came with its reads;
 *    each frame takes its nfds from the head.  Linux hands a sendmsg's
 *    descriptors to the read that returns its first byte, so they are
 *    there when their frames are.
 *  On SEQPACKET a batch is one datagram of whole frames, with exactly the
 *  descriptors of their nfds: fdmsg's own wire rule there, so the baseline
 *  puts the same bytes and descriptors in each datagram that fdmsg may.  One frame per datagram
 *  (sendmmsg/recvmmsg, the "sendmmsg" rows) keeps a datagram per message
 *  but costs a socket buffer and a wakeup check per frame that neither side
 *  needs to pay: over ten times slower for 64-byte frames here, a weaker
 *  baseline.
 *
 * One-way, one message per call (R_MSG, information rows): one sendmsg per
 * frame with its descriptors; the receiver as above.
 *
 * One-way, SEQPACKET, one frame per datagram (R_MMSG, information rows):
 * sendmmsg of 64 KiB of frames (at most 1024 datagrams, UIO_MAXIOV), each
 * datagram one frame with its own descriptors; the receiver takes up to as
 * many with one recvmmsg(MSG_WAITFORONE).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fdmsg.h"

#include "bench.h"

/* Blocking sendmsg of the whole iovec; descriptors ride the first byte. */
static int
raw_sendv(int fd, struct iovec *iov, int cnt, void *ctl, size_t ctllen)
{
	struct msghdr mh;
	ssize_t k;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = (size_t)cnt;
	mh.msg_control = ctl;
	mh.msg_controllen = ctllen;
	for (;;) {
		k = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		while (mh.msg_iovlen > 0 && (size_t)k >= mh.msg_iov->iov_len) {
			k -= (ssize_t)mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen == 0)
			return 0;
		mh.msg_iov->iov_base = (uint8_t *)mh.msg_iov->iov_base + k;
		mh.msg_iov->iov_len -= (size_t)k;
	}
}

static int
raw_send(int fd, const void *p, size_t n, void *ctl, size_t ctllen)
{
	struct iovec iov;

	iov.iov_base = (void *)(uintptr_t)p;
	iov.iov_len = n;
	return raw_sendv(fd, &iov, 1, ctl, ctllen);
}

/* The application's payload, which every sender copies into its frames. */
static uint8_t payload[CHUNK];

static void
put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/*
 * A frame as a program builds it for each message: the header written,
 * the payload copied from where the application has it (its buffer is its
 * own again once the call returns, as with fdmsg_send).
 */
static void
build_frame(uint8_t *p, const struct bcase *bc, const uint8_t *src)
{
	p[0] = FDMSG_WIRE_VERSION;
	p[1] = (uint8_t)bc->nfds;
	p[2] = p[3] = 0;
	put_le32(p + 4, bc->frame);
	put_le32(p + 8, BENCH_TYPE);
	put_le32(p + 12, 0);
	memcpy(p + FDMSG_HDR_SIZE, src, bc->frame - FDMSG_HDR_SIZE);
}

/* The receiver: frames out of 64 KiB reads, descriptors in a FIFO. */
#define QCAP (4 * SCM_MAX)

struct reader {
	int type;
	uint8_t buf[CHUNK];
	size_t have, off;
	int q[QCAP];
	unsigned qhead, qn;
	_Alignas(struct cmsghdr)
	uint8_t ctl[CMSG_SPACE(sizeof(int) * SCM_MAX)];
};

static int
rd_fill(int fd, struct reader *r)
{
	struct cmsghdr *cm;
	struct iovec iov;
	struct msghdr mh;
	unsigned i, cnt, dropped = 0;
	ssize_t k;
	int v;

	if (r->off > 0) {
		memmove(r->buf, r->buf + r->off, r->have - r->off);
		r->have -= r->off;
		r->off = 0;
	}
	/* A datagram holds whole frames and exactly their descriptors. */
	if (r->type != SOCK_STREAM && (r->have != 0 || r->qn != 0))
		return -EBADMSG;
	iov.iov_base = r->buf + r->have;
	iov.iov_len = sizeof(r->buf) - r->have;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = r->ctl;
	mh.msg_controllen = sizeof(r->ctl);
	do
		k = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (i = 0; i < cnt; i++) {
			memcpy(&v, CMSG_DATA(cm) + i * sizeof(int), sizeof(v));
			if (r->qn == QCAP) {
				close(v);
				dropped++;
				continue;
			}
			r->q[(r->qhead + r->qn++) % QCAP] = v;
		}
	}
	if (k == 0)
		return -EPIPE;
	if (dropped > 0)
		return -EPROTO;
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -EMSGSIZE;
	r->have += (size_t)k;
	return 0;
}

/* The next frame, its descriptors closed: its length, or -errno. */
static ssize_t
rd_next(int fd, struct reader *r, const uint8_t **frame)
{
	const uint8_t *p;
	unsigned i, nfds;
	size_t len;
	int err;

	for (;;) {
		p = r->buf + r->off;
		if (r->have - r->off >= FDMSG_HDR_SIZE) {
			len = le32(p + 4);
			if (len < FDMSG_HDR_SIZE || len > sizeof(r->buf))
				return -EBADMSG;
			if (len <= r->have - r->off)
				break;
		}
		if ((err = rd_fill(fd, r)) < 0)
			return err;
	}
	nfds = p[1];
	if (nfds > r->qn)
		return -EPROTO; /* descriptors after their frame's first byte */
	for (i = 0; i < nfds; i++) {
		close(r->q[r->qhead]);
		r->qhead = (r->qhead + 1) % QCAP;
		r->qn--;
	}
	r->off += len;
	*frame = p;
	return (ssize_t)len;
}

/* R_MMSG: one frame per datagram, many datagrams per call. */
#define MMAX 1024u /* UIO_MAXIOV */
#define MFDS 8u    /* descriptors per datagram, at most */

struct mmsgs {
	struct mmsghdr mm[MMAX];
	struct iovec iov[MMAX];
	uint8_t buf[CHUNK];
	_Alignas(struct cmsghdr)
	uint8_t ctl[MMAX][CMSG_SPACE(sizeof(int) * MFDS)];
	unsigned next, n;
};

static unsigned
mm_per(const struct bcase *bc)
{
	unsigned per = CHUNK / bc->frame;

	return per < MMAX ? per : MMAX;
}

/* Slot i: one frame's buffer and its descriptors' room. */
static void
mm_init(struct mmsgs *m, const struct bcase *bc)
{
	unsigned i;

	memset(m->mm, 0, sizeof(m->mm));
	for (i = 0; i < mm_per(bc); i++) {
		m->iov[i].iov_base = m->buf + i * bc->frame;
		m->iov[i].iov_len = bc->frame;
		m->mm[i].msg_hdr.msg_iov = &m->iov[i];
		m->mm[i].msg_hdr.msg_iovlen = 1;
		m->mm[i].msg_hdr.msg_control = m->ctl[i];
		m->mm[i].msg_hdr.msg_controllen = sizeof(m->ctl[i]);
	}
}

static ssize_t
mm_next(int fd, struct mmsgs *m, const struct bcase *bc, const uint8_t **f)
{
	struct msghdr *mh;
	struct cmsghdr *cm;
	unsigned i, cnt = 0;
	int k, v;

	if (m->next == m->n) {
		for (i = 0; i < m->n; i++)
			m->mm[i].msg_hdr.msg_controllen = sizeof(m->ctl[i]);
		do
			k = recvmmsg(fd, m->mm, mm_per(bc),
				     MSG_WAITFORONE | MSG_CMSG_CLOEXEC, NULL);
		while (k < 0 && errno == EINTR);
		if (k < 0)
			return -errno;
		m->n = (unsigned)k;
		m->next = 0;
		if (k == 0)
			return -EPIPE;
	}
	mh = &m->mm[m->next].msg_hdr;
	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		     i++, cnt++) {
			memcpy(&v, CMSG_DATA(cm) + i * sizeof(int), sizeof(v));
			close(v);
		}
	}
	*f = mh->msg_iov->iov_base;
	if (mh->msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -EMSGSIZE;
	if (m->mm[m->next].msg_len == 0)
		return -EPIPE;
	if (cnt != (*f)[1])
		return -EPROTO;
	return m->mm[m->next++].msg_len;
}

static struct mmsgs mm;

static int
mm_send(const struct role *x, size_t n)
{
	const unsigned per = mm_per(x->bc);
	unsigned k, done;
	int r;

	while (n > 0) {
		k = n < per ? (unsigned)n : per;
		for (done = 0; done < k; done++)
			build_frame(mm.buf + done * x->bc->frame, x->bc,
				    payload);
		for (done = 0; done < k; done += (unsigned)r) {
			r = sendmmsg(x->sock, mm.mm + done, k - done,
				     MSG_NOSIGNAL);
			if (r < 0 && errno == EINTR)
				r = 0;
			else if (r < 0)
				return -errno;
		}
		n -= k;
	}
	return 0;
}

/* Each slot a frame and, in its own SCM_RIGHTS, the frame's descriptors. */
static int
mm_sender_init(const struct bcase *bc, const int *fds)
{
	struct cmsghdr *cm;
	unsigned i;

	if (bc->nfds > MFDS)
		return -EINVAL;
	mm_init(&mm, bc);
	for (i = 0; i < mm_per(bc); i++) {
		if (bc->nfds == 0) {
			mm.mm[i].msg_hdr.msg_control = NULL;
			mm.mm[i].msg_hdr.msg_controllen = 0;
			continue;
		}
		cm = (struct cmsghdr *)(void *)mm.ctl[i];
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * bc->nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * bc->nfds);
		mm.mm[i].msg_hdr.msg_controllen =
			CMSG_SPACE(sizeof(int) * bc->nfds);
	}
	return 0;
}

static ssize_t
rd_check(int fd, struct reader *r, const struct bcase *bc,
	 const uint8_t **f)
{
	ssize_t k = bc->style == R_MMSG ? mm_next(fd, &mm, bc, f) :
					  rd_next(fd, r, f);

	if (k >= 0 && (!raw_frame_ok(*f, (size_t)k, bc->frame) ||
		       (*f)[1] != bc->nfds))
		return -EBADMSG;
	return k;
}

static struct reader rd;

static int
raw_client(const struct role *x, struct res *rs)
{
	uint8_t frame[64];
	const uint8_t *f;
	size_t i;
	ssize_t k;
	int r;

	for (i = 0; i < x->warm + x->n; i++) {
		if ((r = warm_wait(x, i, rs)) < 0)
			return r;
		build_frame(frame, x->bc, payload);
		if ((r = raw_send(x->sock, frame, x->bc->frame, NULL, 0)) < 0)
			return r;
		if ((k = rd_check(x->sock, &rd, x->bc, &f)) < 0)
			return (int)k;
	}
	mark_end(rs, x->label);
	return 0;
}

static int
raw_server(const struct role *x, struct res *rs)
{
	uint8_t frame[64];
	const uint8_t *f;
	size_t i;
	ssize_t k;
	int r;

	for (i = 0; i < x->warm + x->n; i++) {
		if ((k = rd_check(x->sock, &rd, x->bc, &f)) < 0)
			return (int)k;
		/* The answer is a message of its own, with what came in. */
		build_frame(frame, x->bc, f + FDMSG_HDR_SIZE);
		if ((r = raw_send(x->sock, frame, x->bc->frame, NULL, 0)) < 0 ||
		    (r = warm_post(x, i, rs)) < 0)
			return r;
	}
	mark_end(rs, x->label);
	return 0;
}

/* Frames per sendmsg: 64 KiB of them, at most 253 descriptors. */
static size_t
batch_of(const struct bcase *bc)
{
	size_t per = CHUNK / bc->frame;

	if (bc->style != R_BATCH)
		return 1;
	if (bc->nfds > 0 && per > SCM_MAX / bc->nfds)
		per = SCM_MAX / bc->nfds;
	return per;
}

struct batch {
	uint8_t frames[CHUNK];
	_Alignas(struct cmsghdr)
	uint8_t ctl[CMSG_SPACE(sizeof(int) * SCM_MAX)];
};

/* Given away: k frames' fresh dup()s of fds into cm, closed by the
 * caller once sent.  0 or -errno. */
static int
dup_into(struct cmsghdr *cm, const int *fds, unsigned nfds, size_t k)
{
	int *slot = (int *)(void *)CMSG_DATA(cm);
	size_t i;

	for (i = 0; i < nfds * k; i++) {
		if ((slot[i] = dup(fds[i % nfds])) < 0) {
			close_fds(slot, (unsigned)i);
			return -errno;
		}
	}
	return 0;
}

/* n frames, `per` at a time, each batch's descriptors in its sendmsg. */
static int
send_batches(const struct role *x, const int *fds, struct batch *b,
	     size_t per, size_t n)
{
	const struct bcase *bc = x->bc;
	struct cmsghdr *cm = (struct cmsghdr *)(void *)b->ctl;
	size_t i, k;
	int r;

	while (n > 0) {
		k = n < per ? n : per;
		for (i = 0; i < k; i++)
			build_frame(b->frames + i * bc->frame, bc, payload);
		if (bc->nfds > 0)
			cm->cmsg_len = CMSG_LEN(sizeof(int) * bc->nfds * k);
		if (bc->give && (r = dup_into(cm, fds, bc->nfds, k)) < 0)
			return r;
		r = raw_send(x->sock, b->frames, k * bc->frame,
			     bc->nfds > 0 ? b->ctl : NULL,
			     bc->nfds > 0 ? CMSG_SPACE(sizeof(int) * bc->nfds *
						       k) : 0);
		if (bc->give)
			close_fds((int *)(void *)CMSG_DATA(cm), bc->nfds * k);
		if (r < 0)
			return r;
		n -= k;
	}
	return 0;
}

/* n frames of the case's style; the first call fills in the descriptors. */
static int
send_frames(const struct role *x, const int *fds, size_t n)
{
	const struct bcase *bc = x->bc;
	static struct batch b;
	static int ready;
	struct cmsghdr *cm;
	size_t i;
	int r;

	if (bc->style == R_MMSG) {
		if (!ready && (r = mm_sender_init(bc, fds)) < 0)
			return r;
		ready = 1;
		return mm_send(x, n);
	}
	if (!ready && bc->nfds > 0) {
		cm = (struct cmsghdr *)(void *)b.ctl;
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		for (i = 0; i < batch_of(bc) * bc->nfds; i++)
			memcpy(CMSG_DATA(cm) + i * sizeof(int),
			       &fds[i % bc->nfds], sizeof(int));
	}
	ready = 1;
	return send_batches(x, fds, &b, batch_of(bc), n);
}

static int
recv_frame(const struct role *x)
{
	const uint8_t *f;
	ssize_t k = rd_check(x->sock, &rd, x->bc, &f);

	return k < 0 ? (int)k : 0;
}

int
raw_role(const struct role *x, int which, struct res *rs)
{
	if (x->bc->kind == K_PINGPONG && x->bc->frame > 64)
		return FAIL(-EINVAL); /* the client's and server's frame[] */
	memset(payload, 0xab, sizeof(payload));
	rd.type = x->bc->type;
	if (x->bc->style == R_MMSG)
		mm_init(&mm, x->bc);
	return run_role(x, which, rs, raw_client, raw_server, send_frames,
			recv_frame);
}
