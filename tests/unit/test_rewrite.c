/*
 * test_rewrite.c - canonical maps and virtual alias expansion
 * (lib/mail/rewrite.c): every result form, extensions, recursion, addresses
 * that map to themselves, duplicates, both limits, bad results, temporary
 * failures (a pcre: table hitting its match limit), and the trace.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "check.h"
#include "rewrite.h"

static char tmpdir[] = "/tmp/test_rewrite.XXXXXX";

/* --- recipients: canonical + virtual --- */

struct rcpt_case {
    const char *name;
    const char *canonical;      /* recipient_canonical_maps */
    const char *virtual;        /* virtual_alias_maps */
    const char *delim;
    long expansion_limit, recursion_limit;
    const char *rcpts[4];       /* NULL-terminated; all go into one list */
    int rc;
    const char *want;           /* final list, ", " separated */
    const char *err;            /* prefix of err when rc != 0 */
    const char *trace;          /* steps, "; " separated, where omitted ("-") */
};

static const struct rcpt_case rcases[] = {
    { "no tables: unchanged", NULL, NULL, NULL, 1000, 1000,
      { "a@x.example", NULL }, REWRITE_OK, "a@x.example", NULL, "" },
    { "no match: unchanged", NULL, "inline:{ b@x.example=c@y.example }", NULL, 1000, 1000,
      { "a@x.example", NULL }, REWRITE_OK, "a@x.example", NULL, "" },
    { "one to one", NULL, "inline:{ a@x.example=b@y.example }", NULL, 1000, 1000,
      { "a@x.example", NULL }, REWRITE_OK, "b@y.example", NULL,
      "virtual_alias_maps: <a@x.example> -> b@y.example" },
    { "fan-out to three", NULL, "inline:{ { list@x.example = one@a.example, two@b.example "
      "three@c.example } }", NULL, 1000, 1000,
      { "list@x.example", NULL }, REWRITE_OK, "one@a.example, two@b.example, three@c.example",
      NULL, "virtual_alias_maps: <list@x.example> -> one@a.example, two@b.example, "
      "three@c.example" },
    { "key lookup is case-insensitive, result keeps its case", NULL,
      "inline:{ a@x.example=Bob@Y.example }", NULL, 1000, 1000,
      { "A@X.Example", NULL }, REWRITE_OK, "Bob@Y.example", NULL, NULL },
    { "recursive, depth-first in place", NULL,
      "inline:{ { a@x = b@x, c@x }, { b@x = d@x, e@x } }", NULL, 1000, 1000,
      { "a@x", NULL }, REWRITE_OK, "d@x, e@x, c@x", NULL,
      "virtual_alias_maps: <a@x> -> b@x, c@x; virtual_alias_maps: <b@x> -> d@x, e@x" },
    { "maps to itself: kept, not expanded again", NULL,
      "inline:{ { a@x = a@x, copy@y } }", NULL, 1000, 1000,
      { "a@x", NULL }, REWRITE_OK, "a@x, copy@y", NULL,
      "virtual_alias_maps: <a@x> -> a@x, copy@y; virtual_alias_maps: <a@x> maps to itself: kept" },
    { "maps to itself in another case", NULL,
      "inline:{ { a@x = A@X, copy@y } }", NULL, 1000, 1000,
      { "a@x", NULL }, REWRITE_OK, "A@X, copy@y", NULL, NULL },
    { "whole domain: @domain -> @other keeps the user", NULL,
      "inline:{ @old.example=@new.example }", NULL, 1000, 1000,
      { "joe@old.example", NULL }, REWRITE_OK, "joe@new.example", NULL,
      "virtual_alias_maps: <joe@old.example> -> joe@new.example" },
    { "whole domain: @domain -> one address (catch-all)", NULL,
      "inline:{ @old.example=catchall@new.example }", NULL, 1000, 1000,
      { "joe@old.example", NULL }, REWRITE_OK, "catchall@new.example", NULL, NULL },
    { "user entry beats the domain entry", NULL,
      "inline:{ @old.example=@new.example, boss@old.example=ceo@corp.example }", NULL, 1000,
      1000, { "boss@old.example", "joe@old.example", NULL }, REWRITE_OK,
      "ceo@corp.example, joe@new.example", NULL, NULL },
    { "@domain keeps the extension in the user part", NULL,
      "inline:{ @old.example=@new.example }", "+", 1000, 1000,
      { "joe+tag@old.example", NULL }, REWRITE_OK, "joe+tag@new.example", NULL, NULL },
    { "user@domain key for user+ext: extension propagated", NULL,
      "inline:{ { joe@x.example = jo@y.example, jane@z.example } }", "+", 1000, 1000,
      { "joe+tag@x.example", NULL }, REWRITE_OK, "jo+tag@y.example, jane+tag@z.example", NULL,
      NULL },
    { "exact user+ext key: no propagation", NULL,
      "inline:{ joe+tag@x.example=special@y.example, joe@x.example=plain@y.example }", "+",
      1000, 1000, { "joe+tag@x.example", NULL }, REWRITE_OK, "special@y.example", NULL, NULL },
    { "without recipient_delimiter the extension is part of the user", NULL,
      "inline:{ joe@x.example=plain@y.example }", NULL, 1000, 1000,
      { "joe+tag@x.example", NULL }, REWRITE_OK, "joe+tag@x.example", NULL, "" },
    { "@other result with a stripped extension", NULL,
      "inline:{ joe@x.example=@y.example }", "-+", 1000, 1000,
      { "joe-list@x.example", NULL }, REWRITE_OK, "joe-list@y.example", NULL, NULL },
    { "duplicates removed within one expansion", NULL,
      "inline:{ { a@x = b@x, c@x, B@X }, { c@x = b@x } }", NULL, 1000, 1000,
      { "a@x", NULL }, REWRITE_OK, "b@x", NULL,
      "virtual_alias_maps: <a@x> -> b@x, c@x, B@X; virtual_alias_maps: <c@x> -> b@x; "
      "virtual_alias_maps: <b@x> duplicate: removed; "
      "virtual_alias_maps: <B@X> duplicate: removed" },
    { "duplicates removed across recipients", NULL,
      "inline:{ { l1@x = a@y, b@y }, { l2@x = b@y, c@y } }", NULL, 1000, 1000,
      { "l1@x", "l2@x", "a@y", NULL }, REWRITE_OK, "a@y, b@y, c@y", NULL, NULL },
    { "canonical then virtual", "inline:{ @old.example=@mid.example }",
      "inline:{ @mid.example=@new.example }", NULL, 1000, 1000,
      { "joe@old.example", NULL }, REWRITE_OK, "joe@new.example", NULL,
      "recipient_canonical_maps: <joe@old.example> -> joe@mid.example; "
      "virtual_alias_maps: <joe@mid.example> -> joe@new.example" },
    { "canonical is recursive", "inline:{ a@x=b@x, b@x=c@x }", NULL, NULL, 1000, 1000,
      { "a@x", NULL }, REWRITE_OK, "c@x", NULL, NULL },
    { "canonical: ten rewrites are fine",
      "inline:{ a0@x=a1@x, a1@x=a2@x, a2@x=a3@x, a3@x=a4@x, a4@x=a5@x, a5@x=a6@x, a6@x=a7@x, "
      "a7@x=a8@x, a8@x=a9@x, a9@x=a10@x }", NULL, NULL, 1000, 1000,
      { "a0@x", NULL }, REWRITE_OK, "a10@x", NULL, NULL },
    { "canonical: eleven are too many",
      "inline:{ a0@x=a1@x, a1@x=a2@x, a2@x=a3@x, a3@x=a4@x, a4@x=a5@x, a5@x=a6@x, a6@x=a7@x, "
      "a7@x=a8@x, a8@x=a9@x, a9@x=a10@x, a10@x=a11@x }", NULL, NULL, 1000, 1000,
      { "a0@x", NULL }, REWRITE_LIMIT, NULL,
      "unreasonable recipient_canonical_maps nesting for <a0@x>: more than 10 rewrites", NULL },
    { "canonical stops at an address that maps to itself", "inline:{ a@x=a@x }", NULL, NULL,
      1000, 1000, { "a@x", NULL }, REWRITE_OK, "a@x", NULL, NULL },
    { "canonical loop: error", "inline:{ a@x=b@x, b@x=a@x }", NULL, NULL, 1000, 1000,
      { "a@x", NULL }, REWRITE_LIMIT, NULL,
      "unreasonable recipient_canonical_maps nesting for <a@x>", NULL },
    { "canonical with two addresses: error", "inline:{ { a@x = b@x c@x } }", NULL, NULL,
      1000, 1000, { "a@x", NULL }, REWRITE_BADRESULT, NULL,
      "recipient_canonical_maps: 2 addresses for <a@x>", NULL },

    /* limits */
    { "expansion limit: exactly at the limit", NULL, "inline:{ { l@x = a@y, b@y, c@y } }",
      NULL, 3, 1000, { "l@x", NULL }, REWRITE_OK, "a@y, b@y, c@y", NULL, NULL },
    { "expansion limit exceeded", NULL, "inline:{ { l@x = a@y, b@y, c@y, d@y } }", NULL, 3,
      1000, { "l@x", NULL }, REWRITE_LIMIT, NULL,
      "unreasonable virtual_alias_maps map expansion size for <l@x>: more than 3", NULL },
    { "expansion limit counts nested leaves", NULL,
      "inline:{ { l@x = a@y, b@y }, { a@y = c@y, d@y } }", NULL, 2, 1000,
      { "l@x", NULL }, REWRITE_LIMIT, NULL,
      "unreasonable virtual_alias_maps map expansion size", NULL },
    { "recursion limit: chain of exactly the limit", NULL,
      "inline:{ a@x=b@x, b@x=c@x, c@x=d@x }", NULL, 1000, 3,
      { "a@x", NULL }, REWRITE_OK, "d@x", NULL, NULL },
    { "recursion limit exceeded", NULL,
      "inline:{ a@x=b@x, b@x=c@x, c@x=d@x, d@x=e@x }", NULL, 1000, 3,
      { "a@x", NULL }, REWRITE_LIMIT, NULL,
      "unreasonable virtual_alias_maps map nesting for <a@x>: deeper than 3", NULL },
    { "alias loop ends in the recursion limit (deferred, not lost)", NULL,
      "inline:{ a@x=b@x, b@x=a@x }", NULL, 1000, 50,
      { "a@x", NULL }, REWRITE_LIMIT, NULL, "unreasonable virtual_alias_maps map nesting", NULL },
    { "exponential fan-out stopped by the expansion limit", NULL,
      "inline:{ { a@x = b@x, c@x }, { b@x = d@x, e@x }, { c@x = d@x, e@x }, "
      "{ d@x = f@x, g@x }, { e@x = f@x, g@x } }", NULL, 6, 1000,
      { "a@x", NULL }, REWRITE_LIMIT, NULL, "unreasonable virtual_alias_maps map expansion size",
      NULL },

    /* bad results */
    { "result without a domain", NULL, "inline:{ a@x=bob }", NULL, 1000, 1000,
      { "a@x", NULL }, REWRITE_BADRESULT, NULL, "virtual_alias_maps: inline:{ a@x=bob } "
      "key=a@x: bad result \"bob\" for <a@x>: not a user@domain address", NULL },
    { "result with angle brackets", NULL, "inline:{ a@x=<b@y> }", NULL, 1000, 1000,
      { "a@x", NULL }, REWRITE_BADRESULT, NULL, "virtual_alias_maps: inline:{ a@x=<b@y> } "
      "key=a@x: bad result \"<b@y>\" for <a@x>: address contains one of", NULL },
    { "result that is only separators", NULL, "inline:{ { a@x = , , } }", NULL, 1000, 1000,
      { "a@x", NULL }, REWRITE_BADRESULT, NULL, "virtual_alias_maps: inline:{ { a@x = , , } } "
      "key=a@x: empty result for <a@x>", NULL },
    { "result too long", NULL,
      "inline:{ aaaaaaaa@x=@yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
      "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
      "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy }",
      NULL, 1000, 1000, { "aaaaaaaa@x", NULL }, REWRITE_BADRESULT, NULL,
      "virtual_alias_maps: ", NULL },
};

