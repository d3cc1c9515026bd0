/*
 * test_queue_file.c - the queue file writer and strict reader: round trip,
 * every truncation, corrupted bytes, marking recipients, appended delay
 * records (last wins, a crash-cut last line ignored), writer refusals.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "check.h"
#include "queue_file.h"

static char tmpdir[] = "/tmp/test_queue_file.XXXXXX";
static char path[256];

/* Content with CRLF lines, 8-bit bytes, control bytes and lines that look
 * like records: the reader must never look inside it. */
static unsigned char content[600];
static size_t content_len;
static const size_t added_len = 42;

static void make_content(void)
{
    static const char head[] =
        "Received: from x by y; Mon, 1 Jan 2024 00:00:00 +0000\r\n"   /* 55: cut at 42 */
        "Subject: caf\xc3\xa9 \x80\xff\r\n"
        "\r\n"
        "M\nE\nD 1 0 4.4.1 fake\nR P fake@example\n";
    size_t n = sizeof(head) - 1;

    memcpy(content, head, n);
    for (size_t i = 1; i < 256 && n < sizeof(content); i++)
        content[n++] = (unsigned char)i;     /* every byte but NUL */
    content_len = n;
}

static struct qf_rcpt sample_rcpts[3] = {
    {.address = "one@example.com", .state = QF_RCPT_PENDING},
    {.address = "two@example.org", .state = QF_RCPT_PENDING},
    {.address = "th\xc3\xa9@example.net", .state = QF_RCPT_DELIVERED},
};

static void sample_env(struct queue_file *env)
{
    memset(env, 0, sizeof(*env));
    env->arrival.tv_sec = 1700000000;
    env->arrival.tv_usec = 42;
    env->sender = "sender@example.com";
    env->client_name = "mail.example.com";
    env->client_addr = "192.0.2.1";
    env->helo = "mail.example.com";
    env->protocol = "ESMTP";
    env->body_type = "8BITMIME";
    env->message_id = "<abc@example.com>";
    env->rcpts = sample_rcpts;
    env->rcpt_count = 3;
}

/* Write a complete queue file at `path`; returns 0 or -1. */
static int write_sample(const struct queue_file *env)
{
    char err[QF_ERR_MAX] = "";
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    int rc = -1;

    if (fd < 0)
        return -1;
    if (queue_file_write_envelope(fd, env, err, sizeof(err)) == 0
        && write(fd, content, content_len) == (ssize_t)content_len
        && queue_file_finish(fd, (off_t)content_len, (off_t)added_len, err, sizeof(err)) == 0)
        rc = 0;
    if (rc < 0)
        fprintf(stderr, "write_sample: %s\n", err);
    close(fd);
    return rc;
}

static unsigned char *slurp(size_t *len)
{
    struct stat st;
    unsigned char *buf;
    int fd = open(path, O_RDONLY);

    if (fd < 0 || fstat(fd, &st) < 0)
        return NULL;
    buf = xmalloc((size_t)st.st_size + 1);
    if (read(fd, buf, (size_t)st.st_size) != st.st_size) {
        close(fd);
        return xfree(buf);
    }
    close(fd);
    *len = (size_t)st.st_size;
    return buf;
}

static void put_file(const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd < 0 || write(fd, data, len) != (ssize_t)len)
        perror("put_file");
    if (fd >= 0)
        close(fd);
}

static void check_sample(const struct queue_file *qf, const char *how)
{
    char what[128];

#define W(x) (snprintf(what, sizeof(what), "%s: %s", how, x), what)
    CHECK_LONG(W("version"), qf->version, 1);
    CHECK_LONG(W("arrival sec"), qf->arrival.tv_sec, 1700000000);
    CHECK_LONG(W("arrival usec"), qf->arrival.tv_usec, 42);
    CHECK_STR(W("sender"), qf->sender, "sender@example.com");
    CHECK_STR(W("client_name"), qf->client_name, "mail.example.com");
    CHECK_STR(W("client_addr"), qf->client_addr, "192.0.2.1");
    CHECK_STR(W("helo"), qf->helo, "mail.example.com");
    CHECK_STR(W("protocol"), qf->protocol, "ESMTP");
    CHECK_STR(W("body_type"), qf->body_type, "8BITMIME");
    CHECK_STR(W("message_id"), qf->message_id, "<abc@example.com>");
    CHECK_LONG(W("rcpt_count"), qf->rcpt_count, 3);
    if (qf->rcpt_count == 3) {
        for (int i = 0; i < 3; i++) {
            CHECK_STR(W("rcpt address"), qf->rcpts[i].address, sample_rcpts[i].address);
            CHECK_LONG(W("rcpt state"), qf->rcpts[i].state, sample_rcpts[i].state);
            CHECK_STR(W("rcpt no delay"), qf->rcpts[i].delay_dsn, NULL);
        }
    }
    CHECK_LONG(W("content_size"), qf->content_size, content_len);
    CHECK_LONG(W("added_size"), qf->added_size, added_len);
    CHECK_LONG(W("file_size = offset + content + E"), qf->file_size,
               qf->content_offset + qf->content_size + 2);
    CHECK_LONG(W("delay_records"), qf->delay_records, 0);
#undef W
}

