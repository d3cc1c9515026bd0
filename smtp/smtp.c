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
 * (4.3.0); qmgr decides what to do with the file.
 *
 * The delivery log line (one per recipient per attempt):
 *
 *   ID: from=<s>, to=<r>, relay=host[ip]:port, delay=T, delays=a/b/c/d,
 *       size=N, message-id=<x>, dsn=X.Y.Z, status=S (reply or reason)
 *
 *   delay  seconds from the message's arrival to this log line;
 *   a      arrival until this agent received the request (time in the
 *          queue and in qmgr: Postfix's a+b together);
 *   b      request received until the connection was sought (reading the
 *          queue file; also any cached-session retry);
 *   c      connection setup: DNS, connect, greeting, EHLO (0 when a cached
 *          session was reused);
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
#include "mail_proto.h"
#include "msg.h"
#include "params.h"
#include "queue_dir.h"
#include "server.h"
#include "smtp.h"

#define REASON_MAX 1024

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

static const char *fmt_delay(double v, char *buf, size_t len)
{
    if (v < 0.005)
        smtp_fmt(buf, len, "0");
    else
        smtp_fmt(buf, len, "%.2f", v);
    return buf;
}

static int time_set(const struct timeval *tv)
{
    return tv->tv_sec != 0 || tv->tv_usec != 0;
}

/* ---- results ---- */

static const char *status_name(enum smtp_rcpt_status status)
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
    smtp_fmt(r->relay, sizeof(r->relay), "%s", relay ? relay : "none");
    d->n_pending--;
}

void smtp_delivery_fail_pending(struct smtp_delivery *d, enum smtp_rcpt_status status,
                                const char *dsn, const char *reason, const char *relay)
{
    for (size_t i = 0; i < d->n_rcpts && d->n_pending > 0; i++)
        smtp_delivery_rcpt_done(d, i, status, dsn, reason, relay);
}

/* Text attributes may not hold CR, LF or NUL. */
static void put_clean(struct evbuffer *out, const char *name, const char *value)
{
    char buf[REASON_MAX];
    size_t i;

    for (i = 0; value[i] && i < sizeof(buf) - 1; i++)
        buf[i] = value[i] == '\r' || value[i] == '\n' ? ' ' : value[i];
    buf[i] = 0;
    attr_put_str(out, name, buf);
}

/* event=trace line=TEXT to qmgr (verbose deliveries only). */
static void send_trace(const struct smtp_delivery *d, const char *text)
{
    struct evbuffer *out = bufferevent_get_output(d->client->bev);

    attr_put_str(out, "event", QMGR_EVENT_TRACE);
    put_clean(out, "line", text);
    attr_put_end(out);
}

