/*
 * queue_file.h - the on-disk message file: the one reader and writer.
 *
 * Format version 1 (documented in docs/queue-format.md):
 *
 *   POSTERN-QUEUE 1\n
 *   Z <content size, 12 digits> <added-header size, 12 digits>\n
 *   T <arrival seconds>.<microseconds, 6 digits>\n
 *   S <sender>\n                    (empty for the null sender <>)
 *   N <client name>\n
 *   A <client address>\n
 *   H <helo name>\n
 *   P <protocol: SMTP or ESMTP>\n
 *   B <body type: 7BIT or 8BITMIME>\n
 *   I <message-id, may be empty>\n
 *   R <state> <recipient>\n         one per recipient, state one of
 *                                    P pending, D delivered, B bounced
 *   M\n                              content follows
 *   <content: exactly Z bytes>       cleanup's added headers, then the
 *                                    message byte for byte as received
 *   E\n                              end marker: the file is complete
 *   then zero or more appended records, one per delivery attempt outcome:
 *   D <unix time> <recipient index> <dsn> <reason>\n   (deferred, last wins)
 *
 * A record value never contains '\n' or NUL (the writer refuses). The reader
 * is strict: wrong magic or version, an unknown record, a missing record,
 * a count mismatch, a missing end marker or a size that disagrees with the
 * file are errors naming the offset. A final appended D record cut short by
 * a crash (no '\n') is ignored. Recipient states are changed in place with
 * one pwrite of the state byte, so marking is atomic.
 *
 * Memory: struct queue_file owns all its strings and arrays; free with
 * queue_file_free(). Success convention: 0 ok, -1 error with err filled.
 */
#ifndef POSTERN_QUEUE_FILE_H
#define POSTERN_QUEUE_FILE_H

#include <stddef.h>
#include <sys/time.h>
#include <sys/types.h>

#define QUEUE_FILE_VERSION 1
#define QF_ERR_MAX 256
#define QF_MAGIC "POSTERN-QUEUE"     /* then ' ', the version, '\n' */
#define QF_RECORD_MAX 4096           /* longest record line, '\n' included */
#define QF_VALUE_MAX 4000            /* longest value the writer accepts */
#define QF_RCPT_MAX 100000           /* most recipients in one file */
#define QF_SIZE_MAX 999999999999LL   /* largest size the Z record holds */
#define QF_Z_OFFSET 16               /* offset of the Z record (after magic) */

enum qf_rcpt_state {
    QF_RCPT_PENDING = 'P',
    QF_RCPT_DELIVERED = 'D',
    QF_RCPT_BOUNCED = 'B'
};

struct qf_rcpt {
    char *address;
    char state;                 /* enum qf_rcpt_state */
    off_t state_offset;         /* file offset of the state byte */
    /* From the last appended D record for this recipient (may be NULL/0). */
    char *delay_dsn;
    char *delay_reason;
    time_t delay_time;
};

struct queue_file {
    int version;
    struct timeval arrival;
    char *sender;               /* "" for the null sender */
    char *client_name;
    char *client_addr;
    char *helo;
    char *protocol;
    char *body_type;
    char *message_id;
    struct qf_rcpt *rcpts;
    size_t rcpt_count;
    off_t content_offset;       /* where the content starts */
    off_t content_size;         /* Z: bytes of content (added + received) */
    off_t added_size;           /* leading bytes of content added by cleanup */
    off_t file_size;
    size_t delay_records;       /* number of valid D records read */
};

/* --- writing (cleanup) --- */

/*
 * Write the magic and envelope records (Z with zero placeholders, through M)
 * to fd at its current offset (0 for a new file). Recipients are written
 * with the state each qf_rcpt has. Returns 0 or -1.
 * Refuses what the reader would refuse: a value failing
 * queue_file_value_ok(), no recipient or more than QF_RCPT_MAX, an empty
 * recipient, a protocol that is not a word, a body type other than 7BIT or
 * 8BITMIME. NULL strings other than recipients and protocol mean "".
 */
int queue_file_write_envelope(int fd, const struct queue_file *env,
                              char *err, size_t errlen);
/*
 * After the content bytes have been written: write the end marker, patch
 * the Z record with the sizes (pwrite) and fsync the file. Returns 0 or -1.
 * The envelope must start at offset 0, the fd must not be O_APPEND, and
 * its offset must be just after the content (checked: "M\n" must precede
 * the last content_size bytes).
 */
int queue_file_finish(int fd, off_t content_size, off_t added_size,
                      char *err, size_t errlen);

/* --- reading (everyone) --- */

/*
 * Read the envelope and appended records of an open file (regular file,
 * read from offset 0 with pread; the content is not read, only checked for
 * the end marker after it). `qf` is overwritten, not freed first; after a
 * success the caller frees it with queue_file_free(); after a failure it
 * holds nothing. err names the problem and its byte offset, never the path.
 * Record lines longer than QF_RECORD_MAX and more than QF_RCPT_MAX
 * recipients are errors, so memory stays proportional to the envelope.
 */
int queue_file_read(int fd, struct queue_file *qf, char *err, size_t errlen);
/*
 * queue_file_read() that also calls fn(offset, record, len, ctx) for each
 * record accepted, in file order (the magic line, Z..R, M, E, D), with the
 * record text without its '\n' (postcat -v). An ignored partial final
 * record is not reported.
 */
typedef void (*queue_file_trace_fn)(off_t offset, const char *record, size_t len,
                                    void *ctx);
int queue_file_read_trace(int fd, struct queue_file *qf, queue_file_trace_fn fn,
                          void *ctx, char *err, size_t errlen);
/* Same for a whole file in memory (used by the fuzzer and tests). */
int queue_file_parse(const unsigned char *data, size_t len, struct queue_file *qf,
                     char *err, size_t errlen);
/*
 * Open path read-only (or read-write) with O_NOFOLLOW|O_CLOEXEC and read it;
 * returns fd or -1 (the fd is closed on a read error).
 */
int queue_file_open(const char *path, int writable, struct queue_file *qf,
                    char *err, size_t errlen);
void queue_file_free(struct queue_file *qf);

/* --- updating (qmgr) --- */

/*
 * Change a recipient's state byte in place (no fsync: caller batches).
 * Checks that "R <state>" is at rcpt->state_offset - 2 before writing and
 * updates rcpt->state. 0 ok, -1 with errno (EINVAL: bad state, fd opened
 * O_APPEND, or the offset does not hold a recipient state).
 */
int queue_file_mark(int fd, struct qf_rcpt *rcpt, enum qf_rcpt_state state);
/*
 * Append a D record for recipient `index` (< the file's rcpt_count; no
 * fsync) with one write at the end of the file. A partial final line left
 * by an earlier crash is cut off first, so it cannot merge with this one.
 * dsn must look like "4.4.1"; a reason longer than fits in QF_RECORD_MAX is
 * truncated. 0 ok, -1 with errno (EINVAL for a bad value).
 */
int queue_file_append_delay(int fd, size_t index, time_t when, const char *dsn,
                            const char *reason);

/*
 * Is `value` acceptable in a record (no '\n', '\r' or NUL, and at most
 * QF_VALUE_MAX bytes)?
 */
int queue_file_value_ok(const char *value);

#endif
