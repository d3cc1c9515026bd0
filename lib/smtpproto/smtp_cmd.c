/*
 * smtp_cmd.c - the syntax of one SMTP command line as a server receives it.
 *
 * smtp_cmd_split() checks the line byte by byte (printable US-ASCII only),
 * recognises the verb, copies the line into cmd->buf and finds the rest;
 * the smtp_cmd_parse_*() functions split the rest there in place: arg, addr
 * and the parameters point into that copy. Addresses follow RFC 5321 4.1.2
 * (Path, Mailbox, Local-part, Domain, address-literal) with the length
 * limits of 4.5.3.1. The struct owns everything; nothing is allocated. See
 * smtp_cmd.h for the full contract.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtp_cmd.h"

/* Each verb's name and the grammar its usage reply shows. */
struct verb_syntax {
    const char *name;
    enum smtp_verb verb;
    const char *usage;          /* "501 5.5.4 Syntax: <usage>" */
};

static const struct verb_syntax smtp_verbs[] = {
    {"EHLO", SMTP_VERB_EHLO, "EHLO hostname"},
    {"HELO", SMTP_VERB_HELO, "HELO hostname"},
    {"MAIL", SMTP_VERB_MAIL, "MAIL FROM:<address>"},
    {"RCPT", SMTP_VERB_RCPT, "RCPT TO:<address>"},
    {"DATA", SMTP_VERB_DATA, "DATA"},
    {"RSET", SMTP_VERB_RSET, "RSET"},
    {"NOOP", SMTP_VERB_NOOP, "NOOP [text]"},
    {"QUIT", SMTP_VERB_QUIT, "QUIT"},
    {"HELP", SMTP_VERB_HELP, "HELP [topic]"},
    {"VRFY", SMTP_VERB_VRFY, "VRFY address"},
    {"EXPN", SMTP_VERB_EXPN, "EXPN mailing-list"},
    {"STARTTLS", SMTP_VERB_STARTTLS, "STARTTLS"},
    {"BDAT", SMTP_VERB_BDAT, "BDAT count [LAST]"},
    {"AUTH", SMTP_VERB_AUTH, "AUTH mechanism"},
};

#define N_VERBS (sizeof(smtp_verbs) / sizeof(smtp_verbs[0]))

/* The row of `verb`; NULL for SMTP_VERB_UNKNOWN. */
static const struct verb_syntax *verb_syntax(enum smtp_verb verb)
{
    size_t i;

    for (i = 0; i < N_VERBS; i++)
        if (smtp_verbs[i].verb == verb)
            return &smtp_verbs[i];
    return NULL;
}

/* ---- character classes (ASCII only; never locale-dependent) ---- */

static int is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_alnum(unsigned char c)
{
    return is_alpha(c) || is_digit(c);
}

static unsigned char to_upper(unsigned char c)
{
    return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 'a' + 'A') : c;
}

/* RFC 5322 atext. */
static int is_atext(unsigned char c)
{
    return is_alnum(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* RFC 5321 qtextSMTP: printable except '"' and '\'. */
static int is_qtext(unsigned char c)
{
    return c >= 32 && c <= 126 && c != '"' && c != '\\';
}

/* Case-insensitive compare of `len` bytes with an upper-case word. */
static int word_eq(const char *s, size_t len, const char *word)
{
    size_t i;

    if (strlen(word) != len)
        return 0;
    for (i = 0; i < len; i++)
        if (to_upper((unsigned char)s[i]) != (unsigned char)word[i])
            return 0;
    return 1;
}

/* Case-insensitive: does NUL-terminated `s` start with upper-case `word`? */
static int has_prefix(const char *s, const char *word)
{
    size_t i;

    for (i = 0; word[i] != 0; i++)
        if (to_upper((unsigned char)s[i]) != (unsigned char)word[i])
            return 0;
    return 1;
}

/* ---- addresses ---- */

/* One hostname of `len` bytes: dot-separated LDH labels. 0 ok, -1 bad. */
static int hostname_check(const char *s, size_t len)
{
    size_t i, label = 0;

    if (len == 0 || len > SMTP_DOMAIN_MAX)
        return -1;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return -1;
            label = 0;
            continue;
        }
        if (!is_alnum(c) && c != '-')
            return -1;
        if (label == 0 && c == '-')
            return -1;
        if (++label > 63)
            return -1;
    }
    if (label == 0 || s[len - 1] == '-')
        return -1;
    return 0;
}

