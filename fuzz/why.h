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

static inline void
fuzz_check_why(const struct fdmsg_error_info *in, int err)
{
	static const size_t lens[] = { 0, 1, 2, 7, 64, 200 };
	char buf[208];
	size_t i, n, whole;

	FUZZ_CHECK(in->err == err);
	if (err == 0)
		FUZZ_CHECK(in->rule == FDMSG_RULE_NONE);
	else
		FUZZ_CHECK(in->rule > FDMSG_RULE_NONE &&
			   in->rule <= FDMSG_RULE_INTERNAL);
	whole = fdmsg_error_format(in, NULL, 0);
	FUZZ_CHECK(whole > 0 && whole < 200);
	for (i = 0; i < ARRAY_LEN(lens); i++) {
		memset(buf, 'z', sizeof(buf));
		n = fdmsg_error_format(in, buf, lens[i]);
		FUZZ_CHECK(n == whole);
		FUZZ_CHECK(buf[lens[i]] == 'z');
		if (lens[i] > 0)
			FUZZ_CHECK(strlen(buf) ==
				   (whole < lens[i] ? whole : lens[i] - 1));
	}
}

#endif
