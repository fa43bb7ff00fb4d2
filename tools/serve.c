/* SPDX-License-Identifier: ISC */
/*
 * fdmsg serve: one process, one event loop (epoll on Linux, poll
 * elsewhere), one channel per client.  A client that breaks the protocol
 * is reported and dropped; nothing a client does stops the server.
 *
 * Memory is bounded by max_clients * (max_frame + max_queue): each
 * channel holds one receive buffer and a capped send queue.  Descriptors
 * likewise (per_client_fds): a client that sends descriptors and never
 * reads is cut off once its queue holds --max-queue-fds duplicates.  At
 * startup that bound times --max-clients, plus a reserve, must fit
 * RLIMIT_NOFILE: the soft limit is raised as far as the hard one allows,
 * and a configuration that still does not fit is refused.  So no set of
 * clients can fill the table and starve another client's descriptors.
 *
 * The frame deadline.  After every read pass that ends in -EAGAIN,
 * fdmsg_recv_pending says whether the channel holds a frame the client
 * began and has not finished (bytes, or descriptors that came with
 * them).  While it does, the client's clock runs from when that frame
 * began: a pass that completed frames and left a new one begun restarts
 * it, a pass that completed none leaves it running.  When nothing is
 * held the clock stops.  A clock older than --frame-timeout cuts the
 * client off and closes what it held.  So a whole frame followed, in the
 * same write, by the header of the next one and its descriptors is timed
 * like any other partial frame.  The same rule serves every socket type
 * (a datagram is whole frames or an error, so it rarely leaves anything).
 *
 * Slots.  A client from which nothing is read and to which nothing is
 * written for --idle-timeout is cut off: a silent one, and one that
 * leaves its replies and their descriptors in our queue.  Connections
 * from one SO_PEERCRED uid beyond --max-per-uid (half the slots by
 * default) are closed at accept, so one local user cannot hold every
 * slot with connections that say nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* FDMSG_TOOL_POLL forces the portable loop on Linux, for testing it. */
#if defined(__linux__) && !defined(FDMSG_TOOL_POLL)
#include <sys/epoll.h>
#include <sys/signalfd.h>
#define USE_EPOLL 1
#else
#include <poll.h>
#endif

#include "fdmsg.h"
#include "tool.h"
#include "util.h"

#define DEFAULT_MAX_CLIENTS 256u
#define DEFAULT_MAX_QUEUE_FDS 64u /* per client: duplicates it may hold */
#define MAX_MAX_CLIENTS 65536u
#define DEFAULT_FRAME_TIMEOUT 5000u   /* ms */
#define DEFAULT_IDLE_TIMEOUT 60000u   /* ms */
#define MAX_FRAME_TIMEOUT 86400000u   /* ms: a day */
#define READ_BUDGET 64    /* frames per client per turn: fairness */
#define ACCEPT_BUDGET 64  /* connections per turn */
#define PAUSE_MS 100      /* listener rest when accept cannot shed */
#define MAX_EVENTS 64
#define MAX_ALLOW_UIDS 64u
#define MAX_REFUSED 64    /* queued replies refused in a row: drop client */
/* The server's own descriptors: stdio, listener, event loop, signal
 * source (a pipe off Linux), the shed reserve, a connection accepted
 * only to be closed, and slack for the C library. */
#define RESERVE_FDS 16u

/* Loop keys: the listener, the signal source, then one per client slot. */
#define KEY_LISTEN 0u
#define KEY_SIGNAL 1u
#define KEY_CLIENT0 2u

#define EV_IN 0x1u
#define EV_OUT 0x2u
#define EV_HUP 0x4u /* hangup or error: let the receive or flush say which */

struct client {
	struct fdmsg_chan *chan; /* NULL: the slot is free */
	unsigned long id;
	int fd;
	unsigned events;         /* EV_IN | EV_OUT being watched */
	int draining;            /* peer ended: send what is queued, close */
	int more;                /* read budget ran out: revisit at once */
	unsigned refused;        /* queued replies refused in a row */
	int64_t partial_since;   /* ms; 0: no partial frame held */
	int64_t active_at;       /* ms: last byte read from it or written
				    to it */
	long pid;                /* SO_PEERCRED at accept, for the log */
	uid_t uid;               /* ((uid_t)-1: unknown) */
};

struct loop {
#ifdef USE_EPOLL
	int epfd;
	struct epoll_event evs[MAX_EVENTS];
#else
	struct pollfd *pfd; /* per key: what to watch; fd -1 when unused */
	struct pollfd *act; /* the used ones, packed: poll refuses nfds
			       beyond RLIMIT_NOFILE (EINVAL) */
	size_t *map;        /* act[i] belongs to key map[i] */
	size_t n;
#endif
};

struct server {
	const char *path;
	int echo, stream;
	unsigned frame_timeout; /* ms; 0: none */
	unsigned idle_timeout;  /* ms; 0: none */
	unsigned max_per_uid;   /* connections from one uid */
	struct refusals refusals; /* at accept: --allow-uid, per uid */
	struct fdmsg_opts copts;
	unsigned max_clients, nclients;
	struct client *clients;
	unsigned long next_id;
	int lfd, sigfd, reserve;
	struct sockfile file;  /* the socket file we created at path */
	mode_t mode;           /* the socket file's; 0: the library's 0600 */
	const uid_t *allow;    /* --allow-uid: the uids served; */
	size_t nallow;         /* 0: any */
	int activated;         /* lfd came from the service manager */
	int ready_fd;          /* --ready-fd; -1: none */
	const char *notify;    /* $NOTIFY_SOCKET, or NULL */
	int64_t paused_until; /* listener resting until then; 0: not */
	struct loop loop;
};

/* ------------------------------------------------------------------ */
/* The event loop: epoll, or poll over one slot per key                */
/* ------------------------------------------------------------------ */

#ifdef USE_EPOLL
static int
loop_init(struct loop *l, size_t nkeys)
{
	(void)nkeys;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? -errno : 0;
}

static void
loop_fini(struct loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
}

static int
loop_ctl(struct loop *l, int op, size_t key, int fd, unsigned ev)
{
	struct epoll_event e;

	memset(&e, 0, sizeof(e));
	e.events = (ev & EV_IN ? EPOLLIN : 0u) | (ev & EV_OUT ? EPOLLOUT : 0u);
	e.data.u64 = key;
	return epoll_ctl(l->epfd, op, fd, &e) < 0 ? -errno : 0;
}

static int
loop_add(struct loop *l, size_t key, int fd, unsigned ev)
{
	return loop_ctl(l, EPOLL_CTL_ADD, key, fd, ev);
}

