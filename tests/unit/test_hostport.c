/*
 * test_hostport.c - the one host/port grammar: every form, every flag,
 * hostile text.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "hostport.h"

enum { ALONE = HOSTPORT_PORT_ALONE, BARE6 = HOSTPORT_BARE_IPV6, ADDR = HOSTPORT_NEED_ADDRESS };

static const struct {
    const char *text;
    unsigned flags;
    int rc;
    const char *host;       /* want, or the error text when rc < 0 */
    int bracketed, family, has_port;
    unsigned port;
    const char *canonical;
} cases[] = {
    /* names and addresses */
    { "mx.example.com", 0, 0, "mx.example.com", 0, 0, 0, 0, "mx.example.com" },
    { "MX.Example.COM", 0, 0, "MX.Example.COM", 0, 0, 0, 0, "MX.Example.COM" },
    { "[mx.example.com]", 0, 0, "mx.example.com", 1, 0, 0, 0, "[mx.example.com]" },
    { "relay_1.example:587", 0, 0, "relay_1.example", 0, 0, 1, 587, "relay_1.example:587" },
    { "[relay.example]:submission", 0, 0, "relay.example", 1, 0, 1, 587, "[relay.example]:587" },
    { "127.0.0.1", 0, 0, "127.0.0.1", 0, AF_INET, 0, 0, "127.0.0.1" },
    { "127.0.0.1:2525", 0, 0, "127.0.0.1", 0, AF_INET, 1, 2525, "127.0.0.1:2525" },
    { "[127.0.0.1]:25", 0, 0, "127.0.0.1", 1, AF_INET, 1, 25, "[127.0.0.1]:25" },
    { "[::1]", 0, 0, "::1", 1, AF_INET6, 0, 0, "[::1]" },
    { "[::1]:2525", 0, 0, "::1", 1, AF_INET6, 1, 2525, "[::1]:2525" },
    { "[ipv6:2001:db8::1]:25", 0, 0, "2001:db8::1", 1, AF_INET6, 1, 25, "[2001:db8::1]:25" },
    { "[IPv6:::1]", 0, 0, "::1", 1, AF_INET6, 0, 0, "[::1]" },
    { "host:65535", 0, 0, "host", 0, 0, 1, 65535, "host:65535" },
    /* port alone (listeners) */
    { "25", ALONE, 0, "", 0, 0, 1, 25, "25" },
    { "smtp", ALONE, 0, "", 0, 0, 1, 25, "25" },
    { "127.0.0.1:25", ALONE, 0, "127.0.0.1", 0, AF_INET, 1, 25, "127.0.0.1:25" },
    { "[::1]:25", ALONE, 0, "::1", 1, AF_INET6, 1, 25, "[::1]:25" },
    { "25", 0, 0, "25", 0, 0, 0, 0, "25" },
    /* bare IPv6 (dns_servers) */
    { "::1", BARE6, 0, "::1", 0, AF_INET6, 0, 0, "[::1]" },
    { "::1", 0, -1, "an IPv6 address must be in brackets", 0, 0, 0, 0, NULL },
    { "2001:db8::1:53", 0, -1, "an IPv6 address must be in brackets", 0, 0, 0, 0, NULL },
    { "10.0.0.1:53", BARE6 | ADDR, 0, "10.0.0.1", 0, AF_INET, 1, 53, "10.0.0.1:53" },
    { "dns.example", ADDR, -1, "\"dns.example\" is not an IP address", 0, 0, 0, 0, NULL },
    { "[dns.example]:53", ADDR, -1, "\"dns.example\" is not an IP address", 0, 0, 0, 0, NULL },
    /* errors */
    { "", 0, -1, "empty host and port", 0, 0, 0, 0, NULL },
    { "[", 0, -1, "missing \"]\"", 0, 0, 0, 0, NULL },
    { "[]", 0, -1, "empty host", 0, 0, 0, 0, NULL },
    { "[]:25", 0, -1, "empty host", 0, 0, 0, 0, NULL },
    { ":25", 0, -1, "empty host", 0, 0, 0, 0, NULL },
    { "[::1]x", 0, -1, "unexpected text after \"]\"", 0, 0, 0, 0, NULL },
    { "[::1]:", 0, -1, "bad port \"\" (want 1-65535 or a service name)", 0, 0, 0, 0, NULL },
    { "host:", 0, -1, "bad port \"\" (want 1-65535 or a service name)", 0, 0, 0, 0, NULL },
    { "host:0", 0, -1, "bad port \"0\" (want 1-65535 or a service name)", 0, 0, 0, 0, NULL },
    { "host:65536", 0, -1, "bad port \"65536\" (want 1-65535 or a service name)", 0, 0, 0, 0, NULL },
    { "host:000025", 0, -1, "bad port \"000025\" (want 1-65535 or a service name)", 0, 0, 0, 0, NULL },
    { "host:-1", 0, -1, "bad port \"-1\" (want 1-65535 or a service name)", 0, 0, 0, 0, NULL },
    { "host:no-such-service", 0, -1, "bad port \"no-such-service\" (want 1-65535 or a service name)", 0, 0, 0, 0, NULL },
    { "ho st", 0, -1, "bad host name \"ho st\"", 0, 0, 0, 0, NULL },
    { "host/x:25", 0, -1, "bad host name \"host/x\"", 0, 0, 0, 0, NULL },
    { "h\xc3\xa9.example", 0, -1, "bad host name \"h\xc3\xa9.example\"", 0, 0, 0, 0, NULL },
    { "[ipv6:1.2.3.4]", 0, -1, "bad IPv6 address \"1.2.3.4\"", 0, 0, 0, 0, NULL },
    { "[ipv6:]", 0, -1, "bad host name \"ipv6:\"", 0, 0, 0, 0, NULL },
    { "localhost", ALONE, -1, "bad port \"localhost\" (want 1-65535 or a service name)", 0, 0, 0, 0, NULL },
};

