/*
 * test_dict.c - lookup tables: the text parser, lmdb (build, lookup, fold,
 * duplicates, update, delete, reload after an atomic rebuild), pcre, cidr,
 * inline, static, lists, and the address/domain search orders. Every
 * malformed-input case checks the "FILE:LINE: message" text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "check.h"
#include "dict.h"
#include "dict_lmdb.h"
#include "dict_text.h"

static char tmpdir[] = "/tmp/test_dict.XXXXXX";

static char *path_of(const char *name)
{
    return xasprintf("%s/%s", tmpdir, name);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    if (fp == NULL) {
        perror(path);
        exit(2);
    }
    fputs(text, fp);
    fclose(fp);
}

/* Open "type:DIR/name" after writing text to DIR/name. */
static int open_file_table(const char *type, const char *name, const char *text,
                           struct dict **dict, char *err, size_t errlen)
{
    char *path = path_of(name);
    char *spec = xasprintf("%s:%s", type, path);
    int rc;

    write_file(path, text);
    rc = dict_open(spec, 0, dict, err, errlen);
    xfree(spec);
    xfree(path);
    return rc;
}

/* "value", "(notfound)" or "(tempfail)" for a lookup. */
static const char *answer(struct dict *dict, const char *key)
{
    struct dict_result res;

    switch (dict_lookup(dict, key, &res)) {
    case DICT_FOUND:
        return res.value;
    case DICT_NOTFOUND:
        return "(notfound)";
    case DICT_TEMPFAIL:
        return "(tempfail)";
    default:
        return "(bad result code)";
    }
}

/* The error text with the temp dir replaced by "DIR". */
static const char *rel(const char *text)
{
    static char buf[DICT_ERR_MAX];
    const char *p = strstr(text, tmpdir);

    if (p == NULL)
        return text;
    snprintf(buf, sizeof(buf), "%.*sDIR%s", (int)(p - text), text, p + strlen(tmpdir));
    return buf;
}

/* ------------------------------------------------------------------ */
/* text parser                                                         */

static int collect(const char *key, const char *value, unsigned lineno, void *ctx)
{
    char *out = ctx;
    size_t used = strlen(out);

    snprintf(out + used, 512 - used, "%s%u:%s=%s", used ? "|" : "", lineno, key, value);
    return 0;
}

struct text_case {
    const char *input;
    const char *want;       /* entries "line:key=value|...", or the error */
};

static const struct text_case text_cases[] = {
    {"a b\n", "1:a=b"},
    {"Foo.COM   bar value  \n", "1:foo.com=bar value"},
    {"k v\n  more\n\tand more\n", "1:k=v  more\tand more"},
    {"# comment\n\nk v\n   # indented comment\n  cont\n", "3:k=v  cont"},
    {"a 1\r\nb 2\r\n", "1:a=1|2:b=2"},
    {"a 1\nb 2", "1:a=1|2:b=2"},
    {"user@Example.com  smtp:[relay]:25\n", "1:user@example.com=smtp:[relay]:25"},
    {"", ""},
    {"\n\n# only comments\n", ""},
    {"  leading\n", "t:1: continuation line (starting with white space) without a line before it"},
    {"key\n", "t:1: expected format: key whitespace value"},
    {"a b\nkeyonly   \n", "t:2: expected format: key whitespace value"},
    {"a b\nx\0y z\n", "t:2: NUL character"},
};

static void test_text(void)
{
    for (size_t i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
        const struct text_case *tc = &text_cases[i];
        char out[512] = "";
        char err[DICT_ERR_MAX] = "";
        size_t len = strlen(tc->input);
        int rc;

        if (i == sizeof(text_cases) / sizeof(text_cases[0]) - 1)
            len = 10;           /* the case with an embedded NUL */
        rc = dict_text_parse("t", tc->input, len, collect, out, err, sizeof(err));
        CHECK_STR(tc->input, rc == 0 ? out : err, tc->want);
    }

    /* A key of DICT_KEY_MAX bytes is fine, one more is not. */
    {
        char line[DICT_KEY_MAX + 16];
        char out[2048] = "", err[DICT_ERR_MAX] = "";
        memset(line, 'k', DICT_KEY_MAX + 1);
        strcpy(line + DICT_KEY_MAX + 1, " v\n");
        CHECK_LONG("key too long", dict_text_parse("t", line, strlen(line), collect, out, err,
                                                   sizeof(err)), -1);
        CHECK_STR("key too long", err, "t:1: key too long (512 bytes, at most 511)");
    }
    /* A logical line beyond DICT_LINE_MAX. */
    {
        size_t n = DICT_LINE_MAX + 10;
        char *big = xmalloc(n + 8);
        char out[512] = "", err[DICT_ERR_MAX] = "";
        memset(big, 'v', n);
        memcpy(big, "k ", 2);
        big[n] = '\n';
        big[n + 1] = '\0';
        CHECK_LONG("line too long", dict_text_parse("t", big, n + 1, collect, out, err,
                                                    sizeof(err)), -1);
        CHECK_STR("line too long", err, "t:1: logical line too long (more than 65536 bytes)");
        xfree(big);
    }
}

