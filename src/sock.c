/* SPDX-License-Identifier: ISC */
/*
 * Sockets: socketpair, listen/accept/connect on filesystem paths and Linux
 * abstract names, and the peer's kernel-recorded credentials.
 *
 * Socket types: 0 means FDMSG_DEFAULT_SOCK_TYPE; only SOCK_SEQPACKET,
 * SOCK_STREAM and SOCK_DGRAM are accepted, with FDMSG_SOCK_CREDS and
 * FDMSG_SOCK_PIDFD OR-ed in; anything else (flag bits such as
 * SOCK_NONBLOCK included) is -EINVAL.  Every descriptor made here is
 * close-on-exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>
#include <sys/file.h>
#include <time.h>
#ifdef __linux__
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/tcp.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#endif

#include "compat.h"
#include "fdmsg.h"
#include "util.h"

/*
 * Where the socket file gets its mode.  A listening socket is bound at a
 * temporary name and link(2)-ed into place once it listens (see listen
 * exclusivity below).  Linux creates the file of bind(2) with the socket
 * inode's mode less the umask, and fchmod(2) on an unbound socket sets
 * that inode's mode: so fchmod(mode) before bind makes a file that is
 * never wider than mode, without touching the process-wide umask (not
 * thread-safe); the temporary name sits beside path.  Other kernels
 * ignore the socket's own mode (FreeBSD refuses fchmod on a socket):
 * there the temporary name is inside a private 0700 directory, where the
 * file is chmod-ed before anybody else can reach it.
 * FDMSG_PORTABLE_BIND forces that second way on Linux, for testing it.
 */
#if defined(__linux__) && !defined(FDMSG_PORTABLE_BIND)
#define FDMSG_BIND_FCHMOD 1
#endif

#ifndef SOMAXCONN
#define SOMAXCONN 128
#endif

#define SOCK_PASS_FLAGS (FDMSG_SOCK_CREDS | FDMSG_SOCK_PIDFD)

/* Splits type into the socket type and the FDMSG_SOCK_* flags. */
static int
check_type(int *type, int *pass)
{
	*pass = *type & SOCK_PASS_FLAGS;
	*type &= ~SOCK_PASS_FLAGS;
	if (*type == 0)
		*type = FDMSG_DEFAULT_SOCK_TYPE;
	if (*type != SOCK_SEQPACKET && *type != SOCK_STREAM &&
	    *type != SOCK_DGRAM)
		return -EINVAL;
#ifndef SO_PASSCRED
	if (*pass & FDMSG_SOCK_CREDS)
		return -EOPNOTSUPP;
#endif
#ifndef __linux__
	if (*pass & FDMSG_SOCK_PIDFD)
		return -EOPNOTSUPP; /* no SO_PASSPIDFD */
#endif
	return 0;
}

/*
 * Switches on what pass asks for, before the socket can receive
 * anything: the kernel attaches credentials to a message only when the
 * receiving socket wants them at the moment it is sent.
 */
static int
set_pass(int fd, int pass)
{
	int one = 1;

	(void)fd;
	(void)one;
#ifdef SO_PASSCRED
	if ((pass & FDMSG_SOCK_CREDS) &&
	    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
		return errno == ENOPROTOOPT ? -EOPNOTSUPP : -errno;
#endif
#ifdef __linux__
	/* Before Linux 6.5 the kernel does not know the option. */
	if ((pass & FDMSG_SOCK_PIDFD) &&
	    setsockopt(fd, SOL_SOCKET, SO_PASSPIDFD, &one, sizeof(one)) < 0)
		return errno == ENOPROTOOPT ? -EOPNOTSUPP : -errno;
#endif
	return 0;
}

/*
 * Settings every socket of ours gets after creation, and the options of
 * pass.  Close-on-exec is set atomically (SOCK_CLOEXEC) where the
 * platform can; macOS has no SOCK_CLOEXEC nor accept4, so there it comes
 * a moment late.
 */
static int
setup_fd(int fd, int pass)
{
#ifndef SOCK_CLOEXEC
	{
		int fl = fcntl(fd, F_GETFD);

		if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
			return -errno;
	}
#endif
#ifdef SO_NOSIGPIPE
	{
		/* No MSG_NOSIGNAL there: a dead peer must not kill us. */
		int one = 1;

		if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one,
			       sizeof(one)) < 0)
			return -errno;
	}
