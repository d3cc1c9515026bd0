/*
 * dns_msg.c - read a DNS response and interpret its answer (see dns_msg.h).
 *
 * Every byte comes from the network: each read is checked against the
 * message length before it happens, names are bounded by DNS_NAME_WIRE_MAX
 * and compression pointers must move strictly backwards, so no message
 * can make the reader loop or read outside the buffer.
 *
 * Memory: struct dns_msg owns its qname, its record array and every name
 * string in it (xmalloc/xstrdup); dns_msg_free() releases them.
 * struct dns_answer points into a dns_msg and owns only its records array.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "dns_msg.h"
#include "errtext.h"

#define RR_FIXED_SIZE 10            /* TYPE CLASS TTL RDLENGTH */
#define RR_MIN_SIZE 11              /* root owner + fixed part */

/* A cursor over the message being parsed. */
struct reader {
    const unsigned char *buf;
    size_t len;
    char *err;
    size_t errlen;
};

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Append one label byte in presentation form; -1 if out does not hold it. */
static int put_label_byte(char *out, size_t outlen, size_t *pos, unsigned char c)
{
    char tmp[5];
    size_t n;

    if (c >= 'A' && c <= 'Z')
        c = (unsigned char)(c - 'A' + 'a');
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '*') {
        tmp[0] = (char)c;
        n = 1;
    } else if (c == '.' || c == '\\') {
        tmp[0] = '\\';
        tmp[1] = (char)c;
        n = 2;
    } else {
        snprintf(tmp, sizeof(tmp), "\\%03u", c);
        n = 4;
    }
    if (*pos + n >= outlen)
        return -1;
    memcpy(out + *pos, tmp, n);
    *pos += n;
    out[*pos] = 0;
    return 0;
}

/*
 * Read the (possibly compressed) name at *off into out (DNS_NAME_TEXT_MAX
 * bytes). On success *off is just past the name as it appears at *off.
 */
static int read_name(const struct reader *r, size_t *off, char *out)
{
    size_t pos = *off;
    size_t end = 0;             /* where the name ends in the stream; 0 = not yet */
    size_t limit = *off;        /* a pointer must point before this */
    size_t wire = 0;
    size_t text = 0;
    unsigned hops = 0;

    out[0] = 0;
    for (;;) {
        unsigned char c;

        if (pos >= r->len) {
            errtext_set(r->err, r->errlen, "name at offset %zu runs past the end", *off);
            return -1;
        }
        c = r->buf[pos];
        if ((c & 0xC0) == 0xC0) {
            size_t target;

            if (pos + 1 >= r->len) {
                errtext_set(r->err, r->errlen, "truncated compression pointer at offset %zu", pos);
                return -1;
            }
            target = ((size_t)(c & 0x3F) << 8) | r->buf[pos + 1];
            if (end == 0)
                end = pos + 2;
            if (target < DNS_HEADER_SIZE || target >= limit || target >= pos) {
                errtext_set(r->err, r->errlen, "bad compression pointer at offset %zu (to %zu)",
                            pos, target);
                return -1;
            }
            if (++hops > DNS_PTR_HOPS_MAX) {
                errtext_set(r->err, r->errlen, "too many compression pointers in name at %zu", *off);
                return -1;
            }
            limit = target;
            pos = target;
            continue;
        }
        if ((c & 0xC0) != 0) {
            errtext_set(r->err, r->errlen, "unsupported label type 0x%02x at offset %zu", c, pos);
            return -1;
        }
        if (c == 0) {
            pos++;
            if (end == 0)
                end = pos;
            break;
        }
        if (pos + 1 + c > r->len) {
            errtext_set(r->err, r->errlen, "label at offset %zu runs past the end", pos);
            return -1;
        }
        wire += 1 + (size_t)c;
        if (wire + 1 > DNS_NAME_WIRE_MAX) {
            errtext_set(r->err, r->errlen, "name at offset %zu longer than %d bytes",
                        *off, DNS_NAME_WIRE_MAX);
            return -1;
        }
        if (text > 0) {
            out[text++] = '.';
            out[text] = 0;
        }
        for (size_t i = 0; i < c; i++) {
            if (put_label_byte(out, DNS_NAME_TEXT_MAX, &text, r->buf[pos + 1 + i]) < 0) {
                errtext_set(r->err, r->errlen, "name at offset %zu too long", *off);
                return -1;
            }
        }
        pos += 1 + (size_t)c;
    }
    if (text == 0)
        snprintf(out, DNS_NAME_TEXT_MAX, ".");
    *off = end;
    return 0;
}

