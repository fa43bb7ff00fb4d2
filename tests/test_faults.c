/* SPDX-License-Identifier: ISC */
/*
 * Fault injection (issue 5): every allocation and every syscall the
 * library makes fails, once, at each point of a realistic exchange.
 *
 * For each scenario, a counting run (no fault) finds the N armed calls
 * and their kinds; then for each call i and each errno that call can
 * really return, the scenario runs again with call i failing.  Each run
 * must end with correct results (every frame, payload and descriptor as
 * sent) or with a library call returning the injected error (or its
 * documented translation) -- never EINTR, which the library absorbs, and
 * never a short count, which it completes.  After each run: the
 * descriptor table is as before, every block allocated inside the
 * library is freed (tests/fault.c tracks them, in every build), and
 * under ASan LeakSanitizer finds nothing at the end of the test.
 *
 * FDMSG_FAULTS_SAMPLE=N runs every Nth (point, errno) pair only (for
 * valgrind).  FDMSG_FAULTS_VERBOSE=1 prints each run before it starts.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fault.h"
#include "fdmsg.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define FAULTS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FAULTS_ASAN 1
#endif
#endif
#ifdef FAULTS_ASAN
#include <sanitizer/lsan_interface.h>
#endif

/* The library calls a scenario makes, for the allowed-error table. */
enum lcall {
	L_PAIR,
	L_CHAN_NEW,
	L_SEND,
	L_FLUSH,
	L_FLUSH_WAIT,
	L_RECV,
	L_RECV_WAIT,
	L_SHUTDOWN,
	L_LISTEN,
	L_CONNECT,
	L_ACCEPT,
	L_PEER_CRED,
	L_WBUF,
};

static const char *const lcall_name[] = {
	[L_PAIR] = "fdmsg_pair",
	[L_CHAN_NEW] = "fdmsg_chan_new",
	[L_SEND] = "fdmsg_send",
	[L_FLUSH] = "fdmsg_flush",
	[L_FLUSH_WAIT] = "fdmsg_flush_wait",
	[L_RECV] = "fdmsg_recv",
	[L_RECV_WAIT] = "fdmsg_recv_wait",
	[L_SHUTDOWN] = "fdmsg_shutdown",
	[L_LISTEN] = "fdmsg_listen",
	[L_CONNECT] = "fdmsg_connect",
	[L_ACCEPT] = "fdmsg_accept",
	[L_PEER_CRED] = "fdmsg_peer_cred",
	[L_WBUF] = "fdmsg_wbuf_*",
};

/* What the poll hook does (fault_set_poll_hook). */
enum phase { PH_NONE, PH_DRAIN, PH_SEND };

struct run {
	int type;                 /* socket type */
	unsigned opt_flags;       /* FDMSG_OPT_* of both channels */
	int free_stdin;           /* received descriptors land on 0 */
	int sock_flags;           /* FDMSG_SOCK_* (scen_sockflags) */
	const char *path;         /* sock scenarios: the socket file */
	int inj;                  /* planned error; 0 in the counting run */
	struct fdmsg_chan *tx, *rx;
	int rx_unconnected;       /* rx: a bound, receive-only DGRAM */
	struct fdmsg_msg msg;     /* rx's current message */
	unsigned got;             /* frames received and checked */
	unsigned pidfds;          /* frames that came with a pidfd */
	enum phase phase;
	int hook_sent;
	int completed;            /* the whole scenario, results correct */
	char bad[400];            /* the first violation */
};

/* The descriptors frames carry, and their identities. */
static int orig_fd[3] = { -1, -1, -1 };
static struct stat orig_st[3];

#define K_LAST 26u /* the frame fdmsg_recv_wait gets (exchange) */

/* stmt, a library call, with the injector armed. */
#define ARMED(stmt)                                                      \
	do {                                                             \
		fault_arm();                                             \
		stmt;                                                    \
		fault_disarm();                                          \
	} while (0)

/* A need_kinds array and its length, for run_points. */
#define NEED(kinds) (kinds), sizeof(kinds) / sizeof((kinds)[0])

#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
static void
bad(struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->bad[0] != '\0')
		return;
	va_start(ap, fmt);
	(void)vsnprintf(r->bad, sizeof(r->bad), fmt, ap);
	va_end(ap);
}

/*
 * May call return ret after inj was injected?  The injected error
 * itself, or what the library documents it becomes.  EINTR and a short
 * count never: the library absorbs them.
 */
static int
allowed(enum lcall call, int inj, int ret)
{
	if (inj == 0 || inj == EINTR || inj == FAULT_SHORT)
		return 0;
	if (ret == -inj)
		return 1;
	/* set_flag / peer_pidfd: an unknown option is "not supported". */
	if (inj == ENOPROTOOPT && ret == -EOPNOTSUPP)
		return 1;
	switch (call) {
	case L_RECV:
	case L_RECV_WAIT:
		/* The peer's reset is its end: -EPIPE, or -EBADMSG when it
		 * cuts a stream frame short (DESIGN rule 5). */
		return inj == ECONNRESET && (ret == -EPIPE || ret == -EBADMSG);
	case L_LISTEN:
		/* is_stale: a probe connect that fails otherwise than
		 * ECONNREFUSED means someone may hold the socket. */
		return ret == -EADDRINUSE;
	case L_PEER_CRED:
		/* peer_pidfd: an older kernel's EINVAL is a reaped peer. */
		return inj == EINVAL && ret == -ESRCH;
	default:
		return 0;
	}
}

/* A library call failed: an allowed outcome of the fault, or a bug.
 * Always stops the scenario (returns -1). */
static int
lib_error(struct run *r, enum lcall call, int ret)
{
	if (!fault_fired())
		bad(r, "%s returned %s (%d) with no fault injected",
		    lcall_name[call], fault_err_name(ret), ret);
	else if (ret == -EINTR)
		bad(r, "%s returned -EINTR: EINTR surfaced", lcall_name[call]);
	else if (!allowed(call, r->inj, ret))
		bad(r, "%s returned %s (%d)", lcall_name[call], fault_err_name(ret),
		    ret);
	return -1;
}

