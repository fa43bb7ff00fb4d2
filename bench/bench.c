/*
 * fdmsg-bench: fdmsg against hand-written sendmsg/recvmsg doing the same
 * work, side by side in one run.
 *
 * Every run is two fresh processes over a fresh socketpair, forked by an
 * orchestrator that only collects and prints: the sender (or ping-pong
 * client) and the receiver (or echo server).  Each repetition runs fdmsg,
 * then the raw baseline (A B A B ...), so the machine's noise hits both
 * alike and the ratio of each pair is what counts.  Each process measures
 * its own phase after a warm-up: wall time, CPU time and the allocations
 * it made, counted by the malloc/calloc/realloc interposed below.  A
 * one-way fdmsg sender warms up until its queue has been full once (so
 * it has grown to its cap), within 8 times the baseline's warm-up, and
 * marks the last warm-up frame with peerid 1; both then measure the same
 * number of frames.
 *
 * With --callgrind DIR the program runs under valgrind --tool=callgrind
 * --callgrind-out-file=DIR/cg.%p: each measured phase is bracketed by
 * CALLGRIND_ZERO_STATS / CALLGRIND_DUMP_STATS_AT and the table shows
 * instructions per message instead of rates (ci/bench --callgrind).
 *
 * Uses only the public API, linked as an application links it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fdmsg.h"

#ifdef __GLIBC__
#include <execinfo.h>
#endif
#ifdef BENCH_HAVE_CALLGRIND
#include <valgrind/callgrind.h>
#endif

/* ------------------------------------------------------------------ */
/* Allocation counter                                                  */
/* ------------------------------------------------------------------ */

/*
 * Every allocation of the process goes through these (the shared library
 * included: the executable's definitions win symbol lookup).  glibc's own
 * entry points do the work, so free() needs no wrapper.  Sanitizers bring
 * their own malloc: no counter there.
 */
#if defined(__GLIBC__) && !defined(BENCH_NO_ALLOC_COUNT)
#define ALLOC_COUNT 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t sz);
extern void *__libc_realloc(void *p, size_t n);

static uint64_t n_allocs;
static int trace_allocs; /* --trace-allocs: where measured ones come from */
static int measuring;

static void count_alloc(void)
{
	static int in_trace;
	void *bt[16];
	int n;

	n_allocs++;
	if (trace_allocs && measuring && !in_trace) {
		in_trace = 1;
		n = backtrace(bt, 16);
		fprintf(stderr, "fdmsg-bench: allocation %" PRIu64
			" in a measured phase (pid %ld):\n", n_allocs,
			(long)getpid());
		backtrace_symbols_fd(bt, n, 2);
		in_trace = 0;
	}
}

void *malloc(size_t n)
{
	count_alloc();
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t sz)
{
	count_alloc();
	return __libc_calloc(n, sz);
}

void *realloc(void *p, size_t n)
{
	count_alloc();
	return __libc_realloc(p, n);
}
#else
#define ALLOC_COUNT 0
static uint64_t n_allocs;
static int trace_allocs;
static int measuring;
#endif

/* ------------------------------------------------------------------ */
/* Cases                                                               */
/* ------------------------------------------------------------------ */

enum kind { K_PINGPONG, K_ONEWAY, K_DECODE };

/* How the one-way fdmsg sender, an application, writes its frames. */
enum sender {
	SEND_QUEUE, /* fdmsg_send(0); fdmsg_flush_wait on -ENOBUFS */
	SEND_MORE,  /* fdmsg_send(FDMSG_MORE), where the library has it */
	SEND_POLL,  /* fdmsg_send(FDMSG_NO_QUEUE); poll POLLOUT on -EAGAIN */
};

static const char *const sender_names[] = { "queue", "more", "poll" };

/* What the hand-written baseline does. */
enum style {
	R_MSG,    /* one sendmsg/recvmsg per message */
	R_BATCH,  /* one send per 64 KiB of pre-built frames */
	R_WRITEV, /* one sendmsg of header + payload iovecs per frame */
	R_MEMCPY, /* memcpy of the same bytes */
};

struct bcase {
	const char *name;
	const char *raw;   /* the baseline, in words */
	enum kind kind;
	int fd_type;       /* fdmsg's socket; 0: fdmsg_pair's default */
	int raw_type;
	enum style style;
	uint32_t frame;    /* bytes per frame, header included */
	unsigned nfds;     /* descriptors per frame */
	unsigned max_fds;  /* fdmsg option on both ends */
	double goal;       /* ratio >= goal; K_DECODE: ns per frame <= goal */
	int info;          /* not a goal row of the issue: for comparison */
	enum sender send;  /* one-way: the fdmsg sender's way */
	size_t n0;         /* messages of a calibration or callgrind run */
};

#define KiB 1024u
#define CHUNK (64u * KiB) /* the raw batched sender's write */

#define RAW_BATCH_TXT "one send per 64 KiB of pre-built frames, STREAM"
#define RAW_WRITEV_TXT "writev of header + payload per frame, STREAM"

