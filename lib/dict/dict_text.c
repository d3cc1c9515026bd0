/*
 * dict_text.c - logical lines and the "key value" source format (see
 * dict_text.h). Used by postmap (lmdb sources), pcre and cidr tables.
 *
 * Memory: the reader's line buffer grows up to DICT_LINE_MAX + 1 bytes and
 * is freed by dict_text_free(); dict_text_load() returns a buffer the caller
 * owns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "dict_text.h"
#include "errtext.h"

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

void dict_text_init(struct dict_text_reader *r, const char *name, const char *buf, size_t len)
{
    memset(r, 0, sizeof(*r));
    r->name = name;
    r->buf = buf;
    r->len = len;
}

void dict_text_free(struct dict_text_reader *r)
{
    r->line = xfree(r->line);
    r->cap = 0;
}

/* One physical line at r->pos: start and length without the newline / CR. */
static int physical_line(struct dict_text_reader *r, const char **start, size_t *len,
                         char *err, size_t errlen)
{
    const char *p = r->buf + r->pos;
    size_t left = r->len - r->pos;
    const char *nl = memchr(p, '\n', left);
    size_t n = nl ? (size_t)(nl - p) : left;

    r->pos += nl ? n + 1 : n;
    r->lineno++;
    if (memchr(p, '\0', n) != NULL) {
        errtext_set(err, errlen, "%s:%u: NUL character in line", r->name, r->lineno);
        return -1;
    }
    if (n > 0 && p[n - 1] == '\r')
        n--;
    *start = p;
    *len = n;
    return 0;
}

/* Skipped lines: empty, white space only, or '#' as first non-blank. */
static int skipped(const char *p, size_t n)
{
    size_t i = 0;

    while (i < n && is_blank(p[i]))
        i++;
    return i == n || p[i] == '#';
}

static int append(struct dict_text_reader *r, size_t *used, const char *p, size_t n,
                  unsigned first, char *err, size_t errlen)
{
    if (*used + n > DICT_LINE_MAX) {
        errtext_set(err, errlen, "%s:%u: line too long (more than %d bytes)", r->name, first,
                    DICT_LINE_MAX);
        return -1;
    }
    r->line = xgrow(r->line, &r->cap, *used + n + 1, 1);
    memcpy(r->line + *used, p, n);
    *used += n;
    r->line[*used] = '\0';
    return 0;
}

int dict_text_next(struct dict_text_reader *r, char **line, unsigned *lineno,
                   char *err, size_t errlen)
{
    size_t used = 0;
    unsigned first = 0;
    const char *p;
    size_t n;

    while (r->pos < r->len) {
        size_t mark = r->pos;
        unsigned mark_line = r->lineno;

        if (physical_line(r, &p, &n, err, errlen) < 0)
            return -1;
        if (skipped(p, n))
            continue;
        if (!is_blank(p[0])) {
            if (first != 0) {
                r->pos = mark;          /* the start of the next logical line */
                r->lineno = mark_line;
                break;
            }
            first = r->lineno;
        } else if (first == 0) {
            errtext_set(err, errlen, "%s:%u: logical line must not start with white space",
                        r->name, r->lineno);
            return -1;
        }
        if (append(r, &used, p, n, first, err, errlen) < 0)
            return -1;
    }
    if (first == 0)
        return 0;
    while (used > 0 && is_blank(r->line[used - 1]))
        r->line[--used] = '\0';
    *line = r->line;
    *lineno = first;
    return 1;
}

int dict_text_load(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    char *data;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        errtext_set(err, errlen, "open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > DICT_FILE_MAX) {
        errtext_set(err, errlen, "%s: not a regular file of at most %zu bytes", path,
                    DICT_FILE_MAX);
        close(fd);
        return -1;
    }
    data = xmalloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            errtext_set(err, errlen, "read %s: %s", path, strerror(errno));
            close(fd);
            xfree(data);
            return -1;
        }
        if (n == 0)
            break;                      /* file shrank: take what is there */
        got += (size_t)n;
    }
    close(fd);
    data[got] = '\0';
    *buf = data;
    *len = got;
    return 0;
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
    struct dict_text_reader r;
    char *line;
    unsigned lineno;
    int rc;

    dict_text_init(&r, name, buf, len);
    while ((rc = dict_text_next(&r, &line, &lineno, err, errlen)) == 1) {
        size_t klen = 0;
        char *value;

        while (line[klen] && !is_blank(line[klen]))
            klen++;
        value = line + klen;
        while (*value && is_blank(*value))
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
    dict_text_free(&r);
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

int dict_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}
