/*
 * cleanup_rewrite.c - address rewriting of a transaction's envelope, done
 * once when the transaction opens (before anything is written).
 *
 *   sender:      sender_canonical_maps
 *   recipients:  recipient_canonical_maps, then virtual_alias_maps; the
 *                final list has no duplicates (case-insensitive, first
 *                occurrence kept), also without any table (as in Postfix)
 *
 * The queue file gets the final sender and recipients; the message content
 * (headers included) is never rewritten. Any failure refuses the whole
 * transaction with a temporary error, so the client tries again later and
 * nothing is accepted half-rewritten:
 *   table could not be read         4.3.0 "address rewriting table lookup failed"
 *   expansion/nesting limits        4.3.0 "address rewriting limit exceeded"
 *   unusable table result           4.3.5 "address rewriting table has an unusable entry"
 *   more than QF_RCPT_MAX recipients 4.5.3 "too many recipients after address rewriting"
 * The details (table, entry, address) go to the log, not to the client.
 * With -v every rewriting step is logged (msg_debug).
 *
 * Memory: the rewritten sender and recipient list belong to the
 * transaction (txn->rw_sender, txn->rw_rcpts); cleanup_txn_reset() empties
 * them and cleanup_txn_release() frees them.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cleanup.h"
#include "mail_proto.h"
#include "msg.h"
#include "rewrite.h"

void cleanup_rewrite_init(void)
{
    char err[REWRITE_ERR_MAX];

    if (rewrite_init(err, sizeof(err)) < 0)
        msg_fatal("%s", err);
}

static const char *reason_of(int rc, const char **dsn)
{
    switch (rc) {
    case REWRITE_TEMPFAIL:
        *dsn = DSN_TEMP_SYSTEM;
        return "address rewriting table lookup failed";
    case REWRITE_LIMIT:
        *dsn = DSN_TEMP_SYSTEM;
        return "address rewriting limit exceeded";
    default:
        *dsn = DSN_CONFIG;
        return "address rewriting table has an unusable entry";
    }
}

static void log_trace(const char *queue_id, const struct rewrite_trace *trace)
{
    char line[1024];

    for (size_t i = 0; i < trace->count; i++) {
        rewrite_step_format(&trace->steps[i], line, sizeof(line));
        msg_debug("%s: %s", queue_id, line);
    }
}

int cleanup_rewrite(struct cleanup_txn *txn, const char **dsn, const char **reason)
{
    struct rewrite_trace trace;
    struct rewrite_trace *tp = msg_verbose > 0 ? &trace : NULL;
    const char *sender = attr_get(&txn->env, MAIL_ATTR_SENDER);
    size_t n = attr_count(&txn->env, MAIL_ATTR_RCPT);
    char err[REWRITE_ERR_MAX];
    int rc;

    rewrite_trace_init(&trace);
    txn->rw_sender = xfree(txn->rw_sender);
    rewrite_list_reset(&txn->rw_rcpts);
    rc = rewrite_sender(sender, &txn->rw_sender, tp, err, sizeof(err));
    for (size_t i = 0; i < n && rc == REWRITE_OK; i++)
        rc = rewrite_recipient(attr_find_nth(&txn->env, MAIL_ATTR_RCPT, i)->value, &txn->rw_rcpts, tp,
                               err, sizeof(err));
    log_trace(txn->queue_id, &trace);
    rewrite_trace_free(&trace);
    if (rc != REWRITE_OK) {
        *reason = reason_of(rc, dsn);
        msg_warn("%s: from=<%s>: %s; message not accepted, try again later", txn->queue_id,
                 sender, err);
        return -1;
    }
    if (txn->rw_rcpts.count > QF_RCPT_MAX) {
        *dsn = DSN_TOO_MANY_RCPTS;
        *reason = "too many recipients after address rewriting";
        msg_warn("%s: from=<%s>: %zu recipients after address rewriting (limit %d)",
                 txn->queue_id, sender, txn->rw_rcpts.count, QF_RCPT_MAX);
        return -1;
    }
    return 0;
}
