/*
 * queue_index_private.h - what the three parts of the queue index share.
 *
 * Only queue_index.c (the LMDB environment, transactions, changes and
 * reads), queue_index_record.c (the bytes of an entry and of a count) and
 * queue_index_reconcile.c (agreement with the queue files) include it;
 * every other module uses queue_index.h.
 *
 * Memory: as in queue_index.h; struct qindex is defined here so that
 * reconcile can use the open write transaction and the scratch arrays.
 */
#ifndef POSTERN_QUEUE_INDEX_PRIVATE_H
#define POSTERN_QUEUE_INDEX_PRIVATE_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "queue_index.h"

struct qindex {
    MDB_env *env;
    MDB_dbi msgs, counts, meta;
    int writable;
    int fresh;                  /* this open created the tables */
    MDB_txn *wtxn;              /* qindex_begin .. commit/abort */
    MDB_txn *rtxn;              /* qindex_read_begin .. read_end */
    uint64_t cnt_msgs[QUEUE_STATE_COUNT];   /* valid while wtxn is open */
    uint64_t cnt_bytes[QUEUE_STATE_COUNT];
    int cnt_changed;
    struct qindex_rcpt *rcpts;  /* walk / reconcile scratch */
    size_t rcpt_cap;
    unsigned char *buf;         /* set_state scratch */
    size_t buf_cap;
    char err[QINDEX_ERR_MAX];
};

/* --- queue_index_record.c: bytes --- */

/* Size of a value in the "counts" table. */
#define QINDEX_COUNT_SIZE 16

/* State and size of an encoded entry, without decoding the rest; 0, or -1
 * when the record is too short or not of this version. */
int qindex_record_peek(const void *data, size_t len, enum queue_state *state, int64_t *size);
/* Set state and next attempt in a copy of a record that qindex_decode()
 * accepted (the rest is left as it is). */
void qindex_record_patch(unsigned char *record, enum queue_state state, int64_t next_attempt);
/* A "counts" value: messages and bytes of one state. */
void qindex_count_encode(unsigned char value[QINDEX_COUNT_SIZE], uint64_t messages,
                         uint64_t bytes);
/* 0, or -1 when the value has the wrong size (damaged: both are set to 0). */
int qindex_count_decode(const void *value, size_t len, uint64_t *messages, uint64_t *bytes);

/* --- queue_index.c: LMDB --- */

/* "queue index: WHAT: <LMDB's text>" into err. */
void qindex_mdb_fail(char *err, size_t errlen, const char *what, int rc);
/* The key of an entry (points at queue_id). */
MDB_val qindex_id_key(const char *queue_id);
/* One more message of `size` bytes in `state` (in the open write
 * transaction's counts). */
void qindex_count_add(struct qindex *qi, enum queue_state state, int64_t size);
/* Remove an entry in the open write transaction: 1 removed, 0 none, -1
 * (reason in qi->err). */
int qindex_delete_locked(struct qindex *qi, const char *queue_id);

#endif
