/*
 * smtpd_cleanup.c - smtpd's side of the cleanup protocol (mail_proto.h).
 *
 * One connection per SMTP session, opened when the session's first DATA
 * needs it and kept for its later transactions:
 *
 *   -> req=open sender client_name client_addr client_port helo protocol
 *      body [size] rcpt...       body: "8BITMIME" when the client said
 *                                BODY=8BITMIME, else "7BIT"; size: the
 *                                client's SIZE= when it gave one
 *   <- status=ok queue_id        | status=error dsn reason
 *   -> req=data data#N ...       (N <= SMTPD_CHUNK_SIZE, no reply)
 *   -> req=close                 <- status=ok queue_id | status=error dsn reason
 *   -> req=abort                 <- status=ok
 *
 * Connecting never blocks (a UNIX connect completes or fails at once).
 * When cleanup is not there yet (ENOENT, ECONNREFUSED) or its backlog is
 * full (EAGAIN), smtpd retries every CONNECT_RETRY_MS for about two seconds
 * before it answers 451 4.3.0. Every answer is reported asynchronously,
 * from this module's own event callbacks, never from inside the command
 * handler that asked. A reply is checked strictly (proto_check_reply); a
 * malformed or unexpected one, an EOF, an error or ipc_timeout without an
 * answer drops the connection and counts as a failed request, except for
 * an open: cleanup closes its idle connections when it stops (reload), and
 * an open that crossed that close is sent again once on a new connection.
 *
 * Memory: the connection (bufferevent, timer, reply being read) belongs to
 * the session and is released by smtpd_cleanup_disconnect().
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "alloc.h"
#include "dsn.h"
#include "mail_proto.h"
#include "msg.h"
#include "params.h"
#include "queue_dir.h"
#include "server.h"
#include "sock.h"
#include "smtpd.h"

#define CONNECT_RETRY_MS 250
#define CONNECT_ATTEMPTS 9      /* 8 waits of 250 ms: about 2 s */
#define REASON_MAX 256

static void cleanup_read(struct bufferevent *bev, void *arg);
static void cleanup_write(struct bufferevent *bev, void *arg);
static void cleanup_event(struct bufferevent *bev, short what, void *arg);

void smtpd_cleanup_disconnect(struct smtpd_session *s)
{
    struct smtpd_cleanup *c = &s->cleanup;

    if (c->retry) {
        event_free(c->retry);
        c->retry = NULL;
    }
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    attr_msg_free(&c->reply);
    attr_msg_init(&c->reply);
    c->wait = SMTPD_CLEANUP_NONE;
    c->give_up = 0;
}

size_t smtpd_cleanup_backlog(const struct smtpd_session *s)
{
    if (s->cleanup.bev == NULL)
        return 0;
    return evbuffer_get_length(bufferevent_get_output(s->cleanup.bev));
}

/* Wait for a reply: the read timeout is armed only while one is due. */
static void expect_reply(struct smtpd_session *s, enum smtpd_cleanup_wait what)
{
    struct timeval tv = { var_ipc_timeout, 0 };

    s->cleanup.wait = what;
    bufferevent_set_timeouts(s->cleanup.bev, &tv, &tv);
}

static void reply_done(struct smtpd_session *s)
{
    struct timeval tv = { var_ipc_timeout, 0 };

    s->cleanup.wait = SMTPD_CLEANUP_NONE;
    bufferevent_set_timeouts(s->cleanup.bev, NULL, &tv);
}

static void send_open(struct smtpd_session *s)
{
    struct proto_out out;

    proto_begin(&out, bufferevent_get_output(s->cleanup.bev), &proto_cleanup_open);
    proto_put_str(&out, MAIL_ATTR_REQ, CLEANUP_REQ_OPEN);
    proto_put_str(&out, MAIL_ATTR_SENDER, s->sender ? s->sender : "");
    proto_put_str(&out, MAIL_ATTR_CLIENT_NAME, s->name);
    proto_put_str(&out, MAIL_ATTR_CLIENT_ADDR, s->addr);
    proto_put_long(&out, MAIL_ATTR_CLIENT_PORT, s->port);
    proto_put_str(&out, MAIL_ATTR_HELO, s->helo ? s->helo : "");
    proto_put_str(&out, MAIL_ATTR_PROTOCOL, s->protocol);
    proto_put_str(&out, MAIL_ATTR_BODY, s->body_8bit ? CLEANUP_BODY_8BIT : CLEANUP_BODY_7BIT);
    if (s->has_size)
        proto_put_long(&out, MAIL_ATTR_SIZE,
                       s->size > (uint64_t)LONG_MAX ? LONG_MAX : (long)s->size);
    for (size_t i = 0; i < s->n_rcpts; i++)
        proto_put_str(&out, MAIL_ATTR_RCPT, s->rcpts[i]);
    proto_end(&out);
    expect_reply(s, SMTPD_CLEANUP_OPEN);
}

