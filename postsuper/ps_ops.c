/*
 * ps_ops.c - hold (-h), release (-H), delete (-d) and requeue (-r) of one
 * message at a time.
 *
 * Find the state the message is in and act on it there:
 *   - incoming/, deferred/, hold/, corrupt/: nobody but qmgr takes files
 *     from there, and only by a rename into active/; so postsuper renames
 *     the file itself (deleting is a rename into the trash, ps_trash.c).
 *     ENOENT means qmgr took it meanwhile: look again.
 *   - active/: qmgr may be delivering it. postsuper asks qmgr to withdraw
 *     it (req=withdraw) and obeys the answer: done; not_active (qmgr does
 *     not have it: look again where the file is now); the connection broke
 *     (qmgr died: look again - the new qmgr moves what was active back to
 *     incoming/ before it serves anyone). postsuper moves a file out of
 *     active/ itself only when master is not running, or when qmgr said
 *     several times in a row that it does not have a file that stays in
 *     active/ (a stray, which qmgr will never deliver).
 * Each look is bounded (LOOK_MAX): a message that keeps moving is reported
 * as a failure, never looped on.
 *
 * Renames never replace an existing file: two copies of one ID are
 * reported, not merged. Every directory changed is remembered and fsync'ed
 * at the end, so what postsuper reports done is on disk when it exits.
 *
 * Memory: file-scope tallies and the touched-directory bitmaps.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "mail_proto.h"
#include "msg.h"
#include "postsuper.h"

#define S_INCOMING PS_STATE_BIT(QUEUE_INCOMING)
#define S_ACTIVE PS_STATE_BIT(QUEUE_ACTIVE)
#define S_DEFERRED PS_STATE_BIT(QUEUE_DEFERRED)
#define S_HOLD PS_STATE_BIT(QUEUE_HOLD)
#define S_CORRUPT PS_STATE_BIT(QUEUE_CORRUPT)
#define S_ALL (S_INCOMING | S_ACTIVE | S_DEFERRED | S_HOLD | S_CORRUPT)

#define LOOK_MAX 20             /* looks for one message */
#define LOST_MAX 5              /* broken qmgr connections for one message */
#define STRAY_MAX 3             /* "not_active" answers for a file in active/ */
#define STDIN_LINE_MAX 256

/*
 * Walk orders follow the way qmgr moves messages (incoming/deferred ->
 * active -> deferred): hold and delete walk active/ last and repeat while
 * they find something; requeue walks active/ first and once, because what
 * it puts into incoming/ goes on to active/ and must not be requeued twice.
 */
static const struct ps_op_def ops[PS_OP_COUNT] = {
    [PS_HOLD] = {
        PS_HOLD, "-h", "holding", "Placed on hold", "placed on hold",
        S_INCOMING | S_DEFERRED | S_ACTIVE, S_INCOMING | S_DEFERRED | S_ACTIVE,
        QUEUE_HOLD, QMGR_ACTION_HOLD, 1,
        { QUEUE_INCOMING, QUEUE_DEFERRED, QUEUE_ACTIVE }, 3,
    },
    [PS_RELEASE] = {
        PS_RELEASE, "-H", "releasing", "Released from hold", "released from hold",
        S_HOLD, S_HOLD, QUEUE_INCOMING, NULL, 0,
        { QUEUE_HOLD }, 1,
    },
    [PS_DELETE] = {
        PS_DELETE, "-d", "deleting", "Deleted", "removed",
        S_ALL, S_ALL, -1, QMGR_ACTION_DELETE, 1,
        { QUEUE_INCOMING, QUEUE_DEFERRED, QUEUE_HOLD, QUEUE_CORRUPT, QUEUE_ACTIVE }, 5,
    },
    [PS_REQUEUE] = {
        PS_REQUEUE, "-r", "requeueing", "Requeued", "requeued",
        S_ACTIVE | S_DEFERRED | S_HOLD, S_INCOMING | S_ACTIVE | S_DEFERRED | S_HOLD,
        QUEUE_INCOMING, QMGR_ACTION_REQUEUE, 0,
        { QUEUE_ACTIVE, QUEUE_DEFERRED, QUEUE_HOLD }, 3,
    },
};

static struct {
    int used;
    unsigned long done;
} tally[PS_OP_COUNT];
static enum ps_op used_order[PS_OP_COUNT];
static size_t used_count;
static unsigned long failures;
static unsigned char touched_leaf[QUEUE_STATE_COUNT][QUEUE_LEAF_COUNT];
static unsigned char touched_parent[QUEUE_STATE_COUNT][QUEUE_LEAF_COUNT];  /* by leaf */

/* --- the table, tallies --- */

const struct ps_op_def *ps_op_def(enum ps_op op)
{
    return &ops[op];
}

int ps_op_queue_ok(enum ps_op op, enum queue_state state)
{
    unsigned ok = ops[op].from;

    if (ops[op].dest >= 0)
        ok |= PS_STATE_BIT(ops[op].dest);
    return (ok & PS_STATE_BIT(state)) != 0;
}

