/*
 * cleanup.c - the cleanup daemon: main(), connections, the protocol, and
 * the group commit that makes messages durable before anyone hears "ok".
 *
 * Every smtpd session holds one connection on private/cleanup (one
 * bufferevent each, all on the skeleton's event loop) and runs transactions
 * on it one after another, as declared in mail_proto.h:
 *
 *   open  -> data... -> close | abort
 *
 * Each request is checked with attr_check(); a request that does not fit
 * (missing/extra attributes, data or close without open, open inside a
 * transaction, unknown req) is a protocol error: warn, discard the
 * transaction (its temporary file is unlinked) and close the connection.
 *
 * Group commit: a close finishes its file at once (fsync, rename into
 * incoming/), but the reply waits for a commit event that libevent runs
 * after every other connection that was ready in the same loop iteration.
 * That event fsyncs each distinct leaf directory once for the whole batch,
 * then replies "ok" to each and notifies qmgr. So no "ok" leaves before the
 * file and its directory entry are durable, and concurrent closes share
 * directory flushes. While its close is pending a connection's further
 * input waits in its buffer (up to CONN_INPUT_MAX, then reading pauses).
 *
 * Graceful stop: idle connections are closed (after any reply is flushed);
 * connections with a transaction finish it and then close. The skeleton
 * exits when the last session has ended.
 *
 * Memory: each connection (struct conn) owns its bufferevent, reply buffer,
 * request and transaction; conn_free() releases them and ends the session.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "alloc.h"
#include "attr.h"
#include "cleanup.h"
#include "fdio.h"
#include "mail_proto.h"
#include "msg.h"
#include "params.h"
#include "server.h"

/* Largest read(2) per callback: data chunks can be up to ATTR_DATA_MAX. */
#define CONN_READ_MAX (256 * 1024)
/* Input kept unread (e.g. while a close is pending) before reading pauses. */
#define CONN_INPUT_MAX (2 * ATTR_DATA_MAX + 2 * ATTR_LINE_MAX)
/* Replies the client has not read before we stop reading its requests. */
#define CONN_OUTPUT_MAX (64 * 1024)
#define PROTOCOL_NAME_MAX 32

struct conn {
    struct bufferevent *bev;
    struct evbuffer *out;       /* replies not yet written */
    struct attr_msg req;        /* the request being read */
    struct cleanup_txn txn;
    int committing;             /* waiting in the commit batch */
    int closing;                /* free once the output has drained */
    int sync_failed;            /* commit batch: leaf directory fsync failed */
    struct conn *prev, *next;   /* every connection */
    struct conn *next_commit;   /* the commit batch */
};

/* The protocol, as declared in mail_proto.h. */

static struct conn *conns;
static struct conn *commit_head;
static struct event *commit_event;
static int stopping;

static void conn_process(struct conn *c);

/* --- connection lifetime --- */

static void conn_free(struct conn *c)
{
    if (c->committing) {
        /* The client left before hearing "ok": take the message back. */
        struct conn **pp = &commit_head;
        while (*pp != NULL && *pp != c)
            pp = &(*pp)->next_commit;
        if (*pp == c)
            *pp = c->next_commit;
        cleanup_txn_unqueue(&c->txn);
    } else if (c->txn.active) {
        msg_warn("%s: connection closed during the transaction: discarded",
                 c->txn.queue_id);
    }
    cleanup_txn_release(&c->txn);
    attr_msg_free(&c->req);
    bufferevent_free(c->bev);
    evbuffer_free(c->out);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    xfree(c);
    server_session_end();
}

/*
 * Send queued replies (c->out) now: the socket is nearly always writable,
 * so this saves arming a write event per reply. What does not fit goes to
 * the bufferevent's output, which then waits for the socket; once anything
 * waits there, later replies queue behind it to keep their order.
 */
static void conn_flush(struct conn *c)
{
    struct evbuffer *pending = bufferevent_get_output(c->bev);

    while (evbuffer_get_length(pending) == 0 && evbuffer_get_length(c->out) > 0) {
        int n = evbuffer_write(c->out, bufferevent_getfd(c->bev));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
    }
    /* Also on an error: the bufferevent then reports it to on_event(). */
    if (evbuffer_get_length(c->out) > 0) {
        evbuffer_add_buffer(pending, c->out);
        bufferevent_enable(c->bev, EV_WRITE);
    }
}

/* Close once every reply has left (now when nothing is pending). */
static void conn_close_when_flushed(struct conn *c)
{
    conn_flush(c);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        conn_free(c);
        return;
    }
    c->closing = 1;
    bufferevent_disable(c->bev, EV_READ);
}

