/*
 * strlist.c - split comma / white-space lists with brace groups (see
 * strlist.h).
 */
#include <stddef.h>

#include "alloc.h"
#include "strlist.h"

int strlist_is_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

long strlist_next(const char **pos, const char **start)
{
    const char *p = *pos;
    int depth = 0;

    while (*p && strlist_is_sep(*p))
        p++;
    *start = p;
    while (*p && (depth > 0 || !strlist_is_sep(*p))) {
        if (*p == '{')
            depth++;
        else if (*p == '}' && --depth < 0)
            return -1;
        p++;
    }
    if (depth != 0)
        return -1;
    *pos = p;
    return (long)(p - *start);
}

char **strlist_split(const char *text, size_t *count)
{
    char **list = NULL;
    size_t n = 0, cap = 0;
    const char *pos = text ? text : "", *start;
    long len;

    list = xgrow(list, &cap, 1, sizeof(*list));
    while ((len = strlist_next(&pos, &start)) > 0) {
        list = xgrow(list, &cap, n + 2, sizeof(*list));
        list[n++] = xstrndup(start, (size_t)len);
    }
    list[n] = NULL;
    if (len < 0)
        return strlist_free(list);
    if (count)
        *count = n;
    return list;
}

char **strlist_free(char **list)
{
    if (list == NULL)
        return NULL;
    for (char **p = list; *p; p++)
        xfree(*p);
    return xfree(list);
}
