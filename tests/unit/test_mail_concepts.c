/*
 * test_mail_concepts.c - the owners of mail concepts: status codes (dsn),
 * the delivery log line (delivery_log), the IPC declarations and their
 * writer (mail_proto).
 */
#include <string.h>
#include <sys/time.h>

#include <event2/buffer.h>

#include "attr.h"
#include "check.h"
#include "delivery_log.h"
#include "dsn.h"
#include "mail_proto.h"
#include "strbuf.h"

static const struct {
    const char *text;
    enum dsn_class want_class;
    size_t want_len;
} prefix_cases[] = {
    { "5.7.1 Relay access denied", DSN_CLASS_NONE, 5 },
    { "5.7.1", DSN_CLASS_NONE, 5 },
    { "4.999.999 x", DSN_CLASS_TEMP, 9 },
    { "2.0.0", DSN_CLASS_SUCCESS, 5 },
    { "5.1.10", DSN_CLASS_PERM, 6 },
    { "5.7.1", DSN_CLASS_TEMP, 0 },
    { "3.1.1", DSN_CLASS_NONE, 0 },
    { "5.1000.1", DSN_CLASS_NONE, 0 },
    { "5.1.1000", DSN_CLASS_NONE, 0 },
    { "5..1", DSN_CLASS_NONE, 0 },
    { "5.1.", DSN_CLASS_NONE, 0 },
    { "5.1.1x", DSN_CLASS_NONE, 0 },
    { "5.1.1\tx", DSN_CLASS_NONE, 5 },
    { "5.1.1\nx", DSN_CLASS_NONE, 0 },
    { "", DSN_CLASS_NONE, 0 },
    { "5", DSN_CLASS_NONE, 0 },
    { "5.a.1", DSN_CLASS_NONE, 0 },
};

static void test_dsn(void)
{
    char buf[DSN_SIZE];

    for (size_t i = 0; i < sizeof(prefix_cases) / sizeof(prefix_cases[0]); i++)
        CHECK_LONG(prefix_cases[i].text,
                   dsn_prefix_len(prefix_cases[i].text, strlen(prefix_cases[i].text),
                                  prefix_cases[i].want_class),
                   prefix_cases[i].want_len);
    CHECK_LONG("length bounds the text", dsn_prefix_len("5.1.10", 5, DSN_CLASS_NONE), 5);
    CHECK_TRUE("valid", dsn_valid(DSN_TEMP_SYSTEM));
    CHECK_TRUE("valid with text is not", !dsn_valid("4.3.0 x"));
    CHECK_LONG("class temp", dsn_class_of("4.4.1"), DSN_CLASS_TEMP);
    CHECK_LONG("class perm", dsn_class_of(DSN_NULL_MX), DSN_CLASS_PERM);
    CHECK_LONG("class of junk", dsn_class_of("x"), DSN_CLASS_NONE);
    CHECK_LONG("class of NULL", dsn_class_of(NULL), DSN_CLASS_NONE);
    CHECK_STR("reply 2", dsn_for_reply_class('2'), "2.0.0");
    CHECK_STR("reply 4", dsn_for_reply_class('4'), "4.0.0");
    CHECK_STR("reply 5", dsn_for_reply_class('5'), "5.0.0");
    CHECK_STR("reply 3", dsn_for_reply_class('3'), "");
    dsn_with_class(buf, "5.1.1", DSN_CLASS_TEMP);
    CHECK_STR("with class", buf, "4.1.1");
    /* Every named constant is a valid code. */
    {
        const char *names[] = { DSN_SUCCESS, DSN_TEMP_DEFAULT, DSN_PERM_DEFAULT, DSN_BAD_DOMAIN,
                                DSN_BAD_ADDRESS, DSN_NULL_MX, DSN_TEMP_SYSTEM, DSN_CONFIG,
                                DSN_TOO_BIG, DSN_NO_ANSWER, DSN_BAD_CONNECTION, DSN_DNS_TEMP,
                                DSN_NO_ROUTE_TEMP, DSN_NO_ROUTE, DSN_LOOP, DSN_EXPIRED,
                                DSN_PROTOCOL_TEMP, DSN_TOO_MANY_RCPTS, DSN_BAD_ARGUMENTS };
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            CHECK_TRUE(names[i], dsn_valid(names[i]));
    }
}

static struct timeval tv(long sec, long usec)
{
    struct timeval t = { sec, usec };
    return t;
}

