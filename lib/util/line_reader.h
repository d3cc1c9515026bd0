/*
 * line_reader.h - logical lines of configuration and table source files.
 *
 * main.cf, master.cf and the source files of lookup tables share one line
 * format (Postfix's):
 *   - a line whose first character is white space continues the logical
 *     line before it; the pieces are joined as written, without the
 *     newline, so "a\n  b" reads "a  b";
 *   - empty lines, lines of white space only and lines whose first
 *     non-blank character is '#' are skipped and do not end a logical line;
 *   - a CR before the newline is dropped from every physical line;
 *   - the logical line comes back without leading and trailing white space.
 * Errors, as "NAME:LINE: message": a continuation line with no line before
 * it, a NUL byte, a logical line longer than the reader's limit. White space
 * is space, tab, CR, LF, FF and VT (line_reader_is_blank).
 *
 * Memory: the reader only reads the caller's buffer (which must outlive it)
 * and owns the current logical line, valid until the next call or
 * line_reader_free(); the caller may change the line's bytes in place
 * (a parser cutting it into fields).
 * Success convention: line_reader_next() returns 1 with a line, 0 at the
 * end, -1 with err filled.
 */
#ifndef POSTERN_LINE_READER_H
#define POSTERN_LINE_READER_H

#include <stddef.h>

#include "strbuf.h"

struct line_reader {
    const char *name;       /* file name, for messages */
    const char *buf;
    size_t len;
    size_t pos;
    unsigned lineno;        /* physical lines consumed so far */
    size_t max;             /* longest logical line accepted */
    struct strbuf line;
};

void line_reader_init(struct line_reader *r, const char *name, const char *buf, size_t len,
                      size_t max_line);
/*
 * The next logical line: 1 with *line (NUL-terminated, non-empty), *len and
 * *lineno (its first physical line; either may be NULL), 0 at the end, -1
 * with err on a bad line.
 */
int line_reader_next(struct line_reader *r, char **line, size_t *len, unsigned *lineno,
                     char *err, size_t errlen);
void line_reader_free(struct line_reader *r);

int line_reader_is_blank(char c);

#endif
