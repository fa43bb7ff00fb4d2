/* SPDX-License-Identifier: ISC */
/*
 * fdmsg proxy: relays frames and their descriptors both ways between the
 * clients of LISTEN_PATH and a server at TARGET_PATH, one upstream
 * connection per client, and with --capture writes every frame to a
 * pcapng file (pcapng.h).  One process, one poll loop.
 *
 * Each frame is received whole by one channel and sent by the other, its
 * descriptors borrowed for the send (the library queues duplicates) and
 * closed right after.  A side is read only while the other side's queue
 * is empty, so a reader that stops reading stops its writer: the proxy
 * holds at most one read's frames per direction.  Whatever breaks the
 * rules on either side (or is refused by the other side's limits) ends
 * that pair only, with a line on stderr and a close record.
 *
 * Ends travel: when one side ends, its peer gets shutdown(SHUT_WR) once
 * what was queued for it left, and the pair closes when both sides have
 * ended.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fdmsg.h"
#include "pcapng.h"
#include "tool.h"
#include "util.h"

#define DEFAULT_MAX_CLIENTS 64u
#define MAX_MAX_CLIENTS 4096u
#define READ_BUDGET 64 /* frames per side per turn: fairness */
#define PAUSE_MS 100   /* listener rest when accept cannot shed */
#define KEY_LISTEN 0
#define KEY_SIGNAL 1
#define KEY_PAIR0 2    /* then the sides watched (run) */

/* Sides: whose frame, whose doing (capture dir = side + 1). */
#define PROXY (-1)
#define CLIENT 0
#define SERVER 1

struct side {
	struct fdmsg_chan *chan;
	int fd;
	int ended; /* it sent its end (-EPIPE) */
	int shut;  /* we passed the other's end on: shutdown(SHUT_WR) */
	int more;  /* frames may wait in the channel: read without poll */
};

struct pair {
	struct side s[2]; /* CLIENT, SERVER; s[CLIENT].chan NULL: free */
	uint32_t id;
	long pid;
	long uid;
	int first_end;    /* the side that ended first, for the record */
	int64_t active_at; /* ms: a frame or end read, or a write, last */
};

struct proxy {
	const char *listen, *target, *capture;
	int stream, verbose;
	unsigned max_clients, npairs;
	unsigned idle_timeout; /* ms; 0: none */
	struct fdmsg_opts copts;
	struct pair *pairs;
	struct pollfd *pfd; /* the listener, signals, then sides watched */
	size_t *key;        /* pfd[j]'s side: 2 * pair + side */
	uint32_t next_id;
	int lfd, sigr, reserve, capfd;
	struct pcapng_w cap;
	int cap_failed;
	struct sockfile file;
	int64_t paused_until; /* ms: listener resting until then; 0: not */
	struct refusals refusals; /* --max-clients reached */
};

static const char *const side_name[2] = { "client", "server" };

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* "fdmsg proxy: client ID: WHAT: ERRNAME: text (pid P, uid U)" */
static void
pair_log(const struct pair *p, const char *what, int err)
{
	fprintf(stderr, "fdmsg proxy: client %" PRIu32 ": %s: %s: %s (pid %ld, "
		"uid %ld)\n", p->id, what, err_name(err), err_text(err), p->pid,
		p->uid);
}

/* A capture write failed: say so once; the loop then stops. */
static void
cap_check(struct proxy *x, int r)
{
	if (r == 0 || x->cap_failed)
		return;
	x->cap_failed = 1;
	fprintf(stderr, "fdmsg proxy: %s: %s: %s: capture stopped\n",
		x->capture, err_name(r), err_text(r));
}

/* Closes both sides, their queues and descriptors; records why and
 * whose doing it was (PROXY, CLIENT, SERVER). */
static void
pair_close(struct proxy *x, struct pair *p, int side, int err)
{
	int i;

	if (x->capture != NULL)
		cap_check(x, capture_w_close(&x->cap, now_ns(), p->id,
					     (uint8_t)(side + 1), err));
	if (x->verbose)
		fprintf(stderr, "fdmsg proxy: client %" PRIu32 ": closed\n",
			p->id);
	for (i = 0; i < 2; i++) {
		if (p->s[i].chan != NULL)
			fdmsg_chan_free(p->s[i].chan);
		else if (p->s[i].fd >= 0)
			close(p->s[i].fd);
	}
	memset(p, 0, sizeof(*p));
	p->s[CLIENT].fd = p->s[SERVER].fd = -1;
	x->npairs--;
}

