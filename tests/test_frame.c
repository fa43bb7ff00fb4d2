/* SPDX-License-Identifier: ISC */
/*
 * The wire codec against every rule and boundary of DESIGN.md's wire
 * table: each limit at, below and above, error precedence, short input,
 * no read past n (a guard page), exact little-endian bytes, and seeded
 * random round trips.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fdmsg.h"
#include "testutil.h"

/* max_frame where the test is about another rule. */
#define MAXF FDMSG_MAX_FRAME_DEFAULT

/* Raw header bytes, written field by field, independent of the codec. */
static void
raw_hdr(uint8_t b[16], uint8_t version, uint8_t nfds,
	uint16_t flags, uint32_t len, uint32_t type,
	uint32_t peerid)
{
	b[0] = version;
	b[1] = nfds;
	b[2] = (uint8_t)flags;
	b[3] = (uint8_t)(flags >> 8);
	for (int i = 0; i < 4; i++) {
		b[4 + i] = (uint8_t)(len >> (8 * i));
		b[8 + i] = (uint8_t)(type >> (8 * i));
		b[12 + i] = (uint8_t)(peerid >> (8 * i));
	}
}

/* A header struct filled with a pattern no decode would produce. */
static void
poison_hdr(struct fdmsg_hdr *h)
{
	memset(h, 0xA5, sizeof(*h));
}

static int
hdr_is_poison(const struct fdmsg_hdr *h)
{
	struct fdmsg_hdr p;

	poison_hdr(&p);
	return memcmp(h, &p, sizeof(p)) == 0;
}

/* Decodes b; asserts the result and that *hdr is untouched on failure. */
static int
decode_check(const uint8_t b[16], uint32_t max_frame,
	     unsigned max_fds)
{
	struct fdmsg_hdr h;
	int rc;

	poison_hdr(&h);
	rc = fdmsg_hdr_decode(b, 16, max_frame, max_fds, &h);
	if (rc != (int)FDMSG_HDR_SIZE)
		cr_assert(hdr_is_poison(&h), "hdr written on failure (%d)", rc);
	return rc;
}

/* The verdict on a header of these fields (any type and peerid). */
static int
verdict(uint8_t version, uint8_t nfds, uint16_t flags, uint32_t len,
	uint32_t max_frame, unsigned max_fds)
{
	uint8_t b[16];

	raw_hdr(b, version, nfds, flags, len, 0x11223344, 0x55667788);
	return decode_check(b, max_frame, max_fds);
}

/* Every field of got is want's. */
static void
assert_hdr(const struct fdmsg_hdr *got, struct fdmsg_hdr want)
{
	cr_assert_eq(got->version, want.version);
	cr_assert_eq(got->nfds, want.nfds);
	cr_assert_eq(got->flags, want.flags);
	cr_assert_eq(got->len, want.len);
	cr_assert_eq(got->type, want.type);
	cr_assert_eq(got->peerid, want.peerid);
}

static uint64_t xs_state;

/* xorshift64: a fixed seed gives the same sequence on every host. */
static uint64_t
xorshift64(void)
{
	uint64_t x = xs_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return xs_state = x;
}

/* ---- len ---------------------------------------------------------- */

TEST(frame_len, zero_and_fifteen_are_ebadmsg)
{
	cr_assert_eq(verdict(1, 0, 0, 0, MAXF, 0), -EBADMSG);
	cr_assert_eq(verdict(1, 0, 0, 15, MAXF, 0), -EBADMSG);
	cr_assert_eq(verdict(1, 0, 0, 1, MAXF, 0), -EBADMSG);
}

TEST(frame_len, sixteen_is_a_legal_empty_frame)
{
	uint8_t b[16];
	struct fdmsg_hdr h;

	raw_hdr(b, 1, 0, 0, 16, 0xdeadbeef, 0xfeedface);
	poison_hdr(&h);
	cr_assert_eq(fdmsg_hdr_decode(b, 16, MAXF, 0, &h), 16);
	assert_hdr(&h, (struct fdmsg_hdr){ 1, 0, 0, 16, 0xdeadbeef,
					   0xfeedface });
	/* With descriptors too. */
	cr_assert_eq(verdict(1, 3, 0, 16, MAXF, 3), 16);
}

