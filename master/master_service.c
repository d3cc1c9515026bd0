/*
 * master_service.c - services: listeners watched on demand, wakeup timers.
 *
 * A service's listeners are watched only while none of its processes is
 * available (all busy, or none running) and it is not throttled: a
 * readable listener then means a client is waiting, and master starts a
 * process (up to the service's limit). While a process is available its
 * listeners are not watched, so a client that the process has not accepted
 * yet does not wake master again and again. Listener events are one-shot;
 * master_service_update() re-arms them after every change of state.
 *
 * A service with a wakeup column gets one process at once, and every
 * `wakeup` seconds master connects to its socket and sends "req=wakeup".
 *
 * On reload, a new service with the same listener (same key and socket
 * path) takes over the old service's descriptors, so clients never see the
 * port or socket go away; the others are opened fresh.
 * Memory: services are owned by master_state (servs); each owns its
 * strings, events and listening descriptors.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "alloc.h"
#include "mail_proto.h"
#include "master.h"
#include "msg.h"

#define LIMIT_WARN_INTERVAL 60

static char *service_key(const struct master_cf_entry *ent)
{
    if (ent->type == MASTER_CF_UNIX)
        return xasprintf("unix/%s", ent->service);
    return xasprintf("inet/%s:%d", ent->host ? ent->host : "*", ent->port);
}

static struct master_serv *service_new(const struct master_conf *conf,
                                       const struct master_cf_entry *ent)
{
    struct master_serv *serv = xcalloc(1, sizeof(*serv));

    serv->ent = ent;
    serv->key = service_key(ent);
    serv->label = xasprintf("%s/%s", ent->service, master_cf_type_name(ent->type));
    serv->path = xasprintf("%s/%s", conf->params.daemon_dir, ent->command);
    if (ent->type == MASTER_CF_UNIX)
        serv->unix_path = xasprintf("%s/%s", master_cf_flag(ent->private_flag, 1)
                                    ? PROTO_PRIVATE_DIR : PROTO_PUBLIC_DIR, ent->service);
    if (ent->maxproc == MASTER_CF_LIMIT_DEFAULT)
        serv->limit = conf->params.default_process_limit;
    else
        serv->limit = ent->maxproc;
    for (size_t i = 0; i < MASTER_LISTEN_MAX; i++)
        serv->listeners[i].fd = -1;
    return serv;
}

static void listener_release(struct master_listener *l)
{
    if (l->ev) {
        event_free(l->ev);
        l->ev = NULL;
    }
}

static void listeners_close(struct master_serv *serv)
{
    for (size_t i = 0; i < serv->n_listeners; i++) {
        listener_release(&serv->listeners[i]);
        close(serv->listeners[i].fd);
        serv->listeners[i].fd = -1;
    }
    serv->n_listeners = 0;
}

static void service_free(struct master_serv *serv)
{
    listeners_close(serv);
    if (serv->throttle_ev)
        event_free(serv->throttle_ev);
    if (serv->wakeup_ev)
        event_free(serv->wakeup_ev);
    xfree(serv->key);
    xfree(serv->label);
    xfree(serv->path);
    xfree(serv->unix_path);
    xfree(serv);
}

void master_services_free(struct master_serv **servs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        service_free(servs[i]);
    xfree(servs);
}

void master_services_close_listeners(struct master_serv **servs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        listeners_close(servs[i]);
        if (servs[i]->wakeup_ev)
            event_del(servs[i]->wakeup_ev);
    }
}

/* An old service whose listening descriptors the new one can take over. */
static struct master_serv *find_reusable(const struct master_serv *serv,
                                         struct master_serv **old, size_t n_old)
{
    for (size_t i = 0; i < n_old; i++) {
        if (strcmp(old[i]->key, serv->key) != 0 || old[i]->n_listeners == 0)
            continue;
        if ((old[i]->unix_path == NULL) != (serv->unix_path == NULL))
            continue;
        if (serv->unix_path && strcmp(old[i]->unix_path, serv->unix_path) != 0)
            continue;
        return old[i];
    }
    return NULL;
}

/* Take over an old service's descriptors (their events are recreated). */
static void take_listeners(struct master_serv *serv, struct master_serv *from)
{
    for (size_t i = 0; i < from->n_listeners; i++) {
        listener_release(&from->listeners[i]);
        serv->listeners[i].fd = from->listeners[i].fd;
        from->listeners[i].fd = -1;
    }
    serv->n_listeners = from->n_listeners;
    from->n_listeners = 0;
}

