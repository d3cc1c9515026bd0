/*
 * master.c - the Postern supervisor: main().
 *
 * Start-up, in order: options; configuration (main.cf, master.cf, every
 * command); the log; as root, mail_owner; the queue directory (created and
 * entered); the instance lock; signals; every listener; the wakeup
 * services' processes; then the event loop, in the foreground, until
 * SIGTERM. Errors during start-up go to the log and to stderr.
 * See master.h for the other modules.
 */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "alloc.h"
#include "config.h"
#include "master.h"
#include "msg.h"
#include "postern_paths.h"

struct master_state master_state = { .lock_fd = -1, .uid = (uid_t)-1, .gid = (gid_t)-1 };

static const char usage_line[] = "usage: master [-c DIR] [-t] [-v] [--help]\n";

static const char help_text[] =
    "NAME\n"
    "    master - the Postern mail system's supervisor\n"
    "\n"
    "SYNOPSIS\n"
    "    master [-c DIR] [-t] [-v] [--help]\n"
    "\n"
    "DESCRIPTION\n"
    "    master reads main.cf and master.cf from the configuration directory,\n"
    "    opens every listening socket named in master.cf and starts the daemons\n"
    "    (smtpd, cleanup, qmgr, smtp, ...) from daemon_directory on demand: a\n"
    "    process is started when a client is waiting and no process of that\n"
    "    service is available, up to the service's maxproc. Services with a\n"
    "    wakeup column get one process at once and a \"req=wakeup\" every N\n"
    "    seconds. A daemon that dies is logged and started again; one that keeps\n"
    "    dying right after its start is held back 1, 2, 4 ... seconds, up to\n"
    "    service_throttle_time.\n"
    "\n"
    "    Started as root, master keeps root for itself and runs every daemon as\n"
    "    mail_owner (which must not be root); started as another user,\n"
    "    everything runs as that user. master stays in the foreground, so that\n"
    "    systemd or a terminal owns it. One master runs per configuration\n"
    "    directory (instance).\n"
    "\n"
    "OPTIONS\n"
    "    -c DIR    use the configuration in DIR (default: $MAIL_CONFIG, else\n"
    "              " DEF_CONFIG_DIR ")\n"
    "    -t        check the configuration and exit: main.cf, master.cf, every\n"
    "              daemon program, mail_owner (as root), queue_directory\n"
    "    -v        verbose logging, also passed on to every daemon\n"
    "    --help    show this text\n"
    "\n"
    "SIGNALS\n"
    "    SIGHUP    re-read main.cf and master.cf; an invalid configuration is\n"
    "              logged and the running one kept. Daemons are told to stop\n"
    "              after their current work and are replaced on demand.\n"
    "    SIGTERM, SIGINT\n"
    "              stop listening, let daemons finish for up to\n"
    "              shutdown_timeout, kill what is left, exit 0.\n"
    "\n"
    "FILES\n"
    "    DIR/main.cf, DIR/master.cf          the configuration\n"
    "    queue_directory/pid/master.pid      the instance lock and master's pid\n"
    "    queue_directory/private/, public/   UNIX sockets of unix services\n"
    "    daemon_directory/COMMAND            the daemons master starts\n"
    "\n"
    "ENVIRONMENT\n"
    "    MAIL_CONFIG          configuration directory when -c is not given\n"
    "    POSTERN_LISTEN_FDS   set by master for each daemon: the number of\n"
    "                         listening sockets, passed from descriptor 4 on\n"
    "                         (descriptor 3 is the status pipe)\n"
    "\n"
    "EXIT STATUS\n"
    "    0 after a clean stop, or when -t found the configuration OK;\n"
    "    1 on a configuration or start-up error (the reason is printed);\n"
    "    2 on a bad command line.\n";

struct master_opts {
    const char *config_dir;
    int check_only;
};

static void parse_options(int argc, char **argv, struct master_opts *opts)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    while ((c = getopt_long(argc, argv, "c:tvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opts->config_dir = optarg;
            break;
        case 't':
            opts->check_only = 1;
            break;
        case 'v':
            master_state.verbose = 1;
            msg_verbose++;
            break;
        case 'h':
            fputs(help_text, stdout);
            exit(0);
        default:
            fputs(usage_line, stderr);
            exit(2);
        }
    }
    if (optind != argc) {
        fputs(usage_line, stderr);
        exit(2);
    }
}

/* Descriptors 0, 1 and 2 must be open, or a listener could land there. */
static void open_std_fds(void)
{
    int fd;

    while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
        ;
    if (fd > 2)
        close(fd);
}

/* -t: everything master would check at start-up. */
static int check_config(const char *dir)
{
    char err[MASTER_ERR_MAX];
    struct master_conf *conf = master_conf_load(dir, err, sizeof(err));

    if (conf == NULL || master_conf_check_env(conf, err, sizeof(err)) < 0) {
        fprintf(stderr, "master: %s\n", err);
        master_conf_free(conf);
        return 1;
    }
    master_conf_free(conf);
    printf("master: configuration OK\n");
    return 0;
}

static void become_ready(struct master_conf *conf)
{
    char err[MASTER_ERR_MAX];
    char *tag = xasprintf("%s/master", conf->params.syslog_name);

    if (msg_open(tag, conf->params.maillog_file, conf->params.syslog_facility) < 0)
        fprintf(stderr, "master: cannot open maillog_file %s\n", conf->params.maillog_file);
    xfree(tag);
    msg_also_stderr(1);
    master_state.is_root = geteuid() == 0;
    if (master_state.is_root
        && master_owner_lookup(conf->params.mail_owner, &master_state.uid, &master_state.gid,
                               err, sizeof(err)) < 0)
        msg_fatal("%s", err);
    if (master_queue_setup(conf->params.queue_dir, master_state.uid, master_state.gid,
                           err, sizeof(err)) < 0)
        msg_fatal("%s", err);
    master_state.lock_fd = master_lock_take(conf->params.config_dir, err, sizeof(err));
    if (master_state.lock_fd < 0)
        msg_fatal("%s", err);
}

int main(int argc, char **argv)
{
    struct master_opts opts = { NULL, 0 };
    char err[MASTER_ERR_MAX];
    char dir[PATH_MAX];
    struct master_conf *conf;

    msg_set_tag("master");
    parse_options(argc, argv, &opts);
    open_std_fds();
    umask(022);
    /* Children and reloads run in queue_directory: use an absolute path. */
    if (realpath(config_dir_choose(opts.config_dir), dir) == NULL)
        snprintf(dir, sizeof(dir), "%s", config_dir_choose(opts.config_dir));
    if (opts.check_only)
        return check_config(dir);
    conf = master_conf_load(dir, err, sizeof(err));
    if (conf == NULL)
        msg_fatal("%s", err);
    master_state.conf = conf;
    become_ready(conf);
    master_state.base = event_base_new();
    if (master_state.base == NULL)
        msg_fatal("cannot create an event base");
    master_signal_init();
    if (master_services_create(conf, NULL, 0, &master_state.servs, &master_state.n_servs,
                               err, sizeof(err)) < 0)
        msg_fatal("%s", err);
    master_services_start(master_state.servs, master_state.n_servs);
    msg_info("daemon started -- version %s, configuration %s", POSTERN_VERSION, dir);
    msg_also_stderr(0);
    event_base_dispatch(master_state.base);
    msg_fatal("the event loop ended unexpectedly");
}