/* An address literal "[...]" of `len` bytes (IPv4 or IPv6 only). */
static int literal_check(const char *s, size_t len)
{
    char ip[64];
    unsigned char bin[16];
    size_t n;
    int family = AF_INET;

    if (len < 3 || s[0] != '[' || s[len - 1] != ']')
        return -1;
    s++;
    n = len - 2;
    if (n > 5 && word_eq(s, 5, "IPV6:")) {
        family = AF_INET6;
        s += 5;
        n -= 5;
    }
    if (n == 0 || n >= sizeof(ip))
        return -1;
    memcpy(ip, s, n);
    ip[n] = 0;
    return inet_pton(family, ip, bin) == 1 ? 0 : -1;
}

/* A Domain or address-literal of exactly `len` bytes. */
static int domain_check(const char *s, size_t len)
{
    if (len > 0 && s[0] == '[')
        return literal_check(s, len);
    return hostname_check(s, len);
}

/*
 * Length of the local-part at the start of `s` (`len` bytes available):
 * a quoted-string or a dot-atom. Returns the length or -1 when invalid.
 */
static long local_part_len(const char *s, size_t len)
{
    size_t i;

    if (len == 0)
        return -1;
    if (s[0] == '"') {
        for (i = 1; i < len; i++) {
            unsigned char c = (unsigned char)s[i];

            if (c == '"')
                return (long)(i + 1);
            if (c == '\\') {
                if (i + 1 >= len || s[i + 1] < 32 || s[i + 1] > 126)
                    return -1;
                i++;
            } else if (!is_qtext(c)) {
                return -1;
            }
        }
        return -1;                      /* unbalanced quote */
    }
    for (i = 0; i < len && s[i] != '@'; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '.') {
            if (i == 0 || s[i - 1] == '.')
                return -1;
        } else if (!is_atext(c)) {
            return -1;
        }
    }
    if (i == 0 || s[i - 1] == '.')
        return -1;
    return (long)i;
}

int smtp_addr_check(const char *addr, size_t len)
{
    long local;

    if (len == 0 || len > SMTP_ADDR_MAX)
        return -1;
    local = local_part_len(addr, len);
    if (local < 0 || local > SMTP_LOCAL_PART_MAX)
        return -1;
    if ((size_t)local == len)
        return 0;                       /* no domain: "postmaster" */
    if (addr[local] != '@')
        return -1;
    return domain_check(addr + local + 1, len - (size_t)local - 1);
}

int smtp_addr_domain(const char *addr, const char **domain)
{
    const char *at = NULL;
    const char *p;
    int quoted = 0;

    for (p = addr; *p != 0; p++) {
        if (quoted && *p == '\\' && p[1] != 0) {
            p++;
        } else if (*p == '"') {
            quoted = !quoted;
        } else if (*p == '@' && !quoted) {
            at = p;
        }
    }
    if (at == NULL || at[1] == 0) {
        *domain = p;
        return -1;
    }
    *domain = at + 1;
    return 0;
}

/* ---- replies ---- */

static int cmd_fail(struct smtp_cmd *cmd, enum smtp_cmd_err err, const char *reply)
{
    cmd->err = err;
    snprintf(cmd->reply, sizeof(cmd->reply), "%s", reply);
    return -1;
}

/* "501 5.5.4 Syntax: <the verb's usage>" */
static int cmd_usage(struct smtp_cmd *cmd)
{
    const struct verb_syntax *syntax = verb_syntax(cmd->verb);

    cmd->err = SMTP_CMD_ERR_SYNTAX;
    snprintf(cmd->reply, sizeof(cmd->reply), "501 5.5.4 Syntax: %s",
             syntax != NULL ? syntax->usage : "UNKNOWN");
    return -1;
}