/* Trace steps as "map: <in> -> out; ..." (where left out). */
static void trace_text(const struct rewrite_trace *tr, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < tr->count && used < len; i++) {
        char line[1024], *paren;

        rewrite_step_format(&tr->steps[i], line, sizeof(line));
        paren = tr->steps[i].kind == REWRITE_STEP_MATCH ? strrchr(line, '(') : NULL;
        if (paren != NULL && paren > line)
            paren[-1] = '\0';
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "; " : "", line);
    }
}

static void list_text(const struct rewrite_list *list, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < list->count && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
                                 list->addrs[i]);
}

static void run_rcpt_case(const struct rcpt_case *c)
{
    struct rewrite_settings s = {
        .recipient_canonical_maps = c->canonical,
        .virtual_alias_maps = c->virtual,
        .recipient_delimiter = c->delim,
        .expansion_limit = c->expansion_limit,
        .recursion_limit = c->recursion_limit,
    };
    struct rewrite_list list;
    struct rewrite_trace trace;
    char err[REWRITE_ERR_MAX] = "", what[256], buf[4096];
    int rc = REWRITE_OK;

    snprintf(what, sizeof(what), "%s: init", c->name);
    CHECK_LONG(what, rewrite_init_settings(&s, err, sizeof(err)), 0);
    rewrite_list_init(&list);
    rewrite_trace_init(&trace);
    for (size_t i = 0; c->rcpts[i] != NULL && rc == REWRITE_OK; i++)
        rc = rewrite_recipient(c->rcpts[i], &list, &trace, err, sizeof(err));
    snprintf(what, sizeof(what), "%s: rc", c->name);
    CHECK_LONG(what, rc, c->rc);
    if (c->rc == REWRITE_OK) {
        list_text(&list, buf, sizeof(buf));
        snprintf(what, sizeof(what), "%s: recipients", c->name);
        CHECK_STR(what, buf, c->want);
    } else {
        snprintf(what, sizeof(what), "%s: err", c->name);
        if (strncmp(err, c->err, strlen(c->err)) == 0)
            CHECK_STR(what, c->err, c->err);
        else
            CHECK_STR(what, err, c->err);
    }
    if (c->trace != NULL) {
        trace_text(&trace, buf, sizeof(buf));
        snprintf(what, sizeof(what), "%s: trace", c->name);
        CHECK_STR(what, buf, c->trace);
    }
    rewrite_trace_free(&trace);
    rewrite_list_free(&list);
}

