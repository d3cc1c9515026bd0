/*
 * smtpd_cmd.c - one handler per SMTP command.
 *
 * smtpd_session.c parses a command line with smtp_cmd_parse() and passes
 * the result here. Each handler checks the command's place in the dialogue
 * (503 5.5.1 out of order), asks smtpd_policy.c where policy is involved,
 * updates the envelope and sends exactly one reply - except DATA, which
 * starts the asynchronous DATA phase (smtpd_data.c) when it is acceptable.
 *
 * Offered: EHLO (PIPELINING, SIZE, ENHANCEDSTATUSCODES, 8BITMIME), HELO,
 * MAIL, RCPT, DATA, RSET, NOOP, QUIT, HELP; VRFY is disabled; EXPN,
 * STARTTLS, AUTH and BDAT are not offered and treated as unknown.
 *
 * Memory: handlers copy (xstrdup) whatever they keep from the parsed
 * command; the envelope belongs to the session.
 */
#include <inttypes.h>
#include <stdio.h>

#include "alloc.h"
#include "params.h"
#include "smtpd.h"

void smtpd_transaction_reset(struct smtpd_session *s)
{
    s->sender = xfree(s->sender);
    for (size_t i = 0; i < s->n_rcpts; i++)
        s->rcpts[i] = xfree(s->rcpts[i]);
    s->n_rcpts = 0;
    s->body_8bit = 0;
    s->has_size = 0;
    s->size = 0;
    s->queue_id[0] = '\0';
}

int smtpd_cmd_is_last(enum smtp_verb verb)
{
    switch (verb) {
    case SMTP_VERB_EHLO:
    case SMTP_VERB_HELO:
    case SMTP_VERB_DATA:
    case SMTP_VERB_VRFY:
    case SMTP_VERB_EXPN:
    case SMTP_VERB_STARTTLS:
    case SMTP_VERB_AUTH:
    case SMTP_VERB_HELP:
        return 1;
    default:
        return 0;
    }
}

static void set_helo(struct smtpd_session *s, const char *name, const char *protocol)
{
    xfree(s->helo);
    s->helo = xstrdup(name);
    s->protocol = protocol;
    smtpd_transaction_reset(s);
}

static void cmd_ehlo(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    char size[64];
    const char *lines[5];

    set_helo(s, cmd->arg, "ESMTP");
    snprintf(size, sizeof(size), "SIZE %ld", var_message_size_limit);
    lines[0] = var_myhostname;
    lines[1] = "PIPELINING";
    lines[2] = size;
    lines[3] = "ENHANCEDSTATUSCODES";
    lines[4] = "8BITMIME";
    smtpd_reply_lines(s, 250, lines, 5);
}

static void cmd_helo(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    set_helo(s, cmd->arg, "SMTP");
    smtpd_reply(s, "250 %s", var_myhostname);
}

static void cmd_mail(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    if (s->helo == NULL) {
        smtpd_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
        return;
    }
    if (s->sender != NULL) {
        smtpd_reply(s, "503 5.5.1 Error: nested MAIL command");
        return;
    }
    if (cmd->has_size && !smtpd_policy_size_ok(cmd->size)) {
        static const char reply[] = "552 5.3.4 Message size exceeds fixed limit";

        smtpd_reply(s, "%s", reply);
        smtpd_log_reject(s, "MAIL", reply, cmd->addr, NULL);
        return;
    }
    s->sender = xstrdup(cmd->addr);
    s->body_8bit = cmd->body == SMTP_BODY_8BITMIME;
    s->has_size = cmd->has_size;
    s->size = cmd->size;
    smtpd_reply(s, "250 2.1.0 Ok");
}

static void cmd_rcpt(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    char reply[SMTP_PATH_MAX + 64];

    if (s->sender == NULL) {
        smtpd_reply(s, "503 5.5.1 Error: need MAIL command");
        return;
    }
    if (!smtpd_policy_rcpt_room(s)) {
        smtpd_reply(s, "452 4.5.3 Error: too many recipients");
        return;
    }
    switch (smtpd_policy_relay_ok(s, cmd->addr)) {
    case 1:
        break;
    case 0:
        snprintf(reply, sizeof(reply), "554 5.7.1 <%s>: Relay access denied", cmd->addr);
        smtpd_reply(s, "%s", reply);
        smtpd_log_reject(s, "RCPT", reply, NULL, cmd->addr);
        return;
    default:
        snprintf(reply, sizeof(reply), "451 4.3.0 <%s>: Server configuration problem",
                 cmd->addr);
        smtpd_reply(s, "%s", reply);
        smtpd_log_reject(s, "RCPT", reply, NULL, cmd->addr);
        return;
    }
    s->rcpts = xgrow(s->rcpts, &s->rcpts_cap, s->n_rcpts + 1, sizeof(*s->rcpts));
    s->rcpts[s->n_rcpts++] = xstrdup(cmd->addr);
    smtpd_reply(s, "250 2.1.5 Ok");
}

static void cmd_data(struct smtpd_session *s)
{
    if (s->sender == NULL) {
        smtpd_reply(s, "503 5.5.1 Error: need RCPT command");
        return;
    }
    if (s->n_rcpts == 0) {
        static const char reply[] = "554 5.5.1 Error: no valid recipients";

        smtpd_reply(s, "%s", reply);
        smtpd_log_reject(s, "DATA", reply, NULL, NULL);
        return;
    }
    smtpd_data_begin(s);
}

static void cmd_quit(struct smtpd_session *s)
{
    smtpd_reply(s, "221 2.0.0 Bye");
    smtpd_session_close(s);
}

void smtpd_cmd_dispatch(struct smtpd_session *s, struct smtp_cmd *cmd, int parse_rc)
{
    s->verb_total[cmd->verb]++;
    s->last_code = 0;
    if (parse_rc < 0) {
        smtpd_reply(s, "%s", cmd->reply);
        return;
    }
    switch (cmd->verb) {
    case SMTP_VERB_EHLO:
        cmd_ehlo(s, cmd);
        break;
    case SMTP_VERB_HELO:
        cmd_helo(s, cmd);
        break;
    case SMTP_VERB_MAIL:
        cmd_mail(s, cmd);
        break;
    case SMTP_VERB_RCPT:
        cmd_rcpt(s, cmd);
        break;
    case SMTP_VERB_DATA:
        cmd_data(s);
        break;
    case SMTP_VERB_RSET:
        smtpd_transaction_reset(s);
        smtpd_reply(s, "250 2.0.0 Ok");
        break;
    case SMTP_VERB_NOOP:
        smtpd_reply(s, "250 2.0.0 Ok");
        break;
    case SMTP_VERB_QUIT:
        cmd_quit(s);
        break;
    case SMTP_VERB_HELP:
        smtpd_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT HELP");
        break;
    case SMTP_VERB_VRFY:
        smtpd_reply(s, "502 5.5.1 VRFY command is disabled");
        break;
    default:
        smtpd_reply(s, "502 5.5.2 Error: command not recognized");
        break;
    }
    /* DATA's outcome is counted by smtpd_data.c when the message is done. */
    if (s->state != SMTPD_ST_OPENING && s->last_code > 0 && s->last_code < 400)
        s->verb_ok[cmd->verb]++;
}
