/*
 * mail_proto.c - the declaration of every message between Postern
 * processes, the receiver's check and the sender's writer (see
 * mail_proto.h).
 */
#include <stdio.h>
#include <string.h>

#include "attr.h"
#include "errtext.h"
#include "mail_proto.h"
#include "msg.h"

const struct proto_msg proto_error_reply = {
    "error reply", (const char *const[]){ MAIL_ATTR_STATUS, MAIL_ATTR_REASON, NULL }, NULL, NULL,
};
const struct proto_msg proto_ok_reply = {
    "reply", (const char *const[]){ MAIL_ATTR_STATUS, NULL }, NULL, NULL,
};

/* cleanup */
const struct proto_msg proto_cleanup_open = {
    "cleanup open",
    (const char *const[]){ MAIL_ATTR_REQ, MAIL_ATTR_SENDER, MAIL_ATTR_CLIENT_NAME, MAIL_ATTR_CLIENT_ADDR,
         MAIL_ATTR_CLIENT_PORT, MAIL_ATTR_HELO, MAIL_ATTR_PROTOCOL, MAIL_ATTR_BODY, NULL },
    (const char *const[]){ MAIL_ATTR_SIZE, NULL },
    (const char *const[]){ MAIL_ATTR_RCPT, NULL },
};
const struct proto_msg proto_cleanup_data = {
    "cleanup data", (const char *const[]){ MAIL_ATTR_REQ, MAIL_ATTR_DATA, NULL }, NULL, NULL,
};
const struct proto_msg proto_cleanup_close = {
    "cleanup close", (const char *const[]){ MAIL_ATTR_REQ, NULL }, NULL, NULL,
};
const struct proto_msg proto_cleanup_abort = {
    "cleanup abort", (const char *const[]){ MAIL_ATTR_REQ, NULL }, NULL, NULL,
};
const struct proto_msg proto_cleanup_queued_reply = {
    "cleanup reply", (const char *const[]){ MAIL_ATTR_STATUS, MAIL_ATTR_QUEUE_ID, NULL }, NULL, NULL,
};
const struct proto_msg proto_cleanup_error_reply = {
    "cleanup error reply", (const char *const[]){ MAIL_ATTR_STATUS, MAIL_ATTR_DSN, MAIL_ATTR_REASON, NULL }, NULL, NULL,
};

/* qmgr */
const struct proto_msg proto_qmgr_new = {
    "qmgr new", (const char *const[]){ MAIL_ATTR_REQ, MAIL_ATTR_QUEUE_ID, NULL }, NULL, NULL,
};
const struct proto_msg proto_qmgr_wakeup = {
    "qmgr wakeup", (const char *const[]){ MAIL_ATTR_REQ, NULL }, NULL, NULL,
};
const struct proto_msg proto_qmgr_flush = {
    "qmgr flush", (const char *const[]){ MAIL_ATTR_REQ, NULL }, NULL, NULL,
};
const struct proto_msg proto_qmgr_flush_site = {
    "qmgr flush_site", (const char *const[]){ MAIL_ATTR_REQ, MAIL_ATTR_SITE, NULL }, NULL, NULL,
};
const struct proto_msg proto_qmgr_count_reply = {
    "qmgr count reply", (const char *const[]){ MAIL_ATTR_STATUS, MAIL_ATTR_COUNT, NULL }, NULL, NULL,
};
const struct proto_msg proto_qmgr_deliver_now = {
    "qmgr deliver_now", (const char *const[]){ MAIL_ATTR_REQ, MAIL_ATTR_QUEUE_ID, NULL },
    (const char *const[]){ MAIL_ATTR_WATCH, MAIL_ATTR_VERBOSE, NULL }, NULL,
};
const struct proto_msg proto_qmgr_withdraw = {
    "qmgr withdraw", (const char *const[]){ MAIL_ATTR_REQ, MAIL_ATTR_QUEUE_ID, MAIL_ATTR_ACTION, NULL }, NULL, NULL,
};
const struct proto_msg proto_qmgr_withdraw_reply = {
    "qmgr withdraw reply", (const char *const[]){ MAIL_ATTR_STATUS, MAIL_ATTR_STATE, NULL }, NULL, NULL,
};
const struct proto_msg proto_qmgr_trace_event = {
    "qmgr trace event", (const char *const[]){ MAIL_ATTR_EVENT, MAIL_ATTR_LINE, NULL }, NULL, NULL,
};
const struct proto_msg proto_qmgr_rcpt_event = {
    "qmgr rcpt event",
    (const char *const[]){ MAIL_ATTR_EVENT, MAIL_ATTR_ADDRESS, MAIL_ATTR_STATUS, MAIL_ATTR_DSN, MAIL_ATTR_RELAY,
         MAIL_ATTR_REPLY, NULL },
    NULL, NULL,
};
const struct proto_msg proto_qmgr_done_event = {
    "qmgr done event", (const char *const[]){ MAIL_ATTR_EVENT, MAIL_ATTR_QUEUE_ID, MAIL_ATTR_STATE, NULL }, NULL, NULL,
};

/* showq */
const struct proto_msg proto_showq_request = {
    "showq request", (const char *const[]){ MAIL_ATTR_REQ, NULL },
    (const char *const[]){ MAIL_ATTR_FORMAT, MAIL_ATTR_QUEUE, MAIL_ATTR_SENDER, MAIL_ATTR_RECIPIENT,
         MAIL_ATTR_DOMAIN, MAIL_ATTR_REASON, MAIL_ATTR_OLDER, MAIL_ATTR_NEWER, NULL },
    NULL,
};

