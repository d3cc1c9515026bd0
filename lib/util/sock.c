/*
 * sock.c - socket helpers (see sock.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "sock.h"

int sock_nonblock(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static int unix_addr(const char *path, struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun->sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sun->sun_path, path);
    return 0;
}

int sock_unix_connect(const char *path, int nonblock)
{
    struct sockaddr_un sun;
    int fd;

    if (unix_addr(path, &sun) < 0)
        return -1;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0)
        return -1;
    /*
     * A non-blocking UNIX connect succeeds or fails at once; it fails with
     * EAGAIN when the server's backlog is full (a blocking one would hang).
     */
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int sock_unix_listen(const char *path, int mode, int backlog)
{
    struct sockaddr_un sun;
    int fd;

    if (unix_addr(path, &sun) < 0)
        return -1;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (unlink(path) < 0 && errno != ENOENT)
        goto fail;
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
        goto fail;
    if (chmod(path, (mode_t)mode) < 0 || listen(fd, backlog) < 0)
        goto fail;
    return fd;
fail:
    {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return -1;
}

void sock_addr_text(const struct sockaddr *sa, char *host, size_t hostlen, int *port)
{
    *port = 0;
    snprintf(host, hostlen, "unknown");
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, host, (socklen_t)hostlen);
        *port = ntohs(sin->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, (socklen_t)hostlen);
        *port = ntohs(sin6->sin6_port);
    } else if (sa->sa_family == AF_UNIX) {
        snprintf(host, hostlen, "local");
    }
}
