/*
 * postmap - build, query, list and edit lookup tables.
 *
 *   postmap [-c config_dir] [-rvw] [lmdb:]file...        compile file -> file.lmdb
 *   postmap [-c config_dir] [-v] -q key type:table...    query (first table that has it)
 *   postmap [-c config_dir] [-v] -q - type:table...      query keys read from stdin
 *   postmap [-c config_dir] [-v] -s type:table...        list every entry
 *   postmap [-c config_dir] [-v] -d key [lmdb:]file...   delete a key in place
 *   postmap [-c config_dir] [-rvw] -i [lmdb:]file        add stdin's entries in place
 *
 * The work is done by lib/dict/ (reading: dict.h; writing: dict_lmdb.h),
 * the same code the daemons use, so what postmap -q answers is what a
 * daemon would. This file is argument handling and printing only.
 *
 * Memory: one dict per table operand, closed before the next; the input
 * read from stdin is held in one buffer.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "dict.h"
#include "dict_lmdb.h"
#include "dict_text.h"
#include "fdio.h"
#include "msg.h"
#include "strbuf.h"
#include "tool.h"

#define EXIT_NOTFOUND 1
#define EXIT_TEMPFAIL 75        /* EX_TEMPFAIL */

static const char usage_text[] =
    "usage: postmap [-c config_dir] [-rvw] [lmdb:]file...\n"
    "       postmap [-c config_dir] [-v] -q key|- type:table...\n"
    "       postmap [-c config_dir] [-v] -s type:table...\n"
    "       postmap [-c config_dir] [-v] -d key|- [lmdb:]file...\n"
    "       postmap [-c config_dir] [-rvw] -i [lmdb:]file\n"
    "       postmap --help\n";

static const char help_text[] =
    "NAME\n"
    "    postmap - build, query, list and edit Postern lookup tables\n"
    "\n"
    "SYNOPSIS\n"
    "    postmap [-c config_dir] [-rvw] [lmdb:]file...\n"
    "    postmap [-c config_dir] [-v] -q key|- type:table...\n"
    "    postmap [-c config_dir] [-v] -s type:table...\n"
    "    postmap [-c config_dir] [-v] -d key|- [lmdb:]file...\n"
    "    postmap [-c config_dir] [-rvw] -i [lmdb:]file\n"
    "    postmap --help\n"
    "\n"
    "DESCRIPTION\n"
    "    Without -q, -s, -d or -i, postmap compiles each text file into\n"
    "    file.lmdb, the table that lmdb:file names in main.cf. The text has\n"
    "    one entry per line, \"key value\": the key up to the first white\n"
    "    space (folded to lower case), the value the rest of the line; '#'\n"
    "    starts a comment line, blank lines are ignored and a line that starts\n"
    "    with white space continues the previous one. The table is written to\n"
    "    a temporary file, synced, and renamed over file.lmdb: daemons never\n"
    "    see half a table and pick up the new one within a second, without a\n"
    "    restart. A bad line is reported as \"postmap: file:line: message\"\n"
    "    and then nothing is replaced. A key that appears twice keeps its\n"
    "    first value, with a warning (see -r and -w).\n"
    "\n"
    "    The table operands of -q and -s may be of any type: lmdb:file,\n"
    "    pcre:file, cidr:file, inline:{key=value, ...}, static:value. An\n"
    "    operand without \"type:\" means lmdb:. See docs/tables.md.\n"
    "\n"
    "OPTIONS\n"
    "    -c config_dir\n"
    "        Read main.cf from config_dir (else $MAIL_CONFIG when set) and stop\n"
    "        if it is invalid. postmap needs no parameter from it today.\n"
    "    -d key\n"
    "        Delete key from each file.lmdb in place (the text file is not\n"
    "        changed: the next full compile brings the key back). With \"-\"\n"
    "        the keys are read from standard input, one per line.\n"
    "    -i  Incremental: add the \"key value\" lines read from standard input\n"
    "        to file.lmdb in place (it is created when missing). An existing\n"
    "        key keeps its value unless -r is given.\n"
    "    -q key\n"
    "        Look key up in the tables, in order, and print the first value\n"
    "        found. With \"-\" the keys are read from standard input, one per\n"
    "        line, and each key that is found is printed as \"key<TAB>value\".\n"
    "    -r  When a key is given twice (or already exists, with -i), use the\n"
    "        last value, without a warning.\n"
    "    -s  Print every entry of each table as \"key<TAB>value\" (lmdb and\n"
    "        inline tables; pcre, cidr and static tables have no entries to\n"
    "        list).\n"
    "    -v  Verbose: say what was done (entries stored, keys deleted) and\n"
    "        which table entry answered a query.\n"
    "    -w  When a key is given twice (or already exists, with -i), keep the\n"
    "        first value, without a warning.\n"
    "    --help, -h\n"
    "        Show this text.\n"
    "\n"
    "EXIT STATUS\n"
    "    0   success; with -q or -d: at least one key was found.\n"
    "    1   with -q or -d: no key was found; otherwise an error (a bad\n"
    "        line, a table that cannot be opened or written).\n"
    "    2   bad usage.\n"
    "    75  a table could not be read right now (EX_TEMPFAIL): a lookup\n"
    "        would be deferred, not refused.\n"
    "\n";

