/*
 * queue_index_reconcile.c - making the queue index agree with the queue
 * files (qindex_reconcile, see queue_index.h): walk the state directories
 * (names only), read the files the index lacks or has in another state,
 * then drop entries whose file is gone and recompute the counts.
 *
 * Runs in write transactions of BATCH_CHANGES changes each, so a huge
 * queue never needs one huge transaction; a batch already committed was
 * correct when it was committed.
 *
 * Memory: a set of the IDs seen (one arena of strings and a table of
 * offsets) and the keys of entries to remove, all freed before
 * qindex_reconcile returns; the recipients of a file being indexed use the
 * index's scratch array.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "errtext.h"
#include "htable.h"
#include "queue_index_private.h"

#define BATCH_CHANGES 10000

struct reconcile {
    struct qindex *qi;
    enum queue_state state;     /* being walked */
    struct qindex_repair_stats *stats;
    qindex_bad_fn on_bad;
    void *bad_ctx;
    struct htable *seen;        /* queue IDs seen in the walk (values unused) */
    unsigned long changes;      /* in the current transaction */
    char *err;
    size_t errlen;
};

/* One more change; commit when the batch is full. */
static int note_change(struct reconcile *rc)
{
    if (++rc->changes < BATCH_CHANGES)
        return 0;
    rc->changes = 0;
    if (qindex_commit(rc->qi, rc->err, rc->errlen) < 0
        || qindex_begin(rc->qi, rc->err, rc->errlen) < 0)
        return -1;
    return 0;
}

/* An unreadable file in corrupt/: index what its name and size tell. */
static int index_corrupt(struct reconcile *rc, const char *id, const struct stat *st)
{
    struct qindex_entry e;

    memset(&e, 0, sizeof(e));
    snprintf(e.queue_id, sizeof(e.queue_id), "%s", id);
    e.state = QUEUE_CORRUPT;
    if (queue_id_time(id, &e.arrival) < 0)
        return -1;
    e.size = (int64_t)st->st_size;
    e.sender = "";
    if (qindex_put(rc->qi, &e) < 0) {
        errtext_set(rc->err, rc->errlen, "%s", rc->qi->err);
        return -1;
    }
    return 0;
}

#define FILE_INDEXED 0
#define FILE_UNREADABLE 1
#define FILE_GONE 2

/* Read a file and index it: FILE_*, or -1 on an index error. */
static int index_file(struct reconcile *rc, const char *id)
{
    struct qindex *qi = rc->qi;
    char path[QUEUE_PATH_MAX], why[QF_ERR_MAX];
    struct queue_file qf;
    struct qindex_entry e;
    struct stat st;
    int fd, ret = FILE_INDEXED;

    queue_path(path, sizeof(path), rc->state, id);
    fd = queue_file_open(path, 0, &qf, why, sizeof(why));
    if (fd < 0) {
        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
            return FILE_GONE;   /* moved or removed while we looked */
        if (rc->state == QUEUE_CORRUPT)
            return index_corrupt(rc, id, &st);
        rc->stats->unreadable++;
        if (rc->on_bad)
            rc->on_bad(path, why, rc->bad_ctx);
        return FILE_UNREADABLE;
    }
    if (fstat(fd, &st) < 0)
        st.st_mtime = 0;
    qi->rcpts = xgrow(qi->rcpts, &qi->rcpt_cap, qf.rcpt_count, sizeof(*qi->rcpts));
    qindex_entry_from_file(&e, id, rc->state,
                           rc->state == QUEUE_DEFERRED ? (int64_t)st.st_mtime : 0, &qf, qi->rcpts);
    if (qindex_put(qi, &e) < 0) {
        errtext_set(rc->err, rc->errlen, "%s", qi->err);
        ret = -1;
    }
    close(fd);
    queue_file_free(&qf);
    return ret;
}

/* queue_walk callback: one file name in rc->state. */
static int reconcile_one(const char *id, void *ctx)
{
    struct reconcile *rc = ctx;
    struct qindex *qi = rc->qi;
    MDB_val key = qindex_id_key(id), val;
    enum queue_state state;
    int64_t size;
    int got, had, r;

    rc->stats->files_seen++;
    got = mdb_get(qi->wtxn, qi->msgs, &key, &val);
    if (got != 0 && got != MDB_NOTFOUND) {
        qindex_mdb_fail(rc->err, rc->errlen, "mdb_get", got);
        return 1;
    }
    had = got == 0 && qindex_record_peek(val.mv_data, val.mv_size, &state, &size) == 0;
    if (had && state == rc->state) {
        (void)htable_insert(rc->seen, id, NULL);
        return 0;
    }
    r = index_file(rc, id);
    if (r < 0)
        return 1;
    if (r == FILE_GONE)
        return 0;               /* the scan of the entries decides */
    if (r == FILE_INDEXED) {
        (void)htable_insert(rc->seen, id, NULL);
        if (had)
            rc->stats->fixed_state++;
        else
            rc->stats->added++;
    } else if (got == 0 && qindex_delete_locked(qi, id) < 0) {
        errtext_set(rc->err, rc->errlen, "%s", qi->err);
        return 1;
    }
    return note_change(rc) < 0 ? 1 : 0;
}

