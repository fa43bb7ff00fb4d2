/* SPDX-License-Identifier: ISC */
/*
 * Internal parts of the wire codec (src/frame.c): with it, the only place
 * that knows where a header's fields lie (DESIGN.md's wire table).
 */
#ifndef FDMSG_FRAME_H
#define FDMSG_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "explain.h"
#include "fdmsg.h"
#include "util.h"

/* Field offsets of the wire table. */
#define OFF_VERSION 0
#define OFF_NFDS 1
#define OFF_FLAGS 2
#define OFF_LEN 4
#define OFF_TYPE 8
#define OFF_PEERID 12

/*
 * The header at p (n bytes there; p and hdr not NULL when n is a
 * header's): 0 while it is cut short, FDMSG_HDR_SIZE with *hdr filled,
 * or the first rule of the wire table it breaks (recorded in *why, which
 * may be NULL).  Inline: once per frame received, and the plain decode
 * pays nothing for the rule it does not record.
 */
static FDMSG_INLINE int
fdmsg_hdr_read(const uint8_t *p, size_t n,
	       uint32_t max_frame, unsigned max_fds,
	       struct fdmsg_hdr *hdr,
	       struct fdmsg_error_info *why)
{
	uint16_t flags;
	uint32_t len;

	if (n < FDMSG_HDR_SIZE)
		return 0;
	/* The wire table's order decides which error wins. */
	if (p[OFF_VERSION] != FDMSG_WIRE_VERSION)
		return fdmsg_why(why, FDMSG_RULE_VERSION, p[OFF_VERSION],
				 FDMSG_WIRE_VERSION, -EBADMSG);
	if (p[OFF_NFDS] > max_fds)
		return fdmsg_why(why, FDMSG_RULE_NFDS, p[OFF_NFDS], max_fds,
				 -EPROTO);
	flags = le16_load(p + OFF_FLAGS);
	if (flags != 0)
		return fdmsg_why(why, FDMSG_RULE_FLAGS, flags, 0, -EBADMSG);
	len = le32_load(p + OFF_LEN);
	if (len < FDMSG_HDR_SIZE)
		return fdmsg_why(why, FDMSG_RULE_LEN_SHORT, len,
				 FDMSG_HDR_SIZE, -EBADMSG);
	if (len > max_frame)
		return fdmsg_why(why, FDMSG_RULE_LEN_MAX, len, max_frame,
				 -EMSGSIZE);

	hdr->version = p[OFF_VERSION];
	hdr->nfds = p[OFF_NFDS];
	hdr->flags = flags;
	hdr->len = len;
	hdr->type = le32_load(p + OFF_TYPE);
	hdr->peerid = le32_load(p + OFF_PEERID);
	return FDMSG_HDR_SIZE;
}

/* The fields of a header already validated (by fdmsg_hdr_decode on
 * receive, fdmsg_hdr_encode on send): no checks.  Inline: once per frame
 * handed out or written. */
static inline void
fdmsg_hdr_fields(const uint8_t *p, struct fdmsg_hdr *h)
{
	h->version = p[OFF_VERSION];
	h->nfds = p[OFF_NFDS];
	h->flags = le16_load(p + OFF_FLAGS);
	h->len = le32_load(p + OFF_LEN);
	h->type = le32_load(p + OFF_TYPE);
	h->peerid = le32_load(p + OFF_PEERID);
}

/* Writes a header the sender built itself (version, flags 0, len at
 * least a header's: fdmsg_hdr_encode checks them for its callers), from
 * its fields.  Inline: once per frame sent, where the fields are still
 * in registers. */
static inline void
fdmsg_hdr_put_fields(uint8_t *p, uint8_t version, uint8_t nfds, uint16_t flags,
		     uint32_t len, uint32_t type, uint32_t peerid)
{
	p[OFF_VERSION] = version;
	p[OFF_NFDS] = nfds;
	le16_store(p + OFF_FLAGS, flags);
	le32_store(p + OFF_LEN, len);
	le32_store(p + OFF_TYPE, type);
	le32_store(p + OFF_PEERID, peerid);
}

/* The same from a struct fdmsg_hdr. */
static inline void
fdmsg_hdr_put(const struct fdmsg_hdr *h, uint8_t *p)
{
	fdmsg_hdr_put_fields(p, h->version, h->nfds, h->flags, h->len,
			     h->type, h->peerid);
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
