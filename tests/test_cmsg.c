/* SPDX-License-Identifier: ISC */
/*
 * The ancillary gate, two ways.  gate_shim: forged control buffers that
 * the kernel will never produce (THREATS 5-10), checked with a recording
 * close hook and fake descriptor numbers, so every forged descriptor must
 * be closed exactly once on reject or handed out exactly once on accept.
 * gate_kernel: real socketpairs and raw sendmsg through fdmsg_gate_recv
 * (THREATS 1-4, 12, 14, 30, 31), with the descriptor table counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cmsg.h"
#include "compat.h"
#include "rawpeer.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* Shim: forged buffers and a recording close hook                    */
/* ------------------------------------------------------------------ */

#define MAX_CLOSED 4096
static int closed_fds[MAX_CLOSED];
static unsigned nclosed;

static int
rec_close(int fd)
{
	cr_assert_lt(nclosed, MAX_CLOSED, "close hook overflow");
	closed_fds[nclosed++] = fd;
	return 0;
}

static unsigned
times_closed(int fd)
{
	unsigned i, n = 0;

	for (i = 0; i < nclosed; i++)
		if (closed_fds[i] == fd)
			n++;
	return n;
}

/* Exactly the descriptors first..first+n-1 were closed, once each, among
 * `total` closes in all. */
static void
assert_closed_range(int first, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		cr_assert_eq(times_closed(first + (int)i), 1,
			     "fd %d closed %u times", first + (int)i,
			     times_closed(first + (int)i));
}

static void
assert_nclosed(unsigned n)
{
	cr_assert_eq(nclosed, n, "%u closes, expected %u", nclosed, n);
}

#define CTL_BYTES 8192
union ctl {
	struct cmsghdr align;
	unsigned char b[CTL_BYTES];
};

/* A forged control buffer, written with memcpy (it may be unaligned). */
struct forge {
	unsigned char *b;
	size_t pos;
};

static void
forge_init(struct forge *f, unsigned char *b)
{
	memset(b, 0, 64);
	f->b = b;
	f->pos = 0;
}

/* A header with any cmsg_len at the current position; no advance. */
static void
forge_hdr(struct forge *f, int level, int type, size_t len)
{
	struct cmsghdr c;

	memset(&c, 0, sizeof(c));
	c.cmsg_level = level;
	c.cmsg_type = type;
	c.cmsg_len = len;
	memcpy(f->b + f->pos, &c, sizeof(c));
}

/* A well-formed record, advanced by CMSG_SPACE like the kernel does. */
static void
put_rec(struct forge *f, int level, int type, const void *data,
	size_t dlen)
{
	forge_hdr(f, level, type, CMSG_LEN(dlen));
	if (dlen > 0)
		memcpy(f->b + f->pos + CMSG_LEN(0), data, dlen);
	memset(f->b + f->pos + CMSG_LEN(dlen), 0,
	       CMSG_SPACE(dlen) - CMSG_LEN(dlen));
	f->pos += CMSG_SPACE(dlen);
}

/* SCM_RIGHTS with the fake descriptors first, first+1, ... */
static void
put_fds(struct forge *f, int first, unsigned n)
{
	int fds[FDMSG_MAX_FDS_CAP + 16];
	unsigned i;

	cr_assert_leq(n, ARRAY_SIZE(fds));
	for (i = 0; i < n; i++)
		fds[i] = first + (int)i;
	put_rec(f, SOL_SOCKET, SCM_RIGHTS, fds, n * sizeof(int));
}

static void
put_ucred(struct forge *f, pid_t pid, uid_t uid, gid_t gid)
{
	struct ucred uc = { .pid = pid, .uid = uid, .gid = gid };

	put_rec(f, SOL_SOCKET, SCM_CREDENTIALS, &uc, sizeof(uc));
}

static void
put_pidfd(struct forge *f, int fd)
{
	put_rec(f, SOL_SOCKET, SCM_PIDFD, &fd, sizeof(fd));
}

static int
check(unsigned max_fds, unsigned flags, const void *ctl,
      size_t len, int msg_flags, struct fdmsg_gate_result *res)
{
	struct fdmsg_gate g = { max_fds, flags, rec_close };
	struct msghdr mh;

	memset(&mh, 0, sizeof(mh));
	mh.msg_control = (void *)(uintptr_t)ctl;
	mh.msg_controllen = len;
	mh.msg_flags = msg_flags;
	/* The gate must initialise every field itself. */
	memset(res, 0xA5, sizeof(*res));
	nclosed = 0;
	return fdmsg_gate_check(&g, &mh, res);
}

static void
assert_res_empty(const struct fdmsg_gate_result *res)
{
	cr_assert_eq(res->nfds, 0);
	cr_assert_eq(res->has_cred, 0);
	cr_assert_eq(res->cred.pidfd, -1);
}

static void
assert_res_fds(const struct fdmsg_gate_result *res, int first,
	       unsigned n)
{
	unsigned i;

	cr_assert_eq(res->nfds, n, "nfds %u, expected %u", res->nfds, n);
	for (i = 0; i < n; i++)
		cr_assert_eq(res->fds[i], first + (int)i, "slot %u holds %d",
			     i, res->fds[i]);
}

TEST(gate_shim, accepts_rights_in_arrival_order_closes_nothing)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	forge_init(&f, u.b);
	put_fds(&f, 1000, 3);
	cr_assert_eq(check(3, 0, u.b, f.pos, 0, &res), 0);
	assert_res_fds(&res, 1000, 3);
	cr_assert_eq(res.has_cred, 0);
	cr_assert_eq(res.cred.pidfd, -1);
	assert_nclosed(0);
}

TEST(gate_shim, empty_control_is_accepted_and_initialises_result)
{
	struct fdmsg_gate_result res;
	union ctl u;

	cr_assert_eq(check(4, 0, NULL, 0, 0, &res), 0);
	assert_res_empty(&res);
	cr_assert_eq(check(4, 0, u.b, 0, 0, &res), 0);
	assert_res_empty(&res);
	/* Never root by default: has_cred 0 must not read as uid 0. */
	cr_assert_eq(res.cred.uid, (uid_t)-1);
	cr_assert_eq(res.cred.gid, (gid_t)-1);
	assert_nclosed(0);
}

TEST(gate_shim, null_control_with_length_is_eproto)
{
	struct fdmsg_gate_result res;

	cr_assert_eq(check(4, 0, NULL, 64, 0, &res), -EPROTO);
	assert_res_empty(&res);
	assert_nclosed(0);
}

TEST(gate_shim, trailing_padding_shorter_than_header_is_ignored)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	forge_init(&f, u.b);
	put_fds(&f, 1000, 2);
	memset(u.b + f.pos, 0xFF, sizeof(struct cmsghdr) - 1);
	cr_assert_eq(check(2, 0, u.b, f.pos + sizeof(struct cmsghdr) - 1, 0,
			   &res), 0);
	assert_res_fds(&res, 1000, 2);
	assert_nclosed(0);
}

