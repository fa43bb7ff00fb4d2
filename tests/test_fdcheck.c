/* SPDX-License-Identifier: ISC */
/*
 * What the received descriptors are (THREATS.md 27-29): each test sends
 * real descriptors over a real channel and checks the received ones with
 * fdmsg_fd_check_kind, fdmsg_fd_check_sealed and fdmsg_fd_status.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdmsg.h"
#include "testutil.h"

struct pair {
	struct fdmsg_chan *tx;
	struct fdmsg_chan *rx;
};

static void
pair_open(struct pair *p)
{
	struct fdmsg_opts o;
	int sv[2];

	cr_assert_eq(fdmsg_pair(SOCK_SEQPACKET, sv), 0);
	fdmsg_opts_init(&o);
	cr_assert_eq(fdmsg_chan_new(&p->tx, sv[0], &o, FDMSG_CHAN_OWN_FD), 0);
	o.max_fds = 8;
	cr_assert_eq(fdmsg_chan_new(&p->rx, sv[1], &o, FDMSG_CHAN_OWN_FD), 0);
}

static void
pair_close(struct pair *p)
{
	fdmsg_chan_free(p->tx);
	fdmsg_chan_free(p->rx);
}

/* Sends fds[0..n) in one frame (the caller keeps them) and receives it. */
static void
transfer(struct pair *p, const int *fds, size_t n,
	 struct fdmsg_msg *m)
{
	cr_assert_eq(fdmsg_send(p->tx, 1, 0, NULL, 0, fds, n, 0), 0);
	cr_assert_eq(fdmsg_flush_wait(p->tx, 5000), 0);
	cr_assert_eq(fdmsg_recv_wait(p->rx, m, 5000), 0);
	cr_assert_eq(m->nfds, (unsigned)n);
}

/* The received descriptor is the sent file (not some other open). */
static void
assert_same_file(int a, int b)
{
	struct stat sa, sb;

	cr_assert_eq(fstat(a, &sa), 0);
	cr_assert_eq(fstat(b, &sb), 0);
	cr_assert_eq(sa.st_dev, sb.st_dev);
	cr_assert_eq(sa.st_ino, sb.st_ino);
}

