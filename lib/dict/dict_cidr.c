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
 * Memory: priv owns the rule array and the result strings results point to.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "alloc.h"
#include "dict.h"
#include "dict_backend.h"
#include "dict_text.h"
#include "errtext.h"
#include "line_reader.h"
#include "netaddr.h"

enum rule_kind { RULE_MATCH, RULE_IF, RULE_ENDIF };

struct rule {
    enum rule_kind kind;
    struct netaddr_net net;
    int negate;
    char *result;               /* MATCH only */
    unsigned lineno;
    size_t skip_to;             /* IF: index after the matching ENDIF */
};

struct cidr_priv {
    struct rule *rules;
    size_t count, cap;
};


/* The network "[!]addr[/prefix]" (one word, NUL-terminated) into r. */
static int parse_network(struct dict_parse *ps, char *word, struct rule *r)
{
    char why[256];

    if (*word == '!') {
        r->negate = 1;
        word++;
    }
    if (netaddr_parse_net(word, &r->net, why, sizeof(why)) < 0)
        return dict_parse_fail(ps, "%s", why);
    return 0;
}

static struct rule *add_rule(struct cidr_priv *cp, enum rule_kind kind, unsigned lineno)
{
    struct rule *r;

    cp->rules = xgrow(cp->rules, &cp->cap, cp->count + 1, sizeof(*cp->rules));
    r = &cp->rules[cp->count++];
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->lineno = lineno;
    return r;
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

static int parse_line(struct cidr_priv *cp, struct dict_parse *ps, char *line, size_t **stack,
                      size_t *depth, size_t *stack_cap)
{
    char *rest = line;
    char *word = first_word(&rest);
    struct rule tmp, *r;

    memset(&tmp, 0, sizeof(tmp));
    if (strcasecmp(word, "endif") == 0) {
        if (*rest)
            return dict_parse_fail(ps, "text after endif: \"%.40s\"", rest);
        if (*depth == 0)
            return dict_parse_fail(ps, "endif without matching if");
        add_rule(cp, RULE_ENDIF, ps->lineno);
        cp->rules[(*stack)[--*depth]].skip_to = cp->count;
        return 0;
    }
    if (strcasecmp(word, "if") == 0) {
        if (*rest == '\0')
            return dict_parse_fail(ps, "if without a network");
        word = first_word(&rest);
        if (*rest)
            return dict_parse_fail(ps, "text after if network: \"%.40s\"", rest);
        if (parse_network(ps, word, &tmp) < 0)
            return -1;
        r = add_rule(cp, RULE_IF, ps->lineno);
        tmp.kind = RULE_IF;
        tmp.lineno = ps->lineno;
        *r = tmp;
        *stack = xgrow(*stack, stack_cap, *depth + 1, sizeof(**stack));
        (*stack)[(*depth)++] = cp->count - 1;
        return 0;
    }
    if (parse_network(ps, word, &tmp) < 0)
        return -1;
    if (*rest == '\0')
        return dict_parse_fail(ps, "no result after the network");
    r = add_rule(cp, RULE_MATCH, ps->lineno);
    tmp.kind = RULE_MATCH;
    tmp.lineno = ps->lineno;
    tmp.result = xstrdup(rest);
    *r = tmp;
    return 0;
}

static int parse_file(struct cidr_priv *cp, const char *file, const char *buf, size_t len,
                      char *err, size_t errlen)
{
    struct line_reader rd;
    struct dict_parse ps = {.file = file, .err = err, .errlen = errlen};
    size_t *stack = NULL, depth = 0, stack_cap = 0;
    char *line;
    int rc;

    line_reader_init(&rd, file, buf, len, DICT_LINE_MAX);
    while ((rc = line_reader_next(&rd, &line, NULL, &ps.lineno, err, errlen)) == 1) {
        if (parse_line(cp, &ps, line, &stack, &depth, &stack_cap) < 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && depth > 0) {
        ps.lineno = cp->rules[stack[depth - 1]].lineno;
        rc = dict_parse_fail(&ps, "if without matching endif");
    }
    xfree(stack);
    line_reader_free(&rd);
    return rc;
}

static int rule_matches(const struct rule *r, int family, const unsigned char *addr)
{
    /* As Postfix: a rule for the other address family never matches, negated
     * or not. */
    if (r->net.family != family)
        return 0;
    return netaddr_in_net(&r->net, family, addr) != r->negate;
}

static int cidr_lookup(struct dict *dict, const char *key, struct dict_result *res)
{
    struct cidr_priv *cp = dict->priv;
    unsigned char addr[16];
    int family;
    size_t i = 0;

    if (netaddr_parse_addr(key, &family, addr) < 0)
        return DICT_NOTFOUND;
    while (i < cp->count) {
        const struct rule *r = &cp->rules[i];

        switch (r->kind) {
        case RULE_ENDIF:
            i++;
            break;
        case RULE_IF:
            i = rule_matches(r, family, addr) ? i + 1 : r->skip_to;
            break;
        case RULE_MATCH:
            if (rule_matches(r, family, addr)) {
                res->value = r->result;
                res->where = dict_set_where(dict, "%s:%u", dict->spec, r->lineno);
                return DICT_FOUND;
            }
            i++;
            break;
        }
    }
    return DICT_NOTFOUND;
}

static void cidr_close(struct dict *dict)
{
    struct cidr_priv *cp = dict->priv;

    if (cp == NULL)
        return;
    for (size_t i = 0; i < cp->count; i++)
        xfree(cp->rules[i].result);
    xfree(cp->rules);
    xfree(cp);
    dict->priv = NULL;
}

static const struct dict_ops cidr_ops = {
    .type = "cidr",
    .lookup = cidr_lookup,
    .iterate = NULL,
    .close = cidr_close,
    .fold = 0,
};

int dict_cidr_open(struct dict *dict, const char *name, char *err, size_t errlen)
{
    struct cidr_priv *cp;
    char *buf;
    size_t len;
    int rc;

    if (*name == '\0') {
        errtext_set(err, errlen, "table %s: missing file name", dict->spec);
        return -1;
    }
    if (dict_text_load(name, &buf, &len, err, errlen) < 0)
        return -1;
    cp = xcalloc(1, sizeof(*cp));
    dict->ops = &cidr_ops;
    dict->priv = cp;
    rc = parse_file(cp, name, buf, len, err, errlen);
    xfree(buf);
    return rc < 0 ? -1 : 0;
}
