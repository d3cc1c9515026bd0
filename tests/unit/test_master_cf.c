/*
 * test_master_cf.c - master.cf parsing, errors and print/parse round trips.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "check.h"
#include "master_cf.h"

/* One line per entry: what a user would check in the parsed table. */
static char *describe(const struct master_cf *cf)
{
    char *out = xstrdup("");

    for (size_t i = 0; i < cf->count; i++) {
        const struct master_cf_entry *e = &cf->entries[i];
        char *opts = xstrdup(""), *args = xstrdup(""), *next;

        for (size_t j = 0; j < e->n_options; j++) {
            next = xasprintf("%s[%s]", opts, e->options[j]);
            xfree(opts);
            opts = next;
        }
        for (size_t j = 0; j < e->n_args; j++) {
            next = xasprintf("%s[%s]", args, e->args[j]);
            xfree(args);
            args = next;
        }
        next = xasprintf("%s%s%s/%s host=%s port=%d %c%c%c wakeup=%ld%s maxproc=%ld "
                         "cmd=%s opts=%s args=%s line=%d", out, i ? "\n" : "",
                         e->service, master_cf_type_name(e->type),
                         e->host ? e->host : "*", e->port, e->private_flag,
                         e->unpriv_flag, e->chroot_flag, e->wakeup,
                         e->wakeup_if_used ? "?" : "", e->maxproc, e->command,
                         opts, args, e->line);
        xfree(opts);
        xfree(args);
        xfree(out);
        out = next;
    }
    return out;
}

struct good_case {
    const char *name;
    const char *text;
    const char *want;
};

static const struct good_case good_cases[] = {
    {"empty file", "", ""},
    {"only comments and blanks", "# comment\n\n   \n  # indented comment\n", ""},
    {"simple unix",
     "cleanup unix n - n - 0 cleanup\n",
     "cleanup/unix host=* port=0 n-n wakeup=0 maxproc=0 cmd=cleanup opts= args= line=1"},
    {"inet port only",
     "25 inet n - n - - smtpd\n",
     "25/inet host=* port=25 n-n wakeup=0 maxproc=-1 cmd=smtpd opts= args= line=1"},
    {"inet service name",
     "smtp inet n - n - 10 smtpd\n",
     "smtp/inet host=* port=25 n-n wakeup=0 maxproc=10 cmd=smtpd opts= args= line=1"},
    {"inet host and port",
     "127.0.0.1:2525 inet n - n - - smtpd\n",
     "127.0.0.1:2525/inet host=127.0.0.1 port=2525 n-n wakeup=0 maxproc=-1 cmd=smtpd opts= args= line=1"},
    {"inet ipv6",
     "[::1]:2525 inet n - n - - smtpd\n",
     "[::1]:2525/inet host=::1 port=2525 n-n wakeup=0 maxproc=-1 cmd=smtpd opts= args= line=1"},
    {"inet host name",
     "localhost:smtp inet n - n - - smtpd\n",
     "localhost:smtp/inet host=localhost port=25 n-n wakeup=0 maxproc=-1 cmd=smtpd opts= args= line=1"},
    {"wakeup with question mark",
     "qmgr unix n - n 300? 1 qmgr\n",
     "qmgr/unix host=* port=0 n-n wakeup=300? maxproc=1 cmd=qmgr opts= args= line=1"},
    {"wakeup plain",
     "qmgr unix y y n 60 1 qmgr\n",
     "qmgr/unix host=* port=0 yyn wakeup=60 maxproc=1 cmd=qmgr opts= args= line=1"},
    {"options and args on continuation lines",
     "# header\n"
     "smtp inet n - n - - smtpd\n"
     "  -o smtpd_timeout=30s\n"
     "\t-o { message_size_limit = 1000 }\n"
     "  -v\n"
     "cleanup unix n - n - 0 cleanup\n",
     "smtp/inet host=* port=25 n-n wakeup=0 maxproc=-1 cmd=smtpd "
     "opts=[smtpd_timeout=30s][message_size_limit=1000] args=[-v] line=2\n"
     "cleanup/unix host=* port=0 n-n wakeup=0 maxproc=0 cmd=cleanup opts= args= line=6"},
    {"attached -o and braces",
     "submission inet n - n - - smtpd -osmtpd_timeout=10s\n"
     "  -o { smtpd_banner = hello  there }\n"
     "  { a b } -v\n",
     "submission/inet host=* port=587 n-n wakeup=0 maxproc=-1 cmd=smtpd "
     "opts=[smtpd_timeout=10s][smtpd_banner=hello  there] args=[a b][-v] line=1"},
    {"nested braces and comment between continuation lines",
     "x unix - - - - - cmd\n"
     "# a comment does not end the entry\n"
     "  { a {b} c }\n",
     "x/unix host=* port=0 --- wakeup=0 maxproc=-1 cmd=cmd opts= args=[a {b} c] line=1"},
    {"CRLF line ends",
     "x unix - - - - - cmd\r\n  -v\r\n",
     "x/unix host=* port=0 --- wakeup=0 maxproc=-1 cmd=cmd opts= args=[-v] line=1"},
    {"same name different types",
     "smtp inet n - n - - smtpd\nsmtp unix - - n - - smtp\n",
     "smtp/inet host=* port=25 n-n wakeup=0 maxproc=-1 cmd=smtpd opts= args= line=1\n"
     "smtp/unix host=* port=0 --n wakeup=0 maxproc=-1 cmd=smtp opts= args= line=2"},
    {"no final newline",
     "x unix - - - - - cmd",
     "x/unix host=* port=0 --- wakeup=0 maxproc=-1 cmd=cmd opts= args= line=1"},
};