/* ------------------------------------------------------------------ */
/* lmdb                                                                */

static int walk(const char *key, const char *value, void *ctx)
{
    char *out = ctx;
    size_t used = strlen(out);

    snprintf(out + used, 512 - used, "%s%s=%s", used ? "|" : "", key, value);
    return 0;
}

static void test_lmdb(void)
{
    char *src = path_of("access");
    char *spec = xasprintf("lmdb:%s", src);
    char *want_where = xasprintf("lmdb:%s key=example.com", src);
    char err[DICT_ERR_MAX] = "";
    struct dict *d = NULL;
    struct dict_result res;
    size_t n = 0;
    char out[512] = "";

    /* Not built yet: the open fails and says what to do. */
    CHECK_LONG("open unbuilt", dict_open(spec, 0, &d, err, sizeof(err)), -1);
    CHECK_TRUE(err, strstr(err, "run postmap") != NULL);

    write_file(src, "# access table\nExample.COM   OK\nuser@example.com REJECT no thanks\n"
                    "example.com  DUPLICATE\nlong.example  first part\n   second part\n");
    CHECK_LONG("build", dict_lmdb_build(src, DICT_LMDB_DUP_WARN, &n, err, sizeof(err)), 0);
    CHECK_LONG("entries", n, 3);
    CHECK_LONG("open", dict_open(spec, 0, &d, err, sizeof(err)), 0);
    CHECK_STR("spec", dict_spec(d), spec);
    CHECK_STR("found, first duplicate wins", answer(d, "example.com"), "OK");
    CHECK_STR("folded key", answer(d, "EXAMPLE.com"), "OK");
    CHECK_STR("value with spaces", answer(d, "user@example.com"), "REJECT no thanks");
    CHECK_STR("continued value", answer(d, "long.example"), "first part   second part");
    CHECK_STR("not found", answer(d, "example.org"), "(notfound)");
    CHECK_STR("empty key", answer(d, ""), "(notfound)");
    CHECK_LONG("where", dict_lookup(d, "Example.Com", &res), DICT_FOUND);
    CHECK_STR("where", res.where, want_where);
    CHECK_STR("matched key", res.key, "example.com");
    CHECK_LONG("iterate", dict_iterate(d, walk, out, err, sizeof(err)), 0);
    CHECK_STR("iterate in key order", out,
              "example.com=OK|long.example=first part   second part|"
              "user@example.com=REJECT no thanks");

    /* -r: the last duplicate wins. */
    CHECK_LONG("build -r", dict_lmdb_build(src, DICT_LMDB_DUP_REPLACE, &n, err, sizeof(err)), 0);
    sleep(1);
    CHECK_STR("replace: last duplicate", answer(d, "example.com"), "DUPLICATE");

    /* A bad line: error with file:line, and the old table stays. */
    write_file(src, "example.com NEW\nbroken\n");
    CHECK_LONG("bad build", dict_lmdb_build(src, DICT_LMDB_DUP_WARN, &n, err, sizeof(err)), -1);
    CHECK_STR("bad build message", rel(err), "DIR/access:2: expected format: key whitespace value");
    sleep(1);
    CHECK_STR("old table unchanged", answer(d, "example.com"), "DUPLICATE");

    /* Atomic rebuild with the code postmap uses: the open dict sees it. */
    write_file(src, "example.com REBUILT\nnew.example yes\n");
    CHECK_LONG("rebuild", dict_lmdb_build(src, DICT_LMDB_DUP_WARN, &n, err, sizeof(err)), 0);
    sleep(1);
    CHECK_STR("reloaded value", answer(d, "example.com"), "REBUILT");
    CHECK_STR("reloaded new key", answer(d, "new.example"), "yes");
    CHECK_STR("reloaded: old key gone", answer(d, "user@example.com"), "(notfound)");

    /* In-place update and delete (postmap -i, -d). */
    {
        const char *input = "Added.example 1\nexample.com IGNORED\n";
        const char *keys[] = {"NEW.example", "absent.example"};
        size_t added = 0, deleted = 0;

        CHECK_LONG("update", dict_lmdb_update(src, "stdin", input, strlen(input),
                                              DICT_LMDB_DUP_WARN, &added, err, sizeof(err)), 0);
        CHECK_LONG("added", added, 1);
        sleep(1);
        CHECK_STR("update: new key", answer(d, "added.example"), "1");
        CHECK_STR("update: existing kept", answer(d, "example.com"), "REBUILT");
        err[0] = '\0';
        CHECK_LONG("delete", dict_lmdb_delete(src, keys, 2, &deleted, err, sizeof(err)), 0);
        CHECK_STR("delete error", err, "");
        CHECK_LONG("deleted", deleted, 1);
        sleep(1);
        CHECK_STR("deleted key", answer(d, "new.example"), "(notfound)");
        CHECK_STR("others stay", answer(d, "added.example"), "1");
        {
            /* Hostile keys are skipped; the good one is folded and found. */
            char long_key[DICT_KEY_MAX + 2];
            const char *hostile[] = {"", long_key, "ADDED.EXAMPLE", "added.example"};

            memset(long_key, 'x', sizeof(long_key) - 1);
            long_key[sizeof(long_key) - 1] = '\0';
            err[0] = '\0';
            CHECK_LONG("delete hostile keys",
                       dict_lmdb_delete(src, hostile, 4, &deleted, err, sizeof(err)), 0);
            CHECK_STR("delete hostile keys: no error", err, "");
            CHECK_LONG("deleted once", deleted, 1);
            sleep(1);
            CHECK_STR("folded key deleted", answer(d, "added.example"), "(notfound)");
            CHECK_LONG("delete nothing", dict_lmdb_delete(src, hostile, 1, &deleted, err,
                                                          sizeof(err)), 0);
            CHECK_LONG("nothing deleted", deleted, 0);
        }
        input = "example.com REPLACED\n";
        CHECK_LONG("update -r", dict_lmdb_update(src, "stdin", input, strlen(input),
                                                 DICT_LMDB_DUP_REPLACE, &added, err,
                                                 sizeof(err)), 0);
        sleep(1);
        CHECK_STR("update -r replaces", answer(d, "example.com"), "REPLACED");
        input = "bad\n";
        CHECK_LONG("bad update", dict_lmdb_update(src, "stdin", input, strlen(input),
                                                  DICT_LMDB_DUP_WARN, &added, err,
                                                  sizeof(err)), -1);
        CHECK_STR("bad update message", err, "stdin:1: expected format: key whitespace value");
    }

    /* The table file disappears: lookups are TEMPFAIL, not "not found". */
    {
        char *db = xasprintf("%s.lmdb", src);
        char *moved = xasprintf("%s.moved", db);

        CHECK_LONG("move away", rename(db, moved), 0);
        sleep(1);
        CHECK_LONG("missing file", dict_lookup(d, "example.com", &res), DICT_TEMPFAIL);
        CHECK_TRUE(res.error, res.error && strstr(res.error, "No such file") != NULL);
        CHECK_LONG("put back", rename(moved, db), 0);
        sleep(1);
        CHECK_STR("back again", answer(d, "example.com"), "REPLACED");
        xfree(db);
        xfree(moved);
    }

    /* Update creates a missing table. */
    {
        char *src2 = path_of("fresh");
        char *spec2 = xasprintf("lmdb:%s", src2);
        struct dict *d2;
        const char *input = "a 1\nb 2\n";

        CHECK_LONG("update creates", dict_lmdb_update(src2, "stdin", input, strlen(input),
                                                      DICT_LMDB_DUP_WARN, NULL, err,
                                                      sizeof(err)), 0);
        CHECK_LONG("open created", dict_open(spec2, 0, &d2, err, sizeof(err)), 0);
        CHECK_STR("created value", answer(d2, "b"), "2");
        dict_close(d2);
        xfree(src2);
        xfree(spec2);
    }
    CHECK_TRUE("close returns NULL", dict_close(d) == NULL);
    xfree(src);
    xfree(spec);
    xfree(want_where);
}

