/*
 * smtpd_policy.c - what smtpd accepts: relaying, message size, recipients.
 *
 * Relaying: a client whose address lies in mynetworks may send to any
 * recipient; any other client only to recipients whose domain is listed in
 * relay_domains (compared case-insensitively and exactly: a subdomain is
 * not included, and neither is an address without a domain).
 * Size: a SIZE= declared in MAIL must not exceed message_size_limit.
 * Recipients: at most smtpd_recipient_limit per transaction.
 *
 * Both lists are parsed once at start-up (a bad mynetworks is fatal: better
 * than silently relaying for nobody or everybody).
 * Memory: this module owns the parsed lists for the life of the process.
 */
#include <stdint.h>
#include <strings.h>

#include "config.h"
#include "msg.h"
#include "netaddr.h"
#include "params.h"
#include "smtpd.h"

static struct netlist mynetworks;
static char **relay_domains;
static size_t relay_domain_count;

void smtpd_policy_init(void)
{
    char err[256];

    if (netlist_parse(var_mynetworks, &mynetworks, err, sizeof(err)) < 0)
        msg_fatal("mynetworks: %s", err);
    relay_domains = config_split_list(var_relay_domains, &relay_domain_count);
}

static int relay_domain_listed(const char *domain)
{
    for (size_t i = 0; i < relay_domain_count; i++)
        if (strcasecmp(relay_domains[i], domain) == 0)
            return 1;
    return 0;
}

int smtpd_policy_relay_ok(const struct smtpd_session *s, const char *rcpt)
{
    const char *domain;

    if (netlist_match(&mynetworks, s->addr))
        return 1;
    if (smtp_addr_domain(rcpt, &domain) < 0 || *domain == '\0')
        return 0;
    return relay_domain_listed(domain);
}

int smtpd_policy_size_ok(uint64_t size)
{
    return size <= (uint64_t)var_message_size_limit;
}

int smtpd_policy_rcpt_room(const struct smtpd_session *s)
{
    return s->n_rcpts < (size_t)var_smtpd_recipient_limit;
}
