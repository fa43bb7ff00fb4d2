/* SPDX-License-Identifier: ISC */
/* fdmsg(1): what the command files share.  Not installed. */
#ifndef FDMSG_TOOL_H
#define FDMSG_TOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Exit statuses (DESIGN.md, "The command-line tool"). */
#define EXIT_PROTO 1 /* a protocol, validation or system error */
#define EXIT_USAGE 2 /* malformed command line or option value */

/*
 * The command line: options ("--name", "--name=value") and positional
 * arguments in any order; "--" ends the options.
 */
struct cmd;

struct args {
	const struct cmd *def; /* the command being parsed */
	const char *cmd; /* for messages: "serve", "send", ... */
	int argc;
	char **argv;
	int i;
	const char *inl; /* value given as --name=value, else NULL */
	char name[32];   /* the current option, without its value */
	int only_pos;    /* after "--" */
};

/*
 * Each command's options are one table of struct opt, ended by an entry
 * whose name is NULL.  opts_parse walks the command line against it, so
 * the parser, "unknown option" and the --help text come from the same
 * rows.  Each row names a field of the command's own configuration
 * struct by offsetof:
 *   OPT_FLAG  int, set to 1; the option takes no value;
 *   OPT_NUM   unsigned long long, decimal or 0x hex in [min, max]; with
 *             OPT_DEFAULT, set to def before parsing and shown in --help;
 *   OPT_STR   const char *, the value as given;
 *   OPT_FUNC  fn(a, value, field): 0, or -1 after a one-line message
 *             (lists, octal modes, repeated options).
 * Flags: OPT_REQUIRED ("missing --type" when absent), OPT_REPEAT ("..."
 * in the synopsis; the field's fn keeps every value).  An option given
 * twice otherwise keeps its last value.  At most 64 rows per table.
 */
enum opt_kind { OPT_FLAG, OPT_NUM, OPT_STR, OPT_FUNC };

#define OPT_REQUIRED 0x1u
#define OPT_REPEAT   0x2u
#define OPT_DEFAULT  0x4u

struct opt {
	const char *name;  /* "--max-fds"; NULL ends the table */
	const char *alias; /* "-v", or NULL */
	enum opt_kind kind;
	const char *arg;   /* the value's name in the usage: "N", "MS" */
	size_t off;        /* offsetof(the command's struct, field) */
	unsigned flags;
	unsigned long long min, max, def; /* OPT_NUM */
	int (*fn)(const struct args *a, const char *val, void *field);
	const char *help;  /* one line for --help */
};

/* Ends a table. */
#define OPT_END { NULL, NULL, OPT_FLAG, NULL, 0, 0, 0, 0, 0, NULL, NULL }

#define OPERANDS_MAX 3

/*
 * A command: fdmsg.c's dispatch table lists one per command.  The
 * operands (positional arguments) are named for the usage and the
 * "missing PATH" message; the first nreq are required.
 */
struct cmd {
	const char *name;
	int (*run)(int argc, char **argv); /* argv after the command name */
	const struct opt *opts;
	const char *operands[OPERANDS_MAX];
	unsigned nreq;
	int operands_first; /* synopsis: "send PATH --type N", not last */
	const char *notes;  /* after the option list; may be NULL */
};

/*
 * Parses argv (argc entries, after the command name) against c->opts
 * into cfg, the operands into pos[OPERANDS_MAX] (NULL when absent).
 * 0, or EXIT_USAGE after a one-line message.  --help or -h anywhere
 * among the options prints c's usage and exits 0: commands parse their
 * whole command line before they take any resource.
 */
int opts_parse(const struct cmd *c, int argc, char **argv, void *cfg,
	       const char **pos);

/* The dispatch table's commands (serve.c, fdmsg.c). */
extern const struct cmd serve_cmd;
extern const struct cmd proxy_cmd;

/*
 * A decimal (or 0x hexadecimal) number in [min, max]: 0, or -1 after a
 * one-line message naming the option.  Never clamps.
 */
int opt_num(const struct args *a, const char *val, unsigned long long min,
	    unsigned long long max, unsigned long long *out);

/* "EPROTO", "EBADMSG", ... for a negative (or positive) errno. */
const char *err_name(int err);
/* fdmsg_strerror, or the C library's text for an errno it does not know. */
const char *err_text(int err);

/* Milliseconds since an arbitrary start, monotonic: deadlines. */
int64_t now_ms(void);

/*
 * Refusals at accept, logged at most a line per REFUSE_LOG_MS: a connect
 * loop must not flood the log.  refuse_log prints fmt's line (without
 * its newline) unless one was printed less than REFUSE_LOG_MS ago, and
 * counts it otherwise; the next line printed says how many were left
 * out.  Zeroed: nothing logged yet.
 */
#define REFUSE_LOG_MS 1000

struct refusals {
	int64_t logged_at;   /* ms: the last line; 0: none */
	unsigned long quiet; /* refusals since, not logged */
};

void refuse_log(struct refusals *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * SIGINT and SIGTERM as a readable pipe, for a poll loop: the read end
 * (non-blocking, close-on-exec), or -errno.  sigpipe_close restores the
 * default actions and closes both ends.
 */
int sigpipe_open(void);
void sigpipe_close(int fd);

/*
 * accept on lfd failed with err (-EMFILE or -ENFILE): takes the pending
 * connection with the reserve's slot (*reserve, a descriptor kept open
 * for this, reopened after) and closes it, so that the client sees its
 * end and the listener does not stay readable for ever.  0: shed;
 * -EAGAIN: nothing was pending; another -errno: nothing could be taken,
 * and the caller rests its listener.  Both but -EAGAIN print
 * "fdmsg CMD: accept: ERRNAME: text: connection shed" (or "cannot
 * shed, resting").
 */
int accept_shed(const char *cmd, int lfd, int *reserve, int err);

/*
 * The socket file a command created, so that it removes that one and
 * nothing else: not another server's socket or a file that was renamed
 * over it since.
 */
struct sockfile {
	dev_t dev;
	ino_t ino;
	int known; /* 0: nothing to remove (abstract name, lstat failed) */
};

/* Right after listening on path: remember the socket file there. */
void sockfile_note(struct sockfile *f, const char *path);
/* Removes path only while it is still that socket file (lstat: same
 * st_dev and st_ino, still a socket).  Async-signal-safe. */
void sockfile_remove(const struct sockfile *f, const char *path);

#endif
