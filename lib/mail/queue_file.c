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

int qf_rcpt_state_ok(char c)
{
    return c == QF_RCPT_PENDING || c == QF_RCPT_DELIVERED || c == QF_RCPT_BOUNCED;
}

/* --- I/O loops --- */

/* pwrite on an O_APPEND fd appends on Linux: refuse such descriptors. */
int qf_fd_is_append(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl >= 0 && (fl & O_APPEND);
}
