/*
 * hostport.h - the one host/port grammar of Postern.
 *
 * Every place that takes a host, an address and/or a port in one piece of
 * text parses it here: master.cf inet services and listeners, next hops
 * (relayhost, transport_maps, sender_dependent_relayhost_maps), the smtp
 * client, dns_servers.
 *
 *   host              a name or an IPv4 address          ("mx.example.com")
 *   [host]            the same, bracketed: for mail, "no MX lookup"
 *   [v6] [ipv6:v6]    an IPv6 address; only in brackets ("[::1]")
 *   host:port         ("relay.example.com:587", "127.0.0.1:25")
 *   [host]:port       ("[mail.example.com]:submission", "[::1]:2525")
 *   port              alone, with HOSTPORT_PORT_ALONE ("25", "smtp")
 *   v6                alone, with HOSTPORT_BARE_IPV6 ("::1")
 *
 * A name is 1..HOSTPORT_HOST_MAX letters, digits, '-', '.' and '_'. A port
 * is 1..65535 in decimal, or a service name from /etc/services
 * (getservbyname, tcp). Case is kept as written. Nothing is resolved in
 * DNS here.
 *
 * Memory: none is owned; struct hostport holds copies.
 * Success convention: 0 ok, -1 with err filled ("missing \"]\"", "bad port
 * \"x\"", ...: the caller says what the text was for).
 */
#ifndef POSTERN_HOSTPORT_H
#define POSTERN_HOSTPORT_H

#include <stddef.h>

#define HOSTPORT_HOST_MAX 255
#define HOSTPORT_TEXT_MAX (HOSTPORT_HOST_MAX + 64)   /* formatted */

enum hostport_flag {
    /* Text without ':' or brackets is a port (listeners: "25", "smtp"). */
    HOSTPORT_PORT_ALONE = 1 << 0,
    /* An IPv6 address may stand alone, without brackets or port. */
    HOSTPORT_BARE_IPV6 = 1 << 1,
    /* The host must be an IPv4 or IPv6 address, not a name. */
    HOSTPORT_NEED_ADDRESS = 1 << 2,
};

struct hostport {
    char host[HOSTPORT_HOST_MAX + 1];  /* no brackets, no "ipv6:"; "" for a port alone */
    int bracketed;                     /* written as [host] */
    int family;                        /* AF_INET, AF_INET6, or 0 for a name */
    int has_port;
    unsigned port;                     /* 1..65535 when has_port, else 0 */
};

int hostport_parse(const char *text, unsigned flags, struct hostport *hp,
                   char *err, size_t errlen);

/* A port number or service name; 0 ok, -1 when it is neither. */
int hostport_parse_port(const char *text, unsigned *port);

/* 1 when host is a valid name by the rule above, else 0. */
int hostport_name_valid(const char *host);

/*
 * The canonical text: "host", "[host]", "host:port", "[host]:port"; an
 * IPv6 address always in brackets, a bracketed host kept bracketed.
 * Truncated to len - 1 bytes at most (HOSTPORT_TEXT_MAX is always enough).
 */
void hostport_format(const struct hostport *hp, char *buf, size_t len);

#endif
