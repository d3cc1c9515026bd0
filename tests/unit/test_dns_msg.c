/*
 * test_dns_msg.c - the DNS message reader and answer interpretation
 * (lib/dns/dns_msg.c), table-driven:
 *   parse_cases   hand-built packets -> the parsed message dumped as text,
 *                 or the error: compression pointers (good, looping,
 *                 forward, into the header, into a label, too many hops),
 *                 name length limits, label types, RDATA checks, counts;
 *   answer_cases  messages described by a small spec (or hand-built) ->
 *                 how they answer a question, as one line: CNAME chains,
 *                 negative answers with SOA (RFC 2308), server errors,
 *                 flags that make an answer unusable;
 *   truncations   every strict prefix of every good packet above fails;
 *   names         the longest names, host names, normalising, zones, the
 *                 type and rcode names.
 * Each failure prints got/want. No memory outlives a case.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "dns_msg.h"

#define RESPONSE 0x8180             /* QR RD RA, opcode QUERY, NOERROR */
#define DUMP_MAX 4096

/* ------------------------------------------------------------------------ */
/* A tiny packet builder */

struct pkt {
    unsigned char b[2048];
    size_t len;
};

typedef void (*builder)(struct pkt *p);

static void put8(struct pkt *p, unsigned v)
{
    if (p->len < sizeof(p->b))
        p->b[p->len++] = (unsigned char)v;
}

static void put16(struct pkt *p, unsigned v)
{
    put8(p, (v >> 8) & 0xff);
    put8(p, v & 0xff);
}

static void put32(struct pkt *p, unsigned long v)
{
    put16(p, (unsigned)((v >> 16) & 0xffff));
    put16(p, (unsigned)(v & 0xffff));
}

/* Labels of a dotted name ("." is the root); with `end` the terminating zero byte too. */
static void put_labels(struct pkt *p, const char *dotted, int end)
{
    const char *s = strcmp(dotted, ".") == 0 ? "" : dotted;

    while (*s) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);

        put8(p, (unsigned)n);
        for (size_t i = 0; i < n; i++)
            put8(p, (unsigned char)s[i]);
        s += n + (dot != NULL);
    }
    if (end)
        put8(p, 0);
}

static void put_name(struct pkt *p, const char *dotted)
{
    put_labels(p, dotted, 1);
}

static void put_ptr(struct pkt *p, size_t off)
{
    put16(p, 0xC000 | (unsigned)off);
}

static void header(struct pkt *p, unsigned flags, unsigned qd, unsigned an, unsigned ns,
                   unsigned ar)
{
    p->len = 0;
    put16(p, 0x1234);
    put16(p, flags);
    put16(p, qd);
    put16(p, an);
    put16(p, ns);
    put16(p, ar);
}

static void question(struct pkt *p, const char *name, unsigned type)
{
    put_name(p, name);
    put16(p, type);
    put16(p, DNS_CLASS_IN);
}

/* The fixed part of a record after its owner; returns where RDLENGTH is. */
static size_t rr_fixed(struct pkt *p, unsigned type, unsigned long ttl)
{
    size_t at;

    put16(p, type);
    put16(p, DNS_CLASS_IN);
    put32(p, ttl);
    at = p->len;
    put16(p, 0);
    return at;
}

/* Patch RDLENGTH at `at` to cover everything written since. */
static void rr_done(struct pkt *p, size_t at)
{
    size_t n = p->len - at - 2;

    p->b[at] = (unsigned char)(n >> 8);
    p->b[at + 1] = (unsigned char)(n & 0xff);
}

/* ------------------------------------------------------------------------ */
/* Messages from a spec: a question and records, no compression */

struct rr_spec {
    const char *owner;              /* NULL ends the list; "." is the root */
    unsigned type;                  /* DNS_TYPE_A, _CNAME, _MX or _SOA */
    unsigned long ttl;
    unsigned num;                   /* A: x of 192.0.2.x; MX: preference; SOA: MINIMUM */
    const char *name;               /* CNAME: target; MX: exchange */
};

struct msg_spec {
    unsigned flags;                 /* RESPONSE | rcode, or other header flags */
    const char *qname;              /* NULL: no question */
    unsigned qtype;
    struct rr_spec an[4];           /* answers, after the chain */
    struct rr_spec ns[2];           /* authority */
    /* Answers first: a chain of `chain` CNAMEs c0 -> c1 -> ... (.example.com), TTL 100 + i. */
    unsigned chain;
};

static void put_rdata(struct pkt *p, const struct rr_spec *rr)
{
    switch (rr->type) {
    case DNS_TYPE_A:
        put32(p, 0xC0000200UL | rr->num);
        break;
    case DNS_TYPE_CNAME:
        put_name(p, rr->name);
        break;
    case DNS_TYPE_MX:
        put16(p, rr->num);
        put_name(p, rr->name);
        break;
    case DNS_TYPE_SOA:
        put_name(p, "ns.example.com");
        put_name(p, "hostmaster.example.com");
        put32(p, 2024010101);
        put32(p, 7200);
        put32(p, 900);
        put32(p, 1209600);
        put32(p, rr->num);
        break;
    }
}

static unsigned spec_count(const struct rr_spec *list, size_t max)
{
    unsigned n = 0;

    while (n < max && list[n].owner != NULL)
        n++;
    return n;
}

static void put_spec_records(struct pkt *p, const struct rr_spec *list, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        size_t at;

        put_name(p, list[i].owner);
        at = rr_fixed(p, list[i].type, list[i].ttl);
        put_rdata(p, &list[i]);
        rr_done(p, at);
    }
}

static void put_chain(struct pkt *p, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        char owner[32], target[32];
        struct rr_spec rr = {owner, DNS_TYPE_CNAME, 100 + i, 0, target};

        snprintf(owner, sizeof(owner), "c%u.example.com", i);
        snprintf(target, sizeof(target), "c%u.example.com", i + 1);
        put_spec_records(p, &rr, 1);
    }
}

