/* SPDX-License-Identifier: ISC */
/*
 * The wrappers behind -Wl,--wrap=SYM (see fault.h).  Only symbols that
 * the static libraries reference are wrapped (nm -u on glibc 2.36 with
 * _FILE_OFFSET_BITS=64: fcntl64, open64, lstat64, fstat64).  Nothing here
 * may allocate: the allocators themselves are wrapped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fault.h"
#include "fdmsg.h"

/* The real functions (the linker maps __real_SYM to SYM). */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t sz);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
ssize_t __real_sendmsg(int fd, const struct msghdr *mh, int flags);
ssize_t __real_recvmsg(int fd, struct msghdr *mh, int flags);
int __real_close(int fd);
int __real_fcntl64(int fd, int cmd, ...);
int __real_poll(struct pollfd *fds, nfds_t n, int timeout);
int __real_socket(int domain, int type, int proto);
int __real_socketpair(int domain, int type, int proto, int sv[2]);
int __real_bind(int fd, const struct sockaddr *sa, socklen_t len);
int __real_listen(int fd, int backlog);
int __real_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags);
int __real_connect(int fd, const struct sockaddr *sa, socklen_t len);
int __real_getsockopt(int fd, int level, int opt, void *val,
		      socklen_t *len);
int __real_setsockopt(int fd, int level, int opt, const void *val,
		      socklen_t len);
int __real_getsockname(int fd, struct sockaddr *sa, socklen_t *len);
int __real_getpeername(int fd, struct sockaddr *sa, socklen_t *len);
int __real_shutdown(int fd, int how);
int __real_unlink(const char *path);
int __real_lstat64(const char *path, struct stat64 *st);
int __real_fstat64(int fd, struct stat64 *st);
int __real_open64(const char *path, int flags, ...);
ssize_t __real_read(int fd, void *p, size_t n);
int __real_chmod(const char *path, mode_t mode);
int __real_fchmod(int fd, mode_t mode);
int __real_fchmodat(int dirfd, const char *path, mode_t mode, int flags);
int __real_link(const char *from, const char *to);
int __real_flock(int fd, int op);
ssize_t __real_sendto(int fd, const void *p, size_t n, int flags,
		      const struct sockaddr *sa, socklen_t len);
ssize_t __real_recv(int fd, void *p, size_t n, int flags);

/* The wrappers (what the library calls). */
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t sz);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
ssize_t __wrap_sendmsg(int fd, const struct msghdr *mh, int flags);
ssize_t __wrap_recvmsg(int fd, struct msghdr *mh, int flags);
int __wrap_close(int fd);
int __wrap_fcntl64(int fd, int cmd, ...);
int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout);
int __wrap_socket(int domain, int type, int proto);
int __wrap_socketpair(int domain, int type, int proto, int sv[2]);
int __wrap_bind(int fd, const struct sockaddr *sa, socklen_t len);
int __wrap_listen(int fd, int backlog);
int __wrap_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags);
int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len);
int __wrap_getsockopt(int fd, int level, int opt, void *val,
		      socklen_t *len);
int __wrap_setsockopt(int fd, int level, int opt, const void *val,
		      socklen_t len);
int __wrap_getsockname(int fd, struct sockaddr *sa, socklen_t *len);
int __wrap_getpeername(int fd, struct sockaddr *sa, socklen_t *len);
int __wrap_shutdown(int fd, int how);
int __wrap_unlink(const char *path);
int __wrap_lstat64(const char *path, struct stat64 *st);
int __wrap_fstat64(int fd, struct stat64 *st);
int __wrap_open64(const char *path, int flags, ...);
ssize_t __wrap_read(int fd, void *p, size_t n);
int __wrap_chmod(const char *path, mode_t mode);
int __wrap_fchmod(int fd, mode_t mode);
int __wrap_fchmodat(int dirfd, const char *path, mode_t mode, int flags);
int __wrap_link(const char *from, const char *to);
int __wrap_flock(int fd, int op);
ssize_t __wrap_sendto(int fd, const void *p, size_t n, int flags,
		      const struct sockaddr *sa, socklen_t len);
ssize_t __wrap_recv(int fd, void *p, size_t n, int flags);

#define LIVE_MAX 1024

static struct {
	int armed;
	unsigned long calls;    /* armed calls, any kind */
	unsigned long kcalls[FK_NKINDS];
	unsigned long matched;  /* armed calls of the planned kind */
	unsigned long nth;      /* 0: no plan */
	int kind;               /* -1: any */
	int err;
	int fired;
	int fired_kind;
	struct fault_call trace[FAULT_TRACE_MAX];
	void *live[LIVE_MAX];   /* allocations made while armed */
	size_t nlive;
	size_t live_lost;       /* table full: counted, not tracked */
	fault_poll_hook hook;
	void *hook_arg;
} F;

