/*
 * cleanup.h - the pieces of the cleanup daemon and what they share.
 *
 * cleanup turns one submitted message into a durable queue file. smtpd
 * speaks the cleanup protocol of mail_proto.h over private/cleanup; each
 * connection carries one transaction at a time (struct cleanup_txn):
 *
 *   open   create tmp/<pid>.<n>, assign the queue ID        (cleanup_file.c),
 *          rewrite sender and recipients                     (cleanup_rewrite.c)
 *   data   buffer the header block until it ends, then write envelope,
 *          added headers and the content byte for byte      (cleanup_headers.c)
 *   close  finish + fsync, rename into incoming/, fsync the leaf directory,
 *          reply, notify qmgr                                (cleanup.c, cleanup_qmgr.c)
 *   abort  unlink the temporary file
 *
 * Memory: a transaction is embedded in its connection and reused for the
 * next transaction, so its buffers (header block, write buffer, envelope)
 * are allocated once per connection and grow to their limits at most. The
 * connection owns everything in it; cleanup_txn_release() frees it.
 */
#ifndef POSTERN_CLEANUP_H
#define POSTERN_CLEANUP_H

#include <stddef.h>
#include <sys/time.h>
#include <sys/types.h>

#include "attr.h"
#include "queue_dir.h"
#include "dsn.h"
#include "mail_proto.h"
#include "queue_file.h"
#include "rewrite.h"

/* The longest Message-ID value kept for the I record (RFC 5322 line limit). */
#define CLEANUP_MSGID_MAX 998
/* Write buffer for the queue file; larger chunks go straight to write(2). */
#define CLEANUP_WBUF_SIZE (64 * 1024)
#define CLEANUP_TMP_PATH_MAX 64

/* Failure reasons of a transaction (status codes: dsn.h). */
#define CLEANUP_REASON_WRITE "queue file write error"
#define CLEANUP_REASON_SIZE "message file too big"

/* What the header scan found in the header block. */
struct cleanup_hdr_info {
    int has_message_id;
    int has_date;
    int has_from;
    size_t msgid_len;
    char msgid[CLEANUP_MSGID_MAX + 1];  /* unfolded, trimmed, NUL-terminated */
};

struct cleanup_txn {
    int active;                 /* between a successful open and close/abort */
    int fd;                     /* temporary queue file, -1 when none */
    char tmp_path[CLEANUP_TMP_PATH_MAX];
    char final_path[QUEUE_PATH_MAX];
    char queue_id[QUEUE_ID_MAX + 1];
    struct timeval arrival;
    struct attr_msg env;        /* the open request: envelope strings */
    /* After address rewriting (cleanup_rewrite.c): what the file gets. */
    char *rw_sender;
    struct rewrite_list rw_rcpts;
    struct qf_rcpt *rcpts;      /* points into rw_rcpts; reused */
    size_t rcpt_cap;
    /* Failure: set once; the reply carries them at close. */
    const char *fail_dsn;
    const char *fail_reason;
    off_t received;             /* content bytes received from the client */
    off_t written;              /* content bytes given to the file (added + received) */
    off_t added;                /* bytes of headers cleanup added */
    /* Header block: buffered until its end is known. */
    int hdr_done;
    char *hdr;
    size_t hdr_len, hdr_cap;
    size_t line_start;          /* start of the line being looked at */
    size_t search_from;         /* where to resume looking for CRLF */
    struct cleanup_hdr_info info;
    /* Write buffer. */
    char *wbuf;
    size_t wlen;
};

/* --- cleanup_headers.c --- */

/*
 * Look for the end of the header block in buf[0..len): an empty line
 * ("\r\n" at the start of a line). *line_start and *search_from carry the
 * position between calls (start both at 0; buf only grows between calls).
 * Returns 1 and sets *end to the offset of the empty line when found, 0
 * when more input is needed.
 */
int cleanup_header_end(const char *buf, size_t len, size_t *line_start,
                       size_t *search_from, size_t *end);
/*
 * Scan a header block buf[0..len) (lines ending in CRLF; a last line
 * without CRLF counts as a line) for Message-ID:, Date: and From: (names
 * case-insensitive, only at the start of a header line) and capture the
 * first Message-ID value. Never fails; bytes are only read.
 */
void cleanup_header_scan(const char *buf, size_t len, struct cleanup_hdr_info *info);
/*
 * When info says the message has no Message-ID:, make the one cleanup adds
 * ("<YYYYMMDDHHMMSS.QUEUEID@myorigin>", from arrival time and queue ID) and
 * store it in info, so the I record and the added header agree.
 */
void cleanup_header_make_msgid(const struct cleanup_txn *txn, struct cleanup_hdr_info *info);
/*
 * Write the headers cleanup adds (Received: always; Message-ID:, Date:,
 * From: when info says they are absent) through cleanup_file_write().
 * Call cleanup_header_make_msgid() first.
 */
void cleanup_header_add(struct cleanup_txn *txn, const struct cleanup_hdr_info *info);

/* --- cleanup_file.c --- */

void cleanup_txn_init(struct cleanup_txn *txn);
/* Free all memory of the transaction (discarding an open file first). */
void cleanup_txn_release(struct cleanup_txn *txn);
/* Mark the transaction failed (the first failure wins); discards the file. */
void cleanup_txn_fail(struct cleanup_txn *txn, const char *dsn, const char *reason);
/*
 * Start a transaction from the open request (already moved into txn->env
 * and validated): create the temporary file and the queue ID. 0 ok, -1
 * error (logged; nothing left behind).
 */
int cleanup_txn_open(struct cleanup_txn *txn);
/* One chunk of content from the client (enforces message_size_limit). */
void cleanup_txn_data(struct cleanup_txn *txn, const char *data, size_t len);
/*
 * The content is complete: finish the header block, flush, write the end
 * marker, patch the sizes and fsync the file, then rename it into
 * incoming/ (txn->final_path). The leaf directory is not yet synced.
 * 0 ok, -1 failed (txn->fail_* set, file discarded).
 */
int cleanup_txn_commit(struct cleanup_txn *txn);
/*
 * After a committed file could not be made durable (leaf directory fsync
 * failed): unlink it from incoming/ and fail the transaction.
 */
void cleanup_txn_unqueue(struct cleanup_txn *txn);
/* Forget the transaction (unlinking its file if still there) for the next one. */
void cleanup_txn_reset(struct cleanup_txn *txn);
/* Buffered write of content bytes; a write error fails the transaction. */
void cleanup_file_write(struct cleanup_txn *txn, const void *data, size_t len);

/* --- cleanup_rewrite.c --- */

/* Open the rewriting tables (fatal when one cannot be opened). */
void cleanup_rewrite_init(void);
/*
 * Rewrite the envelope of a transaction just opened (txn->env) into
 * txn->rw_sender and txn->rw_rcpts. 0 ok; -1 with *dsn and *reason (static
 * text for the client; the details are logged): the caller refuses the
 * transaction.
 */
int cleanup_rewrite(struct cleanup_txn *txn, const char **dsn, const char **reason);

/* --- cleanup_qmgr.c --- */

/* Tell qmgr about a new message; silently dropped when qmgr is not there. */
void cleanup_qmgr_notify(const char *queue_id);
/* Close the qmgr connection (at exit). */
void cleanup_qmgr_close(void);

#endif