/* A receive failed.  An error that poisons (DESIGN rule 5) or ends the
 * channel must come back from the next receive too; on a receive-only
 * DGRAM channel the bad datagram is dropped instead, and the next
 * receive must not repeat it.  (A failed poll in fdmsg_recv_wait
 * consumed nothing: no such rule.) */
static int
recv_failed(struct run *r, enum lcall call, int ret)
{
	const int kind = fault_fired_kind();
	const int read = kind == FK_RECVMSG || kind == FK_FCNTL;
	int again;

	lib_error(r, call, ret);
	if (ret == -EPROTO || ret == -EBADMSG || ret == -EMSGSIZE ||
	    (read && ret == -EMFILE) ||
	    (read && ret == -EPIPE && r->inj == ECONNRESET)) {
		again = fdmsg_recv(r->rx, &r->msg);
		if (r->rx_unconnected && again == ret)
			bad(r, "%s returned %s, and so did the next fdmsg_recv "
			    "of a receive-only channel", lcall_name[call],
			    fault_err_name(ret));
		else if (!r->rx_unconnected && again != ret)
			bad(r, "%s returned %s, the next fdmsg_recv %s (%d)",
			    lcall_name[call], fault_err_name(ret), fault_err_name(again),
			    again);
	}
	return -1;
}

/* A send or flush failed.  A peer that sendmsg says is dead leaves
 * nothing queued: the duplicates are closed when dropped, not at
 * fdmsg_chan_free. */
static int
send_failed(struct run *r, enum lcall call, int ret)
{
	lib_error(r, call, ret);
	if (fault_fired_kind() == FK_SENDMSG &&
	    (ret == -EPIPE || ret == -ECONNRESET) && fdmsg_want_write(r->tx))
		bad(r, "%s returned %s with frames still queued",
		    lcall_name[call], fault_err_name(ret));
	return -1;
}

/* ------------------------------------------------------------------ */
/* Frames                                                              */
/* ------------------------------------------------------------------ */

static void
spec(unsigned k, size_t *len, unsigned *nfds)
{
	static const size_t l0[] = { 5, 0, 100, 64, 10, 8 };
	static const unsigned n0[] = { 0, 1, 3, 0, 1, 0 };

	if (k < 6) {
		*len = l0[k];
		*nfds = n0[k];
	} else if (k == K_LAST) {
		*len = 3;
		*nfds = 1;
	} else {
		*len = 1500 + (k * 97) % 700;
		*nfds = k % 4 == 0 ? 2 : k % 4 == 2 ? 1 : 0;
	}
}

static uint8_t
pbyte(unsigned k, size_t j)
{
	return (uint8_t)(k * 37u + j * 7u + 1u);
}

/* Sends frame k from ch (armed if arm).  k == 3 gathers 20 iovecs (more
 * than the stack array: the channel's iovec array is allocated); flags as
 * given (FDMSG_CLOSE_FDS: a duplicate the library must close). */
static int
send_frame(struct fdmsg_chan *ch, unsigned k, unsigned flags,
	   int arm)
{
	uint8_t buf[2400];
	struct iovec iov[20];
	int fds[3];
	size_t len, j, niov = 1;
	unsigned nfds, i;
	int ret;

	spec(k, &len, &nfds);
	for (j = 0; j < len; j++)
		buf[j] = pbyte(k, j);
	for (i = 0; i < nfds; i++)
		fds[i] = orig_fd[(k + i) % 3];
	if (flags & FDMSG_CLOSE_FDS) {
		fds[0] = dup(orig_fd[k % 3]);
		cr_assert_geq(fds[0], 0);
	}
	iov[0].iov_base = buf;
	iov[0].iov_len = len;
	if (k == 3) {
		for (j = 0; j < 20; j++) {
			iov[j].iov_base = buf + j * 3;
			iov[j].iov_len = j < 19 ? 3 : len - 57;
		}
		niov = 20;
	}
	if (arm)
		fault_arm();
	ret = fdmsg_send(ch, 100 + k, 1000 + k, iov, niov, fds, nfds, flags);
	if (arm)
		fault_disarm();
	return ret;
}

/* Checks the received message against frame k; takes its first
 * descriptor (and closes it), leaves the rest to the library. */
static void
check_msg(struct run *r, unsigned k, struct fdmsg_msg *m)
{
	struct stat st;
	size_t len, j;
	unsigned nfds, i;
	int fd, fl;

	spec(k, &len, &nfds);
	if (m->type != 100 + k || m->peerid != 1000 + k) {
		bad(r, "frame %u: got type %u peerid %u", k, m->type,
		    m->peerid);
		return;
	}
	if (m->len != len || m->nfds != nfds) {
		bad(r, "frame %u: len %zu nfds %u, want %zu %u", k, m->len,
		    m->nfds, len, nfds);
		return;
	}
	for (j = 0; j < len; j++) {
		if (((const uint8_t *)m->payload)[j] != pbyte(k, j)) {
			bad(r, "frame %u: payload byte %zu differs", k, j);
			return;
		}
	}
	for (i = 0; i < nfds; i++) {
		fd = m->fds[i];
		if (fd <= 2 || fstat(fd, &st) < 0 ||
		    st.st_dev != orig_st[(k + i) % 3].st_dev ||
		    st.st_ino != orig_st[(k + i) % 3].st_ino) {
			bad(r, "frame %u: descriptor %u (%d) is not the one "
			    "sent", k, i, fd);
			return;
		}
		fl = fcntl(fd, F_GETFD);
		if (fl < 0 || !(fl & FD_CLOEXEC)) {
			bad(r, "frame %u: descriptor %u not close-on-exec", k,
			    i);
			return;
		}
	}
	if (r->opt_flags & FDMSG_OPT_CREDS) {
		if (!m->has_cred || m->cred.pid != getpid() ||
		    m->cred.uid != getuid() || m->cred.gid != getgid()) {
			bad(r, "frame %u: credentials %d pid %d uid %u", k,
			    m->has_cred, (int)m->cred.pid,
			    (unsigned)m->cred.uid);
			return;
		}
	}
	if (m->cred.pidfd >= 0) {
		fl = fcntl(m->cred.pidfd, F_GETFD);
		if (!(r->opt_flags & FDMSG_OPT_PIDFD) || m->cred.pidfd <= 2 ||
		    fl < 0 || !(fl & FD_CLOEXEC)) {
			bad(r, "frame %u: pidfd %d", k, m->cred.pidfd);
			return;
		}
		r->pidfds++;
		if (k % 3 == 0) {
			fd = fdmsg_msg_take_pidfd(m);
			if (fd <= 2) {
				bad(r, "frame %u: take_pidfd gave %d", k, fd);
				return;
			}
			close(fd);
		}
	}
	if (nfds > 0) {
		fd = fdmsg_msg_take_fd(m, 0);
		if (fd <= 2) {
			bad(r, "frame %u: take_fd gave %d", k, fd);
			return;
		}
		close(fd);
	}
}