static int
loop_mod(struct loop *l, size_t key, int fd, unsigned ev)
{
	return loop_ctl(l, EPOLL_CTL_MOD, key, fd, ev);
}

static void
loop_del(struct loop *l, size_t key, int fd)
{
	(void)key;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* Ready keys into keys[]/evs[] (at most MAX_EVENTS): count or -errno. */
static int
loop_wait(struct loop *l, int timeout, size_t *keys, unsigned *evs)
{
	int n, i;

	n = epoll_wait(l->epfd, l->evs, MAX_EVENTS, timeout);
	if (n < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		uint32_t e = l->evs[i].events;

		keys[i] = (size_t)l->evs[i].data.u64;
		evs[i] = (e & EPOLLIN ? EV_IN : 0u) |
			 (e & EPOLLOUT ? EV_OUT : 0u) |
			 (e & (EPOLLHUP | EPOLLERR) ? EV_HUP : 0u);
	}
	return n;
}
#else
static int
loop_init(struct loop *l, size_t nkeys)
{
	size_t i;

	l->pfd = calloc(nkeys, sizeof(*l->pfd));
	l->act = calloc(nkeys, sizeof(*l->act));
	l->map = calloc(nkeys, sizeof(*l->map));
	if (l->pfd == NULL || l->act == NULL || l->map == NULL)
		return -ENOMEM;
	l->n = nkeys;
	for (i = 0; i < nkeys; i++)
		l->pfd[i].fd = -1;
	return 0;
}

static void
loop_fini(struct loop *l)
{
	free(l->pfd);
	free(l->act);
	free(l->map);
}

static int
loop_mod(struct loop *l, size_t key, int fd, unsigned ev)
{
	l->pfd[key].fd = fd;
	l->pfd[key].events = (short)((ev & EV_IN ? POLLIN : 0) |
				     (ev & EV_OUT ? POLLOUT : 0));
	return 0;
}

static int
loop_add(struct loop *l, size_t key, int fd, unsigned ev)
{
	return loop_mod(l, key, fd, ev);
}

static void
loop_del(struct loop *l, size_t key, int fd)
{
	(void)fd;
	l->pfd[key].fd = -1;
}

static int
loop_wait(struct loop *l, int timeout, size_t *keys, unsigned *evs)
{
	size_t i, m = 0;
	int n, k = 0;

	for (i = 0; i < l->n; i++) {
		if (l->pfd[i].fd < 0)
			continue;
		l->act[m] = l->pfd[i];
		l->act[m].revents = 0;
		l->map[m++] = i;
	}
	n = poll(l->act, (nfds_t)m, timeout);
	if (n < 0)
		return -errno;
	for (i = 0; i < m && k < MAX_EVENTS; i++) {
		short e = l->act[i].revents;

		if (e == 0)
			continue;
		keys[k] = l->map[i];
		evs[k++] = (e & POLLIN ? EV_IN : 0u) |
			   (e & POLLOUT ? EV_OUT : 0u) |
			   (e & (POLLHUP | POLLERR | POLLNVAL) ? EV_HUP : 0u);
	}
	return k;
}
#endif

/* ------------------------------------------------------------------ */
/* Signals: signalfd on Linux, a self-pipe elsewhere                   */
/* ------------------------------------------------------------------ */

#ifdef USE_EPOLL
static int
signals_open(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void
signals_close(int fd)
{
	if (fd >= 0)
		close(fd);
}
#else
static int
signals_open(void)
{
	return sigpipe_open();
}

static void
signals_close(int fd)
{
	sigpipe_close(fd);
}
#endif

/* ------------------------------------------------------------------ */
/* Clients                                                             */
/* ------------------------------------------------------------------ */

static size_t
key_of(const struct server *s, const struct client *c)
{
	return KEY_CLIENT0 + (size_t)(c - s->clients);
}

/* The library names a limit by its struct fdmsg_opts field ("max_fds is
 * 4"); the operator knows it by serve's option. */
static const struct {
	const char *lib, *opt;
} limit_names[] = {
	{ "max_fds is ", "--max-fds is " },
	{ "max_frame is ", "--max-frame is " },
};

/*
 * Which rule the client broke, with the value and the limit, in out
 * (len > 0): its channel's last rejection when that is what err reports,
 * else fdmsg_strerror's text.  Descriptors refused by a server that takes
 * none get a hint.
 */
static void
client_why(const struct client *c, int err, char *out, size_t len)
{
	struct fdmsg_error_info in;
	char raw[192];
	size_t o = 0, i, k, n;

	if (c->chan == NULL || fdmsg_chan_error(c->chan, &in) != err ||
	    err == 0) {
		snprintf(out, len, "%s", err_text(err));
		return;
	}
	fdmsg_error_format(&in, raw, sizeof(raw));
	for (i = 0; raw[i] != '\0' && o + 1 < len; i++) {
		for (k = 0; k < sizeof(limit_names) / sizeof(limit_names[0]);
		     k++) {
			n = strlen(limit_names[k].lib);
			if (strncmp(raw + i, limit_names[k].lib, n) == 0)
				break;
		}
		if (k < sizeof(limit_names) / sizeof(limit_names[0])) {
			o += (size_t)snprintf(out + o, len - o, "%s",
					      limit_names[k].opt);
			i += n - 1;
		} else {
			out[o++] = raw[i];
		}
	}
	if (o >= len)
		o = len - 1;
	out[o] = '\0';
	if (in.limit == 0 &&
	    (in.rule == FDMSG_RULE_NFDS || in.rule == FDMSG_RULE_FDS_REFUSED ||
	     in.rule == FDMSG_RULE_CTRUNC))
		snprintf(out + o, len - o, " (serve accepts no descriptors "
			 "without --max-fds N)");
}

/* "fdmsg serve: client ID: ERRNAME: text[: why] (pid P, uid U)"; text
 * names the rule a protocol error broke, with its value and limit. */
static void
client_log(const struct client *c, int err, const char *why)
{
	char text[256];

	client_why(c, err, text, sizeof(text));
	fprintf(stderr, "fdmsg serve: client %lu: %s: %s%s%s (pid %ld, uid "
		"%ld)\n", c->id, err_name(err), text,
		why != NULL ? ": " : "", why != NULL ? why : "", c->pid,
		c->uid == (uid_t)-1 ? -1L : (long)c->uid);
}

static void
client_close(struct server *s, struct client *c)
{
	loop_del(&s->loop, key_of(s, c), c->fd);
	fdmsg_chan_free(c->chan); /* closes the socket and every queued fd */
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	s->nclients--;
}

/* Watch for output only while something is queued. */
static void
client_watch(struct server *s, struct client *c)
{
	unsigned want;
	int r;

	if (c->draining)
		want = EV_OUT;
	else
		want = EV_IN | (fdmsg_want_write(c->chan) ? EV_OUT : 0u);
	if (want == c->events)
		return;
	r = loop_mod(&s->loop, key_of(s, c), c->fd, want);
	if (r < 0) {
		client_log(c, r, "event loop");
		client_close(s, c);
		return;
	}
	c->events = want;
}

/* The peer's end: answer what it sent, then close. */
static void
client_ended(struct server *s, struct client *c)
{
	if (!fdmsg_want_write(c->chan)) {
		client_close(s, c);
		return;
	}
	c->draining = 1;
	c->partial_since = 0;
	c->active_at = now_ms();
	c->more = 0;
	client_watch(s, c);
}

/* The frame back to its sender, as it came.  -1: the client is gone. */
static int
echo(struct server *s, struct client *c, const struct fdmsg_msg *m)
{
	struct iovec iov;
	int r;

	iov.iov_base = (void *)(uintptr_t)m->payload;
	iov.iov_len = m->len;
	/* The message's descriptors are borrowed: the library sends them or
	 * duplicates them into its queue; the next receive closes ours. */
	r = fdmsg_send(c->chan, m->type, m->peerid, &iov, 1, m->fds, m->nfds,
		       0);
	switch (r) {
	case 0:
		return 0;
	case -ETOOMANYREFS: /* in flight on the client's behalf: RLIMIT */
	case -EPERM:        /* the client refuses descriptors */
	case -EMSGSIZE:     /* larger than the client's socket buffer */
	case -EMFILE:       /* no descriptor left to queue a duplicate */
	case -ENFILE:
		client_log(c, r, "reply dropped");
		return 0;
	case -EPIPE:
	case -ECONNRESET:
		client_close(s, c);
		return -1;
	default: /* -ENOBUFS: it will not read its replies */
		client_log(c, r, NULL);
		client_close(s, c);
		return -1;
	}
}

/*
 * After a read pass that ended in -EAGAIN: anything the channel holds is
 * a frame the client began and has not finished.  completed: the pass
 * handed out frames, so what is held now began in this pass.
 */
static void
frame_clock(struct server *s, struct client *c, int completed)
{
	if (s->frame_timeout == 0 ||
	    fdmsg_recv_pending(c->chan, NULL, NULL) != 1) {
		c->partial_since = 0;
		return;
	}
	if (c->partial_since == 0 || completed)
		c->partial_since = now_ms();
}

static void
client_read(struct server *s, struct client *c)
{
	struct fdmsg_msg msg = { 0 };
	size_t bytes0, bytes1;
	unsigned nfds0, nfds1;
	int r, frames = 0;

	c->more = 0;
	fdmsg_recv_pending(c->chan, &bytes0, &nfds0);
	for (;;) {
		if (frames == READ_BUDGET) {
			c->more = 1;
			break;
		}
		r = fdmsg_recv(c->chan, &msg);
		if (r == -EAGAIN)
			break;
		if (r == -EPIPE) {
			client_ended(s, c);
			return;
		}
		if (r < 0) {
			client_log(c, r, NULL);
			client_close(s, c);
			return;
		}
		frames++;
		if (s->echo && echo(s, c, &msg) < 0)
			return;
	}
	/* Close the last frame's descriptors now, not at the next read. */
	fdmsg_msg_release(&msg);
	/* Bytes only pile up until a frame completes: any change is news. */
	fdmsg_recv_pending(c->chan, &bytes1, &nfds1);
	if (frames > 0 || bytes1 != bytes0 || nfds1 != nfds0)
		c->active_at = now_ms();
	if (c->more)
		c->partial_since = 0; /* every earlier frame completed; the
					 revisit's -EAGAIN tells the rest */
	else
		frame_clock(s, c, frames > 0);
	client_watch(s, c);
}

static void
client_write(struct server *s, struct client *c)
{
	int r = fdmsg_flush(c->chan);

	/* Called when the socket took data again: the client reads. */
	c->active_at = now_ms();

	if (r == -EAGAIN) {
		c->refused = 0;
		return;
	}
	if (r == 0) {
		c->refused = 0;
		if (c->draining)
			client_close(s, c);
		else
			client_watch(s, c);
		return;
	}
	/* A queued reply the kernel refuses: the library drops it and says
	 * so; the rest of the queue goes on.  Should the same error come
	 * back without end, the client goes, never the server. */
	if ((r == -ETOOMANYREFS || r == -EPERM || r == -EMSGSIZE) &&
	    ++c->refused < MAX_REFUSED) {
		client_log(c, r, "reply dropped");
		if (!fdmsg_want_write(c->chan) && c->draining)
			client_close(s, c);
		else
			client_watch(s, c);
		return;
	}
	if (r != -EPIPE && r != -ECONNRESET)
		client_log(c, r, NULL);
	client_close(s, c);
}

static void
client_event(struct server *s, struct client *c, unsigned ev)
{
	if (c->chan == NULL)
		return;
	if ((ev & EV_OUT) || (c->draining && (ev & EV_HUP))) {
		client_write(s, c);
		if (c->chan == NULL)
			return;
	}
	if (!c->draining && (ev & (EV_IN | EV_HUP)))
		client_read(s, c);
}

static void
client_add(struct server *s, int fd, const struct fdmsg_cred *cr)
{
	struct client *c = NULL;
	unsigned i;
	int r;

	for (i = 0; i < s->max_clients; i++) {
		if (s->clients[i].chan == NULL) {
			c = &s->clients[i];
			break;
		}
	}
	if (c == NULL) { /* cannot happen: nclients < max_clients */
		CANNOT_HAPPEN();
		close(fd);
		return;
	}
	c->id = ++s->next_id;
	c->pid = (long)cr->pid;
	c->uid = cr->uid;
	c->active_at = now_ms();
	/* FDMSG_CHAN_OWN_FD: the channel owns fd even if this fails. */
	r = fdmsg_chan_new(&c->chan, fd, &s->copts, FDMSG_CHAN_OWN_FD);
	if (r < 0) {
		client_log(c, r, NULL);
		c->chan = NULL;
		return;
	}
	c->fd = fd;
	r = loop_add(&s->loop, key_of(s, c), fd, EV_IN);
	if (r < 0) {
		client_log(c, r, "event loop");
		fdmsg_chan_free(c->chan);
		memset(c, 0, sizeof(*c));
		c->fd = -1;
		return;
	}
	c->events = EV_IN;
	s->nclients++;
}

/* ------------------------------------------------------------------ */
/* The listener                                                        */
/* ------------------------------------------------------------------ */

static void
listener_pause(struct server *s)
{
	if (s->paused_until == 0)
		loop_mod(&s->loop, KEY_LISTEN, s->lfd, 0);
	s->paused_until = now_ms() + PAUSE_MS;
}

/* Out of descriptors: 0, shed; -1: stop accepting, resting when even
 * that could not be done. */
static int
shed(struct server *s, int err)
{
	int r = accept_shed("serve", s->lfd, &s->reserve, err);

	if (r < 0 && r != -EAGAIN)
		listener_pause(s);
	return r < 0 ? -1 : 0;
}

/* Connections of uid being served. */
static unsigned
uid_count(const struct server *s, uid_t uid)
{
	unsigned i, n = 0;

	for (i = 0; i < s->max_clients; i++)
		if (s->clients[i].chan != NULL && s->clients[i].uid == uid)
			n++;
	return n;
}

/* A uid for the log: -1 when unknown. */
static long
uid_long(uid_t uid)
{
	return uid == (uid_t)-1 ? -1L : (long)uid;
}

/* --allow-uid lists uid, or there is no list. */
static int
uid_allowed(const struct server *s, uid_t uid)
{
	size_t i;

	for (i = 0; i < s->nallow; i++)
		if (s->allow[i] == uid)
			return 1;
	return s->nallow == 0;
}

static void
accept_clients(struct server *s)
{
	struct fdmsg_cred cr;
	int i, fd;

	for (i = 0; i < ACCEPT_BUDGET && s->paused_until == 0; i++) {
		fd = fdmsg_accept(s->lfd, NULL, 0);
		if (fd == -EAGAIN || fd == -EWOULDBLOCK)
			return;
		if (fd == -EMFILE || fd == -ENFILE) {
			if (shed(s, fd) < 0)
				return;
			continue;
		}
		if (fd == -ECONNABORTED || fd == -EINTR || fd == -EPROTO ||
		    fd == -EPERM)
			continue;
		if (fd < 0) { /* -ENOBUFS, -ENOMEM: rest, then retry */
			fprintf(stderr, "fdmsg serve: accept: %s: %s\n",
				err_name(fd), err_text(fd));
			listener_pause(s);
			return;
		}
		if (s->nclients >= s->max_clients) {
			close(fd);
			continue;
		}
		/* Where the kernel cannot say, all unknown peers share one
		 * count: never a way around the cap. */
		if (fdmsg_peer_cred(fd, 0, &cr) < 0) {
			cr.pid = 0;
			cr.uid = (uid_t)-1;
		}
		/* An unknown uid is in no list. */
		if (!uid_allowed(s, cr.uid)) {
			refuse_log(&s->refusals, "fdmsg serve: refused pid "
				   "%ld, uid %ld: not in --allow-uid",
				   (long)cr.pid, uid_long(cr.uid));
			close(fd);
			continue;
		}
		if (uid_count(s, cr.uid) >= s->max_per_uid) {
			refuse_log(&s->refusals, "fdmsg serve: refused pid "
				   "%ld, uid %ld: uid has --max-per-uid %u "
				   "connections", (long)cr.pid,
				   uid_long(cr.uid), s->max_per_uid);
			close(fd);
			continue;
		}
		client_add(s, fd, &cr);
	}
}

/* ------------------------------------------------------------------ */
/* The loop                                                            */
/* ------------------------------------------------------------------ */

/* ms until the next deadline (client frame and idle clocks, listener
 * rest). */
static int
next_timeout(const struct server *s, int64_t now)
{
	int64_t best = 0, d;
	int have = 0;
	unsigned i;

	for (i = 0; i < s->max_clients; i++) {
		const struct client *c = &s->clients[i];

		if (c->chan == NULL)
			continue;
		if (c->more)
			return 0;
		if (s->idle_timeout != 0) {
			d = c->active_at + s->idle_timeout - now;
			if (!have || d < best)
				best = d;
			have = 1;
		}
		if (c->partial_since == 0)
			continue;
		d = c->partial_since + s->frame_timeout - now;
		if (!have || d < best)
			best = d;
		have = 1;
	}
	if (s->paused_until != 0) {
		d = s->paused_until - now;
		if (!have || d < best)
			best = d;
		have = 1;
	}
	if (!have)
		return -1;
	if (best < 0) /* already due */
		return 0;
	return best > INT_MAX ? INT_MAX : (int)best;
}

static void
housekeeping(struct server *s)
{
	int64_t now = now_ms();
	unsigned i;

	for (i = 0; i < s->max_clients; i++) {
		struct client *c = &s->clients[i];

		if (c->chan == NULL)
			continue;
		if (c->more) {
			client_read(s, c);
			if (c->chan == NULL)
				continue;
		}
		if (c->partial_since != 0 &&
		    now - c->partial_since >= (int64_t)s->frame_timeout) {
			client_log(c, -ETIMEDOUT, "partial frame held past "
				   "--frame-timeout");
			client_close(s, c);
			continue;
		}
		/* Nothing read from it, nothing it read: a silent client, or
		 * one that leaves its replies (and their descriptors) in
		 * our queue. */
		if (s->idle_timeout != 0 &&
		    now - c->active_at >= (int64_t)s->idle_timeout) {
			client_log(c, -ETIMEDOUT, "idle past --idle-timeout");
			client_close(s, c);
		}
	}
	if (s->paused_until != 0 && now >= s->paused_until) {
		s->paused_until = 0;
		loop_mod(&s->loop, KEY_LISTEN, s->lfd, EV_IN);
	}
}

static void
drain_signals(int fd)
{
	char buf[256];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* Runs until SIGINT/SIGTERM: 0, or 1 when the loop itself fails. */
static int
run(struct server *s)
{
	size_t keys[MAX_EVENTS];
	unsigned evs[MAX_EVENTS];
	int n, i, timeout, listen_ready, stop = 0;
	int64_t now;

	while (!stop) {
		now = now_ms();
		timeout = next_timeout(s, now);
		n = loop_wait(&s->loop, timeout, keys, evs);
		if (n == -EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "fdmsg serve: event loop: %s: %s\n",
				err_name(n), err_text(n));
			return EXIT_PROTO;
		}
		listen_ready = 0;
		for (i = 0; i < n; i++) {
			if (keys[i] == KEY_SIGNAL) {
				drain_signals(s->sigfd);
				stop = 1;
			} else if (keys[i] == KEY_LISTEN) {
				listen_ready = 1;
			} else if (keys[i] - KEY_CLIENT0 < s->max_clients) {
				client_event(s,
					     &s->clients[keys[i] - KEY_CLIENT0],
					     evs[i]);
			}
		}
		if (stop)
			break;
		housekeeping(s);
		/* After the clients' events: a slot freed above and reused
		 * here can never receive a stale event of its old client. */
		if (listen_ready && s->paused_until == 0)
			accept_clients(s);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The descriptor budget                                               */
/* ------------------------------------------------------------------ */

/* The most descriptors one client can make the server hold at once. */
static unsigned long long
per_client_fds(const struct server *s)
{
	unsigned long long m = s->copts.max_fds, n = 1; /* its socket */

	/* Received, not yet closed: a stream keeps up to two read batches
	 * of max_fds besides the current message's; a datagram one read's
	 * besides the current message's. */
	n += (s->stream ? 3 : 2) * m;
	/* A read's pidfd, the partial frame's and the message's. */
	if (s->copts.flags & FDMSG_OPT_PIDFD)
		n += 3;
	/* The send queue's duplicates: only echoes carry descriptors. */
	if (s->echo && m > 0)
		n += s->copts.max_queue_fds;
	return n;
}

/* Descriptors open now: inherited ones count against the limit too. */
static unsigned long long
fds_open(rlim_t soft)
{
	unsigned long long n = 0;
	int fd, top;
#ifdef __linux__
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");

	if (d != NULL) {
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				n++;
		closedir(d);
		return n > 0 ? n - 1 : 0; /* the directory's own */
	}
#endif
	top = soft == RLIM_INFINITY || soft > 65536 ? 65536 : (int)soft;
	for (fd = 0; fd < top; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/*
 * --max-clients clients at their worst plus the reserve must fit
 * RLIMIT_NOFILE: raise the soft limit up to the hard one if needed, or
 * refuse.  0, or -1 after a message.
 */
static int
fit_nofile(const struct server *s)
{
	unsigned long long per = per_client_fds(s), open_now, reserve, need;
	struct rlimit rl;
	int r;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		r = -errno;
		fprintf(stderr, "fdmsg serve: RLIMIT_NOFILE: %s: %s\n",
			err_name(r), err_text(r));
		return -1;
	}
	open_now = fds_open(rl.rlim_cur);
	reserve = RESERVE_FDS + (open_now > 3 ? open_now - 3 : 0);
	need = s->max_clients * per + reserve;
	if (rl.rlim_cur == RLIM_INFINITY || need <= rl.rlim_cur)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && need > rl.rlim_max) {
		fprintf(stderr, "fdmsg serve: --max-clients %u x %llu "
			"descriptors per client + %llu = %llu > RLIMIT_NOFILE "
			"hard limit %llu; lower --max-clients, --max-fds or "
			"--max-queue-fds\n", s->max_clients, per, reserve, need,
			(unsigned long long)rl.rlim_max);
		return -1;
	}
	rl.rlim_cur = (rlim_t)need;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		r = -errno;
		fprintf(stderr, "fdmsg serve: RLIMIT_NOFILE: cannot raise the "
			"soft limit to %llu: %s: %s\n", need, err_name(r),
			err_text(r));
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The service manager: socket activation, readiness                   */
/* ------------------------------------------------------------------ */

#define LISTEN_FDS_START 3  /* sd_listen_fds(3): passed from here on */
#define LISTEN_FDS_MAX 1024 /* more is a mistake, not a service */

/* A decimal of digits only (no sign, no space) in [0, max]: 0 or -1. */
static int
env_num(const char *v, unsigned long max, unsigned long *out)
{
	unsigned long n = 0;

	if (v == NULL || *v == '\0')
		return -1;
	for (; *v != '\0'; v++) {
		if (*v < '0' || *v > '9' ||
		    n > (max - (unsigned)(*v - '0')) / 10)
			return -1;
		n = n * 10 + (unsigned)(*v - '0');
	}
	*out = n;
	return 0;
}

/* The variable's value, copied (unsetenv may free it), or NULL. */
static const char *
env_take(const char *name, char *buf, size_t size, int *toolong)
{
	const char *v = getenv(name);
	size_t n;

	if (v == NULL)
		return NULL;
	n = strlen(v);
	if (n >= size) {
		*toolong = 1;
		n = size - 1;
	}
	memcpy(buf, v, n);
	buf[n] = '\0';
	return buf;
}

/*
 * fd's address as serve's PATH would name it: a path, or "@name" for an
 * abstract one.  0, or -1 when fd is no bound AF_UNIX socket.
 */
static int
sock_addr(int fd, char *buf, size_t size)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	size_t n;

	memset(&sa, 0, sizeof(sa));
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 ||
	    sa.sun_family != AF_UNIX ||
	    len <= offsetof(struct sockaddr_un, sun_path))
		return -1;
	n = len - offsetof(struct sockaddr_un, sun_path);
	if (n > sizeof(sa.sun_path))
		n = sizeof(sa.sun_path);
	if (sa.sun_path[0] == '\0')
		snprintf(buf, size, "@%.*s", (int)(n - 1), sa.sun_path + 1);
	else
		snprintf(buf, size, "%.*s", (int)strnlen(sa.sun_path, n),
			 sa.sun_path);
	return 0;
}

/* Why fd cannot be served (it is no listening AF_UNIX socket of our
 * type), or NULL. */
static const char *
listen_fd_problem(const struct server *s, int fd)
{
	int type = 0, want = s->stream ? SOCK_STREAM : SOCK_SEQPACKET;
	struct sockaddr_storage ss;
	struct stat st;
	socklen_t len;
#ifdef SO_ACCEPTCONN
	int acc = 0;
#endif

	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return "is not a socket";
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    ss.ss_family != AF_UNIX)
		return "is not a Unix domain socket";
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		type = 0;
	if (type != want && type == SOCK_STREAM)
		return "is SOCK_STREAM: add --stream";
	if (type != want && type == SOCK_SEQPACKET)
		return "is SOCK_SEQPACKET: omit --stream";
	if (type != want)
		return "is neither SOCK_SEQPACKET nor SOCK_STREAM";
#ifdef SO_ACCEPTCONN
	len = sizeof(acc);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) < 0 ||
	    acc == 0)
		return "is not listening";
#endif
	return NULL;
}

