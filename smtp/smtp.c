/*
 * smtp.c - the smtp delivery agent: main(), qmgr requests and results.
 *
 * qmgr connects to private/smtp and sends one delivery request at a time
 * (mail_proto.h):
 *
 *   req=deliver queue_id queue_file nexthop [verbose] rcpt="INDEX ADDRESS"...
 *
 * For each request the queue file is opened read-only (the path is relative
 * to queue_directory, our cwd), the envelope read, and the message sent to
 * the nexthop over a cached session or a new one (smtp_connect.c,
 * smtp_session.c). When every recipient has its status for this attempt,
 * one log line per recipient is written, qmgr gets one event=rcpt per
 * recipient and event=done, and the connection is ready for the next
 * request. A queue file that vanished or is damaged defers every recipient
 * (DSN_TEMP_SYSTEM); qmgr decides what to do with the file.
 *
 * The delivery log line (one per recipient per attempt) is delivery_log()'s
 * (lib/mail/delivery_log.h), with this agent's times:
 *
 *   a      arrival until this agent received the request (time in the
 *          queue and in qmgr: Postfix's a+b together);
 *   b      request received until the connection was sought (reading the
 *          queue file; also any cached-session retry);
 *   c      connection setup: DNS, connect, greeting, EHLO (0 when a cached
 *          session was reused; everything after b when no connection
 *          became ready);
 *   d      transmission: MAIL FROM through the last reply.
 *   relay=none when no connection was made.
 *
 * If the qmgr connection closes during a delivery (qmgr cancels a delivery
 * by half-closing it: withdraw), the delivery is abandoned while the final
 * dot has not left this process: its SMTP connection is closed, so the
 * server discards the message, and nothing is reported. Once the dot has
 * been written the outcome is the server's: the delivery finishes, is
 * logged and reported, then the connection closes. qmgr counts every
 * recipient without an event as not attempted (cancel) or deferred (the
 * agent failed).
 *
 * With verbose, every command sent, reply line received and connection
 * step also goes to qmgr as event=trace line="> MAIL FROM:<a@b>" (or
 * "< 250 2.1.0 Ok", "connecting to host[addr]:port"), before the results.
 *
 * Memory: a qmgr connection (struct smtp_qmgr_conn) owns its bufferevent, its
 * attr_msg and at most one delivery; a delivery owns its recipients, queue
 * file and session/attempt.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "alloc.h"
#include "attr.h"
#include "delivery_log.h"
#include "dsn.h"
#include "errtext.h"
#include "mail_proto.h"
#include "msg.h"
#include "params.h"
#include "queue_dir.h"
#include "server.h"
#include "smtp.h"


struct smtp_qmgr_conn {
    struct bufferevent *bev;
    struct attr_msg msg;
    struct smtp_delivery *d;    /* the delivery in progress, or NULL */
    int in_loop;                /* inside client_process() */
    int closing;                /* close once the output is written */
    struct smtp_qmgr_conn *prev, *next;
};

static struct smtp_qmgr_conn *clients;

static void client_process(struct smtp_qmgr_conn *c);
static void client_close(struct smtp_qmgr_conn *c);

void smtp_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* ---- time ---- */

double smtp_elapsed(const struct timeval *from, const struct timeval *to)
{
    double v = (double)(to->tv_sec - from->tv_sec)
        + (double)(to->tv_usec - from->tv_usec) / 1e6;

    return v > 0 ? v : 0;
}

/* ---- results ---- */

/* The status on the wire (event=rcpt). */
static const char *status_value(enum smtp_rcpt_status status)
{
    switch (status) {
    case SMTP_RCPT_SENT:
        return SMTP_STATUS_SENT;
    case SMTP_RCPT_BOUNCED:
        return SMTP_STATUS_BOUNCED;
    default:
        return SMTP_STATUS_DEFERRED;
    }
}

/* The status in the delivery log line. */
static const char *log_status(enum smtp_rcpt_status status)
{
    switch (status) {
    case SMTP_RCPT_SENT:
        return DELIVERY_STATUS_SENT;
    case SMTP_RCPT_BOUNCED:
        return DELIVERY_STATUS_BOUNCED;
    default:
        return DELIVERY_STATUS_DEFERRED;
    }
}

