/*
 * dns.c - asynchronous MX and address lookups with a TTL cache (see dns.h).
 *
 * Layers, bottom up:
 *  - servers: one c-ares channel per configured server, so that we always
 *    know which server answered. c-ares reports which sockets it wants
 *    watched through its socket-state callback; each becomes a persistent
 *    libevent event, and one timer per channel follows ares_timeout().
 *  - parts: one question (name, type) being resolved. A part asks the
 *    cache, else server 0, and moves on to the next server after a
 *    failure. It reads the raw answer with dns_msg and follows CNAMEs,
 *    asking again for the target when a server did not (DNS_CNAME_MAX
 *    links in all).
 *  - lookups: what the caller asked for (MX: one part; address: an A and/or
 *    an AAAA part). When every part is done the lookup is queued, and a
 *    libevent event delivers queued results outside of any c-ares call, so
 *    callbacks may do anything (new lookups, cancel, shutdown).
 *  - cache: (name, type) -> rrset with absolute expiry times (monotonic
 *    milliseconds), LRU-evicted when full.
 *
 * Lifetimes: a lookup lives until its result is delivered, or, once
 * cancelled, until c-ares has called back for every query it has in
 * flight (c-ares offers no way to cancel one query). A part is embedded in
 * its lookup; c-ares' callback argument is the part.
 *
 * Memory: everything here is owned by the module-level resolver `res`;
 * results handed to callbacks belong to the callback.
 */
#include <arpa/inet.h>
#include <ares.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "dns.h"
#include "dns_msg.h"
#include "errtext.h"
#include "msg.h"

#define DEF_TIMEOUT_MS 2000
#define DEF_TRIES 2
#define DEF_CACHE_MAX 10000
#define DEF_MAX_TTL 86400
#define DEF_MAX_NEG_TTL 3600
#define LABEL_MAX 64                /* "[ipv6]:port" */

/* ------------------------------------------------------------------------ */
/* Data */

struct rec {                        /* one MX or address record */
    unsigned pref;
    char *host;                     /* MX exchange */
    unsigned char addr[16];         /* A: 4 bytes, AAAA: 16 */
    uint64_t expire_ms;
};

struct link {                       /* one CNAME followed */
    char *owner;
    char *target;
    uint64_t expire_ms;
};

/* The outcome for one (name, type): what the cache stores and parts build. */
struct rrset {
    enum dns_status status;         /* OK, NXDOMAIN, NODATA, TEMPFAIL, PERMFAIL */
    char *canonical;
    char *server;                   /* NULL: none answered */
    char *reason;                   /* NULL or why */
    struct rec *recs;
    size_t nrecs;
    struct link *links;
    size_t nlinks;
    uint64_t expire_ms;             /* 0: not to be reused */
};

struct sock_watch {
    ares_socket_t fd;
    short flags;
    struct event *ev;
};

struct server {
    char label[LABEL_MAX];          /* "127.0.0.1:5353", "[::1]:53" */
    ares_channel channel;
    int channel_ok;
    struct event *timer;
    struct sock_watch *socks;
    size_t nsocks;
    size_t socks_cap;
};

struct part {
    struct dns_lookup *lookup;
    uint16_t qtype;
    char *asked;                    /* the name asked now (after CNAMEs) */
    size_t server;                  /* index of the server asked now */
    int in_flight;
    int done;
    int used_network;               /* some answer came from a server */
    int from_cache;                 /* the final answer came from the cache */
    uint64_t finished_ms;           /* when the outcome was known: TTLs count from here */
    char *last_error;               /* from the last server that failed */
    struct rrset set;
};

struct dns_lookup {
    enum dns_kind kind;
    char *name;                     /* normalised; "" when invalid */
    char *invalid;                  /* reason when the name is invalid */
    dns_callback cb;
    void *ctx;
    int cancelled;
    struct part parts[2];
    size_t nparts;
    size_t pending;                 /* parts not done */
    size_t in_flight;               /* c-ares queries not yet called back */
    int queued;
    struct dns_lookup *prev, *next; /* every live lookup */
    struct dns_lookup *qprev, *qnext; /* the delivery queue */
};

struct centry {
    struct centry *hnext;
    struct centry *lprev, *lnext;   /* LRU: head is the most recent */
    uint32_t hash;
    uint16_t type;
    char *name;
    struct rrset set;
};

static struct {
    int active;
    unsigned generation;
    struct event_base *base;
    struct dns_opts opts;
    struct server servers[DNS_SERVERS_MAX];
    size_t nservers;
    char servers_text[DNS_SERVERS_MAX * (LABEL_MAX + 1)];
    struct dns_lookup *lookups;
    struct dns_lookup *qhead, *qtail;
    size_t qlen;
    struct event *deliver_ev;
    /* cache */
    struct centry **buckets;
    size_t nbuckets;
    size_t count;
    size_t cache_max;               /* 0: disabled */
    struct centry *lru_head, *lru_tail;
} res;

static void part_ask(struct part *part);

/* ------------------------------------------------------------------------ */
/* Small helpers */

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static unsigned remaining(uint64_t expire_ms, uint64_t now)
{
    return expire_ms > now ? (unsigned)((expire_ms - now) / 1000) : 0;
}

static uint64_t expiry(uint64_t now, uint32_t ttl, unsigned cap)
{
    return now + (uint64_t)(ttl < cap ? ttl : cap) * 1000;
}

