/*
 * qmgr_message.c - a message in active/: activation, routing into delivery
 * jobs, recording results in the queue file, and completion.
 *
 * Life of a message:
 *   1. activate: rename incoming/ or deferred/ -> active/, open O_RDWR, read
 *      the envelope. A file that cannot be opened or parsed goes to
 *      corrupt/. Each pending (P) recipient is routed (lib/mail/route.h, through
 *      qmgr_route.c), then:
 *        smtp     grouped by next hop into jobs (at most QMGR_RCPT_PER_JOB
 *                 recipients each) for the smtp agent;
 *        error    5.x.x: marked bounced; 4.x.x: deferred with that text;
 *        discard  marked delivered, logged "status=sent (discarded: text)";
 *        hold     the whole message goes to hold/ before anything else is
 *                 done ("QID: hold: text"); released, it is routed again
 *                 (and held again while transport_maps says so);
 *        (no decision: a table could not be read, the configuration is
 *        broken) deferred with route's dsn and text.
 *      Routing is decided for every recipient first, so a hold leaves the
 *      message untouched.
 *   2. results: each recipient result is written to the file at once:
 *      sent -> mark D, bounced -> mark B, deferred -> append a D record (or,
 *      past maximal_queue_lifetime, mark B: the message expired). Nothing
 *      is kept in memory that is not also in the file, so qmgr may exit at
 *      any moment: what is in active/ goes back to incoming/ at the next
 *      start (a crash may deliver twice, never zero times).
 *   3. completion, after the last job: no pending recipient left -> unlink;
 *      otherwise fdatasync (the marks become durable), set atime and mtime
 *      to the next attempt time, rename active/ -> deferred/.
 *
 * Edge cases: a file may vanish between scan and rename (ENOENT: skipped
 * silently); a message whose recipients are all done already (a crash after
 * the last mark) is removed at activation.
 *
 * Withdraw (operator: postsuper -h/-d/-r on an active message): queued jobs
 * are dropped and deliveries in progress cancelled (qmgr_conn_cancel);
 * when the last job has ended, the message goes to hold/, is removed, or
 * goes back to incoming/ instead of the usual completion, and the
 * requester gets its reply. Results that arrive meanwhile (the agent had
 * already sent the final dot) are recorded as usual, so the outcome of a
 * completed delivery stands: if nothing is left pending then, the message
 * is removed as delivered and the requester is told "delivery already
 * completed".
 *
 * Every change is also noted for the queue index (qmgr_index.c), and each
 * recipient result and the end of the message are reported to deliver_now
 * watchers (qmgr_ctl.c).
 *
 * Memory: struct qmgr_message owns its envelope (struct queue_file, no
 * content) and its descriptor; the active set maps ID -> message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "delivery_log.h"
#include "dsn.h"
#include "htable.h"
#include "mail_proto.h"
#include "msg.h"
#include "params.h"
#include "qmgr.h"
#include "route.h"

static struct htable *active_set;

static struct htable *active(void)
{
    if (active_set == NULL)
        active_set = htable_create(0);
    return active_set;
}

size_t qmgr_message_count(void)
{
    return htable_count(active());
}

int qmgr_message_is_active(const char *id)
{
    return htable_find(active(), id) != NULL;
}

struct qmgr_message *qmgr_message_find(const char *id)
{
    return htable_find(active(), id);
}

/* --- recovery of files in active/ that no qmgr holds --- */

static int recover_one(const char *id, void *ctx)
{
    size_t *count = ctx;

    if (qmgr_message_is_active(id))
        return 0;
    if (queue_move(id, QUEUE_ACTIVE, QUEUE_INCOMING) < 0) {
        if (errno != ENOENT)
            msg_warn("%s: cannot move from active to incoming: %s", id, strerror(errno));
        return 0;
    }
    (*count)++;
    return 0;
}

