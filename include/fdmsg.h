/* SPDX-License-Identifier: ISC */
/*
 * fdmsg: typed frames, file descriptors and peer credentials over Unix
 * domain sockets, safe against a hostile peer.
 *
 * Conventions for every function below:
 *  - a return value >= 0 is success; a failure returns a negative errno
 *    (-EINVAL, -EPROTO, ...), never -1 plus errno.  fdmsg_strerror() names it.
 *  - on failure no out-parameter is written.
 *  - nothing prints, aborts or exits; every *_free(NULL) is a no-op.
 *  - descriptor ownership is stated per call and is the same on success and
 *    failure.
 * The man pages (fdmsg(3) and one page per family) give the details.
 */
#ifndef FDMSG_H
#define FDMSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FDMSG_API __attribute__((visibility("default")))
#else
#define FDMSG_API
#endif

/* ------------------------------------------------------------------ */
/* Wire format, version 1: src/frame.c                                 */
/* ------------------------------------------------------------------ */

#define FDMSG_WIRE_VERSION 1u
#define FDMSG_HDR_SIZE 16u

/* Limits.  Each has a per-channel option in struct fdmsg_opts. */
#define FDMSG_MAX_FRAME_DEFAULT 65536u
#define FDMSG_MAX_FRAME_CAP (16u * 1024u * 1024u)
#define FDMSG_MAX_FDS_DEFAULT 0u
#define FDMSG_MAX_FDS_CAP 253u /* SCM_MAX_FD */
#define FDMSG_MAX_QUEUE_DEFAULT (1024u * 1024u)
#define FDMSG_MAX_QUEUE_CAP (1024u * 1024u * 1024u)
#define FDMSG_MAX_QUEUE_FDS_DEFAULT 1024u
#define FDMSG_MAX_QUEUE_FDS_CAP 65536u

/* The decoded header of one frame. */
struct fdmsg_hdr {
	uint8_t version;  /* must be FDMSG_WIRE_VERSION */
	uint8_t nfds;     /* descriptors attached to this frame */
	uint16_t flags;   /* no bit defined in version 1: must be 0 */
	uint32_t len;     /* whole frame, header included */
	uint32_t type;    /* the application's message type */
	uint32_t peerid;  /* the application's routing id */
};

/*
 * Writes the 16-byte little-endian header.  Returns FDMSG_HDR_SIZE, or
 * -EINVAL if the header breaks a wire rule (version, flags, len < 16).
 */
FDMSG_API int fdmsg_hdr_encode(const struct fdmsg_hdr *hdr,
			       uint8_t out[FDMSG_HDR_SIZE]);

/*
 * Decodes and validates the header at the start of buf[0..n).
 * Never reads past buf + n.  Returns:
 *   FDMSG_HDR_SIZE  a valid header, written to *hdr
 *   0               fewer than FDMSG_HDR_SIZE bytes: need more
 *   -EBADMSG        version != 1, flags != 0 or len < 16
 *   -EMSGSIZE       len > max_frame
 *   -EPROTO         nfds > max_fds
 *   -EINVAL         buf or hdr NULL (with n >= 16)
 * Rules are checked in the wire table's order: version, nfds, flags, len.
 */
FDMSG_API int fdmsg_hdr_decode(const void *buf, size_t n, uint32_t max_frame,
			       unsigned max_fds, struct fdmsg_hdr *hdr);

/* ------------------------------------------------------------------ */
/* The connection hello: src/frame.c (sent and read by src/chan.c)     */
/* ------------------------------------------------------------------ */

/*
 * A hello is one 40-byte frame that each side may send first, before any
 * application frame: a header (version 1, nfds 0, flags FDMSG_HDR_HELLO,
 * len 40, type 0, peerid 0) and a 24-byte body saying which wire versions
 * the sender speaks, what it accepts and what it wants.  The connecting
 * side greets (FDMSG_CHAN_HELLO); a channel answers a hello it receives
 * before it sent anything, and a peer that never greets never gets one.
 */
#define FDMSG_HDR_HELLO 0x0001u /* header flags of a hello, and only it */
#define FDMSG_HELLO_SIZE 40u
/* A datagram this large is accepted by every receiver whatever its
 * max_frame, so a sender batches within it without a hello. */
#define FDMSG_DGRAM_SAFE 65536u

