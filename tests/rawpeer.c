/* SPDX-License-Identifier: ISC */
/* The raw peer: see rawpeer.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fdmsg.h"
#include "rawpeer.h"

#define TABLE_MAX 4096 /* descriptors the squeezes look at */

int
ident_of(int fd, struct ident *id)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	return 0;
}

int
same_ident(int fd, const struct ident *id)
{
	struct ident got = { 0, 0 };

	return ident_of(fd, &got) == 0 && got.dev == id->dev &&
	       got.ino == id->ino;
}

int
same_file(int a, int b)
{
	struct ident id;

	return ident_of(a, &id) == 0 && same_ident(b, &id);
}

void
put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

void
put_hdr(uint8_t *p, uint8_t version, uint8_t nfds, uint16_t flags,
	uint32_t len, uint32_t type, uint32_t peerid)
{
	p[0] = version;
	p[1] = nfds;
	p[2] = (uint8_t)flags;
	p[3] = (uint8_t)(flags >> 8);
	put_le32(p + 4, len);
	put_le32(p + 8, type);
	put_le32(p + 12, peerid);
}

ssize_t
send_fds(int s, const void *buf, size_t n, const int *fds, unsigned nfds,
	 int flags)
{
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int) * FDMSG_MAX_FDS_CAP)];
	} ctl;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf,
			     .iov_len = n };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	ssize_t r;

	if (nfds > FDMSG_MAX_FDS_CAP)
		return -EINVAL;
	if (nfds > 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_LEN(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	r = sendmsg(s, &mh, MSG_NOSIGNAL | flags);
	return r < 0 ? -errno : r;
}

/* Closes fds[0..n) and returns r. */
static ssize_t
close_made(const int *fds, unsigned n, ssize_t r)
{
	while (n > 0)
		close(fds[--n]);
	return r;
}

ssize_t
raw_send(int s, const void *buf, size_t n, unsigned nfds, struct ident *ids,
	 int flags)
{
	int fds[FDMSG_MAX_FDS_CAP] = { 0 };
	unsigned made;
	ssize_t r = 0;

	if (nfds > FDMSG_MAX_FDS_CAP)
		return -EINVAL;
	for (made = 0; made < nfds && r == 0; made++) {
		fds[made] = memfd_create("rawpeer", 0);
		if (fds[made] < 0)
			return close_made(fds, made, -errno);
		if (ids != NULL)
			r = ident_of(fds[made], &ids[made]);
	}
	if (r == 0)
		r = send_fds(s, buf, n, fds, nfds, flags);
	return close_made(fds, made, r);
}

void
peer_send(int s, const void *buf, size_t n, unsigned nfds, struct ident *ids)
{
	ssize_t r = raw_send(s, buf, n, nfds, ids, 0);

	cr_assert_eq(r, (ssize_t)n, "raw peer: sendmsg of %zu bytes + %u fds: "
		     "%zd %s", n, nfds, r, r < 0 ? ename((int)r) : "");
}

const char *
ename(int r)
{
	const char *name = fdmsg_errname(r);

	if (r == 0)
		return "0";
	return name != NULL ? name : "(other)";
}

int
fill_socket_raw(int s)
{
	static const char junk[512];
	long i;

	for (i = 0; i < 1000000; i++) {
		if (send(s, junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return -errno;
	}
	return -ENOBUFS; /* never full */
}

int
fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

int
is_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl >= 0 && (fl & FD_CLOEXEC);
}

/* The highest open descriptor below TABLE_MAX, or -1. */
static int
highest_fd(void)
{
	int top = -1;

	for (int fd = 0; fd < TABLE_MAX; fd++)
		if (fd_is_open(fd))
			top = fd;
	return top;
}

void
close_stdio(void)
{
	close(0);
	close(1);
	close(2);
}

int
rlimit_nofile(rlim_t cur, struct rlimit *old)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (old != NULL)
		*old = rl;
	rl.rlim_cur = cur;
	return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
}

/* rlimit_squeeze's state: one squeeze at a time, in a child. */
static int fillers[TABLE_MAX];
static int nfill;
static struct rlimit saved;

int
rlimit_squeeze(unsigned room)
{
	int fd, r;

	r = rlimit_nofile((rlim_t)highest_fd() + 1 + room, &saved);
	if (r < 0)
		return r;
	/* Fill every hole, then free exactly room at the top. */
	for (nfill = 0; nfill < TABLE_MAX; nfill++) {
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			break;
		fillers[nfill] = fd;
	}
	if (nfill == TABLE_MAX)
		return -ENFILE;
	if (errno != EMFILE)
		return -errno;
	if (nfill < (int)room)
		return -ENOSPC;
	while (room-- > 0)
		close(fillers[--nfill]);
	return 0;
}

int
free_slots(void)
{
	int fds[TABLE_MAX];
	int n = 0, err;

	while (n < TABLE_MAX && (fds[n] = open("/dev/null",
					       O_RDONLY | O_CLOEXEC)) >= 0)
		n++;
	err = n < TABLE_MAX ? errno : ENFILE;
	for (int i = 0; i < n; i++)
		close(fds[i]);
	return err == EMFILE ? n : -err;
}

int
rlimit_release(void)
{
	while (nfill > 0)
		close(fillers[--nfill]);
	return setrlimit(RLIMIT_NOFILE, &saved) < 0 ? -errno : 0;
}

pid_t
fork_child(void)
{
	pid_t parent = getpid(), pid;

	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	/* A parent gone before the prctl would never send the signal. */
	if (pid == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
			 getppid() != parent))
		_exit(127);
	return pid;
}

void
wait_child(pid_t pid, const char *what)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "%s: child died (status %#x)", what, st);
	cr_assert_eq(WEXITSTATUS(st), 0, "%s: child failed at step %d", what,
		     WEXITSTATUS(st));
}

void
run_child(child_fn *fn, int type, unsigned arg, const char *what)
{
	pid_t pid = fork_child();

	if (pid == 0)
		_exit(fn(type, arg));
	wait_child(pid, what);
}

pid_t
write_from_child(int s, const void *buf, size_t n)
{
	pid_t pid = fork_child();

	if (pid == 0)
		_exit(write(s, buf, n) == (ssize_t)n ? 0 : 1);
	wait_child(pid, "the child's write");
	return pid;
}
