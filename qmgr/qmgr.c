/*
 * qmgr.c - the queue manager: decides what to deliver, when and where.
 *
 * One long-running process (server skeleton with long_running = 1) around
 * one libevent loop. It listens on private/qmgr, whose connections
 * qmgr_ctl.c reads; each request there is either a new-mail trigger
 * (qmgr_trigger.c), without a reply:
 *     req=new queue_id=ID   (cleanup: a message just landed in incoming/)
 *     req=wakeup            (master: scan the queue now)
 * or one of the operator's control requests (flush, flush_site,
 * deliver_now, withdraw: qmgr_ctl.c), with replies. It also scans the
 * queue every queue_run_delay seconds. The rest lives in the other
 * qmgr_*.c modules (see qmgr.h).
 *
 * Start-up: whatever is in active/ was left by a previous qmgr and goes
 * back to incoming/ (it is delivered again: never lost); then the queue
 * index is opened and reconciled with the files (qmgr_index.c), and
 * incoming/ and deferred/ are scanned.
 *
 * One at a time: the queue manager holds an exclusive lock on
 * pid/qmgr.lock for its whole life. A new qmgr (after a reload) waits for
 * the old one to finish before it recovers active/, so two never deliver
 * the same message.
 *
 * Stop (SIGTERM: reload or shutdown) is graceful: nothing new is activated
 * or dispatched, deliveries in progress finish and their results are
 * recorded (a delivery that already reached the next hop is never sent
 * again), the index gets what is pending and is marked clean, then qmgr
 * exits; after shutdown_timeout it exits anyway. Every recipient result is
 * written to the queue file as it arrives, so exiting at any moment leaves
 * no half-written state; files left in active/ are delivered by the next
 * qmgr.
 *
 * Memory: nothing here beyond the run timer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
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
#define QMGR_LOCK_PATH "pid/qmgr.lock"

static struct event_base *base;
static struct event *run_timer;
static int stopping;
static int stop_held;           /* server_stop_hold() taken for deliveries */

struct event_base *qmgr_base(void)
{
    return base;
}

int qmgr_stopping(void)
{
    return stopping;
}

/*
 * Wait (before the event loop runs) until no other qmgr of this instance
 * is alive: its deliveries in progress end and are recorded first. The
 * descriptor stays open, so the lock is ours until we exit.
 */
static void lock_wait(void)
{
    int fd = open(QMGR_LOCK_PATH, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0)
        msg_fatal("open %s: %s", QMGR_LOCK_PATH, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return;
    if (errno != EWOULDBLOCK)
        msg_fatal("lock %s: %s", QMGR_LOCK_PATH, strerror(errno));
    msg_info("waiting for the previous queue manager to finish its deliveries");
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR)
            msg_fatal("lock %s: %s", QMGR_LOCK_PATH, strerror(errno));
    }
}

/* A connection on private/qmgr: triggers and control requests alike. */
static void client_accept(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addr;
    (void)addrlen;
    qmgr_ctl_accept(fd);
}

/* --- periodic queue runs --- */

static void queue_run(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (qmgr_stopping())
        return;
    qmgr_message_recover_orphans();
    qmgr_scan_request();
}

static void qmgr_init(struct event_base *event_base)
{
    struct timeval tv = { var_queue_run_delay, 0 };

    base = event_base;
    lock_wait();
    qmgr_scan_init();
    qmgr_message_recover();
    qmgr_index_init();
    qmgr_route_init();
    run_timer = event_new(base, -1, EV_PERSIST, queue_run, NULL);
    if (run_timer == NULL)
        msg_fatal("cannot create event");
    evtimer_add(run_timer, &tv);
    qmgr_scan_request();
}

void qmgr_stop_check(void)
{
    if (!stopping || qmgr_busy() > 0 || !stop_held)
        return;
    msg_debug("stopping: every delivery in progress has ended");
    qmgr_index_stop();
    stop_held = 0;
    server_stop_release();
}

/* SIGTERM: stop taking new work; exit once the deliveries in progress end. */
static void qmgr_stop(void)
{
    stopping = 1;
    evtimer_del(run_timer);
    if (qmgr_busy() == 0) {
        qmgr_index_stop();
        return;
    }
    msg_info("stopping: waiting for %u delivery(ies) in progress (%zu message(s) in active)",
             qmgr_busy(), qmgr_message_count());
    stop_held = 1;
    server_stop_hold();
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
    "    Keeps the queue index (queue_directory/index) current for postqueue and\n"
    "    postsuper, and serves their requests on private/qmgr: flush, flush_site,\n"
    "    deliver_now (optionally watching the attempt) and withdraw.\n"
    "    Routes each recipient (lib/route): transport_maps (smtp:nexthop,\n"
    "    error:, discard:, hold:), sender_dependent_relayhost_maps, relayhost,\n"
    "    else the recipient domain (smtp resolves its MX hosts). A routing\n"
    "    configuration that cannot be loaded defers mail (4.3.5) until fixed.\n"
    "    Parameters: relayhost, transport_maps, sender_dependent_relayhost_maps,\n"
    "    minimal_backoff_time, maximal_backoff_time,\n"
    "    queue_run_delay, maximal_queue_lifetime, qmgr_message_active_limit,\n"
    "    default_destination_concurrency_limit, qmgr_delivery_concurrency,\n"
    "    queue_index_map_size.\n";

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
