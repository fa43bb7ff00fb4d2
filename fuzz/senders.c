/* SPDX-License-Identifier: ISC */
/*
 * Who sent what: frames built from the input reach a channel from two
 * processes, this one and a helper child, under fuzzed receiver limits and
 * with the descriptor table sometimes full.  The dimensions the raw-byte
 * targets (seqpacket, stream) keep fixed:
 *  - a writer id per frame, and on a stream a frame's second part written
 *    by the other process: with credentials or pidfds on, every delivered
 *    frame names its one writer (SCM_CREDENTIALS pid, the pidfd's Pid),
 *    and a frame of two writers is -EPROTO, never delivered;
 *  - a bound, unconnected SOCK_DGRAM receiver with two senders (one socket
 *    each): each datagram names its own sender, and a rejected one is
 *    dropped without poisoning the channel;
 *  - the receiver's limits (max_fds, max_frame) against what was sent: a
 *    frame over them is an error, one within them is delivered whole;
 *  - an RLIMIT_NOFILE step: the limit lowered to the lowest free
 *    descriptor for one frame's receive, so nothing can be installed: a
 *    frame that needs a descriptor (rights or a pidfd) is an error, one
 *    that needs none is delivered.
 * Every delivered frame equals what was sent (type, peerid, payload,
 * descriptor count, each descriptor the one memfd, above stdio and
 * close-on-exec); on a connected socket an error sticks; no descriptor
 * leaks per input.
 *
 * Input: [u8 cfg] then frames [u8 sel][u16 plen][u8 split][u8 fill]
 *   cfg:  bits0-1 socket {stream, seqpacket, connected dgram, bound
 *         unconnected dgram}; bit2 FDMSG_OPT_CREDS; bit3 FDMSG_OPT_PIDFD;
 *         bits4-5 receiver max_fds {0, 1, 3, 253}; bits6-7 receiver
 *         max_frame {64, 512, 4096, 65536}
 *   sel:  bit0 the writer (0 this process, 1 the helper); bits1-2 nfds;
 *         bit3 a stream frame's second part comes from the other writer;
 *         bit4 the RLIMIT_NOFILE step; bits5-7 the type
 *   plen: payload bytes (% 65521); split: where a stream frame is cut
 *         (split * len / 256; 0: whole); fill: the payload's first byte
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdmsg.h"
#include "fuzz.h"

#define SND_MAX_FRAMES 32
#define SND_MAX_FDS 3
#define SND_MAX_LEN 65536u

enum { K_STREAM, K_SEQPACKET, K_DGRAM, K_DGRAM_BOUND };

struct snd {
	int kind;
	struct fdmsg_opts opts;
	struct fdmsg_chan *ch;
	int sock[2];        /* writer 0's and the helper's socket */
	pid_t pid[2];       /* writer 0 and the helper */
	int ident;          /* credentials or pidfds on: writers told apart */
	int stop;           /* a connected channel failed: no more frames */
};

static int snd_memfd = -1;
static struct stat snd_memfd_st;
static uint8_t snd_frame[SND_MAX_LEN];

static void
snd_teardown(void)
{
	if (snd_memfd >= 0)
		close(snd_memfd);
	snd_memfd = -1;
}

/*
 * The helper, one child for the whole run: reads requests on ctl, each
 * answered with an ssize_t:
 *   's' and a descriptor: write on that socket from now on (the last one
 *       closed); 'c': close it; 'w' [u8 nfds] bytes: write them with nfds
 *       copies of the memfd.
 * It ends when ctl does (this process exited).
 */
static struct {
	pid_t pid;
	int ctl;
} helper = { 0, -1 };

/* The helper's exit: closes what it holds or inherited first, so that a
 * descriptor checker (valgrind --track-fds) sees nothing left open. */
static void
helper_exit(int code)
{
	int fd;

	for (fd = 3; fd < 1024; fd++)
		(void)close(fd);
	_exit(code);
}

