/*
 * qmgr_index.c - qmgr's side of the LMDB queue index (lib/mail/queue_index.h).
 *
 * The index is a cache that the operator's tools read; delivery never
 * depends on it. At start-up qmgr opens it writable, marks it dirty and
 * reconciles it with the files (files that cannot be read go to corrupt/).
 * When it cannot be opened (or set up), it is removed and opened once more;
 * if that fails too qmgr runs without an index and says so.
 *
 * While running, every state change qmgr makes is recorded as a pending
 * change keyed by queue ID (a later change of the same ID replaces or
 * adjusts the earlier one). The first change of a loop turn activates one
 * event; its callback writes all pending changes in ONE write transaction
 * (no fsync: MDB_NOSYNC). So the cost per message is an in-memory record
 * and a share of one commit per turn, whatever the load.
 *
 * A failed commit loses that batch: the index is then behind the files, so
 * it is left marked dirty at stop and the next start reconciles it (a
 * start reconciles anyway). A clean stop commits what is pending, clears
 * the dirty marker and closes the index.
 *
 * Memory: the pending changes own their IDs and encoded entries (copies:
 * the message they describe may be freed before the commit); the table
 * `pending` maps an ID to its slot (index + 1) in the array.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "alloc.h"
#include "htable.h"
#include "msg.h"
#include "params.h"
#include "qmgr.h"
#include "queue_index.h"

#define WARN_EVERY 100          /* log every Nth failed commit */

enum change_type {
    CHANGE_NEW,                 /* read the envelope from op->state at commit */
    CHANGE_PUT,                 /* the encoded entry in data */
    CHANGE_STATE,               /* state and next attempt only */
    CHANGE_REMOVE,
    CHANGE_CORRUPT
};

struct change {
    char id[QUEUE_ID_MAX + 1];
    enum change_type type;
    enum queue_state state;
    int64_t next_attempt;
    unsigned char *data;        /* CHANGE_PUT: qindex_encode() output */
    size_t len;
    size_t rcpt_count;          /* CHANGE_PUT: recipients in data */
};

static struct qindex *qi;
static struct change *changes;
static size_t change_count, change_cap;
static struct htable *pending;
static struct event *commit_event;
static unsigned long commit_failures;

/* Scratch recipient array for building and decoding entries. */
static struct qindex_rcpt *scratch;
static size_t scratch_cap;

static struct qindex_rcpt *scratch_rcpts(size_t count)
{
    scratch = xgrow(scratch, &scratch_cap, count > 0 ? count : 1, sizeof(*scratch));
    return scratch;
}

/* --- start-up --- */

/* qindex_reconcile found an unreadable file: it goes to corrupt/. */
static void reconcile_bad(const char *path, const char *reason, void *ctx)
{
    const char *id = strrchr(path, '/');
    const char *slash = strchr(path, '/');
    char state_name[16];
    int state;
    size_t n;

    (void)ctx;
    if (id == NULL || slash == NULL || (n = (size_t)(slash - path)) >= sizeof(state_name))
        return;
    memcpy(state_name, path, n);
    state_name[n] = '\0';
    state = queue_state_from_name(state_name);
    id++;
    if (state < 0 || state == QUEUE_CORRUPT || !queue_id_valid(id))
        return;
    if (queue_move(id, (enum queue_state)state, QUEUE_CORRUPT) < 0) {
        msg_warn("%s: damaged queue file (%s) cannot be moved to corrupt: %s", id, reason,
                 strerror(errno));
        return;
    }
    msg_warn("%s: damaged queue file moved to corrupt: %s", id, reason);
}

/* Open, mark dirty and reconcile; 0 ok, -1 (err filled, nothing open). */
static int index_setup(char *err, size_t errlen)
{
    struct qindex_repair_stats st;

    if (qindex_open(1, (size_t)var_queue_index_map_size, &qi, err, errlen) < 0) {
        qi = NULL;
        return -1;
    }
    if (qindex_set_dirty(qi, 1, err, errlen) < 0
        || qindex_reconcile(qi, &st, reconcile_bad, NULL, err, errlen) < 0) {
        qindex_close(qi);
        qi = NULL;
        return -1;
    }
    if (st.added || st.fixed_state || st.removed || st.unreadable)
        msg_info("queue index reconciled: %lu file(s), %lu added, %lu state(s) fixed, "
                 "%lu removed, %lu unreadable", st.files_seen, st.added, st.fixed_state,
                 st.removed, st.unreadable);
    else
        msg_debug("queue index agrees with the %lu queue file(s)", st.files_seen);
    return 0;
}