static void try_connect(struct smtpd_session *s);

/* The connection broke or misbehaved: fail whatever was asked. */
static void cleanup_lost(struct smtpd_session *s, const char *why)
{
    enum smtpd_cleanup_wait wait = s->cleanup.wait;

    smtpd_cleanup_disconnect(s);
    if (wait == SMTPD_CLEANUP_OPEN && !s->cleanup.reopened) {
        /* A cleanup that stops (reload) closes its idle connections; the
         * open may have crossed that close. It had no effect: send it
         * again on a new connection, once. */
        msg_debug("%s: %s: opening the queue file on a new connection", s->namaddr, why);
        s->cleanup.reopened = 1;
        s->cleanup.attempts = 0;
        try_connect(s);
        return;
    }
    switch (wait) {
    case SMTPD_CLEANUP_OPEN:
        smtpd_data_open_failed(s, NULL, why);
        break;
    case SMTPD_CLEANUP_CLOSE:
    case SMTPD_CLEANUP_ABORT:
        smtpd_data_finished(s, 0, NULL, NULL, why);
        break;
    case SMTPD_CLEANUP_NONE:
        if (s->state == SMTPD_ST_DATA)
            smtpd_data_cleanup_lost(s);
        break;
    }
}

static void connect_retry(evutil_socket_t fd, short what, void *arg);

static void schedule_retry(struct smtpd_session *s, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    if (s->cleanup.retry == NULL)
        s->cleanup.retry = evtimer_new(server_event_base(), connect_retry, s);
    evtimer_add(s->cleanup.retry, &tv);
}

static void try_connect(struct smtpd_session *s)
{
    struct smtpd_cleanup *c = &s->cleanup;
    int fd = sock_unix_connect(PROTO_CLEANUP_SOCKET, 1);

    if (fd >= 0) {
        c->bev = bufferevent_socket_new(server_event_base(), fd, BEV_OPT_CLOSE_ON_FREE);
        if (c->bev == NULL)
            msg_fatal("cannot create bufferevent for cleanup");
        bufferevent_setcb(c->bev, cleanup_read, cleanup_write, cleanup_event, s);
        bufferevent_setwatermark(c->bev, EV_WRITE, SMTPD_CLEANUP_LOW, 0);
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
        send_open(s);
        return;
    }
    c->last_errno = errno;
    c->attempts++;
    if ((errno == EAGAIN || errno == ECONNREFUSED || errno == ENOENT)
        && c->attempts < CONNECT_ATTEMPTS) {
        msg_debug("connect %s: %s: retrying", PROTO_CLEANUP_SOCKET, strerror(errno));
        schedule_retry(s, CONNECT_RETRY_MS);
        return;
    }
    c->give_up = 1;
    schedule_retry(s, 0);
}

static void connect_retry(evutil_socket_t fd, short what, void *arg)
{
    struct smtpd_session *s = arg;
    char why[REASON_MAX];

    (void)fd;
    (void)what;
    if (s->cleanup.give_up) {
        s->cleanup.give_up = 0;
        snprintf(why, sizeof(why), "connect to %s: %s", PROTO_CLEANUP_SOCKET,
                 strerror(s->cleanup.last_errno));
        smtpd_data_open_failed(s, NULL, why);
    } else {
        try_connect(s);
    }
    smtpd_session_settle(s);
}

void smtpd_cleanup_open(struct smtpd_session *s)
{
    s->cleanup.attempts = 0;
    s->cleanup.give_up = 0;
    s->cleanup.reopened = 0;
    if (s->cleanup.bev != NULL)
        send_open(s);
    else
        try_connect(s);
}

void smtpd_cleanup_data(struct smtpd_session *s, const char *buf, size_t len)
{
    struct proto_out out;

    if (s->cleanup.bev == NULL)
        return;
    proto_begin(&out, bufferevent_get_output(s->cleanup.bev), &proto_cleanup_data);
    proto_put_str(&out, MAIL_ATTR_REQ, CLEANUP_REQ_DATA);
    proto_put_data(&out, MAIL_ATTR_DATA, buf, len);
    proto_end(&out);
}