enum mode { MODE_BUILD, MODE_QUERY, MODE_LIST, MODE_DELETE, MODE_ADD };

struct options {
    enum mode mode;
    const char *key;            /* -q / -d argument */
    const char *config_dir;
    int dup_mode;
    int verbose;
};

static const char examples_text[] =
    "    postmap /etc/postern/transport\n"
    "    postmap -q example.com lmdb:/etc/postern/transport\n"
    "    postmap -q 'Subject: hello' pcre:/etc/postern/header_checks\n"
    "    postmap -q 192.0.2.1 cidr:/etc/postern/clients\n"
    "    postmap -s /etc/postern/transport\n"
    "    postmap -d old.example.com /etc/postern/transport\n";

static const struct tool_def postmap_tool = {
    .name = "postmap",
    .usage = usage_text,
    .help = help_text,
    .examples = examples_text,
    .see_also = "docs/tables.md",
    .setup_status = TOOL_EXIT_FAIL,
};

static void set_mode(struct options *opt, enum mode mode)
{
    if (opt->mode != MODE_BUILD && opt->mode != mode)
        tool_usage("-q, -s, -d and -i exclude each other");
    opt->mode = mode;
}

static void parse_args(int argc, char **argv, struct options *opt)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    memset(opt, 0, sizeof(*opt));
    opt->dup_mode = DICT_LMDB_DUP_WARN;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+c:d:hiq:rsvw", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opt->config_dir = optarg;
            break;
        case 'd':
            set_mode(opt, MODE_DELETE);
            opt->key = optarg;
            break;
        case 'h':
            tool_help();
        case 'i':
            set_mode(opt, MODE_ADD);
            break;
        case 'q':
            set_mode(opt, MODE_QUERY);
            opt->key = optarg;
            break;
        case 'r':
            opt->dup_mode = DICT_LMDB_DUP_REPLACE;
            break;
        case 's':
            set_mode(opt, MODE_LIST);
            break;
        case 'v':
            opt->verbose++;
            break;
        case 'w':
            opt->dup_mode = DICT_LMDB_DUP_IGNORE;
            break;
        default:
            if (optopt && strchr("cdq", optopt))
                tool_usage("option -%c needs an argument", optopt);
            if (optopt)
                tool_usage("unknown option -%c", optopt);
            tool_usage("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        tool_usage("no table given");
    if (opt->mode == MODE_ADD && argc - optind != 1)
        tool_usage("-i takes exactly one table");
}

/* "type:name" for a table operand: without a known-looking type, lmdb:. */
static char *table_spec(const char *operand)
{
    const char *colon = strchr(operand, ':');

    if (colon != NULL && colon > operand
        && strspn(operand, "abcdefghijklmnopqrstuvwxyz0123456789_") == (size_t)(colon - operand))
        return xstrdup(operand);
    return xasprintf("lmdb:%s", operand);
}

