/* SPDX-License-Identifier: ISC */
/*
 * The error info after a call that may have rejected its input
 * (fdmsg_chan_error, the *_explain calls, the gate's): err is the error
 * returned for a rejection and 0 otherwise, the rule is set exactly when
 * err is, and fdmsg_error_format never writes past its buffer and always
 * reports the same whole length.
 */
#ifndef FDMSG_FUZZ_WHY_H
#define FDMSG_FUZZ_WHY_H

#include <string.h>

#include "fdmsg.h"
#include "fuzz.h"

/* The rule alone: cheap enough for a harness's inner loops. */
static inline void
fuzz_check_rule(const struct fdmsg_error_info *in, int err)
{
	FUZZ_CHECK(in->err == err);
	if (err == 0)
		FUZZ_CHECK(in->rule == FDMSG_RULE_NONE);
	else
		FUZZ_CHECK(in->rule > FDMSG_RULE_NONE &&
			   in->rule <= FDMSG_RULE_FDS_AHEAD);
}

static inline void
fuzz_check_why(const struct fdmsg_error_info *in, int err)
{
	char buf[208];
	size_t i, n, whole, lens[3];

	fuzz_check_rule(in, err);
	whole = fdmsg_error_format(in, NULL, 0);
	FUZZ_CHECK(whole > 0 && whole < 200);
	/* Whole, cut by one byte (its last character), and cut short. */
	lens[0] = whole + 1;
	lens[1] = whole;
	lens[2] = 1 + (size_t)(in->value % whole);
	for (i = 0; i < ARRAY_LEN(lens); i++) {
		memset(buf, 'z', lens[i] + 1);
		n = fdmsg_error_format(in, buf, lens[i]);
		FUZZ_CHECK(n == whole);
		FUZZ_CHECK(buf[lens[i]] == 'z');
		FUZZ_CHECK(strlen(buf) == (whole < lens[i] ? whole :
							     lens[i] - 1));
	}
}

#endif
