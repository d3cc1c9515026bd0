/*
 * test_route.c - the routing decision (lib/mail/route.c): transport_maps by
 * address and by domain (with and without parent_domain_matches_subdomains),
 * every transport form, sender-dependent relay hosts, relayhost, the MX
 * default, address literals, next-hop parsing, temporary table failures
 * (a pcre: table hitting its match limit), and the trace.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "check.h"
#include "dict_lmdb.h"
#include "route.h"

static char tmpdir[] = "/tmp/test_route.XXXXXX";

struct route_case {
    const char *name;
    /* settings */
    const char *transport_maps;
    const char *sender_maps;
    const char *relayhost;
    const char *pdms;               /* parent_domain_matches_subdomains */
    const char *delim;
    /* input */
    const char *rcpt;
    const char *sender;
    /* want */
    int status;
    const char *transport;
    const char *nexthop;
    const char *host;
    unsigned port;
    int mx;
    const char *dsn;
    const char *text;
    const char *trace;              /* route_trace_format() output */
};

#define TM "inline:{ example.com=smtp:[mx.example.com]:2525, .sub.example=smtp:relay.sub.example, " \
    "parent.example=smtp:[parent-hop], user@addr.example=smtp:[user-hop]:26, " \
    "addr.example=smtp:[domain-hop], { bad.example = error:5.7.1 no mail for you }, " \
    "plain.example=error:, { soft.example=error:4.2.0 try later }, drop.example=discard:, " \
    "{ hold.example=hold:held for review }, def.example=smtp:, deftr.example=:[deftr-hop]:2600, " \
    "none.example=:, lmtp.example=lmtp:[x], v6.example=smtp:[IPv6:2001:DB8::1]:25, " \
    "badport.example=smtp:[x]:99999, { badhost.example=smtp:[a b] }, mxport.example=smtp:mx.example.net:587 }"

