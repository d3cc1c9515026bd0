/*
 * smtpd_reply.c - replies to the SMTP client and smtpd's log lines.
 *
 * Every reply goes out through smtpd_reply() or smtpd_reply_lines(), which
 * append CRLF, remember the code (for the per-command statistics) and count
 * 4xx/5xx replies toward smtpd_hard_error_limit. Reply text never holds CR
 * or LF: anything the client sent and we echo (addresses) has been checked
 * by the command parser to be printable ASCII, and the formatter replaces
 * any control character anyway.
 *
 * Log lines follow Postfix so that an operator's habits carry over:
 *   NOQUEUE: reject: RCPT from unknown[1.2.3.4]: 554 5.7.1 <a@b>: Relay
 *       access denied; from=<s> to=<a@b> proto=ESMTP helo=<h>
 *   disconnect from unknown[1.2.3.4] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4
 * (the counters come from smtpd_cmd.c, in the order of its verb table).
 *
 * Memory: nothing is kept; replies are copied into the client's output.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "msg.h"
#include "smtpd.h"

#define REPLY_MAX 1024

static void reply_sanitize(char *text)
{
    for (char *p = text; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

static void reply_account(struct smtpd_session *s, const char *text)
{
    int code = 0;

    if (text[0] >= '1' && text[0] <= '5' && text[1] >= '0' && text[1] <= '9'
        && text[2] >= '0' && text[2] <= '9')
        code = (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
    s->last_code = code;
    if (code >= 400)
        s->errors++;
}

void smtpd_reply(struct smtpd_session *s, const char *fmt, ...)
{
    char text[REPLY_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text) - 2, fmt, ap);
    va_end(ap);
    reply_sanitize(text);
    reply_account(s, text);
    msg_debug("> %s: %s", s->namaddr, text);
    strcat(text, "\r\n");
    bufferevent_write(s->bev, text, strlen(text));
}

void smtpd_reply_lines(struct smtpd_session *s, int code, const char *const *lines, size_t n)
{
    char text[REPLY_MAX];

    for (size_t i = 0; i < n; i++) {
        snprintf(text, sizeof(text) - 2, "%03d%c%s", code, i + 1 < n ? '-' : ' ', lines[i]);
        reply_sanitize(text);
        if (i == 0)
            reply_account(s, text);
        msg_debug("> %s: %s", s->namaddr, text);
        strcat(text, "\r\n");
        bufferevent_write(s->bev, text, strlen(text));
    }
}

void smtpd_log_reject(const struct smtpd_session *s, const char *verb, const char *reply,
                      const char *from, const char *rcpt)
{
    char to[SMTP_PATH_MAX + 8] = "";

    if (rcpt != NULL)
        snprintf(to, sizeof(to), " to=<%s>", rcpt);
    msg_info("%s: reject: %s from %s: %s; from=<%s>%s proto=%s helo=<%s>",
             s->queue_id[0] ? s->queue_id : "NOQUEUE", verb, s->namaddr, reply,
             from ? from : s->sender ? s->sender : "", to, s->protocol, s->helo ? s->helo : "");
}

void smtpd_log_disconnect(const struct smtpd_session *s)
{
    char counters[512];

    smtpd_cmd_counters(s, counters, sizeof(counters));
    msg_info("disconnect from %s%s", s->namaddr, counters);
}
