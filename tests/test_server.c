/* SPDX-License-Identifier: ISC */
/*
 * Hostile clients against `fdmsg serve --echo` (path in FDMSG_TOOL), and
 * a load test.  After every attack the server must be alive, its
 * descriptor table back at its baseline (/proc/PID/fd), and a
 * well-behaved client echoed exactly (same bytes, same files by
 * st_dev/st_ino) -- also while a flood or a slow client is in progress.
 * Every server ends with SIGTERM and must exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/sockios.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "fdmsg.h"
#include "rawpeer.h"
#include "testutil.h" /* also RUNNING_ON_VALGRIND */
#include "toolutil.h"

#define WAIT_MS 10000     /* a bound on hangs, not a timing assertion */
#define SETTLE_MS 2000    /* a bound on waiting for the server to settle */
#define MAX_FDS 8         /* the servers' --max-fds */
#define MAX_FRAME 65536u  /* the servers' --max-frame (the default) */
#define ERR_CAP 65536
#define FD_FLOOD_FRAMES 4096 /* 32768 descriptors: past the server's 4096 */
#define NGOOD 8           /* distinct files the good client sends */

struct server {
	pid_t pid;
	int type;             /* SOCK_SEQPACKET or SOCK_STREAM */
	char dir[PATH_MAX];
	char path[PATH_MAX];
	char errpath[PATH_MAX];
	int errfd;            /* the server's stderr (a file), read side */
	int baseline;         /* its descriptors with no client connected */
	const char *attack;   /* for failure messages */
};

/* How the next server starts: its RLIMIT_NOFILE (spawn_next.nofile and
 * .nofile_hard; 0 leaves it alone); server_start sets the rest. */
static struct spawn spawn_next = SPAWN_INIT;

/* Files for the well-behaved client: distinct inodes. */
static int good_fds[NGOOD];
static int good_pipe[2];

/* Slower under valgrind (ci/test, ci/soak): only the bounds stretch. */
static long
scaled(long ms)
{
	if (RUNNING_ON_VALGRIND || getenv("FDMSG_TEST_SLOW") != NULL)
		return ms * 10;
	return ms;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A line of /proc/PID/status, e.g. "VmHWM:", in KiB; -1 if absent. */
static long
status_kib(pid_t pid, const char *key)
{
	char p[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%ld/status", (long)pid);
	f = fopen(p, "re");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, strlen(key)) == 0)
			v = strtol(line + strlen(key), NULL, 10);
	fclose(f);
	return v;
}

/* The server runs the tool itself, not under a wrapper (valgrind). */
static int
server_is_native(pid_t pid)
{
	char p[64], exe[PATH_MAX];
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/%ld/exe", (long)pid);
	n = readlink(p, exe, sizeof(exe) - 1);
	if (n < 0)
		return 0;
	exe[n] = '\0';
	return strstr(exe, "valgrind") == NULL && strstr(exe, "memcheck") ==
		NULL;
}

static void
assert_alive(struct server *s)
{
	int st;

	cr_assert_eq(waitpid(s->pid, &st, WNOHANG), 0,
		     "[%s] the server died: %s %d", s->attack,
		     WIFSIGNALED(st) ? "signal" : "exit",
		     WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	cr_assert_eq(kill(s->pid, 0), 0);
}

/* Waits until the server's descriptor count is n; asserts it got there. */
static void
settle_to(struct server *s, int n)
{
	long i, rounds = scaled(SETTLE_MS) / 5;
	int c = -1;

	for (i = 0; i < rounds; i++) {
		c = fd_count_of(s->pid);
		if (c == n)
			return;
		sleep_ms(5);
	}
	cr_assert_fail("[%s] server holds %d descriptors, baseline %d",
		       s->attack, c, n);
}

/* Sends one frame and expects it back exactly. */
static void
echo_once(struct server *s, struct fdmsg_chan *ch, uint32_t peerid,
	  const void *data, size_t len, const int *fds, unsigned nfds)
{
	echo_expect(ch, 0x600d, peerid, data, len, fds, nfds, scaled(WAIT_MS),
		    s->attack);
}

/* A well-behaved client: a few frames, up to max_fds descriptors each. */
static void
good_client(struct server *s)
{
	static char big[8192 - FDMSG_HDR_SIZE];
	struct fdmsg_chan *ch;
	size_t i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + 3);
	ch = chan_on(connect_retry(s->path, s->type), MAX_FDS);
	echo_once(s, ch, 1, "hello", 5, good_fds, 1);
	echo_once(s, ch, 2, "", 0, NULL, 0);
	echo_once(s, ch, 3, big, sizeof(big), good_fds, MAX_FDS);
	echo_once(s, ch, 4, "reversed", 8, good_fds + 4, 4);
	fdmsg_chan_free(ch);
}

