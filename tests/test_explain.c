/* SPDX-License-Identifier: ISC */
/*
 * Explainable rejections (issue 13): after every receive-side rejection
 * fdmsg_chan_error names the rule, the offending value and the limit, and
 * fdmsg_error_format says it in one line.
 *
 * A raw peer on a plain socketpair(2) breaks one rule at a time with its
 * own bytes and sendmsg(2); each case asserts the errno, the info (rule,
 * value, limit), the formatted line, that the poisoned channel reports
 * the same error and the same info twice more, and that every descriptor
 * that came was closed.  Rules no real peer can break (forged ancillary
 * records) go through fdmsg_gate_check with forged control buffers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cmsg.h"
#include "compat.h"
#include "fdmsg.h"
#include "rawpeer.h"
#include "testutil.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define SMALL_FRAME 256u

/* ------------------------------------------------------------------ */
/* The raw peer                                                        */
/* ------------------------------------------------------------------ */

/* A valid hello (min/max version 1, max_frame 4096), to be spoiled. */
static void
put_hello(uint8_t *p)
{
	const struct fdmsg_hello h = { .min_version = 1, .max_version = 1,
				       .max_frame = 4096 };

	cr_assert_eq(fdmsg_hello_encode(&h, p), (int)FDMSG_HELLO_SIZE);
}

/* ------------------------------------------------------------------ */
/* The receiving channel                                               */
/* ------------------------------------------------------------------ */

struct rx {
	int type;
	int peer;
	struct fdmsg_chan *chan;
	struct fdmsg_msg msg;
	int base; /* fd count with both ends open, nothing in flight */
};

static int
open_rx(struct rx *x, int type, unsigned max_fds, uint32_t max_frame,
	unsigned optflags)
{
	int r;

	memset(x, 0, sizeof(*x));
	x->type = type;
	r = open_chan(type, max_fds, max_frame, 0, optflags, &x->peer,
		      &x->chan);
	if (r == 0)
		x->base = fd_count();
	return r;
}

static void
rx_open(struct rx *x, int type, unsigned max_fds,
	uint32_t max_frame, unsigned optflags)
{
	int r = open_rx(x, type, max_fds, max_frame, optflags);

	cr_assert_eq(r, 0, "fdmsg_chan_new(type %d): %d", type, r);
}

static void
rx_close(struct rx *x)
{
	int want = x->base - 1 - (x->peer >= 0);

	fdmsg_chan_free(x->chan);
	if (x->peer >= 0)
		close(x->peer);
	cr_assert_eq(fd_count(), want, "after free: %d open, %d", fd_count(),
		     want);
}

static void
peer_close(struct rx *x)
{
	close(x->peer);
	x->peer = -1;
	x->base--;
}

static int
rx_recv(struct rx *x)
{
	return recv_retry(x->chan, x->type, &x->msg);
}

/* The info must be exactly this, and say exactly text. */
static void
check_info(const struct fdmsg_error_info *in, const char *what,
	   int err, int rule, uint64_t value, uint64_t limit,
	   const char *text)
{
	char line[256];
	size_t n;

	cr_assert_eq(in->err, err, "%s: info.err %d, want %d", what, in->err,
		     err);
	cr_assert_eq(in->rule, rule, "%s: rule %d, want %d", what, in->rule,
		     rule);
	cr_assert_eq(in->value, value, "%s: value %llu, want %llu", what,
		     (unsigned long long)in->value, (unsigned long long)value);
	cr_assert_eq(in->limit, limit, "%s: limit %llu, want %llu", what,
		     (unsigned long long)in->limit, (unsigned long long)limit);
	for (size_t i = 0; i < NELEM(in->reserved); i++)
		cr_assert_eq(in->reserved[i], 0u, "%s: reserved[%zu]", what, i);
	n = fdmsg_error_format(in, line, sizeof(line));
	cr_assert_str_eq(line, text, "%s", what);
	cr_assert_eq(n, strlen(text), "%s: format returned %zu", what, n);
}

/*
 * The next receive is rejected with err, for this rule, value and limit;
 * the channel's info says text; every descriptor that came is closed; a
 * connected channel is poisoned with the same error and the same info.
 */
static void
expect_why(struct rx *x, const char *what, int err, int rule,
	   uint64_t value, uint64_t limit, const char *text)
{
	struct fdmsg_error_info in;
	int r;

	r = rx_recv(x);
	cr_assert_eq(r, err, "%s: fdmsg_recv %d, want %d", what, r, err);
	cr_assert_eq(fd_count(), x->base, "%s: descriptors left open: %d, %d",
		     what, fd_count(), x->base);
	memset(&in, 0xa5, sizeof(in));
	cr_assert_eq(fdmsg_chan_error(x->chan, &in), err, "%s", what);
	check_info(&in, what, err, rule, value, limit, text);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(fdmsg_recv(x->chan, &x->msg), err,
			     "%s: poison", what);
		memset(&in, 0, sizeof(in));
		cr_assert_eq(fdmsg_chan_error(x->chan, &in), err);
		check_info(&in, what, err, rule, value, limit, text);
	}
}

/* What a rejection must report. */
struct want {
	int err, rule;
	uint64_t value, limit;
	const char *text;
};

/* A fresh channel (max_fds, max_frame) of type gets bytes and nfds
 * descriptors from the raw peer in one write and rejects them as w says. */
static void
reject_case(int type, unsigned max_fds, uint32_t max_frame,
	    const void *bytes, size_t n, unsigned nfds,
	    const char *what, const struct want *w)
{
	char label[96];
	struct rx x;

	snprintf(label, sizeof(label), "type %d, %s", type, what);
	rx_open(&x, type, max_fds, max_frame, 0);
	peer_send(x.peer, bytes, n, nfds, NULL);
	expect_why(&x, label, w->err, w->rule, w->value, w->limit, w->text);
	rx_close(&x);
}

