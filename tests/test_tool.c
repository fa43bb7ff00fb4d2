/* SPDX-License-Identifier: ISC */
/*
 * fdmsg(1), driven as a user would: fork and exec the built tool (path in
 * FDMSG_TOOL), talk to it through the public library and raw sockets,
 * check exit statuses, stderr lines and what comes back.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fdmsg.h"
#include "testutil.h"
#include "toolutil.h"

/* A bound on hangs, not a timing assertion: valgrind on a loaded machine
 * took over 10 s for one send/recv round. */
#define WAIT_MS TOOL_WAIT_MS
#define OUT_CAP 65536

struct proc {
	pid_t pid;
	int out; /* the tool's stdout, read end */
	int err; /* its stderr */
};

/*
 * How the next spawned process starts (toolutil.h): its descriptors moved
 * to fixed numbers, e.g. a socket to 3 for socket activation or a pipe for
 * --ready-fd; environment; LISTEN_PID.  Those are reset after each spawn;
 * nofile and uid stay until the test resets them.
 */
static struct spawn spawn_next = SPAWN_INIT;

/* Runs argv[0] (a path, or a name looked up in PATH) with argv. */
static void
spawn_argv(struct proc *p, int in_fd, const char *const *argv)
{
	int o[2], e[2];

	cr_assert_eq(pipe2(o, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(e, O_CLOEXEC), 0);
	spawn_next.in = in_fd;
	spawn_next.out = o[1];
	spawn_next.err = e[1];
	/* Only the tool's own descriptors count against the limit. */
	spawn_next.close_rest = spawn_next.nofile != 0;
	p->pid = spawn_exec(&spawn_next, argv);
	close(o[1]);
	close(e[1]);
	p->out = o[0];
	p->err = e[0];
	spawn_next.move[0].from = spawn_next.move[1].from = -1;
	memset(spawn_next.env, 0, sizeof(spawn_next.env));
	spawn_next.listen_pid = 0;
}

/* Starts the tool with argv (NULL-terminated, without argv[0]). */
static void
spawn_v(struct proc *p, int in_fd, const char *const *args)
{
	const char *argv[32];
	int n = 0;

	argv[n++] = tool_path();
	while (*args != NULL && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	spawn_argv(p, in_fd, argv);
}

#define spawn(p, in_fd, ...)                                             \
	spawn_v((p), (in_fd), (const char *const[]){ __VA_ARGS__, NULL })

/* Reads fd to its end into buf (NUL-terminated): bytes, or -1 on timeout. */
static ssize_t
read_all(int fd, char *buf, size_t cap)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0;
	ssize_t n;

	for (;;) {
		if (poll(&pfd, 1, WAIT_MS) <= 0)
			return -1;
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == cap - 1)
			break;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

/* The exit status; fails the test on a signal or a hang. */
static int
wait_exit(pid_t pid)
{
	int st = reap(pid, WAIT_MS, "tool");

	cr_assert(WIFEXITED(st), "tool died of signal %d",
		  WIFSIGNALED(st) ? WTERMSIG(st) : -1);
	return WEXITSTATUS(st);
}

/* Collects stdout and stderr, then the exit status; closes the pipes. */
static int
finish(struct proc *p, char *out, char *err)
{
	ssize_t no = read_all(p->out, out, OUT_CAP);
	ssize_t ne = read_all(p->err, err, OUT_CAP);

	close(p->out);
	close(p->err);
	if (no < 0 || ne < 0)
		kill(p->pid, SIGKILL);
	cr_assert(no >= 0 && ne >= 0, "tool output never ended");
	return wait_exit(p->pid);
}

/* Runs the tool with in[0..n) on stdin; its output into out and err. */
static int
run_v(const void *in, size_t n, char *out, char *err, const char *const *args)
{
	struct proc p;
	int ip[2] = { -1, -1 };

	if (in != NULL) {
		cr_assert_eq(pipe2(ip, O_CLOEXEC), 0);
		cr_assert(n < 65536, "stdin must fit a pipe");
		cr_assert_eq(write(ip[1], in, n), (ssize_t)n);
		close(ip[1]);
	}
	spawn_v(&p, ip[0], args);
	if (ip[0] >= 0)
		close(ip[0]);
	return finish(&p, out, err);
}

#define run(in, n, out, err, ...)                                        \
	run_v((in), (n), (out), (err),                                   \
	      (const char *const[]){ __VA_ARGS__, NULL })

/* A fresh directory for one test's socket: dir and dir/s. */
static void
tmp_sock(char *dir, char *path)
{
	strcpy(dir, "/tmp/fdmsg-tool-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, PATH_MAX, "%s/s", dir);
}

/* Sends one frame and expects it back exactly. */
static void
echo_once(struct fdmsg_chan *ch, uint32_t type, uint32_t peerid,
	  const char *data, const int *fds, unsigned nfds)
{
	echo_expect(ch, type, peerid, data, strlen(data), fds, nfds, WAIT_MS,
		    "echo");
}

/* SIGTERM: exit 0 and the socket file gone.  Returns stderr in err. */
static void
stop_server(struct proc *p, const char *path, char *err)
{
	char out[OUT_CAP];

	cr_assert_eq(kill(p->pid, SIGTERM), 0);
	cr_assert_eq(finish(p, out, err), 0, "serve exit; stderr: %s", err);
	cr_assert_eq(access(path, F_OK), -1, "serve left %s behind", path);
	cr_assert_eq(errno, ENOENT);
}

/* SIGTERM as stop_server, with nothing on stderr; then the test's
 * directory (tmp_sock) removed. */
static void
stop_server_quiet(struct proc *p, const char *dir, const char *path)
{
	char err[OUT_CAP];

	stop_server(p, path, err);
	cr_assert_str_empty(err, "stderr: %s", err);
	cr_assert_eq(rmdir(dir), 0);
}

/* Starts serve with args and path, and returns once it listens there. */
static void
serve_up_v(struct proc *p, const char *path, const char *const *args)
{
	const char *argv[32] = { "serve" };
	int n = 1, type = 0;

	for (; *args != NULL && n < 30; args++) {
		type = strcmp(*args, "--stream") == 0 ? SOCK_STREAM : type;
		argv[n++] = *args;
	}
	argv[n++] = path;
	argv[n] = NULL;
	spawn_v(p, -1, argv);
	close(connect_retry(path, type));
}

#define serve_up(p, path, ...)                                           \
	serve_up_v((p), (path), (const char *const[]){ __VA_ARGS__, NULL })

/* Reads a running tool's stderr into buf until it holds needle. */
static void
wait_stderr(struct proc *p, char *buf, const char *needle)
{
	struct pollfd pfd = { .fd = p->err, .events = POLLIN };
	size_t len = 0;
	ssize_t n;

	buf[0] = '\0';
	while (strstr(buf, needle) == NULL) {
		cr_assert_gt(poll(&pfd, 1, WAIT_MS), 0, "no '%s' on stderr: %s",
			     needle, buf);
		cr_assert_lt(len, OUT_CAP - 1);
		n = read(p->err, buf + len, OUT_CAP - 1 - len);
		cr_assert_gt(n, 0, "stderr ended: %s", buf);
		len += (size_t)n;
		buf[len] = '\0';
	}
}

static size_t
frame(uint8_t *buf, uint32_t type, uint32_t peerid, uint8_t nfds,
      const char *payload)
{
	struct fdmsg_hdr h = { .version = FDMSG_WIRE_VERSION, .nfds = nfds,
			       .type = type, .peerid = peerid };
	size_t n = strlen(payload);

	h.len = (uint32_t)(FDMSG_HDR_SIZE + n);
	cr_assert_eq(fdmsg_hdr_encode(&h, buf), (int)FDMSG_HDR_SIZE);
	memcpy(buf + FDMSG_HDR_SIZE, payload, n);
	return h.len;
}

/* ------------------------------------------------------------------ */
/* Usage errors: exit 2, one line on stderr, nothing done              */
/* ------------------------------------------------------------------ */

TEST(tool_usage, malformed_or_out_of_range_values_exit_2_never_clamped)
{
	static const char *const cases[][10] = {
		{ NULL },
		{ "bogus", NULL },
		{ "serve", NULL },
		{ "serve", "--max-fds", "254", "@P", NULL },
		{ "serve", "--max-fds", "-1", "@P", NULL },
		{ "serve", "--max-fds", "", "@P", NULL },
		{ "serve", "--max-fds", " 3", "@P", NULL },
		{ "serve", "--max-fds", "3x", "@P", NULL },
		{ "serve", "--max-fds", "0x", "@P", NULL },
		{ "serve", "--max-fds", "0x0x3", "@P", NULL },
		{ "serve", "--max-fds", NULL },
		{ "serve", "--max-frame", "15", "@P", NULL },
		{ "serve", "--max-frame", "16777217", "@P", NULL },
		{ "serve", "--max-frame", "99999999999999999999999", "@P",
		  NULL },
		{ "serve", "--max-queue", "4095", "--max-frame", "4096", "@P",
		  NULL },
		{ "serve", "--max-clients", "0", "@P", NULL },
		{ "serve", "--frame-timeout", "abc", "@P", NULL },
		{ "serve", "--idle-timeout", "86400001", "@P", NULL },
		{ "serve", "--idle-timeout", "-1", "@P", NULL },
		{ "serve", "--max-per-uid", "0", "@P", NULL },
		{ "serve", "--max-per-uid", "65537", "@P", NULL },
		{ "serve", "--echo=1", "@P", NULL },
		{ "serve", "--bogus", "@P", NULL },
		{ "serve", "@P", "@Q", NULL },
		{ "serve", "--mode", "0", "@P", NULL },
		{ "serve", "--mode", "1000", "@P", NULL },
		{ "serve", "--mode", "0778", "@P", NULL },
		{ "serve", "--mode", "rw", "@P", NULL },
		{ "serve", "--mode", "", "@P", NULL },
		{ "serve", "--allow-uid", "x", "@P", NULL },
		{ "serve", "--allow-uid", "1,,2", "@P", NULL },
		{ "serve", "--allow-uid", "1,", "@P", NULL },
		{ "serve", "--allow-uid", "4294967295", "@P", NULL },
		{ "serve", "--ready-fd", "0", "@P", NULL },
		{ "serve", "--ready-fd", "2", "@P", NULL },
		{ "serve", "--ready-fd", "1000", "@P", NULL },
		{ "send", "@P", NULL },
		{ "send", "--type", "1", NULL },
		{ "send", "@P", "--type", "4294967296", NULL },
		{ "send", "@P", "--type", "1", "--peerid", "-2", NULL },
		{ "send", "@P", "--type", "1", "--data", "x", "--file",
		  "/etc/hostname", NULL },
		{ "send", "@P", "--type", "1", "--timeout", "-1", NULL },
		{ "send", "@P", "--type", "1", "--timeout", "86400001", NULL },
		{ "send", "@P", "--type", "1", "--payload", NULL },
		{ "help", "bogus", NULL },
		{ "recv", NULL },
		{ "recv", "@P", "--count", "0", NULL },
		{ "recv", "@P", "--payload=yes", NULL },
		{ "decode", "a", "b", NULL },
		{ "decode", "--x", NULL },
	};
	char out[OUT_CAP], err[OUT_CAP];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = run_v(NULL, 0, out, err, cases[i]);

		cr_assert_eq(st, 2, "case %zu (%s %s): exit %d, stderr: %s",
			     i, cases[i][0] ? cases[i][0] : "-",
			     cases[i][0] && cases[i][1] ? cases[i][1] : "",
			     st, err);
		cr_assert_eq(count_lines(err), 1, "case %zu: stderr: %s", i,
			     err);
		cr_assert_eq(strncmp(err, "fdmsg", 5), 0);
		cr_assert_str_empty(out);
	}
}

TEST(tool_usage, help_prints_usage_and_exits_0)
{
	char out[OUT_CAP], err[OUT_CAP];

	cr_assert_eq(run(NULL, 0, out, err, "--help"), 0);
	cr_assert_not_null(strstr(out, "fdmsg serve"));
	cr_assert_not_null(strstr(out, "fdmsg decode"));
	cr_assert_str_empty(err);
}

/* Each command's --help (or -h, anywhere among its options): its usage
 * alone on stdout, exit 0, nothing done. */
TEST(tool_usage, each_command_has_its_help)
{
	static const char *const cmds[] = { "serve", "send", "recv",
					    "decode" };
	char out[OUT_CAP], err[OUT_CAP], want[64];
	size_t i, j;

	for (i = 0; i < 4; i++) {
		cr_assert_eq(run(NULL, 0, out, err, cmds[i], "--help"), 0,
			     "%s --help: %s", cmds[i], err);
		cr_assert_str_empty(err);
		snprintf(want, sizeof(want), "usage: fdmsg %s ", cmds[i]);
		cr_assert_eq(strncmp(out, want, strlen(want)), 0, "%s", out);
		for (j = 0; j < 4; j++) {
			snprintf(want, sizeof(want), "fdmsg %s ", cmds[j]);
			cr_assert((strstr(out, want) != NULL) == (i == j),
				  "%s --help: %s", cmds[i], out);
		}
	}
	cr_assert_eq(run(NULL, 0, out, err, "serve", "--max-fds", "4", "-h",
			 "@P"), 0, "%s", err);
	cr_assert_not_null(strstr(out, "--max-fds N"), "%s", out);
	cr_assert_eq(run(NULL, 0, out, err, "send", "@P", "--help"), 0);
	cr_assert_not_null(strstr(out, "--timeout MS"), "%s", out);
	cr_assert_not_null(strstr(out, "--payload"), "%s", out);
	cr_assert_eq(run(NULL, 0, out, err, "help", "recv"), 0);
	cr_assert_eq(strncmp(out, "usage: fdmsg recv ", 18), 0, "%s", out);
	/* After "--", a positional: recv listens on "--help"?  No: a
	 * second path, a usage error. */
	cr_assert_eq(run(NULL, 0, out, err, "recv", "@P", "--", "--help"), 2);
	cr_assert_str_empty(out);
}

/* The file's contents, NUL-terminated, into a malloc'd buffer. */
static char *
slurp(const char *path)
{
	char *buf;
	size_t n;
	FILE *f = fopen(path, "re");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	buf = malloc(1u << 20);
	cr_assert_not_null(buf);
	n = fread(buf, 1, (1u << 20) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* "-max-fds" (after Fl's own dash) as mdoc writes it: "Fl \-max\-fds". */
static void
mdoc_flag(const char *opt, char *buf, size_t size)
{
	size_t n = (size_t)snprintf(buf, size, "Fl ");

	for (; *opt != '\0' && n + 3 < size; opt++) {
		if (*opt == '-')
			buf[n++] = '\\';
		buf[n++] = *opt;
	}
	buf[n] = '\0';
}

/*
 * The option table behind each command: its --help lists the options
 * (lines of at most 79 columns), the parser knows every one listed (OPT=x
 * is a usage error about its value or a missing operand, never "unknown
 * option"), and man/fdmsg.1 documents each.
 */
TEST(tool_usage, help_lists_the_options_the_parser_and_man_page_know)
{
	static const char *const cmds[] = { "serve", "send", "recv", "proxy" };
	const char *manp = getenv("FDMSG_MAN");
	static char scratch[OUT_CAP];
	char out[OUT_CAP], err[OUT_CAP], opt[64], want[80], *man, *l, *e;
	size_t i, n, width;
	int nopts;

	cr_assert_not_null(manp, "FDMSG_MAN is not set");
	man = slurp(manp);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		cr_assert_eq(run(NULL, 0, out, err, cmds[i], "--help"), 0);
		for (l = out; *l != '\0'; l = *e ? e + 1 : e) {
			e = strchr(l, '\n');
			width = e != NULL ? (size_t)(e - l) : strlen(l);
			cr_assert_leq(width, 79, "%s --help: %.*s", cmds[i],
				      (int)width, l);
			if (e == NULL)
				break;
		}
		l = strstr(out, "\noptions:\n");
		cr_assert_not_null(l, "%s --help lists no options: %s",
				   cmds[i], out);
		nopts = 0;
		for (l = strchr(l + 1, '\n') + 1; strncmp(l, "  ", 2) == 0;
		     l = strchr(l, '\n') + 1) {
			const char *o = l + 2;

			if (*o == ' ')
				continue; /* a wrapped description */
			if (o[1] != '-') /* "-v, --verbose" */
				o = strstr(o, "--");
			n = strcspn(o, " \n");
			cr_assert_lt(n, sizeof(opt) - 3);
			snprintf(opt, sizeof(opt), "%.*s=x", (int)n, o);
			cr_assert_eq(run(NULL, 0, scratch, err,
					 cmds[i], opt), 2, "%s %s", cmds[i],
				     opt);
			cr_assert_null(strstr(err, "unknown option"),
				       "%s %s: %s", cmds[i], opt, err);
			cr_assert_eq(count_lines(err), 1, "%s", err);
			/* mdoc: "Fl \\-max\\-fds" */
			opt[n] = '\0';
			mdoc_flag(opt + 1, want, sizeof(want));
			cr_assert_not_null(strstr(man, want), "%s %s is not in "
					   "%s (%s)", cmds[i], opt, manp, want);
			nopts++;
		}
		cr_assert_gt(nopts, 0, "%s", cmds[i]);
	}
	free(man);
}

/* The version: fdmsg --version, the header's macros and fdmsg_version()
 * all say meson's project version. */
TEST(tool_usage, version_is_the_projects_everywhere)
{
	const char *pv = getenv("FDMSG_PROJECT_VERSION");
	char out[OUT_CAP], err[OUT_CAP], want[64];

	cr_assert_not_null(pv, "FDMSG_PROJECT_VERSION is not set");
	cr_assert_str_eq(FDMSG_VERSION_STRING, pv);
	snprintf(want, sizeof(want), "%d.%d.%d", FDMSG_VERSION_MAJOR,
		 FDMSG_VERSION_MINOR, FDMSG_VERSION_PATCH);
	cr_assert_str_eq(want, pv);
	cr_assert_str_eq(fdmsg_version(), pv);
	snprintf(want, sizeof(want), "fdmsg %s\n", pv);
	cr_assert_eq(run(NULL, 0, out, err, "--version"), 0);
	cr_assert_str_eq(out, want);
	cr_assert_str_empty(err);
	cr_assert_eq(run(NULL, 0, out, err, "-V"), 0);
	cr_assert_str_eq(out, want);
}

/* fdmsg.pc: no placeholder URL (no URL at all until there is one). */
TEST(tool_usage, pkgconfig_file_has_no_placeholder_url)
{
	const char *pc = getenv("FDMSG_PC");
	char buf[4096];
	size_t n;
	FILE *f;

	cr_assert_not_null(pc, "FDMSG_PC is not set");
	f = fopen(pc, "re");
	cr_assert_not_null(f, "%s: %s", pc, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	cr_assert_not_null(strstr(buf, "\nName: fdmsg\n"), "%s", buf);
	cr_assert_null(strstr(buf, "\nURL:"), "%s", buf);
	cr_assert_null(strstr(buf, "example.invalid"), "%s", buf);
}

TEST(tool_usage, send_to_nobody_is_exit_1)
{
	char dir[PATH_MAX], path[PATH_MAX];
	char out[OUT_CAP], err[OUT_CAP];

	tmp_sock(dir, path);
	cr_assert_eq(run(NULL, 0, out, err, "send", path, "--type", "1"), 1);
	cr_assert_not_null(strstr(err, "ENOENT"), "stderr: %s", err);
	cr_assert_eq(count_lines(err), 1);
	cr_assert_eq(run(NULL, 0, out, err, "send", path, "--type", "1",
			 "--fd", "/nonexistent/file"), 1);
	cr_assert_not_null(strstr(err, "/nonexistent/file: ENOENT"),
			   "stderr: %s", err);
	cr_assert_eq(rmdir(dir), 0);
}

/* ------------------------------------------------------------------ */
/* decode                                                              */
/* ------------------------------------------------------------------ */

static const char decoded3[] =
	"offset=0 type=1 peerid=2 len=16 nfds=0\n"
	"offset=16 type=3735928559 peerid=7 len=21 nfds=2\n"
	"offset=37 type=3 peerid=4 len=16 nfds=0\n";

static size_t
three_frames(uint8_t *buf)
{
	size_t n = 0;

	n += frame(buf + n, 1, 2, 0, "");
	n += frame(buf + n, 0xdeadbeefu, 7, 2, "abcde");
	n += frame(buf + n, 3, 4, 0, "");
	return n;
}

TEST(tool_decode, valid_frames_one_line_each_from_stdin_and_file)
{
	char out[OUT_CAP], err[OUT_CAP], dir[PATH_MAX], file[PATH_MAX];
	uint8_t buf[256];
	size_t n = three_frames(buf);
	int fd;

	cr_assert_eq(run(buf, n, out, err, "decode"), 0, "stderr: %s", err);
	cr_assert_str_eq(out, decoded3);
	cr_assert_str_empty(err);

	tmp_sock(dir, file);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, n), (ssize_t)n);
	close(fd);
	cr_assert_eq(run(NULL, 0, out, err, "decode", file), 0);
	cr_assert_str_eq(out, decoded3);
	cr_assert_eq(unlink(file), 0);
	cr_assert_eq(rmdir(dir), 0);

	cr_assert_eq(run("", 0, out, err, "decode", "-"), 0);
	cr_assert_str_empty(out);
}

TEST(tool_decode, bad_version_reports_offset_and_ebadmsg_exit_1)
{
	char out[OUT_CAP], err[OUT_CAP];
	uint8_t buf[256];
	size_t n = three_frames(buf);

	buf[37] = 2; /* the third frame's version */
	cr_assert_eq(run(buf, n, out, err, "decode"), 1);
	cr_assert_eq(strncmp(err, "fdmsg decode: offset 37: EBADMSG: ",
			     34), 0, "stderr: %s", err);
	cr_assert_eq(count_lines(err), 1);
	/* The frames before it were printed. */
	cr_assert_eq(count_lines(out), 2);
}

TEST(tool_decode, truncated_last_frame_and_header_are_ebadmsg)
{
	char out[OUT_CAP], err[OUT_CAP];
	uint8_t buf[256];
	size_t n = three_frames(buf);

	/* The second frame declares 21 bytes; cut it at 20. */
	cr_assert_eq(run(buf, 36, out, err, "decode"), 1);
	cr_assert_not_null(strstr(err, "offset 16: EBADMSG"), "%s", err);
	/* A header cut short after a whole frame. */
	cr_assert_eq(run(buf, 16 + 5, out, err, "decode"), 1);
	cr_assert_not_null(strstr(err, "offset 16: EBADMSG"), "%s", err);
	cr_assert_eq(run(buf, n - 1, out, err, "decode"), 1);
	cr_assert_not_null(strstr(err, "offset 37: EBADMSG"), "%s", err);
}

TEST(tool_decode, header_rules_give_their_errors)
{
	char out[OUT_CAP], err[OUT_CAP];
	uint8_t buf[64];

	frame(buf, 1, 1, 0, "");
	buf[4] = buf[5] = buf[6] = buf[7] = 0xff; /* len 0xFFFFFFFF */
	cr_assert_eq(run(buf, 16, out, err, "decode"), 1);
	cr_assert_not_null(strstr(err, "offset 0: EMSGSIZE"), "%s", err);
	frame(buf, 1, 1, 254, "");
	cr_assert_eq(run(buf, 16, out, err, "decode"), 1);
	cr_assert_not_null(strstr(err, "offset 0: EPROTO"), "%s", err);
	frame(buf, 1, 1, 0, "");
	buf[2] = 1; /* flags */
	cr_assert_eq(run(buf, 16, out, err, "decode"), 1);
	cr_assert_not_null(strstr(err, "offset 0: EBADMSG"), "%s", err);
	frame(buf, 1, 1, 0, "");
	buf[4] = 15; /* len below the header */
	cr_assert_eq(run(buf, 16, out, err, "decode"), 1);
	cr_assert_not_null(strstr(err, "offset 0: EBADMSG"), "%s", err);
	cr_assert_eq(run(NULL, 0, out, err, "decode", "/nonexistent"), 1);
	cr_assert_not_null(strstr(err, "ENOENT"), "%s", err);
}

/* ------------------------------------------------------------------ */
/* serve                                                               */
/* ------------------------------------------------------------------ */

static void
echo_roundtrip(int stream)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct fdmsg_chan *ch;
	struct proc p;
	int fds[3], pp[2];

	tmp_sock(dir, path);
	if (stream)
		spawn(&p, -1, "serve", "--echo", "--stream", "--max-fds", "8",
		      "--max-clients", "16", path);
	else
		spawn(&p, -1, "serve", "--echo", "--max-fds", "8",
		      "--max-clients", "16", path);
	ch = chan_on(connect_retry(path, stream ? SOCK_STREAM : 0), 8);

	fds[0] = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	fds[1] = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_eq(pipe2(pp, O_CLOEXEC), 0);
	fds[2] = pp[0];
	cr_assert(fds[0] >= 0 && fds[1] >= 0);

	echo_once(ch, 7, 9, "hello", fds, 3);
	echo_once(ch, UINT32_MAX, 0, "", NULL, 0);
	echo_once(ch, 1, UINT32_MAX, "one more, one fd", fds + 2, 1);

	fdmsg_chan_free(ch);
	close(fds[0]);
	close(fds[1]);
	close(pp[0]);
	close(pp[1]);
	stop_server_quiet(&p, dir, path);
}

TEST(tool_serve, echo_returns_type_peerid_payload_and_same_files)
{
	echo_roundtrip(0);
}

TEST(tool_serve, echo_over_stream_returns_the_same)
{
	echo_roundtrip(1);
}

TEST(tool_serve, hostile_header_disconnects_only_that_client)
{
	char dir[PATH_MAX], path[PATH_MAX], err[OUT_CAP];
	struct fdmsg_chan *good;
	struct proc p;
	uint8_t bad[FDMSG_HDR_SIZE];
	int raw, fd;

	tmp_sock(dir, path);
	spawn(&p, -1, "serve", "--echo", "--max-fds", "4", "--max-clients",
	      "16", path);
	good = chan_on(connect_retry(path, 0), 4);
	fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	echo_once(good, 1, 1, "before", &fd, 1);

	raw = fdmsg_connect(path, 0);
	cr_assert_geq(raw, 0);
	frame(bad, 5, 5, 0, "");
	bad[0] = 2; /* version 2 */
	cr_assert_eq(send(raw, bad, sizeof(bad), MSG_NOSIGNAL),
		     (ssize_t)sizeof(bad));
	expect_closed(raw, WAIT_MS, "closed");
	close(raw);

	echo_once(good, 2, 2, "after", &fd, 1);
	fdmsg_chan_free(good);
	close(fd);
	stop_server(&p, path, err);
	cr_assert_eq(count_lines(err), 1, "stderr: %s", err);
	cr_assert_eq(strncmp(err, "fdmsg serve: client ", 20), 0, "%s", err);
	cr_assert_not_null(strstr(err, ": EBADMSG: "), "stderr: %s", err);
	cr_assert_eq(rmdir(dir), 0);
}

/* A raw client sends bytes that break a rule and is disconnected. */
static void
raw_client_breaks(const char *path, const uint8_t *bytes, size_t n)
{
	int raw = fdmsg_connect(path, 0);

	cr_assert_geq(raw, 0);
	cr_assert_eq(send(raw, bytes, n, MSG_NOSIGNAL), (ssize_t)n);
	expect_closed(raw, WAIT_MS, "closed");
	close(raw);
}

/* serve's line for a client that broke a rule names the rule, the value
 * and the limit, under serve's own option name. */
TEST(tool_serve, client_log_names_the_rule_value_and_option)
{
	char dir[PATH_MAX], path[PATH_MAX], err[OUT_CAP], want[512];
	uint8_t buf[300];
	struct proc p;
	int raw;
	ssize_t r;

	tmp_sock(dir, path);
	serve_up(&p, path, "--echo", "--max-fds", "4", "--max-frame", "256",
		 "--max-clients", "16");
	frame(buf, 1, 1, 5, "");
	raw_client_breaks(path, buf, FDMSG_HDR_SIZE);
	memset(buf, 0, sizeof(buf));
	frame(buf, 1, 1, 0, "");
	buf[4] = 44; /* len 300 */
	buf[5] = 1;
	raw_client_breaks(path, buf, sizeof(buf));
	frame(buf, 1, 1, 0, "");
	buf[0] = 2;
	raw_client_breaks(path, buf, FDMSG_HDR_SIZE);
	stop_server(&p, path, err);
	cr_assert_eq(count_lines(err), 3, "stderr: %s", err);
	snprintf(want, sizeof(want), ": EPROTO: frame declares 5 descriptors, "
		 "--max-fds is 4 (pid %ld, uid %ld)\n", (long)getpid(),
		 (long)getuid());
	cr_assert_not_null(strstr(err, want), "want %s: %s", want, err);
	snprintf(want, sizeof(want), ": EMSGSIZE: frame length 300, "
		 "--max-frame is 256 (pid %ld, uid %ld)\n", (long)getpid(),
		 (long)getuid());
	cr_assert_not_null(strstr(err, want), "want %s: %s", want, err);
	snprintf(want, sizeof(want), ": EBADMSG: frame version 2, only "
		 "version 1 is spoken (pid %ld, uid %ld)\n", (long)getpid(),
		 (long)getuid());
	cr_assert_not_null(strstr(err, want), "want %s: %s", want, err);

	/* Without --max-fds: a frame that declares descriptors gets a hint;
	 * descriptors themselves the kernel refuses where it can
	 * (SO_PASSRIGHTS), else serve's line has the same hint. */
	serve_up(&p, path, "--echo", "--max-clients", "16");
	frame(buf, 1, 1, 1, "");
	raw_client_breaks(path, buf, FDMSG_HDR_SIZE);
	raw = fdmsg_connect(path, 0);
	cr_assert_geq(raw, 0);
	frame(buf, 1, 1, 0, "");
	{
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		union {
			struct cmsghdr c;
			char b[CMSG_SPACE(sizeof(int))];
		} ctl;
		struct iovec iov = { buf, FDMSG_HDR_SIZE };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctl.b,
				     .msg_controllen = sizeof(ctl.b) };
		struct cmsghdr *c;

		cr_assert_geq(fd, 0);
		memset(&ctl, 0, sizeof(ctl));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
		r = sendmsg(raw, &mh, MSG_NOSIGNAL);
		cr_assert(r == FDMSG_HDR_SIZE || (r < 0 && errno == EPERM),
			  "sendmsg: %zd %s", r, strerror(errno));
		close(fd);
	}
	if (r == FDMSG_HDR_SIZE)
		expect_closed(raw, WAIT_MS, "closed");
	close(raw);
	stop_server(&p, path, err);
	cr_assert_eq(count_lines(err), r < 0 ? 1 : 2, "stderr: %s", err);
	snprintf(want, sizeof(want), ": EPROTO: frame declares 1 descriptors, "
		 "--max-fds is 0 (serve accepts no descriptors without "
		 "--max-fds N) (pid %ld, uid %ld)\n", (long)getpid(),
		 (long)getuid());
	cr_assert_not_null(strstr(err, want), "want %s: %s", want, err);
	if (r > 0) {
		snprintf(want, sizeof(want), ": EPROTO: 1 descriptors sent, "
			 "--max-fds is 0 (serve accepts no descriptors "
			 "without --max-fds N) (pid %ld, uid %ld)\n",
			 (long)getpid(), (long)getuid());
		cr_assert_not_null(strstr(err, want), "want %s: %s", want,
				   err);
	}
	cr_assert_eq(rmdir(dir), 0);
}

TEST(tool_serve, zero_length_datagram_ends_client_quietly)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct proc p;
	int raw;

	tmp_sock(dir, path);
	spawn(&p, -1, "serve", "--echo", path);
	raw = connect_retry(path, 0);
	cr_assert_eq(send(raw, "", 0, MSG_NOSIGNAL), 0);
	expect_closed(raw, WAIT_MS, "closed");
	close(raw);
	stop_server_quiet(&p, dir, path);
}

