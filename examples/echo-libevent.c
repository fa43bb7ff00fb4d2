/* SPDX-License-Identifier: ISC */
/*
 * echo-libevent: the echo server of echo-poll.c on libevent.  One event
 * per client on fdmsg_chan_fd(); EV_WRITE is in it only while
 * fdmsg_want_write() says the send queue holds something.
 *
 *   echo-libevent PATH           serve on PATH until SIGINT or SIGTERM
 *   echo-libevent [--self-test]  serve on a temporary path to NCLIENTS
 *                                forked clients that each send NFRAMES
 *                                frames with a pipe attached and check
 *                                the echoes
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include <fdmsg.h>

#define MAX_CLIENTS 64
#define MAX_FDS 4	/* descriptors per read: both ends must agree */
#define NCLIENTS 8
#define NFRAMES 5

struct server;

struct client {
	struct server *srv;
	struct fdmsg_chan *chan;	/* NULL: the slot is free */
	struct event *ev;
	short events;			/* what ev waits for now */
	int ending;			/* peer done: flush, then close */
};

struct server {
	struct event_base *base;
	struct fdmsg_opts opts;
	struct client cl[MAX_CLIENTS];
	unsigned nexpect, done;		/* stop after nexpect (0: never) */
	int err;
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

static void
client_close(struct client *c, int rc)
{
	struct server *s = c->srv;

	if (rc < 0 && rc != -EPIPE && rc != -ECONNRESET)
		fprintf(stderr, "echo-libevent: client %td: %s\n",
		    c - s->cl, fdmsg_strerror(rc));
	event_free(c->ev);		/* deletes it first */
	fdmsg_chan_free(c->chan);	/* the socket and every descriptor */
	c->chan = NULL;
	if (++s->done == s->nexpect)
		event_base_loopbreak(s->base);
}

static void client_cb(evutil_socket_t, short, void *);

/* Waits for output only while the queue holds something. */
static int
client_watch(struct client *c)
{
	short want = c->ending ? 0 : EV_READ;

	if (fdmsg_want_write(c->chan))
		want |= EV_WRITE;
	if (want == c->events)
		return 0;
	c->events = want;
	/* An event's flags are fixed once added: delete, reassign, add. */
	event_del(c->ev);
	if (event_assign(c->ev, c->srv->base, fdmsg_chan_fd(c->chan),
	    want | EV_PERSIST, client_cb, c) < 0 || event_add(c->ev, NULL) < 0)
		return -ENOMEM;
	return 0;
}

static void
client_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	int rc;

	(void)fd;
	(void)what;
	if ((rc = client_io(c)) < 0 || (rc = client_watch(c)) < 0)
		client_close(c, rc);
}

static void
accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct server *s = arg;
	struct client *c;
	uid_t me = geteuid();
	unsigned i;
	int fd;

	(void)what;
	/* The listener is non-blocking: accept until -EAGAIN.  Only our own
	 * user may connect. */
	while ((fd = fdmsg_accept(lfd, &me, 1)) != -EAGAIN) {
		if (fd == -EPERM)
			continue;
		if (fd < 0)	/* a real server sheds on -EMFILE */
			return;
		for (i = 0; i < MAX_CLIENTS && s->cl[i].chan; i++)
			;
		if (i == MAX_CLIENTS) {
			close(fd);
			continue;
		}
		c = &s->cl[i];
		/* The channel owns fd from here, even on failure. */
		if (fdmsg_chan_new(&c->chan, fd, &s->opts,
		    FDMSG_CHAN_OWN_FD) < 0)
			continue;
		c->ending = 0;
		c->events = EV_READ;
		c->ev = event_new(s->base, fd, EV_READ | EV_PERSIST,
		    client_cb, c);
		if (c->ev == NULL || event_add(c->ev, NULL) < 0) {
			if (c->ev)
				event_free(c->ev);
			fdmsg_chan_free(c->chan);
			c->chan = NULL;
		}
	}
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	s->err = what & EV_TIMEOUT ? -ETIMEDOUT : -EINTR;
	event_base_loopbreak(s->base);
}

/* Serves until nexpect clients are done (0: until a signal). */
static int
serve(int lfd, unsigned nexpect)
{
	struct timeval limit = { 10, 0 };
	struct event *ev[3] = { NULL, NULL, NULL };
	struct server s;
	unsigned i;

	memset(&s, 0, sizeof(s));
	fdmsg_opts_init(&s.opts);
	s.opts.max_fds = MAX_FDS; /* descriptors are refused unless asked for */
	s.nexpect = nexpect;
	for (i = 0; i < MAX_CLIENTS; i++)
		s.cl[i].srv = &s;
	if ((s.base = event_base_new()) == NULL)
		return -ENOMEM;
	ev[0] = event_new(s.base, lfd, EV_READ | EV_PERSIST, accept_cb, &s);
	if (nexpect) {	/* the self-test gives up after 10 s */
		ev[1] = evtimer_new(s.base, stop_cb, &s);
	} else {
		ev[1] = evsignal_new(s.base, SIGINT, stop_cb, &s);
		ev[2] = evsignal_new(s.base, SIGTERM, stop_cb, &s);
	}
	if (ev[0] == NULL || ev[1] == NULL || (!nexpect && ev[2] == NULL) ||
	    event_add(ev[0], NULL) < 0 ||
	    event_add(ev[1], nexpect ? &limit : NULL) < 0 ||
	    (ev[2] && event_add(ev[2], NULL) < 0))
		s.err = -ENOMEM;
	else if (event_base_dispatch(s.base) < 0)
		s.err = -EIO;
	for (i = 0; i < MAX_CLIENTS; i++)
		if (s.cl[i].chan)
			client_close(&s.cl[i], 0);
	for (i = 0; i < 3; i++)
		if (ev[i])
			event_free(ev[i]);
	event_base_free(s.base);
	return s.err;
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
		fprintf(stderr, "echo-libevent: %s: %s\n", path,
		    fdmsg_strerror(lfd));
	else
		fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	return lfd;
}

static int
self_test(void)
{
	char dir[] = "/tmp/echo-libevent.XXXXXX", path[64];
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
	/* Fork before the event base exists: the children have none. */
	fflush(stdout);
	for (n = 0; n < NCLIENTS && (pid[n] = fork()) != -1; n++) {
		if (pid[n] == 0) {
			close(lfd);
			exit(client(path, n));
		}
	}
	if ((rc = serve(lfd, n)) < 0)
		fprintf(stderr, "echo-libevent: serve: %s\n",
		    fdmsg_strerror(rc));
	for (i = 0; i < n; i++)
		if (waitpid(pid[i], &st, 0) == -1 || st != 0)
			bad = 1;
	close(lfd);
	unlink(path);
	rmdir(dir);
	if (rc < 0 || bad || n < NCLIENTS)
		return 1;
	printf("echo-libevent ok\n");
	return 0;
}

int
main(int argc, char *argv[])
{
	int lfd, rc;

	if (argc == 1 || (argc == 2 && strcmp(argv[1], "--self-test") == 0))
		return self_test();
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: echo-libevent [--self-test | PATH]\n");
		return 2;
	}
	if ((lfd = listen_on(argv[1])) < 0)
		return 1;
	rc = serve(lfd, 0);
	close(lfd);
	if (rc == -EINTR) {	/* SIGINT or SIGTERM: a clean stop */
		if (argv[1][0] != '@')	/* "@name": Linux abstract */
			unlink(argv[1]);
		return 0;
	}
	fprintf(stderr, "echo-libevent: %s\n", fdmsg_strerror(rc));
	return 1;
}
