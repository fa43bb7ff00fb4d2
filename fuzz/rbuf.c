/* SPDX-License-Identifier: ISC */
/*
 * An op-script interpreter over fdmsg_rbuf_* and fdmsg_wbuf_*, each
 * checked step by step against a shadow model of the contract:
 *  - the first error sticks: later calls return it and change nothing;
 *  - len and pos never pass their bounds (rbuf: pos <= len; wbuf:
 *    len <= max, -ENOBUFS past it, -EOVERFLOW when len + n wraps);
 *  - a failed call writes no out-parameter (sentinels) and consumes
 *    nothing;
 *  - what was written reads back the same, through an rbuf.
 * Sizes come from the input and include SIZE_MAX - k and 2^63 +- 1.
 *
 * Input: [u8 cfg (bit0: reader over NULL)][u8 span_len][span bytes]
 * [u8 kind (bit0 fixed, bit1 no memory)][u8 size/initial][u16 max]
 * then ops: a byte (low 5 bits the op, high bits modifiers) and operands.
 * ci/gen-corpus lists the op numbers.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fdmsg.h"
#include "fuzz.h"

#define MAX_OPS 512
#define WMAX_LIMIT 1024   /* largest writer the model shadows */
#define LOG_MAX 128

/* ---- reader model ---- */

struct rmodel {
	const uint8_t *data;
	size_t len, pos;
	int err;
};

static void
rcheck(const struct fdmsg_rbuf *r, const struct rmodel *m)
{
	FUZZ_CHECK(r->pos <= r->len);
	FUZZ_CHECK(fdmsg_rbuf_error(r) == m->err);
	FUZZ_CHECK(fdmsg_rbuf_remaining(r) == m->len - m->pos);
}

/* What a read of n bytes must return; consumes in the model. */
static int
rtake(struct rmodel *m, size_t n, size_t *at)
{
	if (m->err != 0)
		return m->err;
	if (n > m->len - m->pos) {
		m->err = -EBADMSG;
		return m->err;
	}
	*at = m->pos;
	m->pos += n;
	return 0;
}

static uint64_t
le_load(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | p[n];
	return v;
}

static void
r_get_uint(struct fdmsg_rbuf *r, struct rmodel *m, unsigned width)
{
	uint8_t v8 = 0xA5;
	uint16_t v16 = 0xA5A5;
	uint32_t v32 = 0xA5A5A5A5u;
	uint64_t v64 = 0xA5A5A5A5A5A5A5A5ull, got = 0, sentinel = 0;
	size_t at = 0;
	int rc, want;

	switch (width) {
	case 1:
		rc = fdmsg_rbuf_get_u8(r, &v8);
		got = v8;
		sentinel = 0xA5;
		break;
	case 2:
		rc = fdmsg_rbuf_get_u16(r, &v16);
		got = v16;
		sentinel = 0xA5A5;
		break;
	case 4:
		rc = fdmsg_rbuf_get_u32(r, &v32);
		got = v32;
		sentinel = 0xA5A5A5A5u;
		break;
	default:
		rc = fdmsg_rbuf_get_u64(r, &v64);
		got = v64;
		sentinel = 0xA5A5A5A5A5A5A5A5ull;
		width = 8;
		break;
	}
	want = rtake(m, width, &at);
	FUZZ_CHECK(rc == want);
	if (rc == 0)
		FUZZ_CHECK(got == le_load(m->data + at, width));
	else
		FUZZ_CHECK(got == sentinel);
}

/* A NULL out-parameter is a bad argument: some error, and it sticks. */
static void
r_null_out(struct fdmsg_rbuf *r, struct rmodel *m, unsigned which)
{
	int rc;

	switch (which % 3) {
	case 0:
		rc = fdmsg_rbuf_get_u32(r, NULL);
		break;
	case 1:
		rc = fdmsg_rbuf_get_str(r, NULL, NULL);
		break;
	default:
		rc = fdmsg_rbuf_get_bytes(r, NULL, 1 + which);
		break;
	}
	FUZZ_CHECK(rc < 0);
	if (m->err != 0)
		FUZZ_CHECK(rc == m->err);
	else
		m->err = rc;
	FUZZ_CHECK(r->pos == m->pos);
}

