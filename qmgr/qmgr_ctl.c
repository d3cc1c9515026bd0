/*
 * qmgr_ctl.c - the private/qmgr listener and the operator's control requests.
 *
 * One socket, two kinds of clients (mail_proto.h):
 *   - cleanup, master and postsuper send the new-mail triggers (req=new,
 *     req=wakeup): client_request() hands them to qmgr_trigger.c. They get
 *     no reply; a malformed one is logged and the connection dropped.
 *   - postqueue and postsuper send control requests, handled here and each
 *     answered:
 *       flush        make every deferred message due now. The reply comes
 *                    when the walk of deferred/ is over (one leaf directory
 *                    per loop turn): status=ok count=N, N = messages made
 *                    due; their delivery starts right after.
 *       flush_site   activate every queued (incoming/deferred) message with
 *                    a pending recipient in domain `site` (case-insensitive),
 *                    found through the queue index; status=ok count=N, N =
 *                    messages handed to the scheduler (those already active
 *                    are not counted). Without an index: status=error.
 *       deliver_now  activate one message now, ahead of every queue and past
 *                    the concurrency limits; with watch, status=ok comes at
 *                    once and the attempt follows as event lines until
 *                    event=done.
 *       withdraw     take an active message back (qmgr_message_withdraw);
 *                    the reply comes once qmgr can no longer deliver it.
 *     A malformed control request (or an unknown req) gets status=error
 *     and the connection is closed once the reply is written.
 *
 * A connection may carry several requests in sequence: while one is in
 * progress (flush walk, watch, withdraw waiting for a delivery to stop),
 * the next is not read. A client that half-closes still gets its reply; a
 * client that goes away has its watch or wait removed (delivery goes on:
 * a withdraw still happens). Watch output is bounded: trace lines are
 * dropped while more than WATCH_OUTPUT_MAX bytes wait to be written.
 *
 * Memory: a client owns its bufferevent, reader state and resume event;
 * it is linked into at most one message list (watchers or withdrawers,
 * through cl->next) and unlinked before it is freed. A flush in progress is
 * detached from a client that goes away.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "alloc.h"
#include "attr.h"
#include "errtext.h"
#include "mail_proto.h"
#include "msg.h"
#include "qmgr.h"
#include "queue_index.h"

#define ERR_MAX 256
#define WATCH_OUTPUT_MAX (4 * 1024 * 1024)

/* What handling one request came to. */
enum ctl_outcome {
    BAD = -1,                   /* protocol error (err filled) */
    HANDLED = 0,                /* replied; read the next request */
    WAITING = 1                 /* reply later; stop reading meanwhile */
};

/* One connection on private/qmgr: an operator's tool, or a trigger sender. */
struct qmgr_ctl_client {
    struct bufferevent *bev;
    struct attr_msg in;
    struct event *resume;       /* reads on after a request is over */
    int busy;                   /* a request is in progress */
    int eof;                    /* the peer will send nothing more */
    int closing;                /* close once the output is written */
    int control;                /* sent a control request (errors get replies) */
    int verbose;                /* watching with the SMTP trace */
    int watching;               /* in msg->watchers (else msg->withdrawers) */
    struct qmgr_message *msg;   /* watched, or waiting for its withdrawal */
    struct qmgr_ctl_client *next; /* in that list */
    struct qmgr_flush *flush;   /* a flush in progress for this client */
};

static void client_process(struct qmgr_ctl_client *cl);

/* --- output --- */

static struct evbuffer *out_of(struct qmgr_ctl_client *cl)
{
    return bufferevent_get_output(cl->bev);
}

static void reply_ok(struct qmgr_ctl_client *cl)
{
    struct proto_out out;

    proto_begin(&out, out_of(cl), &proto_ok_reply);
    proto_put_str(&out, MAIL_ATTR_STATUS, PROTO_STATUS_OK);
    proto_end(&out);
}

static void reply_count(struct qmgr_ctl_client *cl, unsigned long count)
{
    struct proto_out out;

    proto_begin(&out, out_of(cl), &proto_qmgr_count_reply);
    proto_put_str(&out, MAIL_ATTR_STATUS, PROTO_STATUS_OK);
    proto_put_long(&out, MAIL_ATTR_COUNT, (long)count);
    proto_end(&out);
}

