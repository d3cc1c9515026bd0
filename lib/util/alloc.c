/*
 * alloc.c - allocation that cannot return NULL (see alloc.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "msg.h"

static void *checked(void *ptr, size_t size)
{
    if (ptr == NULL && size != 0)
        msg_fatal("out of memory allocating %zu bytes", size);
    return ptr;
}

void *xmalloc(size_t size)
{
    return checked(malloc(size ? size : 1), size);
}

void *xcalloc(size_t count, size_t size)
{
    if (size != 0 && count > (size_t)-1 / size)
        msg_panic("xcalloc: %zu * %zu overflows", count, size);
    return checked(calloc(count ? count : 1, size ? size : 1), count * size);
}

void *xrealloc(void *ptr, size_t size)
{
    return checked(realloc(ptr, size ? size : 1), size);
}

void *xgrow(void *ptr, size_t *capacity, size_t need, size_t elem_size)
{
    size_t cap = *capacity;

    if (need <= cap)
        return ptr;
    if (cap < 8)
        cap = 8;
    while (cap < need) {
        if (cap > ((size_t)-1 / 2) / elem_size)
            msg_panic("xgrow: %zu elements of %zu bytes overflows", need, elem_size);
        cap *= 2;
    }
    *capacity = cap;
    return xrealloc(ptr, cap * elem_size);
}

char *xstrdup(const char *str)
{
    return xmemdup(str, strlen(str) + 1);
}

char *xstrndup(const char *str, size_t len)
{
    size_t n = strnlen(str, len);
    char *copy = xmalloc(n + 1);

    memcpy(copy, str, n);
    copy[n] = '\0';
    return copy;
}

void *xmemdup(const void *ptr, size_t len)
{
    void *copy = xmalloc(len);

    if (len)
        memcpy(copy, ptr, len);
    return copy;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *out;

    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0)
        msg_fatal("out of memory formatting a string");
    va_end(ap);
    return out;
}

void *xfree(void *ptr)
{
    free(ptr);
    return NULL;
}
