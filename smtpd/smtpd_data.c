/*
 * smtpd_data.c - the DATA phase of one transaction.
 *
 *   DATA accepted -> cleanup req=open (smtpd_cleanup.c) -> status=ok ID
 *   -> "354 End data with <CR><LF>.<CR><LF>" -> client bytes go through the
 *   DATA reader, smtpd_dot_reader.c (end of data only at CRLF.CRLF,
 *   dot-unstuffing, bare CR/LF flags, size) -> content to cleanup in req=data messages of at most
 *   SMTPD_CHUNK_SIZE bytes -> at the end:
 *     bare CR or LF seen   req=abort, 550 5.5.2
 *     over the size limit  req=abort, 552 5.3.4
 *     cleanup went away    451 4.3.0
 *     otherwise            req=close; 250 only after cleanup's status=ok
 *                          (the queue file is durable), else 451/5xx.
 *
 * Bytes the client sent after the end of data in the same packet stay in
 * the session's input buffer and are read as commands once the final reply
 * has been sent; they never become content. Content that arrives before
 * our 354 is a protocol violation (554 5.5.0, session ends, the queue file
 * is abandoned).
 *
 * Memory: the session owns its chunk buffer, allocated while a message is
 * received and freed at the end of the transaction.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "alloc.h"
#include "dsn.h"
#include "msg.h"
#include "params.h"
#include "smtpd.h"

static const char reply_bare[] =
    "550 5.5.2 Error: bare <CR> or <LF> in message content (see RFC 5321 section 2.3.8)";
static const char reply_too_big[] = "552 5.3.4 Error: message file too big";
static const char reply_write_error[] = "451 4.3.0 Error: queue file write error";

void smtpd_data_free(struct smtpd_session *s)
{
    s->chunk = xfree(s->chunk);
    s->chunk_len = 0;
}

/* The transaction is over (whatever the outcome): back to commands. */
static void data_end_transaction(struct smtpd_session *s)
{
    smtpd_data_free(s);
    smtpd_transaction_reset(s);
    s->abort_reply = NULL;
    s->cleanup_lost = 0;
    s->state = SMTPD_ST_CMD;
    smtpd_session_resume(s);
}

/* Reply for a cleanup error: its 5.x.x code when it gave one; for a 4.x.x
 * code other than the generic 4.3.0, with a reason, "451 4.x.x Error:
 * reason" (452 for 4.5.3, too many recipients); else "451 4.3.0 Error:
 * queue file write error" (cleanup logs the details). */
static void reply_cleanup_error(struct smtpd_session *s, const char *verb, const char *dsn,
                                const char *reason)
{
    char reply[512];
    enum dsn_class class = dsn_class_of(dsn);

    if (dsn != NULL && strcmp(dsn, DSN_TOO_BIG) == 0)
        snprintf(reply, sizeof(reply), "%s", reply_too_big);
    else if (class == DSN_CLASS_PERM)
        snprintf(reply, sizeof(reply), "554 %s Error: %.300s", dsn,
                 reason && *reason ? reason : "message rejected");
    else if (class == DSN_CLASS_TEMP && strcmp(dsn, DSN_TEMP_SYSTEM) != 0 && reason != NULL
             && *reason != '\0')
        snprintf(reply, sizeof(reply), "%s %s Error: %.300s",
                 strcmp(dsn, DSN_TOO_MANY_RCPTS) == 0 ? "452" : "451", dsn, reason);
    else
        snprintf(reply, sizeof(reply), "%s", reply_write_error);
    smtpd_reply(s, "%s", reply);
    smtpd_log_reject(s, verb, reply, NULL, NULL);
}

void smtpd_data_begin(struct smtpd_session *s)
{
    s->state = SMTPD_ST_OPENING;
    s->cleanup_lost = 0;
    s->abort_reply = NULL;
    bufferevent_disable(s->bev, EV_READ);
    smtpd_cleanup_open(s);
}

