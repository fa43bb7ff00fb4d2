/* SPDX-License-Identifier: ISC */
/*
 * Wire codec: the 16-byte frame header of DESIGN.md, version 1.
 * Pure over memory: no syscalls, no allocation, so fuzzers drive it
 * directly.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "explain.h"
#include "fdmsg.h"
#include "frame.h"
#include "util.h"

/* The header's field offsets and rules are in frame.h, with the readers
 * that the queue and the receive paths inline. */

int
fdmsg_hdr_encode(const struct fdmsg_hdr *hdr, uint8_t out[FDMSG_HDR_SIZE])
{
	if (hdr == NULL || out == NULL)
		return -EINVAL;
	/* Refuse to put on the wire what no version-1 receiver accepts. */
	if (hdr->version != FDMSG_WIRE_VERSION || hdr->flags != 0 ||
	    hdr->len < FDMSG_HDR_SIZE)
		return -EINVAL;

	fdmsg_hdr_put(hdr, out);
	return FDMSG_HDR_SIZE;
}

int
fdmsg_hdr_decode(const void *buf, size_t n, uint32_t max_frame,
		 unsigned max_fds, struct fdmsg_hdr *hdr)
{
	return fdmsg_hdr_decode_why(buf, n, max_frame, max_fds, hdr, NULL);
}

int
fdmsg_hdr_decode_why(const void *buf, size_t n, uint32_t max_frame,
		     unsigned max_fds, struct fdmsg_hdr *hdr,
		     struct fdmsg_error_info *why)
{
	if (n >= FDMSG_HDR_SIZE && (buf == NULL || hdr == NULL))
		return -EINVAL;
	return fdmsg_hdr_read(buf, n, max_frame, max_fds, hdr, why);
}

size_t
fdmsg_stream_claims(const uint8_t *p, size_t n, unsigned cap)
{
	size_t off = 0, sum = 0;
	uint32_t len;

	while (n - off > OFF_NFDS) {
		sum += p[off + OFF_NFDS] < cap ? p[off + OFF_NFDS] : cap;
		if (n - off < OFF_LEN + 4)
			break;
		len = le32_load(p + off + OFF_LEN);
		if (len < FDMSG_HDR_SIZE || len >= n - off)
			break;
		off += len;
	}
	return sum;
}

/* The hello's body, after its header (fdmsg.h, "The connection hello"). */
#define OFF_MIN_VERSION 16
#define OFF_MAX_VERSION 17
#define OFF_RESERVED16 18
#define OFF_MAX_FRAME 20
#define OFF_MAX_BATCH 24
#define OFF_MAX_FDS 28
#define OFF_CAPS 32
#define OFF_RESERVED32 36

/* The body's rules, in its order; 0 or -EBADMSG, the rule in *why. */
static int
hello_check(const struct fdmsg_hello *h, struct fdmsg_error_info *why)
{
	if (h->min_version == 0 || h->max_version < h->min_version)
		return fdmsg_why(why, FDMSG_RULE_HELLO_VERSIONS,
				 h->min_version, h->max_version, -EBADMSG);
	if (h->max_frame < FDMSG_HDR_SIZE || h->max_frame > FDMSG_MAX_FRAME_CAP)
		return fdmsg_why(why, FDMSG_RULE_HELLO_MAX_FRAME, h->max_frame,
				 h->max_frame < FDMSG_HDR_SIZE ?
					 FDMSG_HDR_SIZE : FDMSG_MAX_FRAME_CAP,
				 -EBADMSG);
	if (h->max_batch != 0 && (h->max_batch < h->max_frame ||
				  h->max_batch > FDMSG_MAX_FRAME_CAP))
		return fdmsg_why(why, FDMSG_RULE_HELLO_MAX_BATCH, h->max_batch,
				 h->max_batch < h->max_frame ?
					 h->max_frame : FDMSG_MAX_FRAME_CAP,
				 -EBADMSG);
	if (h->max_fds > FDMSG_MAX_FDS_CAP)
		return fdmsg_why(why, FDMSG_RULE_HELLO_MAX_FDS, h->max_fds,
				 FDMSG_MAX_FDS_CAP, -EBADMSG);
	return 0;
}

int
fdmsg_hello_is(const void *buf, size_t n)
{
	const uint8_t *p = buf;

	return p != NULL && n >= OFF_LEN && p[OFF_VERSION] == FDMSG_WIRE_VERSION &&
	       le16_load(p + OFF_FLAGS) == FDMSG_HDR_HELLO;
}

