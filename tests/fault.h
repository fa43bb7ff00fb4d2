/* SPDX-License-Identifier: ISC */
/*
 * Fault injection for the library's libc calls (issue 5).
 *
 * The test executable is linked with -Wl,--wrap=SYM for every allocator
 * and syscall src/ uses, so the internal static libraries call
 * __wrap_SYM (tests/fault.c).  A wrapper passes through to __real_SYM
 * unless the injector is armed and the planned call is reached: then it
 * fails that one call (errno and -1, NULL for an allocator, or a short
 * count), once.  The test's own calls go through the wrappers too, so it
 * arms the injector only around the library call it exercises.
 *
 * While armed, every wrapped call is counted and its kind recorded (the
 * trace), so a first unarmed-plan run finds the injection points; and
 * every allocation is tracked until freed, so a leak shows per run, in
 * every build, not only under LeakSanitizer.
 */
#ifndef FDMSG_TEST_FAULT_H
#define FDMSG_TEST_FAULT_H

#include <poll.h>
#include <stddef.h>

enum fault_kind {
	FK_MALLOC,
	FK_CALLOC,
	FK_REALLOC,
	FK_SENDMSG,
	FK_RECVMSG,
	FK_CLOSE,
	FK_FCNTL,
	FK_POLL,
	FK_SOCKET,
	FK_SOCKETPAIR,
	FK_BIND,
	FK_LISTEN,
	FK_ACCEPT4,
	FK_CONNECT,
	FK_GETSOCKOPT,
	FK_SETSOCKOPT,
	FK_GETSOCKNAME,
	FK_GETPEERNAME,
	FK_SHUTDOWN,
	FK_UNLINK,
	FK_LSTAT,
	FK_FSTAT,
	FK_OPEN,
	FK_READ,
	FK_CHMOD,
	FK_FCHMOD,
	FK_FCHMODAT,
	FK_LINK,
	FK_FLOCK,
	FK_SENDTO,
	FK_RECV,
	FK_NKINDS
};

/* Not an errno: the call succeeds with a short count (stream sendmsg and
 * recvmsg, read). */
#define FAULT_SHORT 100000

/* One armed call as the wrapper saw it. */
struct fault_call {
	unsigned char kind;   /* enum fault_kind */
	unsigned char stream; /* sendmsg/recvmsg on a SOCK_STREAM socket */
};

#define FAULT_TRACE_MAX 8192

/* Disarms, forgets the plan, the counts, the trace and the live
 * allocations (a leak must be read with fault_live_allocs first). */
void fault_reset(void);
void fault_arm(void);
void fault_disarm(void);

/* Fail the nth (1-based) armed call of kind (-1: of any kind) with err
 * (an errno, FAULT_SHORT, or ENOMEM for an allocator). */
void fault_plan(unsigned long nth, int kind, int err);

/* Armed calls since fault_reset, and the first FAULT_TRACE_MAX of them. */
unsigned long fault_calls(void);
unsigned long fault_kind_calls(int kind);
const struct fault_call *fault_trace(void);

/* Did the planned failure happen, and on which kind of call. */
int fault_fired(void);
int fault_fired_kind(void);

/* Blocks allocated while armed and not freed since. */
size_t fault_live_allocs(void);

/* Called by an armed poll() before it polls (or fails), disarmed: a
 * single-threaded test makes the other end ready there, so a *_wait
 * helper really polls, deterministically. */
typedef void (*fault_poll_hook)(void *arg, const struct pollfd *fds,
				nfds_t n);
void fault_set_poll_hook(fault_poll_hook fn, void *arg);

const char *fault_kind_name(int kind);
/* An errno of either sign (EINTR), FAULT_SHORT (short) or 0 (none). */
const char *fault_err_name(int err);

#endif
