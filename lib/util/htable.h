/*
 * htable.h - the one hash table of Postern: NUL-terminated string keys to
 * pointer values.
 *
 * Chaining with the keys stored inside the entries (one allocation per
 * entry) and hash.h's keyed hash, so hostile keys cannot make it slow. The
 * table doubles its buckets when it holds more entries than buckets, so
 * find, insert and remove stay O(1) on average; it never shrinks. Iteration
 * order is unspecified and differs between processes.
 *
 * Memory: the table owns copies of the keys; values belong to the caller
 * (htable_free() may call a function on each one). Key pointers handed out
 * by the iterator are valid until that entry is removed.
 */
#ifndef POSTERN_HTABLE_H
#define POSTERN_HTABLE_H

#include <stddef.h>

struct htable;
struct htable_entry;

/* size_hint: expected entries (0 for a small table). */
struct htable *htable_create(size_t size_hint);
/* Calls free_value (may be NULL) on each value. Accepts NULL; returns NULL. */
struct htable *htable_free(struct htable *table, void (*free_value)(void *value));

/* The value stored under key, or NULL when there is none. */
void *htable_find(const struct htable *table, const char *key);
/* 1 when key is present (whatever its value, NULL included), else 0. */
int htable_contains(const struct htable *table, const char *key);
/* Add key -> value: 0 added, -1 when key is already present (nothing changes). */
int htable_insert(struct htable *table, const char *key, void *value);
/* Remove key; returns its value (NULL when absent, or when the value was NULL). */
void *htable_remove(struct htable *table, const char *key);
size_t htable_count(const struct htable *table);

/*
 * Visit every entry:
 *     struct htable_iter it;
 *     const char *key; void *value;
 *     htable_iter_init(&it, table);
 *     while (htable_iter_next(&it, &key, &value)) ...
 * The entry just returned may be removed during the walk; no other insert
 * or remove is allowed until the walk ends.
 */
struct htable_iter {
    const struct htable *table;
    size_t bucket;
    struct htable_entry *next;
};

void htable_iter_init(struct htable_iter *it, const struct htable *table);
int htable_iter_next(struct htable_iter *it, const char **key, void **value);

#endif