/* withdraw: QMGR_WITHDRAW_DONE or QMGR_WITHDRAW_NOT_ACTIVE. */
static void reply_state(struct qmgr_ctl_client *cl, const char *state)
{
    struct proto_out out;

    proto_begin(&out, out_of(cl), &proto_qmgr_withdraw_reply);
    proto_put_str(&out, MAIL_ATTR_STATUS, PROTO_STATUS_OK);
    proto_put_str(&out, MAIL_ATTR_STATE, state);
    proto_end(&out);
}

static void reply_error(struct qmgr_ctl_client *cl, const char *reason)
{
    struct proto_out out;

    proto_begin(&out, out_of(cl), &proto_error_reply);
    proto_put_str(&out, MAIL_ATTR_STATUS, PROTO_STATUS_ERROR);
    proto_put_text(&out, MAIL_ATTR_REASON, reason);
    proto_end(&out);
}

/* --- client life --- */

/* Take cl off its message's list. */
static void client_unlink(struct qmgr_ctl_client *cl)
{
    struct qmgr_message *msg = cl->msg;
    struct qmgr_ctl_client **pp;

    if (msg == NULL)
        return;
    pp = cl->watching ? &msg->watchers : &msg->withdrawers;
    while (*pp != NULL && *pp != cl)
        pp = &(*pp)->next;
    if (*pp == cl)
        *pp = cl->next;
    if (cl->watching && cl->verbose && msg->verbose > 0)
        msg->verbose--;
    cl->msg = NULL;
    cl->next = NULL;
    cl->watching = cl->verbose = 0;
}

static void client_free(struct qmgr_ctl_client *cl)
{
    client_unlink(cl);
    if (cl->flush)
        qmgr_flush_detach(cl->flush);
    bufferevent_free(cl->bev);
    event_free(cl->resume);
    attr_msg_free(&cl->in);
    xfree(cl);
}

/* Free the client when it is finished: EOF or error reply, nothing pending. */
static int client_maybe_close(struct qmgr_ctl_client *cl)
{
    if (cl->busy || !(cl->eof || cl->closing))
        return 0;
    if (evbuffer_get_length(out_of(cl)) > 0)
        return 0;               /* the write callback comes back */
    client_free(cl);
    return 1;
}

/* The request in progress is over: read on (from the loop, not from here). */
static void client_release(struct qmgr_ctl_client *cl)
{
    client_unlink(cl);
    cl->busy = 0;
    event_active(cl->resume, EV_TIMEOUT, 1);
}

static void client_resume(evutil_socket_t fd, short what, void *arg)
{
    struct qmgr_ctl_client *cl = arg;

    (void)fd;
    (void)what;
    client_process(cl);
}

/* --- flush --- */

static void flush_done(unsigned long count, void *ctx)
{
    struct qmgr_ctl_client *cl = ctx;

    cl->flush = NULL;
    reply_count(cl, count);
    client_release(cl);
}

static enum ctl_outcome req_flush(struct qmgr_ctl_client *cl, char *err, size_t errlen)
{
    if (proto_check(&cl->in, &proto_qmgr_flush, err, errlen) < 0)
        return BAD;
    cl->busy = 1;
    cl->flush = qmgr_flush_start(flush_done, cl);
    return WAITING;
}

/* --- flush_site --- */

struct site_walk {
    const char *site;
    unsigned long count;
};

static int rcpt_in_site(const struct qindex_rcpt *r, const char *site)
{
    const char *at = strrchr(r->address, '@');

    return at != NULL && strcasecmp(at + 1, site) == 0;
}

static int site_match(const struct qindex_entry *e, void *ctx)
{
    struct site_walk *w = ctx;

    if (e->state != QUEUE_INCOMING && e->state != QUEUE_DEFERRED)
        return 0;
    if (qmgr_message_is_active(e->queue_id))
        return 0;
    for (size_t i = 0; i < e->rcpt_count; i++) {
        if (rcpt_in_site(&e->rcpts[i], w->site)) {
            qmgr_scan_priority(e->queue_id);
            w->count++;
            return 0;
        }
    }
    return 0;
}

static enum ctl_outcome req_flush_site(struct qmgr_ctl_client *cl, char *err, size_t errlen)
{
    struct site_walk walk = { 0 };
    char why[QINDEX_ERR_MAX];
    struct qindex *qi;

