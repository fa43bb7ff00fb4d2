/* SPDX-License-Identifier: ISC */
/*
 * Bounded buffers: a writer (fixed over caller memory, or growable on the
 * heap up to a cap) and a reader over a span it does not own.
 *
 * Both keep a sticky error: the first failure is stored, and every later
 * call returns it and changes nothing, so a caller may chain puts or gets
 * and check once at the end.
 *
 * Writer size rules, for a request of n bytes on a buffer holding len:
 *   len + n wraps SIZE_MAX       -EOVERFLOW
 *   len + n > max (fixed: size)  -ENOBUFS
 *   the allocator fails          -ENOMEM
 * so reserve(SIZE_MAX) is -ENOBUFS on an empty buffer and -EOVERFLOW once
 * it holds a byte.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fdmsg.h"
#include "util.h"

/* First allocation of a lazily allocated growable writer. */
#define WBUF_MIN_ALLOC 64u

/*
 * What a zero-byte reserve or get_ref returns when there is no memory
 * behind the buffer: a valid pointer, so NULL always means failure.
 * Nothing is ever written through it (zero bytes).
 */
static uint8_t empty_span[1];

/* Stores the first error only; returns the stored one. */
static int
wbuf_fail(struct fdmsg_wbuf *w, int err)
{
	if (w->err == 0)
		w->err = err;
	return w->err;
}

static int
rbuf_fail(struct fdmsg_rbuf *r, int err)
{
	if (r->err == 0)
		r->err = err;
	return r->err;
}

void
fdmsg_wbuf_init_fixed(struct fdmsg_wbuf *w, void *mem, size_t size)
{
	if (w == NULL)
		return;
	w->data = mem;
	w->len = 0;
	w->cap = size;
	w->max = size;
	w->err = 0;
	w->owned = 0;
	if (mem == NULL && size > 0) {
		/* No memory behind a nonzero size: every put fails. */
		w->cap = 0;
		w->max = 0;
		w->err = -EINVAL;
	}
}

int
fdmsg_wbuf_init(struct fdmsg_wbuf *w, size_t initial, size_t max)
{
	uint8_t *data = NULL;

	if (w == NULL || max == 0 || initial > max)
		return -EINVAL;
	/* initial 0: allocate on the first put. */
	if (initial > 0 && (data = malloc(initial)) == NULL)
		return -ENOMEM;
	w->data = data;
	w->len = 0;
	w->cap = initial;
	w->max = max;
	w->err = 0;
	w->owned = 1;
	return 0;
}

void
fdmsg_wbuf_free(struct fdmsg_wbuf *w)
{
	if (w == NULL)
		return;
	if (w->owned)
		free(w->data);
	/* Leaves an empty buffer with no room: later puts get -ENOBUFS. */
	w->data = NULL;
	w->len = 0;
	w->cap = 0;
	w->max = 0;
	w->err = 0;
	w->owned = 0;
}

void
fdmsg_wbuf_reset(struct fdmsg_wbuf *w)
{
	if (w == NULL)
		return;
	w->len = 0;
	w->err = 0;
}

/* Makes cap >= need (need <= max already checked), doubling from cap. */
static int
wbuf_grow(struct fdmsg_wbuf *w, size_t need)
{
	size_t ncap = w->cap > 0 ? w->cap : WBUF_MIN_ALLOC;
	uint8_t *p;

	while (ncap < need) {
		if (ncap > w->max / 2) {
			ncap = w->max;
			break;
		}
		ncap *= 2;
	}
	if (ncap > w->max)
		ncap = w->max;
	p = realloc(w->data, ncap);
	if (p == NULL)
		return -ENOMEM;
	w->data = p;
	w->cap = ncap;
	return 0;
}

void *
fdmsg_wbuf_reserve(struct fdmsg_wbuf *w, size_t n)
{
	size_t need;
	uint8_t *p;
	int rc;

	if (w == NULL || w->err != 0)
		return NULL;
	if (size_add(w->len, n, &need) < 0) {
		wbuf_fail(w, -EOVERFLOW);
		return NULL;
	}
	if (need > w->max) {
		wbuf_fail(w, -ENOBUFS);
		return NULL;
	}
	if (need > w->cap) {
		/* Only a growable writer has max > cap. */
		if (!w->owned) {
			wbuf_fail(w, -ENOBUFS);
			return NULL;
		}
		if ((rc = wbuf_grow(w, need)) < 0) {
			wbuf_fail(w, rc);
			return NULL;
		}
	}
	p = w->data != NULL ? w->data + w->len : empty_span;
	w->len = need;
	return p;
}

int
fdmsg_wbuf_append(struct fdmsg_wbuf *w, const void *p, size_t n)
{
	void *dst;

	if (w == NULL)
		return -EINVAL;
	if (w->err != 0)
		return w->err;
	if (p == NULL && n > 0)
		return wbuf_fail(w, -EINVAL);
	if ((dst = fdmsg_wbuf_reserve(w, n)) == NULL)
		return w->err;
	if (n > 0)
		memcpy(dst, p, n);
	return 0;
}

int
fdmsg_wbuf_put_u8(struct fdmsg_wbuf *w, uint8_t v)
{
	uint8_t *p;

	if (w == NULL)
		return -EINVAL;
	if ((p = fdmsg_wbuf_reserve(w, 1)) == NULL)
		return w->err;
	p[0] = v;
	return 0;
}

int
fdmsg_wbuf_put_u16(struct fdmsg_wbuf *w, uint16_t v)
{
	uint8_t *p;

	if (w == NULL)
		return -EINVAL;
	if ((p = fdmsg_wbuf_reserve(w, 2)) == NULL)
		return w->err;
	le16_store(p, v);
	return 0;
}