/* len at, one below and past max_frame (max). */
static void
len_edges(uint32_t max)
{
	cr_assert_eq(verdict(1, 0, 0, max, max, 0), 16, "max %u", max);
	cr_assert_eq(verdict(1, 0, 0, max - 1, max, 0),
		     max > 16 ? 16 : -EBADMSG, "max %u", max);
	if (max == UINT32_MAX)
		return;
	cr_assert_eq(verdict(1, 0, 0, max + 1, max, 0), -EMSGSIZE, "max %u",
		     max);
	cr_assert_eq(verdict(1, 0, 0, UINT32_MAX, max, 0), -EMSGSIZE,
		     "max %u", max);
	cr_assert_eq(verdict(1, 0, 0, UINT32_MAX - 1, max, 0), -EMSGSIZE,
		     "max %u", max);
}

TEST(frame_len, at_and_past_max_frame_default)
{
	len_edges(MAXF);
}

TEST(frame_len, at_and_past_max_frame_cap)
{
	len_edges(FDMSG_MAX_FRAME_CAP);
}

TEST(frame_len, at_and_past_small_max_frame)
{
	len_edges(17);
	len_edges(16);
}

TEST(frame_len, max_frame_uint32_max_takes_every_len)
{
	len_edges(UINT32_MAX);
	cr_assert_eq(verdict(1, 0, 0, UINT32_MAX, UINT32_MAX, 0), 16);
}

TEST(frame_len, max_frame_below_header_rejects_every_len)
{
	/* len < 16 comes first in the table, so it stays -EBADMSG. */
	cr_assert_eq(verdict(1, 0, 0, 16, 0, 0), -EMSGSIZE);
	cr_assert_eq(verdict(1, 0, 0, 16, 15, 0), -EMSGSIZE);
	cr_assert_eq(verdict(1, 0, 0, 15, 0, 0), -EBADMSG);
	cr_assert_eq(verdict(1, 0, 0, 0, 0, 0), -EBADMSG);
}

/* ---- version ------------------------------------------------------ */

TEST(frame_version, only_one_is_accepted)
{
	static const uint8_t bad[] = { 0, 2, 3, 0x81, 254, 255 };

	cr_assert_eq(verdict(1, 0, 0, 16, MAXF, 0), 16);
	for (size_t i = 0; i < sizeof(bad); i++) {
		cr_assert_eq(verdict(bad[i], 0, 0, 16, MAXF, 0),
			     -EBADMSG, "version %u", bad[i]);
	}
}

TEST(frame_version, every_other_value_is_ebadmsg)
{
	for (unsigned v = 0; v < 256; v++) {
		cr_assert_eq(verdict((uint8_t)v, 0, 0, 100, MAXF, 0),
			     v == 1 ? 16 : -EBADMSG, "version %u", v);
	}
}

/* ---- flags -------------------------------------------------------- */

TEST(frame_flags, each_bit_alone_is_ebadmsg)
{
	for (unsigned bit = 0; bit < 16; bit++) {
		cr_assert_eq(verdict(1, 0, (uint16_t)(1u << bit), 16, MAXF, 0),
			     -EBADMSG, "flag bit %u", bit);
	}
	cr_assert_eq(verdict(1, 0, 0xffff, 16, MAXF, 0), -EBADMSG);
}

/* ---- nfds --------------------------------------------------------- */

TEST(frame_nfds, at_cap_and_past_it)
{
	cr_assert_eq(verdict(1, 253, 0, 16, MAXF, 253), 16);
	cr_assert_eq(verdict(1, 254, 0, 16, MAXF, 253), -EPROTO);
	cr_assert_eq(verdict(1, 255, 0, 16, MAXF, 253), -EPROTO);
}

