/*
 * test_smtp_cmd.c - the SMTP command syntax: splitting a line into verb
 * and rest, the argument parsers (none, text, EHLO/HELO, MAIL/RCPT paths
 * and parameters, BDAT), and the replies suggested on errors.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "smtp_cmd.h"

struct cmd_case {
    const char *line;
    smtp_cmd_parse_fn parse;    /* run after a successful split */
    int ret;                    /* of split + parse: 0 or -1 */
    enum smtp_verb verb;
    const char *reply;          /* "" on success */
    const char *addr;           /* expected cmd.addr (NULL = none) */
    const char *arg;            /* expected cmd.arg (NULL = none) */
};

#define SENDER_BAD "501 5.1.7 Bad sender address syntax"
#define RCPT_BAD "501 5.1.3 Bad recipient address syntax"
#define MAIL_USAGE "501 5.5.4 Syntax: MAIL FROM:<address>"
#define RCPT_USAGE "501 5.5.4 Syntax: RCPT TO:<address>"
#define BAD_SYNTAX "500 5.5.2 Error: bad syntax"
#define NOT_RECOG "502 5.5.2 Error: command not recognized"

/* The parser each row runs (short names keep the table readable). */
#define PARSE_NONE smtp_cmd_parse_none
#define PARSE_TEXT smtp_cmd_parse_text
#define PARSE_OPT smtp_cmd_parse_text_optional
#define PARSE_HELLO smtp_cmd_parse_hello
#define PARSE_MAIL smtp_cmd_parse_mail
#define PARSE_RCPT smtp_cmd_parse_rcpt
#define PARSE_BDAT smtp_cmd_parse_bdat

