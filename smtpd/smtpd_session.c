/*
 * smtpd_session.c - one SMTP session: client I/O and the state machine.
 *
 * Every client gets a bufferevent with smtpd_timeout as its read and write
 * timeout. Command lines end at CRLF or a bare LF (as Postfix accepts); a
 * line longer than smtpd_line_limit (line ending included) is answered
 * "500 5.5.2 Error: line too long" and skipped up to its end without ever
 * holding more than the limit plus one read in memory. DATA content is not
 * read here: in state DATA the input goes to smtpd_data.c untouched.
 *
 * Limits enforced at the I/O boundary:
 *   - nothing may arrive before the greeting (554 5.5.0 and close), nor
 *     after a command that must end a pipelined group (EHLO, HELO, DATA,
 *     ...; smtpd_cmd.c's verb table says which, and checks it);
 *   - smtpd_hard_error_limit error replies: 421 4.7.0 and close;
 *   - while more than SMTPD_OUTPUT_HIGH reply bytes wait for a client that
 *     does not read, its commands are not read either.
 *
 * Ending a session: the last reply is flushed (CLOSING), then the write
 * side is shut down and input is read and discarded until the client
 * closes or SMTPD_LINGER_SECS pass (LINGER), so that the client gets our
 * last reply instead of a reset caused by its own unread bytes. Only then
 * is the session freed; a session is freed only from its own top-level
 * event callbacks, never in the middle of command processing.
 *
 * Memory: the session owns its bufferevent (and the client socket), its
 * envelope strings and its cleanup connection; session_free releases all.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "alloc.h"
#include "msg.h"
#include "params.h"
#include "server.h"
#include "smtpd.h"

#define SMTPD_LINGER_SECS 2
#define SMTPD_LINE_BUF (65536 + 2)   /* smtpd_line_limit's upper bound + slack */

static void session_read(struct bufferevent *bev, void *arg);
static void session_write(struct bufferevent *bev, void *arg);
static void session_event(struct bufferevent *bev, short what, void *arg);

/* Name of where the session is, for "timeout after X" log lines. */
static const char *session_where(const struct smtpd_session *s, char *buf, size_t len)
{
    if (s->state == SMTPD_ST_DATA) {
        snprintf(buf, len, "DATA (%llu bytes)", (unsigned long long)s->dot_reader.size);
        return buf;
    }
    if (s->state == SMTPD_ST_ENDING || s->last_event == SMTPD_LAST_END_OF_MESSAGE)
        return "END-OF-MESSAGE";
    if (s->last_event == SMTPD_LAST_CONNECT)
        return "CONNECT";
    return smtp_verb_name(s->last_verb);
}

int smtpd_session_in_transaction(const struct smtpd_session *s)
{
    return s->sender != NULL;
}

enum smtpd_phase smtpd_session_phase(const struct smtpd_session *s)
{
    if (s->sender != NULL)
        return SMTPD_PHASE_MAIL;
    if (s->helo != NULL)
        return SMTPD_PHASE_HELLO;
    return SMTPD_PHASE_GREETED;
}

int smtpd_session_input_pending(struct smtpd_session *s)
{
    char c;
    ssize_t n;

    if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
        return 1;
    n = recv(bufferevent_getfd(s->bev), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n > 0;
}

static void session_free(struct smtpd_session *s)
{
    smtpd_log_disconnect(s);
    smtpd_cleanup_disconnect(s);
    smtpd_data_free(s);
    smtpd_transaction_reset(s);
    s->rcpts = xfree(s->rcpts);
    s->helo = xfree(s->helo);
    if (s->linger_timer)
        event_free(s->linger_timer);
    bufferevent_free(s->bev);
    smtpd_list_remove(s);
    xfree(s);
    server_session_end();
}

static void linger_expired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    session_free(arg);
}