static void test_delivery_log(void)
{
    struct strbuf line = STRBUF_INIT;
    struct delivery_log_entry e;

    memset(&e, 0, sizeof(e));
    e.queue_id = "ID";
    e.sender = "a@example.com";
    e.recipient = "b@example.net";
    e.relay = "mx.example.net[192.0.2.1]:25";
    e.size = 4096;
    e.message_id = "m1@example.com";
    e.dsn = "2.0.0";
    e.status = DELIVERY_STATUS_SENT;
    e.text = "250 2.0.0 Ok: queued as X";
    e.arrival = tv(1000, 0);
    e.agent_start = tv(1001, 500000);
    e.connect_start = tv(1001, 510000);
    e.data_start = tv(1001, 600000);
    e.done = tv(1002, 0);
    delivery_log_format(&e, &line);
    CHECK_STR("agent line", strbuf_str(&line),
              "from=<a@example.com>, to=<b@example.net>, relay=mx.example.net[192.0.2.1]:25, "
              "delay=2.00, delays=1.50/0.01/0.09/0.40, size=4096, message-id=<m1@example.com>, "
              "dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as X)");
    /* qmgr's own decision: all in a; no relay; message-id already bracketed. */
    strbuf_reset(&line);
    e.relay = NULL;
    e.orig_recipient = "alias@example.net";
    e.agent_start = e.connect_start = e.data_start = tv(0, 0);
    e.message_id = "<m2@x>";
    e.sender = "";
    e.status = DELIVERY_STATUS_DEFERRED;
    e.dsn = DSN_TEMP_SYSTEM;
    e.text = "queue file write error";
    delivery_log_format(&e, &line);
    CHECK_STR("qmgr line", strbuf_str(&line),
              "from=<>, to=<b@example.net>, orig_to=<alias@example.net>, relay=none, delay=2.00, "
              "delays=2.00/0/0/0, size=4096, message-id=<m2@x>, dsn=4.3.0, status=deferred "
              "(queue file write error)");
    strbuf_free(&line);
    {
        char d[32];
        delivery_log_delay(0.0049, d, sizeof(d));
        CHECK_STR("under 5 ms", d, "0");
        delivery_log_delay(0.005, d, sizeof(d));
        CHECK_STR("5 ms", d, "0.01");
    }
}

/* Write a declared message, read it back, check it against the declaration. */
static void test_proto_round_trip(void)
{
    struct evbuffer *buf = evbuffer_new();
    struct proto_out out;
    struct attr_msg msg;
    char err[256];

    proto_begin(&out, buf, &proto_smtp_rcpt_event);
    proto_put_str(&out, MAIL_ATTR_EVENT, SMTP_EVENT_RCPT);
    proto_put_long(&out, MAIL_ATTR_INDEX, 3);
    proto_put_str(&out, MAIL_ATTR_STATUS, SMTP_STATUS_SENT);
    proto_put_str(&out, MAIL_ATTR_DSN, DSN_SUCCESS);
    proto_put_text(&out, MAIL_ATTR_RELAY, "mx[1.2.3.4]:25");
    proto_put_text(&out, MAIL_ATTR_REPLY, "250 ok\r\nsmuggled");
    proto_end(&out);
    attr_msg_init(&msg);
    CHECK_LONG("read back", attr_read_evbuffer(buf, &msg, err, sizeof(err)), 1);
    CHECK_LONG("fits its declaration", proto_check(&msg, &proto_smtp_rcpt_event, err, sizeof(err)), 0);
    CHECK_STR("CR LF cleaned", attr_get(&msg, MAIL_ATTR_REPLY), "250 ok  smuggled");
    CHECK_LONG("not another declaration", proto_check(&msg, &proto_qmgr_rcpt_event, err, sizeof(err)), -1);
    CHECK_STR("error names the message", err, "qmgr rcpt event: missing attribute: address");
    attr_msg_free(&msg);
    evbuffer_free(buf);
}

static void test_proto_repeated(void)
{
    struct evbuffer *buf = evbuffer_new();
    struct proto_out out;
    struct attr_msg msg;
    char err[256];

    proto_begin(&out, buf, &proto_smtp_deliver);
    proto_put_str(&out, MAIL_ATTR_REQ, SMTP_REQ_DELIVER);
    proto_put_str(&out, MAIL_ATTR_QUEUE_ID, "ID");
    proto_put_str(&out, MAIL_ATTR_QUEUE_FILE, "active/0/0/ID");
    proto_put_str(&out, MAIL_ATTR_NEXTHOP, "[127.0.0.1]:25");
    proto_put_str(&out, MAIL_ATTR_RCPT, "0 a@b");
    proto_put_str(&out, MAIL_ATTR_RCPT, "1 c@d");
    proto_end(&out);
    attr_msg_init(&msg);
    CHECK_LONG("read back", attr_read_evbuffer(buf, &msg, err, sizeof(err)), 1);
    CHECK_LONG("deliver fits", proto_check(&msg, &proto_smtp_deliver, err, sizeof(err)), 0);
    CHECK_LONG("two rcpts", attr_count(&msg, MAIL_ATTR_RCPT), 2);
    attr_msg_free(&msg);
    /* A received message with an undeclared attribute is refused. */
    attr_put_str(buf, MAIL_ATTR_REQ, QMGR_REQ_WAKEUP);
    attr_put_str(buf, "extra", "x");
    attr_put_end(buf);
    attr_msg_init(&msg);
    CHECK_LONG("read extra", attr_read_evbuffer(buf, &msg, err, sizeof(err)), 1);
    CHECK_LONG("extra refused", proto_check(&msg, &proto_qmgr_wakeup, err, sizeof(err)), -1);
    CHECK_STR("extra named", err, "qmgr wakeup: unexpected attribute: extra");
    attr_msg_free(&msg);
    evbuffer_free(buf);
}

