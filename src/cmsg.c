/* SPDX-License-Identifier: ISC */
/*
 * The ancillary gate.  Everything a peer controls in a control buffer is
 * untrusted: cmsg_len may be short, unaligned, past the buffer or absurd,
 * so records are walked by hand (never CMSG_NXTHDR, which trusts
 * cmsg_len), every header is copied out with memcpy (forged buffers are
 * unaligned), and every offset is bounded by msg_controllen.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmsg.h"
#include "compat.h"
#include "explain.h"

/* One record as the walker saw it; data clamped to the buffer. */
struct rec {
	int level;
	int type;
	size_t len;                /* cmsg_len as sent */
	const unsigned char *data; /* CMSG_DATA */
	size_t dlen;               /* data bytes inside the buffer */
};

enum { REC_END = 0, REC_OK = 1, REC_BAD = -1 };

static unsigned
gate_max_fds(const struct fdmsg_gate *gate)
{
	return gate->max_fds > FDMSG_MAX_FDS_CAP ? FDMSG_MAX_FDS_CAP :
						   gate->max_fds;
}

static void
gate_close(const struct fdmsg_gate *gate, int fd)
{
	int saved = errno;

	if (fd >= 0) {
		if (gate->close_fd != NULL)
			(void)gate->close_fd(fd);
		else
			(void)close(fd);
	}
	errno = saved;
}

/*
 * Reads the record at *pos of base[0..total).  REC_END: no header fits
 * (trailing padding).  REC_BAD: cmsg_len shorter than a header or past
 * the buffer; r->data/dlen then hold what the buffer does have, so the
 * caller can close it, and the walk must stop.  REC_OK: *pos advanced.
 */
static int
next_rec(const unsigned char *base, size_t total, size_t *pos,
	 struct rec *r)
{
	const size_t hdr = CMSG_LEN(0);
	struct cmsghdr c;
	size_t left, step;

	if (*pos >= total)
		return REC_END;
	left = total - *pos;
	if (left < sizeof(c))
		return REC_END;
	memcpy(&c, base + *pos, sizeof(c));
	r->level = c.cmsg_level;
	r->type = c.cmsg_type;
	r->len = (size_t)c.cmsg_len;
	r->data = base + *pos + hdr;
	r->dlen = 0;
	if (left < hdr) {
		/* Header bigger than its aligned struct: cannot happen with
		 * CMSG_LEN, but keep data inside the buffer regardless. */
		CANNOT_HAPPEN();
		r->data = base + total;
		return REC_BAD;
	}
	if (r->len < hdr)
		return REC_BAD;
	if (r->len > left) {
		/* Untruncated cmsg_len after MSG_CTRUNC (macOS, illumos),
		 * or a lie: only what the buffer holds exists. */
		r->dlen = left - hdr;
		return REC_BAD;
	}
	r->dlen = r->len - hdr;
	/* CMSG_ALIGN(len) == CMSG_SPACE(dlen); a wrap shows as step < len. */
	step = CMSG_SPACE(r->dlen);
	if (step < r->len || step >= left)
		*pos = total;
	else
		*pos += step;
	return REC_OK;
}

/* Records that carry descriptors the kernel installed in this process. */
static int
rec_has_fds(const struct rec *r)
{
	if (r->level != SOL_SOCKET)
		return 0;
	if (r->type == SCM_RIGHTS)
		return 1;
#ifdef __linux__
	if (r->type == SCM_PIDFD)
		return 1;
#endif
	return 0;
}

