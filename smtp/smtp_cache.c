/*
 * smtp_cache.c - idle SMTP sessions kept for the next delivery to the same
 * nexthop.
 *
 * Opening a connection (resolve, connect, greeting, EHLO) costs several
 * round trips; a relay that sends a stream of messages to one next hop
 * should pay them once. After a clean transaction the session module hands
 * the session here; the next delivery to the same nexthop takes it and
 * starts with MAIL FROM. A session stays at most
 * smtp_connection_cache_time_limit seconds idle (then QUIT) and is not
 * reused once it is smtp_connection_reuse_time_limit seconds old.
 *
 * Storage: a fixed array of buckets (by hash.h's keyed hash of the nexthop),
 * each a doubly linked list of sessions, newest first, so that take()
 * returns the most recently used (warmest) session and a session unlinks
 * itself in O(1). The number of idle sessions is bounded by the number of
 * concurrent deliveries.
 *
 * Memory: the cache owns the sessions in it and a copy of each key. A
 * session leaves the cache by take() (ownership goes to the caller), by
 * expiry (QUIT, then the session frees itself), or by remove() when the
 * session module saw it die.
 */
#include <string.h>

#include <event2/event.h>

#include "alloc.h"
#include "hash.h"
#include "msg.h"
#include "params.h"
#include "server.h"
#include "smtp.h"

#define CACHE_BUCKETS 1024u

static struct smtp_sess *buckets[CACHE_BUCKETS];
static unsigned cached_count;

static unsigned key_bucket(const char *key)
{
    return (unsigned)(hash_str(key) % CACHE_BUCKETS);
}

static void unlink_session(struct smtp_sess *s)
{
    struct smtp_cache_link *l = smtp_session_cache_link(s);

    if (!l->cached)
        return;
    if (l->prev)
        smtp_session_cache_link(l->prev)->next = l->next;
    else
        buckets[l->bucket] = l->next;
    if (l->next)
        smtp_session_cache_link(l->next)->prev = l->prev;
    l->prev = l->next = NULL;
    l->cached = 0;
    l->key = xfree(l->key);
    if (l->timer) {
        event_free(l->timer);
        l->timer = NULL;
    }
    cached_count--;
}

static void on_idle_expired(evutil_socket_t fd, short what, void *arg)
{
    struct smtp_sess *s = arg;

    (void)fd;
    (void)what;
    unlink_session(s);
    smtp_session_quit(s);
}

void smtp_cache_put(struct smtp_sess *s, const char *nexthop)
{
    struct smtp_cache_link *l = smtp_session_cache_link(s);
    struct timeval tv = { var_smtp_connection_cache_time_limit, 0 };

    if (l->cached)
        msg_panic("smtp_cache_put: session already cached");
    if (server_stopping()) {
        smtp_session_quit_now(s);   /* the process may exit any moment */
        return;
    }
    if (var_smtp_connection_cache_time_limit <= 0
        || smtp_session_age(s) >= (double)var_smtp_connection_reuse_time_limit) {
        smtp_session_quit(s);
        return;
    }
    l->key = xstrdup(nexthop);
    l->bucket = key_bucket(nexthop);
    l->prev = NULL;
    l->next = buckets[l->bucket];
    if (l->next)
        smtp_session_cache_link(l->next)->prev = s;
    buckets[l->bucket] = s;
    l->cached = 1;
    l->timer = evtimer_new(server_event_base(), on_idle_expired, s);
    evtimer_add(l->timer, &tv);
    cached_count++;
}

struct smtp_sess *smtp_cache_take(const char *nexthop)
{
    struct smtp_sess *s = buckets[key_bucket(nexthop)];

    while (s) {
        struct smtp_cache_link *l = smtp_session_cache_link(s);
        struct smtp_sess *next = l->next;

        if (strcmp(l->key, nexthop) == 0) {
            unlink_session(s);
            if (smtp_session_age(s) < (double)var_smtp_connection_reuse_time_limit)
                return s;
            smtp_session_quit(s);
        }
        s = next;
    }
    return NULL;
}

void smtp_cache_remove(struct smtp_sess *s)
{
    unlink_session(s);
}

void smtp_cache_flush(void)
{
    for (unsigned i = 0; i < CACHE_BUCKETS; i++) {
        while (buckets[i]) {
            struct smtp_sess *s = buckets[i];

            unlink_session(s);
            smtp_session_quit_now(s);
        }
    }
    if (cached_count != 0)
        msg_panic("smtp_cache_flush: %u sessions left", cached_count);
}
