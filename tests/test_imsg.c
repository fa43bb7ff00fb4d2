/* SPDX-License-Identifier: ISC */
/*
 * fdmsg-imsg on its own (THREATS 60-64): the classic calls, the wire
 * bytes they write, and every input the reader refuses, with the exact
 * errno, the descriptor table counted, and what the next call does.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "imsg.h"
#include "imsg_int.h"
#include "imsg_util.h"
#include "testutil.h"

/* The error sticks: imsg_get and imsg_read both return it, twice. */
static void
assert_sticky(struct imsgbuf *ib, int err)
{
	struct imsg m;
	int i;

	for (i = 0; i < 2; i++) {
		errno = 0;
		cr_assert_eq(imsg_get(ib, &m), -1);
		cr_assert_eq(errno, err, "imsg_get: %s, want %s",
		    strerror(errno), strerror(err));
		errno = 0;
		cr_assert_eq(imsg_read(ib), -1);
		cr_assert_eq(errno, err, "imsg_read: %s, want %s",
		    strerror(errno), strerror(err));
	}
}

TEST(imsg, compose_writes_the_classic_bytes)
{
	struct imsgbuf ib;
	unsigned char got[64], want[64];
	struct iovec iov[2] = { { (char[]){ "ab" }, 2 },
				{ (char[]){ "cde" }, 3 } };
	struct ibuf *w;
	int sv[2];

	imsg_pair(sv, 0);
	imsg_init(&ib, sv[0]);
	cr_assert_eq(ib.pid, getpid());
	cr_assert_eq(imsg_compose(&ib, 7, 9, 0, -1, "xyz", 3), 1);
	cr_assert_eq(imsg_composev(&ib, 8, 10, 42, -1, iov, 2), 1);
	cr_assert_not_null(w = imsg_create(&ib, 11, 12, -1, 1));
	cr_assert_eq(imsg_add(w, "pq", 2), 2);	/* past the hint: grows */
	imsg_close(&ib, w);
	cr_assert_eq(ib.w.queued, 3);
	cr_assert_eq(imsg_flush(&ib), 0);
	cr_assert_eq(ib.w.queued, 0);

	raw_hdr(want, 7, 19, 0, 9, (uint32_t)getpid());
	memcpy(want + 16, "xyz", 3);
	raw_hdr(want + 19, 8, 21, 0, 10, 42);
	memcpy(want + 35, "abcde", 5);
	raw_hdr(want + 40, 11, 18, 0, 12, UINT32_MAX);
	memcpy(want + 56, "pq", 2);
	cr_assert_eq(recv(sv[1], got, sizeof(got), MSG_DONTWAIT), 58);
	cr_assert_eq(memcmp(got, want, 58), 0);
	imsg_clear(&ib);
	close(sv[0]);
	close(sv[1]);
}

TEST(imsg, roundtrip_with_descriptors)
{
	struct imsg_plan pl = { .n = 40 };
	size_t i;

	for (i = 0; i < pl.n; i++) {
		pl.len[i] = (uint16_t)(i * 397 % (MAX_IMSGSIZE - 15));
		pl.hasfd[i] = i % 3 != 1;
	}
	pl.len[5] = MAX_IMSGSIZE - IMSG_HEADER_SIZE;
	plan_run(&fdmsg_imsg_api, &fdmsg_imsg_api, &pl, 0);
	pl.n = 12;	/* all of it in the socket before the first read */
	plan_run(&fdmsg_imsg_api, &fdmsg_imsg_api, &pl, 1);
}