static uint64_t min_expiry(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static char *xvasprintf_(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

static char *xvasprintf_(const char *fmt, va_list ap)
{
    va_list copy;
    int n;
    char *s;

    va_copy(copy, ap);
    n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        n = 0;
    s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

static const char *type_text(uint16_t type)
{
    return type == DNS_TYPE_MX ? "MX" : type == DNS_TYPE_AAAA ? "AAAA" : "A";
}

/* ------------------------------------------------------------------------ */
/* rrsets */

static void rrset_free(struct rrset *set)
{
    for (size_t i = 0; i < set->nrecs; i++)
        xfree(set->recs[i].host);
    for (size_t i = 0; i < set->nlinks; i++) {
        xfree(set->links[i].owner);
        xfree(set->links[i].target);
    }
    xfree(set->recs);
    xfree(set->links);
    xfree(set->canonical);
    xfree(set->server);
    xfree(set->reason);
    memset(set, 0, sizeof(*set));
}

static void links_append(struct rrset *dst, const struct link *links, size_t n)
{
    if (n == 0)
        return;
    dst->links = xrealloc(dst->links, (dst->nlinks + n) * sizeof(*dst->links));
    for (size_t i = 0; i < n; i++) {
        struct link *l = &dst->links[dst->nlinks++];

        l->owner = xstrdup(links[i].owner);
        l->target = xstrdup(links[i].target);
        l->expire_ms = links[i].expire_ms;
    }
}

static void recs_copy(struct rrset *dst, const struct rec *recs, size_t n)
{
    dst->recs = n ? xcalloc(n, sizeof(*dst->recs)) : NULL;
    dst->nrecs = n;
    for (size_t i = 0; i < n; i++) {
        dst->recs[i] = recs[i];
        dst->recs[i].host = recs[i].host ? xstrdup(recs[i].host) : NULL;
    }
}

static char *xstrdup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void rrset_copy(struct rrset *dst, const struct rrset *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->status = src->status;
    dst->canonical = xstrdup_or_null(src->canonical);
    dst->server = xstrdup_or_null(src->server);
    dst->reason = xstrdup_or_null(src->reason);
    recs_copy(dst, src->recs, src->nrecs);
    links_append(dst, src->links, src->nlinks);
    dst->expire_ms = src->expire_ms;
}

/*
 * Continue the part's rrset (which holds the links followed so far) with
 * `tail`, the terminal outcome for part->asked: its links, records,
 * status, server; the expiry is the earlier of both.
 */
static void rrset_extend(struct rrset *set, const struct rrset *tail)
{
    int first = set->nlinks == 0 && set->expire_ms == 0;

    links_append(set, tail->links, tail->nlinks);
    for (size_t i = 0; i < set->nrecs; i++)
        xfree(set->recs[i].host);
    xfree(set->recs);
    recs_copy(set, tail->recs, tail->nrecs);
    set->status = tail->status;
    xfree(set->canonical);
    set->canonical = xstrdup_or_null(tail->canonical);
    xfree(set->server);
    set->server = xstrdup_or_null(tail->server);
    xfree(set->reason);
    set->reason = xstrdup_or_null(tail->reason);
    if (first)
        set->expire_ms = tail->expire_ms;
    else if (tail->expire_ms == 0)
        set->expire_ms = 0;
    else
        set->expire_ms = min_expiry(set->expire_ms, tail->expire_ms);
}

/* ------------------------------------------------------------------------ */
/* Cache */

static uint32_t key_hash(const char *name, uint16_t type)
{
    uint32_t h = 2166136261U;

    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 16777619U;
    }
    h ^= type;
    h *= 16777619U;
    return h;
}

static void lru_unlink(struct centry *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        res.lru_head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        res.lru_tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void lru_push_front(struct centry *e)
{
    e->lprev = NULL;
    e->lnext = res.lru_head;
    if (res.lru_head)
        res.lru_head->lprev = e;
    res.lru_head = e;
    if (res.lru_tail == NULL)
        res.lru_tail = e;
}

static void cache_remove(struct centry *e)
{
    struct centry **pp = &res.buckets[e->hash & (res.nbuckets - 1)];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(e);
    rrset_free(&e->set);
    xfree(e->name);
    xfree(e);
    res.count--;
}

static struct centry *cache_find(const char *name, uint16_t type, uint32_t hash)
{
    struct centry *e;

    if (res.cache_max == 0)
        return NULL;
    for (e = res.buckets[hash & (res.nbuckets - 1)]; e != NULL; e = e->hnext)
        if (e->hash == hash && e->type == type && strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

/* A live entry for (name, type), or NULL; expired entries are dropped. */
static const struct rrset *cache_get(const char *name, uint16_t type, uint64_t now)
{
    struct centry *e = cache_find(name, type, key_hash(name, type));

    if (e == NULL)
        return NULL;
    if (e->set.expire_ms <= now) {
        cache_remove(e);
        return NULL;
    }
    lru_unlink(e);
    lru_push_front(e);
    return &e->set;
}

static void cache_put(const char *name, uint16_t type, const struct rrset *set, uint64_t now)
{
    uint32_t hash = key_hash(name, type);
    struct centry *e;

    if (res.cache_max == 0 || set->expire_ms <= now)
        return;
    if (set->status != DNS_OK && set->status != DNS_NXDOMAIN && set->status != DNS_NODATA)
        return;
    if ((e = cache_find(name, type, hash)) != NULL)
        cache_remove(e);
    while (res.count >= res.cache_max && res.lru_tail != NULL)
        cache_remove(res.lru_tail);
    e = xcalloc(1, sizeof(*e));
    e->hash = hash;
    e->type = type;
    e->name = xstrdup(name);
    rrset_copy(&e->set, set);
    e->hnext = res.buckets[hash & (res.nbuckets - 1)];
    res.buckets[hash & (res.nbuckets - 1)] = e;
    lru_push_front(e);
    res.count++;
}

static void cache_init(size_t max)
{
    size_t n = 16;

    res.cache_max = max;
    while (n < max && n < ((size_t)1 << 20))
        n <<= 1;
    res.nbuckets = n;
    res.buckets = xcalloc(n, sizeof(*res.buckets));
}

void dns_cache_flush(void)
{
    while (res.lru_head != NULL)
        cache_remove(res.lru_head);
}

size_t dns_cache_count(void)
{
    uint64_t now = now_ms();
    struct centry *e = res.lru_head;

    while (e != NULL) {
        struct centry *next = e->lnext;

        if (e->set.expire_ms <= now)
            cache_remove(e);
        e = next;
    }
    return res.count;
}

/* ------------------------------------------------------------------------ */
/* c-ares on libevent */

static void server_rearm(struct server *srv)
{
    struct timeval tv, *tvp;

    if (!srv->channel_ok)
        return;
    tvp = ares_timeout(srv->channel, NULL, &tv);
    if (tvp == NULL)
        evtimer_del(srv->timer);
    else
        evtimer_add(srv->timer, tvp);
}

static void server_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;

    (void)fd;
    (void)what;
    ares_process_fd(srv->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    server_rearm(srv);
}

static void server_sock_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;

    ares_process_fd(srv->channel, (what & EV_READ) ? (ares_socket_t)fd : ARES_SOCKET_BAD,
                    (what & EV_WRITE) ? (ares_socket_t)fd : ARES_SOCKET_BAD);
    server_rearm(srv);
}

static struct sock_watch *watch_find(struct server *srv, ares_socket_t fd)
{
    for (size_t i = 0; i < srv->nsocks; i++)
        if (srv->socks[i].fd == fd)
            return &srv->socks[i];
    return NULL;
}

/* c-ares: start, change or stop watching a socket. */
static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
    struct server *srv = data;
    struct sock_watch *w = watch_find(srv, fd);
    short flags = (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));

    if (w != NULL && w->flags == flags)
        return;
    if (w != NULL) {
        event_free(w->ev);
        *w = srv->socks[--srv->nsocks];
    }
    if (flags == 0)
        return;
    srv->socks = xgrow(srv->socks, &srv->socks_cap, srv->nsocks + 1, sizeof(*srv->socks));
    w = &srv->socks[srv->nsocks++];
    w->fd = fd;
    w->flags = flags;
    w->ev = event_new(res.base, fd, (short)(flags | EV_PERSIST), server_sock_cb, srv);
    if (w->ev == NULL || event_add(w->ev, NULL) < 0)
        msg_fatal("dns: cannot watch resolver socket %d", (int)fd);
}

static void server_close(struct server *srv)
{
    if (srv->channel_ok)
        ares_destroy(srv->channel);
    srv->channel_ok = 0;
    for (size_t i = 0; i < srv->nsocks; i++)
        event_free(srv->socks[i].ev);
    srv->socks = xfree(srv->socks);
    srv->nsocks = srv->socks_cap = 0;
    if (srv->timer)
        event_free(srv->timer);
    srv->timer = NULL;
}

static int server_open(struct server *srv, char *err, size_t errlen)
{
    struct ares_options o;
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB
               | ARES_OPT_LOOKUPS;
    int status;

    memset(&o, 0, sizeof(o));
    /*
     * NOCHECKRESP: hand us SERVFAIL/NOTIMP/REFUSED answers so that the
     * reason names them (we move on to the next server ourselves). c-ares
     * still drops answers whose ID, question or source address differ.
     */
    o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_NOCHECKRESP;
    o.timeout = res.opts.timeout_ms;
    o.tries = res.opts.tries;
    o.sock_state_cb = sock_state_cb;
    o.sock_state_cb_data = srv;
    o.lookups = (char *)"b";
    srv->timer = evtimer_new(res.base, server_timer_cb, srv);
    if (srv->timer == NULL) {
        errtext_set(err, errlen, "cannot create a timer event");
        return -1;
    }
    status = ares_init_options(&srv->channel, &o, mask);
    if (status != ARES_SUCCESS) {
        errtext_set(err, errlen, "c-ares initialisation failed: %s", ares_strerror(status));
        return -1;
    }
    srv->channel_ok = 1;
    status = ares_set_servers_ports_csv(srv->channel, srv->label);
    if (status != ARES_SUCCESS) {
        errtext_set(err, errlen, "c-ares rejects server %s: %s", srv->label, ares_strerror(status));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Server list */

static int parse_port(const char *s, unsigned *port)
{
    unsigned long v = 0;

    if (*s == 0)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > 65535)
            return -1;
    }
    if (v == 0)
        return -1;
    *port = (unsigned)v;
    return 0;
}

/* One "addr", "addr:port", "[v6]:port" or "v6" -> canonical label. */
static int server_label(const char *item, char *label, size_t labellen)
{
    char host[LABEL_MAX];
    const char *port_text = NULL;
    unsigned port = 53;
    unsigned char bin[16];
    char text[DNS_ADDR_TEXT_MAX];
    const char *colon = strchr(item, ':');
    int v6;

    if (strlen(item) >= sizeof(host))
        return -1;
    if (item[0] == '[') {
        const char *close = strchr(item, ']');

        if (close == NULL || (close[1] != 0 && close[1] != ':'))
            return -1;
        snprintf(host, sizeof(host), "%.*s", (int)(close - item - 1), item + 1);
        port_text = close[1] == ':' ? close + 2 : NULL;
        v6 = 1;
    } else if (colon != NULL && strchr(colon + 1, ':') == NULL) {
        snprintf(host, sizeof(host), "%.*s", (int)(colon - item), item);
        port_text = colon + 1;
        v6 = 0;
    } else {
        snprintf(host, sizeof(host), "%s", item);
        v6 = colon != NULL;
    }
    if (port_text != NULL && parse_port(port_text, &port) < 0)
        return -1;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host, bin) != 1)
        return -1;
    inet_ntop(v6 ? AF_INET6 : AF_INET, bin, text, sizeof(text));
    snprintf(label, labellen, v6 ? "[%s]:%u" : "%s:%u", text, port);
    return 0;
}