/*
 * Passes a's end on to b once nothing waits for b; closes the pair when
 * both have ended and nothing waits either way.  1: the pair is gone.
 */
static int
pass_end(struct proxy *x, struct pair *p, int a)
{
	struct side *sa = &p->s[a], *sb = &p->s[!a];

	if (sa->ended && !sb->shut && !fdmsg_want_write(sb->chan)) {
		shutdown(sb->fd, SHUT_WR);
		sb->shut = 1;
	}
	if (sa->ended && sb->ended && !fdmsg_want_write(sa->chan) &&
	    !fdmsg_want_write(sb->chan)) {
		pair_close(x, p, p->first_end, 0);
		return 1;
	}
	return 0;
}

/* Frames from side a to the other, while the other's queue is empty. */
static void
relay(struct proxy *x, struct pair *p, int a)
{
	struct side *sa = &p->s[a], *sb = &p->s[!a];
	struct fdmsg_msg m = { 0 };
	struct iovec iov;
	char what[32];
	int i, r;

	sa->more = 0;
	for (i = 0; i < READ_BUDGET; i++) {
		/* Backpressure: the flush that empties it reads on. */
		if (sa->ended || fdmsg_want_write(sb->chan))
			return;
		r = fdmsg_recv(sa->chan, &m);
		if (r == -EAGAIN)
			return;
		/* Once a pass: the clock is read per wake, not per frame. */
		if (i == 0 && x->idle_timeout != 0)
			p->active_at = now_ms();
		if (r == -EPIPE) {
			sa->ended = 1;
			if (!sb->ended)
				p->first_end = a;
			pass_end(x, p, a);
			return;
		}
		if (r < 0) {
			snprintf(what, sizeof(what), "from %s", side_name[a]);
			pair_log(p, what, r);
			pair_close(x, p, a, r);
			return;
		}
		if (x->capture != NULL)
			cap_check(x, capture_w_frame(&x->cap, now_ns(), p->id,
						     (uint8_t)(a + 1), &m));
		iov.iov_base = (void *)(uintptr_t)m.payload;
		iov.iov_len = m.len;
		/* Borrowed: sent, or duplicated into the queue. */
		r = fdmsg_send(sb->chan, m.type, m.peerid, &iov, 1, m.fds,
			       m.nfds, 0);
		fdmsg_msg_release(&m); /* ours closed: forwarded */
		if (r == -EPIPE || r == -ECONNRESET) {
			/* The other side left without reading: its doing. */
			pair_close(x, p, !a, r);
			return;
		}
		if (r < 0) {
			/* Refused by the other side's limits (-EMSGSIZE,
			 * -EPERM, -ENOBUFS): the sender's frame ends it. */
			snprintf(what, sizeof(what), "to %s",
				 side_name[!a]);
			pair_log(p, what, r);
			pair_close(x, p, a, r);
			return;
		}
	}
	sa->more = 1;
}

static void
flush_side(struct proxy *x, struct pair *p, int b)
{
	struct side *sb = &p->s[b];
	char what[32];
	int r = fdmsg_flush(sb->chan);

	/* Called when the socket took data again: that side reads. */
	if (x->idle_timeout != 0)
		p->active_at = now_ms();
	if (r == -EAGAIN)
		return;
	if (r < 0) {
		if (r != -EPIPE && r != -ECONNRESET) {
			snprintf(what, sizeof(what), "to %s", side_name[b]);
			pair_log(p, what, r);
		}
		pair_close(x, p, b, r);
		return;
	}
	/* Emptied: the other side may be read again. */
	p->s[!b].more = 1;
	pass_end(x, p, !b);
}

static int
pair_events(const struct pair *p, int a)
{
	const struct side *sa = &p->s[a], *sb = &p->s[!a];
	int ev = 0;

	if (!sa->ended && !fdmsg_want_write(sb->chan))
		ev |= POLLIN;
	if (fdmsg_want_write(sa->chan))
		ev |= POLLOUT;
	return ev;
}