/* The codec's *_explain gave r and in for a case that wants w. */
static void
explained(int r, const struct fdmsg_error_info *in,
	  const char *what, const struct want *w)
{
	cr_assert_eq(r, w->err, "%s: %d", what, r);
	check_info(in, what, w->err, w->rule, w->value, w->limit, w->text);
}

static const int all_types[] = { SOCK_SEQPACKET, SOCK_STREAM, SOCK_DGRAM };
static const int dgram_types[] = { SOCK_SEQPACKET, SOCK_DGRAM };

/* ------------------------------------------------------------------ */
/* Before any rejection, and the format itself                         */
/* ------------------------------------------------------------------ */

TEST(explain, none_before_any_error)
{
	struct fdmsg_error_info in;
	uint8_t frame[20] = { 0 };
	struct rx x;
	int r;

	for (size_t t = 0; t < NELEM(all_types); t++) {
		rx_open(&x, all_types[t], 0, 0, 0);
		memset(&in, 0xa5, sizeof(in));
		cr_assert_eq(fdmsg_chan_error(x.chan, &in), 0);
		check_info(&in, "fresh", 0, FDMSG_RULE_NONE, 0, 0,
			   "no rejection");
		/* -EAGAIN and a good frame are no rejections either. */
		cr_assert_eq(fdmsg_recv(x.chan, &x.msg), -EAGAIN);
		put_hdr(frame, 1, 0, 0, 20, 7, 9);
		peer_send(x.peer, frame, 20, 0, NULL);
		cr_assert_eq(rx_recv(&x), 0);
		cr_assert_eq(fdmsg_chan_error(x.chan, &in), 0);
		check_info(&in, "after a frame", 0, FDMSG_RULE_NONE, 0, 0,
			   "no rejection");
		/* The peer's end is no rejection. */
		peer_close(&x);
		r = rx_recv(&x);
		/* A datagram socket is told of no end. */
		cr_assert(r == -EPIPE ||
			  (all_types[t] == SOCK_DGRAM && r == -EAGAIN), "%d", r);
		cr_assert_eq(fdmsg_chan_error(x.chan, &in), 0);
		cr_assert_eq(in.rule, FDMSG_RULE_NONE);
		rx_close(&x);
	}
	cr_assert_eq(fdmsg_chan_error(NULL, &in), -EINVAL);
}

TEST(explain, chan_error_null_info)
{
	struct rx x;

	rx_open(&x, SOCK_SEQPACKET, 0, 0, 0);
	cr_assert_eq(fdmsg_chan_error(x.chan, NULL), -EINVAL);
	rx_close(&x);
}

/* snprintf's contract: at most len bytes with the NUL, the whole length
 * returned, nothing written for len 0. */
TEST(explain, format_truncates_like_snprintf)
{
	const char *full = "frame declares 5 descriptors, max_fds is 4";
	struct fdmsg_error_info in = { .err = -EPROTO, .rule = FDMSG_RULE_NFDS,
				       .value = 5, .limit = 4 };
	char buf[64];
	size_t n = strlen(full);

	for (size_t len = 0; len <= n + 2; len++) {
		memset(buf, 'x', sizeof(buf));
		cr_assert_eq(fdmsg_error_format(&in, buf, len), n, "len %zu",
			     len);
		if (len == 0) {
			cr_assert_eq(buf[0], 'x', "len 0 wrote a byte");
			continue;
		}
		cr_assert_eq(strlen(buf), len - 1 < n ? len - 1 : n,
			     "len %zu", len);
		cr_assert_eq(strncmp(buf, full, strlen(buf)), 0, "len %zu: %s",
			     len, buf);
		cr_assert_eq(buf[len], 'x', "len %zu: wrote past the end", len);
	}
	cr_assert_eq(fdmsg_error_format(&in, NULL, 0), n);
	cr_assert_eq(fdmsg_error_format(NULL, buf, sizeof(buf)),
		     strlen("no rejection"));
	cr_assert_str_eq(buf, "no rejection");
	/* Rules this version does not know are named by number. */
	in.rule = 1000;
	cr_assert_eq(fdmsg_error_format(&in, buf, sizeof(buf)), 9u);
	cr_assert_str_eq(buf, "rule 1000");
	in.rule = -3;
	fdmsg_error_format(&in, buf, sizeof(buf));
	cr_assert_str_eq(buf, "rule 4294967293");
	/* The largest values fit, digit for digit. */
	in.rule = FDMSG_RULE_LEN_MAX;
	in.value = UINT64_MAX;
	in.limit = 0;
	cr_assert_eq(fdmsg_error_format(&in, buf, sizeof(buf)),
		     strlen("frame length 18446744073709551615, max_frame "
			    "is 0"));
	cr_assert_str_eq(buf, "frame length 18446744073709551615, max_frame "
			      "is 0");
}

/* Every rule up to the last has its own text. */
TEST(explain, every_rule_has_a_text)
{
	struct fdmsg_error_info in = { 0 };
	char buf[256];

	for (int r = FDMSG_RULE_NONE; r <= FDMSG_RULE_FDS_AHEAD; r++) {
		in.rule = r;
		cr_assert_lt(fdmsg_error_format(&in, buf, sizeof(buf)),
			     sizeof(buf));
		cr_assert_neq(strncmp(buf, "rule ", 5), 0, "rule %d: %s", r,
			      buf);
	}
}

/* ------------------------------------------------------------------ */
/* Header rules, on every socket type                                  */
/* ------------------------------------------------------------------ */