/*
 * Socket activation, sd_listen_fds(3)'s protocol without libsystemd:
 * LISTEN_PID (this process), LISTEN_FDS (how many, from descriptor 3),
 * LISTEN_FDNAMES (their names, colon-separated).  The variables are
 * unset whatever comes of it, so that nothing started later takes them
 * for its own.  One socket is served: the one bound to PATH when PATH is
 * given, else the only one passed; the others passed are closed.
 * 1 with s->lfd set, 0 when nothing was passed to this process, -1
 * after a line.
 */
static int
listen_fds_take(struct server *s)
{
	char pidb[32], nb[32], namesb[4096], addr[sizeof(struct sockaddr_un)];
	const char *pid_s, *n_s, *names, *nm, *why;
	unsigned long pid, n, i, k;
	int toolong = 0, fd = -1;
	size_t len;

	pid_s = env_take("LISTEN_PID", pidb, sizeof(pidb), &toolong);
	n_s = env_take("LISTEN_FDS", nb, sizeof(nb), &toolong);
	names = env_take("LISTEN_FDNAMES", namesb, sizeof(namesb), &toolong);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n_s == NULL)
		return 0;
	/* Meant for another process (one that exec'd us, say): not ours
	 * to take, nor to close. */
	if (pid_s == NULL) {
		fprintf(stderr, "fdmsg serve: LISTEN_FDS ignored: no "
			"LISTEN_PID\n");
		return 0;
	}
	if (env_num(pid_s, ULONG_MAX, &pid) < 0 ||
	    pid != (unsigned long)getpid()) {
		fprintf(stderr, "fdmsg serve: LISTEN_FDS ignored: LISTEN_PID "
			"%s is not this process (%ld)\n", pid_s,
			(long)getpid());
		return 0;
	}
	if (toolong || env_num(n_s, LISTEN_FDS_MAX, &n) < 0) {
		fprintf(stderr, "fdmsg serve: LISTEN_FDS=%s: not a count of "
			"0 to %u sockets%s\n", n_s, LISTEN_FDS_MAX,
			toolong ? " (or LISTEN_FDNAMES too long)" : "");
		return -1;
	}
	if (n == 0)
		return 0;
	/* Names, when given, are one per descriptor. */
	for (k = 1, nm = names; nm != NULL && *nm != '\0'; nm++)
		k += *nm == ':';
	if (names != NULL && k != n) {
		fprintf(stderr, "fdmsg serve: LISTEN_FDNAMES=%s names %lu "
			"sockets, LISTEN_FDS=%lu\n", names, k, n);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (s->path != NULL) {
			if (sock_addr((int)(LISTEN_FDS_START + i), addr,
				      sizeof(addr)) < 0 ||
			    strcmp(addr, s->path) != 0)
				continue;
		} else if (n > 1) {
			break;
		}
		fd = (int)(LISTEN_FDS_START + i);
		break;
	}
	if (fd < 0) {
		if (s->path != NULL)
			fprintf(stderr, "fdmsg serve: %s: none of the %lu "
				"sockets passed (LISTEN_FDS) is bound to it\n",
				s->path, n);
		else
			fprintf(stderr, "fdmsg serve: LISTEN_FDS=%lu: serve "
				"takes one socket: give the PATH of the one to "
				"serve\n", n);
		return -1;
	}
	/* Its name, for the line that says what is wrong with it. */
	for (nm = names, k = 0; nm != NULL && k < i; k++)
		if ((nm = strchr(nm, ':')) != NULL)
			nm++;
	if ((why = listen_fd_problem(s, fd)) != NULL) {
		len = nm != NULL ? strcspn(nm, ":") : 0;
		if (sock_addr(fd, addr, sizeof(addr)) < 0)
			addr[0] = '\0';
		fprintf(stderr, "fdmsg serve: LISTEN_FDS: descriptor %d%s%.*s%s"
			"%s%s%s %s\n", fd, nm != NULL ? " '" : "",
			len > 255 ? 255 : (int)len, nm != NULL ? nm : "",
			nm != NULL ? "'" : "", addr[0] ? " (" : "", addr,
			addr[0] ? ")" : "", why);
		return -1;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		k = (unsigned long)errno;
		fprintf(stderr, "fdmsg serve: LISTEN_FDS: descriptor %d: %s: "
			"%s\n", fd, err_name(-(int)k), err_text(-(int)k));
		return -1;
	}
	for (i = 0; i < n; i++)
		if ((int)(LISTEN_FDS_START + i) != fd)
			close((int)(LISTEN_FDS_START + i));
	s->lfd = fd;
	return 1;
}

