/*
 * Internal parts of the wire codec (src/frame.c): the only place that
 * knows where a header's fields lie.
 */
#ifndef FDMSG_FRAME_H
#define FDMSG_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "fdmsg.h"
#include "util.h"

/* The fields of a header already validated (by fdmsg_hdr_decode on
 * receive, fdmsg_hdr_encode on send): no checks. */
FDMSG_HIDDEN void fdmsg_hdr_fields(const uint8_t *p, struct fdmsg_hdr *h);

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
