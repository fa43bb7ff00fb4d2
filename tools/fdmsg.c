/* SPDX-License-Identifier: ISC */
/*
 * fdmsg(1): the library's own peer, for people debugging a service and
 * for tests that need a real server.  serve lives in serve.c; send, recv
 * and decode here.  Uses only the public API (fdmsg.h).
 *
 * Exit status: 0 success, 1 a protocol, validation or system error, 2 a
 * usage error.  Messages go to stderr, one line each.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "fdmsg.h"
#include "pcapng.h"
#include "tool.h"

static const char usage_common[] =
"PATH is a filesystem path or @name (a Linux abstract socket).\n"
"Numbers are decimal or 0x hexadecimal.  Exit status: 0 success,\n"
"1 protocol or validation error, 2 usage error.\n";

#define USAGE_WIDTH 79

/* One word of a synopsis, wrapped under the first word after the name. */
static void
syn_word(size_t *col, size_t indent, const char *w1, const char *w2,
	 const char *w3)
{
	size_t n = strlen(w1) + strlen(w2) + strlen(w3);

	if (*col > indent && *col + 1 + n > USAGE_WIDTH) {
		printf("\n%*s", (int)indent, "");
		*col = indent;
	}
	printf(" %s%s%s", w1, w2, w3);
	*col += 1 + n;
}

static void
syn_operands(const struct cmd *c, size_t *col, size_t indent)
{
	size_t i;

	for (i = 0; i < OPERANDS_MAX && c->operands[i] != NULL; i++)
		syn_word(col, indent, i < c->nreq ? "" : "[", c->operands[i],
			 i < c->nreq ? "" : "]");
}

/* "fdmsg CMD [--opt ARG]... OPERANDS", after lead ("usage: " or
 * spaces, seven columns either way). */
static void
synopsis(const struct cmd *c, const char *lead)
{
	const struct opt *o;
	char word[64];
	size_t col, indent;

	printf("%sfdmsg %s", lead, c->name);
	col = indent = strlen(lead) + 6 + strlen(c->name);
	if (c->operands_first)
		syn_operands(c, &col, indent);
	for (o = c->opts; o->name != NULL; o++) {
		snprintf(word, sizeof(word), "%s%s%s", o->name,
			 o->arg != NULL ? " " : "",
			 o->arg != NULL ? o->arg : "");
		if (o->flags & OPT_REQUIRED)
			syn_word(&col, indent, "", word, "");
		else
			syn_word(&col, indent, "[", word,
				 o->flags & OPT_REPEAT ? "]..." : "]");
	}
	if (!c->operands_first)
		syn_operands(c, &col, indent);
	putchar('\n');
}

static int
usage_done(void)
{
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : EXIT_PROTO;
}

/* A command's --help: synopsis, one line per option from its table, its
 * notes.  The exit status. */
