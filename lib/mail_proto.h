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
 */
#define QMGR_REQ_NEW    "new"
#define QMGR_REQ_WAKEUP "wakeup"

/*
 * smtp: client qmgr; one delivery at a time per connection, the connection
 * is reused for the next delivery.
 *
 *   -> req=deliver queue_id queue_file nexthop [verbose] rcpt...
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