void ps_op_used(enum ps_op op)
{
    if (tally[op].used)
        return;
    tally[op].used = 1;
    used_order[used_count++] = op;
}

void ps_count(enum ps_op op, enum ps_outcome out, unsigned long n)
{
    if (out == PS_DONE)
        tally[op].done += n;
    else if (out == PS_NOT_FOUND || out == PS_FAILED)
        failures += n;
}

int ps_op_failed(void)
{
    return failures > 0;
}

void ps_op_note_failure(void)
{
    failures++;
}

void ps_op_summary(void)
{
    for (size_t i = 0; i < used_count; i++) {
        enum ps_op op = used_order[i];
        ps_say("%s: %lu message%s", ops[op].summary, tally[op].done,
               tally[op].done == 1 ? "" : "s");
    }
}

void ps_op_logged(const struct ps_op_def *op, const char *id)
{
    ps_log("%s: %s", id, op->logged);
    if (op->dest == QUEUE_INCOMING)
        ps_qmgr_note_new(id);
}

/* --- directories to flush --- */

void ps_touch(enum queue_state state, const char *id)
{
    int leaf = queue_leaf_index(id);

    if ((unsigned)state < QUEUE_STATE_COUNT && leaf >= 0)
        touched_leaf[state][leaf] = 1;
}

void ps_touch_parent(enum queue_state state, int leaf)
{
    if ((unsigned)state < QUEUE_STATE_COUNT && leaf >= 0 && leaf < QUEUE_LEAF_COUNT)
        touched_parent[state][leaf] = 1;
}

static void sync_dir(const char *path)
{
    if (fdio_fsync_dir(path) < 0)
        ps_warn("cannot flush %s to disk: %s", path, strerror(errno));
}

/* The parents of touched leaves, each once (leaves that share a parent
 * have consecutive numbers). */
static void sync_parents(enum queue_state state)
{
    char path[QUEUE_PATH_MAX], last[QUEUE_PATH_MAX] = "";
    struct queue_leaf leaf;

    for (int i = 0; i < QUEUE_LEAF_COUNT; i++) {
        if (!touched_parent[state][i])
            continue;
        touched_parent[state][i] = 0;
        queue_leaf_at(&leaf, state, i);
        queue_leaf_parent(&leaf, path, sizeof(path));
        if (strcmp(path, last) == 0)
            continue;
        sync_dir(path);
        memcpy(last, path, sizeof(last));
    }
}

void ps_sync_touched(void)
{
    struct queue_leaf leaf;

    for (int s = 0; s < QUEUE_STATE_COUNT; s++) {
        for (int i = 0; i < QUEUE_LEAF_COUNT; i++) {
            if (!touched_leaf[s][i])
                continue;
            touched_leaf[s][i] = 0;
            queue_leaf_at(&leaf, (enum queue_state)s, i);
            sync_dir(leaf.path);
        }
        sync_parents((enum queue_state)s);
    }
}

int ps_rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    return rename(from, to);
}

static void pause_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        continue;
}

/* --- one message --- */

/* Change the file ourselves. 0 done, -1 with errno (ENOENT: it moved). */
static int act_direct(const struct ps_op_def *op, const char *id, enum queue_state from)
{
    char src[QUEUE_PATH_MAX], dst[QUEUE_PATH_MAX];
    int rc;

    ps_index_prepare();
    if (op->dest < 0) {
        rc = ps_trash_file(from, id);
    } else {
        queue_path(src, sizeof(src), from, id);
        queue_path(dst, sizeof(dst), (enum queue_state)op->dest, id);
        rc = ps_rename_noreplace(src, dst);
    }
    if (rc < 0)
        return -1;
    ps_touch(from, id);
    if (op->dest < 0) {
        ps_index_delete(id);
    } else {
        ps_touch((enum queue_state)op->dest, id);
        ps_index_set_state(id, (enum queue_state)op->dest);
    }
    return 0;
}

static enum ps_outcome done(const struct ps_op_def *op, const char *id)
{
    ps_op_logged(op, id);
    return PS_DONE;
}

/* The message is not in the queue (any more). */
static enum ps_outcome gone(const struct ps_op_def *op, const char *id, int tried, int named)
{
    if (tried && op->dest < 0)
        return PS_DONE;         /* deleted: what we wanted, whoever did it */
    if (!named)
        return PS_SKIPPED;      /* ALL: it left the queue while we walked */
    if (tried)
        ps_warn("%s: no longer in the queue (delivered or removed meanwhile)", id);
    else
        ps_warn("%s: no such message", id);
    return PS_NOT_FOUND;
}

/* The message is where the operation would put it. */
static enum ps_outcome arrived(const struct ps_op_def *op, const char *id, int tried)
{
    if (tried || op->op == PS_REQUEUE)
        return done(op, id);    /* moved by us, or incoming is where requeue leads */
    if (op->op == PS_RELEASE) {
        ps_warn("%s: not on hold", id);
        return PS_SKIPPED;
    }
    if (ps_out_is_verbose())
        ps_say("%s: already on hold", id);
    return PS_SKIPPED;
}

