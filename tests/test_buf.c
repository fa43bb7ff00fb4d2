/* SPDX-License-Identifier: ISC */
/*
 * Bounded buffers at their edges (empty, exactly full, one past, the cap,
 * SIZE_MAX and wrapping sizes), sticky errors, little-endian vectors, and
 * fdmsg_strerror's table.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fdmsg.h"
#include "testutil.h"

#ifdef FDMSG_SANITIZED
/*
 * ASan aborts on an allocation it cannot serve unless told to return
 * NULL; the -ENOMEM tests need the NULL.  (Unused without ASan.)
 */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}
#endif

static void
poison(void *p, size_t n)
{
	memset(p, 0xA5, n);
}

static int
is_poison(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0xA5)
			return 0;
	return 1;
}

/* ================= writer: init ===================================== */

TEST(wbuf_init, initial_above_max_is_einval_and_leaves_w)
{
	struct fdmsg_wbuf w;

	poison(&w, sizeof(w));
	cr_assert_eq(fdmsg_wbuf_init(&w, 11, 10), -EINVAL);
	cr_assert(is_poison(&w, sizeof(w)));
	cr_assert_eq(fdmsg_wbuf_init(&w, SIZE_MAX, SIZE_MAX - 1), -EINVAL);
	cr_assert(is_poison(&w, sizeof(w)));
}

TEST(wbuf_init, max_zero_is_einval)
{
	struct fdmsg_wbuf w;

	poison(&w, sizeof(w));
	cr_assert_eq(fdmsg_wbuf_init(&w, 0, 0), -EINVAL);
	cr_assert(is_poison(&w, sizeof(w)));
	cr_assert_eq(fdmsg_wbuf_init(NULL, 0, 10), -EINVAL);
}

TEST(wbuf_init, initial_equal_to_max_allocates_all)
{
	struct fdmsg_wbuf w;

	cr_assert_eq(fdmsg_wbuf_init(&w, 32, 32), 0);
	cr_assert_not_null(fdmsg_wbuf_data(&w));
	cr_assert_eq(fdmsg_wbuf_len(&w), 0);
	cr_assert_eq(fdmsg_wbuf_error(&w), 0);
	for (int i = 0; i < 32; i++)
		cr_assert_eq(fdmsg_wbuf_put_u8(&w, (uint8_t)i), 0);
	cr_assert_eq(fdmsg_wbuf_put_u8(&w, 0), -ENOBUFS);
	cr_assert_eq(fdmsg_wbuf_len(&w), 32);
	fdmsg_wbuf_free(&w);
}

TEST(wbuf_init, initial_zero_allocates_lazily)
{
	struct fdmsg_wbuf w;

	cr_assert_eq(fdmsg_wbuf_init(&w, 0, 100), 0);
	cr_assert_null(fdmsg_wbuf_data(&w));
	cr_assert_eq(fdmsg_wbuf_len(&w), 0);
	/* A zero reserve succeeds (non-NULL) without allocating. */
	cr_assert_not_null(fdmsg_wbuf_reserve(&w, 0));
	cr_assert_null(fdmsg_wbuf_data(&w));
	cr_assert_eq(fdmsg_wbuf_put_u8(&w, 7), 0);
	cr_assert_not_null(fdmsg_wbuf_data(&w));
	cr_assert_eq(((const uint8_t *)fdmsg_wbuf_data(&w))[0], 7);
	fdmsg_wbuf_free(&w);
}

TEST(wbuf_init, initial_allocation_failure_is_enomem_and_leaves_w)
{
	struct fdmsg_wbuf w;

	poison(&w, sizeof(w));
	cr_assert_eq(fdmsg_wbuf_init(&w, SIZE_MAX, SIZE_MAX), -ENOMEM);
	cr_assert(is_poison(&w, sizeof(w)));
}

/* ================= writer: fixed ==================================== */

TEST(wbuf_fixed, size_zero_takes_nothing)
{
	uint8_t mem[1] = { 0x5a };
	struct fdmsg_wbuf w;

	fdmsg_wbuf_init_fixed(&w, mem, 0);
	cr_assert_eq(fdmsg_wbuf_error(&w), 0);
	cr_assert_not_null(fdmsg_wbuf_reserve(&w, 0));
	cr_assert_eq(fdmsg_wbuf_len(&w), 0);
	cr_assert_eq(fdmsg_wbuf_put_u8(&w, 1), -ENOBUFS);
	cr_assert_eq(fdmsg_wbuf_len(&w), 0);
	cr_assert_eq(mem[0], 0x5a);

	fdmsg_wbuf_init_fixed(&w, NULL, 0);
	cr_assert_eq(fdmsg_wbuf_error(&w), 0);
	cr_assert_not_null(fdmsg_wbuf_reserve(&w, 0));
	cr_assert_eq(fdmsg_wbuf_append(&w, NULL, 0), 0);
	cr_assert_eq(fdmsg_wbuf_put_u16(&w, 1), -ENOBUFS);
	fdmsg_wbuf_free(&w);
}

TEST(wbuf_fixed, null_memory_with_size_is_einval)
{
	struct fdmsg_wbuf w;

	fdmsg_wbuf_init_fixed(&w, NULL, 8);
	cr_assert_eq(fdmsg_wbuf_error(&w), -EINVAL);
	cr_assert_eq(fdmsg_wbuf_put_u8(&w, 1), -EINVAL);
	cr_assert_null(fdmsg_wbuf_reserve(&w, 0));
	cr_assert_eq(fdmsg_wbuf_len(&w), 0);
	fdmsg_wbuf_init_fixed(NULL, NULL, 8); /* no crash */
}

