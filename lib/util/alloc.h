/*
 * alloc.h - memory allocation that never returns NULL.
 *
 * Every allocator here either succeeds or ends the process with a fatal log
 * line: callers never check for NULL. Every release function accepts NULL and
 * returns NULL so that `p = xfree(p);` leaves no dangling pointer.
 * Ownership: the caller owns what these return and frees it with xfree().
 */
#ifndef POSTERN_ALLOC_H
#define POSTERN_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Grow an array of `*capacity` elements of `elem_size` to hold `need`. */
void *xgrow(void *ptr, size_t *capacity, size_t need, size_t elem_size);
char *xstrdup(const char *str);
char *xstrndup(const char *str, size_t len);
void *xmemdup(const void *ptr, size_t len);
/* printf into a fresh string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xfree(void *ptr);

#endif
