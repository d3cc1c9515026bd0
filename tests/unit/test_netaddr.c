/*
 * test_netaddr.c - mynetworks parsing and matching.
 */
#include <string.h>

#include "check.h"
#include "netaddr.h"

struct match_case {
    const char *networks;
    const char *addr;
    int want;
};

static const struct match_case cases[] = {
    {"127.0.0.0/8", "127.0.0.1", 1},
    {"127.0.0.0/8", "127.255.255.254", 1},
    {"127.0.0.0/8", "128.0.0.1", 0},
    {"10.1.2.3", "10.1.2.3", 1},
    {"10.1.2.3", "10.1.2.4", 0},
    {"192.168.0.0/23", "192.168.1.200", 1},
    {"192.168.0.0/23", "192.168.2.1", 0},
    {"0.0.0.0/0", "8.8.8.8", 1},
    {"[::1]/128", "::1", 1},
    {"[::1]/128", "::2", 0},
    {"2001:db8::/32", "2001:db8:ffff::1", 1},
    {"2001:db8::/32", "2001:db9::1", 0},
    {"127.0.0.0/8", "::ffff:127.0.0.1", 1},
    {"127.0.0.0/8, [::1]/128", "::1", 1},
    {"127.0.0.0/8", "not-an-address", 0},
    {"", "127.0.0.1", 0},
};

static const char *const bad_lists[] = {
    "127.0.0.0/33", "[::1/128", "hostname", "10.0.0.0/x", "::1/129", "1.2.3.4/-1",
    "1.2.3.4/+8", "1.2.3.4/", "10.1.2.3/24", "[10.1.2.3]", "1.2.3.4/0008", "a{b",
};

int main(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct netlist list;
        char err[128];
        char what[160];

        snprintf(what, sizeof(what), "%s ~ %s", cases[i].networks, cases[i].addr);
        CHECK_LONG(what, netlist_parse(cases[i].networks, &list, err, sizeof(err)), 0);
        CHECK_LONG(what, netlist_match(&list, cases[i].addr), cases[i].want);
        netlist_free(&list);
    }
    for (size_t i = 0; i < sizeof(bad_lists) / sizeof(bad_lists[0]); i++) {
        struct netlist list;
        char err[128] = "";
        CHECK_LONG(bad_lists[i], netlist_parse(bad_lists[i], &list, err, sizeof(err)), -1);
        CHECK_TRUE(err, strstr(err, "bad") != NULL || strstr(err, "brackets") != NULL
                        || strstr(err, "host address bits") != NULL
                        || strstr(err, "unbalanced") != NULL);
    }
    return check_finish("test_netaddr");
}