void qmgr_message_recover(void)
{
    size_t count = 0;

    if (queue_walk(QUEUE_ACTIVE, recover_one, NULL, &count) < 0)
        msg_warn("cannot walk active queue: %s", strerror(errno));
    if (count > 0)
        msg_info("moved %zu message%s left in active back to incoming", count,
                 count == 1 ? "" : "s");
}

size_t qmgr_message_recover_orphans(void)
{
    size_t count = 0;

    if (queue_walk(QUEUE_ACTIVE, recover_one, NULL, &count) < 0)
        msg_warn("cannot walk active queue: %s", strerror(errno));
    if (count > 0)
        msg_warn("moved %zu message%s that no delivery held from active back to incoming "
                 "(a failed move left %s there)", count, count == 1 ? "" : "s",
                 count == 1 ? "it" : "them");
    return count;
}

/* --- back-off and expiry --- */

/* Next attempt time for a message that arrived at `arrival`. */
static time_t next_attempt(time_t now, time_t arrival)
{
    time_t delay = now - arrival;

    if (delay > var_maximal_backoff_time)
        delay = var_maximal_backoff_time;
    if (delay < var_minimal_backoff_time)
        delay = var_minimal_backoff_time;
    return now + delay;
}

/* maximal_queue_lifetime = 0 means: try once, then return. */
static int message_expired(const struct qmgr_message *msg, time_t now)
{
    return now - msg->qf.arrival.tv_sec >= var_maximal_queue_lifetime;
}

static void lifetime_text(char *buf, size_t len)
{
    long t = var_maximal_queue_lifetime;

    if (t > 0 && t % 86400 == 0)
        snprintf(buf, len, "%ld day%s", t / 86400, t == 86400 ? "" : "s");
    else if (t > 0 && t % 3600 == 0)
        snprintf(buf, len, "%ld hour%s", t / 3600, t == 3600 ? "" : "s");
    else
        snprintf(buf, len, "%ld second%s", t, t == 1 ? "" : "s");
}

/* --- recording results --- */

static const char *log_status(enum qmgr_status status)
{
    switch (status) {
    case QMGR_SENT:
        return DELIVERY_STATUS_SENT;
    case QMGR_BOUNCED:
        return DELIVERY_STATUS_BOUNCED;
    default:
        return DELIVERY_STATUS_DEFERRED;
    }
}

/*
 * A result qmgr decided itself (routing, expiry, an agent that failed):
 * the delivery log line, with all the delay in "a" (no agent had it).
 */
static void log_result(const struct qmgr_message *msg, size_t index, const char *relay,
                       const char *dsn, enum qmgr_status status, const char *text)
{
    struct delivery_log_entry entry = {
        .queue_id = msg->id,
        .sender = msg->qf.sender,
        .recipient = msg->qf.rcpts[index].address,
        .relay = relay,
        .size = (long long)msg->qf.content_size,
        .message_id = msg->qf.message_id,
        .dsn = dsn,
        .status = log_status(status),
        .text = text,
        .arrival = msg->qf.arrival,
    };

    delivery_log(&entry);
}

static void mark(struct qmgr_message *msg, size_t index, enum qf_rcpt_state state)
{
    if (queue_file_mark(msg->fd, &msg->qf.rcpts[index], state) < 0)
        msg_warn("%s: cannot mark recipient %zu as %c in the queue file: %s",
                 msg->id, index, (char)state, strerror(errno));
}