static void
tmpdir_make(char dir[static 32])
{
	strcpy(dir, "/tmp/fdcheck.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static int
tmpfile_open(const char *dir, const char *name, char path[64],
	     int flags)
{
	int fd;

	snprintf(path, 64, "%s/%s", dir, name);
	fd = open(path, flags | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	return fd;
}

static int
memfd_with(const char *name, size_t size, int seals)
{
	char buf[4096];
	size_t i;
	int fd;

	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	cr_assert_geq(fd, 0, "memfd_create: %s", strerror(errno));
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7 + 1);
	cr_assert_eq(size % sizeof(buf), 0);
	for (i = 0; i < size; i += sizeof(buf))
		cr_assert_eq(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	if (seals != 0)
		cr_assert_eq(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

/* 27: a FIFO (no writer), a socket, a tty, a device where a regular file is
 * expected.  Only the file passes; nothing is opened or read, so the FIFO
 * never blocks the call (a reopen of it would wait for a writer) and a
 * byte queued on the socket is still there afterwards. */
TEST(fdcheck, threat27_kind_rejects_fifo_socket_tty_device, .timeout = 10)
{
	enum { FIFO, SOCK, DEV, FILE_, TTY, N };
	static const mode_t own[N] = { S_IFIFO, S_IFSOCK, S_IFCHR, S_IFREG,
				       S_IFCHR };
	struct pair p;
	struct fdmsg_msg m;
	char dir[32], fifo[64], file[64], c;
	int fds[N], sv[2], fl, i, n;

	tmpdir_make(dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	fds[FIFO] = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	cr_assert_geq(fds[FIFO], 0);
	/* Blocking from now on: a read would see EOF, a reopen would hang. */
	cr_assert_eq(fcntl(fds[FIFO], F_SETFL, O_RDONLY), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(write(sv[1], "x", 1), 1);
	fds[SOCK] = sv[0];
	fds[DEV] = open("/dev/null", O_RDWR | O_CLOEXEC);
	cr_assert_geq(fds[DEV], 0);
	fds[FILE_] = tmpfile_open(dir, "file", file, O_RDWR);
	fds[TTY] = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	n = fds[TTY] >= 0 ? N : N - 1; /* no pty here: skip that item */
	if (n < N)
		cr_log_warn("no /dev/ptmx (%s): tty item skipped",
			    strerror(errno));

	pair_open(&p);
	transfer(&p, fds, (size_t)n, &m);
	for (i = 0; i < n; i++) {
		assert_same_file(fds[i], m.fds[i]);
		cr_expect_eq(fdmsg_fd_check_kind(m.fds[i], S_IFREG),
			     i == FILE_ ? 0 : -EBADFD, "item %d", i);
		/* Each passes for its own kind: the check is not blanket. */
		cr_expect_eq(fdmsg_fd_check_kind(m.fds[i], own[i]), 0,
			     "item %d", i);
		cr_expect_eq(fdmsg_fd_check_kind(m.fds[i], S_IFDIR), -EBADFD);
	}
	/* Nothing was read from the socket, nor reopened from the FIFO. */
	cr_assert_eq(recv(fds[SOCK], &c, 1, MSG_DONTWAIT), 1);
	cr_assert_eq(c, 'x');
	cr_assert_eq(fdmsg_fd_status(m.fds[FIFO], &fl), 0);
	cr_assert_eq(fl & (O_ACCMODE | O_NONBLOCK), O_RDONLY);

	fdmsg_msg_release(&m);
	pair_close(&p);
	for (i = 0; i < n; i++)
		close(fds[i]);
	close(sv[1]);
	unlink(fifo);
	unlink(file);
	rmdir(dir);
}

/* 28: an unsealed memfd that the sender shrinks after sending is refused
 * before any mapping; a sealed one passes, maps and reads without SIGBUS,
 * and the sender can no longer shrink it. */
TEST(fdcheck, threat28_sealed_memfd_or_refused)
{
	struct pair p;
	struct fdmsg_msg m;
	struct stat st;
	char dir[32], file[64];
	const unsigned char *map;
	int fds[4], i;

	fds[0] = memfd_with("fdcheck-unsealed", 4096, 0);
	fds[1] = memfd_with("fdcheck-sealed", 4096,
			    F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
	fds[2] = memfd_with("fdcheck-shrink-only", 4096, F_SEAL_SHRINK);
	tmpdir_make(dir);
	fds[3] = tmpfile_open(dir, "file", file, O_RDWR);
	cr_assert_eq(ftruncate(fds[3], 8192), 0);

	pair_open(&p);
	transfer(&p, fds, 4, &m);

	/* The sender shrinks the unsealed one after sending. */
	cr_assert_eq(ftruncate(fds[0], 0), 0);
	cr_assert_eq(fdmsg_fd_check_kind(m.fds[0], S_IFREG), 0,
		     "a memfd is a regular file: kind alone is not enough");
	cr_assert_eq(fdmsg_fd_check_sealed(m.fds[0], 4096), -EPERM);
	cr_assert_eq(fdmsg_fd_check_sealed(m.fds[0], 0), -EPERM);

	/* Sealed: passes, and the sender cannot shrink it any more. */
	cr_assert_eq(fdmsg_fd_check_sealed(m.fds[1], 4096), 0);
	cr_assert_eq(fdmsg_fd_check_sealed(m.fds[1], 0), 0);
	cr_assert_eq(ftruncate(fds[1], 0), -1);
	cr_assert_eq(errno, EPERM);
	cr_assert_eq(fstat(m.fds[1], &st), 0);
	cr_assert_eq(st.st_size, 4096);
	map = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, m.fds[1], 0);
	cr_assert_neq(map, MAP_FAILED, "mmap: %s", strerror(errno));
	for (i = 0; i < 4096; i++)
		cr_assert_eq(map[i], (unsigned char)(i * 7 + 1), "byte %d", i);
	cr_assert_eq(munmap((void *)map, 4096), 0);
	cr_assert_eq(fdmsg_fd_check_sealed(m.fds[1], 4097), -EMSGSIZE);
	cr_assert_eq(fdmsg_fd_check_sealed(m.fds[1], SIZE_MAX), -EMSGSIZE);

	/* SHRINK alone: the size could still change under the check. */
	cr_assert_eq(fdmsg_fd_check_sealed(m.fds[2], 4096), -EPERM);
	/* A regular file cannot be sealed at all. */
	cr_assert_eq(fdmsg_fd_check_sealed(m.fds[3], 4096), -EPERM);

	fdmsg_msg_release(&m);
	pair_close(&p);
	for (i = 0; i < 4; i++)
		close(fds[i]);
	unlink(file);
	rmdir(dir);
}

/* 29: O_PATH and odd status flags arrive as sent and are visible; the
 * received descriptors are the sender's open file descriptions, not
 * reopens (a reopen through /proc/self/fd would lose O_PATH and would not
 * share a later F_SETFL). */
TEST(fdcheck, threat29_opath_and_flags_visible_never_reopened)
{
	struct pair p;
	struct fdmsg_msg m;
	char dir[32], file[64];
	int fds[2], fl;

	tmpdir_make(dir);
	fds[1] = tmpfile_open(dir, "file", file,
			      O_WRONLY | O_NONBLOCK | O_APPEND);
	fds[0] = open(file, O_PATH | O_CLOEXEC);
	cr_assert_geq(fds[0], 0);

	pair_open(&p);
	transfer(&p, fds, 2, &m);

	assert_same_file(fds[0], m.fds[0]);
	assert_same_file(fds[1], m.fds[1]);
	cr_assert_eq(fdmsg_fd_status(m.fds[0], &fl), 0);
	cr_assert(fl & O_PATH, "O_PATH lost: 0%o", (unsigned)fl);
	cr_assert_eq(fdmsg_fd_check_kind(m.fds[0], S_IFREG), 0);
	cr_assert_eq(fdmsg_fd_check_kind(m.fds[0], S_IFIFO), -EBADFD);
	/* Not mappable: "not sealed", never mistaken for a closed fd. */
	cr_assert_eq(fdmsg_fd_check_sealed(m.fds[0], 0), -EPERM);

	cr_assert_eq(fdmsg_fd_status(m.fds[1], &fl), 0);
	cr_assert_eq(fl & O_ACCMODE, O_WRONLY);
	cr_assert_eq(fl & (O_NONBLOCK | O_APPEND), O_NONBLOCK | O_APPEND);
	/* One open file description: the sender's change shows here. */
	cr_assert_eq(fcntl(fds[1], F_SETFL, O_APPEND), 0);
	cr_assert_eq(fdmsg_fd_status(m.fds[1], &fl), 0);
	cr_assert_eq(fl & (O_NONBLOCK | O_APPEND), O_APPEND);

	fdmsg_msg_release(&m);
	pair_close(&p);
	close(fds[0]);
	close(fds[1]);
	unlink(file);
	rmdir(dir);
}

TEST(fdcheck, bad_descriptor_and_bad_kind)
{
	int fd, fl = 12345;

	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fdmsg_fd_check_kind(fd, 0), -EINVAL);
	cr_assert_eq(fdmsg_fd_check_kind(fd, S_IFMT), -EINVAL);
	cr_assert_eq(fdmsg_fd_check_kind(fd, S_IFMT | 0777), -EINVAL);
	cr_assert_eq(fdmsg_fd_check_kind(fd, S_IFCHR | 0644), -EINVAL);
	cr_assert_eq(fdmsg_fd_check_kind(fd, S_IFCHR | S_IFIFO | S_IFDIR),
		     -EINVAL); /* 0070000: bits of kinds, not one */
	cr_assert_eq(fdmsg_fd_check_kind(fd, S_IFCHR), 0);
	cr_assert_eq(fdmsg_fd_status(fd, NULL), -EINVAL);
	cr_assert_eq(close(fd), 0);

	/* A number just closed. */
	cr_assert_eq(fdmsg_fd_check_kind(fd, S_IFREG), -EBADF);
	cr_assert_eq(fdmsg_fd_check_sealed(fd, 0), -EBADF);
	cr_assert_eq(fdmsg_fd_status(fd, &fl), -EBADF);
	cr_assert_eq(fl, 12345, "out-parameter written on failure");
	cr_assert_eq(fdmsg_fd_check_kind(-1, S_IFREG), -EBADF);
	cr_assert_eq(fdmsg_fd_check_sealed(-1, 0), -EBADF);
	cr_assert_eq(fdmsg_fd_status(-1, &fl), -EBADF);
}
