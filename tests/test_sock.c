/* SPDX-License-Identifier: ISC */
/*
 * Sockets: socketpair, listen/connect/accept on paths and abstract names,
 * what fdmsg_listen finds at its path (THREATS 36), the allow-list of
 * fdmsg_accept, peer credentials and pidfd liveness (THREATS 33), and
 * abstract name squatting (THREATS 35).  Every test works in a private
 * temporary directory, removed afterwards.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fdmsg.h"
#include "testutil.h"

#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76 /* Linux 6.5; older libc headers lack it */
#endif

static char tdir[64];

static void
tdir_make(void)
{
	strcpy(tdir, "/tmp/fdmsg-sock-XXXXXX");
	cr_assert_not_null(mkdtemp(tdir), "mkdtemp: %s", strerror(errno));
}

static void
tdir_remove(void)
{
	if (tdir[0] != '\0')
		(void)rm_tree(tdir);
	tdir[0] = '\0';
}

TestSuite(pair);
TestSuite(listen, .init = tdir_make, .fini = tdir_remove);
TestSuite(connect, .init = tdir_make, .fini = tdir_remove);
TestSuite(accept, .init = tdir_make, .fini = tdir_remove);
TestSuite(peer_cred, .init = tdir_make, .fini = tdir_remove);
TestSuite(squat, .init = tdir_make, .fini = tdir_remove);

/* tdir/name into buf. */
static const char *
tpath(char *buf, size_t n, const char *name)
{
	int r = snprintf(buf, n, "%s/%s", tdir, name);

	cr_assert(r > 0 && (size_t)r < n);
	return buf;
}

/* A unique abstract name. */
static const char *
abs_name(char *buf, size_t n, const char *tag)
{
	static unsigned seq;

	(void)snprintf(buf, n, "@fdmsg-test-%ld-%s-%u", (long)getpid(), tag,
		       seq++);
	return buf;
}

static int
sock_type(int fd)
{
	int t = -1;
	socklen_t len = sizeof(t);

	cr_assert_eq(getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &len), 0);
	return t;
}

static void
assert_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	cr_assert(fl >= 0 && (fl & FD_CLOEXEC), "fd %d not close-on-exec",
		  fd);
}

/* One byte each way: the two descriptors are the ends of one link. */
static void
assert_linked(int a, int b)
{
	char c = 0;

	cr_assert_eq(send(a, "x", 1, MSG_NOSIGNAL), 1);
	cr_assert_eq(recv(b, &c, 1, 0), 1);
	cr_assert_eq(c, 'x');
	cr_assert_eq(send(b, "y", 1, MSG_NOSIGNAL), 1);
	cr_assert_eq(recv(a, &c, 1, 0), 1);
	cr_assert_eq(c, 'y');
}

/* Connects to path and accepts on lfd; asserts the two are linked. */
static void
assert_serves(int lfd, const char *path, int type)
{
	int c, s;

	c = fdmsg_connect(path, type);
	cr_assert(c >= 0, "connect %s: %s", path, fdmsg_strerror(c));
	s = fdmsg_accept(lfd, NULL, 0);
	cr_assert(s >= 0, "accept: %s", fdmsg_strerror(s));
	assert_cloexec(c);
	assert_cloexec(s);
	assert_linked(c, s);
	close(c);
	close(s);
}

/* A raw listener (bind + listen, no fdmsg) at path. */
static int
raw_listen(const char *path, int type, int backlog)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	cr_assert(fd >= 0);
	cr_assert(strlen(path) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0,
		     "bind %s: %s", path, strerror(errno));
	if (type != SOCK_DGRAM)
		cr_assert_eq(listen(fd, backlog), 0);
	return fd;
}

/* A socket file nobody holds: bound, listened on, closed, not unlinked. */
static void
make_stale(const char *path, int type)
{
	close(raw_listen(path, type, 1));
}

/* The Pid: line of /proc/self/fdinfo/<pidfd>. */
static long
fdinfo_pid(int pidfd)
{
	char path[64], buf[1024];
	const char *p;
	ssize_t n;
	int fd;

	(void)snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	cr_assert(n > 0);
	buf[n] = '\0';
	p = strstr(buf, "\nPid:");
	cr_assert_not_null(p, "no Pid: in %s", buf);
	return strtol(p + 5, NULL, 10);
}

static void
assert_child_ok(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "child status %#x", st);
}

static void
assert_cred_untouched(const struct fdmsg_cred *c)
{
	cr_assert(c->pid == 4242 && c->uid == 4242 && c->gid == 4242 &&
		  c->pidfd == 4242, "cred written on failure");
}

static void
cred_poison(struct fdmsg_cred *c)
{
	c->pid = 4242;
	c->uid = 4242;
	c->gid = 4242;
	c->pidfd = 4242;
}

/* ------------------------------------------------------------------ */

TEST(pair, every_type_and_default)
{
	static const int types[] = { SOCK_SEQPACKET, SOCK_STREAM, SOCK_DGRAM,
				     0 };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		int fds[2] = { -1, -1 };

		cr_assert_eq(fdmsg_pair(types[i], fds), 0);
		cr_assert_eq(sock_type(fds[0]),
			     types[i] ? types[i] : SOCK_SEQPACKET);
		assert_cloexec(fds[0]);
		assert_cloexec(fds[1]);
		assert_linked(fds[0], fds[1]);
		close(fds[0]);
		close(fds[1]);
	}
}

TEST(pair, bad_type_is_einval_and_writes_nothing)
{
	static const int bad[] = { SOCK_RAW, 42, -1,
				   SOCK_SEQPACKET | SOCK_NONBLOCK,
				   SOCK_STREAM | SOCK_CLOEXEC };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fds[2] = { -7, -7 };

		cr_assert_eq(fdmsg_pair(bad[i], fds), -EINVAL, "type %d",
			     bad[i]);
		cr_assert(fds[0] == -7 && fds[1] == -7);
	}
	cr_assert_eq(fdmsg_pair(SOCK_STREAM, NULL), -EINVAL);
}

/* ------------------------------------------------------------------ */

TEST(listen, path_default_mode_is_0600)
{
	char p[128];
	struct stat st;
	int lfd;

	(void)umask(0);
	lfd = fdmsg_listen(tpath(p, sizeof(p), "s"), 0, 0);
	cr_assert(lfd >= 0, "listen: %s", fdmsg_strerror(lfd));
	assert_cloexec(lfd);
	cr_assert_eq(sock_type(lfd), SOCK_SEQPACKET);
	cr_assert_eq(lstat(p, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o",
		     (unsigned)(st.st_mode & 07777));
	assert_serves(lfd, p, 0);
	/* Nothing else was left in the directory on the way. */
	cr_assert_eq(dir_entry_count(tdir), 1);
	close(lfd);
}

TEST(listen, path_given_mode_is_exact_whatever_the_umask)
{
	static const mode_t umasks[] = { 022, 077, 0 };
	char p[128];
	struct stat st;

	for (size_t i = 0; i < sizeof(umasks) / sizeof(umasks[0]); i++) {
		int lfd;

		(void)umask(umasks[i]);
		tpath(p, sizeof(p), i == 0 ? "a" : i == 1 ? "b" : "c");
		lfd = fdmsg_listen(p, SOCK_STREAM, 0660);
		cr_assert(lfd >= 0, "listen: %s", fdmsg_strerror(lfd));
		cr_assert_eq(lstat(p, &st), 0);
		cr_assert_eq(st.st_mode & 07777, 0660, "umask %o: mode %o",
			     (unsigned)umasks[i],
			     (unsigned)(st.st_mode & 07777));
		assert_serves(lfd, p, SOCK_STREAM);
		close(lfd);
	}
	(void)umask(022);
}

/*
 * chmod(2) as the library sees it: when it changes a socket file in tdir
 * (the temporary name the socket is bound at), the mode that file had
 * until then is noted, and whether path (watch_path) already exists.
 * That is the first moment a test can look at a new socket file.
 */
static char watch_path[128];
static mode_t watch_mode;
static int watch_wider, watch_calls, watch_early;
static int no_proc; /* chmod through /proc/self/fd fails ENOENT */

int
chmod(const char *path, mode_t mode)
{
	struct stat st, dir, fin;

	if (no_proc && strncmp(path, "/proc/", 6) == 0) {
		errno = ENOENT;
		return -1;
	}
	if (watch_path[0] != '\0' && stat(path, &st) == 0 &&
	    S_ISSOCK(st.st_mode) && stat(tdir, &dir) == 0 &&
	    st.st_dev == dir.st_dev) {
		watch_calls++;
		if (st.st_mode & 07777 & ~watch_mode)
			watch_wider++;
		if (lstat(watch_path, &fin) == 0)
			watch_early++;
	}
	return fchmodat(AT_FDCWD, path, mode, 0);
}

TEST(listen, socket_file_never_wider_than_mode)
{
	static const struct {
		mode_t umask, mode;
	} cases[] = { { 0, 0600 }, { 0, 0660 }, { 022, 0660 },
		      { 077, 0666 }, { 0, 0 } };
	struct stat st;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mode_t want = cases[i].mode ? cases[i].mode : 0600;
		char name[8];
		int lfd;

		(void)snprintf(name, sizeof(name), "s%zu", i);
		tpath(watch_path, sizeof(watch_path), name);
		watch_mode = want;
		watch_wider = watch_calls = watch_early = 0;
		(void)umask(cases[i].umask);
		lfd = fdmsg_listen(watch_path, 0, cases[i].mode);
		cr_assert(lfd >= 0, "listen: %s", fdmsg_strerror(lfd));
		cr_assert_eq(watch_wider, 0, "mode %o, umask %o: wider first",
			     (unsigned)want, (unsigned)cases[i].umask);
		/* Where the umask narrowed the file, it was widened, before
		 * it was published at the path. */
		if (want & cases[i].umask)
			cr_assert_gt(watch_calls, 0);
		cr_assert_eq(watch_early, 0, "published before its mode");
		cr_assert_eq(lstat(watch_path, &st), 0);
		cr_assert_eq(st.st_mode & 07777, want);
		close(lfd);
	}
	watch_path[0] = '\0';
	(void)umask(022);
}