void smtp_delivery_rcpt_done(struct smtp_delivery *d, size_t i,
                             enum smtp_rcpt_status status, const char *dsn,
                             const char *reason, const char *relay)
{
    struct smtp_rcpt *r = &d->rcpts[i];

    if (r->status != SMTP_RCPT_PENDING)
        return;
    r->status = status;
    smtp_fmt(r->dsn, sizeof(r->dsn), "%s", dsn);
    r->reason = xstrdup(reason);
    smtp_fmt(r->relay, sizeof(r->relay), "%s", relay ? relay : PROTO_RELAY_NONE);
    d->n_pending--;
}

void smtp_delivery_fail_pending(struct smtp_delivery *d, enum smtp_rcpt_status status,
                                const char *dsn, const char *reason, const char *relay)
{
    for (size_t i = 0; i < d->n_rcpts && d->n_pending > 0; i++)
        smtp_delivery_rcpt_done(d, i, status, dsn, reason, relay);
}

/* event=trace line=TEXT to qmgr (verbose deliveries only). */
static void send_trace(const struct smtp_delivery *d, const char *text)
{
    struct proto_out out;

    proto_begin(&out, bufferevent_get_output(d->client->bev), &proto_smtp_trace_event);
    proto_put_str(&out, MAIL_ATTR_EVENT, SMTP_EVENT_TRACE);
    proto_put_text(&out, MAIL_ATTR_LINE, text);
    proto_end(&out);
}

void smtp_delivery_trace(const struct smtp_delivery *d, const char *dir, const char *relay,
                         const char *text, size_t len)
{
    int n = len > MSG_LINE_MAX ? MSG_LINE_MAX : (int)len;
    char line[PROTO_TEXT_MAX + 1];

    if (d->verbose) {
        msg_info("%s: %s %s: %.*s", d->queue_id, dir, relay, n, text);
        /* text may hold a NUL from the network: cut there, as the log does */
        smtp_fmt(line, sizeof(line), "%s %.*s", dir, n, text);
        send_trace(d, line);
    } else if (msg_verbose) {
        msg_debug("%s: %s %s: %.*s", d->queue_id, dir, relay, n, text);
    }
}

void smtp_delivery_note(const struct smtp_delivery *d, const char *fmt, ...)
{
    char text[PROTO_TEXT_MAX + 1];
    va_list ap;

    if (!d->verbose && !msg_verbose)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (d->verbose) {
        msg_info("%s: %s", d->queue_id, text);
        send_trace(d, text);
    } else {
        msg_debug("%s: %s", d->queue_id, text);
    }
}

/*
 * The delivery log line of one recipient. Without a queue file the message
 * is taken to arrive with the request; a connection that never became
 * ready counts its time in c (data_start = done).
 */
static void log_rcpt(const struct smtp_delivery *d, const struct smtp_rcpt *r,
                     const struct timeval *now)
{
    int have_file = d->fd >= 0;
    int ready = d->t_ready.tv_sec != 0 || d->t_ready.tv_usec != 0;
    struct delivery_log_entry entry = {
        .queue_id = d->queue_id,
        .sender = have_file ? d->qf.sender : "",
        .recipient = r->address,
        .relay = r->relay,
        .size = have_file ? (long long)d->qf.content_size : 0,
        .message_id = have_file ? d->qf.message_id : NULL,
        .dsn = r->dsn,
        .status = log_status(r->status),
        .text = r->reason,
        .arrival = have_file ? d->qf.arrival : d->t_request,
        .agent_start = d->t_request,
        .connect_start = d->t_setup,
        .data_start = ready ? d->t_ready : *now,
        .done = *now,
    };

    delivery_log(&entry);
}

static void delivery_free(struct smtp_delivery *d)
{
    for (size_t i = 0; i < d->n_rcpts; i++) {
        xfree(d->rcpts[i].address);
        xfree(d->rcpts[i].reason);
    }
    xfree(d->rcpts);
    if (d->fd >= 0) {
        close(d->fd);
        queue_file_free(&d->qf);
    }
    xfree(d->queue_id);
    xfree(d->nexthop);
    xfree(d);
}

