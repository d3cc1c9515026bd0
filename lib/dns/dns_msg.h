/*
 * dns_msg.h - read a DNS response message (RFC 1035 4), and interpret its
 * answer for one question (CNAME chain, data, negative answer).
 *
 * Postern reads DNS answers itself, rather than with c-ares' parsers, so
 * that the TTL of every record is known (c-ares 1.18's MX parser drops it).
 * c-ares only moves the bytes (see dns.h).
 *
 * What the parser checks (anything else is "malformed", -1 with a reason):
 *  - the 12-byte header; at most one question; every section holds exactly
 *    the number of records its header count says; no bytes after the last
 *    record;
 *  - names: label lengths within the message, total wire length <= 255
 *    (DNS_NAME_WIRE_MAX), only ordinary labels (no 0x40/0x80 label types),
 *    compression pointers that point past the header and strictly before
 *    the previous jump (so a chain of pointers cannot loop), at most
 *    DNS_PTR_HOPS_MAX pointer hops;
 *  - RDATA of class IN A (4 bytes), AAAA (16 bytes), and of MX, CNAME and
 *    SOA (names and numbers that fill RDLENGTH exactly). Other types are
 *    kept as opaque (type, class, ttl and rdlength only).
 * A TTL with the top bit set is read as 0 (RFC 2181 8).
 *
 * Names are given in presentation form without the trailing dot, in lower
 * case ("mx1.example.com"; the root is "."). A byte that is not a letter,
 * digit, '-', '_' or '*' is written as "\DDD" (decimal) and a '.' or '\'
 * inside a label as "\." / "\\", so a name never contains spaces, quotes or
 * control characters, and two names are equal exactly when strcmp() says so.
 *
 * Memory: dns_msg_parse() fills a caller-provided struct dns_msg whose
 * strings and record array are owned by it; dns_msg_free() releases them
 * (the struct itself is the caller's). dns_msg_answer() fills a struct
 * dns_answer that points into the dns_msg (valid while the message is) and
 * owns one array, released by dns_answer_free().
 *
 * Success convention: 0 ok, -1 error with err filled (see each function).
 */
#ifndef POSTERN_DNS_MSG_H
#define POSTERN_DNS_MSG_H

#include <stddef.h>
#include <stdint.h>

#define DNS_HEADER_SIZE 12
#define DNS_NAME_WIRE_MAX 255       /* RFC 1035 2.3.4, incl. length octets */
#define DNS_NAME_TEXT_MAX 1024      /* presentation form incl. NUL: 255 * 4 fits */
#define DNS_LABEL_MAX 63
#define DNS_PTR_HOPS_MAX 127        /* never more pointers than labels */
#define DNS_CNAME_MAX 8             /* longest CNAME chain we follow */
#define DNS_ERR_MAX 160             /* a good size for err buffers */

/* Record types Postern reads; others are kept opaque. */
enum {
    DNS_TYPE_A = 1,
    DNS_TYPE_NS = 2,
    DNS_TYPE_CNAME = 5,
    DNS_TYPE_SOA = 6,
    DNS_TYPE_PTR = 12,
    DNS_TYPE_MX = 15,
    DNS_TYPE_TXT = 16,
    DNS_TYPE_AAAA = 28,
    DNS_TYPE_OPT = 41,
};

#define DNS_CLASS_IN 1

enum {
    DNS_RCODE_NOERROR = 0,
    DNS_RCODE_FORMERR = 1,
    DNS_RCODE_SERVFAIL = 2,
    DNS_RCODE_NXDOMAIN = 3,
    DNS_RCODE_NOTIMP = 4,
    DNS_RCODE_REFUSED = 5,
};

struct dns_soa {
    char *mname;
    char *rname;
    uint32_t serial, refresh, retry, expire, minimum;
};

struct dns_mx_rdata {
    uint16_t pref;
    char *exchange;             /* "." for a null MX (RFC 7505) */
};

struct dns_rr {
    char *name;                 /* owner */
    uint16_t type;
    uint16_t rclass;
    uint32_t ttl;               /* seconds, 0..2^31-1 */
    uint16_t rdlength;
    /* Filled for class IN A/AAAA and for MX, CNAME, SOA; else zero. */
    union {
        unsigned char addr[16]; /* A: first 4 bytes; AAAA: 16 */
        struct dns_mx_rdata mx;
        char *target;           /* CNAME */
        struct dns_soa soa;
    } u;
};