TEST(listen, mode_beyond_permission_bits_is_einval)
{
	char p[128];
	struct stat st;

	tpath(p, sizeof(p), "s");
	cr_assert_eq(fdmsg_listen(p, 0, 04600), -EINVAL);
	cr_assert_eq(fdmsg_listen(p, 0, 01600), -EINVAL);
	cr_assert_eq(lstat(p, &st), -1);
}

TEST(listen, name_too_long_at_sun_path_size_ok_one_less)
{
	char p[SUN_PATH_SIZE + 8];
	size_t base;
	int lfd;

	/* tdir/xxx...x of exactly sizeof(sun_path) characters. */
	base = (size_t)snprintf(p, sizeof(p), "%s/", tdir);
	cr_assert(base < SUN_PATH_SIZE - 1);
	memset(p + base, 'x', SUN_PATH_SIZE - base);
	p[SUN_PATH_SIZE] = '\0';
	cr_assert_eq(strlen(p), SUN_PATH_SIZE);
	cr_assert_eq(fdmsg_listen(p, 0, 0), -ENAMETOOLONG);
	cr_assert_eq(fdmsg_connect(p, 0), -ENAMETOOLONG);

	p[SUN_PATH_SIZE - 1] = '\0'; /* one less: fits with its NUL */
	lfd = fdmsg_listen(p, 0, 0);
	cr_assert(lfd >= 0, "listen: %s", fdmsg_strerror(lfd));
	assert_serves(lfd, p, 0);
	close(lfd);
}

TEST(listen, empty_or_null_path_is_einval)
{
	cr_assert_eq(fdmsg_listen("", 0, 0), -EINVAL);
	cr_assert_eq(fdmsg_listen(NULL, 0, 0), -EINVAL);
	cr_assert_eq(fdmsg_listen("@", 0, 0), -EINVAL);
	cr_assert_eq(fdmsg_connect("", 0), -EINVAL);
	cr_assert_eq(fdmsg_connect(NULL, 0), -EINVAL);
	cr_assert_eq(fdmsg_connect("@", 0), -EINVAL);
}

TEST(listen, bad_type_is_einval_and_creates_nothing)
{
	char p[128];
	struct stat st;

	tpath(p, sizeof(p), "s");
	cr_assert_eq(fdmsg_listen(p, SOCK_RAW, 0), -EINVAL);
	cr_assert_eq(fdmsg_listen(p, SOCK_STREAM | SOCK_NONBLOCK, 0),
		     -EINVAL);
	cr_assert_eq(fdmsg_connect(p, 99), -EINVAL);
	cr_assert_eq(lstat(p, &st), -1);
}

TEST(listen, abstract_name_serves_every_type)
{
	static const int types[] = { SOCK_SEQPACKET, SOCK_STREAM };
	char name[96];

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		int lfd;

		abs_name(name, sizeof(name), "abs");
		lfd = fdmsg_listen(name, types[i], 0);
		cr_assert(lfd >= 0, "listen %s: %s", name,
			  fdmsg_strerror(lfd));
		assert_serves(lfd, name, types[i]);
		/* The name is the abstract one, not a file "@...". */
		cr_assert_eq(access(name, F_OK), -1);
		close(lfd);
	}
}

TEST(listen, abstract_name_length_limit)
{
	char name[SUN_PATH_SIZE + 8];
	int lfd;

	/* "@" + sizeof(sun_path) characters: one too many. */
	abs_name(name, sizeof(name), "long");
	memset(name + strlen(name), 'z', sizeof(name) - strlen(name));
	name[SUN_PATH_SIZE + 1] = '\0';
	cr_assert_eq(fdmsg_listen(name, 0, 0), -ENAMETOOLONG);
	cr_assert_eq(fdmsg_connect(name, 0), -ENAMETOOLONG);
	/* "@" + sizeof(sun_path) - 1: sun_path[0] = 0 and the name fill it. */
	name[SUN_PATH_SIZE] = '\0';
	lfd = fdmsg_listen(name, 0, 0);
	cr_assert(lfd >= 0, "listen: %s", fdmsg_strerror(lfd));
	assert_serves(lfd, name, 0);
	close(lfd);
}

TEST(listen, abstract_name_in_use_is_eaddrinuse)
{
	char name[96];
	int a, b;

	abs_name(name, sizeof(name), "dup");
	a = fdmsg_listen(name, 0, 0);
	cr_assert(a >= 0);
	b = fdmsg_listen(name, 0, 0);
	cr_assert_eq(b, -EADDRINUSE);
	assert_serves(a, name, 0);
	close(a);
}

TEST(listen, threat36_regular_file_is_eexist_and_kept)
{
	char p[128], buf[16] = { 0 };
	struct stat st, st2;
	int fd;

	tpath(p, sizeof(p), "file");
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "precious", 8), 8);
	close(fd);
	cr_assert_eq(lstat(p, &st), 0);

	cr_assert_eq(fdmsg_listen(p, 0, 0), -EEXIST);
	cr_assert_eq(fdmsg_listen(p, SOCK_DGRAM, 0), -EEXIST);

	cr_assert_eq(lstat(p, &st2), 0);
	cr_assert(S_ISREG(st2.st_mode) && st2.st_ino == st.st_ino &&
		  (st2.st_mode & 07777) == 0644);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	cr_assert(fd >= 0);
	cr_assert_eq(read(fd, buf, sizeof(buf)), 8);
	cr_assert_str_eq(buf, "precious");
	close(fd);
}

TEST(listen, threat36_dangling_symlink_is_eexist_and_kept)
{
	char p[128], target[128], got[128] = { 0 };
	struct stat st;

	tpath(p, sizeof(p), "link");
	tpath(target, sizeof(target), "nowhere");
	cr_assert_eq(symlink(target, p), 0);
	cr_assert_eq(fdmsg_listen(p, 0, 0), -EEXIST);
	cr_assert_eq(lstat(p, &st), 0);
	cr_assert(S_ISLNK(st.st_mode));
	cr_assert(readlink(p, got, sizeof(got) - 1) > 0);
	cr_assert_str_eq(got, target);
	cr_assert_eq(access(target, F_OK), -1); /* nothing made through it */
}