static void
helper_main(int ctl)
{
	static uint8_t buf[SND_MAX_LEN + 2];
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh;
	struct cmsghdr *c;
	int sock = -1;
	ssize_t n, r;

	for (;;) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = u.b;
		mh.msg_controllen = sizeof(u.b);
		n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			helper_exit(0);
		c = CMSG_FIRSTHDR(&mh);
		r = 0;
		if (buf[0] == 's' || buf[0] == 'c') {
			if (sock >= 0)
				close(sock);
			sock = -1;
			if (buf[0] == 's') {
				if (c == NULL || c->cmsg_type != SCM_RIGHTS)
					helper_exit(1);
				memcpy(&sock, CMSG_DATA(c), sizeof(int));
			}
		} else if (buf[0] == 'w' && n >= 2 && sock >= 0) {
			r = fuzz_sendmsg_fds(sock, buf + 2, (size_t)n - 2,
					     snd_memfd, buf[1] % (SND_MAX_FDS + 1),
					     MSG_DONTWAIT);
		} else {
			helper_exit(1);
		}
		if (write(ctl, &r, sizeof(r)) != (ssize_t)sizeof(r))
			helper_exit(1);
	}
}

/* At exit: the helper sees ctl end, and is reaped. */
static void
helper_end(void)
{
	int st;

	if (helper.pid <= 0)
		return;
	close(helper.ctl);
	while (waitpid(helper.pid, &st, 0) < 0 && errno == EINTR)
		;
	helper.pid = 0;
	helper.ctl = -1;
}

static void
helper_start(void)
{
	int sv[2];

	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
			      sv) == 0);
	helper.pid = fork();
	FUZZ_CHECK(helper.pid >= 0);
	if (helper.pid == 0) {
		close(sv[0]);
		helper_main(sv[1]);
	}
	close(sv[1]);
	helper.ctl = sv[0];
	(void)atexit(helper_end);
}

/* One request (op, then n bytes, and maybe a descriptor); the answer. */
static ssize_t
helper_call(uint8_t op, const uint8_t *b, size_t n, int fd)
{
	static uint8_t msg[SND_MAX_LEN + 2];
	ssize_t r, ans;

	msg[0] = op;
	if (n > 0)
		memcpy(msg + 1, b, n);
	r = fuzz_sendmsg_fds(helper.ctl, msg, n + 1, fd, fd >= 0, 0);
	FUZZ_CHECK(r == (ssize_t)(n + 1));
	do
		r = read(helper.ctl, &ans, sizeof(ans));
	while (r < 0 && errno == EINTR);
	FUZZ_CHECK(r == (ssize_t)sizeof(ans));
	return ans;
}

/* Writes bytes as writer w; the result of its sendmsg. */
static ssize_t
snd_write(struct snd *s, int w, const uint8_t *b, size_t n, unsigned nfds)
{
	static uint8_t req[SND_MAX_LEN + 1];

	if (w == 0)
		return fuzz_sendmsg_fds(s->sock[0], b, n, snd_memfd, nfds,
					MSG_DONTWAIT);
	req[0] = (uint8_t)nfds;
	memcpy(req + 1, b, n);
	return helper_call('w', req, n + 1, -1);
}

/* Writes a part; SO_PASSRIGHTS off (max_fds 0) refuses rights: then the
 * bytes go bare. */
static void
snd_part(struct snd *s, int w, const uint8_t *b, size_t n, unsigned nfds)
{
	ssize_t r = snd_write(s, w, b, n, nfds);

	if (r == -EPERM && nfds > 0)
		r = snd_write(s, w, b, n, 0);
	/* The socket is drained after every frame and written only while
	 * its channel stands: a short or failed write is a bug of this
	 * harness, said at once rather than ending the input as if it had
	 * passed. */
	FUZZ_CHECK(r == (ssize_t)n);
}

/* The Pid: line of a pidfd's fdinfo; -1 when there is none. */
static long
pidfd_pid(int pidfd)
{
	char path[64], line[256];
	long pid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Pid: %ld", &pid) == 1)
			break;
	fclose(f);
	return pid;
}

