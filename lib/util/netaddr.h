/*
 * netaddr.h - IP networks for mynetworks-style lists.
 *
 * A netlist holds networks parsed from a list such as
 * "127.0.0.0/8 [::1]/128 10.1.2.3": IPv4 or IPv6 (optionally bracketed)
 * addresses with an optional /prefix. An IPv4-mapped IPv6 client address
 * (::ffff:1.2.3.4) matches IPv4 networks.
 * Memory: a netlist owns its array; free with netlist_free().
 * Success convention: 0 ok, -1 error with err filled.
 */
#ifndef POSTERN_NETADDR_H
#define POSTERN_NETADDR_H

#include <stddef.h>

struct netaddr_net {
    int family;                 /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix;
};

struct netlist {
    struct netaddr_net *nets;
    size_t count;
};

int netlist_parse(const char *text, struct netlist *list, char *err, size_t errlen);
/* 1 when the textual address `addr` lies in one of the networks, else 0. */
int netlist_match(const struct netlist *list, const char *addr);
void netlist_free(struct netlist *list);

#endif