TEST(listen, threat36_symlink_to_socket_is_eexist_and_kept)
{
	char p[128], live[128], stale[128];
	struct stat st;
	int lfd;

	/* To a live listener: neither the link nor the listener move. */
	tpath(live, sizeof(live), "live");
	tpath(p, sizeof(p), "link-live");
	lfd = fdmsg_listen(live, 0, 0);
	cr_assert(lfd >= 0);
	cr_assert_eq(symlink(live, p), 0);
	cr_assert_eq(fdmsg_listen(p, 0, 0), -EEXIST);
	cr_assert_eq(lstat(p, &st), 0);
	cr_assert(S_ISLNK(st.st_mode));
	assert_serves(lfd, live, 0);

	/* To a stale socket: still a link, the stale target not touched. */
	tpath(stale, sizeof(stale), "stale");
	make_stale(stale, SOCK_SEQPACKET);
	tpath(p, sizeof(p), "link-stale");
	cr_assert_eq(symlink(stale, p), 0);
	cr_assert_eq(fdmsg_listen(p, 0, 0), -EEXIST);
	cr_assert_eq(lstat(p, &st), 0);
	cr_assert(S_ISLNK(st.st_mode));
	cr_assert_eq(lstat(stale, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	close(lfd);
}

TEST(listen, threat36_directory_is_eexist_and_kept)
{
	char p[128], inner[160];
	struct stat st;
	int fd;

	tpath(p, sizeof(p), "dir");
	cr_assert_eq(mkdir(p, 0755), 0);
	(void)snprintf(inner, sizeof(inner), "%s/keep", p);
	fd = open(inner, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	cr_assert(fd >= 0);
	close(fd);
	cr_assert_eq(fdmsg_listen(p, 0, 0), -EEXIST);
	cr_assert_eq(lstat(p, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(access(inner, F_OK), 0);
}

TEST(listen, threat36_live_listener_is_eaddrinuse_and_keeps_serving)
{
	char p[128];
	struct stat st, st2;
	int a;

	tpath(p, sizeof(p), "s");
	a = fdmsg_listen(p, 0, 0);
	cr_assert(a >= 0);
	cr_assert_eq(lstat(p, &st), 0);
	cr_assert_eq(fdmsg_listen(p, 0, 0), -EADDRINUSE);
	cr_assert_eq(lstat(p, &st2), 0);
	cr_assert_eq(st2.st_ino, st.st_ino);
	/* The probe's connection is queued first on the listener: it has
	 * gone already. */
	{
		char c;
		int s = fdmsg_accept(a, NULL, 0);

		cr_assert(s >= 0);
		cr_assert_eq(recv(s, &c, 1, 0), 0);
		close(s);
	}
	assert_serves(a, p, 0);
	close(a);
}

TEST(listen, threat36_listener_with_full_backlog_is_eaddrinuse)
{
	char p[128];
	struct stat st, st2;
	int a, filler;

	tpath(p, sizeof(p), "s");
	a = raw_listen(p, SOCK_SEQPACKET, 0);
	cr_assert_eq(lstat(p, &st), 0);
	/* Fill the backlog until a non-blocking connect says EAGAIN. */
	filler = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int probe;

		strcpy(sa.sun_path, p);
		cr_assert_eq(connect(filler, (struct sockaddr *)&sa,
				     sizeof(sa)), 0);
		probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
		cr_assert_eq(connect(probe, (struct sockaddr *)&sa,
				     sizeof(sa)), -1);
		cr_assert_eq(errno, EAGAIN);
		close(probe);
	}
	cr_assert_eq(fdmsg_listen(p, 0, 0), -EADDRINUSE);
	cr_assert_eq(lstat(p, &st2), 0);
	cr_assert_eq(st2.st_ino, st.st_ino);
	close(filler);
	close(a);
}

TEST(listen, threat36_listener_of_another_type_is_eaddrinuse)
{
	char p[128];
	struct stat st;
	int a, s;

	tpath(p, sizeof(p), "s");
	a = fdmsg_listen(p, SOCK_STREAM, 0);
	cr_assert(a >= 0);
	cr_assert_eq(fdmsg_listen(p, SOCK_SEQPACKET, 0), -EADDRINUSE);
	cr_assert_eq(fdmsg_listen(p, SOCK_DGRAM, 0), -EADDRINUSE);
	cr_assert_eq(lstat(p, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	assert_serves(a, p, SOCK_STREAM);
	close(a);

	/* A bound datagram socket is live too. */
	tpath(p, sizeof(p), "d");
	a = fdmsg_listen(p, SOCK_DGRAM, 0);
	cr_assert(a >= 0);
	cr_assert_eq(fdmsg_listen(p, SOCK_DGRAM, 0), -EADDRINUSE);
	s = fdmsg_connect(p, SOCK_DGRAM);
	cr_assert(s >= 0);
	close(s);
	close(a);
}

TEST(listen, stale_socket_is_replaced)
{
	static const int types[] = { SOCK_SEQPACKET, SOCK_STREAM };
	char p[128];
	struct stat st2;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		int lfd;

		tpath(p, sizeof(p), i == 0 ? "seq" : "stream");
		make_stale(p, types[i]);
		cr_assert_eq(fdmsg_connect(p, types[i]), -ECONNREFUSED);
		cr_assert_eq(chmod(p, 0777), 0);

		lfd = fdmsg_listen(p, types[i], 0);
		cr_assert(lfd >= 0, "listen: %s", fdmsg_strerror(lfd));
		cr_assert_eq(lstat(p, &st2), 0);
		/* A new file (tmpfs may reuse the inode number: the mode
		 * tells them apart). */
		cr_assert(S_ISSOCK(st2.st_mode));
		cr_assert_eq(st2.st_mode & 07777, 0600);
		assert_serves(lfd, p, types[i]);
		close(lfd);
	}
}

TEST(listen, dgram_binds_without_listening)
{
	char p[128], buf[8];
	int lfd, c, acc = -1;
	socklen_t len = sizeof(acc);

	tpath(p, sizeof(p), "d");
	make_stale(p, SOCK_DGRAM);
	lfd = fdmsg_listen(p, SOCK_DGRAM, 0);
	cr_assert(lfd >= 0, "listen: %s", fdmsg_strerror(lfd));
	cr_assert_eq(getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len),
		     0);
	cr_assert_eq(acc, 0);
	c = fdmsg_connect(p, SOCK_DGRAM);
	cr_assert(c >= 0);
	assert_cloexec(c);
	cr_assert_eq(send(c, "dgram", 5, 0), 5);
	cr_assert_eq(recv(lfd, buf, sizeof(buf), 0), 5);
	cr_assert_eq(memcmp(buf, "dgram", 5), 0);
	close(c);
	close(lfd);
}

TEST(listen, missing_directory_is_enoent)
{
	char p[128];

	tpath(p, sizeof(p), "no/such/s");
	cr_assert_eq(fdmsg_listen(p, 0, 0), -ENOENT);
}

/* ------------------------------------------------------------------ */

TEST(connect, errors_are_negative_errno)
{
	char p[128];
	int fd;

	cr_assert_eq(fdmsg_connect(tpath(p, sizeof(p), "none"), 0), -ENOENT);
	make_stale(tpath(p, sizeof(p), "stale"), SOCK_SEQPACKET);
	cr_assert_eq(fdmsg_connect(p, 0), -ECONNREFUSED);
	fd = open(tpath(p, sizeof(p), "file"), O_CREAT | O_WRONLY | O_CLOEXEC,
		  0600);
	cr_assert(fd >= 0);
	close(fd);
	cr_assert_eq(fdmsg_connect(p, 0), -ECONNREFUSED);
}

TEST(connect, wrong_type_is_eprototype)
{
	char p[128];
	int lfd;

	lfd = fdmsg_listen(tpath(p, sizeof(p), "s"), SOCK_STREAM, 0);
	cr_assert(lfd >= 0);
	cr_assert_eq(fdmsg_connect(p, SOCK_SEQPACKET), -EPROTOTYPE);
	close(lfd);
}

static volatile sig_atomic_t alarms;
static volatile int connect_done;

static void
on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

struct late_accept {
	int lfd;
	int got;
};

/* Waits for the interrupts to land, then makes room in the backlog. */
static void *
accept_late(void *arg)
{
	struct late_accept *la = arg;

	while (alarms < 3 && !connect_done)
		usleep(1000);
	la->got = accept4(la->lfd, NULL, NULL, SOCK_CLOEXEC); /* filler */
	return NULL;
}

TEST(connect, eintr_restarts_until_connected)
{
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	struct itimerval it = { { 0, 5000 }, { 0, 5000 } }, off = { 0 };
	struct late_accept la = { -1, -1 };
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	pthread_t th;
	char p[128];
	int filler, c, s;

	la.lfd = raw_listen(tpath(p, sizeof(p), "s"), SOCK_SEQPACKET, 0);
	strcpy(addr.sun_path, p);
	filler = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	cr_assert_eq(connect(filler, (struct sockaddr *)&addr, sizeof(addr)),
		     0);
	/* The backlog is full: fdmsg_connect blocks, and SIGALRM without
	 * SA_RESTART cuts connect(2) again and again. */
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGALRM, &sa, &old), 0);
	alarms = 0;
	/* The helper thread blocks SIGALRM so that every alarm lands on
	 * the thread in connect(2). */
	{
		sigset_t set, prev;

		sigemptyset(&set);
		sigaddset(&set, SIGALRM);
		cr_assert_eq(pthread_sigmask(SIG_BLOCK, &set, &prev), 0);
		cr_assert_eq(pthread_create(&th, NULL, accept_late, &la), 0);
		cr_assert_eq(pthread_sigmask(SIG_SETMASK, &prev, NULL), 0);
	}
	cr_assert_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	connect_done = 0;
	c = fdmsg_connect(p, SOCK_SEQPACKET);
	connect_done = 1;
	cr_assert_eq(setitimer(ITIMER_REAL, &off, NULL), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_eq(sigaction(SIGALRM, &old, NULL), 0);
	cr_assert(la.got >= 0);
	close(la.got);
	close(filler);

	cr_assert(c >= 0, "connect: %s", fdmsg_strerror(c));
	cr_assert(alarms >= 3);
	/* Queued behind the filler: ours, connected for real. */
	s = accept4(la.lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	cr_assert(s >= 0);
	assert_linked(c, s);
	close(s);
	close(c);
	close(la.lfd);
}

/* ------------------------------------------------------------------ */

TEST(accept, allow_list_with_our_uid_accepts)
{
	char p[128];
	uid_t allow[3] = { 12345, getuid(), 54321 };
	int lfd, c, s;

	lfd = fdmsg_listen(tpath(p, sizeof(p), "s"), 0, 0);
	cr_assert(lfd >= 0);
	c = fdmsg_connect(p, 0);
	cr_assert(c >= 0);
	s = fdmsg_accept(lfd, allow, 3);
	cr_assert(s >= 0, "accept: %s", fdmsg_strerror(s));
	assert_cloexec(s);
	assert_linked(c, s);
	close(s);
	close(c);
	close(lfd);
}

TEST(accept, allow_list_without_our_uid_is_eperm_and_closed)
{
	static const int types[] = { SOCK_SEQPACKET, SOCK_STREAM };
	uid_t allow[1] = { getuid() + 1 };
	char p[128];

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		char c;
		ssize_t r;
		int lfd, cfd;

		lfd = fdmsg_listen(tpath(p, sizeof(p), i ? "b" : "a"),
				   types[i], 0);
		cr_assert(lfd >= 0);
		cfd = fdmsg_connect(p, types[i]);
		cr_assert(cfd >= 0);
		cr_assert_eq(fdmsg_accept(lfd, allow, 1), -EPERM);
		/* The refused client sees the end, not a hang. */
		r = recv(cfd, &c, 1, 0);
		cr_assert(r == 0 || (r < 0 && errno == ECONNRESET),
			  "recv %zd errno %d", r, errno);
		close(cfd);
		close(lfd);
	}
}

TEST(accept, null_allow_list_with_count_is_einval_and_accepts_nothing)
{
	char p[128];
	int lfd, c, s;

	lfd = fdmsg_listen(tpath(p, sizeof(p), "s"), 0, 0);
	cr_assert(lfd >= 0);
	c = fdmsg_connect(p, 0);
	cr_assert(c >= 0);
	cr_assert_eq(fdmsg_accept(lfd, NULL, 1), -EINVAL);
	cr_assert_eq(fdmsg_accept(-1, NULL, 0), -EINVAL);
	/* The pending connection is still there. */
	s = fdmsg_accept(lfd, NULL, 0);
	cr_assert(s >= 0);
	assert_linked(c, s);
	close(s);
	close(c);
	close(lfd);
}

TEST(accept, nonblocking_listener_passes_eagain)
{
	char p[128];
	int lfd;

	lfd = fdmsg_listen(tpath(p, sizeof(p), "s"), 0, 0);
	cr_assert(lfd >= 0);
	cr_assert_eq(fcntl(lfd, F_SETFL, O_NONBLOCK), 0);
	cr_assert_eq(fdmsg_accept(lfd, NULL, 0), -EAGAIN);
	assert_serves(lfd, p, 0);
	close(lfd);
}

TEST(accept, not_a_listener)
{
	int fds[2];

	cr_assert_eq(fdmsg_pair(0, fds), 0);
	cr_assert_eq(fdmsg_accept(fds[0], NULL, 0), -EINVAL);
	close(fds[0]);
	close(fds[1]);
}

/* ------------------------------------------------------------------ */

TEST(peer_cred, socketpair_gives_our_own)
{
	struct fdmsg_cred c;
	int fds[2];

	cr_assert_eq(fdmsg_pair(0, fds), 0);
	cr_assert_eq(fdmsg_peer_cred(fds[0], 0, &c), 0);
	cr_assert_eq(c.pid, getpid());
	cr_assert_eq(c.uid, getuid());
	cr_assert_eq(c.gid, getgid());
	cr_assert_eq(c.pidfd, -1);
	close(fds[0]);
	close(fds[1]);
}

TEST(peer_cred, bad_arguments)
{
	struct fdmsg_cred c;
	int fds[2], pfd[2];

	cr_assert_eq(fdmsg_pair(0, fds), 0);
	cred_poison(&c);
	cr_assert_eq(fdmsg_peer_cred(fds[0], 0x80, &c), -EINVAL);
	cr_assert_eq(fdmsg_peer_cred(fds[0], 0, NULL), -EINVAL);
	cr_assert_eq(fdmsg_peer_cred(-1, 0, &c), -EINVAL);
	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
	cr_assert_eq(fdmsg_peer_cred(pfd[0], 0, &c), -ENOTSOCK);
	cr_assert_eq(fdmsg_peer_cred(pfd[0], FDMSG_CRED_PIDFD, &c),
		     -ENOTSOCK);
	assert_cred_untouched(&c);
	close(pfd[0]);
	close(pfd[1]);
	close(fds[0]);
	close(fds[1]);
}

TEST(peer_cred, pidfd_on_socketpair_names_us)
{
	struct fdmsg_cred c;
	int fds[2], r;

	cr_assert_eq(fdmsg_pair(0, fds), 0);
	r = fdmsg_peer_cred(fds[0], FDMSG_CRED_PIDFD, &c);
	if (r == -EOPNOTSUPP) {
		close(fds[0]);
		close(fds[1]);
		cr_skip_test("no SO_PEERPIDFD in this kernel");
	}
	cr_assert_eq(r, 0, "peer_cred: %s", fdmsg_strerror(r));
	cr_assert(c.pidfd > 2);
	assert_cloexec(c.pidfd);
	cr_assert_eq(fdinfo_pid(c.pidfd), (long)getpid());
	cr_assert_eq(c.pid, getpid());
	close(c.pidfd);
	close(fds[0]);
	close(fds[1]);
}

/*
 * A child connects to p and holds the connection until the parent writes
 * a byte or closes.
 */
static pid_t
connecting_child(const char *p, int exit_at_once)
{
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		char c;
		int fd = fdmsg_connect(p, 0);

		if (fd < 0)
			_exit(10);
		if (exit_at_once)
			_exit(0);
		if (recv(fd, &c, 1, 0) < 0)
			_exit(11);
		_exit(0);
	}
	return pid;
}

TEST(peer_cred, across_fork_names_the_child)
{
	struct fdmsg_cred c;
	char p[128];
	pid_t pid;
	int lfd, s, r;

	lfd = fdmsg_listen(tpath(p, sizeof(p), "s"), 0, 0);
	cr_assert(lfd >= 0);
	pid = connecting_child(p, 0);
	s = fdmsg_accept(lfd, NULL, 0);
	cr_assert(s >= 0);
	cr_assert_eq(fdmsg_peer_cred(s, 0, &c), 0);
	cr_assert_eq(c.pid, pid);
	cr_assert_eq(c.uid, getuid());
	cr_assert_eq(c.gid, getgid());
	cr_assert_eq(c.pidfd, -1);

	r = fdmsg_peer_cred(s, FDMSG_CRED_PIDFD, &c);
	if (r != -EOPNOTSUPP) {
		cr_assert_eq(r, 0, "peer_cred: %s", fdmsg_strerror(r));
		cr_assert_eq(c.pid, pid);
		cr_assert_eq(fdinfo_pid(c.pidfd), (long)pid);
		assert_cloexec(c.pidfd);
		close(c.pidfd);
	}
	cr_assert_eq(send(s, "x", 1, MSG_NOSIGNAL), 1);
	assert_child_ok(pid);
	close(s);
	close(lfd);
}

/*
 * THREATS 33: the peer connected, exited and was reaped; its pid is free
 * for reuse.  With FDMSG_CRED_PIDFD the call says so (-ESRCH) and writes
 * nothing; without it SO_PEERCRED still reports the old pid, as
 * documented: that pid is only a hint, the pidfd is the authority.
 */
TEST(peer_cred, threat33_reaped_peer_is_esrch_never_the_stale_pid)
{
	struct fdmsg_cred c;
	char p[128];
	pid_t pid;
	int lfd, s, r;

	lfd = fdmsg_listen(tpath(p, sizeof(p), "s"), 0, 0);
	cr_assert(lfd >= 0);
	pid = connecting_child(p, 1);
	assert_child_ok(pid); /* exited and reaped */
	s = fdmsg_accept(lfd, NULL, 0);
	cr_assert(s >= 0);

	cred_poison(&c);
	r = fdmsg_peer_cred(s, FDMSG_CRED_PIDFD, &c);
	if (r == -EOPNOTSUPP) {
		close(s);
		close(lfd);
		cr_skip_test("no SO_PEERPIDFD in this kernel");
	}
	cr_assert_eq(r, -ESRCH, "peer_cred: %s", fdmsg_strerror(r));
	assert_cred_untouched(&c);

	cr_assert_eq(fdmsg_peer_cred(s, 0, &c), 0);
	cr_assert_eq(c.pid, pid); /* stale: documented */
	cr_assert_eq(c.pidfd, -1);
	close(s);
	close(lfd);
}

/* ------------------------------------------------------------------ */

/*
 * THREATS 35: a squatter takes the abstract name first.  The real
 * service's listen fails with -EADDRINUSE, and a client that connects
 * anyway can see who listens (the squatter's pid, and its uid: as root
 * the squatter drops to nobody, so the uid differs from ours).
 */
TEST(squat, threat35_abstract_squatter_is_visible_to_client)
{
	struct fdmsg_cred c;
	char name[96], ready;
	uid_t squat_uid = getuid() == 0 ? 65534 : getuid();
	int sync[2], lfd, cfd;
	pid_t pid;

	abs_name(name, sizeof(name), "squat");
	cr_assert_eq(pipe2(sync, O_CLOEXEC), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int l, s;
		char x;

		close(sync[0]);
		if (getuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(10);
		l = fdmsg_listen(name, 0, 0);
		if (l < 0)
			_exit(11);
		if (write(sync[1], "r", 1) != 1)
			_exit(12);
		s = fdmsg_accept(l, NULL, 0);
		if (s < 0)
			_exit(13);
		/* Hold on until the client has looked and gone. */
		if (recv(s, &x, 1, 0) != 0)
			_exit(14);
		_exit(0);
	}
	close(sync[1]);
	cr_assert_eq(read(sync[0], &ready, 1), 1);
	close(sync[0]);

	lfd = fdmsg_listen(name, 0, 0);
	cr_assert_eq(lfd, -EADDRINUSE);

	cfd = fdmsg_connect(name, 0);
	cr_assert(cfd >= 0);
	cr_assert_eq(fdmsg_peer_cred(cfd, 0, &c), 0);
	cr_assert_eq(c.pid, pid);
	cr_assert_eq(c.uid, squat_uid);
	if (getuid() == 0)
		cr_assert_neq(c.uid, getuid());
	close(cfd);
	assert_child_ok(pid);
}

/* ------------------------------------------------------------------ */
/* FDMSG_SOCK_CREDS, FDMSG_SOCK_PIDFD: credentials from the first byte */
/* ------------------------------------------------------------------ */

TestSuite(sockflags, .init = tdir_make, .fini = tdir_remove);

/* Frame k: a 16-byte header, no payload, type 100 + k. */
static void
frame_bytes(uint8_t out[16], unsigned k)
{
	struct fdmsg_hdr h;

	memset(&h, 0, sizeof(h));
	h.version = 1;
	h.len = 16;
	h.type = 100 + k;
	cr_assert_eq(fdmsg_hdr_encode(&h, out), 16);
}

/* Writes frame k on fd with a raw send(2): no fdmsg on the sender. */
static int
raw_frame(int fd, unsigned k)
{
	uint8_t b[16];

	frame_bytes(b, k);
	return send(fd, b, sizeof(b), MSG_NOSIGNAL) == 16 ? 0 : -1;
}

static int
sockopt_int(int fd, int opt)
{
	int v = -1;
	socklen_t len = sizeof(v);

	cr_assert_eq(getsockopt(fd, SOL_SOCKET, opt, &v, &len), 0);
	return v;
}

/* Does the kernel attach pidfds (SO_PASSPIDFD, Linux 6.5)? */
static int
have_passpidfd(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, r;

	cr_assert_geq(fd, 0);
	r = setsockopt(fd, SOL_SOCKET, SO_PASSPIDFD, &one, sizeof(one));
	close(fd);
	return r == 0;
}

/*
 * Receives frames 0..n-1 on a new channel over fd (freed after; fd stays
 * open) with opt_flags, into has_cred[k] and cred[k]; with keep, takes
 * each frame's pidfd into cred[k].pidfd (else -1).
 */
static void
recv_frames(int fd, unsigned opt_flags, unsigned n,
	    struct fdmsg_msg *keep, int *has_cred,
	    struct fdmsg_cred *cred)
{
	struct fdmsg_chan *ch;
	struct fdmsg_opts o;
	struct fdmsg_msg m;
	unsigned k;
	int r;

	fdmsg_opts_init(&o);
	o.flags = opt_flags;
	cr_assert_eq(fdmsg_chan_new(&ch, fd, &o, 0), 0);
	memset(&m, 0, sizeof(m));
	for (k = 0; k < n; k++) {
		r = fdmsg_recv_wait(ch, &m, 10000);
		cr_assert_eq(r, 0, "frame %u: %s", k, fdmsg_strerror(r));
		cr_assert_eq(m.type, 100 + k);
		has_cred[k] = m.has_cred;
		cred[k] = m.cred;
		cred[k].pidfd = -1;
		if (keep != NULL && m.cred.pidfd >= 0) {
			cred[k].pidfd = fdmsg_msg_take_pidfd(&m);
			cr_assert_geq(cred[k].pidfd, 0);
		}
	}
	fdmsg_msg_release(&m);
	fdmsg_chan_free(ch);
}

static void
assert_cred_of(int has, const struct fdmsg_cred *c, pid_t pid)
{
	cr_assert_eq(has, 1, "no credentials");
	cr_assert_eq(c->pid, pid, "pid %d, want %d", (int)c->pid, (int)pid);
	cr_assert_eq(c->uid, getuid());
	cr_assert_eq(c->gid, getgid());
}

/* Not the writer's real credentials (none, or the kernel's placeholder). */
static void
assert_no_cred_of(int has, const struct fdmsg_cred *c, pid_t pid)
{
	cr_assert(!has || c->pid != pid, "credentials of %d present",
		  (int)pid);
}

/*
 * A child writes one frame on its end of a pair the moment it is forked
 * and exits; the parent makes its channel only once the child is gone.
 * With FDMSG_SOCK_CREDS the frame carries the child's credentials;
 * without, it carries none (SO_PASSCRED came too late).
 */
static void
pair_first_byte(int type, int flag)
{
	struct fdmsg_cred c[1];
	int fds[2], has[1];
	pid_t pid;

	cr_assert_eq(fdmsg_pair(type | flag, fds), 0);
	cr_assert_eq(sockopt_int(fds[0], SO_PASSCRED), flag != 0);
	cr_assert_eq(sockopt_int(fds[1], SO_PASSCRED), flag != 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(raw_frame(fds[1], 0) < 0 ? 10 : 0);
	}
	close(fds[1]);
	assert_child_ok(pid); /* written and gone */
	recv_frames(fds[0], FDMSG_OPT_CREDS, 1, NULL, has, c);
	if (flag)
		assert_cred_of(has[0], &c[0], pid);
	else
		assert_no_cred_of(has[0], &c[0], pid);
	close(fds[0]);
}

TEST(sockflags, pair_creds_from_the_first_byte)
{
	pair_first_byte(SOCK_SEQPACKET, FDMSG_SOCK_CREDS);
	pair_first_byte(SOCK_STREAM, FDMSG_SOCK_CREDS);
	pair_first_byte(SOCK_DGRAM, FDMSG_SOCK_CREDS);
	pair_first_byte(0, FDMSG_SOCK_CREDS);
	/* The defect the flag cures. */
	pair_first_byte(SOCK_SEQPACKET, 0);
	pair_first_byte(SOCK_STREAM, 0);
}

/*
 * A plain client connects to a listener made with flag and writes frame
 * 0 before accept, frame 1 between accept and fdmsg_chan_new; then
 * exits.  Returns the child's pid; has and c get both frames'.
 */
static pid_t
listen_first_bytes(int type, int flag, int *has,
		   struct fdmsg_cred *c)
{
	char p[128], x;
	int lfd, afd, go[2], done[2];
	pid_t pid;

	tpath(p, sizeof(p), "s");
	(void)unlink(p);
	lfd = fdmsg_listen(p, type | flag, 0);
	cr_assert(lfd >= 0, "listen: %s", fdmsg_strerror(lfd));
	cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(done, O_CLOEXEC), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = fdmsg_connect(p, type);

		close(go[1]);
		close(done[0]);
		if (fd < 0 || raw_frame(fd, 0) < 0 ||
		    write(done[1], "0", 1) != 1)
			_exit(10);
		if (read(go[0], &x, 1) != 1) /* accepted */
			_exit(11);
		if (raw_frame(fd, 1) < 0)
			_exit(12);
		_exit(0);
	}
	close(go[0]);
	close(done[1]);
	cr_assert_eq(read(done[0], &x, 1), 1);
	afd = fdmsg_accept(lfd, NULL, 0);
	cr_assert(afd >= 0);
	/* Linux copies the listener's options to the accepted socket. */
	cr_assert_eq(sockopt_int(afd, SO_PASSCRED),
		     (flag & FDMSG_SOCK_CREDS) != 0);
	if (flag & FDMSG_SOCK_PIDFD)
		cr_assert_eq(sockopt_int(afd, SO_PASSPIDFD), 1);
	cr_assert_eq(write(go[1], "g", 1), 1);
	assert_child_ok(pid);
	close(go[1]);
	close(done[0]);
	recv_frames(afd, FDMSG_OPT_CREDS, 2, NULL, has, c);
	close(afd);
	close(lfd);
	cr_assert_eq(unlink(p), 0);
	return pid;
}

TEST(sockflags, listen_creds_before_and_after_accept)
{
	static const int types[] = { SOCK_SEQPACKET, SOCK_STREAM };
	struct fdmsg_cred c[2];
	int has[2];
	pid_t pid;

	for (size_t i = 0; i < 2; i++) {
		pid = listen_first_bytes(types[i], FDMSG_SOCK_CREDS, has, c);
		assert_cred_of(has[0], &c[0], pid);
		assert_cred_of(has[1], &c[1], pid);
		/* Without the flag, what is written between accept and
		 * fdmsg_chan_new carries none. */
		pid = listen_first_bytes(types[i], 0, has, c);
		assert_no_cred_of(has[1], &c[1], pid);
	}
	cr_assert_eq(dir_entry_count(tdir), 0);
}

/* fdmsg_connect with the flag: what the server writes before the client
 * makes its channel carries the server's credentials. */
TEST(sockflags, connect_creds_from_the_first_byte)
{
	static const int types[] = { SOCK_SEQPACKET, SOCK_STREAM, SOCK_DGRAM };
	struct fdmsg_cred c[1];
	char p[128];
	int has[1];

	for (size_t i = 0; i < 3; i++) {
		int lfd, cfd, afd;

		tpath(p, sizeof(p), i == 0 ? "q" : i == 1 ? "t" : "d");
		lfd = fdmsg_listen(p, types[i], 0);
		cr_assert(lfd >= 0);
		cfd = fdmsg_connect(p, types[i] | FDMSG_SOCK_CREDS);
		cr_assert(cfd >= 0, "connect: %s", fdmsg_strerror(cfd));
		cr_assert_eq(sockopt_int(cfd, SO_PASSCRED), 1);
		if (types[i] == SOCK_DGRAM) {
			struct sockaddr_un sa;
			socklen_t sl = sizeof(sa);
			uint8_t b[16];

			/* With SO_PASSCRED, connect autobound the client
			 * (an abstract name): answer there. */
			cr_assert_eq(getsockname(cfd, (struct sockaddr *)&sa,
						 &sl), 0);
			cr_assert_gt(sl, offsetof(struct sockaddr_un,
						  sun_path));
			frame_bytes(b, 0);
			cr_assert_eq(sendto(lfd, b, 16, 0,
					    (struct sockaddr *)&sa, sl), 16);
		} else {
			afd = fdmsg_accept(lfd, NULL, 0);
			cr_assert(afd >= 0);
			cr_assert_eq(raw_frame(afd, 0), 0);
			close(afd);
		}
		recv_frames(cfd, FDMSG_OPT_CREDS, 1, NULL, has, c);
		assert_cred_of(has[0], &c[0], getpid());
		close(cfd);
		close(lfd);
	}
}

/* Unknown bits stay -EINVAL; nothing is made. */
TEST(sockflags, unknown_bits_are_einval)
{
	static const int bad[] = { 0x40000000, 0x08000000, 0x01000000,
				   FDMSG_SOCK_CREDS | SOCK_NONBLOCK,
				   FDMSG_SOCK_PIDFD | SOCK_CLOEXEC,
				   FDMSG_SOCK_CREDS | SOCK_RAW,
				   FDMSG_SOCK_CREDS | 0x40000000 };
	char p[128];
	struct stat st;

	tpath(p, sizeof(p), "s");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fds[2] = { -7, -7 };

		cr_assert_eq(fdmsg_pair(bad[i], fds), -EINVAL, "%#x", bad[i]);
		cr_assert(fds[0] == -7 && fds[1] == -7);
		cr_assert_eq(fdmsg_listen(p, bad[i], 0), -EINVAL);
		cr_assert_eq(fdmsg_connect(p, bad[i]), -EINVAL);
	}
	cr_assert_eq(lstat(p, &st), -1);
	cr_assert_eq(dir_entry_count(tdir), 0);
	/* A flag alone is the default type with it. */
	{
		int fds[2];

		cr_assert_eq(fdmsg_pair(FDMSG_SOCK_CREDS, fds), 0);
		cr_assert_eq(sock_type(fds[0]), SOCK_SEQPACKET);
		cr_assert_eq(sockopt_int(fds[1], SO_PASSCRED), 1);
		close(fds[0]);
		close(fds[1]);
	}
}

/*
 * FDMSG_SOCK_PIDFD: a child writes one frame at once and waits; the
 * parent's channel, made afterwards, gets a pidfd that names the child.
 * Both through a pair and through an accepted socket.
 */
static void
pidfd_first_byte(int use_listen)
{
	struct fdmsg_cred c[1];
	char p[128], x;
	int fds[2], hold[2], done[2], has[1], lfd = -1, rfd;
	pid_t pid;

	cr_assert_eq(pipe2(hold, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(done, O_CLOEXEC), 0);
	if (use_listen) {
		lfd = fdmsg_listen(tpath(p, sizeof(p), "s"),
				   SOCK_SEQPACKET | FDMSG_SOCK_PIDFD, 0);
		cr_assert(lfd >= 0, "listen: %s", fdmsg_strerror(lfd));
	} else {
		cr_assert_eq(fdmsg_pair(SOCK_SEQPACKET | FDMSG_SOCK_PIDFD, fds),
			     0);
		cr_assert_eq(sockopt_int(fds[0], SO_PASSPIDFD), 1);
		cr_assert_eq(sockopt_int(fds[0], SO_PASSCRED), 0);
	}
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = use_listen ? fdmsg_connect(p, SOCK_SEQPACKET) : fds[1];

		close(hold[1]);
		if (fd < 0 || raw_frame(fd, 0) < 0 ||
		    write(done[1], "w", 1) != 1)
			_exit(10);
		/* Alive until the parent has looked. */
		_exit(read(hold[0], &x, 1) == 0 ? 0 : 11);
	}
	close(hold[0]);
	close(done[1]);
	cr_assert_eq(read(done[0], &x, 1), 1);
	close(done[0]);
	if (use_listen) {
		rfd = fdmsg_accept(lfd, NULL, 0);
		cr_assert(rfd >= 0);
		close(lfd);
		cr_assert_eq(unlink(p), 0);
	} else {
		close(fds[1]);
		rfd = fds[0];
	}
	recv_frames(rfd, FDMSG_OPT_PIDFD, 1, &(struct fdmsg_msg){ 0 }, has,
		    c);
	cr_assert_geq(c[0].pidfd, 0, "no pidfd");
	cr_assert_eq(fdinfo_pid(c[0].pidfd), (long)pid);
	close(c[0].pidfd);
	close(hold[1]);
	assert_child_ok(pid);
	close(rfd);
}

TEST(sockflags, pidfd_from_the_first_byte)
{
	if (!have_passpidfd())
		cr_skip_test("no SO_PASSPIDFD on this kernel");
	pidfd_first_byte(0);
	pidfd_first_byte(1);
	cr_assert_eq(dir_entry_count(tdir), 0);
}

/* ------------------------------------------------------------------ */
/* THREATS 48: listen exclusivity                                      */
/* ------------------------------------------------------------------ */

/* No ".fdmsg-*" temporary name left in tdir. */
static void
assert_no_tmp_names(void)
{
	DIR *d = opendir(tdir);
	struct dirent *e;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL)
		cr_assert(strncmp(e->d_name, ".fdmsg-", 7) != 0,
			  "temporary name %s left", e->d_name);
	closedir(d);
}

