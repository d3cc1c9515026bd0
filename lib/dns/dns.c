/*
 * dns.c - the resolver's life (see dns.h): options, dns_init() and
 * dns_shutdown(). The work is done by the files listed in dns_private.h:
 * servers (dns_server.c), cache (dns_cache.c), lookups (dns_lookup.c),
 * results (dns_result.c) and their formatting (dns_format.c).
 *
 * dns_core says whether the resolver is running; its generation changes at
 * every start and stop so that a delivery loop notices when a callback
 * stopped (and perhaps restarted) the resolver under it.
 *
 * Memory: dns_core holds no memory; each file owns its own state, opened
 * here in order and closed here in the reverse order.
 */
#include <ares.h>
#include <string.h>

#include "dns_private.h"
#include "errtext.h"

#define DEF_TIMEOUT_MS 2000
#define DEF_TRIES 2
#define DEF_CACHE_MAX 10000
#define DEF_MAX_TTL 86400
#define DEF_MAX_NEG_TTL 3600

struct dns_core dns_core;

static void opts_defaults(struct dns_opts *out, const struct dns_opts *in)
{
    struct dns_opts o = {0};

    if (in != NULL)
        o = *in;
    out->timeout_ms = o.timeout_ms > 0 ? o.timeout_ms : DEF_TIMEOUT_MS;
    out->tries = o.tries > 0 ? o.tries : DEF_TRIES;
    out->cache_max = o.cache_max > 0 ? o.cache_max : DEF_CACHE_MAX;
    out->max_ttl = o.max_ttl > 0 ? o.max_ttl : DEF_MAX_TTL;
    out->max_negative_ttl = o.max_negative_ttl > 0 ? o.max_negative_ttl : DEF_MAX_NEG_TTL;
}

int dns_init(struct event_base *base, const char *servers, const struct dns_opts *opts,
             char *err, size_t errlen)
{
    int status;

    if (dns_core.active) {
        errtext_set(err, errlen, "dns_init() called twice");
        return -1;
    }
    dns_core.base = base;
    opts_defaults(&dns_core.opts, opts);
    status = ares_library_init(ARES_LIB_INIT_ALL);
    if (status != ARES_SUCCESS) {
        errtext_set(err, errlen, "c-ares: %s", ares_strerror(status));
        return -1;
    }
    if (dns_servers_open(servers, err, errlen) < 0)
        goto fail;
    if (dns_lookups_open(base, err, errlen) < 0) {
        dns_servers_close();
        goto fail;
    }
    dns_cache_open(dns_core.opts.cache_max == (size_t)-1 ? 0 : dns_core.opts.cache_max);
    dns_core.active = 1;
    dns_core.generation++;
    return 0;

fail:
    ares_library_cleanup();
    return -1;
}

void dns_shutdown(void)
{
    if (!dns_core.active)
        return;
    dns_core.active = 0;
    dns_servers_close();
    dns_lookups_close();
    dns_cache_close();
    dns_core.base = NULL;
    memset(&dns_core.opts, 0, sizeof(dns_core.opts));
    dns_core.generation++;
    ares_library_cleanup();
}
