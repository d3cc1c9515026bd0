/*
 * dnsquery.c - run lib/dns lookups from the command line (a test driver).
 *
 *   dnsquery -s SERVERS [-t mx|a|aaaa|addr] [-r N] [-i SECONDS] [-T MS]
 *            [-n TRIES] [-C] [-x] [-j] [-v] NAME
 *
 * Looks NAME up N times (default 1), query k starting k*SECONDS after the
 * first, all on one resolver so that its cache is used, and prints each
 * result: a summary line, then one line per record with its TTL and the
 * server, e.g.
 *   query=1 t=0.002 name=example.test kind=MX status=OK cached=no ttl=2 server=127.0.0.1:5353
 *   mx 10 mx1.example.test ttl=2 server=127.0.0.1:5353
 *   cname www.example.test web.example.test ttl=2
 *   addr 192.0.2.1 ttl=2 server=127.0.0.1:5353
 * With -j, one JSON object per result instead (dns_result_format), plus
 * "query" and "t" members. -C disables the cache, -x also starts a lookup
 * before each query and cancels it at once (it must never call back),
 * -T and -n set the per-server timeout (ms) and tries. -s is required so
 * that a test can never reach the system's resolvers.
 * Exit: 0 when every lookup completed, 1 on a resolver error, 2 on usage.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "alloc.h"
#include "dns.h"
#include "msg.h"

struct run {
    struct event_base *base;
    struct event *timer;
    const char *name;
    int kind;                       /* 'm' mx, '4' a, '6' aaaa, 'b' both */
    int total;
    int started;
    int finished;
    double interval;
    int cancel_extra;
    int json;
    struct timeval t0;
};

static void usage(void) __attribute__((noreturn));

static void usage(void)
{
    fprintf(stderr, "usage: dnsquery -s SERVERS [-t mx|a|aaaa|addr] [-r N] [-i SECONDS] [-T MS]"
                    " [-n TRIES] [-C] [-x] [-j] [-v] NAME\n");
    exit(2);
}

static double elapsed(const struct run *run)
{
    struct timeval now;

    gettimeofday(&now, NULL);
    return (double)(now.tv_sec - run->t0.tv_sec) + (now.tv_usec - run->t0.tv_usec) / 1e6;
}

static void never_called(struct dns_result *r, void *ctx)
{
    (void)ctx;
    fprintf(stdout, "ERROR: cancelled lookup called back for %s\n", r->name);
    fflush(stdout);
    abort();
}

static void print_text(const struct dns_result *r, int query, double t)
{
    printf("query=%d t=%.3f name=%s kind=%s status=%s cached=%s ttl=%u server=%s canonical=%s",
           query, t, r->name, r->kind == DNS_KIND_MX ? "MX" : "ADDR", dns_status_name(r->status),
           r->cached ? "yes" : "no", r->ttl, r->server[0] ? r->server : "-", r->canonical);
    if (r->reason[0])
        printf(" reason=\"%s\"", r->reason);
    printf("\n");
    for (size_t i = 0; i < r->cname_count; i++)
        printf("cname %s %s ttl=%u\n", r->cnames[i].owner, r->cnames[i].target, r->cnames[i].ttl);
    for (size_t i = 0; i < r->mx_count; i++)
        printf("mx %u %s ttl=%u server=%s\n", r->mx[i].pref, r->mx[i].host, r->mx[i].ttl,
               r->server);
    for (size_t i = 0; i < r->addr_count; i++)
        printf("addr %s ttl=%u server=%s\n", r->addrs[i].text, r->addrs[i].ttl, r->server);
}

static void start_query(struct run *run);

static void on_result(struct dns_result *r, void *ctx)
{
    struct run *run = ctx;
    double t = elapsed(run);

    run->finished++;
    if (run->json) {
        char *text = dns_result_format(r, DNS_FORMAT_JSON);

        printf("{\"query\":%d,\"t\":%.3f,%s\n", run->finished, t, text + 1);
        xfree(text);
    } else {
        print_text(r, run->finished, t);
    }
    fflush(stdout);
    dns_result_free(r);
    if (run->finished == run->total) {
        event_base_loopexit(run->base, NULL);
        return;
    }
    if (run->started == run->finished) {
        double due = run->started * run->interval - elapsed(run);
        struct timeval tv = {0, 0};

        if (due > 0) {
            tv.tv_sec = (time_t)due;
            tv.tv_usec = (suseconds_t)((due - (double)tv.tv_sec) * 1e6);
        }
        evtimer_add(run->timer, &tv);
    }
}

static struct dns_lookup *lookup(struct run *run, dns_callback cb, void *ctx)
{
    switch (run->kind) {
    case 'm': return dns_lookup_mx(run->name, cb, ctx);
    case '4': return dns_lookup_addr(run->name, DNS_FAMILY_INET4, cb, ctx);
    case '6': return dns_lookup_addr(run->name, DNS_FAMILY_INET6, cb, ctx);
    default: return dns_lookup_addr(run->name, DNS_FAMILY_ANY, cb, ctx);
    }
}

static void start_query(struct run *run)
{
    run->started++;
    if (run->cancel_extra)
        dns_cancel(lookup(run, never_called, NULL));
    lookup(run, on_result, run);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_query(arg);
}

static int parse_kind(const char *s)
{
    if (strcmp(s, "mx") == 0)
        return 'm';
    if (strcmp(s, "a") == 0)
        return '4';
    if (strcmp(s, "aaaa") == 0)
        return '6';
    if (strcmp(s, "addr") == 0)
        return 'b';
    usage();
}

int main(int argc, char **argv)
{
    struct run run = {.kind = 'm', .total = 1, .interval = 1.0};
    struct dns_opts opts = {0};
    const char *servers = NULL;
    char err[256];
    int c;

    msg_set_tag("dnsquery");
    while ((c = getopt(argc, argv, "s:t:r:i:T:n:Cxjv")) != -1) {
        switch (c) {
        case 's': servers = optarg; break;
        case 't': run.kind = parse_kind(optarg); break;
        case 'r': run.total = atoi(optarg); break;
        case 'i': run.interval = atof(optarg); break;
        case 'T': opts.timeout_ms = atoi(optarg); break;
        case 'n': opts.tries = atoi(optarg); break;
        case 'C': opts.cache_max = (size_t)-1; break;
        case 'x': run.cancel_extra = 1; break;
        case 'j': run.json = 1; break;
        case 'v': msg_verbose++; break;
        default: usage();
        }
    }
    if (servers == NULL || servers[0] == 0 || optind != argc - 1 || run.total < 1
        || run.total > 10000 || run.interval < 0 || run.interval > 3600)
        usage();
    run.name = argv[optind];
    run.base = event_base_new();
    if (run.base == NULL)
        msg_fatal("cannot create an event base");
    if (dns_init(run.base, servers, &opts, err, sizeof(err)) < 0) {
        fprintf(stderr, "dnsquery: %s\n", err);
        event_base_free(run.base);
        return 1;
    }
    run.timer = evtimer_new(run.base, timer_cb, &run);
    gettimeofday(&run.t0, NULL);
    start_query(&run);
    event_base_dispatch(run.base);
    dns_shutdown();
    event_free(run.timer);
    event_base_free(run.base);
    return run.finished == run.total ? 0 : 1;
}