/* --- senders: sender_canonical_maps --- */

struct sender_case {
    const char *name;
    const char *canonical;
    const char *delim;
    const char *sender;
    int rc;
    const char *want;
};

static const struct sender_case scases[] = {
    { "no table", NULL, NULL, "a@x.example", REWRITE_OK, "a@x.example" },
    { "null sender never rewritten", "static:someone@x.example", NULL, "", REWRITE_OK, "" },
    { "user@domain", "inline:{ app@host.internal=noreply@example.com }", NULL,
      "app@host.internal", REWRITE_OK, "noreply@example.com" },
    { "@domain -> @other keeps the user", "inline:{ @host.internal=@example.com }", NULL,
      "cron@host.internal", REWRITE_OK, "cron@example.com" },
    { "@domain -> full address", "inline:{ @host.internal=ops@example.com }", NULL,
      "cron@host.internal", REWRITE_OK, "ops@example.com" },
    { "user entry before @domain", "inline:{ @h.internal=@example.com, root@h.internal=admin@example.com }",
      NULL, "root@h.internal", REWRITE_OK, "admin@example.com" },
    { "extension propagated", "inline:{ app@h.internal=bot@example.com }", "+",
      "app+42@h.internal", REWRITE_OK, "bot+42@example.com" },
    { "no match", "inline:{ app@h.internal=bot@example.com }", NULL, "other@h.internal",
      REWRITE_OK, "other@h.internal" },
    { "address without a domain looked up as it is", "inline:{ root=admin@example.com }", NULL,
      "root", REWRITE_OK, "admin@example.com" },
    { "bad result", "inline:{ app@h.internal=bot }", NULL, "app@h.internal", REWRITE_BADRESULT,
      NULL },
};

