/*
 * showq_report.c - one screen that answers "what is in my queue".
 *
 * One walk of the index (oldest first) feeds:
 *   - messages and bytes per queue (every state; corrupt included here,
 *     and only here, when no queue is selected);
 *   - the oldest message;
 *   - top senders (by messages), top recipient domains (by pending
 *     recipients, also counting messages, with the oldest message and a
 *     qshape-style age histogram for each), top delay reasons (by
 *     recipients), TOP_N of each;
 *   - the age histogram of all pending recipients (the TOTAL row).
 * When the request has recipient conditions (recipient, domain, reason)
 * only the recipients that satisfy them are counted.
 *
 * Age buckets, in minutes as in Postfix's qshape: T (total), then 5, 10,
 * 20, 40, 80, 160, 320, 640, 1280 (each: younger than that, older than the
 * previous) and 1280+.
 *
 * Memory is bounded: senders, domains and reasons are counted in
 * showq_topk.c tables of REPORT_DISTINCT_MAX keys each, exact up to that
 * many distinct keys. Beyond that, counts that may include occurrences of
 * dropped keys are marked '~' in text ("approximate": true in JSON; each
 * is an upper bound), and a key that is not listed occurred at most
 * max(floor, the last count shown) times; the floors are printed (JSON:
 * "floors"; 0 means exact). Domains are counted in lower case.
 *
 * Output: text for a terminal (hostile strings pass through showq_out_text) or
 * one JSON object on one line (format=json).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "showq.h"

#define TOP_N 10
#define REPORT_DISTINCT_MAX 8192
#define DOMAIN_MAX 256
#define NULL_SENDER_TEXT "MAILER-DAEMON"

/* The upper bounds of the age buckets but the last, in minutes. */
static const int bucket_minutes[SHOWQ_REPORT_BUCKETS - 1] = {
    5, 10, 20, 40, 80, 160, 320, 640, 1280
};

struct report {
    struct showq_select *sel;
    uint64_t messages[QUEUE_STATE_COUNT];
    uint64_t bytes[QUEUE_STATE_COUNT];
    uint64_t seq;                       /* messages aggregated so far */
    uint64_t rcpts;
    uint64_t hist[SHOWQ_REPORT_BUCKETS];
    int have_oldest;
    char oldest_id[QUEUE_ID_MAX + 1];
    int64_t oldest;
    enum queue_state oldest_state;
    char *oldest_sender;
    struct showq_topk senders, domains, reasons;
};

/* The extra data of each domain item. */
struct domain_stats {
    uint64_t messages;                  /* distinct messages (see last_seq) */
    uint64_t last_seq;
    int64_t oldest;                     /* arrival of the oldest message */
    char oldest_id[QUEUE_ID_MAX + 1];
    uint64_t hist[SHOWQ_REPORT_BUCKETS];
};

int showq_report_bucket(int64_t age)
{
    for (int i = 0; i < SHOWQ_REPORT_BUCKETS - 1; i++)
        if (age < (int64_t)bucket_minutes[i] * 60)
            return i;
    return SHOWQ_REPORT_BUCKETS - 1;
}

/* One recipient to count, its domain in lower case, and the hashes of its
 * keys (computed first so that their table slots load meanwhile). */
struct pending_rcpt {
    const struct qindex_rcpt *rc;
    char domain[DOMAIN_MAX];
    size_t domain_len;
    uint32_t domain_hash, reason_hash;
};

