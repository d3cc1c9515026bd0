/*
 * msg.h - diagnostics with defined levels.
 *
 *   msg_info   something happened (delivery lines, start/stop)
 *   msg_warn   something is wrong, carry on
 *   msg_error  an operation failed, carry on (counts toward msg_error_count)
 *   msg_fatal  cannot continue: log and exit(1)
 *   msg_panic  a bug: log and abort()
 *
 * Output goes to syslog (facility from syslog_facility, tag
 * "<syslog_name>/<service>") or, when maillog_file names a file or
 * /dev/stderr, as one line per event appended to that file. Before
 * msg_open() is called everything goes to stderr, tagged with the program
 * name. Lines are capped at MSG_LINE_MAX bytes; control characters in the
 * formatted text are printed as '?', so hostile input cannot forge lines.
 * No memory is owned by callers.
 */
#ifndef POSTERN_MSG_H
#define POSTERN_MSG_H

#include <stdarg.h>

#define MSG_LINE_MAX 4000

/* Tag used until (and after) msg_open: e.g. "postern/smtpd". */
void msg_set_tag(const char *tag);
/*
 * Switch output: maillog_file empty => syslog with `facility` ("mail",
 * "local0".."local7"); "/dev/stderr" => stderr; other path => append to file.
 * Returns 0, or -1 when the file cannot be opened (output stays on stderr).
 */
int msg_open(const char *tag, const char *maillog_file, const char *facility);
/* Also copy every line to stderr (interactive commands with -v). */
void msg_also_stderr(int on);
/* Verbose (debug) logging when > 0; msg_debug prints only then. */
extern int msg_verbose;
extern unsigned msg_error_count;

void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void msg_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