#endif
	return set_pass(fd, pass);
}

static int
new_socket(int type, int nonblock, int pass)
{
	int fd, ret;

#ifdef SOCK_CLOEXEC
	type |= SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0);
#endif
	fd = socket(AF_UNIX, type, 0);
	if (fd < 0)
		return -errno;
	ret = setup_fd(fd, pass);
#ifndef SOCK_CLOEXEC
	if (ret == 0 && nonblock) {
		int fl = fcntl(fd, F_GETFL);

		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
			ret = -errno;
	}
#endif
	if (ret < 0) {
		close_keep_errno(fd);
		return ret;
	}
	return fd;
}

/*
 * Fills *sa for path: "@name" is a Linux abstract name (no NUL, the length
 * says where it ends), anything else a filesystem path that must fit
 * sun_path with its NUL.
 */
static int
make_addr(const char *path, struct sockaddr_un *sa,
	  socklen_t *len, int *abstract)
{
	size_t n;

	if (path == NULL || path[0] == '\0')
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = strlen(path);
	if (path[0] == '@') {
#ifdef FDMSG_HAVE_ABSTRACT
		if (n == 1)
			return -EINVAL; /* an empty abstract name */
		/* sun_path[0] = 0, then the n - 1 bytes of the name. */
		if (n > sizeof(sa->sun_path))
			return -ENAMETOOLONG;
		memcpy(sa->sun_path + 1, path + 1, n - 1);
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
		*abstract = 1;
		return 0;
#else
		return -EOPNOTSUPP;
#endif
	}
	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, n + 1);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	*abstract = 0;
	return 0;
}

int
fdmsg_pair(int type, int fds[2])
{
	int sv[2], pass, ret;

	if (fds == NULL)
		return -EINVAL;
	ret = check_type(&type, &pass);
	if (ret < 0)
		return ret;
#ifdef SOCK_CLOEXEC
	type |= SOCK_CLOEXEC;
#endif
	if (socketpair(AF_UNIX, type, 0, sv) < 0)
		return -errno;
	ret = setup_fd(sv[0], pass);
	if (ret == 0)
		ret = setup_fd(sv[1], pass);
	if (ret < 0) {
		close_keep_errno(sv[0]);
		close_keep_errno(sv[1]);
		return ret;
	}
	fds[0] = sv[0];
	fds[1] = sv[1];
	return 0;
}

/*
 * Is the socket file at sa dead?  Connects to it with the same type,
 * without blocking: only ECONNREFUSED says nobody holds it.  A full
 * backlog (EAGAIN), another socket type (EPROTOTYPE), a refused permission
 * or a success all mean someone may still be there.
 * Returns 1 stale, 0 live, or a negative errno.
 */
static int
is_stale(const struct sockaddr_un *sa, socklen_t len, int type)
{
	int fd, r;

	fd = new_socket(type, 1, 0);
	if (fd < 0)
		return fd;
	do
		r = connect(fd, (const struct sockaddr *)sa, len);
	while (r < 0 && errno == EINTR);
	r = r < 0 && errno == ECONNREFUSED;
	close(fd);
	return r;
}

/*
 * Listen exclusivity.  A socket file appears at path only by link(2)
 * from a temporary name, after listen(2): so whatever fdmsg puts at path
 * already answers connect(2), and link never replaces anything.  A
 * socket that refuses connections (is_stale) is then either dead or
 * another program's in its bind-to-listen window; the second is told
 * apart on Linux by sock_diag (bound_alive).  Removing a stale file is
 * done holding flock(2) on the directory and judged again under it, so
 * of several fdmsg_listen calls that found the same stale file one
 * removes it, and none removes what another published meanwhile.
 */

/* How long clear_stale waits for the directory lock (1 ms steps). */
#define LOCK_TRIES 1000
/* Rounds of publish before giving up. */
#define PUBLISH_TRIES 8

/* The length of path's directory part, trailing slash included. */
static size_t
dir_len(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? (size_t)(slash - path) + 1 : 0;
}

#ifdef __linux__

