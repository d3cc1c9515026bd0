/*
 * queue_index_record.c - the bytes of the queue index (see queue_index.h):
 * an entry (encode, decode, peek, patch), a "counts" value, and an entry
 * built from a queue file. No LMDB here: the fuzzer drives the decoder
 * directly.
 *
 * Record format (QINDEX_VERSION 1), little-endian, the key being the queue ID:
 *   u8 version, u8 state, i64 arrival seconds, i32 arrival microseconds,
 *   i64 size, i64 next attempt,
 *   u16 sender length, sender bytes, NUL,
 *   u32 recipient count, then per recipient:
 *     u16 length, address, NUL;  u8 length, dsn, NUL;  u16 length, reason, NUL.
 * The decoder accepts exactly what the encoder writes (no trailing bytes, no
 * embedded NUL, lengths within the QINDEX_*_MAX limits, no negative numbers),
 * so every accepted record re-encodes to the same bytes.
 * A "counts" value: u64 messages, u64 bytes.
 *
 * Memory: nothing is allocated; decoded strings point into the caller's
 * bytes.
 */
#include <stdio.h>
#include <string.h>

#include "queue_index_private.h"

/* Record layout. */
#define REC_STATE_AT 1
#define REC_SIZE_AT 14
#define REC_NEXT_AT 22
#define REC_HEADER 30
#define REC_MIN (REC_HEADER + 2 + 1 + 4)
#define RCPT_MIN (2 + 1 + 1 + 1 + 2 + 1)

