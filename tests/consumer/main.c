/* SPDX-License-Identifier: ISC */
/*
 * A program that uses fdmsg the way an outside project does: only the
 * installed <fdmsg.h> and the library, found through pkg-config or a meson
 * subproject.  It sends itself one frame with one descriptor over a socket
 * pair and checks that the descriptor that arrives is the file it sent.
 * ci/check-consumers builds and runs it against each form of the library.
 */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, fstat under -std=c11 */

#include <sys/stat.h>
#include <sys/uio.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fdmsg.h>

static int
fail(const char *what, int rc)
{
	fprintf(stderr, "consumer: %s: %s\n", what, fdmsg_strerror(rc));
	return 1;
}

int
main(void)
{
	static const char payload[] = "hello";
	struct fdmsg_chan *tx = NULL, *rx = NULL;
	struct fdmsg_opts opts;
	struct fdmsg_msg msg;
	struct stat sent, got;
	struct iovec iov;
	int sv[2], fd, rc, status = 1;

	if ((rc = fdmsg_pair(0, sv)) < 0)
		return fail("fdmsg_pair", rc);
	fdmsg_opts_init(&opts);
	opts.max_fds = 1;
	/* Each channel owns its end from here on, even if the call fails. */
	if ((rc = fdmsg_chan_new(&tx, sv[0], &opts, FDMSG_CHAN_OWN_FD)) < 0) {
		close(sv[1]);
		return fail("fdmsg_chan_new", rc);
	}
	if ((rc = fdmsg_chan_new(&rx, sv[1], &opts, FDMSG_CHAN_OWN_FD)) < 0) {
		fdmsg_chan_free(tx);
		return fail("fdmsg_chan_new", rc);
	}

	/* The descriptor to send; compared by device and inode on arrival. */
	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &sent) == -1) {
		perror("consumer: /dev/null");
		goto out;
	}
	iov.iov_base = (void *)payload;
	iov.iov_len = sizeof(payload);
	rc = fdmsg_send(tx, 7, 42, &iov, 1, &fd, 1, FDMSG_CLOSE_FDS);
	if (rc < 0) {
		fail("fdmsg_send", rc);
		goto out;
	}
	if ((rc = fdmsg_recv_wait(rx, &msg, 5000)) < 0) {
		fail("fdmsg_recv_wait", rc);
		goto out;
	}
	if (msg.type != 7 || msg.peerid != 42 || msg.len != sizeof(payload) ||
	    memcmp(msg.payload, payload, sizeof(payload)) != 0 ||
	    msg.nfds != 1) {
		fprintf(stderr, "consumer: wrong frame: type %u peerid %u "
			"len %zu nfds %u\n", msg.type, msg.peerid, msg.len,
			msg.nfds);
		goto out;
	}
	if (fstat(msg.fds[0], &got) == -1 || got.st_dev != sent.st_dev ||
	    got.st_ino != sent.st_ino) {
		fprintf(stderr, "consumer: the descriptor is not the file sent\n");
		goto out;
	}
	fdmsg_msg_release(&msg);
	printf("consumer ok\n");
	status = 0;
out:
	fdmsg_chan_free(rx);
	fdmsg_chan_free(tx);
	return status;
}
