/*
 * fuzz_queue_index.c - feed arbitrary bytes to the queue index record
 * decoder (qindex_decode).
 *
 * The decoder must accept or reject every input without reading out of
 * bounds. What it accepts must be canonical: encoding the decoded entry
 * gives back exactly the input bytes, and decoding those again gives the
 * same fields. Decoding with fewer recipient slots than recipients must
 * agree with a full decode.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "queue_index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SMALL_CAP 2

static void check_strings(const char *s, size_t len)
{
    if (s == NULL || strlen(s) != len)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qindex_entry e, again, small;
    struct qindex_rcpt *rcpts, *rcpts2, few[SMALL_CAP];
    size_t cap = size / 8 + 1, len;
    unsigned char *buf;

    rcpts = xcalloc(cap, sizeof(*rcpts));
    if (qindex_decode(data, size, &e, rcpts, cap) < 0) {
        /* A smaller array must not change the verdict. */
        if (qindex_decode(data, size, &small, few, SMALL_CAP) == 0)
            abort();
        xfree(rcpts);
        return 0;
    }
    if (e.rcpt_count > cap || (unsigned)e.state >= QUEUE_STATE_COUNT || e.size < 0
        || e.next_attempt < 0 || e.arrival.tv_usec < 0 || e.arrival.tv_usec > 999999)
        abort();
    check_strings(e.sender, e.sender_len);
    for (size_t i = 0; i < e.rcpt_count; i++) {
        check_strings(rcpts[i].address, rcpts[i].address_len);
        check_strings(rcpts[i].dsn, rcpts[i].dsn_len);
        check_strings(rcpts[i].reason, rcpts[i].reason_len);
    }
    if (qindex_decode(data, size, &small, few, SMALL_CAP) < 0 || small.rcpt_count != e.rcpt_count)
        abort();

    /* Re-encode: the same bytes; decode again: the same fields. */
    len = qindex_encoded_size(&e);
    if (len != size)
        abort();
    buf = xmalloc(len + 1);
    if (qindex_encode(&e, buf) != len || memcmp(buf, data, len) != 0)
        abort();
    rcpts2 = xcalloc(cap, sizeof(*rcpts2));
    if (qindex_decode(buf, len, &again, rcpts2, cap) < 0)
        abort();
    if (again.state != e.state || again.arrival.tv_sec != e.arrival.tv_sec
        || again.arrival.tv_usec != e.arrival.tv_usec || again.size != e.size
        || again.next_attempt != e.next_attempt || again.rcpt_count != e.rcpt_count
        || again.sender_len != e.sender_len || strcmp(again.sender, e.sender) != 0)
        abort();
    for (size_t i = 0; i < e.rcpt_count; i++) {
        if (strcmp(rcpts2[i].address, rcpts[i].address) != 0
            || strcmp(rcpts2[i].dsn, rcpts[i].dsn) != 0
            || strcmp(rcpts2[i].reason, rcpts[i].reason) != 0)
            abort();
    }
    xfree(buf);
    xfree(rcpts2);
    xfree(rcpts);
    return 0;
}
