/*
 * queue_index.c - the LMDB index of the queue (see queue_index.h): the
 * environment (open, format version, dirty marker), counts, write
 * transactions and changes, reads and walks. The bytes of an entry are
 * queue_index_record.c's; reconciliation with the files is
 * queue_index_reconcile.c's (queue_index_private.h is what they share).
 *
 * These three files are the one boundary with LMDB: every mdb_* result is
 * turned into an error text ("queue index: mdb_put: MDB_MAP_FULL: ...");
 * callers see only 0/-1 (and 1/0 for lookups).
 *
 * Memory: struct qindex owns the LMDB handles and two scratch arrays (the
 * recipients of the entry being walked, a copy of a record being changed).
 * Decoded entries point into LMDB pages or the caller's buffer.
 *
 * Counts: loaded into struct qindex when a write transaction begins, adjusted
 * in memory by put/set_state/delete and written back at commit, so a batch
 * costs five extra puts however large it is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "errtext.h"
#include "msg.h"
#include "queue_index_private.h"

#define DATA_FILE QINDEX_DIR "/data.mdb"
#define LOCK_FILE QINDEX_DIR "/lock.mdb"
#define MAX_DBS 3
#define BOOT_ID_FILE "/proc/sys/kernel/random/boot_id"
#define META_TEXT_MAX 64

/* Outcome of opening: fine, a hard error, or an index to throw away. */
#define OPEN_OK 0
#define OPEN_FAIL (-1)
#define OPEN_STALE (-2)

void qindex_mdb_fail(char *err, size_t errlen, const char *what, int rc)
{
    errtext_set(err, errlen, "queue index: %s: %s", what, mdb_strerror(rc));
}

static int entry_valid(const struct qindex_entry *e)
{
    return e != NULL && queue_id_valid(e->queue_id)
           && (unsigned)e->state < QUEUE_STATE_COUNT
           && e->arrival.tv_sec >= 0 && e->arrival.tv_usec >= 0
           && e->arrival.tv_usec <= 999999 && e->size >= 0 && e->next_attempt >= 0
           && (e->rcpt_count == 0 || e->rcpts != NULL);
}

/* ------------------------------------------------------------------ */
/* Environment                                                         */
/* ------------------------------------------------------------------ */

static int txn_begin(struct qindex *qi, unsigned flags, MDB_txn **txn, char *err,
                     size_t errlen)
{
    int rc = mdb_txn_begin(qi->env, NULL, flags, txn);

    if (rc == MDB_MAP_RESIZED) {
        /* Another process grew the map: adopt its size and retry. */
        rc = mdb_env_set_mapsize(qi->env, 0);
        if (rc == 0)
            rc = mdb_txn_begin(qi->env, NULL, flags, txn);
    }
    if (rc != 0) {
        *txn = NULL;
        qindex_mdb_fail(err, errlen, "mdb_txn_begin", rc);
        return -1;
    }
    return 0;
}

static void read_boot_id(char *buf, size_t len)
{
    ssize_t n;
    int fd;

    buf[0] = '\0';
    fd = open(BOOT_ID_FILE, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    n = read(fd, buf, len - 1);
    close(fd);
    if (n <= 0)
        n = 0;
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
}

/* A small text value from "meta" into buf ("" when missing). */
static int meta_get(struct qindex *qi, MDB_txn *txn, const char *name, char *buf, size_t len,
                    char *err, size_t errlen)
{
    MDB_val key = {strlen(name), (void *)name}, val;
    int rc = mdb_get(txn, qi->meta, &key, &val);

    buf[0] = '\0';
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0) {
        qindex_mdb_fail(err, errlen, "mdb_get", rc);
        return -1;
    }
    snprintf(buf, len, "%.*s", (int)(val.mv_size < len ? val.mv_size : len - 1),
             (const char *)val.mv_data);
    return 0;
}

