/*
 * gen_queue - fill a Postern queue directory with deferred messages, for
 * bench/queue. Not installed.
 *
 *   gen_queue [-l size] [-u user] [-s seed] [-a age_hours] -f spec queue_directory
 *
 * Each message is a real queue file written by lib/mail/queue_file.c, exactly as
 * cleanup writes one (envelope, content, end marker), with one appended
 * delay record per recipient (as qmgr appends after a failed attempt), its
 * mtime and atime set to a next attempt 1 to 5 hours ahead (so the
 * scheduler leaves it alone during a benchmark), renamed from tmp/ into
 * deferred/H1/H2/ID.
 *
 * The mix comes from the spec file, one line per kind of message, fields
 * separated by tabs:
 *
 *   COUNT  SENDER  RECIPIENT[,RECIPIENT...]  DSN  REASON
 *
 * (an empty SENDER is the null sender). Exactly COUNT messages of each line
 * are written, in an order shuffled with a fixed pseudo-random sequence
 * (-s), so a run is reproducible and the same spec gives the same mix to
 * any MTA. Arrival times are spread evenly over the last age_hours
 * (default 48), oldest first.
 *
 * Durability: queue_file_finish() fsyncs every file, which would make
 * generation take one disk flush per message; the program is linked with
 * -Wl,--wrap=fsync (bench/meson.build) and __wrap_fsync() below does
 * nothing, and one syncfs(2) at the end makes the whole queue durable.
 *
 * Memory: the spec lines are kept for the run (bounded by SPEC_LINES_MAX),
 * with the shuffled order (4 bytes per message, at most TOTAL_MAX); one
 * message's buffers are reused for every message.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "msg.h"
#include "queue_dir.h"
#include "queue_file.h"

#define EXIT_USAGE 2
#define SPEC_LINES_MAX 10000
#define SPEC_LINE_MAX 4096
#define RCPTS_MAX 100
#define SIZE_MAX_ARG (64L * 1024 * 1024)
#define TOTAL_MAX 100000000UL

static const char usage_text[] =
    "usage: gen_queue [-l size] [-u user] [-s seed] [-a age_hours] -f spec queue_directory\n";

struct spec {
    unsigned long count;
    char *sender;
    char *rcpt_list;            /* as in the spec: comma-separated */
    char *dsn;
    char *reason;
    char **rcpts;               /* split rcpt_list */
    size_t rcpt_count;
};

struct options {
    long size;
    const char *user;
    uint64_t seed;
    double age_hours;
    const char *spec_path;
    const char *queue_dir;
};

int __wrap_fsync(int fd);

static unsigned long skipped_fsyncs;

/* Linked in place of fsync(2) (see the top of the file). */
int __wrap_fsync(int fd)
{
    (void)fd;
    skipped_fsyncs++;
    return 0;
}

/* xorshift64*: reproducible, good enough to shuffle and pick delays. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static unsigned long rng_below(unsigned long n)
{
    return n ? (unsigned long)(rng_next() % n) : 0;
}

static void usage(void)
{
    fputs(usage_text, stderr);
    exit(EXIT_USAGE);
}

static unsigned long parse_ulong(const char *s, const char *what, unsigned long max)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max) {
        fprintf(stderr, "gen_queue: bad %s: %s\n", what, s);
        usage();
    }
    return v;
}

/* Split `line` at tabs into at most n fields; returns the number found. */
static size_t split_tabs(char *line, char **fields, size_t n)
{
    size_t i = 0;

    while (i < n) {
        fields[i++] = line;
        line = strchr(line, '\t');
        if (line == NULL)
            break;
        *line++ = '\0';
    }
    return i;
}

static void spec_split_rcpts(struct spec *sp)
{
    char *copy = xstrdup(sp->rcpt_list);
    char *save = NULL;

    sp->rcpts = xcalloc(RCPTS_MAX, sizeof(*sp->rcpts));
    for (char *r = strtok_r(copy, ",", &save); r != NULL; r = strtok_r(NULL, ",", &save)) {
        if (sp->rcpt_count == RCPTS_MAX)
            msg_fatal("spec: more than %d recipients in one line", RCPTS_MAX);
        sp->rcpts[sp->rcpt_count++] = xstrdup(r);
    }
    xfree(copy);
    if (sp->rcpt_count == 0)
        msg_fatal("spec: a line without recipients");
}

static int spec_value_ok(const char *v)
{
    return queue_file_value_ok(v) && strlen(v) < 1000;
}

static struct spec *spec_read(const char *path, size_t *count, unsigned long *total)
{
    FILE *fp = fopen(path, "r");
    char line[SPEC_LINE_MAX];
    struct spec *specs = xcalloc(SPEC_LINES_MAX, sizeof(*specs));
    size_t n = 0;
    unsigned long lineno = 0;

