/*
 * config.c - parse main.cf against the parameter table (see config.h).
 *
 * Raw values (defaults, then main.cf, then overrides) are kept per table row;
 * expansion runs after everything is read so that order in the file does not
 * matter. Expansion is bounded in depth, so "a = $b", "b = $a" is an error
 * rather than a loop.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "errtext.h"
#include "config.h"
#include "fdio.h"
#include "line_reader.h"
#include "strbuf.h"
#include "postern_paths.h"

#define EXPAND_DEPTH_MAX 20
#define MAIN_CF_SIZE_MAX (4 * 1024 * 1024)

struct param_state {
    char *raw;      /* owned: unexpanded value */
    char *value;    /* owned: expanded value */
    int is_set;     /* explicitly set in main.cf or by override */
};

static struct param_state *states;


static long param_index(const char *name, size_t len)
{
    for (size_t i = 0; i < param_table_len; i++)
        if (strlen(param_table[i].name) == len
            && memcmp(param_table[i].name, name, len) == 0)
            return (long)i;
    return -1;
}

const char *config_dir_choose(const char *explicit_dir)
{
    const char *env;

    if (explicit_dir && *explicit_dir)
        return explicit_dir;
    env = getenv("MAIL_CONFIG");
    if (env && *env)
        return env;
    return DEF_CONFIG_DIR;
}

static void states_reset(void)
{
    if (states == NULL)
        states = xcalloc(param_table_len, sizeof(*states));
    for (size_t i = 0; i < param_table_len; i++) {
        states[i].raw = xfree(states[i].raw);
        states[i].raw = xstrdup(param_table[i].def);
        states[i].is_set = 0;
    }
}

static void trim(char **start, char **end)
{
    while (*start < *end && isspace((unsigned char)**start))
        (*start)++;
    while (*end > *start && isspace((unsigned char)(*end)[-1]))
        (*end)--;
}

/* Apply "name = value" (or "name=value"); `where` names the origin for errors. */
static int apply_setting(const char *text, size_t len, const char *where,
                         char *err, size_t errlen)
{
    const char *eq = memchr(text, '=', len);
    char *name, *name_end, *value, *value_end;
    long idx;

    if (eq == NULL) {
        errtext_set(err, errlen, "%s: missing '=' in \"%.60s\"", where, text);
        return -1;
    }
    name = (char *)text;
    name_end = (char *)eq;
    value = (char *)eq + 1;
    value_end = (char *)text + len;
    trim(&name, &name_end);
    trim(&value, &value_end);
    if (name == name_end) {
        errtext_set(err, errlen, "%s: missing parameter name", where);
        return -1;
    }
    idx = param_index(name, (size_t)(name_end - name));
    if (idx < 0) {
        errtext_set(err, errlen, "%s: unknown parameter \"%.*s\"", where,
                (int)(name_end - name), name);
        return -1;
    }
    states[idx].raw = xfree(states[idx].raw);
    states[idx].raw = xstrndup(value, (size_t)(value_end - value));
    states[idx].is_set = 1;
    return 0;
}

static char *read_file(const char *path, char *err, size_t errlen)
{
    char *text;
    size_t len;

    if (fdio_read_file(path, MAIN_CF_SIZE_MAX, &text, &len) < 0) {
        errtext_set(err, errlen, "cannot read %s: %s", path,
                    errno == EFBIG ? "file too large" : strerror(errno));
        return NULL;
    }
    return text;
}

/* Apply every logical line of main.cf (line_reader.h). */
static int parse_main_cf(const char *path, const char *text, char *err, size_t errlen)
{
    struct line_reader reader;
    char *line;
    size_t len;
    unsigned lineno;
    char where[600];
    int rc;

    line_reader_init(&reader, path, text, strlen(text), MAIN_CF_SIZE_MAX);
    while ((rc = line_reader_next(&reader, &line, &len, &lineno, err, errlen)) == 1) {
        snprintf(where, sizeof(where), "%s:%u", path, lineno);
        if (apply_setting(line, len, where, err, errlen) < 0) {
            rc = -1;
            break;
        }
    }
    line_reader_free(&reader);
    return rc;
}

static int expand(const char *raw, int depth, struct strbuf *out,
                  const char *owner, char *err, size_t errlen);

static int expand_ref(const char *name, size_t len, int depth, struct strbuf *out,
                      const char *owner, char *err, size_t errlen)
{
    long idx = param_index(name, len);

    if (idx < 0) {
        errtext_set(err, errlen, "parameter %s: reference to unknown parameter \"$%.*s\"",
                owner, (int)len, name);
        return -1;
    }
    if (depth >= EXPAND_DEPTH_MAX) {
        errtext_set(err, errlen, "parameter %s: $name expansion too deep (a loop?)", owner);
        return -1;
    }
    return expand(states[idx].raw, depth + 1, out, owner, err, errlen);
}

static int expand(const char *raw, int depth, struct strbuf *out,
                  const char *owner, char *err, size_t errlen)
{
    const char *p = raw;

    while (*p) {
        const char *dollar = strchr(p, '$');
        if (dollar == NULL) {
            strbuf_add(out, p, strlen(p));
            break;
        }
        strbuf_add(out, p, (size_t)(dollar - p));
        p = dollar + 1;
        if (*p == '$') {
            strbuf_add(out, "$", 1);
            p++;
        } else if (*p == '{' || *p == '(') {
            char close = (*p == '{') ? '}' : ')';
            const char *end = strchr(p + 1, close);
            if (end == NULL) {
                errtext_set(err, errlen, "parameter %s: unbalanced \"$%c\"", owner, *p);
                return -1;
            }
            if (expand_ref(p + 1, (size_t)(end - p - 1), depth, out, owner, err, errlen) < 0)
                return -1;
            p = end + 1;
        } else {
            const char *start = p;
            while (isalnum((unsigned char)*p) || *p == '_')
                p++;
            if (p == start) {
                errtext_set(err, errlen, "parameter %s: '$' not followed by a name", owner);
                return -1;
            }
            if (expand_ref(start, (size_t)(p - start), depth, out, owner, err, errlen) < 0)
                return -1;
        }
    }
    return 0;
}