static int
usage_cmd(const struct cmd *c)
{
	const struct opt *o;
	char left[64], text[256], *w, *save;
	size_t n, col;

	synopsis(c, "usage: ");
	if (c->opts[0].name != NULL)
		fputs("options:\n", stdout);
	for (o = c->opts; o->name != NULL; o++) {
		snprintf(left, sizeof(left), "%s%s%s%s%s",
			 o->alias != NULL ? o->alias : "",
			 o->alias != NULL ? ", " : "", o->name,
			 o->arg != NULL ? " " : "",
			 o->arg != NULL ? o->arg : "");
		n = (size_t)snprintf(text, sizeof(text), "%s", o->help);
		if (o->kind == OPT_NUM && n < sizeof(text))
			n += (size_t)snprintf(text + n, sizeof(text) - n,
					      "; %llu..%llu", o->min, o->max);
		if ((o->flags & OPT_DEFAULT) && n < sizeof(text))
			snprintf(text + n, sizeof(text) - n, ", default %llu",
				 o->def);
		printf("  %-21s", left);
		col = 23;
		if (strlen(left) > 21)
			printf("\n%23s", "");
		/* Words wrapped under the first. */
		for (w = strtok_r(text, " ", &save); w != NULL;
		     w = strtok_r(NULL, " ", &save)) {
			if (col > 23 && col + 1 + strlen(w) > USAGE_WIDTH) {
				printf("\n%23s", "");
				col = 23;
			}
			printf(" %s", w);
			col += 1 + strlen(w);
		}
		putchar('\n');
	}
	if (c->notes != NULL)
		fputs(c->notes, stdout);
	fputs(usage_common, stdout);
	return usage_done();
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* The library's errno table names what the tool prints: fdmsg_errname. */
const char *
err_name(int err)
{
	static char other[24];
	const char *name = fdmsg_errname(err);

	if (name != NULL)
		return name;
	if (err < 0 && err != INT_MIN)
		err = -err;
	snprintf(other, sizeof(other), "errno %d", err);
	return other;
}

const char *
err_text(int err)
{
	const char *t = fdmsg_strerror(err);

	/* The library names its own errors; a file's open error is not one. */
	if (strcmp(t, "unknown error") == 0 && err != INT_MIN)
		t = strerror(err < 0 ? -err : err);
	return t;
}

/* "fdmsg CMD: WHAT: ERRNAME: text[: hint]" */
static int
fail_hint(const char *cmd, const char *what, int err, const char *hint)
{
	fprintf(stderr, "fdmsg %s: %s: %s: %s%s%s\n", cmd, what, err_name(err),
		err_text(err), hint != NULL ? ": " : "",
		hint != NULL ? hint : "");
	return EXIT_PROTO;
}

static int
fail(const char *cmd, const char *what, int err)
{
	return fail_hint(cmd, what, err, NULL);
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */
/* ------------------------------------------------------------------ */

/* 0: no more; 1: an option (a->name); 2: a positional argument (*pos). */
static int
args_next(struct args *a, const char **pos)
{
	const char *s, *eq;
	size_t n;

	a->inl = NULL;
	a->name[0] = '\0';
	if (a->i >= a->argc)
		return 0;
	s = a->argv[a->i++];
	if (!a->only_pos && strcmp(s, "--") == 0) {
		a->only_pos = 1;
		return args_next(a, pos);
	}
	/* Any command's --help: its usage, exit 0.  Every command parses
	 * its whole command line before it opens or allocates anything. */
	if (!a->only_pos && (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0))
		exit(usage_cmd(a->def));
	/* "-" alone is a positional (stdin for decode). */
	if (a->only_pos || s[0] != '-' || s[1] == '\0') {
		*pos = s;
		return 2;
	}
	eq = strchr(s, '=');
	n = eq != NULL ? (size_t)(eq - s) : strlen(s);
	if (n >= sizeof(a->name))
		n = sizeof(a->name) - 1; /* unknown anyway: reported by name */
	memcpy(a->name, s, n);
	a->name[n] = '\0';
	if (eq != NULL)
		a->inl = eq + 1;
	return 1;
}

/* The current option's value, or NULL (message printed) when missing. */
static const char *
args_value(struct args *a)
{
	if (a->inl != NULL)
		return a->inl;
	if (a->i >= a->argc) {
		fprintf(stderr, "fdmsg %s: %s needs a value\n", a->cmd,
			a->name);
		return NULL;
	}
	return a->argv[a->i++];
}

static const struct opt *
opt_find(const struct opt *t, const char *name)
{
	for (; t->name != NULL; t++)
		if (strcmp(t->name, name) == 0 ||
		    (t->alias != NULL && strcmp(t->alias, name) == 0))
			return t;
	return NULL;
}

/* One option's value into its field: 0, or -1 after a message. */
static int
opt_set(struct args *a, const struct opt *o, char *field)
{
	const char *v;

	if (o->kind == OPT_FLAG) {
		if (a->inl != NULL) {
			fprintf(stderr, "fdmsg %s: %s takes no value\n",
				a->cmd, a->name);
			return -1;
		}
		*(int *)(void *)field = 1;
		return 0;
	}
	if ((v = args_value(a)) == NULL)
		return -1;
	switch (o->kind) {
	case OPT_NUM:
		return opt_num(a, v, o->min, o->max,
			       (unsigned long long *)(void *)field);
	case OPT_STR:
		*(const char **)(void *)field = v;
		return 0;
	default:
		return o->fn(a, v, field);
	}
}

int
opts_parse(const struct cmd *c, int argc, char **argv, void *cfg,
	   const char **pos)
{
	struct args a = { .def = c, .cmd = c->name, .argc = argc,
			  .argv = argv };
	unsigned long long seen = 0;
	const struct opt *o;
	const char *p;
	char *base = cfg;
	size_t npos = 0, i;
	int k;

	for (i = 0; i < OPERANDS_MAX; i++)
		pos[i] = NULL;
	for (o = c->opts; o->name != NULL; o++)
		if (o->kind == OPT_NUM && (o->flags & OPT_DEFAULT))
			*(unsigned long long *)(void *)(base + o->off) = o->def;
	while ((k = args_next(&a, &p)) != 0) {
		if (k == 2) {
			if (npos == OPERANDS_MAX || c->operands[npos] == NULL) {
				fprintf(stderr, "fdmsg %s: unexpected "
					"argument '%s'\n", c->name, p);
				return EXIT_USAGE;
			}
			pos[npos++] = p;
			continue;
		}
		if ((o = opt_find(c->opts, a.name)) == NULL) {
			fprintf(stderr, "fdmsg %s: unknown option %s (fdmsg "
				"%s --help lists them)\n", c->name, a.name,
				c->name);
			return EXIT_USAGE;
		}
		if (opt_set(&a, o, base + o->off) < 0)
			return EXIT_USAGE;
		i = (size_t)(o - c->opts);
		if (i < 64)
			seen |= 1ull << i;
	}
	if (npos < c->nreq) {
		fprintf(stderr, "fdmsg %s: missing %s\n", c->name,
			c->operands[npos]);
		return EXIT_USAGE;
	}
	for (o = c->opts, i = 0; o->name != NULL; o++, i++) {
		if ((o->flags & OPT_REQUIRED) &&
		    (i >= 64 || !(seen & (1ull << i)))) {
			fprintf(stderr, "fdmsg %s: missing %s\n", c->name,
				o->name);
			return EXIT_USAGE;
		}
	}
	return 0;
}

int
opt_num(const struct args *a, const char *val, unsigned long long min,
	unsigned long long max, unsigned long long *out)
{
	const char *p = val;
	unsigned long long v;
	char *end;
	int base = 10;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	/* strtoull alone would take spaces, a sign, and a second "0x". */
	if (*p == '\0')
		goto bad;
	for (end = (char *)(uintptr_t)p; *end != '\0'; end++)
		if (base == 10 ? !isdigit((unsigned char)*end)
			       : !isxdigit((unsigned char)*end))
			goto bad;
	errno = 0;
	v = strtoull(p, &end, base);
	if (errno == ERANGE || v < min || v > max) {
		fprintf(stderr, "fdmsg %s: %s: %s is out of range %llu..%llu\n",
			a->cmd, a->name, val, min, max);
		return -1;
	}
	if (errno != 0 || *end != '\0')
		goto bad;
	*out = v;
	return 0;
bad:
	fprintf(stderr, "fdmsg %s: %s: '%s' is not a number\n", a->cmd,
		a->name, val);
	return -1;
}

/* ------------------------------------------------------------------ */
/* SIGINT and SIGTERM as a readable pipe (proxy; serve off Linux)      */
/* ------------------------------------------------------------------ */

static int sigpipe_w = -1;

static void
on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (write(sigpipe_w, &c, 1) < 0) {
		/* Full pipe: a wakeup is already pending. */
	}
	errno = saved;
}

static int
set_fl(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -errno;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int
sigpipe_open(void)
{
	struct sigaction sa;
	int p[2], r;

	if (pipe(p) < 0)
		return -errno;
	if ((r = set_fl(p[0])) < 0 || (r = set_fl(p[1])) < 0) {
		close(p[0]);
		close(p[1]);
		return r;
	}
	sigpipe_w = p[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return p[0];
}

void
sigpipe_close(int fd)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (fd >= 0)
		close(fd);
	if (sigpipe_w >= 0)
		close(sigpipe_w);
	sigpipe_w = -1;
}

void
refuse_log(struct refusals *r, const char *fmt, ...)
{
	int64_t now = now_ms();
	va_list ap;

	if (r->logged_at != 0 && now - r->logged_at < REFUSE_LOG_MS) {
		r->quiet++;
		return;
	}
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (r->quiet > 0)
		fprintf(stderr, " (and %lu more refused since the last line)",
			r->quiet);
	fputc('\n', stderr);
	r->logged_at = now;
	r->quiet = 0;
}

int
accept_shed(const char *cmd, int lfd, int *reserve, int err)
{
	int fd;

	if (*reserve >= 0) {
		close(*reserve);
		*reserve = -1;
	}
	fd = fdmsg_accept(lfd, NULL, 0);
	if (fd >= 0)
		close(fd);
	*reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd == -EAGAIN || fd == -EWOULDBLOCK)
		return -EAGAIN;
	fprintf(stderr, "fdmsg %s: accept: %s: %s: %s\n", cmd, err_name(err),
		err_text(err), fd >= 0 ? "connection shed" :
		"cannot shed, resting");
	return fd >= 0 ? 0 : fd;
}

/* ------------------------------------------------------------------ */
/* The socket file a command created (serve, recv)                     */
/* ------------------------------------------------------------------ */

void
sockfile_note(struct sockfile *f, const char *path)
{
	struct stat st;

	f->known = 0;
	if (path[0] == '@' || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->known = 1;
}

void
sockfile_remove(const struct sockfile *f, const char *path)
{
	struct stat st;

	/* Between this lstat and the unlink a rename can still slip in:
	 * only a writer of the directory can do that, and it could as
	 * well remove the file itself. */
	if (f->known && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == f->dev && st.st_ino == f->ino)
		unlink(path);
}

/* ------------------------------------------------------------------ */
/* Printing a received frame (recv, send --reply)                      */
/* ------------------------------------------------------------------ */

static const char *
fd_kind(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return "unknown";
	if (S_ISREG(st.st_mode))
		return "file";
	if (S_ISDIR(st.st_mode))
		return "dir";
	if (S_ISFIFO(st.st_mode))
		return "fifo";
	if (S_ISSOCK(st.st_mode))
		return "socket";
	if (S_ISCHR(st.st_mode))
		return "chr";
	if (S_ISBLK(st.st_mode))
		return "blk";
	if (S_ISLNK(st.st_mode)) /* O_PATH | O_NOFOLLOW */
		return "link";
	return "unknown";
}

/* Only names what the descriptor refers to: never reopened through it. */
static void
fd_target(int fd, char *buf, size_t size)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, size - 1);
	if (n < 0) {
		snprintf(buf, size, "?");
		return;
	}
	buf[n] = '\0';
}

