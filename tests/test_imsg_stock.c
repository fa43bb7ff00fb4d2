/* SPDX-License-Identifier: ISC */
/*
 * fdmsg-imsg against the classic imsg built from the reference source
 * (-Dimsg_reference, a tmux 3.3a tree): the same struct layouts, the same
 * bytes from the same calls, and messages with descriptors both ways over
 * a socketpair, at MAX_IMSGSIZE, many per read, and with a
 * descriptor-carrying header split across the receiver's read boundary.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "imsg_int.h"
#include "imsg_util.h"
#include "stock_imsg.h"
#include "testutil.h"

extern const size_t stock_imsg_layout[];

static const struct imsg_api stock_api = {
	"stock imsg", stock_imsg_init, stock_imsg_read, stock_imsg_get,
	stock_imsg_compose, stock_imsg_flush, stock_msgbuf_write,
	stock_imsg_free, stock_imsg_clear,
};

#define L(t, f) offsetof(struct t, f)

TEST(imsg_stock, layout_matches_the_reference)
{
	const size_t mine[] = {
		sizeof(struct ibuf), L(ibuf, buf), L(ibuf, size), L(ibuf, max),
		L(ibuf, wpos), L(ibuf, rpos), L(ibuf, fd),
		sizeof(struct msgbuf), L(msgbuf, queued), L(msgbuf, fd),
		sizeof(struct ibuf_read), L(ibuf_read, rptr),
		L(ibuf_read, wpos),
		sizeof(struct imsg_fd), L(imsg_fd, fd),
		sizeof(struct imsgbuf), L(imsgbuf, r), L(imsgbuf, w),
		L(imsgbuf, fd), L(imsgbuf, pid),
		sizeof(struct imsg_hdr), L(imsg_hdr, type), L(imsg_hdr, len),
		L(imsg_hdr, flags), L(imsg_hdr, peerid), L(imsg_hdr, pid),
		sizeof(struct imsg), L(imsg, hdr), L(imsg, fd), L(imsg, data),
		IBUF_READ_SIZE, IMSG_HEADER_SIZE, MAX_IMSGSIZE, IMSGF_HASFD,
		0
	};
	size_t i;

	for (i = 0; i < sizeof(mine) / sizeof(mine[0]); i++)
		cr_assert_eq(mine[i], stock_imsg_layout[i],
		    "layout item %zu: %zu here, %zu in the reference", i,
		    mine[i], stock_imsg_layout[i]);
}

/* Everything waiting on s, read raw (descriptors dropped by the kernel
 * for want of a control buffer). */
static size_t
drain_raw(int s, unsigned char *buf, size_t max)
{
	size_t got = 0;
	ssize_t n;

	while (got < max &&
	    (n = recv(s, buf + got, max - got, MSG_DONTWAIT)) > 0)
		got += (size_t)n;
	return got;
}

/* One sequence of calls; the stock calls when stock, else fdmsg-imsg's. */
static size_t
compose_sequence(int stock, unsigned char *out, size_t max)
{
	struct imsgbuf ib;
	struct ibuf *w;
	static unsigned char data[MAX_IMSGSIZE];
	struct iovec iov[4];
	ino_t ino;
	size_t i, n;
	int sv[2];

	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 13 + 5);
	iov[0] = (struct iovec){ data, 3 };
	iov[1] = (struct iovec){ data + 3, 0 };
	iov[2] = (struct iovec){ data + 100, 1000 };
	iov[3] = (struct iovec){ data + 7, MAX_IMSGSIZE - 16 - 1003 };
	imsg_pair(sv, 0);
	(stock ? stock_imsg_init : imsg_init)(&ib, sv[0]);
