/*
 * mx_resolve.c - next hop -> MX hosts -> addresses to try, with loop
 * detection (see mx_resolve.h for the rules).
 *
 * A lookup is a small state machine driven by lib/dns callbacks: the MX
 * lookup (when asked for), then one address lookup per host, all in
 * parallel; when the last one is in, mxr_plan() decides and the caller's
 * callback gets the result. Address literals need no lookup: their result
 * is delivered from a zero-delay event, so the callback never runs inside
 * mxr_resolve().
 *
 * Memory: a struct mxr_lookup owns its result until the callback takes it;
 * the module owns the list of our own addresses (fixed array) and a copy of
 * myhostname.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "alloc.h"
#include "dsn.h"
#include "errtext.h"
#include "msg.h"
#include "mx_resolve.h"
#include "strlist.h"

struct self_addr {
    int family;
    unsigned char addr[16];
};

static struct {
    struct event_base *base;
    char *myhostname;
    struct self_addr addrs[MXR_SELF_MAX];
    size_t count;
    char text[MXR_SELF_MAX * (DNS_ADDR_TEXT_MAX + 2)];
} self;

struct host_req {
    struct mxr_lookup *lookup;
    size_t index;
    struct dns_lookup *pending;
};

struct mxr_lookup {
    struct mxr_result *res;
    mxr_callback cb;
    void *ctx;
    struct dns_lookup *mx_pending;
    struct host_req reqs[MXR_HOSTS_MAX];
    size_t waiting;             /* address lookups not yet answered */
    struct event *kick;         /* delivers a result decided without DNS */
};

/* --- names of things --- */

const char *mxr_host_state_name(enum mxr_host_state state)
{
    switch (state) {
    case MXR_HOST_USED:
        return "used";
    case MXR_HOST_NOADDR:
        return "no address";
    case MXR_HOST_SELF:
        return "self";
    case MXR_HOST_CUT:
        return "cut";
    }
    return "?";
}

const char *mxr_status_name(enum mxr_status status)
{
    switch (status) {
    case MXR_OK:
        return "ok";
    case MXR_DEFER:
        return "defer";
    case MXR_BOUNCE:
        return "bounce";
    }
    return "?";
}

/* --- our own addresses --- */

static void self_add(int family, const void *addr)
{
    size_t len = family == AF_INET ? 4 : 16;

    for (size_t i = 0; i < self.count; i++) {
        if (self.addrs[i].family == family && memcmp(self.addrs[i].addr, addr, len) == 0)
            return;
    }
    if (self.count >= MXR_SELF_MAX) {
        msg_warn("more than %d local addresses: the rest is not used for loop detection",
                 MXR_SELF_MAX);
        return;
    }
    self.addrs[self.count].family = family;
    memset(self.addrs[self.count].addr, 0, sizeof(self.addrs[self.count].addr));
    memcpy(self.addrs[self.count].addr, addr, len);
    self.count++;
}

static int self_add_interfaces(char *err, size_t errlen)
{
    struct ifaddrs *list, *ifa;

    if (getifaddrs(&list) < 0) {
        errtext_set(err, errlen, "getifaddrs: %m");
        return -1;
    }
    for (ifa = list; ifa != NULL; ifa = ifa->ifa_next) {
        if (ifa->ifa_addr == NULL)
            continue;
        if (ifa->ifa_addr->sa_family == AF_INET)
            self_add(AF_INET, &((struct sockaddr_in *)(void *)ifa->ifa_addr)->sin_addr);
        else if (ifa->ifa_addr->sa_family == AF_INET6)
            self_add(AF_INET6, &((struct sockaddr_in6 *)(void *)ifa->ifa_addr)->sin6_addr);
    }
    freeifaddrs(list);
    return 0;
}

/* One proxy_interfaces entry: "192.0.2.1", "2001:db8::1" or "[2001:db8::1]". */
static int self_add_text(const char *item, char *err, size_t errlen)
{
    char buf[DNS_ADDR_TEXT_MAX + 2];
    unsigned char addr[16];
    size_t len = strlen(item);

    if (len >= 2 && item[0] == '[' && item[len - 1] == ']') {
        item++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(buf)) {
        errtext_set(err, errlen, "proxy_interfaces: \"%.60s\" is not an IP address", item);
        return -1;
    }
    memcpy(buf, item, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, addr) == 1) {
        self_add(AF_INET, addr);
        return 0;
    }
    if (inet_pton(AF_INET6, buf, addr) == 1) {
        self_add(AF_INET6, addr);
        return 0;
    }
    errtext_set(err, errlen, "proxy_interfaces: \"%.60s\" is not an IP address", buf);
    return -1;
}