/* "type=N peerid=N len=N fds=N", one line per descriptor, the payload. */
static int
print_msg(const struct fdmsg_msg *m, int payload)
{
	char target[PATH_MAX];
	unsigned i;

	printf("type=%" PRIu32 " peerid=%" PRIu32 " len=%zu fds=%u\n",
	       m->type, m->peerid, m->len, m->nfds);
	for (i = 0; i < m->nfds; i++) {
		if (m->fds[i] < 0) {
			printf("  fd[%u]: none\n", i);
			continue;
		}
		fd_target(m->fds[i], target, sizeof(target));
		printf("  fd[%u]: %s %s\n", i, fd_kind(m->fds[i]), target);
	}
	/* A newline after a payload that lacks one, so the next frame's
	 * line starts a line: len= tells whether it was the payload's. */
	if (payload && m->len > 0) {
		fwrite(m->payload, 1, m->len, stdout);
		if (((const char *)m->payload)[m->len - 1] != '\n')
			putchar('\n');
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		return -EIO;
	return 0;
}

/* Receive and send with every limit at its cap: the tool debugs peers. */
static void
wide_opts(struct fdmsg_opts *o)
{
	fdmsg_opts_init(o);
	o->max_fds = FDMSG_MAX_FDS_CAP;
	o->max_frame = FDMSG_MAX_FRAME_CAP;
	o->max_queue = FDMSG_MAX_FRAME_CAP;
}

/* ------------------------------------------------------------------ */
/* send                                                                */
/* ------------------------------------------------------------------ */

/*
 * The whole file ("-": stdin), at most max bytes: 0, -EMSGSIZE past it,
 * or -errno.
 */
static int
read_file(const char *path, size_t max, char **out, size_t *outlen)
{
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd, ret = 0;

	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	for (;;) {
		if (len == cap) {
			/* One byte over max tells "too large" from "exact". */
			if (cap > max) {
				ret = -EMSGSIZE;
				goto out;
			}
			cap = cap == 0 ? 4096 : cap * 2;
			if (cap > max + 1)
				cap = max + 1;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				ret = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max)
		ret = -EMSGSIZE;
out:
	if (fd != STDIN_FILENO)
		close(fd);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What is left of a deadline (0: none) as a timeout for the library. */
static int
left_ms(long long deadline)
{
	long long now;

	if (deadline == 0)
		return -1;
	now = now_ms();
	return now >= deadline ? 0 : (int)(deadline - now);
}

/*
 * The peer's hello into *info, waiting up to ms (at most a second, and
 * not past the deadline): 0, -EAGAIN when none came, or -errno.  A frame
 * that comes before the hello is dropped: only a peer that speaks first
 * sends one, and we do not wait for it.
 */
static int
wait_hello(struct fdmsg_chan *ch, long long deadline,
	   struct fdmsg_peer_info *info)
{
	struct fdmsg_msg m = { 0 };
	struct pollfd p;
	int r, i, left;

	for (i = 0; i < 100; i++) {
		r = fdmsg_peer_info(ch, info);
		if (r != -EAGAIN)
			break;
		left = left_ms(deadline);
		if (left == 0)
			break;
		p.fd = fdmsg_chan_fd(ch);
		p.events = POLLIN;
		if (poll(&p, 1, 10) < 0 && errno != EINTR)
			break;
		/* Frames after the hello stay unread: only we asked. */
		if (fdmsg_recv(ch, &m) == 0)
			fdmsg_msg_release(&m);
	}
	return r;
}

/*
 * -v: the limits the peer's hello gave; a peer that does not greet back
 * (a raw program, or one that spoke first) is said so.
 */
static void
print_peer(int r, const struct fdmsg_peer_info *info, const char *path)
{
	if (r < 0) {
		fprintf(stderr, "fdmsg send: %s: no hello from the peer (%s)\n",
			path, r == -EAGAIN ? "none within 1 s" :
			err_name(r));
		return;
	}
	fprintf(stderr, "fdmsg send: %s: peer speaks versions %u-%u (using %u): "
		"max_frame %" PRIu32 ", max_batch %" PRIu32 ", max_fds %" PRIu32
		", caps %#" PRIx32 "\n", path, (unsigned)info->hello.min_version,
		(unsigned)info->hello.max_version, (unsigned)info->version,
		info->hello.max_frame, info->hello.max_batch,
		info->hello.max_fds, info->hello.caps);
}

/*
 * A hint for the usual mistakes behind a failed connect: the wrong
 * socket type, a path that is no socket.
 */
static const char *
connect_hint(const char *path, int err, int stream, char *buf, size_t size)
{
	struct stat st;

	if (err == -EPROTOTYPE) {
		snprintf(buf, size, "%s is not a %s socket: %s", path,
			 stream ? "SOCK_STREAM" : "SOCK_SEQPACKET",
			 stream ? "omit --stream" : "try --stream");
		return buf;
	}
	/* connect follows symbolic links: so does stat. */
	if ((err != -ECONNREFUSED && err != -ENOTSOCK) || path[0] == '@' ||
	    stat(path, &st) < 0)
		return NULL;
	if (S_ISSOCK(st.st_mode))
		return NULL;
	snprintf(buf, size, "%s is not a socket", path);
	return buf;
}

/*
 * Opens a file to send: never blocks (a FIFO without a writer, a
 * device), and never makes a terminal ours.  The description sent is
 * blocking again, as a plain open would have made it.
 */
static int
open_to_send(const char *path)
{
	int fd, fl;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		fl = -errno;
		close(fd);
		return fl;
	}
	return fd;
}

/* What send was asked to do. */
struct send_cfg {
	const char *path, *data, *file;
	struct fdlist {
		const char *path[FDMSG_MAX_FDS_CAP];
		size_t n;
	} fds;
	unsigned long long type, peerid, timeout;
	int stream, reply, payload, verbose;
};

/* --fd, repeated: every path in order. */
static int
opt_fdpath(const struct args *a, const char *val, void *field)
{
	struct fdlist *l = field;

	if (l->n == FDMSG_MAX_FDS_CAP) {
		fprintf(stderr, "fdmsg %s: %s: more than %u descriptors\n",
			a->cmd, a->name, FDMSG_MAX_FDS_CAP);
		return -1;
	}
	l->path[l->n++] = val;
	return 0;
}

#define SEND(f) offsetof(struct send_cfg, f)
static const struct opt send_opts[] = {
	{ "--stream", NULL, OPT_FLAG, NULL, SEND(stream), 0, 0, 0, 0, NULL,
	  "connect with a SOCK_STREAM socket" },
	{ "--type", NULL, OPT_NUM, "N", SEND(type), OPT_REQUIRED, 0,
	  UINT32_MAX, 0, NULL, "the frame's type" },
	{ "--peerid", NULL, OPT_NUM, "N", SEND(peerid), OPT_DEFAULT, 0,
	  UINT32_MAX, 0, NULL, "the frame's peerid" },
	{ "--data", NULL, OPT_STR, "TEXT", SEND(data), 0, 0, 0, 0, NULL,
	  "the payload (not with --file)" },
	{ "--file", NULL, OPT_STR, "F", SEND(file), 0, 0, 0, 0, NULL,
	  "the payload: file F, - for stdin" },
	{ "--fd", NULL, OPT_FUNC, "FILE", SEND(fds), OPT_REPEAT, 0, 0, 0,
	  opt_fdpath, "attach FILE opened read-only (up to 253 times)" },
	{ "--reply", NULL, OPT_FLAG, NULL, SEND(reply), 0, 0, 0, 0, NULL,
	  "wait for one frame in answer and print it" },
	{ "--payload", NULL, OPT_FLAG, NULL, SEND(payload), 0, 0, 0, 0, NULL,
	  "with --reply: print the reply's payload too" },
	/* A day at most, as serve's timeouts; 0: none. */
	{ "--timeout", NULL, OPT_NUM, "MS", SEND(timeout), OPT_DEFAULT, 0,
	  86400000, 0, NULL, "bound the waits from connecting on (0: none)" },
	{ "--verbose", "-v", OPT_FLAG, NULL, SEND(verbose), 0, 0, 0, 0, NULL,
	  "print the server's limits from its hello" },
	OPT_END,
};
#undef SEND

static int cmd_send(int argc, char **argv);

static const struct cmd send_cmd = {
	"send", cmd_send, send_opts, { "PATH" }, 1, 1,
	NULL,
};

/* The command line into *c: 0, or EXIT_USAGE after a message. */
static int
send_parse(int argc, char **argv, struct send_cfg *c)
{
	const char *pos[OPERANDS_MAX];
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = opts_parse(&send_cmd, argc, argv, c, pos)) != 0)
		return r;
	c->path = pos[0];
	if (c->data != NULL && c->file != NULL) {
		fprintf(stderr, "fdmsg send: --data and --file exclude each "
			"other\n");
		return EXIT_USAGE;
	}
	if (c->payload && !c->reply) {
		fprintf(stderr, "fdmsg send: --payload prints the reply's: it "
			"needs --reply\n");
		return EXIT_USAGE;
	}
	return 0;
}

