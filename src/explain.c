/* SPDX-License-Identifier: ISC */
/*
 * fdmsg_error_format: one line per rule, from a static table.  A small
 * bounded writer rather than snprintf(3): no locale, no allocation, and
 * the length of the whole line is known even when buf is cut.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "explain.h"

/* %V: the value, %L: the limit, %S: the value as a signed 32-bit int. */
static const char *const texts[] = {
	[FDMSG_RULE_NONE] = "no rejection",
	[FDMSG_RULE_VERSION] = "frame version %V, only version %L is spoken",
	[FDMSG_RULE_NFDS] = "frame declares %V descriptors, max_fds is %L",
	[FDMSG_RULE_FLAGS] = "frame flags %V, must be %L",
	[FDMSG_RULE_LEN_SHORT] = "frame length %V, below the %L-byte header",
	[FDMSG_RULE_LEN_MAX] = "frame length %V, max_frame is %L",
	[FDMSG_RULE_HELLO_NFDS] = "hello declares %V descriptors, must be %L",
	[FDMSG_RULE_HELLO_LEN] = "hello length %V, must be %L",
	[FDMSG_RULE_HELLO_ROUTE] = "hello type or peerid %V, must be %L",
	[FDMSG_RULE_HELLO_RESERVED] = "hello reserved field %V, must be %L",
	[FDMSG_RULE_HELLO_VERSIONS] = "hello min_version %V with max_version "
				      "%L",
	[FDMSG_RULE_HELLO_MAX_FRAME] = "hello max_frame %V, beyond %L",
	[FDMSG_RULE_HELLO_MAX_BATCH] = "hello max_batch %V, beyond %L",
	[FDMSG_RULE_HELLO_MAX_FDS] = "hello max_fds %V, above the cap %L",
	[FDMSG_RULE_HELLO_NO_VERSION] = "hello speaks versions %V to %L, "
					"none in common",
	[FDMSG_RULE_CUT] = "frame cut short: %V of its %L bytes",
	[FDMSG_RULE_EMPTY] = "empty datagram: no frame in it",
	[FDMSG_RULE_FDS_COUNT] = "%V descriptors came with the datagram, its "
				 "frames declare %L",
	[FDMSG_RULE_FDS_MISSING] = "frame declares %V descriptors, %L came "
				   "by the read of its first byte",
	[FDMSG_RULE_FDS_UNCLAIMED] = "%V descriptors came with no frame to "
				     "take them",
	[FDMSG_RULE_SENDER] = "frame continued by another sender (pid %V, "
			      "begun by pid %L)",
	[FDMSG_RULE_CTRUNC] = "ancillary data truncated (MSG_CTRUNC), "
			      "max_fds is %L",
	[FDMSG_RULE_TRUNC] = "datagram truncated (MSG_TRUNC): larger than "
			     "%L bytes",
	[FDMSG_RULE_CMSG_LEVEL] = "ancillary record of level %V, only "
				  "SOL_SOCKET (%L) is taken",
	[FDMSG_RULE_CMSG_TYPE] = "ancillary record of type %V, not allowed "
				 "here",
	[FDMSG_RULE_CMSG_LEN] = "malformed ancillary record: cmsg_len %V, %L "
				"bytes left",
	[FDMSG_RULE_CMSG_SIZE] = "ancillary record of cmsg_len %V, its type "
				 "takes %L",
	[FDMSG_RULE_CMSG_REPEAT] = "ancillary record of type %V repeated",
	[FDMSG_RULE_FDS_REFUSED] = "%V descriptors sent, max_fds is %L",
	[FDMSG_RULE_FDS_MAX] = "%V descriptors in one read, max_fds is %L",
	[FDMSG_RULE_FD_INVALID] = "descriptor %S in the ancillary data",
	[FDMSG_RULE_FD_TABLE] = "descriptor table full: a received "
				"descriptor could not be installed",
	[FDMSG_RULE_INTERNAL] = "internal check failed",
	[FDMSG_RULE_FDS_AHEAD] = "%V descriptors ahead of their frames, "
				 "max_fds is %L",
};

/* Writes into buf[0..len) while there is room (one byte kept for the
 * NUL), counting every byte of the whole line in pos. */
struct out {
	char *buf;
	size_t len;
	size_t pos;
};

static void
put(struct out *o, const char *s, size_t n)
{
	size_t room;

	if (o->len > 0 && o->pos < o->len - 1) {
		room = o->len - 1 - o->pos;
		memcpy(o->buf + o->pos, s, n < room ? n : room);
	}
	o->pos += n;
}

static void
put_num(struct out *o, uint64_t v, int neg)
{
	char d[24];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	if (neg)
		d[--i] = '-';
	put(o, d + i, sizeof(d) - i);
}

size_t
fdmsg_error_format(const struct fdmsg_error_info *info, char *buf, size_t len)
{
	struct out o = { buf, buf != NULL ? len : 0, 0 };
	const char *t, *p;
	size_t n;
	int32_t s;

	if (info == NULL || info->rule < 0 ||
	    (size_t)info->rule >= ARRAY_SIZE(texts) ||
	    texts[info->rule] == NULL) {
		t = info == NULL ? texts[FDMSG_RULE_NONE] : "rule %R";
	} else {
		t = texts[info->rule];
	}
	for (p = t; *p != '\0'; p++) {
		if (p[0] != '%' || p[1] == '\0') {
			n = strcspn(p + 1, "%") + 1; /* the text up to a '%' */
			put(&o, p, n);
			p += n - 1;
			continue;
		}
		switch (*++p) {
		case 'V':
			put_num(&o, info->value, 0);
			break;
		case 'L':
			put_num(&o, info->limit, 0);
			break;
		case 'S':
			s = (int32_t)(uint32_t)info->value;
			put_num(&o, s < 0 ? (uint64_t)-(int64_t)s : (uint64_t)s,
				s < 0);
			break;
		default: /* 'R': the rule's number */
			put_num(&o, (uint64_t)(uint32_t)info->rule,
				0);
			break;
		}
	}
	if (o.len > 0)
		o.buf[o.pos < o.len ? o.pos : o.len - 1] = '\0';
	return o.pos;
}
