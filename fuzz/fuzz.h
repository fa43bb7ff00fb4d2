/* SPDX-License-Identifier: ISC */
/*
 * Shared by the fuzz harnesses: the entry points' prototypes and a few
 * static helpers.  A harness may abort() on a broken contract; the library
 * never does.
 */
#ifndef FDMSG_FUZZ_H
#define FDMSG_FUZZ_H

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "cmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* abort() with a line that names the broken check. */
#define FUZZ_CHECK(cond)                                                  \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "%s:%d: check failed: %s\n",      \
				__FILE__, __LINE__, #cond);               \
			abort();                                          \
		}                                                         \
	} while (0)

/* Consumes input bytes front to back; past the end everything reads 0. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t
in_u8(struct fuzz_in *in)
{
	uint8_t v;

	if (in->n == 0)
		return 0;
	v = in->p[0];
	in->p++;
	in->n--;
	return v;
}

static inline uint16_t
in_u16(struct fuzz_in *in)
{
	uint16_t lo = in_u8(in);

	return (uint16_t)(lo | (uint16_t)in_u8(in) << 8);
}

static inline uint32_t
in_u32(struct fuzz_in *in)
{
	uint32_t lo = in_u16(in);

	return lo | (uint32_t)in_u16(in) << 16;
}

static inline uint64_t
in_u64(struct fuzz_in *in)
{
	uint64_t lo = in_u32(in);

	return lo | (uint64_t)in_u32(in) << 32;
}

/* Up to n bytes of input; *got says how many there were. */
static inline const uint8_t *
in_bytes(struct fuzz_in *in, size_t n, size_t *got)
{
	const uint8_t *p = in->p;

	if (n > in->n)
		n = in->n;
	in->p += n;
	in->n -= n;
	*got = n;
	return p;
}

/*
 * A size that stresses bounds checks: small, around the given limit, or
 * near SIZE_MAX.  Draws one selector byte and maybe more.
 */
static inline size_t
in_size(struct fuzz_in *in, size_t limit)
{
	uint8_t sel = in_u8(in);

	switch (sel >> 5) {
	case 0:
	case 1:
		return sel & 0x3f;                       /* 0..63 */
	case 2:
		return limit + (sel & 7) - 4;            /* limit-4..limit+3 */
	case 3:
		return SIZE_MAX - (sel & 0x1f);          /* SIZE_MAX-31.. */
	case 4:
		return (SIZE_MAX >> 1) + (sel & 3) - 1;  /* around 2^63 */
	case 5:
		return in_u16(in);
	case 6:
		return (size_t)in_u64(in);
	default:
		return limit - (sel & 0x1f);             /* wraps when small */
	}
}

/* FDMSG_FUZZ_DEBUG set: harnesses say what each input did (stderr). */
static inline int
fuzz_debug(void)
{
	static int on = -1;

	if (on < 0)
		on = getenv("FDMSG_FUZZ_DEBUG") != NULL;
	return on;
}

/* The process's open descriptors, counted through /proc/self/fd. */
static inline int
fuzz_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		abort();
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own descriptor */
}

#define FUZZ_MAX_PASS_FDS 4

/* One sendmsg of n bytes with nfds (at most FUZZ_MAX_PASS_FDS) copies of
 * fd as SCM_RIGHTS, EINTR retried; the bytes written or -errno.  The
 * record is the library's own (fdmsg_rights_build): what is fuzzed is
 * what the receiving side makes of it. */
static inline ssize_t
fuzz_sendmsg_fds(int sock, const void *b, size_t n, int fd, unsigned nfds,
		 int flags)
{
	union {
		struct cmsghdr align;
		char buf[FDMSG_RIGHTS_SPACE(FUZZ_MAX_PASS_FDS)];
	} u;
	struct iovec iov = { (void *)(uintptr_t)b, n };
	int fds[FUZZ_MAX_PASS_FDS];
	struct msghdr mh;
	unsigned i;
	ssize_t r;

	if (nfds > FUZZ_MAX_PASS_FDS)
		abort();
	for (i = 0; i < nfds; i++)
		fds[i] = fd;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	fdmsg_rights_build(&mh, u.buf, fds, nfds);
	do
		r = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

#endif