/* Capability bits; unknown ones are ignored. */
#define FDMSG_CAP_FDS 0x1u   /* accepts descriptors (max_fds > 0) */
#define FDMSG_CAP_CREDS 0x2u /* wants credentials with every frame */
#define FDMSG_CAP_PIDFD 0x4u /* wants a pidfd with every frame */

struct fdmsg_hello {
	uint8_t min_version; /* the wire versions spoken: 1 <= min <= max */
	uint8_t max_version;
	uint32_t max_frame;  /* the largest frame it accepts */
	uint32_t max_batch;  /* the largest datagram it accepts (0: a stream) */
	uint32_t max_fds;    /* descriptors per read it accepts */
	uint32_t caps;       /* FDMSG_CAP_* */
};

/*
 * Writes the 40-byte hello.  Returns FDMSG_HELLO_SIZE, or -EINVAL when a
 * field breaks a rule (see fdmsg_hello_decode) or an argument is NULL.
 */
FDMSG_API int fdmsg_hello_encode(const struct fdmsg_hello *hello,
				 uint8_t out[FDMSG_HELLO_SIZE]);

/*
 * Decodes and validates the hello at the start of buf[0..n).  Never reads
 * past buf + n.  Returns:
 *   FDMSG_HELLO_SIZE  a valid hello, written to *hello
 *   0                 need more: fewer than 16 bytes, or a valid hello
 *                     header and fewer than FDMSG_HELLO_SIZE
 *   -EBADMSG          not a hello header (version, flags, len 40, type and
 *                     peerid 0), a reserved byte set, or contradictory
 *                     limits: min_version 0 or above max_version,
 *                     max_frame outside 16..FDMSG_MAX_FRAME_CAP,
 *                     max_batch not 0 and below max_frame or above the
 *                     cap, max_fds above FDMSG_MAX_FDS_CAP
 *   -EPROTO           nfds not 0 (a hello carries no descriptor)
 *   -EINVAL           buf or hello NULL (with n >= 40)
 * The header is checked as soon as it is whole, in the wire table's
 * order (so a malformed hello gets the error any header would), then
 * the rest.  Unknown caps bits are kept, not refused.
 */
FDMSG_API int fdmsg_hello_decode(const void *buf, size_t n,
				 struct fdmsg_hello *hello);

/* 1 when buf[0..n) starts like a hello (version 1, flags HELLO): the
 * frame is a hello or malformed, never an application frame. */
FDMSG_API int fdmsg_hello_is(const void *buf, size_t n);

/* ------------------------------------------------------------------ */
/* Bounded buffers, for applications: src/buf.c                        */
/* ------------------------------------------------------------------ */

/*
 * Writer.  Either fixed (over caller memory) or growable (heap, up to max
 * bytes).  Errors are sticky: after the first failure every later call
 * fails with the same error and the contents stay as they were before it.
 * Errors: -EOVERFLOW when len + n would wrap, else -ENOBUFS when it passes
 * the capacity or cap; -ENOMEM when the allocator fails; -EINVAL on bad
 * arguments.  A zero-byte reserve returns a non-NULL pointer.
 * Treat the fields as private.
 */
struct fdmsg_wbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;
	int err;
	int owned;
};

FDMSG_API void fdmsg_wbuf_init_fixed(struct fdmsg_wbuf *w, void *mem,
				     size_t size);
FDMSG_API int fdmsg_wbuf_init(struct fdmsg_wbuf *w, size_t initial,
			      size_t max);
FDMSG_API void fdmsg_wbuf_free(struct fdmsg_wbuf *w);
FDMSG_API void fdmsg_wbuf_reset(struct fdmsg_wbuf *w); /* len = 0, err = 0 */
FDMSG_API void *fdmsg_wbuf_reserve(struct fdmsg_wbuf *w, size_t n);
FDMSG_API int fdmsg_wbuf_append(struct fdmsg_wbuf *w, const void *p, size_t n);
FDMSG_API int fdmsg_wbuf_put_u8(struct fdmsg_wbuf *w, uint8_t v);
FDMSG_API int fdmsg_wbuf_put_u16(struct fdmsg_wbuf *w, uint16_t v);
FDMSG_API int fdmsg_wbuf_put_u32(struct fdmsg_wbuf *w, uint32_t v);
FDMSG_API int fdmsg_wbuf_put_u64(struct fdmsg_wbuf *w, uint64_t v);
FDMSG_API int fdmsg_wbuf_error(const struct fdmsg_wbuf *w);
FDMSG_API const void *fdmsg_wbuf_data(const struct fdmsg_wbuf *w);
FDMSG_API size_t fdmsg_wbuf_len(const struct fdmsg_wbuf *w);