static void protocol_error(struct conn *c, const char *what)
{
    msg_warn("protocol error from %s client: %s", PROTO_CLEANUP_SOCKET, what);
    conn_free(c);
}

/* --- replies --- */

/* status=ok queue_id (open, close), or status=ok alone (abort). */
static void reply_ok(struct conn *c, const char *queue_id)
{
    struct proto_out out;

    proto_begin(&out, c->out, queue_id ? &proto_cleanup_queued_reply : &proto_ok_reply);
    proto_put_str(&out, MAIL_ATTR_STATUS, PROTO_STATUS_OK);
    if (queue_id != NULL)
        proto_put_str(&out, MAIL_ATTR_QUEUE_ID, queue_id);
    proto_end(&out);
}

static void reply_error(struct conn *c, const char *dsn, const char *reason)
{
    struct proto_out out;

    proto_begin(&out, c->out, &proto_cleanup_error_reply);
    proto_put_str(&out, MAIL_ATTR_STATUS, PROTO_STATUS_ERROR);
    proto_put_str(&out, MAIL_ATTR_DSN, dsn);
    proto_put_text(&out, MAIL_ATTR_REASON, reason);
    proto_end(&out);
}

/* A transaction ended and its reply is queued: ready for the next one. */
static void txn_ended(struct conn *c)
{
    cleanup_txn_reset(&c->txn);
}

/* --- open --- */

static int protocol_name_ok(const char *p)
{
    size_t n = 0;

    for (; p[n] != '\0'; n++)
        if (!((p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= 'a' && p[n] <= 'z')
              || (p[n] >= '0' && p[n] <= '9')))
            return 0;
    return n > 0 && n <= PROTOCOL_NAME_MAX;
}

/* What is wrong with the envelope of an open request (NULL: nothing). */
static const char *envelope_problem(const struct attr_msg *env, const char **dsn)
{
    const char *body = attr_get(env, MAIL_ATTR_BODY);
    size_t rcpts = attr_count(env, MAIL_ATTR_RCPT);
    long size;

    *dsn = DSN_BAD_ARGUMENTS;
    for (size_t i = 0; i < env->count; i++) {
        const struct attr *a = &env->attrs[i];
        if (a->len != strlen(a->value) || !queue_file_value_ok(a->value))
            return "invalid envelope value";
        if (strcmp(a->name, MAIL_ATTR_RCPT) == 0 && a->len == 0)
            return "empty recipient";
    }
    if (rcpts == 0 || rcpts > QF_RCPT_MAX)
        return "bad recipient count";
    if (!protocol_name_ok(attr_get(env, MAIL_ATTR_PROTOCOL)))
        return "invalid protocol name";
    if (strcmp(body, CLEANUP_BODY_7BIT) != 0 && strcmp(body, CLEANUP_BODY_8BIT) != 0)
        return "invalid body type";
    if (attr_find(env, MAIL_ATTR_SIZE) != NULL) {
        if (attr_get_long(env, MAIL_ATTR_SIZE, &size) < 0 || size < 0)
            return "invalid size";
        if (size > var_message_size_limit) {
            *dsn = DSN_TOO_BIG;
            return "message size exceeds fixed limit";
        }
    }
    return NULL;
}

static int do_open(struct conn *c)
{
    struct attr_msg swap;
    const char *problem, *dsn;
    char err[256];

    if (proto_check(&c->req, &proto_cleanup_open, err, sizeof(err)) < 0) {
        protocol_error(c, err);
        return -1;
    }
    if (c->txn.active) {
        protocol_error(c, "open inside a transaction");
        return -1;
    }
    /* The request becomes the transaction's envelope (no copying). */
    swap = c->txn.env;
    c->txn.env = c->req;
    c->req = swap;
    problem = envelope_problem(&c->txn.env, &dsn);
    if (problem != NULL) {
        msg_warn("open rejected: %s", problem);
        reply_error(c, dsn, problem);
        txn_ended(c);
        return 0;
    }
    if (cleanup_txn_open(&c->txn) < 0) {
        reply_error(c, DSN_TEMP_SYSTEM, CLEANUP_REASON_WRITE);
        txn_ended(c);
        return 0;
    }
    if (cleanup_rewrite(&c->txn, &dsn, &problem) < 0) {
        reply_error(c, dsn, problem);
        txn_ended(c);
        return 0;
    }
    reply_ok(c, c->txn.queue_id);
    return 0;
}

/* --- data, close, abort --- */

