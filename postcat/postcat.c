/*
 * postcat - show a queue file: its envelope, its header block, its body.
 *
 *   postcat [-c config_dir] [-behv] -q queue_id...
 *   postcat [-behv] file...
 *
 * With -q the operands are queue IDs, looked up in every state of the
 * instance's queue_directory; otherwise they are paths of queue files. The
 * file is read by lib/mail/queue_file.c (the one reader) and never changed.
 * Envelope values are printed with control characters escaped, so a
 * hostile address cannot drive the operator's terminal; the content is
 * written raw, byte for byte as stored.
 *
 * Memory: one `struct queue_file` and one trace buffer per operand, freed
 * before the next.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "fdio.h"
#include "params.h"
#include "queue_dir.h"
#include "queue_file.h"
#include "strbuf.h"
#include "tool.h"

#define COPY_CHUNK (64 * 1024)

static const char usage_text[] =
    "usage: postcat [-c config_dir] [-behv] -q queue_id...\n"
    "       postcat [-behv] file...\n"
    "       postcat --help\n";

static const char help_text[] =
    "NAME\n"
    "    postcat - show the contents of a Postern queue file\n"
    "\n"
    "SYNOPSIS\n"
    "    postcat [-c config_dir] [-behv] -q queue_id...\n"
    "    postcat [-behv] file...\n"
    "    postcat --help\n"
    "\n"
    "DESCRIPTION\n"
    "    postcat prints a queue file in a form people can read: the envelope\n"
    "    (arrival time, sender, client, recipients with their delivery state\n"
    "    and last delay reason), then the message content exactly as stored,\n"
    "    between marker lines:\n"
    "\n"
    "        *** ENVELOPE RECORDS <path> ***\n"
    "        *** MESSAGE CONTENTS <path> ***\n"
    "        *** MESSAGE FILE END <path> ***\n"
    "\n"
    "    With -q the operands are queue IDs (as printed by postqueue -p and in\n"
    "    the log); each is looked for in incoming, active, deferred, hold and\n"
    "    corrupt under queue_directory of the chosen instance. Without -q the\n"
    "    operands are paths of queue files. The file is only read, never\n"
    "    changed. Control characters in envelope values are shown escaped as\n"
    "    \\xNN; the content is written raw.\n"
    "\n"
    "    A damaged file is reported with the reader's error and the byte\n"
    "    offset where the problem is.\n"
    "\n"
    "OPTIONS\n"
    "    -b  Show the body: the content after the header block.\n"
    "    -c config_dir\n"
    "        Read main.cf from config_dir (the instance) to find\n"
    "        queue_directory. Only used with -q.\n"
    "    -e  Show the envelope.\n"
    "    -h  Show the header block: the content up to and including the\n"
    "        first empty line (cleanup's added headers come first).\n"
    "    -q  The operands are queue IDs rather than file names.\n"
    "    -v  Also show record-level detail: file offsets, the size of the\n"
    "        headers cleanup added, every record in file order.\n"
    "    --help\n"
    "        Show this text.\n"
    "\n"
    "    -b, -e and -h may be combined; without any of them all three parts\n"
    "    are shown. The marker lines are printed only when the envelope is,\n"
    "    so -h or -b alone give the raw bytes (e.g. postcat -bq ID > body).\n"
    "\n"
    "EXIT STATUS\n"
    "    0  every message was shown.\n"
    "    1  a message was not found, an ID was invalid, a file was damaged or\n"
    "       unreadable, or the configuration could not be read.\n"
    "    2  bad usage (unknown option, no operand).\n"
    "\n";

struct options {
    int envelope, header, body, verbose, by_id;
    const char *config_dir;
};

static const struct tool_def postcat_tool = {
    .name = "postcat",
    .usage = usage_text,
    .help = help_text,
    .see_also = "postqueue(1), postsuper(1), docs/queue-format.md",
    .setup_status = TOOL_EXIT_FAIL,
};

/* --- printing helpers --- */

/* Append value with control characters escaped as \xNN. */
static void add_escaped(struct strbuf *sb, const char *value, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c < 0x20 || c == 0x7f)
            strbuf_printf(sb, "\\x%02x", c);
        else
            strbuf_add_char(sb, (char)c);
    }
}

/* An envelope value with control characters escaped. */
static void put_value(const char *value, size_t len)
{
    struct strbuf sb = STRBUF_INIT;

    add_escaped(&sb, value, len);
    fwrite(strbuf_str(&sb), 1, strbuf_len(&sb), stdout);
    strbuf_free(&sb);
}

static void put_field(const char *name, const char *value)
{
    printf("%s: ", name);
    put_value(value ? value : "", value ? strlen(value) : 0);
    putchar('\n');
}

static void put_time(const char *name, time_t when)
{
    char buf[64];
    struct tm tm;

    if (localtime_r(&when, &tm) == NULL
        || strftime(buf, sizeof(buf), "%a %b %e %H:%M:%S %Y", &tm) == 0)
        snprintf(buf, sizeof(buf), "%lld", (long long)when);
    printf("%s: %s\n", name, buf);
}