static void
r_get_bytes(struct fdmsg_rbuf *r, struct rmodel *m, size_t n)
{
	static uint8_t dst[WMAX_LIMIT + 64];
	size_t at = 0, chk = n < sizeof(dst) ? n : sizeof(dst), i;
	int rc, want;

	memset(dst, 0xA5, sizeof(dst));
	/* A span is at most 255 bytes: a larger n that passes overflows dst. */
	rc = fdmsg_rbuf_get_bytes(r, dst, n);
	want = rtake(m, n, &at);
	FUZZ_CHECK(rc == want);
	if (rc == 0) {
		FUZZ_CHECK(n <= 255);
		FUZZ_CHECK(n == 0 || memcmp(dst, m->data + at, n) == 0);
		FUZZ_CHECK(dst[n] == 0xA5);
	} else {
		for (i = 0; i < chk; i++)
			FUZZ_CHECK(dst[i] == 0xA5);
	}
}

static void
r_get_ref(struct fdmsg_rbuf *r, struct rmodel *m, size_t n)
{
	const uint8_t *p = fdmsg_rbuf_get_ref(r, n);
	size_t at = 0;
	int want = rtake(m, n, &at);

	if (want != 0) {
		FUZZ_CHECK(p == NULL);
		return;
	}
	FUZZ_CHECK(p != NULL);
	if (n > 0)
		FUZZ_CHECK(p == m->data + at);
}

static void
r_skip(struct fdmsg_rbuf *r, struct rmodel *m, size_t n)
{
	size_t at = 0;

	FUZZ_CHECK(fdmsg_rbuf_skip(r, n) == rtake(m, n, &at));
}

static void
r_get_str(struct fdmsg_rbuf *r, struct rmodel *m, int want_len)
{
	const char *s = (const char *)(uintptr_t)0xA5A5;
	size_t len = 0xA5A5, slen;
	const uint8_t *nul;
	int rc;

	rc = fdmsg_rbuf_get_str(r, &s, want_len ? &len : NULL);
	if (m->err != 0) {
		FUZZ_CHECK(rc == m->err);
		goto untouched;
	}
	nul = m->pos < m->len ?
		memchr(m->data + m->pos, 0, m->len - m->pos) : NULL;
	if (nul == NULL) {
		m->err = -EBADMSG;
		FUZZ_CHECK(rc == -EBADMSG);
		goto untouched;
	}
	slen = (size_t)(nul - (m->data + m->pos));
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(s == (const char *)m->data + m->pos);
	FUZZ_CHECK(strlen(s) == slen);
	if (want_len)
		FUZZ_CHECK(len == slen);
	m->pos += slen + 1;
	return;
untouched:
	FUZZ_CHECK(s == (const char *)(uintptr_t)0xA5A5 && len == 0xA5A5);
}

/* ---- writer model ---- */

struct wlog {
	uint8_t width;  /* 1, 2, 4, 8; 0: raw bytes of length n */
	size_t off, n;
	uint64_t v;
};

struct wmodel {
	uint8_t shadow[WMAX_LIMIT];
	size_t len, max;
	int err;
	int fixed;
	uint8_t *mem;           /* fixed: the caller's memory */
	struct wlog log[LOG_MAX];
	size_t nlog;
	int log_lost;
};

static void
wcheck(const struct fdmsg_wbuf *w, const struct wmodel *m)
{
	const uint8_t *d = fdmsg_wbuf_data(w);

	FUZZ_CHECK(fdmsg_wbuf_error(w) == m->err);
	FUZZ_CHECK(fdmsg_wbuf_len(w) == m->len);
	FUZZ_CHECK(w->len <= w->cap && w->cap <= w->max);
	FUZZ_CHECK(w->max == m->max);
	if (m->fixed)
		FUZZ_CHECK(d == m->mem);
	/* Contents never change behind the writer's back, nor on error. */
	if (m->len > 0)
		FUZZ_CHECK(d != NULL && memcmp(d, m->shadow, m->len) == 0);
}