TEST(frame_nfds, default_zero_refuses_any)
{
	cr_assert_eq(verdict(1, 0, 0, 16, MAXF, 0), 16);
	cr_assert_eq(verdict(1, 1, 0, 16, MAXF, 0), -EPROTO);
	cr_assert_eq(verdict(1, 255, 0, 16, MAXF, 0), -EPROTO);
}

TEST(frame_nfds, every_limit_at_and_one_past)
{
	for (unsigned max = 0; max < 255; max++) {
		cr_assert_eq(verdict(1, (uint8_t)max, 0, 16, MAXF, max), 16,
			     "max_fds %u", max);
		cr_assert_eq(verdict(1, (uint8_t)(max + 1), 0, 16, MAXF, max),
			     -EPROTO, "max_fds %u", max);
	}
	/* A limit above what a byte holds takes every value. */
	cr_assert_eq(verdict(1, 255, 0, 16, MAXF, 255), 16);
	cr_assert_eq(verdict(1, 255, 0, 16, MAXF, 256), 16);
	cr_assert_eq(verdict(1, 255, 0, 16, MAXF, ~0u), 16);
}

/* ---- precedence --------------------------------------------------- */

/* The rules in table order; each entry can be broken independently. */
enum { R_VERSION, R_NFDS, R_FLAGS, R_SHORT, R_LONG, R_COUNT };
static const int rule_err[R_COUNT] = {
	-EBADMSG, -EPROTO, -EBADMSG, -EBADMSG, -EMSGSIZE
};

/* Builds a header breaking exactly the rules in mask; returns max_frame. */
static uint32_t
break_rules(uint8_t b[16], unsigned mask, unsigned max_fds)
{
	uint32_t max_frame = 1000, len = 100;

	if ((mask & (1u << R_SHORT)) && (mask & (1u << R_LONG))) {
		len = 8;       /* below 16 and above max_frame */
		max_frame = 4;
	} else if (mask & (1u << R_SHORT)) {
		len = 15;
	} else if (mask & (1u << R_LONG)) {
		len = max_frame + 1;
	}
	raw_hdr(b, (mask & (1u << R_VERSION)) ? 2 : 1,
		(uint8_t)((mask & (1u << R_NFDS)) ? max_fds + 1 : max_fds),
		(mask & (1u << R_FLAGS)) ? 0x8000 : 0, len, 5, 6);
	return max_frame;
}

TEST(frame_precedence, first_broken_rule_in_table_order_wins)
{
	uint8_t b[16];

	for (unsigned mask = 0; mask < (1u << R_COUNT); mask++) {
		uint32_t max_frame = break_rules(b, mask, 4);
		int want = 16;

		for (int r = 0; r < R_COUNT; r++) {
			if (mask & (1u << r)) {
				want = rule_err[r];
				break;
			}
		}
		cr_assert_eq(decode_check(b, max_frame, 4), want,
			     "rules broken: mask 0x%x", mask);
	}
}

TEST(frame_precedence, each_pair_named)
{
	/* version beats nfds, flags, len < 16, len > max */
	cr_assert_eq(verdict(0, 9, 0, 16, 1000, 0), -EBADMSG);
	cr_assert_eq(verdict(0, 0, 1, 16, 1000, 0), -EBADMSG);
	cr_assert_eq(verdict(2, 0, 0, 3, 1000, 0), -EBADMSG);
	cr_assert_eq(verdict(255, 0, 0, UINT32_MAX, 1000, 0), -EBADMSG);
	/* nfds beats flags, len < 16, len > max */
	cr_assert_eq(verdict(1, 1, 0xffff, 16, 1000, 0), -EPROTO);
	cr_assert_eq(verdict(1, 1, 0, 0, 1000, 0), -EPROTO);
	cr_assert_eq(verdict(1, 254, 0, UINT32_MAX, 1000, 253), -EPROTO);
	/* flags beats len < 16 and len > max */
	cr_assert_eq(verdict(1, 0, 2, 0, 1000, 0), -EBADMSG);
	cr_assert_eq(verdict(1, 0, 2, UINT32_MAX, 1000, 0), -EBADMSG);
	/* len < 16 beats len > max */
	cr_assert_eq(verdict(1, 0, 0, 15, 10, 0), -EBADMSG);
}