TEST(imsg, received_descriptor_is_cloexec_and_above_stdio)
{
	struct rx r;
	struct imsg m;
	ino_t ino;
	int saved;

	rx_open(&r);
	cr_assert_eq(imsg_compose(&r.a, 1, 0, 0, marked_fd(&ino), NULL, 0), 1);
	cr_assert_eq(imsg_flush(&r.a), 0);
	/* Descriptor 0 free: the kernel installs the received one there. */
	saved = fcntl(0, F_DUPFD_CLOEXEC, 3);
	cr_assert_geq(saved, 3);
	close(0);
	cr_assert_eq(imsg_read(&r.b), 16);
	cr_assert_eq(fcntl(0, F_GETFD), -1, "landed on 0 and stayed");
	cr_assert_eq(dup2(saved, 0), 0);
	close(saved);
	cr_assert_eq(imsg_get(&r.b, &m), 16);
	cr_assert_gt(m.fd, 2);
	cr_assert_eq(fd_ino(m.fd), ino);
	cr_assert(fcntl(m.fd, F_GETFD) & FD_CLOEXEC);
	close(m.fd);
	imsg_free(&m);
	rx_close(&r);
}

/* A header whose len is out of range: ERANGE, as the classic code says,
 * and then again: it sticks. */
static void
bad_len(uint16_t len)
{
	struct rx r;

	rx_open(&r);
	rx_hdr(&r, 1, len, 0, 0, 16, 0, NULL);
	cr_assert_eq(imsg_read(&r.b), 16);
	assert_sticky(&r.b, ERANGE);
	rx_close(&r);
}

TEST(imsg, short_len_is_erange_and_sticks) { bad_len(15); }
TEST(imsg, long_len_is_erange_and_sticks) { bad_len(MAX_IMSGSIZE + 1); }

/* A flag the classic code does not define, or IMSGF_HASFD with no
 * descriptor: either sticks. */
static void
bad_flags(uint16_t flags, int err)
{
	struct rx r;

	rx_open(&r);
	rx_hdr(&r, 1, 16, flags, 0, 16, 0, NULL);
	cr_assert_eq(imsg_read(&r.b), 16);
	assert_sticky(&r.b, err);
	rx_close(&r);
}

TEST(imsg, unknown_flag_is_ebadmsg_and_sticks) { bad_flags(2, EBADMSG); }
TEST(imsg, hasfd_without_descriptor_is_eproto)
{
	bad_flags(IMSGF_HASFD, EPROTO);
}

/* The descriptor came in a read that began after its message's first
 * byte: no classic sender does that, and the message must not have it. */
TEST(imsg, descriptor_after_first_byte_is_eproto)
{
	struct rx r;
	int open0;

	rx_open(&r);
	open0 = fd_count(); /* with the pair open */
	rx_hdr(&r, 1, 16, IMSGF_HASFD, 0, 8, 0, NULL);
	cr_assert_eq(imsg_read(&r.b), 8);
	rx_hdr(&r, 1, 16, IMSGF_HASFD, 8, 16, 1, NULL);
	cr_assert_eq(imsg_read(&r.b), 8);
	cr_assert_eq(fd_count(), open0 + 1, "the descriptor waits");
	assert_sticky(&r.b, EPROTO);
	cr_assert_eq(fd_count(), open0, "and is closed");
	rx_close(&r);
}

/*
 * A classic sender's partial writes: each msgbuf_write attaches the next
 * message's descriptor to whatever is left of earlier ones, so
 * descriptors run reads ahead of their messages (found by the imsg_diff
 * fuzzer against a stricter rule).  Each still goes to its own message.
 */