int config_parse_time(const char *text, char unit, long *seconds)
{
    char *end;
    long n, mult;

    errno = 0;
    n = strtol(text, &end, 10);
    if (end == text || errno || n < 0)
        return -1;
    if (*end == '\0')
        end = &unit;
    switch (*end) {
    case 's': mult = 1; break;
    case 'm': mult = 60; break;
    case 'h': mult = 3600; break;
    case 'd': mult = 86400; break;
    case 'w': mult = 7 * 86400; break;
    default: return -1;
    }
    if (end != &unit && end[1] != '\0')
        return -1;
    if (n > __LONG_MAX__ / mult)
        return -1;
    *seconds = n * mult;
    return 0;
}

int config_parse_bool(const char *text, long *value)
{
    if (strcmp(text, "yes") == 0 || strcmp(text, "true") == 0) {
        *value = 1;
        return 0;
    }
    if (strcmp(text, "no") == 0 || strcmp(text, "false") == 0) {
        *value = 0;
        return 0;
    }
    return -1;
}

static int convert_number(const struct param_def *def, const char *text,
                          long *out, char *err, size_t errlen)
{
    char *end;
    long n;

    if (def->kind == PARAM_BOOL) {
        if (config_parse_bool(text, out) == 0)
            return 0;
        errtext_set(err, errlen, "parameter %s: \"%s\" is not yes or no", def->name, text);
        return -1;
    }
    if (def->kind == PARAM_TIME) {
        if (config_parse_time(text, def->time_unit, &n) < 0) {
            errtext_set(err, errlen, "parameter %s: bad time value \"%s\" (use e.g. 30s, 5m, 2h, 1d)",
                    def->name, text);
            return -1;
        }
    } else {
        errno = 0;
        n = strtol(text, &end, 10);
        if (end == text || *end != '\0' || errno) {
            errtext_set(err, errlen, "parameter %s: \"%s\" is not a number", def->name, text);
            return -1;
        }
    }
    if (n < def->min || n > def->max) {
        errtext_set(err, errlen, "parameter %s: %ld is out of range %ld..%ld",
                def->name, n, def->min, def->max);
        return -1;
    }
    *out = n;
    return 0;
}

static void compute_dynamic_defaults(void)
{
    long host = param_index("myhostname", 10);
    long dom = param_index("mydomain", 8);
    char name[256];

    if (host >= 0 && states[host].raw[0] == '\0') {
        if (gethostname(name, sizeof(name)) != 0)
            strcpy(name, "localhost");
        name[sizeof(name) - 1] = '\0';
        xfree(states[host].raw);
        states[host].raw = xstrdup(name);
    }
    if (dom >= 0 && states[dom].raw[0] == '\0' && host >= 0) {
        const char *dot = strchr(states[host].raw, '.');
        xfree(states[dom].raw);
        states[dom].raw = xstrdup(dot ? dot + 1 : "localdomain");
    }
}

int config_load(const char *dir, char *const *overrides, size_t n_overrides,
                char *err, size_t errlen)
{
    char *path, *text;
    int rc;

    states_reset();
    path = xasprintf("%s/main.cf", dir);
    text = read_file(path, err, errlen);
    if (text == NULL) {
        xfree(path);
        return -1;
    }
    rc = parse_main_cf(path, text, err, errlen);
    xfree(text);
    xfree(path);
    if (rc < 0)
        return -1;
    for (size_t i = 0; i < n_overrides; i++) {
        char where[80];
        snprintf(where, sizeof(where), "override #%zu", i + 1);
        if (apply_setting(overrides[i], strlen(overrides[i]), where, err, errlen) < 0)
            return -1;
    }
    /* config_directory is whatever directory we actually read. */
    {
        long idx = param_index("config_directory", 16);
        xfree(states[idx].raw);
        states[idx].raw = xstrdup(dir);
    }
    compute_dynamic_defaults();
    for (size_t i = 0; i < param_table_len; i++) {
        struct strbuf out = STRBUF_INIT;
        const struct param_def *def = &param_table[i];

        if (expand(states[i].raw, 0, &out, def->name, err, errlen) < 0) {
            strbuf_free(&out);
            return -1;
        }
        states[i].value = xfree(states[i].value);
        states[i].value = strbuf_detach(&out);
        if (def->kind == PARAM_STR) {
            *(char **)def->var = states[i].value;
        } else if (convert_number(def, states[i].value, (long *)def->var, err, errlen) < 0) {
            return -1;
        }
    }
    return 0;
}

const char *config_get(const char *name)
{
    long idx = param_index(name, strlen(name));
    return (idx < 0 || states == NULL) ? NULL : states[idx].value;
}

const char *config_get_raw(const char *name)
{
    long idx = param_index(name, strlen(name));
    return (idx < 0 || states == NULL) ? NULL : states[idx].raw;
}

int config_is_set(const char *name)
{
    long idx = param_index(name, strlen(name));
    return (idx < 0 || states == NULL) ? 0 : states[idx].is_set;
}