static void test_round_trip(void)
{
    struct queue_file env, qf;
    char err[QF_ERR_MAX] = "";
    unsigned char *data, *back;
    size_t len = 0;
    int fd;

    sample_env(&env);
    CHECK_LONG("write sample", write_sample(&env), 0);
    fd = queue_file_open(path, 0, &qf, err, sizeof(err));
    CHECK_TRUE("queue_file_open", fd >= 0);
    if (fd < 0) {
        fprintf(stderr, "  error: %s\n", err);
        return;
    }
    check_sample(&qf, "fd");
    /* The content bytes come back exactly. */
    back = xmalloc(content_len);
    CHECK_LONG("pread content", pread(fd, back, content_len, qf.content_offset),
               content_len);
    CHECK_TRUE("content bytes exact", memcmp(back, content, content_len) == 0);
    CHECK_TRUE("added headers are the first bytes",
               memcmp(back, "Received: from x by y; Mon, 1 Jan 2024 00:", added_len) == 0);
    xfree(back);
    /* state_offset points at the state byte. */
    {
        char c = 0;
        CHECK_LONG("pread state", pread(fd, &c, 1, qf.rcpts[2].state_offset), 1);
        CHECK_LONG("state byte", c, 'D');
    }
    queue_file_free(&qf);
    CHECK_TRUE("free clears", qf.sender == NULL && qf.rcpts == NULL && qf.rcpt_count == 0);
    close(fd);

    data = slurp(&len);
    CHECK_LONG("parse from memory", queue_file_parse(data, len, &qf, err, sizeof(err)), 0);
    check_sample(&qf, "memory");
    CHECK_TRUE("file starts with magic", memcmp(data, "POSTERN-QUEUE 1\nZ 000000000", 27) == 0);
    queue_file_free(&qf);
    xfree(data);

    /* The null sender and empty optional fields survive. */
    sample_env(&env);
    env.sender = "";
    env.message_id = NULL;
    env.client_name = "";
    CHECK_LONG("write null sender", write_sample(&env), 0);
    fd = queue_file_open(path, 0, &qf, err, sizeof(err));
    CHECK_TRUE("open null sender", fd >= 0);
    CHECK_STR("null sender", qf.sender, "");
    CHECK_STR("empty message-id", qf.message_id, "");
    CHECK_STR("empty client name", qf.client_name, "");
    queue_file_free(&qf);
    if (fd >= 0)
        close(fd);
}

/* Every proper prefix of a complete file is refused, from memory and disk. */
static void test_truncation(void)
{
    struct queue_file env, qf;
    char err[QF_ERR_MAX];
    unsigned char *data;
    size_t len = 0, mem_ok = 0, fd_ok = 0, no_offset = 0;

    sample_env(&env);
    write_sample(&env);
    data = slurp(&len);
    if (data == NULL) {
        CHECK_TRUE("slurp", 0);
        return;
    }
    for (size_t n = 0; n < len; n++) {
        int fd;

        err[0] = '\0';
        if (queue_file_parse(data, n, &qf, err, sizeof(err)) == 0) {
            mem_ok++;
            fprintf(stderr, "prefix %zu of %zu accepted\n", n, len);
            queue_file_free(&qf);
        } else if (n > 0 && strstr(err, " at offset ") == NULL) {
            no_offset++;
            fprintf(stderr, "prefix %zu: error without offset: %s\n", n, err);
        }
        put_file(data, n);
        fd = queue_file_open(path, 0, &qf, err, sizeof(err));
        if (fd >= 0) {
            fd_ok++;
            queue_file_free(&qf);
            close(fd);
        }
    }
    CHECK_LONG("prefixes accepted from memory", mem_ok, 0);
    CHECK_LONG("prefixes accepted from a file", fd_ok, 0);
    CHECK_LONG("errors without an offset", no_offset, 0);
    CHECK_LONG("whole file accepted", queue_file_parse(data, len, &qf, err, sizeof(err)), 0);
    queue_file_free(&qf);
    CHECK_LONG("NULL data refused", queue_file_parse(NULL, 0, &qf, err, sizeof(err)), -1);
    CHECK_STR("empty file error", err, "empty file at offset 0");
    xfree(data);
}

