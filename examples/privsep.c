/* SPDX-License-Identifier: ISC */
/*
 * privsep: a privileged parent opens files for a child that gave up its
 * privileges, over an fdmsg_pair(SOCK_SEQPACKET) channel.
 *
 *   child  -> parent  OPEN   payload: a path
 *   parent -> child   FILE   one descriptor, the path opened read-only
 *   parent -> child   ERROR  payload: an errno, u32 little-endian
 *   parent -> child   LOG    one descriptor: where the child logs
 *   child  -> parent  DONE
 *
 * Run as root, the child drops to uid and gid 65534; otherwise it keeps
 * the caller's uid and the same flow runs (it says so).  The parent checks
 * who sent each request with the credentials the kernel attaches to every
 * message (FDMSG_OPT_CREDS): fdmsg_peer_cred cannot see the drop, since
 * a socketpair's SO_PEERCRED names the process that created it.
 *
 *   privsep [--self-test]   (the same run; exit 0 only if every check held)
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fdmsg.h>

enum { OPEN = 1, FILE_FD, ERROR, LOG, DONE };
#define NOBODY 65534
#define WAIT_MS 5000
#define SECRET "secret=42\n"

/* Sends an ERROR frame carrying err (a positive errno). */
static int
send_error(struct fdmsg_chan *ch, int err)
{
	unsigned char b[4];
	struct fdmsg_wbuf w;
	struct iovec iov = { b, sizeof(b) };

	fdmsg_wbuf_init_fixed(&w, b, sizeof(b));
	fdmsg_wbuf_put_u32(&w, (uint32_t)err);
	return fdmsg_send(ch, ERROR, 0, &iov, 1, NULL, 0, 0);
}

