/*
 * attr.c - read and write attribute messages (see attr.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "alloc.h"
#include "attr.h"

void attr_msg_init(struct attr_msg *msg)
{
    memset(msg, 0, sizeof(*msg));
}

void attr_msg_reset(struct attr_msg *msg)
{
    for (size_t i = 0; i < msg->count; i++) {
        xfree(msg->attrs[i].name);
        xfree(msg->attrs[i].value);
    }
    msg->count = 0;
    msg->pending_binary = 0;
    msg->pending_len = 0;
    msg->bytes = 0;
}

void attr_msg_free(struct attr_msg *msg)
{
    attr_msg_reset(msg);
    msg->attrs = xfree(msg->attrs);
    msg->cap = 0;
}

static void err_set(char *err, size_t errlen, const char *text, const char *detail)
{
    if (err && errlen)
        snprintf(err, errlen, "%s%s%s", text, detail ? ": " : "", detail ? detail : "");
}

static int name_ok(const char *name, size_t len)
{
    if (len == 0 || len > ATTR_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

static struct attr *attr_append(struct attr_msg *msg, const char *name, size_t name_len)
{
    struct attr *a;

    msg->attrs = xgrow(msg->attrs, &msg->cap, msg->count + 1, sizeof(*msg->attrs));
    a = &msg->attrs[msg->count++];
    a->name = xstrndup(name, name_len);
    a->value = NULL;
    a->len = 0;
    return a;
}

/* Parse one text line (without '\n'). Returns 1 end-of-message, 0 ok, -1 error. */
static int take_line(struct attr_msg *msg, char *line, size_t len, char *err, size_t errlen)
{
    char *sep;
    struct attr *a;

    if (len == 0)
        return 1;
    if (msg->count >= ATTR_COUNT_MAX) {
        err_set(err, errlen, "too many attributes", NULL);
        return -1;
    }
    sep = memchr(line, '=', len);
    {
        char *hash = memchr(line, '#', len);
        if (hash && (sep == NULL || hash < sep)) {
            char *end;
            unsigned long n;
            if (!name_ok(line, (size_t)(hash - line))) {
                err_set(err, errlen, "bad attribute name", NULL);
                return -1;
            }
            errno = 0;
            n = strtoul(hash + 1, &end, 10);
            if (end == hash + 1 || end != line + len || errno || n > ATTR_DATA_MAX) {
                err_set(err, errlen, "bad binary attribute length", NULL);
                return -1;
            }
            attr_append(msg, line, (size_t)(hash - line));
            msg->pending_binary = 1;
            msg->pending_len = n;
            return 0;
        }
    }
    if (sep == NULL || !name_ok(line, (size_t)(sep - line))) {
        err_set(err, errlen, "malformed attribute line", NULL);
        return -1;
    }
    if (memchr(line, '\0', len) || memchr(line, '\r', len)) {
        err_set(err, errlen, "control character in attribute", NULL);
        return -1;
    }
    a = attr_append(msg, line, (size_t)(sep - line));
    a->len = len - (size_t)(sep - line) - 1;
    a->value = xstrndup(sep + 1, a->len);
    return 0;
}

int attr_read_evbuffer(struct evbuffer *in, struct attr_msg *msg, char *err, size_t errlen)
{
    for (;;) {
        if (msg->pending_binary) {
            struct attr *a = &msg->attrs[msg->count - 1];
            size_t need = msg->pending_len + 1;
            unsigned char nl;
            if (evbuffer_get_length(in) < need)
                return 0;
            a->value = xmalloc(msg->pending_len + 1);
            evbuffer_remove(in, a->value, msg->pending_len);
            a->value[msg->pending_len] = '\0';
            a->len = msg->pending_len;
            evbuffer_remove(in, &nl, 1);
            if (nl != '\n') {
                err_set(err, errlen, "binary attribute not followed by newline", NULL);
                return -1;
            }
            msg->bytes += need;
            msg->pending_binary = 0;
            continue;
        }
        {
            struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
            char line[ATTR_LINE_MAX + 1];
            size_t len;
            int rc;

            if (eol.pos < 0) {
                if (evbuffer_get_length(in) > ATTR_LINE_MAX) {
                    err_set(err, errlen, "attribute line too long", NULL);
                    return -1;
                }
                return 0;
            }
            len = (size_t)eol.pos;
            if (len > ATTR_LINE_MAX) {
                err_set(err, errlen, "attribute line too long", NULL);
                return -1;
            }
            evbuffer_remove(in, line, len);
            evbuffer_drain(in, 1);
            line[len] = '\0';
            msg->bytes += len + 1;
            rc = take_line(msg, line, len, err, errlen);
            if (rc != 0)
                return rc;
        }
    }
}