static void
wlog_add(struct wmodel *m, uint8_t width, size_t off, size_t n, uint64_t v)
{
	if (m->nlog == LOG_MAX) {
		m->log_lost = 1;
		return;
	}
	m->log[m->nlog].width = width;
	m->log[m->nlog].off = off;
	m->log[m->nlog].n = n;
	m->log[m->nlog].v = v;
	m->nlog++;
}

/* The model's answer for n more bytes; on success returns 0, *off set. */
static int
wgrow(struct wmodel *m, size_t n, size_t *off)
{
	if (m->err != 0)
		return m->err;
	if (n > SIZE_MAX - m->len) {
		m->err = -EOVERFLOW;
		return m->err;
	}
	if (m->len + n > m->max) {
		m->err = -ENOBUFS;
		return m->err;
	}
	*off = m->len;
	m->len += n;
	return 0;
}

static void
w_reserve(struct fdmsg_wbuf *w, struct wmodel *m, size_t n, uint8_t fill)
{
	uint8_t *p = fdmsg_wbuf_reserve(w, n);
	size_t off = 0;
	int want = wgrow(m, n, &off);

	if (want != 0) {
		FUZZ_CHECK(p == NULL);
		return;
	}
	FUZZ_CHECK(p != NULL);
	FUZZ_CHECK(n == 0 || p == (const uint8_t *)fdmsg_wbuf_data(w) + off);
	/* The reserved bytes are the caller's to fill. */
	if (n > 0) {
		memset(p, fill, n);
		memset(m->shadow + off, fill, n);
	}
	wlog_add(m, 0, off, n, 0);
}

static void
w_append(struct fdmsg_wbuf *w, struct wmodel *m, size_t n,
	 const uint8_t *src)
{
	size_t off = 0;
	int rc = fdmsg_wbuf_append(w, src, n);
	int want = wgrow(m, n, &off);

	FUZZ_CHECK(rc == want);
	if (rc == 0 && n > 0) {
		memcpy(m->shadow + off, src, n);
		wlog_add(m, 0, off, n, 0);
	}
}

static void
w_append_null(struct fdmsg_wbuf *w, struct wmodel *m, size_t n)
{
	int rc = fdmsg_wbuf_append(w, NULL, n);

	if (m->err != 0) {
		FUZZ_CHECK(rc == m->err);
	} else if (n == 0) {
		FUZZ_CHECK(rc == 0);
	} else {
		/* Bad argument: an error that sticks, nothing appended. */
		FUZZ_CHECK(rc < 0);
		m->err = rc;
	}
}

/* put_uN of a value read from the input (N / 8 bytes of it). */
static void
w_put(struct fdmsg_wbuf *w, struct wmodel *m, unsigned width,
      struct fuzz_in *in)
{
	size_t off = 0, i;
	uint64_t v;
	int rc, want;

	switch (width) {
	case 1:
		v = in_u8(in);
		rc = fdmsg_wbuf_put_u8(w, (uint8_t)v);
		break;
	case 2:
		v = in_u16(in);
		rc = fdmsg_wbuf_put_u16(w, (uint16_t)v);
		break;
	case 4:
		v = in_u32(in);
		rc = fdmsg_wbuf_put_u32(w, (uint32_t)v);
		break;
	default:
		width = 8;
		v = in_u64(in);
		rc = fdmsg_wbuf_put_u64(w, v);
		break;
	}
	want = wgrow(m, width, &off);
	FUZZ_CHECK(rc == want);
	if (rc != 0)
		return;
	for (i = 0; i < width; i++)
		m->shadow[off + i] = (uint8_t)(v >> (8 * i));
	wlog_add(m, (uint8_t)width, off, width, v);
}

