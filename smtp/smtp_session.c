/*
 * smtp_session.c - the SMTP client conversation on one connection.
 *
 * A session is an explicit state machine driven by libevent: each complete
 * server reply (collected with lib/smtp_reply) moves it on.
 *
 *   GREETING -> EHLO [-> HELO] -> TRANS -> XFER -> DOT -> (cache | RSET | close)
 *                                  ^------------------------- reuse (IDLE)
 *
 * TRANS covers MAIL FROM, RCPT TO and DATA. When the server offers
 * PIPELINING they go out in one write and the replies are matched in order;
 * otherwise one command waits for its reply. XFER streams the queue file
 * (smtp_content.c) as the output buffer drains, so memory stays bounded.
 * Every wait for a reply is bounded by the matching smtp_*_timeout
 * (bufferevent read timeouts; the write timeout bounds a stalled write).
 *
 * Failures before the transaction starts (bad greeting, EHLO and HELO
 * refused, lost connection) go back to smtp_connect.c, which tries the next
 * address. During the transaction, each recipient gets a final status from
 * the reply that decided it; a lost connection or a timeout defers the ones
 * still open. A session whose transaction ended cleanly is cached for the
 * next delivery to the same nexthop (after RSET when it ended early).
 *
 * Memory: the session owns its bufferevent (and socket), reply parser and
 * content state. While a delivery is attached (s->d) the delivery owns the
 * session; detached sessions are owned by the cache or free themselves
 * (after RSET/QUIT). Functions that may free the session return -1 to tell
 * the read loop to stop touching it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "alloc.h"
#include "msg.h"
#include "params.h"
#include "server.h"
#include "smtp.h"

#define CMD_MAX (QF_RECORD_MAX + 128)
#define XFER_HIGH_WATER (256 * 1024)    /* fill the output up to this */
#define XFER_LOW_WATER (64 * 1024)      /* refill when it drains below this */

enum sess_state {
    S_GREETING,
    S_EHLO,
    S_HELO,
    S_TRANS,        /* MAIL, RCPT, DATA */
    S_XFER,         /* sending the content */
    S_DOT,          /* waiting for the reply to the final dot */
    S_RSET,         /* detached: RSET before caching */
    S_IDLE,         /* detached: in the cache */
    S_QUIT          /* detached: QUIT sent, closing */
};

struct smtp_sess {
    struct bufferevent *bev;
    char host[SMTP_HOST_MAX];
    char addr[SMTP_ADDR_MAX];
    int port;
    char relay[SMTP_RELAY_MAX];     /* host[addr]:port */
    char peer[SMTP_RELAY_MAX];      /* host[addr] */
    struct timeval opened;
    enum sess_state state;
    int broken;                     /* must not be reused */
    struct smtp_ehlo ehlo;
    struct smtp_reply_parser rp;
    int rp_done;                    /* rp holds a complete reply: reset first */
    struct smtp_delivery *d;
    /* Current transaction. */
    int mail_replied, mail_ok, data_sent;
    size_t n_tx;                    /* recipients in this transaction */
    size_t n_sent;                  /* RCPT TO commands sent */
    size_t n_replied;               /* RCPT TO replies received */
    size_t send_pos, reply_pos;     /* scan positions in d->rcpts */
    size_t n_accepted;
    struct smtp_content content;
    char *rset_key;                 /* S_RSET: the nexthop to cache under */
    struct smtp_cache_link cache;
};

