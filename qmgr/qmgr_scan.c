/*
 * qmgr_scan.c - the work loop: what to activate next.
 *
 * Sources of messages to bring into active/, in this order:
 *   - the priority list of flush_site (IDs found in the queue index).
 *   - the FIFO of IDs announced by cleanup (req=new), served first, so new
 *     mail is never stuck behind a large deferred queue. When the FIFO is
 *     empty and the active limit allows, an announced message is activated
 *     at once instead (its index entry is then written once, as active).
 *     It is bounded (FIFO_MAX); when it overflows, a scan of incoming/ is
 *     requested instead and finds the rest.
 *   - the scanner: on request (start, req=wakeup, every queue_run_delay) it
 *     walks incoming/ (every message) and deferred/ (messages whose mtime,
 *     the next attempt time, is not in the future), ONE leaf directory per
 *     turn of the event loop, so even half a million deferred messages
 *     never hold up the loop for long.
 *
 * A turn runs from a zero-timeout timer (so the loop polls for I/O between
 * turns) and activates at most ACTIVATE_BATCH messages. Nothing is
 * activated while qmgr_message_active_limit messages are in active/: the
 * scanner then stays at its leaf and re-reads it when a slot frees (the
 * messages it already took have left that directory).
 *
 * Flush (req=flush) walks deferred/ the same way, leaf by leaf (as many as
 * fit in FLUSH_TURN_MS, at least one, per turn), and sets each file's mtime
 * to now, so that the scan that follows finds every deferred message due.
 * At 500,000 deferred messages a leaf holds about 2,000 files: about 16 ms
 * (8 us per file, index update included); the whole walk about 4 s.
 *
 * Memory: the FIFO is one fixed array of IDs; the priority list a growing
 * array of IDs; the scanner keeps only its position; a flush owns its
 * timer and is freed when its walk ends.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/event.h>

#include "alloc.h"
#include "msg.h"
#include "params.h"
#include "qmgr.h"

#define FIFO_MAX 4096
#define ACTIVATE_BATCH 100
#define FLUSH_TURN_MS 10            /* a flush walks leaves this long per turn */

/* --- the FIFO of announced IDs --- */

static char (*fifo)[QUEUE_ID_MAX + 1];
static size_t fifo_head, fifo_count;

static void fifo_push(const char *id)
{
    size_t slot = (fifo_head + fifo_count) % FIFO_MAX;

    snprintf(fifo[slot], sizeof(fifo[slot]), "%s", id);
    fifo_count++;
}

static const char *fifo_pop(void)
{
    const char *id = fifo[fifo_head];

    fifo_head = (fifo_head + 1) % FIFO_MAX;
    fifo_count--;
    return id;
}

/* --- scanner state --- */

struct scan {
    enum queue_state state;
    int leaf;                   /* next leaf, 0 .. QUEUE_LEAF_COUNT - 1 */
    int running;                /* a pass is in progress */
    int again;                  /* start another pass after this one */
    struct timespec started;    /* when this pass began (for the debug log) */
};

static struct scan scans[] = {
    { .state = QUEUE_INCOMING },
    { .state = QUEUE_DEFERRED },
};
#define SCAN_COUNT (sizeof(scans) / sizeof(scans[0]))

static struct event *work_event;

/* --- the priority list (flush_site) --- */

static char (*prio)[QUEUE_ID_MAX + 1];
static size_t prio_head, prio_count, prio_cap;

void qmgr_scan_priority(const char *id)
{
    if (!queue_id_valid(id))
        return;
    if (prio_head > 0 && prio_head == prio_count) {
        prio_head = prio_count = 0;     /* all served: start over */
    }
    prio = xgrow(prio, &prio_cap, prio_count + 1, sizeof(*prio));
    snprintf(prio[prio_count], sizeof(prio[prio_count]), "%s", id);
    prio_count++;
    qmgr_work_schedule();
}