/* Read a name that must end exactly at rdata_end. */
static int read_rdata_name(const struct reader *r, size_t *off, size_t rdata_end,
                           char **result, const char *what)
{
    char name[DNS_NAME_TEXT_MAX];

    if (read_name(r, off, name) < 0)
        return -1;
    if (*off > rdata_end) {
        errtext_set(r->err, r->errlen, "%s name runs past RDATA at offset %zu", what, *off);
        return -1;
    }
    *result = xstrdup(name);
    return 0;
}

static int parse_soa(const struct reader *r, size_t off, size_t rdata_end, struct dns_rr *rr)
{
    struct dns_soa *soa = &rr->u.soa;

    if (read_rdata_name(r, &off, rdata_end, &soa->mname, "SOA MNAME") < 0)
        return -1;
    if (read_rdata_name(r, &off, rdata_end, &soa->rname, "SOA RNAME") < 0)
        return -1;
    if (rdata_end - off != 20) {
        errtext_set(r->err, r->errlen, "SOA RDATA at offset %zu has the wrong length", off);
        return -1;
    }
    soa->serial = get32(r->buf + off);
    soa->refresh = get32(r->buf + off + 4);
    soa->retry = get32(r->buf + off + 8);
    soa->expire = get32(r->buf + off + 12);
    soa->minimum = get32(r->buf + off + 16);
    return 0;
}

/* Interpret the RDATA at [off, off + rr->rdlength) for the types we read. */
static int parse_rdata(const struct reader *r, size_t off, struct dns_rr *rr)
{
    size_t rdata_end = off + rr->rdlength;
    size_t start = off;

    switch (rr->type) {
    case DNS_TYPE_A:
    case DNS_TYPE_AAAA:
        if (rr->rclass != DNS_CLASS_IN)
            return 0;
        if (rr->rdlength != (rr->type == DNS_TYPE_A ? 4 : 16)) {
            errtext_set(r->err, r->errlen, "%s record with RDLENGTH %u",
                        rr->type == DNS_TYPE_A ? "A" : "AAAA", rr->rdlength);
            return -1;
        }
        memcpy(rr->u.addr, r->buf + off, rr->rdlength);
        return 0;
    case DNS_TYPE_CNAME:
        if (read_rdata_name(r, &off, rdata_end, &rr->u.target, "CNAME") < 0)
            return -1;
        break;
    case DNS_TYPE_MX:
        if (rr->rdlength < 3) {
            errtext_set(r->err, r->errlen, "MX record with RDLENGTH %u", rr->rdlength);
            return -1;
        }
        rr->u.mx.pref = get16(r->buf + off);
        off += 2;
        if (read_rdata_name(r, &off, rdata_end, &rr->u.mx.exchange, "MX exchange") < 0)
            return -1;
        break;
    case DNS_TYPE_SOA:
        return parse_soa(r, off, rdata_end, rr);
    default:
        return 0;
    }
    if (off != rdata_end) {
        errtext_set(r->err, r->errlen, "RDATA at offset %zu has %zu unused bytes",
                    start, rdata_end - off);
        return -1;
    }
    return 0;
}