static const struct cmd_case cases[] = {
    /* verbs */
    {"QUIT", PARSE_NONE, 0, SMTP_VERB_QUIT, "", NULL, NULL},
    {"quit", PARSE_NONE, 0, SMTP_VERB_QUIT, "", NULL, NULL},
    {"QuIt  ", PARSE_NONE, 0, SMTP_VERB_QUIT, "", NULL, NULL},
    {"QUIT now", PARSE_NONE, -1, SMTP_VERB_QUIT, "501 5.5.4 Syntax: QUIT", NULL, NULL},
    {"DATA", PARSE_NONE, 0, SMTP_VERB_DATA, "", NULL, NULL},
    {"DATA x", PARSE_NONE, -1, SMTP_VERB_DATA, "501 5.5.4 Syntax: DATA", NULL, NULL},
    {"RSET", PARSE_NONE, 0, SMTP_VERB_RSET, "", NULL, NULL},
    {"STARTTLS", PARSE_NONE, 0, SMTP_VERB_STARTTLS, "", NULL, NULL},
    {"NOOP", PARSE_OPT, 0, SMTP_VERB_NOOP, "", NULL, NULL},
    {"NOOP hello there", PARSE_OPT, 0, SMTP_VERB_NOOP, "", NULL, "hello there"},
    {"HELP", PARSE_OPT, 0, SMTP_VERB_HELP, "", NULL, NULL},
    {"VRFY bob", PARSE_TEXT, 0, SMTP_VERB_VRFY, "", NULL, "bob"},
    {"VRFY", PARSE_TEXT, -1, SMTP_VERB_VRFY, "501 5.5.4 Syntax: VRFY address", NULL, NULL},
    {"EXPN staff", PARSE_TEXT, 0, SMTP_VERB_EXPN, "", NULL, "staff"},
    {"AUTH PLAIN AGJvYgBzZWNyZXQ=", PARSE_TEXT, 0, SMTP_VERB_AUTH,
     "", NULL, "PLAIN AGJvYgBzZWNyZXQ="},
    {"AUTH", PARSE_TEXT, -1, SMTP_VERB_AUTH, "501 5.5.4 Syntax: AUTH mechanism", NULL, NULL},
    {"FOO bar", PARSE_NONE, -1, SMTP_VERB_UNKNOWN, NOT_RECOG, NULL, NULL},
    {"MAILX FROM:<a@b>", PARSE_NONE, -1, SMTP_VERB_UNKNOWN, NOT_RECOG, NULL, NULL},
    {" MAIL FROM:<a@b>", PARSE_NONE, -1, SMTP_VERB_UNKNOWN, NOT_RECOG, NULL, NULL},
    {"GET / HTTP/1.1", PARSE_NONE, -1, SMTP_VERB_UNKNOWN, NOT_RECOG, NULL, NULL},
    {"", PARSE_NONE, -1, SMTP_VERB_UNKNOWN, BAD_SYNTAX, NULL, NULL},
    /* bad bytes */
    {"NOOP \t", PARSE_OPT, -1, SMTP_VERB_NOOP, BAD_SYNTAX, NULL, NULL},
    {"NOOP \x7f", PARSE_OPT, -1, SMTP_VERB_NOOP, BAD_SYNTAX, NULL, NULL},
    {"RCPT TO:<j\xc3\xb6rg@example.com>", PARSE_RCPT, -1, SMTP_VERB_RCPT, BAD_SYNTAX, NULL, NULL},
    {"MAIL FROM:<a@b>\r", PARSE_MAIL, -1, SMTP_VERB_MAIL, BAD_SYNTAX, NULL, NULL},
    /* EHLO / HELO */
    {"EHLO client.example.org", PARSE_HELLO, 0, SMTP_VERB_EHLO, "", NULL, "client.example.org"},
    {"helo client", PARSE_HELLO, 0, SMTP_VERB_HELO, "", NULL, "client"},
    {"EHLO [192.0.2.1]", PARSE_HELLO, 0, SMTP_VERB_EHLO, "", NULL, "[192.0.2.1]"},
    {"EHLO [IPv6:2001:db8::1]", PARSE_HELLO, 0, SMTP_VERB_EHLO, "", NULL, "[IPv6:2001:db8::1]"},
    {"EHLO my_pc", PARSE_HELLO, 0, SMTP_VERB_EHLO, "", NULL, "my_pc"},
    {"EHLO", PARSE_HELLO, -1, SMTP_VERB_EHLO, "501 5.5.4 Syntax: EHLO hostname", NULL, NULL},
    {"HELO   ", PARSE_HELLO, -1, SMTP_VERB_HELO, "501 5.5.4 Syntax: HELO hostname", NULL, NULL},
    {"EHLO a b", PARSE_HELLO, -1, SMTP_VERB_EHLO, "501 5.5.4 Syntax: EHLO hostname", NULL, NULL},
    /* MAIL FROM */
    {"MAIL FROM:<alice@example.com>", PARSE_MAIL, 0, SMTP_VERB_MAIL, "", "alice@example.com", NULL},
    {"mail from:<alice@example.com>", PARSE_MAIL, 0, SMTP_VERB_MAIL, "", "alice@example.com", NULL},
    {"MAIL FROM: <alice@example.com>", PARSE_MAIL, 0, SMTP_VERB_MAIL,
     "", "alice@example.com", NULL},
    {"MAIL FROM:<>", PARSE_MAIL, 0, SMTP_VERB_MAIL, "", "", NULL},
    {"MAIL FROM:<> SIZE=100", PARSE_MAIL, 0, SMTP_VERB_MAIL, "", "", NULL},
    {"MAIL FROM:<a.b.c+tag@sub.example.com>", PARSE_MAIL, 0, SMTP_VERB_MAIL,
     "", "a.b.c+tag@sub.example.com", NULL},
    {"MAIL FROM:<\"john doe\"@example.com>", PARSE_MAIL, 0, SMTP_VERB_MAIL,
     "", "\"john doe\"@example.com", NULL},
    {"MAIL FROM:<\"a>b\\\"c\"@example.com>", PARSE_MAIL, 0, SMTP_VERB_MAIL,
     "", "\"a>b\\\"c\"@example.com", NULL},
    {"MAIL FROM:<bob@[192.0.2.7]>", PARSE_MAIL, 0, SMTP_VERB_MAIL, "", "bob@[192.0.2.7]", NULL},
    {"MAIL FROM:<bob@[IPv6:2001:db8::7]>", PARSE_MAIL, 0, SMTP_VERB_MAIL,
     "", "bob@[IPv6:2001:db8::7]", NULL},
    {"MAIL FROM:<@relay.example,@r2.example:bob@example.com>", PARSE_MAIL, 0, SMTP_VERB_MAIL,
     "", "bob@example.com", NULL},
    {"MAIL FROM:<@[192.0.2.1]:bob@example.com>", PARSE_MAIL, 0, SMTP_VERB_MAIL,
     "", "bob@example.com", NULL},
    {"MAIL FROM:<@relay.example bob@example.com>", PARSE_MAIL, -1, SMTP_VERB_MAIL,
     SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<@relay.example,bob@example.com>", PARSE_MAIL, -1, SMTP_VERB_MAIL,
     SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<@:bob@example.com>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:alice@example.com", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<alice@example.com", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:alice@example.com>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<alice@example.com>x", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<alice@example.com><b@c>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<\"unbalanced@example.com>", PARSE_MAIL, -1, SMTP_VERB_MAIL,
     SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<un\"bal@example.com>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<a..b@example.com>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<.a@example.com>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<a.@example.com>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<a b@example.com>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<a@b@example.com>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<@example.com>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<a@>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<a@example..com>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<a@example.com.>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<a@-example.com>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<a@example-.com>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<a@exa_mple.com>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<a@[300.1.1.1]>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<a@[IPv6:2001:db8::zz]>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<a@[x-tag:stuff]>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:<a@[1.2.3.4>", PARSE_MAIL, -1, SMTP_VERB_MAIL, SENDER_BAD, NULL, NULL},
    {"MAIL FROM:", PARSE_MAIL, -1, SMTP_VERB_MAIL, MAIL_USAGE, NULL, NULL},
    {"MAIL FROM: ", PARSE_MAIL, -1, SMTP_VERB_MAIL, MAIL_USAGE, NULL, NULL},
    {"MAIL", PARSE_MAIL, -1, SMTP_VERB_MAIL, MAIL_USAGE, NULL, NULL},
    {"MAIL TO:<a@b>", PARSE_MAIL, -1, SMTP_VERB_MAIL, MAIL_USAGE, NULL, NULL},
    {"MAIL FROM <a@b>", PARSE_MAIL, -1, SMTP_VERB_MAIL, MAIL_USAGE, NULL, NULL},
    /* RCPT TO */
    {"RCPT TO:<bob@example.net>", PARSE_RCPT, 0, SMTP_VERB_RCPT, "", "bob@example.net", NULL},
    {"RCPT TO: <bob@example.net>", PARSE_RCPT, 0, SMTP_VERB_RCPT, "", "bob@example.net", NULL},
    {"RCPT TO:<postmaster>", PARSE_RCPT, 0, SMTP_VERB_RCPT, "", "postmaster", NULL},
    {"RCPT TO:<Postmaster>", PARSE_RCPT, 0, SMTP_VERB_RCPT, "", "Postmaster", NULL},
    {"RCPT TO:<>", PARSE_RCPT, -1, SMTP_VERB_RCPT, RCPT_BAD, NULL, NULL},
    {"RCPT TO:bob@example.net", PARSE_RCPT, -1, SMTP_VERB_RCPT, RCPT_BAD, NULL, NULL},
    {"RCPT TO:<bob@example.net> junk=", PARSE_RCPT, -1, SMTP_VERB_RCPT,
     "501 5.5.4 Bad parameter syntax: junk", "bob@example.net", NULL},
    {"RCPT TO:<bob@example.net> NOTIFY=NEVER", PARSE_RCPT, -1, SMTP_VERB_RCPT,
     "555 5.5.4 Unsupported option: NOTIFY", "bob@example.net", NULL},
    {"RCPT FROM:<bob@example.net>", PARSE_RCPT, -1, SMTP_VERB_RCPT, RCPT_USAGE, NULL, NULL},
    {"RCPT TO:", PARSE_RCPT, -1, SMTP_VERB_RCPT, RCPT_USAGE, NULL, NULL},
    /* MAIL parameters */
    {"MAIL FROM:<a@b.example> SIZE=12345 BODY=8BITMIME", PARSE_MAIL, 0, SMTP_VERB_MAIL,
     "", "a@b.example", NULL},
    {"MAIL FROM:<a@b.example>  body=7bit   size=0", PARSE_MAIL, 0, SMTP_VERB_MAIL,
     "", "a@b.example", NULL},
    {"MAIL FROM:<a@b.example> SIZE=abc", PARSE_MAIL, -1, SMTP_VERB_MAIL,
     "501 5.5.4 Bad SIZE parameter", "a@b.example", NULL},
    {"MAIL FROM:<a@b.example> SIZE", PARSE_MAIL, -1, SMTP_VERB_MAIL,
     "501 5.5.4 Bad SIZE parameter", "a@b.example", NULL},
    {"MAIL FROM:<a@b.example> SIZE=99999999999999999999", PARSE_MAIL, -1, SMTP_VERB_MAIL,
     "501 5.5.4 Bad SIZE parameter", "a@b.example", NULL},
    {"MAIL FROM:<a@b.example> SIZE=18446744073709551615", PARSE_MAIL, 0, SMTP_VERB_MAIL,
     "", "a@b.example", NULL},
    {"MAIL FROM:<a@b.example> SIZE=", PARSE_MAIL, -1, SMTP_VERB_MAIL,
     "501 5.5.4 Bad parameter syntax: SIZE", "a@b.example", NULL},
    {"MAIL FROM:<a@b.example> BODY=BINARYMIME", PARSE_MAIL, -1, SMTP_VERB_MAIL,
     "501 5.5.4 Bad BODY parameter", "a@b.example", NULL},
    {"MAIL FROM:<a@b.example> SIZE=1 size=2", PARSE_MAIL, -1, SMTP_VERB_MAIL,
     "501 5.5.4 Duplicate parameter: size", "a@b.example", NULL},
    {"MAIL FROM:<a@b.example> SMTPUTF8", PARSE_MAIL, -1, SMTP_VERB_MAIL,
     "555 5.5.4 Unsupported option: SMTPUTF8", "a@b.example", NULL},
    {"MAIL FROM:<a@b.example> SIZE=10 RET=HDRS ENVID=x", PARSE_MAIL, -1, SMTP_VERB_MAIL,
     "555 5.5.4 Unsupported option: RET", "a@b.example", NULL},
    {"MAIL FROM:<a@b.example> =x", PARSE_MAIL, -1, SMTP_VERB_MAIL,
     "501 5.5.4 Bad parameter syntax", "a@b.example", NULL},
    {"MAIL FROM:<a@b.example> -X=1", PARSE_MAIL, -1, SMTP_VERB_MAIL,
     "501 5.5.4 Bad parameter syntax: -X", "a@b.example", NULL},
    {"MAIL FROM:<a@b.example> X=a=b", PARSE_MAIL, -1, SMTP_VERB_MAIL,
     "501 5.5.4 Bad parameter syntax: X", "a@b.example", NULL},
    {"MAIL FROM:<a@b.example> A B C D E F G H I J K L M N O P Q", PARSE_MAIL, -1, SMTP_VERB_MAIL,
     "501 5.5.4 Too many parameters", "a@b.example", NULL},
    /* BDAT */
    {"BDAT 1000", PARSE_BDAT, 0, SMTP_VERB_BDAT, "", NULL, NULL},
    {"BDAT 0 LAST", PARSE_BDAT, 0, SMTP_VERB_BDAT, "", NULL, NULL},
    {"BDAT", PARSE_BDAT, -1, SMTP_VERB_BDAT, "501 5.5.4 Syntax: BDAT count [LAST]", NULL, NULL},
    {"BDAT x", PARSE_BDAT, -1, SMTP_VERB_BDAT, "501 5.5.4 Syntax: BDAT count [LAST]", NULL, NULL},
    {"BDAT 10 FIRST", PARSE_BDAT, -1, SMTP_VERB_BDAT,
     "501 5.5.4 Syntax: BDAT count [LAST]", NULL, NULL},
};