static const struct route_case cases[] = {
    { "domain, bracketed nexthop with port", TM, NULL, NULL, "", NULL,
      "a@example.com", "s@x.example", ROUTE_OK, "smtp", "[mx.example.com]:2525",
      "mx.example.com", 2525, 0, "", "",
      "transport_maps: T key=example.com -> smtp:[mx.example.com]:2525\n" },
    { "domain key is case-insensitive", TM, NULL, NULL, "", NULL,
      "a@EXAMPLE.Com", "", ROUTE_OK, "smtp", "[mx.example.com]:2525",
      "mx.example.com", 2525, 0, "", "", NULL },
    { "subdomain not matched by a plain key without the parameter", TM, NULL, NULL, "", NULL,
      "a@x.example.com", "", ROUTE_OK, "smtp", "x.example.com", "x.example.com", 25, 1, "", "",
      "transport_maps: not found key=a@x.example.com\n"
      "default: MX of the recipient domain key=x.example.com -> x.example.com\n" },
    { "subdomain matched by a plain key with parent_domain_matches_subdomains", TM, NULL, NULL,
      "relay_domains, transport_maps", NULL,
      "a@deep.x.example.com", "", ROUTE_OK, "smtp", "[mx.example.com]:2525",
      "mx.example.com", 2525, 0, "", "", NULL },
    { "leading-dot key matches subdomains", TM, NULL, NULL, "", NULL,
      "a@b.sub.example", "", ROUTE_OK, "smtp", "relay.sub.example", "relay.sub.example",
      25, 1, "", "",
      "transport_maps: T key=.sub.example -> smtp:relay.sub.example\n" },
    { "leading-dot key does not match the domain itself", TM, NULL, NULL, "", NULL,
      "a@sub.example", "", ROUTE_OK, "smtp", "sub.example", "sub.example", 25, 1, "", "",
      NULL },
    { "plain key without the parameter: only the domain", TM, NULL, NULL, "", NULL,
      "a@child.parent.example", "", ROUTE_OK, "smtp", "child.parent.example",
      "child.parent.example", 25, 1, "", "", NULL },
    { "full address before domain", TM, NULL, NULL, "", NULL,
      "user@addr.example", "", ROUTE_OK, "smtp", "[user-hop]:26", "user-hop", 26, 0, "", "",
      "transport_maps: T key=user@addr.example -> smtp:[user-hop]:26\n" },
    { "other user: domain entry", TM, NULL, NULL, "", NULL,
      "other@addr.example", "", ROUTE_OK, "smtp", "[domain-hop]", "domain-hop", 25, 0, "", "",
      NULL },
    { "address without extension with recipient_delimiter", TM, NULL, NULL, "", "+",
      "user+tag@addr.example", "", ROUTE_OK, "smtp", "[user-hop]:26", "user-hop", 26, 0, "",
      "", NULL },
    { "extension kept without recipient_delimiter", TM, NULL, NULL, "", NULL,
      "user+tag@addr.example", "", ROUTE_OK, "smtp", "[domain-hop]", "domain-hop", 25, 0, "",
      "", NULL },
    { "smtp:host: MX of host, default port", TM, NULL, NULL, "", NULL,
      "a@b.sub.example", "", ROUTE_OK, "smtp", "relay.sub.example", "relay.sub.example", 25, 1,
      "", "", NULL },
    { "smtp:host:port: MX of host, that port", TM, NULL, NULL, "", NULL,
      "a@mxport.example", "", ROUTE_OK, "smtp", "mx.example.net:587", "mx.example.net", 587, 1,
      "", "", NULL },
    { "IPv6 literal next hop", TM, NULL, NULL, "", NULL,
      "a@v6.example", "", ROUTE_OK, "smtp", "[ipv6:2001:db8::1]:25", "2001:db8::1", 25, 0, "",
      "", NULL },
    { "error: with dsn and text", TM, NULL, NULL, "", NULL,
      "a@bad.example", "", ROUTE_OK, "error", "", "", 0, 0, "5.7.1", "no mail for you",
      "transport_maps: T key=bad.example -> error:5.7.1 no mail for you\n" },
    { "error: without text", TM, NULL, NULL, "", NULL,
      "a@plain.example", "", ROUTE_OK, "error", "", "", 0, 0, "5.0.0",
      "mail for this destination is refused by configuration", NULL },
    { "error: with a 4.x.x code", TM, NULL, NULL, "", NULL,
      "a@soft.example", "", ROUTE_OK, "error", "", "", 0, 0, "4.2.0", "try later", NULL },
    { "discard:", TM, NULL, NULL, "", NULL,
      "a@drop.example", "", ROUTE_OK, "discard", "", "", 0, 0, "", "", NULL },
    { "hold: with text", TM, NULL, NULL, "", NULL,
      "a@hold.example", "", ROUTE_OK, "hold", "", "", 0, 0, "", "held for review", NULL },
    { "smtp: empty next hop falls back to relayhost", TM, NULL, "[relay.example]:587", "", NULL,
      "a@def.example", "", ROUTE_OK, "smtp", "[relay.example]:587", "relay.example", 587, 0, "",
      "", "transport_maps: T key=def.example -> smtp:\n"
      "relayhost: main.cf relayhost -> [relay.example]:587\n" },
    { "smtp: empty next hop, no relayhost: MX of the domain", TM, NULL, NULL, "", NULL,
      "a@def.example", "", ROUTE_OK, "smtp", "def.example", "def.example", 25, 1, "", "", NULL },
    { ":[host] default transport with next hop", TM, NULL, "[relay.example]", "", NULL,
      "a@deftr.example", "", ROUTE_OK, "smtp", "[deftr-hop]:2600", "deftr-hop", 2600, 0, "", "",
      NULL },
    { "\":\" changes nothing", TM, NULL, NULL, "", NULL,
      "a@none.example", "", ROUTE_OK, "smtp", "none.example", "none.example", 25, 1, "", "",
      NULL },
    { "transport next hop wins over relayhost and sender maps", TM,
      "inline:{ s@x.example=[sender-hop] }", "[relay.example]", "", NULL,
      "a@example.com", "s@x.example", ROUTE_OK, "smtp", "[mx.example.com]:2525",
      "mx.example.com", 2525, 0, "", "", NULL },
    { "unknown transport defers", TM, NULL, NULL, "", NULL,
      "a@lmtp.example", "", ROUTE_DEFER, "smtp", "", "", 0, 0, "4.3.5",
      "transport_maps: unknown transport \"lmtp\" (known: smtp, error, discard, hold)", NULL },
    { "bad port defers", TM, NULL, NULL, "", NULL,
      "a@badport.example", "", ROUTE_DEFER, "smtp", "", "", 0, 0, "4.3.5",
      "transport_maps: bad next hop \"[x]:99999\": bad port \"99999\" (want 1-65535 or a service name)", NULL },
    { "bad host defers", TM, NULL, NULL, "", NULL,
      "a@badhost.example", "", ROUTE_DEFER, "smtp", "", "", 0, 0, "4.3.5",
      "transport_maps: bad next hop \"[a b]\": bad host name \"a b\"", NULL },
    { "wildcard * after everything else", "inline:{ *=smtp:[catchall]:2525, a.example=discard: }",
      NULL, NULL, "", NULL,
      "u@b.example", "", ROUTE_OK, "smtp", "[catchall]:2525", "catchall", 2525, 0, "", "",
      "transport_maps: T key=* -> smtp:[catchall]:2525\n" },
    { "wildcard does not beat a domain match", "inline:{ *=smtp:[catchall], a.example=discard: }",
      NULL, NULL, "", NULL,
      "u@a.example", "", ROUTE_OK, "discard", "", "", 0, 0, "", "", NULL },
    { "static: table routes everything", "static:smtp:[static-hop]:25", NULL, NULL, "", NULL,
      "u@any.example", "", ROUTE_OK, "smtp", "[static-hop]:25", "static-hop", 25, 0, "", "",
      "transport_maps: T key=u@any.example -> smtp:[static-hop]:25\n" },

    /* sender_dependent_relayhost_maps */
    { "sender address", NULL, "inline:{ s@x.example=[s-hop]:2525, @x.example=[dom-hop] }",
      "[relay.example]", "", NULL,
      "r@dest.example", "s@x.example", ROUTE_OK, "smtp", "[s-hop]:2525", "s-hop", 2525, 0, "",
      "", "sender_dependent_relayhost_maps: S key=s@x.example -> [s-hop]:2525\n" },
    { "sender @domain", NULL, "inline:{ s@x.example=[s-hop]:2525, @x.example=[dom-hop] }",
      "[relay.example]", "", NULL,
      "r@dest.example", "other@x.example", ROUTE_OK, "smtp", "[dom-hop]", "dom-hop", 25, 0, "",
      "", NULL },
    { "sender without extension", NULL, "inline:{ s@x.example=[s-hop]:2525 }", NULL, "", "-",
      "r@dest.example", "s-list@x.example", ROUTE_OK, "smtp", "[s-hop]:2525", "s-hop", 2525, 0,
      "", "", NULL },
    { "no sender match: relayhost", NULL, "inline:{ s@x.example=[s-hop] }", "relay.example:2525",
      "", NULL,
      "r@dest.example", "z@y.example", ROUTE_OK, "smtp", "relay.example:2525", "relay.example",
      2525, 1, "", "",
      "sender_dependent_relayhost_maps: not found key=z@y.example\n"
      "relayhost: main.cf relayhost -> relay.example:2525\n" },
    { "null sender is looked up as <>", NULL, "inline:{ <>=[bounce-hop] }", "[relay.example]",
      "", NULL,
      "r@dest.example", "", ROUTE_OK, "smtp", "[bounce-hop]", "bounce-hop", 25, 0, "", "", NULL },
    { "DUNNO: fall back to relayhost", NULL, "inline:{ @x.example=DUNNO }", "[relay.example]",
      "", NULL,
      "r@dest.example", "s@x.example", ROUTE_OK, "smtp", "[relay.example]", "relay.example", 25,
      0, "", "", NULL },
    { "bad sender next hop defers", NULL, "inline:{ @x.example=[open }", NULL, "", NULL,
      "r@dest.example", "s@x.example", ROUTE_DEFER, "smtp", "", "", 0, 0, "4.3.5",
      "sender_dependent_relayhost_maps: bad next hop \"[open\": missing \"]\"", NULL },
    { "transport smtp: (no next hop) then sender map", "inline:{ dest.example=smtp: }",
      "inline:{ @x.example=[dom-hop] }", NULL, "", NULL,
      "r@dest.example", "s@x.example", ROUTE_OK, "smtp", "[dom-hop]", "dom-hop", 25, 0, "", "",
      NULL },
    { "transport error: beats the sender map", "inline:{ { dest.example=error:5.1.1 gone } }",
      "inline:{ @x.example=[dom-hop] }", NULL, "", NULL,
      "r@dest.example", "s@x.example", ROUTE_OK, "error", "", "", 0, 0, "5.1.1", "gone", NULL },

    /* defaults */
    { "no tables: MX of the domain", NULL, NULL, NULL, "", NULL,
      "r@Dest.Example.", "", ROUTE_OK, "smtp", "dest.example", "dest.example", 25, 1, "", "",
      "default: MX of the recipient domain key=Dest.Example. -> dest.example\n" },
    { "no tables, relayhost", NULL, NULL, "[192.0.2.10]:2525", "", NULL,
      "r@dest.example", "", ROUTE_OK, "smtp", "[192.0.2.10]:2525", "192.0.2.10", 2525, 0, "",
      "", NULL },
    { "address literal recipient", NULL, NULL, NULL, "", NULL,
      "r@[192.0.2.7]", "", ROUTE_OK, "smtp", "[192.0.2.7]", "192.0.2.7", 25, 0, "", "",
      "default: address literal of the recipient key=[192.0.2.7] -> [192.0.2.7]\n" },
    { "IPv6 address literal recipient", NULL, NULL, NULL, "", NULL,
      "r@[IPv6:2001:db8::5]", "", ROUTE_OK, "smtp", "[ipv6:2001:db8::5]", "2001:db8::5", 25, 0,
      "", "", NULL },
    { "no domain, no relay: error 5.1.3", NULL, NULL, NULL, "", NULL,
      "postmaster", "", ROUTE_OK, "error", "", "", 0, 0, "5.1.3",
      "recipient address has no domain and no relay host is configured", NULL },
    { "no domain, relayhost: relayed", NULL, NULL, "[relay.example]", "", NULL,
      "postmaster", "", ROUTE_OK, "smtp", "[relay.example]", "relay.example", 25, 0, "", "",
      NULL },
};