static int parse_rr(const struct reader *r, size_t *off, struct dns_rr *rr)
{
    char name[DNS_NAME_TEXT_MAX];
    const unsigned char *p;
    uint32_t ttl;

    if (read_name(r, off, name) < 0)
        return -1;
    if (r->len - *off < RR_FIXED_SIZE) {
        errtext_set(r->err, r->errlen, "record at offset %zu is truncated", *off);
        return -1;
    }
    p = r->buf + *off;
    rr->name = xstrdup(name);
    rr->type = get16(p);
    rr->rclass = get16(p + 2);
    ttl = get32(p + 4);
    rr->ttl = (ttl & 0x80000000U) ? 0 : ttl;
    rr->rdlength = get16(p + 8);
    *off += RR_FIXED_SIZE;
    if (r->len - *off < rr->rdlength) {
        errtext_set(r->err, r->errlen, "RDATA at offset %zu runs past the end", *off);
        return -1;
    }
    if (parse_rdata(r, *off, rr) < 0)
        return -1;
    *off += rr->rdlength;
    return 0;
}

static void rr_free(struct dns_rr *rr)
{
    rr->name = xfree(rr->name);
    switch (rr->type) {
    case DNS_TYPE_CNAME:
        rr->u.target = xfree(rr->u.target);
        break;
    case DNS_TYPE_MX:
        rr->u.mx.exchange = xfree(rr->u.mx.exchange);
        break;
    case DNS_TYPE_SOA:
        rr->u.soa.mname = xfree(rr->u.soa.mname);
        rr->u.soa.rname = xfree(rr->u.soa.rname);
        break;
    default:
        break;
    }
}

void dns_msg_free(struct dns_msg *msg)
{
    size_t total = msg->an_count + msg->ns_count + msg->ar_count;

    if (msg->rrs != NULL) {
        for (size_t i = 0; i < total; i++)
            rr_free(&msg->rrs[i]);
    }
    xfree(msg->rrs);
    xfree(msg->qname);
    memset(msg, 0, sizeof(*msg));
}

static void parse_header(const unsigned char *buf, struct dns_msg *msg)
{
    unsigned flags = get16(buf + 2);

    msg->id = get16(buf);
    msg->qr = (flags >> 15) & 1;
    msg->opcode = (flags >> 11) & 0xF;
    msg->aa = (flags >> 10) & 1;
    msg->tc = (flags >> 9) & 1;
    msg->rd = (flags >> 8) & 1;
    msg->ra = (flags >> 7) & 1;
    msg->rcode = flags & 0xF;
}

static int parse_question(const struct reader *r, size_t *off, struct dns_msg *msg)
{
    char name[DNS_NAME_TEXT_MAX];

    if (read_name(r, off, name) < 0)
        return -1;
    if (r->len - *off < 4) {
        errtext_set(r->err, r->errlen, "question is truncated");
        return -1;
    }
    msg->has_question = 1;
    msg->qname = xstrdup(name);
    msg->qtype = get16(r->buf + *off);
    msg->qclass = get16(r->buf + *off + 2);
    *off += 4;
    return 0;
}

static int parse_records(const struct reader *r, size_t off, struct dns_msg *msg,
                         size_t total)
{
    if (total > (r->len - off) / RR_MIN_SIZE) {
        errtext_set(r->err, r->errlen, "header announces %zu records, the message cannot hold them",
                    total);
        return -1;
    }
    if (total > 0)
        msg->rrs = xcalloc(total, sizeof(*msg->rrs));
    for (size_t i = 0; i < total; i++) {
        if (parse_rr(r, &off, &msg->rrs[i]) < 0) {
            char where[DNS_ERR_MAX];

            snprintf(where, sizeof(where), "%s", r->err ? r->err : "");
            errtext_set(r->err, r->errlen, "record %zu: %s", i + 1, where);
            return -1;
        }
    }
    if (off != r->len) {
        errtext_set(r->err, r->errlen, "%zu bytes after the last record", r->len - off);
        return -1;
    }
    msg->answer = msg->rrs;
    msg->authority = msg->rrs ? msg->rrs + msg->an_count : NULL;
    msg->additional = msg->rrs ? msg->rrs + msg->an_count + msg->ns_count : NULL;
    return 0;
}

