/*
 * test_mx_resolve.c - the MX decision (mxr_plan): preference order, hosts
 * without addresses, loop detection by address and by name, and the
 * outcome when nothing is left. Table-driven; the DNS answers are built
 * by hand (no resolver runs).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "alloc.h"
#include "check.h"
#include "dns.h"
#include "mx_resolve.h"

struct host_spec {
    const char *name;
    unsigned pref;
    enum dns_status status;     /* of its address lookup */
    const char *addrs;          /* "a b c" */
};

struct plan_case {
    const char *what;
    int mx;
    int implicit;               /* hosts[0] is the implicit MX */
    struct host_spec hosts[4];
    const char *status;         /* "ok", "defer", "bounce" */
    const char *dsn;
    const char *reason;         /* prefix of the reason ("" when OK) */
    const char *targets;        /* "host[addr] ..." */
    const char *states;         /* "used,cut,..." */
    int loop;
};

#define OWN "192.0.2.1, [2001:db8::1]"
#define ME "me.example"

static const struct plan_case cases[] = {
    { "preference order, every address", 1, 0,
      { { "mx1.example", 10, DNS_OK, "198.51.100.1 198.51.100.2" },
        { "mx2.example", 20, DNS_OK, "198.51.100.3" } },
      "ok", "2.0.0", "",
      "mx1.example[198.51.100.1] mx1.example[198.51.100.2] mx2.example[198.51.100.3]",
      "used,used", 0 },
    { "a host without address is skipped", 1, 0,
      { { "mx1.example", 10, DNS_NXDOMAIN, "" },
        { "mx2.example", 20, DNS_OK, "198.51.100.3" } },
      "ok", "2.0.0", "", "mx2.example[198.51.100.3]", "no address,used", 0 },
    { "loop: our address cuts equal and worse preferences", 1, 0,
      { { "mx1.example", 10, DNS_OK, "198.51.100.1" },
        { "self.example", 20, DNS_OK, "192.0.2.1" },
        { "peer.example", 20, DNS_OK, "198.51.100.9" },
        { "mx3.example", 30, DNS_OK, "198.51.100.3" } },
      "ok", "2.0.0", "", "mx1.example[198.51.100.1]", "used,self,cut,cut", 1 },
    { "loop: myhostname by name", 1, 0,
      { { "mx1.example", 10, DNS_OK, "198.51.100.1" },
        { "ME.example", 20, DNS_NXDOMAIN, "" } },
      "ok", "2.0.0", "", "mx1.example[198.51.100.1]", "used,self", 1 },
    { "loop: the best MX is us", 1, 0,
      { { "self.example", 10, DNS_OK, "198.51.100.7 2001:db8::1" },
        { "mx2.example", 20, DNS_OK, "198.51.100.3" } },
      "bounce", "5.4.6", "mail for example.org loops back to myself", "", "self,cut", 1 },
    { "loop: better MX hosts have no address", 1, 0,
      { { "mx1.example", 10, DNS_TEMPFAIL, "" },
        { "self.example", 20, DNS_OK, "192.0.2.1" } },
      "defer", "4.4.4", "unable to find primary relay for example.org", "",
      "no address,self", 1 },
    { "implicit MX that is us", 1, 1,
      { { "example.org", 0, DNS_OK, "192.0.2.1" } },
      "bounce", "5.4.6", "mail for example.org loops back to myself", "", "self", 1 },
    { "implicit MX with an address", 1, 1,
      { { "example.org", 0, DNS_OK, "198.51.100.5" } },
      "ok", "2.0.0", "", "example.org[198.51.100.5]", "used", 0 },
    { "no MX host has an address: bounce", 1, 0,
      { { "mx1.example", 10, DNS_NXDOMAIN, "" },
        { "mx2.example", 20, DNS_NODATA, "" } },
      "bounce", "5.4.4", "Host or domain name not found. Name service error for "
      "name=mx1.example type=A: Host not found", "", "no address,no address", 0 },
    { "a temporary failure defers", 1, 0,
      { { "mx1.example", 10, DNS_NXDOMAIN, "" },
        { "mx2.example", 20, DNS_TEMPFAIL, "" } },
      "defer", "4.4.3", "Host or domain name not found. Name service error for "
      "name=mx2.example type=A: Host not found, try again", "", "no address,no address", 0 },
    { "no MX lookup: our own address is fine", 0, 0,
      { { "relay.example", 0, DNS_OK, "192.0.2.1" } },
      "ok", "2.0.0", "", "relay.example[192.0.2.1]", "used", 0 },
    { "no MX lookup: name not found defers", 0, 0,
      { { "relay.example", 0, DNS_NXDOMAIN, "" } },
      "defer", "4.4.4", "Host or domain name not found. Name service error for "
      "name=relay.example type=A: Host not found", "", "no address", 0 },
    { "IPv4-mapped IPv6 of ours is us", 1, 0,
      { { "mapped.example", 10, DNS_OK, "::ffff:192.0.2.1" } },
      "bounce", "5.4.6", "mail for example.org loops back to myself", "", "self", 1 },
};

