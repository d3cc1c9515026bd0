/*
 * dict_rules.h - the rule list behind pattern tables (pcre:, cidr:).
 *
 * Such a table is a list of rules read from a file, tried in order; the
 * first rule that matches the key gives the result:
 *
 *     PATTERN result          a rule
 *     if PATTERN              the rules up to the matching endif apply only
 *     ...                     when PATTERN matches; ifs nest
 *     endif
 *
 * This module owns what pcre: and cidr: share: the list, the if/endif
 * structure (checked while parsing: an endif without an if, an if without
 * an endif, each reported with its file and line), the walk over the file's
 * logical lines, and the first-match walk at lookup time. A backend owns its
 * patterns (`pattern` in each rule) and says what "matches" means.
 *
 * Memory: the list owns its rules and their result texts; patterns belong
 * to the backend and are released through the free function given to
 * dict_rules_free(). Parsing state (the open ifs) is freed when parsing ends.
 * Success convention: 0 ok, -1 error (err filled through struct dict_parse).
 */
#ifndef POSTERN_DICT_RULES_H
#define POSTERN_DICT_RULES_H

#include <stddef.h>

#include "dict_text.h"

enum dict_rule_kind { DICT_RULE_MATCH, DICT_RULE_IF, DICT_RULE_ENDIF };

struct dict_rule {
    enum dict_rule_kind kind;
    void *pattern;              /* MATCH and IF: the backend's compiled pattern */
    int negate;                 /* "!PATTERN" */
    char *result;               /* MATCH: the result text */
    unsigned lineno;
    size_t skip_to;             /* IF: the index after its ENDIF */
};

struct dict_rules {
    struct dict_rule *rules;
    size_t count, cap;
    size_t *open_ifs;           /* while parsing: indexes of unclosed IFs */
    size_t depth, open_cap;
};

/*
 * Parse a table file held in buf: line_fn(ctx, ps, line) for each logical
 * line (line_reader.h; the line may be changed in place), then check that
 * every if is closed. Returns 0, or -1 with err ("FILE:LINE: message").
 */
typedef int (*dict_rules_line_fn)(void *ctx, struct dict_parse *ps, char *line);
int dict_rules_parse(struct dict_rules *rules, const char *file, const char *buf, size_t len,
                     dict_rules_line_fn line_fn, void *ctx, char *err, size_t errlen);

/*
 * Load the table file `name` (dict_text_load) and parse it as above.
 * `spec` ("pcre:/etc/x") names the table in errors. 0 or -1 with err.
 */
int dict_rules_load(struct dict_rules *rules, const char *spec, const char *name,
                    dict_rules_line_fn line_fn, void *ctx, char *err, size_t errlen);

/* From a line_fn: add a MATCH (result copied) or an IF rule. */
void dict_rules_add_match(struct dict_rules *rules, unsigned lineno, void *pattern, int negate,
                          const char *result);
void dict_rules_add_if(struct dict_rules *rules, unsigned lineno, void *pattern, int negate);
/* From a line_fn: an endif. -1 when no if is open. */
int dict_rules_add_endif(struct dict_rules *rules, struct dict_parse *ps);

/*
 * The first MATCH rule that applies to a key: match_fn(ctx, rule) says
 * whether a rule's pattern (negation included) matches: 1 yes, 0 no, -1
 * the table cannot answer now (a match limit). Returns the rule, or NULL
 * with *tempfail 0 (no rule applies) or 1 (match_fn returned -1).
 */
typedef int (*dict_rules_match_fn)(void *ctx, const struct dict_rule *rule);
const struct dict_rule *dict_rules_first(const struct dict_rules *rules,
                                         dict_rules_match_fn match_fn, void *ctx, int *tempfail);

void dict_rules_free(struct dict_rules *rules, void (*free_pattern)(void *pattern));

#endif