static void
pair_event(struct proxy *x, struct pair *p, int a, short rev)
{
	if (p->s[CLIENT].chan == NULL)
		return;
	if (rev & (POLLOUT | POLLHUP | POLLERR)) {
		if (fdmsg_want_write(p->s[a].chan)) {
			flush_side(x, p, a);
			if (p->s[CLIENT].chan == NULL)
				return;
		}
	}
	if (rev & (POLLIN | POLLHUP | POLLERR))
		relay(x, p, a);
}

/* ------------------------------------------------------------------ */
/* Accepting                                                           */
/* ------------------------------------------------------------------ */

static void
pair_open(struct proxy *x, int cfd)
{
	struct fdmsg_cred cr;
	struct pair *p = NULL;
	unsigned i;
	int sfd, r;

	for (i = 0; i < x->max_clients; i++) {
		if (x->pairs[i].s[CLIENT].chan == NULL &&
		    x->pairs[i].s[CLIENT].fd < 0) {
			p = &x->pairs[i];
			break;
		}
	}
	if (p == NULL) { /* cannot happen: npairs < max_clients */
		CANNOT_HAPPEN();
		close(cfd);
		return;
	}
	x->npairs++;
	p->id = ++x->next_id;
	p->active_at = now_ms();
	p->s[CLIENT].fd = cfd;
	if (fdmsg_peer_cred(cfd, 0, &cr) == 0) {
		p->pid = (long)cr.pid;
		p->uid = cr.uid == (uid_t)-1 ? -1L : (long)cr.uid;
	} else {
		p->pid = 0;
		p->uid = -1;
	}
	if (x->capture != NULL)
		cap_check(x, capture_w_open(&x->cap, now_ns(), p->id,
					    (uint32_t)p->pid,
					    (uint32_t)p->uid));
	if (x->verbose)
		fprintf(stderr, "fdmsg proxy: client %" PRIu32 ": connected "
			"(pid %ld, uid %ld)\n", p->id, p->pid, p->uid);
	/* A blocking connect: the server is the operator's own. */
	sfd = fdmsg_connect(x->target, x->stream ? SOCK_STREAM : 0);
	if (sfd < 0) {
		pair_log(p, x->target, sfd);
		pair_close(x, p, SERVER, sfd);
		return;
	}
	p->s[SERVER].fd = sfd;
	/* The client greets us and is answered; we greet the server, whose
	 * hello then holds what we forward to its limits. */
	r = fdmsg_chan_new(&p->s[CLIENT].chan, cfd, &x->copts,
			   FDMSG_CHAN_OWN_FD);
	if (r == 0)
		r = fdmsg_chan_new(&p->s[SERVER].chan, sfd, &x->copts,
				   FDMSG_CHAN_OWN_FD | FDMSG_CHAN_HELLO);
	if (r < 0) {
		/* OWN_FD: a channel owns its socket even when made in vain;
		 * the server's is tried only once the client's is made. */
		if (p->s[CLIENT].chan == NULL)
			p->s[CLIENT].fd = -1;
		else
			p->s[SERVER].fd = -1;
		pair_log(p, "channel", r);
		pair_close(x, p, PROXY, r);
		return;
	}
}

static void
accept_clients(struct proxy *x)
{
	int i, fd, r;

	for (i = 0; i < READ_BUDGET; i++) {
		fd = fdmsg_accept(x->lfd, NULL, 0);
		if (fd == -EAGAIN || fd == -EWOULDBLOCK)
			return;
		if (fd == -EMFILE || fd == -ENFILE) {
			r = accept_shed("proxy", x->lfd, &x->reserve, fd);
			/* Nothing to take it with: rest, not spin. */
			if (r < 0 && r != -EAGAIN)
				x->paused_until = now_ms() + PAUSE_MS;
			if (r < 0)
				return;
			continue;
		}
		if (fd < 0)
			continue; /* -ECONNABORTED and the like */
		if (x->npairs >= x->max_clients) {
			refuse_log(&x->refusals, "fdmsg proxy: --max-clients "
				   "%u reached: connection refused",
				   x->max_clients);
			close(fd);
			continue;
		}
		pair_open(x, fd);
	}
}