void smtp_delivery_finish(struct smtp_delivery *d)
{
    struct smtp_qmgr_conn *c = d->client;
    struct evbuffer *buf = bufferevent_get_output(c->bev);
    struct proto_out out;
    struct timeval now;

    smtp_connect_cancel(d);
    if (d->sess)
        msg_panic("smtp_delivery_finish: %s: session still attached", d->queue_id);
    smtp_delivery_fail_pending(d, SMTP_RCPT_DEFERRED, DSN_TEMP_SYSTEM,
                               "delivery ended without a result", NULL);
    gettimeofday(&now, NULL);
    for (size_t i = 0; i < d->n_rcpts; i++) {
        const struct smtp_rcpt *r = &d->rcpts[i];

        log_rcpt(d, r, &now);
        proto_begin(&out, buf, &proto_smtp_rcpt_event);
        proto_put_str(&out, MAIL_ATTR_EVENT, SMTP_EVENT_RCPT);
        proto_put_long(&out, MAIL_ATTR_INDEX, r->index);
        proto_put_str(&out, MAIL_ATTR_STATUS, status_value(r->status));
        proto_put_str(&out, MAIL_ATTR_DSN, r->dsn);
        proto_put_text(&out, MAIL_ATTR_RELAY, r->relay);
        proto_put_text(&out, MAIL_ATTR_REPLY, r->reason);
        proto_end(&out);
    }
    proto_begin(&out, buf, &proto_smtp_done_event);
    proto_put_str(&out, MAIL_ATTR_EVENT, SMTP_EVENT_DONE);
    proto_put_str(&out, MAIL_ATTR_QUEUE_ID, d->queue_id);
    proto_end(&out);
    c->d = NULL;
    delivery_free(d);
    if (!c->in_loop)
        client_process(c);
}

/* qmgr went away in the middle: drop everything, report nothing. */
static void delivery_abandon(struct smtp_delivery *d)
{
    msg_info("%s: delivery to %s abandoned before the end of data: the qmgr "
             "connection closed", d->queue_id, d->nexthop);
    smtp_connect_cancel(d);
    if (d->sess)
        smtp_session_abort(d->sess);
    delivery_free(d);
}

/* May the delivery still be abandoned without the server taking the message? */
static int delivery_abandonable(const struct smtp_delivery *d)
{
    return d->sess == NULL || !smtp_session_dot_sent(d->sess);
}

/* ---- requests ---- */

/* A relative path below queue_directory without ".." components. */
static int queue_path_ok(const char *path)
{
    const char *p = path;

    if (path[0] == 0 || path[0] == '/')
        return 0;
    for (;;) {
        if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == 0))
            return 0;
        p = strchr(p, '/');
        if (p == NULL)
            return 1;
        p++;
    }
}

