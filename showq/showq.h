/*
 * showq.h - the queue listing service: shared declarations of its modules.
 *
 *   showq.c         main(), the peer check, the request, dispatch
 *   showq_out.c     the output stream: a 64 KB buffer written with write(2),
 *                   terminal-safe text, JSON strings (lib/util/json.h)
 *   showq_select.c  which messages a request is about (state, PCRE2
 *                   patterns, age)
 *   showq_list.c    list (mailq layout), json (JSON Lines), count
 *   showq_topk.c    bounded counting of the most frequent keys
 *   showq_report.c  the one-screen report (text or JSON)
 *
 * Nothing here is shared with another program; the index is read through
 * lib/mail/queue_index.h only.
 */
#ifndef POSTERN_SHOWQ_H
#define POSTERN_SHOWQ_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "attr.h"
#include "queue_index.h"
#include "strbuf.h"

#define SHOWQ_ERR_MAX 512

/* --- showq_out.c --- */

/*
 * The client's stream. Writes block (poll) for at most `timeout` seconds
 * each; after a write error or timeout `failed` is set and every later
 * write is dropped, so a caller checks out->failed to stop walking.
 * Memory: owns its buffer (showq_out_free); does not own or close fd.
 */
struct showq_out {
    int fd;
    int timeout;
    struct strbuf buf;                  /* what is not written yet */
    int failed;
    struct timespec last_flush;
};

#define SHOWQ_OUT_BUFSIZE (64 * 1024)
/* Flush a partial buffer after this long, so output starts at once. */
#define SHOWQ_OUT_LATENCY_MS 50

