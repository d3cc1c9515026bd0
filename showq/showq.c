/*
 * showq.c - the queue listing service: main(), who may ask, the request.
 *
 * Clients (postqueue -p/-j/-n/-R) connect to public/showq, which anyone may
 * reach; showq itself decides from the peer's credentials (SO_PEERCRED):
 * root, mail_owner (and the uid showq runs as) may always list the queue,
 * others only when authorized_mailq_users is "static:anyone" or names them.
 *
 * One request per connection (mail_proto.h):
 *   -> req=list|json|count|report [format=text|json] [selection...]
 *   <- status=ok, then the output as raw bytes until showq closes
 *   <- status=error reason=...
 *
 * Each client is served from start to end inside the accept callback: the
 * work is a bounded walk of the LMDB index (lib/mail/queue_index.h, opened
 * read-only per request so a rebuilt index is always seen) and a blocking
 * write of its output. init() sets process_session_limit to 1 so the
 * skeleton tells master "busy" for the whole time, and master starts
 * another showq for the next client when every showq is busy.
 *
 * Memory: everything a request uses (request attributes, selection, index
 * handle, output buffer) is released before the callback returns.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/buffer.h>

#include "attr.h"
#include "config.h"
#include "errtext.h"
#include "mail_proto.h"
#include "msg.h"
#include "params.h"
#include "server.h"
#include "showq.h"
#include "strlist.h"

/* Longest wait for the request itself. */
#define REQUEST_TIMEOUT_MAX 60
#define ANYONE "static:anyone"

/* May this uid list the queue? */
static int peer_authorized(uid_t uid)
{
    struct passwd *pw;
    char **users;
    size_t n;
    int ok = 0;

    if (uid == 0 || uid == geteuid())
        return 1;
    pw = getpwnam(var_mail_owner);
    if (pw != NULL && pw->pw_uid == uid)
        return 1;
    if (strcmp(var_authorized_mailq_users, ANYONE) == 0)
        return 1;
    users = strlist_split(var_authorized_mailq_users, &n);
    for (size_t i = 0; users != NULL && i < n && !ok; i++) {
        if (strcmp(users[i], ANYONE) == 0) {
            ok = 1;
            continue;
        }
        pw = getpwnam(users[i]);
        ok = pw != NULL && pw->pw_uid == uid;
    }
    strlist_free(users);
    return ok;
}

static int peer_uid(int fd, uid_t *uid)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred))
        return -1;
    *uid = cred.uid;
    return 0;
}

/* Send status=ok or status=error reason=...; 0 ok, -1 write failed. */
static int send_status(int fd, const char *reason)
{
    struct evbuffer *buf = evbuffer_new();
    struct proto_out reply;
    int rc;

    if (buf == NULL)
        msg_fatal("out of memory");
    proto_begin(&reply, buf, reason ? &proto_error_reply : &proto_ok_reply);
    proto_put_str(&reply, MAIL_ATTR_STATUS, reason ? PROTO_STATUS_ERROR : PROTO_STATUS_OK);
    if (reason)
        proto_put_text(&reply, MAIL_ATTR_REASON, reason);
    proto_end(&reply);
    rc = attr_write_fd(fd, buf, (int)var_ipc_timeout);
    evbuffer_free(buf);
    return rc;
}

enum showq_req { REQ_LIST, REQ_JSON, REQ_COUNT, REQ_REPORT };

/* The request's kind; -1 with err when unknown. */
static int parse_request(const struct attr_msg *req, int *json, char *err, size_t errlen)
{
    const char *what = attr_get(req, MAIL_ATTR_REQ);
    const char *format = attr_get(req, MAIL_ATTR_FORMAT);
    int kind;

    if (strcmp(what, SHOWQ_REQ_LIST) == 0)
        kind = REQ_LIST;
    else if (strcmp(what, SHOWQ_REQ_JSON) == 0)
        kind = REQ_JSON;
    else if (strcmp(what, SHOWQ_REQ_COUNT) == 0)
        kind = REQ_COUNT;
    else if (strcmp(what, SHOWQ_REQ_REPORT) == 0)
        kind = REQ_REPORT;
    else {
        errtext_set(err, errlen, "unknown request \"%.40s\"", what);
        return -1;
    }
    *json = kind == REQ_JSON;
    if (format != NULL) {
        if (strcmp(format, SHOWQ_FORMAT_JSON) == 0)
            *json = 1;
        else if (strcmp(format, SHOWQ_FORMAT_TEXT) == 0)
            *json = 0;
        else {
            errtext_set(err, errlen, "unknown format \"%.40s\" (text or json)", format);
            return -1;
        }
    }
    if (kind == REQ_LIST && *json)
        kind = REQ_JSON;
    return kind;
}

static int run_request(int kind, int json, struct qindex *qi, struct showq_select *sel,
                       struct showq_out *out, char *err, size_t errlen)
{
    switch (kind) {
    case REQ_LIST:
        return showq_list(qi, sel, out, err, errlen);
    case REQ_JSON:
        return showq_json(qi, sel, out, err, errlen);
    case REQ_COUNT:
        return showq_count(qi, sel, out, err, errlen);
    default:
        return showq_report(qi, sel, json, out, err, errlen);
    }
}

