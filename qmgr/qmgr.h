/*
 * qmgr.h - the queue manager's internal interfaces (one header for the
 * qmgr/ folder only; nothing outside qmgr/ includes it).
 *
 * Modules and what they own:
 *   qmgr.c          main(), the queue_run_delay timer, start-up and stop.
 *   qmgr_ctl.c      the private/qmgr listener: reads every request, hands
 *                   the new-mail triggers to qmgr_trigger.c, and serves the
 *                   operator's control requests (flush, flush_site,
 *                   deliver_now, withdraw) with their replies and the
 *                   deliver_now watch events.
 *   qmgr_trigger.c  the new-mail triggers: req=new (cleanup, postsuper) and
 *                   req=wakeup (master, postsuper), never answered.
 *   qmgr_index.c    qmgr's side of the LMDB queue index: open, reconcile,
 *                   and every state change, batched into one write
 *                   transaction per event-loop turn.
 *   qmgr_scan.c     the work loop: the FIFO of IDs announced by cleanup and
 *                   the incremental scanner of incoming/ and deferred/ (one
 *                   leaf directory per loop turn). Activates messages while
 *                   the active limit allows. Also the flush walk and the
 *                   priority list of flush_site.
 *   qmgr_message.c  a message in active/: activation (rename, read,
 *                   corrupt handling), routing into delivery jobs and the
 *                   error/discard/hold transports, recording
 *                   recipient results in the file, completion (remove or
 *                   defer with back-off) and the set of active IDs.
 *   qmgr_route.c    the routing tables (lib/mail/route.h): loaded at start-up,
 *                   a broken configuration defers mail (DSN_CONFIG) and is
 *                   retried.
 *   qmgr_dest.c     per-next-hop queues of jobs, concurrency limits and the
 *                   round-robin dispatcher.
 *   qmgr_deliver.c  connections to private/smtp: one request at a time per
 *                   connection, reuse of idle connections, timeouts.
 * Tables by ID or next hop (active messages, destinations, pending index
 * changes) are lib/util/htable.h tables.
 *
 * Memory: a message owns its queue_file envelope (no content) and its open
 * file descriptor; a job owns its recipient index array and belongs to its
 * message (counted in msg->jobs_left, listed in msg->jobs) and to one
 * destination queue, the urgent list, or one connection; a destination
 * owns its name. A control client (struct qmgr_ctl_client, a connection on
 * private/qmgr) is owned by qmgr_ctl.c; a message only
 * links to the clients watching it or waiting for its withdrawal, and
 * qmgr_ctl.c unlinks a client before freeing it. Everything is freed when
 * the last reference goes away.
 */
#ifndef POSTERN_QMGR_H
#define POSTERN_QMGR_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "queue_dir.h"
#include "queue_file.h"

struct event_base;
struct qindex;
struct qmgr_ctl_client;

/* --- qmgr.c --- */

struct event_base *qmgr_base(void);
/*
 * A graceful stop (reload, shutdown) is under way: nothing new is activated
 * or dispatched; deliveries in progress finish and are recorded, then qmgr
 * exits. Messages left in active/ go to the next qmgr.
 */
int qmgr_stopping(void);
/* After a delivery ended: exit when stopping and none is left. */
void qmgr_stop_check(void);

/* --- qmgr_message.c --- */

struct qmgr_job;

/* What a withdraw request does with the message once its deliveries stop. */
enum qmgr_withdraw {
    QMGR_WITHDRAW_NONE = 0,
    QMGR_WITHDRAW_HOLD,
    QMGR_WITHDRAW_DELETE,
    QMGR_WITHDRAW_REQUEUE
};

struct qmgr_message {
    char id[QUEUE_ID_MAX + 1];
    int fd;                     /* active/ file, O_RDWR */
    struct queue_file qf;       /* envelope and recipient states */
    unsigned jobs_left;         /* delivery requests not yet finished */
    struct qmgr_job *jobs;      /* every job not yet finished (msg_next) */
    struct qmgr_ctl_client *watchers;    /* deliver_now watch clients */
    struct qmgr_ctl_client *withdrawers; /* withdraw requests waiting */
    enum qmgr_withdraw withdraw;        /* set once a withdraw began */
    unsigned verbose;           /* watchers that asked for the SMTP trace */
    int held;                   /* routing moved it to hold/ (hold: transport) */
};

/* Results the delivery agent reports for one recipient. */
enum qmgr_status { QMGR_SENT, QMGR_DEFERRED, QMGR_BOUNCED };

/* Move everything in active/ back to incoming/ (start-up only). */
void qmgr_message_recover(void);
/*
 * Files in active/ that qmgr does not hold (a move out of active/ that
 * failed left them there): back to incoming/, to be delivered. The count.
 */
