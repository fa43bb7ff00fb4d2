/* SPDX-License-Identifier: ISC */
/*
 * The channel a raw peer attacks (rawpeer.h).  An object of its own in
 * the test library, so suites that link only the gate (test_cmsg) never
 * pull in the channel.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdmsg.h"
#include "rawpeer.h"

int
open_chan(int type, unsigned max_fds, uint32_t max_frame, uint32_t max_batch,
	  unsigned optflags, int *peer, struct fdmsg_chan **chan)
{
	struct fdmsg_opts o;
	int sv[2];
	int r;

	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	fdmsg_opts_init(&o);
	o.max_fds = max_fds;
	if (max_frame != 0)
		o.max_frame = max_frame;
	o.max_batch = max_batch;
	o.flags = optflags;
	r = fdmsg_chan_new(chan, sv[1], &o, FDMSG_CHAN_OWN_FD);
	if (r < 0) {
		close(sv[0]);
		return r;
	}
	*peer = sv[0];
	return 0;
}

int
recv_retry(struct fdmsg_chan *chan, int type, struct fdmsg_msg *m)
{
	int r = fdmsg_recv(chan, m);

	for (int i = 0; i < 3 && r == -EAGAIN && type == SOCK_STREAM; i++)
		r = fdmsg_recv(chan, m);
	return r;
}
