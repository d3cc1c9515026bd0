/*
 * master_signal.c - signals: SIGCHLD reaps, SIGHUP reloads, SIGTERM and
 * SIGINT stop. All three arrive as libevent signal events, so the work
 * runs in the loop, never in a signal handler.
 *
 * Reload: read main.cf and master.cf again; if anything is wrong, log it
 * and keep running as before. Otherwise open the listeners the new table
 * needs (keeping those that did not change), tell every child to stop
 * (SIGTERM: it finishes its clients within shutdown_timeout), and run the
 * new services; new processes start on demand. queue_directory and
 * mail_owner cannot change without a restart.
 *
 * Stop: close the listeners, SIGTERM every child, wait for them (each is
 * killed after shutdown_timeout + MASTER_KILL_GRACE s), empty the pid
 * file, log "terminating on signal N" and exit 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "alloc.h"
#include "master.h"
#include "msg.h"
#include "postern_paths.h"

/* After the kill deadline, give reaping this long before exiting anyway. */
#define MASTER_STOP_SLACK 3

static void reopen_log(const struct master_params *p)
{
    char *tag = xasprintf("%s/master", p->syslog_name);

    if (msg_open(tag, p->maillog_file, p->syslog_facility) < 0)
        msg_warn("cannot open maillog_file %s", p->maillog_file);
    xfree(tag);
}

static int reload_allowed(const struct master_conf *old, const struct master_conf *conf,
                          char *err, size_t errlen)
{
    if (strcmp(old->params.queue_dir, conf->params.queue_dir) != 0) {
        snprintf(err, errlen, "queue_directory changed (%s -> %s): restart master to apply",
                 old->params.queue_dir, conf->params.queue_dir);
        return -1;
    }
    if (strcmp(old->params.mail_owner, conf->params.mail_owner) != 0) {
        snprintf(err, errlen, "mail_owner changed (%s -> %s): restart master to apply",
                 old->params.mail_owner, conf->params.mail_owner);
        return -1;
    }
    return 0;
}

static void master_reload(void)
{
    const char *dir = master_state.conf->params.config_dir;
    char err[MASTER_ERR_MAX];
    struct master_conf *conf;
    struct master_serv **servs;
    size_t n_servs;

    if (master_state.stopping)
        return;
    conf = master_conf_load(dir, err, sizeof(err));
    if (conf == NULL || reload_allowed(master_state.conf, conf, err, sizeof(err)) < 0
        || master_services_create(conf, master_state.servs, master_state.n_servs,
                                  &servs, &n_servs, err, sizeof(err)) < 0) {
        msg_error("reload failed, keeping the current configuration: %s", err);
        master_conf_free(conf);
        return;
    }
    master_child_stop_all();
    /* Listeners not taken over belong to removed or changed services. */
    for (size_t i = 0; i < master_state.n_servs; i++) {
        struct master_serv *old = master_state.servs[i];
        if (old->unix_path && old->n_listeners > 0 && unlink(old->unix_path) < 0)
            msg_debug("unlink %s: %s", old->unix_path, strerror(errno));
    }
    master_services_free(master_state.servs, master_state.n_servs);
    master_conf_free(master_state.conf);
    master_state.conf = conf;
    master_state.servs = servs;
    master_state.n_servs = n_servs;
    reopen_log(&conf->params);
    master_services_start(servs, n_servs);
    msg_info("reload -- version %s, configuration %s", POSTERN_VERSION, conf->params.config_dir);
}

void master_stop_finish(void)
{
    master_lock_clear(master_state.lock_fd);
    msg_info("terminating on signal %d", master_state.stop_signal);
    exit(0);
}

static void on_stop_slack(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    msg_warn("%zu processes did not go away: exiting anyway", master_child_count());
    master_child_kill_all();
    master_stop_finish();
}

static void master_stop(int sig)
{
    struct timeval tv = { master_state.conf->params.shutdown_timeout + MASTER_KILL_GRACE
                          + MASTER_STOP_SLACK, 0 };
    struct event *slack;

    if (master_state.stopping)
        return;
    master_state.stopping = 1;
    master_state.stop_signal = sig;
    master_services_close_listeners(master_state.servs, master_state.n_servs);
    master_child_stop_all();
    msg_debug("stopping: waiting for %zu processes", master_child_count());
    if (master_state.children == NULL)
        master_stop_finish();
    slack = evtimer_new(master_state.base, on_stop_slack, NULL);
    evtimer_add(slack, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    (void)arg;
    switch (sig) {
    case SIGCHLD:
        master_child_reap();
        break;
    case SIGHUP:
        master_reload();
        break;
    default:
        master_stop((int)sig);
        break;
    }
}

void master_signal_init(void)
{
    static const int sigs[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT };

    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct event *ev = evsignal_new(master_state.base, sigs[i], on_signal, NULL);
        if (ev == NULL || evsignal_add(ev, NULL) < 0)
            msg_fatal("cannot watch signal %d", sigs[i]);
    }
}
