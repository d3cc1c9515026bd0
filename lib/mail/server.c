/*
 * server.c - the daemon skeleton (see server.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "alloc.h"
#include "config.h"
#include "mail_proto.h"
#include "msg.h"
#include "params.h"
#include "privs.h"
#include "server.h"
#include "sock.h"

#define LISTEN_MAX 16
#define OVERRIDE_MAX 64

static const struct server_def *server_def;
static struct event_base *server_base;
static struct event *listen_events[LISTEN_MAX];
static int listen_fds[LISTEN_MAX];
static int listen_count;
static struct event *idle_timer;
static struct event *stop_timer;
static unsigned sessions;
static unsigned long clients_served;
static int stopping;
static unsigned stop_holds;         /* work the daemon must finish before it exits */
static int accepting;
static char service_name[64] = "";
static char last_status;

static void usage(const char *prog)
{
    fprintf(stderr, "usage: %s -c DIR -n SERVICE -t TYPE [-o name=value]... [-v]\n"
            "(daemons are started by master; see master(8))\n", prog);
    exit(2);
}

static void report_status(char status)
{
    if (status == last_status)
        return;
    last_status = status;
    if (write(MASTER_STATUS_FD, &status, 1) < 0 && errno == EPIPE)
        server_exit(0);
}

static void set_accepting(int on)
{
    accepting = on;
    for (int i = 0; i < listen_count; i++) {
        if (on)
            event_add(listen_events[i], NULL);
        else
            event_del(listen_events[i]);
    }
}

static void arm_idle_timer(void)
{
    struct timeval tv = { var_max_idle, 0 };

    if (server_def->long_running || idle_timer == NULL)
        return;
    evtimer_add(idle_timer, &tv);
}

void server_exit(int status)
{
    exit(status);
}

/* A graceful stop is over when no session and no hold is left. */
static int stop_done(void)
{
    return stopping && stop_holds == 0 && (server_def->long_running || sessions == 0);
}

static void maybe_finish(void)
{
    if (stop_done()) {
        msg_debug("stopped: all work finished");
        server_exit(0);
    }
    if (server_def->long_running)
        return;
    if (sessions == 0 && clients_served >= (unsigned long)var_max_use) {
        msg_debug("exiting after %lu clients (max_use)", clients_served);
        server_exit(0);
    }
}

static void update_load(void)
{
    int busy = sessions >= (unsigned)var_process_session_limit;

    if (stopping || server_def->long_running)
        return;
    if (busy && accepting) {
        set_accepting(0);
        report_status(MASTER_STAT_BUSY);
    } else if (!busy && !accepting && clients_served < (unsigned long)var_max_use) {
        set_accepting(1);
        report_status(MASTER_STAT_AVAIL);
    }
    if (!accepting && clients_served >= (unsigned long)var_max_use)
        report_status(MASTER_STAT_BUSY);
}

void server_session_end(void)
{
    if (sessions == 0)
        msg_panic("server_session_end: no session in progress");
    sessions--;
    if (sessions == 0)
        arm_idle_timer();
    update_load();
    maybe_finish();
}

unsigned server_sessions(void)
{
    return sessions;
}

struct event_base *server_event_base(void)
{
    return server_base;
}

const char *server_service_name(void)
{
    return service_name;
}

int server_stopping(void)
{
    return stopping;
}

void server_stop_hold(void)
{
    stop_holds++;
}

void server_stop_release(void)
{
    if (stop_holds == 0)
        msg_panic("server_stop_release without a hold");
    stop_holds--;
    maybe_finish();
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int fd;

    (void)what;
    (void)arg;
    fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
            && errno != ECONNABORTED)
            msg_warn("accept: %s", strerror(errno));
        return;
    }
    if (!server_def->long_running) {
        sessions++;
        clients_served++;
        if (idle_timer)
            evtimer_del(idle_timer);
        if (clients_served >= (unsigned long)var_max_use) {
            set_accepting(0);
            report_status(MASTER_STAT_BUSY);
        }
        update_load();
    }
    server_def->accept(fd, (struct sockaddr *)&ss, len);
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (sessions == 0) {
        msg_debug("idle for %ld s: exiting", var_max_idle);
        server_exit(0);
    }
}

static void on_stop_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    msg_warn("shutdown_timeout (%ld s) reached with %u sessions and %u other tasks in "
             "progress: exiting", var_shutdown_timeout, sessions, stop_holds);
    server_exit(0);
}

static void on_sigterm(evutil_socket_t sig, short what, void *arg)
{
    struct timeval tv = { var_shutdown_timeout, 0 };

    (void)sig;
    (void)what;
    (void)arg;
    if (stopping)
        return;
    stopping = 1;
    set_accepting(0);
    for (int i = 0; i < listen_count; i++)
        close(listen_fds[i]);
    listen_count = 0;
    if (server_def->stop)
        server_def->stop();
    if (stop_done())
        server_exit(0);
    stop_timer = evtimer_new(server_base, on_stop_timeout, NULL);
    evtimer_add(stop_timer, &tv);
}