static void commit_now(evutil_socket_t fd, short what, void *arg);

void qmgr_index_init(void)
{
    char err[QINDEX_ERR_MAX];

    pending = htable_create(0);
    commit_event = event_new(qmgr_base(), -1, 0, commit_now, NULL);
    if (commit_event == NULL)
        msg_fatal("cannot create event");
    if (index_setup(err, sizeof(err)) == 0)
        return;
    msg_warn("%s; removing the queue index to rebuild it", err);
    if (qindex_destroy() < 0)
        msg_warn("cannot remove the queue index: %s", strerror(errno));
    if (index_setup(err, sizeof(err)) == 0)
        return;
    msg_error("%s; running without a queue index (postqueue and postsuper "
              "will be slow or fail until qmgr restarts with one)", err);
}

/* --- pending changes --- */

static void change_clear(struct change *c)
{
    c->data = xfree(c->data);
    c->len = 0;
    c->rcpt_count = 0;
}

/* The pending change of id, or NULL. */
static struct change *change_find(const char *id)
{
    uintptr_t slot = (uintptr_t)htable_find(pending, id);

    return slot ? &changes[slot - 1] : NULL;
}

/* The pending change of id, made empty for a new value. */
static struct change *change_slot(const char *id, enum change_type type)
{
    struct change *c = change_find(id);

    if (c == NULL) {
        changes = xgrow(changes, &change_cap, change_count + 1, sizeof(*changes));
        c = &changes[change_count++];
        memset(c, 0, sizeof(*c));
        snprintf(c->id, sizeof(c->id), "%s", id);
        (void)htable_insert(pending, c->id, (void *)(uintptr_t)change_count);
        event_active(commit_event, EV_TIMEOUT, 1);
    }
    change_clear(c);
    c->type = type;
    c->next_attempt = 0;
    return c;
}

void qmgr_index_put(const char *id, enum queue_state state, int64_t next_attempt,
                    const struct queue_file *qf)
{
    struct qindex_entry entry;
    struct change *c;

    if (qi == NULL)
        return;
    qindex_entry_from_file(&entry, id, state, next_attempt, qf,
                           scratch_rcpts(qf->rcpt_count));
    c = change_slot(id, CHANGE_PUT);
    c->state = state;
    c->next_attempt = next_attempt;
    c->len = qindex_encoded_size(&entry);
    c->data = xmalloc(c->len);
    c->len = qindex_encode(&entry, c->data);
    c->rcpt_count = entry.rcpt_count;
}

void qmgr_index_new(const char *id)
{
    struct change *c;

    if (qi == NULL || change_find(id) != NULL)
        return;
    c = change_slot(id, CHANGE_NEW);
    c->state = QUEUE_INCOMING;
}

void qmgr_index_state(const char *id, enum queue_state state, int64_t next_attempt)
{
    struct change *c;

    if (qi == NULL)
        return;
    c = change_find(id);
    if (c != NULL && (c->type == CHANGE_NEW || c->type == CHANGE_PUT
                      || c->type == CHANGE_STATE)) {
        c->state = state;
        c->next_attempt = next_attempt;
        return;
    }
    c = change_slot(id, CHANGE_STATE);
    c->state = state;
    c->next_attempt = next_attempt;
}

void qmgr_index_remove(const char *id)
{
    if (qi != NULL)
        (void)change_slot(id, CHANGE_REMOVE);
}

void qmgr_index_corrupt(const char *id)
{
    if (qi != NULL)
        change_slot(id, CHANGE_CORRUPT)->state = QUEUE_CORRUPT;
}

/* --- commit --- */

static int apply_put(const struct change *c)
{
    struct qindex_entry entry;

    if (qindex_decode(c->data, c->len, &entry, scratch_rcpts(c->rcpt_count),
                      c->rcpt_count) < 0) {
        msg_warn("%s: cannot decode its own index entry: not indexed", c->id);
        return 0;
    }
    snprintf(entry.queue_id, sizeof(entry.queue_id), "%s", c->id);
    entry.state = c->state;
    entry.next_attempt = c->next_attempt;
    return qindex_put(qi, &entry);
}

