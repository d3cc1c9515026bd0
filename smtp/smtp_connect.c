/*
 * smtp_connect.c - from a nexthop to a connected socket, without blocking.
 *
 * A nexthop is "[host]:port" / "[address]:port" (no MX lookup; the brackets
 * say "this host exactly") or "host:port" / "host" (the MX hosts of host,
 * each on that port), in the one host/port grammar (hostport.h) that
 * route.c decides them in. The port defaults to 25. mx_resolve.c turns it into
 * the ordered list of addresses to try (MX preference, implicit MX, loop
 * detection, null MX...) with lib/dns on the daemon's event loop: nothing
 * here ever waits on DNS, and nothing calls getaddrinfo().
 *
 * A DNS answer that makes the destination undeliverable (NXDOMAIN, null
 * MX, mail that would loop back to this host) bounces every pending
 * recipient; a temporary DNS failure defers them. Otherwise each address
 * is tried in turn with a non-blocking connect bounded by
 * smtp_connect_timeout. The session module reports a failed handshake (bad
 * greeting, 4xx or 5xx, EHLO/HELO refused, lost connection) through
 * smtp_connect_next(), which moves on to the next address (of the same or
 * the next MX host); when none is left, every pending recipient is
 * deferred with the last reason. Once a transaction has started, replies
 * are results for the recipients, as before.
 *
 * Continuations never run inside the caller's stack: the resolver always
 * calls back from the loop, and failures found before any lookup (a bad
 * nexthop) are picked up from a zero-delay event, so smtp_connect_start()
 * always returns before the delivery can finish.
 *
 * Memory: struct smtp_attempt belongs to its delivery (d->attempt) and is
 * freed by smtp_connect_cancel() or when the attempt gives up; it owns the
 * resolver's result (the addresses and host names being tried).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "alloc.h"
#include "dns.h"
#include "errtext.h"
#include "hostport.h"
#include "msg.h"
#include "mx_resolve.h"
#include "params.h"
#include "route.h"
#include "server.h"
#include "smtp.h"

struct smtp_attempt {
    struct smtp_delivery *d;
    char host[SMTP_HOST_MAX];   /* the nexthop's host */
    int port;
    int no_mx;
    int is_address;             /* host is an IP address */
    struct mxr_lookup *lookup;  /* resolution in progress */
    struct mxr_result *res;     /* what is being tried */
    size_t next;                /* next target to try */
    struct event *kick;         /* runs the next step from the loop */
    struct bufferevent *bev;    /* connect in progress */
    const char *cur_host;       /* host name of the current target */
    char addr_text[SMTP_ADDR_MAX];
    /* Why the last address failed. */
    char dsn[DSN_SIZE];
    char reason[PROTO_TEXT_MAX + 1];
    char relay[SMTP_RELAY_MAX];
};

/* Set when the resolver could not be set up: deliveries that need DNS defer. */
static char resolver_error[PROTO_TEXT_MAX + 1];

static void try_next(struct smtp_attempt *at);

static void set_failure(struct smtp_attempt *at, const char *dsn, const char *reason,
                        const char *relay)
{
    smtp_fmt(at->dsn, sizeof(at->dsn), "%s", dsn);
    smtp_fmt(at->reason, sizeof(at->reason), "%s", reason);
    smtp_fmt(at->relay, sizeof(at->relay), "%s", relay ? relay : PROTO_RELAY_NONE);
}

/* ---- set-up ---- */

void smtp_connect_init(struct event_base *base)
{
    struct dns_opts opts;
    char err[PROTO_TEXT_MAX + 1];

    memset(&opts, 0, sizeof(opts));
    opts.timeout_ms = (int)(var_dns_timeout * 1000);
    opts.tries = (int)var_dns_tries;
    resolver_error[0] = '\0';
    if (dns_init(base, var_dns_servers, &opts, err, sizeof(err)) < 0) {
        msg_error("cannot start the DNS resolver (mail that needs DNS is deferred): %s", err);
        smtp_fmt(resolver_error, sizeof(resolver_error), "DNS resolver unavailable: %s", err);
    }
    if (mxr_init(base, var_myhostname, var_proxy_interfaces, 1, err, sizeof(err)) < 0) {
        msg_error("loop detection set-up failed (mail that needs DNS is deferred): %s", err);
        smtp_fmt(resolver_error, sizeof(resolver_error), "%s", err);
        (void)mxr_init(base, var_myhostname, "", 0, err, sizeof(err));
    }
}

/* ---- nexthop syntax ---- */

/*
 * Two of hostport's error texts as this agent has always reported them
 * (qmgr logs them as the reason); any other passes through as it is.
 */