/* ------------------------------------------------------------------ */
/* pcre                                                                */

static const char pcre_table[] =
    "# header checks\n"
    "/^Subject: (.*)viagra/   REJECT spam in $1\n"            /* 2 */
    "/^To: (\\S+)@(\\S+)$/    user=$1 dom=${2} cost=$$5\n"    /* 3 */
    "/^CASE$/i               sensitive\n"                     /* 4 */
    "if /^X-/\n"                                              /* 5 */
    "  # comment inside\n"
    "/^X-A:/                 xa\n"                            /* 7 */
    "if !/local/\n"                                           /* 8 */
    "/^X-B:/                 xb-remote\n"                     /* 9 */
    "endif\n"                                                 /* 10 */
    "/^X-B:/                 xb-local\n"                      /* 11 */
    "endif\n"                                                 /* 12 */
    "/^X-A:/                 never-outside-if-order\n"        /* 13 */
    "/^(a)|(b)$/             [$1][$2]\n"                      /* 14 */
    "/^long/                 first\n"                         /* 15 */
    "    continued\n"
    "!/@/                    no at sign\n";                   /* 17 */

struct pcre_case {
    const char *key;
    const char *want;
    unsigned line;
};

static const struct pcre_case pcre_cases[] = {
    {"Subject: buy VIAGRA now", "REJECT spam in buy ", 2},
    {"subject: cheap viagra", "REJECT spam in cheap ", 2},
    {"To: joe@example.com", "user=joe dom=example.com cost=$5", 3},
    {"CASE", "sensitive", 4},
    {"case", "no at sign", 17},
    {"X-A: 1", "xa", 7},
    {"X-B: remote", "xb-remote", 9},
    {"X-B: local", "xb-local", 11},
    {"b", "[][b]", 14},
    {"a", "[a][]", 14},
    {"long@x", "first    continued", 15},
    {"user@host", "(notfound)", 0},
};