TEST(wbuf_fixed, exactly_full_then_one_past)
{
	uint8_t mem[15];
	struct fdmsg_wbuf w;
	static const uint8_t want[15] = {
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
		0x0d, 0x0c, 0x0b, 0x0a, 0x0f, 0x0e, 0x10,
	};

	fdmsg_wbuf_init_fixed(&w, mem, sizeof(mem));
	cr_assert_eq(fdmsg_wbuf_put_u64(&w, 0x0102030405060708ull), 0);
	cr_assert_eq(fdmsg_wbuf_put_u32(&w, 0x0a0b0c0d), 0);
	cr_assert_eq(fdmsg_wbuf_put_u16(&w, 0x0e0f), 0);
	cr_assert_eq(fdmsg_wbuf_put_u8(&w, 0x10), 0);
	cr_assert_eq(fdmsg_wbuf_len(&w), 15);
	cr_assert_eq(fdmsg_wbuf_data(&w), mem);
	cr_assert_eq(memcmp(mem, want, 15), 0);
	cr_assert_not_null(fdmsg_wbuf_reserve(&w, 0));
	cr_assert_eq(fdmsg_wbuf_put_u8(&w, 0x11), -ENOBUFS);
	cr_assert_eq(fdmsg_wbuf_len(&w), 15);
	cr_assert_eq(memcmp(mem, want, 15), 0);
}

/* For each width: a buffer one byte short fails, an exact one fits. */
TEST(wbuf_fixed, each_width_at_exact_size_and_one_short)
{
	uint8_t mem[9];
	struct fdmsg_wbuf w;

	for (size_t width = 1; width <= 8; width *= 2) {
		int rc;

		poison(mem, sizeof(mem));
		fdmsg_wbuf_init_fixed(&w, mem, width - 1);
		switch (width) {
		case 1: rc = fdmsg_wbuf_put_u8(&w, 0xff); break;
		case 2: rc = fdmsg_wbuf_put_u16(&w, 0xffff); break;
		case 4: rc = fdmsg_wbuf_put_u32(&w, 0xffffffff); break;
		default: rc = fdmsg_wbuf_put_u64(&w, ~0ull); break;
		}
		cr_assert_eq(rc, -ENOBUFS, "width %zu", width);
		cr_assert_eq(fdmsg_wbuf_len(&w), 0);
		cr_assert(is_poison(mem, sizeof(mem)), "width %zu wrote", width);

		fdmsg_wbuf_init_fixed(&w, mem, width);
		switch (width) {
		case 1: rc = fdmsg_wbuf_put_u8(&w, 0xff); break;
		case 2: rc = fdmsg_wbuf_put_u16(&w, 0xffff); break;
		case 4: rc = fdmsg_wbuf_put_u32(&w, 0xffffffff); break;
		default: rc = fdmsg_wbuf_put_u64(&w, ~0ull); break;
		}
		cr_assert_eq(rc, 0, "width %zu", width);
		cr_assert_eq(fdmsg_wbuf_len(&w), width);
		cr_assert_eq(mem[width], 0xA5, "width %zu wrote past", width);
	}
}

TEST(wbuf_fixed, append_exact_and_one_past)
{
	uint8_t mem[8], src[9] = "abcdefgh";
	struct fdmsg_wbuf w;

	fdmsg_wbuf_init_fixed(&w, mem, sizeof(mem));
	cr_assert_eq(fdmsg_wbuf_append(&w, src, 9), -ENOBUFS);
	cr_assert_eq(fdmsg_wbuf_len(&w), 0);
	fdmsg_wbuf_reset(&w);
	cr_assert_eq(fdmsg_wbuf_append(&w, src, 8), 0);
	cr_assert_eq(memcmp(mem, "abcdefgh", 8), 0);
	cr_assert_eq(fdmsg_wbuf_append(&w, src, 0), 0);
	cr_assert_eq(fdmsg_wbuf_append(&w, src, 1), -ENOBUFS);
	cr_assert_eq(fdmsg_wbuf_len(&w), 8);
}

TEST(wbuf_fixed, free_leaves_caller_memory)
{
	uint8_t mem[4];
	struct fdmsg_wbuf w;

	/* Freeing stack memory would abort in glibc or ASan. */
	fdmsg_wbuf_init_fixed(&w, mem, sizeof(mem));
	cr_assert_eq(fdmsg_wbuf_put_u32(&w, 0x01020304), 0);
	fdmsg_wbuf_free(&w);
	cr_assert_eq(mem[0], 4);
	cr_assert_eq(fdmsg_wbuf_len(&w), 0);
	cr_assert_eq(fdmsg_wbuf_put_u8(&w, 1), -ENOBUFS);
	fdmsg_wbuf_free(&w); /* twice */
	fdmsg_wbuf_free(NULL);
}

/* ================= writer: growable ================================= */

TEST(wbuf_grow, growth_across_reallocs_keeps_contents)
{
	struct fdmsg_wbuf w;
	size_t caps = 0, last_cap = 0;
	const size_t total = 100000;

	cr_assert_eq(fdmsg_wbuf_init(&w, 1, 1u << 20), 0);
	for (size_t i = 0; i < total; i++) {
		if (fdmsg_wbuf_put_u8(&w, (uint8_t)(i * 7 + i / 256)) != 0)
			cr_assert_fail("put %zu: %d", i, fdmsg_wbuf_error(&w));
		if (w.cap != last_cap) {
			caps++;
			last_cap = w.cap;
		}
		if (w.cap < w.len || w.cap > w.max)
			cr_assert_fail("cap %zu len %zu", w.cap, w.len);
	}
	/* Geometric: a handful of reallocs, not one per byte. */
	cr_assert_geq(caps, 3);
	cr_assert_leq(caps, 20);
	cr_assert_eq(fdmsg_wbuf_len(&w), total);
	const uint8_t *d = fdmsg_wbuf_data(&w);
	for (size_t i = 0; i < total; i++)
		if (d[i] != (uint8_t)(i * 7 + i / 256))
			cr_assert_fail("byte %zu lost", i);
	fdmsg_wbuf_free(&w);
	cr_assert_null(fdmsg_wbuf_data(&w));
	fdmsg_wbuf_free(&w);
}

