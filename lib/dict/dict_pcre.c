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
 * Memory: priv owns the compiled rules, their result texts, one match-data
 * block sized for the largest group count, the match context and the
 * expansion buffer results point into.
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
#include "dict_text.h"
#include "errtext.h"
#include "line_reader.h"

#define DICT_PCRE_MATCH_LIMIT 1000000
#define DICT_PCRE_DEPTH_LIMIT 10000
#define DICT_PCRE_HEAP_LIMIT 20000     /* KiB */

enum rule_kind { RULE_MATCH, RULE_IF, RULE_ENDIF };

struct rule {
    enum rule_kind kind;
    pcre2_code *re;             /* MATCH and IF */
    int negate;
    char *result;               /* MATCH: the result text, NULL otherwise */
    unsigned lineno;
    size_t skip_to;             /* IF: index after the matching ENDIF */
};

struct pcre_priv {
    struct rule *rules;
    size_t count, cap;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    char *out;                  /* the expanded result */
    size_t out_cap;
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

static struct rule *add_rule(struct pcre_priv *pp, enum rule_kind kind, unsigned lineno)
{
    struct rule *r;

    pp->rules = xgrow(pp->rules, &pp->cap, pp->count + 1, sizeof(*pp->rules));
    r = &pp->rules[pp->count++];
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->lineno = lineno;
    return r;
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

static int parse_line(struct pcre_priv *pp, struct dict_parse *ps, char *line, uint32_t *max_groups,
                      size_t **stack, size_t *depth, size_t *stack_cap)
{
    char *rest;
    pcre2_code *re;
    int negate;
    uint32_t ngroups = 0;
    struct rule *r;

    if (keyword(line, "endif", &rest)) {
        if (*rest)
            return dict_parse_fail(ps, "text after endif: \"%.40s\"", rest);
        if (*depth == 0)
            return dict_parse_fail(ps, "endif without matching if");
        add_rule(pp, RULE_ENDIF, ps->lineno);
        pp->rules[(*stack)[--*depth]].skip_to = pp->count;
        return 0;
    }
    if (keyword(line, "if", &rest)) {
        if ((re = parse_pattern(ps, &rest, &negate)) == NULL)
            return -1;
        while (line_reader_is_blank(*rest))
            rest++;
        if (*rest) {
            pcre2_code_free(re);
            return dict_parse_fail(ps, "text after if pattern: \"%.40s\"", rest);
        }
        r = add_rule(pp, RULE_IF, ps->lineno);
        r->re = re;
        r->negate = negate;
        *stack = xgrow(*stack, stack_cap, *depth + 1, sizeof(**stack));
        (*stack)[(*depth)++] = pp->count - 1;
        return 0;
    }
    rest = line;
    if ((re = parse_pattern(ps, &rest, &negate)) == NULL)
        return -1;
    while (line_reader_is_blank(*rest))
        rest++;
    if (*rest == '\0') {
        pcre2_code_free(re);
        return dict_parse_fail(ps, "no result after the pattern");
    }
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &ngroups);
    if (check_result(ps, rest, ngroups, negate) < 0) {
        pcre2_code_free(re);
        return -1;
    }
    if (ngroups > *max_groups)
        *max_groups = ngroups;
    r = add_rule(pp, RULE_MATCH, ps->lineno);
    r->re = re;
    r->negate = negate;
    r->result = xstrdup(rest);
    return 0;
}

static int parse_file(struct pcre_priv *pp, const char *file, const char *buf, size_t len,
                      uint32_t *max_groups, char *err, size_t errlen)
{
    struct line_reader rd;
    struct dict_parse ps = {.file = file, .err = err, .errlen = errlen};
    size_t *stack = NULL, depth = 0, stack_cap = 0;
    char *line;
    int rc;

    line_reader_init(&rd, file, buf, len, DICT_LINE_MAX);
    while ((rc = line_reader_next(&rd, &line, NULL, &ps.lineno, err, errlen)) == 1) {
        if (parse_line(pp, &ps, line, max_groups, &stack, &depth, &stack_cap) < 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && depth > 0) {
        ps.lineno = pp->rules[stack[depth - 1]].lineno;
        rc = dict_parse_fail(&ps, "if without matching endif");
    }
    xfree(stack);
    line_reader_free(&rd);
    return rc;
}

/* --- lookup --- */

static void out_add(struct pcre_priv *pp, size_t *used, const char *s, size_t n)
{
    pp->out = xgrow(pp->out, &pp->out_cap, *used + n + 1, 1);
    memcpy(pp->out + *used, s, n);
    *used += n;
    pp->out[*used] = '\0';
}

/* Expand $n in a (checked) result using the last match of `key`. */
static const char *expand(struct pcre_priv *pp, const char *result, const char *key, int groups)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(pp->md);
    size_t used = 0;

    out_add(pp, &used, "", 0);
    for (const char *p = result; *p; p++) {
        unsigned long n = 0;

        if (*p != '$') {
            out_add(pp, &used, p, 1);
            continue;
        }
        p++;
        if (*p == '$') {
            out_add(pp, &used, "$", 1);
            continue;
        }
        if (*p == '{' || *p == '(') {
            for (p++; isdigit((unsigned char)*p); p++)
                n = n * 10 + (unsigned long)(*p - '0');
        } else {
            n = (unsigned long)(*p - '0');
        }
        if ((int)n < groups && ov[2 * n] != PCRE2_UNSET)
            out_add(pp, &used, key + ov[2 * n], ov[2 * n + 1] - ov[2 * n]);
    }
    return pp->out;
}

/* 1 match, 0 no match, -1 limit or error (res->error set). */
static int run(struct dict *dict, const struct rule *r, const char *key, size_t klen,
               struct dict_result *res, int *groups)
{
    struct pcre_priv *pp = dict->priv;
    int rc = pcre2_match(r->re, (PCRE2_SPTR)key, klen, 0, 0, pp->md, pp->mctx);

