/*
 * showq_topk.c - the most frequent keys of a stream, in bounded memory.
 *
 * A table of at most `cap` items (key, count, error, and `extra_size`
 * bytes of the caller's data) found through an open-addressing hash (linear
 * probing over twice as many slots; each slot keeps the key's hash, so a
 * probe rarely touches an item). Keys live in one arena.
 *
 * While at most `cap` distinct keys have been seen, every count is exact.
 * When a new key arrives at a full table, the table is swept: the median
 * count m is found and every item counted m times or fewer is dropped (at
 * least half of them), `floor` becomes m, and the survivors are packed
 * together with a fresh arena and hash. A key added after that starts at
 * floor + 1 with error = floor (a batch form of the Space-Saving algorithm
 * of Metwally, Agrawal and El Abbadi, 2005). So, always:
 *   - count - error <= true count <= count, for every item;
 *   - a key no longer in the table occurred at most `floor` times;
 * and a sweep costs O(cap) once per cap/2 new keys: O(1) per key, amortized.
 * Keys longer than TOPK_KEY_MAX bytes are counted by their first
 * TOPK_KEY_MAX bytes.
 *
 * Memory: the table owns its arrays, arena and extras; showq_topk_free
 * releases them. Item pointers and keys are valid until the next showq_topk_add.
 */
#include <string.h>

#include "alloc.h"
#include "showq.h"
#include "strbuf.h"

#define TOPK_KEY_MAX 512

uint32_t showq_topk_hash(const char *key, size_t len)
{
    if (len > TOPK_KEY_MAX)
        len = TOPK_KEY_MAX;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ len;
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, key + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 29;
    }
    if (i < len) {
        uint64_t w = 0;
        memcpy(&w, key + i, len - i);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    }
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 33;
    return (uint32_t)h;
}

void showq_topk_init(struct showq_topk *t, size_t cap, size_t extra_size)
{
    size_t slots = 4;

    memset(t, 0, sizeof(*t));
    if (cap < 2)
        cap = 2;
    while (slots < 2 * cap)
        slots *= 2;
    t->cap = cap;
    t->items = xcalloc(cap, sizeof(*t->items));
    t->slots = xcalloc(slots, sizeof(*t->slots));
    t->slot_mask = slots - 1;
    t->extra_size = extra_size;
    t->extras = extra_size ? xcalloc(cap, extra_size) : NULL;
    t->scratch = xcalloc(cap, sizeof(*t->scratch));
}

void showq_topk_free(struct showq_topk *t)
{
    t->items = xfree(t->items);
    t->slots = xfree(t->slots);
    t->extras = xfree(t->extras);
    t->scratch = xfree(t->scratch);
    strbuf_free(&t->arena);
    t->count = t->cap = 0;
}

const char *showq_topk_key(const struct showq_topk *t, const struct showq_topk_item *it)
{
    return t->arena.data + it->key_off;
}