static const struct {
    const char *hostport_prefix;
    const char *text;
} nexthop_errors[] = {
    { "missing \"]\"", "missing ']'" },
    { "bad port", "bad port" },
};

static const char *nexthop_error(const char *why)
{
    for (size_t i = 0; i < sizeof(nexthop_errors) / sizeof(nexthop_errors[0]); i++) {
        const char *prefix = nexthop_errors[i].hostport_prefix;

        if (strncmp(why, prefix, strlen(prefix)) == 0)
            return nexthop_errors[i].text;
    }
    return why;
}

/*
 * The nexthop's host, port (default 25), MX or not (bracketed: not), by
 * hostport.h's grammar, as route_parse_nexthop() reads it. Returns 0, or
 * -1 with err filled ("malformed nexthop \"X\": why").
 */
static int set_nexthop(struct smtp_attempt *at, const char *nexthop, char *err,
                       size_t errlen)
{
    struct hostport hp;
    char why[256];

    if (hostport_parse(nexthop, 0, &hp, why, sizeof(why)) < 0) {
        errtext_set(err, errlen, "malformed nexthop \"%s\": %s", nexthop, nexthop_error(why));
        return -1;
    }
    smtp_fmt(at->host, sizeof(at->host), "%s", hp.host);
    at->port = hp.has_port ? (int)hp.port : ROUTE_DEFAULT_PORT;
    at->no_mx = hp.bracketed;
    at->is_address = hp.family != 0;
    return 0;
}

/* ---- connecting ---- */

static void relay_text(const struct smtp_attempt *at, char *buf, size_t len)
{
    smtp_fmt(buf, len, "%s[%s]:%d", at->cur_host, at->addr_text, at->port);
}

static void on_connect_event(struct bufferevent *bev, short what, void *arg)
{
    struct smtp_attempt *at = arg;
    char reason[PROTO_TEXT_MAX + 1], where[SMTP_RELAY_MAX];
    int err = EVUTIL_SOCKET_ERROR();
    int one = 1;

    relay_text(at, where, sizeof(where));
    if (what & BEV_EVENT_CONNECTED) {
        at->bev = NULL;
        smtp_delivery_note(at->d, "connected to %s", where);
        (void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
                         sizeof(one));
        smtp_session_connected(at->d, bev, at->cur_host, at->addr_text, at->port);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT)
        smtp_fmt(reason, sizeof(reason), "connect to %s: Connection timed out", where);
    else
        smtp_fmt(reason, sizeof(reason), "connect to %s: %s", where,
                 err ? strerror(err) : "Connection failed");
    msg_debug("%s: %s", at->d->queue_id, reason);
    smtp_delivery_note(at->d, "%s", reason);
    set_failure(at, DSN_NO_ANSWER, reason, NULL);
    bufferevent_free(bev);
    at->bev = NULL;
    try_next(at);
}

/* Nothing (more) to try: every pending recipient is deferred. */
static void give_up(struct smtp_attempt *at)
{
    struct smtp_delivery *d = at->d;

    if (at->reason[0] == 0)
        set_failure(at, DSN_NO_ANSWER, "no address to connect to", NULL);
    smtp_delivery_fail_pending(d, SMTP_RCPT_DEFERRED, at->dsn, at->reason, at->relay);
    smtp_connect_cancel(d);
    smtp_delivery_finish(d);
}

/* The destination is undeliverable (null MX, NXDOMAIN, loop): bounce. */
static void bounce_all(struct smtp_attempt *at, const char *dsn, const char *reason)
{
    struct smtp_delivery *d = at->d;

    smtp_delivery_fail_pending(d, SMTP_RCPT_BOUNCED, dsn, reason, NULL);
    smtp_connect_cancel(d);
    smtp_delivery_finish(d);
}

/* A socket address for target i of the result. */
static socklen_t target_sockaddr(const struct smtp_attempt *at, size_t i,
                                 struct sockaddr_storage *ss)
{
    const struct dns_addr *a = &at->res->targets[i].addr;

    memset(ss, 0, sizeof(*ss));
    if (a->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;

        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)at->port);
        memcpy(&sin->sin_addr, a->addr, 4);
        return sizeof(*sin);
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)at->port);
    memcpy(&sin6->sin6_addr, a->addr, 16);
    return sizeof(*sin6);
}

