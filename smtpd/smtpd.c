/*
 * smtpd.c - the SMTP server daemon: start-up, accepting clients, stopping.
 *
 * smtpd receives mail over SMTP from clients on the listening sockets that
 * master passes, checks the envelope against the relay policy and hands the
 * content to the cleanup service, answering 250 only after cleanup said the
 * queue file is durable. The session machinery lives in smtpd_session.c.
 *
 * Client names: smtpd does not look up the client's reverse DNS name. A
 * blocking resolver call would stall every session of this process, and
 * nothing in the relay policy depends on names; every client is logged as
 * "unknown[address]", as Postfix does when the lookup fails.
 *
 * Memory: this file owns the list of live sessions (not the sessions
 * themselves; smtpd_session.c frees them and unlinks them here).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "msg.h"
#include "params.h"
#include "server.h"
#include "sock.h"
#include "smtpd.h"

static struct smtpd_session *sessions;
static int grace_over;

int smtpd_grace_over(void)
{
    return grace_over;
}

static void smtpd_list_add(struct smtpd_session *s)
{
    s->prev = NULL;
    s->next = sessions;
    if (sessions)
        sessions->prev = s;
    sessions = s;
}

void smtpd_list_remove(struct smtpd_session *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else if (sessions == s)
        sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

static void smtpd_init(struct event_base *base)
{
    (void)base;
    smtpd_policy_init();
}

static void smtpd_accept(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    char host[64];
    int port = 0;
    struct smtpd_session *s;

    (void)addrlen;
    if (addr->sa_family == AF_UNIX) {
        snprintf(host, sizeof(host), "%s", "localhost");
    } else {
        sock_addr_text(addr, host, sizeof(host), &port);
    }
    s = smtpd_session_new(fd, host, port);
    if (s != NULL)
        smtpd_list_add(s);
}

/* A graceful stop: idle sessions are told 421 now, busy ones finish. */
/* Near the end of the grace period: idle sessions are told 421 and closed. */
static void stop_idle_sessions(evutil_socket_t fd, short what, void *arg)
{
    struct smtpd_session *s = sessions, *next;

    (void)fd;
    (void)what;
    (void)arg;
    grace_over = 1;
    while (s != NULL) {
        next = s->next;
        smtpd_session_stop(s);
        s = next;
    }
}

/*
 * A graceful stop (master's SIGTERM on reload or shutdown): no new clients;
 * sessions in progress go on, as in Postfix, so that a client that connected
 * just before a reload is served. The process exits when the last session
 * ends; a second before shutdown_timeout, sessions still idle between
 * transactions get "421 4.3.2" (a transaction in progress is finished first).
 */
static void smtpd_stop(void)
{
    static struct event *grace_timer;
    struct timeval tv = { var_shutdown_timeout > 1 ? var_shutdown_timeout - 1 : 0, 0 };

    grace_timer = evtimer_new(server_event_base(), stop_idle_sessions, NULL);
    evtimer_add(grace_timer, &tv);
}

static const char smtpd_help[] =
    "NAME\n"
    "    smtpd - Postern SMTP server\n"
    "\n"
    "SYNOPSIS\n"
    "    smtpd -c DIR -n SERVICE -t inet [-o NAME=VALUE]... [-v]\n"
    "\n"
    "DESCRIPTION\n"
    "    Serves SMTP sessions on the listeners master passes it, many at once in\n"
    "    one event loop: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, HELP, VRFY\n"
    "    (disabled), with PIPELINING, SIZE, 8BITMIME and ENHANCEDSTATUSCODES.\n"
    "    Clients in mynetworks (networks, or tables such as cidr:FILE) may relay\n"
    "    anywhere; others only to relay_domains (domains, .subdomains, tables;\n"
    "    subdomains too when parent_domain_matches_subdomains lists relay_domains)\n"
    "    (554 5.7.1; 451 4.3.0 when a table cannot be read). Content goes to\n"
    "    cleanup as it arrives; \"250 2.0.0 Ok: queued as ID\" is sent only after\n"
    "    cleanup reports the queue file durable. Only <CR><LF>.<CR><LF> ends\n"
    "    DATA; a bare CR or LF in the content rejects the message (550 5.5.2).\n"
    "    Parameters: smtpd_banner, smtpd_timeout,\n"
    "    message_size_limit, smtpd_recipient_limit, smtpd_line_limit,\n"
    "    smtpd_hard_error_limit, mynetworks, relay_domains,\n"
    "    parent_domain_matches_subdomains (docs/configuration.md).\n";

static const struct server_def smtpd_def = {
    .name = "smtpd",
    .init = smtpd_init,
    .accept = smtpd_accept,
    .stop = smtpd_stop,
    .long_running = 0,
    .help = smtpd_help,
};

int main(int argc, char **argv)
{
    server_main(argc, argv, &smtpd_def);
}