/*
 * Is some live socket bound to the file st describes?  Asks sock_diag
 * for every Unix socket with the device and inode of its file
 * (UDIAG_SHOW_VFS).  Returns 1 bound, 0 not, or a negative errno
 * (no sock_diag: the caller keeps the connect verdict).  Sees only this
 * network namespace's sockets.
 */
static int
bound_alive(const struct stat *st)
{
	struct {
		struct nlmsghdr nh;
		struct unix_diag_req req;
	} rq;
	struct sockaddr_nl sa;
	union {
		struct nlmsghdr nh;
		char b[16384];
	} buf;
	struct nlmsghdr *nh;
	struct rtattr *rta;
	struct unix_diag_vfs vfs;
	/* The kernel's own dev_t: 12 bits of major above 20 of minor. */
	const uint64_t kdev = (uint64_t)major(st->st_dev) << 20 |
			      minor(st->st_dev);
	ssize_t got;
	int fd, ret = 0, done = 0;
	size_t n, rlen;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	memset(&rq, 0, sizeof(rq));
	rq.nh.nlmsg_len = sizeof(rq);
	rq.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	rq.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	rq.req.sdiag_family = AF_UNIX;
	/* Unconnected or listening: an accepted connection of a dead
	 * listener shares its file, but does not make it live. */
	rq.req.udiag_states = 1u << TCP_CLOSE | 1u << TCP_LISTEN;
	rq.req.udiag_show = UDIAG_SHOW_VFS;
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	if (sendto(fd, &rq, sizeof(rq), 0, (struct sockaddr *)&sa,
		   sizeof(sa)) < 0) {
		ret = -errno;
		goto out;
	}
	while (!done) {
		/* MSG_TRUNC: the whole length, so that a cut message is
		 * known (an entry lost would read as "not bound"). */
		do
			got = recv(fd, buf.b, sizeof(buf.b), MSG_TRUNC);
		while (got < 0 && errno == EINTR);
		if (got < 0) {
			ret = -errno;
			goto out;
		}
		if (got == 0 || (size_t)got > sizeof(buf.b)) {
			ret = -EPROTO;
			goto out;
		}
		n = (size_t)got;
		for (nh = &buf.nh; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (nh->nlmsg_type == NLMSG_ERROR) {
				ret = -EPROTO;
				goto out;
			}
			if (nh->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    nh->nlmsg_len < NLMSG_LENGTH(
						    sizeof(struct unix_diag_msg)))
				continue;
			rta = (struct rtattr *)((char *)NLMSG_DATA(nh) +
						NLMSG_ALIGN(sizeof(
						    struct unix_diag_msg)));
			rlen = nh->nlmsg_len -
			       NLMSG_LENGTH(NLMSG_ALIGN(
				       sizeof(struct unix_diag_msg)));
			for (; RTA_OK(rta, rlen); rta = RTA_NEXT(rta, rlen)) {
				if (rta->rta_type != UNIX_DIAG_VFS ||
				    RTA_PAYLOAD(rta) < sizeof(vfs))
					continue;
				memcpy(&vfs, RTA_DATA(rta), sizeof(vfs));
				ret |= vfs.udiag_vfs_ino == st->st_ino &&
				       vfs.udiag_vfs_dev == kdev;
			}
		}
	}
out:
	close(fd);
	return ret;
}

#else

static int
bound_alive(const struct stat *st)
{
	(void)st;
	return -EOPNOTSUPP;
}

#endif

/*
 * Holds flock(2) on path's directory: the lock every clear_stale of
 * fdmsg takes before judging and removing.  Returns the directory's
 * descriptor (closing it lets go), or a negative errno: -EADDRINUSE
 * when somebody holds the lock for a second (a process that can read
 * the directory can; failing closed never replaces a live socket).
 */
static int
lock_dir(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t dlen = dir_len(path);
	int fd, tries;

	if (dlen == 0) {
		dir[0] = '.';
		dir[1] = '\0';
	} else {
		memcpy(dir, path, dlen); /* path fits sun_path */
		dir[dlen] = '\0';
	}
	do
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno;
	for (tries = 0;; tries++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK || tries == LOCK_TRIES)
			break;
		(void)poll(NULL, 0, 1);
	}
	if (errno == EWOULDBLOCK)
		errno = EADDRINUSE;
	close_keep_errno(fd);
	return -errno;
}

