/* SPDX-License-Identifier: ISC */
/*
 * What the classic imsg sources take from tmux's compat.h: <sys/queue.h>,
 * freezero, recallocarray and getdtablecount, written here for the
 * reference build only.
 */
#ifndef STOCK_COMPAT_H
#define STOCK_COMPAT_H

#include <sys/types.h>
#include <sys/queue.h>
#include <stdlib.h>
#include <string.h>

static inline void
freezero(void *p, size_t n)
{
	if (p != NULL)
		explicit_bzero(p, n);
	free(p);
}

static inline void *
recallocarray(void *p, size_t oldn, size_t newn, size_t size)
{
	unsigned char *q;

	if (size != 0 && newn > (size_t)-1 / size)
		return NULL;
	if ((q = realloc(p, newn * size)) == NULL)
		return NULL;
	if (newn > oldn)
		memset(q + oldn * size, 0, (newn - oldn) * size);
	return q;
}

/* tmux's compat/getdtablecount.c counts /proc/self/fd; so does this
 * (fdmsg-imsg's, linked in beside the reference). */
int fdmsg_imsg_fd_count(void);

static inline int
getdtablecount(void)
{
	return fdmsg_imsg_fd_count();
}

#endif