/* "501 5.5.4 <what>[: <keyword>]" */
static int cmd_param_fail(struct smtp_cmd *cmd, const char *what, const char *keyword)
{
    cmd->err = SMTP_CMD_ERR_PARAM;
    if (keyword == NULL || *keyword == 0)
        snprintf(cmd->reply, sizeof(cmd->reply), "501 5.5.4 %s", what);
    else
        snprintf(cmd->reply, sizeof(cmd->reply), "501 5.5.4 %s: %.64s", what, keyword);
    return -1;
}

/* cmd->rest, writable: the parsers split it in place inside cmd->buf. */
static char *cmd_rest(struct smtp_cmd *cmd)
{
    return cmd->buf + (cmd->rest - cmd->buf);
}

/* ---- MAIL / RCPT ---- */

/* What differs between the MAIL and the RCPT path. */
struct path_grammar {
    const char *keyword;        /* "FROM:" / "TO:" */
    const char *bad_path;       /* the reply for a bad path */
    int null_path_ok;           /* "<>" is a valid path */
    int mail_params;            /* SIZE= and BODY= are understood */
};

static const struct path_grammar mail_grammar = {
    "FROM:", "501 5.1.7 Bad sender address syntax", 1, 1,
};
static const struct path_grammar rcpt_grammar = {
    "TO:", "501 5.1.3 Bad recipient address syntax", 0, 0,
};

static int cmd_bad_path(struct smtp_cmd *cmd, const struct path_grammar *g)
{
    cmd->addr = NULL;
    return cmd_fail(cmd, SMTP_CMD_ERR_BAD_ADDR, g->bad_path);
}

/* Parse 1-20 digits into *value; 0 ok, -1 bad or too big for uint64_t. */
static int parse_count(const char *s, size_t len, uint64_t *value)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0 || len > 20)
        return -1;
    for (i = 0; i < len; i++) {
        unsigned d;

        if (!is_digit((unsigned char)s[i]))
            return -1;
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *value = v;
    return 0;
}

/*
 * Skip a source route "@d1,@d2:" at the start of the `len` bytes at `s`.
 * Returns its length (0 when there is none), -1 when it is malformed.
 */
static long source_route_len(const char *s, size_t len)
{
    size_t i = 0;

    if (len == 0 || s[0] != '@')
        return 0;
    for (;;) {
        size_t start;

        if (i >= len || s[i] != '@')
            return -1;
        start = ++i;
        if (i < len && s[i] == '[') {
            while (i < len && s[i] != ']')
                i++;
            if (i < len)
                i++;
        } else {
            while (i < len && s[i] != ',' && s[i] != ':')
                i++;
        }
        if (domain_check(s + start, i - start) < 0 || i >= len)
            return -1;
        if (s[i] == ':')
            return (long)(i + 1);
        if (s[i] != ',')
            return -1;
        i++;
    }
}

/*
 * Parse the path that starts at `p` (at '<') into cmd->addr. On success
 * *end points just past the '>'. The '>' is overwritten with NUL.
 */
static int parse_path(struct smtp_cmd *cmd, const struct path_grammar *g, char *p, char **end)
{
    char *q;
    size_t inner;
    long route;
    int quoted = 0;

    if (*p != '<')
        return cmd_bad_path(cmd, g);
    for (q = p + 1; *q != 0; q++) {
        if (quoted && *q == '\\' && q[1] != 0)
            q++;
        else if (*q == '"')
            quoted = !quoted;
        else if (*q == '>' && !quoted)
            break;
    }
    if (*q != '>' || (size_t)(q - p + 1) > SMTP_PATH_MAX)
        return cmd_bad_path(cmd, g);
    if (q[1] != 0 && q[1] != ' ')
        return cmd_bad_path(cmd, g);
    *end = q + 1;
    *q = 0;
    p++;
    inner = (size_t)(q - p);
    if (inner == 0) {
        if (!g->null_path_ok)
            return cmd_bad_path(cmd, g);
        cmd->addr = p;
        return 0;
    }
    route = source_route_len(p, inner);
    if (route < 0)
        return cmd_bad_path(cmd, g);
    cmd->addr_routed = route > 0;
    p += route;
    inner -= (size_t)route;
    if (smtp_addr_check(p, inner) < 0)
        return cmd_bad_path(cmd, g);
    cmd->addr = p;
    return 0;
}

