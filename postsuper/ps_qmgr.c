/*
 * ps_qmgr.c - postsuper's conversation with qmgr (lib/mail/mail_proto.h, the
 * qmgr control section), and the test whether master is running.
 *
 * One connection to private/qmgr is opened when first needed and reused.
 * master owns the listening socket, so while master runs a connect
 * succeeds even when qmgr is being restarted (the request waits in the
 * backlog for the new qmgr). A failed connect therefore means either that
 * master is down - then nobody delivers anything and postsuper may move
 * files in active/ itself - or a transient problem, retried for a while.
 * "Down" is decided only by master's lock: pid/master.pid is flock'ed
 * LOCK_EX by master for its whole life, so LOCK_SH|LOCK_NB succeeding (or
 * no such file) means no master. Any doubt counts as "running", the safe
 * side (postsuper then refuses rather than races a delivery).
 *
 * Requests are written through the declarations of mail_proto.h
 * (proto_out); the withdraw reply is checked against its declaration
 * (proto_qmgr_withdraw_reply, or proto_error_reply) before it is used.
 * Notifications (req=new, req=wakeup) get no reply; a failure to send them
 * is harmless because qmgr scans incoming/ every queue_run_delay anyway.
 *
 * Memory: the connection descriptor, the list of noted IDs (NOTIFY_MAX
 * fixed slots) and the request buffer, all file-scope.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "attr.h"
#include "errtext.h"
#include "mail_proto.h"
#include "msg.h"
#include "params.h"
#include "postsuper.h"
#include "sock.h"
#include "tool.h"

#define MASTER_PID_FILE "pid/master.pid"
#define CONNECT_TRIES 50                /* with master up: 50 x 0.2 s */
#define CONNECT_PAUSE_NS 200000000L
#define NOTIFY_MAX 100                  /* more than this: one req=wakeup */
#define SEND_TIMEOUT 30

static int qmgr_fd = -1;
static char noted[NOTIFY_MAX][QUEUE_ID_MAX + 1];
static size_t noted_count;
static int noted_overflow;

int ps_master_running(void)
{
    int fd = open(MASTER_PID_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int running;

    if (fd < 0)
        return errno == ENOENT ? 0 : 1;
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        running = 0;
        flock(fd, LOCK_UN);
    } else {
        running = 1;            /* EWOULDBLOCK, or a doubt */
    }
    close(fd);
    return running;
}

