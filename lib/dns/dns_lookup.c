/*
 * dns_lookup.c - the resolver's query state machine (see dns.h, "Lookups").
 *
 * A lookup is what the caller asked for: MX is one part, an address lookup
 * an A and/or an AAAA part. A part is one question (name, type): it asks
 * the cache, else server 0, and moves on to the next server after a
 * timeout, a failure or a malformed answer. It reads each answer with
 * dns_msg and follows CNAMEs, asking again for the target when a server
 * did not (DNS_CNAME_MAX links in all). Positive and negative outcomes go
 * into the cache, under the name asked and, after CNAMEs, under the name
 * the lookup started from. When every part is done the lookup is queued,
 * and a libevent event delivers queued results outside of any c-ares call,
 * so callbacks may do anything (new lookups, cancel, shutdown).
 *
 * Lifetimes: a lookup lives until its result is delivered, or, once
 * cancelled, until c-ares has called back for every query it has in
 * flight (c-ares offers no way to cancel one query). c-ares' callback
 * argument is the part.
 *
 * Memory: the module owns every live lookup (a list) and the delivery
 * queue and event; the result handed to a callback belongs to it.
 */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "dns_private.h"
#include "errtext.h"
#include "msg.h"

static struct {
    struct dns_lookup *all;         /* every live lookup */
    struct dns_lookup *qhead, *qtail; /* finished, waiting for delivery */
    size_t qlen;
    struct event *deliver_ev;
} lookups;

static void part_ask(struct dns_part *part);

static const char *qtype_name(uint16_t qtype)
{
    static char buf[16];

    return dns_type_name(qtype, buf, sizeof(buf));
}

/* ------------------------------------------------------------------------ */
/* The list of lookups and the delivery queue */

