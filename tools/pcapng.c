/* SPDX-License-Identifier: ISC */
/*
 * fdmsg(1) captures: the pcapng blocks proxy writes and decode reads
 * (pcapng.h has the record's table).  The reader takes untrusted files:
 * every length is checked against what the block holds before it is
 * used, all parsing goes through fdmsg_rbuf (bounded, sticky errors),
 * and no block is larger than PCAPNG_MAX_BLOCK.  Only little-endian
 * sections are read: the writer makes no other.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pcapng.h"
#include "util.h"

#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 0x00000001u
#define BT_EPB 0x00000006u
#define BYTE_ORDER_MAGIC 0x1A2B3C4Du
#define PCAPNG_OPT_END 0u
#define PCAPNG_OPT_USERAPPL 4u
#define PCAPNG_OPT_IF_NAME 2u
#define PCAPNG_OPT_TSRESOL 9u
#define TSRESOL_NS 9u
#define TSRESOL_DEFAULT 6u
#define EPB_FIXED 28u  /* type, len, ifid, ts high, ts low, caplen, origlen */
#define BLOCK_MIN 12u  /* type, len, trailing len */
#define SHB_MIN 28u
#define IDB_MIN 20u
#define PCAPNG_OPT_MAX 256u   /* option values the writer writes: cut there */

static size_t
pad4(size_t n)
{
	return (4 - (n & 3)) & 3;
}

uint8_t
capture_fd_kind(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return CAPTURE_FD_UNKNOWN;
	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		return CAPTURE_FD_FILE;
	case S_IFDIR:
		return CAPTURE_FD_DIR;
	case S_IFCHR:
		return CAPTURE_FD_CHR;
	case S_IFBLK:
		return CAPTURE_FD_BLK;
	case S_IFIFO:
		return CAPTURE_FD_FIFO;
	case S_IFSOCK:
		return CAPTURE_FD_SOCKET;
	case S_IFLNK:
		return CAPTURE_FD_LINK;
	case 0:
		return CAPTURE_FD_ANON;
	default:
		return CAPTURE_FD_UNKNOWN;
	}
}

