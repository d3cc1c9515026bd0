/*
 * test_queue_index.c - the LMDB queue index: record encoding (round trip,
 * clamping, every truncation and corrupted length rejected), put / get /
 * set_state / delete with exact counts, walk order, transactions, reopening,
 * rebuilding a stale index, and reconciliation with a small real queue.
 * Runs in a scratch queue directory under /tmp that it chdir()s into.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "alloc.h"
#include "check.h"
#include "queue_dir.h"
#include "queue_file.h"
#include "queue_index.h"

#define MAP_SIZE (64UL * 1024 * 1024)

static char tmpdir[] = "/tmp/test_queue_index.XXXXXX";

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static char *repeat(char c, size_t n)
{
    char *s = xmalloc(n + 1);

    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void set_rcpt(struct qindex_rcpt *r, const char *addr, const char *dsn,
                     const char *reason)
{
    r->address = addr;
    r->address_len = strlen(addr);
    r->dsn = dsn;
    r->dsn_len = strlen(dsn);
    r->reason = reason;
    r->reason_len = strlen(reason);
}

/* An ID for an arrival second and a fake inode. */
static void make_id(char *id, long sec, unsigned long inode)
{
    struct timeval tv = {.tv_sec = sec, .tv_usec = 0};

    queue_id_make(id, QUEUE_ID_MAX + 1, &tv, (ino_t)inode);
}

static void make_entry(struct qindex_entry *e, const char *id, enum queue_state state,
                       int64_t size, struct qindex_rcpt *rcpts, size_t n)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->queue_id, sizeof(e->queue_id), "%s", id);
    queue_id_time(id, &e->arrival);
    e->state = state;
    e->size = size;
    e->next_attempt = state == QUEUE_DEFERRED ? 1700001000 : 0;
    e->sender = "sender@example.com";
    e->sender_len = strlen(e->sender);
    e->rcpts = rcpts;
    e->rcpt_count = n;
}

static unsigned char *encode(const struct qindex_entry *e, size_t *len)
{
    unsigned char *buf;

    *len = qindex_encoded_size(e);
    buf = xmalloc(*len + 1);
    CHECK_LONG("encode writes encoded_size bytes", qindex_encode(e, buf), *len);
    return buf;
}

/* Counts must equal the wanted messages/bytes for every state. */
static void check_counts(struct qindex *qi, const char *how, const long want_msgs[],
                         const long want_bytes[])
{
    uint64_t msgs[QUEUE_STATE_COUNT], bytes[QUEUE_STATE_COUNT];
    char what[160];

    CHECK_LONG(how, qindex_counts(qi, msgs, bytes), 0);
    for (int s = 0; s < QUEUE_STATE_COUNT; s++) {
        snprintf(what, sizeof(what), "%s: %s messages", how, queue_state_name(s));
        CHECK_LONG(what, msgs[s], want_msgs[s]);
        snprintf(what, sizeof(what), "%s: %s bytes", how, queue_state_name(s));
        CHECK_LONG(what, bytes[s], want_bytes[s]);
    }
}

/* Walk collecting "ID:state" lines. */
struct collect {
    char text[4096];
    size_t n;
    int stop_after;
};

static int collect_fn(const struct qindex_entry *e, void *ctx)
{
    struct collect *c = ctx;
    size_t used = strlen(c->text);

    snprintf(c->text + used, sizeof(c->text) - used, "%s%s:%s", used ? " " : "", e->queue_id,
             queue_state_name(e->state));
    c->n++;
    return c->stop_after && (int)c->n >= c->stop_after ? 7 : 0;
}

static void walk_text(struct qindex *qi, struct collect *c)
{
    char err[QINDEX_ERR_MAX] = "";

    memset(c, 0, sizeof(*c));
    CHECK_LONG("walk", qindex_walk(qi, collect_fn, c, err, sizeof(err)), 0);
}

/* Write a meta value straight into the environment (simulating an old or
 * crashed index). */
static void poke_meta(const char *name, const char *value)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val key = {strlen(name), (void *)name}, val = {strlen(value), (void *)value};
    int rc;

    rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(env, 3);
    if (rc == 0)
        rc = mdb_env_open(env, QINDEX_DIR, 0, 0600);
    if (rc == 0)
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "meta", 0, &dbi);
    if (rc == 0)
        rc = mdb_put(txn, dbi, &key, &val, 0);
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    CHECK_LONG("poke meta", rc, 0);
    mdb_env_close(env);
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

static void check_same(const struct qindex_entry *a, const struct qindex_entry *b,
                       const char *how)
{
    char what[160];

#define W(x) (snprintf(what, sizeof(what), "%s: %s", how, x), what)
    CHECK_LONG(W("state"), b->state, a->state);
    CHECK_LONG(W("arrival sec"), b->arrival.tv_sec, a->arrival.tv_sec);
    CHECK_LONG(W("arrival usec"), b->arrival.tv_usec, a->arrival.tv_usec);
    CHECK_LONG(W("size"), b->size, a->size);
    CHECK_LONG(W("next attempt"), b->next_attempt, a->next_attempt);
    CHECK_STR(W("sender"), b->sender, a->sender);
    CHECK_LONG(W("sender_len"), b->sender_len, strlen(a->sender));
    CHECK_LONG(W("rcpt_count"), b->rcpt_count, a->rcpt_count);
    for (size_t i = 0; i < a->rcpt_count && i < b->rcpt_count; i++) {
        CHECK_STR(W("address"), b->rcpts[i].address, a->rcpts[i].address);
        CHECK_LONG(W("address_len"), b->rcpts[i].address_len, strlen(a->rcpts[i].address));
        CHECK_STR(W("dsn"), b->rcpts[i].dsn, a->rcpts[i].dsn);
        CHECK_STR(W("reason"), b->rcpts[i].reason, a->rcpts[i].reason);
        CHECK_LONG(W("reason_len"), b->rcpts[i].reason_len, strlen(a->rcpts[i].reason));
    }
#undef W
}

