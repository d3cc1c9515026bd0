/*
 * pr_json.c - postroute's report as one JSON object per address, on one
 * line (the schema is in docs/operator-guide.md, "Where mail goes").
 * Written with lib/util/json.h, so strings follow Postern's one rule for
 * JSON text (a byte that is not UTF-8 is \u00XX of its value). DNS
 * results are embedded as lib/dns formats them (dns_result_format()).
 *
 * Memory: the object is built in a strbuf, written to stdout and freed;
 * the DNS texts are freed after use.
 */
#include <stdio.h>
#include <sys/socket.h>

#include "alloc.h"
#include "json.h"
#include "postroute.h"
#include "strbuf.h"

/* A member whose value is a string ("" when text is NULL). */
static void member_str(struct json_writer *w, const char *key, const char *text)
{
    json_key(w, key);
    json_string(w, text ? text : "");
}

/* A member whose value is a string, or null when there is none. */
static void member_or_null(struct json_writer *w, const char *key, const char *text)
{
    json_key(w, key);
    json_string(w, text);
}

static void member_uint(struct json_writer *w, const char *key, unsigned value)
{
    json_key(w, key);
    json_uint(w, value);
}

static void member_bool(struct json_writer *w, const char *key, int value)
{
    json_key(w, key);
    json_bool(w, value);
}

static void member_dns(struct json_writer *w, const char *key, const struct dns_result *d)
{
    char *text;

    json_key(w, key);
    if (d == NULL) {
        json_null(w);
        return;
    }
    text = dns_result_format(d, DNS_FORMAT_JSON);
    json_raw(w, text);
    xfree(text);
}

static const char *kind_name(enum rewrite_step_kind kind)
{
    switch (kind) {
    case REWRITE_STEP_MATCH:
        return "match";
    case REWRITE_STEP_SELF:
        return "self";
    case REWRITE_STEP_DUP:
        return "duplicate";
    }
    return "?";
}

static void member_rewrite(struct json_writer *w, const char *key, const struct rewrite_trace *t)
{
    json_key(w, key);
    json_array_begin(w);
    for (size_t i = 0; i < t->count; i++) {
        const struct rewrite_step *st = &t->steps[i];

        json_object_begin(w);
        member_str(w, "kind", kind_name(st->kind));
        member_str(w, "map", rewrite_map_name(st->map));
        json_key(w, "depth");
        json_int(w, st->depth);
        member_str(w, "in", st->in);
        member_str(w, "where", st->where);
        member_str(w, "key", st->key);
        member_str(w, "value", st->value);
        member_str(w, "out", st->out);
        json_object_end(w);
    }
    json_array_end(w);
}

static void member_route(struct json_writer *w, const struct route_result *r)
{
    json_key(w, "route");
    json_array_begin(w);
    for (size_t i = 0; i < r->trace_count; i++) {
        const struct route_step *st = &r->trace[i];

        json_object_begin(w);
        member_str(w, "source", st->source);
        member_bool(w, "found", st->found);
        member_str(w, "where", st->where);
        member_str(w, "key", st->key);
        member_str(w, "value", st->value);
        json_object_end(w);
    }
    json_array_end(w);
}

static void member_hosts(struct json_writer *w, const struct mxr_result *m)
{
    json_key(w, "hosts");
    json_array_begin(w);
    for (size_t i = 0; i < m->host_count; i++) {
        const struct mxr_host *h = &m->hosts[i];

        json_object_begin(w);
        member_str(w, "host", h->name);
        member_uint(w, "pref", h->pref);
        member_uint(w, "ttl", h->ttl);
        member_bool(w, "implicit", h->implicit);
        member_str(w, "state", mxr_host_state_name(h->state));
        member_bool(w, "myhostname", h->self_name);
        member_or_null(w, "self_address", h->self_addr[0] ? h->self_addr : NULL);
        member_dns(w, "lookup", h->addr);
        json_object_end(w);
    }
    json_array_end(w);
}

