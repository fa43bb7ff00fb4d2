/* SPDX-License-Identifier: ISC */
/* Small helpers shared by the layers: descriptor moves, checked sizes. */
#ifndef FDMSG_UTIL_H
#define FDMSG_UTIL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define FDMSG_HIDDEN __attribute__((visibility("hidden")))
/* Per-frame code: a slow path kept out of the function that calls it,
 * so that one stays small (fewer registers saved per call), and the
 * fast path folded into its callers whatever the compiler guesses. */
#define FDMSG_NOINLINE __attribute__((noinline))
#define FDMSG_INLINE inline __attribute__((always_inline))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * A branch the code's own invariants rule out.  A fuzzing build aborts
 * there, so the fuzzer reports the input that reached it; any other build
 * takes the branch's safe way out, since nothing in the library aborts.
 */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#include <stdlib.h>
#define CANNOT_HAPPEN() abort()
#else
#define CANNOT_HAPPEN() ((void)0)
#endif

/* close(2) that keeps errno, for cleanup paths. */
static inline void
close_keep_errno(int fd)
{
	int saved;

	if (fd < 0)
		return; /* errno untouched: no call to find it */
	saved = errno;
	(void)close(fd);
	errno = saved;
}

/* Moves a descriptor out of *fdp, leaving -1 behind. */
static inline int
take_fd(int *fdp)
{
	int fd = *fdp;

	*fdp = -1;
	return fd;
}

/* Does fds[i] repeat one of fds[0..i)?  Given away, a descriptor named
 * twice must be closed once: a second close of the number could close
 * what another thread opened meanwhile. */
static inline int
fd_named_before(const int *fds, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (fds[j] == fds[i])
			return 1;
	return 0;
}

/* Closes fds[0..n), leaving -1 in each. */
static inline void
close_fds(int *fds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		close_keep_errno(take_fd(&fds[i]));
}

/* a + b into *out; returns 0, or -EOVERFLOW and leaves *out alone. */
static inline int
size_add(size_t a, size_t b, size_t *out)
{
	size_t r;

	if (__builtin_add_overflow(a, b, &r))
		return -EOVERFLOW;
	*out = r;
	return 0;
}

static inline int
size_mul(size_t a, size_t b, size_t *out)
{
	size_t r;

	if (__builtin_mul_overflow(a, b, &r))
		return -EOVERFLOW;
	*out = r;
	return 0;
}

/* Little-endian loads and stores, whatever the host: one unaligned
 * move each where the host is little-endian (compilers merge memcpy of a
 * word, not always the same bytes assembled one by one). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define FDMSG_LE16(v) __builtin_bswap16(v)
#define FDMSG_LE32(v) __builtin_bswap32(v)
#else
#define FDMSG_LE16(v) (v)
#define FDMSG_LE32(v) (v)
#endif

static inline uint16_t
le16_load(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return FDMSG_LE16(v);
}

static inline uint32_t
le32_load(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return FDMSG_LE32(v);
}

static inline uint64_t
le64_load(const uint8_t *p)
{
	return (uint64_t)le32_load(p) | (uint64_t)le32_load(p + 4) << 32;
}

static inline void
le16_store(uint8_t *p, uint16_t v)
{
	v = FDMSG_LE16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void
le32_store(uint8_t *p, uint32_t v)
{
	v = FDMSG_LE32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void
le64_store(uint8_t *p, uint64_t v)
{
	le32_store(p, (uint32_t)v);
	le32_store(p + 4, (uint32_t)(v >> 32));
}

#endif