/* Connects, sends, and with --reply prints the answer: exit status. */
static int
send_run(const struct send_cfg *c)
{
	int fds[FDMSG_MAX_FDS_CAP];
	const char *path = c->path, *file = c->file;
	struct fdmsg_chan *ch = NULL;
	struct fdmsg_msg msg = { 0 };
	struct fdmsg_peer_info info;
	struct fdmsg_opts o;
	struct iovec iov = { 0 };
	long long deadline = 0;
	char *filebuf = NULL, hint[PATH_MAX + 64];
	size_t filelen = 0, nfd = c->fds.n, sent_fds, i;
	int fd, r, hr = -EAGAIN, ret;

	if (file != NULL) {
		r = read_file(file, FDMSG_MAX_FRAME_CAP - FDMSG_HDR_SIZE,
			      &filebuf, &filelen);
		if (r < 0)
			return fail("send", strcmp(file, "-") == 0 ? "stdin" :
				    file, r);
		iov.iov_base = filebuf;
		iov.iov_len = filelen;
	} else if (c->data != NULL) {
		iov.iov_base = (void *)(uintptr_t)c->data;
		iov.iov_len = strlen(c->data);
	}

	/* Open every file first: a failure leaves no connection behind. */
	for (i = 0; i < nfd; i++) {
		fds[i] = open_to_send(c->fds.path[i]);
		if (fds[i] < 0) {
			fail("send", c->fds.path[i], fds[i]);
			while (i-- > 0)
				close(fds[i]);
			free(filebuf);
			return EXIT_PROTO;
		}
	}

	ret = EXIT_PROTO;
	if (c->timeout != 0)
		deadline = now_ms() + (long long)c->timeout;
	fd = fdmsg_connect(path, c->stream ? SOCK_STREAM : 0);
	if (fd < 0) {
		fail_hint("send", path, fd, connect_hint(path, fd, c->stream,
							  hint, sizeof(hint)));
		goto close_fds;
	}
	wide_opts(&o);
	/* The connecting side greets: the server answers with its limits. */
	r = fdmsg_chan_new(&ch, fd, &o, FDMSG_CHAN_OWN_FD | FDMSG_CHAN_HELLO);
	if (r < 0) {
		fail("send", path, r);
		goto close_fds;
	}
	/* -v, or descriptors to send: wait for the answer first, so that
	 * what the server refuses (too large, too many descriptors) is
	 * refused here, before it leaves, and said so. */
	if (c->verbose || nfd > 0)
		hr = wait_hello(ch, deadline, &info);
	if (c->verbose)
		print_peer(hr, &info, path);
	/* FDMSG_CLOSE_FDS: ours are closed from here on, whatever happens. */
	r = fdmsg_send(ch, (uint32_t)c->type, (uint32_t)c->peerid, &iov, 1,
		       fds, nfd, FDMSG_CLOSE_FDS);
	sent_fds = nfd;
	nfd = 0;
	if (r == 0)
		r = fdmsg_flush_wait(ch, left_ms(deadline));
	if (r == -ETIMEDOUT) {
		fprintf(stderr, "fdmsg send: %s: ETIMEDOUT: the frame did not "
			"leave within %llu ms\n", path, c->timeout);
		goto out;
	}
	if (r == -EPERM && sent_fds > 0) {
		if (hr == 0 && info.hello.max_fds > 0)
			snprintf(hint, sizeof(hint), "the server accepts at "
				 "most %" PRIu32 " descriptors per frame "
				 "(serve --max-fds N)", info.hello.max_fds);
		else
			snprintf(hint, sizeof(hint), "the server accepts no "
				 "descriptors (serve --max-fds N)");
		fail_hint("send", path, r, hint);
		goto out;
	}
	if (r < 0) {
		fail("send", path, r);
		goto out;
	}
	if (c->reply) {
		r = fdmsg_recv_wait(ch, &msg, left_ms(deadline));
		if (r == -EPIPE) {
			fprintf(stderr, "fdmsg send: %s: EPIPE: peer closed "
				"without replying\n", path);
			goto out;
		}
		if (r == -ETIMEDOUT) {
			fprintf(stderr, "fdmsg send: %s: ETIMEDOUT: no reply "
				"within %llu ms\n", path, c->timeout);
			goto out;
		}
		if (r < 0) {
			fail("send", path, r);
			goto out;
		}
		r = print_msg(&msg, c->payload);
		fdmsg_msg_release(&msg);
		if (r < 0) {
			fail("send", "stdout", r);
			goto out;
		}
	}
	ret = 0;
out:
	fdmsg_chan_free(ch);
close_fds:
	for (i = 0; i < nfd; i++)
		close(fds[i]);
	free(filebuf);
	return ret;
}