/* The parent's answer to one OPEN: a descriptor, or an error frame. */
static int
serve_open(struct fdmsg_chan *ch, const struct fdmsg_msg *m, uid_t want_uid,
	   const char *allowed)
{
	char path[PATH_MAX];
	int fd;

	/* The kernel filled these in for this very message: they cannot
	 * be forged by a sender without privileges. */
	if (!m->has_cred || m->cred.uid != want_uid) {
		printf("parent: OPEN from uid %ld refused\n",
		       m->has_cred ? (long)m->cred.uid : -1L);
		return send_error(ch, EPERM);
	}
	if (m->len == 0 || m->len >= sizeof(path) ||
	    memchr(m->payload, '\0', m->len) != NULL)
		return send_error(ch, EINVAL);
	memcpy(path, m->payload, m->len);
	path[m->len] = '\0';
	if (strcmp(path, allowed) != 0) {
		printf("parent: %s: refused, not on the allow-list\n", path);
		return send_error(ch, EACCES);
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return send_error(ch, errno);
	printf("parent: %s: opened for uid %ld, descriptor sent\n", path,
	       (long)m->cred.uid);
	return fdmsg_send(ch, FILE_FD, 0, NULL, 0, &fd, 1, FDMSG_CLOSE_FDS);
}

/* The child's request: a descriptor (>= 0) or a negative errno. */
static int
request(struct fdmsg_chan *ch, const char *path)
{
	struct iovec iov = { (void *)path, strlen(path) };
	struct fdmsg_msg m = { 0 };
	struct fdmsg_rbuf r;
	uint32_t err = EPROTO;
	int rc;

	if ((rc = fdmsg_send(ch, OPEN, 0, &iov, 1, NULL, 0, 0)) < 0 ||
	    (rc = fdmsg_flush_wait(ch, WAIT_MS)) < 0 ||
	    (rc = fdmsg_recv_wait(ch, &m, WAIT_MS)) < 0)
		return rc;
	if (m.type == FILE_FD && m.nfds == 1)
		rc = fdmsg_msg_take_fd(&m, 0);
	else {
		fdmsg_rbuf_init(&r, m.payload, m.len);
		if (m.type != ERROR || fdmsg_rbuf_get_u32(&r, &err) < 0)
			err = EPROTO;
		rc = -(int)err;
	}
	fdmsg_msg_release(&m);
	return rc;
}

static int
child(int sock, const char *secret, int drop)
{
	struct fdmsg_chan *ch;
	struct fdmsg_opts o;
	struct fdmsg_msg m = { 0 };
	char buf[64] = "";
	FILE *log = NULL;
	int fd, ok = 1;

	if (drop && (setgroups(0, NULL) < 0 ||
		     setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
		     setresuid(NOBODY, NOBODY, NOBODY) < 0 || setuid(0) == 0))
		return 2;
	fdmsg_opts_init(&o);
	o.max_fds = 1; /* the child takes descriptors, one per frame */
	if (fdmsg_chan_new(&ch, sock, &o, FDMSG_CHAN_OWN_FD) < 0)
		return 2;
	/* The log hand-off: a descriptor the parent opened for us. */
	if (fdmsg_recv_wait(ch, &m, WAIT_MS) < 0 || m.type != LOG ||
	    m.nfds != 1 || (fd = fdmsg_msg_take_fd(&m, 0)) < 0 ||
	    (log = fdopen(fd, "w")) == NULL) {
		fdmsg_chan_free(ch);
		return 2;
	}
	fprintf(log, "child: running as uid %ld\n", (long)getuid());

	fd = open(secret, O_RDONLY | O_CLOEXEC);
	fprintf(log, "child: open(%s) myself: %s\n", secret,
		fd >= 0 ? "works (nothing was dropped)" : strerror(errno));
	if (fd >= 0)
		close(fd);
	else if (!drop)
		ok = 0;

	fd = request(ch, secret);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		buf[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	fprintf(log, "child: the parent's descriptor reads \"%.*s\"\n",
		(int)strcspn(buf, "\n"), buf);
	if (strcmp(buf, SECRET) != 0)
		ok = 0;

	fd = request(ch, "/etc/shadow");
	fprintf(log, "child: asking for /etc/shadow: %s\n",
		fd >= 0 ? "granted?!" : strerror(-fd));
	if (fd >= 0)
		close(fd);
	if (fd != -EACCES)
		ok = 0;

	if (fdmsg_send(ch, DONE, 0, NULL, 0, NULL, 0, 0) < 0 ||
	    fdmsg_flush_wait(ch, WAIT_MS) < 0)
		ok = 0;
	fdmsg_chan_free(ch);
	return fclose(log) == 0 && ok ? 0 : 1;
}

int
main(void)
{
	char dir[] = "/tmp/privsep-XXXXXX", secret[64], logbuf[4096];
	int drop = geteuid() == 0, sv[2], fd, logfd, st, rc, ok = 0;
	uid_t want_uid = drop ? NOBODY : getuid();
	struct fdmsg_msg m = { 0 };
	struct fdmsg_cred cred;
	struct fdmsg_chan *ch;
	struct fdmsg_opts o;
	ssize_t n;
	pid_t pid;

	/* A private directory: the secret is out of the dropped child's
	 * reach, and the log file has no name at all. */
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	fd = open(secret, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, SECRET, strlen(SECRET)) < 0 || close(fd) < 0)
		return 1;
	logfd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (logfd < 0 || fdmsg_pair(SOCK_SEQPACKET, sv) < 0)
		return 1;
	if (drop)
		printf("parent: root; the child drops to uid %d\n", NOBODY);
	else
		printf("parent: not root (uid %ld): no privilege to drop, "
		       "the child keeps it\n", (long)want_uid);
	fflush(stdout);
	if ((pid = fork()) < 0)
		return 1;
	if (pid == 0) {
		close(sv[0]);
		close(logfd);
		_exit(child(sv[1], secret, drop));
	}
	close(sv[1]);

	fdmsg_opts_init(&o);
	o.flags = FDMSG_OPT_CREDS; /* no descriptors from the child */
	if (fdmsg_chan_new(&ch, sv[0], &o, FDMSG_CHAN_OWN_FD) < 0)
		return 1;
	if (fdmsg_peer_cred(fdmsg_chan_fd(ch), 0, &cred) == 0)
		printf("parent: fdmsg_peer_cred names uid %ld, the pair's "
		       "creator; each frame's own credentials are checked\n",
		       (long)cred.uid);
	rc = fdmsg_send(ch, LOG, 0, NULL, 0, &logfd, 1, 0);
	while (rc >= 0 && (rc = fdmsg_recv_wait(ch, &m, WAIT_MS)) == 0) {
		if (m.type == DONE) {
			ok = 1;
			break;
		}
		rc = m.type == OPEN ? serve_open(ch, &m, want_uid, secret) :
			send_error(ch, EPROTO);
		if (rc >= 0)
			rc = fdmsg_flush_wait(ch, WAIT_MS);
	}
	if (rc < 0)
		printf("parent: channel: %s\n", fdmsg_strerror(rc));
	fdmsg_chan_free(ch);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		printf("parent: the child failed (status %d)\n", st);
		ok = 0;
	}

	printf("parent: the child's log:\n");
	n = pread(logfd, logbuf, sizeof(logbuf) - 1, 0);
	logbuf[n > 0 ? n : 0] = '\0';
	printf("%s", logbuf);
	close(logfd);
	unlink(secret);
	rmdir(dir);
	if (!ok)
		return 1;
	printf("privsep ok\n");
	return 0;
}