/* Is the message's file in some state (it may have moved while we walked)? */
static int file_exists(const char *id)
{
    char path[QUEUE_PATH_MAX];
    struct stat st;

    for (int s = 0; s < QUEUE_STATE_COUNT; s++) {
        queue_path(path, sizeof(path), (enum queue_state)s, id);
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
            return 1;
    }
    return 0;
}

struct key_list {
    MDB_val *keys;
    size_t count, cap;
};

/* Entries to keep (counted) and to remove (copied into `gone`). */
static int scan_entries(struct reconcile *rc, struct key_list *gone)
{
    struct qindex *qi = rc->qi;
    MDB_cursor *cur;
    MDB_val key, val;
    int r;

    memset(qi->cnt_msgs, 0, sizeof(qi->cnt_msgs));
    memset(qi->cnt_bytes, 0, sizeof(qi->cnt_bytes));
    qi->cnt_changed = 1;
    r = mdb_cursor_open(qi->wtxn, qi->msgs, &cur);
    if (r != 0) {
        qindex_mdb_fail(rc->err, rc->errlen, "mdb_cursor_open", r);
        return -1;
    }
    for (r = mdb_cursor_get(cur, &key, &val, MDB_FIRST); r == 0;
         r = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        char id[QUEUE_ID_MAX + 1];
        enum queue_state state;
        int64_t size;

        if (key.mv_size > 0 && key.mv_size <= QUEUE_ID_MAX) {
            memcpy(id, key.mv_data, key.mv_size);
            id[key.mv_size] = '\0';
            if (queue_id_valid(id)
                && qindex_record_peek(val.mv_data, val.mv_size, &state, &size) == 0
                && (htable_contains(rc->seen, id) || file_exists(id))) {
                qindex_count_add(qi, state, size);
                continue;
            }
        }
        gone->keys = xgrow(gone->keys, &gone->cap, gone->count + 1, sizeof(*gone->keys));
        gone->keys[gone->count].mv_size = key.mv_size;
        gone->keys[gone->count].mv_data = xmemdup(key.mv_data, key.mv_size);
        gone->count++;
    }
    mdb_cursor_close(cur);
    if (r != MDB_NOTFOUND) {
        qindex_mdb_fail(rc->err, rc->errlen, "mdb_cursor_get", r);
        return -1;
    }
    return 0;
}

/* Remove entries whose file is gone; the counts already leave them out. */
static int remove_entries(struct reconcile *rc, const struct key_list *gone)
{
    for (size_t i = 0; i < gone->count; i++) {
        MDB_val key = gone->keys[i];
        int r = mdb_del(rc->qi->wtxn, rc->qi->msgs, &key, NULL);

        if (r != 0 && r != MDB_NOTFOUND) {
            qindex_mdb_fail(rc->err, rc->errlen, "mdb_del", r);
            return -1;
        }
        if (r == 0)
            rc->stats->removed++;
        if (note_change(rc) < 0)
            return -1;
    }
    return 0;
}

static const enum queue_state walked_states[] = {
    QUEUE_INCOMING, QUEUE_ACTIVE, QUEUE_DEFERRED, QUEUE_HOLD, QUEUE_CORRUPT,
};

static int reconcile_files(struct reconcile *rc)
{
    for (size_t i = 0; i < sizeof(walked_states) / sizeof(walked_states[0]); i++) {
        int r;

        rc->state = walked_states[i];
        errno = 0;
        r = queue_walk(rc->state, reconcile_one, NULL, rc);
        if (r < 0) {
            errtext_set(rc->err, rc->errlen, "queue index: reconcile: reading %s: %s",
                        queue_state_name(rc->state), strerror(errno));
            return -1;
        }
        if (r != 0)
            return -1;          /* reconcile_one filled err */
    }
    return 0;
}

int qindex_reconcile(struct qindex *qi, struct qindex_repair_stats *stats,
                     qindex_bad_fn on_bad, void *ctx, char *err, size_t errlen)
{
    struct qindex_repair_stats local;
    struct key_list gone = {0};
    struct reconcile rc = {0};
    int ret = -1;

    if (stats == NULL)
        stats = &local;
    memset(stats, 0, sizeof(*stats));
    if (qi->wtxn != NULL) {
        errtext_set(err, errlen, "queue index: reconcile inside a write transaction");
        return -1;
    }
    if (qindex_begin(qi, err, errlen) < 0)
        return -1;
    rc.qi = qi;
    rc.stats = stats;
    rc.on_bad = on_bad;
    rc.bad_ctx = ctx;
    rc.seen = htable_create(0);
    rc.err = err;
    rc.errlen = errlen;
    if (reconcile_files(&rc) == 0 && scan_entries(&rc, &gone) == 0
        && remove_entries(&rc, &gone) == 0 && qindex_commit(qi, err, errlen) == 0)
        ret = 0;
    if (ret < 0)
        qindex_abort(qi);       /* batches already committed were correct */
    for (size_t i = 0; i < gone.count; i++)
        xfree(gone.keys[i].mv_data);
    xfree(gone.keys);
    htable_free(rc.seen, NULL);
    return ret;
}
