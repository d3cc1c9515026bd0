/*
 * smtp_cmd.h - the syntax of one SMTP command line as a server receives it.
 *
 * This module knows SMTP's verbs and the grammar of their arguments; it
 * knows nothing of a session (which verb is allowed when, pipelining,
 * replies other than syntax errors): that is the server's business (smtpd
 * keeps it in its verb table, smtpd/smtpd_cmd.c). Reading a line takes two
 * steps:
 *
 *   smtp_cmd_split()       bytes -> verb and the rest of the line: checks
 *                          every byte, the length, recognises the verb
 *   smtp_cmd_parse_X()     the rest -> arguments, one function per grammar
 *                          (none, text, hello name, MAIL path + params,
 *                          RCPT path + params, BDAT size); the caller picks
 *                          the one for the verb
 *
 * On a syntax error either step returns -1 with cmd->err set and cmd->reply
 * holding a complete SMTP reply line (no CRLF) that a server can send as
 * is, e.g. "501 5.1.7 Bad sender address syntax".
 *
 * What is accepted (everything else is an error):
 *   - Every byte of the line must be printable US-ASCII (0x20-0x7e). NUL,
 *     TAB and other control characters, DEL and 8-bit bytes are rejected with
 *     SMTP_CMD_ERR_BAD_CHAR "500 5.5.2 Error: bad syntax" (SMTPUTF8 is not
 *     offered). An empty line is SMTP_CMD_ERR_SYNTAX "500 5.5.2 Error: bad
 *     syntax" as well. A line longer than SMTP_CMD_LINE_MAX is
 *     SMTP_CMD_ERR_TOO_LONG "500 5.5.2 Error: command line too long".
 *   - Verbs are case-insensitive and must be followed by SP or the end of the
 *     line; anything else is SMTP_CMD_ERR_UNKNOWN
 *     "502 5.5.2 Error: command not recognized" (verb SMTP_VERB_UNKNOWN).
 *     The verb is recognised before the bytes are checked, so cmd->verb is
 *     set even when the rest of the line is bad.
 *   - Runs of SP between the verb and the argument and trailing SP are
 *     tolerated: cmd->rest is the text between them ("" when none).
 *   - Usage replies name the verb's grammar ("501 5.5.4 Syntax: VRFY
 *     address"), taken from the verb (cmd->verb), whichever parser ran.
 *   - smtp_cmd_parse_hello (EHLO/HELO): exactly one argument token (arg).
 *     helo_strict tells whether it is a syntactically valid domain or
 *     address literal; smtpd decides what to do with a sloppy one (most
 *     clients' bad names are harmless).
 *     Missing or more than one token: "501 5.5.4 Syntax: EHLO hostname".
 *   - smtp_cmd_parse_mail / smtp_cmd_parse_rcpt:
 *     MAIL FROM:<path> [SP params] / RCPT TO:<path> [SP params]: the "FROM:"
 *     / "TO:" keyword is case-insensitive and may be followed by spaces
 *     ("MAIL FROM: <a@b>" as Postfix tolerates). A missing or misspelt
 *     keyword or a missing path: "501 5.5.4 Syntax: MAIL FROM:<address>" /
 *     "501 5.5.4 Syntax: RCPT TO:<address>" (SMTP_CMD_ERR_SYNTAX).
 *     A bad path is SMTP_CMD_ERR_BAD_ADDR with
 *     "501 5.1.7 Bad sender address syntax" (MAIL) or
 *     "501 5.1.3 Bad recipient address syntax" (RCPT). Bad paths are: no
 *     angle brackets, anything but SP or end of line after '>', a local-part
 *     that is neither a dot-atom nor a valid quoted-string (e.g. unbalanced
 *     quotes), a local-part longer than 64 bytes (as on the wire), an address
 *     longer than 254 bytes (path limit 256 including the brackets), a domain
 *     that is not a dot-separated hostname (labels of letters, digits and
 *     inner hyphens, at most 63 bytes each, 255 in all, no trailing dot) nor an
 *     address literal [1.2.3.4] / [IPv6:...] checked with inet_pton, and the
 *     null path <> in RCPT.
 *     An address without a domain ("RCPT TO:<postmaster>") is accepted in
 *     MAIL and RCPT; smtp_addr_domain() then reports no domain and smtpd
 *     applies its own policy (Postmaster special case, RFC 5321 4.5.1).
 *     A source route "<@a,@b:user@c>" is ACCEPTED AND STRIPPED as RFC 5321
 *     4.1.1.3 / C asks: addr is "user@c" and addr_routed is 1. Each route
 *     domain must be valid; the whole path still counts toward the 256 limit.
 *   - ESMTP parameters: SP-separated "KEYWORD[=value]" with keyword
 *     (ALPHA/DIGIT) *(ALPHA/DIGIT/"-") and value 1*(0x21-0x7e except '=').
 *     At most SMTP_CMD_PARAMS_MAX; a malformed parameter, a repeated keyword
 *     or too many is SMTP_CMD_ERR_PARAM with a "501 5.5.4 ..." reply.
 *     MAIL understands SIZE=<1-20 digits, fits in uint64_t> and
 *     BODY=7BIT|8BITMIME (case-insensitive), validated, in size/body. Any other
 *     keyword (and any keyword at all for RCPT) is
 *     SMTP_CMD_ERR_UNSUPPORTED "555 5.5.4 Unsupported option: KEYWORD"; the
 *     parameter list and the address are still filled in.
 *   - smtp_cmd_parse_none (DATA, RSET, QUIT, STARTTLS): no argument, else
 *     "501 5.5.4 Syntax: DATA" etc. smtp_cmd_parse_text_optional (NOOP,
 *     HELP): an optional argument; smtp_cmd_parse_text (VRFY, EXPN, AUTH):
 *     a required one ("501 5.5.4 Syntax: VRFY address"); the text is kept
 *     verbatim (trailing SP removed) in arg.
 *   - smtp_cmd_parse_bdat: BDAT <chunk-size> [LAST]: size in bdat_size
 *     (1-20 digits, fits in uint64_t), bdat_last set for LAST
 *     (case-insensitive); else "501 5.5.4 Syntax: BDAT count [LAST]".
 *
 * Memory: struct smtp_cmd holds its own copy of the line; every pointer in it
 * (rest, arg, addr, params[].keyword/value) points into cmd->buf and stays
 * valid until the struct is split into again or goes away. A parser splits
 * cmd->rest in place, so call at most one parser per split. Do NOT copy the
 * struct by value and keep using the copy's pointers; xstrdup() what you
 * keep. Nothing is allocated, nothing needs freeing. The struct is about
 * 2.5 kB.
 *
 * Success convention: 0 ok, -1 error (err/reply set).
 */
