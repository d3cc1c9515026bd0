/*
 * test_json.c - UTF-8 recognition and the JSON writer's one rule for text.
 */
#include <string.h>

#include "check.h"
#include "json.h"
#include "strbuf.h"
#include "utf8.h"

static const struct {
    const char *what;
    const char *text;
    size_t len;             /* 0: strlen */
    const char *want;
} quote_cases[] = {
    { "plain", "hello", 0, "\"hello\"" },
    { "empty", "", 0, "\"\"" },
    { "quote and backslash", "a\"b\\c", 0, "\"a\\\"b\\\\c\"" },
    { "named controls", "\b\f\n\r\t", 0, "\"\\b\\f\\n\\r\\t\"" },
    { "other controls", "esc\x1b[31m", 0, "\"esc\\u001B[31m\"" },
    { "DEL", "del\x7f", 0, "\"del\\u007F\"" },
    { "NUL inside", "nul\0x", 5, "\"nul\\u0000x\"" },
    { "slash kept", "a/b", 0, "\"a/b\"" },
    { "2-byte UTF-8", "caf\xc3\xa9", 0, "\"caf\xc3\xa9\"" },
    { "3-byte UTF-8", "\xe2\x82\xac", 0, "\"\xe2\x82\xac\"" },
    { "4-byte UTF-8", "\xf0\x9f\x93\xa7", 0, "\"\xf0\x9f\x93\xa7\"" },
    { "Latin-1 byte", "bad\xe9x", 0, "\"bad\\u00E9x\"" },
    { "overlong", "overlong\xc0\xaf", 0, "\"overlong\\u00C0\\u00AF\"" },
    { "overlong 3-byte", "\xe0\x80\xaf", 0, "\"\\u00E0\\u0080\\u00AF\"" },
    { "surrogate", "surrogate\xed\xa0\x80", 0, "\"surrogate\\u00ED\\u00A0\\u0080\"" },
    { "above U+10FFFF", "\xf4\x90\x80\x80", 0, "\"\\u00F4\\u0090\\u0080\\u0080\"" },
    { "cut short", "cut\xe2\x82", 0, "\"cut\\u00E2\\u0082\"" },
    { "stray continuation", "\x80x", 0, "\"\\u0080x\"" },
    { "0xFF", "\xff", 0, "\"\\u00FF\"" },
};

static void test_quote(void)
{
    struct strbuf sb = STRBUF_INIT;

    for (size_t i = 0; i < sizeof(quote_cases) / sizeof(quote_cases[0]); i++) {
        size_t len = quote_cases[i].len ? quote_cases[i].len : strlen(quote_cases[i].text);

        strbuf_reset(&sb);
        json_quote(&sb, quote_cases[i].text, len);
        CHECK_STR(quote_cases[i].what, strbuf_str(&sb), quote_cases[i].want);
        CHECK_TRUE("output is UTF-8", utf8_valid(strbuf_str(&sb), strbuf_len(&sb)));
    }
    strbuf_free(&sb);
}

static void test_utf8(void)
{
    CHECK_TRUE("ascii", utf8_valid("abc", 3));
    CHECK_TRUE("empty", utf8_valid("", 0));
    CHECK_TRUE("U+10FFFF", utf8_valid("\xf4\x8f\xbf\xbf", 4));
    CHECK_TRUE("U+D7FF", utf8_valid("\xed\x9f\xbf", 3));
    CHECK_TRUE("U+E000", utf8_valid("\xee\x80\x80", 3));
    CHECK_TRUE("not U+D800", !utf8_valid("\xed\xa0\x80", 3));
    CHECK_TRUE("not overlong NUL", !utf8_valid("\xc0\x80", 2));
    CHECK_TRUE("not 0xF5", !utf8_valid("\xf5\x80\x80\x80", 4));
    CHECK_LONG("cut 4-byte", utf8_char_len((const unsigned char *)"\xf0\x9f\x93", 3), 0);
    CHECK_LONG("bad third byte", utf8_char_len((const unsigned char *)"\xe2\x82x", 3), 0);
}

static void test_writer(void)
{
    struct strbuf sb = STRBUF_INIT;
    struct json_writer w;

    json_init(&w, &sb);
    json_object_begin(&w);
    json_key(&w, "queue_id");
    json_string(&w, "ABC");
    json_key(&w, "size");
    json_int(&w, -12);
    json_key(&w, "big");
    json_uint(&w, 18446744073709551615ULL);
    json_key(&w, "rcpts");
    json_array_begin(&w);
    json_object_begin(&w);
    json_key(&w, "a");
    json_null(&w);
    json_object_end(&w);
    json_string(&w, NULL);
    json_bool(&w, 1);
    json_bool(&w, 0);
    json_double(&w, 1.5, 2);
    json_raw(&w, "{\"x\":1}");
    json_array_end(&w);
    json_key(&w, "empty");
    json_array_begin(&w);
    json_array_end(&w);
    json_key(&w, "k\"ey");
    json_object_begin(&w);
    json_object_end(&w);
    json_object_end(&w);
    CHECK_STR("document", strbuf_str(&sb),
              "{\"queue_id\":\"ABC\",\"size\":-12,\"big\":18446744073709551615,"
              "\"rcpts\":[{\"a\":null},null,true,false,1.50,{\"x\":1}],"
              "\"empty\":[],\"k\\\"ey\":{}}");
    CHECK_LONG("depth back to 0", w.depth, 0);
    /* Two top-level values in a row (JSON Lines writers reset the buffer). */
    strbuf_reset(&sb);
    json_init(&w, &sb);
    json_array_begin(&w);
    for (int i = 0; i < JSON_DEPTH_MAX - 1; i++)
        json_array_begin(&w);
    for (int i = 0; i < JSON_DEPTH_MAX; i++)
        json_array_end(&w);
    CHECK_LONG("deepest nesting", strbuf_len(&sb), 2 * JSON_DEPTH_MAX);
    strbuf_free(&sb);
}

static void test_members(void)
{
    struct strbuf sb = STRBUF_INIT;
    struct json_writer w;

    json_init(&w, &sb);
    json_object_begin(&w);
    json_member_string(&w, "s", "x");
    json_member_string(&w, "n", NULL);
    json_member_int(&w, "i", -1);
    json_member_uint(&w, "u", 2);
    json_member_bool(&w, "b", 1);
    json_object_end(&w);
    CHECK_STR("members", strbuf_str(&sb), "{\"s\":\"x\",\"n\":null,\"i\":-1,\"u\":2,\"b\":true}");
    strbuf_free(&sb);
}

int main(void)
{
    test_members();
    test_quote();
    test_utf8();
    test_writer();
    return check_finish("test_json");
}
