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

static int parse_addr(const char *text, int *family, unsigned char *addr)
{
    if (inet_pton(AF_INET, text, addr) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, addr) == 1) {
        static const unsigned char mapped[12] = {0,0,0,0,0,0,0,0,0,0,0xff,0xff};
        if (memcmp(addr, mapped, 12) == 0) {
            memmove(addr, addr + 12, 4);
            *family = AF_INET;
        } else {
            *family = AF_INET6;
        }
        return 0;
    }
    return -1;
}

static int parse_net(const char *item, struct netaddr_net *net, char *err, size_t errlen)
{
    char buf[128];
    char *slash, *host = buf;
    int bits;

    if (strlen(item) >= sizeof(buf)) {
        snprintf(err, errlen, "network too long: \"%.40s...\"", item);
        return -1;
    }
    strcpy(buf, item);
    slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
    if (host[0] == '[') {
        size_t n = strlen(host);
        if (n < 2 || host[n - 1] != ']') {
            snprintf(err, errlen, "bad network \"%s\"", item);
            return -1;
        }
        host[n - 1] = '\0';
        host++;
    }
    memset(net, 0, sizeof(*net));
    if (parse_addr(host, &net->family, net->addr) < 0) {
        snprintf(err, errlen, "bad network address \"%s\"", item);
        return -1;
    }
    bits = net->family == AF_INET ? 32 : 128;
    net->prefix = bits;
    if (slash) {
        char *end;
        long p = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || p < 0 || p > bits) {
            snprintf(err, errlen, "bad prefix length in \"%s\"", item);
            return -1;
        }
        net->prefix = (int)p;
    }
    return 0;
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
        if (parse_net(items[i], &list->nets[list->count], err, errlen) < 0) {
            strlist_free(items);
            netlist_free(list);
            return -1;
        }
        list->count++;
    }
    strlist_free(items);
    return 0;
}

static int prefix_equal(const unsigned char *a, const unsigned char *b, int bits)
{
    int bytes = bits / 8, rest = bits % 8;

    if (memcmp(a, b, (size_t)bytes) != 0)
        return 0;
    if (rest == 0)
        return 1;
    return ((a[bytes] ^ b[bytes]) & (0xff << (8 - rest))) == 0;
}

int netlist_match(const struct netlist *list, const char *addr)
{
    unsigned char bin[16];
    int family;

    if (parse_addr(addr, &family, bin) < 0)
        return 0;
    for (size_t i = 0; i < list->count; i++) {
        const struct netaddr_net *net = &list->nets[i];
        if (net->family == family && prefix_equal(bin, net->addr, net->prefix))
            return 1;
    }
    return 0;
}

void netlist_free(struct netlist *list)
{
    list->nets = xfree(list->nets);
    list->count = 0;
}
