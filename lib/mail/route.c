/*
 * route.c - the routing decision: transport_maps, sender-dependent relay
 * hosts, relayhost, MX of the recipient domain (see route.h).
 *
 * The tables and settings live in one static struct for the process,
 * opened by route_init*(). route_resolve() fills a caller's struct
 * route_result and allocates nothing that outlives the call: every dict
 * answer is copied into the result's fixed buffers (truncated for the
 * trace only, never for a value that is used).
 *
 * Memory: the module owns its dicts and the copied settings.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "config.h"
#include "dict.h"
#include "dsn.h"
#include "errtext.h"
#include "hostport.h"
#include "params.h"
#include "route.h"
#include "strlist.h"


static struct {
    struct dict *transport;
    struct dict *sender_relay;
    char *relayhost;            /* NULL: none */
    char *delims;
    int transport_parent;       /* parent_domain_matches_subdomains has transport_maps */
} rt;

static const char *const transport_names[] = { "smtp", "error", "discard", "hold" };

const char *route_transport_name(enum route_transport transport)
{
    return transport_names[transport];
}

/* --- set-up --- */

void route_end(void)
{
    rt.transport = dict_close(rt.transport);
    rt.sender_relay = dict_close(rt.sender_relay);
    rt.relayhost = xfree(rt.relayhost);
    rt.delims = xfree(rt.delims);
    rt.transport_parent = 0;
}

/* A copy of text without white space at both ends; NULL when empty. */
static char *trimmed(const char *text)
{
    const char *end;

    if (text == NULL)
        return NULL;
    while (isspace((unsigned char)*text))
        text++;
    end = text + strlen(text);
    while (end > text && isspace((unsigned char)end[-1]))
        end--;
    return end > text ? xstrndup(text, (size_t)(end - text)) : NULL;
}

static int open_maps(const char *name, const char *list, struct dict **dict, char *err,
                     size_t errlen)
{
    char derr[DICT_ERR_MAX];
    char *text = trimmed(list);

    *dict = NULL;
    if (text == NULL || strspn(text, ", \t\r\n") == strlen(text)) {
        xfree(text);
        return 0;
    }
    if (dict_open_list(text, DICT_FLAG_NONE, dict, derr, sizeof(derr)) < 0) {
        errtext_set(err, errlen, "%s: %s", name, derr);
        xfree(text);
        return -1;
    }
    xfree(text);
    return 0;
}

static int param_listed(const char *list, const char *name)
{
    size_t n;
    char **items = strlist_split(list, &n);
    int found = 0;

    for (size_t i = 0; items != NULL && i < n && !found; i++)
        found = strcasecmp(items[i], name) == 0;
    strlist_free(items);
    return found;
}

int route_init_settings(const struct route_settings *s, char *err, size_t errlen)
{
    struct route_result check;
    char perr[ROUTE_ERR_MAX];

    route_end();
    if (open_maps("transport_maps", s->transport_maps, &rt.transport, err, errlen) < 0
        || open_maps("sender_dependent_relayhost_maps", s->sender_dependent_relayhost_maps,
                     &rt.sender_relay, err, errlen) < 0) {
        route_end();
        return -1;
    }
    rt.relayhost = trimmed(s->relayhost);
    if (rt.relayhost != NULL
        && route_parse_nexthop(rt.relayhost, &check, perr, sizeof(perr)) < 0) {
        errtext_set(err, errlen, "relayhost: \"%s\": %s", rt.relayhost, perr);
        route_end();
        return -1;
    }
    rt.delims = xstrdup(s->recipient_delimiter ? s->recipient_delimiter : "");
    rt.transport_parent = param_listed(s->parent_domain_matches_subdomains, "transport_maps");
    return 0;
}

int route_init(char *err, size_t errlen)
{
    struct route_settings s = {
        .transport_maps = var_transport_maps,
        .sender_dependent_relayhost_maps = var_sender_dependent_relayhost_maps,
        .relayhost = var_relayhost,
        .parent_domain_matches_subdomains = var_parent_domain_matches_subdomains,
        .recipient_delimiter = var_recipient_delimiter,
    };

    return route_init_settings(&s, err, errlen);
}

/* --- next hops --- */

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