void
fault_reset(void)
{
	F.armed = 0;
	F.calls = 0;
	memset(F.kcalls, 0, sizeof(F.kcalls));
	F.matched = 0;
	F.nth = 0;
	F.kind = -1;
	F.err = 0;
	F.fired = 0;
	F.fired_kind = -1;
	F.nlive = 0;
	F.live_lost = 0;
	F.hook = NULL;
	F.hook_arg = NULL;
}

void
fault_arm(void)
{
	F.armed = 1;
}

void
fault_disarm(void)
{
	F.armed = 0;
}

void
fault_plan(unsigned long nth, int kind, int err)
{
	F.nth = nth;
	F.kind = kind;
	F.err = err;
	F.matched = 0;
	F.fired = 0;
	F.fired_kind = -1;
}

unsigned long
fault_calls(void)
{
	return F.calls;
}

unsigned long
fault_kind_calls(int kind)
{
	return kind >= 0 && kind < FK_NKINDS ? F.kcalls[kind] : 0;
}

const struct fault_call *
fault_trace(void)
{
	return F.trace;
}

int
fault_fired(void)
{
	return F.fired;
}

int
fault_fired_kind(void)
{
	return F.fired_kind;
}

size_t
fault_live_allocs(void)
{
	return F.nlive + F.live_lost;
}

void
fault_set_poll_hook(fault_poll_hook fn, void *arg)
{
	F.hook = fn;
	F.hook_arg = arg;
}

const char *
fault_kind_name(int kind)
{
	static const char *const names[FK_NKINDS] = {
		[FK_MALLOC] = "malloc",
		[FK_CALLOC] = "calloc",
		[FK_REALLOC] = "realloc",
		[FK_SENDMSG] = "sendmsg",
		[FK_RECVMSG] = "recvmsg",
		[FK_CLOSE] = "close",
		[FK_FCNTL] = "fcntl",
		[FK_POLL] = "poll",
		[FK_SOCKET] = "socket",
		[FK_SOCKETPAIR] = "socketpair",
		[FK_BIND] = "bind",
		[FK_LISTEN] = "listen",
		[FK_ACCEPT4] = "accept4",
		[FK_CONNECT] = "connect",
		[FK_GETSOCKOPT] = "getsockopt",
		[FK_SETSOCKOPT] = "setsockopt",
		[FK_GETSOCKNAME] = "getsockname",
		[FK_GETPEERNAME] = "getpeername",
		[FK_SHUTDOWN] = "shutdown",
		[FK_UNLINK] = "unlink",
		[FK_LSTAT] = "lstat",
		[FK_FSTAT] = "fstat",
		[FK_OPEN] = "open",
		[FK_READ] = "read",
		[FK_CHMOD] = "chmod",
		[FK_FCHMOD] = "fchmod",
		[FK_FCHMODAT] = "fchmodat",
		[FK_LINK] = "link",
		[FK_FLOCK] = "flock",
		[FK_SENDTO] = "sendto",
		[FK_RECV] = "recv",
	};

	if (kind < 0 || kind >= FK_NKINDS)
		return "?";
	return names[kind];
}

/* The library's errno table, so a run names what fdmsg(1) would. */
const char *
fault_err_name(int err)
{
	const char *name;

	if (err == 0)
		return "none";
	if (err == FAULT_SHORT)
		return "short";
	name = fdmsg_errname(err);
	return name != NULL ? name : "E?";
}

