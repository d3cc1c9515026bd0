/*
 * dns_private.h - what the files of the resolver (dns.h) share. Only the
 * .c files of lib/dns include it; code outside lib/dns uses dns.h.
 *
 * The resolver is split by concern, bottom up:
 *   dns_rrset.c   monotonic time, and the rrset: the outcome of one
 *                 question (name, type) as a lookup builds it and the cache
 *                 stores it, with absolute expiry times.
 *   dns_cache.c   (name, type) -> rrset, TTL-bounded, LRU-evicted.
 *   dns_server.c  the server list ("dns_servers" or resolv.conf) and one
 *                 c-ares channel per server, its sockets and timer on the
 *                 libevent loop.
 *   dns_lookup.c  the query state machine: parts (one question each) ask
 *                 the cache, else the servers in turn, read the answers,
 *                 follow CNAMEs, cache positive and negative outcomes;
 *                 finished lookups are delivered from a libevent event.
 *   dns_result.c  the struct dns_result handed to a callback, built from a
 *                 finished lookup.
 *   dns_format.c  status names and the JSON form of a result.
 *   dns.c         the resolver's life: options, dns_init(), dns_shutdown().
 *
 * Memory: each file owns its own state (dns.c: dns_core; dns_server.c: the
 * servers and their c-ares channels; dns_cache.c: the entries, which own
 * copies of their rrsets; dns_lookup.c: every live lookup and the delivery
 * queue). A struct dns_rrset owns every string and array it points to. A
 * part is embedded in its lookup. Results belong to the callback.
 *
 * Success convention: 0 ok, -1 error with err filled.
 */
#ifndef POSTERN_DNS_PRIVATE_H
#define POSTERN_DNS_PRIVATE_H

#include <ares.h>
#include <stddef.h>
#include <stdint.h>

#include "dns.h"
#include "dns_msg.h"

#define DNS_SERVER_LABEL_MAX 64     /* "[ipv6]:port" */

/* ------------------------------------------------------------------------ */
/* dns.c: the resolver as a whole */

struct dns_core {
    int active;                     /* between dns_init() and dns_shutdown() */
    unsigned generation;            /* changes at every init and shutdown */
    struct event_base *base;        /* the caller's loop */
    struct dns_opts opts;           /* with the defaults filled in */
};

extern struct dns_core dns_core;

/* ------------------------------------------------------------------------ */
/* dns_rrset.c: time and rrsets */

struct dns_rec {                    /* one MX or address record */
    unsigned pref;
    char *host;                     /* MX exchange */
    unsigned char addr[16];         /* A: 4 bytes, AAAA: 16 */
    uint64_t expire_ms;
};

struct dns_link {                   /* one CNAME followed */
    char *owner;
    char *target;
    uint64_t expire_ms;
};

/* The outcome for one (name, type): what the cache stores and parts build. */
struct dns_rrset {
    enum dns_status status;         /* OK, NXDOMAIN, NODATA, TEMPFAIL, PERMFAIL */
    char *canonical;
    char *server;                   /* NULL: none answered */
    char *reason;                   /* NULL or why */
    struct dns_rec *recs;
    size_t nrecs;
    struct dns_link *links;
    size_t nlinks;
    uint64_t expire_ms;             /* 0: not to be reused */
};

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t dns_now_ms(void);
/* Whole seconds from `now` until `expire_ms` (0 when past). */
unsigned dns_ttl_left(uint64_t expire_ms, uint64_t now);
/* `now` plus `ttl` seconds, the TTL capped at `cap`. */
uint64_t dns_expiry(uint64_t now, uint32_t ttl, unsigned cap);
uint64_t dns_min_expiry(uint64_t a, uint64_t b);

