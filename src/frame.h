/* SPDX-License-Identifier: ISC */
/*
 * Internal parts of the wire codec (src/frame.c): with it, the only place
 * that knows where a header's fields lie (DESIGN.md's wire table).
 */
#ifndef FDMSG_FRAME_H
#define FDMSG_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "fdmsg.h"
#include "util.h"

/* Field offsets of the wire table. */
#define OFF_VERSION 0
#define OFF_NFDS 1
#define OFF_FLAGS 2
#define OFF_LEN 4
#define OFF_TYPE 8
#define OFF_PEERID 12

/* The fields of a header already validated (by fdmsg_hdr_decode on
 * receive, fdmsg_hdr_encode on send): no checks.  Inline: once per frame
 * handed out or written. */
static inline void fdmsg_hdr_fields(const uint8_t *p, struct fdmsg_hdr *h)
{
	h->version = p[OFF_VERSION];
	h->nfds = p[OFF_NFDS];
	h->flags = le16_load(p + OFF_FLAGS);
	h->len = le32_load(p + OFF_LEN);
	h->type = le32_load(p + OFF_TYPE);
	h->peerid = le32_load(p + OFF_PEERID);
}

/*
 * Stream: the descriptors the frames beginning in p[0..n) declare, a
 * frame at p[0] first, each counted at most cap; a frame whose nfds byte
 * is not there yet counts 0.  Walks by len without validating more (a
 * len below a header's ends the walk): the receive path decodes every
 * header itself before it hands a frame out.
 */
FDMSG_HIDDEN size_t fdmsg_stream_claims(const uint8_t *p, size_t n,
					unsigned cap);

#endif