/*
 * Reader over a byte span it does not own.  Errors are sticky: -EBADMSG
 * when a read would pass the end (nothing is consumed or written).
 * Treat the fields as private.
 */
struct fdmsg_rbuf {
	const uint8_t *data;
	size_t len;
	size_t pos;
	int err;
};

FDMSG_API void fdmsg_rbuf_init(struct fdmsg_rbuf *r, const void *p, size_t n);
FDMSG_API int fdmsg_rbuf_get_u8(struct fdmsg_rbuf *r, uint8_t *v);
FDMSG_API int fdmsg_rbuf_get_u16(struct fdmsg_rbuf *r, uint16_t *v);
FDMSG_API int fdmsg_rbuf_get_u32(struct fdmsg_rbuf *r, uint32_t *v);
FDMSG_API int fdmsg_rbuf_get_u64(struct fdmsg_rbuf *r, uint64_t *v);
FDMSG_API int fdmsg_rbuf_get_bytes(struct fdmsg_rbuf *r, void *dst, size_t n);
/* A pointer to the next n bytes in place, consumed; NULL on error. */
FDMSG_API const void *fdmsg_rbuf_get_ref(struct fdmsg_rbuf *r, size_t n);
/* A NUL-terminated string within the span; *len excludes the NUL. */
FDMSG_API int fdmsg_rbuf_get_str(struct fdmsg_rbuf *r, const char **s,
				 size_t *len);
FDMSG_API int fdmsg_rbuf_skip(struct fdmsg_rbuf *r, size_t n);
FDMSG_API size_t fdmsg_rbuf_remaining(const struct fdmsg_rbuf *r);
FDMSG_API int fdmsg_rbuf_error(const struct fdmsg_rbuf *r);

/* ------------------------------------------------------------------ */
/* Options: src/chan.c                                                 */
/* ------------------------------------------------------------------ */

/* Switches for fdmsg_opts.flags. */
#define FDMSG_OPT_CREDS 0x1u /* SO_PASSCRED: sender credentials per frame */
#define FDMSG_OPT_PIDFD 0x2u /* SO_PASSPIDFD: sender pidfd per frame */

struct fdmsg_opts {
	uint32_t max_frame; /* largest frame accepted and sent (bytes) */
	uint32_t max_batch; /* largest datagram; 0 means max_frame */
	unsigned max_fds;   /* descriptors per read; 0: none accepted */
	size_t max_queue;   /* bytes the send queue may hold */
	unsigned max_queue_fds; /* descriptors the send queue may hold
				   (its duplicates); 0: none ever wait */
	unsigned flags;     /* FDMSG_OPT_* */
	/* Room for the options of later versions, so the struct's size and
	 * layout never change: leave it zero (fdmsg_opts_init does).  A
	 * library that does not know a field set here refuses it: -EINVAL. */
	uint32_t reserved[8];
};

/* Fills in the defaults (and zeroes reserved). */
FDMSG_API void fdmsg_opts_init(struct fdmsg_opts *opts);

/* ------------------------------------------------------------------ */
/* Credentials: src/sock.c, src/chan.c                                 */
/* ------------------------------------------------------------------ */

struct fdmsg_cred {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	int pidfd; /* -1 when not asked for or not available */
};

/* ------------------------------------------------------------------ */
/* Channel: src/chan.c (its send queue: src/queue.c)                  */
/* ------------------------------------------------------------------ */

struct fdmsg_chan; /* opaque */

/* Flags of fdmsg_chan_new. */
#define FDMSG_CHAN_OWN_FD 0x1u /* fdmsg_chan_free closes the socket */
#define FDMSG_CHAN_HELLO 0x2u  /* greet: send a hello first (the
				  connecting side) */
#define FDMSG_CHAN_NO_HELLO 0x4u /* never send a hello, not even to
				    answer one */