static const char *state_word(char state)
{
    switch (state) {
    case QF_RCPT_PENDING:
        return "pending";
    case QF_RCPT_DELIVERED:
        return "delivered";
    case QF_RCPT_BOUNCED:
        return "bounced";
    default:
        return "unknown";
    }
}

/* --- the record trace for -v --- */

struct trace_buf {
    struct strbuf text;
    off_t end;                  /* offset after the last record seen */
};

static void trace_record(off_t offset, const char *record, size_t len, void *ctx)
{
    struct trace_buf *t = ctx;

    strbuf_printf(&t->text, "%10lld  ", (long long)offset);
    add_escaped(&t->text, record, len);
    strbuf_add_char(&t->text, '\n');
    t->end = offset + (off_t)len + 1;
}

/* --- the content --- */

/*
 * Length of the header block: the content up to and including the first
 * empty line ("\n" or "\r\n" at the start of a line); all of it when there
 * is none. -1 on a read error.
 */
static off_t header_length(int fd, off_t start, off_t size, char *buf)
{
    enum { LINE_START, LINE_CR, LINE_MID } st = LINE_START;
    off_t pos = 0;

    while (pos < size) {
        size_t n = size - pos < COPY_CHUNK ? (size_t)(size - pos) : COPY_CHUNK;
        if (fdio_pread_all(fd, buf, n, start + pos) < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            char c = buf[i];
            if (c == '\n') {
                if (st != LINE_MID)
                    return pos + (off_t)i + 1;
                st = LINE_START;
            } else if (c == '\r' && st == LINE_START) {
                st = LINE_CR;
            } else {
                st = LINE_MID;
            }
        }
        pos += (off_t)n;
    }
    return size;
}

/* Copy [off, off+len) of fd to stdout; remember the last byte written. */
static int copy_out(int fd, off_t off, off_t len, char *buf, int *last)
{
    while (len > 0) {
        size_t n = len < COPY_CHUNK ? (size_t)len : COPY_CHUNK;
        if (fdio_pread_all(fd, buf, n, off) < 0)
            return -1;
        if (fwrite(buf, 1, n, stdout) != n)
            return -1;
        *last = (unsigned char)buf[n - 1];
        off += (off_t)n;
        len -= (off_t)n;
    }
    return 0;
}

/* --- one message --- */

static void show_envelope(const char *label, const struct queue_file *qf, int verbose)
{
    printf("*** ENVELOPE RECORDS %s ***\n", label);
    if (verbose) {
        printf("queue_file_version: %d\n", qf->version);
        printf("file_size: %lld\n", (long long)qf->file_size);
        printf("content_offset: %lld\n", (long long)qf->content_offset);
    }
    printf("message_size: %lld\n", (long long)qf->content_size);
    if (verbose)
        printf("added_header_size: %lld\n", (long long)qf->added_size);
    put_time("message_arrival_time", qf->arrival.tv_sec);
    if (verbose)
        printf("arrival_timestamp: %lld.%06ld\n", (long long)qf->arrival.tv_sec,
               (long)qf->arrival.tv_usec);
    put_field("sender", qf->sender);
    put_field("client_name", qf->client_name);
    put_field("client_address", qf->client_addr);
    put_field("helo_name", qf->helo);
    put_field("protocol", qf->protocol);
    put_field("body_type", qf->body_type);
    put_field("message_id", qf->message_id);
    for (size_t i = 0; i < qf->rcpt_count; i++) {
        const struct qf_rcpt *r = &qf->rcpts[i];
        printf("recipient: ");
        put_value(r->address, strlen(r->address));
        printf(" (%s)\n", state_word(r->state));
        if (verbose)
            printf("  index: %zu, state byte at offset %lld\n", i,
                   (long long)r->state_offset);
        if (r->delay_dsn) {
            printf("  last delay: %s ", r->delay_dsn);
            put_value(r->delay_reason, strlen(r->delay_reason));
            putchar('\n');
            if (verbose)
                put_time("  last delay time", r->delay_time);
        }
    }
    if (verbose)
        printf("delay_records: %zu\n", qf->delay_records);
}

static void show_trace(const char *label, const struct queue_file *qf,
                       const struct trace_buf *t)
{
    printf("*** RECORDS %s ***\n", label);
    printf("%10s  %s\n", "offset", "record");
    fwrite(strbuf_str(&t->text), 1, strbuf_len(&t->text), stdout);
    printf("(content: %lld bytes at offset %lld, the first %lld added by cleanup)\n",
           (long long)qf->content_size, (long long)qf->content_offset,
           (long long)qf->added_size);
    if (t->end < qf->file_size)
        printf("(%lld bytes of an unfinished record ignored at offset %lld)\n",
               (long long)(qf->file_size - t->end), (long long)t->end);
}