/* In each line of buf that starts with `prefix`, replace the table's
 * "where" text (up to " key=") by `to`: inline: tables are long. */
static void normalize(char *buf, const char *prefix, const char *to)
{
    char out[4096], *line = buf;
    size_t used = 0;

    out[0] = '\0';
    while (*line) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line + 1) : strlen(line);
        char *key = strstr(line, " key=");
        size_t plen = strlen(prefix);

        if (strncmp(line, prefix, plen) == 0 && key != NULL && key < line + len
            && strncmp(line + plen, "not found", 9) != 0)
            used += (size_t)snprintf(out + used, sizeof(out) - used, "%s%s%.*s", prefix, to,
                                     (int)(line + len - key), key);
        else
            used += (size_t)snprintf(out + used, sizeof(out) - used, "%.*s", (int)len, line);
        line += len;
    }
    strcpy(buf, out);
}

static void run_case(const struct route_case *c)
{
    struct route_settings s = {
        .transport_maps = c->transport_maps,
        .sender_dependent_relayhost_maps = c->sender_maps,
        .relayhost = c->relayhost,
        .parent_domain_matches_subdomains = c->pdms,
        .recipient_delimiter = c->delim,
    };
    struct route_result res;
    char err[ROUTE_ERR_MAX], what[256], trace[4096];
    int rc;

    snprintf(what, sizeof(what), "init: %s", c->name);
    rc = route_init_settings(&s, err, sizeof(err));
    CHECK_LONG(what, rc, 0);
    if (rc < 0) {
        fprintf(stderr, "    %s\n", err);
        return;
    }
    rc = route_resolve(c->rcpt, c->sender, &res);
#define FIELD(label) (snprintf(what, sizeof(what), "%s: %s", c->name, label), what)
    CHECK_LONG(FIELD("status"), rc, c->status);
    CHECK_LONG(FIELD("res.status"), res.status, c->status);
    CHECK_STR(FIELD("transport"), res.transport_name, c->transport);
    CHECK_STR(FIELD("nexthop"), res.nexthop, c->nexthop);
    CHECK_STR(FIELD("host"), res.host, c->host);
    CHECK_LONG(FIELD("port"), res.port, c->port);
    CHECK_LONG(FIELD("mx"), res.mx, c->mx);
    CHECK_STR(FIELD("dsn"), res.dsn, c->dsn);
    CHECK_STR(FIELD("text"), res.text, c->text);
    if (c->trace != NULL) {
        route_trace_format(&res, trace, sizeof(trace));
        normalize(trace, "transport_maps: ", "T");
        normalize(trace, "sender_dependent_relayhost_maps: ", "S");
        CHECK_STR(FIELD("trace"), trace, c->trace);
    }
#undef FIELD
}

