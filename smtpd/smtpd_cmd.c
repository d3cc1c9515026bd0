/*
 * smtpd_cmd.c - smtpd's verbs: one table row per verb, and their handlers.
 *
 * Each row of smtpd_verbs[] holds everything smtpd decides about one verb:
 * in which phases of the dialogue it is allowed (and the 503 reply where it
 * is not), whether it must end a pipelined group, which argument parser of
 * lib/smtpproto/smtp_cmd.h reads it, and its handler. smtpd_session.c hands
 * every complete command line to smtpd_cmd_line(), which
 *
 *   1. splits it (smtp_cmd_split: bytes, length, verb) and counts the verb;
 *   2. parses the arguments with the row's parser: a syntax error gets the
 *      parser's reply (500/501/502/555);
 *   3. for a verb that must end a pipelined group, ends the session with
 *      554 5.5.0 when more input is already waiting;
 *   4. refuses the verb with the row's reply in a phase where it is not
 *      allowed;
 *   5. runs the row's handler, which asks smtpd_policy.c where policy is
 *      involved, updates the envelope and sends exactly one reply - except
 *      DATA's, which starts the asynchronous DATA phase (smtpd_data.c).
 *
 * Adding a verb: one row and its handler (and, when its grammar is new to
 * SMTP, an enum value, name and parser in lib/smtpproto/smtp_cmd.c).
 *
 * Offered: EHLO (PIPELINING, SIZE, ENHANCEDSTATUSCODES, 8BITMIME), HELO,
 * MAIL, RCPT, DATA, RSET, NOOP, QUIT, HELP; VRFY is disabled; STARTTLS,
 * AUTH, BDAT and EXPN have rows (their syntax and pipelining are checked)
 * but are not offered: they are answered as unknown commands.
 *
 * Memory: the parsed command is one static struct, reused for every line;
 * handlers copy (xstrdup) whatever they keep from it. The envelope belongs
 * to the session.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "msg.h"
#include "params.h"
#include "smtpd.h"

/* Whether more commands may follow a verb in the same pipelined group.
 * Every verb may be sent in a group (smtpd offers PIPELINING, RFC 2920). */
enum smtpd_pipelining {
    SMTPD_PIPE_ANY,     /* more commands may follow it */
    SMTPD_PIPE_LAST     /* it must end the group: input already waiting
                         * after it is 554 5.5.0 and the session ends */
};

/* One verb's rules. */
struct smtpd_verb {
    enum smtp_verb verb;
    const char *refuse[SMTPD_PHASE_COUNT];  /* per phase: NULL where the verb
                                             * is allowed, else the reply */
    enum smtpd_pipelining pipelining;
    smtp_cmd_parse_fn parse;                /* argument grammar (smtp_cmd.h) */
    void (*handle)(struct smtpd_session *s, const struct smtp_cmd *cmd);
};

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

/* ---- handlers: called with well-formed arguments in an allowed phase ---- */

static void set_helo(struct smtpd_session *s, const char *name, const char *protocol)
{
    xfree(s->helo);
    s->helo = xstrdup(name);
    s->protocol = protocol;
    smtpd_transaction_reset(s);
}

static void verb_ehlo(struct smtpd_session *s, const struct smtp_cmd *cmd)
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

static void verb_helo(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    set_helo(s, cmd->arg, "SMTP");
    smtpd_reply(s, "250 %s", var_myhostname);
}