/*
 * Wraps a connected socket (SOCK_SEQPACKET, SOCK_STREAM or SOCK_DGRAM;
 * a bound, unconnected SOCK_DGRAM receives only).  The socket's own
 * blocking mode is left alone: the channel uses MSG_DONTWAIT, except
 * in fdmsg_recv_wait without a deadline, which blocks as the socket does.
 * opts may be NULL for the defaults.  Without FDMSG_CHAN_OWN_FD the
 * socket is only lent and stays open after fdmsg_chan_free; with it the
 * channel owns the socket from this call on, even when the call fails.
 * The channel sets SO_PASSRIGHTS (off when max_fds is 0, where the kernel
 * has it), SO_PASSCRED and SO_PASSPIDFD on the socket to match opts.
 * Errors: -EINVAL (bad option or flag), -EBADF (fd < 0), -ENOTSOCK,
 * -EAFNOSUPPORT (not AF_UNIX), -ESOCKTNOSUPPORT (other socket type),
 * -ENOTCONN (an unconnected SEQPACKET or STREAM socket), -EOPNOTSUPP
 * (credentials or pidfds asked for where the kernel has none), -ENOMEM.
 */
FDMSG_API int fdmsg_chan_new(struct fdmsg_chan **out, int fd,
			     const struct fdmsg_opts *opts, unsigned flags);
/* Closes every queued and received descriptor; frees everything. */
FDMSG_API void fdmsg_chan_free(struct fdmsg_chan *chan);
FDMSG_API int fdmsg_chan_fd(const struct fdmsg_chan *chan);

/* Flags of fdmsg_send. */
#define FDMSG_CLOSE_FDS 0x1u /* the caller's fds are given away, always */
#define FDMSG_NO_QUEUE 0x2u  /* -EAGAIN rather than queueing */
#define FDMSG_MORE 0x4u      /* more frames follow: batch this one */

/*
 * Sends one frame, never blocking: a header, the payload gathered from
 * iov[0..iovcnt), fds[0..nfds) attached.  What the socket does not take
 * at once is queued (copied, descriptors duplicated) for fdmsg_flush, in
 * order.  The caller's descriptors are borrowed for the call; with
 * FDMSG_CLOSE_FDS, whatever the outcome, they are given away (closed by
 * the call, or kept by the queue until the frame is sent or dropped).
 * Returns 0 sent or queued, else a negative errno; fdmsg_send(3) gives
 * the errors, the batching of FDMSG_MORE and the limits of the hello.
 */
FDMSG_API int fdmsg_send(struct fdmsg_chan *chan, uint32_t type,
			 uint32_t peerid, const struct iovec *iov,
			 size_t iovcnt, const int *fds, size_t nfds,
			 unsigned flags);

/*
 * Writes what the queue holds.  0: queue empty; -EAGAIN: some remains.
 * A queued frame the kernel refuses (-EPERM, -ETOOMANYREFS, -EMSGSIZE) is
 * dropped, its descriptors closed, and its error returned once, by this
 * call or, when a later fdmsg_send flushed it, by the next one (which
 * then writes nothing: the queue waits for that report, so every refused
 * frame gets its own).
 * -EPIPE/-ECONNRESET: the peer is gone and the queue was dropped.
 */
FDMSG_API int fdmsg_flush(struct fdmsg_chan *chan);
/* 1 when the queue holds data (poll for POLLOUT), else 0. */
FDMSG_API int fdmsg_want_write(const struct fdmsg_chan *chan);

/*
 * A received frame.  payload points into the channel's buffer and fds into
 * the channel's descriptor slots: both valid until the next receive on the
 * channel, fdmsg_msg_release or fdmsg_chan_free.  The message owns its
 * descriptors; take one with fdmsg_msg_take_fd, the rest are closed by
 * fdmsg_msg_release or the next receive.
 */
struct fdmsg_msg {
	uint32_t type;
	uint32_t peerid;
	const void *payload;
	size_t len;            /* payload bytes (frame len - 16) */
	int *fds;              /* nfds slots; -1 once taken */
	unsigned nfds;
	int has_cred;          /* 1 when cred holds SCM_CREDENTIALS data */
	struct fdmsg_cred cred; /* sender of the frame (FDMSG_OPT_CREDS /
				  FDMSG_OPT_PIDFD); cred.pidfd is owned by
				  the message like fds: borrow it, or move it
				  out with fdmsg_msg_take_pidfd */
	int *pidfd_slot;       /* private: the channel's slot for cred.pidfd */
};