static struct dns_result *addr_result(const struct host_spec *h)
{
    struct dns_result *r = xcalloc(1, sizeof(*r));
    char *list = xstrdup(h->addrs), *save = NULL;

    r->kind = DNS_KIND_ADDR;
    r->status = h->status;
    r->name = xstrdup(h->name);
    r->canonical = xstrdup(h->name);
    r->server = xstrdup("127.0.0.1:53");
    r->reason = xstrdup(h->status == DNS_OK ? "" : "test");
    for (char *a = strtok_r(list, " ", &save); a; a = strtok_r(NULL, " ", &save)) {
        struct dns_addr *d;

        r->addrs = xrealloc(r->addrs, (r->addr_count + 1) * sizeof(*r->addrs));
        d = &r->addrs[r->addr_count++];
        memset(d, 0, sizeof(*d));
        d->family = strchr(a, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(d->family, a, d->addr) != 1) {
            fprintf(stderr, "bad test address %s\n", a);
            exit(2);
        }
        snprintf(d->text, sizeof(d->text), "%s", a);
        d->ttl = 60;
    }
    xfree(list);
    return r;
}

static void run_case(const struct plan_case *c)
{
    struct mxr_result *res = xcalloc(1, sizeof(*res));
    char targets[512] = "", states[256] = "", what[256];

    res->host = xstrdup("example.org");
    res->port = 25;
    res->mx = c->mx;
    for (size_t i = 0; i < 4 && c->hosts[i].name; i++) {
        struct mxr_host *h;

        res->hosts = xrealloc(res->hosts, (res->host_count + 1) * sizeof(*res->hosts));
        h = &res->hosts[res->host_count++];
        memset(h, 0, sizeof(*h));
        h->name = xstrdup(c->hosts[i].name);
        for (char *p = h->name; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        h->pref = c->hosts[i].pref;
        h->implicit = c->implicit && i == 0;
        h->self_name = strcmp(h->name, ME) == 0;
        h->addr = addr_result(&c->hosts[i]);
    }
    mxr_plan(res);
    for (size_t i = 0; i < res->target_count; i++) {
        size_t n = strlen(targets);
        snprintf(targets + n, sizeof(targets) - n, "%s%s[%s]", n ? " " : "",
                 res->hosts[res->targets[i].host].name, res->targets[i].addr.text);
    }
    for (size_t i = 0; i < res->host_count; i++) {
        size_t n = strlen(states);
        snprintf(states + n, sizeof(states) - n, "%s%s", n ? "," : "",
                 mxr_host_state_name(res->hosts[i].state));
    }
    snprintf(what, sizeof(what), "%s: status", c->what);
    CHECK_STR(what, mxr_status_name(res->status), c->status);
    snprintf(what, sizeof(what), "%s: dsn", c->what);
    CHECK_STR(what, res->dsn, c->dsn);
    snprintf(what, sizeof(what), "%s: reason", c->what);
    if (strncmp(res->reason, c->reason, strlen(c->reason)) != 0 || (!c->reason[0] && res->reason[0]))
        CHECK_STR(what, res->reason, c->reason);
    else
        CHECK_TRUE(what, 1);
    snprintf(what, sizeof(what), "%s: targets", c->what);
    CHECK_STR(what, targets, c->targets);
    snprintf(what, sizeof(what), "%s: host states", c->what);
    CHECK_STR(what, states, c->states);
    snprintf(what, sizeof(what), "%s: loop", c->what);
    CHECK_LONG(what, res->loop, c->loop);
    mxr_result_free(res);
}

static void test_self_list(void)
{
    char err[256];
    struct dns_addr a;

    CHECK_LONG("bad proxy_interfaces entry", mxr_init(NULL, ME, "192.0.2.1 not-an-ip", 0,
                                                       err, sizeof(err)), -1);
    CHECK_STR("its error", err, "proxy_interfaces: \"not-an-ip\" is not an IP address");
    CHECK_LONG("proxy_interfaces", mxr_init(NULL, ME, OWN ", 192.0.2.1", 0, err,
                                            sizeof(err)), 0);
    CHECK_STR("own addresses, duplicates removed", mxr_self_text(), "192.0.2.1,2001:db8::1");
    memset(&a, 0, sizeof(a));
    a.family = AF_INET;
    inet_pton(AF_INET, "192.0.2.2", a.addr);
    CHECK_LONG("another address is not us", mxr_is_self(&a), 0);
    CHECK_LONG("interfaces (getifaddrs) work", mxr_init(NULL, ME, OWN, 1, err, sizeof(err)),
               0);
    inet_pton(AF_INET, "127.0.0.1", a.addr);
    CHECK_LONG("127.0.0.1 is an interface address", mxr_is_self(&a), 1);
    inet_pton(AF_INET, "127.0.0.2", a.addr);
    CHECK_LONG("127.0.0.2 is not (only configured addresses count)", mxr_is_self(&a), 0);
}

int main(void)
{
    char err[256];

    test_self_list();
    if (mxr_init(NULL, ME, OWN, 0, err, sizeof(err)) < 0) {
        fprintf(stderr, "mxr_init: %s\n", err);
        return 2;
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i]);
    mxr_end();
    return check_finish("test_mx_resolve");
}