TEST(tool_serve, sigterm_and_sigint_exit_0_and_remove_path)
{
	char dir[PATH_MAX], path[PATH_MAX], err[OUT_CAP], out[OUT_CAP];
	struct proc p;
	int c;

	tmp_sock(dir, path);
	spawn(&p, -1, "serve", path);
	c = connect_retry(path, 0); /* a client still connected */
	stop_server(&p, path, err);
	cr_assert_str_empty(err);
	expect_closed(c, WAIT_MS, "closed");
	close(c);

	serve_up(&p, path, "--stream");
	cr_assert_eq(kill(p.pid, SIGINT), 0);
	cr_assert_eq(finish(&p, out, err), 0);
	cr_assert_eq(access(path, F_OK), -1);
	cr_assert_eq(rmdir(dir), 0);
}

TEST(tool_serve, refuses_a_file_or_a_live_listener_at_path)
{
	char dir[PATH_MAX], path[PATH_MAX], out[OUT_CAP], err[OUT_CAP];
	struct fdmsg_chan *ch;
	struct proc p;
	struct stat st;
	int fd;

	tmp_sock(dir, path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(run(NULL, 0, out, err, "serve", path), 1);
	cr_assert_eq(count_lines(err), 1, "stderr: %s", err);
	cr_assert_not_null(strstr(err, "EEXIST"), "stderr: %s", err);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert(S_ISREG(st.st_mode), "the file was replaced");
	cr_assert_eq(unlink(path), 0);

	spawn(&p, -1, "serve", "--echo", path);
	ch = chan_on(connect_retry(path, 0), 0);
	cr_assert_eq(run(NULL, 0, out, err, "serve", path), 1);
	cr_assert_not_null(strstr(err, "EADDRINUSE"), "stderr: %s", err);
	/* The first server still serves, on its own path. */
	echo_once(ch, 3, 3, "still here", NULL, 0);
	fdmsg_chan_free(ch);
	stop_server(&p, path, err);
	cr_assert_eq(rmdir(dir), 0);
}

TEST(tool_serve, beyond_max_clients_is_closed_others_served)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct fdmsg_chan *ch;
	struct proc p;
	int extra;

	tmp_sock(dir, path);
	spawn(&p, -1, "serve", "--echo", "--max-clients", "1", path);
	ch = chan_on(connect_retry(path, 0), 0);
	echo_once(ch, 1, 1, "first", NULL, 0);
	extra = fdmsg_connect(path, 0);
	cr_assert_geq(extra, 0);
	expect_closed(extra, WAIT_MS, "closed");
	close(extra);
	echo_once(ch, 2, 2, "first again", NULL, 0);
	fdmsg_chan_free(ch);
	stop_server_quiet(&p, dir, path);
}

