/*
 * pq_list.c - postqueue -p, -j, -n, -R: ask showq and copy its answer.
 *
 * One request to public/showq (mail_proto.h, proto_showq_request); the
 * reply is checked against its declaration; after status=ok everything
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

#include "fdio.h"
#include "mail_proto.h"
#include "params.h"
#include "postqueue.h"
#include "tool.h"

#define COPY_CHUNK (64 * 1024)
#define WHAT "Queue report unavailable"
#define PERM_HINT "root, mail_owner and authorized_mailq_users may list the queue"
#define PEER "the showq service"

/* Write all of buf to stdout; 1 ok, 0 the reader went away; exits on an error. */
static int write_out(const char *buf, size_t len)
{
    if (fdio_write_all(STDOUT_FILENO, buf, len) == 0)
        return 1;
    if (errno == EPIPE)
        return 0;
    tool_fatal(PQ_EXIT_FAIL, "write error: %s", strerror(errno));
}

/* Wait for the next bytes from showq; exits after var_ipc_timeout. */
static void wait_readable(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int p;

    while ((p = poll(&pfd, 1, (int)(var_ipc_timeout * 1000))) < 0 && errno == EINTR)
        continue;
    if (p == 0)
        tool_fatal(PQ_EXIT_FAIL, "timed out reading the queue listing");
}

/* Copy the rest of the stream to stdout; returns the exit status (a reader
 * that went away is not an error). */
static int copy_stream(struct pq_conn *c)
{
    char buf[COPY_CHUNK];

    while (evbuffer_get_length(c->in) > 0) {
        int n = evbuffer_remove(c->in, buf, sizeof(buf));
        if (n <= 0)
            break;
        if (!write_out(buf, (size_t)n))
            return PQ_EXIT_OK;
    }
    for (;;) {
        ssize_t n;

        wait_readable(c->fd);
        n = read(c->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            tool_fatal(PQ_EXIT_FAIL, "reading the queue listing: %s", strerror(errno));
        if (n == 0 || !write_out(buf, (size_t)n))
            return PQ_EXIT_OK;
    }
}

static void put_if_given(struct proto_out *req, const char *name, const char *value)
{
    if (value != NULL)
        proto_put_str(req, name, value);
}

/* The request: the kind, the format and the selection (mail_proto.h). */
static void put_request(struct pq_conn *c, const char *kind, int json, const struct pq_select *sel)
{
    struct proto_out req;

    proto_begin(&req, c->out, &proto_showq_request);
    proto_put_str(&req, MAIL_ATTR_REQ, kind);
    put_if_given(&req, MAIL_ATTR_FORMAT, json ? SHOWQ_FORMAT_JSON : NULL);
    put_if_given(&req, MAIL_ATTR_QUEUE, sel->queue);
    put_if_given(&req, MAIL_ATTR_SENDER, sel->sender);
    put_if_given(&req, MAIL_ATTR_RECIPIENT, sel->recipient);
    put_if_given(&req, MAIL_ATTR_DOMAIN, sel->domain);
    put_if_given(&req, MAIL_ATTR_REASON, sel->reason);
    if (sel->older >= 0)
        proto_put_long(&req, MAIL_ATTR_OLDER, sel->older);
    if (sel->newer >= 0)
        proto_put_long(&req, MAIL_ATTR_NEWER, sel->newer);
    proto_end(&req);
}

int pq_list(const char *kind, int json, const struct pq_select *sel)
{
    struct attr_msg reply;
    struct pq_conn c;
    const char *reason;
    int rc;

    pq_connect(&c, PROTO_SHOWQ_SOCKET, WHAT, PERM_HINT);
    put_request(&c, kind, json, sel);
    pq_send(&c, WHAT);
    attr_msg_init(&reply);
    if (!pq_read_reply(&c, &reply, &proto_ok_reply, WHAT, PEER)) {
        reason = attr_get(&reply, MAIL_ATTR_REASON);
        if (strcmp(reason, SHOWQ_REASON_DENIED) == 0)
            tool_fatal(PQ_EXIT_NOPERM, WHAT ": permission denied (" PERM_HINT ")");
        tool_fatal(PQ_EXIT_FAIL, WHAT ": %s", reason);
    }
    attr_msg_free(&reply);
    rc = copy_stream(&c);
    pq_close(&c);
    return rc;
}
