/*
 * test_config.c - main.cf parsing: values, expansion, continuation, errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "check.h"
#include "config.h"
#include "params.h"

static char dir_template[] = "/tmp/postern-test-config-XXXXXX";
static char *dir;

static void write_main_cf(const char *text)
{
    char path[256];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/main.cf", dir);
    fp = fopen(path, "w");
    fputs(text, fp);
    fclose(fp);
}

static int load(const char *text, char *err, size_t errlen)
{
    write_main_cf(text);
    err[0] = '\0';
    return config_load(dir, NULL, 0, err, errlen);
}

struct good_case {
    const char *main_cf;
    const char *name;
    const char *want;
};

static const struct good_case good_cases[] = {
    {"", "mail_name", "Postern"},
    {"myhostname = mx.example.com\n", "smtpd_banner", "mx.example.com ESMTP Postern"},
    {"myhostname = a.b.c\n", "mydomain", "b.c"},
    {"relayhost = [127.0.0.1]:2526\n", "relayhost", "[127.0.0.1]:2526"},
    /* A continuation line is joined as written (line_reader.h), as Postfix does. */
    {"mynetworks = 10.0.0.0/8,\n  192.168.0.0/16\n", "mynetworks", "10.0.0.0/8,  192.168.0.0/16"},
    {"# comment\n\nmail_name = X\n   # indented comment\n", "mail_name", "X"},
    {"smtpd_banner = ${myhostname} hi $(mail_name)\nmyhostname = h\n", "smtpd_banner", "h hi Postern"},
    {"smtpd_banner = cost $$5\n", "smtpd_banner", "cost $5"},
    {"mail_name=NoSpaces\n", "mail_name", "NoSpaces"},
    {"mail_name = trailing   \r\n", "mail_name", "trailing"},
};

struct bad_case {
    const char *main_cf;
    const char *want_in_err;
};

static const struct bad_case bad_cases[] = {
    {"no_such_parameter = 1\n", "main.cf:1: unknown parameter \"no_such_parameter\""},
    {"mail_name = a\nbogus\n", "main.cf:2: missing '='"},
    {"  leading = continuation\n", "main.cf:1: continuation line (starting with white space) without a line before it"},
    {"smtpd_timeout = 5x\n", "bad time value"},
    {"smtpd_recipient_limit = many\n", "is not a number"},
    {"smtpd_recipient_limit = 0\n", "out of range"},
    {"smtpd_banner = $nope\n", "unknown parameter \"$nope\""},
    {"smtpd_banner = $mail_name\nmail_name = $smtpd_banner\n", "too deep"},
    {"smtpd_banner = ${mail_name\n", "unbalanced"},
    {" = value\n", "continuation line"},
    {"= value\n", "missing parameter name"},
};

static void test_good(void)
{
    char err[CONFIG_ERR_MAX];

    for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
        const struct good_case *c = &good_cases[i];
        int rc = load(c->main_cf, err, sizeof(err));
        CHECK_STR(c->main_cf, rc == 0 ? "" : err, "");
        CHECK_STR(c->name, config_get(c->name), c->want);
    }
}

static void test_bad(void)
{
    char err[CONFIG_ERR_MAX];

    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        int rc = load(c->main_cf, err, sizeof(err));
        CHECK_LONG(c->main_cf, rc, -1);
        CHECK_TRUE(err, strstr(err, c->want_in_err) != NULL);
    }
}

static void test_typed_values(void)
{
    char err[CONFIG_ERR_MAX];
    char *overrides[] = { "smtpd_timeout=2m", "max_use=7" };

    write_main_cf("maximal_queue_lifetime = 2\nminimal_backoff_time = 1h\n");
    CHECK_LONG("load", config_load(dir, overrides, 2, err, sizeof(err)), 0);
    CHECK_LONG("days default unit", var_maximal_queue_lifetime, 2 * 86400);
    CHECK_LONG("hours", var_minimal_backoff_time, 3600);
    CHECK_LONG("override minutes", var_smtpd_timeout, 120);
    CHECK_LONG("override int", var_max_use, 7);
    CHECK_TRUE("override marks set", config_is_set("max_use"));
    CHECK_TRUE("default not set", !config_is_set("relayhost"));
    CHECK_STR("config_directory is the dir read", var_config_dir, dir);
    {
        char *bad[] = { "nonexistent=1" };
        CHECK_LONG("bad override", config_load(dir, bad, 1, err, sizeof(err)), -1);
        CHECK_TRUE(err, strstr(err, "override #1: unknown parameter") != NULL);
    }
}

static void test_missing_file(void)
{
    char err[CONFIG_ERR_MAX];

    CHECK_LONG("missing dir", config_load("/nonexistent-postern", NULL, 0, err, sizeof(err)), -1);
    CHECK_TRUE(err, strstr(err, "cannot read /nonexistent-postern/main.cf") != NULL);
}

static void test_time_parse(void)
{
    long s;
    CHECK_LONG("30s", config_parse_time("30s", 's', &s) == 0 ? s : -1, 30);
    CHECK_LONG("1w", config_parse_time("1w", 's', &s) == 0 ? s : -1, 604800);
    CHECK_LONG("5 default m", config_parse_time("5", 'm', &s) == 0 ? s : -1, 300);
    CHECK_LONG("negative", config_parse_time("-1", 's', &s), -1);
    CHECK_LONG("junk unit", config_parse_time("1sx", 's', &s), -1);
    CHECK_LONG("empty", config_parse_time("", 's', &s), -1);
}

/* Every parameter in the table must be documented in docs/configuration.md. */
static void test_documented(void)
{
    const char *src = getenv("MESON_SOURCE_ROOT");
    char path[512];
    FILE *fp;
    char *text;
    long len;

    snprintf(path, sizeof(path), "%s/docs/configuration.md", src ? src : SOURCE_ROOT);
    fp = fopen(path, "r");
    CHECK_TRUE(path, fp != NULL);
    if (fp == NULL)
        return;
    fseek(fp, 0, SEEK_END);
    len = ftell(fp);
    rewind(fp);
    text = calloc(1, (size_t)len + 1);
    if (fread(text, 1, (size_t)len, fp) != (size_t)len)
        len = 0;
    fclose(fp);
    for (size_t i = 0; i < param_table_len; i++) {
        char want[128];
        snprintf(want, sizeof(want), "`%s`", param_table[i].name);
        CHECK_TRUE(want, strstr(text, want) != NULL);
    }
    free(text);
}

int main(void)
{
    dir = mkdtemp(dir_template);
    if (dir == NULL)
        return 2;
    test_good();
    test_bad();
    test_typed_values();
    test_missing_file();
    test_time_parse();
    test_documented();
    {
        char path[256];
        snprintf(path, sizeof(path), "%s/main.cf", dir);
        unlink(path);
        rmdir(dir);
    }
    return check_finish("test_config");
}