/*
 * One datagram to $NOTIFY_SOCKET, sd_notify(3)'s protocol: a path or
 * an "@" abstract name.  Failures are logged, naming msg's first line
 * (the state), and the server goes on.
 */
static void
notify(const struct server *s, const char *msg)
{
	struct sockaddr_un sa;
	size_t n;
	int fd, r = 0, state = (int)strcspn(msg, "\n");

	if (s->notify == NULL)
		return;
	n = strlen(s->notify);
	if ((s->notify[0] != '/' && s->notify[0] != '@') || n < 2 ||
	    n > sizeof(sa.sun_path)) {
		fprintf(stderr, "fdmsg serve: NOTIFY_SOCKET=%s: not a socket "
			"path or @name; %.*s not sent\n", s->notify, state,
			msg);
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, s->notify, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
#ifdef SOCK_CLOEXEC
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
#else
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
#endif
	if (fd < 0 || sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
			     (const struct sockaddr *)&sa,
			     (socklen_t)(offsetof(struct sockaddr_un,
						  sun_path) + n)) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	if (r < 0)
		fprintf(stderr, "fdmsg serve: NOTIFY_SOCKET=%s: %s: %s; %.*s "
			"not sent\n", s->notify, err_name(r), err_text(r),
			state, msg);
}

/* Listening: say so on --ready-fd (then closed) and $NOTIFY_SOCKET. */
static void
ready(struct server *s)
{
	static const char line[] = "READY=1\n";
	char msg[PATH_MAX + 64], addr[sizeof(struct sockaddr_un)];
	ssize_t n;

	if (s->ready_fd >= 0) {
		do
			n = write(s->ready_fd, line, sizeof(line) - 1);
		while (n < 0 && errno == EINTR);
		if (n != (ssize_t)sizeof(line) - 1) {
			n = n < 0 ? -errno : -EIO;
			fprintf(stderr, "fdmsg serve: --ready-fd %d: %s: %s\n",
				s->ready_fd, err_name((int)n),
				err_text((int)n));
		}
		close(s->ready_fd);
		s->ready_fd = -1;
	}
	if (s->activated && sock_addr(s->lfd, addr, sizeof(addr)) == 0)
		snprintf(msg, sizeof(msg), "READY=1\nSTATUS=serving %s (passed "
			 "in)", addr);
	else
		snprintf(msg, sizeof(msg), "READY=1\nSTATUS=serving %s",
			 s->path != NULL ? s->path : "the socket passed in");
	notify(s, msg);
}

/* ------------------------------------------------------------------ */
/* Setup and teardown                                                  */
/* ------------------------------------------------------------------ */

static int
serve(struct server *s)
{
	const char *where;
	unsigned i;
	int r, fl, ret = EXIT_PROTO;

	s->lfd = s->sigfd = s->reserve = -1;
	s->notify = getenv("NOTIFY_SOCKET");
	r = listen_fds_take(s);
	if (r < 0)
		return EXIT_PROTO;
	s->activated = r;
	if (!s->activated && s->path == NULL) {
		fprintf(stderr, "fdmsg serve: missing PATH (and no socket "
			"passed in LISTEN_FDS)\n");
		return EXIT_USAGE;
	}
	/* The unit's SocketMode= sets a passed socket's mode. */
	if (s->activated && s->mode != 0) {
		fprintf(stderr, "fdmsg serve: --mode: the socket was passed "
			"in (LISTEN_FDS): its creator sets the mode\n");
		goto usage;
	}
	if (s->ready_fd >= 0 && (s->ready_fd == s->lfd ||
				 fcntl(s->ready_fd, F_GETFD) < 0)) {
		fprintf(stderr, "fdmsg serve: --ready-fd %d: %s\n",
			s->ready_fd, s->ready_fd == s->lfd ? "is the socket "
			"passed in" : "not an open descriptor");
		goto usage;
	}
	where = s->path != NULL ? s->path : "LISTEN_FDS";
	if (fit_nofile(s) < 0)
		goto early;
	signal(SIGPIPE, SIG_IGN); /* stderr to a closed pipe must not kill */
	s->clients = calloc(s->max_clients, sizeof(*s->clients));
	if (s->clients == NULL) {
		fprintf(stderr, "fdmsg serve: %s: %s\n", err_name(-ENOMEM),
			err_text(-ENOMEM));
		goto early;
	}
	for (i = 0; i < s->max_clients; i++)
		s->clients[i].fd = -1;
	r = loop_init(&s->loop, KEY_CLIENT0 + (size_t)s->max_clients);
	if (r < 0) {
		fprintf(stderr, "fdmsg serve: event loop: %s: %s\n",
			err_name(r), err_text(r));
		goto out;
	}
	/* Signals first: one that comes right after listen still cleans up. */
	s->sigfd = signals_open();
	if (s->sigfd < 0) {
		fprintf(stderr, "fdmsg serve: signals: %s: %s\n",
			err_name(s->sigfd), err_text(s->sigfd));
		goto out;
	}
	s->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (!s->activated) {
		s->lfd = fdmsg_listen(s->path, s->stream ? SOCK_STREAM : 0,
				      s->mode);
		if (s->lfd < 0) {
			fprintf(stderr, "fdmsg serve: %s: %s: %s\n", s->path,
				err_name(s->lfd), err_text(s->lfd));
			goto out;
		}
		/* Only a socket file we created is ours to remove. */
		sockfile_note(&s->file, s->path);
	}
	/* r still holds listen_fds_take's 1 when the socket was passed in:
	 * each step sets it. */
	fl = fcntl(s->lfd, F_GETFL);
	r = fl < 0 || fcntl(s->lfd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
	if (r == 0)
		r = loop_add(&s->loop, KEY_LISTEN, s->lfd, EV_IN);
	if (r == 0)
		r = loop_add(&s->loop, KEY_SIGNAL, s->sigfd, EV_IN);
	if (r < 0) {
		fprintf(stderr, "fdmsg serve: %s: %s: %s\n", where,
			err_name(r), err_text(r));
		goto out;
	}
	ready(s);
	ret = run(s);
	if (ret == 0)
		notify(s, "STOPPING=1");
out:
	for (i = 0; i < s->max_clients; i++)
		if (s->clients[i].chan != NULL)
			client_close(s, &s->clients[i]);
	if (s->lfd >= 0) {
		/* Before the close: while the listener lives, its socket
		 * file's inode cannot be reused by a newcomer. */
		sockfile_remove(&s->file, s->path);
		close(s->lfd);
	}
	if (s->reserve >= 0)
		close(s->reserve);
	signals_close(s->sigfd);
	loop_fini(&s->loop);
	free(s->clients);
	return ret;
usage:
	ret = EXIT_USAGE;
early:
	if (s->activated)
		close(s->lfd);
	return ret;
}

/* What serve was asked to do, as parsed; serve() takes it from here. */
struct serve_cfg {
	int echo, stream;
	unsigned long long max_fds, max_frame, max_queue, max_queue_fds;
	unsigned long long max_clients, max_per_uid; /* 0: not given */
	unsigned long long frame_timeout, idle_timeout;
	unsigned long long mode;      /* 0: not given (0600) */
	unsigned long long ready_fd;  /* NO_READY_FD: not given */
	struct uidlist {
		uid_t uid[MAX_ALLOW_UIDS];
		size_t n;
	} allow;
};

#define NO_READY_FD ULLONG_MAX

/* --mode: octal permission bits, 0 to 0777, as chmod(1) takes them. */
static int
opt_mode(const struct args *a, const char *val, void *field)
{
	unsigned long long *mode = field;
	const char *p = val;
	unsigned long long m = 0;

	if (*p == '\0')
		goto bad;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '7')
			goto bad;
		m = m * 8 + (unsigned)(*p - '0');
		if (m > 0777) {
			fprintf(stderr, "fdmsg %s: %s: %s is out of range "
				"1..0777 (octal)\n", a->cmd, a->name, val);
			return -1;
		}
	}
	/* The library reads 0 as its default, 0600: say what you mean. */
	if (m == 0) {
		fprintf(stderr, "fdmsg %s: %s: 0 lets nobody connect; give "
			"1..0777 (octal)\n", a->cmd, a->name);
		return -1;
	}
	*mode = m;
	return 0;
bad:
	fprintf(stderr, "fdmsg %s: %s: '%s' is not an octal mode\n", a->cmd,
		a->name, val);
	return -1;
}