TEST(tool_serve, client_that_never_reads_is_cut_off_at_max_queue)
{
	char dir[PATH_MAX], path[PATH_MAX], err[OUT_CAP];
	static char payload[60001];
	uint8_t hdr[FDMSG_HDR_SIZE];
	struct proc p;
	int raw, i, cut = 0;

	tmp_sock(dir, path);
	spawn(&p, -1, "serve", "--echo", "--max-queue", "65536", path);
	raw = connect_retry(path, 0);
	memset(payload, 'q', sizeof(payload) - 1);
	/* Blocking sends, no reads: the echoes pile up in the server. */
	for (i = 0; i < 2000 && !cut; i++) {
		struct fdmsg_hdr h = { .version = FDMSG_WIRE_VERSION,
				       .len = FDMSG_HDR_SIZE + 60000,
				       .type = 1, .peerid = (uint32_t)i };
		struct iovec iov[2];
		struct msghdr mh;
		ssize_t r;

		cr_assert_eq(fdmsg_hdr_encode(&h, hdr), (int)FDMSG_HDR_SIZE);
		iov[0].iov_base = hdr;
		iov[0].iov_len = sizeof(hdr);
		iov[1].iov_base = payload;
		iov[1].iov_len = 60000;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = 2;
		r = sendmsg(raw, &mh, MSG_NOSIGNAL);
		if (r < 0) {
			cr_assert(errno == EPIPE || errno == ECONNRESET,
				  "sendmsg: %s", strerror(errno));
			cut = 1;
		}
	}
	cr_assert(cut, "the server never cut the client off");
	close(raw);
	stop_server(&p, path, err);
	cr_assert_eq(count_lines(err), 1, "stderr: %s", err);
	cr_assert_not_null(strstr(err, ": ENOBUFS: "), "stderr: %s", err);
	cr_assert_eq(rmdir(dir), 0);
}

TEST(tool_serve, half_closed_client_still_gets_every_reply)
{
	char dir[PATH_MAX], path[PATH_MAX];
	static char payload[60000];
	struct fdmsg_msg m = { 0 };
	struct fdmsg_chan *ch;
	struct iovec iov = { payload, sizeof(payload) };
	struct proc p;
	uint32_t i;

	tmp_sock(dir, path);
	spawn(&p, -1, "serve", "--echo", "--max-queue", "4194304", path);
	ch = chan_on(connect_retry(path, 0), 0);
	/* More than the socket buffers hold: the server must queue. */
	for (i = 0; i < 20; i++) {
		memset(payload, 'a' + (int)i, sizeof(payload));
		cr_assert_eq(fdmsg_send(ch, 9, i, &iov, 1, NULL, 0, 0), 0);
	}
	cr_assert_eq(fdmsg_flush_wait(ch, WAIT_MS), 0);
	cr_assert_eq(shutdown(fdmsg_chan_fd(ch), SHUT_WR), 0);
	/* Read nothing for a while, so the server sees the end with replies
	 * still queued (it passes either way; this makes it matter). */
	sleep_ms(300);
	for (i = 0; i < 20; i++) {
		cr_assert_eq(fdmsg_recv_wait(ch, &m, WAIT_MS), 0, "reply %u",
			     i);
		cr_assert_eq(m.peerid, i);
		cr_assert_eq(m.len, sizeof(payload));
		cr_assert_eq(((const char *)m.payload)[m.len - 1],
			     'a' + (int)i);
	}
	cr_assert_eq(fdmsg_recv_wait(ch, &m, WAIT_MS), -EPIPE);
	fdmsg_chan_free(ch);
	stop_server_quiet(&p, dir, path);
}

TEST(tool_serve, partial_frame_past_deadline_is_cut_idle_client_is_not)
{
	char dir[PATH_MAX], path[PATH_MAX], err[OUT_CAP];
	struct fdmsg_chan *idle;
	uint8_t hdr[FDMSG_HDR_SIZE];
	struct proc p;
	int raw;

	tmp_sock(dir, path);
	spawn(&p, -1, "serve", "--echo", "--stream", "--frame-timeout", "200",
	      path);
	idle = chan_on(connect_retry(path, SOCK_STREAM), 0);
	echo_once(idle, 1, 1, "then idle", NULL, 0);

	raw = fdmsg_connect(path, SOCK_STREAM);
	cr_assert_geq(raw, 0);
	frame(hdr, 1, 1, 0, "");
	hdr[4] = 64; /* declares 64 bytes; only 10 of the header come */
	cr_assert_eq(send(raw, hdr, 10, MSG_NOSIGNAL), 10);
	expect_closed(raw, WAIT_MS, "closed");
	close(raw);

	/* Idle longer than the deadline, yet still served. */
	echo_once(idle, 2, 2, "still served", NULL, 0);
	fdmsg_chan_free(idle);
	stop_server(&p, path, err);
	cr_assert_eq(count_lines(err), 1, "stderr: %s", err);
	cr_assert_not_null(strstr(err, ": ETIMEDOUT: "), "stderr: %s", err);
	cr_assert_eq(rmdir(dir), 0);
}

/*
 * A live listening socket bound at dir/name: another server's.  Returns
 * its descriptor; *st describes its file.
 */
static int
foreign_socket(const char *dir, const char *name, struct stat *st)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, name);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	cr_assert_eq(lstat(sa.sun_path, st), 0);
	return fd;
}

/* dir/name over path (rename(2)); what is at path afterwards. */
static void
rename_over(const char *dir, const char *name, const char *path)
{
	char from[PATH_MAX];

	snprintf(from, sizeof(from), "%s/%s", dir, name);
	cr_assert_eq(rename(from, path), 0, "rename: %s", strerror(errno));
}

static void
assert_same_inode(const char *path, const struct stat *want)
{
	struct stat st;

	cr_assert_eq(lstat(path, &st), 0, "%s is gone", path);
	cr_assert(st.st_dev == want->st_dev && st.st_ino == want->st_ino &&
		  (st.st_mode & S_IFMT) == (want->st_mode & S_IFMT),
		  "%s is no longer the replacement", path);
}

