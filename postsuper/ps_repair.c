/*
 * ps_repair.c - postsuper -s: check the queue and repair what is wrong.
 *
 *  1. tmp/: files older than TMP_MAX_AGE are what a crashed cleanup left
 *     behind (a live one finishes or aborts long before): removed; so is
 *     trash of that age that a postsuper which died did not free.
 *  2. Each state directory, the levels above the leaves included
 *     (queue_walk_strays) as well as the leaves (queue_walk): a file
 *     with a valid queue ID in the wrong place is moved to its leaf (a
 *     misplaced file in active/ goes to incoming/ instead, since qmgr only
 *     knows what it moved into active/ itself); anything else in a state
 *     directory that is not a message (a bad name, a link, a directory)
 *     goes to corrupt/ under its own name, where no program reads it.
 *  3. Files in incoming/, deferred/ and hold/ are read with the one queue
 *     file reader; a file it refuses goes to corrupt/ (active/ belongs to
 *     qmgr, which moves a bad file there itself when it activates it).
 *  4. The index is reconciled with the files (qindex_reconcile: names
 *     only, reading just the files it lacks); if it cannot be opened or
 *     reconciled it is thrown away and rebuilt.
 * Then one report line says what was fixed.
 *
 * Every rename here refuses to replace an existing file.
 *
 * Memory: none kept; queue files read are freed at once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "postsuper.h"
#include "queue_file.h"
#include "queue_index.h"

#define TMP_MAX_AGE 3600
#define REPAIR_PATH_MAX 1024
#define CORRUPT_SUFFIX_MAX 10

struct repair {
    unsigned long misplaced;
    unsigned long bad_names;
    unsigned long damaged;
    unsigned long stale_tmp;
    unsigned long failed;
    enum queue_state state;     /* the state being walked */
};

/* --- 1. stale temporary files --- */

static void repair_tmp(struct repair *r)
{
    time_t limit = time(NULL) - TMP_MAX_AGE;
    DIR *dir = opendir(QUEUE_TMP_DIR);
    struct dirent *de;
    struct stat st;

    if (dir == NULL) {
        if (errno != ENOENT) {
            ps_warn("cannot read %s: %s", QUEUE_TMP_DIR, strerror(errno));
            r->failed++;
        }
        return;
    }
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (!S_ISREG(st.st_mode) || st.st_mtime > limit)
            continue;
        if (unlinkat(dirfd(dir), de->d_name, 0) < 0) {
            if (errno != ENOENT) {
                ps_warn("cannot remove %s/%s: %s", QUEUE_TMP_DIR, de->d_name, strerror(errno));
                r->failed++;
            }
            continue;
        }
        r->stale_tmp++;
    }
    closedir(dir);
    /* Deleted messages a postsuper that died did not get to free. */
    r->stale_tmp += ps_trash_sweep();
}

/* --- 2. misplaced and badly named entries --- */

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

/* Put a non-message into corrupt/ under its own name (never replacing). */
static void to_corrupt_by_name(struct repair *r, const char *path)
{
    char target[REPAIR_PATH_MAX];
    const char *name = base_name(path);

    for (int i = 0; i < CORRUPT_SUFFIX_MAX; i++) {
        int n = i == 0 ? snprintf(target, sizeof(target), "%s/%s",
                                  queue_state_name(QUEUE_CORRUPT), name)
                       : snprintf(target, sizeof(target), "%s/%s.%d",
                                  queue_state_name(QUEUE_CORRUPT), name, i);
        if (n < 0 || (size_t)n >= sizeof(target))
            break;
        if (ps_rename_noreplace(path, target) == 0) {
            ps_warn("%s: not a queue file: moved to %s", path, target);
            r->bad_names++;
            return;
        }
        if (errno == ENOENT)
            return;             /* gone meanwhile */
        if (errno != EEXIST)
            break;
    }
    ps_warn("%s: not a queue file, and it cannot be moved to %s: %s", path,
            queue_state_name(QUEUE_CORRUPT), strerror(errno));
    r->failed++;
}

static void check_file(struct repair *r, enum queue_state state, const char *id);

/* A valid ID in the wrong directory: move it where it belongs. */
static void to_right_leaf(struct repair *r, const char *path, const char *id)
{
    enum queue_state dest = r->state == QUEUE_ACTIVE ? QUEUE_INCOMING : r->state;
    char target[QUEUE_PATH_MAX];

    queue_path(target, sizeof(target), dest, id);
    if (ps_rename_noreplace(path, target) < 0) {
        if (errno == ENOENT)
            return;
        ps_warn("%s: misplaced, and it cannot be moved to %s: %s", path, target,
                strerror(errno));
        r->failed++;
        return;
    }
    ps_warn("%s: misplaced: moved to %s", path, target);
    ps_touch(dest, id);
    r->misplaced++;
    check_file(r, dest, id);
}

/* Something at `path` in the current state that queue_walk refused. */
static void on_bad_entry(const char *path, void *ctx)
{
    struct repair *r = ctx;
    const char *name = base_name(path);
    struct stat st;

    if (lstat(path, &st) < 0)
        return;
    if (queue_id_valid(name) && S_ISREG(st.st_mode)) {
        to_right_leaf(r, path, name);
        return;
    }
    if (r->state == QUEUE_CORRUPT)
        return;                 /* already where nobody reads it */
    to_corrupt_by_name(r, path);
}

