/*
 * smtp_data.c - the server side of SMTP DATA as a byte-at-a-time state
 * machine: end-of-data detection, dot-unstuffing, bare CR/LF flags, size.
 *
 * The only bytes ever held back across calls are a line-initial '.' (which
 * is dropped anyway: dot-stuffing or the terminator) and a CR right after
 * it (which is either part of the terminator or content, re-emitted from a
 * constant). Everything else is passed to the callback as runs that point
 * into the caller's buffer. No memory is allocated or owned.
 */
#include "smtp_data.h"

enum data_state {
    DATA_BOL,       /* at the start of a line (start, or after CR LF) */
    DATA_TEXT,      /* inside a line, previous byte not CR */
    DATA_CR,        /* previous content byte was CR */
    DATA_DOT,       /* line-initial '.' held (dropped) */
    DATA_DOT_CR,    /* line-initial '.' then CR held */
    DATA_DONE       /* end of data found */
};

static const char held_cr[] = "\r";

void smtp_data_init(struct smtp_data *d, uint64_t limit)
{
    d->size = 0;
    d->done = 0;
    d->bare_cr = 0;
    d->bare_lf = 0;
    d->over_limit = 0;
    d->limit = limit;
    d->state = DATA_BOL;
}

/* Count `len` content bytes and pass those within the limit to `out`. */
static void data_emit(struct smtp_data *d, const char *buf, size_t len,
                      smtp_data_out_fn out, void *ctx)
{
    uint64_t before = d->size;
    size_t pass = len;

    if (len == 0)
        return;
    d->size += len;
    if (d->limit > 0) {
        if (before >= d->limit)
            pass = 0;
        else if (d->limit - before < (uint64_t)len)
            pass = (size_t)(d->limit - before);
        if (d->size > d->limit)
            d->over_limit = 1;
    }
    if (pass > 0 && out != NULL)
        out(ctx, buf, pass);
}

/* Next state after a content byte `c` that follows a CR. */
static int data_after_cr(struct smtp_data *d, unsigned char c)
{
    if (c == '\n')
        return DATA_BOL;
    d->bare_cr = 1;
    return c == '\r' ? DATA_CR : DATA_TEXT;
}

/* Next state after a content byte `c` in the middle of a line. */
static int data_in_text(struct smtp_data *d, unsigned char c)
{
    if (c == '\r')
        return DATA_CR;
    if (c == '\n')
        d->bare_lf = 1;
    return DATA_TEXT;
}

size_t smtp_data_feed(struct smtp_data *d, const char *buf, size_t len,
                      smtp_data_out_fn out, void *ctx)
{
    const char *run = buf;      /* start of content not yet emitted */
    size_t i;

    if (d->state == DATA_DONE)
        return 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];

        switch (d->state) {
        case DATA_BOL:
            if (c == '.') {
                data_emit(d, run, (size_t)(buf + i - run), out, ctx);
                run = buf + i + 1;
                d->state = DATA_DOT;
            } else {
                d->state = data_in_text(d, c);
            }
            break;
        case DATA_TEXT:
            d->state = data_in_text(d, c);
            break;
        case DATA_CR:
            d->state = data_after_cr(d, c);
            break;
        case DATA_DOT:
            /* The '.' is gone; run == buf + i here. */
            if (c == '\r') {
                run = buf + i + 1;
                d->state = DATA_DOT_CR;
            } else {
                d->state = data_in_text(d, c);
            }
            break;
        case DATA_DOT_CR:
            /* Held ".\r"; run == buf + i here. */
            if (c == '\n') {
                d->state = DATA_DONE;
                d->done = 1;
                return i + 1;
            }
            data_emit(d, held_cr, 1, out, ctx);
            d->state = data_after_cr(d, c);
            break;
        default:
            return i;
        }
    }
    data_emit(d, run, (size_t)(buf + len - run), out, ctx);
    return len;
}