/*
 * What is at path, now that link(2) there said EEXIST?  Anything but a
 * socket (a file, a symlink, even one to a socket, a directory) is
 * -EEXIST and stays.  A socket somebody holds is -EADDRINUSE and stays.
 * A stale socket is unlinked (0: publish again), judged and removed
 * under the directory's lock, after checking that the same inode is
 * still there.  0 also when path vanished meanwhile.
 */
static int
clear_stale(const struct sockaddr_un *sa, socklen_t len,
	    const char *path, int type)
{
	struct stat st, st2;
	int dfd, ret;

	dfd = lock_dir(path);
	if (dfd < 0)
		return dfd;
	if (lstat(path, &st) < 0) {
		ret = errno == ENOENT ? 0 : -errno; /* gone: try again */
		goto out;
	}
	if (!S_ISSOCK(st.st_mode)) {
		ret = -EEXIST;
		goto out;
	}
	ret = is_stale(sa, len, type);
	if (ret < 0)
		goto out;
	if (ret == 1 && bound_alive(&st) == 1)
		ret = 0; /* bound, not yet listening: another's setup */
	if (ret == 0) {
		ret = -EADDRINUSE;
		goto out;
	}
	if (lstat(path, &st2) < 0) {
		ret = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	if (st2.st_dev != st.st_dev || st2.st_ino != st.st_ino) {
		ret = -EADDRINUSE; /* replaced meanwhile: not ours to judge */
		goto out;
	}
	ret = 0;
	if (unlink(path) < 0 && errno != ENOENT)
		ret = -errno;
out:
	close(dfd); /* lets go of the lock */
	return ret;
}

/* Where a socket is bound before it is published at path. */
struct binder {
	int fd;
	mode_t mode;
	int bound;                /* tmp names our socket's file */
	struct sockaddr_un tmp;
	socklen_t tmplen;
#ifndef FDMSG_BIND_FCHMOD
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int have_dir;
#endif
};

#ifdef FDMSG_BIND_FCHMOD

/* Temporary names tried before giving up. */
#define TMP_TRIES 64

static const char tmp_prefix[] = ".fdmsg-";
#define TMP_RAND 8 /* characters after the prefix */
#define TMP_LEAF (sizeof(tmp_prefix) - 1 + TMP_RAND)

/*
 * A fresh leaf for a temporary name: not secret (bind or mkdir refuse a
 * name in use, and the directory is trusted), only unlikely to collide
 * between processes and threads.
 */
static void
tmp_leaf(char *out)
{
	static const char digits[] = "abcdefghijklmnopqrstuvwxyz012345";
	static unsigned long seq;
	struct timespec ts;
	unsigned long v;
	size_t i;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	v = (unsigned long)getpid() * 2654435761u ^
	    (unsigned long)ts.tv_nsec * 40503u ^
	    __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED) * 97u;
	memcpy(out, tmp_prefix, sizeof(tmp_prefix) - 1);
	out += sizeof(tmp_prefix) - 1;
	for (i = 0; i < TMP_RAND; i++, v >>= 5)
		out[i] = digits[v & 31];
	out[TMP_RAND] = '\0';
}

/*
 * Widens the bound file to exactly mode (bind left mode less the umask).
 * Opened without following a symlink and checked to be a socket, so a
 * link planted at path between bind and here is never chmod-ed.
 */
static int
chmod_socket_file(const char *path, mode_t mode)
{
	char proc[64];
	struct stat st;
	int fd, ret = 0;

	do
		fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISSOCK(st.st_mode)) {
		ret = -EEXIST;
		goto out;
	}
	if ((st.st_mode & 07777) == mode)
		goto out;
	(void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (chmod(proc, mode) == 0)
		goto out;
	if (errno != ENOENT) {
		ret = -errno;
		goto out;
	}
	/* No /proc: the path once more, still never through a symlink. */
	if (fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW) < 0)
		ret = -errno;
out:
	close(fd);
	return ret;
}