/* The message is in a state this operation does not take from. */
static enum ps_outcome misfit(const struct ps_op_def *op, const char *id, enum queue_state state)
{
    if (op->op == PS_RELEASE) {
        ps_warn("%s: not on hold (it is in %s)", id, queue_state_name(state));
        return PS_SKIPPED;
    }
    ps_warn("%s: is in %s (a damaged file): it can only be deleted (-d)", id,
            queue_state_name(state));
    return PS_FAILED;
}

enum ps_outcome ps_act(const struct ps_op_def *op, const char *id, int state, int named)
{
    char reason[512];
    int tried = 0, lost = 0, stray = 0, direct_active = 0;

    for (int look = 0; look < LOOK_MAX; look++) {
        if (state < 0) {
            enum queue_state found;
            if (queue_find(id, &found) < 0)
                return gone(op, id, tried, named);
            state = (int)found;
        }
        if (op->dest >= 0 && state == op->dest)
            return arrived(op, id, tried);
        if (!(op->from & PS_STATE_BIT(state)))
            return misfit(op, id, (enum queue_state)state);
        if (state == QUEUE_ACTIVE && !direct_active) {
            enum queue_state now;

            ps_index_flush();   /* never wait for qmgr while holding the index lock */
            tried = 1;
            switch (ps_qmgr_withdraw(id, op->action, reason, sizeof(reason))) {
            case PS_WD_DONE:
                return done(op, id);
            case PS_WD_ERROR:
                ps_warn("%s: %s", id, reason);
                return PS_FAILED;
            case PS_WD_LOST:
                if (++lost >= LOST_MAX) {
                    ps_warn("%s: the queue manager keeps closing the connection; "
                            "the message stays in active", id);
                    return PS_FAILED;
                }
                state = -1;
                continue;
            case PS_WD_NOT_ACTIVE:
                state = -1;
                if (queue_find(id, &now) == 0 && now == QUEUE_ACTIVE) {
                    if (++stray >= STRAY_MAX) {
                        msg_warn("%s: in active but unknown to the queue manager: "
                                 "moving it directly", id);
                        direct_active = 1;
                    } else {
                        pause_ms(20L * stray);
                    }
                }
                continue;
            case PS_WD_DOWN:
                direct_active = 1;
                break;
            }
        }
        tried = 1;
        if (act_direct(op, id, (enum queue_state)state) == 0)
            return done(op, id);
        if (errno != ENOENT) {
            ps_warn("%s: cannot %s %s: %s", id, op->dest < 0 ? "remove it from" : "move it from",
                    queue_state_name((enum queue_state)state), strerror(errno));
            return PS_FAILED;
        }
        state = -1;             /* it moved meanwhile: look again */
    }
    ps_warn("%s: the message kept moving between queues; try again", id);
    return PS_FAILED;
}

/* --- requests --- */

void ps_op_one(enum ps_op op, const char *id)
{
    ps_op_used(op);
    if (!queue_id_valid(id)) {
        ps_warn("%.80s: invalid queue ID", id);
        failures++;
        return;
    }
    ps_count(op, ps_act(&ops[op], id, -1, 1), 1);
    ps_index_flush();
    ps_qmgr_notify_flush();
}

/* Strip white space at both ends, in place. */
static char *trim(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
        *--end = '\0';
    return s;
}

void ps_op_stdin(enum ps_op op)
{
    static int stdin_done;
    char line[STDIN_LINE_MAX];

    ps_op_used(op);
    if (stdin_done) {
        ps_warn("%s -: standard input was already read", ops[op].option);
        return;
    }
    stdin_done = 1;
    ps_progress_start(ops[op].progress, 0);
    while (fgets(line, sizeof(line), stdin) != NULL) {
        size_t len = strlen(line);
        char *id;

        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            int c;
            while ((c = getchar()) != EOF && c != '\n')
                continue;
            ps_warn("%.40s...: invalid queue ID (line too long)", line);
            failures++;
            continue;
        }
        id = trim(line);
        if (*id == '\0')
            continue;
        /* postqueue -p marks active messages with '*' and held ones with '!'. */
        len = strlen(id);
        if (len > QUEUE_ID_MIN && (id[len - 1] == '*' || id[len - 1] == '!'))
            id[len - 1] = '\0';
        if (!queue_id_valid(id)) {
            ps_warn("%.80s: invalid queue ID", id);
            failures++;
            continue;
        }
        ps_count(op, ps_act(&ops[op], id, -1, 1), 1);
        ps_progress_tick();
    }
    if (ferror(stdin)) {
        ps_warn("reading standard input: %s", strerror(errno));
        failures++;
    }
    ps_progress_end();
    ps_index_flush();
    ps_qmgr_notify_flush();
}
