/*
 * queue_file_read.c - the one reader of queue files (format in
 * queue_file.h and docs/queue-format.md).
 *
 * One parser works on a "source" that is either a memory buffer
 * (queue_file_parse, for the fuzzer and tests) or a file descriptor read
 * with pread through a bounded window (queue_file_read). No length in the
 * file is trusted: every record line must end within QF_RECORD_MAX bytes,
 * the recipient count is capped, and the content size in the Z record is
 * only believed after checking that the file is long enough to hold it and
 * the end marker after it. The content is never read into memory.
 *
 * Memory: struct queue_file owns every string and the recipient array; the
 * reader zeroes it on entry and frees what it built on failure. Sources
 * own their read window and free it before returning.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "dsn.h"
#include "errtext.h"
#include "fdio.h"
#include "queue_file_private.h"

#define WIN_SIZE (64 * 1024)          /* pread window; > QF_RECORD_MAX */

/* Bytes of a value read from a file: no NUL, no CR (LF ends the line). */
static int bytes_ok(const char *p, size_t n)
{
    return memchr(p, '\0', n) == NULL && memchr(p, '\r', n) == NULL;
}

/* Decimal digits only, 1..19 of them, value <= max. */
static int parse_uint(const char *p, size_t n, unsigned long long max,
                      unsigned long long *out)
{
    unsigned long long v = 0;

    if (n == 0 || n > 19)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Sources: memory or a file read through a window                        */
/* ---------------------------------------------------------------------- */

struct qf_src {
    int fd;                         /* -1 for memory */
    const unsigned char *mem;       /* the whole file, memory sources */
    off_t size;                     /* file size */
    unsigned char *win;             /* fd sources: window of the file */
    off_t win_off;                  /* file offset of win[0] */
    size_t win_len;
    char *err;
    size_t errlen;
    queue_file_trace_fn trace;
    void *trace_ctx;
};

static int fail(struct qf_src *s, off_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fill err with "<text> at offset N"; always returns -1. */
static int fail(struct qf_src *s, off_t off, const char *fmt, ...)
{
    char text[QF_ERR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    errtext_set(s->err, s->errlen, "%s at offset %lld", text, (long long)off);
    return -1;
}

/*
 * Point *p at up to `n` bytes at `off` (off + n <= size). Returns how many
 * are there: n, or fewer when the file shrank while we read it (qmgr cut
 * off a partial last record); the view of the file shrinks with it. -1 on
 * a read error.
 */
static ssize_t src_bytes(struct qf_src *s, off_t off, size_t n, const unsigned char **p)
{
    size_t want;
    ssize_t got;

    if (s->mem) {
        *p = s->mem + off;
        return (ssize_t)n;
    }
    if (off >= s->win_off && off + (off_t)n <= s->win_off + (off_t)s->win_len) {
        *p = s->win + (off - s->win_off);
        return (ssize_t)n;
    }
    want = WIN_SIZE;
    if ((off_t)want > s->size - off)
        want = (size_t)(s->size - off);
    got = fdio_pread_upto(s->fd, s->win, want, off);
    if (got < 0) {
        s->win_len = 0;
        return fail(s, off, "read error (%s)", strerror(errno));
    }
    s->win_off = off;
    s->win_len = (size_t)got;
    if ((size_t)got < want)
        s->size = off + got;
    *p = s->win;
    return got < (ssize_t)n ? got : (ssize_t)n;
}

enum line_result { LINE_ERR = -1, LINE_EOF = 0, LINE_OK = 1, LINE_PARTIAL = 2 };

/*
 * The record line at `off`: *line and *len (without the '\n'). LINE_EOF at
 * end of file, LINE_PARTIAL for a final fragment without '\n' (shorter than
 * QF_RECORD_MAX), LINE_ERR for a read error or an over-long line.
 */
static enum line_result src_line(struct qf_src *s, off_t off, const char **line,
                                 size_t *len)
{
    const unsigned char *p, *nl;
    off_t avail = s->size - off;
    size_t look;
    ssize_t got;

    if (avail <= 0)
        return LINE_EOF;
    look = avail < QF_RECORD_MAX ? (size_t)avail : QF_RECORD_MAX;
    got = src_bytes(s, off, look, &p);
    if (got < 0)
        return LINE_ERR;
    if (got == 0)
        return LINE_EOF;
    if ((size_t)got < look) {           /* the file shrank */
        look = (size_t)got;
        avail = s->size - off;
    }
    nl = memchr(p, '\n', look);
    *line = (const char *)p;
    if (nl) {
        *len = (size_t)(nl - p);
        return LINE_OK;
    }
    if ((off_t)look == avail) {
        *len = look;
        return LINE_PARTIAL;
    }
    fail(s, off, "record longer than %d bytes", QF_RECORD_MAX);
    return LINE_ERR;
}

static void trace(struct qf_src *s, off_t off, const char *line, size_t len)
{
    if (s->trace)
        s->trace(off, line, len, s->trace_ctx);
}

/* ---------------------------------------------------------------------- */
/* The parser                                                             */
/* ---------------------------------------------------------------------- */

/* Is c a record type of format version 1? */
static int known_type(char c)
{
    return c != '\0' && strchr("ZTSNAHPBIRMED", c) != NULL;
}

static int bad_record(struct qf_src *s, off_t off, const char *line, size_t len,
                      char want)
{
    unsigned char c = len ? (unsigned char)line[0] : '\n';

    if (len == 0)
        return fail(s, off, "empty record where %c record expected", want);
    if (!known_type((char)c)) {
        if (c >= 0x21 && c < 0x7f)
            return fail(s, off, "unknown record type '%c'", c);
        return fail(s, off, "unknown record type 0x%02x", c);
    }
    return fail(s, off, "%c record where %c record expected", c, want);
}

/*
 * Read the next line as a record of type `type` ("X value"); *val and
 * *vlen are the value. Advances *off past the line.
 */
static int take_record(struct qf_src *s, off_t *off, char type, const char **val,
                       size_t *vlen)
{
    const char *line;
    size_t len;
    enum line_result r = src_line(s, *off, &line, &len);

    if (r == LINE_ERR)
        return -1;
    if (r != LINE_OK)
        return fail(s, *off, "file ends where %c record expected", type);
    if (len == 0 || line[0] != type)
        return bad_record(s, *off, line, len, type);
    if (len < 2 || line[1] != ' ')
        return fail(s, *off, "%c record without a space after the type", type);
    if (!bytes_ok(line, len))
        return fail(s, *off, "%c record contains NUL or CR", type);
    trace(s, *off, line, len);
    *val = line + 2;
    *vlen = len - 2;
    *off += (off_t)len + 1;
    return 0;
}

static int parse_magic(struct qf_src *s, struct queue_file *qf, off_t *off)
{
    static const char magic[] = QF_MAGIC " ";
    const size_t mlen = sizeof(magic) - 1;
    unsigned long long version;
    const char *line;
    size_t len;
    enum line_result r = src_line(s, 0, &line, &len);

    if (r == LINE_ERR)
        return -1;
    if (r == LINE_EOF)
        return fail(s, 0, "empty file");
    if (r == LINE_PARTIAL && memcmp(line, magic, len < mlen ? len : mlen) == 0)
        return fail(s, (off_t)len, "file ends in the magic line");
    if (len < mlen || memcmp(line, magic, mlen) != 0)
        return fail(s, 0, "bad magic (not a queue file)");
    if (r != LINE_OK)
        return fail(s, (off_t)len, "file ends in the magic line");
    if (parse_uint(line + mlen, len - mlen, 999999, &version) < 0)
        return fail(s, (off_t)mlen, "bad version number");
    if (version != QUEUE_FILE_VERSION)
        return fail(s, (off_t)mlen, "unsupported queue file version %llu", version);
    if (len + 1 != QF_Z_OFFSET)
        return fail(s, 0, "bad magic line length");
    trace(s, 0, line, len);
    qf->version = (int)version;
    *off = (off_t)len + 1;
    return 0;
}

static int parse_sizes(struct qf_src *s, struct queue_file *qf, off_t *off)
{
    off_t at = *off;
    unsigned long long content, added;
    const char *v;
    size_t n;

    if (take_record(s, off, 'Z', &v, &n) < 0)
        return -1;
    if (n != 2 * QF_Z_DIGITS + 1 || v[QF_Z_DIGITS] != ' '
        || parse_uint(v, QF_Z_DIGITS, (unsigned long long)QF_SIZE_MAX, &content) < 0
        || parse_uint(v + QF_Z_DIGITS + 1, QF_Z_DIGITS, (unsigned long long)QF_SIZE_MAX,
                      &added) < 0)
        return fail(s, at, "malformed Z record");
    if (added > content)
        return fail(s, at, "Z record: added-header size %llu exceeds content size %llu",
                    added, content);
    qf->content_size = (off_t)content;
    qf->added_size = (off_t)added;
    return 0;
}

static int parse_time(struct qf_src *s, struct queue_file *qf, off_t *off)
{
    off_t at = *off;
    unsigned long long sec, usec;
    const char *v, *dot;
    size_t n;

    if (take_record(s, off, 'T', &v, &n) < 0)
        return -1;
    dot = memchr(v, '.', n);
    if (dot == NULL || (size_t)(v + n - dot - 1) != 6
        || parse_uint(v, (size_t)(dot - v), (unsigned long long)INT64_MAX / 2, &sec) < 0
        || parse_uint(dot + 1, 6, 999999, &usec) < 0)
        return fail(s, at, "malformed T record");
    qf->arrival.tv_sec = (time_t)sec;
    qf->arrival.tv_usec = (suseconds_t)usec;
    return 0;
}

/* One text record into *dst (a fresh string). */
static int parse_text(struct qf_src *s, off_t *off, char type, char **dst)
{
    const char *v;
    size_t n;

    if (take_record(s, off, type, &v, &n) < 0)
        return -1;
    *dst = xstrndup(v, n);
    return 0;
}

static int parse_envelope_text(struct qf_src *s, struct queue_file *qf, off_t *off)
{
    off_t at;

    if (parse_text(s, off, 'S', &qf->sender) < 0
        || parse_text(s, off, 'N', &qf->client_name) < 0
        || parse_text(s, off, 'A', &qf->client_addr) < 0
        || parse_text(s, off, 'H', &qf->helo) < 0)
        return -1;
    at = *off;
    if (parse_text(s, off, 'P', &qf->protocol) < 0)
        return -1;
    if (!qf_word_ok(qf->protocol, strlen(qf->protocol)))
        return fail(s, at, "malformed P record");
    at = *off;
    if (parse_text(s, off, 'B', &qf->body_type) < 0)
        return -1;
    if (!qf_body_type_ok(qf->body_type, strlen(qf->body_type)))
        return fail(s, at, "B record: unknown body type");
    return parse_text(s, off, 'I', &qf->message_id);
}

/* R records up to and including the M record. */
static int parse_rcpts(struct qf_src *s, struct queue_file *qf, off_t *off)
{
    size_t cap = 0;

    for (;;) {
        const char *line;
        size_t len;
        struct qf_rcpt *r;
        enum line_result lr = src_line(s, *off, &line, &len);

        if (lr == LINE_ERR)
            return -1;
        if (lr != LINE_OK)
            return fail(s, *off, "file ends in the recipient records");
        if (len > 0 && line[0] == 'M') {
            if (len != 1)
                return fail(s, *off, "malformed M record");
            if (qf->rcpt_count == 0)
                return fail(s, *off, "no R record before M");
            trace(s, *off, line, len);
            *off += 2;
            return 0;
        }
        if (len == 0 || line[0] != 'R')
            return bad_record(s, *off, line, len, qf->rcpt_count ? 'M' : 'R');
        if (len < 5 || line[1] != ' ' || !qf_rcpt_state_ok(line[2]) || line[3] != ' ')
            return fail(s, *off, "malformed R record");
        if (!bytes_ok(line, len))
            return fail(s, *off, "R record contains NUL or CR");
        if (qf->rcpt_count >= QF_RCPT_MAX)
            return fail(s, *off, "more than %d recipients", QF_RCPT_MAX);
        trace(s, *off, line, len);
        qf->rcpts = xgrow(qf->rcpts, &cap, qf->rcpt_count + 1, sizeof(*qf->rcpts));
        r = &qf->rcpts[qf->rcpt_count++];
        memset(r, 0, sizeof(*r));
        r->address = xstrndup(line + 4, len - 4);
        r->state = line[2];
        r->state_offset = *off + 2;
        *off += (off_t)len + 1;
    }
}

/* Content must fit, followed by "E\n". */
static int parse_content(struct qf_src *s, struct queue_file *qf, off_t *off)
{
    const unsigned char *p;
    ssize_t got;
    off_t end;

    qf->content_offset = *off;
    if (qf->content_size > s->size - *off)
        return fail(s, *off, "content of %lld bytes (Z record) runs past end of file "
                    "(%lld bytes)", (long long)qf->content_size, (long long)s->size);
    end = *off + qf->content_size;
    if (s->size - end < 2)
        return fail(s, end, "missing end marker (file truncated)");
    got = src_bytes(s, end, 2, &p);
    if (got < 0)
        return -1;
    if (got < 2)
        return fail(s, end, "missing end marker (file truncated)");
    if (p[0] != 'E' || p[1] != '\n')
        return fail(s, end, "missing end marker (content size disagrees with file)");
    trace(s, end, "E", 1);
    *off = end + 2;
    return 0;
}

/* D <time> <index> <dsn> <reason> */
static int parse_delay(struct qf_src *s, struct queue_file *qf, off_t off,
                       const char *line, size_t len)
{
    const char *p = line + 2, *end = line + len, *sp;
    unsigned long long when, index;
    const char *dsn;
    size_t dsn_len;
    struct qf_rcpt *r;

    if (len < 2 || line[1] != ' ' || !bytes_ok(line, len))
        return fail(s, off, "malformed D record");
    sp = memchr(p, ' ', (size_t)(end - p));
    if (sp == NULL || parse_uint(p, (size_t)(sp - p), (unsigned long long)INT64_MAX / 2,
                                 &when) < 0)
        return fail(s, off, "D record: bad time");
    p = sp + 1;
    sp = memchr(p, ' ', (size_t)(end - p));
    if (sp == NULL || parse_uint(p, (size_t)(sp - p), QF_RCPT_MAX, &index) < 0)
        return fail(s, off, "D record: bad recipient index");
    if (index >= qf->rcpt_count)
        return fail(s, off, "D record: recipient index %llu out of range (%zu recipients)",
                    index, qf->rcpt_count);
    p = sp + 1;
    sp = memchr(p, ' ', (size_t)(end - p));
    if (sp == NULL || dsn_prefix_len(p, (size_t)(sp - p), DSN_CLASS_NONE) != (size_t)(sp - p))
        return fail(s, off, "D record: bad DSN status");
    dsn = p;
    dsn_len = (size_t)(sp - p);
    p = sp + 1;
    trace(s, off, line, len);
    r = &qf->rcpts[index];
    xfree(r->delay_dsn);
    xfree(r->delay_reason);
    r->delay_dsn = xstrndup(dsn, dsn_len);
    r->delay_reason = xstrndup(p, (size_t)(end - p));
    r->delay_time = (time_t)when;
    qf->delay_records++;
    return 0;
}

static int parse_appended(struct qf_src *s, struct queue_file *qf, off_t off)
{
    for (;;) {
        const char *line;
        size_t len;
        enum line_result r = src_line(s, off, &line, &len);

        if (r == LINE_ERR)
            return -1;
        if (r == LINE_EOF || r == LINE_PARTIAL)
            return 0;                   /* a partial last record: crash residue */
        if (len == 0 || line[0] != 'D')
            return bad_record(s, off, line, len, 'D');
        if (parse_delay(s, qf, off, line, len) < 0)
            return -1;
        off += (off_t)len + 1;
    }
}

static int parse_all(struct qf_src *s, struct queue_file *qf)
{
    off_t off = 0;

    memset(qf, 0, sizeof(*qf));
    qf->file_size = s->size;
    if (parse_magic(s, qf, &off) < 0
        || parse_sizes(s, qf, &off) < 0
        || parse_time(s, qf, &off) < 0
        || parse_envelope_text(s, qf, &off) < 0
        || parse_rcpts(s, qf, &off) < 0
        || parse_content(s, qf, &off) < 0
        || parse_appended(s, qf, off) < 0) {
        queue_file_free(qf);
        return -1;
    }
    qf->file_size = s->size;            /* may have shrunk while reading */
    return 0;
}

int queue_file_parse(const unsigned char *data, size_t len, struct queue_file *qf,
                     char *err, size_t errlen)
{
    struct qf_src s = {.fd = -1, .err = err, .errlen = errlen};
    static const unsigned char empty[1];

    s.mem = data ? data : empty;
    s.size = data ? (off_t)len : 0;
    return parse_all(&s, qf);
}

int queue_file_read_trace(int fd, struct queue_file *qf, queue_file_trace_fn fn,
                          void *ctx, char *err, size_t errlen)
{
    struct qf_src s = {.fd = fd, .err = err, .errlen = errlen,
                       .trace = fn, .trace_ctx = ctx};
    struct stat st;
    int rc;

    memset(qf, 0, sizeof(*qf));
    if (fstat(fd, &st) < 0) {
        errtext_set(err, errlen, "fstat: %s", strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        errtext_set(err, errlen, "not a regular file");
        return -1;
    }
    s.size = st.st_size;
    s.win = xmalloc(WIN_SIZE);
    rc = parse_all(&s, qf);
    xfree(s.win);
    return rc;
}

int queue_file_read(int fd, struct queue_file *qf, char *err, size_t errlen)
{
    return queue_file_read_trace(fd, qf, NULL, NULL, err, errlen);
}

int queue_file_open(const char *path, int writable, struct queue_file *qf,
                    char *err, size_t errlen)
{
    int fd, flags = (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC;

    memset(qf, 0, sizeof(*qf));
    fd = open(path, flags);
    if (fd < 0) {
        errtext_set(err, errlen, "open: %s", strerror(errno));
        return -1;
    }
    if (queue_file_read(fd, qf, err, errlen) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void queue_file_free(struct queue_file *qf)
{
    if (qf == NULL)
        return;
    xfree(qf->sender);
    xfree(qf->client_name);
    xfree(qf->client_addr);
    xfree(qf->helo);
    xfree(qf->protocol);
    xfree(qf->body_type);
    xfree(qf->message_id);
    for (size_t i = 0; i < qf->rcpt_count; i++) {
        xfree(qf->rcpts[i].address);
        xfree(qf->rcpts[i].delay_dsn);
        xfree(qf->rcpts[i].delay_reason);
    }
    xfree(qf->rcpts);
    memset(qf, 0, sizeof(*qf));
}