TEST(wbuf_grow, never_past_max)
{
	struct fdmsg_wbuf w;
	uint8_t chunk[333];

	memset(chunk, 'x', sizeof(chunk));
	cr_assert_eq(fdmsg_wbuf_init(&w, 1, 1000), 0);
	cr_assert_eq(fdmsg_wbuf_append(&w, chunk, 333), 0);
	cr_assert_eq(fdmsg_wbuf_append(&w, chunk, 333), 0);
	cr_assert_eq(fdmsg_wbuf_append(&w, chunk, 333), 0);
	cr_assert_leq(w.cap, 1000);
	cr_assert_eq(fdmsg_wbuf_put_u8(&w, 'y'), 0);
	cr_assert_eq(fdmsg_wbuf_len(&w), 1000);
	cr_assert_eq(w.cap, 1000);
	cr_assert_eq(fdmsg_wbuf_put_u8(&w, 'z'), -ENOBUFS);
	cr_assert_eq(fdmsg_wbuf_len(&w), 1000);
	cr_assert_eq(((const uint8_t *)fdmsg_wbuf_data(&w))[999], 'y');
	fdmsg_wbuf_free(&w);
}

TEST(wbuf_grow, cap_reached_by_put_of_each_width)
{
	struct fdmsg_wbuf w;

	/* max 13: 8 + 4 fit, then u16 is one past; u8 would have fit. */
	cr_assert_eq(fdmsg_wbuf_init(&w, 0, 13), 0);
	cr_assert_eq(fdmsg_wbuf_put_u64(&w, 1), 0);
	cr_assert_leq(w.cap, 13, "first allocation past max: %zu", w.cap);
	cr_assert_eq(fdmsg_wbuf_put_u32(&w, 2), 0);
	cr_assert_leq(w.cap, 13, "grew past max: %zu", w.cap);
	cr_assert_eq(fdmsg_wbuf_put_u16(&w, 3), -ENOBUFS);
	cr_assert_eq(fdmsg_wbuf_len(&w), 12);
	cr_assert_eq(fdmsg_wbuf_put_u8(&w, 4), -ENOBUFS, "sticky");
	cr_assert_eq(fdmsg_wbuf_len(&w), 12);
	fdmsg_wbuf_reset(&w);
	cr_assert_eq(fdmsg_wbuf_len(&w), 0);
	cr_assert_eq(fdmsg_wbuf_error(&w), 0);
	cr_assert_eq(fdmsg_wbuf_put_u64(&w, 5), 0);
	fdmsg_wbuf_free(&w);
}

/*
 * w, once holding `held` bytes, refuses reserve(n) with err and keeps
 * them: nothing written, len unchanged.
 */
static void
reserve_refused(struct fdmsg_wbuf *w, size_t held, size_t n, int err)
{
	static const char bytes[] = "0123456789abcdef";

	cr_assert_leq(held, sizeof(bytes) - 1);
	cr_assert_eq(fdmsg_wbuf_append(w, bytes, held), 0);
	cr_assert_null(fdmsg_wbuf_reserve(w, n), "held %zu, n %zu", held, n);
	cr_assert_eq(fdmsg_wbuf_error(w), err, "held %zu, n %zu: %d", held, n,
		     fdmsg_wbuf_error(w));
	cr_assert_eq(fdmsg_wbuf_len(w), held);
	cr_assert(held == 0 || memcmp(fdmsg_wbuf_data(w), bytes, held) == 0);
}

/* The same over a fresh 16-byte fixed buffer. */
static void
fixed_refuses(size_t held, size_t n, int err)
{
	struct fdmsg_wbuf w;
	uint8_t mem[16];

	fdmsg_wbuf_init_fixed(&w, mem, sizeof(mem));
	reserve_refused(&w, held, n, err);
}

TEST(wbuf_grow, allocation_failure_is_enomem_and_keeps_contents)
{
	struct fdmsg_wbuf w;

	cr_assert_eq(fdmsg_wbuf_init(&w, 4, SIZE_MAX), 0);
	reserve_refused(&w, 4, SIZE_MAX / 2, -ENOMEM);
	cr_assert_eq(fdmsg_wbuf_put_u8(&w, 1), -ENOMEM);
	fdmsg_wbuf_free(&w);
}

/* ================= writer: sizes that wrap ========================== */

TEST(wbuf_sizes, reserve_size_max_empty_is_enobufs)
{
	struct fdmsg_wbuf w;

	/* len + n fits the arithmetic but passes max: -ENOBUFS. */
	fixed_refuses(0, SIZE_MAX, -ENOBUFS);
	cr_assert_eq(fdmsg_wbuf_init(&w, 0, 1u << 20), 0);
	reserve_refused(&w, 0, SIZE_MAX, -ENOBUFS);
	fdmsg_wbuf_free(&w);
}

TEST(wbuf_sizes, reserve_size_max_with_data_is_eoverflow)
{
	fixed_refuses(1, SIZE_MAX, -EOVERFLOW);
}

TEST(wbuf_sizes, size_max_minus_len_is_enobufs_one_more_wraps)
{
	fixed_refuses(4, SIZE_MAX - 4, -ENOBUFS);
	/* len + n == 2^N: wraps to exactly 0. */
	fixed_refuses(4, SIZE_MAX - 3, -EOVERFLOW);
}

TEST(wbuf_sizes, wrap_to_a_small_fitting_size_is_eoverflow)
{
	struct fdmsg_wbuf w;

	/* len 5 + (SIZE_MAX - 2) wraps to 2, which would "fit" 16 bytes. */
	fixed_refuses(5, SIZE_MAX - 2, -EOVERFLOW);

	cr_assert_eq(fdmsg_wbuf_init(&w, 0, SIZE_MAX), 0);
	cr_assert_eq(fdmsg_wbuf_append(&w, "12345", 5), 0);
	cr_assert_eq(fdmsg_wbuf_append(&w, "x", SIZE_MAX - 2), -EOVERFLOW);
	cr_assert_eq(fdmsg_wbuf_len(&w), 5);
	cr_assert_eq(memcmp(fdmsg_wbuf_data(&w), "12345", 5), 0);
	fdmsg_wbuf_free(&w);
}