const char *
capture_fd_kind_name(uint8_t kind)
{
	static const char *const names[] = {
		"unknown", "file", "dir", "chr", "blk", "fifo", "socket",
		"link", "anon",
	};

	return kind <= CAPTURE_FD_MAX ? names[kind] : "unknown";
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */
/* ------------------------------------------------------------------ */

/* Every byte of iov, across short writes and EINTR: 0 or -errno. */
static int
write_all(int fd, struct iovec *iov, int cnt)
{
	ssize_t n;

	while (cnt > 0) {
		n = writev(fd, iov, cnt);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static int
w_bytes(struct pcapng_w *w, const void *p, size_t n)
{
	struct iovec iov = { (void *)(uintptr_t)p, n };

	if (w->err == 0)
		w->err = write_all(w->fd, &iov, 1);
	return w->err;
}

/* One option: code, length, the value cut at PCAPNG_OPT_MAX, padding. */
static void
put_opt(struct fdmsg_wbuf *b, uint16_t code, const void *val, size_t len)
{
	static const uint8_t zero[4];

	if (len > PCAPNG_OPT_MAX)
		len = PCAPNG_OPT_MAX;
	fdmsg_wbuf_put_u16(b, code);
	fdmsg_wbuf_put_u16(b, (uint16_t)len);
	fdmsg_wbuf_append(b, val, len);
	fdmsg_wbuf_append(b, zero, pad4(len));
}

/* Closes a block begun at start in b: its length, front and back. */
static void
end_block(struct fdmsg_wbuf *b, size_t start)
{
	uint32_t len = (uint32_t)(fdmsg_wbuf_len(b) - start + 4);
	uint8_t *p;

	fdmsg_wbuf_put_u32(b, len);
	if (fdmsg_wbuf_error(b) == 0) {
		p = (uint8_t *)(uintptr_t)fdmsg_wbuf_data(b) + start + 4;
		p[0] = (uint8_t)len;
		p[1] = (uint8_t)(len >> 8);
		p[2] = (uint8_t)(len >> 16);
		p[3] = (uint8_t)(len >> 24);
	}
}

int
pcapng_w_start(struct pcapng_w *w, int fd, uint16_t linktype,
	       const char *appl, const char *ifname)
{
	uint8_t mem[2 * PCAPNG_OPT_MAX + 128], tsresol = TSRESOL_NS;
	struct fdmsg_wbuf b;
	size_t idb;

	w->fd = fd;
	w->err = 0;
	fdmsg_wbuf_init_fixed(&b, mem, sizeof(mem));
	fdmsg_wbuf_put_u32(&b, BT_SHB);
	fdmsg_wbuf_put_u32(&b, 0); /* length: end_block */
	fdmsg_wbuf_put_u32(&b, BYTE_ORDER_MAGIC);
	fdmsg_wbuf_put_u16(&b, 1);
	fdmsg_wbuf_put_u16(&b, 0);
	fdmsg_wbuf_put_u64(&b, UINT64_MAX); /* section length unknown */
	if (appl != NULL)
		put_opt(&b, PCAPNG_OPT_USERAPPL, appl, strlen(appl));
	put_opt(&b, PCAPNG_OPT_END, NULL, 0);
	end_block(&b, 0);

	idb = fdmsg_wbuf_len(&b);
	fdmsg_wbuf_put_u32(&b, BT_IDB);
	fdmsg_wbuf_put_u32(&b, 0);
	fdmsg_wbuf_put_u16(&b, linktype);
	fdmsg_wbuf_put_u16(&b, 0);
	fdmsg_wbuf_put_u32(&b, 0); /* snaplen: no limit */
	if (ifname != NULL)
		put_opt(&b, PCAPNG_OPT_IF_NAME, ifname, strlen(ifname));
	put_opt(&b, PCAPNG_OPT_TSRESOL, &tsresol, 1);
	put_opt(&b, PCAPNG_OPT_END, NULL, 0);
	end_block(&b, idb);
	if (fdmsg_wbuf_error(&b) < 0) { /* cannot happen: options are cut */
		CANNOT_HAPPEN();
		return w->err = -EOVERFLOW;
	}
	return w_bytes(w, fdmsg_wbuf_data(&b), fdmsg_wbuf_len(&b));
}

int
pcapng_w_packet(struct pcapng_w *w, uint64_t ts_ns, const struct iovec *iov,
		size_t iovcnt)
{
	uint8_t head[EPB_FIXED], tail[8] = { 0 };
	struct iovec v[8];
	struct fdmsg_wbuf b;
	size_t caplen = 0, total, i, pad;

	if (w->err != 0)
		return w->err;
	if (iovcnt > 6)
		return -EINVAL;
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > PCAPNG_MAX_BLOCK - caplen)
			return -EMSGSIZE;
		caplen += iov[i].iov_len;
	}
	pad = pad4(caplen);
	total = EPB_FIXED + caplen + pad + 4;
	fdmsg_wbuf_init_fixed(&b, head, sizeof(head));
	fdmsg_wbuf_put_u32(&b, BT_EPB);
	fdmsg_wbuf_put_u32(&b, (uint32_t)total);
	fdmsg_wbuf_put_u32(&b, 0); /* interface 0 */
	fdmsg_wbuf_put_u32(&b, (uint32_t)(ts_ns >> 32));
	fdmsg_wbuf_put_u32(&b, (uint32_t)ts_ns);
	fdmsg_wbuf_put_u32(&b, (uint32_t)caplen);
	fdmsg_wbuf_put_u32(&b, (uint32_t)caplen);
	/* The padding's zeros, then the trailing length. */
	tail[pad] = (uint8_t)total;
	tail[pad + 1] = (uint8_t)(total >> 8);
	tail[pad + 2] = (uint8_t)(total >> 16);
	tail[pad + 3] = (uint8_t)(total >> 24);
	v[0].iov_base = head;
	v[0].iov_len = sizeof(head);
	for (i = 0; i < iovcnt; i++)
		v[i + 1] = iov[i];
	v[i + 1].iov_base = tail;
	v[i + 1].iov_len = pad + 4;
	w->err = write_all(w->fd, v, (int)iovcnt + 2);
	return w->err;
}

/* The record's first 8 bytes. */
static void
rec_head(struct fdmsg_wbuf *b, uint8_t event, uint8_t dir, uint32_t conn)
{
	fdmsg_wbuf_put_u8(b, CAPTURE_VERSION);
	fdmsg_wbuf_put_u8(b, event);
	fdmsg_wbuf_put_u8(b, dir);
	fdmsg_wbuf_put_u8(b, 0);
	fdmsg_wbuf_put_u32(b, conn);
}

int
capture_w_frame(struct pcapng_w *w, uint64_t ts_ns, uint32_t conn,
		uint8_t dir, const struct fdmsg_msg *m)
{
	uint8_t mem[CAPTURE_FRAME_HDR + FDMSG_MAX_FDS_CAP], *hp;
	struct fdmsg_hdr h;
	struct fdmsg_wbuf b;
	struct iovec iov[2];
	unsigned i;

	if (m->nfds > FDMSG_MAX_FDS_CAP ||
	    m->len > FDMSG_MAX_FRAME_CAP - FDMSG_HDR_SIZE)
		return -EINVAL;
	h.version = FDMSG_WIRE_VERSION;
	h.nfds = (uint8_t)m->nfds;
	h.flags = 0;
	h.len = (uint32_t)(m->len + FDMSG_HDR_SIZE);
	h.type = m->type;
	h.peerid = m->peerid;
	fdmsg_wbuf_init_fixed(&b, mem, sizeof(mem));
	rec_head(&b, CAPTURE_EV_FRAME, dir, conn);
	hp = fdmsg_wbuf_reserve(&b, FDMSG_HDR_SIZE);
	if (hp == NULL || fdmsg_hdr_encode(&h, hp) < 0)
		return -EINVAL;
	for (i = 0; i < m->nfds; i++)
		fdmsg_wbuf_put_u8(&b, m->fds[i] < 0 ? CAPTURE_FD_UNKNOWN :
				  capture_fd_kind(m->fds[i]));
	iov[0].iov_base = (void *)(uintptr_t)fdmsg_wbuf_data(&b);
	iov[0].iov_len = fdmsg_wbuf_len(&b);
	iov[1].iov_base = (void *)(uintptr_t)m->payload;
	iov[1].iov_len = m->len;
	return pcapng_w_packet(w, ts_ns, iov, m->len > 0 ? 2 : 1);
}

/* An open or close record: its head and two words, of which n. */
static int
w_event(struct pcapng_w *w, uint64_t ts_ns, uint8_t event, uint8_t dir,
	uint32_t conn, uint32_t a, uint32_t c, size_t n)
{
	uint8_t mem[CAPTURE_OPEN_SIZE];
	struct fdmsg_wbuf b;
	struct iovec iov;

	fdmsg_wbuf_init_fixed(&b, mem, sizeof(mem));
	rec_head(&b, event, dir, conn);
	fdmsg_wbuf_put_u32(&b, a);
	if (n > 1)
		fdmsg_wbuf_put_u32(&b, c);
	iov.iov_base = mem;
	iov.iov_len = fdmsg_wbuf_len(&b);
	return pcapng_w_packet(w, ts_ns, &iov, 1);
}

int
capture_w_open(struct pcapng_w *w, uint64_t ts_ns, uint32_t conn,
	       uint32_t pid, uint32_t uid)
{
	return w_event(w, ts_ns, CAPTURE_EV_OPEN, CAPTURE_DIR_CLIENT, conn,
		       pid, uid, 2);
}

int
capture_w_close(struct pcapng_w *w, uint64_t ts_ns, uint32_t conn,
		uint8_t dir, int err)
{
	return w_event(w, ts_ns, CAPTURE_EV_CLOSE, dir, conn,
		       (uint32_t)(err < 0 ? -(int64_t)err : err), 0, 1);
}

/* ------------------------------------------------------------------ */
/* Reader                                                              */
/* ------------------------------------------------------------------ */

void
pcapng_r_init(struct pcapng_r *r, pcapng_read_fn read, void *ctx)
{
	memset(r, 0, sizeof(*r));
	r->read = read;
	r->ctx = ctx;
}

void
pcapng_r_free(struct pcapng_r *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}

static int
bad(struct pcapng_r *r, const char *why)
{
	r->why = why;
	return -EBADMSG;
}

/* Exactly n bytes into p, or -EBADMSG (the file ends) or the error. */
static int
r_exact(struct pcapng_r *r, void *p, size_t n, const char *why)
{
	long got = r->read(r->ctx, p, n);

	if (got < 0) {
		r->why = "read";
		return (int)got;
	}
	if ((size_t)got != n)
		return bad(r, why);
	return 0;
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/*
 * The options from the reader's position to the end of the block's
 * body: each whole within it.  Keeps if_tsresol in *tsresol (NULL: not
 * an interface).
 */
static int
walk_opts(struct pcapng_r *r, struct fdmsg_rbuf *rb, uint8_t *tsresol)
{
	uint16_t code, len;
	const uint8_t *val;

	while (fdmsg_rbuf_remaining(rb) > 0) {
		if (fdmsg_rbuf_get_u16(rb, &code) < 0 ||
		    fdmsg_rbuf_get_u16(rb, &len) < 0)
			return bad(r, "option header cut short");
		if (code == PCAPNG_OPT_END)
			return 0; /* what follows is ignored, as written */
		/* len + padding within the body: len is 16 bits, no wrap. */
		val = fdmsg_rbuf_get_ref(rb, (size_t)len + pad4(len));
		if (val == NULL)
			return bad(r, "option longer than its block");
		if (tsresol != NULL && code == PCAPNG_OPT_TSRESOL) {
			if (len != 1)
				return bad(r, "if_tsresol is not 1 byte");
			/* 10^-v fits 64 bits up to v 19, 2^-v up to 63. */
			if ((val[0] & 0x80) ? (val[0] & 0x7f) > 63 :
					      val[0] > 19)
				return bad(r, "if_tsresol out of range");
			*tsresol = val[0];
		}
	}
	return 0;
}

/* Seconds and nanoseconds of ts at resolution res (if_tsresol). */
static void
ts_split(uint64_t ts, uint8_t res, uint64_t *sec, uint32_t *nsec)
{
	unsigned v = res & 0x7fu, i;
	uint64_t units = 1, frac;

	/* walk_opts keeps v within 63 (binary) and 19 (decimal). */
	if (res & 0x80) {
		*sec = ts >> v;
		frac = ts & (((uint64_t)1 << v) - 1);
		/* frac < 2^v, and 10^9 < 2^30: below 2^34 the product
		 * fits; above, the bits dropped first are below 1 ns. */
		if (v > 34) {
			frac >>= v - 34;
			v = 34;
		}
		*nsec = (uint32_t)((frac * 1000000000u) >> v);
		return;
	}
	for (i = 0; i < v; i++)
		units *= 10;
	*sec = ts / units;
	frac = ts % units;
	if (v <= 9) {
		for (i = v; i < 9; i++)
			frac *= 10;
	} else {
		for (i = 9; i < v; i++)
			frac /= 10;
	}
	*nsec = (uint32_t)frac;
}

static int
read_shb(struct pcapng_r *r, struct fdmsg_rbuf *rb)
{
	uint32_t magic;
	uint16_t major, minor;
	uint64_t seclen;

	fdmsg_rbuf_get_u32(rb, &magic);
	fdmsg_rbuf_get_u16(rb, &major);
	fdmsg_rbuf_get_u16(rb, &minor);
	fdmsg_rbuf_get_u64(rb, &seclen);
	if (fdmsg_rbuf_error(rb) < 0)
		return bad(r, "section header cut short");
	if (magic != BYTE_ORDER_MAGIC) {
		r->why = "not a little-endian section";
		return -EPROTONOSUPPORT;
	}
	if (major != 1) {
		r->why = "pcapng major version is not 1";
		return -EPROTONOSUPPORT;
	}
	(void)minor;
	(void)seclen; /* blocks are read one by one: no need to skip */
	r->in_section = 1;
	r->nifs = 0;
	return walk_opts(r, rb, NULL);
}

static int
read_idb(struct pcapng_r *r, struct fdmsg_rbuf *rb)
{
	uint16_t linktype, reserved;
	uint32_t snaplen;
	uint8_t tsresol = TSRESOL_DEFAULT;
	int ret;

	fdmsg_rbuf_get_u16(rb, &linktype);
	fdmsg_rbuf_get_u16(rb, &reserved);
	fdmsg_rbuf_get_u32(rb, &snaplen);
	if (fdmsg_rbuf_error(rb) < 0)
		return bad(r, "interface description cut short");
	if ((ret = walk_opts(r, rb, &tsresol)) < 0)
		return ret;
	if (r->nifs == PCAPNG_MAX_IFS)
		return bad(r, "too many interfaces");
	r->ifs[r->nifs].linktype = linktype;
	r->ifs[r->nifs].tsresol = tsresol;
	r->nifs++;
	return 0;
}

static int
read_epb(struct pcapng_r *r, struct fdmsg_rbuf *rb, struct pcapng_pkt *pkt)
{
	uint32_t ifid, hi, lo, caplen, origlen;
	const uint8_t *data;

	fdmsg_rbuf_get_u32(rb, &ifid);
	fdmsg_rbuf_get_u32(rb, &hi);
	fdmsg_rbuf_get_u32(rb, &lo);
	fdmsg_rbuf_get_u32(rb, &caplen);
	fdmsg_rbuf_get_u32(rb, &origlen);
	if (fdmsg_rbuf_error(rb) < 0)
		return bad(r, "enhanced packet cut short");
	if (ifid >= r->nifs)
		return bad(r, "packet on an undescribed interface");
	/* caplen is checked against what the block holds, not trusted.
	 * Its padding then fits too: the body is a multiple of 4 bytes. */
	if (caplen > fdmsg_rbuf_remaining(rb))
		return bad(r, "captured length beyond its block");
	if (caplen > origlen)
		return bad(r, "captured length above the original length");
	data = fdmsg_rbuf_get_ref(rb, caplen);
	fdmsg_rbuf_skip(rb, pad4(caplen));
	pkt->off = r->block_off;
	pkt->ifid = ifid;
	pkt->linktype = r->ifs[ifid].linktype;
	ts_split((uint64_t)hi << 32 | lo, r->ifs[ifid].tsresol, &pkt->sec,
		 &pkt->nsec);
	pkt->data = data;
	pkt->caplen = caplen;
	pkt->origlen = origlen;
	return walk_opts(r, rb, NULL);
}

int
pcapng_r_next(struct pcapng_r *r, struct pcapng_pkt *pkt)
{
	uint8_t head[12];
	uint32_t type, len;
	struct fdmsg_rbuf rb;
	size_t have = 8;
	uint8_t *nb;
	long got;
	int ret;

	for (;;) {
		r->block_off = r->off;
		r->why = NULL;
		got = r->read(r->ctx, head, 8);
		if (got < 0) {
			r->why = "read";
			return (int)got;
		}
		if (got == 0)
			return 0;
		if (got != 8)
			return bad(r, "block header cut short");
		type = le32(head);
		len = le32(head + 4);
		if (type == BT_SHB) {
			/* The byte order decides how to read len. */
			if ((ret = r_exact(r, head + 8, 4,
					   "section header cut short")) < 0)
				return ret;
			have = 12;
			if (le32(head + 8) != BYTE_ORDER_MAGIC) {
				r->why = "not a little-endian section";
				return -EPROTONOSUPPORT;
			}
		} else {
			have = 8;
			if (!r->in_section)
				return bad(r, "no section header first");
		}
		if (len < (type == BT_SHB ? SHB_MIN : BLOCK_MIN))
			return bad(r, "block length below the minimum");
		if (len % 4 != 0)
			return bad(r, "block length not a multiple of 4");
		if (len > PCAPNG_MAX_BLOCK) {
			r->why = "block length above the reader's limit";
			return -EMSGSIZE;
		}
		if (r->cap < len) {
			nb = realloc(r->buf, len);
			if (nb == NULL) {
				r->why = "block buffer";
				return -ENOMEM;
			}
			r->buf = nb;
			r->cap = len;
		}
		memcpy(r->buf, head, have);
		if ((ret = r_exact(r, r->buf + have, len - have,
				   "block cut short")) < 0)
			return ret;
		if (le32(r->buf + len - 4) != len)
			return bad(r, "trailing block length differs");
		r->off += len;
		/* The body: between the 8-byte head and the trailer. */
		fdmsg_rbuf_init(&rb, r->buf + 8, len - 12);
		switch (type) {
		case BT_SHB:
			ret = read_shb(r, &rb);
			break;
		case BT_IDB:
			ret = read_idb(r, &rb);
			break;
		case BT_EPB:
			ret = read_epb(r, &rb, pkt);
			if (ret == 0)
				return 1;
			break;
		default:
			ret = 0;
			break;
		}
		if (ret < 0)
			return ret;
	}
}

int
capture_rec_parse(const struct pcapng_pkt *pkt, struct capture_rec *rec,
		  const char **why)
{
	struct capture_rec c;
	struct fdmsg_rbuf rb;
	uint8_t version, reserved;
	size_t want;
	int r;

	memset(&c, 0, sizeof(c));
	fdmsg_rbuf_init(&rb, pkt->data, pkt->caplen);
	fdmsg_rbuf_get_u8(&rb, &version);
	fdmsg_rbuf_get_u8(&rb, &c.event);
	fdmsg_rbuf_get_u8(&rb, &c.dir);
	fdmsg_rbuf_get_u8(&rb, &reserved);
	fdmsg_rbuf_get_u32(&rb, &c.conn);
	*why = "record cut short";
	if (fdmsg_rbuf_error(&rb) < 0)
		return -EBADMSG;
	*why = "record version is not 1";
	if (version != CAPTURE_VERSION)
		return -EBADMSG;
	*why = "record reserved byte set";
	if (reserved != 0)
		return -EBADMSG;
	switch (c.event) {
	case CAPTURE_EV_FRAME:
		*why = "frame direction is neither client nor server";
		if (c.dir != CAPTURE_DIR_CLIENT && c.dir != CAPTURE_DIR_SERVER)
			return -EBADMSG;
		*why = "frame header cut short";
		if (fdmsg_rbuf_remaining(&rb) < FDMSG_HDR_SIZE)
			return -EBADMSG;
		r = fdmsg_hdr_decode(pkt->data + CAPTURE_REC_HDR,
				     FDMSG_HDR_SIZE, FDMSG_MAX_FRAME_CAP,
				     FDMSG_MAX_FDS_CAP, &c.hdr);
		*why = "frame header breaks the wire rules";
		if (r != FDMSG_HDR_SIZE)
			return -EBADMSG;
		fdmsg_rbuf_skip(&rb, FDMSG_HDR_SIZE);
		/* Whole: header, kinds, payload; cut: no more than that. */
		want = CAPTURE_FRAME_HDR + c.hdr.nfds +
		       (c.hdr.len - FDMSG_HDR_SIZE);
		*why = "frame record's length differs from its header's";
		if (pkt->origlen != want)
			return -EBADMSG;
		c.kinds = fdmsg_rbuf_get_ref(&rb, c.hdr.nfds);
		*why = "descriptor kinds cut short";
		if (c.kinds == NULL)
			return -EBADMSG;
		c.paylen = fdmsg_rbuf_remaining(&rb);
		c.payload = fdmsg_rbuf_get_ref(&rb, c.paylen);
		c.truncated = pkt->caplen < pkt->origlen;
		break;
	case CAPTURE_EV_OPEN:
		fdmsg_rbuf_get_u32(&rb, &c.pid);
		fdmsg_rbuf_get_u32(&rb, &c.uid);
		*why = "open record's length is not 16";
		if (fdmsg_rbuf_error(&rb) < 0 || pkt->origlen != CAPTURE_OPEN_SIZE)
			return -EBADMSG;
		break;
	case CAPTURE_EV_CLOSE:
		fdmsg_rbuf_get_u32(&rb, &c.error);
		*why = "close record's length is not 12";
		if (fdmsg_rbuf_error(&rb) < 0 ||
		    pkt->origlen != CAPTURE_CLOSE_SIZE)
			return -EBADMSG;
		*why = "close record's side is unknown";
		if (c.dir > CAPTURE_DIR_SERVER)
			return -EBADMSG;
		break;
	default:
		*why = "unknown record event";
		return -EBADMSG;
	}
	*rec = c;
	*why = NULL;
	return 0;
}

long
pcapng_mem_read(void *ctx, void *buf, size_t n)
{
	struct pcapng_mem *m = ctx;
	size_t k = m->n - m->pos;

	if (k > n)
		k = n;
	if (k > LONG_MAX)
		k = LONG_MAX;
	if (k > 0)
		memcpy(buf, m->p + m->pos, k);
	m->pos += k;
	return (long)k;
}

int
pcapng_is(const void *buf, size_t n)
{
	return n >= 4 && le32(buf) == BT_SHB;
}

/* ------------------------------------------------------------------ */
/* decode                                                              */
/* ------------------------------------------------------------------ */

static void
print_rec(FILE *out, const struct capture_rec *c, const char *(*errname)(int))
{
	static const char *const sides[] = { "proxy", "client", "server" };
	unsigned i;

	fprintf(out, " conn=%" PRIu32, c->conn);
	switch (c->event) {
	case CAPTURE_EV_FRAME:
		fprintf(out, " from=%s type=%" PRIu32 " peerid=%" PRIu32
			" len=%" PRIu32 " nfds=%u", sides[c->dir], c->hdr.type,
			c->hdr.peerid, c->hdr.len, (unsigned)c->hdr.nfds);
		for (i = 0; i < c->hdr.nfds; i++)
			fprintf(out, "%s%s", i == 0 ? " fds=" : ",",
				capture_fd_kind_name(c->kinds[i]));
		if (c->truncated)
			fprintf(out, " captured=%zu", c->paylen);
		break;
	case CAPTURE_EV_OPEN:
		fprintf(out, " open pid=%" PRIu32 " uid=%" PRIu32, c->pid,
			c->uid);
		break;
	default:
		fprintf(out, " close by=%s error=%s", sides[c->dir],
			c->error == 0 ? "none" :
			c->error > INT_MAX ? "unknown" :
			errname((int)c->error));
		break;
	}
	fputc('\n', out);
}

int
pcapng_decode(pcapng_read_fn read, void *ctx, FILE *out,
	      const char *(*errname)(int), uint64_t *off, const char **why)
{
	struct pcapng_r r;
	struct pcapng_pkt pkt;
	struct capture_rec c;
	unsigned long long count = 0;
	int ret;

	pcapng_r_init(&r, read, ctx);
	while ((ret = pcapng_r_next(&r, &pkt)) == 1) {
		count++;
		fprintf(out, "packet=%llu time=%" PRIu64 ".%09" PRIu32, count,
			pkt.sec, pkt.nsec);
		if (pkt.linktype != CAPTURE_LINKTYPE) {
			fprintf(out, " linktype=%u skipped\n",
				(unsigned)pkt.linktype);
			continue;
		}
		ret = capture_rec_parse(&pkt, &c, why);
		if (ret < 0) {
			fputc('\n', out);
			*off = pkt.off;
			break;
		}
		print_rec(out, &c, errname);
	}
	/* The reader's own error; a record's set *why and *off above. */
	if (ret < 0 && r.why != NULL) {
		*off = r.block_off;
		*why = r.why;
	}
	pcapng_r_free(&r);
	return ret < 0 ? ret : 0;
}