/* --- next-hop parsing --- */

struct nexthop_case {
    const char *text;
    int rc;
    const char *host;
    unsigned port;
    int mx;
    int is_addr;
    const char *err;
};

static const struct nexthop_case nexthops[] = {
    { "[mx.example]:2525", 0, "mx.example", 2525, 0, 0, NULL },
    { "[mx.example]", 0, "mx.example", 25, 0, 0, NULL },
    { "mx.example", 0, "mx.example", 25, 1, 0, NULL },
    { "mx.example:587", 0, "mx.example", 587, 1, 0, NULL },
    { "[192.0.2.1]:25", 0, "192.0.2.1", 25, 0, 1, NULL },
    { "[2001:db8::1]:26", 0, "2001:db8::1", 26, 0, 1, NULL },
    { "[IPv6:2001:db8::1]", 0, "2001:db8::1", 25, 0, 1, NULL },
    { "MX.Example", 0, "mx.example", 25, 1, 0, NULL },
    { "[mx.example]:0", -1, NULL, 0, 0, 0, "bad port \"0\" (want 1-65535 or a service name)" },
    { "[mx.example]:65536", -1, NULL, 0, 0, 0, "bad port \"65536\" (want 1-65535 or a service name)" },
    { "[mx.example]:smtp", 0, "mx.example", 25, 0, 0, NULL },
    { "[mx.example]:nosuchservice", -1, NULL, 0, 0, 0,
      "bad port \"nosuchservice\" (want 1-65535 or a service name)" },
    { "[mx.example]:", -1, NULL, 0, 0, 0, "bad port \"\" (want 1-65535 or a service name)" },
    { "[mx.example]x", -1, NULL, 0, 0, 0, "unexpected text after \"]\"" },
    { "[mx.example", -1, NULL, 0, 0, 0, "missing \"]\"" },
    { "[]", -1, NULL, 0, 0, 0, "empty host" },
    { "", -1, NULL, 0, 0, 0, "empty host and port" },
    { ":25", -1, NULL, 0, 0, 0, "empty host" },
    { "a:b:c", -1, NULL, 0, 0, 0, "an IPv6 address must be in brackets" },
    { "mx/example", -1, NULL, 0, 0, 0, "bad host name \"mx/example\"" },
    { "2001:db8::1", -1, NULL, 0, 0, 0, "an IPv6 address must be in brackets" },
};

