/*
 * dns_cache.c - the resolver's cache (see dns.h, "Cache"): (name, record
 * type) -> rrset with absolute expiry times (monotonic milliseconds).
 *
 * Only OK, NXDOMAIN and NODATA outcomes that have not expired are kept; an
 * expired entry is dropped when it is found. When full, the least recently
 * used entry goes. Entries sit in a chained hash table whose size is a
 * power of two (at most 2^20 buckets) and on one LRU list.
 *
 * Memory: the module owns its table, its entries and, in each entry, a
 * deep copy of the rrset stored. dns_cache_get() returns a pointer into an
 * entry, valid until the next call that changes the cache.
 */
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "dns_private.h"

#define BUCKETS_MIN 16
#define BUCKETS_MAX ((size_t)1 << 20)

struct centry {
    struct centry *hnext;           /* next in the same bucket */
    struct centry *lprev, *lnext;   /* LRU: head is the most recent */
    uint32_t hash;
    uint16_t type;
    char *name;
    struct dns_rrset set;
};

static struct {
    struct centry **buckets;
    size_t nbuckets;
    size_t count;
    size_t max;                     /* 0: disabled */
    struct centry *lru_head, *lru_tail;
} cache;

/* ------------------------------------------------------------------------ */
/* Keys and buckets */

/* FNV-1a over the name, then the type. */
static uint32_t key_hash(const char *name, uint16_t type)
{
    uint32_t h = 2166136261U;

    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 16777619U;
    }
    h ^= type;
    h *= 16777619U;
    return h;
}

static struct centry **bucket_of(uint32_t hash)
{
    return &cache.buckets[hash & (cache.nbuckets - 1)];
}

static struct centry *bucket_find(const char *name, uint16_t type, uint32_t hash)
{
    for (struct centry *e = *bucket_of(hash); e != NULL; e = e->hnext)
        if (e->hash == hash && e->type == type && strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

static void bucket_insert(struct centry *e)
{
    struct centry **head = bucket_of(e->hash);

    e->hnext = *head;
    *head = e;
}

static void bucket_remove(struct centry *e)
{
    struct centry **pp = bucket_of(e->hash);

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
}

/* ------------------------------------------------------------------------ */
/* LRU list */

static void lru_unlink(struct centry *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        cache.lru_head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        cache.lru_tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void lru_push_front(struct centry *e)
{
    e->lprev = NULL;
    e->lnext = cache.lru_head;
    if (cache.lru_head)
        cache.lru_head->lprev = e;
    cache.lru_head = e;
    if (cache.lru_tail == NULL)
        cache.lru_tail = e;
}

/* ------------------------------------------------------------------------ */
/* Entries */

static void entry_remove(struct centry *e)
{
    bucket_remove(e);
    lru_unlink(e);
    dns_rrset_free(&e->set);
    xfree(e->name);
    xfree(e);
    cache.count--;
}

static int cacheable(const struct dns_rrset *set, uint64_t now)
{
    if (set->expire_ms <= now)
        return 0;
    return set->status == DNS_OK || set->status == DNS_NXDOMAIN || set->status == DNS_NODATA;
}

const struct dns_rrset *dns_cache_get(const char *name, uint16_t type, uint64_t now)
{
    struct centry *e;

    if (cache.max == 0)
        return NULL;
    e = bucket_find(name, type, key_hash(name, type));
    if (e == NULL)
        return NULL;
    if (e->set.expire_ms <= now) {
        entry_remove(e);
        return NULL;
    }
    lru_unlink(e);
    lru_push_front(e);
    return &e->set;
}

void dns_cache_put(const char *name, uint16_t type, const struct dns_rrset *set, uint64_t now)
{
    uint32_t hash = key_hash(name, type);
    struct centry *e;

    if (cache.max == 0 || !cacheable(set, now))
        return;
    if ((e = bucket_find(name, type, hash)) != NULL)
        entry_remove(e);
    while (cache.count >= cache.max && cache.lru_tail != NULL)
        entry_remove(cache.lru_tail);
    e = xcalloc(1, sizeof(*e));
    e->hash = hash;
    e->type = type;
    e->name = xstrdup(name);
    dns_rrset_copy(&e->set, set);
    bucket_insert(e);
    lru_push_front(e);
    cache.count++;
}

/* ------------------------------------------------------------------------ */
/* Life */

void dns_cache_open(size_t max)
{
    size_t n = BUCKETS_MIN;

    memset(&cache, 0, sizeof(cache));
    cache.max = max;
    while (n < max && n < BUCKETS_MAX)
        n <<= 1;
    cache.nbuckets = n;
    cache.buckets = xcalloc(n, sizeof(*cache.buckets));
}

void dns_cache_close(void)
{
    dns_cache_flush();
    xfree(cache.buckets);
    memset(&cache, 0, sizeof(cache));
}

void dns_cache_flush(void)
{
    while (cache.lru_head != NULL)
        entry_remove(cache.lru_head);
}

size_t dns_cache_count(void)
{
    uint64_t now = dns_now_ms();
    struct centry *e = cache.lru_head;

    while (e != NULL) {
        struct centry *next = e->lnext;

        if (e->set.expire_ms <= now)
            entry_remove(e);
        e = next;
    }
    return cache.count;
}
