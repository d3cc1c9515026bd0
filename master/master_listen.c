/*
 * master_listen.c - open the listening sockets of a master.cf service.
 *
 * inet: every address the host part resolves to (getaddrinfo, passive);
 * without a host, the IPv4 and IPv6 wildcards (IPv6 only where the system
 * has it). unix: queue_directory/private/NAME (mode 0600) or public/NAME
 * (0666), replacing a stale socket but never another kind of file; when
 * master runs as root the socket is given to mail_owner (without following
 * a symbolic link) so that the daemons can connect to it.
 *
 * Every descriptor is non-blocking and close-on-exec; master_spawn puts
 * them where a child expects them. The caller owns the descriptors.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "master.h"
#include "msg.h"

#define LISTEN_BACKLOG 511

static void close_all(int *fds, size_t count)
{
    for (size_t i = 0; i < count; i++)
        close(fds[i]);
}

/* One bound, listening TCP socket for `ai`; -1 with errno set. */
static int inet_one(const struct addrinfo *ai)
{
    int on = 1;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    int saved;

    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0)
        goto fail;
    if (ai->ai_family == AF_INET6
        && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0)
        goto fail;
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0)
        goto fail;
    return fd;
fail:
    saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

static int inet_open(const struct master_cf_entry *ent, int *fds, size_t max,
                     size_t *count, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char port[16];
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", ent->port);
    rc = getaddrinfo(ent->host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", ent->service, gai_strerror(rc));
        return -1;
    }
    *count = 0;
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd;

        if (*count >= max) {
            snprintf(err, errlen, "cannot listen on %s: more than %zu addresses",
                     ent->service, max);
            goto fail;
        }
        fd = inet_one(ai);
        if (fd >= 0) {
            fds[(*count)++] = fd;
            continue;
        }
        /* Without a host, a system without IPv6 still listens on IPv4. */
        if (ent->host == NULL && ai->ai_family == AF_INET6
            && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {
            msg_debug("%s: no IPv6 listener: %s", ent->service, strerror(errno));
            continue;
        }
        snprintf(err, errlen, "cannot listen on %s (%s): %s", ent->service,
                 ai->ai_family == AF_INET6 ? "IPv6" : "IPv4", strerror(errno));
        goto fail;
    }
    freeaddrinfo(res);
    if (*count == 0) {
        snprintf(err, errlen, "cannot listen on %s: no usable address", ent->service);
        return -1;
    }
    return 0;
fail:
    freeaddrinfo(res);
    close_all(fds, *count);
    *count = 0;
    return -1;
}

/* Remove an old socket at dir/name; anything else there is an error. */
static int unix_clear(int dirfd, const char *name, const char *path, char *err, size_t errlen)
{
    struct stat st;

    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "cannot listen on %s: it exists and is not a socket", path);
        return -1;
    }
    if (unlinkat(dirfd, name, 0) < 0) {
        snprintf(err, errlen, "cannot remove old socket %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int unix_open(const struct master_cf_entry *ent, const char *path, int *fd_out,
                     char *err, size_t errlen)
{
    int public = master_cf_flag(ent->private_flag, 1) == 0;
    const char *dir = public ? "public" : "private";
    mode_t mode = public ? 0666 : 0600;
    struct sockaddr_un sun;
    int dirfd, fd = -1;
    mode_t old_mask;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "cannot listen on %s: path too long", path);
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd < 0) {
        snprintf(err, errlen, "cannot open directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (unix_clear(dirfd, ent->service, path, err, errlen) < 0)
        goto fail;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on %s: socket: %s", path, strerror(errno));
        goto fail;
    }
    old_mask = umask(0777 & ~mode);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        umask(old_mask);
        snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
        goto fail;
    }
    umask(old_mask);
    /* The umask gave the socket its mode; as root, give it to mail_owner. */
    if (master_state.is_root
        && fchownat(dirfd, ent->service, master_state.uid, master_state.gid,
                    AT_SYMLINK_NOFOLLOW) < 0) {
        snprintf(err, errlen, "cannot give %s to mail_owner: %s", path, strerror(errno));
        goto fail;
    }
    if (listen(fd, LISTEN_BACKLOG) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
        goto fail;
    }
    close(dirfd);
    *fd_out = fd;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    close(dirfd);
    return -1;
}

int master_listen_open(const struct master_cf_entry *ent, const char *unix_path,
                       int *fds, size_t max, size_t *count, char *err, size_t errlen)
{
    *count = 0;
    if (ent->type == MASTER_CF_INET)
        return inet_open(ent, fds, max, count, err, errlen);
    if (max < 1 || unix_open(ent, unix_path, &fds[0], err, errlen) < 0)
        return -1;
    *count = 1;
    return 0;
}