    if (proto_check(&cl->in, &proto_qmgr_flush_site, err, errlen) < 0)
        return BAD;
    walk.site = attr_get(&cl->in, MAIL_ATTR_SITE);
    if (walk.site[0] == '\0' || strchr(walk.site, '@') != NULL) {
        reply_error(cl, "site must be a domain name");
        return HANDLED;
    }
    qi = qmgr_index_sync();
    if (qi == NULL) {
        reply_error(cl, "the queue index is not available (see the log)");
        return HANDLED;
    }
    if (qindex_walk(qi, site_match, &walk, why, sizeof(why)) < 0) {
        msg_warn("flush_site %s: %s", walk.site, why);
        reply_error(cl, why);
        return HANDLED;
    }
    msg_info("flush_site %s: %lu message%s to deliver now", walk.site, walk.count,
             walk.count == 1 ? "" : "s");
    reply_count(cl, walk.count);
    return HANDLED;
}

/* --- deliver_now --- */

/* Add cl to msg's watchers (with the SMTP trace when verbose). */
static void client_watch(struct qmgr_message *msg, struct qmgr_ctl_client *cl, int verbose)
{
    cl->busy = 1;
    cl->msg = msg;
    cl->watching = 1;
    cl->verbose = verbose;
    if (verbose)
        msg->verbose++;
    cl->next = msg->watchers;
    msg->watchers = cl;
}

/* deliver_now on a message qmgr already has. */
static enum ctl_outcome deliver_active(struct qmgr_ctl_client *cl,
                                       struct qmgr_message *msg, int watch, int verbose)
{
    if (msg->withdraw != QMGR_WITHDRAW_NONE) {
        reply_error(cl, "message is being withdrawn");
        return HANDLED;
    }
    qmgr_message_hurry(msg);
    reply_ok(cl);
    if (watch)
        client_watch(msg, cl, verbose);
    qmgr_dispatch();
    return watch ? WAITING : HANDLED;
}

/* Where a message is, when qmgr does not have it: a reason to refuse, or NULL. */
static const char *deliver_where(const char *id, enum queue_state *state, char *buf,
                                 size_t len)
{
    if (queue_find(id, state) < 0)
        return "no such message";
    switch (*state) {
    case QUEUE_HOLD:
        snprintf(buf, len, "message %s is on hold: release it first with postsuper -H %s",
                 id, id);
        return buf;
    case QUEUE_CORRUPT:
        snprintf(buf, len, "message %s is in the corrupt queue", id);
        return buf;
    case QUEUE_ACTIVE:
        snprintf(buf, len, "message %s is in active/ but not scheduled by this qmgr", id);
        return buf;
    default:
        return NULL;
    }
}

static enum ctl_outcome req_deliver_now(struct qmgr_ctl_client *cl, char *err, size_t errlen)
{
    char buf[PROTO_TEXT_MAX + 1];
    const char *id, *why = NULL;
    struct qmgr_message *msg = NULL;
    enum queue_state state;
    int watch, verbose;

    if (proto_check(&cl->in, &proto_qmgr_deliver_now, err, errlen) < 0)
        return BAD;
    id = attr_get(&cl->in, MAIL_ATTR_QUEUE_ID);
    watch = attr_find(&cl->in, MAIL_ATTR_WATCH) != NULL;
    verbose = attr_find(&cl->in, MAIL_ATTR_VERBOSE) != NULL;
    if (!queue_id_valid(id)) {
        reply_error(cl, "invalid queue ID");
        return HANDLED;
    }
    /* Twice: the message may move (a scan activates it) while we look. */
    for (int tries = 0; tries < 2 && msg == NULL; tries++) {
        struct qmgr_message *have = qmgr_message_find(id);

        if (have != NULL)
            return deliver_active(cl, have, watch, verbose);
        why = deliver_where(id, &state, buf, sizeof(buf));
        if (why != NULL)
            break;
        msg = qmgr_message_load(id, state, &why);
    }
    if (msg == NULL) {
        reply_error(cl, why ? why : "no such message");
        return HANDLED;
    }
    msg_info("%s: delivery requested by the operator", id);
    reply_ok(cl);
    if (watch)
        client_watch(msg, cl, verbose);
    qmgr_message_route(msg, 1);         /* may complete msg, and so the watch */
    qmgr_dispatch();
    return watch ? WAITING : HANDLED;
}

/* --- withdraw --- */

void qmgr_ctl_withdraw_wait(struct qmgr_message *msg, struct qmgr_ctl_client *cl)
{
    cl->busy = 1;
    cl->msg = msg;
    cl->watching = 0;
    cl->next = msg->withdrawers;
    msg->withdrawers = cl;
}