TEST(gate_shim, unaligned_buffer_is_read_without_alignment_faults)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;
	unsigned off;

	/* UBSan flags any direct load through a misaligned cmsghdr. */
	for (off = 1; off < 8; off++) {
		forge_init(&f, u.b + off);
		put_ucred(&f, 42, 1000, 1001);
		put_fds(&f, 1000, 3);
		put_pidfd(&f, 2000);
		cr_assert_eq(check(3, FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD,
				   u.b + off, f.pos, 0, &res), 0);
		assert_res_fds(&res, 1000, 3);
		cr_assert_eq(res.cred.pidfd, 2000);
		assert_nclosed(0);
	}
}

TEST(gate_shim, threat5_ctrunc_with_fewer_fds_rejects_without_shifting)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	/* Four declared by the frame, two arrived, MSG_CTRUNC set: the two
	 * must not be handed out as slots 0 and 1 of anything. */
	forge_init(&f, u.b);
	put_fds(&f, 1000, 2);
	cr_assert_eq(check(4, 0, u.b, f.pos, MSG_CTRUNC, &res), -EPROTO);
	assert_res_empty(&res);
	assert_closed_range(1000, 2);
	assert_nclosed(2);

	/* MSG_CTRUNC with nothing at all still rejects. */
	cr_assert_eq(check(4, 0, u.b, 0, MSG_CTRUNC, &res), -EPROTO);
	assert_res_empty(&res);
	assert_nclosed(0);
}

/* Control bytes placed so they end exactly at a PROT_NONE page. */
struct guarded {
	unsigned char *map;
	size_t pg;
};

static unsigned char *
guard_place(struct guarded *g, const void *src,
	    size_t len)
{
	g->pg = (size_t)sysconf(_SC_PAGESIZE);
	g->map = mmap(NULL, 2 * g->pg, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(g->map, MAP_FAILED);
	cr_assert_eq(mprotect(g->map + g->pg, g->pg, PROT_NONE), 0);
	cr_assert_leq(len, g->pg);
	memcpy(g->map + g->pg - len, src, len);
	return g->map + g->pg - len;
}

static void
guard_free(struct guarded *g)
{
	cr_assert_eq(munmap(g->map, 2 * g->pg), 0);
}

TEST(gate_shim, threat6_short_ucred_record_no_overread)
{
	struct fdmsg_gate_result res;
	struct guarded g;
	unsigned char *p;
	union ctl u;
	struct forge f;
	size_t short_len;

	/* Descriptors first, then a credentials record 4 bytes short that
	 * ends at the guard page: reading a whole ucred would fault. */
	for (short_len = 0; short_len < sizeof(struct ucred); short_len++) {
		forge_init(&f, u.b);
		put_fds(&f, 1000, 2);
		forge_hdr(&f, SOL_SOCKET, SCM_CREDENTIALS, CMSG_LEN(short_len));
		memset(f.b + f.pos + CMSG_LEN(0), 0x11, short_len);
		f.pos += CMSG_LEN(short_len);
		p = guard_place(&g, u.b, f.pos);
		cr_assert_eq(check(2, FDMSG_OPT_CREDS, p, f.pos, 0, &res),
			     -EPROTO, "ucred of %zu bytes", short_len);
		assert_res_empty(&res);
		assert_closed_range(1000, 2);
		assert_nclosed(2);
		guard_free(&g);
	}

	/* A whole-size cmsg_len whose data the buffer does not hold. */
	forge_init(&f, u.b);
	forge_hdr(&f, SOL_SOCKET, SCM_CREDENTIALS,
		CMSG_LEN(sizeof(struct ucred)));
	p = guard_place(&g, u.b, CMSG_LEN(4));
	cr_assert_eq(check(2, FDMSG_OPT_CREDS, p, CMSG_LEN(4), 0, &res),
		     -EPROTO);
	assert_res_empty(&res);
	assert_nclosed(0);
	guard_free(&g);
}

TEST(gate_shim, short_pidfd_record_no_overread)
{
	struct fdmsg_gate_result res;
	struct guarded g;
	unsigned char *p;
	union ctl u;
	struct forge f;

	forge_init(&f, u.b);
	forge_hdr(&f, SOL_SOCKET, SCM_PIDFD, CMSG_LEN(2));
	p = guard_place(&g, u.b, CMSG_LEN(2));
	cr_assert_eq(check(2, FDMSG_OPT_PIDFD, p, CMSG_LEN(2), 0, &res),
		     -EPROTO);
	assert_res_empty(&res);
	assert_nclosed(0);
	guard_free(&g);
}

TEST(gate_shim, threat7_several_rights_records_all_counted)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	forge_init(&f, u.b);
	put_fds(&f, 1000, 2);
	put_fds(&f, 1002, 1);
	put_fds(&f, 1003, 3);
	cr_assert_eq(check(6, 0, u.b, f.pos, 0, &res), 0);
	assert_res_fds(&res, 1000, 6);
	assert_nclosed(0);
}

TEST(gate_shim, threat7_several_rights_records_over_max_all_closed)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	/* 2 + 1 + 3 + 1 = 7 > 6: the overflow is in the last record; all
	 * seven are closed, including those already counted. */
	forge_init(&f, u.b);
	put_fds(&f, 1000, 2);
	put_fds(&f, 1002, 1);
	put_fds(&f, 1003, 3);
	put_fds(&f, 1006, 1);
	cr_assert_eq(check(6, 0, u.b, f.pos, 0, &res), -EPROTO);
	assert_res_empty(&res);
	assert_closed_range(1000, 7);
	assert_nclosed(7);
}

TEST(gate_shim, rights_at_the_cap_and_one_over)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	forge_init(&f, u.b);
	put_fds(&f, 1000, FDMSG_MAX_FDS_CAP);
	cr_assert_eq(check(FDMSG_MAX_FDS_CAP, 0, u.b, f.pos, 0, &res), 0);
	assert_res_fds(&res, 1000, FDMSG_MAX_FDS_CAP);
	assert_nclosed(0);

	/* One over, even with a max_fds above the cap (clamped): res->fds
	 * has FDMSG_MAX_FDS_CAP slots and must never be written past. */
	forge_init(&f, u.b);
	put_fds(&f, 1000, FDMSG_MAX_FDS_CAP);
	put_fds(&f, 1000 + FDMSG_MAX_FDS_CAP, 1);
	cr_assert_eq(check(100000, 0, u.b, f.pos, 0, &res), -EPROTO);
	assert_res_empty(&res);
	assert_closed_range(1000, FDMSG_MAX_FDS_CAP + 1);
	assert_nclosed(FDMSG_MAX_FDS_CAP + 1);
}

