/*
 * dict_lmdb_write.c - lmdb: tables, writing: postmap's build (text source
 * -> FILE.lmdb, atomically), update (-i) and delete (-d), which edit a
 * compacted copy and rename it into place. See dict_lmdb.h for the file
 * format, the writers' lock and the atomic rebuild; reading is
 * dict_lmdb.c.
 *
 * Every mdb_* error is turned into text here ("write FILE: ...").
 *
 * Memory: a build owns an arena with every key and value of the source and
 * an array of entries pointing into it; an edit owns the temporary file's
 * name and its environment. All are freed before the call returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "dict.h"
#include "dict_backend.h"
#include "dict_lmdb.h"
#include "dict_lmdb_private.h"
#include "dict_text.h"
#include "errtext.h"
#include "fdio.h"
#include "msg.h"

#define MIB ((size_t)1 << 20)
#define MAP_RETRIES 6

/* flock that retries on EINTR. */
static int lock_fd(int fd, int how)
{
    int rc;

    do {
        rc = flock(fd, how);
    } while (rc < 0 && errno == EINTR);
    return rc;
}

/* fsync the directory that holds `path` so a rename is durable. */
static int sync_dir_of(const char *path, char *err, size_t errlen)
{
    if (fdio_fsync_parent(path) == 0)
        return 0;
    errtext_set(err, errlen, "fsync the directory of %s: %s", path, strerror(errno));
    return -1;
}

/* --- building: sort the source, write a new file, rename it into place --- */

struct entry {
    size_t koff, voff;          /* into the arena; both NUL-terminated */
    unsigned klen, vlen;
    unsigned line;
};

struct build {
    const char *name;           /* for messages */
    char *arena;
    size_t used, arena_cap;
    struct entry *ents;
    size_t count, ents_cap;
};

static size_t arena_add(struct build *b, const char *s, size_t n)
{
    size_t off = b->used;

    b->arena = xgrow(b->arena, &b->arena_cap, b->used + n + 1, 1);
    memcpy(b->arena + off, s, n);
    b->arena[off + n] = '\0';
    b->used += n + 1;
    return off;
}

static int collect(const char *key, const char *value, unsigned lineno, void *ctx)
{
    struct build *b = ctx;
    struct entry *e;
    size_t klen = strlen(key), vlen = strlen(value);

    b->ents = xgrow(b->ents, &b->ents_cap, b->count + 1, sizeof(*b->ents));
    e = &b->ents[b->count++];
    e->klen = (unsigned)klen;
    e->vlen = (unsigned)vlen;
    e->line = lineno;
    e->koff = arena_add(b, key, klen);
    e->voff = arena_add(b, value, vlen);
    return 0;
}

/* LMDB's default key order (memcmp, then shorter first), then line. */
static int entry_cmp(const void *pa, const void *pb, void *ctx)
{
    const struct entry *a = pa, *b = pb;
    const char *arena = ctx;
    unsigned n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(arena + a->koff, arena + b->koff, n);

    if (c != 0)
        return c;
    if (a->klen != b->klen)
        return a->klen < b->klen ? -1 : 1;
    return a->line < b->line ? -1 : a->line > b->line;
}

static void dedupe(struct build *b, int dup_mode)
{
    size_t j = 0;

    for (size_t i = 0; i < b->count; i++) {
        struct entry *e = &b->ents[i];

        if (j > 0 && b->ents[j - 1].klen == e->klen
            && memcmp(b->arena + b->ents[j - 1].koff, b->arena + e->koff, e->klen) == 0) {
            if (dup_mode == DICT_LMDB_DUP_WARN)
                msg_warn("%s:%u: duplicate entry \"%s\" (first at line %u): ignored", b->name,
                         e->line, b->arena + e->koff, b->ents[j - 1].line);
            else if (dup_mode == DICT_LMDB_DUP_REPLACE)
                b->ents[j - 1] = *e;
            continue;
        }
        b->ents[j++] = *e;
    }
    b->count = j;
}

