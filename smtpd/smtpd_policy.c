/*
 * smtpd_policy.c - what smtpd accepts: relaying, message size, recipients.
 *
 * Relaying: a client whose address matches mynetworks may send to any
 * recipient; any other client only to recipients whose domain matches
 * relay_domains (an address without a domain never does).
 *
 * mynetworks items (commas and/or white space; braces group):
 *   192.0.2.0/24, 10.1.2.3, [2001:db8::]/32   networks (netaddr.h)
 *   cidr:/etc/postern/mynetworks.cidr          a table: the client address
 *                                              matches when it is found
 *                                              (any value)
 * relay_domains items:
 *   example.com     that domain; also its subdomains when
 *                   parent_domain_matches_subdomains lists relay_domains
 *                   (the default, as in Postfix)
 *   .example.com    every subdomain of example.com
 *   lmdb:/etc/postern/relay_domains, inline:{ a.example=OK }
 *                   tables looked up with dict_lookup_domain() (the same
 *                   subdomain rule; any value means "relay")
 * A match anywhere in a list wins. When nothing matched but a table could
 * not be read, the answer is "try again later" (451 4.3.0), never a
 * guess either way.
 *
 * Size: a SIZE= declared in MAIL must not exceed message_size_limit.
 * Recipients: at most smtpd_recipient_limit per transaction.
 *
 * Both lists are parsed and their tables opened once at start-up; a bad
 * item is fatal (better than silently relaying for nobody or everybody).
 * Memory: this module owns the parsed lists and tables for the life of the
 * process.
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "config.h"
#include "dict.h"
#include "msg.h"
#include "netaddr.h"
#include "params.h"
#include "smtpd.h"
#include "strlist.h"

struct table_list {
    struct dict **dicts;
    size_t count, cap;
};

static struct netlist mynetworks;
static struct table_list mynetworks_tables;
static char **relay_domains;
static size_t relay_domain_count, relay_domain_cap;
static struct table_list relay_domain_tables;
static int relay_parent_matches;

/* --- parsing the lists --- */


/* "type:..." with a type made of letters: a table. */
static int looks_like_table(const char *item)
{
    size_t n = 0;

    while (isalpha((unsigned char)item[n]))
        n++;
    return n > 0 && item[n] == ':';
}

static void table_add(struct table_list *tl, const char *param, const char *spec)
{
    char err[DICT_ERR_MAX];
    struct dict *dict;

    if (dict_open(spec, DICT_FLAG_NONE, &dict, err, sizeof(err)) < 0)
        msg_fatal("%s: %s", param, err);
    tl->dicts = xgrow(tl->dicts, &tl->cap, tl->count + 1, sizeof(*tl->dicts));
    tl->dicts[tl->count++] = dict;
}

static void mynetworks_init(void)
{
    const char *pos = var_mynetworks, *start;
    char *nets = xstrdup(""), err[256];
    long n;

    while ((n = strlist_next(&pos, &start)) > 0) {
        char *item = xstrndup(start, (size_t)n);
        struct netlist one;

        if (netlist_parse(item, &one, err, sizeof(err)) == 0) {
            char *joined = xasprintf("%s %s", nets, item);
            netlist_free(&one);
            xfree(nets);
            nets = joined;
        } else if (looks_like_table(item)) {
            table_add(&mynetworks_tables, "mynetworks", item);
        } else {
            msg_fatal("mynetworks: %s", err);
        }
        xfree(item);
    }
    if (n < 0)
        msg_fatal("mynetworks: unbalanced braces in \"%.200s\"", var_mynetworks);
    if (netlist_parse(nets, &mynetworks, err, sizeof(err)) < 0)
        msg_fatal("mynetworks: %s", err);
    xfree(nets);
}

static void relay_domains_init(void)
{
    const char *pos = var_relay_domains, *start;
    long n;

    while ((n = strlist_next(&pos, &start)) > 0) {
        char *item = xstrndup(start, (size_t)n);

        if (strchr(item, ':') != NULL) {
            table_add(&relay_domain_tables, "relay_domains", item);
            xfree(item);
            continue;
        }
        relay_domains = xgrow(relay_domains, &relay_domain_cap, relay_domain_count + 1,
                              sizeof(*relay_domains));
        relay_domains[relay_domain_count++] = item;
    }
    if (n < 0)
        msg_fatal("relay_domains: unbalanced braces in \"%.200s\"", var_relay_domains);
}

void smtpd_policy_init(void)
{
    char **names;
    size_t count;

    mynetworks_init();
    relay_domains_init();
    names = strlist_split(var_parent_domain_matches_subdomains, &count);
    for (size_t i = 0; names != NULL && i < count; i++)
        if (strcmp(names[i], "relay_domains") == 0)
            relay_parent_matches = 1;
    strlist_free(names);
}

/* --- matching --- */

/*
 * Does `domain` (no trailing dot) match the list item `item`? Exact, a
 * ".parent" item for any subdomain, a plain item for subdomains when
 * relay_parent_matches.
 */
static int domain_item_match(const char *domain, const char *item)
{
    size_t dlen = strlen(domain), ilen = strlen(item);

    if (strcasecmp(domain, item) == 0)
        return 1;
    if (item[0] == '.')
        return dlen > ilen && strcasecmp(domain + dlen - ilen, item) == 0;
    if (!relay_parent_matches)
        return 0;
    return dlen > ilen + 1 && domain[dlen - ilen - 1] == '.'
           && strcasecmp(domain + dlen - ilen, item) == 0;
}

/* 1 match, 0 no match, -1 a table could not be read (logged by dict). */
static int tables_match(const struct table_list *tl, const char *key, int domain)
{
    int tempfail = 0;

    for (size_t i = 0; i < tl->count; i++) {
        struct dict_result res;
        int rc = domain ? dict_lookup_domain(tl->dicts[i], key, relay_parent_matches, &res)
                        : dict_lookup(tl->dicts[i], key, &res);
        if (rc == DICT_FOUND)
            return 1;
        if (rc == DICT_TEMPFAIL)
            tempfail = 1;
    }
    return tempfail ? -1 : 0;
}

static int mynetworks_match(const char *addr)
{
    if (netlist_match(&mynetworks, addr))
        return 1;
    return tables_match(&mynetworks_tables, addr, 0);
}

static int relay_domain_match(const char *domain)
{
    size_t len = strlen(domain);
    char *name;
    int rc = 0;

    if (len > 0 && domain[len - 1] == '.')
        len--;
    if (len == 0)
        return 0;
    name = xstrndup(domain, len);
    for (size_t i = 0; i < relay_domain_count && rc == 0; i++)
        rc = domain_item_match(name, relay_domains[i]);
    if (rc == 0)
        rc = tables_match(&relay_domain_tables, name, 1);
    xfree(name);
    return rc;
}

int smtpd_policy_relay_ok(const struct smtpd_session *s, const char *rcpt)
{
    const char *domain;
    int net, dom;

    net = mynetworks_match(s->addr);
    if (net == 1)
        return 1;
    if (smtp_addr_domain(rcpt, &domain) < 0 || *domain == '\0')
        return net < 0 ? -1 : 0;
    dom = relay_domain_match(domain);
    if (dom == 1)
        return 1;
    return net < 0 || dom < 0 ? -1 : 0;
}

int smtpd_policy_size_ok(uint64_t size)
{
    return size <= (uint64_t)var_message_size_limit;
}

int smtpd_policy_rcpt_room(const struct smtpd_session *s)
{
    return s->n_rcpts < (size_t)var_smtpd_recipient_limit;
}
