/*
 * dns.h - asynchronous DNS for delivery routing: MX and address lookups on
 * the caller's libevent loop, with a TTL-bounded cache.
 *
 * c-ares moves the bytes (UDP with TCP fallback, retries, timeouts; its
 * sockets and timers are driven by the caller's event_base, nothing ever
 * blocks); Postern's own reader (dns_msg.h) reads every answer so that each
 * record's TTL is known. Nothing is used past its TTL.
 *
 * One resolver per process: dns_init() once (after fork, on the daemon's
 * event_base), dns_shutdown() at exit. dns_init() is the only call that
 * touches files (c-ares reads /etc/resolv.conf even when servers are
 * given): call it at start-up, before any chroot. Nothing after it blocks.
 *
 * Servers. `servers` is a list separated by commas and/or spaces of
 * "IPv4", "IPv4:port", "IPv6" or "[IPv6]:port" (default port 53), at most
 * DNS_SERVERS_MAX; empty or NULL reads the nameservers of /etc/resolv.conf
 * (once, in dns_init). Servers are asked in order: the next one only when
 * the previous timed out, refused, failed (SERVFAIL, NOTIMP, FORMERR...) or
 * sent something malformed. Names are always fully qualified: no search
 * list, no ndots.
 *
 * Lookups. dns_lookup_mx() and dns_lookup_addr() start a lookup and return
 * a handle; the callback runs exactly once, later, from the event loop
 * (never from inside the dns_lookup_* call, not even for a cache hit or an
 * invalid name), unless the lookup is cancelled with dns_cancel() first.
 * The handle is invalid once the callback has started or dns_cancel() has
 * returned. A callback may start new lookups, cancel other lookups and call
 * dns_shutdown().
 *
 * Results. The callback receives a struct dns_result that it owns and must
 * free with dns_result_free() (it may keep it as long as it wants).
 *   MX (RFC 5321 5.1, RFC 7505):
 *     DNS_OK        mx[] sorted by preference, equal preferences in a fresh
 *                   random order on every delivery (also from the cache);
 *                   exchanges that are not valid host names are dropped
 *                   (if none is left: DNS_TEMPFAIL).
 *     DNS_NULL_MX   the domain publishes "0 ." (every MX has the root as
 *                   exchange): it accepts no mail. mx[] is empty.
 *     DNS_NODATA    the domain exists but has no MX: the caller falls back
 *                   to the domain's own addresses (dns_lookup_addr).
 *     DNS_NXDOMAIN  the domain does not exist.
 *   Address (A and/or AAAA, each following CNAMEs):
 *     DNS_OK        addrs[]: IPv4 first, then IPv6, each family in a fresh
 *                   random order. OK whenever one family gave addresses,
 *                   even if the other failed.
 *     DNS_NODATA / DNS_NXDOMAIN  as above, for every asked family.
 *   Both:
 *     DNS_TEMPFAIL  try later: every server timed out or failed, answers
 *                   were malformed, a CNAME chain looped or was longer than
 *                   DNS_CNAME_MAX (8), or the resolver is shutting down.
 *     DNS_PERMFAIL  the name itself is not a valid host name (RFC 1123);
 *                   asking again will not help.
 *   `reason` says why in words for anything but DNS_OK.
 *
 * Cache. Keyed by (name, record type). A positive entry lives for the
 * smallest TTL of its records and of the CNAMEs that led to them; a
 * negative one (NXDOMAIN, NODATA) for min(SOA TTL, SOA MINIMUM) of the SOA
 * in the answer's authority section (RFC 2308), and not at all without
 * one. TTLs are capped by dns_opts.max_ttl / max_negative_ttl. A TTL of 0
 * is never cached. Failures (TEMPFAIL) are never cached. When full, the
 * least recently used entry goes. Time is CLOCK_MONOTONIC: a change of the
 * wall clock does not stretch a TTL.
 *
 * Memory: the library owns its servers, cache and pending lookups; the
 * caller owns each result handed to its callback and the strings returned
 * by dns_result_format().
 *
 * Success convention: dns_init() 0 ok, -1 error with err filled.
 */
#ifndef POSTERN_DNS_H
#define POSTERN_DNS_H

#include <stddef.h>

struct event_base;

#define DNS_SERVERS_MAX 8
#define DNS_ADDR_TEXT_MAX 46        /* INET6_ADDRSTRLEN */

/* Address families for dns_lookup_addr(): a bit mask. */
#define DNS_FAMILY_INET4 1
#define DNS_FAMILY_INET6 2
#define DNS_FAMILY_ANY (DNS_FAMILY_INET4 | DNS_FAMILY_INET6)

enum dns_status {
    DNS_OK,
    DNS_NXDOMAIN,
    DNS_NODATA,
    DNS_NULL_MX,
    DNS_TEMPFAIL,
    DNS_PERMFAIL,
};

enum dns_kind {
    DNS_KIND_MX,
    DNS_KIND_ADDR,
};