/* ------------------------------------------------------------------ */
/* The loop                                                            */
/* ------------------------------------------------------------------ */

/* ms until the next deadline (idle pairs, the listener's rest), or -1. */
static int
next_timeout(const struct proxy *x, int64_t now)
{
	int64_t best = x->paused_until, d;
	unsigned i;

	for (i = 0; x->idle_timeout != 0 && i < x->max_clients; i++) {
		if (x->pairs[i].s[CLIENT].chan == NULL)
			continue;
		d = x->pairs[i].active_at + x->idle_timeout;
		if (best == 0 || d < best)
			best = d;
	}
	if (best == 0)
		return -1;
	d = best - now;
	return d < 0 ? 0 : d > INT_MAX ? INT_MAX : (int)d;
}

/* Pairs with nothing read or written for --idle-timeout: a silent
 * client (or server) holds no slot for ever. */
static void
idle_close(struct proxy *x)
{
	int64_t now = now_ms();
	unsigned i;

	for (i = 0; x->idle_timeout != 0 && i < x->max_clients; i++) {
		struct pair *p = &x->pairs[i];

		if (p->s[CLIENT].chan == NULL ||
		    now - p->active_at < (int64_t)x->idle_timeout)
			continue;
		pair_log(p, "idle past --idle-timeout", -ETIMEDOUT);
		pair_close(x, p, PROXY, -ETIMEDOUT);
	}
}

static int
run(struct proxy *x)
{
	struct pollfd *f;
	struct pair *p;
	size_t m, j;
	unsigned i;
	int k, n, ev, more, timeout, stop = 0;
	int64_t now;
	short rev;
	char buf[64];

	while (!stop && !x->cap_failed) {
		/* Only the sides watched, packed after the listener and the
		 * signal pipe: poll refuses nfds beyond RLIMIT_NOFILE
		 * (EINVAL), and the proxy runs close to it. */
		more = 0;
		m = KEY_PAIR0;
		now = now_ms();
		if (x->paused_until != 0 && now >= x->paused_until)
			x->paused_until = 0;
		x->pfd[KEY_LISTEN].fd = x->paused_until != 0 ? -1 : x->lfd;
		x->pfd[KEY_LISTEN].revents = 0;
		for (i = 0; i < x->max_clients; i++) {
			p = &x->pairs[i];
			if (p->s[CLIENT].chan == NULL)
				continue;
			for (k = 0; k < 2; k++) {
				ev = pair_events(p, k);
				/* Nothing wanted: a hung-up socket would
				 * wake poll for ever. */
				if (ev == 0)
					continue;
				x->pfd[m].fd = p->s[k].fd;
				x->pfd[m].events = (short)ev;
				x->pfd[m].revents = 0;
				x->key[m++] = 2 * (size_t)i + (size_t)k;
				if (p->s[k].more && (ev & POLLIN))
					more = 1;
			}
		}
		timeout = more ? 0 : next_timeout(x, now);
		n = poll(x->pfd, (nfds_t)m, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			fprintf(stderr, "fdmsg proxy: poll: %s: %s\n",
				err_name(n), err_text(n));
			return EXIT_PROTO;
		}
		if (x->pfd[KEY_SIGNAL].revents != 0) {
			while (read(x->sigr, buf, sizeof(buf)) > 0)
				;
			stop = 1;
			break;
		}
		for (j = KEY_PAIR0; j < m; j++) {
			f = &x->pfd[j];
			p = &x->pairs[x->key[j] / 2];
			k = (int)(x->key[j] % 2);
			rev = f->revents;
			if (rev == 0 && p->s[k].more && (f->events & POLLIN))
				rev = POLLIN;
			if (rev != 0)
				pair_event(x, p, k, rev);
		}
		idle_close(x);
		/* After the pairs' events: a slot freed above and reused here
		 * never sees a stale event of its old pair. */
		if (x->pfd[KEY_LISTEN].revents != 0)
			accept_clients(x);
	}
	return x->cap_failed ? EXIT_PROTO : 0;
}