static void build_free(struct build *b)
{
    xfree(b->arena);
    xfree(b->ents);
    memset(b, 0, sizeof(*b));
}

/* Write the sorted entries into a new LMDB file at `path` (exists, empty). */
static int write_env(const char *path, const struct build *b, size_t mapsize, int *map_full,
                     char *err, size_t errlen)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc;

    *map_full = 0;
    if ((rc = mdb_env_create(&env)) != 0) {
        errtext_set(err, errlen, "mdb_env_create: %s", mdb_strerror(rc));
        return -1;
    }
    if ((rc = mdb_env_set_mapsize(env, mapsize)) != 0
        || (rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOSYNC, 0644)) != 0
        || (rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0) {
        errtext_set(err, errlen, "%s: %s", path, mdb_strerror(rc));
        mdb_env_close(env);
        return -1;
    }
    if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0)
        goto fail;
    for (size_t i = 0; i < b->count; i++) {
        const struct entry *e = &b->ents[i];
        MDB_val k = {e->klen, b->arena + e->koff};
        MDB_val v = {e->vlen, b->arena + e->voff};

        if ((rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND)) != 0)
            goto fail;
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        txn = NULL;
        goto fail;
    }
    if ((rc = mdb_env_sync(env, 1)) != 0) {
        txn = NULL;
        goto fail;
    }
    mdb_env_close(env);
    return 0;

fail:
    if (txn)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    *map_full = rc == MDB_MAP_FULL;
    errtext_set(err, errlen, "write %s: %s", path, mdb_strerror(rc));
    return -1;
}

/* A fresh, empty temporary file beside `db`, mode 0644, owned like `owner`
 * (a stat of the source, or NULL). */
static char *make_temp(const char *db, const struct stat *owner, char *err, size_t errlen)
{
    char *tmp = xasprintf("%s.tmpXXXXXX", db);
    int fd = mkostemp(tmp, O_CLOEXEC);

    if (fd < 0) {
        errtext_set(err, errlen, "create temporary file %s: %s", tmp, strerror(errno));
        return xfree(tmp);
    }
    if (fchmod(fd, 0644) < 0
        || (geteuid() == 0 && owner != NULL && fchown(fd, owner->st_uid, owner->st_gid) < 0)) {
        errtext_set(err, errlen, "set permissions of %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return xfree(tmp);
    }
    close(fd);
    return tmp;
}

/*
 * Writers (build, update, delete) serialize on an exclusive flock of the
 * current FILE.lmdb, taken just before the rename (build) or for the whole
 * copy-edit-rename (update, delete). After the lock is granted the path is
 * checked to still name the locked file; if another writer replaced it
 * meanwhile, lock the new one. *fd is -1 when FILE.lmdb does not exist.
 */
static int writer_lock(const char *db, int *fd, char *err, size_t errlen)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        struct stat locked, now;

        *fd = open(db, O_RDONLY | O_CLOEXEC);
        if (*fd < 0 && errno == ENOENT)
            return 0;
        if (*fd < 0) {
            errtext_set(err, errlen, "open %s: %s", db, strerror(errno));
            return -1;
        }
        if (lock_fd(*fd, LOCK_EX) < 0 || fstat(*fd, &locked) < 0) {
            errtext_set(err, errlen, "lock %s: %s", db, strerror(errno));
            close(*fd);
            return -1;
        }
        if (stat(db, &now) == 0 && now.st_dev == locked.st_dev && now.st_ino == locked.st_ino)
            return 0;
        close(*fd);
    }
    errtext_set(err, errlen, "lock %s: the file keeps being replaced", db);
    *fd = -1;
    return -1;
}

static void writer_unlock(int fd)
{
    if (fd >= 0)
        close(fd);              /* releases the flock */
}

