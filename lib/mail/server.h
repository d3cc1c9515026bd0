/*
 * server.h - the skeleton every Postern daemon runs on.
 *
 * A daemon's main() fills a struct server_def and calls server_main(). The
 * skeleton parses the standard arguments (-c DIR -n SERVICE -t TYPE
 * [-o name=value]... [-v]; -h or --help prints def->help), loads main.cf, opens the log as
 * "<syslog_name>/<service>", chdirs to queue_directory, gives up root if it
 * has it (to mail_owner; root is refused), takes the listening sockets that
 * master passed (mail_proto.h), and runs one libevent loop:
 *
 *  - each accepted client goes to def->accept(); the daemon calls
 *    server_session_end() when it is done with that client;
 *  - it tells master 'B' (busy) when it serves process_session_limit
 *    clients and stops accepting, 'A' when it can take more;
 *  - with no client for max_idle seconds, or idle after max_use clients, it
 *    exits (master starts a new one on demand); not for long-running
 *    daemons (def->long_running, e.g. qmgr);
 *  - on SIGTERM it stops accepting, calls def->stop(), and exits when every
 *    session has ended (long-running daemons: at once) and every hold taken
 *    with server_stop_hold() is released, or after shutdown_timeout;
 *  - it exits when master goes away.
 *
 * Memory: the skeleton owns the event base; `def` must outlive the loop.
 */
#ifndef POSTERN_SERVER_H
#define POSTERN_SERVER_H

#include <sys/socket.h>

struct event_base;

struct server_def {
    const char *name;       /* program name used in messages, e.g. "smtpd" */
    /* After config, log, chdir and privilege drop; before the loop runs. */
    void (*init)(struct event_base *base);
    /* A client connected; fd is non-blocking and close-on-exec; the callee
     * owns it. `addr` is the peer address (AF_UNIX for private sockets). */
    void (*accept)(int fd, const struct sockaddr *addr, socklen_t addrlen);
    /* A graceful stop begins: stop taking new work (may be NULL). */
    void (*stop)(void);
    /* Daemons that never idle-exit and do not count sessions (qmgr). */
    int long_running;
    /* Manual page printed by "-h" / "--help": NAME, DESCRIPTION, ... */
    const char *help;
};

/* Never returns. */
void server_main(int argc, char **argv, const struct server_def *def) __attribute__((noreturn));

/* Every accept() starts a session; call this when that client is done. */
void server_session_end(void);
/* Sessions in progress. */
unsigned server_sessions(void);
struct event_base *server_event_base(void);
const char *server_service_name(void);
/* Is a graceful stop in progress? */
int server_stopping(void);
/*
 * Work that a graceful stop must wait for beyond the sessions (qmgr's
 * deliveries in progress): a daemon takes a hold in its stop callback and
 * releases it when the work is done; the skeleton exits when no session
 * and no hold is left, or at shutdown_timeout.
 */
void server_stop_hold(void);
void server_stop_release(void);
/* Leave the loop and exit now (after def->stop), e.g. after a fatal peer error. */
void server_exit(int status) __attribute__((noreturn));

#endif