/* Replace the first `from` in data by `to` (same or other length). */
static unsigned char *edit(const unsigned char *data, size_t len, const char *from,
                           const char *to, size_t *out_len)
{
    size_t fl = strlen(from), tl = strlen(to);
    unsigned char *out;
    const unsigned char *at = memmem(data, len, from, fl);

    if (at == NULL)
        return NULL;
    out = xmalloc(len - fl + tl + 1);
    memcpy(out, data, (size_t)(at - data));
    memcpy(out + (at - data), to, tl);
    memcpy(out + (at - data) + tl, at + fl, len - (size_t)(at - data) - fl);
    *out_len = len - fl + tl;
    return out;
}

static void test_corruption(void)
{
    static char long_sender[QF_RECORD_MAX + 20];
    static const struct {
        const char *name, *from, *to, *want;
    } cases[] = {
        {"bad magic", "POSTERN-QUEUE 1", "POSTERN-QUEUX 1", "bad magic (not a queue file) at offset 0"},
        {"other magic", "POSTERN-QUEUE 1", "From MAILER-DAEM", "bad magic (not a queue file) at offset 0"},
        {"version 2", "POSTERN-QUEUE 1", "POSTERN-QUEUE 2", "unsupported queue file version 2 at offset 14"},
        {"version x", "POSTERN-QUEUE 1", "POSTERN-QUEUE x", "bad version number at offset 14"},
        {"unknown record", "I <abc", "X <abc", "unknown record type 'X' at offset"},
        {"binary record", "I <abc", "\x01 <abc", "unknown record type 0x01 at offset"},
        {"missing S", "S sender@example.com\n", "", "N record where S record expected at offset 64"},
        {"extra record", "M\n", "R P x@y\nS again\nM\n", "S record where M record expected"},
        {"M with a value", "M\n", "M x\n", "malformed M record"},
        {"no space", "H mail", "Hmail", "H record without a space after the type"},
        {"bad state char", "R P one@", "R X one@", "malformed R record"},
        {"no recipients", "R P one@example.com\nR P two@example.org\nR D th\xc3\xa9@example.net\n", "",
         "no R record before M"},
        {"empty recipient", "R P one@example.com", "R P ", "malformed R record"},
        {"bad body type", "B 8BITMIME", "B BINARYMIME", "B record: unknown body type"},
        {"bad protocol", "P ESMTP", "P E SMTP", "malformed P record"},
        {"bad time", "T 1700000000.000042", "T 1700000000.42", "malformed T record"},
        {"negative time", "T 1700000000.000042", "T -700000000.000042", "malformed T record"},
        {"Z too large", "Z 000000000", "Z 900000000", "runs past end of file"},
        {"Z malformed", "Z 000000000", "Z 0000000x0", "malformed Z record at offset 16"},
        {"Z added > content", " 000000000042\n", " 999999999999\n", "exceeds content size"},
        {"CR in value", "H mail.example.com", "H mail\rexample.com", "H record contains NUL or CR"},
        {"long record", "S sender@example.com", long_sender, "record longer than 4096 bytes"},
    };
    struct queue_file env, qf;
    char err[QF_ERR_MAX];
    unsigned char *data;
    size_t len = 0;

    memset(long_sender, 'a', sizeof(long_sender) - 1);
    memcpy(long_sender, "S ", 2);
    sample_env(&env);
    write_sample(&env);
    data = slurp(&len);
    if (data == NULL)
        return;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char *bad;
        size_t bad_len = 0;

        bad = edit(data, len, cases[i].from, cases[i].to, &bad_len);
        CHECK_TRUE(cases[i].name, bad != NULL);
        if (bad == NULL)
            continue;
        err[0] = '\0';
        CHECK_LONG(cases[i].name, queue_file_parse(bad, bad_len, &qf, err, sizeof(err)), -1);
        if (strstr(err, cases[i].want) == NULL)
            CHECK_STR(cases[i].name, err, cases[i].want);
        else
            CHECK_TRUE(cases[i].name, 1);
        queue_file_free(&qf);
        xfree(bad);
    }

    /* NUL inside a recipient (edit() cannot express it). */
    {
        unsigned char *bad = xmemdup(data, len);
        unsigned char *at = memmem(bad, len, "R P two@", 8);
        at[5] = '\0';
        CHECK_LONG("NUL in recipient", queue_file_parse(bad, len, &qf, err, sizeof(err)), -1);
        CHECK_TRUE("NUL error", strstr(err, "R record contains NUL or CR") != NULL);
        xfree(bad);
    }
    /* Z disagreeing with the file by one byte either way. */
    for (int delta = -1; delta <= 1; delta += 2) {
        unsigned char *bad = xmemdup(data, len);
        char digits[16];
        snprintf(digits, sizeof(digits), "%012zu", content_len + (size_t)(long)delta);
        memcpy(bad + QF_Z_OFFSET + 2, digits, 12);
        CHECK_LONG("Z off by one", queue_file_parse(bad, len, &qf, err, sizeof(err)), -1);
        CHECK_TRUE("Z off by one error", strstr(err, delta < 0
                   ? "missing end marker (content size disagrees with file)"
                   : "missing end marker (file truncated)") != NULL);
        xfree(bad);
    }
    /* Missing E: the last two bytes are not "E\n". */
    {
        unsigned char *bad = xmemdup(data, len);
        bad[len - 2] = 'F';
        CHECK_LONG("missing E", queue_file_parse(bad, len, &qf, err, sizeof(err)), -1);
        CHECK_TRUE("missing E error", strstr(err, "missing end marker") != NULL);
        xfree(bad);
    }
    /* Anything after E other than D records. */
    {
        static const struct {
            const char *tail, *want;
        } tails[] = {
            {"X 1\n", "unknown record type 'X'"},
            {"\n", "empty record where D record expected"},
            {"R P more@example.com\n", "R record where D record expected"},
            {"D 1700000000 3 4.4.1 no such rcpt\n", "recipient index 3 out of range (3 recipients)"},
            {"D 1700000000 0 4.4.1\n", "D record: bad DSN status"},
            {"D 1700000000 0 44.1 x\n", "D record: bad DSN status"},
            {"D 17000x0000 0 4.4.1 x\n", "D record: bad time"},
            {"D 1700000000 -1 4.4.1 x\n", "D record: bad recipient index"},
            {"D1700000000 0 4.4.1 x\n", "malformed D record"},
            {"D 1700000000 0 4.4.1 cr\r\n", "malformed D record"},
        };
        for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
            size_t tl = strlen(tails[i].tail);
            unsigned char *bad = xmalloc(len + tl);
            memcpy(bad, data, len);
            memcpy(bad + len, tails[i].tail, tl);
            err[0] = '\0';
            CHECK_LONG(tails[i].want, queue_file_parse(bad, len + tl, &qf, err, sizeof(err)), -1);
            if (strstr(err, tails[i].want) == NULL)
                CHECK_STR(tails[i].tail, err, tails[i].want);
            {
                char want_off[64];
                snprintf(want_off, sizeof(want_off), "at offset %zu", len);
                CHECK_TRUE("error names the record's offset", strstr(err, want_off) != NULL);
            }
            xfree(bad);
        }
    }
    /* The fd reader reports the same as the memory reader. */
    {
        unsigned char *bad = xmemdup(data, len);
        int fd;
        bad[len - 2] = 'F';
        put_file(bad, len);
        fd = queue_file_open(path, 0, &qf, err, sizeof(err));
        CHECK_LONG("fd reader refuses missing E", fd, -1);
        CHECK_TRUE("fd reader error", strstr(err, "missing end marker") != NULL);
        xfree(bad);
    }
    xfree(data);
}

