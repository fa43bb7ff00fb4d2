/* SPDX-License-Identifier: ISC */
/* Helpers of the tool's suites: see toolutil.h. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "rawpeer.h"
#include "testutil.h"
#include "toolutil.h"

/* In the child: closes every descriptor above 2 but the move targets. */
static void
close_unmoved(const struct spawn *sp)
{
	int lo = 3, t[2], i;

	t[0] = sp->move[0].from >= 0 ? sp->move[0].to : -1;
	t[1] = sp->move[1].from >= 0 ? sp->move[1].to : -1;
	if (t[0] > t[1]) {
		i = t[0];
		t[0] = t[1];
		t[1] = i;
	}
	for (i = 0; i < 2; i++) {
		if (t[i] < lo)
			continue;
		if (t[i] > lo)
			close_range((unsigned)lo, (unsigned)t[i] - 1, 0);
		lo = t[i] + 1;
	}
	closefrom(lo);
}

/* In the child, before exec: 0-2, the moves, environment, limits, uid.
 * -1 when one step failed. */
static int
child_setup(const struct spawn *sp)
{
	const int std[3] = { sp->in, sp->out, sp->err };
	struct rlimit rl = { sp->nofile,
			     sp->nofile_hard ? sp->nofile_hard : sp->nofile };
	int dn, i, hi[2] = { -1, -1 };
	char pid[32];

	dn = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (dn < 0)
		return -1;
	for (i = 0; i < 3; i++)
		if (dup2(std[i] >= 0 ? std[i] : dn, i) < 0)
			return -1;
	/* Out of the way first: a source may sit on a target. */
	for (i = 0; i < 2; i++)
		if (sp->move[i].from >= 0 &&
		    (hi[i] = fcntl(sp->move[i].from, F_DUPFD_CLOEXEC, 200)) < 0)
			return -1;
	for (i = 0; i < 2; i++)
		if (hi[i] >= 0 && dup2(hi[i], sp->move[i].to) < 0)
			return -1;
	if (sp->close_rest)
		close_unmoved(sp);
	for (i = 0; i < 4 && sp->env[i] != NULL; i++)
		putenv((char *)(uintptr_t)sp->env[i]);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	if (sp->listen_pid && setenv("LISTEN_PID", pid, 1) < 0)
		return -1;
	if (sp->nofile != 0 && setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (sp->uid != 0 && (setgroups(0, NULL) < 0 || setgid(sp->uid) < 0 ||
			     setuid(sp->uid) < 0))
		return -1;
	return 0;
}

pid_t
spawn_exec(const struct spawn *sp, const char *const *argv)
{
	pid_t pid = fork_child();

	if (pid == 0) {
		if (child_setup(sp) < 0)
			_exit(126);
		execvp(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	return pid;
}

const char *
tool_path(void)
{
	const char *t = getenv("FDMSG_TOOL");

	cr_assert_not_null(t, "FDMSG_TOOL is not set");
	return t;
}

int
reap(pid_t pid, long wait_ms, const char *what)
{
	long i;
	int st;

	for (i = 0; i < wait_ms / 5; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		sleep_ms(5);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	cr_assert_fail("%s did not exit", what);
	return -1;
}

int
connect_retry(const char *path, int type)
{
	int fd = -1, i;

	for (i = 0; i < TOOL_WAIT_MS / 10; i++) {
		fd = fdmsg_connect(path, type);
		if (fd >= 0)
			return fd;
		sleep_ms(10);
	}
	cr_assert_fail("nobody listens on %s: %s", path, fdmsg_strerror(fd));
	return -1;
}

struct fdmsg_chan *
chan_on(int fd, unsigned max_fds)
{
	struct fdmsg_chan *ch = NULL;
	struct fdmsg_opts o;

	cr_assert_geq(fd, 0);
	fdmsg_opts_init(&o);
	o.max_fds = max_fds;
	o.max_queue = 4u * 1024 * 1024;
	cr_assert_eq(fdmsg_chan_new(&ch, fd, &o, FDMSG_CHAN_OWN_FD), 0);
	return ch;
}

void
echo_expect(struct fdmsg_chan *ch, uint32_t type, uint32_t peerid,
	    const void *data, size_t len, const int *fds, unsigned nfds,
	    long wait_ms, const char *what)
{
	struct iovec iov = { (void *)(uintptr_t)data, len };
	struct fdmsg_msg m = { 0 };
	unsigned i;
	int r;

	cr_assert_eq(fdmsg_send(ch, type, peerid, &iov, 1, fds, nfds, 0), 0);
	cr_assert_eq(fdmsg_flush_wait(ch, (int)wait_ms), 0);
	r = fdmsg_recv_wait(ch, &m, (int)wait_ms);
	cr_assert_eq(r, 0, "[%s] the echo: %s", what, fdmsg_strerror(r));
	cr_assert_eq(m.type, type);
	cr_assert_eq(m.peerid, peerid);
	cr_assert_eq(m.len, len, "[%s] len %zu, sent %zu", what, m.len, len);
	cr_assert(len == 0 || memcmp(m.payload, data, len) == 0);
	cr_assert_eq(m.nfds, nfds, "[%s] %u descriptors back, sent %u", what,
		     m.nfds, nfds);
	for (i = 0; i < nfds; i++)
		cr_assert(same_file(fds[i], m.fds[i]),
			  "[%s] descriptor %u came back as another file",
			  what, i);
	fdmsg_msg_release(&m);
}

void
expect_closed(int sock, long wait_ms, const char *what)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	static char buf[65536];
	ssize_t n;

	for (;;) {
		cr_assert_gt(poll(&pfd, 1, (int)wait_ms), 0,
			     "[%s] never disconnected", what);
		/* No control buffer: any echoed descriptor is dropped by
		 * the kernel, never installed here. */
		n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return;
		cr_assert(n > 0 || errno == EAGAIN, "[%s] recv: %s", what,
			  strerror(errno));
	}
}

int
count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}