struct bad_case {
    const char *text;
    const char *want;
};

static const struct bad_case pcre_bad[] = {
    {"/abc/ ok\n/(unclosed/ x\n", "DIR/bad:2: bad regex at offset 9: missing closing parenthesis"},
    {"/abc ok\n", "DIR/bad:1: unterminated pattern: missing closing '/'"},
    {"/abc/q ok\n", "DIR/bad:1: unknown regex flag 'q' (known: i m s x A E U)"},
    {"/abc/\n", "DIR/bad:1: no result after the pattern"},
    {"/(a)/ $2\n", "DIR/bad:1: out of range substitution $2: the regex has 1 group"},
    {"!/(a)/ $1\n", "DIR/bad:1: $1 substitution in the result of a negated pattern"},
    {"/a/ cost $x\n", "DIR/bad:1: bad '$' in result: use $1..$9, ${number} or $$ for a '$'"},
    {"/(a)/ ${1\n", "DIR/bad:1: bad substitution in result: expected ${number}"},
    {"/a/ ends in $\n", "DIR/bad:1: bad '$' in result: use $1..$9, ${number} or $$ for a '$'"},
    {"x/ y\n", "DIR/bad:1: expected a pattern such as /regex/, got \"x/ y\""},
    {"if /a/\n/b/ c\n", "DIR/bad:1: if without matching endif"},
    {"/a/ b\nendif\n", "DIR/bad:2: endif without matching if"},
    {"if /a/ extra\nendif\n", "DIR/bad:1: text after if pattern: \"extra\""},
    {"if /a/\nendif junk\n", "DIR/bad:2: text after endif: \"junk\""},
    {" /a/ b\n", "DIR/bad:1: continuation line (starting with white space) without a line before it"},
};