/* An address we can put between < and > on a command line. */
static int address_ok(const char *addr)
{
    for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

static int parse_rcpts(struct smtp_delivery *d, const struct attr_msg *m, char *err,
                       size_t errlen)
{
    size_t n = attr_count(m, MAIL_ATTR_RCPT);

    if (n == 0) {
        errtext_set(err, errlen, "request without %s", MAIL_ATTR_RCPT);
        return -1;
    }
    d->rcpts = xcalloc(n, sizeof(*d->rcpts));
    for (size_t i = 0; i < n; i++) {
        const char *v = attr_find_nth(m, MAIL_ATTR_RCPT, i)->value;
        char *end;
        long idx;

        errno = 0;
        idx = strtol(v, &end, 10);
        if (v[0] < '0' || v[0] > '9' || errno != 0 || idx < 0 || *end != ' '
            || end[1] == 0) {
            errtext_set(err, errlen, "malformed %s attribute", MAIL_ATTR_RCPT);
            return -1;
        }
        d->rcpts[i].index = idx;
        d->rcpts[i].address = xstrdup(end + 1);
        d->n_rcpts++;
        d->n_pending++;
    }
    return 0;
}

/* Build a delivery from the request; NULL (err filled) on a protocol error. */
static struct smtp_delivery *parse_request(struct smtp_qmgr_conn *c, char *err,
                                           size_t errlen)
{
    const struct attr_msg *m = &c->msg;
    const char *req, *id, *path, *nexthop;
    struct smtp_delivery *d;

    if (proto_check(m, &proto_smtp_deliver, err, errlen) < 0)
        return NULL;
    req = attr_get(m, MAIL_ATTR_REQ);
    id = attr_get(m, MAIL_ATTR_QUEUE_ID);
    path = attr_get(m, MAIL_ATTR_QUEUE_FILE);
    nexthop = attr_get(m, MAIL_ATTR_NEXTHOP);
    if (strcmp(req, SMTP_REQ_DELIVER) != 0) {
        errtext_set(err, errlen, "unknown request \"%.64s\"", req);
        return NULL;
    }
    if (!queue_id_valid(id) || !queue_path_ok(path) || nexthop[0] == 0) {
        errtext_set(err, errlen, "bad %s, %s or %s", MAIL_ATTR_QUEUE_ID,
                    MAIL_ATTR_QUEUE_FILE, MAIL_ATTR_NEXTHOP);
        return NULL;
    }
    d = xcalloc(1, sizeof(*d));
    d->fd = -1;
    d->client = c;
    d->queue_id = xstrdup(id);
    d->nexthop = xstrdup(nexthop);
    d->verbose = attr_find(m, MAIL_ATTR_VERBOSE) != NULL;
    gettimeofday(&d->t_request, NULL);
    if (parse_rcpts(d, m, err, errlen) < 0) {
        delivery_free(d);
        return NULL;
    }
    return d;
}

/* Open and check the queue file; on failure every recipient is deferred. */
static void open_queue_file(struct smtp_delivery *d, const char *path)
{
    char err[QF_ERR_MAX], reason[PROTO_TEXT_MAX + 1];

    d->fd = queue_file_open(path, 0, &d->qf, err, sizeof(err));
    if (d->fd < 0) {
        smtp_fmt(reason, sizeof(reason), "cannot use queue file %s: %s", path, err);
        msg_warn("%s: %s", d->queue_id, reason);
        smtp_delivery_fail_pending(d, SMTP_RCPT_DEFERRED, DSN_TEMP_SYSTEM, reason, NULL);
        return;
    }
    if (!address_ok(d->qf.sender)) {
        smtp_delivery_fail_pending(d, SMTP_RCPT_DEFERRED, DSN_TEMP_SYSTEM,
                                   "malformed sender address in queue file", NULL);
        return;
    }
    for (size_t i = 0; i < d->n_rcpts; i++) {
        struct smtp_rcpt *r = &d->rcpts[i];

        if ((size_t)r->index >= d->qf.rcpt_count
            || strcmp(d->qf.rcpts[r->index].address, r->address) != 0)
            smtp_delivery_rcpt_done(d, i, SMTP_RCPT_DEFERRED, DSN_TEMP_SYSTEM,
                                    "recipient does not match the queue file", NULL);
        else if (!address_ok(r->address))
            smtp_delivery_rcpt_done(d, i, SMTP_RCPT_BOUNCED, DSN_BAD_ADDRESS,
                                    "bad recipient address syntax", NULL);
    }
}

static void start_delivery(struct smtp_delivery *d, const char *path)
{
    struct smtp_sess *s;

    if (d->verbose)
        msg_info("%s: delivery to %s requested for %zu recipient(s)", d->queue_id,
                 d->nexthop, d->n_rcpts);
    open_queue_file(d, path);
    if (d->n_pending == 0) {
        smtp_delivery_finish(d);
        return;
    }
    gettimeofday(&d->t_setup, NULL);
    s = smtp_cache_take(d->nexthop);
    if (s)
        smtp_session_reuse(s, d);
    else
        smtp_connect_start(d);
}

/* ---- qmgr connections ---- */

static void client_close_when_flushed(struct smtp_qmgr_conn *c)
{
    c->closing = 1;
    bufferevent_disable(c->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        client_close(c);
}

/* Handle buffered requests while no delivery is in progress. */
static void client_process(struct smtp_qmgr_conn *c)
{
    char err[256];

    c->in_loop = 1;
    while (c->d == NULL && !c->closing && !server_stopping()) {
        struct evbuffer *in = bufferevent_get_input(c->bev);
        struct smtp_delivery *d;
        char *path;
        int r = attr_read_evbuffer(in, &c->msg, err, sizeof(err));

        if (r == 0)
            break;
        if (r < 0 || (d = parse_request(c, err, sizeof(err))) == NULL) {
            msg_warn("qmgr protocol error: %s", err);
            client_close(c);
            return;
        }
        path = xstrdup(attr_get(&c->msg, MAIL_ATTR_QUEUE_FILE));
        attr_msg_reset(&c->msg);
        c->d = d;
        start_delivery(d, path);
        xfree(path);
    }
    c->in_loop = 0;
    if (c->d == NULL && !c->closing && server_stopping())
        client_close_when_flushed(c);
}

static void client_close(struct smtp_qmgr_conn *c)
{
    if (c->d)
        delivery_abandon(c->d);
    c->d = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    bufferevent_free(c->bev);
    attr_msg_free(&c->msg);
    xfree(c);
    server_session_end();
}

static void on_client_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    client_process(arg);
}

static void on_client_write(struct bufferevent *bev, void *arg)
{
    struct smtp_qmgr_conn *c = arg;

    if (c->closing && c->d == NULL && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        client_close(c);
}

/*
 * EOF from qmgr during a delivery is how qmgr cancels it (withdraw: it
 * half-closes). Before the final dot has left, the delivery is abandoned
 * (the SMTP connection closes, the server discards the message); after
 * it, the outcome is decided: the delivery finishes and is reported, then
 * the connection closes.
 */
static void on_client_event(struct bufferevent *bev, short what, void *arg)
{
    struct smtp_qmgr_conn *c = arg;

    (void)bev;
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && c->d != NULL
        && !delivery_abandonable(c->d)) {
        msg_info("%s: qmgr closed the connection after the end of data was sent: "
                 "finishing the delivery", c->d->queue_id);
        c->closing = 1;
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        client_close(c);
}

static void smtp_accept(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    struct smtp_qmgr_conn *c = xcalloc(1, sizeof(*c));

    (void)addr;
    (void)addrlen;
    c->bev = bufferevent_socket_new(server_event_base(), fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL)
        msg_fatal("cannot allocate a bufferevent");
    attr_msg_init(&c->msg);
    c->next = clients;
    if (clients)
        clients->prev = c;
    clients = c;
    bufferevent_setcb(c->bev, on_client_read, on_client_write, on_client_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* Graceful stop: no new requests; deliveries in progress finish first. */
static void smtp_stop(void)
{
    struct smtp_qmgr_conn *c, *next;

    smtp_cache_flush();
    for (c = clients; c; c = next) {
        next = c->next;
        if (c->d == NULL && !c->closing)
            client_close_when_flushed(c);
    }
}

static const char smtp_help[] =
    "NAME\n"
    "    smtp - Postern SMTP client (delivery agent)\n"
    "\n"
    "SYNOPSIS\n"
    "    smtp -c DIR -n SERVICE -t unix [-o NAME=VALUE]... [-v]\n"
    "\n"
    "DESCRIPTION\n"
    "    Delivers the messages qmgr hands it over private/smtp, many at once in\n"
    "    one event loop: resolves the next hop (host[:port]: its MX hosts in\n"
    "    preference order, or the host itself when it has no MX; [host]:port:\n"
    "    that host, no MX lookup) with asynchronous DNS that never trusts an\n"
    "    answer past its TTL, skips MX hosts that are this host (loop detection:\n"
    "    myhostname, local interfaces, proxy_interfaces), bounces mail for a\n"
    "    domain with a null MX or that does not exist, tries each address in\n"
    "    turn, speaks SMTP with client-side pipelining, streams the content from the\n"
    "    queue file with dot-stuffing, reuses connections for the next message\n"
    "    to the same next hop, and reports each recipient's outcome (sent,\n"
    "    deferred, bounced) with the server's reply. Logs one line per recipient\n"
    "    per attempt. Parameters: smtp_helo_name, smtp_*_timeout,\n"
    "    smtp_connection_cache_time_limit, smtp_connection_reuse_time_limit,\n"
    "    dns_servers, dns_timeout, dns_tries, myhostname, proxy_interfaces.\n";

int main(int argc, char **argv)
{
    static const struct server_def def = {
        .name = "smtp",
        .init = smtp_connect_init,
        .accept = smtp_accept,
        .stop = smtp_stop,
        .help = smtp_help,
    };

    server_main(argc, argv, &def);
}
