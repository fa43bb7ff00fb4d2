/* SPDX-License-Identifier: ISC */
/*
 * Sizes and offsets of the classic structs, as the reference header lays
 * them out; tests/test_imsg_stock.c compares them with imsg/include/imsg.h.
 */
#include <stddef.h>

#include "compat.h"
#include "imsg.h"

#define L(t, f) offsetof(struct t, f)

const size_t stock_imsg_layout[] = {
	sizeof(struct ibuf), L(ibuf, buf), L(ibuf, size), L(ibuf, max),
	L(ibuf, wpos), L(ibuf, rpos), L(ibuf, fd),
	sizeof(struct msgbuf), L(msgbuf, queued), L(msgbuf, fd),
	sizeof(struct ibuf_read), L(ibuf_read, rptr), L(ibuf_read, wpos),
	sizeof(struct imsg_fd), L(imsg_fd, fd),
	sizeof(struct imsgbuf), L(imsgbuf, r), L(imsgbuf, w), L(imsgbuf, fd),
	L(imsgbuf, pid),
	sizeof(struct imsg_hdr), L(imsg_hdr, type), L(imsg_hdr, len),
	L(imsg_hdr, flags), L(imsg_hdr, peerid), L(imsg_hdr, pid),
	sizeof(struct imsg), L(imsg, hdr), L(imsg, fd), L(imsg, data),
	IBUF_READ_SIZE, IMSG_HEADER_SIZE, MAX_IMSGSIZE, IMSGF_HASFD,
	0
};
