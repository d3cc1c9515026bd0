/*
 * qmgr_dest.c - per-destination queues and the dispatcher.
 *
 * Every next hop has its own FIFO of jobs (one job = one delivery request:
 * one message, one next hop, up to QMGR_RCPT_PER_JOB recipients) and its
 * own count of deliveries in progress, at most
 * default_destination_concurrency_limit. Destinations that have a job
 * waiting and room for another delivery sit in a ready ring; the
 * dispatcher takes one job from the destination at the head of the ring
 * and puts that destination back at the tail, so destinations are served
 * round robin and a slow or dead next hop can hold at most its own
 * concurrency limit of the qmgr_delivery_concurrency total.
 *
 * The urgent list (deliver_now) comes before the ring: its jobs are
 * dispatched as soon as a connection to smtp can be had, past both limits
 * (they are still counted, so other jobs wait for the room they take).
 *
 * A job can leave a queue before it is dispatched (withdraw, deliver_now):
 * a destination in the ring may then have no job left, which the
 * dispatcher notices when it comes to it.
 *
 * Memory: a destination owns its name and exists while it has a queued,
 * urgent or running job; the table `dests` maps next hop -> destination.
 * Jobs are owned by their destination queue (or the urgent list) until
 * dispatched, then by the connection that runs them, and freed by
 * qmgr_job_finish() or qmgr_job_drop(). Every job is also on its message's
 * list (msg->jobs) until it is freed.
 */
#include <string.h>

#include "alloc.h"
#include "htable.h"
#include "msg.h"
#include "params.h"
#include "qmgr.h"

struct qmgr_dest {
    char *nexthop;
    struct qmgr_job *head, *tail;   /* jobs waiting */
    unsigned active;                /* deliveries in progress */
    unsigned urgent;                /* its jobs on the urgent list */
    int in_ring;
    struct qmgr_dest *ring_next;
};

static struct htable *dests;
static struct qmgr_dest *ring_head, *ring_tail;
static struct qmgr_job *urgent_head, *urgent_tail;
static unsigned busy;

unsigned qmgr_busy(void)
{
    return busy;
}

/* --- destinations --- */

static struct qmgr_dest *dest_get(const char *nexthop)
{
    struct qmgr_dest *dest;

    if (dests == NULL)
        dests = htable_create(0);
    dest = htable_find(dests, nexthop);
    if (dest != NULL)
        return dest;
    dest = xcalloc(1, sizeof(*dest));
    dest->nexthop = xstrdup(nexthop);
    (void)htable_insert(dests, nexthop, dest);
    return dest;
}

static int dest_ready(const struct qmgr_dest *dest)
{
    return dest->head != NULL
           && dest->active < (unsigned long)var_default_destination_concurrency_limit;
}

static void ring_push(struct qmgr_dest *dest)
{
    dest->in_ring = 1;
    dest->ring_next = NULL;
    if (ring_tail)
        ring_tail->ring_next = dest;
    else
        ring_head = dest;
    ring_tail = dest;
}

static struct qmgr_dest *ring_pop(void)
{
    struct qmgr_dest *dest = ring_head;

    if (dest == NULL)
        return NULL;
    ring_head = dest->ring_next;
    if (ring_head == NULL)
        ring_tail = NULL;
    dest->ring_next = NULL;
    dest->in_ring = 0;
    return dest;
}

/* After a change: join the ring when ready, or go away when unused. */
static void dest_update(struct qmgr_dest *dest)
{
    if (dest->in_ring)
        return;
    if (dest_ready(dest)) {
        ring_push(dest);
        return;
    }
    if (dest->head == NULL && dest->active == 0 && dest->urgent == 0) {
        htable_remove(dests, dest->nexthop);
        xfree(dest->nexthop);
        xfree(dest);
    }
}

/* --- jobs --- */

struct qmgr_job *qmgr_job_new(struct qmgr_message *msg, const char *nexthop)
{
    struct qmgr_job *job = xcalloc(1, sizeof(*job));

    job->msg = msg;
    job->dest = dest_get(nexthop);
    job->where = QMGR_JOB_NEW;
    job->msg_next = msg->jobs;
    msg->jobs = job;
    msg->jobs_left++;
    return job;
}

/* Take job off its message's list. */
static void job_unlink_msg(struct qmgr_job *job)
{
    struct qmgr_job **pp = &job->msg->jobs;

    while (*pp != NULL && *pp != job)
        pp = &(*pp)->msg_next;
    if (*pp == job)
        *pp = job->msg_next;
    job->msg_next = NULL;
}

static void job_free(struct qmgr_job *job)
{
    struct qmgr_message *msg = job->msg;

    job_unlink_msg(job);
    xfree(job->rcpt);
    xfree(job);
    qmgr_message_job_done(msg);
}

void qmgr_job_add_rcpt(struct qmgr_job *job, size_t index)
{
    job->rcpt = xgrow(job->rcpt, &job->cap, job->count + 1, sizeof(*job->rcpt));
    job->rcpt[job->count].index = index;
    job->rcpt[job->count].seen = 0;
    job->count++;
}

void qmgr_job_enqueue(struct qmgr_job *job)
{
    struct qmgr_dest *dest = job->dest;

    job->next = NULL;
    job->where = QMGR_JOB_QUEUED;
    if (dest->tail)
        dest->tail->next = job;
    else
        dest->head = job;
    dest->tail = job;
    dest_update(dest);
}