/* Open the index and check that a read transaction works, so most index
 * problems are answered with status=error rather than mid-stream. */
static int open_index(struct qindex **qi, char *err, size_t errlen)
{
    char why[QINDEX_ERR_MAX];

    if (qindex_open(0, (size_t)var_queue_index_map_size, qi, why, sizeof(why)) < 0) {
        errtext_set(err, errlen, "queue index unavailable: %s", why);
        return -1;
    }
    if (qindex_read_begin(*qi, why, sizeof(why)) < 0) {
        errtext_set(err, errlen, "queue index unreadable: %s", why);
        qindex_close(*qi);
        *qi = NULL;
        return -1;
    }
    qindex_read_end(*qi);
    return 0;
}

/* Serve one client on fd (request already read); the caller closes fd. */
static void serve(int fd, const struct attr_msg *req, uid_t uid)
{
    char err[SHOWQ_ERR_MAX] = "";
    struct showq_select sel;
    struct qindex *qi = NULL;
    struct showq_out out;
    int kind, json = 0;

    if (proto_check(req, &proto_showq_request, err, sizeof(err)) < 0
        || (kind = parse_request(req, &json, err, sizeof(err))) < 0) {
        msg_warn("bad request from uid %ld: %s", (long)uid, err);
        send_status(fd, err);
        return;
    }
    if (showq_select_init(&sel, req, err, sizeof(err)) < 0
        || open_index(&qi, err, sizeof(err)) < 0) {
        showq_select_free(&sel);
        send_status(fd, err);
        return;
    }
    if (send_status(fd, NULL) == 0) {
        showq_out_init(&out, fd, (int)var_ipc_timeout);
        if (run_request(kind, json, qi, &sel, &out, err, sizeof(err)) < 0) {
            msg_warn("%s request from uid %ld: %s", attr_get(req, MAIL_ATTR_REQ), (long)uid, err);
            showq_out_str(&out, json ? "{\"error\": " : "showq: error: ");
            if (json)
                showq_out_json(&out, err, strlen(err));
            else
                showq_out_str(&out, err);
            showq_out_str(&out, json ? "}\n" : "\n");
        }
        showq_out_flush(&out);
        showq_out_free(&out);
    }
    if (sel.match_errors > 0)
        msg_warn("%lu pattern matches hit the match limit (counted as no match)",
                 sel.match_errors);
    showq_select_free(&sel);
    qindex_close(qi);
}

static void showq_accept(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    char err[SHOWQ_ERR_MAX];
    struct attr_msg req;
    uid_t uid;
    int timeout = var_ipc_timeout < REQUEST_TIMEOUT_MAX ? (int)var_ipc_timeout
                                                       : REQUEST_TIMEOUT_MAX;
    int rc;

    (void)addr;
    (void)addrlen;
    attr_msg_init(&req);
    if (peer_uid(fd, &uid) < 0) {
        msg_warn("cannot get the client's credentials: %s", strerror(errno));
    } else if ((rc = attr_read_fd(fd, &req, timeout, err, sizeof(err))) <= 0) {
        if (rc < 0)
            msg_warn("reading the request from uid %ld: %s", (long)uid, err);
    } else if (!peer_authorized(uid)) {
        msg_warn("uid %ld may not list the queue (authorized_mailq_users)", (long)uid);
        send_status(fd, SHOWQ_REASON_DENIED);
    } else {
        serve(fd, &req, uid);
    }
    attr_msg_free(&req);
    close(fd);
    server_session_end();
}

static void showq_init(struct event_base *base)
{
    (void)base;
    /* One client at a time, served synchronously: report busy meanwhile. */
    var_process_session_limit = 1;
}

static const char showq_help[] =
    "NAME\n"
    "    showq - Postern queue listing service\n"
    "\n"
    "SYNOPSIS\n"
    "    showq -c DIR -n SERVICE -t unix [-o NAME=VALUE]... [-v]\n"
    "\n"
    "DESCRIPTION\n"
    "    Answers postqueue's listing requests on public/showq from the queue\n"
    "    index (queue_directory/index), without opening queue files:\n"
    "    list (the mailq layout), json (JSON Lines as Postfix's postqueue -j),\n"
    "    count, and report (messages per queue, oldest message, top senders,\n"
    "    recipient domains and delay reasons, qshape-style age histograms),\n"
    "    each for all messages or a selection (queue, sender, recipient,\n"
    "    domain, reason as PCRE2 patterns; older, newer in seconds).\n"
    "\n"
    "    Only root, mail_owner and the users in authorized_mailq_users\n"
    "    (\"static:anyone\" for everybody) are served; others get \"permission\n"
    "    denied\". Each process serves one client at a time; master runs more\n"
    "    when all are busy. master.cf:\n"
    "\n"
    "        showq unix n - n - - showq\n"
    "\n"
    "    Parameters: authorized_mailq_users, queue_index_map_size,\n"
    "    ipc_timeout.\n";

static const struct server_def showq_server = {
    .name = "showq",
    .init = showq_init,
    .accept = showq_accept,
    .help = showq_help,
};

int main(int argc, char **argv)
{
    server_main(argc, argv, &showq_server);
}
