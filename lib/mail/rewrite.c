/*
 * rewrite.c - canonical maps and virtual alias expansion (see rewrite.h).
 *
 * The three table lists are opened once and kept in one static struct for
 * the process. A lookup goes through dict_lookup_address(); the value is
 * split into addresses, each interpreted ("@other", extension put back) and
 * checked before anything uses it.
 *
 * Virtual expansion works on a stack of pending addresses (depth-first, so
 * an address's expansion keeps the place of the address, as in Postfix).
 * The number of leaves (pending + final, duplicates included) is held
 * under expansion_limit, which also bounds the work done for one recipient.
 *
 * Memory: the module owns the dicts; lists and traces own their strings;
 * every temporary string is freed before return.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "dict.h"
#include "errtext.h"
#include "params.h"
#include "rewrite.h"

static struct {
    struct dict *maps[3];       /* indexed by enum rewrite_map; NULL: none */
    char *delims;
    long expansion_limit;
    long recursion_limit;
} rw;

static const char *const map_names[3] = {
    "sender_canonical_maps",
    "recipient_canonical_maps",
    "virtual_alias_maps",
};

const char *rewrite_map_name(enum rewrite_map map)
{
    return map_names[map];
}

/* --- set-up --- */

void rewrite_end(void)
{
    for (size_t i = 0; i < 3; i++)
        rw.maps[i] = dict_close(rw.maps[i]);
    rw.delims = xfree(rw.delims);
}

static int list_is_empty(const char *list)
{
    if (list == NULL)
        return 1;
    for (; *list; list++)
        if (*list != ',' && !isspace((unsigned char)*list))
            return 0;
    return 1;
}

int rewrite_init_settings(const struct rewrite_settings *s, char *err, size_t errlen)
{
    const char *lists[3] = {
        s->sender_canonical_maps, s->recipient_canonical_maps, s->virtual_alias_maps
    };
    char derr[DICT_ERR_MAX];

    rewrite_end();
    for (size_t i = 0; i < 3; i++) {
        if (list_is_empty(lists[i]))
            continue;
        if (dict_open_list(lists[i], DICT_FLAG_NONE, &rw.maps[i], derr, sizeof(derr)) < 0) {
            errtext_set(err, errlen, "%s: %s", map_names[i], derr);
            rewrite_end();
            return -1;
        }
    }
    rw.delims = xstrdup(s->recipient_delimiter ? s->recipient_delimiter : "");
    rw.expansion_limit = s->expansion_limit < 1 ? 1 : s->expansion_limit;
    rw.recursion_limit = s->recursion_limit < 1 ? 1 : s->recursion_limit;
    return 0;
}

int rewrite_init(char *err, size_t errlen)
{
    struct rewrite_settings s = {
        .sender_canonical_maps = var_sender_canonical_maps,
        .recipient_canonical_maps = var_recipient_canonical_maps,
        .virtual_alias_maps = var_virtual_alias_maps,
        .recipient_delimiter = var_recipient_delimiter,
        .expansion_limit = var_virtual_alias_expansion_limit,
        .recursion_limit = var_virtual_alias_recursion_limit,
    };

    return rewrite_init_settings(&s, err, errlen);
}

int rewrite_active(void)
{
    return rw.maps[0] != NULL || rw.maps[1] != NULL || rw.maps[2] != NULL;
}

/* --- lists with duplicate removal --- */

void rewrite_list_init(struct rewrite_list *list)
{
    memset(list, 0, sizeof(*list));
}

void rewrite_list_reset(struct rewrite_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        list->addrs[i] = xfree(list->addrs[i]);
    list->count = 0;
    for (size_t i = 0; i < list->set_cap; i++)
        list->set[i] = xfree(list->set[i]);
    list->set_used = 0;
}

void rewrite_list_free(struct rewrite_list *list)
{
    rewrite_list_reset(list);
    xfree(list->addrs);
    xfree(list->set);
    rewrite_list_init(list);
}

static uint64_t hash_folded(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++) {
        h ^= (unsigned char)tolower((unsigned char)*s);
        h *= 1099511628211ULL;
    }
    return h;
}

/* The slot holding addr, or the empty slot where it belongs. */
static size_t set_slot(char *const *set, size_t cap, const char *addr)
{
    size_t i = (size_t)hash_folded(addr) & (cap - 1);

    while (set[i] != NULL && strcasecmp(set[i], addr) != 0)
        i = (i + 1) & (cap - 1);
    return i;
}

