/*
 * qmgr_trigger.c - the new-mail triggers that arrive on private/qmgr.
 *
 * Two requests (mail_proto.h), never answered:
 *     req=new queue_id=ID   cleanup (and postsuper, for a message it put
 *                           back): a message just landed in incoming/;
 *                           the ID joins the work FIFO (qmgr_scan_new).
 *     req=wakeup            master (and postsuper): scan incoming/ and
 *                           deferred/ now (qmgr_scan_request).
 * They come over the same socket as the operator's requests: qmgr_ctl.c
 * reads every request and hands these two here. A malformed trigger is an
 * error (err filled); the caller logs it and drops the connection without
 * a reply.
 *
 * Memory: nothing is kept; the request belongs to the caller.
 */
#include <string.h>

#include "attr.h"
#include "errtext.h"
#include "mail_proto.h"
#include "qmgr.h"

struct trigger {
    const char *name;
    int (*handle)(const struct attr_msg *in, char *err, size_t errlen);
};

static int trigger_new(const struct attr_msg *in, char *err, size_t errlen)
{
    if (proto_check(in, &proto_qmgr_new, err, errlen) < 0)
        return -1;
    qmgr_scan_new(attr_get(in, MAIL_ATTR_QUEUE_ID));
    return 0;
}

static int trigger_wakeup(const struct attr_msg *in, char *err, size_t errlen)
{
    if (proto_check(in, &proto_qmgr_wakeup, err, errlen) < 0)
        return -1;
    qmgr_scan_request();
    return 0;
}

static const struct trigger triggers[] = {
    { QMGR_REQ_NEW, trigger_new },
    { QMGR_REQ_WAKEUP, trigger_wakeup },
};

static const struct trigger *trigger_find(const char *req)
{
    for (size_t i = 0; i < sizeof(triggers) / sizeof(triggers[0]); i++) {
        if (strcmp(req, triggers[i].name) == 0)
            return &triggers[i];
    }
    return NULL;
}

int qmgr_trigger_known(const char *req)
{
    return trigger_find(req) != NULL;
}

int qmgr_trigger_handle(const struct attr_msg *in, char *err, size_t errlen)
{
    const char *req = attr_get(in, MAIL_ATTR_REQ);
    const struct trigger *t = req != NULL ? trigger_find(req) : NULL;

    if (t == NULL) {
        errtext_set(err, errlen, "not a new-mail trigger");
        return -1;
    }
    return t->handle(in, err, errlen);
}