/* Split `len` bytes at `line`, then run `parse` when the split succeeded. */
static int parse_line(struct smtp_cmd *cmd, const char *line, size_t len, smtp_cmd_parse_fn parse)
{
    if (smtp_cmd_split(cmd, line, len) < 0)
        return -1;
    return parse(cmd);
}

static int parse_str(struct smtp_cmd *cmd, const char *line, smtp_cmd_parse_fn parse)
{
    return parse_line(cmd, line, strlen(line), parse);
}

static void test_table(void)
{
    static struct smtp_cmd cmd;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct cmd_case *c = &cases[i];
        char what[512];
        int ret = parse_str(&cmd, c->line, c->parse);

        snprintf(what, sizeof(what), "[%s] return", c->line);
        CHECK_LONG(what, ret, c->ret);
        snprintf(what, sizeof(what), "[%s] verb", c->line);
        CHECK_STR(what, smtp_verb_name(cmd.verb), smtp_verb_name(c->verb));
        snprintf(what, sizeof(what), "[%s] reply", c->line);
        CHECK_STR(what, cmd.reply, c->reply);
        snprintf(what, sizeof(what), "[%s] err set iff failure", c->line);
        CHECK_TRUE(what, (cmd.err == SMTP_CMD_OK) == (ret == 0));
        snprintf(what, sizeof(what), "[%s] addr", c->line);
        CHECK_STR(what, cmd.addr, c->addr);
        snprintf(what, sizeof(what), "[%s] arg", c->line);
        CHECK_STR(what, cmd.arg, c->arg);
    }
}

