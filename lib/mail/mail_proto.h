/*
 * mail_proto.h - every conversation between Postern processes, declared once.
 *
 * All messages use the attribute format of attr.h. This header names every
 * attribute (MAIL_ATTR_*) and every fixed value (requests, statuses,
 * events, states), and declares each message: which attributes it must
 * have (exactly once), may have (at most once) and may repeat. The same
 * declaration serves both ends:
 *   - the sender writes through a proto_out (proto_begin, proto_put_*,
 *     proto_end), which refuses (msg_panic: a bug) an attribute the
 *     declaration does not list, a second copy of one that may not repeat,
 *     and a message that lacks a required one;
 *   - the receiver checks what arrived with proto_check(): a message with a
 *     missing, duplicated or unexpected attribute is a protocol error, not
 *     half understood.
 * To add an attribute: name it below, add it to the declaration in
 * mail_proto.c, then write and read it. Socket paths are relative to
 * queue_directory (every daemon chdirs there at start-up).
 *
 * Memory: the declarations are static constants; a proto_out holds a
 * pointer to the caller's evbuffer and owns nothing.
 */
#ifndef POSTERN_MAIL_PROTO_H
#define POSTERN_MAIL_PROTO_H

#include <stddef.h>

struct attr_msg;
struct evbuffer;

/* ---- sockets ---- */

#define PROTO_PRIVATE_DIR "private"
#define PROTO_PUBLIC_DIR  "public"
#define PROTO_CLEANUP_SOCKET "private/cleanup"
#define PROTO_QMGR_SOCKET    "private/qmgr"
#define PROTO_SMTP_SOCKET    "private/smtp"
#define PROTO_SHOWQ_SOCKET   "public/showq"

/* ---- attribute names ---- */

#define MAIL_ATTR_REQ         "req"          /* the request */
#define MAIL_ATTR_STATUS      "status"       /* reply: ok or error */
#define MAIL_ATTR_REASON      "reason"       /* why, for a person */
#define MAIL_ATTR_EVENT       "event"        /* a streamed event */
#define MAIL_ATTR_QUEUE_ID    "queue_id"
#define MAIL_ATTR_QUEUE_FILE  "queue_file"   /* "active/3/F/ID" */
#define MAIL_ATTR_SENDER      "sender"
#define MAIL_ATTR_RCPT        "rcpt"
#define MAIL_ATTR_CLIENT_NAME "client_name"
#define MAIL_ATTR_CLIENT_ADDR "client_addr"
#define MAIL_ATTR_CLIENT_PORT "client_port"
#define MAIL_ATTR_HELO        "helo"
#define MAIL_ATTR_PROTOCOL    "protocol"     /* SMTP or ESMTP */
#define MAIL_ATTR_BODY        "body"         /* 7BIT or 8BITMIME */
#define MAIL_ATTR_SIZE        "size"         /* SIZE= from MAIL FROM */
#define MAIL_ATTR_DATA        "data"         /* message content, binary */
#define MAIL_ATTR_DSN         "dsn"          /* status code "4.4.1" (dsn.h) */
#define MAIL_ATTR_COUNT       "count"
#define MAIL_ATTR_SITE        "site"
#define MAIL_ATTR_WATCH       "watch"
#define MAIL_ATTR_VERBOSE     "verbose"
#define MAIL_ATTR_ACTION      "action"
#define MAIL_ATTR_STATE       "state"
#define MAIL_ATTR_LINE        "line"         /* one line of an SMTP trace */
#define MAIL_ATTR_ADDRESS     "address"      /* a recipient address */
#define MAIL_ATTR_INDEX       "index"        /* a recipient's index in the file */
#define MAIL_ATTR_RELAY       "relay"        /* "host[addr]:port" or "none" */
#define MAIL_ATTR_REPLY       "reply"        /* the next hop's reply, or the reason */
#define MAIL_ATTR_NEXTHOP     "nexthop"
#define MAIL_ATTR_FORMAT      "format"
#define MAIL_ATTR_QUEUE       "queue"        /* a queue state name */
#define MAIL_ATTR_RECIPIENT   "recipient"    /* showq selections: PCRE2 patterns */
#define MAIL_ATTR_DOMAIN      "domain"
#define MAIL_ATTR_OLDER       "older"        /* seconds */
#define MAIL_ATTR_NEWER       "newer"

/* ---- values ---- */

#define PROTO_STATUS_OK    "ok"
#define PROTO_STATUS_ERROR "error"
#define PROTO_FLAG_ON      "1"               /* value of watch / verbose */
#define PROTO_RELAY_NONE   "none"            /* relay: no host was involved */

/*
 * cleanup: client smtpd, one connection per SMTP session, one transaction
 * at a time:
 *   -> req=open sender client_name client_addr client_port helo protocol
 *      body [size] rcpt...
 *   <- status=ok queue_id                     | status=error dsn reason
 *   -> req=data data#N                        (no reply; repeated)
 *   -> req=close                              (message complete)
 *   <- status=ok queue_id                     | status=error dsn reason
 *      status=ok is sent only after the file is flushed and in incoming/.
 *   -> req=abort                              (discard this transaction)
 *   <- status=ok
 */