    if (fp == NULL)
        msg_fatal("open %s: %s", path, strerror(errno));
    *total = 0;
    while (fgets(line, sizeof(line), fp) != NULL) {
        char *fields[5];
        size_t len = strlen(line);

        lineno++;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        else if (!feof(fp))
            msg_fatal("%s:%lu: line too long", path, lineno);
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (split_tabs(line, fields, 5) != 5)
            msg_fatal("%s:%lu: want 5 tab-separated fields", path, lineno);
        if (n == SPEC_LINES_MAX)
            msg_fatal("%s: more than %d lines", path, SPEC_LINES_MAX);
        for (int i = 1; i < 5; i++)
            if (!spec_value_ok(fields[i]))
                msg_fatal("%s:%lu: field %d is not a valid record value", path, lineno, i + 1);
        specs[n].count = parse_ulong(fields[0], "count", TOTAL_MAX);
        specs[n].sender = xstrdup(fields[1]);
        specs[n].rcpt_list = xstrdup(fields[2]);
        specs[n].dsn = xstrdup(fields[3]);
        specs[n].reason = xstrdup(fields[4]);
        spec_split_rcpts(&specs[n]);
        *total += specs[n].count;
        if (*total > TOTAL_MAX)
            msg_fatal("%s: more than %lu messages in all", path, TOTAL_MAX);
        n++;
    }
    if (ferror(fp))
        msg_fatal("read %s: %s", path, strerror(errno));
    fclose(fp);
    if (n == 0 || *total == 0)
        msg_fatal("%s: no message kinds (or all counts 0)", path);
    *count = n;
    return specs;
}

/* Each spec line's index COUNT times, shuffled (Fisher-Yates). */
static uint32_t *spec_order(const struct spec *specs, size_t n, unsigned long total)
{
    uint32_t *order = xcalloc(total, sizeof(*order));
    unsigned long k = 0;

    for (size_t i = 0; i < n; i++)
        for (unsigned long j = 0; j < specs[i].count; j++)
            order[k++] = (uint32_t)i;
    for (unsigned long i = total - 1; i > 0; i--) {
        unsigned long r = rng_below(i + 1);
        uint32_t t = order[i];

        order[i] = order[r];
        order[r] = t;
    }
    return order;
}

static void become_user(const char *user)
{
    struct passwd *pw = getpwnam(user);

    if (pw == NULL)
        msg_fatal("unknown user %s", user);
    if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
        msg_fatal("cannot become %s: %s", user, strerror(errno));
    if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid)
        msg_fatal("still running as uid %ld", (long)geteuid());
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * The content: an added Received: header (as cleanup prepends), then the
 * message's own headers and a body padded to about `size` bytes. Returns
 * the content length; *added gets the length of the added part.
 */
static size_t make_content(char *buf, size_t cap, const struct spec *sp, unsigned long seq,
                           const struct timeval *arrival, long size, size_t *added)
{
    static const char filler[] =
        "Your ticket has been updated. Lorem ipsum dolor sit amet, consectetur.\r\n";
    char date[64];
    struct tm tm;
    time_t t = arrival->tv_sec;
    size_t len;
    int n;

    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    n = snprintf(buf, cap,
                 "Received: from app.example.com (app.example.com [192.0.2.10])\r\n"
                 "\tby relay.example.org (Postern) with ESMTP; %s\r\n", date);
    *added = (size_t)n;
    len = (size_t)n;
    n = snprintf(buf + len, cap - len,
                 "From: <%s>\r\nTo: <%s>\r\nSubject: notification %lu\r\n"
                 "Date: %s\r\nMessage-ID: <gen.%lu@app.example.com>\r\n\r\n",
                 sp->sender, sp->rcpts[0], seq, date, seq);
    len += (size_t)n;
    while (len + sizeof(filler) - 1 <= (size_t)size + *added && len + sizeof(filler) <= cap) {
        memcpy(buf + len, filler, sizeof(filler) - 1);
        len += sizeof(filler) - 1;
    }
    return len;
}