TEST(wbuf_sizes, append_size_max)
{
	struct fdmsg_wbuf w;
	uint8_t mem[16];

	/* The source is never read: the size check comes first. */
	fdmsg_wbuf_init_fixed(&w, mem, sizeof(mem));
	cr_assert_eq(fdmsg_wbuf_append(&w, "x", SIZE_MAX), -ENOBUFS);
	fdmsg_wbuf_init_fixed(&w, mem, sizeof(mem));
	cr_assert_eq(fdmsg_wbuf_put_u8(&w, 1), 0);
	cr_assert_eq(fdmsg_wbuf_append(&w, "x", SIZE_MAX), -EOVERFLOW);
	cr_assert_eq(fdmsg_wbuf_len(&w), 1);
}

/* ================= writer: sticky errors and reserve ================ */

TEST(wbuf_sticky, first_error_stays_and_changes_nothing)
{
	struct fdmsg_wbuf w;
	uint8_t mem[8] = { 0 }, snap[8];

	fdmsg_wbuf_init_fixed(&w, mem, sizeof(mem));
	cr_assert_eq(fdmsg_wbuf_put_u32(&w, 0x11223344), 0);
	cr_assert_eq(fdmsg_wbuf_put_u8(&w, 1), 0);
	cr_assert_null(fdmsg_wbuf_reserve(&w, SIZE_MAX)); /* -EOVERFLOW */
	memcpy(snap, mem, sizeof(mem));
	/* Calls that would fit on their own fail the same way. */
	cr_assert_eq(fdmsg_wbuf_put_u8(&w, 2), -EOVERFLOW);
	cr_assert_eq(fdmsg_wbuf_put_u16(&w, 2), -EOVERFLOW);
	cr_assert_eq(fdmsg_wbuf_append(&w, "a", 1), -EOVERFLOW);
	cr_assert_eq(fdmsg_wbuf_append(&w, NULL, 1), -EOVERFLOW);
	cr_assert_null(fdmsg_wbuf_reserve(&w, 0));
	cr_assert_null(fdmsg_wbuf_reserve(&w, 20)); /* would be -ENOBUFS */
	cr_assert_eq(fdmsg_wbuf_error(&w), -EOVERFLOW);
	cr_assert_eq(fdmsg_wbuf_len(&w), 5);
	cr_assert_eq(memcmp(mem, snap, sizeof(mem)), 0);
	/* reset: len 0, err 0, usable again. */
	fdmsg_wbuf_reset(&w);
	cr_assert_eq(fdmsg_wbuf_error(&w), 0);
	cr_assert_eq(fdmsg_wbuf_len(&w), 0);
	cr_assert_eq(fdmsg_wbuf_put_u64(&w, 0), 0);
	cr_assert_eq(fdmsg_wbuf_len(&w), 8);
}

TEST(wbuf_sticky, append_null_with_length_is_einval)
{
	struct fdmsg_wbuf w;
	uint8_t mem[8];

	fdmsg_wbuf_init_fixed(&w, mem, sizeof(mem));
	cr_assert_eq(fdmsg_wbuf_append(&w, NULL, 0), 0);
	cr_assert_eq(fdmsg_wbuf_append(&w, NULL, 1), -EINVAL);
	cr_assert_eq(fdmsg_wbuf_put_u8(&w, 1), -EINVAL);
	cr_assert_eq(fdmsg_wbuf_len(&w), 0);
}

TEST(wbuf_reserve, returns_n_writable_bytes_and_advances)
{
	struct fdmsg_wbuf w;
	uint8_t *p, *q;

	cr_assert_eq(fdmsg_wbuf_init(&w, 0, 64), 0);
	p = fdmsg_wbuf_reserve(&w, 10);
	cr_assert_not_null(p);
	memset(p, 'a', 10);
	cr_assert_eq(fdmsg_wbuf_len(&w), 10);
	q = fdmsg_wbuf_reserve(&w, 0);
	cr_assert_not_null(q);
	cr_assert_eq(fdmsg_wbuf_len(&w), 10);
	q = fdmsg_wbuf_reserve(&w, 54);
	cr_assert_not_null(q);
	memset(q, 'b', 54);
	cr_assert_eq(fdmsg_wbuf_len(&w), 64);
	const uint8_t *d = fdmsg_wbuf_data(&w);
	cr_assert_eq(q, d + 10);
	for (int i = 0; i < 64; i++)
		cr_assert_eq(d[i], i < 10 ? 'a' : 'b');
	cr_assert_null(fdmsg_wbuf_reserve(&w, 1));
	cr_assert_eq(fdmsg_wbuf_error(&w), -ENOBUFS);
	fdmsg_wbuf_free(&w);
}

TEST(wbuf_null, null_writer_is_einval)
{
	cr_assert_null(fdmsg_wbuf_reserve(NULL, 1));
	cr_assert_eq(fdmsg_wbuf_append(NULL, "a", 1), -EINVAL);
	cr_assert_eq(fdmsg_wbuf_put_u8(NULL, 1), -EINVAL);
	cr_assert_eq(fdmsg_wbuf_put_u16(NULL, 1), -EINVAL);
	cr_assert_eq(fdmsg_wbuf_put_u32(NULL, 1), -EINVAL);
	cr_assert_eq(fdmsg_wbuf_put_u64(NULL, 1), -EINVAL);
	cr_assert_eq(fdmsg_wbuf_error(NULL), -EINVAL);
	cr_assert_null(fdmsg_wbuf_data(NULL));
	cr_assert_eq(fdmsg_wbuf_len(NULL), 0);
	fdmsg_wbuf_reset(NULL);
	fdmsg_wbuf_free(NULL);
}