static int
load_int(const unsigned char *p)
{
	int v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * The reject path, independent of how far the checking walk got: close
 * every whole non-negative int of every descriptor record, once, stopping
 * after the first malformed record (nothing beyond it can be located).
 */
static void
close_all(const struct fdmsg_gate *gate, const unsigned char *base,
	  size_t total)
{
	size_t pos = 0, i;
	struct rec r;
	int rc;

	if (base == NULL)
		return;
	for (;;) {
		rc = next_rec(base, total, &pos, &r);
		if (rc == REC_END)
			break;
		if (rec_has_fds(&r))
			for (i = 0; i + sizeof(int) <= r.dlen; i += sizeof(int))
				gate_close(gate, load_int(r.data + i));
		if (rc == REC_BAD)
			break;
	}
}

static int
take_rights(const struct fdmsg_gate *gate, const struct rec *r,
	    struct fdmsg_gate_result *res)
{
	size_t n, i;
	int fd;

	if (r->dlen % sizeof(int) != 0)
		return fdmsg_why(&res->why, FDMSG_RULE_CMSG_SIZE, r->len,
				 CMSG_LEN(r->dlen - r->dlen % sizeof(int)),
				 -EPROTO);
	n = r->dlen / sizeof(int);
	/* max <= FDMSG_MAX_FDS_CAP bounds res->fds; also catches the
	 * CMSG_SPACE padding slot (max_fds + 1 on 64-bit). */
	if (n > gate_max_fds(gate) - res->nfds)
		return fdmsg_why(&res->why, gate_max_fds(gate) == 0 ?
				 FDMSG_RULE_FDS_REFUSED : FDMSG_RULE_FDS_MAX,
				 res->nfds + n, gate_max_fds(gate), -EPROTO);
	for (i = 0; i < n; i++) {
		fd = load_int(r->data + i * sizeof(int));
		if (fd < 0)
			return fdmsg_why(&res->why, FDMSG_RULE_FD_INVALID,
					 (uint32_t)fd, 0, -EPROTO);
		res->fds[res->nfds++] = fd;
	}
	return 0;
}

/* A credentials or pidfd record refused: not asked for, twice, or of
 * the wrong size. */
static int
rec_refused(const struct rec *r, struct fdmsg_gate_result *res,
	    unsigned allowed, int seen, size_t size)
{
	if (!allowed)
		return fdmsg_why(&res->why, FDMSG_RULE_CMSG_TYPE,
				 (uint32_t)r->type, 0, -EPROTO);
	if (seen)
		return fdmsg_why(&res->why, FDMSG_RULE_CMSG_REPEAT,
				 (uint32_t)r->type, 1, -EPROTO);
	return fdmsg_why(&res->why, FDMSG_RULE_CMSG_SIZE, r->len,
			 CMSG_LEN(size), -EPROTO);
}

/* Records seen once each per read. */
struct seen {
	int cred;
	int pidfd;
};

static int
take_rec(const struct fdmsg_gate *gate, const struct rec *r,
	 struct fdmsg_gate_result *res, struct seen *seen)
{
	if (r->level != SOL_SOCKET)
		return fdmsg_why(&res->why, FDMSG_RULE_CMSG_LEVEL,
				 (uint32_t)r->level, SOL_SOCKET, -EPROTO);
	if (r->type == SCM_RIGHTS)
		return take_rights(gate, r, res);
#ifdef FDMSG_HAVE_SCM_CREDENTIALS
	if (r->type == SCM_CREDENTIALS) {
		struct ucred uc;

		if (!(gate->flags & FDMSG_OPT_CREDS) || seen->cred ||
		    r->len != CMSG_LEN(sizeof(uc)))
			return rec_refused(r, res, gate->flags & FDMSG_OPT_CREDS,
					   seen->cred, sizeof(uc));
		seen->cred = 1;
		memcpy(&uc, r->data, sizeof(uc));
		/* THREATS 38: pid 0 (with the overflow ids) is what the
		 * kernel writes when it attached no identity: none. */
		if (uc.pid == 0)
			return 0;
		res->has_cred = 1;
		res->cred.pid = uc.pid;
		res->cred.uid = uc.uid;
		res->cred.gid = uc.gid;
		return 0;
	}
#endif
#ifdef __linux__
	if (r->type == SCM_PIDFD) {
		int fd;

		if (!(gate->flags & FDMSG_OPT_PIDFD) || seen->pidfd ||
		    r->len != CMSG_LEN(sizeof(int)))
			return rec_refused(r, res, gate->flags & FDMSG_OPT_PIDFD,
					   seen->pidfd, sizeof(int));
		seen->pidfd = 1;
		/* A negative value is the kernel's -errno for a pidfd it
		 * could not make, never a descriptor.  THREATS 40: -ESRCH,
		 * a sender reaped before 6.17, means none.  Anything else is
		 * our table being full, as with rights: an error. */
		fd = load_int(r->data);
		if (fd == -ESRCH)
			return 0;
		if (fd < 0)
			return fdmsg_why(&res->why, FDMSG_RULE_FD_TABLE, 0, 0,
					 fd == -ENFILE ? -ENFILE : -EMFILE);
		res->cred.pidfd = fd;
		return 0;
	}
#endif
	return fdmsg_why(&res->why, FDMSG_RULE_CMSG_TYPE, (uint32_t)r->type,
			 0, -EPROTO);
}

void
fdmsg_rights_build(struct msghdr *mh, void *buf, const int *fds,
		   size_t nfds)
{
	struct cmsghdr *cm;

	mh->msg_control = NULL;
	mh->msg_controllen = 0;
	if (nfds == 0)
		return;
	memset(buf, 0, FDMSG_RIGHTS_SPACE(nfds));
	mh->msg_control = buf;
	mh->msg_controllen = FDMSG_RIGHTS_SPACE(nfds);
	cm = CMSG_FIRSTHDR(mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
}

size_t
fdmsg_gate_control_size(const struct fdmsg_gate *gate)
{
	unsigned max = gate_max_fds(gate);
	size_t n = 0;

	if (max > 0)
		n += CMSG_SPACE(sizeof(int) * max);
#ifdef FDMSG_HAVE_SCM_CREDENTIALS
	if (gate->flags & FDMSG_OPT_CREDS)
		n += CMSG_SPACE(sizeof(struct ucred));
#endif
#ifdef __linux__
	if (gate->flags & FDMSG_OPT_PIDFD)
		n += CMSG_SPACE(sizeof(int));
#endif
	/* Room for a record even when none is allowed: descriptors sent
	 * against the policy must surface (MSG_CTRUNC, or a record to
	 * close), never pass unnoticed. */
	if (n < CMSG_SPACE(sizeof(int)))
		n = CMSG_SPACE(sizeof(int));
	return n;
}

/* The bytes a read could take (its iovecs), for MSG_TRUNC's message. */
static uint64_t
iov_bytes(const struct msghdr *mh)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; mh->msg_iov != NULL && i < (size_t)mh->msg_iovlen; i++)
		n += mh->msg_iov[i].iov_len;
	return n;
}