TEST(gate_shim, max_fds_zero_rejects_any_descriptor)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	forge_init(&f, u.b);
	put_fds(&f, 1000, 1);
	cr_assert_eq(check(0, 0, u.b, f.pos, 0, &res), -EPROTO);
	assert_res_empty(&res);
	assert_closed_range(1000, 1);
	assert_nclosed(1);
}

/* Every order of one foreign record and one SCM_RIGHTS record. */
static void
foreign_beside_fds(int level, int type)
{
	struct fdmsg_gate_result res;
	int junk[2] = { 3000, 3001 };
	union ctl u;
	struct forge f;
	int order;

	for (order = 0; order < 2; order++) {
		forge_init(&f, u.b);
		if (order == 0)
			put_fds(&f, 1000, 2);
		put_rec(&f, level, type, junk, sizeof(junk));
		if (order == 1)
			put_fds(&f, 1000, 2);
		cr_assert_eq(check(4, FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD, u.b,
				   f.pos, 0, &res),
			     -EPROTO, "level %d type %d order %d", level, type,
			     order);
		assert_res_empty(&res);
		assert_closed_range(1000, 2);
		/* A foreign record's bytes are not descriptors. */
		cr_assert_eq(times_closed(3000), 0);
		cr_assert_eq(times_closed(3001), 0);
		assert_nclosed(2);
	}
}

TEST(gate_shim, threat8_unknown_level_beside_fds_both_orders)
{
	foreign_beside_fds(0 /* SOL_IP */, SCM_RIGHTS);
	foreign_beside_fds(41 /* SOL_IPV6 */, 1);
	foreign_beside_fds(-1, SCM_RIGHTS);
}

TEST(gate_shim, threat8_unknown_type_beside_fds_both_orders)
{
	foreign_beside_fds(SOL_SOCKET, 99);
	foreign_beside_fds(SOL_SOCKET, 0);
	foreign_beside_fds(SOL_SOCKET, 3 /* SCM_SECURITY */);
	foreign_beside_fds(SOL_SOCKET, -1);
}

/*
 * Valid fds 1000-1001, then a record with a bad cmsg_len (type
 * SCM_RIGHTS, data 2000, 2001 ... span_ints of them), then, with_tail,
 * fds 1100-1101 right after the bad record's CMSG_SPACE.  A cmsg_len
 * past the buffer claims everything after it, so those cases have no
 * tail.
 */
static void
bad_len_case(size_t bad_len, unsigned span_ints, int with_tail,
	     unsigned expect_closed_bad, int expect_tail_closed)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;
	unsigned i;

	memset(u.b, 0, sizeof(u.b));
	forge_init(&f, u.b);
	put_fds(&f, 1000, 2);
	forge_hdr(&f, SOL_SOCKET, SCM_RIGHTS, bad_len);
	for (i = 0; i < span_ints; i++) {
		int v = 2000 + (int)i;

		memcpy(f.b + f.pos + CMSG_LEN(i * sizeof(int)), &v, sizeof(v));
	}
	f.pos += with_tail ? CMSG_SPACE(span_ints * sizeof(int)) :
			     CMSG_LEN(span_ints * sizeof(int));
	if (with_tail)
		put_fds(&f, 1100, 2);
	cr_assert_eq(check(8, 0, u.b, f.pos, 0, &res), -EPROTO,
		     "cmsg_len %zu", bad_len);
	assert_res_empty(&res);
	assert_closed_range(1000, 2);
	assert_closed_range(2000, expect_closed_bad);
	cr_assert_eq(times_closed(1100), expect_tail_closed ? 1u : 0u,
		     "cmsg_len %zu: tail closed %u times", bad_len,
		     times_closed(1100));
	assert_nclosed(2 + expect_closed_bad + (expect_tail_closed ? 2 : 0));
}

TEST(gate_shim, threat9_bad_cmsg_len_bounded_walk)
{
	size_t i;

	/* Shorter than a header: the walk cannot step, it stops there. */
	bad_len_case(0, 2, 1, 0, 0);
	bad_len_case(15, 2, 1, 0, 0);
	bad_len_case(CMSG_LEN(0) - 1, 2, 1, 0, 0);
	/* Not whole descriptors, but inside the buffer: rejected; its
	 * whole ints are closed and the walk goes on by CMSG_ALIGN. */
	for (i = 1; i < sizeof(int); i++)
		bad_len_case(CMSG_LEN(0) + i, 2, 1, 0, 1);
	bad_len_case(CMSG_LEN(sizeof(int)) + 1, 2, 1, 1, 1);
	/* Past the buffer, far past, and SIZE_MAX: clamped to the four
	 * ints the buffer holds, and the walk ends. */
	bad_len_case(CMSG_LEN(4 * sizeof(int)) + 1, 4, 0, 4, 0);
	bad_len_case(CMSG_LEN(0) + 4096, 4, 0, 4, 0);
	bad_len_case(SIZE_MAX, 4, 0, 4, 0);
	bad_len_case(SIZE_MAX - 7, 4, 0, 4, 0);
}

TEST(gate_shim, threat9_bad_len_first_record_stops_walk)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	forge_init(&f, u.b);
	forge_hdr(&f, SOL_SOCKET, SCM_RIGHTS, 0);
	f.pos += CMSG_LEN(0);
	put_fds(&f, 1000, 2);
	cr_assert_eq(check(8, 0, u.b, f.pos, 0, &res), -EPROTO);
	assert_res_empty(&res);
	/* Nothing past an unwalkable header can be located. */
	assert_nclosed(0);
}

TEST(gate_shim, threat10_ctrunc_untruncated_len_closes_clamped_fds_only)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;
	size_t cut;
	unsigned i;

	/* cmsg_len says 6 descriptors; the buffer was cut after 3 and a
	 * half.  Beyond the cut lie values the gate must never touch. */
	forge_init(&f, u.b);
	put_fds(&f, 1000, 6);
	for (i = 3; i < 6; i++) {
		int v = 5000 + (int)i;

		memcpy(u.b + CMSG_LEN(i * sizeof(int)), &v, sizeof(v));
	}
	for (cut = CMSG_LEN(3 * sizeof(int));
	     cut < CMSG_LEN(4 * sizeof(int)); cut++) {
		cr_assert_eq(check(8, 0, u.b, cut, MSG_CTRUNC, &res), -EPROTO);
		assert_res_empty(&res);
		assert_closed_range(1000, 3);
		assert_nclosed(3);
		/* Without the flag the overrun alone rejects, same closes. */
		cr_assert_eq(check(8, 0, u.b, cut, 0, &res), -EPROTO);
		assert_res_empty(&res);
		assert_closed_range(1000, 3);
		assert_nclosed(3);
	}
}

TEST(gate_shim, ctrunc_wins_over_trunc)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	forge_init(&f, u.b);
	put_fds(&f, 1000, 2);
	cr_assert_eq(check(4, 0, u.b, f.pos, MSG_CTRUNC | MSG_TRUNC, &res),
		     -EPROTO);
	assert_res_empty(&res);
	assert_closed_range(1000, 2);
	assert_nclosed(2);
}