TEST(wbuf_le, every_width_is_little_endian)
{
	struct fdmsg_wbuf w;
	static const uint8_t want[] = {
		0xab,
		0x34, 0x12,
		0x78, 0x56, 0x34, 0x12,
		0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,
		0xff, 0xff,
		0x00, 0x00, 0x00, 0x80,
	};

	cr_assert_eq(fdmsg_wbuf_init(&w, 0, 1024), 0);
	cr_assert_eq(fdmsg_wbuf_put_u8(&w, 0xab), 0);
	cr_assert_eq(fdmsg_wbuf_put_u16(&w, 0x1234), 0);
	cr_assert_eq(fdmsg_wbuf_put_u32(&w, 0x12345678), 0);
	cr_assert_eq(fdmsg_wbuf_put_u64(&w, 0x0123456789abcdefull), 0);
	cr_assert_eq(fdmsg_wbuf_put_u16(&w, 0xffff), 0);
	cr_assert_eq(fdmsg_wbuf_put_u32(&w, 0x80000000u), 0);
	cr_assert_eq(fdmsg_wbuf_len(&w), sizeof(want));
	const uint8_t *d = fdmsg_wbuf_data(&w);
	for (size_t i = 0; i < sizeof(want); i++)
		cr_assert_eq(d[i], want[i], "byte %zu: 0x%02x want 0x%02x", i,
			     d[i], want[i]);
	fdmsg_wbuf_free(&w);
}

/* ================= reader =========================================== */

TEST(rbuf_empty, empty_span_reads_nothing)
{
	struct fdmsg_rbuf r;
	uint8_t v8 = 0xA5;
	const char *s = (const char *)&v8;
	size_t len = 77;

	fdmsg_rbuf_init(&r, NULL, 0);
	cr_assert_eq(fdmsg_rbuf_error(&r), 0);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 0);
	cr_assert_not_null(fdmsg_rbuf_get_ref(&r, 0));
	cr_assert_eq(fdmsg_rbuf_get_bytes(&r, NULL, 0), 0);
	cr_assert_eq(fdmsg_rbuf_skip(&r, 0), 0);
	cr_assert_eq(fdmsg_rbuf_get_str(&r, &s, &len), -EBADMSG);
	cr_assert_eq(s, (const char *)&v8);
	cr_assert_eq(len, 77);
	cr_assert_eq(fdmsg_rbuf_get_u8(&r, &v8), -EBADMSG);
	cr_assert_eq(v8, 0xA5);
}

TEST(rbuf_empty, null_with_length_is_einval)
{
	struct fdmsg_rbuf r;
	uint8_t v;

	fdmsg_rbuf_init(&r, NULL, 4);
	cr_assert_eq(fdmsg_rbuf_error(&r), -EINVAL);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 0);
	cr_assert_eq(fdmsg_rbuf_get_u8(&r, &v), -EINVAL);
	fdmsg_rbuf_init(NULL, NULL, 4); /* no crash */
}

static int
get_width(struct fdmsg_rbuf *r, size_t width, uint64_t *out)
{
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	int rc;

	switch (width) {
	case 1:
		v8 = 0xA5;
		rc = fdmsg_rbuf_get_u8(r, &v8);
		*out = v8;
		return rc;
	case 2:
		v16 = 0xA5A5;
		rc = fdmsg_rbuf_get_u16(r, &v16);
		*out = v16;
		return rc;
	case 4:
		v32 = 0xA5A5A5A5;
		rc = fdmsg_rbuf_get_u32(r, &v32);
		*out = v32;
		return rc;
	default:
		*out = 0xA5A5A5A5A5A5A5A5ull;
		return fdmsg_rbuf_get_u64(r, out);
	}
}

TEST(rbuf_ints, each_width_at_exact_end_and_one_past)
{
	static const uint8_t src[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	static const uint64_t want[9] = {
		[1] = 0x01, [2] = 0x0201, [4] = 0x04030201,
		[8] = 0x0807060504030201ull,
	};
	struct fdmsg_rbuf r;
	uint64_t v;

	for (size_t width = 1; width <= 8; width *= 2) {
		/* Exactly width bytes: reads, then nothing remains. */
		fdmsg_rbuf_init(&r, src, width);
		cr_assert_eq(get_width(&r, width, &v), 0, "width %zu", width);
		cr_assert_eq(v, want[width], "width %zu", width);
		cr_assert_eq(fdmsg_rbuf_remaining(&r), 0);
		cr_assert_eq(get_width(&r, width, &v), -EBADMSG);
		cr_assert_eq(v & 0xff, 0xA5, "out-param written on failure");

		/* One byte short: fails, consumes nothing, writes nothing. */
		fdmsg_rbuf_init(&r, src, width - 1);
		cr_assert_eq(get_width(&r, width, &v), -EBADMSG, "width %zu",
			     width);
		cr_assert_eq(v & 0xff, 0xA5);
		cr_assert_eq(fdmsg_rbuf_remaining(&r), width - 1);
		cr_assert_eq(fdmsg_rbuf_error(&r), -EBADMSG);
	}
}

TEST(rbuf_ints, every_width_is_little_endian)
{
	static const uint8_t src[] = {
		0xab,
		0x34, 0x12,
		0x78, 0x56, 0x34, 0x12,
		0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,
		0x00, 0x80,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	struct fdmsg_rbuf r;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	fdmsg_rbuf_init(&r, src, sizeof(src));
	cr_assert_eq(fdmsg_rbuf_get_u8(&r, &v8), 0);
	cr_assert_eq(v8, 0xab);
	cr_assert_eq(fdmsg_rbuf_get_u16(&r, &v16), 0);
	cr_assert_eq(v16, 0x1234);
	cr_assert_eq(fdmsg_rbuf_get_u32(&r, &v32), 0);
	cr_assert_eq(v32, 0x12345678);
	cr_assert_eq(fdmsg_rbuf_get_u64(&r, &v64), 0);
	cr_assert_eq(v64, 0x0123456789abcdefull);
	cr_assert_eq(fdmsg_rbuf_get_u16(&r, &v16), 0);
	cr_assert_eq(v16, 0x8000);
	cr_assert_eq(fdmsg_rbuf_get_u64(&r, &v64), 0);
	cr_assert_eq(v64, UINT64_MAX);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 0);
	cr_assert_eq(fdmsg_rbuf_error(&r), 0);
}

TEST(rbuf_ints, writer_to_reader_round_trip)
{
	struct fdmsg_wbuf w;
	struct fdmsg_rbuf r;
	uint8_t mem[64], v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	fdmsg_wbuf_init_fixed(&w, mem, sizeof(mem));
	cr_assert_eq(fdmsg_wbuf_put_u64(&w, 0xfedcba9876543210ull), 0);
	cr_assert_eq(fdmsg_wbuf_put_u8(&w, 0x7f), 0);
	cr_assert_eq(fdmsg_wbuf_put_u32(&w, 0xdeadbeef), 0);
	cr_assert_eq(fdmsg_wbuf_put_u16(&w, 0xbeef), 0);
	cr_assert_eq(fdmsg_wbuf_append(&w, "hi", 3), 0);
	fdmsg_rbuf_init(&r, fdmsg_wbuf_data(&w), fdmsg_wbuf_len(&w));
	cr_assert_eq(fdmsg_rbuf_get_u64(&r, &v64), 0);
	cr_assert_eq(v64, 0xfedcba9876543210ull);
	cr_assert_eq(fdmsg_rbuf_get_u8(&r, &v8), 0);
	cr_assert_eq(v8, 0x7f);
	cr_assert_eq(fdmsg_rbuf_get_u32(&r, &v32), 0);
	cr_assert_eq(v32, 0xdeadbeef);
	cr_assert_eq(fdmsg_rbuf_get_u16(&r, &v16), 0);
	cr_assert_eq(v16, 0xbeef);
	const char *s;
	size_t len;
	cr_assert_eq(fdmsg_rbuf_get_str(&r, &s, &len), 0);
	cr_assert_str_eq(s, "hi");
	cr_assert_eq(len, 2);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 0);
}

