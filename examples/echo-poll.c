/* SPDX-License-Identifier: ISC */
/*
 * echo-poll: an fdmsg echo server on poll(2).  Every frame a client sends
 * goes back to it unchanged: type, peerid, payload and descriptors.
 *
 *   echo-poll PATH           serve on PATH until killed (the next run
 *                            replaces the stale socket)
 *   echo-poll [--self-test]  serve on a temporary path to NCLIENTS forked
 *                            clients that each send NFRAMES frames with a
 *                            pipe attached and check the echoes
 *
 * Try: echo-poll /tmp/echo & fdmsg send /tmp/echo --type 7 --data hi \
 *      --fd /etc/hostname --reply
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fdmsg.h>

#define MAX_CLIENTS 64
#define MAX_FDS 4	/* descriptors per read: both ends must agree */
#define NCLIENTS 8
#define NFRAMES 5

struct client {
	struct fdmsg_chan *chan;	/* NULL: the slot is free */
	int ending;			/* peer done: flush, then close */
};

/* Echoes every frame that is ready.  < 0: close the client. */
static int
client_io(struct client *c)
{
	struct fdmsg_msg msg = { 0 };	/* release() of an empty one: no-op */
	struct iovec iov;
	int rc;

	if ((rc = fdmsg_flush(c->chan)) < 0 && rc != -EAGAIN)
		return rc;
	if (c->ending)
		return fdmsg_want_write(c->chan) ? 0 : -EPIPE;
	while ((rc = fdmsg_recv(c->chan, &msg)) == 0) {
		iov.iov_base = (void *)msg.payload;
		iov.iov_len = msg.len;
		/* The frame's descriptors are only lent to the call: sent
		 * now, or duplicated into the queue. */
		rc = fdmsg_send(c->chan, msg.type, msg.peerid, &iov, 1,
		    msg.fds, msg.nfds, 0);
		if (rc < 0)	/* -ENOBUFS: it does not read its replies */
			break;
	}
	fdmsg_msg_release(&msg);	/* close the last frame's fds now */
	if (rc == -EPIPE && fdmsg_want_write(c->chan))
		c->ending = 1;	/* it may only have half-closed */
	return rc == -EAGAIN || c->ending ? 0 : rc;
}

