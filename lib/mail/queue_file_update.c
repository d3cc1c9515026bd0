/*
 * queue_file_update.c - qmgr's changes to a queue file (format in
 * queue_file.h): a recipient's state byte rewritten in place (one pwrite,
 * so the change is atomic) and D records appended after a deferral. No
 * fsync here: the caller batches it.
 *
 * Memory: nothing is allocated.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsn.h"
#include "fdio.h"
#include "queue_file_private.h"

int queue_file_mark(int fd, struct qf_rcpt *rcpt, enum qf_rcpt_state state)
{
    char buf[3], c = (char)state;

    if (rcpt == NULL || !qf_rcpt_state_ok(c) || rcpt->state_offset < QF_Z_OFFSET + 2
        || qf_fd_is_append(fd)) {
        errno = EINVAL;
        return -1;
    }
    if (fdio_pread_all(fd, buf, 3, rcpt->state_offset - 2) < 0)
        return -1;
    if (buf[0] != 'R' || buf[1] != ' ' || !qf_rcpt_state_ok(buf[2])) {
        errno = EINVAL;
        return -1;
    }
    if (fdio_pwrite_all(fd, &c, 1, rcpt->state_offset) < 0)
        return -1;
    rcpt->state = c;
    return 0;
}

/*
 * If the file does not end in '\n', an earlier append was cut short: cut
 * the fragment off (it is shorter than a record and starts after the last
 * '\n'), so that the next record does not merge with it.
 */
static int cut_partial_tail(int fd, off_t *size)
{
    char buf[QF_RECORD_MAX];
    struct stat st;
    size_t n;
    char *nl;

    if (fstat(fd, &st) < 0)
        return -1;
    *size = st.st_size;
    if (st.st_size < QF_Z_OFFSET) {
        errno = EINVAL;
        return -1;
    }
    n = st.st_size < (off_t)sizeof(buf) ? (size_t)st.st_size : sizeof(buf);
    if (fdio_pread_all(fd, buf, n, st.st_size - (off_t)n) < 0)
        return -1;
    if (buf[n - 1] == '\n')
        return 0;
    nl = memrchr(buf, '\n', n);
    if (nl == NULL) {
        errno = EINVAL;                 /* not a queue file's tail */
        return -1;
    }
    *size = st.st_size - (off_t)n + (off_t)(nl - buf) + 1;
    return ftruncate(fd, *size);
}

int queue_file_append_delay(int fd, size_t index, time_t when, const char *dsn,
                            const char *reason)
{
    char line[QF_RECORD_MAX + 1];
    size_t reason_len, head_len;
    off_t size;
    int n;

    if (reason == NULL)
        reason = "";
    reason_len = strlen(reason);
    if (dsn == NULL || !dsn_valid(dsn) || index >= QF_RCPT_MAX || when < 0
        || memchr(reason, '\n', reason_len) || memchr(reason, '\r', reason_len)) {
        errno = EINVAL;
        return -1;
    }
    n = snprintf(line, sizeof(line), "D %lld %zu %s ", (long long)when, index, dsn);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        errno = EINVAL;
        return -1;
    }
    head_len = (size_t)n;
    if (reason_len > QF_RECORD_MAX - 1 - head_len)
        reason_len = QF_RECORD_MAX - 1 - head_len;      /* truncate */
    memcpy(line + head_len, reason, reason_len);
    line[head_len + reason_len] = '\n';
    if (cut_partial_tail(fd, &size) < 0)
        return -1;
    if (fdio_pwrite_all(fd, line, head_len + reason_len + 1, size) < 0) {
        int saved = errno;
        if (ftruncate(fd, size) < 0) {
            /* the reader ignores a partial last line; nothing more to do */
        }
        errno = saved;
        return -1;
    }
    return 0;
}