static void test_mark(void)
{
    struct queue_file env, qf;
    char err[QF_ERR_MAX];
    struct qf_rcpt stale;
    int fd;

    sample_env(&env);
    write_sample(&env);
    fd = queue_file_open(path, 1, &qf, err, sizeof(err));
    CHECK_TRUE("open writable", fd >= 0);
    if (fd < 0)
        return;
    CHECK_LONG("mark delivered", queue_file_mark(fd, &qf.rcpts[1], QF_RCPT_DELIVERED), 0);
    CHECK_LONG("struct updated", qf.rcpts[1].state, 'D');
    CHECK_LONG("mark bounced", queue_file_mark(fd, &qf.rcpts[0], QF_RCPT_BOUNCED), 0);
    CHECK_LONG("mark bad state", queue_file_mark(fd, &qf.rcpts[0], (enum qf_rcpt_state)'X'), -1);
    stale = qf.rcpts[0];
    stale.state_offset += 1;
    CHECK_LONG("mark at a wrong offset refused", queue_file_mark(fd, &stale, QF_RCPT_DELIVERED), -1);
    CHECK_LONG("errno EINVAL", errno, EINVAL);
    queue_file_free(&qf);
    close(fd);

    fd = queue_file_open(path, 0, &qf, err, sizeof(err));
    CHECK_TRUE("reopen", fd >= 0);
    if (fd < 0)
        return;
    CHECK_LONG("rcpt 0 bounced", qf.rcpts[0].state, 'B');
    CHECK_LONG("rcpt 1 delivered", qf.rcpts[1].state, 'D');
    CHECK_LONG("rcpt 2 unchanged", qf.rcpts[2].state, 'D');
    CHECK_STR("address intact", qf.rcpts[1].address, "two@example.org");
    CHECK_LONG("read-only fd cannot mark", queue_file_mark(fd, &qf.rcpts[0], QF_RCPT_PENDING), -1);
    queue_file_free(&qf);
    close(fd);

    fd = open(path, O_RDWR | O_APPEND);
    if (queue_file_read(fd, &qf, err, sizeof(err)) == 0) {
        CHECK_LONG("O_APPEND fd refused", queue_file_mark(fd, &qf.rcpts[0], QF_RCPT_PENDING), -1);
        queue_file_free(&qf);
    }
    close(fd);
}