static void test_pcre(void)
{
    char err[DICT_ERR_MAX] = "";
    struct dict *d = NULL;
    struct dict_result res;
    char *path = path_of("checks");

    CHECK_LONG("open pcre", open_file_table("pcre", "checks", pcre_table, &d, err, sizeof(err)),
               0);
    CHECK_STR("open pcre error", err, "");
    for (size_t i = 0; d && i < sizeof(pcre_cases) / sizeof(pcre_cases[0]); i++) {
        const struct pcre_case *pc = &pcre_cases[i];
        int rc = dict_lookup(d, pc->key, &res);

        CHECK_STR(pc->key, rc == DICT_FOUND ? res.value
                           : rc == DICT_NOTFOUND ? "(notfound)" : "(tempfail)", pc->want);
        if (rc == DICT_FOUND) {
            char want[256];
            snprintf(want, sizeof(want), "pcre:%s:%u", path, pc->line);
            CHECK_STR(pc->key, res.where, want);
        }
    }
    dict_close(d);

    for (size_t i = 0; i < sizeof(pcre_bad) / sizeof(pcre_bad[0]); i++) {
        err[0] = '\0';
        d = NULL;
        CHECK_LONG(pcre_bad[i].text, open_file_table("pcre", "bad", pcre_bad[i].text, &d, err,
                                                     sizeof(err)), -1);
        CHECK_STR(pcre_bad[i].text, rel(err), pcre_bad[i].want);
        CHECK_TRUE("no dict on error", d == NULL);
    }

    /* A pattern that backtracks without end: the match limit makes it a
     * TEMPFAIL naming the rule, and the next rule is not consulted. */
    CHECK_LONG("open runaway", open_file_table("pcre", "runaway",
                                               "/^(a|a)*(b|c|d)$/ never\n/./ any\n", &d, err,
                                               sizeof(err)), 0);
    {
        char key[64];
        memset(key, 'a', 40);
        strcpy(key + 40, "!");
        CHECK_LONG("match limit", dict_lookup(d, key, &res), DICT_TEMPFAIL);
        CHECK_STR("match limit reason", rel(res.error),
                  "pcre:DIR/runaway:1: regex match limit exceeded");
        CHECK_STR("short key fine", answer(d, "aab"), "never");
    }
    dict_close(d);

    /* A missing file fails the open. */
    CHECK_LONG("missing pcre", dict_open("pcre:/nonexistent/x", 0, &d, err, sizeof(err)), -1);
    CHECK_STR("missing pcre", err, "open /nonexistent/x: No such file or directory");
    xfree(path);
}

/* ------------------------------------------------------------------ */
/* cidr                                                                */

static const char cidr_table[] =
    "# clients\n"
    "192.0.2.0/24        net-v4\n"            /* 2 */
    "192.0.2.7           never (after /24)\n" /* 3 */
    "198.51.100.7        host-v4\n"           /* 4 */
    "[2001:db8::]/32     net-v6\n"            /* 5 */
    "::1                 lo6\n"               /* 6 */
    "if 10.0.0.0/8\n"                         /* 7 */
    "10.1.0.0/16         ten-one\n"           /* 8 */
    "if !10.2.0.0/16\n"                       /* 9 */
    "0.0.0.0/0           ten-not-two\n"       /* 10 */
    "endif\n"                                 /* 11 */
    "endif\n"                                 /* 12 */
    "!0.0.0.0/1          upper-half\n"        /* 13 */
    "!2001:db8::/32      v6-not-doc\n";       /* 14 */

static const struct pcre_case cidr_cases[] = {
    {"192.0.2.7", "net-v4", 2},
    {"192.0.2.255", "net-v4", 2},
    {"198.51.100.7", "host-v4", 4},
    {"198.51.100.8", "upper-half", 13},
    {"2001:db8:1::5", "net-v6", 5},
    {"2001:db9::1", "v6-not-doc", 14},
    {"::1", "lo6", 6},
    {"::ffff:192.0.2.9", "net-v4", 2},
    {"10.1.2.3", "ten-one", 8},
    {"10.3.0.1", "ten-not-two", 10},
    {"10.2.0.1", "(notfound)", 0},
    {"127.0.0.1", "(notfound)", 0},
    {"not-an-address", "(notfound)", 0},
    {"", "(notfound)", 0},
};

static const struct bad_case cidr_bad[] = {
    {"192.0.2.1/24 x\n",
     "DIR/bad:1: non-null host address bits in \"192.0.2.1/24\": perhaps you mean "
     "\"192.0.2.0/24\""},
    {"10.0.0.0/33 x\n", "DIR/bad:1: bad prefix length \"/33\" (0..32)"},
    {"2001:db8::/129 x\n", "DIR/bad:1: bad prefix length \"/129\" (0..128)"},
    {"10.0.0.0/ x\n", "DIR/bad:1: bad prefix length \"/\" (0..32)"},
    {"host.example x\n", "DIR/bad:1: bad network address \"host.example\""},
    {"[10.0.0.0]/8 x\n", "DIR/bad:1: brackets are for IPv6 addresses: \"[10.0.0.0]\""},
    {"10.0.0.0/8\n", "DIR/bad:1: no result after the network"},
    {"if 10.0.0.0/8\n", "DIR/bad:1: if without matching endif"},
    {"endif\n", "DIR/bad:1: endif without matching if"},
    {"if\nendif\n", "DIR/bad:1: if without a network"},
    {"if 10.0.0.0/8 x\nendif\n", "DIR/bad:1: text after if network: \"x\""},
};

