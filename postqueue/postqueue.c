/*
 * postqueue - the operator's view of the queue, and "deliver it now".
 *
 *   postqueue [-c DIR] -p | -j | -n | -R [-j]  [selection]
 *   postqueue [-c DIR] -f | -s SITE | -i QUEUE_ID [-w [-v]]
 *
 * Listings come from the showq service (public/showq), which reads the
 * queue index; -f, -s and -i are requests to qmgr (private/qmgr). This file
 * parses and checks the command line (patterns are compiled here too, so a
 * bad one is a usage error before anything is asked), then starts as every
 * tool does (lib/mail/tool.h: the instance's main.cf, root given up for
 * mail_owner), enters queue_directory and hands over to pq_list.c or
 * pq_control.c.
 *
 * No memory is kept beyond main().
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "config.h"
#include "mail_proto.h"
#include "params.h"
#include "postqueue.h"
#include "queue_dir.h"
#include "tool.h"

static const char usage_text[] =
    "usage: postqueue [-c config_dir] -p | -j | -n | -R [-j] [--queue=QUEUE] [--sender=RE]\n"
    "                 [--recipient=RE] [--domain=RE] [--reason=RE] [--older=DURATION]\n"
    "                 [--newer=DURATION]\n"
    "       postqueue [-c config_dir] -f | -s site | -i queue_id [-w [-v]]\n"
    "       postqueue --help\n";

static const char help_text[] =
    "NAME\n"
    "    postqueue - list the Postern queue, and deliver mail now\n"
    "\n"
    "SYNOPSIS\n"
    "    postqueue [-c config_dir] -p | -j | -n | -R [-j] [selection]\n"
    "    postqueue [-c config_dir] -f\n"
    "    postqueue [-c config_dir] -s site\n"
    "    postqueue [-c config_dir] -i queue_id [-w [-v]]\n"
    "    postqueue --help\n"
    "\n"
    "DESCRIPTION\n"
    "    Listings are answered by the showq service from the queue index, so\n"
    "    they cost the same whatever the queue size and start at once. Who may\n"
    "    list: root, mail_owner, and the users in authorized_mailq_users\n"
    "    (default static:anyone). -f, -s and -i ask the queue manager and need\n"
    "    root or mail_owner. Run as root, postqueue becomes mail_owner at once.\n"
    "\n"
    "OPTIONS\n"
    "    -c config_dir\n"
    "        The instance: read main.cf there (else $MAIL_CONFIG, else the\n"
    "        built-in configuration directory).\n"
    "    -p  List the queue in the Postfix mailq layout, oldest first: queue\n"
    "        ID ('*' after it: active, being delivered; '!': on hold), size,\n"
    "        arrival time, sender (MAILER-DAEMON for the null sender), then\n"
    "        each pending recipient, after a \"(reason)\" line giving its last\n"
    "        delay reason; at the end \"-- N Kbytes in M Requests.\", or \"Mail\n"
    "        queue is empty\".\n"
    "    -j  The same as JSON Lines, one object per message, as Postfix:\n"
    "        {\"queue_name\", \"queue_id\", \"arrival_time\", \"message_size\",\n"
    "        \"force_expired\", \"sender\", \"recipients\": [{\"address\",\n"
    "        \"delay_reason\" (when there is one)}]}. Strings are UTF-8; a byte\n"
    "        that is not valid UTF-8 is written as \\u00XX of its value.\n"
    "    -n  Print the number of matching messages. Without a selection (or\n"
    "        with --queue only) this is read from the index counters at once.\n"
    "    -R  A report: messages and bytes per queue, the oldest message, the\n"
    "        top 10 recipient domains (recipients, messages, oldest message),\n"
    "        senders and delay reasons, and a qshape-style table of recipient\n"
    "        ages per domain (minutes: T, 5, 10, 20, 40, 80, 160, 320, 640, 1280,\n"
    "        1280+). Counts marked '~' are estimates (over 20000 distinct keys).\n"
    "        With -j: the same as one JSON object.\n"
    "    -f  Flush: make every deferred message due now.\n"
    "    -s site\n"
    "        Deliver now every message with a pending recipient in domain site.\n"
    "    -i queue_id\n"
    "        Deliver this message now (from incoming, deferred or active; a\n"
    "        held message must first be released with postsuper -H).\n"
    "    -w  With -i: wait and show each recipient's outcome as it happens:\n"
    "        ID: to=<address>, relay=HOST[ADDR]:PORT, dsn=X.Y.Z, status=sent (reply)\n"
    "    -v  With -i -w: also show the SMTP conversation, indented.\n"
    "    --help\n"
    "        Show this text.\n"
    "\n"
    "SELECTION (with -p, -j, -n, -R)\n"
    "    A message is listed when it satisfies every option given. Patterns\n"
    "    are PCRE2, caseless (write (?-i) to turn that off), unanchored.\n"
    "    --queue=QUEUE     incoming, active, deferred, hold or corrupt (without\n"
    "                      it: every queue but corrupt)\n"
    "    --sender=RE       the envelope sender (\"\" for the null sender:\n"
    "                      --sender='^$')\n"
    "    --recipient=RE    a pending recipient's address\n"
    "    --domain=RE       a pending recipient's domain\n"
    "    --reason=RE       a pending recipient's last delay reason\n"
    "                      (--recipient, --domain and --reason must hold for\n"
    "                      the same recipient)\n"
    "    --older=DURATION  at least this old: 30s, 5m, 2h, 1d, 1w (no unit:\n"
    "                      seconds)\n"
    "    --newer=DURATION  younger than this\n"
    "\n"
    "EXIT STATUS\n"
    "    0   success; with -i -w: every recipient was delivered.\n"
    "    1   with -i -w: a recipient was deferred or bounced; the queue manager\n"
    "        refused the request (e.g. the message is on hold or not in the\n"
    "        queue); the configuration could not be read; other errors.\n"
    "    2   bad usage: unknown or conflicting options, a bad pattern,\n"
    "        duration or queue name.\n"
    "    69  the mail system is down (EX_UNAVAILABLE): \"Queue report\n"
    "        unavailable - mail system is down\".\n"
    "    77  permission denied (EX_NOPERM): not in authorized_mailq_users, or\n"
    "        -f/-s/-i by someone other than root or mail_owner.\n"
    "    A closed standard output (postqueue -p | head) is not an error.\n"
    "\n";

enum mode { MODE_NONE, MODE_LIST, MODE_JSON, MODE_COUNT, MODE_REPORT, MODE_FLUSH,
            MODE_SITE, MODE_DELIVER };

struct options {
    const char *config_dir;
    int list, json, count, report, flush, watch, verbose;
    const char *site, *queue_id;
    struct pq_select sel;
    int have_sel;
};

static const struct tool_def postqueue_tool = {
    .name = "postqueue",
    .usage = usage_text,
    .help = help_text,
    .see_also = "postsuper(1), postcat(1), showq(8), docs/operator-guide.md",
    .setup_status = PQ_EXIT_FAIL,
};

static void check_pattern(const char *option, const char *pattern)
{
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_CASELESS, &code, &offset, NULL);
    PCRE2_UCHAR msg[256];

    if (re != NULL) {
        pcre2_code_free(re);
        return;
    }
    if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
        snprintf((char *)msg, sizeof(msg), "error %d", code);
    tool_usage("bad %s pattern: %s at offset %zu", option, (const char *)msg, (size_t)offset);
}

static long parse_duration(const char *option, const char *text)
{
    long secs;

    if (config_parse_time(text, 's', &secs) < 0)
        tool_usage("bad %s value \"%.40s\" (use e.g. 30s, 5m, 2h, 1d, 1w)", option, text);
    return secs;
}

enum { OPT_HELP = 256, OPT_QUEUE, OPT_SENDER, OPT_RECIPIENT, OPT_DOMAIN, OPT_REASON,
       OPT_OLDER, OPT_NEWER };

static void take_selection(struct options *o, int opt, const char *arg)
{
    o->have_sel = 1;
    switch (opt) {
    case OPT_QUEUE:
        if (queue_state_from_name(arg) < 0)
            tool_usage("bad --queue (incoming, active, deferred, hold or corrupt)");
        o->sel.queue = arg;
        break;
    case OPT_SENDER:
        check_pattern("--sender", arg);
        o->sel.sender = arg;
        break;
    case OPT_RECIPIENT:
        check_pattern("--recipient", arg);
        o->sel.recipient = arg;
        break;
    case OPT_DOMAIN:
        check_pattern("--domain", arg);
        o->sel.domain = arg;
        break;
    case OPT_REASON:
        check_pattern("--reason", arg);
        o->sel.reason = arg;
        break;
    case OPT_OLDER:
        o->sel.older = parse_duration("--older", arg);
        break;
    case OPT_NEWER:
        o->sel.newer = parse_duration("--newer", arg);
        break;
    }
}

static void bad_option(int c)
{
    if (c == '?' && (optopt == 'c' || optopt == 's' || optopt == 'i'))
        tool_usage("option -%c needs an argument", optopt);
    if (c == '?' && optopt > 0x20 && optopt < 0x7f)
        tool_usage("unknown option -%c", optopt);
    if (c == ':')
        tool_usage("option needs an argument");
    tool_usage("unknown or malformed option");
}

static void parse_args(int argc, char **argv, struct options *o)
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, OPT_HELP},
        {"queue", required_argument, NULL, OPT_QUEUE},
        {"sender", required_argument, NULL, OPT_SENDER},
        {"recipient", required_argument, NULL, OPT_RECIPIENT},
        {"domain", required_argument, NULL, OPT_DOMAIN},
        {"reason", required_argument, NULL, OPT_REASON},
        {"older", required_argument, NULL, OPT_OLDER},
        {"newer", required_argument, NULL, OPT_NEWER},
        {NULL, 0, NULL, 0},
    };
    int c;

    o->sel.older = o->sel.newer = -1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:fi:jnpRs:vw", long_options, NULL)) != -1) {
        switch (c) {
        case 'c': o->config_dir = optarg; break;
        case 'f': o->flush = 1; break;
        case 'i': o->queue_id = optarg; break;
        case 'j': o->json = 1; break;
        case 'n': o->count = 1; break;
        case 'p': o->list = 1; break;
        case 'R': o->report = 1; break;
        case 's': o->site = optarg; break;
        case 'v': o->verbose = 1; break;
        case 'w': o->watch = 1; break;
        case OPT_HELP:
            tool_help();
        case OPT_QUEUE: case OPT_SENDER: case OPT_RECIPIENT: case OPT_DOMAIN:
        case OPT_REASON: case OPT_OLDER: case OPT_NEWER:
            take_selection(o, c, optarg);
            break;
        default:
            bad_option(c);
        }
    }
    if (optind < argc)
        tool_usage("unexpected argument");
}

/* The one thing asked for; usage error when none or several. */
static enum mode choose_mode(const struct options *o)
{
    int n = o->list + o->count + o->report + o->flush + (o->site != NULL)
            + (o->queue_id != NULL) + (o->json && !o->report);
    enum mode m;