/* Free what *set holds and zero it. */
void dns_rrset_free(struct dns_rrset *set);
/* *dst becomes a deep copy of *src (dst holds nothing before). */
void dns_rrset_copy(struct dns_rrset *dst, const struct dns_rrset *src);
/*
 * Continue *set (which holds the CNAMEs followed so far) with `tail`, the
 * terminal outcome for the last name asked: its links, records, status,
 * server and reason; the expiry is the earlier of both.
 */
void dns_rrset_extend(struct dns_rrset *set, const struct dns_rrset *tail);
/* Append the answer's CNAME chain to set->links; returns their earliest expiry. */
uint64_t dns_rrset_add_chain(struct dns_rrset *set, const struct dns_answer *ans, uint64_t now);
/*
 * The terminal outcome (DATA, NXDOMAIN or NODATA) of `ans` for `qtype`,
 * answered by `server` at `now`, as a fresh rrset in *set.
 */
void dns_rrset_from_answer(struct dns_rrset *set, const struct dns_answer *ans, uint16_t qtype,
                           const char *server, uint64_t now);

/* ------------------------------------------------------------------------ */
/* dns_cache.c */

/* Empty cache of at most `max` entries (0: disabled). */
void dns_cache_open(size_t max);
/* Drop every entry and the table. */
void dns_cache_close(void);
/* The live rrset for (name, type), or NULL; valid until the next cache call. */
const struct dns_rrset *dns_cache_get(const char *name, uint16_t type, uint64_t now);
/* Store a copy of `set` when it is cacheable (OK, NXDOMAIN, NODATA, not expired). */
void dns_cache_put(const char *name, uint16_t type, const struct dns_rrset *set, uint64_t now);

/* ------------------------------------------------------------------------ */
/* dns_server.c */

/*
 * Read the server list (`spec`, or resolv.conf when NULL or empty) and open
 * one c-ares channel per server on dns_core.base with dns_core.opts. On
 * error nothing is left open.
 */
int dns_servers_open(const char *spec, char *err, size_t errlen);
/* Close every channel; c-ares calls back each query in flight with ARES_EDESTRUCTION. */
void dns_servers_close(void);
size_t dns_server_count(void);
/* "127.0.0.1:5353", "[::1]:53". */
const char *dns_server_label(size_t index);
/* Send (name, IN, qtype) to server `index`; c-ares calls `cb` with `arg` (perhaps at once). */
void dns_server_query(size_t index, const char *name, uint16_t qtype, ares_callback cb,
                      void *arg);

/* ------------------------------------------------------------------------ */
/* dns_lookup.c */

struct dns_part {                   /* one question being resolved */
    struct dns_lookup *lookup;
    uint16_t qtype;
    char *asked;                    /* the name asked now (after CNAMEs) */
    size_t server;                  /* index of the server asked now */
    int in_flight;
    int done;
    int used_network;               /* some answer came from a server */
    int from_cache;                 /* the final answer came from the cache */
    uint64_t finished_ms;           /* when the outcome was known: TTLs count from here */
    char *last_error;               /* from the last server that failed */
    struct dns_rrset set;
};

struct dns_lookup {
    enum dns_kind kind;
    char *name;                     /* normalised; as given when invalid */
    char *invalid;                  /* reason when the name is invalid */
    dns_callback cb;
    void *ctx;
    int cancelled;
    struct dns_part parts[2];
    size_t nparts;
    size_t pending;                 /* parts not done */
    size_t in_flight;               /* c-ares queries not yet called back */
    int queued;
    struct dns_lookup *prev, *next; /* every live lookup */
    struct dns_lookup *qprev, *qnext; /* the delivery queue */
};

/* Create the delivery event on `base`. */
int dns_lookups_open(struct event_base *base, char *err, size_t errlen);
/* Drop every lookup without its callback; free the delivery event. */
void dns_lookups_close(void);

/* ------------------------------------------------------------------------ */
/* dns_result.c */

/* The result of a finished lookup (its parts all done, or its name invalid). */
struct dns_result *dns_result_build(const struct dns_lookup *lookup);

#endif