TEST(gate_shim, trunc_is_emsgsize_and_closes_fds)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	forge_init(&f, u.b);
	put_ucred(&f, 1, 2, 3);
	put_fds(&f, 1000, 2);
	put_pidfd(&f, 2000);
	cr_assert_eq(check(4, FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD, u.b, f.pos,
			   MSG_TRUNC, &res),
		     -EMSGSIZE);
	assert_res_empty(&res);
	assert_closed_range(1000, 2);
	assert_closed_range(2000, 1);
	assert_nclosed(3);
}

TEST(gate_shim, negative_fd_rejected_others_closed)
{
	struct fdmsg_gate_result res;
	int fds[3] = { 1000, -1, 1002 };
	union ctl u;
	struct forge f;

	forge_init(&f, u.b);
	put_rec(&f, SOL_SOCKET, SCM_RIGHTS, fds, sizeof(fds));
	cr_assert_eq(check(4, 0, u.b, f.pos, 0, &res), -EPROTO);
	assert_res_empty(&res);
	cr_assert_eq(times_closed(1000), 1);
	cr_assert_eq(times_closed(1002), 1);
	assert_nclosed(2); /* never close(-1) */
}

/*
 * THREATS 40: kernels before 6.17 write the -errno of a pidfd they could
 * not make (the sender was reaped) into SCM_PIDFD.  That is no descriptor
 * and no protocol error: the read is accepted without a pidfd, its
 * descriptors handed out, and nothing is closed.
 */
TEST(gate_shim, negative_pidfd_means_none)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	forge_init(&f, u.b);
	put_fds(&f, 1000, 1);
	put_pidfd(&f, -ESRCH);
	cr_assert_eq(check(4, FDMSG_OPT_PIDFD, u.b, f.pos, 0, &res), 0);
	cr_assert_eq(res.nfds, 1);
	cr_assert_eq(res.fds[0], 1000);
	cr_assert_eq(res.cred.pidfd, -1);
	assert_nclosed(0);

	/* Any other negative value: the receiver's table is full (6.17+
	 * writes -EMFILE for a live sender): an error, like rights lost to
	 * it, and the descriptors that did come are closed. */
	forge_init(&f, u.b);
	put_fds(&f, 1000, 1);
	put_pidfd(&f, -EMFILE);
	cr_assert_eq(check(4, FDMSG_OPT_PIDFD, u.b, f.pos, 0, &res), -EMFILE);
	assert_res_empty(&res);
	assert_closed_range(1000, 1);
	assert_nclosed(1);
	forge_init(&f, u.b);
	put_pidfd(&f, -ENFILE);
	cr_assert_eq(check(4, FDMSG_OPT_PIDFD, u.b, f.pos, 0, &res), -ENFILE);
}

/*
 * THREATS 38: pid 0 with the overflow ids is the kernel's placeholder
 * for "no identity attached" (written before SO_PASSCRED was on, or by a
 * sender outside our pid namespace): never reported as credentials, yet
 * a second record is still refused.
 */
TEST(gate_shim, placeholder_credentials_are_none)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	forge_init(&f, u.b);
	put_ucred(&f, 0, 65534, 65534);
	put_fds(&f, 1000, 1);
	cr_assert_eq(check(4, FDMSG_OPT_CREDS, u.b, f.pos, 0, &res), 0);
	cr_assert_eq(res.has_cred, 0);
	cr_assert_neq(res.cred.uid, 65534);
	cr_assert_eq(res.nfds, 1);
	cr_assert_eq(res.fds[0], 1000);
	assert_nclosed(0);

	forge_init(&f, u.b);
	put_ucred(&f, 0, 65534, 65534);
	put_ucred(&f, 0, 65534, 65534);
	cr_assert_eq(check(4, FDMSG_OPT_CREDS, u.b, f.pos, 0, &res), -EPROTO);
	assert_res_empty(&res);
}

/* Descriptor 0 is a real descriptor: the kernel installs on it when the
 * receiver's stdin is closed (THREATS 30 moves it afterwards).  Only a
 * negative number is a forgery, in a rights record and as a pidfd. */
TEST(gate_shim, descriptor_zero_is_accepted_as_rights_and_as_pidfd)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	forge_init(&f, u.b);
	put_fds(&f, 0, 2);
	cr_assert_eq(check(2, 0, u.b, f.pos, 0, &res), 0);
	assert_res_fds(&res, 0, 2);
	cr_assert_eq(res.cred.pidfd, -1);
	assert_nclosed(0);

	forge_init(&f, u.b);
	put_fds(&f, 1000, 1);
	put_pidfd(&f, 0);
	cr_assert_eq(check(2, FDMSG_OPT_PIDFD, u.b, f.pos, 0, &res), 0);
	assert_res_fds(&res, 1000, 1);
	cr_assert_eq(res.cred.pidfd, 0);
	assert_nclosed(0);
}

TEST(gate_shim, credentials_and_pidfd_accepted_when_enabled)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	/* The kernel's order: credentials, rights, pidfd. */
	forge_init(&f, u.b);
	put_ucred(&f, 4242, 1000, 1001);
	put_fds(&f, 1000, 2);
	put_pidfd(&f, 2000);
	cr_assert_eq(check(2, FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD, u.b, f.pos,
			   0, &res),
		     0);
	assert_res_fds(&res, 1000, 2);
	cr_assert_eq(res.has_cred, 1);
	cr_assert_eq(res.cred.pid, 4242);
	cr_assert_eq(res.cred.uid, 1000);
	cr_assert_eq(res.cred.gid, 1001);
	cr_assert_eq(res.cred.pidfd, 2000);
	assert_nclosed(0);
}

TEST(gate_shim, credentials_rejected_when_not_enabled)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	forge_init(&f, u.b);
	put_ucred(&f, 4242, 1000, 1001);
	put_fds(&f, 1000, 2);
	cr_assert_eq(check(2, FDMSG_OPT_PIDFD, u.b, f.pos, 0, &res), -EPROTO);
	assert_res_empty(&res);
	assert_closed_range(1000, 2);
	assert_nclosed(2);
}

TEST(gate_shim, pidfd_rejected_when_not_enabled_and_closed)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	forge_init(&f, u.b);
	put_ucred(&f, 4242, 1000, 1001);
	put_fds(&f, 1000, 2);
	put_pidfd(&f, 2000);
	cr_assert_eq(check(2, FDMSG_OPT_CREDS, u.b, f.pos, 0, &res), -EPROTO);
	assert_res_empty(&res);
	assert_closed_range(1000, 2);
	assert_closed_range(2000, 1);
	assert_nclosed(3);
}

