/*
 * dns_server.c - the resolver's servers (see dns.h, "Servers"): the
 * dns_servers list or the nameservers of /etc/resolv.conf, and one c-ares
 * channel per server, so that we always know which server answered.
 *
 * c-ares reports which sockets it wants watched through its socket-state
 * callback; each becomes a persistent libevent event on dns_core.base, and
 * one timer per channel follows ares_timeout(). NOCHECKRESP makes c-ares
 * hand over SERVFAIL/NOTIMP/REFUSED answers: dns_lookup.c moves on to the
 * next server itself.
 *
 * Memory: the module owns the server array, each channel, its socket
 * events and timer, and the text of the list (dns_servers()).
 */
#include <arpa/inet.h>
#include <ares.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "dns_private.h"
#include "errtext.h"
#include "hostport.h"
#include "msg.h"
#include "strlist.h"

#define DNS_PORT 53
/* One item of the list as typed: a label plus room for leading zeros. */
#define ITEM_MAX (DNS_SERVER_LABEL_MAX + 8)

struct sock_watch {
    ares_socket_t fd;
    short flags;
    struct event *ev;
};

struct server {
    char label[DNS_SERVER_LABEL_MAX]; /* "127.0.0.1:5353", "[::1]:53" */
    ares_channel channel;
    int channel_ok;
    struct event *timer;
    struct sock_watch *socks;
    size_t nsocks;
    size_t socks_cap;
};

static struct {
    struct server list[DNS_SERVERS_MAX];
    size_t count;
    char text[DNS_SERVERS_MAX * (DNS_SERVER_LABEL_MAX + 1)];
} servers;

/* ------------------------------------------------------------------------ */
/* The server list */

/*
 * One dns_servers item: "IPv4", "IPv4:port", "IPv6", "[IPv6]" or
 * "[IPv6]:port" (hostport.h; port default 53) -> the canonical label
 * "192.0.2.1:53" or "[2001:db8::1]:53". -1 with err when it is none of those.
 */
static int server_item_parse(const char *item, char *label, size_t labellen,
                             char *err, size_t errlen)
{
    struct hostport hp;
    unsigned char bin[16];
    char text[DNS_ADDR_TEXT_MAX];

    if (hostport_parse(item, HOSTPORT_BARE_IPV6 | HOSTPORT_NEED_ADDRESS, &hp, err, errlen) < 0)
        return -1;
    if (inet_pton(hp.family, hp.host, bin) != 1
        || inet_ntop(hp.family, bin, text, sizeof(text)) == NULL) {
        errtext_set(err, errlen, "bad address \"%.60s\"", hp.host);
        return -1;
    }
    snprintf(label, labellen, hp.family == AF_INET6 ? "[%s]:%u" : "%s:%u", text,
             hp.has_port ? hp.port : DNS_PORT);
    return 0;
}

/* Items separated by commas and/or white space (strlist.h). */
static int servers_from_spec(const char *spec, char *err, size_t errlen)
{
    const char *pos = spec, *start;
    long n;

    while ((n = strlist_next(&pos, &start)) > 0) {
        char item[ITEM_MAX], why[128];

        if ((size_t)n >= sizeof(item)) {
            errtext_set(err, errlen, "dns server \"%.40s...\" is too long", start);
            return -1;
        }
        memcpy(item, start, (size_t)n);
        item[n] = 0;
        if (servers.count >= DNS_SERVERS_MAX) {
            errtext_set(err, errlen, "more than %d dns servers", DNS_SERVERS_MAX);
            return -1;
        }
        if (server_item_parse(item, servers.list[servers.count].label, DNS_SERVER_LABEL_MAX,
                              why, sizeof(why)) < 0) {
            errtext_set(err, errlen, "bad dns server \"%s\" (want IP, IP:port or [IPv6]:port): "
                        "%s", item, why);
            return -1;
        }
        servers.count++;
    }
    if (n < 0) {
        errtext_set(err, errlen, "dns servers: unbalanced braces in \"%.60s\"", spec);
        return -1;
    }
    return 0;
}