#define CLEANUP_REQ_OPEN  "open"
#define CLEANUP_REQ_DATA  "data"
#define CLEANUP_REQ_CLOSE "close"
#define CLEANUP_REQ_ABORT "abort"
#define CLEANUP_BODY_7BIT "7BIT"
#define CLEANUP_BODY_8BIT "8BITMIME"

/*
 * qmgr, triggers: clients cleanup (new mail) and master (wakeup); no replies.
 *   -> req=new queue_id       a message just arrived in incoming/
 *   -> req=wakeup             scan the queue now
 *
 * qmgr, operator control, same socket (private/qmgr: only root and
 * mail_owner reach it), clients postqueue and postsuper; every request gets
 * a reply (status=error reason when it cannot be done):
 *   -> req=flush                      deliver all deferred mail now
 *   <- status=ok count                (count: messages made due)
 *   -> req=flush_site site            deliver now all mail with a pending
 *   <- status=ok count                recipient in domain `site`
 *   -> req=deliver_now queue_id [watch] [verbose]
 *        deliver this message now, from incoming/, deferred/ or active/
 *        (a held message: status=error, reason says to run postsuper -H)
 *   <- status=ok; with watch, then the attempt as it happens:
 *        event=trace line             (with verbose: each SMTP command/reply)
 *        event=rcpt address status dsn relay reply   (one per recipient)
 *        event=done queue_id state    (state: QMGR_DONE_*)
 *   -> req=withdraw queue_id action   action: hold, delete or requeue
 *        take back a message qmgr has in active/: cancel its delivery if
 *        one is in progress (before the final "." is sent), then move it to
 *        hold/, remove it, or move it to incoming/; update the index.
 *   <- status=ok state=done           qmgr did it
 *   <- status=ok state=not_active     qmgr does not have it: the caller acts
 */
#define QMGR_REQ_NEW         "new"
#define QMGR_REQ_WAKEUP      "wakeup"
#define QMGR_REQ_FLUSH       "flush"
#define QMGR_REQ_FLUSH_SITE  "flush_site"
#define QMGR_REQ_DELIVER_NOW "deliver_now"
#define QMGR_REQ_WITHDRAW    "withdraw"
#define QMGR_ACTION_HOLD     "hold"
#define QMGR_ACTION_DELETE   "delete"
#define QMGR_ACTION_REQUEUE  "requeue"
#define QMGR_WITHDRAW_DONE       "done"
#define QMGR_WITHDRAW_NOT_ACTIVE "not_active"
#define QMGR_EVENT_TRACE "trace"
#define QMGR_EVENT_RCPT  "rcpt"
#define QMGR_EVENT_DONE  "done"
/* event=rcpt status */
#define QMGR_STATUS_SENT     "sent"
#define QMGR_STATUS_DEFERRED "deferred"
#define QMGR_STATUS_BOUNCED  "bounced"
/* event=done state: where the message went when qmgr let it go */
#define QMGR_DONE_REMOVED  "removed"    /* nothing left to do: file removed */
#define QMGR_DONE_BOUNCED  "bounced"    /* every recipient bounced: file removed */
#define QMGR_DONE_DEFERRED "deferred"   /* deferred/, for a later attempt */
#define QMGR_DONE_HOLD     "hold"       /* hold/ (transport_maps or withdraw) */
#define QMGR_DONE_DELETED  "deleted"    /* removed by a withdraw */
#define QMGR_DONE_INCOMING "incoming"   /* requeued by a withdraw */
#define QMGR_DONE_ACTIVE   "active"     /* a withdraw could not move the file */

/*
 * showq: the queue listing service (public/showq: anyone may connect; showq
 * checks the peer's uid against authorized_mailq_users). One request per
 * connection:
 *   -> req=list|json|count|report [format=text|json]
 *      [queue] [sender] [recipient] [domain] [reason]   (PCRE2 patterns;
 *      queue: a state name) [older] [newer]            (seconds)
 *   <- status=ok, then the output itself as raw bytes until the server
 *      closes the connection
 *   <- status=error reason        (reason=SHOWQ_REASON_DENIED: the peer
 *                                  may not list the queue)
 */
#define SHOWQ_REQ_LIST   "list"
#define SHOWQ_REQ_JSON   "json"
#define SHOWQ_REQ_COUNT  "count"
#define SHOWQ_REQ_REPORT "report"
#define SHOWQ_FORMAT_TEXT "text"
#define SHOWQ_FORMAT_JSON "json"
#define SHOWQ_REASON_DENIED "permission denied"

