/* SPDX-License-Identifier: ISC */
/*
 * What imsg.c and imsg-buffer.c from tmux's compat/ directory need of
 * tmux's compat.h: <sys/queue.h> and three OpenBSD functions, written in
 * imsg-compat.c.
 */
#ifndef FDMSG_BENCH_IMSG_COMPAT_H
#define FDMSG_BENCH_IMSG_COMPAT_H

#include <sys/queue.h>
#include <sys/types.h>
#include <limits.h>
#include <stddef.h>

void freezero(void *p, size_t n);
void *recallocarray(void *p, size_t oldn, size_t newn, size_t size);
int getdtablecount(void);

#endif