    if (rc >= 0) {
        *groups = rc;
        return !r->negate;
    }
    if (rc == PCRE2_ERROR_NOMATCH)
        return r->negate;
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT
        || rc == PCRE2_ERROR_HEAPLIMIT) {
        res->error = dict_set_error(dict, "%s:%u: regex match limit exceeded", dict->spec,
                                    r->lineno);
    } else {
        PCRE2_UCHAR msg[256];

        pcre2_get_error_message(rc, msg, sizeof(msg));
        res->error = dict_set_error(dict, "%s:%u: regex match failed: %s", dict->spec, r->lineno,
                                    (const char *)msg);
    }
    return -1;
}

static int pcre_lookup(struct dict *dict, const char *key, struct dict_result *res)
{
    struct pcre_priv *pp = dict->priv;
    size_t klen = strlen(key);
    size_t i = 0;

    while (i < pp->count) {
        const struct rule *r = &pp->rules[i];
        int groups = 0, m;

        if (r->kind == RULE_ENDIF) {
            i++;
            continue;
        }
        if ((m = run(dict, r, key, klen, res, &groups)) < 0)
            return DICT_TEMPFAIL;
        if (r->kind == RULE_IF) {
            i = m ? i + 1 : r->skip_to;
            continue;
        }
        if (m) {
            res->value = expand(pp, r->result, key, r->negate ? 0 : groups);
            res->where = dict_set_where(dict, "%s:%u", dict->spec, r->lineno);
            return DICT_FOUND;
        }
        i++;
    }
    return DICT_NOTFOUND;
}

static void pcre_close(struct dict *dict)
{
    struct pcre_priv *pp = dict->priv;

    if (pp == NULL)
        return;
    for (size_t i = 0; i < pp->count; i++) {
        pcre2_code_free(pp->rules[i].re);
        xfree(pp->rules[i].result);
    }
    xfree(pp->rules);
    pcre2_match_data_free(pp->md);
    pcre2_match_context_free(pp->mctx);
    xfree(pp->out);
    xfree(pp);
    dict->priv = NULL;
}

static const struct dict_ops pcre_ops = {
    .type = "pcre",
    .lookup = pcre_lookup,
    .iterate = NULL,
    .close = pcre_close,
    .fold = 0,
};

int dict_pcre_open(struct dict *dict, const char *name, char *err, size_t errlen)
{
    struct pcre_priv *pp;
    char *buf;
    size_t len;
    uint32_t max_groups = 0;
    int rc;

    if (*name == '\0') {
        errtext_set(err, errlen, "table %s: missing file name", dict->spec);
        return -1;
    }
    if (dict_text_load(name, &buf, &len, err, errlen) < 0)
        return -1;
    pp = xcalloc(1, sizeof(*pp));
    dict->ops = &pcre_ops;
    dict->priv = pp;
    rc = parse_file(pp, name, buf, len, &max_groups, err, errlen);
    xfree(buf);
    if (rc < 0)
        return -1;
    pp->md = pcre2_match_data_create(max_groups + 1, NULL);
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
