/*
 * pr_json.c - postroute's report as one JSON object per address, on one
 * line (the schema is in docs/operator-guide.md, "Where mail goes").
 * DNS results are embedded as lib/dns formats them (dns_result_format()).
 * Strings are escaped: quote, backslash and control characters; bytes that
 * are not valid UTF-8 become U+FFFD.
 *
 * Memory: nothing is kept (the DNS texts are freed after printing).
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "alloc.h"
#include "postroute.h"

/* Length of the valid UTF-8 sequence at s (1-4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    }
    return n;
}

static void json_str(const char *text)
{
    const unsigned char *s = (const unsigned char *)(text ? text : "");

    putchar('"');
    while (*s) {
        size_t n = utf8_len(s);

        if (*s == '"' || *s == '\\') {
            printf("\\%c", *s);
        } else if (*s < 0x20 || *s == 0x7f) {
            printf("\\u%04x", *s);
        } else if (n == 0) {
            fputs("\\ufffd", stdout);
            n = 1;
        } else {
            fwrite(s, 1, n, stdout);
            s += n;
            continue;
        }
        s += n ? n : 1;
    }
    putchar('"');
}

static void json_key(const char *key, int first)
{
    if (!first)
        putchar(',');
    json_str(key);
    putchar(':');
}

static void json_dns(const struct dns_result *d)
{
    char *text;

    if (d == NULL) {
        fputs("null", stdout);
        return;
    }
    text = dns_result_format(d, DNS_FORMAT_JSON);
    fputs(text, stdout);
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

static void json_rewrite(const struct rewrite_trace *t)
{
    putchar('[');
    for (size_t i = 0; i < t->count; i++) {
        const struct rewrite_step *st = &t->steps[i];

        printf("%s{", i ? "," : "");
        json_key("kind", 1);
        json_str(kind_name(st->kind));
        json_key("map", 0);
        json_str(rewrite_map_name(st->map));
        json_key("depth", 0);
        printf("%d", st->depth);
        json_key("in", 0);
        json_str(st->in);
        json_key("where", 0);
        json_str(st->where);
        json_key("key", 0);
        json_str(st->key);
        json_key("value", 0);
        json_str(st->value);
        json_key("out", 0);
        json_str(st->out);
        putchar('}');
    }
    putchar(']');
}

static void json_route(const struct route_result *r)
{
    putchar('[');
    for (size_t i = 0; i < r->trace_count; i++) {
        const struct route_step *st = &r->trace[i];

        printf("%s{", i ? "," : "");
        json_key("source", 1);
        json_str(st->source);
        json_key("found", 0);
        fputs(st->found ? "true" : "false", stdout);
        json_key("where", 0);
        json_str(st->where);
        json_key("key", 0);
        json_str(st->key);
        json_key("value", 0);
        json_str(st->value);
        putchar('}');
    }
    putchar(']');
}

static void json_hosts(const struct mxr_result *m)
{
    putchar('[');
    for (size_t i = 0; i < m->host_count; i++) {
        const struct mxr_host *h = &m->hosts[i];

        printf("%s{", i ? "," : "");
        json_key("host", 1);
        json_str(h->name);
        json_key("pref", 0);
        printf("%u", h->pref);
        json_key("ttl", 0);
        printf("%u", h->ttl);
        json_key("implicit", 0);
        fputs(h->implicit ? "true" : "false", stdout);
        json_key("state", 0);
        json_str(mxr_host_state_name(h->state));
        json_key("myhostname", 0);
        fputs(h->self_name ? "true" : "false", stdout);
        json_key("self_address", 0);
        if (h->self_addr[0])
            json_str(h->self_addr);
        else
            fputs("null", stdout);
        json_key("lookup", 0);
        json_dns(h->addr);
        putchar('}');
    }
    putchar(']');
}

static void json_targets(const struct mxr_result *m)
{
    putchar('[');
    for (size_t i = 0; i < m->target_count; i++) {
        const struct mxr_target *t = &m->targets[i];

        printf("%s{", i ? "," : "");
        json_key("host", 1);
        json_str(m->hosts[t->host].name);
        json_key("pref", 0);
        printf("%u", m->hosts[t->host].pref);
        json_key("address", 0);
        json_str(t->addr.text);
        json_key("family", 0);
        json_str(t->addr.family == AF_INET ? "inet" : "inet6");
        json_key("port", 0);
        printf("%u", m->port);
        json_key("ttl", 0);
        printf("%u", t->addr.ttl);
        putchar('}');
    }
    putchar(']');
}

static void json_mx(const struct mxr_result *m)
{
    if (m == NULL) {
        fputs("null", stdout);
        return;
    }
    putchar('{');
    json_key("host", 1);
    json_str(m->host);
    json_key("port", 0);
    printf("%u", m->port);
    json_key("mx_lookup", 0);
    fputs(m->mx ? "true" : "false", stdout);
    json_key("literal", 0);
    fputs(m->literal ? "true" : "false", stdout);
    json_key("mx", 0);
    json_dns(m->mx_result);
    json_key("hosts", 0);
    json_hosts(m);
    json_key("loop", 0);
    fputs(m->loop ? "true" : "false", stdout);
    json_key("loop_pref", 0);
    if (m->loop)
        printf("%u", m->loop_pref);
    else
        fputs("null", stdout);
    json_key("own_addresses", 0);
    json_str(mxr_self_text());
    json_key("targets", 0);
    json_targets(m);
    json_key("status", 0);
    json_str(mxr_status_name(m->status));
    json_key("dsn", 0);
    json_str(m->dsn);
    json_key("reason", 0);
    json_str(m->reason);
    putchar('}');
}

static void json_rcpt(const struct pr_rcpt *r)
{
    const struct route_result *rt = &r->route;
    int smtp = rt->status == ROUTE_OK && rt->transport == ROUTE_TRANSPORT_SMTP;

    putchar('{');
    json_key("recipient", 1);
    json_str(r->address);
    json_key("route", 0);
    json_route(rt);
    json_key("route_status", 0);
    json_str(rt->status == ROUTE_OK ? "ok" : "defer");
    json_key("transport", 0);
    if (rt->status == ROUTE_OK)
        json_str(rt->transport_name);
    else
        fputs("null", stdout);
    json_key("nexthop", 0);
    if (smtp)
        json_str(rt->nexthop);
    else
        fputs("null", stdout);
    json_key("dns", 0);
    json_mx(r->mx);
    json_key("result", 0);
    json_str(pr_outcome_name(r->outcome));
    json_key("dsn", 0);
    json_str(r->dsn);
    json_key("text", 0);
    json_str(r->text);
    putchar('}');
}

void pr_print_json(const struct pr_addr *a)
{
    putchar('{');
    json_key("address", 1);
    json_str(a->input);
    json_key("sender", 0);
    json_str(a->sender);
    json_key("sender_rewritten", 0);
    if (a->sender_out)
        json_str(a->sender_out);
    else
        fputs("null", stdout);
    json_key("sender_rewrite", 0);
    json_rewrite(a->sender_trace);
    json_key("rewrite", 0);
    json_rewrite(&a->trace);
    json_key("rewrite_error", 0);
    if (a->rewrite_rc != REWRITE_OK)
        json_str(a->rewrite_error);
    else if (a->sender_out == NULL)
        json_str(a->sender_error);
    else
        fputs("null", stdout);
    json_key("recipients", 0);
    putchar('[');
    for (size_t i = 0; i < a->count; i++) {
        if (i)
            putchar(',');
        json_rcpt(&a->rcpts[i]);
    }
    putchar(']');
    json_key("result", 0);
    json_str(a->worst == PR_BOUNCE ? "undeliverable"
             : a->worst == PR_DEFER ? "temporary failure" : "ok");
    fputs("}\n", stdout);
}