TEST(rbuf_sticky, after_over_read_everything_fails_and_nothing_moves)
{
	static const uint8_t src[6] = { 1, 2, 3, 4, 5, 6 };
	struct fdmsg_rbuf r;
	uint8_t v8 = 0xA5, dst[2] = { 0xA5, 0xA5 };
	uint16_t v16 = 0xA5A5;
	uint32_t v32 = 0xA5A5A5A5;
	uint64_t v64 = 0xA5A5A5A5A5A5A5A5ull;
	const char *s = NULL;

	fdmsg_rbuf_init(&r, src, sizeof(src));
	cr_assert_eq(fdmsg_rbuf_get_u16(&r, &v16), 0);
	cr_assert_eq(fdmsg_rbuf_get_u64(&r, &v64), -EBADMSG);
	cr_assert_eq(v64, 0xA5A5A5A5A5A5A5A5ull);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 4);
	/* These would all fit on their own. */
	cr_assert_eq(fdmsg_rbuf_get_u8(&r, &v8), -EBADMSG);
	cr_assert_eq(v8, 0xA5);
	cr_assert_eq(fdmsg_rbuf_get_u32(&r, &v32), -EBADMSG);
	cr_assert_eq(v32, 0xA5A5A5A5);
	cr_assert_eq(fdmsg_rbuf_get_bytes(&r, dst, 2), -EBADMSG);
	cr_assert_eq(dst[0], 0xA5);
	cr_assert_null(fdmsg_rbuf_get_ref(&r, 1));
	cr_assert_eq(fdmsg_rbuf_skip(&r, 0), -EBADMSG);
	cr_assert_eq(fdmsg_rbuf_get_str(&r, &s, NULL), -EBADMSG);
	cr_assert_null(s);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 4);
	cr_assert_eq(fdmsg_rbuf_error(&r), -EBADMSG);
}

TEST(rbuf_bytes, zero_remaining_one_past_and_size_max)
{
	static const uint8_t src[5] = { 'a', 'b', 'c', 'd', 'e' };
	struct fdmsg_rbuf r;
	uint8_t dst[8];

	fdmsg_rbuf_init(&r, src, sizeof(src));
	poison(dst, sizeof(dst));
	cr_assert_eq(fdmsg_rbuf_get_bytes(&r, dst, 0), 0);
	cr_assert_eq(fdmsg_rbuf_get_bytes(&r, NULL, 0), 0);
	cr_assert(is_poison(dst, sizeof(dst)));
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 5);
	cr_assert_eq(fdmsg_rbuf_skip(&r, 1), 0);
	/* remaining + 1 */
	cr_assert_eq(fdmsg_rbuf_get_bytes(&r, dst, 5), -EBADMSG);
	cr_assert(is_poison(dst, sizeof(dst)));
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 4);

	fdmsg_rbuf_init(&r, src, sizeof(src));
	cr_assert_eq(fdmsg_rbuf_skip(&r, 1), 0);
	cr_assert_eq(fdmsg_rbuf_get_bytes(&r, dst, 4), 0); /* = remaining */
	cr_assert_eq(memcmp(dst, "bcde", 4), 0);
	cr_assert_eq(dst[4], 0xA5);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 0);
	cr_assert_eq(fdmsg_rbuf_get_bytes(&r, dst, 0), 0);

	/* SIZE_MAX, at the start and past it (pos + n would wrap). */
	fdmsg_rbuf_init(&r, src, sizeof(src));
	poison(dst, sizeof(dst));
	cr_assert_eq(fdmsg_rbuf_get_bytes(&r, dst, SIZE_MAX), -EBADMSG);
	cr_assert(is_poison(dst, sizeof(dst)));
	fdmsg_rbuf_init(&r, src, sizeof(src));
	cr_assert_eq(fdmsg_rbuf_skip(&r, 3), 0);
	cr_assert_eq(fdmsg_rbuf_get_bytes(&r, dst, SIZE_MAX - 2), -EBADMSG);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 2);
	fdmsg_rbuf_init(&r, src, sizeof(src));
	cr_assert_eq(fdmsg_rbuf_skip(&r, 3), 0);
	cr_assert_eq(fdmsg_rbuf_get_bytes(&r, dst, SIZE_MAX), -EBADMSG);
}