/*
 * The messages qmgr and smtp write, through their declarations: the bytes
 * on the wire (what tests/system and older peers speak) and the check at
 * the other end. pairs: name, value, ..., NULL.
 */
static const struct {
    const struct proto_msg *def;
    const char *pairs[16];
    const char *wire;
} wire_cases[] = {
    { &proto_ok_reply, { MAIL_ATTR_STATUS, PROTO_STATUS_OK, NULL }, "status=ok\n\n" },
    { &proto_error_reply, { MAIL_ATTR_STATUS, PROTO_STATUS_ERROR, MAIL_ATTR_REASON, "no", NULL },
      "status=error\nreason=no\n\n" },
    { &proto_qmgr_count_reply, { MAIL_ATTR_STATUS, PROTO_STATUS_OK, MAIL_ATTR_COUNT, "3", NULL },
      "status=ok\ncount=3\n\n" },
    { &proto_qmgr_withdraw_reply,
      { MAIL_ATTR_STATUS, PROTO_STATUS_OK, MAIL_ATTR_STATE, QMGR_WITHDRAW_DONE, NULL },
      "status=ok\nstate=done\n\n" },
    { &proto_qmgr_withdraw_reply,
      { MAIL_ATTR_STATUS, PROTO_STATUS_OK, MAIL_ATTR_STATE, QMGR_WITHDRAW_NOT_ACTIVE, NULL },
      "status=ok\nstate=not_active\n\n" },
    { &proto_qmgr_rcpt_event,
      { MAIL_ATTR_EVENT, QMGR_EVENT_RCPT, MAIL_ATTR_ADDRESS, "a@b", MAIL_ATTR_STATUS,
        QMGR_STATUS_DEFERRED, MAIL_ATTR_DSN, DSN_TEMP_SYSTEM, MAIL_ATTR_RELAY, PROTO_RELAY_NONE,
        MAIL_ATTR_REPLY, "delivery agent failed", NULL },
      "event=rcpt\naddress=a@b\nstatus=deferred\ndsn=4.3.0\nrelay=none\n"
      "reply=delivery agent failed\n\n" },
    { &proto_qmgr_trace_event, { MAIL_ATTR_EVENT, QMGR_EVENT_TRACE, MAIL_ATTR_LINE, "> QUIT", NULL },
      "event=trace\nline=> QUIT\n\n" },
    { &proto_qmgr_done_event,
      { MAIL_ATTR_EVENT, QMGR_EVENT_DONE, MAIL_ATTR_QUEUE_ID, "ID", MAIL_ATTR_STATE,
        QMGR_DONE_REMOVED, NULL },
      "event=done\nqueue_id=ID\nstate=removed\n\n" },
    { &proto_smtp_deliver,
      { MAIL_ATTR_REQ, SMTP_REQ_DELIVER, MAIL_ATTR_QUEUE_ID, "ID", MAIL_ATTR_QUEUE_FILE,
        "active/0/0/ID", MAIL_ATTR_NEXTHOP, "[::1]:25", MAIL_ATTR_VERBOSE, PROTO_FLAG_ON,
        MAIL_ATTR_RCPT, "0 a@b", NULL },
      "req=deliver\nqueue_id=ID\nqueue_file=active/0/0/ID\nnexthop=[::1]:25\nverbose=1\n"
      "rcpt=0 a@b\n\n" },
    { &proto_smtp_rcpt_event,
      { MAIL_ATTR_EVENT, SMTP_EVENT_RCPT, MAIL_ATTR_INDEX, "0", MAIL_ATTR_STATUS,
        SMTP_STATUS_BOUNCED, MAIL_ATTR_DSN, DSN_BAD_ADDRESS, MAIL_ATTR_RELAY, PROTO_RELAY_NONE,
        MAIL_ATTR_REPLY, "", NULL },
      "event=rcpt\nindex=0\nstatus=bounced\ndsn=5.1.3\nrelay=none\nreply=\n\n" },
    { &proto_smtp_trace_event, { MAIL_ATTR_EVENT, SMTP_EVENT_TRACE, MAIL_ATTR_LINE, "", NULL },
      "event=trace\nline=\n\n" },
    { &proto_smtp_done_event, { MAIL_ATTR_EVENT, SMTP_EVENT_DONE, MAIL_ATTR_QUEUE_ID, "ID", NULL },
      "event=done\nqueue_id=ID\n\n" },
};

