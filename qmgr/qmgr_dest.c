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
 * Memory: a destination owns its name and exists while it has a queued or
 * running job; the table `dests` maps next hop -> destination. Jobs are
 * owned by their destination queue until dispatched, then by the
 * connection that runs them, and freed by qmgr_job_finish().
 */
#include <string.h>

#include "alloc.h"
#include "msg.h"
#include "params.h"
#include "qmgr.h"

struct qmgr_dest {
    char *nexthop;
    struct qmgr_job *head, *tail;   /* jobs waiting */
    unsigned active;                /* deliveries in progress */
    int in_ring;
    struct qmgr_dest *ring_next;
};

static struct qmgr_hash *dests;
static struct qmgr_dest *ring_head, *ring_tail;
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
        dests = qmgr_hash_create();
    dest = qmgr_hash_find(dests, nexthop);
    if (dest != NULL)
        return dest;
    dest = xcalloc(1, sizeof(*dest));
    dest->nexthop = xstrdup(nexthop);
    qmgr_hash_insert(dests, nexthop, dest);
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
    if (dest->head == NULL && dest->active == 0) {
        qmgr_hash_remove(dests, dest->nexthop);
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
    msg->jobs_left++;
    return job;
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
    if (dest->tail)
        dest->tail->next = job;
    else
        dest->head = job;
    dest->tail = job;
    dest_update(dest);
}

const char *qmgr_job_nexthop(const struct qmgr_job *job)
{
    return job->dest->nexthop;
}

void qmgr_job_finish(struct qmgr_job *job)
{
    struct qmgr_dest *dest = job->dest;
    struct qmgr_message *msg = job->msg;

    if (dest->active == 0 || busy == 0)
        msg_panic("qmgr_job_finish: no delivery in progress for %s", dest->nexthop);
    dest->active--;
    busy--;
    xfree(job->rcpt);
    xfree(job);
    dest_update(dest);
    qmgr_message_job_done(msg);
}

/* --- dispatcher --- */

void qmgr_dispatch(void)
{
    static int running;

    if (running)
        return;
    running = 1;
    while (ring_head != NULL && busy < (unsigned long)var_qmgr_delivery_concurrency) {
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
        job->next = NULL;
        dest->active++;
        busy++;
        if (dest_ready(dest))
            ring_push(dest);
        qmgr_conn_send(conn, job);
    }
    running = 0;
}