static int meta_put(struct qindex *qi, MDB_txn *txn, const char *name, const char *value,
                    char *err, size_t errlen)
{
    MDB_val key = {strlen(name), (void *)name}, val = {strlen(value), (void *)value};
    int rc = mdb_put(txn, qi->meta, &key, &val, 0);

    if (rc != 0) {
        qindex_mdb_fail(err, errlen, "mdb_put", rc);
        return -1;
    }
    return 0;
}

/* Left dirty by a writer before the system restarted? */
static int dirty_across_boot(struct qindex *qi, MDB_txn *txn)
{
    char dirty[META_TEXT_MAX], boot[META_TEXT_MAX], now[META_TEXT_MAX];

    if (meta_get(qi, txn, "dirty", dirty, sizeof(dirty), NULL, 0) < 0
        || meta_get(qi, txn, "boot", boot, sizeof(boot), NULL, 0) < 0)
        return 0;
    if (strcmp(dirty, "1") != 0 || boot[0] == '\0')
        return 0;
    read_boot_id(now, sizeof(now));
    return now[0] != '\0' && strcmp(now, boot) != 0;
}

/* Open the three tables; a writable open creates them in a fresh index. */
static int open_tables(struct qindex *qi, char *err, size_t errlen)
{
    unsigned create = qi->writable ? MDB_CREATE : 0;
    char version[META_TEXT_MAX], want[META_TEXT_MAX];
    MDB_txn *txn;
    int rc, fresh = 0;

    if (txn_begin(qi, qi->writable ? 0 : MDB_RDONLY, &txn, err, errlen) < 0)
        return OPEN_FAIL;
    rc = mdb_dbi_open(txn, "meta", 0, &qi->meta);
    if (rc == MDB_NOTFOUND && qi->writable) {
        fresh = 1;
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &qi->meta);
    }
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        errtext_set(err, errlen, "queue index: not built yet (no meta table)");
        return OPEN_FAIL;
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        qindex_mdb_fail(err, errlen, "mdb_dbi_open", rc);
        return OPEN_STALE;
    }
    snprintf(want, sizeof(want), "%d", QINDEX_VERSION);
    if (!fresh) {
        if (meta_get(qi, txn, "version", version, sizeof(version), err, errlen) < 0) {
            mdb_txn_abort(txn);
            return OPEN_STALE;
        }
        if (strcmp(version, want) != 0) {
            mdb_txn_abort(txn);
            errtext_set(err, errlen, "queue index: format version \"%s\", expected %s",
                        version, want);
            return OPEN_STALE;
        }
        if (qi->writable && dirty_across_boot(qi, txn)) {
            mdb_txn_abort(txn);
            errtext_set(err, errlen,
                        "queue index: left dirty before a system restart, may be damaged");
            return OPEN_STALE;
        }
    }
    if ((rc = mdb_dbi_open(txn, "msgs", create, &qi->msgs)) != 0
        || (rc = mdb_dbi_open(txn, "counts", create, &qi->counts)) != 0) {
        mdb_txn_abort(txn);
        qindex_mdb_fail(err, errlen, "mdb_dbi_open", rc);
        return OPEN_STALE;
    }
    if (fresh && (meta_put(qi, txn, "version", want, err, errlen) < 0
                  || meta_put(qi, txn, "dirty", "0", err, errlen) < 0)) {
        mdb_txn_abort(txn);
        return OPEN_FAIL;
    }
    qi->fresh = fresh;
    /* Commit (even read-only) so that the table handles stay open. */
    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        qindex_mdb_fail(err, errlen, "mdb_txn_commit", rc);
        return OPEN_FAIL;
    }
    return OPEN_OK;
}

/* Errors of the system, not of the index: rebuilding would not help. */
static int system_error(int rc)
{
    return rc == EACCES || rc == EPERM || rc == EROFS || rc == ENOSPC || rc == ENOMEM
           || rc == EAGAIN || rc == EMFILE || rc == ENFILE;
}