/* Serves until nexpect clients are done (0: forever). */
static int
serve(int lfd, unsigned nexpect, int idle_ms)
{
	struct pollfd pfd[1 + MAX_CLIENTS];
	struct client cl[MAX_CLIENTS] = { { NULL, 0 } };
	struct fdmsg_opts opts;
	uid_t me = geteuid();
	unsigned done = 0, i;
	int fd, n, err, rc = 0;

	fdmsg_opts_init(&opts);
	opts.max_fds = MAX_FDS;	/* descriptors are refused unless asked for */
	pfd[0].fd = lfd;
	pfd[0].events = POLLIN;
	for (i = 0; i < MAX_CLIENTS; i++)
		pfd[1 + i].fd = -1;	/* poll skips it */
	while (nexpect == 0 || done < nexpect) {
		for (i = 0; i < MAX_CLIENTS; i++) {
			pfd[1 + i].events = cl[i].ending ? 0 : POLLIN;
			if (cl[i].chan && fdmsg_want_write(cl[i].chan))
				pfd[1 + i].events |= POLLOUT;
		}
		if ((n = poll(pfd, 1 + MAX_CLIENTS, idle_ms)) == 0) {
			rc = -ETIMEDOUT;
			break;
		}
		if (n < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		/* The listener is non-blocking: accept until -EAGAIN.  Only
		 * our own user may connect. */
		while (n > 0 && (pfd[0].revents & POLLIN)) {
			if ((fd = fdmsg_accept(lfd, &me, 1)) == -EPERM)
				continue;
			if (fd < 0)	/* a real server sheds on -EMFILE */
				break;
			for (i = 0; i < MAX_CLIENTS && cl[i].chan; i++)
				;
			/* The channel owns fd from here, even on failure. */
			if (i == MAX_CLIENTS) {
				close(fd);
			} else if (fdmsg_chan_new(&cl[i].chan, fd, &opts,
			    FDMSG_CHAN_OWN_FD) == 0) {
				cl[i].ending = 0;
				pfd[1 + i].fd = fd;
				pfd[1 + i].revents = 0;
			}
		}
		for (i = 0; n > 0 && i < MAX_CLIENTS; i++) {
			if (cl[i].chan == NULL || pfd[1 + i].revents == 0 ||
			    (err = client_io(&cl[i])) >= 0)
				continue;
			if (err != -EPIPE && err != -ECONNRESET)
				fprintf(stderr, "echo-poll: client %u: %s\n",
				    i, fdmsg_strerror(err));
			fdmsg_chan_free(cl[i].chan);	/* socket, all fds */
			cl[i].chan = NULL;
			pfd[1 + i].fd = -1;
			done++;
		}
	}
	for (i = 0; i < MAX_CLIENTS; i++)
		fdmsg_chan_free(cl[i].chan);
	return rc;
}

/* A self-test client: a pipe per frame; the echo must bring it back. */
static int
client(const char *path, unsigned id)
{
	struct fdmsg_chan *chan = NULL;
	struct fdmsg_opts opts;
	struct fdmsg_msg msg;
	struct stat a, b;
	struct iovec iov;
	char text[NFRAMES][32];
	int wr[NFRAMES], p[2], fd, rc = 0, i, n = 0;

	fdmsg_opts_init(&opts);
	opts.max_fds = MAX_FDS;
	if ((rc = fd = fdmsg_connect(path, 0)) < 0 ||
	    (rc = fdmsg_chan_new(&chan, fd, &opts, FDMSG_CHAN_OWN_FD)) < 0)
		goto out;
	for (n = 0; n < NFRAMES; n++) {
		if (pipe(p) == -1) {
			rc = -errno;
			goto out;
		}
		wr[n] = p[1];
		iov.iov_base = text[n];
		iov.iov_len = (size_t)snprintf(text[n], sizeof(text[n]),
		    "client %u frame %d", id, n);
		/* FDMSG_CLOSE_FDS: p[0] is closed by the call, sent or not. */
		if ((rc = fdmsg_send(chan, (uint32_t)n, id, &iov, 1, &p[0], 1,
		    FDMSG_CLOSE_FDS)) < 0)
			goto out;
	}
	if ((rc = fdmsg_flush_wait(chan, 5000)) < 0)
		goto out;
	for (i = 0; i < NFRAMES; i++) {
		if ((rc = fdmsg_recv_wait(chan, &msg, 5000)) < 0)
			goto out;
		/* The two ends of a pipe share one inode. */
		if (msg.type != (uint32_t)i || msg.peerid != id ||
		    msg.len != strlen(text[i]) ||
		    memcmp(msg.payload, text[i], msg.len) != 0 ||
		    msg.nfds != 1 || fstat(msg.fds[0], &a) == -1 ||
		    fstat(wr[i], &b) == -1 || a.st_dev != b.st_dev ||
		    a.st_ino != b.st_ino)
			rc = -EBADMSG;
	}
out:
	if (rc < 0)
		fprintf(stderr, "client %u: %s\n", id, fdmsg_strerror(rc));
	while (n > 0)
		close(wr[--n]);
	fdmsg_chan_free(chan);	/* also closes msg's descriptors */
	return rc < 0;
}

static int
listen_on(const char *path)
{
	int lfd;

	if ((lfd = fdmsg_listen(path, 0, 0600)) < 0)
		fprintf(stderr, "echo-poll: %s: %s\n", path,
		    fdmsg_strerror(lfd));
	else
		fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	return lfd;
}

static int
self_test(void)
{
	char dir[] = "/tmp/echo-poll.XXXXXX", path[64];
	pid_t pid[NCLIENTS];
	unsigned i, n;
	int lfd, rc, st, bad = 0;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/sock", dir);
	if ((lfd = listen_on(path)) < 0) {
		rmdir(dir);
		return 1;
	}
	fflush(stdout);
	for (n = 0; n < NCLIENTS && (pid[n] = fork()) != -1; n++) {
		if (pid[n] == 0) {
			close(lfd);
			exit(client(path, n));
		}
	}
	if ((rc = serve(lfd, n, 10000)) < 0)
		fprintf(stderr, "echo-poll: serve: %s\n", fdmsg_strerror(rc));
	for (i = 0; i < n; i++)
		if (waitpid(pid[i], &st, 0) == -1 || st != 0)
			bad = 1;
	close(lfd);
	unlink(path);
	rmdir(dir);
	if (rc < 0 || bad || n < NCLIENTS)
		return 1;
	printf("echo-poll ok\n");
	return 0;
}

int
main(int argc, char *argv[])
{
	int lfd, rc;

	if (argc == 1 || (argc == 2 && strcmp(argv[1], "--self-test") == 0))
		return self_test();
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: echo-poll [--self-test | PATH]\n");
		return 2;
	}
	if ((lfd = listen_on(argv[1])) < 0)
		return 1;
	rc = serve(lfd, 0, -1);
	fprintf(stderr, "echo-poll: %s\n", fdmsg_strerror(rc));
	close(lfd);
	return 1;
}
