/*
 * What the classic imsg sources take from tmux's compat.h: <sys/queue.h>,
 * freezero, recallocarray and getdtablecount, written here for the
 * reference build only.
 */
#ifndef STOCK_COMPAT_H
#define STOCK_COMPAT_H

#include <sys/types.h>
#include <sys/queue.h>
#include <dirent.h>
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

/* As tmux's compat/getdtablecount.c: the entries of /proc/self/fd. */
static inline int
getdtablecount(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

#endif