static void pause_ns(long ns)
{
    struct timespec ts = { ns / 1000000000L, ns % 1000000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        continue;
}

void ps_qmgr_close(void)
{
    if (qmgr_fd >= 0)
        close(qmgr_fd);
    qmgr_fd = -1;
}

/*
 * Make sure there is a connection. 0 connected, 1 master is down, -1 could
 * not connect although master runs (reason filled).
 */
static int qmgr_connect(int patient, char *reason, size_t reason_len)
{
    int tries = patient ? CONNECT_TRIES : 1;

    if (qmgr_fd >= 0)
        return 0;
    for (int i = 0; i < tries; i++) {
        qmgr_fd = sock_unix_connect(PROTO_QMGR_SOCKET, 0);
        if (qmgr_fd >= 0)
            return 0;
        errtext_set(reason, reason_len, "cannot connect to the queue manager (%s): %s",
                 PROTO_QMGR_SOCKET, strerror(errno));
        if (!ps_master_running())
            return 1;
        if (i + 1 < tries)
            pause_ns(CONNECT_PAUSE_NS);
    }
    return -1;
}

/* The buffer a request is written into (proto_begin ... proto_end). */
static struct evbuffer *request_buffer(void)
{
    static struct evbuffer *buf;

    if (buf == NULL && (buf = evbuffer_new()) == NULL)
        tool_fatal(TOOL_EXIT_FAIL, "out of memory");
    return buf;
}

/* Send the request in request_buffer(), which is left empty. 0 or -1. */
static int qmgr_send(void)
{
    struct evbuffer *buf = request_buffer();
    int rc = attr_write_fd(qmgr_fd, buf, SEND_TIMEOUT);
    int saved_errno = errno;

    evbuffer_drain(buf, evbuffer_get_length(buf));
    errno = saved_errno;
    return rc;
}

static void put_withdraw(const char *id, const char *action)
{
    struct proto_out req;

    proto_begin(&req, request_buffer(), &proto_qmgr_withdraw);
    proto_put_str(&req, MAIL_ATTR_REQ, QMGR_REQ_WITHDRAW);
    proto_put_str(&req, MAIL_ATTR_QUEUE_ID, id);
    proto_put_str(&req, MAIL_ATTR_ACTION, action);
    proto_end(&req);
}

/* Interpret a withdraw reply; *garbled set when it is not one. */
static enum ps_withdraw withdraw_reply(const struct attr_msg *msg, char *reason,
                                       size_t reason_len, int *garbled)
{
    const char *state, *why;
    char err[256];

    *garbled = 0;
    switch (proto_check_reply(msg, &proto_qmgr_withdraw_reply, &proto_error_reply,
                              err, sizeof(err))) {
    case 0:
        why = attr_get(msg, MAIL_ATTR_REASON);
        errtext_set(reason, reason_len, "the queue manager refused: %s",
                    *why ? why : "no reason given");
        return PS_WD_ERROR;
    case 1:
        break;
    default:
        *garbled = 1;
        errtext_set(reason, reason_len, "bad reply from the queue manager: %s", err);
        return PS_WD_ERROR;
    }
    state = attr_get(msg, MAIL_ATTR_STATE);
    if (strcmp(state, QMGR_WITHDRAW_DONE) == 0)
        return PS_WD_DONE;
    if (strcmp(state, QMGR_WITHDRAW_NOT_ACTIVE) == 0)
        return PS_WD_NOT_ACTIVE;
    *garbled = 1;
    errtext_set(reason, reason_len, "bad reply from the queue manager: state=%s", state);
    return PS_WD_ERROR;
}

enum ps_withdraw ps_qmgr_withdraw(const char *id, const char *action,
                                  char *reason, size_t reason_len)
{
    struct attr_msg reply;
    char err[256];
    enum ps_withdraw result;
    int rc, garbled;

    rc = qmgr_connect(1, reason, reason_len);
    if (rc > 0)
        return PS_WD_DOWN;
    if (rc < 0)
        return PS_WD_ERROR;
    put_withdraw(id, action);
    if (qmgr_send() < 0) {
        msg_debug("%s: withdraw: sending to the queue manager failed: %s", id, strerror(errno));
        ps_qmgr_close();
        return PS_WD_LOST;
    }
    attr_msg_init(&reply);
    rc = attr_read_fd(qmgr_fd, &reply, (int)var_ipc_timeout, err, sizeof(err));
    if (rc <= 0) {
        msg_debug("%s: withdraw: no reply from the queue manager: %s", id,
                  rc == 0 ? "connection closed" : err);
        attr_msg_free(&reply);
        ps_qmgr_close();
        return PS_WD_LOST;
    }
    result = withdraw_reply(&reply, reason, reason_len, &garbled);
    attr_msg_free(&reply);
    if (garbled)
        ps_qmgr_close();        /* out of step: start a fresh conversation */
    return result;
}

void ps_qmgr_note_new(const char *id)
{
    if (noted_count < NOTIFY_MAX) {
        snprintf(noted[noted_count], sizeof(noted[0]), "%s", id);
        noted_count++;
    } else {
        noted_overflow = 1;
    }
}

/* Tell qmgr about one new message, or (id NULL) to scan incoming/. */
static int notify(const char *id)
{
    struct proto_out req;

    proto_begin(&req, request_buffer(), id ? &proto_qmgr_new : &proto_qmgr_wakeup);
    proto_put_str(&req, MAIL_ATTR_REQ, id ? QMGR_REQ_NEW : QMGR_REQ_WAKEUP);
    if (id)
        proto_put_str(&req, MAIL_ATTR_QUEUE_ID, id);
    proto_end(&req);
    return qmgr_send();
}

void ps_qmgr_notify_flush(void)
{
    char reason[256];
    int rc = 0;

    if (noted_count == 0 && !noted_overflow)
        return;
    if (qmgr_connect(0, reason, sizeof(reason)) != 0) {
        msg_debug("not telling the queue manager: %s", reason);
    } else if (noted_overflow) {
        rc = notify(NULL);
    } else {
        for (size_t i = 0; i < noted_count && rc == 0; i++)
            rc = notify(noted[i]);
    }
    if (rc < 0) {
        msg_debug("telling the queue manager failed: %s", strerror(errno));
        ps_qmgr_close();
    }
    noted_count = 0;
    noted_overflow = 0;
}