/* Receives frame r->got on rx, flushing tx whenever rx has nothing. */
static int
recv_next(struct run *r)
{
	int idle = 0, tries, ret, f;

	for (tries = 0; tries < 20000; tries++) {
		ARMED(ret = fdmsg_recv(r->rx, &r->msg));
		if (ret == 0) {
			check_msg(r, r->got++, &r->msg);
			return r->bad[0] != '\0' ? -1 : 0;
		}
		if (ret != -EAGAIN)
			return recv_failed(r, L_RECV, ret);
		ARMED(f = fdmsg_flush(r->tx));
		if (f < 0 && f != -EAGAIN)
			return send_failed(r, L_FLUSH, f);
		/* Unix sockets deliver at once: nothing to read and nothing
		 * queued, twice over (one EAGAIN may be injected), means the
		 * frame is gone. */
		if (f == 0 && ++idle > 2) {
			bad(r, "frame %u lost: receiver idle, send queue empty",
			    r->got);
			return -1;
		}
	}
	bad(r, "frame %u: no progress", r->got);
	return -1;
}

/* Poll hook: make the other end ready, disarmed (fault.h). */
static void
hook(void *arg, const struct pollfd *fds, nfds_t n)
{
	struct run *r = arg;
	int ret, i;

	(void)fds;
	(void)n;
	if (r->phase == PH_DRAIN) {
		/* flush_wait waits for room: read what has arrived. */
		for (i = 0; i < 1000; i++) {
			ret = fdmsg_recv(r->rx, &r->msg);
			if (ret == -EAGAIN)
				return;
			if (ret < 0) {
				bad(r, "poll hook: fdmsg_recv returned %s",
				    fault_err_name(ret));
				return;
			}
			check_msg(r, r->got++, &r->msg);
		}
	} else if (r->phase == PH_SEND && !r->hook_sent) {
		/* recv_wait waits for data: send the last frame. */
		r->hook_sent = 1;
		ret = send_frame(r->tx, K_LAST, 0, 0);
		if (ret < 0)
			bad(r, "poll hook: fdmsg_send returned %s",
			    fault_err_name(ret));
	}
}

/* ------------------------------------------------------------------ */
/* Scenarios                                                           */
/* ------------------------------------------------------------------ */

/* Closes what rx and tx hold, armed: teardown is injected too. */
static void
teardown(struct run *r)
{
	fault_set_poll_hook(NULL, NULL);
	fault_arm();
	fdmsg_msg_release(&r->msg);
	fdmsg_chan_free(r->rx);
	fdmsg_chan_free(r->tx);
	fault_disarm();
	r->rx = r->tx = NULL;
}

/* Frames first..end-1, each sent and then each received and checked;
 * -1 once one call failed (recorded). */
static int
send_then_recv(struct run *r, unsigned first, unsigned end)
{
	unsigned k;
	int ret;

	for (k = first; k < end; k++)
		if ((ret = send_frame(r->tx, k, 0, 1)) < 0)
			return send_failed(r, L_SEND, ret);
	while (r->got < end)
		if (recv_next(r) < 0)
			return -1;
	return 0;
}

/*
 * A channel pair exchanging 27 frames of every shape: without, with one
 * and with three descriptors, 20 iovecs, FDMSG_CLOSE_FDS, FDMSG_NO_QUEUE;
 * twelve frames queued behind a small SO_SNDBUF and flushed by hand;
 * eight drained by fdmsg_flush_wait; one awaited by fdmsg_recv_wait;
 * then the end.
 */
static void
scen_exchange(struct run *r)
{
	struct fdmsg_opts o;
	int sv[2] = { -1, -1 }, sndbuf = 4096, ret, tries;
	unsigned k;

	fdmsg_opts_init(&o);
	o.max_fds = 4;
	o.flags = r->opt_flags;
	/* Hold 0 while the sockets are made, then free it for the
	 * descriptors that arrive. */
	if (r->free_stdin)
		cr_assert_eq(open("/dev/null", O_RDONLY | O_CLOEXEC), 0);
	ARMED(ret = fdmsg_pair(r->type, sv));
	if (ret < 0) {
		if (r->free_stdin)
			close(0);
		lib_error(r, L_PAIR, ret);
		return;
	}
	cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
				sizeof(sndbuf)), 0);
	ARMED(ret = fdmsg_chan_new(&r->tx, sv[0], &o, FDMSG_CHAN_OWN_FD));
	if (ret < 0) {
		close(sv[1]);
		if (r->free_stdin)
			close(0);
		lib_error(r, L_CHAN_NEW, ret);
		return;
	}
	ARMED(ret = fdmsg_chan_new(&r->rx, sv[1], &o, FDMSG_CHAN_OWN_FD));
	if (r->free_stdin)
		close(0);
	if (ret < 0) {
		lib_error(r, L_CHAN_NEW, ret);
		goto out;
	}

	/* A: sent straight from the caller's memory. */
	if (send_then_recv(r, 0, 3) < 0)
		goto out;
	if ((ret = send_frame(r->tx, 3, 0, 1)) < 0 ||
	    (ret = send_frame(r->tx, 4, FDMSG_CLOSE_FDS, 1)) < 0)
		goto send_fail;
	while (r->got < 5)
		if (recv_next(r) < 0)
			goto out;
	for (tries = 0;; tries++) {
		ret = send_frame(r->tx, 5, FDMSG_NO_QUEUE, 1);
		if (ret != -EAGAIN || tries > 3)
			break;
	}
	if (ret < 0)
		goto send_fail;
	if (recv_next(r) < 0)
		goto out;

	/* B: a queue behind the small send buffer, pumped by hand. */
	if (send_then_recv(r, 6, 18) < 0)
		goto out;

	/* C: fdmsg_flush_wait polls; the hook reads meanwhile. */
	for (k = 18; k < 26; k++)
		if ((ret = send_frame(r->tx, k, 0, 1)) < 0)
			goto send_fail;
	r->phase = PH_DRAIN;
	fault_set_poll_hook(hook, r);
	ARMED(ret = fdmsg_flush_wait(r->tx, 5000));
	if (r->bad[0] != '\0')
		goto out;
	if (ret < 0) {
		send_failed(r, L_FLUSH_WAIT, ret);
		goto out;
	}
	while (r->got < 26)
		if (recv_next(r) < 0)
			goto out;

	/* D: fdmsg_recv_wait polls; the hook sends. */
	r->phase = PH_SEND;
	ARMED(ret = fdmsg_recv_wait(r->rx, &r->msg, 5000));
	if (r->bad[0] != '\0')
		goto out;
	if (ret < 0) {
		recv_failed(r, L_RECV_WAIT, ret);
		goto out;
	}
	check_msg(r, r->got++, &r->msg);
	if (r->bad[0] != '\0')
		goto out;
	r->phase = PH_NONE;

	/* E: the end (a DGRAM peer sees none). */
	ARMED(ret = fdmsg_shutdown(r->tx));
	if (ret < 0) {
		lib_error(r, L_SHUTDOWN, ret);
		goto out;
	}
	ARMED(ret = fdmsg_recv(r->rx, &r->msg));
	if (ret != (r->type == SOCK_DGRAM ? -EAGAIN : -EPIPE)) {
		if (ret == 0)
			bad(r, "a frame after the last one");
		else
			recv_failed(r, L_RECV, ret);
		goto out;
	}
	if ((r->opt_flags & FDMSG_OPT_PIDFD) && r->pidfds == 0) {
		bad(r, "no frame came with a pidfd");
		goto out;
	}
	r->completed = 1;
	goto out;