static int servers_from_spec(const char *spec, char *err, size_t errlen)
{
    const char *p = spec;

    while (*p) {
        char item[LABEL_MAX + 8];
        size_t n = strcspn(p, ", \t");

        if (n == 0) {
            p++;
            continue;
        }
        if (n >= sizeof(item)) {
            errtext_set(err, errlen, "dns server \"%.40s...\" is too long", p);
            return -1;
        }
        memcpy(item, p, n);
        item[n] = 0;
        p += n;
        if (res.nservers >= DNS_SERVERS_MAX) {
            errtext_set(err, errlen, "more than %d dns servers", DNS_SERVERS_MAX);
            return -1;
        }
        if (server_label(item, res.servers[res.nservers].label, LABEL_MAX) < 0) {
            errtext_set(err, errlen, "bad dns server \"%s\" (want IP, IP:port or [IPv6]:port)",
                        item);
            return -1;
        }
        res.nservers++;
    }
    return 0;
}

/* The nameservers of /etc/resolv.conf, as c-ares reads them. */
static int servers_from_system(char *err, size_t errlen)
{
    ares_channel channel;
    struct ares_options o;
    struct ares_addr_port_node *list = NULL;
    int status;

    memset(&o, 0, sizeof(o));
    o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    status = ares_init_options(&channel, &o, ARES_OPT_FLAGS);
    if (status != ARES_SUCCESS) {
        errtext_set(err, errlen, "c-ares cannot read the system resolver configuration: %s",
                    ares_strerror(status));
        return -1;
    }
    status = ares_get_servers_ports(channel, &list);
    for (struct ares_addr_port_node *n = list; status == ARES_SUCCESS && n; n = n->next) {
        char text[DNS_ADDR_TEXT_MAX];
        struct server *srv;

        if (res.nservers >= DNS_SERVERS_MAX)
            break;
        if (n->family != AF_INET && n->family != AF_INET6)
            continue;
        srv = &res.servers[res.nservers++];
        inet_ntop(n->family, &n->addr, text, sizeof(text));
        snprintf(srv->label, sizeof(srv->label), n->family == AF_INET6 ? "[%s]:%d" : "%s:%d",
                 text, n->udp_port ? n->udp_port : 53);
    }
    ares_free_data(list);
    ares_destroy(channel);
    if (res.nservers == 0) {
        errtext_set(err, errlen, "no nameserver found in the system resolver configuration");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Lookups: completion and delivery */

static void lookup_free(struct dns_lookup *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        res.lookups = l->next;
    if (l->next)
        l->next->prev = l->prev;
    for (size_t i = 0; i < l->nparts; i++) {
        xfree(l->parts[i].asked);
        xfree(l->parts[i].last_error);
        rrset_free(&l->parts[i].set);
    }
    xfree(l->name);
    xfree(l->invalid);
    xfree(l);
}

static void queue_unlink(struct dns_lookup *l)
{
    if (l->qprev)
        l->qprev->qnext = l->qnext;
    else
        res.qhead = l->qnext;
    if (l->qnext)
        l->qnext->qprev = l->qprev;
    else
        res.qtail = l->qprev;
    l->qprev = l->qnext = NULL;
    l->queued = 0;
    res.qlen--;
}

static void lookup_enqueue(struct dns_lookup *l)
{
    l->queued = 1;
    l->qnext = NULL;
    l->qprev = res.qtail;
    if (res.qtail)
        res.qtail->qnext = l;
    else
        res.qhead = l;
    res.qtail = l;
    res.qlen++;
    event_active(res.deliver_ev, EV_TIMEOUT, 0);
}

/* A part has its outcome (known at `now`). Completes the lookup when it was the last. */
static void part_finish(struct part *part, uint64_t now)
{
    struct dns_lookup *l = part->lookup;

    part->done = 1;
    part->finished_ms = now;
    if (--l->pending > 0)
        return;
    if (l->cancelled) {
        if (l->in_flight == 0)
            lookup_free(l);
        return;
    }
    lookup_enqueue(l);
}

static void part_fail(struct part *part, enum dns_status status, const char *reason)
{
    part->set.status = status;
    part->set.expire_ms = 0;
    xfree(part->set.reason);
    part->set.reason = xstrdup(reason);
    part_finish(part, now_ms());
}

/* ------------------------------------------------------------------------ */
/* Reading an answer */

/* Append the answer's CNAME chain to set->links; the earliest expiry of them. */
static uint64_t links_from_answer(const struct dns_answer *ans, uint64_t now, struct rrset *set)
{
    uint64_t expire = UINT64_MAX;

    for (size_t i = 0; i < ans->chain_len; i++) {
        struct link l = {(char *)ans->chain[i]->name, ans->chain[i]->u.target,
                         expiry(now, ans->chain[i]->ttl, res.opts.max_ttl)};

        links_append(set, &l, 1);
        expire = min_expiry(expire, l.expire_ms);
    }
    return expire;
}

/* The terminal outcome of `ans` as an rrset (links, records, expiry). */
static void rrset_from_answer(const struct dns_answer *ans, uint16_t qtype, const char *server,
                              uint64_t now, struct rrset *set)
{
    memset(set, 0, sizeof(*set));
    set->server = xstrdup(server);
    set->canonical = xstrdup(ans->final_name);
    set->expire_ms = links_from_answer(ans, now, set);
    if (ans->kind == DNS_ANSWER_DATA) {
        set->status = DNS_OK;
        set->recs = xcalloc(ans->record_count, sizeof(*set->recs));
        set->nrecs = ans->record_count;
        for (size_t i = 0; i < ans->record_count; i++) {
            const struct dns_rr *rr = ans->records[i];
            struct rec *r = &set->recs[i];

            r->expire_ms = expiry(now, rr->ttl, res.opts.max_ttl);
            set->expire_ms = min_expiry(set->expire_ms, r->expire_ms);
            if (qtype == DNS_TYPE_MX) {
                r->pref = rr->u.mx.pref;
                r->host = xstrdup(rr->u.mx.exchange);
            } else {
                memcpy(r->addr, rr->u.addr, qtype == DNS_TYPE_A ? 4 : 16);
            }
        }
        return;
    }
    set->status = ans->kind == DNS_ANSWER_NXDOMAIN ? DNS_NXDOMAIN : DNS_NODATA;
    set->reason = xasprintf(ans->kind == DNS_ANSWER_NXDOMAIN ? "%s: no such domain"
                            : "%s: no %s record", ans->final_name, type_text(qtype));
    if (ans->has_soa)
        set->expire_ms = min_expiry(set->expire_ms,
                                    expiry(now, ans->ttl, res.opts.max_negative_ttl));
    else
        set->expire_ms = 0;
}

/* Ask the next server, or give up with the last error. */
static void part_next_server(struct part *part, const char *error)
{
    struct dns_lookup *l = part->lookup;

    xfree(part->last_error);
    part->last_error = xasprintf("%s", error);
    if (!res.active || l->cancelled || part->server + 1 >= res.nservers) {
        part_fail(part, DNS_TEMPFAIL, part->last_error);
        return;
    }
    part->server++;
    part_ask(part);
}

/* The answer ends in a CNAME the server did not follow: ask for its target. */
static void part_follow(struct part *part, const struct dns_answer *ans, const char *server)
{
    const char *target = ans->final_name;
    int first = part->set.nlinks == 0;
    uint64_t expire = links_from_answer(ans, now_ms(), &part->set);
    char reason[DNS_NAME_TEXT_MAX + LABEL_MAX + 64];

    part->set.expire_ms = first ? expire : min_expiry(part->set.expire_ms, expire);
    for (size_t i = 0; i < part->set.nlinks; i++) {
        if (strcmp(part->set.links[i].owner, target) == 0) {
            snprintf(reason, sizeof(reason), "CNAME loop at %s (from %s)", target, server);
            part_fail(part, DNS_TEMPFAIL, reason);
            return;
        }
    }
    if (part->set.nlinks > DNS_CNAME_MAX) {     /* cannot happen: answers get a budget */
        snprintf(reason, sizeof(reason), "CNAME chain from %s is too long", part->lookup->name);
        part_fail(part, DNS_TEMPFAIL, reason);
        return;
    }
    if (!dns_name_is_hostname(target)) {
        snprintf(reason, sizeof(reason), "CNAME target %s is not a host name (from %s)", target,
                 server);
        part_fail(part, DNS_TEMPFAIL, reason);
        return;
    }
    if (part->lookup->cancelled || !res.active) {
        part_fail(part, DNS_TEMPFAIL, "cancelled");
        return;
    }
    xfree(part->asked);
    part->asked = xstrdup(target);
    part->server = 0;
    part_ask(part);
}

/* The terminal outcome for part->asked, known at `now`: cache it, finish the part. */
static void part_complete(struct part *part, const struct rrset *tail, uint64_t now)
{
    struct dns_lookup *l = part->lookup;
    int via_links = part->set.nlinks > 0;

    rrset_extend(&part->set, tail);
    if (via_links)
        cache_put(l->name, part->qtype, &part->set, now);
    part_finish(part, now);
}

static void part_answer(struct part *part, const unsigned char *abuf, int alen)
{
    struct server *srv = &res.servers[part->server];
    struct dns_msg msg;
    struct dns_answer ans;
    char err[DNS_ERR_MAX];
    char reason[DNS_ERR_MAX + LABEL_MAX + 32];
    size_t budget = DNS_CNAME_MAX - part->set.nlinks;

    if (dns_msg_parse(abuf, (size_t)alen, &msg, err, sizeof(err)) < 0) {
        msg_warn("dns: malformed answer from %s for %s/%s: %s", srv->label, part->asked,
                 type_text(part->qtype), err);
        snprintf(reason, sizeof(reason), "malformed answer from %s: %s", srv->label, err);
        part_next_server(part, reason);
        return;
    }
    dns_msg_answer(&msg, part->asked, part->qtype, budget, &ans);
    if (msg_verbose)
        msg_debug("dns: %s/%s from %s: kind %d ttl %u", part->asked, type_text(part->qtype),
                  srv->label, (int)ans.kind, (unsigned)ans.ttl);
    switch (ans.kind) {
    case DNS_ANSWER_DATA:
    case DNS_ANSWER_NXDOMAIN:
    case DNS_ANSWER_NODATA: {
        struct rrset tail;
        uint64_t now = now_ms();

        part->used_network = 1;
        rrset_from_answer(&ans, part->qtype, srv->label, now, &tail);
        cache_put(part->asked, part->qtype, &tail, now);
        dns_answer_free(&ans);
        dns_msg_free(&msg);
        part_complete(part, &tail, now);
        rrset_free(&tail);
        return;
    }
    case DNS_ANSWER_CNAME:
        part->used_network = 1;
        part_follow(part, &ans, srv->label);
        break;
    case DNS_ANSWER_SERVER_ERROR:
        snprintf(reason, sizeof(reason), "%s from %s", ans.reason, srv->label);
        part_next_server(part, reason);
        break;
    case DNS_ANSWER_BAD:
        if (strstr(ans.reason, "CNAME") == NULL)
            msg_warn("dns: unusable answer from %s for %s/%s: %s", srv->label, part->asked,
                     type_text(part->qtype), ans.reason);
        snprintf(reason, sizeof(reason), "%s (from %s)", ans.reason, srv->label);
        if (strstr(ans.reason, "CNAME") != NULL)
            part_fail(part, DNS_TEMPFAIL, reason);
        else
            part_next_server(part, reason);
        break;
    }
    /* part (and its lookup) may be gone here: touch only locals. */
    dns_answer_free(&ans);
    dns_msg_free(&msg);
}

/* c-ares calls back: an answer (abuf != NULL) or a transport failure. */
static void query_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct part *part = arg;
    struct dns_lookup *l = part->lookup;
    char reason[LABEL_MAX + 96];

    (void)timeouts;
    part->in_flight = 0;
    l->in_flight--;
    if (!res.active || status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
        /* Shutting down: dns_shutdown() frees every lookup. */
        part->done = 1;
        return;
    }
    if (abuf != NULL && alen > 0) {
        part_answer(part, abuf, alen);
        return;
    }
    if (status == ARES_EBADNAME) {
        part_fail(part, DNS_PERMFAIL, "invalid domain name");
        return;
    }
    snprintf(reason, sizeof(reason), "%s from %s", ares_strerror(status),
             res.servers[part->server].label);
    part_next_server(part, reason);
}

static void part_send(struct part *part)
{
    struct server *srv = &res.servers[part->server];

    part->in_flight = 1;
    part->lookup->in_flight++;
    ares_query(srv->channel, part->asked, DNS_CLASS_IN, part->qtype, query_cb, part);
    server_rearm(srv);
}

/* Ask the cache, else the current server, about part->asked. */
static void part_ask(struct part *part)
{
    uint64_t now = now_ms();
    const struct rrset *hit = cache_get(part->asked, part->qtype, now);

    if (hit != NULL) {
        struct rrset copy;

        rrset_copy(&copy, hit);
        part->from_cache = 1;
        part_complete(part, &copy, now);
        rrset_free(&copy);
        return;
    }
    part_send(part);
}

/* ------------------------------------------------------------------------ */
/* Results */

static void shuffle_mx(struct dns_mx *mx, size_t n)
{
    size_t start = 0;

    for (size_t i = 1; i < n; i++) {
        struct dns_mx tmp = mx[i];
        size_t j = i;

        while (j > 0 && mx[j - 1].pref > tmp.pref) {
            mx[j] = mx[j - 1];
            j--;
        }
        mx[j] = tmp;
    }
    while (start < n) {
        size_t end = start;

        while (end < n && mx[end].pref == mx[start].pref)
            end++;
        for (size_t i = end - 1; i > start; i--) {
            size_t k = start + arc4random_uniform((uint32_t)(i - start + 1));
            struct dns_mx tmp = mx[i];

            mx[i] = mx[k];
            mx[k] = tmp;
        }
        start = end;
    }
}

static void shuffle_addrs(struct dns_addr *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t k = arc4random_uniform((uint32_t)i);
        struct dns_addr tmp = a[i - 1];

        a[i - 1] = a[k];
        a[k] = tmp;
    }
}

