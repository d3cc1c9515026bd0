/*
 * errtext.h - fill a caller's error buffer.
 *
 * lib/ functions that can fail take (char *err, size_t errlen) and describe
 * the failure there; this is the one function that formats into such a
 * buffer. It accepts err == NULL or errlen == 0 (then it does nothing) and
 * always NUL-terminates. No memory is owned.
 */
#ifndef POSTERN_ERRTEXT_H
#define POSTERN_ERRTEXT_H

#include <stddef.h>

void errtext_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