static void lookup_free(struct dns_lookup *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        lookups.all = l->next;
    if (l->next)
        l->next->prev = l->prev;
    for (size_t i = 0; i < l->nparts; i++) {
        xfree(l->parts[i].asked);
        xfree(l->parts[i].last_error);
        dns_rrset_free(&l->parts[i].set);
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
        lookups.qhead = l->qnext;
    if (l->qnext)
        l->qnext->qprev = l->qprev;
    else
        lookups.qtail = l->qprev;
    l->qprev = l->qnext = NULL;
    l->queued = 0;
    lookups.qlen--;
}

static void lookup_enqueue(struct dns_lookup *l)
{
    l->queued = 1;
    l->qnext = NULL;
    l->qprev = lookups.qtail;
    if (lookups.qtail)
        lookups.qtail->qnext = l;
    else
        lookups.qhead = l;
    lookups.qtail = l;
    lookups.qlen++;
    event_active(lookups.deliver_ev, EV_TIMEOUT, 0);
}

/* Deliver what was queued before this turn; stop if a callback restarts the resolver. */
static void deliver_cb(evutil_socket_t fd, short what, void *arg)
{
    unsigned generation = dns_core.generation;
    size_t budget = lookups.qlen;

    (void)fd;
    (void)what;
    (void)arg;
    while (budget-- > 0 && lookups.qhead != NULL) {
        struct dns_lookup *l = lookups.qhead;
        struct dns_result *r;
        dns_callback cb = l->cb;
        void *ctx = l->ctx;

        queue_unlink(l);
        r = dns_result_build(l);
        lookup_free(l);
        cb(r, ctx);
        if (!dns_core.active || dns_core.generation != generation)
            return;
    }
}

/* ------------------------------------------------------------------------ */
/* Parts: completion */

/* A part has its outcome (known at `now`). Completes the lookup when it was the last. */
static void part_finish(struct dns_part *part, uint64_t now)
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

static void part_fail(struct dns_part *part, enum dns_status status, const char *reason)
{
    part->set.status = status;
    part->set.expire_ms = 0;
    xfree(part->set.reason);
    part->set.reason = xstrdup(reason);
    part_finish(part, dns_now_ms());
}

/* The terminal outcome for part->asked, known at `now`: cache it, finish the part. */
static void part_complete(struct dns_part *part, const struct dns_rrset *tail, uint64_t now)
{
    struct dns_lookup *l = part->lookup;
    int via_links = part->set.nlinks > 0;

    dns_rrset_extend(&part->set, tail);
    if (via_links)
        dns_cache_put(l->name, part->qtype, &part->set, now);
    part_finish(part, now);
}

/* Ask the next server, or give up with the last error. */
static void part_next_server(struct dns_part *part, const char *error)
{
    struct dns_lookup *l = part->lookup;

    xfree(part->last_error);
    part->last_error = xstrdup(error);
    if (!dns_core.active || l->cancelled || part->server + 1 >= dns_server_count()) {
        part_fail(part, DNS_TEMPFAIL, part->last_error);
        return;
    }
    part->server++;
    part_ask(part);
}

/* ------------------------------------------------------------------------ */
/* Parts: reading an answer */

/* The answer ends in a CNAME the server did not follow: ask for its target. */
static void part_follow(struct dns_part *part, const struct dns_answer *ans, const char *server)
{
    const char *target = ans->final_name;
    int first = part->set.nlinks == 0;
    uint64_t expire = dns_rrset_add_chain(&part->set, ans, dns_now_ms());
    char reason[DNS_NAME_TEXT_MAX + DNS_SERVER_LABEL_MAX + 64];

    part->set.expire_ms = first ? expire : dns_min_expiry(part->set.expire_ms, expire);
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
    if (part->lookup->cancelled || !dns_core.active) {
        part_fail(part, DNS_TEMPFAIL, "cancelled");
        return;
    }
    xfree(part->asked);
    part->asked = xstrdup(target);
    part->server = 0;
    part_ask(part);
}

/* DATA, NXDOMAIN or NODATA from `server`: cache it under the name asked, complete. */
static void part_terminal(struct dns_part *part, const struct dns_answer *ans, const char *server)
{
    struct dns_rrset tail;
    uint64_t now = dns_now_ms();

    part->used_network = 1;
    dns_rrset_from_answer(&tail, ans, part->qtype, server, now);
    dns_cache_put(part->asked, part->qtype, &tail, now);
    part_complete(part, &tail, now);
    dns_rrset_free(&tail);
}

/* An answer that is not one: a CNAME problem fails the part, anything else tries the next server. */
static void part_bad_answer(struct dns_part *part, const struct dns_answer *ans,
                            const char *server)
{
    char reason[DNS_ERR_MAX + DNS_SERVER_LABEL_MAX + 32];
    int cname_problem = strstr(ans->reason, "CNAME") != NULL;

    if (!cname_problem)
        msg_warn("dns: unusable answer from %s for %s/%s: %s", server, part->asked,
                 qtype_name(part->qtype), ans->reason);
    snprintf(reason, sizeof(reason), "%s (from %s)", ans->reason, server);
    if (cname_problem)
        part_fail(part, DNS_TEMPFAIL, reason);
    else
        part_next_server(part, reason);
}

/* What an answer means for the part. The part (and its lookup) may be gone afterwards. */
static void part_use_answer(struct dns_part *part, const struct dns_answer *ans,
                            const char *server)
{
    char reason[DNS_ERR_MAX + DNS_SERVER_LABEL_MAX + 32];

    switch (ans->kind) {
    case DNS_ANSWER_DATA:
    case DNS_ANSWER_NXDOMAIN:
    case DNS_ANSWER_NODATA:
        part_terminal(part, ans, server);
        break;
    case DNS_ANSWER_CNAME:
        part->used_network = 1;
        part_follow(part, ans, server);
        break;
    case DNS_ANSWER_SERVER_ERROR:
        snprintf(reason, sizeof(reason), "%s from %s", ans->reason, server);
        part_next_server(part, reason);
        break;
    case DNS_ANSWER_BAD:
        part_bad_answer(part, ans, server);
        break;
    }
}

static void part_answer(struct dns_part *part, const unsigned char *abuf, int alen)
{
    const char *server = dns_server_label(part->server);
    struct dns_msg msg;
    struct dns_answer ans;
    char err[DNS_ERR_MAX];
    char reason[DNS_ERR_MAX + DNS_SERVER_LABEL_MAX + 32];
    size_t budget = DNS_CNAME_MAX - part->set.nlinks;

    if (dns_msg_parse(abuf, (size_t)alen, &msg, err, sizeof(err)) < 0) {
        msg_warn("dns: malformed answer from %s for %s/%s: %s", server, part->asked,
                 qtype_name(part->qtype), err);
        snprintf(reason, sizeof(reason), "malformed answer from %s: %s", server, err);
        part_next_server(part, reason);
        return;
    }
    dns_msg_answer(&msg, part->asked, part->qtype, budget, &ans);
    if (msg_verbose)
        msg_debug("dns: %s/%s from %s: kind %d ttl %u", part->asked, qtype_name(part->qtype),
                  server, (int)ans.kind, (unsigned)ans.ttl);
    part_use_answer(part, &ans, server);
    /* part (and its lookup) may be gone here: touch only locals. */
    dns_answer_free(&ans);
    dns_msg_free(&msg);
}

/* ------------------------------------------------------------------------ */
/* Parts: asking */

/* c-ares calls back: an answer (abuf != NULL) or a transport failure. */
static void query_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct dns_part *part = arg;
    struct dns_lookup *l = part->lookup;
    char reason[DNS_SERVER_LABEL_MAX + 96];

    (void)timeouts;
    part->in_flight = 0;
    l->in_flight--;
    if (!dns_core.active || status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
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
             dns_server_label(part->server));
    part_next_server(part, reason);
}

