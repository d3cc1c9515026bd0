/*
 * smtp_connect.c - from a nexthop to a connected socket, without blocking.
 *
 * A nexthop is "[host]:port" / "[address]:port" (no MX lookup; the brackets
 * say "this host exactly") or "host:port" / "host" (MX lookup is a later
 * issue: for now the host's A/AAAA records). The port defaults to 25.
 * Names are resolved with libevent's evdns_getaddrinfo() so the loop never
 * waits on DNS; address literals skip the resolver. Each address is then
 * tried in turn with a non-blocking connect bounded by smtp_connect_timeout.
 * The session module reports a failed handshake (bad greeting, EHLO/HELO
 * refused, lost connection) through smtp_connect_next(), which moves on to
 * the next address; when none is left, every pending recipient is deferred
 * with the last reason.
 *
 * Continuations never run inside the caller's stack: results of the
 * resolver (which may call back synchronously) and address literals are
 * picked up from a zero-delay event, so smtp_connect_start() always returns
 * before the delivery can finish.
 *
 * Memory: struct smtp_attempt belongs to its delivery (d->attempt) and is
 * freed by smtp_connect_cancel() or when the attempt gives up. The resolver
 * base is created on first use and shared by all deliveries.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "alloc.h"
#include "msg.h"
#include "params.h"
#include "server.h"
#include "smtp.h"
#include "sock.h"

#define SMTP_DEFAULT_PORT 25
#define ATTEMPT_ADDR_MAX 16
#define REASON_MAX 1024

struct smtp_attempt {
    struct delivery *d;
    char host[SMTP_HOST_MAX];
    int port;
    struct sockaddr_storage addrs[ATTEMPT_ADDR_MAX];
    socklen_t addr_lens[ATTEMPT_ADDR_MAX];
    size_t n_addrs;
    size_t next;                /* next address to try */
    struct evdns_getaddrinfo_request *dns_req;
    int dns_waiting;            /* the resolver has not called back yet */
    struct event *kick;         /* runs the next step from the loop */
    struct bufferevent *bev;    /* connect in progress */
    char addr_text[SMTP_ADDR_MAX];
    /* Why the last address failed. */
    char dsn[SMTP_DSN_MAX];
    char reason[REASON_MAX];
    char relay[SMTP_RELAY_MAX];
};

static struct evdns_base *dns_base;

static void try_next(struct smtp_attempt *at);

static void set_failure(struct smtp_attempt *at, const char *dsn, const char *reason,
                        const char *relay)
{
    smtp_fmt(at->dsn, sizeof(at->dsn), "%s", dsn);
    smtp_fmt(at->reason, sizeof(at->reason), "%s", reason);
    smtp_fmt(at->relay, sizeof(at->relay), "%s", relay ? relay : "none");
}

/* ---- nexthop syntax ---- */

static int host_chars_ok(const char *host, int bracketed)
{
    for (const char *p = host; *p; p++) {
        unsigned char c = (unsigned char)*p;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (c == '.' || c == '-' || c == '_')
            continue;
        if (c == ':' && bracketed)
            continue;
        return 0;
    }
    return 1;
}