static void test_cases(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hostport hp;
        char err[200] = "", text[HOSTPORT_TEXT_MAX];
        int rc = hostport_parse(cases[i].text, cases[i].flags, &hp, err, sizeof(err));

        CHECK_LONG(cases[i].text, rc, cases[i].rc);
        if (rc < 0) {
            CHECK_STR(cases[i].text, err, cases[i].host);
            continue;
        }
        CHECK_STR(cases[i].text, hp.host, cases[i].host);
        CHECK_LONG(cases[i].text, hp.bracketed, cases[i].bracketed);
        CHECK_LONG(cases[i].text, hp.family, cases[i].family);
        CHECK_LONG(cases[i].text, hp.has_port, cases[i].has_port);
        CHECK_LONG(cases[i].text, hp.port, cases[i].port);
        hostport_format(&hp, text, sizeof(text));
        CHECK_STR(cases[i].text, text, cases[i].canonical);
    }
}

static void test_hostile(void)
{
    char long_host[600], err[200];
    struct hostport hp;

    memset(long_host, 'a', 255);
    long_host[255] = '\0';
    CHECK_LONG("255-byte name", hostport_parse(long_host, 0, &hp, err, sizeof(err)), 0);
    long_host[255] = 'a';
    long_host[256] = '\0';
    CHECK_LONG("256-byte name", hostport_parse(long_host, 0, &hp, err, sizeof(err)), -1);
    CHECK_STR("256-byte name", err, "host name too long (more than 255 bytes)");
    snprintf(long_host, sizeof(long_host), "[%0300d]", 1);
    CHECK_LONG("300-byte bracket", hostport_parse(long_host, 0, &hp, err, sizeof(err)), -1);
    CHECK_LONG("NULL text", hostport_parse(NULL, 0, &hp, err, sizeof(err)), -1);
    CHECK_LONG("no err buffer", hostport_parse("[", 0, &hp, NULL, 0), -1);
    CHECK_TRUE("name valid", hostport_name_valid("a-b.c_d"));
    CHECK_TRUE("name empty", !hostport_name_valid(""));
    CHECK_TRUE("name with colon", !hostport_name_valid("a:b"));
}

int main(void)
{
    test_cases();
    test_hostile();
    return check_finish("test_hostport");
}