static int try_open(struct qindex *qi, size_t map_size, char *err, size_t errlen)
{
    unsigned flags = MDB_NOTLS | (qi->writable ? MDB_NOSYNC : 0);
    int rc, dead;

    rc = mdb_env_create(&qi->env);
    if (rc != 0) {
        qi->env = NULL;
        qindex_mdb_fail(err, errlen, "mdb_env_create", rc);
        return OPEN_FAIL;
    }
    if ((rc = mdb_env_set_maxdbs(qi->env, MAX_DBS)) != 0
        || (rc = mdb_env_set_mapsize(qi->env, map_size)) != 0) {
        qindex_mdb_fail(err, errlen, "mdb_env_set", rc);
        mdb_env_close(qi->env);
        qi->env = NULL;
        return OPEN_FAIL;
    }
    rc = mdb_env_open(qi->env, QINDEX_DIR, flags, 0600);
    if (rc != 0) {
        qindex_mdb_fail(err, errlen, "mdb_env_open", rc);
        mdb_env_close(qi->env);
        qi->env = NULL;
        return system_error(rc) ? OPEN_FAIL : OPEN_STALE;
    }
    if (qi->writable)
        (void)mdb_reader_check(qi->env, &dead);   /* slots of crashed readers */
    rc = open_tables(qi, err, errlen);
    if (rc != OPEN_OK) {
        mdb_env_close(qi->env);
        qi->env = NULL;
    }
    return rc;
}

int qindex_open(int writable, size_t map_size, struct qindex **out, char *err, size_t errlen)
{
    struct qindex *qi;

    *out = NULL;
    if (writable) {
        if (mkdir(QINDEX_DIR, 0700) < 0 && errno != EEXIST) {
            errtext_set(err, errlen, "queue index: mkdir %s: %s", QINDEX_DIR, strerror(errno));
            return -1;
        }
    } else if (access(DATA_FILE, F_OK) < 0) {
        errtext_set(err, errlen, "queue index: %s: %s", DATA_FILE, strerror(errno));
        return -1;
    }
    qi = xcalloc(1, sizeof(*qi));
    qi->writable = writable ? 1 : 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = try_open(qi, map_size, err, errlen);

        if (rc == OPEN_OK) {
            *out = qi;
            return 0;
        }
        if (rc == OPEN_FAIL || !writable || attempt > 0)
            break;
        msg_warn("%s; rebuilding the index", err);
        if (qindex_destroy() < 0) {
            errtext_set(err, errlen, "queue index: cannot remove the old index: %s",
                        strerror(errno));
            break;
        }
    }
    xfree(qi);
    return -1;
}

void qindex_close(struct qindex *qi)
{
    if (qi == NULL)
        return;
    qindex_abort(qi);
    qindex_read_end(qi);
    if (qi->env != NULL) {
        if (qi->writable) {
            int rc = mdb_env_sync(qi->env, 1);
            if (rc != 0)
                msg_warn("queue index: mdb_env_sync: %s", mdb_strerror(rc));
        }
        mdb_env_close(qi->env);
    }
    xfree(qi->rcpts);
    xfree(qi->buf);
    xfree(qi);
}

const char *qindex_error(const struct qindex *qi)
{
    return qi != NULL ? qi->err : "queue index: no index";
}

int qindex_fresh(const struct qindex *qi)
{
    return qi != NULL && qi->fresh;
}

int qindex_destroy(void)
{
    if (unlink(DATA_FILE) < 0 && errno != ENOENT)
        return -1;
    if (unlink(LOCK_FILE) < 0 && errno != ENOENT)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Counts                                                              */
/* ------------------------------------------------------------------ */

static int counts_load(struct qindex *qi, MDB_txn *txn, uint64_t msgs[QUEUE_STATE_COUNT],
                       uint64_t bytes[QUEUE_STATE_COUNT], char *err, size_t errlen)
{
    for (int s = 0; s < QUEUE_STATE_COUNT; s++) {
        const char *name = queue_state_name((enum queue_state)s);
        MDB_val key = {strlen(name), (void *)name}, val;
        int rc = mdb_get(txn, qi->counts, &key, &val);

        msgs[s] = bytes[s] = 0;
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc != 0) {
            qindex_mdb_fail(err, errlen, "mdb_get", rc);
            return -1;
        }
        /* A damaged value counts 0: reconcile recomputes it. */
        (void)qindex_count_decode(val.mv_data, val.mv_size, &msgs[s], &bytes[s]);
    }
    return 0;
}