static int
cmd_send(int argc, char **argv)
{
	struct send_cfg c;
	int r;

	if ((r = send_parse(argc, argv, &c)) != 0)
		return r;
	return send_run(&c);
}

/* ------------------------------------------------------------------ */
/* recv                                                                */
/* ------------------------------------------------------------------ */

static const char *volatile recv_path;
static struct sockfile recv_file; /* set before recv_path */

/* Remove our socket file on the way out, then die of the signal. */
static void
recv_on_signal(int sig)
{
	const char *p = recv_path;

	if (p != NULL)
		sockfile_remove(&recv_file, p);
	signal(sig, SIG_DFL);
	raise(sig);
}

struct recv_cfg {
	unsigned long long count; /* 0: one client, until it closes */
	int stream, payload;
};

#define RECV(f) offsetof(struct recv_cfg, f)
static const struct opt recv_opts[] = {
	{ "--stream", NULL, OPT_FLAG, NULL, RECV(stream), 0, 0, 0, 0, NULL,
	  "listen on a SOCK_STREAM socket" },
	{ "--count", NULL, OPT_NUM, "N", RECV(count), 0, 1, UINT32_MAX, 0,
	  NULL, "stop after N frames, from clients one after another" },
	{ "--payload", NULL, OPT_FLAG, NULL, RECV(payload), 0, 0, 0, 0, NULL,
	  "print each payload, ended by a newline if it lacks one" },
	OPT_END,
};
#undef RECV

