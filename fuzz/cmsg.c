/* SPDX-License-Identifier: ISC */
/*
 * fdmsg_gate_check over forged recvmsg results: msg_flags, the policy and
 * the control bytes all come from the input.  Before each call the harness
 * walks the buffer itself (bounded) and rewrites every int slot of every
 * SOL_SOCKET/SCM_RIGHTS and SCM_PIDFD record to a unique fake descriptor
 * number (FAKE_BASE + k; a negative slot stays negative); the close hook
 * only records, it never closes.  Checked:
 *  - the return value matches a model of the rules in src/cmsg.h;
 *  - accepted: every fake handed out exactly once, in arrival order, none
 *    closed, credentials as in the record, nfds <= max_fds;
 *  - rejected: nothing handed out, every fake found in the buffer closed
 *    exactly once, nothing else ever closed.
 * The control bytes sit in an exact-size heap block (ASan sees an
 * over-read), once aligned and once misaligned by 1..7 bytes.
 *
 * Input: [u8 msg_flags sel][u8 max_fds][u8 policy][u8 misalign] then the
 * control bytes (at most MAX_CTL).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cmsg.h"
#include "compat.h"
#include "fuzz.h"
#include "why.h"

#define MAX_CTL 8192
#define FAKE_BASE 100000
#define MAX_FAKES (MAX_CTL / sizeof(int))

/* Close log of the current call: the hook only counts. */
static unsigned close_count[MAX_FAKES];
static size_t nfakes;

static int
fake_close(int fd)
{
	/* Never a real close: only the numbers the harness wrote exist. */
	FUZZ_CHECK(fd >= FAKE_BASE && (size_t)(fd - FAKE_BASE) < nfakes);
	close_count[fd - FAKE_BASE]++;
	return 0;
}

struct hrec {
	int level, type;
	size_t len;     /* cmsg_len */
	size_t off;     /* of the data, in the buffer */
	size_t dlen;    /* data bytes inside the buffer */
	int bad;        /* short, or runs past the buffer: the walk ends */
};

/*
 * The harness's own walk: returns 1 with *r filled and *pos advanced, 0 at
 * the end.  Every step moves pos forward or ends, so at most
 * total / CMSG_LEN(0) + 1 records.
 */
static int
walk(const uint8_t *b, size_t total, size_t *pos, struct hrec *r)
{
	const size_t hdr = CMSG_LEN(0);
	struct cmsghdr c;
	size_t left, step;

	if (*pos >= total || total - *pos < sizeof(c) || total - *pos < hdr)
		return 0;
	left = total - *pos;
	memcpy(&c, b + *pos, sizeof(c));
	r->level = c.cmsg_level;
	r->type = c.cmsg_type;
	r->len = (size_t)c.cmsg_len;
	r->off = *pos + hdr;
	r->bad = 0;
	if (r->len < hdr) {
		r->bad = 1;
		r->dlen = 0;
		*pos = total;
		return 1;
	}
	if (r->len > left) {
		r->bad = 1;
		r->dlen = left - hdr;
		*pos = total;
		return 1;
	}
	r->dlen = r->len - hdr;
	step = CMSG_ALIGN(r->len);
	if (step < r->len || step >= left)
		*pos = total;
	else
		*pos += step;
	return 1;
}

static int
is_fd_rec(const struct hrec *r)
{
	return r->level == SOL_SOCKET &&
	       (r->type == SCM_RIGHTS || r->type == SCM_PIDFD);
}