static int
is_stream(int fd)
{
	socklen_t len = sizeof(int);
	int type = 0;

	if (__real_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return 0;
	return type == SOCK_STREAM;
}

/*
 * Counts one call (when armed) and says what to do with it: 0 pass
 * through, else the error (or FAULT_SHORT) to inject.  fd >= 0: a socket
 * whose type the trace records.
 */
static int
check(int kind, int fd)
{
	struct fault_call *t;
	int saved = errno;

	if (!F.armed)
		return 0;
	if (F.calls < FAULT_TRACE_MAX) {
		t = &F.trace[F.calls];
		t->kind = (unsigned char)kind;
		t->stream = (unsigned char)(fd >= 0 && is_stream(fd));
	}
	F.calls++;
	F.kcalls[kind]++;
	errno = saved;
	if (F.nth == 0 || F.fired || (F.kind >= 0 && F.kind != kind))
		return 0;
	if (++F.matched != F.nth)
		return 0;
	F.fired = 1;
	F.fired_kind = kind;
	return F.err;
}

static int
fail(int err)
{
	errno = err;
	return -1;
}

/* ---- allocation tracking ---- */

static void
live_add(void *p)
{
	if (p == NULL)
		return;
	if (F.nlive < LIVE_MAX)
		F.live[F.nlive++] = p;
	else
		F.live_lost++;
}

/* 1 when p was tracked (and is no more). */
static int
live_del(void *p)
{
	size_t i;

	if (p == NULL)
		return 0;
	for (i = 0; i < F.nlive; i++) {
		if (F.live[i] == p) {
			F.live[i] = F.live[--F.nlive];
			return 1;
		}
	}
	return 0;
}

void *
__wrap_malloc(size_t n)
{
	void *p;

	if (check(FK_MALLOC, -1)) {
		errno = ENOMEM;
		return NULL;
	}
	p = __real_malloc(n);
	if (F.armed)
		live_add(p);
	return p;
}

void *
__wrap_calloc(size_t n, size_t sz)
{
	void *p;

	if (check(FK_CALLOC, -1)) {
		errno = ENOMEM;
		return NULL;
	}
	p = __real_calloc(n, sz);
	if (F.armed)
		live_add(p);
	return p;
}

void *
__wrap_realloc(void *p, size_t n)
{
	void *np;
	int tracked;

	if (check(FK_REALLOC, -1)) {
		errno = ENOMEM;
		return NULL; /* p stays valid, as realloc(3) leaves it */
	}
	np = __real_realloc(p, n);
	if (np == NULL && n > 0)
		return NULL;
	tracked = live_del(p);
	if (F.armed || tracked)
		live_add(np);
	return np;
}

void
__wrap_free(void *p)
{
	(void)live_del(p);
	__real_free(p);
}

/* ---- syscalls ---- */

/* Bytes in iov[0..n). */
static size_t
iov_total(const struct iovec *iov, size_t n)
{
	size_t i, t = 0;

	for (i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

/* Copies iov[0..n) to out (at most outmax entries), cut to at most
 * limit bytes (limit >= 1).  Returns the entries used. */
static size_t
iov_cut(const struct iovec *iov, size_t n, size_t limit,
	struct iovec *out, size_t outmax)
{
	size_t i, k = 0;

	for (i = 0; i < n && limit > 0 && k < outmax; i++) {
		if (iov[i].iov_len == 0)
			continue;
		out[k] = iov[i];
		if (out[k].iov_len > limit)
			out[k].iov_len = limit;
		limit -= out[k].iov_len;
		k++;
	}
	return k;
}

ssize_t
__wrap_sendmsg(int fd, const struct msghdr *mh, int flags)
{
	struct iovec half[64];
	struct msghdr m;
	size_t total;
	int err = check(FK_SENDMSG, fd);

	/* The kernel takes half of what is offered. */
	if (err == FAULT_SHORT && is_stream(fd) &&
	    (total = iov_total(mh->msg_iov, mh->msg_iovlen)) >= 2) {
		m = *mh;
		m.msg_iov = half;
		m.msg_iovlen = iov_cut(mh->msg_iov, mh->msg_iovlen, total / 2,
				       half, sizeof(half) / sizeof(half[0]));
		return __real_sendmsg(fd, &m, flags);
	} else if (err != 0 && err != FAULT_SHORT) {
		return fail(err);
	}
	return __real_sendmsg(fd, mh, flags);
}

ssize_t
__wrap_recvmsg(int fd, struct msghdr *mh, int flags)
{
	struct iovec half[64];
	struct msghdr m;
	ssize_t n;
	int avail = 0, err = check(FK_RECVMSG, fd);

	/* Half of what is waiting, whatever room the caller offers. */
	if (err == FAULT_SHORT && is_stream(fd) &&
	    ioctl(fd, FIONREAD, &avail) == 0 && avail >= 2) {
		m = *mh;
		m.msg_iov = half;
		m.msg_iovlen = iov_cut(mh->msg_iov, mh->msg_iovlen,
				       (size_t)avail / 2, half,
				       sizeof(half) / sizeof(half[0]));
		n = __real_recvmsg(fd, &m, flags);
		/* What recvmsg writes back into the header. */
		mh->msg_namelen = m.msg_namelen;
		mh->msg_controllen = m.msg_controllen;
		mh->msg_flags = m.msg_flags;
		return n;
	} else if (err != 0 && err != FAULT_SHORT) {
		return fail(err);
	}
	return __real_recvmsg(fd, mh, flags);
}

int
__wrap_close(int fd)
{
	int err = check(FK_CLOSE, -1);

	/* Linux frees the descriptor whatever close(2) then reports (EINTR
	 * included): a failed close must still close. */
	if (err != 0) {
		(void)__real_close(fd);
		return fail(err);
	}
	return __real_close(fd);
}

int
__wrap_fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;
	int err;

	va_start(ap, cmd);
	arg = va_arg(ap, void *); /* as glibc: every cmd takes <= 1 word */
	va_end(ap);
	err = check(FK_FCNTL, -1);
	if (err != 0)
		return fail(err);
	return __real_fcntl64(fd, cmd, arg);
}

int
__wrap_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	int err = check(FK_POLL, -1);

	if (F.armed && F.hook != NULL) {
		F.armed = 0;
		F.hook(F.hook_arg, fds, n);
		F.armed = 1;
	}
	if (err != 0)
		return fail(err);
	return __real_poll(fds, n, timeout);
}

int
__wrap_socket(int domain, int type, int proto)
{
	int err = check(FK_SOCKET, -1);

	return err ? fail(err) : __real_socket(domain, type, proto);
}

int
__wrap_socketpair(int domain, int type, int proto, int sv[2])
{
	int err = check(FK_SOCKETPAIR, -1);

	return err ? fail(err) : __real_socketpair(domain, type, proto, sv);
}

int
__wrap_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	int err = check(FK_BIND, -1);

	return err ? fail(err) : __real_bind(fd, sa, len);
}

