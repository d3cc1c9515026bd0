/*
 * master_cf.c - parse and print master.cf (see master_cf.h).
 *
 * The text is cut into physical lines, which are checked for NUL and
 * control characters and joined into logical lines (continuations are
 * appended after one space). Each logical line is split into tokens; a
 * token that starts with '{' runs to the matching '}' and stands for its
 * trimmed content. Tokens are then checked column by column. Every string
 * kept in the result is a fresh copy owned by the struct master_cf.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "fdio.h"
#include "hostport.h"
#include "line_reader.h"
#include "master_cf.h"
#include "strbuf.h"

#define MASTER_CF_COLUMNS 8

struct cf_token {
    char *text;             /* owned */
    int grouped;            /* written as { ... } */
};

struct cf_parser {
    const char *file;
    char *err;
    size_t errlen;
    struct master_cf *cf;
    size_t cap;             /* capacity of cf->entries */
};

static void cf_err(struct cf_parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void cf_err(struct cf_parser *p, int line, const char *fmt, ...)
{
    char text[400];
    va_list ap;

    if (p->err == NULL || p->errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s:%d: %s", p->file, line, text);
}

static int is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

const char *master_cf_type_name(enum master_cf_type type)
{
    return type == MASTER_CF_INET ? "inet" : "unix";
}

int master_cf_flag(char flag, int def)
{
    if (flag == 'y')
        return 1;
    if (flag == 'n')
        return 0;
    return def;
}

/* ---- freeing ---------------------------------------------------------- */

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        xfree(list[i]);
    xfree(list);
}

static void entry_free(struct master_cf_entry *e)
{
    xfree(e->service);
    xfree(e->host);
    xfree(e->command);
    free_list(e->options, e->n_options);
    free_list(e->args, e->n_args);
    memset(e, 0, sizeof(*e));
}

void master_cf_free(struct master_cf *cf)
{
    if (cf == NULL)
        return;
    for (size_t i = 0; i < cf->count; i++)
        entry_free(&cf->entries[i]);
    xfree(cf->entries);
    cf->entries = NULL;
    cf->count = 0;
}

static void tokens_free(struct cf_token *toks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        xfree(toks[i].text);
    xfree(toks);
}

/* ---- tokens ----------------------------------------------------------- */

/*
 * Split a logical line into tokens. Returns the count, or -1 (err set).
 * *out is owned by the caller (tokens_free) on success.
 */
static long tokenize(struct cf_parser *p, int line, const char *s, size_t len,
                     struct cf_token **out)
{
    struct cf_token *toks = NULL;
    size_t n = 0, cap = 0, i = 0;

    while (i < len) {
        size_t start, end;
        int grouped = 0;

        while (i < len && is_blank((unsigned char)s[i]))
            i++;
        if (i >= len)
            break;
        if (n >= MASTER_CF_ARGS_MAX + MASTER_CF_COLUMNS) {
            cf_err(p, line, "too many arguments (limit %d)", MASTER_CF_ARGS_MAX);
            tokens_free(toks, n);
            return -1;
        }
        if (s[i] == '{') {
            size_t depth = 1;
            grouped = 1;
            start = ++i;
            while (i < len && depth > 0) {
                if (s[i] == '{')
                    depth++;
                else if (s[i] == '}')
                    depth--;
                i++;
            }
            if (depth > 0) {
                cf_err(p, line, "missing '}'");
                tokens_free(toks, n);
                return -1;
            }
            end = i - 1;            /* the closing brace */
            if (i < len && !is_blank((unsigned char)s[i])) {
                cf_err(p, line, "text after '}'");
                tokens_free(toks, n);
                return -1;
            }
            while (start < end && is_blank((unsigned char)s[start]))
                start++;
            while (end > start && is_blank((unsigned char)s[end - 1]))
                end--;
        } else {
            start = i;
            while (i < len && !is_blank((unsigned char)s[i]))
                i++;
            end = i;
        }
        toks = xgrow(toks, &cap, n + 1, sizeof(*toks));
        toks[n].text = xstrndup(s + start, end - start);
        toks[n].grouped = grouped;
        n++;
    }
    *out = toks;
    return (long)n;
}

/* ---- columns ---------------------------------------------------------- */

static int name_char(int c)
{
    return isalnum(c) || c == '.' || c == '_' || c == '-';
}

/* A plain name: unix service or command. */
static int plain_name_ok(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > MASTER_CF_NAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!name_char((unsigned char)name[i]))
            return 0;
    return 1;
}

/* "port", "host:port" or "[address]:port" (hostport.h). */
static int parse_inet_service(struct cf_parser *p, int line, const char *svc,
                              struct master_cf_entry *e)
{
    struct hostport hp;
    char why[256];