static void on_read(struct bufferevent *bev, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

struct smtp_cache_link *smtp_session_cache_link(struct smtp_sess *s)
{
    return &s->cache;
}

double smtp_session_age(const struct smtp_sess *s)
{
    struct timeval now;

    gettimeofday(&now, NULL);
    return smtp_elapsed(&s->opened, &now);
}

static void sess_free(struct smtp_sess *s)
{
    if (s->cache.cached)
        smtp_cache_remove(s);
    if (s->d) {
        s->d->sess = NULL;
        s->d = NULL;
    }
    bufferevent_free(s->bev);
    smtp_reply_free(&s->rp);
    xfree(s->rset_key);
    xfree(s);
}

static void set_timeouts(struct smtp_sess *s, long read_secs, long write_secs)
{
    struct timeval rtv = { read_secs, 0 }, wtv = { write_secs, 0 };

    bufferevent_set_timeouts(s->bev, read_secs > 0 ? &rtv : NULL,
                             write_secs > 0 ? &wtv : NULL);
}

static void expect_reply(struct smtp_sess *s, long secs)
{
    set_timeouts(s, secs, secs);
}

static void send_cmd(struct smtp_sess *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void send_cmd(struct smtp_sess *s, const char *fmt, ...)
{
    char line[CMD_MAX];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line) - 2)
        msg_panic("send_cmd: command too long");
    if (s->d)
        smtp_delivery_trace(s->d, ">", s->peer, line, (size_t)n);
    line[n++] = '\r';
    line[n++] = '\n';
    evbuffer_add(bufferevent_get_output(s->bev), line, (size_t)n);
}

/* ---- reply helpers ---- */

/* "250 2.0.0 Ok: queued as X" from the current reply. */
static void reply_text(const struct smtp_sess *s, char *buf, size_t len)
{
    const struct smtp_reply *r = &s->rp.reply;
    const char *text = r->text ? r->text : "";

    smtp_fmt(buf, len, "%d%s%s%s%s", r->code, r->dsn[0] ? " " : "", r->dsn,
             text[0] ? " " : "", text);
}

/*
 * The status code to report for a reply given the status we decided on
 * (dsn: DSN_SIZE bytes): the reply's own, or X.5.0, of that class.
 */
static void reply_dsn(const struct smtp_sess *s, enum smtp_rcpt_status status, char *dsn)
{
    const char *st = smtp_reply_status(&s->rp.reply);
    enum dsn_class cls = status == SMTP_RCPT_SENT ? DSN_CLASS_SUCCESS
                         : status == SMTP_RCPT_BOUNCED ? DSN_CLASS_PERM : DSN_CLASS_TEMP;

    dsn_with_class(dsn, dsn_valid(st) ? st : DSN_PROTOCOL_TEMP, cls);
}

static enum smtp_rcpt_status failure_status(int code)
{
    return code >= 500 && code <= 599 ? SMTP_RCPT_BOUNCED : SMTP_RCPT_DEFERRED;
}

/* "host H[A] said: 550 5.1.1 ... (in reply to X command)" */
static void said_text(const struct smtp_sess *s, const char *command, char *buf, size_t len)
{
    char reply[PROTO_TEXT_MAX + 1];

    reply_text(s, reply, sizeof(reply));
    smtp_fmt(buf, len, "host %s said: %s (in reply to %s)", s->peer, reply, command);
}

static const char *state_doing(const struct smtp_sess *s)
{
    switch (s->state) {
    case S_GREETING:
        return "receiving the initial server greeting";
    case S_EHLO:
        return "performing the EHLO handshake";
    case S_HELO:
        return "performing the HELO handshake";
    case S_TRANS:
        if (!s->mail_replied)
            return "sending MAIL FROM";
        if (s->n_replied < s->n_tx)
            return "sending RCPT TO";
        return "sending DATA command";
    case S_XFER:
        return "sending message body";
    case S_DOT:
        return "sending end of data -- message may be sent more than once";
    case S_RSET:
        return "sending RSET";
    case S_QUIT:
        return "sending QUIT";
    default:
        return "waiting for the next transaction";
    }
}

/* ---- recipients of the current transaction ---- */

static size_t next_tx_rcpt(const struct smtp_sess *s, size_t from)
{
    while (from < s->d->n_rcpts && !s->d->rcpts[from].in_tx)
        from++;
    return from;
}

/* Fail every recipient of this transaction that is still pending. */
static void fail_tx(struct smtp_sess *s, int accepted_only, enum smtp_rcpt_status status,
                    const char *dsn, const char *reason)
{
    struct smtp_delivery *d = s->d;

    for (size_t i = 0; i < d->n_rcpts; i++) {
        if (!d->rcpts[i].in_tx || (accepted_only && !d->rcpts[i].accepted))
            continue;
        smtp_delivery_rcpt_done(d, i, status, dsn, reason, s->relay);
    }
}