#define RACERS 8
#define ROUNDS 50

/*
 * One racer: waits for the start (EOF on go), calls fdmsg_listen, writes
 * its result to res.  The winner then accepts connections (the losers'
 * probes among them) until one sends '?', and answers with its pid.
 * Bounded: the winner gives up after 20 s of silence.
 */
static void
racer(const char *p, int type, int go, int res)
{
	struct timeval tv = { 20, 0 };
	struct pollfd pfd;
	char x;
	pid_t me = getpid();
	int lfd, s;

	if (read(go, &x, 1) != 0)
		_exit(20);
	lfd = fdmsg_listen(p, type, 0);
	{
		int rep[2] = { lfd, (int)me };

		if (write(res, rep, sizeof(rep)) != sizeof(rep))
			_exit(21);
	}
	if (lfd < 0)
		_exit(0);
	for (;;) {
		pfd.fd = lfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 20000) != 1)
			_exit(22);
		s = fdmsg_accept(lfd, NULL, 0);
		if (s < 0 || setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv,
					sizeof(tv)) < 0)
			_exit(23);
		if (recv(s, &x, 1, 0) == 1 && x == '?')
			break;
		close(s); /* a probe */
	}
	if (send(s, &me, sizeof(me), MSG_NOSIGNAL) != sizeof(me))
		_exit(24);
	_exit(0);
}

