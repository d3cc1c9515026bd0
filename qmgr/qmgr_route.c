/*
 * qmgr_route.c - qmgr's side of routing (lib/mail/route.h): the tables are
 * opened at start-up and each recipient's route is asked for at
 * activation.
 *
 * A routing configuration that cannot be loaded (a table file that does
 * not exist, a bad relayhost, an unknown table type) does not stop qmgr
 * and loses no mail: every recipient is deferred with DSN_CONFIG and the
 * reason, and qmgr tries to load the configuration again at most once per
 * ROUTE_RETRY seconds (when a message is activated), so that mail flows
 * again as soon as the operator has fixed it. A table that cannot be read
 * at lookup time is route.c's business: that recipient is deferred
 * (DSN_TEMP_SYSTEM).
 *
 * Memory: nothing beyond the error text; route.c owns its tables.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dsn.h"
#include "msg.h"
#include "qmgr.h"
#include "route.h"

#define ROUTE_RETRY 10          /* seconds between attempts to load a broken config */

static int ready;
static char error[ROUTE_ERR_MAX];
static time_t last_try;

static void try_init(void)
{
    char err[ROUTE_ERR_MAX];

    last_try = time(NULL);
    if (route_init(err, sizeof(err)) < 0) {
        if (strcmp(err, error) != 0)
            msg_error("routing configuration: %s (every recipient is deferred until this is "
                      "fixed)", err);
        snprintf(error, sizeof(error), "%s", err);
        ready = 0;
        return;
    }
    if (error[0] != '\0')
        msg_info("routing configuration loaded: delivering again");
    error[0] = '\0';
    ready = 1;
}

void qmgr_route_init(void)
{
    try_init();
}

int qmgr_route(const char *rcpt, const char *sender, struct route_result *res)
{
    if (!ready && time(NULL) - last_try >= ROUTE_RETRY)
        try_init();
    if (!ready) {
        memset(res, 0, sizeof(*res));
        res->status = ROUTE_DEFER;
        snprintf(res->dsn, sizeof(res->dsn), "%s", DSN_CONFIG);
        snprintf(res->text, sizeof(res->text), "routing configuration error: %.400s", error);
        return ROUTE_DEFER;
    }
    return route_resolve(rcpt, sender, res);
}
