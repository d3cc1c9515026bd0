/*
 * dict_text.c - the "key value" source format of lmdb tables, table file
 * loading and parse errors (see dict_text.h). Logical lines come from
 * line_reader.h.
 *
 * Memory: dict_text_load() returns a buffer the caller owns; nothing else
 * is kept.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "dict_text.h"
#include "errtext.h"
#include "fdio.h"
#include "line_reader.h"

int dict_text_load(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    if (fdio_read_file(path, DICT_FILE_MAX, buf, len) == 0)
        return 0;
    if (errno == EFBIG || errno == EINVAL)
        errtext_set(err, errlen, "%s: not a regular file of at most %zu bytes", path,
                    DICT_FILE_MAX);
    else
        errtext_set(err, errlen, "open %s: %s", path, strerror(errno));
    return -1;
}

static void fold_ascii(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            s[i] = (char)(s[i] - 'A' + 'a');
}

int dict_text_parse(const char *name, const char *buf, size_t len, dict_text_entry_fn fn,
                    void *ctx, char *err, size_t errlen)
{
    struct line_reader r;
    char *line;
    unsigned lineno;
    int rc;

    line_reader_init(&r, name, buf, len, DICT_LINE_MAX);
    while ((rc = line_reader_next(&r, &line, NULL, &lineno, err, errlen)) == 1) {
        size_t klen = 0;
        char *value;

        while (line[klen] && !line_reader_is_blank(line[klen]))
            klen++;
        value = line + klen;
        while (*value && line_reader_is_blank(*value))
            value++;
        if (*value == '\0') {
            errtext_set(err, errlen, "%s:%u: expected format: key whitespace value", name,
                        lineno);
            rc = -1;
            break;
        }
        if (klen > DICT_KEY_MAX) {
            errtext_set(err, errlen, "%s:%u: key too long (%zu bytes, at most %d)", name, lineno,
                        klen, DICT_KEY_MAX);
            rc = -1;
            break;
        }
        line[klen] = '\0';
        fold_ascii(line, klen);
        if ((rc = fn(line, value, lineno, ctx)) != 0)
            break;
    }
    line_reader_free(&r);
    return rc < 0 ? -1 : rc;
}

int dict_parse_fail(struct dict_parse *ps, const char *fmt, ...)
{
    char text[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    errtext_set(ps->err, ps->errlen, "%s:%u: %s", ps->file, ps->lineno, text);
    return -1;
}