static void set_grow(struct rewrite_list *list)
{
    size_t cap = list->set_cap ? list->set_cap * 2 : 64;
    char **set = xcalloc(cap, sizeof(*set));

    for (size_t i = 0; i < list->set_cap; i++)
        if (list->set[i] != NULL)
            set[set_slot(set, cap, list->set[i])] = list->set[i];
    xfree(list->set);
    list->set = set;
    list->set_cap = cap;
}

int rewrite_list_has(const struct rewrite_list *list, const char *addr)
{
    if (list->set_cap == 0)
        return 0;
    return list->set[set_slot(list->set, list->set_cap, addr)] != NULL;
}

int rewrite_list_add(struct rewrite_list *list, const char *addr)
{
    size_t slot;

    if (rewrite_list_has(list, addr))
        return 0;
    if ((list->set_used + 1) * 10 > list->set_cap * 7)
        set_grow(list);
    slot = set_slot(list->set, list->set_cap, addr);
    list->set[slot] = xstrdup(addr);
    list->set_used++;
    list->addrs = xgrow(list->addrs, &list->cap, list->count + 1, sizeof(*list->addrs));
    list->addrs[list->count++] = xstrdup(addr);
    return 1;
}

/* --- traces --- */

void rewrite_trace_init(struct rewrite_trace *trace)
{
    memset(trace, 0, sizeof(*trace));
}

void rewrite_trace_free(struct rewrite_trace *trace)
{
    for (size_t i = 0; i < trace->count; i++) {
        struct rewrite_step *st = &trace->steps[i];
        xfree(st->in);
        xfree(st->where);
        xfree(st->key);
        xfree(st->value);
        xfree(st->out);
    }
    xfree(trace->steps);
    rewrite_trace_init(trace);
}

static struct rewrite_step *trace_add(struct rewrite_trace *trace, enum rewrite_step_kind kind,
                                      enum rewrite_map map, int depth, const char *in)
{
    struct rewrite_step *st;

    if (trace == NULL)
        return NULL;
    trace->steps = xgrow(trace->steps, &trace->cap, trace->count + 1, sizeof(*trace->steps));
    st = &trace->steps[trace->count++];
    memset(st, 0, sizeof(*st));
    st->kind = kind;
    st->map = map;
    st->depth = depth;
    st->in = xstrdup(in);
    return st;
}

void rewrite_step_format(const struct rewrite_step *st, char *buf, size_t len)
{
    const char *name = map_names[st->map];

    switch (st->kind) {
    case REWRITE_STEP_MATCH:
        snprintf(buf, len, "%s: <%s> -> %s (%s)", name, st->in, st->out ? st->out : "",
                 st->where ? st->where : "");
        break;
    case REWRITE_STEP_SELF:
        snprintf(buf, len, "%s: <%s> maps to itself: kept", name, st->in);
        break;
    case REWRITE_STEP_DUP:
        snprintf(buf, len, "%s: <%s> duplicate: removed", name, st->in);
        break;
    }
}

/* --- one lookup and its result --- */

/* A lookup's outcome: the addresses it yields (owned), or nothing found. */
struct mapped {
    char **addrs;
    size_t count, cap;
};

static void mapped_free(struct mapped *m)
{
    for (size_t i = 0; i < m->count; i++)
        xfree(m->addrs[i]);
    xfree(m->addrs);
    memset(m, 0, sizeof(*m));
}

/* user@domain, at most REWRITE_ADDR_MAX bytes of printable ASCII other
 * than white space, "<>()[],;:\"" outside the domain part. */
static const char *address_problem(const char *addr)
{
    size_t len = strlen(addr);
    const char *at = strrchr(addr, '@');

    if (len == 0)
        return "empty address";
    if (len > REWRITE_ADDR_MAX)
        return "address too long";
    for (const char *p = addr; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f)
            return "control character, space or non-ASCII byte in address";
        if (strchr("<>(),;\"\\", c) != NULL)
            return "address contains one of <>(),;\"\\";
    }
    if (at == NULL || at == addr || at[1] == '\0')
        return "not a user@domain address";
    return NULL;
}

/* Where the extension of addr's local part starts (its length if none). */
static size_t extension_start(const char *addr, size_t local_len)
{
    size_t ext;

    if (rw.delims == NULL || rw.delims[0] == '\0')
        return local_len;
    ext = strcspn(addr, rw.delims);
    if (ext == 0 || ext > local_len)
        return local_len;
    return ext;
}

/*
 * Interpret one result token for input address `in`. `form`: 0 the full
 * address matched, 1 the address without its extension, 2 "@domain".
 */