struct hdr_case {
	const char *what;
	uint8_t version, nfds;
	uint16_t flags;
	uint32_t len;
	struct want w;
};

static const struct hdr_case hdr_cases[] = {
	{ "version 2", 2, 0, 0, 16, { -EBADMSG, FDMSG_RULE_VERSION, 2, 1,
	  "frame version 2, only version 1 is spoken" } },
	{ "nfds 5 of 4", 1, 5, 0, 16, { -EPROTO, FDMSG_RULE_NFDS, 5, 4,
	  "frame declares 5 descriptors, max_fds is 4" } },
	{ "flags 2", 1, 0, 2, 16, { -EBADMSG, FDMSG_RULE_FLAGS, 2, 0,
	  "frame flags 2, must be 0" } },
	{ "len 15", 1, 0, 0, 15, { -EBADMSG, FDMSG_RULE_LEN_SHORT, 15, 16,
	  "frame length 15, below the 16-byte header" } },
	{ "len 257", 1, 0, 0, 257, { -EMSGSIZE, FDMSG_RULE_LEN_MAX, 257, 256,
	  "frame length 257, max_frame is 256" } },
};

TEST(explain, header_rules)
{
	uint8_t frame[16] = { 0 };

	for (size_t t = 0; t < NELEM(all_types); t++) {
		for (size_t i = 0; i < NELEM(hdr_cases); i++) {
			const struct hdr_case *c = &hdr_cases[i];

			put_hdr(frame, c->version, c->nfds, c->flags, c->len, 7,
				9);
			reject_case(all_types[t], 4, SMALL_FRAME, frame, 16, 0,
				    c->what, &c->w);
		}
	}
}

/* The codec says the same without a channel. */
TEST(explain, hdr_explain)
{
	struct fdmsg_error_info in;
	uint8_t frame[16] = { 0 };

	for (size_t i = 0; i < NELEM(hdr_cases); i++) {
		const struct hdr_case *c = &hdr_cases[i];

		put_hdr(frame, c->version, c->nfds, c->flags, c->len, 7, 9);
		memset(&in, 0xa5, sizeof(in));
		explained(fdmsg_hdr_explain(frame, 16, SMALL_FRAME, 4, &in),
			  &in, c->what, &c->w);
	}
	put_hdr(frame, 1, 0, 0, 16, 7, 9);
	cr_assert_eq(fdmsg_hdr_explain(frame, 16, SMALL_FRAME, 4, &in),
		     FDMSG_HDR_SIZE);
	check_info(&in, "valid", 0, FDMSG_RULE_NONE, 0, 0, "no rejection");
	cr_assert_eq(fdmsg_hdr_explain(frame, 15, SMALL_FRAME, 4, &in), 0);
	cr_assert_eq(in.rule, FDMSG_RULE_NONE);
	cr_assert_eq(fdmsg_hdr_explain(frame, 16, SMALL_FRAME, 4, NULL),
		     -EINVAL);
}

/* ------------------------------------------------------------------ */
/* Hello rules                                                         */
/* ------------------------------------------------------------------ */

enum { H_NFDS, H_LEN, H_TYPE, H_PEERID, H_RES16, H_RES32, H_MINV, H_ORDER,
       H_FRAME_LOW, H_FRAME_HIGH, H_BATCH, H_FDS, H_NOVER };

struct hello_case {
	const char *what;
	int spoil;
	struct want w;
};

static const struct hello_case hello_cases[] = {
	{ "nfds 1", H_NFDS, { -EPROTO, FDMSG_RULE_HELLO_NFDS, 1, 0,
	  "hello declares 1 descriptors, must be 0" } },
	{ "len 41", H_LEN, { -EBADMSG, FDMSG_RULE_HELLO_LEN, 41, 40,
	  "hello length 41, must be 40" } },
	{ "type 7", H_TYPE, { -EBADMSG, FDMSG_RULE_HELLO_ROUTE, 7, 0,
	  "hello type or peerid 7, must be 0" } },
	{ "peerid 9", H_PEERID, { -EBADMSG, FDMSG_RULE_HELLO_ROUTE, 9, 0,
	  "hello type or peerid 9, must be 0" } },
	{ "reserved16", H_RES16, { -EBADMSG, FDMSG_RULE_HELLO_RESERVED, 3, 0,
	  "hello reserved field 3, must be 0" } },
	{ "reserved32", H_RES32, { -EBADMSG, FDMSG_RULE_HELLO_RESERVED, 5, 0,
	  "hello reserved field 5, must be 0" } },
	{ "min_version 0", H_MINV, { -EBADMSG, FDMSG_RULE_HELLO_VERSIONS, 0, 1,
	  "hello min_version 0 with max_version 1" } },
	{ "versions 3-2", H_ORDER, { -EBADMSG, FDMSG_RULE_HELLO_VERSIONS, 3, 2,
	  "hello min_version 3 with max_version 2" } },
	{ "max_frame 15", H_FRAME_LOW, { -EBADMSG, FDMSG_RULE_HELLO_MAX_FRAME,
	  15, 16, "hello max_frame 15, beyond 16" } },
	{ "max_frame cap+1", H_FRAME_HIGH, { -EBADMSG,
	  FDMSG_RULE_HELLO_MAX_FRAME, FDMSG_MAX_FRAME_CAP + 1u,
	  FDMSG_MAX_FRAME_CAP, "hello max_frame 16777217, beyond 16777216" } },
	{ "max_batch 100", H_BATCH, { -EBADMSG, FDMSG_RULE_HELLO_MAX_BATCH, 100,
	  4096, "hello max_batch 100, beyond 4096" } },
	{ "max_fds 254", H_FDS, { -EBADMSG, FDMSG_RULE_HELLO_MAX_FDS, 254, 253,
	  "hello max_fds 254, above the cap 253" } },
	{ "versions 2-3", H_NOVER, { -EPROTONOSUPPORT,
	  FDMSG_RULE_HELLO_NO_VERSION, 2, 3,
	  "hello speaks versions 2 to 3, none in common" } },
};

