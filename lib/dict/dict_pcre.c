/*
 * dict_pcre.c - pcre: tables (Postfix pcre_table(5) syntax, PCRE2).
 *
 *   /regex/flags result        the first matching rule wins
 *   !/regex/flags result       matches when the regex does not
 *   if /regex/flags            the rules up to the matching endif apply only
 *   if !/regex/flags           when the condition holds; ifs nest
 *   endif
 *
 * Any non-alphanumeric, non-blank character other than '\' may delimit the
 * regex; inside it a backslash escapes the next character. Flags toggle
 * PCRE2 options: i (case-insensitive, ON by default as in Postfix, so 'i'
 * makes the rule case-sensitive), m (multiline), s (dot matches newline),
 * x (extended), A (anchored), E (dollar matches only at end), U (ungreedy).
 * In the result, $1..$9, ${n} and $(n) are replaced by the capture group n
 * (empty when it did not take part); $$ is a literal '$'.
 *
 * The whole file is checked when opened; the first problem fails the open
 * with "FILE:LINE: message": a bad regex, an unknown flag, a rule without
 * result, text after an if, an unbalanced if/endif, a substitution beyond the
 * regex's groups or inside a negated rule, a '$' not followed by a group.
 *
 * Every match runs with a match limit and a depth limit
 * (DICT_PCRE_MATCH_LIMIT, DICT_PCRE_DEPTH_LIMIT, DICT_PCRE_HEAP_LIMIT) so a
 * hostile key cannot make a pattern run away: hitting a limit is a
 * DICT_TEMPFAIL naming the rule, logged as a warning.
 *
 * The rule list and its if/endif structure are dict_rules.h's; this file
 * compiles and runs the regexes and expands results.
 *
 * Memory: priv owns the rule list (dict_rules.h) with one compiled regex
 * per rule (its pattern), one match-data block sized for the largest group
 * count, the match context and the expansion buffer results point into.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "alloc.h"
#include "dict.h"
#include "dict_backend.h"
#include "dict_rules.h"
#include "dict_text.h"
#include "errtext.h"
#include "line_reader.h"
#include "strbuf.h"

#define DICT_PCRE_MATCH_LIMIT 1000000
#define DICT_PCRE_DEPTH_LIMIT 10000
#define DICT_PCRE_HEAP_LIMIT 20000     /* KiB */

struct pcre_priv {
    struct dict_rules rules;
    uint32_t max_groups;        /* while parsing: the most capture groups of a rule */
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    struct strbuf out;          /* the expanded result */
};

/* --- parsing --- */


/*
 * Parse "[!]/regex/flags" at *pos: compile it, set *negate, advance *pos
 * past the flags. Returns the code or NULL (error set).
 */
static pcre2_code *parse_pattern(struct dict_parse *ps, char **pos, int *negate)
{
    char *p = *pos, *start, delim;
    uint32_t options = PCRE2_CASELESS;
    pcre2_code *re;
    int errcode;
    PCRE2_SIZE erroff;
    size_t len;

    *negate = 0;
    if (*p == '!') {
        *negate = 1;
        p++;
        while (line_reader_is_blank(*p))
            p++;
    }
    delim = *p;
    if (delim == '\0' || isalnum((unsigned char)delim) || line_reader_is_blank(delim) || delim == '\\') {
        dict_parse_fail(ps, "expected a pattern such as /regex/, got \"%.40s\"", p);
        return NULL;
    }
    start = ++p;
    while (*p && *p != delim) {
        if (*p == '\\' && p[1] != '\0')
            p++;
        p++;
    }
    if (*p != delim) {
        dict_parse_fail(ps, "unterminated pattern: missing closing '%c'", delim);
        return NULL;
    }
    len = (size_t)(p - start);
    for (p++; *p && !line_reader_is_blank(*p); p++) {
        switch (*p) {
        case 'i': options ^= PCRE2_CASELESS; break;
        case 'm': options ^= PCRE2_MULTILINE; break;
        case 's': options ^= PCRE2_DOTALL; break;
        case 'x': options ^= PCRE2_EXTENDED; break;
        case 'A': options ^= PCRE2_ANCHORED; break;
        case 'E': options ^= PCRE2_DOLLAR_ENDONLY; break;
        case 'U': options ^= PCRE2_UNGREEDY; break;
        default:
            dict_parse_fail(ps, "unknown regex flag '%c' (known: i m s x A E U)", *p);
            return NULL;
        }
    }
    re = pcre2_compile((PCRE2_SPTR)start, len, options, &errcode, &erroff, NULL);
    if (re == NULL) {
        PCRE2_UCHAR msg[256];

        pcre2_get_error_message(errcode, msg, sizeof(msg));
        dict_parse_fail(ps, "bad regex at offset %zu: %s", (size_t)erroff, (const char *)msg);
        return NULL;
    }
    *pos = p;
    return re;
}