static void try_next(struct smtp_attempt *at)
{
    struct timeval tv = { var_smtp_connect_timeout, 0 };

    while (at->res != NULL && at->next < at->res->target_count) {
        size_t i = at->next++;
        const struct mxr_target *t = &at->res->targets[i];
        struct sockaddr_storage ss;
        socklen_t sslen = target_sockaddr(at, i, &ss);
        struct bufferevent *bev;

        at->cur_host = at->res->hosts[t->host].name;
        smtp_fmt(at->addr_text, sizeof(at->addr_text), "%s", t->addr.text);
        bev = bufferevent_socket_new(server_event_base(), -1, BEV_OPT_CLOSE_ON_FREE);
        if (bev == NULL)
            msg_fatal("cannot allocate a bufferevent");
        bufferevent_set_timeouts(bev, NULL, &tv);
        bufferevent_setcb(bev, NULL, NULL, on_connect_event, at);
        smtp_delivery_note(at->d, "connecting to %s[%s]:%d", at->cur_host, at->addr_text,
                           at->port);
        if (bufferevent_socket_connect(bev, (struct sockaddr *)&ss, (int)sslen) < 0) {
            char reason[PROTO_TEXT_MAX + 1], where[SMTP_RELAY_MAX];

            relay_text(at, where, sizeof(where));
            smtp_fmt(reason, sizeof(reason), "connect to %s: %s", where, strerror(errno));
            smtp_delivery_note(at->d, "%s", reason);
            set_failure(at, DSN_NO_ANSWER, reason, NULL);
            bufferevent_free(bev);
            continue;
        }
        at->bev = bev;
        return;
    }
    give_up(at);
}

/* ---- resolution ---- */

/* With verbose: what DNS said, one note per MX host. */
static void note_hosts(const struct smtp_attempt *at)
{
    const struct mxr_result *res = at->res;

    if (res->literal)
        return;
    for (size_t i = 0; i < res->host_count; i++) {
        const struct mxr_host *h = &res->hosts[i];

        if (res->mx)
            smtp_delivery_note(at->d, "MX %u %s%s: %s%s%s%s", h->pref, h->name,
                               h->implicit ? " (implicit MX)" : "",
                               mxr_host_state_name(h->state),
                               h->self_addr[0] ? " (our address " : "", h->self_addr,
                               h->self_addr[0] ? ")" : "");
        else
            smtp_delivery_note(at->d, "host %s: %s", h->name, mxr_host_state_name(h->state));
    }
}

static void on_resolved(struct mxr_result *res, void *ctx)
{
    struct smtp_attempt *at = ctx;

    at->lookup = NULL;
    at->res = res;
    note_hosts(at);
    switch (res->status) {
    case MXR_OK:
        try_next(at);
        return;
    case MXR_BOUNCE:
        smtp_delivery_note(at->d, "%s", res->reason);
        bounce_all(at, res->dsn, res->reason);
        return;
    case MXR_DEFER:
    default:
        smtp_delivery_note(at->d, "%s", res->reason);
        set_failure(at, res->dsn, res->reason, NULL);
        give_up(at);
        return;
    }
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    give_up(arg);
}

void smtp_connect_start(struct smtp_delivery *d)
{
    struct smtp_attempt *at = xcalloc(1, sizeof(*at));
    char err[PROTO_TEXT_MAX + 1];

    at->d = d;
    d->attempt = at;
    at->kick = event_new(server_event_base(), -1, 0, on_kick, at);
    if (at->kick == NULL)
        msg_fatal("cannot create event");
    if (set_nexthop(at, d->nexthop, err, sizeof(err)) < 0) {
        set_failure(at, DSN_CONFIG, err, NULL);
        event_active(at->kick, EV_TIMEOUT, 1);
        return;
    }
    if (resolver_error[0] != '\0' && !at->is_address) {
        set_failure(at, DSN_CONFIG, resolver_error, NULL);
        event_active(at->kick, EV_TIMEOUT, 1);
        return;
    }
    if (!at->is_address)
        smtp_delivery_note(d, "looking up %s%s", at->no_mx ? "" : "the MX hosts of ", at->host);
    at->lookup = mxr_resolve(at->host, (unsigned)at->port, !at->no_mx, on_resolved, at);
}

void smtp_connect_next(struct smtp_delivery *d, const char *dsn, const char *reason,
                       const char *relay)
{
    struct smtp_attempt *at = d->attempt;

    if (at == NULL)
        msg_panic("smtp_connect_next: no attempt in progress");
    set_failure(at, dsn, reason, relay);
    try_next(at);
}

void smtp_connect_cancel(struct smtp_delivery *d)
{
    struct smtp_attempt *at = d->attempt;

    if (at == NULL)
        return;
    d->attempt = NULL;
    mxr_cancel(at->lookup);
    mxr_result_free(at->res);
    if (at->bev)
        bufferevent_free(at->bev);
    if (at->kick)
        event_free(at->kick);
    xfree(at);
}