static const struct bcase cases[] = {
	{ .name = "ping-pong 64 B, SEQPACKET",
	  .raw = "one sendmsg/recvmsg per message", .kind = K_PINGPONG,
	  .fd_type = SOCK_SEQPACKET, .raw_type = SOCK_SEQPACKET,
	  .style = R_MSG, .frame = 64, .goal = 0.95, .n0 = 2000 },
	{ .name = "ping-pong 64 B, STREAM",
	  .raw = "one sendmsg/recvmsg per message", .kind = K_PINGPONG,
	  .fd_type = SOCK_STREAM, .raw_type = SOCK_STREAM, .style = R_MSG,
	  .frame = 64, .goal = 0.95, .n0 = 2000 },
	{ .name = "one-way 64 B, default socket", .raw = RAW_BATCH_TXT,
	  .kind = K_ONEWAY, .raw_type = SOCK_STREAM, .style = R_BATCH,
	  .frame = 64, .goal = 0.50, .send = SEND_MORE, .n0 = 65536 },
	{ .name = "one-way 1 KiB, default socket", .raw = RAW_BATCH_TXT,
	  .kind = K_ONEWAY, .raw_type = SOCK_STREAM, .style = R_BATCH,
	  .frame = KiB, .goal = 0.60, .send = SEND_MORE, .n0 = 16384 },
	{ .name = "one-way 16 KiB, default socket", .raw = RAW_WRITEV_TXT,
	  .kind = K_ONEWAY, .raw_type = SOCK_STREAM, .style = R_WRITEV,
	  .frame = 16 * KiB, .goal = 0.80, .send = SEND_QUEUE, .n0 = 2048 },
	{ .name = "1 descriptor per frame, SEQPACKET",
	  .raw = "one sendmsg with 1 descriptor per message",
	  .kind = K_ONEWAY, .fd_type = SOCK_SEQPACKET,
	  .raw_type = SOCK_SEQPACKET, .style = R_MSG, .frame = 64, .nfds = 1,
	  .max_fds = FDMSG_MAX_FDS_CAP, .goal = 2.0, .send = SEND_MORE,
	  .n0 = 4096 },
	{ .name = "8 descriptors per frame, SEQPACKET",
	  .raw = "one sendmsg with 8 descriptors per message",
	  .kind = K_ONEWAY, .fd_type = SOCK_SEQPACKET,
	  .raw_type = SOCK_SEQPACKET, .style = R_MSG, .frame = 64, .nfds = 8,
	  .max_fds = FDMSG_MAX_FDS_CAP, .goal = 0.95, .send = SEND_POLL,
	  .n0 = 2048 },
	{ .name = "decode only, 64 B frames", .raw = "memcpy of the same bytes",
	  .kind = K_DECODE, .style = R_MEMCPY, .frame = 64, .goal = 5.0,
	  .n0 = 1u << 20 },
	/* For comparison: the library's default queueing, and fdmsg on a
	 * stream like the baseline. */
	{ .name = "one-way 64 B, default socket", .raw = RAW_BATCH_TXT,
	  .kind = K_ONEWAY, .raw_type = SOCK_STREAM, .style = R_BATCH,
	  .frame = 64, .goal = 0.50, .info = 1, .send = SEND_QUEUE,
	  .n0 = 65536 },
	{ .name = "one-way 64 B, STREAM", .raw = RAW_BATCH_TXT,
	  .kind = K_ONEWAY, .fd_type = SOCK_STREAM, .raw_type = SOCK_STREAM,
	  .style = R_BATCH, .frame = 64, .goal = 0.50, .info = 1,
	  .send = SEND_MORE, .n0 = 65536 },
	{ .name = "one-way 1 KiB, STREAM", .raw = RAW_BATCH_TXT,
	  .kind = K_ONEWAY, .fd_type = SOCK_STREAM, .raw_type = SOCK_STREAM,
	  .style = R_BATCH, .frame = KiB, .goal = 0.60, .info = 1,
	  .send = SEND_MORE, .n0 = 16384 },
	{ .name = "one-way 16 KiB, STREAM", .raw = RAW_WRITEV_TXT,
	  .kind = K_ONEWAY, .fd_type = SOCK_STREAM, .raw_type = SOCK_STREAM,
	  .style = R_WRITEV, .frame = 16 * KiB, .goal = 0.80, .info = 1,
	  .send = SEND_QUEUE, .n0 = 2048 },
	{ .name = "one-way 16 KiB, default socket", .raw = RAW_WRITEV_TXT,
	  .kind = K_ONEWAY, .raw_type = SOCK_STREAM, .style = R_WRITEV,
	  .frame = 16 * KiB, .goal = 0.80, .info = 1, .send = SEND_POLL,
	  .n0 = 2048 },
	{ .name = "8 descriptors per frame, SEQPACKET",
	  .raw = "one sendmsg with 8 descriptors per message",
	  .kind = K_ONEWAY, .fd_type = SOCK_SEQPACKET,
	  .raw_type = SOCK_SEQPACKET, .style = R_MSG, .frame = 64, .nfds = 8,
	  .max_fds = FDMSG_MAX_FDS_CAP, .goal = 0.95, .info = 1,
	  .send = SEND_QUEUE, .n0 = 2048 },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))
#define BENCH_TYPE 0x62656e63u
#define IMPL_FDMSG 0
#define IMPL_RAW 1

/* Options. */
static int opt_reps = 7;
static double opt_time = 0.25; /* seconds per measured run */
static const char *opt_case;
static const char *opt_cgdir;
static int opt_info = 1;
static int opt_verbose;
static int opt_keep; /* keep callgrind dumps, renamed after their run */
static int opt_sender = -1; /* SEND_*, for every one-way case */

/* ------------------------------------------------------------------ */
/* Measurement                                                         */
/* ------------------------------------------------------------------ */

/* What one process reports of its measured phase. */
struct res {
	int64_t t0, t1;  /* CLOCK_MONOTONIC, ns */
	int64_t cpu;     /* this process's CPU time in it, ns */
	uint64_t allocs; /* malloc/calloc/realloc calls in it */
	int err;         /* 0, or the first -errno */
	int line;        /* where it failed */
};

/* The arguments of one process's role. */
struct role {
	const struct bcase *bc;
	int sock;
	int sync;     /* the receiver writes one byte when warmed up */
	size_t warm;  /* frames before the measured phase */
	size_t n;     /* frames measured */
	const char *label;
};

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void mark_begin(struct res *rs)
{
#ifdef BENCH_HAVE_CALLGRIND
	CALLGRIND_ZERO_STATS;
#endif
	rs->allocs = n_allocs;
	rs->cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	rs->t0 = clock_ns(CLOCK_MONOTONIC);
	measuring = 1;
}

static void mark_end(struct res *rs, const char *label)
{
	rs->t1 = clock_ns(CLOCK_MONOTONIC);
	rs->cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - rs->cpu;
	rs->allocs = n_allocs - rs->allocs;
	measuring = 0;
#ifdef BENCH_HAVE_CALLGRIND
	CALLGRIND_DUMP_STATS_AT(label);
#else
	(void)label;
#endif
}

static int fail_at(struct res *rs, int err, int line)
{
	if (rs->err == 0) {
		rs->err = err < 0 ? err : -EIO;
		rs->line = line;
	}
	return rs->err;
}

#define FAIL(err) fail_at(rs, (err), __LINE__)

/* ------------------------------------------------------------------ */
/* Frames                                                              */
/* ------------------------------------------------------------------ */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put_frame(uint8_t *p, uint32_t len, unsigned nfds)
{
	struct fdmsg_hdr h;

	memset(&h, 0, sizeof(h));
	h.version = FDMSG_WIRE_VERSION;
	h.nfds = (uint8_t)nfds;
	h.len = len;
	h.type = BENCH_TYPE;
	(void)fdmsg_hdr_encode(&h, p);
	memset(p + FDMSG_HDR_SIZE, 0xab, len - FDMSG_HDR_SIZE);
}

/* What the hand-written receiver checks of each frame. */
static int raw_frame_ok(const uint8_t *p, size_t n, uint32_t frame)
{
	return n == frame && p[0] == FDMSG_WIRE_VERSION &&
	       le32(p + 4) == frame && le32(p + 8) == BENCH_TYPE;
}