int route_parse_nexthop(const char *nexthop, struct route_result *res, char *err,
                        size_t errlen)
{
    struct hostport hp;

    if (hostport_parse(nexthop, 0, &hp, err, errlen) < 0)
        return -1;
    snprintf(res->host, sizeof(res->host), "%s", hp.host);
    lower(res->host);
    res->port = hp.has_port ? hp.port : ROUTE_DEFAULT_PORT;
    res->mx = !hp.bracketed;
    res->host_is_addr = hp.bracketed && hp.family != 0;
    return 0;
}

/* --- results and trace --- */

/* Copy src into dst; when too long, keep its start and end around "...",
 * so a long inline: table still shows the key that matched. */
static void copy_middle(char *dst, size_t size, const char *src)
{
    size_t len = strlen(src), head, tail;

    if (len < size) {
        memcpy(dst, src, len + 1);
        return;
    }
    head = (size - 4) / 2;
    tail = size - 4 - head;
    memcpy(dst, src, head);
    memcpy(dst + head, "...", 3);
    memcpy(dst + head + 3, src + len - tail, tail);
    dst[size - 1] = '\0';
}

static void add_step(struct route_result *res, const char *source, int found,
                     const char *where, const char *key, const char *value)
{
    struct route_step *st;

    if (res->trace_count >= ROUTE_TRACE_MAX)
        return;
    st = &res->trace[res->trace_count++];
    st->source = source;
    st->found = found;
    copy_middle(st->where, sizeof(st->where), where ? where : "");
    snprintf(st->key, sizeof(st->key), "%s", key ? key : "");
    snprintf(st->value, sizeof(st->value), "%s", value ? value : "");
}