static void run_sender_case(const struct sender_case *c)
{
    struct rewrite_settings s = {
        .sender_canonical_maps = c->canonical,
        .recipient_delimiter = c->delim,
        .expansion_limit = 1000,
        .recursion_limit = 1000,
    };
    char err[REWRITE_ERR_MAX], what[256], *out = (char *)"unset";
    int rc;

    snprintf(what, sizeof(what), "sender %s: init", c->name);
    CHECK_LONG(what, rewrite_init_settings(&s, err, sizeof(err)), 0);
    rc = rewrite_sender(c->sender, &out, NULL, err, sizeof(err));
    snprintf(what, sizeof(what), "sender %s: rc", c->name);
    CHECK_LONG(what, rc, c->rc);
    snprintf(what, sizeof(what), "sender %s: result", c->name);
    CHECK_STR(what, out, c->want);
    xfree(out);
}

/* Sender and recipient canonical maps are separate tables. */
static void test_separate_maps(void)
{
    struct rewrite_settings s = {
        .sender_canonical_maps = "inline:{ @a.example=@sender.example }",
        .recipient_canonical_maps = "inline:{ @a.example=@rcpt.example }",
        .expansion_limit = 10,
        .recursion_limit = 10,
    };
    struct rewrite_list list;
    char err[REWRITE_ERR_MAX], *out = NULL;

    CHECK_LONG("separate: init", rewrite_init_settings(&s, err, sizeof(err)), 0);
    CHECK_LONG("separate: sender", rewrite_sender("u@a.example", &out, NULL, err, sizeof(err)), 0);
    CHECK_STR("separate: sender result", out, "u@sender.example");
    xfree(out);
    rewrite_list_init(&list);
    CHECK_LONG("separate: rcpt", rewrite_recipient("u@a.example", &list, NULL, err, sizeof(err)),
               0);
    CHECK_STR("separate: rcpt result", list.count == 1 ? list.addrs[0] : "(count)",
              "u@rcpt.example");
    rewrite_list_free(&list);
    CHECK_TRUE("separate: active", rewrite_active());
    rewrite_end();
    CHECK_TRUE("separate: inactive after end", !rewrite_active());
}