/* THREATS 47: exit removes the socket file only while it is serve's. */
TEST(tool_serve, exit_leaves_a_socket_or_file_renamed_over_path)
{
	char dir[PATH_MAX], path[PATH_MAX], err[OUT_CAP], out[OUT_CAP];
	char fpath[PATH_MAX + 8];
	struct fdmsg_chan *ch;
	struct stat other, file;
	struct proc p;
	int lfd, fd, c;

	tmp_sock(dir, path);
	/* Another server's live socket renamed over serve's. */
	spawn(&p, -1, "serve", "--echo", path);
	ch = chan_on(connect_retry(path, 0), 0);
	echo_once(ch, 1, 1, "listening", NULL, 0);
	lfd = foreign_socket(dir, "other", &other);
	rename_over(dir, "other", path);
	cr_assert_eq(kill(p.pid, SIGTERM), 0);
	cr_assert_eq(finish(&p, out, err), 0, "serve: %s", err);
	cr_assert_str_empty(err);
	fdmsg_chan_free(ch);
	assert_same_inode(path, &other);
	/* And it still answers there. */
	c = fdmsg_connect(path, 0);
	cr_assert_geq(c, 0, "the other server is unreachable: %s",
		      fdmsg_strerror(c));
	close(c);
	close(lfd);
	cr_assert_eq(unlink(path), 0);

	/* A regular file renamed over it. */
	spawn(&p, -1, "serve", "--echo", "--stream", path);
	ch = chan_on(connect_retry(path, SOCK_STREAM), 0);
	echo_once(ch, 2, 2, "listening", NULL, 0);
	fdmsg_chan_free(ch);
	snprintf(fpath, sizeof(fpath), "%s/file", dir);
	fd = open(fpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(lstat(fpath, &file), 0);
	rename_over(dir, "file", path);
	cr_assert_eq(kill(p.pid, SIGINT), 0);
	cr_assert_eq(finish(&p, out, err), 0, "serve: %s", err);
	assert_same_inode(path, &file);
	cr_assert_eq(unlink(path), 0);

	/* Its own socket, still there: removed. */
	spawn(&p, -1, "serve", path);
	close(connect_retry(path, 0));
	stop_server_quiet(&p, dir, path);
}

/* ------------------------------------------------------------------ */
/* send and recv                                                       */
/* ------------------------------------------------------------------ */

/* Runs send until the listener is up (connect can beat listen). */
static int
send_retry(char *out, char *err, const char *const *args)
{
	int i, st = -1;

	for (i = 0; i < WAIT_MS / 20; i++) {
		st = run_v(NULL, 0, out, err, args);
		if (st != 1 || (strstr(err, "ECONNREFUSED") == NULL &&
				strstr(err, "ENOENT") == NULL))
			return st;
		sleep_ms(20);
	}
	return st;
}

TEST(tool_sendrecv, send_fd_and_data_recv_lists_file_and_target)
{
	char dir[PATH_MAX], path[PATH_MAX], target[PATH_MAX];
	char out[OUT_CAP], err[OUT_CAP], rout[OUT_CAP], rerr[OUT_CAP];
	char want[2 * PATH_MAX];
	struct proc r;

	tmp_sock(dir, path);
	cr_assert_not_null(realpath("/etc/hostname", target));
	spawn(&r, -1, "recv", path, "--count", "1", "--payload");
	{
		const char *const args[] = { "send", path, "--type", "5",
					     "--peerid", "6", "--fd",
					     "/etc/hostname", "--data", "hi",
					     NULL };

		cr_assert_eq(send_retry(out, err, args), 0, "send: %s", err);
	}
	cr_assert_str_empty(err);
	cr_assert_eq(finish(&r, rout, rerr), 0, "recv: %s", rerr);
	snprintf(want, sizeof(want),
		 "type=5 peerid=6 len=2 fds=1\n  fd[0]: file %s\nhi\n", target);
	cr_assert_str_eq(rout, want);
	cr_assert_str_empty(rerr);
	cr_assert_eq(access(path, F_OK), -1, "recv left its socket");
	cr_assert_eq(rmdir(dir), 0);
}

TEST(tool_sendrecv, recv_kinds_over_stream_and_count)
{
	char dir[PATH_MAX], path[PATH_MAX];
	char out[OUT_CAP], err[OUT_CAP], rout[OUT_CAP], rerr[OUT_CAP];
	struct proc r;

	tmp_sock(dir, path);
	spawn(&r, -1, "recv", "--stream", path);
	{
		const char *const args[] = { "send", "--stream", path,
					     "--type", "0x10", "--fd", dir,
					     "--fd", "/dev/null", NULL };

		cr_assert_eq(send_retry(out, err, args), 0, "send: %s", err);
	}
	/* Without --count, recv ends with its peer. */
	cr_assert_eq(finish(&r, rout, rerr), 0, "recv: %s", rerr);
	cr_assert_not_null(strstr(rout, "type=16 peerid=0 len=0 fds=2\n"),
			   "%s", rout);
	cr_assert_not_null(strstr(rout, "  fd[0]: dir "), "%s", rout);
	cr_assert_not_null(strstr(rout, "  fd[1]: chr /dev/null\n"), "%s",
			   rout);
	cr_assert_eq(rmdir(dir), 0);
}

/*
 * recv --count 2 with one frame received and printed: it has listened,
 * noted its socket file and accepted.  Returns the client's channel.
 */
static struct fdmsg_chan *
recv_started(struct proc *r, const char *path)
{
	struct pollfd pfd = { .fd = -1, .events = POLLIN };
	struct iovec iov = { (char[]){ "x" }, 1 };
	struct fdmsg_chan *ch;
	char out[OUT_CAP];
	size_t len = 0;
	ssize_t n;

	spawn(r, -1, "recv", path, "--count", "2");
	ch = chan_on(connect_retry(path, 0), 0);
	cr_assert_eq(fdmsg_send(ch, 1, 1, &iov, 1, NULL, 0, 0), 0);
	cr_assert_eq(fdmsg_flush_wait(ch, WAIT_MS), 0);
	pfd.fd = r->out;
	out[0] = '\0';
	while (strstr(out, "type=1 ") == NULL) {
		cr_assert_gt(poll(&pfd, 1, WAIT_MS), 0, "recv printed: %s",
			     out);
		n = read(r->out, out + len, sizeof(out) - 1 - len);
		cr_assert_gt(n, 0);
		len += (size_t)n;
		out[len] = '\0';
	}
	return ch;
}

/* SIGTERM to recv: it dies of it; stderr is empty. */
static void
recv_killed(struct proc *r)
{
	char err[OUT_CAP];
	int st;

	cr_assert_eq(kill(r->pid, SIGTERM), 0);
	cr_assert_geq(read_all(r->err, err, sizeof(err)), 0);
	cr_assert_str_empty(err);
	close(r->out);
	close(r->err);
	cr_assert_eq(waitpid(r->pid, &st, 0), r->pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM,
		  "recv status %#x", st);
}

/* THREATS 47: recv, too, removes only its own socket file. */
TEST(tool_sendrecv, recv_removes_its_socket_not_a_replacement)
{
	char dir[PATH_MAX], path[PATH_MAX], fpath[PATH_MAX + 8];
	struct fdmsg_chan *ch;
	struct stat other, file;
	struct proc r;
	int lfd, fd;

	tmp_sock(dir, path);
	/* Its own, on SIGTERM: removed. */
	ch = recv_started(&r, path);
	recv_killed(&r);
	fdmsg_chan_free(ch);
	cr_assert_eq(access(path, F_OK), -1, "recv left its socket");

	/* Another server's socket renamed over it: left alone. */
	ch = recv_started(&r, path);
	lfd = foreign_socket(dir, "other", &other);
	rename_over(dir, "other", path);
	recv_killed(&r);
	fdmsg_chan_free(ch);
	assert_same_inode(path, &other);
	close(lfd);
	cr_assert_eq(unlink(path), 0);

	/* A file renamed over it, then a normal end: left alone. */
	ch = recv_started(&r, path);
	snprintf(fpath, sizeof(fpath), "%s/file", dir);
	fd = open(fpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(lstat(fpath, &file), 0);
	rename_over(dir, "file", path);
	{
		struct iovec iov = { (char[]){ "y" }, 1 };
		char out[OUT_CAP], err[OUT_CAP];

		cr_assert_eq(fdmsg_send(ch, 2, 2, &iov, 1, NULL, 0, 0), 0);
		cr_assert_eq(fdmsg_flush_wait(ch, WAIT_MS), 0);
		cr_assert_eq(finish(&r, out, err), 0, "recv: %s", err);
	}
	fdmsg_chan_free(ch);
	assert_same_inode(path, &file);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(rmdir(dir), 0);
}

TEST(tool_sendrecv, send_reply_prints_the_echo)
{
	char dir[PATH_MAX], path[PATH_MAX], target[PATH_MAX];
	char out[OUT_CAP], err[OUT_CAP], want[2 * PATH_MAX];
	struct proc p;

	tmp_sock(dir, path);
	cr_assert_not_null(realpath("/etc/hostname", target));
	serve_up(&p, path, "--echo", "--max-fds", "2", "--max-clients", "16");
	cr_assert_eq(run(NULL, 0, out, err, "send", path, "--type", "3",
			 "--peerid", "4", "--file", "/etc/hostname", "--fd",
			 "/etc/hostname", "--reply"), 0, "send: %s", err);
	{
		struct stat st;

		cr_assert_eq(stat("/etc/hostname", &st), 0);
		snprintf(want, sizeof(want),
			 "type=3 peerid=4 len=%lld fds=1\n  fd[0]: file %s\n",
			 (long long)st.st_size, target);
	}
	cr_assert_str_eq(out, want);
	stop_server_quiet(&p, dir, path);
}

/* --timeout bounds the wait for a reply that never comes: a server that
 * discards (serve without --echo).  The server is unharmed. */
TEST(tool_sendrecv, send_timeout_bounds_the_wait_for_a_reply)
{
	char dir[PATH_MAX], path[PATH_MAX], want[PATH_MAX + 64];
	char out[OUT_CAP], err[OUT_CAP];
	struct fdmsg_chan *ch;
	struct proc p;

	tmp_sock(dir, path);
	serve_up(&p, path, "--max-clients", "16");
	cr_assert_eq(run(NULL, 0, out, err, "send", path, "--type", "3",
			 "--data", "hi", "--reply", "--timeout", "200"), 1,
		     "%s", err);
	cr_assert_str_empty(out);
	snprintf(want, sizeof(want), "fdmsg send: %s: ETIMEDOUT: no reply "
		 "within 200 ms\n", path);
	cr_assert_str_eq(err, want);
	/* The timeout bounds waits, not the exchange: a reply in time is
	 * printed.  And the discarding server still takes clients. */
	ch = chan_on(connect_retry(path, 0), 0);
	fdmsg_chan_free(ch);
	stop_server(&p, path, err);
	cr_assert_str_empty(err);

	serve_up(&p, path, "--echo", "--max-clients", "16");
	cr_assert_eq(run(NULL, 0, out, err, "send", path, "--type", "3",
			 "--data", "hi", "--reply", "--timeout", "10000"), 0,
		     "%s", err);
	cr_assert_str_eq(out, "type=3 peerid=0 len=2 fds=0\n");
	stop_server(&p, path, err);
	cr_assert_eq(rmdir(dir), 0);
}

/* --reply --payload prints the reply's payload as recv does (a newline
 * added only when it lacks one); --file - sends standard input. */
TEST(tool_sendrecv, send_payload_from_stdin_and_reply_payload)
{
	char dir[PATH_MAX], path[PATH_MAX];
	char out[OUT_CAP], err[OUT_CAP];
	struct proc p;

	tmp_sock(dir, path);
	serve_up(&p, path, "--echo", "--max-clients", "16");
	cr_assert_eq(run("abc", 3, out, err, "send", path, "--type", "3",
			 "--file", "-", "--reply", "--payload"), 0, "%s", err);
	cr_assert_str_eq(out, "type=3 peerid=0 len=3 fds=0\nabc\n");
	cr_assert_str_empty(err);
	cr_assert_eq(run("line\n", 5, out, err, "send", path, "--type", "4",
			 "--file", "-", "--reply", "--payload"), 0, "%s", err);
	cr_assert_str_eq(out, "type=4 peerid=0 len=5 fds=0\nline\n");
	/* Empty stdin: an empty payload, nothing after the line. */
	cr_assert_eq(run("", 0, out, err, "send", path, "--type", "5",
			 "--file", "-", "--reply", "--payload"), 0, "%s", err);
	cr_assert_str_eq(out, "type=5 peerid=0 len=0 fds=0\n");
	stop_server_quiet(&p, dir, path);
}

/*
 * --fd with a FIFO nobody writes to: open(2) without O_NONBLOCK waits for
 * a writer forever.  send must connect and send it; the descriptor that
 * arrives is the FIFO, blocking as a plain open makes it.
 */
TEST(tool_sendrecv, send_fd_fifo_without_writer_never_blocks)
{
	char dir[PATH_MAX], path[PATH_MAX], fifo[PATH_MAX + 8];
	char out[OUT_CAP], err[OUT_CAP];
	struct pollfd pfd = { .fd = -1, .events = POLLIN };
	struct fdmsg_msg m = { 0 };
	struct fdmsg_chan *ch;
	struct stat st;
	struct proc s;
	int lfd, fd, fl;

	tmp_sock(dir, path);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	lfd = fdmsg_listen(path, 0, 0);
	cr_assert_geq(lfd, 0);
	spawn(&s, -1, "send", path, "--type", "9", "--fd", fifo);
	pfd.fd = lfd;
	if (poll(&pfd, 1, WAIT_MS) <= 0) {
		kill(s.pid, SIGKILL);
		cr_assert_fail("send never connected: blocked in open?");
	}
	fd = fdmsg_accept(lfd, NULL, 0);
	cr_assert_geq(fd, 0);
	ch = chan_on(fd, 1);
	cr_assert_eq(fdmsg_recv_wait(ch, &m, WAIT_MS), 0);
	cr_assert_eq(m.type, 9);
	cr_assert_eq(m.nfds, 1);
	cr_assert_eq(fstat(m.fds[0], &st), 0);
	cr_assert(S_ISFIFO(st.st_mode));
	fl = fcntl(m.fds[0], F_GETFL);
	cr_assert_geq(fl, 0);
	cr_assert_eq(fl & O_NONBLOCK, 0, "the FIFO came O_NONBLOCK");
	cr_assert_eq(fl & O_ACCMODE, O_RDONLY);
	fdmsg_msg_release(&m);
	cr_assert_eq(finish(&s, out, err), 0, "send: %s", err);
	cr_assert_str_empty(err);
	fdmsg_chan_free(ch);
	close(lfd);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(unlink(fifo), 0);
	cr_assert_eq(rmdir(dir), 0);
}

/* recv --count 2 fed by two sends, one after the other; each payload on
 * its own line. */
TEST(tool_sendrecv, recv_count_takes_clients_one_after_another)
{
	char dir[PATH_MAX], path[PATH_MAX];
	char out[OUT_CAP], err[OUT_CAP], rout[OUT_CAP], rerr[OUT_CAP];
	struct proc r;

	tmp_sock(dir, path);
	spawn(&r, -1, "recv", path, "--count", "2", "--payload");
	{
		const char *const args[] = { "send", path, "--type", "1",
					     "--data", "a", NULL };

		cr_assert_eq(send_retry(out, err, args), 0, "send: %s", err);
	}
	cr_assert_eq(run(NULL, 0, out, err, "send", path, "--type", "2",
			 "--data", "b"), 0, "second send: %s", err);
	cr_assert_eq(finish(&r, rout, rerr), 0, "recv: %s", rerr);
	cr_assert_str_eq(rout, "type=1 peerid=0 len=1 fds=0\na\n"
			       "type=2 peerid=0 len=1 fds=0\nb\n");
	cr_assert_str_empty(rerr);
	/* Done: the listener is closed, the socket file removed. */
	cr_assert_eq(access(path, F_OK), -1);
	cr_assert_eq(rmdir(dir), 0);
}

/* The usual mistakes get a hint at the end of the one error line. */
TEST(tool_sendrecv, hints_on_the_usual_mistakes)
{
	char dir[PATH_MAX], path[PATH_MAX], spath[PATH_MAX + 8];
	char fpath[PATH_MAX + 8], want[3 * PATH_MAX];
	char out[OUT_CAP], err[OUT_CAP];
	struct fdmsg_chan *ch;
	struct proc p, q;
	int fd;

	tmp_sock(dir, path);
	snprintf(spath, sizeof(spath), "%s/st", dir);
	snprintf(fpath, sizeof(fpath), "%s/f", dir);

	/* Descriptors to a server that takes none, or fewer. */
	serve_up(&p, path, "--echo", "--max-clients", "16");
	cr_assert_eq(run(NULL, 0, out, err, "send", path, "--type", "1",
			 "--fd", "/dev/null", "--reply"), 1);
	snprintf(want, sizeof(want), "fdmsg send: %s: EPERM: %s: the server "
		 "accepts no descriptors (serve --max-fds N)\n", path,
		 fdmsg_strerror(-EPERM));
	cr_assert_str_eq(err, want);
	cr_assert_str_empty(out);
	/* The server still echoes. */
	ch = chan_on(connect_retry(path, 0), 0);
	echo_once(ch, 1, 2, "still", NULL, 0);
	fdmsg_chan_free(ch);
	stop_server(&p, path, err);

	serve_up(&p, path, "--echo", "--max-fds", "1", "--max-clients", "16");
	cr_assert_eq(run(NULL, 0, out, err, "send", path, "--type", "1",
			 "--fd", "/dev/null", "--fd", "/dev/null"), 1);
	cr_assert_not_null(strstr(err, ": EPERM: "), "%s", err);
	cr_assert_not_null(strstr(err, ": the server accepts at most 1 "
				       "descriptors per frame (serve "
				       "--max-fds N)\n"), "%s", err);
	cr_assert_eq(count_lines(err), 1, "%s", err);
	/* Within its limit: sent, and echoed back. */
	cr_assert_eq(run(NULL, 0, out, err, "send", path, "--type", "1",
			 "--fd", "/dev/null", "--reply"), 0, "%s", err);
	cr_assert_not_null(strstr(out, "  fd[0]: chr /dev/null\n"), "%s", out);

	/* The wrong socket type, either way. */
	spawn(&q, -1, "serve", "--stream", "--max-clients", "16", spath);
	close(connect_retry(spath, SOCK_STREAM));
	cr_assert_eq(run(NULL, 0, out, err, "send", spath, "--type", "1"), 1);
	snprintf(want, sizeof(want), "fdmsg send: %s: EPROTOTYPE: %s: %s is "
		 "not a SOCK_SEQPACKET socket: try --stream\n", spath,
		 strerror(EPROTOTYPE), spath);
	cr_assert_str_eq(err, want);
	cr_assert_eq(run(NULL, 0, out, err, "send", "--stream", path,
			 "--type", "1"), 1);
	snprintf(want, sizeof(want), "fdmsg send: %s: EPROTOTYPE: %s: %s is "
		 "not a SOCK_STREAM socket: omit --stream\n", path,
		 strerror(EPROTOTYPE), path);
	cr_assert_str_eq(err, want);
	stop_server(&q, spath, err);
	stop_server(&p, path, err);

	/* Not a socket: a regular file, a directory. */
	fd = open(fpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(run(NULL, 0, out, err, "send", fpath, "--type", "1"), 1);
	snprintf(want, sizeof(want), ": %s is not a socket\n", fpath);
	cr_assert_not_null(strstr(err, want), "%s", err);
	cr_assert_eq(count_lines(err), 1, "%s", err);
	cr_assert_eq(run(NULL, 0, out, err, "send", dir, "--type", "1"), 1);
	snprintf(want, sizeof(want), ": %s is not a socket\n", dir);
	cr_assert_not_null(strstr(err, want), "%s", err);
	/* A socket nobody listens on: ECONNREFUSED, no hint. */
	fd = fdmsg_listen(spath, 0, 0);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(run(NULL, 0, out, err, "send", spath, "--type", "1"), 1);
	cr_assert_not_null(strstr(err, "ECONNREFUSED"), "%s", err);
	cr_assert_null(strstr(err, "not a socket"), "%s", err);
	cr_assert_eq(unlink(spath), 0);
	cr_assert_eq(unlink(fpath), 0);
	cr_assert_eq(rmdir(dir), 0);
}

/* Sends one small frame: 1 echoed, 0 the server closed the connection. */
static int
try_echo(struct fdmsg_chan *ch, uint32_t id)
{
	struct iovec iov = { (char[]){ "x" }, 1 };
	struct fdmsg_msg m = { 0 };
	int r;

	r = fdmsg_send(ch, 1, id, &iov, 1, NULL, 0, 0);
	if (r == 0)
		r = fdmsg_flush_wait(ch, WAIT_MS);
	if (r == 0)
		r = fdmsg_recv_wait(ch, &m, WAIT_MS);
	if (r == -EPIPE || r == -ECONNRESET)
		return 0;
	cr_assert_eq(r, 0, "echo %u: %s", id, fdmsg_strerror(r));
	cr_assert_eq(m.peerid, id);
	fdmsg_msg_release(&m);
	return 1;
}

TEST(tool_serve, out_of_descriptors_sheds_and_keeps_serving)
{
	SKIP_UNDER_VALGRIND();
	char dir[PATH_MAX], path[PATH_MAX], err[OUT_CAP];
	struct fdmsg_chan *ch[16] = { 0 };
	struct proc p;
	int i, served = 0, shed = 0, fd, r;
	struct fdmsg_msg m = { 0 };
	struct iovec iov = { (char[]){ "fd" }, 2 };

	tmp_sock(dir, path);
	/* serve starts only where its descriptor budget fits; the limit
	 * is lowered under it afterwards, as prlimit(1) by an operator
	 * could.  stdio, epoll, signalfd, reserve, listener: room for a
	 * few clients. */
	spawn(&p, -1, "serve", "--echo", "--max-fds", "4", "--max-clients",
	      "16", path);
	ch[0] = chan_on(connect_retry(path, 0), 4);
	cr_assert_eq(try_echo(ch[0], 99), 1);
	fdmsg_chan_free(ch[0]);
	{
		struct rlimit rl = { 12, 12 };

		cr_assert_eq(prlimit(p.pid, RLIMIT_NOFILE, &rl, NULL), 0,
			     "prlimit: %s", strerror(errno));
	}
	for (i = 0; i < 16; i++) {
		ch[i] = chan_on(fdmsg_connect(path, 0), 4);
		if (try_echo(ch[i], (uint32_t)i)) {
			served++;
		} else {
			shed++;
			fdmsg_chan_free(ch[i]);
			ch[i] = NULL;
		}
	}
	cr_assert_gt(served, 0);
	cr_assert_gt(shed, 0, "never ran out of descriptors");

	/* A descriptor for a server with none left: the kernel truncates,
	 * that client is dropped as a protocol error, the others go on. */
	fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fdmsg_send(ch[0], 2, 2, &iov, 1, &fd, 1, 0), 0);
	cr_assert_eq(fdmsg_flush_wait(ch[0], WAIT_MS), 0);
	r = fdmsg_recv_wait(ch[0], &m, WAIT_MS);
	cr_assert(r == -EPIPE || r == -ECONNRESET, "got %d", r);
	close(fd);
	fdmsg_chan_free(ch[0]);
	ch[0] = NULL;
	for (i = 1; i < 16; i++)
		if (ch[i] != NULL)
			cr_assert_eq(try_echo(ch[i], 100u + (unsigned)i), 1);
	for (i = 0; i < 16; i++)
		fdmsg_chan_free(ch[i]);

	/* Descriptors back: a new client is served again. */
	for (i = 0; i < WAIT_MS / 20; i++) {
		struct fdmsg_chan *c = chan_on(fdmsg_connect(path, 0), 0);

		r = try_echo(c, 7);
		fdmsg_chan_free(c);
		if (r)
			break;
		sleep_ms(20);
	}
	cr_assert_eq(r, 1, "the server never recovered");
	stop_server(&p, path, err);
	cr_assert_not_null(strstr(err, "accept: EMFILE: "), "stderr: %s", err);
	cr_assert_not_null(strstr(err, "connection shed"), "stderr: %s", err);
	cr_assert(strstr(err, ": EPROTO: ") || strstr(err, ": EMFILE: "),
		  "stderr: %s", err);
	cr_assert_eq(rmdir(dir), 0);
}

/* "Max open files" of /proc/PID/limits: soft and hard. */
static void
nofile_of(pid_t pid, unsigned long long *soft, unsigned long long *hard)
{
	char p[64], line[256];
	FILE *f;
	int found = 0;

	snprintf(p, sizeof(p), "/proc/%ld/limits", (long)pid);
	f = fopen(p, "re");
	cr_assert_not_null(f, "%s: %s", p, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Max open files %llu %llu", soft, hard) == 2)
			found = 1;
	fclose(f);
	cr_assert(found, "no Max open files in %s", p);
}

/*
 * THREATS 42: the descriptor budget.  --max-clients clients at their
 * worst (socket; on a stream two read batches and the current message,
 * 3 x --max-fds; the echo queue's --max-queue-fds) plus 16 must fit
 * RLIMIT_NOFILE.  Here the hard limit is 1024: refused, exit 1, with
 * the numbers, before anything is created at PATH.
 */
TEST(tool_serve, descriptor_budget_past_the_hard_limit_is_refused)
{
	SKIP_UNDER_VALGRIND();
	char dir[PATH_MAX], path[PATH_MAX], out[OUT_CAP], err[OUT_CAP];

	tmp_sock(dir, path);
	spawn_next.nofile = 1024;
	/* 256 x (1 + 3 x 253 + 64) + 16 */
	cr_assert_eq(run(NULL, 0, out, err, "serve", "--echo", "--stream",
			 "--max-fds", "253", path), 1, "stderr: %s", err);
	cr_assert_str_eq(err, "fdmsg serve: --max-clients 256 x 824 "
			 "descriptors per client + 16 = 210960 > RLIMIT_NOFILE "
			 "hard limit 1024; lower --max-clients, --max-fds or "
			 "--max-queue-fds\n");
	cr_assert_eq(access(path, F_OK), -1, "refused, yet created %s",
		     path);
	/* Without --echo no descriptor is queued; datagrams: 2 x max. */
	cr_assert_eq(run(NULL, 0, out, err, "serve", "--max-fds", "253",
			 "--max-clients", "2", path), 1, "stderr: %s", err);
	cr_assert_str_eq(err, "fdmsg serve: --max-clients 2 x 507 "
			 "descriptors per client + 16 = 1030 > RLIMIT_NOFILE "
			 "hard limit 1024; lower --max-clients, --max-fds or "
			 "--max-queue-fds\n");
	/* One descriptor fewer per read fits exactly: 2 x 505 + 16. */
	spawn_next.nofile = 1026;
	{
		struct proc p;

		serve_up(&p, path, "--max-fds", "252", "--max-clients", "2");
		stop_server(&p, path, err);
		cr_assert_str_empty(err);
	}
	spawn_next.nofile = 0;
	cr_assert_eq(rmdir(dir), 0);
}

/* Under the hard limit, the soft limit is raised to what the budget
 * needs, and descriptors are served. */
TEST(tool_serve, descriptor_budget_raises_the_soft_limit)
{
	SKIP_UNDER_VALGRIND();
	char dir[PATH_MAX], path[PATH_MAX];
	unsigned long long soft, hard;
	struct fdmsg_chan *ch;
	struct proc p;
	int fds[8], i;

	tmp_sock(dir, path);
	spawn_next.nofile = 64;
	spawn_next.nofile_hard = 4096;
	spawn(&p, -1, "serve", "--echo", "--max-fds", "8", "--max-clients",
	      "16", path);
	spawn_next.nofile = spawn_next.nofile_hard = 0;
	ch = chan_on(connect_retry(path, 0), 8);
	for (i = 0; i < 8; i++) {
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		cr_assert_geq(fds[i], 0);
	}
	echo_once(ch, 1, 1, "eight", fds, 8);
	/* 16 x (1 + 2 x 8 + 64) + 16 */
	nofile_of(p.pid, &soft, &hard);
	cr_assert_eq(soft, 1312);
	cr_assert_eq(hard, 4096);
	fdmsg_chan_free(ch);
	for (i = 0; i < 8; i++)
		close(fds[i]);
	stop_server_quiet(&p, dir, path);
}

/*
 * Descriptors in flight count against the sender's RLIMIT_NOFILE: a
 * server echoing them to a client that does not read hits ETOOMANYREFS
 * on the client's behalf.  That reply is dropped; nobody is cut off.
 * Needs root to run the server as an unprivileged user (privileged
 * senders are exempt from the limit).
 */
TEST(tool_serve, etoomanyrefs_drops_the_reply_not_the_client)
{
	SKIP_UNDER_VALGRIND();
	char dir[PATH_MAX], path[PATH_MAX], err[OUT_CAP], early[OUT_CAP];
	struct fdmsg_msg m = { 0 };
	struct fdmsg_chan *ch;
	struct iovec iov = { (char[]){ "f" }, 1 };
	struct proc p;
	int fd, i, got = 0;

	if (geteuid() != 0)
		cr_skip_test("needs root to drop to an unprivileged uid");
	tmp_sock(dir, path);
	cr_assert_eq(chown(dir, 65534, 65534), 0);
	spawn_next.uid = 65534;
	spawn(&p, -1, "serve", "--echo", "--max-fds", "1", "--max-clients",
	      "4", path);
	spawn_next.uid = 0;
	ch = chan_on(connect_retry(path, 0), 1);
	/* Past its startup check (it listens): now the small limit, set
	 * as its own uid (root may lack CAP_SYS_RESOURCE here). */
	{
		pid_t h = fork();
		int st;

		cr_assert_neq(h, -1);
		if (h == 0) {
			struct rlimit rl = { 16, 16 };

			if (setgroups(0, NULL) < 0 || setgid(65534) < 0 ||
			    setuid(65534) < 0)
				_exit(1);
			_exit(prlimit(p.pid, RLIMIT_NOFILE, &rl, NULL) < 0 ?
			      2 : 0);
		}
		cr_assert_eq(waitpid(h, &st, 0), h);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "prlimit as uid 65534: status %#x", st);
	}
	fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	/* Small frames: the socket buffer holds them all, unread. */
	for (i = 0; i < 40; i++)
		cr_assert_eq(fdmsg_send(ch, 1, (uint32_t)i, &iov, 1, &fd, 1, 0),
			     0);
	cr_assert_eq(fdmsg_send(ch, 2, 0, &iov, 1, NULL, 0, 0), 0);
	cr_assert_eq(fdmsg_flush_wait(ch, WAIT_MS), 0);
	/* Read no reply before the server has hit the limit. */
	wait_stderr(&p, early, "reply dropped");
	for (;;) {
		cr_assert_eq(fdmsg_recv_wait(ch, &m, WAIT_MS), 0);
		if (m.type == 2)
			break;
		cr_assert_eq(m.nfds, 1);
		got++;
	}
	cr_assert_gt(got, 0);
	cr_assert_lt(got, 40, "never hit ETOOMANYREFS");
	/* Nothing in flight any more: the same client is echoed again. */
	fdmsg_msg_release(&m);
	echo_once(ch, 3, 3, "again", &fd, 1);
	fdmsg_chan_free(ch);
	close(fd);
	stop_server(&p, path, err);
	cr_assert_not_null(strstr(early, ": ETOOMANYREFS: "), "%s", early);
	cr_assert_null(strstr(early, "ENOBUFS"), "stderr: %s", early);
	cr_assert_null(strstr(err, "ENOBUFS"), "stderr: %s", err);
	cr_assert_eq(rmdir(dir), 0);
}

/* ------------------------------------------------------------------ */
/* The hello                                                           */
/* ------------------------------------------------------------------ */

/* send greets; serve answers with its limits; -v shows them. */
TEST(tool_hello, send_v_shows_the_servers_limits)
{
	char dir[PATH_MAX], path[PATH_MAX];
	char out[OUT_CAP], err[OUT_CAP];
	struct proc p;

	tmp_sock(dir, path);
	serve_up(&p, path, "--echo", "--max-frame", "4096", "--max-fds", "2",
		 "--max-clients", "16");
	cr_assert_eq(run(NULL, 0, out, err, "send", path, "--type", "3",
			 "--data", "hi", "--reply", "-v"), 0, "send: %s", err);
	cr_assert_not_null(strstr(err, "peer speaks versions 1-1 (using 1): "
				       "max_frame 4096, max_batch 65536, "
				       "max_fds 2, caps 0x1"), "%s", err);
	cr_assert_not_null(strstr(out, "type=3 peerid=0 len=2 fds=0"), "%s",
			   out);
	/* Larger than the server said it takes: refused by send itself,
	 * which with -v waits for the server's hello first. */
	cr_assert_eq(run(NULL, 0, out, err, "send", path, "--type", "3",
			 "--file", "/etc/services", "-v"), 1);
	cr_assert_not_null(strstr(err, "EMSGSIZE"), "%s", err);
	stop_server_quiet(&p, dir, path);
}

/* decode shows a hello that opens the bytes, and its errors. */
TEST(tool_hello, decode_shows_a_hello)
{
	struct fdmsg_hello h = { 1, 2, 4096, 65536, 3, FDMSG_CAP_FDS };
	char out[OUT_CAP], err[OUT_CAP];
	uint8_t buf[FDMSG_HELLO_SIZE + 16];

	cr_assert_eq(fdmsg_hello_encode(&h, buf), FDMSG_HELLO_SIZE);
	frame(buf + FDMSG_HELLO_SIZE, 7, 1, 0, "");
	cr_assert_eq(run(buf, sizeof(buf), out, err, "decode"), 0, "%s", err);
	cr_assert_str_eq(out, "offset=0 hello versions=1-2 max_frame=4096 "
			      "max_batch=65536 max_fds=3 caps=0x1\n"
			      "offset=40 type=7 peerid=1 len=16 nfds=0\n");
	cr_assert_eq(run(buf, 30, out, err, "decode"), 1);
	cr_assert_not_null(strstr(err, "offset 0: EBADMSG"), "%s", err);
	cr_assert_not_null(strstr(err, "(a hello)"), "%s", err);
	buf[28] = 254; /* max_fds past the cap */
	cr_assert_eq(run(buf, sizeof(buf), out, err, "decode"), 1);
	cr_assert_not_null(strstr(err, "offset 0: EBADMSG"), "%s", err);
}

/* ------------------------------------------------------------------ */
/* serve for operators: readiness, access, socket activation          */
/* ------------------------------------------------------------------ */

/* One line from fd, within WAIT_MS: its length, 0 at end of file. */
static ssize_t
read_line(int fd, char *buf, size_t cap)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0;
	ssize_t n;

	while (len < cap - 1) {
		cr_assert_gt(poll(&pfd, 1, WAIT_MS), 0, "no line");
		n = read(fd, buf + len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		cr_assert_geq(n, 0, "read: %s", strerror(errno));
		if (n == 0)
			break;
		if (buf[len++] == '\n')
			break;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

/*
 * serve --ready-fd: "READY=1" once listening, then the descriptor is
 * closed (end of file), and a connect right then succeeds.  Without it,
 * "serve & send" lost the race about one time in ten (ENOENT).
 */
TEST(tool_serve, ready_fd_says_listening_so_connect_never_races)
{
	char dir[PATH_MAX], path[PATH_MAX], err[OUT_CAP], line[64];
	struct proc p;
	int pp[2], fd, i;

	tmp_sock(dir, path);
	for (i = 0; i < 20; i++) {
		cr_assert_eq(pipe2(pp, O_CLOEXEC), 0);
		spawn_next.move[0].from = pp[1];
		spawn_next.move[0].to = 5;
		spawn(&p, -1, "serve", "--ready-fd", "5", path);
		close(pp[1]);
		cr_assert_eq(read_line(pp[0], line, sizeof(line)), 8);
		cr_assert_str_eq(line, "READY=1\n");
		fd = fdmsg_connect(path, 0); /* no retry */
		cr_assert_geq(fd, 0, "round %d: %s", i, fdmsg_strerror(fd));
		/* Closed after the line: end of file, not a hang. */
		cr_assert_eq(read_line(pp[0], line, sizeof(line)), 0);
		close(pp[0]);
		close(fd);
		stop_server(&p, path, err);
		cr_assert_str_empty(err);
	}
	cr_assert_eq(rmdir(dir), 0);
}

/* Starts serve with args after "--ready-fd 5" and waits for its line. */
static void
serve_ready_v(struct proc *p, const char *const *args)
{
	const char *argv[32] = { tool_path(), "serve", "--ready-fd", "5" };
	char line[64];
	int n = 4, pp[2];

	while (*args != NULL && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	cr_assert_eq(pipe2(pp, O_CLOEXEC), 0);
	spawn_next.move[0].from = pp[1];
	spawn_next.move[0].to = 5;
	spawn_argv(p, -1, argv);
	close(pp[1]);
	read_line(pp[0], line, sizeof(line));
	close(pp[0]);
	cr_assert_str_eq(line, "READY=1\n", "serve never became ready");
}

#define serve_ready(p, ...)                                              \
	serve_ready_v((p), (const char *const[]){ __VA_ARGS__, NULL })

/* serve --mode: the socket file's permission bits; 0600 without. */
TEST(tool_serve, mode_sets_the_socket_files_permissions)
{
	static const char *const modes[] = { NULL, "0660", "666", "0604" };
	static const mode_t want[] = { 0600, 0660, 0666, 0604 };
	char dir[PATH_MAX], path[PATH_MAX], err[OUT_CAP];
	struct proc p;
	struct stat st;
	size_t i;

	tmp_sock(dir, path);
	for (i = 0; i < 4; i++) {
		if (modes[i] == NULL)
			spawn(&p, -1, "serve", path);
		else
			spawn(&p, -1, "serve", "--mode", modes[i], path);
		close(connect_retry(path, 0));
		cr_assert_eq(lstat(path, &st), 0);
		cr_assert(S_ISSOCK(st.st_mode));
		cr_assert_eq(st.st_mode & 07777, want[i], "--mode %s: %o",
			     modes[i] ? modes[i] : "none",
			     (unsigned)(st.st_mode & 07777));
		stop_server(&p, path, err);
		cr_assert_str_empty(err);
	}
	cr_assert_eq(rmdir(dir), 0);
}

/* A client as uid (root only; 0: as is) connects to path: 1 when served
 * (an echo came back), 0 when the server closed it unanswered.  *pid:
 * the client's pid, as the server logs it. */
static int
client_as(uid_t uid, const char *path, pid_t *pid)
{
	int st, pp[2];
	char c;

	cr_assert_eq(pipe2(pp, O_CLOEXEC), 0);
	*pid = fork();
	cr_assert_neq(*pid, -1);
	if (*pid == 0) {
		struct fdmsg_chan *ch = NULL;
		struct fdmsg_msg m = { 0 };
		struct fdmsg_opts o;
		struct iovec iov = { (char[]){ "x" }, 1 };
		int fd, r;

		close(pp[0]);
		if (uid != 0 && (setgroups(0, NULL) < 0 ||
				 setgid(uid) < 0 || setuid(uid) < 0))
			_exit(3);
		fd = fdmsg_connect(path, 0);
		fdmsg_opts_init(&o);
		if (fd < 0 || fdmsg_chan_new(&ch, fd, &o,
					     FDMSG_CHAN_OWN_FD) < 0)
			_exit(4);
		if (write(pp[1], "c", 1) != 1) /* connected */
			_exit(5);
		r = fdmsg_send(ch, 1, 2, &iov, 1, NULL, 0, 0);
		if (r == 0)
			r = fdmsg_flush_wait(ch, WAIT_MS);
		if (r == 0)
			r = fdmsg_recv_wait(ch, &m, WAIT_MS);
		if (r == 0 && m.type == 1 && m.len == 1)
			_exit(0);
		/* Closed unanswered: the send or the receive sees it. */
		_exit(r == -EPIPE || r == -ECONNRESET ? 1 : 6);
	}
	close(pp[1]);
	cr_assert_eq(read(pp[0], &c, 1), 1, "client never connected");
	close(pp[0]);
	cr_assert_eq(waitpid(*pid, &st, 0), *pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) <= 1, "client: %d",
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return WEXITSTATUS(st) == 0;
}

/*
 * serve --allow-uid: a connection from a uid not listed is closed at
 * accept and logged with its pid and uid; listed uids are served.  As
 * root, a second uid (65534) connects through a --mode 0666 socket.
 */
TEST(tool_serve, allow_uid_refuses_other_users_and_logs_them)
{
	char dir[PATH_MAX], path[PATH_MAX], err[OUT_CAP], buf[OUT_CAP];
	char me[32], other[32], list[64], want[128];
	uid_t uid = getuid(), nobody = 65534;
	struct proc p;
	pid_t pid;

	tmp_sock(dir, path);
	cr_assert_eq(chmod(dir, 0755), 0);
	snprintf(me, sizeof(me), "%ld", (long)uid);
	snprintf(other, sizeof(other), "%ld", (long)(uid == 4242 ? 4243 :
						      4242));
	/* Not listed: refused, logged with the pid and uid. */
	serve_ready(&p, "--echo", "--allow-uid", other, path);
	cr_assert_eq(client_as(0, path, &pid), 0);
	snprintf(want, sizeof(want), "fdmsg serve: refused pid %ld, uid %s: "
		 "not in --allow-uid\n", (long)pid, me);
	wait_stderr(&p, buf, want);
	stop_server(&p, path, err);
	cr_assert_str_empty(err);

	/* Listed among others, and as a second --allow-uid: served. */
	snprintf(list, sizeof(list), "%s,%s", other, me);
	serve_ready(&p, "--echo", "--allow-uid", list, path);
	cr_assert_eq(client_as(0, path, &pid), 1);
	stop_server(&p, path, err);
	cr_assert_str_empty(err);
	serve_ready(&p, "--echo", "--allow-uid", other, "--allow-uid", me,
		    path);
	cr_assert_eq(client_as(0, path, &pid), 1);
	stop_server(&p, path, err);
	cr_assert_str_empty(err);

	if (uid != 0) {
		cr_log_warn("not root: the part with a second uid is skipped");
	} else {
		/* Two users at once: root listed, nobody refused. */
		serve_ready(&p, "--echo", "--mode", "0666", "--allow-uid", "0",
			    path);
		cr_assert_eq(client_as(0, path, &pid), 1);
		cr_assert_eq(client_as(nobody, path, &pid), 0);
		snprintf(want, sizeof(want), "fdmsg serve: refused pid %ld, "
			 "uid 65534: not in --allow-uid\n", (long)pid);
		wait_stderr(&p, buf, want);
		cr_assert_eq(client_as(0, path, &pid), 1);
		stop_server(&p, path, err);
		cr_assert_str_empty(err);
		/* And nobody listed: served. */
		serve_ready(&p, "--echo", "--mode", "0666", "--allow-uid",
			    "0,65534", path);
		cr_assert_eq(client_as(nobody, path, &pid), 1);
		stop_server(&p, path, err);
		cr_assert_str_empty(err);
	}
	cr_assert_eq(rmdir(dir), 0);
}

/* A datagram socket at path (or "@name") for NOTIFY_SOCKET. */
static int
notify_sock(const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_lt(n, sizeof(sa.sun_path));
	memcpy(sa.sun_path, name, n);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa,
			  (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				      n)), 0, "bind %s: %s", name,
		     strerror(errno));
	return fd;
}

/* The next notification, within WAIT_MS. */
static void
notify_expect(int fd, const char *want)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[512];
	ssize_t n;

	cr_assert_gt(poll(&pfd, 1, WAIT_MS), 0, "no notification '%s'", want);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_assert_eq(strncmp(buf, want, strlen(want)), 0, "got '%s', want "
		     "'%s...'", buf, want);
}

/*
 * A NOTIFY_SOCKET nobody listens on: serve serves all the same, and each
 * notification it could not send is one line naming the state alone
 * (the message's STATUS= line stays out of the log).
 */
TEST(tool_serve, notify_socket_gone_is_one_line_per_state)
{
	char dir[PATH_MAX], path[PATH_MAX], npath[PATH_MAX + 8];
	char env[PATH_MAX + 32], err[OUT_CAP], want[2 * PATH_MAX + 512];
	struct fdmsg_chan *ch;
	struct proc p;

	tmp_sock(dir, path);
	snprintf(npath, sizeof(npath), "%s/gone", dir);
	snprintf(env, sizeof(env), "NOTIFY_SOCKET=%s", npath);
	spawn_next.env[0] = env;
	serve_ready(&p, "--echo", path);
	ch = chan_on(fdmsg_connect(path, 0), 0);
	cr_assert_eq(try_echo(ch, 1), 1);
	fdmsg_chan_free(ch);
	stop_server(&p, path, err);
	snprintf(want, sizeof(want), "fdmsg serve: NOTIFY_SOCKET=%s: ENOENT: "
		 "%s; READY=1 not sent\nfdmsg serve: NOTIFY_SOCKET=%s: "
		 "ENOENT: %s; STOPPING=1 not sent\n", npath,
		 fdmsg_strerror(-ENOENT), npath, fdmsg_strerror(-ENOENT));
	cr_assert_str_eq(err, want);
	cr_assert_eq(rmdir(dir), 0);
}

/* Whether the program is in PATH (the test skips without it). */
static int
have_program(const char *name)
{
	char buf[PATH_MAX];
	const char *p = getenv("PATH");
	size_t n;

	while (p != NULL && *p != '\0') {
		n = strcspn(p, ":");
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, name);
		if (access(buf, X_OK) == 0)
			return 1;
		p += n + (p[n] == ':');
	}
	return 0;
}

/*
 * systemd's socket activation, run by systemd-socket-activate (the
 * systemd package): it binds PATH, and at the first connection execs
 * serve with the listener as descriptor 3.  serve echoes that client,
 * says READY=1 (with a STATUS=) on a NOTIFY_SOCKET the test bound (a
 * path, then an abstract @name), STOPPING=1 at SIGTERM, exits 0, and
 * leaves PATH alone: the socket is not serve's to remove.
 */
TEST(tool_activation, systemd_socket_activate_echoes_and_notifies)
{
	char dir[PATH_MAX], path[PATH_MAX], npath[PATH_MAX + 8];
	char env[PATH_MAX + 32], out[OUT_CAP], err[OUT_CAP];
	struct fdmsg_chan *ch;
	struct proc p;
	int stream, nfd, fd;

	if (!have_program("systemd-socket-activate"))
		cr_skip_test("systemd-socket-activate is not installed "
			     "(Debian: systemd)");
	tmp_sock(dir, path);
	for (stream = 0; stream < 2; stream++) {
		if (stream)
			snprintf(npath, sizeof(npath), "@fdmsg-notify-%ld",
				 (long)getpid());
		else
			snprintf(npath, sizeof(npath), "%s/notify", dir);
		nfd = notify_sock(npath);
		snprintf(env, sizeof(env), "NOTIFY_SOCKET=%s", npath);
		spawn_next.env[0] = env;
		/* Without --seqpacket, -l makes a stream socket. */
		if (stream)
			spawn_argv(&p, -1, (const char *const[]){
				"systemd-socket-activate", "-l", path,
				"--fdname=fdmsg", "-E", "NOTIFY_SOCKET",
				tool_path(), "serve", "--echo", "--stream",
				NULL });
		else
			spawn_argv(&p, -1, (const char *const[]){
				"systemd-socket-activate", "--seqpacket", "-l",
				path, "--fdname=fdmsg", "-E", "NOTIFY_SOCKET",
				tool_path(), "serve", "--echo", NULL });
		/* It binds before it waits: the client waits in the
		 * backlog until serve, exec'd, accepts it. */
		fd = connect_retry(path, stream ? SOCK_STREAM : 0);
		ch = chan_on(fd, 0);
		notify_expect(nfd, "READY=1\nSTATUS=serving ");
		echo_once(ch, 7, 9, "through systemd-socket-activate", NULL,
			  0);
		fdmsg_chan_free(ch);
		cr_assert_eq(kill(p.pid, SIGTERM), 0);
		notify_expect(nfd, "STOPPING=1");
		cr_assert_eq(finish(&p, out, err), 0, "stderr: %s", err);
		cr_assert_null(strstr(err, "fdmsg serve:"), "%s", err);
		cr_assert_eq(access(path, F_OK), 0, "serve removed %s", path);
		cr_assert_eq(unlink(path), 0);
		close(nfd);
		if (!stream)
			cr_assert_eq(unlink(npath), 0);
	}
	cr_assert_eq(rmdir(dir), 0);
}

/* serve with fd on descriptor 3 and LISTEN_FDS=n (LISTEN_PID its own
 * unless pid_env is given), names (NULL: none); args after "serve". */
static void
spawn_activated(struct proc *p, int fd, const char *n, const char *names,
		const char *pid_env, const char *const *args)
{
	static char nv[64], namesv[256];
	const char *argv[32] = { tool_path(), "serve" };
	int k = 2, e = 0;

	while (*args != NULL && k < 31)
		argv[k++] = *args++;
	argv[k] = NULL;
	spawn_next.move[0].from = fd;
	spawn_next.move[0].to = 3;
	snprintf(nv, sizeof(nv), "LISTEN_FDS=%s", n);
	spawn_next.env[e++] = nv;
	if (names != NULL) {
		snprintf(namesv, sizeof(namesv), "LISTEN_FDNAMES=%s", names);
		spawn_next.env[e++] = namesv;
	}
	if (pid_env != NULL)
		spawn_next.env[e++] = pid_env;
	else
		spawn_next.listen_pid = 1;
	spawn_argv(p, -1, argv);
}

#define activated(p, fd, n, names, pid_env, ...)                        \
	spawn_activated((p), (fd), (n), (names), (pid_env),              \
			(const char *const[]){ __VA_ARGS__, NULL })

/* serve as activated with fd: exit 1 and one line holding want. */
static void
activation_refused(int fd, const char *n, const char *names,
		   const char *want, const char *const *args)
{
	char out[OUT_CAP], err[OUT_CAP];
	struct proc p;

	spawn_activated(&p, fd, n, names, NULL, args);
	cr_assert_eq(finish(&p, out, err), 1, "%s: stderr: %s", want, err);
	cr_assert_eq(count_lines(err), 1, "stderr: %s", err);
	cr_assert_not_null(strstr(err, want), "want '%s': %s", want, err);
}

#define refused(fd, n, names, want, ...)                                 \
	activation_refused((fd), (n), (names), (want),                   \
			   (const char *const[]){ __VA_ARGS__, NULL })

/* O_CLOEXEC among /proc/PID/fdinfo/FD's flags (octal). */
static int
fd_cloexec_in(pid_t pid, int fd)
{
	char name[64], buf[512], *f;
	unsigned long flags;
	ssize_t n;
	int d;

	snprintf(name, sizeof(name), "/proc/%ld/fdinfo/%d", (long)pid, fd);
	d = open(name, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(d, 0, "%s: %s", name, strerror(errno));
	n = read(d, buf, sizeof(buf) - 1);
	close(d);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	f = strstr(buf, "flags:");
	cr_assert_not_null(f, "%s", buf);
	flags = strtoul(f + 6, NULL, 8);
	return (flags & O_CLOEXEC) != 0;
}

/* A socket of type bound at path, listening or not. */
static int
unix_sock(int type, const char *path, int listening)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0,
		     "bind %s: %s", path, strerror(errno));
	if (listening)
		cr_assert_eq(listen(fd, 8), 0);
	return fd;
}

