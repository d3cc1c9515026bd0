/*
 * mx_resolve.h - from an SMTP next hop to the ordered list of addresses to
 * try: MX lookup, address lookups, loop detection. Used by the smtp agent
 * (which connects) and by postroute (which explains), so that both always
 * agree.
 *
 * The decision (RFC 5321 section 5.1, Postfix smtp_addr.c semantics):
 *
 *   address literal     the host is an IPv4/IPv6 address (bracketed or
 *                       not): that address, nothing is looked up.
 *   no MX lookup        "[name]": the A/AAAA records of name. Not found
 *                       (NXDOMAIN, NODATA) -> defer 4.4.4; TEMPFAIL ->
 *                       defer 4.4.3 (a relay host that cannot be found is
 *                       a configuration problem: mail waits, nothing is
 *                       returned). No loop detection.
 *   MX lookup           "name": the MX records of name.
 *     OK        every MX host (at most MXR_HOSTS_MAX, in preference
 *               order, equal preferences shuffled by lib/dns) is looked
 *               up (A/AAAA, in parallel); hosts without an address are
 *               skipped.
 *     NODATA    the implicit MX: name itself, preference 0.
 *     NXDOMAIN  bounce 5.1.2 "Host or domain name not found. Name service
 *               error for name=X type=MX: Host not found".
 *     NULL_MX   bounce 5.1.10 "Recipient address has null MX".
 *     TEMPFAIL  defer 4.4.3 "... type=MX: Host not found, try again (why)".
 *     PERMFAIL  (not a valid host name) defer 4.3.5: the name came from
 *               configuration or a recipient domain that smtpd let in;
 *               either way it is a problem to fix, not a reason to return
 *               mail at once.
 *   Loop detection (MX lookups, implicit MX included): a host is "self"
 *   when its name is myhostname or one of its addresses is one of ours
 *   (getifaddrs() and proxy_interfaces). The self host with the best
 *   preference P cuts every host with preference >= P. Nothing left:
 *   bounce 5.4.6 "mail for X loops back to myself", or, when better hosts
 *   were only dropped for lack of an address, defer 4.4.4 "unable to find
 *   primary relay for X".
 *   No usable address otherwise: any host lookup TEMPFAIL -> defer 4.4.3,
 *   else (every host NXDOMAIN/NODATA) bounce 5.4.4 "Host or domain name not
 *   found. Name service error for name=H type=A: Host not found".
 *
 * The addresses to try (targets) are the addresses of the remaining hosts
 * in host order (within a host: IPv4 first, then IPv6, each family
 * shuffled by lib/dns), at most MXR_TARGETS_MAX.
 *
 * Nothing blocks: lookups run on the event loop given to mxr_init() via
 * lib/dns (which must be initialised first). The callback runs exactly
 * once, from the event loop (never inside mxr_resolve()), unless the
 * lookup is cancelled first.
 *
 * Memory: a struct mxr_result and everything in it belongs to whoever the
 * callback hands it to; free it with mxr_result_free(). The module owns
 * its list of own addresses and its pending lookups.
 *
 * Success convention: 0 ok, -1 error with err filled.
 */
#ifndef POSTERN_MX_RESOLVE_H
#define POSTERN_MX_RESOLVE_H

#include <stddef.h>

#include "dns.h"
#include "dsn.h"

struct event_base;

#define MXR_HOSTS_MAX 16        /* MX hosts considered */
#define MXR_TARGETS_MAX 32      /* addresses to try */
#define MXR_REASON_MAX 600
#define MXR_SELF_MAX 256        /* own addresses kept */

enum mxr_status {
    MXR_OK,                     /* targets[] has at least one address */
    MXR_DEFER,                  /* try later: dsn 4.x.x, reason */
    MXR_BOUNCE                  /* undeliverable: dsn 5.x.x, reason */
};

enum mxr_host_state {
    MXR_HOST_USED,              /* its addresses are among the targets */
    MXR_HOST_NOADDR,            /* address lookup failed or found nothing */
    MXR_HOST_SELF,              /* it is this host */
    MXR_HOST_CUT                /* preference not better than ours: dropped */
};

struct mxr_host {
    char *name;                 /* lower case, no trailing dot */
    unsigned pref;
    unsigned ttl;               /* MX record TTL; 0 for implicit or direct hosts */
    int implicit;               /* the domain itself (no MX records) */
    int self_name;              /* name equals myhostname */
    char self_addr[DNS_ADDR_TEXT_MAX];  /* the address of ours it has, or "" */
    struct dns_result *addr;    /* its address lookup (NULL: literal / not asked) */
    enum mxr_host_state state;
};

struct mxr_target {
    size_t host;                /* index into hosts[] */
    struct dns_addr addr;
};

struct mxr_result {
    char *host;                 /* the next-hop host, lower case */
    unsigned port;
    int mx;                     /* an MX lookup was asked for */
    int literal;                /* host is an address: nothing looked up */
    struct dns_result *mx_result;   /* the MX lookup, or NULL */
    struct mxr_host *hosts;
    size_t host_count;
    int loop;                   /* loop detection dropped hosts */
    unsigned loop_pref;         /* then: the best preference that is us */
    struct mxr_target *targets;
    size_t target_count;
    enum mxr_status status;
    char dsn[DSN_SIZE];         /* "2.0.0" when OK */
    char reason[MXR_REASON_MAX];
};

typedef void (*mxr_callback)(struct mxr_result *result, void *ctx);

struct mxr_lookup;

/*
 * Remember the event base, myhostname and our own addresses: those of
 * every interface (getifaddrs(), when use_interfaces) and the addresses
 * listed in proxy_interfaces (commas and/or spaces; "[v6]" allowed).
 * 0, or -1 with err (a proxy_interfaces entry that is not an address, or
 * getifaddrs() failing). May be called again (replaces everything).
 */
int mxr_init(struct event_base *base, const char *myhostname, const char *proxy_interfaces,
             int use_interfaces, char *err, size_t errlen);
/* Forget everything (pending lookups must have been cancelled or done). */
void mxr_end(void);

/* Our addresses, as text, comma separated (for the tracer). Static buffer. */
const char *mxr_self_text(void);
/* 1 when addr (a lib/dns address) is one of ours. */
int mxr_is_self(const struct dns_addr *addr);

/*
 * Resolve host (no brackets; port as given) with or without an MX lookup.
 * Never calls back from inside; returns the pending lookup.
 */
struct mxr_lookup *mxr_resolve(const char *host, unsigned port, int mx, mxr_callback cb,
                               void *ctx);
/* Cancel a lookup whose callback has not run: it never will. */
void mxr_cancel(struct mxr_lookup *lookup);

/*
 * The decision, once hosts[] and their address lookups are filled in:
 * sets each host's state, loop/loop_pref, targets, status, dsn, reason.
 * Exposed for unit tests; mxr_resolve() calls it.
 */
void mxr_plan(struct mxr_result *result);

/* Free a result; accepts NULL; returns NULL. */
struct mxr_result *mxr_result_free(struct mxr_result *result);

/* "used", "no address", "self", "cut". */
const char *mxr_host_state_name(enum mxr_host_state state);
/* "ok", "defer", "bounce". */
const char *mxr_status_name(enum mxr_status status);

#endif
