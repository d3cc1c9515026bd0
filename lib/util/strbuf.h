/*
 * strbuf.h - a growable string buffer.
 *
 * A strbuf holds `len` bytes of text (which may include NUL bytes) and is
 * always NUL-terminated after them, so strbuf_str() can be passed to any
 * function that wants a C string. It grows as needed (allocation never
 * fails: see alloc.h) and never shrinks until strbuf_free().
 *
 *     struct strbuf sb = STRBUF_INIT;
 *     strbuf_printf(&sb, "%s=%ld", name, value);
 *     use(strbuf_str(&sb), strbuf_len(&sb));
 *     strbuf_free(&sb);
 *
 * Memory: the strbuf owns its bytes. strbuf_str() points into them and is
 * valid until the next change; strbuf_detach() hands them to the caller
 * (free with xfree) and leaves the strbuf empty. strbuf_free() releases
 * them and leaves an empty, reusable strbuf.
 */
#ifndef POSTERN_STRBUF_H
#define POSTERN_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
    char *data;     /* NULL until the first byte is added */
    size_t len;     /* bytes held, not counting the terminating NUL */
    size_t cap;     /* bytes allocated */
};

#define STRBUF_INIT { NULL, 0, 0 }

void strbuf_init(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);

void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_add_str(struct strbuf *sb, const char *str);
void strbuf_add_char(struct strbuf *sb, char c);
/* Append formatted text. */
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vprintf(struct strbuf *sb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Make room for `more` bytes beyond len (for a writer that fills data). */
void strbuf_reserve(struct strbuf *sb, size_t more);
/* Keep the first `len` bytes (len larger than strbuf_len: no change). */
void strbuf_truncate(struct strbuf *sb, size_t len);
/* Empty it, keeping the allocation. */
void strbuf_reset(struct strbuf *sb);

/* The text, "" when empty; valid until the next change. */
const char *strbuf_str(const struct strbuf *sb);
size_t strbuf_len(const struct strbuf *sb);
/* Hand the text (never NULL) to the caller; the strbuf is left empty. */
char *strbuf_detach(struct strbuf *sb);

#endif
