/*
 * dns_format.c - status names and the text forms of a struct dns_result
 * (see dns.h, dns_result_format()): one JSON object, as postroute -j and
 * dnsquery -j print it.
 *
 * Memory: dns_result_format() returns a fresh string (xmalloc) that the
 * caller frees with xfree(); dns_status_name() returns static text. The
 * result is only read.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "dns_private.h"
#include "msg.h"

const char *dns_status_name(enum dns_status status)
{
    switch (status) {
    case DNS_OK: return "OK";
    case DNS_NXDOMAIN: return "NXDOMAIN";
    case DNS_NODATA: return "NODATA";
    case DNS_NULL_MX: return "NULL_MX";
    case DNS_TEMPFAIL: return "TEMPFAIL";
    case DNS_PERMFAIL: return "PERMFAIL";
    }
    return "UNKNOWN";
}

static const char *kind_name(enum dns_kind kind)
{
    return kind == DNS_KIND_MX ? "MX" : "ADDR";
}

/* ------------------------------------------------------------------------ */
/* A growing string */

struct sbuf {
    char *s;
    size_t len;
    size_t cap;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    b->s = xgrow(b->s, &b->cap, b->len + (size_t)n + 1, 1);
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* ------------------------------------------------------------------------ */
/* JSON */

/*
 * A JSON string literal (quotes included) for any text: '"' and '\'
 * escaped, control bytes and DEL as \u00XX, every other byte as it is.
 */
static void json_string_append(struct sbuf *b, const char *s)
{
    sb_add(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            sb_add(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            sb_add(b, "\\u%04x", *p);
        else
            sb_add(b, "%c", *p);
    }
    sb_add(b, "\"");
}

static void json_cnames(struct sbuf *b, const struct dns_result *r)
{
    sb_add(b, "\"cnames\":[");
    for (size_t i = 0; i < r->cname_count; i++) {
        sb_add(b, "%s{\"owner\":", i ? "," : "");
        json_string_append(b, r->cnames[i].owner);
        sb_add(b, ",\"target\":");
        json_string_append(b, r->cnames[i].target);
        sb_add(b, ",\"ttl\":%u}", r->cnames[i].ttl);
    }
    sb_add(b, "]");
}

static void json_mx(struct sbuf *b, const struct dns_result *r)
{
    sb_add(b, "\"mx\":[");
    for (size_t i = 0; i < r->mx_count; i++) {
        sb_add(b, "%s{\"pref\":%u,\"host\":", i ? "," : "", r->mx[i].pref);
        json_string_append(b, r->mx[i].host);
        sb_add(b, ",\"ttl\":%u}", r->mx[i].ttl);
    }
    sb_add(b, "]");
}

static void json_addrs(struct sbuf *b, const struct dns_result *r)
{
    sb_add(b, "\"addrs\":[");
    for (size_t i = 0; i < r->addr_count; i++)
        sb_add(b, "%s{\"family\":\"%s\",\"address\":\"%s\",\"ttl\":%u}", i ? "," : "",
               r->addrs[i].family == AF_INET ? "inet" : "inet6", r->addrs[i].text,
               r->addrs[i].ttl);
    sb_add(b, "]");
}

static void format_json(struct sbuf *b, const struct dns_result *r)
{
    sb_add(b, "{\"name\":");
    json_string_append(b, r->name);
    sb_add(b, ",\"kind\":\"%s\",\"status\":\"%s\",\"canonical\":", kind_name(r->kind),
           dns_status_name(r->status));
    json_string_append(b, r->canonical);
    sb_add(b, ",\"server\":");
    json_string_append(b, r->server);
    sb_add(b, ",\"cached\":%s,\"ttl\":%u,\"expires\":%lld,\"reason\":",
           r->cached ? "true" : "false", r->ttl, r->expires);
    json_string_append(b, r->reason);
    sb_add(b, ",");
    json_cnames(b, r);
    sb_add(b, ",");
    if (r->kind == DNS_KIND_MX)
        json_mx(b, r);
    else
        json_addrs(b, r);
    sb_add(b, "}");
}

char *dns_result_format(const struct dns_result *r, enum dns_format format)
{
    struct sbuf b = {0};

    if (format != DNS_FORMAT_JSON)
        msg_panic("dns_result_format: unknown format %d", (int)format);
    format_json(&b, r);
    return b.s;
}