send_fail:
	send_failed(r, L_SEND, ret);
out:
	teardown(r);
}

/* A socket file nobody listens on, as a crashed server leaves it. */
static void
make_stale(const char *path, int type, struct stat *st)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	cr_assert_lt(strlen(path), sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0,
		     "bind %s: %s", path, strerror(errno));
	close(fd);
	cr_assert_eq(lstat(path, st), 0);
}

static void
close_if(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * Removes the temporary names fdmsg_listen binds at (".fdmsg-*") from
 * path's directory; returns how many there were.
 */
static int
tmp_names_removed(const char *path)
{
	char dir[64], p[64 + 256 + 2];
	const char *slash = strrchr(path, '/');
	DIR *d;
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(slash);
	cr_assert_lt((size_t)(slash - path), sizeof(dir));
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	d = opendir(dir);
	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, ".fdmsg-", 7) != 0)
			continue;
		(void)snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (unlink(p) < 0) {
			/* FDMSG_PORTABLE_BIND: a private directory. */
			char in[sizeof(p) + 2];

			cr_assert_eq(errno, EISDIR);
			(void)snprintf(in, sizeof(in), "%s/s", p);
			(void)unlink(in);
			cr_assert_eq(rmdir(p), 0);
		}
		n++;
	}
	closedir(d);
	return n;
}

/*
 * fdmsg_listen replacing a stale socket file (mode 0660 under umask
 * 077, so the file's mode is set after bind), fdmsg_connect,
 * fdmsg_accept with a uid allow-list, fdmsg_peer_cred with a pidfd, one
 * frame with a descriptor over channels on both ends, then the same
 * listen/connect/accept on an abstract name.  DGRAM: the bound socket
 * is a receive-only channel; no accept.
 */