static void result_cnames(struct dns_result *r, const struct rrset *set, uint64_t now)
{
    if (set->nlinks == 0 || r->cname_count > 0)
        return;
    r->cnames = xcalloc(set->nlinks, sizeof(*r->cnames));
    r->cname_count = set->nlinks;
    for (size_t i = 0; i < set->nlinks; i++) {
        r->cnames[i].owner = xstrdup(set->links[i].owner);
        r->cnames[i].target = xstrdup(set->links[i].target);
        r->cnames[i].ttl = remaining(set->links[i].expire_ms, now);
    }
}

static void result_mx(struct dns_result *r, const struct part *part)
{
    const struct rrset *set = &part->set;
    uint64_t now = part->finished_ms;
    size_t roots = 0;

    r->mx = xcalloc(set->nrecs ? set->nrecs : 1, sizeof(*r->mx));
    for (size_t i = 0; i < set->nrecs; i++) {
        const struct rec *rec = &set->recs[i];

        if (strcmp(rec->host, ".") == 0) {
            roots++;
            continue;
        }
        if (!dns_name_is_hostname(rec->host)) {
            msg_warn("dns: %s: ignoring MX with malformed exchange \"%s\"", r->name, rec->host);
            continue;
        }
        r->mx[r->mx_count].host = xstrdup(rec->host);
        r->mx[r->mx_count].pref = rec->pref;
        r->mx[r->mx_count].ttl = remaining(rec->expire_ms, now);
        r->mx_count++;
    }
    if (roots == set->nrecs) {
        r->status = DNS_NULL_MX;
        r->reason = xasprintf("%s publishes a null MX: it accepts no mail", r->canonical);
        return;
    }
    if (r->mx_count == 0) {
        r->status = DNS_TEMPFAIL;
        r->ttl = 0;
        r->reason = xasprintf("%s: no usable MX host in the answer", r->canonical);
        return;
    }
    shuffle_mx(r->mx, r->mx_count);
}