TEST(gate_shim, duplicate_credentials_rejected)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	forge_init(&f, u.b);
	put_ucred(&f, 1, 0, 0);
	put_fds(&f, 1000, 1);
	put_ucred(&f, 4242, 1000, 1001);
	cr_assert_eq(check(2, FDMSG_OPT_CREDS, u.b, f.pos, 0, &res), -EPROTO);
	assert_res_empty(&res);
	assert_closed_range(1000, 1);
	assert_nclosed(1);
}

TEST(gate_shim, duplicate_pidfd_rejected_both_closed)
{
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	forge_init(&f, u.b);
	put_pidfd(&f, 2000);
	put_pidfd(&f, 2001);
	cr_assert_eq(check(2, FDMSG_OPT_PIDFD, u.b, f.pos, 0, &res), -EPROTO);
	assert_res_empty(&res);
	assert_closed_range(2000, 2);
	assert_nclosed(2);
}

TEST(gate_shim, credentials_of_wrong_size_rejected)
{
	struct fdmsg_gate_result res;
	unsigned char big[sizeof(struct ucred) + sizeof(int)];
	union ctl u;
	struct forge f;

	memset(big, 0, sizeof(big));
	forge_init(&f, u.b);
	put_rec(&f, SOL_SOCKET, SCM_CREDENTIALS, big, sizeof(big));
	put_fds(&f, 1000, 1);
	cr_assert_eq(check(2, FDMSG_OPT_CREDS, u.b, f.pos, 0, &res), -EPROTO);
	assert_res_empty(&res);
	assert_closed_range(1000, 1);
	assert_nclosed(1);

	/* A pidfd record of two ints: both closed, rejected. */
	forge_init(&f, u.b);
	{
		int two[2] = { 2000, 2001 };

		put_rec(&f, SOL_SOCKET, SCM_PIDFD, two, sizeof(two));
	}
	cr_assert_eq(check(2, FDMSG_OPT_PIDFD, u.b, f.pos, 0, &res), -EPROTO);
	assert_res_empty(&res);
	assert_closed_range(2000, 2);
	assert_nclosed(2);
}

TEST(gate_shim, discard_closes_fds_and_pidfd_once)
{
	struct fdmsg_gate g = { 3, FDMSG_OPT_PIDFD, rec_close };
	struct fdmsg_gate_result res;
	union ctl u;
	struct forge f;

	forge_init(&f, u.b);
	put_fds(&f, 1000, 3);
	put_pidfd(&f, 2000);
	cr_assert_eq(check(3, FDMSG_OPT_PIDFD, u.b, f.pos, 0, &res), 0);
	fdmsg_gate_discard(&g, &res);
	assert_res_empty(&res);
	assert_closed_range(1000, 3);
	assert_closed_range(2000, 1);
	assert_nclosed(4);
	/* Discarding an empty result closes nothing. */
	fdmsg_gate_discard(&g, &res);
	assert_nclosed(4);
}

/* Seeded random control bytes ending at a guard page: any outcome is
 * allowed but a fault, a close on success, a result on failure, or a
 * close of a negative value. */
TEST(gate_shim, random_buffers_stay_in_bounds)
{
	struct fdmsg_gate_result res;
	struct guarded g;
	uint32_t seed = 0x9e3779b9u;
	unsigned char src[256];
	unsigned iter, i;

	for (iter = 0; iter < 3000; iter++) {
		size_t len;
		int rc, fl;

		for (i = 0; i < sizeof(src); i++) {
			seed = seed * 1664525u + 1013904223u;
			src[i] = (unsigned char)(seed >> 24);
		}
		/* Half get a plausible first header, so the walk gets
		 * somewhere. */
		if (iter % 2) {
			struct forge f = { src, 0 };

			forge_hdr(&f, SOL_SOCKET, 1 + (int)(seed % 4),
				CMSG_LEN(src[17] % 64));
		}
		len = src[40] % sizeof(src);
		fl = (src[41] & 1) ? MSG_CTRUNC : 0;
		rc = check(src[42] % 12, src[43] & 3u,
			   guard_place(&g, src, len), len, fl, &res);
		if (rc == 0) {
			cr_assert_eq(nclosed, 0);
			cr_assert_leq(res.nfds, src[42] % 12);
		} else {
			cr_assert(rc == -EPROTO || rc == -EMSGSIZE);
			assert_res_empty(&res);
			for (i = 0; i < nclosed; i++)
				cr_assert_geq(closed_fds[i], 0);
		}
		guard_free(&g);
	}
}

TEST(gate_shim, control_size_per_policy)
{
	struct fdmsg_gate g = { 0, 0, NULL };

	cr_assert_eq(fdmsg_gate_control_size(&g), CMSG_SPACE(sizeof(int)));
	g.max_fds = 1;
	cr_assert_eq(fdmsg_gate_control_size(&g), CMSG_SPACE(sizeof(int)));
	g.max_fds = 3;
	cr_assert_eq(fdmsg_gate_control_size(&g),
		     CMSG_SPACE(3 * sizeof(int)));
	g.max_fds = FDMSG_MAX_FDS_CAP;
	cr_assert_eq(fdmsg_gate_control_size(&g),
		     CMSG_SPACE(FDMSG_MAX_FDS_CAP * sizeof(int)));
	g.max_fds = 100000; /* clamped to the cap */
	cr_assert_eq(fdmsg_gate_control_size(&g),
		     CMSG_SPACE(FDMSG_MAX_FDS_CAP * sizeof(int)));
	g.max_fds = 3;
	g.flags = FDMSG_OPT_CREDS;
	cr_assert_eq(fdmsg_gate_control_size(&g),
		     CMSG_SPACE(3 * sizeof(int)) +
			     CMSG_SPACE(sizeof(struct ucred)));
	g.flags = FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD;
	cr_assert_eq(fdmsg_gate_control_size(&g),
		     CMSG_SPACE(3 * sizeof(int)) +
			     CMSG_SPACE(sizeof(struct ucred)) +
			     CMSG_SPACE(sizeof(int)));
	g.max_fds = 0;
	cr_assert_eq(fdmsg_gate_control_size(&g),
		     CMSG_SPACE(sizeof(struct ucred)) +
			     CMSG_SPACE(sizeof(int)));
	g.flags = FDMSG_OPT_CREDS;
	cr_assert_eq(fdmsg_gate_control_size(&g),
		     CMSG_SPACE(sizeof(struct ucred)));
}

/* ------------------------------------------------------------------ */
/* Kernel: real sockets through fdmsg_gate_recv                        */
/* ------------------------------------------------------------------ */

static void
xpair(int type, int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0,
		     "socketpair: %s", strerror(errno));
}

static void
xclose(int fd)
{
	cr_assert_eq(close(fd), 0, "close %d: %s", fd, strerror(errno));
}

static void
close_all_of(const int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		xclose(fds[i]);
}

struct rx {
	_Alignas(struct cmsghdr) unsigned char ctl[2048];
	unsigned char data[512];
	struct iovec iov;
	struct msghdr mh;
};