struct dns_msg {
    uint16_t id;
    unsigned qr, opcode, aa, tc, rd, ra, rcode;
    int has_question;           /* 0 when QDCOUNT is 0 */
    char *qname;                /* NULL without a question */
    uint16_t qtype, qclass;
    struct dns_rr *rrs;         /* every record, in message order */
    size_t an_count, ns_count, ar_count;
    struct dns_rr *answer;      /* rrs[0 .. an_count) */
    struct dns_rr *authority;   /* the ns_count records after those */
    struct dns_rr *additional;  /* the ar_count records after those */
};

/*
 * Parse `len` bytes. Returns 0 and fills *msg, or -1 with err set (then
 * *msg holds nothing that needs freeing; dns_msg_free() is harmless).
 */
int dns_msg_parse(const unsigned char *buf, size_t len, struct dns_msg *msg,
                  char *err, size_t errlen);
/* Free what *msg holds and zero it. Accepts an all-zero struct. */
void dns_msg_free(struct dns_msg *msg);

/* How a response answers the question (qname, qtype). */
enum dns_answer_kind {
    DNS_ANSWER_DATA,            /* records of qtype for final_name */
    DNS_ANSWER_NXDOMAIN,        /* final_name does not exist */
    DNS_ANSWER_NODATA,          /* final_name exists, no record of qtype */
    DNS_ANSWER_CNAME,           /* chain ends at final_name with no data and no
                                 * negative proof (no SOA): ask for final_name */
    DNS_ANSWER_SERVER_ERROR,    /* RCODE other than NOERROR/NXDOMAIN: reason */
    DNS_ANSWER_BAD,             /* not a usable answer: reason */
};

struct dns_answer {
    enum dns_answer_kind kind;
    unsigned rcode;
    const char *final_name;     /* qname, or the last CNAME target */
    const struct dns_rr *chain[DNS_CNAME_MAX]; /* the CNAMEs followed, in order */
    size_t chain_len;
    const struct dns_rr **records; /* DATA: class IN records of qtype owned by final_name */
    size_t record_count;
    /*
     * DATA: the smallest TTL of the records and of the chain.
     * NXDOMAIN/NODATA with has_soa: the negative TTL of RFC 2308 5,
     * min(SOA TTL, SOA MINIMUM), and no more than the chain's TTLs.
     * Otherwise 0.
     */
    uint32_t ttl;
    /* 1 when the authority section has a class IN SOA whose owner is
     * final_name or one of its parent domains (only then is a negative
     * answer cacheable). */
    int has_soa;
    char reason[DNS_ERR_MAX];   /* for SERVER_ERROR and BAD */
};

/*
 * Interpret `msg` as the answer to (qname, qtype) of class IN, qname in
 * presentation form (lower case, no trailing dot). Follows CNAMEs inside
 * the answer section for at most `max_chain` links (<= DNS_CNAME_MAX).
 * BAD when: not a response (QR 0), opcode not QUERY, TC set, the question
 * differs from (qname, qtype, IN), two CNAMEs for one name, a CNAME loop,
 * a chain longer than max_chain, or NXDOMAIN together with data.
 * Always fills *ans (free with dns_answer_free()); never fails otherwise.
 */
void dns_msg_answer(const struct dns_msg *msg, const char *qname, uint16_t qtype,
                    size_t max_chain, struct dns_answer *ans);
void dns_answer_free(struct dns_answer *ans);

/*
 * Convert a name typed by a user or taken from an address ("Example.COM.")
 * to the presentation form used here ("example.com"): lower case, one
 * trailing dot removed. Accepts only host names: labels of letters, digits,
 * '-' and '_', 1..63 bytes, not starting or ending with '-', total <= 253,
 * last label not all digits (so an IP address is not a host name).
 * Returns 0 and writes `out` (outlen >= strlen(text)+1), or -1 with err.
 */
int dns_name_normalise(const char *text, char *out, size_t outlen, char *err, size_t errlen);
/* 1 when `name` (presentation form) is a host name as defined above. */
int dns_name_is_hostname(const char *name);
/* 1 when `name` equals `zone` or lies below it ("." contains every name). */
int dns_name_in_zone(const char *name, const char *zone);

/* "A", "MX", ... or "TYPE123" (static or per-call buffer; do not free). */
const char *dns_type_name(unsigned type, char *buf, size_t buflen);
/* "NOERROR", "NXDOMAIN", ... or "RCODE12". */
const char *dns_rcode_name(unsigned rcode, char *buf, size_t buflen);

#endif
