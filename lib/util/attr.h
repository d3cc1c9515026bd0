/*
 * attr.h - the one message format spoken between Postern processes.
 *
 * A message is a sequence of attributes followed by an empty line:
 *
 *     name=value\n          text attribute: value has no '\n' and no NUL
 *     name#<length>\n       binary attribute: exactly <length> raw bytes
 *     <length raw bytes>\n  follow, then a '\n'
 *     \n                    end of message
 *
 * Names are 1..ATTR_NAME_MAX characters of [a-z0-9_]. A name may repeat (for
 * example one "rcpt" per recipient). Limits: ATTR_LINE_MAX per text line,
 * ATTR_DATA_MAX per binary attribute, ATTR_COUNT_MAX attributes per message;
 * a message over a limit is a protocol error, never a larger buffer.
 *
 * Reading is incremental over a libevent evbuffer (non-blocking daemons) or
 * blocking over a file descriptor (operator tools). Every protocol message is
 * checked against its declaration (attr_check) so a message with a missing or
 * unexpected attribute is rejected, not half understood.
 *
 * Memory: an attr_msg owns copies of all names and values; attr_msg_reset()
 * frees them. Strings returned by attr_get() live until the next reset.
 * Success convention: 0 ok, -1 error; readers return 1 for "complete".
 */
#ifndef POSTERN_ATTR_H
#define POSTERN_ATTR_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define ATTR_NAME_MAX 32
#define ATTR_LINE_MAX 8192
#define ATTR_DATA_MAX (1024 * 1024)
#define ATTR_COUNT_MAX 100000

struct attr {
    char *name;
    char *value;        /* NUL-terminated; binary values may contain NULs */
    size_t len;         /* length of value (excluding the terminating NUL) */
};

struct attr_msg {
    struct attr *attrs;
    size_t count, cap;
    /* incremental reader state */
    int pending_binary; /* waiting for `pending_len` raw bytes */
    size_t pending_len;
    size_t bytes;       /* total bytes of the message so far */
};

void attr_msg_init(struct attr_msg *msg);
void attr_msg_reset(struct attr_msg *msg);
/* Reset and release the attribute array too (end of a connection). */
void attr_msg_free(struct attr_msg *msg);

/*
 * Read from `in`. Returns 1 when a whole message has been read into `msg`,
 * 0 when more input is needed (partial state is kept in msg), -1 on a
 * protocol error (err describes it; the connection should be dropped).
 */
int attr_read_evbuffer(struct evbuffer *in, struct attr_msg *msg,
                       char *err, size_t errlen);
/* Blocking read of one message from fd with a timeout in seconds (<=0: none).
 * Returns 1 complete, 0 EOF before any byte, -1 error/timeout. */
int attr_read_fd(int fd, struct attr_msg *msg, int timeout, char *err, size_t errlen);

/* Writers append to an evbuffer. */
void attr_put_str(struct evbuffer *out, const char *name, const char *value);
void attr_put_long(struct evbuffer *out, const char *name, long value);
void attr_put_data(struct evbuffer *out, const char *name, const void *data, size_t len);
void attr_put_end(struct evbuffer *out);
/* Blocking write of a whole evbuffer to fd; 0 ok, -1 error. Drains `buf`. */
int attr_write_fd(int fd, struct evbuffer *buf, int timeout);

/* Lookups: the first attribute with `name`, or NULL. */
const char *attr_get(const struct attr_msg *msg, const char *name);
const struct attr *attr_find(const struct attr_msg *msg, const char *name);
/* Numeric lookup; returns -1 when missing or not a number. */
int attr_get_long(const struct attr_msg *msg, const char *name, long *value);
/* The i-th attribute called name (0-based), or NULL. */
const struct attr *attr_find_nth(const struct attr_msg *msg, const char *name, size_t nth);
size_t attr_count(const struct attr_msg *msg, const char *name);

/*
 * Check a message against its declaration: every name in `required` occurs
 * exactly once, names in `optional` at most once, names in `repeated` any
 * number of times, and no other name occurs. Lists are NULL-terminated and
 * may be NULL. Returns 0, or -1 with err filled.
 */
int attr_check(const struct attr_msg *msg, const char *const *required,
               const char *const *optional, const char *const *repeated,
               char *err, size_t errlen);

/* A value safe for a text attribute: no '\n', '\r' or NUL. */
int attr_value_ok(const char *value);

#endif
