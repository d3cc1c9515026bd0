/*
 * postsuper - change the queue: hold, release, delete, requeue; check and
 * repair.
 *
 *   postsuper [-c config_dir] [-h ID|ALL [queue]|-]... [-H ...]... [-d ...]...
 *             [-r ...]... [-s] [-v]
 *
 * main() reads the command line into a list of requests (without touching
 * anything, so a usage error changes nothing) and starts as every tool
 * does (lib/mail/tool.h): the configuration; root switches to mail_owner
 * at once, so nothing it creates in the queue is root-owned, and anyone
 * else must be mail_owner; the mail log; queue_directory. Then it runs -s
 * first and the requests in the order given, flushes the directories it
 * changed, prints one summary line per operation and exits 0 (all done),
 * 1 (something was not found or failed) or 2 (usage).
 *
 * The work is in ps_ops.c and ps_all.c (operations), ps_trash.c (deleted
 * files), ps_qmgr.c (qmgr), ps_index.c (the index), ps_repair.c (-s) and
 * ps_out.c (output); see postsuper.h.
 *
 * Memory: the request list is allocated once and lives until exit; its
 * strings point into argv.
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "msg.h"
#include "params.h"
#include "postsuper.h"
#include "tool.h"

static const char usage_text[] =
    "usage: postsuper [-c config_dir] [-h queue_id|ALL [queue]|-]... [-H ...]...\n"
    "                 [-d ...]... [-r ...]... [-s] [-v]\n"
    "       postsuper --help\n";

static const char help_text[] =
    "NAME\n"
    "    postsuper - change the Postern queue: hold, release, delete, requeue\n"
    "\n"
    "SYNOPSIS\n"
    "    postsuper [-c config_dir] [-h queue_id|ALL [queue]|-]... [-H ...]...\n"
    "              [-d ...]... [-r ...]... [-s] [-v]\n"
    "    postsuper --help\n"
    "\n"
    "DESCRIPTION\n"
    "    postsuper is the operator's tool for changing the queue of one\n"
    "    Postern instance: put messages on hold so they are not delivered,\n"
    "    release them, delete them, requeue them so their routing is\n"
    "    computed afresh, and check and repair the queue directory.\n"
    "\n"
    "    Each of -h, -H, -d and -r takes a queue ID, ALL, or - (read queue\n"
    "    IDs from standard input, one per line; blank lines are ignored and\n"
    "    invalid IDs reported). ALL may be followed by a queue name to limit\n"
    "    it to that queue: incoming, active, deferred, hold or corrupt, e.g.\n"
    "    \"postsuper -d ALL deferred\". The options may be repeated and mixed;\n"
    "    they are carried out in the order given (-s always first).\n"
    "\n"
    "    Messages in active/ are being delivered: postsuper asks the queue\n"
    "    manager to withdraw them (cancelling a delivery in progress) and\n"
    "    acts on the others itself with one rename or unlink each. When\n"
    "    postsuper returns, a message it put on hold will not be delivered\n"
    "    and every change it reports is on disk. If the mail system is not\n"
    "    running, postsuper changes active/ directly.\n"
    "\n"
    "    Each operation prints what it did, for example\n"
    "        postsuper: Placed on hold: 1234 messages\n"
    "    and problems with single messages as\n"
    "        postsuper: warning: QUEUE_ID: no such message\n"
    "    On a terminal, operations on many messages show their progress.\n"
    "    Every message changed is also logged (\"QUEUE_ID: placed on hold\").\n"
    "\n"
    "    postsuper must be run by root or by mail_owner; root switches to\n"
    "    mail_owner after reading the configuration.\n"
    "\n"
    "OPTIONS\n"
    "    -c config_dir\n"
    "        Use the instance whose main.cf is in config_dir.\n"
    "    -h queue_id|ALL [queue]|-\n"
    "        Put messages on hold (from incoming, deferred or active). They\n"
    "        stay in hold/ until released or deleted.\n"
    "    -H queue_id|ALL|-\n"
    "        Release messages from hold: they go to incoming/ and are\n"
    "        eligible for delivery at once.\n"
    "    -d queue_id|ALL [queue]|-\n"
    "        Delete messages, from any queue including corrupt.\n"
    "    -r queue_id|ALL [queue]|-\n"
    "        Requeue messages (from active, deferred or hold) into incoming/:\n"
    "        they are routed again and delivered at once.\n"
    "    -s  Check and repair the queue: remove temporary files older than an\n"
    "        hour, move files in the wrong directory to the right one, move\n"
    "        damaged files and things that are not queue files to corrupt/,\n"
    "        and bring the queue index up to date (rebuilding it if needed).\n"
    "    -v  Show every message changed, and debug detail.\n"
    "    --help\n"
    "        Show this text.\n"
    "\n"
    "EXIT STATUS\n"
    "    0  everything asked for was done.\n"
    "    1  a message was not found, a change failed, the configuration could\n"
    "       not be read, or the user is neither root nor mail_owner.\n"
    "    2  bad usage.\n"
    "\n";

enum target { TARGET_ONE, TARGET_ALL, TARGET_STDIN };

struct request {
    enum ps_op op;
    enum target target;
    const char *id;             /* TARGET_ONE */
    int queue;                  /* TARGET_ALL: a state, or -1 */
};