    if (n == 0)
        tool_usage("one of -p, -j, -n, -R, -f, -s or -i is required");
    if (n > 1)
        tool_usage("-p, -j, -n, -R, -f, -s and -i exclude each other (except -R -j)");
    if (o->list)
        m = MODE_LIST;
    else if (o->report)
        m = MODE_REPORT;
    else if (o->json)
        m = MODE_JSON;
    else if (o->count)
        m = MODE_COUNT;
    else if (o->flush)
        m = MODE_FLUSH;
    else if (o->site)
        m = MODE_SITE;
    else
        m = MODE_DELIVER;
    if (o->have_sel && m >= MODE_FLUSH)
        tool_usage("selection options go with -p, -j, -n and -R only");
    if (o->watch && m != MODE_DELIVER)
        tool_usage("-w goes with -i only");
    if (o->verbose && !o->watch)
        tool_usage("-v goes with -i ... -w only");
    return m;
}

/* What a failure of the mode is called ("Queue report unavailable"). */
static const char *failure_of(enum mode m)
{
    if (m == MODE_DELIVER)
        return "Cannot deliver the message";
    if (m >= MODE_FLUSH)
        return "Cannot flush mail queue";
    return "Queue report unavailable";
}

/* Enter queue_directory; without it the mail system is down. */
static void enter_queue(const char *what)
{
    if (chdir(var_queue_dir) == 0)
        return;
    if (errno == EACCES)
        tool_fatal(PQ_EXIT_NOPERM, "%s: permission denied (queue_directory %s)", what,
                   var_queue_dir);
    tool_fatal(PQ_EXIT_DOWN, "%s: queue_directory %s: %s", what, var_queue_dir, strerror(errno));
}

static int run(enum mode m, const struct options *o)
{
    switch (m) {
    case MODE_LIST:
        return pq_list(SHOWQ_REQ_LIST, 0, &o->sel);
    case MODE_JSON:
        return pq_list(SHOWQ_REQ_JSON, 0, &o->sel);
    case MODE_COUNT:
        return pq_list(SHOWQ_REQ_COUNT, 0, &o->sel);
    case MODE_REPORT:
        return pq_list(SHOWQ_REQ_REPORT, o->json, &o->sel);
    case MODE_FLUSH:
        return pq_flush();
    case MODE_SITE:
        return pq_flush_site(o->site);
    default:
        return pq_deliver(o->queue_id, o->watch, o->verbose);
    }
}

int main(int argc, char **argv)
{
    struct options o = {0};
    enum mode m;

    tool_init(&postqueue_tool);
    signal(SIGPIPE, SIG_IGN);
    parse_args(argc, argv, &o);
    m = choose_mode(&o);
    tool_load_config(o.config_dir);
    tool_drop_privileges();
    enter_queue(failure_of(m));
    return run(m, &o);
}