/* Everything logged since the last reset reads back through an rbuf. */
static void
w_readback(const struct fdmsg_wbuf *w, const struct wmodel *m)
{
	struct fdmsg_rbuf r;
	const uint8_t *ref;
	size_t i;

	if (m->log_lost)
		return;
	fdmsg_rbuf_init(&r, fdmsg_wbuf_data(w), fdmsg_wbuf_len(w));
	for (i = 0; i < m->nlog; i++) {
		const struct wlog *e = &m->log[i];
		uint8_t v8;
		uint16_t v16;
		uint32_t v32;
		uint64_t v64;

		FUZZ_CHECK(fdmsg_rbuf_remaining(&r) == m->len - e->off);
		switch (e->width) {
		case 1:
			FUZZ_CHECK(fdmsg_rbuf_get_u8(&r, &v8) == 0);
			FUZZ_CHECK(v8 == e->v);
			break;
		case 2:
			FUZZ_CHECK(fdmsg_rbuf_get_u16(&r, &v16) == 0);
			FUZZ_CHECK(v16 == e->v);
			break;
		case 4:
			FUZZ_CHECK(fdmsg_rbuf_get_u32(&r, &v32) == 0);
			FUZZ_CHECK(v32 == e->v);
			break;
		case 8:
			FUZZ_CHECK(fdmsg_rbuf_get_u64(&r, &v64) == 0);
			FUZZ_CHECK(v64 == e->v);
			break;
		default:
			ref = fdmsg_rbuf_get_ref(&r, e->n);
			FUZZ_CHECK(ref != NULL);
			FUZZ_CHECK(e->n == 0 ||
				   memcmp(ref, m->shadow + e->off, e->n) == 0);
			break;
		}
	}
	FUZZ_CHECK(fdmsg_rbuf_remaining(&r) == 0);
	FUZZ_CHECK(fdmsg_rbuf_error(&r) == 0);
}

static void
wmodel_reset(struct wmodel *m)
{
	m->len = 0;
	m->err = 0;
	m->nlog = 0;
	m->log_lost = 0;
}