static void test_delay(void)
{
    struct queue_file env, qf;
    char err[QF_ERR_MAX];
    char long_reason[QF_RECORD_MAX * 2];
    struct stat st;
    off_t full;
    int fd;

    sample_env(&env);
    write_sample(&env);
    fd = open(path, O_RDWR);
    CHECK_LONG("append 0", queue_file_append_delay(fd, 0, 1700000100, "4.4.1", "connect refused"), 0);
    CHECK_LONG("append 1", queue_file_append_delay(fd, 1, 1700000200, "4.7.0", "greylisted"), 0);
    CHECK_LONG("append 0 again", queue_file_append_delay(fd, 0, 1700000300, "4.2.2", "mailbox full"), 0);
    CHECK_LONG("reason with LF refused", queue_file_append_delay(fd, 0, 1, "4.4.1", "a\nD 1 0 4.4.1 b"), -1);
    CHECK_LONG("reason with CR refused", queue_file_append_delay(fd, 0, 1, "4.4.1", "a\rb"), -1);
    CHECK_LONG("bad dsn refused", queue_file_append_delay(fd, 0, 1, "4.4", "x"), -1);
    CHECK_LONG("dsn with space refused", queue_file_append_delay(fd, 0, 1, "4.4.1 x", "x"), -1);
    close(fd);

    fd = queue_file_open(path, 0, &qf, err, sizeof(err));
    CHECK_TRUE("reopen after appends", fd >= 0);
    if (fd < 0) {
        fprintf(stderr, "  error: %s\n", err);
        return;
    }
    CHECK_LONG("delay_records", qf.delay_records, 3);
    CHECK_STR("last wins dsn", qf.rcpts[0].delay_dsn, "4.2.2");
    CHECK_STR("last wins reason", qf.rcpts[0].delay_reason, "mailbox full");
    CHECK_LONG("last wins time", qf.rcpts[0].delay_time, 1700000300);
    CHECK_STR("rcpt 1 dsn", qf.rcpts[1].delay_dsn, "4.7.0");
    CHECK_STR("rcpt 1 reason", qf.rcpts[1].delay_reason, "greylisted");
    CHECK_STR("rcpt 2 no delay", qf.rcpts[2].delay_dsn, NULL);
    full = qf.file_size;
    queue_file_free(&qf);
    close(fd);

    /* A crash mid-append leaves a line without '\n': ignored. */
    fd = open(path, O_WRONLY | O_APPEND);
    CHECK_LONG("write partial", write(fd, "D 1700000400 0 5.1.1 half", 25), 25);
    close(fd);
    fd = queue_file_open(path, 0, &qf, err, sizeof(err));
    CHECK_TRUE("partial last line ignored", fd >= 0);
    if (fd >= 0) {
        CHECK_LONG("still 3 records", qf.delay_records, 3);
        CHECK_STR("still last complete", qf.rcpts[0].delay_dsn, "4.2.2");
        CHECK_LONG("file_size counts the fragment", qf.file_size, full + 25);
        queue_file_free(&qf);
        close(fd);
    }
    /* Every prefix inside the appended records reads (crash residue). */
    {
        unsigned char *data;
        size_t len = 0, refused = 0;
        fd = open(path, O_RDONLY);
        fstat(fd, &st);
        data = xmalloc((size_t)st.st_size);
        if (read(fd, data, (size_t)st.st_size) != st.st_size)
            CHECK_TRUE("read", 0);
        close(fd);
        len = (size_t)st.st_size;
        for (size_t n = len; n > 0 && memcmp(data + n - 2, "E\n", 2) != 0; n--) {
            if (queue_file_parse(data, n, &qf, err, sizeof(err)) < 0) {
                refused++;
                fprintf(stderr, "tail prefix %zu refused: %s\n", n, err);
            }
            queue_file_free(&qf);
        }
        CHECK_LONG("tail prefixes refused", refused, 0);
        xfree(data);
    }
    /* The next append cuts the fragment off instead of merging with it. */
    fd = open(path, O_RDWR);
    CHECK_LONG("append after crash", queue_file_append_delay(fd, 2, 1700000500, "4.4.2", ""), 0);
    memset(long_reason, 'r', sizeof(long_reason) - 1);
    long_reason[sizeof(long_reason) - 1] = '\0';
    CHECK_LONG("append long reason", queue_file_append_delay(fd, 1, 1700000600, "4.3.0", long_reason), 0);
    close(fd);
    fd = queue_file_open(path, 0, &qf, err, sizeof(err));
    CHECK_TRUE("reopen after repair", fd >= 0);
    if (fd < 0) {
        fprintf(stderr, "  error: %s\n", err);
        return;
    }
    CHECK_LONG("5 records", qf.delay_records, 5);
    CHECK_STR("rcpt 0 keeps 4.2.2", qf.rcpts[0].delay_dsn, "4.2.2");
    CHECK_STR("rcpt 2 dsn", qf.rcpts[2].delay_dsn, "4.4.2");
    CHECK_STR("empty reason", qf.rcpts[2].delay_reason, "");
    CHECK_LONG("long reason truncated to the record limit",
               strlen(qf.rcpts[1].delay_reason),
               QF_RECORD_MAX - strlen("D 1700000600 1 4.3.0 \n"));
    CHECK_LONG("file size: fragment gone", qf.file_size,
               full + (off_t)strlen("D 1700000500 2 4.4.2 \n") + QF_RECORD_MAX);
    queue_file_free(&qf);
    close(fd);
}