static void test_init_errors(void)
{
    struct rewrite_settings s = { .virtual_alias_maps = "inline:{ broken",
                                  .expansion_limit = 1, .recursion_limit = 1 };
    char err[REWRITE_ERR_MAX];

    CHECK_LONG("bad table refused", rewrite_init_settings(&s, err, sizeof(err)), -1);
    CHECK_TRUE("message names the parameter", strncmp(err, "virtual_alias_maps: ", 20) == 0);
    CHECK_TRUE("nothing open after a failure", !rewrite_active());
}

/* A list of many distinct addresses: the hash set keeps them all. */
static void test_list(void)
{
    struct rewrite_list list;
    char addr[64];
    size_t added = 0;

    rewrite_list_init(&list);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 5000; i++) {
            snprintf(addr, sizeof(addr), round ? "USER%d@X.EXAMPLE" : "user%d@x.example", i);
            added += (size_t)rewrite_list_add(&list, addr);
        }
    CHECK_LONG("list: distinct added", added, 5000);
    CHECK_LONG("list: count", list.count, 5000);
    CHECK_TRUE("list: has", rewrite_list_has(&list, "User4999@x.Example"));
    CHECK_TRUE("list: has not", !rewrite_list_has(&list, "user5000@x.example"));
    CHECK_STR("list: order kept", list.addrs[17], "user17@x.example");
    rewrite_list_reset(&list);
    CHECK_LONG("list: reset", list.count, 0);
    CHECK_TRUE("list: empty after reset", !rewrite_list_has(&list, "user1@x.example"));
    CHECK_LONG("list: reusable", rewrite_list_add(&list, "user1@x.example"), 1);
    rewrite_list_free(&list);
}