/* ------------------------------------------------------------------ */
/* Raw baseline                                                        */
/* ------------------------------------------------------------------ */

/* Blocking sendmsg of the whole iovec array. */
static int raw_sendv(int fd, struct iovec *iov, int cnt, void *ctl,
		     size_t ctllen)
{
	struct msghdr mh;
	ssize_t k;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = (size_t)cnt;
	mh.msg_control = ctl;
	mh.msg_controllen = ctllen;
	for (;;) {
		k = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		mh.msg_control = NULL; /* sent with the first byte */
		mh.msg_controllen = 0;
		while (mh.msg_iovlen > 0 && (size_t)k >= mh.msg_iov->iov_len) {
			k -= (ssize_t)mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen == 0)
			return 0;
		mh.msg_iov->iov_base = (uint8_t *)mh.msg_iov->iov_base + k;
		mh.msg_iov->iov_len -= (size_t)k;
	}
}

static int raw_send(int fd, const void *p, size_t n)
{
	struct iovec iov;

	iov.iov_base = (void *)(uintptr_t)p;
	iov.iov_len = n;
	return raw_sendv(fd, &iov, 1, NULL, 0);
}

static ssize_t raw_recv(int fd, void *p, size_t n)
{
	struct iovec iov;
	struct msghdr mh;
	ssize_t k;

	iov.iov_base = p;
	iov.iov_len = n;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	do
		k = recvmsg(fd, &mh, 0);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	if (k == 0)
		return -EPIPE;
	if (mh.msg_flags & MSG_TRUNC)
		return -EMSGSIZE;
	return k;
}

/* A hand-written stream reader: frames out of 64 KiB reads. */
struct sreader {
	uint8_t buf[CHUNK];
	size_t have, off;
};

static ssize_t sr_next(int fd, struct sreader *s, const uint8_t **frame)
{
	size_t len;
	ssize_t k;

	for (;;) {
		if (s->have - s->off >= FDMSG_HDR_SIZE) {
			len = le32(s->buf + s->off + 4);
			if (len < FDMSG_HDR_SIZE || len > sizeof(s->buf))
				return -EBADMSG;
			if (len <= s->have - s->off) {
				*frame = s->buf + s->off;
				s->off += len;
				return (ssize_t)len;
			}
		}
		if (s->off > 0) {
			memmove(s->buf, s->buf + s->off, s->have - s->off);
			s->have -= s->off;
			s->off = 0;
		}
		k = raw_recv(fd, s->buf + s->have, sizeof(s->buf) - s->have);
		if (k < 0)
			return k;
		s->have += (size_t)k;
	}
}

/* A datagram with its descriptors, closed once counted. */
static ssize_t raw_recv_fds(int fd, void *p, size_t n, unsigned *nfds)
{
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(int) * FDMSG_MAX_FDS_CAP)];
	} u;
	struct cmsghdr *cm;
	struct iovec iov;
	struct msghdr mh;
	unsigned i, cnt;
	ssize_t k;
	int fdv;

	iov.iov_base = p;
	iov.iov_len = n;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.b;
	mh.msg_controllen = sizeof(u.b);
	do
		k = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	*nfds = 0;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (i = 0; i < cnt; i++) {
			memcpy(&fdv, CMSG_DATA(cm) + i * sizeof(int),
			       sizeof(fdv));
			close(fdv);
		}
		*nfds += cnt;
	}
	if (k == 0)
		return -EPIPE;
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -EMSGSIZE;
	return k;
}

static int wait_sync(int fd)
{
	char b;
	ssize_t k;

	do
		k = read(fd, &b, 1);
	while (k < 0 && errno == EINTR);
	return k == 1 ? 0 : k == 0 ? -EPIPE : -errno;
}

static int post_sync(int fd)
{
	char b = 1;

	return write(fd, &b, 1) == 1 ? 0 : -errno;
}

static int open_fds(int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			return -errno;
	}
	return 0;
}

static void close_fds(int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static int raw_client(const struct role *x, struct res *rs)
{
	const struct bcase *bc = x->bc;
	static struct sreader sr;
	uint8_t frame[64], in[256];
	const uint8_t *f;
	size_t i;
	ssize_t k;
	int r;

	put_frame(frame, bc->frame, 0);
	for (i = 0; i < x->warm + x->n; i++) {
		if (i == x->warm) {
			if ((r = wait_sync(x->sync)) < 0)
				return FAIL(r);
			mark_begin(rs);
		}
		if ((r = raw_send(x->sock, frame, bc->frame)) < 0)
			return FAIL(r);
		if (bc->raw_type == SOCK_STREAM) {
			k = sr_next(x->sock, &sr, &f);
		} else {
			k = raw_recv(x->sock, in, sizeof(in));
			f = in;
		}
		if (k < 0)
			return FAIL((int)k);
		if (!raw_frame_ok(f, (size_t)k, bc->frame))
			return FAIL(-EBADMSG);
	}
	mark_end(rs, x->label);
	return 0;
}

static int raw_server(const struct role *x, struct res *rs)
{
	const struct bcase *bc = x->bc;
	static struct sreader sr;
	uint8_t in[256];
	const uint8_t *f;
	size_t i;
	ssize_t k;
	int r;

	for (i = 0; i < x->warm + x->n; i++) {
		if (bc->raw_type == SOCK_STREAM) {
			k = sr_next(x->sock, &sr, &f);
		} else {
			k = raw_recv(x->sock, in, sizeof(in));
			f = in;
		}
		if (k < 0)
			return FAIL((int)k);
		if (!raw_frame_ok(f, (size_t)k, bc->frame))
			return FAIL(-EBADMSG);
		if ((r = raw_send(x->sock, f, (size_t)k)) < 0)
			return FAIL(r);
		if (i + 1 == x->warm) {
			mark_begin(rs);
			if ((r = post_sync(x->sync)) < 0)
				return FAIL(r);
		}
	}
	mark_end(rs, x->label);
	return 0;
}

static int raw_sender(const struct role *x, struct res *rs)
{
	const struct bcase *bc = x->bc;
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(int) * FDMSG_MAX_FDS_CAP)];
	} u;
	int fds[FDMSG_MAX_FDS_CAP];
	static uint8_t chunk[CHUNK];
	const size_t per = bc->style == R_BATCH ? CHUNK / bc->frame : 1;
	struct cmsghdr *cm;
	struct iovec iov[2];
	size_t i, ctllen = 0;
	int r, ret = 0;

	memset(fds, -1, sizeof(fds));
	for (i = 0; i < per; i++)
		put_frame(chunk + i * bc->frame, bc->frame, bc->nfds);
	if (bc->nfds > 0) {
		if ((r = open_fds(fds, bc->nfds)) < 0) {
			ret = FAIL(r);
			goto out;
		}
		memset(&u, 0, sizeof(u));
		cm = (struct cmsghdr *)(void *)u.b;
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * bc->nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * bc->nfds);
		ctllen = CMSG_SPACE(sizeof(int) * bc->nfds);
	}
	for (i = 0; i < x->warm + x->n; i += per) {
		if (i == x->warm) {
			if ((r = wait_sync(x->sync)) < 0) {
				ret = FAIL(r);
				goto out;
			}
			mark_begin(rs);
		}
		switch (bc->style) {
		case R_WRITEV:
			/* Header and payload from where they lie. */
			iov[0].iov_base = chunk;
			iov[0].iov_len = FDMSG_HDR_SIZE;
			iov[1].iov_base = chunk + FDMSG_HDR_SIZE;
			iov[1].iov_len = bc->frame - FDMSG_HDR_SIZE;
			r = raw_sendv(x->sock, iov, 2, NULL, 0);
			break;
		case R_BATCH:
			r = raw_send(x->sock, chunk, per * bc->frame);
			break;
		default:
			iov[0].iov_base = chunk;
			iov[0].iov_len = bc->frame;
			r = raw_sendv(x->sock, iov, 1, ctllen ? u.b : NULL,
				      ctllen);
			break;
		}
		if (r < 0) {
			ret = FAIL(r);
			goto out;
		}
	}
	mark_end(rs, x->label);
