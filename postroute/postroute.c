/*
 * postroute.c - the route tracer: where would mail to ADDRESS go, and why.
 *
 * For each address it runs the same code the mail system runs, with the
 * instance's configuration: rewriting (lib/rewrite: canonical maps and
 * virtual aliases, as cleanup does), routing (lib/route: transport_maps,
 * sender-dependent relay hosts, relayhost, the recipient domain, as qmgr
 * does) and, for smtp, the next-hop resolution (mx_resolve: MX records,
 * addresses, loop detection, as smtp does) with lib/dns on a libevent loop
 * asking the instance's dns_servers. Nothing is sent and the queue is not
 * touched. Recipients are resolved one after the other; each lookup is
 * bounded by dns_timeout and dns_tries.
 *
 * Exit status: 0 when every address has a usable route (delivery, discard
 * or hold), 1 when any is undeliverable (error transport 5.x.x, null MX,
 * NXDOMAIN, a loop), else 75 when any failed temporarily (a table or DNS
 * failure, error 4.x.x, a broken routing configuration); 2 for usage.
 *
 * Memory: each struct pr_addr is built, printed and freed in turn; the
 * sender's rewriting is done once and shared.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "alloc.h"
#include "dns.h"
#include "mx_resolve.h"
#include "params.h"
#include "postroute.h"
#include "tool.h"

#define EXIT_OK 0
#define EXIT_UNDELIVERABLE 1
#define EXIT_TEMPFAIL 75
#define ADDRESS_MAX 254

static const char help_text[] =
    "NAME\n"
    "    postroute - Postern route tracer: where mail to an address goes, and why\n"
    "\n"
    "SYNOPSIS\n"
    "    postroute [-c DIR] [-j] [-s SENDER] ADDRESS...\n"
    "\n"
    "DESCRIPTION\n"
    "    For each ADDRESS, shows every decision the mail system would take for a\n"
    "    message to it, using the instance's configuration and tables and the\n"
    "    same code as cleanup, qmgr and smtp:\n"
    "      - rewriting: sender_canonical_maps for the sender,\n"
    "        recipient_canonical_maps and virtual_alias_maps for the address,\n"
    "        with the table and key that matched at each step (the expansion\n"
    "        tree, indented by depth), and the resulting recipients;\n"
    "      - for each recipient, the route: the transport_maps entry that\n"
    "        matched, the sender-dependent relay host, relayhost or the\n"
    "        recipient domain; the transport and next hop;\n"
    "      - for smtp: the MX records (preference, TTL, the DNS server that\n"
    "        answered; or NXDOMAIN, no MX (the domain's own addresses are\n"
    "        used), null MX), the addresses of each MX host with their TTLs,\n"
    "        loop detection (MX hosts that are this host, by myhostname, a local\n"
    "        interface or proxy_interfaces, and the hosts dropped with them), and\n"
    "        the addresses that would be tried, in order.\n"
    "    DNS is asked through the instance's dns_servers (else /etc/resolv.conf)\n"
    "    with dns_timeout and dns_tries. Nothing is sent; the queue is not read.\n"
    "    Equal MX preferences are tried in a random order: two runs may list them\n"
    "    differently.\n"
    "\n"
    "OPTIONS\n"
    "    -c DIR     the instance's configuration directory\n"
    "    -j         one JSON object per address (one line each) instead of text;\n"
    "               the members are described in docs/operator-guide.md\n"
    "    -s SENDER  the envelope sender (default: the null sender \"\"), used by\n"
    "               sender_canonical_maps and sender_dependent_relayhost_maps\n"
    "    -h, --help this page\n"
    "\n"
    "EXIT STATUS\n"
    "    0   every address has a usable route (delivery, discard or hold)\n"
    "    1   some recipient is undeliverable: error transport (5.x.x), null MX,\n"
    "        NXDOMAIN, mail that would loop back to this host, no address\n"
    "    2   usage error\n"
    "    75  otherwise, some recipient would be deferred: a table or DNS failure,\n"
    "        error transport 4.x.x, a routing configuration that cannot be loaded\n"
    "\n";

struct options {
    const char *config_dir;
    char *sender;               /* "<a@b>" -> "a@b"; "" for the null sender */
    int json;
    char **addrs;               /* cleaned like the sender */
    int addr_count;
};

/* The sender after sender_canonical_maps, shared by every address. */
struct sender_rewrite {
    char *out;                  /* NULL when rewriting failed */
    struct rewrite_trace trace;
    char err[REWRITE_ERR_MAX];
};

static const char usage_text[] = "usage: postroute [-c DIR] [-j] [-s SENDER] ADDRESS...\n";