int
fdmsg_gate_check(const struct fdmsg_gate *gate, const struct msghdr *mh,
		 struct fdmsg_gate_result *res)
{
	const unsigned char *base = mh->msg_control;
	size_t total = (size_t)mh->msg_controllen;
	struct seen seen = { 0, 0 };
	size_t pos = 0;
	int err, rc;
	struct rec r;

	fdmsg_gate_res_init(res);
	if (total > 0 && base == NULL)
		return fdmsg_why(&res->why, FDMSG_RULE_CMSG_LEN, total, 0,
				 -EPROTO);
	if (base == NULL)
		total = 0;

	if (mh->msg_flags & MSG_CTRUNC) {
		err = fdmsg_why(&res->why, FDMSG_RULE_CTRUNC, 0,
				gate_max_fds(gate), -EPROTO);
		goto fail;
	}
	if (mh->msg_flags & MSG_TRUNC) {
		err = fdmsg_why(&res->why, FDMSG_RULE_TRUNC, 0, iov_bytes(mh),
				-EMSGSIZE);
		goto fail;
	}
	for (;;) {
		rc = next_rec(base, total, &pos, &r);
		if (rc == REC_END)
			break;
		if (rc == REC_BAD) {
			err = fdmsg_why(&res->why, FDMSG_RULE_CMSG_LEN, r.len,
					total - (size_t)(r.data - base) +
						CMSG_LEN(0), -EPROTO);
			goto fail;
		}
		err = take_rec(gate, &r, res, &seen);
		if (err < 0)
			goto fail;
	}
	return 0;

fail:
	/* res only copied values out of the buffer: close from the buffer,
	 * so a record the checking walk never reached is closed too. */
	fdmsg_gate_res_init(res);
	close_all(gate, base, total);
	return err;
}