void *showq_topk_extra(const struct showq_topk *t, const struct showq_topk_item *it)
{
    if (t->extras == NULL)
        return NULL;
    return t->extras + (size_t)(it - t->items) * t->extra_size;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find_slot(const struct showq_topk *t, const char *key, size_t len,
                        uint32_t hash)
{
    size_t i = hash & t->slot_mask;

    for (; t->slots[i].idx1 != 0; i = (i + 1) & t->slot_mask) {
        const struct showq_topk_item *it;

        if (t->slots[i].hash != hash)
            continue;
        it = &t->items[t->slots[i].idx1 - 1];
        if (it->key_len == len && memcmp(t->arena.data + it->key_off, key, len) == 0)
            break;
    }
    return i;
}

/* Append a key (NUL-terminated) to the arena; its offset. */
static uint32_t arena_add(struct showq_topk *t, const char *key, size_t len)
{
    size_t off = strbuf_len(&t->arena);

    strbuf_add(&t->arena, key, len);
    strbuf_add_char(&t->arena, '\0');
    return (uint32_t)off;
}

/* The k-th smallest (0-based) of v[0..n-1]; reorders v. */
static uint64_t select_kth(uint64_t *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;

    while (lo < hi) {
        uint64_t pivot = v[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;

        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                uint64_t tmp = v[i];
                v[i] = v[j];
                v[j] = tmp;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

/* Drop every item counted the median number of times or fewer. */
static void sweep(struct showq_topk *t)
{
    uint64_t median;
    struct strbuf old_arena = t->arena;
    size_t kept = 0;

    for (size_t i = 0; i < t->count; i++)
        t->scratch[i] = t->items[i].count;
    median = select_kth(t->scratch, t->count, t->count / 2);
    if (median > t->floor)
        t->floor = median;
    strbuf_init(&t->arena);
    memset(t->slots, 0, (t->slot_mask + 1) * sizeof(*t->slots));
    for (size_t i = 0; i < t->count; i++) {
        struct showq_topk_item it = t->items[i];
        size_t slot;

        if (it.count <= median)
            continue;
        it.key_off = arena_add(t, old_arena.data + it.key_off, it.key_len);
        if (kept != i && t->extras)
            memcpy(t->extras + kept * t->extra_size, t->extras + i * t->extra_size,
                   t->extra_size);
        t->items[kept] = it;
        slot = it.hash & t->slot_mask;
        while (t->slots[slot].idx1 != 0)
            slot = (slot + 1) & t->slot_mask;
        t->slots[slot].hash = it.hash;
        t->slots[slot].idx1 = (uint32_t)kept + 1;
        kept++;
    }
    strbuf_free(&old_arena);
    t->last_idx1 = 0;
    t->evicted += t->count - kept;
    t->count = kept;
    t->sweeps++;
}

void showq_topk_prefetch(const struct showq_topk *t, uint32_t hash)
{
    __builtin_prefetch(&t->slots[hash & t->slot_mask]);
}

struct showq_topk_item *showq_topk_add(struct showq_topk *t, const char *key, size_t len,
                                       int *fresh)
{
    return showq_topk_add_hashed(t, key, len, showq_topk_hash(key, len), fresh);
}

struct showq_topk_item *showq_topk_add_hashed(struct showq_topk *t, const char *key,
                                              size_t len, uint32_t hash, int *fresh)
{
    size_t slot;
    struct showq_topk_item *it;

    if (len > TOPK_KEY_MAX)
        len = TOPK_KEY_MAX;
    slot = find_slot(t, key, len, hash);
    if (t->slots[slot].idx1 != 0) {
        t->last_idx1 = t->slots[slot].idx1;
        it = &t->items[t->last_idx1 - 1];
        it->count++;
        *fresh = 0;
        return it;
    }
    *fresh = 1;
    if (t->count == t->cap) {
        sweep(t);
        slot = find_slot(t, key, len, hash);
    }
    it = &t->items[t->count];
    it->key_off = arena_add(t, key, len);
    it->key_len = (uint32_t)len;
    it->hash = hash;
    it->count = t->floor + 1;
    it->error = t->floor;
    if (t->extras)
        memset(t->extras + t->count * t->extra_size, 0, t->extra_size);
    t->slots[slot].hash = hash;
    t->slots[slot].idx1 = (uint32_t)t->count + 1;
    t->count++;
    t->last_idx1 = (uint32_t)t->count;
    return it;
}

/* Does a rank before b? More counted first, then by key. */
static int ranks_before(const struct showq_topk *t, const struct showq_topk_item *a,
                        const struct showq_topk_item *b)
{
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c;

    if (a->count != b->count)
        return a->count > b->count;
    c = memcmp(t->arena.data + a->key_off, t->arena.data + b->key_off, n);
    return c != 0 ? c < 0 : a->key_len < b->key_len;
}

size_t showq_topk_top(const struct showq_topk *t, const struct showq_topk_item **out,
                      size_t n)
{
    size_t have = 0;

    for (size_t i = 0; i < t->count && n > 0; i++) {
        const struct showq_topk_item *it = &t->items[i];
        size_t pos = have;

        if (have == n && !ranks_before(t, it, out[n - 1]))
            continue;
        if (have < n)
            have++;
        else
            pos = n - 1;
        while (pos > 0 && ranks_before(t, it, out[pos - 1])) {
            out[pos] = out[pos - 1];
            pos--;
        }
        out[pos] = it;
    }
    return have;
}
