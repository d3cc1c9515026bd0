/*
 * dict.h - lookup tables: one interface for every "type:name" table.
 *
 * A table is named "type:name" wherever main.cf wants one (Postfix syntax):
 *
 *   lmdb:/etc/postern/transport      compiled by postmap from the text file
 *                                    into /etc/postern/transport.lmdb
 *   pcre:/etc/postern/header_checks  PCRE2 patterns, read when opened
 *   cidr:/etc/postern/clients        networks, first match wins
 *   inline:{ key=value, { key = text with spaces } }
 *   static:value   static:{ text with spaces }    every key -> value
 *
 * docs/tables.md describes every syntax. A list of tables (main.cf's
 * "transport_maps = lmdb:/a, pcre:/b") opens as one dict with
 * dict_open_list(): a lookup asks each table in order and the first answer
 * that is not DICT_NOTFOUND wins.
 *
 * Lookup outcomes are three different answers, never to be conflated:
 *   DICT_FOUND     the key has a value (res->value)
 *   DICT_NOTFOUND  the table was read and has no entry for the key
 *   DICT_TEMPFAIL  the table could not be read right now (file missing or
 *                  unreadable, a pattern hit the PCRE2 match limit, LMDB
 *                  error). Callers answer 4xx / defer; they never treat it
 *                  as "not found" and never let the mail pass.
 * Compare results with these names (switch or ==); never test them as
 * booleans: DICT_TEMPFAIL is non-zero too.
 *
 * Key folding (Postfix): fixed-string tables (lmdb, inline) fold the key to
 * lower case (ASCII) before the lookup, and their keys are stored folded;
 * pcre and cidr see the key as given (pcre patterns are case-insensitive
 * unless the 'i' flag toggles that off); static ignores the key.
 *
 * Which entry matched: every DICT_FOUND result names the entry in res->where,
 * for logs and the route tracer:
 *   "lmdb:/etc/postern/transport key=example.com"
 *   "pcre:/etc/postern/header_checks:12"     (file:line of the rule)
 *   "cidr:/etc/postern/clients:3"
 *   "inline:{...} key=example.com"
 *   "static:smtp:[relay.example]"
 *
 * Reloading: an lmdb table notices a rebuilt FILE.lmdb (postmap renames a
 * new file into place) within a second and reads the new one; pcre, cidr,
 * inline and static tables are read once, when opened (a daemon picks up
 * changes when it is restarted or re-opens the table).
 *
 * Memory and lifetimes:
 *   - dict_open*() returns a dict owned by the caller; free it with
 *     dict_close() (accepts NULL, returns NULL).
 *   - Every pointer in a struct dict_result (value, key, where, error) points
 *     into memory owned by the dict. It stays valid until the next lookup on
 *     the same dict (any of the dict_lookup* functions) or dict_close();
 *     copy it (xstrdup) to keep it longer.
 *   - The key passed in is only read during the call.
 *   - A dict is not thread-safe; daemons are single-threaded.
 *
 * Success convention: the open and iterate functions return 0 or -1 with
 * `err` filled (caller-supplied buffer, DICT_ERR_MAX is enough); file syntax
 * errors read "FILE:LINE: message". Lookups return DICT_FOUND,
 * DICT_NOTFOUND or DICT_TEMPFAIL. A TEMPFAIL is also logged (msg_warn) by
 * the table, at most once per change of state for a table that stays broken.
 */
#ifndef POSTERN_DICT_H
#define POSTERN_DICT_H

#include <stddef.h>

#define DICT_FOUND 1
#define DICT_NOTFOUND 0
#define DICT_TEMPFAIL (-1)

/* Buffer size for the err argument that holds any message in full. */
#define DICT_ERR_MAX 512

/* Flags for dict_open / dict_open_list. None are defined yet: pass 0.
 * Unknown bits make the open fail. */
#define DICT_FLAG_NONE 0

struct dict;

struct dict_result {
    const char *value;  /* DICT_FOUND: the value (may be "") */
    const char *key;    /* DICT_FOUND: the key form that matched, after folding
                         * and search order (e.g. "@example.com") */
    const char *where;  /* DICT_FOUND: which entry matched (see above) */
    const char *error;  /* DICT_TEMPFAIL: why, e.g. "pcre:/etc/x:4: match
                         * limit exceeded" */
};

/*
 * Open one table "type:name". Types: lmdb, pcre, cidr, inline, static.
 * Fails (-1, err) on an unknown type, a missing or unreadable file, a syntax
 * error anywhere in the file ("FILE:LINE: message"), bad inline syntax.
 * An lmdb table that is older than its source file opens with a warning.
 */
int dict_open(const char *spec, int flags, struct dict **dict, char *err, size_t errlen);

/*
 * Open a list of tables separated by commas and/or white space, as in
 * main.cf ("lmdb:/a, pcre:/b, inline:{ x=y, z=w }"); braces group. An empty
 * list opens a dict that never finds anything. Fails if any table fails.
 */
int dict_open_list(const char *list, int flags, struct dict **dict, char *err, size_t errlen);

/* Look up one key exactly (after the table's own folding). */
int dict_lookup(struct dict *dict, const char *key, struct dict_result *res);

/*
 * Postfix's search order for an email address (virtual/canonical/
 * sender-dependent maps; Postern has no local domains so the bare "user"
 * form is never tried):
 *     user+ext@domain, user@domain, @domain
 * The "user@domain" form (extension removed) is tried only when `delims` is
 * non-NULL and non-empty (recipient_delimiter) and the local part contains
 * one of its characters; the extension starts at the first such character.
 * The domain is the text after the last '@'. An address without '@' is
 * looked up as it is, and only that. The first form that is found (or a
 * TEMPFAIL) ends the search; res->key tells which form matched.
 */
int dict_lookup_address(struct dict *dict, const char *address, const char *delims,
                        struct dict_result *res);

/*
 * Postfix's transport_maps search order for a domain, e.g. "a.example.com":
 *   parent_matches_subdomains == 0:  a.example.com, .example.com, .com
 *   parent_matches_subdomains != 0:  a.example.com, example.com, com
 * i.e. without the flag only keys with a leading dot match subdomains; with
 * it a plain "example.com" key also matches every subdomain. The flag
 * should be set when the caller's parameter name (e.g. "transport_maps") is
 * listed in main.cf's parent_domain_matches_subdomains. A trailing dot is
 * ignored; an address literal ("[192.0.2.1]") is looked up as it is, only.
 * The wildcard "*" of transport(5) is the caller's last step, not done here.
 */
int dict_lookup_domain(struct dict *dict, const char *domain, int parent_matches_subdomains,
                       struct dict_result *res);

/*
 * Call fn(key, value, ctx) for every entry, in the table's order (lmdb: key
 * order; inline: as written). Stops when fn returns non-zero and returns
 * that value. Returns -1 with err when the table cannot be listed (pcre,
 * cidr, static, lists: "not supported") or cannot be read. key and value
 * are valid only during the call.
 */
typedef int (*dict_walk_fn)(const char *key, const char *value, void *ctx);
int dict_iterate(struct dict *dict, dict_walk_fn fn, void *ctx, char *err, size_t errlen);

/* The "type:name" text the dict was opened with (owned by the dict). */
const char *dict_spec(const struct dict *dict);

/* Close a table and free everything it owns. Accepts NULL; returns NULL. */
struct dict *dict_close(struct dict *dict);

#endif