static void test_cidr(void)
{
    char err[DICT_ERR_MAX] = "";
    struct dict *d = NULL;
    struct dict_result res;
    char *path = path_of("clients");

    CHECK_LONG("open cidr", open_file_table("cidr", "clients", cidr_table, &d, err, sizeof(err)),
               0);
    CHECK_STR("open cidr error", err, "");
    for (size_t i = 0; d && i < sizeof(cidr_cases) / sizeof(cidr_cases[0]); i++) {
        const struct pcre_case *pc = &cidr_cases[i];
        int rc = dict_lookup(d, pc->key, &res);

        CHECK_STR(pc->key, rc == DICT_FOUND ? res.value
                           : rc == DICT_NOTFOUND ? "(notfound)" : "(tempfail)", pc->want);
        if (rc == DICT_FOUND) {
            char want[256];
            snprintf(want, sizeof(want), "cidr:%s:%u", path, pc->line);
            CHECK_STR(pc->key, res.where, want);
        }
    }
    dict_close(d);
    for (size_t i = 0; i < sizeof(cidr_bad) / sizeof(cidr_bad[0]); i++) {
        err[0] = '\0';
        CHECK_LONG(cidr_bad[i].text, open_file_table("cidr", "bad", cidr_bad[i].text, &d, err,
                                                     sizeof(err)), -1);
        CHECK_STR(cidr_bad[i].text, rel(err), cidr_bad[i].want);
    }
    xfree(path);
}

/* ------------------------------------------------------------------ */
/* inline, static, lists, types                                        */

struct spec_case {
    const char *spec;
    const char *key;
    const char *want;       /* value / "(notfound)", or the open error */
};

static const struct spec_case spec_cases[] = {
    {"inline:{ a=1, B=2 }", "a", "1"},
    {"inline:{ a=1, B=2 }", "b", "2"},
    {"inline:{ a=1, B=2 }", "A", "1"},
    {"inline:{ a=1, B=2 }", "c", "(notfound)"},
    {"inline:{a=1,b=2}", "b", "2"},
    {"inline:{ { key one = text with spaces, and comma }, k2=v2 }", "key one",
     "text with spaces, and comma"},
    {"inline:{ { key one = text with spaces, and comma }, k2=v2 }", "k2", "v2"},
    {"inline:{ a=first, a=second }", "a", "first"},
    {"inline:{ empty= }", "empty", ""},
    {"inline:{ x=a=b }", "x", "a=b"},
    {"static:OK", "anything", "OK"},
    {"static:{ text with spaces }", "x", "text with spaces"},
    {"static:smtp:[relay.example]:25", "x", "smtp:[relay.example]:25"},
    {"inline:{}", "a", "table inline:{}: empty table: need inline:{key=value, ...}"},
    {"inline:a=1", "a", "table inline:a=1: bad syntax: need inline:{key=value, ...}"},
    {"inline:{ a }", "a",
     "table inline:{ a }: missing '=' in \"a\": need inline:{key=value, ...}"},
    {"inline:{ =1 }", "a", "table inline:{ =1 }: empty key in \"=1\""},
    {"inline:{ {a=1 }", "a", "table inline:{ {a=1 }: bad syntax: need inline:{key=value, ...}"},
    {"inline:{ {a=1}x }", "a", "table inline:{ {a=1}x }: text after '}' in an item"},
    {"inline:{ a=1 } }", "a", "table inline:{ a=1 } }: bad syntax: need inline:{key=value, ...}"},
    {"static:", "a", "table static:: empty value: need static:value"},
    {"static:{ a", "a", "table static:{ a: bad syntax: need static:{text}"},
    {"hash:/etc/aliases", "a", "table hash:/etc/aliases: type hash: is not supported by Postern; "
                               "use lmdb:"},
    {"regexp:/x", "a", "table regexp:/x: type regexp: is not supported by Postern; use pcre:"},
    {"nosuch:/x", "a", "table nosuch:/x: unknown table type \"nosuch\" (known: lmdb, pcre, "
                       "cidr, inline, static)"},
    {"/etc/postern/table", "a", "table \"/etc/postern/table\": expected \"type:name\""},
    {"lmdb:", "a", "table lmdb:: missing file name"},
};