static int open_listeners(struct master_serv *serv, char *err, size_t errlen)
{
    int fds[MASTER_LISTEN_MAX];
    size_t count = 0;

    if (master_listen_open(serv->ent, serv->unix_path, fds, MASTER_LISTEN_MAX, &count,
                           err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < count; i++)
        serv->listeners[i].fd = fds[i];
    serv->n_listeners = count;
    return 0;
}

int master_services_create(struct master_conf *conf, struct master_serv **old,
                           size_t n_old, struct master_serv ***out, size_t *n_out,
                           char *err, size_t errlen)
{
    size_t n = conf->cf.count;
    struct master_serv **servs = xcalloc(n ? n : 1, sizeof(*servs));
    struct master_serv **reuse = xcalloc(n ? n : 1, sizeof(*reuse));

    for (size_t i = 0; i < n; i++) {
        servs[i] = service_new(conf, &conf->cf.entries[i]);
        reuse[i] = find_reusable(servs[i], old, n_old);
        if (reuse[i] == NULL && open_listeners(servs[i], err, errlen) < 0) {
            master_services_free(servs, i + 1);
            xfree(reuse);
            return -1;
        }
    }
    /* Everything opened: now (and only now) take the old descriptors. */
    for (size_t i = 0; i < n; i++)
        if (reuse[i])
            take_listeners(servs[i], reuse[i]);
    xfree(reuse);
    *out = servs;
    *n_out = n;
    return 0;
}

struct master_serv *master_service_by_key(const char *key)
{
    for (size_t i = 0; i < master_state.n_servs; i++)
        if (strcmp(master_state.servs[i]->key, key) == 0)
            return master_state.servs[i];
    return NULL;
}

/* Processes of the service; with only_live, not those told to stop. */
static int count_procs(const struct master_serv *serv, int only_live)
{
    int n = 0;

    for (const struct master_child *c = master_state.children; c; c = c->next) {
        if (only_live && c->stopping)
            continue;
        if (c->serv == serv || (c->serv == NULL && strcmp(c->key, serv->key) == 0))
            n++;
    }
    return n;
}

int master_service_procs(const struct master_serv *serv)
{
    return count_procs(serv, 0);
}

static int at_limit(const struct master_serv *serv)
{
    return serv->limit > 0 && master_service_procs(serv) >= serv->limit;
}

void master_service_update(struct master_serv *serv)
{
    int want = !master_state.stopping && !serv->throttled && serv->n_avail == 0;

    for (size_t i = 0; i < serv->n_listeners; i++) {
        struct event *ev = serv->listeners[i].ev;
        int pending;

        if (ev == NULL)
            continue;
        pending = event_pending(ev, EV_READ, NULL);
        if (want && !pending)
            event_add(ev, NULL);
        else if (!want && pending)
            event_del(ev);
    }
}

/* A listener is readable and no process is available. */
static void on_listener(evutil_socket_t fd, short what, void *arg)
{
    struct master_listener *l = arg;
    struct master_serv *serv = l->serv;
    time_t now = time(NULL);

    (void)fd;
    (void)what;
    if (master_state.stopping || serv->throttled || serv->n_avail > 0)
        return;
    if (!at_limit(serv)) {
        master_spawn(serv);
        return;
    }
    /* All busy at the limit: wait for a change of state (no re-arm here).
     * Processes still finishing after a reload count toward the limit, but
     * reaching it that way is no reason to raise maxproc. */
    if (count_procs(serv, 1) < serv->limit) {
        msg_debug("service %s: waiting for stopping processes to exit", serv->label);
        return;
    }
    if (now - serv->limit_warned >= LIMIT_WARN_INTERVAL) {
        serv->limit_warned = now;
        msg_warn("service %s has reached its process limit %ld: new clients may be delayed "
                 "(raise maxproc in master.cf or default_process_limit)",
                 serv->label, serv->limit);
    }
}

void master_service_wakeup_start(struct master_serv *serv)
{
    if (serv->ent->wakeup <= 0 || master_state.stopping || serv->throttled)
        return;
    if (master_service_procs(serv) > 0)
        return;
    master_spawn(serv);
}

/* Connect without ever blocking master: a full backlog is EAGAIN. */
static int wakeup_connect(const char *path)
{
    struct sockaddr_un sun;
    int fd, saved;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Send "req=wakeup" to the service's own socket. */
static void on_wakeup(evutil_socket_t unused, short what, void *arg)
{
    struct master_serv *serv = arg;
    struct evbuffer *buf;
    struct proto_out msg;
    int fd;

    (void)unused;
    (void)what;
    if (master_state.stopping || serv->unix_path == NULL)
        return;
    fd = wakeup_connect(serv->unix_path);
    if (fd < 0) {
        if (errno == EAGAIN)
            msg_debug("wakeup %s: backlog full", serv->label);
        else
            msg_warn("cannot wake up service %s: connect %s: %s", serv->label,
                     serv->unix_path, strerror(errno));
        return;
    }
    buf = evbuffer_new();
    proto_begin(&msg, buf, &proto_qmgr_wakeup);
    proto_put_str(&msg, MAIL_ATTR_REQ, QMGR_REQ_WAKEUP);
    proto_end(&msg);
    if (evbuffer_write(buf, fd) < 0 && errno != EAGAIN)
        msg_warn("cannot wake up service %s: write: %s", serv->label, strerror(errno));
    evbuffer_free(buf);
    close(fd);
}

void master_services_start(struct master_serv **servs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct master_serv *serv = servs[i];

        for (size_t j = 0; j < serv->n_listeners; j++) {
            struct master_listener *l = &serv->listeners[j];
            l->serv = serv;
            l->ev = event_new(master_state.base, l->fd, EV_READ, on_listener, l);
        }
        if (serv->ent->wakeup > 0) {
            struct timeval tv = { serv->ent->wakeup, 0 };
            serv->wakeup_ev = event_new(master_state.base, -1, EV_PERSIST, on_wakeup, serv);
            event_add(serv->wakeup_ev, &tv);
        }
        master_service_update(serv);
        master_service_wakeup_start(serv);
    }
}
