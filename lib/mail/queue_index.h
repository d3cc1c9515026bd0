/*
 * queue_index.h - the LMDB index of the queue: answers the operator's
 * questions (list, count, report, select) without opening every file.
 *
 * The index lives in queue_directory/index/ (LMDB environment, files
 * data.mdb and lock.mdb). It is a cache of the queue files, never the truth:
 *  - written without fsync (MDB_NOSYNC); a crash may lose recent updates;
 *  - qmgr reconciles it with the files at every start (qindex_reconcile: a
 *    walk of the directory names, opening only files the index lacks or has
 *    in another state), and postsuper -s does the same on demand;
 *  - if it cannot be opened or read it is deleted and rebuilt from the files;
 *  - the scheduler never depends on it for correctness.
 *
 * Contents (format version QINDEX_VERSION, in the "meta" table):
 *  - "msgs":   queue ID -> encoded entry (qindex_encode): state, arrival,
 *              size, next attempt, sender, and each PENDING recipient with
 *              its last delay dsn and reason. IDs sort by arrival, so a
 *              cursor walks the queue oldest first.
 *  - "counts": state name -> number of messages and bytes, kept in the same
 *              transaction as every change, so a count is O(1).
 *  - "meta":   "version", and "dirty" (1 while a writer that may crash holds
 *              the index open; qmgr sets it at start, clears it at a clean stop).
 *
 * Writers: qmgr (every state change it makes, batched: one write transaction
 * per event-loop turn) and postsuper. Readers: showq, postsuper.
 * Several processes may open the index at once (LMDB locking).
 *
 * Memory: struct qindex is owned by the caller of qindex_open and released by
 * qindex_close. A decoded qindex_entry points into the LMDB page or the
 * buffer it was decoded from: valid until the end of the transaction (or
 * while the buffer lives); copy what must outlive that.
 * Success convention: 0 ok, -1 error (err filled), and for lookups 1 found /
 * 0 not found.
 */
#ifndef POSTERN_QUEUE_INDEX_H
#define POSTERN_QUEUE_INDEX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <sys/types.h>

#include "queue_dir.h"
#include "queue_file.h"

#define QINDEX_DIR "index"
#define QINDEX_VERSION 1
#define QINDEX_ERR_MAX 256
/* Longest strings stored (longer ones are cut at a UTF-8 boundary when
 * encoding; a record holding longer ones is malformed). */
#define QINDEX_ADDR_MAX 1000    /* sender and recipient addresses */
#define QINDEX_DSN_MAX 64
#define QINDEX_REASON_MAX 1000

struct qindex;

struct qindex_rcpt {
    const char *address;
    size_t address_len;
    const char *dsn;            /* last delay dsn, "" if none */
    size_t dsn_len;
    const char *reason;         /* last delay reason, "" if none */
    size_t reason_len;
};

struct qindex_entry {
    char queue_id[QUEUE_ID_MAX + 1];
    enum queue_state state;
    struct timeval arrival;
    int64_t size;               /* content size in bytes */
    int64_t next_attempt;       /* unix time, 0 when not deferred */
    const char *sender;         /* "" for the null sender */
    size_t sender_len;
    size_t rcpt_count;          /* pending recipients */
    struct qindex_rcpt *rcpts;  /* array of rcpt_count (owned by the entry's user:
                                   qindex_decode fills a caller-provided array,
                                   see below) */
};

/*
 * Notes on the functions below (added to the original contract):
 *  - Every string of a decoded entry (sender, address, dsn, reason) is also
 *    NUL-terminated (the record stores the NUL), so "%s" is safe; the _len
 *    fields give the same length as strlen().
 *  - qindex_put/set_state/delete called outside qindex_begin run in a
 *    transaction of their own (committed at once). Inside one, a -1 means
 *    the transaction has failed: call qindex_abort().
 *  - Functions without an err buffer leave the reason in qindex_error(qi).
 *  - qindex_get needs a read (qindex_read_begin) or write (qindex_begin)
 *    transaction; qindex_walk, qindex_counts and qindex_is_dirty use the
 *    open one, else a short read transaction of their own. A write
 *    transaction, when open, is preferred (it sees its own changes).
 */

/* Open (creating it when `writable`) the index of the queue directory that
 * is the current directory. map_size: LMDB map size in bytes. */
int qindex_open(int writable, size_t map_size, struct qindex **out, char *err, size_t errlen);
/* A writable index is synced to disk by qindex_close (a clean stop). An
 * open transaction is aborted. Accepts NULL. */
void qindex_close(struct qindex *qi);
/* The reason for the last -1 of a function without an err buffer. */
const char *qindex_error(const struct qindex *qi);
/* 1 when this open created the index empty (there was none, or a damaged or
 * stale one was thrown away): the caller should run qindex_reconcile. */