/* Put tmp in the place of db, durably; unlinks tmp on failure. */
static int replace_file(const char *tmp, const char *db, char *err, size_t errlen)
{
    if (rename(tmp, db) < 0) {
        errtext_set(err, errlen, "rename %s to %s: %s", tmp, db, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return sync_dir_of(db, err, errlen);
}

/* Sorted, de-duplicated entries -> db (atomically). */
static int install(const char *db, const struct build *b, const struct stat *owner,
                   char *err, size_t errlen)
{
    size_t mapsize = b->used * 3 + b->count * 32 + 16 * MIB;
    char *tmp = NULL;
    int lock, rc;

    for (int attempt = 0; attempt < MAP_RETRIES; attempt++) {
        int map_full;

        tmp = make_temp(db, owner, err, errlen);
        if (tmp == NULL)
            return -1;
        if (write_env(tmp, b, mapsize, &map_full, err, errlen) == 0)
            break;
        unlink(tmp);
        tmp = xfree(tmp);
        if (!map_full)
            return -1;
        mapsize *= 2;
    }
    if (tmp == NULL)
        return -1;
    if (writer_lock(db, &lock, err, errlen) < 0) {
        unlink(tmp);
        xfree(tmp);
        return -1;
    }
    rc = replace_file(tmp, db, err, errlen);
    writer_unlock(lock);
    xfree(tmp);
    return rc;
}

static int build_buffer(const char *name, const char *buf, size_t len, const char *db,
                        const struct stat *owner, int dup_mode, size_t *entries,
                        char *err, size_t errlen)
{
    struct build b = {.name = name};
    int rc;

    if (dict_text_parse(name, buf, len, collect, &b, err, errlen) != 0) {
        build_free(&b);
        return -1;
    }
    qsort_r(b.ents, b.count, sizeof(*b.ents), entry_cmp, b.arena);
    dedupe(&b, dup_mode);
    rc = install(db, &b, owner, err, errlen);
    if (rc == 0 && entries)
        *entries = b.count;
    build_free(&b);
    return rc;
}

int dict_lmdb_build(const char *source, int dup_mode, size_t *entries, char *err, size_t errlen)
{
    char *buf, *db;
    size_t len;
    struct stat st;
    int rc;

    if (dict_text_load(source, &buf, &len, err, errlen) < 0)
        return -1;
    if (stat(source, &st) < 0)
        memset(&st, 0, sizeof(st));
    db = dict_lmdb_path(source);
    rc = build_buffer(source, buf, len, db, &st, dup_mode, entries, err, errlen);
    xfree(db);
    xfree(buf);
    return rc;
}

/* --- edits: copy the table, change the copy, rename it into place --- */

/*
 * An edit of FILE.lmdb, holding the writers' lock: `tmp` is a compacted copy
 * of the current table, open for writing in `env`.
 */
struct edit {
    const char *db;
    char *tmp;
    MDB_env *env;
    MDB_dbi dbi;
    int lock;
};

static int copy_table(const char *db, const char *tmp, char *err, size_t errlen)
{
    MDB_env *env;
    int fd, rc;

    if ((rc = mdb_env_create(&env)) != 0) {
        errtext_set(err, errlen, "mdb_env_create: %s", mdb_strerror(rc));
        return -1;
    }
    if ((rc = mdb_env_open(env, db, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0644)) != 0) {
        errtext_set(err, errlen, "open %s: %s", db, mdb_strerror(rc));
        mdb_env_close(env);
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) {
        errtext_set(err, errlen, "open %s: %s", tmp, strerror(errno));
        mdb_env_close(env);
        return -1;
    }
    rc = mdb_env_copyfd2(env, fd, MDB_CP_COMPACT);
    mdb_env_close(env);
    if (close(fd) < 0 && rc == 0)
        rc = errno;
    if (rc != 0) {
        errtext_set(err, errlen, "copy %s to %s: %s", db, tmp, mdb_strerror(rc));
        return -1;
    }
    return 0;
}

static void edit_abort(struct edit *ed)
{
    if (ed->env)
        mdb_env_close(ed->env);
    if (ed->tmp) {
        unlink(ed->tmp);
        xfree(ed->tmp);
    }
    writer_unlock(ed->lock);
    memset(ed, 0, sizeof(*ed));
    ed->lock = -1;
}

/* Lock db, copy it to a temporary file and open the copy with room to grow
 * (twice its size, plus `extra` bytes). */
static int edit_begin(struct edit *ed, const char *db, size_t extra, char *err, size_t errlen)
{
    struct stat st;
    MDB_txn *txn;
    int rc;

    memset(ed, 0, sizeof(*ed));
    ed->db = db;
    ed->lock = -1;
    if (writer_lock(db, &ed->lock, err, errlen) < 0)
        return -1;
    if (ed->lock < 0 || fstat(ed->lock, &st) < 0) {
        errtext_set(err, errlen, "open %s: %s", db, strerror(ed->lock < 0 ? ENOENT : errno));
        edit_abort(ed);
        return -1;
    }
    if ((ed->tmp = make_temp(db, &st, err, errlen)) == NULL
        || copy_table(db, ed->tmp, err, errlen) < 0) {
        edit_abort(ed);
        return -1;
    }
    if ((rc = mdb_env_create(&ed->env)) != 0) {
        ed->env = NULL;
        goto fail;
    }
    if ((rc = mdb_env_set_mapsize(ed->env, (size_t)st.st_size * 2 + extra + 16 * MIB)) != 0
        || (rc = mdb_env_open(ed->env, ed->tmp, MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOSYNC,
                              0644)) != 0
        || (rc = mdb_txn_begin(ed->env, NULL, 0, &txn)) != 0)
        goto fail;
    rc = mdb_dbi_open(txn, NULL, 0, &ed->dbi);
    mdb_txn_abort(txn);
    if (rc != 0)
        goto fail;
    return 0;

fail:
    errtext_set(err, errlen, "%s: %s", ed->tmp, mdb_strerror(rc));
    edit_abort(ed);
    return -1;
}

/* Sync the copy, rename it over db, release the lock. */
static int edit_finish(struct edit *ed, char *err, size_t errlen)
{
    int rc = mdb_env_sync(ed->env, 1);

    mdb_env_close(ed->env);
    ed->env = NULL;
    if (rc != 0) {
        errtext_set(err, errlen, "sync %s: %s", ed->tmp, mdb_strerror(rc));
        edit_abort(ed);
        return -1;
    }
    rc = replace_file(ed->tmp, ed->db, err, errlen);
    ed->tmp = xfree(ed->tmp);
    edit_abort(ed);
    return rc;
}

/* Grow the map of an edit (no transaction active). */
static int edit_grow(struct edit *ed)
{
    MDB_envinfo info;

    if (mdb_env_info(ed->env, &info) != 0)
        return -1;
    return mdb_env_set_mapsize(ed->env, info.me_mapsize * 2) == 0 ? 0 : -1;
}

struct update_ctx {
    struct edit *ed;
    MDB_txn *txn;
    const char *name;
    int dup_mode;
    size_t added;
    int rc;                     /* the LMDB error that stopped the parse */
};

static int put_entry(const char *key, const char *value, unsigned lineno, void *ctx)
{
    struct update_ctx *u = ctx;
    MDB_val k = {strlen(key), (void *)key};
    MDB_val v = {strlen(value), (void *)value};
    unsigned flags = u->dup_mode == DICT_LMDB_DUP_REPLACE ? 0 : MDB_NOOVERWRITE;
    int rc = mdb_put(u->txn, u->ed->dbi, &k, &v, flags);

    if (rc == MDB_KEYEXIST) {
        if (u->dup_mode == DICT_LMDB_DUP_WARN)
            msg_warn("%s:%u: duplicate entry \"%s\": the table already has it; ignored", u->name,
                     lineno, key);
        return 0;
    }
    if (rc != 0) {
        u->rc = rc;
        return -1;
    }
    u->added++;
    return 0;
}

int dict_lmdb_update(const char *source, const char *input_name, const char *buf, size_t len,
                     int dup_mode, size_t *added, char *err, size_t errlen)
{
    char *db = dict_lmdb_path(source);
    struct edit ed;
    struct stat st;
    int rc = -1;

    if (access(db, F_OK) < 0 && errno == ENOENT) {
        if (stat(source, &st) < 0)
            memset(&st, 0, sizeof(st));
        rc = build_buffer(input_name, buf, len, db, &st, dup_mode, added, err, errlen);
        xfree(db);
        return rc;
    }
    if (edit_begin(&ed, db, len * 4, err, errlen) < 0) {
        xfree(db);
        return -1;
    }
    for (int attempt = 0; attempt < MAP_RETRIES; attempt++) {
        struct update_ctx u = {.ed = &ed, .name = input_name, .dup_mode = dup_mode};

        if ((u.rc = mdb_txn_begin(ed.env, NULL, 0, &u.txn)) != 0) {
            errtext_set(err, errlen, "%s: mdb_txn_begin: %s", ed.tmp, mdb_strerror(u.rc));
            break;
        }
        if (dict_text_parse(input_name, buf, len, put_entry, &u, err, errlen) != 0) {
            mdb_txn_abort(u.txn);
            if (u.rc == MDB_MAP_FULL && edit_grow(&ed) == 0)
                continue;
            if (u.rc != 0)
                errtext_set(err, errlen, "%s: mdb_put: %s", ed.tmp, mdb_strerror(u.rc));
            break;
        }
        u.rc = mdb_txn_commit(u.txn);
        if (u.rc == MDB_MAP_FULL && edit_grow(&ed) == 0)
            continue;
        if (u.rc != 0) {
            errtext_set(err, errlen, "%s: mdb_txn_commit: %s", ed.tmp, mdb_strerror(u.rc));
            break;
        }
        if (added)
            *added = u.added;
        rc = 0;
        break;
    }
    if (rc == 0)
        rc = edit_finish(&ed, err, errlen);
    else
        edit_abort(&ed);
    xfree(db);
    return rc;
}

int dict_lmdb_delete(const char *source, const char *const *keys, size_t nkeys,
                     size_t *deleted, char *err, size_t errlen)
{
    char *db = dict_lmdb_path(source), *key_buf = NULL;
    struct edit ed;
    MDB_txn *txn;
    size_t gone = 0, key_cap = 0;
    int rc;

    if (edit_begin(&ed, db, 0, err, errlen) < 0) {
        xfree(db);
        return -1;
    }
    if ((rc = mdb_txn_begin(ed.env, NULL, 0, &txn)) != 0) {
        errtext_set(err, errlen, "%s: mdb_txn_begin: %s", ed.tmp, mdb_strerror(rc));
        edit_abort(&ed);
        xfree(db);
        return -1;
    }
    for (size_t i = 0; i < nkeys && rc == 0; i++) {
        const char *key = dict_fold(&key_buf, &key_cap, keys[i]);
        MDB_val k = {strlen(key), (void *)key};

        if (k.mv_size > 0 && k.mv_size <= DICT_KEY_MAX) {
            rc = mdb_del(txn, ed.dbi, &k, NULL);
            if (rc == 0)
                gone++;
            else if (rc == MDB_NOTFOUND)
                rc = 0;
        }
    }
    xfree(key_buf);
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    if (rc != 0) {
        errtext_set(err, errlen, "%s: delete: %s", ed.tmp, mdb_strerror(rc));
        edit_abort(&ed);
        xfree(db);
        return -1;
    }
    rc = gone > 0 ? edit_finish(&ed, err, errlen) : (edit_abort(&ed), 0);
    if (rc == 0 && deleted)
        *deleted = gone;
    xfree(db);
    return rc;
}