static int
ld_int(const uint8_t *p)
{
	int v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void
st_int(uint8_t *p, int v)
{
	memcpy(p, &v, sizeof(v));
}

/* Rewrites descriptor slots to fakes; returns the number written. */
static size_t
plant_fakes(uint8_t *b, size_t total)
{
	size_t pos = 0, i, k = 0;
	struct hrec r;

	while (walk(b, total, &pos, &r)) {
		if (is_fd_rec(&r)) {
			for (i = 0; i + sizeof(int) <= r.dlen; i += sizeof(int)) {
				if (ld_int(b + r.off + i) < 0)
					continue;
				FUZZ_CHECK(k < MAX_FAKES);
				st_int(b + r.off + i, FAKE_BASE + (int)k);
				k++;
			}
		}
		if (r.bad)
			break;
	}
	return k;
}

/* The rules of src/cmsg.h, written out again. */
static int
model(const struct fdmsg_gate *g, int msg_flags, const uint8_t *b,
      size_t total)
{
	unsigned max = g->max_fds > FDMSG_MAX_FDS_CAP ? FDMSG_MAX_FDS_CAP :
							g->max_fds;
	size_t pos = 0, nfds = 0, i;
	int creds = 0, pidfd = 0;
	struct hrec r;

	if (msg_flags & MSG_CTRUNC)
		return -EPROTO;
	if (msg_flags & MSG_TRUNC)
		return -EMSGSIZE;
	while (walk(b, total, &pos, &r)) {
		if (r.bad || r.level != SOL_SOCKET)
			return -EPROTO;
		switch (r.type) {
		case SCM_RIGHTS:
			if (r.dlen % sizeof(int) != 0)
				return -EPROTO;
			for (i = 0; i < r.dlen; i += sizeof(int))
				if (ld_int(b + r.off + i) < 0)
					return -EPROTO;
			nfds += r.dlen / sizeof(int);
			if (nfds > max)
				return -EPROTO;
			break;
		case SCM_CREDENTIALS:
			if (!(g->flags & FDMSG_OPT_CREDS) || creds ||
			    r.len != CMSG_LEN(sizeof(struct ucred)))
				return -EPROTO;
			creds = 1;
			break;
		case SCM_PIDFD:
			/* A negative value: the kernel made no pidfd, for a
			 * reaped sender (-ESRCH) or for want of room. */
			if (!(g->flags & FDMSG_OPT_PIDFD) || pidfd ||
			    r.len != CMSG_LEN(sizeof(int)))
				return -EPROTO;
			if (ld_int(b + r.off) < 0 &&
			    ld_int(b + r.off) != -ESRCH)
				return ld_int(b + r.off) == -ENFILE ? -ENFILE :
								      -EMFILE;
			pidfd = 1;
			break;
		default:
			return -EPROTO;
		}
	}
	return 0;
}

/* Checks an accepted result against the buffer, record by record. */
static void
check_accepted(const struct fdmsg_gate *g, const uint8_t *b, size_t total,
	       const struct fdmsg_gate_result *res)
{
	size_t pos = 0, i, k = 0, nright = 0;
	int saw_cred = 0, saw_pidfd = 0;
	struct ucred uc;
	struct hrec r;

	FUZZ_CHECK(res->nfds <= g->max_fds && res->nfds <= FDMSG_MAX_FDS_CAP);
	while (walk(b, total, &pos, &r)) {
		FUZZ_CHECK(!r.bad && r.level == SOL_SOCKET);
		if (r.type == SCM_RIGHTS) {
			for (i = 0; i < r.dlen; i += sizeof(int)) {
				FUZZ_CHECK(nright < res->nfds);
				FUZZ_CHECK(res->fds[nright] ==
					   ld_int(b + r.off + i));
				FUZZ_CHECK(res->fds[nright] == FAKE_BASE + (int)k);
				nright++;
				k++;
			}
		} else if (r.type == SCM_PIDFD) {
			if (ld_int(b + r.off) == -ESRCH)
				continue; /* none made: stays -1 */
			FUZZ_CHECK(res->cred.pidfd == ld_int(b + r.off));
			FUZZ_CHECK(res->cred.pidfd == FAKE_BASE + (int)k);
			saw_pidfd = 1;
			k++;
		} else if (r.type == SCM_CREDENTIALS) {
			memcpy(&uc, b + r.off, sizeof(uc));
			if (uc.pid == 0)
				continue; /* the placeholder: none */
			FUZZ_CHECK(res->has_cred == 1);
			FUZZ_CHECK(res->cred.pid == uc.pid &&
				   res->cred.uid == uc.uid &&
				   res->cred.gid == uc.gid);
			saw_cred = 1;
		}
	}
	FUZZ_CHECK(nright == res->nfds);
	FUZZ_CHECK(k == nfakes);
	if (!saw_pidfd)
		FUZZ_CHECK(res->cred.pidfd == -1);
	if (!saw_cred)
		FUZZ_CHECK(res->has_cred == 0);
	/* Handed out, so none closed. */
	for (i = 0; i < nfakes; i++)
		FUZZ_CHECK(close_count[i] == 0);
}

/* One call of the gate over ctl[0..n); returns its result. */
static int
run_gate(const struct fdmsg_gate *g, int msg_flags, uint8_t *ctl, size_t n,
	 int null_ctl)
{
	struct fdmsg_gate_result res;
	struct msghdr mh;
	int rc, want;
	size_t i;

	memset(&mh, 0, sizeof(mh));
	mh.msg_control = null_ctl ? NULL : ctl;
	mh.msg_controllen = n;
	mh.msg_flags = msg_flags;
	nfakes = null_ctl ? 0 : plant_fakes(ctl, n);
	memset(close_count, 0, nfakes * sizeof(close_count[0]));
	memset(&res, 0xA5, sizeof(res));

	rc = fdmsg_gate_check(g, &mh, &res);
	if (null_ctl)
		want = n > 0 ? -EPROTO : model(g, msg_flags, ctl, 0);
	else
		want = model(g, msg_flags, ctl, n);
	if (rc != want) {
		fprintf(stderr, "gate_check %d, model %d\n", rc, want);
		abort();
	}
	if (rc == 0) {
		check_accepted(g, null_ctl ? NULL : ctl, null_ctl ? 0 : n,
			       &res);
		/* discard closes exactly what was handed out. */
		fdmsg_gate_discard(g, &res);
		FUZZ_CHECK(res.nfds == 0 && res.cred.pidfd == -1);
		for (i = 0; i < nfakes; i++)
			FUZZ_CHECK(close_count[i] == 1);
		return rc;
	}
	/* Rejected: nothing handed out, every fake closed exactly once,
	 * the rule named. */
	FUZZ_CHECK(res.nfds == 0 && res.cred.pidfd == -1);
	fuzz_check_why(&res.why, rc);
	for (i = 0; i < nfakes; i++)
		FUZZ_CHECK(close_count[i] == 1);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int extra_flags[] = {
		0, MSG_EOR, MSG_OOB, MSG_ERRQUEUE, MSG_CMSG_CLOEXEC,
		MSG_DONTWAIT, MSG_PEEK, (int)0x80000000u,
	};
	struct fuzz_in in = { data, size };
	uint8_t fsel = in_u8(&in);
	unsigned max_fds = in_u8(&in);
	uint8_t pol = in_u8(&in);
	unsigned shift = in_u8(&in) % 8;
	struct fdmsg_gate g;
	int msg_flags = 0, r1, r2;
	const uint8_t *src;
	uint8_t *a, *u;
	size_t n;

	if (fsel & 1)
		msg_flags |= MSG_CTRUNC;
	if (fsel & 2)
		msg_flags |= MSG_TRUNC;
	msg_flags |= extra_flags[(fsel >> 2) & 7];

	g.max_fds = max_fds;  /* 254, 255: clamped to the cap */
	g.flags = 0;
	if (pol & 1)
		g.flags |= FDMSG_OPT_CREDS;
	if (pol & 2)
		g.flags |= FDMSG_OPT_PIDFD;
	g.close_fd = fake_close;

	src = in_bytes(&in, MAX_CTL, &n);
	/* Every policy asks for a control buffer that holds a record. */
	FUZZ_CHECK(fdmsg_gate_control_size(&g) >= CMSG_SPACE(sizeof(int)));

	/* Aligned, exact size. */
	a = malloc(n ? n : 1);
	if (a == NULL)
		return 0;
	memcpy(a, src, n);
	r1 = run_gate(&g, msg_flags, a, n, (pol & 0x0c) == 0x0c);

	/* Misaligned by 1..7, ending at the block's end. */
	shift = shift ? shift : 1;
	u = malloc(n + shift);
	if (u == NULL) {
		free(a);
		return 0;
	}
	memcpy(u + shift, src, n);
	r2 = run_gate(&g, msg_flags, u + shift, n, 0);
	if ((pol & 0x0c) != 0x0c)
		FUZZ_CHECK(r1 == r2);

	free(u);
	free(a);
	return 0;
}