static int parse_action(const char *text, enum qmgr_withdraw *action)
{
    if (strcmp(text, QMGR_ACTION_HOLD) == 0)
        *action = QMGR_WITHDRAW_HOLD;
    else if (strcmp(text, QMGR_ACTION_DELETE) == 0)
        *action = QMGR_WITHDRAW_DELETE;
    else if (strcmp(text, QMGR_ACTION_REQUEUE) == 0)
        *action = QMGR_WITHDRAW_REQUEUE;
    else
        return -1;
    return 0;
}

static enum ctl_outcome req_withdraw(struct qmgr_ctl_client *cl, char *err, size_t errlen)
{
    enum qmgr_withdraw action;
    struct qmgr_message *msg;
    const char *id;

    if (proto_check(&cl->in, &proto_qmgr_withdraw, err, errlen) < 0)
        return BAD;
    if (parse_action(attr_get(&cl->in, MAIL_ATTR_ACTION), &action) < 0) {
        errtext_set(err, errlen, "unknown withdraw action \"%.64s\"",
                    attr_get(&cl->in, MAIL_ATTR_ACTION));
        return BAD;
    }
    id = attr_get(&cl->in, MAIL_ATTR_QUEUE_ID);
    msg = queue_id_valid(id) ? qmgr_message_find(id) : NULL;
    if (msg == NULL) {
        reply_state(cl, QMGR_WITHDRAW_NOT_ACTIVE);
        return HANDLED;
    }
    if (qmgr_message_withdraw(msg, action, cl) < 0) {
        reply_error(cl, "another withdraw of this message is in progress");
        return HANDLED;
    }
    return cl->busy ? WAITING : HANDLED;
}

/* --- events from the message --- */

static const char *status_value(enum qmgr_status status)
{
    switch (status) {
    case QMGR_SENT:
        return QMGR_STATUS_SENT;
    case QMGR_BOUNCED:
        return QMGR_STATUS_BOUNCED;
    default:
        return QMGR_STATUS_DEFERRED;
    }
}

void qmgr_ctl_rcpt(struct qmgr_message *msg, const char *address, enum qmgr_status status,
                   const char *dsn, const char *relay, const char *reply)
{
    for (struct qmgr_ctl_client *cl = msg->watchers; cl != NULL; cl = cl->next) {
        struct proto_out out;

        proto_begin(&out, out_of(cl), &proto_qmgr_rcpt_event);
        proto_put_str(&out, MAIL_ATTR_EVENT, QMGR_EVENT_RCPT);
        proto_put_text(&out, MAIL_ATTR_ADDRESS, address);
        proto_put_str(&out, MAIL_ATTR_STATUS, status_value(status));
        proto_put_text(&out, MAIL_ATTR_DSN, dsn);
        proto_put_text(&out, MAIL_ATTR_RELAY, relay);
        proto_put_text(&out, MAIL_ATTR_REPLY, reply);
        proto_end(&out);
    }
}

void qmgr_ctl_trace(struct qmgr_message *msg, const char *line)
{
    for (struct qmgr_ctl_client *cl = msg->watchers; cl != NULL; cl = cl->next) {
        struct proto_out out;

        if (!cl->verbose || evbuffer_get_length(out_of(cl)) > WATCH_OUTPUT_MAX)
            continue;
        proto_begin(&out, out_of(cl), &proto_qmgr_trace_event);
        proto_put_str(&out, MAIL_ATTR_EVENT, QMGR_EVENT_TRACE);
        proto_put_text(&out, MAIL_ATTR_LINE, line);
        proto_end(&out);
    }
}

void qmgr_ctl_message_end(struct qmgr_message *msg, const char *state,
                          const char *withdraw_error)
{
    while (msg->watchers != NULL) {
        struct qmgr_ctl_client *cl = msg->watchers;
        struct proto_out out;

        proto_begin(&out, out_of(cl), &proto_qmgr_done_event);
        proto_put_str(&out, MAIL_ATTR_EVENT, QMGR_EVENT_DONE);
        proto_put_str(&out, MAIL_ATTR_QUEUE_ID, msg->id);
        proto_put_str(&out, MAIL_ATTR_STATE, state);
        proto_end(&out);
        client_release(cl);
    }
    while (msg->withdrawers != NULL) {
        struct qmgr_ctl_client *cl = msg->withdrawers;

        if (withdraw_error != NULL)
            reply_error(cl, withdraw_error);
        else
            reply_state(cl, QMGR_WITHDRAW_DONE);
        client_release(cl);
    }
    msg->verbose = 0;
}

