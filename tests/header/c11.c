/* SPDX-License-Identifier: ISC */
/*
 * The public header on its own, as strict C11: no GNU extension needed,
 * no warning under -Wall -Wextra -Wpedantic, and its types usable.
 * ci/check-symbols compiles this with -std=c11 -fsyntax-only.
 */
#include <fdmsg.h>

int check_types(void);

int
check_types(void)
{
	struct fdmsg_opts opts;
	struct fdmsg_hdr hdr = { FDMSG_WIRE_VERSION, 0, 0, FDMSG_HDR_SIZE,
				 1, 2 };
	struct fdmsg_msg msg = { 0 };
	struct fdmsg_cred cred = { 0, 0, 0, -1 };
	struct fdmsg_chan *chan = NULL;
	struct fdmsg_wbuf w;
	struct fdmsg_rbuf r;
	uint8_t out[FDMSG_HDR_SIZE];
	unsigned flags = FDMSG_CHAN_OWN_FD | FDMSG_CLOSE_FDS |
			 FDMSG_NO_QUEUE | FDMSG_OPT_CREDS | FDMSG_OPT_PIDFD |
			 FDMSG_CRED_PIDFD;

	fdmsg_opts_init(&opts);
	opts.max_fds = FDMSG_MAX_FDS_CAP;
	fdmsg_wbuf_init_fixed(&w, out, sizeof(out));
	fdmsg_rbuf_init(&r, out, sizeof(out));
	/* Every function's type, so a changed signature breaks here. */
	{
		int (*send)(struct fdmsg_chan *, uint32_t, uint32_t,
			    const struct iovec *, size_t, const int *, size_t,
			    unsigned) = fdmsg_send;
		int (*recv)(struct fdmsg_chan *, struct fdmsg_msg *) =
			fdmsg_recv;
		const char *(*str)(int) = fdmsg_strerror;

		(void)send;
		(void)recv;
		(void)str;
	}
	(void)chan;
	(void)msg;
	(void)cred;
	(void)flags;
	return fdmsg_hdr_encode(&hdr, out);
}
