/*
 * dict_lmdb.c - lmdb: tables, reading: the dict backend, with reload of a
 * rebuilt file. Writing (postmap's build, update and delete) is
 * dict_lmdb_write.c; dict_lmdb.h has the file format, the locking and the
 * atomic rebuild.
 *
 * Together with dict_lmdb_write.c this is the one boundary with LMDB for
 * tables: every mdb_* error is turned into text here ("lmdb:/etc/t:
 * mdb_get: ...").
 *
 * Memory: a reader's priv owns the path, the open environment and a value
 * buffer that results point into (valid until the next lookup).
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "dict.h"
#include "dict_backend.h"
#include "dict_lmdb.h"
#include "dict_lmdb_private.h"
#include "dict_text.h"
#include "errtext.h"
#include "msg.h"

char *dict_lmdb_path(const char *source)
{
    return xasprintf("%s%s", source, DICT_LMDB_SUFFIX);
}

struct lmdb_table {
    MDB_env *env;
    MDB_dbi dbi;
    struct stat st;             /* identity of the file that is open */
};

struct lmdb_priv {
    char *path;                 /* FILE.lmdb */
    struct lmdb_table table;    /* env == NULL: nothing open */
    time_t checked;             /* monotonic second of the last stat */
    char *broken;               /* why the table cannot be read, or NULL */
    char *value;                /* the last value found */
    size_t value_cap;
    char *walk_key;             /* iterate scratch */
    size_t walk_key_cap;
};

static time_t now_seconds(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) < 0)
        return time(NULL);
    return ts.tv_sec;
}

static void table_close(struct lmdb_table *t)
{
    if (t->env)
        mdb_env_close(t->env);
    memset(t, 0, sizeof(*t));
}

static int table_open(const char *path, struct lmdb_table *t, char *err, size_t errlen)
{
    MDB_txn *txn;
    mdb_filehandle_t fd;
    int rc;

    memset(t, 0, sizeof(*t));
    if ((rc = mdb_env_create(&t->env)) != 0) {
        errtext_set(err, errlen, "mdb_env_create: %s", mdb_strerror(rc));
        t->env = NULL;
        return -1;
    }
    rc = mdb_env_open(t->env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0644);
    if (rc != 0) {
        errtext_set(err, errlen, "open %s: %s", path, mdb_strerror(rc));
        table_close(t);
        return -1;
    }
    if (mdb_env_get_fd(t->env, &fd) != 0 || fstat(fd, &t->st) < 0) {
        errtext_set(err, errlen, "fstat %s: %s", path, strerror(errno));
        table_close(t);
        return -1;
    }
    rc = mdb_txn_begin(t->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, NULL, 0, &t->dbi);
        mdb_txn_abort(txn);
    }
    if (rc != 0) {
        errtext_set(err, errlen, "%s: %s", path, mdb_strerror(rc));
        table_close(t);
        return -1;
    }
    return 0;
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size
           && a->st_mtim.tv_sec == b->st_mtim.tv_sec
           && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void set_broken(struct lmdb_priv *lp, const char *why)
{
    xfree(lp->broken);
    lp->broken = xstrdup(why);
}

/*
 * At most once per second: is FILE.lmdb still the file that is open? When
 * it was replaced (or changed), open the new one. Returns 0 when a table is
 * usable, -1 when lp->broken says why not.
 */
static int check_reload(struct lmdb_priv *lp)
{
    char err[DICT_ERR_MAX];
    struct lmdb_table fresh;
    struct stat st;
    time_t now = now_seconds();

    if (now == lp->checked && lp->table.env != NULL)
        return lp->broken ? -1 : 0;
    if (now == lp->checked && lp->broken)
        return -1;
    lp->checked = now;
    if (stat(lp->path, &st) < 0) {
        snprintf(err, sizeof(err), "stat %s: %s", lp->path, strerror(errno));
        set_broken(lp, err);
        return -1;
    }
    if (lp->table.env != NULL && same_file(&st, &lp->table.st)) {
        lp->broken = xfree(lp->broken);
        return 0;
    }
    if (table_open(lp->path, &fresh, err, sizeof(err)) < 0) {
        set_broken(lp, err);
        return -1;
    }
    table_close(&lp->table);
    lp->table = fresh;
    lp->broken = xfree(lp->broken);
    return 0;
}

/* Re-open now (the map grew under us). */
static int force_reload(struct lmdb_priv *lp)
{
    lp->checked = 0;
    table_close(&lp->table);
    return check_reload(lp);
}