static void
spoil_hello(uint8_t *p, int spoil)
{
	switch (spoil) {
	case H_NFDS: p[1] = 1; break;
	case H_LEN: put_le32(p + 4, 41); break;
	case H_TYPE: put_le32(p + 8, 7); break;
	case H_PEERID: put_le32(p + 12, 9); break;
	case H_RES16: p[18] = 3; break;
	case H_RES32: put_le32(p + 36, 5); break;
	case H_MINV: p[16] = 0; break;
	case H_ORDER: p[16] = 3; p[17] = 2; break;
	case H_FRAME_LOW: put_le32(p + 20, 15); break;
	case H_FRAME_HIGH: put_le32(p + 20, FDMSG_MAX_FRAME_CAP + 1u); break;
	case H_BATCH: put_le32(p + 24, 100); break;
	case H_FDS: put_le32(p + 28, 254); break;
	case H_NOVER: p[16] = 2; p[17] = 3; break;
	}
}

TEST(explain, hello_rules)
{
	uint8_t hello[FDMSG_HELLO_SIZE + 1] = { 0 };
	size_t n;

	for (size_t t = 0; t < NELEM(all_types); t++) {
		for (size_t i = 0; i < NELEM(hello_cases); i++) {
			const struct hello_case *c = &hello_cases[i];

			put_hello(hello);
			spoil_hello(hello, c->spoil);
			/* A 41-byte hello on a datagram socket is 41 bytes. */
			n = c->spoil == H_LEN ? 41 : FDMSG_HELLO_SIZE;
			hello[40] = 0;
			reject_case(all_types[t], 0, 0, hello, n, 0, c->what,
				    &c->w);
		}
	}
}

TEST(explain, hello_explain)
{
	struct fdmsg_error_info in;
	uint8_t hello[FDMSG_HELLO_SIZE] = { 0 };

	for (size_t i = 0; i < NELEM(hello_cases); i++) {
		const struct hello_case *c = &hello_cases[i];
		int r;

		put_hello(hello);
		spoil_hello(hello, c->spoil);
		memset(&in, 0xa5, sizeof(in));
		r = fdmsg_hello_explain(hello, sizeof(hello), &in);
		/* The version overlap is the channel's rule, not the
		 * codec's: versions 2-3 decode. */
		if (c->spoil == H_NOVER) {
			cr_assert_eq(r, (int)FDMSG_HELLO_SIZE);
			check_info(&in, c->what, 0, FDMSG_RULE_NONE, 0, 0,
				   "no rejection");
		} else {
			explained(r, &in, c->what, &c->w);
		}
	}
	/* Not a hello's flags. */
	put_hello(hello);
	hello[2] = 0;
	cr_assert_eq(fdmsg_hello_explain(hello, sizeof(hello), &in), -EBADMSG);
	check_info(&in, "flags 0", -EBADMSG, FDMSG_RULE_FLAGS, 0, 1,
		   "frame flags 0, must be 1");
	cr_assert_eq(fdmsg_hello_explain(hello, sizeof(hello), NULL), -EINVAL);
}

/* A second hello, or one after an application frame, is a header with
 * an undefined flag. */
TEST(explain, second_hello_is_a_flag)
{
	uint8_t two[2 * FDMSG_HELLO_SIZE] = { 0 };
	struct rx x;

	for (size_t t = 0; t < NELEM(all_types); t++) {
		rx_open(&x, all_types[t], 0, 0, 0);
		put_hello(two);
		put_hello(two + FDMSG_HELLO_SIZE);
		peer_send(x.peer, two, sizeof(two), 0, NULL);
		expect_why(&x, "second hello", -EBADMSG, FDMSG_RULE_FLAGS, 1, 0,
			   "frame flags 1, must be 0");
		rx_close(&x);
	}
}

/* ------------------------------------------------------------------ */
/* Datagrams against their frames                                      */
/* ------------------------------------------------------------------ */

TEST(explain, datagram_cut_short)
{
	static const struct want cut32 = { -EBADMSG, FDMSG_RULE_CUT, 24, 32,
					   "frame cut short: 24 of its 32 "
					   "bytes" };
	static const struct want cut16 = { -EBADMSG, FDMSG_RULE_CUT, 10, 16,
					   "frame cut short: 10 of its 16 "
					   "bytes" };
	static const struct want cut40 = { -EBADMSG, FDMSG_RULE_CUT, 30, 40,
					   "frame cut short: 30 of its 40 "
					   "bytes" };
	uint8_t frame32[24] = { 0 }, two[36] = { 0 };
	uint8_t hello[FDMSG_HELLO_SIZE] = { 0 };

	/* A frame of 32 bytes in a datagram of 24; a whole frame, then 10
	 * bytes of a header; a hello cut at 30 bytes. */
	put_hdr(frame32, 1, 0, 0, 32, 7, 9);
	put_hdr(two, 1, 0, 0, 20, 7, 9);
	put_hdr(two + 20, 1, 0, 0, 16, 7, 9);
	put_hello(hello);
	for (size_t t = 0; t < NELEM(dgram_types); t++) {
		reject_case(dgram_types[t], 0, 0, frame32, 24, 0,
			    "frame of 32 in 24", &cut32);
		reject_case(dgram_types[t], 0, 0, two, 30, 0,
			    "trailing 10 bytes", &cut16);
		reject_case(dgram_types[t], 0, 0, hello, 30, 0, "hello of 30",
			    &cut40);
	}
}

