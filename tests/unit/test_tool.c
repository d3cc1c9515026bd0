/*
 * test_tool.c - unit tests of lib/mail/tool.c, the parts that do not exit:
 * the '?' rule, the message and usage lines, and what tool_say, tool_warn
 * and tool_print_line write.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "check.h"
#include "strbuf.h"
#include "tool.h"

static const char usage_lines[] = "usage: posttest [-v] thing...\n";

static const struct tool_def test_tool = {
    .name = "posttest",
    .usage = usage_lines,
    .help = "NAME\n    posttest\n",
};

struct clean_case {
    const char *in;
    size_t len;             /* 0: strlen */
    const char *want;
};

static const struct clean_case clean_cases[] = {
    { "", 0, "" },
    { "plain text, nothing to do", 0, "plain text, nothing to do" },
    { "line\nbreak\r\ttab", 0, "line?break??tab" },
    { "esc\x1b[31mred", 0, "esc?[31mred" },
    { "del\x7f", 0, "del?" },
    { "nul\0inside", 10, "nul?inside" },
    { "\x01\x02\x03", 0, "???" },
    /* Bytes above 0x7f are left alone (UTF-8 passes, so do bad bytes). */
    { "caf\xc3\xa9 \xff\xfe", 0, "caf\xc3\xa9 \xff\xfe" },
    { " ~", 0, " ~" },
};

static void test_clean(void)
{
    for (size_t i = 0; i < sizeof(clean_cases) / sizeof(clean_cases[0]); i++) {
        const struct clean_case *c = &clean_cases[i];
        size_t len = c->len ? c->len : strlen(c->in);
        char *text = xmalloc(len + 1);

        memcpy(text, c->in, len);
        text[len] = '\0';
        tool_clean(text, len);
        CHECK_STR("tool_clean", text, c->want);
        xfree(text);
    }
}

static void test_clean_long(void)
{
    size_t len = 100000;
    char *text = xmalloc(len + 1);
    size_t bad = 0;

    for (size_t i = 0; i < len; i++)
        text[i] = (char)(i % 128);
    text[len] = '\0';
    tool_clean(text, len);
    for (size_t i = 0; i < len; i++) {
        unsigned char want = (unsigned char)(i % 128);
        if (want < 0x20 || want == 0x7f)
            want = '?';
        if ((unsigned char)text[i] != want)
            bad++;
    }
    CHECK_LONG("tool_clean over a long text: bytes wrong", bad, 0);
    xfree(text);
}

static void format_into(struct strbuf *sb, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void format_into(struct strbuf *sb, const char *level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tool_format_line(sb, level, fmt, ap);
    va_end(ap);
}

struct line_case {
    const char *level;
    const char *arg;
    const char *want;
};

static const struct line_case line_cases[] = {
    { NULL, "Deleted: 3 messages", "posttest: Deleted: 3 messages\n" },
    { "", "plain", "posttest: plain\n" },
    { "warning", "ID: no such message", "posttest: warning: ID: no such message\n" },
    { "fatal", "queue_directory /x: No such file", "posttest: fatal: queue_directory /x: No such file\n" },
    /* The argument is cleaned; the level and the name are not touched. */
    { "warning", "evil\r\nposttest: forged", "posttest: warning: evil??posttest: forged\n" },
    { "fatal", "", "posttest: fatal: \n" },
};

static void test_format_line(void)
{
    for (size_t i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
        const struct line_case *c = &line_cases[i];
        struct strbuf sb = STRBUF_INIT;

        format_into(&sb, c->level, "%s", c->arg);
        CHECK_STR("tool_format_line", strbuf_str(&sb), c->want);
        strbuf_free(&sb);
    }
}

static void test_format_line_appends_and_grows(void)
{
    struct strbuf sb = STRBUF_INIT;
    char *big = xmalloc(20001);
    char *want;

    strbuf_add_str(&sb, "before\n");
    memset(big, 'x', 20000);
    big[20000] = '\0';
    big[100] = '\n';
    format_into(&sb, "warning", "%s", big);
    big[100] = '?';
    want = xasprintf("before\nposttest: warning: %s\n", big);
    CHECK_STR("a long line after what the buffer held", strbuf_str(&sb), want);
    xfree(want);
    xfree(big);
    strbuf_free(&sb);
}

static void test_format_usage(void)
{
    struct strbuf sb = STRBUF_INIT;

    tool_format_usage(&sb, "unknown option -Z");
    CHECK_STR("usage", strbuf_str(&sb), "posttest: unknown option -Z\n" "usage: posttest [-v] thing...\n");
    strbuf_reset(&sb);
    tool_format_usage(&sb, "bad queue \"\x1b]0;x\x07\"");
    CHECK_STR("usage cleans the problem", strbuf_str(&sb),
              "posttest: bad queue \"?]0;x?\"\n" "usage: posttest [-v] thing...\n");
    strbuf_reset(&sb);
    tool_format_usage(&sb, "");
    CHECK_STR("usage with an empty problem", strbuf_str(&sb),
              "posttest: \n" "usage: posttest [-v] thing...\n");
    strbuf_free(&sb);
}

/* What fn writes to stderr (static). */
static const char *stderr_of(void (*fn)(void))
{
    static char got[4096];
    int fds[2], saved;
    ssize_t n;

    if (pipe(fds) < 0)
        abort();
    fflush(stderr);
    saved = dup(2);
    dup2(fds[1], 2);
    close(fds[1]);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    n = read(fds[0], got, sizeof(got) - 1);
    close(fds[0]);
    got[n < 0 ? 0 : n] = '\0';
    return got;
}

static void say_one(void)
{
    tool_say("%s: %lu message%s", "Placed on hold", 2ul, "s");
}

static void warn_one(void)
{
    tool_warn("%s: not on hold", "ID\x1b[2J");
}

static void test_messages(void)
{
    CHECK_STR("tool_say", stderr_of(say_one), "posttest: Placed on hold: 2 messages\n");
    CHECK_STR("tool_warn", stderr_of(warn_one), "posttest: warning: ID?[2J: not on hold\n");
    CHECK_TRUE("no mail log before tool_open_log", !tool_logging());
}

static void test_print_line(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);

    if (fp == NULL)
        abort();
    tool_print_line(fp, "%s: to=<%s>, status=%s", "ID", "a\nb@example.org", "sent");
    tool_print_line(fp, "  %s", "");
    fclose(fp);
    CHECK_STR("tool_print_line", text, "ID: to=<a?b@example.org>, status=sent\n  \n");
    free(text);
}

int main(void)
{
    tool_init(&test_tool);
    test_clean();
    test_clean_long();
    test_format_line();
    test_format_line_appends_and_grows();
    test_format_usage();
    test_messages();
    test_print_line();
    return check_finish("test_tool");
}