static int cmd_recv(int argc, char **argv);

static const struct cmd recv_cmd = {
	"recv", cmd_recv, recv_opts, { "PATH" }, 1, 1,
	"recv: without --count, one client, until it closes.\n",
};

static int
cmd_recv(int argc, char **argv)
{
	const char *pos[OPERANDS_MAX], *path;
	struct recv_cfg c;
	struct fdmsg_chan *ch = NULL;
	struct fdmsg_msg msg = { 0 };
	struct fdmsg_opts o;
	struct sigaction sa;
	unsigned long long count, n = 0;
	int lfd = -1, fd, r, ret = EXIT_PROTO;

	memset(&c, 0, sizeof(c));
	if ((r = opts_parse(&recv_cmd, argc, argv, &c, pos)) != 0)
		return r;
	path = pos[0];
	count = c.count;

	lfd = fdmsg_listen(path, c.stream ? SOCK_STREAM : 0, 0);
	if (lfd < 0)
		return fail("recv", path, lfd);
	sockfile_note(&recv_file, path);
	recv_path = path;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = recv_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/*
	 * Clients one after another: without --count, the first until it
	 * closes; with it, as many as it takes to bring N frames, each
	 * waiting in the backlog until the one before has closed.
	 */
	while (count == 0 || n < count) {
		fd = fdmsg_accept(lfd, NULL, 0);
		/* One client: later ones are refused, not left waiting. */
		if (count == 0) {
			close(lfd);
			lfd = -1;
		}
		if (fd < 0) {
			fail("recv", path, fd);
			goto out;
		}
		wide_opts(&o);
		r = fdmsg_chan_new(&ch, fd, &o, FDMSG_CHAN_OWN_FD);
		if (r < 0) {
			fail("recv", path, r);
			goto out;
		}
		while (count == 0 || n < count) {
			r = fdmsg_recv_wait(ch, &msg, -1);
			if (r == -EPIPE)
				break;
			if (r < 0) {
				fail("recv", path, r);
				goto out;
			}
			r = print_msg(&msg, c.payload);
			fdmsg_msg_release(&msg);
			if (r < 0) {
				fail("recv", "stdout", r);
				goto out;
			}
			n++;
		}
		fdmsg_chan_free(ch);
		ch = NULL;
		if (count == 0)
			break;
	}
	ret = 0;
out:
	fdmsg_chan_free(ch);
	if (lfd >= 0)
		close(lfd);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	recv_path = NULL;
	sockfile_remove(&recv_file, path);
	return ret;
}