static void build_spec(struct pkt *p, const struct msg_spec *s)
{
    unsigned an = spec_count(s->an, sizeof(s->an) / sizeof(s->an[0]));
    unsigned ns = spec_count(s->ns, sizeof(s->ns) / sizeof(s->ns[0]));

    header(p, s->flags, s->qname ? 1 : 0, s->chain + an, ns, 0);
    if (s->qname)
        question(p, s->qname, s->qtype);
    put_chain(p, s->chain);
    put_spec_records(p, s->an, an);
    put_spec_records(p, s->ns, ns);
}

/* ------------------------------------------------------------------------ */
/* Hand-built packets: good ones */

/* example.com MX: owners and exchanges compressed against the question name at 12. */
static void b_mx(struct pkt *p)
{
    size_t at;

    header(p, RESPONSE, 1, 2, 0, 0);
    question(p, "example.com", DNS_TYPE_MX);
    put_ptr(p, 12);
    at = rr_fixed(p, DNS_TYPE_MX, 300);
    put16(p, 10);
    put_labels(p, "mx1", 0);
    put_ptr(p, 12);
    rr_done(p, at);
    put_ptr(p, 12);
    at = rr_fixed(p, DNS_TYPE_MX, 200);
    put16(p, 20);
    put_labels(p, "mx2", 0);
    put_ptr(p, 12);
    rr_done(p, at);
}

/* www.example.com A: CNAME to web.example.com, then two A, plus an SOA. */
static const struct msg_spec cname_a = {
    RESPONSE, "www.example.com", DNS_TYPE_A,
    .an = {{"www.example.com", DNS_TYPE_CNAME, 60, 0, "web.example.com"},
           {"web.example.com", DNS_TYPE_A, 300, 1, NULL},
           {"web.example.com", DNS_TYPE_A, 120, 2, NULL}},
    .ns = {{"example.com", DNS_TYPE_SOA, 3600, 300, NULL}},
};

static void b_cname_a(struct pkt *p)
{
    build_spec(p, &cname_a);
}

/* Escapes in names, case, a TTL with the top bit, an opaque TXT, an OPT. */
static void b_escapes(struct pkt *p)
{
    size_t at;

    header(p, RESPONSE, 1, 2, 0, 1);
    put8(p, 3);                     /* "A.b" as one label */
    put8(p, 'A');
    put8(p, '.');
    put8(p, 'b');
    put8(p, 4);                     /* NUL, space, backslash, 0xff */
    put8(p, 0);
    put8(p, ' ');
    put8(p, '\\');
    put8(p, 0xff);
    put_name(p, "COM");
    put16(p, DNS_TYPE_TXT);
    put16(p, DNS_CLASS_IN);
    put_name(p, "Host.Example");
    at = rr_fixed(p, DNS_TYPE_A, 0x80000001UL);
    put32(p, 0xC0000207UL);
    rr_done(p, at);
    put_ptr(p, 12);                 /* opaque TXT */
    at = rr_fixed(p, DNS_TYPE_TXT, 5);
    put8(p, 2);
    put8(p, 'h');
    put8(p, 'i');
    rr_done(p, at);
    put8(p, 0);                     /* OPT in additional */
    at = rr_fixed(p, DNS_TYPE_OPT, 0);
    rr_done(p, at);
    p->b[at - 6] = 0x10;            /* class = UDP size 4096 */
    p->b[at - 5] = 0x00;
}

/* No question at all (e.g. a FORMERR). */
static void b_no_question(struct pkt *p)
{
    header(p, RESPONSE | DNS_RCODE_FORMERR, 0, 0, 0, 0);
}

/*
 * An answer owner reached through `hops` compression pointers: an opaque
 * TXT record holds a chain of hops - 1 pointers, each to the one before,
 * the first to the question name; the A record's owner points to the last.
 */
static void pointer_chain(struct pkt *p, unsigned hops)
{
    size_t at, first;

    header(p, RESPONSE, 1, 2, 0, 0);
    question(p, "a", DNS_TYPE_A);
    put_ptr(p, 12);
    at = rr_fixed(p, DNS_TYPE_TXT, 1);
    first = p->len;
    put_ptr(p, 12);
    for (unsigned i = 1; i + 1 < hops; i++)
        put_ptr(p, first + 2 * (i - 1));
    rr_done(p, at);
    put_ptr(p, p->len - 2);
    at = rr_fixed(p, DNS_TYPE_A, 1);
    put32(p, 0xC0000201UL);
    rr_done(p, at);
}

static void b_ptr_hops_127(struct pkt *p)
{
    pointer_chain(p, DNS_PTR_HOPS_MAX);
}

static void b_ptr_hops_128(struct pkt *p)
{
    pointer_chain(p, DNS_PTR_HOPS_MAX + 1);
}

/* An A record of class CH is opaque: its length is not checked. */
static void b_a_class_ch(struct pkt *p)
{
    size_t at;

    header(p, RESPONSE, 1, 1, 0, 0);
    question(p, "a", DNS_TYPE_A);
    put_ptr(p, 12);
    at = rr_fixed(p, DNS_TYPE_A, 1);
    p->b[at - 5] = 3;               /* class CH */
    put32(p, 0x01020304);
    put8(p, 5);
    rr_done(p, at);
}

/* ------------------------------------------------------------------------ */
/* Hand-built packets: malformed ones */

static void b_empty(struct pkt *p)
{
    p->len = 0;
}

static void b_short_header(struct pkt *p)
{
    header(p, RESPONSE, 0, 0, 0, 0);
    p->len = 11;
}

static void b_self_pointer(struct pkt *p)
{
    header(p, RESPONSE, 1, 0, 0, 0);
    put_ptr(p, 12);
    put16(p, 1);
    put16(p, 1);
}

static void b_forward_pointer(struct pkt *p)
{
    header(p, RESPONSE, 1, 0, 0, 0);
    put_ptr(p, 18);
    put16(p, 1);
    put16(p, 1);
    put_name(p, "x");
}

static void b_pointer_into_header(struct pkt *p)
{
    header(p, RESPONSE, 1, 0, 0, 0);
    put_ptr(p, 4);
    put16(p, 1);
    put16(p, 1);
}