/* --allow-uid UID[,UID...], repeatable: every uid into the list. */
static int
opt_uids(const struct args *a, const char *val, void *field)
{
	struct uidlist *l = field;
	unsigned long long u;
	char one[32];
	size_t n;

	for (;;) {
		n = strcspn(val, ",");
		if (n >= sizeof(one))
			n = sizeof(one) - 1; /* too long for a uid anyway */
		memcpy(one, val, n);
		one[n] = '\0';
		/* (uid_t)-1 is no user's: it means "unknown" here. */
		if (opt_num(a, one, 0, (uid_t)-2, &u) < 0)
			return -1;
		if (l->n == MAX_ALLOW_UIDS) {
			fprintf(stderr, "fdmsg %s: %s: more than %u uids\n",
				a->cmd, a->name, MAX_ALLOW_UIDS);
			return -1;
		}
		l->uid[l->n++] = (uid_t)u;
		val += strcspn(val, ",");
		if (*val == '\0')
			return 0;
		val++;
	}
}

#define CFG(f) offsetof(struct serve_cfg, f)
static const struct opt serve_opts[] = {
	{ "--echo", NULL, OPT_FLAG, NULL, CFG(echo), 0, 0, 0, 0, NULL,
	  "send every valid frame back as it came" },
	{ "--stream", NULL, OPT_FLAG, NULL, CFG(stream), 0, 0, 0, 0, NULL,
	  "listen on a SOCK_STREAM socket" },
	{ "--max-fds", NULL, OPT_NUM, "N", CFG(max_fds), OPT_DEFAULT, 0,
	  FDMSG_MAX_FDS_CAP, FDMSG_MAX_FDS_DEFAULT, NULL,
	  "descriptors per read (0: refused)" },
	{ "--max-frame", NULL, OPT_NUM, "N", CFG(max_frame), OPT_DEFAULT,
	  FDMSG_HDR_SIZE, FDMSG_MAX_FRAME_CAP, FDMSG_MAX_FRAME_DEFAULT, NULL,
	  "bytes per frame, header included" },
	/* Its lower bound, --max-frame, is checked after parsing. */
	{ "--max-queue", NULL, OPT_NUM, "N", CFG(max_queue), OPT_DEFAULT,
	  FDMSG_HDR_SIZE, FDMSG_MAX_QUEUE_CAP, FDMSG_MAX_QUEUE_DEFAULT, NULL,
	  "a client's unread replies, bytes" },
	{ "--max-queue-fds", NULL, OPT_NUM, "N", CFG(max_queue_fds),
	  OPT_DEFAULT, 0, FDMSG_MAX_QUEUE_FDS_CAP, DEFAULT_MAX_QUEUE_FDS, NULL,
	  "descriptors in a client's unread replies" },
	{ "--max-clients", NULL, OPT_NUM, "N", CFG(max_clients), OPT_DEFAULT,
	  1, MAX_MAX_CLIENTS, DEFAULT_MAX_CLIENTS, NULL, "clients at once" },
	{ "--max-per-uid", NULL, OPT_NUM, "N", CFG(max_per_uid), 0, 1,
	  MAX_MAX_CLIENTS, 0, NULL, "clients of one uid (default: half)" },
	{ "--frame-timeout", NULL, OPT_NUM, "MS", CFG(frame_timeout),
	  OPT_DEFAULT, 0, MAX_FRAME_TIMEOUT, DEFAULT_FRAME_TIMEOUT, NULL,
	  "partial frame held at most (0: none)" },
	{ "--idle-timeout", NULL, OPT_NUM, "MS", CFG(idle_timeout),
	  OPT_DEFAULT, 0, MAX_FRAME_TIMEOUT, DEFAULT_IDLE_TIMEOUT, NULL,
	  "silent client kept at most (0: none)" },
	{ "--mode", NULL, OPT_FUNC, "OCTAL", CFG(mode), 0, 0, 0, 0, opt_mode,
	  "the socket file's mode (default 0600)" },
	{ "--allow-uid", NULL, OPT_FUNC, "UID[,UID...]", CFG(allow),
	  OPT_REPEAT, 0, 0, 0, opt_uids, "serve only these users" },
	{ "--ready-fd", NULL, OPT_NUM, "N", CFG(ready_fd), 0, 1, INT_MAX, 0,
	  NULL, "once listening, write READY=1 to N and close it" },
	OPT_END,
};
#undef CFG