/* Descriptors that came with a datagram must be what its frames
 * declare: with no frame to take them, or fewer than declared. */
TEST(explain, datagram_descriptor_count)
{
	static const struct want none = { -EPROTO, FDMSG_RULE_FDS_COUNT, 1, 0,
					  "1 descriptors came with the "
					  "datagram, its frames declare 0" };
	static const struct want fewer = { -EPROTO, FDMSG_RULE_FDS_COUNT, 2, 3,
					   "2 descriptors came with the "
					   "datagram, its frames declare 3" };
	uint8_t one[20] = { 0 }, two[40] = { 0 };

	put_hdr(one, 1, 0, 0, 20, 7, 9);
	put_hdr(two, 1, 1, 0, 20, 7, 9);
	put_hdr(two + 20, 1, 2, 0, 20, 7, 9);
	for (size_t t = 0; t < NELEM(dgram_types); t++) {
		reject_case(dgram_types[t], 4, 0, one, 20, 1,
			    "1 fd, none declared", &none);
		reject_case(dgram_types[t], 4, 0, two, 40, 2,
			    "2 fds, 3 declared", &fewer);
	}
}

/* The gate: more descriptors than max_fds in one read; more than the
 * control buffer holds (MSG_CTRUNC); a datagram larger than the buffer
 * (MSG_TRUNC). */
TEST(explain, gate_rules_from_a_real_peer)
{
	static uint8_t big[FDMSG_DGRAM_SAFE + 64];
	static const struct want fds_max = { -EPROTO, FDMSG_RULE_FDS_MAX, 2, 1,
					     "2 descriptors in one read, "
					     "max_fds is 1" };
	static const struct want ctrunc = { -EPROTO, FDMSG_RULE_CTRUNC, 0, 1,
					    "ancillary data truncated "
					    "(MSG_CTRUNC), max_fds is 1" };
	uint8_t buf[16] = { 0 };
	struct rx x;

	put_hdr(buf, 1, 1, 0, 16, 7, 9);
	for (size_t t = 0; t < NELEM(all_types); t++) {
		/* CMSG_SPACE of one int has room for two on 64-bit. */
		reject_case(all_types[t], 1, 0, buf, 16, 2, "2 fds, max_fds 1",
			    CMSG_SPACE(sizeof(int)) >=
					    CMSG_LEN(2 * sizeof(int)) ?
				    &fds_max : &ctrunc);
		reject_case(all_types[t], 1, 0, buf, 16, 8, "8 fds, max_fds 1",
			    &ctrunc);
	}
	for (size_t t = 0; t < NELEM(dgram_types); t++) {
		int sz = (int)sizeof(big) * 2;

		rx_open(&x, dgram_types[t], 0, 0, 0);
		cr_assert_eq(setsockopt(x.peer, SOL_SOCKET, SO_SNDBUF, &sz,
					sizeof(sz)), 0);
		put_hdr(big, 1, 0, 0, sizeof(big), 7, 9);
		peer_send(x.peer, big, sizeof(big), 0, NULL);
		expect_why(&x, "datagram past the buffer", -EMSGSIZE,
			   FDMSG_RULE_TRUNC, 0, FDMSG_DGRAM_SAFE,
			   "datagram truncated (MSG_TRUNC): larger than 65536 "
			   "bytes");
		rx_close(&x);
	}
}

/* A channel that takes no descriptors: where the kernel refuses them
 * itself (SO_PASSRIGHTS) the sender sees -EPERM and the channel nothing;
 * elsewhere the gate refuses them. */
TEST(explain, descriptors_to_a_channel_that_takes_none)
{
	struct fdmsg_error_info in;
	uint8_t buf[16] = { 0 };
	struct rx x;
	ssize_t r;

	for (size_t t = 0; t < NELEM(all_types); t++) {
		rx_open(&x, all_types[t], 0, 0, 0);
		put_hdr(buf, 1, 0, 0, 16, 7, 9);
		r = raw_send(x.peer, buf, 16, 1, NULL, 0);
		if (r == -EPERM) {
			cr_assert_eq(fdmsg_recv(x.chan, &x.msg), -EAGAIN);
			cr_assert_eq(fdmsg_chan_error(x.chan, &in), 0);
			cr_assert_eq(in.rule, FDMSG_RULE_NONE);
		} else {
			cr_assert_eq(r, 16);
			expect_why(&x, "1 fd, max_fds 0", -EPROTO,
				   FDMSG_RULE_FDS_REFUSED, 1, 0,
				   "1 descriptors sent, max_fds is 0");
		}
		/* Declaring one is the header's rule, whatever the kernel. */
		put_hdr(buf, 1, 1, 0, 16, 7, 9);
		if (r == -EPERM) {
			peer_send(x.peer, buf, 16, 0, NULL);
			expect_why(&x, "nfds 1, max_fds 0", -EPROTO,
				   FDMSG_RULE_NFDS, 1, 0,
				   "frame declares 1 descriptors, max_fds is "
				   "0");
		}
		rx_close(&x);
	}
}

/* ------------------------------------------------------------------ */
/* Stream matching and the end                                         */
/* ------------------------------------------------------------------ */