/*
 * Check a result's $ references: each must name a group 1..ngroups (none in
 * a negated rule); $$ is a literal '$'. Returns 0 or -1 (error set).
 */
static int check_result(struct dict_parse *ps, const char *r, uint32_t ngroups, int negate)
{
    for (const char *p = r; *p; p++) {
        unsigned long n = 0;
        int digits = 0;

        if (*p != '$')
            continue;
        p++;
        if (*p == '$')
            continue;
        if (*p == '{' || *p == '(') {
            char close = *p == '{' ? '}' : ')';
            for (p++; isdigit((unsigned char)*p) && digits < 3; p++, digits++)
                n = n * 10 + (unsigned long)(*p - '0');
            if (digits == 0 || *p != close)
                return dict_parse_fail(ps, "bad substitution in result: expected ${number}");
        } else if (isdigit((unsigned char)*p)) {
            n = (unsigned long)(*p - '0');
        } else {
            return dict_parse_fail(ps, "bad '$' in result: use $1..$9, ${number} or $$ for a '$'");
        }
        if (negate)
            return dict_parse_fail(ps, "$%lu substitution in the result of a negated pattern", n);
        if (n < 1 || n > ngroups)
            return dict_parse_fail(ps, "out of range substitution $%lu: the regex has %u group%s", n,
                        (unsigned)ngroups, ngroups == 1 ? "" : "s");
    }
    return 0;
}

/* "if" / "endif" keywords: case-insensitive, followed by a blank or the end. */
static int keyword(const char *line, const char *word, char **rest)
{
    size_t n = strlen(word);

    if (strncasecmp(line, word, n) != 0 || (line[n] != '\0' && !line_reader_is_blank(line[n])))
        return 0;
    *rest = (char *)line + n;
    while (line_reader_is_blank(**rest))
        (*rest)++;
    return 1;
}

/* After a pattern: skip blanks; the rest of the line. */
static char *after_blanks(char *p)
{
    while (line_reader_is_blank(*p))
        p++;
    return p;
}

static int parse_if(struct pcre_priv *pp, struct dict_parse *ps, char *rest)
{
    pcre2_code *re;
    int negate;

    if ((re = parse_pattern(ps, &rest, &negate)) == NULL)
        return -1;
    rest = after_blanks(rest);
    if (*rest) {
        pcre2_code_free(re);
        return dict_parse_fail(ps, "text after if pattern: \"%.40s\"", rest);
    }
    dict_rules_add_if(&pp->rules, ps->lineno, re, negate);
    return 0;
}

static int parse_line(void *ctx, struct dict_parse *ps, char *line)
{
    struct pcre_priv *pp = ctx;
    char *rest = line;
    pcre2_code *re;
    int negate;
    uint32_t ngroups = 0;

    if (keyword(line, "endif", &rest)) {
        if (*rest)
            return dict_parse_fail(ps, "text after endif: \"%.40s\"", rest);
        return dict_rules_add_endif(&pp->rules, ps);
    }
    if (keyword(line, "if", &rest))
        return parse_if(pp, ps, rest);
    rest = line;
    if ((re = parse_pattern(ps, &rest, &negate)) == NULL)
        return -1;
    rest = after_blanks(rest);
    if (*rest == '\0') {
        pcre2_code_free(re);
        return dict_parse_fail(ps, "no result after the pattern");
    }
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &ngroups);
    if (check_result(ps, rest, ngroups, negate) < 0) {
        pcre2_code_free(re);
        return -1;
    }
    if (ngroups > pp->max_groups)
        pp->max_groups = ngroups;
    dict_rules_add_match(&pp->rules, ps->lineno, re, negate, rest);
    return 0;
}

/* --- lookup --- */

