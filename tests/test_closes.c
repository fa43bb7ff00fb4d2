/* SPDX-License-Identifier: ISC */
/*
 * fdmsg_send with FDMSG_CLOSE_FDS closes what it was given once: a
 * descriptor named twice in one frame is still one descriptor, and a
 * second close(2) of its number could close one another thread opened in
 * between (DESIGN.md, Descriptor ownership).  The library's close calls
 * are counted through the link-time wrappers of tests/fault.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fault.h"
#include "fdmsg.h"
#include "rawpeer.h"
#include "testutil.h"

static int
new_memfd(void)
{
	int fd = memfd_create("closes", MFD_CLOEXEC);

	cr_assert_geq(fd, 0, "memfd_create: %s", strerror(errno));
	return fd;
}

/* fdmsg_send's result, and in *closes the close calls it made. */
static int
counted_send(struct fdmsg_chan *c, size_t plen, const int *fds,
	     size_t nfds, unsigned flags, unsigned long *closes)
{
	static uint8_t buf[FDMSG_MAX_FRAME_DEFAULT];
	struct iovec iov = { buf, plen };
	int r;

	fault_reset();
	fault_arm();
	r = fdmsg_send(c, 1, 2, &iov, 1, fds, nfds, flags);
	fault_disarm();
	*closes = fault_kind_calls(FK_CLOSE);
	return r;
}

static struct fdmsg_chan *
chan_of(int type, int *peer)
{
	struct fdmsg_chan *c;

	cr_assert_eq(open_chan(type, 4, 0, 0, 0, peer, &c), 0);
	cr_assert_eq(fdmsg_flush(c), 0); /* the hello, queued on DGRAM */
	return c;
}

/* Sent at once: the three names of two descriptors, two closes. */
TEST_ALL_TYPES(closes, named_twice_and_sent_is_closed_once)
{
	struct fdmsg_chan *c;
	unsigned long closes;
	int peer, base, f, g, fds[3];

	c = chan_of(type, &peer);
	base = fd_count();
	f = new_memfd();
	g = new_memfd();
	fds[0] = f;
	fds[1] = g;
	fds[2] = f;
	cr_assert_eq(counted_send(c, 8, fds, 3, FDMSG_CLOSE_FDS, &closes), 0);
	cr_assert_eq(closes, 2, "%lu closes of two descriptors", closes);
	cr_assert_eq(fd_count(), base);
	fdmsg_chan_free(c);
	close(peer);
}

/* Refused (-EMSGSIZE): given away all the same, each closed once. */
TEST_ALL_TYPES(closes, named_twice_and_refused_is_closed_once)
{
	struct fdmsg_chan *c;
	unsigned long closes;
	int peer, base, fds[2];

	c = chan_of(type, &peer);
	base = fd_count();
	fds[0] = fds[1] = new_memfd();
	cr_assert_eq(counted_send(c, FDMSG_MAX_FRAME_DEFAULT, fds, 2,
				  FDMSG_CLOSE_FDS, &closes), -EMSGSIZE);
	cr_assert_eq(closes, 1, "%lu closes of one descriptor", closes);
	cr_assert_eq(fd_count(), base);
	fdmsg_chan_free(c);
	close(peer);
}

/* Queued (the socket is full): the queue holds duplicates, and the
 * caller's one descriptor is closed once; the channel closes the
 * duplicates. */
TEST_ALL_TYPES(closes, named_twice_and_queued_is_closed_once)
{
	struct fdmsg_chan *c;
	unsigned long closes;
	int peer, base, fds[2];

	c = chan_of(type, &peer);
	cr_assert_eq(fill_socket_raw(fdmsg_chan_fd(c)), 0);
	base = fd_count();
	fds[0] = fds[1] = new_memfd();
	cr_assert_eq(counted_send(c, 8, fds, 2, FDMSG_CLOSE_FDS, &closes), 0);
	cr_assert_eq(fdmsg_want_write(c), 1);
	cr_assert_eq(closes, 1, "%lu closes of one descriptor", closes);
	cr_assert_eq(fd_count(), base + 2, "two duplicates wait");
	fdmsg_chan_free(c);
	cr_assert_eq(fd_count(), base - 1);
	close(peer);
}

/*
 * A frame that must wait, its descriptors borrowed, at a full descriptor
 * table: the queue's second duplicate fails, -EMFILE, the first is
 * closed again, nothing is queued and the caller's stay open; given away
 * (FDMSG_CLOSE_FDS) it needs no duplicate and is queued.  In a child,
 * which reports by exit status.
 */
static int
full_table_child(int type, unsigned arg)
{
	uint8_t junk[8] = { 0 };
	struct iovec iov = { junk, 8 };
	struct fdmsg_chan *c;
	int peer, fds[2], r;

	(void)arg;
	if (open_chan(type, 4, 0, 0, 0, &peer, &c) < 0 || fdmsg_flush(c) != 0)
		return 10;
	if (fill_socket_raw(fdmsg_chan_fd(c)) < 0)
		return 11;
	fds[0] = memfd_create("closes", MFD_CLOEXEC);
	fds[1] = memfd_create("closes", MFD_CLOEXEC);
	if (fds[0] < 0 || fds[1] < 0)
		return 12;
	if (rlimit_squeeze(1) < 0)
		return 13;
	r = fdmsg_send(c, 1, 2, &iov, 1, fds, 2, 0);
	if (r != -EMFILE) {
		dprintf(2, "full table: fdmsg_send gave %d %s, expected "
			"-EMFILE\n", r, ename(r));
		return 20;
	}
	if ((r = free_slots()) != 1) {
		dprintf(2, "full table: %d free after -EMFILE, 1 before\n", r);
		return 21;
	}
	if (fdmsg_want_write(c) != 0 || !fd_is_open(fds[0]) ||
	    !fd_is_open(fds[1]))
		return 22;
	if (fdmsg_send(c, 1, 3, &iov, 1, fds, 2, FDMSG_CLOSE_FDS) != 0 ||
	    fdmsg_want_write(c) != 1 || free_slots() != 1)
		return 23;
	if (rlimit_release() < 0)
		return 24;
	fdmsg_chan_free(c);
	close(peer);
	return 0;
}

TEST_ALL_TYPES(closes, borrowed_at_a_full_table_is_emfile_dups_closed)
{
	SKIP_UNDER_VALGRIND();
	run_child(full_table_child, type, 0, "one free slot, two to dup");
}