static int defer(struct route_result *res, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int defer(struct route_result *res, const char *dsn, const char *fmt, ...)
{
    va_list ap;

    res->status = ROUTE_DEFER;
    snprintf(res->dsn, sizeof(res->dsn), "%s", dsn);
    va_start(ap, fmt);
    vsnprintf(res->text, sizeof(res->text), fmt, ap);
    va_end(ap);
    res->nexthop[0] = '\0';
    res->host[0] = '\0';
    return ROUTE_DEFER;
}

static int set_nexthop(struct route_result *res, const char *nexthop, char *err, size_t errlen)
{
    if (strlen(nexthop) >= sizeof(res->nexthop)) {
        errtext_set(err, errlen, "next hop too long");
        return -1;
    }
    if (route_parse_nexthop(nexthop, res, err, errlen) < 0)
        return -1;
    snprintf(res->nexthop, sizeof(res->nexthop), "%s", nexthop);
    lower(res->nexthop);
    return 0;
}

static void set_error(struct route_result *res, const char *nexthop)
{
    size_t n = dsn_prefix_len(nexthop, strlen(nexthop), DSN_CLASS_NONE);

    res->transport = ROUTE_TRANSPORT_ERROR;
    if (n > 0 && nexthop[0] != '2') {
        snprintf(res->dsn, sizeof(res->dsn), "%.*s", (int)n, nexthop);
        nexthop += n;
        while (*nexthop == ' ' || *nexthop == '\t')
            nexthop++;
    } else {
        snprintf(res->dsn, sizeof(res->dsn), "%s", DSN_PERM_DEFAULT);
    }
    snprintf(res->text, sizeof(res->text), "%s",
             *nexthop ? nexthop : "mail for this destination is refused by configuration");
}

/* --- the steps --- */

/*
 * transport_maps for rcpt: full address, address without extension,
 * domain search order, "*". DICT_FOUND (res: value copied to *value,
 * trace step), DICT_NOTFOUND or DICT_TEMPFAIL (error text in *value).
 */
static int transport_lookup(const char *rcpt, const char *domain, char **value,
                            struct route_result *res)
{
    struct dict_result dr;
    const char *at = strrchr(rcpt, '@');
    int rc;

    *value = NULL;
    rc = dict_lookup(rt.transport, rcpt, &dr);
    if (rc == DICT_NOTFOUND && at != NULL && rt.delims[0] != '\0') {
        size_t local_len = (size_t)(at - rcpt);
        size_t ext = strcspn(rcpt, rt.delims);
        if (ext > 0 && ext < local_len) {
            char *bare = xasprintf("%.*s%s", (int)ext, rcpt, at);
            rc = dict_lookup(rt.transport, bare, &dr);
            xfree(bare);
        }
    }
    if (rc == DICT_NOTFOUND && domain != NULL && domain[0] != '\0')
        rc = dict_lookup_domain(rt.transport, domain, rt.transport_parent, &dr);
    if (rc == DICT_NOTFOUND)
        rc = dict_lookup(rt.transport, "*", &dr);
    if (rc == DICT_FOUND) {
        *value = xstrdup(dr.value);
        add_step(res, "transport_maps", 1, dr.where, dr.key, dr.value);
    } else if (rc == DICT_TEMPFAIL) {
        *value = xstrdup(dr.error ? dr.error : "temporary lookup failure");
    } else {
        add_step(res, "transport_maps", 0, "(not found)", rcpt, NULL);
    }
    return rc;
}

/*
 * Apply a transport_maps value. Returns 1 when the route is decided (an
 * error/discard/hold transport, or a deferral), 0 when the next hop is
 * still to be decided (*have_nexthop says whether the entry gave one).
 */
static int apply_transport(const char *value, struct route_result *res, int *have_nexthop)
{
    const char *colon = strchr(value, ':');
    size_t tlen = colon ? (size_t)(colon - value) : strlen(value);
    const char *nexthop = colon ? colon + 1 : "";
    char name[32], err[ROUTE_ERR_MAX];

    *have_nexthop = 0;
    if (tlen >= sizeof(name)) {
        defer(res, DSN_CONFIG, "transport_maps: unknown transport in \"%.100s\"", value);
        return 1;
    }
    memcpy(name, value, tlen);
    name[tlen] = '\0';
    if (tlen == 0 || strcmp(name, "smtp") == 0) {
        if (*nexthop == '\0')
            return 0;
        if (set_nexthop(res, nexthop, err, sizeof(err)) < 0) {
            defer(res, DSN_CONFIG, "transport_maps: bad next hop \"%.300s\": %s", nexthop, err);
            return 1;
        }
        *have_nexthop = 1;
        return 0;
    }
    if (strcmp(name, "error") == 0) {
        set_error(res, nexthop);
        return 1;
    }
    if (strcmp(name, "discard") == 0 || strcmp(name, "hold") == 0) {
        res->transport = name[0] == 'd' ? ROUTE_TRANSPORT_DISCARD : ROUTE_TRANSPORT_HOLD;
        snprintf(res->text, sizeof(res->text), "%s", nexthop);
        return 1;
    }
    defer(res, DSN_CONFIG, "transport_maps: unknown transport \"%s\" (known: smtp, error, "
          "discard, hold)", name);
    return 1;
}

/* sender_dependent_relayhost_maps: 1 next hop set, 0 none, ROUTE_DEFER. */
static int sender_relay(const char *sender, struct route_result *res)
{
    struct dict_result dr;
    const char *key = sender[0] ? sender : "<>";
    char err[ROUTE_ERR_MAX], *value;
    int rc;

    if (rt.sender_relay == NULL)
        return 0;
    if (sender[0])
        rc = dict_lookup_address(rt.sender_relay, sender, rt.delims, &dr);
    else
        rc = dict_lookup(rt.sender_relay, key, &dr);
    if (rc == DICT_TEMPFAIL)
        return defer(res, DSN_TEMP_SYSTEM, "sender_dependent_relayhost_maps lookup failure: %s",
                     dr.error ? dr.error : "temporary failure");
    if (rc == DICT_NOTFOUND) {
        add_step(res, "sender_dependent_relayhost_maps", 0, "(not found)", key, NULL);
        return 0;
    }
    add_step(res, "sender_dependent_relayhost_maps", 1, dr.where, dr.key, dr.value);
    value = trimmed(dr.value);
    if (value == NULL || strcasecmp(value, "DUNNO") == 0) {
        xfree(value);
        return 0;
    }
    if (set_nexthop(res, value, err, sizeof(err)) < 0) {
        defer(res, DSN_CONFIG, "sender_dependent_relayhost_maps: bad next hop \"%.300s\": %s",
              value, err);
        xfree(value);
        return ROUTE_DEFER;
    }
    xfree(value);
    return 1;
}

/* Step 4: the recipient domain itself. */
static int default_nexthop(const char *domain, struct route_result *res)
{
    char name[ROUTE_NEXTHOP_MAX], err[ROUTE_ERR_MAX];
    size_t len = domain ? strlen(domain) : 0;

    if (len > 0 && domain[len - 1] == '.' && domain[0] != '[')
        len--;
    if (len == 0) {
        res->transport = ROUTE_TRANSPORT_ERROR;
        snprintf(res->dsn, sizeof(res->dsn), "%s", DSN_BAD_ADDRESS);
        snprintf(res->text, sizeof(res->text),
                 "recipient address has no domain and no relay host is configured");
        add_step(res, "default", 1, "no domain in the recipient address", "", "error");
        return ROUTE_OK;
    }
    snprintf(name, sizeof(name), "%.*s", (int)len, domain);
    if (len >= sizeof(name) || (domain[0] != '[' && memchr(domain, ':', len) != NULL)
        || set_nexthop(res, name, err, sizeof(err)) < 0) {
        res->transport = ROUTE_TRANSPORT_ERROR;
        snprintf(res->dsn, sizeof(res->dsn), "%s", DSN_BAD_DOMAIN);
        snprintf(res->text, sizeof(res->text), "bad destination domain \"%.200s\"", domain);
        add_step(res, "default", 1, "bad recipient domain", domain, "error");
        return ROUTE_OK;
    }
    add_step(res, "default", 1,
             res->mx ? "MX of the recipient domain" : "address literal of the recipient",
             domain, res->nexthop);
    return ROUTE_OK;
}

int route_resolve(const char *rcpt, const char *sender, struct route_result *res)
{
    const char *at = strrchr(rcpt, '@');
    const char *domain = at ? at + 1 : NULL;
    int have_nexthop = 0;

    memset(res, 0, sizeof(*res));
    res->status = ROUTE_OK;
    res->transport = ROUTE_TRANSPORT_SMTP;
    res->port = ROUTE_DEFAULT_PORT;
    if (sender == NULL)
        sender = "";

    if (rt.transport != NULL) {
        char *value;
        int rc = transport_lookup(rcpt, domain, &value, res);

        if (rc == DICT_TEMPFAIL) {
            defer(res, DSN_TEMP_SYSTEM, "transport_maps lookup failure: %s", value);
            xfree(value);
        } else if (rc == DICT_FOUND) {
            int decided = apply_transport(value, res, &have_nexthop);
            xfree(value);
            if (decided)
                goto done;
        }
        if (res->status != ROUTE_OK)
            goto done;
    }
    if (!have_nexthop) {
        int rc = sender_relay(sender, res);
        if (rc == ROUTE_DEFER)
            goto done;
        have_nexthop = rc == 1;
    }
    if (!have_nexthop && rt.relayhost != NULL) {
        char err[ROUTE_ERR_MAX];

        if (set_nexthop(res, rt.relayhost, err, sizeof(err)) < 0) {
            defer(res, DSN_CONFIG, "relayhost: %s", err);  /* checked at init: not reached */
            goto done;
        }
        add_step(res, "relayhost", 1, "main.cf relayhost", "", rt.relayhost);
        have_nexthop = 1;
    }
    if (!have_nexthop)
        default_nexthop(domain, res);
done:
    res->transport_name = transport_names[res->transport];
    if (res->status != ROUTE_OK || res->transport != ROUTE_TRANSPORT_SMTP) {
        res->nexthop[0] = '\0';
        res->host[0] = '\0';
        res->port = 0;
        res->mx = 0;
        res->host_is_addr = 0;
    }
    return res->status;
}

void route_trace_format(const struct route_result *res, char *buf, size_t len)
{
    size_t used = 0;

    if (len == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < res->trace_count && used < len; i++) {
        const struct route_step *st = &res->trace[i];
        int show_key = st->key[0] != '\0' && strstr(st->where, "key=") == NULL;
        int n;

        if (st->found)
            n = snprintf(buf + used, len - used, "%s: %s%s%s -> %s\n", st->source,
                         st->where, show_key ? " key=" : "", show_key ? st->key : "",
                         st->value);
        else
            n = snprintf(buf + used, len - used, "%s: not found key=%s\n", st->source,
                         st->key);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}