static int show_content(int fd, const char *label, const struct queue_file *qf,
                        const struct options *o)
{
    char *buf = xmalloc(COPY_CHUNK);
    off_t start = qf->content_offset, size = qf->content_size, hlen = size;
    int last = '\n', rc = 0;

    if (!(o->header && o->body))
        hlen = header_length(fd, start, size, buf);
    if (hlen < 0) {
        rc = -1;
    } else {
        if (o->envelope)
            printf("*** MESSAGE CONTENTS %s ***\n", label);
        if (o->header && copy_out(fd, start, hlen, buf, &last) < 0)
            rc = -1;
        if (rc == 0 && o->body && copy_out(fd, start + hlen, size - hlen, buf, &last) < 0)
            rc = -1;
    }
    if (rc < 0)
        tool_say("%s: reading content: %s", label, strerror(errno));
    xfree(buf);
    return rc;
}

/*
 * Show the queue file open on fd; label is the path shown to the user.
 * Returns 0 or -1 (error already reported).
 */
static int show_fd(int fd, const char *label, const struct options *o)
{
    struct queue_file qf;
    struct trace_buf t = { STRBUF_INIT, 0 };
    char err[QF_ERR_MAX];
    int rc;

    if (queue_file_read_trace(fd, &qf, o->verbose ? trace_record : NULL, &t,
                              err, sizeof(err)) < 0) {
        if (o->verbose && strbuf_len(&t.text) > 0) {
            printf("*** RECORDS READ BEFORE THE ERROR %s ***\n", label);
            fwrite(strbuf_str(&t.text), 1, strbuf_len(&t.text), stdout);
        }
        tool_say("%s: %s", label, err);
        strbuf_free(&t.text);
        return -1;
    }
    if (o->envelope) {
        show_envelope(label, &qf, o->verbose);
        if (o->verbose)
            show_trace(label, &qf, &t);
    }
    rc = 0;
    if (o->header || o->body) {
        fflush(stdout);
        rc = show_content(fd, label, &qf, o);
    }
    if (o->envelope) {
        /* Keep the end marker on a line of its own. */
        if (rc == 0 && (o->header || o->body) && qf.content_size > 0) {
            char c = 0;
            off_t end = qf.content_offset + qf.content_size - 1;
            if (fdio_pread_all(fd, &c, 1, end) == 0 && c != '\n')
                putchar('\n');
        }
        printf("*** MESSAGE FILE END %s ***\n", label);
    }
    queue_file_free(&qf);
    strbuf_free(&t.text);
    return rc;
}

/* Open path and show it: 0, -1 on an error (said), 1 when it is not there
 * and missing_ok (the caller looks again). */
static int open_and_show(const char *path, int flags, int missing_ok, const struct options *o)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
    int rc;

    if (fd < 0 && errno == ENOENT && missing_ok)
        return 1;
    if (fd < 0) {
        tool_say("%s: %s", path, strerror(errno));
        return -1;
    }
    rc = show_fd(fd, path, o);
    close(fd);
    return rc;
}

static int show_path(const char *path, const struct options *o)
{
    return open_and_show(path, 0, 0, o);
}

#define OPEN_TRIES 3

static int show_id(const char *id, const struct options *o)
{
    char path[QUEUE_PATH_MAX];
    enum queue_state state;
    int rc;

    if (!queue_id_valid(id)) {
        tool_say("invalid queue ID: %.80s", id);
        return -1;
    }
    /* The message may change state between the lookup and the open. */
    for (int i = 0; i < OPEN_TRIES; i++) {
        if (queue_find(id, &state) < 0)
            break;
        queue_path(path, sizeof(path), state, id);
        if ((rc = open_and_show(path, O_NOFOLLOW, 1, o)) != 1)
            return rc;
    }
    tool_say("no message with queue ID %s in %s", id, var_queue_dir);
    return -1;
}

enum { OPT_HELP = 256 };

static void parse_args(int argc, char **argv, struct options *o)
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "bc:ehqv", long_options, NULL)) != -1) {
        switch (c) {
        case 'b':
            o->body = 1;
            break;
        case 'c':
            o->config_dir = optarg;
            break;
        case 'e':
            o->envelope = 1;
            break;
        case 'h':
            o->header = 1;
            break;
        case 'q':
            o->by_id = 1;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case OPT_HELP:
            tool_help();
        default:
            if (optopt == 'c')
                tool_usage("option -c needs a directory");
            if (optopt > 0x20 && optopt < 0x7f)
                tool_usage("unknown option -%c", optopt);
            tool_usage("unknown option");
        }
    }
    if (optind >= argc)
        tool_usage(o->by_id ? "no queue ID given" : "no file given");
    if (!o->envelope && !o->header && !o->body)
        o->envelope = o->header = o->body = 1;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    int failed = 0;

    tool_init(&postcat_tool);
    parse_args(argc, argv, &o);
    if (o.by_id) {
        tool_load_config(o.config_dir);
        tool_chdir_queue();
    }
    for (int i = optind; i < argc; i++) {
        if ((o.by_id ? show_id(argv[i], &o) : show_path(argv[i], &o)) < 0)
            failed = 1;
        fflush(stdout);
    }
    if (fflush(stdout) == EOF || ferror(stdout))
        tool_fatal(TOOL_EXIT_FAIL, "write error: %s", strerror(errno));
    return failed;
}