/* The split alone: the verb and the rest, SP trimmed on both sides. */
static void test_split(void)
{
    static const struct {
        const char *line;
        int ret;
        enum smtp_verb verb;
        const char *rest;       /* NULL when the split fails */
    } splits[] = {
        {"QUIT", 0, SMTP_VERB_QUIT, ""},
        {"quit   ", 0, SMTP_VERB_QUIT, ""},
        {"NOOP   a  b   ", 0, SMTP_VERB_NOOP, "a  b"},
        {"MAIL FROM:<a@b> SIZE=1", 0, SMTP_VERB_MAIL, "FROM:<a@b> SIZE=1"},
        {"starttls", 0, SMTP_VERB_STARTTLS, ""},
        {"", -1, SMTP_VERB_UNKNOWN, NULL},
        {" ", -1, SMTP_VERB_UNKNOWN, NULL},
        {"QUIT\t", -1, SMTP_VERB_UNKNOWN, NULL},
        {"QUIT \t", -1, SMTP_VERB_QUIT, NULL},
        {"QUITE", -1, SMTP_VERB_UNKNOWN, NULL},
        {"\xff\xfe", -1, SMTP_VERB_UNKNOWN, NULL},
    };
    static struct smtp_cmd cmd;
    smtp_cmd_parse_fn parsers[] = {
        PARSE_NONE, PARSE_TEXT, PARSE_OPT, PARSE_HELLO, PARSE_MAIL, PARSE_RCPT, PARSE_BDAT,
    };
    size_t i, k;

    for (i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
        char what[128];

        snprintf(what, sizeof(what), "split [%s]: return", splits[i].line);
        CHECK_LONG(what, smtp_cmd_split(&cmd, splits[i].line, strlen(splits[i].line)),
                   splits[i].ret);
        snprintf(what, sizeof(what), "split [%s]: verb", splits[i].line);
        CHECK_STR(what, smtp_verb_name(cmd.verb), smtp_verb_name(splits[i].verb));
        snprintf(what, sizeof(what), "split [%s]: rest", splits[i].line);
        CHECK_STR(what, cmd.rest, splits[i].rest);
    }
    /* After a failed split every parser fails and keeps the split's reply. */
    for (k = 0; k < sizeof(parsers) / sizeof(parsers[0]); k++) {
        char what[64];

        smtp_cmd_split(&cmd, "NOOP \x01", 6);
        snprintf(what, sizeof(what), "parser %zu after failed split", k);
        CHECK_LONG(what, parsers[k](&cmd), -1);
        CHECK_STR(what, cmd.reply, BAD_SYNTAX);
    }
    /* The usage reply names the verb's own grammar, whichever parser ran. */
    CHECK_LONG("VRFY with none", parse_str(&cmd, "VRFY bob", PARSE_NONE), -1);
    CHECK_STR("VRFY with none: reply", cmd.reply, "501 5.5.4 Syntax: VRFY address");
    CHECK_LONG("NOOP with hello", parse_str(&cmd, "NOOP", PARSE_HELLO), -1);
    CHECK_STR("NOOP with hello: reply", cmd.reply, "501 5.5.4 Syntax: NOOP [text]");
}