static void verb_mail(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
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

static void verb_rcpt(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    char reply[SMTP_PATH_MAX + 64];

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

static void verb_data(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    (void)cmd;
    if (s->n_rcpts == 0) {
        static const char reply[] = "554 5.5.1 Error: no valid recipients";

        smtpd_reply(s, "%s", reply);
        smtpd_log_reject(s, "DATA", reply, NULL, NULL);
        return;
    }
    smtpd_data_begin(s);
}

static void verb_rset(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    (void)cmd;
    smtpd_transaction_reset(s);
    smtpd_reply(s, "250 2.0.0 Ok");
}

static void verb_noop(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    (void)cmd;
    smtpd_reply(s, "250 2.0.0 Ok");
}

static void verb_quit(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    (void)cmd;
    smtpd_reply(s, "221 2.0.0 Bye");
    smtpd_session_close(s);
}

static void verb_help(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    (void)cmd;
    smtpd_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT HELP");
}

static void verb_vrfy(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    (void)cmd;
    smtpd_reply(s, "502 5.5.1 VRFY command is disabled");
}

static const char reply_unknown[] = "502 5.5.2 Error: command not recognized";

/* A verb smtpd knows but does not offer (not in the EHLO reply). */
static void verb_not_offered(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
    (void)cmd;
    smtpd_reply(s, "%s", reply_unknown);
}

/* ---- the table ---- */

static const char need_hello[] = "503 5.5.1 Error: send HELO/EHLO first";
static const char need_mail[] = "503 5.5.1 Error: need MAIL command";
static const char need_rcpt[] = "503 5.5.1 Error: need RCPT command";
static const char nested_mail[] = "503 5.5.1 Error: nested MAIL command";

/*
 * refuse[] is indexed by phase: {GREETED, HELLO, MAIL} (smtpd.h); {NULL}
 * allows the verb in every phase. The order of the rows is the order of
 * the counters in the disconnect log line (Postfix's), unknown last.
 */
static const struct smtpd_verb smtpd_verbs[] = {
    /* verb, refused in {GREETED, HELLO, MAIL}, pipelining, parser, handler */
    {SMTP_VERB_HELO, {NULL}, SMTPD_PIPE_LAST, smtp_cmd_parse_hello, verb_helo},
    {SMTP_VERB_EHLO, {NULL}, SMTPD_PIPE_LAST, smtp_cmd_parse_hello, verb_ehlo},
    {SMTP_VERB_STARTTLS, {NULL}, SMTPD_PIPE_LAST, smtp_cmd_parse_none, verb_not_offered},
    {SMTP_VERB_AUTH, {NULL}, SMTPD_PIPE_LAST, smtp_cmd_parse_text, verb_not_offered},
    {SMTP_VERB_MAIL, {need_hello, NULL, nested_mail}, SMTPD_PIPE_ANY, smtp_cmd_parse_mail,
     verb_mail},
    {SMTP_VERB_RCPT, {need_mail, need_mail, NULL}, SMTPD_PIPE_ANY, smtp_cmd_parse_rcpt,
     verb_rcpt},
    {SMTP_VERB_DATA, {need_rcpt, need_rcpt, NULL}, SMTPD_PIPE_LAST, smtp_cmd_parse_none,
     verb_data},
    {SMTP_VERB_BDAT, {NULL}, SMTPD_PIPE_ANY, smtp_cmd_parse_bdat, verb_not_offered},
    {SMTP_VERB_RSET, {NULL}, SMTPD_PIPE_ANY, smtp_cmd_parse_none, verb_rset},
    {SMTP_VERB_NOOP, {NULL}, SMTPD_PIPE_ANY, smtp_cmd_parse_text_optional, verb_noop},
    {SMTP_VERB_VRFY, {NULL}, SMTPD_PIPE_LAST, smtp_cmd_parse_text, verb_vrfy},
    {SMTP_VERB_EXPN, {NULL}, SMTPD_PIPE_LAST, smtp_cmd_parse_text, verb_not_offered},
    {SMTP_VERB_HELP, {NULL}, SMTPD_PIPE_LAST, smtp_cmd_parse_text_optional, verb_help},
    {SMTP_VERB_QUIT, {NULL}, SMTPD_PIPE_ANY, smtp_cmd_parse_none, verb_quit},
};

#define N_VERBS (sizeof(smtpd_verbs) / sizeof(smtpd_verbs[0]))

/* The row of `verb`, NULL when smtpd has none (an unknown command). */
static const struct smtpd_verb *verb_row(enum smtp_verb verb)
{
    for (size_t i = 0; i < N_VERBS; i++)
        if (smtpd_verbs[i].verb == verb)
            return &smtpd_verbs[i];
    return NULL;
}

/* ---- one command line ---- */

/* Read the arguments with the row's grammar; -1 with cmd->reply set. */
static int parse_args(const struct smtpd_verb *row, struct smtp_cmd *cmd)
{
    if (row == NULL) {
        cmd->err = SMTP_CMD_ERR_UNKNOWN;
        snprintf(cmd->reply, sizeof(cmd->reply), "%s", reply_unknown);
        return -1;
    }
    return row->parse(cmd);
}

/* A verb that must end its group arrived with more input behind it. */
static int pipelining_violated(struct smtpd_session *s, const struct smtpd_verb *row)
{
    if (row->pipelining != SMTPD_PIPE_LAST || !smtpd_session_input_pending(s))
        return 0;
    msg_info("improper command pipelining after %s from %s",
             smtp_verb_name(row->verb), s->namaddr);
    smtpd_reply(s, "554 5.5.0 Error: SMTP protocol synchronization");
    smtpd_session_close(s);
    return 1;
}

void smtpd_cmd_line(struct smtpd_session *s, const char *line, size_t len)
{
    static struct smtp_cmd cmd;     /* ~2.5 kB; handlers copy what they keep */
    int rc = smtp_cmd_split(&cmd, line, len);
    const struct smtpd_verb *row = verb_row(cmd.verb);
    const char *refusal;

    /* The verb is known even when the line is bad: count it either way. */
    s->last_event = SMTPD_LAST_COMMAND;
    s->last_verb = row != NULL ? row->verb : SMTP_VERB_UNKNOWN;
    s->verb_total[s->last_verb]++;
    s->last_code = 0;
    if (rc == 0)
        rc = parse_args(row, &cmd);
    if (rc < 0) {
        smtpd_reply(s, "%s", cmd.reply);
        return;
    }
    if (pipelining_violated(s, row))
        return;
    refusal = row->refuse[smtpd_session_phase(s)];
    if (refusal != NULL) {
        smtpd_reply(s, "%s", refusal);
        return;
    }
    row->handle(s, &cmd);
    /* DATA's outcome is counted by smtpd_data.c when the message is done. */
    if (s->state != SMTPD_ST_OPENING && s->last_code > 0 && s->last_code < 400)
        s->verb_ok[row->verb]++;
}

/* ---- the counters of the disconnect log line ---- */

static void counter_append(char *buf, size_t len, const char *name, unsigned ok,
                           unsigned total)
{
    size_t used = strlen(buf);

    if (used >= len)
        return;
    if (ok == total)
        snprintf(buf + used, len - used, " %s=%u", name, total);
    else
        snprintf(buf + used, len - used, " %s=%u/%u", name, ok, total);
}

void smtpd_cmd_counters(const struct smtpd_session *s, char *buf, size_t len)
{
    unsigned ok = 0, total = 0;
    char name[16];

    buf[0] = '\0';
    for (size_t i = 0; i <= N_VERBS; i++) {
        enum smtp_verb v = i < N_VERBS ? smtpd_verbs[i].verb : SMTP_VERB_UNKNOWN;

        if (s->verb_total[v] == 0)
            continue;
        snprintf(name, sizeof(name), "%s", smtp_verb_name(v));
        for (size_t j = 0; name[j] != '\0'; j++)
            if (name[j] >= 'A' && name[j] <= 'Z')
                name[j] = (char)(name[j] - 'A' + 'a');
        counter_append(buf, len, name, s->verb_ok[v], s->verb_total[v]);
        ok += s->verb_ok[v];
        total += s->verb_total[v];
    }
    counter_append(buf, len, "commands", ok, total);
}