TEST(imsg, descriptors_ahead_of_their_messages_are_matched_in_order)
{
	struct rx r;
	struct imsg m;
	unsigned char s[3 * 40];
	ino_t ino[3];
	int fd, i;

	rx_open(&r);
	memset(s, 'x', sizeof(s));
	for (i = 0; i < 3; i++)
		raw_hdr(s + 40 * i, (uint32_t)i, 40, IMSGF_HASFD, 0, 0);
	/* Three writes of 10 bytes of M0, each with the next descriptor:
	 * M2's arrives in a read that ends before M1 begins. */
	for (i = 0; i < 3; i++) {
		fd = marked_fd(&ino[i]);
		raw_send(r.sv[0], s + 10 * i, 10, &fd, 1);
		close(fd);
		cr_assert_eq(imsg_read(&r.b), 10);
	}
	raw_send(r.sv[0], s + 30, 90, NULL, 0);
	cr_assert_eq(imsg_read(&r.b), 90);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(imsg_get(&r.b, &m), 40, "message %d: %s", i,
		    strerror(errno));
		cr_assert_eq(m.hdr.type, (uint32_t)i);
		cr_assert_eq(fd_ino(m.fd), ino[i]);
		close(m.fd);
		imsg_free(&m);
	}
	cr_assert_eq(imsg_get(&r.b, &m), 0);
	rx_close(&r);
}

/* Two or three descriptors in one read: the classic code keeps one and
 * its count slips; here the read fails. */
static void
many_in_one_read(int n)
{
	struct rx r;
	int open0;

	rx_open(&r);
	open0 = fd_count(); /* with the pair open */
	rx_hdr(&r, 1, 16, IMSGF_HASFD, 0, 16, n, NULL);
	errno = 0;
	cr_assert_eq(imsg_read(&r.b), -1);
	cr_assert_eq(errno, EPROTO, "%s", strerror(errno));
	cr_assert_eq(fd_count(), open0, "all closed");
	assert_sticky(&r.b, EPROTO);
	rx_close(&r);
}

TEST(imsg, two_descriptors_in_one_read_is_eproto) { many_in_one_read(2); }
TEST(imsg, ctrunc_is_eproto) { many_in_one_read(3); }

/* Descriptors with unflagged messages pile up: the 65th is refused, and
 * every one is closed. */
TEST(imsg, pending_descriptors_are_bounded)
{
	struct rx r;
	int open0;
	struct imsg m;
	int i;

	rx_open(&r);
	open0 = fd_count(); /* with the pair open */
	for (i = 0; i < IMSG_PEND_MAX; i++) {
		rx_hdr(&r, 1, 16, 0, 0, 16, 1, NULL);
		cr_assert_eq(imsg_read(&r.b), 16);
		cr_assert_eq(imsg_get(&r.b, &m), 16);
	}
	rx_hdr(&r, 1, 16, 0, 0, 16, 1, NULL);
	errno = 0;
	cr_assert_eq(imsg_read(&r.b), -1);
	cr_assert_eq(errno, EPROTO);
	cr_assert_eq(fd_count(), open0);
	assert_sticky(&r.b, EPROTO);
	rx_close(&r);
}

/* A descriptor sent with an unflagged message may wait for a flagged one
 * (a classic sender's partial write); imsg_clear closes one that never
 * finds it. */
TEST(imsg, clear_closes_waiting_descriptors)
{
	struct rx r;
	int open0;
	struct imsg m;
	ino_t ino;

	rx_open(&r);
	open0 = fd_count(); /* with the pair open */
	rx_hdr(&r, 1, 16, 0, 0, 16, 1, &ino);
	cr_assert_eq(imsg_read(&r.b), 16);
	cr_assert_eq(imsg_get(&r.b, &m), 16);
	cr_assert_eq(m.fd, -1);
	rx_hdr(&r, 2, 16, IMSGF_HASFD, 0, 16, 0, NULL);
	cr_assert_eq(imsg_read(&r.b), 16);
	cr_assert_eq(imsg_get(&r.b, &m), 16);
	cr_assert_eq(fd_ino(m.fd), ino, "the early descriptor is its");
	close(m.fd);
	rx_hdr(&r, 3, 16, 0, 0, 16, 1, NULL);
	cr_assert_eq(imsg_read(&r.b), 16);
	cr_assert_eq(fd_count(), open0 + 1);
	imsg_clear(&r.b);
	cr_assert_eq(fd_count(), open0);
	rx_close(&r);
}

