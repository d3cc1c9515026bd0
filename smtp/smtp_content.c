/*
 * smtp_content.c - stream a message body from its queue file to the server.
 *
 * The queue file holds the content byte for byte as received (CRLF line
 * endings). It is read in CONTENT_CHUNK pieces (fdio_pread_upto) only while the
 * session's output buffer is below its high-water mark, so a large message
 * never sits in memory. Each piece is dot-stuffed on the way (RFC 5321
 * 4.5.2): a '.' at the start of a line is doubled. A line starts at the
 * beginning of the content and after every LF, so a server that ends lines
 * at a bare LF cannot see a premature end of data either. Nothing else is
 * changed, except that CRLF is added when the content does not end with
 * one, before the terminating ".\r\n".
 *
 * Memory: the chunk buffer is static (one process, one thread); the output
 * evbuffer belongs to the caller. The queue file descriptor is borrowed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "fdio.h"
#include "smtp.h"

#define CONTENT_CHUNK (64 * 1024)

void smtp_content_init(struct smtp_content *c, int fd, off_t offset, off_t size)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->next = offset;
    c->end = offset + size;
    c->at_bol = 1;
}

/* Dot-stuff `len` bytes of `in` onto `out` (at_bol carries across calls). */
static void content_stuff(struct evbuffer *out, const char *in, size_t len, int *at_bol)
{
    const char *p = in;
    const char *end = in + len;

    /* Copy in spans that end just before a line-leading '.'. */
    while (p < end) {
        const char *q = p;

        if (*at_bol && *p == '.')
            evbuffer_add(out, ".", 1);
        for (;;) {
            const char *nl = memchr(q, '\n', (size_t)(end - q));

            if (nl == NULL || nl + 1 == end) {
                evbuffer_add(out, p, (size_t)(end - p));
                *at_bol = nl != NULL;
                return;
            }
            if (nl[1] == '.') {
                evbuffer_add(out, p, (size_t)(nl + 1 - p));
                *at_bol = 1;
                p = nl + 1;
                break;
            }
            q = nl + 1;
        }
    }
}

static void remember_tail(struct smtp_content *c, const char *buf, size_t n)
{
    if (n >= 2) {
        c->last[0] = buf[n - 2];
        c->last[1] = buf[n - 1];
    } else if (n == 1) {
        c->last[0] = c->last[1];
        c->last[1] = buf[0];
    }
}

static void finish(struct smtp_content *c, struct evbuffer *out)
{
    if (c->sent > 0 && !(c->last[0] == '\r' && c->last[1] == '\n'))
        evbuffer_add(out, "\r\n", 2);
    evbuffer_add(out, ".\r\n", 3);
    c->finished = 1;
}

int smtp_content_fill(struct smtp_content *c, struct evbuffer *out, size_t high,
                      char *err, size_t errlen)
{
    static char buf[CONTENT_CHUNK];

    if (c->finished)
        return 1;
    while (evbuffer_get_length(out) < high) {
        off_t left = c->end - c->next;
        size_t want = left > CONTENT_CHUNK ? CONTENT_CHUNK : (size_t)left;
        ssize_t n;

        if (left <= 0) {
            finish(c, out);
            return 1;
        }
        n = fdio_pread_upto(c->fd, buf, want, c->next);
        if (n < 0) {
            smtp_fmt(err, errlen, "error reading queue file: %s", strerror(errno));
            return -1;
        }
        if (n == 0) {
            smtp_fmt(err, errlen, "queue file is shorter than its content size");
            return -1;
        }
        content_stuff(out, buf, (size_t)n, &c->at_bol);
        remember_tail(c, buf, (size_t)n);
        c->next += n;
        c->sent += n;
    }
    return 0;
}