static void test_nexthops(void)
{
    for (size_t i = 0; i < sizeof(nexthops) / sizeof(nexthops[0]); i++) {
        const struct nexthop_case *c = &nexthops[i];
        struct route_result res;
        char err[ROUTE_ERR_MAX] = "", what[128];
        int rc;

        memset(&res, 0, sizeof(res));
        rc = route_parse_nexthop(c->text, &res, err, sizeof(err));
        snprintf(what, sizeof(what), "parse \"%s\": rc", c->text);
        CHECK_LONG(what, rc, c->rc);
        if (c->rc < 0) {
            snprintf(what, sizeof(what), "parse \"%s\": err", c->text);
            CHECK_STR(what, err, c->err);
            continue;
        }
        snprintf(what, sizeof(what), "parse \"%s\": host", c->text);
        CHECK_STR(what, res.host, c->host);
        snprintf(what, sizeof(what), "parse \"%s\": port", c->text);
        CHECK_LONG(what, res.port, c->port);
        snprintf(what, sizeof(what), "parse \"%s\": mx", c->text);
        CHECK_LONG(what, res.mx, c->mx);
        snprintf(what, sizeof(what), "parse \"%s\": is_addr", c->text);
        CHECK_LONG(what, res.host_is_addr, c->is_addr);
    }
}

/* --- set-up errors --- */

static void test_init_errors(void)
{
    struct route_settings s;
    char err[ROUTE_ERR_MAX];

    memset(&s, 0, sizeof(s));
    s.relayhost = "[relay.example";
    CHECK_LONG("bad relayhost refused", route_init_settings(&s, err, sizeof(err)), -1);
    CHECK_STR("bad relayhost message", err, "relayhost: \"[relay.example\": missing \"]\"");

    memset(&s, 0, sizeof(s));
    s.transport_maps = "hash:/etc/postfix/transport";
    CHECK_LONG("bad table refused", route_init_settings(&s, err, sizeof(err)), -1);
    CHECK_TRUE("bad table message names the parameter",
               strncmp(err, "transport_maps: ", 16) == 0);

    memset(&s, 0, sizeof(s));
    s.relayhost = "  [relay.example]:2525  ";
    CHECK_LONG("relayhost with spaces", route_init_settings(&s, err, sizeof(err)), 0);
}