static void
check_delivered(struct snd *s, const struct fdmsg_msg *m, uint32_t type,
		uint32_t peerid, size_t plen, unsigned nfds, int w)
{
	struct stat st;
	unsigned i;
	int fl;

	FUZZ_CHECK(m->type == type && m->peerid == peerid);
	FUZZ_CHECK(m->len == plen);
	FUZZ_CHECK(plen == 0 ||
		   memcmp(m->payload, snd_frame + FDMSG_HDR_SIZE, plen) == 0);
	FUZZ_CHECK(m->nfds == nfds);
	for (i = 0; i < m->nfds; i++) {
		FUZZ_CHECK(m->fds[i] > 2);
		fl = fcntl(m->fds[i], F_GETFD);
		FUZZ_CHECK(fl >= 0 && (fl & FD_CLOEXEC));
		FUZZ_CHECK(fstat(m->fds[i], &st) == 0);
		FUZZ_CHECK(st.st_dev == snd_memfd_st.st_dev &&
			   st.st_ino == snd_memfd_st.st_ino);
	}
	/* Identity: the one writer of every byte. */
	if (s->opts.flags & FDMSG_OPT_CREDS) {
		FUZZ_CHECK(m->has_cred == 1);
		FUZZ_CHECK(m->cred.pid == s->pid[w]);
		FUZZ_CHECK(m->cred.uid == getuid() && m->cred.gid == getgid());
	} else {
		FUZZ_CHECK(m->has_cred == 0);
	}
	if (s->opts.flags & FDMSG_OPT_PIDFD) {
		FUZZ_CHECK(m->cred.pidfd > 2);
		FUZZ_CHECK(pidfd_pid(m->cred.pidfd) == s->pid[w]);
	} else {
		FUZZ_CHECK(m->cred.pidfd == -1);
	}
}

/* An error a frame may be refused with. */
static int
refusal(int r)
{
	return r == -EPROTO || r == -EMSGSIZE || r == -EBADMSG ||
	       r == -EMFILE || r == -ENFILE;
}

static int
under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p != NULL && strstr(p, "vgpreload") != NULL;
}

/* The lowest free descriptor number (all below it are open). */
static int
lowest_free(void)
{
	int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);

	FUZZ_CHECK(fd >= 0);
	close(fd);
	return fd;
}

/* One frame from the input: written, then received and judged. */
static void
snd_frame_step(struct snd *s, struct fuzz_in *in)
{
	uint8_t sel = in_u8(in);
	size_t plen = in_u16(in) % (SND_MAX_LEN - FDMSG_HDR_SIZE + 1);
	unsigned split = in_u8(in), nfds = (sel >> 1) & 3, i;
	uint8_t fill = in_u8(in);
	int w = sel & 1, w2 = w, full = (sel & 0x10) != 0, mixed, need_fd;
	struct fdmsg_hdr h;
	struct fdmsg_msg m;
	struct rlimit rl, low;
	size_t len = FDMSG_HDR_SIZE + plen, cut = 0;
	int r, want;

	if (nfds > SND_MAX_FDS)
		nfds = SND_MAX_FDS;
	h.version = FDMSG_WIRE_VERSION;
	h.nfds = (uint8_t)nfds;
	h.flags = 0;
	h.len = (uint32_t)len;
	h.type = (uint32_t)(sel >> 5);
	h.peerid = (uint32_t)fill << 8 | split;
	FUZZ_CHECK(fdmsg_hdr_encode(&h, snd_frame) == FDMSG_HDR_SIZE);
	for (i = 0; i < plen; i++)
		snd_frame[FDMSG_HDR_SIZE + i] = (uint8_t)(fill + i);

	/* Stream: maybe in two writes, the second by the other writer. */
	if (s->kind == K_STREAM && split != 0) {
		cut = split * len / 256;
		if (cut == 0)
			cut = 1;
		if (sel & 8)
			w2 = !w;
	}
	mixed = w2 != w && s->ident;
	need_fd = nfds > 0 || (s->opts.flags & FDMSG_OPT_PIDFD);

	if (cut > 0) {
		snd_part(s, w, snd_frame, cut, nfds);
		snd_part(s, w2, snd_frame + cut, len - cut, 0);
	} else {
		snd_part(s, w, snd_frame, len, nfds);
	}

	if (full) {
		FUZZ_CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
		low = rl;
		low.rlim_cur = (rlim_t)lowest_free();
		FUZZ_CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
		/* valgrind only emulates the limit (the kernel still
		 * installs received descriptors): there the step is not
		 * taken. */
		if (under_valgrind()) {
			FUZZ_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
			full = 0;
		}
	}
	want = nfds <= s->opts.max_fds && len <= s->opts.max_frame &&
	       !mixed && !(full && need_fd);
	memset(&m, 0, sizeof(m));
	r = fdmsg_recv(s->ch, &m);
	if (full)
		FUZZ_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (fuzz_debug())
		fprintf(stderr, "frame len %zu nfds %u writers %d/%d%s: %d "
			"(want %s)\n", len, nfds, w, w2, full ? " full" : "",
			r, want ? "it" : "an error");
	if (want) {
		FUZZ_CHECK(r == 0);
		check_delivered(s, &m, h.type, h.peerid, plen, nfds, w);
		FUZZ_CHECK(fdmsg_recv(s->ch, &m) == -EAGAIN);
	} else {
		FUZZ_CHECK(refusal(r));
		if (s->kind == K_DGRAM_BOUND) {
			/* One datagram dropped; the channel goes on. */
			FUZZ_CHECK(fdmsg_recv(s->ch, &m) == -EAGAIN);
		} else {
			FUZZ_CHECK(fdmsg_recv(s->ch, &m) == r);
			s->stop = 1;
		}
	}
	fdmsg_msg_release(&m);
}

