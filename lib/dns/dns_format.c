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

#include "dns_private.h"
#include "json.h"
#include "msg.h"
#include "strbuf.h"

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
/* JSON (json.h: one writer, one rule for text) */

static void json_cnames(struct json_writer *w, const struct dns_result *r)
{
    json_key(w, "cnames");
    json_array_begin(w);
    for (size_t i = 0; i < r->cname_count; i++) {
        json_object_begin(w);
        json_member_string(w, "owner", r->cnames[i].owner);
        json_member_string(w, "target", r->cnames[i].target);
        json_member_uint(w, "ttl", r->cnames[i].ttl);
        json_object_end(w);
    }
    json_array_end(w);
}

static void json_mx(struct json_writer *w, const struct dns_result *r)
{
    json_key(w, "mx");
    json_array_begin(w);
    for (size_t i = 0; i < r->mx_count; i++) {
        json_object_begin(w);
        json_member_uint(w, "pref", r->mx[i].pref);
        json_member_string(w, "host", r->mx[i].host);
        json_member_uint(w, "ttl", r->mx[i].ttl);
        json_object_end(w);
    }
    json_array_end(w);
}

static void json_addrs(struct json_writer *w, const struct dns_result *r)
{
    json_key(w, "addrs");
    json_array_begin(w);
    for (size_t i = 0; i < r->addr_count; i++) {
        json_object_begin(w);
        json_member_string(w, "family", r->addrs[i].family == AF_INET ? "inet" : "inet6");
        json_member_string(w, "address", r->addrs[i].text);
        json_member_uint(w, "ttl", r->addrs[i].ttl);
        json_object_end(w);
    }
    json_array_end(w);
}

static void format_json(struct json_writer *w, const struct dns_result *r)
{
    json_object_begin(w);
    json_member_string(w, "name", r->name);
    json_member_string(w, "kind", kind_name(r->kind));
    json_member_string(w, "status", dns_status_name(r->status));
    json_member_string(w, "canonical", r->canonical);
    json_member_string(w, "server", r->server);
    json_member_bool(w, "cached", r->cached);
    json_member_uint(w, "ttl", r->ttl);
    json_member_int(w, "expires", r->expires);
    json_member_string(w, "reason", r->reason);
    json_cnames(w, r);
    if (r->kind == DNS_KIND_MX)
        json_mx(w, r);
    else
        json_addrs(w, r);
    json_object_end(w);
}

char *dns_result_format(const struct dns_result *r, enum dns_format format)
{
    struct strbuf out = STRBUF_INIT;
    struct json_writer w;

    if (format != DNS_FORMAT_JSON)
        msg_panic("dns_result_format: unknown format %d", (int)format);
    json_init(&w, &out);
    format_json(&w, r);
    return strbuf_detach(&out);
}
