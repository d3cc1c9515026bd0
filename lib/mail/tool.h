/*
 * tool.h - how an operator's command-line tool (postqueue, postsuper,
 * postroute, postcat, postmap) starts, and how it speaks to the operator.
 *
 * A tool's main() is a list of steps; each step either works or stops the
 * tool with a message and an exit status, so main() needs no error paths:
 *
 *     tool_init(&postsuper_tool);        name, usage and manual page
 *     parse_args(argc, argv, &o);        tool_usage() / tool_help() inside
 *     tool_load_config(o.config_dir);    -c DIR, else $MAIL_CONFIG, else built in
 *     tool_drop_privileges();            run as root: become mail_owner
 *     tool_open_log();                   (tools that log) the mail log too
 *     tool_chdir_queue();                enter queue_directory
 *
 * What the operator reads on stderr, one line each:
 *     NAME: TEXT             tool_say: a result, or a problem with one
 *                            operand that does not stop the tool
 *     NAME: warning: TEXT    tool_warn
 *     NAME: fatal: TEXT      tool_fatal, then exit(status)
 *     NAME: PROBLEM          tool_usage, followed by the usage lines; exit 2
 * Control characters (below 0x20, and DEL) in TEXT are shown as '?'
 * (tool_clean), so a hostile queue ID, address or server reply cannot
 * drive the terminal or forge a line; tool_print_line() applies the same
 * rule to a line the tool prints on stdout. stdout is flushed before
 * anything is written to stderr, so the two stay in order on a terminal.
 * Once tool_open_log() worked, tool_say, tool_warn and tool_fatal go to
 * the mail log as well (info, warning, fatal).
 *
 * Exit statuses: TOOL_EXIT_USAGE for a usage problem; def->setup_status
 * when a set-up step fails (configuration, privileges, queue directory).
 *
 * Memory: tool_init() keeps a pointer to the caller's definition (a
 * static constant); nothing else is kept. The formatting functions append
 * to the caller's strbuf.
 */
#ifndef POSTERN_TOOL_H
#define POSTERN_TOOL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

struct strbuf;

#define TOOL_EXIT_FAIL  1
#define TOOL_EXIT_USAGE 2

struct tool_def {
    const char *name;           /* "postsuper": the start of every message */
    const char *usage;          /* the usage lines ("usage: postsuper ...\n") */
    const char *help;           /* the manual page up to its ENVIRONMENT section */
    const char *examples;       /* EXAMPLES lines, or NULL */
    const char *see_also;       /* the SEE ALSO line, or NULL */
    int setup_status;           /* exit status when a set-up step fails;
                                   0 means TOOL_EXIT_FAIL */
};

void tool_init(const struct tool_def *def);

/* --help: the manual page on stdout (help, then the ENVIRONMENT section
 * every tool shares, EXAMPLES, SEE ALSO), exit 0. */
void tool_help(void) __attribute__((noreturn));
/* "NAME: PROBLEM" and the usage lines on stderr, exit TOOL_EXIT_USAGE. */
void tool_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- set-up steps: each stops the tool with def->setup_status ---- */

/* Load main.cf of config_dir (NULL: $MAIL_CONFIG, else the built-in one). */
void tool_load_config(const char *config_dir);
/* Run as root: become mail_owner for good (lib/util/privs); refused when
 * mail_owner is root or unknown. Run as anyone else: nothing to do. */
void tool_drop_privileges(void);
/* Also log to the mail log (syslog_name/NAME, maillog_file,
 * syslog_facility); not when maillog_file is /dev/stderr, where the
 * operator's lines already go. A log that cannot be opened is no error. */
void tool_open_log(void);
/* Does the tool write to the mail log (tool_open_log worked)? */
int tool_logging(void);
/* Enter queue_directory: "NAME: fatal: queue_directory DIR: REASON". */
void tool_chdir_queue(void);

/* ---- messages ---- */

void tool_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tool_vsay(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
void tool_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tool_vwarn(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
void tool_fatal(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* A line on fp (stdout: a result) with the '?' rule, '\n' added. */
void tool_print_line(FILE *fp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the rules themselves (for the functions above, and for tests) ---- */

/* Control characters (below 0x20, DEL) in text[0..len) become '?'. */
void tool_clean(char *text, size_t len);
/* Append "NAME: [LEVEL: ]TEXT\n" with TEXT formatted and cleaned; level
 * NULL or "" for none ("warning", "fatal"). */
void tool_format_line(struct strbuf *out, const char *level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* Append "NAME: PROBLEM\n" (PROBLEM cleaned) and the usage lines. */
void tool_format_usage(struct strbuf *out, const char *problem);

#endif
