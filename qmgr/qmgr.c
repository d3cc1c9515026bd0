/*
 * qmgr.c - the queue manager: decides what to deliver, when and where.
 *
 * One long-running process (server skeleton with long_running = 1) around
 * one libevent loop. It listens on private/qmgr for
 *     req=new queue_id=ID   (cleanup: a message just landed in incoming/)
 *     req=wakeup            (master: scan the queue now)
 * without replies, and scans the queue every queue_run_delay seconds.
 * The rest lives in the other qmgr_*.c modules (see qmgr.h).
 *
 * Start-up: whatever is in active/ was left by a previous qmgr and goes
 * back to incoming/ (it is delivered again: never lost); then incoming/ and
 * deferred/ are scanned.
 *
 * Stop: every recipient result is written to the queue file as it arrives,
 * so exiting at any moment leaves no half-written state; files left in
 * active/ are recovered at the next start.
 *
 * Memory: a listener client owns its bufferevent and reader state and is
 * freed on EOF or a protocol error.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "alloc.h"
#include "attr.h"
#include "mail_proto.h"
#include "msg.h"
#include "params.h"
#include "qmgr.h"
#include "server.h"

#define ERR_MAX 256

static struct event_base *base;
static struct event *run_timer;

struct event_base *qmgr_base(void)
{
    return base;
}

/* --- private/qmgr clients --- */

struct qmgr_client {
    struct bufferevent *bev;
    struct attr_msg in;
};

static void client_free(struct qmgr_client *cl)
{
    bufferevent_free(cl->bev);
    attr_msg_free(&cl->in);
    xfree(cl);
}

/* One request; 0 ok, -1 protocol error (err filled). */
static int client_request(struct qmgr_client *cl, char *err, size_t errlen)
{
    static const char *const new_attrs[] = { "req", "queue_id", NULL };
    static const char *const wakeup_attrs[] = { "req", NULL };
    const char *req = attr_get(&cl->in, "req");

    if (req == NULL) {
        snprintf(err, errlen, "request without req attribute");
        return -1;
    }
    if (strcmp(req, QMGR_REQ_NEW) == 0) {
        if (attr_check(&cl->in, new_attrs, NULL, NULL, err, errlen) < 0)
            return -1;
        qmgr_scan_new(attr_get(&cl->in, "queue_id"));
        return 0;
    }
    if (strcmp(req, QMGR_REQ_WAKEUP) == 0) {
        if (attr_check(&cl->in, wakeup_attrs, NULL, NULL, err, errlen) < 0)
            return -1;
        qmgr_scan_request();
        return 0;
    }
    snprintf(err, errlen, "unknown request \"%s\"", req);
    return -1;
}

static void client_read(struct bufferevent *bev, void *arg)
{
    struct qmgr_client *cl = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char err[ERR_MAX];

    for (;;) {
        int rc = attr_read_evbuffer(in, &cl->in, err, sizeof(err));

        if (rc == 0)
            return;
        if (rc > 0) {
            rc = client_request(cl, err, sizeof(err));
            attr_msg_reset(&cl->in);
        }
        if (rc < 0) {
            msg_warn("%s: protocol error: %s", PROTO_QMGR_SOCKET, err);
            client_free(cl);
            return;
        }
    }
}

static void client_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        client_free(arg);
}

/* Long-running daemons do not count sessions: no server_session_end(). */
static void client_accept(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    struct qmgr_client *cl = xcalloc(1, sizeof(*cl));

    (void)addr;
    (void)addrlen;
    cl->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (cl->bev == NULL) {
        msg_warn("cannot create bufferevent for a %s client", PROTO_QMGR_SOCKET);
        close(fd);
        xfree(cl);
        return;
    }
    attr_msg_init(&cl->in);
    bufferevent_setcb(cl->bev, client_read, NULL, client_event, cl);
    bufferevent_enable(cl->bev, EV_READ);
}

/* --- periodic queue runs --- */

static void queue_run(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    qmgr_scan_request();
}

static void qmgr_init(struct event_base *event_base)
{
    struct timeval tv = { var_queue_run_delay, 0 };

    base = event_base;
    qmgr_scan_init();
    qmgr_message_recover();
    run_timer = event_new(base, -1, EV_PERSIST, queue_run, NULL);
    if (run_timer == NULL)
        msg_fatal("cannot create event");
    evtimer_add(run_timer, &tv);
    qmgr_scan_request();
}

/*
 * SIGTERM: the skeleton exits right after this. Results are already in the
 * queue files; what is in active/ returns to incoming/ at the next start.
 */
static void qmgr_stop(void)
{
    msg_debug("stopping with %zu message(s) in active, %u delivery(ies) in progress",
              qmgr_message_count(), qmgr_busy());
}

static const char qmgr_help[] =
    "NAME\n"
    "    qmgr - Postern queue manager (scheduler)\n"
    "\n"
    "SYNOPSIS\n"
    "    qmgr -c DIR -n SERVICE -t unix [-o NAME=VALUE]... [-v]\n"
    "\n"
    "DESCRIPTION\n"
    "    Moves new mail from incoming/ to active/ as soon as cleanup announces it,\n"
    "    hands it to smtp per next hop (per-destination and total concurrency\n"
    "    limits), records each recipient's outcome in the queue file, removes\n"
    "    finished messages, and moves the rest to deferred/ with exponential\n"
    "    back-off. At start-up, messages left in active/ are delivered again.\n"
    "    Parameters: relayhost, minimal_backoff_time, maximal_backoff_time,\n"
    "    queue_run_delay, maximal_queue_lifetime, qmgr_message_active_limit,\n"
    "    default_destination_concurrency_limit, qmgr_delivery_concurrency.\n";

int main(int argc, char **argv)
{
    static const struct server_def def = {
        .name = "qmgr",
        .init = qmgr_init,
        .accept = client_accept,
        .stop = qmgr_stop,
        .long_running = 1,
        .help = qmgr_help,
    };

    server_main(argc, argv, &def);
}
