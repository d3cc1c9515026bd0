/*
 * showq_out.c - showq's output stream to its client, and the two ways a
 * hostile string is printed: for a terminal and inside JSON.
 *
 * Output collects in a strbuf of about SHOWQ_OUT_BUFSIZE bytes and goes out
 * through fdio_write_some (poll while the socket is full, at most `timeout`
 * seconds per wait). The buffer is flushed when it holds SHOWQ_OUT_BUFSIZE
 * bytes, and by showq_out_tick() whenever data has waited
 * SHOWQ_OUT_LATENCY_MS, so the first lines of a long listing leave at once.
 * Once a write fails (the client went away, e.g. "postqueue -p | head") the
 * stream is marked failed and drops everything after.
 *
 * Terminal text (showq_out_text): bytes below 0x20, DEL, UTF-8 encoded C1
 * controls (U+0080..U+009F) and bytes that are not part of well-formed
 * UTF-8 (lib/util/utf8.h) are printed as '?', so an address cannot move
 * the cursor or forge lines.
 *
 * JSON strings (showq_out_json): lib/util/json.h's json_quote, written
 * straight into the stream's buffer, with its one rule for bytes that are
 * not UTF-8 (\u00XX of the byte's value). Every line is therefore valid
 * JSON in UTF-8 whatever the queue holds.
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
#include "fdio.h"
#include "json.h"
#include "showq.h"
#include "strbuf.h"
#include "utf8.h"

void showq_out_init(struct showq_out *out, int fd, int timeout)
{
    memset(out, 0, sizeof(*out));
    out->fd = fd;
    out->timeout = timeout;
    strbuf_init(&out->buf);
    strbuf_reserve(&out->buf, SHOWQ_OUT_BUFSIZE);
}

void showq_out_free(struct showq_out *out)
{
    strbuf_free(&out->buf);
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

/* Write all of data, waiting while the socket is full; 0 ok, -1 error. */
static int write_all(struct showq_out *out, const char *data, size_t len)
{
    for (;;) {
        ssize_t n = fdio_write_some(out->fd, data, len);

        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
        if (len == 0)
            return 0;
        if (wait_writable(out->fd, out->timeout) < 0)
            return -1;
    }
}

int showq_out_flush(struct showq_out *out)
{
    if (out->failed)
        return -1;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &out->last_flush);
    if (strbuf_len(&out->buf) == 0)
        return 0;
    if (write_all(out, strbuf_str(&out->buf), strbuf_len(&out->buf)) < 0) {
        out->failed = 1;
        strbuf_reset(&out->buf);
        return -1;
    }
    strbuf_reset(&out->buf);
    return 0;
}

void showq_out_tick(struct showq_out *out)
{
    struct timespec now;
    long ms;

    if (strbuf_len(&out->buf) == 0 || out->failed)
        return;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    ms = (now.tv_sec - out->last_flush.tv_sec) * 1000L
         + (now.tv_nsec - out->last_flush.tv_nsec) / 1000000L;
    if (ms >= SHOWQ_OUT_LATENCY_MS || out->last_flush.tv_sec == 0)
        showq_out_flush(out);
}

void showq_out_put(struct showq_out *out, const char *data, size_t len)
{
    struct strbuf *sb = &out->buf;

    if (out->failed)
        return;
    if (sb->len + len > SHOWQ_OUT_BUFSIZE && showq_out_flush(out) < 0)
        return;
    if (len > SHOWQ_OUT_BUFSIZE) {
        if (write_all(out, data, len) < 0)
            out->failed = 1;
        return;
    }
    /*
     * The hot path of every listing, so without strbuf_add's checks: the
     * buffer was given room for SHOWQ_OUT_BUFSIZE bytes and a NUL at init
     * (strbufs never shrink), and it holds at most that many now.
     */
    memcpy(sb->data + sb->len, data, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
}

void showq_out_str(struct showq_out *out, const char *str)
{
    showq_out_put(out, str, strlen(str));
}

void showq_out_printf(struct showq_out *out, const char *fmt, ...)
{
    va_list ap;

    if (out->failed)
        return;
    va_start(ap, fmt);
    strbuf_vprintf(&out->buf, fmt, ap);
    va_end(ap);
    if (strbuf_len(&out->buf) >= SHOWQ_OUT_BUFSIZE)
        showq_out_flush(out);
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
        n = utf8_char_len(p + i, len - i);
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
    if (out->failed)
        return;
    json_quote(&out->buf, data, len);
    if (out->buf.len >= SHOWQ_OUT_BUFSIZE)
        showq_out_flush(out);
}