/* Activate one ID of the priority list from wherever it is queued. */
static void prio_activate(const char *id)
{
    enum queue_state state;

    if (qmgr_stopping() || qmgr_message_is_active(id) || queue_find(id, &state) < 0)
        return;
    if (state == QUEUE_INCOMING || state == QUEUE_DEFERRED)
        qmgr_message_activate(id, state);
}

static int have_slot(void)
{
    return !qmgr_stopping() && qmgr_message_count() < (size_t)var_qmgr_message_active_limit;
}

static void scan_start(struct scan *s)
{
    if (s->running) {
        s->again = 1;
        return;
    }
    s->running = 1;
    s->leaf = 0;
    clock_gettime(CLOCK_MONOTONIC, &s->started);
}

void qmgr_work_schedule(void)
{
    struct timeval zero = { 0, 0 };

    if (!evtimer_pending(work_event, NULL))
        evtimer_add(work_event, &zero);
}

void qmgr_scan_new(const char *id)
{
    if (!queue_id_valid(id)) {
        msg_warn("req=new with an invalid queue ID: ignored");
        return;
    }
    if (qmgr_stopping())
        return;                         /* the next qmgr finds it in incoming/ */
    if (fifo_count == 0 && have_slot()) {
        qmgr_message_activate(id, QUEUE_INCOMING);
        qmgr_work_schedule();           /* dispatch */
        return;
    }
    qmgr_index_new(id);
    if (fifo_count >= FIFO_MAX)
        scan_start(&scans[0]);          /* too many: the scan will find it */
    else
        fifo_push(id);
    qmgr_work_schedule();
}

void qmgr_scan_request(void)
{
    for (size_t i = 0; i < SCAN_COUNT; i++)
        scan_start(&scans[i]);
    qmgr_work_schedule();
}

/* Is the deferred message `name` due (a regular file, mtime <= now)? */
static int deferred_due(DIR *dir, const char *name, time_t now)
{
    struct stat st;

    if (fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    return S_ISREG(st.st_mode) && st.st_mtime <= now;
}

/*
 * Activate what is due in one leaf. 1 when the leaf is done, 0 when it
 * must be read again (no slot left or the batch is used up).
 */
static int scan_leaf(const struct scan *s)
{
    struct queue_leaf leaf;
    time_t now = time(NULL);
    struct dirent *de;
    int done = 1, tries = 0;
    DIR *dir;

    if (queue_leaf_at(&leaf, s->state, s->leaf) < 0)
        return 1;
    dir = opendir(leaf.path);
    if (dir == NULL) {
        if (errno != ENOENT)
            msg_warn("cannot scan %s: %s", leaf.path, strerror(errno));
        return 1;
    }
    while ((de = readdir(dir)) != NULL) {
        if (!queue_leaf_holds(&leaf, de->d_name) || qmgr_message_is_active(de->d_name))
            continue;
        if (s->state == QUEUE_DEFERRED && !deferred_due(dir, de->d_name, now))
            continue;
        if (!have_slot() || tries >= ACTIVATE_BATCH) {
            done = 0;
            break;
        }
        /* A persistent failure (-1) is not counted, so it cannot pin us here. */
        if (qmgr_message_activate(de->d_name, s->state) >= 0)
            tries++;
    }
    closedir(dir);
    return done;
}

static void scan_turn(struct scan *s)
{
    if (!scan_leaf(s))
        return;
    if (++s->leaf < QUEUE_LEAF_COUNT)
        return;
    if (msg_verbose > 0) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        msg_debug("scan of %s done in %ld ms", queue_state_name(s->state),
                  (long)((now.tv_sec - s->started.tv_sec) * 1000
                         + (now.tv_nsec - s->started.tv_nsec) / 1000000));
    }
    s->running = 0;
    if (s->again) {
        s->again = 0;
        scan_start(s);
    }
}

static struct scan *scan_running(void)
{
    for (size_t i = 0; i < SCAN_COUNT; i++) {
        if (scans[i].running)
            return &scans[i];
    }
    return NULL;
}

