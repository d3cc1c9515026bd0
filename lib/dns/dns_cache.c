/*
 * dns_cache.c - the resolver's cache (see dns.h, "Cache"): (name, record
 * type) -> rrset with absolute expiry times (monotonic milliseconds).
 *
 * Only OK, NXDOMAIN and NODATA outcomes that have not expired are kept; an
 * expired entry is dropped when it is found. When full, the least recently
 * used entry goes. Entries are found through the one hash table
 * (htable.h), keyed "TYPE/name", and sit on one LRU list.
 *
 * Memory: the module owns its table, its entries and, in each entry, a
 * deep copy of the rrset stored. dns_cache_get() returns a pointer into an
 * entry, valid until the next call that changes the cache.
 */
#include <stdint.h>
#include <string.h>

#include <stdio.h>

#include "alloc.h"
#include "dns_private.h"
#include "htable.h"

/* "65535/" and a name in presentation form (DNS_NAME_TEXT_MAX with its NUL). */
#define CACHE_KEY_MAX (DNS_NAME_TEXT_MAX + 8)

struct centry {
    struct centry *lprev, *lnext;   /* LRU: head is the most recent */
    char key[CACHE_KEY_MAX];
    struct dns_rrset set;
};

static struct {
    struct htable *table;           /* key -> struct centry */
    size_t count;
    size_t max;                     /* 0: disabled */
    struct centry *lru_head, *lru_tail;
} cache;

/* ------------------------------------------------------------------------ */
/* Keys */

static void cache_key(char *key, const char *name, uint16_t type)
{
    snprintf(key, CACHE_KEY_MAX, "%u/%s", (unsigned)type, name);
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
    htable_remove(cache.table, e->key);
    lru_unlink(e);
    dns_rrset_free(&e->set);
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
    char key[CACHE_KEY_MAX];

    if (cache.max == 0)
        return NULL;
    cache_key(key, name, type);
    e = htable_find(cache.table, key);
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
    char key[CACHE_KEY_MAX];
    struct centry *e;

    if (cache.max == 0 || !cacheable(set, now))
        return;
    cache_key(key, name, type);
    if ((e = htable_find(cache.table, key)) != NULL)
        entry_remove(e);
    while (cache.count >= cache.max && cache.lru_tail != NULL)
        entry_remove(cache.lru_tail);
    e = xcalloc(1, sizeof(*e));
    memcpy(e->key, key, sizeof(e->key));
    dns_rrset_copy(&e->set, set);
    htable_insert(cache.table, e->key, e);
    lru_push_front(e);
    cache.count++;
}

/* ------------------------------------------------------------------------ */
/* Life */

void dns_cache_open(size_t max)
{
    memset(&cache, 0, sizeof(cache));
    cache.max = max;
    cache.table = htable_create(max < 4096 ? max : 4096);
}

void dns_cache_close(void)
{
    dns_cache_flush();
    htable_free(cache.table, NULL);
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
