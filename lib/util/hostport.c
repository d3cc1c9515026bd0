/*
 * hostport.c - parse and format host, [host], host:port, [v6]:port, port
 * (see hostport.h).
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "errtext.h"
#include "hostport.h"

#define SERVICE_NAME_MAX 32

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)
           || c == '-' || c == '.' || c == '_';
}

int hostport_name_valid(const char *host)
{
    size_t len = strlen(host);

    if (len == 0 || len > HOSTPORT_HOST_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_name_char(host[i]))
            return 0;
    }
    return 1;
}

static int port_number(const char *text, unsigned *port)
{
    unsigned long n = 0;
    size_t len = strlen(text);

    if (len == 0 || len > 5)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(text[i]))
            return -1;
        n = n * 10 + (unsigned long)(text[i] - '0');
    }
    if (n < 1 || n > 65535)
        return -1;
    *port = (unsigned)n;
    return 0;
}

static int port_service(const char *text, unsigned *port)
{
    size_t len = strlen(text);
    struct servent *se;

    if (len == 0 || len > SERVICE_NAME_MAX)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!is_name_char(text[i]) || text[i] == '.')
            return -1;
    }
    se = getservbyname(text, "tcp");
    if (se == NULL)
        return -1;
    *port = ntohs((unsigned short)se->s_port);
    return *port == 0 ? -1 : 0;
}

int hostport_parse_port(const char *text, unsigned *port)
{
    if (is_digit(text[0]))
        return port_number(text, port);
    return port_service(text, port);
}

/* The family of an address literal, or 0 when text is not one. */
static int address_family(const char *text)
{
    unsigned char bin[16];

    if (inet_pton(AF_INET, text, bin) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, text, bin) == 1)
        return AF_INET6;
    return 0;
}

static int copy_host(struct hostport *hp, const char *start, size_t len, char *err, size_t errlen)
{
    if (len == 0) {
        errtext_set(err, errlen, "empty host");
        return -1;
    }
    if (len > HOSTPORT_HOST_MAX) {
        errtext_set(err, errlen, "host name too long (more than %d bytes)", HOSTPORT_HOST_MAX);
        return -1;
    }
    memcpy(hp->host, start, len);
    hp->host[len] = '\0';
    return 0;
}

/* Check hp->host for what it claims to be; fills hp->family. */
static int check_host(struct hostport *hp, int ipv6_prefix, unsigned flags, char *err, size_t errlen)
{
    hp->family = address_family(hp->host);
    if (ipv6_prefix && hp->family != AF_INET6) {
        errtext_set(err, errlen, "bad IPv6 address \"%.100s\"", hp->host);
        return -1;
    }
    if (hp->family == AF_INET6 && !hp->bracketed && !(flags & HOSTPORT_BARE_IPV6)) {
        errtext_set(err, errlen, "an IPv6 address must be in brackets");
        return -1;
    }
    if (hp->family != 0)
        return 0;
    if (flags & HOSTPORT_NEED_ADDRESS) {
        errtext_set(err, errlen, "\"%.100s\" is not an IP address", hp->host);
        return -1;
    }
    if (!hostport_name_valid(hp->host)) {
        errtext_set(err, errlen, "bad host name \"%.100s\"", hp->host);
        return -1;
    }
    return 0;
}

static int take_port(struct hostport *hp, const char *text, char *err, size_t errlen)
{
    if (hostport_parse_port(text, &hp->port) < 0) {
        errtext_set(err, errlen, "bad port \"%.40s\" (want 1-65535 or a service name)", text);
        return -1;
    }
    hp->has_port = 1;
    return 0;
}

/* "[inner]" or "[inner]:port". */
static int parse_bracketed(const char *text, unsigned flags, struct hostport *hp,
                           char *err, size_t errlen)
{
    const char *inner = text + 1, *close = strchr(inner, ']');
    int ipv6_prefix = 0;

    if (close == NULL) {
        errtext_set(err, errlen, "missing \"]\"");
        return -1;
    }
    if (strncasecmp(inner, "ipv6:", 5) == 0 && close - inner > 5) {
        inner += 5;
        ipv6_prefix = 1;
    }
    hp->bracketed = 1;
    if (copy_host(hp, inner, (size_t)(close - inner), err, errlen) < 0
        || check_host(hp, ipv6_prefix, flags, err, errlen) < 0)
        return -1;
    if (close[1] == '\0')
        return 0;
    if (close[1] != ':') {
        errtext_set(err, errlen, "unexpected text after \"]\"");
        return -1;
    }
    return take_port(hp, close + 2, err, errlen);
}

static int parse_plain(const char *text, unsigned flags, struct hostport *hp,
                       char *err, size_t errlen)
{
    const char *colon = strchr(text, ':');

    if (colon == NULL && (flags & HOSTPORT_PORT_ALONE))
        return take_port(hp, text, err, errlen);
    if (colon != NULL && strchr(colon + 1, ':') != NULL) {
        if ((flags & HOSTPORT_BARE_IPV6) && address_family(text) == AF_INET6)
            return copy_host(hp, text, strlen(text), err, errlen) < 0
                   ? -1 : check_host(hp, 0, flags, err, errlen);
        errtext_set(err, errlen, "an IPv6 address must be in brackets");
        return -1;
    }
    if (copy_host(hp, text, colon ? (size_t)(colon - text) : strlen(text), err, errlen) < 0
        || check_host(hp, 0, flags, err, errlen) < 0)
        return -1;
    return colon ? take_port(hp, colon + 1, err, errlen) : 0;
}

int hostport_parse(const char *text, unsigned flags, struct hostport *hp,
                   char *err, size_t errlen)
{
    memset(hp, 0, sizeof(*hp));
    if (text == NULL || text[0] == '\0') {
        errtext_set(err, errlen, "empty host and port");
        return -1;
    }
    if (text[0] == '[')
        return parse_bracketed(text, flags, hp, err, errlen);
    return parse_plain(text, flags, hp, err, errlen);
}

void hostport_format(const struct hostport *hp, char *buf, size_t len)
{
    int brackets = hp->bracketed || hp->family == AF_INET6;

    if (len == 0)
        return;
    if (hp->host[0] == '\0')
        snprintf(buf, len, "%u", hp->port);
    else if (hp->has_port)
        snprintf(buf, len, brackets ? "[%s]:%u" : "%s:%u", hp->host, hp->port);
    else
        snprintf(buf, len, brackets ? "[%s]" : "%s", hp->host);
}
