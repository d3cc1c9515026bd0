/*
 * smtpd.h - internal interfaces of the SMTP server (smtpd/ only).
 *
 * One process runs one libevent loop and serves many sessions. Each session
 * is a struct smtpd_session that owns its client bufferevent, its envelope
 * (sender, recipients) and its connection to cleanup. The modules:
 *
 *   smtpd.c          main(), init, accept, graceful stop, the session list
 *   smtpd_session.c  the session state machine and client I/O
 *   smtpd_cmd.c      the verb table (when each verb is allowed, pipelining,
 *                    argument parser) and one handler per verb
 *   smtpd_policy.c   relay, size and recipient-limit decisions
 *   smtpd_data.c     the DATA phase: 354, content to cleanup, final reply
 *   smtpd_dot_reader.c  the DATA byte stream: end of data, dot-unstuffing,
 *                    bare CR/LF, size
 *   smtpd_cleanup.c  the connection to the cleanup service
 *   smtpd_reply.c    replies to the client, error counting, log lines
 *
 * States (enum smtpd_state):
 *
 *   CMD ------ DATA accepted -----> OPENING (client reads off; cleanup
 *    ^                                 |     connect + req=open)
 *    |                           ok: 354
 *    |                                 v
 *    +--- final reply <--- ENDING <-- DATA (client bytes -> dot reader ->
 *         (250/4xx/5xx)  (close/abort   cleanup req=data)
 *                         reply wait)
 *   any state --> CLOSING (flush the last reply) --> LINGER (SHUT_WR, read
 *                 and discard until EOF or a short timer) --> freed
 *
 * Within CMD, the dialogue's phase (enum smtpd_phase) decides which verbs
 * are allowed: GREETED (no HELO/EHLO yet) -> HELLO -> MAIL (a transaction
 * is open) -> back to HELLO after RSET, HELO/EHLO or the end of DATA.
 *
 * Memory: every string in a session is owned by it and freed with it.
 */
#ifndef POSTERN_SMTPD_H
#define POSTERN_SMTPD_H

#include <stddef.h>
#include <stdint.h>

#include "attr.h"
#include "smtp_cmd.h"
#include "smtpd_dot_reader.h"

struct bufferevent;
struct event;
struct event_base;

/* Content is forwarded to cleanup in req=data messages of at most this size. */
#define SMTPD_CHUNK_SIZE (64 * 1024)
/* Stop reading the client while this much is waiting to go to cleanup. */
#define SMTPD_CLEANUP_HIGH (256 * 1024)
/* ... and resume once it is down to this. */
#define SMTPD_CLEANUP_LOW (64 * 1024)
/* Stop reading commands while this many reply bytes wait for the client. */
#define SMTPD_OUTPUT_HIGH (64 * 1024)

enum smtpd_state {
    SMTPD_ST_CMD,       /* reading commands */
    SMTPD_ST_OPENING,   /* DATA: waiting for cleanup to open a queue file */
    SMTPD_ST_DATA,      /* reading message content */
    SMTPD_ST_ENDING,    /* waiting for cleanup's answer to close/abort */
    SMTPD_ST_CLOSING,   /* writing the last reply, then LINGER */
    SMTPD_ST_LINGER     /* write side shut; discarding input until EOF */
};

/*
 * Where the session is in the SMTP dialogue, derived from the envelope by
 * smtpd_session_phase() (so it cannot disagree with it); the verb table in
 * smtpd_cmd.c says which verbs each phase allows.
 */
enum smtpd_phase {
    SMTPD_PHASE_GREETED,    /* greeting sent; no HELO/EHLO yet */
    SMTPD_PHASE_HELLO,      /* HELO/EHLO accepted; no mail transaction */
    SMTPD_PHASE_MAIL,       /* MAIL accepted: a transaction is open */
    SMTPD_PHASE_COUNT       /* how many phases; not a phase */
};