struct bad_case {
    const char *name;
    const char *text;
    const char *want;       /* the whole error message */
};

static const struct bad_case bad_cases[] = {
    {"too few columns", "\n\nsmtp inet n - n - -\n",
     "t.cf:3: expected at least 8 fields (service type private unpriv chroot wakeup "
     "maxproc command), got 7"},
    {"bad type", "x fifo - - - - - cmd\n",
     "t.cf:1: unsupported service type \"fifo\": use inet or unix"},
    {"bad flag", "x unix yes - - - - cmd\n",
     "t.cf:1: bad private field \"yes\": use y, n or -"},
    {"bad unpriv", "x unix - x - - - cmd\n",
     "t.cf:1: bad unpriv field \"x\": use y, n or -"},
    {"bad wakeup", "x unix - - - 1x - cmd\n",
     "t.cf:1: bad wakeup field \"1x\": use - or seconds (0..604800), optionally with '?'"},
    {"negative wakeup", "x unix - - - -5 - cmd\n",
     "t.cf:1: bad wakeup field \"-5\": use - or seconds (0..604800), optionally with '?'"},
    {"lonely question mark", "x unix - - - ? - cmd\n",
     "t.cf:1: bad wakeup field \"?\": use - or seconds (0..604800), optionally with '?'"},
    {"bad maxproc", "x unix - - - - many cmd\n",
     "t.cf:1: bad maxproc field \"many\": use - or a number (0..100000, 0 = no limit)"},
    {"maxproc overflow", "x unix - - - - 99999999999999999999 cmd\n",
     "t.cf:1: bad maxproc field \"99999999999999999999\": use - or a number (0..100000, 0 = no limit)"},
    {"duplicate", "# x\nx unix - - - - - a\n\nx unix - - - - - b\n",
     "t.cf:4: duplicate service \"x\" type unix (first defined at line 2)"},
    {"duplicate inet by port", "smtp inet - - - - - a\n25 inet - - - - - b\n",
     "t.cf:2: duplicate service \"25\" type inet (first defined at line 1)"},
    {"unix name with slash", "../x unix - - - - - cmd\n",
     "t.cf:1: bad unix service name \"../x\": use letters, digits, '.', '_', '-'"},
    {"command with slash", "x unix - - - - - /bin/sh\n",
     "t.cf:1: bad command name \"/bin/sh\": a program name in daemon_directory, without '/'"},
    {"unknown port", "nosuchport_xyz inet - - - - - smtpd\n",
     "t.cf:1: bad inet service \"nosuchport_xyz\": bad port \"nosuchport_xyz\" (want 1-65535 or a service name)"},
    {"port out of range", "127.0.0.1:70000 inet - - - - - smtpd\n",
     "t.cf:1: bad inet service \"127.0.0.1:70000\": bad port \"70000\" (want 1-65535 or a service name)"},
    {"port zero", "0 inet - - - - - smtpd\n",
     "t.cf:1: bad inet service \"0\": bad port \"0\" (want 1-65535 or a service name)"},
    {"v6 without brackets", "::1:25 inet - - - - - smtpd\n",
     "t.cf:1: bad inet service \"::1:25\": an IPv6 address must be in brackets"},
    {"bad v6", "[zz]:25 inet - - - - - smtpd\n",
     "t.cf:1: bad inet service \"[zz]:25\": only an IP address goes in brackets"},
    {"bracket without port", "[::1] inet - - - - - smtpd\n",
     "t.cf:1: bad inet service \"[::1]\": expected port, host:port or [address]:port"},
    {"continuation first", "  -o a=b\n",
     "t.cf:1: continuation line (starting with white space) without a line before it"},
    {"missing -o value", "x unix - - - - - cmd -o\n",
     "t.cf:1: missing name=value after -o"},
    {"-o without equals", "x unix - - - - - cmd -o foo\n",
     "t.cf:1: bad -o option \"foo\": expected name=value"},
    {"-o bad name", "x unix - - - - - cmd -o Foo=1\n",
     "t.cf:1: bad -o option \"Foo=1\": bad parameter name"},
    {"-o empty name", "x unix - - - - - cmd -o { = 1 }\n",
     "t.cf:1: bad -o option \"= 1\": missing parameter name"},
    {"unclosed brace", "x unix - - - - - cmd\n  { a b\n",
     "t.cf:1: missing '}'"},
    {"text after brace", "x unix - - - - - cmd {a}b\n",
     "t.cf:1: text after '}'"},
    {"brace in a column", "{x} unix - - - - - cmd\n",
     "t.cf:1: braces are allowed only in command arguments"},
    {"control character", "x unix - - - - - c\033md\n",
     "t.cf:1: control character 0x1b"},
};

