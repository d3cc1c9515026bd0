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
 * Notifications (req=new, req=wakeup) get no reply; a failure to send them
 * is harmless because qmgr scans incoming/ every queue_run_delay anyway.
 *
 * Memory: the connection descriptor, the list of noted IDs (NOTIFY_MAX
 * fixed slots) and a reply buffer, all file-scope.
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
#include "mail_proto.h"
#include "msg.h"
#include "params.h"
#include "postsuper.h"
#include "sock.h"

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
        snprintf(reason, reason_len, "cannot connect to the queue manager (%s): %s",
                 PROTO_QMGR_SOCKET, strerror(errno));
        if (!ps_master_running())
            return 1;
        if (i + 1 < tries)
            pause_ns(CONNECT_PAUSE_NS);
    }
    return -1;
}

/* Send one request made of name=value pairs (NULL-terminated). 0 or -1. */
static int qmgr_send(const char *const *pairs)
{
    struct evbuffer *buf = evbuffer_new();
    int rc;

    if (buf == NULL)
        return -1;
    for (size_t i = 0; pairs[i] != NULL && pairs[i + 1] != NULL; i += 2)
        attr_put_str(buf, pairs[i], pairs[i + 1]);
    attr_put_end(buf);
    rc = attr_write_fd(qmgr_fd, buf, SEND_TIMEOUT);
    evbuffer_free(buf);
    return rc;
}

/* Interpret a withdraw reply; *garbled set when it is not one. */
static enum ps_withdraw withdraw_reply(const struct attr_msg *msg, char *reason,
                                       size_t reason_len, int *garbled)
{
    static const char *const required[] = { "status", NULL };
    static const char *const optional[] = { "state", "reason", NULL };
    const char *status, *state, *why;
    char err[256];

    *garbled = 0;
    if (attr_check(msg, required, optional, NULL, err, sizeof(err)) < 0) {
        *garbled = 1;
        snprintf(reason, reason_len, "bad reply from the queue manager: %s", err);
        return PS_WD_ERROR;
    }
    status = attr_get(msg, "status");
    state = attr_get(msg, "state");
    why = attr_get(msg, "reason");
    if (strcmp(status, PROTO_STATUS_OK) == 0 && state != NULL) {
        if (strcmp(state, "done") == 0)
            return PS_WD_DONE;
        if (strcmp(state, "not_active") == 0)
            return PS_WD_NOT_ACTIVE;
    }
    if (strcmp(status, PROTO_STATUS_ERROR) == 0) {
        snprintf(reason, reason_len, "the queue manager refused: %s",
                 why && *why ? why : "no reason given");
        return PS_WD_ERROR;
    }
    *garbled = 1;
    snprintf(reason, reason_len, "bad reply from the queue manager: status=%s state=%s",
             status, state ? state : "(none)");
    return PS_WD_ERROR;
}

enum ps_withdraw ps_qmgr_withdraw(const char *id, const char *action,
                                  char *reason, size_t reason_len)
{
    const char *const request[] = {
        "req", QMGR_REQ_WITHDRAW, "queue_id", id, "action", action, NULL
    };
    struct attr_msg reply;
    char err[256];
    enum ps_withdraw result;
    int rc, garbled;

    rc = qmgr_connect(1, reason, reason_len);
    if (rc > 0)
        return PS_WD_DOWN;
    if (rc < 0)
        return PS_WD_ERROR;
    if (qmgr_send(request) < 0) {
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

void ps_qmgr_notify_flush(void)
{
    char reason[256];
    int rc = 0;

    if (noted_count == 0 && !noted_overflow)
        return;
    if (qmgr_connect(0, reason, sizeof(reason)) != 0) {
        msg_debug("not telling the queue manager: %s", reason);
    } else if (noted_overflow) {
        const char *const request[] = { "req", QMGR_REQ_WAKEUP, NULL };
        rc = qmgr_send(request);
    } else {
        for (size_t i = 0; i < noted_count && rc == 0; i++) {
            const char *const request[] = { "req", QMGR_REQ_NEW, "queue_id", noted[i], NULL };
            rc = qmgr_send(request);
        }
    }
    if (rc < 0) {
        msg_debug("telling the queue manager failed: %s", strerror(errno));
        ps_qmgr_close();
    }
    noted_count = 0;
    noted_overflow = 0;
}
