/*
 * route.h - where a recipient's mail goes: transport and next hop.
 *
 * One function decides for qmgr (which delivers) and for the route tracer
 * (which explains), so both always agree. The decision, in order:
 *
 *  1. transport_maps, by recipient: the full address (user+ext@domain),
 *     the address without its extension (user@domain, when
 *     recipient_delimiter is set), then the domain with
 *     dict_lookup_domain() (a.example.com, then .example.com / .com, or
 *     example.com / com when parent_domain_matches_subdomains lists
 *     "transport_maps"), then the wildcard key "*". The value is
 *     "transport:nexthop":
 *        smtp:[host]:port   smtp to host, no MX lookup
 *        smtp:host:port     smtp to the MX hosts of host (port for each)
 *        smtp:host          the same, port 25
 *        smtp:  or  smtp    smtp, default next hop (steps 2-4)
 *        :[host]            default transport (smtp), this next hop
 *        :  or  ""          no change: defaults
 *        error:5.7.1 text   reject: dsn (default 5.0.0; 4.x.x means defer)
 *                           and text
 *        discard:[text]     drop the recipient as if delivered
 *        hold:[text]        put the message on hold
 *     Any other transport name is a configuration error (deferred 4.3.5).
 *  2. sender_dependent_relayhost_maps, by sender: user+ext@domain,
 *     user@domain, @domain (the null sender is looked up as "<>"), when
 *     step 1 gave no next hop. The value is a next hop as for relayhost;
 *     "DUNNO" means: no sender-dependent relay, go on with step 3.
 *  3. relayhost, when set.
 *  4. The recipient domain, with an MX lookup (an address literal
 *     "[192.0.2.1]" / "[IPv6:2001:db8::1]": that address, no MX).
 *
 * Next-hop syntax: "[host]" or "[host]:port" (no MX lookup; host may be an
 * IPv4 or IPv6 address or a name), "host" or "host:port" (MX lookup of
 * host). Port: 1-65535, default 25. Host names: letters, digits, '-', '.',
 * '_' (at most 255 bytes).
 *
 * Outcomes (struct route_result.status):
 *   ROUTE_OK        transport, nexthop and the parsed host/port/mx are set;
 *                   for ROUTE_TRANSPORT_ERROR also dsn and text.
 *   ROUTE_DEFER     no decision now: a table could not be read
 *                   (dsn 4.3.0) or an entry is unusable (dsn 4.3.5); text
 *                   says which; the caller defers the recipient.
 * A recipient without a domain and without any relay host gets
 * ROUTE_TRANSPORT_ERROR with 5.1.3.
 *
 * Trace: each step that was looked at is recorded (which parameter, where
 * it matched or "not found", the key and value), ending with the step that
 * decided, e.g.
 *   transport_maps    lmdb:/etc/postern/transport key=.example.com -> smtp:
 *   sender_dependent_relayhost_maps  (not found) key=<sender@x>
 *   relayhost         relayhost -> [relay.example]:587
 *   default           MX of the recipient domain -> example.com
 *
 * Tables are opened once by route_init() (from var_transport_maps,
 * var_sender_dependent_relayhost_maps, var_relayhost,
 * var_parent_domain_matches_subdomains, var_recipient_delimiter) or
 * route_init_settings(), and reused; lmdb tables follow rebuilds by
 * themselves. Not thread-safe.
 *
 * Memory: struct route_result is filled in place (fixed-size buffers, no
 * allocation to free). Strings passed in are only read during the call.
 */
#ifndef POSTERN_ROUTE_H
#define POSTERN_ROUTE_H

#include <stddef.h>

#include "dsn.h"

#define ROUTE_OK 0
#define ROUTE_DEFER (-1)

#define ROUTE_NEXTHOP_MAX 300   /* "[" + 255-byte host + "]:" + port */
#define ROUTE_HOST_MAX 256      /* host name or address, NUL included */
#define ROUTE_TEXT_MAX 512      /* error/discard/hold/defer text */
#define ROUTE_TRACE_MAX 8       /* steps recorded */
#define ROUTE_TRACE_TEXT_MAX 512
#define ROUTE_DEFAULT_PORT 25
#define ROUTE_ERR_MAX 512

enum route_transport {
    ROUTE_TRANSPORT_SMTP,
    ROUTE_TRANSPORT_ERROR,
    ROUTE_TRANSPORT_DISCARD,
    ROUTE_TRANSPORT_HOLD
};

struct route_step {
    const char *source;                 /* "transport_maps",
                                         * "sender_dependent_relayhost_maps",
                                         * "relayhost", "default" (static) */
    int found;                          /* 1: decided / matched; 0: looked, no match */
    char where[ROUTE_TRACE_TEXT_MAX];   /* dict's where, or a description */
    char key[ROUTE_TRACE_TEXT_MAX];     /* the key form that matched / was tried */
    char value[ROUTE_TRACE_TEXT_MAX];   /* the value (found) */
};

struct route_result {
    int status;                         /* ROUTE_OK or ROUTE_DEFER */
    enum route_transport transport;
    const char *transport_name;         /* "smtp", "error", "discard", "hold" */
    char nexthop[ROUTE_NEXTHOP_MAX];    /* SMTP: as decided, e.g. "[10.0.0.1]:2525",
                                         * "example.com"; "" otherwise */
    char host[ROUTE_HOST_MAX];          /* SMTP: without brackets and port */
    unsigned port;                      /* SMTP: default 25 */
    int mx;                             /* SMTP: 1 look up MX of host, 0 A/AAAA only */
    int host_is_addr;                   /* SMTP: host is an IP address literal */
    char dsn[DSN_SIZE];                 /* ERROR / DEFER: "5.7.1", "4.3.0" */
    char text[ROUTE_TEXT_MAX];          /* ERROR / DISCARD / HOLD / DEFER text */
    struct route_step trace[ROUTE_TRACE_MAX];
    size_t trace_count;
};

struct route_settings {
    const char *transport_maps;                     /* table list; "" or NULL: none */
    const char *sender_dependent_relayhost_maps;    /* table list; "" or NULL: none */
    const char *relayhost;                          /* next hop; "" or NULL: none */
    const char *parent_domain_matches_subdomains;   /* parameter names */
    const char *recipient_delimiter;                /* "" or NULL: none */
};

/*
 * Open the tables and check relayhost's syntax, from the var_* parameters.
 * Replaces what was opened before. 0, or -1 with err
 * ("transport_maps: FILE:LINE: message", "relayhost: ...").
 */
int route_init(char *err, size_t errlen);
/* The same with explicit settings (tests, tools). */
int route_init_settings(const struct route_settings *settings, char *err, size_t errlen);
/* Close the tables. */
void route_end(void);

/*
 * Decide the route of `rcpt` (as in the queue file) for a message from
 * `sender` ("" for the null sender). Fills *res; returns res->status
 * (ROUTE_OK or ROUTE_DEFER). route_init*() must have succeeded.
 */
int route_resolve(const char *rcpt, const char *sender, struct route_result *res);

/*
 * Parse a next hop ("[host]:port", "host:port", "host") into host, port,
 * mx and host_is_addr (the other fields of res are not touched). 0, or -1
 * with err saying what is wrong.
 */
int route_parse_nexthop(const char *nexthop, struct route_result *res, char *err,
                        size_t errlen);

/* "smtp", "error", "discard", "hold". */
const char *route_transport_name(enum route_transport transport);

/* One line per trace step into buf ("source: where key=... -> value\n"). */
void route_trace_format(const struct route_result *res, char *buf, size_t len);

#endif