/* ------------------------------------------------------------------ */
/* decode                                                              */
/* ------------------------------------------------------------------ */

/* Reads up to n bytes; fewer only at end of input.  Or -errno. */
static ssize_t
read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = read(fd, (char *)buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* A hello opening the stream (its first n bytes in head): one line. */
static int
decode_hello(int fd, const uint8_t *head, size_t n)
{
	uint8_t buf[FDMSG_HELLO_SIZE];
	struct fdmsg_hello h;
	ssize_t got;
	int r;

	memcpy(buf, head, n);
	got = read_full(fd, buf + n, sizeof(buf) - n);
	if (got < 0)
		return (int)got;
	r = fdmsg_hello_decode(buf, n + (size_t)got, &h);
	if (r == 0)
		r = -EBADMSG; /* cut short */
	if (r < 0)
		return r;
	printf("offset=0 hello versions=%u-%u max_frame=%" PRIu32
	       " max_batch=%" PRIu32 " max_fds=%" PRIu32 " caps=%#" PRIx32 "\n",
	       (unsigned)h.min_version, (unsigned)h.max_version, h.max_frame,
	       h.max_batch, h.max_fds, h.caps);
	return 0;
}

/* What decode already read of a capture, then the rest from fd. */
struct capture_src {
	int fd;
	const uint8_t *head;
	size_t n;
};

static long
capture_read(void *ctx, void *buf, size_t n)
{
	struct capture_src *s = ctx;
	size_t k = s->n < n ? s->n : n;
	ssize_t r;

	if (n > LONG_MAX)
		return -EINVAL;
	if (k > 0) {
		memcpy(buf, s->head, k);
		s->head += k;
		s->n -= k;
	}
	r = read_full(s->fd, (char *)buf + k, n - k);
	return r < 0 ? (long)r : (long)(k + (size_t)r);
}

/* A capture (proxy --capture): one line per record.  Exit status. */
static int
decode_capture(int fd, const uint8_t *head, size_t n, const char *name)
{
	struct capture_src src = { fd, head, n };
	const char *why = NULL;
	uint64_t off = 0;
	int r;

	r = pcapng_decode(capture_read, &src, stdout, err_name, &off, &why);
	if (r == 0)
		return 0;
	if (why != NULL && strcmp(why, "read") == 0)
		return fail("decode", name, r);
	/* The rule the file breaks says more than the errno's text. */
	fprintf(stderr, "fdmsg decode: offset %" PRIu64 ": %s: %s\n", off,
		err_name(r), why != NULL ? why : err_text(r));
	return EXIT_PROTO;
}

static int cmd_decode(int argc, char **argv);

static const struct opt decode_opts[] = {
	OPT_END,
};

static const struct cmd decode_cmd = {
	"decode", cmd_decode, decode_opts, { "FILE" }, 0, 0,
	"decode: FILE - or none reads stdin; a capture (proxy --capture) is\n"
	"read as one, a record a line.\n",
};

static int
cmd_decode(int argc, char **argv)
{
	static char skip[65536];
	uint8_t raw[FDMSG_HDR_SIZE];
	const char *pos[OPERANDS_MAX], *file, *name;
	struct fdmsg_hdr h;
	unsigned long long off = 0;
	size_t left, chunk;
	ssize_t n;
	int fd = STDIN_FILENO, r, ret = EXIT_PROTO;

	if ((r = opts_parse(&decode_cmd, argc, argv, NULL, pos)) != 0)
		return r;
	file = pos[0];
	if (file != NULL && strcmp(file, "-") != 0) {
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fail("decode", file, -errno);
	}
	name = file != NULL ? file : "stdin";

	for (;;) {
		n = read_full(fd, raw, sizeof(raw));
		if (n < 0) {
			fail("decode", name, (int)n);
			goto out;
		}
		if (n == 0)
			break;
		if (off == 0 && pcapng_is(raw, (size_t)n)) {
			ret = decode_capture(fd, raw, (size_t)n, name);
			goto out;
		}
		if (off == 0 && fdmsg_hello_is(raw, (size_t)n)) {
			r = decode_hello(fd, raw, (size_t)n);
			if (r < 0) {
				fprintf(stderr, "fdmsg decode: offset 0: %s: %s "
					"(a hello)\n", err_name(r), err_text(r));
				goto out;
			}
			off = FDMSG_HELLO_SIZE;
			continue;
		}
		r = (size_t)n < sizeof(raw) ? -EBADMSG :
			fdmsg_hdr_decode(raw, sizeof(raw), FDMSG_MAX_FRAME_CAP,
					 FDMSG_MAX_FDS_CAP, &h);
		/* A whole header never reads as "need more"; be sure. */
		if (r == 0)
			r = -EBADMSG;
		for (left = r > 0 ? h.len - FDMSG_HDR_SIZE : 0; left > 0;
		     left -= (size_t)n) {
			chunk = left < sizeof(skip) ? left : sizeof(skip);
			n = read_full(fd, skip, chunk);
			if (n < 0) {
				fail("decode", name, (int)n);
				goto out;
			}
			if ((size_t)n < chunk) {
				r = -EBADMSG; /* the last frame is cut short */
				break;
			}
		}
		if (r < 0) {
			fprintf(stderr, "fdmsg decode: offset %llu: %s: %s\n",
				off, err_name(r), err_text(r));
			goto out;
		}
		printf("offset=%llu type=%" PRIu32 " peerid=%" PRIu32
		       " len=%" PRIu32 " nfds=%u\n", off, h.type, h.peerid,
		       h.len, (unsigned)h.nfds);
		off += h.len;
	}
	ret = 0;
out:
	if (fflush(stdout) != 0 && ret == 0)
		ret = fail("decode", "stdout", -EIO);
	if (fd != STDIN_FILENO)
		close(fd);
	return ret;
}

/* ------------------------------------------------------------------ */

/* Every command; fdmsg --help lists them in this order. */
static const struct cmd *const cmds[] = {
	&serve_cmd, &send_cmd, &recv_cmd, &proxy_cmd, &decode_cmd,
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static const struct cmd *
cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i]->name, name) == 0)
			return cmds[i];
	return NULL;
}

