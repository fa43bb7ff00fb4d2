/* SPDX-License-Identifier: ISC */
/*
 * fdmsg(1) captures: a pcapng writer (proxy --capture) and a reader
 * (decode), and the capture record each packet holds.  Not installed.
 *
 * A capture is a pcapng file: a Section Header Block (little-endian),
 * one Interface Description Block of link type CAPTURE_LINKTYPE
 * (LINKTYPE_USER0) with nanosecond timestamps, and one Enhanced Packet
 * Block per record.  Each packet's data is one capture record, all
 * integers little-endian:
 *
 *   offset size  field
 *   0      1     version       CAPTURE_VERSION (1)
 *   1      1     event         CAPTURE_EV_FRAME, _OPEN or _CLOSE
 *   2      1     dir           frame: who sent it (CAPTURE_DIR_CLIENT:
 *                              client to server; _SERVER: server to
 *                              client); close: whose doing it was (0:
 *                              the proxy's); open: CAPTURE_DIR_CLIENT
 *   3      1     reserved      0
 *   4      4     conn          the proxy's connection number, from 1
 *   frame:
 *   8      16    the frame's header as it was forwarded (the wire table)
 *   24     nfds  one kind per descriptor passed (CAPTURE_FD_*, fstat)
 *   24+nfds      the payload, len - 16 bytes
 *   open:
 *   8      4     pid           the client's, from SO_PEERCRED
 *   12     4     uid
 *   close:
 *   8      4     error         a positive errno; 0 an orderly end
 *
 * fdmsg(1) documents the same table.
 */
#ifndef FDMSG_PCAPNG_H
#define FDMSG_PCAPNG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#include "fdmsg.h"

#define CAPTURE_LINKTYPE 147u /* LINKTYPE_USER0 */
#define CAPTURE_VERSION 1u
#define CAPTURE_REC_HDR 8u    /* version, event, dir, reserved, conn */
#define CAPTURE_FRAME_HDR (CAPTURE_REC_HDR + FDMSG_HDR_SIZE)
#define CAPTURE_OPEN_SIZE (CAPTURE_REC_HDR + 8u)
#define CAPTURE_CLOSE_SIZE (CAPTURE_REC_HDR + 4u)

#define CAPTURE_EV_FRAME 1u
#define CAPTURE_EV_OPEN 2u
#define CAPTURE_EV_CLOSE 3u

#define CAPTURE_DIR_PROXY 0u  /* close: the proxy ended it (signal) */
#define CAPTURE_DIR_CLIENT 1u /* from the client, to the server */
#define CAPTURE_DIR_SERVER 2u /* from the server, to the client */

/* Descriptor kinds: a passed descriptor's fstat(2) file type. */
#define CAPTURE_FD_UNKNOWN 0u
#define CAPTURE_FD_FILE 1u    /* S_IFREG (also memfd) */
#define CAPTURE_FD_DIR 2u
#define CAPTURE_FD_CHR 3u
#define CAPTURE_FD_BLK 4u
#define CAPTURE_FD_FIFO 5u    /* a pipe or FIFO */
#define CAPTURE_FD_SOCKET 6u
#define CAPTURE_FD_LINK 7u    /* O_PATH | O_NOFOLLOW of a symbolic link */
#define CAPTURE_FD_ANON 8u    /* no file type: an anonymous inode
				 (eventfd, epoll, signalfd, ...) */
#define CAPTURE_FD_MAX CAPTURE_FD_ANON

/* Blocks larger than this are refused on reading: the largest record
 * (a frame at FDMSG_MAX_FRAME_CAP with FDMSG_MAX_FDS_CAP kinds) fits. */
#define PCAPNG_MAX_BLOCK (FDMSG_MAX_FRAME_CAP + 65536u)
#define PCAPNG_MAX_IFS 64u /* interfaces per section a reader keeps */

uint8_t capture_fd_kind(int fd);
/* "file", "socket", ...; "unknown" for any other value. */
const char *capture_fd_kind_name(uint8_t kind);

/* ------------------------------------------------------------------ */
/* Writer                                                              */
/* ------------------------------------------------------------------ */

struct pcapng_w {
	int fd;  /* written with write(2), blocking; not closed here */
	int err; /* sticky: the first write error */
};

/*
 * The Section Header Block and one Interface Description Block
 * (linktype, nanosecond timestamps; appl and ifname as options, NULL to
 * leave one out).  0, or -errno (sticky).
 */