static void
scen_sock(struct run *r)
{
	struct fdmsg_opts o;
	struct fdmsg_cred cred;
	struct stat st, stale;
	char name[64];
	uid_t me = getuid();
	int lfd = -1, cfd = -1, afd = -1, l2 = -1, c2 = -1, a2 = -1, ret;

	fdmsg_opts_init(&o);
	o.max_fds = 1;
	/* Under umask 077 the stale file is 0700, the library's 0600 or
	 * 0660: inode numbers alone may be reused. */
	make_stale(r->path, r->type, &stale);

	ARMED(lfd = fdmsg_listen(r->path, r->type, 0660));
	if (lfd < 0) {
		lib_error(r, L_LISTEN, lfd);
		/* "The path is left as found": at most the stale file. */
		if (lstat(r->path, &st) == 0 &&
		    (st.st_ino != stale.st_ino ||
		     st.st_mode != stale.st_mode) &&
		    fault_fired_kind() != FK_UNLINK)
			bad(r, "failed fdmsg_listen left its own socket "
			    "file at the path");
		goto out;
	}
	if (lstat(r->path, &st) < 0) {
		bad(r, "no socket file after fdmsg_listen");
		goto out;
	}
	if (!S_ISSOCK(st.st_mode) || (st.st_mode & 07777) != 0660) {
		bad(r, "listening socket file: mode %o, want socket 0660",
		    (unsigned)st.st_mode);
		goto out;
	}
	ARMED(cfd = fdmsg_connect(r->path, r->type));
	if (cfd < 0) {
		lib_error(r, L_CONNECT, cfd);
		goto out;
	}
	if (r->type != SOCK_DGRAM) {
		ARMED(afd = fdmsg_accept(lfd, &me, 1));
		if (afd < 0) {
			lib_error(r, L_ACCEPT, afd);
			goto out;
		}
		ARMED(ret = fdmsg_peer_cred(afd, FDMSG_CRED_PIDFD, &cred));
		if (ret < 0) {
			lib_error(r, L_PEER_CRED, ret);
			goto out;
		}
		if (cred.pid != getpid() || cred.uid != me ||
		    cred.gid != getgid() || cred.pidfd < 3)
			bad(r, "peer_cred: pid %d uid %u gid %u pidfd %d",
			    (int)cred.pid, (unsigned)cred.uid,
			    (unsigned)cred.gid, cred.pidfd);
		if (cred.pidfd >= 0)
			close(cred.pidfd);
		if (r->bad[0] != '\0')
			goto out;
		ARMED(ret = fdmsg_peer_cred(cfd, 0, &cred));
		if (ret < 0) {
			lib_error(r, L_PEER_CRED, ret);
			goto out;
		}
		if (cred.pid != getpid() || cred.pidfd != -1) {
			bad(r, "peer_cred: pid %d pidfd %d", (int)cred.pid,
			    cred.pidfd);
			goto out;
		}
	}

	/* The channels: rx owns the accepted socket; a DGRAM rx borrows
	 * the bound one.  Owned means owned from the call on. */
	r->rx_unconnected = r->type == SOCK_DGRAM;
	fault_arm();
	if (r->type == SOCK_DGRAM)
		ret = fdmsg_chan_new(&r->rx, lfd, &o, 0);
	else
		ret = fdmsg_chan_new(&r->rx, afd, &o, FDMSG_CHAN_OWN_FD);
	fault_disarm();
	afd = -1;
	if (ret < 0) {
		lib_error(r, L_CHAN_NEW, ret);
		goto out;
	}
	ARMED(ret = fdmsg_chan_new(&r->tx, cfd, &o, FDMSG_CHAN_OWN_FD));
	cfd = -1;
	if (ret < 0) {
		lib_error(r, L_CHAN_NEW, ret);
		goto out;
	}
	if ((ret = send_frame(r->tx, 0, 0, 1)) < 0 ||
	    (ret = send_frame(r->tx, 1, 0, 1)) < 0) {
		send_failed(r, L_SEND, ret);
		goto out;
	}
	while (r->got < 2)
		if (recv_next(r) < 0)
			goto out;

	/* The abstract namespace: no file, no stale check. */
	(void)snprintf(name, sizeof(name), "@fdmsg-faults-%d-%d",
		       (int)getpid(), r->type);
	ARMED(l2 = fdmsg_listen(name, r->type, 0));
	if (l2 < 0) {
		lib_error(r, L_LISTEN, l2);
		goto out;
	}
	ARMED(c2 = fdmsg_connect(name, r->type));
	if (c2 < 0) {
		lib_error(r, L_CONNECT, c2);
		goto out;
	}
	if (r->type != SOCK_DGRAM) {
		ARMED(a2 = fdmsg_accept(l2, NULL, 0));
		if (a2 < 0) {
			lib_error(r, L_ACCEPT, a2);
			goto out;
		}
	}
	r->completed = 1;
out:
	teardown(r);
	close_if(&lfd);
	close_if(&cfd);
	close_if(&afd);
	close_if(&l2);
	close_if(&c2);
	close_if(&a2);
	(void)unlink(r->path);
	/* Only a failed unlink of its own may leave one. */
	if (tmp_names_removed(r->path) > 0 && fault_fired_kind() != FK_UNLINK)
		bad(r, "a temporary name was left in the directory");
}

/* The growable writer: eager and lazy first allocation, growth by
 * realloc, the sticky -ENOMEM. */
static void
scen_wbuf(struct run *r)
{
	struct fdmsg_wbuf w;
	uint8_t chunk[100];
	size_t j;
	int ret, i, err;

	memset(chunk, 0x5a, sizeof(chunk));
	ARMED(ret = fdmsg_wbuf_init(&w, 16, 4096));
	if (ret < 0) {
		lib_error(r, L_WBUF, ret);
		return;
	}
	for (i = 0; i < 5; i++) {
		ARMED(ret = fdmsg_wbuf_append(&w, chunk, sizeof(chunk)));
		if (ret < 0)
			break;
	}
	if (ret < 0) {
		lib_error(r, L_WBUF, ret);
		/* Sticky, and the contents as before the failure. */
		ARMED(err = fdmsg_wbuf_put_u8(&w, 1));
		if (err != ret || fdmsg_wbuf_error(&w) != ret ||
		    fdmsg_wbuf_len(&w) != (size_t)i * sizeof(chunk))
			bad(r, "wbuf after %s: put %d, len %zu (want %zu)",
			    fault_err_name(ret), err, fdmsg_wbuf_len(&w),
			    (size_t)i * sizeof(chunk));
	} else {
		for (j = 0; j < fdmsg_wbuf_len(&w); j++)
			if (((const uint8_t *)fdmsg_wbuf_data(&w))[j] != 0x5a)
				break;
		if (fdmsg_wbuf_len(&w) != 500 || j != 500)
			bad(r, "wbuf contents wrong");
	}
	fault_arm();
	fdmsg_wbuf_free(&w);
	ret = fdmsg_wbuf_init(&w, 0, 64);
	if (ret == 0)
		ret = fdmsg_wbuf_put_u32(&w, 0xdeadbeefu);
	fault_disarm();
	if (ret < 0) {
		lib_error(r, L_WBUF, ret);
	} else if (fdmsg_wbuf_len(&w) != 4) {
		bad(r, "lazy wbuf: len %zu", fdmsg_wbuf_len(&w));
	} else if (r->bad[0] == '\0') {
		r->completed = 1;
	}
	ARMED(fdmsg_wbuf_free(&w));
}

/* ------------------------------------------------------------------ */
/* The loop                                                            */
/* ------------------------------------------------------------------ */

#define MAX_ERRS 10

