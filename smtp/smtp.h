/*
 * smtp.h - the smtp delivery agent's internal interfaces (smtp/ only).
 *
 * One process serves many qmgr connections (private/smtp) at once; each
 * connection carries one delivery request at a time (mail_proto.h). A
 * delivery is one message to one nexthop for a list of recipients:
 *
 *   smtp.c          main(), qmgr connections, requests, the per-recipient
 *                   results (log line + event=rcpt), event=done
 *   smtp_connect.c  nexthop parsing, resolution (mx_resolve.c: MX hosts,
 *                   addresses, loop detection, on lib/dns), non-blocking
 *                   connects, trying each address in turn
 *   mx_resolve.c    next hop -> addresses to try (shared with postroute)
 *   smtp_session.c  the SMTP client state machine on one connection
 *   smtp_cache.c    idle sessions kept for reuse, keyed by nexthop
 *   smtp_content.c  streaming the message from the queue file, dot-stuffed
 *
 * Ownership: a qmgr connection (struct smtp_qmgr_conn, smtp.c) owns at most
 * one struct smtp_delivery; a delivery owns its attempt (resolution/connect
 * state) and, while one is attached, its session. A session without a delivery is owned by the cache or is
 * finishing on its own (RSET before caching, QUIT before closing) and frees
 * itself. Nothing here is shared between deliveries except through the cache.
 */
#ifndef POSTERN_SMTP_H
#define POSTERN_SMTP_H

#include <stddef.h>
#include <sys/time.h>
#include <sys/types.h>

#include "dsn.h"
#include "mail_proto.h"
#include "queue_file.h"
#include "smtp_reply.h"

struct bufferevent;
struct event;
struct event_base;
struct evbuffer;
struct smtp_qmgr_conn;
struct smtp_attempt;
struct smtp_sess;

#define SMTP_HOST_MAX 256       /* host names, NUL included */
#define SMTP_ADDR_MAX 64        /* textual IP address, NUL included */
#define SMTP_RELAY_MAX (SMTP_HOST_MAX + SMTP_ADDR_MAX + 16)
/* Reasons and replies end up in qmgr's event=rcpt reply attribute: buffers
 * for them hold PROTO_TEXT_MAX + 1 bytes; status codes DSN_SIZE (dsn.h). */

/* Final state of one recipient in this attempt. */
enum smtp_rcpt_status {
    SMTP_RCPT_PENDING = 0,
    SMTP_RCPT_SENT,
    SMTP_RCPT_DEFERRED,
    SMTP_RCPT_BOUNCED
};

struct smtp_rcpt {
    long index;                 /* the recipient's index in the queue file */
    char *address;
    enum smtp_rcpt_status status;
    int in_tx;                  /* RCPT TO is (to be) sent in this transaction */
    int accepted;               /* RCPT TO answered 2xx */
    char dsn[DSN_SIZE];
    char *reason;               /* reply or failure text (owned) */
    char relay[SMTP_RELAY_MAX]; /* where the reason came from, or "none" */
};

struct smtp_delivery {
    struct smtp_qmgr_conn *client;  /* the qmgr connection that asked */
    char *queue_id;
    char *nexthop;
    int verbose;                /* log the conversation at info level */
    int fd;                     /* queue file, read-only; -1 when not open */
    struct queue_file qf;       /* envelope; valid when fd >= 0 */
    struct smtp_rcpt *rcpts;
    size_t n_rcpts;
    size_t n_pending;           /* recipients still SMTP_RCPT_PENDING */
    int reused;                 /* the current session came from the cache */
    int retried;                /* a failed cached session was replaced once */
    /* Times for delay= and delays= (see smtp.c). */
    struct timeval t_request, t_setup, t_ready;
    struct smtp_attempt *attempt;
    struct smtp_sess *sess;
};

/* ---- smtp.c: results ---- */

/* Give recipient i its final status for this attempt (first call wins). */
void smtp_delivery_rcpt_done(struct smtp_delivery *d, size_t i,
                             enum smtp_rcpt_status status, const char *dsn,
                             const char *reason, const char *relay);
/* Every recipient still pending gets this status. */
void smtp_delivery_fail_pending(struct smtp_delivery *d, enum smtp_rcpt_status status,
                                const char *dsn, const char *reason, const char *relay);
/*
 * The attempt is over: every recipient still pending is deferred
 * (DSN_TEMP_SYSTEM), each recipient is logged and reported to qmgr,
 * event=done is sent, and `d` is freed. The caller must have detached d->sess and d->attempt.
 */
void smtp_delivery_finish(struct smtp_delivery *d);
/*
 * A conversation line (dir ">" sent, "<" received): logged at info level and
 * sent to qmgr as event=trace line="DIR TEXT" when the delivery asked for
 * verbose; logged at debug level with -v.
 */
void smtp_delivery_trace(const struct smtp_delivery *d, const char *dir, const char *relay,
                         const char *text, size_t len);
