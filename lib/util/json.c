/*
 * json.c - the JSON writer and its one rule for text (see json.h).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "msg.h"
#include "strbuf.h"
#include "utf8.h"

void json_init(struct json_writer *w, struct strbuf *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
}

/* Before any value or key: the comma between members and elements. */
static void before_item(struct json_writer *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->need_comma[w->depth])
        strbuf_add_char(w->out, ',');
    w->need_comma[w->depth] = 1;
}

static void open_level(struct json_writer *w, char c)
{
    before_item(w);
    if (w->depth >= JSON_DEPTH_MAX)
        msg_panic("json: nesting deeper than %d", JSON_DEPTH_MAX);
    strbuf_add_char(w->out, c);
    w->need_comma[++w->depth] = 0;
}

static void close_level(struct json_writer *w, char c)
{
    if (w->depth <= 0 || w->after_key)
        msg_panic("json: '%c' without a matching begin", c);
    w->depth--;
    strbuf_add_char(w->out, c);
}

void json_object_begin(struct json_writer *w)
{
    open_level(w, '{');
}

void json_object_end(struct json_writer *w)
{
    close_level(w, '}');
}

void json_array_begin(struct json_writer *w)
{
    open_level(w, '[');
}

void json_array_end(struct json_writer *w)
{
    close_level(w, ']');
}

void json_key(struct json_writer *w, const char *key)
{
    before_item(w);
    json_quote(w->out, key, strlen(key));
    strbuf_add_char(w->out, ':');
    w->after_key = 1;
}

/* The escape for byte c, which is not to be written as it is. */
static void escape_byte(struct strbuf *out, unsigned char c)
{
    switch (c) {
    case '"':  strbuf_add(out, "\\\"", 2); return;
    case '\\': strbuf_add(out, "\\\\", 2); return;
    case '\b': strbuf_add(out, "\\b", 2); return;
    case '\f': strbuf_add(out, "\\f", 2); return;
    case '\n': strbuf_add(out, "\\n", 2); return;
    case '\r': strbuf_add(out, "\\r", 2); return;
    case '\t': strbuf_add(out, "\\t", 2); return;
    default:   strbuf_printf(out, "\\u%04X", c); return;
    }
}

static int plain_ascii(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

void json_quote(struct strbuf *out, const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0, run = 0;

    strbuf_add_char(out, '"');
    while (i < len) {
        size_t n = p[i] >= 0x80 ? utf8_char_len(p + i, len - i) : (plain_ascii(p[i]) ? 1 : 0);

        if (n > 0) {
            i += n;
            continue;
        }
        strbuf_add(out, text + run, i - run);
        escape_byte(out, p[i]);
        run = ++i;
    }
    strbuf_add(out, text + run, len - run);
    strbuf_add_char(out, '"');
}

void json_string_len(struct json_writer *w, const char *text, size_t len)
{
    before_item(w);
    json_quote(w->out, text, len);
}

void json_string(struct json_writer *w, const char *text)
{
    if (text == NULL) {
        json_null(w);
        return;
    }
    json_string_len(w, text, strlen(text));
}

void json_int(struct json_writer *w, long long value)
{
    before_item(w);
    strbuf_printf(w->out, "%lld", value);
}

void json_uint(struct json_writer *w, unsigned long long value)
{
    before_item(w);
    strbuf_printf(w->out, "%llu", value);
}

void json_double(struct json_writer *w, double value, int decimals)
{
    before_item(w);
    if (!isfinite(value)) {
        strbuf_add_str(w->out, "null");
        return;
    }
    strbuf_printf(w->out, "%.*f", decimals, value);
}

void json_bool(struct json_writer *w, int value)
{
    before_item(w);
    strbuf_add_str(w->out, value ? "true" : "false");
}

void json_null(struct json_writer *w)
{
    before_item(w);
    strbuf_add_str(w->out, "null");
}

void json_raw(struct json_writer *w, const char *json_text)
{
    before_item(w);
    strbuf_add_str(w->out, json_text);
}

void json_member_string(struct json_writer *w, const char *key, const char *text)
{
    json_key(w, key);
    json_string(w, text);
}

void json_member_int(struct json_writer *w, const char *key, long long value)
{
    json_key(w, key);
    json_int(w, value);
}

void json_member_uint(struct json_writer *w, const char *key, unsigned long long value)
{
    json_key(w, key);
    json_uint(w, value);
}

void json_member_bool(struct json_writer *w, const char *key, int value)
{
    json_key(w, key);
    json_bool(w, value);
}
