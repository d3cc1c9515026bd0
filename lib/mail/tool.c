/*
 * tool.c - the start-up steps and the operator's messages of the
 * command-line tools (see tool.h).
 *
 * Memory: a pointer to the tool's definition and a flag, file-scope; each
 * message is formatted in a strbuf freed before the function returns.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "msg.h"
#include "params.h"
#include "privs.h"
#include "strbuf.h"
#include "tool.h"

static const struct tool_def default_def = { .name = "postern" };
static const struct tool_def *tool = &default_def;
static int log_on;

void tool_init(const struct tool_def *def)
{
    tool = def;
    msg_set_tag(def->name);
}

static int setup_status(void)
{
    return tool->setup_status ? tool->setup_status : TOOL_EXIT_FAIL;
}

/* ---- the rules ---- */

void tool_clean(char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c == 0x7f)
            text[i] = '?';
    }
}

/* Append formatted text with the '?' rule applied to it. */
static void add_clean(struct strbuf *out, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void add_clean(struct strbuf *out, const char *fmt, va_list ap)
{
    size_t start = strbuf_len(out);

    strbuf_vprintf(out, fmt, ap);
    tool_clean(out->data + start, strbuf_len(out) - start);
}

/* "NAME: " or "NAME: LEVEL: ". */
static void add_prefix(struct strbuf *out, const char *level)
{
    strbuf_add_str(out, tool->name);
    strbuf_add(out, ": ", 2);
    if (level != NULL && *level != '\0') {
        strbuf_add_str(out, level);
        strbuf_add(out, ": ", 2);
    }
}

void tool_format_line(struct strbuf *out, const char *level, const char *fmt, va_list ap)
{
    add_prefix(out, level);
    add_clean(out, fmt, ap);
    strbuf_add_char(out, '\n');
}

void tool_format_usage(struct strbuf *out, const char *problem)
{
    size_t start;

    add_prefix(out, NULL);
    start = strbuf_len(out);
    strbuf_add_str(out, problem);
    tool_clean(out->data + start, strbuf_len(out) - start);
    strbuf_add_char(out, '\n');
    strbuf_add_str(out, tool->usage ? tool->usage : "");
}

/* ---- messages ---- */

/* Write a whole text to stderr, after what stdout holds. */
static void to_stderr(const struct strbuf *text)
{
    fflush(stdout);
    fwrite(strbuf_str(text), 1, strbuf_len(text), stderr);
}

enum tool_level { LEVEL_INFO, LEVEL_WARN, LEVEL_FATAL };

/* The text (without "NAME: LEVEL: ") to the mail log, at its level. */
static void log_text(enum tool_level level, int status, const char *text)
{
    switch (level) {
    case LEVEL_INFO:
        msg_info("%s", text);
        return;
    case LEVEL_WARN:
        msg_warn("%s", text);
        return;
    case LEVEL_FATAL:
        if (status == TOOL_EXIT_FAIL)
            msg_fatal("%s", text);          /* logs "fatal: TEXT", exits 1 */
        msg_error("%s", text);              /* the caller exits with status */
        return;
    }
}

/* One message to stderr and, when logging, to the mail log. */
static void say(enum tool_level level, int status, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void say(enum tool_level level, int status, const char *fmt, va_list ap)
{
    static const char *const level_word[] = { NULL, "warning", "fatal" };
    struct strbuf line = STRBUF_INIT;
    size_t prefix;

    add_prefix(&line, level_word[level]);
    prefix = strbuf_len(&line);
    add_clean(&line, fmt, ap);
    strbuf_add_char(&line, '\n');
    to_stderr(&line);
    if (log_on) {
        strbuf_truncate(&line, strbuf_len(&line) - 1);
        log_text(level, status, strbuf_str(&line) + prefix);
    }
    strbuf_free(&line);
}

void tool_vsay(const char *fmt, va_list ap)
{
    say(LEVEL_INFO, 0, fmt, ap);
}

void tool_say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say(LEVEL_INFO, 0, fmt, ap);
    va_end(ap);
}

void tool_vwarn(const char *fmt, va_list ap)
{
    say(LEVEL_WARN, 0, fmt, ap);
}

void tool_warn(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say(LEVEL_WARN, 0, fmt, ap);
    va_end(ap);
}

void tool_fatal(int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say(LEVEL_FATAL, status, fmt, ap);
    va_end(ap);
    exit(status);
}

void tool_print_line(FILE *fp, const char *fmt, ...)
{
    struct strbuf line = STRBUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    add_clean(&line, fmt, ap);
    va_end(ap);
    strbuf_add_char(&line, '\n');
    fwrite(strbuf_str(&line), 1, strbuf_len(&line), fp);
    strbuf_free(&line);
}

void tool_help(void)
{
    fputs(tool->help ? tool->help : "", stdout);
    fputs("ENVIRONMENT\n"
          "    MAIL_CONFIG\n"
          "        The configuration directory when -c is not given.\n", stdout);
    if (tool->examples != NULL)
        printf("\nEXAMPLES\n%s", tool->examples);
    if (tool->see_also != NULL)
        printf("\nSEE ALSO\n    %s\n", tool->see_also);
    exit(0);
}

void tool_usage(const char *fmt, ...)
{
    struct strbuf text = STRBUF_INIT, problem = STRBUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    strbuf_vprintf(&problem, fmt, ap);
    va_end(ap);
    tool_format_usage(&text, strbuf_str(&problem));
    to_stderr(&text);
    exit(TOOL_EXIT_USAGE);
}

/* ---- set-up steps ---- */

void tool_load_config(const char *config_dir)
{
    char err[CONFIG_ERR_MAX];

    if (config_load(config_dir_choose(config_dir), NULL, 0, err, sizeof(err)) < 0)
        tool_fatal(setup_status(), "%s", err);
}

void tool_drop_privileges(void)
{
    char err[256];

    if (geteuid() != 0)
        return;
    if (privs_become(var_mail_owner, err, sizeof(err)) < 0)
        tool_fatal(setup_status(), "%s", err);
}

void tool_open_log(void)
{
    struct strbuf tag = STRBUF_INIT;

    strbuf_printf(&tag, "%s/%s", var_syslog_name, tool->name);
    msg_set_tag(strbuf_str(&tag));
    if (strcmp(var_maillog_file, "/dev/stderr") != 0
        && msg_open(strbuf_str(&tag), var_maillog_file, var_syslog_facility) == 0)
        log_on = 1;
    strbuf_free(&tag);
}

int tool_logging(void)
{
    return log_on;
}

void tool_chdir_queue(void)
{
    if (chdir(var_queue_dir) < 0)
        tool_fatal(setup_status(), "queue_directory %s: %s", var_queue_dir, strerror(errno));
}
