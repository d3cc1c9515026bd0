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

/* "" for a missing text (a member that is always a string). */
static const char *or_empty(const char *text)
{
    return text ? text : "";
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
        json_member_string(w, "kind", or_empty(kind_name(st->kind)));
        json_member_string(w, "map", or_empty(rewrite_map_name(st->map)));
        json_member_int(w, "depth", st->depth);
        json_member_string(w, "in", or_empty(st->in));
        json_member_string(w, "where", or_empty(st->where));
        json_member_string(w, "key", or_empty(st->key));
        json_member_string(w, "value", or_empty(st->value));
        json_member_string(w, "out", or_empty(st->out));
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
        json_member_string(w, "source", or_empty(st->source));
        json_member_bool(w, "found", st->found);
        json_member_string(w, "where", or_empty(st->where));
        json_member_string(w, "key", or_empty(st->key));
        json_member_string(w, "value", or_empty(st->value));
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
        json_member_string(w, "host", or_empty(h->name));
        json_member_uint(w, "pref", h->pref);
        json_member_uint(w, "ttl", h->ttl);
        json_member_bool(w, "implicit", h->implicit);
        json_member_string(w, "state", or_empty(mxr_host_state_name(h->state)));
        json_member_bool(w, "myhostname", h->self_name);
        json_member_string(w, "self_address", h->self_addr[0] ? h->self_addr : NULL);
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
        json_member_string(w, "host", or_empty(m->hosts[t->host].name));
        json_member_uint(w, "pref", m->hosts[t->host].pref);
        json_member_string(w, "address", or_empty(t->addr.text));
        json_member_string(w, "family", or_empty(t->addr.family == AF_INET ? "inet" : "inet6"));
        json_member_uint(w, "port", m->port);
        json_member_uint(w, "ttl", t->addr.ttl);
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
    json_member_string(w, "host", or_empty(m->host));
    json_member_uint(w, "port", m->port);
    json_member_bool(w, "mx_lookup", m->mx);
    json_member_bool(w, "literal", m->literal);
    member_dns(w, "mx", m->mx_result);
    member_hosts(w, m);
    json_member_bool(w, "loop", m->loop);
    json_key(w, "loop_pref");
    if (m->loop)
        json_uint(w, m->loop_pref);
    else
        json_null(w);
    json_member_string(w, "own_addresses", or_empty(mxr_self_text()));
    member_targets(w, m);
    json_member_string(w, "status", or_empty(mxr_status_name(m->status)));
    json_member_string(w, "dsn", or_empty(m->dsn));
    json_member_string(w, "reason", or_empty(m->reason));
    json_object_end(w);
}

static void write_rcpt(struct json_writer *w, const struct pr_rcpt *r)
{
    const struct route_result *rt = &r->route;
    int smtp = rt->status == ROUTE_OK && rt->transport == ROUTE_TRANSPORT_SMTP;

    json_object_begin(w);
    json_member_string(w, "recipient", or_empty(r->address));
    member_route(w, rt);
    json_member_string(w, "route_status", or_empty(rt->status == ROUTE_OK ? "ok" : "defer"));
    json_member_string(w, "transport", rt->status == ROUTE_OK ? rt->transport_name : NULL);
    json_member_string(w, "nexthop", smtp ? rt->nexthop : NULL);
    member_mx(w, r->mx);
    json_member_string(w, "result", or_empty(pr_outcome_name(r->outcome)));
    json_member_string(w, "dsn", or_empty(r->dsn));
    json_member_string(w, "text", or_empty(r->text));
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
    json_member_string(&w, "address", or_empty(a->input));
    json_member_string(&w, "sender", or_empty(a->sender));
    json_member_string(&w, "sender_rewritten", a->sender_out);
    member_rewrite(&w, "sender_rewrite", a->sender_trace);
    member_rewrite(&w, "rewrite", &a->trace);
    json_member_string(&w, "rewrite_error", rewrite_error(a));
    json_key(&w, "recipients");
    json_array_begin(&w);
    for (size_t i = 0; i < a->count; i++)
        write_rcpt(&w, &a->rcpts[i]);
    json_array_end(&w);
    json_member_string(&w, "result", or_empty(a->worst == PR_BOUNCE ? "undeliverable"
                             : a->worst == PR_DEFER ? "temporary failure" : "ok"));
    json_object_end(&w);
    strbuf_add_char(&out, '\n');
    fwrite(strbuf_str(&out), 1, strbuf_len(&out), stdout);
    strbuf_free(&out);
}
