/*
 * master.h - the supervisor's shared state and its modules.
 *
 *   master.c          main(): options, --help, start-up, the event loop
 *   master_conf.c     read main.cf + master.cf into a struct master_conf and
 *                     check it (also for -t)
 *   master_lock.c     the instance lock queue_directory/pid/master.pid
 *   master_listen.c   open and close inet and unix listening sockets
 *   master_service.c  services: listeners watched on demand, wakeup timers,
 *                     install at start, swap on reload
 *   master_spawn.c    fork + exec one child with its descriptors
 *   master_child.c    the child table: status pipes, reaping, back-off
 *   master_signal.c   SIGCHLD, SIGHUP, SIGTERM/SIGINT; reload and stop
 *
 * There is one master per process, so the state is one global
 * (master_state). Memory: master_state owns the configuration, the
 * services and the children; a service points into the configuration it
 * was made from and is freed with it; a child points to its service until
 * a reload detaches it (serv = NULL).
 */
#ifndef POSTERN_MASTER_H
#define POSTERN_MASTER_H

#include <stddef.h>
#include <time.h>
#include <sys/types.h>

#include "master_cf.h"

struct event;
struct event_base;

/* A child that dies abnormally younger than this counts as "keeps dying". */
#define MASTER_THROTTLE_WINDOW 2
/* Extra seconds master gives children beyond shutdown_timeout. */
#define MASTER_KILL_GRACE 2
/* At most this many listening descriptors per service (server.c: 16). */
#define MASTER_LISTEN_MAX 16
#define MASTER_ERR_MAX 600

/* The main.cf values master itself uses, copied at load time. */
struct master_params {
    char *config_dir;
    char *daemon_dir;
    char *queue_dir;
    char *mail_owner;
    char *syslog_name;
    char *syslog_facility;
    char *maillog_file;
    long default_process_limit;
    long service_throttle_time;
    long shutdown_timeout;
};

struct master_conf {
    struct master_params params;
    struct master_cf cf;
    char *master_cf_path;
};

struct master_listener {
    int fd;
    struct event *ev;               /* EV_READ, added only while wanted */
    struct master_serv *serv;
};

struct master_serv {
    const struct master_cf_entry *ent;  /* points into master_state.conf */
    char *key;                      /* "inet/127.0.0.1:25", "unix/qmgr" */
    char *label;                    /* for logs: "smtp/inet" */
    char *path;                     /* daemon_dir/command */
    char *unix_path;                /* "private/NAME" or "public/NAME"; NULL for inet */
    long limit;                     /* maxproc resolved; 0 = no limit */
    struct master_listener listeners[MASTER_LISTEN_MAX];
    size_t n_listeners;
    int n_total;                    /* children of this service */
    int n_avail;                    /* of which available ('A') */
    int throttled;
    int backoff;                    /* current back-off in seconds, 0 = none */
    struct event *throttle_ev;
    struct event *wakeup_ev;
    time_t limit_warned;            /* last "process limit" warning */
};

struct master_child {
    pid_t pid;
    struct master_serv *serv;       /* NULL once detached by a reload */
    char *key;                      /* service key, kept after detaching */
    char *path;                     /* program, for log lines */
    int avail;                      /* last status was 'A' */
    int stopping;                   /* told to stop: death is expected */
    struct timespec started;        /* CLOCK_MONOTONIC */
    int status_fd;                  /* read end of its status pipe, or -1 */
    struct event *status_ev;
    struct event *kill_ev;          /* SIGKILL deadline once stopping */
    long kill_after;                /* seconds from the stop to that deadline */
    struct master_child *next;
};

struct master_state {
    struct event_base *base;
    struct master_conf *conf;
    struct master_serv **servs;
    size_t n_servs;
    struct master_child *children;
    int verbose;                    /* -v: also passed on to children */
    int is_root;
    uid_t uid;                      /* mail_owner when root, else -1 */
    gid_t gid;
    int stopping;                   /* SIGTERM received */
    int stop_signal;
    int lock_fd;
};

extern struct master_state master_state;

/* master_conf.c */
struct master_conf *master_conf_load(const char *config_dir, char *err, size_t errlen);
void master_conf_free(struct master_conf *conf);
/* The checks of -t beyond loading: mail_owner (as root), queue_directory. */
int master_conf_check_env(const struct master_conf *conf, char *err, size_t errlen);
/* Look up mail_owner; 0 ok, -1 error (unknown, or uid 0). */
int master_owner_lookup(const char *name, uid_t *uid, gid_t *gid, char *err, size_t errlen);

/* master_lock.c */
/* Create (if needed) and enter queue_directory; 0 ok, -1 with err. */
int master_queue_setup(const char *queue_dir, uid_t uid, gid_t gid, char *err, size_t errlen);
/* Take pid/master.pid (relative to the queue directory) and write our pid.
 * Returns the descriptor, or -1 with err ("already running (pid N)"). */
int master_lock_take(const char *config_dir, char *err, size_t errlen);
/* Empty the pid file (keep the file and the lock until exit). */
void master_lock_clear(int fd);

/* master_listen.c */
/* Open the listening sockets of one service; 0 ok, -1 with err. */
int master_listen_open(const struct master_cf_entry *ent, const char *unix_path,
                       int *fds, size_t max, size_t *count, char *err, size_t errlen);

/* master_service.c */
/* Build services for conf and open their listeners (none is started).
 * `old` (may be NULL) are the running services: a new service with the same
 * listener takes over its descriptors, but only once everything succeeded. */
int master_services_create(struct master_conf *conf, struct master_serv **old,
                           size_t n_old, struct master_serv ***out, size_t *n_out,
                           char *err, size_t errlen);
/* Make services live: listener events, wakeup timers, wakeup processes. */
void master_services_start(struct master_serv **servs, size_t n);
/* Free services; listeners still open are closed. */
void master_services_free(struct master_serv **servs, size_t n);
/* Close every listener of every service (shutdown). */
void master_services_close_listeners(struct master_serv **servs, size_t n);
/* Re-evaluate whether a service's listeners should be watched. */
void master_service_update(struct master_serv *serv);
/* Start the wakeup service's process if it has none (after death/throttle). */
void master_service_wakeup_start(struct master_serv *serv);
/* The current service with this key, or NULL. */
struct master_serv *master_service_by_key(const char *key);
/* Children counted against the limit (its own, and old ones being stopped). */
int master_service_procs(const struct master_serv *serv);

/* master_spawn.c */
/* Start one process of serv; 0 ok, -1 (logged; the service is throttled). */
int master_spawn(struct master_serv *serv);

/* master_child.c */
struct master_child *master_child_add(struct master_serv *serv, pid_t pid, int status_fd);
/* Reap every exited child (SIGCHLD). */
void master_child_reap(void);
/* Tell every child to stop (SIGTERM) and detach it from its service. */
void master_child_stop_all(void);
/* SIGKILL every child that is left. */
void master_child_kill_all(void);
size_t master_child_count(void);
/* Put a service in back-off after a child died young. */
void master_throttle(struct master_serv *serv);
double master_elapsed(const struct timespec *since);

/* master_signal.c */
void master_signal_init(void);
/* Called when the last child is gone during a stop. */
void master_stop_finish(void) __attribute__((noreturn));

#endif
