/*
 * dict.c - the lookup-table front end (see dict.h): "type:name" dispatch to
 * the backends, lists of tables, key folding, Postfix's search orders for
 * addresses and domains, and the scratch buffers results point into.
 *
 * Memory: a struct dict owns its spec text, three scratch buffers (folded
 * key or search form, where text, error text) and, through the backend,
 * its priv state. A list dict owns its member dicts. Results point into the
 * scratch of the dict that answered and stay valid until its next lookup.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "dict.h"
#include "dict_backend.h"
#include "errtext.h"
#include "msg.h"
#include "strlist.h"

/* --- scratch helpers for backends --- */

/* Replace the text of sb with the formatted text; returns it. */
static const char *reformat(struct strbuf *sb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static const char *reformat(struct strbuf *sb, const char *fmt, va_list ap)
{
    strbuf_reset(sb);
    strbuf_vprintf(sb, fmt, ap);
    return strbuf_str(sb);
}

const char *dict_set_where(struct dict *dict, const char *fmt, ...)
{
    va_list ap;
    const char *text;

    va_start(ap, fmt);
    text = reformat(&dict->where, fmt, ap);
    va_end(ap);
    return text;
}

const char *dict_set_error(struct dict *dict, const char *fmt, ...)
{
    va_list ap;
    const char *text;

    va_start(ap, fmt);
    text = reformat(&dict->error, fmt, ap);
    va_end(ap);
    if (!dict->tempfail_logged) {
        msg_warn("%s", text);
        dict->tempfail_logged = 1;
    }
    return text;
}

char *dict_fold(char **buf, size_t *cap, const char *src)
{
    size_t n = strlen(src);

    *buf = xgrow(*buf, cap, n + 1, 1);
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        (*buf)[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    (*buf)[n] = '\0';
    return *buf;
}

/* --- open --- */

struct backend {
    const char *type;
    int (*open)(struct dict *dict, const char *name, char *err, size_t errlen);
};

static const struct backend backends[] = {
    {"lmdb", dict_lmdb_open},
    {"pcre", dict_pcre_open},
    {"cidr", dict_cidr_open},
    {"inline", dict_inline_open},
    {"static", dict_static_open},
};

/* Postfix types Postern does not have, with what to use instead. */
static const struct {
    const char *type;
    const char *instead;
} unsupported[] = {
    {"hash", "lmdb"}, {"btree", "lmdb"}, {"dbm", "lmdb"}, {"sdbm", "lmdb"},
    {"cdb", "lmdb"}, {"texthash", "lmdb"}, {"regexp", "pcre"},
};

static struct dict *dict_alloc(const char *spec, size_t type_len, int flags)
{
    struct dict *dict = xcalloc(1, sizeof(*dict));

    dict->spec = xstrdup(spec);
    dict->name = dict->spec + type_len + 1;
    dict->flags = flags;
    return dict;
}

int dict_open(const char *spec, int flags, struct dict **result, char *err, size_t errlen)
{
    const char *colon = strchr(spec, ':');
    size_t type_len;

    *result = NULL;
    if (flags & ~DICT_FLAG_NONE) {
        errtext_set(err, errlen, "table %s: unknown open flags 0x%x", spec, (unsigned)flags);
        return -1;
    }
    if (colon == NULL || colon == spec) {
        errtext_set(err, errlen, "table \"%s\": expected \"type:name\"", spec);
        return -1;
    }
    type_len = (size_t)(colon - spec);
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
        struct dict *dict;

        if (strlen(backends[i].type) != type_len
            || strncmp(spec, backends[i].type, type_len) != 0)
            continue;
        dict = dict_alloc(spec, type_len, flags);
        if (backends[i].open(dict, dict->name, err, errlen) < 0) {
            dict_close(dict);
            return -1;
        }
        *result = dict;
        return 0;
    }
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        if (strlen(unsupported[i].type) == type_len
            && strncmp(spec, unsupported[i].type, type_len) == 0) {
            errtext_set(err, errlen, "table %s: type %s: is not supported by Postern; use %s:",
                        spec, unsupported[i].type, unsupported[i].instead);
            return -1;
        }
    }
    errtext_set(err, errlen, "table %s: unknown table type \"%.*s\" (known: lmdb, pcre, cidr, "
                "inline, static)", spec, (int)(type_len > 40 ? 40 : type_len), spec);
    return -1;
}

struct dict *dict_close(struct dict *dict)
{
    if (dict == NULL)
        return NULL;
    if (dict->ops && dict->ops->close)
        dict->ops->close(dict);
    xfree(dict->spec);
    xfree(dict->key_buf);
    strbuf_free(&dict->where);
    strbuf_free(&dict->error);
    xfree(dict);
    return NULL;
}

const char *dict_spec(const struct dict *dict)
{
    return dict->spec;
}

/* --- lists of tables --- */

struct list_priv {
    struct dict **members;
    size_t count;
};

static int list_lookup(struct dict *dict, const char *key, struct dict_result *res)
{
    struct list_priv *lp = dict->priv;

    for (size_t i = 0; i < lp->count; i++) {
        int rc = dict_lookup(lp->members[i], key, res);
        if (rc != DICT_NOTFOUND)
            return rc;
    }
    return DICT_NOTFOUND;
}

static void list_close(struct dict *dict)
{
    struct list_priv *lp = dict->priv;

    if (lp == NULL)
        return;
    for (size_t i = 0; i < lp->count; i++)
        dict_close(lp->members[i]);
    xfree(lp->members);
    xfree(lp);
}

static const struct dict_ops list_ops = {
    .type = "list",
    .lookup = list_lookup,
    .close = list_close,
};