    if (hostport_parse(svc, HOSTPORT_PORT_ALONE, &hp, why, sizeof(why)) < 0) {
        cf_err(p, line, "bad inet service \"%s\": %s", svc, why);
        return -1;
    }
    if (!hp.has_port) {
        cf_err(p, line, "bad inet service \"%s\": expected port, host:port or [address]:port",
               svc);
        return -1;
    }
    if (hp.bracketed && hp.family == 0) {
        cf_err(p, line, "bad inet service \"%s\": only an IP address goes in brackets", svc);
        return -1;
    }
    e->host = hp.host[0] ? xstrdup(hp.host) : NULL;
    e->port = (int)hp.port;
    return 0;
}

static int parse_flag(struct cf_parser *p, int line, const char *text,
                      const char *column, char *flag)
{
    if (strcmp(text, "y") == 0 || strcmp(text, "n") == 0 || strcmp(text, "-") == 0) {
        *flag = text[0];
        return 0;
    }
    cf_err(p, line, "bad %s field \"%s\": use y, n or -", column, text);
    return -1;
}

/* Decimal digits only, no sign, at most `max`. */
static int parse_count(const char *text, size_t len, long max, long *value)
{
    long n = 0;

    if (len == 0 || len > 9)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)text[i]))
            return -1;
        n = n * 10 + (text[i] - '0');
    }
    if (n > max)
        return -1;
    *value = n;
    return 0;
}

static int parse_wakeup(struct cf_parser *p, int line, const char *text,
                        struct master_cf_entry *e)
{
    size_t len = strlen(text);

    if (strcmp(text, "-") == 0) {
        e->wakeup = 0;
        return 0;
    }
    if (len > 1 && text[len - 1] == '?') {
        e->wakeup_if_used = 1;
        len--;
    }
    if (parse_count(text, len, MASTER_CF_WAKEUP_MAX, &e->wakeup) < 0) {
        cf_err(p, line, "bad wakeup field \"%s\": use - or seconds (0..%ld), optionally with '?'",
               text, MASTER_CF_WAKEUP_MAX);
        return -1;
    }
    return 0;
}

static int parse_maxproc(struct cf_parser *p, int line, const char *text,
                         struct master_cf_entry *e)
{
    if (strcmp(text, "-") == 0) {
        e->maxproc = MASTER_CF_LIMIT_DEFAULT;
        return 0;
    }
    if (parse_count(text, strlen(text), MASTER_CF_PROC_MAX, &e->maxproc) < 0) {
        cf_err(p, line, "bad maxproc field \"%s\": use - or a number (0..%ld, 0 = no limit)",
               text, MASTER_CF_PROC_MAX);
        return -1;
    }
    return 0;
}

static void trim_span(const char **start, const char **end)
{
    while (*start < *end && is_blank((unsigned char)**start))
        (*start)++;
    while (*end > *start && is_blank((unsigned char)(*end)[-1]))
        (*end)--;
}

/* "name=value" (blanks around '=' allowed) into a normalised copy. */
static int parse_option(struct cf_parser *p, int line, const char *text, char **out)
{
    const char *eq = strchr(text, '=');
    const char *ns = text, *ne, *vs, *ve;

    if (eq == NULL) {
        cf_err(p, line, "bad -o option \"%.60s\": expected name=value", text);
        return -1;
    }
    ne = eq;
    vs = eq + 1;
    ve = text + strlen(text);
    trim_span(&ns, &ne);
    trim_span(&vs, &ve);
    if (ns == ne) {
        cf_err(p, line, "bad -o option \"%.60s\": missing parameter name", text);
        return -1;
    }
    for (const char *c = ns; c < ne; c++) {
        if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_')) {
            cf_err(p, line, "bad -o option \"%.60s\": bad parameter name", text);
            return -1;
        }
    }
    *out = xasprintf("%.*s=%.*s", (int)(ne - ns), ns, (int)(ve - vs), vs);
    return 0;
}

static int parse_args(struct cf_parser *p, int line, struct cf_token *toks, size_t n,
                      struct master_cf_entry *e)
{
    size_t cap_opt = 0, cap_arg = 0;

    for (size_t i = 0; i < n; i++) {
        const char *opt_text = NULL;
        char *opt;

        if (!toks[i].grouped && strcmp(toks[i].text, "-o") == 0) {
            if (i + 1 >= n) {
                cf_err(p, line, "missing name=value after -o");
                return -1;
            }
            opt_text = toks[++i].text;
        } else if (!toks[i].grouped && strncmp(toks[i].text, "-o", 2) == 0) {
            opt_text = toks[i].text + 2;
        }
        if (opt_text != NULL) {
            if (parse_option(p, line, opt_text, &opt) < 0)
                return -1;
            e->options = xgrow(e->options, &cap_opt, e->n_options + 1, sizeof(char *));
            e->options[e->n_options++] = opt;
            continue;
        }
        e->args = xgrow(e->args, &cap_arg, e->n_args + 1, sizeof(char *));
        e->args[e->n_args++] = xstrdup(toks[i].text);
    }
    return 0;
}

