/*
 * smtp_reply.h - collect and check one SMTP server reply (client side).
 *
 * The smtp client feeds the reply's lines one at a time (each WITHOUT its
 * line ending) to smtp_reply_feed() until it returns 1 (reply complete) or
 * -1 (malformed). A reply is RFC 5321 4.2:
 *     *( code "-" [text] ) code [ SP text ]
 * Checks: the code is three digits, first 2-5, second 0-5, third 0-9
 * (RFC 5321 Reply-code); every line carries the same code; the character
 * after the code is '-' (more lines follow), ' ' or the end of the line
 * (last line); text bytes are TAB or 0x20-0x7e or 8-bit (8-bit bytes are
 * kept as they are; NUL and other control characters make the reply
 * malformed); at most SMTP_REPLY_LINES_MAX lines and SMTP_REPLY_LINE_MAX bytes
 * per line. On -1, p->err says why.
 *
 * Enhanced status code (RFC 2034/3463): when the first line's text starts
 * with "c.s.d" (c one digit, s and d 1-3 digits each) followed by SP or
 * the end of the text, and c equals the reply's first digit (2, 4 or 5;
 * never for 3xx), it is copied to reply.dsn. Otherwise reply.dsn is ""
 * (not an error).
 *
 * Memory: the parser owns reply.text and reply.lines (allocated with
 * xmalloc). They stay valid until smtp_reply_reset() or smtp_reply_free();
 * a caller that keeps them longer xstrdup()s them. The struct can be used
 * for any number of replies: smtp_reply_reset() between replies.
 *
 * Success convention: see each function.
 */
#ifndef POSTERN_SMTP_REPLY_H
#define POSTERN_SMTP_REPLY_H

#include <stddef.h>
#include <stdint.h>

#define SMTP_REPLY_LINES_MAX 100
#define SMTP_REPLY_LINE_MAX 2048    /* bytes per line, without CRLF */
#define SMTP_REPLY_DSN_MAX 16       /* size of reply.dsn incl. NUL */
#define SMTP_REPLY_ERR_MAX 128

struct smtp_reply {
    int code;                   /* e.g. 250; 0 until the first line */
    char dsn[SMTP_REPLY_DSN_MAX]; /* "2.1.0" or "" */
    /*
     * Joined text, for logs and bounce reasons: the text of every line
     * (after "NNN-"/"NNN "), with a leading enhanced status code equal to
     * dsn removed from each line that carries it, joined by a single SP.
     * Never contains CR or LF. Valid once the reply is complete.
     */
    char *text;
    /* The text of each line after "NNN-"/"NNN " exactly as received. */
    char **lines;
    size_t n_lines;
};

struct smtp_reply_parser {
    struct smtp_reply reply;    /* the result; read-only for the caller */
    int state;                  /* private: 0 collecting, 1 done, -1 failed */
    size_t lines_cap;           /* private */
    char err[SMTP_REPLY_ERR_MAX]; /* reason for the last -1 */
};

/* Initialise an empty parser (no allocation yet). */
void smtp_reply_init(struct smtp_reply_parser *p);

/*
 * Feed one line (no CRLF; `len` bytes, may contain any bytes). Returns
 *   0  line accepted, more lines follow ("NNN-...")
 *   1  reply complete: p->reply is filled in
 *  -1  malformed reply or limit exceeded: p->err set. The parser stays in
 *      the failed state (further feeds return -1) until smtp_reply_reset().
 * Feeding after a complete reply without smtp_reply_reset() is -1 too.
 */
int smtp_reply_feed(struct smtp_reply_parser *p, const char *line, size_t len);

/* Free what the last reply holds and get ready for the next reply. */
void smtp_reply_reset(struct smtp_reply_parser *p);

/* Free everything; the parser may be smtp_reply_init()ed again. */
void smtp_reply_free(struct smtp_reply_parser *p);

/*
 * The enhanced status code to log/report: reply->dsn when present, else
 * "2.0.0", "4.0.0" or "5.0.0" from the reply class ("" for 3xx or no code).
 * Returns a pointer into *reply or to a static string.
 */
const char *smtp_reply_status(const struct smtp_reply *reply);

/* ---- EHLO response ---- */

#define SMTP_EXT_PIPELINING         (1u << 0)
#define SMTP_EXT_SIZE               (1u << 1)
#define SMTP_EXT_8BITMIME           (1u << 2)
#define SMTP_EXT_ENHANCEDSTATUSCODES (1u << 3)
#define SMTP_EXT_STARTTLS           (1u << 4)
#define SMTP_EXT_SMTPUTF8           (1u << 5)
#define SMTP_EXT_DSN                (1u << 6)
#define SMTP_EXT_CHUNKING           (1u << 7)
#define SMTP_EXT_AUTH               (1u << 8)

struct smtp_ehlo {
    unsigned flags;             /* SMTP_EXT_* */
    uint64_t size;              /* "SIZE n": n; 0 when absent, "SIZE" alone
                                 * or "SIZE 0" (= no fixed limit) */
};

/*
 * Read the capabilities from a complete 250 reply to EHLO: lines[1..] are
 * "KEYWORD [params]" (keyword case-insensitive); lines[0] is the greeting
 * and is skipped. Unknown keywords are ignored; a SIZE value that is not
 * 1-20 digits fitting uint64_t leaves size 0 but keeps the SIZE flag.
 * Returns 0, or -1 when reply->code is not 250 (*ehlo zeroed either way).
 */
int smtp_ehlo_parse(const struct smtp_reply *reply, struct smtp_ehlo *ehlo);

#endif
