/*
 * master_child.c - the children: status pipes, reaping, back-off.
 *
 * Each child has its own status pipe; master reads 'A' (available) and 'B'
 * (busy) from it and keeps its service's counts up to date. A newly
 * started child counts as available until it says otherwise, so master
 * does not start a second one for the client that woke the first.
 *
 * Reaping (SIGCHLD) logs every unexpected death ("killed by signal N",
 * "exit status N"). A child that dies abnormally less than
 * MASTER_THROTTLE_WINDOW seconds after its start throttles its service:
 * no new process for 1 s, then 2, 4, ... up to service_throttle_time; the
 * back-off starts over once a child of the service lives longer than the
 * window. A child told to stop (reload, shutdown) may die without a
 * warning, and is killed if it is still there shutdown_timeout +
 * MASTER_KILL_GRACE seconds later.
 * Memory: children are owned by master_state.children (a list).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <event2/event.h>

#include "alloc.h"
#include "mail_proto.h"
#include "master.h"
#include "msg.h"

double master_elapsed(const struct timespec *since)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) + (now.tv_nsec - since->tv_nsec) / 1e9;
}

size_t master_child_count(void)
{
    size_t n = 0;

    for (const struct master_child *c = master_state.children; c; c = c->next)
        n++;
    return n;
}

static void set_avail(struct master_child *c, int avail)
{
    if (c->avail == avail)
        return;
    c->avail = avail;
    if (c->serv == NULL)
        return;
    c->serv->n_avail += avail ? 1 : -1;
    master_service_update(c->serv);
}

static void status_close(struct master_child *c)
{
    if (c->status_ev) {
        event_free(c->status_ev);
        c->status_ev = NULL;
    }
    if (c->status_fd >= 0) {
        close(c->status_fd);
        c->status_fd = -1;
    }
}

static void on_status(evutil_socket_t fd, short what, void *arg)
{
    struct master_child *c = arg;
    char buf[64];
    ssize_t n;

    (void)what;
    n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        status_close(c);                /* the child closed it or is gone */
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == MASTER_STAT_AVAIL)
            set_avail(c, 1);
        else if (buf[i] == MASTER_STAT_BUSY)
            set_avail(c, 0);
        else
            msg_warn("process %s pid %ld: unknown status byte 0x%02x", c->path,
                     (long)c->pid, (unsigned char)buf[i]);
    }
}

struct master_child *master_child_add(struct master_serv *serv, pid_t pid, int status_fd)
{
    struct master_child *c = xcalloc(1, sizeof(*c));

    c->pid = pid;
    c->serv = serv;
    c->key = xstrdup(serv->key);
    c->path = xstrdup(serv->path);
    c->avail = 1;
    clock_gettime(CLOCK_MONOTONIC, &c->started);
    c->status_fd = status_fd;
    c->status_ev = event_new(master_state.base, status_fd, EV_READ | EV_PERSIST, on_status, c);
    event_add(c->status_ev, NULL);
    c->next = master_state.children;
    master_state.children = c;
    serv->n_total++;
    serv->n_avail++;
    master_service_update(serv);
    return c;
}

/* Take a child out of its service's counts. */
static void detach(struct master_child *c)
{
    if (c->serv == NULL)
        return;
    c->serv->n_total--;
    if (c->avail)
        c->serv->n_avail--;
    c->serv = NULL;
}

static void child_free(struct master_child *c)
{
    status_close(c);
    if (c->kill_ev)
        event_free(c->kill_ev);
    xfree(c->key);
    xfree(c->path);
    xfree(c);
}

static void on_throttle_end(evutil_socket_t fd, short what, void *arg)
{
    struct master_serv *serv = arg;

    (void)fd;
    (void)what;
    serv->throttled = 0;
    msg_debug("service %s: back-off over", serv->label);
    master_service_update(serv);
    master_service_wakeup_start(serv);
}

