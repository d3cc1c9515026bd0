/*
 * test_proto_reply.c - unit tests of proto_check_reply (lib/mail/mail_proto.c):
 * replies as they arrive on the wire, good and hostile, checked against the
 * declarations the tools use (ok, count, withdraw; error).
 */
#include <string.h>

#include <event2/buffer.h>

#include "attr.h"
#include "check.h"
#include "mail_proto.h"

struct reply_case {
    const char *wire;                   /* one message, as sent */
    const struct proto_msg *ok_def;
    int want;                           /* 1 yes, 0 no, -1 malformed */
    const char *want_err;               /* NULL: not checked */
};

static const struct reply_case reply_cases[] = {
    { "status=ok\n\n", &proto_ok_reply, 1, NULL },
    { "status=error\nreason=message is on hold\n\n", &proto_ok_reply, 0, NULL },
    { "status=error\nreason=\n\n", &proto_ok_reply, 0, NULL },
    { "status=ok\ncount=3\n\n", &proto_qmgr_count_reply, 1, NULL },
    { "status=ok\nstate=not_active\n\n", &proto_qmgr_withdraw_reply, 1, NULL },
    { "status=error\nreason=busy\n\n", &proto_qmgr_withdraw_reply, 0, NULL },
    /* malformed */
    { "\n", &proto_ok_reply, -1, "reply: missing attribute: status" },
    { "status=error\n\n", &proto_ok_reply, -1, "error reply: missing attribute: reason" },
    { "status=maybe\n\n", &proto_ok_reply, -1,
      "reply: status \"maybe\" (want ok or error)" },
    { "status=OK\n\n", &proto_ok_reply, -1, NULL },
    { "status=\n\n", &proto_ok_reply, -1, NULL },
    { "status=ok\nstatus=ok\n\n", &proto_ok_reply, -1, NULL },
    { "status=ok\nreason=why\n\n", &proto_ok_reply, -1, NULL },
    { "status=ok\n\n", &proto_qmgr_count_reply, -1, NULL },
    { "status=ok\ncount=3\n\n", &proto_ok_reply, -1, NULL },
    { "status=error\nreason=x\ncount=1\n\n", &proto_qmgr_count_reply, -1, NULL },
    { "status=ok\nstate=done\nstate=done\n\n", &proto_qmgr_withdraw_reply, -1, NULL },
    { "count=3\n\n", &proto_qmgr_count_reply, -1, NULL },
    { "status=ok\nstatus=error\nreason=x\n\n", &proto_ok_reply, -1, NULL },
};

static void test_replies(void)
{
    for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
        const struct reply_case *c = &reply_cases[i];
        struct evbuffer *buf = evbuffer_new();
        struct attr_msg msg;
        char err[256] = "";

        evbuffer_add(buf, c->wire, strlen(c->wire));
        attr_msg_init(&msg);
        CHECK_LONG(c->wire, attr_read_evbuffer(buf, &msg, err, sizeof(err)), 1);
        CHECK_LONG(c->wire, proto_check_reply(&msg, c->ok_def, &proto_error_reply, err,
                                              sizeof(err)), c->want);
        if (c->want_err != NULL)
            CHECK_STR(c->wire, err, c->want_err);
        attr_msg_free(&msg);
        evbuffer_free(buf);
    }
}

int main(void)
{
    test_replies();
    return check_finish("test_proto_reply");
}