/* The last reply is out: stop writing, discard input until EOF or timer. */
static void session_linger(struct smtpd_session *s)
{
    struct timeval tv = { SMTPD_LINGER_SECS, 0 };
    struct evbuffer *in = bufferevent_get_input(s->bev);

    s->state = SMTPD_ST_LINGER;
    (void)shutdown(bufferevent_getfd(s->bev), SHUT_WR);
    evbuffer_drain(in, evbuffer_get_length(in));
    s->linger_timer = evtimer_new(bufferevent_get_base(s->bev), linger_expired, s);
    evtimer_add(s->linger_timer, &tv);
    bufferevent_disable(s->bev, EV_WRITE);
    bufferevent_enable(s->bev, EV_READ);
}

void smtpd_session_settle(struct smtpd_session *s)
{
    if (s->state == SMTPD_ST_CLOSING
        && evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
        session_linger(s);
}

void smtpd_session_close(struct smtpd_session *s)
{
    if (s->state == SMTPD_ST_CLOSING || s->state == SMTPD_ST_LINGER)
        return;
    s->state = SMTPD_ST_CLOSING;
    bufferevent_disable(s->bev, EV_READ);
    smtpd_cleanup_disconnect(s);
}

void smtpd_session_update_read(struct smtpd_session *s)
{
    size_t out = evbuffer_get_length(bufferevent_get_output(s->bev));
    int want = 0;

    switch (s->state) {
    case SMTPD_ST_CMD:
        want = out <= SMTPD_OUTPUT_HIGH;
        break;
    case SMTPD_ST_DATA:
        want = smtpd_cleanup_backlog(s) <= SMTPD_CLEANUP_HIGH;
        break;
    case SMTPD_ST_LINGER:
        want = 1;
        break;
    default:
        want = 0;
        break;
    }
    if (want)
        bufferevent_enable(s->bev, EV_READ);
    else
        bufferevent_disable(s->bev, EV_READ);
}

static void line_too_long(struct smtpd_session *s)
{
    s->last_event = SMTPD_LAST_COMMAND;
    s->last_verb = SMTP_VERB_UNKNOWN;
    s->verb_total[SMTP_VERB_UNKNOWN]++;
    msg_info("line too long from %s", s->namaddr);
    smtpd_reply(s, "500 5.5.2 Error: line too long");
}

static void check_error_limit(struct smtpd_session *s)
{
    if (s->state != SMTPD_ST_CMD || s->errors < (unsigned)var_smtpd_hard_error_limit)
        return;
    msg_info("too many errors after %s from %s",
             s->last_event == SMTPD_LAST_CONNECT ? "CONNECT" : smtp_verb_name(s->last_verb),
             s->namaddr);
    smtpd_reply(s, "421 4.7.0 %s Error: too many errors", var_myhostname);
    smtpd_session_close(s);
}

/* One complete command line (without its line ending). */
static void handle_line(struct smtpd_session *s, const char *line, size_t len)
{
    smtpd_cmd_line(s, line, len);
    check_error_limit(s);
}

/*
 * Take the next command line from the input. Returns 1 when a line was
 * handled (or an over-long one skipped), 0 when more input is needed.
 */
static int next_line(struct smtpd_session *s)
{
    static char line[SMTPD_LINE_BUF];
    struct evbuffer *in = bufferevent_get_input(s->bev);
    size_t limit = (size_t)var_smtpd_line_limit;
    size_t eol_len = 0, have, total;
    struct evbuffer_ptr p;

    p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
    if (p.pos < 0) {
        have = evbuffer_get_length(in);
        if (s->discarding || have >= limit) {
            /* No line ending yet and already too long: forget what we have. */
            evbuffer_drain(in, have);
            s->discarding = 1;
        }
        return 0;
    }
    total = (size_t)p.pos + eol_len;
    if (s->discarding || total > limit || (size_t)p.pos >= sizeof(line)) {
        evbuffer_drain(in, total);
        s->discarding = 0;
        line_too_long(s);
        check_error_limit(s);
        return 1;
    }
    evbuffer_remove(in, line, (size_t)p.pos);
    evbuffer_drain(in, eol_len);
    handle_line(s, line, (size_t)p.pos);
    return 1;
}

static void process_commands(struct smtpd_session *s)
{
    while (s->state == SMTPD_ST_CMD) {
        if (evbuffer_get_length(bufferevent_get_output(s->bev)) > SMTPD_OUTPUT_HIGH)
            break;  /* the client is not reading replies; resume on write */
        if (smtpd_grace_over() && !smtpd_session_in_transaction(s)) {
            smtpd_reply(s, "421 4.3.2 %s Service shutting down", var_myhostname);
            smtpd_session_close(s);
            break;
        }
        if (!next_line(s))
            break;
    }
}

void smtpd_session_resume(struct smtpd_session *s)
{
    if (s->state == SMTPD_ST_CMD)
        process_commands(s);
    smtpd_session_update_read(s);
}

void smtpd_session_stop(struct smtpd_session *s)
{
    if (s->state != SMTPD_ST_CMD || smtpd_session_in_transaction(s))
        return;     /* finishes its transaction first, then is told 421 */
    smtpd_reply(s, "421 4.3.2 %s Service shutting down", var_myhostname);
    smtpd_session_close(s);
    smtpd_session_settle(s);
}

static void session_read(struct bufferevent *bev, void *arg)
{
    struct smtpd_session *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    switch (s->state) {
    case SMTPD_ST_CMD:
        process_commands(s);
        break;
    case SMTPD_ST_DATA:
        smtpd_data_input(s);
        break;
    case SMTPD_ST_LINGER:
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    default:
        break;      /* reading is off in the other states */
    }
    smtpd_session_update_read(s);
    smtpd_session_settle(s);
}

static void session_write(struct bufferevent *bev, void *arg)
{
    struct smtpd_session *s = arg;

    (void)bev;
    if (s->state == SMTPD_ST_CMD)
        smtpd_session_resume(s);
    smtpd_session_settle(s);
}

static void session_event(struct bufferevent *bev, short what, void *arg)
{
    struct smtpd_session *s = arg;
    char where[64];

    (void)bev;
    if (s->state == SMTPD_ST_LINGER || s->state == SMTPD_ST_CLOSING) {
        session_free(s);
        return;
    }
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
        msg_info("timeout after %s from %s", session_where(s, where, sizeof(where)),
                 s->namaddr);
        smtpd_reply(s, "421 4.4.2 %s Error: timeout exceeded", var_myhostname);
        smtpd_session_close(s);
        smtpd_session_settle(s);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT)
        msg_info("timeout after %s from %s (client not reading)",
                 session_where(s, where, sizeof(where)), s->namaddr);
    else
        msg_info("lost connection after %s from %s",
                 session_where(s, where, sizeof(where)), s->namaddr);
    session_free(s);
}

