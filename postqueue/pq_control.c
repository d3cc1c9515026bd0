/*
 * pq_control.c - postqueue -f, -s SITE, -i ID [-w [-v]]: ask qmgr.
 *
 * Requests go to private/qmgr (mail_proto.h, qmgr control), which only root
 * and mail_owner can reach; postqueue run as root has already become
 * mail_owner. Results:
 *
 *   -f        postqueue: flushing N deferred messages
 *   -s SITE   postqueue: flushing N messages for SITE
 *   -i ID     postqueue: ID: delivery started
 *   -i ID -w  one line per recipient as qmgr reports it,
 *               ID: to=<addr>, relay=..., dsn=..., status=sent (reply)
 *             (with -v first the SMTP conversation, each line indented by
 *             two spaces), then "ID: done, message STATE". Exit 0 only when
 *             every recipient was delivered.
 *
 * Every message is declared in mail_proto.h: requests are written through
 * proto_out, replies and events checked with proto_check before use.
 * Text that comes from a remote server (replies, trace lines) is printed
 * with control characters replaced by '?' (tool_print_line). stdout is
 * flushed after every line so a watched delivery shows as it happens.
 *
 * No memory outlives a call.
 */
#include <stdio.h>
#include <string.h>

#include "mail_proto.h"
#include "params.h"
#include "postqueue.h"
#include "queue_dir.h"
#include "tool.h"

#define PERM_HINT "only root and the mail_owner user may ask the queue manager"
#define PEER "the queue manager"
#define WHAT_FLUSH "Cannot flush mail queue"
#define WHAT_DELIVER "Cannot deliver the message"

/*
 * Send the request in c->out, read the first reply and check it against
 * ok_def. status=error: "postqueue: fatal: PREFIX: reason", exit 1.
 * Returns the count of a count reply, else 0.
 */
static long ask(struct pq_conn *c, const char *what, const char *prefix,
                const struct proto_msg *ok_def)
{
    struct attr_msg reply;
    long count = 0;

    pq_send(c, what);
    attr_msg_init(&reply);
    if (!pq_read_reply(c, &reply, ok_def, what, PEER))
        tool_fatal(PQ_EXIT_FAIL, "%s: %s", prefix, attr_get(&reply, MAIL_ATTR_REASON));
    if (attr_find(&reply, MAIL_ATTR_COUNT) != NULL
        && attr_get_long(&reply, MAIL_ATTR_COUNT, &count) < 0)
        tool_fatal(PQ_EXIT_FAIL, "%s: bad count in the queue manager's reply", what);
    attr_msg_free(&reply);
    return count;
}

int pq_flush(void)
{
    struct pq_conn c;
    struct proto_out req;
    long n;

    pq_connect(&c, PROTO_QMGR_SOCKET, WHAT_FLUSH, PERM_HINT);
    proto_begin(&req, c.out, &proto_qmgr_flush);
    proto_put_str(&req, MAIL_ATTR_REQ, QMGR_REQ_FLUSH);
    proto_end(&req);
    n = ask(&c, WHAT_FLUSH, "flush", &proto_qmgr_count_reply);
    pq_close(&c);
    printf("postqueue: flushing %ld deferred message%s\n", n, n == 1 ? "" : "s");
    return PQ_EXIT_OK;
}

int pq_flush_site(const char *site)
{
    struct pq_conn c;
    struct proto_out req;
    long n;

    if (*site == '\0' || !attr_value_ok(site) || strpbrk(site, " \t") != NULL)
        tool_fatal(PQ_EXIT_USAGE, "bad site name");
    pq_connect(&c, PROTO_QMGR_SOCKET, WHAT_FLUSH, PERM_HINT);
    proto_begin(&req, c.out, &proto_qmgr_flush_site);
    proto_put_str(&req, MAIL_ATTR_REQ, QMGR_REQ_FLUSH_SITE);
    proto_put_str(&req, MAIL_ATTR_SITE, site);
    proto_end(&req);
    n = ask(&c, WHAT_FLUSH, site, &proto_qmgr_count_reply);
    pq_close(&c);
    tool_print_line(stdout, "postqueue: flushing %ld message%s for %s", n, n == 1 ? "" : "s",
                    site);
    return PQ_EXIT_OK;
}