void smtp_delivery_trace(const struct smtp_delivery *d, const char *dir, const char *relay,
                         const char *text, size_t len)
{
    int n = len > MSG_LINE_MAX ? MSG_LINE_MAX : (int)len;
    char line[REASON_MAX];

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
    char text[REASON_MAX];
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

static void log_rcpt(const struct smtp_delivery *d, const struct smtp_rcpt *r,
                     const struct timeval *now)
{
    struct timeval arrival = d->fd >= 0 ? d->qf.arrival : d->t_request;
    struct timeval setup = time_set(&d->t_setup) ? d->t_setup : d->t_request;
    struct timeval ready = time_set(&d->t_ready) ? d->t_ready : *now;
    char total[32], a[32], b[32], c[32], dd[32];
    const char *mid = d->fd >= 0 ? d->qf.message_id : "";
    const char *open = mid[0] == '<' ? "" : "<", *close = mid[0] == '<' ? "" : ">";

    msg_info("%s: from=<%s>, to=<%s>, relay=%s, delay=%s, delays=%s/%s/%s/%s, "
             "size=%lld, message-id=%s%s%s, dsn=%s, status=%s (%s)",
             d->queue_id, d->fd >= 0 ? d->qf.sender : "", r->address, r->relay,
             fmt_delay(smtp_elapsed(&arrival, now), total, sizeof(total)),
             fmt_delay(smtp_elapsed(&arrival, &d->t_request), a, sizeof(a)),
             fmt_delay(smtp_elapsed(&d->t_request, &setup), b, sizeof(b)),
             fmt_delay(smtp_elapsed(&setup, &ready), c, sizeof(c)),
             fmt_delay(smtp_elapsed(&ready, now), dd, sizeof(dd)),
             d->fd >= 0 ? (long long)d->qf.content_size : 0LL, open, mid, close,
             r->dsn, status_name(r->status), r->reason);
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
    struct evbuffer *out = bufferevent_get_output(c->bev);
    struct timeval now;

    smtp_connect_cancel(d);
    if (d->sess)
        msg_panic("smtp_delivery_finish: %s: session still attached", d->queue_id);
    smtp_delivery_fail_pending(d, SMTP_RCPT_DEFERRED, "4.3.0",
                               "delivery ended without a result", NULL);
    gettimeofday(&now, NULL);
    for (size_t i = 0; i < d->n_rcpts; i++) {
        const struct smtp_rcpt *r = &d->rcpts[i];

        log_rcpt(d, r, &now);
        attr_put_str(out, "event", SMTP_EVENT_RCPT);
        attr_put_long(out, "index", r->index);
        attr_put_str(out, "status", status_name(r->status));
        attr_put_str(out, "dsn", r->dsn);
        put_clean(out, "relay", r->relay);
        put_clean(out, "reply", r->reason);
        attr_put_end(out);
    }
    attr_put_str(out, "event", SMTP_EVENT_DONE);
    attr_put_str(out, "queue_id", d->queue_id);
    attr_put_end(out);
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
    size_t n = attr_count(m, "rcpt");

    if (n == 0) {
        smtp_fmt(err, errlen, "request without rcpt");
        return -1;
    }
    d->rcpts = xcalloc(n, sizeof(*d->rcpts));
    for (size_t i = 0; i < n; i++) {
        const char *v = attr_find_nth(m, "rcpt", i)->value;
        char *end;
        long idx;

        errno = 0;
        idx = strtol(v, &end, 10);
        if (v[0] < '0' || v[0] > '9' || errno != 0 || idx < 0 || *end != ' '
            || end[1] == 0) {
            smtp_fmt(err, errlen, "malformed rcpt attribute");
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
    static const char *const required[] = { "req", "queue_id", "queue_file", "nexthop",
                                            NULL };
    static const char *const optional[] = { "verbose", NULL };
    static const char *const repeated[] = { "rcpt", NULL };
    const struct attr_msg *m = &c->msg;
    struct smtp_delivery *d;

    if (attr_check(m, required, optional, repeated, err, errlen) < 0)
        return NULL;
    if (strcmp(attr_get(m, "req"), SMTP_REQ_DELIVER) != 0) {
        smtp_fmt(err, errlen, "unknown request \"%.64s\"", attr_get(m, "req"));
        return NULL;
    }
    if (!queue_id_valid(attr_get(m, "queue_id")) || !queue_path_ok(attr_get(m, "queue_file"))
        || attr_get(m, "nexthop")[0] == 0) {
        smtp_fmt(err, errlen, "bad queue_id, queue_file or nexthop");
        return NULL;
    }
    d = xcalloc(1, sizeof(*d));
    d->fd = -1;
    d->client = c;
    d->queue_id = xstrdup(attr_get(m, "queue_id"));
    d->nexthop = xstrdup(attr_get(m, "nexthop"));
    d->verbose = attr_find(m, "verbose") != NULL;
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
    char err[QF_ERR_MAX], reason[REASON_MAX];

    d->fd = queue_file_open(path, 0, &d->qf, err, sizeof(err));
    if (d->fd < 0) {
        smtp_fmt(reason, sizeof(reason), "cannot use queue file %s: %s", path, err);
        msg_warn("%s: %s", d->queue_id, reason);
        smtp_delivery_fail_pending(d, SMTP_RCPT_DEFERRED, "4.3.0", reason, NULL);
        return;
    }
    if (!address_ok(d->qf.sender)) {
        smtp_delivery_fail_pending(d, SMTP_RCPT_DEFERRED, "4.3.0",
                                   "malformed sender address in queue file", NULL);
        return;
    }
    for (size_t i = 0; i < d->n_rcpts; i++) {
        struct smtp_rcpt *r = &d->rcpts[i];

        if ((size_t)r->index >= d->qf.rcpt_count
            || strcmp(d->qf.rcpts[r->index].address, r->address) != 0)
            smtp_delivery_rcpt_done(d, i, SMTP_RCPT_DEFERRED, "4.3.0",
                                    "recipient does not match the queue file", NULL);
        else if (!address_ok(r->address))
            smtp_delivery_rcpt_done(d, i, SMTP_RCPT_BOUNCED, "5.1.3",
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
        path = xstrdup(attr_get(&c->msg, "queue_file"));
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
