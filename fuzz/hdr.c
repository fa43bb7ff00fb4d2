/* SPDX-License-Identifier: ISC */
/*
 * fdmsg_hdr_decode / fdmsg_hdr_encode against an independent model of the
 * wire table (DESIGN.md), under several receiver limits:
 *  - fewer than 16 bytes decode to 0 and write nothing, for every prefix;
 *  - an error writes nothing and is the one the table's order picks;
 *  - whatever decodes obeys the limits and re-encodes to the same 16 bytes;
 *  - encode of a forged struct accepts exactly what a receiver with the
 *    widest limits decodes back to the same struct;
 *  - the hello (fdmsg_hello_decode / _encode / _is) against its own model
 *    the same ways: prefixes, errors that write nothing, round trips;
 *  - every error either decoder returns has a fdmsg_strerror message.
 * Input: [u32 max_frame][u8 max_fds][u8 shift] then the bytes to decode.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fdmsg.h"
#include "fuzz.h"
#include "why.h"

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* The wire table, written out again: version, nfds, flags, len. */
static int
model_decode(const uint8_t *p, size_t n, uint32_t max_frame,
	     unsigned max_fds)
{
	uint32_t len;

	if (n < FDMSG_HDR_SIZE)
		return 0;
	if (p[0] != 1)
		return -EBADMSG;
	if (p[1] > max_fds)
		return -EPROTO;
	if (p[2] != 0 || p[3] != 0)
		return -EBADMSG;
	len = le32(p + 4);
	if (len < 16)
		return -EBADMSG;
	if (len > max_frame)
		return -EMSGSIZE;
	return FDMSG_HDR_SIZE;
}

static void
fill_sentinel(struct fdmsg_hdr *h)
{
	memset(h, 0xA5, sizeof(*h));
}

static int
is_sentinel(const struct fdmsg_hdr *h)
{
	struct fdmsg_hdr s;

	fill_sentinel(&s);
	return memcmp(h, &s, sizeof(s)) == 0;
}

static void
check_decode(const uint8_t *p, size_t n, uint32_t max_frame,
	     unsigned max_fds)
{
	struct fdmsg_error_info why;
	struct fdmsg_hdr h;
	uint8_t out[FDMSG_HDR_SIZE];
	int want, r;

	fill_sentinel(&h);
	r = fdmsg_hdr_decode(p, n, max_frame, max_fds, &h);
	want = model_decode(p, n, max_frame, max_fds);
	FUZZ_CHECK(r == want);
	FUZZ_CHECK(fdmsg_hdr_explain(p, n, max_frame, max_fds, &why) == r);
	fuzz_check_rule(&why, r < 0 && r != -EINVAL ? r : 0);
	/* Every error a decode returns has a message of its own. */
	FUZZ_CHECK(r >= 0 || strcmp(fdmsg_strerror(r), "unknown error") != 0);
	if (r != FDMSG_HDR_SIZE) {
		FUZZ_CHECK(is_sentinel(&h));
		return;
	}
	FUZZ_CHECK(h.version == FDMSG_WIRE_VERSION);
	FUZZ_CHECK(h.flags == 0);
	FUZZ_CHECK(h.nfds <= max_fds);
	FUZZ_CHECK(h.len >= FDMSG_HDR_SIZE && h.len <= max_frame);
	FUZZ_CHECK(h.type == le32(p + 8) && h.peerid == le32(p + 12));

	/* Differential round trip: the same 16 bytes come back. */
	memset(out, 0x5A, sizeof(out));
	FUZZ_CHECK(fdmsg_hdr_encode(&h, out) == FDMSG_HDR_SIZE);
	FUZZ_CHECK(memcmp(out, p, FDMSG_HDR_SIZE) == 0);
}

