/*
 * pr_text.c - postroute's report as text: one "name: value" line per fact,
 * indented under the address and then under each recipient, e.g.
 *
 *   address: user@example.org
 *   sender: <> (not rewritten)
 *   rewrite: virtual_alias_maps: <user@example.org> -> a@example.net (inline:{...} key=...)
 *   recipients: a@example.net
 *   recipient: a@example.net
 *     route: transport_maps: not found key=a@example.net
 *     route: default: MX of the recipient domain key=example.net -> example.net
 *     transport: smtp
 *     nexthop: example.net (MX lookup, port 25)
 *     mx: example.net status=OK server=127.0.0.1:5353 ttl=300 cached=no
 *     mx: 10 mx1.example.net ttl=300
 *     host: mx1.example.net status=OK server=127.0.0.1:5353 ttl=300 cached=no pref=10: used
 *     address: mx1.example.net 192.0.2.10 ttl=300
 *     loop: none (own addresses: 127.0.0.1,::1)
 *     try: 1 mx1.example.net[192.0.2.10]:25 pref=10
 *     result: deliver
 *
 * Memory: nothing is kept.
 */
#include <stdio.h>
#include <string.h>

#include "postroute.h"

#define TRACE_BUF (ROUTE_TRACE_MAX * (3 * ROUTE_TRACE_TEXT_MAX + 64))

static void print_rewrite(const char *label, const struct rewrite_trace *t)
{
    char line[3 * REWRITE_ERR_MAX];

    for (size_t i = 0; i < t->count; i++) {
        rewrite_step_format(&t->steps[i], line, sizeof(line));
        printf("%s: %*s%s\n", label, 2 * t->steps[i].depth, "", line);
    }
}

static void print_sender(const struct pr_addr *a)
{
    if (a->sender_out == NULL)
        printf("sender: <%s> (rewriting failed: %s)\n", a->sender, a->sender_error);
    else if (strcmp(a->sender, a->sender_out) != 0)
        printf("sender: <%s> -> <%s>\n", a->sender, a->sender_out);
    else
        printf("sender: <%s> (not rewritten)\n", a->sender);
    print_rewrite("sender rewrite", a->sender_trace);
}

static void print_route(const struct pr_rcpt *r)
{
    static char buf[TRACE_BUF];
    char *line, *save = NULL;

    route_trace_format(&r->route, buf, sizeof(buf));
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        printf("  route: %s\n", line);
    if (r->route.status != ROUTE_OK) {
        printf("  transport: (none: %s %s)\n", r->route.dsn, r->route.text);
        return;
    }
    printf("  transport: %s\n", r->route.transport_name);
    if (r->route.transport == ROUTE_TRANSPORT_SMTP)
        printf("  nexthop: %s (%s, port %u)\n", r->route.nexthop,
               r->route.host_is_addr ? "address literal"
               : r->route.mx ? "MX lookup" : "no MX lookup", r->route.port);
}

static void print_dns_line(const char *label, const char *name, const struct dns_result *d)
{
    printf("  %s: %s status=%s server=%s ttl=%u cached=%s", label, name,
           dns_status_name(d->status), d->server[0] ? d->server : "-", d->ttl,
           d->cached ? "yes" : "no");
    for (size_t i = 0; i < d->cname_count; i++)
        printf(" cname=%s>%s/%u", d->cnames[i].owner, d->cnames[i].target, d->cnames[i].ttl);
    if (d->reason[0])
        printf(" reason=\"%s\"", d->reason);
}

static void print_hosts(const struct mxr_result *m)
{
    for (size_t i = 0; i < m->host_count; i++) {
        const struct mxr_host *h = &m->hosts[i];

        if (h->addr == NULL) {
            printf("  host: %s: %s\n", h->name, m->literal ? "address literal" : "not looked up");
            continue;
        }
        print_dns_line("host", h->name, h->addr);
        printf(" pref=%u%s: %s", h->pref, h->implicit ? " implicit-mx" : "",
               mxr_host_state_name(h->state));
        if (h->self_name)
            printf(" (myhostname)");
        else if (h->self_addr[0])
            printf(" (our address %s)", h->self_addr);
        printf("\n");
        for (size_t j = 0; j < h->addr->addr_count; j++)
            printf("  address: %s %s ttl=%u\n", h->name, h->addr->addrs[j].text,
                   h->addr->addrs[j].ttl);
    }
}

static void print_loop(const struct mxr_result *m)
{
    if (!m->mx) {
        printf("loop: not checked (no MX lookup)\n");
        return;
    }
    if (!m->loop) {
        printf("loop: none (own addresses: %s)\n", mxr_self_text());
        return;
    }
    printf("loop: MX hosts with preference >= %u dropped: this host is MX %u "
           "(own addresses: %s)\n", m->loop_pref, m->loop_pref, mxr_self_text());
}

static void print_mx(const struct mxr_result *m)
{
    if (m->mx_result != NULL) {
        const struct dns_result *d = m->mx_result;

        print_dns_line("mx", m->host, d);
        printf("\n");
        for (size_t i = 0; i < d->mx_count; i++)
            printf("  mx: %u %s ttl=%u\n", d->mx[i].pref, d->mx[i].host, d->mx[i].ttl);
        if (d->status == DNS_NODATA)
            printf("  mx: none: the domain's own addresses are used (implicit MX)\n");
    }
    print_hosts(m);
    if (m->host_count > 0 && !m->literal) {
        printf("  ");
        print_loop(m);
    }
    for (size_t i = 0; i < m->target_count; i++) {
        const struct mxr_target *t = &m->targets[i];

        printf("  try: %zu %s[%s]:%u pref=%u\n", i + 1, m->hosts[t->host].name,
               t->addr.text, m->port, m->hosts[t->host].pref);
    }
}

static void print_rcpt(const struct pr_rcpt *r)
{
    printf("recipient: %s\n", r->address);
    print_route(r);
    if (r->mx != NULL)
        print_mx(r->mx);
    printf("  result: %s", pr_outcome_name(r->outcome));
    if (r->dsn[0] || r->text[0])
        printf(" %s%s%s", r->dsn, r->dsn[0] && r->text[0] ? " " : "", r->text);
    else if (r->outcome == PR_DELIVER && r->mx != NULL)
        printf(" (%zu address%s to try)", r->mx->target_count,
               r->mx->target_count == 1 ? "" : "es");
    printf("\n");
}

void pr_print_text(const struct pr_addr *a)
{
    printf("address: %s\n", a->input);
    print_sender(a);
    if (a->trace.count == 0)
        printf("rewrite: none\n");
    print_rewrite("rewrite", &a->trace);
    if (a->rewrite_rc != REWRITE_OK) {
        printf("rewrite error: %s\n", a->rewrite_error);
        printf("result: defer 4.3.0 %s\n", a->rewrite_error);
        return;
    }
    printf("recipients:");
    for (size_t i = 0; i < a->count; i++)
        printf("%s %s", i ? "," : "", a->rcpts[i].address);
    printf("\n");
    for (size_t i = 0; i < a->count; i++)
        print_rcpt(&a->rcpts[i]);
    printf("result: %s\n", a->worst == PR_BOUNCE ? "undeliverable"
                           : a->worst == PR_DEFER ? "temporary failure" : "ok");
    printf("\n");
}