static int counts_store(struct qindex *qi, char *err, size_t errlen)
{
    for (int s = 0; s < QUEUE_STATE_COUNT; s++) {
        const char *name = queue_state_name((enum queue_state)s);
        unsigned char value[QINDEX_COUNT_SIZE];
        MDB_val key = {strlen(name), (void *)name}, val = {sizeof(value), value};
        int rc;

        qindex_count_encode(value, qi->cnt_msgs[s], qi->cnt_bytes[s]);
        rc = mdb_put(qi->wtxn, qi->counts, &key, &val, 0);
        if (rc != 0) {
            qindex_mdb_fail(err, errlen, "mdb_put", rc);
            return -1;
        }
    }
    return 0;
}

void qindex_count_add(struct qindex *qi, enum queue_state state, int64_t size)
{
    qi->cnt_msgs[state]++;
    qi->cnt_bytes[state] += (uint64_t)size;
    qi->cnt_changed = 1;
}

static void count_sub(struct qindex *qi, enum queue_state state, int64_t size)
{
    qi->cnt_msgs[state] = qi->cnt_msgs[state] > 0 ? qi->cnt_msgs[state] - 1 : 0;
    qi->cnt_bytes[state] = qi->cnt_bytes[state] > (uint64_t)size
                           ? qi->cnt_bytes[state] - (uint64_t)size : 0;
    qi->cnt_changed = 1;
}

/* ------------------------------------------------------------------ */
/* Write transactions                                                  */
/* ------------------------------------------------------------------ */

int qindex_begin(struct qindex *qi, char *err, size_t errlen)
{
    if (!qi->writable) {
        errtext_set(err, errlen, "queue index: opened read-only");
        return -1;
    }
    if (qi->wtxn != NULL) {
        errtext_set(err, errlen, "queue index: a write transaction is already open");
        return -1;
    }
    if (txn_begin(qi, 0, &qi->wtxn, err, errlen) < 0)
        return -1;
    if (counts_load(qi, qi->wtxn, qi->cnt_msgs, qi->cnt_bytes, err, errlen) < 0) {
        qindex_abort(qi);
        return -1;
    }
    qi->cnt_changed = 0;
    return 0;
}

int qindex_commit(struct qindex *qi, char *err, size_t errlen)
{
    int rc;

    if (qi->wtxn == NULL) {
        errtext_set(err, errlen, "queue index: no write transaction to commit");
        return -1;
    }
    if (qi->cnt_changed && counts_store(qi, err, errlen) < 0) {
        qindex_abort(qi);
        return -1;
    }
    rc = mdb_txn_commit(qi->wtxn);
    qi->wtxn = NULL;
    if (rc != 0) {
        qindex_mdb_fail(err, errlen, "mdb_txn_commit", rc);
        return -1;
    }
    return 0;
}

void qindex_abort(struct qindex *qi)
{
    if (qi == NULL || qi->wtxn == NULL)
        return;
    mdb_txn_abort(qi->wtxn);
    qi->wtxn = NULL;
}

/* Run a change in the caller's transaction, or in one of its own. */
static int auto_begin(struct qindex *qi, int *own)
{
    *own = 0;
    if (qi->wtxn != NULL)
        return 0;
    if (qindex_begin(qi, qi->err, sizeof(qi->err)) < 0)
        return -1;
    *own = 1;
    return 0;
}