/* --- requests --- */

struct control_request {
    const char *name;
    enum ctl_outcome (*handle)(struct qmgr_ctl_client *cl, char *err, size_t errlen);
};

static const struct control_request control_requests[] = {
    { QMGR_REQ_FLUSH, req_flush },
    { QMGR_REQ_FLUSH_SITE, req_flush_site },
    { QMGR_REQ_DELIVER_NOW, req_deliver_now },
    { QMGR_REQ_WITHDRAW, req_withdraw },
};

/*
 * One request: a new-mail trigger goes to qmgr_trigger.c (no reply; a bad
 * one drops the connection); any other req is the operator's, answered
 * (an unknown one with status=error).
 */
static enum ctl_outcome client_request(struct qmgr_ctl_client *cl, char *err,
                                       size_t errlen)
{
    const char *req = attr_get(&cl->in, MAIL_ATTR_REQ);

    if (req == NULL) {
        errtext_set(err, errlen, "request without %s attribute", MAIL_ATTR_REQ);
        return BAD;
    }
    if (qmgr_trigger_known(req)) {
        cl->control = 0;
        return qmgr_trigger_handle(&cl->in, err, errlen) < 0 ? BAD : HANDLED;
    }
    cl->control = 1;                /* a tool that may wait for an answer */
    if (qmgr_stopping() && strcmp(req, QMGR_REQ_WITHDRAW) != 0) {
        reply_error(cl, "the queue manager is stopping (reload or shutdown): try again");
        return HANDLED;
    }
    for (size_t i = 0; i < sizeof(control_requests) / sizeof(control_requests[0]); i++) {
        if (strcmp(req, control_requests[i].name) == 0)
            return control_requests[i].handle(cl, err, errlen);
    }
    errtext_set(err, errlen, "unknown request \"%.64s\"", req);
    return BAD;
}

/* A bad request: control clients get the reason, then the connection ends. */
static void client_bad(struct qmgr_ctl_client *cl, const char *err)
{
    msg_warn("%s: protocol error: %s", PROTO_QMGR_SOCKET, err);
    if (!cl->control) {
        client_free(cl);
        return;
    }
    reply_error(cl, err);
    cl->closing = 1;
    bufferevent_disable(cl->bev, EV_READ);
    (void)client_maybe_close(cl);
}

/* Handle what has arrived, one request at a time. */
static void client_process(struct qmgr_ctl_client *cl)
{
    struct evbuffer *in = bufferevent_get_input(cl->bev);
    char err[ERR_MAX];

    while (!cl->busy && !cl->closing) {
        int rc = attr_read_evbuffer(in, &cl->in, err, sizeof(err));

        if (rc == 0)
            break;
        if (rc > 0) {
            rc = client_request(cl, err, sizeof(err));
            attr_msg_reset(&cl->in);
        }
        if (rc < 0) {
            client_bad(cl, err);
            return;
        }
    }
    (void)client_maybe_close(cl);
}

static void client_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    client_process(arg);
}

static void client_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    (void)client_maybe_close(arg);
}

static void client_event(struct bufferevent *bev, short what, void *arg)
{
    struct qmgr_ctl_client *cl = arg;

    (void)bev;
    if (what & BEV_EVENT_ERROR) {
        client_free(cl);            /* gone: a watch or wait ends with it */
        return;
    }
    if (what & BEV_EVENT_EOF) {
        cl->eof = 1;
        (void)client_maybe_close(cl);
    }
}

/* Long-running daemons do not count sessions: no server_session_end(). */
void qmgr_ctl_accept(int fd)
{
    struct qmgr_ctl_client *cl = xcalloc(1, sizeof(*cl));

    cl->bev = bufferevent_socket_new(qmgr_base(), fd, BEV_OPT_CLOSE_ON_FREE);
    if (cl->bev == NULL) {
        msg_warn("cannot create bufferevent for a %s client", PROTO_QMGR_SOCKET);
        close(fd);
        xfree(cl);
        return;
    }
    cl->resume = event_new(qmgr_base(), -1, 0, client_resume, cl);
    if (cl->resume == NULL)
        msg_fatal("cannot create event");
    attr_msg_init(&cl->in);
    bufferevent_setcb(cl->bev, client_read, client_write, client_event, cl);
    bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
}