/* Fail recipients of the transaction from the current reply to `command`. */
static void fail_tx_reply(struct smtp_sess *s, int accepted_only, const char *command)
{
    char reason[PROTO_TEXT_MAX + 1], dsn[DSN_SIZE];
    enum smtp_rcpt_status status = failure_status(s->rp.reply.code);

    said_text(s, command, reason, sizeof(reason));
    reply_dsn(s, status, dsn);
    fail_tx(s, accepted_only, status, dsn, reason);
}

/* ---- ending a transaction or a session ---- */

/*
 * The delivery's part is over: detach it, decide the session's fate (cache,
 * RSET then cache, or close) and finish the delivery. Returns -1.
 */
static int end_tx(struct smtp_sess *s, int clean, int need_rset)
{
    struct smtp_delivery *d = s->d;

    s->d = NULL;
    d->sess = NULL;
    bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
    if (!clean || s->broken) {
        sess_free(s);
    } else if (need_rset) {
        s->state = S_RSET;
        send_cmd(s, "RSET");
        expect_reply(s, var_smtp_mail_timeout);
        s->rset_key = xstrdup(d->nexthop);
    } else {
        s->state = S_IDLE;
        set_timeouts(s, 0, 0);
        smtp_cache_put(s, d->nexthop);
    }
    smtp_delivery_finish(d);
    return -1;
}

/* The session on this address failed before a transaction: next address. */
static int handshake_failed(struct smtp_sess *s, const char *dsn, const char *reason,
                            int polite)
{
    struct smtp_delivery *d = s->d;
    char relay[SMTP_RELAY_MAX];

    smtp_fmt(relay, sizeof(relay), "%s", s->relay);
    s->d = NULL;
    d->sess = NULL;
    if (polite)
        smtp_session_quit(s);
    else
        sess_free(s);
    smtp_connect_next(d, dsn, reason, relay);
    return -1;
}

static int handshake_refused(struct smtp_sess *s, const char *fmt_command)
{
    char reason[PROTO_TEXT_MAX + 1], reply[PROTO_TEXT_MAX + 1], dsn[DSN_SIZE];

    reply_text(s, reply, sizeof(reply));
    if (fmt_command)
        smtp_fmt(reason, sizeof(reason), "host %s said: %s (in reply to %s)", s->peer,
                 reply, fmt_command);
    else
        smtp_fmt(reason, sizeof(reason), "host %s refused to talk to me: %s", s->peer,
                 reply);
    reply_dsn(s, SMTP_RCPT_DEFERRED, dsn);
    return handshake_failed(s, dsn, reason, 1);
}

/*
 * The connection failed (lost, timed out, malformed reply) in any state.
 * Frees the session; returns -1.
 */
static int session_failed(struct smtp_sess *s, const char *reason, const char *dsn)
{
    struct smtp_delivery *d = s->d;

    if (d == NULL) {
        msg_debug("%s: %s", s->relay, reason);
        sess_free(s);
        return -1;
    }
    switch (s->state) {
    case S_GREETING:
    case S_EHLO:
    case S_HELO:
        return handshake_failed(s, dsn, reason, 0);
    default:
        break;
    }
    if (d->reused && !d->retried && s->state == S_TRANS && !s->mail_replied) {
        /* The cached connection went stale: try once more on a fresh one. */
        msg_debug("%s: cached session to %s failed (%s); reconnecting", d->queue_id,
                  s->relay, reason);
        sess_free(s);
        for (size_t i = 0; i < d->n_rcpts; i++)
            d->rcpts[i].in_tx = 0;
        d->reused = 0;
        d->retried = 1;
        gettimeofday(&d->t_setup, NULL);
        smtp_connect_start(d);
        return -1;
    }
    fail_tx(s, 0, SMTP_RCPT_DEFERRED, dsn, reason);
    s->d = NULL;
    d->sess = NULL;
    sess_free(s);
    smtp_delivery_finish(d);
    return -1;
}