/*
 * Binds to <dir of path>/.fdmsg-XXXXXXXX, the file made with the mode
 * fchmod gives the unbound socket, then widened to exactly mode.
 */
static int
prepare_bind(struct binder *b, const char *path)
{
	size_t dlen = dir_len(path);
	int tries, ret;

	b->bound = 0;
	if (dlen + TMP_LEAF >= sizeof(b->tmp.sun_path))
		return -ENAMETOOLONG;
	if (fchmod(b->fd, b->mode) < 0)
		return -errno;
	memset(&b->tmp, 0, sizeof(b->tmp));
	b->tmp.sun_family = AF_UNIX;
	memcpy(b->tmp.sun_path, path, dlen);
	b->tmplen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				dlen + TMP_LEAF + 1);
	for (tries = 0;; tries++) {
		tmp_leaf(b->tmp.sun_path + dlen);
		if (bind(b->fd, (struct sockaddr *)&b->tmp, b->tmplen) == 0)
			break;
		if (errno != EADDRINUSE || tries == TMP_TRIES)
			return -errno;
	}
	b->bound = 1;
	ret = chmod_socket_file(b->tmp.sun_path, b->mode);
	if (ret == -EEXIST)
		b->bound = 0; /* not our file any more: leave it */
	return ret;
}

#else /* !FDMSG_BIND_FCHMOD */

/*
 * Binds to <dir of path>/.fdmsg-XXXXXX/s, a directory only we can enter,
 * and gives the file its mode there.
 */
static int
prepare_bind(struct binder *b, const char *path)
{
	size_t dlen = dir_len(path);
	static const char tmpl[] = ".fdmsg-XXXXXX";
	static const char leaf[] = "/s";

	b->have_dir = 0;
	b->bound = 0;
	if (dlen + sizeof(tmpl) - 1 + sizeof(leaf) > sizeof(b->tmp.sun_path))
		return -ENAMETOOLONG;
	memcpy(b->dir, path, dlen);
	memcpy(b->dir + dlen, tmpl, sizeof(tmpl));
	if (mkdtemp(b->dir) == NULL)
		return -errno;
	b->have_dir = 1;
	memset(&b->tmp, 0, sizeof(b->tmp));
	b->tmp.sun_family = AF_UNIX;
	dlen += sizeof(tmpl) - 1; /* the length checked above */
	memcpy(b->tmp.sun_path, b->dir, dlen);
	memcpy(b->tmp.sun_path + dlen, leaf, sizeof(leaf));
	b->tmplen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				dlen + sizeof(leaf));
	if (bind(b->fd, (struct sockaddr *)&b->tmp, b->tmplen) < 0)
		return -errno;
	b->bound = 1;
	if (chmod(b->tmp.sun_path, b->mode) < 0)
		return -errno;
	return 0;
}

#endif

/* Removes the temporary name (path keeps the file when published). */
static void
finish_bind(struct binder *b)
{
	if (b->bound)
		(void)unlink(b->tmp.sun_path);
	b->bound = 0;
#ifndef FDMSG_BIND_FCHMOD
	if (b->have_dir)
		(void)rmdir(b->dir);
	b->have_dir = 0;
#endif
}

/*
 * Binds and listens on a filesystem path.  Returns 0 or a negative
 * errno; the path is left as found on failure (a stale socket there may
 * have been removed).
 */
static int
listen_path(int fd, const struct sockaddr_un *sa, socklen_t len,
	    const char *path, int type, mode_t mode)
{
	struct binder b;
	int ret, tries;

	b.fd = fd;
	b.mode = mode;
	ret = prepare_bind(&b, path);
	if (ret == 0 && type != SOCK_DGRAM && listen(fd, SOMAXCONN) < 0)
		ret = -errno;
	for (tries = 0; ret == 0; tries++) {
		/* link(2), unlike rename(2), never replaces what is there. */
		if (link(b.tmp.sun_path, path) == 0)
			break;
		if (errno != EEXIST) {
			ret = -errno;
			break;
		}
		/* Each round someone else published and left again:
		 * yield to them rather than loop. */
		if (tries == PUBLISH_TRIES)
			ret = -EADDRINUSE;
		else
			ret = clear_stale(sa, len, path, type);
	}
	finish_bind(&b);
	return ret;
}

