/*
 * test_htable.c - SipHash-2-4 against published vectors, and the hash table
 * (insert, find, remove, growth, iteration with removal, hostile keys).
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "check.h"
#include "hash.h"
#include "htable.h"

/* Vectors from the SipHash paper's reference: key 00..0f, message 00..len-1. */
static const struct {
    size_t len;
    unsigned long long want;
} sip_cases[] = {
    { 0, 0x726fdb47dd0e0e31ULL },
    { 1, 0x74f839c593dc67fdULL },
    { 7, 0xab0200f58b01d137ULL },
    { 8, 0x93f5f5799a932462ULL },
    { 15, 0xa129ca6149be45e5ULL },
    { 63, 0x958a324ceb064572ULL },
};

static void test_siphash(void)
{
    unsigned char key[16], msg[64];
    char got[32], want[32];

    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (unsigned char)i;
    for (size_t i = 0; i < sizeof(sip_cases) / sizeof(sip_cases[0]); i++) {
        snprintf(got, sizeof(got), "%016llx",
                 (unsigned long long)hash_siphash24(key, msg, sip_cases[i].len));
        snprintf(want, sizeof(want), "%016llx", sip_cases[i].want);
        CHECK_STR("siphash vector", got, want);
    }
    CHECK_TRUE("same text, same hash", hash_str("example.com") == hash_str("example.com"));
    CHECK_TRUE("different text", hash_str("example.com") != hash_str("example.org"));
}

static int freed_count;

static void count_free(void *value)
{
    (void)value;
    freed_count++;
}

static void test_table_basics(void)
{
    struct htable *t = htable_create(0);
    int a = 1, b = 2;

    CHECK_TRUE("empty find", htable_find(t, "a") == NULL);
    CHECK_LONG("insert a", htable_insert(t, "a", &a), 0);
    CHECK_LONG("insert a again", htable_insert(t, "a", &b), -1);
    CHECK_TRUE("find a keeps first", htable_find(t, "a") == &a);
    CHECK_LONG("insert empty key", htable_insert(t, "", &b), 0);
    CHECK_TRUE("find empty key", htable_find(t, "") == &b);
    CHECK_LONG("insert NULL value", htable_insert(t, "null", NULL), 0);
    CHECK_TRUE("contains NULL value", htable_contains(t, "null"));
    CHECK_TRUE("not contains", !htable_contains(t, "nope"));
    CHECK_LONG("count", htable_count(t), 3);
    CHECK_TRUE("remove a", htable_remove(t, "a") == &a);
    CHECK_TRUE("remove a twice", htable_remove(t, "a") == NULL);
    CHECK_TRUE("case matters", htable_find(t, "NULL") == NULL && htable_contains(t, "null"));
    CHECK_LONG("count after remove", htable_count(t), 2);
    freed_count = 0;
    CHECK_TRUE("free returns NULL", htable_free(t, count_free) == NULL);
    CHECK_LONG("free calls free_value", freed_count, 2);
    CHECK_TRUE("free NULL", htable_free(NULL, NULL) == NULL);
}

static void test_table_many(void)
{
    struct htable *t = htable_create(4);
    char key[32];
    size_t found = 0, walked = 0;
    struct htable_iter it;
    const char *k;
    void *v;

    for (long i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "%08lX%06lX", i * 7919, i);
        htable_insert(t, key, (void *)(i + 1));
    }
    CHECK_LONG("100000 entries", htable_count(t), 100000);
    for (long i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "%08lX%06lX", i * 7919, i);
        found += htable_find(t, key) == (void *)(i + 1);
    }
    CHECK_LONG("all found", found, 100000);
    /* Remove the odd ones while walking. */
    htable_iter_init(&it, t);
    while (htable_iter_next(&it, &k, &v)) {
        walked++;
        if (((long)v) % 2 == 0)
            htable_remove(t, k);
    }
    CHECK_LONG("walk saw all", walked, 100000);
    CHECK_LONG("half left", htable_count(t), 50000);
    htable_free(t, NULL);
}

static void test_table_long_keys(void)
{
    struct htable *t = htable_create(0);
    char *big = xmalloc(100001);

    memset(big, 'k', 100000);
    big[100000] = '\0';
    CHECK_LONG("long key", htable_insert(t, big, big), 0);
    CHECK_TRUE("find long key", htable_find(t, big) == big);
    big[99999] = 'j';
    CHECK_TRUE("differs in last byte", htable_find(t, big) == NULL);
    htable_free(t, NULL);
    xfree(big);
}

int main(void)
{
    test_siphash();
    test_table_basics();
    test_table_many();
    test_table_long_keys();
    return check_finish("test_htable");
}