/* ---- short input and bounds --------------------------------------- */

TEST(frame_short, fewer_than_16_bytes_need_more_and_leave_hdr)
{
	uint8_t b[16];
	struct fdmsg_hdr h;

	raw_hdr(b, 1, 0, 0, 16, 0, 0);
	for (size_t n = 0; n < 16; n++) {
		poison_hdr(&h);
		cr_assert_eq(fdmsg_hdr_decode(b, n, MAXF, 0,
					      &h), 0, "n %zu", n);
		cr_assert(hdr_is_poison(&h), "hdr written for n %zu", n);
	}
	/* Even bytes that break every rule only ask for more. */
	memset(b, 0xff, sizeof(b));
	for (size_t n = 0; n < 16; n++) {
		poison_hdr(&h);
		cr_assert_eq(fdmsg_hdr_decode(b, n, 16, 0, &h), 0);
		cr_assert(hdr_is_poison(&h));
	}
}

TEST(frame_short, more_than_16_bytes_reads_only_the_header)
{
	uint8_t b[64];
	struct fdmsg_hdr h;

	memset(b, 0xff, sizeof(b));
	raw_hdr(b, 1, 2, 0, 64, 3, 4);
	cr_assert_eq(fdmsg_hdr_decode(b, sizeof(b), 64, 2, &h), 16);
	assert_hdr(&h, (struct fdmsg_hdr){ 1, 2, 0, 64, 3, 4 });
	cr_assert_eq(fdmsg_hdr_decode(b, 17, 64, 2, &h), 16);
}

/* Two pages, the second no-access: bytes ending at the first page's end. */
static uint8_t *
guard_map(size_t *pagesz)
{
	long ps = sysconf(_SC_PAGESIZE);
	uint8_t *m;

	cr_assert_gt(ps, 0);
	*pagesz = (size_t)ps;
	m = mmap(NULL, 2 * *pagesz, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(m, MAP_FAILED, "mmap: %s", strerror(errno));
	cr_assert_eq(mprotect(m + *pagesz, *pagesz, PROT_NONE), 0);
	return m;
}

TEST(frame_bounds, header_before_guard_page_never_faults)
{
	size_t ps;
	uint8_t *m = guard_map(&ps);
	uint8_t *end = m + ps;
	struct fdmsg_hdr h;
	static const struct {
		uint8_t version, nfds;
		uint16_t flags;
		uint32_t len;
		int want;
	} cases[] = {
		{ 1, 0, 0, 16, 16 },
		{ 1, 2, 0, 100, 16 },
		{ 2, 0, 0, 16, -EBADMSG },
		{ 1, 9, 0, 16, -EPROTO },
		{ 1, 0, 4, 16, -EBADMSG },
		{ 1, 0, 0, 15, -EBADMSG },
		{ 1, 0, 0, UINT32_MAX, -EMSGSIZE },
	};

	memset(m, 0xee, ps);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		raw_hdr(end - 16, cases[c].version, cases[c].nfds,
			cases[c].flags, cases[c].len, 7, 8);
		for (size_t n = 0; n <= 16; n++) {
			/* The last n bytes of the page: buf + n is the guard. */
			poison_hdr(&h);
			int rc = fdmsg_hdr_decode(end - n, n, 1000, 2, &h);

			cr_assert_eq(rc, n < 16 ? 0 : cases[c].want,
				     "case %zu n %zu", c, n);
		}
		/* The whole header at the very end. */
		cr_assert_eq(fdmsg_hdr_decode(end - 16, 16, 1000, 2, &h),
			     cases[c].want);
	}
	cr_assert_eq(munmap(m, 2 * ps), 0);
}

/* ---- encode ------------------------------------------------------- */

