/*
 * test_strbuf.c - the growable string buffer and the list splitter.
 */
#include <string.h>

#include "alloc.h"
#include "check.h"
#include "strbuf.h"
#include "strlist.h"

static void test_strbuf_basics(void)
{
    struct strbuf sb = STRBUF_INIT;

    CHECK_STR("empty is \"\"", strbuf_str(&sb), "");
    CHECK_LONG("empty len", strbuf_len(&sb), 0);
    strbuf_add_str(&sb, "abc");
    strbuf_add_char(&sb, '-');
    strbuf_printf(&sb, "%d:%s", 42, "x");
    CHECK_STR("appends", strbuf_str(&sb), "abc-42:x");
    strbuf_truncate(&sb, 3);
    CHECK_STR("truncate", strbuf_str(&sb), "abc");
    strbuf_truncate(&sb, 100);
    CHECK_STR("truncate past end keeps", strbuf_str(&sb), "abc");
    strbuf_reset(&sb);
    CHECK_STR("reset", strbuf_str(&sb), "");
    strbuf_add(&sb, "a\0b", 3);
    CHECK_LONG("NUL kept in length", strbuf_len(&sb), 3);
    CHECK_TRUE("NUL kept in bytes", memcmp(strbuf_str(&sb), "a\0b", 4) == 0);
    strbuf_free(&sb);
    CHECK_STR("free leaves empty", strbuf_str(&sb), "");
    strbuf_free(&sb);
}

static void test_strbuf_large(void)
{
    struct strbuf sb = STRBUF_INIT;
    char big[10000];
    char *text;

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 100; i++)
        strbuf_printf(&sb, "%s", big);
    CHECK_LONG("100 printfs of 9999 bytes", strbuf_len(&sb), 999900);
    CHECK_TRUE("terminated", strbuf_str(&sb)[999900] == '\0');
    text = strbuf_detach(&sb);
    CHECK_LONG("detached length", strlen(text), 999900);
    CHECK_LONG("detach empties", strbuf_len(&sb), 0);
    xfree(text);
    text = strbuf_detach(&sb);
    CHECK_STR("detach of empty is \"\"", text, "");
    xfree(text);
}

static const struct {
    const char *text;
    long count;             /* -1: unbalanced braces */
    const char *items[5];
} list_cases[] = {
    { "", 0, { NULL } },
    { " ,, \t\r\n", 0, { NULL } },
    { " a, b,,c\td ", 4, { "a", "b", "c", "d" } },
    { "inline:{x=1, y=2} lmdb:/t", 2, { "inline:{x=1, y=2}", "lmdb:/t" } },
    { "a{b{c d}e}f,g", 2, { "a{b{c d}e}f", "g" } },
    { "a {b", -1, { NULL } },
    { "a }b", -1, { NULL } },
    { "{}", 1, { "{}" } },
};

static void test_strlist(void)
{
    for (size_t i = 0; i < sizeof(list_cases) / sizeof(list_cases[0]); i++) {
        size_t n = 99;
        char **list = strlist_split(list_cases[i].text, &n);

        if (list_cases[i].count < 0) {
            CHECK_TRUE(list_cases[i].text, list == NULL);
            continue;
        }
        CHECK_TRUE(list_cases[i].text, list != NULL);
        if (list == NULL)
            continue;
        CHECK_LONG(list_cases[i].text, n, list_cases[i].count);
        for (long k = 0; k < list_cases[i].count; k++)
            CHECK_STR(list_cases[i].text, list[k], list_cases[i].items[k]);
        CHECK_TRUE("NULL-terminated", list[n] == NULL);
        CHECK_TRUE("free returns NULL", strlist_free(list) == NULL);
    }
    CHECK_TRUE("NULL text is empty", strlist_free(strlist_split(NULL, NULL)) == NULL);
}

int main(void)
{
    test_strbuf_basics();
    test_strbuf_large();
    test_strlist();
    return check_finish("test_strbuf");
}