int
__wrap_listen(int fd, int backlog)
{
	int err = check(FK_LISTEN, -1);

	return err ? fail(err) : __real_listen(fd, backlog);
}

int
__wrap_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	int err = check(FK_ACCEPT4, -1);

	return err ? fail(err) : __real_accept4(fd, sa, len, flags);
}

int
__wrap_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	int err = check(FK_CONNECT, -1);

	return err ? fail(err) : __real_connect(fd, sa, len);
}

int
__wrap_getsockopt(int fd, int level, int opt, void *val,
		  socklen_t *len)
{
	int err = check(FK_GETSOCKOPT, -1);

	return err ? fail(err) : __real_getsockopt(fd, level, opt, val, len);
}

int
__wrap_setsockopt(int fd, int level, int opt, const void *val,
		  socklen_t len)
{
	int err = check(FK_SETSOCKOPT, -1);

	return err ? fail(err) : __real_setsockopt(fd, level, opt, val, len);
}

int
__wrap_getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
	int err = check(FK_GETSOCKNAME, -1);

	return err ? fail(err) : __real_getsockname(fd, sa, len);
}

int
__wrap_getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
	int err = check(FK_GETPEERNAME, -1);

	return err ? fail(err) : __real_getpeername(fd, sa, len);
}

int
__wrap_shutdown(int fd, int how)
{
	int err = check(FK_SHUTDOWN, -1);

	return err ? fail(err) : __real_shutdown(fd, how);
}

int
__wrap_unlink(const char *path)
{
	int err = check(FK_UNLINK, -1);

	return err ? fail(err) : __real_unlink(path);
}

int
__wrap_lstat64(const char *path, struct stat64 *st)
{
	int err = check(FK_LSTAT, -1);

	return err ? fail(err) : __real_lstat64(path, st);
}

int
__wrap_fstat64(int fd, struct stat64 *st)
{
	int err = check(FK_FSTAT, -1);

	return err ? fail(err) : __real_fstat64(fd, st);
}

int
__wrap_open64(const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;
	int err;

	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	err = check(FK_OPEN, -1);
	if (err != 0)
		return fail(err);
	return __real_open64(path, flags, mode);
}

ssize_t
__wrap_read(int fd, void *p, size_t n)
{
	int err = check(FK_READ, -1);

	/* A few bytes, as a pipe or a slow file may give. */
	if (err == FAULT_SHORT)
		return __real_read(fd, p, n > 16 ? 8 : n > 1 ? n / 2 : n);
	if (err != 0)
		return fail(err);
	return __real_read(fd, p, n);
}

int
__wrap_chmod(const char *path, mode_t mode)
{
	int err = check(FK_CHMOD, -1);

	return err ? fail(err) : __real_chmod(path, mode);
}

int
__wrap_fchmod(int fd, mode_t mode)
{
	int err = check(FK_FCHMOD, -1);

	return err ? fail(err) : __real_fchmod(fd, mode);
}

int
__wrap_fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	int err = check(FK_FCHMODAT, -1);

	return err ? fail(err) : __real_fchmodat(dirfd, path, mode, flags);
}

int
__wrap_link(const char *from, const char *to)
{
	int err = check(FK_LINK, -1);

	return err ? fail(err) : __real_link(from, to);
}

int
__wrap_flock(int fd, int op)
{
	int err = check(FK_FLOCK, -1);

	return err ? fail(err) : __real_flock(fd, op);
}

ssize_t
__wrap_sendto(int fd, const void *p, size_t n, int flags,
	      const struct sockaddr *sa, socklen_t len)
{
	int err = check(FK_SENDTO, -1);

	return err ? fail(err) : __real_sendto(fd, p, n, flags, sa, len);
}

ssize_t
__wrap_recv(int fd, void *p, size_t n, int flags)
{
	int err = check(FK_RECV, -1);

	return err ? fail(err) : __real_recv(fd, p, n, flags);
}