static void work(evutil_socket_t fd, short what, void *arg)
{
    int tries = 0;

    (void)fd;
    (void)what;
    (void)arg;
    while (prio_head < prio_count && have_slot() && tries < ACTIVATE_BATCH) {
        prio_activate(prio[prio_head++]);
        tries++;
    }
    if (prio_head == prio_count)
        prio_head = prio_count = 0;
    while (fifo_count > 0 && have_slot() && tries < ACTIVATE_BATCH) {
        qmgr_message_activate(fifo_pop(), QUEUE_INCOMING);
        tries++;
    }
    if (fifo_count == 0 && have_slot()) {
        struct scan *s = scan_running();
        if (s)
            scan_turn(s);
    }
    qmgr_dispatch();
    if (have_slot() && (prio_count > 0 || fifo_count > 0 || scan_running() != NULL))
        qmgr_work_schedule();
}

/* --- flush: make every deferred message due --- */

struct qmgr_flush {
    int leaf;                   /* next leaf, 0 .. QUEUE_LEAF_COUNT - 1 */
    unsigned long count;        /* messages made due so far */
    struct event *timer;
    qmgr_flush_done_fn done;    /* NULL once detached */
    void *ctx;
};

/* Set the mtime (next attempt) of every deferred message in one leaf. */
static void flush_leaf(struct qmgr_flush *f)
{
    struct queue_leaf leaf;
    struct timespec times[2];
    struct dirent *de;
    DIR *dir;

    if (queue_leaf_at(&leaf, QUEUE_DEFERRED, f->leaf) < 0)
        return;
    dir = opendir(leaf.path);
    if (dir == NULL) {
        if (errno != ENOENT)
            msg_warn("flush: cannot read %s: %s", leaf.path, strerror(errno));
        return;
    }
    clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_nsec = 0;
    times[1] = times[0];
    while ((de = readdir(dir)) != NULL) {
        if (!queue_leaf_holds(&leaf, de->d_name))
            continue;
        if (utimensat(dirfd(dir), de->d_name, times, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT)
                msg_warn("flush: cannot set the time of %s/%s: %s", leaf.path, de->d_name,
                         strerror(errno));
            continue;
        }
        qmgr_index_state(de->d_name, QUEUE_DEFERRED, (int64_t)times[0].tv_sec);
        f->count++;
    }
    closedir(dir);
}

static long elapsed_ms(const struct timespec *since)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)((now.tv_sec - since->tv_sec) * 1000
                  + (now.tv_nsec - since->tv_nsec) / 1000000);
}

/* Leaves until FLUSH_TURN_MS have passed (at least one), then let the loop run. */
static void flush_turn(evutil_socket_t fd, short what, void *arg)
{
    struct qmgr_flush *f = arg;
    struct timeval zero = { 0, 0 };
    struct timespec start;

    (void)fd;
    (void)what;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        flush_leaf(f);
    } while (++f->leaf < QUEUE_LEAF_COUNT && elapsed_ms(&start) < FLUSH_TURN_MS);
    if (f->leaf < QUEUE_LEAF_COUNT) {
        evtimer_add(f->timer, &zero);
        return;
    }
    msg_info("flush: %lu deferred message%s made due", f->count, f->count == 1 ? "" : "s");
    qmgr_scan_request();
    if (f->done)
        f->done(f->count, f->ctx);
    event_free(f->timer);
    xfree(f);
}

struct qmgr_flush *qmgr_flush_start(qmgr_flush_done_fn done, void *ctx)
{
    struct qmgr_flush *f = xcalloc(1, sizeof(*f));
    struct timeval zero = { 0, 0 };

    f->done = done;
    f->ctx = ctx;
    f->timer = evtimer_new(qmgr_base(), flush_turn, f);
    if (f->timer == NULL)
        msg_fatal("cannot create event");
    evtimer_add(f->timer, &zero);
    return f;
}

void qmgr_flush_detach(struct qmgr_flush *f)
{
    f->done = NULL;
    f->ctx = NULL;
}

void qmgr_scan_init(void)
{
    fifo = xcalloc(FIFO_MAX, sizeof(*fifo));
    work_event = evtimer_new(qmgr_base(), work, NULL);
    if (work_event == NULL)
        msg_fatal("cannot create event");
}
