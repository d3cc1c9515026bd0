/*
 * dict_text.h - the text behind table files: loading a source file, the
 * "key value" source format that postmap compiles into lmdb tables, and
 * "FILE:LINE: message" errors for the table parsers.
 *
 * Logical lines (continuation, comments, CR, NUL and length errors) are
 * line_reader.h's; a logical line here may be at most DICT_LINE_MAX bytes.
 *
 * Source format for lmdb ("key value"): the key is the text up to the first
 * white space, folded to lower case (ASCII); the value is the rest of the
 * line with surrounding white space removed. A line with a key but no value
 * is an error; a key longer than DICT_KEY_MAX bytes too.
 *
 * Errors read "NAME:LINE: message", NAME being the file name given.
 * Memory: dict_text_load() returns a buffer the caller frees with xfree;
 * nothing else is kept.
 * Success convention: 0 / -1 with err, as everywhere in lib/.
 */
#ifndef POSTERN_DICT_TEXT_H
#define POSTERN_DICT_TEXT_H

#include <stddef.h>

#define DICT_LINE_MAX 65536         /* bytes in one logical line */
#define DICT_KEY_MAX 511            /* LMDB's key size limit */
#define DICT_FILE_MAX ((size_t)1 << 31)   /* 2 GB: table source files */

/* Read a whole file (at most DICT_FILE_MAX bytes) into a new NUL-terminated
 * buffer the caller frees with xfree. */
int dict_text_load(const char *path, char **buf, size_t *len, char *err, size_t errlen);

/*
 * Parse a "key value" source held in buf: fn(key, value, lineno, ctx) is
 * called for each entry (key folded; both valid only during the call). A
 * non-zero return from fn stops the parse and is returned (fn fills err
 * itself if it wants a message). Returns 0 when the whole buffer parsed, -1
 * with err at the first bad line.
 */
typedef int (*dict_text_entry_fn)(const char *key, const char *value, unsigned lineno, void *ctx);
int dict_text_parse(const char *name, const char *buf, size_t len, dict_text_entry_fn fn,
                    void *ctx, char *err, size_t errlen);

/*
 * Where a table parser is, for "NAME:LINE: message" errors (pcre:, cidr:).
 * dict_parse_fail() formats the message into the caller's err buffer and
 * returns -1, so a parser can "return dict_parse_fail(ps, ...)".
 */
struct dict_parse {
    const char *file;
    unsigned lineno;
    char *err;
    size_t errlen;
};

int dict_parse_fail(struct dict_parse *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
