/*
 * test_attr.c - the IPC attribute format: round trips, incremental reads,
 * limits and declaration checks.
 */
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "attr.h"
#include "check.h"

static void test_round_trip(void)
{
    struct evbuffer *buf = evbuffer_new();
    struct attr_msg msg;
    char err[128];
    static const char binary[] = "a\nb\0c=d#5\n\n";
    long n;

    attr_msg_init(&msg);
    attr_put_str(buf, "req", "open");
    attr_put_long(buf, "size", 12345);
    attr_put_str(buf, "rcpt", "a@example.com");
    attr_put_str(buf, "rcpt", "b@example.com");
    attr_put_data(buf, "data", binary, sizeof(binary));
    attr_put_str(buf, "empty", "");
    attr_put_end(buf);
    attr_put_str(buf, "req", "next");
    attr_put_end(buf);

    CHECK_LONG("read first", attr_read_evbuffer(buf, &msg, err, sizeof(err)), 1);
    CHECK_STR("req", attr_get(&msg, "req"), "open");
    CHECK_LONG("size ok", attr_get_long(&msg, "size", &n), 0);
    CHECK_LONG("size", n, 12345);
    CHECK_LONG("rcpt count", attr_count(&msg, "rcpt"), 2);
    CHECK_STR("rcpt 1", attr_find_nth(&msg, "rcpt", 1)->value, "b@example.com");
    CHECK_LONG("data len", attr_find(&msg, "data")->len, sizeof(binary));
    CHECK_TRUE("data bytes", memcmp(attr_find(&msg, "data")->value, binary, sizeof(binary)) == 0);
    CHECK_STR("empty", attr_get(&msg, "empty"), "");
    CHECK_TRUE("missing", attr_get(&msg, "nope") == NULL);
    attr_msg_reset(&msg);
    CHECK_LONG("read second", attr_read_evbuffer(buf, &msg, err, sizeof(err)), 1);
    CHECK_STR("req 2", attr_get(&msg, "req"), "next");
    CHECK_LONG("nothing left", evbuffer_get_length(buf), 0);
    attr_msg_free(&msg);
    evbuffer_free(buf);
}

/* Feeding one byte at a time gives the same message. */
static void test_incremental(void)
{
    struct evbuffer *src = evbuffer_new(), *in = evbuffer_new();
    struct attr_msg msg;
    char err[128];
    unsigned char *bytes;
    size_t len;
    int rc = 0;

    attr_msg_init(&msg);
    attr_put_str(src, "queue_id", "ABC");
    attr_put_data(src, "data", "xyz\n", 4);
    attr_put_end(src);
    len = evbuffer_get_length(src);
    bytes = evbuffer_pullup(src, -1);
    for (size_t i = 0; i < len; i++) {
        evbuffer_add(in, bytes + i, 1);
        rc = attr_read_evbuffer(in, &msg, err, sizeof(err));
        if (i + 1 < len)
            CHECK_LONG("not complete yet", rc, 0);
    }
    CHECK_LONG("complete", rc, 1);
    CHECK_STR("queue_id", attr_get(&msg, "queue_id"), "ABC");
    CHECK_STR("data", attr_get(&msg, "data"), "xyz\n");
    attr_msg_free(&msg);
    evbuffer_free(src);
    evbuffer_free(in);
}

struct bad_input {
    const char *bytes;
    const char *want_err;
};

static const struct bad_input bad_inputs[] = {
    {"noequals\n\n", "malformed attribute line"},
    {"Upper=1\n\n", "malformed attribute line"},
    {"=1\n\n", "malformed attribute line"},
    {"a b=1\n\n", "malformed attribute line"},
    {"cr=a\rb\n\n", "control character"},
    {"data#x\n\n", "bad binary attribute length"},
    {"data#99999999999\n", "bad binary attribute length"},
    {"data#3\nabcX\n", "binary attribute not followed by newline"},
    {"averyveryveryveryveryverylongname_x=1\n\n", "malformed attribute line"},
};