void smtpd_data_opened(struct smtpd_session *s, const char *queue_id)
{
    snprintf(s->queue_id, sizeof(s->queue_id), "%s", queue_id);
    msg_info("%s: client=%s", s->queue_id, s->namaddr);
    if (smtpd_session_input_pending(s)) {
        msg_info("improper command pipelining after DATA from %s", s->namaddr);
        smtpd_reply(s, "554 5.5.0 Error: SMTP protocol synchronization");
        smtpd_session_close(s);     /* drops cleanup: the file is abandoned */
        return;
    }
    smtpd_dot_reader_init(&s->dot_reader, (uint64_t)var_message_size_limit);
    s->chunk = xmalloc(SMTPD_CHUNK_SIZE);
    s->chunk_len = 0;
    s->state = SMTPD_ST_DATA;
    smtpd_reply(s, "354 End data with <CR><LF>.<CR><LF>");
    smtpd_session_update_read(s);
}

void smtpd_data_open_failed(struct smtpd_session *s, const char *dsn, const char *reason)
{
    msg_warn("%s: cannot start a queue file: %s", s->namaddr, reason ? reason : "unknown error");
    reply_cleanup_error(s, "DATA", dsn, reason);
    data_end_transaction(s);
}

static void send_chunk(struct smtpd_session *s)
{
    if (s->chunk_len > 0 && !s->cleanup_lost)
        smtpd_cleanup_data(s, s->chunk, s->chunk_len);
    s->chunk_len = 0;
}

static void data_out(void *ctx, const char *buf, size_t len)
{
    struct smtpd_session *s = ctx;

    while (len > 0) {
        size_t room = SMTPD_CHUNK_SIZE - s->chunk_len;
        size_t n = len < room ? len : room;

        memcpy(s->chunk + s->chunk_len, buf, n);
        s->chunk_len += n;
        buf += n;
        len -= n;
        if (s->chunk_len == SMTPD_CHUNK_SIZE)
            send_chunk(s);
    }
}

/* The client sent the final CRLF.CRLF. */
static void data_complete(struct smtpd_session *s)
{
    s->state = SMTPD_ST_ENDING;
    s->last_event = SMTPD_LAST_END_OF_MESSAGE;
    bufferevent_disable(s->bev, EV_READ);
    if (s->cleanup_lost) {
        smtpd_reply(s, "%s", reply_write_error);
        smtpd_log_reject(s, "END-OF-MESSAGE", reply_write_error, NULL, NULL);
        data_end_transaction(s);
        return;
    }
    if (s->dot_reader.bare_cr || s->dot_reader.bare_lf) {
        s->abort_reply = reply_bare;
        smtpd_cleanup_abort(s);
        return;
    }
    if (s->dot_reader.over_limit) {
        s->abort_reply = reply_too_big;
        smtpd_cleanup_abort(s);
        return;
    }
    send_chunk(s);
    smtpd_cleanup_close(s);
}

void smtpd_data_input(struct smtpd_session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);

    while (!s->dot_reader.done && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        size_t used;

        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
            break;
        used = smtpd_dot_reader_feed(&s->dot_reader, v.iov_base, v.iov_len,
                                     s->cleanup_lost ? NULL : data_out, s);
        evbuffer_drain(in, used);
    }
    if (s->dot_reader.done)
        data_complete(s);
}

void smtpd_data_finished(struct smtpd_session *s, int ok, const char *queue_id,
                         const char *dsn, const char *reason)
{
    if (s->abort_reply != NULL) {
        smtpd_reply(s, "%s", s->abort_reply);
        smtpd_log_reject(s, "END-OF-MESSAGE", s->abort_reply, NULL, NULL);
    } else if (ok) {
        smtpd_reply(s, "250 2.0.0 Ok: queued as %s", queue_id ? queue_id : s->queue_id);
        s->verb_ok[SMTP_VERB_DATA]++;
    } else {
        msg_warn("%s: %s: queue file not completed: %s", s->queue_id, s->namaddr,
                 reason ? reason : "unknown error");
        reply_cleanup_error(s, "END-OF-MESSAGE", dsn, reason);
    }
    data_end_transaction(s);
}

void smtpd_data_cleanup_lost(struct smtpd_session *s)
{
    msg_warn("%s: lost connection to cleanup during DATA from %s",
             s->queue_id[0] ? s->queue_id : "NOQUEUE", s->namaddr);
    s->cleanup_lost = 1;
    s->chunk_len = 0;
    smtpd_session_update_read(s);
}
