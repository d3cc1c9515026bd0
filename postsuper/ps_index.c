/*
 * ps_index.c - keep the LMDB queue index in step with what postsuper does.
 *
 * The index is a cache (lib/mail/queue_index.h): a failure here never stops an
 * operation. The first failure is reported once, the open transaction is
 * given up and the index is left alone for the rest of the run (qmgr's
 * reconciliation at start-up, or postsuper -s, repairs it).
 *
 * Changes are batched: one write transaction holds at most BATCH_MAX
 * changes or lasts at most BATCH_NS, whichever comes first, so qmgr (which
 * writes the index too, and waits for LMDB's writer lock) is never held up
 * for long. A transaction is started before the file changes it records
 * (ps_index_prepare), so that qmgr's own index write about a message it
 * took right after us is serialised after ours. The transaction is
 * committed before postsuper waits for qmgr (ps_index_flush), or qmgr
 * could wait for our lock while we wait for its answer.
 *
 * Memory: one struct qindex, owned here, closed by ps_index_close().
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "params.h"
#include "postsuper.h"
#include "queue_index.h"

#define BATCH_MAX 10000
#define BATCH_NS 100000000L             /* 0.1 s */

static struct qindex *index_db;
static int in_txn;
static unsigned long batch_count;
static struct timespec batch_start;
static int reported;

/* Drop the index handle, abandoning an open transaction. */
static void close_index(void)
{
    if (index_db != NULL) {
        if (in_txn)
            qindex_abort(index_db);
        qindex_close(index_db);
    }
    index_db = NULL;
    in_txn = 0;
}

/* Give up on the index for this run (after telling the operator once). */
static void index_failed(const char *what, const char *err)
{
    if (!reported)
        ps_warn("queue index: %s: %s (carrying on without it; postsuper -s repairs it)",
                what, err);
    reported = 1;
    close_index();
}

void ps_index_open(void)
{
    char err[QINDEX_ERR_MAX] = "";

    if (index_db != NULL)
        return;
    if (qindex_open(1, (size_t)var_queue_index_map_size, &index_db, err, sizeof(err)) < 0) {
        index_db = NULL;
        index_failed("cannot open", err);
    }
}

struct qindex *ps_index_handle(void)
{
    ps_index_flush();
    return index_db;
}

int ps_index_rebuild(void)
{
    char err[QINDEX_ERR_MAX] = "";

    close_index();
    if (qindex_destroy() < 0) {
        ps_warn("queue index: cannot remove it: %s", strerror(errno));
        return -1;
    }
    if (qindex_open(1, (size_t)var_queue_index_map_size, &index_db, err, sizeof(err)) < 0) {
        index_db = NULL;
        ps_warn("queue index: cannot create it: %s", err);
        return -1;
    }
    reported = 0;
    return 0;
}

void ps_index_prepare(void)
{
    char err[QINDEX_ERR_MAX] = "";

    if (index_db == NULL || in_txn)
        return;
    if (qindex_begin(index_db, err, sizeof(err)) < 0) {
        index_failed("cannot start a transaction", err);
        return;
    }
    in_txn = 1;
    batch_count = 0;
    clock_gettime(CLOCK_MONOTONIC, &batch_start);
}

/* After a change: commit when the batch is full or old enough. */
static void batch_account(void)
{
    struct timespec now;
    long ns;

    batch_count++;
    if (batch_count >= BATCH_MAX) {
        ps_index_flush();
        return;
    }
    if ((batch_count & 0x3f) != 0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ns = (long)(now.tv_sec - batch_start.tv_sec) * 1000000000L
         + (now.tv_nsec - batch_start.tv_nsec);
    if (ns >= BATCH_NS)
        ps_index_flush();
}

void ps_index_set_state(const char *id, enum queue_state state)
{
    ps_index_prepare();
    if (index_db == NULL)
        return;
    /* 0 (no entry) is fine: the index may not know this message yet. */
    if (qindex_set_state(index_db, id, state, 0) < 0) {
        index_failed("cannot update an entry", id);
        return;
    }
    batch_account();
}

void ps_index_delete(const char *id)
{
    ps_index_prepare();
    if (index_db == NULL)
        return;
    if (qindex_delete(index_db, id) < 0) {
        index_failed("cannot remove an entry", id);
        return;
    }
    batch_account();
}

void ps_index_flush(void)
{
    char err[QINDEX_ERR_MAX] = "";

    if (index_db == NULL || !in_txn)
        return;
    in_txn = 0;
    if (qindex_commit(index_db, err, sizeof(err)) < 0) {
        index_failed("cannot commit", err);
        return;
    }
    /* Let a writer that waited for our lock (qmgr) have its turn. */
    sched_yield();
}

int ps_index_counts(uint64_t messages[QUEUE_STATE_COUNT])
{
    uint64_t bytes[QUEUE_STATE_COUNT];
    char err[QINDEX_ERR_MAX] = "";
    int rc;

    ps_index_flush();
    if (index_db == NULL)
        return -1;
    if (qindex_read_begin(index_db, err, sizeof(err)) < 0)
        return -1;
    rc = qindex_counts(index_db, messages, bytes);
    qindex_read_end(index_db);
    return rc < 0 ? -1 : 0;
}

void ps_index_close(void)
{
    ps_index_flush();
    if (index_db != NULL)
        qindex_close(index_db);
    index_db = NULL;
}