static void append_server(struct dns_result *r, const char *server)
{
    char *joined;

    if (server == NULL || server[0] == 0)
        return;
    if (r->server[0] == 0) {
        xfree(r->server);
        r->server = xstrdup(server);
        return;
    }
    if (strcmp(r->server, server) == 0)
        return;
    joined = xasprintf("%s,%s", r->server, server);
    xfree(r->server);
    r->server = joined;
}

static void result_addrs(struct dns_result *r, const struct dns_lookup *l)
{
    size_t total = 0, n4 = 0;

    for (size_t i = 0; i < l->nparts; i++)
        if (l->parts[i].set.status == DNS_OK)
            total += l->parts[i].set.nrecs;
    r->addrs = xcalloc(total ? total : 1, sizeof(*r->addrs));
    for (size_t i = 0; i < l->nparts; i++) {
        const struct part *part = &l->parts[i];
        int family = part->qtype == DNS_TYPE_A ? AF_INET : AF_INET6;

        if (part->set.status != DNS_OK)
            continue;
        for (size_t k = 0; k < part->set.nrecs; k++) {
            struct dns_addr *a = &r->addrs[r->addr_count++];

            a->family = family;
            memcpy(a->addr, part->set.recs[k].addr, family == AF_INET ? 4 : 16);
            inet_ntop(family, a->addr, a->text, sizeof(a->text));
            a->ttl = remaining(part->set.recs[k].expire_ms, part->finished_ms);
        }
        if (family == AF_INET)
            n4 = r->addr_count;
    }
    shuffle_addrs(r->addrs, n4);
    shuffle_addrs(r->addrs + n4, r->addr_count - n4);
}