/* Check one ESMTP keyword[=value] token syntax (NUL-terminated, in place). */
static int param_syntax_ok(const char *keyword, const char *value)
{
    const char *s;

    if (!is_alnum((unsigned char)keyword[0]))
        return 0;
    for (s = keyword + 1; *s != 0; s++)
        if (!is_alnum((unsigned char)*s) && *s != '-')
            return 0;
    if (value == NULL)
        return 1;
    if (*value == 0)
        return 0;
    for (s = value; *s != 0; s++)
        if (*s == '=' || *s < 33 || *s > 126)
            return 0;
    return 1;
}

/* Split the SP-separated parameters at `p` into cmd->params. */
static int split_params(struct smtp_cmd *cmd, char *p)
{
    while (*p != 0) {
        struct smtp_param *param;
        char *eq;
        size_t i;

        while (*p == ' ')
            p++;
        if (*p == 0)
            break;
        if (cmd->n_params >= SMTP_CMD_PARAMS_MAX)
            return cmd_param_fail(cmd, "Too many parameters", NULL);
        param = &cmd->params[cmd->n_params];
        param->keyword = p;
        param->value = NULL;
        while (*p != 0 && *p != ' ')
            p++;
        if (*p == ' ')
            *p++ = 0;
        eq = strchr(param->keyword, '=');
        if (eq != NULL) {
            *eq = 0;
            param->value = eq + 1;
        }
        if (!param_syntax_ok(param->keyword, param->value))
            return cmd_param_fail(cmd, "Bad parameter syntax", param->keyword);
        for (i = 0; i < cmd->n_params; i++)
            if (strcasecmp(param->keyword, cmd->params[i].keyword) == 0)
                return cmd_param_fail(cmd, "Duplicate parameter", param->keyword);
        cmd->n_params++;
    }
    return 0;
}

/* Interpret the MAIL parameters SIZE and BODY; flag the first unknown. */
static int check_params(struct smtp_cmd *cmd, const struct path_grammar *g)
{
    size_t i;

    for (i = 0; i < cmd->n_params; i++) {
        const struct smtp_param *param = &cmd->params[i];
        const char *v = param->value;

        if (g->mail_params && strcasecmp(param->keyword, "SIZE") == 0) {
            if (v == NULL || parse_count(v, strlen(v), &cmd->size) < 0)
                return cmd_param_fail(cmd, "Bad SIZE parameter", NULL);
            cmd->has_size = 1;
        } else if (g->mail_params && strcasecmp(param->keyword, "BODY") == 0) {
            if (v != NULL && strcasecmp(v, "7BIT") == 0)
                cmd->body = SMTP_BODY_7BIT;
            else if (v != NULL && strcasecmp(v, "8BITMIME") == 0)
                cmd->body = SMTP_BODY_8BITMIME;
            else
                return cmd_param_fail(cmd, "Bad BODY parameter", NULL);
        } else if (cmd->unsupported == NULL) {
            cmd->unsupported = param->keyword;
        }
    }
    if (cmd->unsupported != NULL) {
        cmd->err = SMTP_CMD_ERR_UNSUPPORTED;
        snprintf(cmd->reply, sizeof(cmd->reply),
                 "555 5.5.4 Unsupported option: %.64s", cmd->unsupported);
        return -1;
    }
    return 0;
}

/* "KEYWORD<path> [params]" in cmd->rest. */
static int parse_path_args(struct smtp_cmd *cmd, const struct path_grammar *g)
{
    char *p, *end;

    if (!has_prefix(cmd->rest, g->keyword))
        return cmd_usage(cmd);
    p = cmd_rest(cmd) + strlen(g->keyword);
    while (*p == ' ')
        p++;
    if (*p == 0)
        return cmd_usage(cmd);
    if (parse_path(cmd, g, p, &end) < 0)
        return -1;
    if (split_params(cmd, end) < 0)
        return -1;
    return check_params(cmd, g);
}

int smtp_cmd_parse_mail(struct smtp_cmd *cmd)
{
    if (cmd->rest == NULL)
        return -1;
    return parse_path_args(cmd, &mail_grammar);
}