struct options {
    const char *config_dir;
    struct request *req;
    size_t nreq;
    int repair;
    int verbose;
};

static const struct tool_def postsuper_tool = {
    .name = "postsuper",
    .usage = usage_text,
    .help = help_text,
    .see_also = "postqueue(1), postcat(1), docs/operator-guide.md",
    .setup_status = TOOL_EXIT_FAIL,
};

static int op_for_letter(char c, enum ps_op *op)
{
    switch (c) {
    case 'h':
        *op = PS_HOLD;
        return 1;
    case 'H':
        *op = PS_RELEASE;
        return 1;
    case 'd':
        *op = PS_DELETE;
        return 1;
    case 'r':
        *op = PS_REQUEUE;
        return 1;
    default:
        return 0;
    }
}

/* Turn the value of -h/-H/-d/-r into a request; may take argv[*i + 1]. */
static void add_request(struct options *o, enum ps_op op, const char *value,
                        int argc, char **argv, int *i)
{
    struct request *r = &o->req[o->nreq++];

    r->op = op;
    r->queue = -1;
    r->id = NULL;
    if (strcmp(value, "-") == 0) {
        r->target = TARGET_STDIN;
        return;
    }
    if (strcmp(value, "ALL") != 0) {
        r->target = TARGET_ONE;
        r->id = value;
        return;
    }
    r->target = TARGET_ALL;
    if (*i + 1 < argc && argv[*i + 1][0] != '-') {
        const char *name = argv[++*i];
        r->queue = queue_state_from_name(name);
        if (r->queue < 0)
            tool_usage("unknown queue \"%s\" (incoming, active, deferred, hold, corrupt)", name);
        if (!ps_op_queue_ok(op, (enum queue_state)r->queue))
            tool_usage("%s", op == PS_RELEASE ? "-H ALL takes only the hold queue"
                        : op == PS_HOLD ? "-h ALL takes incoming, active, deferred or hold"
                        : "-r ALL takes incoming, active, deferred or hold");
    }
}

static void parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof(*o));
    o->req = xcalloc((size_t)argc + 1, sizeof(*o->req));
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "--help") == 0)
            tool_help();
        if (arg[0] != '-' || arg[1] == '\0')
            tool_usage("unexpected argument \"%s\"", arg);
        if (strcmp(arg, "--") == 0)
            tool_usage("unexpected argument \"%s\"", arg);
        for (const char *p = arg + 1; *p; p++) {
            enum ps_op op;
            const char *value;

            if (*p == 's') {
                o->repair = 1;
                continue;
            }
            if (*p == 'v') {
                o->verbose++;
                continue;
            }
            if (*p != 'c' && !op_for_letter(*p, &op))
                tool_usage("unknown option \"-%.1s\"", p);
            if (p[1] != '\0') {
                value = p + 1;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                tool_usage("option -%.1s needs a value", p);
            }
            if (*p == 'c')
                o->config_dir = value;
            else
                add_request(o, op, value, argc, argv, &i);
            break;
        }
    }
    if (o->nreq == 0 && !o->repair)
        tool_usage("%s", "nothing to do: give -h, -H, -d, -r or -s");
}

/*
 * After tool_drop_privileges(): the tool must now run as mail_owner (root
 * became it), or own queue_directory (an unprivileged instance, run by a
 * developer).
 */
static void check_may_change_queue(void)
{
    struct passwd *pw = getpwnam(var_mail_owner);
    struct stat st;

    if (pw != NULL && geteuid() == pw->pw_uid)
        return;
    if (stat(var_queue_dir, &st) < 0)
        tool_fatal(TOOL_EXIT_FAIL, "cannot access queue_directory %s: %s", var_queue_dir,
                   strerror(errno));
    if (st.st_uid == geteuid())
        return;
    tool_fatal(TOOL_EXIT_FAIL, "permission denied: only root or the mail system owner (%s) "
               "may change the queue", var_mail_owner);
}

static void run_request(const struct request *r)
{
    switch (r->target) {
    case TARGET_ONE:
        ps_op_one(r->op, r->id);
        break;
    case TARGET_ALL:
        ps_op_all(r->op, r->queue);
        break;
    case TARGET_STDIN:
        ps_op_stdin(r->op);
        break;
    }
}

int main(int argc, char **argv)
{
    struct options o;

    tool_init(&postsuper_tool);
    parse_args(argc, argv, &o);
    tool_load_config(o.config_dir);
    tool_drop_privileges();
    check_may_change_queue();
    tool_open_log();
    msg_verbose = o.verbose;
    ps_out_verbose(o.verbose > 0);
    tool_chdir_queue();
    signal(SIGPIPE, SIG_IGN);

    ps_index_open();
    if (o.repair)
        ps_repair();
    for (size_t i = 0; i < o.nreq; i++)
        run_request(&o.req[i]);
    ps_index_close();
    ps_qmgr_close();
    ps_sync_touched();
    ps_op_summary();
    xfree(o.req);
    ps_trash_free();
    return ps_op_failed() ? TOOL_EXIT_FAIL : 0;
}