static int do_data(struct conn *c)
{
    const struct attr *data;
    char err[256];

    if (proto_check(&c->req, &proto_cleanup_data, err, sizeof(err)) < 0) {
        protocol_error(c, err);
        return -1;
    }
    if (!c->txn.active) {
        protocol_error(c, "data without open");
        return -1;
    }
    data = attr_find(&c->req, MAIL_ATTR_DATA);
    cleanup_txn_data(&c->txn, data->value, data->len);
    return 0;
}

static void commit_schedule(struct conn *c)
{
    c->committing = 1;
    c->next_commit = commit_head;
    commit_head = c;
    /* Runs after the other connections that are ready in this iteration. */
    event_active(commit_event, EV_TIMEOUT, 0);
}

static int do_close(struct conn *c)
{
    char err[256];

    if (proto_check(&c->req, &proto_cleanup_close, err, sizeof(err)) < 0) {
        protocol_error(c, err);
        return -1;
    }
    if (!c->txn.active) {
        protocol_error(c, "close without open");
        return -1;
    }
    if (cleanup_txn_commit(&c->txn) < 0) {
        reply_error(c, c->txn.fail_dsn, c->txn.fail_reason);
        txn_ended(c);
        return 0;
    }
    commit_schedule(c);
    return 0;
}

static int do_abort(struct conn *c)
{
    char err[256];

    if (proto_check(&c->req, &proto_cleanup_abort, err, sizeof(err)) < 0) {
        protocol_error(c, err);
        return -1;
    }
    /* Also harmless without a transaction (after a failed open). */
    reply_ok(c, NULL);
    txn_ended(c);
    return 0;
}

/* Handle the request in c->req. Returns 0, or -1 when c was freed. */
static int conn_request(struct conn *c)
{
    const char *req = attr_get(&c->req, MAIL_ATTR_REQ);

    if (req == NULL) {
        protocol_error(c, "missing attribute: req");
        return -1;
    }
    if (strcmp(req, CLEANUP_REQ_DATA) == 0)
        return do_data(c);
    if (strcmp(req, CLEANUP_REQ_OPEN) == 0)
        return do_open(c);
    if (strcmp(req, CLEANUP_REQ_CLOSE) == 0)
        return do_close(c);
    if (strcmp(req, CLEANUP_REQ_ABORT) == 0)
        return do_abort(c);
    protocol_error(c, "unknown request");
    return -1;
}

/*
 * Handle every complete request in the input, then send the replies (c may
 * be freed). Input that arrives while a close is pending, or while the
 * client does not read its replies, stays buffered.
 */
static void conn_process(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer *pending = bufferevent_get_output(c->bev);
    char err[256];

    while (!c->committing && !c->closing && evbuffer_get_length(pending) < CONN_OUTPUT_MAX) {
        int rc = attr_read_evbuffer(in, &c->req, err, sizeof(err));
        if (rc == 0)
            break;
        if (rc < 0) {
            protocol_error(c, err);
            return;
        }
        if (conn_request(c) < 0)
            return;
        attr_msg_reset(&c->req);
        if (stopping && !c->txn.active && !c->committing) {
            conn_close_when_flushed(c);
            return;
        }
    }
    conn_flush(c);
}

/* --- the commit batch --- */

/* Was the leaf directory of `path` already synced earlier in the batch? */
static struct conn *same_leaf(struct conn *batch, struct conn *upto, const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;

    for (struct conn *b = batch; b != upto; b = b->next_commit)
        if (strncmp(b->txn.final_path, path, n + 1) == 0)
            return b;
    return NULL;
}

static void commit_run(evutil_socket_t fd, short what, void *arg)
{
    struct conn *batch = commit_head;
    struct conn *c, *next;

    (void)fd;
    (void)what;
    (void)arg;
    commit_head = NULL;
    for (c = batch; c != NULL; c = c->next_commit) {
        struct conn *done = same_leaf(batch, c, c->txn.final_path);
        if (done != NULL) {
            c->sync_failed = done->sync_failed;
        } else if (fdio_fsync_parent(c->txn.final_path) < 0) {
            msg_warn("%s: fsync directory of %s: %s", c->txn.queue_id,
                     c->txn.final_path, strerror(errno));
            c->sync_failed = 1;
        } else {
            c->sync_failed = 0;
        }
    }
    for (c = batch; c != NULL; c = next) {
        next = c->next_commit;
        c->committing = 0;
        c->next_commit = NULL;
        if (c->sync_failed) {
            cleanup_txn_unqueue(&c->txn);
            reply_error(c, c->txn.fail_dsn, c->txn.fail_reason);
        } else {
            reply_ok(c, c->txn.queue_id);
            msg_info("%s: message-id=%s", c->txn.queue_id, c->txn.info.msgid);
            cleanup_qmgr_notify(c->txn.queue_id);
        }
        txn_ended(c);
        if (stopping) {
            conn_close_when_flushed(c);
            continue;
        }
        conn_process(c);
    }
}