int smtp_cmd_parse_rcpt(struct smtp_cmd *cmd)
{
    if (cmd->rest == NULL)
        return -1;
    return parse_path_args(cmd, &rcpt_grammar);
}

/* ---- other verbs ---- */

int smtp_cmd_parse_none(struct smtp_cmd *cmd)
{
    if (cmd->rest == NULL)
        return -1;
    if (*cmd->rest != 0)
        return cmd_usage(cmd);
    return 0;
}

int smtp_cmd_parse_text(struct smtp_cmd *cmd)
{
    if (cmd->rest == NULL)
        return -1;
    if (*cmd->rest == 0)
        return cmd_usage(cmd);
    cmd->arg = cmd->rest;
    return 0;
}

int smtp_cmd_parse_text_optional(struct smtp_cmd *cmd)
{
    if (cmd->rest == NULL)
        return -1;
    cmd->arg = *cmd->rest != 0 ? cmd->rest : NULL;
    return 0;
}

int smtp_cmd_parse_hello(struct smtp_cmd *cmd)
{
    const char *name = cmd->rest;

    if (name == NULL)
        return -1;
    if (*name == 0 || strchr(name, ' ') != NULL)
        return cmd_usage(cmd);
    cmd->arg = name;
    cmd->helo_strict = domain_check(name, strlen(name)) == 0;
    return 0;
}

int smtp_cmd_parse_bdat(struct smtp_cmd *cmd)
{
    const char *p = cmd->rest;

    if (p == NULL)
        return -1;
    while (*p != 0 && *p != ' ')
        p++;
    if (parse_count(cmd->rest, (size_t)(p - cmd->rest), &cmd->bdat_size) < 0)
        return cmd_usage(cmd);
    while (*p == ' ')
        p++;
    if (*p == 0)
        return 0;
    if (strcasecmp(p, "LAST") != 0)
        return cmd_usage(cmd);
    cmd->bdat_last = 1;
    return 0;
}

/* ---- splitting the line ---- */

const char *smtp_verb_name(enum smtp_verb verb)
{
    const struct verb_syntax *syntax = verb_syntax(verb);

    return syntax != NULL ? syntax->name : "UNKNOWN";
}

/* The verb named by the first SP-delimited token of the raw line. */
static enum smtp_verb lookup_verb(const char *line, size_t len, size_t *verb_len)
{
    const char *sp = memchr(line, ' ', len);
    size_t n = sp != NULL ? (size_t)(sp - line) : len;
    size_t i;

    *verb_len = n;
    for (i = 0; i < N_VERBS; i++)
        if (word_eq(line, n, smtp_verbs[i].name))
            return smtp_verbs[i].verb;
    return SMTP_VERB_UNKNOWN;
}

int smtp_cmd_split(struct smtp_cmd *cmd, const char *line, size_t len)
{
    size_t i, verb_len;
    char *rest;

    memset(cmd, 0, sizeof(*cmd));
    cmd->verb = lookup_verb(line, len, &verb_len);
    if (len > SMTP_CMD_LINE_MAX)
        return cmd_fail(cmd, SMTP_CMD_ERR_TOO_LONG, "500 5.5.2 Error: command line too long");
    if (len == 0)
        return cmd_fail(cmd, SMTP_CMD_ERR_SYNTAX, "500 5.5.2 Error: bad syntax");
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];

        if (c < 0x20 || c > 0x7e)
            return cmd_fail(cmd, SMTP_CMD_ERR_BAD_CHAR, "500 5.5.2 Error: bad syntax");
    }
    if (cmd->verb == SMTP_VERB_UNKNOWN)
        return cmd_fail(cmd, SMTP_CMD_ERR_UNKNOWN, "502 5.5.2 Error: command not recognized");
    memcpy(cmd->buf, line, len);
    cmd->buf[len] = 0;
    while (len > verb_len && cmd->buf[len - 1] == ' ')
        cmd->buf[--len] = 0;
    rest = cmd->buf + verb_len;
    while (*rest == ' ')
        rest++;
    cmd->rest = rest;
    return 0;
}