/* A connection event ("connecting to host[addr]:port"), likewise. */
void smtp_delivery_note(const struct smtp_delivery *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* snprintf that truncates silently (reasons and names are bounded). */
void smtp_fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Seconds between two times, as a double. */
double smtp_elapsed(const struct timeval *from, const struct timeval *to);

/* ---- smtp_connect.c ---- */

/*
 * Start the resolver (lib/dns with dns_servers, dns_timeout, dns_tries)
 * and loop detection (myhostname, interfaces, proxy_interfaces) on base.
 * A failure is logged; deliveries that need DNS are then deferred (DSN_CONFIG).
 */
void smtp_connect_init(struct event_base *base);

/*
 * Find an SMTP session for d: resolve d->nexthop (MX hosts unless
 * bracketed; never for an address literal), connect to each address in
 * turn, and hand the first connected socket to smtp_session_connected().
 * Never calls back before returning. An undeliverable destination (null
 * MX, NXDOMAIN, a loop) bounces the pending recipients; when every address
 * failed they are deferred with the last reason; either way the delivery
 * is finished.
 */
void smtp_connect_start(struct smtp_delivery *d);
/*
 * The session on the current address failed before a transaction could
 * start (bad greeting, EHLO/HELO refused, lost connection, timeout): note
 * why (dsn, reason, relay) and try the next address, or finish.
 * The session must already be detached from d.
 */
void smtp_connect_next(struct smtp_delivery *d, const char *dsn, const char *reason,
                       const char *relay);
/* Abandon resolution/connection in progress and free d->attempt. */
void smtp_connect_cancel(struct smtp_delivery *d);

/* ---- smtp_session.c ---- */

/*
 * A TCP connection to host[addr]:port is up (bev is connected and owned by
 * the new session): read the greeting, EHLO/HELO, then start d's
 * transaction.
 */
void smtp_session_connected(struct smtp_delivery *d, struct bufferevent *bev,
                            const char *host, const char *addr, int port);
/* Start d's transaction on a session taken from the cache. */
void smtp_session_reuse(struct smtp_sess *s, struct smtp_delivery *d);
/* Detach and close the session of an abandoned delivery (no QUIT). */
void smtp_session_abort(struct smtp_sess *s);
/*
 * Has the final ".\r\n" of the current transaction left this process (it
 * is in the kernel or on the wire)? Until then, closing the connection
 * makes the server discard the message.
 */
int smtp_session_dot_sent(const struct smtp_sess *s);
/* An idle session: send QUIT, wait for the reply or EOF, free itself. */
void smtp_session_quit(struct smtp_sess *s);
/* At shutdown: write QUIT without waiting and free the session now. */
void smtp_session_quit_now(struct smtp_sess *s);
/* Seconds since the session was opened (for the reuse time limit). */
double smtp_session_age(const struct smtp_sess *s);

/* ---- smtp_cache.c ---- */

/*
 * Keep an idle session for reuse by a later delivery to `nexthop` (the
 * cache takes ownership and copies the key). It is closed with QUIT after
 * smtp_connection_cache_time_limit idle seconds, or refused (QUIT now) when
 * caching is off, when it is older than smtp_connection_reuse_time_limit or
 * when the daemon is stopping.
 */
void smtp_cache_put(struct smtp_sess *s, const char *nexthop);
/* Take the most recently cached session for nexthop, or NULL. */
struct smtp_sess *smtp_cache_take(const char *nexthop);
/* A cached session died (EOF, error): forget it; the caller frees it. */
void smtp_cache_remove(struct smtp_sess *s);
/* At shutdown: QUIT and free every cached session. */
void smtp_cache_flush(void);

/* Cache bookkeeping carried by every session (used by smtp_cache.c only). */
struct smtp_cache_link {
    int cached;
    char *key;
    unsigned bucket;
    struct smtp_sess *prev, *next;
    struct event *timer;        /* idle expiry */
};
struct smtp_cache_link *smtp_session_cache_link(struct smtp_sess *s);

/* ---- smtp_content.c ---- */

/*
 * Streaming state for one message body: bytes [offset, offset+size) of the
 * queue file, sent with dot-stuffing (a '.' that starts a line is doubled;
 * a line starts at the beginning and after every LF), followed by CRLF when
 * the content does not end with one, then ".\r\n".
 */
struct smtp_content {
    int fd;
    off_t next;                 /* next file offset to read */
    off_t end;                  /* offset just after the content */
    int at_bol;                 /* the last byte sent was LF (or none yet) */
    char last[2];               /* the last two content bytes sent */
    off_t sent;                 /* content bytes consumed so far */
    int finished;               /* ".\r\n" has been appended */
};

void smtp_content_init(struct smtp_content *c, int fd, off_t offset, off_t size);
/*
 * Append to `out` until it holds at least `high` bytes or the content and
 * the final ".\r\n" are in. Returns 1 when finished, 0 when more remains,
 * -1 on a read error or a file shorter than announced (err filled).
 */
int smtp_content_fill(struct smtp_content *c, struct evbuffer *out, size_t high,
                      char *err, size_t errlen);

#endif