static void test_writer_refuses(void)
{
    struct qf_rcpt bad_rcpts[2] = {
        {.address = "ok@example.com", .state = QF_RCPT_PENDING},
        {.address = "x@example.com", .state = QF_RCPT_PENDING},
    };
    static char too_long[QF_VALUE_MAX + 2];
    struct queue_file env;
    char err[QF_ERR_MAX];
    struct stat st;
    int fd;

    memset(too_long, 'h', sizeof(too_long) - 1);
    for (int i = 0; i < 11; i++) {
        const char *name = "?";
        sample_env(&env);
        env.rcpts = bad_rcpts;
        env.rcpt_count = 2;
        bad_rcpts[1].address = "x@example.com";
        bad_rcpts[1].state = QF_RCPT_PENDING;
        switch (i) {
        case 0: name = "LF in sender"; env.sender = "a@b\nR P evil@example.com"; break;
        case 1: name = "CR in helo"; env.helo = "h\r"; break;
        case 2: name = "LF in recipient"; bad_rcpts[1].address = "x@y\nM"; break;
        case 3: name = "empty recipient"; bad_rcpts[1].address = ""; break;
        case 4: name = "no recipients"; env.rcpt_count = 0; break;
        case 5: name = "bad rcpt state"; bad_rcpts[1].state = 'Q'; break;
        case 6: name = "bad body type"; env.body_type = "BINARYMIME"; break;
        case 7: name = "bad protocol"; env.protocol = "E SMTP"; break;
        case 8: name = "too long"; env.helo = too_long; break;
        case 9: name = "bad usec"; env.arrival.tv_usec = 1000000; break;
        case 10: name = "LF in message-id"; env.message_id = "<a>\n"; break;
        }
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        CHECK_LONG(name, queue_file_write_envelope(fd, &env, err, sizeof(err)), -1);
        fstat(fd, &st);
        CHECK_LONG("nothing written", st.st_size, 0);
        close(fd);
    }
    CHECK_TRUE("value_ok plain", queue_file_value_ok("a b c"));
    CHECK_TRUE("value_ok 8-bit", queue_file_value_ok("caf\xc3\xa9"));
    CHECK_TRUE("value_ok LF", !queue_file_value_ok("a\n"));
    CHECK_TRUE("value_ok CR", !queue_file_value_ok("a\r"));
    CHECK_TRUE("value_ok NULL", !queue_file_value_ok(NULL));
    CHECK_TRUE("value_ok too long", !queue_file_value_ok(too_long));

    /* finish() checks the file offset follows the envelope and content. */
    sample_env(&env);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK_LONG("envelope", queue_file_write_envelope(fd, &env, err, sizeof(err)), 0);
    CHECK_LONG("content", write(fd, "abc", 3), 3);
    CHECK_LONG("finish with wrong size", queue_file_finish(fd, 5, 0, err, sizeof(err)), -1);
    CHECK_LONG("finish with added > content", queue_file_finish(fd, 3, 4, err, sizeof(err)), -1);
    CHECK_LONG("finish", queue_file_finish(fd, 3, 0, err, sizeof(err)), 0);
    close(fd);
}