TEST(rbuf_bytes, null_destination_with_length_is_einval)
{
	static const uint8_t src[4] = { 0 };
	struct fdmsg_rbuf r;

	fdmsg_rbuf_init(&r, src, sizeof(src));
	cr_assert_eq(fdmsg_rbuf_get_bytes(&r, NULL, 1), -EINVAL);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 4);
	fdmsg_rbuf_init(&r, src, sizeof(src));
	cr_assert_eq(fdmsg_rbuf_get_u8(&r, NULL), -EINVAL);
	fdmsg_rbuf_init(&r, src, sizeof(src));
	cr_assert_eq(fdmsg_rbuf_get_str(&r, NULL, NULL), -EINVAL);
}

TEST(rbuf_ref, points_in_place_and_consumes)
{
	static const uint8_t src[10] = "012345678";
	struct fdmsg_rbuf r;
	const uint8_t *p;

	fdmsg_rbuf_init(&r, src, sizeof(src));
	cr_assert_eq(fdmsg_rbuf_skip(&r, 2), 0);
	p = fdmsg_rbuf_get_ref(&r, 3);
	cr_assert_eq(p, src + 2);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 5);
	p = fdmsg_rbuf_get_ref(&r, 0);
	cr_assert_eq(p, src + 5);
	cr_assert_eq(fdmsg_rbuf_get_ref(&r, 5), src + 5);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 0);
	cr_assert_null(fdmsg_rbuf_get_ref(&r, 1));
	cr_assert_eq(fdmsg_rbuf_error(&r), -EBADMSG);

	fdmsg_rbuf_init(&r, src, sizeof(src));
	cr_assert_null(fdmsg_rbuf_get_ref(&r, SIZE_MAX));
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 10);
	fdmsg_rbuf_init(&r, src, sizeof(src));
	cr_assert_null(fdmsg_rbuf_get_ref(&r, 11));
	cr_assert_null(fdmsg_rbuf_get_ref(NULL, 0));
}

TEST(rbuf_str, strings_with_and_without_nul)
{
	static const char src[] = "abc\0\0xyz"; /* 9 bytes, last is NUL */
	struct fdmsg_rbuf r;
	const char *s;
	size_t len;

	fdmsg_rbuf_init(&r, src, sizeof(src));
	cr_assert_eq(fdmsg_rbuf_get_str(&r, &s, &len), 0);
	cr_assert_eq(s, src);
	cr_assert_eq(len, 3);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 5);
	/* The empty string. */
	cr_assert_eq(fdmsg_rbuf_get_str(&r, &s, &len), 0);
	cr_assert_eq(s, src + 4);
	cr_assert_eq(len, 0);
	/* NUL as the last byte of the span. */
	cr_assert_eq(fdmsg_rbuf_get_str(&r, &s, NULL), 0);
	cr_assert_str_eq(s, "xyz");
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 0);
	cr_assert_eq(fdmsg_rbuf_get_str(&r, &s, &len), -EBADMSG);

	/* No NUL within the span, though one follows it in memory. */
	fdmsg_rbuf_init(&r, src, 3);
	s = NULL;
	len = 99;
	cr_assert_eq(fdmsg_rbuf_get_str(&r, &s, &len), -EBADMSG);
	cr_assert_null(s);
	cr_assert_eq(len, 99);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 3);
	cr_assert_eq(fdmsg_rbuf_error(&r), -EBADMSG);

	/* The NUL is past the first string's span: one past fails. */
	fdmsg_rbuf_init(&r, src + 5, 3);
	cr_assert_eq(fdmsg_rbuf_get_str(&r, &s, &len), -EBADMSG);
	fdmsg_rbuf_init(&r, src + 5, 4);
	cr_assert_eq(fdmsg_rbuf_get_str(&r, &s, &len), 0);
	cr_assert_eq(len, 3);
}

TEST(rbuf_str, no_nul_before_a_guard_page_never_faults)
{
	long ps = sysconf(_SC_PAGESIZE);
	uint8_t *m;
	struct fdmsg_rbuf r;
	const char *s;

	cr_assert_gt(ps, 0);
	m = mmap(NULL, 2 * (size_t)ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(m, MAP_FAILED);
	cr_assert_eq(mprotect(m + ps, (size_t)ps, PROT_NONE), 0);
	memset(m, 'q', (size_t)ps);
	for (size_t n = 0; n <= 64; n++) {
		fdmsg_rbuf_init(&r, m + ps - n, n);
		cr_assert_eq(fdmsg_rbuf_get_str(&r, &s, NULL), -EBADMSG);
		fdmsg_rbuf_init(&r, m + ps - n, n);
		cr_assert_eq(fdmsg_rbuf_skip(&r, n + 1), -EBADMSG);
	}
	m[ps - 1] = 0;
	fdmsg_rbuf_init(&r, m + ps - 8, 8);
	cr_assert_eq(fdmsg_rbuf_get_str(&r, &s, NULL), 0);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 0);
	cr_assert_eq(munmap(m, 2 * (size_t)ps), 0);
}