/* The errors call c can really return, from the list. */
static size_t
errs_for(const struct fault_call *c, int out[MAX_ERRS])
{
	/* Any syscall may fail these ways; the library must pass them on. */
	static const int generic[] = { EAGAIN, ENOBUFS, EMFILE, EPIPE,
				       ECONNRESET };
	size_t n = 0, i;

	switch (c->kind) {
	case FK_MALLOC:
	case FK_CALLOC:
	case FK_REALLOC:
		out[n++] = ENOMEM;
		return n;
	case FK_CLOSE:
		/* Its result is ignored; Linux closes anyway. */
		out[n++] = EINTR;
		return n;
	case FK_FCNTL:
		/* F_DUPFD_CLOEXEC fails EMFILE; recv_error reads EAGAIN or
		 * ECONNRESET from it as the socket's. */
		out[n++] = EMFILE;
		return n;
	default:
		break;
	}
	for (i = 0; i < sizeof(generic) / sizeof(generic[0]); i++)
		out[n++] = generic[i];
	switch (c->kind) {
	case FK_SENDMSG:
	case FK_RECVMSG:
		out[n++] = EINTR;
		if (c->stream)
			out[n++] = FAULT_SHORT;
		break;
	case FK_READ:
		out[n++] = EINTR;
		out[n++] = FAULT_SHORT;
		break;
	case FK_ACCEPT4:
	case FK_POLL:
		out[n++] = EINTR;
		break;
	case FK_CONNECT:
		out[n++] = EINTR;
		out[n++] = ECONNREFUSED;
		break;
	case FK_BIND:
		out[n++] = EADDRINUSE; /* a path taken meanwhile */
		break;
	case FK_GETSOCKOPT:
		/* Before Linux 6.16 SO_PEERPIDFD of a reaped peer. */
		out[n++] = ESRCH;
		out[n++] = EINVAL;
		out[n++] = ENOPROTOOPT; /* an older kernel */
		break;
	case FK_SETSOCKOPT:
		out[n++] = ENOPROTOOPT; /* an older kernel */
		break;
	case FK_OPEN:
		/* The library's opens (O_PATH on the socket file,
		 * /proc/self/fdinfo) cannot block in practice, but a FUSE
		 * or odd /proc could interrupt them: they retry. */
		out[n++] = EINTR;
		out[n++] = ENOENT;
		break;
	case FK_CHMOD:
	case FK_LSTAT:
	case FK_UNLINK:
		out[n++] = ENOENT; /* no /proc; a file gone meanwhile */
		break;
	case FK_LINK:
		out[n++] = EEXIST; /* a path taken meanwhile */
		out[n++] = EPERM;  /* a file system without hard links */
		break;
	case FK_FLOCK:
	case FK_RECV:
		out[n++] = EINTR;
		break;
	default:
		break;
	}
	return n;
}

struct tally {
	unsigned long points; /* armed calls of the counting run */
	unsigned long runs;
	unsigned long completed;
	unsigned long errors; /* runs ended by an allowed error */
	unsigned long violations;
	unsigned long unfired;
};

static unsigned long
sample_every(void)
{
	const char *s = getenv("FDMSG_FAULTS_SAMPLE");
	unsigned long n;

	if (s == NULL || *s == '\0')
		return 1;
	n = strtoul(s, NULL, 10);
	return n > 0 ? n : 1;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct fault_call trace[FAULT_TRACE_MAX];

/* Runs scen once, with fault (point, err) planned (point 0: none);
 * checks descriptors and memory afterwards. */
static void
run_once(void (*scen)(struct run *), const struct run *proto,
	 unsigned long point, int err, struct run *r)
{
	int before = fd_count();
	size_t live;

	*r = *proto;
	r->inj = err;
	fault_reset();
	if (point > 0)
		fault_plan(point, -1, err);
	scen(r);
	fault_disarm();
	live = fault_live_allocs();
	if (fd_count() != before)
		bad(r, "descriptor leak: %d open, %d before", fd_count(),
		    before);
	if (live != 0)
		bad(r, "memory leak: %zu block(s) allocated in the library "
		    "not freed", live);
	if (r->bad[0] == '\0' && !r->completed && !fault_fired())
		bad(r, "stopped with no fault and no error");
}

static void
run_points(const char *scen_name,
	   void (*scen)(struct run *), const struct run *proto,
	   const int *need_kinds, size_t nneed)
{
	static unsigned long sample_ctr;
	const unsigned long every = sample_every();
	const int verbose = getenv("FDMSG_FAULTS_VERBOSE") != NULL;
	struct tally t;
	struct run r;
	unsigned long i, shown = 0;
	int errs[MAX_ERRS];
	size_t ne, e, k;
	double t0 = now_s();

	memset(&t, 0, sizeof(t));
	/* The counting run: no fault, everything correct. */
	run_once(scen, proto, 0, 0, &r);
	cr_assert(r.completed && r.bad[0] == '\0',
		  "%s: the run without faults failed: %s", scen_name, r.bad);
	for (k = 0; k < nneed; k++)
		cr_assert_gt(fault_kind_calls(need_kinds[k]), 0,
			     "%s: no %s went through the wrappers", scen_name,
			     fault_kind_name(need_kinds[k]));
	t.points = fault_calls();
	cr_assert_leq(t.points, FAULT_TRACE_MAX);
	memcpy(trace, fault_trace(), t.points * sizeof(trace[0]));

	for (i = 1; i <= t.points; i++) {
		ne = errs_for(&trace[i - 1], errs);
		for (e = 0; e < ne; e++) {
			if (sample_ctr++ % every != 0)
				continue;
			if (verbose)
				fprintf(stderr, "faults: %s %lu/%lu %s %s\n",
					scen_name, i, t.points,
					fault_kind_name(trace[i - 1].kind),
					fault_err_name(errs[e]));
			run_once(scen, proto, i, errs[e], &r);
			t.runs++;
			if (!fault_fired()) {
				/* The calls before point i differ from the
				 * counting run: the scenario is not
				 * deterministic. */
				t.unfired++;
				bad(&r, "planned call never reached");
			} else if (fault_fired_kind() != trace[i - 1].kind) {
				t.unfired++;
				bad(&r, "call %lu was %s, not %s", i,
				    fault_kind_name(fault_fired_kind()),
				    fault_kind_name(trace[i - 1].kind));
			}
			if (r.bad[0] != '\0') {
				t.violations++;
				if (shown++ < 40)
					fprintf(stderr,
						"faults: VIOLATION %s: call "
						"%lu/%lu %s failing %s: %s\n",
						scen_name, i, t.points,
						fault_kind_name(
							trace[i - 1].kind),
						fault_err_name(errs[e]), r.bad);
			} else if (r.completed) {
				t.completed++;
			} else {
				t.errors++;
			}
		}
	}
	fprintf(stderr,
		"faults: %s: %lu injection points, %lu runs (%lu completed, "
		"%lu ended by the injected error, %lu violations) "
		"in %.2f s%s\n",
		scen_name, t.points, t.runs, t.completed, t.errors,
		t.violations, now_s() - t0, every > 1 ? " (sampled)" : "");
	cr_expect_eq(t.unfired, 0, "%s: %lu runs never reached their point",
		     scen_name, t.unfired);
	cr_expect_eq(t.violations, 0, "%s: %lu violations (see stderr)",
		     scen_name, t.violations);
}

static void
leak_check(void)
{
#ifdef FAULTS_ASAN
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
		     "LeakSanitizer found leaks (report above)");
#endif
}