/* --- temporary failures --- */

static void test_tempfail(void)
{
    char *path = xasprintf("%s/virtual.pcre", tmpdir);
    char *spec = xasprintf("pcre:%s", path);
    FILE *fp = fopen(path, "w");
    struct rewrite_settings s;
    struct rewrite_list list;
    char err[REWRITE_ERR_MAX], slow[128], *out = NULL;
    int rc;

    if (fp == NULL) {
        perror(path);
        exit(2);
    }
    fputs("/^(a|a)*b@/ never@example.com\n/^fine@/ ok@example.com\n", fp);
    fclose(fp);
    memset(slow, 'a', 60);
    strcpy(slow + 60, "!@x.example");

    memset(&s, 0, sizeof(s));
    s.virtual_alias_maps = spec;
    s.expansion_limit = s.recursion_limit = 100;
    rc = rewrite_init_settings(&s, err, sizeof(err));
    CHECK_LONG("pcre virtual opens", rc, 0);
    rewrite_list_init(&list);
    rc = rewrite_recipient("fine@x.example", &list, NULL, err, sizeof(err));
    CHECK_LONG("pcre virtual match", rc, REWRITE_OK);
    CHECK_STR("pcre virtual result", list.count ? list.addrs[0] : "", "ok@example.com");
    rc = rewrite_recipient(slow, &list, NULL, err, sizeof(err));
    CHECK_LONG("virtual match limit: tempfail", rc, REWRITE_TEMPFAIL);
    CHECK_TRUE("virtual match limit: message",
               strncmp(err, "virtual_alias_maps lookup of <aaa", 33) == 0
               && strstr(err, "limit") != NULL);
    rewrite_list_free(&list);

    memset(&s, 0, sizeof(s));
    s.sender_canonical_maps = spec;
    s.recipient_canonical_maps = spec;
    s.expansion_limit = s.recursion_limit = 100;
    rc = rewrite_init_settings(&s, err, sizeof(err));
    CHECK_LONG("pcre canonical opens", rc, 0);
    rc = rewrite_sender(slow, &out, NULL, err, sizeof(err));
    CHECK_LONG("sender match limit: tempfail", rc, REWRITE_TEMPFAIL);
    CHECK_TRUE("sender match limit: no result", out == NULL);
    CHECK_TRUE("sender match limit: message",
               strncmp(err, "sender_canonical_maps lookup of <", 33) == 0);
    rewrite_list_init(&list);
    rc = rewrite_recipient(slow, &list, NULL, err, sizeof(err));
    CHECK_LONG("recipient canonical match limit: tempfail", rc, REWRITE_TEMPFAIL);
    CHECK_LONG("recipient canonical match limit: nothing added", list.count, 0);
    rewrite_list_free(&list);

    unlink(path);
    xfree(path);
    xfree(spec);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    for (size_t i = 0; i < sizeof(rcases) / sizeof(rcases[0]); i++)
        run_rcpt_case(&rcases[i]);
    for (size_t i = 0; i < sizeof(scases) / sizeof(scases[0]); i++)
        run_sender_case(&scases[i]);
    test_separate_maps();
    test_init_errors();
    test_list();
    test_tempfail();
    rewrite_end();
    rmdir(tmpdir);
    return check_finish("test_rewrite");
}