struct dns_mx {
    char *host;                 /* exchange, lower case, no trailing dot */
    unsigned pref;
    unsigned ttl;               /* seconds this record has left */
};

struct dns_addr {
    int family;                 /* AF_INET or AF_INET6 */
    unsigned char addr[16];     /* network order; 4 bytes used for AF_INET */
    char text[DNS_ADDR_TEXT_MAX]; /* "192.0.2.1", "2001:db8::1" */
    unsigned ttl;               /* seconds this record has left */
};

struct dns_cname {
    char *owner;                /* the alias ... */
    char *target;               /* ... and the name it points to */
    unsigned ttl;               /* seconds this link has left */
};

struct dns_result {
    enum dns_kind kind;
    enum dns_status status;
    char *name;                 /* the name asked for, normalised ("example.com") */
    char *canonical;            /* where the CNAMEs led; == name without CNAMEs */
    /*
     * The server(s) whose answer this is, "127.0.0.1:5353"; for an address
     * lookup answered by two servers, both, comma-separated. "" when no
     * server answered (timeouts, invalid name).
     */
    char *server;
    int cached;                 /* 1 when every part came from the cache */
    /*
     * How long this result may be reused, in seconds: the smallest TTL of
     * what it is made of: for DNS_OK the records and CNAMEs returned (for
     * an address lookup, of the families that gave addresses); for
     * NXDOMAIN/NODATA/NULL_MX the negative TTL or the MX TTL. 0 for
     * failures and for answers that may not be reused. `expires` is the
     * same moment as a time_t (wall clock) for display.
     */
    unsigned ttl;
    long long expires;
    char *reason;               /* why, for everything but DNS_OK; else "" */
    struct dns_mx *mx;          /* DNS_KIND_MX, DNS_OK */
    size_t mx_count;
    struct dns_addr *addrs;     /* DNS_KIND_ADDR, DNS_OK */
    size_t addr_count;
    struct dns_cname *cnames;   /* the chain followed from name to canonical */
    size_t cname_count;
};

typedef void (*dns_callback)(struct dns_result *result, void *ctx);

struct dns_lookup;              /* a pending lookup (opaque) */

/* Tunables; any field left 0 takes the default shown. */
struct dns_opts {
    int timeout_ms;             /* first try per server: 2000 (c-ares doubles it per retry) */
    int tries;                  /* tries per server: 2 */
    size_t cache_max;           /* cache entries: 10000; (size_t)-1 disables the cache */
    unsigned max_ttl;           /* cap on positive TTLs: 86400 */
    unsigned max_negative_ttl;  /* cap on negative TTLs: 3600 */
};

/*
 * Start the resolver on `base` (which must outlive it). `opts` may be NULL.
 * Errors: a bad server list, no nameserver in resolv.conf, c-ares failing
 * to initialise, dns_init() called twice.
 */
int dns_init(struct event_base *base, const char *servers, const struct dns_opts *opts,
             char *err, size_t errlen);

/*
 * Stop: pending lookups are dropped without their callbacks, the cache is
 * emptied, c-ares is closed. Safe when not initialised; dns_init() may be
 * called again afterwards.
 */
void dns_shutdown(void);

/* The servers in use, e.g. "127.0.0.1:5353,[::1]:53" ("" before dns_init). */
const char *dns_servers(void);

/*
 * Look up the MX records of `domain` (a host name; a trailing dot and upper
 * case are fine). Panics when the resolver is not initialised. Returns the
 * handle of the pending lookup (never NULL).
 */
struct dns_lookup *dns_lookup_mx(const char *domain, dns_callback cb, void *ctx);

/*
 * Look up the addresses of `host` for the families in `families`
 * (DNS_FAMILY_INET4 and/or DNS_FAMILY_INET6; 0 means both).
 */
struct dns_lookup *dns_lookup_addr(const char *host, int families, dns_callback cb, void *ctx);

/*
 * Cancel a pending lookup: its callback will not run. Queries already sent
 * still finish inside the library (their answers are cached). Only call it
 * with a handle whose callback has not run yet.
 */
void dns_cancel(struct dns_lookup *lookup);

/* Free a result; accepts NULL; returns NULL. */
struct dns_result *dns_result_free(struct dns_result *result);

/* Forget every cached answer (an operator asked for fresh DNS). */
void dns_cache_flush(void);

/* Number of live cache entries (for tests and statistics). */
size_t dns_cache_count(void);

enum dns_format {
    /*
     * One JSON object: name, kind, status, canonical, server, cached
     * (bool), ttl, expires, reason, cnames [{owner, target, ttl}], then
     * for MX mx [{pref, host, ttl}], for addresses addrs [{family,
     * address, ttl}].
     */
    DNS_FORMAT_JSON,
};

/* Format a result; the caller frees the string with xfree(). */
char *dns_result_format(const struct dns_result *result, enum dns_format format);

/* "OK", "NXDOMAIN", "NODATA", "NULL_MX", "TEMPFAIL", "PERMFAIL". */
const char *dns_status_name(enum dns_status status);

#endif
