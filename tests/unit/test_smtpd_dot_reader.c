/*
 * test_smtpd_dot_reader.c - smtpd's DATA reader: end of data,
 * dot-unstuffing, bare CR/LF flags, size limit, bytes left after the end.
 * Every case is fed whole, one byte at a time, and split in two at every
 * position; all must give the same result.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "smtpd_dot_reader.h"

#define OUT_MAX 4096

struct result {
    char out[OUT_MAX];
    size_t out_len;
    int out_overflow;
    size_t consumed;
    int done, bare_cr, bare_lf, over_limit;
    uint64_t size;
};

struct data_case {
    const char *name;
    const char *in;
    size_t in_len;
    const char *want;           /* content */
    size_t want_len;
    const char *rest;           /* bytes left after the end, "" if none */
    int done, bare_cr, bare_lf;
};

#define B(s) s, sizeof(s) - 1

static const struct data_case cases[] = {
    {"nothing yet", B(""), B(""), "", 0, 0, 0},
    {"empty message", B(".\r\n"), B(""), "", 1, 0, 0},
    {"empty message, pipelined QUIT", B(".\r\nQUIT\r\n"), B(""), "QUIT\r\n", 1, 0, 0},
    {"simple", B("Subject: x\r\n\r\nbody\r\n.\r\n"), B("Subject: x\r\n\r\nbody\r\n"), "", 1, 0, 0},
    {"first line empty", B("\r\n.\r\n"), B("\r\n"), "", 1, 0, 0},
    {"leading dot on first line", B("..hidden\r\n.\r\n"), B(".hidden\r\n"), "", 1, 0, 0},
    {"leading dot later", B("a\r\n.b\r\n.\r\n"), B("a\r\nb\r\n"), "", 1, 0, 0},
    {"line of two dots", B("a\r\n..\r\n.\r\n"), B("a\r\n.\r\n"), "", 1, 0, 0},
    {"line of two dots first", B("..\r\n.\r\n"), B(".\r\n"), "", 1, 0, 0},
    {"line of three dots", B("a\r\n...\r\n.\r\n"), B("a\r\n..\r\n"), "", 1, 0, 0},
    {"dot inside line kept", B("a.b\r\nc .\r\n.\r\n"), B("a.b\r\nc .\r\n"), "", 1, 0, 0},
    {"8-bit and NUL", B("caf\xc3\xa9\r\n\xff\x00\x80\r\n.\r\n"),
     B("caf\xc3\xa9\r\n\xff\x00\x80\r\n"), "", 1, 0, 0},
    {"smuggle LF.CRLF", B("a\n.\r\nMAIL FROM:<x@y>\r\nRCPT TO:<z@w>\r\nDATA\r\nevil\r\n.\r\nQUIT\r\n"),
     B("a\n.\r\nMAIL FROM:<x@y>\r\nRCPT TO:<z@w>\r\nDATA\r\nevil\r\n"), "QUIT\r\n", 1, 0, 1},
    {"smuggle CRLF LF.CRLF", B("a\r\n\n.\r\nMAIL FROM:<x@y>\r\n.\r\nRSET\r\n"),
     B("a\r\n\n.\r\nMAIL FROM:<x@y>\r\n"), "RSET\r\n", 1, 0, 1},
    {"smuggle CR.CRLF", B("a\r.\r\nMAIL FROM:<x@y>\r\nRCPT TO:<z@w>\r\nDATA\r\nevil\r\n.\r\nQUIT\r\n"),
     B("a\r.\r\nMAIL FROM:<x@y>\r\nRCPT TO:<z@w>\r\nDATA\r\nevil\r\n"), "QUIT\r\n", 1, 1, 0},
    {"smuggle .LF at start", B(".\nMAIL FROM:<x@y>\r\n.\r\n"),
     B("\nMAIL FROM:<x@y>\r\n"), "", 1, 0, 1},
    {"smuggle CRLF.LF", B("a\r\n.\nMAIL FROM:<x@y>\r\nRCPT TO:<z@w>\r\nDATA\r\nevil\r\n.\r\nQUIT\r\n"),
     B("a\r\n\nMAIL FROM:<x@y>\r\nRCPT TO:<z@w>\r\nDATA\r\nevil\r\n"), "QUIT\r\n", 1, 0, 1},
    {"smuggle LF.LF", B("a\n.\nb\r\n.\r\n"), B("a\n.\nb\r\n"), "", 1, 0, 1},
    {"dot CR CR LF", B("a\r\n.\r\r\n.\r\n"), B("a\r\n\r\r\n"), "", 1, 1, 0},
    {"dot CR x", B("a\r\n.\rx\r\n.\r\n"), B("a\r\n\rx\r\n"), "", 1, 1, 0},
    {"bare CR at end of line", B("a\r\r\n.\r\n"), B("a\r\r\n"), "", 1, 1, 0},
    {"CR CR LF . CR LF ends", B("a\r\r\n.\r\nX"), B("a\r\r\n"), "X", 1, 1, 0},
    {"bare LF only", B("a\nb\r\n.\r\n"), B("a\nb\r\n"), "", 1, 0, 1},
    {"not ended yet", B("abc\r\n.\r"), B("abc\r\n"), "", 0, 0, 0},
    {"not ended, dot held", B("abc\r\n."), B("abc\r\n"), "", 0, 0, 0},
    {"not ended, CR", B("abc\r"), B("abc\r"), "", 0, 0, 0},
    {"only the first end counts", B("x\r\n.\r\n.\r\n"), B("x\r\n"), ".\r\n", 1, 0, 0},
    {"pipelined after end", B("x\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"),
     B("x\r\n"), "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n", 1, 0, 0},
};

