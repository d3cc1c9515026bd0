/*
 * dict_inline.c - tables written in main.cf itself: inline: and static:.
 *
 *   inline:{ key=value, key2=value2, { key3 = text with spaces } }
 *       Items are separated by commas and/or white space; an item in
 *       braces may hold white space and commas, and white space around its
 *       '=' and at its ends is removed. Keys are folded to lower case (as
 *       lookups are); a duplicate key keeps the first value, with a warning.
 *       Errors: no braces around the list, an item without '=', an empty
 *       key, unbalanced braces, an empty table.
 *   static:value   static:{ text with spaces }
 *       Every lookup finds the value. An empty value is an error.
 *
 * Memory: priv owns the entries (key and value strings) results point to.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "dict.h"
#include "dict_backend.h"
#include "errtext.h"
#include "msg.h"

struct inline_entry {
    char *key;
    char *value;
};

struct inline_priv {
    struct inline_entry *ents;
    size_t count, cap;
};

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Copy of s[0..n) without leading and trailing white space. */
static char *trimmed(const char *s, size_t n)
{
    while (n > 0 && is_blank(*s))
        s++, n--;
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    return xstrndup(s, n);
}

/*
 * "{ text }" with optional white space around: the inner text (trimmed) in
 * *inner. Returns 0, or -1 when the braces are missing or unbalanced.
 */
static int unbrace(const char *text, char **inner)
{
    size_t n = strlen(text);
    int depth = 0;

    while (n > 0 && is_blank(text[n - 1]))
        n--;
    while (n > 0 && is_blank(*text))
        text++, n--;
    if (n < 2 || text[0] != '{' || text[n - 1] != '}')
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '{')
            depth++;
        else if (text[i] == '}' && --depth == 0 && i != n - 1)
            return -1;                  /* "{a} {b}": the first brace closed early */
        if (depth < 0)
            return -1;
    }
    if (depth != 0)
        return -1;
    *inner = trimmed(text + 1, n - 2);
    return 0;
}

/* --- inline: --- */

static int inline_lookup(struct dict *dict, const char *key, struct dict_result *res)
{
    struct inline_priv *ip = dict->priv;

    for (size_t i = 0; i < ip->count; i++) {
        if (strcmp(ip->ents[i].key, key) == 0) {
            res->value = ip->ents[i].value;
            res->where = dict_set_where(dict, "%s key=%s", dict->spec, key);
            return DICT_FOUND;
        }
    }
    return DICT_NOTFOUND;
}