#ifndef POSTERN_SMTP_CMD_H
#define POSTERN_SMTP_CMD_H

#include <stddef.h>
#include <stdint.h>

#define SMTP_CMD_LINE_MAX 2048      /* longest command line, without CRLF */
#define SMTP_CMD_PARAMS_MAX 16      /* ESMTP parameters per MAIL/RCPT */
#define SMTP_CMD_REPLY_MAX 160      /* size of cmd->reply incl. NUL */
#define SMTP_PATH_MAX 256           /* RFC 5321 4.5.3.1.3, incl. "<>" */
#define SMTP_ADDR_MAX 254           /* path limit minus the brackets */
#define SMTP_LOCAL_PART_MAX 64      /* RFC 5321 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX 255         /* RFC 5321 4.5.3.1.2 */

/* The verbs whose syntax this module knows (a server may offer fewer). */
enum smtp_verb {
    SMTP_VERB_UNKNOWN = 0,
    SMTP_VERB_EHLO,
    SMTP_VERB_HELO,
    SMTP_VERB_MAIL,
    SMTP_VERB_RCPT,
    SMTP_VERB_DATA,
    SMTP_VERB_RSET,
    SMTP_VERB_NOOP,
    SMTP_VERB_QUIT,
    SMTP_VERB_HELP,
    SMTP_VERB_VRFY,
    SMTP_VERB_EXPN,
    SMTP_VERB_STARTTLS,
    SMTP_VERB_BDAT,
    SMTP_VERB_AUTH,
    SMTP_VERB_COUNT             /* how many values above; not a verb */
};

enum smtp_cmd_err {
    SMTP_CMD_OK = 0,
    SMTP_CMD_ERR_BAD_CHAR,      /* 500 5.5.2 Error: bad syntax */
    SMTP_CMD_ERR_TOO_LONG,      /* 500 5.5.2 Error: command line too long */
    SMTP_CMD_ERR_UNKNOWN,       /* 502 5.5.2 Error: command not recognized */
    SMTP_CMD_ERR_SYNTAX,        /* 500 5.5.2 bad syntax (empty line) or
                                 * 501 5.5.4 Syntax: <usage> */
    SMTP_CMD_ERR_BAD_ADDR,      /* 501 5.1.7 (MAIL) / 501 5.1.3 (RCPT) */
    SMTP_CMD_ERR_PARAM,         /* 501 5.5.4 bad parameter syntax/value */
    SMTP_CMD_ERR_UNSUPPORTED    /* 555 5.5.4 Unsupported option: X */
};

