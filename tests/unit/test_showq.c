/*
 * test_showq.c - unit tests of showq's pieces that do not need an index:
 * terminal and JSON escaping, the bounded top-K counter, the qshape age
 * buckets, domain extraction and message selection.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "attr.h"
#include "check.h"
#include "showq.h"

/* Run fn(out, data, len) into a pipe and return what came out (static). */
static const char *through(void (*fn)(struct showq_out *, const char *, size_t),
                           const char *data, size_t len)
{
    static char got[4096];
    struct showq_out out;
    int fds[2];
    ssize_t n;

    if (pipe(fds) < 0)
        abort();
    showq_out_init(&out, fds[1], 5);
    fn(&out, data, len);
    showq_out_flush(&out);
    showq_out_free(&out);
    close(fds[1]);
    n = read(fds[0], got, sizeof(got) - 1);
    close(fds[0]);
    got[n < 0 ? 0 : n] = '\0';
    return got;
}

struct esc_case {
    const char *in;
    size_t len;             /* 0: strlen */
    const char *text;       /* showq_out_text */
    const char *json;       /* showq_out_json */
};

static const struct esc_case esc_cases[] = {
    { "user@example.com", 0, "user@example.com", "\"user@example.com\"" },
    { "a\"b\\c", 0, "a\"b\\c", "\"a\\\"b\\\\c\"" },
    { "line\nbreak\r\t", 0, "line?break??", "\"line\\nbreak\\r\\t\"" },
    { "esc\x1b[31m", 0, "esc?[31m", "\"esc\\u001B[31m\"" },
    { "del\x7f", 0, "del?", "\"del\\u007F\"" },
    { "\xc3\xa9t\xc3\xa9", 0, "\xc3\xa9t\xc3\xa9", "\"\xc3\xa9t\xc3\xa9\"" },
    { "bad\xe9x", 0, "bad?x", "\"bad\\u00E9x\"" },
    { "c1\xc2\x9b", 0, "c1?", "\"c1\xc2\x9b\"" },
    { "overlong\xc0\xaf", 0, "overlong??", "\"overlong\\u00C0\\u00AF\"" },
    { "surrogate\xed\xa0\x80", 0, "surrogate???", "\"surrogate\\u00ED\\u00A0\\u0080\"" },
    { "cut\xe2\x82", 0, "cut??", "\"cut\\u00E2\\u0082\"" },
    { "euro\xe2\x82\xac", 0, "euro\xe2\x82\xac", "\"euro\xe2\x82\xac\"" },
    { "nul\0x", 5, "nul?x", "\"nul\\u0000x\"" },
    { "", 0, "", "\"\"" },
};

static void test_escaping(void)
{
    for (size_t i = 0; i < sizeof(esc_cases) / sizeof(esc_cases[0]); i++) {
        const struct esc_case *c = &esc_cases[i];
        size_t len = c->len ? c->len : strlen(c->in);
        CHECK_STR("showq_out_text", through(showq_out_text, c->in, len), c->text);
        CHECK_STR("showq_out_json", through(showq_out_json, c->in, len), c->json);
    }
    CHECK_LONG("text width counts characters",
               showq_out_text_width("\xc3\xa9t\xc3\xa9", 5), 3);
    CHECK_LONG("text width of a bad byte", showq_out_text_width("a\xff" "b", 3), 3);
}