/* Bytes that C strings cannot carry in the table: NUL inside the line. */
static void test_nul(void)
{
    static struct smtp_cmd cmd;
    static const char line[] = "MAIL FROM:<a\0b@example.com>";

    CHECK_LONG("NUL in line", parse_line(&cmd, line, sizeof(line) - 1, PARSE_MAIL), -1);
    CHECK_LONG("NUL in line: err", cmd.err, SMTP_CMD_ERR_BAD_CHAR);
    CHECK_STR("NUL in line: reply", cmd.reply, BAD_SYNTAX);
    CHECK_LONG("NUL after verb", parse_line(&cmd, "QUIT\0", 5, PARSE_NONE), -1);
    CHECK_LONG("NUL alone", parse_line(&cmd, "\0", 1, PARSE_NONE), -1);
    CHECK_STR("NUL alone: reply", cmd.reply, BAD_SYNTAX);
}

static void test_params(void)
{
    static struct smtp_cmd cmd;
    const char *line = "MAIL FROM:<a@b.example> SIZE=12345 BODY=8BITMIME";

    CHECK_LONG("params: parse", parse_str(&cmd, line, PARSE_MAIL), 0);
    CHECK_LONG("params: count", cmd.n_params, 2);
    CHECK_STR("params: 0 keyword", cmd.params[0].keyword, "SIZE");
    CHECK_STR("params: 0 value", cmd.params[0].value, "12345");
    CHECK_STR("params: 1 keyword", cmd.params[1].keyword, "BODY");
    CHECK_LONG("params: has_size", cmd.has_size, 1);
    CHECK_LONG("params: size", cmd.size, 12345);
    CHECK_LONG("params: body", cmd.body, SMTP_BODY_8BITMIME);
    CHECK_TRUE("params: nothing unsupported", cmd.unsupported == NULL);

    line = "MAIL FROM:<> body=7bit";
    CHECK_LONG("7bit: parse", parse_str(&cmd, line, PARSE_MAIL), 0);
    CHECK_LONG("7bit: body", cmd.body, SMTP_BODY_7BIT);
    CHECK_LONG("7bit: no size", cmd.has_size, 0);

    line = "MAIL FROM:<a@b.example> SIZE=10 XFOO XBAR=1";
    CHECK_LONG("unsupported: parse", parse_str(&cmd, line, PARSE_MAIL), -1);
    CHECK_LONG("unsupported: err", cmd.err, SMTP_CMD_ERR_UNSUPPORTED);
    CHECK_STR("unsupported: keyword", cmd.unsupported, "XFOO");
    CHECK_LONG("unsupported: all params listed", cmd.n_params, 3);
    CHECK_TRUE("unsupported: no value", cmd.params[1].value == NULL);
    CHECK_LONG("unsupported: size still read", cmd.size, 10);

    line = "RCPT TO:<@a.example:b@c.example>";
    CHECK_LONG("routed: parse", parse_str(&cmd, line, PARSE_RCPT), 0);
    CHECK_LONG("routed: flag", cmd.addr_routed, 1);

    line = "BDAT 4096 last";
    CHECK_LONG("bdat: parse", parse_str(&cmd, line, PARSE_BDAT), 0);
    CHECK_LONG("bdat: size", cmd.bdat_size, 4096);
    CHECK_LONG("bdat: last", cmd.bdat_last, 1);

    line = "EHLO mail.example.com";
    CHECK_LONG("helo strict: parse", parse_str(&cmd, line, PARSE_HELLO), 0);
    CHECK_LONG("helo strict", cmd.helo_strict, 1);
    line = "EHLO my_pc";
    CHECK_LONG("helo sloppy: parse", parse_str(&cmd, line, PARSE_HELLO), 0);
    CHECK_LONG("helo sloppy", cmd.helo_strict, 0);
    line = "EHLO [999.1.1.1]";
    CHECK_LONG("helo bad literal: parse", parse_str(&cmd, line, PARSE_HELLO), 0);
    CHECK_LONG("helo bad literal", cmd.helo_strict, 0);
}

