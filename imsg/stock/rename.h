/* SPDX-License-Identifier: ISC */
/*
 * Forced in front of the classic imsg sources (-include): every public
 * name becomes stock_NAME, so the reference and fdmsg-imsg link into one
 * program.  Not part of the library.
 */
#ifndef STOCK_RENAME_H
#define STOCK_RENAME_H
#define ibuf_open stock_ibuf_open
#define ibuf_dynamic stock_ibuf_dynamic
#define ibuf_add stock_ibuf_add
#define ibuf_reserve stock_ibuf_reserve
#define ibuf_seek stock_ibuf_seek
#define ibuf_size stock_ibuf_size
#define ibuf_left stock_ibuf_left
#define ibuf_close stock_ibuf_close
#define ibuf_write stock_ibuf_write
#define ibuf_free stock_ibuf_free
#define msgbuf_init stock_msgbuf_init
#define msgbuf_clear stock_msgbuf_clear
#define msgbuf_write stock_msgbuf_write
#define msgbuf_drain stock_msgbuf_drain
#define imsg_init stock_imsg_init
#define imsg_read stock_imsg_read
#define imsg_get stock_imsg_get
#define imsg_compose stock_imsg_compose
#define imsg_composev stock_imsg_composev
#define imsg_create stock_imsg_create
#define imsg_add stock_imsg_add
#define imsg_close stock_imsg_close
#define imsg_free stock_imsg_free
#define imsg_flush stock_imsg_flush
#define imsg_clear stock_imsg_clear
#define imsg_fd_overhead stock_imsg_fd_overhead
#endif