/* A socket of type at path passed in is refused with want; then gone. */
static void
sock_refused(int type, int listening, const char *path, const char *want,
	     const char *arg)
{
	int fd = unix_sock(type, path, listening);

	refused(fd, "1", NULL, want, arg);
	close(fd);
	cr_assert_eq(unlink(path), 0);
}

/*
 * What serve does with a socket passed in (LISTEN_FDS from descriptor
 * 3, without systemd): it refuses, exit 1 and one line saying why,
 * whatever it cannot serve (a file, a TCP socket, the wrong type, a
 * socket not listening, several sockets and no PATH to choose, names
 * that do not match the count, a count that is no number, --mode on a
 * socket it did not create); a LISTEN_PID of another process is
 * ignored; the socket it takes is made close-on-exec, served, and left
 * at its path on exit.
 */
TEST(tool_activation, passed_socket_is_checked_then_served)
{
	char dir[PATH_MAX], path[PATH_MAX], other[PATH_MAX + 8];
	char out[OUT_CAP], err[OUT_CAP], fdpath[64];
	struct fdmsg_chan *ch;
	struct proc p;
	int fd, tcp;

	tmp_sock(dir, path);
	snprintf(other, sizeof(other), "%s/other", dir);

	fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	refused(fd, "1", "x", "descriptor 3 'x' is not a socket", "--echo");
	close(fd);

	tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (tcp >= 0 && listen(tcp, 1) == 0)
		refused(tcp, "1", NULL, "is not a Unix domain socket",
			"--stream");
	if (tcp >= 0)
		close(tcp);

	fd = unix_sock(SOCK_STREAM, path, 1);
	refused(fd, "1", NULL, "descriptor 3 (", "--echo");
	close(fd);
	cr_assert_eq(unlink(path), 0);
	sock_refused(SOCK_STREAM, 1, path, ") is SOCK_STREAM: add --stream",
		     "--echo");
	sock_refused(SOCK_SEQPACKET, 1, path, "is SOCK_SEQPACKET: omit "
		     "--stream", "--stream");
	sock_refused(SOCK_SEQPACKET, 0, path, "is not listening", "--echo");
	sock_refused(SOCK_DGRAM, 0, path, "is neither SOCK_SEQPACKET nor "
		     "SOCK_STREAM", "--echo");

	fd = unix_sock(SOCK_SEQPACKET, path, 1);
	refused(fd, "2", "a:b", "LISTEN_FDS=2: serve takes one socket",
		"--echo");
	refused(fd, "1", "a:b", "LISTEN_FDNAMES=a:b names 2 sockets, "
		"LISTEN_FDS=1", "--echo");
	refused(fd, "1x", NULL, "LISTEN_FDS=1x: not a count", "--echo");
	refused(fd, "1", NULL, ": none of the 1 sockets passed (LISTEN_FDS) "
		"is bound to it", "--echo", other);
	/* A usage error: the socket's creator sets its mode. */
	activated(&p, fd, "1", NULL, NULL, "--mode", "0666");
	cr_assert_eq(finish(&p, out, err), 2, "%s", err);
	cr_assert_not_null(strstr(err, "--mode: the socket was passed in"),
			   "%s", err);

	/* No LISTEN_PID: not ours either; and then no PATH to serve. */
	activated(&p, fd, "1", NULL, "NO_LISTEN_PID=1", "--echo");
	cr_assert_eq(finish(&p, out, err), 2, "%s", err);
	cr_assert_str_eq(err, "fdmsg serve: LISTEN_FDS ignored: no LISTEN_PID\n"
			 "fdmsg serve: missing PATH (and no socket passed in "
			 "LISTEN_FDS)\n");

	/* Another process's: ignored, not closed; PATH served as ever. */
	activated(&p, fd, "1", NULL, "LISTEN_PID=1", "--echo", other);
	ch = chan_on(connect_retry(other, 0), 0);
	echo_once(ch, 1, 2, "PATH, not descriptor 3", NULL, 0);
	fdmsg_chan_free(ch);
	snprintf(fdpath, sizeof(fdpath), "/proc/%ld/fd/3", (long)p.pid);
	cr_assert_eq(access(fdpath, F_OK), 0, "serve closed a descriptor "
		     "that was not its");
	stop_server(&p, other, err);
	cr_assert_not_null(strstr(err, "LISTEN_FDS ignored: LISTEN_PID 1 is "
				  "not this process"), "%s", err);
	cr_assert_eq(count_lines(err), 1, "%s", err);

	/* Taken: close-on-exec, served; PATH, given, picks it. */
	activated(&p, fd, "1", "fdmsg", NULL, "--echo", path);
	ch = chan_on(connect_retry(path, 0), 0);
	echo_once(ch, 3, 4, "activated", NULL, 0);
	cr_assert(fd_cloexec_in(p.pid, 3), "descriptor 3 is not "
		  "close-on-exec");
	fdmsg_chan_free(ch);
	cr_assert_eq(kill(p.pid, SIGTERM), 0);
	cr_assert_eq(finish(&p, out, err), 0, "%s", err);
	cr_assert_str_empty(err);
	cr_assert_eq(access(path, F_OK), 0, "serve removed %s", path);
	close(fd);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(rmdir(dir), 0);
}

