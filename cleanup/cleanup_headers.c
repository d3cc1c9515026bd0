/*
 * cleanup_headers.c - the header block: where it ends, what it holds, and
 * the headers cleanup adds in front of it.
 *
 * Design rule: the content is stored byte for byte as received; cleanup only
 * prepends. So this module only reads the client's bytes: it finds the end
 * of the header block (the first empty line), notes whether Message-ID:,
 * Date: and From: are present and captures the Message-ID value for the
 * queue file's I record. A header line is a line that does not start with
 * a space or tab; its name is what precedes the first ':' (blanks before
 * the colon allowed, as in RFC 5322's obsolete syntax). Lines end in CRLF;
 * a bare LF or CR is just a byte in a line.
 *
 * Memory: nothing is allocated here; results go into caller-owned structs.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cleanup.h"
#include "params.h"

/* --- finding the end of the header block --- */

int cleanup_header_end(const char *buf, size_t len, size_t *line_start,
                       size_t *search_from, size_t *end)
{
    size_t pos = *line_start;
    size_t from = *search_from;

    for (;;) {
        const char *cr;

        if (from < pos)
            from = pos;
        /* An empty line: CRLF right at the start of a line. */
        if (len - pos >= 2 && buf[pos] == '\r' && buf[pos + 1] == '\n') {
            *line_start = pos;
            *search_from = pos;
            *end = pos;
            return 1;
        }
        /* Find the CRLF that ends this line. */
        cr = NULL;
        while (from + 1 < len) {
            cr = memchr(buf + from, '\r', len - from - 1);
            if (cr == NULL) {
                from = len - 1;
                break;
            }
            if (cr[1] == '\n')
                break;
            from = (size_t)(cr - buf) + 1;
            cr = NULL;
        }
        if (cr == NULL || cr[1] != '\n') {
            *line_start = pos;
            *search_from = from;
            return 0;
        }
        pos = (size_t)(cr - buf) + 2;
        from = pos;
    }
}

/* --- scanning the header block --- */

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Does the header line line[0..len) carry the field `name`? */
static int header_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    size_t i;

    if (len <= n || strncasecmp(line, name, n) != 0)
        return 0;
    for (i = n; i < len && is_blank(line[i]); i++)
        ;
    return i < len && line[i] == ':';
}

/* Append text to the captured Message-ID value, bounded, without CR/LF/NUL. */
static void msgid_append(struct cleanup_hdr_info *info, const char *text, size_t len)
{
    for (size_t i = 0; i < len && info->msgid_len < CLEANUP_MSGID_MAX; i++) {
        char c = text[i];
        if (c == '\r' || c == '\n' || c == '\0')
            c = '?';
        info->msgid[info->msgid_len++] = c;
    }
    info->msgid[info->msgid_len] = '\0';
}

static void msgid_trim(struct cleanup_hdr_info *info)
{
    size_t start = 0;

    while (info->msgid_len > 0 && is_blank(info->msgid[info->msgid_len - 1]))
        info->msgid_len--;
    while (start < info->msgid_len && is_blank(info->msgid[start]))
        start++;
    memmove(info->msgid, info->msgid + start, info->msgid_len - start);
    info->msgid_len -= start;
    info->msgid[info->msgid_len] = '\0';
}

void cleanup_header_scan(const char *buf, size_t len, struct cleanup_hdr_info *info)
{
    size_t pos = 0;
    int in_msgid = 0;

    memset(info, 0, offsetof(struct cleanup_hdr_info, msgid));
    info->msgid[0] = '\0';
    while (pos < len) {
        const char *line = buf + pos;
        const char *crlf = memmem(line, len - pos, "\r\n", 2);
        size_t line_len = crlf ? (size_t)(crlf - line) : len - pos;

        pos += line_len + (crlf ? 2 : 0);
        if (line_len > 0 && is_blank(line[0])) {
            /* Continuation: unfolding removes only the CRLF. */
            if (in_msgid)
                msgid_append(info, line, line_len);
            continue;
        }
        if (in_msgid) {
            msgid_trim(info);
            in_msgid = 0;
        }
        if (header_is(line, line_len, "Message-ID")) {
            if (!info->has_message_id) {
                const char *colon = memchr(line, ':', line_len);
                info->has_message_id = 1;
                in_msgid = 1;
                msgid_append(info, colon + 1, line_len - (size_t)(colon + 1 - line));
            }
        } else if (header_is(line, line_len, "Date")) {
            info->has_date = 1;
        } else if (header_is(line, line_len, "From")) {
            info->has_from = 1;
        }
    }
    if (in_msgid)
        msgid_trim(info);
}