/* fdmsg_gate_recv with a control buffer of exactly the policy's size. */
static ssize_t
gate_rx(const struct fdmsg_gate *g, int s, struct rx *rx,
	size_t datalen, struct fdmsg_gate_result *res)
{
	size_t cs = fdmsg_gate_control_size(g);

	if (cs > sizeof(rx->ctl) || datalen > sizeof(rx->data))
		return -ENOSPC; /* a test bug, not the gate's */
	memset(&rx->mh, 0, sizeof(rx->mh));
	rx->iov.iov_base = rx->data;
	rx->iov.iov_len = datalen;
	rx->mh.msg_iov = &rx->iov;
	rx->mh.msg_iovlen = 1;
	rx->mh.msg_control = rx->ctl;
	rx->mh.msg_controllen = cs;
	memset(res, 0xA5, sizeof(*res));
	return fdmsg_gate_recv(g, s, &rx->mh, res);
}

static int
open_null(void)
{
	return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void
open_nulls(int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		fds[i] = open_null();
		cr_assert_geq(fds[i], 0, "open: %s", strerror(errno));
	}
}

static void
enable_creds_pidfd(int s)
{
	int on = 1;

	cr_assert_eq(setsockopt(s, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)),
		     0);
	if (setsockopt(s, SOL_SOCKET, SO_PASSPIDFD, &on, sizeof(on)) < 0) {
		cr_assert_eq(errno, ENOPROTOOPT, "SO_PASSPIDFD: %s",
			     strerror(errno));
		cr_skip_test("SO_PASSPIDFD: kernel older than 6.5");
	}
}

/* fd_count without Criterion, for children. */
static int
raw_fd_count(void)
{
	int n = 0, fd;

	for (fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/* Sends n duplicates of /dev/null over s[0] to s[1] with 1 byte, receives
 * them with max_fds, asserts the result and the descriptor table. */
static void
over_max_case(int type, unsigned max_fds, unsigned n)
{
	struct fdmsg_gate g = { max_fds, 0, NULL };
	struct fdmsg_gate_result res;
	int sv[2], fds[FDMSG_MAX_FDS_CAP];
	struct rx rx;

	xpair(type, sv);
	open_nulls(fds, n);
	cr_assert_eq(send_fds(sv[0], "x", 1, fds, n, 0), 1);
	close_all_of(fds, n);
	{
		const int in_flight_base = fd_count();

		cr_assert_eq(gate_rx(&g, sv[1], &rx, 64, &res), -EPROTO,
			     "type %d max %u sent %u", type, max_fds, n);
		assert_res_empty(&res);
		cr_assert_eq(fd_count(), in_flight_base,
			     "type %d max %u sent %u: leaked", type, max_fds,
			     n);
	}
	xclose(sv[0]);
	xclose(sv[1]);
}

TEST(gate_kernel, threat1_more_fds_than_max_ctrunc_all_closed)
{
	over_max_case(SOCK_SEQPACKET, 4, 5);
	over_max_case(SOCK_SEQPACKET, 4, FDMSG_MAX_FDS_CAP);
	over_max_case(SOCK_SEQPACKET, 0, FDMSG_MAX_FDS_CAP);
	over_max_case(SOCK_STREAM, 4, 5);
	over_max_case(SOCK_STREAM, 4, FDMSG_MAX_FDS_CAP);
	over_max_case(SOCK_STREAM, 0, 3);
}

TEST(gate_kernel, threat2_odd_max_padding_slot_rejected)
{
	/* CMSG_SPACE(3 ints) holds 4 on 64-bit: the kernel fills the
	 * padding slot without MSG_CTRUNC; the count rule rejects. */
	over_max_case(SOCK_SEQPACKET, 3, 4);
	over_max_case(SOCK_STREAM, 3, 4);
	over_max_case(SOCK_SEQPACKET, 1, 2);
	/* max_fds 0: the minimum buffer still surfaces a descriptor. */
	over_max_case(SOCK_SEQPACKET, 0, 1);
	over_max_case(SOCK_SEQPACKET, 0, 2);
}

/* Accepting max_fds: order kept, CLOEXEC, a second read is separate. */
static void
accept_case(int type)
{
	struct fdmsg_gate g = { 3, 0, NULL };
	struct fdmsg_gate_result res;
	int sv[2], pp[2], fds[3];
	struct rx rx;
	unsigned i;

	xpair(type, sv);
	/* Three different files, so a swap would show. */
	cr_assert_eq(pipe2(pp, O_CLOEXEC), 0);
	xclose(pp[1]);
	fds[0] = pp[0];
	fds[1] = open_null();
	fds[2] = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fds[1], 0);
	cr_assert_geq(fds[2], 0);
	cr_assert_eq(send_fds(sv[0], "abc", 3, fds, 3, 0), 3);
	cr_assert_eq(gate_rx(&g, sv[1], &rx, 64, &res), 3);
	cr_assert_eq(memcmp(rx.data, "abc", 3), 0);
	cr_assert_eq(res.nfds, 3);
	for (i = 0; i < 3; i++) {
		cr_assert(same_file(res.fds[i], fds[i]), "slot %u", i);
		cr_assert_neq(res.fds[i], fds[i]);
		/* THREAT 31: no window where an exec inherits it. */
		cr_assert(is_cloexec(res.fds[i]), "slot %u not CLOEXEC", i);
	}
	cr_assert_eq(res.cred.pidfd, -1);
	cr_assert_eq(res.has_cred, 0);
	fdmsg_gate_discard(&g, &res);
	assert_res_empty(&res);
	close_all_of(fds, 3);
	/* Nothing left to read. */
	cr_assert_eq(gate_rx(&g, sv[1], &rx, 64, &res), -EAGAIN);
	assert_res_empty(&res);
	xclose(sv[0]);
	/* End of file. */
	cr_assert_eq(gate_rx(&g, sv[1], &rx, 64, &res), 0);
	assert_res_empty(&res);
	xclose(sv[1]);
}

TEST(gate_kernel, threat31_accepted_fds_in_order_and_cloexec)
{
	accept_case(SOCK_SEQPACKET);
	accept_case(SOCK_STREAM);
}

/* THREAT 3, in a child: RLIMIT_NOFILE leaves `room` free slots while 4
 * descriptors arrive.  Returns 0 or the failing step. */
static int
rlimit_child(int type, unsigned room)
{
	struct fdmsg_gate g = { 4, 0, NULL };
	struct fdmsg_gate_result res;
	int sv[2], fds[4];
	unsigned i;
	int base;
	struct rx rx;

	base = raw_fd_count();
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0)
		return 10;
	for (i = 0; i < 4; i++)
		if ((fds[i] = open_null()) < 0)
			return 11;
	if (send_fds(sv[0], "x", 1, fds, 4, 0) != 1)
		return 12;
	for (i = 0; i < 4; i++)
		close(fds[i]);
	if (rlimit_squeeze(room) < 0)
		return 14;
	if (gate_rx(&g, sv[1], &rx, 16, &res) != -EPROTO)
		return 16;
	if (res.nfds != 0 || res.cred.pidfd != -1)
		return 17;
	/* Exactly `room` slots free again: what the kernel installed was
	 * closed. */
	if (free_slots() != (int)room)
		return 18;
	if (rlimit_release() < 0)
		return 19;
	close(sv[0]);
	close(sv[1]);
	if (raw_fd_count() != base)
		return 20;
	return 0;
}

