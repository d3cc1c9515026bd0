/*
 * ps_out.c - what the operator sees and what goes to the mail log.
 *
 * The operator reads lines on stderr in Postfix style ("postsuper:
 * Deleted: 3 messages", "postsuper: warning: ID: no such message"),
 * written by lib/mail/tool.c, which also sends them to the mail log once
 * tool_open_log() worked, and shows control characters as '?'. The log
 * gets in addition one line per message changed ("ID: placed on hold"),
 * which the operator sees only with -v.
 *
 * Progress is drawn on stderr only when it is a terminal, at most every
 * PROGRESS_INTERVAL, and erased before any other line is printed.
 *
 * Memory: none beyond file-scope state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"
#include "postsuper.h"
#include "strbuf.h"
#include "tool.h"

#define PROGRESS_INTERVAL_NS 200000000L     /* 0.2 s */

static int verbose_on;

static struct {
    int active;                 /* between start and end */
    int tty;                    /* stderr is a terminal */
    int shown;                  /* width of the line on screen (0: none) */
    const char *verb;
    unsigned long done, total;
    struct timespec last;
} progress;

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

void ps_say(const char *fmt, ...)
{
    va_list ap;

    progress_erase();
    va_start(ap, fmt);
    tool_vsay(fmt, ap);
    va_end(ap);
}

void ps_warn(const char *fmt, ...)
{
    va_list ap;

    progress_erase();
    va_start(ap, fmt);
    tool_vwarn(fmt, ap);
    va_end(ap);
}

void ps_log(const char *fmt, ...)
{
    struct strbuf text = STRBUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    if (verbose_on) {
        progress_erase();
        tool_vsay(fmt, ap);             /* stderr, and the log when logging */
    } else if (tool_logging()) {
        strbuf_vprintf(&text, fmt, ap);
        msg_info("%s", strbuf_str(&text));
    }
    va_end(ap);
    strbuf_free(&text);
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
