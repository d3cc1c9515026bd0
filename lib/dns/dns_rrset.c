/*
 * dns_rrset.c - the outcome of one DNS question (see dns_private.h):
 * records and CNAME links with absolute expiry times on CLOCK_MONOTONIC,
 * so that a change of the wall clock never stretches a TTL.
 *
 * An rrset is built from a dns_msg answer (dns_rrset_from_answer), extended
 * link by link as a lookup follows CNAMEs, copied into and out of the cache.
 *
 * Memory: a struct dns_rrset owns its strings and arrays (xstrdup, xcalloc);
 * dns_rrset_free() releases them. Copies are deep. This file keeps no state.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "dns_private.h"

uint64_t dns_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

unsigned dns_ttl_left(uint64_t expire_ms, uint64_t now)
{
    return expire_ms > now ? (unsigned)((expire_ms - now) / 1000) : 0;
}

uint64_t dns_expiry(uint64_t now, uint32_t ttl, unsigned cap)
{
    return now + (uint64_t)(ttl < cap ? ttl : cap) * 1000;
}

uint64_t dns_min_expiry(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static char *xstrdup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void recs_free(struct dns_rrset *set)
{
    for (size_t i = 0; i < set->nrecs; i++)
        xfree(set->recs[i].host);
    set->recs = xfree(set->recs);
    set->nrecs = 0;
}

void dns_rrset_free(struct dns_rrset *set)
{
    recs_free(set);
    for (size_t i = 0; i < set->nlinks; i++) {
        xfree(set->links[i].owner);
        xfree(set->links[i].target);
    }
    xfree(set->links);
    xfree(set->canonical);
    xfree(set->server);
    xfree(set->reason);
    memset(set, 0, sizeof(*set));
}

static void links_append(struct dns_rrset *dst, const struct dns_link *links, size_t n)
{
    if (n == 0)
        return;
    dst->links = xrealloc(dst->links, (dst->nlinks + n) * sizeof(*dst->links));
    for (size_t i = 0; i < n; i++) {
        struct dns_link *l = &dst->links[dst->nlinks++];

        l->owner = xstrdup(links[i].owner);
        l->target = xstrdup(links[i].target);
        l->expire_ms = links[i].expire_ms;
    }
}

static void recs_copy(struct dns_rrset *dst, const struct dns_rec *recs, size_t n)
{
    dst->recs = n ? xcalloc(n, sizeof(*dst->recs)) : NULL;
    dst->nrecs = n;
    for (size_t i = 0; i < n; i++) {
        dst->recs[i] = recs[i];
        dst->recs[i].host = xstrdup_or_null(recs[i].host);
    }
}

void dns_rrset_copy(struct dns_rrset *dst, const struct dns_rrset *src)
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

void dns_rrset_extend(struct dns_rrset *set, const struct dns_rrset *tail)
{
    int first = set->nlinks == 0 && set->expire_ms == 0;

    links_append(set, tail->links, tail->nlinks);
    recs_free(set);
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
        set->expire_ms = dns_min_expiry(set->expire_ms, tail->expire_ms);
}

uint64_t dns_rrset_add_chain(struct dns_rrset *set, const struct dns_answer *ans, uint64_t now)
{
    uint64_t expire = UINT64_MAX;

    for (size_t i = 0; i < ans->chain_len; i++) {
        struct dns_link l = {(char *)ans->chain[i]->name, ans->chain[i]->u.target,
                             dns_expiry(now, ans->chain[i]->ttl, dns_core.opts.max_ttl)};

        links_append(set, &l, 1);
        expire = dns_min_expiry(expire, l.expire_ms);
    }
    return expire;
}

/* The records of a DATA answer; the rrset expires with the first of them. */
static void recs_from_answer(struct dns_rrset *set, const struct dns_answer *ans,
                             uint16_t qtype, uint64_t now)
{
    set->recs = xcalloc(ans->record_count, sizeof(*set->recs));
    set->nrecs = ans->record_count;
    for (size_t i = 0; i < ans->record_count; i++) {
        const struct dns_rr *rr = ans->records[i];
        struct dns_rec *r = &set->recs[i];

        r->expire_ms = dns_expiry(now, rr->ttl, dns_core.opts.max_ttl);
        set->expire_ms = dns_min_expiry(set->expire_ms, r->expire_ms);
        if (qtype == DNS_TYPE_MX) {
            r->pref = rr->u.mx.pref;
            r->host = xstrdup(rr->u.mx.exchange);
        } else {
            memcpy(r->addr, rr->u.addr, qtype == DNS_TYPE_A ? 4 : 16);
        }
    }
}

void dns_rrset_from_answer(struct dns_rrset *set, const struct dns_answer *ans, uint16_t qtype,
                           const char *server, uint64_t now)
{
    char tbuf[16];

    memset(set, 0, sizeof(*set));
    set->server = xstrdup(server);
    set->canonical = xstrdup(ans->final_name);
    set->expire_ms = dns_rrset_add_chain(set, ans, now);
    if (ans->kind == DNS_ANSWER_DATA) {
        set->status = DNS_OK;
        recs_from_answer(set, ans, qtype, now);
        return;
    }
    set->status = ans->kind == DNS_ANSWER_NXDOMAIN ? DNS_NXDOMAIN : DNS_NODATA;
    set->reason = xasprintf(ans->kind == DNS_ANSWER_NXDOMAIN ? "%s: no such domain"
                            : "%s: no %s record", ans->final_name,
                            dns_type_name(qtype, tbuf, sizeof(tbuf)));
    if (ans->has_soa)
        set->expire_ms = dns_min_expiry(set->expire_ms,
                                        dns_expiry(now, ans->ttl, dns_core.opts.max_negative_ttl));
    else
        set->expire_ms = 0;
}
