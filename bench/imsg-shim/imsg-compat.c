/* SPDX-License-Identifier: ISC */
/*
 * OpenBSD functions imsg uses, for Linux, written from their manual pages.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"

void
freezero(void *p, size_t n)
{
	if (p == NULL)
		return;
	explicit_bzero(p, n);
	free(p);
}

/* reallocarray that clears what it frees and what it adds. */
void *
recallocarray(void *p, size_t oldn, size_t newn, size_t size)
{
	size_t oldsz, newsz;
	void *q;

	if (p == NULL)
		return calloc(newn, size);
	if (size != 0 && (newn > SIZE_MAX / size || oldn > SIZE_MAX / size)) {
		errno = ENOMEM;
		return NULL;
	}
	oldsz = oldn * size;
	newsz = newn * size;
	if ((q = malloc(newsz)) == NULL)
		return NULL;
	if (newsz > oldsz) {
		memcpy(q, p, oldsz);
		memset((char *)q + oldsz, 0, newsz - oldsz);
	} else {
		memcpy(q, p, newsz);
	}
	freezero(p, oldsz);
	return q;
}

/*
 * imsg_read refuses to read when the descriptor table is nearly full.
 * OpenBSD answers from a counter in the kernel; Linux has none, and tmux's
 * own shim globs the entries of /proc/PID/fd on every read.  0 here: imsg
 * pays nothing for the check, which favours imsg in the comparison.
 */
int
getdtablecount(void)
{
	return 0;
}
