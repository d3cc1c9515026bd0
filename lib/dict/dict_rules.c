/*
 * dict_rules.c - rule lists with if/endif for pattern tables (see
 * dict_rules.h).
 */
#include <string.h>

#include "alloc.h"
#include "dict_rules.h"
#include "errtext.h"
#include "line_reader.h"

static struct dict_rule *add_rule(struct dict_rules *rules, enum dict_rule_kind kind,
                                  unsigned lineno, void *pattern, int negate)
{
    struct dict_rule *r;

    rules->rules = xgrow(rules->rules, &rules->cap, rules->count + 1, sizeof(*rules->rules));
    r = &rules->rules[rules->count++];
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->lineno = lineno;
    r->pattern = pattern;
    r->negate = negate;
    return r;
}

void dict_rules_add_match(struct dict_rules *rules, unsigned lineno, void *pattern, int negate,
                          const char *result)
{
    add_rule(rules, DICT_RULE_MATCH, lineno, pattern, negate)->result = xstrdup(result);
}

void dict_rules_add_if(struct dict_rules *rules, unsigned lineno, void *pattern, int negate)
{
    add_rule(rules, DICT_RULE_IF, lineno, pattern, negate);
    rules->open_ifs = xgrow(rules->open_ifs, &rules->open_cap, rules->depth + 1,
                            sizeof(*rules->open_ifs));
    rules->open_ifs[rules->depth++] = rules->count - 1;
}

int dict_rules_add_endif(struct dict_rules *rules, struct dict_parse *ps)
{
    if (rules->depth == 0)
        return dict_parse_fail(ps, "endif without matching if");
    add_rule(rules, DICT_RULE_ENDIF, ps->lineno, NULL, 0);
    rules->rules[rules->open_ifs[--rules->depth]].skip_to = rules->count;
    return 0;
}

int dict_rules_parse(struct dict_rules *rules, const char *file, const char *buf, size_t len,
                     dict_rules_line_fn line_fn, void *ctx, char *err, size_t errlen)
{
    struct line_reader reader;
    struct dict_parse ps = { .file = file, .err = err, .errlen = errlen };
    char *line;
    int rc;

    line_reader_init(&reader, file, buf, len, DICT_LINE_MAX);
    while ((rc = line_reader_next(&reader, &line, NULL, &ps.lineno, err, errlen)) == 1) {
        if (line_fn(ctx, &ps, line) < 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && rules->depth > 0) {
        ps.lineno = rules->rules[rules->open_ifs[rules->depth - 1]].lineno;
        rc = dict_parse_fail(&ps, "if without matching endif");
    }
    line_reader_free(&reader);
    rules->open_ifs = xfree(rules->open_ifs);
    rules->depth = rules->open_cap = 0;
    return rc;
}

int dict_rules_load(struct dict_rules *rules, const char *spec, const char *name,
                    dict_rules_line_fn line_fn, void *ctx, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    int rc;

    if (*name == '\0') {
        errtext_set(err, errlen, "table %s: missing file name", spec);
        return -1;
    }
    if (dict_text_load(name, &buf, &len, err, errlen) < 0)
        return -1;
    rc = dict_rules_parse(rules, name, buf, len, line_fn, ctx, err, errlen);
    xfree(buf);
    return rc;
}

const struct dict_rule *dict_rules_first(const struct dict_rules *rules,
                                         dict_rules_match_fn match_fn, void *ctx, int *tempfail)
{
    size_t i = 0;

    *tempfail = 0;
    while (i < rules->count) {
        const struct dict_rule *r = &rules->rules[i];
        int m;

        if (r->kind == DICT_RULE_ENDIF) {
            i++;
            continue;
        }
        if ((m = match_fn(ctx, r)) < 0) {
            *tempfail = 1;
            return NULL;
        }
        if (r->kind == DICT_RULE_MATCH && m)
            return r;
        i = r->kind == DICT_RULE_IF && !m ? r->skip_to : i + 1;
    }
    return NULL;
}

void dict_rules_free(struct dict_rules *rules, void (*free_pattern)(void *pattern))
{
    for (size_t i = 0; i < rules->count; i++) {
        if (rules->rules[i].pattern != NULL && free_pattern != NULL)
            free_pattern(rules->rules[i].pattern);
        xfree(rules->rules[i].result);
    }
    rules->rules = xfree(rules->rules);
    rules->open_ifs = xfree(rules->open_ifs);
    rules->count = rules->cap = rules->depth = rules->open_cap = 0;
}