/* Frames carry /dev/null, a pipe and a regular file. */
static void
payload_open(void)
{
	char tmpl[] = "/tmp/fdmsg-faults-XXXXXX";
	int p[2], i;

	orig_fd[0] = open("/dev/null", O_RDWR | O_CLOEXEC);
	cr_assert_geq(orig_fd[0], 0);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	orig_fd[1] = p[0];
	close(p[1]);
	orig_fd[2] = mkostemp(tmpl, O_CLOEXEC);
	cr_assert_geq(orig_fd[2], 0);
	unlink(tmpl);
	for (i = 0; i < 3; i++)
		cr_assert_eq(fstat(orig_fd[i], &orig_st[i]), 0);
}

/* Are the options FDMSG_SOCK_* asked for on fd? */
static int
has_pass(int fd, int flags)
{
	int v = 0, pv = 0;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_PASSCRED, &v, &len) < 0)
		return 0;
	len = sizeof(pv);
	if ((flags & FDMSG_SOCK_PIDFD) &&
	    getsockopt(fd, SOL_SOCKET, 76 /* SO_PASSPIDFD */, &pv, &len) < 0)
		return 0;
	return v == 1 && (!(flags & FDMSG_SOCK_PIDFD) || pv == 1);
}

/*
 * The FDMSG_SOCK_* flags on every maker of sockets (fdmsg_listen, whose
 * accepted socket inherits them, fdmsg_connect, fdmsg_pair), with
 * fdmsg_listen replacing a stale socket file: the directory's lock,
 * sock_diag and link(2) on the way.
 */
static void
scen_sockflags(struct run *r)
{
	const int t = r->type | r->sock_flags;
	struct stat st, stale;
	int lfd = -1, cfd = -1, afd = -1, sv[2] = { -1, -1 }, ret;

	make_stale(r->path, r->type, &stale);
	ARMED(lfd = fdmsg_listen(r->path, t, 0));
	if (lfd < 0) {
		lib_error(r, L_LISTEN, lfd);
		/* At most the stale file, or nothing once it was judged. */
		if (lstat(r->path, &st) == 0 &&
		    (st.st_ino != stale.st_ino ||
		     st.st_mode != stale.st_mode))
			bad(r, "failed fdmsg_listen left a socket file");
		goto out;
	}
	if (lstat(r->path, &st) < 0 || (st.st_mode & 07777) != 0600) {
		bad(r, "no socket file of mode 0600 after fdmsg_listen");
		goto out;
	}
	if (!has_pass(lfd, r->sock_flags)) {
		bad(r, "listener without its options");
		goto out;
	}
	ARMED(cfd = fdmsg_connect(r->path, t));
	if (cfd < 0) {
		lib_error(r, L_CONNECT, cfd);
		goto out;
	}
	if (!has_pass(cfd, r->sock_flags)) {
		bad(r, "connected socket without its options");
		goto out;
	}
	if (r->type != SOCK_DGRAM) {
		ARMED(afd = fdmsg_accept(lfd, NULL, 0));
		if (afd < 0) {
			lib_error(r, L_ACCEPT, afd);
			goto out;
		}
		if (!has_pass(afd, r->sock_flags)) {
			bad(r, "accepted socket did not inherit the options");
			goto out;
		}
	}
	ARMED(ret = fdmsg_pair(t, sv));
	if (ret < 0) {
		lib_error(r, L_PAIR, ret);
		if (sv[0] != -1 || sv[1] != -1)
			bad(r, "failed fdmsg_pair wrote fds");
		goto out;
	}
	if (!has_pass(sv[0], r->sock_flags) ||
	    !has_pass(sv[1], r->sock_flags)) {
		bad(r, "pair without its options");
		goto out;
	}
	r->completed = 1;
out:
	close_if(&lfd);
	close_if(&cfd);
	close_if(&afd);
	close_if(&sv[0]);
	close_if(&sv[1]);
	(void)unlink(r->path);
	if (tmp_names_removed(r->path) > 0 && fault_fired_kind() != FK_UNLINK)
		bad(r, "a temporary name was left in the directory");
}

static void
payload_close(void)
{
	int i;

	for (i = 0; i < 3; i++)
		close_if(&orig_fd[i]);
}

/* Does the kernel attach pidfds (SO_PASSPIDFD, Linux 6.5)? */
static int
have_passpidfd(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, r;

	cr_assert_geq(fd, 0);
	r = setsockopt(fd, SOL_SOCKET, 76 /* SO_PASSPIDFD */, &one,
		       sizeof(one));
	close(fd);
	return r == 0;
}

static void
exchange(const char *name, int type, unsigned opt_flags,
	 int free_stdin)
{
	static const int need[] = { FK_MALLOC, FK_CALLOC, FK_SENDMSG,
				    FK_RECVMSG, FK_CLOSE, FK_FCNTL, FK_POLL,
				    FK_SOCKETPAIR, FK_GETSOCKOPT,
				    FK_SETSOCKOPT, FK_GETPEERNAME,
				    FK_SHUTDOWN, FK_REALLOC };
	struct run proto;
	int saved0 = -1;

	if ((opt_flags & FDMSG_OPT_PIDFD) && !have_passpidfd())
		cr_skip_test("no SO_PASSPIDFD on this kernel");
	payload_open();
	if (free_stdin) {
		saved0 = fcntl(0, F_DUPFD_CLOEXEC, 3);
		cr_assert_geq(saved0, 3);
		close(0);
	}
	memset(&proto, 0, sizeof(proto));
	proto.type = type;
	proto.opt_flags = opt_flags;
	proto.free_stdin = free_stdin;
	run_points(name, scen_exchange, &proto, NEED(need));
	if (free_stdin) {
		cr_assert_eq(dup2(saved0, 0), 0);
		close(saved0);
	}
	payload_close();
	leak_check();
}

/* run_points with proto->path a socket file in a fresh directory (umask
 * 077), which must be empty again afterwards. */