static int same_listener(const struct master_cf_entry *a, const struct master_cf_entry *b)
{
    if (a->type != b->type)
        return 0;
    if (a->type == MASTER_CF_UNIX)
        return strcmp(a->service, b->service) == 0;
    if (a->port != b->port)
        return 0;
    if (a->host == NULL || b->host == NULL)
        return a->host == b->host;
    return strcasecmp(a->host, b->host) == 0;
}

static int parse_columns(struct cf_parser *p, int line, struct cf_token *toks, size_t n,
                         struct master_cf_entry *e)
{
    e->line = line;
    if (n < MASTER_CF_COLUMNS) {
        cf_err(p, line, "expected at least %d fields (service type private unpriv chroot "
               "wakeup maxproc command), got %zu", MASTER_CF_COLUMNS, n);
        return -1;
    }
    for (size_t i = 0; i < MASTER_CF_COLUMNS; i++) {
        if (toks[i].grouped) {
            cf_err(p, line, "braces are allowed only in command arguments");
            return -1;
        }
    }
    e->service = xstrdup(toks[0].text);
    e->command = xstrdup(toks[7].text);
    if (strcmp(toks[1].text, "inet") == 0) {
        e->type = MASTER_CF_INET;
        if (parse_inet_service(p, line, toks[0].text, e) < 0)
            return -1;
    } else if (strcmp(toks[1].text, "unix") == 0) {
        e->type = MASTER_CF_UNIX;
        if (!plain_name_ok(toks[0].text)) {
            cf_err(p, line, "bad unix service name \"%.80s\": use letters, digits, '.', '_', '-'",
                   toks[0].text);
            return -1;
        }
    } else {
        cf_err(p, line, "unsupported service type \"%.40s\": use inet or unix", toks[1].text);
        return -1;
    }
    if (parse_flag(p, line, toks[2].text, "private", &e->private_flag) < 0
        || parse_flag(p, line, toks[3].text, "unpriv", &e->unpriv_flag) < 0
        || parse_flag(p, line, toks[4].text, "chroot", &e->chroot_flag) < 0
        || parse_wakeup(p, line, toks[5].text, e) < 0
        || parse_maxproc(p, line, toks[6].text, e) < 0)
        return -1;
    if (!plain_name_ok(toks[7].text)) {
        cf_err(p, line, "bad command name \"%.80s\": a program name in daemon_directory, "
               "without '/'", toks[7].text);
        return -1;
    }
    return parse_args(p, line, toks + MASTER_CF_COLUMNS, n - MASTER_CF_COLUMNS, e);
}

/* Parse one logical line and append it to p->cf. */
static int take_entry(struct cf_parser *p, int line, const char *text, size_t len)
{
    struct cf_token *toks = NULL;
    struct master_cf_entry e;
    long n;

    memset(&e, 0, sizeof(e));
    n = tokenize(p, line, text, len, &toks);
    if (n < 0)
        return -1;
    if (parse_columns(p, line, toks, (size_t)n, &e) < 0) {
        tokens_free(toks, (size_t)n);
        entry_free(&e);
        return -1;
    }
    tokens_free(toks, (size_t)n);
    for (size_t i = 0; i < p->cf->count; i++) {
        if (same_listener(&p->cf->entries[i], &e)) {
            cf_err(p, line, "duplicate service \"%s\" type %s (first defined at line %d)",
                   e.service, master_cf_type_name(e.type), p->cf->entries[i].line);
            entry_free(&e);
            return -1;
        }
    }
    if (p->cf->count >= MASTER_CF_ENTRY_MAX) {
        cf_err(p, line, "too many services (limit %d)", MASTER_CF_ENTRY_MAX);
        entry_free(&e);
        return -1;
    }
    p->cf->entries = xgrow(p->cf->entries, &p->cap, p->cf->count + 1, sizeof(e));
    p->cf->entries[p->cf->count++] = e;
    return 0;
}

/* ---- lines ------------------------------------------------------------ */

static int check_chars(struct cf_parser *p, int line, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\0') {
            cf_err(p, line, "NUL character");
            return -1;
        }
        if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
            cf_err(p, line, "control character 0x%02x", c);
            return -1;
        }
    }
    return 0;
}

