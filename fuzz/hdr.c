/*
 * fdmsg_hdr_decode / fdmsg_hdr_encode against an independent model of the
 * wire table (DESIGN.md), under several receiver limits:
 *  - fewer than 16 bytes decode to 0 and write nothing, for every prefix;
 *  - an error writes nothing and is the one the table's order picks;
 *  - whatever decodes obeys the limits and re-encodes to the same 16 bytes;
 *  - encode of a forged struct accepts exactly what a receiver with the
 *    widest limits decodes back to the same struct.
 * Input: [u32 max_frame][u8 max_fds][u8 shift] then the bytes to decode.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fdmsg.h"
#include "fuzz.h"

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
	struct fdmsg_hdr h;
	uint8_t out[FDMSG_HDR_SIZE];
	int want, r;

	fill_sentinel(&h);
	r = fdmsg_hdr_decode(p, n, max_frame, max_fds, &h);
	want = model_decode(p, n, max_frame, max_fds);
	FUZZ_CHECK(r == want);
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
		for (i = 0; i < ARRAY_LEN(frames); i++)
			for (k = 0; k < ARRAY_LEN(fdlims); k++)
				check_decode(p, n, frames[i], fdlims[k]);
		/* Every short prefix is "need more", ending exactly at n. */
		for (i = 0; i < FDMSG_HDR_SIZE && i <= n; i++)
			check_decode(p + n - i, i, max_frame, max_fds);
		if (n >= FDMSG_HDR_SIZE)
			check_encode(p);
	}
	free(buf);
	return 0;
}