/* The lookup's status from its parts (address lookups combine two). */
static const struct part *deciding_part(const struct dns_lookup *l)
{
    static const enum dns_status order[] = {DNS_OK, DNS_TEMPFAIL, DNS_PERMFAIL, DNS_NXDOMAIN,
                                            DNS_NODATA};

    for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++)
        for (size_t i = 0; i < l->nparts; i++)
            if (l->parts[i].set.status == order[o])
                return &l->parts[i];
    return &l->parts[0];
}

/*
 * TTLs are counted from the moment each part got its outcome, with the
 * clock reading that computed its expiry: a fresh answer shows the TTL the
 * server sent, a cached one what is left. Delivery follows within the same
 * turn of the event loop.
 */
static struct dns_result *result_build(const struct dns_lookup *l)
{
    struct dns_result *r = xcalloc(1, sizeof(*r));
    unsigned ttl = UINT32_MAX;
    const struct part *decider;

    r->kind = l->kind;
    r->name = xstrdup(l->name);
    r->server = xstrdup("");
    if (l->invalid != NULL) {
        r->status = DNS_PERMFAIL;
        r->canonical = xstrdup(l->name);
        r->reason = xstrdup(l->invalid);
        r->expires = (long long)time(NULL);
        return r;
    }
    decider = deciding_part(l);
    r->status = decider->set.status;
    r->cached = 1;
    for (size_t i = 0; i < l->nparts; i++) {
        const struct part *part = &l->parts[i];

        /* An OK result lasts as long as its records; a failure as its parts. */
        if (r->status != DNS_OK || part->set.status == DNS_OK) {
            unsigned left = remaining(part->set.expire_ms, part->finished_ms);

            ttl = left < ttl ? left : ttl;
        }
        if (part->used_network || !part->from_cache)
            r->cached = 0;
        append_server(r, part->set.server);
        result_cnames(r, &part->set, part->finished_ms);
    }
    r->canonical = xstrdup(decider->set.canonical ? decider->set.canonical : l->name);
    r->ttl = ttl == UINT32_MAX ? 0 : ttl;
    if (r->status == DNS_TEMPFAIL || r->status == DNS_PERMFAIL)
        r->ttl = 0;
    if (r->status == DNS_OK && l->kind == DNS_KIND_MX)
        result_mx(r, decider);
    else if (r->status == DNS_OK)
        result_addrs(r, l);
    if (r->reason == NULL)
        r->reason = xstrdup(r->status == DNS_OK ? ""
                            : decider->set.reason ? decider->set.reason : dns_status_name(r->status));
    r->expires = (long long)time(NULL) + r->ttl;
    return r;
}

