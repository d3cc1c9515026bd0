/*
 * delivery_log.h - the one delivery log line.
 *
 * Every delivery outcome for a recipient, whoever decides it (the smtp
 * delivery agent after talking to the next hop, or qmgr when it defers,
 * bounces or expires a recipient itself), is logged by delivery_log() as
 * one line with the same fields in the same order:
 *
 *   ID: from=<S>, to=<R>, [orig_to=<O>, ]relay=H, delay=T, delays=a/b/c/d,
 *       size=N, message-id=<M>, dsn=X.Y.Z, status=STATUS (TEXT)
 *
 *   delay   seconds from arrival to this outcome (two decimals, "0" under
 *           5 ms);
 *   delays  a: before the delivery agent got the job (queue time),
 *           b: in the delivery agent before connecting (routing),
 *           c: connection set-up (DNS, connect, greeting, EHLO),
 *           d: transmission (MAIL to the end of DATA);
 *           an outcome qmgr decides itself has all of it in a;
 *   relay   "host[address]:port", or "none";
 *   status  sent, deferred, bounced or expired;
 *   TEXT    the next hop's reply or the reason, as received.
 * To add a field: add it to struct delivery_log_entry and to
 * delivery_log_format(), and fill it in where entries are made.
 *
 * Memory: the entry's strings belong to the caller; nothing is kept.
 */
#ifndef POSTERN_DELIVERY_LOG_H
#define POSTERN_DELIVERY_LOG_H

#include <sys/time.h>

struct strbuf;

#define DELIVERY_STATUS_SENT     "sent"
#define DELIVERY_STATUS_DEFERRED "deferred"
#define DELIVERY_STATUS_BOUNCED  "bounced"
#define DELIVERY_STATUS_EXPIRED  "expired"

struct delivery_log_entry {
    const char *queue_id;
    const char *sender;             /* "" for the null sender */
    const char *recipient;
    const char *orig_recipient;     /* before rewriting, or NULL */
    const char *relay;              /* NULL: "none" */
    long long size;                 /* content bytes */
    const char *message_id;         /* with or without <>, or NULL / "" */
    const char *dsn;
    const char *status;             /* DELIVERY_STATUS_* */
    const char *text;
    /* Times: arrival, then the ends of the a, b, c and d delays. A time
     * left zero takes the one before it (so b, c, d are 0). */
    struct timeval arrival;
    struct timeval agent_start;     /* end of a */
    struct timeval connect_start;   /* end of b */
    struct timeval data_start;      /* end of c */
    struct timeval done;            /* end of d: the outcome (zero: now) */
};

/* Log the line (msg_info). */
void delivery_log(const struct delivery_log_entry *entry);
/* The line without the log's prefix, appended to out (for tests and traces). */
void delivery_log_format(const struct delivery_log_entry *entry, struct strbuf *out);
/* Seconds as a delay field: "0" under 5 ms, else two decimals. */
void delivery_log_delay(double seconds, char *buf, size_t len);

#endif
