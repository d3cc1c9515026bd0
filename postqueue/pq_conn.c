/*
 * pq_conn.c - postqueue's side of a conversation with showq or qmgr.
 *
 * A blocking UNIX stream connection plus an input buffer. Replies are read
 * through that buffer with the incremental attribute reader, so bytes that
 * follow a reply (showq's listing after status=ok, the next event of a
 * watched delivery) stay in the buffer for the next read instead of being
 * lost.
 *
 * A failed connect is told apart for the operator: no socket or nobody
 * listening means the mail system is down (EX_UNAVAILABLE), EACCES/EPERM
 * means this user may not (EX_NOPERM).
 *
 * Requests are written with the declarations of mail_proto.h (proto_out)
 * into the connection's output buffer; the first reply is checked against
 * its declaration (pq_read_reply) before anything in it is used.
 *
 * Memory: struct pq_conn owns its descriptor and buffers (pq_close).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "attr.h"
#include "errtext.h"
#include "mail_proto.h"
#include "postqueue.h"
#include "sock.h"
#include "tool.h"

#define READ_CHUNK 65536

void pq_connect(struct pq_conn *c, const char *path, const char *what, const char *perm_hint)
{
    c->fd = sock_unix_connect(path, 0);
    if (c->fd < 0) {
        int e = errno;
        if (e == EACCES || e == EPERM)
            tool_fatal(PQ_EXIT_NOPERM, "%s: permission denied (%s)", what, perm_hint);
        if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR)
            tool_fatal(PQ_EXIT_DOWN, "%s - mail system is down", what);
        tool_fatal(PQ_EXIT_DOWN, "%s: connect to %s: %s", what, path, strerror(e));
    }
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    if (c->in == NULL || c->out == NULL)
        tool_fatal(PQ_EXIT_FAIL, "out of memory");
}

void pq_close(struct pq_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->in)
        evbuffer_free(c->in);
    if (c->out)
        evbuffer_free(c->out);
    c->in = c->out = NULL;
}

void pq_send(struct pq_conn *c, const char *what)
{
    if (attr_write_fd(c->fd, c->out, PQ_REPLY_TIMEOUT) < 0)
        tool_fatal(PQ_EXIT_FAIL, "%s: cannot send the request: %s", what, strerror(errno));
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int pq_read(struct pq_conn *c, struct attr_msg *msg, int timeout, char *err, size_t errlen)
{
    long deadline = now_ms() + (long)timeout * 1000L;

    attr_msg_reset(msg);
    for (;;) {
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        long wait;
        int n = attr_read_evbuffer(c->in, msg, err, errlen);

        if (n != 0)
            return n;
        wait = deadline - now_ms();
        if (wait <= 0) {
            errtext_set(err, errlen, "timed out waiting for a reply");
            return -1;
        }
        n = poll(&pfd, 1, (int)wait);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            errtext_set(err, errlen, "poll: %s", strerror(errno));
            return -1;
        }
        if (n == 0)
            continue;
        n = evbuffer_read(c->in, c->fd, READ_CHUNK);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            errtext_set(err, errlen, "read: %s", strerror(errno));
            return -1;
        }
        if (n == 0) {
            if (msg->count == 0 && evbuffer_get_length(c->in) == 0)
                return 0;
            errtext_set(err, errlen, "connection closed in the middle of a reply");
            return -1;
        }
    }
}

int pq_read_reply(struct pq_conn *c, struct attr_msg *reply, const struct proto_msg *ok_def,
                  const char *what, const char *peer)
{
    char err[512];
    int rc = pq_read(c, reply, PQ_REPLY_TIMEOUT, err, sizeof(err));

    if (rc == 0)
        tool_fatal(PQ_EXIT_FAIL, "%s: %s closed the connection (see the mail log)", what, peer);
    if (rc < 0)
        tool_fatal(PQ_EXIT_FAIL, "%s: %s", what, err);
    rc = proto_check_reply(reply, ok_def, &proto_error_reply, err, sizeof(err));
    if (rc < 0)
        tool_fatal(PQ_EXIT_FAIL, "%s: bad reply from %s: %s", what, peer, err);
    return rc;
}