struct dns_result *dns_result_free(struct dns_result *r)
{
    if (r == NULL)
        return NULL;
    for (size_t i = 0; i < r->mx_count; i++)
        xfree(r->mx[i].host);
    for (size_t i = 0; i < r->cname_count; i++) {
        xfree(r->cnames[i].owner);
        xfree(r->cnames[i].target);
    }
    xfree(r->mx);
    xfree(r->addrs);
    xfree(r->cnames);
    xfree(r->name);
    xfree(r->canonical);
    xfree(r->server);
    xfree(r->reason);
    xfree(r);
    return NULL;
}

static void deliver_cb(evutil_socket_t fd, short what, void *arg)
{
    unsigned generation = res.generation;
    size_t budget = res.qlen;

    (void)fd;
    (void)what;
    (void)arg;
    while (budget-- > 0 && res.qhead != NULL) {
        struct dns_lookup *l = res.qhead;
        struct dns_result *r;
        dns_callback cb = l->cb;
        void *ctx = l->ctx;

        queue_unlink(l);
        r = result_build(l);
        lookup_free(l);
        cb(r, ctx);
        if (!res.active || res.generation != generation)
            return;
    }
}

/* ------------------------------------------------------------------------ */
/* Public API */

static struct dns_lookup *lookup_new(enum dns_kind kind, const char *name, dns_callback cb,
                                     void *ctx)
{
    struct dns_lookup *l;
    char norm[DNS_NAME_TEXT_MAX];
    char err[DNS_ERR_MAX];

    if (!res.active)
        msg_panic("dns: lookup before dns_init()");
    if (cb == NULL)
        msg_panic("dns: lookup without a callback");
    l = xcalloc(1, sizeof(*l));
    l->kind = kind;
    l->cb = cb;
    l->ctx = ctx;
    if (dns_name_normalise(name, norm, sizeof(norm), err, sizeof(err)) < 0) {
        l->name = xstrdup(name ? name : "");
        l->invalid = xasprintf("%s: %s", l->name, err);
    } else {
        l->name = xstrdup(norm);
    }
    l->next = res.lookups;
    if (res.lookups)
        res.lookups->prev = l;
    res.lookups = l;
    return l;
}

static void lookup_add_part(struct dns_lookup *l, uint16_t qtype)
{
    struct part *part = &l->parts[l->nparts++];

    part->lookup = l;
    part->qtype = qtype;
    part->asked = xstrdup(l->name);
}

static struct dns_lookup *lookup_start(struct dns_lookup *l)
{
    if (l->invalid != NULL) {
        lookup_enqueue(l);
        return l;
    }
    l->pending = l->nparts;
    for (size_t i = 0; i < l->nparts; i++)
        part_ask(&l->parts[i]);
    return l;
}

struct dns_lookup *dns_lookup_mx(const char *domain, dns_callback cb, void *ctx)
{
    struct dns_lookup *l = lookup_new(DNS_KIND_MX, domain, cb, ctx);

    lookup_add_part(l, DNS_TYPE_MX);
    return lookup_start(l);
}

struct dns_lookup *dns_lookup_addr(const char *host, int families, dns_callback cb, void *ctx)
{
    struct dns_lookup *l = lookup_new(DNS_KIND_ADDR, host, cb, ctx);

    if (families == 0)
        families = DNS_FAMILY_ANY;
    if (families & DNS_FAMILY_INET4)
        lookup_add_part(l, DNS_TYPE_A);
    if (families & DNS_FAMILY_INET6)
        lookup_add_part(l, DNS_TYPE_AAAA);
    return lookup_start(l);
}

void dns_cancel(struct dns_lookup *l)
{
    if (l == NULL || !res.active)
        return;
    l->cancelled = 1;
    l->cb = NULL;
    if (l->queued) {
        queue_unlink(l);
        lookup_free(l);
        return;
    }
    if (l->in_flight == 0)
        lookup_free(l);
}

const char *dns_servers(void)
{
    return res.servers_text;
}

static void opts_defaults(const struct dns_opts *in)
{
    struct dns_opts o = {0};

    if (in != NULL)
        o = *in;
    res.opts.timeout_ms = o.timeout_ms > 0 ? o.timeout_ms : DEF_TIMEOUT_MS;
    res.opts.tries = o.tries > 0 ? o.tries : DEF_TRIES;
    res.opts.cache_max = o.cache_max > 0 ? o.cache_max : DEF_CACHE_MAX;
    res.opts.max_ttl = o.max_ttl > 0 ? o.max_ttl : DEF_MAX_TTL;
    res.opts.max_negative_ttl = o.max_negative_ttl > 0 ? o.max_negative_ttl : DEF_MAX_NEG_TTL;
}

