/* SPDX-License-Identifier: ISC */
/*
 * fdmsg-imsg: the classic imsg interface (imsg.h 1.5/1.6, as tmux 3.3a and
 * OpenBGPD 7.7 carry it) on fdmsg's receive gate.  Names, signatures,
 * struct layouts, constants, return conventions and the wire format are
 * those of that interface, so a program built for it builds against this
 * header unchanged and talks to an unchanged peer.
 *
 * Wire format: every message is a 16-byte header in host byte order
 * (struct imsg_hdr) followed by len - 16 bytes of data; 16 <= len <=
 * MAX_IMSGSIZE; flags IMSGF_HASFD when exactly one descriptor goes with
 * the message.
 *
 * Where this library is stricter than the classic code (fdmsg_imsg(3),
 * STRICTER THAN THE CLASSIC IMSG):
 *  - a malformed header (len out of range, an unknown flag), a message
 *    flagged IMSGF_HASFD whose descriptor did not come with or before its
 *    first byte, more than one descriptor in a read or more than 64
 *    waiting for their messages, MSG_CTRUNC or MSG_TRUNC, or a malformed
 *    control message is an error that sticks: imsg_read and imsg_get return -1
 *    with the same errno from then on, and every held descriptor is closed;
 *  - received descriptors are close-on-exec and never 0, 1 or 2;
 *  - sending never raises SIGPIPE (EPIPE instead).
 * Functions return what the classic ones return (-1 and errno on failure).
 */
#ifndef _IMSG_H_
#define _IMSG_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#ifndef TAILQ_HEAD
#include <sys/queue.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define IBUF_READ_SIZE		65535
#define IMSG_HEADER_SIZE	sizeof(struct imsg_hdr)
#define MAX_IMSGSIZE		16384

/* One message being built or queued for sending. */
struct ibuf {
	TAILQ_ENTRY(ibuf)	 entry;
	unsigned char		*buf;
	size_t			 size;	/* allocated */
	size_t			 max;	/* size may grow up to this */
	size_t			 wpos;	/* bytes written */
	size_t			 rpos;	/* bytes already sent */
	int			 fd;	/* to send with it; -1: none */
};

/* The send queue. */
struct msgbuf {
	TAILQ_HEAD(, ibuf)	 bufs;
	uint32_t		 queued;	/* messages queued */
	int			 fd;
};

/* The receive buffer.  Programs may fill buf and wpos themselves (a
 * recv into buf + wpos, as OpenBGPD's imsg_read_nofd does); rptr holds
 * the reader's sticky error: treat it as private. */
struct ibuf_read {
	unsigned char		 buf[IBUF_READ_SIZE];
	unsigned char		*rptr;
	size_t			 wpos;	/* bytes held */
};

struct imsg_fd {
	TAILQ_ENTRY(imsg_fd)	entry;
	int			fd;
};

struct imsgbuf {
	TAILQ_HEAD(, imsg_fd)	 fds;	/* private: descriptors waiting */
	struct ibuf_read	 r;
	struct msgbuf		 w;
	int			 fd;
	pid_t			 pid;
};

#define IMSGF_HASFD	1

struct imsg_hdr {
	uint32_t	 type;
	uint16_t	 len;	/* whole message, header included */
	uint16_t	 flags;
	uint32_t	 peerid;
	uint32_t	 pid;
};

struct imsg {
	struct imsg_hdr	 hdr;
	int		 fd;	/* the caller's to close; -1: none */
	void		*data;	/* hdr.len - 16 bytes; NULL when none */
};

/*
 * Descriptors imsg_read keeps free besides the one it may receive: it
 * returns -1 with errno EAGAIN, reading nothing, when fewer are free.
 */
extern int imsg_fd_overhead;

/* Buffers (imsg-buffer.c of the classic code). */
struct ibuf	*ibuf_open(size_t);
struct ibuf	*ibuf_dynamic(size_t, size_t);
int		 ibuf_add(struct ibuf *, const void *, size_t);
void		*ibuf_reserve(struct ibuf *, size_t);
void		*ibuf_seek(struct ibuf *, size_t, size_t);
size_t		 ibuf_size(struct ibuf *);
size_t		 ibuf_left(struct ibuf *);
void		 ibuf_close(struct msgbuf *, struct ibuf *);
int		 ibuf_write(struct msgbuf *);
void		 ibuf_free(struct ibuf *);
void		 msgbuf_init(struct msgbuf *);
void		 msgbuf_clear(struct msgbuf *);
int		 msgbuf_write(struct msgbuf *);
void		 msgbuf_drain(struct msgbuf *, size_t);

/* Messages (imsg.c). */
void	 imsg_init(struct imsgbuf *, int);
ssize_t	 imsg_read(struct imsgbuf *);
ssize_t	 imsg_get(struct imsgbuf *, struct imsg *);
int	 imsg_compose(struct imsgbuf *, uint32_t, uint32_t, pid_t, int,
	    const void *, uint16_t);
int	 imsg_composev(struct imsgbuf *, uint32_t, uint32_t, pid_t, int,
	    const struct iovec *, int);
struct ibuf *imsg_create(struct imsgbuf *, uint32_t, uint32_t, pid_t,
	    uint16_t);
int	 imsg_add(struct ibuf *, const void *, uint16_t);
void	 imsg_close(struct imsgbuf *, struct ibuf *);
void	 imsg_free(struct imsg *);
int	 imsg_flush(struct imsgbuf *);
void	 imsg_clear(struct imsgbuf *);

#ifdef __cplusplus
}
#endif

#endif /* _IMSG_H_ */