out:
	close_fds(fds, bc->nfds);
	return ret;
}

static int raw_receiver(const struct role *x, struct res *rs)
{
	const struct bcase *bc = x->bc;
	static struct sreader sr;
	static uint8_t in[CHUNK];
	const uint8_t *f;
	unsigned nfds;
	size_t i;
	ssize_t k;
	int r;

	for (i = 0; i < x->warm + x->n; i++) {
		nfds = 0;
		if (bc->raw_type == SOCK_STREAM) {
			k = sr_next(x->sock, &sr, &f);
		} else if (bc->nfds > 0) {
			k = raw_recv_fds(x->sock, in, sizeof(in), &nfds);
			f = in;
		} else {
			k = raw_recv(x->sock, in, sizeof(in));
			f = in;
		}
		if (k < 0)
			return FAIL((int)k);
		if (!raw_frame_ok(f, (size_t)k, bc->frame) || nfds != bc->nfds)
			return FAIL(-EBADMSG);
		if (i + 1 == x->warm) {
			mark_begin(rs);
			if ((r = post_sync(x->sync)) < 0)
				return FAIL(r);
		}
	}
	mark_end(rs, x->label);
	return 0;
}

/* ------------------------------------------------------------------ */
/* fdmsg                                                               */
/* ------------------------------------------------------------------ */

static int chan_open(const struct role *x, struct fdmsg_chan **c)
{
	struct fdmsg_opts o;

	fdmsg_opts_init(&o);
	o.max_fds = x->bc->max_fds;
	return fdmsg_chan_new(c, x->sock, &o, FDMSG_CHAN_OWN_FD);
}

static int msg_ok(const struct fdmsg_msg *m, const struct bcase *bc)
{
	return m->type == BENCH_TYPE &&
	       m->len == bc->frame - FDMSG_HDR_SIZE && m->nfds == bc->nfds;
}

static enum sender sender_of(const struct bcase *bc)
{
	enum sender m = opt_sender >= 0 ? (enum sender)opt_sender : bc->send;

#ifndef FDMSG_MORE
	if (m == SEND_MORE)
		m = SEND_QUEUE; /* the library has no cork */
#endif
	return m;
}

static int wait_out(int fd)
{
	struct pollfd p;

	p.fd = fd;
	p.events = POLLOUT;
	p.revents = 0;
	if (poll(&p, 1, -1) < 0 && errno != EINTR)
		return -errno;
	return 0;
}

/* One frame, the way an application of this kind sends it.  *full: set
 * when the queue was full (-ENOBUFS). */
static int fd_send(struct fdmsg_chan *c, uint32_t peerid,
		   const struct iovec *iov, const int *fds, unsigned nfds,
		   enum sender mode, int *full)
{
	unsigned flags = mode == SEND_POLL ? FDMSG_NO_QUEUE : 0;
	int r;

#ifdef FDMSG_MORE
	if (mode == SEND_MORE)
		flags = FDMSG_MORE;
#endif
	for (;;) {
		r = fdmsg_send(c, BENCH_TYPE, peerid, iov, 1, fds, nfds,
			       flags);
		if (mode == SEND_POLL && r == -EAGAIN) {
			r = wait_out(fdmsg_chan_fd(c));
		} else if (r == -ENOBUFS) {
			*full = 1;
			r = fdmsg_flush_wait(c, -1);
		} else {
			return r;
		}
		if (r < 0)
			return r;
	}
}

static int fd_client(const struct role *x, struct res *rs)
{
	const struct bcase *bc = x->bc;
	static uint8_t payload[CHUNK];
	struct fdmsg_chan *c = NULL;
	struct fdmsg_msg m;
	struct iovec iov;
	size_t i;
	int r, full = 0;

	if ((r = chan_open(x, &c)) < 0)
		return FAIL(r);
	memset(payload, 0xab, sizeof(payload));
	iov.iov_base = payload;
	iov.iov_len = bc->frame - FDMSG_HDR_SIZE;
	for (i = 0; i < x->warm + x->n; i++) {
		if (i == x->warm) {
			if ((r = wait_sync(x->sync)) < 0)
				goto fail;
			mark_begin(rs);
		}
		if ((r = fd_send(c, 0, &iov, NULL, 0, SEND_QUEUE, &full)) < 0)
			goto fail;
		if ((r = fdmsg_recv_wait(c, &m, -1)) < 0)
			goto fail;
		if (!msg_ok(&m, bc)) {
			r = -EBADMSG;
			goto fail;
		}
	}
	mark_end(rs, x->label);
	fdmsg_chan_free(c);
	return 0;
fail:
	fdmsg_chan_free(c);
	return FAIL(r);
}

static int fd_server(const struct role *x, struct res *rs)
{
	const struct bcase *bc = x->bc;
	struct fdmsg_chan *c = NULL;
	struct fdmsg_msg m;
	struct iovec iov;
	size_t i;
	int r;

	if ((r = chan_open(x, &c)) < 0)
		return FAIL(r);
	for (i = 0; i < x->warm + x->n; i++) {
		if ((r = fdmsg_recv_wait(c, &m, -1)) < 0)
			goto fail;
		if (!msg_ok(&m, bc)) {
			r = -EBADMSG;
			goto fail;
		}
		iov.iov_base = (void *)(uintptr_t)m.payload;
		iov.iov_len = m.len;
		if ((r = fdmsg_send(c, m.type, m.peerid, &iov, 1, NULL, 0,
				    0)) < 0)
			goto fail;
		if (i + 1 == x->warm) {
			mark_begin(rs);
			if ((r = post_sync(x->sync)) < 0)
				goto fail;
		}
	}
	mark_end(rs, x->label);
	fdmsg_chan_free(c);
	return 0;
fail:
	fdmsg_chan_free(c);
	return FAIL(r);
}