TEST(gate_kernel, threat3_receiver_at_rlimit_nofile_no_leak)
{
	SKIP_UNDER_VALGRIND();
	run_child(rlimit_child, SOCK_SEQPACKET, 0, "no slot free");
	run_child(rlimit_child, SOCK_SEQPACKET, 2, "two of four fit");
}

static void
creds_case(unsigned max_fds, unsigned n, int expect)
{
	struct fdmsg_gate g = { max_fds, FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD,
				NULL };
	struct fdmsg_gate_result res;
	int sv[2], fds[8];
	struct rx rx;
	unsigned i;

	xpair(SOCK_SEQPACKET, sv);
	enable_creds_pidfd(sv[1]);
	open_nulls(fds, n);
	cr_assert_eq(send_fds(sv[0], "hi", 2, fds, n, 0), 2);
	close_all_of(fds, n);
	{
		const int in_flight_base = fd_count();
		ssize_t r = gate_rx(&g, sv[1], &rx, 64, &res);

		cr_assert_eq(r, expect, "max %u sent %u: %zd", max_fds, n, r);
		if (expect < 0) {
			assert_res_empty(&res);
			cr_assert_eq(fd_count(), in_flight_base);
		} else {
			cr_assert_eq(res.nfds, n);
			for (i = 0; i < n; i++)
				cr_assert(is_cloexec(res.fds[i]));
			cr_assert_eq(res.has_cred, 1);
			cr_assert_eq(res.cred.pid, getpid());
			cr_assert_eq(res.cred.uid, getuid());
			cr_assert_eq(res.cred.gid, getgid());
			cr_assert_gt(res.cred.pidfd, 2);
			cr_assert(is_cloexec(res.cred.pidfd));
			cr_assert_eq(pidfd_pid(res.cred.pidfd), (long)getpid());
			cr_assert_eq(fd_count(), in_flight_base + (int)n + 1);
			fdmsg_gate_discard(&g, &res);
			assert_res_empty(&res);
			cr_assert_eq(fd_count(), in_flight_base);
		}
	}
	xclose(sv[0]);
	xclose(sv[1]);
}

TEST(gate_kernel, threat4_creds_and_pidfd_with_max_fds)
{
	creds_case(3, 3, 2);
	creds_case(4, 4, 2);
	creds_case(1, 0, 2);
	creds_case(0, 0, 2);
	/* One more: the padding slot (odd) or truncation (even). */
	creds_case(3, 4, -EPROTO);
	creds_case(4, 5, -EPROTO);
	creds_case(0, 1, -EPROTO);
}

TEST(gate_kernel, threat14_oversized_datagram_with_fds_emsgsize)
{
	struct fdmsg_gate g = { 2, 0, NULL };
	struct fdmsg_gate_result res;
	char big[200];
	int sv[2], fds[2];
	struct rx rx;

	memset(big, 'z', sizeof(big));
	xpair(SOCK_SEQPACKET, sv);
	open_nulls(fds, 2);
	cr_assert_eq(send_fds(sv[0], big, sizeof(big), fds, 2, 0),
		     (ssize_t)sizeof(big));
	close_all_of(fds, 2);
	{
		const int in_flight_base = fd_count();

		cr_assert_eq(gate_rx(&g, sv[1], &rx, 16, &res), -EMSGSIZE);
		assert_res_empty(&res);
		cr_assert_eq(fd_count(), in_flight_base);
	}
	/* The datagram is gone: nothing more to read. */
	cr_assert_eq(gate_rx(&g, sv[1], &rx, 16, &res), -EAGAIN);
	xclose(sv[0]);
	xclose(sv[1]);
}

TEST(gate_kernel, threat12_zero_length_seqpacket_with_fds_returns_them)
{
	struct fdmsg_gate g = { 2, 0, NULL };
	struct fdmsg_gate_result res;
	int sv[2], fds[2];
	struct rx rx;

	xpair(SOCK_SEQPACKET, sv);
	open_nulls(fds, 2);
	cr_assert_eq(send_fds(sv[0], "", 0, fds, 2, 0), 0);
	{
		const int in_flight_base = fd_count();

		/* Looks like end-of-file, but carries descriptors the
		 * caller must close. */
		cr_assert_eq(gate_rx(&g, sv[1], &rx, 64, &res), 0);
		cr_assert_eq(res.nfds, 2);
		cr_assert(same_file(res.fds[0], fds[0]));
		cr_assert(same_file(res.fds[1], fds[1]));
		cr_assert_eq(fd_count(), in_flight_base + 2);
		fdmsg_gate_discard(&g, &res);
		assert_res_empty(&res);
		cr_assert_eq(fd_count(), in_flight_base);
	}
	close_all_of(fds, 2);
	xclose(sv[0]);
	xclose(sv[1]);
}

/* THREAT 30 in a child with stdio closed: the kernel installs the
 * received descriptors on 0, 1, 2; the gate must move them. */
static int
stdio_child(int type, unsigned flags)
{
	struct fdmsg_gate g = { 3, flags, NULL };
	struct fdmsg_gate_result res;
	int sv[2], fds[3], on = 1;
	unsigned i, n = flags ? 2 : 3;
	int base;
	struct rx rx;

	for (i = 0; i < n; i++)
		if ((fds[i] = open_null()) < 0)
			return 10;
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0)
		return 11;
	if (flags &&
	    (setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0 ||
	     setsockopt(sv[1], SOL_SOCKET, SO_PASSPIDFD, &on, sizeof(on)) < 0))
		return 12;
	close_stdio();
	base = raw_fd_count();
	if (send_fds(sv[0], "x", 1, fds, n, 0) != 1)
		return 13;
	for (i = 0; i < n; i++)
		close(fds[i]);
	if (gate_rx(&g, sv[1], &rx, 16, &res) != 1)
		return 14;
	if (res.nfds != n)
		return 15;
	for (i = 0; i < n; i++) {
		if (res.fds[i] <= 2)
			return 16;
		if (!is_cloexec(res.fds[i]))
			return 17;
	}
	if (flags && (res.cred.pidfd <= 2 || !is_cloexec(res.cred.pidfd) ||
		      pidfd_pid(res.cred.pidfd) != (long)getpid()))
		return 18;
	/* The landing slots were given back. */
	for (i = 0; i < 3; i++)
		if (fcntl((int)i, F_GETFD) >= 0 || errno != EBADF)
			return 19;
	if (raw_fd_count() != base + (flags ? 1 : 0))
		return 20;
	fdmsg_gate_discard(&g, &res);
	close(sv[0]);
	close(sv[1]);
	if (raw_fd_count() != base - (int)n - 2)
		return 21;
	return 0;
}

