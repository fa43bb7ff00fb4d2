/*
 * Wire codec: the 16-byte frame header of DESIGN.md, version 1.
 * Pure over memory: no syscalls, no allocation, so fuzzers drive it
 * directly.
 */
#include <errno.h>
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

int
fdmsg_hdr_encode(const struct fdmsg_hdr *hdr, uint8_t out[FDMSG_HDR_SIZE])
{
	if (hdr == NULL || out == NULL)
		return -EINVAL;
	/* Refuse to put on the wire what no version-1 receiver accepts. */
	if (hdr->version != FDMSG_WIRE_VERSION || hdr->flags != 0 ||
	    hdr->len < FDMSG_HDR_SIZE)
		return -EINVAL;

	out[OFF_VERSION] = hdr->version;
	out[OFF_NFDS] = hdr->nfds;
	le16_store(out + OFF_FLAGS, hdr->flags);
	le32_store(out + OFF_LEN, hdr->len);
	le32_store(out + OFF_TYPE, hdr->type);
	le32_store(out + OFF_PEERID, hdr->peerid);
	return FDMSG_HDR_SIZE;
}

int
fdmsg_hdr_decode(const void *buf, size_t n, uint32_t max_frame,
		 unsigned max_fds, struct fdmsg_hdr *hdr)
{
	const uint8_t *p = buf;
	uint16_t flags;
	uint32_t len;

	if (n < FDMSG_HDR_SIZE)
		return 0;
	if (p == NULL || hdr == NULL)
		return -EINVAL;

	/* The wire table's order decides which error wins. */
	if (p[OFF_VERSION] != FDMSG_WIRE_VERSION)
		return -EBADMSG;
	if (p[OFF_NFDS] > max_fds)
		return -EPROTO;
	flags = le16_load(p + OFF_FLAGS);
	if (flags != 0)
		return -EBADMSG;
	len = le32_load(p + OFF_LEN);
	if (len < FDMSG_HDR_SIZE)
		return -EBADMSG;
	if (len > max_frame)
		return -EMSGSIZE;

	hdr->version = p[OFF_VERSION];
	hdr->nfds = p[OFF_NFDS];
	hdr->flags = flags;
	hdr->len = len;
	hdr->type = le32_load(p + OFF_TYPE);
	hdr->peerid = le32_load(p + OFF_PEERID);
	return FDMSG_HDR_SIZE;
}
