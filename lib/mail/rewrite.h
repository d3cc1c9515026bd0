/*
 * rewrite.h - envelope address rewriting: canonical maps and virtual
 * aliases, the same decisions for cleanup (which applies them) and for the
 * route tracer (which explains them).
 *
 * Order (Postfix cleanup):
 *   sender:     sender_canonical_maps
 *   recipient:  recipient_canonical_maps, then virtual_alias_maps
 * The null sender ("") is never rewritten. Postern has no local domains, so
 * the bare "user" lookup form is never tried and every result must be a
 * full user@domain address.
 *
 * Lookups use dict_lookup_address() (user+ext@domain, user@domain when
 * recipient_delimiter is set, @domain). A result is interpreted as:
 *   "@other"        the user part of the input address @other (without an
 *                   extension that the lookup did not match)
 *   "user@other"    that address
 * When the match needed the extension removed (key user@domain for input
 * user+ext@domain), the extension is put back after the user part of each
 * result: user+ext@domain -> bob+ext@other (Postfix's default
 * propagate_unmatched_extensions).
 *
 * Canonical maps are one to one: a result must hold exactly one address.
 * The result is looked up again until an address maps to itself or nothing
 * matches; more than REWRITE_CANONICAL_DEPTH rewrites is an error (a loop).
 *
 * virtual_alias_maps is one to many: a result is a list of addresses
 * separated by commas and/or white space. Each address of a result is
 * expanded again, except one equal (case-insensitively) to the address
 * looked up: an address that maps to itself is kept and not expanded
 * further ("user@example.com user@example.com, copy@example.net").
 * A whole domain is aliased with an "@domain" key. Duplicates are removed
 * (case-insensitive, first occurrence kept), also across recipients of one
 * rewrite_list. Limits: more than virtual_alias_expansion_limit addresses
 * for one recipient, or an expansion nested deeper than
 * virtual_alias_recursion_limit (also what a loop a -> b -> a ends in),
 * is an error: the message is deferred, as in Postfix ("unreasonable
 * virtual_alias_maps map expansion size/nesting").
 *
 * Errors (negative return codes, err filled, never silently passed):
 *   REWRITE_TEMPFAIL  a table could not be read (DICT_TEMPFAIL)
 *   REWRITE_LIMIT     an expansion limit was exceeded, or canonical
 *                     rewriting did not settle
 *   REWRITE_BADRESULT a table result is not usable (empty, not user@domain,
 *                     longer than REWRITE_ADDR_MAX, control characters,
 *                     several addresses from a canonical map)
 * Callers answer all three with a temporary failure (cleanup: 4.3.0, smtpd
 * says 451) and log err; the message is not accepted in part.
 *
 * Trace: when the caller passes a struct rewrite_trace, every table match
 * is recorded (map, address in, where it matched, key form, raw value,
 * address(es) out), and so are addresses kept because they map to
 * themselves and duplicates removed, for the route tracer and debug logs.
 *
 * Tables are opened once by rewrite_init() (from the var_* parameters) or
 * rewrite_init_settings() and kept for the process; a rebuilt lmdb table is
 * picked up by dict itself. Not thread-safe (one set of tables per process).
 *
 * Memory: every string in a rewrite_list or rewrite_trace is owned by it;
 * free them with rewrite_list_free() / rewrite_trace_free(). Strings passed
 * in are only read during the call.
 */
#ifndef POSTERN_REWRITE_H
#define POSTERN_REWRITE_H

#include <stddef.h>

#define REWRITE_OK 0
#define REWRITE_TEMPFAIL (-1)
#define REWRITE_LIMIT (-2)
#define REWRITE_BADRESULT (-3)

/* Longest address a table result may produce (RFC 5321 path limit). */
#define REWRITE_ADDR_MAX 254
/* Canonical rewrites of one address before giving up (Postfix: 10). */
#define REWRITE_CANONICAL_DEPTH 10
/* Enough for any message rewrite_* puts in err. */
#define REWRITE_ERR_MAX 1024

struct rewrite_settings {
    const char *sender_canonical_maps;      /* table lists ("" or NULL: none) */
    const char *recipient_canonical_maps;
    const char *virtual_alias_maps;
    const char *recipient_delimiter;        /* "" or NULL: no extensions */
    long expansion_limit;                   /* virtual_alias_expansion_limit */
    long recursion_limit;                   /* virtual_alias_recursion_limit */
};