static void
snd_open(struct snd *s, uint8_t cfg)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM,
				     SOCK_DGRAM };
	static const unsigned fdlim[] = { 0, 1, 3, 253 };
	static const uint32_t frames[] = { 64, 512, 4096, 65536 };
	static unsigned seq;
	struct sockaddr_un a;
	socklen_t alen;
	int rx, sv[2], i, r;

	s->kind = cfg & 3;
	fdmsg_opts_init(&s->opts);
	s->opts.flags = (cfg & 4 ? FDMSG_OPT_CREDS : 0) |
			(cfg & 8 ? FDMSG_OPT_PIDFD : 0);
	s->opts.max_fds = fdlim[(cfg >> 4) & 3];
	s->opts.max_frame = frames[(cfg >> 6) & 3];
	if (s->opts.max_queue < s->opts.max_frame)
		s->opts.max_queue = s->opts.max_frame;
	s->pid[0] = getpid();
	s->pid[1] = helper.pid;

	if (s->kind != K_DGRAM_BOUND) {
		FUZZ_CHECK(socketpair(AF_UNIX, types[s->kind] | SOCK_CLOEXEC,
				      0, sv) == 0);
		rx = sv[0];
		s->sock[0] = sv[1];
		s->sock[1] = fcntl(sv[1], F_DUPFD_CLOEXEC, 3);
		FUZZ_CHECK(s->sock[1] >= 0);
	} else {
		/* An abstract address of this process: nothing on disk. */
		memset(&a, 0, sizeof(a));
		a.sun_family = AF_UNIX;
		alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1,
				 "fdmsg-fuzz-senders-%ld-%u", (long)getpid(),
				 seq++));
		rx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		FUZZ_CHECK(rx >= 0);
		FUZZ_CHECK(bind(rx, (struct sockaddr *)&a, alen) == 0);
		for (i = 0; i < 2; i++) {
			s->sock[i] = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC,
					    0);
			FUZZ_CHECK(s->sock[i] >= 0);
			FUZZ_CHECK(connect(s->sock[i], (struct sockaddr *)&a,
					   alen) == 0);
		}
	}
	r = fdmsg_chan_new(&s->ch, rx, &s->opts, FDMSG_CHAN_OWN_FD);
	if (r == -EOPNOTSUPP && (s->opts.flags & FDMSG_OPT_PIDFD)) {
		/* A kernel without SO_PASSPIDFD: the channel closed rx. */
		s->opts.flags &= ~FDMSG_OPT_PIDFD;
		for (i = 0; i < 2; i++)
			close(s->sock[i]);
		snd_open(s, (uint8_t)(cfg & ~8));
		return;
	}
	if (r != 0) {
		fprintf(stderr, "fdmsg_chan_new: %d\n", r);
		abort();
	}
	s->ident = (s->opts.flags & (FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD)) != 0;
	FUZZ_CHECK(helper_call('s', NULL, 0, s->sock[1]) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct snd s;
	unsigned k;
	int before;

	if (snd_memfd < 0) {
		snd_memfd = memfd_create("fdmsg-fuzz-senders", MFD_CLOEXEC);
		FUZZ_CHECK(snd_memfd >= 0);
		FUZZ_CHECK(fstat(snd_memfd, &snd_memfd_st) == 0);
		(void)atexit(snd_teardown);
		helper_start();
	}
	before = fuzz_fd_count();
	memset(&s, 0, sizeof(s));
	snd_open(&s, in_u8(&in));
	for (k = 0; k < SND_MAX_FRAMES && in.n > 0 && !s.stop; k++)
		snd_frame_step(&s, &in);
	FUZZ_CHECK(helper_call('c', NULL, 0, -1) == 0);
	fdmsg_chan_free(s.ch);
	close(s.sock[0]);
	close(s.sock[1]);
	if (fuzz_fd_count() != before) {
		fprintf(stderr, "descriptor leak: %d before, %d after\n",
			before, fuzz_fd_count());
		abort();
	}
	return 0;
}