size_t qmgr_message_recover_orphans(void);
/* Messages in active/ right now, and is this ID one of them? */
size_t qmgr_message_count(void);
int qmgr_message_is_active(const char *id);
/* The active message with this ID, or NULL. */
struct qmgr_message *qmgr_message_find(const char *id);
/*
 * Bring message `id` from `from` (incoming or deferred) into active/ and
 * queue its deliveries. 1 activated, 0 skipped (gone, already active,
 * corrupt or nothing to do), -1 error (logged).
 */
int qmgr_message_activate(const char *id, enum queue_state from);
/*
 * The two halves of activation, for deliver_now: load moves the file to
 * active/ and reads it (NULL when it is gone, already active or corrupt;
 * *why then says which: "no such message", "damaged queue file", ...);
 * route queues its deliveries (urgent: ahead of everything, past the
 * concurrency limits) and may complete, and so free, the message at once.
 */
struct qmgr_message *qmgr_message_load(const char *id, enum queue_state from,
                                       const char **why);
void qmgr_message_route(struct qmgr_message *msg, int urgent);
/* deliver_now on an active message: its queued jobs jump the queues. */
void qmgr_message_hurry(struct qmgr_message *msg);
/*
 * Withdraw an active message (mail_proto.h req=withdraw): drop its queued
 * jobs, cancel deliveries in progress, then hold, delete or requeue it.
 * `client` (may be NULL) gets the reply when that is done, which may be
 * before this returns. Returns 0, or -1 when a different withdraw is
 * already under way (nothing changed).
 */
int qmgr_message_withdraw(struct qmgr_message *msg, enum qmgr_withdraw action,
                          struct qmgr_ctl_client *client);
/* An SMTP trace line from the agent for msg (forwarded to watchers). */
void qmgr_message_trace(struct qmgr_message *msg, const char *line);
/* Record a result reported by the delivery agent (mark/append in the file). */
void qmgr_message_rcpt_result(struct qmgr_message *msg, size_t index,
                              enum qmgr_status status, const char *dsn,
                              const char *relay, const char *reason);
/* A recipient the agent never reported on: deferred, DSN_TEMP_SYSTEM. */
void qmgr_message_rcpt_failed(struct qmgr_message *msg, size_t index,
                              const char *reason);
/* A job of msg is finished; completes the message after its last job. */
void qmgr_message_job_done(struct qmgr_message *msg);

/* --- qmgr_route.c --- */

struct route_result;

/* Load the routing configuration (failure: logged, mail deferred, retried). */
void qmgr_route_init(void);
/*
 * The route of one recipient (route_resolve()), or ROUTE_DEFER with DSN_CONFIG
 * while the routing configuration cannot be loaded.
 */
int qmgr_route(const char *rcpt, const char *sender, struct route_result *res);

/* --- qmgr_dest.c --- */

struct qmgr_dest;

struct qmgr_job_rcpt {
    size_t index;               /* into msg->qf.rcpts, ascending in a job */
    int seen;                   /* the agent reported on it */
};

struct qmgr_conn;

/* Where a job is. */
enum qmgr_job_where {
    QMGR_JOB_NEW = 0,           /* on no list: new, or just taken off one */
    QMGR_JOB_QUEUED,            /* in its destination's queue */
    QMGR_JOB_URGENT,            /* on the urgent list */
    QMGR_JOB_RUNNING            /* sent on a connection */
};

struct qmgr_job {
    struct qmgr_message *msg;
    struct qmgr_dest *dest;
    struct qmgr_job_rcpt *rcpt;
    size_t count, cap;
    struct qmgr_job *next;      /* in the destination's queue or the urgent list */
    struct qmgr_job *msg_next;  /* in msg->jobs */
    enum qmgr_job_where where;
    struct qmgr_conn *conn;     /* QMGR_JOB_RUNNING: the connection running it */
    int urgent;                 /* dispatched from the urgent list */
    unsigned retries;           /* requests the agent closed unanswered */
};

/* Times a request the agent closed without a word is sent again at once. */
#define QMGR_JOB_RETRY_MAX 3

/* Most recipients in one delivery request (keeps requests under attr limits). */
#define QMGR_RCPT_PER_JOB 1000

/*
 * A new, empty job of msg for nexthop (counted in msg->jobs_left). Jobs
 * exist for the smtp transport only (error, discard and hold are settled
 * by qmgr itself), so a destination is keyed by its next hop alone.
 */
struct qmgr_job *qmgr_job_new(struct qmgr_message *msg, const char *nexthop);
/*
 * A running job whose request the agent closed without any answer (it was
 * stopping, or its connection was idle-closed as the request went out):
 * back to the head of its queue, to be sent again on another connection.
 */
void qmgr_job_retry(struct qmgr_job *job);
void qmgr_job_add_rcpt(struct qmgr_job *job, size_t index);
/* Queue a filled job on its destination (does not start it). */
void qmgr_job_enqueue(struct qmgr_job *job);
/*
 * Put a new or queued job on the urgent list: dispatched before any other
 * job, regardless of the destination and total concurrency limits.
 */