int pcapng_w_start(struct pcapng_w *w, int fd, uint16_t linktype,
		   const char *appl, const char *ifname);
/* One Enhanced Packet Block on interface 0: the packet data is iov's
 * bytes, in order.  0, -EMSGSIZE (larger than a block may be) or
 * -errno (sticky). */
int pcapng_w_packet(struct pcapng_w *w, uint64_t ts_ns,
		    const struct iovec *iov, size_t iovcnt);

/* A frame's record: m as forwarded from dir; the kinds of its
 * descriptors from fstat. */
int capture_w_frame(struct pcapng_w *w, uint64_t ts_ns, uint32_t conn,
		    uint8_t dir, const struct fdmsg_msg *m);
int capture_w_open(struct pcapng_w *w, uint64_t ts_ns, uint32_t conn,
		   uint32_t pid, uint32_t uid);
/* err: a negative or positive errno, 0 an orderly end. */
int capture_w_close(struct pcapng_w *w, uint64_t ts_ns, uint32_t conn,
		    uint8_t dir, int err);

/* ------------------------------------------------------------------ */
/* Reader                                                              */
/* ------------------------------------------------------------------ */

/*
 * Reads up to n bytes into buf: the count (fewer only at the end), or
 * -errno.
 */
typedef long (*pcapng_read_fn)(void *ctx, void *buf, size_t n);

struct pcapng_r {
	pcapng_read_fn read;
	void *ctx;
	uint8_t *buf;         /* the current block (heap, grown) */
	size_t cap;
	uint64_t off;         /* file offset of the next block */
	uint64_t block_off;   /* of the current block (for errors) */
	int in_section;
	uint32_t nifs;
	struct {
		uint16_t linktype;
		uint8_t tsresol;  /* if_tsresol as written; default 6 */
	} ifs[PCAPNG_MAX_IFS];
	const char *why;      /* after an error: which rule, static */
};

/* One packet (an Enhanced Packet Block). */
struct pcapng_pkt {
	uint64_t off;         /* its block's file offset */
	uint32_t ifid;
	uint16_t linktype;
	uint64_t sec;         /* timestamp, in seconds and nanoseconds */
	uint32_t nsec;
	const uint8_t *data;  /* caplen bytes, valid until the next call */
	uint32_t caplen;
	uint32_t origlen;
};

void pcapng_r_init(struct pcapng_r *r, pcapng_read_fn read, void *ctx);
void pcapng_r_free(struct pcapng_r *r);
/*
 * The next packet: 1, 0 at the end of the file, or an error: -EBADMSG
 * (a block that breaks a rule: r->why says which, r->block_off where),
 * -EMSGSIZE (a block above PCAPNG_MAX_BLOCK), -EPROTONOSUPPORT (a
 * big-endian section or a pcapng major version other than 1), -ENOMEM,
 * or the read's error.  Blocks other than the section header, interface
 * descriptions and enhanced packets are skipped after their lengths are
 * checked.
 */
int pcapng_r_next(struct pcapng_r *r, struct pcapng_pkt *pkt);

/* A capture record, parsed from a packet; points into its data. */
struct capture_rec {
	uint8_t event, dir;
	uint32_t conn;
	struct fdmsg_hdr hdr;     /* frame */
	const uint8_t *kinds;     /* frame: hdr.nfds of them */
	const uint8_t *payload;   /* frame: paylen bytes captured */
	size_t paylen;
	int truncated;            /* frame: payload cut at capture */
	uint32_t pid, uid;        /* open */
	uint32_t error;           /* close */
};

/* 0, or -EBADMSG with *why set (a static string). */
int capture_rec_parse(const struct pcapng_pkt *pkt, struct capture_rec *rec,
		      const char **why);

/* A reader over memory: ctx is a struct pcapng_mem, pos from 0. */
struct pcapng_mem {
	const uint8_t *p;
	size_t n, pos;
};

long pcapng_mem_read(void *ctx, void *buf, size_t n);

/*
 * decode's pcapng branch over a file read through read(ctx): prints one
 * line per record to out.  0, or an error with *off and *why (static;
 * "read" for the read's own error) set for the message; errname names
 * errnos for the lines of close records.
 */
int pcapng_decode(pcapng_read_fn read, void *ctx, FILE *out,
		  const char *(*errname)(int), uint64_t *off,
		  const char **why);

/* 1 when buf[0..n) starts like a pcapng file (a Section Header Block). */
int pcapng_is(const void *buf, size_t n);

#endif