/* Configuration problems are temporary failures: the mail system defers. */
static const struct tool_def postroute_tool = {
    .name = "postroute",
    .usage = usage_text,
    .help = help_text,
    .see_also = "postmap(1), docs/operator-guide.md, docs/tables.md",
    .setup_status = EXIT_TEMPFAIL,
};

static struct event_base *base;

const char *pr_outcome_name(enum pr_outcome outcome)
{
    static const char *const names[] = { "deliver", "discard", "hold", "bounce", "defer" };

    return names[outcome];
}

/* --- arguments --- */

/* "<a@b>" -> "a@b"; NULL when the text cannot be an address. */
static char *clean_address(const char *text, int allow_empty)
{
    size_t len = strlen(text);

    if (len >= 2 && text[0] == '<' && text[len - 1] == '>') {
        text++;
        len -= 2;
    }
    if ((len == 0 && !allow_empty) || len > ADDRESS_MAX)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c <= ' ' || c == 0x7f || c == '<' || c == '>')
            return NULL;
    }
    return xstrndup(text, len);
}

static void parse_args(int argc, char **argv, struct options *o)
{
    const char *sender = "";
    int c;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            tool_help();
        if (strcmp(argv[i], "--") == 0)
            break;
    }
    opterr = 0;
    while ((c = getopt(argc, argv, "c:js:")) != -1) {
        switch (c) {
        case 'c':
            o->config_dir = optarg;
            break;
        case 'j':
            o->json = 1;
            break;
        case 's':
            sender = optarg;
            break;
        default:
            if (optopt == 'c' || optopt == 's')
                tool_usage("option -%c needs an argument", optopt);
            tool_usage("unknown option -%c", optopt);
        }
    }
    if (optind >= argc)
        tool_usage("at least one ADDRESS is required");
    o->sender = clean_address(sender, 1);
    if (o->sender == NULL)
        tool_usage("-s: not a valid sender address");
    o->addr_count = argc - optind;
    o->addrs = xcalloc((size_t)o->addr_count, sizeof(*o->addrs));
    for (int i = 0; i < o->addr_count; i++) {
        o->addrs[i] = clean_address(argv[optind + i], 0);
        if (o->addrs[i] == NULL)
            tool_usage("not a valid address: \"%.300s\"", argv[optind + i]);
    }
}

static void options_free(struct options *o)
{
    for (int i = 0; i < o->addr_count; i++)
        xfree(o->addrs[i]);
    xfree(o->addrs);
    xfree(o->sender);
}

/* --- set-up --- */

/* The tables, the resolver and loop detection, as the daemons set them up. */
static void setup(void)
{
    char err[REWRITE_ERR_MAX];
    struct dns_opts opts;

    if (rewrite_init(err, sizeof(err)) < 0)
        tool_fatal(EXIT_TEMPFAIL, "rewriting configuration: %s", err);
    if (route_init(err, sizeof(err)) < 0)
        tool_fatal(EXIT_TEMPFAIL, "routing configuration: %s", err);
    base = event_base_new();
    if (base == NULL)
        tool_fatal(EXIT_TEMPFAIL, "cannot create an event base");
    memset(&opts, 0, sizeof(opts));
    opts.timeout_ms = (int)(var_dns_timeout * 1000);
    opts.tries = (int)var_dns_tries;
    if (dns_init(base, var_dns_servers, &opts, err, sizeof(err)) < 0)
        tool_fatal(EXIT_TEMPFAIL, "DNS resolver: %s", err);
    if (mxr_init(base, var_myhostname, var_proxy_interfaces, 1, err, sizeof(err)) < 0)
        tool_fatal(EXIT_TEMPFAIL, "loop detection: %s", err);
}

/* --- tracing one address --- */

static void on_resolved(struct mxr_result *res, void *ctx)
{
    struct pr_rcpt *r = ctx;

    r->mx = res;
}

/* Resolve the smtp next hop of r on the event loop (waits for the answer). */
static void resolve(struct pr_rcpt *r)
{
    mxr_resolve(r->route.host, r->route.port, r->route.mx, on_resolved, r);
    while (r->mx == NULL) {
        if (event_base_loop(base, EVLOOP_ONCE) != 0)
            tool_fatal(EXIT_TEMPFAIL, "internal error: the resolver stopped without an answer");
    }
}

static void set_outcome(struct pr_rcpt *r, enum pr_outcome outcome, const char *dsn,
                        const char *text)
{
    r->outcome = outcome;
    snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
    snprintf(r->text, sizeof(r->text), "%s", text);
}

