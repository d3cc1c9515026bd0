/*
 * line_reader.c - logical lines with continuation (see line_reader.h).
 */
#include <string.h>

#include "errtext.h"
#include "line_reader.h"

int line_reader_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

void line_reader_init(struct line_reader *r, const char *name, const char *buf, size_t len,
                      size_t max_line)
{
    memset(r, 0, sizeof(*r));
    r->name = name;
    r->buf = buf;
    r->len = len;
    r->max = max_line;
    strbuf_init(&r->line);
}

void line_reader_free(struct line_reader *r)
{
    strbuf_free(&r->line);
}

/* The physical line at r->pos, without its newline and CR. */
static int physical_line(struct line_reader *r, const char **start, size_t *len,
                         char *err, size_t errlen)
{
    const char *p = r->buf + r->pos;
    size_t left = r->len - r->pos;
    const char *nl = memchr(p, '\n', left);
    size_t n = nl ? (size_t)(nl - p) : left;

    r->pos += nl ? n + 1 : n;
    r->lineno++;
    if (memchr(p, '\0', n) != NULL) {
        errtext_set(err, errlen, "%s:%u: NUL character", r->name, r->lineno);
        return -1;
    }
    if (n > 0 && p[n - 1] == '\r')
        n--;
    *start = p;
    *len = n;
    return 0;
}

static int skipped(const char *p, size_t n)
{
    size_t i = 0;

    while (i < n && line_reader_is_blank(p[i]))
        i++;
    return i == n || p[i] == '#';
}

static int append(struct line_reader *r, const char *p, size_t n, unsigned first,
                  char *err, size_t errlen)
{
    if (strbuf_len(&r->line) + n > r->max) {
        errtext_set(err, errlen, "%s:%u: logical line too long (more than %zu bytes)",
                    r->name, first, r->max);
        return -1;
    }
    strbuf_add(&r->line, p, n);
    return 0;
}

/* Remove the white space around the logical line; its start offset. */
static size_t trim(struct strbuf *line)
{
    size_t start = 0, end = strbuf_len(line);
    const char *s = strbuf_str(line);

    while (end > 0 && line_reader_is_blank(s[end - 1]))
        end--;
    while (start < end && line_reader_is_blank(s[start]))
        start++;
    strbuf_truncate(line, end);
    return start;
}

int line_reader_next(struct line_reader *r, char **line, size_t *len, unsigned *lineno,
                     char *err, size_t errlen)
{
    unsigned first = 0;
    const char *p;
    size_t n, start;

    strbuf_reset(&r->line);
    while (r->pos < r->len) {
        size_t mark = r->pos;
        unsigned mark_line = r->lineno;

        if (physical_line(r, &p, &n, err, errlen) < 0)
            return -1;
        if (skipped(p, n))
            continue;
        if (!line_reader_is_blank(p[0])) {
            if (first != 0) {
                r->pos = mark;          /* the next logical line starts here */
                r->lineno = mark_line;
                break;
            }
            first = r->lineno;
        } else if (first == 0) {
            errtext_set(err, errlen, "%s:%u: continuation line (starting with white space) "
                        "without a line before it", r->name, r->lineno);
            return -1;
        }
        if (append(r, p, n, first, err, errlen) < 0)
            return -1;
    }
    if (first == 0)
        return 0;
    start = trim(&r->line);
    *line = r->line.data + start;
    if (len)
        *len = strbuf_len(&r->line) - start;
    if (lineno)
        *lineno = first;
    return 1;
}