/* The file of an operand that must be an lmdb table; NULL (reported) otherwise. */
static const char *lmdb_file(const char *operand)
{
    const char *colon = strchr(operand, ':');

    if (colon != NULL && colon > operand
        && strspn(operand, "abcdefghijklmnopqrstuvwxyz0123456789_") == (size_t)(colon - operand)) {
        if (strncmp(operand, "lmdb:", 5) != 0) {
            tool_say("%s: only lmdb: tables are compiled or edited; %.*s: tables are read "
                     "as they are", operand, (int)(colon - operand), operand);
            return NULL;
        }
        return operand + 5;
    }
    return operand;
}

/* Read all of stdin into a buffer (the caller frees it with xfree). */
static char *read_stdin(size_t *len)
{
    struct strbuf in = STRBUF_INIT;
    ssize_t n;

    do {
        strbuf_reserve(&in, 65536);
        n = fdio_read_all(STDIN_FILENO, in.data + in.len, 65536);
        if (n < 0)
            tool_fatal(TOOL_EXIT_FAIL, "read standard input: %s", strerror(errno));
        in.len += (size_t)n;
        in.data[in.len] = '\0';
        if (in.len > DICT_FILE_MAX)
            tool_fatal(TOOL_EXIT_FAIL, "standard input is larger than %zu bytes", DICT_FILE_MAX);
    } while (n > 0);
    *len = strbuf_len(&in);
    return strbuf_detach(&in);
}

/* Split stdin into keys, one per line (CR removed; empty lines skipped). */
static char **read_keys(size_t *count, char **buf_out)
{
    size_t len, cap = 0, n = 0;
    char *buf = read_stdin(&len);
    char **keys = NULL;
    char *p = buf;

    while (p < buf + len) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        char *end = nl ? nl : buf + len;

        *end = '\0';
        if (end > p && end[-1] == '\r')
            end[-1] = '\0';
        if (*p) {
            keys = xgrow(keys, &cap, n + 1, sizeof(*keys));
            keys[n++] = p;
        }
        p = end + 1;
    }
    *count = n;
    *buf_out = buf;
    return keys;
}

/* --- compile, add, delete --- */

static int do_build(char **operands, int count, const struct options *opt)
{
    char err[DICT_ERR_MAX];
    int status = 0;

    for (int i = 0; i < count; i++) {
        const char *file = lmdb_file(operands[i]);
        size_t entries = 0;

        if (file == NULL) {
            status = 1;
            continue;
        }
        if (dict_lmdb_build(file, opt->dup_mode, &entries, err, sizeof(err)) < 0) {
            tool_say("%s", err);
            status = 1;
            continue;
        }
        if (opt->verbose)
            tool_say("%s%s: %zu entries", file, DICT_LMDB_SUFFIX, entries);
    }
    return status;
}

static int do_add(const char *operand, const struct options *opt)
{
    char err[DICT_ERR_MAX];
    const char *file = lmdb_file(operand);
    size_t len, added = 0;
    char *buf;
    int rc;

    if (file == NULL)
        return 1;
    buf = read_stdin(&len);
    rc = dict_lmdb_update(file, "stdin", buf, len, opt->dup_mode, &added, err, sizeof(err));
    xfree(buf);
    if (rc < 0) {
        tool_say("%s", err);
        return 1;
    }
    if (opt->verbose)
        tool_say("%s%s: %zu entries added", file, DICT_LMDB_SUFFIX, added);
    return 0;
}

static int do_delete(char **operands, int count, const struct options *opt)
{
    char err[DICT_ERR_MAX];
    const char *one[1] = {opt->key};
    const char *const *keys = one;
    size_t nkeys = 1, total = 0;
    char **stdin_keys = NULL, *buf = NULL;
    int failed = 0;

    if (strcmp(opt->key, "-") == 0) {
        stdin_keys = read_keys(&nkeys, &buf);
        keys = (const char *const *)stdin_keys;
    }
    for (int i = 0; i < count; i++) {
        const char *file = lmdb_file(operands[i]);
        size_t deleted = 0;

        if (file == NULL) {
            failed = 1;
            continue;
        }
        if (dict_lmdb_delete(file, keys, nkeys, &deleted, err, sizeof(err)) < 0) {
            tool_say("%s", err);
            failed = 1;
            continue;
        }
        if (opt->verbose)
            tool_say("%s%s: %zu deleted", file, DICT_LMDB_SUFFIX, deleted);
        total += deleted;
    }
    xfree(stdin_keys);
    xfree(buf);
    if (failed)
        return 1;
    return total > 0 ? 0 : EXIT_NOTFOUND;
}

