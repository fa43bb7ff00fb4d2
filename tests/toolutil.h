/* SPDX-License-Identifier: ISC */
/*
 * Helpers of the suites that run the built fdmsg(1) (path in FDMSG_TOOL):
 * test_tool.c and test_server.c.  Starting a process, waiting for a
 * server to listen, talking to it through the library, reaping it.
 * Linked with the library (tests/meson.build, toolutil_dep).
 */
#ifndef FDMSG_TOOLUTIL_H
#define FDMSG_TOOLUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "fdmsg.h"
#include "rawpeer.h" /* fork_child, same_file */

/* A bound on hangs, not a timing assertion. */
#define TOOL_WAIT_MS 30000

/* How spawn_exec starts a process (SPAWN_INIT: /dev/null on 0-2,
 * nothing else changed). */
struct spawn {
	int in, out, err;       /* its 0, 1 and 2; -1: /dev/null */
	struct {
		int from, to;   /* from < 0: unused */
	} move[2];              /* descriptors moved to fixed numbers */
	const char *env[4];     /* NAME=value put into its environment */
	int listen_pid;         /* LISTEN_PID set to its own pid */
	int close_rest;         /* it keeps only 0-2 and the moved ones */
	rlim_t nofile;          /* RLIMIT_NOFILE; 0 leaves it alone */
	rlim_t nofile_hard;     /* its hard limit; 0: nofile */
	uid_t uid;              /* nonzero: run as this uid and gid (root) */
};

#define SPAWN_INIT                                                       \
	{ .in = -1, .out = -1, .err = -1, .move = { { -1, -1 }, { -1, -1 } } }

/* Runs argv[0] (a path, or a name looked up in PATH) as sp says; its
 * pid.  The child exits 126 when it cannot be set up, 127 without exec. */
pid_t spawn_exec(const struct spawn *sp, const char *const *argv);

/* The tool under test, from FDMSG_TOOL. */
const char *tool_path(void);

/* Waits up to wait_ms for pid to end: its wait status.  A hang kills it
 * and fails the test, naming what. */
int reap(pid_t pid, long wait_ms, const char *what);

/* Connects once a server listens on path (bind comes before listen). */
int connect_retry(const char *path, int type);

/* A channel owning fd, with max_fds and a 4 MiB queue. */
struct fdmsg_chan *chan_on(int fd, unsigned max_fds);

/*
 * Sends one frame on ch and expects it echoed exactly within wait_ms:
 * type, peerid, the bytes, and descriptors naming the same files.  what
 * names the situation in a failure.
 */
void echo_expect(struct fdmsg_chan *ch, uint32_t type, uint32_t peerid,
		 const void *data, size_t len, const int *fds, unsigned nfds,
		 long wait_ms, const char *what);

/* Waits up to wait_ms until the server closes sock, reading and
 * dropping what it sent first (descriptors are never installed). */
void expect_closed(int sock, long wait_ms, const char *what);

int count_lines(const char *s);

#endif
