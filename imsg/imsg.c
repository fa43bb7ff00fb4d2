/* SPDX-License-Identifier: ISC */
/*
 * The classic imsg calls over fdmsg's receive gate.  imsg_read takes one
 * recvmsg through fdmsg_gate_recv_block: MSG_CTRUNC, MSG_TRUNC and every
 * control record checked, at most one descriptor per read, received
 * close-on-exec and above 2.  A descriptor waits on the fds list with
 * where its read began in r.buf, and goes to the next message flagged
 * IMSGF_HASFD that starts at or after that read's first byte: a classic sender puts it
 * in a sendmsg that begins at or before its message, after every earlier
 * descriptor's, so nothing a conforming peer sends is refused, and a
 * message can never take a descriptor that arrived after it began.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmsg.h"
#include "imsg.h"
#include "imsg_int.h"

int imsg_fd_overhead = 0;

/* One descriptor per read, as a classic sender sends them. */
static const struct fdmsg_gate imsg_gate = { 1, 0, NULL };

static ssize_t
fail(int err)
{
	errno = err;
	return -1;
}

/* The sticky error: r.rptr points err bytes into r.buf, NULL for none. */
static int
sticky(const struct imsgbuf *ibuf)
{
	return ibuf->r.rptr == NULL ? 0 : (int)(ibuf->r.rptr - ibuf->r.buf);
}

static unsigned
pend_count(const struct imsgbuf *ibuf)
{
	const struct imsg_fd *e;
	unsigned n = 0;

	TAILQ_FOREACH(e, &ibuf->fds, entry)
		n++;
	return n;
}

/* Closes and frees every waiting descriptor. */
static void
pend_clear(struct imsgbuf *ibuf)
{
	struct imsg_fd *e;

	while ((e = TAILQ_FIRST(&ibuf->fds)) != NULL) {
		TAILQ_REMOVE(&ibuf->fds, e, entry);
		close_keep_errno(e->fd);
		free(e);
	}
}

/* The error sticks: every later imsg_read and imsg_get returns it, and
 * the descriptors no message took are closed now. */
static ssize_t
poison(struct imsgbuf *ibuf, int err)
{
	pend_clear(ibuf);
	if (ibuf->r.rptr == NULL)
		ibuf->r.rptr = ibuf->r.buf + err;
	return fail(sticky(ibuf));
}

void
imsg_init(struct imsgbuf *ibuf, int fd)
{
	msgbuf_init(&ibuf->w);
	memset(&ibuf->r, 0, sizeof(ibuf->r));
	ibuf->fd = fd;
	ibuf->w.fd = fd;
	ibuf->pid = getpid();
	TAILQ_INIT(&ibuf->fds);
}

int
fdmsg_imsg_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/*
 * Whether a descriptor can arrive: with no free slot above 2 the kernel
 * would drop it (MSG_CTRUNC, an error that sticks), so the classic
 * answer, EAGAIN before reading, keeps the stream whole.
 */
static int
fd_room(int sock)
{
	struct rlimit rl;
	int probe;

	probe = fcntl(sock, F_DUPFD_CLOEXEC, 3);
	if (probe == -1)
		return errno == EMFILE || errno == EINVAL ? -EAGAIN : 0;
	close_keep_errno(probe);
	if (imsg_fd_overhead > 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)fdmsg_imsg_fd_count() + (rlim_t)imsg_fd_overhead + 1 >= rl.rlim_cur)
		return -EAGAIN;
	return 0;
}