void
fdmsg_gate_discard(const struct fdmsg_gate *gate,
		   struct fdmsg_gate_result *res)
{
	unsigned i;

	for (i = 0; i < res->nfds && i < FDMSG_MAX_FDS_CAP; i++)
		gate_close(gate, take_fd(&res->fds[i]));
	gate_close(gate, take_fd(&res->cred.pidfd));
	fdmsg_gate_res_init(res);
}

/* Moves *fdp above stdio (a peer must never land on 0, 1 or 2). */
static int
lift_fd(const struct fdmsg_gate *gate, int *fdp)
{
	int nfd;

	if (*fdp < 0 || *fdp > 2)
		return 0;
	nfd = fcntl(*fdp, F_DUPFD_CLOEXEC, 3);
	if (nfd < 0)
		/* EINVAL: RLIMIT_NOFILE ends at or below 3, no room above
		 * stdio, which is what EMFILE says. */
		return errno == EINVAL ? -EMFILE : -errno;
	gate_close(gate, *fdp);
	*fdp = nfd;
	return 0;
}

#ifdef FDMSG_NO_MSG_CMSG_CLOEXEC
static int
set_cloexec(int fd)
{
	int fl;

	if (fd < 0)
		return 0;
	fl = fcntl(fd, F_GETFD);
	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}
#endif

/* After a recvmsg that brought ancillary data (or a truncation flag):
 * the check, then every accepted descriptor lifted above stdio.  Out of
 * line: a read of bytes alone returns without it. */
ssize_t
fdmsg_gate_finish(const struct fdmsg_gate *gate, const struct msghdr *mh,
		  struct fdmsg_gate_result *res, ssize_t n)
{
	unsigned i;
	int err;

	err = fdmsg_gate_check(gate, mh, res);
	res->consumed = 1;
	if (err < 0)
		return err;

	for (i = 0; i < res->nfds; i++) {
#ifdef FDMSG_NO_MSG_CMSG_CLOEXEC
		/* A fork+exec in another thread can still win this race;
		 * nothing better exists without MSG_CMSG_CLOEXEC. */
		if ((err = set_cloexec(res->fds[i])) < 0)
			goto fail;
#endif
		if ((err = lift_fd(gate, &res->fds[i])) < 0)
			goto fail;
	}
#ifdef FDMSG_NO_MSG_CMSG_CLOEXEC
	if ((err = set_cloexec(res->cred.pidfd)) < 0)
		goto fail;
#endif
	if ((err = lift_fd(gate, &res->cred.pidfd)) < 0)
		goto fail;
	return n;

fail:
	fdmsg_why(&res->why, err == -EMFILE || err == -ENFILE ?
		  FDMSG_RULE_FD_TABLE : FDMSG_RULE_INTERNAL, 0, 0, err);
	fdmsg_gate_discard(gate, res);
	res->consumed = 1;
	return err;
}

ssize_t
fdmsg_gate_recv(const struct fdmsg_gate *gate, int fd,
		struct msghdr *mh, struct fdmsg_gate_result *res)
{
	return fdmsg_gate_recv_flags(gate, fd, mh, res, MSG_DONTWAIT);
}

ssize_t
fdmsg_gate_recv_block(const struct fdmsg_gate *gate, int fd,
		      struct msghdr *mh, struct fdmsg_gate_result *res)
{
	return fdmsg_gate_recv_flags(gate, fd, mh, res, 0);
}
