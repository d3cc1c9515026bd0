/*
 * htable.c - string-keyed hash table with chaining (see htable.h).
 */
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "hash.h"
#include "htable.h"

struct htable_entry {
    struct htable_entry *next;
    uint64_t hash;
    void *value;
    char key[];
};

struct htable {
    struct htable_entry **buckets;
    size_t nbuckets;            /* a power of two */
    size_t count;
};

#define HTABLE_MIN_BUCKETS 16

struct htable *htable_create(size_t size_hint)
{
    struct htable *table = xmalloc(sizeof(*table));

    table->nbuckets = HTABLE_MIN_BUCKETS;
    while (table->nbuckets < size_hint && table->nbuckets < ((size_t)1 << 40))
        table->nbuckets *= 2;
    table->buckets = xcalloc(table->nbuckets, sizeof(*table->buckets));
    table->count = 0;
    return table;
}

struct htable *htable_free(struct htable *table, void (*free_value)(void *value))
{
    if (table == NULL)
        return NULL;
    for (size_t i = 0; i < table->nbuckets; i++) {
        struct htable_entry *e = table->buckets[i], *next;

        for (; e != NULL; e = next) {
            next = e->next;
            if (free_value != NULL)
                free_value(e->value);
            xfree(e);
        }
    }
    xfree(table->buckets);
    return xfree(table);
}

static struct htable_entry **bucket_of(const struct htable *table, uint64_t hash)
{
    return &table->buckets[hash & (table->nbuckets - 1)];
}

/* The link that points at key's entry, or at the NULL ending its chain. */
static struct htable_entry **link_of(const struct htable *table, const char *key, uint64_t hash)
{
    struct htable_entry **link = bucket_of(table, hash);

    while (*link != NULL && ((*link)->hash != hash || strcmp((*link)->key, key) != 0))
        link = &(*link)->next;
    return link;
}

static void grow(struct htable *table)
{
    struct htable_entry **old = table->buckets;
    size_t old_n = table->nbuckets;

    table->nbuckets = old_n * 2;
    table->buckets = xcalloc(table->nbuckets, sizeof(*table->buckets));
    for (size_t i = 0; i < old_n; i++) {
        struct htable_entry *e = old[i], *next;

        for (; e != NULL; e = next) {
            struct htable_entry **head = bucket_of(table, e->hash);

            next = e->next;
            e->next = *head;
            *head = e;
        }
    }
    xfree(old);
}

void *htable_find(const struct htable *table, const char *key)
{
    struct htable_entry *e = *link_of(table, key, hash_str(key));

    return e != NULL ? e->value : NULL;
}

int htable_contains(const struct htable *table, const char *key)
{
    return *link_of(table, key, hash_str(key)) != NULL;
}

int htable_insert(struct htable *table, const char *key, void *value)
{
    uint64_t hash = hash_str(key);
    size_t key_len = strlen(key);
    struct htable_entry **link = link_of(table, key, hash), *e;

    if (*link != NULL)
        return -1;
    if (table->count >= table->nbuckets) {
        grow(table);
        link = link_of(table, key, hash);
    }
    e = xmalloc(sizeof(*e) + key_len + 1);
    memcpy(e->key, key, key_len + 1);
    e->hash = hash;
    e->value = value;
    e->next = NULL;
    *link = e;
    table->count++;
    return 0;
}

void *htable_remove(struct htable *table, const char *key)
{
    struct htable_entry **link = link_of(table, key, hash_str(key)), *e = *link;
    void *value;

    if (e == NULL)
        return NULL;
    value = e->value;
    *link = e->next;
    xfree(e);
    table->count--;
    return value;
}

size_t htable_count(const struct htable *table)
{
    return table->count;
}

void htable_iter_init(struct htable_iter *it, const struct htable *table)
{
    it->table = table;
    it->bucket = 0;
    it->next = NULL;
}

int htable_iter_next(struct htable_iter *it, const char **key, void **value)
{
    struct htable_entry *e = it->next;

    while (e == NULL && it->bucket < it->table->nbuckets)
        e = it->table->buckets[it->bucket++];
    if (e == NULL)
        return 0;
    it->next = e->next;
    if (key != NULL)
        *key = e->key;
    if (value != NULL)
        *value = e->value;
    return 1;
}