/* ------------------------------------------------------------------ */
/* proxy                                                               */
/* ------------------------------------------------------------------ */

/* Waits until pid holds want descriptors; asserts it does.  A bounded
 * wait: the proxy closes what it forwarded right after sending it. */
static void
expect_proc_fds(pid_t pid, int want)
{
	int i;

	for (i = 0; i < WAIT_MS / 5 && fd_count_of(pid) != want; i++)
		sleep_ms(5);
	cr_assert_eq(fd_count_of(pid), want, "the proxy holds %d descriptors, "
		     "%d expected", fd_count_of(pid), want);
}

/* Waits for a listener's socket file: it appears once it listens. */
static void
wait_path(const char *path)
{
	int i;

	for (i = 0; i < WAIT_MS / 10 && access(path, F_OK) != 0; i++)
		sleep_ms(10);
	cr_assert_eq(access(path, F_OK), 0, "%s never appeared", path);
}

/* dir/s served by `serve --echo`, dir/p a proxy to it with args. */
struct relayed {
	char dir[PATH_MAX], srv[PATH_MAX], px[PATH_MAX + 8];
	struct proc serve, proxy;
};

/* The proxy under RLIMIT_NOFILE nofile when nonzero (toolutil.h). */
static void
relayed_start_v(struct relayed *t, rlim_t nofile, const char *const *args)
{
	const char *argv[16] = { "proxy" };
	int n = 1;

	tmp_sock(t->dir, t->srv);
	snprintf(t->px, sizeof(t->px), "%s/p", t->dir);
	spawn(&t->serve, -1, "serve", "--echo", t->srv);
	wait_path(t->srv);
	while (*args != NULL && n < 13)
		argv[n++] = *args++;
	argv[n++] = t->px;
	argv[n++] = t->srv;
	argv[n] = NULL;
	spawn_next.nofile = nofile;
	spawn_v(&t->proxy, -1, argv);
	spawn_next.nofile = 0;
	wait_path(t->px);
}