static int lmdb_lookup(struct dict *dict, const char *key, struct dict_result *res)
{
    struct lmdb_priv *lp = dict->priv;
    size_t klen = strlen(key);
    MDB_val k, v;
    MDB_txn *txn;
    int rc;

    if (check_reload(lp) < 0) {
        res->error = dict_set_error(dict, "%s: %s", dict->spec, lp->broken);
        return DICT_TEMPFAIL;
    }
    if (klen == 0 || klen > DICT_KEY_MAX)
        return DICT_NOTFOUND;
    rc = mdb_txn_begin(lp->table.env, NULL, MDB_RDONLY, &txn);
    if (rc == MDB_MAP_RESIZED) {
        if (force_reload(lp) < 0) {
            res->error = dict_set_error(dict, "%s: %s", dict->spec, lp->broken);
            return DICT_TEMPFAIL;
        }
        rc = mdb_txn_begin(lp->table.env, NULL, MDB_RDONLY, &txn);
    }
    if (rc != 0) {
        res->error = dict_set_error(dict, "%s: %s: mdb_txn_begin: %s", dict->spec, lp->path,
                                    mdb_strerror(rc));
        return DICT_TEMPFAIL;
    }
    k.mv_data = (void *)key;
    k.mv_size = klen;
    rc = mdb_get(txn, lp->table.dbi, &k, &v);
    if (rc == 0) {
        lp->value = xgrow(lp->value, &lp->value_cap, v.mv_size + 1, 1);
        memcpy(lp->value, v.mv_data, v.mv_size);
        lp->value[v.mv_size] = '\0';
    }
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND)
        return DICT_NOTFOUND;
    if (rc != 0) {
        res->error = dict_set_error(dict, "%s: %s: mdb_get: %s", dict->spec, lp->path,
                                    mdb_strerror(rc));
        return DICT_TEMPFAIL;
    }
    res->value = lp->value;
    res->where = dict_set_where(dict, "%s key=%s", dict->spec, key);
    return DICT_FOUND;
}

static int lmdb_iterate(struct dict *dict, dict_walk_fn fn, void *ctx, char *err, size_t errlen)
{
    struct lmdb_priv *lp = dict->priv;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc, stop = 0;

    lp->checked = 0;
    if (check_reload(lp) < 0) {
        errtext_set(err, errlen, "table %s: %s", dict->spec, lp->broken);
        return -1;
    }
    rc = mdb_txn_begin(lp->table.env, NULL, MDB_RDONLY, &txn);
    if (rc == 0 && (rc = mdb_cursor_open(txn, lp->table.dbi, &cur)) != 0)
        mdb_txn_abort(txn);
    if (rc != 0) {
        errtext_set(err, errlen, "%s: %s", lp->path, mdb_strerror(rc));
        return -1;
    }
    while (stop == 0 && (rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        lp->walk_key = xgrow(lp->walk_key, &lp->walk_key_cap, k.mv_size + 1, 1);
        memcpy(lp->walk_key, k.mv_data, k.mv_size);
        lp->walk_key[k.mv_size] = '\0';
        lp->value = xgrow(lp->value, &lp->value_cap, v.mv_size + 1, 1);
        memcpy(lp->value, v.mv_data, v.mv_size);
        lp->value[v.mv_size] = '\0';
        stop = fn(lp->walk_key, lp->value, ctx);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (stop != 0)
        return stop;
    if (rc != MDB_NOTFOUND) {
        errtext_set(err, errlen, "%s: mdb_cursor_get: %s", lp->path, mdb_strerror(rc));
        return -1;
    }
    return 0;
}

static void lmdb_close(struct dict *dict)
{
    struct lmdb_priv *lp = dict->priv;

    if (lp == NULL)
        return;
    table_close(&lp->table);
    xfree(lp->path);
    xfree(lp->broken);
    xfree(lp->value);
    xfree(lp->walk_key);
    xfree(lp);
    dict->priv = NULL;
}

static const struct dict_ops lmdb_ops = {
    .type = "lmdb",
    .lookup = lmdb_lookup,
    .iterate = lmdb_iterate,
    .close = lmdb_close,
    .fold = 1,
};

int dict_lmdb_open(struct dict *dict, const char *name, char *err, size_t errlen)
{
    struct lmdb_priv *lp;
    char why[DICT_ERR_MAX];
    struct stat src;

    if (*name == '\0') {
        errtext_set(err, errlen, "table %s: missing file name", dict->spec);
        return -1;
    }
    lp = xcalloc(1, sizeof(*lp));
    lp->path = dict_lmdb_path(name);
    dict->ops = &lmdb_ops;
    dict->priv = lp;
    if (table_open(lp->path, &lp->table, why, sizeof(why)) < 0) {
        errtext_set(err, errlen, "table %s: %s%s", dict->spec, why,
                    access(lp->path, F_OK) < 0 ? " (run postmap on the source file)" : "");
        return -1;
    }
    lp->checked = now_seconds();
    if (stat(name, &src) == 0 && (src.st_mtim.tv_sec > lp->table.st.st_mtim.tv_sec
                                  || (src.st_mtim.tv_sec == lp->table.st.st_mtim.tv_sec
                                      && src.st_mtim.tv_nsec > lp->table.st.st_mtim.tv_nsec)))
        msg_warn("table %s: %s is older than its source file %s: run postmap", dict->spec,
                 lp->path, name);
    return 0;
}