/* A pointer to the 'a' of the question's label "abc": 0x61 is no length. */
static void b_pointer_into_label(struct pkt *p)
{
    header(p, RESPONSE, 1, 1, 0, 0);
    question(p, "abc", DNS_TYPE_A);
    put_ptr(p, 13);
    rr_done(p, rr_fixed(p, DNS_TYPE_TXT, 1));
}

/* An answer owner "b" + pointer back to its own first label: a loop. */
static void b_label_then_own_pointer(struct pkt *p)
{
    size_t owner;

    header(p, RESPONSE, 1, 1, 0, 0);
    question(p, "a", DNS_TYPE_A);
    owner = p->len;
    put_labels(p, "b", 0);
    put_ptr(p, owner);
    rr_done(p, rr_fixed(p, DNS_TYPE_A, 1));
}

/* Pointer to a pointer that points forward again. */
static void b_pointer_ping_pong(struct pkt *p)
{
    size_t first;

    header(p, RESPONSE, 1, 1, 0, 0);
    first = p->len;                 /* question name: pointer to the answer name */
    put_ptr(p, 19);
    put16(p, 1);
    put16(p, 1);
    put8(p, 0);                     /* padding at 18 */
    put_ptr(p, first);              /* answer owner at 19 -> 12 -> 19 ... */
    rr_done(p, rr_fixed(p, DNS_TYPE_A, 1));
}

/* The question name ends in the first byte of a pointer. */
static void b_pointer_cut(struct pkt *p)
{
    header(p, RESPONSE, 1, 0, 0, 0);
    put_labels(p, "a", 0);
    put8(p, 0xC0);
}

/* A label of 5 bytes with 2 left in the message. */
static void b_label_past_end(struct pkt *p)
{
    header(p, RESPONSE, 1, 0, 0, 0);
    put8(p, 5);
    put8(p, 'a');
    put8(p, 'b');
}

static void b_label_type_40(struct pkt *p)
{
    header(p, RESPONSE, 1, 0, 0, 0);
    put8(p, 0x41);
    put8(p, 'a');
    put8(p, 0);
    put16(p, 1);
    put16(p, 1);
}

static void b_label_type_80(struct pkt *p)
{
    header(p, RESPONSE, 1, 0, 0, 0);
    put8(p, 0x81);
    put8(p, 'a');
    put8(p, 0);
    put16(p, 1);
    put16(p, 1);
}

/* `labels` labels of `fill` bytes (or letters a, b, c... when fill is 0), 63 long but the last. */
static void put_long_name(struct pkt *p, size_t labels, size_t last, unsigned fill)
{
    for (size_t i = 0; i < labels; i++) {
        size_t n = i + 1 < labels ? 63 : last;

        put8(p, (unsigned)n);
        for (size_t k = 0; k < n; k++)
            put8(p, fill ? fill : 'a' + (unsigned)(i % 26));
    }
    put8(p, 0);
}

static void b_name_256(struct pkt *p)
{
    header(p, RESPONSE, 1, 0, 0, 0);
    put_long_name(p, 4, 62, 0);     /* 3*64 + 63 + 1 = 256 */
    put16(p, DNS_TYPE_A);
    put16(p, DNS_CLASS_IN);
}

/* 254 bytes in the question, one more label added by compression. */
static void b_name_long_by_pointer(struct pkt *p)
{
    header(p, RESPONSE, 1, 1, 0, 0);
    put_long_name(p, 4, 60, 0);     /* 3*64 + 61 + 1 = 254 */
    put16(p, DNS_TYPE_A);
    put16(p, DNS_CLASS_IN);
    put_labels(p, "x", 0);          /* 2 + 254 = 256 */
    put_ptr(p, 12);
    rr_done(p, rr_fixed(p, DNS_TYPE_A, 1));
}

/* One record of `type` for question "a" whose RDATA is `n` bytes of `byte`. */
static void rdata_bytes(struct pkt *p, unsigned type, size_t n, unsigned byte)
{
    size_t at;

    header(p, RESPONSE, 1, 1, 0, 0);
    question(p, "a", type);
    put_ptr(p, 12);
    at = rr_fixed(p, type, 1);
    for (size_t i = 0; i < n; i++)
        put8(p, byte);
    rr_done(p, at);
}

static void b_a_rdlength_5(struct pkt *p)
{
    rdata_bytes(p, DNS_TYPE_A, 5, 1);
}

static void b_a_rdlength_0(struct pkt *p)
{
    rdata_bytes(p, DNS_TYPE_A, 0, 0);
}

static void b_aaaa_rdlength_4(struct pkt *p)
{
    rdata_bytes(p, DNS_TYPE_AAAA, 4, 1);
}

static void b_mx_short(struct pkt *p)
{
    rdata_bytes(p, DNS_TYPE_MX, 2, 0);
}

/* MX whose exchange runs past RDLENGTH (which is set 2 bytes short). */
static void b_mx_past_rdata(struct pkt *p)
{
    size_t at;

    header(p, RESPONSE, 1, 1, 0, 0);
    question(p, "a", DNS_TYPE_MX);
    put_ptr(p, 12);
    at = rr_fixed(p, DNS_TYPE_MX, 1);
    put16(p, 10);
    put_name(p, "mx");
    rr_done(p, at);
    p->b[at + 1] = (unsigned char)(p->b[at + 1] - 2);
}

static void b_mx_extra_byte(struct pkt *p)
{
    size_t at;

    header(p, RESPONSE, 1, 1, 0, 0);
    question(p, "a", DNS_TYPE_MX);
    put_ptr(p, 12);
    at = rr_fixed(p, DNS_TYPE_MX, 1);
    put16(p, 10);
    put_name(p, "mx");
    put8(p, 7);
    rr_done(p, at);
}

static void b_cname_extra_byte(struct pkt *p)
{
    size_t at;

    header(p, RESPONSE, 1, 1, 0, 0);
    question(p, "a", DNS_TYPE_CNAME);
    put_ptr(p, 12);
    at = rr_fixed(p, DNS_TYPE_CNAME, 1);
    put_name(p, "b");
    put8(p, 0);
    rr_done(p, at);
}