/* Ask the cache, else the current server, about part->asked. */
static void part_ask(struct dns_part *part)
{
    uint64_t now = dns_now_ms();
    const struct dns_rrset *hit = dns_cache_get(part->asked, part->qtype, now);

    if (hit != NULL) {
        struct dns_rrset copy;

        dns_rrset_copy(&copy, hit);
        part->from_cache = 1;
        part_complete(part, &copy, now);
        dns_rrset_free(&copy);
        return;
    }
    part->in_flight = 1;
    part->lookup->in_flight++;
    dns_server_query(part->server, part->asked, part->qtype, query_cb, part);
}

/* ------------------------------------------------------------------------ */
/* Lookups */

static struct dns_lookup *lookup_new(enum dns_kind kind, const char *name, dns_callback cb,
                                     void *ctx)
{
    struct dns_lookup *l;
    char norm[DNS_NAME_TEXT_MAX];
    char err[DNS_ERR_MAX];

    if (!dns_core.active)
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
    l->next = lookups.all;
    if (lookups.all)
        lookups.all->prev = l;
    lookups.all = l;
    return l;
}

static void lookup_add_part(struct dns_lookup *l, uint16_t qtype)
{
    struct dns_part *part = &l->parts[l->nparts++];

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
    if (l == NULL || !dns_core.active)
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

/* ------------------------------------------------------------------------ */
/* Life */

int dns_lookups_open(struct event_base *base, char *err, size_t errlen)
{
    memset(&lookups, 0, sizeof(lookups));
    lookups.deliver_ev = event_new(base, -1, 0, deliver_cb, NULL);
    if (lookups.deliver_ev == NULL) {
        errtext_set(err, errlen, "cannot create the delivery event");
        return -1;
    }
    return 0;
}

void dns_lookups_close(void)
{
    while (lookups.all != NULL)
        lookup_free(lookups.all);
    if (lookups.deliver_ev != NULL)
        event_free(lookups.deliver_ev);
    memset(&lookups, 0, sizeof(lookups));
}