/* --- temporary failures: a pcre table that hits the match limit --- */

static char *write_temp(const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "w");

    if (fp == NULL) {
        perror(path);
        exit(2);
    }
    fputs(text, fp);
    fclose(fp);
    return path;
}

static void test_tempfail(void)
{
    char *path = write_temp("transport.pcre",
                            "/^(a|a)*b@/ smtp:[never]\n"
                            "/@pcre\\.example$/ smtp:[pcre-hop]:2526\n");
    char *spec = xasprintf("pcre:%s", path);
    char *slow = xmalloc(200);
    struct route_settings s;
    struct route_result res;
    char err[ROUTE_ERR_MAX];
    int rc;

    memset(&s, 0, sizeof(s));
    s.transport_maps = spec;
    s.relayhost = "[relay.example]";
    rc = route_init_settings(&s, err, sizeof(err));
    CHECK_LONG("pcre transport_maps opens", rc, 0);
    if (rc < 0) {
        fprintf(stderr, "    %s\n", err);
        return;
    }
    rc = route_resolve("u@pcre.example", "", &res);
    CHECK_LONG("pcre match", rc, ROUTE_OK);
    CHECK_STR("pcre nexthop", res.nexthop, "[pcre-hop]:2526");
    CHECK_TRUE("pcre trace names file:line",
               res.trace_count == 1 && strstr(res.trace[0].where, "transport.pcre:2") != NULL);

    memset(slow, 'a', 60);
    strcpy(slow + 60, "!@slow.example");
    rc = route_resolve(slow, "", &res);
    CHECK_LONG("match limit: defer", rc, ROUTE_DEFER);
    CHECK_STR("match limit: dsn", res.dsn, "4.3.0");
    CHECK_TRUE("match limit: text", strncmp(res.text, "transport_maps lookup failure: ", 31) == 0
               && strstr(res.text, "limit") != NULL);
    CHECK_STR("match limit: no next hop", res.nexthop, "");

    /* The same through sender_dependent_relayhost_maps. */
    memset(&s, 0, sizeof(s));
    s.sender_dependent_relayhost_maps = spec;
    rc = route_init_settings(&s, err, sizeof(err));
    CHECK_LONG("pcre sender maps open", rc, 0);
    rc = route_resolve("r@dest.example", slow, &res);
    CHECK_LONG("sender match limit: defer", rc, ROUTE_DEFER);
    CHECK_STR("sender match limit: dsn", res.dsn, "4.3.0");
    CHECK_TRUE("sender match limit: text",
               strncmp(res.text, "sender_dependent_relayhost_maps lookup failure", 46) == 0);

    /* A table file that disappears is a temporary failure too (lmdb). */
    xfree(slow);
    xfree(spec);
    unlink(path);
    xfree(path);
}

/* An lmdb table whose file vanished after opening. */
static void test_lmdb_gone(void)
{
    char *src = write_temp("transport", "gone.example smtp:[x]\n");
    char *db = xasprintf("%s.lmdb", src);
    char *spec = xasprintf("lmdb:%s", src);
    struct route_settings s;
    struct route_result res;
    char err[ROUTE_ERR_MAX];
    int rc;

    rc = dict_lmdb_build(src, DICT_LMDB_DUP_WARN, NULL, err, sizeof(err));
    CHECK_LONG("lmdb build", rc, 0);
    if (rc == 0) {
        memset(&s, 0, sizeof(s));
        s.transport_maps = spec;
        rc = route_init_settings(&s, err, sizeof(err));
        CHECK_LONG("lmdb opens", rc, 0);
        rc = route_resolve("u@gone.example", "", &res);
        CHECK_STR("lmdb lookup", res.nexthop, "[x]");
        CHECK_TRUE("lmdb where", strstr(res.trace[0].where, "key=gone.example") != NULL);
        unlink(db);
        sleep(2);   /* dict_lmdb checks the file's identity once a second */
        rc = route_resolve("u@gone.example", "", &res);
        CHECK_LONG("lmdb gone: defer", rc, ROUTE_DEFER);
        CHECK_STR("lmdb gone: dsn", res.dsn, "4.3.0");
    }
    unlink(db);
    unlink(src);
    xfree(src);
    xfree(db);
    xfree(spec);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i]);
    test_nexthops();
    test_init_errors();
    test_tempfail();
    test_lmdb_gone();
    route_end();
    rmdir(tmpdir);
    return check_finish("test_route");
}
