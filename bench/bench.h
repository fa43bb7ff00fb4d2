/* SPDX-License-Identifier: ISC */
/*
 * fdmsg-bench: what the harness (harness.c), the case table (cases.c) and
 * the roles of each implementation (raw.c, fdmsg.c, imsg.c) share.
 *
 * A role is one process's half of a case: the sender or ping-pong client
 * (which 0) or the receiver or echo server (which 1).  It runs x->warm
 * frames, brackets the next x->n frames with mark_begin/mark_end, and
 * reports a failure with FAIL(-errno).  The harness forks the two roles
 * over a fresh socketpair and reads their struct res.
 */
#ifndef FDMSG_BENCH_H
#define FDMSG_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum kind { K_PINGPONG, K_ONEWAY, K_DECODE };

/* How the one-way fdmsg sender, an application, writes its frames. */
enum sender {
	SEND_QUEUE, /* fdmsg_send(0); fdmsg_flush_wait on -ENOBUFS */
	SEND_MORE,  /* fdmsg_send(FDMSG_MORE), where the library has it */
	SEND_POLL,  /* fdmsg_send(FDMSG_NO_QUEUE); poll POLLOUT on -EAGAIN */
};

/* What the hand-written baseline does (raw.c says how, in full). */
enum style {
	R_BATCH,  /* batched: 64 KiB of frames per system call */
	R_MSG,    /* one sendmsg per message (information rows) */
	R_MMSG,   /* SEQPACKET: sendmmsg, one frame per datagram (ditto) */
	R_MEMCPY, /* memcpy of the same bytes (decode only) */
};

enum impl { IMPL_FDMSG, IMPL_RAW, IMPL_IMSG, NIMPL };

/* The goals of issue #12, in its order (cases.c has their text). */
enum goal {
	G_NONE,
	G_PINGPONG,    /* fdmsg / raw */
	G_ONEWAY64,
	G_ONEWAY_BIG,
	G_FD1,
	G_FD8,
	G_IMSG_ONEWAY, /* fdmsg / imsg */
	G_IMSG_PINGPONG,
	G_IR_PINGPONG, /* instructions, fdmsg / raw */
	G_IR_ONEWAY64,
	G_ALLOCS,
	NGOALS
};

struct goal_def {
	const char *text;
	double limit;
	int at_most;   /* value <= limit; else value >= limit */
	int callgrind; /* measured by --callgrind, else by the rates run */
};

struct bcase {
	const char *name;
	enum kind kind;
	int type;          /* socket type, the same for every implementation */
	enum style style;  /* the raw baseline */
	uint32_t frame;    /* bytes per frame, 16-byte header included */
	unsigned nfds;     /* descriptors per frame */
	unsigned max_fds;  /* fdmsg option on both ends */
	enum goal goal;    /* fdmsg / raw rate */
	enum goal igoal;   /* fdmsg / imsg rate */
	enum goal irgoal;  /* instructions fdmsg / raw (--callgrind) */
	int imsg;          /* run imsg too */
	int info;          /* no goal: for comparison */
	enum sender send;  /* one-way: the fdmsg sender's way */
	size_t n0;         /* messages of a calibration or callgrind run */
	int give;          /* descriptors given away: each message's are
			    * fresh dup()s the sending side closes once sent
			    * (fdmsg with FDMSG_CLOSE_FDS); else every role
			    * sends the same ones, kept open */
};

extern const struct bcase cases[];
extern const size_t ncases;
extern const struct goal_def goal_defs[NGOALS];

#define KiB 1024u
#define CHUNK (64u * KiB) /* a batch: what a careful program writes at once */
#define BENCH_TYPE 0x62656e63u
#define SCM_MAX 253u      /* descriptors per sendmsg (SCM_MAX_FD) */

/* What one process reports of its measured phase. */
struct res {
	int64_t t0, t1;  /* CLOCK_MONOTONIC, ns */
	int64_t cpu;     /* this process's CPU time in it, ns */
	uint64_t allocs; /* malloc/calloc/realloc calls in it */
	int err;         /* 0, or the first -errno */
	int line;        /* where it failed */
	const char *file;
};

/* The arguments of one process's role. */
struct role {
	const struct bcase *bc;
	int sock;
	int sync;     /* to the other role: a byte when warmed up (receiver),
		       * or when its queue is full (fdmsg sender) */
	size_t warm;  /* frames before the measured phase */
	size_t n;     /* frames measured */
	const char *label;
};

typedef int send_fn(const struct role *x, const int *fds, size_t n);
typedef int recv_fn(const struct role *x);
typedef int role_fn(const struct role *x, struct res *rs);

/* harness.c */
extern int opt_sender; /* SEND_*, for every one-way case; -1: per case */
void mark_begin(struct res *rs);
void mark_end(struct res *rs, const char *label);
int fail_at(struct res *rs, int err, const char *file, int line);
#define FAIL(err) fail_at(rs, (err), __FILE__, __LINE__)
int wait_sync(int fd);
int post_sync(int fd);
int warm_wait(const struct role *x, size_t i, struct res *rs);
int warm_post(const struct role *x, size_t i, struct res *rs);
int run_sender(const struct role *x, struct res *rs, send_fn *send);
int run_receiver(const struct role *x, struct res *rs, recv_fn *recv);
int run_role(const struct role *x, int which, struct res *rs, role_fn *client,
	     role_fn *server, send_fn *send, recv_fn *recv);
int open_fds(int *fds, unsigned n);
void close_fds(int *fds, unsigned n);
uint32_t le32(const uint8_t *p);
int raw_frame_ok(const uint8_t *p, size_t n, uint32_t frame);

/* raw.c, fdmsg.c, imsg.c: [0] sender or client, [1] receiver or server */
int raw_role(const struct role *x, int which, struct res *rs);
int fdmsg_role(const struct role *x, int which, struct res *rs);
int imsg_role(const struct role *x, int which, struct res *rs);
int decode_role(const struct role *x, int impl, struct res *rs);
int fdmsg_socketpair(int type, int sv[2]);
enum sender sender_of(const struct bcase *bc);
extern const int imsg_built;

#endif