/* The hello's rules, written out again from the header's comment. */
static int
model_hello(const uint8_t *p, size_t n)
{
	uint32_t max_frame, max_batch;

	if (n < FDMSG_HDR_SIZE)
		return 0;
	if (p[0] != 1)
		return -EBADMSG;
	if (p[1] != 0)
		return -EPROTO;
	if (p[2] != 1 || p[3] != 0 || le32(p + 4) != FDMSG_HELLO_SIZE)
		return -EBADMSG;
	if (n < FDMSG_HELLO_SIZE)
		return 0;
	if (le32(p + 8) != 0 || le32(p + 12) != 0 || p[18] != 0 ||
	    p[19] != 0 || le32(p + 36) != 0)
		return -EBADMSG;
	if (p[16] == 0 || p[17] < p[16])
		return -EBADMSG;
	max_frame = le32(p + 20);
	max_batch = le32(p + 24);
	if (max_frame < 16 || max_frame > FDMSG_MAX_FRAME_CAP)
		return -EBADMSG;
	if (max_batch != 0 &&
	    (max_batch < max_frame || max_batch > FDMSG_MAX_FRAME_CAP))
		return -EBADMSG;
	if (le32(p + 28) > FDMSG_MAX_FDS_CAP)
		return -EBADMSG;
	return FDMSG_HELLO_SIZE;
}

static void
check_hello(const uint8_t *p, size_t n)
{
	struct fdmsg_hello h, s;
	uint8_t out[FDMSG_HELLO_SIZE];
	int r;

	memset(&h, 0xA5, sizeof(h));
	s = h;
	r = fdmsg_hello_decode(p, n, &h);
	FUZZ_CHECK(r == model_hello(p, n));
	FUZZ_CHECK(r >= 0 || strcmp(fdmsg_strerror(r), "unknown error") != 0);
	FUZZ_CHECK(fdmsg_hello_is(p, n) ==
		   (n >= 4 && p[0] == 1 && p[2] == 1 && p[3] == 0));
	if (r != FDMSG_HELLO_SIZE) {
		FUZZ_CHECK(memcmp(&h, &s, sizeof(h)) == 0);
		return;
	}
	FUZZ_CHECK(fdmsg_hello_is(p, n) == 1);
	FUZZ_CHECK(h.min_version == p[16] && h.max_version == p[17]);
	FUZZ_CHECK(h.max_frame == le32(p + 20) && h.max_batch == le32(p + 24));
	FUZZ_CHECK(h.max_fds == le32(p + 28) && h.caps == le32(p + 32));
	/* A hello is never an application frame. */
	FUZZ_CHECK(fdmsg_hdr_decode(p, n, UINT32_MAX, 255,
				    &(struct fdmsg_hdr){ 0 }) == -EBADMSG);
	memset(out, 0x5A, sizeof(out));
	FUZZ_CHECK(fdmsg_hello_encode(&h, out) == FDMSG_HELLO_SIZE);
	FUZZ_CHECK(memcmp(out, p, FDMSG_HELLO_SIZE) == 0);
}

/* Encode a hello struct taken from the input: accepted exactly when its
 * fields obey the rules, and then decoded back to the same struct. */
static void
check_hello_encode(const uint8_t *p)
{
	struct fdmsg_hello in, back;
	uint8_t out[FDMSG_HELLO_SIZE], model[FDMSG_HELLO_SIZE];
	int r;

	in.min_version = p[0];
	in.max_version = p[1];
	in.max_frame = le32(p + 2);
	in.max_batch = le32(p + 6);
	in.max_fds = le32(p + 10);
	in.caps = le32(p + 14);
	memset(model, 0, sizeof(model));
	model[0] = 1;
	model[2] = 1;
	model[4] = FDMSG_HELLO_SIZE;
	model[16] = in.min_version;
	model[17] = in.max_version;
	memcpy(model + 20, p + 2, 16); /* little-endian as the input */
	r = fdmsg_hello_encode(&in, out);
	if (model_hello(model, sizeof(model)) != FDMSG_HELLO_SIZE) {
		FUZZ_CHECK(r == -EINVAL);
		return;
	}
	FUZZ_CHECK(r == FDMSG_HELLO_SIZE);
	FUZZ_CHECK(memcmp(out, model, sizeof(out)) == 0);
	FUZZ_CHECK(fdmsg_hello_decode(out, sizeof(out), &back) ==
		   FDMSG_HELLO_SIZE);
	/* Field by field: the struct has padding. */
	FUZZ_CHECK(back.min_version == in.min_version &&
		   back.max_version == in.max_version &&
		   back.max_frame == in.max_frame &&
		   back.max_batch == in.max_batch &&
		   back.max_fds == in.max_fds && back.caps == in.caps);
}