static void member_targets(struct json_writer *w, const struct mxr_result *m)
{
    json_key(w, "targets");
    json_array_begin(w);
    for (size_t i = 0; i < m->target_count; i++) {
        const struct mxr_target *t = &m->targets[i];

        json_object_begin(w);
        member_str(w, "host", m->hosts[t->host].name);
        member_uint(w, "pref", m->hosts[t->host].pref);
        member_str(w, "address", t->addr.text);
        member_str(w, "family", t->addr.family == AF_INET ? "inet" : "inet6");
        member_uint(w, "port", m->port);
        member_uint(w, "ttl", t->addr.ttl);
        json_object_end(w);
    }
    json_array_end(w);
}

static void member_mx(struct json_writer *w, const struct mxr_result *m)
{
    json_key(w, "dns");
    if (m == NULL) {
        json_null(w);
        return;
    }
    json_object_begin(w);
    member_str(w, "host", m->host);
    member_uint(w, "port", m->port);
    member_bool(w, "mx_lookup", m->mx);
    member_bool(w, "literal", m->literal);
    member_dns(w, "mx", m->mx_result);
    member_hosts(w, m);
    member_bool(w, "loop", m->loop);
    json_key(w, "loop_pref");
    if (m->loop)
        json_uint(w, m->loop_pref);
    else
        json_null(w);
    member_str(w, "own_addresses", mxr_self_text());
    member_targets(w, m);
    member_str(w, "status", mxr_status_name(m->status));
    member_str(w, "dsn", m->dsn);
    member_str(w, "reason", m->reason);
    json_object_end(w);
}

static void write_rcpt(struct json_writer *w, const struct pr_rcpt *r)
{
    const struct route_result *rt = &r->route;
    int smtp = rt->status == ROUTE_OK && rt->transport == ROUTE_TRANSPORT_SMTP;

    json_object_begin(w);
    member_str(w, "recipient", r->address);
    member_route(w, rt);
    member_str(w, "route_status", rt->status == ROUTE_OK ? "ok" : "defer");
    member_or_null(w, "transport", rt->status == ROUTE_OK ? rt->transport_name : NULL);
    member_or_null(w, "nexthop", smtp ? rt->nexthop : NULL);
    member_mx(w, r->mx);
    member_str(w, "result", pr_outcome_name(r->outcome));
    member_str(w, "dsn", r->dsn);
    member_str(w, "text", r->text);
    json_object_end(w);
}

/* Why rewriting failed (the recipient's, else the sender's), or NULL. */
static const char *rewrite_error(const struct pr_addr *a)
{
    if (a->rewrite_rc != REWRITE_OK)
        return a->rewrite_error;
    if (a->sender_out == NULL)
        return a->sender_error;
    return NULL;
}

void pr_print_json(const struct pr_addr *a)
{
    struct strbuf out = STRBUF_INIT;
    struct json_writer w;

    json_init(&w, &out);
    json_object_begin(&w);
    member_str(&w, "address", a->input);
    member_str(&w, "sender", a->sender);
    member_or_null(&w, "sender_rewritten", a->sender_out);
    member_rewrite(&w, "sender_rewrite", a->sender_trace);
    member_rewrite(&w, "rewrite", &a->trace);
    member_or_null(&w, "rewrite_error", rewrite_error(a));
    json_key(&w, "recipients");
    json_array_begin(&w);
    for (size_t i = 0; i < a->count; i++)
        write_rcpt(&w, &a->rcpts[i]);
    json_array_end(&w);
    member_str(&w, "result", a->worst == PR_BOUNCE ? "undeliverable"
                             : a->worst == PR_DEFER ? "temporary failure" : "ok");
    json_object_end(&w);
    strbuf_add_char(&out, '\n');
    fwrite(strbuf_str(&out), 1, strbuf_len(&out), stdout);
    strbuf_free(&out);
}
