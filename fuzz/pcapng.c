/* SPDX-License-Identifier: ISC */
/*
 * The capture reader (tools/pcapng.c): pcapng_r_next and
 * capture_rec_parse over a file made of the input, which is untrusted
 * (fdmsg decode reads whatever it is given):
 *  - a packet's caplen never exceeds its origlen, and its data is caplen
 *    bytes the harness can read whole (ASan sees an overrun);
 *  - a parsed frame record's parts tile the packet: 24 + nfds + the
 *    captured payload is caplen, the payload never longer than the
 *    header says, cut exactly when caplen < origlen;
 *  - each packet written again by the writer reads back the same bytes;
 *  - an error comes with a reason, and the reader stops there.
 * The same file goes through pcapng_decode (decode's printing) once.
 * Input: the file itself.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fdmsg.h"
#include "fuzz.h"
#include "pcapng.h"

#define MAX_PACKETS 64

static const char *
errname(int e)
{
	(void)e;
	return "E";
}

static void
check_rec(const struct pcapng_pkt *pkt)
{
	struct capture_rec c;
	const char *why = "unset";
	int r = capture_rec_parse(pkt, &c, &why);

	if (r < 0) {
		FUZZ_CHECK(r == -EBADMSG);
		FUZZ_CHECK(why != NULL);
		return;
	}
	FUZZ_CHECK(why == NULL);
	FUZZ_CHECK(c.event >= CAPTURE_EV_FRAME && c.event <= CAPTURE_EV_CLOSE);
	if (c.event != CAPTURE_EV_FRAME)
		return;
	FUZZ_CHECK(c.dir == CAPTURE_DIR_CLIENT || c.dir == CAPTURE_DIR_SERVER);
	FUZZ_CHECK(c.hdr.len >= FDMSG_HDR_SIZE);
	FUZZ_CHECK(CAPTURE_FRAME_HDR + c.hdr.nfds + c.paylen == pkt->caplen);
	FUZZ_CHECK(c.kinds == pkt->data + CAPTURE_FRAME_HDR);
	FUZZ_CHECK(c.payload == c.kinds + c.hdr.nfds);
	FUZZ_CHECK(c.paylen <= c.hdr.len - FDMSG_HDR_SIZE);
	FUZZ_CHECK(c.truncated == (c.paylen < c.hdr.len - FDMSG_HDR_SIZE));
	FUZZ_CHECK(c.truncated == (pkt->caplen < pkt->origlen));
}

/* Each packet's data, written as a packet again, reads back the same. */
static void
rewrite(int fd, uint8_t *const *data, const uint32_t *len, int n)
{
	struct pcapng_w w;
	struct pcapng_r r;
	struct pcapng_pkt pkt;
	struct iovec iov;
	struct pcapng_mem m;
	uint8_t *file;
	off_t end;
	int i;

	FUZZ_CHECK(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0);
	FUZZ_CHECK(pcapng_w_start(&w, fd, CAPTURE_LINKTYPE, "fuzz", "if") == 0);
	for (i = 0; i < n; i++) {
		iov.iov_base = data[i];
		iov.iov_len = len[i];
		FUZZ_CHECK(pcapng_w_packet(&w, (uint64_t)i, &iov, 1) == 0);
	}
	end = lseek(fd, 0, SEEK_END);
	FUZZ_CHECK(end > 0);
	file = malloc((size_t)end);
	FUZZ_CHECK(file != NULL);
	FUZZ_CHECK(pread(fd, file, (size_t)end, 0) == end);
	m = (struct pcapng_mem){ file, (size_t)end, 0 };
	pcapng_r_init(&r, pcapng_mem_read, &m);
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(pcapng_r_next(&r, &pkt) == 1);
		FUZZ_CHECK(pkt.linktype == CAPTURE_LINKTYPE);
		FUZZ_CHECK(pkt.caplen == len[i] && pkt.origlen == len[i]);
		FUZZ_CHECK(len[i] == 0 || memcmp(pkt.data, data[i], len[i]) == 0);
		FUZZ_CHECK(pkt.sec == 0 && pkt.nsec == (uint32_t)i);
	}
	FUZZ_CHECK(pcapng_r_next(&r, &pkt) == 0);
	pcapng_r_free(&r);
	free(file);
}

static ssize_t
sink_write(void *cookie, const char *buf, size_t n)
{
	(void)cookie;
	(void)buf;
	return (ssize_t)n;
}

static const cookie_io_functions_t sink = { .write = sink_write };
static int sink_fd = -1;
static FILE *devnull;

/* At exit: nothing left open for valgrind --track-fds to report. */
static void
close_sink(void)
{
	if (devnull != NULL)
		fclose(devnull);
	if (sink_fd >= 0)
		close(sink_fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	uint8_t *copies[MAX_PACKETS];
	uint32_t lens[MAX_PACKETS];
	struct pcapng_r r;
	struct pcapng_pkt pkt;
	struct pcapng_mem m = { data, size, 0 }, again = { data, size, 0 };
	const char *why;
	uint64_t off;
	int ret, n = 0, i;

	if (fd < 0) {
		fd = memfd_create("fuzz-pcapng", MFD_CLOEXEC);
		/* decode's text goes nowhere: no /dev/null in a harness. */
		devnull = fopencookie(NULL, "w", sink);
		FUZZ_CHECK(fd >= 0 && devnull != NULL);
		sink_fd = fd;
		FUZZ_CHECK(atexit(close_sink) == 0);
	}
	pcapng_r_init(&r, pcapng_mem_read, &m);
	while ((ret = pcapng_r_next(&r, &pkt)) == 1) {
		FUZZ_CHECK(pkt.caplen <= pkt.origlen);
		FUZZ_CHECK(pkt.nsec < 1000000000u);
		check_rec(&pkt);
		if (n < MAX_PACKETS) {
			copies[n] = malloc(pkt.caplen + 1u);
			FUZZ_CHECK(copies[n] != NULL);
			memcpy(copies[n], pkt.data, pkt.caplen);
			lens[n++] = pkt.caplen;
		}
	}
	FUZZ_CHECK(ret <= 0);
	if (ret < 0)
		FUZZ_CHECK(r.why != NULL);
	FUZZ_CHECK(m.pos <= size);
	pcapng_r_free(&r);
	if (n > 0)
		rewrite(fd, copies, lens, n);
	for (i = 0; i < n; i++)
		free(copies[i]);

	/* decode's branch: its lines, its errors. */
	why = NULL;
	ret = pcapng_decode(pcapng_mem_read, &again, devnull, errname, &off,
			    &why);
	FUZZ_CHECK(ret <= 0);
	if (ret < 0)
		FUZZ_CHECK(why != NULL);
	return 0;
}
