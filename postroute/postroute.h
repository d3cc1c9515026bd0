/*
 * postroute.h - the route tracer's internal interfaces (postroute/ only).
 *
 *   postroute.c  main(): options, configuration, the tables, the resolver;
 *                for each address: rewriting, routing, DNS (the same
 *                code that cleanup, qmgr and smtp run), then the report.
 *   pr_text.c    the report as text (one "name: value" line per fact).
 *   pr_json.c    the report as one JSON object per address.
 *
 * Memory: a struct pr_addr owns everything in it (rewrite traces, the
 * recipients, their DNS results); pr_addr_free() frees it.
 */
#ifndef POSTERN_POSTROUTE_H
#define POSTERN_POSTROUTE_H

#include <stddef.h>

#include "mx_resolve.h"
#include "rewrite.h"
#include "route.h"

/* How one recipient would fare. */
enum pr_outcome {
    PR_DELIVER,         /* smtp, with addresses to try */
    PR_DISCARD,         /* discard: transport */
    PR_HOLD,            /* hold: transport */
    PR_BOUNCE,          /* undeliverable: error 5.x.x, null MX, NXDOMAIN, loop */
    PR_DEFER            /* temporary: a table or DNS failure, error 4.x.x */
};

struct pr_rcpt {
    char *address;
    struct route_result route;
    struct mxr_result *mx;      /* smtp only: the resolution (NULL otherwise) */
    enum pr_outcome outcome;
    char dsn[16];
    char text[MXR_REASON_MAX];
};

struct pr_addr {
    const char *input;          /* as given on the command line */
    const char *sender;         /* as given (-s), "" for the null sender */
    const char *sender_out;     /* after sender_canonical_maps (NULL: failed) */
    const struct rewrite_trace *sender_trace;
    const char *sender_error;   /* "" when the sender rewrite worked */
    struct rewrite_trace trace; /* the recipient's rewriting */
    int rewrite_rc;             /* REWRITE_OK or an error */
    char rewrite_error[REWRITE_ERR_MAX];
    struct pr_rcpt *rcpts;
    size_t count;
    enum pr_outcome worst;      /* PR_DEFER / PR_BOUNCE when any recipient is */
};

/* "deliver", "discard", "hold", "bounce", "defer". */
const char *pr_outcome_name(enum pr_outcome outcome);

/* pr_text.c */
void pr_print_text(const struct pr_addr *a);

/* pr_json.c */
void pr_print_json(const struct pr_addr *a);

#endif
