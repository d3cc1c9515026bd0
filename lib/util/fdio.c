/*
 * fdio.c - whole reads and writes, directory fsync (see fdio.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "fdio.h"
#include "strbuf.h"

#define FDIO_READ_CHUNK 65536

/*
 * write() or, at off >= 0, pwrite() until len bytes are out; with
 * some_is_enough, stop early when a non-blocking descriptor is full. The
 * bytes written, or -1.
 */
static ssize_t write_loop(int fd, const void *buf, size_t len, off_t off, int some_is_enough)
{
    const char *p = buf;
    size_t done = 0;

    while (done < len) {
        ssize_t n = off < 0 ? write(fd, p + done, len - done)
                            : pwrite(fd, p + done, len - done, off + (off_t)done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && some_is_enough && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        done += (size_t)n;
    }
    return (ssize_t)done;
}

ssize_t fdio_write_some(int fd, const void *buf, size_t len)
{
    return write_loop(fd, buf, len, -1, 1);
}

int fdio_write_all(int fd, const void *buf, size_t len)
{
    return write_loop(fd, buf, len, -1, 0) < 0 ? -1 : 0;
}

int fdio_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
    if (off < 0) {
        errno = EINVAL;
        return -1;
    }
    return write_loop(fd, buf, len, off, 0) < 0 ? -1 : 0;
}

/* read() or, at off >= 0, pread() until len bytes or end of file. */
static ssize_t read_upto(int fd, void *buf, size_t len, off_t off)
{
    char *p = buf;
    size_t done = 0;

    while (done < len) {
        ssize_t n = off < 0 ? read(fd, p + done, len - done)
                            : pread(fd, p + done, len - done, off + (off_t)done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

ssize_t fdio_read_all(int fd, void *buf, size_t len)
{
    return read_upto(fd, buf, len, -1);
}

ssize_t fdio_pread_upto(int fd, void *buf, size_t len, off_t off)
{
    if (off < 0) {
        errno = EINVAL;
        return -1;
    }
    return read_upto(fd, buf, len, off);
}

int fdio_pread_all(int fd, void *buf, size_t len, off_t off)
{
    ssize_t n = fdio_pread_upto(fd, buf, len, off);

    if (n < 0)
        return -1;
    if ((size_t)n < len) {
        errno = EIO;
        return -1;
    }
    return 0;
}

int fdio_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int saved;

    if (fd < 0)
        return -1;
    if (fsync(fd) < 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return close(fd);
}

int fdio_fsync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    int rc, saved;

    if (slash == NULL)
        return fdio_fsync_dir(".");
    if (slash == path)
        return fdio_fsync_dir("/");
    dir = xstrndup(path, (size_t)(slash - path));
    rc = fdio_fsync_dir(dir);
    saved = errno;
    xfree(dir);
    errno = saved;
    return rc;
}

/* Read fd to its end into sb, failing with EFBIG past max bytes. */
static int read_to_end(int fd, size_t max, struct strbuf *sb)
{
    for (;;) {
        ssize_t n;

        strbuf_reserve(sb, FDIO_READ_CHUNK);
        n = read(fd, sb->data + sb->len, sb->cap - sb->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        sb->len += (size_t)n;
        if (sb->len > max) {
            errno = EFBIG;
            return -1;
        }
    }
    sb->data[sb->len] = '\0';
    return 0;
}

int fdio_read_file(const char *path, size_t max, char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct strbuf sb = STRBUF_INIT;
    struct stat st;
    int saved;

    *data = NULL;
    *len = 0;
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0)
        goto fail;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        goto fail;
    }
    if ((unsigned long long)st.st_size > max) {
        errno = EFBIG;
        goto fail;
    }
    strbuf_reserve(&sb, (size_t)st.st_size + 1);
    if (read_to_end(fd, max, &sb) < 0)
        goto fail;
    close(fd);
    *len = strbuf_len(&sb);
    *data = strbuf_detach(&sb);
    return 0;
fail:
    saved = errno;
    strbuf_free(&sb);
    close(fd);
    errno = saved;
    return -1;
}