/* What the client did last, for "timeout after X" log lines. */
enum smtpd_last_event {
    SMTPD_LAST_CONNECT,         /* nothing yet: "CONNECT" */
    SMTPD_LAST_COMMAND,         /* a command line: its verb (last_verb) */
    SMTPD_LAST_END_OF_MESSAGE   /* the end of a message's content */
};

/* What we asked cleanup and wait to hear about. */
enum smtpd_cleanup_wait {
    SMTPD_CLEANUP_NONE,
    SMTPD_CLEANUP_OPEN,
    SMTPD_CLEANUP_CLOSE,
    SMTPD_CLEANUP_ABORT
};

/* The connection to cleanup (smtpd_cleanup.c); one per session. */
struct smtpd_cleanup {
    struct bufferevent *bev;    /* NULL when not connected */
    struct event *retry;        /* connect retry timer */
    int attempts;               /* connect attempts for this open */
    int give_up;                /* the retry timer reports failure */
    int last_errno;             /* why the last connect failed */
    int reopened;               /* this open was sent again on a new connection */
    enum smtpd_cleanup_wait wait;
    struct attr_msg reply;      /* reply being read */
};

struct smtpd_session {
    struct smtpd_session *prev, *next;  /* smtpd.c session list */
    struct bufferevent *bev;
    struct event *linger_timer;
    enum smtpd_state state;

    /* Client identity. */
    char addr[64];
    int port;
    char name[16];              /* "unknown": no reverse DNS (see smtpd.c) */
    char namaddr[96];           /* "unknown[127.0.0.1]" for logs */

    /* Session. */
    char *helo;                 /* NULL until HELO/EHLO */
    const char *protocol;       /* "SMTP" or "ESMTP" */
    enum smtpd_last_event last_event;   /* for "timeout after X" */
    enum smtp_verb last_verb;   /* the last command's verb */
    int discarding;             /* skipping the rest of an over-long line */
    unsigned errors;            /* error replies toward the hard limit */
    int last_code;              /* code of the last reply sent */
    unsigned verb_total[SMTP_VERB_COUNT];   /* commands per verb ... */
    unsigned verb_ok[SMTP_VERB_COUNT];      /* ... and those that succeeded */

    /* Transaction. */
    char *sender;               /* NULL: no MAIL yet; "" null sender */
    char **rcpts;
    size_t n_rcpts, rcpts_cap;
    int body_8bit;              /* BODY=8BITMIME */
    int has_size;
    uint64_t size;              /* MAIL SIZE= */
    char queue_id[64];          /* from cleanup's open reply */

    /* DATA phase. */
    struct smtpd_dot_reader dot_reader;
    char *chunk;                /* SMTPD_CHUNK_SIZE bytes, allocated at DATA */
    size_t chunk_len;
    int cleanup_lost;           /* cleanup went away during DATA */
    const char *abort_reply;    /* reply to send once cleanup confirms abort */

    struct smtpd_cleanup cleanup;
};

/* ---- smtpd.c ---- */
void smtpd_list_remove(struct smtpd_session *s);

/* ---- smtpd_session.c ---- */
/* Take a freshly accepted client (owns fd); sends the greeting. */
struct smtpd_session *smtpd_session_new(int fd, const char *addr, int port);
/* Send the last reply (already queued) and end the session. */
void smtpd_session_close(struct smtpd_session *s);
/* Re-evaluate whether to read from the client (state, back-pressure). */
void smtpd_session_update_read(struct smtpd_session *s);
/* Run the command loop over input that is already buffered. */
void smtpd_session_resume(struct smtpd_session *s);
/* Free a closing session once its output is flushed (top-level only). */
void smtpd_session_settle(struct smtpd_session *s);
/* Is client input waiting (buffered or in the socket)? */
int smtpd_session_input_pending(struct smtpd_session *s);
/* The graceful stop has begun: end this session if it is idle. */
void smtpd_session_stop(struct smtpd_session *s);
/* Is a mail transaction in progress (MAIL given)? */
int smtpd_session_in_transaction(const struct smtpd_session *s);
/* Where the session is in the dialogue (HELO/EHLO given, MAIL given). */
enum smtpd_phase smtpd_session_phase(const struct smtpd_session *s);

