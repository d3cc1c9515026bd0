/*
 * dns_result.c - the struct dns_result a callback receives (see dns.h,
 * "Results"), built from a finished lookup.
 *
 * An address lookup's status comes from its best part (OK, then TEMPFAIL,
 * PERMFAIL, NXDOMAIN, NODATA). MX hosts are sorted by preference and
 * shuffled among equals, addresses shuffled within each family (IPv4
 * first), afresh for every result, also from the cache. TTLs are counted
 * from the moment each part got its outcome, with the clock reading that
 * computed its expiry: a fresh answer shows the TTL the server sent, a
 * cached one what is left. Delivery follows within the same turn of the
 * event loop.
 *
 * Memory: dns_result_build() returns a fresh result that owns every
 * string and array in it; the caller (the callback) frees it with
 * dns_result_free(). The lookup is only read.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "dns_private.h"
#include "msg.h"

/* ------------------------------------------------------------------------ */
/* Order */

static void sort_mx_by_pref(struct dns_mx *mx, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct dns_mx tmp = mx[i];
        size_t j = i;

        while (j > 0 && mx[j - 1].pref > tmp.pref) {
            mx[j] = mx[j - 1];
            j--;
        }
        mx[j] = tmp;
    }
}

/* Sorted by preference, a fresh random order among equal preferences. */
static void shuffle_mx(struct dns_mx *mx, size_t n)
{
    size_t start = 0;

    sort_mx_by_pref(mx, n);
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

/* ------------------------------------------------------------------------ */
/* Parts of a result */

static void result_cnames(struct dns_result *r, const struct dns_rrset *set, uint64_t now)
{
    if (set->nlinks == 0 || r->cname_count > 0)
        return;
    r->cnames = xcalloc(set->nlinks, sizeof(*r->cnames));
    r->cname_count = set->nlinks;
    for (size_t i = 0; i < set->nlinks; i++) {
        r->cnames[i].owner = xstrdup(set->links[i].owner);
        r->cnames[i].target = xstrdup(set->links[i].target);
        r->cnames[i].ttl = dns_ttl_left(set->links[i].expire_ms, now);
    }
}

/* MX hosts; a null MX (RFC 7505) or no usable host changes the status. */
static void result_mx(struct dns_result *r, const struct dns_part *part)
{
    const struct dns_rrset *set = &part->set;
    uint64_t now = part->finished_ms;
    size_t roots = 0;

    r->mx = xcalloc(set->nrecs ? set->nrecs : 1, sizeof(*r->mx));
    for (size_t i = 0; i < set->nrecs; i++) {
        const struct dns_rec *rec = &set->recs[i];

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
        r->mx[r->mx_count].ttl = dns_ttl_left(rec->expire_ms, now);
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

/* "a", then "a,b" when a second part was answered by another server. */
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
        const struct dns_part *part = &l->parts[i];
        int family = part->qtype == DNS_TYPE_A ? AF_INET : AF_INET6;

        if (part->set.status != DNS_OK)
            continue;
        for (size_t k = 0; k < part->set.nrecs; k++) {
            struct dns_addr *a = &r->addrs[r->addr_count++];

            a->family = family;
            memcpy(a->addr, part->set.recs[k].addr, family == AF_INET ? 4 : 16);
            inet_ntop(family, a->addr, a->text, sizeof(a->text));
            a->ttl = dns_ttl_left(part->set.recs[k].expire_ms, part->finished_ms);
        }
        if (family == AF_INET)
            n4 = r->addr_count;
    }
    shuffle_addrs(r->addrs, n4);
    shuffle_addrs(r->addrs + n4, r->addr_count - n4);
}

/* The lookup's status from its parts (address lookups combine two). */
static const struct dns_part *deciding_part(const struct dns_lookup *l)
{
    static const enum dns_status order[] = {DNS_OK, DNS_TEMPFAIL, DNS_PERMFAIL, DNS_NXDOMAIN,
                                            DNS_NODATA};

    for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++)
        for (size_t i = 0; i < l->nparts; i++)
            if (l->parts[i].set.status == order[o])
                return &l->parts[i];
    return &l->parts[0];
}

/* A lookup whose name is not a host name: PERMFAIL, nothing asked. */
static struct dns_result *result_invalid(struct dns_result *r, const struct dns_lookup *l)
{
    r->status = DNS_PERMFAIL;
    r->canonical = xstrdup(l->name);
    r->reason = xstrdup(l->invalid);
    r->expires = (long long)time(NULL);
    return r;
}

/* ------------------------------------------------------------------------ */
/* The result */

struct dns_result *dns_result_build(const struct dns_lookup *l)
{
    struct dns_result *r = xcalloc(1, sizeof(*r));
    unsigned ttl = UINT32_MAX;
    const struct dns_part *decider;

    r->kind = l->kind;
    r->name = xstrdup(l->name);
    r->server = xstrdup("");
    if (l->invalid != NULL)
        return result_invalid(r, l);
    decider = deciding_part(l);
    r->status = decider->set.status;
    r->cached = 1;
    for (size_t i = 0; i < l->nparts; i++) {
        const struct dns_part *part = &l->parts[i];

        /* An OK result lasts as long as its records; a failure as its parts. */
        if (r->status != DNS_OK || part->set.status == DNS_OK) {
            unsigned left = dns_ttl_left(part->set.expire_ms, part->finished_ms);

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
