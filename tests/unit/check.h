/*
 * check.h - the smallest table-friendly test helpers for Postern's C unit
 * tests. Each failed check prints file:line, what was expected and what was
 * got; check_finish() prints "N passed, N failed" and returns the exit code.
 * No memory is owned.
 */
#ifndef POSTERN_CHECK_H
#define POSTERN_CHECK_H

#include <stdio.h>
#include <string.h>

static unsigned check_passed, check_failed;

static inline void check_report(int ok, const char *file, int line, const char *what,
                                const char *got, const char *want)
{
    if (ok) {
        check_passed++;
        return;
    }
    check_failed++;
    fprintf(stderr, "%s:%d: FAIL %s\n    got:  %s\n    want: %s\n", file, line, what,
            got ? got : "(null)", want ? want : "(null)");
}

static inline void check_str_at(const char *file, int line, const char *what,
                                const char *got, const char *want)
{
    int ok = (got == NULL && want == NULL)
             || (got != NULL && want != NULL && strcmp(got, want) == 0);
    check_report(ok, file, line, what, got, want);
}

static inline void check_long_at(const char *file, int line, const char *what,
                                 long got, long want)
{
    char g[32], w[32];
    snprintf(g, sizeof(g), "%ld", got);
    snprintf(w, sizeof(w), "%ld", want);
    check_report(got == want, file, line, what, g, w);
}

#define CHECK_STR(what, got, want) check_str_at(__FILE__, __LINE__, (what), (got), (want))
#define CHECK_LONG(what, got, want) check_long_at(__FILE__, __LINE__, (what), (long)(got), (long)(want))
#define CHECK_TRUE(what, cond) check_report(!!(cond), __FILE__, __LINE__, (what), "false", "true")

static inline int check_finish(const char *suite)
{
    printf("%s: %u passed, %u failed\n", suite, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