static void drop_privileges(void)
{
    char err[256];

    if (geteuid() != 0)
        return;
    if (privs_become(var_mail_owner, err, sizeof(err)) < 0)
        msg_fatal("%s", err);
}

static void take_listeners(void)
{
    const char *env = getenv(MASTER_ENV_LISTEN_FDS);
    long n = env ? strtol(env, NULL, 10) : 0;

    if (n < 0 || n > LISTEN_MAX)
        msg_fatal("bad %s=%s", MASTER_ENV_LISTEN_FDS, env);
    listen_count = (int)n;
    for (int i = 0; i < listen_count; i++) {
        listen_fds[i] = MASTER_LISTEN_FD + i;
        if (sock_nonblock(listen_fds[i]) < 0)
            msg_fatal("listener fd %d: %s", listen_fds[i], strerror(errno));
        listen_events[i] = event_new(server_base, listen_fds[i], EV_READ | EV_PERSIST,
                                     on_accept, NULL);
    }
}

struct server_args {
    const char *config_dir;
    char *overrides[OVERRIDE_MAX];
    size_t n_overrides;
};

static void print_help(void)
{
    static const char common[] =
        "\nOPTIONS (every daemon)\n"
        "    -c DIR          configuration directory (else $MAIL_CONFIG, else the built-in one)\n"
        "    -n SERVICE      the master.cf service name this process serves\n"
        "    -t TYPE         the master.cf service type (inet or unix)\n"
        "    -o NAME=VALUE   override a main.cf parameter for this process\n"
        "    -v              more logging (repeat for even more)\n"
        "    -h, --help      show this text\n"
        "\nDaemons are started by master(8), which passes the listening sockets\n"
        "(fd 4 and up, $POSTERN_LISTEN_FDS) and a status pipe (fd 3). They run as\n"
        "mail_owner, in queue_directory, and log as \"syslog_name/NAME\".\n"
        "\nEXIT STATUS\n    0 after a normal stop, 1 on a fatal error, 2 on a usage error.\n";

    fputs(server_def->help ? server_def->help : server_def->name, stdout);
    fputs(common, stdout);
    exit(0);
}

static void parse_args(int argc, char **argv, struct server_args *args)
{
    int c;

    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0)
            print_help();
    while ((c = getopt(argc, argv, "c:n:t:o:vh")) != -1) {
        switch (c) {
        case 'h':
            print_help();
            break;
        case 'c':
            args->config_dir = optarg;
            break;
        case 'n':
            snprintf(service_name, sizeof(service_name), "%s", optarg);
            break;
        case 't':
            break;
        case 'o':
            if (args->n_overrides >= OVERRIDE_MAX)
                msg_fatal("too many -o options");
            args->overrides[args->n_overrides++] = optarg;
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            usage(argv[0]);
        }
    }
    if (optind != argc)
        usage(argv[0]);
}

void server_main(int argc, char **argv, const struct server_def *def)
{
    struct server_args args = {0};
    char err[CONFIG_ERR_MAX];
    char tag[200];
    struct event *sig_term, *sig_int;

    server_def = def;
    msg_set_tag(def->name);
    snprintf(service_name, sizeof(service_name), "%s", def->name);
    parse_args(argc, argv, &args);
    if (config_load(config_dir_choose(args.config_dir), args.overrides, args.n_overrides,
                    err, sizeof(err)) < 0)
        msg_fatal("%s", err);
    snprintf(tag, sizeof(tag), "%s/%s", var_syslog_name, def->name);
    if (msg_open(tag, var_maillog_file, var_syslog_facility) < 0)
        msg_warn("cannot open maillog_file %s: %s", var_maillog_file, strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1 && getenv(MASTER_ENV_LISTEN_FDS))
        msg_fatal("master went away");
    if (chdir(var_queue_dir) < 0)
        msg_fatal("chdir %s: %s", var_queue_dir, strerror(errno));
    drop_privileges();
    server_base = event_base_new();
    if (server_base == NULL)
        msg_fatal("cannot create event base");
    take_listeners();
    idle_timer = evtimer_new(server_base, on_idle, NULL);
    sig_term = evsignal_new(server_base, SIGTERM, on_sigterm, NULL);
    sig_int = evsignal_new(server_base, SIGINT, on_sigterm, NULL);
    evsignal_add(sig_term, NULL);
    evsignal_add(sig_int, NULL);
    if (def->init)
        def->init(server_base);
    set_accepting(1);
    if (!def->long_running) {
        report_status(MASTER_STAT_AVAIL);
        arm_idle_timer();
    }
    msg_debug("started, %d listener(s)", listen_count);
    event_base_dispatch(server_base);
    exit(0);
}
