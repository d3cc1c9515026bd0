/*
 * cleanup_qmgr.c - tell qmgr that a message arrived in incoming/.
 *
 * One non-blocking connection to private/qmgr is kept open and reused; each
 * new message is one "req=new queue_id=ID" message on it. The notification
 * is only a hint: qmgr scans incoming/ at start-up and every
 * queue_run_delay, so when qmgr is not there (or not reading) the hint is
 * dropped silently, and a new connection is tried at most once a second.
 *
 * Memory: this module owns the bufferevent of the connection.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "attr.h"
#include "cleanup.h"
#include "mail_proto.h"
#include "msg.h"
#include "server.h"
#include "sock.h"

/* Hints queued beyond this while qmgr does not read are dropped. */
#define QMGR_BACKLOG_MAX (256 * 1024)

static struct bufferevent *qmgr_bev;
static time_t qmgr_retry_after;

void cleanup_qmgr_close(void)
{
    if (qmgr_bev != NULL)
        bufferevent_free(qmgr_bev);
    qmgr_bev = NULL;
}

static void qmgr_read(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);

    (void)arg;
    /* qmgr sends nothing on this connection; ignore whatever arrives. */
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void qmgr_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        msg_debug("qmgr connection closed");
        cleanup_qmgr_close();
    }
}

static int qmgr_connect(void)
{
    time_t now = time(NULL);
    int fd;

    if (now < qmgr_retry_after)
        return -1;
    fd = sock_unix_connect(PROTO_QMGR_SOCKET, 1);
    if (fd < 0) {
        msg_debug("connect %s: %s", PROTO_QMGR_SOCKET, strerror(errno));
        qmgr_retry_after = now + 1;
        return -1;
    }
    qmgr_bev = bufferevent_socket_new(server_event_base(), fd, BEV_OPT_CLOSE_ON_FREE);
    if (qmgr_bev == NULL) {
        close(fd);
        qmgr_retry_after = now + 1;
        return -1;
    }
    bufferevent_setcb(qmgr_bev, qmgr_read, NULL, qmgr_event, NULL);
    bufferevent_enable(qmgr_bev, EV_READ | EV_WRITE);
    return 0;
}

void cleanup_qmgr_notify(const char *queue_id)
{
    struct evbuffer *out;
    struct proto_out msg;

    if (qmgr_bev == NULL && qmgr_connect() < 0)
        return;
    out = bufferevent_get_output(qmgr_bev);
    if (evbuffer_get_length(out) > QMGR_BACKLOG_MAX)
        return;
    proto_begin(&msg, out, &proto_qmgr_new);
    proto_put_str(&msg, MAIL_ATTR_REQ, QMGR_REQ_NEW);
    proto_put_str(&msg, MAIL_ATTR_QUEUE_ID, queue_id);
    proto_end(&msg);
}