static int lost_connection(struct smtp_sess *s, int timed_out)
{
    char reason[PROTO_TEXT_MAX + 1];

    if (timed_out)
        smtp_fmt(reason, sizeof(reason), "conversation with %s timed out while %s",
                 s->peer, state_doing(s));
    else
        smtp_fmt(reason, sizeof(reason), "lost connection with %s while %s", s->peer,
                 state_doing(s));
    return session_failed(s, reason, DSN_BAD_CONNECTION);
}

static int protocol_error(struct smtp_sess *s, const char *what)
{
    char reason[PROTO_TEXT_MAX + 1];

    smtp_fmt(reason, sizeof(reason), "malformed reply from %s while %s: %s", s->peer,
             state_doing(s), what);
    return session_failed(s, reason, DSN_PROTOCOL_TEMP);
}

/* ---- the transaction ---- */

static void send_next_rcpt(struct smtp_sess *s)
{
    size_t i = next_tx_rcpt(s, s->send_pos);

    if (i >= s->d->n_rcpts)
        msg_panic("send_next_rcpt: no recipient left");
    send_cmd(s, "RCPT TO:<%s>", s->d->rcpts[i].address);
    s->send_pos = i + 1;
    s->n_sent++;
}

static void send_data(struct smtp_sess *s)
{
    send_cmd(s, "DATA");
    s->data_sent = 1;
}

static int begin_tx(struct smtp_sess *s)
{
    struct smtp_delivery *d = s->d;
    char size_opt[48] = "";
    int pipelining = (s->ehlo.flags & SMTP_EXT_PIPELINING) != 0;

    s->mail_replied = s->mail_ok = s->data_sent = 0;
    s->n_tx = s->n_sent = s->n_replied = s->send_pos = s->reply_pos = s->n_accepted = 0;
    s->broken = 0;
    for (size_t i = 0; i < d->n_rcpts; i++) {
        d->rcpts[i].accepted = 0;
        d->rcpts[i].in_tx = d->rcpts[i].status == SMTP_RCPT_PENDING;
        s->n_tx += (size_t)d->rcpts[i].in_tx;
    }
    if (s->n_tx == 0)
        return end_tx(s, 1, 0);
    if ((s->ehlo.flags & SMTP_EXT_SIZE) && s->ehlo.size > 0
        && (uint64_t)d->qf.content_size > s->ehlo.size) {
        char reason[PROTO_TEXT_MAX + 1];

        smtp_fmt(reason, sizeof(reason), "message size %lld exceeds size limit %llu of "
                 "server %s", (long long)d->qf.content_size,
                 (unsigned long long)s->ehlo.size, s->peer);
        fail_tx(s, 0, SMTP_RCPT_BOUNCED, DSN_TOO_BIG, reason);
        return end_tx(s, 1, 0);
    }
    if (s->ehlo.flags & SMTP_EXT_SIZE)
        smtp_fmt(size_opt, sizeof(size_opt), " SIZE=%lld", (long long)d->qf.content_size);
    s->state = S_TRANS;
    send_cmd(s, "MAIL FROM:<%s>%s%s", d->qf.sender, size_opt,
             (s->ehlo.flags & SMTP_EXT_8BITMIME) && strcmp(d->qf.body_type, "8BITMIME") == 0
             ? " BODY=8BITMIME" : "");
    if (pipelining) {
        while (s->n_sent < s->n_tx)
            send_next_rcpt(s);
        send_data(s);
    }
    expect_reply(s, var_smtp_mail_timeout);
    return 0;
}

