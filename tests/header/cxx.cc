/* SPDX-License-Identifier: ISC */
// The public header from C++11: extern "C", no C-only construct, no
// warning under -Wall -Wextra -Wpedantic.  ci/check-symbols compiles this
// with -std=c++11 -fsyntax-only.
#include <fdmsg.h>

#include <cstdint>

static_assert(FDMSG_HDR_SIZE == 16, "the header is 16 bytes");
static_assert(FDMSG_MAX_FDS_CAP == 253, "SCM_MAX_FD");

int check_types();

int
check_types()
{
	fdmsg_opts opts;
	fdmsg_hdr hdr = {};
	fdmsg_msg msg = {};
	fdmsg_cred cred = {};
	fdmsg_chan *chan = nullptr;
	fdmsg_wbuf w;
	std::uint8_t out[FDMSG_HDR_SIZE];

	fdmsg_opts_init(&opts);
	hdr.version = FDMSG_WIRE_VERSION;
	hdr.len = FDMSG_HDR_SIZE;
	fdmsg_wbuf_init_fixed(&w, out, sizeof(out));
	// C linkage: the C++ compiler must not mangle these.
	int (*take)(fdmsg_msg *, unsigned) = fdmsg_msg_take_fd;
	void (*free_chan)(fdmsg_chan *) = fdmsg_chan_free;

	(void)take;
	(void)free_chan;
	(void)msg;
	(void)cred;
	(void)chan;
	return fdmsg_hdr_encode(&hdr, out);
}
