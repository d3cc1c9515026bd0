/*
 * showq_select.c - which messages a showq request is about.
 *
 * A request may name (mail_proto.h): queue (a state name), sender,
 * recipient, domain, reason (PCRE2 patterns) and older, newer (seconds of
 * age). A message matches when every condition given holds:
 *
 *   queue      its state is that one. Without it every state but corrupt
 *              (damaged files are not mail waiting for delivery).
 *   sender     the pattern matches the envelope sender ("" for the null
 *              sender).
 *   recipient, domain, reason
 *              at least one pending recipient satisfies all of those given
 *              (the same recipient): the pattern matches its address, the
 *              domain of its address (after the last '@'), its last delay
 *              reason ("" when it has none).
 *   older      its age (now - arrival) is at least that many seconds;
 *   newer      its age is less than that many seconds (so --older=X and
 *              --newer=X split the queue in two).
 *
 * Patterns are compiled once per request, caseless (write (?-i) to turn
 * that off), without UTF mode (addresses may hold any byte), with JIT when
 * available, and matched under a match limit and a depth limit so that no
 * pattern can make showq spin: a match that hits a limit counts as no match
 * (and is counted in match_errors).
 *
 * Memory: struct showq_select owns its compiled patterns, match data and
 * match context; showq_select_free releases them.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "errtext.h"
#include "mail_proto.h"
#include "queue_dir.h"
#include "showq.h"

#define SELECT_MATCH_LIMIT 100000
#define SELECT_DEPTH_LIMIT 10000

static const char *const field_attr[SHOWQ_SEL_FIELDS] = {
    [SHOWQ_SEL_SENDER] = MAIL_ATTR_SENDER,
    [SHOWQ_SEL_RECIPIENT] = MAIL_ATTR_RECIPIENT,
    [SHOWQ_SEL_DOMAIN] = MAIL_ATTR_DOMAIN,
    [SHOWQ_SEL_REASON] = MAIL_ATTR_REASON,
};

const char *showq_select_addr_domain(const char *addr, size_t len, size_t *dlen)
{
    const char *at = memrchr(addr, '@', len);

    if (at == NULL) {
        *dlen = 0;
        return addr + len;
    }
    *dlen = len - (size_t)(at + 1 - addr);
    return at + 1;
}

static int compile_field(struct showq_select *sel, enum showq_select_field f,
                         const char *pattern, char *err, size_t errlen)
{
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re;

    re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_CASELESS,
                       &code, &offset, NULL);
    if (re == NULL) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", code);
        errtext_set(err, errlen, "bad %s pattern \"%.100s\": %s at offset %zu",
                    field_attr[f], pattern, (const char *)msg, (size_t)offset);
        return -1;
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    sel->re[f] = re;
    sel->md[f] = pcre2_match_data_create_from_pattern(re, NULL);
    if (sel->md[f] == NULL) {
        errtext_set(err, errlen, "out of memory for the %s pattern", field_attr[f]);
        return -1;
    }
    return 0;
}

static int get_age(const struct attr_msg *req, const char *name, long *value,
                   char *err, size_t errlen)
{
    *value = -1;
    if (attr_get(req, name) == NULL)
        return 0;
    if (attr_get_long(req, name, value) < 0 || *value < 0) {
        errtext_set(err, errlen, "bad %s value (want seconds)", name);
        return -1;
    }
    return 0;
}

int showq_select_init(struct showq_select *sel, const struct attr_msg *req, char *err,
                      size_t errlen)
{
    const char *queue = attr_get(req, MAIL_ATTR_QUEUE);

    memset(sel, 0, sizeof(*sel));
    sel->state = -1;
    sel->now = time(NULL);
    if (queue != NULL) {
        sel->state = queue_state_from_name(queue);
        if (sel->state < 0) {
            errtext_set(err, errlen, "unknown queue \"%.40s\" (incoming, active, deferred, "
                        "hold or corrupt)", queue);
            return -1;
        }
    }
    if (get_age(req, MAIL_ATTR_OLDER, &sel->older, err, errlen) < 0
        || get_age(req, MAIL_ATTR_NEWER, &sel->newer, err, errlen) < 0)
        return -1;
    sel->mctx = pcre2_match_context_create(NULL);
    if (sel->mctx == NULL) {
        errtext_set(err, errlen, "out of memory");
        return -1;
    }
    pcre2_set_match_limit(sel->mctx, SELECT_MATCH_LIMIT);
    pcre2_set_depth_limit(sel->mctx, SELECT_DEPTH_LIMIT);
    for (int f = 0; f < SHOWQ_SEL_FIELDS; f++) {
        const char *pattern = attr_get(req, field_attr[f]);
        if (pattern != NULL
            && compile_field(sel, (enum showq_select_field)f, pattern, err, errlen) < 0)
            return -1;
    }
    return 0;
}

void showq_select_free(struct showq_select *sel)
{
    for (int f = 0; f < SHOWQ_SEL_FIELDS; f++) {
        pcre2_match_data_free(sel->md[f]);
        pcre2_code_free(sel->re[f]);
        sel->md[f] = NULL;
        sel->re[f] = NULL;
    }
    pcre2_match_context_free(sel->mctx);
    sel->mctx = NULL;
}

int showq_select_state_only(const struct showq_select *sel)
{
    for (int f = 0; f < SHOWQ_SEL_FIELDS; f++)
        if (sel->re[f] != NULL)
            return 0;
    return sel->older < 0 && sel->newer < 0;
}

int showq_select_has_rcpt_conditions(const struct showq_select *sel)
{
    return sel->re[SHOWQ_SEL_RECIPIENT] || sel->re[SHOWQ_SEL_DOMAIN]
        || sel->re[SHOWQ_SEL_REASON];
}

/* Does field f's pattern match? (1 when there is no pattern.) */
static int field_match(struct showq_select *sel, enum showq_select_field f, const char *s,
                       size_t len)
{
    int rc;

    if (sel->re[f] == NULL)
        return 1;
    rc = pcre2_match(sel->re[f], (PCRE2_SPTR)s, len, 0, 0, sel->md[f], sel->mctx);
    if (rc >= 0)
        return 1;
    if (rc != PCRE2_ERROR_NOMATCH)
        sel->match_errors++;
    return 0;
}

