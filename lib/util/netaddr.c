/*
 * netaddr.c - parse and match IP networks (see netaddr.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "alloc.h"
#include "errtext.h"
#include "netaddr.h"
#include "strlist.h"

int netaddr_parse_addr(const char *text, int *family, unsigned char addr[16])
{
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    memset(addr, 0, 16);
    if (inet_pton(AF_INET, text, addr) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, addr) != 1)
        return -1;
    *family = AF_INET6;
    if (memcmp(addr, mapped, 12) == 0) {
        memmove(addr, addr + 12, 4);
        memset(addr + 4, 0, 12);
        *family = AF_INET;
    }
    return 0;
}

/* The prefix length after '/': 0..bits in decimal, no sign. */
static int parse_prefix(const char *text, int bits, int *prefix)
{
    long p = 0;

    if (*text == '\0' || strlen(text) > 3)
        return -1;
    for (const char *c = text; *c; c++) {
        if (*c < '0' || *c > '9')
            return -1;
        p = p * 10 + (*c - '0');
    }
    if (p > bits)
        return -1;
    *prefix = (int)p;
    return 0;
}

/* Are the address bits beyond the prefix all zero? */
static int host_bits_clear(const struct netaddr_net *net, unsigned char *masked)
{
    memset(masked, 0, 16);
    memcpy(masked, net->addr, (size_t)(net->prefix / 8));
    if (net->prefix % 8)
        masked[net->prefix / 8] = (unsigned char)(net->addr[net->prefix / 8]
                                                  & (0xff << (8 - net->prefix % 8)));
    return memcmp(masked, net->addr, 16) == 0;
}

int netaddr_parse_net(const char *text, struct netaddr_net *net, char *err, size_t errlen)
{
    char buf[NETADDR_TEXT_MAX], shown[INET6_ADDRSTRLEN];
    unsigned char masked[16];
    char *host = buf, *slash;

    if (strlen(text) >= sizeof(buf)) {
        errtext_set(err, errlen, "bad network address \"%.40s...\": too long", text);
        return -1;
    }
    strcpy(buf, text);
    if ((slash = strchr(host, '/')) != NULL)
        *slash = '\0';
    if (*host == '[') {
        size_t n = strlen(host);
        if (n < 2 || host[n - 1] != ']') {
            errtext_set(err, errlen, "bad network address \"%s\"", host);
            return -1;
        }
        host[n - 1] = '\0';
        host++;
        if (strchr(host, ':') == NULL) {
            errtext_set(err, errlen, "brackets are for IPv6 addresses: \"[%s]\"", host);
            return -1;
        }
    }
    memset(net, 0, sizeof(*net));
    if (netaddr_parse_addr(host, &net->family, net->addr) < 0) {
        errtext_set(err, errlen, "bad network address \"%s\"", host);
        return -1;
    }
    net->prefix = net->family == AF_INET ? 32 : 128;
    if (slash != NULL && parse_prefix(slash + 1, net->prefix, &net->prefix) < 0) {
        errtext_set(err, errlen, "bad prefix length \"/%s\" (0..%d)", slash + 1,
                    net->family == AF_INET ? 32 : 128);
        return -1;
    }
    if (!host_bits_clear(net, masked)) {
        inet_ntop(net->family, masked, shown, sizeof(shown));
        errtext_set(err, errlen, "non-null host address bits in \"%s/%d\": perhaps you mean "
                    "\"%s/%d\"", host, net->prefix, shown, net->prefix);
        return -1;
    }
    return 0;
}

int netaddr_in_net(const struct netaddr_net *net, int family, const unsigned char *addr)
{
    int bytes = net->prefix / 8, rest = net->prefix % 8;

    if (net->family != family || memcmp(addr, net->addr, (size_t)bytes) != 0)
        return 0;
    if (rest == 0)
        return 1;
    return ((addr[bytes] ^ net->addr[bytes]) & (0xff << (8 - rest)) & 0xff) == 0;
}

int netlist_parse(const char *text, struct netlist *list, char *err, size_t errlen)
{
    size_t n;
    char **items = strlist_split(text, &n);

    if (items == NULL) {
        errtext_set(err, errlen, "unbalanced braces in \"%.200s\"", text);
        list->nets = NULL;
        list->count = 0;
        return -1;
    }
    list->nets = xcalloc(n ? n : 1, sizeof(*list->nets));
    list->count = 0;
    for (size_t i = 0; i < n; i++) {
        if (netaddr_parse_net(items[i], &list->nets[list->count], err, errlen) < 0) {
            strlist_free(items);
            netlist_free(list);
            return -1;
        }
        list->count++;
    }
    strlist_free(items);
    return 0;
}

int netlist_match(const struct netlist *list, const char *addr)
{
    unsigned char bin[16];
    int family;

    if (netaddr_parse_addr(addr, &family, bin) < 0)
        return 0;
    for (size_t i = 0; i < list->count; i++) {
        if (netaddr_in_net(&list->nets[i], family, bin))
            return 1;
    }
    return 0;
}

void netlist_free(struct netlist *list)
{
    list->nets = xfree(list->nets);
    list->count = 0;
}