/* "serve, send, recv, decode" */
static void
cmd_names(FILE *f)
{
	size_t i;

	for (i = 0; i < NCMDS; i++)
		fprintf(f, "%s%s", i > 0 ? ", " : "", cmds[i]->name);
}

/* fdmsg --help: every command's synopsis. */
static int
usage_all(void)
{
	size_t i;

	for (i = 0; i < NCMDS; i++)
		synopsis(cmds[i], i == 0 ? "usage: " : "       ");
	fputs("fdmsg COMMAND --help: that command's options; fdmsg --version "
	      "(-V).\n", stdout);
	fputs(usage_common, stdout);
	return usage_done();
}

static int
unknown_cmd(const char *what, const char *name)
{
	fprintf(stderr, "fdmsg: %s", what);
	if (name != NULL)
		fprintf(stderr, " '%s'", name);
	fputs(" (", stderr);
	cmd_names(stderr);
	fputs("; fdmsg --help for usage)\n", stderr);
	return EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	const struct cmd *c;
	const char *cmd;

	if (argc < 2)
		return unknown_cmd("missing command", NULL);
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    (strcmp(cmd, "help") == 0 && argc == 2))
		return usage_all();
	if (strcmp(cmd, "help") == 0) {
		if ((c = cmd_find(argv[2])) == NULL)
			return unknown_cmd("unknown command", argv[2]);
		return usage_cmd(c);
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
		/* The library loaded may be another build than the header's. */
		if (strcmp(fdmsg_version(), FDMSG_VERSION_STRING) == 0)
			printf("fdmsg %s\n", FDMSG_VERSION_STRING);
		else
			printf("fdmsg %s (libfdmsg %s)\n",
			       FDMSG_VERSION_STRING, fdmsg_version());
		return usage_done();
	}
	if ((c = cmd_find(cmd)) == NULL)
		return unknown_cmd("unknown command", cmd);
	return c->run(argc - 2, argv + 2);
}
