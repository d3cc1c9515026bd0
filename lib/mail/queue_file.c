/*
 * queue_file.c - what the reader, the writer and the updater of queue
 * files share (format in queue_file.h and docs/queue-format.md): the rules
 * for record values, and the pread/pwrite loops. The reader is
 * queue_file_read.c, cleanup's writer queue_file_write.c, qmgr's changes
 * queue_file_update.c; queue_file_private.h declares what they share.
 *
 * Memory: nothing is allocated here.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "queue_file_private.h"

/* --- value rules --- */

int queue_file_value_ok(const char *value)
{
    size_t n;

    if (value == NULL)
        return 0;
    n = strnlen(value, QF_VALUE_MAX + 1);
    if (n > QF_VALUE_MAX)
        return 0;
    return memchr(value, '\n', n) == NULL && memchr(value, '\r', n) == NULL;
}

/* A protocol name: 1..32 letters, digits, '-' or '_'. */
int qf_word_ok(const char *p, size_t n)
{
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

int qf_body_type_ok(const char *p, size_t n)
{
    return (n == 4 && memcmp(p, "7BIT", 4) == 0)
           || (n == 8 && memcmp(p, "8BITMIME", 8) == 0);
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* "4.4.1": class digit 2, 4 or 5, then two groups of 1..3 digits. */
int qf_dsn_ok(const char *p, size_t n)
{
    size_t i = 0;

    if (n < 5 || n > 9 || (p[0] != '2' && p[0] != '4' && p[0] != '5') || p[1] != '.')
        return 0;
    i = 2;
    for (int group = 0; group < 2; group++) {
        size_t start = i;
        while (i < n && is_digit(p[i]))
            i++;
        if (i == start || i - start > 3)
            return 0;
        if (group == 0) {
            if (i >= n || p[i] != '.')
                return 0;
            i++;
        }
    }
    return i == n;
}

int qf_rcpt_state_ok(char c)
{
    return c == QF_RCPT_PENDING || c == QF_RCPT_DELIVERED || c == QF_RCPT_BOUNCED;
}

/* --- I/O loops --- */

/* pread exactly n bytes at off; -1 on error or a file that shrank. */
int qf_pread_full(int fd, void *buf, size_t n, off_t off)
{
    size_t done = 0;

    while (done < n) {
        ssize_t got = pread(fd, (char *)buf + done, n - done, off + (off_t)done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -1;
        if (got == 0) {
            errno = EIO;            /* shorter than fstat said */
            return -1;
        }
        done += (size_t)got;
    }
    return 0;
}

int qf_pwrite_full(int fd, const char *p, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t done = pwrite(fd, p, n, off);
        if (done < 0 && errno == EINTR)
            continue;
        if (done < 0)
            return -1;
        if (done == 0) {
            errno = EIO;
            return -1;
        }
        p += done;
        n -= (size_t)done;
        off += done;
    }
    return 0;
}

/* pwrite on an O_APPEND fd appends on Linux: refuse such descriptors. */
int qf_fd_is_append(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl >= 0 && (fl & O_APPEND);
}