TEST(explain, stream_descriptors_missing)
{
	uint8_t buf[20] = { 0 };
	struct rx x;

	/* Two declared, one in the read of the first byte. */
	rx_open(&x, SOCK_STREAM, 4, 0, 0);
	put_hdr(buf, 1, 2, 0, 20, 7, 9);
	peer_send(x.peer, buf, 20, 1, NULL);
	expect_why(&x, "2 declared, 1 came", -EPROTO, FDMSG_RULE_FDS_MISSING, 2,
		   1, "frame declares 2 descriptors, 1 came by the read of "
		      "its first byte");
	rx_close(&x);

	/* One declared, none came. */
	rx_open(&x, SOCK_STREAM, 4, 0, 0);
	put_hdr(buf, 1, 1, 0, 20, 7, 9);
	peer_send(x.peer, buf, 20, 0, NULL);
	expect_why(&x, "1 declared, none came", -EPROTO,
		   FDMSG_RULE_FDS_MISSING, 1, 0,
		   "frame declares 1 descriptors, 0 came by the read of its "
		   "first byte");
	rx_close(&x);
}

TEST(explain, stream_descriptors_with_no_frame)
{
	uint8_t buf[20] = { 0 };
	struct rx x;

	/* On a stream descriptors may wait ahead of their frames, at most
	 * max_fds of them: four with a frame declaring none, then one more
	 * with another. */
	rx_open(&x, SOCK_STREAM, 4, 0, 0);
	put_hdr(buf, 1, 0, 0, 20, 7, 9);
	peer_send(x.peer, buf, 20, 4, NULL);
	cr_assert_eq(rx_recv(&x), 0);
	fdmsg_msg_release(&x.msg);
	peer_send(x.peer, buf, 20, 1, NULL);
	expect_why(&x, "one past max_fds ahead", -EPROTO,
		   FDMSG_RULE_FDS_AHEAD, 5, 4,
		   "5 descriptors ahead of their frames, max_fds is 4");
	rx_close(&x);

	/* The end with one unclaimed. */
	rx_open(&x, SOCK_STREAM, 4, 0, 0);
	put_hdr(buf, 1, 0, 0, 20, 7, 9);
	peer_send(x.peer, buf, 20, 1, NULL);
	cr_assert_eq(rx_recv(&x), 0);
	fdmsg_msg_release(&x.msg);
	peer_close(&x);
	expect_why(&x, "at the end", -EPROTO, FDMSG_RULE_FDS_UNCLAIMED, 1, 0,
		   "1 descriptors came with no frame to take them");
	rx_close(&x);
}

TEST(explain, stream_end_mid_frame)
{
	uint8_t buf[32] = { 0 };
	struct rx x;

	rx_open(&x, SOCK_STREAM, 0, 0, 0);
	put_hdr(buf, 1, 0, 0, 32, 7, 9);
	peer_send(x.peer, buf, 10, 0, NULL);
	peer_close(&x);
	expect_why(&x, "10 bytes, end", -EBADMSG, FDMSG_RULE_CUT, 10, 16,
		   "frame cut short: 10 of its 16 bytes");
	rx_close(&x);

	rx_open(&x, SOCK_STREAM, 0, 0, 0);
	peer_send(x.peer, buf, 20, 0, NULL);
	peer_close(&x);
	expect_why(&x, "20 of 32, end", -EBADMSG, FDMSG_RULE_CUT, 20, 32,
		   "frame cut short: 20 of its 32 bytes");
	rx_close(&x);
}

/* A frame whose header came from a child and the rest from us. */
static void
two_writers(unsigned optflags)
{
	char text[128];
	uint8_t buf[40] = { 0 };
	struct rx x;
	pid_t pid;

	rx_open(&x, SOCK_STREAM, 0, 0, optflags);
	put_hdr(buf, 1, 0, 0, 40, 7, 9);
	memset(buf + 16, 'p', 24);
	pid = write_from_child(x.peer, buf, 8);
	peer_send(x.peer, buf + 8, 32, 0, NULL);
	snprintf(text, sizeof(text), "frame continued by another sender (pid "
		 "%ld, begun by pid %ld)", (long)getpid(), (long)pid);
	expect_why(&x, "two writers", -EPROTO, FDMSG_RULE_SENDER,
		   (uint64_t)getpid(), (uint64_t)pid, text);
	rx_close(&x);
}

TEST(explain, stream_sender_changed_mid_frame)
{
	two_writers(FDMSG_OPT_CREDS);
	two_writers(FDMSG_OPT_PIDFD);
}

/* ------------------------------------------------------------------ */
/* Receive-only datagrams, the descriptor table                        */
/* ------------------------------------------------------------------ */

/* Nothing is poisoned: the info names the last dropped datagram and
 * stays until the next one. */
TEST(explain, receive_only_keeps_the_last_drop)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fdmsg_error_info in;
	struct fdmsg_chan *chan;
	struct fdmsg_msg msg = { 0 };
	uint8_t buf[20] = { 0 };
	socklen_t len;
	int rx, tx, n;

	n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1,
		     "fdmsg-explain-rx-%d", (int)getpid());
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	rx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	tx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(rx, (struct sockaddr *)&sa, len), 0);
	cr_assert_eq(connect(tx, (struct sockaddr *)&sa, len), 0);
	cr_assert_eq(fdmsg_chan_new(&chan, rx, NULL, 0), 0);

	cr_assert_eq(send(tx, buf, 0, 0), 0);
	cr_assert_eq(fdmsg_recv(chan, &msg), -EBADMSG);
	cr_assert_eq(fdmsg_chan_error(chan, &in), -EBADMSG);
	check_info(&in, "empty", -EBADMSG, FDMSG_RULE_EMPTY, 0, 16,
		   "empty datagram: no frame in it");

	put_hdr(buf, 1, 0, 0, 20, 7, 9);
	cr_assert_eq(send(tx, buf, 20, 0), 20);
	cr_assert_eq(fdmsg_recv(chan, &msg), 0);
	cr_assert_eq(fdmsg_chan_error(chan, &in), -EBADMSG);
	cr_assert_eq(in.rule, FDMSG_RULE_EMPTY);

	put_hdr(buf, 3, 0, 0, 20, 7, 9);
	cr_assert_eq(send(tx, buf, 20, 0), 20);
	cr_assert_eq(fdmsg_recv(chan, &msg), -EBADMSG);
	cr_assert_eq(fdmsg_chan_error(chan, &in), -EBADMSG);
	check_info(&in, "version 3", -EBADMSG, FDMSG_RULE_VERSION, 3, 1,
		   "frame version 3, only version 1 is spoken");
	cr_assert_eq(fdmsg_recv(chan, &msg), -EAGAIN);

	fdmsg_chan_free(chan);
	close(rx);
	close(tx);
}