TEST(frame_encode, known_vector_is_little_endian)
{
	const struct fdmsg_hdr h = {
		.version = 1, .nfds = 3, .flags = 0, .len = 0x11223344,
		.type = 0xAABBCCDD, .peerid = 0x01020304,
	};
	static const uint8_t want[16] = {
		0x01, 0x03, 0x00, 0x00, 0x44, 0x33, 0x22, 0x11,
		0xDD, 0xCC, 0xBB, 0xAA, 0x04, 0x03, 0x02, 0x01,
	};
	uint8_t out[16];
	struct fdmsg_hdr back;

	memset(out, 0x5a, sizeof(out));
	cr_assert_eq(fdmsg_hdr_encode(&h, out), 16);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(out[i], want[i], "byte %d: 0x%02x, want 0x%02x",
			     i, out[i], want[i]);
	poison_hdr(&back);
	cr_assert_eq(fdmsg_hdr_decode(want, 16, UINT32_MAX, 3, &back), 16);
	assert_hdr(&back, h);
}

static void
encode_rejects(struct fdmsg_hdr h)
{
	uint8_t out[16], before[16];

	memset(out, 0x5a, sizeof(out));
	memcpy(before, out, sizeof(out));
	cr_assert_eq(fdmsg_hdr_encode(&h, out), -EINVAL,
		     "version %u flags 0x%x len %u", h.version, h.flags, h.len);
	cr_assert_eq(memcmp(out, before, sizeof(out)), 0,
		     "output written on failure");
}

TEST(frame_encode, rejects_what_decode_rejects)
{
	const struct fdmsg_hdr ok = { .version = 1, .len = 16 };
	struct fdmsg_hdr h;

	h = ok;
	h.version = 0;
	encode_rejects(h);
	h.version = 2;
	encode_rejects(h);
	h.version = 255;
	encode_rejects(h);
	for (unsigned bit = 0; bit < 16; bit++) {
		h = ok;
		h.flags = (uint16_t)(1u << bit);
		encode_rejects(h);
	}
	h = ok;
	h.len = 0;
	encode_rejects(h);
	h.len = 15;
	encode_rejects(h);
}

TEST(frame_encode, has_no_limits_of_its_own)
{
	struct fdmsg_hdr h = { .version = 1, .nfds = 255, .len = UINT32_MAX };
	uint8_t out[16];

	cr_assert_eq(fdmsg_hdr_encode(&h, out), 16);
	cr_assert_eq(out[1], 255);
	cr_assert_eq(out[4], 0xff);
	cr_assert_eq(out[7], 0xff);
	h.len = 16;
	h.nfds = 0;
	cr_assert_eq(fdmsg_hdr_encode(&h, out), 16);
	cr_assert_eq(out[4], 16);
	cr_assert_eq(out[5], 0);
}

TEST(frame_encode, null_arguments_are_einval)
{
	struct fdmsg_hdr h = { .version = 1, .len = 16 };
	uint8_t out[16];

	cr_assert_eq(fdmsg_hdr_encode(NULL, out), -EINVAL);
	cr_assert_eq(fdmsg_hdr_encode(&h, NULL), -EINVAL);
}

/* With n >= 16, a NULL span or out-parameter is -EINVAL; with n < 16 the
 * answer is "need more" before any pointer is looked at. */
TEST(frame_decode, null_arguments_are_einval)
{
	uint8_t in[16] = { 1, 0, 0, 0, 16 };
	struct fdmsg_hdr h;

	cr_assert_eq(fdmsg_hdr_decode(NULL, 16, 65536, 0, &h), -EINVAL);
	cr_assert_eq(fdmsg_hdr_decode(in, 16, 65536, 0, NULL), -EINVAL);
	cr_assert_eq(fdmsg_hdr_decode(NULL, 15, 65536, 0, NULL), 0);
	cr_assert_eq(fdmsg_hdr_decode(in, 16, 65536, 0, &h), 16);
}

/* ---- random round trips ------------------------------------------- */

#define ROUNDS 100000

