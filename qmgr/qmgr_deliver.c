/*
 * qmgr_deliver.c - connections to the smtp delivery agent (private/smtp).
 *
 * Protocol (mail_proto.h): qmgr sends one req=deliver with the message's
 * queue ID, queue file path, next hop and one rcpt="INDEX ADDRESS" per
 * recipient; the agent answers one event=rcpt per recipient and then
 * event=done. A connection carries one request at a time and is reused for
 * the next one; an idle connection is closed after QMGR_CONN_IDLE seconds.
 *
 * Failures: a broken connection, a protocol error or a request that takes
 * longer than ipc_timeout ends the job; every recipient without an event is
 * deferred (DSN_TEMP_SYSTEM "delivery agent failed"), never lost. A request
 * the agent closed without any event (it was stopping and had not read it,
 * or the connection was idle-closed as the request went out) is sent again
 * at once on another connection, up to QMGR_JOB_RETRY_MAX times: the agent
 * sends its first event only once the attempt is over, so this can repeat a
 * delivery only after an agent crash, which may always deliver twice. When private/smtp
 * cannot be connected to (no listener yet, backlog full), no mail is
 * deferred: the dispatcher waits and retries with a back-off of
 * RETRY_MIN_MS .. RETRY_MAX_MS.
 *
 * The connect is non-blocking: a full listen backlog gives EAGAIN instead
 * of stalling the event loop.
 *
 * With verbose (a deliver_now watcher asked for it) the agent also sends
 * event=trace lines, which go to the message's watchers.
 *
 * Cancelling (withdraw): qmgr half-closes the connection (shutdown of its
 * write side). smtp then abandons the delivery and closes, unless it has
 * already sent the final dot, in which case it finishes and reports as
 * usual. So: results that arrive are recorded as always; when the
 * connection ends without them, the recipients are left untouched (no
 * mark, no delay record: not attempted), and the connection is never
 * reused.
 *
 * Memory: a connection owns its bufferevent, timer and reader state; its
 * job (while busy) is finished, not freed, here (qmgr_job_finish).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "alloc.h"
#include "attr.h"
#include "dsn.h"
#include "errtext.h"
#include "mail_proto.h"
#include "msg.h"
#include "params.h"
#include "qmgr.h"
#include "sock.h"

#define QMGR_CONN_IDLE 10           /* seconds an idle connection is kept */
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 1000
#define CONNECT_WARN_EVERY 60       /* log every Nth failed connect */
#define ERR_MAX 256

struct qmgr_conn {
    struct bufferevent *bev;
    struct attr_msg in;
    struct qmgr_job *job;           /* NULL while idle */
    struct event *timer;            /* ipc_timeout when busy, idle timeout else */
    int idle;                       /* on the idle list */
    int cancelled;                  /* qmgr_conn_cancel(): half-closed */
    unsigned events;                /* events received for the current request */
    struct qmgr_conn *prev, *next;  /* idle list */
};

static struct qmgr_conn *idle_head;
static struct event *retry_event;
static long retry_ms = RETRY_MIN_MS;
static int connect_blocked;
static unsigned long connect_failures;

/* --- idle list --- */

static void idle_push(struct qmgr_conn *c)
{
    struct timeval tv = { QMGR_CONN_IDLE, 0 };

    c->idle = 1;
    c->prev = NULL;
    c->next = idle_head;
    if (idle_head)
        idle_head->prev = c;
    idle_head = c;
    evtimer_add(c->timer, &tv);
}

static void idle_remove(struct qmgr_conn *c)
{
    if (!c->idle)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        idle_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->idle = 0;
    evtimer_del(c->timer);
}

/* --- connection life --- */

static void conn_free(struct qmgr_conn *c)
{
    idle_remove(c);
    bufferevent_free(c->bev);
    event_free(c->timer);
    attr_msg_free(&c->in);
    xfree(c);
}

/* Defer every recipient of job the agent did not report on. */
static void job_defer_unseen(struct qmgr_job *job, const char *reason)
{
    for (size_t i = 0; i < job->count; i++) {
        if (!job->rcpt[i].seen) {
            job->rcpt[i].seen = 1;
            qmgr_message_rcpt_failed(job->msg, job->rcpt[i].index, reason);
        }
    }
}