int qindex_fresh(const struct qindex *qi);
/* Remove the index files (it will be rebuilt). 0 ok, -1 error. */
int qindex_destroy(void);

/* --- writing: one transaction around any number of changes --- */
int qindex_begin(struct qindex *qi, char *err, size_t errlen);
int qindex_commit(struct qindex *qi, char *err, size_t errlen);
void qindex_abort(struct qindex *qi);
/* Insert or replace an entry (adjusts counts). */
int qindex_put(struct qindex *qi, const struct qindex_entry *entry);
/* Build an entry from a queue file (pending recipients with their last
 * delay records); `rcpts` must have room for qf->rcpt_count entries. */
void qindex_entry_from_file(struct qindex_entry *entry, const char *queue_id,
                            enum queue_state state, int64_t next_attempt,
                            const struct queue_file *qf, struct qindex_rcpt *rcpts);
/* Change only the state (and next attempt) of an existing entry; 1 done,
 * 0 no such entry, -1 error. */
int qindex_set_state(struct qindex *qi, const char *queue_id, enum queue_state state,
                     int64_t next_attempt);
/* Remove an entry; 1 removed, 0 no such entry, -1 error. */
int qindex_delete(struct qindex *qi, const char *queue_id);
/* Set or clear the "dirty" marker (committed and synced at once). */
int qindex_set_dirty(struct qindex *qi, int dirty, char *err, size_t errlen);
/* 1 dirty, 0 clean, -1 error. A writable open rebuilds an index that was
 * left dirty before the system restarted (unsynced pages may be lost). */
int qindex_is_dirty(struct qindex *qi);

/* --- reading: inside a read transaction --- */
int qindex_read_begin(struct qindex *qi, char *err, size_t errlen);
void qindex_read_end(struct qindex *qi);
/* Look one up; rcpts/rcpt_cap: caller's array for the recipients (a longer
 * list is truncated to rcpt_cap but rcpt_count tells the real number). */
int qindex_get(struct qindex *qi, const char *queue_id, struct qindex_entry *entry,
               struct qindex_rcpt *rcpts, size_t rcpt_cap);
/* Walk every entry oldest first; fn returns non-zero to stop (returned).
 * The entry and its recipients are valid only during the call. */
typedef int (*qindex_walk_fn)(const struct qindex_entry *entry, void *ctx);
int qindex_walk(struct qindex *qi, qindex_walk_fn fn, void *ctx, char *err, size_t errlen);
/* Messages and bytes per state (O(1)). */
int qindex_counts(struct qindex *qi, uint64_t messages[QUEUE_STATE_COUNT],
                  uint64_t bytes[QUEUE_STATE_COUNT]);

/* --- encoding (the one parser of index records; fuzzed) --- */
/* Encoded size of an entry. */
size_t qindex_encoded_size(const struct qindex_entry *entry);
/* Encode into buf (>= qindex_encoded_size). Returns bytes written. */
size_t qindex_encode(const struct qindex_entry *entry, unsigned char *buf);
/* Decode; strings point into `data`. Returns 0 or -1 (malformed).
 * The queue ID is the record's key, not part of it: entry->queue_id is
 * set to "" (qindex_get and qindex_walk fill it in). Recipients beyond
 * rcpt_cap are checked but not stored; rcpt_count is the real number. */
int qindex_decode(const unsigned char *data, size_t len, struct qindex_entry *entry,
                  struct qindex_rcpt *rcpts, size_t rcpt_cap);

/* --- reconciliation with the files --- */
struct qindex_repair_stats {
    unsigned long files_seen;
    unsigned long added;        /* files the index lacked */
    unsigned long fixed_state;  /* entries in the wrong state */
    unsigned long removed;      /* entries without a file */
    unsigned long unreadable;   /* files that could not be read (not indexed) */
};
/*
 * Make the index agree with the files under the current directory: walk
 * incoming, active, deferred, hold and corrupt (names only); add entries
 * for files the index lacks (reading their envelope), fix states, delete
 * entries whose file is gone. `on_bad` (may be NULL) is told about files
 * that could not be read (path, reason) so the caller can move them to
 * corrupt/. Runs in write transactions of bounded size.
 * Details: it must be called outside a transaction. A file already in
 * corrupt/ that cannot be read is indexed with what its name and size tell
 * (no sender, no recipients) and not reported. Names that are not queue IDs
 * are ignored. An entry whose file moved to a state already walked is kept.
 * The counts are recomputed from the entries at the end (exact again).
 * Returns 0, or -1 when a directory cannot be read (nothing is removed then).
 */
typedef void (*qindex_bad_fn)(const char *path, const char *reason, void *ctx);
int qindex_reconcile(struct qindex *qi, struct qindex_repair_stats *stats,
                     qindex_bad_fn on_bad, void *ctx, char *err, size_t errlen);

#endif