static char *interpret(const char *in, int form, const char *token)
{
    const char *at = strrchr(in, '@');
    size_t local_len = at ? (size_t)(at - in) : strlen(in);
    size_t ext = extension_start(in, local_len);
    const char *ext_text = in + ext;
    int ext_len = (int)(local_len - ext);

    if (token[0] == '@')
        return xasprintf("%.*s%s", (int)local_len, in, token);
    if (form == 1 && ext_len > 0) {
        const char *tat = strrchr(token, '@');
        if (tat != NULL)
            return xasprintf("%.*s%.*s%s", (int)(tat - token), token, ext_len, ext_text, tat);
    }
    return xstrdup(token);
}

static int is_list_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Look `addr` up in `map`. Returns DICT_FOUND (m filled, trace step added),
 * DICT_NOTFOUND, or a REWRITE_* error with err filled.
 */
static int map_lookup(enum rewrite_map map, const char *addr, int depth, struct mapped *m,
                      struct rewrite_trace *trace, char *err, size_t errlen)
{
    struct dict_result res;
    struct rewrite_step *st;
    const char *p;
    size_t out_len = 0;
    int form, rc;

    memset(m, 0, sizeof(*m));
    rc = dict_lookup_address(rw.maps[map], addr, rw.delims, &res);
    if (rc == DICT_NOTFOUND)
        return DICT_NOTFOUND;
    if (rc != DICT_FOUND) {
        errtext_set(err, errlen, "%s lookup of <%s> failed: %s", map_names[map], addr,
                    res.error ? res.error : "temporary failure");
        return REWRITE_TEMPFAIL;
    }
    form = res.key[0] == '@' && addr[0] != '@' ? 2 : strlen(res.key) != strlen(addr);
    st = trace_add(trace, REWRITE_STEP_MATCH, map, depth, addr);
    if (st != NULL) {
        st->where = xstrdup(res.where);
        st->key = xstrdup(res.key);
        st->value = xstrdup(res.value);
    }
    for (p = res.value; *p;) {
        size_t n;
        char *token, *out;
        const char *problem;

        while (*p && is_list_sep(*p))
            p++;
        if (*p == '\0')
            break;
        for (n = 0; p[n] && !is_list_sep(p[n]); n++)
            continue;
        token = xstrndup(p, n);
        p += n;
        out = interpret(addr, form, token);
        problem = address_problem(out);
        if (problem != NULL) {
            errtext_set(err, errlen, "%s: %s: bad result \"%.200s\" for <%s>: %s",
                        map_names[map], res.where, token, addr, problem);
            xfree(token);
            xfree(out);
            mapped_free(m);
            return REWRITE_BADRESULT;
        }
        xfree(token);
        m->addrs = xgrow(m->addrs, &m->cap, m->count + 1, sizeof(*m->addrs));
        m->addrs[m->count++] = out;
        out_len += strlen(out) + 2;
    }
    if (m->count == 0) {
        errtext_set(err, errlen, "%s: %s: empty result for <%s>", map_names[map], res.where,
                    addr);
        return REWRITE_BADRESULT;
    }
    if (st != NULL) {
        st->out = xmalloc(out_len + 1);
        st->out[0] = '\0';
        for (size_t i = 0; i < m->count; i++) {
            if (i > 0)
                strcat(st->out, ", ");
            strcat(st->out, m->addrs[i]);
        }
    }
    return DICT_FOUND;
}

/* --- canonical --- */

int rewrite_canonical(enum rewrite_map map, const char *addr, char **out,
                      struct rewrite_trace *trace, char *err, size_t errlen)
{
    char *cur = xstrdup(addr);

    *out = NULL;
    if (rw.maps[map] == NULL || addr[0] == '\0') {
        *out = cur;
        return REWRITE_OK;
    }
    for (int depth = 0;; depth++) {
        struct mapped m;
        int rc = map_lookup(map, cur, depth, &m, trace, err, errlen);

        if (rc == DICT_NOTFOUND)
            break;
        if (rc != DICT_FOUND) {
            xfree(cur);
            return rc;
        }
        if (m.count != 1) {
            errtext_set(err, errlen, "%s: %zu addresses for <%s>: a canonical map rewrites "
                        "one address to one", map_names[map], m.count, cur);
            mapped_free(&m);
            xfree(cur);
            return REWRITE_BADRESULT;
        }
        if (strcasecmp(m.addrs[0], cur) == 0) {
            /* Maps to itself (perhaps in another case): that is the answer. */
            xfree(cur);
            cur = m.addrs[0];
            m.addrs[0] = NULL;
            mapped_free(&m);
            break;
        }
        if (depth + 1 > REWRITE_CANONICAL_DEPTH) {
            errtext_set(err, errlen, "unreasonable %s nesting for <%s>: more than %d rewrites",
                        map_names[map], addr, REWRITE_CANONICAL_DEPTH);
            mapped_free(&m);
            xfree(cur);
            return REWRITE_LIMIT;
        }
        xfree(cur);
        cur = m.addrs[0];
        m.addrs[0] = NULL;
        mapped_free(&m);
    }
    *out = cur;
    return REWRITE_OK;
}