/* A cancelled job: recipients without a result were not attempted. */
static void job_forget_unseen(struct qmgr_job *job)
{
    size_t n = 0;

    for (size_t i = 0; i < job->count; i++) {
        if (!job->rcpt[i].seen) {
            job->rcpt[i].seen = 1;
            n++;
        }
    }
    if (n > 0)
        msg_info("%s: delivery to %s cancelled before the end of data: %zu "
                 "recipient(s) not attempted", job->msg->id, qmgr_job_nexthop(job), n);
}

/*
 * The connection is unusable: close it and settle its job. agent_closed:
 * the agent closed the connection (not a timeout, not a protocol error).
 */
static void conn_settle(struct qmgr_conn *c, const char *why, int agent_closed)
{
    struct qmgr_job *job = c->job;
    int cancelled = c->cancelled;
    int unanswered = agent_closed && c->events == 0;

    c->job = NULL;
    conn_free(c);
    if (job == NULL) {
        msg_warn("%s: %s", PROTO_SMTP_SOCKET, why);
        return;
    }
    if (cancelled) {
        job_forget_unseen(job);
    } else if (unanswered && job->retries < QMGR_JOB_RETRY_MAX) {
        msg_info("%s: delivery agent %s closed the request to %s unanswered (%s): "
                 "sending it again", job->msg->id, PROTO_SMTP_SOCKET, qmgr_job_nexthop(job),
                 why);
        qmgr_job_retry(job);
        qmgr_dispatch();
        return;
    } else {
        msg_warn("%s: delivery agent %s failed (nexthop %s): %s", job->msg->id,
                 PROTO_SMTP_SOCKET, qmgr_job_nexthop(job), why);
        job_defer_unseen(job, "delivery agent failed");
    }
    qmgr_job_finish(job);
    qmgr_dispatch();
}

static void conn_fail(struct qmgr_conn *c, const char *why)
{
    conn_settle(c, why, 0);
}

/* --- replies --- */

static int parse_status(const char *text, enum qmgr_status *status)
{
    if (strcmp(text, SMTP_STATUS_SENT) == 0)
        *status = QMGR_SENT;
    else if (strcmp(text, SMTP_STATUS_DEFERRED) == 0)
        *status = QMGR_DEFERRED;
    else if (strcmp(text, SMTP_STATUS_BOUNCED) == 0)
        *status = QMGR_BOUNCED;
    else
        return -1;
    return 0;
}

