/* SPDX-License-Identifier: ISC */
/*
 * A raw peer writes datagrams (SOCK_SEQPACKET, or SOCK_DGRAM by a
 * configuration bit) of fuzzed bytes with memfd descriptors attached;
 * a channel receives them.  The checks and the input format are in
 * fuzz/peer.h.
 */
#include "peer.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return peer_run(SOCK_SEQPACKET, data, size);
}