static int parse_port(const char *text, int *port)
{
    char *end;
    long v;

    if (*text == 0) {
        *port = SMTP_DEFAULT_PORT;
        return 0;
    }
    if (*text != ':' || text[1] < '0' || text[1] > '9')
        return -1;
    errno = 0;
    v = strtol(text + 1, &end, 10);
    if (errno != 0 || *end != 0 || v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

int smtp_nexthop_parse(const char *nexthop, char *host, size_t hostlen, int *port,
                       int *no_mx, char *err, size_t errlen)
{
    const char *start = nexthop, *stop, *rest;
    size_t len;

    *no_mx = 0;
    if (*nexthop == '[') {
        start = nexthop + 1;
        stop = strchr(start, ']');
        if (stop == NULL) {
            smtp_fmt(err, errlen, "malformed nexthop \"%s\": missing ']'", nexthop);
            return -1;
        }
        rest = stop + 1;
        *no_mx = 1;
        if ((size_t)(stop - start) > 5 && strncasecmp(start, "ipv6:", 5) == 0)
            start += 5;
    } else {
        stop = strchr(nexthop, ':');
        if (stop && strchr(stop + 1, ':')) {
            smtp_fmt(err, errlen, "malformed nexthop \"%s\": an IPv6 address must be "
                     "in brackets", nexthop);
            return -1;
        }
        if (stop == NULL)
            stop = nexthop + strlen(nexthop);
        rest = stop;
    }
    len = (size_t)(stop - start);
    if (len == 0 || len >= hostlen) {
        smtp_fmt(err, errlen, "malformed nexthop \"%s\": bad host name length", nexthop);
        return -1;
    }
    memcpy(host, start, len);
    host[len] = 0;
    if (!host_chars_ok(host, *no_mx)) {
        smtp_fmt(err, errlen, "malformed nexthop \"%s\": bad host name", nexthop);
        return -1;
    }
    if (parse_port(rest, port) < 0) {
        smtp_fmt(err, errlen, "malformed nexthop \"%s\": bad port", nexthop);
        return -1;
    }
    return 0;
}

/* An address literal fills the list directly; returns 1 when host was one. */
static int literal_address(struct smtp_attempt *at)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&at->addrs[0];
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&at->addrs[0];

    memset(&at->addrs[0], 0, sizeof(at->addrs[0]));
    if (inet_pton(AF_INET, at->host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)at->port);
        at->addr_lens[0] = sizeof(*sin);
        at->n_addrs = 1;
        return 1;
    }
    if (inet_pton(AF_INET6, at->host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)at->port);
        at->addr_lens[0] = sizeof(*sin6);
        at->n_addrs = 1;
        return 1;
    }
    return 0;
}

/* ---- resolution ---- */

static void dns_failure(struct smtp_attempt *at, int result)
{
    char reason[REASON_MAX];
    int temporary = result != EVUTIL_EAI_NONAME;

    /*
     * Deferred either way: a name that does not resolve today may be a
     * transient DNS problem or a configuration being fixed; the queue
     * lifetime returns the mail eventually.
     */
    smtp_fmt(reason, sizeof(reason), "Host or domain name not found. Name service error "
             "for name=%s type=A: %s", at->host,
             temporary ? "Host not found, try again" : "Host not found");
    set_failure(at, temporary ? "4.4.3" : "4.4.4", reason, NULL);
}

static void on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
    struct smtp_attempt *at = arg;

    if (result == EVUTIL_EAI_CANCEL) {
        if (res)
            evutil_freeaddrinfo(res);
        return;                 /* the attempt is being freed */
    }
    at->dns_waiting = 0;
    at->dns_req = NULL;
    if (result != 0) {
        dns_failure(at, result);
        delivery_note(at->d, "%s", at->reason);
    } else {
        for (struct evutil_addrinfo *ai = res; ai && at->n_addrs < ATTEMPT_ADDR_MAX;
             ai = ai->ai_next) {
            if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
                || ai->ai_addrlen > sizeof(at->addrs[0]))
                continue;
            memcpy(&at->addrs[at->n_addrs], ai->ai_addr, ai->ai_addrlen);
            at->addr_lens[at->n_addrs] = (socklen_t)ai->ai_addrlen;
            if (ai->ai_family == AF_INET)
                ((struct sockaddr_in *)&at->addrs[at->n_addrs])->sin_port =
                    htons((uint16_t)at->port);
            else
                ((struct sockaddr_in6 *)&at->addrs[at->n_addrs])->sin6_port =
                    htons((uint16_t)at->port);
            at->n_addrs++;
        }
        if (at->n_addrs == 0)
            dns_failure(at, EVUTIL_EAI_NONAME);
    }
    if (res)
        evutil_freeaddrinfo(res);
    event_active(at->kick, EV_TIMEOUT, 1);
}