/*
 * Receives one frame without blocking.  Returns 0 and fills *msg, or:
 *   -EAGAIN   no whole frame yet
 *   -EPIPE    the peer's end: every whole frame before it was delivered
 *   -EBADMSG, -EMSGSIZE, -EPROTO   a protocol error; the channel is
 *             poisoned and every later receive returns the same error
 *   -EMFILE, -ENFILE  a received descriptor could not be moved above 2:
 *             poisoned likewise (any error after a read took bytes is)
 * On a bound, unconnected DGRAM channel (many senders) those errors
 * poison nothing: they report one dropped datagram (an empty one is
 * -EBADMSG there), and the next receive goes on.
 * has_cred is 1 only with FDMSG_OPT_CREDS and real credentials: bytes
 * written before SO_PASSCRED was on carry none (FDMSG_SOCK_CREDS at
 * fdmsg_pair/fdmsg_listen has them from the first byte).  On a stream
 * with credentials or pidfds, a frame whose bytes came from two senders
 * (or partly from none) is -EPROTO.  A pidfd may refer to a sender that
 * has exited since.
 *   -ESHUTDOWN  fdmsg_shutdown was called on this channel
 * Every descriptor of a rejected read is closed before the error returns.
 * Releases the previous message of this channel first.
 */
FDMSG_API int fdmsg_recv(struct fdmsg_chan *chan, struct fdmsg_msg *msg);

/*
 * What the channel holds that fdmsg_recv has not handed out: *bytes
 * received (a stream's partial frame; a datagram's frames still to come)
 * and *nfds descriptors that arrived with them (on a stream, or ahead of
 * their frames).  Right after fdmsg_recv returned -EAGAIN, anything held
 * is a frame the peer has begun and not finished, or descriptors ahead
 * of frames to come, which count as one, so a server can run a deadline
 * on exactly that.
 * Returns 1 when anything is held, 0 when nothing; bytes and nfds may be
 * NULL.  Errors: -EINVAL (chan NULL).
 */
FDMSG_API int fdmsg_recv_pending(const struct fdmsg_chan *chan, size_t *bytes,
				 unsigned *nfds);

/*
 * The peer's hello, once it arrived: its limits and capabilities, and
 * the wire version both speak (version).  Returns 0 and fills *info;
 * -EAGAIN: none yet (one may still come); -ENODATA: none will (an
 * application frame came first, or a receive-only channel); -EINVAL.
 */
struct fdmsg_peer_info {
	struct fdmsg_hello hello; /* as the peer sent it */
	uint8_t version;          /* agreed: the highest both speak */
};

FDMSG_API int fdmsg_peer_info(const struct fdmsg_chan *chan,
			      struct fdmsg_peer_info *info);

/* Blocking forms, with a timeout in ms (-1: none); -ETIMEDOUT when out,
 * -EINVAL for a timeout below -1. */
FDMSG_API int fdmsg_recv_wait(struct fdmsg_chan *chan, struct fdmsg_msg *msg,
			      int timeout_ms);
FDMSG_API int fdmsg_flush_wait(struct fdmsg_chan *chan, int timeout_ms);

/*
 * Shuts the socket down both ways.  The one call that may come from
 * another thread: a caller blocked in fdmsg_recv_wait or fdmsg_flush_wait
 * on this channel returns -ESHUTDOWN, and a SEQPACKET or STREAM peer sees
 * the end (-EPIPE); the kernel tells a DGRAM peer nothing.
 */
FDMSG_API int fdmsg_shutdown(struct fdmsg_chan *chan);

/* Moves descriptor i to the caller: returns it, or -EBADF (taken / none). */
FDMSG_API int fdmsg_msg_take_fd(struct fdmsg_msg *msg, unsigned i);
/* Moves the frame's pidfd to the caller: returns it, or -EBADF. */
FDMSG_API int fdmsg_msg_take_pidfd(struct fdmsg_msg *msg);
/* Closes the descriptors not taken; the message is empty afterwards. */
FDMSG_API void fdmsg_msg_release(struct fdmsg_msg *msg);

/* ------------------------------------------------------------------ */
/* Sockets: src/sock.c                                                 */
/* ------------------------------------------------------------------ */

/* type 0 picks the platform's default: SOCK_SEQPACKET (SOCK_STREAM on
 * macOS).  Every socket is created close-on-exec. */

/*
 * Flags to OR into the type of fdmsg_pair, fdmsg_listen and
 * fdmsg_connect: the socket is made with SO_PASSCRED (SO_PASSPIDFD)
 * already on, so every frame that reaches it carries its sender's
 * credentials (pidfd), from the very first byte.  Without them only bytes
 * sent after fdmsg_chan_new switched the option on carry them (earlier
 * ones arrive with none).  fdmsg_pair sets them on both ends, fdmsg_listen
 * on the listener before it listens (accepted sockets inherit them),
 * fdmsg_connect before it connects.  Give fdmsg_chan_new the matching
 * FDMSG_OPT_CREDS / FDMSG_OPT_PIDFD, or it turns them off again.
 * -EOPNOTSUPP where the system has no such option (SO_PASSPIDFD: Linux
 * 6.5 and later).
 */
