/* SPDX-License-Identifier: ISC */
/*
 * The capture writer and reader (tools/pcapng.c) at the unit level: the
 * blocks' bytes and lengths as written, and the reader against files cut
 * short and lengths that lie.  The reader parses untrusted files: each
 * rejection is checked with its error and its reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fdmsg.h"
#include "pcapng.h"
#include "testutil.h"

/* A file written by the writer, read back whole. */
struct file {
	uint8_t *p;
	size_t n;
};

static void
slurp(int fd, struct file *f)
{
	off_t end = lseek(fd, 0, SEEK_END);

	cr_assert_geq(end, 0);
	f->n = (size_t)end;
	f->p = malloc(f->n + 1);
	cr_assert_not_null(f->p);
	cr_assert_eq(pread(fd, f->p, f->n, 0), (ssize_t)f->n);
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* A memfd the writer writes into. */
static int
memfile(void)
{
	int fd = memfd_create("capture", MFD_CLOEXEC);

	cr_assert_geq(fd, 0, "memfd_create: %s", strerror(errno));
	return fd;
}

/*
 * A capture with three records: a frame with payload "hello" and three
 * descriptors (a pipe, a file, a socket), an open record, a close record.
 */
static void
sample(struct file *f)
{
	struct pcapng_w w;
	struct fdmsg_msg m = { 0 };
	int fd = memfile(), p[2], s[2], fds[3];

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
	fds[0] = p[0];
	fds[1] = fd;
	fds[2] = s[0];
	m.type = 7;
	m.peerid = 9;
	m.payload = "hello";
	m.len = 5;
	m.fds = fds;
	m.nfds = 3;
	cr_assert_eq(pcapng_w_start(&w, fd, CAPTURE_LINKTYPE, "test", "if"),
		     0);
	cr_assert_eq(capture_w_open(&w, 1000000001ull, 4, 123, 1000), 0);
	cr_assert_eq(capture_w_frame(&w, 2000000002ull, 4, CAPTURE_DIR_CLIENT,
				     &m), 0);
	cr_assert_eq(capture_w_close(&w, 3000000003ull, 4, CAPTURE_DIR_SERVER,
				     -EPROTO), 0);
	slurp(fd, f);
	close(p[0]);
	close(p[1]);
	close(s[0]);
	close(s[1]);
	close(fd);
}

/* The block lengths of f, in order, checked as a reader of the spec
 * would: leading equals trailing, a multiple of 4, and they tile f. */
static size_t
blocks(const struct file *f, size_t *off, size_t max)
{
	size_t pos = 0, n = 0, len;

	while (pos < f->n) {
		cr_assert_geq(f->n - pos, 12);
		len = le32(f->p + pos + 4);
		cr_assert_eq(len % 4, 0, "block at %zu: length %zu", pos, len);
		cr_assert_leq(len, f->n - pos);
		cr_assert_eq(le32(f->p + pos + len - 4), len);
		cr_assert_lt(n, max);
		off[n++] = pos;
		pos += len;
	}
	return n;
}

TEST(pcapng, blocks_as_written)
{
	struct file f;
	size_t off[8], n;
	const uint8_t *e;

	sample(&f);
	n = blocks(&f, off, 8);
	cr_assert_eq(n, 5, "SHB, IDB, three EPBs: %zu blocks", n);
	/* Section header: little-endian magic, version 1.0, length -1. */
	cr_assert_eq(le32(f.p), 0x0A0D0D0Au);
	cr_assert_eq(le32(f.p + 8), 0x1A2B3C4Du);
	cr_assert_eq(f.p[12] | f.p[13] << 8, 1);
	cr_assert_eq(f.p[14] | f.p[15] << 8, 0);
	cr_assert_eq(le32(f.p + 16), 0xffffffffu);
	cr_assert_eq(le32(f.p + 20), 0xffffffffu);
	/* Interface: USER0, snaplen 0. */
	cr_assert_eq(le32(f.p + off[1]), 1u);
	cr_assert_eq(f.p[off[1] + 8] | f.p[off[1] + 9] << 8, 147);
	cr_assert_eq(le32(f.p + off[1] + 12), 0u);
	/* The frame's packet: 8 + 16 + 3 + 5 = 32 bytes, no padding; the
	 * timestamp in nanoseconds, high word first. */
	e = f.p + off[3];
	cr_assert_eq(le32(e), 6u);
	cr_assert_eq(le32(e + 4), 28u + 32u + 4u);
	cr_assert_eq(le32(e + 8), 0u);
	cr_assert_eq(((uint64_t)le32(e + 12) << 32) | le32(e + 16),
		     2000000002ull);
	cr_assert_eq(le32(e + 20), 32u);
	cr_assert_eq(le32(e + 24), 32u);
	cr_assert_eq(e[28], 1);                 /* record version */
	cr_assert_eq(e[29], CAPTURE_EV_FRAME);
	cr_assert_eq(e[30], CAPTURE_DIR_CLIENT);
	cr_assert_eq(le32(e + 32), 4u);          /* conn */
	cr_assert_eq(e[36], 1);                 /* wire version */
	cr_assert_eq(e[37], 3);                 /* nfds */
	cr_assert_eq(le32(e + 40), 21u);         /* len */
	cr_assert_eq(le32(e + 44), 7u);
	cr_assert_eq(le32(e + 48), 9u);
	cr_assert_eq(e[52], CAPTURE_FD_FIFO);
	cr_assert_eq(e[53], CAPTURE_FD_FILE);
	cr_assert_eq(e[54], CAPTURE_FD_SOCKET);
	cr_assert_eq(memcmp(e + 55, "hello", 5), 0);
	/* The close record: 12 bytes, the errno positive. */
	e = f.p + off[4];
	cr_assert_eq(le32(e + 20), 12u);
	cr_assert_eq(le32(e + 36), (uint32_t)EPROTO);
	free(f.p);
}

/* Payloads of 0 to 7 bytes: padded with zeros to 4, lengths agree. */
TEST(pcapng, padding)
{
	static const uint8_t data[7] = { 1, 2, 3, 4, 5, 6, 7 };
	struct pcapng_w w;
	struct iovec iov;
	struct file f;
	size_t off[16], n, len, i;
	int fd;

	fd = memfile();
	cr_assert_eq(pcapng_w_start(&w, fd, 147, NULL, NULL), 0);
	for (len = 0; len < 8; len++) {
		iov.iov_base = (void *)(uintptr_t)data;
		iov.iov_len = len;
		cr_assert_eq(pcapng_w_packet(&w, 0, &iov, 1), 0);
	}
	slurp(fd, &f);
	close(fd);
	n = blocks(&f, off, 16);
	cr_assert_eq(n, 10);
	for (len = 0; len < 8; len++) {
		const uint8_t *e = f.p + off[2 + len];
		size_t padded = (len + 3) & ~(size_t)3;

		cr_assert_eq(le32(e + 4), 28 + padded + 4, "len %zu", len);
		cr_assert_eq(le32(e + 20), len);
		for (i = len; i < padded; i++)
			cr_assert_eq(e[28 + i], 0, "padding of %zu", len);
	}
	free(f.p);
}

TEST(pcapng, round_trip)
{
	struct file f;
	struct pcapng_mem m;
	struct pcapng_r r;
	struct pcapng_pkt pkt;
	struct capture_rec c;
	const char *why;

	sample(&f);
	m = (struct pcapng_mem){ f.p, f.n, 0 };
	pcapng_r_init(&r, pcapng_mem_read, &m);

	cr_assert_eq(pcapng_r_next(&r, &pkt), 1);
	cr_assert_eq(pkt.linktype, 147);
	cr_assert_eq(pkt.sec, 1);
	cr_assert_eq(pkt.nsec, 1);
	cr_assert_eq(capture_rec_parse(&pkt, &c, &why), 0);
	cr_assert_eq(c.event, CAPTURE_EV_OPEN);
	cr_assert_eq(c.conn, 4);
	cr_assert_eq(c.pid, 123);
	cr_assert_eq(c.uid, 1000);

	cr_assert_eq(pcapng_r_next(&r, &pkt), 1);
	cr_assert_eq(pkt.sec, 2);
	cr_assert_eq(pkt.nsec, 2);
	cr_assert_eq(capture_rec_parse(&pkt, &c, &why), 0);
	cr_assert_eq(c.event, CAPTURE_EV_FRAME);
	cr_assert_eq(c.dir, CAPTURE_DIR_CLIENT);
	cr_assert_eq(c.hdr.type, 7);
	cr_assert_eq(c.hdr.peerid, 9);
	cr_assert_eq(c.hdr.len, 21);
	cr_assert_eq(c.hdr.nfds, 3);
	cr_assert_eq(c.kinds[0], CAPTURE_FD_FIFO);
	cr_assert_eq(c.kinds[1], CAPTURE_FD_FILE);
	cr_assert_eq(c.kinds[2], CAPTURE_FD_SOCKET);
	cr_assert_eq(c.paylen, 5);
	cr_assert_eq(memcmp(c.payload, "hello", 5), 0);
	cr_assert_eq(c.truncated, 0);

	cr_assert_eq(pcapng_r_next(&r, &pkt), 1);
	cr_assert_eq(capture_rec_parse(&pkt, &c, &why), 0);
	cr_assert_eq(c.event, CAPTURE_EV_CLOSE);
	cr_assert_eq(c.dir, CAPTURE_DIR_SERVER);
	cr_assert_eq(c.error, (uint32_t)EPROTO);

	cr_assert_eq(pcapng_r_next(&r, &pkt), 0, "the end");
	pcapng_r_free(&r);
	free(f.p);
}

/* Reads f[0..n) to its end or first error: the packets before, and the
 * error (0 at a clean end). */
static int
read_all(const uint8_t *p, size_t n, int *packets, const char **why)
{
	struct pcapng_mem m = { p, n, 0 };
	struct pcapng_r r;
	struct pcapng_pkt pkt;
	int ret;

	*packets = 0;
	pcapng_r_init(&r, pcapng_mem_read, &m);
	while ((ret = pcapng_r_next(&r, &pkt)) == 1)
		(*packets)++;
	*why = r.why;
	pcapng_r_free(&r);
	return ret;
}

/* Every prefix: at a block boundary a clean end with the packets before
 * it; anywhere else -EBADMSG, never a packet that was not whole. */
TEST(pcapng, truncated_everywhere)
{
	struct file f;
	size_t off[8], nb, cut, i;
	const char *why;
	int packets, ret, boundary, before;

	sample(&f);
	nb = blocks(&f, off, 8);
	for (cut = 0; cut < f.n; cut++) {
		boundary = 0;
		before = 0;
		for (i = 0; i < nb; i++) {
			if (off[i] == cut)
				boundary = 1;
			if (i >= 2 && off[i] < cut &&
			    (i + 1 == nb ? f.n : off[i + 1]) <= cut)
				before++;
		}
		ret = read_all(f.p, cut, &packets, &why);
		if (boundary && cut > 0) {
			cr_assert_eq(ret, 0, "cut at %zu: %d", cut, ret);
		} else if (cut == 0) {
			cr_assert_eq(ret, 0, "an empty file reads as none");
		} else {
			cr_assert_eq(ret, -EBADMSG, "cut at %zu: %d", cut, ret);
			cr_assert_not_null(why);
		}
		cr_assert_eq(packets, before, "cut at %zu: %d packets, %d",
			     cut, packets, before);
	}
	free(f.p);
}

/* A copy of the sample with one 32-bit word changed: the reader's
 * error and reason. */
static int
with_word(size_t at, uint32_t v, const char **why, int *packets)
{
	struct file f;
	int ret;

	sample(&f);
	cr_assert_leq(at + 4, f.n);
	put32(f.p + at, v);
	ret = read_all(f.p, f.n, packets, why);
	free(f.p);
	return ret;
}

static size_t
block_at(int i)
{
	struct file f;
	size_t off[8];

	sample(&f);
	blocks(&f, off, 8);
	free(f.p);
	return off[i];
}

TEST(pcapng, lengths_that_lie)
{
	/* Where (the block, and the word's offset in it), the lie, and what
	 * the reader must say; packets: those read before it. */
	static const struct {
		int block;
		size_t at;
		uint32_t v;
		int err, packets;
		const char *why;
	} cases[] = {
		/* Trailing length differs from the leading one. */
		{ 3, 60, 60, -EBADMSG, 1, "trailing block length differs" },
		/* Leading length: not a multiple of 4, below 12, past the
		 * file, past the reader's limit; a section header's below
		 * its minimum. */
		{ 3, 4, 63, -EBADMSG, 1, "block length not a multiple of 4" },
		{ 3, 4, 8, -EBADMSG, 1, "block length below the minimum" },
		{ 3, 4, 4096, -EBADMSG, 1, "block cut short" },
		{ 3, 4, 0xfffffff0u, -EMSGSIZE, 1,
		  "block length above the reader's limit" },
		{ 0, 4, 24, -EBADMSG, 0, "block length below the minimum" },
		/* Captured length beyond its block, above the original. */
		{ 3, 20, 33, -EBADMSG, 1, "captured length beyond its block" },
		{ 3, 20, 0xffffffffu, -EBADMSG, 1,
		  "captured length beyond its block" },
		{ 3, 24, 31, -EBADMSG, 1,
		  "captured length above the original length" },
		/* An interface that was never described. */
		{ 3, 8, 1, -EBADMSG, 1, "packet on an undescribed interface" },
		/* An option longer than its block (the IDB's first, if_name). */
		{ 1, 16, 0x7fff0002u, -EBADMSG, 0,
		  "option longer than its block" },
		/* Big-endian and another major version: not read. */
		{ 0, 8, 0x4D3C2B1Au, -EPROTONOSUPPORT, 0,
		  "not a little-endian section" },
		{ 0, 12, 2, -EPROTONOSUPPORT, 0,
		  "pcapng major version is not 1" },
	};
	struct file f;
	const char *why;
	size_t i;
	int packets;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(with_word(block_at(cases[i].block) + cases[i].at,
				       cases[i].v, &why, &packets),
			     cases[i].err, "case %zu", i);
		cr_assert_str_eq(why, cases[i].why, "case %zu", i);
		cr_assert_eq(packets, cases[i].packets, "case %zu", i);
	}
	/* A packet before any section header. */
	sample(&f);
	cr_assert_eq(read_all(f.p + block_at(3), f.n - block_at(3), &packets,
			      &why), -EBADMSG);
	cr_assert_str_eq(why, "no section header first");
	free(f.p);
}