static void b_soa_short(struct pkt *p)
{
    size_t at;

    header(p, RESPONSE, 1, 0, 1, 0);
    question(p, "a", DNS_TYPE_A);
    put_ptr(p, 12);
    at = rr_fixed(p, DNS_TYPE_SOA, 1);
    put_name(p, "ns");
    put_name(p, "hm");
    for (int i = 0; i < 19; i++)
        put8(p, 0);
    rr_done(p, at);
}

static void b_trailing_byte(struct pkt *p)
{
    b_mx(p);
    put8(p, 0);
}

static void b_two_questions(struct pkt *p)
{
    header(p, RESPONSE, 2, 0, 0, 0);
    question(p, "a", DNS_TYPE_A);
    question(p, "b", DNS_TYPE_A);
}

static void b_huge_count(struct pkt *p)
{
    size_t at;

    header(p, RESPONSE, 1, 65535, 65535, 65535);
    question(p, "a", DNS_TYPE_A);
    put_name(p, "a");
    at = rr_fixed(p, DNS_TYPE_A, 1);
    put32(p, 0xC0000201UL);
    rr_done(p, at);
}

static void b_rdlength_past_end(struct pkt *p)
{
    size_t at;

    header(p, RESPONSE, 1, 1, 0, 0);
    question(p, "a", DNS_TYPE_TXT);
    put_ptr(p, 12);
    at = rr_fixed(p, DNS_TYPE_TXT, 1);
    put8(p, 3);
    put8(p, 'a');
    rr_done(p, at);
    p->b[at + 1] = 9;
}

/* ------------------------------------------------------------------------ */
/* Text forms of what the reader and the interpreter return */