/* --- query and list --- */

static struct dict **open_tables(char **operands, int count)
{
    struct dict **dicts = xcalloc((size_t)count, sizeof(*dicts));
    char err[DICT_ERR_MAX];

    for (int i = 0; i < count; i++) {
        char *spec = table_spec(operands[i]);

        if (dict_open(spec, 0, &dicts[i], err, sizeof(err)) < 0)
            tool_fatal(TOOL_EXIT_FAIL, "%s", err);
        xfree(spec);
    }
    return dicts;
}

/* Look key up in each table; 1 found (printed), 0 not found, -1 tempfail. */
static int query_one(struct dict **dicts, int count, const char *key, int with_key, int verbose)
{
    struct dict_result res;

    for (int i = 0; i < count; i++) {
        switch (dict_lookup(dicts[i], key, &res)) {
        case DICT_FOUND:
            if (with_key)
                printf("%s\t%s\n", key, res.value);
            else
                printf("%s\n", res.value);
            if (verbose)
                tool_say("%s: found by %s", key, res.where);
            return 1;
        case DICT_NOTFOUND:
            continue;
        default:
            tool_say("temporary failure: %s", res.error);
            return -1;
        }
    }
    return 0;
}

static int do_query(char **operands, int count, const struct options *opt)
{
    struct dict **dicts = open_tables(operands, count);
    int found = 0, tempfail = 0;

    if (strcmp(opt->key, "-") == 0) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;

        while ((n = getline(&line, &cap, stdin)) > 0) {
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = '\0';
            if (n == 0)
                continue;
            switch (query_one(dicts, count, line, 1, opt->verbose)) {
            case 1:
                found = 1;
                break;
            case -1:
                tempfail = 1;
                break;
            }
        }
        free(line);
    } else {
        int rc = query_one(dicts, count, opt->key, 0, opt->verbose);
        found = rc == 1;
        tempfail = rc < 0;
    }
    for (int i = 0; i < count; i++)
        dict_close(dicts[i]);
    xfree(dicts);
    if (fflush(stdout) != 0) {
        tool_say("write: %s", strerror(errno));
        return 1;
    }
    if (tempfail)
        return EXIT_TEMPFAIL;
    return found ? 0 : EXIT_NOTFOUND;
}

static int print_entry(const char *key, const char *value, void *ctx)
{
    (void)ctx;
    printf("%s\t%s\n", key, value);
    return ferror(stdout) ? -1 : 0;
}

static int do_list(char **operands, int count)
{
    struct dict **dicts = open_tables(operands, count);
    char err[DICT_ERR_MAX];
    int status = 0;

    for (int i = 0; i < count; i++) {
        if (dict_iterate(dicts[i], print_entry, NULL, err, sizeof(err)) != 0) {
            tool_say("%s", ferror(stdout) ? "write error" : err);
            status = 1;
        }
        dict_close(dicts[i]);
    }
    xfree(dicts);
    if (fflush(stdout) != 0)
        status = 1;
    return status;
}

int main(int argc, char **argv)
{
    struct options opt;

    tool_init(&postmap_tool);
    parse_args(argc, argv, &opt);
    if (opt.config_dir != NULL || getenv("MAIL_CONFIG") != NULL)
        tool_load_config(opt.config_dir);
    msg_verbose = opt.verbose > 1;
    argv += optind;
    argc -= optind;
    switch (opt.mode) {
    case MODE_BUILD:
        return do_build(argv, argc, &opt);
    case MODE_QUERY:
        return do_query(argv, argc, &opt);
    case MODE_LIST:
        return do_list(argv, argc);
    case MODE_DELETE:
        return do_delete(argv, argc, &opt);
    case MODE_ADD:
        return do_add(argv[0], &opt);
    }
    return TOOL_EXIT_FAIL;
}