static void test_round_trip(void)
{
    static struct qindex_rcpt many[1000];
    struct qindex_rcpt three[3], back[1000];
    struct qindex_entry e, d;
    unsigned char *buf;
    size_t len;
    char id[QUEUE_ID_MAX + 1];
    struct {
        const char *name;
        const char *sender;
        struct qindex_rcpt *rcpts;
        size_t n;
        enum queue_state state;
    } cases[] = {
        {"three recipients", "a@example.com", three, 3, QUEUE_DEFERRED},
        {"null sender", "", three, 1, QUEUE_HOLD},
        {"no recipients", "b@example.com", NULL, 0, QUEUE_CORRUPT},
        {"many recipients", "c@example.com", many, 1000, QUEUE_ACTIVE},
    };

    set_rcpt(&three[0], "one@example.com", "4.4.1", "connect to mx: Connection refused");
    set_rcpt(&three[1], "two@example.org", "", "");
    set_rcpt(&three[2], "caf\xc3\xa9@example.net", "4.7.0", "greylisted, try later");
    for (size_t i = 0; i < 1000; i++)
        set_rcpt(&many[i], i % 2 ? "odd@example.com" : "even@example.com", "4.2.2",
                 "mailbox full");
    make_id(id, 1700000000, 0xABCDEF);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        make_entry(&e, id, cases[c].state, 12345 + (int64_t)c, cases[c].rcpts, cases[c].n);
        e.arrival.tv_usec = 999999;
        e.sender = cases[c].sender;
        e.sender_len = strlen(e.sender);
        buf = encode(&e, &len);
        CHECK_LONG(cases[c].name, qindex_decode(buf, len, &d, back, 1000), 0);
        CHECK_STR("decode leaves the ID empty", d.queue_id, "");
        check_same(&e, &d, cases[c].name);
        xfree(buf);
    }

    /* Fewer slots than recipients: all checked, the first ones stored. */
    make_entry(&e, id, QUEUE_DEFERRED, 1, three, 3);
    buf = encode(&e, &len);
    CHECK_LONG("decode cap 1", qindex_decode(buf, len, &d, back, 1), 0);
    CHECK_LONG("cap 1: real count", d.rcpt_count, 3);
    CHECK_STR("cap 1: first stored", back[0].address, "one@example.com");
    CHECK_LONG("decode cap 0, NULL array", qindex_decode(buf, len, &d, NULL, 0), 0);
    CHECK_LONG("cap 0: real count", d.rcpt_count, 3);
    xfree(buf);
}

static void test_clamping(void)
{
    struct qindex_rcpt r[2], back[2];
    struct qindex_entry e, d;
    char id[QUEUE_ID_MAX + 1];
    char *long_reason = repeat('r', 5000);
    char *long_addr = repeat('a', 3000);
    char *long_dsn = repeat('5', 300);
    char *utf8 = repeat('x', QINDEX_REASON_MAX + 10);
    char embedded[] = "before\0after";
    unsigned char *buf;
    size_t len;

    /* A two-byte character straddling the cut: dropped whole. */
    utf8[QINDEX_REASON_MAX - 1] = (char)0xC3;
    utf8[QINDEX_REASON_MAX] = (char)0xA9;
    r[0].address = long_addr;
    r[0].address_len = 3000;
    r[0].dsn = long_dsn;
    r[0].dsn_len = 300;
    r[0].reason = long_reason;
    r[0].reason_len = 5000;
    set_rcpt(&r[1], "x@example.com", "4.0.0", utf8);
    r[1].reason = embedded;
    r[1].reason_len = sizeof(embedded) - 1;
    make_id(id, 1700000000, 0x123456);
    make_entry(&e, id, QUEUE_DEFERRED, 10, r, 2);
    buf = encode(&e, &len);
    CHECK_LONG("clamped decodes", qindex_decode(buf, len, &d, back, 2), 0);
    CHECK_LONG("reason clamped", back[0].reason_len, QINDEX_REASON_MAX);
    CHECK_LONG("reason is NUL-terminated", strlen(back[0].reason), QINDEX_REASON_MAX);
    CHECK_LONG("address clamped", back[0].address_len, QINDEX_ADDR_MAX);
    CHECK_LONG("dsn clamped", back[0].dsn_len, QINDEX_DSN_MAX);
    CHECK_STR("embedded NUL cuts", back[1].reason, "before");
    xfree(buf);

    r[1].reason = utf8;
    r[1].reason_len = strlen(utf8);
    buf = encode(&e, &len);
    CHECK_LONG("utf8 cut decodes", qindex_decode(buf, len, &d, back, 2), 0);
    CHECK_LONG("utf8 cut before the character", back[1].reason_len, QINDEX_REASON_MAX - 1);
    xfree(buf);
    xfree(long_reason);
    xfree(long_addr);
    xfree(long_dsn);
    xfree(utf8);
}