static void test_good(void)
{
    for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
        const struct good_case *c = &good_cases[i];
        struct master_cf cf;
        char err[512] = "";
        int rc = master_cf_parse(&cf, "t.cf", c->text, strlen(c->text), err, sizeof(err));
        char *got;

        CHECK_STR(c->name, err, "");
        CHECK_LONG(c->name, rc, 0);
        got = describe(&cf);
        CHECK_STR(c->name, got, c->want);
        xfree(got);
        master_cf_free(&cf);
    }
}

static void test_bad(void)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        struct master_cf cf;
        char err[512] = "";
        int rc = master_cf_parse(&cf, "t.cf", c->text, strlen(c->text), err, sizeof(err));

        CHECK_LONG(c->name, rc, -1);
        CHECK_STR(c->name, err, c->want);
        CHECK_LONG(c->name, cf.count, 0);
        CHECK_TRUE(c->name, cf.entries == NULL);
    }
}

static void test_option_lookup(void)
{
    const char *text = "x unix - - - - - cmd -o a=1 -o b=2 -o a=3 -o { c = x y }\n";
    struct master_cf cf;
    char err[256] = "";
    const struct master_cf_entry *e;

    CHECK_LONG("parse", master_cf_parse(&cf, "t.cf", text, strlen(text), err, sizeof(err)), 0);
    e = master_cf_find(&cf, "x", MASTER_CF_UNIX);
    CHECK_TRUE("find x/unix", e != NULL);
    CHECK_TRUE("no x/inet", master_cf_find(&cf, "x", MASTER_CF_INET) == NULL);
    if (e != NULL) {
        CHECK_STR("last -o wins", master_cf_option(e, "a"), "3");
        CHECK_STR("b", master_cf_option(e, "b"), "2");
        CHECK_STR("braced value", master_cf_option(e, "c"), "x y");
        CHECK_TRUE("unset", master_cf_option(e, "d") == NULL);
        CHECK_TRUE("prefix is not a name", master_cf_option(e, "") == NULL);
    }
    CHECK_LONG("flag y", master_cf_flag('y', 0), 1);
    CHECK_LONG("flag n", master_cf_flag('n', 1), 0);
    CHECK_LONG("flag -", master_cf_flag('-', 7), 7);
    master_cf_free(&cf);
}

static const char golden_in[] =
    "# Postern master.cf\n"
    "smtp      inet  n       -       n       -       -       smtpd\n"
    "  -o smtpd_timeout=30s -o { smtpd_banner = $myhostname  ESMTP }\n"
    "[::1]:2525 inet n - n - 5 smtpd -v\n"
    "cleanup   unix  n       -       n       -       0       cleanup\n"
    "qmgr      unix  n       -       n       300?    1       qmgr\n"
    "odd unix y y y 0? - cmd { } {-o} { #x } {{a}} } a{ -o { x = 1 }\n";