/* Descriptors are what the proxy relays: take what the system allows. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * The capture file, or -errno.  Payloads may be secrets: the file is the
 * operator's alone, and a planted symbolic link is not followed.  An
 * existing file keeps its mode through O_CREAT, so a regular one is
 * narrowed to 0600 (which fails unless it is ours) and only then
 * truncated: a file we may not keep to ourselves loses nothing.  Opened
 * non-blocking, so a FIFO nobody reads is refused (ENXIO) rather than
 * waited on for ever; the writes then block as usual.
 */
static int
cap_open(const char *path)
{
	struct stat st;
	int fd, r;

	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
		  O_NOCTTY | O_NONBLOCK, 0600);
	if (fd < 0)
		return -errno;
	r = fcntl(fd, F_GETFL);
	if (r < 0 || fcntl(fd, F_SETFL, r & ~O_NONBLOCK) < 0 ||
	    fstat(fd, &st) < 0)
		goto fail;
	if (S_ISREG(st.st_mode) && ((st.st_mode & 07777) != 0600 &&
				    fchmod(fd, 0600) < 0))
		goto fail;
	if (S_ISREG(st.st_mode) && ftruncate(fd, 0) < 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

static int
proxy(struct proxy *x)
{
	char desc[256];
	unsigned i;
	int r, fl, ret = EXIT_PROTO;

	x->lfd = x->sigr = x->reserve = x->capfd = -1;
	signal(SIGPIPE, SIG_IGN); /* a capture on a closed pipe: EPIPE */
	raise_nofile();
	x->pairs = calloc(x->max_clients, sizeof(*x->pairs));
	x->pfd = calloc(KEY_PAIR0 + 2 * (size_t)x->max_clients,
			sizeof(*x->pfd));
	x->key = calloc(KEY_PAIR0 + 2 * (size_t)x->max_clients,
			sizeof(*x->key));
	if (x->pairs == NULL || x->pfd == NULL || x->key == NULL) {
		fprintf(stderr, "fdmsg proxy: %s: %s\n", err_name(-ENOMEM),
			err_text(-ENOMEM));
		goto out;
	}
	for (i = 0; i < x->max_clients; i++)
		x->pairs[i].s[CLIENT].fd = x->pairs[i].s[SERVER].fd = -1;
	if (x->capture != NULL) {
		x->capfd = strcmp(x->capture, "-") == 0 ? STDOUT_FILENO :
			   cap_open(x->capture);
		if (x->capfd < 0) {
			fprintf(stderr, "fdmsg proxy: %s: %s: %s\n",
				x->capture, err_name(x->capfd),
				err_text(x->capfd));
			goto out;
		}
		snprintf(desc, sizeof(desc), "%s -> %s", x->listen,
			 x->target);
		r = pcapng_w_start(&x->cap, x->capfd, CAPTURE_LINKTYPE,
				   "fdmsg proxy " FDMSG_VERSION_STRING, desc);
		if (r < 0) {
			cap_check(x, r);
			goto out;
		}
	}
	x->sigr = sigpipe_open();
	if (x->sigr < 0) {
		fprintf(stderr, "fdmsg proxy: signals: %s: %s\n",
			err_name(x->sigr), err_text(x->sigr));
		goto out;
	}
	x->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	x->lfd = fdmsg_listen(x->listen, x->stream ? SOCK_STREAM : 0, 0);
	if (x->lfd < 0) {
		fprintf(stderr, "fdmsg proxy: %s: %s: %s\n", x->listen,
			err_name(x->lfd), err_text(x->lfd));
		goto out;
	}
	sockfile_note(&x->file, x->listen);
	fl = fcntl(x->lfd, F_GETFL);
	if (fl < 0 || fcntl(x->lfd, F_SETFL, fl | O_NONBLOCK) < 0) {
		r = -errno;
		fprintf(stderr, "fdmsg proxy: %s: %s: %s\n", x->listen,
			err_name(r), err_text(r));
		goto out;
	}
	x->pfd[KEY_LISTEN].fd = x->lfd;
	x->pfd[KEY_LISTEN].events = POLLIN;
	x->pfd[KEY_SIGNAL].fd = x->sigr;
	x->pfd[KEY_SIGNAL].events = POLLIN;
	ret = run(x);
out:
	for (i = 0; x->pairs != NULL && i < x->max_clients; i++)
		if (x->pairs[i].s[CLIENT].chan != NULL)
			pair_close(x, &x->pairs[i], PROXY, 0);
	if (x->lfd >= 0) {
		sockfile_remove(&x->file, x->listen);
		close(x->lfd);
	}
	if (x->reserve >= 0)
		close(x->reserve);
	sigpipe_close(x->sigr);
	if (x->capfd >= 0 && x->capfd != STDOUT_FILENO && close(x->capfd) < 0 &&
	    ret == 0) {
		r = -errno;
		cap_check(x, r);
		ret = EXIT_PROTO;
	}
	free(x->pairs);
	free(x->pfd);
	free(x->key);
	return ret;
}

struct proxy_cfg {
	const char *capture;
	int stream, verbose;
	unsigned long long max_fds, max_frame, max_clients, idle_timeout;
};

#define CFG(f) offsetof(struct proxy_cfg, f)
static const struct opt proxy_opts[] = {
	{ "--capture", NULL, OPT_STR, "FILE", CFG(capture), 0, 0, 0, 0, NULL,
	  "write every frame to FILE, pcapng (-: stdout)" },
	{ "--stream", NULL, OPT_FLAG, NULL, CFG(stream), 0, 0, 0, 0, NULL,
	  "SOCK_STREAM on both sides" },
	/* Pass on whatever the server takes: its hello limits us. */
	{ "--max-fds", NULL, OPT_NUM, "N", CFG(max_fds), OPT_DEFAULT, 0,
	  FDMSG_MAX_FDS_CAP, FDMSG_MAX_FDS_CAP, NULL,
	  "descriptors per read, either side" },
	{ "--max-frame", NULL, OPT_NUM, "N", CFG(max_frame), OPT_DEFAULT,
	  FDMSG_HDR_SIZE, FDMSG_MAX_FRAME_CAP, FDMSG_MAX_FRAME_DEFAULT, NULL,
	  "bytes per frame, header included" },
	{ "--max-clients", NULL, OPT_NUM, "N", CFG(max_clients), OPT_DEFAULT,
	  1, MAX_MAX_CLIENTS, DEFAULT_MAX_CLIENTS, NULL, "clients at once" },
	/* A day at most, as serve's; none by default: a relay cannot
	 * know how long its protocol may rightly stay quiet. */
	{ "--idle-timeout", NULL, OPT_NUM, "MS", CFG(idle_timeout), 0, 0,
	  86400000, 0, NULL, "silent pair kept at most (default: none)" },
	{ "--verbose", "-v", OPT_FLAG, NULL, CFG(verbose), 0, 0, 0, 0, NULL,
	  "a line per connection and its end" },
	OPT_END,
};

static int cmd_proxy(int argc, char **argv);

const struct cmd proxy_cmd = {
	"proxy", cmd_proxy, proxy_opts, { "LISTEN_PATH", "TARGET_PATH" }, 2,
	0,
	"proxy: each client of LISTEN_PATH gets its own connection to\n"
	"TARGET_PATH; frames and descriptors pass both ways.\n",
};

static int
cmd_proxy(int argc, char **argv)
{
	const char *pos[OPERANDS_MAX];
	struct proxy_cfg c;
	struct proxy x;
	int r;

	memset(&c, 0, sizeof(c));
	if ((r = opts_parse(&proxy_cmd, argc, argv, &c, pos)) != 0)
		return r;
	memset(&x, 0, sizeof(x));
	x.listen = pos[0];
	x.target = pos[1];
	x.capture = c.capture;
	x.stream = c.stream;
	x.verbose = c.verbose;
	x.max_clients = (unsigned)c.max_clients;
	x.idle_timeout = (unsigned)c.idle_timeout;
	fdmsg_opts_init(&x.copts);
	x.copts.max_fds = (unsigned)c.max_fds;
	x.copts.max_frame = (uint32_t)c.max_frame;
	/* A frame as large as max_frame must fit the queue. */
	if (x.copts.max_queue < x.copts.max_frame)
		x.copts.max_queue = x.copts.max_frame;
	return proxy(&x);
}