static int cmd_serve(int argc, char **argv);

const struct cmd serve_cmd = {
	"serve", cmd_serve, serve_opts, { "PATH" }, 0, 0,
	"PATH may be left out when the service manager passes the socket\n"
	"(LISTEN_FDS); READY=1 and STOPPING=1 go to $NOTIFY_SOCKET if set.\n",
};

static int
cmd_serve(int argc, char **argv)
{
	const char *pos[OPERANDS_MAX];
	struct serve_cfg c;
	struct server s;
	int r;

	memset(&c, 0, sizeof(c));
	c.ready_fd = NO_READY_FD;
	if ((r = opts_parse(&serve_cmd, argc, argv, &c, pos)) != 0)
		return r;
	/* Descriptor 2 carries the log. */
	if (c.ready_fd == STDERR_FILENO) {
		fprintf(stderr, "fdmsg serve: --ready-fd: 2 is the log\n");
		return EXIT_USAGE;
	}
	if (c.max_queue < c.max_frame) {
		fprintf(stderr, "fdmsg serve: --max-queue: %llu is below "
			"--max-frame %llu%s\n", c.max_queue, c.max_frame,
			c.max_queue == FDMSG_MAX_QUEUE_DEFAULT ?
			" (default --max-queue)" : "");
		return EXIT_USAGE;
	}
	memset(&s, 0, sizeof(s));
	s.path = pos[0];
	s.echo = c.echo;
	s.stream = c.stream;
	fdmsg_opts_init(&s.copts);
	s.copts.max_fds = (unsigned)c.max_fds;
	s.copts.max_frame = (uint32_t)c.max_frame;
	s.copts.max_queue = (size_t)c.max_queue;
	s.copts.max_queue_fds = (unsigned)c.max_queue_fds;
	s.max_clients = (unsigned)c.max_clients;
	/* Half the slots: one local user cannot take them all. */
	s.max_per_uid = c.max_per_uid != 0 ? (unsigned)c.max_per_uid :
		(s.max_clients + 1) / 2;
	s.frame_timeout = (unsigned)c.frame_timeout;
	s.idle_timeout = (unsigned)c.idle_timeout;
	s.mode = (mode_t)c.mode;
	s.allow = c.allow.uid;
	s.nallow = c.allow.n;
	s.ready_fd = c.ready_fd == NO_READY_FD ? -1 : (int)c.ready_fd;
	return serve(&s);
}