static void defer_rcpt(struct qmgr_message *msg, size_t index, const char *dsn,
                       const char *relay, const char *reason, int log_it)
{
    struct qf_rcpt *rcpt = &msg->qf.rcpts[index];
    time_t now = time(NULL);
    char life[64];

    if (message_expired(msg, now)) {
        char text[QF_VALUE_MAX + 64];

        /* Returning a DSN to the sender belongs to the bounce service (a
         * later issue); for now the recipient is marked and logged as
         * bounced ("expired" comes with that service). */
        lifetime_text(life, sizeof(life));
        mark(msg, index, QF_RCPT_BOUNCED);
        snprintf(text, sizeof(text), "message expired after %s: %s", life, reason);
        log_result(msg, index, relay, DSN_EXPIRED, QMGR_BOUNCED, text);
        qmgr_ctl_rcpt(msg, rcpt->address, QMGR_BOUNCED, DSN_EXPIRED, relay, text);
        return;
    }
    if (log_it)
        log_result(msg, index, relay, dsn, QMGR_DEFERRED, reason);
    if (queue_file_append_delay(msg->fd, index, now, dsn, reason) < 0)
        msg_warn("%s: cannot append delay record for recipient %zu: %s", msg->id,
                 index, strerror(errno));
    /* What the file now says, for the index entry written at completion. */
    xfree(rcpt->delay_dsn);
    xfree(rcpt->delay_reason);
    rcpt->delay_dsn = xstrdup(dsn);
    rcpt->delay_reason = xstrdup(reason);
    rcpt->delay_time = now;
    qmgr_ctl_rcpt(msg, rcpt->address, QMGR_DEFERRED, dsn, relay, reason);
}

void qmgr_message_rcpt_result(struct qmgr_message *msg, size_t index,
                              enum qmgr_status status, const char *dsn,
                              const char *relay, const char *reason)
{
    if (index >= msg->qf.rcpt_count || msg->qf.rcpts[index].state != QF_RCPT_PENDING) {
        msg_warn("%s: result for recipient %zu that is not pending: ignored",
                 msg->id, index);
        return;
    }
    switch (status) {
    case QMGR_SENT:
        mark(msg, index, QF_RCPT_DELIVERED);
        qmgr_ctl_rcpt(msg, msg->qf.rcpts[index].address, status, dsn, relay, reason);
        break;
    case QMGR_BOUNCED:
        /* The DSN to the sender comes with the bounce service (later issue). */
        mark(msg, index, QF_RCPT_BOUNCED);
        qmgr_ctl_rcpt(msg, msg->qf.rcpts[index].address, status, dsn, relay, reason);
        break;
    case QMGR_DEFERRED:
        defer_rcpt(msg, index, dsn, relay, reason, 0);
        break;
    }
}

void qmgr_message_rcpt_failed(struct qmgr_message *msg, size_t index, const char *reason)
{
    if (index >= msg->qf.rcpt_count || msg->qf.rcpts[index].state != QF_RCPT_PENDING)
        return;
    defer_rcpt(msg, index, DSN_TEMP_SYSTEM, PROTO_RELAY_NONE, reason, 1);
}

/* --- completion --- */

static int has_pending(const struct qmgr_message *msg)
{
    for (size_t i = 0; i < msg->qf.rcpt_count; i++) {
        if (msg->qf.rcpts[i].state == QF_RCPT_PENDING)
            return 1;
    }
    return 0;
}

/* Every recipient bounced (none delivered): the done state says so. */
static int all_bounced(const struct qmgr_message *msg)
{
    for (size_t i = 0; i < msg->qf.rcpt_count; i++) {
        if (msg->qf.rcpts[i].state != QF_RCPT_BOUNCED)
            return 0;
    }
    return msg->qf.rcpt_count > 0;
}

static void remove_file(struct qmgr_message *msg)
{
    char path[QUEUE_PATH_MAX];

    queue_path(path, sizeof(path), QUEUE_ACTIVE, msg->id);
    if (unlink(path) < 0 && errno != ENOENT) {
        msg_warn("%s: cannot remove %s: %s", msg->id, path, strerror(errno));
        return;
    }
    qmgr_index_remove(msg->id);
    msg_info("%s: removed", msg->id);
}

/* Make the marks and delay records durable (before the file changes state). */
static void sync_file(struct qmgr_message *msg)
{
    if (fdatasync(msg->fd) < 0)
        msg_warn("%s: fdatasync: %s", msg->id, strerror(errno));
}