static void prepare_rcpt(struct report *r, struct pending_rcpt *p, const struct qindex_rcpt *rc)
{
    size_t dlen;
    const char *domain = showq_select_addr_domain(rc->address, rc->address_len, &dlen);

    if (dlen > sizeof(p->domain))
        dlen = sizeof(p->domain);
    for (size_t i = 0; i < dlen; i++) {
        char c = domain[i];
        p->domain[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    p->rc = rc;
    p->domain_len = dlen;
    p->domain_hash = showq_topk_hash(p->domain, dlen);
    showq_topk_prefetch(&r->domains, p->domain_hash);
    p->reason_hash = 0;
    if (rc->reason_len > 0) {
        p->reason_hash = showq_topk_hash(rc->reason, rc->reason_len);
        showq_topk_prefetch(&r->reasons, p->reason_hash);
    }
}

static void count_rcpt(struct report *r, const struct qindex_entry *e,
                       const struct pending_rcpt *p, int bucket)
{
    struct domain_stats *ds;
    struct showq_topk_item *it;
    int fresh;

    r->rcpts++;
    r->hist[bucket]++;
    it = showq_topk_add_hashed(&r->domains, p->domain, p->domain_len, p->domain_hash,
                               &fresh);
    ds = showq_topk_extra(&r->domains, it);
    if (fresh || e->arrival.tv_sec < ds->oldest) {
        ds->oldest = e->arrival.tv_sec;
        memcpy(ds->oldest_id, e->queue_id, sizeof(ds->oldest_id));
    }
    if (ds->last_seq != r->seq) {
        ds->last_seq = r->seq;
        ds->messages++;
    }
    ds->hist[bucket]++;
    if (p->rc->reason_len > 0)
        showq_topk_add_hashed(&r->reasons, p->rc->reason, p->rc->reason_len, p->reason_hash,
                              &fresh);
}

#define AGG_BATCH 8

static void aggregate(struct report *r, const struct qindex_entry *e)
{
    int64_t age = (int64_t)(r->sel->now - e->arrival.tv_sec);
    int bucket = showq_report_bucket(age < 0 ? 0 : age);
    int rcpt_cond = showq_select_has_rcpt_conditions(r->sel);
    uint32_t sender_hash = showq_topk_hash(e->sender, e->sender_len);
    size_t i = 0;
    int fresh, sender_done = 0;

    showq_topk_prefetch(&r->senders, sender_hash);
    r->seq++;
    if (!r->have_oldest || e->arrival.tv_sec < r->oldest) {
        r->have_oldest = 1;
        r->oldest = e->arrival.tv_sec;
        r->oldest_state = e->state;
        memcpy(r->oldest_id, e->queue_id, sizeof(r->oldest_id));
        xfree(r->oldest_sender);
        r->oldest_sender = xstrndup(e->sender, e->sender_len);
    }
    /* Recipients in batches: hash and prefetch a batch, then count it. */
    do {
        struct pending_rcpt batch[AGG_BATCH];
        size_t n = 0;

        for (; i < e->rcpt_count && n < AGG_BATCH; i++) {
            if (rcpt_cond && !showq_select_rcpt_match(r->sel, &e->rcpts[i]))
                continue;
            prepare_rcpt(r, &batch[n++], &e->rcpts[i]);
        }
        if (!sender_done) {
            showq_topk_add_hashed(&r->senders, e->sender, e->sender_len, sender_hash,
                                  &fresh);
            sender_done = 1;
        }
        for (size_t k = 0; k < n; k++)
            count_rcpt(r, e, &batch[k], bucket);
    } while (i < e->rcpt_count);
}

static int report_one(const struct qindex_entry *e, void *arg)
{
    struct report *r = arg;
    struct showq_select *sel = r->sel;

    if (showq_select_match(sel, e)) {
        r->messages[e->state]++;
        r->bytes[e->state] += e->size > 0 ? (uint64_t)e->size : 0;
        aggregate(r, e);
    } else if (sel->state < 0 && e->state == QUEUE_CORRUPT) {
        /* Shown in the per-queue table only. */
        sel->state = QUEUE_CORRUPT;
        if (showq_select_match(sel, e)) {
            r->messages[e->state]++;
            r->bytes[e->state] += e->size > 0 ? (uint64_t)e->size : 0;
        }
        sel->state = -1;
    }
    return 0;
}

/* --- formatting helpers --- */

static void age_text(char *buf, size_t len, int64_t age)
{
    if (age < 0)
        age = 0;
    if (age < 60)
        snprintf(buf, len, "%" PRId64 "s", age);
    else if (age < 3600)
        snprintf(buf, len, "%" PRId64 "m", age / 60);
    else if (age < 86400)
        snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", age / 3600, age % 3600 / 60);
    else
        snprintf(buf, len, "%" PRId64 "d%02" PRId64 "h", age / 86400, age % 86400 / 3600);
}

static void date_text(char *buf, size_t len, time_t when)
{
    struct tm tm;

    if (localtime_r(&when, &tm) == NULL
        || strftime(buf, len, "%a %b %e %H:%M:%S %Y", &tm) == 0)
        snprintf(buf, len, "%lld", (long long)when);
}

/* A count, prefixed by '~' when estimated, right-aligned in width. */
static void count_cell(struct showq_out *out, uint64_t n, int approx, int width)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%s%" PRIu64, approx ? "~" : "", n);
    showq_out_printf(out, "%*s", width, buf);
}

/* A key for a terminal; `empty` stands for the empty key. */
static void key_text(struct showq_out *out, const struct showq_topk *t,
                     const struct showq_topk_item *it, const char *empty)
{
    if (it->key_len > 0)
        showq_out_text(out, showq_topk_key(t, it), it->key_len);
    else
        showq_out_str(out, empty);
}

struct top_lists {
    const struct showq_topk_item *doms[TOP_N], *snds[TOP_N], *rsns[TOP_N];
    size_t nd, ns, nr;
};

static void top_lists(struct report *r, struct top_lists *l)
{
    l->nd = showq_topk_top(&r->domains, l->doms, TOP_N);
    l->ns = showq_topk_top(&r->senders, l->snds, TOP_N);
    l->nr = showq_topk_top(&r->reasons, l->rsns, TOP_N);
}

/* --- text --- */

static void text_queues(struct report *r, struct showq_out *out)
{
    uint64_t m = 0, b = 0;

    showq_out_printf(out, "%-10s %12s %16s\n", "Queue", "Messages", "Bytes");
    for (int s = 0; s < QUEUE_STATE_COUNT; s++) {
        showq_out_printf(out, "%-10s %12" PRIu64 " %16" PRIu64 "\n", queue_state_name(s),
                         r->messages[s], r->bytes[s]);
        m += r->messages[s];
        b += r->bytes[s];
    }
    showq_out_printf(out, "%-10s %12" PRIu64 " %16" PRIu64 "\n", "total", m, b);
}

static void text_oldest(struct report *r, struct showq_out *out)
{
    char date[64], age[32];

    if (!r->have_oldest) {
        showq_out_str(out, "\nNo message matches.\n");
        return;
    }
    date_text(date, sizeof(date), r->oldest);
    age_text(age, sizeof(age), (int64_t)(r->sel->now - r->oldest));
    showq_out_printf(out, "\nOldest message: %s (%s), arrived %s, %s ago, from ",
                     r->oldest_id, queue_state_name(r->oldest_state), date, age);
    if (*r->oldest_sender)
        showq_out_text(out, r->oldest_sender, strlen(r->oldest_sender));
    else
        showq_out_str(out, NULL_SENDER_TEXT);
    showq_out_put(out, "\n", 1);
}

static void text_domains(struct report *r, struct showq_out *out, const struct top_lists *l)
{
    char age[32];

    if (l->nd == 0)
        return;
    showq_out_printf(out, "\nTop recipient domains\n%12s %10s  %-8s %-22s %s\n", "Recipients",
                     "Messages", "Oldest", "Oldest queue ID", "Domain");
    for (size_t i = 0; i < l->nd; i++) {
        const struct showq_topk_item *it = l->doms[i];
        const struct domain_stats *ds = showq_topk_extra(&r->domains, it);

        age_text(age, sizeof(age), (int64_t)(r->sel->now - ds->oldest));
        count_cell(out, it->count, it->error > 0, 12);
        count_cell(out, ds->messages, it->error > 0, 11);
        showq_out_printf(out, "  %-8s %-22s ", age, ds->oldest_id);
        key_text(out, &r->domains, it, "(no domain)");
        showq_out_put(out, "\n", 1);
    }
}

static void text_keyed(struct showq_out *out, const char *title, const char *unit,
                       const char *what, const struct showq_topk *t, const char *empty,
                       const struct showq_topk_item *const *top, size_t n)
{
    if (n == 0)
        return;
    showq_out_printf(out, "\n%s\n%12s  %s\n", title, unit, what);
    for (size_t i = 0; i < n; i++) {
        count_cell(out, top[i]->count, top[i]->error > 0, 12);
        showq_out_str(out, "  ");
        key_text(out, t, top[i], empty);
        showq_out_put(out, "\n", 1);
    }
}

static void text_hist_row(struct showq_out *out, const char *label, size_t label_len,
                          int width, const uint64_t *hist)
{
    uint64_t total = 0;

    for (int b = 0; b < SHOWQ_REPORT_BUCKETS; b++)
        total += hist[b];
    showq_out_text_pad(out, label, label_len, width);
    showq_out_printf(out, " %7" PRIu64, total);
    for (int b = 0; b < SHOWQ_REPORT_BUCKETS; b++)
        showq_out_printf(out, " %5" PRIu64, hist[b]);
    showq_out_put(out, "\n", 1);
}

static void text_shape(struct report *r, struct showq_out *out, const struct top_lists *l)
{
    int width = 5;

    if (r->rcpts == 0)
        return;
    for (size_t i = 0; i < l->nd; i++) {
        size_t w = showq_out_text_width(showq_topk_key(&r->domains, l->doms[i]),
                                        l->doms[i]->key_len);
        if (w > (size_t)width)
            width = w > 40 ? 40 : (int)w;
    }
    showq_out_str(out, "\nAge of pending recipients in minutes (qshape)\n");
    showq_out_printf(out, "%*s %7s", width, "", "T");
    for (int b = 0; b < SHOWQ_REPORT_BUCKETS - 1; b++)
        showq_out_printf(out, " %5d", bucket_minutes[b]);
    showq_out_printf(out, " %4d+\n", bucket_minutes[SHOWQ_REPORT_BUCKETS - 2]);
    text_hist_row(out, "TOTAL", 5, width, r->hist);
    for (size_t i = 0; i < l->nd; i++) {
        const struct domain_stats *ds = showq_topk_extra(&r->domains, l->doms[i]);
        text_hist_row(out, showq_topk_key(&r->domains, l->doms[i]), l->doms[i]->key_len,
                      width, ds->hist);
    }
}

static void text_floors(struct report *r, struct showq_out *out)
{
    if (r->senders.floor == 0 && r->domains.floor == 0 && r->reasons.floor == 0)
        return;
    showq_out_printf(out, "\n~ estimated (more than %d distinct keys): the true count is at "
                     "most the one shown.\n  A key not listed occurred at most this often "
                     "(or as often as the last one shown):\n  senders %" PRIu64
                     ", domains %" PRIu64
                     ", reasons %" PRIu64 ".\n", REPORT_DISTINCT_MAX, r->senders.floor,
                     r->domains.floor, r->reasons.floor);
}

static void report_text(struct report *r, struct showq_out *out)
{
    struct top_lists l;
    char date[64];

    top_lists(r, &l);
    date_text(date, sizeof(date), r->sel->now);
    showq_out_printf(out, "Queue report, %s\n\n", date);
    text_queues(r, out);
    text_oldest(r, out);
    text_domains(r, out, &l);
    text_keyed(out, "Top senders", "Messages", "Sender", &r->senders, NULL_SENDER_TEXT,
               l.snds, l.ns);
    text_keyed(out, "Top delay reasons", "Recipients", "Reason", &r->reasons, "(none)",
               l.rsns, l.nr);
    text_shape(r, out, &l);
    text_floors(r, out);
}

/* --- JSON --- */

static void json_hist(struct showq_out *out, const uint64_t *hist)
{
    showq_out_put(out, "[", 1);
    for (int b = 0; b < SHOWQ_REPORT_BUCKETS; b++)
        showq_out_printf(out, "%s%" PRIu64, b ? ", " : "", hist[b]);
    showq_out_put(out, "]", 1);
}

static void json_queues(struct report *r, struct showq_out *out)
{
    uint64_t m = 0, b = 0;

    showq_out_str(out, "\"queues\": {");
    for (int s = 0; s < QUEUE_STATE_COUNT; s++) {
        showq_out_printf(out, "%s\"%s\": {\"messages\": %" PRIu64 ", \"bytes\": %" PRIu64 "}",
                         s ? ", " : "", queue_state_name(s), r->messages[s], r->bytes[s]);
        m += r->messages[s];
        b += r->bytes[s];
    }
    showq_out_printf(out, "}, \"total\": {\"messages\": %" PRIu64 ", \"bytes\": %" PRIu64 "}",
                     m, b);
}

static void json_oldest(struct report *r, struct showq_out *out)
{
    showq_out_str(out, ", \"oldest\": ");
    if (!r->have_oldest) {
        showq_out_str(out, "null");
        return;
    }
    showq_out_printf(out, "{\"queue_id\": \"%s\", \"queue_name\": \"%s\", "
                     "\"arrival_time\": %lld, \"age\": %lld, \"sender\": ", r->oldest_id,
                     queue_state_name(r->oldest_state), (long long)r->oldest,
                     (long long)(r->sel->now - r->oldest));
    showq_out_json(out, r->oldest_sender, strlen(r->oldest_sender));
    showq_out_put(out, "}", 1);
}

static void json_keyed(struct showq_out *out, const char *name, const char *key_name,
                       const char *count_name, const struct showq_topk *t,
                       const struct showq_topk_item *const *top, size_t n)
{
    showq_out_printf(out, ", \"%s\": [", name);
    for (size_t i = 0; i < n; i++) {
        showq_out_printf(out, "%s{\"%s\": ", i ? ", " : "", key_name);
        showq_out_json(out, showq_topk_key(t, top[i]), top[i]->key_len);
        showq_out_printf(out, ", \"%s\": %" PRIu64 ", \"approximate\": %s}", count_name,
                         top[i]->count, top[i]->error > 0 ? "true" : "false");
    }
    showq_out_put(out, "]", 1);
}

static void json_domains(struct report *r, struct showq_out *out, const struct top_lists *l)
{
    showq_out_str(out, ", \"top_domains\": [");
    for (size_t i = 0; i < l->nd; i++) {
        const struct showq_topk_item *it = l->doms[i];
        const struct domain_stats *ds = showq_topk_extra(&r->domains, it);

        showq_out_str(out, i ? ", {\"domain\": " : "{\"domain\": ");
        showq_out_json(out, showq_topk_key(&r->domains, it), it->key_len);
        showq_out_printf(out, ", \"recipients\": %" PRIu64 ", \"messages\": %" PRIu64
                         ", \"approximate\": %s, \"oldest_queue_id\": \"%s\""
                         ", \"oldest_arrival_time\": %lld, \"oldest_age\": %lld"
                         ", \"age_histogram\": ",
                         it->count, ds->messages, it->error > 0 ? "true" : "false",
                         ds->oldest_id, (long long)ds->oldest,
                         (long long)(r->sel->now - ds->oldest));
        json_hist(out, ds->hist);
        showq_out_put(out, "}", 1);
    }
    showq_out_put(out, "]", 1);
}

static void report_json(struct report *r, struct showq_out *out)
{
    struct top_lists l;

    top_lists(r, &l);
    showq_out_printf(out, "{\"time\": %lld, ", (long long)r->sel->now);
    json_queues(r, out);
    json_oldest(r, out);
    showq_out_printf(out, ", \"recipients\": %" PRIu64 ", \"age_buckets_minutes\": [",
                     r->rcpts);
    for (int b = 0; b < SHOWQ_REPORT_BUCKETS - 1; b++)
        showq_out_printf(out, "%s%d", b ? ", " : "", bucket_minutes[b]);
    showq_out_str(out, "], \"age_histogram\": ");
    json_hist(out, r->hist);
    json_domains(r, out, &l);
    json_keyed(out, "top_senders", "sender", "messages", &r->senders, l.snds, l.ns);
    json_keyed(out, "top_reasons", "reason", "recipients", &r->reasons, l.rsns, l.nr);
    showq_out_printf(out, ", \"distinct_limit\": %d, \"floors\": {\"senders\": %" PRIu64
                     ", \"domains\": %" PRIu64 ", \"reasons\": %" PRIu64 "}}\n",
                     REPORT_DISTINCT_MAX, r->senders.floor, r->domains.floor,
                     r->reasons.floor);
}

int showq_report(struct qindex *qi, struct showq_select *sel, int json,
                 struct showq_out *out, char *err, size_t errlen)
{
    struct report r;
    int rc;

    memset(&r, 0, sizeof(r));
    r.sel = sel;
    showq_topk_init(&r.senders, REPORT_DISTINCT_MAX, 0);
    showq_topk_init(&r.domains, REPORT_DISTINCT_MAX, sizeof(struct domain_stats));
    showq_topk_init(&r.reasons, REPORT_DISTINCT_MAX, 0);
    rc = qindex_read_begin(qi, err, errlen);
    if (rc == 0) {
        rc = qindex_walk(qi, report_one, &r, err, errlen) < 0 ? -1 : 0;
        qindex_read_end(qi);
    }
    if (rc == 0) {
        if (json)
            report_json(&r, out);
        else
            report_text(&r, out);
    }
    showq_topk_free(&r.senders);
    showq_topk_free(&r.domains);
    showq_topk_free(&r.reasons);
    xfree(r.oldest_sender);
    return rc;
}