struct smtpd_session *smtpd_session_new(int fd, const char *addr, int port)
{
    struct smtpd_session *s = xcalloc(1, sizeof(*s));
    struct timeval tv = { var_smtpd_timeout, 0 };

    snprintf(s->addr, sizeof(s->addr), "%s", addr);
    s->port = port;
    snprintf(s->name, sizeof(s->name), "%s", "unknown");
    snprintf(s->namaddr, sizeof(s->namaddr), "%s[%s]", s->name, s->addr);
    s->protocol = "SMTP";
    s->state = SMTPD_ST_CMD;
    s->last_event = SMTPD_LAST_CONNECT;
    attr_msg_init(&s->cleanup.reply);
    s->bev = bufferevent_socket_new(server_event_base(), fd, BEV_OPT_CLOSE_ON_FREE);
    if (s->bev == NULL)
        msg_fatal("cannot create bufferevent for client");
    bufferevent_setcb(s->bev, session_read, session_write, session_event, s);
    bufferevent_set_timeouts(s->bev, &tv, &tv);
    msg_info("connect from %s", s->namaddr);
    if (smtpd_session_input_pending(s)) {
        msg_info("improper command pipelining before greeting from %s", s->namaddr);
        smtpd_reply(s, "554 5.5.0 Error: SMTP protocol synchronization");
        smtpd_session_close(s);
        return s;
    }
    smtpd_reply(s, "220 %s", var_smtpd_banner);
    bufferevent_enable(s->bev, EV_READ);
    return s;
}