/* ---- smtpd_cmd.c ---- */
/* Execute one command line (without its line ending; any bytes). */
void smtpd_cmd_line(struct smtpd_session *s, const char *line, size_t len);
/* The per-verb counters of the disconnect log line, " ehlo=1 ... commands=N",
 * into buf (always NUL-terminated, cut short when it does not fit). */
void smtpd_cmd_counters(const struct smtpd_session *s, char *buf, size_t len);
/* Forget the envelope (RSET, HELO, after DATA). */
void smtpd_transaction_reset(struct smtpd_session *s);

/* ---- smtpd_policy.c ---- */
void smtpd_policy_init(void);
/* 1 when the client may relay to `rcpt`, 0 when not, -1 when a mynetworks or
 * relay_domains table could not be read (answer 451 4.3.0). */
int smtpd_policy_relay_ok(const struct smtpd_session *s, const char *rcpt);
/* 1 when a declared SIZE is acceptable. */
int smtpd_policy_size_ok(uint64_t size);
/* 1 when one more recipient is allowed. */
int smtpd_policy_rcpt_room(const struct smtpd_session *s);

/* ---- smtpd_data.c ---- */
/* DATA was accepted: open the queue file with cleanup (async). */
void smtpd_data_begin(struct smtpd_session *s);
/* Cleanup opened the queue file; send 354. */
void smtpd_data_opened(struct smtpd_session *s, const char *queue_id);
/* Cleanup could not open (or the connection failed): reply and go on. */
void smtpd_data_open_failed(struct smtpd_session *s, const char *dsn, const char *reason);
/* Content from the client is buffered (state DATA). */
void smtpd_data_input(struct smtpd_session *s);
/* Cleanup answered close/abort (ok==1: status=ok). */
void smtpd_data_finished(struct smtpd_session *s, int ok, const char *queue_id,
                         const char *dsn, const char *reason);
/* Cleanup connection broke during DATA (state DATA). */
void smtpd_data_cleanup_lost(struct smtpd_session *s);
void smtpd_data_free(struct smtpd_session *s);

/* ---- smtpd_cleanup.c ---- */
/* Connect if needed and send req=open; the answer arrives via smtpd_data_*. */
void smtpd_cleanup_open(struct smtpd_session *s);
void smtpd_cleanup_data(struct smtpd_session *s, const char *buf, size_t len);
void smtpd_cleanup_close(struct smtpd_session *s);
void smtpd_cleanup_abort(struct smtpd_session *s);
/* Bytes queued toward cleanup (for flow control). */
size_t smtpd_cleanup_backlog(const struct smtpd_session *s);
/* Drop the connection (session end, or protocol error). */
void smtpd_cleanup_disconnect(struct smtpd_session *s);

/* ---- smtpd_reply.c ---- */
/* Send one reply line (CRLF added); counts 4xx/5xx toward the error limit. */
void smtpd_reply(struct smtpd_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Send a multi-line reply: lines[0..n-1] with code, '-' on all but the last. */
void smtpd_reply_lines(struct smtpd_session *s, int code, const char *const *lines, size_t n);
/* Log "QID: reject: VERB from name[addr]: <reply>; from=<> to=<> proto= helo=<>".
 * `from` NULL: the transaction's sender; `rcpt` NULL: no to=<>. */
void smtpd_log_reject(const struct smtpd_session *s, const char *verb, const char *reply,
                      const char *from, const char *rcpt);
/* Log "disconnect from name[addr] ehlo=1 ... commands=N". */
void smtpd_log_disconnect(const struct smtpd_session *s);

/* After a stop's grace period: idle sessions are closed with 421 (smtpd.c). */
int smtpd_grace_over(void);

#endif