/* The nameservers of /etc/resolv.conf, as c-ares reads them. */
static int servers_from_system(char *err, size_t errlen)
{
    ares_channel channel;
    struct ares_options o;
    struct ares_addr_port_node *list = NULL;
    int status;

    memset(&o, 0, sizeof(o));
    o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    status = ares_init_options(&channel, &o, ARES_OPT_FLAGS);
    if (status != ARES_SUCCESS) {
        errtext_set(err, errlen, "c-ares cannot read the system resolver configuration: %s",
                    ares_strerror(status));
        return -1;
    }
    status = ares_get_servers_ports(channel, &list);
    for (struct ares_addr_port_node *n = list; status == ARES_SUCCESS && n; n = n->next) {
        char text[DNS_ADDR_TEXT_MAX];
        struct server *srv;

        if (servers.count >= DNS_SERVERS_MAX)
            break;
        if (n->family != AF_INET && n->family != AF_INET6)
            continue;
        srv = &servers.list[servers.count++];
        inet_ntop(n->family, &n->addr, text, sizeof(text));
        snprintf(srv->label, sizeof(srv->label), n->family == AF_INET6 ? "[%s]:%d" : "%s:%d",
                 text, n->udp_port ? n->udp_port : DNS_PORT);
    }
    ares_free_data(list);
    ares_destroy(channel);
    if (servers.count == 0) {
        errtext_set(err, errlen, "no nameserver found in the system resolver configuration");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* c-ares on libevent */

static void server_rearm(struct server *srv)
{
    struct timeval tv, *tvp;

    if (!srv->channel_ok)
        return;
    tvp = ares_timeout(srv->channel, NULL, &tv);
    if (tvp == NULL)
        evtimer_del(srv->timer);
    else
        evtimer_add(srv->timer, tvp);
}

static void server_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;

    (void)fd;
    (void)what;
    ares_process_fd(srv->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    server_rearm(srv);
}

static void server_sock_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;

    ares_process_fd(srv->channel, (what & EV_READ) ? (ares_socket_t)fd : ARES_SOCKET_BAD,
                    (what & EV_WRITE) ? (ares_socket_t)fd : ARES_SOCKET_BAD);
    server_rearm(srv);
}

static struct sock_watch *watch_find(struct server *srv, ares_socket_t fd)
{
    for (size_t i = 0; i < srv->nsocks; i++)
        if (srv->socks[i].fd == fd)
            return &srv->socks[i];
    return NULL;
}

/* c-ares: start, change or stop watching a socket. */
static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
    struct server *srv = data;
    struct sock_watch *w = watch_find(srv, fd);
    short flags = (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));

    if (w != NULL && w->flags == flags)
        return;
    if (w != NULL) {
        event_free(w->ev);
        *w = srv->socks[--srv->nsocks];
    }
    if (flags == 0)
        return;
    srv->socks = xgrow(srv->socks, &srv->socks_cap, srv->nsocks + 1, sizeof(*srv->socks));
    w = &srv->socks[srv->nsocks++];
    w->fd = fd;
    w->flags = flags;
    w->ev = event_new(dns_core.base, fd, (short)(flags | EV_PERSIST), server_sock_cb, srv);
    if (w->ev == NULL || event_add(w->ev, NULL) < 0)
        msg_fatal("dns: cannot watch resolver socket %d", (int)fd);
}

static void server_close(struct server *srv)
{
    if (srv->channel_ok)
        ares_destroy(srv->channel);
    srv->channel_ok = 0;
    for (size_t i = 0; i < srv->nsocks; i++)
        event_free(srv->socks[i].ev);
    srv->socks = xfree(srv->socks);
    srv->nsocks = srv->socks_cap = 0;
    if (srv->timer)
        event_free(srv->timer);
    srv->timer = NULL;
}

static int server_open(struct server *srv, char *err, size_t errlen)
{
    struct ares_options o;
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB
               | ARES_OPT_LOOKUPS;
    int status;

    memset(&o, 0, sizeof(o));
    /*
     * NOCHECKRESP: hand us SERVFAIL/NOTIMP/REFUSED answers so that the
     * reason names them (we move on to the next server ourselves). c-ares
     * still drops answers whose ID, question or source address differ.
     */
    o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_NOCHECKRESP;
    o.timeout = dns_core.opts.timeout_ms;
    o.tries = dns_core.opts.tries;
    o.sock_state_cb = sock_state_cb;
    o.sock_state_cb_data = srv;
    o.lookups = (char *)"b";
    srv->timer = evtimer_new(dns_core.base, server_timer_cb, srv);
    if (srv->timer == NULL) {
        errtext_set(err, errlen, "cannot create a timer event");
        return -1;
    }
    status = ares_init_options(&srv->channel, &o, mask);
    if (status != ARES_SUCCESS) {
        errtext_set(err, errlen, "c-ares initialisation failed: %s", ares_strerror(status));
        return -1;
    }
    srv->channel_ok = 1;
    status = ares_set_servers_ports_csv(srv->channel, srv->label);
    if (status != ARES_SUCCESS) {
        errtext_set(err, errlen, "c-ares rejects server %s: %s", srv->label, ares_strerror(status));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* For the rest of the resolver */

static int servers_read(const char *spec, char *err, size_t errlen)
{
    if (spec != NULL && spec[0] != 0) {
        if (servers_from_spec(spec, err, errlen) < 0)
            return -1;
    } else if (servers_from_system(err, errlen) < 0) {
        return -1;
    }
    if (servers.count == 0) {
        errtext_set(err, errlen, "no dns server in \"%s\"", spec);
        return -1;
    }
    return 0;
}

int dns_servers_open(const char *spec, char *err, size_t errlen)
{
    memset(&servers, 0, sizeof(servers));
    if (servers_read(spec, err, errlen) < 0) {
        dns_servers_close();
        return -1;
    }
    for (size_t i = 0; i < servers.count; i++) {
        if (server_open(&servers.list[i], err, errlen) < 0) {
            dns_servers_close();
            return -1;
        }
        if (i > 0)
            strcat(servers.text, ",");
        strcat(servers.text, servers.list[i].label);
    }
    return 0;
}

void dns_servers_close(void)
{
    for (size_t i = 0; i < DNS_SERVERS_MAX; i++)
        server_close(&servers.list[i]);
    memset(&servers, 0, sizeof(servers));
}

size_t dns_server_count(void)
{
    return servers.count;
}

const char *dns_server_label(size_t index)
{
    return servers.list[index].label;
}

void dns_server_query(size_t index, const char *name, uint16_t qtype, ares_callback cb,
                      void *arg)
{
    struct server *srv = &servers.list[index];

    ares_query(srv->channel, name, DNS_CLASS_IN, qtype, cb, arg);
    server_rearm(srv);
}

const char *dns_servers(void)
{
    return servers.text;
}