static void test_proto_wire(void)
{
    for (size_t i = 0; i < sizeof(wire_cases) / sizeof(wire_cases[0]); i++) {
        struct evbuffer *buf = evbuffer_new();
        struct proto_out out;
        struct attr_msg msg;
        char err[256], got[512];
        ev_ssize_t len;

        proto_begin(&out, buf, wire_cases[i].def);
        for (const char *const *p = wire_cases[i].pairs; *p != NULL; p += 2)
            proto_put_text(&out, p[0], p[1]);
        proto_end(&out);
        len = evbuffer_copyout(buf, got, sizeof(got) - 1);
        got[len > 0 ? len : 0] = '\0';
        CHECK_STR(wire_cases[i].def->name, got, wire_cases[i].wire);
        attr_msg_init(&msg);
        CHECK_LONG("read back", attr_read_evbuffer(buf, &msg, err, sizeof(err)), 1);
        CHECK_LONG(wire_cases[i].def->name, proto_check(&msg, wire_cases[i].def, err, sizeof(err)),
                   0);
        attr_msg_free(&msg);
        evbuffer_free(buf);
    }
}

/* Text values: NULL is empty, anything longer than PROTO_TEXT_MAX is cut. */
static void test_proto_text_limits(void)
{
    struct evbuffer *buf = evbuffer_new();
    char long_text[PROTO_TEXT_MAX * 2 + 1];
    struct proto_out out;
    struct attr_msg msg;
    char err[256];

    memset(long_text, 'x', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    proto_begin(&out, buf, &proto_error_reply);
    proto_put_str(&out, MAIL_ATTR_STATUS, PROTO_STATUS_ERROR);
    proto_put_text(&out, MAIL_ATTR_REASON, long_text);
    proto_end(&out);
    proto_begin(&out, buf, &proto_qmgr_trace_event);
    proto_put_str(&out, MAIL_ATTR_EVENT, QMGR_EVENT_TRACE);
    proto_put_text(&out, MAIL_ATTR_LINE, NULL);
    proto_end(&out);
    attr_msg_init(&msg);
    CHECK_LONG("read long", attr_read_evbuffer(buf, &msg, err, sizeof(err)), 1);
    CHECK_LONG("cut to PROTO_TEXT_MAX", strlen(attr_get(&msg, MAIL_ATTR_REASON)), PROTO_TEXT_MAX);
    attr_msg_reset(&msg);
    CHECK_LONG("read NULL", attr_read_evbuffer(buf, &msg, err, sizeof(err)), 1);
    CHECK_STR("NULL is empty", attr_get(&msg, MAIL_ATTR_LINE), "");
    attr_msg_free(&msg);
    evbuffer_free(buf);
}

/* The values postqueue and the tests know by their text. */
static void test_proto_values(void)
{
    const char *done_states[] = { QMGR_DONE_REMOVED, QMGR_DONE_BOUNCED, QMGR_DONE_DEFERRED,
                                  QMGR_DONE_HOLD, QMGR_DONE_DELETED, QMGR_DONE_INCOMING,
                                  QMGR_DONE_ACTIVE };

    CHECK_STR("qmgr sent", QMGR_STATUS_SENT, SMTP_STATUS_SENT);
    CHECK_STR("qmgr deferred", QMGR_STATUS_DEFERRED, SMTP_STATUS_DEFERRED);
    CHECK_STR("qmgr bounced", QMGR_STATUS_BOUNCED, SMTP_STATUS_BOUNCED);
    CHECK_STR("relay none", PROTO_RELAY_NONE, "none");
    for (size_t i = 0; i < sizeof(done_states) / sizeof(done_states[0]); i++) {
        CHECK_TRUE(done_states[i], attr_value_ok(done_states[i]) && done_states[i][0] != '\0');
        for (size_t j = 0; j < i; j++)
            CHECK_TRUE("done states differ", strcmp(done_states[i], done_states[j]) != 0);
    }
}

int main(void)
{
    test_dsn();
    test_delivery_log();
    test_proto_round_trip();
    test_proto_repeated();
    test_proto_wire();
    test_proto_text_limits();
    test_proto_values();
    return check_finish("test_mail_concepts");
}