static int auto_end(struct qindex *qi, int own, int rc)
{
    if (!own)
        return rc;
    if (rc < 0) {
        qindex_abort(qi);
        return rc;
    }
    if (qindex_commit(qi, qi->err, sizeof(qi->err)) < 0)
        return -1;
    return rc;
}

MDB_val qindex_id_key(const char *queue_id)
{
    MDB_val key = {strlen(queue_id), (void *)queue_id};
    return key;
}

/* The entry under key in the write transaction: 1 found, 0 not, -1 error. */
static int get_locked(struct qindex *qi, MDB_val *key, MDB_val *value)
{
    int rc = mdb_get(qi->wtxn, qi->msgs, key, value);

    if (rc == 0)
        return 1;
    if (rc == MDB_NOTFOUND)
        return 0;
    qindex_mdb_fail(qi->err, sizeof(qi->err), "mdb_get", rc);
    return -1;
}

static int put_locked(struct qindex *qi, const struct qindex_entry *entry)
{
    MDB_val key = qindex_id_key(entry->queue_id), old, val;
    enum queue_state old_state;
    int64_t old_size;
    int rc;

    if ((rc = get_locked(qi, &key, &old)) < 0)
        return -1;
    if (rc == 1 && qindex_record_peek(old.mv_data, old.mv_size, &old_state, &old_size) == 0)
        count_sub(qi, old_state, old_size);
    val.mv_size = qindex_encoded_size(entry);
    val.mv_data = NULL;
    rc = mdb_put(qi->wtxn, qi->msgs, &key, &val, MDB_RESERVE);
    if (rc != 0) {
        qindex_mdb_fail(qi->err, sizeof(qi->err), "mdb_put", rc);
        return -1;
    }
    qindex_encode(entry, val.mv_data);
    qindex_count_add(qi, entry->state, entry->size);
    return 0;
}

int qindex_put(struct qindex *qi, const struct qindex_entry *entry)
{
    int own, rc;

    if (!entry_valid(entry)) {
        errtext_set(qi->err, sizeof(qi->err), "queue index: put: invalid entry");
        return -1;
    }
    if (auto_begin(qi, &own) < 0)
        return -1;
    rc = put_locked(qi, entry);
    return auto_end(qi, own, rc);
}

static int set_state_locked(struct qindex *qi, const char *queue_id, enum queue_state state,
                            int64_t next_attempt)
{
    MDB_val key = qindex_id_key(queue_id), old, val;
    struct qindex_entry e;
    int rc;

    if ((rc = get_locked(qi, &key, &old)) <= 0)
        return rc;
    if (qindex_decode(old.mv_data, old.mv_size, &e, NULL, 0) < 0) {
        errtext_set(qi->err, sizeof(qi->err), "queue index: malformed entry for %s", queue_id);
        return -1;
    }
    /* A value read in a write transaction must not be changed in place. */
    qi->buf = xgrow(qi->buf, &qi->buf_cap, old.mv_size, 1);
    memcpy(qi->buf, old.mv_data, old.mv_size);
    qindex_record_patch(qi->buf, state, next_attempt);
    val.mv_size = old.mv_size;
    val.mv_data = qi->buf;
    rc = mdb_put(qi->wtxn, qi->msgs, &key, &val, 0);
    if (rc != 0) {
        qindex_mdb_fail(qi->err, sizeof(qi->err), "mdb_put", rc);
        return -1;
    }
    count_sub(qi, e.state, e.size);
    qindex_count_add(qi, state, e.size);
    return 1;
}

int qindex_set_state(struct qindex *qi, const char *queue_id, enum queue_state state,
                     int64_t next_attempt)
{
    int own, rc;

    if (!queue_id_valid(queue_id) || (unsigned)state >= QUEUE_STATE_COUNT || next_attempt < 0) {
        errtext_set(qi->err, sizeof(qi->err), "queue index: set_state: invalid argument");
        return -1;
    }
    if (auto_begin(qi, &own) < 0)
        return -1;
    rc = set_state_locked(qi, queue_id, state, next_attempt);
    return auto_end(qi, own, rc);
}

