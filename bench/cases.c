/* SPDX-License-Identifier: ISC */
/*
 * The cases of fdmsg-bench and the goals of issue #12 they are held to.
 *
 * Every case runs the same work three ways on the same socket type: fdmsg,
 * the hand-written baseline of raw.c, and OpenBSD imsg (imsg.c; streams
 * only, as imsg is used).  Goal rows compare fdmsg with the batched
 * baseline (R_BATCH); the information rows ("per msg", "sendmmsg") with
 * the other baselines of raw.c, for comparison.
 */
#include <sys/socket.h>

#include "fdmsg.h"

#include "bench.h"

const struct goal_def goal_defs[NGOALS] = {
	[G_PINGPONG] = { "ping-pong 64 B: >= 0.97 of raw", 0.97, 0, 0 },
	[G_ONEWAY64] = { "one-way 64 B: >= 0.80 of batched raw", 0.80, 0, 0 },
	[G_ONEWAY_BIG] = { "one-way 1 KiB and 16 KiB: >= 0.95 of batched raw",
			   0.95, 0, 0 },
	[G_FD1] = { "1 descriptor per frame: >= 0.90 of batched raw, both "
		    "socket types", 0.90, 0, 0 },
	[G_FD8] = { "8 descriptors per frame: >= 0.90 of batched raw, both "
		    "socket types", 0.90, 0, 0 },
	[G_IMSG_ONEWAY] = { "against imsg, one-way 64 B, 1 and 8 descriptors:"
			    " >= 2.0x", 2.0, 0, 0 },
	[G_IMSG_PINGPONG] = { "against imsg, ping-pong: >= 1.2x", 1.2, 0, 0 },
	[G_IR_PINGPONG] = { "instructions per message, ping-pong: <= 1.5x raw "
			    "per side", 1.5, 1, 1 },
	[G_IR_ONEWAY64] = { "instructions per message, one-way 64 B: <= 2.5x "
			    "raw, both sides together", 2.5, 1, 1 },
	[G_ALLOCS] = { "allocations after warm-up: 0 in every case", 0, 1, 0 },
};

#define SEQ SOCK_SEQPACKET
#define STR SOCK_STREAM
#define CAP FDMSG_MAX_FDS_CAP