/*
 * A descriptor-carrying header across the end of the first read, at
 * every split of its 16 bytes and a few around: the prefix fills the
 * receive buffer to IBUF_READ_SIZE - k.
 */
TEST(imsg, header_split_at_read_boundary)
{
	struct imsg_plan pl;
	size_t k, fill;

	for (k = 0; k <= 20; k++) {
		memset(&pl, 0, sizeof(pl));
		pl.n = 6;
		fill = IBUF_READ_SIZE - k;
		pl.len[0] = pl.len[1] = pl.len[2] = MAX_IMSGSIZE - 16;
		pl.len[3] = (uint16_t)(fill - 3 * MAX_IMSGSIZE - 16);
		pl.hasfd[1] = 1;
		pl.len[4] = 100;
		pl.hasfd[4] = 1;
		pl.len[5] = 0;
		pl.hasfd[5] = 1;
		plan_run(&fdmsg_imsg_api, &fdmsg_imsg_api, &pl, 1);
	}
}

TEST(imsg, sizes_are_checked_without_wrapping)
{
	struct imsgbuf ib;
	struct iovec iov[2];
	struct ibuf *w;
	ino_t ino;
	int sv[2], fd;
	static char big[MAX_IMSGSIZE];

	imsg_pair(sv, 0);
	imsg_init(&ib, sv[0]);
	/* 65530 + 16 wraps a uint16_t to 10 in the classic imsg_create. */
	errno = 0;
	cr_assert_null(imsg_create(&ib, 1, 0, 0, 65530));
	cr_assert_eq(errno, ERANGE);
	fd = marked_fd(&ino);
	errno = 0;
	cr_assert_eq(imsg_compose(&ib, 1, 0, 0, fd, big,
	    MAX_IMSGSIZE - IMSG_HEADER_SIZE + 1), -1);
	cr_assert_eq(errno, ERANGE);
	cr_assert_eq(fd_ino(fd), ino, "a failed compose leaves fd open");
	close(fd);
	cr_assert_eq(imsg_compose(&ib, 1, 0, 0, -1, big,
	    MAX_IMSGSIZE - IMSG_HEADER_SIZE), 1);
	/* The classic int sum of these wraps to 0. */
	iov[0] = (struct iovec){ big, SIZE_MAX };
	iov[1] = (struct iovec){ big, 1 };
	errno = 0;
	cr_assert_eq(imsg_composev(&ib, 1, 0, 0, -1, iov, 2), -1);
	cr_assert_eq(errno, ERANGE);
	errno = 0;
	cr_assert_eq(imsg_composev(&ib, 1, 0, 0, -1, iov, -1), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(ib.w.queued, 1);
	cr_assert_not_null(w = imsg_create(&ib, 1, 0, 0, 4));
	cr_assert_eq(imsg_add(w, big, MAX_IMSGSIZE - 16), MAX_IMSGSIZE - 16);
	errno = 0;
	cr_assert_eq(imsg_add(w, "x", 1), -1, "frees w");
	cr_assert_eq(errno, ERANGE);
	cr_assert_not_null(w = ibuf_open(8));
	cr_assert_eq(ibuf_add(w, "12345678", 8), 0);
	cr_assert_eq(ibuf_left(w), 0);
	cr_assert_eq(ibuf_size(w), 8);
	cr_assert_eq(ibuf_add(w, "9", 1), -1);
	cr_assert_null(ibuf_reserve(w, 1));
	cr_assert_not_null(ibuf_seek(w, 4, 4));
	cr_assert_null(ibuf_seek(w, 5, 4));
	/* pos + len wraps to 1: in the classic code, inside wpos. */
	cr_assert_null(ibuf_seek(w, SIZE_MAX, 2));
	ibuf_free(w);
	cr_assert_null(ibuf_dynamic(9, 8));
	imsg_clear(&ib);
	close(sv[0]);
	close(sv[1]);
}

TEST(imsg, write_to_a_gone_peer_is_epipe_not_sigpipe)
{
	struct imsgbuf a;
	ino_t ino;
	int sv[2];
	void (*old)(int) = signal(SIGPIPE, SIG_DFL);

	imsg_pair(sv, 0);
	imsg_init(&a, sv[0]);
	close(sv[1]);
	cr_assert_eq(imsg_compose(&a, 1, 0, 0, marked_fd(&ino), "x", 1), 1);
	errno = 0;
	cr_assert_eq(msgbuf_write(&a.w), -1);
	cr_assert_eq(errno, EPIPE);
	cr_assert_eq(a.w.queued, 1, "still queued, descriptor held");
	imsg_clear(&a);
	cr_assert_eq(a.w.queued, 0);
	close(sv[0]);
	signal(SIGPIPE, old);
}

TEST(imsg, end_of_stream_reads_zero)
{
	struct rx r;
	struct imsg m;

	rx_open(&r);
	errno = 0;
	cr_assert_eq(imsg_read(&r.b), -1);
	cr_assert_eq(errno, EAGAIN);
	rx_hdr(&r, 1, 16, 0, 0, 5, 0, NULL);
	shutdown(r.sv[0], SHUT_WR);
	cr_assert_eq(imsg_read(&r.b), 5);
	cr_assert_eq(imsg_get(&r.b, &m), 0);
	cr_assert_eq(imsg_read(&r.b), 0);
	cr_assert_eq(imsg_read(&r.b), 0);
	rx_close(&r);
}

/* A full descriptor table: EAGAIN before reading, as the classic code
 * does, so nothing is lost; once a slot is free the descriptor comes. */
TEST(imsg, full_table_is_eagain_and_loses_nothing)
{
	SKIP_UNDER_VALGRIND();
	struct rx r;
	struct imsg m;
	struct rlimit old, rl;
	ino_t ino;
	int fill[64], nfill = 0, fd;

	rx_open(&r);
	cr_assert_eq(imsg_compose(&r.a, 5, 0, 0, marked_fd(&ino), "x", 1), 1);
	cr_assert_eq(imsg_flush(&r.a), 0);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	rl = old;
	rl.rlim_cur = (rlim_t)fd_count() + 32;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	while ((fd = fcntl(r.sv[0], F_DUPFD_CLOEXEC, 3)) >= 0)
		fill[nfill++] = fd;
	cr_assert_lt(nfill, 64);
	errno = 0;
	cr_assert_eq(imsg_read(&r.b), -1);
	cr_assert_eq(errno, EAGAIN);
	close(fill[--nfill]);
	cr_assert_eq(imsg_read(&r.b), 17);
	cr_assert_eq(imsg_get(&r.b, &m), 17);
	cr_assert_eq(fd_ino(m.fd), ino);
	close(m.fd);
	imsg_free(&m);
	while (nfill > 0)
		close(fill[--nfill]);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	rx_close(&r);
}

/* Any control message but one descriptor is refused: here the kernel's
 * SCM_CREDENTIALS, which a socket with SO_PASSCRED gets on every read (the
 * classic reader skips what is not SCM_RIGHTS). */
TEST(imsg, other_control_messages_are_eproto)
{
	struct rx r;
	int one = 1;

	rx_open(&r);
	cr_assert_eq(setsockopt(r.sv[1], SOL_SOCKET, SO_PASSCRED, &one,
	    sizeof(one)), 0);
	rx_hdr(&r, 1, 16, 0, 0, 16, 0, NULL);
	errno = 0;
	cr_assert_eq(imsg_read(&r.b), -1);
	cr_assert_eq(errno, EPROTO, "%s", strerror(errno));
	assert_sticky(&r.b, EPROTO);
	rx_close(&r);
}

/* A caller that reads and never takes: the buffer fills with whole
 * messages and imsg_read says ENOBUFS (the classic one reads 0 bytes
 * and returns 0, the end of the stream); nothing is lost. */
TEST(imsg, full_buffer_is_enobufs_not_the_end)
{
	struct imsg_plan pl = { .n = 5 };
	struct rx r;
	struct imsg m;
	size_t i;
	ssize_t n;
	int reads = 0;

	rx_open(&r);
	for (i = 0; i < pl.n; i++) {
		pl.len[i] = MAX_IMSGSIZE - IMSG_HEADER_SIZE;
		plan_compose(&fdmsg_imsg_api, &r.a, &pl, i);
	}
	cr_assert_eq(imsg_flush(&r.a), 0);
	while ((n = imsg_read(&r.b)) > 0)
		cr_assert_lt(reads++, 100);
	cr_assert_eq(n, -1);
	cr_assert_eq(errno, ENOBUFS, "%s", strerror(errno));
	cr_assert_eq(r.b.r.wpos, IBUF_READ_SIZE);
	for (i = 0; i < pl.n; i++) {
		while ((n = imsg_get(&r.b, &m)) == 0)
			cr_assert_gt(imsg_read(&r.b), 0);
		plan_check(&fdmsg_imsg_api, &pl, i, &m, n);
		imsg_free(&m);
	}
	rx_close(&r);
}

/*
 * OpenBGPD's and OpenSMTPD's imsg_read_nofd recv into r.buf + r.wpos, up
 * to the whole of r.buf, and imsg_get parses it.  The reader's state must
 * live where that does not reach: a descriptor waiting for its flagged
 * message survives a buffer filled to the last byte by the program.
 */
static ssize_t
read_nofd(struct imsgbuf *ib)
{
	ssize_t n = recv(ib->fd, ib->r.buf + ib->r.wpos,
	    sizeof(ib->r.buf) - ib->r.wpos, 0);

	if (n > 0)
		ib->r.wpos += (size_t)n;
	return n;
}

TEST(imsg, program_filling_r_buf_itself_keeps_the_reader_state)
{
	struct imsg_plan pl;
	struct rx r;
	struct imsg m;
	ssize_t n;
	size_t i, got = 0;
	ino_t ino;

	rx_open(&r);
	/* A descriptor arrives early, with an unflagged message. */
	rx_hdr(&r, 1, 16, 0, 0, 16, 1, &ino);
	cr_assert_eq(imsg_read(&r.b), 16);
	cr_assert_eq(imsg_get(&r.b, &m), 16);
	/* Then whole messages, read by the program up to the last byte of
	 * r.buf: every byte the classic layout has is the program's. */
	memset(&pl, 0, sizeof(pl));
	pl.n = 5;
	for (i = 0; i < pl.n; i++) {
		pl.len[i] = MAX_IMSGSIZE - IMSG_HEADER_SIZE;
		plan_compose(&fdmsg_imsg_api, &r.a, &pl, i);
	}
	cr_assert_eq(imsg_flush(&r.a), 0);
	cr_assert_eq(read_nofd(&r.b), (ssize_t)IBUF_READ_SIZE);
	while (got < pl.n) {
		while ((n = imsg_get(&r.b, &m)) > 0) {
			plan_check(&fdmsg_imsg_api, &pl, got++, &m, n);
			imsg_free(&m);
		}
		cr_assert_eq(n, 0, "%s", strerror(errno));
		if (got < pl.n)
			cr_assert_gt(read_nofd(&r.b), 0);
	}
	/* The flagged message still gets the early descriptor. */
	rx_hdr(&r, 2, 16, IMSGF_HASFD, 0, 16, 0, NULL);
	cr_assert_eq(imsg_read(&r.b), 16);
	cr_assert_eq(imsg_get(&r.b, &m), 16, "%s", strerror(errno));
	cr_assert_eq(fd_ino(m.fd), ino);
	close(m.fd);
	rx_close(&r);
}