static void trace_rcpt(struct pr_rcpt *r, const char *sender)
{
    struct route_result *rt = &r->route;

    if (route_resolve(r->address, sender, rt) != ROUTE_OK) {
        set_outcome(r, PR_DEFER, rt->dsn, rt->text);
        return;
    }
    switch (rt->transport) {
    case ROUTE_TRANSPORT_ERROR:
        set_outcome(r, rt->dsn[0] == '4' ? PR_DEFER : PR_BOUNCE, rt->dsn, rt->text);
        return;
    case ROUTE_TRANSPORT_DISCARD:
        set_outcome(r, PR_DISCARD, "2.0.0", rt->text);
        return;
    case ROUTE_TRANSPORT_HOLD:
        set_outcome(r, PR_HOLD, "", rt->text);
        return;
    case ROUTE_TRANSPORT_SMTP:
        break;
    }
    resolve(r);
    switch (r->mx->status) {
    case MXR_OK:
        set_outcome(r, PR_DELIVER, "", "");
        break;
    case MXR_BOUNCE:
        set_outcome(r, PR_BOUNCE, r->mx->dsn, r->mx->reason);
        break;
    case MXR_DEFER:
        set_outcome(r, PR_DEFER, r->mx->dsn, r->mx->reason);
        break;
    }
}

static void trace_address(struct pr_addr *a, const char *address)
{
    struct rewrite_list list;

    rewrite_list_init(&list);
    rewrite_trace_init(&a->trace);
    a->rewrite_rc = rewrite_recipient(address, &list, &a->trace, a->rewrite_error,
                                      sizeof(a->rewrite_error));
    a->worst = PR_DELIVER;
    if (a->rewrite_rc != REWRITE_OK) {
        a->worst = PR_DEFER;
        rewrite_list_free(&list);
        return;
    }
    if (a->sender_out == NULL)
        a->worst = PR_DEFER;
    a->rcpts = xcalloc(list.count ? list.count : 1, sizeof(*a->rcpts));
    for (size_t i = 0; i < list.count; i++) {
        struct pr_rcpt *r = &a->rcpts[a->count++];

        r->address = xstrdup(list.addrs[i]);
        trace_rcpt(r, a->sender_out ? a->sender_out : a->sender);
        if (r->outcome == PR_BOUNCE)
            a->worst = PR_BOUNCE;
        else if (r->outcome == PR_DEFER && a->worst != PR_BOUNCE)
            a->worst = PR_DEFER;
    }
    rewrite_list_free(&list);
}

static void pr_addr_free(struct pr_addr *a)
{
    for (size_t i = 0; i < a->count; i++) {
        xfree(a->rcpts[i].address);
        mxr_result_free(a->rcpts[i].mx);
    }
    xfree(a->rcpts);
    rewrite_trace_free(&a->trace);
}

static void rewrite_the_sender(struct sender_rewrite *sr, const char *sender)
{
    sr->out = NULL;
    sr->err[0] = '\0';
    rewrite_trace_init(&sr->trace);
    if (rewrite_sender(sender, &sr->out, &sr->trace, sr->err, sizeof(sr->err)) != REWRITE_OK
        && sr->err[0] == '\0')
        snprintf(sr->err, sizeof(sr->err), "sender rewriting failed");
}

static void sender_rewrite_free(struct sender_rewrite *sr)
{
    sr->out = xfree(sr->out);
    rewrite_trace_free(&sr->trace);
}

/* Trace and print each address; the exit status (see the top). */
static int trace_all(const struct options *o, const struct sender_rewrite *sr)
{
    int status = EXIT_OK;

    for (int i = 0; i < o->addr_count; i++) {
        struct pr_addr a;

        memset(&a, 0, sizeof(a));
        a.input = o->addrs[i];
        a.sender = o->sender;
        a.sender_out = sr->out;
        a.sender_trace = &sr->trace;
        a.sender_error = sr->out ? "" : sr->err;
        trace_address(&a, o->addrs[i]);
        if (o->json)
            pr_print_json(&a);
        else
            pr_print_text(&a);
        fflush(stdout);
        if (a.worst == PR_BOUNCE)
            status = EXIT_UNDELIVERABLE;
        else if (a.worst == PR_DEFER && status == EXIT_OK)
            status = EXIT_TEMPFAIL;
        pr_addr_free(&a);
    }
    if (ferror(stdout))
        tool_fatal(EXIT_TEMPFAIL, "write error on standard output");
    return status;
}

static void teardown(void)
{
    mxr_end();
    dns_shutdown();
    event_base_free(base);
    rewrite_end();
    route_end();
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct sender_rewrite sr;
    int status;

    tool_init(&postroute_tool);
    signal(SIGPIPE, SIG_IGN);
    parse_args(argc, argv, &o);
    tool_load_config(o.config_dir);
    tool_drop_privileges();             /* tables are read as the daemons do */
    setup();
    rewrite_the_sender(&sr, o.sender);
    status = trace_all(&o, &sr);
    sender_rewrite_free(&sr);
    options_free(&o);
    teardown();
    return status;
}
