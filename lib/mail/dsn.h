/*
 * dsn.h - enhanced mail system status codes (RFC 3463): "4.4.1".
 *
 * The one owner of status codes: their syntax, their class, and the codes
 * Postern itself reports, by name. A code is a class digit (2 success,
 * 4 persistent transient failure, 5 permanent failure), a dot, a subject of
 * 1..3 digits, a dot, a detail of 1..3 digits. To report a new kind of
 * failure, name its code here (RFC 3463 section 3 lists them) and use the
 * name.
 *
 * No memory is owned; codes are plain NUL-terminated strings of at most
 * DSN_LEN_MAX characters, so a char[DSN_SIZE] holds any of them.
 */
#ifndef POSTERN_DSN_H
#define POSTERN_DSN_H

#include <stddef.h>

#define DSN_LEN_MAX 9                   /* "5.999.999" */
#define DSN_SIZE (DSN_LEN_MAX + 1)

/* Success and the defaults for a reply code's class. */
#define DSN_SUCCESS          "2.0.0"
#define DSN_TEMP_DEFAULT     "4.0.0"
#define DSN_PERM_DEFAULT     "5.0.0"
/* X.1: addressing */
#define DSN_BAD_DOMAIN       "5.1.2"    /* destination system address unknown */
#define DSN_BAD_ADDRESS      "5.1.3"    /* destination mailbox address syntax */
#define DSN_NULL_MX          "5.1.10"   /* RFC 7505: the domain accepts no mail */
/* X.3: mail system */
#define DSN_TEMP_SYSTEM      "4.3.0"    /* other or undefined mail system status */
#define DSN_CONFIG           "4.3.5"    /* system incorrectly configured */
#define DSN_TOO_BIG          "5.3.4"    /* message too big for system */
/* X.4: network and routing */
#define DSN_NO_ANSWER        "4.4.1"    /* no answer from host */
#define DSN_BAD_CONNECTION   "4.4.2"    /* bad connection */
#define DSN_DNS_TEMP         "4.4.3"    /* directory server failure */
#define DSN_NO_ROUTE_TEMP    "4.4.4"    /* unable to route, for now */
#define DSN_NO_ROUTE         "5.4.4"    /* unable to route */
#define DSN_LOOP             "5.4.6"    /* routing loop detected */
#define DSN_EXPIRED          "5.4.7"    /* delivery time expired */
/* X.5: protocol */
#define DSN_PROTOCOL_TEMP    "4.5.0"    /* other or undefined protocol status */
#define DSN_TOO_MANY_RCPTS   "4.5.3"    /* too many recipients */
#define DSN_BAD_ARGUMENTS    "5.5.4"    /* invalid command arguments */

enum dsn_class {
    DSN_CLASS_NONE = 0,                 /* not a status code */
    DSN_CLASS_SUCCESS = 2,
    DSN_CLASS_TEMP = 4,
    DSN_CLASS_PERM = 5,
};

/*
 * The length of the status code that `text` starts with, when it is
 * followed by the end of the text (len bytes), a space or a tab: "5.7.1 Relay
 * access denied" gives 5. 0 when there is none. With want_class != 0 the
 * code must be of that class.
 */
size_t dsn_prefix_len(const char *text, size_t len, enum dsn_class want_class);
/* 1 when the whole NUL-terminated text is a status code. */
int dsn_valid(const char *code);
/* The class of a valid code, DSN_CLASS_NONE for anything else. */
enum dsn_class dsn_class_of(const char *code);
/* The default code for an SMTP reply code's first digit ('2', '4', '5'); "" otherwise. */
const char *dsn_for_reply_class(char reply_class);
/* Copy code into buf (DSN_SIZE bytes) with its class digit replaced ("5.1.1" -> "4.1.1"). */
void dsn_with_class(char *buf, const char *code, enum dsn_class new_class);

#endif
