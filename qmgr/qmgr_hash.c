/*
 * qmgr_hash.c - a string-keyed hash table with chaining (see qmgr.h).
 *
 * Used for the set of active queue IDs (up to qmgr_message_active_limit
 * entries) and for the destinations by next hop. The table doubles when it
 * holds more entries than buckets, so lookups stay O(1).
 *
 * Memory: the table owns copies of the keys; values belong to the caller.
 */
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "qmgr.h"

struct qmgr_hash_entry {
    char *key;
    void *value;
    struct qmgr_hash_entry *next;
};

struct qmgr_hash {
    struct qmgr_hash_entry **buckets;
    size_t size;                /* number of buckets, a power of two */
    size_t count;
};

#define HASH_INITIAL_SIZE 64

/* FNV-1a. */
static size_t hash_key(const char *key)
{
    uint64_t h = 14695981039346656037ULL;

    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

struct qmgr_hash *qmgr_hash_create(void)
{
    struct qmgr_hash *h = xmalloc(sizeof(*h));

    h->size = HASH_INITIAL_SIZE;
    h->count = 0;
    h->buckets = xcalloc(h->size, sizeof(*h->buckets));
    return h;
}

static void hash_grow(struct qmgr_hash *h)
{
    size_t new_size = h->size * 2;
    struct qmgr_hash_entry **nb = xcalloc(new_size, sizeof(*nb));

    for (size_t i = 0; i < h->size; i++) {
        struct qmgr_hash_entry *e = h->buckets[i], *next;
        for (; e; e = next) {
            size_t b = hash_key(e->key) & (new_size - 1);
            next = e->next;
            e->next = nb[b];
            nb[b] = e;
        }
    }
    xfree(h->buckets);
    h->buckets = nb;
    h->size = new_size;
}

void *qmgr_hash_find(const struct qmgr_hash *h, const char *key)
{
    const struct qmgr_hash_entry *e = h->buckets[hash_key(key) & (h->size - 1)];

    for (; e; e = e->next) {
        if (strcmp(e->key, key) == 0)
            return e->value;
    }
    return NULL;
}

void qmgr_hash_insert(struct qmgr_hash *h, const char *key, void *value)
{
    struct qmgr_hash_entry *e;
    size_t b;

    if (h->count >= h->size)
        hash_grow(h);
    b = hash_key(key) & (h->size - 1);
    e = xmalloc(sizeof(*e));
    e->key = xstrdup(key);
    e->value = value;
    e->next = h->buckets[b];
    h->buckets[b] = e;
    h->count++;
}

void *qmgr_hash_remove(struct qmgr_hash *h, const char *key)
{
    struct qmgr_hash_entry **pp = &h->buckets[hash_key(key) & (h->size - 1)];

    for (; *pp; pp = &(*pp)->next) {
        struct qmgr_hash_entry *e = *pp;
        if (strcmp(e->key, key) == 0) {
            void *value = e->value;
            *pp = e->next;
            xfree(e->key);
            xfree(e);
            h->count--;
            return value;
        }
    }
    return NULL;
}

size_t qmgr_hash_count(const struct qmgr_hash *h)
{
    return h->count;
}

void qmgr_hash_free(struct qmgr_hash *h, void (*fn)(void *value))
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->size; i++) {
        struct qmgr_hash_entry *e = h->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            if (fn)
                fn(e->value);
            xfree(e->key);
            xfree(e);
        }
    }
    xfree(h->buckets);
    xfree(h);
}