int qindex_delete_locked(struct qindex *qi, const char *queue_id)
{
    MDB_val key = qindex_id_key(queue_id), old;
    enum queue_state state;
    int64_t size;
    int rc;

    if ((rc = get_locked(qi, &key, &old)) <= 0)
        return rc;
    if (qindex_record_peek(old.mv_data, old.mv_size, &state, &size) == 0)
        count_sub(qi, state, size);
    rc = mdb_del(qi->wtxn, qi->msgs, &key, NULL);
    if (rc != 0) {
        qindex_mdb_fail(qi->err, sizeof(qi->err), "mdb_del", rc);
        return -1;
    }
    return 1;
}

int qindex_delete(struct qindex *qi, const char *queue_id)
{
    int own, rc;

    if (!queue_id_valid(queue_id))
        return 0;               /* never stored */
    if (auto_begin(qi, &own) < 0)
        return -1;
    rc = qindex_delete_locked(qi, queue_id);
    return auto_end(qi, own, rc);
}

int qindex_set_dirty(struct qindex *qi, int dirty, char *err, size_t errlen)
{
    char boot[META_TEXT_MAX];
    int rc;

    if (qi->wtxn != NULL) {
        errtext_set(err, errlen, "queue index: set_dirty inside a write transaction");
        return -1;
    }
    if (qindex_begin(qi, err, errlen) < 0)
        return -1;
    read_boot_id(boot, sizeof(boot));
    if (meta_put(qi, qi->wtxn, "dirty", dirty ? "1" : "0", err, errlen) < 0
        || (dirty && meta_put(qi, qi->wtxn, "boot", boot, err, errlen) < 0)) {
        qindex_abort(qi);
        return -1;
    }
    if (qindex_commit(qi, err, errlen) < 0)
        return -1;
    rc = mdb_env_sync(qi->env, 1);
    if (rc != 0) {
        qindex_mdb_fail(err, errlen, "mdb_env_sync", rc);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

static MDB_txn *current_txn(struct qindex *qi)
{
    return qi->wtxn != NULL ? qi->wtxn : qi->rtxn;
}

/* The open transaction, or a new read-only one (*own set). */
static int reading_txn(struct qindex *qi, MDB_txn **txn, int *own, char *err, size_t errlen)
{
    *own = 0;
    *txn = current_txn(qi);
    if (*txn != NULL)
        return 0;
    if (txn_begin(qi, MDB_RDONLY, txn, err, errlen) < 0)
        return -1;
    *own = 1;
    return 0;
}

int qindex_read_begin(struct qindex *qi, char *err, size_t errlen)
{
    if (qi->rtxn != NULL) {
        errtext_set(err, errlen, "queue index: a read transaction is already open");
        return -1;
    }
    return txn_begin(qi, MDB_RDONLY, &qi->rtxn, err, errlen);
}

void qindex_read_end(struct qindex *qi)
{
    if (qi == NULL || qi->rtxn == NULL)
        return;
    mdb_txn_abort(qi->rtxn);
    qi->rtxn = NULL;
}

int qindex_get(struct qindex *qi, const char *queue_id, struct qindex_entry *entry,
               struct qindex_rcpt *rcpts, size_t rcpt_cap)
{
    MDB_txn *txn = current_txn(qi);
    MDB_val key, val;
    int rc;

    if (txn == NULL) {
        errtext_set(qi->err, sizeof(qi->err), "queue index: get outside a transaction");
        return -1;
    }
    if (!queue_id_valid(queue_id))
        return 0;
    key = qindex_id_key(queue_id);
    rc = mdb_get(txn, qi->msgs, &key, &val);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0) {
        qindex_mdb_fail(qi->err, sizeof(qi->err), "mdb_get", rc);
        return -1;
    }
    if (qindex_decode(val.mv_data, val.mv_size, entry, rcpts, rcpt_cap) < 0) {
        errtext_set(qi->err, sizeof(qi->err), "queue index: malformed entry for %s", queue_id);
        return -1;
    }
    snprintf(entry->queue_id, sizeof(entry->queue_id), "%s", queue_id);
    return 1;
}

/* Decode into the scratch recipients, growing them when needed. */
static int decode_scratch(struct qindex *qi, const MDB_val *val, struct qindex_entry *e)
{
    if (qindex_decode(val->mv_data, val->mv_size, e, qi->rcpts, qi->rcpt_cap) < 0)
        return -1;
    if (e->rcpt_count <= qi->rcpt_cap)
        return 0;
    qi->rcpts = xgrow(qi->rcpts, &qi->rcpt_cap, e->rcpt_count, sizeof(*qi->rcpts));
    return qindex_decode(val->mv_data, val->mv_size, e, qi->rcpts, qi->rcpt_cap);
}

static int walk_cursor(struct qindex *qi, MDB_cursor *cur, qindex_walk_fn fn, void *ctx,
                       char *err, size_t errlen)
{
    MDB_val key, val;
    int rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);

    for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        struct qindex_entry e;
        int stop;

        if (key.mv_size == 0 || key.mv_size > QUEUE_ID_MAX || decode_scratch(qi, &val, &e) < 0) {
            msg_warn("queue index: skipping a malformed entry (key %.*s)",
                     (int)(key.mv_size > QUEUE_ID_MAX ? QUEUE_ID_MAX : key.mv_size),
                     (const char *)key.mv_data);
            continue;
        }
        memcpy(e.queue_id, key.mv_data, key.mv_size);
        e.queue_id[key.mv_size] = '\0';
        stop = fn(&e, ctx);
        if (stop != 0)
            return stop;
    }
    if (rc != MDB_NOTFOUND) {
        qindex_mdb_fail(err, errlen, "mdb_cursor_get", rc);
        return -1;
    }
    return 0;
}

