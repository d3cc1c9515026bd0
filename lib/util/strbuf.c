/*
 * strbuf.c - the growable string buffer (see strbuf.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "msg.h"
#include "strbuf.h"

#define STRBUF_MIN_CAP 64

void strbuf_init(struct strbuf *sb)
{
    sb->data = NULL;
    sb->len = sb->cap = 0;
}

void strbuf_free(struct strbuf *sb)
{
    sb->data = xfree(sb->data);
    sb->len = sb->cap = 0;
}

void strbuf_reserve(struct strbuf *sb, size_t more)
{
    size_t need;

    if (more > (size_t)-1 - sb->len - 1)
        msg_panic("strbuf: length overflow");
    need = sb->len + more + 1;
    if (need <= sb->cap)
        return;
    if (need < STRBUF_MIN_CAP)
        need = STRBUF_MIN_CAP;
    sb->data = xgrow(sb->data, &sb->cap, need, 1);
}

void strbuf_add(struct strbuf *sb, const void *data, size_t len)
{
    strbuf_reserve(sb, len);
    if (len > 0)
        memcpy(sb->data + sb->len, data, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
}

void strbuf_add_str(struct strbuf *sb, const char *str)
{
    strbuf_add(sb, str, strlen(str));
}

void strbuf_add_char(struct strbuf *sb, char c)
{
    strbuf_add(sb, &c, 1);
}

void strbuf_vprintf(struct strbuf *sb, const char *fmt, va_list ap)
{
    va_list again;
    int n;

    strbuf_reserve(sb, 0);
    va_copy(again, ap);
    n = vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
    if (n < 0)
        msg_panic("strbuf: bad format \"%s\"", fmt);
    if ((size_t)n >= sb->cap - sb->len) {
        strbuf_reserve(sb, (size_t)n);
        vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, again);
    }
    va_end(again);
    sb->len += (size_t)n;
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    strbuf_vprintf(sb, fmt, ap);
    va_end(ap);
}

void strbuf_truncate(struct strbuf *sb, size_t len)
{
    if (len >= sb->len)
        return;
    sb->len = len;
    sb->data[len] = '\0';
}

void strbuf_reset(struct strbuf *sb)
{
    strbuf_truncate(sb, 0);
}

const char *strbuf_str(const struct strbuf *sb)
{
    return sb->data ? sb->data : "";
}

size_t strbuf_len(const struct strbuf *sb)
{
    return sb->len;
}

char *strbuf_detach(struct strbuf *sb)
{
    char *text = sb->data ? sb->data : xstrdup("");

    sb->data = NULL;
    sb->len = sb->cap = 0;
    return text;
}