void showq_out_init(struct showq_out *out, int fd, int timeout);
void showq_out_free(struct showq_out *out);
void showq_out_put(struct showq_out *out, const char *data, size_t len);
void showq_out_str(struct showq_out *out, const char *str);
void showq_out_printf(struct showq_out *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Write what is buffered; -1 when the stream has failed. */
int showq_out_flush(struct showq_out *out);
/* Flush when the buffer is full or has waited SHOWQ_OUT_LATENCY_MS. */
void showq_out_tick(struct showq_out *out);
/* n spaces. */
void showq_out_spaces(struct showq_out *out, size_t n);
/* Bytes for a terminal: control characters, DEL, C1 controls and bytes
 * that are not valid UTF-8 become '?'. */
void showq_out_text(struct showq_out *out, const char *data, size_t len);
/* Like showq_out_text, padded with spaces on the left (right) to `width`
 * columns when width > 0 (< 0); counts one column per character. */
void showq_out_text_pad(struct showq_out *out, const char *data, size_t len, int width);
/* A JSON string with its quotes, by json.h's rule (json_quote). */
void showq_out_json(struct showq_out *out, const char *data, size_t len);

/* Display width (characters) of showq_out_text's output for these bytes. */
size_t showq_out_text_width(const char *data, size_t len);

/* --- showq_select.c --- */

enum showq_select_field {
    SHOWQ_SEL_SENDER,
    SHOWQ_SEL_RECIPIENT,
    SHOWQ_SEL_DOMAIN,
    SHOWQ_SEL_REASON,
    SHOWQ_SEL_FIELDS                    /* how many */
};

struct showq_select {
    int state;                          /* -1: every state but corrupt */
    pcre2_code *re[SHOWQ_SEL_FIELDS];   /* NULL: no condition */
    pcre2_match_data *md[SHOWQ_SEL_FIELDS];
    pcre2_match_context *mctx;
    long older, newer;                  /* seconds of age; -1: no condition */
    time_t now;
    unsigned long match_errors;         /* matches that hit a limit (no match) */
};

/* From the request; 0, or -1 with err filled (bad state, bad pattern with
 * PCRE2's message and offset, bad number). */
int showq_select_init(struct showq_select *sel, const struct attr_msg *req, char *err,
                      size_t errlen);
void showq_select_free(struct showq_select *sel);
/* Only a state (or nothing) is asked for: counts can answer. */
int showq_select_state_only(const struct showq_select *sel);
/* Does the entry match every condition? */
int showq_select_match(struct showq_select *sel, const struct qindex_entry *entry);
/* Does recipient r satisfy the recipient/domain/reason conditions? */
int showq_select_rcpt_match(struct showq_select *sel, const struct qindex_rcpt *r);
/* Are there recipient conditions (recipient, domain, reason)? */
int showq_select_has_rcpt_conditions(const struct showq_select *sel);

/* The domain of an address: after the last '@', "" when there is none. */
const char *showq_select_addr_domain(const char *addr, size_t len, size_t *dlen);

/* --- showq_list.c --- */

int showq_list(struct qindex *qi, struct showq_select *sel, struct showq_out *out,
               char *err, size_t errlen);
int showq_json(struct qindex *qi, struct showq_select *sel, struct showq_out *out,
               char *err, size_t errlen);
int showq_count(struct qindex *qi, struct showq_select *sel, struct showq_out *out,
                char *err, size_t errlen);

/* --- showq_topk.c --- */

/*
 * The most frequent keys of a stream in bounded memory: exact while at
 * most `cap` distinct keys have been seen; beyond that the least counted
 * half is dropped whenever the table fills, and a key that comes (back)
 * later starts at `floor` + 1 (see showq_topk.c). Always: count - error <=
 * true count <= count, and a key not in the table occurred at most `floor`
 * times. Each item may carry `extra_size` bytes of the caller's data
 * (zeroed when the item is new).
 * Memory: the table owns everything; item pointers, keys and extras are
 * valid until the next showq_topk_add.
 */
struct showq_topk_item {
    uint32_t key_off;                   /* in the arena; NUL-terminated */
    uint32_t key_len;
    uint32_t hash;
    uint32_t unused;
    uint64_t count;
    uint64_t error;
};

struct showq_topk_slot {
    uint32_t hash;
    uint32_t idx1;                      /* item index + 1; 0: empty */
};

struct showq_topk {
    struct showq_topk_item *items;
    size_t count, cap;
    struct showq_topk_slot *slots;
    size_t slot_mask;
    struct strbuf arena;                /* the keys, each NUL-terminated */
    unsigned char *extras;
    size_t extra_size;
    uint64_t *scratch;                  /* counts, for the median */
    uint32_t last_idx1;                 /* the item added last + 1; 0: none */
    uint64_t floor;                     /* most occurrences of a dropped key */
    uint64_t sweeps, evicted;
};

void showq_topk_init(struct showq_topk *t, size_t cap, size_t extra_size);
void showq_topk_free(struct showq_topk *t);
/* Count `key` once more; returns its item. *fresh is set when the item is
 * new to this key (its extra data is zero). */
struct showq_topk_item *showq_topk_add(struct showq_topk *t, const char *key, size_t len,
                                       int *fresh);
/* The same with the key's hash (showq_topk_hash) computed already. */
struct showq_topk_item *showq_topk_add_hashed(struct showq_topk *t, const char *key,
                                              size_t len, uint32_t hash, int *fresh);
uint32_t showq_topk_hash(const char *key, size_t len);
/* Start loading the memory a key with this hash will touch. */
void showq_topk_prefetch(const struct showq_topk *t, uint32_t hash);
const char *showq_topk_key(const struct showq_topk *t, const struct showq_topk_item *it);
void *showq_topk_extra(const struct showq_topk *t, const struct showq_topk_item *it);
/* The n most counted items, most first (ties: by key), into out[]; returns
 * how many. */
size_t showq_topk_top(const struct showq_topk *t, const struct showq_topk_item **out,
                      size_t n);

/* --- showq_report.c --- */

#define SHOWQ_REPORT_BUCKETS 10         /* qshape: <5, <10, ... <1280 minutes, 1280+ */

/* Age histogram bucket (0..SHOWQ_REPORT_BUCKETS-1) of an age in seconds. */
int showq_report_bucket(int64_t age);

int showq_report(struct qindex *qi, struct showq_select *sel, int json,
                 struct showq_out *out, char *err, size_t errlen);

#endif