int
fdmsg_wbuf_put_u32(struct fdmsg_wbuf *w, uint32_t v)
{
	uint8_t *p;

	if (w == NULL)
		return -EINVAL;
	if ((p = fdmsg_wbuf_reserve(w, 4)) == NULL)
		return w->err;
	le32_store(p, v);
	return 0;
}

int
fdmsg_wbuf_put_u64(struct fdmsg_wbuf *w, uint64_t v)
{
	uint8_t *p;

	if (w == NULL)
		return -EINVAL;
	if ((p = fdmsg_wbuf_reserve(w, 8)) == NULL)
		return w->err;
	le64_store(p, v);
	return 0;
}

int
fdmsg_wbuf_error(const struct fdmsg_wbuf *w)
{
	return w != NULL ? w->err : -EINVAL;
}

const void *
fdmsg_wbuf_data(const struct fdmsg_wbuf *w)
{
	return w != NULL ? w->data : NULL;
}

size_t
fdmsg_wbuf_len(const struct fdmsg_wbuf *w)
{
	return w != NULL ? w->len : 0;
}

void
fdmsg_rbuf_init(struct fdmsg_rbuf *r, const void *p, size_t n)
{
	if (r == NULL)
		return;
	r->data = p;
	r->len = n;
	r->pos = 0;
	r->err = 0;
	if (p == NULL && n > 0) {
		/* No memory behind a nonzero length: every get fails. */
		r->len = 0;
		r->err = -EINVAL;
	}
}

/*
 * Consumes n bytes and returns where they start, or NULL with the sticky
 * error set and nothing consumed.  Checked by subtraction: pos <= len.
 */
static const uint8_t *
rbuf_take(struct fdmsg_rbuf *r, size_t n)
{
	const uint8_t *p;

	if (r->err != 0)
		return NULL;
	if (n > r->len - r->pos) {
		rbuf_fail(r, -EBADMSG);
		return NULL;
	}
	p = r->data != NULL ? r->data + r->pos : empty_span;
	r->pos += n;
	return p;
}

int
fdmsg_rbuf_get_u8(struct fdmsg_rbuf *r, uint8_t *v)
{
	const uint8_t *p;

	if (r == NULL)
		return -EINVAL;
	if (v == NULL)
		return rbuf_fail(r, -EINVAL);
	if ((p = rbuf_take(r, 1)) == NULL)
		return r->err;
	*v = p[0];
	return 0;
}

int
fdmsg_rbuf_get_u16(struct fdmsg_rbuf *r, uint16_t *v)
{
	const uint8_t *p;

	if (r == NULL)
		return -EINVAL;
	if (v == NULL)
		return rbuf_fail(r, -EINVAL);
	if ((p = rbuf_take(r, 2)) == NULL)
		return r->err;
	*v = le16_load(p);
	return 0;
}

int
fdmsg_rbuf_get_u32(struct fdmsg_rbuf *r, uint32_t *v)
{
	const uint8_t *p;

	if (r == NULL)
		return -EINVAL;
	if (v == NULL)
		return rbuf_fail(r, -EINVAL);
	if ((p = rbuf_take(r, 4)) == NULL)
		return r->err;
	*v = le32_load(p);
	return 0;
}

int
fdmsg_rbuf_get_u64(struct fdmsg_rbuf *r, uint64_t *v)
{
	const uint8_t *p;

	if (r == NULL)
		return -EINVAL;
	if (v == NULL)
		return rbuf_fail(r, -EINVAL);
	if ((p = rbuf_take(r, 8)) == NULL)
		return r->err;
	*v = le64_load(p);
	return 0;
}

int
fdmsg_rbuf_get_bytes(struct fdmsg_rbuf *r, void *dst, size_t n)
{
	const uint8_t *p;

	if (r == NULL)
		return -EINVAL;
	if (dst == NULL && n > 0)
		return rbuf_fail(r, -EINVAL);
	if ((p = rbuf_take(r, n)) == NULL)
		return r->err;
	if (n > 0)
		memcpy(dst, p, n);
	return 0;
}

const void *
fdmsg_rbuf_get_ref(struct fdmsg_rbuf *r, size_t n)
{
	if (r == NULL)
		return NULL;
	return rbuf_take(r, n);
}

int
fdmsg_rbuf_get_str(struct fdmsg_rbuf *r, const char **s, size_t *len)
{
	const uint8_t *start, *nul;
	size_t slen;

	if (r == NULL)
		return -EINVAL;
	if (s == NULL)
		return rbuf_fail(r, -EINVAL);
	if (r->err != 0)
		return r->err;
	/* The NUL must lie within the span: never scan past its end. */
	start = r->data != NULL ? r->data + r->pos : empty_span;
	nul = r->len > r->pos ? memchr(start, 0, r->len - r->pos) : NULL;
	if (nul == NULL)
		return rbuf_fail(r, -EBADMSG);
	slen = (size_t)(nul - start);
	r->pos += slen + 1;
	*s = (const char *)start;
	if (len != NULL)
		*len = slen;
	return 0;
}

int
fdmsg_rbuf_skip(struct fdmsg_rbuf *r, size_t n)
{
	if (r == NULL)
		return -EINVAL;
	if (rbuf_take(r, n) == NULL)
		return r->err;
	return 0;
}

size_t
fdmsg_rbuf_remaining(const struct fdmsg_rbuf *r)
{
	return r != NULL ? r->len - r->pos : 0;
}

int
fdmsg_rbuf_error(const struct fdmsg_rbuf *r)
{
	return r != NULL ? r->err : -EINVAL;
}