/* Is `path` directly in the state directory ("corrupt/x")? */
static int at_top(const char *path, enum queue_state state)
{
    const char *name = queue_state_name(state);
    size_t len = strlen(name);

    return strncmp(path, name, len) == 0 && path[len] == '/'
           && strchr(path + len + 1, '/') == NULL;
}

/* Something above the leaves of the current state that is not a directory
 * of the tree. */
static void on_stray(const char *path, void *ctx)
{
    struct repair *r = ctx;

    /* Top level of corrupt/ holds what -s put there: leave it. */
    if (r->state == QUEUE_CORRUPT && at_top(path, r->state))
        return;
    on_bad_entry(path, r);
}

/* --- 3. damaged files --- */

static void check_file(struct repair *r, enum queue_state state, const char *id)
{
    char path[QUEUE_PATH_MAX], target[QUEUE_PATH_MAX], err[QF_ERR_MAX];
    struct queue_file qf;
    struct stat st;
    int fd;

    if (state != QUEUE_INCOMING && state != QUEUE_DEFERRED && state != QUEUE_HOLD)
        return;
    queue_path(path, sizeof(path), state, id);
    fd = queue_file_open(path, 0, &qf, err, sizeof(err));
    if (fd >= 0) {
        queue_file_free(&qf);
        close(fd);
        return;
    }
    if (lstat(path, &st) < 0)
        return;                 /* moved meanwhile (qmgr took it) */
    queue_path(target, sizeof(target), QUEUE_CORRUPT, id);
    if (ps_rename_noreplace(path, target) < 0) {
        if (errno == ENOENT)
            return;
        ps_warn("%s: damaged (%s), and it cannot be moved to %s: %s", id, err,
                queue_state_name(QUEUE_CORRUPT), strerror(errno));
        r->failed++;
        return;
    }
    ps_warn("%s: damaged (%s): moved from %s to %s", id, err, queue_state_name(state),
            queue_state_name(QUEUE_CORRUPT));
    ps_touch(state, id);
    ps_touch(QUEUE_CORRUPT, id);
    r->damaged++;
}

static int walk_check(const char *id, void *ctx)
{
    struct repair *r = ctx;

    check_file(r, r->state, id);
    return 0;
}

/* --- 4. the index --- */

/* reconcile could not read a file: a damaged file that escaped step 3. */
static void on_unreadable(const char *path, const char *reason, void *ctx)
{
    struct repair *r = ctx;
    const char *name = base_name(path);

    (void)reason;
    for (int s = QUEUE_INCOMING; s < QUEUE_STATE_COUNT; s++) {
        size_t len = strlen(queue_state_name((enum queue_state)s));
        if (strncmp(path, queue_state_name((enum queue_state)s), len) == 0
            && path[len] == '/' && queue_id_valid(name)) {
            check_file(r, (enum queue_state)s, name);
            return;
        }
    }
}

static int reconcile(struct repair *r, struct qindex_repair_stats *st)
{
    char err[QINDEX_ERR_MAX] = "";
    struct qindex *qi = ps_index_handle();

    memset(st, 0, sizeof(*st));
    if (qi == NULL && ps_index_rebuild() == 0)
        qi = ps_index_handle();
    if (qi == NULL)
        return -1;
    if (qindex_reconcile(qi, st, on_unreadable, r, err, sizeof(err)) == 0)
        return 0;
    ps_warn("queue index: reconciliation failed: %s: rebuilding it", err);
    memset(st, 0, sizeof(*st));
    if (ps_index_rebuild() < 0 || (qi = ps_index_handle()) == NULL)
        return -1;
    if (qindex_reconcile(qi, st, on_unreadable, r, err, sizeof(err)) == 0)
        return 0;
    ps_warn("queue index: rebuilding failed: %s", err);
    return -1;
}

void ps_repair(void)
{
    struct repair r = { 0 };
    struct qindex_repair_stats st;
    int index_ok;

    repair_tmp(&r);
    for (int s = QUEUE_INCOMING; s < QUEUE_STATE_COUNT; s++) {
        r.state = (enum queue_state)s;
        if (queue_walk_strays(r.state, on_stray, &r) < 0) {
            ps_warn("cannot read the %s queue: %s", queue_state_name(r.state), strerror(errno));
            r.failed++;
        }
        if (queue_walk(r.state, walk_check, on_bad_entry, &r) < 0) {
            ps_warn("cannot read the %s queue: %s", queue_state_name(r.state), strerror(errno));
            r.failed++;
        }
    }
    r.state = QUEUE_CORRUPT;    /* on_unreadable decides by path */
    index_ok = reconcile(&r, &st) == 0;
    ps_sync_touched();
    if (index_ok)
        ps_say("repaired: %lu misplaced, %lu damaged moved to corrupt, "
               "%lu stale temporary files removed, %lu bad names moved to corrupt, "
               "index: %lu added, %lu fixed, %lu removed",
               r.misplaced, r.damaged, r.stale_tmp, r.bad_names,
               st.added, st.fixed_state, st.removed);
    else
        ps_say("repaired: %lu misplaced, %lu damaged moved to corrupt, "
               "%lu stale temporary files removed, %lu bad names moved to corrupt, "
               "index: not available",
               r.misplaced, r.damaged, r.stale_tmp, r.bad_names);
    if (r.failed > 0 || !index_ok)
        ps_op_note_failure();
}