int
fdmsg_listen(const char *path, int type, mode_t mode)
{
	struct sockaddr_un sa;
	socklen_t len;
	int abstract, fd, pass, ret;

	ret = check_type(&type, &pass);
	if (ret < 0)
		return ret;
	if (mode == 0)
		mode = 0600;
	if (mode & ~(mode_t)0777)
		return -EINVAL;
	ret = make_addr(path, &sa, &len, &abstract);
	if (ret < 0)
		return ret;
	/* The options first: an accepted socket inherits them. */
	fd = new_socket(type, 0, pass);
	if (fd < 0)
		return fd;
	if (abstract) {
		/* No file, no mode; a name in use is the owner's. */
		if (bind(fd, (struct sockaddr *)&sa, len) < 0 ||
		    (type != SOCK_DGRAM && listen(fd, SOMAXCONN) < 0))
			ret = -errno;
	} else {
		ret = listen_path(fd, &sa, len, path, type, mode);
	}
	if (ret < 0) {
		close_keep_errno(fd);
		return ret;
	}
	return fd;
}

/* The peer's effective uid, for the allow-list. */
static int
peer_uid(int fd, uid_t *uid)
{
#if defined(SO_PEERCRED) && defined(__linux__)
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	if (len < sizeof(uc))
		return -EPROTO;
	*uid = uc.uid;
	return 0;
#else
	gid_t gid;

	if (getpeereid(fd, uid, &gid) < 0)
		return -errno;
	return 0;
#endif
}

int
fdmsg_accept(int listen_fd, const uid_t *allow_uids, size_t n)
{
	uid_t uid = (uid_t)-1;
	size_t i;
	int fd, ret;

	if (listen_fd < 0 || (n > 0 && allow_uids == NULL))
		return -EINVAL;
	do {
#ifdef SOCK_CLOEXEC
		fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
#else
		fd = accept(listen_fd, NULL, NULL);
#endif
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno; /* -EAGAIN on a non-blocking listener */
	ret = setup_fd(fd, 0);
	if (ret < 0)
		goto fail;
	if (n == 0)
		return fd;
	ret = peer_uid(fd, &uid);
	if (ret < 0)
		goto fail;
	for (i = 0; i < n; i++)
		if (allow_uids[i] == uid)
			return fd;
	ret = -EPERM;
fail:
	close_keep_errno(fd);
	return ret;
}

/*
 * A connect(2) cut by a signal: POSIX lets the connection go on
 * asynchronously (a new connect says EALREADY, POLLOUT and SO_ERROR give
 * the outcome), while Linux's AF_UNIX abandons it and leaves the socket
 * unconnected (measured on 6.18: no peer, SO_ERROR 0, poll says POLLHUP).
 * Calling connect again is right for both: Linux starts over, the others
 * report EALREADY (then we wait) or EISCONN (done).
 */
static int
connect_restart(int fd, const struct sockaddr_un *sa,
		socklen_t len)
{
	struct pollfd pfd;
	socklen_t elen;
	int interrupted = 0, err, r;

	for (;;) {
		if (connect(fd, (const struct sockaddr *)sa, len) == 0)
			return 0;
		if (errno == EINTR) {
			interrupted = 1;
			continue;
		}
		if (errno == EISCONN && interrupted)
			return 0;
		if (errno != EALREADY && errno != EINPROGRESS)
			return -errno;
		break;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	do
		r = poll(&pfd, 1, -1);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	elen = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		return -errno;
	return err != 0 ? -err : 0;
}

int
fdmsg_connect(const char *path, int type)
{
	struct sockaddr_un sa;
	socklen_t len;
	int abstract, fd, pass, ret;

	ret = check_type(&type, &pass);
	if (ret < 0)
		return ret;
	ret = make_addr(path, &sa, &len, &abstract);
	if (ret < 0)
		return ret;
	fd = new_socket(type, 0, pass);
	if (fd < 0)
		return fd;
	ret = connect_restart(fd, &sa, len);
	if (ret < 0) {
		close_keep_errno(fd);
		return ret;
	}
	return fd;
}

#ifdef __linux__

/*
 * The pid a pidfd refers to, from /proc/self/fdinfo: -1 once the process
 * is gone (reaped), 0 outside our pid namespace.  -ENOENT: no /proc.
 */
static int
pidfd_pid(int pidfd, pid_t *pid)
{
	char path[64], buf[1024];
	const char *p;
	ssize_t n;
	size_t got = 0;
	long v;
	char *end;
	int fd, ret = -EPROTO;

	(void)snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	do
		fd = open(path, O_RDONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno;
	while (got < sizeof(buf) - 1) {
		n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	for (p = buf; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, "Pid:", 4) != 0)
			continue;
		errno = 0;
		v = strtol(p + 4, &end, 10);
		if (errno != 0 || end == p + 4 || v < -1 || v > INT_MAX)
			break;
		*pid = (pid_t)v;
		ret = 0;
		break;
	}
out:
	close(fd);
	return ret;
}

/*
 * Is the process behind pidfd alive?  fdinfo's Pid: is the authority and
 * must also name the process SO_PEERCRED reported.  Without /proc, signal
 * 0 through the pidfd still tells the living from the reaped.
 */
static int
pidfd_check(int pidfd, pid_t expect)
{
	pid_t pid;
	int ret;

	ret = pidfd_pid(pidfd, &pid);
	if (ret == 0)
		return pid == -1 || pid != expect ? -ESRCH : 0;
	if (ret != -ENOENT)
		return ret;
#ifdef SYS_pidfd_send_signal
	if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0 ||
	    errno == EPERM)
		return 0;
	return errno == ESRCH ? -ESRCH : -errno;
#else
	return -EOPNOTSUPP;
#endif
}

static int
peer_pidfd(int fd, pid_t expect, int *out)
{
	socklen_t len = sizeof(int);
	int pidfd = -1, ret;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0) {
		if (errno == ENOPROTOOPT)
			return -EOPNOTSUPP;
		/* Kernels before 6.16 refuse a pidfd for a reaped peer. */
		return errno == EINVAL || errno == ESRCH ? -ESRCH : -errno;
	}
	if (len != sizeof(int) || pidfd < 0)
		return -EPROTO;
	ret = pidfd_check(pidfd, expect);
	if (ret < 0) {
		close_keep_errno(pidfd);
		return ret;
	}
	*out = pidfd;
	return 0;
}