static void self_make_text(void)
{
    size_t used = 0;

    self.text[0] = '\0';
    for (size_t i = 0; i < self.count; i++) {
        char addr[DNS_ADDR_TEXT_MAX];

        if (inet_ntop(self.addrs[i].family, self.addrs[i].addr, addr, sizeof(addr)) == NULL)
            continue;
        used += (size_t)snprintf(self.text + used, sizeof(self.text) - used, "%s%s",
                                 used ? "," : "", addr);
        if (used >= sizeof(self.text))
            break;
    }
}

int mxr_init(struct event_base *base, const char *myhostname, const char *proxy_interfaces,
             int use_interfaces, char *err, size_t errlen)
{
    char **items;
    size_t n;

    mxr_end();
    self.base = base;
    self.myhostname = xstrdup(myhostname ? myhostname : "");
    for (char *p = self.myhostname; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    n = strlen(self.myhostname);
    if (n > 0 && self.myhostname[n - 1] == '.')
        self.myhostname[n - 1] = '\0';
    if (use_interfaces && self_add_interfaces(err, errlen) < 0)
        return -1;
    items = strlist_split(proxy_interfaces, &n);
    if (items == NULL) {
        errtext_set(err, errlen, "proxy_interfaces: unbalanced braces");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (self_add_text(items[i], err, errlen) < 0) {
            strlist_free(items);
            return -1;
        }
    }
    strlist_free(items);
    self_make_text();
    return 0;
}

void mxr_end(void)
{
    self.myhostname = xfree(self.myhostname);
    self.count = 0;
    self.text[0] = '\0';
    self.base = NULL;
}

const char *mxr_self_text(void)
{
    return self.text;
}

int mxr_is_self(const struct dns_addr *addr)
{
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    int family = addr->family;
    const unsigned char *bytes = addr->addr;

    if (family == AF_INET6 && memcmp(bytes, mapped, sizeof(mapped)) == 0) {
        family = AF_INET;
        bytes += 12;
    }
    for (size_t i = 0; i < self.count; i++) {
        if (self.addrs[i].family == family
            && memcmp(self.addrs[i].addr, bytes, family == AF_INET ? 4 : 16) == 0)
            return 1;
    }
    return 0;
}

static int is_myhostname(const char *name)
{
    return self.myhostname != NULL && self.myhostname[0] != '\0'
           && strcasecmp(name, self.myhostname) == 0;
}

/* --- results --- */

struct mxr_result *mxr_result_free(struct mxr_result *res)
{
    if (res == NULL)
        return NULL;
    for (size_t i = 0; i < res->host_count; i++) {
        xfree(res->hosts[i].name);
        dns_result_free(res->hosts[i].addr);
    }
    xfree(res->hosts);
    xfree(res->targets);
    dns_result_free(res->mx_result);
    xfree(res->host);
    xfree(res);
    return NULL;
}

static void set_outcome(struct mxr_result *res, enum mxr_status status, const char *dsn,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void set_outcome(struct mxr_result *res, enum mxr_status status, const char *dsn,
                        const char *fmt, ...)
{
    va_list ap;

    res->status = status;
    snprintf(res->dsn, sizeof(res->dsn), "%s", dsn);
    va_start(ap, fmt);
    vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
    va_end(ap);
}

static struct mxr_host *add_host(struct mxr_result *res, const char *name, unsigned pref,
                                 unsigned ttl, int implicit)
{
    struct mxr_host *h;

    res->hosts = xrealloc(res->hosts, (res->host_count + 1) * sizeof(*res->hosts));
    h = &res->hosts[res->host_count++];
    memset(h, 0, sizeof(*h));
    h->name = xstrdup(name);
    h->pref = pref;
    h->ttl = ttl;
    h->implicit = implicit;
    h->self_name = is_myhostname(name);
    return h;
}

/* --- the decision --- */

/* Mark self hosts; returns the best preference that is us (UINT_MAX: none). */
static unsigned find_self(struct mxr_result *res)
{
    unsigned best = UINT_MAX;

    for (size_t i = 0; i < res->host_count; i++) {
        struct mxr_host *h = &res->hosts[i];
        int ok = h->addr != NULL && h->addr->status == DNS_OK && h->addr->addr_count > 0;

        h->state = ok ? MXR_HOST_USED : MXR_HOST_NOADDR;
        h->self_addr[0] = '\0';
        if (!res->mx)
            continue;
        for (size_t j = 0; ok && j < h->addr->addr_count; j++) {
            if (mxr_is_self(&h->addr->addrs[j])) {
                snprintf(h->self_addr, sizeof(h->self_addr), "%s", h->addr->addrs[j].text);
                h->state = MXR_HOST_SELF;
                break;
            }
        }
        if (h->self_name)
            h->state = MXR_HOST_SELF;
        if (h->state == MXR_HOST_SELF && h->pref < best)
            best = h->pref;
    }
    return best;
}

static void add_targets(struct mxr_result *res)
{
    res->target_count = 0;
    for (size_t i = 0; i < res->host_count; i++) {
        const struct mxr_host *h = &res->hosts[i];

        if (h->state != MXR_HOST_USED)
            continue;
        for (size_t j = 0; j < h->addr->addr_count && res->target_count < MXR_TARGETS_MAX; j++) {
            res->targets = xrealloc(res->targets,
                                    (res->target_count + 1) * sizeof(*res->targets));
            res->targets[res->target_count].host = i;
            res->targets[res->target_count].addr = h->addr->addrs[j];
            res->target_count++;
        }
    }
}

/* No address at all and no loop: why. */
static void no_address(struct mxr_result *res)
{
    const struct mxr_host *first = NULL;

    for (size_t i = 0; i < res->host_count; i++) {
        const struct mxr_host *h = &res->hosts[i];
        enum dns_status st = h->addr ? h->addr->status : DNS_TEMPFAIL;

        if (st == DNS_TEMPFAIL) {
            set_outcome(res, MXR_DEFER, DSN_DNS_TEMP, "Host or domain name not found. Name service "
                        "error for name=%s type=A: Host not found, try again (%s)", h->name,
                        h->addr ? h->addr->reason : "not looked up");
            return;
        }
        if (st == DNS_PERMFAIL) {
            set_outcome(res, MXR_DEFER, DSN_CONFIG, "bad host name \"%s\": %s", h->name,
                        h->addr->reason);
            return;
        }
        if (first == NULL)
            first = h;
    }
    if (first == NULL) {
        set_outcome(res, MXR_DEFER, DSN_DNS_TEMP, "no mail exchanger found for %s", res->host);
        return;
    }
    set_outcome(res, res->mx ? MXR_BOUNCE : MXR_DEFER, res->mx ? DSN_NO_ROUTE : DSN_NO_ROUTE_TEMP,
                "Host or domain name not found. Name service error for name=%s type=A: "
                "Host not found", first->name);
}

void mxr_plan(struct mxr_result *res)
{
    unsigned best_self = find_self(res);
    int better_without_address = 0;

    res->loop = best_self != UINT_MAX;
    res->loop_pref = res->loop ? best_self : 0;
    if (res->loop) {
        for (size_t i = 0; i < res->host_count; i++) {
            struct mxr_host *h = &res->hosts[i];

            if (h->pref < best_self)
                better_without_address |= h->state == MXR_HOST_NOADDR;
            else if (h->state != MXR_HOST_SELF)
                h->state = MXR_HOST_CUT;
        }
    }
    add_targets(res);
    if (res->target_count > 0) {
        set_outcome(res, MXR_OK, DSN_SUCCESS, "%s", "");
        return;
    }
    if (res->loop && better_without_address) {
        set_outcome(res, MXR_DEFER, DSN_NO_ROUTE_TEMP, "unable to find primary relay for %s",
                    res->host);
        return;
    }
    if (res->loop) {
        set_outcome(res, MXR_BOUNCE, DSN_LOOP, "mail for %s loops back to myself", res->host);
        return;
    }
    no_address(res);
}

/* --- lookups --- */

static void lookup_finish(struct mxr_lookup *lk)
{
    struct mxr_result *res = lk->res;
    mxr_callback cb = lk->cb;
    void *ctx = lk->ctx;

    if (lk->kick)
        event_free(lk->kick);
    xfree(lk);
    cb(res, ctx);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    lookup_finish(arg);
}

static void on_addr(struct dns_result *r, void *ctx)
{
    struct host_req *req = ctx;
    struct mxr_lookup *lk = req->lookup;

    req->pending = NULL;
    lk->res->hosts[req->index].addr = r;
    if (--lk->waiting > 0)
        return;
    mxr_plan(lk->res);
    lookup_finish(lk);
}

static void start_addr_lookups(struct mxr_lookup *lk)
{
    struct mxr_result *res = lk->res;

    lk->waiting = res->host_count;
    for (size_t i = 0; i < res->host_count; i++) {
        lk->reqs[i].lookup = lk;
        lk->reqs[i].index = i;
        lk->reqs[i].pending = dns_lookup_addr(res->hosts[i].name, DNS_FAMILY_ANY, on_addr,
                                              &lk->reqs[i]);
    }
}

static void on_mx(struct dns_result *r, void *ctx)
{
    struct mxr_lookup *lk = ctx;
    struct mxr_result *res = lk->res;
    const char *name = res->host;

    lk->mx_pending = NULL;
    res->mx_result = r;
    switch (r->status) {
    case DNS_OK:
        for (size_t i = 0; i < r->mx_count && i < MXR_HOSTS_MAX; i++)
            add_host(res, r->mx[i].host, r->mx[i].pref, r->mx[i].ttl, 0);
        if (res->host_count == 0) {
            set_outcome(res, MXR_DEFER, DSN_DNS_TEMP, "no usable MX host for %s", name);
            break;
        }
        start_addr_lookups(lk);
        return;
    case DNS_NODATA:
        add_host(res, name, 0, 0, 1);
        start_addr_lookups(lk);
        return;
    case DNS_NXDOMAIN:
        set_outcome(res, MXR_BOUNCE, DSN_BAD_DOMAIN, "Host or domain name not found. Name service "
                    "error for name=%s type=MX: Host not found", name);
        break;
    case DNS_NULL_MX:
        set_outcome(res, MXR_BOUNCE, DSN_NULL_MX, "Recipient address has null MX");
        break;
    case DNS_PERMFAIL:
        set_outcome(res, MXR_DEFER, DSN_CONFIG, "bad host name \"%s\": %s", name, r->reason);
        break;
    case DNS_TEMPFAIL:
    default:
        set_outcome(res, MXR_DEFER, DSN_DNS_TEMP, "Host or domain name not found. Name service "
                    "error for name=%s type=MX: Host not found, try again (%s)", name,
                    r->reason);
        break;
    }
    lookup_finish(lk);
}

/* An address literal: fills hosts[0] and targets[0]; 1 when host is one. */
static int literal(struct mxr_result *res)
{
    struct dns_addr a;

    memset(&a, 0, sizeof(a));
    if (inet_pton(AF_INET, res->host, a.addr) == 1)
        a.family = AF_INET;
    else if (inet_pton(AF_INET6, res->host, a.addr) == 1)
        a.family = AF_INET6;
    else
        return 0;
    if (inet_ntop(a.family, a.addr, a.text, sizeof(a.text)) == NULL)
        snprintf(a.text, sizeof(a.text), "%s", res->host);
    add_host(res, res->host, 0, 0, 0);
    res->hosts[0].state = MXR_HOST_USED;
    res->targets = xcalloc(1, sizeof(*res->targets));
    res->targets[0].host = 0;
    res->targets[0].addr = a;
    res->target_count = 1;
    res->literal = 1;
    set_outcome(res, MXR_OK, DSN_SUCCESS, "%s", "");
    return 1;
}

struct mxr_lookup *mxr_resolve(const char *host, unsigned port, int mx, mxr_callback cb,
                               void *ctx)
{
    struct mxr_lookup *lk = xcalloc(1, sizeof(*lk));
    struct mxr_result *res = xcalloc(1, sizeof(*res));
    size_t n;

    if (self.base == NULL)
        msg_panic("mxr_resolve: mxr_init() was not called");
    lk->res = res;
    lk->cb = cb;
    lk->ctx = ctx;
    res->host = xstrdup(host);
    for (char *p = res->host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    n = strlen(res->host);
    if (n > 1 && res->host[n - 1] == '.')
        res->host[n - 1] = '\0';
    res->port = port;
    res->mx = mx;
    if (literal(res)) {
        res->mx = 0;
        lk->kick = event_new(self.base, -1, 0, on_kick, lk);
        if (lk->kick == NULL)
            msg_fatal("cannot create event");
        event_active(lk->kick, EV_TIMEOUT, 1);
        return lk;
    }
    if (mx) {
        lk->mx_pending = dns_lookup_mx(res->host, on_mx, lk);
    } else {
        add_host(res, res->host, 0, 0, 0);
        start_addr_lookups(lk);
    }
    return lk;
}

void mxr_cancel(struct mxr_lookup *lk)
{
    if (lk == NULL)
        return;
    if (lk->mx_pending)
        dns_cancel(lk->mx_pending);
    for (size_t i = 0; i < MXR_HOSTS_MAX; i++) {
        if (lk->reqs[i].pending)
            dns_cancel(lk->reqs[i].pending);
    }
    if (lk->kick)
        event_free(lk->kick);
    mxr_result_free(lk->res);
    xfree(lk);
}