const struct bcase cases[] = {
	{ "ping-pong 64 B, SEQPACKET", K_PINGPONG, SEQ, R_MSG, 64, 0, 0,
	  G_PINGPONG, G_NONE, G_IR_PINGPONG, 0, 0, SEND_QUEUE, 2000, 0 },
	{ "ping-pong 64 B, STREAM", K_PINGPONG, STR, R_MSG, 64, 0, 0,
	  G_PINGPONG, G_IMSG_PINGPONG, G_IR_PINGPONG, 1, 0, SEND_QUEUE,
	  2000, 0 },
	{ "one-way 64 B, SEQPACKET", K_ONEWAY, SEQ, R_BATCH, 64, 0, 0,
	  G_ONEWAY64, G_NONE, G_IR_ONEWAY64, 0, 0, SEND_MORE, 65536, 0 },
	{ "one-way 64 B, STREAM", K_ONEWAY, STR, R_BATCH, 64, 0, 0,
	  G_ONEWAY64, G_IMSG_ONEWAY, G_IR_ONEWAY64, 1, 0, SEND_MORE, 65536, 0 },
	{ "one-way 1 KiB, SEQPACKET", K_ONEWAY, SEQ, R_BATCH, KiB, 0, 0,
	  G_ONEWAY_BIG, G_NONE, G_NONE, 0, 0, SEND_MORE, 16384, 0 },
	{ "one-way 1 KiB, STREAM", K_ONEWAY, STR, R_BATCH, KiB, 0, 0,
	  G_ONEWAY_BIG, G_NONE, G_NONE, 1, 0, SEND_MORE, 16384, 0 },
	{ "one-way 16 KiB, SEQPACKET", K_ONEWAY, SEQ, R_BATCH, 16 * KiB, 0, 0,
	  G_ONEWAY_BIG, G_NONE, G_NONE, 0, 0, SEND_QUEUE, 2048, 0 },
	{ "one-way 16 KiB, STREAM", K_ONEWAY, STR, R_BATCH, 16 * KiB, 0, 0,
	  G_ONEWAY_BIG, G_NONE, G_NONE, 1, 0, SEND_QUEUE, 2048, 0 },
	/* A descriptor per message given away, the broker's work: every
	 * role dup()s each message's descriptors and its sending side closes
	 * them once sent (raw after its sendmsg, fdmsg with FDMSG_CLOSE_FDS,
	 * imsg as imsg_compose does). */
	{ "64 B + 1 fd, SEQPACKET", K_ONEWAY, SEQ, R_BATCH, 64, 1, CAP,
	  G_FD1, G_NONE, G_NONE, 0, 0, SEND_MORE, 4096, 1 },
	{ "64 B + 1 fd, STREAM", K_ONEWAY, STR, R_BATCH, 64, 1, CAP,
	  G_FD1, G_IMSG_ONEWAY, G_NONE, 1, 0, SEND_MORE, 4096, 1 },
	{ "64 B + 8 fds, SEQPACKET", K_ONEWAY, SEQ, R_BATCH, 64, 8,
	  CAP, G_FD8, G_NONE, G_NONE, 0, 0, SEND_MORE, 2048, 1 },
	{ "64 B + 8 fds, STREAM", K_ONEWAY, STR, R_BATCH, 64, 8, CAP,
	  G_FD8, G_IMSG_ONEWAY, G_NONE, 1, 0, SEND_MORE, 2048, 1 },
	/* Information: descriptors kept, the same ones sent with every
	 * message.  The raw side relies on them staying open until its
	 * batch is sent; a queue cannot (its caller may close them once
	 * fdmsg_send returns), so fdmsg duplicates each queued one
	 * (F_DUPFD_CLOEXEC, then a close once sent) or, with 8, sends
	 * each frame at once (FDMSG_NO_QUEUE, one sendmsg per frame). */
	{ "64 B + 1 fd, SEQPACKET, kept", K_ONEWAY, SEQ, R_BATCH, 64, 1, CAP,
	  G_NONE, G_NONE, G_NONE, 0, 1, SEND_MORE, 4096, 0 },
	{ "64 B + 1 fd, STREAM, kept", K_ONEWAY, STR, R_BATCH, 64, 1, CAP,
	  G_NONE, G_NONE, G_NONE, 0, 1, SEND_MORE, 4096, 0 },
	{ "64 B + 8 fds, SEQPACKET, kept", K_ONEWAY, SEQ, R_BATCH, 64, 8, CAP,
	  G_NONE, G_NONE, G_NONE, 0, 1, SEND_POLL, 2048, 0 },
	{ "64 B + 8 fds, STREAM, kept", K_ONEWAY, STR, R_BATCH, 64, 8, CAP,
	  G_NONE, G_NONE, G_NONE, 0, 1, SEND_POLL, 2048, 0 },
	/* Information: the raw side one sendmsg per message, as before; and
	 * on SEQPACKET sendmmsg with one frame per datagram. */
	{ "one-way 64 B, SEQPACKET, per msg", K_ONEWAY, SEQ, R_MSG, 64, 0, 0,
	  G_NONE, G_NONE, G_NONE, 0, 1, SEND_MORE, 65536, 0 },
	{ "one-way 64 B, STREAM, per msg", K_ONEWAY, STR, R_MSG, 64, 0, 0,
	  G_NONE, G_NONE, G_NONE, 0, 1, SEND_MORE, 65536, 0 },
	{ "one-way 64 B, SEQPACKET, sendmmsg", K_ONEWAY, SEQ, R_MMSG, 64, 0, 0,
	  G_NONE, G_NONE, G_NONE, 0, 1, SEND_MORE, 65536, 0 },
	{ "64 B + 1 fd, SEQPACKET, per msg", K_ONEWAY, SEQ, R_MSG, 64, 1, CAP,
	  G_NONE, G_NONE, G_NONE, 0, 1, SEND_MORE, 4096, 0 },
	{ "64 B + 1 fd, STREAM, per msg", K_ONEWAY, STR, R_MSG, 64, 1, CAP,
	  G_NONE, G_NONE, G_NONE, 0, 1, SEND_MORE, 4096, 0 },
	{ "64 B + 1 fd, SEQPACKET, sendmmsg", K_ONEWAY, SEQ, R_MMSG, 64, 1, CAP,
	  G_NONE, G_NONE, G_NONE, 0, 1, SEND_MORE, 4096, 0 },
	{ "64 B + 8 fds, SEQPACKET, per msg", K_ONEWAY, SEQ, R_MSG, 64, 8, CAP,
	  G_NONE, G_NONE, G_NONE, 0, 1, SEND_POLL, 2048, 0 },
	{ "64 B + 8 fds, STREAM, per msg", K_ONEWAY, STR, R_MSG, 64, 8, CAP,
	  G_NONE, G_NONE, G_NONE, 0, 1, SEND_POLL, 2048, 0 },
	{ "64 B + 8 fds, SEQPACKET, sendmmsg", K_ONEWAY, SEQ, R_MMSG, 64, 8,
	  CAP, G_NONE, G_NONE, G_NONE, 0, 1, SEND_POLL, 2048, 0 },
	{ "decode only, 64 B frames", K_DECODE, 0, R_MEMCPY, 64, 0, 0, G_NONE,
	  G_NONE, G_NONE, 0, 1, SEND_QUEUE, 1u << 20, 0 },
};

const size_t ncases = sizeof(cases) / sizeof(cases[0]);