static void test_specs(void)
{
    for (size_t i = 0; i < sizeof(spec_cases) / sizeof(spec_cases[0]); i++) {
        const struct spec_case *sc = &spec_cases[i];
        char err[DICT_ERR_MAX] = "";
        char what[256];
        struct dict *d;

        snprintf(what, sizeof(what), "%s ? %s", sc->spec, sc->key);
        if (dict_open(sc->spec, 0, &d, err, sizeof(err)) < 0) {
            CHECK_STR(what, err, sc->want);
            continue;
        }
        CHECK_STR(what, answer(d, sc->key), sc->want);
        dict_close(d);
    }

    /* where for inline and static; iterate on inline and the refusal on static. */
    {
        struct dict *d;
        struct dict_result res;
        char err[DICT_ERR_MAX], out[512] = "";

        dict_open("inline:{ K=v, x=y }", 0, &d, err, sizeof(err));
        dict_lookup(d, "k", &res);
        CHECK_STR("inline where", res.where, "inline:{ K=v, x=y } key=k");
        CHECK_LONG("inline iterate", dict_iterate(d, walk, out, err, sizeof(err)), 0);
        CHECK_STR("inline iterate", out, "k=v|x=y");
        dict_close(d);
        dict_open("static:{ a b }", 0, &d, err, sizeof(err));
        dict_lookup(d, "k", &res);
        CHECK_STR("static where", res.where, "static:{ a b }");
        CHECK_LONG("static iterate", dict_iterate(d, walk, out, err, sizeof(err)), -1);
        CHECK_STR("static iterate", err, "table static:{ a b }: listing entries is not supported "
                                         "for static: tables");
        dict_close(d);
        CHECK_LONG("unknown flags", dict_open("static:x", 0x40, &d, err, sizeof(err)), -1);
    }
}