/* What the server wrote to stderr since the last call. */
static void
new_stderr(struct server *s, char *buf)
{
	size_t len = 0;
	ssize_t n;

	while ((n = read(s->errfd, buf + len, ERR_CAP - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
}

/*
 * After an attack: alive, settled at the baseline, the expected line on
 * stderr (one "fdmsg serve: client ID: ERRNAME: ..." or nothing), and a
 * good client served.
 */
static void
after_attack_saying(struct server *s, const char *errname, const char *text)
{
	char err[ERR_CAP], want[64];

	assert_alive(s);
	settle_to(s, s->baseline);
	new_stderr(s, err);
	if (errname == NULL) {
		cr_assert_str_empty(err, "[%s] stderr: %s", s->attack, err);
	} else {
		snprintf(want, sizeof(want), ": %s: ", errname);
		cr_assert_eq(count_lines(err), 1, "[%s] stderr: %s",
			     s->attack, err);
		cr_assert_eq(strncmp(err, "fdmsg serve: client ", 20), 0,
			     "[%s] stderr: %s", s->attack, err);
		cr_assert_not_null(strstr(err, want), "[%s] want %s: %s",
				   s->attack, errname, err);
		cr_assert(text == NULL || strstr(err, text) != NULL,
			  "[%s] want '%s': %s", s->attack, text, err);
	}
	good_client(s);
	assert_alive(s);
	settle_to(s, s->baseline);
	new_stderr(s, err);
	cr_assert_str_empty(err, "[%s] after the good client: %s", s->attack,
			    err);
}

static void
after_attack(struct server *s, const char *errname)
{
	after_attack_saying(s, errname, NULL);
}

/* The server drops sock (its echoes read and discarded); then as
 * after_attack_saying. */
static void
dropped_saying(struct server *s, int sock, const char *errname,
	       const char *text)
{
	expect_closed(sock, scaled(WAIT_MS), s->attack);
	close(sock);
	after_attack_saying(s, errname, text);
}

static void
dropped(struct server *s, int sock, const char *errname)
{
	dropped_saying(s, sock, errname, NULL);
}

static void
open_good_fds(const char *dir)
{
	int i = 0;

	cr_assert_eq(pipe2(good_pipe, O_CLOEXEC), 0);
	good_fds[i++] = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	good_fds[i++] = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	good_fds[i++] = open("/dev/null", O_RDWR | O_CLOEXEC);
	good_fds[i++] = good_pipe[0];
	good_fds[i++] = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	good_fds[i++] = good_pipe[1];
	good_fds[i++] = eventfd(0, EFD_CLOEXEC);
	good_fds[i++] = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	for (i = 0; i < NGOOD; i++)
		cr_assert_geq(good_fds[i], 0);
}

static void
close_good_fds(void)
{
	int i;

	for (i = 0; i < NGOOD; i++)
		close(good_fds[i]);
}

/*
 * Starts `fdmsg serve --echo --max-fds 8 --max-clients 32 [--stream]
 * EXTRA... PATH` (a later option wins), its stderr into a file, and takes
 * its descriptor baseline: with one client echoed and gone.  32 clients:
 * the descriptor budget, 32 x (1 + 3 x 8 + 64) + 16, fits any machine's
 * RLIMIT_NOFILE hard limit of 4096 or more.
 */
static void
server_start(struct server *s, int type, const char *const *extra)
{
	const char *argv[32];
	struct fdmsg_chan *ch;
	int n = 0, errw, with_client;

	memset(s, 0, sizeof(*s));
	s->type = type;
	s->attack = "start";
	strcpy(s->dir, "/tmp/fdmsg-server-XXXXXX");
	cr_assert_not_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/s", s->dir);
	snprintf(s->errpath, sizeof(s->errpath), "%s/stderr", s->dir);
	open_good_fds(s->dir);

	argv[n++] = tool_path();
	argv[n++] = "serve";
	argv[n++] = "--echo";
	argv[n++] = "--max-fds";
	argv[n++] = "8";
	argv[n++] = "--max-clients";
	argv[n++] = "32";
	if (type == SOCK_STREAM)
		argv[n++] = "--stream";
	while (*extra != NULL && n < 30)
		argv[n++] = *extra++;
	argv[n++] = s->path;
	argv[n] = NULL;

	errw = open(s->errpath, O_WRONLY | O_CREAT | O_EXCL | O_APPEND |
		    O_CLOEXEC, 0600);
	cr_assert_geq(errw, 0);
	spawn_next.err = errw;
	/* Only the tool's own descriptors: a steady baseline. */
	spawn_next.close_rest = 1;
	s->pid = spawn_exec(&spawn_next, argv);
	close(errw);
	s->errfd = open(s->errpath, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(s->errfd, 0);

	ch = chan_on(connect_retry(s->path, type), MAX_FDS);
	echo_once(s, ch, 0, "up", 2, NULL, 0);
	with_client = fd_count_of(s->pid);
	fdmsg_chan_free(ch);
	s->baseline = with_client - 1;
	settle_to(s, s->baseline);
	s->attack = "-";
}

static const char *const no_extra[] = { NULL };

/* SIGTERM: exit 0, the socket file gone, nothing unexpected on stderr. */
static void
server_stop(struct server *s)
{
	char err[ERR_CAP];
	int st;

	s->attack = "stop";
	assert_alive(s);
	new_stderr(s, err);
	cr_assert_str_empty(err, "stderr before SIGTERM: %s", err);
	cr_assert_eq(kill(s->pid, SIGTERM), 0);
	st = reap(s->pid, scaled(WAIT_MS), "the server, after SIGTERM,");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "SIGTERM: status %#x", st);
	cr_assert_eq(access(s->path, F_OK), -1, "serve left its socket");
	new_stderr(s, err);
	cr_assert_str_empty(err, "stderr at exit: %s", err);
	close(s->errfd);
	close_good_fds();
	cr_assert_eq(unlink(s->errpath), 0);
	cr_assert_eq(rmdir(s->dir), 0);
}

/* ------------------------------------------------------------------ */
/* Raw hostile clients                                                 */
/* ------------------------------------------------------------------ */

/* Sends, and requires it all went (the server has not reacted yet). */
static void
raw_send_all(struct server *s, int sock, const void *buf, size_t n,
	     const int *fds, unsigned nfds)
{
	ssize_t r = send_fds(sock, buf, n, fds, nfds, 0);

	cr_assert_eq(r, (ssize_t)n, "[%s] sendmsg: %s", s->attack,
		     r < 0 ? strerror((int)-r) : "short");
}

/* Waits until the server has read everything this socket sent. */
static void
wait_consumed(struct server *s, int sock)
{
	long i;
	int q = -1;

	for (i = 0; i < scaled(WAIT_MS) / 2; i++) {
		cr_assert_eq(ioctl(sock, SIOCOUTQ, &q), 0);
		if (q == 0)
			return;
		sleep_ms(2);
	}
	cr_assert_fail("[%s] the server never read %d bytes", s->attack, q);
}


static int
raw_connect(struct server *s)
{
	int fd = fdmsg_connect(s->path, s->type);

	cr_assert_geq(fd, 0, "connect: %s", fdmsg_strerror(fd));
	return fd;
}

/* A bad header alone; the server must drop the client with errname. */
static void
header_attack(struct server *s, const char *name, uint8_t version,
	      uint8_t nfds, uint16_t flags, uint32_t len, const char *errname)
{
	uint8_t b[FDMSG_HDR_SIZE];
	int sock = raw_connect(s);

	s->attack = name;
	put_hdr(b, version, nfds, flags, len, 1, 1);
	raw_send_all(s, sock, b, sizeof(b), NULL, 0);
	dropped(s, sock, errname);
}

static void
header_attacks(int type)
{
	struct server s;
	uint8_t b[FDMSG_HDR_SIZE + 8];
	int sock;

	server_start(&s, type, no_extra);
	header_attack(&s, "version 2", 2, 0, 0, 16, "EBADMSG");
	header_attack(&s, "version 0", 0, 0, 0, 16, "EBADMSG");
	header_attack(&s, "flags 1", 1, 0, 1, 16, "EBADMSG");
	header_attack(&s, "flags 0x8000", 1, 0, 0x8000, 16, "EBADMSG");
	header_attack(&s, "len 0", 1, 0, 0, 0, "EBADMSG");
	header_attack(&s, "len 15", 1, 0, 0, 15, "EBADMSG");
	header_attack(&s, "len max_frame+1", 1, 0, 0, MAX_FRAME + 1,
		      "EMSGSIZE");
	header_attack(&s, "len 0xFFFFFFFF", 1, 0, 0, UINT32_MAX, "EMSGSIZE");
	header_attack(&s, "nfds max+1", 1, MAX_FDS + 1, 0, 16, "EPROTO");
	header_attack(&s, "nfds 255", 1, 255, 0, 16, "EPROTO");

	/* A header cut short, then the end. */
	s.attack = "truncated header";
	sock = raw_connect(&s);
	put_hdr(b, 1, 0, 0, 16, 1, 1);
	raw_send_all(&s, sock, b, 10, NULL, 0);
	if (type == SOCK_STREAM)
		cr_assert_eq(shutdown(sock, SHUT_WR), 0);
	dropped(&s, sock, "EBADMSG");

	/* A valid frame and trailing bytes, then the end. */
	s.attack = "trailing bytes";
	sock = raw_connect(&s);
	put_hdr(b, 1, 0, 0, 16, 1, 1);
	memset(b + 16, 'x', 8);
	raw_send_all(&s, sock, b, sizeof(b), NULL, 0);
	if (type == SOCK_STREAM)
		cr_assert_eq(shutdown(sock, SHUT_WR), 0);
	dropped(&s, sock, "EBADMSG");

	server_stop(&s);
}

TEST(server, hostile_headers_seqpacket_drop_only_that_client)
{
	header_attacks(SOCK_SEQPACKET);
}

TEST(server, hostile_headers_stream_drop_only_that_client)
{
	header_attacks(SOCK_STREAM);
}

/* One frame (header + payload of plen bytes) carrying nfds of fds. */
static void
fd_attack(struct server *s, const char *name, uint8_t declared,
	  size_t plen, unsigned nfds, const char *errname)
{
	static uint8_t b[FDMSG_HDR_SIZE + 256];
	int fds[FDMSG_MAX_FDS_CAP], sock, i;

	s->attack = name;
	cr_assert_leq(plen, 256);
	for (i = 0; i < (int)nfds; i++) {
		fds[i] = dup(good_fds[i % NGOOD]);
		cr_assert_geq(fds[i], 0);
	}
	sock = raw_connect(s);
	put_hdr(b, 1, declared, 0, (uint32_t)(FDMSG_HDR_SIZE + plen), 1, 1);
	memset(b + FDMSG_HDR_SIZE, 'p', plen);
	raw_send_all(s, sock, b, FDMSG_HDR_SIZE + plen, fds, nfds);
	for (i = 0; i < (int)nfds; i++)
		close(fds[i]);
	dropped(s, sock, errname);
}

/* A stream frame declaring `declared` descriptors, nfds of which come
 * with the second half of its payload, once the first half was read. */
static void
mid_payload(struct server *s, const char *name, uint8_t declared,
	    unsigned nfds, const char *errname)
{
	uint8_t b[FDMSG_HDR_SIZE + 64];
	ssize_t r;
	int sock;

	s->attack = name;
	sock = raw_connect(s);
	put_hdr(b, 1, declared, 0, sizeof(b), 1, 1);
	memset(b + FDMSG_HDR_SIZE, 'm', 64);
	raw_send_all(s, sock, b, FDMSG_HDR_SIZE + 32, NULL, 0);
	wait_consumed(s, sock);
	r = send_fds(sock, b + FDMSG_HDR_SIZE + 32, 32, good_fds, nfds, 0);
	cr_assert(r == 32 || r == -EPIPE || r == -ECONNRESET, "sendmsg: %zd",
		  r);
	dropped(s, sock, errname);
}

static void
descriptor_attacks(int type)
{
	static uint8_t big[70000];
	struct server s;
	uint8_t b[FDMSG_HDR_SIZE + 64];
	const char *stray = type == SOCK_STREAM ? "ETIMEDOUT" : "EPROTO";
	int sock;

	memset(b, 'e', sizeof(b));
	if (type == SOCK_STREAM)
		server_start(&s, type, (const char *const[]){ "--frame-timeout",
						   "1000", NULL });
	else
		server_start(&s, type, no_extra);
	/* On a stream, descriptors no frame has taken yet wait ahead for
	 * later frames (DESIGN.md, SOCK_STREAM) and count as a partial
	 * frame: the frame deadline cuts the client. */
	fd_attack(&s, "more descriptors than declared", 1, 4, 2, stray);
	fd_attack(&s, "descriptors on a frame declaring none", 0, 4, 1,
		  stray);
	fd_attack(&s, "fewer descriptors than declared", 3, 4, 1, "EPROTO");
	fd_attack(&s, "declared max, none came", MAX_FDS, 0, 0, "EPROTO");
	fd_attack(&s, "max_fds + 1 (MSG_CTRUNC)", MAX_FDS, 4, MAX_FDS + 1,
		  "EPROTO");
	fd_attack(&s, "64 descriptors (MSG_CTRUNC)", MAX_FDS, 4, 64,
		  "EPROTO");
	fd_attack(&s, "253 descriptors (MSG_CTRUNC)", MAX_FDS, 4,
		  FDMSG_MAX_FDS_CAP, "EPROTO");

	/* The frame ends before its len, descriptors already in. */
	s.attack = "end mid-frame with descriptors";
	sock = raw_connect(&s);
	put_hdr(b, 1, 2, 0, 64, 1, 1);
	raw_send_all(&s, sock, b, FDMSG_HDR_SIZE + 4, good_fds, 2);
	if (type == SOCK_STREAM)
		cr_assert_eq(shutdown(sock, SHUT_WR), 0);
	dropped(&s, sock, "EBADMSG");

	if (type == SOCK_SEQPACKET) {
		/* THREATS 12: looks like the end; the client goes quietly,
		 * its descriptors closed. */
		s.attack = "zero-length datagram with descriptors";
		sock = raw_connect(&s);
		cr_assert_eq(send_fds(sock, "", 0, good_fds, 3, 0), 0);
		dropped(&s, sock, NULL);

		/* THREATS 14: MSG_TRUNC still delivers the descriptors. */
		s.attack = "oversized datagram with descriptors";
		sock = raw_connect(&s);
		put_hdr(big, 1, 1, 0, 100, 1, 1);
		raw_send_all(&s, sock, big, sizeof(big), good_fds, 1);
		dropped(&s, sock, "EMSGSIZE");
	} else {
		/* THREATS 15: nothing arrives; the same client goes on. */
		struct fdmsg_chan *ch;

		s.attack = "zero-length stream write with descriptors";
		sock = raw_connect(&s);
		cr_assert_eq(send_fds(sock, "", 0, good_fds, 3, 0), 0);
		ch = chan_on(sock, MAX_FDS);
		echo_once(&s, ch, 9, "after", 5, good_fds + 3, 1);
		fdmsg_chan_free(ch);
		after_attack(&s, NULL);

		/* Descriptors must come with the frame's first byte: here
		 * they come with its second half, the first half read. */
		mid_payload(&s, "descriptors mid-payload", 1, 1, "EPROTO");
		mid_payload(&s, "stray descriptors mid-payload", 0, 2, stray);

		/* THREATS 22: header and descriptors, then silence. */
		s.attack = "partial frame with descriptors, then silence";
		sock = raw_connect(&s);
		put_hdr(b, 1, 2, 0, sizeof(b), 1, 1);
		raw_send_all(&s, sock, b, FDMSG_HDR_SIZE + 8, good_fds, 2);
		dropped(&s, sock, "ETIMEDOUT");

		/* THREATS 41: a whole frame, and in the same write the
		 * header of the next one with its descriptor, then silence.
		 * The whole frame completes in the read that starts the
		 * next one: the deadline must still run on what is held. */
		s.attack = "whole frame + next header with a descriptor";
		sock = raw_connect(&s);
		put_hdr(b, 1, 0, 0, FDMSG_HDR_SIZE + 8, 1, 1);
		put_hdr(b + FDMSG_HDR_SIZE + 8, 1, 1, 0, 64, 2, 2);
		raw_send_all(&s, sock, b, 2 * FDMSG_HDR_SIZE + 8, good_fds,
			     1);
		dropped_saying(&s, sock, "ETIMEDOUT", "--frame-timeout");
	}
	server_stop(&s);
}

TEST(server, hostile_descriptors_seqpacket_closed_no_leak)
{
	descriptor_attacks(SOCK_SEQPACKET);
}

TEST(server, hostile_descriptors_stream_closed_no_leak)
{
	descriptor_attacks(SOCK_STREAM);
}

/* ------------------------------------------------------------------ */
/* Floods and slow readers                                             */
/* ------------------------------------------------------------------ */

#define FLOOD_FRAME 8192

/*
 * A client that sends and never reads: its echoes pile up in the
 * server until its queue passes --max-queue (1 MiB by default), then it
 * is cut off.  Half-way there, a good client is served.
 */
static void
flood(int type)
{
	static uint8_t frame[FLOOD_FRAME];
	struct timeval tv = { 10, 0 };
	struct server s;
	struct pollfd pfd;
	char err[ERR_CAP];
	size_t sent = 0;
	ssize_t r;
	int sock, i;

	server_start(&s, type, no_extra);
	s.attack = "flood, never reading";
	sock = raw_connect(&s);
	cr_assert_eq(setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv,
				sizeof(tv)), 0);
	put_hdr(frame, 1, 0, 0, sizeof(frame), 7, 7);
	memset(frame + FDMSG_HDR_SIZE, 'f', sizeof(frame) - FDMSG_HDR_SIZE);

	/* Half a queue's worth: every echo fits, nobody is cut off. */
	for (i = 0; i < (int)(FDMSG_MAX_QUEUE_DEFAULT / 2 / FLOOD_FRAME);
	     i++) {
		raw_send_all(&s, sock, frame, sizeof(frame), NULL, 0);
		sent += sizeof(frame);
	}
	wait_consumed(&s, sock);
	pfd.fd = sock;
	pfd.events = POLLRDHUP;
	cr_assert_eq(poll(&pfd, 1, 0), 0, "the flooder was cut off early");
	new_stderr(&s, err);
	cr_assert_str_empty(err, "stderr: %s", err);

	/* The flood is in progress, its queue half full. */
	good_client(&s);
	assert_alive(&s);

	for (;;) {
		r = send_fds(sock, frame, sizeof(frame), NULL, 0, 0);
		if (r < 0)
			break;
		sent += (size_t)r;
		cr_assert_lt(sent, 64u << 20, "never cut off");
	}
	cr_assert(r == -EPIPE || r == -ECONNRESET, "flood send: %s",
		  strerror((int)-r));
	close(sock);
	cr_log_info("%s flood: cut off after %zu bytes sent\n",
		    type == SOCK_STREAM ? "stream" : "seqpacket", sent);
	after_attack(&s, "ENOBUFS");
	server_stop(&s);
}

TEST(server, flood_never_reading_cut_at_max_queue_seqpacket)
{
	flood(SOCK_SEQPACKET);
}

TEST(server, flood_never_reading_cut_at_max_queue_stream)
{
	flood(SOCK_STREAM);
}

#define SLOW_FRAMES 100
#define SLOW_LEN 4000

static void
slow_payload(char *p, int i)
{
	int j;

	for (j = 0; j < SLOW_LEN; j++)
		p[j] = (char)(i * 13 + j);
}

/* The slow client, in a child: exit status 0 when every echo was right. */
static int
slow_client(const char *path, int type, int notify, int go)
{
	static char p[SLOW_LEN];
	struct fdmsg_msg m = { 0 };
	struct fdmsg_chan *ch;
	struct fdmsg_opts o;
	struct iovec iov = { p, SLOW_LEN };
	struct stat a, b;
	int i, r, fd = fdmsg_connect(path, type);
	char c;

	fdmsg_opts_init(&o);
	o.max_fds = MAX_FDS;
	o.max_queue = 4u << 20;
	if (fd < 0 || fdmsg_chan_new(&ch, fd, &o, FDMSG_CHAN_OWN_FD) < 0)
		return 10;
	for (i = 0; i < SLOW_FRAMES; i++) {
		slow_payload(p, i);
		if (fdmsg_send(ch, 5, (uint32_t)i, &iov, 1, good_fds,
			       i % 4 == 0 ? 1 : 0, 0) < 0)
			return 11;
	}
	if (fdmsg_flush_wait(ch, WAIT_MS) < 0 || write(notify, "s", 1) != 1)
		return 12;
	for (i = 0; i < SLOW_FRAMES; i++) {
		if (i == SLOW_FRAMES / 2 && read(go, &c, 1) != 1)
			return 13;
		sleep_ms(10);
		r = fdmsg_recv_wait(ch, &m, (int)scaled(WAIT_MS));
		if (r < 0) {
			fprintf(stderr, "slow client: frame %d: %s\n", i,
				fdmsg_strerror(r));
			return 14;
		}
		slow_payload(p, i);
		if (m.type != 5 || m.peerid != (uint32_t)i ||
		    m.len != SLOW_LEN || memcmp(m.payload, p, SLOW_LEN) != 0)
			return 15;
		if (m.nfds != (i % 4 == 0 ? 1u : 0u))
			return 16;
		/* No cr_assert in a child: plain checks and exit codes. */
		if (m.nfds == 1 &&
		    (fstat(m.fds[0], &a) < 0 || fstat(good_fds[0], &b) < 0 ||
		     a.st_dev != b.st_dev || a.st_ino != b.st_ino))
			return 17;
	}
	fdmsg_chan_free(ch);
	return 0;
}

/*
 * A client reading one frame per 10 ms, its echoes queued in the
 * server: it gets every one, and is not cut off; a good client is
 * served while it reads.
 */
static void
slow_reader(int type)
{
	struct server s;
	struct pollfd pfd;
	int notify[2], go[2], st;
	pid_t pid;
	char c;

	server_start(&s, type, no_extra);
	s.attack = "slow reader";
	cr_assert_eq(pipe2(notify, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
	pid = fork_child();
	if (pid == 0)
		_exit(slow_client(s.path, type, notify[1], go[0]));
	pfd.fd = notify[0];
	pfd.events = POLLIN;
	cr_assert_eq(poll(&pfd, 1, (int)scaled(WAIT_MS)), 1);
	cr_assert_eq(read(notify[0], &c, 1), 1, "the slow client failed");

	/* It is reading, slowly, with its echoes queued. */
	good_client(&s);
	assert_alive(&s);
	cr_assert_eq(write(go[1], "g", 1), 1);

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "slow client status %#x", st);
	close(notify[0]);
	close(notify[1]);
	close(go[0]);
	close(go[1]);
	after_attack(&s, NULL);
	server_stop(&s);
}

TEST(server, slow_reader_gets_every_frame_seqpacket)
{
	slow_reader(SOCK_SEQPACKET);
}

TEST(server, slow_reader_gets_every_frame_stream)
{
	slow_reader(SOCK_STREAM);
}

/*
 * A flood of descriptors: 16-byte frames with 8 descriptors each, never
 * reading.  Its queue grows by 16 bytes a frame, the server's descriptor
 * table by 8.  Runs in a child until cut off; 0 when the server cut it.
 */
static int
fd_flooder(const char *path, int type, int notify)
{
	uint8_t h[FDMSG_HDR_SIZE];
	long frames;
	ssize_t r = 0;
	int sock = fdmsg_connect(path, type);

	if (sock < 0)
		return 40;
	put_hdr(h, 1, MAX_FDS, 0, sizeof(h), 7, 7);
	for (frames = 0;; frames++) {
		if (frames == FD_FLOOD_FRAMES && write(notify, "f", 1) != 1)
			return 41;
		r = send_fds(sock, h, sizeof(h), good_fds, MAX_FDS, 0);
		if (r < 0)
			break;
	}
	if (frames < FD_FLOOD_FRAMES && write(notify, "f", 1) != 1)
		return 41;
	return r == -EPIPE || r == -ECONNRESET ? 0 : 42;
}

/*
 * A client that floods descriptors and never reads must not take the
 * server's descriptor table from the others: while the flood goes on,
 * FD_FLOOD_GOOD good clients connected at once are each served (8
 * descriptors a frame), the flooder is cut off, and the log stays short.
 *
 * The server's per-client queue caps descriptors (--max-queue-fds, the
 * library's max_queue_fds) as well as bytes: without that, 16 queued bytes
 * hold 8 duplicated descriptors, the flooder fills the server's table up
 * to RLIMIT_NOFILE, new connections are shed and every flood frame logs
 * an EMFILE line.
 */
#define FD_FLOOD_GOOD 16

static void
fd_flood(int type)
{
	struct fdmsg_chan *ch[FD_FLOOD_GOOD];
	struct iovec iov = { (char[]){ "fd" }, 2 };
	struct fdmsg_msg m = { 0 };
	struct server s;
	struct pollfd pfd;
	char err[ERR_CAP], *line;
	int notify[2], st, i, r;
	pid_t pid;
	char c;

	SKIP_UNDER_VALGRIND();
	spawn_next.nofile = 4096; /* the flood passes it whatever the machine */
	/* Every client here has the test's uid. */
	server_start(&s, type, (const char *const[]){ "--max-per-uid", "32",
						   NULL });
	spawn_next.nofile = 0;
	s.attack = "descriptor flood, never reading";
	cr_assert_eq(pipe2(notify, O_CLOEXEC), 0);
	pid = fork_child();
	if (pid == 0)
		_exit(fd_flooder(s.path, type, notify[1]));
	pfd.fd = notify[0];
	pfd.events = POLLIN;
	cr_assert_eq(poll(&pfd, 1, (int)scaled(WAIT_MS)), 1);
	cr_assert_eq(read(notify[0], &c, 1), 1);

	for (i = 0; i < FD_FLOOD_GOOD; i++)
		ch[i] = chan_on(connect_retry(s.path, type), MAX_FDS);
	for (i = 0; i < FD_FLOOD_GOOD; i++) {
		r = fdmsg_send(ch[i], 1, (uint32_t)i, &iov, 1, good_fds,
			       MAX_FDS, 0);
		if (r == 0)
			r = fdmsg_flush_wait(ch[i], WAIT_MS);
		if (r == 0)
			r = fdmsg_recv_wait(ch[i], &m, (int)scaled(WAIT_MS));
		cr_assert_eq(r, 0, "good client %d during the flood: %s", i,
			     fdmsg_strerror(r));
		cr_assert_eq(m.nfds, MAX_FDS);
		cr_assert(same_file(m.fds[MAX_FDS - 1],
				    good_fds[MAX_FDS - 1]));
		fdmsg_msg_release(&m);
	}
	for (i = 0; i < FD_FLOOD_GOOD; i++)
		fdmsg_chan_free(ch[i]);
	assert_alive(&s);

	for (i = 0; i < scaled(WAIT_MS) / 5; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		sleep_ms(5);
	}
	if (i == scaled(WAIT_MS) / 5) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		cr_assert_fail("the descriptor flooder was never cut off");
	}
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "flooder %#x", st);
	close(notify[0]);
	close(notify[1]);
	settle_to(&s, s.baseline);
	/* Client 1 was server_start's; the flooder is client 2. */
	new_stderr(&s, err);
	cr_assert_leq(count_lines(err), 8, "a line per flood frame?");
	for (line = err; *line != '\0'; line = strchr(line, '\n') + 1)
		cr_assert_eq(strncmp(line, "fdmsg serve: client 2: ", 23), 0,
			     "not about the flooder: %.100s", line);
	after_attack(&s, NULL);
	server_stop(&s);
}

TEST(server, descriptor_flood_never_reading_seqpacket)
{
	fd_flood(SOCK_SEQPACKET);
}

TEST(server, descriptor_flood_never_reading_stream)
{
	fd_flood(SOCK_STREAM);
}

/*
 * THREATS 42: clients that park descriptors cannot fill the server's
 * table.  Each of PARKERS clients sends, in one write, a whole frame and
 * the header of the next one declaring MAX_FDS descriptors, with them
 * attached, then nothing (no --frame-timeout: only the budget guards).
 * The server starts with a soft RLIMIT_NOFILE of 256, below what the
 * parkers hold, and a hard one of 8192: it must raise the soft limit to
 * its budget at startup, so an honest client still gets its MAX_FDS
 * descriptors echoed.  (Without the raise the parkers fill the table and
 * the honest client is shed or truncated.)
 */
#define PARKERS 40

TEST(server, descriptor_parkers_cannot_starve_an_honest_client)
{
	const char *const args[] = { "--max-clients", "64", "--max-per-uid",
				     "64", "--frame-timeout", "0",
				     "--max-queue-fds", "8", NULL };
	uint8_t b[2 * FDMSG_HDR_SIZE + 8];
	int socks[PARKERS], fds[MAX_FDS], i;
	struct fdmsg_chan *ch;
	struct server s;
	char err[ERR_CAP], *line;

	SKIP_UNDER_VALGRIND();
	spawn_next.nofile = 256;
	spawn_next.nofile_hard = 8192;
	server_start(&s, SOCK_STREAM, args);
	spawn_next.nofile = spawn_next.nofile_hard = 0;
	s.attack = "descriptor parkers";
	put_hdr(b, 1, 0, 0, FDMSG_HDR_SIZE + 8, 1, 1);
	memset(b + FDMSG_HDR_SIZE, 'k', 8);
	put_hdr(b + FDMSG_HDR_SIZE + 8, 1, MAX_FDS, 0, 64, 2, 2);
	for (i = 0; i < MAX_FDS; i++)
		fds[i] = good_fds[i];
	for (i = 0; i < PARKERS; i++) {
		socks[i] = raw_connect(&s);
		raw_send_all(&s, socks[i], b, sizeof(b), fds, MAX_FDS);
		wait_consumed(&s, socks[i]);
	}
	/* Every parker holds its socket and MAX_FDS descriptors. */
	settle_to(&s, s.baseline + PARKERS * (1 + MAX_FDS));

	ch = chan_on(connect_retry(s.path, SOCK_STREAM), MAX_FDS);
	echo_once(&s, ch, 7, "honest", 6, good_fds, MAX_FDS);
	fdmsg_chan_free(ch);
	assert_alive(&s);
	new_stderr(&s, err);
	cr_assert_str_empty(err, "stderr: %s", err);

	/* Each parker's end cuts its frame short: one line each. */
	for (i = 0; i < PARKERS; i++)
		close(socks[i]);
	settle_to(&s, s.baseline);
	new_stderr(&s, err);
	cr_assert_eq(count_lines(err), PARKERS, "stderr: %s", err);
	for (line = err; *line != '\0'; line = strchr(line, '\n') + 1)
		cr_assert_not_null(strstr(line, ": EBADMSG: "), "%.100s",
				   line);
	after_attack(&s, NULL);
	server_stop(&s);
}

/* ------------------------------------------------------------------ */
/* Idle and half-open connections                                      */
/* ------------------------------------------------------------------ */

/* Closed by the server at once, or still open: no wait past a bound. */
static int
is_closed(int sock, int wait_ms)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	char c;
	ssize_t n;

	if (poll(&pfd, 1, wait_ms) == 0)
		return 0;
	n = recv(sock, &c, 1, MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

/*
 * In a child as uid 65534: connect to path (made reachable), echo one
 * frame.  Exit status 0 when served.
 */
static int
other_uid_client(const char *path, int type)
{
	struct fdmsg_msg m = { 0 };
	struct fdmsg_chan *ch;
	struct fdmsg_opts o;
	struct iovec iov = { (char[]){ "other uid" }, 9 };
	int fd;

	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
		return 50;
	fd = fdmsg_connect(path, type);
	fdmsg_opts_init(&o);
	if (fd < 0 || fdmsg_chan_new(&ch, fd, &o, FDMSG_CHAN_OWN_FD) < 0)
		return 51;
	if (fdmsg_send(ch, 1, 65534, &iov, 1, NULL, 0, 0) < 0 ||
	    fdmsg_flush_wait(ch, WAIT_MS) < 0 ||
	    fdmsg_recv_wait(ch, &m, (int)scaled(WAIT_MS)) < 0)
		return 52;
	if (m.peerid != 65534 || m.len != 9)
		return 53;
	fdmsg_chan_free(ch);
	return 0;
}

/*
 * THREATS 43: one uid floods half-open connections (connect, never
 * send).  With --max-per-uid 4 of --max-clients 8 the first 4 are
 * served and held; every later one from that uid is closed at once,
 * with a line naming the peer (rate-limited); its served connections
 * still echo; once one of them goes, that uid gets a slot again; and,
 * when the test runs as root, a client of another uid is served all
 * along.
 */
#define HALF_OPEN 24

TEST(server, half_open_flood_from_one_uid_is_capped_per_uid)
{
	const char *const args[] = { "--max-clients", "8", "--max-per-uid",
				     "4", NULL };
	struct fdmsg_chan *held[4];
	struct server s;
	char err[ERR_CAP], want[96], *line;
	int i, sock, st;
	pid_t pid;

	server_start(&s, SOCK_SEQPACKET, args);
	s.attack = "half-open flood from one uid";
	for (i = 0; i < 4; i++) {
		held[i] = chan_on(raw_connect(&s), MAX_FDS);
		echo_once(&s, held[i], (uint32_t)i, "held", 4, NULL, 0);
	}
	/* They say nothing more; the flood goes on. */
	for (i = 0; i < HALF_OPEN; i++) {
		sock = raw_connect(&s);
		cr_assert(is_closed(sock, (int)scaled(WAIT_MS)),
			  "connection %d beyond --max-per-uid was served", i);
		close(sock);
	}
	settle_to(&s, s.baseline + 4);
	new_stderr(&s, err);
	cr_assert_geq(count_lines(err), 1, "no line for the refusals");
	snprintf(want, sizeof(want), "fdmsg serve: refused pid %ld, uid %ld: "
		 "uid has --max-per-uid 4 connections", (long)getpid(),
		 (long)getuid());
	for (line = err; *line != '\0'; line = strchr(line, '\n') + 1)
		cr_assert_eq(strncmp(line, want, strlen(want)), 0,
			     "want '%s': %.200s", want, line);

	if (geteuid() == 0) {
		/* The cap is per uid: another user still gets a slot. */
		cr_assert_eq(chmod(s.dir, 0711), 0);
		cr_assert_eq(chmod(s.path, 0666), 0);
		pid = fork_child();
		if (pid == 0)
			_exit(other_uid_client(s.path, SOCK_SEQPACKET));
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "a client of uid 65534 was not served: %#x", st);
		cr_assert_eq(chmod(s.dir, 0700), 0);
	} else {
		cr_log_info("not root: the other-uid client is skipped\n");
	}

	for (i = 0; i < 4; i++)
		echo_once(&s, held[i], 10u + (unsigned)i, "still", 5, NULL, 0);
	/* One goes: the uid has a slot again. */
	fdmsg_chan_free(held[0]);
	settle_to(&s, s.baseline + 3);
	held[0] = chan_on(raw_connect(&s), MAX_FDS);
	echo_once(&s, held[0], 20, "again", 5, NULL, 0);
	for (i = 0; i < 4; i++)
		fdmsg_chan_free(held[i]);
	settle_to(&s, s.baseline);
	new_stderr(&s, err);
	cr_assert_str_empty(err, "stderr: %s", err);
	after_attack(&s, NULL);
	server_stop(&s);
}

/*
 * THREATS 43: with --idle-timeout, a client that sends nothing is cut
 * off (one line naming the deadline and the peer) while an active one
 * is served throughout; and so is a client that leaves its replies,
 * descriptors included, in the server's queue and never reads.
 */
TEST(server, idle_clients_are_cut_active_ones_served)
{
	const char *const args[] = { "--idle-timeout", "300", NULL };
	static uint8_t frame[16384];
	struct fdmsg_chan *active;
	struct server s;
	char err[ERR_CAP], want[64];
	int silent, stalled, i, cut = 0;

	server_start(&s, SOCK_SEQPACKET, args);
	s.attack = "silent client";
	silent = raw_connect(&s);
	active = chan_on(raw_connect(&s), MAX_FDS);
	for (i = 0; i < (int)scaled(WAIT_MS) / 20 && !cut; i++) {
		echo_once(&s, active, (uint32_t)i, "busy", 4, NULL, 0);
		cut = is_closed(silent, 20);
	}
	cr_assert(cut, "the silent client was never cut off");
	close(silent);
	echo_once(&s, active, 99999, "after", 5, good_fds, 1);
	new_stderr(&s, err);
	cr_assert_eq(count_lines(err), 1, "stderr: %s", err);
	cr_assert_not_null(strstr(err, ": ETIMEDOUT: "), "%s", err);
	cr_assert_not_null(strstr(err, "idle past --idle-timeout"), "%s", err);
	snprintf(want, sizeof(want), "(pid %ld, uid %ld)\n", (long)getpid(),
		 (long)getuid());
	cr_assert_not_null(strstr(err, want), "want %s: %s", want, err);
	fdmsg_chan_free(active);

	/* More replies than the socket buffers hold, each with a
	 * descriptor, never read: the rest wait in the server's queue
	 * (below --max-queue and --max-queue-fds) until the idle cut. */
	s.attack = "stalled reader";
	stalled = raw_connect(&s);
	put_hdr(frame, 1, 1, 0, sizeof(frame), 3, 3);
	for (i = 0; i < 48; i++)
		raw_send_all(&s, stalled, frame, sizeof(frame), good_fds, 1);
	wait_consumed(&s, stalled);
	cr_assert_gt(fd_count_of(s.pid), s.baseline + 1,
		     "nothing queued: the test proves nothing");
	/* Wait for the server's end without reading a byte. */
	{
		struct pollfd pfd = { .fd = stalled, .events = POLLRDHUP };

		do
			cr_assert_gt(poll(&pfd, 1, (int)scaled(WAIT_MS)), 0,
				     "the stalled reader was never cut off");
		while (!(pfd.revents & (POLLRDHUP | POLLHUP)));
	}
	close(stalled);
	settle_to(&s, s.baseline);
	new_stderr(&s, err);
	cr_assert_eq(count_lines(err), 1, "stderr: %s", err);
	cr_assert_not_null(strstr(err, "idle past --idle-timeout"), "%s", err);
	after_attack(&s, NULL);
	server_stop(&s);
}

/* ------------------------------------------------------------------ */
/* Load                                                                */
/* ------------------------------------------------------------------ */

#define LOAD_CLIENTS 64
#define LOAD_FRAMES 20000   /* per client; FDMSG_LOAD_FRAMES overrides */
#define LOAD_FRAMES_VALGRIND 200
#define LOAD_WINDOW 16      /* frames in flight per client */
#define LOAD_QUEUE 262144   /* the server's --max-queue */
#define LOAD_NFILES 4
#define PATTERN 16384

struct load {
	const char *path;
	unsigned frames;
	int files[LOAD_NFILES];
	struct stat st[LOAD_NFILES];
	uint8_t pattern[PATTERN];
};

static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Frame seq of client id: payload bytes, where in the pattern, fds. */
static void
load_frame(unsigned id, unsigned seq, size_t *len, size_t *off,
	   unsigned *nfds)
{
	uint64_t h = mix((uint64_t)id << 32 | seq);
	unsigned e = 4 + (unsigned)(h % 10);     /* 16 B .. 8 KiB, */
	size_t size = ((size_t)1 << e) +         /* log-uniform */
		      (size_t)((h >> 8) % ((uint64_t)1 << e));

	if (size > 8192)
		size = 8192;
	*len = size - FDMSG_HDR_SIZE;
	*off = (size_t)((h >> 24) % (PATTERN - 8192));
	*nfds = (h >> 40) % 4 == 0 ? 1 + (unsigned)((h >> 44) % 4) : 0;
}

static int
load_check(const struct load *L, unsigned id, unsigned seq,
	   const struct fdmsg_msg *m)
{
	size_t len, off;
	unsigned nfds, k;
	struct stat st;

	load_frame(id, seq, &len, &off, &nfds);
	if (m->type != id || m->peerid != seq) {
		fprintf(stderr, "load %u: got type %u peerid %u, want %u\n",
			id, m->type, m->peerid, seq);
		return 30;
	}
	if (m->len != len || memcmp(m->payload, L->pattern + off, len) != 0)
		return 31;
	if (m->nfds != nfds)
		return 32;
	for (k = 0; k < nfds; k++) {
		const struct stat *w = &L->st[(seq + k) % LOAD_NFILES];

		if (fstat(m->fds[k], &st) < 0 || st.st_dev != w->st_dev ||
		    st.st_ino != w->st_ino)
			return 33;
	}
	return 0;
}

/*
 * One load client (a child process).  At most LOAD_WINDOW frames and one
 * descriptor-carrying frame in flight: what it costs the server stays
 * below one queue and 4 descriptors.  Exit status 0: every frame came
 * back once, in order, with its files.
 */
static int
load_client(const struct load *L, unsigned id)
{
	struct fdmsg_msg m = { 0 };
	struct fdmsg_chan *ch;
	struct fdmsg_opts o;
	struct pollfd pfd;
	unsigned sent = 0, got = 0, fd_seq = 0, nfds, k;
	int fds[4], fd_out = 0, r;
	size_t len, off;
	struct iovec iov;

	fdmsg_opts_init(&o);
	o.max_fds = MAX_FDS;
	o.max_queue = 4u << 20;
	r = fdmsg_connect(L->path, SOCK_SEQPACKET);
	if (r < 0 || fdmsg_chan_new(&ch, r, &o, FDMSG_CHAN_OWN_FD) < 0)
		return 20;
	pfd.fd = fdmsg_chan_fd(ch);
	while (got < L->frames) {
		while (sent < L->frames && sent - got < LOAD_WINDOW) {
			load_frame(id, sent, &len, &off, &nfds);
			if (nfds > 0 && fd_out)
				break;
			for (k = 0; k < nfds; k++)
				fds[k] = L->files[(sent + k) % LOAD_NFILES];
			iov.iov_base = (void *)(uintptr_t)(L->pattern + off);
			iov.iov_len = len;
			r = fdmsg_send(ch, id, sent, &iov, 1, fds, nfds, 0);
			if (r < 0) {
				fprintf(stderr, "load %u: send %u: %s\n", id,
					sent, fdmsg_strerror(r));
				return 21;
			}
			if (nfds > 0) {
				fd_out = 1;
				fd_seq = sent;
			}
			sent++;
		}
		r = fdmsg_flush(ch);
		if (r < 0 && r != -EAGAIN)
			return 22;
		pfd.events = POLLIN | (fdmsg_want_write(ch) ? POLLOUT : 0);
		if (poll(&pfd, 1, (int)scaled(60000)) <= 0) {
			fprintf(stderr, "load %u: stalled at %u/%u\n", id, got,
				sent);
			return 23;
		}
		while (got < sent && (r = fdmsg_recv(ch, &m)) == 0) {
			if ((r = load_check(L, id, got, &m)) != 0)
				return r;
			if (fd_out && got == fd_seq)
				fd_out = 0;
			got++;
		}
		if (r < 0 && r != -EAGAIN) {
			fprintf(stderr, "load %u: recv at %u: %s\n", id, got,
				fdmsg_strerror(r));
			return 24;
		}
	}
	/* Exactly once: after our end, the server's end and nothing else. */
	if (fdmsg_recv(ch, &m) != -EAGAIN ||
	    shutdown(fdmsg_chan_fd(ch), SHUT_WR) < 0 ||
	    fdmsg_recv_wait(ch, &m, (int)scaled(WAIT_MS)) != -EPIPE)
		return 25;
	fdmsg_chan_free(ch);
	return 0;
}

static void
load_setup(struct load *L, const char *dir)
{
	unsigned i;
	int p[2];

	L->files[0] = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	L->files[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	L->files[2] = p[0];
	L->files[3] = p[1];
	for (i = 0; i < LOAD_NFILES; i++)
		cr_assert_eq(fstat(L->files[i], &L->st[i]), 0);
	for (i = 0; i < PATTERN; i++)
		L->pattern[i] = (uint8_t)mix(i);
}

TEST(server, load)
{
	static struct load L;
	const char *env = getenv("FDMSG_LOAD_FRAMES");
	const char *const args[] = { "--max-clients", "64", "--max-queue",
				     "262144", "--max-per-uid", "64", NULL };
	pid_t pids[LOAD_CLIENTS];
	struct server s;
	int i, st, left = LOAD_CLIENTS, fds, peak_fds = 0, fd_ceiling, native;
	long rss, rss_ceiling;
	double t0, el;
	unsigned long long total;
	char *end, figures[512];

	/* Under valgrind (ci/test's third pass) 20000 would take hours. */
	L.frames = RUNNING_ON_VALGRIND ? LOAD_FRAMES_VALGRIND : LOAD_FRAMES;
	if (env != NULL) {
		unsigned long v = strtoul(env, &end, 10);

		cr_assert(*env != '\0' && *end == '\0' && v > 0 &&
			  v <= UINT32_MAX, "FDMSG_LOAD_FRAMES=%s", env);
		L.frames = (unsigned)v;
	}
	server_start(&s, SOCK_SEQPACKET, args);
	s.attack = "load";
	L.path = s.path;
	load_setup(&L, s.dir);

	t0 = now_s();
	for (i = 0; i < LOAD_CLIENTS; i++) {
		pids[i] = fork_child();
		if (pids[i] == 0)
			_exit(load_client(&L, (unsigned)i));
	}
	/* Sample the server's descriptors while the clients run. */
	while (left > 0) {
		fds = fd_count_of(s.pid);
		peak_fds = fds > peak_fds ? fds : peak_fds;
		for (i = 0; i < LOAD_CLIENTS; i++) {
			pid_t r;

			if (pids[i] <= 0)
				continue;
			r = waitpid(pids[i], &st, WNOHANG);
			if (r == 0)
				continue;
			cr_assert_eq(r, pids[i]);
			cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
				  "load client %d: status %#x", i, st);
			pids[i] = 0;
			left--;
		}
		sleep_ms(2);
	}
	el = now_s() - t0;
	assert_alive(&s);
	rss = status_kib(s.pid, "VmHWM:");
	settle_to(&s, s.baseline);

	total = (unsigned long long)L.frames * LOAD_CLIENTS;
	/* Bounded memory: max_clients * (max_frame + max_queue), plus the
	 * program, libc and heap bookkeeping. */
	rss_ceiling = (LOAD_CLIENTS * (long)(MAX_FRAME + LOAD_QUEUE) >> 10) +
		      16 * 1024;
	/* Each client: its socket and the 4 descriptors of the one frame
	 * it may have in flight; then the server's own (the baseline) and
	 * the frame being echoed (4 received, 4 duplicated into a queue). */
	fd_ceiling = LOAD_CLIENTS * (1 + 4) + s.baseline + 8;
	/* A sanitizer's shadow memory or valgrind's own is not the tool's. */
	native = server_is_native(s.pid);
#ifdef FDMSG_SANITIZED
	native = 0;
#endif
	snprintf(figures, sizeof(figures), "%d clients x %u frames = %llu "
		 "frames echoed in %.2f s (%.0f frames/s); server peak RSS "
		 "%ld KiB (ceiling %ld KiB%s), peak descriptors %d (ceiling "
		 "%d, baseline %d)", LOAD_CLIENTS, L.frames, total, el,
		 (double)total / el, rss, rss_ceiling,
		 native ? "" : ", not asserted: sanitizer or valgrind",
		 peak_fds, fd_ceiling, s.baseline);
	cr_log_info("load: %s\n", figures);
	fprintf(stderr, "load: %s\n", figures);
	cr_assert_lt(peak_fds, fd_ceiling);
	cr_assert_gt(rss, 0);
	if (native)
		cr_assert_lt(rss, rss_ceiling, "peak RSS %ld KiB", rss);
	for (i = 0; i < LOAD_NFILES; i++)
		close(L.files[i]);
	server_stop(&s);
}