static void collect(void *ctx, const char *buf, size_t len)
{
    struct result *r = ctx;

    if (len == 0 || r->out_len + len > sizeof(r->out)) {
        r->out_overflow = 1;
        return;
    }
    memcpy(r->out + r->out_len, buf, len);
    r->out_len += len;
}

/* Feed `in` cut at the `n_cuts` positions in `cuts` (ascending). */
static void feed_cuts(const char *in, size_t len, const size_t *cuts, size_t n_cuts,
                      uint64_t limit, struct result *r)
{
    struct smtpd_dot_reader d;
    size_t start = 0, k;

    memset(r, 0, sizeof(*r));
    smtpd_dot_reader_init(&d, limit);
    for (k = 0; k <= n_cuts && !d.done; k++) {
        size_t end = k < n_cuts ? cuts[k] : len;
        size_t used = smtpd_dot_reader_feed(&d, in + start, end - start, collect, r);

        r->consumed += used;
        if (!d.done && used != end - start)
            r->out_overflow = 1;        /* must consume all until done */
        start = end;
    }
    r->done = d.done;
    r->bare_cr = d.bare_cr;
    r->bare_lf = d.bare_lf;
    r->over_limit = d.over_limit;
    r->size = d.size;
    /* After the end nothing more is consumed. */
    if (d.done && smtpd_dot_reader_feed(&d, "x", 1, collect, r) != 0)
        r->out_overflow = 1;
}

/* Printable form of bytes, for got/want messages. */
static const char *show(const char *s, size_t len, char *buf, size_t size)
{
    size_t i, used = 0;

    buf[0] = 0;
    for (i = 0; i < len && used + 5 < size; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '\r')
            used += (size_t)snprintf(buf + used, size - used, "\\r");
        else if (c == '\n')
            used += (size_t)snprintf(buf + used, size - used, "\\n");
        else if (c < 0x20 || c > 0x7e || c == '\\')
            used += (size_t)snprintf(buf + used, size - used, "\\x%02x", c);
        else
            buf[used++] = (char)c, buf[used] = 0;
    }
    return buf;
}

/* Compare a result with the case; returns 1 when everything matches. */
static int result_ok(const struct data_case *c, const struct result *r, const char *how)
{
    char got[2048], want[2048], what[256];
    size_t rest_len = strlen(c->rest);
    int ok = 1;

    if (r->out_len != c->want_len || memcmp(r->out, c->want, c->want_len) != 0) {
        snprintf(what, sizeof(what), "%s (%s): content", c->name, how);
        CHECK_STR(what, show(r->out, r->out_len, got, sizeof(got)),
                  show(c->want, c->want_len, want, sizeof(want)));
        ok = 0;
    }
    if (r->consumed != c->in_len - rest_len || r->done != c->done || r->bare_cr != c->bare_cr
        || r->bare_lf != c->bare_lf || r->size != c->want_len || r->out_overflow) {
        snprintf(what, sizeof(what), "%s (%s): consumed/done/bare_cr/bare_lf/size/bad-call", c->name, how);
        snprintf(got, sizeof(got), "%zu/%d/%d/%d/%llu/%d", r->consumed, r->done, r->bare_cr,
                 r->bare_lf, (unsigned long long)r->size, r->out_overflow);
        snprintf(want, sizeof(want), "%zu/%d/%d/%d/%zu/0", c->in_len - rest_len, c->done,
                 c->bare_cr, c->bare_lf, c->want_len);
        CHECK_STR(what, got, want);
        ok = 0;
    }
    return ok;
}