int dict_open_list(const char *list, int flags, struct dict **result, char *err, size_t errlen)
{
    struct dict *dict = dict_alloc("list:", 4, flags);
    struct list_priv *lp = xcalloc(1, sizeof(*lp));
    size_t cap = 0;
    const char *pos = list, *start;
    long n;

    *result = NULL;
    dict->ops = &list_ops;
    dict->priv = lp;
    while ((n = strlist_next(&pos, &start)) > 0) {
        char *spec = xstrndup(start, (size_t)n);
        struct dict *member;
        int rc = dict_open(spec, flags, &member, err, errlen);

        xfree(spec);
        if (rc < 0) {
            dict_close(dict);
            return -1;
        }
        lp->members = xgrow(lp->members, &cap, lp->count + 1, sizeof(*lp->members));
        lp->members[lp->count++] = member;
    }
    if (n < 0) {
        errtext_set(err, errlen, "table list \"%.200s\": unbalanced braces", list);
        dict_close(dict);
        return -1;
    }
    xfree(dict->spec);
    dict->spec = xasprintf("list:%s", list);
    dict->name = dict->spec + 5;
    *result = dict;
    return 0;
}

/* --- lookups --- */

/* Copy (or fold) the key into the dict's scratch, so res->key is the dict's. */
static char *copy_key(struct dict *dict, const char *key)
{
    size_t n;

    if (dict->ops->fold)
        return dict_fold(&dict->key_buf, &dict->key_cap, key);
    n = strlen(key);
    dict->key_buf = xgrow(dict->key_buf, &dict->key_cap, n + 1, 1);
    memcpy(dict->key_buf, key, n + 1);
    return dict->key_buf;
}

int dict_lookup(struct dict *dict, const char *key, struct dict_result *res)
{
    int rc;

    memset(res, 0, sizeof(*res));
    key = copy_key(dict, key);
    rc = dict->ops->lookup(dict, key, res);
    switch (rc) {
    case DICT_FOUND:
        if (res->key == NULL)
            res->key = key;
        if (res->value == NULL)
            msg_panic("table %s: found without a value", dict->spec);
        if (res->where == NULL)
            res->where = dict->spec;
        res->error = NULL;
        dict->tempfail_logged = 0;
        return DICT_FOUND;
    case DICT_NOTFOUND:
        memset(res, 0, sizeof(*res));
        dict->tempfail_logged = 0;
        return DICT_NOTFOUND;
    case DICT_TEMPFAIL:
        res->value = res->key = res->where = NULL;
        if (res->error == NULL)
            res->error = "temporary lookup failure";
        return DICT_TEMPFAIL;
    default:
        msg_panic("table %s: lookup returned %d", dict->spec, rc);
    }
}

/* Try the forms in order (NULL entries skipped); the first answer that is
 * not DICT_NOTFOUND ends the search. res->key points into the dict. */
static int lookup_forms(struct dict *dict, char *const *forms, size_t n,
                        struct dict_result *res)
{
    memset(res, 0, sizeof(*res));
    for (size_t i = 0; i < n; i++) {
        int rc;

        if (forms[i] == NULL)
            continue;
        rc = dict_lookup(dict, forms[i], res);
        if (rc != DICT_NOTFOUND)
            return rc;
    }
    return DICT_NOTFOUND;
}

int dict_lookup_address(struct dict *dict, const char *address, const char *delims,
                        struct dict_result *res)
{
    const char *at = strrchr(address, '@');
    char *forms[3] = {NULL, NULL, NULL};
    int rc;

    if (at == NULL) {
        forms[0] = xstrdup(address);
    } else {
        size_t local_len = (size_t)(at - address);
        size_t ext = local_len;

        forms[0] = xstrdup(address);
        if (delims && *delims) {
            ext = strcspn(address, delims);
            if (ext > local_len)
                ext = local_len;
        }
        if (ext < local_len && ext > 0)
            forms[1] = xasprintf("%.*s%s", (int)ext, address, at);
        forms[2] = xstrdup(at);
    }
    rc = lookup_forms(dict, forms, 3, res);
    for (size_t i = 0; i < 3; i++)
        xfree(forms[i]);
    return rc;
}

int dict_lookup_domain(struct dict *dict, const char *domain, int parent_matches_subdomains,
                       struct dict_result *res)
{
    size_t len = strlen(domain);
    char *name;
    const char *p;
    int rc;

    if (len > 0 && domain[len - 1] == '.' && domain[0] != '[')
        len--;
    name = xstrndup(domain, len);
    rc = lookup_forms(dict, &name, 1, res);
    if (rc != DICT_NOTFOUND || name[0] == '[' || name[0] == '\0') {
        xfree(name);
        return rc;
    }
    for (p = strchr(name + 1, '.'); p != NULL; p = strchr(p + 1, '.')) {
        char *form = xstrdup(parent_matches_subdomains ? p + 1 : p);

        if (*form == '\0' || strcmp(form, ".") == 0) {
            xfree(form);
            break;
        }
        rc = lookup_forms(dict, &form, 1, res);
        xfree(form);
        if (rc != DICT_NOTFOUND)
            break;
    }
    xfree(name);
    return rc;
}

int dict_iterate(struct dict *dict, dict_walk_fn fn, void *ctx, char *err, size_t errlen)
{
    if (dict->ops->iterate == NULL) {
        errtext_set(err, errlen, "table %s: listing entries is not supported for %s: tables",
                    dict->spec, dict->ops->type);
        return -1;
    }
    return dict->ops->iterate(dict, fn, ctx, err, errlen);
}