/* Length limits: local-part 64, address 254, path 256, line. */
static void test_lengths(void)
{
    static struct smtp_cmd cmd;
    char line[SMTP_CMD_LINE_MAX + 64];
    char local[80], domain[300];
    size_t n;

    memset(local, 'l', 64);
    local[64] = 0;
    snprintf(line, sizeof(line), "RCPT TO:<%s@example.com>", local);
    CHECK_LONG("local-part of 64", parse_str(&cmd, line, PARSE_RCPT), 0);
    local[64] = 'l';
    local[65] = 0;
    snprintf(line, sizeof(line), "RCPT TO:<%s@example.com>", local);
    CHECK_LONG("local-part of 65", parse_str(&cmd, line, PARSE_RCPT), -1);
    CHECK_STR("local-part of 65: reply", cmd.reply, RCPT_BAD);

    /* A domain of 4 labels of 60 bytes + "com": 247 bytes. */
    n = 0;
    for (int k = 0; k < 4; k++) {
        memset(domain + n, 'd', 60);
        n += 60;
        domain[n++] = '.';
    }
    memcpy(domain + n, "com", 4);
    snprintf(line, sizeof(line), "RCPT TO:<abcdef@%s>", domain);    /* 254 */
    CHECK_LONG("address of 254", parse_str(&cmd, line, PARSE_RCPT), 0);
    CHECK_LONG("address of 254: length", cmd.addr ? strlen(cmd.addr) : 0, 254);
    snprintf(line, sizeof(line), "RCPT TO:<abcdefg@%s>", domain);   /* 255 */
    CHECK_LONG("address of 255", parse_str(&cmd, line, PARSE_RCPT), -1);
    CHECK_STR("address of 255: reply", cmd.reply, RCPT_BAD);
    snprintf(line, sizeof(line), "MAIL FROM:<@x.example:abcdef@%s>", domain);
    CHECK_LONG("routed path over 256", parse_str(&cmd, line, PARSE_MAIL), -1);
    CHECK_STR("routed path over 256: reply", cmd.reply, SENDER_BAD);

    memset(domain, 'd', 64);
    memcpy(domain + 64, ".com", 5);
    snprintf(line, sizeof(line), "RCPT TO:<a@%s>", domain);
    CHECK_LONG("label of 64", parse_str(&cmd, line, PARSE_RCPT), -1);

    memset(line, 'x', sizeof(line));
    memcpy(line, "NOOP ", 5);
    CHECK_LONG("line at the limit", parse_line(&cmd, line, SMTP_CMD_LINE_MAX, PARSE_OPT), 0);
    CHECK_LONG("line over the limit", parse_line(&cmd, line, SMTP_CMD_LINE_MAX + 1, PARSE_OPT), -1);
    CHECK_LONG("line over the limit: err", cmd.err, SMTP_CMD_ERR_TOO_LONG);
    CHECK_LONG("line over the limit: verb", cmd.verb, SMTP_VERB_NOOP);
}

