/*
 * dict_backend.h - what a lookup-table backend provides and may use.
 *
 * Private to lib/dict*.c: callers use dict.h only.
 *
 * Each backend (dict_lmdb.c, dict_pcre.c, dict_cidr.c, dict_inline.c for
 * inline: and static:) has one open function that fills a struct dict
 * created by dict.c: it sets `ops` and `priv`, and on failure returns -1
 * with err filled, leaving nothing to free except what it put in priv (its
 * close function is then called by dict.c when ops is set).
 *
 * Memory: struct dict and its scratch buffers (the folded key, the where
 * text, the error text) belong to dict.c; priv belongs to the backend and
 * is freed by its close function. A backend's lookup sets res->value to
 * memory it owns, valid until its next lookup or close; dict.c fills
 * res->key and checks the result.
 */
#ifndef POSTERN_DICT_BACKEND_H
#define POSTERN_DICT_BACKEND_H

#include <stddef.h>

#include "dict.h"
#include "strbuf.h"

struct dict_ops {
    const char *type;
    /* DICT_FOUND (res->value and res->where set), DICT_NOTFOUND, or
     * DICT_TEMPFAIL (res->error set). `key` is already folded when the
     * table folds keys (ops->fold). */
    int (*lookup)(struct dict *dict, const char *key, struct dict_result *res);
    /* NULL when listing is not meaningful for the type. */
    int (*iterate)(struct dict *dict, dict_walk_fn fn, void *ctx, char *err, size_t errlen);
    void (*close)(struct dict *dict);
    int fold;           /* 1: keys are folded to lower case before lookup */
};

struct dict {
    const struct dict_ops *ops;
    char *spec;         /* "type:name" as opened */
    const char *name;   /* points into spec, after "type:" */
    int flags;
    void *priv;         /* the backend's state */
    /* scratch owned by dict.c */
    char *key_buf;      /* the folded key / the search-order form */
    size_t key_cap;
    struct strbuf where;        /* dict_set_where() */
    struct strbuf error;        /* dict_set_error() */
    int tempfail_logged;
};

/* Backend open functions (name is the text after "type:"). */
int dict_lmdb_open(struct dict *dict, const char *name, char *err, size_t errlen);
int dict_pcre_open(struct dict *dict, const char *name, char *err, size_t errlen);
int dict_cidr_open(struct dict *dict, const char *name, char *err, size_t errlen);
int dict_inline_open(struct dict *dict, const char *name, char *err, size_t errlen);
int dict_static_open(struct dict *dict, const char *name, char *err, size_t errlen);

/* Format res->where into the dict's scratch; returns the text. */
const char *dict_set_where(struct dict *dict, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Format the reason for a DICT_TEMPFAIL into the dict's scratch and log it
 * with msg_warn (so the text should name the table: start it with
 * dict->spec) unless the same table already logged a TEMPFAIL since its
 * last good answer. Returns the text (for res->error).
 */
const char *dict_set_error(struct dict *dict, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ASCII lower-case copy of src into *buf (grown as needed); returns *buf. */
char *dict_fold(char **buf, size_t *cap, const char *src);

#endif