static void defer_file(struct qmgr_message *msg)
{
    time_t now = time(NULL);
    struct timespec times[2];

    sync_file(msg);
    times[0].tv_sec = next_attempt(now, msg->qf.arrival.tv_sec);
    times[0].tv_nsec = 0;
    times[1] = times[0];
    if (futimens(msg->fd, times) < 0)
        msg_warn("%s: cannot set next attempt time: %s", msg->id, strerror(errno));
    if (queue_move(msg->id, QUEUE_ACTIVE, QUEUE_DEFERRED) < 0) {
        if (errno != ENOENT)
            msg_warn("%s: cannot move from active to deferred: %s", msg->id,
                     strerror(errno));
        return;
    }
    qmgr_index_put(msg->id, QUEUE_DEFERRED, (int64_t)times[0].tv_sec, &msg->qf);
}

static void message_free(struct qmgr_message *msg)
{
    if (msg->jobs != NULL || msg->watchers != NULL || msg->withdrawers != NULL)
        msg_panic("%s: freeing a message that is still referenced", msg->id);
    htable_remove(active(), msg->id);
    if (msg->fd >= 0)
        close(msg->fd);
    queue_file_free(&msg->qf);
    xfree(msg);
}

/* The withdraw action, after the last job ended. Returns the done state. */
static const char *withdraw_file(struct qmgr_message *msg)
{
    char path[QUEUE_PATH_MAX];

    switch (msg->withdraw) {
    case QMGR_WITHDRAW_DELETE:
        queue_path(path, sizeof(path), QUEUE_ACTIVE, msg->id);
        if (unlink(path) < 0 && errno != ENOENT) {
            msg_warn("%s: cannot remove %s: %s", msg->id, path, strerror(errno));
            return NULL;
        }
        qmgr_index_remove(msg->id);
        msg_info("%s: removed by the operator (withdrawn from delivery)", msg->id);
        return QMGR_DONE_DELETED;
    case QMGR_WITHDRAW_HOLD:
        sync_file(msg);
        if (queue_move(msg->id, QUEUE_ACTIVE, QUEUE_HOLD) < 0) {
            msg_warn("%s: cannot move from active to hold: %s", msg->id, strerror(errno));
            return NULL;
        }
        qmgr_index_put(msg->id, QUEUE_HOLD, 0, &msg->qf);
        msg_info("%s: placed on hold by the operator (withdrawn from delivery)", msg->id);
        return QMGR_DONE_HOLD;
    case QMGR_WITHDRAW_REQUEUE:
        sync_file(msg);
        if (queue_move(msg->id, QUEUE_ACTIVE, QUEUE_INCOMING) < 0) {
            msg_warn("%s: cannot move from active to incoming: %s", msg->id,
                     strerror(errno));
            return NULL;
        }
        qmgr_index_put(msg->id, QUEUE_INCOMING, 0, &msg->qf);
        msg_info("%s: requeued by the operator (withdrawn from delivery)", msg->id);
        return QMGR_DONE_INCOMING;
    default:
        return NULL;
    }
}

static void message_complete(struct qmgr_message *msg)
{
    const char *state, *withdraw_error = NULL;
    int requeue = 0;
    char id[QUEUE_ID_MAX + 1];

    if (msg->held) {
        state = QMGR_DONE_HOLD;     /* already moved by route_message() */
        if (msg->withdraw != QMGR_WITHDRAW_NONE)
            withdraw_error = "the message was put on hold by transport_maps";
    } else if (!has_pending(msg)) {
        state = all_bounced(msg) ? QMGR_DONE_BOUNCED : QMGR_DONE_REMOVED;
        remove_file(msg);
        if (msg->withdraw != QMGR_WITHDRAW_NONE)
            withdraw_error = "delivery already completed";
    } else if (msg->withdraw != QMGR_WITHDRAW_NONE) {
        state = withdraw_file(msg);
        if (state == NULL) {
            /* The file stays in active/: delivered again at the next start. */
            state = QMGR_DONE_ACTIVE;
            withdraw_error = "cannot move the queue file (see the log)";
        }
        requeue = msg->withdraw == QMGR_WITHDRAW_REQUEUE && withdraw_error == NULL;
    } else {
        state = QMGR_DONE_DEFERRED;
        defer_file(msg);
    }
    snprintf(id, sizeof(id), "%s", msg->id);
    qmgr_ctl_message_end(msg, state, withdraw_error);
    message_free(msg);
    if (requeue)
        qmgr_scan_new(id);          /* treated as new mail */
    qmgr_work_schedule();           /* a slot in active/ is free */
}

