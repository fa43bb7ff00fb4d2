/* SPDX-License-Identifier: ISC */
/*
 * The five use cases fdmsg was built for, each between two processes:
 *  1. libcamera IPC: a payload with many descriptors, the receiver woken by
 *     poll(2) on the channel's descriptor;
 *  2. gVisor fdchannel: one descriptor per frame over a close-on-exec
 *     SEQPACKET pair, blocking, non-blocking, and a blocked receiver
 *     released from another thread by fdmsg_shutdown;
 *  3. OpenBSD imsg: typed frames whose payload is gathered from several
 *     iovecs, many of them queued behind a small SO_SNDBUF and flushed
 *     later, descriptors given away with FDMSG_CLOSE_FDS;
 *  4. macOS hand-off: a helper listening on a socket path gets a log file
 *     descriptor and writes its log into it; its socket file is gone
 *     afterwards;
 *  5. lxcfs send_creds/recv_creds: the receiver checks the sender's
 *     kernel-attested credentials, and a listener refuses a uid not on its
 *     allow-list.
 * A child reports a failed check on stderr and exits 1; every child's exit
 * status is asserted.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fdmsg.h"
#include "rawpeer.h"
#include "testutil.h"

#define WAIT_MS 10000

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static void
child_fail(int line, const char *what)
{
	fprintf(stderr, "child %ld, line %d: %s (errno %d)\n", (long)getpid(),
		line, what, errno);
	_exit(1);
}

/* A check in a child process: it has no Criterion to report to. */
#define CK(cond)                                                         \
	do {                                                             \
		if (!(cond))                                             \
			child_fail(__LINE__, #cond);                     \
	} while (0)

static void
msg_zero(struct fdmsg_msg *m)
{
	memset(m, 0, sizeof(*m));
}

/* A memfd holding "file <i>". */
static int
tagged_memfd(unsigned i)
{
	char tag[32];
	int fd = memfd_create("usecase", MFD_CLOEXEC);
	int n = snprintf(tag, sizeof(tag), "file %u", i);

	if (fd < 0)
		return -1;
	if (write(fd, tag, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
has_tag(int fd, unsigned i)
{
	char want[32], got[32] = { 0 };
	int n = snprintf(want, sizeof(want), "file %u", i);

	return pread(fd, got, sizeof(got) - 1, 0) == n &&
	       memcmp(got, want, (size_t)n) == 0;
}

static struct fdmsg_chan *
chan_on(int fd, unsigned max_fds, unsigned flags)
{
	struct fdmsg_chan *c = NULL;
	struct fdmsg_opts o;

	fdmsg_opts_init(&o);
	o.max_fds = max_fds;
	o.flags = flags;
	if (fdmsg_chan_new(&c, fd, &o, FDMSG_CHAN_OWN_FD) < 0)
		return NULL;
	return c;
}

static int
send_buf(struct fdmsg_chan *c, uint32_t type, uint32_t peerid,
	 const void *p, size_t n, const int *fds, size_t nfds,
	 unsigned flags)
{
	struct iovec iov = { (void *)(uintptr_t)p, n };

	return fdmsg_send(c, type, peerid, &iov, 1, fds, nfds, flags);
}

/* ------------------------------------------------------------------ */
/* 1. libcamera IPC: payload plus 32 descriptors, woken by poll        */
/* ------------------------------------------------------------------ */

#define UC1_NFDS 32
#define UC1_TYPE 0x10u
#define UC1_PEERID 0xCA3E7Au
#define UC1_ACK 0x11u

struct uc1_payload {
	char name[16];
	uint32_t nfds;
	struct ident ids[UC1_NFDS];
	uint8_t pixels[2048];
};

static void
uc1_sender(int sock)
{
	struct uc1_payload pl;
	struct fdmsg_chan *c;
	struct fdmsg_msg m;
	int fds[UC1_NFDS];

	c = chan_on(sock, 0, 0);
	CK(c != NULL);
	memset(&pl, 0, sizeof(pl));
	strcpy(pl.name, "frame-buffers");
	pl.nfds = UC1_NFDS;
	for (unsigned i = 0; i < UC1_NFDS; i++) {
		fds[i] = tagged_memfd(i);
		CK(fds[i] >= 0);
		CK(ident_of(fds[i], &pl.ids[i]) == 0);
	}
	for (size_t i = 0; i < sizeof(pl.pixels); i++)
		pl.pixels[i] = (uint8_t)(i * 7 + 3);
	CK(send_buf(c, UC1_TYPE, UC1_PEERID, &pl, sizeof(pl), fds, UC1_NFDS,
		    FDMSG_CLOSE_FDS) == 0);
	for (unsigned i = 0; i < UC1_NFDS; i++)
		CK(!fd_is_open(fds[i])); /* FDMSG_CLOSE_FDS */
	/* Stay until the receiver has checked every descriptor. */
	msg_zero(&m);
	CK(fdmsg_recv_wait(c, &m, WAIT_MS) == 0);
	CK(m.type == UC1_ACK && m.nfds == 0);
	fdmsg_chan_free(c);
	_exit(0);
}

TEST(usecase, libcamera_payload_with_32_fds_woken_by_poll)
{
	struct fdmsg_chan *c;
	struct fdmsg_msg m;
	struct pollfd pfd;
	const struct uc1_payload *pl;
	int sv[2];
	pid_t pid;

	cr_assert_eq(fdmsg_pair(SOCK_SEQPACKET, sv), 0);
	c = chan_on(sv[0], UC1_NFDS, 0);
	cr_assert_not_null(c);
	pid = fork_child();
	if (pid == 0) {
		fdmsg_chan_free(c); /* the parent's end, in the child */
		uc1_sender(sv[1]);
	}
	close(sv[1]);

	/* An event loop's wait: poll the channel's descriptor. */
	pfd.fd = fdmsg_chan_fd(c);
	pfd.events = POLLIN;
	pfd.revents = 0;
	cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1);
	cr_assert(pfd.revents & POLLIN);
	msg_zero(&m);
	cr_assert_eq(fdmsg_recv(c, &m), 0);

	cr_assert_eq(m.type, UC1_TYPE);
	cr_assert_eq(m.peerid, UC1_PEERID);
	cr_assert_eq(m.len, sizeof(*pl));
	pl = m.payload;
	cr_assert_str_eq(pl->name, "frame-buffers");
	cr_assert_eq(pl->nfds, UC1_NFDS);
	for (size_t i = 0; i < sizeof(pl->pixels); i++)
		cr_assert_eq(pl->pixels[i], (uint8_t)(i * 7 + 3));
	cr_assert_eq(m.nfds, UC1_NFDS);
	for (unsigned i = 0; i < UC1_NFDS; i++) {
		cr_assert(m.fds[i] > 2);
		cr_assert(is_cloexec(m.fds[i]));
		cr_assert(same_ident(m.fds[i], &pl->ids[i]),
			  "descriptor %u is not the sender's file %u", i, i);
		cr_assert(has_tag(m.fds[i], i));
	}
	/* Keep one, let the message close the rest. */
	{
		int kept = fdmsg_msg_take_fd(&m, 5);

		cr_assert(kept > 2);
		fdmsg_msg_release(&m);
		cr_assert(has_tag(kept, 5));
		close(kept);
	}
	cr_assert_eq(send_buf(c, UC1_ACK, 0, NULL, 0, NULL, 0, 0), 0);
	wait_child(pid, "child");
	fdmsg_chan_free(c);
}

/* ------------------------------------------------------------------ */
/* 2. gVisor fdchannel: one descriptor per frame                       */
/* ------------------------------------------------------------------ */

#define UC2_FRAMES 16
#define UC2_GO 0x20u
#define UC2_FD 0x21u

static void
uc2_sender(int sock)
{
	struct fdmsg_chan *c;
	struct fdmsg_msg m;

	CK(is_cloexec(sock));
	c = chan_on(sock, 0, 0);
	CK(c != NULL);
	/* Nothing goes out before the receiver has seen it empty. */
	msg_zero(&m);
	CK(fdmsg_recv_wait(c, &m, WAIT_MS) == 0);
	CK(m.type == UC2_GO);
	for (unsigned i = 0; i < UC2_FRAMES; i++) {
		struct ident id;
		int fd = tagged_memfd(i);

		CK(fd >= 0);
		CK(ident_of(fd, &id) == 0);
		CK(send_buf(c, UC2_FD, i, &id, sizeof(id), &fd, 1, 0) == 0);
		close(fd);
	}
	/* The receiver shuts its end down: we see the end of the peer. */
	CK(fdmsg_recv_wait(c, &m, WAIT_MS) == -EPIPE);
	fdmsg_chan_free(c);
	_exit(0);
}

struct uc2_waiter {
	struct fdmsg_chan *chan;
	int ret;
};

static void *
uc2_blocked_recv(void *arg)
{
	struct uc2_waiter *w = arg;
	struct fdmsg_msg m;

	msg_zero(&m);
	w->ret = fdmsg_recv_wait(w->chan, &m, -1); /* no timeout */
	return NULL;
}

TEST(usecase, gvisor_one_fd_per_frame_blocking_nonblocking_shutdown)
{
	struct uc2_waiter w;
	struct fdmsg_chan *c;
	struct fdmsg_msg m;
	pthread_t th;
	int sv[2];
	pid_t pid;

	cr_assert_eq(fdmsg_pair(SOCK_SEQPACKET, sv), 0);
	cr_assert(is_cloexec(sv[0]) && is_cloexec(sv[1]));
	pid = fork_child();
	if (pid == 0) {
		close(sv[0]);
		uc2_sender(sv[1]);
	}
	close(sv[1]);
	c = chan_on(sv[0], 1, 0);
	cr_assert_not_null(c);

	/* Non-blocking: nothing yet. */
	msg_zero(&m);
	cr_assert_eq(fdmsg_recv(c, &m), -EAGAIN);
	cr_assert_eq(send_buf(c, UC2_GO, 0, NULL, 0, NULL, 0, 0), 0);

	/* Blocking: one descriptor per frame, in order. */
	for (unsigned i = 0; i < UC2_FRAMES; i++) {
		struct ident id;
		int fd;

		cr_assert_eq(fdmsg_recv_wait(c, &m, WAIT_MS), 0);
		cr_assert_eq(m.type, UC2_FD);
		cr_assert_eq(m.peerid, i);
		cr_assert_eq(m.nfds, 1);
		cr_assert_eq(m.len, sizeof(id));
		memcpy(&id, m.payload, sizeof(id));
		fd = fdmsg_msg_take_fd(&m, 0);
		cr_assert(fd > 2);
		cr_assert(is_cloexec(fd));
		cr_assert_eq(fdmsg_msg_take_fd(&m, 0), -EBADF);
		cr_assert(same_ident(fd, &id));
		cr_assert(has_tag(fd, i));
		close(fd);
	}
	fdmsg_msg_release(&m);

	/* All read: non-blocking is -EAGAIN again, and a receiver blocked
	 * without a timeout is released by fdmsg_shutdown from here. */
	cr_assert_eq(fdmsg_recv(c, &m), -EAGAIN);
	w.chan = c;
	w.ret = 1;
	cr_assert_eq(pthread_create(&th, NULL, uc2_blocked_recv, &w), 0);
	usleep(50 * 1000); /* likely inside poll by now; either way works */
	cr_assert_eq(fdmsg_shutdown(c), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_eq(w.ret, -ESHUTDOWN);
	cr_assert_eq(fdmsg_recv(c, &m), -ESHUTDOWN);

	wait_child(pid, "child");
	fdmsg_chan_free(c);
}

/* ------------------------------------------------------------------ */
/* 3. imsg: typed frames from iovecs, queued, flushed later            */
/* ------------------------------------------------------------------ */

#define UC3_FRAMES 300
#define UC3_TYPE_BASE 0x300u
#define UC3_FD_EVERY 7 /* frames i % 7 == 0 carry a descriptor */

/* An imsg-like record: fixed head, a name, a tail, gathered by iovecs. */
struct uc3_head {
	uint32_t seq;
	uint32_t namelen;
};

static void
uc3_name(unsigned i, char *buf, size_t n)
{
	(void)snprintf(buf, n, "imsg-%u-%.*s", i, (int)(i % 40),
		       "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN");
}

static void
uc3_tail(unsigned i, uint8_t *t, size_t n)
{
	for (size_t k = 0; k < n; k++)
		t[k] = (uint8_t)(i + k);
}

#define UC3_TAIL 100

static void
uc3_receiver(int sock, int go)
{
	struct fdmsg_chan *c;
	struct fdmsg_msg m;
	char x;

	c = chan_on(sock, 1, 0);
	CK(c != NULL);
	/* Read nothing until the sender has queued everything. */
	CK(read(go, &x, 1) == 1);
	msg_zero(&m);
	for (unsigned i = 0; i < UC3_FRAMES; i++) {
		struct uc3_head h;
		char name[64];
		uint8_t tail[UC3_TAIL];
		const uint8_t *p;

		CK(fdmsg_recv_wait(c, &m, WAIT_MS) == 0);
		CK(m.type == UC3_TYPE_BASE + i);
		CK(m.peerid == i * 3u);
		uc3_name(i, name, sizeof(name));
		CK(m.len == sizeof(h) + strlen(name) + UC3_TAIL);
		p = m.payload;
		memcpy(&h, p, sizeof(h));
		CK(h.seq == i && h.namelen == strlen(name));
		CK(memcmp(p + sizeof(h), name, h.namelen) == 0);
		uc3_tail(i, tail, sizeof(tail));
		CK(memcmp(p + sizeof(h) + h.namelen, tail, UC3_TAIL) == 0);
		if (i % UC3_FD_EVERY == 0) {
			CK(m.nfds == 1);
			CK(has_tag(m.fds[0], i));
		} else {
			CK(m.nfds == 0);
		}
	}
	/* The sender closes once flushed: the end, after every frame. */
	CK(fdmsg_recv_wait(c, &m, WAIT_MS) == -EPIPE);
	fdmsg_chan_free(c);
	_exit(0);
}

TEST(usecase, imsg_typed_iovec_frames_queued_then_flushed_close_fds)
{
	struct fdmsg_chan *c;
	int sv[2], go[2], tiny = 1;
	unsigned withfd = 0;
	const int base = fd_count();
	pid_t pid;

	cr_assert_eq(fdmsg_pair(SOCK_STREAM, sv), 0);
	cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
	pid = fork_child();
	if (pid == 0) {
		close(sv[0]);
		close(go[1]);
		uc3_receiver(sv[1], go[0]);
	}
	close(sv[1]);
	close(go[0]);
	cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &tiny,
				sizeof(tiny)), 0);
	c = chan_on(sv[0], 0, 0);
	cr_assert_not_null(c);

	for (unsigned i = 0; i < UC3_FRAMES; i++) {
		struct uc3_head h;
		char name[64];
		uint8_t tail[UC3_TAIL];
		struct iovec iov[3];
		int fd = -1;

		uc3_name(i, name, sizeof(name));
		h.seq = i;
		h.namelen = (uint32_t)strlen(name);
		uc3_tail(i, tail, sizeof(tail));
		iov[0].iov_base = &h;
		iov[0].iov_len = sizeof(h);
		iov[1].iov_base = name;
		iov[1].iov_len = h.namelen;
		iov[2].iov_base = tail;
		iov[2].iov_len = sizeof(tail);
		if (i % UC3_FD_EVERY == 0) {
			fd = tagged_memfd(i);
			cr_assert(fd >= 0);
			withfd++;
		}
		cr_assert_eq(fdmsg_send(c, UC3_TYPE_BASE + i, i * 3u, iov, 3,
					fd >= 0 ? &fd : NULL, fd >= 0,
					FDMSG_CLOSE_FDS), 0, "frame %u", i);
		/* Given away: closed now, or once its queued frame goes. */
		if (fd >= 0 && !fdmsg_want_write(c))
			cr_assert(!fd_is_open(fd), "FDMSG_CLOSE_FDS kept %d",
				  fd);
	}
	/* The receiver reads nothing yet: most of it waits in the queue,
	 * holding the descriptors not sent yet. */
	cr_assert_eq(fdmsg_want_write(c), 1);
	cr_assert_eq(fdmsg_flush(c), -EAGAIN);
	cr_assert(withfd > 0);

	cr_assert_eq(write(go[1], "g", 1), 1);
	close(go[1]);
	cr_assert_eq(fdmsg_flush_wait(c, WAIT_MS), 0);
	cr_assert_eq(fdmsg_want_write(c), 0);
	/* Flushed: the queue's descriptors are closed; only the socket
	 * remains. */
	cr_assert_eq(fd_count(), base + 1);
	fdmsg_chan_free(c);
	wait_child(pid, "child");
}

/* ------------------------------------------------------------------ */
/* 4. macOS hand-off: a helper writes its log into our descriptor      */
/* ------------------------------------------------------------------ */

#define UC4_LOGFD 0x40u
#define UC4_DONE 0x41u
static const char uc4_log[] = "helper: started\nhelper: working\n"
			      "helper: done\n";

static void
uc4_helper(const char *path, int ready)
{
	struct fdmsg_chan *c;
	struct fdmsg_msg m;
	uid_t me = getuid();
	int lfd, s, log;

	lfd = fdmsg_listen(path, 0, 0600);
	CK(lfd >= 0);
	CK(write(ready, "r", 1) == 1);
	close(ready);
	s = fdmsg_accept(lfd, &me, 1);
	CK(s >= 0);
	close(lfd);
	c = chan_on(s, 1, 0);
	CK(c != NULL);
	msg_zero(&m);
	CK(fdmsg_recv_wait(c, &m, WAIT_MS) == 0);
	CK(m.type == UC4_LOGFD && m.nfds == 1);
	log = fdmsg_msg_take_fd(&m, 0);
	CK(log > 2);
	CK(write(log, uc4_log, sizeof(uc4_log) - 1) ==
	   (ssize_t)(sizeof(uc4_log) - 1));
	close(log);
	CK(send_buf(c, UC4_DONE, 0, NULL, 0, NULL, 0, 0) == 0);
	CK(fdmsg_flush_wait(c, WAIT_MS) == 0);
	fdmsg_chan_free(c);
	CK(unlink(path) == 0); /* the helper cleans up its socket file */
	_exit(0);
}

TEST(usecase, macos_handoff_helper_writes_log_into_our_fd)
{
	char dir[] = "/tmp/fdmsg-uc4-XXXXXX", path[96], logpath[96];
	char buf[256] = { 0 }, x;
	struct fdmsg_chan *c;
	struct fdmsg_msg m;
	struct stat st;
	int ready[2], s, log;
	pid_t pid;

	cr_assert_not_null(mkdtemp(dir));
	(void)snprintf(path, sizeof(path), "%s/helper.sock", dir);
	(void)snprintf(logpath, sizeof(logpath), "%s/helper.log", dir);
	cr_assert_eq(pipe2(ready, O_CLOEXEC), 0);
	pid = fork_child();
	if (pid == 0) {
		close(ready[0]);
		uc4_helper(path, ready[1]);
	}
	close(ready[1]);
	cr_assert_eq(read(ready[0], &x, 1), 1);
	close(ready[0]);
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0600);

	s = fdmsg_connect(path, 0);
	cr_assert(s >= 0, "connect: %s", fdmsg_strerror(s));
	c = chan_on(s, 0, 0);
	cr_assert_not_null(c);
	log = open(logpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert(log >= 0);
	{
		int give = dup(log); /* given away with FDMSG_CLOSE_FDS */

		cr_assert(give >= 0);
		cr_assert_eq(send_buf(c, UC4_LOGFD, 0, "log", 3, &give, 1,
				      FDMSG_CLOSE_FDS), 0);
		cr_assert(!fd_is_open(give));
	}
	msg_zero(&m);
	cr_assert_eq(fdmsg_recv_wait(c, &m, WAIT_MS), 0);
	cr_assert_eq(m.type, UC4_DONE);
	fdmsg_chan_free(c);
	wait_child(pid, "child");

	/* The helper's log is in our file, and its socket file is gone. */
	cr_assert_eq(pread(log, buf, sizeof(buf) - 1, 0),
		     (ssize_t)(sizeof(uc4_log) - 1));
	cr_assert_str_eq(buf, uc4_log);
	close(log);
	cr_assert_eq(lstat(path, &st), -1);
	cr_assert_eq(errno, ENOENT);
	cr_assert_eq(rm_tree(dir), 0);
}

/* ------------------------------------------------------------------ */
/* 5. lxcfs: credentials checked by the receiver; an allow-list        */
/* ------------------------------------------------------------------ */

#define UC5_HELLO 0x50u
#define NOBODY 65534

/* As root, a child drops to nobody so that its credentials cannot be
 * mistaken for ours. */
static void
drop_to_nobody(void)
{
	if (getuid() == 0)
		CK(setgid(NOBODY) == 0 && setuid(NOBODY) == 0);
}

static void
uc5_sender(int sock)
{
	struct fdmsg_chan *c;

	drop_to_nobody();
	c = chan_on(sock, 0, 0);
	CK(c != NULL);
	CK(send_buf(c, UC5_HELLO, 1, "hello", 5, NULL, 0, 0) == 0);
	CK(fdmsg_flush_wait(c, WAIT_MS) == 0);
	fdmsg_chan_free(c);
	_exit(0);
}

TEST(usecase, lxcfs_receiver_checks_sender_credentials)
{
	uid_t want_uid = getuid() == 0 ? NOBODY : getuid();
	gid_t want_gid = getuid() == 0 ? NOBODY : getgid();
	struct fdmsg_chan *c;
	struct fdmsg_msg m;
	int sv[2];
	pid_t pid;

	cr_assert_eq(fdmsg_pair(SOCK_SEQPACKET, sv), 0);
	/* SO_PASSCRED on before anything is sent. */
	c = chan_on(sv[0], 0, FDMSG_OPT_CREDS);
	cr_assert_not_null(c);
	pid = fork_child();
	if (pid == 0) {
		fdmsg_chan_free(c);
		uc5_sender(sv[1]);
	}
	close(sv[1]);
	msg_zero(&m);
	cr_assert_eq(fdmsg_recv_wait(c, &m, WAIT_MS), 0);
	cr_assert_eq(m.type, UC5_HELLO);
	cr_assert_eq(m.has_cred, 1);
	cr_assert_eq(m.cred.pid, pid);
	cr_assert_eq(m.cred.uid, want_uid);
	cr_assert_eq(m.cred.gid, want_gid);
	cr_assert_eq(m.cred.pidfd, -1); /* FDMSG_OPT_PIDFD not asked */
	wait_child(pid, "child");
	cr_assert_eq(fdmsg_recv_wait(c, &m, WAIT_MS), -EPIPE);
	fdmsg_chan_free(c);
}

/* Connects to name, then waits to be let in (a frame) or shut out. */
static void
uc5_client(const char *name, int drop, int expect_in)
{
	struct fdmsg_chan *c;
	struct fdmsg_msg m;
	int s, r;

	if (drop)
		drop_to_nobody();
	s = fdmsg_connect(name, 0);
	CK(s >= 0);
	c = chan_on(s, 0, 0);
	CK(c != NULL);
	msg_zero(&m);
	r = fdmsg_recv_wait(c, &m, WAIT_MS);
	if (expect_in)
		CK(r == 0 && m.type == UC5_HELLO);
	else
		CK(r == -EPIPE || r == -ECONNRESET);
	fdmsg_chan_free(c);
	_exit(0);
}

TEST(usecase, lxcfs_listener_refuses_uid_not_on_allow_list)
{
	/* As root the refused client is nobody and the list holds root
	 * alone; otherwise the list leaves our own uid out. */
	uid_t refuse_list[1] = { getuid() == 0 ? 0 : getuid() + 1 };
	uid_t admit_list[2] = { 4242, getuid() };
	struct fdmsg_cred pc;
	struct fdmsg_chan *c;
	char name[64];
	int lfd, s;
	pid_t pid;

	/* Abstract: no file permissions stand between nobody and us. */
	(void)snprintf(name, sizeof(name), "@fdmsg-uc5-%ld", (long)getpid());
	lfd = fdmsg_listen(name, 0, 0);
	cr_assert(lfd >= 0, "listen: %s", fdmsg_strerror(lfd));

	pid = fork_child();
	if (pid == 0) {
		close(lfd);
		uc5_client(name, 1, 0);
	}
	cr_assert_eq(fdmsg_accept(lfd, refuse_list, 1), -EPERM);
	wait_child(pid, "child"); /* it saw the end of the connection */

	pid = fork_child();
	if (pid == 0) {
		close(lfd);
		uc5_client(name, 0, 1);
	}
	s = fdmsg_accept(lfd, admit_list, 2);
	cr_assert(s >= 0, "accept: %s", fdmsg_strerror(s));
	cr_assert_eq(fdmsg_peer_cred(s, 0, &pc), 0);
	cr_assert_eq(pc.pid, pid);
	cr_assert_eq(pc.uid, getuid());
	c = chan_on(s, 0, 0);
	cr_assert_not_null(c);
	cr_assert_eq(send_buf(c, UC5_HELLO, 0, "in", 2, NULL, 0, 0), 0);
	wait_child(pid, "child");
	fdmsg_chan_free(c);
	close(lfd);
}
