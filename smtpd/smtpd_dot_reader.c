/*
 * smtpd_dot_reader.c - smtpd's DATA reader as a byte-at-a-time state
 * machine: end-of-data detection, dot-unstuffing, bare CR/LF flags, size.
 *
 * The only bytes ever held back across calls are a line-initial '.' (which
 * is dropped anyway: dot-stuffing or the terminator) and a CR right after
 * it (which is either part of the terminator or content, re-emitted from a
 * constant). Everything else is passed to the callback as runs that point
 * into the caller's buffer. No memory is allocated or owned.
 */
#include "smtpd_dot_reader.h"

static const char held_cr[] = "\r";

void smtpd_dot_reader_init(struct smtpd_dot_reader *d, uint64_t limit)
{
    d->size = 0;
    d->done = 0;
    d->bare_cr = 0;
    d->bare_lf = 0;
    d->over_limit = 0;
    d->limit = limit;
    d->state = SMTPD_DOT_READER_BOL;
}

/* Count `len` content bytes and pass those within the limit to `out`. */
static void reader_emit(struct smtpd_dot_reader *d, const char *buf, size_t len,
                        smtpd_dot_reader_out_fn out, void *ctx)
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
static enum smtpd_dot_reader_state reader_after_cr(struct smtpd_dot_reader *d, unsigned char c)
{
    if (c == '\n')
        return SMTPD_DOT_READER_BOL;
    d->bare_cr = 1;
    return c == '\r' ? SMTPD_DOT_READER_CR : SMTPD_DOT_READER_TEXT;
}

/* Next state after a content byte `c` in the middle of a line. */
static enum smtpd_dot_reader_state reader_in_text(struct smtpd_dot_reader *d, unsigned char c)
{
    if (c == '\r')
        return SMTPD_DOT_READER_CR;
    if (c == '\n')
        d->bare_lf = 1;
    return SMTPD_DOT_READER_TEXT;
}

size_t smtpd_dot_reader_feed(struct smtpd_dot_reader *d, const char *buf, size_t len,
                             smtpd_dot_reader_out_fn out, void *ctx)
{
    const char *run = buf;      /* start of content not yet emitted */
    size_t i;

    if (d->state == SMTPD_DOT_READER_DONE)
        return 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];

        switch (d->state) {
        case SMTPD_DOT_READER_BOL:
            if (c == '.') {
                reader_emit(d, run, (size_t)(buf + i - run), out, ctx);
                run = buf + i + 1;
                d->state = SMTPD_DOT_READER_DOT;
            } else {
                d->state = reader_in_text(d, c);
            }
            break;
        case SMTPD_DOT_READER_TEXT:
            d->state = reader_in_text(d, c);
            break;
        case SMTPD_DOT_READER_CR:
            d->state = reader_after_cr(d, c);
            break;
        case SMTPD_DOT_READER_DOT:
            /* The '.' is gone; run == buf + i here. */
            if (c == '\r') {
                run = buf + i + 1;
                d->state = SMTPD_DOT_READER_DOT_CR;
            } else {
                d->state = reader_in_text(d, c);
            }
            break;
        case SMTPD_DOT_READER_DOT_CR:
            /* Held ".\r"; run == buf + i here. */
            if (c == '\n') {
                d->state = SMTPD_DOT_READER_DONE;
                d->done = 1;
                return i + 1;
            }
            reader_emit(d, held_cr, 1, out, ctx);
            d->state = reader_after_cr(d, c);
            break;
        case SMTPD_DOT_READER_DONE:
            return i;
        }
    }
    reader_emit(d, run, (size_t)(buf + len - run), out, ctx);
    return len;
}