/* Position of recipient `index` in the job (indices ascend), or -1. */
static long job_find(const struct qmgr_job *job, size_t index)
{
    size_t lo = 0, hi = job->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (job->rcpt[mid].index == index)
            return (long)mid;
        if (job->rcpt[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int handle_rcpt(struct qmgr_conn *c, char *err, size_t errlen)
{
    struct qmgr_job *job = c->job;
    enum qmgr_status status;
    long index, pos;
    const char *dsn;

    if (proto_check(&c->in, &proto_smtp_rcpt_event, err, errlen) < 0)
        return -1;
    if (attr_get_long(&c->in, MAIL_ATTR_INDEX, &index) < 0 || index < 0
        || (pos = job_find(job, (size_t)index)) < 0) {
        errtext_set(err, errlen, "event for a recipient not in the request: %s",
                    attr_get(&c->in, MAIL_ATTR_INDEX));
        return -1;
    }
    if (job->rcpt[pos].seen) {
        errtext_set(err, errlen, "second event for recipient %ld", index);
        return -1;
    }
    if (parse_status(attr_get(&c->in, MAIL_ATTR_STATUS), &status) < 0) {
        errtext_set(err, errlen, "bad status \"%s\"", attr_get(&c->in, MAIL_ATTR_STATUS));
        return -1;
    }
    dsn = attr_get(&c->in, MAIL_ATTR_DSN);
    if (!dsn_valid(dsn)) {
        errtext_set(err, errlen, "bad dsn \"%s\"", dsn);
        return -1;
    }
    job->rcpt[pos].seen = 1;
    qmgr_message_rcpt_result(job->msg, (size_t)index, status, dsn,
                             attr_get(&c->in, MAIL_ATTR_RELAY),
                             attr_get(&c->in, MAIL_ATTR_REPLY));
    return 0;
}

static int handle_trace(struct qmgr_conn *c, char *err, size_t errlen)
{
    if (proto_check(&c->in, &proto_smtp_trace_event, err, errlen) < 0)
        return -1;
    qmgr_message_trace(c->job->msg, attr_get(&c->in, MAIL_ATTR_LINE));
    return 0;
}

static int handle_done(struct qmgr_conn *c, char *err, size_t errlen)
{
    const char *id;

    if (proto_check(&c->in, &proto_smtp_done_event, err, errlen) < 0)
        return -1;
    id = attr_get(&c->in, MAIL_ATTR_QUEUE_ID);
    if (strcmp(id, c->job->msg->id) != 0) {
        errtext_set(err, errlen, "done for %s %s, expected %s", MAIL_ATTR_QUEUE_ID, id,
                    c->job->msg->id);
        return -1;
    }
    return 0;
}

/*
 * The request is over: settle the job, make the connection idle (or close
 * it when the agent sent more than it should), and start more work.
 */
static void conn_job_done(struct qmgr_conn *c)
{
    struct qmgr_job *job = c->job;
    int extra = evbuffer_get_length(bufferevent_get_input(c->bev)) > 0;

    c->job = NULL;
    evtimer_del(c->timer);
    job_defer_unseen(job, "delivery agent failed");
    if (c->cancelled) {
        conn_free(c);
    } else if (extra) {
        msg_warn("%s: unexpected data after event=done: closing", PROTO_SMTP_SOCKET);
        conn_free(c);
    } else {
        idle_push(c);
    }
    qmgr_job_finish(job);
    qmgr_dispatch();
}

static void conn_read(struct bufferevent *bev, void *arg)
{
    struct qmgr_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char err[ERR_MAX];

    for (;;) {
        const char *event;
        int rc = attr_read_evbuffer(in, &c->in, err, sizeof(err));

        if (rc == 0)
            return;
        if (rc < 0) {
            conn_fail(c, err);
            return;
        }
        event = attr_get(&c->in, MAIL_ATTR_EVENT);
        c->events++;
        if (c->job == NULL) {
            conn_fail(c, "message from delivery agent while no request is open");
            return;
        }
        if (event != NULL && strcmp(event, SMTP_EVENT_RCPT) == 0) {
            rc = handle_rcpt(c, err, sizeof(err));
        } else if (event != NULL && strcmp(event, SMTP_EVENT_TRACE) == 0) {
            rc = handle_trace(c, err, sizeof(err));
        } else if (event != NULL && strcmp(event, SMTP_EVENT_DONE) == 0) {
            rc = handle_done(c, err, sizeof(err));
            if (rc == 0) {
                attr_msg_reset(&c->in);
                conn_job_done(c);
                return;
            }
        } else {
            errtext_set(err, sizeof(err), "unknown event \"%s\"", event ? event : "(none)");
            rc = -1;
        }
        attr_msg_reset(&c->in);
        if (rc < 0) {
            conn_fail(c, err);
            return;
        }
    }
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
    struct qmgr_conn *c = arg;
    char why[ERR_MAX];

    (void)bev;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    if (c->job == NULL) {
        conn_free(c);               /* the agent went away while idle: fine */
        return;
    }
    if (what & BEV_EVENT_EOF)
        snprintf(why, sizeof(why), "connection closed before event=done");
    else
        snprintf(why, sizeof(why), "connection error: %s",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    conn_settle(c, why, 1);
}

static void conn_timer(evutil_socket_t fd, short what, void *arg)
{
    struct qmgr_conn *c = arg;
    char why[ERR_MAX];

    (void)fd;
    (void)what;
    if (c->job == NULL) {
        conn_free(c);               /* idle long enough */
        return;
    }
    snprintf(why, sizeof(why), "no reply within ipc_timeout (%ld s)", var_ipc_timeout);
    conn_fail(c, why);
}

/* --- connecting --- */

static void retry_ready(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    connect_blocked = 0;
    qmgr_dispatch();
}

static void connect_failed(int err)
{
    struct timeval tv = { retry_ms / 1000, (retry_ms % 1000) * 1000 };

    if (connect_failures++ % CONNECT_WARN_EVERY == 0)
        msg_warn("connect to %s: %s (will retry)", PROTO_SMTP_SOCKET, strerror(err));
    if (retry_event == NULL)
        retry_event = evtimer_new(qmgr_base(), retry_ready, NULL);
    connect_blocked = 1;
    evtimer_add(retry_event, &tv);
    retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry_ms * 2;
}


struct qmgr_conn *qmgr_conn_get(void)
{
    struct qmgr_conn *c = idle_head;
    int fd;

    if (c != NULL) {
        idle_remove(c);
        return c;
    }
    if (connect_blocked)
        return NULL;
    fd = sock_unix_connect(PROTO_SMTP_SOCKET, 1);
    if (fd < 0) {
        connect_failed(errno);
        return NULL;
    }
    if (connect_failures > 0)
        msg_info("connected to %s again", PROTO_SMTP_SOCKET);
    connect_failures = 0;
    retry_ms = RETRY_MIN_MS;
    c = xcalloc(1, sizeof(*c));
    c->bev = bufferevent_socket_new(qmgr_base(), fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL)
        msg_fatal("cannot create bufferevent for %s", PROTO_SMTP_SOCKET);
    c->timer = evtimer_new(qmgr_base(), conn_timer, c);
    attr_msg_init(&c->in);
    bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    return c;
}

/* --- requests --- */

void qmgr_conn_send(struct qmgr_conn *c, struct qmgr_job *job)
{
    struct timeval tv = { var_ipc_timeout, 0 };
    struct proto_out out;
    char path[QUEUE_PATH_MAX];
    char rcpt[QF_VALUE_MAX + 32];

    c->job = job;
    c->events = 0;
    queue_path(path, sizeof(path), QUEUE_ACTIVE, job->msg->id);
    proto_begin(&out, bufferevent_get_output(c->bev), &proto_smtp_deliver);
    proto_put_str(&out, MAIL_ATTR_REQ, SMTP_REQ_DELIVER);
    proto_put_str(&out, MAIL_ATTR_QUEUE_ID, job->msg->id);
    proto_put_str(&out, MAIL_ATTR_QUEUE_FILE, path);
    proto_put_str(&out, MAIL_ATTR_NEXTHOP, qmgr_job_nexthop(job));
    if (job->msg->verbose > 0)
        proto_put_str(&out, MAIL_ATTR_VERBOSE, PROTO_FLAG_ON);
    for (size_t i = 0; i < job->count; i++) {
        size_t index = job->rcpt[i].index;
        snprintf(rcpt, sizeof(rcpt), "%zu %s", index, job->msg->qf.rcpts[index].address);
        proto_put_str(&out, MAIL_ATTR_RCPT, rcpt);
    }
    proto_end(&out);
    evtimer_add(c->timer, &tv);
    msg_debug("%s: delivery request to %s, %zu recipient(s)", job->msg->id,
              qmgr_job_nexthop(job), job->count);
}

void qmgr_conn_cancel(struct qmgr_conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int fd = bufferevent_getfd(c->bev);

    if (c->cancelled || c->job == NULL)
        return;
    c->cancelled = 1;
    /* A request not yet written is simply not sent. */
    evbuffer_drain(out, evbuffer_get_length(out));
    if (fd >= 0 && shutdown(fd, SHUT_WR) < 0)
        msg_warn("%s: shutdown of the %s connection: %s", c->job->msg->id,
                 PROTO_SMTP_SOCKET, strerror(errno));
    msg_debug("%s: cancelling the delivery to %s", c->job->msg->id,
              qmgr_job_nexthop(c->job));
}