enum smtp_body {
    SMTP_BODY_NONE = 0,         /* no BODY= parameter */
    SMTP_BODY_7BIT,
    SMTP_BODY_8BITMIME
};

struct smtp_param {
    const char *keyword;        /* as received (case kept) */
    const char *value;          /* NULL when there was no "=value" */
};

struct smtp_cmd {
    enum smtp_verb verb;        /* set whenever the verb was recognised,
                                 * even when the rest is bad */
    enum smtp_cmd_err err;      /* SMTP_CMD_OK on success */
    char reply[SMTP_CMD_REPLY_MAX]; /* suggested reply on error, else "" */

    const char *rest;           /* after the verb, SP trimmed both sides ("" if
                                 * none); NULL when the split failed */

    const char *arg;            /* EHLO/HELO name; NOOP/HELP/VRFY/EXPN/AUTH
                                 * text; NULL when absent / other verbs */
    int helo_strict;            /* EHLO/HELO: arg is domain or addr literal */

    const char *addr;           /* MAIL/RCPT: address without <>, "" for the
                                 * null sender; NULL for other verbs or when
                                 * the path could not be parsed */
    int addr_routed;            /* a source route was present and stripped */
    size_t n_params;
    struct smtp_param params[SMTP_CMD_PARAMS_MAX];
    int has_size;               /* MAIL: SIZE= given */
    uint64_t size;              /* MAIL: SIZE value, 0 when absent */
    enum smtp_body body;        /* MAIL: BODY value */
    const char *unsupported;    /* first unsupported keyword, else NULL */

    uint64_t bdat_size;         /* BDAT chunk size */
    int bdat_last;              /* BDAT ... LAST */

    char buf[SMTP_CMD_LINE_MAX + 1]; /* private: storage for the pointers */
};

/*
 * Split `len` bytes at `line` (no CRLF; any bytes) into the verb and the
 * rest. Always fully resets *cmd first. Returns 0 when the line is
 * printable, not too long and starts with a known verb; -1 otherwise with
 * cmd->err and cmd->reply set (and cmd->verb when it was recognised).
 */
int smtp_cmd_split(struct smtp_cmd *cmd, const char *line, size_t len);

/*
 * The argument parsers: each reads cmd->rest after a successful
 * smtp_cmd_split() and returns 0 when it fits the grammar, -1 otherwise
 * with cmd->err and cmd->reply set. After a failed split they return -1 and
 * leave the split's error alone.
 */
typedef int (*smtp_cmd_parse_fn)(struct smtp_cmd *cmd);

int smtp_cmd_parse_none(struct smtp_cmd *cmd);          /* no argument */
int smtp_cmd_parse_text(struct smtp_cmd *cmd);          /* required text: arg */
int smtp_cmd_parse_text_optional(struct smtp_cmd *cmd); /* optional text: arg */
int smtp_cmd_parse_hello(struct smtp_cmd *cmd);         /* one name: arg */
int smtp_cmd_parse_mail(struct smtp_cmd *cmd);          /* FROM:<path> params */
int smtp_cmd_parse_rcpt(struct smtp_cmd *cmd);          /* TO:<path> params */
int smtp_cmd_parse_bdat(struct smtp_cmd *cmd);          /* count [LAST] */

/* Upper-case name of a verb ("MAIL"); "UNKNOWN" for SMTP_VERB_UNKNOWN. */
const char *smtp_verb_name(enum smtp_verb verb);

/*
 * Check that `len` bytes at `addr` form a valid address as it would appear
 * between the angle brackets of a MAIL/RCPT path (no source route, not
 * empty): local-part, optionally "@" domain, length limits as above.
 * Returns 0 valid, -1 invalid.
 */
int smtp_addr_check(const char *addr, size_t len);

/*
 * Find the domain of an address as returned in cmd->addr: the text after the
 * last '@' that is not inside a quoted local-part. Returns 0 with *domain
 * pointing into addr, or -1 with *domain pointing at addr's terminating NUL
 * ("") when there is no domain (null sender, "postmaster"). A domain may be
 * an address literal ("[192.0.2.1]"). The caller compares case-insensitively.
 */
int smtp_addr_domain(const char *addr, const char **domain);

#endif