int dns_init(struct event_base *base, const char *servers, const struct dns_opts *opts,
             char *err, size_t errlen)
{
    unsigned generation = res.generation;
    int status;

    if (res.active) {
        errtext_set(err, errlen, "dns_init() called twice");
        return -1;
    }
    memset(&res, 0, sizeof(res));
    res.generation = generation;
    res.base = base;
    opts_defaults(opts);
    status = ares_library_init(ARES_LIB_INIT_ALL);
    if (status != ARES_SUCCESS) {
        errtext_set(err, errlen, "c-ares: %s", ares_strerror(status));
        return -1;
    }
    if ((servers != NULL && servers[0] != 0 ? servers_from_spec(servers, err, errlen)
                                             : servers_from_system(err, errlen)) < 0)
        goto fail;
    if (res.nservers == 0) {
        errtext_set(err, errlen, "no dns server in \"%s\"", servers);
        goto fail;
    }
    for (size_t i = 0; i < res.nservers; i++) {
        if (server_open(&res.servers[i], err, errlen) < 0)
            goto fail;
        if (i > 0)
            strcat(res.servers_text, ",");
        strcat(res.servers_text, res.servers[i].label);
    }
    res.deliver_ev = event_new(base, -1, 0, deliver_cb, NULL);
    if (res.deliver_ev == NULL) {
        errtext_set(err, errlen, "cannot create the delivery event");
        goto fail;
    }
    cache_init(res.opts.cache_max == (size_t)-1 ? 0 : res.opts.cache_max);
    res.active = 1;
    res.generation++;
    return 0;

fail:
    for (size_t i = 0; i < DNS_SERVERS_MAX; i++)
        server_close(&res.servers[i]);
    memset(&res, 0, sizeof(res));
    res.generation = generation;
    ares_library_cleanup();
    return -1;
}

void dns_shutdown(void)
{
    unsigned generation = res.generation;

    if (!res.active)
        return;
    res.active = 0;
    for (size_t i = 0; i < res.nservers; i++)
        server_close(&res.servers[i]);
    while (res.lookups != NULL)
        lookup_free(res.lookups);
    dns_cache_flush();
    xfree(res.buckets);
    event_free(res.deliver_ev);
    memset(&res, 0, sizeof(res));
    res.generation = generation + 1;
    ares_library_cleanup();
}

/* ------------------------------------------------------------------------ */
/* Formatting */

const char *dns_status_name(enum dns_status status)
{
    switch (status) {
    case DNS_OK: return "OK";
    case DNS_NXDOMAIN: return "NXDOMAIN";
    case DNS_NODATA: return "NODATA";
    case DNS_NULL_MX: return "NULL_MX";
    case DNS_TEMPFAIL: return "TEMPFAIL";
    case DNS_PERMFAIL: return "PERMFAIL";
    }
    return "UNKNOWN";
}

struct sbuf {
    char *s;
    size_t len;
    size_t cap;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    char *piece;
    size_t n;

    va_start(ap, fmt);
    piece = xvasprintf_(fmt, ap);
    va_end(ap);
    n = strlen(piece);
    b->s = xgrow(b->s, &b->cap, b->len + n + 1, 1);
    memcpy(b->s + b->len, piece, n + 1);
    b->len += n;
    xfree(piece);
}

/* A JSON string literal (quotes included) for any text. */
static void sb_json_str(struct sbuf *b, const char *s)
{
    sb_add(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            sb_add(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            sb_add(b, "\\u%04x", *p);
        else
            sb_add(b, "%c", *p);
    }
    sb_add(b, "\"");
}

static const char *kind_name(enum dns_kind kind)
{
    return kind == DNS_KIND_MX ? "MX" : "ADDR";
}

static void format_log(struct sbuf *b, const struct dns_result *r)
{
    sb_add(b, "name=%s kind=%s status=%s server=%s cached=%s ttl=%u", r->name, kind_name(r->kind),
           dns_status_name(r->status), r->server[0] ? r->server : "-", r->cached ? "yes" : "no",
           r->ttl);
    for (size_t i = 0; i < r->cname_count; i++)
        sb_add(b, "%s%s>%s/%u", i ? "," : " cname=", r->cnames[i].owner, r->cnames[i].target,
               r->cnames[i].ttl);
    for (size_t i = 0; i < r->mx_count; i++)
        sb_add(b, "%s%u:%s/%u", i ? "," : " mx=", r->mx[i].pref, r->mx[i].host, r->mx[i].ttl);
    for (size_t i = 0; i < r->addr_count; i++)
        sb_add(b, "%s%s/%u", i ? "," : " addrs=", r->addrs[i].text, r->addrs[i].ttl);
    if (r->reason[0])
        sb_add(b, " reason=\"%s\"", r->reason);
}

static void format_json(struct sbuf *b, const struct dns_result *r)
{
    sb_add(b, "{\"name\":");
    sb_json_str(b, r->name);
    sb_add(b, ",\"kind\":\"%s\",\"status\":\"%s\",\"canonical\":", kind_name(r->kind),
           dns_status_name(r->status));
    sb_json_str(b, r->canonical);
    sb_add(b, ",\"server\":");
    sb_json_str(b, r->server);
    sb_add(b, ",\"cached\":%s,\"ttl\":%u,\"expires\":%lld,\"reason\":",
           r->cached ? "true" : "false", r->ttl, r->expires);
    sb_json_str(b, r->reason);
    sb_add(b, ",\"cnames\":[");
    for (size_t i = 0; i < r->cname_count; i++) {
        sb_add(b, "%s{\"owner\":", i ? "," : "");
        sb_json_str(b, r->cnames[i].owner);
        sb_add(b, ",\"target\":");
        sb_json_str(b, r->cnames[i].target);
        sb_add(b, ",\"ttl\":%u}", r->cnames[i].ttl);
    }
    if (r->kind == DNS_KIND_MX) {
        sb_add(b, "],\"mx\":[");
        for (size_t i = 0; i < r->mx_count; i++) {
            sb_add(b, "%s{\"pref\":%u,\"host\":", i ? "," : "", r->mx[i].pref);
            sb_json_str(b, r->mx[i].host);
            sb_add(b, ",\"ttl\":%u}", r->mx[i].ttl);
        }
    } else {
        sb_add(b, "],\"addrs\":[");
        for (size_t i = 0; i < r->addr_count; i++)
            sb_add(b, "%s{\"family\":\"%s\",\"address\":\"%s\",\"ttl\":%u}", i ? "," : "",
                   r->addrs[i].family == AF_INET ? "inet" : "inet6", r->addrs[i].text,
                   r->addrs[i].ttl);
    }
    sb_add(b, "]}");
}

char *dns_result_format(const struct dns_result *r, enum dns_format format)
{
    struct sbuf b = {0};

    if (format == DNS_FORMAT_JSON)
        format_json(&b, r);
    else
        format_log(&b, r);
    return b.s;
}