void qmgr_message_job_done(struct qmgr_message *msg)
{
    if (msg->jobs_left == 0)
        msg_panic("%s: job done but no job outstanding", msg->id);
    if (--msg->jobs_left == 0)
        message_complete(msg);
}

/* --- routing --- */

/* One recipient's route, kept between the two passes of route_message(). */
struct decision {
    int status;                     /* ROUTE_OK or ROUTE_DEFER */
    enum route_transport transport;
    char dsn[DSN_SIZE];
    char *nexthop;                  /* smtp */
    char *text;                     /* error, discard, hold, defer */
};

static void enqueue_job(void *value)
{
    qmgr_job_enqueue(value);
}

static void enqueue_urgent(void *value)
{
    qmgr_job_urgent(value);
}

/* Route every pending recipient; returns the index of one routed to hold, or -1. */
static long decide(struct qmgr_message *msg, struct decision *dec)
{
    struct route_result *res = xmalloc(sizeof(*res));
    long hold = -1;

    for (size_t i = 0; i < msg->qf.rcpt_count; i++) {
        if (msg->qf.rcpts[i].state != QF_RCPT_PENDING)
            continue;
        qmgr_route(msg->qf.rcpts[i].address, msg->qf.sender, res);
        dec[i].status = res->status;
        dec[i].transport = res->transport;
        snprintf(dec[i].dsn, sizeof(dec[i].dsn), "%s", res->dsn);
        dec[i].text = xstrdup(res->text);
        if (res->status == ROUTE_OK && res->transport == ROUTE_TRANSPORT_SMTP)
            dec[i].nexthop = xstrdup(res->nexthop);
        if (res->status == ROUTE_OK && res->transport == ROUTE_TRANSPORT_HOLD && hold < 0)
            hold = (long)i;
        msg_debug("%s: to=<%s>: route %s nexthop=%s dsn=%s text=%s", msg->id,
                  msg->qf.rcpts[i].address,
                  res->status == ROUTE_OK ? route_transport_name(res->transport) : "defer",
                  res->nexthop, res->dsn, res->text);
    }
    xfree(res);
    return hold;
}

/* transport hold: the message goes to hold/ as it is. */
static void hold_message(struct qmgr_message *msg, size_t index, const char *text)
{
    sync_file(msg);
    if (queue_move(msg->id, QUEUE_ACTIVE, QUEUE_HOLD) < 0) {
        msg_warn("%s: cannot move from active to hold: %s: deferred instead", msg->id,
                 strerror(errno));
        return;
    }
    msg->held = 1;
    qmgr_index_put(msg->id, QUEUE_HOLD, 0, &msg->qf);
    if (text[0] != '\0')
        msg_info("%s: hold: %s", msg->id, text);
    else
        msg_info("%s: hold: by transport_maps for <%s>", msg->id,
                 msg->qf.rcpts[index].address);
}

