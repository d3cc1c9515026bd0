/*
 * pq_list.c - postqueue -p, -j, -n, -R: ask showq and copy its answer.
 *
 * One request to public/showq (mail_proto.h); after status=ok everything
 * showq sends is copied to standard output as it arrives, byte for byte
 * (showq already made it safe for a terminal, or valid JSON). A reader that
 * goes away (postqueue -p | head) ends the copy quietly with exit 0.
 *
 * No memory outlives pq_list().
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "mail_proto.h"
#include "params.h"
#include "postqueue.h"

#define COPY_CHUNK (64 * 1024)
#define WHAT "Queue report unavailable"

/* Write all of buf to stdout; 1 ok, 0 the reader went away, -1 error. */
static int write_out(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EPIPE ? 0 : -1;
        buf += n;
        len -= (size_t)n;
    }
    return 1;
}

/* Copy the rest of the stream to stdout; returns the exit status. */
static int copy_stream(struct pq_conn *c)
{
    char buf[COPY_CHUNK];
    int rc = 1;

    while (evbuffer_get_length(c->in) > 0) {
        int n = evbuffer_remove(c->in, buf, sizeof(buf));
        if (n <= 0)
            break;
        if ((rc = write_out(buf, (size_t)n)) <= 0)
            goto out_done;
    }
    for (;;) {
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        ssize_t n;
        int p = poll(&pfd, 1, (int)(var_ipc_timeout * 1000));

        if (p < 0 && errno == EINTR)
            continue;
        if (p == 0)
            pq_fatal(PQ_EXIT_FAIL, "timed out reading the queue listing");
        n = read(c->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            pq_fatal(PQ_EXIT_FAIL, "reading the queue listing: %s", strerror(errno));
        if (n == 0)
            return PQ_EXIT_OK;
        if ((rc = write_out(buf, (size_t)n)) <= 0)
            goto out_done;
    }
out_done:
    if (rc < 0)
        pq_fatal(PQ_EXIT_FAIL, "write error: %s", strerror(errno));
    return PQ_EXIT_OK;          /* the reader went away: not an error */
}

int pq_list(const char *kind, int json, const struct pq_select *sel)
{
    static const char *const status_required[] = { "status", NULL };
    static const char *const status_optional[] = { "reason", NULL };
    char older[32], newer[32], err[512];
    struct attr_msg reply;
    struct pq_conn c;
    const char *status, *reason;
    int rc;

    snprintf(older, sizeof(older), "%ld", sel->older);
    snprintf(newer, sizeof(newer), "%ld", sel->newer);
    {
        const char *pairs[] = {
            "req", kind,
            "format", json ? "json" : NULL,
            "queue", sel->queue,
            "sender", sel->sender,
            "recipient", sel->recipient,
            "domain", sel->domain,
            "reason", sel->reason,
            "older", sel->older >= 0 ? older : NULL,
            "newer", sel->newer >= 0 ? newer : NULL,
        };
        pq_connect(&c, PROTO_SHOWQ_SOCKET, WHAT,
                   "root, mail_owner and authorized_mailq_users may list the queue");
        if (pq_send(&c, pairs, sizeof(pairs) / sizeof(pairs[0]) / 2) < 0)
            pq_fatal(PQ_EXIT_FAIL, WHAT ": cannot send the request: %s", strerror(errno));
    }
    attr_msg_init(&reply);
    rc = pq_read(&c, &reply, PQ_REPLY_TIMEOUT, err, sizeof(err));
    if (rc == 0)
        pq_fatal(PQ_EXIT_FAIL, WHAT ": the showq service closed the connection "
                 "(see the mail log)");
    if (rc < 0)
        pq_fatal(PQ_EXIT_FAIL, WHAT ": %s", err);
    if (attr_check(&reply, status_required, status_optional, NULL, err, sizeof(err)) < 0)
        pq_fatal(PQ_EXIT_FAIL, WHAT ": bad reply from showq: %s", err);
    status = attr_get(&reply, "status");
    reason = attr_get(&reply, "reason");
    if (strcmp(status, PROTO_STATUS_OK) != 0) {
        if (reason && strcmp(reason, "permission denied") == 0)
            pq_fatal(PQ_EXIT_NOPERM, WHAT ": permission denied (root, mail_owner and "
                     "authorized_mailq_users may list the queue)");
        pq_fatal(PQ_EXIT_FAIL, WHAT ": %s", reason ? reason : "showq refused the request");
    }
    attr_msg_free(&reply);
    rc = copy_stream(&c);
    pq_close(&c);
    return rc;
}