/* The value of an attribute, "" when absent. */
static const char *value_of(const struct attr_msg *m, const char *name)
{
    const char *v = attr_get(m, name);

    return v ? v : "";
}

/* One recipient outcome (proto_qmgr_rcpt_event); returns 1 when it was
 * delivered. */
static int print_rcpt(const char *id, const struct attr_msg *ev)
{
    const char *status = value_of(ev, MAIL_ATTR_STATUS);
    const char *relay = value_of(ev, MAIL_ATTR_RELAY);

    tool_print_line(stdout, "%s: to=<%s>, relay=%s, dsn=%s, status=%s (%s)", id,
                    value_of(ev, MAIL_ATTR_ADDRESS), *relay ? relay : "none",
                    value_of(ev, MAIL_ATTR_DSN), status, value_of(ev, MAIL_ATTR_REPLY));
    /* qmgr passes on the delivery agent's status word. */
    return strcmp(status, QMGR_STATUS_SENT) == 0;
}

/* Is ev the event `name`, and does it fit its declaration? */
static int is_event(const struct attr_msg *ev, const char *name, const struct proto_msg *def,
                    const char *id)
{
    char err[256];

    if (strcmp(value_of(ev, MAIL_ATTR_EVENT), name) != 0)
        return 0;
    if (proto_check(ev, def, err, sizeof(err)) < 0)
        tool_fatal(PQ_EXIT_FAIL, "%s: bad event from the queue manager: %s", id, err);
    return 1;
}

/* Follow a watched delivery to its end; returns the exit status. */
static int watch_delivery(struct pq_conn *c, const char *id, int verbose)
{
    struct attr_msg ev;
    char err[512];
    int failed = 0, rc;

    attr_msg_init(&ev);
    for (;;) {
        rc = pq_read(c, &ev, (int)var_ipc_timeout, err, sizeof(err));
        if (rc <= 0)
            tool_fatal(PQ_EXIT_FAIL, "%s: lost the queue manager before the delivery "
                       "finished%s%s", id, rc < 0 ? ": " : "", rc < 0 ? err : "");
        if (is_event(&ev, QMGR_EVENT_TRACE, &proto_qmgr_trace_event, id)) {
            if (verbose)
                tool_print_line(stdout, "  %s", value_of(&ev, MAIL_ATTR_LINE));
        } else if (is_event(&ev, QMGR_EVENT_RCPT, &proto_qmgr_rcpt_event, id)) {
            if (!print_rcpt(id, &ev))
                failed = 1;
        } else if (is_event(&ev, QMGR_EVENT_DONE, &proto_qmgr_done_event, id)) {
            const char *state = value_of(&ev, MAIL_ATTR_STATE);
            tool_print_line(stdout, "%s: done, message %s", id, *state ? state : "(state unknown)");
            break;
        }
        /* Unknown events are ignored: newer qmgr, older postqueue. */
        fflush(stdout);
    }
    attr_msg_free(&ev);
    fflush(stdout);
    return failed ? PQ_EXIT_FAIL : PQ_EXIT_OK;
}

int pq_deliver(const char *queue_id, int watch, int verbose)
{
    struct pq_conn c;
    struct proto_out req;
    int rc;

    if (!queue_id_valid(queue_id))
        tool_fatal(PQ_EXIT_FAIL, "invalid queue ID (see postqueue -p)");
    pq_connect(&c, PROTO_QMGR_SOCKET, WHAT_DELIVER, PERM_HINT);
    proto_begin(&req, c.out, &proto_qmgr_deliver_now);
    proto_put_str(&req, MAIL_ATTR_REQ, QMGR_REQ_DELIVER_NOW);
    proto_put_str(&req, MAIL_ATTR_QUEUE_ID, queue_id);
    if (watch)
        proto_put_str(&req, MAIL_ATTR_WATCH, PROTO_FLAG_ON);
    if (watch && verbose)
        proto_put_str(&req, MAIL_ATTR_VERBOSE, PROTO_FLAG_ON);
    proto_end(&req);
    ask(&c, WHAT_DELIVER, queue_id, &proto_ok_reply);
    if (!watch) {
        printf("postqueue: %s: delivery started\n", queue_id);
        pq_close(&c);
        return PQ_EXIT_OK;
    }
    fflush(stdout);
    rc = watch_delivery(&c, queue_id, verbose);
    pq_close(&c);
    return rc;
}