/* A message that arrived: index its envelope (skipped when it moved on). */
static int apply_new(const struct change *c)
{
    char path[QUEUE_PATH_MAX], err[QF_ERR_MAX];
    struct qindex_entry entry;
    struct queue_file qf;
    int fd, rc;

    queue_path(path, sizeof(path), c->state, c->id);
    fd = queue_file_open(path, 0, &qf, err, sizeof(err));
    if (fd < 0)
        return 0;       /* gone or unreadable: activation or reconcile decides */
    qindex_entry_from_file(&entry, c->id, c->state, c->next_attempt, &qf,
                           scratch_rcpts(qf.rcpt_count));
    rc = qindex_put(qi, &entry);
    close(fd);
    queue_file_free(&qf);
    return rc;
}

/* Moved to corrupt/: keep what the entry said, else what the name tells. */
static int apply_corrupt(const struct change *c)
{
    char path[QUEUE_PATH_MAX];
    struct qindex_entry entry;
    struct stat st;
    int rc = qindex_set_state(qi, c->id, QUEUE_CORRUPT, 0);

    if (rc != 0)
        return rc < 0 ? -1 : 0;
    memset(&entry, 0, sizeof(entry));
    snprintf(entry.queue_id, sizeof(entry.queue_id), "%s", c->id);
    entry.state = QUEUE_CORRUPT;
    entry.sender = "";
    if (queue_id_time(c->id, &entry.arrival) < 0)
        return 0;
    queue_path(path, sizeof(path), QUEUE_CORRUPT, c->id);
    if (lstat(path, &st) == 0)
        entry.size = (int64_t)st.st_size;
    return qindex_put(qi, &entry);
}

static int apply(const struct change *c)
{
    switch (c->type) {
    case CHANGE_NEW:
        return apply_new(c);
    case CHANGE_PUT:
        return apply_put(c);
    case CHANGE_STATE:
        return qindex_set_state(qi, c->id, c->state, c->next_attempt) < 0 ? -1 : 0;
    case CHANGE_REMOVE:
        return qindex_delete(qi, c->id) < 0 ? -1 : 0;
    case CHANGE_CORRUPT:
        return apply_corrupt(c);
    }
    return 0;
}

static void changes_reset(void)
{
    for (size_t i = 0; i < change_count; i++) {
        htable_remove(pending, changes[i].id);
        change_clear(&changes[i]);
    }
    change_count = 0;
}

static void commit_failed(const char *why)
{
    if (commit_failures++ % WARN_EVERY == 0)
        msg_warn("queue index update failed (%lu time%s so far; the index will be "
                 "reconciled at the next start): %s", commit_failures,
                 commit_failures == 1 ? "" : "s", why);
}

/* Write every pending change in one transaction. */
static void commit_pending(void)
{
    char err[QINDEX_ERR_MAX];

    if (qi == NULL || change_count == 0) {
        changes_reset();
        return;
    }
    if (qindex_begin(qi, err, sizeof(err)) < 0) {
        commit_failed(err);
        changes_reset();
        return;
    }
    for (size_t i = 0; i < change_count; i++) {
        if (apply(&changes[i]) < 0) {
            snprintf(err, sizeof(err), "%s: %s", changes[i].id, qindex_error(qi));
            qindex_abort(qi);
            commit_failed(err);
            changes_reset();
            return;
        }
    }
    if (qindex_commit(qi, err, sizeof(err)) < 0)
        commit_failed(err);
    changes_reset();
}

static void commit_now(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    commit_pending();
}

struct qindex *qmgr_index_sync(void)
{
    if (qi != NULL && change_count > 0) {
        event_del(commit_event);
        commit_pending();
    }
    return qi;
}

/* --- stop --- */

void qmgr_index_stop(void)
{
    char err[QINDEX_ERR_MAX];

    if (qi == NULL)
        return;
    commit_pending();
    if (commit_failures == 0 && qindex_set_dirty(qi, 0, err, sizeof(err)) < 0)
        msg_warn("cannot mark the queue index clean: %s", err);
    qindex_close(qi);
    qi = NULL;
}