static void test_malformed(void)
{
    struct qindex_rcpt r[2], back[2];
    struct qindex_entry e, d;
    char id[QUEUE_ID_MAX + 1];
    unsigned char *buf, *copy;
    size_t len, bad = 0;
    /* Offsets in the encoding of the entry below (sender "s@x", 3 bytes). */
    enum {
        AT_VERSION = 0, AT_STATE = 1, AT_SEC = 2, AT_USEC = 10, AT_SIZE = 14, AT_NEXT = 22,
        AT_SENDER_LEN = 30, AT_SENDER_NUL = 35, AT_COUNT = 36, AT_ADDR_LEN = 40
    };
    struct {
        const char *name;
        size_t at;
        unsigned char value;
    } corrupt[] = {
        {"version 2", AT_VERSION, 2},
        {"version 0", AT_VERSION, 0},
        {"state 5", AT_STATE, QUEUE_STATE_COUNT},
        {"state 255", AT_STATE, 255},
        {"negative arrival", AT_SEC + 7, 0x80},
        {"usec too big", AT_USEC + 2, 0x10},
        {"negative size", AT_SIZE + 7, 0xFF},
        {"negative next attempt", AT_NEXT + 7, 0x80},
        {"sender length past the end", AT_SENDER_LEN + 1, 0x7F},
        {"sender length one more", AT_SENDER_LEN, 4},
        {"sender length one less", AT_SENDER_LEN, 2},
        {"sender not NUL-terminated", AT_SENDER_NUL, 'x'},
        {"embedded NUL in sender", AT_SENDER_LEN + 3, 0},
        {"count too large", AT_COUNT + 3, 0x01},
        {"count one more", AT_COUNT, 3},
        {"count one less", AT_COUNT, 1},
        {"address length past the end", AT_ADDR_LEN + 1, 0xFF},
    };

    set_rcpt(&r[0], "one@example.com", "4.4.1", "refused");
    set_rcpt(&r[1], "two@example.com", "", "");
    make_id(id, 1700000000, 0x123456);
    make_entry(&e, id, QUEUE_DEFERRED, 10, r, 2);
    e.sender = "s@x";
    e.sender_len = 3;
    buf = encode(&e, &len);
    CHECK_LONG("sample decodes", qindex_decode(buf, len, &d, back, 2), 0);
    CHECK_LONG("sample sender at 32", memcmp(buf + AT_SENDER_LEN + 2, "s@x", 3), 0);

    /* Every truncation, and one byte too many. */
    copy = xmalloc(len + 1);
    for (size_t n = 0; n < len; n++) {
        memcpy(copy, buf, n);
        if (qindex_decode(copy, n, &d, back, 2) == 0)
            bad++;
    }
    CHECK_LONG("every truncation rejected (accepted count)", bad, 0);
    memcpy(copy, buf, len);
    copy[len] = 0;
    CHECK_LONG("trailing byte rejected", qindex_decode(copy, len + 1, &d, back, 2), -1);
    CHECK_LONG("NULL data rejected", qindex_decode(NULL, 0, &d, back, 2), -1);

    for (size_t c = 0; c < sizeof(corrupt) / sizeof(corrupt[0]); c++) {
        memcpy(copy, buf, len);
        copy[corrupt[c].at] = corrupt[c].value;
        CHECK_LONG(corrupt[c].name, qindex_decode(copy, len, &d, back, 2), -1);
    }
    /* Lengths beyond the limits are malformed even if the data is there. */
    {
        char *big = repeat('a', QINDEX_ADDR_MAX + 1);
        unsigned char *raw = xmalloc(64 + QINDEX_ADDR_MAX);
        size_t n;

        memcpy(raw, buf, AT_SENDER_LEN);
        raw[AT_SENDER_LEN] = (QINDEX_ADDR_MAX + 1) & 0xFF;
        raw[AT_SENDER_LEN + 1] = (QINDEX_ADDR_MAX + 1) >> 8;
        memcpy(raw + AT_SENDER_LEN + 2, big, QINDEX_ADDR_MAX + 1);
        n = AT_SENDER_LEN + 2 + QINDEX_ADDR_MAX + 1;
        raw[n++] = 0;
        memset(raw + n, 0, 4);
        n += 4;
        CHECK_LONG("sender over the limit rejected", qindex_decode(raw, n, &d, NULL, 0), -1);
        raw[AT_SENDER_LEN] = QINDEX_ADDR_MAX & 0xFF;
        raw[AT_SENDER_LEN + 1] = QINDEX_ADDR_MAX >> 8;
        memmove(raw + AT_SENDER_LEN + 2 + QINDEX_ADDR_MAX, raw + AT_SENDER_LEN + 3 + QINDEX_ADDR_MAX,
                5);
        CHECK_LONG("sender at the limit accepted", qindex_decode(raw, n - 1, &d, NULL, 0), 0);
        xfree(big);
        xfree(raw);
    }
    xfree(copy);
    xfree(buf);
}

/* ------------------------------------------------------------------ */
/* The index                                                           */
/* ------------------------------------------------------------------ */