/* --- the headers cleanup adds --- */

/* RFC 5322 date of `when` in local time; cached per second. */
static const char *rfc5322_date(time_t when)
{
    static time_t cached_when = (time_t)-1;
    static char cached[64];
    struct tm tm;

    if (when == cached_when)
        return cached;
    if (localtime_r(&when, &tm) == NULL
        || strftime(cached, sizeof(cached), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0) {
        snprintf(cached, sizeof(cached), "Thu, 01 Jan 1970 00:00:00 +0000");
        return cached;
    }
    cached_when = when;
    return cached;
}

static void put(struct cleanup_txn *txn, const char *text)
{
    cleanup_file_write(txn, text, strlen(text));
}

static void add_received(struct cleanup_txn *txn, const char *date)
{
    const char *rcpt = attr_count(&txn->env, MAIL_ATTR_RCPT) == 1 ? attr_get(&txn->env, MAIL_ATTR_RCPT) : NULL;

    put(txn, "Received: from ");
    put(txn, attr_get(&txn->env, MAIL_ATTR_HELO));
    put(txn, " (");
    put(txn, attr_get(&txn->env, MAIL_ATTR_CLIENT_NAME));
    put(txn, " [");
    put(txn, attr_get(&txn->env, MAIL_ATTR_CLIENT_ADDR));
    put(txn, "])\r\n\tby ");
    put(txn, var_myhostname);
    put(txn, " (");
    put(txn, var_mail_name);
    put(txn, ") with ");
    put(txn, attr_get(&txn->env, MAIL_ATTR_PROTOCOL));
    put(txn, " id ");
    put(txn, txn->queue_id);
    if (rcpt != NULL) {
        put(txn, "\r\n\tfor <");
        put(txn, rcpt);
        put(txn, ">");
    }
    put(txn, "; ");
    put(txn, date);
    put(txn, "\r\n");
}

void cleanup_header_make_msgid(const struct cleanup_txn *txn, struct cleanup_hdr_info *info)
{
    time_t when = txn->arrival.tv_sec;
    struct tm tm;
    char stamp[32];
    int n;

    if (info->has_message_id)
        return;
    if (gmtime_r(&when, &tm) == NULL || strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm) == 0)
        snprintf(stamp, sizeof(stamp), "19700101000000");
    n = snprintf(info->msgid, sizeof(info->msgid), "<%s.%s@%s>", stamp, txn->queue_id,
                 var_myorigin);
    /* An absurdly long myorigin gives a truncated ID rather than an overflow. */
    if (n < 0)
        n = 0;
    info->msgid_len = (size_t)n < sizeof(info->msgid) ? (size_t)n : sizeof(info->msgid) - 1;
    info->msgid[info->msgid_len] = '\0';
}

void cleanup_header_add(struct cleanup_txn *txn, const struct cleanup_hdr_info *info)
{
    const char *date = rfc5322_date(txn->arrival.tv_sec);
    /* An added From: shows the sender as rewritten (sender_canonical_maps). */
    const char *sender = txn->rw_sender ? txn->rw_sender : attr_get(&txn->env, MAIL_ATTR_SENDER);

    add_received(txn, date);
    if (!info->has_message_id) {
        put(txn, "Message-ID: ");
        put(txn, info->msgid);
        put(txn, "\r\n");
    }
    if (!info->has_date) {
        put(txn, "Date: ");
        put(txn, date);
        put(txn, "\r\n");
    }
    if (!info->has_from) {
        if (sender[0] == '\0') {
            put(txn, "From: MAILER-DAEMON\r\n");
        } else {
            put(txn, "From: <");
            put(txn, sender);
            put(txn, ">\r\n");
        }
    }
}