void qmgr_job_urgent(struct qmgr_job *job);
const char *qmgr_job_nexthop(const struct qmgr_job *job);
/* A dispatched job is over (all results recorded): free it, update counts. */
void qmgr_job_finish(struct qmgr_job *job);
/* Remove a job that was never dispatched (queued or urgent) and free it. */
void qmgr_job_drop(struct qmgr_job *job);
/* Start as many deliveries as the limits allow. */
void qmgr_dispatch(void);
/* Deliveries in progress. */
unsigned qmgr_busy(void);

/* --- qmgr_deliver.c --- */

struct qmgr_conn;

/* An idle or new connection to private/smtp, or NULL (retry is scheduled). */
struct qmgr_conn *qmgr_conn_get(void);
/* Send job's request on conn (conn is busy until the job is over). */
void qmgr_conn_send(struct qmgr_conn *conn, struct qmgr_job *job);
/*
 * Cancel the request in progress on conn (withdraw): half-close the
 * connection so that smtp abandons the delivery unless it already sent the
 * final dot, in which case it reports the outcome as usual. Recipients
 * without a result are then left untouched (not attempted).
 */
void qmgr_conn_cancel(struct qmgr_conn *conn);

/* --- qmgr_scan.c --- */

void qmgr_scan_init(void);
/* An ID announced by cleanup (req=new). */
void qmgr_scan_new(const char *id);
/* Scan incoming/ and deferred/ (starts a pass, or another after this one). */
void qmgr_scan_request(void);
/* Run the work loop soon (a slot became free, new IDs queued...). */
void qmgr_work_schedule(void);
/* Activate these IDs (incoming or deferred, due or not) ahead of new mail
 * and the scanner, as the active limit allows (flush_site). */
void qmgr_scan_priority(const char *id);
/*
 * Make every message in deferred/ due now (req=flush): one leaf directory
 * per loop turn, setting each file's mtime (its next attempt time) to now;
 * then a scan is requested. done(count, ctx) is called when the walk is
 * over with the number of messages made due. The returned handle lets the
 * caller detach (qmgr_flush_detach) when it goes away first.
 */
struct qmgr_flush;
typedef void (*qmgr_flush_done_fn)(unsigned long count, void *ctx);
struct qmgr_flush *qmgr_flush_start(qmgr_flush_done_fn done, void *ctx);
void qmgr_flush_detach(struct qmgr_flush *flush);

/* --- qmgr_index.c --- */

/* Open (or rebuild) and reconcile the index; run without one on failure. */
void qmgr_index_init(void);
/* Commit what is pending, mark the index clean and close it. */
void qmgr_index_stop(void);
/* The open index (for walks), after committing what is pending; or NULL. */
struct qindex *qmgr_index_sync(void);
/*
 * Changes, all committed together at the end of this event-loop turn; a
 * later change of the same ID in the same turn wins. Without an index they
 * do nothing.
 *   put        the whole entry, from the envelope in qf
 *   new        a message arrived in incoming/: its envelope is read at
 *              commit time unless another change of it comes first
 *   state      only the state and next attempt time
 *   remove     the message is gone
 *   corrupt    the file was moved to corrupt/
 */
void qmgr_index_put(const char *id, enum queue_state state, int64_t next_attempt,
                    const struct queue_file *qf);
void qmgr_index_new(const char *id);
void qmgr_index_state(const char *id, enum queue_state state, int64_t next_attempt);
void qmgr_index_remove(const char *id);
void qmgr_index_corrupt(const char *id);

/* --- qmgr_trigger.c --- */

struct attr_msg;

/* Is req ("new", "wakeup") a new-mail trigger? */
int qmgr_trigger_known(const char *req);
/*
 * Act on a trigger request (its req must be one qmgr_trigger_known()
 * accepts): 0, or -1 with err filled when it is malformed. Never replied to.
 */
int qmgr_trigger_handle(const struct attr_msg *in, char *err, size_t errlen);

/* --- qmgr_ctl.c --- */

/* A client connected to private/qmgr (triggers and control requests alike). */
void qmgr_ctl_accept(int fd);
/* Watch events for the clients watching msg. */
void qmgr_ctl_rcpt(struct qmgr_message *msg, const char *address, enum qmgr_status status,
                   const char *dsn, const char *relay, const char *reply);
void qmgr_ctl_trace(struct qmgr_message *msg, const char *line);
/*
 * msg leaves the active set in `state` (QMGR_DONE_* of mail_proto.h):
 * watchers get event=done, withdraw
 * requests their reply (withdraw_error NULL: status=ok state=done), and
 * every one of them is unlinked from msg.
 */
void qmgr_ctl_message_end(struct qmgr_message *msg, const char *state,
                          const char *withdraw_error);
/* Add client to those waiting for msg's withdrawal to be done. */
void qmgr_ctl_withdraw_wait(struct qmgr_message *msg, struct qmgr_ctl_client *client);

#endif
