/*
 * sock.h - small socket helpers shared by daemons and tools.
 *
 * All descriptors returned are close-on-exec. Success convention: a
 * descriptor >= 0, or -1 with errno set. No memory is owned.
 */
#ifndef POSTERN_SOCK_H
#define POSTERN_SOCK_H

#include <sys/socket.h>

int sock_nonblock(int fd);
/* Connect to a UNIX socket path (relative to the current directory). With
 * nonblock, the socket is non-blocking from the start: a full backlog gives
 * -1 with errno EAGAIN instead of blocking. */
int sock_unix_connect(const char *path, int nonblock);
/* Listen on a UNIX socket path, replacing a stale one; mode applied with chmod. */
int sock_unix_listen(const char *path, int mode, int backlog);
/* Format a peer address as "1.2.3.4" / "::1" and its port. */
void sock_addr_text(const struct sockaddr *sa, char *host, size_t hostlen, int *port);

#endif