/* error, discard, or no decision: settled here, without a delivery agent. */
static void settle(struct qmgr_message *msg, size_t i, const struct decision *dec)
{
    char text[ROUTE_TEXT_MAX + 16];

    if (dec->status != ROUTE_OK) {
        defer_rcpt(msg, i, dec->dsn, PROTO_RELAY_NONE, dec->text, 1);
        return;
    }
    if (dec->transport == ROUTE_TRANSPORT_DISCARD) {
        snprintf(text, sizeof(text), "discarded%s%s", dec->text[0] ? ": " : "", dec->text);
        log_result(msg, i, PROTO_RELAY_NONE, DSN_SUCCESS, QMGR_SENT, text);
        qmgr_message_rcpt_result(msg, i, QMGR_SENT, DSN_SUCCESS, PROTO_RELAY_NONE, text);
        return;
    }
    if (dsn_class_of(dec->dsn) == DSN_CLASS_TEMP) {
        defer_rcpt(msg, i, dec->dsn, PROTO_RELAY_NONE, dec->text, 1);
        return;
    }
    log_result(msg, i, PROTO_RELAY_NONE, dec->dsn, QMGR_BOUNCED, dec->text);
    qmgr_message_rcpt_result(msg, i, QMGR_BOUNCED, dec->dsn, PROTO_RELAY_NONE, dec->text);
}

/* Queue the smtp recipients as jobs, one per next hop (and per 1000). */
static void make_jobs(struct qmgr_message *msg, const struct decision *dec, int urgent)
{
    struct htable *groups = htable_create(0);

    for (size_t i = 0; i < msg->qf.rcpt_count; i++) {
        struct qmgr_job *job;

        if (dec[i].nexthop == NULL || msg->qf.rcpts[i].state != QF_RCPT_PENDING)
            continue;
        job = htable_find(groups, dec[i].nexthop);
        if (job == NULL) {
            job = qmgr_job_new(msg, dec[i].nexthop);
            (void)htable_insert(groups, dec[i].nexthop, job);
        }
        qmgr_job_add_rcpt(job, i);
        if (job->count >= QMGR_RCPT_PER_JOB) {
            htable_remove(groups, dec[i].nexthop);
            (urgent ? enqueue_urgent : enqueue_job)(job);
        }
    }
    htable_free(groups, urgent ? enqueue_urgent : enqueue_job);
}

/* Route the pending recipients and act on the decisions. */
static void route_message(struct qmgr_message *msg, int urgent)
{
    struct decision *dec = xcalloc(msg->qf.rcpt_count ? msg->qf.rcpt_count : 1, sizeof(*dec));
    long hold = decide(msg, dec);

    if (hold >= 0) {
        /* On hold, or (the move failed) deferred as it is: nothing is settled. */
        hold_message(msg, (size_t)hold, dec[hold].text);
    } else {
        for (size_t i = 0; i < msg->qf.rcpt_count; i++) {
            if (msg->qf.rcpts[i].state == QF_RCPT_PENDING && dec[i].nexthop == NULL
                && dec[i].text != NULL)
                settle(msg, i, &dec[i]);
        }
        make_jobs(msg, dec, urgent);
    }
    for (size_t i = 0; i < msg->qf.rcpt_count; i++) {
        xfree(dec[i].nexthop);
        xfree(dec[i].text);
    }
    xfree(dec);
}

/* --- activation --- */

static void move_corrupt(const char *id, const char *reason)
{
    if (queue_move(id, QUEUE_ACTIVE, QUEUE_CORRUPT) < 0) {
        msg_warn("%s: damaged queue file (%s) cannot be moved to corrupt: %s", id,
                 reason, strerror(errno));
        return;
    }
    qmgr_index_corrupt(id);
    msg_warn("%s: damaged queue file moved to corrupt: %s", id, reason);
}

/*
 * The file could not be opened (out of descriptors, an I/O error): that is
 * no fault of the file. Back where it came from, for a later attempt; if
 * even that fails, qmgr_message_recover_orphans() finds it in active/.
 */
