/*
 * smtp_reply.c - collect and check one SMTP server reply, line by line, and
 * read the capabilities out of an EHLO reply (client side).
 *
 * The parser owns reply.lines (one xmalloc'd string per line) and
 * reply.text (built when the last line arrives); smtp_reply_reset() and
 * smtp_reply_free() release them. See smtp_reply.h for the contract.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "smtp_reply.h"

enum {
    REPLY_COLLECTING = 0,
    REPLY_DONE = 1,
    REPLY_FAILED = -1
};

void smtp_reply_init(struct smtp_reply_parser *p)
{
    memset(p, 0, sizeof(*p));
}

void smtp_reply_reset(struct smtp_reply_parser *p)
{
    size_t i;

    for (i = 0; i < p->reply.n_lines; i++)
        p->reply.lines[i] = xfree(p->reply.lines[i]);
    p->reply.n_lines = 0;
    p->reply.text = xfree(p->reply.text);
    p->reply.code = 0;
    p->reply.dsn[0] = 0;
    p->state = REPLY_COLLECTING;
    p->err[0] = 0;
}

void smtp_reply_free(struct smtp_reply_parser *p)
{
    smtp_reply_reset(p);
    p->reply.lines = xfree(p->reply.lines);
    p->lines_cap = 0;
}

__attribute__((format(printf, 2, 3)))
static int reply_fail(struct smtp_reply_parser *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->err, sizeof(p->err), fmt, ap);
    va_end(ap);
    p->state = REPLY_FAILED;
    return -1;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Length of 1-3 digits at s, or 0. */
static size_t digits_1_3(const char *s)
{
    size_t n = 0;

    while (n < 4 && is_digit(s[n]))
        n++;
    return n <= 3 ? n : 0;
}

/*
 * Length of an enhanced status code "c.s.d" of class `cls` at the start of
 * NUL-terminated `s`, followed by SP or the end; 0 when there is none.
 */
static size_t dsn_len(const char *s, char cls)
{
    size_t i = 0, n;

    if (s[0] != cls || s[1] != '.')
        return 0;
    i = 2;
    n = digits_1_3(s + i);
    if (n == 0 || s[i + n] != '.')
        return 0;
    i += n + 1;
    n = digits_1_3(s + i);
    if (n == 0)
        return 0;
    i += n;
    if (s[i] != 0 && s[i] != ' ')
        return 0;
    return i;
}

/* Build reply.dsn and reply.text once the last line is in. */
static void reply_finish(struct smtp_reply_parser *p)
{
    struct smtp_reply *r = &p->reply;
    char cls = (char)('0' + r->code / 100);
    size_t i, total = 1, used = 0, dlen = 0;

    if (cls == '2' || cls == '4' || cls == '5')
        dlen = dsn_len(r->lines[0], cls);
    if (dlen > 0 && dlen < sizeof(r->dsn)) {
        memcpy(r->dsn, r->lines[0], dlen);
        r->dsn[dlen] = 0;
    } else {
        dlen = 0;
    }
    for (i = 0; i < r->n_lines; i++)
        total += strlen(r->lines[i]) + 1;
    r->text = xmalloc(total);
    for (i = 0; i < r->n_lines; i++) {
        const char *t = r->lines[i];
        size_t n;

        if (dlen > 0 && strncmp(t, r->dsn, dlen) == 0 && (t[dlen] == 0 || t[dlen] == ' '))
            t += dlen;
        while (*t == ' ')
            t++;
        n = strlen(t);
        if (n == 0)
            continue;
        if (used > 0)
            r->text[used++] = ' ';
        memcpy(r->text + used, t, n);
        used += n;
    }
    r->text[used] = 0;
    p->state = REPLY_DONE;
}

int smtp_reply_feed(struct smtp_reply_parser *p, const char *line, size_t len)
{
    struct smtp_reply *r = &p->reply;
    int code, last;
    size_t i;

    if (p->state == REPLY_DONE)
        return reply_fail(p, "line after the end of the reply");
    if (p->state == REPLY_FAILED)
        return -1;
    if (r->n_lines >= SMTP_REPLY_LINES_MAX)
        return reply_fail(p, "reply has more than %d lines", SMTP_REPLY_LINES_MAX);
    if (len > SMTP_REPLY_LINE_MAX)
        return reply_fail(p, "reply line longer than %d bytes", SMTP_REPLY_LINE_MAX);
    if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5'
        || !is_digit(line[2]))
        return reply_fail(p, "reply line does not start with a valid code");
    code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (r->n_lines > 0 && code != r->code)
        return reply_fail(p, "reply code changed from %d to %d", r->code, code);
    if (len == 3 || line[3] == ' ')
        last = 1;
    else if (line[3] == '-')
        last = 0;
    else
        return reply_fail(p, "bad character after the reply code");
    for (i = 4; i < len; i++) {
        unsigned char c = (unsigned char)line[i];

        if (c != '\t' && (c < 0x20 || c == 0x7f))
            return reply_fail(p, "control character in reply text");
    }
    r->code = code;
    r->lines = xgrow(r->lines, &p->lines_cap, r->n_lines + 1, sizeof(r->lines[0]));
    r->lines[r->n_lines++] = len > 4 ? xstrndup(line + 4, len - 4) : xstrdup("");
    if (!last)
        return 0;
    reply_finish(p);
    return 1;
}

const char *smtp_reply_status(const struct smtp_reply *reply)
{
    if (reply->dsn[0] != 0)
        return reply->dsn;
    switch (reply->code / 100) {
    case 2:
        return "2.0.0";
    case 4:
        return "4.0.0";
    case 5:
        return "5.0.0";
    default:
        return "";
    }
}

/* ---- EHLO ---- */

static const struct {
    const char *keyword;
    unsigned flag;
} ehlo_keywords[] = {
    {"PIPELINING", SMTP_EXT_PIPELINING},
    {"SIZE", SMTP_EXT_SIZE},
    {"8BITMIME", SMTP_EXT_8BITMIME},
    {"ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCEDSTATUSCODES},
    {"STARTTLS", SMTP_EXT_STARTTLS},
    {"SMTPUTF8", SMTP_EXT_SMTPUTF8},
    {"DSN", SMTP_EXT_DSN},
    {"CHUNKING", SMTP_EXT_CHUNKING},
    {"AUTH", SMTP_EXT_AUTH},
};

/* The SIZE value: 1-20 digits that fit uint64_t, else 0. */
static uint64_t ehlo_size(const char *s)
{
    uint64_t v = 0;
    size_t n = 0;

    while (*s == ' ')
        s++;
    for (; is_digit(*s); s++, n++) {
        unsigned d = (unsigned)(*s - '0');

        if (n >= 20 || v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    while (*s == ' ')
        s++;
    return *s == 0 ? v : 0;
}

int smtp_ehlo_parse(const struct smtp_reply *reply, struct smtp_ehlo *ehlo)
{
    size_t i, k;

    memset(ehlo, 0, sizeof(*ehlo));
    if (reply->code != 250)
        return -1;
    for (i = 1; i < reply->n_lines; i++) {
        const char *line = reply->lines[i];
        size_t n = strcspn(line, " ");

        for (k = 0; k < sizeof(ehlo_keywords) / sizeof(ehlo_keywords[0]); k++) {
            if (strlen(ehlo_keywords[k].keyword) != n
                || strncasecmp(line, ehlo_keywords[k].keyword, n) != 0)
                continue;
            ehlo->flags |= ehlo_keywords[k].flag;
            if (ehlo_keywords[k].flag == SMTP_EXT_SIZE)
                ehlo->size = ehlo_size(line + n);
        }
    }
    return 0;
}
