/*
 * delivery_log.c - build and log the delivery line (see delivery_log.h).
 */
#include <stdio.h>

#include "delivery_log.h"
#include "msg.h"
#include "strbuf.h"

static int time_set(const struct timeval *tv)
{
    return tv->tv_sec != 0 || tv->tv_usec != 0;
}

/* to - from in seconds, never negative. */
static double elapsed(const struct timeval *from, const struct timeval *to)
{
    double v = (double)(to->tv_sec - from->tv_sec) + (double)(to->tv_usec - from->tv_usec) / 1e6;

    return v > 0 ? v : 0;
}

void delivery_log_delay(double seconds, char *buf, size_t len)
{
    if (seconds < 0.005)
        snprintf(buf, len, "0");
    else
        snprintf(buf, len, "%.2f", seconds);
}

static void add_delay(struct strbuf *out, const struct timeval *from, const struct timeval *to)
{
    char text[32];

    delivery_log_delay(elapsed(from, to), text, sizeof(text));
    strbuf_add_str(out, text);
}

/* The delay fields; each missing time takes the one before it. */
static void add_delays(struct strbuf *out, const struct delivery_log_entry *e)
{
    struct timeval done = e->done, a, b, c;

    if (!time_set(&done))
        gettimeofday(&done, NULL);
    a = time_set(&e->agent_start) ? e->agent_start : done;
    b = time_set(&e->connect_start) ? e->connect_start : a;
    c = time_set(&e->data_start) ? e->data_start : b;
    strbuf_add_str(out, "delay=");
    add_delay(out, &e->arrival, &done);
    strbuf_add_str(out, ", delays=");
    add_delay(out, &e->arrival, &a);
    strbuf_add_char(out, '/');
    add_delay(out, &a, &b);
    strbuf_add_char(out, '/');
    add_delay(out, &b, &c);
    strbuf_add_char(out, '/');
    add_delay(out, &c, &done);
}

static void add_message_id(struct strbuf *out, const char *mid)
{
    if (mid == NULL)
        mid = "";
    if (mid[0] == '<')
        strbuf_printf(out, "message-id=%s", mid);
    else
        strbuf_printf(out, "message-id=<%s>", mid);
}

void delivery_log_format(const struct delivery_log_entry *e, struct strbuf *out)
{
    strbuf_printf(out, "from=<%s>, to=<%s>, ", e->sender ? e->sender : "", e->recipient);
    if (e->orig_recipient != NULL && e->orig_recipient[0] != '\0')
        strbuf_printf(out, "orig_to=<%s>, ", e->orig_recipient);
    strbuf_printf(out, "relay=%s, ", e->relay ? e->relay : "none");
    add_delays(out, e);
    strbuf_printf(out, ", size=%lld, ", e->size);
    add_message_id(out, e->message_id);
    strbuf_printf(out, ", dsn=%s, status=%s (%s)", e->dsn, e->status, e->text ? e->text : "");
}

void delivery_log(const struct delivery_log_entry *e)
{
    struct strbuf line = STRBUF_INIT;

    delivery_log_format(e, &line);
    msg_info("%s: %s", e->queue_id, strbuf_str(&line));
    strbuf_free(&line);
}