static int fd_sender(const struct role *x, struct res *rs)
{
	const struct bcase *bc = x->bc;
	static uint8_t payload[CHUNK];
	int fds[FDMSG_MAX_FDS_CAP];
	const enum sender mode = sender_of(bc);
	struct fdmsg_chan *c = NULL;
	struct iovec iov;
	size_t i;
	int r, full = 0;

	memset(fds, -1, sizeof(fds));
	if ((r = chan_open(x, &c)) < 0)
		return FAIL(r);
	if ((r = open_fds(fds, bc->nfds)) < 0)
		goto fail;
	memset(payload, 0xab, sizeof(payload));
	iov.iov_base = payload;
	iov.iov_len = bc->frame - FDMSG_HDR_SIZE;
	/* Warm-up: until the queue has been full once (it grows to its cap
	 * only then), within 8 times the warm-up; peerid 1 ends it. */
	for (i = 0; i < x->warm || (!full && mode != SEND_POLL &&
				    i < 8 * x->warm); i++)
		if ((r = fd_send(c, 0, &iov, fds, bc->nfds, mode, &full)) < 0)
			goto fail;
	if ((r = fd_send(c, 1, &iov, fds, bc->nfds, mode, &full)) < 0 ||
	    (r = fdmsg_flush_wait(c, -1)) < 0 ||
	    (r = wait_sync(x->sync)) < 0)
		goto fail;
	mark_begin(rs);
	for (i = 0; i < x->n; i++) {
		if ((r = fd_send(c, 0, &iov, fds, bc->nfds, mode, &full)) < 0)
			goto fail;
	}
	if ((r = fdmsg_flush_wait(c, -1)) < 0)
		goto fail;
	mark_end(rs, x->label);
	fdmsg_chan_free(c);
	close_fds(fds, bc->nfds);
	return 0;
fail:
	fdmsg_chan_free(c);
	close_fds(fds, bc->nfds);
	return FAIL(r);
}

static int fd_receiver(const struct role *x, struct res *rs)
{
	const struct bcase *bc = x->bc;
	struct fdmsg_chan *c = NULL;
	struct fdmsg_msg m;
	size_t i;
	int r;

	if ((r = chan_open(x, &c)) < 0)
		return FAIL(r);
	/* The sender's warm-up ends with peerid 1. */
	do {
		if ((r = fdmsg_recv_wait(c, &m, -1)) < 0)
			goto fail;
		if (!msg_ok(&m, bc)) {
			r = -EBADMSG;
			goto fail;
		}
	} while (m.peerid != 1);
	mark_begin(rs);
	if ((r = post_sync(x->sync)) < 0)
		goto fail;
	for (i = 0; i < x->n; i++) {
		/* The descriptors of a frame are closed by the next
		 * receive, as the raw receiver closes them. */
		if ((r = fdmsg_recv_wait(c, &m, -1)) < 0)
			goto fail;
		if (!msg_ok(&m, bc)) {
			r = -EBADMSG;
			goto fail;
		}
	}
	fdmsg_msg_release(&m);
	mark_end(rs, x->label);
	fdmsg_chan_free(c);
	return 0;
fail:
	fdmsg_chan_free(c);
	return FAIL(r);
}

/* ------------------------------------------------------------------ */
/* Decode only                                                         */
/* ------------------------------------------------------------------ */

static uint64_t sink;

