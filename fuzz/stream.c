/* SPDX-License-Identifier: ISC */
/*
 * A raw peer writes a SOCK_STREAM byte stream in fuzzed pieces, with
 * /dev/null descriptors on some writes; a channel receives it, matching
 * descriptors to frames in arrival order, each from a read no later than
 * the frame's first byte's, at most max_fds of them ahead of their frames.  The
 * checks and the input format are in fuzz/peer.h.
 */
#include "peer.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return peer_run(SOCK_STREAM, data, size);
}
