/* SPDX-License-Identifier: ISC */
/* Small helpers shared by the layers: descriptor moves, checked sizes. */
#ifndef FDMSG_UTIL_H
#define FDMSG_UTIL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#define FDMSG_HIDDEN __attribute__((visibility("hidden")))
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
static inline void close_keep_errno(int fd)
{
	int saved = errno;

	if (fd >= 0)
		(void)close(fd);
	errno = saved;
}

/* Moves a descriptor out of *fdp, leaving -1 behind. */
static inline int take_fd(int *fdp)
{
	int fd = *fdp;

	*fdp = -1;
	return fd;
}

/* Closes fds[0..n), leaving -1 in each. */
static inline void close_fds(int *fds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		close_keep_errno(take_fd(&fds[i]));
}

/* a + b into *out; returns 0, or -EOVERFLOW and leaves *out alone. */
static inline int size_add(size_t a, size_t b, size_t *out)
{
	size_t r;

	if (__builtin_add_overflow(a, b, &r))
		return -EOVERFLOW;
	*out = r;
	return 0;
}

static inline int size_mul(size_t a, size_t b, size_t *out)
{
	size_t r;

	if (__builtin_mul_overflow(a, b, &r))
		return -EOVERFLOW;
	*out = r;
	return 0;
}

/* Little-endian loads and stores, whatever the host. */
static inline uint16_t le16_load(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static inline uint32_t le32_load(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t le64_load(const uint8_t *p)
{
	return (uint64_t)le32_load(p) | (uint64_t)le32_load(p + 4) << 32;
}

static inline void le16_store(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void le32_store(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void le64_store(uint8_t *p, uint64_t v)
{
	le32_store(p, (uint32_t)v);
	le32_store(p + 4, (uint32_t)(v >> 32));
}

#endif