static int decoder(const struct role *x, struct res *rs, int impl)
{
	const struct bcase *bc = x->bc;
	static uint8_t src[CHUNK], dst[CHUNK];
	const size_t per = CHUNK / bc->frame;
	struct fdmsg_hdr h;
	size_t i, off;
	int r;

	for (i = 0; i < per; i++)
		put_frame(src + i * bc->frame, bc->frame, 0);
	for (i = 0; i < x->warm + x->n; i += per) {
		if (i == x->warm)
			mark_begin(rs);
		if (impl == IMPL_RAW) {
			memcpy(dst, src, sizeof(src));
			/* The copy must happen: dst escapes. */
			__asm__ volatile("" : : "r"(dst) : "memory");
			continue;
		}
		for (off = 0; off < sizeof(src); off += h.len) {
			r = fdmsg_hdr_decode(src + off, sizeof(src) - off,
					     FDMSG_MAX_FRAME_DEFAULT, 0, &h);
			if (r != FDMSG_HDR_SIZE)
				return FAIL(r < 0 ? r : -EBADMSG);
			sink += h.type;
		}
	}
	mark_end(rs, x->label);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Runs                                                                */
/* ------------------------------------------------------------------ */

/* One run's numbers, per message. */
struct run {
	double rate;       /* messages per second */
	double cpu[2];     /* ns of CPU per message: sender, receiver */
	double ir[2];      /* instructions per message (callgrind) */
	uint64_t allocs;   /* both processes, measured phase */
	uint64_t nalloc[2];
};

static int role_main(const struct role *x, int impl, int which,
		     struct res *rs)
{
	const struct bcase *bc = x->bc;

	if (bc->kind == K_DECODE)
		return decoder(x, rs, impl);
	if (bc->kind == K_PINGPONG) {
		if (impl == IMPL_FDMSG)
			return which == 0 ? fd_client(x, rs) :
					    fd_server(x, rs);
		return which == 0 ? raw_client(x, rs) : raw_server(x, rs);
	}
	if (impl == IMPL_FDMSG)
		return which == 0 ? fd_sender(x, rs) : fd_receiver(x, rs);
	return which == 0 ? raw_sender(x, rs) : raw_receiver(x, rs);
}

static int read_full(int fd, void *p, size_t n)
{
	ssize_t k;

	while (n > 0) {
		k = read(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p = (uint8_t *)p + k;
		n -= (size_t)k;
	}
	return 0;
}

/* Instructions of a process's measured phase, from its callgrind dump. */
static int cg_read(pid_t pid, const char *label, const char *keep,
		   uint64_t *ir)
{
	char path[4096], kpath[4096], line[512], want[256];
	unsigned long long v;
	int seen = 0, got = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cg.%ld.1", opt_cgdir, (long)pid);
	snprintf(want, sizeof(want), "desc: Trigger: Client Request: %s\n",
		 label);
	f = fopen(path, "r");
	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strcmp(line, want) == 0)
			seen = 1;
		else if (sscanf(line, "summary: %llu", &v) == 1)
			got = 1;
	}
	fclose(f);
	if (!seen || !got)
		return -EBADMSG;
	*ir = v;
	if (opt_keep) {
		snprintf(kpath, sizeof(kpath), "%s/%s.%ld.out", opt_cgdir,
			 keep, (long)pid);
		if (rename(path, kpath) < 0)
			return -errno;
	} else {
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/cg.%ld", opt_cgdir, (long)pid);
	unlink(path);
	return 0;
}

static int run_once(const struct bcase *bc, int impl, size_t warm, size_t n,
		    struct run *out)
{
	const int nproc = bc->kind == K_DECODE ? 1 : 2;
	int sv[2] = { -1, -1 }, syncp[2] = { -1, -1 }, rp[2][2];
	char label[2][128], kname[64];
	struct res rs[2];
	struct role x;
	pid_t pid[2] = { -1, -1 };
	uint64_t ir;
	int i, r, st, ok = 1;

	memset(rs, 0, sizeof(rs));
	if (nproc == 2) {
		if (impl == IMPL_FDMSG)
			r = fdmsg_pair(bc->fd_type, sv);
		else
			r = socketpair(AF_UNIX, bc->raw_type | SOCK_CLOEXEC, 0,
				       sv) < 0 ? -errno : 0;
		if (r < 0) {
			fprintf(stderr, "socketpair: %s\n", strerror(-r));
			return -1;
		}
	}
	if (pipe2(syncp, O_CLOEXEC) < 0 || pipe2(rp[0], O_CLOEXEC) < 0 ||
	    pipe2(rp[1], O_CLOEXEC) < 0) {
		perror("pipe2");
		exit(1);
	}
	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < nproc; i++) {
		snprintf(label[i], sizeof(label[i]), "fdmsg-bench %s %s %s",
			 bc->name, impl == IMPL_FDMSG ? "fdmsg" : "raw",
			 i == 0 ? "sender" : "receiver");
		pid[i] = fork();
		if (pid[i] < 0) {
			perror("fork");
			exit(1);
		}
		if (pid[i] > 0)
			continue;
		/* Child: only its own socket end, sync end and result pipe. */
		alarm(opt_cgdir != NULL ? 3600 : 120);
		signal(SIGPIPE, SIG_IGN);
		if (nproc == 2)
			close(sv[1 - i]);
		close(i == 0 ? syncp[1] : syncp[0]);
		close(rp[0][0]);
		close(rp[1][0]);
		close(rp[1 - i][1]);
		x.bc = bc;
		x.sock = sv[i];
		x.sync = i == 0 ? syncp[0] : syncp[1];
		x.warm = warm;
		x.n = n;
		x.label = label[i];
		memset(&rs[i], 0, sizeof(rs[i]));
		(void)role_main(&x, impl, i, &rs[i]);
		if (write(rp[i][1], &rs[i], sizeof(rs[i])) < 0)
			_exit(3);
		_exit(0);
	}
	for (i = 0; i < 2; i++)
		if (sv[i] >= 0)
			close(sv[i]);
	close(syncp[0]);
	close(syncp[1]);
	close(rp[0][1]);
	close(rp[1][1]);
	for (i = 0; i < nproc; i++) {
		if (read_full(rp[i][0], &rs[i], sizeof(rs[i])) < 0) {
			rs[i].err = -ECHILD;
			rs[i].line = 0;
		}
	}
	close(rp[0][0]);
	close(rp[1][0]);
	for (i = 0; i < nproc; i++) {
		while (waitpid(pid[i], &st, 0) < 0 && errno == EINTR)
			;
		if (rs[i].err != 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0) {
			fprintf(stderr,
				"%s: %s %s failed: %s (line %d, status %#x)\n",
				bc->name, impl == IMPL_FDMSG ? "fdmsg" : "raw",
				i == 0 ? "sender" : "receiver",
				strerror(-rs[i].err), rs[i].line, st);
			ok = 0;
		}
	}
	if (!ok)
		return -1;

	memset(out, 0, sizeof(*out));
	{
		int64_t t1 = rs[0].t1;

		if (nproc == 2 && rs[1].t1 > t1)
			t1 = rs[1].t1;
		out->rate = t1 > rs[0].t0 ?
			(double)n * 1e9 / (double)(t1 - rs[0].t0) : 0;
		/* One process, CPU-bound: preemption is not its cost. */
		if (nproc == 1 && rs[0].cpu > 0)
			out->rate = (double)n * 1e9 / (double)rs[0].cpu;
	}
	for (i = 0; i < nproc; i++) {
		out->cpu[i] = (double)rs[i].cpu / (double)n;
		out->allocs += rs[i].allocs;
		out->nalloc[i] = rs[i].allocs;
		if (opt_cgdir != NULL) {
			snprintf(kname, sizeof(kname), "c%02d-%s-%s",
				 (int)(bc - cases) + 1,
				 impl == IMPL_FDMSG ? "fdmsg" : "raw",
				 i == 0 ? "snd" : "rcv");
			if ((r = cg_read(pid[i], label[i], kname, &ir)) < 0) {
				fprintf(stderr, "%s: no callgrind dump for %ld:"
					" %s\n", label[i], (long)pid[i],
					strerror(-r));
				return -1;
			}
			out->ir[i] = (double)ir / (double)n;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Statistics and the table                                            */
/* ------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
	const double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[64];
	int i;

	for (i = 0; i < n; i++)
		s[i] = v[i];
	qsort(s, (size_t)n, sizeof(s[0]), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double vmin(const double *v, int n)
{
	double m = v[0];
	int i;

	for (i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

static double vmax(const double *v, int n)
{
	double m = v[0];
	int i;

	for (i = 1; i < n; i++)
		if (v[i] > m)
			m = v[i];
	return m;
}

static const char *fmt_rate(char *b, size_t n, double v)
{
	if (v >= 1e9)
		snprintf(b, n, "%.2fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(b, n, "%.2fM", v / 1e6);
	else
		snprintf(b, n, "%.1fk", v / 1e3);
	return b;
}

static const char *fmt_pair(char *b, size_t n, double a, double c,
			    int single)
{
	if (single)
		snprintf(b, n, "%.0f", a);
	else
		snprintf(b, n, "%.0f+%.0f", a, c);
	return b;
}

/* Frames per send unit of the raw baseline: runs are whole units. */
static size_t unit(const struct bcase *bc)
{
	if (bc->style == R_BATCH || bc->style == R_MEMCPY)
		return CHUNK / bc->frame;
	return 1;
}

static size_t round_up(size_t v, size_t u)
{
	return (v + u - 1) / u * u;
}

#define MAX_REPS 64

/* What bench_case returns, or -1 when a run failed. */
#define MISSED 1    /* the goal of the row */
#define ALLOCATED 2 /* an allocation after warm-up */

/*
 * CPU per message of both processes: what the machine spends on the
 * work.  On a shared machine it moves much less than the rates do.
 */
static double cpu_cost(double c[2][MAX_REPS], int rep)
{
	return c[0][rep] + c[1][rep];
}

/* 0 (goal met), MISSED | ALLOCATED, or -1: a run failed. */
static int bench_case(const struct bcase *bc)
{
	double rate[2][MAX_REPS], ratio[MAX_REPS], cpu[2][2][MAX_REPS];
	double cratio[MAX_REPS];
	double ir[2][2][MAX_REPS], irt[2][MAX_REPS], ir_ratio[MAX_REPS];
	char b[6][48], dn[96];
	const int single = bc->kind == K_DECODE;
	struct run rn;
	size_t n, warm;
	uint64_t allocs = 0;
	int rep, impl, met, j;
	double val, fr, rr;

	if (bc->kind == K_ONEWAY)
		snprintf(dn, sizeof(dn), "%s [%s]", bc->name,
			 sender_names[sender_of(bc)]);
	else
		snprintf(dn, sizeof(dn), "%s", bc->name);
	n = round_up(bc->n0, unit(bc));
	if (opt_cgdir == NULL) {
		/* Size the runs from a short run of each: the slower one
		 * takes opt_time. */
		warm = round_up(n / 8, unit(bc));
		val = 0;
		for (impl = 0; impl < 2; impl++) {
			if (run_once(bc, impl, warm, n, &rn) < 0)
				return -1;
			if (impl == 0 || rn.rate < val)
				val = rn.rate;
		}
		val *= opt_time;
		if (val > (double)n)
			n = round_up((size_t)val, unit(bc));
	}
	warm = round_up(n / 8, unit(bc));
	for (rep = 0; rep < opt_reps; rep++) {
		for (impl = 0; impl < 2; impl++) {
			if (run_once(bc, impl, warm, n, &rn) < 0)
				return -1;
			rate[impl][rep] = rn.rate;
			for (j = 0; j < 2; j++) {
				cpu[impl][j][rep] = rn.cpu[j];
				ir[impl][j][rep] = rn.ir[j];
			}
			irt[impl][rep] = rn.ir[0] + rn.ir[1];
			if (impl == IMPL_FDMSG && rn.allocs > allocs)
				allocs = rn.allocs;
			if (opt_verbose)
				fprintf(stderr, "  %s rep %d %s: %.0f/s, cpu "
					"%.0f+%.0f ns, ir %.0f+%.0f, allocs "
					"%" PRIu64 "+%" PRIu64 ", n %zu\n",
					bc->name, rep, impl ? "raw" : "fdmsg",
					rn.rate, rn.cpu[0], rn.cpu[1], rn.ir[0],
					rn.ir[1], rn.nalloc[0], rn.nalloc[1],
					n);
		}
		ratio[rep] = rate[0][rep] / rate[1][rep];
		cratio[rep] = cpu_cost(cpu[1], rep) / cpu_cost(cpu[0], rep);
		ir_ratio[rep] = irt[0][rep] / irt[1][rep];
	}

	if (opt_cgdir != NULL) {
		val = median(ir_ratio, opt_reps);
		met = val <= 2.0;
		printf("%-42s %14s %14s  %5.2fx [%.2f-%.2f]  <= 2.0x   %s\n",
		       dn,
		       fmt_pair(b[0], sizeof(b[0]), median(ir[0][0], opt_reps),
				median(ir[0][1], opt_reps), single),
		       fmt_pair(b[1], sizeof(b[1]), median(ir[1][0], opt_reps),
				median(ir[1][1], opt_reps), single),
		       val, vmin(ir_ratio, opt_reps), vmax(ir_ratio, opt_reps),
		       bc->info ? (met ? "(yes)" : "(no)") :
				  (met ? "yes" : "NO"));
		fflush(stdout);
		return met ? 0 : 1;
	}

	fr = median(rate[0], opt_reps);
	rr = median(rate[1], opt_reps);
	if (bc->kind == K_DECODE) {
		val = 1e9 / fr;
		met = val <= bc->goal;
		snprintf(b[4], sizeof(b[4]), "<= %.0f ns (%.2f)", bc->goal,
			 val);
	} else {
		val = median(ratio, opt_reps);
		met = val >= bc->goal;
		snprintf(b[4], sizeof(b[4]), ">= %.2f", bc->goal);
	}
	if (ALLOC_COUNT)
		snprintf(b[5], sizeof(b[5]), "%" PRIu64, allocs);
	else
		snprintf(b[5], sizeof(b[5]), "n/a");
	printf("%-42s %8s %8s  %5.2f [%.2f-%.2f] %11s %11s %5.2f %6s  %-16s "
	       "%s\n", dn, fmt_rate(b[0], sizeof(b[0]), fr),
	       fmt_rate(b[1], sizeof(b[1]), rr), median(ratio, opt_reps),
	       vmin(ratio, opt_reps), vmax(ratio, opt_reps),
	       fmt_pair(b[2], sizeof(b[2]), median(cpu[0][0], opt_reps),
			median(cpu[0][1], opt_reps), single),
	       fmt_pair(b[3], sizeof(b[3]), median(cpu[1][0], opt_reps),
			median(cpu[1][1], opt_reps), single),
	       median(cratio, opt_reps), b[5], b[4],
	       bc->info ? (met ? "(yes)" : "(no)") : (met ? "yes" : "NO"));
	fflush(stdout);
	return (met ? 0 : MISSED) | (ALLOC_COUNT && allocs > 0 ? ALLOCATED : 0);
}

static double loadavg(void)
{
	double load = -1;
	FILE *f;

	f = fopen("/proc/loadavg", "r");
	if (f != NULL) {
		if (fscanf(f, "%lf", &load) != 1)
			load = -1;
		fclose(f);
	}
	return load;
}

static void machine(void)
{
	char line[256], model[128] = "unknown";
	struct utsname u;
	double load;
	FILE *f;

	f = fopen("/proc/cpuinfo", "r");
	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			if (strncmp(line, "model name", 10) == 0) {
				char *p = strchr(line, ':');

				if (p != NULL) {
					snprintf(model, sizeof(model), "%s",
						 p + 2);
					model[strcspn(model, "\n")] = '\0';
				}
				break;
			}
		}
		fclose(f);
	}
	load = loadavg();
	if (uname(&u) < 0)
		memset(&u, 0, sizeof(u));
	printf("machine: %ld CPUs, %s, %s %s %s, load %.2f at start\n",
	       sysconf(_SC_NPROCESSORS_ONLN), model, u.sysname, u.release,
	       u.machine, load);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: fdmsg-bench [--reps N] [--time SECONDS] [--case TEXT] [--no-info]\n"
"                   [--no-more] [--callgrind DIR] [--list] [-v]\n"
"  --reps N        repetitions of each case, fdmsg and raw interleaved (5)\n"
"  --time S        seconds per measured run (0.25)\n"
"  --case TEXT     only cases whose name contains TEXT\n"
"  --no-info       only the issue's goal rows\n"
"  --sender MODE   every one-way fdmsg sender: queue (fdmsg_send, flush\n"
"                  on -ENOBUFS), more (FDMSG_MORE, if the library has it)\n"
"                  or poll (FDMSG_NO_QUEUE, poll on -EAGAIN); default: per\n"
"                  case, shown in brackets\n"
"  --callgrind DIR instructions per message, under valgrind --tool=callgrind\n"
"                  --callgrind-out-file=DIR/cg.%%p (see ci/bench)\n"
"  --keep-dumps    keep them as DIR/cNN-IMPL-ROLE.PID.out\n"
"  --trace-allocs  a backtrace of every allocation after warm-up\n"
"Exit status: 0 every goal met, 1 a goal missed, 2 usage, 3 a run failed.\n");
}