int master_cf_parse(struct master_cf *cf, const char *filename,
                    const char *text, size_t len, char *err, size_t errlen)
{
    struct cf_parser p = { filename ? filename : "master.cf", err, errlen, cf, 0 };
    struct line_reader reader;
    char *line;
    size_t line_len;
    unsigned lineno;
    int rc;

    cf->entries = NULL;
    cf->count = 0;
    if (len > MASTER_CF_SIZE_MAX) {
        cf_err(&p, 0, "file too large (limit %d bytes)", MASTER_CF_SIZE_MAX);
        return -1;
    }
    line_reader_init(&reader, p.file, text, len, MASTER_CF_LINE_MAX);
    while ((rc = line_reader_next(&reader, &line, &line_len, &lineno, err, errlen)) == 1) {
        if (check_chars(&p, (int)lineno, line, line_len) < 0
            || take_entry(&p, (int)lineno, line, line_len) < 0) {
            rc = -1;
            break;
        }
    }
    line_reader_free(&reader);
    if (rc < 0)
        master_cf_free(cf);
    return rc;
}

int master_cf_load(struct master_cf *cf, const char *path, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    int rc;

    cf->entries = NULL;
    cf->count = 0;
    if (fdio_read_file(path, MASTER_CF_SIZE_MAX, &buf, &len) < 0) {
        if (errno == EFBIG)
            snprintf(err, errlen, "%s: file too large (limit %d bytes)", path, MASTER_CF_SIZE_MAX);
        else
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    rc = master_cf_parse(cf, path, buf, len, err, errlen);
    xfree(buf);
    return rc;
}

/* ---- lookups ---------------------------------------------------------- */

const struct master_cf_entry *master_cf_find(const struct master_cf *cf,
                                             const char *service,
                                             enum master_cf_type type)
{
    for (size_t i = 0; i < cf->count; i++)
        if (cf->entries[i].type == type && strcmp(cf->entries[i].service, service) == 0)
            return &cf->entries[i];
    return NULL;
}

const char *master_cf_option(const struct master_cf_entry *entry, const char *name)
{
    size_t len = strlen(name);
    const char *found = NULL;

    for (size_t i = 0; i < entry->n_options; i++) {
        const char *opt = entry->options[i];
        if (strncmp(opt, name, len) == 0 && opt[len] == '=')
            found = opt + len + 1;
    }
    return found;
}

/* ---- printing --------------------------------------------------------- */

static int has_blank(const char *text)
{
    for (const char *c = text; *c; c++)
        if (is_blank((unsigned char)*c))
            return 1;
    return 0;
}

/*
 * Does this argument need braces to be read back as the same argument?
 * Empty text, blanks, a leading '{' and anything that would be taken for
 * a -o option do. Such an argument came from braces, so its own braces
 * balance.
 */
static int arg_needs_group(const char *text)
{
    return text[0] == '\0' || text[0] == '{' || strncmp(text, "-o", 2) == 0
           || has_blank(text);
}

static void print_entry(struct strbuf *sb, const struct master_cf_entry *e)
{
    char wakeup[32], maxproc[32];

    if (e->wakeup == 0 && !e->wakeup_if_used)
        snprintf(wakeup, sizeof(wakeup), "-");
    else
        snprintf(wakeup, sizeof(wakeup), "%ld%s", e->wakeup, e->wakeup_if_used ? "?" : "");
    if (e->maxproc == MASTER_CF_LIMIT_DEFAULT)
        snprintf(maxproc, sizeof(maxproc), "-");
    else
        snprintf(maxproc, sizeof(maxproc), "%ld", e->maxproc);
    strbuf_printf(sb, "%-10s %-5s %-7c %-7c %-7c %-7s %-7s %s", e->service,
           master_cf_type_name(e->type), e->private_flag, e->unpriv_flag,
           e->chroot_flag, wakeup, maxproc, e->command);
    for (size_t i = 0; i < e->n_args; i++) {
        if (e->args[i][0] == '\0')
            strbuf_printf(sb, " { }");
        else if (arg_needs_group(e->args[i]))
            strbuf_printf(sb, " { %s }", e->args[i]);
        else
            strbuf_printf(sb, " %s", e->args[i]);
    }
    for (size_t i = 0; i < e->n_options; i++) {
        const char *eq = strchr(e->options[i], '=');
        if (has_blank(eq + 1))
            strbuf_printf(sb, "\n  -o { %.*s = %s }", (int)(eq - e->options[i]), e->options[i], eq + 1);
        else
            strbuf_printf(sb, "\n  -o %s", e->options[i]);
    }
    strbuf_printf(sb, "\n");
}

char *master_cf_print(const struct master_cf *cf)
{
    struct strbuf sb = STRBUF_INIT;

    strbuf_printf(&sb, "# service type  private unpriv  chroot  wakeup  maxproc command + args\n");
    for (size_t i = 0; i < cf->count; i++)
        print_entry(&sb, &cf->entries[i]);
    return strbuf_detach(&sb);
}