static void test_put_get_counts(void)
{
    struct qindex *qi = NULL, *ro = NULL;
    struct qindex_rcpt r[2], back[4];
    struct qindex_entry e, got;
    struct collect c;
    char err[QINDEX_ERR_MAX] = "";
    char a[QUEUE_ID_MAX + 1], b[QUEUE_ID_MAX + 1], c3[QUEUE_ID_MAX + 1], walk_want[256];
    long msgs[QUEUE_STATE_COUNT] = {0}, bytes[QUEUE_STATE_COUNT] = {0};

    CHECK_LONG("read-only open of a missing index fails", qindex_open(0, MAP_SIZE, &ro, err,
                                                                       sizeof(err)), -1);
    CHECK_TRUE("error names the file", strstr(err, "data.mdb") != NULL);
    CHECK_LONG("writable open", qindex_open(1, MAP_SIZE, &qi, err, sizeof(err)), 0);
    if (qi == NULL) {
        fprintf(stderr, "open: %s\n", err);
        return;
    }
    check_counts(qi, "empty", msgs, bytes);
    CHECK_LONG("a new index is fresh", qindex_fresh(qi), 1);
    walk_text(qi, &c);
    CHECK_LONG("empty walk", c.n, 0);

    set_rcpt(&r[0], "one@example.com", "4.4.1", "refused");
    set_rcpt(&r[1], "two@example.com", "", "");
    /* Inserted out of order: the walk must give arrival order. */
    make_id(a, 1700000300, 0x111111);
    make_id(b, 1700000100, 0x222222);
    make_id(c3, 1700000200, 0x333333);

    make_entry(&e, a, QUEUE_INCOMING, 1000, r, 2);
    CHECK_LONG("put a (own transaction)", qindex_put(qi, &e), 0);
    msgs[QUEUE_INCOMING] = 1, bytes[QUEUE_INCOMING] = 1000;
    check_counts(qi, "after put a", msgs, bytes);

    CHECK_LONG("begin", qindex_begin(qi, err, sizeof(err)), 0);
    make_entry(&e, b, QUEUE_DEFERRED, 200, r, 1);
    CHECK_LONG("put b", qindex_put(qi, &e), 0);
    make_entry(&e, c3, QUEUE_HOLD, 30, NULL, 0);
    CHECK_LONG("put c", qindex_put(qi, &e), 0);
    msgs[QUEUE_DEFERRED] = 1, bytes[QUEUE_DEFERRED] = 200;
    msgs[QUEUE_HOLD] = 1, bytes[QUEUE_HOLD] = 30;
    check_counts(qi, "inside the transaction", msgs, bytes);
    CHECK_LONG("get inside the write transaction", qindex_get(qi, b, &got, back, 4), 1);
    CHECK_LONG("commit", qindex_commit(qi, err, sizeof(err)), 0);
    check_counts(qi, "after commit", msgs, bytes);

    CHECK_LONG("get outside a transaction fails", qindex_get(qi, a, &got, back, 4), -1);
    CHECK_TRUE("qindex_error says why", strstr(qindex_error(qi), "transaction") != NULL);
    CHECK_LONG("read begin", qindex_read_begin(qi, err, sizeof(err)), 0);
    CHECK_LONG("get a", qindex_get(qi, a, &got, back, 4), 1);
    CHECK_STR("get a: id", got.queue_id, a);
    CHECK_LONG("get a: state", got.state, QUEUE_INCOMING);
    CHECK_LONG("get a: size", got.size, 1000);
    CHECK_STR("get a: sender", got.sender, "sender@example.com");
    CHECK_LONG("get a: rcpts", got.rcpt_count, 2);
    CHECK_STR("get a: reason", back[0].reason, "refused");
    CHECK_STR("get a: second rcpt", back[1].address, "two@example.com");
    CHECK_LONG("get b: next attempt", qindex_get(qi, b, &got, back, 4) == 1 ? got.next_attempt : 0,
               1700001000);
    CHECK_LONG("get missing", qindex_get(qi, "0000000000000000000000", &got, back, 4), 0);
    CHECK_LONG("get invalid ID", qindex_get(qi, "../../etc/passwd", &got, back, 4), 0);
    qindex_read_end(qi);

    snprintf(walk_want, sizeof(walk_want), "%s:deferred %s:hold %s:incoming", b, c3, a);
    walk_text(qi, &c);
    CHECK_STR("walk in ID order", c.text, walk_want);
    memset(&c, 0, sizeof(c));
    c.stop_after = 2;
    CHECK_LONG("walk stopped returns fn's value", qindex_walk(qi, collect_fn, &c, err,
                                                              sizeof(err)), 7);
    CHECK_LONG("walk stopped after 2", c.n, 2);

    /* set_state moves the message and its bytes. */
    CHECK_LONG("set_state a active", qindex_set_state(qi, a, QUEUE_ACTIVE, 0), 1);
    msgs[QUEUE_INCOMING] = 0, bytes[QUEUE_INCOMING] = 0;
    msgs[QUEUE_ACTIVE] = 1, bytes[QUEUE_ACTIVE] = 1000;
    check_counts(qi, "after set_state", msgs, bytes);
    CHECK_LONG("set_state a deferred", qindex_set_state(qi, a, QUEUE_DEFERRED, 1700009999), 1);
    msgs[QUEUE_ACTIVE] = 0, bytes[QUEUE_ACTIVE] = 0;
    msgs[QUEUE_DEFERRED] = 2, bytes[QUEUE_DEFERRED] = 1200;
    check_counts(qi, "after set_state deferred", msgs, bytes);
    qindex_read_begin(qi, err, sizeof(err));
    CHECK_LONG("get after set_state", qindex_get(qi, a, &got, back, 4), 1);
    CHECK_LONG("state changed", got.state, QUEUE_DEFERRED);
    CHECK_LONG("next attempt changed", got.next_attempt, 1700009999);
    CHECK_LONG("recipients kept", got.rcpt_count, 2);
    CHECK_STR("reason kept", back[0].reason, "refused");
    qindex_read_end(qi);
    CHECK_LONG("set_state of a missing entry", qindex_set_state(qi, "0000000000000000000000",
                                                                QUEUE_HOLD, 0), 0);
    CHECK_LONG("set_state to a bad state", qindex_set_state(qi, a, QUEUE_STATE_COUNT, 0), -1);

    /* Replacing an entry first takes out the old state and size. */
    make_entry(&e, a, QUEUE_HOLD, 5000, r, 1);
    CHECK_LONG("replace a", qindex_put(qi, &e), 0);
    msgs[QUEUE_DEFERRED] = 1, bytes[QUEUE_DEFERRED] = 200;
    msgs[QUEUE_HOLD] = 2, bytes[QUEUE_HOLD] = 5030;
    check_counts(qi, "after replace", msgs, bytes);

    /* An aborted transaction changes nothing, counts included. */
    qindex_begin(qi, err, sizeof(err));
    CHECK_LONG("delete in txn", qindex_delete(qi, b), 1);
    qindex_abort(qi);
    check_counts(qi, "after abort", msgs, bytes);

    CHECK_LONG("delete b", qindex_delete(qi, b), 1);
    CHECK_LONG("delete b again", qindex_delete(qi, b), 0);
    CHECK_LONG("delete invalid ID", qindex_delete(qi, "x"), 0);
    msgs[QUEUE_DEFERRED] = 0, bytes[QUEUE_DEFERRED] = 0;
    check_counts(qi, "after delete", msgs, bytes);

    /* Bad entries are refused. */
    make_entry(&e, a, QUEUE_HOLD, -1, NULL, 0);
    CHECK_LONG("negative size refused", qindex_put(qi, &e), -1);
    make_entry(&e, a, QUEUE_HOLD, 1, NULL, 0);
    snprintf(e.queue_id, sizeof(e.queue_id), "not-an-id");
    CHECK_LONG("bad ID refused", qindex_put(qi, &e), -1);
    check_counts(qi, "after refusals", msgs, bytes);

    /* Dirty marker. */
    CHECK_LONG("clean at first", qindex_is_dirty(qi), 0);
    CHECK_LONG("set dirty", qindex_set_dirty(qi, 1, err, sizeof(err)), 0);
    CHECK_LONG("is dirty", qindex_is_dirty(qi), 1);
    CHECK_LONG("clear dirty", qindex_set_dirty(qi, 0, err, sizeof(err)), 0);
    CHECK_LONG("clean again", qindex_is_dirty(qi), 0);

    /* A reader sees what was committed, and cannot write. */
    CHECK_LONG("read-only open", qindex_open(0, MAP_SIZE, &ro, err, sizeof(err)), 0);
    if (ro != NULL) {
        check_counts(ro, "reader's counts", msgs, bytes);
        walk_text(ro, &c);
        CHECK_LONG("reader's walk", c.n, 2);
        CHECK_LONG("reader cannot begin", qindex_begin(ro, err, sizeof(err)), -1);
        CHECK_LONG("reader cannot put", qindex_put(ro, &e), -1);
        qindex_close(ro);
    }
    qindex_close(qi);

    /* Reopening keeps everything. */
    qi = NULL;
    CHECK_LONG("reopen", qindex_open(1, MAP_SIZE, &qi, err, sizeof(err)), 0);
    if (qi != NULL) {
        check_counts(qi, "after reopen", msgs, bytes);
        CHECK_LONG("a reopened index is not fresh", qindex_fresh(qi), 0);
        walk_text(qi, &c);
        snprintf(walk_want, sizeof(walk_want), "%s:hold %s:hold", c3, a);
        CHECK_STR("walk after reopen", c.text, walk_want);
        qindex_close(qi);
    }
}