#define FDMSG_SOCK_CREDS 0x10000000
#define FDMSG_SOCK_PIDFD 0x20000000

/* socketpair(AF_UNIX).  fds[0] and fds[1] are the caller's. */
FDMSG_API int fdmsg_pair(int type, int fds[2]);

/*
 * Listens on path: a filesystem path (socket file created with mode, 0
 * meaning 0600, never wider at any moment) or "@name" for a Linux abstract
 * name.  The socket is bound at a temporary name beside path
 * (".fdmsg-*"), listens, and only then is link(2)-ed to path: a socket at
 * path always answers, and of several calls racing on one path exactly
 * one succeeds.  An existing socket at path is replaced only when it is
 * dead: nobody listens on it and (Linux) no live socket is bound to it;
 * a live or still-being-set-up one is -EADDRINUSE, anything else there
 * -EEXIST, and neither is touched.  Returns the listening descriptor
 * (the caller's); getsockname(2) reports the temporary name.
 * Errors: -EINVAL (bad type or flag, empty path, mode bits beyond 0777),
 * -ENAMETOOLONG (also: no room for the 15-byte temporary name in path's
 * directory), -EEXIST, -EADDRINUSE (also: the directory's flock(2),
 * taken to remove a dead socket, held by another for a second),
 * -EOPNOTSUPP (abstract names off Linux, or an FDMSG_SOCK_* flag), a
 * socket or link(2) error.
 */
FDMSG_API int fdmsg_listen(const char *path, int type, mode_t mode);

/*
 * Accepts one connection (the listening socket's blocking mode applies).
 * With allow_uids (n > 0), a peer whose SO_PEERCRED uid is not listed is
 * closed and -EPERM returned.  Returns the connected descriptor.
 */
FDMSG_API int fdmsg_accept(int listen_fd, const uid_t *allow_uids, size_t n);

/* Connects to path ("@name": abstract).  Returns the descriptor. */
FDMSG_API int fdmsg_connect(const char *path, int type);

/* Flags of fdmsg_peer_cred. */
#define FDMSG_CRED_PIDFD 0x1u /* also a pidfd (SO_PEERPIDFD) */

/*
 * The peer's credentials as the kernel recorded them at connect time
 * (SO_PEERCRED).  With FDMSG_CRED_PIDFD also a pidfd, the caller's, after
 * checking the process still lives: -EOPNOTSUPP where the kernel has no
 * SO_PEERPIDFD, -ESRCH when the peer is gone.  No silent fallback.
 */
FDMSG_API int fdmsg_peer_cred(int fd, unsigned flags, struct fdmsg_cred *out);

/* ------------------------------------------------------------------ */
/* Received descriptors: src/fdcheck.c                                 */
/* ------------------------------------------------------------------ */

/*
 * What a received descriptor is, for the application to check before it
 * uses one (a peer may send a FIFO, a device or a memfd it shrinks later).
 * None of these opens, reads, maps or reopens the descriptor (never through
 * /proc/self/fd), so none blocks; all work on O_PATH descriptors.  The
 * descriptor stays the caller's.
 */

/*
 * 0 when fd's file type (fstat st_mode & S_IFMT) is kind, one S_IF* value
 * (S_IFREG, S_IFDIR, S_IFSOCK, S_IFIFO, S_IFCHR, S_IFBLK, S_IFLNK).
 * Errors: -EINVAL (kind not one S_IF* value), -EBADF (fd not open),
 * -EBADFD on Linux, -EFTYPE where the system has it (another type).
 */
FDMSG_API int fdmsg_fd_check_kind(int fd, mode_t kind);

/*
 * 0 when fd is safe to mmap for min_size bytes: its seals include
 * F_SEAL_SHRINK and F_SEAL_GROW (so no mapped page can vanish: no SIGBUS)
 * and its size is at least min_size.  F_SEAL_WRITE is not required.
 * Errors: -EBADF (fd not open), -EPERM (not sealed so, or not a sealable
 * file such as a memfd), -EMSGSIZE (smaller than min_size), -EOPNOTSUPP
 * (no file sealing on this system).
 */
FDMSG_API int fdmsg_fd_check_sealed(int fd, size_t min_size);