#define relayed_start(t, nofile, ...)                                    \
	relayed_start_v((t), (nofile), (const char *const[]){ __VA_ARGS__, \
							       NULL })

/* serve stopped (silent) and the directory removed, after the proxy. */
static void
relayed_clean(struct relayed *t)
{
	char err[OUT_CAP];

	stop_server(&t->serve, t->srv, err);
	cr_assert_str_empty(err);
	cr_assert_eq(rmdir(t->dir), 0);
}

/* dir/s served by `serve --echo`, dir/p a proxy capturing to dir/cap. */
struct proxied {
	char dir[PATH_MAX], srv[PATH_MAX], px[PATH_MAX + 8], cap[PATH_MAX + 8];
	struct proc serve, proxy;
	int base; /* the proxy's descriptors with no client */
};

static void
proxied_start(struct proxied *t, const char *max_fds)
{
	tmp_sock(t->dir, t->srv);
	snprintf(t->px, sizeof(t->px), "%s/p", t->dir);
	snprintf(t->cap, sizeof(t->cap), "%s/cap", t->dir);
	spawn(&t->serve, -1, "serve", "--echo", "--max-fds", max_fds,
	      "--max-clients", "8", t->srv);
	wait_path(t->srv);
	spawn(&t->proxy, -1, "proxy", "-v", "--capture", t->cap, t->px,
	      t->srv);
	wait_path(t->px);
	t->base = fd_count_of(t->proxy.pid);
}

/* SIGTERM to both: each exits 0 and removes its socket; the proxy's
 * stderr into err. */
static void
proxied_stop(struct proxied *t, char *err)
{
	char serr[OUT_CAP];

	stop_server(&t->proxy, t->px, err);
	stop_server(&t->serve, t->srv, serr);
	cr_assert_str_empty(serr);
}

static void
proxied_clean(struct proxied *t)
{
	cr_assert_eq(unlink(t->cap), 0);
	cr_assert_eq(rmdir(t->dir), 0);
}

TEST(tool_proxy, relays_frames_and_descriptors_both_ways_keeps_none)
{
	static char scratch_out[OUT_CAP];
	char out[OUT_CAP], err[OUT_CAP];
	struct proxied t;
	struct fdmsg_chan *ch;
	int fds[3], pp[2];

	proxied_start(&t, "8");
	ch = chan_on(connect_retry(t.px, 0), 8);
	fds[0] = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	fds[1] = open(t.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_eq(pipe2(pp, O_CLOEXEC), 0);
	fds[2] = pp[0];
	cr_assert(fds[0] >= 0 && fds[1] >= 0);

	/* The same files come back, through the proxy and the server. */
	echo_once(ch, 7, 9, "hello", fds, 3);
	echo_once(ch, UINT32_MAX, 0, "", NULL, 0);
	echo_once(ch, 1, UINT32_MAX, "one more, one fd", fds + 2, 1);
	/* The proxy holds the pair's two sockets, not one descriptor of
	 * the six it passed on. */
	expect_proc_fds(t.proxy.pid, t.base + 2);
	fdmsg_chan_free(ch);
	wait_stderr(&t.proxy, err, "client 1: closed");
	expect_proc_fds(t.proxy.pid, t.base);

	close(fds[0]);
	close(fds[1]);
	close(pp[0]);
	close(pp[1]);
	proxied_stop(&t, err);
	cr_assert_eq(run(NULL, 0, out, err, "decode", t.cap), 0, "%s", err);
	cr_assert_eq(count_lines(out), 8, "%s", out);
	cr_assert_not_null(strstr(out, " conn=1 from=client type=7 peerid=9 "
				  "len=21 nfds=3 fds=file,dir,fifo\n"), "%s",
			   out);
	cr_assert_not_null(strstr(out, " conn=1 from=server type=7 peerid=9 "
				  "len=21 nfds=3 fds=file,dir,fifo\n"), "%s",
			   out);
	cr_assert_not_null(strstr(out, " conn=1 from=server type=1 peerid="
				  "4294967295 len=32 nfds=1 fds=fifo\n"), "%s",
			   out);
	cr_assert_not_null(strstr(out, " conn=1 close by=client "
				  "error=none\n"), "%s", out);
	/* From stdin the same; cut short, the rule and the block's offset
	 * (the last block, a 44-byte close record, starts 44 from the end). */
	{
		char *cap = slurp(t.cap), want[128];
		struct stat st;

		cr_assert_eq(stat(t.cap, &st), 0);
		cr_assert_eq(run(cap, (size_t)st.st_size, scratch_out, err,
				 "decode"), 0, "%s", err);
		cr_assert_str_eq(scratch_out, out);
		cr_assert_eq(run(cap, (size_t)st.st_size - 3, scratch_out, err,
				 "decode", "-"), 1);
		snprintf(want, sizeof(want), "fdmsg decode: offset %lld: "
			 "EBADMSG: block cut short\n",
			 (long long)st.st_size - 44);
		cr_assert_str_eq(err, want);
		cr_assert_eq(count_lines(scratch_out), 7, "%s", scratch_out);
		free(cap);
	}
	proxied_clean(&t);
}

TEST(tool_proxy, hostile_client_ends_only_its_pair_logged_and_recorded)
{
	char out[OUT_CAP], err[OUT_CAP];
	uint8_t bad[FDMSG_HDR_SIZE];
	struct proxied t;
	struct fdmsg_chan *good;
	int raw, fd;

	proxied_start(&t, "4");
	good = chan_on(connect_retry(t.px, 0), 4);
	fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	echo_once(good, 1, 1, "before", &fd, 1);

	raw = fdmsg_connect(t.px, 0);
	cr_assert_geq(raw, 0);
	frame(bad, 5, 5, 0, "");
	bad[0] = 2; /* version 2 */
	cr_assert_eq(send(raw, bad, sizeof(bad), MSG_NOSIGNAL),
		     (ssize_t)sizeof(bad));
	expect_closed(raw, WAIT_MS, "closed");
	close(raw);
	wait_stderr(&t.proxy, err, "client 2: closed");
	cr_assert_not_null(strstr(err, "fdmsg proxy: client 2: from client: "
				  "EBADMSG: "), "%s", err);
	/* Both of its sockets closed; the good client goes on. */
	expect_proc_fds(t.proxy.pid, t.base + 2);
	echo_once(good, 2, 2, "after", &fd, 1);

	fdmsg_chan_free(good);
	close(fd);
	proxied_stop(&t, err);
	cr_assert_eq(run(NULL, 0, out, err, "decode", t.cap), 0, "%s", err);
	cr_assert_not_null(strstr(out, " conn=2 close by=client "
				  "error=EBADMSG\n"), "%s", out);
	cr_assert_null(strstr(out, "conn=2 from="), "%s", out);
	proxied_clean(&t);
}

/* A frame the server's hello refuses (descriptors to --max-fds 0) ends
 * the pair at the proxy, said and recorded; nothing reaches the server. */
TEST(tool_proxy, frame_the_servers_limits_refuse_ends_the_pair)
{
	char out[OUT_CAP], err[OUT_CAP];
	struct proxied t;
	struct fdmsg_chan *ch;
	struct fdmsg_msg m = { 0 };
	struct iovec iov = { (char[]){ "x" }, 1 };
	int fd;

	proxied_start(&t, "0");
	ch = chan_on(connect_retry(t.px, 0), 4);
	/* Its echo comes after the server's hello, which the proxy read
	 * first: from here on it holds frames to the server's limits. */
	echo_once(ch, 1, 1, "first", NULL, 0);
	fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fdmsg_send(ch, 2, 2, &iov, 1, &fd, 1, 0), 0);
	cr_assert_eq(fdmsg_recv_wait(ch, &m, WAIT_MS), -EPIPE);
	wait_stderr(&t.proxy, err, "client 1: closed");
	cr_assert_not_null(strstr(err, "fdmsg proxy: client 1: to server: "
				  "EPERM: "), "%s", err);
	expect_proc_fds(t.proxy.pid, t.base);
	fdmsg_chan_free(ch);
	close(fd);
	proxied_stop(&t, err);
	cr_assert_eq(run(NULL, 0, out, err, "decode", t.cap), 0, "%s", err);
	cr_assert_not_null(strstr(out, " conn=1 from=client type=2 peerid=2 "
				  "len=17 nfds=1 fds=file\n"), "%s", out);
	cr_assert_null(strstr(out, "from=server type=2"), "%s", out);
	cr_assert_not_null(strstr(out, " conn=1 close by=client "
				  "error=EPERM\n"), "%s", out);
	proxied_clean(&t);
}