static int start_lookup(struct smtp_attempt *at)
{
    struct evutil_addrinfo hints;
    struct evdns_getaddrinfo_request *req;

    if (dns_base == NULL) {
        dns_base = evdns_base_new(server_event_base(),
                                  EVDNS_BASE_INITIALIZE_NAMESERVERS
                                  | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (dns_base == NULL) {
            set_failure(at, "4.4.3", "cannot initialise the DNS resolver", NULL);
            return -1;
        }
    }
    delivery_note(at->d, "looking up %s", at->host);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    at->dns_waiting = 1;
    req = evdns_getaddrinfo(dns_base, at->host, NULL, &hints, on_resolved, at);
    if (at->dns_waiting)
        at->dns_req = req;
    return 0;
}

/* ---- connecting ---- */

static void relay_text(const struct smtp_attempt *at, char *buf, size_t len)
{
    smtp_fmt(buf, len, "%s[%s]:%d", at->host, at->addr_text, at->port);
}

static void on_connect_event(struct bufferevent *bev, short what, void *arg)
{
    struct smtp_attempt *at = arg;
    char reason[REASON_MAX], where[SMTP_RELAY_MAX];
    int err = EVUTIL_SOCKET_ERROR();
    int one = 1;

    relay_text(at, where, sizeof(where));
    if (what & BEV_EVENT_CONNECTED) {
        at->bev = NULL;
        delivery_note(at->d, "connected to %s", where);
        (void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
                         sizeof(one));
        smtp_session_connected(at->d, bev, at->host, at->addr_text, at->port);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT)
        smtp_fmt(reason, sizeof(reason), "connect to %s: Connection timed out", where);
    else
        smtp_fmt(reason, sizeof(reason), "connect to %s: %s", where,
                 err ? strerror(err) : "Connection failed");
    msg_debug("%s: %s", at->d->queue_id, reason);
    delivery_note(at->d, "%s", reason);
    set_failure(at, "4.4.1", reason, NULL);
    bufferevent_free(bev);
    at->bev = NULL;
    try_next(at);
}

static void give_up(struct smtp_attempt *at)
{
    struct delivery *d = at->d;

    if (at->reason[0] == 0)
        set_failure(at, "4.4.1", "no address to connect to", NULL);
    delivery_fail_pending(d, RCPT_DEFERRED, at->dsn, at->reason, at->relay);
    smtp_connect_cancel(d);
    delivery_finish(d);
}

static void try_next(struct smtp_attempt *at)
{
    struct timeval tv = { var_smtp_connect_timeout, 0 };

    while (at->next < at->n_addrs) {
        size_t i = at->next++;
        struct bufferevent *bev;
        int port;

        sock_addr_text((struct sockaddr *)&at->addrs[i], at->addr_text,
                       sizeof(at->addr_text), &port);
        bev = bufferevent_socket_new(server_event_base(), -1, BEV_OPT_CLOSE_ON_FREE);
        if (bev == NULL)
            msg_fatal("cannot allocate a bufferevent");
        bufferevent_set_timeouts(bev, NULL, &tv);
        bufferevent_setcb(bev, NULL, NULL, on_connect_event, at);
        delivery_note(at->d, "connecting to %s[%s]:%d", at->host, at->addr_text, at->port);
        if (bufferevent_socket_connect(bev, (struct sockaddr *)&at->addrs[i],
                                       (int)at->addr_lens[i]) < 0) {
            char reason[REASON_MAX], where[SMTP_RELAY_MAX];

            relay_text(at, where, sizeof(where));
            smtp_fmt(reason, sizeof(reason), "connect to %s: %s", where, strerror(errno));
            delivery_note(at->d, "%s", reason);
            set_failure(at, "4.4.1", reason, NULL);
            bufferevent_free(bev);
            continue;
        }
        at->bev = bev;
        return;
    }
    give_up(at);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    try_next(arg);
}

void smtp_connect_start(struct delivery *d)
{
    struct smtp_attempt *at = xcalloc(1, sizeof(*at));
    char err[REASON_MAX];
    int no_mx;

    at->d = d;
    d->attempt = at;
    at->kick = event_new(server_event_base(), -1, 0, on_kick, at);
    if (smtp_nexthop_parse(d->nexthop, at->host, sizeof(at->host), &at->port, &no_mx,
                           err, sizeof(err)) < 0) {
        set_failure(at, "4.3.5", err, NULL);
        event_active(at->kick, EV_TIMEOUT, 1);
        return;
    }
    if (literal_address(at) || start_lookup(at) < 0)
        event_active(at->kick, EV_TIMEOUT, 1);
}

void smtp_connect_next(struct delivery *d, const char *dsn, const char *reason,
                       const char *relay)
{
    struct smtp_attempt *at = d->attempt;

    if (at == NULL)
        msg_panic("smtp_connect_next: no attempt in progress");
    set_failure(at, dsn, reason, relay);
    try_next(at);
}

void smtp_connect_cancel(struct delivery *d)
{
    struct smtp_attempt *at = d->attempt;

    if (at == NULL)
        return;
    d->attempt = NULL;
    if (at->dns_req && at->dns_waiting)
        evdns_getaddrinfo_cancel(at->dns_req);
    if (at->bev)
        bufferevent_free(at->bev);
    if (at->kick)
        event_free(at->kick);
    xfree(at);
}