static const char golden_out[] =
    "# service type  private unpriv  chroot  wakeup  maxproc command + args\n"
    "smtp       inet  n       -       n       -       -       smtpd\n"
    "  -o smtpd_timeout=30s\n"
    "  -o { smtpd_banner = $myhostname  ESMTP }\n"
    "[::1]:2525 inet  n       -       n       -       5       smtpd -v\n"
    "cleanup    unix  n       -       n       -       0       cleanup\n"
    "qmgr       unix  n       -       n       300?    1       qmgr\n"
    "odd        unix  y       y       y       0?      -       cmd { } { -o } #x { {a} } } a{\n"
    "  -o x=1\n";

static void test_golden_round_trip(void)
{
    struct master_cf a, b;
    char err[512] = "";
    char *print_a, *print_b;

    CHECK_LONG("golden parse", master_cf_parse(&a, "in.cf", golden_in, strlen(golden_in),
                                               err, sizeof(err)), 0);
    CHECK_STR("golden parse error", err, "");
    print_a = master_cf_print(&a);
    CHECK_STR("golden print", print_a, golden_out);
    CHECK_LONG("reparse", master_cf_parse(&b, "out.cf", print_a, strlen(print_a),
                                          err, sizeof(err)), 0);
    CHECK_STR("reparse error", err, "");
    print_b = master_cf_print(&b);
    CHECK_STR("print is stable", print_b, print_a);
    CHECK_TRUE("entries survive", a.count == b.count && a.count == 5);
    for (size_t i = 0; i < a.count && i < b.count; i++) {
        CHECK_STR("service", b.entries[i].service, a.entries[i].service);
        CHECK_LONG("port", b.entries[i].port, a.entries[i].port);
        CHECK_LONG("n_args", b.entries[i].n_args, a.entries[i].n_args);
        CHECK_LONG("n_options", b.entries[i].n_options, a.entries[i].n_options);
        for (size_t j = 0; j < a.entries[i].n_args && j < b.entries[i].n_args; j++)
            CHECK_STR("arg", b.entries[i].args[j], a.entries[i].args[j]);
        for (size_t j = 0; j < a.entries[i].n_options && j < b.entries[i].n_options; j++)
            CHECK_STR("option", b.entries[i].options[j], a.entries[i].options[j]);
    }
    xfree(print_a);
    xfree(print_b);
    master_cf_free(&a);
    master_cf_free(&b);
}

/* Every good case also survives print -> parse -> print. */
static void test_round_trip_all(void)
{
    for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
        const struct good_case *c = &good_cases[i];
        struct master_cf a, b;
        char err[512] = "";
        char *pa, *pb;

        if (master_cf_parse(&a, "t.cf", c->text, strlen(c->text), err, sizeof(err)) < 0) {
            CHECK_STR(c->name, err, "");
            continue;
        }
        pa = master_cf_print(&a);
        CHECK_LONG(c->name, master_cf_parse(&b, "p.cf", pa, strlen(pa), err, sizeof(err)), 0);
        CHECK_STR(c->name, err, "");
        pb = master_cf_print(&b);
        CHECK_STR(c->name, pb, pa);
        xfree(pa);
        xfree(pb);
        master_cf_free(&a);
        master_cf_free(&b);
    }
}

static void test_nul_byte(void)
{
    static const char text[] = "x unix - - - - - cmd\n# \0\n";
    struct master_cf cf;
    char err[512] = "";

    CHECK_LONG("NUL byte", master_cf_parse(&cf, "t.cf", text, sizeof(text) - 1, err,
                                           sizeof(err)), -1);
    CHECK_STR("NUL byte", err, "t.cf:2: NUL character");
    CHECK_LONG("NUL byte", cf.count, 0);
}

static void test_limits(void)
{
    size_t n = MASTER_CF_LINE_MAX + 10;
    char *text = xmalloc(n + 1);
    struct master_cf cf;
    char err[512] = "";

    memset(text, 'a', n);
    text[n] = '\0';
    memcpy(text, "x unix - - - - - cmd ", 21);
    CHECK_LONG("long line", master_cf_parse(&cf, "t.cf", text, n, err, sizeof(err)), -1);
    CHECK_STR("long line", err, "t.cf:1: logical line too long (more than 65536 bytes)");
    xfree(text);

    CHECK_LONG("missing file", master_cf_load(&cf, "/nonexistent/master.cf", err, sizeof(err)), -1);
    CHECK_STR("missing file", err, "cannot read /nonexistent/master.cf: No such file or directory");
}

int main(void)
{
    test_good();
    test_bad();
    test_nul_byte();
    test_option_lookup();
    test_golden_round_trip();
    test_round_trip_all();
    test_limits();
    return check_finish("test_master_cf");
}