static void test_case(const struct data_case *c)
{
    static size_t cuts[OUT_MAX];
    struct result r;
    char how[64], what[256];
    size_t i;
    int all_ok;

    feed_cuts(c->in, c->in_len, NULL, 0, 0, &r);
    snprintf(what, sizeof(what), "%s: whole", c->name);
    CHECK_TRUE(what, result_ok(c, &r, "whole"));

    for (i = 0; i + 1 < c->in_len; i++)
        cuts[i] = i + 1;
    feed_cuts(c->in, c->in_len, cuts, c->in_len ? c->in_len - 1 : 0, 0, &r);
    snprintf(what, sizeof(what), "%s: 1-byte chunks", c->name);
    CHECK_TRUE(what, result_ok(c, &r, "1-byte"));

    all_ok = 1;
    for (i = 0; i <= c->in_len && all_ok; i++) {
        cuts[0] = i;
        feed_cuts(c->in, c->in_len, cuts, 1, 0, &r);
        snprintf(how, sizeof(how), "split at %zu", i);
        all_ok = result_ok(c, &r, how);
    }
    snprintf(what, sizeof(what), "%s: all 2-way splits", c->name);
    CHECK_TRUE(what, all_ok);
}

/* A 990-byte line (and a 2000-byte one) pass through untouched. */
static void test_long_lines(void)
{
    static char in[3000], want[3000];
    struct data_case c;
    size_t n = 0;

    memset(in, 'x', 990);
    memcpy(in + 990, "\r\n", 2);
    in[992] = '.';                      /* stuffed line of 2000 bytes */
    memset(in + 993, 'y', 1999);
    memcpy(in + 2992, "\r\n.\r\n", 5);
    n = 2997;
    memcpy(want, in, 992);
    memcpy(want + 992, in + 993, 1999 + 2);
    c = (struct data_case){"990-byte line", in, n, want, 992 + 1999 + 2, "", 1, 0, 0};
    test_case(&c);
}

/* The size limit: counting goes on, output stops at exactly `limit`. */
static void test_limit(void)
{
    static const char in[] = "0123456789\r\n.\r\nQUIT\r\n";
    static const struct {
        uint64_t limit;
        size_t want_out;
        int over;
    } limits[] = {
        {0, 12, 0}, {12, 12, 0}, {11, 11, 1}, {5, 5, 1}, {1, 1, 1},
    };
    size_t i, k;

    for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        for (k = 0; k <= sizeof(in) - 1; k++) {
            struct result r;
            size_t cut = k;
            char what[128];

            feed_cuts(in, sizeof(in) - 1, &cut, 1, limits[i].limit, &r);
            snprintf(what, sizeof(what), "limit %llu split %zu: size",
                     (unsigned long long)limits[i].limit, k);
            if (r.size != 12 || r.out_len != limits[i].want_out
                || r.over_limit != limits[i].over || r.consumed != 15
                || memcmp(r.out, in, r.out_len) != 0) {
                CHECK_LONG(what, r.size, 12);
                CHECK_LONG("output length", r.out_len, limits[i].want_out);
                CHECK_LONG("over_limit", r.over_limit, limits[i].over);
                CHECK_LONG("consumed", r.consumed, 15);
                break;
            }
        }
        CHECK_TRUE("limit cases", k > sizeof(in) - 1);
    }
}

/* A NULL callback discards but still counts and finds the end. */
static void test_null_out(void)
{
    struct smtpd_dot_reader d;
    size_t used;

    smtpd_dot_reader_init(&d, 0);
    used = smtpd_dot_reader_feed(&d, "ab\r\n..\r\n.\r\nNOOP\r\n", 17, NULL, NULL);
    CHECK_LONG("null out: consumed", used, 11);
    CHECK_LONG("null out: size", d.size, 7);
    CHECK_LONG("null out: done", d.done, 1);
    CHECK_LONG("fed again after done", smtpd_dot_reader_feed(&d, "x", 1, NULL, NULL), 0);
}

int main(void)
{
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        test_case(&cases[i]);
    test_long_lines();
    test_limit();
    test_null_out();
    return check_finish("test_smtpd_dot_reader");
}