/* Has a running child of this service lived past the window? */
static int has_survivor(const struct master_serv *serv)
{
    for (const struct master_child *c = master_state.children; c; c = c->next)
        if (c->serv == serv && master_elapsed(&c->started) >= MASTER_THROTTLE_WINDOW)
            return 1;
    return 0;
}

void master_throttle(struct master_serv *serv)
{
    long cap = master_state.conf->params.service_throttle_time;
    struct timeval tv;

    if (serv->throttled)
        return;
    if (has_survivor(serv))
        serv->backoff = 0;
    serv->backoff = serv->backoff ? serv->backoff * 2 : 1;
    if (serv->backoff > cap)
        serv->backoff = (int)cap;
    serv->throttled = 1;
    if (serv->throttle_ev == NULL)
        serv->throttle_ev = evtimer_new(master_state.base, on_throttle_end, serv);
    tv.tv_sec = serv->backoff;
    tv.tv_usec = 0;
    evtimer_add(serv->throttle_ev, &tv);
    msg_warn("service %s is throttled for %d s: its processes keep dying",
             serv->label, serv->backoff);
    master_service_update(serv);
}

static void log_death(const struct master_child *c, int status)
{
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (c->stopping && (sig == SIGTERM || sig == SIGKILL))
            msg_debug("process %s pid %ld stopped by signal %d", c->path, (long)c->pid, sig);
        else
            msg_warn("process %s pid %ld killed by signal %d", c->path, (long)c->pid, sig);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        msg_warn("process %s pid %ld exit status %d", c->path, (long)c->pid,
                 WEXITSTATUS(status));
    } else {
        msg_debug("process %s pid %ld exited", c->path, (long)c->pid);
    }
}

static void child_died(struct master_child *c, int status)
{
    struct master_serv *serv = c->serv;
    int abnormal = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    double lifetime = master_elapsed(&c->started);

    log_death(c, status);
    detach(c);
    if (serv == NULL)
        serv = master_service_by_key(c->key);   /* its old slot is free now */
    else if (abnormal && !c->stopping && lifetime < MASTER_THROTTLE_WINDOW)
        master_throttle(serv);
    else if (lifetime >= MASTER_THROTTLE_WINDOW)
        serv->backoff = 0;
    child_free(c);
    if (serv != NULL) {
        master_service_update(serv);
        master_service_wakeup_start(serv);
    }
}

static struct master_child *unlink_child(pid_t pid)
{
    for (struct master_child **p = &master_state.children; *p; p = &(*p)->next) {
        if ((*p)->pid == pid) {
            struct master_child *c = *p;
            *p = c->next;
            return c;
        }
    }
    return NULL;
}

void master_child_reap(void)
{
    pid_t pid;
    int status;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct master_child *c = unlink_child(pid);
        if (c == NULL) {
            msg_debug("reaped unknown pid %ld", (long)pid);
            continue;
        }
        child_died(c, status);
    }
    if (master_state.stopping && master_state.children == NULL)
        master_stop_finish();
}

static void on_kill_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct master_child *c = arg;

    (void)fd;
    (void)what;
    msg_warn("process %s pid %ld did not stop within %ld s: killing it", c->path,
             (long)c->pid, c->kill_after);
    kill(c->pid, SIGKILL);
}

void master_child_stop_all(void)
{
    struct timeval tv = { master_state.conf->params.shutdown_timeout + MASTER_KILL_GRACE, 0 };

    for (struct master_child *c = master_state.children; c; c = c->next) {
        detach(c);
        if (c->stopping)
            continue;
        c->stopping = 1;
        c->kill_after = tv.tv_sec;
        if (kill(c->pid, SIGTERM) < 0 && errno != ESRCH)
            msg_warn("cannot stop pid %ld: %s", (long)c->pid, strerror(errno));
        c->kill_ev = evtimer_new(master_state.base, on_kill_deadline, c);
        evtimer_add(c->kill_ev, &tv);
    }
}

void master_child_kill_all(void)
{
    for (struct master_child *c = master_state.children; c; c = c->next)
        kill(c->pid, SIGKILL);
}
