/*
 * smtpd_dot_reader.h - smtpd's DATA reader: find the end of the message,
 * undo dot-stuffing, flag bare CR / bare LF, count and limit the size.
 *
 * After smtpd has sent 354 it feeds every byte it reads from the client, in
 * chunks of any size, to smtpd_dot_reader_feed(). The reader:
 *   - ends the data ONLY at CR LF "." CR LF, or at "." CR LF as the very
 *     first bytes (empty message). "\n.\r\n", "\r.\r\n", ".\n" and
 *     "\r\n.\n" do NOT end it (they are bare LF / bare CR, see below). The
 *     CR LF before the final "." belongs to the content; ".\r\n" does not.
 *   - removes dot-stuffing: a line that starts with '.' (i.e. right after
 *     CR LF, or at the very start) loses that first '.'; "..x" becomes ".x"
 *     and a line of just ".." becomes ".". Only a CR LF starts a line: a '.'
 *     after a bare LF is content.
 *   - passes every other byte through unchanged (8-bit, long lines, CR LF
 *     kept exactly as received) via the `out` callback, in runs that point
 *     into the caller's buffer (or at a private constant "\r"). A run is
 *     never empty.
 *   - flags, without altering anything, a bare LF (LF not preceded by CR)
 *     in bare_lf and a bare CR (CR not followed by LF) in bare_cr, so that
 *     smtpd can answer "550 5.5.2 Message contains bare CR or LF" after the
 *     end of data. The byte before an LF is the previous byte received, so
 *     in ".\n" at line start the LF counts as bare.
 *   - counts content bytes (after un-stuffing) in size. With a limit > 0,
 *     once size would exceed it, over_limit is set and no more bytes are
 *     passed to `out` (exactly `limit` bytes were delivered), but reading
 *     and counting go on to the real end so that smtpd can answer
 *     "552 5.3.4 Message size exceeds fixed limit" in step with the client.
 *
 * smtpd_dot_reader_feed() returns how many bytes of the chunk it consumed.
 * That is the whole chunk until the end of data is found; the chunk that
 * holds the end is consumed up to and including the final LF of ".\r\n",
 * and the rest (pipelined commands after the message) is left to the
 * caller, who parses it as commands. After the end, done is 1 and feeds
 * consume nothing.
 *
 * Memory: constant; struct smtpd_dot_reader holds at most "." and "\r" of
 * state, nothing is allocated and nothing needs freeing. The caller owns
 * the buffers; `out` must not keep the pointer it is given past the call.
 */
#ifndef POSTERN_SMTPD_DOT_READER_H
#define POSTERN_SMTPD_DOT_READER_H

#include <stddef.h>
#include <stdint.h>

/* Receives content bytes; `len` > 0. */
typedef void (*smtpd_dot_reader_out_fn)(void *ctx, const char *buf, size_t len);

/* Where the reader is in the byte stream (private to the reader). */
enum smtpd_dot_reader_state {
    SMTPD_DOT_READER_BOL,       /* at the start of a line (start, or after CR LF) */
    SMTPD_DOT_READER_TEXT,      /* inside a line, previous byte not CR */
    SMTPD_DOT_READER_CR,        /* previous content byte was CR */
    SMTPD_DOT_READER_DOT,       /* line-initial '.' held (dropped) */
    SMTPD_DOT_READER_DOT_CR,    /* line-initial '.' then CR held */
    SMTPD_DOT_READER_DONE       /* end of data found */
};

struct smtpd_dot_reader {
    /* Results: read-only for the caller. */
    uint64_t size;              /* content bytes so far (after un-stuffing) */
    int done;                   /* the end of data was found */
    int bare_cr;                /* a CR not followed by LF was seen */
    int bare_lf;                /* an LF not preceded by CR was seen */
    int over_limit;             /* limit > 0 and size > limit */
    /* Private. */
    uint64_t limit;
    enum smtpd_dot_reader_state state;
};

/* Start reading one message; `limit` in bytes, 0 = no limit. */
void smtpd_dot_reader_init(struct smtpd_dot_reader *d, uint64_t limit);

/*
 * Feed `len` bytes at `buf` (any bytes). Calls out(ctx, ...) for content
 * bytes (`out` may be NULL to discard). Returns the number of bytes consumed
 * (< len only when the end of data was found inside this chunk; 0 when done
 * was already set).
 */
size_t smtpd_dot_reader_feed(struct smtpd_dot_reader *d, const char *buf, size_t len,
                             smtpd_dot_reader_out_fn out, void *ctx);

#endif