int main(int argc, char **argv)
{
	int i, r, missed = 0, failed = 0, allocated = 0, goals = 0;
	int reps_set = 0;
	size_t k;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--reps") == 0 && i + 1 < argc) {
			opt_reps = atoi(argv[++i]);
			reps_set = 1;
		} else if (strcmp(a, "--time") == 0 && i + 1 < argc) {
			opt_time = atof(argv[++i]);
		} else if (strcmp(a, "--case") == 0 && i + 1 < argc) {
			opt_case = argv[++i];
		} else if (strcmp(a, "--callgrind") == 0 && i + 1 < argc) {
			opt_cgdir = argv[++i];
		} else if (strcmp(a, "--no-info") == 0) {
			opt_info = 0;
		} else if (strcmp(a, "--sender") == 0 && i + 1 < argc) {
			for (opt_sender = 2; opt_sender >= 0; opt_sender--)
				if (strcmp(argv[i + 1],
					   sender_names[opt_sender]) == 0)
					break;
			i++;
			if (opt_sender < 0) {
				usage(stderr);
				return 2;
			}
		} else if (strcmp(a, "--trace-allocs") == 0) {
			trace_allocs = 1;
		} else if (strcmp(a, "--keep-dumps") == 0) {
			opt_keep = 1;
		} else if (strcmp(a, "-v") == 0) {
			opt_verbose = 1;
		} else if (strcmp(a, "--list") == 0) {
			for (k = 0; k < NCASES; k++)
				printf("%s\n", cases[k].name);
			return 0;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (opt_cgdir != NULL && !reps_set)
		opt_reps = 1;
	if (opt_reps < 1 || opt_reps > MAX_REPS || !(opt_time > 0)) {
		usage(stderr);
		return 2;
	}
#ifndef BENCH_HAVE_CALLGRIND
	if (opt_cgdir != NULL) {
		fprintf(stderr, "fdmsg-bench: built without "
			"<valgrind/callgrind.h>\n");
		return 2;
	}
#endif

	machine();
	printf("one-way fdmsg senders, in brackets: queue = fdmsg_send(0), "
	       "fdmsg_flush_wait on -ENOBUFS;\n  more = fdmsg_send(FDMSG_MORE)"
	       "%s; poll = FDMSG_NO_QUEUE, poll(POLLOUT) on -EAGAIN\n",
#ifdef FDMSG_MORE
	       ""
#else
	       " (not in this library: queue instead)"
#endif
	       );
	if (opt_cgdir != NULL) {
		printf("instructions per message (callgrind), sender+receiver,"
		       " measured phase only; %d repetition%s\n\n", opt_reps,
		       opt_reps > 1 ? "s" : "");
		printf("%-42s %14s %14s  %-20s %-8s %s\n", "case",
		       "fdmsg Ir/msg", "raw Ir/msg", "ratio [min-max]",
		       "goal", "met");
	} else {
		printf("%d repetitions, fdmsg and raw interleaved, %.2f s "
		       "each; rates and CPU are medians\n\n", opt_reps,
		       opt_time);
		printf("%-42s %8s %8s  %-16s %11s %11s %5s %6s  %-16s %s\n",
		       "case", "fdmsg/s", "raw/s", "ratio [min-max]",
		       "fdmsg CPU", "raw CPU", "CPU", "allocs", "goal",
		       "met");
		printf("%-42s %8s %8s  %-16s %11s %11s %5s\n", "", "", "", "",
		       "ns/msg s+r", "ns/msg s+r", "ratio");
	}
	fflush(stdout);
	for (k = 0; k < NCASES; k++) {
		if (opt_case != NULL && strstr(cases[k].name, opt_case) == NULL)
			continue;
		if (!opt_info && cases[k].info)
			continue;
		r = bench_case(&cases[k]);
		if (r < 0) {
			printf("%-42s FAILED\n", cases[k].name);
			failed++;
			continue;
		}
		if (cases[k].info)
			continue;
		goals++;
		if (r & MISSED)
			missed++;
		if (r & ALLOCATED)
			allocated++;
	}
	printf("\nbaselines:\n");
	for (k = 0; k < NCASES; k++) {
		if (cases[k].info || (opt_case != NULL &&
				      strstr(cases[k].name, opt_case) == NULL))
			continue;
		printf("  %-36s %s\n", cases[k].name, cases[k].raw);
	}
	printf("  (rows with a goal in parentheses: the same work another "
	       "way, for comparison)\n");
	if (opt_cgdir == NULL) {
		printf("CPU ratio: raw / fdmsg CPU per message, both processes"
		       " (no goal of its own; steadier than the rates on a "
		       "shared machine)\n");
		printf("allocs: malloc/calloc/realloc calls by both fdmsg "
		       "processes after warm-up, worst repetition%s\n",
		       ALLOC_COUNT ? "" : " (not counted in this build)");
	}
	printf("goals: %d of %d met%s", goals - missed, goals,
	       failed ? ", some runs FAILED" : "");
	if (opt_cgdir == NULL && ALLOC_COUNT)
		printf("; allocations after warm-up in %d of them", allocated);
	printf("; load %.2f at the end\n", loadavg());
	return failed ? 3 : missed || allocated ? 1 : 0;
}