static void test_batch(void)
{
    struct qindex *qi = NULL;
    struct qindex_rcpt r[1];
    struct qindex_entry e;
    struct collect c;
    char err[QINDEX_ERR_MAX] = "";
    char id[QUEUE_ID_MAX + 1];
    long msgs[QUEUE_STATE_COUNT] = {0}, bytes[QUEUE_STATE_COUNT] = {0};
    const long n = 20000;

    qindex_destroy();
    CHECK_LONG("open for batch", qindex_open(1, MAP_SIZE, &qi, err, sizeof(err)), 0);
    if (qi == NULL)
        return;
    set_rcpt(&r[0], "rcpt@example.com", "4.4.1", "timeout");
    CHECK_LONG("begin batch", qindex_begin(qi, err, sizeof(err)), 0);
    for (long i = 0; i < n; i++) {
        enum queue_state s = (enum queue_state)(i % QUEUE_STATE_COUNT);

        make_id(id, 1700000000 + i, 0x100000 + (unsigned long)i);
        make_entry(&e, id, s, i, r, 1);
        if (qindex_put(qi, &e) < 0)
            break;
        msgs[s]++;
        bytes[s] += i;
    }
    CHECK_LONG("commit batch", qindex_commit(qi, err, sizeof(err)), 0);
    check_counts(qi, "after batch", msgs, bytes);
    memset(&c, 0, sizeof(c));
    walk_text(qi, &c);
    CHECK_LONG("batch walk count", c.n, n);
    /* Delete every third, in one transaction. */
    qindex_begin(qi, err, sizeof(err));
    for (long i = 0; i < n; i += 3) {
        make_id(id, 1700000000 + i, 0x100000 + (unsigned long)i);
        if (qindex_delete(qi, id) == 1) {
            msgs[i % QUEUE_STATE_COUNT]--;
            bytes[i % QUEUE_STATE_COUNT] -= i;
        }
    }
    qindex_commit(qi, err, sizeof(err));
    check_counts(qi, "after batch delete", msgs, bytes);
    qindex_close(qi);
}