/*
 * RACERS processes call fdmsg_listen on one path at once, ROUNDS times,
 * the path empty or holding a stale socket: exactly one wins, every other
 * gets -EADDRINUSE, a connect to the path reaches the winner, and no
 * temporary name is left.
 */
static void
race(int type, int stale)
{
	char p[128];

	tpath(p, sizeof(p), "s");
	for (int round = 0; round < ROUNDS; round++) {
		pid_t pids[RACERS], got, winner = 0;
		int go[2], res[2], won = 0, busy = 0, rep[2], c;
		struct timeval tv = { 20, 0 };

		if (stale)
			make_stale(p, type);
		cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
		cr_assert_eq(pipe2(res, O_CLOEXEC), 0);
		for (int i = 0; i < RACERS; i++) {
			pids[i] = fork();
			cr_assert(pids[i] >= 0);
			if (pids[i] == 0) {
				close(go[1]);
				close(res[0]);
				racer(p, type, go[0], res[1]);
			}
		}
		close(go[0]);
		close(res[1]);
		close(go[1]); /* the start */
		for (int i = 0; i < RACERS; i++) {
			cr_assert_eq(read(res[0], rep, sizeof(rep)),
				     sizeof(rep));
			if (rep[0] >= 0) {
				won++;
				winner = (pid_t)rep[1];
			} else if (rep[0] == -EADDRINUSE) {
				busy++;
			} else {
				cr_assert_fail("round %d: a racer got %s", round,
					       fdmsg_strerror(rep[0]));
			}
		}
		close(res[0]);
		cr_assert_eq(won, 1, "round %d (%s): %d winners", round,
			     stale ? "stale" : "empty", won);
		cr_assert_eq(busy, RACERS - 1);
		/* The winner's socket is the one at the path. */
		c = fdmsg_connect(p, type);
		cr_assert(c >= 0, "round %d: connect: %s", round,
			  fdmsg_strerror(c));
		cr_assert_eq(setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv,
					sizeof(tv)), 0);
		cr_assert_eq(send(c, "?", 1, MSG_NOSIGNAL), 1);
		cr_assert_eq(recv(c, &got, sizeof(got), 0), sizeof(got),
			     "round %d: the socket at the path is not the "
			     "winner's", round);
		cr_assert_eq(got, winner);
		close(c);
		for (int i = 0; i < RACERS; i++)
			assert_child_ok(pids[i]);
		assert_no_tmp_names();
		cr_assert_eq(dir_entry_count(tdir), 1);
		cr_assert_eq(unlink(p), 0);
	}
}