ssize_t
imsg_read(struct imsgbuf *ibuf)
{
	union {
		struct cmsghdr hdr;
		unsigned char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct fdmsg_gate_result res;
	struct imsg_pend *p;
	struct msghdr mh;
	struct iovec iov;
	size_t start = ibuf->r.wpos;
	ssize_t n;
	int err;

	if ((err = sticky(ibuf)) != 0)
		return fail(err);
	/* Full of whole messages nobody took with imsg_get. */
	if (start >= sizeof(ibuf->r.buf))
		return fail(ENOBUFS);
	if ((err = fd_room(ibuf->fd)) < 0)
		return fail(-err);

	memset(&mh, 0, sizeof(mh));
	memset(&cbuf, 0, sizeof(cbuf));
	iov.iov_base = ibuf->r.buf + start;
	iov.iov_len = sizeof(ibuf->r.buf) - start;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf.buf;
	mh.msg_controllen = sizeof(cbuf.buf);
	/* The socket's own mode decides whether this blocks, as with the
	 * classic recvmsg(fd, &msg, 0). */
	n = fdmsg_gate_recv_block(&imsg_gate, ibuf->fd, &mh, &res);
	if (n < 0) {
		if (res.consumed)
			return poison(ibuf, (int)-n);
		return fail((int)-n);
	}
	if (n == 0) {
		/* The end: a descriptor with no byte has no message. */
		fdmsg_gate_discard(&imsg_gate, &res);
		return 0;
	}
	ibuf->r.wpos += (size_t)n;
	if (res.nfds > 0) {
		if (pend_count(ibuf) >= IMSG_PEND_MAX) {
			fdmsg_gate_discard(&imsg_gate, &res);
			return poison(ibuf, EPROTO);
		}
		if ((p = malloc(sizeof(*p))) == NULL) {
			/* The bytes are taken: its message cannot have it. */
			fdmsg_gate_discard(&imsg_gate, &res);
			return poison(ibuf, ENOMEM);
		}
		p->e.fd = res.fds[0];
		p->start = (int64_t)start;
		TAILQ_INSERT_TAIL(&ibuf->fds, &p->e, entry);
	}
	return n;
}

/*
 * The descriptor of the message at the start of r.buf, into *fd (-1 when
 * not flagged).  -EPROTO: flagged, and no descriptor came in
 * a read that began at or before its first byte.  Nothing stricter holds:
 * a classic sender's partial writes send each next descriptor with
 * whatever is left of earlier messages, so descriptors may run ahead of
 * their messages by any number of reads (IMSG_PEND_MAX bounds them).
 */
static int
claim_fd(struct imsgbuf *ibuf, const struct imsg_hdr *hdr, int *fd)
{
	struct imsg_fd *e = TAILQ_FIRST(&ibuf->fds);

	*fd = -1;
	if (!(hdr->flags & IMSGF_HASFD))
		return 0;
	/* The message starts at r.buf[0]. */
	if (e == NULL || ((struct imsg_pend *)(void *)e)->start > 0)
		return -EPROTO;
	*fd = e->fd;
	TAILQ_REMOVE(&ibuf->fds, e, entry);
	free(e);
	return 0;
}

ssize_t
imsg_get(struct imsgbuf *ibuf, struct imsg *imsg)
{
	struct imsg_hdr hdr;
	struct imsg_fd *e;
	size_t av = ibuf->r.wpos, datalen;
	void *data = NULL;
	int fd, err;

	if ((err = sticky(ibuf)) != 0)
		return fail(err);
	/* A program that fills r.buf itself may have set any wpos. */
	if (av > sizeof(ibuf->r.buf))
		return poison(ibuf, EINVAL);
	if (av < IMSG_HEADER_SIZE)
		return 0;
	memcpy(&hdr, ibuf->r.buf, sizeof(hdr));
	/* Checked as soon as it is whole, as the classic code does. */
	if (hdr.len < IMSG_HEADER_SIZE || hdr.len > MAX_IMSGSIZE)
		return poison(ibuf, ERANGE);
	if (hdr.flags & ~IMSGF_HASFD)
		return poison(ibuf, EBADMSG);
	if (hdr.len > av)
		return 0;
	datalen = hdr.len - IMSG_HEADER_SIZE;
	if (datalen > 0 && (data = malloc(datalen)) == NULL)
		return -1;	/* nothing taken: the caller may try again */
	if ((err = claim_fd(ibuf, &hdr, &fd)) < 0) {
		free(data);
		return poison(ibuf, -err);
	}
	if (datalen > 0)
		memcpy(data, ibuf->r.buf + IMSG_HEADER_SIZE, datalen);
	memmove(ibuf->r.buf, ibuf->r.buf + hdr.len, av - hdr.len);
	ibuf->r.wpos = av - hdr.len;
	TAILQ_FOREACH(e, &ibuf->fds, entry)
		((struct imsg_pend *)(void *)e)->start -= hdr.len;
	imsg->hdr = hdr;
	imsg->fd = fd;
	imsg->data = data;
	return hdr.len;
}

struct ibuf *
imsg_create(struct imsgbuf *ibuf, uint32_t type, uint32_t peerid, pid_t pid,
    uint16_t datalen)
{
	struct imsg_hdr hdr;
	struct ibuf *wbuf;
	/* In size_t: the classic uint16_t sum wraps for datalen > 65519. */
	size_t len = (size_t)datalen + IMSG_HEADER_SIZE;

	if (len > MAX_IMSGSIZE) {
		errno = ERANGE;
		return NULL;
	}
	hdr.type = type;
	hdr.len = 0;	/* imsg_close sets it */
	hdr.flags = 0;
	hdr.peerid = peerid;
	hdr.pid = pid != 0 ? (uint32_t)pid : (uint32_t)ibuf->pid;
	if ((wbuf = ibuf_dynamic(len, MAX_IMSGSIZE)) == NULL)
		return NULL;
	if (imsg_add(wbuf, &hdr, sizeof(hdr)) == -1)
		return NULL;
	return wbuf;
}

int
imsg_add(struct ibuf *msg, const void *data, uint16_t datalen)
{
	if (msg == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (datalen > 0 && ibuf_add(msg, data, datalen) == -1) {
		ibuf_free(msg);
		return -1;
	}
	return datalen;
}

void
imsg_close(struct imsgbuf *ibuf, struct ibuf *msg)
{
	struct imsg_hdr hdr;

	if (msg == NULL)
		return;
	/* Only a buffer that holds a header has one to finish. */
	if (msg->wpos >= sizeof(hdr)) {
		memcpy(&hdr, msg->buf, sizeof(hdr));
		hdr.flags &= ~IMSGF_HASFD;
		if (msg->fd != -1)
			hdr.flags |= IMSGF_HASFD;
		hdr.len = (uint16_t)msg->wpos;
		memcpy(msg->buf, &hdr, sizeof(hdr));
	}
	ibuf_close(&ibuf->w, msg);
}

int
imsg_compose(struct imsgbuf *ibuf, uint32_t type, uint32_t peerid, pid_t pid,
    int fd, const void *data, uint16_t datalen)
{
	struct ibuf *wbuf;

	if ((wbuf = imsg_create(ibuf, type, peerid, pid, datalen)) == NULL)
		return -1;
	if (imsg_add(wbuf, data, datalen) == -1)
		return -1;
	/* Only now the queue owns fd: on failure it stays the caller's. */
	wbuf->fd = fd;
	imsg_close(ibuf, wbuf);
	return 1;
}

int
imsg_composev(struct imsgbuf *ibuf, uint32_t type, uint32_t peerid, pid_t pid,
    int fd, const struct iovec *iov, int iovcnt)
{
	struct ibuf *wbuf;
	size_t datalen = 0;
	int i;

	if (iovcnt < 0 || (iov == NULL && iovcnt > 0)) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < iovcnt; i++)
		if (size_add(datalen, iov[i].iov_len, &datalen) < 0 ||
		    datalen > MAX_IMSGSIZE - IMSG_HEADER_SIZE) {
			errno = ERANGE;
			return -1;
		}
	if ((wbuf = imsg_create(ibuf, type, peerid, pid,
	    (uint16_t)datalen)) == NULL)
		return -1;
	for (i = 0; i < iovcnt; i++)
		if (ibuf_add(wbuf, iov[i].iov_base, iov[i].iov_len) == -1) {
			ibuf_free(wbuf);
			return -1;
		}
	wbuf->fd = fd;
	imsg_close(ibuf, wbuf);
	return 1;
}

void
imsg_free(struct imsg *imsg)
{
	if (imsg->data != NULL)
		explicit_bzero(imsg->data, imsg->hdr.len - IMSG_HEADER_SIZE);
	free(imsg->data);
	imsg->data = NULL;
}

int
imsg_flush(struct imsgbuf *ibuf)
{
	while (ibuf->w.queued)
		if (msgbuf_write(&ibuf->w) <= 0)
			return -1;
	return 0;
}

void
imsg_clear(struct imsgbuf *ibuf)
{
	msgbuf_clear(&ibuf->w);
	pend_clear(ibuf);
}
