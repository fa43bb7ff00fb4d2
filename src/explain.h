/* SPDX-License-Identifier: ISC */
/*
 * Why a read was rejected (fdmsg_chan_error): each rejection site records
 * its rule, the offending value and the limit with one call, on the
 * error path only.
 */
#ifndef FDMSG_EXPLAIN_H
#define FDMSG_EXPLAIN_H

#include <stddef.h>
#include <stdint.h>

#include "fdmsg.h"
#include "util.h"

/* Records the rule in *why (NULL: nowhere) and returns err. */
static inline int
fdmsg_why(struct fdmsg_error_info *why, int rule,
	  uint64_t value, uint64_t limit, int err)
{
	if (why != NULL) {
		why->err = err;
		why->rule = rule;
		why->value = value;
		why->limit = limit;
	}
	return err;
}

/* fdmsg_hdr_decode and fdmsg_hello_decode, recording a rejection's rule
 * in *why (may be NULL); a success writes nothing there. */
FDMSG_HIDDEN int fdmsg_hdr_decode_why(const void *buf, size_t n,
				      uint32_t max_frame, unsigned max_fds,
				      struct fdmsg_hdr *hdr,
				      struct fdmsg_error_info *why);
FDMSG_HIDDEN int fdmsg_hello_decode_why(const void *buf, size_t n,
					struct fdmsg_hello *hello,
					struct fdmsg_error_info *why);

#endif
