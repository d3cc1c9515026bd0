/*
 * fuzz_smtpd_dot_reader.c - feed arbitrary bytes to smtpd's DATA reader
 * whole and in chunk sizes derived from the input, and check that both
 * give the same content, flags, size and end position; that un-stuffed
 * output never exceeds what was consumed; and that the size limit caps the
 * output.
 *
 * Input layout: byte 0 seeds the chunk sizes, byte 1 picks a size limit
 * (0 = none), the rest is the data stream.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd_dot_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
    char *buf;
    size_t len;
    size_t cap;
};

static void collect(void *ctx, const char *buf, size_t len)
{
    struct sink *s = ctx;

    if (len == 0 || s->len + len > s->cap)
        abort();
    memcpy(s->buf + s->len, buf, len);
    s->len += len;
}

struct run {
    struct smtpd_dot_reader d;
    struct sink out;
    size_t consumed;
};

/* Feed `in` in chunks: chunk sizes from a tiny LCG seeded with `seed`. */
static void run_feed(struct run *r, const char *in, size_t len, unsigned seed,
                     int whole, uint64_t limit)
{
    size_t pos = 0;

    smtpd_dot_reader_init(&r->d, limit);
    r->out.buf = malloc(len + 1);
    r->out.len = 0;
    r->out.cap = len;
    r->consumed = 0;
    while (pos < len && !r->d.done) {
        size_t chunk = len - pos, used;

        if (!whole) {
            seed = seed * 1103515245u + 12345u;
            chunk = 1 + (seed >> 16) % 16;
            if (chunk > len - pos)
                chunk = len - pos;
        }
        used = smtpd_dot_reader_feed(&r->d, in + pos, chunk, collect, &r->out);
        if (used > chunk || (used < chunk && !r->d.done))
            abort();
        pos += used;
        r->consumed += used;
        if (used < chunk)
            break;
        /* Invariant: un-stuffed output never exceeds the input consumed. */
        if (r->out.len > r->consumed || r->d.size > r->consumed)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run a, b;
    const char *in;
    size_t len;
    uint64_t limit;

    if (size < 2)
        return 0;
    limit = data[1] < 128 ? 0 : (uint64_t)(data[1] - 127) * 4;
    in = (const char *)data + 2;
    len = size - 2;
    run_feed(&a, in, len, 0, 1, 0);
    run_feed(&b, in, len, data[0], 0, limit);

    if (a.out.len > a.consumed || a.d.size != a.out.len)
        abort();
    if (a.consumed != b.consumed || a.d.done != b.d.done || a.d.size != b.d.size
        || a.d.bare_cr != b.d.bare_cr || a.d.bare_lf != b.d.bare_lf)
        abort();
    /* The limited run delivers a prefix of the unlimited one, capped. */
    if (limit > 0) {
        if (b.out.len != (a.out.len < limit ? a.out.len : limit)
            || b.d.over_limit != (a.d.size > limit))
            abort();
    } else if (b.out.len != a.out.len || b.d.over_limit) {
        abort();
    }
    if (memcmp(a.out.buf, b.out.buf, b.out.len) != 0)
        abort();
    /* The end of data is always right after "\r\n.\r\n" or a leading ".\r\n". */
    if (a.d.done) {
        if (a.consumed < 3 || memcmp(in + a.consumed - 3, ".\r\n", 3) != 0)
            abort();
        if (a.consumed > 3 && (a.consumed < 5 || memcmp(in + a.consumed - 5, "\r\n", 2) != 0))
            abort();
    }
    free(a.out.buf);
    free(b.out.buf);
    return 0;
}