int qindex_walk(struct qindex *qi, qindex_walk_fn fn, void *ctx, char *err, size_t errlen)
{
    MDB_cursor *cur;
    MDB_txn *txn;
    int own, rc;

    if (reading_txn(qi, &txn, &own, err, errlen) < 0)
        return -1;
    rc = mdb_cursor_open(txn, qi->msgs, &cur);
    if (rc != 0) {
        qindex_mdb_fail(err, errlen, "mdb_cursor_open", rc);
        if (own)
            mdb_txn_abort(txn);
        return -1;
    }
    rc = walk_cursor(qi, cur, fn, ctx, err, errlen);
    mdb_cursor_close(cur);
    if (own)
        mdb_txn_abort(txn);
    return rc;
}

int qindex_counts(struct qindex *qi, uint64_t messages[QUEUE_STATE_COUNT],
                  uint64_t bytes[QUEUE_STATE_COUNT])
{
    MDB_txn *txn;
    int own, rc;

    if (qi->wtxn != NULL) {
        memcpy(messages, qi->cnt_msgs, sizeof(qi->cnt_msgs));
        memcpy(bytes, qi->cnt_bytes, sizeof(qi->cnt_bytes));
        return 0;
    }
    if (reading_txn(qi, &txn, &own, qi->err, sizeof(qi->err)) < 0)
        return -1;
    rc = counts_load(qi, txn, messages, bytes, qi->err, sizeof(qi->err));
    if (own)
        mdb_txn_abort(txn);
    return rc;
}

int qindex_is_dirty(struct qindex *qi)
{
    char dirty[META_TEXT_MAX];
    MDB_txn *txn;
    int own, rc;

    if (reading_txn(qi, &txn, &own, qi->err, sizeof(qi->err)) < 0)
        return -1;
    rc = meta_get(qi, txn, "dirty", dirty, sizeof(dirty), qi->err, sizeof(qi->err));
    if (own)
        mdb_txn_abort(txn);
    if (rc < 0)
        return -1;
    return strcmp(dirty, "1") == 0;
}