static void put_back(const char *id, enum queue_state from, const char *reason)
{
    enum queue_state to = from == QUEUE_ACTIVE ? QUEUE_INCOMING : from;

    msg_warn("%s: cannot open the queue file: %s: back to %s for a later attempt", id, reason,
             queue_state_name(to));
    if (queue_move(id, QUEUE_ACTIVE, to) < 0)
        msg_warn("%s: cannot move from active to %s: %s", id, queue_state_name(to),
                 strerror(errno));
}

struct qmgr_message *qmgr_message_load(const char *id, enum queue_state from,
                                       const char **why)
{
    char path[QUEUE_PATH_MAX], err[QF_ERR_MAX];
    struct qmgr_message *msg;
    int fd;

    *why = "no such message";
    if (!queue_id_valid(id))
        return NULL;
    if (qmgr_message_is_active(id)) {
        *why = "message is already active";
        return NULL;
    }
    if (queue_move(id, from, QUEUE_ACTIVE) < 0) {
        if (errno == ENOENT)
            return NULL;
        msg_warn("%s: cannot move from %s to active: %s", id, queue_state_name(from),
                 strerror(errno));
        *why = "cannot move the queue file to active (see the log)";
        return NULL;
    }
    queue_path(path, sizeof(path), QUEUE_ACTIVE, id);
    fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return NULL;
        put_back(id, from, strerror(errno));
        *why = "cannot open the queue file (see the log)";
        return NULL;
    }
    msg = xcalloc(1, sizeof(*msg));
    snprintf(msg->id, sizeof(msg->id), "%s", id);
    msg->fd = fd;
    if (queue_file_read(fd, &msg->qf, err, sizeof(err)) < 0) {
        close(fd);
        xfree(msg);
        move_corrupt(id, err);
        *why = "damaged queue file: moved to corrupt";
        return NULL;
    }
    (void)htable_insert(active(), msg->id, msg);
    qmgr_index_put(msg->id, QUEUE_ACTIVE, 0, &msg->qf);
    msg_info("%s: from=<%s>, size=%lld, nrcpt=%zu (queue active)", msg->id,
             msg->qf.sender, (long long)msg->qf.content_size, msg->qf.rcpt_count);
    return msg;
}

void qmgr_message_route(struct qmgr_message *msg, int urgent)
{
    msg->jobs_left++;               /* hold it while routing */
    route_message(msg, urgent);
    qmgr_message_job_done(msg);     /* completes it when nothing was queued */
}

int qmgr_message_activate(const char *id, enum queue_state from)
{
    const char *why;
    struct qmgr_message *msg = qmgr_message_load(id, from, &why);

    if (msg == NULL)
        return 0;
    qmgr_message_route(msg, 0);
    return 1;
}

void qmgr_message_hurry(struct qmgr_message *msg)
{
    for (struct qmgr_job *job = msg->jobs; job != NULL; job = job->msg_next)
        qmgr_job_urgent(job);
}

void qmgr_message_trace(struct qmgr_message *msg, const char *line)
{
    qmgr_ctl_trace(msg, line);
}

int qmgr_message_withdraw(struct qmgr_message *msg, enum qmgr_withdraw action,
                          struct qmgr_ctl_client *client)
{
    struct qmgr_job *job, *next;

    if (msg->withdraw != QMGR_WITHDRAW_NONE && msg->withdraw != action)
        return -1;
    if (client != NULL)
        qmgr_ctl_withdraw_wait(msg, client);
    if (msg->withdraw != QMGR_WITHDRAW_NONE)
        return 0;                   /* the same withdraw is already under way */
    msg->withdraw = action;
    msg->jobs_left++;               /* hold it while its jobs go */
    for (job = msg->jobs; job != NULL; job = next) {
        next = job->msg_next;
        if (job->where == QMGR_JOB_RUNNING)
            qmgr_conn_cancel(job->conn);
        else
            qmgr_job_drop(job);
    }
    qmgr_message_job_done(msg);     /* completes it when nothing runs */
    qmgr_dispatch();
    return 0;
}