#define C(...) cr_assert_eq((stock ? stock_imsg_compose : imsg_compose)(__VA_ARGS__), 1)
#define V(...) cr_assert_eq((stock ? stock_imsg_composev : imsg_composev)(__VA_ARGS__), 1)
	C(&ib, 1, 2, 0, -1, NULL, 0);
	C(&ib, 0xffffffff, 0xfffffffe, 0, -1, data, 1);
	C(&ib, 3, 4, -1, marked_fd(&ino), data, 200);
	C(&ib, 5, 6, 12345, -1, data, MAX_IMSGSIZE - 16);
	V(&ib, 7, 8, 0, -1, iov, 3);
	V(&ib, 9, 10, 0, marked_fd(&ino), iov, 4);
	V(&ib, 11, 12, 0, -1, iov, 0);
	w = (stock ? stock_imsg_create : imsg_create)(&ib, 13, 14, 0, 10);
	cr_assert_not_null(w);
	for (i = 0; i < 5; i++)
		cr_assert_eq((stock ? stock_imsg_add : imsg_add)(w, data + i,
		    (uint16_t)(i * 111)), (int)(i * 111));
	w->fd = marked_fd(&ino);
	(stock ? stock_imsg_close : imsg_close)(&ib, w);
	cr_assert_eq(ib.w.queued, 8);
	cr_assert_eq((stock ? stock_imsg_flush : imsg_flush)(&ib), 0);
	cr_assert_eq(ib.w.queued, 0);
	n = drain_raw(sv[1], out, max);
	(stock ? stock_imsg_clear : imsg_clear)(&ib);
	close(sv[0]);
	close(sv[1]);
	return n;
#undef C
#undef V
}

TEST(imsg_stock, same_calls_same_bytes)
{
	static unsigned char a[65536], b[65536];
	size_t na, nb;

	na = compose_sequence(1, a, sizeof(a));
	nb = compose_sequence(0, b, sizeof(b));
	cr_assert_gt(na, 2 * MAX_IMSGSIZE);
	cr_assert_eq(na, nb, "stock wrote %zu bytes, fdmsg-imsg %zu", na, nb);
	cr_assert_eq(memcmp(a, b, na), 0);
}

static void
both_ways(struct imsg_plan *pl, int batch)
{
	plan_run(&stock_api, &fdmsg_imsg_api, pl, batch);
	plan_run(&fdmsg_imsg_api, &stock_api, pl, batch);
}

TEST(imsg_stock, descriptors_on_every_message_both_ways)
{
	struct imsg_plan pl = { .n = 60 };
	size_t i;

	for (i = 0; i < pl.n; i++) {
		pl.len[i] = (uint16_t)(i * 1499 % (MAX_IMSGSIZE - 15));
		pl.hasfd[i] = 1;
	}
	pl.len[0] = MAX_IMSGSIZE - IMSG_HEADER_SIZE;
	pl.len[1] = 0;
	both_ways(&pl, 0);
	pl.n = 10;
	both_ways(&pl, 1);
}

TEST(imsg_stock, many_messages_per_read_both_ways)
{
	struct imsg_plan pl = { .n = 500 };
	size_t i;

	for (i = 0; i < pl.n; i++) {
		pl.len[i] = (uint16_t)(i % 50);
		pl.hasfd[i] = i % 7 == 3;
	}
	both_ways(&pl, 1);
	both_ways(&pl, 0);
}

/* The prefix fills the receiver's buffer to its end minus k, so the
 * descriptor-carrying header straddles that read's end at every split. */
static void
split_plan(struct imsg_plan *pl, size_t fill)
{
	memset(pl, 0, sizeof(*pl));
	pl->n = 6;
	pl->len[0] = pl->len[1] = pl->len[2] = MAX_IMSGSIZE - 16;
	pl->len[3] = (uint16_t)(fill - 3 * MAX_IMSGSIZE - 16);
	pl->hasfd[2] = 1;
	pl->len[4] = 1000;
	pl->hasfd[4] = 1;
	pl->hasfd[5] = 1;
}

TEST(imsg_stock, header_split_at_every_read_boundary)
{
	struct imsg_plan pl;
	size_t k;

	/* Both read into the whole of r.buf: the same boundary. */
	for (k = 0; k <= 20; k++) {
		split_plan(&pl, IBUF_READ_SIZE - k);
		plan_run(&stock_api, &fdmsg_imsg_api, &pl, 1);
		plan_run(&fdmsg_imsg_api, &stock_api, &pl, 1);
	}
}