int showq_select_rcpt_match(struct showq_select *sel, const struct qindex_rcpt *r)
{
    size_t dlen;
    const char *domain;

    if (!field_match(sel, SHOWQ_SEL_RECIPIENT, r->address, r->address_len))
        return 0;
    if (sel->re[SHOWQ_SEL_DOMAIN] != NULL) {
        domain = showq_select_addr_domain(r->address, r->address_len, &dlen);
        if (!field_match(sel, SHOWQ_SEL_DOMAIN, domain, dlen))
            return 0;
    }
    return field_match(sel, SHOWQ_SEL_REASON, r->reason, r->reason_len);
}

int showq_select_match(struct showq_select *sel, const struct qindex_entry *entry)
{
    long age = (long)(sel->now - entry->arrival.tv_sec);

    if (sel->state >= 0 ? (int)entry->state != sel->state : entry->state == QUEUE_CORRUPT)
        return 0;
    if (sel->older >= 0 && age < sel->older)
        return 0;
    if (sel->newer >= 0 && age >= sel->newer)
        return 0;
    if (!field_match(sel, SHOWQ_SEL_SENDER, entry->sender, entry->sender_len))
        return 0;
    if (!showq_select_has_rcpt_conditions(sel))
        return 1;
    for (size_t i = 0; i < entry->rcpt_count; i++)
        if (showq_select_rcpt_match(sel, &entry->rcpts[i]))
            return 1;
    return 0;
}
