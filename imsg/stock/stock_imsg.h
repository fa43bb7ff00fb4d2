/* SPDX-License-Identifier: ISC */
/*
 * The classic imsg, built from the reference source with its names
 * renamed (rename.h), declared over fdmsg-imsg's structs: the layouts are
 * the same (tests/test_imsg.c checks the sizes and offsets against the
 * reference header).
 */
#ifndef STOCK_IMSG_H
#define STOCK_IMSG_H

#include "imsg.h"

extern int stock_imsg_fd_overhead;
struct ibuf *stock_ibuf_open(size_t);
struct ibuf *stock_ibuf_dynamic(size_t, size_t);
int stock_ibuf_add(struct ibuf *, const void *, size_t);
void *stock_ibuf_reserve(struct ibuf *, size_t);
void *stock_ibuf_seek(struct ibuf *, size_t, size_t);
size_t stock_ibuf_size(struct ibuf *);
size_t stock_ibuf_left(struct ibuf *);
void stock_ibuf_close(struct msgbuf *, struct ibuf *);
int stock_ibuf_write(struct msgbuf *);
void stock_ibuf_free(struct ibuf *);
void stock_msgbuf_init(struct msgbuf *);
void stock_msgbuf_clear(struct msgbuf *);
int stock_msgbuf_write(struct msgbuf *);
void stock_msgbuf_drain(struct msgbuf *, size_t);
void stock_imsg_init(struct imsgbuf *, int);
ssize_t stock_imsg_read(struct imsgbuf *);
ssize_t stock_imsg_get(struct imsgbuf *, struct imsg *);
int stock_imsg_compose(struct imsgbuf *, uint32_t, uint32_t, pid_t, int,
    const void *, uint16_t);
int stock_imsg_composev(struct imsgbuf *, uint32_t, uint32_t, pid_t, int,
    const struct iovec *, int);
struct ibuf *stock_imsg_create(struct imsgbuf *, uint32_t, uint32_t, pid_t,
    uint16_t);
int stock_imsg_add(struct ibuf *, const void *, uint16_t);
void stock_imsg_close(struct imsgbuf *, struct ibuf *);
void stock_imsg_free(struct imsg *);
int stock_imsg_flush(struct imsgbuf *);
void stock_imsg_clear(struct imsgbuf *);

#endif
