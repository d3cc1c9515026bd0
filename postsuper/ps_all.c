/*
 * ps_all.c - "ALL": every message in some states, fast at half a million.
 *
 * Nothing here opens a message file. Each leaf directory of a source state
 * is handled in one of two ways:
 *
 *  - swapped: when the destination leaf is empty (delete: always, with a
 *    new empty directory in the trash), one renameat2(RENAME_EXCHANGE)
 *    swaps the two leaf directories. Every message of the leaf changes
 *    state in that one atomic step; no path is ever missing, so a
 *    concurrent rename by qmgr or cleanup lands in one directory or the
 *    other, never nowhere. qmgr works by path, so a message swapped into
 *    hold/ can no longer be taken into active/ even by a scan that had
 *    already read its name. Afterwards the moved directory is read (names
 *    only) to count, log and index its messages, and the source leaf -
 *    now the old, empty destination directory - is walked file by file for
 *    anything that reached the destination between our look and the swap.
 *  - file by file (ps_act), when the swap is not possible: the destination
 *    leaf holds messages (a held message must never pass through a state
 *    qmgr delivers from), or the file system cannot exchange names.
 * active/ is always file by file: qmgr withdraws those messages.
 *
 * Hold and delete walk again while a pass still finds something (bounded):
 * a message may have moved from a state not yet walked into one already
 * walked. The index is brought up to date at the end in key order, so
 * each LMDB page is written about once per batch instead of once per
 * message.
 *
 * Memory: the IDs moved by swaps (one arena of strings and an array of
 * offsets, about 30 bytes per message), freed before returning.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "postsuper.h"

#define PASS_MAX 4
#define LOG_IDS 40              /* IDs per log line for swapped leaves */
#define BULK_MAX 10000          /* IDs held before the index is told: memory stays bounded */

struct bulk {
    char *ids;                  /* NUL-terminated IDs back to back */
    size_t len, cap;
    size_t *offs;               /* where each ID starts in ids */
    size_t n, ncap;
};

struct all {
    const struct ps_op_def *op;
    enum queue_state from;      /* the state being walked */
    unsigned long acted;        /* messages done in this pass */
    struct bulk bulk;           /* moved by swaps: the index is told later */
    char log_ids[LOG_IDS * (QUEUE_ID_MAX + 1) + 1];  /* " ID ID ..." */
    size_t log_len;
    int log_count;
};

static int can_exchange = 1;

/* --- the IDs moved by swaps --- */

static void bulk_add(struct bulk *b, const char *id)
{
    size_t n = strlen(id) + 1;

    b->ids = xgrow(b->ids, &b->cap, b->len + n, 1);
    b->offs = xgrow(b->offs, &b->ncap, b->n + 1, sizeof(*b->offs));
    memcpy(b->ids + b->len, id, n);
    b->offs[b->n++] = b->len;
    b->len += n;
}

static int cmp_offset(const void *x, const void *y, void *arg)
{
    const char *ids = arg;

    return strcmp(ids + *(const size_t *)x, ids + *(const size_t *)y);
}

/* Tell the index, in key order (IDs sort by arrival, as the index does);
 * called every BULK_MAX IDs and at the end, so memory does not grow with the
 * queue. */
static void bulk_apply(struct bulk *b, const struct ps_op_def *op)
{
    if (b->n > 0 && ps_index_handle() != NULL) {
        qsort_r(b->offs, b->n, sizeof(*b->offs), cmp_offset, b->ids);
        for (size_t i = 0; i < b->n; i++) {
            const char *id = b->ids + b->offs[i];
            if (op->dest < 0)
                ps_index_delete(id);
            else
                ps_index_set_state(id, (enum queue_state)op->dest);
        }
        ps_index_flush();
    }
    b->ids = xfree(b->ids);
    b->offs = xfree(b->offs);
    b->len = b->cap = b->n = b->ncap = 0;
}

/* --- leaves --- */

static int is_dir(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* 1: path has an entry besides . and ..; 0: empty; -1: cannot tell. */
static int dir_has_entries(const char *path)
{
    struct dirent *de;
    DIR *d = opendir(path);
    int found = 0;

    if (d == NULL)
        return errno == ENOENT ? 0 : -1;
    while (!found && (de = readdir(d)) != NULL)
        found = strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return found;
}

typedef void (*leaf_fn)(struct all *a, const char *id);

/* fn for every message of `leaf` found in directory path (the leaf's own,
 * or where a swap put it); 0, or -1 when the directory cannot be read.
 * Other names are left for postsuper -s. */
static int leaf_each(const char *path, const struct queue_leaf *leaf, leaf_fn fn,
                     struct all *a)
{
    struct dirent *de;
    DIR *d = opendir(path);

    if (d == NULL)
        return errno == ENOENT ? 0 : -1;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (queue_leaf_holds(leaf, de->d_name))
            fn(a, de->d_name);
        errno = 0;
    }
    if (errno != 0) {
        int saved = errno;
        closedir(d);
        errno = saved;
        return -1;
    }
    closedir(d);
    return 0;
}