/* pkt, whose data is rec, with rec[at] set to v is refused (saying why,
 * unless NULL); rec[at] is restored. */
static void
byte_refused(const struct pcapng_pkt *pkt, uint8_t *rec, size_t at,
	     uint8_t v, const char *want)
{
	const uint8_t keep = rec[at];
	struct capture_rec c;
	const char *why = NULL;

	rec[at] = v;
	cr_assert_eq(capture_rec_parse(pkt, &c, &why), -EBADMSG,
		     "byte %zu = %u", at, v);
	cr_assert(want == NULL || strcmp(why, want) == 0,
		  "byte %zu = %u: %s", at, v, why);
	rec[at] = keep;
}

/* Records whose own lengths or fields lie: capture_rec_parse. */
TEST(pcapng, records_that_lie)
{
	uint8_t rec[64];
	struct pcapng_pkt pkt = { 0 };
	struct capture_rec c;
	struct fdmsg_hdr h = { 1, 1, 0, 20, 5, 6 };
	const char *why;

	memset(rec, 0, sizeof(rec));
	rec[0] = 1;
	rec[1] = CAPTURE_EV_FRAME;
	rec[2] = CAPTURE_DIR_SERVER;
	put32(rec + 4, 2);
	cr_assert_eq(fdmsg_hdr_encode(&h, rec + 8), 16);
	rec[24] = CAPTURE_FD_FILE;
	memcpy(rec + 25, "abcd", 4);
	pkt.data = rec;
	pkt.caplen = pkt.origlen = 29;
	cr_assert_eq(capture_rec_parse(&pkt, &c, &why), 0);
	cr_assert_eq(c.paylen, 4);

	/* One byte more or less than the header says. */
	pkt.caplen = pkt.origlen = 30;
	cr_assert_eq(capture_rec_parse(&pkt, &c, &why), -EBADMSG);
	cr_assert_str_eq(why, "frame record's length differs from its "
			 "header's");
	/* Cut at capture: the payload captured is what is there. */
	pkt.caplen = 27;
	pkt.origlen = 29;
	cr_assert_eq(capture_rec_parse(&pkt, &c, &why), 0);
	cr_assert_eq(c.truncated, 1);
	cr_assert_eq(c.paylen, 2);
	/* Cut inside the kinds. */
	pkt.caplen = 24;
	cr_assert_eq(capture_rec_parse(&pkt, &c, &why), -EBADMSG);
	cr_assert_str_eq(why, "descriptor kinds cut short");
	pkt.caplen = pkt.origlen = 29;
	/* A header the wire rules refuse: flags set. */
	byte_refused(&pkt, rec, 10, 1, "frame header breaks the wire rules");
	/* Unknown event, direction, version, reserved byte. */
	byte_refused(&pkt, rec, 1, 9, "unknown record event");
	byte_refused(&pkt, rec, 2, 0, NULL);
	byte_refused(&pkt, rec, 0, 2, "record version is not 1");
	byte_refused(&pkt, rec, 3, 1, "record reserved byte set");
	/* Shorter than its fixed part. */
	pkt.caplen = pkt.origlen = 7;
	cr_assert_eq(capture_rec_parse(&pkt, &c, &why), -EBADMSG);
	cr_assert_str_eq(why, "record cut short");
	/* Open and close records of the wrong length. */
	rec[1] = CAPTURE_EV_OPEN;
	pkt.caplen = pkt.origlen = 12;
	cr_assert_eq(capture_rec_parse(&pkt, &c, &why), -EBADMSG);
	rec[1] = CAPTURE_EV_CLOSE;
	pkt.caplen = pkt.origlen = 16;
	cr_assert_eq(capture_rec_parse(&pkt, &c, &why), -EBADMSG);
	pkt.caplen = pkt.origlen = 12;
	rec[2] = 3;
	cr_assert_eq(capture_rec_parse(&pkt, &c, &why), -EBADMSG);
	cr_assert_str_eq(why, "close record's side is unknown");
}

/* A write error is sticky and reported: a pipe with no reader. */
TEST(pcapng, write_error_sticky)
{
	struct pcapng_w w;
	struct iovec iov = { (char[]){ "x" }, 1 };
	int p[2];

	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	cr_assert_eq(pcapng_w_start(&w, p[1], 147, NULL, NULL), -EPIPE);
	cr_assert_eq(pcapng_w_packet(&w, 0, &iov, 1), -EPIPE);
	close(p[1]);
}
