/*
 * dict_cidr.c - cidr: tables (Postfix cidr_table(5) syntax).
 *
 *   network/prefix   result      e.g. 192.0.2.0/24 OK, 2001:db8::/32 REJECT
 *   address          result      one host (a /32 or /128)
 *   !network/prefix  result      matches addresses outside the network
 *   if network/prefix            the rules up to the matching endif apply
 *   if !network/prefix           only to addresses inside (outside) it
 *   endif
 *
 * IPv6 networks may be written in brackets ("[2001:db8::]/32"). Rules are
 * tried in file order and the first match wins. The lookup key is an IPv4
 * or IPv6 address as text; an IPv4-mapped IPv6 address (::ffff:192.0.2.1)
 * is matched as IPv4; a key that is not an address is simply not found. A
 * rule (or if) for one address family never matches an address of the
 * other, even when negated.
 *
 * The whole file is checked when opened; the first problem fails the open
 * with "FILE:LINE: message": a bad address or prefix length, a network with
 * host bits set beyond its prefix (Postfix only warns and skips the rule;
 * Postern refuses the table so the mistake is seen), a rule without result,
 * unbalanced if/endif.
 *
 * The rule list and its if/endif structure are dict_rules.h's; this file
 * parses and matches networks (netaddr.h).
 *
 * Memory: priv owns the rule list (dict_rules.h) and one struct netaddr_net
 * per rule (its pattern); results point into the list.
 */
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "dict.h"
#include "dict_backend.h"
#include "dict_rules.h"
#include "dict_text.h"
#include "errtext.h"
#include "line_reader.h"
#include "netaddr.h"

struct cidr_priv {
    struct dict_rules rules;
};

/* The network "[!]addr[/prefix]" (one word) as a new pattern; NULL on error. */
static struct netaddr_net *parse_network(struct dict_parse *ps, const char *word, int *negate)
{
    struct netaddr_net *net = xmalloc(sizeof(*net));
    char why[256];

    *negate = *word == '!';
    if (netaddr_parse_net(word + *negate, net, why, sizeof(why)) < 0) {
        dict_parse_fail(ps, "%s", why);
        return xfree(net);
    }
    return net;
}

/* Split off the first word of *p (NUL-terminating it); *p moves past it. */
static char *first_word(char **p)
{
    char *w = *p, *e = w;

    while (*e && !line_reader_is_blank(*e))
        e++;
    if (*e)
        *e++ = '\0';
    while (line_reader_is_blank(*e))
        e++;
    *p = e;
    return w;
}

static int parse_if(struct cidr_priv *cp, struct dict_parse *ps, char *rest)
{
    struct netaddr_net *net;
    char *word;
    int negate;

    if (*rest == '\0')
        return dict_parse_fail(ps, "if without a network");
    word = first_word(&rest);
    if (*rest)
        return dict_parse_fail(ps, "text after if network: \"%.40s\"", rest);
    if ((net = parse_network(ps, word, &negate)) == NULL)
        return -1;
    dict_rules_add_if(&cp->rules, ps->lineno, net, negate);
    return 0;
}

static int parse_line(void *ctx, struct dict_parse *ps, char *line)
{
    struct cidr_priv *cp = ctx;
    char *rest = line;
    char *word = first_word(&rest);
    struct netaddr_net *net;
    int negate;

    if (strcasecmp(word, "endif") == 0) {
        if (*rest)
            return dict_parse_fail(ps, "text after endif: \"%.40s\"", rest);
        return dict_rules_add_endif(&cp->rules, ps);
    }
    if (strcasecmp(word, "if") == 0)
        return parse_if(cp, ps, rest);
    if ((net = parse_network(ps, word, &negate)) == NULL)
        return -1;
    if (*rest == '\0') {
        xfree(net);
        return dict_parse_fail(ps, "no result after the network");
    }
    dict_rules_add_match(&cp->rules, ps->lineno, net, negate, rest);
    return 0;
}

struct cidr_key {
    int family;
    unsigned char addr[16];
};

/* As Postfix: a rule for the other address family never matches, negated or not. */
static int rule_matches(void *ctx, const struct dict_rule *r)
{
    const struct cidr_key *key = ctx;
    const struct netaddr_net *net = r->pattern;

    if (net->family != key->family)
        return 0;
    return netaddr_in_net(net, key->family, key->addr) != r->negate;
}

static int cidr_lookup(struct dict *dict, const char *key, struct dict_result *res)
{
    struct cidr_priv *cp = dict->priv;
    const struct dict_rule *r;
    struct cidr_key k;
    int tempfail;

    if (netaddr_parse_addr(key, &k.family, k.addr) < 0)
        return DICT_NOTFOUND;
    r = dict_rules_first(&cp->rules, rule_matches, &k, &tempfail);
    if (r == NULL)
        return DICT_NOTFOUND;
    res->value = r->result;
    res->where = dict_set_where(dict, "%s:%u", dict->spec, r->lineno);
    return DICT_FOUND;
}

static void free_pattern(void *pattern)
{
    xfree(pattern);
}

static void cidr_close(struct dict *dict)
{
    struct cidr_priv *cp = dict->priv;

    if (cp == NULL)
        return;
    dict_rules_free(&cp->rules, free_pattern);
    xfree(cp);
    dict->priv = NULL;
}

static const struct dict_ops cidr_ops = {
    .type = "cidr",
    .lookup = cidr_lookup,
    .close = cidr_close,
};

int dict_cidr_open(struct dict *dict, const char *name, char *err, size_t errlen)
{
    struct cidr_priv *cp = xcalloc(1, sizeof(*cp));

    dict->ops = &cidr_ops;
    dict->priv = cp;
    return dict_rules_load(&cp->rules, dict->spec, name, parse_line, cp, err, errlen);
}
