/*
 * queue_file_write.c - cleanup's writer of queue files (format in
 * queue_file.h): the envelope first, then (by the caller) the content,
 * then the end marker, the sizes patched into the Z record, and an fsync.
 *
 * It refuses what the reader would refuse, so a file it completes is one
 * the reader accepts.
 *
 * Memory: the envelope is built in one growing buffer, freed before
 * returning.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "errtext.h"
#include "fdio.h"
#include "queue_file_private.h"
#include "strbuf.h"

#define Z_LINE "Z 000000000000 000000000000\n"

/* "T value\n": one record. */
static void add_record(struct strbuf *b, char type, const char *value)
{
    strbuf_printf(b, "%c %s\n", type, value);
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static int check_envelope(const struct queue_file *env, char *err, size_t errlen)
{
    const struct { const char *name; const char *value; } text[] = {
        {"sender", or_empty(env->sender)},
        {"client name", or_empty(env->client_name)},
        {"client address", or_empty(env->client_addr)},
        {"helo name", or_empty(env->helo)},
        {"message-id", or_empty(env->message_id)},
    };

    for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
        if (!queue_file_value_ok(text[i].value)) {
            errtext_set(err, errlen, "%s contains CR, LF or is too long", text[i].name);
            return -1;
        }
    }
    if (env->protocol == NULL || !qf_word_ok(env->protocol, strlen(env->protocol))) {
        errtext_set(err, errlen, "bad protocol name");
        return -1;
    }
    if (env->body_type == NULL || !qf_body_type_ok(env->body_type, strlen(env->body_type))) {
        errtext_set(err, errlen, "body type must be 7BIT or 8BITMIME");
        return -1;
    }
    if (env->arrival.tv_sec < 0 || env->arrival.tv_usec < 0
        || env->arrival.tv_usec > 999999) {
        errtext_set(err, errlen, "bad arrival time");
        return -1;
    }
    if (env->rcpt_count == 0 || env->rcpt_count > QF_RCPT_MAX || env->rcpts == NULL) {
        errtext_set(err, errlen, "recipient count %zu not in 1..%d", env->rcpt_count,
                QF_RCPT_MAX);
        return -1;
    }
    for (size_t i = 0; i < env->rcpt_count; i++) {
        const struct qf_rcpt *r = &env->rcpts[i];
        if (r->address == NULL || r->address[0] == '\0'
            || !queue_file_value_ok(r->address)) {
            errtext_set(err, errlen, "recipient %zu is empty, contains CR/LF or is too long",
                    i);
            return -1;
        }
        if (!qf_rcpt_state_ok(r->state)) {
            errtext_set(err, errlen, "recipient %zu has a bad state", i);
            return -1;
        }
    }
    return 0;
}

int queue_file_write_envelope(int fd, const struct queue_file *env,
                              char *err, size_t errlen)
{
    struct strbuf b = STRBUF_INIT;
    int rc;

    if (check_envelope(env, err, errlen) < 0) {
        errno = EINVAL;
        return -1;
    }
    strbuf_printf(&b, "%s %d\n%s", QF_MAGIC, QUEUE_FILE_VERSION, Z_LINE);
    strbuf_printf(&b, "T %lld.%06ld\n", (long long)env->arrival.tv_sec,
                  (long)env->arrival.tv_usec);
    add_record(&b, 'S', or_empty(env->sender));
    add_record(&b, 'N', or_empty(env->client_name));
    add_record(&b, 'A', or_empty(env->client_addr));
    add_record(&b, 'H', or_empty(env->helo));
    add_record(&b, 'P', env->protocol);
    add_record(&b, 'B', env->body_type);
    add_record(&b, 'I', or_empty(env->message_id));
    for (size_t i = 0; i < env->rcpt_count; i++)
        strbuf_printf(&b, "R %c %s\n", env->rcpts[i].state, env->rcpts[i].address);
    strbuf_add_str(&b, "M\n");
    rc = fdio_write_all(fd, strbuf_str(&b), strbuf_len(&b));
    if (rc < 0)
        errtext_set(err, errlen, "write envelope: %s", strerror(errno));
    strbuf_free(&b);
    return rc;
}

int queue_file_finish(int fd, off_t content_size, off_t added_size,
                      char *err, size_t errlen)
{
    char buf[64];
    off_t cur;

    if (content_size < 0 || content_size > QF_SIZE_MAX || added_size < 0
        || added_size > content_size) {
        errtext_set(err, errlen, "bad sizes: content %lld, added %lld",
                (long long)content_size, (long long)added_size);
        errno = EINVAL;
        return -1;
    }
    if (qf_fd_is_append(fd)) {
        errtext_set(err, errlen, "queue file opened with O_APPEND");
        errno = EINVAL;
        return -1;
    }
    cur = lseek(fd, 0, SEEK_CUR);
    if (cur < 0) {
        errtext_set(err, errlen, "lseek: %s", strerror(errno));
        return -1;
    }
    /* The M record must end right where the content starts. */
    if (cur - content_size < QF_Z_OFFSET + 2
        || fdio_pread_all(fd, buf, 2, cur - content_size - 2) < 0
        || memcmp(buf, "M\n", 2) != 0
        || fdio_pread_all(fd, buf, 2, QF_Z_OFFSET) < 0
        || memcmp(buf, "Z ", 2) != 0) {
        errtext_set(err, errlen, "file offset does not follow the envelope and %lld "
                "content bytes", (long long)content_size);
        errno = EINVAL;
        return -1;
    }
    if (fdio_write_all(fd, "E\n", 2) < 0) {
        errtext_set(err, errlen, "write end marker: %s", strerror(errno));
        return -1;
    }
    snprintf(buf, sizeof(buf), "%012lld %012lld", (long long)content_size,
             (long long)added_size);
    if (fdio_pwrite_all(fd, buf, 2 * QF_Z_DIGITS + 1, QF_Z_OFFSET + 2) < 0) {
        errtext_set(err, errlen, "write Z record: %s", strerror(errno));
        return -1;
    }
    if (fsync(fd) < 0) {
        errtext_set(err, errlen, "fsync: %s", strerror(errno));
        return -1;
    }
    return 0;
}