static void
run_in_dir(const char *name, void (*scen)(struct run *), struct run *proto,
	   const int *need, size_t nneed)
{
	char dir[] = "/tmp/fdmsg-faults-XXXXXX";
	char path[64];
	mode_t old;

	cr_assert_not_null(mkdtemp(dir));
	(void)snprintf(path, sizeof(path), "%s/s", dir);
	old = umask(077);
	proto->path = path;
	run_points(name, scen, proto, need, nneed);
	umask(old);
	cr_expect_eq(dir_entry_count(dir), 0, "files left in %s", dir);
	cr_assert_eq(rmdir(dir), 0);
}

static void
sock(const char *name, int type)
{
	static const int need_conn[] = { FK_SOCKET, FK_BIND, FK_LISTEN,
					 FK_ACCEPT4, FK_CONNECT, FK_LSTAT,
					 FK_FSTAT, FK_UNLINK, FK_OPEN, FK_READ,
					 FK_CHMOD, FK_FCHMOD, FK_GETSOCKOPT };
	static const int need_dgram[] = { FK_SOCKET, FK_BIND, FK_CONNECT,
					  FK_LSTAT, FK_FSTAT, FK_UNLINK,
					  FK_CHMOD, FK_FCHMOD };
	struct run proto = { .type = type };

	payload_open();
	if (type == SOCK_DGRAM)
		run_in_dir(name, scen_sock, &proto, NEED(need_dgram));
	else
		run_in_dir(name, scen_sock, &proto, NEED(need_conn));
	payload_close();
	leak_check();
}

static void
sockflags(const char *name, int type)
{
	static const int need_conn[] = { FK_SOCKET, FK_SOCKETPAIR,
					 FK_SETSOCKOPT, FK_BIND, FK_LISTEN,
					 FK_LINK, FK_FLOCK, FK_SENDTO,
					 FK_RECV, FK_CONNECT, FK_ACCEPT4,
					 FK_LSTAT, FK_UNLINK };
	static const int need_dgram[] = { FK_SOCKET, FK_SOCKETPAIR,
					  FK_SETSOCKOPT, FK_BIND, FK_LINK,
					  FK_FLOCK, FK_SENDTO, FK_RECV,
					  FK_CONNECT, FK_LSTAT, FK_UNLINK };
	struct run proto = { .type = type };

	proto.sock_flags = FDMSG_SOCK_CREDS |
			   (have_passpidfd() ? FDMSG_SOCK_PIDFD : 0);
	if (type == SOCK_DGRAM)
		run_in_dir(name, scen_sockflags, &proto, NEED(need_dgram));
	else
		run_in_dir(name, scen_sockflags, &proto, NEED(need_conn));
	leak_check();
}

/* ------------------------------------------------------------------ */

/* The injector itself: the library's calls reach the wrappers, a
 * planned fault fires once at the planned call, and only while armed. */
TEST(faults, injector_reaches_library_calls_only_while_armed)
{
	int sv[2], ret;

	fault_reset();
	fault_plan(1, FK_SOCKETPAIR, EMFILE);
	/* Disarmed: the test's own call passes and is not counted. */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[0]);
	close(sv[1]);
	cr_assert_eq(fault_calls(), 0);
	ARMED(ret = fdmsg_pair(SOCK_SEQPACKET, sv));
	cr_assert_eq(ret, -EMFILE);
	cr_assert(fault_fired());
	cr_assert_eq(fault_fired_kind(), FK_SOCKETPAIR);
	/* Once only. */
	ARMED(ret = fdmsg_pair(SOCK_SEQPACKET, sv));
	cr_assert_eq(ret, 0);
	cr_assert_eq(fault_kind_calls(FK_SOCKETPAIR), 2);
	close(sv[0]);
	close(sv[1]);
	fault_reset();
}

TEST(faults, seqpacket_exchange_survives_every_fault)
{
	exchange("seqpacket exchange", SOCK_SEQPACKET, 0, 0);
}

TEST(faults, stream_exchange_survives_every_fault)
{
	exchange("stream exchange", SOCK_STREAM, 0, 0);
}

TEST(faults, dgram_exchange_survives_every_fault)
{
	exchange("dgram exchange", SOCK_DGRAM, 0, 0);
}

/* Every received descriptor lands on 0 and must be lifted above 2. */
TEST(faults, seqpacket_exchange_with_stdin_closed_survives_every_fault)
{
	exchange("seqpacket exchange, stdin closed", SOCK_SEQPACKET, 0, 1);
}

TEST(faults, stream_exchange_with_stdin_closed_survives_every_fault)
{
	exchange("stream exchange, stdin closed", SOCK_STREAM, 0, 1);
}

/* SCM_CREDENTIALS and a pidfd with every read: the stream keeps the
 * pidfd of the read where each frame began. */
TEST(faults, seqpacket_exchange_with_creds_and_pidfd_survives_every_fault)
{
	exchange("seqpacket exchange, creds+pidfd", SOCK_SEQPACKET,
		 FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD, 0);
}

TEST(faults, stream_exchange_with_creds_and_pidfd_survives_every_fault)
{
	exchange("stream exchange, creds+pidfd", SOCK_STREAM,
		 FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD, 0);
}

TEST(faults, dgram_exchange_with_creds_and_pidfd_survives_every_fault)
{
	exchange("dgram exchange, creds+pidfd", SOCK_DGRAM,
		 FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD, 0);
}

TEST(faults, seqpacket_listen_connect_accept_cred_survive_every_fault)
{
	sock("seqpacket sockets", SOCK_SEQPACKET);
}

TEST(faults, stream_listen_connect_accept_cred_survive_every_fault)
{
	sock("stream sockets", SOCK_STREAM);
}

TEST(faults, sock_flags_and_stale_replacement_survive_every_fault)
{
	sockflags("seqpacket sock flags", SOCK_SEQPACKET);
	sockflags("stream sock flags", SOCK_STREAM);
	sockflags("dgram sock flags", SOCK_DGRAM);
}

TEST(faults, dgram_listen_connect_survive_every_fault)
{
	sock("dgram sockets", SOCK_DGRAM);
}

TEST(faults, wbuf_survives_every_allocation_failure)
{
	static const int need[] = { FK_MALLOC, FK_REALLOC };
	struct run proto;

	memset(&proto, 0, sizeof(proto));
	run_points("wbuf", scen_wbuf, &proto, NEED(need));
	leak_check();
}
