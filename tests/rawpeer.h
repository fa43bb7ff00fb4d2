/* SPDX-License-Identifier: ISC */
/*
 * The raw peer (rawpeer.c), part of the test library: the hostile end of
 * a socket pair, which writes frame bytes and SCM_RIGHTS records by hand
 * (never through fdmsg_send), and the descriptor-table squeezes its tests
 * run in children.  It uses libc and the codec layer only, so the gate's
 * suite links it as well as the channel's.
 *
 * Functions marked "no asserts" make no Criterion call: forked children
 * use them and report by exit status.
 */
#ifndef FDMSG_RAWPEER_H
#define FDMSG_RAWPEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

/* Who a descriptor refers to, to recognise it on the other end. */
struct ident {
	dev_t dev;
	ino_t ino;
};

/* fd's identity into id: 0 or -errno.  No asserts. */
int ident_of(int fd, struct ident *id);
/* Whether fd refers to id's file.  No asserts. */
int same_ident(int fd, const struct ident *id);
/* Whether a and b refer to one file.  No asserts. */
int same_file(int a, int b);

/* A little-endian u32 at p, byte by byte. */
void put_le32(uint8_t *p, uint32_t v);
/* The 16 header bytes of DESIGN.md's wire table, whatever their values. */
void put_hdr(uint8_t *p, uint8_t version, uint8_t nfds, uint16_t flags,
	     uint32_t len, uint32_t type, uint32_t peerid);

/*
 * sendmsg(2) of buf[0..n) with MSG_NOSIGNAL | flags and, when nfds > 0,
 * fds[0..nfds) in one SCM_RIGHTS record sized with CMSG_LEN.  The bytes
 * sent or -errno (-EINVAL past FDMSG_MAX_FDS_CAP).  No asserts.
 */
ssize_t send_fds(int s, const void *buf, size_t n, const int *fds,
		 unsigned nfds, int flags);
/*
 * send_fds of nfds fresh memfds (each its own inode, no FD_CLOEXEC on
 * purpose); their identities go to ids (may be NULL).  The sender's
 * copies are closed before return, so whatever is in flight is the
 * receiver's alone.  The bytes sent or -errno.  No asserts.
 */
ssize_t raw_send(int s, const void *buf, size_t n, unsigned nfds,
		 struct ident *ids, int flags);
/* raw_send that must take every byte (asserts). */
void peer_send(int s, const void *buf, size_t n, unsigned nfds,
	       struct ident *ids);

/* The errno name of a return ("EPROTO" for -EPROTO), "0", or "(other)":
 * fdmsg_errname that never gives NULL, for messages. */
const char *ename(int r);

/* Whether fd is an open descriptor.  No asserts. */
int fd_is_open(int fd);
/* Whether fd is open and close-on-exec.  No asserts. */
int is_cloexec(int fd);

/* For a child: closes 0, 1 and 2, where the next descriptors land. */
void close_stdio(void);
/* For a child: RLIMIT_NOFILE's soft limit set to cur, the limit it had
 * saved in old (may be NULL).  0 or -errno.  No asserts. */
int rlimit_nofile(rlim_t cur, struct rlimit *old);
/*
 * For a child: RLIMIT_NOFILE lowered to leave exactly `room` descriptor
 * slots free, every lower hole filled with /dev/null.  0 or -errno.
 * rlimit_release undoes it.  No asserts.
 */
int rlimit_squeeze(unsigned room);
/* How many descriptors can still be opened (each closed again), or
 * -errno when the table did not end in EMFILE.  No asserts. */
int free_slots(void);
/* Closes rlimit_squeeze's fillers and restores the limit: 0 or -errno. */
int rlimit_release(void);

/* Writes junk to s without blocking until it is full (the peer never
 * reads): 0, or -errno of a failure other than EAGAIN.  No asserts. */
int fill_socket_raw(int s);

/* fork(2) after flushing stdio (asserts).  The child dies with its
 * parent: a test that hangs on it and is killed by its timeout, or that
 * fails, leaves no child behind (a server it execs included). */
pid_t fork_child(void);
/* Reaps pid and asserts that it exited 0; a non-zero exit is reported as
 * the step that failed. */
void wait_child(pid_t pid, const char *what);

/* Runs fn(type, arg) in a child (fork_child, wait_child). */
typedef int child_fn(int type, unsigned arg);
void run_child(child_fn *fn, int type, unsigned arg, const char *what);

/* write(2) of buf[0..n) to s by a child, reaped before return: the
 * child's pid, now no one's (asserts). */
pid_t write_from_child(int s, const void *buf, size_t n);

/*
 * A socketpair of type and a channel on one end (max_fds; max_frame,
 * max_batch 0 for the defaults; optflags as fdmsg_opts.flags), the other
 * end to *peer for the raw peer: 0 or -errno, nothing left open on
 * failure.  No asserts: children use it.  In rawchan.c, which only the
 * channel suites link.
 */
struct fdmsg_chan;
struct fdmsg_msg;
int open_chan(int type, unsigned max_fds, uint32_t max_frame,
	      uint32_t max_batch, unsigned optflags, int *peer,
	      struct fdmsg_chan **chan);

/*
 * One fdmsg_recv.  On a stream a channel may stop at a read boundary the
 * kernel made (a descriptor-carrying write, a credentials change, an OOB
 * mark) and say -EAGAIN with bytes still queued; a bounded retry keeps
 * such an implementation legal without letting one that waits forever
 * pass.  In rawchan.c.
 */
int recv_retry(struct fdmsg_chan *chan, int type, struct fdmsg_msg *m);

#endif