/* Expand $n in a (checked) result using the last match of `key`. */
static const char *expand(struct pcre_priv *pp, const char *result, const char *key, int groups)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(pp->md);

    strbuf_reset(&pp->out);
    for (const char *p = result; *p; p++) {
        unsigned long n = 0;

        if (*p != '$') {
            strbuf_add_char(&pp->out, *p);
            continue;
        }
        p++;
        if (*p == '$') {
            strbuf_add_char(&pp->out, '$');
            continue;
        }
        if (*p == '{' || *p == '(') {
            for (p++; isdigit((unsigned char)*p); p++)
                n = n * 10 + (unsigned long)(*p - '0');
        } else {
            n = (unsigned long)(*p - '0');
        }
        if ((int)n < groups && ov[2 * n] != PCRE2_UNSET)
            strbuf_add(&pp->out, key + ov[2 * n], ov[2 * n + 1] - ov[2 * n]);
    }
    return strbuf_str(&pp->out);
}

/* One lookup: the key, and what its last match found. */
struct pcre_key {
    struct dict *dict;
    const char *key;
    size_t len;
    int groups;                 /* capture groups set by the last match */
    struct dict_result *res;
};

/* 1 match, 0 no match, -1 limit or error (res->error set). */
static int rule_matches(void *ctx, const struct dict_rule *r)
{
    struct pcre_key *k = ctx;
    struct pcre_priv *pp = k->dict->priv;
    int rc = pcre2_match(r->pattern, (PCRE2_SPTR)k->key, k->len, 0, 0, pp->md, pp->mctx);
    PCRE2_UCHAR msg[256];

    if (rc >= 0) {
        k->groups = rc;
        return !r->negate;
    }
    if (rc == PCRE2_ERROR_NOMATCH)
        return r->negate;
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT
        || rc == PCRE2_ERROR_HEAPLIMIT) {
        k->res->error = dict_set_error(k->dict, "%s:%u: regex match limit exceeded",
                                       k->dict->spec, r->lineno);
        return -1;
    }
    pcre2_get_error_message(rc, msg, sizeof(msg));
    k->res->error = dict_set_error(k->dict, "%s:%u: regex match failed: %s", k->dict->spec,
                                   r->lineno, (const char *)msg);
    return -1;
}

static int pcre_lookup(struct dict *dict, const char *key, struct dict_result *res)
{
    struct pcre_priv *pp = dict->priv;
    struct pcre_key k = { dict, key, strlen(key), 0, res };
    const struct dict_rule *r;
    int tempfail;

    r = dict_rules_first(&pp->rules, rule_matches, &k, &tempfail);
    if (tempfail)
        return DICT_TEMPFAIL;
    if (r == NULL)
        return DICT_NOTFOUND;
    res->value = expand(pp, r->result, key, r->negate ? 0 : k.groups);
    res->where = dict_set_where(dict, "%s:%u", dict->spec, r->lineno);
    return DICT_FOUND;
}

static void free_pattern(void *pattern)
{
    pcre2_code_free(pattern);
}

static void pcre_close(struct dict *dict)
{
    struct pcre_priv *pp = dict->priv;

    if (pp == NULL)
        return;
    dict_rules_free(&pp->rules, free_pattern);
    pcre2_match_data_free(pp->md);
    pcre2_match_context_free(pp->mctx);
    strbuf_free(&pp->out);
    xfree(pp);
    dict->priv = NULL;
}

static const struct dict_ops pcre_ops = {
    .type = "pcre",
    .lookup = pcre_lookup,
    .close = pcre_close,
};

int dict_pcre_open(struct dict *dict, const char *name, char *err, size_t errlen)
{
    struct pcre_priv *pp = xcalloc(1, sizeof(*pp));

    dict->ops = &pcre_ops;
    dict->priv = pp;
    if (dict_rules_load(&pp->rules, dict->spec, name, parse_line, pp, err, errlen) < 0)
        return -1;
    pp->md = pcre2_match_data_create(pp->max_groups + 1, NULL);
    pp->mctx = pcre2_match_context_create(NULL);
    if (pp->md == NULL || pp->mctx == NULL) {
        errtext_set(err, errlen, "table %s: out of memory for PCRE2", dict->spec);
        return -1;
    }
    pcre2_set_match_limit(pp->mctx, DICT_PCRE_MATCH_LIMIT);
    pcre2_set_depth_limit(pp->mctx, DICT_PCRE_DEPTH_LIMIT);
    pcre2_set_heap_limit(pp->mctx, DICT_PCRE_HEAP_LIMIT);
    return 0;
}