/* --- events --- */

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_process(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    /* The output has drained: back to direct writes. */
    bufferevent_disable(bev, EV_WRITE);
    if (c->closing)
        conn_free(c);
    else
        conn_process(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    (void)bev;
    if (what & BEV_EVENT_TIMEOUT)
        msg_warn("timeout on %s connection (ipc_timeout %ld s)", PROTO_CLEANUP_SOCKET,
                 var_ipc_timeout);
    else if ((what & BEV_EVENT_ERROR) && errno != ECONNRESET && errno != EPIPE)
        msg_warn("%s connection: %s", PROTO_CLEANUP_SOCKET, strerror(errno));
    conn_free(c);
}

static void cleanup_accept(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    struct conn *c;
    struct timeval timeout = { var_ipc_timeout, 0 };

    (void)addr;
    (void)addrlen;
    c = xcalloc(1, sizeof(*c));
    c->bev = bufferevent_socket_new(server_event_base(), fd, BEV_OPT_CLOSE_ON_FREE);
    c->out = evbuffer_new();
    if (c->bev == NULL || c->out == NULL) {
        msg_warn("cannot create buffers for a client");
        if (c->bev != NULL)
            bufferevent_free(c->bev);
        else
            close(fd);
        if (c->out != NULL)
            evbuffer_free(c->out);
        xfree(c);
        server_session_end();
        return;
    }
    attr_msg_init(&c->req);
    cleanup_txn_init(&c->txn);
    c->next = conns;
    if (conns != NULL)
        conns->prev = c;
    conns = c;
    bufferevent_set_max_single_read(c->bev, CONN_READ_MAX);
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, CONN_INPUT_MAX);
    bufferevent_set_timeouts(c->bev, &timeout, NULL);
    bufferevent_enable(c->bev, EV_READ);
}

/*
 * At exit (shutdown_timeout, a fatal error) no transaction may leave a
 * temporary file behind. Files already renamed stay: they are complete.
 */
static void cleanup_exit(void)
{
    for (struct conn *c = conns; c != NULL; c = c->next)
        if (!c->committing)
            cleanup_txn_reset(&c->txn);
}

static void cleanup_init(struct event_base *base)
{
    commit_event = event_new(base, -1, 0, commit_run, NULL);
    if (commit_event == NULL)
        msg_fatal("cannot create the commit event");
    cleanup_rewrite_init();
    atexit(cleanup_exit);
}

static void cleanup_stop(void)
{
    struct conn *c, *next;

    stopping = 1;
    for (c = conns; c != NULL; c = next) {
        next = c->next;
        if (!c->txn.active && !c->committing)
            conn_close_when_flushed(c);
    }
}

static const char cleanup_help[] =
    "NAME\n"
    "    cleanup - Postern queue file writer\n"
    "\n"
    "SYNOPSIS\n"
    "    cleanup -c DIR -n SERVICE -t unix [-o NAME=VALUE]... [-v]\n"
    "\n"
    "DESCRIPTION\n"
    "    Takes envelope and content from smtpd over private/cleanup, prepends\n"
    "    Received: (and Message-ID:, Date:, From: when absent), writes the queue\n"
    "    file under tmp/, flushes it, renames it into incoming/, flushes that\n"
    "    directory, and only then answers \"ok\" and tells qmgr. The received\n"
    "    content is stored byte for byte. The envelope is rewritten first:\n"
    "    sender_canonical_maps for the sender, recipient_canonical_maps then\n"
    "    virtual_alias_maps for each recipient, duplicates removed; a table that\n"
    "    cannot be read refuses the message with 4.3.0 (the client retries).\n"
    "    Parameters: header_size_limit, message_size_limit, myhostname, myorigin,\n"
    "    mail_name, sender_canonical_maps, recipient_canonical_maps,\n"
    "    virtual_alias_maps, recipient_delimiter, virtual_alias_expansion_limit,\n"
    "    virtual_alias_recursion_limit.\n";

static const struct server_def cleanup_server = {
    .name = "cleanup",
    .init = cleanup_init,
    .accept = cleanup_accept,
    .stop = cleanup_stop,
    .help = cleanup_help,
};

int main(int argc, char **argv)
{
    server_main(argc, argv, &cleanup_server);
}
