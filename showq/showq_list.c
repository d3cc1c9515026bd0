/*
 * showq_list.c - the listings: mailq layout, JSON Lines, a count.
 *
 * All three walk the index oldest first in one read transaction and write
 * each matching message as soon as it is seen (showq_out.c flushes within
 * SHOWQ_OUT_LATENCY_MS), so output starts at once whatever the queue size;
 * a client that goes away stops the walk.
 *
 * The mailq layout follows Postfix's (long queue IDs):
 *
 *   -Queue ID-            --Size-- ----Arrival Time---- -Sender/Recipient-------
 *   0005F2A8C31B2E000123*     1234 Sat Nov 21 21:50:03  sender@example.com
 *                                                      rcpt@example.net
 *
 *   0005F2A8C31B2E000456!      512 Sat Nov 21 21:51:00  MAILER-DAEMON
 *                          (connect to mx.example.org[192.0.2.1]:25: Connection refused)
 *                                                      user@example.org
 *
 *   -- 1 Kbytes in 2 Requests.
 *
 * The queue ID is followed by '*' when the message is active and by '!'
 * when it is on hold. A "(reason)" line, right-aligned to column 80, comes
 * before a recipient whose last delay reason differs from the previous
 * recipient's ("(reason unavailable)" when a reason stops). An empty
 * selection prints "Mail queue is empty". Sizes are content sizes in
 * bytes; the total is in Kbytes (1024), rounded down.
 *
 * No memory is kept between calls.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "showq.h"

#define LIST_ID_WIDTH 21
#define LIST_RCPT_INDENT 52
#define LIST_REASON_END 80
#define NULL_SENDER_TEXT "MAILER-DAEMON"

struct list_ctx {
    struct showq_select *sel;
    struct showq_out *out;
    uint64_t messages;
    uint64_t bytes;
};

/* "Sat Nov 21 21:50:03" (local time) into buf (>= 32). */
static void arrival_text(char *buf, size_t len, time_t when)
{
    struct tm tm;

    if (localtime_r(&when, &tm) == NULL || strftime(buf, len, "%a %b %e %H:%M:%S", &tm) == 0)
        snprintf(buf, len, "%lld", (long long)when);
}

static void list_reason(struct showq_out *out, const char *reason, size_t len)
{
    size_t width = showq_out_text_width(reason, len) + 2;

    if (width < LIST_REASON_END)
        showq_out_spaces(out, LIST_REASON_END - width);
    showq_out_put(out, "(", 1);
    showq_out_text(out, reason, len);
    showq_out_put(out, ")\n", 2);
}

static void list_message(struct list_ctx *ctx, const struct qindex_entry *e)
{
    struct showq_out *out = ctx->out;
    char id[QUEUE_ID_MAX + 2], when[32];
    const char *prev = "";
    size_t prev_len = 0;

    if (ctx->messages == 0)
        showq_out_printf(out, "%-*s %8s %-20s %s\n", LIST_ID_WIDTH, "-Queue ID-", "--Size--",
                         "----Arrival Time----", "-Sender/Recipient-------");
    else
        showq_out_put(out, "\n", 1);
    snprintf(id, sizeof(id), "%s%s", e->queue_id,
             e->state == QUEUE_ACTIVE ? "*" : e->state == QUEUE_HOLD ? "!" : "");
    arrival_text(when, sizeof(when), e->arrival.tv_sec);
    showq_out_printf(out, "%-*s %8" PRId64 " %-20.19s ", LIST_ID_WIDTH, id, e->size, when);
    if (e->sender_len == 0)
        showq_out_str(out, NULL_SENDER_TEXT);
    else
        showq_out_text(out, e->sender, e->sender_len);
    showq_out_put(out, "\n", 1);
    for (size_t i = 0; i < e->rcpt_count; i++) {
        const struct qindex_rcpt *r = &e->rcpts[i];
        if (r->reason_len != prev_len || memcmp(r->reason, prev, prev_len) != 0) {
            if (r->reason_len > 0)
                list_reason(out, r->reason, r->reason_len);
            else
                list_reason(out, "reason unavailable", strlen("reason unavailable"));
            prev = r->reason;
            prev_len = r->reason_len;
        }
        showq_out_spaces(out, LIST_RCPT_INDENT);
        showq_out_text(out, r->address, r->address_len);
        showq_out_put(out, "\n", 1);
    }
}