static void send_simple(struct smtpd_session *s, const struct proto_msg *def, const char *req,
                        enum smtpd_cleanup_wait wait)
{
    struct proto_out out;

    proto_begin(&out, bufferevent_get_output(s->cleanup.bev), def);
    proto_put_str(&out, MAIL_ATTR_REQ, req);
    proto_end(&out);
    expect_reply(s, wait);
}

void smtpd_cleanup_close(struct smtpd_session *s)
{
    if (s->cleanup.bev == NULL) {
        smtpd_data_finished(s, 0, NULL, NULL, "no connection to cleanup");
        return;
    }
    send_simple(s, &proto_cleanup_close, CLEANUP_REQ_CLOSE, SMTPD_CLEANUP_CLOSE);
}

void smtpd_cleanup_abort(struct smtpd_session *s)
{
    if (s->cleanup.bev == NULL) {
        smtpd_data_finished(s, 0, NULL, NULL, "no connection to cleanup");
        return;
    }
    send_simple(s, &proto_cleanup_abort, CLEANUP_REQ_ABORT, SMTPD_CLEANUP_ABORT);
}

/* A complete reply is in s->cleanup.reply: check it and pass it on. */
static void handle_reply(struct smtpd_session *s)
{
    struct attr_msg *m = &s->cleanup.reply;
    enum smtpd_cleanup_wait wait = s->cleanup.wait;
    char queue_id[64] = "", dsn[DSN_SIZE] = "", reason[REASON_MAX] = "", err[128];
    int ok;

    if (wait == SMTPD_CLEANUP_NONE) {
        cleanup_lost(s, "unexpected reply from cleanup");
        return;
    }
    ok = proto_check_reply(m, wait == SMTPD_CLEANUP_ABORT ? &proto_ok_reply
                                                          : &proto_cleanup_queued_reply,
                           &proto_cleanup_error_reply, err, sizeof(err));
    if (ok < 0) {
        msg_warn("malformed reply from cleanup: %s", err);
        cleanup_lost(s, "malformed reply from cleanup");
        return;
    }
    if (ok && wait != SMTPD_CLEANUP_ABORT) {
        if (!queue_id_valid(attr_get(m, MAIL_ATTR_QUEUE_ID))) {
            cleanup_lost(s, "bad queue_id from cleanup");
            return;
        }
        snprintf(queue_id, sizeof(queue_id), "%s", attr_get(m, MAIL_ATTR_QUEUE_ID));
    }
    if (!ok) {
        snprintf(dsn, sizeof(dsn), "%s", attr_get(m, MAIL_ATTR_DSN));
        snprintf(reason, sizeof(reason), "%s", attr_get(m, MAIL_ATTR_REASON));
    }
    attr_msg_reset(m);
    reply_done(s);
    if (wait == SMTPD_CLEANUP_OPEN) {
        if (ok)
            smtpd_data_opened(s, queue_id);
        else
            smtpd_data_open_failed(s, dsn, reason);
        return;
    }
    smtpd_data_finished(s, ok, ok ? queue_id : NULL, dsn, reason);
}

static void cleanup_read(struct bufferevent *bev, void *arg)
{
    struct smtpd_session *s = arg;
    char err[128];
    int rc;

    while (s->cleanup.bev == bev) {
        rc = attr_read_evbuffer(bufferevent_get_input(bev), &s->cleanup.reply, err, sizeof(err));
        if (rc == 0)
            break;
        if (rc < 0) {
            msg_warn("bad message from cleanup: %s", err);
            cleanup_lost(s, "protocol error from cleanup");
            break;
        }
        handle_reply(s);
    }
    smtpd_session_settle(s);
}

static void cleanup_write(struct bufferevent *bev, void *arg)
{
    struct smtpd_session *s = arg;

    (void)bev;
    if (s->state == SMTPD_ST_DATA)
        smtpd_session_update_read(s);
}

static void cleanup_event(struct bufferevent *bev, short what, void *arg)
{
    struct smtpd_session *s = arg;
    const char *why = (what & BEV_EVENT_TIMEOUT) ? "timeout talking to cleanup"
        : (what & BEV_EVENT_EOF) ? "cleanup closed the connection"
        : "error talking to cleanup";

    (void)bev;
    if ((s->cleanup.wait != SMTPD_CLEANUP_NONE && !(s->cleanup.wait == SMTPD_CLEANUP_OPEN
                                                     && !s->cleanup.reopened))
        || s->state == SMTPD_ST_DATA)
        msg_warn("%s: %s", s->namaddr, why);
    cleanup_lost(s, why);
    smtpd_session_settle(s);
}
