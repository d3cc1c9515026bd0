/*
 * test_smtp_reply.c - the client-side reply parser (single and multi-line
 * replies, code and enhanced status checks, limits) and EHLO capabilities.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "smtp_reply.h"

struct reply_case {
    const char *name;
    const char *input;          /* lines separated by '\n' */
    int ret;                    /* result of the last feed */
    int code;
    const char *dsn;
    const char *text;           /* NULL: not checked (failure cases) */
    size_t n_lines;
};

static const struct reply_case cases[] = {
    {"simple", "250 2.0.0 Ok: queued as 3F2A", 1, 250, "2.0.0", "Ok: queued as 3F2A", 1},
    {"no dsn", "220 mx.example.com ESMTP", 1, 220, "", "mx.example.com ESMTP", 1},
    {"code only", "250", 1, 250, "", "", 1},
    {"code and space", "250 ", 1, 250, "", "", 1},
    {"354 has no dsn", "354 2.0.0 go ahead", 1, 354, "", "2.0.0 go ahead", 1},
    {"dsn class mismatch", "550 2.1.1 nope", 1, 550, "", "2.1.1 nope", 1},
    {"dsn needs space after", "550 5.1.1x nope", 1, 550, "", "5.1.1x nope", 1},
    {"dsn with 3-digit parts", "451 4.123.456 later", 1, 451, "4.123.456", "later", 1},
    {"dsn 4 digits is not dsn", "451 4.1234.1 later", 1, 451, "", "4.1234.1 later", 1},
    {"dsn alone", "550 5.7.1", 1, 550, "5.7.1", "", 1},
    {"multi-line",
     "550-5.1.1 The email account that you tried to reach does not exist.\n"
     "550-5.1.1 Please try double-checking the recipient's email\n"
     "550 5.1.1 address for typos.",
     1, 550, "5.1.1",
     "The email account that you tried to reach does not exist. Please try "
     "double-checking the recipient's email address for typos.", 3},
    {"ehlo", "250-mx.example.com\n250-PIPELINING\n250-SIZE 10240000\n250 8BITMIME",
     1, 250, "", "mx.example.com PIPELINING SIZE 10240000 8BITMIME", 4},
    {"empty continuation", "250-\n250 ok", 1, 250, "", "ok", 2},
    {"tab and 8-bit kept", "250 caf\xc3\xa9\tok", 1, 250, "", "caf\xc3\xa9\tok", 1},
    /* malformed */
    {"code changes", "250-a\n251 b", -1, 250, "", NULL, 1},
    {"short", "25", -1, 0, "", NULL, 0},
    {"empty line", "", -1, 0, "", NULL, 0},
    {"1xx", "199 hi", -1, 0, "", NULL, 0},
    {"6xx", "600 hi", -1, 0, "", NULL, 0},
    {"second digit 6", "260 hi", -1, 0, "", NULL, 0},
    {"letters", "2x0 hi", -1, 0, "", NULL, 0},
    {"bad separator", "250_hi", -1, 0, "", NULL, 0},
    {"four digits", "2500 hi", -1, 0, "", NULL, 0},
    {"control char", "250 a\x01" "b", -1, 0, "", NULL, 0},
    {"CR in text", "250 a\rb", -1, 0, "", NULL, 0},
    {"DEL in text", "250 a\x7f", -1, 0, "", NULL, 0},
    {"garbage continuation", "250-ok\nhello", -1, 250, "", NULL, 1},
};

/* Feed the '\n'-separated lines; return the last feed's result. */
static int feed_lines(struct smtp_reply_parser *p, const char *input)
{
    const char *s = input;
    int ret = 0;

    for (;;) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);

        ret = smtp_reply_feed(p, s, len);
        if (ret != 0 || nl == NULL)
            return ret;
        s = nl + 1;
    }
}

static void test_table(void)
{
    struct smtp_reply_parser p;
    size_t i;

    smtp_reply_init(&p);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct reply_case *c = &cases[i];
        char what[128];
        int ret;

        smtp_reply_reset(&p);
        ret = feed_lines(&p, c->input);
        snprintf(what, sizeof(what), "%s: result", c->name);
        CHECK_LONG(what, ret, c->ret);
        snprintf(what, sizeof(what), "%s: code", c->name);
        CHECK_LONG(what, p.reply.code, c->code);
        snprintf(what, sizeof(what), "%s: dsn", c->name);
        CHECK_STR(what, p.reply.dsn, c->dsn);
        snprintf(what, sizeof(what), "%s: lines", c->name);
        CHECK_LONG(what, p.reply.n_lines, c->n_lines);
        if (c->text != NULL) {
            snprintf(what, sizeof(what), "%s: text", c->name);
            CHECK_STR(what, p.reply.text, c->text);
        }
        if (ret == -1) {
            snprintf(what, sizeof(what), "%s: err says why", c->name);
            CHECK_TRUE(what, p.err[0] != 0);
        }
    }
    smtp_reply_free(&p);
}