int dns_msg_parse(const unsigned char *buf, size_t len, struct dns_msg *msg,
                  char *err, size_t errlen)
{
    struct reader r = {.buf = buf, .len = len, .err = err, .errlen = errlen};
    size_t off = DNS_HEADER_SIZE;
    unsigned qdcount;

    memset(msg, 0, sizeof(*msg));
    errtext_set(err, errlen, "%s", "");
    if (buf == NULL || len < DNS_HEADER_SIZE) {
        errtext_set(err, errlen, "message shorter than the %d-byte header", DNS_HEADER_SIZE);
        return -1;
    }
    parse_header(buf, msg);
    qdcount = get16(buf + 4);
    msg->an_count = get16(buf + 6);
    msg->ns_count = get16(buf + 8);
    msg->ar_count = get16(buf + 10);
    if (qdcount > 1) {
        errtext_set(err, errlen, "%u questions (at most 1 allowed)", qdcount);
        dns_msg_free(msg);
        return -1;
    }
    if ((qdcount == 1 && parse_question(&r, &off, msg) < 0)
        || parse_records(&r, off, msg, msg->an_count + msg->ns_count + msg->ar_count) < 0) {
        dns_msg_free(msg);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Answer interpretation */

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

static void answer_bad(struct dns_answer *ans, enum dns_answer_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void answer_bad(struct dns_answer *ans, enum dns_answer_kind kind, const char *fmt, ...)
{
    va_list ap;

    ans->kind = kind;
    ans->ttl = 0;
    ans->record_count = 0;
    ans->records = xfree(ans->records);
    va_start(ap, fmt);
    vsnprintf(ans->reason, sizeof(ans->reason), fmt, ap);
    va_end(ap);
}

/* The class IN CNAME owned by `name`; NULL if none; *dup set if two. */
static const struct dns_rr *find_cname(const struct dns_msg *msg, const char *name, int *dup)
{
    const struct dns_rr *found = NULL;

    *dup = 0;
    for (size_t i = 0; i < msg->an_count; i++) {
        const struct dns_rr *rr = &msg->answer[i];

        if (rr->type != DNS_TYPE_CNAME || rr->rclass != DNS_CLASS_IN || strcmp(rr->name, name) != 0)
            continue;
        if (found != NULL && strcmp(found->u.target, rr->u.target) != 0) {
            *dup = 1;
            return found;
        }
        found = rr;
    }
    return found;
}

static int is_data(const struct dns_rr *rr, const char *name, uint16_t qtype)
{
    return rr->type == qtype && rr->rclass == DNS_CLASS_IN && strcmp(rr->name, name) == 0;
}

static void collect_records(const struct dns_msg *msg, uint16_t qtype, struct dns_answer *ans)
{
    size_t n = 0;

    for (size_t i = 0; i < msg->an_count; i++)
        if (is_data(&msg->answer[i], ans->final_name, qtype))
            n++;
    if (n == 0)
        return;
    ans->records = xcalloc(n, sizeof(*ans->records));
    for (size_t i = 0; i < msg->an_count; i++)
        if (is_data(&msg->answer[i], ans->final_name, qtype))
            ans->records[ans->record_count++] = &msg->answer[i];
}

/* Follow CNAMEs from qname; 0 ok, -1 with ans marked BAD. */
static int follow_chain(const struct dns_msg *msg, uint16_t qtype, size_t max_chain,
                        struct dns_answer *ans)
{
    for (;;) {
        const struct dns_rr *cname;
        int dup;

        for (size_t i = 0; i < msg->an_count; i++)
            if (is_data(&msg->answer[i], ans->final_name, qtype))
                return 0;
        cname = find_cname(msg, ans->final_name, &dup);
        if (cname == NULL || qtype == DNS_TYPE_CNAME)
            return 0;
        if (dup) {
            answer_bad(ans, DNS_ANSWER_BAD, "two CNAME records for %s", ans->final_name);
            return -1;
        }
        for (size_t i = 0; i < ans->chain_len; i++) {
            if (strcmp(ans->chain[i]->name, cname->u.target) == 0) {
                answer_bad(ans, DNS_ANSWER_BAD, "CNAME loop at %s", cname->u.target);
                return -1;
            }
        }
        if (ans->chain_len >= max_chain) {
            answer_bad(ans, DNS_ANSWER_BAD, "CNAME chain from %s is too long", msg->qname);
            return -1;
        }
        ans->chain[ans->chain_len++] = cname;
        ans->final_name = cname->u.target;
    }
}

static void find_soa(const struct dns_msg *msg, struct dns_answer *ans)
{
    for (size_t i = 0; i < msg->ns_count; i++) {
        const struct dns_rr *rr = &msg->authority[i];

        if (rr->type != DNS_TYPE_SOA || rr->rclass != DNS_CLASS_IN)
            continue;
        if (!dns_name_in_zone(ans->final_name, rr->name))
            continue;
        ans->has_soa = 1;
        ans->ttl = min_u32(rr->ttl, rr->u.soa.minimum);
        return;
    }
}

static int check_question(const struct dns_msg *msg, const char *qname, uint16_t qtype,
                          struct dns_answer *ans)
{
    if (!msg->qr) {
        answer_bad(ans, DNS_ANSWER_BAD, "%s", "not a response");
        return -1;
    }
    if (msg->opcode != 0) {
        answer_bad(ans, DNS_ANSWER_BAD, "%s", "opcode is not QUERY");
        return -1;
    }
    if (msg->tc) {
        answer_bad(ans, DNS_ANSWER_BAD, "%s", "truncated response");
        return -1;
    }
    if (!msg->has_question || msg->qtype != qtype || msg->qclass != DNS_CLASS_IN
        || strcmp(msg->qname, qname) != 0) {
        answer_bad(ans, DNS_ANSWER_BAD, "%s", "response is for another question");
        return -1;
    }
    return 0;
}

void dns_msg_answer(const struct dns_msg *msg, const char *qname, uint16_t qtype,
                    size_t max_chain, struct dns_answer *ans)
{
    char rbuf[32];

    memset(ans, 0, sizeof(*ans));
    ans->rcode = msg->rcode;
    ans->final_name = qname;
    if (max_chain > DNS_CNAME_MAX)
        max_chain = DNS_CNAME_MAX;
    if (check_question(msg, qname, qtype, ans) < 0)
        return;
    if (msg->rcode != DNS_RCODE_NOERROR && msg->rcode != DNS_RCODE_NXDOMAIN) {
        answer_bad(ans, DNS_ANSWER_SERVER_ERROR, "%s", dns_rcode_name(msg->rcode, rbuf, sizeof(rbuf)));
        return;
    }
    if (follow_chain(msg, qtype, max_chain, ans) < 0)
        return;
    collect_records(msg, qtype, ans);
    if (ans->record_count > 0) {
        if (msg->rcode == DNS_RCODE_NXDOMAIN) {
            answer_bad(ans, DNS_ANSWER_BAD, "%s", "NXDOMAIN with answer records");
            return;
        }
        ans->kind = DNS_ANSWER_DATA;
        ans->ttl = ans->records[0]->ttl;
        for (size_t i = 1; i < ans->record_count; i++)
            ans->ttl = min_u32(ans->ttl, ans->records[i]->ttl);
    } else {
        find_soa(msg, ans);
        if (msg->rcode == DNS_RCODE_NXDOMAIN)
            ans->kind = DNS_ANSWER_NXDOMAIN;
        else if (ans->chain_len > 0 && !ans->has_soa)
            ans->kind = DNS_ANSWER_CNAME;
        else
            ans->kind = DNS_ANSWER_NODATA;
        if (!ans->has_soa)
            return;
    }
    for (size_t i = 0; i < ans->chain_len; i++)
        ans->ttl = min_u32(ans->ttl, ans->chain[i]->ttl);
}

void dns_answer_free(struct dns_answer *ans)
{
    ans->records = xfree(ans->records);
    ans->record_count = 0;
}

/* ------------------------------------------------------------------------ */
/* Names */

static int is_label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int dns_name_is_hostname(const char *name)
{
    size_t total = strlen(name);
    const char *label = name;
    int all_digits = 1;

    if (total == 0 || total > 253)
        return 0;
    for (const char *p = name;; p++) {
        if (*p == '.' || *p == 0) {
            size_t n = (size_t)(p - label);

            if (n == 0 || n > DNS_LABEL_MAX || label[0] == '-' || p[-1] == '-')
                return 0;
            if (*p == 0)
                return !all_digits;
            label = p + 1;
            all_digits = 1;
            continue;
        }
        if (!is_label_char(*p))
            return 0;
        if (*p < '0' || *p > '9')
            all_digits = 0;
    }
}

int dns_name_normalise(const char *text, char *out, size_t outlen, char *err, size_t errlen)
{
    size_t len = text ? strlen(text) : 0;

    if (len > 0 && text[len - 1] == '.')
        len--;
    if (len == 0 || len >= outlen) {
        errtext_set(err, errlen, "%s", len == 0 ? "empty domain name" : "domain name too long");
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = text[i];

        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[len] = 0;
    if (!dns_name_is_hostname(out)) {
        errtext_set(err, errlen, "invalid domain name");
        out[0] = 0;
        return -1;
    }
    return 0;
}

int dns_name_in_zone(const char *name, const char *zone)
{
    size_t nlen = strlen(name);
    size_t zlen = strlen(zone);

    if (strcmp(zone, ".") == 0 || strcmp(name, zone) == 0)
        return 1;
    if (nlen <= zlen + 1)
        return 0;
    if (strcmp(name + nlen - zlen, zone) != 0 || name[nlen - zlen - 1] != '.')
        return 0;
    /* "a\.example.com" is not below "example.com": the dot must not be escaped. */
    size_t backslashes = 0;
    for (size_t i = nlen - zlen - 1; i > 0 && name[i - 1] == '\\'; i--)
        backslashes++;
    return backslashes % 2 == 0;
}

const char *dns_type_name(unsigned type, char *buf, size_t buflen)
{
    switch (type) {
    case DNS_TYPE_A: return "A";
    case DNS_TYPE_NS: return "NS";
    case DNS_TYPE_CNAME: return "CNAME";
    case DNS_TYPE_SOA: return "SOA";
    case DNS_TYPE_PTR: return "PTR";
    case DNS_TYPE_MX: return "MX";
    case DNS_TYPE_TXT: return "TXT";
    case DNS_TYPE_AAAA: return "AAAA";
    case DNS_TYPE_OPT: return "OPT";
    default:
        snprintf(buf, buflen, "TYPE%u", type);
        return buf;
    }
}

const char *dns_rcode_name(unsigned rcode, char *buf, size_t buflen)
{
    switch (rcode) {
    case DNS_RCODE_NOERROR: return "NOERROR";
    case DNS_RCODE_FORMERR: return "FORMERR";
    case DNS_RCODE_SERVFAIL: return "SERVFAIL";
    case DNS_RCODE_NXDOMAIN: return "NXDOMAIN";
    case DNS_RCODE_NOTIMP: return "NOTIMP";
    case DNS_RCODE_REFUSED: return "REFUSED";
    default:
        snprintf(buf, buflen, "RCODE%u", rcode);
        return buf;
    }
}