int
fdmsg_hello_encode(const struct fdmsg_hello *hello,
		   uint8_t out[FDMSG_HELLO_SIZE])
{
	if (hello == NULL || out == NULL || hello_check(hello, NULL) < 0)
		return -EINVAL;
	out[OFF_VERSION] = FDMSG_WIRE_VERSION;
	out[OFF_NFDS] = 0;
	le16_store(out + OFF_FLAGS, FDMSG_HDR_HELLO);
	le32_store(out + OFF_LEN, FDMSG_HELLO_SIZE);
	le32_store(out + OFF_TYPE, 0);
	le32_store(out + OFF_PEERID, 0);
	out[OFF_MIN_VERSION] = hello->min_version;
	out[OFF_MAX_VERSION] = hello->max_version;
	le16_store(out + OFF_RESERVED16, 0);
	le32_store(out + OFF_MAX_FRAME, hello->max_frame);
	le32_store(out + OFF_MAX_BATCH, hello->max_batch);
	le32_store(out + OFF_MAX_FDS, hello->max_fds);
	le32_store(out + OFF_CAPS, hello->caps);
	le32_store(out + OFF_RESERVED32, 0);
	return FDMSG_HELLO_SIZE;
}

int
fdmsg_hello_decode(const void *buf, size_t n, struct fdmsg_hello *hello)
{
	return fdmsg_hello_decode_why(buf, n, hello, NULL);
}

int
fdmsg_hello_decode_why(const void *buf, size_t n, struct fdmsg_hello *hello,
		       struct fdmsg_error_info *why)
{
	const uint8_t *p = buf;
	struct fdmsg_hello h;
	uint32_t v;
	int r;

	/* The header's rules in the wire table's order, as soon as it is
	 * whole, then the rest once the hello is. */
	if (n < FDMSG_HDR_SIZE)
		return 0;
	if (p == NULL || hello == NULL)
		return -EINVAL;
	if (p[OFF_VERSION] != FDMSG_WIRE_VERSION)
		return fdmsg_why(why, FDMSG_RULE_VERSION, p[OFF_VERSION],
				 FDMSG_WIRE_VERSION, -EBADMSG);
	if (p[OFF_NFDS] != 0)
		return fdmsg_why(why, FDMSG_RULE_HELLO_NFDS, p[OFF_NFDS], 0,
				 -EPROTO);
	if ((v = le16_load(p + OFF_FLAGS)) != FDMSG_HDR_HELLO)
		return fdmsg_why(why, FDMSG_RULE_FLAGS, v, FDMSG_HDR_HELLO,
				 -EBADMSG);
	if ((v = le32_load(p + OFF_LEN)) != FDMSG_HELLO_SIZE)
		return fdmsg_why(why, FDMSG_RULE_HELLO_LEN, v, FDMSG_HELLO_SIZE,
				 -EBADMSG);
	if (n < FDMSG_HELLO_SIZE)
		return 0;
	if ((v = le32_load(p + OFF_TYPE)) != 0 ||
	    (v = le32_load(p + OFF_PEERID)) != 0)
		return fdmsg_why(why, FDMSG_RULE_HELLO_ROUTE, v, 0, -EBADMSG);
	h.min_version = p[OFF_MIN_VERSION];
	h.max_version = p[OFF_MAX_VERSION];
	h.max_frame = le32_load(p + OFF_MAX_FRAME);
	h.max_batch = le32_load(p + OFF_MAX_BATCH);
	h.max_fds = le32_load(p + OFF_MAX_FDS);
	h.caps = le32_load(p + OFF_CAPS);
	if ((v = le16_load(p + OFF_RESERVED16)) != 0 ||
	    (v = le32_load(p + OFF_RESERVED32)) != 0)
		return fdmsg_why(why, FDMSG_RULE_HELLO_RESERVED, v, 0,
				 -EBADMSG);
	if ((r = hello_check(&h, why)) < 0)
		return r;
	*hello = h;
	return FDMSG_HELLO_SIZE;
}

/* Both leave *info at FDMSG_RULE_NONE when the decode does not fail. */
int
fdmsg_hdr_explain(const void *buf, size_t n, uint32_t max_frame,
		  unsigned max_fds, struct fdmsg_error_info *info)
{
	struct fdmsg_hdr h;

	if (info == NULL)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	return fdmsg_hdr_decode_why(buf, n, max_frame, max_fds, &h, info);
}

int
fdmsg_hello_explain(const void *buf, size_t n, struct fdmsg_error_info *info)
{
	struct fdmsg_hello h;

	if (info == NULL)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	return fdmsg_hello_decode_why(buf, n, &h, info);
}