int
fdmsg_peer_cred(int fd, unsigned flags, struct fdmsg_cred *out)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	int pidfd = -1, ret;

	if (fd < 0 || out == NULL || (flags & ~FDMSG_CRED_PIDFD) != 0)
		return -EINVAL;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	if (len < sizeof(uc))
		return -EPROTO;
	if (flags & FDMSG_CRED_PIDFD) {
		ret = peer_pidfd(fd, uc.pid, &pidfd);
		if (ret < 0)
			return ret;
	}
	out->pid = uc.pid;
	out->uid = uc.uid;
	out->gid = uc.gid;
	out->pidfd = pidfd;
	return 0;
}

#else /* !__linux__ */

int
fdmsg_peer_cred(int fd, unsigned flags, struct fdmsg_cred *out)
{
	pid_t pid;
	uid_t uid;
	gid_t gid;

	if (fd < 0 || out == NULL || (flags & ~FDMSG_CRED_PIDFD) != 0)
		return -EINVAL;
	if (flags & FDMSG_CRED_PIDFD)
		return -EOPNOTSUPP; /* no pidfd: never the racy pid instead */
#if defined(__OpenBSD__)
	{
		struct sockpeercred pc;
		socklen_t len = sizeof(pc);

		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &pc, &len) < 0)
			return -errno;
		pid = pc.pid;
		uid = pc.uid;
		gid = pc.gid;
	}
#elif defined(LOCAL_PEERPID)
	{
		socklen_t len = sizeof(pid);

		if (getpeereid(fd, &uid, &gid) < 0)
			return -errno;
		if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &len) < 0)
			return -errno;
	}
#else
	(void)pid;
	(void)uid;
	(void)gid;
	return -EOPNOTSUPP; /* uid and gid alone would leave pid a lie */
#endif
	out->pid = pid;
	out->uid = uid;
	out->gid = gid;
	out->pidfd = -1;
	return 0;
}

#endif