static void test_bad_inputs(void)
{
    for (size_t i = 0; i < sizeof(bad_inputs) / sizeof(bad_inputs[0]); i++) {
        struct evbuffer *in = evbuffer_new();
        struct attr_msg msg;
        char err[128] = "";

        attr_msg_init(&msg);
        evbuffer_add(in, bad_inputs[i].bytes, strlen(bad_inputs[i].bytes));
        CHECK_LONG(bad_inputs[i].bytes, attr_read_evbuffer(in, &msg, err, sizeof(err)), -1);
        CHECK_TRUE(err, strstr(err, bad_inputs[i].want_err) != NULL);
        attr_msg_free(&msg);
        evbuffer_free(in);
    }
}

static void test_line_limit(void)
{
    struct evbuffer *in = evbuffer_new();
    struct attr_msg msg;
    char err[128];
    char chunk[1024];

    attr_msg_init(&msg);
    memset(chunk, 'x', sizeof(chunk));
    evbuffer_add(in, "a=", 2);
    for (int i = 0; i < ATTR_LINE_MAX / 1024 + 2; i++)
        evbuffer_add(in, chunk, sizeof(chunk));
    CHECK_LONG("no newline, over limit", attr_read_evbuffer(in, &msg, err, sizeof(err)), -1);
    attr_msg_free(&msg);
    evbuffer_free(in);
}

static void test_check(void)
{
    static const char *const required[] = {"req", "queue_id", NULL};
    static const char *const optional[] = {"verbose", NULL};
    static const char *const repeated[] = {"rcpt", NULL};
    struct { const char *bytes; int want; const char *want_err; } cases[] = {
        {"req=x\nqueue_id=1\n\n", 0, ""},
        {"req=x\nqueue_id=1\nrcpt=a\nrcpt=b\nverbose=1\n\n", 0, ""},
        {"req=x\n\n", -1, "missing attribute: queue_id"},
        {"req=x\nqueue_id=1\nqueue_id=2\n\n", -1, "duplicate attribute: queue_id"},
        {"req=x\nqueue_id=1\nextra=1\n\n", -1, "unexpected attribute: extra"},
        {"req=x\nqueue_id=1\nverbose=1\nverbose=1\n\n", -1, "duplicate attribute: verbose"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct evbuffer *in = evbuffer_new();
        struct attr_msg msg;
        char err[128] = "";

        attr_msg_init(&msg);
        evbuffer_add(in, cases[i].bytes, strlen(cases[i].bytes));
        CHECK_LONG("parse", attr_read_evbuffer(in, &msg, err, sizeof(err)), 1);
        err[0] = '\0';
        CHECK_LONG(cases[i].bytes, attr_check(&msg, required, optional, repeated, err, sizeof(err)),
                   cases[i].want);
        CHECK_STR("error text", err, cases[i].want_err);
        attr_msg_free(&msg);
        evbuffer_free(in);
    }
}

static void test_fd_io(void)
{
    int fds[2];
    struct evbuffer *out = evbuffer_new();
    struct attr_msg msg;
    char err[128];

    attr_msg_init(&msg);
    CHECK_LONG("pipe", pipe(fds), 0);
    attr_put_str(out, "status", "ok");
    attr_put_end(out);
    CHECK_LONG("write", attr_write_fd(fds[1], out, 5), 0);
    close(fds[1]);
    CHECK_LONG("read", attr_read_fd(fds[0], &msg, 5, err, sizeof(err)), 1);
    CHECK_STR("status", attr_get(&msg, "status"), "ok");
    attr_msg_reset(&msg);
    CHECK_LONG("eof", attr_read_fd(fds[0], &msg, 5, err, sizeof(err)), 0);
    close(fds[0]);
    attr_msg_free(&msg);
    evbuffer_free(out);
}

int main(void)
{
    test_round_trip();
    test_incremental();
    test_bad_inputs();
    test_line_limit();
    test_check();
    test_fd_io();
    return check_finish("test_attr");
}
