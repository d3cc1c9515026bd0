/*
 * test_dns_msg.c - the DNS message reader and answer interpretation, on
 * hand-built packets: compression pointers (good, looping, forward, into
 * the header), name length limits, RDATA checks, every truncation of a
 * valid packet, CNAME chains, negative answers with SOA (RFC 2308), and
 * the host name helpers.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "dns_msg.h"

/* ------------------------------------------------------------------------ */
/* A tiny packet builder */

struct pkt {
    unsigned char b[2048];
    size_t len;
};

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

/* Labels of a dotted name; with `end` the terminating zero byte too. */
static void put_labels(struct pkt *p, const char *dotted, int end)
{
    const char *s = dotted;

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

/* flags: e.g. 0x8180 = QR RD RA NOERROR */
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

static void rr_a(struct pkt *p, const char *owner, unsigned long ttl, unsigned last_octet)
{
    size_t at;

    put_name(p, owner);
    at = rr_fixed(p, DNS_TYPE_A, ttl);
    put8(p, 192);
    put8(p, 0);
    put8(p, 2);
    put8(p, last_octet);
    rr_done(p, at);
}

static void rr_cname(struct pkt *p, const char *owner, unsigned long ttl, const char *target)
{
    size_t at;

    put_name(p, owner);
    at = rr_fixed(p, DNS_TYPE_CNAME, ttl);
    put_name(p, target);
    rr_done(p, at);
}

static void rr_soa(struct pkt *p, const char *owner, unsigned long ttl, unsigned long minimum)
{
    size_t at;

    put_name(p, owner);
    at = rr_fixed(p, DNS_TYPE_SOA, ttl);
    put_name(p, "ns.example.com");
    put_name(p, "hostmaster.example.com");
    put32(p, 2024010101);
    put32(p, 7200);
    put32(p, 900);
    put32(p, 1209600);
    put32(p, minimum);
    rr_done(p, at);
}

/*
 * example.com MX: two answers whose owners and exchanges are compressed
 * against the question name at offset 12.
 */
static void build_mx(struct pkt *p)
{
    size_t at;

    header(p, 0x8180, 1, 2, 0, 0);
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
static void build_cname_a(struct pkt *p)
{
    header(p, 0x8180, 1, 3, 1, 0);
    question(p, "www.example.com", DNS_TYPE_A);
    rr_cname(p, "www.example.com", 60, "web.example.com");
    rr_a(p, "web.example.com", 300, 1);
    rr_a(p, "web.example.com", 120, 2);
    rr_soa(p, "example.com", 3600, 300);
}

static int parse(const struct pkt *p, struct dns_msg *msg, char *err)
{
    return dns_msg_parse(p->b, p->len, msg, err, DNS_ERR_MAX);
}

/* ------------------------------------------------------------------------ */

static void test_mx(void)
{
    struct pkt p;
    struct dns_msg msg;
    struct dns_answer ans;
    char err[DNS_ERR_MAX];

    build_mx(&p);
    CHECK_LONG("mx parses", parse(&p, &msg, err), 0);
    CHECK_STR("mx err empty", err, "");
    CHECK_LONG("mx id", msg.id, 0x1234);
    CHECK_LONG("mx qr", msg.qr, 1);
    CHECK_LONG("mx rcode", msg.rcode, 0);
    CHECK_STR("mx qname", msg.qname, "example.com");
    CHECK_LONG("mx qtype", msg.qtype, DNS_TYPE_MX);
    CHECK_LONG("mx an_count", msg.an_count, 2);
    CHECK_STR("mx owner", msg.answer[0].name, "example.com");
    CHECK_LONG("mx pref 1", msg.answer[0].u.mx.pref, 10);
    CHECK_STR("mx exchange 1", msg.answer[0].u.mx.exchange, "mx1.example.com");
    CHECK_LONG("mx ttl 1", msg.answer[0].ttl, 300);
    CHECK_STR("mx exchange 2", msg.answer[1].u.mx.exchange, "mx2.example.com");

    dns_msg_answer(&msg, "example.com", DNS_TYPE_MX, DNS_CNAME_MAX, &ans);
    CHECK_LONG("mx answer kind", ans.kind, DNS_ANSWER_DATA);
    CHECK_LONG("mx answer records", ans.record_count, 2);
    CHECK_LONG("mx answer ttl is the minimum", ans.ttl, 200);
    CHECK_LONG("mx answer no chain", ans.chain_len, 0);
    dns_answer_free(&ans);

    dns_msg_answer(&msg, "example.org", DNS_TYPE_MX, DNS_CNAME_MAX, &ans);
    CHECK_LONG("other question is BAD", ans.kind, DNS_ANSWER_BAD);
    CHECK_STR("other question reason", ans.reason, "response is for another question");
    dns_answer_free(&ans);
    dns_msg_answer(&msg, "example.com", DNS_TYPE_A, DNS_CNAME_MAX, &ans);
    CHECK_LONG("other type is BAD", ans.kind, DNS_ANSWER_BAD);
    dns_answer_free(&ans);
    dns_msg_free(&msg);
}

static void test_truncations(void)
{
    struct pkt full[2];
    char err[DNS_ERR_MAX];
    int failures_ok = 1;
    size_t tested = 0;

    build_mx(&full[0]);
    build_cname_a(&full[1]);
    for (size_t k = 0; k < 2; k++) {
        for (size_t n = 0; n < full[k].len; n++) {
            struct dns_msg msg;

            if (dns_msg_parse(full[k].b, n, &msg, err, sizeof(err)) != -1 || err[0] == 0) {
                fprintf(stderr, "packet %zu truncated to %zu bytes was accepted\n", k, n);
                failures_ok = 0;
            }
            dns_msg_free(&msg);
            tested++;
        }
    }
    CHECK_TRUE("every truncation is rejected with a reason", failures_ok);
    CHECK_TRUE("truncations tested", tested > 100);
}

static void test_cname_and_soa(void)
{
    struct pkt p;
    struct dns_msg msg;
    struct dns_answer ans;
    char err[DNS_ERR_MAX];

    build_cname_a(&p);
    CHECK_LONG("cname parses", parse(&p, &msg, err), 0);
    CHECK_LONG("cname authority", msg.ns_count, 1);
    CHECK_STR("soa mname", msg.authority[0].u.soa.mname, "ns.example.com");
    CHECK_LONG("soa minimum", msg.authority[0].u.soa.minimum, 300);
    CHECK_LONG("a bytes", msg.answer[1].u.addr[3], 1);

    dns_msg_answer(&msg, "www.example.com", DNS_TYPE_A, DNS_CNAME_MAX, &ans);
    CHECK_LONG("cname kind", ans.kind, DNS_ANSWER_DATA);
    CHECK_STR("cname final", ans.final_name, "web.example.com");
    CHECK_LONG("cname chain", ans.chain_len, 1);
    CHECK_STR("cname chain owner", ans.chain[0]->name, "www.example.com");
    CHECK_LONG("cname records", ans.record_count, 2);
    CHECK_LONG("cname ttl includes chain", ans.ttl, 60);
    dns_answer_free(&ans);

    dns_msg_answer(&msg, "www.example.com", DNS_TYPE_A, 0, &ans);
    CHECK_LONG("chain longer than allowed", ans.kind, DNS_ANSWER_BAD);
    dns_answer_free(&ans);
    dns_msg_free(&msg);
}

struct neg_case {
    const char *what;
    unsigned rcode;
    const char *soa_owner;      /* NULL: no SOA */
    unsigned long soa_ttl, minimum;
    int kind;
    int has_soa;
    long ttl;
};

static const struct neg_case neg_cases[] = {
    {"nxdomain, minimum smaller", 3, "example.com", 3600, 300, DNS_ANSWER_NXDOMAIN, 1, 300},
    {"nxdomain, soa ttl smaller", 3, "example.com", 30, 300, DNS_ANSWER_NXDOMAIN, 1, 30},
    {"nxdomain, soa at the root", 3, ".", 100, 900, DNS_ANSWER_NXDOMAIN, 1, 100},
    {"nxdomain, no soa", 3, NULL, 0, 0, DNS_ANSWER_NXDOMAIN, 0, 0},
    {"nxdomain, soa of another zone", 3, "example.org", 3600, 300, DNS_ANSWER_NXDOMAIN, 0, 0},
    {"nxdomain, soa of a sibling", 3, "badexample.com", 3600, 300, DNS_ANSWER_NXDOMAIN, 0, 0},
    {"nodata with soa", 0, "example.com", 600, 60, DNS_ANSWER_NODATA, 1, 60},
    {"nodata, soa of the name itself", 0, "nx.example.com", 600, 60, DNS_ANSWER_NODATA, 1, 60},
    {"nodata without soa", 0, NULL, 0, 0, DNS_ANSWER_NODATA, 0, 0},
    {"servfail", 2, NULL, 0, 0, DNS_ANSWER_SERVER_ERROR, 0, 0},
    {"refused", 5, NULL, 0, 0, DNS_ANSWER_SERVER_ERROR, 0, 0},
};

static void test_negative(void)
{
    for (size_t i = 0; i < sizeof(neg_cases) / sizeof(neg_cases[0]); i++) {
        const struct neg_case *c = &neg_cases[i];
        struct pkt p;
        struct dns_msg msg;
        struct dns_answer ans;
        char err[DNS_ERR_MAX];

        header(&p, 0x8180 | c->rcode, 1, 0, c->soa_owner ? 1 : 0, 0);
        question(&p, "nx.example.com", DNS_TYPE_MX);
        if (c->soa_owner)
            rr_soa(&p, strcmp(c->soa_owner, ".") == 0 ? "" : c->soa_owner, c->soa_ttl, c->minimum);
        CHECK_LONG(c->what, parse(&p, &msg, err), 0);
        dns_msg_answer(&msg, "nx.example.com", DNS_TYPE_MX, DNS_CNAME_MAX, &ans);
        CHECK_LONG(c->what, ans.kind, c->kind);
        CHECK_LONG(c->what, ans.has_soa, c->has_soa);
        CHECK_LONG(c->what, ans.ttl, c->ttl);
        if (c->kind == DNS_ANSWER_SERVER_ERROR)
            CHECK_STR(c->what, ans.reason, c->rcode == 2 ? "SERVFAIL" : "REFUSED");
        dns_answer_free(&ans);
        dns_msg_free(&msg);
    }
}

/* Chains: alias -> ... built from a list of names, ending in data or not. */
static void build_chain(struct pkt *p, const char *const *names, size_t n, int with_data,
                        unsigned rcode, int with_soa)
{
    header(p, 0x8180 | rcode, 1, (unsigned)(n - 1 + (with_data ? 1 : 0)), with_soa ? 1 : 0, 0);
    question(p, names[0], DNS_TYPE_A);
    for (size_t i = 0; i + 1 < n; i++)
        rr_cname(p, names[i], 100 + i, names[i + 1]);
    if (with_data)
        rr_a(p, names[n - 1], 500, 9);
    if (with_soa)
        rr_soa(p, "example.com", 50, 40);
}

static void check_chain(const char *what, const char *const *names, size_t n, int with_data,
                        unsigned rcode, int with_soa, int kind, const char *final, long ttl)
{
    struct pkt p;
    struct dns_msg msg;
    struct dns_answer ans;
    char err[DNS_ERR_MAX];

    build_chain(&p, names, n, with_data, rcode, with_soa);
    CHECK_LONG(what, parse(&p, &msg, err), 0);
    dns_msg_answer(&msg, names[0], DNS_TYPE_A, DNS_CNAME_MAX, &ans);
    CHECK_LONG(what, ans.kind, kind);
    if (final)
        CHECK_STR(what, ans.final_name, final);
    CHECK_LONG(what, ans.ttl, ttl);
    dns_answer_free(&ans);
    dns_msg_free(&msg);
}

static void test_chains(void)
{
    static const char *const nine[] = {"c0.example.com", "c1.example.com", "c2.example.com",
                                       "c3.example.com", "c4.example.com", "c5.example.com",
                                       "c6.example.com", "c7.example.com", "c8.example.com",
                                       "c9.example.com"};
    static const char *const loop[] = {"a.example.com", "b.example.com", "a.example.com"};
    static const char *const two[] = {"a.example.com", "b.example.com"};

    check_chain("8 CNAMEs then data", nine, 9, 1, 0, 0, DNS_ANSWER_DATA, "c8.example.com", 100);
    check_chain("9 CNAMEs is too many", nine, 10, 1, 0, 0, DNS_ANSWER_BAD, NULL, 0);
    check_chain("CNAME loop", loop, 3, 0, 0, 0, DNS_ANSWER_BAD, NULL, 0);
    check_chain("CNAME without data, no SOA: ask again", two, 2, 0, 0, 0, DNS_ANSWER_CNAME,
                "b.example.com", 0);
    check_chain("CNAME to NODATA with SOA", two, 2, 0, 0, 1, DNS_ANSWER_NODATA, "b.example.com",
                40);
    check_chain("CNAME to NXDOMAIN", two, 2, 0, 3, 1, DNS_ANSWER_NXDOMAIN, "b.example.com", 40);
    check_chain("NXDOMAIN with data is BAD", two, 2, 1, 3, 0, DNS_ANSWER_BAD, NULL, 0);
}

/* Flags that make an otherwise good answer unusable. */
static void test_bad_flags(void)
{
    static const struct {
        const char *what;
        unsigned flags;
        const char *reason;
    } cases[] = {
        {"query, not response", 0x0100, "not a response"},
        {"truncated", 0x8380, "truncated response"},
        {"opcode status", 0x9180, "opcode is not QUERY"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pkt p;
        struct dns_msg msg;
        struct dns_answer ans;
        char err[DNS_ERR_MAX];

        header(&p, cases[i].flags, 1, 1, 0, 0);
        question(&p, "example.com", DNS_TYPE_A);
        rr_a(&p, "example.com", 10, 1);
        CHECK_LONG(cases[i].what, parse(&p, &msg, err), 0);
        dns_msg_answer(&msg, "example.com", DNS_TYPE_A, DNS_CNAME_MAX, &ans);
        CHECK_LONG(cases[i].what, ans.kind, DNS_ANSWER_BAD);
        CHECK_STR(cases[i].what, ans.reason, cases[i].reason);
        dns_answer_free(&ans);
        dns_msg_free(&msg);
    }
}

/* ------------------------------------------------------------------------ */
/* Malformed packets: each builder makes one, parse must fail. */

typedef void (*builder)(struct pkt *p);

static void b_self_pointer(struct pkt *p)
{
    header(p, 0x8180, 1, 0, 0, 0);
    put_ptr(p, 12);
    put16(p, 1);
    put16(p, 1);
}

static void b_forward_pointer(struct pkt *p)
{
    header(p, 0x8180, 1, 0, 0, 0);
    put_ptr(p, 18);
    put16(p, 1);
    put16(p, 1);
    put_name(p, "x");
}

static void b_pointer_into_header(struct pkt *p)
{
    header(p, 0x8180, 1, 0, 0, 0);
    put_ptr(p, 4);
    put16(p, 1);
    put16(p, 1);
}

/* An answer owner "b" + pointer back to its own first label: a loop. */
static void b_label_then_own_pointer(struct pkt *p)
{
    size_t owner;

    header(p, 0x8180, 1, 1, 0, 0);
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

    header(p, 0x8180, 1, 1, 0, 0);
    first = p->len;                 /* question name: pointer to the answer name */
    put_ptr(p, 19);
    put16(p, 1);
    put16(p, 1);
    put8(p, 0);                     /* padding at 18 */
    put_ptr(p, first);              /* answer owner at 19 -> 12 -> 19 ... */
    rr_done(p, rr_fixed(p, DNS_TYPE_A, 1));
}

static void b_label_type_40(struct pkt *p)
{
    header(p, 0x8180, 1, 0, 0, 0);
    put8(p, 0x41);
    put8(p, 'a');
    put8(p, 0);
    put16(p, 1);
    put16(p, 1);
}

static void b_label_type_80(struct pkt *p)
{
    header(p, 0x8180, 1, 0, 0, 0);
    put8(p, 0x81);
    put8(p, 'a');
    put8(p, 0);
    put16(p, 1);
    put16(p, 1);
}

static void long_name(char *out, size_t labels, size_t last)
{
    out[0] = 0;
    for (size_t i = 0; i < labels; i++) {
        size_t n = i + 1 < labels ? 63 : last;
        size_t len = strlen(out);

        if (len > 0)
            out[len++] = '.';
        memset(out + len, 'a' + (int)(i % 26), n);
        out[len + n] = 0;
    }
}

static void b_name_256(struct pkt *p)
{
    char name[300];

    long_name(name, 4, 62);         /* 3*64 + 63 + 1 = 256 */
    header(p, 0x8180, 1, 0, 0, 0);
    question(p, name, DNS_TYPE_A);
}

/* 254 bytes in the question, one more label added by compression. */
static void b_name_long_by_pointer(struct pkt *p)
{
    char name[300];

    long_name(name, 4, 60);         /* 3*64 + 61 + 1 = 254 */
    header(p, 0x8180, 1, 1, 0, 0);
    question(p, name, DNS_TYPE_A);
    put_labels(p, "x", 0);          /* 2 + 254 = 256 */
    put_ptr(p, 12);
    rr_done(p, rr_fixed(p, DNS_TYPE_A, 1));
}

static void b_a_rdlength_5(struct pkt *p)
{
    size_t at;

    header(p, 0x8180, 1, 1, 0, 0);
    question(p, "a", DNS_TYPE_A);
    put_ptr(p, 12);
    at = rr_fixed(p, DNS_TYPE_A, 1);
    put32(p, 0x01020304);
    put8(p, 5);
    rr_done(p, at);
}

static void b_aaaa_rdlength_4(struct pkt *p)
{
    size_t at;

    header(p, 0x8180, 1, 1, 0, 0);
    question(p, "a", DNS_TYPE_AAAA);
    put_ptr(p, 12);
    at = rr_fixed(p, DNS_TYPE_AAAA, 1);
    put32(p, 0x01020304);
    rr_done(p, at);
}

/* MX whose exchange runs past RDLENGTH (which is set 2 bytes short). */
static void b_mx_past_rdata(struct pkt *p)
{
    size_t at;

    header(p, 0x8180, 1, 1, 0, 0);
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

    header(p, 0x8180, 1, 1, 0, 0);
    question(p, "a", DNS_TYPE_MX);
    put_ptr(p, 12);
    at = rr_fixed(p, DNS_TYPE_MX, 1);
    put16(p, 10);
    put_name(p, "mx");
    put8(p, 7);
    rr_done(p, at);
}

static void b_mx_short(struct pkt *p)
{
    size_t at;

    header(p, 0x8180, 1, 1, 0, 0);
    question(p, "a", DNS_TYPE_MX);
    put_ptr(p, 12);
    at = rr_fixed(p, DNS_TYPE_MX, 1);
    put16(p, 10);
    rr_done(p, at);
}

static void b_soa_short(struct pkt *p)
{
    size_t at;

    header(p, 0x8180, 1, 0, 1, 0);
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
    build_mx(p);
    put8(p, 0);
}

static void b_two_questions(struct pkt *p)
{
    header(p, 0x8180, 2, 0, 0, 0);
    question(p, "a", DNS_TYPE_A);
    question(p, "b", DNS_TYPE_A);
}

static void b_huge_count(struct pkt *p)
{
    header(p, 0x8180, 1, 65535, 65535, 65535);
    question(p, "a", DNS_TYPE_A);
    rr_a(p, "a", 1, 1);
}

static void b_short_header(struct pkt *p)
{
    header(p, 0x8180, 0, 0, 0, 0);
    p->len = 11;
}

static void b_rdlength_past_end(struct pkt *p)
{
    size_t at;

    header(p, 0x8180, 1, 1, 0, 0);
    question(p, "a", DNS_TYPE_TXT);
    put_ptr(p, 12);
    at = rr_fixed(p, DNS_TYPE_TXT, 1);
    put8(p, 3);
    put8(p, 'a');
    rr_done(p, at);
    p->b[at + 1] = 9;
}

static void test_malformed(void)
{
    static const struct {
        const char *what;
        builder build;
        const char *reason_part;
    } cases[] = {
        {"self pointer", b_self_pointer, "bad compression pointer"},
        {"forward pointer", b_forward_pointer, "bad compression pointer"},
        {"pointer into header", b_pointer_into_header, "bad compression pointer"},
        {"label then own pointer", b_label_then_own_pointer, "bad compression pointer"},
        {"pointer ping-pong", b_pointer_ping_pong, "bad compression pointer"},
        {"label type 0x40", b_label_type_40, "unsupported label type"},
        {"label type 0x80", b_label_type_80, "unsupported label type"},
        {"name of 256 bytes", b_name_256, "longer than 255"},
        {"name too long through a pointer", b_name_long_by_pointer, "longer than 255"},
        {"A with 5 bytes", b_a_rdlength_5, "A record with RDLENGTH 5"},
        {"AAAA with 4 bytes", b_aaaa_rdlength_4, "AAAA record with RDLENGTH 4"},
        {"MX name past RDATA", b_mx_past_rdata, "runs past RDATA"},
        {"MX extra byte", b_mx_extra_byte, "unused bytes"},
        {"MX without name", b_mx_short, "MX record with RDLENGTH 2"},
        {"SOA 19 bytes of numbers", b_soa_short, "SOA RDATA"},
        {"trailing byte", b_trailing_byte, "bytes after the last record"},
        {"two questions", b_two_questions, "2 questions"},
        {"huge counts", b_huge_count, "cannot hold them"},
        {"short header", b_short_header, "shorter than"},
        {"RDLENGTH past the end", b_rdlength_past_end, "runs past the end"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pkt p;
        struct dns_msg msg;
        char err[DNS_ERR_MAX];
        int ret;

        cases[i].build(&p);
        ret = parse(&p, &msg, err);
        CHECK_LONG(cases[i].what, ret, -1);
        if (ret == -1 && strstr(err, cases[i].reason_part) == NULL)
            CHECK_STR(cases[i].what, err, cases[i].reason_part);
        CHECK_TRUE("nothing left after failure", msg.rrs == NULL && msg.qname == NULL);
        dns_msg_free(&msg);
    }
}

/* Names: the longest legal name, escapes, case, TTL top bit, opaque types. */
static void test_names_and_values(void)
{
    struct pkt p;
    struct dns_msg msg;
    char err[DNS_ERR_MAX];
    char name[300];
    size_t at;

    long_name(name, 4, 61);         /* 3*64 + 62 + 1 = 255 */
    header(&p, 0x8180, 1, 0, 0, 0);
    question(&p, name, DNS_TYPE_A);
    CHECK_LONG("255-byte name accepted", parse(&p, &msg, err), 0);
    CHECK_LONG("255-byte name text", msg.qname ? strlen(msg.qname) : 0, 253);
    dns_msg_free(&msg);

    header(&p, 0x8180, 1, 2, 0, 1);
    put8(&p, 3);                    /* "A.b" as one label */
    put8(&p, 'A');
    put8(&p, '.');
    put8(&p, 'b');
    put8(&p, 4);                    /* NUL, space, backslash, 0xff */
    put8(&p, 0);
    put8(&p, ' ');
    put8(&p, '\\');
    put8(&p, 0xff);
    put_name(&p, "COM");
    put16(&p, DNS_TYPE_TXT);
    put16(&p, DNS_CLASS_IN);
    rr_a(&p, "Host.Example", 0x80000001UL, 7);
    put_ptr(&p, 12);                /* opaque TXT */
    at = rr_fixed(&p, DNS_TYPE_TXT, 5);
    put8(&p, 2);
    put8(&p, 'h');
    put8(&p, 'i');
    rr_done(&p, at);
    put8(&p, 0);                    /* OPT in additional */
    at = rr_fixed(&p, DNS_TYPE_OPT, 0);
    rr_done(&p, at);
    p.b[at - 6] = 0x10;             /* class = UDP size 4096 */
    p.b[at - 5] = 0x00;
    CHECK_LONG("escapes parse", parse(&p, &msg, err), 0);
    CHECK_STR("escaped name", msg.qname, "a\\.b.\\000\\032\\\\\\255.com");
    CHECK_STR("lower case owner", msg.answer[0].name, "host.example");
    CHECK_LONG("ttl with top bit is 0", msg.answer[0].ttl, 0);
    CHECK_LONG("opaque rdlength", msg.answer[1].rdlength, 3);
    CHECK_LONG("opt in additional", msg.ar_count, 1);
    CHECK_STR("opt owner is the root", msg.additional[0].name, ".");
    CHECK_TRUE("escaped name is no host name", !dns_name_is_hostname(msg.qname));
    dns_msg_free(&msg);

    /* No question at all (e.g. a FORMERR): parses, answer says BAD. */
    header(&p, 0x8181, 0, 0, 0, 0);
    CHECK_LONG("no question parses", parse(&p, &msg, err), 0);
    CHECK_LONG("no question", msg.has_question, 0);
    {
        struct dns_answer ans;

        dns_msg_answer(&msg, "a", DNS_TYPE_A, DNS_CNAME_MAX, &ans);
        CHECK_LONG("no question is BAD", ans.kind, DNS_ANSWER_BAD);
        dns_answer_free(&ans);
    }
    dns_msg_free(&msg);
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
        {"a.com.", 0},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", 1},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", 0},
    };
    static const struct {
        const char *in;
        const char *out;            /* NULL: error */
    } norm[] = {
        {"Example.COM.", "example.com"}, {"mx.example.com", "mx.example.com"}, {".", NULL},
        {"", NULL}, {"a b", NULL}, {"example.com..", NULL}, {"[1.2.3.4]", NULL},
    };
    static const struct {
        const char *name, *zone;
        int in;
    } zones[] = {
        {"a.example.com", "example.com", 1}, {"example.com", "example.com", 1},
        {"badexample.com", "example.com", 0}, {"x", ".", 1},
        {"a\\.example.com", "example.com", 0}, {"a\\\\.example.com", "example.com", 1},
        {"example.com", "a.example.com", 0},
    };
    char out[300], err[DNS_ERR_MAX];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_LONG(cases[i].name, dns_name_is_hostname(cases[i].name), cases[i].ok);
    for (size_t i = 0; i < sizeof(norm) / sizeof(norm[0]); i++) {
        int ret = dns_name_normalise(norm[i].in, out, sizeof(out), err, sizeof(err));

        CHECK_LONG(norm[i].in, ret, norm[i].out ? 0 : -1);
        if (norm[i].out)
            CHECK_STR(norm[i].in, out, norm[i].out);
        else
            CHECK_TRUE("normalise error has a reason", err[0] != 0);
    }
    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
        CHECK_LONG(zones[i].name, dns_name_in_zone(zones[i].name, zones[i].zone), zones[i].in);
}

static void test_type_names(void)
{
    char buf[32];

    CHECK_STR("type MX", dns_type_name(DNS_TYPE_MX, buf, sizeof(buf)), "MX");
    CHECK_STR("type 99", dns_type_name(99, buf, sizeof(buf)), "TYPE99");
    CHECK_STR("rcode 3", dns_rcode_name(3, buf, sizeof(buf)), "NXDOMAIN");
    CHECK_STR("rcode 9", dns_rcode_name(9, buf, sizeof(buf)), "RCODE9");
}

int main(void)
{
    test_mx();
    test_truncations();
    test_cname_and_soa();
    test_negative();
    test_chains();
    test_bad_flags();
    test_malformed();
    test_names_and_values();
    test_hostnames();
    test_type_names();
    return check_finish("test_dns_msg");
}