TEST(listen, threat48_racing_listeners_exactly_one_wins)
{
	race(SOCK_SEQPACKET, 0);
	race(SOCK_STREAM, 0);
}

TEST(listen, threat48_racing_listeners_on_a_stale_socket_one_wins)
{
	race(SOCK_SEQPACKET, 1);
	race(SOCK_STREAM, 1);
}

/* A raw socket bound at p and not listening (another program between
 * bind and listen), still open. */
static int
raw_bound(const char *path, int type)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	cr_assert(fd >= 0);
	strcpy(sa.sun_path, path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/*
 * A foreign socket in its bind-to-listen window refuses connect(2) like a
 * dead one; sock_diag tells it is alive, so it is never replaced, and it
 * can go on to listen.  Once closed, its file is stale and replaced.
 */
TEST(listen, threat48_bound_not_listening_socket_is_eaddrinuse)
{
	static const int types[] = { SOCK_SEQPACKET, SOCK_STREAM };
	char p[128];
	struct stat st, st2;

	for (size_t i = 0; i < 2; i++) {
		int b, lfd;

		tpath(p, sizeof(p), i == 0 ? "q" : "t");
		b = raw_bound(p, types[i]);
		cr_assert_eq(fdmsg_connect(p, types[i]), -ECONNREFUSED);
		cr_assert_eq(lstat(p, &st), 0);
		cr_assert_eq(fdmsg_listen(p, types[i], 0), -EADDRINUSE);
		cr_assert_eq(fdmsg_listen(p, types[i] == SOCK_STREAM ?
						     SOCK_SEQPACKET :
						     SOCK_STREAM,
					  0),
			     -EADDRINUSE);
		cr_assert_eq(lstat(p, &st2), 0);
		cr_assert_eq(st2.st_ino, st.st_ino);
		assert_no_tmp_names();
		/* Its owner goes on to listen and serves. */
		cr_assert_eq(listen(b, 4), 0);
		assert_serves(b, p, types[i]);
		close(b);
		/* Dead now: replaced. */
		lfd = fdmsg_listen(p, types[i], 0);
		cr_assert(lfd >= 0, "listen: %s", fdmsg_strerror(lfd));
		assert_serves(lfd, p, types[i]);
		close(lfd);
		assert_no_tmp_names();
	}
}

/*
 * A listener died while a connection it accepted lives on (a child kept
 * it): that connection shares the file but listens on nothing, so the
 * file is stale and replaced.
 */
TEST(listen, threat48_dead_listener_with_live_connection_is_replaced)
{
	char p[128];
	int l, c, s, lfd;

	tpath(p, sizeof(p), "s");
	l = raw_listen(p, SOCK_STREAM, 4);
	c = fdmsg_connect(p, SOCK_STREAM);
	cr_assert(c >= 0);
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	cr_assert(s >= 0);
	close(l);
	lfd = fdmsg_listen(p, SOCK_STREAM, 0);
	cr_assert(lfd >= 0, "listen: %s", fdmsg_strerror(lfd));
	assert_serves(lfd, p, SOCK_STREAM);
	assert_linked(c, s);
	close(c);
	close(s);
	close(lfd);
	assert_no_tmp_names();
}

/* A datagram socket, bound and never listening, is live; once closed,
 * stale and replaced. */
TEST(listen, threat48_bound_dgram_socket_is_eaddrinuse)
{
	char p[128];
	int b, lfd;

	tpath(p, sizeof(p), "d");
	b = raw_bound(p, SOCK_DGRAM);
	cr_assert_eq(fdmsg_listen(p, SOCK_DGRAM, 0), -EADDRINUSE);
	cr_assert_eq(fdmsg_listen(p, SOCK_STREAM, 0), -EADDRINUSE);
	close(b);
	lfd = fdmsg_listen(p, SOCK_DGRAM, 0);
	cr_assert(lfd >= 0, "listen: %s", fdmsg_strerror(lfd));
	close(lfd);
	assert_no_tmp_names();
	cr_assert_eq(dir_entry_count(tdir), 1);
}

/* What stays -EEXIST leaves no temporary name behind either. */
TEST(listen, threat48_refusals_leave_no_temporary_name)
{
	char p[128], q[128];
	int fd, a;

	tpath(p, sizeof(p), "file");
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	cr_assert(fd >= 0);
	close(fd);
	cr_assert_eq(fdmsg_listen(p, 0, 0), -EEXIST);
	tpath(q, sizeof(q), "link");
	cr_assert_eq(symlink("file", q), 0);
	cr_assert_eq(fdmsg_listen(q, 0, 0), -EEXIST);
	tpath(p, sizeof(p), "live");
	a = fdmsg_listen(p, 0, 0);
	cr_assert(a >= 0);
	cr_assert_eq(fdmsg_listen(p, 0, 0), -EADDRINUSE);
	close(a);
	assert_no_tmp_names();
	cr_assert_eq(dir_entry_count(tdir), 3);
}

/*
 * The temporary name beside path (".fdmsg-" and 8 characters) must fit
 * sun_path too: a directory one byte too long is -ENAMETOOLONG and
 * nothing is made.
 */
TEST(listen, temporary_name_must_fit_beside_path)
{
	char d[SUN_PATH_SIZE], p[SUN_PATH_SIZE + 8];
	size_t base = strlen(tdir) + 1;
	struct stat st;
	int lfd;

	for (size_t dlen = SUN_PATH_SIZE - 16; dlen <= SUN_PATH_SIZE - 15;
	     dlen++) {
		/* tdir/yyy...y/ of dlen characters, then "s". */
		cr_assert(dlen - 1 > base);
		memcpy(d, tdir, base - 1);
		d[base - 1] = '/';
		memset(d + base, dlen == SUN_PATH_SIZE - 16 ? 'y' : 'z',
		       dlen - 1 - base);
		d[dlen - 1] = '\0';
		(void)mkdir(d, 0700);
		(void)snprintf(p, sizeof(p), "%s/s", d);
		lfd = fdmsg_listen(p, 0, 0);
		if (dlen == SUN_PATH_SIZE - 16) {
			cr_assert(lfd >= 0, "listen: %s", fdmsg_strerror(lfd));
			assert_serves(lfd, p, 0);
			close(lfd);
		} else {
			cr_assert_eq(lfd, -ENAMETOOLONG);
			cr_assert_eq(lstat(p, &st), -1);
			cr_assert_eq(rmdir(d), 0); /* empty */
		}
	}
}

/*
 * A stale socket while somebody else holds the directory's lock (a
 * process that can read the directory can): not replaced, -EADDRINUSE
 * once the wait is over, the file kept.  Let go, it is replaced.
 */
TEST(listen, threat48_directory_lock_held_is_eaddrinuse_and_kept)
{
	char p[128];
	struct stat st, st2;
	int dfd, lfd;

	tpath(p, sizeof(p), "s");
	make_stale(p, SOCK_SEQPACKET);
	cr_assert_eq(lstat(p, &st), 0);
	dfd = open(tdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert(dfd >= 0);
	cr_assert_eq(flock(dfd, LOCK_EX), 0);
	cr_assert_eq(fdmsg_listen(p, SOCK_SEQPACKET, 0), -EADDRINUSE);
	cr_assert_eq(lstat(p, &st2), 0);
	cr_assert(st2.st_ino == st.st_ino && st2.st_mode == st.st_mode);
	assert_no_tmp_names();
	close(dfd);
	lfd = fdmsg_listen(p, SOCK_SEQPACKET, 0);
	cr_assert(lfd >= 0, "listen: %s", fdmsg_strerror(lfd));
	assert_serves(lfd, p, SOCK_SEQPACKET);
	close(lfd);
}

/* A relative path: the temporary name and the lock are in ".". */
TEST(listen, relative_path_replaces_stale_in_cwd)
{
	struct stat st;
	int here, lfd;

	here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert(here >= 0);
	cr_assert_eq(chdir(tdir), 0);
	make_stale("rel", SOCK_STREAM);
	lfd = fdmsg_listen("rel", SOCK_STREAM, 0640);
	cr_assert(lfd >= 0, "listen: %s", fdmsg_strerror(lfd));
	cr_assert_eq(lstat("rel", &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0640);
	assert_serves(lfd, "rel", SOCK_STREAM);
	close(lfd);
	assert_no_tmp_names();
	cr_assert_eq(fchdir(here), 0);
	close(here);
}

/*
 * bind(2) and connect(2) as the library sees them: a test can act
 * between the library's bind at its temporary name and its next step
 * (plant_at_tmp: the temporary name becomes a regular file), or before
 * the stale probe's connect (swap_path: the stale file is replaced by
 * another one, a new inode).
 */
static int plant_at_tmp;
static int tmp_busy; /* every temporary name is taken: counts binds */
static char planted[128];
static char swap_path[128];
static char conn_path[128];
static char conn_script[8];

/* glibc declares them with a transparent union under _GNU_SOURCE. */
#if defined(__GLIBC__) && defined(__USE_GNU)
#define SA_ARG(a) ((const struct sockaddr *)(a).__sockaddr__)
#else
#define SA_ARG(a) (a)
#endif

int
bind(int fd, __CONST_SOCKADDR_ARG arg, socklen_t len)
{
	const struct sockaddr *sa = SA_ARG(arg);
	const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
	int r;

	if (tmp_busy && un->sun_family == AF_UNIX &&
	    strstr(un->sun_path, "/.fdmsg-") != NULL) {
		tmp_busy++;
		errno = EADDRINUSE;
		return -1;
	}
	r = (int)syscall(SYS_bind, fd, sa, len);

	if (r == 0 && plant_at_tmp && un->sun_family == AF_UNIX &&
	    strstr(un->sun_path, "/.fdmsg-") != NULL) {
		int f;

		plant_at_tmp = 0;
		strcpy(planted, un->sun_path);
		cr_assert_eq(unlink(planted), 0);
		f = open(planted, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			 0600);
		cr_assert(f >= 0);
		close(f);
	}
	return r;
}

int
connect(int fd, __CONST_SOCKADDR_ARG arg, socklen_t len)
{
	const struct sockaddr *sa = SA_ARG(arg);
	const struct sockaddr_un *un = (const struct sockaddr_un *)sa;

	if (swap_path[0] != '\0' && un->sun_family == AF_UNIX &&
	    strcmp(un->sun_path, swap_path) == 0) {
		char nw[160];

		(void)snprintf(nw, sizeof(nw), "%s.new", swap_path);
		swap_path[0] = '\0';
		make_stale(nw, SOCK_SEQPACKET);
		cr_assert_eq(rename(nw, un->sun_path), 0);
	}
	if (conn_script[0] != '\0' && un->sun_family == AF_UNIX &&
	    strcmp(un->sun_path, conn_path) == 0) {
		/* One step of the script per call: 'i' EINTR, nothing
		 * done; 'p', 'a', 'c': connect, then say EINPROGRESS,
		 * EALREADY or EISCONN. */
		char step = conn_script[0];
		int r;

		memmove(conn_script, conn_script + 1, strlen(conn_script));
		if (step == 'i') {
			errno = EINTR;
			return -1;
		}
		r = (int)syscall(SYS_connect, fd, sa, len);
		if (r < 0)
			return r;
		errno = step == 'p' ? EINPROGRESS :
			step == 'a' ? EALREADY : EISCONN;
		return -1;
	}
	return (int)syscall(SYS_connect, fd, sa, len);
}

/* Something planted at the temporary name is neither chmod-ed, nor
 * linked to path, nor removed. */
TEST(listen, file_planted_at_temporary_name_is_left_alone)
{
	char p[128];
	struct stat st;

#ifdef FDMSG_PORTABLE_BIND
	cr_skip_test("the temporary name is in a private directory");
#endif
	tpath(p, sizeof(p), "s");
	plant_at_tmp = 1;
	cr_assert_eq(fdmsg_listen(p, 0, 0660), -EEXIST);
	cr_assert_eq(plant_at_tmp, 0);
	cr_assert_eq(lstat(p, &st), -1);
	cr_assert_eq(lstat(planted, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0600);
	cr_assert_eq(unlink(planted), 0);
	cr_assert_eq(dir_entry_count(tdir), 0);
}

/* The stale file judged is not the one there when it would be removed:
 * not ours to judge, -EADDRINUSE, the newcomer kept. */
TEST(listen, stale_file_swapped_during_the_probe_is_kept)
{
	char p[128];
	struct stat st, st2;

	tpath(p, sizeof(p), "s");
	make_stale(p, SOCK_SEQPACKET);
	cr_assert_eq(lstat(p, &st), 0);
	strcpy(swap_path, p);
	cr_assert_eq(fdmsg_listen(p, SOCK_SEQPACKET, 0), -EADDRINUSE);
	cr_assert_eq(swap_path[0], '\0');
	cr_assert_eq(lstat(p, &st2), 0);
	cr_assert(S_ISSOCK(st2.st_mode));
	cr_assert_neq(st2.st_ino, st.st_ino);
	assert_no_tmp_names();
	cr_assert_eq(dir_entry_count(tdir), 1);
}

/*
 * fchmodat(2) as the library sees it, for its fallback without /proc:
 * refused (EPERM) while refuse_fchmodat is set, else passed on.
 */
static int refuse_fchmodat;

int
fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	if (refuse_fchmodat) {
		errno = EPERM;
		return -1;
	}
	if (flags != 0) {
		errno = EOPNOTSUPP; /* nothing here asks for more */
		return -1;
	}
	return (int)syscall(SYS_fchmodat, dirfd, path, mode);
}

/* Without /proc and with the file's mode refused, fdmsg_listen fails
 * with that error and leaves nothing: not at path, not the temporary. */
TEST(listen, mode_refused_leaves_nothing)
{
	char p[128];
	struct stat st;

	tpath(p, sizeof(p), "s");
	(void)umask(077);
	no_proc = 1;
	refuse_fchmodat = 1;
	cr_assert_eq(fdmsg_listen(p, 0, 0660), -EPERM);
	no_proc = 0;
	refuse_fchmodat = 0;
	(void)umask(022);
	cr_assert_eq(lstat(p, &st), -1);
	cr_assert_eq(dir_entry_count(tdir), 0);
}

/* link(2) as the library sees it: EEXIST while link_busy is set (each
 * round someone published and went again). */
static int link_busy;

int
link(const char *from, const char *to)
{
	if (link_busy) {
		link_busy++;
		errno = EEXIST;
		return -1;
	}
	return (int)syscall(SYS_link, from, to);
}

/* Publishing loses every round: bounded, -EADDRINUSE, nothing left. */
TEST(listen, publish_rounds_are_bounded)
{
	char p[128];

	tpath(p, sizeof(p), "s");
	link_busy = 1;
	cr_assert_eq(fdmsg_listen(p, 0, 0), -EADDRINUSE);
	cr_assert_gt(link_busy, 2);
	cr_assert_lt(link_busy, 20);
	link_busy = 0;
	cr_assert_eq(dir_entry_count(tdir), 0);
}

/* Every temporary name taken: a bounded number of tries, then
 * -EADDRINUSE and nothing made. */
TEST(listen, temporary_names_all_taken_is_bounded)
{
	char p[128];

	tpath(p, sizeof(p), "s");
	tmp_busy = 1;
	cr_assert_eq(fdmsg_listen(p, 0, 0), -EADDRINUSE);
#ifndef FDMSG_PORTABLE_BIND
	cr_assert_gt(tmp_busy, 2); /* (a private directory: no retry) */
#endif
	cr_assert_lt(tmp_busy, 200);
	tmp_busy = 0;
	cr_assert_eq(dir_entry_count(tdir), 0);
}

/*
 * connect(2) with the POSIX behaviour of other systems (simulated): an
 * interrupted connect goes on in the background; fdmsg_connect waits for
 * it (EINPROGRESS, EALREADY) or takes EISCONN after an interruption as
 * done.  EISCONN without one is an error.
 */
TEST(connect, interrupted_connect_finishing_in_background)
{
	static const char *const scripts[] = { "p", "ia", "ic", "iip" };
	int lfd, c, s;

	tpath(conn_path, sizeof(conn_path), "s");
	lfd = fdmsg_listen(conn_path, SOCK_STREAM, 0);
	cr_assert(lfd >= 0);
	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		strcpy(conn_script, scripts[i]);
		c = fdmsg_connect(conn_path, SOCK_STREAM);
		cr_assert(c >= 0, "%s: %s", scripts[i], fdmsg_strerror(c));
		cr_assert_eq(conn_script[0], '\0');
		s = fdmsg_accept(lfd, NULL, 0);
		cr_assert(s >= 0);
		assert_linked(c, s);
		close(c);
		close(s);
	}
	strcpy(conn_script, "c");
	cr_assert_eq(fdmsg_connect(conn_path, SOCK_STREAM), -EISCONN);
	s = fdmsg_accept(lfd, NULL, 0); /* the connection it made */
	cr_assert(s >= 0);
	close(s);
	conn_path[0] = '\0';
	close(lfd);
}
