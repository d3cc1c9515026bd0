/*
 * msg.c - diagnostics to syslog or a log file (see msg.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/time.h>

#include "fdio.h"
#include "msg.h"

enum msg_sink { SINK_STDERR, SINK_SYSLOG, SINK_FILE };

int msg_verbose;
unsigned msg_error_count;

static char msg_tag[128] = "postern";
static enum msg_sink msg_sink = SINK_STDERR;
static int msg_file_fd = -1;
static int msg_copy_stderr;

void msg_set_tag(const char *tag)
{
    snprintf(msg_tag, sizeof(msg_tag), "%s", tag);
}

static int facility_code(const char *name)
{
    static const struct { const char *name; int code; } table[] = {
        {"mail", LOG_MAIL}, {"daemon", LOG_DAEMON}, {"user", LOG_USER},
        {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
        {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
        {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcasecmp(name, table[i].name) == 0)
            return table[i].code;
    return -1;
}

int msg_open(const char *tag, const char *maillog_file, const char *facility)
{
    int fd;
    int code;

    msg_set_tag(tag);
    if (maillog_file == NULL || *maillog_file == '\0') {
        code = facility_code(facility ? facility : "mail");
        openlog(msg_tag, LOG_PID | LOG_NDELAY, code < 0 ? LOG_MAIL : code);
        msg_sink = SINK_SYSLOG;
        return 0;
    }
    if (strcmp(maillog_file, "/dev/stderr") == 0) {
        msg_sink = SINK_STDERR;
        return 0;
    }
    fd = open(maillog_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    if (msg_file_fd >= 0)
        close(msg_file_fd);
    msg_file_fd = fd;
    msg_sink = SINK_FILE;
    return 0;
}

void msg_also_stderr(int on)
{
    msg_copy_stderr = on;
}

/* Format a stamped line "Mon DD HH:MM:SS.uuuuuu tag[pid]: level: text\n". */
static size_t format_file_line(char *line, size_t size, const char *level,
                               const char *text)
{
    struct timeval tv;
    struct tm tm;
    char stamp[32];
    int n;

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%b %d %H:%M:%S", &tm);
    n = snprintf(line, size, "%s.%06ld %s[%ld]: %s%s\n", stamp, (long)tv.tv_usec,
                 msg_tag, (long)getpid(), level, text);
    if (n < 0)
        return 0;
    if ((size_t)n >= size) {
        line[size - 2] = '\n';
        return size - 1;
    }
    return (size_t)n;
}

static void emit(int priority, const char *level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void emit(int priority, const char *level, const char *fmt, va_list ap)
{
    char text[MSG_LINE_MAX];
    char line[MSG_LINE_MAX + 200];
    int saved_errno = errno;
    size_t len;

    vsnprintf(text, sizeof(text), fmt, ap);
    for (char *p = text; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    if (msg_sink == SINK_SYSLOG) {
        syslog(priority, "%s%s", level, text);
    } else {
        len = format_file_line(line, sizeof(line), level, text);
        (void)fdio_write_all(msg_sink == SINK_FILE ? msg_file_fd : 2, line, len);
    }
    if (msg_copy_stderr && msg_sink != SINK_STDERR) {
        len = format_file_line(line, sizeof(line), level, text);
        (void)fdio_write_all(2, line, len);
    }
    errno = saved_errno;
}

void msg_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_INFO, "", fmt, ap);
    va_end(ap);
}

void msg_debug(const char *fmt, ...)
{
    va_list ap;
    if (msg_verbose <= 0)
        return;
    va_start(ap, fmt);
    emit(LOG_DEBUG, "debug: ", fmt, ap);
    va_end(ap);
}

void msg_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_WARNING, "warning: ", fmt, ap);
    va_end(ap);
}

void msg_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_ERR, "error: ", fmt, ap);
    va_end(ap);
    msg_error_count++;
}

void msg_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_CRIT, "fatal: ", fmt, ap);
    va_end(ap);
    exit(1);
}

void msg_panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_CRIT, "panic: ", fmt, ap);
    va_end(ap);
    abort();
}