static void add(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void add(char *out, size_t outlen, const char *fmt, ...)
{
    size_t len = strlen(out);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(out + len, outlen - len, fmt, ap);
    va_end(ap);
}

static void dump_rdata(char *out, size_t outlen, const struct dns_rr *rr)
{
    char text[64];

    if (rr->rclass != DNS_CLASS_IN || (rr->type != DNS_TYPE_A && rr->type != DNS_TYPE_AAAA
                                       && rr->type != DNS_TYPE_CNAME && rr->type != DNS_TYPE_MX
                                       && rr->type != DNS_TYPE_SOA)) {
        add(out, outlen, " class=%u rdlength=%u", rr->rclass, rr->rdlength);
        return;
    }
    switch (rr->type) {
    case DNS_TYPE_A:
    case DNS_TYPE_AAAA:
        inet_ntop(rr->type == DNS_TYPE_A ? AF_INET : AF_INET6, rr->u.addr, text, sizeof(text));
        add(out, outlen, " %s", text);
        break;
    case DNS_TYPE_CNAME:
        add(out, outlen, " %s", rr->u.target);
        break;
    case DNS_TYPE_MX:
        add(out, outlen, " %u %s", rr->u.mx.pref, rr->u.mx.exchange);
        break;
    case DNS_TYPE_SOA:
        add(out, outlen, " %s %s %lu %lu %lu %lu %lu", rr->u.soa.mname, rr->u.soa.rname,
            (unsigned long)rr->u.soa.serial, (unsigned long)rr->u.soa.refresh,
            (unsigned long)rr->u.soa.retry, (unsigned long)rr->u.soa.expire,
            (unsigned long)rr->u.soa.minimum);
        break;
    }
}

/*
 * "id=4660 qr=1 opcode=0 aa=0 tc=0 rd=1 ra=1 rcode=0 question=NAME/TYPE/CLASS"
 * then one line per record: "an|ns|ar OWNER TYPE ttl=N RDATA".
 */
static void dump_msg(char *out, size_t outlen, const struct dns_msg *m)
{
    static const char *const section[] = {"an", "ns", "ar"};
    size_t counts[] = {m->an_count, m->ns_count, m->ar_count};
    size_t k = 0;
    char tbuf[16];

    out[0] = 0;
    add(out, outlen, "id=%u qr=%u opcode=%u aa=%u tc=%u rd=%u ra=%u rcode=%u", m->id, m->qr,
        m->opcode, m->aa, m->tc, m->rd, m->ra, m->rcode);
    if (m->has_question)
        add(out, outlen, " question=%s/%s/%u\n", m->qname,
            dns_type_name(m->qtype, tbuf, sizeof(tbuf)), m->qclass);
    else
        add(out, outlen, " question=none\n");
    for (size_t s = 0; s < 3; s++) {
        for (size_t i = 0; i < counts[s]; i++, k++) {
            const struct dns_rr *rr = &m->rrs[k];

            add(out, outlen, "%s %s %s ttl=%lu", section[s], rr->name,
                dns_type_name(rr->type, tbuf, sizeof(tbuf)), (unsigned long)rr->ttl);
            dump_rdata(out, outlen, rr);
            add(out, outlen, "\n");
        }
    }
}

/* "KIND final=NAME chain=OWNER,OWNER records=N ttl=N soa=0|1 reason=..." */
static void dump_answer(char *out, size_t outlen, const struct dns_answer *a)
{
    static const char *const kinds[] = {"DATA", "NXDOMAIN", "NODATA", "CNAME", "SERVER_ERROR",
                                        "BAD"};

    out[0] = 0;
    add(out, outlen, "%s final=%s chain=", kinds[a->kind], a->final_name);
    for (size_t i = 0; i < a->chain_len; i++)
        add(out, outlen, "%s%s", i ? "," : "", a->chain[i]->name);
    if (a->chain_len == 0)
        add(out, outlen, "-");
    add(out, outlen, " records=%zu ttl=%lu soa=%d reason=%s", a->record_count,
        (unsigned long)a->ttl, a->has_soa, a->reason[0] ? a->reason : "-");
}

/* ------------------------------------------------------------------------ */
/* Parsing */

struct parse_case {
    const char *what;
    builder build;
    const char *want;               /* dump_msg(), or "error: " and part of the reason */
};

static const struct parse_case parse_cases[] = {
    {"MX, compressed", b_mx,
     "id=4660 qr=1 opcode=0 aa=0 tc=0 rd=1 ra=1 rcode=0 question=example.com/MX/1\n"
     "an example.com MX ttl=300 10 mx1.example.com\n"
     "an example.com MX ttl=200 20 mx2.example.com\n"},
    {"CNAME, A and SOA", b_cname_a,
     "id=4660 qr=1 opcode=0 aa=0 tc=0 rd=1 ra=1 rcode=0 question=www.example.com/A/1\n"
     "an www.example.com CNAME ttl=60 web.example.com\n"
     "an web.example.com A ttl=300 192.0.2.1\n"
     "an web.example.com A ttl=120 192.0.2.2\n"
     "ns example.com SOA ttl=3600 ns.example.com hostmaster.example.com 2024010101 7200 900 "
     "1209600 300\n"},
    {"escapes, case, TTL top bit, opaque TXT and OPT", b_escapes,
     "id=4660 qr=1 opcode=0 aa=0 tc=0 rd=1 ra=1 rcode=0 "
     "question=a\\.b.\\000\\032\\\\\\255.com/TXT/1\n"
     "an host.example A ttl=0 192.0.2.7\n"
     "an a\\.b.\\000\\032\\\\\\255.com TXT ttl=5 class=1 rdlength=3\n"
     "ar . OPT ttl=0 class=4096 rdlength=0\n"},
    {"no question", b_no_question,
     "id=4660 qr=1 opcode=0 aa=0 tc=0 rd=1 ra=1 rcode=1 question=none\n"},
    {"127 pointer hops", b_ptr_hops_127,
     "id=4660 qr=1 opcode=0 aa=0 tc=0 rd=1 ra=1 rcode=0 question=a/A/1\n"
     "an a TXT ttl=1 class=1 rdlength=252\n"
     "an a A ttl=1 192.0.2.1\n"},
    {"A of class CH is opaque", b_a_class_ch,
     "id=4660 qr=1 opcode=0 aa=0 tc=0 rd=1 ra=1 rcode=0 question=a/A/1\n"
     "an a A ttl=1 class=3 rdlength=5\n"},

    {"empty message", b_empty, "error: shorter than"},
    {"short header", b_short_header, "error: shorter than"},
    {"self pointer", b_self_pointer, "error: bad compression pointer"},
    {"forward pointer", b_forward_pointer, "error: bad compression pointer"},
    {"pointer into header", b_pointer_into_header, "error: bad compression pointer"},
    {"pointer into a label", b_pointer_into_label, "error: unsupported label type 0x61"},
    {"label then own pointer", b_label_then_own_pointer, "error: bad compression pointer"},
    {"pointer ping-pong", b_pointer_ping_pong, "error: bad compression pointer"},
    {"128 pointer hops", b_ptr_hops_128, "error: too many compression pointers"},
    {"pointer cut in half", b_pointer_cut, "error: truncated compression pointer"},
    {"label past the end", b_label_past_end, "error: label at offset 12 runs past the end"},
    {"label type 0x40", b_label_type_40, "error: unsupported label type"},
    {"label type 0x80", b_label_type_80, "error: unsupported label type"},
    {"name of 256 bytes", b_name_256, "error: longer than 255"},
    {"name too long through a pointer", b_name_long_by_pointer, "error: longer than 255"},
    {"A with 5 bytes", b_a_rdlength_5, "error: A record with RDLENGTH 5"},
    {"A with 0 bytes", b_a_rdlength_0, "error: A record with RDLENGTH 0"},
    {"AAAA with 4 bytes", b_aaaa_rdlength_4, "error: AAAA record with RDLENGTH 4"},
    {"MX name past RDATA", b_mx_past_rdata, "error: runs past RDATA"},
    {"MX extra byte", b_mx_extra_byte, "error: unused bytes"},
    {"MX without name", b_mx_short, "error: MX record with RDLENGTH 2"},
    {"CNAME extra byte", b_cname_extra_byte, "error: 1 unused bytes"},
    {"SOA 19 bytes of numbers", b_soa_short, "error: SOA RDATA"},
    {"trailing byte", b_trailing_byte, "error: bytes after the last record"},
    {"two questions", b_two_questions, "error: 2 questions"},
    {"huge counts", b_huge_count, "error: cannot hold them"},
    {"RDLENGTH past the end", b_rdlength_past_end, "error: runs past the end"},
};

static void check_parse_case(const struct parse_case *c)
{
    struct pkt p;
    struct dns_msg msg;
    char err[DNS_ERR_MAX];
    char got[DUMP_MAX];
    int ret;

    c->build(&p);
    ret = dns_msg_parse(p.b, p.len, &msg, err, sizeof(err));
    if (ret == 0) {
        CHECK_STR(c->what, err, "");
        dump_msg(got, sizeof(got), &msg);
        CHECK_STR(c->what, got, c->want);
    } else {
        int matched = strncmp(c->want, "error: ", 7) == 0 && strstr(err, c->want + 7) != NULL;

        snprintf(got, sizeof(got), "error: %s", err);
        check_report(matched, __FILE__, __LINE__, c->what, got, c->want);
        CHECK_TRUE("nothing left after failure", msg.rrs == NULL && msg.qname == NULL);
    }
    dns_msg_free(&msg);
}

static void test_parse(void)
{
    for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++)
        check_parse_case(&parse_cases[i]);
}

/* ------------------------------------------------------------------------ */
/* Answers */

struct answer_case {
    const char *what;
    builder build;                  /* a hand-built packet, or NULL for `spec` */
    struct msg_spec spec;
    const char *qname;              /* the question asked of the message */
    unsigned qtype;
    size_t max_chain;
    const char *want;               /* dump_answer() */
};

#define CHAIN DNS_CNAME_MAX