static int fill_content(struct smtp_sess *s)
{
    char err[PROTO_TEXT_MAX + 1];
    int r = smtp_content_fill(&s->content, bufferevent_get_output(s->bev), XFER_HIGH_WATER,
                              err, sizeof(err));

    if (r < 0) {
        msg_warn("%s: %s", s->d->queue_id, err);
        fail_tx(s, 1, SMTP_RCPT_DEFERRED, DSN_TEMP_SYSTEM, err);
        return end_tx(s, 0, 0);     /* no final dot: the server discards it */
    }
    if (r == 1) {
        if (s->d->verbose || msg_verbose) {
            char note[64];
            smtp_fmt(note, sizeof(note), "(%lld bytes of content)",
                     (long long)s->content.sent);
            smtp_delivery_trace(s->d, ">", s->peer, note, strlen(note));
            smtp_delivery_trace(s->d, ">", s->peer, ".", 1);
        }
        s->state = S_DOT;
        bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
        set_timeouts(s, var_smtp_data_done_timeout, var_smtp_data_xfer_timeout);
    }
    return 0;
}

static int start_xfer(struct smtp_sess *s)
{
    struct smtp_delivery *d = s->d;

    s->state = S_XFER;
    smtp_content_init(&s->content, d->fd, d->qf.content_offset, d->qf.content_size);
    set_timeouts(s, 0, var_smtp_data_xfer_timeout);
    bufferevent_setwatermark(s->bev, EV_WRITE, XFER_LOW_WATER, 0);
    return fill_content(s);
}

static int mail_reply(struct smtp_sess *s, int pipelining)
{
    int code = s->rp.reply.code;

    s->mail_replied = 1;
    s->mail_ok = code / 100 == 2;
    if (!s->mail_ok)
        fail_tx_reply(s, 0, "MAIL FROM command");
    if (code == 421)
        s->broken = 1;
    if (!pipelining) {
        if (!s->mail_ok)
            return end_tx(s, 1, 1);
        send_next_rcpt(s);
        expect_reply(s, var_smtp_rcpt_timeout);
        return 0;
    }
    if (s->broken)
        return end_tx(s, 0, 0);
    expect_reply(s, var_smtp_rcpt_timeout);
    return 0;
}

static int rcpt_reply(struct smtp_sess *s, int pipelining)
{
    struct smtp_delivery *d = s->d;
    int code = s->rp.reply.code;
    size_t i = next_tx_rcpt(s, s->reply_pos);

    if (i >= d->n_rcpts)
        msg_panic("rcpt_reply: no recipient for the reply");
    s->reply_pos = i + 1;
    s->n_replied++;
    if (s->mail_ok && d->rcpts[i].status == SMTP_RCPT_PENDING) {
        if (code / 100 == 2) {
            d->rcpts[i].accepted = 1;
            s->n_accepted++;
        } else {
            char reason[PROTO_TEXT_MAX + 1], dsn[DSN_SIZE];
            enum smtp_rcpt_status status = failure_status(code);

            said_text(s, "RCPT TO command", reason, sizeof(reason));
            reply_dsn(s, status, dsn);
            smtp_delivery_rcpt_done(d, i, status, dsn, reason, s->relay);
        }
    }
    if (code == 421) {
        /* The server is going away: the whole transaction is deferred. */
        s->broken = 1;
        fail_tx_reply(s, 0, "RCPT TO command");
        return end_tx(s, 0, 0);
    }
    if (pipelining) {
        if (s->n_replied == s->n_tx)
            expect_reply(s, var_smtp_data_init_timeout);
        return 0;
    }
    if (s->n_replied < s->n_tx) {
        send_next_rcpt(s);
        return 0;
    }
    if (s->n_accepted == 0)
        return end_tx(s, 1, 1);
    send_data(s);
    expect_reply(s, var_smtp_data_init_timeout);
    return 0;
}

static int data_reply(struct smtp_sess *s)
{
    int code = s->rp.reply.code;

    if (!s->data_sent)
        return protocol_error(s, "reply to a command that was not sent");
    if (code == 354) {
        if (s->n_accepted > 0)
            return start_xfer(s);
        /* The server must refuse DATA without recipients; do not send. */
        s->broken = 1;
        return end_tx(s, 0, 0);
    }
    if (s->n_accepted > 0)
        fail_tx_reply(s, 1, "DATA command");
    if (code == 421 || code / 100 == 2 || code / 100 == 3)
        s->broken = 1;
    return end_tx(s, 1, 1);
}

