/*
 * dsn.c - status code syntax and classes (see dsn.h).
 */
#include <stdio.h>
#include <string.h>

#include "dsn.h"

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* 1..3 digits at text[i..len): how many, 0 when none or too many. */
static size_t digits_1_3(const char *text, size_t i, size_t len)
{
    size_t n = 0;

    while (i + n < len && is_digit(text[i + n]) && n < 4)
        n++;
    return n >= 1 && n <= 3 ? n : 0;
}

size_t dsn_prefix_len(const char *text, size_t len, enum dsn_class want_class)
{
    size_t i = 2, n;

    if (len < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.')
        return 0;
    if (want_class != DSN_CLASS_NONE && text[0] - '0' != (int)want_class)
        return 0;
    if ((n = digits_1_3(text, i, len)) == 0 || i + n >= len || text[i + n] != '.')
        return 0;
    i += n + 1;
    if ((n = digits_1_3(text, i, len)) == 0)
        return 0;
    i += n;
    if (i < len && text[i] != ' ' && text[i] != '\t')
        return 0;
    return i;
}

int dsn_valid(const char *code)
{
    size_t len = strlen(code);

    return len > 0 && dsn_prefix_len(code, len, DSN_CLASS_NONE) == len;
}

enum dsn_class dsn_class_of(const char *code)
{
    if (code == NULL || !dsn_valid(code))
        return DSN_CLASS_NONE;
    return (enum dsn_class)(code[0] - '0');
}

const char *dsn_for_reply_class(char reply_class)
{
    switch (reply_class) {
    case '2':
        return DSN_SUCCESS;
    case '4':
        return DSN_TEMP_DEFAULT;
    case '5':
        return DSN_PERM_DEFAULT;
    default:
        return "";
    }
}

void dsn_with_class(char *buf, const char *code, enum dsn_class new_class)
{
    snprintf(buf, DSN_SIZE, "%s", code);
    if (buf[0] != '\0' && new_class != DSN_CLASS_NONE)
        buf[0] = (char)('0' + (int)new_class);
}