static const struct answer_case answer_cases[] = {
    /* One message, several questions. */
    {"MX: both records, the smallest TTL", b_mx, {0}, "example.com", DNS_TYPE_MX, CHAIN,
     "DATA final=example.com chain=- records=2 ttl=200 soa=0 reason=-"},
    {"MX: another name is BAD", b_mx, {0}, "example.org", DNS_TYPE_MX, CHAIN,
     "BAD final=example.org chain=- records=0 ttl=0 soa=0 reason=response is for another question"},
    {"MX: another type is BAD", b_mx, {0}, "example.com", DNS_TYPE_A, CHAIN,
     "BAD final=example.com chain=- records=0 ttl=0 soa=0 reason=response is for another question"},
    {"CNAME then A: the TTL includes the chain", b_cname_a, {0}, "www.example.com", DNS_TYPE_A,
     CHAIN, "DATA final=web.example.com chain=www.example.com records=2 ttl=60 soa=0 reason=-"},
    {"CNAME then A: chain longer than allowed", b_cname_a, {0}, "www.example.com", DNS_TYPE_A, 0,
     "BAD final=www.example.com chain=- records=0 ttl=0 soa=0 "
     "reason=CNAME chain from www.example.com is too long"},
    {"no question is BAD", b_no_question, {0}, "a", DNS_TYPE_A, CHAIN,
     "BAD final=a chain=- records=0 ttl=0 soa=0 reason=response is for another question"},

    /* Negative answers (RFC 2308): the SOA must be the name's or a parent's. */
    {"nxdomain, minimum smaller", NULL,
     {RESPONSE | DNS_RCODE_NXDOMAIN, "nx.example.com", DNS_TYPE_MX,
      .ns = {{"example.com", DNS_TYPE_SOA, 3600, 300, NULL}}},
     "nx.example.com", DNS_TYPE_MX, CHAIN,
     "NXDOMAIN final=nx.example.com chain=- records=0 ttl=300 soa=1 reason=-"},
    {"nxdomain, soa ttl smaller", NULL,
     {RESPONSE | DNS_RCODE_NXDOMAIN, "nx.example.com", DNS_TYPE_MX,
      .ns = {{"example.com", DNS_TYPE_SOA, 30, 300, NULL}}},
     "nx.example.com", DNS_TYPE_MX, CHAIN,
     "NXDOMAIN final=nx.example.com chain=- records=0 ttl=30 soa=1 reason=-"},
    {"nxdomain, soa at the root", NULL,
     {RESPONSE | DNS_RCODE_NXDOMAIN, "nx.example.com", DNS_TYPE_MX,
      .ns = {{".", DNS_TYPE_SOA, 100, 900, NULL}}},
     "nx.example.com", DNS_TYPE_MX, CHAIN,
     "NXDOMAIN final=nx.example.com chain=- records=0 ttl=100 soa=1 reason=-"},
    {"nxdomain, no soa", NULL,
     {RESPONSE | DNS_RCODE_NXDOMAIN, "nx.example.com", DNS_TYPE_MX, .ns = {{0}}},
     "nx.example.com", DNS_TYPE_MX, CHAIN,
     "NXDOMAIN final=nx.example.com chain=- records=0 ttl=0 soa=0 reason=-"},
    {"nxdomain, soa of another zone", NULL,
     {RESPONSE | DNS_RCODE_NXDOMAIN, "nx.example.com", DNS_TYPE_MX,
      .ns = {{"example.org", DNS_TYPE_SOA, 3600, 300, NULL}}},
     "nx.example.com", DNS_TYPE_MX, CHAIN,
     "NXDOMAIN final=nx.example.com chain=- records=0 ttl=0 soa=0 reason=-"},
    {"nxdomain, soa of a sibling", NULL,
     {RESPONSE | DNS_RCODE_NXDOMAIN, "nx.example.com", DNS_TYPE_MX,
      .ns = {{"badexample.com", DNS_TYPE_SOA, 3600, 300, NULL}}},
     "nx.example.com", DNS_TYPE_MX, CHAIN,
     "NXDOMAIN final=nx.example.com chain=- records=0 ttl=0 soa=0 reason=-"},
    {"nodata with soa", NULL,
     {RESPONSE, "nx.example.com", DNS_TYPE_MX,
      .ns = {{"example.com", DNS_TYPE_SOA, 600, 60, NULL}}},
     "nx.example.com", DNS_TYPE_MX, CHAIN,
     "NODATA final=nx.example.com chain=- records=0 ttl=60 soa=1 reason=-"},
    {"nodata, soa of the name itself", NULL,
     {RESPONSE, "nx.example.com", DNS_TYPE_MX,
      .ns = {{"nx.example.com", DNS_TYPE_SOA, 600, 60, NULL}}},
     "nx.example.com", DNS_TYPE_MX, CHAIN,
     "NODATA final=nx.example.com chain=- records=0 ttl=60 soa=1 reason=-"},
    {"nodata without soa", NULL,
     {RESPONSE, "nx.example.com", DNS_TYPE_MX, .ns = {{0}}},
     "nx.example.com", DNS_TYPE_MX, CHAIN,
     "NODATA final=nx.example.com chain=- records=0 ttl=0 soa=0 reason=-"},
    {"A of another owner is no data", NULL,
     {RESPONSE, "a.example.com", DNS_TYPE_A,
      .an = {{"b.example.com", DNS_TYPE_A, 10, 1, NULL}}},
     "a.example.com", DNS_TYPE_A, CHAIN,
     "NODATA final=a.example.com chain=- records=0 ttl=0 soa=0 reason=-"},

    /* Server errors and flags that make an answer unusable. */
    {"servfail", NULL,
     {RESPONSE | DNS_RCODE_SERVFAIL, "nx.example.com", DNS_TYPE_MX, .an = {{0}}},
     "nx.example.com", DNS_TYPE_MX, CHAIN,
     "SERVER_ERROR final=nx.example.com chain=- records=0 ttl=0 soa=0 reason=SERVFAIL"},
    {"refused", NULL,
     {RESPONSE | DNS_RCODE_REFUSED, "nx.example.com", DNS_TYPE_MX, .an = {{0}}},
     "nx.example.com", DNS_TYPE_MX, CHAIN,
     "SERVER_ERROR final=nx.example.com chain=- records=0 ttl=0 soa=0 reason=REFUSED"},
    {"query, not response", NULL,
     {0x0100, "example.com", DNS_TYPE_A, .an = {{"example.com", DNS_TYPE_A, 10, 1, NULL}}},
     "example.com", DNS_TYPE_A, CHAIN,
     "BAD final=example.com chain=- records=0 ttl=0 soa=0 reason=not a response"},
    {"truncated", NULL,
     {0x8380, "example.com", DNS_TYPE_A, .an = {{"example.com", DNS_TYPE_A, 10, 1, NULL}}},
     "example.com", DNS_TYPE_A, CHAIN,
     "BAD final=example.com chain=- records=0 ttl=0 soa=0 reason=truncated response"},
    {"opcode status", NULL,
     {0x9180, "example.com", DNS_TYPE_A, .an = {{"example.com", DNS_TYPE_A, 10, 1, NULL}}},
     "example.com", DNS_TYPE_A, CHAIN,
     "BAD final=example.com chain=- records=0 ttl=0 soa=0 reason=opcode is not QUERY"},

    /* CNAME chains. */
    {"8 CNAMEs then data", NULL,
     {RESPONSE, "c0.example.com", DNS_TYPE_A,
      .an = {{"c8.example.com", DNS_TYPE_A, 500, 9, NULL}}, .chain = 8},
     "c0.example.com", DNS_TYPE_A, CHAIN,
     "DATA final=c8.example.com chain=c0.example.com,c1.example.com,c2.example.com,"
     "c3.example.com,c4.example.com,c5.example.com,c6.example.com,c7.example.com "
     "records=1 ttl=100 soa=0 reason=-"},
    {"9 CNAMEs is too many", NULL,
     {RESPONSE, "c0.example.com", DNS_TYPE_A,
      .an = {{"c9.example.com", DNS_TYPE_A, 500, 9, NULL}}, .chain = 9},
     "c0.example.com", DNS_TYPE_A, CHAIN,
     "BAD final=c8.example.com chain=c0.example.com,c1.example.com,c2.example.com,"
     "c3.example.com,c4.example.com,c5.example.com,c6.example.com,c7.example.com "
     "records=0 ttl=0 soa=0 reason=CNAME chain from c0.example.com is too long"},
    {"CNAME loop", NULL,
     {RESPONSE, "c0.example.com", DNS_TYPE_A, .chain = 1,
      .an = {{"c1.example.com", DNS_TYPE_CNAME, 100, 0, "c0.example.com"}}},
     "c0.example.com", DNS_TYPE_A, CHAIN,
     "BAD final=c1.example.com chain=c0.example.com records=0 ttl=0 soa=0 "
     "reason=CNAME loop at c0.example.com"},
    {"CNAME to itself", NULL,
     {RESPONSE, "c0.example.com", DNS_TYPE_A, 
      .an = {{"c0.example.com", DNS_TYPE_CNAME, 100, 0, "c0.example.com"}}},
     "c0.example.com", DNS_TYPE_A, CHAIN,
     "BAD final=c0.example.com chain=c0.example.com records=0 ttl=0 soa=0 "
     "reason=CNAME loop at c0.example.com"},
    {"two CNAMEs for one name", NULL,
     {RESPONSE, "c0.example.com", DNS_TYPE_A, .chain = 1,
      .an = {{"c0.example.com", DNS_TYPE_CNAME, 100, 0, "c2.example.com"}}},
     "c0.example.com", DNS_TYPE_A, CHAIN,
     "BAD final=c0.example.com chain=- records=0 ttl=0 soa=0 "
     "reason=two CNAME records for c0.example.com"},
    {"the same CNAME twice", NULL,
     {RESPONSE, "c0.example.com", DNS_TYPE_A,
      .chain = 1, .an = {{"c0.example.com", DNS_TYPE_CNAME, 100, 0, "c1.example.com"},
                         {"c1.example.com", DNS_TYPE_A, 500, 9, NULL}}},
     "c0.example.com", DNS_TYPE_A, CHAIN,
     "DATA final=c1.example.com chain=c0.example.com records=1 ttl=100 soa=0 reason=-"},
    {"CNAME asked: the CNAME is the data", NULL,
     {RESPONSE, "c0.example.com", DNS_TYPE_CNAME, .chain = 1},
     "c0.example.com", DNS_TYPE_CNAME, CHAIN,
     "DATA final=c0.example.com chain=- records=1 ttl=100 soa=0 reason=-"},
    {"CNAME without data, no SOA: ask again", NULL,
     {RESPONSE, "c0.example.com", DNS_TYPE_A, .chain = 1},
     "c0.example.com", DNS_TYPE_A, CHAIN,
     "CNAME final=c1.example.com chain=c0.example.com records=0 ttl=0 soa=0 reason=-"},
    {"CNAME to NODATA with SOA", NULL,
     {RESPONSE, "c0.example.com", DNS_TYPE_A, .chain = 1,
      .ns = {{"example.com", DNS_TYPE_SOA, 50, 40, NULL}}},
     "c0.example.com", DNS_TYPE_A, CHAIN,
     "NODATA final=c1.example.com chain=c0.example.com records=0 ttl=40 soa=1 reason=-"},
    {"CNAME to NXDOMAIN", NULL,
     {RESPONSE | DNS_RCODE_NXDOMAIN, "c0.example.com", DNS_TYPE_A, .chain = 1,
      .ns = {{"example.com", DNS_TYPE_SOA, 50, 40, NULL}}},
     "c0.example.com", DNS_TYPE_A, CHAIN,
     "NXDOMAIN final=c1.example.com chain=c0.example.com records=0 ttl=40 soa=1 reason=-"},
    {"NXDOMAIN with data is BAD", NULL,
     {RESPONSE | DNS_RCODE_NXDOMAIN, "c0.example.com", DNS_TYPE_A,
      .chain = 1, .an = {{"c1.example.com", DNS_TYPE_A, 500, 9, NULL}}},
     "c0.example.com", DNS_TYPE_A, CHAIN,
     "BAD final=c1.example.com chain=c0.example.com records=0 ttl=0 soa=0 "
     "reason=NXDOMAIN with answer records"},
};