/* One message, the careful way. */
static void one_file(struct all *a, const char *id)
{
    enum ps_outcome out = ps_act(a->op, id, (int)a->from, 0);

    ps_count(a->op->op, out, 1);
    if (out == PS_DONE)
        a->acted++;
    ps_progress_tick();
}

/* Log the IDs collected: "placed on hold: ID ID ...". */
static void log_flush(struct all *a)
{
    if (a->log_count > 0)
        ps_log("%s:%s", a->op->logged, a->log_ids);
    a->log_len = 0;
    a->log_count = 0;
    a->log_ids[0] = '\0';
}

/* One message that a swap moved: logged with others, one line per
 * LOG_IDS (a line per message would cost more than the move itself). */
static void moved_file(struct all *a, const char *id)
{
    int n;

    bulk_add(&a->bulk, id);
    if (a->bulk.n >= BULK_MAX)
        bulk_apply(&a->bulk, a->op);
    n = snprintf(a->log_ids + a->log_len, sizeof(a->log_ids) - a->log_len, " %s", id);
    if (n > 0)
        a->log_len += (size_t)n;
    if (++a->log_count >= LOG_IDS)
        log_flush(a);
    if (a->op->dest == QUEUE_INCOMING)
        ps_qmgr_note_new(id);
    ps_count(a->op->op, PS_DONE, 1);
    a->acted++;
    ps_progress_tick();
}

/* Swap `leaf` (of a->from) with its destination. 1 done (or nothing
 * to do), 0 when the leaf must be done file by file. */
static int leaf_swap(struct all *a, const struct queue_leaf *leaf)
{
    char dst[QUEUE_PATH_MAX + 128];
    const char *src = leaf->path;
    const struct ps_op_def *op = a->op;
    struct queue_leaf dest;
    int rc;

    if (!can_exchange || !is_dir(src))
        return 0;
    rc = dir_has_entries(src);
    if (rc <= 0)
        return rc == 0;
    if (op->dest < 0) {
        rc = ps_trash_leaf(src, dst, sizeof(dst));
    } else {
        queue_leaf_at(&dest, (enum queue_state)op->dest, leaf->index);
        snprintf(dst, sizeof(dst), "%s", dest.path);
        if (!is_dir(dst) || dir_has_entries(dst) != 0)
            return 0;
        rc = renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_EXCHANGE);
    }
    if (rc < 0) {
        if (errno == EINVAL || errno == ENOSYS)
            can_exchange = 0;
        return 0;
    }
    ps_touch_parent(a->from, leaf->index);
    if (op->dest >= 0)
        ps_touch_parent((enum queue_state)op->dest, leaf->index);
    if (leaf_each(dst, leaf, moved_file, a) < 0) {
        ps_warn("cannot read %s (moved from %s): %s", dst, src, strerror(errno));
        ps_op_note_failure();
    }
    log_flush(a);
    /* What reached the destination between our look and the swap is now
     * in the source leaf: move it on, file by file. */
    if (op->dest >= 0 && leaf_each(src, leaf, one_file, a) < 0)
        ps_warn("cannot read %s: %s", src, strerror(errno));
    return 1;
}

static void walk_state(struct all *a)
{
    struct queue_leaf leaf;

    for (int i = 0; i < QUEUE_LEAF_COUNT; i++) {
        queue_leaf_at(&leaf, a->from, i);
        if (a->from != QUEUE_ACTIVE && leaf_swap(a, &leaf))
            continue;
        if (leaf_each(leaf.path, &leaf, one_file, a) < 0) {
            ps_warn("cannot read %s: %s", leaf.path, strerror(errno));
            ps_op_note_failure();
        }
    }
}

/* Messages the index counts in `states` (for the progress line), or 0. */
static unsigned long expected(unsigned states)
{
    uint64_t counts[QUEUE_STATE_COUNT];
    unsigned long total = 0;

    if (ps_index_counts(counts) == 0) {
        for (int s = 0; s < QUEUE_STATE_COUNT; s++)
            if (states & PS_STATE_BIT(s))
                total += (unsigned long)counts[s];
    }
    return total;
}

void ps_op_all(enum ps_op op, int queue)
{
    struct all a = { .op = ps_op_def(op) };
    unsigned states = (queue >= 0 ? PS_STATE_BIT(queue) : a.op->all) & a.op->from;

    ps_op_used(op);
    if (states == 0)
        return;
    ps_progress_start(a.op->progress, expected(states));
    for (int pass = 0; pass < PASS_MAX; pass++) {
        a.acted = 0;
        for (size_t i = 0; i < a.op->order_len; i++) {
            a.from = a.op->order[i];
            if (states & PS_STATE_BIT(a.from))
                walk_state(&a);
        }
        /* Again only while messages may still slip between states. */
        if (!a.op->repeat || a.acted == 0 || !ps_master_running())
            break;
    }
    ps_progress_end();
    bulk_apply(&a.bulk, a.op);
    ps_index_flush();
    ps_qmgr_notify_flush();
}