int rewrite_sender(const char *sender, char **out, struct rewrite_trace *trace,
                   char *err, size_t errlen)
{
    return rewrite_canonical(REWRITE_MAP_SENDER_CANONICAL, sender, out, trace, err, errlen);
}

/* --- virtual alias expansion --- */

struct pending {
    char *addr;
    int depth;
    int self;           /* maps to itself: final, not looked up again */
};

struct stack {
    struct pending *items;
    size_t count, cap;
};

static void stack_push(struct stack *s, char *addr, int depth, int self)
{
    s->items = xgrow(s->items, &s->cap, s->count + 1, sizeof(*s->items));
    s->items[s->count].addr = addr;
    s->items[s->count].depth = depth;
    s->items[s->count].self = self;
    s->count++;
}

static void stack_free(struct stack *s)
{
    for (size_t i = 0; i < s->count; i++)
        xfree(s->items[i].addr);
    xfree(s->items);
}

static void add_final(struct rewrite_list *list, const char *addr, int depth,
                      struct rewrite_trace *trace)
{
    if (!rewrite_list_add(list, addr))
        trace_add(trace, REWRITE_STEP_DUP, REWRITE_MAP_VIRTUAL, depth, addr);
}

static int expand_virtual(const char *rcpt, struct rewrite_list *list,
                          struct rewrite_trace *trace, char *err, size_t errlen)
{
    struct stack st = { NULL, 0, 0 };
    long leaves = 1;
    int rc = REWRITE_OK;

    stack_push(&st, xstrdup(rcpt), 0, 0);
    while (st.count > 0) {
        struct pending item = st.items[--st.count];
        struct mapped m;
        int found;

        if (item.self) {
            trace_add(trace, REWRITE_STEP_SELF, REWRITE_MAP_VIRTUAL, item.depth, item.addr);
            add_final(list, item.addr, item.depth, trace);
            xfree(item.addr);
            continue;
        }
        found = map_lookup(REWRITE_MAP_VIRTUAL, item.addr, item.depth, &m, trace, err, errlen);
        if (found == DICT_NOTFOUND) {
            add_final(list, item.addr, item.depth, trace);
            xfree(item.addr);
            continue;
        }
        if (found != DICT_FOUND) {
            xfree(item.addr);
            rc = found;
            break;
        }
        leaves += (long)m.count - 1;
        if (leaves > rw.expansion_limit) {
            errtext_set(err, errlen, "unreasonable virtual_alias_maps map expansion size for "
                        "<%s>: more than %ld addresses", rcpt, rw.expansion_limit);
            rc = REWRITE_LIMIT;
        } else if (item.depth >= rw.recursion_limit) {
            errtext_set(err, errlen, "unreasonable virtual_alias_maps map nesting for <%s>: "
                        "deeper than %ld", rcpt, rw.recursion_limit);
            rc = REWRITE_LIMIT;
        }
        if (rc != REWRITE_OK) {
            mapped_free(&m);
            xfree(item.addr);
            break;
        }
        /* Pushed in reverse, so the first result is expanded first. */
        for (size_t i = m.count; i-- > 0;) {
            int self = strcasecmp(m.addrs[i], item.addr) == 0;
            stack_push(&st, m.addrs[i], self ? item.depth : item.depth + 1, self);
            m.addrs[i] = NULL;
        }
        mapped_free(&m);
        xfree(item.addr);
    }
    stack_free(&st);
    return rc;
}

int rewrite_recipient(const char *rcpt, struct rewrite_list *list, struct rewrite_trace *trace,
                      char *err, size_t errlen)
{
    char *canon;
    int rc;

    rc = rewrite_canonical(REWRITE_MAP_RECIPIENT_CANONICAL, rcpt, &canon, trace, err, errlen);
    if (rc != REWRITE_OK)
        return rc;
    if (rw.maps[REWRITE_MAP_VIRTUAL] == NULL) {
        add_final(list, canon, 0, trace);
        xfree(canon);
        return REWRITE_OK;
    }
    rc = expand_virtual(canon, list, trace, err, errlen);
    xfree(canon);
    return rc;
}