static void test_rebuild(void)
{
    struct qindex *qi = NULL;
    struct qindex_entry e;
    struct collect c;
    char err[QINDEX_ERR_MAX] = "";
    char id[QUEUE_ID_MAX + 1];
    long zero[QUEUE_STATE_COUNT] = {0}, one_msg[QUEUE_STATE_COUNT] = {0},
         one_bytes[QUEUE_STATE_COUNT] = {0};
    int fd;

    one_msg[QUEUE_HOLD] = 1;
    one_bytes[QUEUE_HOLD] = 77;
    qindex_destroy();
    make_id(id, 1700000000, 0x424242);
    qindex_open(1, MAP_SIZE, &qi, err, sizeof(err));
    if (qi == NULL)
        return;
    make_entry(&e, id, QUEUE_HOLD, 77, NULL, 0);
    qindex_put(qi, &e);
    qindex_close(qi);

    /* An index of another format version. */
    poke_meta("version", "999");
    qi = NULL;
    CHECK_LONG("reader refuses another version", qindex_open(0, MAP_SIZE, &qi, err, sizeof(err)),
               -1);
    CHECK_TRUE("error names the version", strstr(err, "999") != NULL);
    CHECK_LONG("writer rebuilds it", qindex_open(1, MAP_SIZE, &qi, err, sizeof(err)), 0);
    if (qi != NULL) {
        check_counts(qi, "rebuilt: empty", zero, zero);
        CHECK_LONG("rebuilt: fresh", qindex_fresh(qi), 1);
        walk_text(qi, &c);
        CHECK_LONG("rebuilt: no entries", c.n, 0);
        qindex_put(qi, &e);
        qindex_close(qi);
    }

    /* Dirty, across a reboot: rebuilt. Dirty in this boot: kept. */
    qi = NULL;
    qindex_open(1, MAP_SIZE, &qi, err, sizeof(err));
    if (qi != NULL) {
        qindex_set_dirty(qi, 1, err, sizeof(err));
        qindex_close(qi);
    }
    qi = NULL;
    CHECK_LONG("dirty in this boot reopens", qindex_open(1, MAP_SIZE, &qi, err, sizeof(err)), 0);
    if (qi != NULL) {
        check_counts(qi, "dirty in this boot: kept", one_msg, one_bytes);
        CHECK_LONG("dirty in this boot: not fresh", qindex_fresh(qi), 0);
        qindex_close(qi);
    }
    if (access("/proc/sys/kernel/random/boot_id", R_OK) == 0) {
        poke_meta("boot", "00000000-0000-0000-0000-000000000000");
        qi = NULL;
        CHECK_LONG("dirty from an earlier boot reopens",
                   qindex_open(1, MAP_SIZE, &qi, err, sizeof(err)), 0);
        if (qi != NULL) {
            check_counts(qi, "dirty from an earlier boot: rebuilt", zero, zero);
            CHECK_LONG("dirty from an earlier boot: fresh", qindex_fresh(qi), 1);
            CHECK_LONG("rebuilt is clean", qindex_is_dirty(qi), 0);
            qindex_close(qi);
        }
    }

    /* Not an LMDB file at all. */
    qindex_destroy();
    fd = open(QINDEX_DIR "/data.mdb", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        char junk[8192];
        memset(junk, 'J', sizeof(junk));
        CHECK_LONG("write junk", write(fd, junk, sizeof(junk)), sizeof(junk));
        close(fd);
    }
    qi = NULL;
    CHECK_LONG("reader fails on junk", qindex_open(0, MAP_SIZE, &qi, err, sizeof(err)), -1);
    CHECK_TRUE("reader's error is LMDB's, translated", strncmp(err, "queue index: mdb_", 17) == 0);
    CHECK_LONG("writer rebuilds junk", qindex_open(1, MAP_SIZE, &qi, err, sizeof(err)), 0);
    if (qi != NULL) {
        check_counts(qi, "rebuilt from junk", zero, zero);
        qindex_close(qi);
    }
}

/* ------------------------------------------------------------------ */
/* Reconciliation                                                      */
/* ------------------------------------------------------------------ */

static const char content[] = "Subject: test\r\n\r\nhello\r\n";

/*
 * Write a complete queue file in `state` (arrival sec, recipients with
 * states), returning its ID in id.
 */
static int write_queue_file(enum queue_state state, long sec, const char *sender,
                            struct qf_rcpt *rcpts, size_t n, char *id)
{
    struct queue_file env;
    char err[QF_ERR_MAX] = "", tmp[64], path[QUEUE_PATH_MAX];
    struct stat st;
    int fd, rc = -1;

    memset(&env, 0, sizeof(env));
    env.arrival.tv_sec = sec;
    env.sender = (char *)sender;
    env.protocol = "ESMTP";
    env.body_type = "7BIT";
    env.rcpts = rcpts;
    env.rcpt_count = n;
    snprintf(tmp, sizeof(tmp), "tmp/new.%ld", sec);
    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || fstat(fd, &st) < 0)
        return -1;
    if (queue_file_write_envelope(fd, &env, err, sizeof(err)) == 0
        && write(fd, content, sizeof(content) - 1) == (ssize_t)(sizeof(content) - 1)
        && queue_file_finish(fd, sizeof(content) - 1, 0, err, sizeof(err)) == 0)
        rc = 0;
    close(fd);
    queue_id_make(id, QUEUE_ID_MAX + 1, &env.arrival, st.st_ino);
    queue_path(path, sizeof(path), state, id);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -1;
    if (rc < 0)
        fprintf(stderr, "write_queue_file: %s %s\n", err, strerror(errno));
    return rc;
}

struct bad_log {
    int calls;
    char path[QUEUE_PATH_MAX];
    char reason[QF_ERR_MAX];
};