static void build_answer_case(struct pkt *p, const struct answer_case *c)
{
    if (c->build != NULL)
        c->build(p);
    else
        build_spec(p, &c->spec);
}

static void check_answer_case(const struct answer_case *c)
{
    struct pkt p;
    struct dns_msg msg;
    struct dns_answer ans;
    char err[DNS_ERR_MAX];
    char got[DUMP_MAX];

    build_answer_case(&p, c);
    if (dns_msg_parse(p.b, p.len, &msg, err, sizeof(err)) < 0) {
        CHECK_STR(c->what, err, "(parses)");
        return;
    }
    dns_msg_answer(&msg, c->qname, (uint16_t)c->qtype, c->max_chain, &ans);
    dump_answer(got, sizeof(got), &ans);
    CHECK_STR(c->what, got, c->want);
    dns_answer_free(&ans);
    dns_msg_free(&msg);
}

static void test_answers(void)
{
    for (size_t i = 0; i < sizeof(answer_cases) / sizeof(answer_cases[0]); i++)
        check_answer_case(&answer_cases[i]);
}

/* ------------------------------------------------------------------------ */
/* Truncations: every strict prefix of a good packet is rejected with a reason */

static size_t truncations_rejected(const struct pkt *full, const char *what)
{
    char err[DNS_ERR_MAX];
    size_t bad = 0;

    for (size_t n = 0; n < full->len; n++) {
        struct dns_msg msg;

        if (dns_msg_parse(full->b, n, &msg, err, sizeof(err)) != -1 || err[0] == 0) {
            fprintf(stderr, "%s truncated to %zu bytes was accepted\n", what, n);
            bad++;
        }
        dns_msg_free(&msg);
    }
    return bad;
}

