/*
 * test_line_reader.c - logical lines: continuation, comments, CR, limits,
 * errors with file and line.
 */
#include <string.h>

#include "check.h"
#include "line_reader.h"
#include "strbuf.h"

static const struct {
    const char *what;
    const char *text;
    size_t len;             /* 0: strlen */
    const char *want;       /* lines as "LINENO:text|..." or "ERR:message" */
} cases[] = {
    { "empty", "", 0, "" },
    { "one line", "a = b\n", 0, "1:a = b|" },
    { "no final newline", "a = b", 0, "1:a = b|" },
    { "CRLF", "a\r\nb\r\n", 0, "1:a|2:b|" },
    { "continuation as written", "a\n  b\n\tc\nd\n", 0, "1:a  b\tc|4:d|" },
    { "comments and blanks inside", "a\n# c\n\n   \n  b\n", 0, "1:a  b|" },
    { "indented comment", "a\n   # not a value\n  b\n", 0, "1:a  b|" },
    { "trailing blanks trimmed", "a   \t\n", 0, "1:a|" },
    { "only comments", "# x\n#y\n\n", 0, "" },
    { "continuation first", "  a\n", 0, "ERR:f:1: continuation line (starting with white space) without a line before it" },
    { "continuation after comment", "# x\n  a\n", 0, "ERR:f:2: continuation line (starting with white space) without a line before it" },
    { "NUL", "a\nb\0c\n", 6, "ERR:f:2: NUL character" },
    { "too long", "0123456789\n", 0, "ERR:f:1: logical line too long (more than 8 bytes)" },
    { "too long by continuation", "0123\n 5678\n", 0, "ERR:f:1: logical line too long (more than 8 bytes)" },
    { "CR alone kept inside", "a\rb\n", 0, "1:a\rb|" },
};

static void run_case(size_t i)
{
    struct line_reader r;
    struct strbuf got = STRBUF_INIT;
    char *line;
    size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text), line_len;
    unsigned lineno;
    char err[200];
    int rc;

    line_reader_init(&r, "f", cases[i].text, len, 8);
    while ((rc = line_reader_next(&r, &line, &line_len, &lineno, err, sizeof(err))) == 1) {
        CHECK_LONG("length matches", line_len, strlen(line));
        strbuf_printf(&got, "%u:%s|", lineno, line);
    }
    if (rc < 0)
        strbuf_printf(&got, "ERR:%s", err);
    CHECK_STR(cases[i].what, strbuf_str(&got), cases[i].want);
    line_reader_free(&r);
    strbuf_free(&got);
}

int main(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(i);
    return check_finish("test_line_reader");
}