TEST(frame_random, encode_then_decode_gives_the_header)
{
	struct fdmsg_hdr h, back;
	uint8_t out[16];

	xs_state = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < ROUNDS; i++) {
		uint64_t a = xorshift64(), b = xorshift64();

		h.version = 1;
		h.flags = 0;
		h.nfds = (uint8_t)a;
		h.len = (uint32_t)(a >> 32);
		if (h.len < 16)
			h.len += 16;
		h.type = (uint32_t)b;
		h.peerid = (uint32_t)(b >> 32);
		if (fdmsg_hdr_encode(&h, out) != 16)
			cr_assert_fail("encode failed at round %d", i);
		poison_hdr(&back);
		if (fdmsg_hdr_decode(out, 16, UINT32_MAX, 255, &back) != 16)
			cr_assert_fail("decode failed at round %d", i);
		if (back.version != h.version || back.nfds != h.nfds ||
		    back.flags != h.flags || back.len != h.len ||
		    back.type != h.type || back.peerid != h.peerid)
			cr_assert_fail("round %d: header changed", i);
	}
}

TEST(frame_random, decode_then_encode_gives_the_bytes)
{
	uint8_t in[16], out[16];
	struct fdmsg_hdr h;

	xs_state = 0x0123456789abcdefull;
	for (int i = 0; i < ROUNDS; i++) {
		uint64_t a = xorshift64(), b = xorshift64();

		for (int k = 0; k < 8; k++) {
			in[k] = (uint8_t)(a >> (8 * k));
			in[8 + k] = (uint8_t)(b >> (8 * k));
		}
		/* Make it valid: version 1, no flags, len >= 16. */
		in[0] = 1;
		in[2] = in[3] = 0;
		if (in[5] == 0 && in[6] == 0 && in[7] == 0 && in[4] < 16)
			in[4] |= 0x10;
		if (fdmsg_hdr_decode(in, 16, UINT32_MAX, 255, &h) != 16)
			cr_assert_fail("decode failed at round %d", i);
		memset(out, 0, sizeof(out));
		if (fdmsg_hdr_encode(&h, out) != 16)
			cr_assert_fail("encode failed at round %d", i);
		if (memcmp(in, out, 16) != 0)
			cr_assert_fail("round %d: bytes changed", i);
	}
}

/* An independent model of the wire table, for arbitrary bytes. */
static int
model_decode(const uint8_t b[16], uint32_t max_frame,
	     unsigned max_fds)
{
	uint32_t len = (uint32_t)b[4] | (uint32_t)b[5] << 8 |
		       (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;

	if (b[0] != 1)
		return -EBADMSG;
	if (b[1] > max_fds)
		return -EPROTO;
	if (b[2] != 0 || b[3] != 0)
		return -EBADMSG;
	if (len < 16)
		return -EBADMSG;
	if (len > max_frame)
		return -EMSGSIZE;
	return 16;
}

TEST(frame_random, arbitrary_bytes_match_the_model)
{
	uint8_t in[16];
	struct fdmsg_hdr h;

	xs_state = 0xfdfdfdfd12345678ull;
	for (int i = 0; i < ROUNDS; i++) {
		uint64_t a = xorshift64(), b = xorshift64(), c = xorshift64();
		uint32_t max_frame = (uint32_t)c;
		unsigned max_fds = (unsigned)(c >> 32) % 300;

		for (int k = 0; k < 8; k++) {
			in[k] = (uint8_t)(a >> (8 * k));
			in[8 + k] = (uint8_t)(b >> (8 * k));
		}
		/* Bias towards near-valid headers so every rule gets hit. */
		if (c & (1ull << 62))
			in[0] = 1;
		if (c & (1ull << 61))
			in[2] = in[3] = 0;
		if (c & (1ull << 60))
			in[6] = in[7] = 0;
		if (c & (1ull << 59))
			in[1] = (uint8_t)(in[1] % 8);
		poison_hdr(&h);
		int rc = fdmsg_hdr_decode(in, 16, max_frame, max_fds, &h);
		int want = model_decode(in, max_frame, max_fds);

		if (rc != want)
			cr_assert_fail("round %d: %d, model %d", i, rc, want);
		if (rc != 16 && !hdr_is_poison(&h))
			cr_assert_fail("round %d: hdr written on failure", i);
	}
}