/* A server that answers with a frame of wire version 2, then waits. */
TEST(tool_proxy, hostile_server_ends_the_pair)
{
	char dir[PATH_MAX], srv[PATH_MAX], px[PATH_MAX + 8], out[OUT_CAP];
	char err[OUT_CAP];
	uint8_t bad[FDMSG_HDR_SIZE];
	struct fdmsg_chan *ch;
	struct fdmsg_msg m = { 0 };
	struct proc p;
	int lfd, sfd, cfd;

	tmp_sock(dir, srv);
	snprintf(px, sizeof(px), "%s/p", dir);
	lfd = fdmsg_listen(srv, 0, 0);
	cr_assert_geq(lfd, 0);
	spawn(&p, -1, "proxy", px, srv);
	cfd = connect_retry(px, 0);
	sfd = fdmsg_accept(lfd, NULL, 0);
	cr_assert_geq(sfd, 0);
	frame(bad, 5, 5, 0, "");
	bad[0] = 2;
	cr_assert_eq(send(sfd, bad, sizeof(bad), MSG_NOSIGNAL),
		     (ssize_t)sizeof(bad));
	/* The proxy closes both sides: the client sees its end. */
	expect_closed(sfd, WAIT_MS, "closed");
	ch = chan_on(cfd, 0);
	cr_assert_eq(fdmsg_recv_wait(ch, &m, WAIT_MS), -EPIPE);
	fdmsg_chan_free(ch);
	wait_stderr(&p, err, "client 1: from server: EBADMSG: ");
	close(sfd);
	cr_assert_eq(kill(p.pid, SIGTERM), 0);
	cr_assert_eq(finish(&p, out, err), 0, "%s", err);
	close(lfd);
	unlink(srv);
	cr_assert_eq(rmdir(dir), 0);
}

TEST(tool_proxy, no_server_closes_the_client_with_a_line)
{
	char dir[PATH_MAX], srv[PATH_MAX], px[PATH_MAX + 8], out[OUT_CAP];
	char err[OUT_CAP];
	struct proc p;
	int cfd;

	tmp_sock(dir, srv);
	snprintf(px, sizeof(px), "%s/p", dir);
	spawn(&p, -1, "proxy", px, srv);
	cfd = connect_retry(px, 0);
	expect_closed(cfd, WAIT_MS, "closed");
	close(cfd);
	wait_stderr(&p, err, ": ENOENT: ");
	cr_assert_not_null(strstr(err, "fdmsg proxy: client 1: "), "%s", err);
	cr_assert_not_null(strstr(err, srv), "%s", err);
	cr_assert_eq(kill(p.pid, SIGTERM), 0);
	cr_assert_eq(finish(&p, out, err), 0, "%s", err);
	cr_assert_eq(access(px, F_OK), -1);
	cr_assert_eq(rmdir(dir), 0);
}

/*
 * More client slots than RLIMIT_NOFILE allows descriptors: poll gets
 * only the descriptors watched (it refuses nfds beyond the limit with
 * EINVAL), so the proxy relays instead of dying at its first poll.
 */
TEST(tool_proxy, more_slots_than_rlimit_nofile_still_relay)
{
	SKIP_UNDER_VALGRIND();
	char err[OUT_CAP];
	struct fdmsg_chan *ch;
	struct relayed t;

	relayed_start(&t, 256, "--max-clients", "4096");
	ch = chan_on(connect_retry(t.px, 0), 0);
	cr_assert_eq(try_echo(ch, 1), 1, "not relayed");
	fdmsg_chan_free(ch);
	stop_server(&t.proxy, t.px, err);
	cr_assert_str_empty(err);
	relayed_clean(&t);
}

/*
 * Out of descriptors, the proxy sheds a new client as serve does (one
 * accept_shed, the same line with the error's text), keeps relaying the
 * pair it has, and relays new clients once descriptors are back.
 */
TEST(tool_proxy, out_of_descriptors_sheds_and_keeps_relaying)
{
	SKIP_UNDER_VALGRIND();
	char err[OUT_CAP], want[128];
	struct fdmsg_chan *a, *b;
	struct proxied t;
	struct rlimit rl;
	int i, r;

	/* With a limit, spawn closes what the test inherited: the tool's
	 * descriptors are numbered from 0 without a gap. */
	spawn_next.nofile = 64;
	proxied_start(&t, "0");
	spawn_next.nofile = 0;
	/* Room for one pair (client and server sockets) and no more. */
	rl.rlim_cur = rl.rlim_max = (rlim_t)t.base + 2;
	cr_assert_eq(prlimit(t.proxy.pid, RLIMIT_NOFILE, &rl, NULL), 0,
		     "prlimit: %s", strerror(errno));
	a = chan_on(connect_retry(t.px, 0), 0);
	cr_assert_eq(try_echo(a, 1), 1);
	b = chan_on(fdmsg_connect(t.px, 0), 0);
	cr_assert_eq(try_echo(b, 2), 0, "relayed past RLIMIT_NOFILE");
	fdmsg_chan_free(b);
	cr_assert_eq(try_echo(a, 3), 1);
	expect_proc_fds(t.proxy.pid, t.base + 2);
	fdmsg_chan_free(a);
	expect_proc_fds(t.proxy.pid, t.base);
	for (i = 0, r = 0; i < WAIT_MS / 20 && r == 0; i++) {
		b = chan_on(fdmsg_connect(t.px, 0), 0);
		r = try_echo(b, 4);
		fdmsg_chan_free(b);
	}
	cr_assert_eq(r, 1, "the proxy never relayed again");
	proxied_stop(&t, err);
	snprintf(want, sizeof(want), "fdmsg proxy: accept: EMFILE: %s: "
		 "connection shed\n", fdmsg_strerror(-EMFILE));
	cr_assert_not_null(strstr(err, want), "stderr: %s", err);
	/* One client shed, one line: none when nothing was pending. */
	cr_assert_null(strstr(strstr(err, want) + strlen(want), "shed"),
		       "stderr: %s", err);
	proxied_clean(&t);
}

/*
 * A client that connects and says nothing holds its slot only for
 * --idle-timeout: it is cut with a line, its descriptors closed, and the
 * slot serves the next client.
 */
TEST(tool_proxy, silent_client_is_cut_at_idle_timeout)
{
	char err[OUT_CAP];
	struct fdmsg_chan *ch;
	struct relayed t;
	int silent, base;

	relayed_start(&t, 0, "--max-clients", "1", "--idle-timeout", "200");
	base = fd_count_of(t.proxy.pid);
	silent = connect_retry(t.px, 0);
	expect_closed(silent, WAIT_MS, "the silent client");
	close(silent);
	wait_stderr(&t.proxy, err, "fdmsg proxy: client 1: idle past "
		    "--idle-timeout: ETIMEDOUT: ");
	expect_proc_fds(t.proxy.pid, base);
	ch = chan_on(fdmsg_connect(t.px, 0), 0);
	cr_assert_eq(try_echo(ch, 1), 1, "the slot was not freed");
	fdmsg_chan_free(ch);
	stop_server(&t.proxy, t.px, err);
	relayed_clean(&t);
}

/*
 * A capture that can no longer be written (its reader went away) stops
 * the proxy: one line naming the error, every pair closed (the client
 * sees its end), the socket file removed, exit 1.
 */
TEST(tool_proxy, capture_write_failure_stops_the_proxy)
{
	char out[OUT_CAP], err[OUT_CAP], head[64], want[128];
	struct iovec iov = { (char[]){ "x" }, 1 };
	struct fdmsg_chan *ch;
	struct relayed t;
	int r;

	relayed_start(&t, 0, "--capture", "-");
	/* The section header is there; then nobody reads. */
	cr_assert_gt(read(t.proxy.out, head, sizeof(head)), 0);
	close(t.proxy.out);
	t.proxy.out = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ch = chan_on(connect_retry(t.px, 0), 0);
	/* The proxy may stop on the connection's own record, before this
	 * frame's: the send then finds its peer gone. */
	r = fdmsg_send(ch, 1, 1, &iov, 1, NULL, 0, 0);
	if (r == 0)
		r = fdmsg_flush_wait(ch, WAIT_MS);
	cr_assert(r == 0 || r == -EPIPE || r == -ECONNRESET, "send: %s",
		  fdmsg_strerror(r));
	expect_closed(fdmsg_chan_fd(ch), WAIT_MS, "the client");
	fdmsg_chan_free(ch);
	cr_assert_eq(finish(&t.proxy, out, err), 1, "stderr: %s", err);
	snprintf(want, sizeof(want), "fdmsg proxy: -: EPIPE: %s: capture "
		 "stopped\n", fdmsg_strerror(-EPIPE));
	cr_assert_str_eq(err, want);
	cr_assert_eq(access(t.px, F_OK), -1, "the proxy left its socket");
	relayed_clean(&t);
}

/*
 * A connect loop against a full proxy: every connection is closed at
 * accept, the pair it has goes on, and the log gets a line per second at
 * most (serve's refuse_log), not one per connection.
 */
TEST(tool_proxy, refusals_at_max_clients_do_not_flood_the_log)
{
	char err[OUT_CAP], want[96], *line;
	struct fdmsg_chan *ch;
	struct relayed t;
	int i, sock;

	relayed_start(&t, 0, "--max-clients", "1");
	ch = chan_on(connect_retry(t.px, 0), 0);
	cr_assert_eq(try_echo(ch, 1), 1);
	for (i = 0; i < 64; i++) {
		sock = fdmsg_connect(t.px, 0);
		cr_assert_geq(sock, 0);
		expect_closed(sock, WAIT_MS, "a client beyond --max-clients");
		close(sock);
	}
	cr_assert_eq(try_echo(ch, 2), 1);
	fdmsg_chan_free(ch);
	stop_server(&t.proxy, t.px, err);
	cr_assert_geq(count_lines(err), 1, "no line for the refusals");
	cr_assert_leq(count_lines(err), 8, "a line per refusal? %s", err);
	snprintf(want, sizeof(want), "fdmsg proxy: --max-clients 1 reached: "
		 "connection refused");
	for (line = err; *line != '\0'; line = strchr(line, '\n') + 1)
		cr_assert_eq(strncmp(line, want, strlen(want)), 0,
			     "want '%s': %.200s", want, line);
	relayed_clean(&t);
}

/* A capture file is never written through a planted symbolic link, and
 * a failure leaves no socket behind. */
TEST(tool_proxy, capture_through_a_symlink_is_refused)
{
	char dir[PATH_MAX], srv[PATH_MAX], px[PATH_MAX + 8], cap[PATH_MAX + 8];
	char victim[PATH_MAX + 8], out[OUT_CAP], err[OUT_CAP];
	struct stat st;

	tmp_sock(dir, srv);
	snprintf(px, sizeof(px), "%s/p", dir);
	snprintf(cap, sizeof(cap), "%s/cap", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	cr_assert_eq(close(open(victim, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)),
		     0);
	cr_assert_eq(symlink(victim, cap), 0);
	cr_assert_eq(run(NULL, 0, out, err, "proxy", "--capture", cap, px,
			 srv), 1);
	cr_assert_not_null(strstr(err, ": ELOOP: "), "%s", err);
	cr_assert_eq(count_lines(err), 1, "%s", err);
	cr_assert_eq(stat(victim, &st), 0);
	cr_assert_eq(st.st_size, 0, "written through the link");
	cr_assert_eq(access(px, F_OK), -1, "a socket was left");
	cr_assert_eq(unlink(cap), 0);
	cr_assert_eq(unlink(victim), 0);
	cr_assert_eq(rmdir(dir), 0);
}

/*
 * A capture file that exists keeps its owner and mode through O_TRUNC:
 * one left readable by others (0644) must be narrowed to 0600 before a
 * payload goes in, as a created one is.
 */
TEST(tool_proxy, capture_into_an_existing_file_makes_it_0600)
{
	char dir[PATH_MAX], srv[PATH_MAX], px[PATH_MAX + 8], cap[PATH_MAX + 8];
	char err[OUT_CAP];
	struct stat st;
	struct proc p;
	int fd;

	tmp_sock(dir, srv);
	snprintf(px, sizeof(px), "%s/p", dir);
	snprintf(cap, sizeof(cap), "%s/cap", dir);
	fd = open(cap, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fchmod(fd, 0644), 0); /* whatever the umask */
	cr_assert_eq(write(fd, "old", 3), 3);
	cr_assert_eq(close(fd), 0);
	spawn(&p, -1, "proxy", "--capture", cap, px, srv);
	wait_path(px);
	cr_assert_eq(stat(cap, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o",
		     (unsigned)(st.st_mode & 07777));
	stop_server(&p, px, err);
	cr_assert_str_empty(err);
	cr_assert_eq(unlink(cap), 0);
	cr_assert_eq(rmdir(dir), 0);
}

/*
 * A FIFO planted at the capture path with nobody reading it: refused at
 * once (ENXIO), not a proxy blocked for ever in open(2); no socket is
 * left.  (A FIFO whose reader is there, a live capture, is taken.)
 */
TEST(tool_proxy, capture_into_a_fifo_without_reader_is_refused)
{
	char dir[PATH_MAX], srv[PATH_MAX], px[PATH_MAX + 8], cap[PATH_MAX + 8];
	char out[OUT_CAP], err[OUT_CAP];
	struct pollfd pfd = { .events = POLLIN };
	uint8_t head[4];
	struct proc p;
	int rd;

	tmp_sock(dir, srv);
	snprintf(px, sizeof(px), "%s/p", dir);
	snprintf(cap, sizeof(cap), "%s/cap", dir);
	cr_assert_eq(mkfifo(cap, 0600), 0);
	cr_assert_eq(run(NULL, 0, out, err, "proxy", "--capture", cap, px,
			 srv), 1);
	cr_assert_not_null(strstr(err, ": ENXIO: "), "%s", err);
	cr_assert_eq(count_lines(err), 1, "%s", err);
	cr_assert_eq(access(px, F_OK), -1, "a socket was left");

	/* Its reader there: the capture goes to it. */
	rd = open(cap, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	cr_assert_geq(rd, 0);
	spawn(&p, -1, "proxy", "--capture", cap, px, srv);
	wait_path(px);
	pfd.fd = rd;
	cr_assert_gt(poll(&pfd, 1, WAIT_MS), 0, "nothing captured");
	cr_assert_eq(read(rd, head, 4), 4);
	cr_assert_eq(memcmp(head, "\n\r\r\n", 4), 0, "not a section header");
	stop_server(&p, px, err);
	cr_assert_str_empty(err);
	close(rd);
	cr_assert_eq(unlink(cap), 0);
	cr_assert_eq(rmdir(dir), 0);
}

TEST(tool_proxy, usage_errors_exit_2)
{
	char out[OUT_CAP], err[OUT_CAP];

	cr_assert_eq(run(NULL, 0, out, err, "proxy", "/tmp/x"), 2);
	cr_assert_not_null(strstr(err, "missing TARGET_PATH"), "%s", err);
	cr_assert_eq(run(NULL, 0, out, err, "proxy"), 2);
	cr_assert_eq(run(NULL, 0, out, err, "proxy", "--max-fds", "254",
			 "/tmp/x", "/tmp/y"), 2);
	cr_assert_eq(run(NULL, 0, out, err, "proxy", "/tmp/x", "/tmp/y",
			 "/tmp/z"), 2);
}