/*
 * smtp: client qmgr; one delivery at a time per connection, the connection
 * is reused for the next delivery.
 *   -> req=deliver queue_id queue_file nexthop [verbose] rcpt...
 *        queue_file  path relative to queue_directory ("active/3/F/ID")
 *        nexthop     "[host]:port", "[1.2.3.4]:port" or "host:port"
 *        rcpt        "INDEX ADDRESS": the recipient's index in the queue file
 *   <- with verbose: event=trace line   each command sent and reply received
 *   <- event=rcpt index status dsn relay reply      one per recipient
 *        status      "sent", "deferred" or "bounced"
 *   <- event=done queue_id
 * If the connection breaks before event=done, qmgr treats every recipient
 * it has no event for as deferred ("delivery agent failed").
 */
#define SMTP_REQ_DELIVER     "deliver"
#define SMTP_EVENT_TRACE     "trace"
#define SMTP_EVENT_RCPT      "rcpt"
#define SMTP_EVENT_DONE      "done"
#define SMTP_STATUS_SENT     "sent"
#define SMTP_STATUS_DEFERRED "deferred"
#define SMTP_STATUS_BOUNCED  "bounced"

/*
 * master <-> child: the child inherits
 *   fd 3                 status pipe (write end): one byte per change,
 *                        MASTER_STAT_AVAIL or MASTER_STAT_BUSY
 *   fd 4 .. 4+N-1        listening sockets, N in $POSTERN_LISTEN_FDS
 * and is started as: DAEMON -c CONFIG_DIR -n SERVICE -t TYPE [-o n=v]... [-v]
 */
#define MASTER_STATUS_FD   3
#define MASTER_LISTEN_FD   4
#define MASTER_ENV_LISTEN_FDS "POSTERN_LISTEN_FDS"
#define MASTER_STAT_AVAIL  'A'
#define MASTER_STAT_BUSY   'B'

/* ---- message declarations ---- */

struct proto_msg {
    const char *name;                   /* "cleanup open", for messages */
    const char *const *required;        /* each exactly once */
    const char *const *optional;        /* each at most once */
    const char *const *repeated;        /* any number of times */
};

/* A reply that says no: status=error reason (every service). */
extern const struct proto_msg proto_error_reply;
/* A reply that says yes and nothing else: status=ok. */
extern const struct proto_msg proto_ok_reply;

extern const struct proto_msg proto_cleanup_open;
extern const struct proto_msg proto_cleanup_data;
extern const struct proto_msg proto_cleanup_close;
extern const struct proto_msg proto_cleanup_abort;
extern const struct proto_msg proto_cleanup_queued_reply;   /* status=ok queue_id */
extern const struct proto_msg proto_cleanup_error_reply;    /* status=error dsn reason */

extern const struct proto_msg proto_qmgr_new;
extern const struct proto_msg proto_qmgr_wakeup;
extern const struct proto_msg proto_qmgr_flush;
extern const struct proto_msg proto_qmgr_flush_site;
extern const struct proto_msg proto_qmgr_count_reply;       /* status=ok count */
extern const struct proto_msg proto_qmgr_deliver_now;
extern const struct proto_msg proto_qmgr_withdraw;
extern const struct proto_msg proto_qmgr_withdraw_reply;    /* status=ok state */
extern const struct proto_msg proto_qmgr_trace_event;
extern const struct proto_msg proto_qmgr_rcpt_event;
extern const struct proto_msg proto_qmgr_done_event;

extern const struct proto_msg proto_showq_request;

extern const struct proto_msg proto_smtp_deliver;
extern const struct proto_msg proto_smtp_trace_event;
extern const struct proto_msg proto_smtp_rcpt_event;
extern const struct proto_msg proto_smtp_done_event;

/*
 * Does msg fit its declaration? 0 yes; -1 with err ("cleanup open:
 * missing attribute: sender").
 */
int proto_check(const struct attr_msg *msg, const struct proto_msg *def,
                char *err, size_t errlen);
/*
 * A reply that says yes or no: status=ok checked against ok_def,
 * status=error against err_def. 1 a good yes; 0 a good no; -1 with err
 * for anything else (a missing or unknown status, a missing, extra or
 * repeated attribute).
 */
int proto_check_reply(const struct attr_msg *msg, const struct proto_msg *ok_def,
                      const struct proto_msg *err_def, char *err, size_t errlen);

/* ---- writing a declared message ---- */

#define PROTO_ATTRS_MAX 24              /* names in one declaration */

struct proto_out {
    struct evbuffer *buf;
    const struct proto_msg *def;
    unsigned char count[PROTO_ATTRS_MAX];   /* by position in the declaration */
};

void proto_begin(struct proto_out *out, struct evbuffer *buf, const struct proto_msg *def);
void proto_put_str(struct proto_out *out, const char *name, const char *value);
/* A text value that may hold CR, LF or NUL: each becomes a space, and it is
 * cut to PROTO_TEXT_MAX bytes (reasons, replies, trace lines). */
void proto_put_text(struct proto_out *out, const char *name, const char *value);
void proto_put_long(struct proto_out *out, const char *name, long value);
void proto_put_data(struct proto_out *out, const char *name, const void *data, size_t len);
/* Ends the message; every required attribute must have been put. */
void proto_end(struct proto_out *out);

#define PROTO_TEXT_MAX 1023

#endif