/*
 * The table full: stdio closed and RLIMIT_NOFILE 3, so a received
 * descriptor lands on 0 and cannot be moved above 2.  In a child,
 * reporting by exit status.
 */
static int
table_full_child(int type, unsigned unused)
{
	struct fdmsg_error_info in;
	char line[128];
	uint8_t buf[16] = { 0 };
	struct rx x;

	(void)unused;
	if (open_rx(&x, type, 1, 0, 0) < 0)
		return 10;
	put_hdr(buf, 1, 1, 0, 16, 7, 9);
	if (raw_send(x.peer, buf, 16, 1, NULL, 0) != 16)
		return 11;
	close_stdio();
	if (rlimit_nofile(3, NULL) < 0)
		return 12;
	if (fdmsg_recv(x.chan, &x.msg) != -EMFILE)
		return 20;
	for (int i = 0; i < 3; i++) {
		if (fdmsg_chan_error(x.chan, &in) != -EMFILE ||
		    in.err != -EMFILE || in.rule != FDMSG_RULE_FD_TABLE ||
		    in.value != 0 || in.limit != 0)
			return 21;
		fdmsg_error_format(&in, line, sizeof(line));
		if (strcmp(line, "descriptor table full: a received descriptor "
				 "could not be installed") != 0)
			return 22;
		if (fdmsg_recv(x.chan, &x.msg) != -EMFILE)
			return 23;
	}
	fdmsg_chan_free(x.chan);
	return 0;
}

TEST(explain, descriptor_table_full)
{
	SKIP_UNDER_VALGRIND();
	for (size_t t = 0; t < NELEM(all_types); t++)
		run_child(table_full_child, all_types[t], 0, "table full");
}

/* ------------------------------------------------------------------ */
/* The gate over forged control buffers                                */
/* ------------------------------------------------------------------ */

static unsigned closed;

static int
count_close(int fd)
{
	(void)fd;
	closed++;
	return 0;
}

struct forged {
	_Alignas(struct cmsghdr) unsigned char b[256];
	size_t len;
};

/* Appends one record with dlen data bytes; cmsg_len as given (0: the
 * honest CMSG_LEN). */
static unsigned char *
forge(struct forged *f, int level, int type,
      size_t dlen, size_t cmsg_len)
{
	struct cmsghdr c;
	unsigned char *p = f->b + f->len;

	memset(&c, 0, sizeof(c));
	c.cmsg_level = level;
	c.cmsg_type = type;
	c.cmsg_len = cmsg_len != 0 ? cmsg_len : CMSG_LEN(dlen);
	memcpy(p, &c, sizeof(c));
	f->len += CMSG_SPACE(dlen);
	return p + CMSG_LEN(0);
}

static void
gate_expect(const struct fdmsg_gate *g, struct forged *f,
	    int flags, const char *what, int err, int rule,
	    uint64_t value, uint64_t limit, const char *text)
{
	static struct fdmsg_gate_result res;
	uint8_t data[100] = { 0 };
	struct iovec iov = { data, sizeof(data) };
	struct msghdr mh = { 0 };

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = f->len > 0 ? f->b : NULL;
	mh.msg_controllen = f->len;
	mh.msg_flags = flags;
	memset(&res.why, 0xa5, sizeof(res.why));
	memset(res.why.reserved, 0, sizeof(res.why.reserved));
	cr_assert_eq(fdmsg_gate_check(g, &mh, &res), err, "%s", what);
	check_info(&res.why, what, err, rule, value, limit, text);
	cr_assert_eq(res.nfds, 0u, "%s", what);
}

