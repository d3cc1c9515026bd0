/*
 * netaddr.h - IP addresses and networks: parsing and matching, for
 * mynetworks-style lists and cidr: tables.
 *
 * A network is "addr", "addr/len", "[v6]" or "[v6]/len": an IPv4 or IPv6
 * address (brackets only around IPv6), a prefix length of 0..32 or 0..128
 * in decimal, and no address bits set beyond the prefix ("10.1.2.0/24", not
 * "10.1.2.3/24", as Postfix insists). An IPv4-mapped IPv6 address
 * (::ffff:1.2.3.4) is taken as the IPv4 address, so it matches IPv4
 * networks. A netlist holds the networks of a list such as
 * "127.0.0.0/8 [::1]/128 10.1.2.3" (strlist.h).
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

#define NETADDR_TEXT_MAX 128    /* longest network text accepted */

/* Text address -> family and 16 bytes (IPv4 in the first 4). */
int netaddr_parse_addr(const char *text, int *family, unsigned char addr[16]);
int netaddr_parse_net(const char *text, struct netaddr_net *net, char *err, size_t errlen);
/* 1 when the address (family, 16 bytes) lies in net, else 0. */
int netaddr_in_net(const struct netaddr_net *net, int family, const unsigned char *addr);

struct netlist {
    struct netaddr_net *nets;
    size_t count;
};

int netlist_parse(const char *text, struct netlist *list, char *err, size_t errlen);
/* 1 when the textual address `addr` lies in one of the networks, else 0. */
int netlist_match(const struct netlist *list, const char *addr);
void netlist_free(struct netlist *list);

#endif