static void test_lines_and_state(void)
{
    struct smtp_reply_parser p;

    smtp_reply_init(&p);
    CHECK_LONG("multi: first", smtp_reply_feed(&p, "250-2.1.0 a", 11), 0);
    CHECK_LONG("multi: last", smtp_reply_feed(&p, "250 2.1.0 b", 11), 1);
    CHECK_STR("multi: line 0 kept raw", p.reply.lines[0], "2.1.0 a");
    CHECK_STR("multi: line 1 kept raw", p.reply.lines[1], "2.1.0 b");
    CHECK_STR("multi: text", p.reply.text, "a b");
    CHECK_LONG("feed after complete", smtp_reply_feed(&p, "250 x", 5), -1);
    CHECK_LONG("still failed", smtp_reply_feed(&p, "250 x", 5), -1);
    smtp_reply_reset(&p);
    CHECK_LONG("after reset", smtp_reply_feed(&p, "421 4.3.2 bye", 13), 1);
    CHECK_STR("after reset: status", smtp_reply_status(&p.reply), "4.3.2");
    CHECK_LONG("NUL in text", (smtp_reply_reset(&p), smtp_reply_feed(&p, "250 a\0b", 7)), -1);
    smtp_reply_free(&p);
}

static void test_status(void)
{
    struct smtp_reply r;

    memset(&r, 0, sizeof(r));
    r.code = 250;
    CHECK_STR("status 250", smtp_reply_status(&r), "2.0.0");
    r.code = 451;
    CHECK_STR("status 451", smtp_reply_status(&r), "4.0.0");
    r.code = 554;
    CHECK_STR("status 554", smtp_reply_status(&r), "5.0.0");
    r.code = 354;
    CHECK_STR("status 354", smtp_reply_status(&r), "");
    memcpy(r.dsn, "5.7.1", 6);
    r.code = 550;
    CHECK_STR("status with dsn", smtp_reply_status(&r), "5.7.1");
}

static void test_limits(void)
{
    struct smtp_reply_parser p;
    char line[SMTP_REPLY_LINE_MAX + 2];
    int i, ret = 0;

    smtp_reply_init(&p);
    memset(line, 'x', sizeof(line));
    memcpy(line, "250 ", 4);
    CHECK_LONG("line at limit", smtp_reply_feed(&p, line, SMTP_REPLY_LINE_MAX), 1);
    smtp_reply_reset(&p);
    CHECK_LONG("line over limit", smtp_reply_feed(&p, line, SMTP_REPLY_LINE_MAX + 1), -1);

    smtp_reply_reset(&p);
    for (i = 0; i < SMTP_REPLY_LINES_MAX - 1 && ret == 0; i++)
        ret = smtp_reply_feed(&p, "250-x", 5);
    CHECK_LONG("99 continuation lines", ret, 0);
    CHECK_LONG("100th line ends", smtp_reply_feed(&p, "250 x", 5), 1);
    CHECK_LONG("100 lines", p.reply.n_lines, 100);

    smtp_reply_reset(&p);
    for (i = 0; i < SMTP_REPLY_LINES_MAX && ret >= 0; i++)
        ret = smtp_reply_feed(&p, "250-x", 5);
    CHECK_LONG("101st line refused", smtp_reply_feed(&p, "250 x", 5), -1);
    smtp_reply_free(&p);
}

static void test_ehlo(void)
{
    struct smtp_reply_parser p;
    struct smtp_ehlo e;

    smtp_reply_init(&p);
    feed_lines(&p, "250-mx.example.com Hello\n250-PIPELINING\n250-size 10240000\n"
                   "250-8BITMIME\n250-ENHANCEDSTATUSCODES\n250-STARTTLS\n"
                   "250-AUTH PLAIN LOGIN\n250-X-UNKNOWN\n250-DSN\n250-SMTPUTF8\n250 CHUNKING");
    CHECK_LONG("ehlo: parse", smtp_ehlo_parse(&p.reply, &e), 0);
    CHECK_LONG("ehlo: flags", e.flags,
               SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_8BITMIME
               | SMTP_EXT_ENHANCEDSTATUSCODES | SMTP_EXT_STARTTLS | SMTP_EXT_AUTH
               | SMTP_EXT_DSN | SMTP_EXT_SMTPUTF8 | SMTP_EXT_CHUNKING);
    CHECK_LONG("ehlo: size", e.size, 10240000);

    smtp_reply_reset(&p);
    feed_lines(&p, "250-PIPELINING.example\n250-SIZE\n250-PIPELININGX\n250 STARTTLSX");
    CHECK_LONG("ehlo 2: parse", smtp_ehlo_parse(&p.reply, &e), 0);
    CHECK_LONG("ehlo 2: greeting skipped, no prefix matches", e.flags, SMTP_EXT_SIZE);
    CHECK_LONG("ehlo 2: SIZE alone", e.size, 0);

    smtp_reply_reset(&p);
    feed_lines(&p, "250-x\n250 SIZE 99999999999999999999999");
    smtp_ehlo_parse(&p.reply, &e);
    CHECK_LONG("ehlo: huge SIZE", e.size, 0);

    smtp_reply_reset(&p);
    feed_lines(&p, "502 5.5.1 no EHLO");
    CHECK_LONG("ehlo: not 250", smtp_ehlo_parse(&p.reply, &e), -1);
    CHECK_LONG("ehlo: not 250 flags", e.flags, 0);
    smtp_reply_free(&p);
}

int main(void)
{
    test_table();
    test_lines_and_state();
    test_status();
    test_limits();
    test_ehlo();
    return check_finish("test_smtp_reply");
}