/* Write one message; returns 0 or -1 (with a warning). */
static int write_message(const struct spec *sp, unsigned long seq, const struct timeval *arrival,
                         time_t next_attempt, char *content, size_t content_cap, long size)
{
    char tmp_path[64], final_path[QUEUE_PATH_MAX], id[QUEUE_ID_MAX + 1];
    char msgid[80], err[QF_ERR_MAX];
    struct queue_file env;
    struct qf_rcpt rcpts[RCPTS_MAX];
    struct timespec times[2];
    struct stat st;
    size_t added, len;
    int fd;

    snprintf(tmp_path, sizeof(tmp_path), "%s/gen.%ld.%lu", QUEUE_TMP_DIR, (long)getpid(), seq);
    fd = open(tmp_path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 || fstat(fd, &st) < 0) {
        msg_warn("create %s: %s", tmp_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    queue_id_make(id, sizeof(id), arrival, st.st_ino);
    snprintf(msgid, sizeof(msgid), "<gen.%lu@app.example.com>", seq);
    memset(&env, 0, sizeof(env));
    memset(rcpts, 0, sizeof(rcpts));
    env.version = QUEUE_FILE_VERSION;
    env.arrival = *arrival;
    env.sender = sp->sender;
    env.client_name = "app.example.com";
    env.client_addr = "192.0.2.10";
    env.helo = "app.example.com";
    env.protocol = "ESMTP";
    env.body_type = "7BIT";
    env.message_id = msgid;
    for (size_t i = 0; i < sp->rcpt_count; i++) {
        rcpts[i].address = sp->rcpts[i];
        rcpts[i].state = QF_RCPT_PENDING;
    }
    env.rcpts = rcpts;
    env.rcpt_count = sp->rcpt_count;
    len = make_content(content, content_cap, sp, seq, arrival, size, &added);
    if (queue_file_write_envelope(fd, &env, err, sizeof(err)) < 0
        || write_all(fd, content, len) < 0
        || queue_file_finish(fd, (off_t)len, (off_t)added, err, sizeof(err)) < 0) {
        msg_warn("%s: write: %s", tmp_path, errno ? strerror(errno) : err);
        goto fail;
    }
    for (size_t i = 0; i < sp->rcpt_count; i++) {
        if (queue_file_append_delay(fd, i, arrival->tv_sec + 300, sp->dsn, sp->reason) < 0) {
            msg_warn("%s: append delay record: %s", tmp_path, strerror(errno));
            goto fail;
        }
    }
    times[0].tv_sec = next_attempt;
    times[0].tv_nsec = 0;
    times[1] = times[0];
    if (futimens(fd, times) < 0) {
        msg_warn("%s: futimens: %s", tmp_path, strerror(errno));
        goto fail;
    }
    if (close(fd) < 0) {
        fd = -1;
        msg_warn("%s: close: %s", tmp_path, strerror(errno));
        goto fail;
    }
    fd = -1;
    queue_path(final_path, sizeof(final_path), QUEUE_DEFERRED, id);
    if (final_path[0] == '\0' || rename(tmp_path, final_path) < 0) {
        msg_warn("rename %s to %s: %s", tmp_path, final_path, strerror(errno));
        goto fail;
    }
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp_path);
    return -1;
}

static void parse_args(int argc, char **argv, struct options *opt)
{
    int c;

    memset(opt, 0, sizeof(*opt));
    opt->size = 4096;
    opt->seed = 1;
    opt->age_hours = 48;
    while ((c = getopt(argc, argv, "l:u:s:a:f:")) != -1) {
        switch (c) {
        case 'l':
            opt->size = (long)parse_ulong(optarg, "size", SIZE_MAX_ARG);
            break;
        case 'u':
            opt->user = optarg;
            break;
        case 's':
            opt->seed = parse_ulong(optarg, "seed", ~0UL);
            break;
        case 'a':
            opt->age_hours = (double)parse_ulong(optarg, "age", 24UL * 365);
            break;
        case 'f':
            opt->spec_path = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind != argc - 1 || opt->spec_path == NULL)
        usage();
    opt->queue_dir = argv[optind];
}

int main(int argc, char **argv)
{
    struct options opt;
    struct spec *specs;
    size_t nspecs;
    unsigned long total, written = 0, failed = 0;
    uint32_t *order;
    struct timeval now, t0, t1;
    size_t content_cap;
    char *content;
    double span_us;
    int dirfd;

    msg_set_tag("gen_queue");
    parse_args(argc, argv, &opt);
    specs = spec_read(opt.spec_path, &nspecs, &total);
    if (opt.user != NULL)
        become_user(opt.user);
    if (chdir(opt.queue_dir) < 0)
        msg_fatal("chdir %s: %s", opt.queue_dir, strerror(errno));
    if (queue_dir_create((uid_t)-1, (gid_t)-1) < 0)
        msg_fatal("create the queue directories in %s: %s", opt.queue_dir, strerror(errno));
    rng_state = opt.seed ? opt.seed : 1;
    order = spec_order(specs, nspecs, total);
    content_cap = (size_t)opt.size + 4096;
    content = xmalloc(content_cap);
    gettimeofday(&now, NULL);
    t0 = now;
    span_us = opt.age_hours * 3600e6;
    for (unsigned long i = 0; i < total; i++) {
        const struct spec *sp = &specs[order[i]];
        /* Arrivals spread evenly over the span, oldest first. */
        double ago_us = span_us * (double)(total - i) / (double)total;
        int64_t at_us = (int64_t)now.tv_sec * 1000000 + now.tv_usec - (int64_t)ago_us;
        struct timeval arrival = { .tv_sec = (time_t)(at_us / 1000000),
                                   .tv_usec = (suseconds_t)(at_us % 1000000) };
        time_t next = now.tv_sec + 3600 + (time_t)rng_below(4 * 3600);

        if (write_message(sp, i, &arrival, next, content, content_cap, opt.size) < 0) {
            if (++failed > 10)
                msg_fatal("too many failures; stopping after %lu messages", written);
            continue;
        }
        written++;
    }
    dirfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0 || syncfs(dirfd) < 0)
        msg_fatal("syncfs %s: %s", opt.queue_dir, strerror(errno));
    close(dirfd);
    gettimeofday(&t1, NULL);
    printf("gen_queue: %lu messages written to %s/deferred in %.1fs (%lu fsyncs replaced by "
           "one syncfs); %lu failed\n", written, opt.queue_dir,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_usec - t0.tv_usec) / 1e6,
           skipped_fsyncs, failed);
    xfree(content);
    xfree(order);
    return failed ? 1 : 0;
}
