/* fdmsg(1): what the command files share.  Not installed. */
#ifndef FDMSG_TOOL_H
#define FDMSG_TOOL_H

#include <stddef.h>
#include <sys/types.h>

/* Exit statuses (DESIGN.md, "The command-line tool"). */
#define EXIT_PROTO 1 /* a protocol, validation or system error */
#define EXIT_USAGE 2 /* malformed command line or option value */

/*
 * The command line: options ("--name", "--name=value") and positional
 * arguments in any order; "--" ends the options.
 */
struct args {
	const char *cmd; /* for messages: "serve", "send", ... */
	int argc;
	char **argv;
	int i;
	const char *inl; /* value given as --name=value, else NULL */
	char name[32];   /* the current option, without its value */
	int only_pos;    /* after "--" */
};

/*
 * 0: no more; 1: an option (a->name); 2: a positional argument (*pos).
 * --help or -h among the options prints a->cmd's usage and exits 0:
 * commands parse their whole command line before taking any resource.
 */
int args_next(struct args *a, const char **pos);
/* The current option's value, or NULL (message printed) when missing. */
const char *args_value(struct args *a);
/* The current option takes no value: 0, or -1 (message printed). */
int args_flag(struct args *a);

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

int cmd_serve(int argc, char **argv);
int cmd_proxy(int argc, char **argv);

#endif
