/*
 * qmgr.h - the queue manager's internal interfaces (one header for the
 * qmgr/ folder only; nothing outside qmgr/ includes it).
 *
 * Modules and what they own:
 *   qmgr.c          main(), the private/qmgr listener (req=new, req=wakeup),
 *                   the queue_run_delay timer, start-up recovery.
 *   qmgr_scan.c     the work loop: the FIFO of IDs announced by cleanup and
 *                   the incremental scanner of incoming/ and deferred/ (one
 *                   leaf directory per loop turn). Activates messages while
 *                   the active limit allows.
 *   qmgr_message.c  a message in active/: activation (rename, read,
 *                   corrupt handling), routing into delivery jobs, recording
 *                   recipient results in the file, completion (remove or
 *                   defer with back-off) and the set of active IDs.
 *   qmgr_dest.c     per-next-hop queues of jobs, concurrency limits and the
 *                   round-robin dispatcher.
 *   qmgr_deliver.c  connections to private/smtp: one request at a time per
 *                   connection, reuse of idle connections, timeouts.
 *   qmgr_hash.c     a small string-keyed hash table.
 *
 * Memory: a message owns its queue_file envelope (no content) and its open
 * file descriptor; a job owns its recipient index array and belongs to its
 * message (counted in msg->jobs_left) and to one destination queue or one
 * connection; a destination owns its name. Everything is freed when the
 * last reference goes away.
 */
#ifndef POSTERN_QMGR_H
#define POSTERN_QMGR_H

#include <stddef.h>
#include <time.h>

#include "queue_dir.h"
#include "queue_file.h"

struct event_base;

/* --- qmgr_hash.c --- */

struct qmgr_hash;

struct qmgr_hash *qmgr_hash_create(void);
/* The value stored under key, or NULL. */
void *qmgr_hash_find(const struct qmgr_hash *h, const char *key);
/* Store value under key (key is copied; must not be present yet). */
void qmgr_hash_insert(struct qmgr_hash *h, const char *key, void *value);
/* Remove key; returns its value or NULL. */
void *qmgr_hash_remove(struct qmgr_hash *h, const char *key);
size_t qmgr_hash_count(const struct qmgr_hash *h);
/* Free the table, calling fn(value) for every entry first (fn may be NULL). */
void qmgr_hash_free(struct qmgr_hash *h, void (*fn)(void *value));

/* --- qmgr.c --- */

struct event_base *qmgr_base(void);

/* --- qmgr_message.c --- */

struct qmgr_job;

struct qmgr_message {
    char id[QUEUE_ID_MAX + 1];
    int fd;                     /* active/ file, O_RDWR */
    struct queue_file qf;       /* envelope and recipient states */
    unsigned jobs_left;         /* delivery requests not yet finished */
};

/* Results the delivery agent reports for one recipient. */
enum qmgr_status { QMGR_SENT, QMGR_DEFERRED, QMGR_BOUNCED };

/* Move everything in active/ back to incoming/ (start-up only). */
void qmgr_message_recover(void);
/* Messages in active/ right now, and is this ID one of them? */
size_t qmgr_message_count(void);
int qmgr_message_is_active(const char *id);
/*
 * Bring message `id` from `from` (incoming or deferred) into active/ and
 * queue its deliveries. 1 activated, 0 skipped (gone, already active,
 * corrupt or nothing to do), -1 error (logged).
 */
int qmgr_message_activate(const char *id, enum queue_state from);
/* Record a result reported by the delivery agent (mark/append in the file). */
void qmgr_message_rcpt_result(struct qmgr_message *msg, size_t index,
                              enum qmgr_status status, const char *dsn,
                              const char *relay, const char *reason);
/* A recipient the agent never reported on: deferred, 4.3.0. */
void qmgr_message_rcpt_failed(struct qmgr_message *msg, size_t index,
                              const char *reason);
/* A job of msg is finished; completes the message after its last job. */
void qmgr_message_job_done(struct qmgr_message *msg);
/* Next attempt time for a message that arrived at `arrival` (exposed for tests). */
time_t qmgr_next_attempt(time_t now, time_t arrival);

/* --- qmgr_dest.c --- */

struct qmgr_dest;

struct qmgr_job_rcpt {
    size_t index;               /* into msg->qf.rcpts, ascending in a job */
    int seen;                   /* the agent reported on it */
};

struct qmgr_job {
    struct qmgr_message *msg;
    struct qmgr_dest *dest;
    struct qmgr_job_rcpt *rcpt;
    size_t count, cap;
    struct qmgr_job *next;      /* in the destination's queue */
};

/* Most recipients in one delivery request (keeps requests under attr limits). */
#define QMGR_RCPT_PER_JOB 1000

/* A new, empty job of msg for nexthop (counted in msg->jobs_left). */
struct qmgr_job *qmgr_job_new(struct qmgr_message *msg, const char *nexthop);
void qmgr_job_add_rcpt(struct qmgr_job *job, size_t index);
/* Queue a filled job on its destination (does not start it). */
void qmgr_job_enqueue(struct qmgr_job *job);
const char *qmgr_job_nexthop(const struct qmgr_job *job);
/* A dispatched job is over (all results recorded): free it, update counts. */
void qmgr_job_finish(struct qmgr_job *job);
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

/* --- qmgr_scan.c --- */

void qmgr_scan_init(void);
/* An ID announced by cleanup (req=new). */
void qmgr_scan_new(const char *id);
/* Scan incoming/ and deferred/ (starts a pass, or another after this one). */
void qmgr_scan_request(void);
/* Run the work loop soon (a slot became free, new IDs queued...). */
void qmgr_work_schedule(void);

#endif