static int list_one(const struct qindex_entry *e, void *arg)
{
    struct list_ctx *ctx = arg;

    if (ctx->out->failed)
        return 1;
    if (!showq_select_match(ctx->sel, e))
        return 0;
    list_message(ctx, e);
    ctx->messages++;
    ctx->bytes += e->size > 0 ? (uint64_t)e->size : 0;
    showq_out_tick(ctx->out);
    return 0;
}

/* Walk the index in a read transaction; 0 ok (also when the client left),
 * -1 with err. */
static int walk(struct qindex *qi, qindex_walk_fn fn, void *ctx, char *err, size_t errlen)
{
    int rc;

    if (qindex_read_begin(qi, err, errlen) < 0)
        return -1;
    rc = qindex_walk(qi, fn, ctx, err, errlen);
    qindex_read_end(qi);
    return rc < 0 ? -1 : 0;
}

int showq_list(struct qindex *qi, struct showq_select *sel, struct showq_out *out,
               char *err, size_t errlen)
{
    struct list_ctx ctx = { .sel = sel, .out = out };

    if (walk(qi, list_one, &ctx, err, errlen) < 0)
        return -1;
    if (ctx.messages == 0)
        showq_out_str(out, "Mail queue is empty\n");
    else
        showq_out_printf(out, "\n-- %" PRIu64 " Kbytes in %" PRIu64 " Request%s.\n",
                         ctx.bytes / 1024, ctx.messages, ctx.messages == 1 ? "" : "s");
    return 0;
}

/* --- JSON Lines, field for field as Postfix's postqueue -j --- */

static void json_message(struct showq_out *out, const struct qindex_entry *e)
{
    const char *qname = queue_state_name(e->state);

    showq_out_str(out, "{\"queue_name\": ");
    showq_out_json(out, qname, strlen(qname));
    showq_out_str(out, ", \"queue_id\": ");
    showq_out_json(out, e->queue_id, strlen(e->queue_id));
    showq_out_printf(out, ", \"arrival_time\": %lld, \"message_size\": %" PRId64
                     ", \"force_expired\": false, \"sender\": ",
                     (long long)e->arrival.tv_sec, e->size);
    showq_out_json(out, e->sender, e->sender_len);
    showq_out_str(out, ", \"recipients\": [");
    for (size_t i = 0; i < e->rcpt_count; i++) {
        const struct qindex_rcpt *r = &e->rcpts[i];
        showq_out_str(out, i ? ", {\"address\": " : "{\"address\": ");
        showq_out_json(out, r->address, r->address_len);
        if (r->reason_len > 0) {
            showq_out_str(out, ", \"delay_reason\": ");
            showq_out_json(out, r->reason, r->reason_len);
        }
        showq_out_put(out, "}", 1);
    }
    showq_out_str(out, "]}\n");
}

static int json_one(const struct qindex_entry *e, void *arg)
{
    struct list_ctx *ctx = arg;

    if (ctx->out->failed)
        return 1;
    if (!showq_select_match(ctx->sel, e))
        return 0;
    json_message(ctx->out, e);
    ctx->messages++;
    showq_out_tick(ctx->out);
    return 0;
}

int showq_json(struct qindex *qi, struct showq_select *sel, struct showq_out *out,
               char *err, size_t errlen)
{
    struct list_ctx ctx = { .sel = sel, .out = out };

    return walk(qi, json_one, &ctx, err, errlen);
}

/* --- count --- */

static int count_one(const struct qindex_entry *e, void *arg)
{
    struct list_ctx *ctx = arg;

    if (showq_select_match(ctx->sel, e))
        ctx->messages++;
    return 0;
}

int showq_count(struct qindex *qi, struct showq_select *sel, struct showq_out *out,
                char *err, size_t errlen)
{
    struct list_ctx ctx = { .sel = sel, .out = out };

    if (showq_select_state_only(sel)) {
        uint64_t messages[QUEUE_STATE_COUNT], bytes[QUEUE_STATE_COUNT];
        int rc;

        if (qindex_read_begin(qi, err, errlen) < 0)
            return -1;
        rc = qindex_counts(qi, messages, bytes);
        qindex_read_end(qi);
        if (rc < 0) {
            snprintf(err, errlen, "%s", qindex_error(qi));
            return -1;
        }
        for (int s = 0; s < QUEUE_STATE_COUNT; s++)
            if (sel->state >= 0 ? s == sel->state : s != QUEUE_CORRUPT)
                ctx.messages += messages[s];
    } else if (walk(qi, count_one, &ctx, err, errlen) < 0) {
        return -1;
    }
    showq_out_printf(out, "%" PRIu64 "\n", ctx.messages);
    return 0;
}