TEST(rbuf_skip, zero_remaining_and_one_past)
{
	static const uint8_t src[4] = { 1, 2, 3, 4 };
	struct fdmsg_rbuf r;
	uint8_t v;

	fdmsg_rbuf_init(&r, src, sizeof(src));
	cr_assert_eq(fdmsg_rbuf_skip(&r, 0), 0);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 4);
	cr_assert_eq(fdmsg_rbuf_skip(&r, 5), -EBADMSG);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 4);

	fdmsg_rbuf_init(&r, src, sizeof(src));
	cr_assert_eq(fdmsg_rbuf_skip(&r, 3), 0);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 1);
	cr_assert_eq(fdmsg_rbuf_get_u8(&r, &v), 0);
	cr_assert_eq(v, 4);

	fdmsg_rbuf_init(&r, src, sizeof(src));
	cr_assert_eq(fdmsg_rbuf_skip(&r, 4), 0);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 0);
	cr_assert_eq(fdmsg_rbuf_skip(&r, 0), 0);
	cr_assert_eq(fdmsg_rbuf_skip(&r, 1), -EBADMSG);

	fdmsg_rbuf_init(&r, src, sizeof(src));
	cr_assert_eq(fdmsg_rbuf_skip(&r, 1), 0);
	cr_assert_eq(fdmsg_rbuf_skip(&r, SIZE_MAX), -EBADMSG);
	cr_assert_eq(fdmsg_rbuf_remaining(&r), 3);
}

TEST(rbuf_null, null_reader)
{
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;
	const char *s;

	cr_assert_eq(fdmsg_rbuf_get_u8(NULL, &v8), -EINVAL);
	cr_assert_eq(fdmsg_rbuf_get_u16(NULL, &v16), -EINVAL);
	cr_assert_eq(fdmsg_rbuf_get_u32(NULL, &v32), -EINVAL);
	cr_assert_eq(fdmsg_rbuf_get_u64(NULL, &v64), -EINVAL);
	cr_assert_eq(fdmsg_rbuf_get_bytes(NULL, &v8, 1), -EINVAL);
	cr_assert_eq(fdmsg_rbuf_get_str(NULL, &s, NULL), -EINVAL);
	cr_assert_eq(fdmsg_rbuf_skip(NULL, 0), -EINVAL);
	cr_assert_eq(fdmsg_rbuf_remaining(NULL), 0);
	cr_assert_eq(fdmsg_rbuf_error(NULL), -EINVAL);
}

/* ================= fdmsg_strerror =================================== */

static const int lib_errors[] = {
	EINVAL, EPROTO, EBADMSG, EMSGSIZE, ENOBUFS, EOVERFLOW, ENOMEM,
	EAGAIN, EPIPE, ESHUTDOWN, ETIMEDOUT, EBADF, ENOTSOCK, EAFNOSUPPORT,
	ESOCKTNOSUPPORT, EOPNOTSUPP, ESRCH, EPERM, EACCES, EEXIST,
	EADDRINUSE, ENAMETOOLONG, ENOTCONN, ECONNRESET, ECONNREFUSED, ENOENT,
	ETOOMANYREFS, EMFILE, ENFILE, EINTR, EBADFD,
};

TEST(strerror, every_library_error_has_its_own_message_both_signs)
{
	size_t n = sizeof(lib_errors) / sizeof(lib_errors[0]);

	for (size_t i = 0; i < n; i++) {
		const char *neg = fdmsg_strerror(-lib_errors[i]);
		const char *pos = fdmsg_strerror(lib_errors[i]);

		cr_assert_not_null(neg, "errno %d", lib_errors[i]);
		cr_assert_neq(neg[0], '\0', "errno %d", lib_errors[i]);
		cr_assert_str_neq(neg, "unknown error", "errno %d",
				  lib_errors[i]);
		cr_assert_eq(neg, pos, "errno %d: sign matters", lib_errors[i]);
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(neg, fdmsg_strerror(-lib_errors[j]),
					  "errno %d and %d share a message",
					  lib_errors[i], lib_errors[j]);
	}
}

TEST(strerror, fdmsg_specific_wording)
{
	cr_assert_str_eq(fdmsg_strerror(0), "success");
	cr_assert_str_eq(fdmsg_strerror(-EPROTO), "protocol error: "
			 "descriptors or ancillary data break the rules");
	cr_assert_str_eq(fdmsg_strerror(-EBADMSG), "malformed frame");
	cr_assert_str_eq(fdmsg_strerror(-EMSGSIZE),
			 "frame larger than the limit");
}

TEST(strerror, unknown_codes)
{
	cr_assert_str_eq(fdmsg_strerror(9999), "unknown error");
	cr_assert_str_eq(fdmsg_strerror(-9999), "unknown error");
	cr_assert_str_eq(fdmsg_strerror(INT_MAX), "unknown error");
	cr_assert_str_eq(fdmsg_strerror(INT_MIN), "unknown error");
	cr_assert_str_eq(fdmsg_strerror(-INT_MAX), "unknown error");
}

/* One table names and words every error: each of the library's own has
 * a name, the same for both signs; a passed-through system error has a
 * name and no fdmsg wording; 0 and unknown values have none. */
TEST(strerror, errname_same_table)
{
	size_t n = sizeof(lib_errors) / sizeof(lib_errors[0]);

	for (size_t i = 0; i < n; i++) {
		const char *neg = fdmsg_errname(-lib_errors[i]);

		cr_assert_not_null(neg, "errno %d has no name", lib_errors[i]);
		cr_assert_eq(neg, fdmsg_errname(lib_errors[i]), "errno %d",
			     lib_errors[i]);
		cr_assert_eq(neg[0], 'E', "errno %d: %s", lib_errors[i], neg);
	}
	cr_assert_str_eq(fdmsg_errname(-EPROTO), "EPROTO");
	cr_assert_str_eq(fdmsg_errname(EMSGSIZE), "EMSGSIZE");
	cr_assert_str_eq(fdmsg_errname(-ELOOP), "ELOOP");
	cr_assert_str_eq(fdmsg_strerror(-ELOOP), "unknown error");
	cr_assert_null(fdmsg_errname(0));
	cr_assert_null(fdmsg_errname(9999));
	cr_assert_null(fdmsg_errname(-9999));
	cr_assert_null(fdmsg_errname(INT_MIN));
	cr_assert_null(fdmsg_errname(INT_MAX));
}