TEST(gate_kernel, threat30_fds_landing_on_stdio_moved_above_2)
{
	run_child(stdio_child, SOCK_SEQPACKET, 0, "rights");
}

TEST(gate_kernel, threat30_pidfd_landing_on_stdio_moved_above_2)
{
	int sv[2], on = 1;

	xpair(SOCK_SEQPACKET, sv);
	if (setsockopt(sv[1], SOL_SOCKET, SO_PASSPIDFD, &on, sizeof(on)) < 0) {
		cr_assert_eq(errno, ENOPROTOOPT);
		xclose(sv[0]);
		xclose(sv[1]);
		cr_skip_test("SO_PASSPIDFD: kernel older than 6.5");
	}
	xclose(sv[0]);
	xclose(sv[1]);
	run_child(stdio_child, SOCK_SEQPACKET,
		  FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD, "rights+pidfd");
}

/* With stdio closed and RLIMIT_NOFILE at 3, the kernel installs on 0 and
 * 1 but nothing can move above 2: every received descriptor is closed
 * and the error returned. */
static int
lift_fail_child(int type, unsigned arg)
{
	struct fdmsg_gate g = { 2, 0, NULL };
	struct fdmsg_gate_result res;
	struct rlimit old;
	int sv[2], fds[2];
	ssize_t r;
	struct rx rx;
	unsigned i;

	(void)arg;
	for (i = 0; i < 2; i++)
		if ((fds[i] = open_null()) < 0)
			return 10;
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0)
		return 11;
	close_stdio();
	if (send_fds(sv[0], "x", 1, fds, 2, 0) != 1)
		return 12;
	close(fds[0]);
	close(fds[1]);
	if (rlimit_nofile(3, &old) < 0)
		return 14;
	r = gate_rx(&g, sv[1], &rx, 16, &res);
	if (setrlimit(RLIMIT_NOFILE, &old) < 0)
		return 15;
	if (r != -EINVAL && r != -EMFILE)
		return 16;
	if (res.nfds != 0 || res.cred.pidfd != -1)
		return 17;
	for (i = 0; i < 3; i++)
		if (fcntl((int)i, F_GETFD) >= 0)
			return 18;
	close(sv[0]);
	close(sv[1]);
	return 0;
}

TEST(gate_kernel, threat30_lift_failure_closes_everything)
{
	run_child(lift_fail_child, SOCK_SEQPACKET, 0, "lift failure");
}

/* The pidfd alone, in a child with stdio closed: no descriptor is sent,
 * so the kernel installs the pidfd on 0. */
static int
lone_pidfd_setup(int sv[2])
{
	int on = 1;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return 10;
	if (setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0 ||
	    setsockopt(sv[1], SOL_SOCKET, SO_PASSPIDFD, &on, sizeof(on)) < 0)
		return 11;
	close_stdio();
	if (send_fds(sv[0], "x", 1, NULL, 0, 0) != 1)
		return 12;
	return 0;
}

static int
stdio_closed(void)
{
	int i;

	for (i = 0; i < 3; i++)
		if (fcntl(i, F_GETFD) >= 0 || errno != EBADF)
			return 0;
	return 1;
}

static int
lone_pidfd_child(int type, unsigned arg)
{
	struct fdmsg_gate g = { 0, FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD, NULL };
	struct fdmsg_gate_result res;
	int sv[2], base, r;
	struct rx rx;

	(void)type;
	(void)arg;
	if ((r = lone_pidfd_setup(sv)) != 0)
		return r;
	base = raw_fd_count();
	if (gate_rx(&g, sv[1], &rx, 16, &res) != 1)
		return 13;
	if (res.nfds != 0 || !res.has_cred || res.cred.pidfd <= 2 ||
	    !is_cloexec(res.cred.pidfd))
		return 14;
	if (!stdio_closed())
		return 15;
	if (pidfd_pid(res.cred.pidfd) != (long)getpid())
		return 16;
	if (raw_fd_count() != base + 1)
		return 17;
	fdmsg_gate_discard(&g, &res);
	if (res.cred.pidfd != -1 || raw_fd_count() != base)
		return 18;
	close(sv[0]);
	close(sv[1]);
	return 0;
}

/* The same with RLIMIT_NOFILE at 3: the pidfd cannot move above 2, so
 * it is closed and the error returned; never left on stdin. */
static int
lone_pidfd_lift_fail_child(int type, unsigned arg)
{
	struct fdmsg_gate g = { 0, FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD, NULL };
	struct fdmsg_gate_result res;
	struct rlimit old;
	int sv[2], base, r;
	ssize_t n;
	struct rx rx;

	(void)type;
	(void)arg;
	if ((r = lone_pidfd_setup(sv)) != 0)
		return r;
	base = raw_fd_count();
	if (rlimit_nofile(3, &old) < 0)
		return 14;
	n = gate_rx(&g, sv[1], &rx, 16, &res);
	if (setrlimit(RLIMIT_NOFILE, &old) < 0)
		return 15;
	if (n != -EINVAL && n != -EMFILE)
		return 16;
	if (res.nfds != 0 || res.has_cred || res.cred.pidfd != -1)
		return 17;
	if (!stdio_closed() || raw_fd_count() != base)
		return 18;
	/* The channel goes on: the next message is read normally. */
	if (send_fds(sv[0], "y", 1, NULL, 0, 0) != 1)
		return 19;
	n = gate_rx(&g, sv[1], &rx, 16, &res);
	if (n != 1 || rx.data[0] != 'y' || res.cred.pidfd <= 2)
		return 20;
	fdmsg_gate_discard(&g, &res);
	close(sv[0]);
	close(sv[1]);
	return 0;
}

static void
skip_without_passpidfd(void)
{
	int sv[2], on = 1, r;

	xpair(SOCK_SEQPACKET, sv);
	r = setsockopt(sv[1], SOL_SOCKET, SO_PASSPIDFD, &on, sizeof(on));
	if (r < 0)
		cr_assert_eq(errno, ENOPROTOOPT);
	xclose(sv[0]);
	xclose(sv[1]);
	if (r < 0)
		cr_skip_test("SO_PASSPIDFD: kernel older than 6.5");
}

TEST(gate_kernel, threat30_lone_pidfd_on_stdin_moved_above_2)
{
	skip_without_passpidfd();
	run_child(lone_pidfd_child, SOCK_SEQPACKET, 0, "lone pidfd");
}

TEST(gate_kernel, threat30_lone_pidfd_lift_failure_closes_it)
{
	skip_without_passpidfd();
	run_child(lone_pidfd_lift_fail_child, SOCK_SEQPACKET, 0,
		  "lone pidfd, lift failure");
}
