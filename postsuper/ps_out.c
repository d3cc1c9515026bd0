/*
 * ps_out.c - what the operator sees and what goes to the mail log.
 *
 * The operator reads lines on stderr in Postfix style ("postsuper:
 * Deleted: 3 messages", "postsuper: warning: ID: no such message"); the
 * mail log gets the same summaries and warnings plus one line per message
 * changed ("ID: placed on hold"), through msg.h once msg_open() worked.
 * Text that may come from a command line, stdin or a file name is printed
 * with control characters as '?', so it cannot drive the terminal.
 *
 * Progress is drawn on stderr only when it is a terminal, at most every
 * PROGRESS_INTERVAL, and erased before any other line is printed.
 *
 * Memory: none beyond file-scope state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"
#include "postsuper.h"

#define LINE_MAX_OUT 2048
#define PROGRESS_INTERVAL_NS 200000000L     /* 0.2 s */

static int log_on;
static int verbose_on;

static struct {
    int active;                 /* between start and end */
    int tty;                    /* stderr is a terminal */
    int shown;                  /* width of the line on screen (0: none) */
    const char *verb;
    unsigned long done, total;
    struct timespec last;
} progress;

void ps_out_log_enabled(int on)
{
    log_on = on;
}

void ps_out_verbose(int on)
{
    verbose_on = on;
}

int ps_out_is_verbose(void)
{
    return verbose_on;
}

/* Erase the progress line, if one is on the screen. */
static void progress_erase(void)
{
    if (progress.shown > 0) {
        fprintf(stderr, "\r%*s\r", progress.shown, "");
        progress.shown = 0;
    }
}

static void format_clean(char *buf, size_t len, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void format_clean(char *buf, size_t len, const char *fmt, va_list ap)
{
    vsnprintf(buf, len, fmt, ap);
    for (char *p = buf; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    }
}

enum say_level { SAY_INFO, SAY_WARN, SAY_FATAL };

/* One line to stderr ("postsuper: [level: ]text") and, when logging, to the log. */
static void say(enum say_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void say(enum say_level level, const char *fmt, va_list ap)
{
    static const char *const prefix[] = {"", "warning: ", "fatal: "};
    char text[LINE_MAX_OUT];

    format_clean(text, sizeof(text), fmt, ap);
    progress_erase();
    fprintf(stderr, "postsuper: %s%s\n", prefix[level], text);
    if (!log_on)
        return;
    if (level == SAY_INFO)
        msg_info("%s", text);
    else if (level == SAY_WARN)
        msg_warn("%s", text);
    else
        msg_fatal("%s", text);
}

void ps_say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say(SAY_INFO, fmt, ap);
    va_end(ap);
}

void ps_warn(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say(SAY_WARN, fmt, ap);
    va_end(ap);
}

void ps_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say(SAY_FATAL, fmt, ap);
    va_end(ap);
    exit(1);
}

void ps_log(const char *fmt, ...)
{
    char text[LINE_MAX_OUT];
    va_list ap;

    if (!log_on && !verbose_on)
        return;
    va_start(ap, fmt);
    format_clean(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (log_on)
        msg_info("%s", text);
    if (verbose_on) {
        progress_erase();
        fprintf(stderr, "postsuper: %s\n", text);
    }
}

/* --- progress --- */

static long elapsed_ns(const struct timespec *from, const struct timespec *to)
{
    return (long)(to->tv_sec - from->tv_sec) * 1000000000L + (to->tv_nsec - from->tv_nsec);
}

static void progress_draw(void)
{
    char line[128];
    int n;

    if (progress.total > 0)
        n = snprintf(line, sizeof(line), "postsuper: %s: %lu/%lu", progress.verb,
                     progress.done, progress.total);
    else
        n = snprintf(line, sizeof(line), "postsuper: %s: %lu", progress.verb, progress.done);
    if (n < 0)
        return;
    if (n < progress.shown)
        fprintf(stderr, "\r%s%*s", line, progress.shown - n, "");
    else
        fprintf(stderr, "\r%s", line);
    fflush(stderr);
    if (n > progress.shown)
        progress.shown = n;
}

void ps_progress_start(const char *verb, unsigned long total)
{
    progress.active = 1;
    progress.tty = isatty(2) && !verbose_on;
    progress.shown = 0;
    progress.verb = verb;
    progress.done = 0;
    progress.total = total;
    clock_gettime(CLOCK_MONOTONIC, &progress.last);
}

void ps_progress_add(unsigned long n)
{
    struct timespec now;
    unsigned long before = progress.done;

    if (!progress.active)
        return;
    progress.done += n;
    /* Look at the clock once per 256 messages. */
    if (!progress.tty || (before >> 8) == (progress.done >> 8))
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (elapsed_ns(&progress.last, &now) < PROGRESS_INTERVAL_NS)
        return;
    progress.last = now;
    if (progress.total > 0 && progress.done > progress.total)
        progress.total = progress.done;
    progress_draw();
}

void ps_progress_tick(void)
{
    ps_progress_add(1);
}

void ps_progress_end(void)
{
    progress_erase();
    progress.active = 0;
}