static void test_lists(void)
{
    struct dict *d;
    struct dict_result res;
    char err[DICT_ERR_MAX] = "";
    char *runaway = path_of("runaway");
    char *list;

    CHECK_LONG("open list", dict_open_list("inline:{ a=1, {b = two words} },\n"
                                           "  inline:{a=shadowed, c=3}, static:{ default }",
                                           0, &d, err, sizeof(err)), 0);
    CHECK_STR("list: first table", answer(d, "a"), "1");
    CHECK_STR("list: braces", answer(d, "b"), "two words");
    CHECK_STR("list: second table", answer(d, "C"), "3");
    CHECK_STR("list: static last", answer(d, "zzz"), "default");
    dict_lookup(d, "c", &res);
    CHECK_STR("list: where names the member", res.where, "inline:{a=shadowed, c=3} key=c");
    dict_close(d);

    CHECK_LONG("empty list", dict_open_list("", 0, &d, err, sizeof(err)), 0);
    CHECK_STR("empty list", answer(d, "a"), "(notfound)");
    dict_close(d);
    CHECK_LONG("bad member", dict_open_list("static:x, bogus:y", 0, &d, err, sizeof(err)), -1);
    CHECK_TRUE(err, strstr(err, "bogus") != NULL);
    CHECK_LONG("unbalanced", dict_open_list("inline:{ a=1", 0, &d, err, sizeof(err)), -1);

    /* A TEMPFAIL in the first table stops the search: never fall through. */
    list = xasprintf("pcre:%s, static:PASS", runaway);
    CHECK_LONG("open tempfail list", dict_open_list(list, 0, &d, err, sizeof(err)), 0);
    CHECK_STR("tempfail is not passed on", answer(d, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"),
              "(tempfail)");
    CHECK_STR("next lookup fine", answer(d, "zzz"), "any");
    dict_close(d);
    xfree(list);
    xfree(runaway);
}

/* ------------------------------------------------------------------ */
/* search orders                                                       */

struct order_case {
    const char *table;
    const char *query;
    const char *delims;     /* address: recipient_delimiter */
    int parent;             /* domain: parent_matches_subdomains (-1: address case) */
    const char *want;       /* "key -> value" or "(notfound)" */
};

static const struct order_case order_cases[] = {
    /* addresses */
    {"inline:{ user@example.com=full, @example.com=domain }", "User@Example.com", NULL, -1,
     "user@example.com -> full"},
    {"inline:{ user@example.com=full, @example.com=domain }", "other@example.com", NULL, -1,
     "@example.com -> domain"},
    {"inline:{ user@example.com=full, user=bare }", "user@elsewhere.example", NULL, -1,
     "(notfound)"},
    {"inline:{ user@example.com=full, user+ext@example.com=ext }", "user+ext@example.com", "+",
     -1, "user+ext@example.com -> ext"},
    {"inline:{ user@example.com=full, @example.com=domain }", "user+ext@example.com", "+-", -1,
     "user@example.com -> full"},
    {"inline:{ user@example.com=full, @example.com=domain }", "user+ext@example.com", NULL, -1,
     "@example.com -> domain"},
    {"inline:{ +x@example.com=odd, @example.com=domain }", "+x@example.com", "+", -1,
     "+x@example.com -> odd"},
    {"inline:{ postmaster=bare }", "postmaster", NULL, -1, "postmaster -> bare"},
    {"inline:{ @b=at-b }", "\"a@x\"@b", NULL, -1, "@b -> at-b"},
    {"inline:{ @b=at-b }", "", NULL, -1, "(notfound)"},
    /* domains, transport_maps style */
    {"inline:{ example.com=exact, .example.com=dot }", "example.com", NULL, 0,
     "example.com -> exact"},
    {"inline:{ example.com=exact, .example.com=dot }", "a.b.Example.com", NULL, 0,
     ".example.com -> dot"},
    {"inline:{ example.com=exact }", "a.example.com", NULL, 0, "(notfound)"},
    {"inline:{ example.com=exact }", "a.example.com", NULL, 1, "example.com -> exact"},
    {"inline:{ .example.com=dot }", "a.example.com", NULL, 1, "(notfound)"},
    {"inline:{ com=tld }", "a.example.com", NULL, 1, "com -> tld"},
    {"inline:{ .com=tld }", "a.example.com", NULL, 0, ".com -> tld"},
    {"inline:{ a.example.com=exact, .example.com=dot }", "a.example.com.", NULL, 0,
     "a.example.com -> exact"},
    {"inline:{ [192.0.2.1]=lit, .1]=no }", "[192.0.2.1]", NULL, 0, "[192.0.2.1] -> lit"},
    {"inline:{ .2.1]=no }", "[192.0.2.1]", NULL, 0, "(notfound)"},
};

static void test_orders(void)
{
    for (size_t i = 0; i < sizeof(order_cases) / sizeof(order_cases[0]); i++) {
        const struct order_case *oc = &order_cases[i];
        char err[DICT_ERR_MAX] = "", got[256], what[256];
        struct dict_result res;
        struct dict *d;
        int rc;

        snprintf(what, sizeof(what), "%s ? %s", oc->table, oc->query);
        if (dict_open(oc->table, 0, &d, err, sizeof(err)) < 0) {
            CHECK_STR(what, err, "");
            continue;
        }
        if (oc->parent < 0)
            rc = dict_lookup_address(d, oc->query, oc->delims, &res);
        else
            rc = dict_lookup_domain(d, oc->query, oc->parent, &res);
        if (rc == DICT_FOUND)
            snprintf(got, sizeof(got), "%s -> %s", res.key, res.value);
        else
            snprintf(got, sizeof(got), "%s", rc == DICT_NOTFOUND ? "(notfound)" : "(tempfail)");
        CHECK_STR(what, got, oc->want);
        dict_close(d);
    }

    /* Form-major order across a list: user@domain in the second table beats
     * @domain in the first (Postfix searches every table for each form). */
    {
        struct dict *d;
        struct dict_result res;
        char err[DICT_ERR_MAX];

        dict_open_list("inline:{ @example.com=first-domain }, inline:{ u@example.com=second-full }",
                       0, &d, err, sizeof(err));
        CHECK_LONG("list order", dict_lookup_address(d, "u@example.com", NULL, &res), DICT_FOUND);
        CHECK_STR("list order", res.value, "second-full");
        dict_close(d);
    }
}

static void remove_tmpdir(void)
{
    const char *names[] = {"access", "access.lmdb", "fresh.lmdb", "checks", "bad", "runaway",
                           "clients"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *p = path_of(names[i]);
        unlink(p);
        xfree(p);
    }
    if (rmdir(tmpdir) < 0)
        perror(tmpdir);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    test_text();
    test_specs();
    test_orders();
    test_pcre();
    test_cidr();
    test_lists();
    test_lmdb();
    remove_tmpdir();
    return check_finish("test_dict");
}