static void test_truncations(void)
{
    size_t bad = 0, packets = 0;
    struct pkt p;

    for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        if (strncmp(parse_cases[i].want, "error: ", 7) == 0)
            continue;
        parse_cases[i].build(&p);
        bad += truncations_rejected(&p, parse_cases[i].what);
        packets++;
    }
    for (size_t i = 0; i < sizeof(answer_cases) / sizeof(answer_cases[0]); i++) {
        build_answer_case(&p, &answer_cases[i]);
        bad += truncations_rejected(&p, answer_cases[i].what);
        packets++;
    }
    CHECK_LONG("truncations accepted", bad, 0);
    CHECK_TRUE("truncations tested", packets > 30);
}

/* ------------------------------------------------------------------------ */
/* Names */

/* The longest names a message may carry: 255 bytes on the wire. */
static void test_longest_names(void)
{
    static const struct {
        const char *what;
        unsigned fill;              /* 0: letters */
        size_t want_text;           /* strlen of the presentation form */
    } cases[] = {
        {"255-byte name of letters", 0, 253},
        {"255-byte name of 0xff bytes, each escaped", 0xff, 250 * 4 + 3},
        {"255-byte name of dots, each escaped", '.', 250 * 2 + 3},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pkt p;
        struct dns_msg msg;
        char err[DNS_ERR_MAX];
        int ret;

        header(&p, RESPONSE, 1, 0, 0, 0);
        put_long_name(&p, 4, 61, cases[i].fill); /* 3*64 + 62 + 1 = 255 */
        put16(&p, DNS_TYPE_A);
        put16(&p, DNS_CLASS_IN);
        ret = dns_msg_parse(p.b, p.len, &msg, err, sizeof(err));
        CHECK_STR(cases[i].what, err, "");
        CHECK_LONG(cases[i].what, ret == 0 ? strlen(msg.qname) : 0, cases[i].want_text);
        dns_msg_free(&msg);
    }
}

static void test_hostnames(void)
{
    static const struct {
        const char *name;
        int ok;
    } cases[] = {
        {"example.com", 1}, {"mx-1.example.com", 1}, {"123.com", 1}, {"a_b.example", 1},
        {"localhost", 1}, {"-a.com", 0}, {"a-.com", 0}, {"a..b", 0}, {"", 0}, {".", 0},
        {"1.2.3.4", 0}, {"a.b.123", 0}, {"a\\.b.com", 0}, {"a b.com", 0}, {"Example.com", 0},
        {"a.com.", 0}, {"a\\.b.\\000\\032\\\\\\255.com", 0},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", 1},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_LONG(cases[i].name, dns_name_is_hostname(cases[i].name), cases[i].ok);
}

static void test_normalise(void)
{
    static const struct {
        const char *in;
        const char *out;            /* NULL: error */
    } cases[] = {
        {"Example.COM.", "example.com"}, {"mx.example.com", "mx.example.com"}, {".", NULL},
        {"", NULL}, {"a b", NULL}, {"example.com..", NULL}, {"[1.2.3.4]", NULL},
    };
    char out[300], err[DNS_ERR_MAX];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int ret = dns_name_normalise(cases[i].in, out, sizeof(out), err, sizeof(err));

        CHECK_LONG(cases[i].in, ret, cases[i].out ? 0 : -1);
        if (cases[i].out)
            CHECK_STR(cases[i].in, out, cases[i].out);
        else
            CHECK_TRUE("normalise error has a reason", err[0] != 0);
    }
}

static void test_zones(void)
{
    static const struct {
        const char *name, *zone;
        int in;
    } cases[] = {
        {"a.example.com", "example.com", 1}, {"example.com", "example.com", 1},
        {"badexample.com", "example.com", 0}, {"x", ".", 1},
        {"a\\.example.com", "example.com", 0}, {"a\\\\.example.com", "example.com", 1},
        {"example.com", "a.example.com", 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_LONG(cases[i].name, dns_name_in_zone(cases[i].name, cases[i].zone), cases[i].in);
}

static void test_type_and_rcode_names(void)
{
    static const struct {
        int is_rcode;
        unsigned value;
        const char *want;
    } cases[] = {
        {0, DNS_TYPE_MX, "MX"}, {0, 99, "TYPE99"}, {1, 3, "NXDOMAIN"}, {1, 9, "RCODE9"},
    };
    char buf[32];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_STR(cases[i].want,
                  cases[i].is_rcode ? dns_rcode_name(cases[i].value, buf, sizeof(buf))
                                    : dns_type_name(cases[i].value, buf, sizeof(buf)),
                  cases[i].want);
}

int main(void)
{
    test_parse();
    test_answers();
    test_truncations();
    test_longest_names();
    test_hostnames();
    test_normalise();
    test_zones();
    test_type_and_rcode_names();
    return check_finish("test_dns_msg");
}
