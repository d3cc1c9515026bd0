/*
 * showq_out.c - showq's output stream to its client, and the two ways a
 * hostile string is printed: for a terminal and inside JSON.
 *
 * Output collects in one 64 KB buffer and goes out with write(2) in a loop
 * (poll while the socket is full, at most `timeout` seconds per wait). The
 * buffer is flushed when full, and by showq_out_tick() whenever data has
 * waited SHOWQ_OUT_LATENCY_MS, so the first lines of a long listing leave at
 * once.
 * Once a write fails (the client went away, e.g. "postqueue -p | head") the
 * stream is marked failed and drops everything after.
 *
 * Terminal text (showq_out_text): bytes below 0x20, DEL, UTF-8 encoded C1
 * controls (U+0080..U+009F) and bytes that are not part of valid UTF-8 are
 * printed as '?', so an address cannot move the cursor or forge lines.
 *
 * JSON strings (showq_out_json): '"' and '\' are escaped; \b \f \n \r \t get
 * their short forms; other control characters and DEL are \u00XX; valid UTF-8 is
 * copied as is; a byte that is not part of valid UTF-8 becomes \u00XX with
 * XX its own value (so it reads back as the ISO-8859-1 character of that
 * byte). Every line is therefore valid JSON in UTF-8 whatever the queue
 * holds.
 *
 * Memory: the stream owns its buffer (showq_out_free); never the descriptor.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "showq.h"

void showq_out_init(struct showq_out *out, int fd, int timeout)
{
    memset(out, 0, sizeof(*out));
    out->fd = fd;
    out->timeout = timeout;
    out->cap = SHOWQ_OUT_BUFSIZE;
    out->buf = xmalloc(out->cap);
}

void showq_out_free(struct showq_out *out)
{
    out->buf = xfree(out->buf);
    out->len = out->cap = 0;
}

/* Wait until fd is writable; 0 ok, -1 timeout or error. */
static int wait_writable(int fd, int timeout)
{
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };

    for (;;) {
        int n = poll(&pfd, 1, timeout > 0 ? timeout * 1000 : -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        return 0;
    }
}

static int write_all(struct showq_out *out, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(out->fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_writable(out->fd, out->timeout) < 0)
                return -1;
            continue;
        }
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int showq_out_flush(struct showq_out *out)
{
    if (out->failed)
        return -1;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &out->last_flush);
    if (out->len == 0)
        return 0;
    if (write_all(out, out->buf, out->len) < 0) {
        out->failed = 1;
        out->len = 0;
        return -1;
    }
    out->len = 0;
    return 0;
}

void showq_out_tick(struct showq_out *out)
{
    struct timespec now;
    long ms;

    if (out->len == 0 || out->failed)
        return;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    ms = (now.tv_sec - out->last_flush.tv_sec) * 1000L
         + (now.tv_nsec - out->last_flush.tv_nsec) / 1000000L;
    if (ms >= SHOWQ_OUT_LATENCY_MS || out->last_flush.tv_sec == 0)
        showq_out_flush(out);
}

void showq_out_put(struct showq_out *out, const char *data, size_t len)
{
    if (out->failed)
        return;
    if (out->len + len > out->cap && showq_out_flush(out) < 0)
        return;
    if (len > out->cap) {
        if (write_all(out, data, len) < 0)
            out->failed = 1;
        return;
    }
    memcpy(out->buf + out->len, data, len);
    out->len += len;
}

void showq_out_str(struct showq_out *out, const char *str)
{
    showq_out_put(out, str, strlen(str));
}

void showq_out_printf(struct showq_out *out, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line)) {
        char *big = xmalloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        showq_out_put(out, big, (size_t)n);
        xfree(big);
        return;
    }
    showq_out_put(out, line, (size_t)n);
}

/*
 * Length of the valid UTF-8 sequence at p (1..4), or 0 when the bytes there
 * are not one (overlong forms, surrogates, beyond U+10FFFF, truncated).
 */
static size_t utf8_len(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t need;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (left < need || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return need;
}

/* A UTF-8 encoded C1 control character (U+0080..U+009F)? */
static int is_c1(const unsigned char *p, size_t n)
{
    return n == 2 && p[0] == 0xC2 && p[1] < 0xA0;
}

/* Call emit(ctx, bytes, n) for runs of printable text, with '?' in place
 * of each unsafe character; returns the number of characters. */
static size_t text_walk(const char *data, size_t len,
                        void (*emit)(void *, const char *, size_t), void *ctx)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t i = 0, run = 0, chars = 0;

    while (i < len) {
        size_t n;
        int bad;

        /* Printable ASCII, the common case. */
        if (p[i] >= 0x20 && p[i] < 0x7f) {
            i++;
            chars++;
            continue;
        }
        n = utf8_len(p + i, len - i);
        bad = n == 0 || n == 1 || is_c1(p + i, n);
        chars++;
        if (!bad) {
            i += n;
            continue;
        }
        if (emit) {
            if (i > run)
                emit(ctx, data + run, i - run);
            emit(ctx, "?", 1);
        }
        i += n ? n : 1;
        run = i;
    }
    if (emit && len > run)
        emit(ctx, data + run, len - run);
    return chars;
}

static void emit_out(void *ctx, const char *data, size_t len)
{
    showq_out_put(ctx, data, len);
}

void showq_out_text(struct showq_out *out, const char *data, size_t len)
{
    text_walk(data, len, emit_out, out);
}

size_t showq_out_text_width(const char *data, size_t len)
{
    return text_walk(data, len, NULL, NULL);
}

void showq_out_spaces(struct showq_out *out, size_t n)
{
    static const char spaces[] = "                                                                ";

    while (n > 0) {
        size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
        showq_out_put(out, spaces, k);
        n -= k;
    }
}

void showq_out_text_pad(struct showq_out *out, const char *data, size_t len, int width)
{
    size_t w = showq_out_text_width(data, len);
    size_t want = width < 0 ? (size_t)-width : (size_t)width;
    size_t pad = w < want ? want - w : 0;

    if (width > 0)
        showq_out_spaces(out, pad);
    showq_out_text(out, data, len);
    if (width < 0)
        showq_out_spaces(out, pad);
}

void showq_out_json(struct showq_out *out, const char *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t i = 0, run = 0;

    showq_out_put(out, "\"", 1);
    while (i < len) {
        unsigned char c = p[i];
        size_t n = utf8_len(p + i, len - i);
        char esc[8];
        const char *rep = NULL;

        if (n > 1) {
            i += n;
            continue;
        }
        if (n == 1 && c >= 0x20 && c != 0x7f && c != '"' && c != '\\') {
            i++;
            continue;
        }
        switch (c) {
        case '"': rep = "\\\""; break;
        case '\\': rep = "\\\\"; break;
        case '\b': rep = "\\b"; break;
        case '\f': rep = "\\f"; break;
        case '\n': rep = "\\n"; break;
        case '\r': rep = "\\r"; break;
        case '\t': rep = "\\t"; break;
        default:
            snprintf(esc, sizeof(esc), "\\u%04X", c);
            rep = esc;
            break;
        }
        if (i > run)
            showq_out_put(out, data + run, i - run);
        showq_out_str(out, rep);
        i++;
        run = i;
    }
    if (len > run)
        showq_out_put(out, data + run, len - run);
    showq_out_put(out, "\"", 1);
}