TEST(explain, gate_rules_over_forged_records)
{
	struct fdmsg_gate g = { 2, 0, count_close };
	struct forged f;
	char text[128];
	int fds[3] = { 1000, 1001, -1 };
	unsigned char *p;

	memset(&f, 0, sizeof(f));
	forge(&f, SOL_SOCKET + 1, SCM_RIGHTS, 4, 0);
	snprintf(text, sizeof(text), "ancillary record of level %d, only "
		 "SOL_SOCKET (%d) is taken", SOL_SOCKET + 1, SOL_SOCKET);
	gate_expect(&g, &f, 0, "level", -EPROTO, FDMSG_RULE_CMSG_LEVEL,
		    SOL_SOCKET + 1, SOL_SOCKET, text);

	memset(&f, 0, sizeof(f));
	forge(&f, SOL_SOCKET, 99, 4, 0);
	gate_expect(&g, &f, 0, "type 99", -EPROTO, FDMSG_RULE_CMSG_TYPE, 99, 0,
		    "ancillary record of type 99, not allowed here");

	/* Credentials not asked for, then twice. */
	memset(&f, 0, sizeof(f));
	forge(&f, SOL_SOCKET, SCM_CREDENTIALS, sizeof(struct ucred), 0);
	snprintf(text, sizeof(text), "ancillary record of type %d, not "
		 "allowed here", SCM_CREDENTIALS);
	gate_expect(&g, &f, 0, "creds not asked", -EPROTO,
		    FDMSG_RULE_CMSG_TYPE, SCM_CREDENTIALS, 0, text);
	g.flags = FDMSG_OPT_CREDS;
	p = forge(&f, SOL_SOCKET, SCM_CREDENTIALS, sizeof(struct ucred), 0);
	(void)p;
	snprintf(text, sizeof(text), "ancillary record of type %d repeated",
		 SCM_CREDENTIALS);
	gate_expect(&g, &f, 0, "creds twice", -EPROTO, FDMSG_RULE_CMSG_REPEAT,
		    SCM_CREDENTIALS, 1, text);
	g.flags = 0;

	/* cmsg_len shorter than a header, past the buffer, not whole
	 * descriptors. */
	memset(&f, 0, sizeof(f));
	forge(&f, SOL_SOCKET, SCM_RIGHTS, 4, 4);
	snprintf(text, sizeof(text), "malformed ancillary record: cmsg_len 4, "
		 "%zu bytes left", (size_t)CMSG_SPACE(4));
	gate_expect(&g, &f, 0, "short", -EPROTO, FDMSG_RULE_CMSG_LEN, 4,
		    CMSG_SPACE(4), text);
	memset(&f, 0, sizeof(f));
	forge(&f, SOL_SOCKET, SCM_RIGHTS, 4, 200);
	snprintf(text, sizeof(text), "malformed ancillary record: cmsg_len "
		 "200, %zu bytes left", (size_t)CMSG_SPACE(4));
	gate_expect(&g, &f, 0, "past the end", -EPROTO, FDMSG_RULE_CMSG_LEN,
		    200, CMSG_SPACE(4), text);
	memset(&f, 0, sizeof(f));
	forge(&f, SOL_SOCKET, SCM_RIGHTS, 6, 0);
	snprintf(text, sizeof(text), "ancillary record of cmsg_len %zu, its "
		 "type takes %zu", (size_t)CMSG_LEN(6), (size_t)CMSG_LEN(4));
	gate_expect(&g, &f, 0, "6 data bytes", -EPROTO, FDMSG_RULE_CMSG_SIZE,
		    CMSG_LEN(6), CMSG_LEN(4), text);

	/* Credentials of the wrong size. */
	g.flags = FDMSG_OPT_CREDS;
	memset(&f, 0, sizeof(f));
	forge(&f, SOL_SOCKET, SCM_CREDENTIALS, sizeof(struct ucred) - 4, 0);
	snprintf(text, sizeof(text), "ancillary record of cmsg_len %zu, its "
		 "type takes %zu", (size_t)CMSG_LEN(sizeof(struct ucred) - 4),
		 (size_t)CMSG_LEN(sizeof(struct ucred)));
	gate_expect(&g, &f, 0, "short creds", -EPROTO, FDMSG_RULE_CMSG_SIZE,
		    CMSG_LEN(sizeof(struct ucred) - 4),
		    CMSG_LEN(sizeof(struct ucred)), text);
	g.flags = 0;

	/* A negative descriptor, after a good one: the good one closed. */
	memset(&f, 0, sizeof(f));
	p = forge(&f, SOL_SOCKET, SCM_RIGHTS, 2 * sizeof(int), 0);
	memcpy(p, fds + 1, 2 * sizeof(int));
	closed = 0;
	gate_expect(&g, &f, 0, "negative fd", -EPROTO, FDMSG_RULE_FD_INVALID,
		    UINT32_MAX, 0, "descriptor -1 in the ancillary data");
	cr_assert_eq(closed, 1u);

	/* Three to a gate of two; one to a gate of none. */
	memset(&f, 0, sizeof(f));
	p = forge(&f, SOL_SOCKET, SCM_RIGHTS, 3 * sizeof(int), 0);
	memcpy(p, (int[]){ 1000, 1001, 1002 }, 3 * sizeof(int));
	gate_expect(&g, &f, 0, "3 of 2", -EPROTO, FDMSG_RULE_FDS_MAX, 3, 2,
		    "3 descriptors in one read, max_fds is 2");
	g.max_fds = 0;
	memset(&f, 0, sizeof(f));
	p = forge(&f, SOL_SOCKET, SCM_RIGHTS, sizeof(int), 0);
	memcpy(p, fds, sizeof(int));
	gate_expect(&g, &f, 0, "1 of 0", -EPROTO, FDMSG_RULE_FDS_REFUSED, 1, 0,
		    "1 descriptors sent, max_fds is 0");

	/* The read's flags come first. */
	gate_expect(&g, &f, MSG_CTRUNC | MSG_TRUNC, "ctrunc", -EPROTO,
		    FDMSG_RULE_CTRUNC, 0, 0,
		    "ancillary data truncated (MSG_CTRUNC), max_fds is 0");
	memset(&f, 0, sizeof(f));
	gate_expect(&g, &f, MSG_TRUNC, "trunc", -EMSGSIZE, FDMSG_RULE_TRUNC, 0,
		    100, "datagram truncated (MSG_TRUNC): larger than 100 "
			 "bytes");

#ifdef SCM_PIDFD
	/* A pidfd the kernel could not make for want of a slot. */
	g.flags = FDMSG_OPT_PIDFD;
	memset(&f, 0, sizeof(f));
	p = forge(&f, SOL_SOCKET, SCM_PIDFD, sizeof(int), 0);
	memcpy(p, (int[]){ -EMFILE }, sizeof(int));
	gate_expect(&g, &f, 0, "pidfd -EMFILE", -EMFILE, FDMSG_RULE_FD_TABLE, 0,
		    0, "descriptor table full: a received descriptor could "
		       "not be installed");
#endif
}