/* Encode a struct taken from the input; decode must give it back. */
static void
check_encode(const uint8_t *p)
{
	struct fdmsg_hdr in, back;
	uint8_t out[FDMSG_HDR_SIZE], before[FDMSG_HDR_SIZE];
	int ok, r;

	in.version = p[0];
	in.nfds = p[1];
	in.flags = (uint16_t)(p[2] | p[3] << 8);
	in.len = le32(p + 4);
	in.type = le32(p + 8);
	in.peerid = le32(p + 12);
	ok = in.version == FDMSG_WIRE_VERSION && in.flags == 0 &&
	     in.len >= FDMSG_HDR_SIZE;

	memset(out, 0x5A, sizeof(out));
	memcpy(before, out, sizeof(out));
	r = fdmsg_hdr_encode(&in, out);
	if (!ok) {
		FUZZ_CHECK(r == -EINVAL);
		FUZZ_CHECK(memcmp(out, before, sizeof(out)) == 0);
		return;
	}
	FUZZ_CHECK(r == FDMSG_HDR_SIZE);
	/* Exactly the wire bytes the struct was read from. */
	FUZZ_CHECK(memcmp(out, p, FDMSG_HDR_SIZE) == 0);
	fill_sentinel(&back);
	FUZZ_CHECK(fdmsg_hdr_decode(out, sizeof(out), UINT32_MAX, 255,
				    &back) == FDMSG_HDR_SIZE);
	FUZZ_CHECK(back.version == in.version && back.nfds == in.nfds &&
		   back.flags == in.flags && back.len == in.len &&
		   back.type == in.type && back.peerid == in.peerid);
}

/* The error info and its line for the input's own limits, header and
 * hello (once per input: the line's checks are not cheap). */
static void
check_why(const uint8_t *p, size_t n, uint32_t max_frame, unsigned max_fds)
{
	struct fdmsg_error_info why;
	struct fdmsg_hello hello;
	struct fdmsg_hdr h;
	int r;

	r = fdmsg_hdr_decode(p, n, max_frame, max_fds, &h);
	FUZZ_CHECK(fdmsg_hdr_explain(p, n, max_frame, max_fds, &why) == r);
	fuzz_check_why(&why, r < 0 && r != -EINVAL ? r : 0);
	r = fdmsg_hello_decode(p, n, &hello);
	FUZZ_CHECK(fdmsg_hello_explain(p, n, &why) == r);
	fuzz_check_why(&why, r < 0 && r != -EINVAL ? r : 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t frames[] = {
		0, 15, 16, 17, 4096, FDMSG_MAX_FRAME_DEFAULT,
		FDMSG_MAX_FRAME_CAP, UINT32_MAX,
	};
	static const unsigned fdlims[] = {
		0, 1, 2, 3, 252, FDMSG_MAX_FDS_CAP, 254, 255, UINT32_MAX,
	};
	struct fuzz_in in = { data, size };
	uint32_t max_frame = in_u32(&in);
	unsigned max_fds = in_u8(&in);
	unsigned shift = in_u8(&in) & 7;
	uint8_t *buf;
	size_t n = in.n, i, k;

	/*
	 * Exact-size copy at a chosen misalignment, so ASan sees a read past
	 * n and an unaligned load shows up under UBSan.
	 */
	buf = malloc(shift + n + (shift + n == 0));
	if (buf == NULL)
		return 0;
	memcpy(buf + shift, in.p, n);
	{
		const uint8_t *p = buf + shift; /* ends at the block's end */

		check_decode(p, n, max_frame, max_fds);
		check_why(p, n, max_frame, max_fds);
		for (i = 0; i < ARRAY_LEN(frames); i++)
			for (k = 0; k < ARRAY_LEN(fdlims); k++)
				check_decode(p, n, frames[i], fdlims[k]);
		/* Every short prefix is "need more", ending exactly at n. */
		for (i = 0; i < FDMSG_HDR_SIZE && i <= n; i++)
			check_decode(p + n - i, i, max_frame, max_fds);
		if (n >= FDMSG_HDR_SIZE)
			check_encode(p);
		check_hello(p, n);
		for (i = 0; i < FDMSG_HELLO_SIZE && i <= n; i++)
			check_hello(p + n - i, i);
		if (n >= 18)
			check_hello_encode(p);
	}
	free(buf);
	return 0;
}