/* Take a queued job out of its destination's queue (O(queue length)). */
static void job_unqueue(struct qmgr_job *job)
{
    struct qmgr_dest *dest = job->dest;
    struct qmgr_job *prev = NULL;

    for (struct qmgr_job *j = dest->head; j != NULL; prev = j, j = j->next) {
        if (j != job)
            continue;
        if (prev)
            prev->next = j->next;
        else
            dest->head = j->next;
        if (dest->tail == j)
            dest->tail = prev;
        break;
    }
    job->next = NULL;
    job->where = QMGR_JOB_NEW;
}

/* Take a job off the urgent list. */
static void job_unurgent(struct qmgr_job *job)
{
    struct qmgr_job *prev = NULL;

    for (struct qmgr_job *j = urgent_head; j != NULL; prev = j, j = j->next) {
        if (j != job)
            continue;
        if (prev)
            prev->next = j->next;
        else
            urgent_head = j->next;
        if (urgent_tail == j)
            urgent_tail = prev;
        break;
    }
    job->next = NULL;
    job->where = QMGR_JOB_NEW;
    job->dest->urgent--;
}

void qmgr_job_urgent(struct qmgr_job *job)
{
    if (job->where == QMGR_JOB_URGENT || job->where == QMGR_JOB_RUNNING)
        return;
    if (job->where == QMGR_JOB_QUEUED)
        job_unqueue(job);
    job->where = QMGR_JOB_URGENT;
    job->next = NULL;
    job->dest->urgent++;
    if (urgent_tail)
        urgent_tail->next = job;
    else
        urgent_head = job;
    urgent_tail = job;
}

void qmgr_job_drop(struct qmgr_job *job)
{
    struct qmgr_dest *dest = job->dest;

    if (job->where == QMGR_JOB_RUNNING)
        msg_panic("qmgr_job_drop: %s: the job is running", job->msg->id);
    if (job->where == QMGR_JOB_QUEUED)
        job_unqueue(job);
    else if (job->where == QMGR_JOB_URGENT)
        job_unurgent(job);
    dest_update(dest);
    job_free(job);
}

const char *qmgr_job_nexthop(const struct qmgr_job *job)
{
    return job->dest->nexthop;
}

void qmgr_job_finish(struct qmgr_job *job)
{
    struct qmgr_dest *dest = job->dest;

    if (job->where != QMGR_JOB_RUNNING || dest->active == 0 || busy == 0)
        msg_panic("qmgr_job_finish: no delivery in progress for %s", dest->nexthop);
    dest->active--;
    busy--;
    job->conn = NULL;
    dest_update(dest);
    job_free(job);
}

void qmgr_job_retry(struct qmgr_job *job)
{
    struct qmgr_dest *dest = job->dest;

    if (job->where != QMGR_JOB_RUNNING || dest->active == 0 || busy == 0)
        msg_panic("qmgr_job_retry: no delivery in progress for %s", dest->nexthop);
    dest->active--;
    busy--;
    job->conn = NULL;
    job->retries++;
    if (job->urgent) {
        job->where = QMGR_JOB_URGENT;
        job->dest->urgent++;
        job->next = urgent_head;
        urgent_head = job;
        if (urgent_tail == NULL)
            urgent_tail = job;
    } else {
        job->where = QMGR_JOB_QUEUED;
        job->next = dest->head;
        dest->head = job;
        if (dest->tail == NULL)
            dest->tail = job;
    }
    dest_update(dest);
}

/* --- dispatcher --- */

static void start_job(struct qmgr_conn *conn, struct qmgr_job *job)
{
    job->next = NULL;
    job->where = QMGR_JOB_RUNNING;
    job->conn = conn;
    job->dest->active++;
    busy++;
    qmgr_conn_send(conn, job);
}

/* Urgent jobs first, past the limits; 0 when no connection could be had. */
static int dispatch_urgent(void)
{
    while (urgent_head != NULL) {
        struct qmgr_conn *conn = qmgr_conn_get();
        struct qmgr_job *job = urgent_head;

        if (conn == NULL)
            return 0;
        urgent_head = job->next;
        if (urgent_head == NULL)
            urgent_tail = NULL;
        job->dest->urgent--;
        job->urgent = 1;
        start_job(conn, job);
    }
    return 1;
}

/* Drop destinations at the head of the ring that have no job left (a
 * withdraw or deliver_now took it); they go away when unused. */
static void ring_prune(void)
{
    while (ring_head != NULL && ring_head->head == NULL)
        dest_update(ring_pop());
}

void qmgr_dispatch(void)
{
    static int running;

    if (qmgr_stopping()) {
        qmgr_stop_check();
        return;
    }
    if (running)
        return;
    running = 1;
    if (!dispatch_urgent()) {
        running = 0;
        return;
    }
    for (ring_prune(); ring_head != NULL
         && busy < (unsigned long)var_qmgr_delivery_concurrency; ring_prune()) {
        struct qmgr_conn *conn = qmgr_conn_get();
        struct qmgr_dest *dest;
        struct qmgr_job *job;

        if (conn == NULL)
            break;              /* cannot connect now; a retry is scheduled */
        dest = ring_pop();
        job = dest->head;
        dest->head = job->next;
        if (dest->head == NULL)
            dest->tail = NULL;
        start_job(conn, job);
        if (dest_ready(dest))
            ring_push(dest);
    }
    running = 0;
}