static long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int attr_read_fd(int fd, struct attr_msg *msg, int timeout, char *err, size_t errlen)
{
    struct evbuffer *in = evbuffer_new();
    long deadline = timeout > 0 ? ms_now() + timeout * 1000L : 0;
    int rc = -1;
    int got_any = 0;

    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        long wait_ms = -1;
        int n;

        rc = attr_read_evbuffer(in, msg, err, errlen);
        if (rc != 0)
            break;
        if (deadline) {
            wait_ms = deadline - ms_now();
            if (wait_ms <= 0) {
                err_set(err, errlen, "timeout reading reply", NULL);
                rc = -1;
                break;
            }
        }
        n = poll(&pfd, 1, (int)wait_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err_set(err, errlen, n == 0 ? "timeout reading reply" : "poll failed", NULL);
            rc = -1;
            break;
        }
        n = evbuffer_read(in, fd, 65536);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            if (n == 0 && !got_any) {
                rc = 0;
            } else {
                err_set(err, errlen, n == 0 ? "unexpected end of input" : "read failed",
                        n == 0 ? NULL : strerror(errno));
                rc = -1;
            }
            break;
        }
        got_any = 1;
    }
    /* Anything left over (pipelined data) is not expected by blocking users. */
    evbuffer_free(in);
    return rc;
}

void attr_put_str(struct evbuffer *out, const char *name, const char *value)
{
    evbuffer_add_printf(out, "%s=%s\n", name, value ? value : "");
}

void attr_put_long(struct evbuffer *out, const char *name, long value)
{
    evbuffer_add_printf(out, "%s=%ld\n", name, value);
}

void attr_put_data(struct evbuffer *out, const char *name, const void *data, size_t len)
{
    evbuffer_add_printf(out, "%s#%zu\n", name, len);
    evbuffer_add(out, data, len);
    evbuffer_add(out, "\n", 1);
}

void attr_put_end(struct evbuffer *out)
{
    evbuffer_add(out, "\n", 1);
}

int attr_write_fd(int fd, struct evbuffer *buf, int timeout)
{
    long deadline = timeout > 0 ? ms_now() + timeout * 1000L : 0;

    while (evbuffer_get_length(buf) > 0) {
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        long wait_ms = -1;
        int n;

        if (deadline) {
            wait_ms = deadline - ms_now();
            if (wait_ms <= 0)
                return -1;
        }
        n = poll(&pfd, 1, (int)wait_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        n = evbuffer_write(buf, fd);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return -1;
    }
    return 0;
}

const struct attr *attr_find_nth(const struct attr_msg *msg, const char *name, size_t nth)
{
    for (size_t i = 0; i < msg->count; i++)
        if (strcmp(msg->attrs[i].name, name) == 0 && nth-- == 0)
            return &msg->attrs[i];
    return NULL;
}

const struct attr *attr_find(const struct attr_msg *msg, const char *name)
{
    return attr_find_nth(msg, name, 0);
}

const char *attr_get(const struct attr_msg *msg, const char *name)
{
    const struct attr *a = attr_find(msg, name);
    return a ? a->value : NULL;
}

int attr_get_long(const struct attr_msg *msg, const char *name, long *value)
{
    const char *text = attr_get(msg, name);
    char *end;

    if (text == NULL || *text == '\0')
        return -1;
    errno = 0;
    *value = strtol(text, &end, 10);
    return (*end || errno) ? -1 : 0;
}

size_t attr_count(const struct attr_msg *msg, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < msg->count; i++)
        if (strcmp(msg->attrs[i].name, name) == 0)
            n++;
    return n;
}

static int in_list(const char *const *list, const char *name)
{
    for (; list && *list; list++)
        if (strcmp(*list, name) == 0)
            return 1;
    return 0;
}

int attr_check(const struct attr_msg *msg, const char *const *required,
               const char *const *optional, const char *const *repeated,
               char *err, size_t errlen)
{
    for (const char *const *r = required; r && *r; r++) {
        if (attr_count(msg, *r) != 1) {
            err_set(err, errlen, attr_count(msg, *r) ? "duplicate attribute"
                    : "missing attribute", *r);
            return -1;
        }
    }
    for (size_t i = 0; i < msg->count; i++) {
        const char *name = msg->attrs[i].name;
        if (in_list(required, name) || in_list(repeated, name))
            continue;
        if (!in_list(optional, name)) {
            err_set(err, errlen, "unexpected attribute", name);
            return -1;
        }
        if (attr_count(msg, name) > 1) {
            err_set(err, errlen, "duplicate attribute", name);
            return -1;
        }
    }
    return 0;
}

int attr_value_ok(const char *value)
{
    return strpbrk(value, "\r\n") == NULL;
}