static void test_addr_domain(void)
{
    static const struct {
        const char *addr;
        int ret;
        const char *domain;
    } cases_d[] = {
        {"bob@example.com", 0, "example.com"},
        {"\"a@b\"@example.com", 0, "example.com"},
        {"\"a@b\"", -1, ""},
        {"\"a\\\"@b\"@example.org", 0, "example.org"},
        {"postmaster", -1, ""},
        {"", -1, ""},
        {"bob@[192.0.2.1]", 0, "[192.0.2.1]"},
        {"bob@", -1, ""},
    };
    size_t i;

    for (i = 0; i < sizeof(cases_d) / sizeof(cases_d[0]); i++) {
        const char *domain = NULL;
        char what[128];

        snprintf(what, sizeof(what), "domain of [%s]: return", cases_d[i].addr);
        CHECK_LONG(what, smtp_addr_domain(cases_d[i].addr, &domain), cases_d[i].ret);
        snprintf(what, sizeof(what), "domain of [%s]", cases_d[i].addr);
        CHECK_STR(what, domain, cases_d[i].domain);
    }
    CHECK_LONG("addr_check ok", smtp_addr_check("a@b.c", 5), 0);
    CHECK_LONG("addr_check empty", smtp_addr_check("", 0), -1);
    CHECK_LONG("addr_check route", smtp_addr_check("@a:b@c", 6), -1);
}

int main(void)
{
    test_table();
    test_split();
    test_nul();
    test_params();
    test_lengths();
    test_addr_domain();
    return check_finish("test_smtp_cmd");
}