static void on_bad(const char *path, const char *reason, void *ctx)
{
    struct bad_log *log = ctx;

    log->calls++;
    snprintf(log->path, sizeof(log->path), "%s", path);
    snprintf(log->reason, sizeof(log->reason), "%s", reason);
}

static void test_reconcile(void)
{
    struct qf_rcpt two[2] = {
        {.address = "done@example.com", .state = QF_RCPT_DELIVERED},
        {.address = "todo@example.com", .state = QF_RCPT_PENDING},
    };
    struct qf_rcpt one[1] = {{.address = "later@example.org", .state = QF_RCPT_PENDING}};
    char a[QUEUE_ID_MAX + 1], b[QUEUE_ID_MAX + 1], c3[QUEUE_ID_MAX + 1], d[QUEUE_ID_MAX + 1],
         bad[QUEUE_ID_MAX + 1], cor[QUEUE_ID_MAX + 1], ghost[QUEUE_ID_MAX + 1],
         path[QUEUE_PATH_MAX], want[512], err[QINDEX_ERR_MAX] = "";
    struct qindex_rcpt back[4];
    struct qindex_entry e, got;
    struct qindex_repair_stats st;
    struct bad_log log = {0};
    struct timeval times[2] = {{1700005000, 0}, {1700005000, 0}};
    struct qindex *qi = NULL;
    struct collect c;
    long msgs[QUEUE_STATE_COUNT] = {0}, bytes[QUEUE_STATE_COUNT] = {0};
    const long size = (long)sizeof(content) - 1;
    int fd;

    qindex_destroy();
    CHECK_LONG("write a (incoming)", write_queue_file(QUEUE_INCOMING, 1700000001, "s@example.com",
                                                      two, 2, a), 0);
    CHECK_LONG("write b (deferred)", write_queue_file(QUEUE_DEFERRED, 1700000002, "", one, 1, b), 0);
    CHECK_LONG("write c (hold)", write_queue_file(QUEUE_HOLD, 1700000003, "h@example.com", one, 1,
                                                  c3), 0);
    CHECK_LONG("write d (deferred)", write_queue_file(QUEUE_DEFERRED, 1700000004, "d@example.com",
                                                      two, 2, d), 0);
    CHECK_LONG("write bad (incoming)", write_queue_file(QUEUE_INCOMING, 1700000005, "x@example.com",
                                                        one, 1, bad), 0);
    CHECK_LONG("write cor (corrupt)", write_queue_file(QUEUE_CORRUPT, 1700000006, "y@example.com",
                                                       one, 1, cor), 0);
    make_id(ghost, 1700000007, 0xFEDCBA);
    /* b has a delay record and its next attempt in its mtime. */
    queue_path(path, sizeof(path), QUEUE_DEFERRED, b);
    fd = open(path, O_RDWR);
    CHECK_LONG("append delay to b", queue_file_append_delay(fd, 0, 1700000100, "4.4.1",
                                                            "connect refused"), 0);
    close(fd);
    CHECK_LONG("utimes b", utimes(path, times), 0);
    /* bad and cor are damaged: cut short. */
    queue_path(path, sizeof(path), QUEUE_INCOMING, bad);
    CHECK_LONG("truncate bad", truncate(path, 20), 0);
    queue_path(path, sizeof(path), QUEUE_CORRUPT, cor);
    CHECK_LONG("truncate cor", truncate(path, 10), 0);
    /* A file whose name is not an ID is ignored. */
    fd = open("hold/0/0/not-a-queue-id", O_WRONLY | O_CREAT, 0600);
    if (fd >= 0)
        close(fd);

    CHECK_LONG("open for reconcile", qindex_open(1, MAP_SIZE, &qi, err, sizeof(err)), 0);
    if (qi == NULL)
        return;
    /* What the index believes: a right (with a wrong size, which a name
     * walk cannot see), b in the wrong state, c and d missing, a ghost,
     * and an entry in the wrong state for the unreadable file (an entry in
     * the right state would be trusted: only names and states are checked). */
    qindex_begin(qi, err, sizeof(err));
    make_entry(&e, a, QUEUE_INCOMING, 999, NULL, 0);
    qindex_put(qi, &e);
    make_entry(&e, b, QUEUE_INCOMING, size, NULL, 0);
    qindex_put(qi, &e);
    make_entry(&e, ghost, QUEUE_DEFERRED, 50, NULL, 0);
    qindex_put(qi, &e);
    make_entry(&e, bad, QUEUE_HOLD, 60, NULL, 0);
    qindex_put(qi, &e);
    qindex_commit(qi, err, sizeof(err));

    CHECK_LONG("reconcile", qindex_reconcile(qi, &st, on_bad, &log, err, sizeof(err)), 0);
    CHECK_LONG("files_seen", st.files_seen, 6);
    CHECK_LONG("added (c, d, cor)", st.added, 3);
    CHECK_LONG("fixed_state (b)", st.fixed_state, 1);
    CHECK_LONG("removed (ghost)", st.removed, 1);
    CHECK_LONG("unreadable (bad)", st.unreadable, 1);
    CHECK_LONG("on_bad calls", log.calls, 1);
    queue_path(path, sizeof(path), QUEUE_INCOMING, bad);
    CHECK_STR("on_bad path", log.path, path);
    CHECK_TRUE("on_bad reason", log.reason[0] != '\0');

    snprintf(want, sizeof(want), "%s:incoming %s:deferred %s:hold %s:deferred %s:corrupt", a, b,
             c3, d, cor);
    walk_text(qi, &c);
    CHECK_STR("index after reconcile", c.text, want);
    msgs[QUEUE_INCOMING] = 1, bytes[QUEUE_INCOMING] = 999;
    msgs[QUEUE_DEFERRED] = 2, bytes[QUEUE_DEFERRED] = 2 * size;
    msgs[QUEUE_HOLD] = 1, bytes[QUEUE_HOLD] = size;
    msgs[QUEUE_CORRUPT] = 1, bytes[QUEUE_CORRUPT] = 10;
    check_counts(qi, "counts after reconcile", msgs, bytes);

    qindex_read_begin(qi, err, sizeof(err));
    CHECK_LONG("get b", qindex_get(qi, b, &got, back, 4), 1);
    CHECK_STR("b: null sender", got.sender, "");
    CHECK_LONG("b: next attempt = mtime", got.next_attempt, 1700005000);
    CHECK_LONG("b: arrival", got.arrival.tv_sec, 1700000002);
    CHECK_LONG("b: rcpts", got.rcpt_count, 1);
    CHECK_STR("b: dsn", back[0].dsn, "4.4.1");
    CHECK_STR("b: reason", back[0].reason, "connect refused");
    CHECK_LONG("get d", qindex_get(qi, d, &got, back, 4), 1);
    CHECK_LONG("d: pending only", got.rcpt_count, 1);
    CHECK_STR("d: pending rcpt", back[0].address, "todo@example.com");
    CHECK_STR("d: no reason", back[0].reason, "");
    CHECK_LONG("d: size", got.size, size);
    CHECK_LONG("get c", qindex_get(qi, c3, &got, back, 4), 1);
    CHECK_LONG("c: no next attempt outside deferred", got.next_attempt, 0);
    CHECK_STR("c: sender", got.sender, "h@example.com");
    CHECK_LONG("get cor", qindex_get(qi, cor, &got, back, 4), 1);
    CHECK_LONG("cor: arrival from its ID", got.arrival.tv_sec, 1700000006);
    CHECK_LONG("cor: no recipients", got.rcpt_count, 0);
    CHECK_LONG("no entry for the unreadable file", qindex_get(qi, bad, &got, back, 4), 0);
    CHECK_LONG("no entry for the ghost", qindex_get(qi, ghost, &got, back, 4), 0);
    qindex_read_end(qi);

    /* A second run finds nothing to do (but still reports the bad file). */
    memset(&log, 0, sizeof(log));
    CHECK_LONG("reconcile again", qindex_reconcile(qi, &st, on_bad, &log, err, sizeof(err)), 0);
    CHECK_LONG("again: files_seen", st.files_seen, 6);
    CHECK_LONG("again: added", st.added, 0);
    CHECK_LONG("again: fixed_state", st.fixed_state, 0);
    CHECK_LONG("again: removed", st.removed, 0);
    CHECK_LONG("again: unreadable", st.unreadable, 1);
    check_counts(qi, "again: counts", msgs, bytes);

    /* Reconcile refuses to run inside a caller's transaction. */
    qindex_begin(qi, err, sizeof(err));
    CHECK_LONG("reconcile inside a transaction", qindex_reconcile(qi, &st, NULL, NULL, err,
                                                                  sizeof(err)), -1);
    qindex_abort(qi);

    /* Messages move and go: the next reconcile follows. */
    CHECK_LONG("move c to deferred", queue_move(c3, QUEUE_HOLD, QUEUE_DEFERRED), 0);
    queue_path(path, sizeof(path), QUEUE_INCOMING, a);
    CHECK_LONG("remove a", unlink(path), 0);
    CHECK_LONG("reconcile after moves", qindex_reconcile(qi, &st, NULL, NULL, err, sizeof(err)), 0);
    CHECK_LONG("moves: fixed_state", st.fixed_state, 1);
    CHECK_LONG("moves: removed", st.removed, 1);
    CHECK_LONG("moves: unreadable", st.unreadable, 1);
    msgs[QUEUE_INCOMING] = 0, bytes[QUEUE_INCOMING] = 0;
    msgs[QUEUE_DEFERRED] = 3, bytes[QUEUE_DEFERRED] = 3 * size;
    msgs[QUEUE_HOLD] = 0, bytes[QUEUE_HOLD] = 0;
    check_counts(qi, "moves: counts", msgs, bytes);

    /* A lost index is rebuilt completely from the files. */
    qindex_close(qi);
    qindex_destroy();
    qi = NULL;
    qindex_open(1, MAP_SIZE, &qi, err, sizeof(err));
    if (qi == NULL)
        return;
    CHECK_LONG("reconcile from nothing", qindex_reconcile(qi, &st, NULL, NULL, err, sizeof(err)),
               0);
    CHECK_LONG("from nothing: added", st.added, 4);
    check_counts(qi, "from nothing: counts", msgs, bytes);
    qindex_close(qi);
}

/* ------------------------------------------------------------------ */

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int main(void)
{
    char top[sizeof(tmpdir)];

    test_round_trip();
    test_clamping();
    test_malformed();

    if (mkdtemp(tmpdir) == NULL || chdir(tmpdir) < 0) {
        perror(tmpdir);
        return 1;
    }
    snprintf(top, sizeof(top), "%s", tmpdir);
    CHECK_LONG("queue_dir_create", queue_dir_create((uid_t)-1, (gid_t)-1), 0);
    {
        struct stat st;
        CHECK_TRUE("index/ created", stat(QINDEX_DIR, &st) == 0 && S_ISDIR(st.st_mode)
                                     && (st.st_mode & 07777) == 0700);
    }
    test_put_get_counts();
    test_batch();
    test_rebuild();
    test_reconcile();

    if (chdir("/") == 0)
        nftw(top, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_finish("test_queue_index");
}