static unsigned char *put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        p[i] = (unsigned char)(v & 0xFF);
        v >>= 8;
    }
    return p + bytes;
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;

    for (int i = bytes - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/*
 * How many bytes of s (len bytes) to store: up to the first NUL, at most
 * max, and when cut at max, not in the middle of a UTF-8 sequence.
 */
static size_t clamp_len(const char *s, size_t len, size_t max)
{
    size_t lim, n;

    if (s == NULL)
        return 0;
    lim = len < max ? len : max;
    n = strnlen(s, lim);
    if (n == lim && lim < len) {
        for (int k = 0; k < 3 && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; k++)
            n--;
    }
    return n;
}

static size_t rcpt_limit(const struct qindex_entry *entry)
{
    if (entry->rcpts == NULL)
        return 0;
    return entry->rcpt_count > UINT32_MAX ? UINT32_MAX : entry->rcpt_count;
}

size_t qindex_encoded_size(const struct qindex_entry *entry)
{
    size_t size = REC_HEADER + 2 + clamp_len(entry->sender, entry->sender_len,
                                             QINDEX_ADDR_MAX) + 1 + 4;
    size_t n = rcpt_limit(entry);

    for (size_t i = 0; i < n; i++) {
        const struct qindex_rcpt *r = &entry->rcpts[i];

        size += RCPT_MIN;
        size += clamp_len(r->address, r->address_len, QINDEX_ADDR_MAX);
        size += clamp_len(r->dsn, r->dsn_len, QINDEX_DSN_MAX);
        size += clamp_len(r->reason, r->reason_len, QINDEX_REASON_MAX);
    }
    return size;
}

static unsigned char *put_str(unsigned char *p, int width, const char *s, size_t len,
                              size_t max)
{
    size_t n = clamp_len(s, len, max);

    p = put_le(p, n, width);
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    return p + n + 1;
}

size_t qindex_encode(const struct qindex_entry *entry, unsigned char *buf)
{
    unsigned char *p = buf;
    size_t n = rcpt_limit(entry);

    p = put_le(p, QINDEX_VERSION, 1);
    p = put_le(p, (uint64_t)entry->state, 1);
    p = put_le(p, (uint64_t)(int64_t)entry->arrival.tv_sec, 8);
    p = put_le(p, (uint64_t)(uint32_t)(int32_t)entry->arrival.tv_usec, 4);
    p = put_le(p, (uint64_t)entry->size, 8);
    p = put_le(p, (uint64_t)entry->next_attempt, 8);
    p = put_str(p, 2, entry->sender, entry->sender_len, QINDEX_ADDR_MAX);
    p = put_le(p, n, 4);
    for (size_t i = 0; i < n; i++) {
        const struct qindex_rcpt *r = &entry->rcpts[i];

        p = put_str(p, 2, r->address, r->address_len, QINDEX_ADDR_MAX);
        p = put_str(p, 1, r->dsn, r->dsn_len, QINDEX_DSN_MAX);
        p = put_str(p, 2, r->reason, r->reason_len, QINDEX_REASON_MAX);
    }
    return (size_t)(p - buf);
}

/* A bounds-checked reader over a record. */
struct reader {
    const unsigned char *p;
    size_t left;
};

static int read_num(struct reader *r, int bytes, uint64_t *v)
{
    if (r->left < (size_t)bytes)
        return -1;
    *v = get_le(r->p, bytes);
    r->p += bytes;
    r->left -= (size_t)bytes;
    return 0;
}

static int read_str(struct reader *r, int width, size_t max, const char **s, size_t *len)
{
    uint64_t n;

    if (read_num(r, width, &n) < 0 || n > max || n >= r->left)
        return -1;
    if (r->p[n] != '\0' || memchr(r->p, '\0', (size_t)n) != NULL)
        return -1;
    *s = (const char *)r->p;
    *len = (size_t)n;
    r->p += n + 1;
    r->left -= (size_t)n + 1;
    return 0;
}

static int read_rcpt(struct reader *r, struct qindex_rcpt *out)
{
    if (read_str(r, 2, QINDEX_ADDR_MAX, &out->address, &out->address_len) < 0
        || read_str(r, 1, QINDEX_DSN_MAX, &out->dsn, &out->dsn_len) < 0
        || read_str(r, 2, QINDEX_REASON_MAX, &out->reason, &out->reason_len) < 0)
        return -1;
    return 0;
}

int qindex_decode(const unsigned char *data, size_t len, struct qindex_entry *entry,
                  struct qindex_rcpt *rcpts, size_t rcpt_cap)
{
    struct reader r = {.p = data, .left = len};
    uint64_t version, state, sec, usec, size, next, count;

    if (data == NULL || entry == NULL)
        return -1;
    if (read_num(&r, 1, &version) < 0 || version != QINDEX_VERSION
        || read_num(&r, 1, &state) < 0 || state >= QUEUE_STATE_COUNT
        || read_num(&r, 8, &sec) < 0 || sec > INT64_MAX
        || read_num(&r, 4, &usec) < 0 || usec > 999999
        || read_num(&r, 8, &size) < 0 || size > INT64_MAX
        || read_num(&r, 8, &next) < 0 || next > INT64_MAX)
        return -1;
    entry->queue_id[0] = '\0';
    entry->state = (enum queue_state)state;
    entry->arrival.tv_sec = (time_t)sec;
    entry->arrival.tv_usec = (suseconds_t)usec;
    entry->size = (int64_t)size;
    entry->next_attempt = (int64_t)next;
    if (read_str(&r, 2, QINDEX_ADDR_MAX, &entry->sender, &entry->sender_len) < 0
        || read_num(&r, 4, &count) < 0 || count > r.left / RCPT_MIN)
        return -1;
    for (uint64_t i = 0; i < count; i++) {
        struct qindex_rcpt scratch;
        struct qindex_rcpt *out = (rcpts != NULL && i < rcpt_cap) ? &rcpts[i] : &scratch;

        if (read_rcpt(&r, out) < 0)
            return -1;
    }
    if (r.left != 0)
        return -1;
    entry->rcpt_count = (size_t)count;
    entry->rcpts = rcpts;
    return 0;
}

/* State and size of a stored record, without reading the rest. */
int qindex_record_peek(const void *data, size_t len, enum queue_state *state, int64_t *size)
{
    const unsigned char *p = data;
    uint64_t sz;

    if (len < REC_MIN || p[0] != QINDEX_VERSION || p[REC_STATE_AT] >= QUEUE_STATE_COUNT)
        return -1;
    sz = get_le(p + REC_SIZE_AT, 8);
    if (sz > INT64_MAX)
        return -1;
    *state = (enum queue_state)p[REC_STATE_AT];
    *size = (int64_t)sz;
    return 0;
}

void qindex_record_patch(unsigned char *record, enum queue_state state, int64_t next_attempt)
{
    record[REC_STATE_AT] = (unsigned char)state;
    put_le(record + REC_NEXT_AT, (uint64_t)next_attempt, 8);
}

void qindex_count_encode(unsigned char value[QINDEX_COUNT_SIZE], uint64_t messages,
                         uint64_t bytes)
{
    put_le(put_le(value, messages, 8), bytes, 8);
}

int qindex_count_decode(const void *value, size_t len, uint64_t *messages, uint64_t *bytes)
{
    const unsigned char *p = value;

    *messages = *bytes = 0;
    if (len != QINDEX_COUNT_SIZE)
        return -1;
    *messages = get_le(p, 8);
    *bytes = get_le(p + 8, 8);
    return 0;
}

void qindex_entry_from_file(struct qindex_entry *entry, const char *queue_id,
                            enum queue_state state, int64_t next_attempt,
                            const struct queue_file *qf, struct qindex_rcpt *rcpts)
{
    size_t n = 0;

    memset(entry, 0, sizeof(*entry));
    snprintf(entry->queue_id, sizeof(entry->queue_id), "%s", queue_id ? queue_id : "");
    entry->state = state;
    entry->arrival = qf->arrival;
    entry->size = (int64_t)qf->content_size;
    entry->next_attempt = next_attempt;
    entry->sender = qf->sender ? qf->sender : "";
    entry->sender_len = strlen(entry->sender);
    for (size_t i = 0; i < qf->rcpt_count; i++) {
        const struct qf_rcpt *q = &qf->rcpts[i];
        struct qindex_rcpt *r;

        if (q->state != QF_RCPT_PENDING)
            continue;
        r = &rcpts[n++];
        r->address = q->address ? q->address : "";
        r->address_len = strlen(r->address);
        r->dsn = q->delay_dsn ? q->delay_dsn : "";
        r->dsn_len = strlen(r->dsn);
        r->reason = q->delay_reason ? q->delay_reason : "";
        r->reason_len = strlen(r->reason);
    }
    entry->rcpt_count = n;
    entry->rcpts = rcpts;
}