static void test_big_output(void)
{
    /* More than the buffer, in pieces: nothing lost, order kept. */
    static char want[3 * SHOWQ_OUT_BUFSIZE];
    char *got = xmalloc(sizeof(want) + 1);
    struct showq_out out;
    int fds[2];
    size_t have = 0;
    pid_t pid;

    for (size_t i = 0; i < sizeof(want); i++)
        want[i] = (char)('a' + i % 26);
    if (pipe(fds) < 0)
        abort();
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        showq_out_init(&out, fds[1], 5);
        for (size_t off = 0; off < sizeof(want); off += 1000)
            showq_out_put(&out, want + off,
                          sizeof(want) - off < 1000 ? sizeof(want) - off : 1000);
        showq_out_flush(&out);
        _exit(out.failed ? 1 : 0);
    }
    close(fds[1]);
    for (;;) {
        ssize_t n = read(fds[0], got + have, sizeof(want) + 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    close(fds[0]);
    CHECK_LONG("bytes through the stream", have, sizeof(want));
    CHECK_TRUE("same bytes", have == sizeof(want) && memcmp(got, want, have) == 0);
    xfree(got);
}

static void test_closed_reader(void)
{
    struct showq_out out;
    int fds[2];
    static char block[SHOWQ_OUT_BUFSIZE];

    if (pipe(fds) < 0)
        abort();
    close(fds[0]);
    showq_out_init(&out, fds[1], 5);
    showq_out_put(&out, block, sizeof(block));
    showq_out_put(&out, "x", 1);
    CHECK_TRUE("a write to a closed reader fails the stream", out.failed);
    showq_out_put(&out, "more", 4);
    CHECK_LONG("nothing is buffered after a failure", strbuf_len(&out.buf), 0);
    showq_out_free(&out);
    close(fds[1]);
}

static const char *key_of(const struct showq_topk *t, const struct showq_topk_item *it)
{
    return it ? showq_topk_key(t, it) : NULL;
}

static void test_topk_exact(void)
{
    static const char *const stream[] = { "b", "a", "c", "a", "b", "a", "d", "a" };
    const struct showq_topk_item *top[3];
    struct showq_topk t;
    int fresh;
    size_t n;

    showq_topk_init(&t, 8, 0);
    for (size_t i = 0; i < sizeof(stream) / sizeof(stream[0]); i++)
        showq_topk_add(&t, stream[i], 1, &fresh);
    n = showq_topk_top(&t, top, 3);
    CHECK_LONG("top returns 3", n, 3);
    CHECK_STR("first", key_of(&t, n > 0 ? top[0] : NULL), "a");
    CHECK_LONG("a counted", top[0]->count, 4);
    CHECK_STR("second", key_of(&t, n > 1 ? top[1] : NULL), "b");
    CHECK_STR("third: tie broken by key", key_of(&t, n > 2 ? top[2] : NULL), "c");
    CHECK_LONG("exact: no error", top[0]->error, 0);
    CHECK_LONG("no sweep", t.sweeps, 0);
    CHECK_LONG("floor 0", t.floor, 0);
    showq_topk_add(&t, "a", 1, &fresh);
    CHECK_LONG("known key is not fresh", fresh, 0);
    showq_topk_add(&t, "e", 1, &fresh);
    CHECK_LONG("new key is fresh", fresh, 1);
    showq_topk_free(&t);
}

struct extra_case {
    uint64_t seen;
};

static void test_topk_bounded(void)
{
    /* 5000 distinct one-off keys, with "heavy" every 10th key and "medium"
     * every 50th, in a table of 100: both come out first, and the counts
     * bound the truth. */
    struct showq_topk t;
    const struct showq_topk_item *top[3];
    char key[32];
    int fresh;
    long heavy = 0, medium = 0;
    size_t n;

    showq_topk_init(&t, 100, sizeof(struct extra_case));
    for (int i = 0; i < 5000; i++) {
        struct showq_topk_item *it;
        if (i % 10 == 0) {
            it = showq_topk_add(&t, "heavy", 5, &fresh);
            ((struct extra_case *)showq_topk_extra(&t, it))->seen++;
            heavy++;
        }
        if (i % 50 == 7) {
            showq_topk_add(&t, "medium", 6, &fresh);
            medium++;
        }
        snprintf(key, sizeof(key), "k%d", i);
        it = showq_topk_add(&t, key, strlen(key), &fresh);
        CHECK_TRUE("a fresh item's extra data is zero",
                   !fresh || ((struct extra_case *)showq_topk_extra(&t, it))->seen == 0);
        ((struct extra_case *)showq_topk_extra(&t, it))->seen++;
    }
    CHECK_TRUE("table stays bounded", t.count <= 100);
    CHECK_TRUE("the table was swept", t.sweeps > 0 && t.evicted > 0);
    n = showq_topk_top(&t, top, 3);
    CHECK_LONG("top finds three", n, 3);
    CHECK_STR("heavy hitter first", key_of(&t, top[0]), "heavy");
    CHECK_STR("medium second", key_of(&t, top[1]), "medium");
    CHECK_TRUE("heavy count is an upper bound", (long)top[0]->count >= heavy);
    CHECK_TRUE("heavy count - error is a lower bound", (long)(top[0]->count - top[0]->error) <= heavy);
    CHECK_LONG("heavy was never dropped", top[0]->error, 0);
    CHECK_LONG("heavy counted exactly", top[0]->count, heavy);
    CHECK_LONG("heavy's extra data followed it through sweeps",
               ((struct extra_case *)showq_topk_extra(&t, top[0]))->seen, heavy);
    CHECK_TRUE("medium bounds", (long)top[1]->count >= medium
               && (long)(top[1]->count - top[1]->error) <= medium);
    CHECK_TRUE("third is a one-off within the floor", top[2]->count <= t.floor + 1);
    /* Every resident key is still found through the hash after the sweeps. */
    for (size_t i = 0; i < t.count; i++) {
        uint64_t before = t.items[i].count;
        char copy[600];
        size_t len = t.items[i].key_len;
        memcpy(copy, showq_topk_key(&t, &t.items[i]), len);
        showq_topk_add(&t, copy, len, &fresh);
        CHECK_TRUE("resident key found again", !fresh && t.items[i].count == before + 1);
    }
    showq_topk_free(&t);
}

static void test_topk_long_keys(void)
{
    static char a[1000], b[1000];
    const struct showq_topk_item *top[2];
    struct showq_topk t;
    int fresh;

    memset(a, 'x', sizeof(a));
    memcpy(b, a, sizeof(b));
    b[999] = 'y';
    showq_topk_init(&t, 10, 0);
    showq_topk_add(&t, a, sizeof(a), &fresh);
    showq_topk_add(&t, b, sizeof(b), &fresh);
    CHECK_LONG("keys are cut at 512 bytes: one item", showq_topk_top(&t, top, 2), 1);
    CHECK_LONG("counted twice", top[0]->count, 2);
    CHECK_LONG("stored length", top[0]->key_len, 512);
    showq_topk_free(&t);
}

static void test_buckets(void)
{
    static const struct { long age; int bucket; } cases[] = {
        { 0, 0 }, { 299, 0 }, { 300, 1 }, { 599, 1 }, { 600, 2 }, { 1199, 2 },
        { 1200, 3 }, { 2400, 4 }, { 4800, 5 }, { 9600, 6 }, { 19200, 7 },
        { 38400, 8 }, { 76799, 8 }, { 76800, 9 }, { 10000000, 9 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char what[64];
        snprintf(what, sizeof(what), "bucket of %lds", cases[i].age);
        CHECK_LONG(what, showq_report_bucket(cases[i].age), cases[i].bucket);
    }
}

static void test_domain(void)
{
    static const struct { const char *addr, *domain; } cases[] = {
        { "user@example.com", "example.com" },
        { "\"a@b\"@example.org", "example.org" },
        { "postmaster", "" },
        { "user@", "" },
        { "", "" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t dlen;
        const char *d = showq_select_addr_domain(cases[i].addr, strlen(cases[i].addr),
                                                 &dlen);
        char got[64];
        snprintf(got, sizeof(got), "%.*s", (int)dlen, d);
        CHECK_STR(cases[i].addr, got, cases[i].domain);
    }
}

/* A request with the given "name=value" attributes. */
static void make_req(struct attr_msg *req, const char *const *pairs)
{
    attr_msg_reset(req);
    for (size_t i = 0; pairs[i] != NULL; i++) {
        const char *eq = strchr(pairs[i], '=');
        struct attr a;
        a.name = xstrndup(pairs[i], (size_t)(eq - pairs[i]));
        a.value = xstrdup(eq + 1);
        a.len = strlen(a.value);
        req->attrs = xgrow(req->attrs, &req->cap, req->count + 1, sizeof(struct attr));
        req->attrs[req->count++] = a;
    }
}

static void test_select(void)
{
    struct qindex_rcpt rcpts[2] = {
        { "a@Example.COM", 13, "", 0, "", 0 },
        { "b@other.org", 11, "4.4.1", 5, "connect to mx.other.org: Connection refused", 43 },
    };
    struct qindex_entry e;
    struct attr_msg req;
    struct showq_select sel;
    char err[SHOWQ_ERR_MAX];
    static const struct {
        const char *pairs[4];
        int ok, match;
        const char *err_has;
    } cases[] = {
        { { "req=list", NULL }, 1, 1, NULL },
        { { "req=list", "queue=deferred", NULL }, 1, 1, NULL },
        { { "req=list", "queue=hold", NULL }, 1, 0, NULL },
        { { "req=list", "queue=nosuch", NULL }, 0, 0, "unknown queue" },
        { { "req=list", "sender=^s@example\\.net$", NULL }, 1, 1, NULL },
        { { "req=list", "sender=^other", NULL }, 1, 0, NULL },
        { { "req=list", "sender=(", NULL }, 0, 0, "bad sender pattern" },
        { { "req=list", "domain=^example\\.com$", NULL }, 1, 1, NULL },
        { { "req=list", "domain=(?-i)^example\\.com$", NULL }, 1, 0, NULL },
        { { "req=list", "recipient=^b@", NULL }, 1, 1, NULL },
        { { "req=list", "reason=refused", NULL }, 1, 1, NULL },
        /* recipient conditions hold for one and the same recipient */
        { { "req=list", "reason=refused", "domain=example", NULL }, 1, 0, NULL },
        { { "req=list", "reason=refused", "domain=other", NULL }, 1, 1, NULL },
        { { "req=list", "older=3600", NULL }, 1, 1, NULL },
        { { "req=list", "older=7201", NULL }, 1, 0, NULL },
        { { "req=list", "newer=7201", NULL }, 1, 1, NULL },
        { { "req=list", "newer=7200", NULL }, 1, 0, NULL },
        { { "req=list", "older=x", NULL }, 0, 0, "bad older" },
        { { "req=list", "recipient=(a+)+$", NULL }, 1, 0, NULL },
    };

    memset(&e, 0, sizeof(e));
    snprintf(e.queue_id, sizeof(e.queue_id), "0005F2A8C31B2E000123");
    e.state = QUEUE_DEFERRED;
    e.sender = "s@example.net";
    e.sender_len = strlen(e.sender);
    e.rcpt_count = 2;
    e.rcpts = rcpts;
    attr_msg_init(&req);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc;
        make_req(&req, cases[i].pairs);
        err[0] = '\0';
        rc = showq_select_init(&sel, &req, err, sizeof(err));
        CHECK_LONG(cases[i].pairs[1] ? cases[i].pairs[1] : "no selection", rc, cases[i].ok ? 0 : -1);
        if (rc == 0) {
            e.arrival.tv_sec = sel.now - 7200;
            CHECK_LONG(cases[i].pairs[1] ? cases[i].pairs[1] : "no selection",
                       showq_select_match(&sel, &e), cases[i].match);
        } else if (cases[i].err_has) {
            CHECK_TRUE(err, strstr(err, cases[i].err_has) != NULL);
        }
        showq_select_free(&sel);
    }
    /* A catastrophic pattern against a long subject hits the limit, not the CPU. */
    {
        static char longaddr[200];
        struct qindex_rcpt r = { longaddr, 0, "", 0, "", 0 };
        const char *pairs[] = { "req=list", "recipient=^(a+)+[^a]", NULL };
        memset(longaddr, 'a', sizeof(longaddr) - 1);
        r.address_len = sizeof(longaddr) - 1;
        make_req(&req, pairs);
        CHECK_LONG("catastrophic pattern compiles",
                   showq_select_init(&sel, &req, err, sizeof(err)), 0);
        CHECK_LONG("no match", showq_select_rcpt_match(&sel, &r), 0);
        CHECK_TRUE("limit counted", sel.match_errors == 1);
        showq_select_free(&sel);
    }
    attr_msg_free(&req);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_escaping();
    test_big_output();
    test_closed_reader();
    test_topk_exact();
    test_topk_bounded();
    test_topk_long_keys();
    test_buckets();
    test_domain();
    test_select();
    return check_finish("test_showq");
}
