/* SPDX-License-Identifier: ISC */
/*
 * imsg-fileserver: a program written for the classic imsg interface,
 * built against libfdmsg-imsg unchanged.  A parent opens files for a
 * child over a socketpair:
 *
 *   child  -> parent  IMSG_OPEN   data: a path (NUL-terminated)
 *   parent -> child   IMSG_FILE   one descriptor, the path opened read-only
 *   parent -> child   IMSG_ERR    data: an int errno
 *
 * The parent serves only the one file it was told to; the child asks for
 * it and for /etc/passwd, reads the first through the descriptor it got,
 * and exits; the parent sees the end of the stream and exits too.
 *
 *   imsg-fileserver [--self-test]   (exit 0 only if every check held)
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <imsg.h>

enum { IMSG_OPEN = 1, IMSG_FILE, IMSG_ERR };
#define CONTENT "served over imsg\n"

/* Reads until one whole message is there (blocking socket). */
static int
next_msg(struct imsgbuf *ib, struct imsg *m)
{
	ssize_t n;

	for (;;) {
		if ((n = imsg_get(ib, m)) != 0)
			return n == -1 ? -1 : 1;
		if ((n = imsg_read(ib)) == -1) {
			if (errno == EAGAIN)
				continue;
			return -1;
		}
		if (n == 0)
			return 0;
	}
}

static int
parent(int fd, const char *allowed)
{
	struct imsgbuf ib;
	struct imsg m;
	int r, file, err;
	size_t len;

	imsg_init(&ib, fd);
	while ((r = next_msg(&ib, &m)) == 1) {
		len = m.hdr.len - IMSG_HEADER_SIZE;
		if (m.fd != -1)
			close(m.fd);	/* the child sends none */
		if (m.hdr.type != IMSG_OPEN || len == 0 ||
		    ((char *)m.data)[len - 1] != '\0') {
			fprintf(stderr, "parent: bad request\n");
			imsg_free(&m);
			break;
		}
		if (strcmp(m.data, allowed) != 0)
			file = -1, errno = EACCES;
		else
			file = open(m.data, O_RDONLY | O_CLOEXEC);
		err = errno;
		/* imsg_compose takes file: closed once sent. */
		if (file != -1)
			r = imsg_compose(&ib, IMSG_FILE, 0, 0, file, NULL, 0);
		else
			r = imsg_compose(&ib, IMSG_ERR, 0, 0, -1, &err,
			    sizeof(err));
		imsg_free(&m);
		if (r == -1 || imsg_flush(&ib) == -1) {
			perror("parent: imsg_compose/imsg_flush");
			break;
		}
	}
	if (r == -1)
		perror("parent: imsg_read/imsg_get");
	imsg_clear(&ib);
	close(fd);
	return r == 0 ? 0 : 1;	/* 0: the child ended the stream */
}

/* Asks for path; returns the descriptor, or -1 with *err set. */
static int
ask(struct imsgbuf *ib, const char *path, int *err)
{
	struct imsg m;
	int fd = -1;

	*err = EPROTO;
	if (imsg_compose(ib, IMSG_OPEN, 0, 0, -1, path, strlen(path) + 1) == -1 ||
	    imsg_flush(ib) == -1 || next_msg(ib, &m) != 1)
		return -1;
	if (m.hdr.type == IMSG_FILE && m.fd != -1)
		fd = m.fd;
	else if (m.hdr.type == IMSG_ERR &&
	    m.hdr.len == IMSG_HEADER_SIZE + sizeof(int))
		memcpy(err, m.data, sizeof(int));
	imsg_free(&m);
	return fd;
}

static int
child(int fd, const char *path)
{
	struct imsgbuf ib;
	char buf[64];
	ssize_t n;
	int f, err, ok = 1;

	imsg_init(&ib, fd);
	if ((f = ask(&ib, path, &err)) == -1) {
		fprintf(stderr, "child: %s: %s\n", path, strerror(err));
		ok = 0;
	} else {
		n = read(f, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		printf("child: read %s through descriptor %d: %s", path, f,
		    buf);
		ok &= strcmp(buf, CONTENT) == 0;
		ok &= (fcntl(f, F_GETFD) & FD_CLOEXEC) != 0;
		close(f);
	}
	f = ask(&ib, "/etc/passwd", &err);
	printf("child: /etc/passwd: %s\n", f == -1 ? strerror(err) : "opened");
	ok &= f == -1 && err == EACCES;
	imsg_clear(&ib);
	close(fd);
	return ok ? 0 : 1;
}

int
main(int argc, char **argv)
{
	char path[] = "/tmp/imsg-fileserver-XXXXXX";
	int sv[2], f, status, rc;
	pid_t pid;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "--self-test") != 0)) {
		fprintf(stderr, "usage: imsg-fileserver [--self-test]\n");
		return 2;
	}
	if ((f = mkstemp(path)) == -1 ||
	    write(f, CONTENT, strlen(CONTENT)) != (ssize_t)strlen(CONTENT)) {
		perror("imsg-fileserver: mkstemp");
		return 1;
	}
	close(f);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
	    (pid = fork()) == -1) {
		perror("imsg-fileserver: socketpair/fork");
		unlink(path);
		return 1;
	}
	if (pid == 0) {
		close(sv[0]);
		rc = child(sv[1], path);
		fflush(stdout);
		_exit(rc);
	}
	close(sv[1]);
	rc = parent(sv[0], path);
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		rc = 1;
	unlink(path);
	printf("imsg-fileserver: %s\n", rc == 0 ? "ok" : "FAILED");
	return rc;
}
