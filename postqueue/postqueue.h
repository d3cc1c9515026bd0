/*
 * postqueue.h - postqueue's modules:
 *
 *   postqueue.c   options, --help, configuration, privileges, main()
 *   pq_list.c     -p -j -n -R: a request to showq, its output to stdout
 *   pq_control.c  -f -s -i: requests to qmgr, and watching a delivery
 *   pq_conn.c     connecting, sending one request, reading replies
 *
 * Exit statuses (also in --help): PQ_EXIT_*.
 */
#ifndef POSTERN_POSTQUEUE_H
#define POSTERN_POSTQUEUE_H

#include <stdio.h>
#include <sysexits.h>

#include "attr.h"
#include "mail_proto.h"
#include "tool.h"

#define PQ_EXIT_OK       0
#define PQ_EXIT_FAIL     TOOL_EXIT_FAIL     /* not delivered, refused, errors */
#define PQ_EXIT_USAGE    TOOL_EXIT_USAGE
#define PQ_EXIT_DOWN     EX_UNAVAILABLE     /* 69: the mail system is down */
#define PQ_EXIT_NOPERM   EX_NOPERM          /* 77: permission denied */

/* How long to wait for the first reply of a service. */
#define PQ_REPLY_TIMEOUT 60

struct pq_select {
    const char *queue, *sender, *recipient, *domain, *reason;
    long older, newer;          /* seconds, -1 when not given */
};

/* --- pq_conn.c --- */

struct pq_conn {
    int fd;
    struct evbuffer *in;        /* received, not yet parsed */
    struct evbuffer *out;       /* the request, until pq_send */
};

/*
 * Connect to a service socket; on failure exit with a message that starts
 * with `what` ("Queue report unavailable", "Cannot flush mail queue"):
 * "- mail system is down" (PQ_EXIT_DOWN) or permission denied
 * (PQ_EXIT_NOPERM, with `perm_hint`).
 */
void pq_connect(struct pq_conn *c, const char *path, const char *what, const char *perm_hint);
void pq_close(struct pq_conn *c);
/* Send the request written into c->out (proto_begin ... proto_end);
 * on failure exit 1 with "WHAT: cannot send the request". */
void pq_send(struct pq_conn *c, const char *what);
/* Read one message. 1 complete, 0 the peer closed before any byte,
 * -1 error or timeout (err filled). */
int pq_read(struct pq_conn *c, struct attr_msg *msg, int timeout, char *err, size_t errlen);
/*
 * Read the service's first reply into `reply` and check it against its
 * declaration: `ok_def` for status=ok, proto_error_reply for status=error.
 * Returns 1 for status=ok, 0 for status=error (the reason is in reply);
 * anything else exits 1 with "WHAT: ..." naming `peer` ("the queue
 * manager").
 */
int pq_read_reply(struct pq_conn *c, struct attr_msg *reply, const struct proto_msg *ok_def,
                  const char *what, const char *peer);

/* --- pq_list.c --- */

/* kind: a SHOWQ_REQ_*; json for the report. Returns the exit status. */
int pq_list(const char *kind, int json, const struct pq_select *sel);

/* --- pq_control.c --- */

int pq_flush(void);
int pq_flush_site(const char *site);
int pq_deliver(const char *queue_id, int watch, int verbose);

#endif