/* A file larger than the reader's window: content and D records span it. */
static void test_large(void)
{
    enum { BIG = 300 * 1024, DELAYS = 3000 };
    struct queue_file env, qf;
    char err[QF_ERR_MAX] = "";
    unsigned char *big = xmalloc(BIG), check[64];
    int fd, ok = 1;

    for (size_t i = 0; i < BIG; i++)
        big[i] = (unsigned char)(i % 251 + 1);
    sample_env(&env);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK_LONG("envelope", queue_file_write_envelope(fd, &env, err, sizeof(err)), 0);
    CHECK_LONG("content", write(fd, big, BIG), BIG);
    CHECK_LONG("finish", queue_file_finish(fd, BIG, 0, err, sizeof(err)), 0);
    for (int i = 0; i < DELAYS && ok; i++) {
        char reason[40];
        snprintf(reason, sizeof(reason), "attempt %d", i);
        ok = queue_file_append_delay(fd, (size_t)(i % 3), 1700000000 + i, "4.4.1", reason) == 0;
    }
    CHECK_TRUE("appends", ok);
    close(fd);
    fd = queue_file_open(path, 0, &qf, err, sizeof(err));
    CHECK_TRUE("open large file", fd >= 0);
    if (fd < 0) {
        fprintf(stderr, "  error: %s\n", err);
        xfree(big);
        return;
    }
    CHECK_LONG("content size", qf.content_size, BIG);
    CHECK_LONG("delay records", qf.delay_records, DELAYS);
    CHECK_STR("last wins rcpt 0", qf.rcpts[0].delay_reason, "attempt 2997");
    CHECK_STR("last wins rcpt 2", qf.rcpts[2].delay_reason, "attempt 2999");
    CHECK_LONG("pread tail of content",
               pread(fd, check, sizeof(check), qf.content_offset + BIG - (off_t)sizeof(check)),
               sizeof(check));
    CHECK_TRUE("tail bytes", memcmp(check, big + BIG - sizeof(check), sizeof(check)) == 0);
    queue_file_free(&qf);
    close(fd);
    xfree(big);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/qf", tmpdir);
    make_content();
    test_round_trip();
    test_truncation();
    test_corruption();
    test_mark();
    test_delay();
    test_writer_refuses();
    test_large();
    unlink(path);
    rmdir(tmpdir);
    return check_finish("test_queue_file");
}
