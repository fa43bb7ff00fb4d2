/* SPDX-License-Identifier: ISC */
/*
 * The test library (testutil.c), linked into every Criterion suite:
 * tests that check the descriptor table by themselves, one family of
 * per-socket-type tests, and the small process helpers the suites share.
 */
#ifndef FDMSG_TESTUTIL_H
#define FDMSG_TESTUTIL_H

#include <sys/socket.h>
#include <sys/types.h>
#include <criterion/criterion.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/*
 * TEST(suite, name[, criterion options]) { body }
 *
 * A Criterion test whose body runs between two counts of this process's
 * descriptors: a body that returns with one more open than it began with
 * fails with "descriptor leak", whether or not its author thought of
 * descriptors.  (Criterion's .fini cannot fail a test, hence the wrapper.)
 * A body that fails an assertion or skips never reaches the second count.
 *
 * The trailing ".signal = 0" is Criterion's default; it lets the options
 * be empty under -Wpedantic, and a test that passes .signal (which never
 * returns from its body) gets an override warning: use TEST_UNGUARDED.
 */
#define TEST(...) TEST_GUARDED_(__VA_ARGS__, .signal = 0)
#define TEST_GUARDED_(suite, name, ...)                                  \
	static void suite##_##name##_body(void);                         \
	Test(suite, name, __VA_ARGS__)                                   \
	{                                                                \
		struct fd_table fd_base_;                                \
		fd_table_take(&fd_base_);                                \
		suite##_##name##_body();                                 \
		fd_table_check(&fd_base_, #suite "::" #name);            \
	}                                                                \
	static void suite##_##name##_body(void)

/*
 * The named opt-out: a test the automatic count cannot bracket (it
 * expects a signal, or descriptors it opens must outlive its body).
 * `why` says which; such a test compares fd_count() itself where a count
 * means something.  None needs it today.
 */
#define TEST_UNGUARDED(...) TEST_UNGUARDED_(__VA_ARGS__, .disabled = 0)
#define TEST_UNGUARDED_(suite, name, why, ...) Test(suite, name, __VA_ARGS__)

/*
 * One family of per-socket-type tests.  Each defines a body taking the
 * socket type, run as one guarded TEST per type in suites named
 * prefix_seqpacket, prefix_stream and prefix_dgram:
 *   TEST_ALL_TYPES     SEQPACKET, STREAM, DGRAM
 *   TEST_CONN_TYPES    SEQPACKET, STREAM (the peer's end is visible)
 *   TEST_RECORD_TYPES  SEQPACKET, DGRAM (one frame per datagram)
 *   TEST_STREAM_TYPE   STREAM
 */
#define TYPED_TEST_(prefix, name, suffix, type)                          \
	TEST(prefix##_##suffix, name) { prefix##_##name##_body(type); }
#define TYPED_BODY_(prefix, name)                                        \
	static void prefix##_##name##_body(int type)

#define TEST_ALL_TYPES(prefix, name)                                     \
	TYPED_BODY_(prefix, name);                                       \
	TYPED_TEST_(prefix, name, seqpacket, SOCK_SEQPACKET)             \
	TYPED_TEST_(prefix, name, stream, SOCK_STREAM)                   \
	TYPED_TEST_(prefix, name, dgram, SOCK_DGRAM)                     \
	TYPED_BODY_(prefix, name)
#define TEST_CONN_TYPES(prefix, name)                                    \
	TYPED_BODY_(prefix, name);                                       \
	TYPED_TEST_(prefix, name, seqpacket, SOCK_SEQPACKET)             \
	TYPED_TEST_(prefix, name, stream, SOCK_STREAM)                   \
	TYPED_BODY_(prefix, name)
#define TEST_RECORD_TYPES(prefix, name)                                  \
	TYPED_BODY_(prefix, name);                                       \
	TYPED_TEST_(prefix, name, seqpacket, SOCK_SEQPACKET)             \
	TYPED_TEST_(prefix, name, dgram, SOCK_DGRAM)                     \
	TYPED_BODY_(prefix, name)
#define TEST_STREAM_TYPE(prefix, name)                                   \
	TYPED_BODY_(prefix, name);                                       \
	TYPED_TEST_(prefix, name, stream, SOCK_STREAM)                   \
	TYPED_BODY_(prefix, name)

/*
 * valgrind keeps descriptors of its own at the top of the table, so a test
 * that moves RLIMIT_NOFILE measures valgrind, not fdmsg: such tests skip
 * there (they run in the gcc and sanitizer builds of ci/test).
 */
#define SKIP_UNDER_VALGRIND()                                            \
	do {                                                             \
		if (RUNNING_ON_VALGRIND)                                 \
			cr_skip_test("RLIMIT_NOFILE test: valgrind owns "  \
				     "the top of the descriptor table"); \
	} while (0)

/* Open descriptors of this process, counted through /proc/self/fd. */
int fd_count(void);

/* Which descriptors below FD_TABLE_MAX are open, and how many in all:
 * TEST()'s before-and-after picture, so a leak names the descriptor. */
#define FD_TABLE_MAX 1024
struct fd_table {
	int count;
	unsigned char open[FD_TABLE_MAX / 8];
};
void fd_table_take(struct fd_table *t);

/* Fails the test, naming `what` and each descriptor opened or closed
 * since `before` was taken (with what it refers to), unless the table
 * is as it was. */
void fd_table_check(const struct fd_table *before, const char *what);

/* Open descriptors of another process, counted through /proc/PID/fd. */
int fd_count_of(pid_t pid);

/* Sleeps ms milliseconds, through signals.  For pacing a peer, never
 * for a timing assertion. */
void sleep_ms(long ms);

/* The pid a pidfd refers to, from its /proc/self/fdinfo "Pid:" line:
 * -1 once the process is gone, -2 when unreadable.  No Criterion
 * asserts: children use it. */
long pidfd_pid(int pidfd);

/* Entries in dir other than "." and "..". */
int dir_entry_count(const char *dir);

/* Removes dir and everything below it: 0 or -1 (errno set).  No
 * asserts. */
int rm_tree(const char *dir);

#endif
