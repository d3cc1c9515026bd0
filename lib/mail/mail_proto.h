/*
 * mail_proto.h - every conversation between Postern processes, declared once.
 *
 * All messages use the attribute format of attr.h. Socket paths are relative
 * to queue_directory (every daemon chdirs there at start-up). For each
 * request the attribute lists below are what attr_check() enforces: a
 * message with a missing or unexpected attribute is a protocol error.
 */
#ifndef POSTERN_MAIL_PROTO_H
#define POSTERN_MAIL_PROTO_H

/* Socket directories inside queue_directory. */
#define PROTO_PRIVATE_DIR "private"
#define PROTO_PUBLIC_DIR  "public"

/* Service socket paths (private/<service name from master.cf>). */
#define PROTO_CLEANUP_SOCKET "private/cleanup"
#define PROTO_QMGR_SOCKET    "private/qmgr"
#define PROTO_SMTP_SOCKET    "private/smtp"

/* Replies */
#define PROTO_STATUS_OK    "ok"
#define PROTO_STATUS_ERROR "error"

/*
 * cleanup: client smtpd, one connection per SMTP session, one transaction
 * at a time:
 *
 *   -> req=open sender client_name client_addr client_port helo protocol
 *      body [size] rcpt...
 *   <- status=ok queue_id                    | status=error dsn reason
 *   -> req=data data#N                        (no reply; repeated)
 *   -> req=close                              (message complete)
 *   <- status=ok queue_id                    | status=error dsn reason
 *      status=ok is sent only after the file is flushed and in incoming/.
 *   -> req=abort                              (discard this transaction)
 *   <- status=ok
 */
#define CLEANUP_REQ_OPEN  "open"
#define CLEANUP_REQ_DATA  "data"
#define CLEANUP_REQ_CLOSE "close"
#define CLEANUP_REQ_ABORT "abort"

/*
 * qmgr: clients cleanup (new mail) and master (wakeup); no replies.
 *   -> req=new queue_id       a message just arrived in incoming/
 *   -> req=wakeup             scan the queue now
 *
 * qmgr control, same socket (private/qmgr: only root and mail_owner reach
 * it), clients postqueue and postsuper; every request gets a reply:
 *   -> req=flush                      deliver all deferred mail now
 *   <- status=ok count                (count: messages made due)
 *   -> req=flush_site site            deliver now all mail with a pending
 *   <- status=ok count                recipient in domain `site`
 *   -> req=deliver_now queue_id [watch] [verbose]
 *        deliver this message now, from incoming/, deferred/ or active/
 *        (a held message: status=error, reason says to run postsuper -H)
 *   <- without watch: status=ok | status=error reason
 *   <- with watch: status=ok, then the attempt as it happens:
 *        event=trace line             (with verbose: each SMTP command/reply)
 *        event=rcpt address status dsn relay reply   (one per recipient)
 *        event=done queue_id state    (state: removed, deferred, ...)
 *   -> req=withdraw queue_id action   action: hold, delete or requeue
 *        take back a message qmgr has in active/: cancel its delivery if
 *        one is in progress (before the final "." is sent), then move it to
 *        hold/, remove it, or move it to incoming/; update the index.
 *   <- status=ok state=done           qmgr did it
 *   <- status=ok state=not_active     qmgr does not have it: the caller acts
 *   <- status=error reason
 */
#define QMGR_REQ_NEW    "new"
#define QMGR_REQ_WAKEUP "wakeup"
#define QMGR_REQ_FLUSH       "flush"
#define QMGR_REQ_FLUSH_SITE  "flush_site"
#define QMGR_REQ_DELIVER_NOW "deliver_now"
#define QMGR_REQ_WITHDRAW    "withdraw"
#define QMGR_ACTION_HOLD    "hold"
#define QMGR_ACTION_DELETE  "delete"
#define QMGR_ACTION_REQUEUE "requeue"
#define QMGR_EVENT_TRACE "trace"
#define QMGR_EVENT_RCPT  "rcpt"
#define QMGR_EVENT_DONE  "done"

/*
 * showq: the queue listing service (public/showq: anyone may connect; showq
 * checks the peer's uid against authorized_mailq_users). One request per
 * connection:
 *   -> req=list|json|count|report [format=text|json]
 *      [queue] [sender] [recipient] [domain] [reason]   (PCRE2 patterns;
 *      queue: a state name) [older] [newer]            (seconds)
 *   <- status=ok, then the output itself as raw bytes until the server
 *      closes the connection
 *   <- status=error reason
 */
#define PROTO_SHOWQ_SOCKET "public/showq"
#define SHOWQ_REQ_LIST   "list"
#define SHOWQ_REQ_JSON   "json"
#define SHOWQ_REQ_COUNT  "count"
#define SHOWQ_REQ_REPORT "report"

/*
 * smtp: client qmgr; one delivery at a time per connection, the connection
 * is reused for the next delivery.
 *
 *   -> req=deliver queue_id queue_file nexthop [verbose] rcpt...
 *   <- with verbose: event=trace line   each command sent and reply received
 *        queue_file  path relative to queue_directory ("active/3/F/ID")
 *        nexthop     "[host]:port", "[1.2.3.4]:port" or "host:port"
 *        rcpt        "INDEX ADDRESS": the recipient's index in the queue file
 *   <- event=rcpt index status dsn relay reply      one per recipient
 *        status      "sent", "deferred" or "bounced"
 *   <- event=done queue_id
 *
 * If the connection breaks before event=done, qmgr treats every recipient
 * it has no event for as deferred ("delivery agent failed").
 */
#define SMTP_REQ_DELIVER    "deliver"
#define SMTP_EVENT_RCPT     "rcpt"
#define SMTP_EVENT_DONE     "done"
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

#endif