/*
 * The file status flags (F_GETFL: access mode, O_PATH, O_NONBLOCK,
 * O_APPEND, ...) into *flags.  Errors: -EBADF, -EINVAL (flags NULL).
 */
FDMSG_API int fdmsg_fd_status(int fd, int *flags);

/* ------------------------------------------------------------------ */
/* Why a frame was rejected: src/explain.c, src/frame.c, src/chan.c   */
/* ------------------------------------------------------------------ */

/*
 * Every receive-side rejection names the rule it applied, the offending
 * value and the limit (or the value required).  The identifiers are
 * stable: a later version adds rules and never renumbers one.  Where a
 * limit comes from struct fdmsg_opts, fdmsg_error_format names it by the
 * field ("max_fds is 4", "max_frame is 65536").
 */
enum fdmsg_rule {
	FDMSG_RULE_NONE = 0,        /* no rejection */
	/* The frame header (value: the field; -EBADMSG unless noted). */
	FDMSG_RULE_VERSION = 1,     /* version; limit 1 */
	FDMSG_RULE_NFDS = 2,        /* nfds; limit max_fds (-EPROTO) */
	FDMSG_RULE_FLAGS = 3,       /* flags; limit the only value allowed
				       (0; 1 in a hello) */
	FDMSG_RULE_LEN_SHORT = 4,   /* len; limit 16 */
	FDMSG_RULE_LEN_MAX = 5,     /* len; limit max_frame (-EMSGSIZE) */
	/* The hello (-EBADMSG unless noted). */
	FDMSG_RULE_HELLO_NFDS = 6,  /* nfds; limit 0 (-EPROTO) */
	FDMSG_RULE_HELLO_LEN = 7,   /* len; limit 40 */
	FDMSG_RULE_HELLO_ROUTE = 8, /* type or peerid not 0; limit 0 */
	FDMSG_RULE_HELLO_RESERVED = 9, /* a reserved field; limit 0 */
	FDMSG_RULE_HELLO_VERSIONS = 10, /* min_version 0 or above
					   max_version: value min_version,
					   limit max_version */
	FDMSG_RULE_HELLO_MAX_FRAME = 11, /* max_frame; limit the bound
					    crossed (16 or the cap) */
	FDMSG_RULE_HELLO_MAX_BATCH = 12, /* max_batch; limit the bound
					    crossed (its max_frame or the
					    cap) */
	FDMSG_RULE_HELLO_MAX_FDS = 13, /* max_fds; limit FDMSG_MAX_FDS_CAP */
	FDMSG_RULE_HELLO_NO_VERSION = 14, /* no version in common: value
					     min_version, limit max_version
					     (-EPROTONOSUPPORT) */
	/* Frames against their read. */
	FDMSG_RULE_CUT = 15,        /* a frame cut short (by the end of its
				       datagram, or of the stream): value
				       the bytes there, limit its length (16
				       while the header is not whole) */
	FDMSG_RULE_EMPTY = 16,      /* an empty datagram on a receive-only
				       channel: value 0, limit 16 */
	FDMSG_RULE_FDS_COUNT = 17,  /* a datagram's descriptors: value those
				       that came, limit the sum of its
				       frames' nfds (-EPROTO) */
	FDMSG_RULE_FDS_MISSING = 18, /* stream: value the frame's nfds, limit
					the descriptors untaken that came by
					the read of its first byte (-EPROTO) */
	FDMSG_RULE_FDS_UNCLAIMED = 19, /* stream: value descriptors no frame
					  took at the end, limit 0
					  (-EPROTO) */
	FDMSG_RULE_SENDER = 20,     /* stream: a frame's bytes from two
				       senders (credentials or pidfd): value
				       the pid of the read that continued
				       it, limit the pid of the one before
				       (0: none known) (-EPROTO) */
	/* The ancillary data of one read (-EPROTO unless noted). */
	FDMSG_RULE_CTRUNC = 21,     /* MSG_CTRUNC: value 0, limit max_fds */
	FDMSG_RULE_TRUNC = 22,      /* MSG_TRUNC (-EMSGSIZE): value 0, limit
				       the bytes the read could take */
	FDMSG_RULE_CMSG_LEVEL = 23, /* value the level; limit SOL_SOCKET */
	FDMSG_RULE_CMSG_TYPE = 24,  /* value the type; limit 0 */
	FDMSG_RULE_CMSG_LEN = 25,   /* a record's cmsg_len shorter than a
				       header or past the buffer: value
				       cmsg_len, limit the bytes left */
	FDMSG_RULE_CMSG_SIZE = 26,  /* a record's data not of its type's
				       size (not whole descriptors; a
				       credentials or pidfd record of
				       another size): value cmsg_len, limit
				       the cmsg_len its type takes */
	FDMSG_RULE_CMSG_REPEAT = 27, /* a credentials or pidfd record twice:
					value its type, limit 1 */
	FDMSG_RULE_FDS_REFUSED = 28, /* descriptors to a channel that takes
					none: value their number, limit 0 */
	FDMSG_RULE_FDS_MAX = 29,    /* more descriptors in one read than
				       max_fds: value their number, limit
				       max_fds */
	FDMSG_RULE_FD_INVALID = 30, /* a negative descriptor: value it (as a
				       32-bit pattern), limit 0 */
	FDMSG_RULE_FD_TABLE = 31,   /* our descriptor table is full: a
				       descriptor could not be received or
				       moved above 2 (-EMFILE, -ENFILE):
				       value and limit 0 */
	FDMSG_RULE_INTERNAL = 32,   /* a check that cannot fail failed */
	FDMSG_RULE_FDS_AHEAD = 33   /* stream: descriptors held ahead of
				       their frames after a read, beyond
				       what the frames begun declare: value
				       their number, limit max_fds
				       (-EPROTO) */
};

