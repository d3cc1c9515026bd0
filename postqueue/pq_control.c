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
 * Text that comes from a remote server (replies, trace lines) is printed
 * with control characters replaced by '?'. stdout is flushed after every
 * line so a watched delivery shows as it happens.
 *
 * No memory outlives a call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail_proto.h"
#include "params.h"
#include "postqueue.h"
#include "queue_dir.h"

#define PERM_HINT "only root and the mail_owner user may ask the queue manager"

static const char *const reply_required[] = { "status", NULL };
static const char *const reply_optional[] = { "count", "reason", "state", NULL };

/*
 * Connect, send, read the first reply and check it. Returns the count
 * (flush requests) or 0; on status=error prints "postqueue: PREFIX: reason"
 * and exits 1.
 */
static long ask(struct pq_conn *c, const char *what, const char *prefix,
                const char *const *pairs, size_t npairs, int keep_open)
{
    struct attr_msg reply;
    char err[512];
    const char *status, *reason;
    long count = 0;
    int rc;

    pq_connect(c, PROTO_QMGR_SOCKET, what, PERM_HINT);
    if (pq_send(c, pairs, npairs) < 0)
        pq_fatal(PQ_EXIT_FAIL, "%s: cannot send the request: %s", what, strerror(errno));
    attr_msg_init(&reply);
    rc = pq_read(c, &reply, PQ_REPLY_TIMEOUT, err, sizeof(err));
    if (rc == 0)
        pq_fatal(PQ_EXIT_FAIL, "%s: the queue manager closed the connection", what);
    if (rc < 0)
        pq_fatal(PQ_EXIT_FAIL, "%s: %s", what, err);
    if (attr_check(&reply, reply_required, reply_optional, NULL, err, sizeof(err)) < 0)
        pq_fatal(PQ_EXIT_FAIL, "%s: bad reply from the queue manager: %s", what, err);
    status = attr_get(&reply, "status");
    reason = attr_get(&reply, "reason");
    if (strcmp(status, PROTO_STATUS_OK) != 0) {
        fflush(stdout);
        fprintf(stderr, "postqueue: %s: ", prefix);
        pq_put_safe(stderr, reason ? reason : "refused", strlen(reason ? reason : "refused"));
        fputc('\n', stderr);
        exit(PQ_EXIT_FAIL);
    }
    if (attr_get(&reply, "count") != NULL && attr_get_long(&reply, "count", &count) < 0)
        pq_fatal(PQ_EXIT_FAIL, "%s: bad count in the queue manager's reply", what);
    attr_msg_free(&reply);
    if (!keep_open)
        pq_close(c);
    return count;
}

int pq_flush(void)
{
    const char *pairs[] = { "req", QMGR_REQ_FLUSH };
    struct pq_conn c;
    long n = ask(&c, "Cannot flush mail queue", "flush", pairs, 1, 0);

    printf("postqueue: flushing %ld deferred message%s\n", n, n == 1 ? "" : "s");
    return PQ_EXIT_OK;
}

int pq_flush_site(const char *site)
{
    const char *pairs[] = { "req", QMGR_REQ_FLUSH_SITE, "site", site };
    struct pq_conn c;
    long n;

    if (*site == '\0' || !attr_value_ok(site) || strpbrk(site, " \t") != NULL)
        pq_fatal(PQ_EXIT_USAGE, "bad site name");
    n = ask(&c, "Cannot flush mail queue", site, pairs, 2, 0);
    printf("postqueue: flushing %ld message%s for ", n, n == 1 ? "" : "s");
    pq_put_safe(stdout, site, strlen(site));
    putchar('\n');
    return PQ_EXIT_OK;
}

/* The value of an attribute, "" when absent. */
static const char *value_of(const struct attr_msg *m, const char *name)
{
    const char *v = attr_get(m, name);

    return v ? v : "";
}

static void print_safe(const char *s)
{
    pq_put_safe(stdout, s, strlen(s));
}

/* One recipient outcome; returns 1 when it was delivered. */
static int print_rcpt(const char *id, const struct attr_msg *ev)
{
    const char *status = value_of(ev, "status");

    printf("%s: to=<", id);
    print_safe(value_of(ev, "address"));
    printf(">, relay=");
    print_safe(*value_of(ev, "relay") ? value_of(ev, "relay") : "none");
    printf(", dsn=");
    print_safe(value_of(ev, "dsn"));
    printf(", status=");
    print_safe(status);
    printf(" (");
    print_safe(value_of(ev, "reply"));
    printf(")\n");
    return strcmp(status, "sent") == 0;
}

/* Follow a watched delivery to its end; returns the exit status. */
static int watch_delivery(struct pq_conn *c, const char *id, int verbose)
{
    struct attr_msg ev;
    char err[512];
    int failed = 0, rc;

    attr_msg_init(&ev);
    for (;;) {
        const char *event;

        rc = pq_read(c, &ev, (int)var_ipc_timeout, err, sizeof(err));
        if (rc <= 0)
            pq_fatal(PQ_EXIT_FAIL, "%s: lost the queue manager before the delivery "
                     "finished%s%s", id, rc < 0 ? ": " : "", rc < 0 ? err : "");
        event = value_of(&ev, "event");
        if (strcmp(event, QMGR_EVENT_TRACE) == 0) {
            if (verbose) {
                printf("  ");
                print_safe(value_of(&ev, "line"));
                putchar('\n');
            }
        } else if (strcmp(event, QMGR_EVENT_RCPT) == 0) {
            if (!print_rcpt(id, &ev))
                failed = 1;
        } else if (strcmp(event, QMGR_EVENT_DONE) == 0) {
            printf("%s: done, message ", id);
            print_safe(*value_of(&ev, "state") ? value_of(&ev, "state") : "(state unknown)");
            putchar('\n');
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
    const char *pairs[] = {
        "req", QMGR_REQ_DELIVER_NOW,
        "queue_id", queue_id,
        "watch", watch ? "1" : NULL,
        "verbose", watch && verbose ? "1" : NULL,
    };
    struct pq_conn c;
    int rc;

    if (!queue_id_valid(queue_id))
        pq_fatal(PQ_EXIT_FAIL, "invalid queue ID (see postqueue -p)");
    ask(&c, "Cannot deliver the message", queue_id, pairs, 4, 1);
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
