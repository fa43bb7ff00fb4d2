/* SPDX-License-Identifier: ISC */
/* Constants newer than the build host's libc headers, and platform gaps. */
#ifndef FDMSG_COMPAT_H
#define FDMSG_COMPAT_H

#include <sys/socket.h>

#ifdef __linux__
/* Linux uapi values (asm-generic/socket.h); older glibc lacks them.  The
 * kernel answers ENOPROTOOPT where it does not know one. */
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif
#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif
#define FDMSG_HAVE_SCM_CREDENTIALS 1
#define FDMSG_HAVE_ABSTRACT 1
#endif

#ifndef MSG_CMSG_CLOEXEC
#define MSG_CMSG_CLOEXEC 0 /* macOS: set FD_CLOEXEC by hand after recvmsg */
#define FDMSG_NO_MSG_CMSG_CLOEXEC 1
#endif

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS: SO_NOSIGPIPE is set on the socket instead */
#endif

#ifdef __APPLE__
#define FDMSG_DEFAULT_SOCK_TYPE SOCK_STREAM
#else
#define FDMSG_DEFAULT_SOCK_TYPE SOCK_SEQPACKET
#endif

#endif
