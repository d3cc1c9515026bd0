/*
 * fuzz_dns_msg.c - parse arbitrary bytes as a DNS response, then interpret
 * the answer for the message's own question and for MX/A/AAAA.
 * Checks: a failure always has a reason; every name is bounded, printable
 * and free of spaces; section arrays match the counts; an answer's records
 * really are of the asked type and owned by final_name; the chain never
 * exceeds its limit; TTLs never have the top bit set.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *name)
{
    size_t n;

    if (name == NULL)
        abort();
    n = strlen(name);
    if (n == 0 || n >= DNS_NAME_TEXT_MAX)
        abort();
    for (size_t i = 0; i < n; i++)
        if (name[i] <= ' ' || name[i] > '~' || name[i] == '"' || (name[i] >= 'A' && name[i] <= 'Z'))
            abort();
}

static void check_rr(const struct dns_rr *rr)
{
    check_name(rr->name);
    if (rr->ttl & 0x80000000U)
        abort();
    if (rr->type == DNS_TYPE_CNAME)
        check_name(rr->u.target);
    if (rr->type == DNS_TYPE_MX)
        check_name(rr->u.mx.exchange);
    if (rr->type == DNS_TYPE_SOA) {
        check_name(rr->u.soa.mname);
        check_name(rr->u.soa.rname);
    }
}

static void check_answer(const struct dns_msg *msg, const char *qname, uint16_t qtype)
{
    struct dns_answer ans;

    dns_msg_answer(msg, qname, qtype, DNS_CNAME_MAX, &ans);
    if (ans.chain_len > DNS_CNAME_MAX || ans.final_name == NULL)
        abort();
    if ((ans.kind == DNS_ANSWER_BAD || ans.kind == DNS_ANSWER_SERVER_ERROR) && ans.reason[0] == 0)
        abort();
    if (ans.kind == DNS_ANSWER_DATA && ans.record_count == 0)
        abort();
    for (size_t i = 0; i < ans.record_count; i++) {
        if (ans.records[i]->type != qtype || strcmp(ans.records[i]->name, ans.final_name) != 0)
            abort();
        if (ans.ttl > ans.records[i]->ttl)
            abort();
    }
    for (size_t i = 0; i < ans.chain_len; i++)
        if (ans.kind == DNS_ANSWER_DATA && ans.ttl > ans.chain[i]->ttl)
            abort();
    dns_answer_free(&ans);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dns_msg msg;
    char err[DNS_ERR_MAX];
    size_t total;

    if (dns_msg_parse(data, size, &msg, err, sizeof(err)) < 0) {
        if (err[0] == 0 || msg.rrs != NULL || msg.qname != NULL)
            abort();
        dns_msg_free(&msg);
        return 0;
    }
    total = msg.an_count + msg.ns_count + msg.ar_count;
    if (total > 0 && (msg.rrs == NULL || msg.answer != msg.rrs))
        abort();
    for (size_t i = 0; i < total; i++)
        check_rr(&msg.rrs[i]);
    if (msg.has_question) {
        check_name(msg.qname);
        check_answer(&msg, msg.qname, msg.qtype);
        check_answer(&msg, msg.qname, DNS_TYPE_MX);
        check_answer(&msg, msg.qname, DNS_TYPE_A);
        check_answer(&msg, msg.qname, DNS_TYPE_AAAA);
    } else {
        check_answer(&msg, "example.com", DNS_TYPE_MX);
    }
    dns_msg_free(&msg);
    return 0;
}