/*
 * Open the tables named by the var_* parameters (sender_canonical_maps,
 * recipient_canonical_maps, virtual_alias_maps, recipient_delimiter and the
 * two virtual_alias limits). Replaces tables opened before. 0, or -1 with
 * err ("virtual_alias_maps: FILE:LINE: message") and no tables open.
 */
int rewrite_init(char *err, size_t errlen);
/* The same with explicit settings (tests, tools). Limits < 1 mean 1. */
int rewrite_init_settings(const struct rewrite_settings *settings, char *err, size_t errlen);
/* Close the tables (rewriting then changes nothing). */
void rewrite_end(void);
/* 1 when any rewriting table is configured, else 0. */
int rewrite_active(void);

/* Which table a trace step is about. */
enum rewrite_map {
    REWRITE_MAP_SENDER_CANONICAL,
    REWRITE_MAP_RECIPIENT_CANONICAL,
    REWRITE_MAP_VIRTUAL
};

enum rewrite_step_kind {
    REWRITE_STEP_MATCH,     /* a table entry matched: in -> out */
    REWRITE_STEP_SELF,      /* `in` maps to itself: kept, not expanded further */
    REWRITE_STEP_DUP        /* `in` was already a recipient: removed */
};

struct rewrite_step {
    enum rewrite_step_kind kind;
    enum rewrite_map map;
    int depth;              /* 0 for the address as given, +1 per expansion */
    char *in;               /* the address looked up */
    char *where;            /* MATCH: dict's res->where, e.g. "inline:{...} key=@a.example" */
    char *key;              /* MATCH: the key form that matched, e.g. "@a.example" */
    char *value;            /* MATCH: the table's value as written */
    char *out;              /* MATCH: resulting address(es), ", " separated */
};

struct rewrite_trace {
    struct rewrite_step *steps;
    size_t count, cap;
};

/* A list of distinct addresses (order kept: first occurrence). */
struct rewrite_list {
    char **addrs;
    size_t count, cap;
    /* private: case-folded hash set for duplicate removal */
    char **set;
    size_t set_cap, set_used;
};

/* Name of a map's parameter ("virtual_alias_maps", ...). */
const char *rewrite_map_name(enum rewrite_map map);

/*
 * Rewrite the envelope sender with sender_canonical_maps. On success *out
 * is a new string (the sender unchanged when nothing matched, "" for the
 * null sender); on failure *out is NULL. trace may be NULL.
 */
int rewrite_sender(const char *sender, char **out, struct rewrite_trace *trace,
                   char *err, size_t errlen);

/*
 * Rewrite one recipient (recipient_canonical_maps, then virtual_alias_maps)
 * and add the final address(es) to `list`, skipping addresses the list
 * already holds (recorded as REWRITE_STEP_DUP). On failure the list may
 * hold part of this recipient's expansion: the caller discards the
 * transaction. trace may be NULL.
 */
int rewrite_recipient(const char *rcpt, struct rewrite_list *list, struct rewrite_trace *trace,
                      char *err, size_t errlen);

/* Canonical rewriting only (one map), for the tracer and tests. */
int rewrite_canonical(enum rewrite_map map, const char *addr, char **out,
                      struct rewrite_trace *trace, char *err, size_t errlen);

/* Add an address unless the list has it already (case-insensitive).
 * Returns 1 when added, 0 when it was a duplicate. */
int rewrite_list_add(struct rewrite_list *list, const char *addr);
/* 1 when the list holds the address (case-insensitive). */
int rewrite_list_has(const struct rewrite_list *list, const char *addr);

/*
 * One step as a line of text (no newline), for logs and the tracer:
 *   "virtual_alias_maps: <a@x> -> b@y, c@z (inline:{...} key=a@x)"
 *   "virtual_alias_maps: <a@x> maps to itself: kept"
 *   "virtual_alias_maps: <a@x> duplicate: removed"
 * Truncated to fit len (at least 1).
 */
void rewrite_step_format(const struct rewrite_step *step, char *buf, size_t len);

void rewrite_list_init(struct rewrite_list *list);
/* Empty the list (keeping its memory for reuse). */
void rewrite_list_reset(struct rewrite_list *list);
void rewrite_list_free(struct rewrite_list *list);
void rewrite_trace_init(struct rewrite_trace *trace);
void rewrite_trace_free(struct rewrite_trace *trace);

#endif