static int trans_reply(struct smtp_sess *s)
{
    int pipelining = (s->ehlo.flags & SMTP_EXT_PIPELINING) != 0;

    if (!s->mail_replied)
        return mail_reply(s, pipelining);
    if (s->n_replied < s->n_sent || (pipelining && s->n_replied < s->n_tx))
        return rcpt_reply(s, pipelining);
    return data_reply(s);
}

static int dot_reply(struct smtp_sess *s)
{
    struct smtp_delivery *d = s->d;
    int code = s->rp.reply.code;

    if (code / 100 == 2) {
        char reply[PROTO_TEXT_MAX + 1], dsn[DSN_SIZE];

        reply_text(s, reply, sizeof(reply));
        reply_dsn(s, SMTP_RCPT_SENT, dsn);
        for (size_t i = 0; i < d->n_rcpts; i++)
            if (d->rcpts[i].in_tx && d->rcpts[i].accepted)
                smtp_delivery_rcpt_done(d, i, SMTP_RCPT_SENT, dsn, reply, s->relay);
    } else {
        fail_tx_reply(s, 1, "end of DATA command");
    }
    if (code == 421 || code / 100 == 3)
        s->broken = 1;
    return end_tx(s, 1, 0);
}

/* ---- handshake ---- */

static const char *helo_name(void)
{
    if (var_smtp_helo_name && var_smtp_helo_name[0])
        return var_smtp_helo_name;
    if (var_myhostname && var_myhostname[0])
        return var_myhostname;
    return "localhost";
}

static int handshake_done(struct smtp_sess *s)
{
    struct smtp_delivery *d = s->d;

    gettimeofday(&d->t_ready, NULL);
    smtp_connect_cancel(d);     /* no other address will be needed */
    return begin_tx(s);
}

static int greeting_reply(struct smtp_sess *s)
{
    if (s->rp.reply.code / 100 != 2)
        return handshake_refused(s, NULL);
    s->state = S_EHLO;
    send_cmd(s, "EHLO %s", helo_name());
    expect_reply(s, var_smtp_helo_timeout);
    return 0;
}

static int ehlo_reply(struct smtp_sess *s)
{
    int code = s->rp.reply.code;

    if (code == 250) {
        (void)smtp_ehlo_parse(&s->rp.reply, &s->ehlo);
        return handshake_done(s);
    }
    if (code / 100 == 5) {
        s->state = S_HELO;
        send_cmd(s, "HELO %s", helo_name());
        expect_reply(s, var_smtp_helo_timeout);
        return 0;
    }
    return handshake_refused(s, "EHLO command");
}

static int helo_reply(struct smtp_sess *s)
{
    if (s->rp.reply.code / 100 != 2)
        return handshake_refused(s, "HELO command");
    memset(&s->ehlo, 0, sizeof(s->ehlo));
    return handshake_done(s);
}

/* ---- detached states ---- */

static int rset_reply(struct smtp_sess *s)
{
    char *key = s->rset_key;

    s->rset_key = NULL;
    if (s->rp.reply.code / 100 != 2) {
        xfree(key);
        smtp_session_quit(s);
        return -1;
    }
    s->state = S_IDLE;
    set_timeouts(s, 0, 0);
    smtp_cache_put(s, key);
    xfree(key);
    return -1;
}

static int handle_reply(struct smtp_sess *s)
{
    switch (s->state) {
    case S_GREETING:
        return greeting_reply(s);
    case S_EHLO:
        return ehlo_reply(s);
    case S_HELO:
        return helo_reply(s);
    case S_TRANS:
        return trans_reply(s);
    case S_DOT:
        return dot_reply(s);
    case S_RSET:
        return rset_reply(s);
    case S_QUIT:
        sess_free(s);
        return -1;
    case S_XFER:
        s->broken = 1;
        return protocol_error(s, "unexpected reply during the message body");
    default:
        /* IDLE: e.g. "421 timeout" before the server hangs up. */
        return session_failed(s, "unexpected reply while idle", DSN_BAD_CONNECTION);
    }
}

/* ---- libevent callbacks ---- */