static int inline_iterate(struct dict *dict, dict_walk_fn fn, void *ctx, char *err, size_t errlen)
{
    struct inline_priv *ip = dict->priv;

    (void)err;
    (void)errlen;
    for (size_t i = 0; i < ip->count; i++) {
        int rc = fn(ip->ents[i].key, ip->ents[i].value, ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void inline_close(struct dict *dict)
{
    struct inline_priv *ip = dict->priv;

    if (ip == NULL)
        return;
    for (size_t i = 0; i < ip->count; i++) {
        xfree(ip->ents[i].key);
        xfree(ip->ents[i].value);
    }
    xfree(ip->ents);
    xfree(ip);
    dict->priv = NULL;
}

static const struct dict_ops inline_ops = {
    .type = "inline",
    .lookup = inline_lookup,
    .iterate = inline_iterate,
    .close = inline_close,
    .fold = 1,
};

/* One item "key=value" (braces already removed): add it. */
static int add_item(struct dict *dict, const char *item, size_t n, char *err, size_t errlen)
{
    struct inline_priv *ip = dict->priv;
    const char *eq = memchr(item, '=', n);
    char *key, *value, *folded = NULL;
    size_t folded_cap = 0;

    if (eq == NULL) {
        errtext_set(err, errlen, "table %.200s: missing '=' in \"%.*s\": need "
                    "inline:{key=value, ...}", dict->spec, (int)(n > 60 ? 60 : n), item);
        return -1;
    }
    key = trimmed(item, (size_t)(eq - item));
    value = trimmed(eq + 1, n - (size_t)(eq - item) - 1);
    if (*key == '\0') {
        errtext_set(err, errlen, "table %.200s: empty key in \"%.*s\"", dict->spec,
                    (int)(n > 60 ? 60 : n), item);
        xfree(key);
        xfree(value);
        return -1;
    }
    dict_fold(&folded, &folded_cap, key);
    xfree(key);
    for (size_t i = 0; i < ip->count; i++) {
        if (strcmp(ip->ents[i].key, folded) == 0) {
            msg_warn("table %.200s: duplicate entry \"%s\": the first value is used",
                     dict->spec, folded);
            xfree(folded);
            xfree(value);
            return 0;
        }
    }
    ip->ents = xgrow(ip->ents, &ip->cap, ip->count + 1, sizeof(*ip->ents));
    ip->ents[ip->count].key = folded;
    ip->ents[ip->count].value = value;
    ip->count++;
    return 0;
}

int dict_inline_open(struct dict *dict, const char *name, char *err, size_t errlen)
{
    char *inner;
    const char *p;

    dict->ops = &inline_ops;
    dict->priv = xcalloc(1, sizeof(struct inline_priv));
    if (unbrace(name, &inner) < 0) {
        errtext_set(err, errlen, "table %.200s: bad syntax: need inline:{key=value, ...}",
                    dict->spec);
        return -1;
    }
    p = inner;
    for (;;) {
        const char *start;
        size_t n;

        while (*p == ',' || is_blank(*p))
            p++;
        if (*p == '\0')
            break;
        start = p;
        if (*p == '{') {
            int depth = 0;
            for (; *p; p++) {
                if (*p == '{')
                    depth++;
                else if (*p == '}' && --depth == 0)
                    break;
            }
            if (*p != '}') {
                errtext_set(err, errlen, "table %.200s: unbalanced braces", dict->spec);
                xfree(inner);
                return -1;
            }
            start++;
            n = (size_t)(p - start);
            p++;
            if (*p != '\0' && *p != ',' && !is_blank(*p)) {
                errtext_set(err, errlen, "table %.200s: text after '}' in an item", dict->spec);
                xfree(inner);
                return -1;
            }
        } else {
            while (*p && *p != ',' && !is_blank(*p) && *p != '{' && *p != '}')
                p++;
            if (*p == '{' || *p == '}') {
                errtext_set(err, errlen, "table %.200s: misplaced brace in an item", dict->spec);
                xfree(inner);
                return -1;
            }
            n = (size_t)(p - start);
        }
        if (add_item(dict, start, n, err, errlen) < 0) {
            xfree(inner);
            return -1;
        }
    }
    xfree(inner);
    if (((struct inline_priv *)dict->priv)->count == 0) {
        errtext_set(err, errlen, "table %.200s: empty table: need inline:{key=value, ...}",
                    dict->spec);
        return -1;
    }
    return 0;
}

/* --- static: --- */

static int static_lookup(struct dict *dict, const char *key, struct dict_result *res)
{
    (void)key;
    res->value = dict->priv;
    res->where = dict->spec;
    return DICT_FOUND;
}

static void static_close(struct dict *dict)
{
    dict->priv = xfree(dict->priv);
}

static const struct dict_ops static_ops = {
    .type = "static",
    .lookup = static_lookup,
    .close = static_close,
};

int dict_static_open(struct dict *dict, const char *name, char *err, size_t errlen)
{
    char *value;

    dict->ops = &static_ops;
    if (*name == '{') {
        if (unbrace(name, &value) < 0) {
            errtext_set(err, errlen, "table %.200s: bad syntax: need static:{text}", dict->spec);
            return -1;
        }
    } else {
        value = xstrdup(name);
    }
    dict->priv = value;
    if (*value == '\0') {
        errtext_set(err, errlen, "table %.200s: empty value: need static:value", dict->spec);
        return -1;
    }
    return 0;
}