/* What fdmsg_chan_error and the *_explain calls fill in. */
struct fdmsg_error_info {
	int err;          /* the negative errno returned; 0: none */
	int rule;         /* enum fdmsg_rule */
	uint64_t value;   /* the offending value */
	uint64_t limit;   /* the limit, or the value required */
	uint32_t reserved[4]; /* 0 */
};

/*
 * The rule behind the channel's last receive-side rejection: the poison
 * of a connected channel (kept, like the error, for as long as the
 * channel lives), or the last datagram a receive-only channel dropped.
 * Before any, err 0 and FDMSG_RULE_NONE.  Other errors (-EAGAIN, -EPIPE,
 * -ESHUTDOWN, a send's) change nothing here.  Allocates nothing.
 * Returns info->err (0 or negative); -EINVAL (chan or info NULL, info
 * not written).
 */
FDMSG_API int fdmsg_chan_error(const struct fdmsg_chan *chan,
			       struct fdmsg_error_info *info);

/*
 * Why fdmsg_hdr_decode (fdmsg_hello_decode) with the same arguments
 * fails: returns what it returns and fills *info, FDMSG_RULE_NONE when it
 * does not fail.  -EINVAL with info NULL (not written).
 */
FDMSG_API int fdmsg_hdr_explain(const void *buf, size_t n,
				uint32_t max_frame, unsigned max_fds,
				struct fdmsg_error_info *info);
FDMSG_API int fdmsg_hello_explain(const void *buf, size_t n,
				  struct fdmsg_error_info *info);

/*
 * One line, no newline, saying which rule failed with the value and the
 * limit ("frame declares 5 descriptors, max_fds is 4"), into buf like
 * snprintf(3): at most len bytes with the NUL (nothing when len is 0, buf
 * may then be NULL).  Returns the length of the whole line, so a return
 * >= len means it was cut.  info NULL reads as no rejection.  A rule
 * this version does not know is named by its number.
 */
FDMSG_API size_t fdmsg_error_format(const struct fdmsg_error_info *info,
				    char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Version: src/version.c                                              */
/* ------------------------------------------------------------------ */

/*
 * The version of this header, the project's version in meson.build (which
 * refuses to configure when the two differ).  fdmsg_version() gives the
 * library's, which differs when a program runs against another build.
 */
#define FDMSG_VERSION_MAJOR 0
#define FDMSG_VERSION_MINOR 2
#define FDMSG_VERSION_PATCH 0
#define FDMSG_VERSION_STRING "0.2.0"

/* The library's version: a static string, "MAJOR.MINOR.PATCH". */
FDMSG_API const char *fdmsg_version(void);

/* ------------------------------------------------------------------ */
/* Errors: src/error.c                                                 */
/* ------------------------------------------------------------------ */

/* A static message for any error this library returns (negative errno). */
FDMSG_API const char *fdmsg_strerror(int err);
/* The errno's name ("EPROTO") for err of either sign; NULL for 0 and for
 * a value the library does not know. */
FDMSG_API const char *fdmsg_errname(int err);

#ifdef __cplusplus
}
#endif

#endif /* FDMSG_H */
