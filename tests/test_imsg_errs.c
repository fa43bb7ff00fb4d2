/* SPDX-License-Identifier: ISC */
/*
 * fdmsg-imsg's error paths the imsg suite does not reach: each with its
 * exact errno, the descriptors waiting for their messages closed, and the
 * error sticking for the next calls.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "imsg.h"
#include "imsg_int.h"
#include "imsg_util.h"
#include "testutil.h"

/*
 * A program that fills r.buf itself (imsg_read_nofd) and leaves r.wpos
 * past its end: imsg_get refuses it with EINVAL rather than read beyond
 * the buffer, closes the descriptor that waited for a flagged message,
 * and every later imsg_get and imsg_read says EINVAL, wpos mended or not.
 */
TEST(imsg_errs, wpos_past_r_buf_is_einval_closes_waiting_and_sticks)
{
	struct rx r;
	struct imsg m;
	int open0, i;

	rx_open(&r);
	open0 = fd_count(); /* with the pair open */
	rx_hdr(&r, 1, 16, 0, 0, 16, 1, NULL);
	cr_assert_eq(imsg_read(&r.b), 16);
	cr_assert_eq(fd_count(), open0 + 1, "the descriptor waits");
	r.b.r.wpos = sizeof(r.b.r.buf) + 1;
	errno = 0;
	cr_assert_eq(imsg_get(&r.b, &m), -1);
	cr_assert_eq(errno, EINVAL, "%s", strerror(errno));
	cr_assert_eq(fd_count(), open0, "the waiting descriptor stayed open");
	r.b.r.wpos = 16;
	for (i = 0; i < 2; i++) {
		errno = 0;
		cr_assert_eq(imsg_get(&r.b, &m), -1);
		cr_assert_eq(errno, EINVAL, "imsg_get: %s", strerror(errno));
		errno = 0;
		cr_assert_eq(imsg_read(&r.b), -1);
		cr_assert_eq(errno, EINVAL, "imsg_read: %s", strerror(errno));
	}
	rx_close(&r);
}