/* smtp */
const struct proto_msg proto_smtp_deliver = {
    "smtp deliver",
    (const char *const[]){ MAIL_ATTR_REQ, MAIL_ATTR_QUEUE_ID, MAIL_ATTR_QUEUE_FILE, MAIL_ATTR_NEXTHOP, NULL },
    (const char *const[]){ MAIL_ATTR_VERBOSE, NULL },
    (const char *const[]){ MAIL_ATTR_RCPT, NULL },
};
const struct proto_msg proto_smtp_trace_event = {
    "smtp trace event", (const char *const[]){ MAIL_ATTR_EVENT, MAIL_ATTR_LINE, NULL }, NULL, NULL,
};
const struct proto_msg proto_smtp_rcpt_event = {
    "smtp rcpt event",
    (const char *const[]){ MAIL_ATTR_EVENT, MAIL_ATTR_INDEX, MAIL_ATTR_STATUS, MAIL_ATTR_DSN, MAIL_ATTR_RELAY,
         MAIL_ATTR_REPLY, NULL },
    NULL, NULL,
};
const struct proto_msg proto_smtp_done_event = {
    "smtp done event", (const char *const[]){ MAIL_ATTR_EVENT, MAIL_ATTR_QUEUE_ID, NULL }, NULL, NULL,
};

int proto_check(const struct attr_msg *msg, const struct proto_msg *def,
                char *err, size_t errlen)
{
    char why[256];

    if (attr_check(msg, def->required, def->optional, def->repeated, why, sizeof(why)) == 0)
        return 0;
    errtext_set(err, errlen, "%s: %s", def->name, why);
    return -1;
}

int proto_check_reply(const struct attr_msg *msg, const struct proto_msg *ok_def,
                      const struct proto_msg *err_def, char *err, size_t errlen)
{
    const char *status = attr_get(msg, MAIL_ATTR_STATUS);
    int refused = status != NULL && strcmp(status, PROTO_STATUS_ERROR) == 0;

    if (proto_check(msg, refused ? err_def : ok_def, err, errlen) < 0)
        return -1;
    if (refused)
        return 0;
    if (strcmp(status, PROTO_STATUS_OK) != 0) {
        errtext_set(err, errlen, "%s: status \"%.40s\" (want %s or %s)", ok_def->name, status,
                    PROTO_STATUS_OK, PROTO_STATUS_ERROR);
        return -1;
    }
    return 1;
}

/* ---- the writer ---- */

enum name_kind { NAME_UNDECLARED, NAME_REQUIRED, NAME_OPTIONAL, NAME_REPEATED };

/* Where name stands in the declaration: its kind, and *slot its position. */
static enum name_kind declared(const struct proto_msg *def, const char *name, size_t *slot)
{
    const char *const *lists[] = { def->required, def->optional, def->repeated };
    const enum name_kind kinds[] = { NAME_REQUIRED, NAME_OPTIONAL, NAME_REPEATED };
    size_t pos = 0;

    for (size_t l = 0; l < 3; l++) {
        for (const char *const *n = lists[l]; n != NULL && *n != NULL; n++, pos++) {
            if (strcmp(*n, name) == 0) {
                *slot = pos;
                return kinds[l];
            }
        }
    }
    return NAME_UNDECLARED;
}

static void count_name(struct proto_out *out, const char *name)
{
    size_t slot = 0;
    enum name_kind kind = declared(out->def, name, &slot);

    if (kind == NAME_UNDECLARED)
        msg_panic("%s: attribute \"%s\" is not declared", out->def->name, name);
    if (slot >= PROTO_ATTRS_MAX)
        msg_panic("%s: more than %d attributes declared", out->def->name, PROTO_ATTRS_MAX);
    if (kind != NAME_REPEATED && out->count[slot] > 0)
        msg_panic("%s: attribute \"%s\" written twice", out->def->name, name);
    if (out->count[slot] < 255)
        out->count[slot]++;
}

void proto_begin(struct proto_out *out, struct evbuffer *buf, const struct proto_msg *def)
{
    memset(out, 0, sizeof(*out));
    out->buf = buf;
    out->def = def;
}

void proto_put_str(struct proto_out *out, const char *name, const char *value)
{
    count_name(out, name);
    attr_put_str(out->buf, name, value);
}

void proto_put_text(struct proto_out *out, const char *name, const char *value)
{
    char clean[PROTO_TEXT_MAX + 1];
    size_t i;

    if (value == NULL)
        value = "";
    for (i = 0; value[i] != '\0' && i < PROTO_TEXT_MAX; i++)
        clean[i] = value[i] == '\r' || value[i] == '\n' ? ' ' : value[i];
    clean[i] = '\0';
    proto_put_str(out, name, clean);
}

void proto_put_long(struct proto_out *out, const char *name, long value)
{
    count_name(out, name);
    attr_put_long(out->buf, name, value);
}

void proto_put_data(struct proto_out *out, const char *name, const void *data, size_t len)
{
    count_name(out, name);
    attr_put_data(out->buf, name, data, len);
}

void proto_end(struct proto_out *out)
{
    size_t slot = 0;

    for (const char *const *n = out->def->required; n != NULL && *n != NULL; n++, slot++) {
        if (out->count[slot] == 0)
            msg_panic("%s: required attribute \"%s\" not written", out->def->name, *n);
    }
    attr_put_end(out->buf);
}