static void on_read(struct bufferevent *bev, void *arg)
{
    struct smtp_sess *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char line[SMTP_REPLY_LINE_MAX + 1];

    for (;;) {
        size_t eol_len = 0;
        struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
        size_t len;
        int r;

        if (eol.pos < 0) {
            if (evbuffer_get_length(in) > SMTP_REPLY_LINE_MAX + 2)
                (void)protocol_error(s, "reply line too long");
            return;
        }
        len = (size_t)eol.pos;
        if (len > SMTP_REPLY_LINE_MAX) {
            (void)protocol_error(s, "reply line too long");
            return;
        }
        evbuffer_remove(in, line, len);
        evbuffer_drain(in, eol_len);
        line[len] = 0;
        if (s->d)
            smtp_delivery_trace(s->d, "<", s->peer, line, len);
        if (s->rp_done) {
            smtp_reply_reset(&s->rp);
            s->rp_done = 0;
        }
        r = smtp_reply_feed(&s->rp, line, len);
        if (r < 0) {
            char what[SMTP_REPLY_ERR_MAX];

            smtp_fmt(what, sizeof(what), "%s", s->rp.err);
            (void)protocol_error(s, what);
            return;
        }
        if (r == 0)
            continue;
        s->rp_done = 1;
        if (handle_reply(s) < 0)
            return;
    }
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct smtp_sess *s = arg;

    (void)bev;
    if (s->state == S_XFER)
        (void)fill_content(s);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct smtp_sess *s = arg;

    (void)bev;
    if (what & BEV_EVENT_TIMEOUT) {
        if (s->state == S_QUIT) {
            sess_free(s);
            return;
        }
        (void)lost_connection(s, 1);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (s->state == S_QUIT) {
            sess_free(s);
            return;
        }
        (void)lost_connection(s, 0);
    }
}

/* ---- public ---- */

void smtp_session_connected(struct smtp_delivery *d, struct bufferevent *bev,
                            const char *host, const char *addr, int port)
{
    struct smtp_sess *s = xcalloc(1, sizeof(*s));

    s->bev = bev;
    smtp_fmt(s->host, sizeof(s->host), "%s", host);
    smtp_fmt(s->addr, sizeof(s->addr), "%s", addr);
    s->port = port;
    smtp_fmt(s->peer, sizeof(s->peer), "%s[%s]", host, addr);
    smtp_fmt(s->relay, sizeof(s->relay), "%s[%s]:%d", host, addr, port);
    gettimeofday(&s->opened, NULL);
    smtp_reply_init(&s->rp);
    s->state = S_GREETING;
    s->d = d;
    d->sess = s;
    d->reused = 0;
    bufferevent_setcb(bev, on_read, on_write, on_event, s);
    expect_reply(s, var_smtp_helo_timeout);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

void smtp_session_reuse(struct smtp_sess *s, struct smtp_delivery *d)
{
    s->d = d;
    d->sess = s;
    d->reused = 1;
    smtp_delivery_note(d, "reusing the connection to %s", s->relay);
    gettimeofday(&d->t_ready, NULL);
    (void)begin_tx(s);
}

void smtp_session_abort(struct smtp_sess *s)
{
    sess_free(s);
}

int smtp_session_dot_sent(const struct smtp_sess *s)
{
    return s->state == S_DOT && evbuffer_get_length(bufferevent_get_output(s->bev)) == 0;
}

void smtp_session_quit(struct smtp_sess *s)
{
    if (s->cache.cached)
        smtp_cache_remove(s);
    s->d = NULL;
    s->state = S_QUIT;
    send_cmd(s, "QUIT");
    expect_reply(s, var_smtp_quit_timeout);
}

void smtp_session_quit_now(struct smtp_sess *s)
{
    int fd = bufferevent_getfd(s->bev);

    if (fd >= 0 && evbuffer_get_length(bufferevent_get_output(s->bev)) == 0
        && (s->state == S_IDLE || s->state == S_RSET))
        (void)send(fd, "QUIT\r\n", 6, MSG_DONTWAIT | MSG_NOSIGNAL);
    sess_free(s);
}