/* (Re)initialises the writer from two input bytes; returns 0 or -1. */
static int
w_init(struct fdmsg_wbuf *w, struct wmodel *m, struct fuzz_in *in)
{
	uint8_t kind = in_u8(in);
	size_t a = in_u8(in), b = in_u16(in) % (WMAX_LIMIT + 1);
	struct fdmsg_wbuf before;
	int rc;

	free(m->mem);
	m->mem = NULL;
	wmodel_reset(m);
	if (kind & 1) {
		/* Fixed, over exactly-sized memory (or none at all). */
		a %= 200;
		m->fixed = 1;
		if (!(kind & 2)) {
			m->mem = malloc(a ? a : 1);
			if (m->mem == NULL)
				return -1;
		}
		fdmsg_wbuf_init_fixed(w, m->mem, a);
		if (m->mem == NULL && a > 0) {
			m->max = 0;
			m->err = fdmsg_wbuf_error(w);
			FUZZ_CHECK(m->err == -EINVAL);
		} else {
			m->max = a;
		}
		return 0;
	}
	m->fixed = 0;
	memset(&before, 0x5A, sizeof(before));
	*w = before;
	rc = fdmsg_wbuf_init(w, a, b);
	if (b == 0 || a > b) {
		FUZZ_CHECK(rc == -EINVAL);
		/* Failure writes nothing. */
		FUZZ_CHECK(memcmp(w, &before, sizeof(before)) == 0);
		/* Fall back to a valid growable writer. */
		b = b ? b : 1;
		a = 0;
		rc = fdmsg_wbuf_init(w, a, b);
	}
	FUZZ_CHECK(rc == 0);
	m->max = b;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct fdmsg_rbuf r;
	struct rmodel rm;
	struct fdmsg_wbuf w;
	static struct wmodel wm;
	static uint8_t src[WMAX_LIMIT + 64];
	uint8_t *span = NULL;
	const uint8_t *sp;
	size_t span_len, got, n, ops;
	int rc;
	uint8_t cfg = in_u8(&in);

	/* The reader's span: an exact-size copy, so over-reads show. */
	sp = in_bytes(&in, in_u8(&in), &span_len);
	span = malloc(span_len ? span_len : 1);
	if (span == NULL)
		return 0;
	if (span_len)
		memcpy(span, sp, span_len);
	if (cfg & 1) {
		/* A span with no memory behind a nonzero length. */
		fdmsg_rbuf_init(&r, NULL, 1 + span_len);
		rm.data = NULL;
		rm.len = rm.pos = 0;
		rm.err = -EINVAL;
	} else {
		fdmsg_rbuf_init(&r, span, span_len);
		rm.data = span;
		rm.len = span_len;
		rm.pos = 0;
		rm.err = 0;
	}
	rcheck(&r, &rm);

	memset(&wm, 0, sizeof(wm));
	if (w_init(&w, &wm, &in) < 0) {
		free(span);
		return 0;
	}
	wcheck(&w, &wm);

	for (ops = 0; ops < MAX_OPS && in.n > 0; ops++) {
		/* Low 5 bits: the op (20..31 fold onto 0..11); bits 5-7:
		 * its modifiers. */
		uint8_t op = in_u8(&in);
		unsigned kind = (op & 0x1fu) % 20u;
		int hi = op & 0x80;

		switch (kind) {
		case 0: case 1: case 2: case 3:
			r_get_uint(&r, &rm, 1u << kind);
			break;
		case 4:
			n = in_size(&in, rm.len - rm.pos);
			r_get_bytes(&r, &rm, n);
			break;
		case 5:
			n = in_size(&in, rm.len - rm.pos);
			r_get_ref(&r, &rm, n);
			break;
		case 6:
			n = in_size(&in, rm.len - rm.pos);
			r_skip(&r, &rm, n);
			break;
		case 7:
			r_get_str(&r, &rm, hi);
			break;
		case 8:
			if (hi) {
				r_null_out(&r, &rm, (op >> 5) & 3u);
			} else {
				/* Restart over a suffix of the span. */
				n = span_len ? in_u8(&in) % (span_len + 1) : 0;
				fdmsg_rbuf_init(&r, span + n, span_len - n);
				rm.data = span + n;
				rm.len = span_len - n;
				rm.pos = 0;
				rm.err = 0;
			}
			break;
		case 9:
			n = in_size(&in, wm.max - wm.len);
			w_reserve(&w, &wm, n, in_u8(&in));
			break;
		case 10:
		case 11: {
			const uint8_t *b;

			/* The source holds WMAX_LIMIT + 64 bytes: an n past
			 * that which the writer took would over-read it. */
			n = in_size(&in, wm.max - wm.len);
			memset(src, 0, sizeof(src));
			b = in_bytes(&in, n < 64 ? n : 64, &got);
			memcpy(src, b, got);
			w_append(&w, &wm, n, src);
			break;
		}
		case 12: case 13: case 14: case 15:
			w_put(&w, &wm, 1u << (kind - 12), &in);
			break;
		case 16:
			fdmsg_wbuf_reset(&w);
			wmodel_reset(&wm);
			break;
		case 17:
			w_append_null(&w, &wm, hi ? 0 : 1u + (op >> 5));
			break;
		case 18:
			w_readback(&w, &wm);
			break;
		default:
			/* Free; sometimes keep using the freed writer (no
			 * room, no memory), then start a new one. */
			fdmsg_wbuf_free(&w);
			fdmsg_wbuf_free(&w);
			wmodel_reset(&wm);
			wm.max = 0;
			if (hi) {
				wm.fixed = 0;
				free(wm.mem);
				wm.mem = NULL;
				wcheck(&w, &wm);
				rc = fdmsg_wbuf_put_u32(&w, 1);
				FUZZ_CHECK(rc == -ENOBUFS);
				wm.err = rc;
				w_reserve(&w, &wm, 0, 0);
				wcheck(&w, &wm);
			}
			if (w_init(&w, &wm, &in) < 0)
				goto out;
			break;
		}
		rcheck(&r, &rm);
		wcheck(&w, &wm);
	}
	w_readback(&w, &wm);
out:
	fdmsg_wbuf_free(&w);
	free(wm.mem);
	wm.mem = NULL;
	free(span);
	return 0;
}
