/*
 * cleanup_file.c - one transaction's queue file: create it under tmp/,
 * write envelope and content, finish it and move it into incoming/.
 *
 * Order on disk: envelope (written when the header block is complete, since
 * the I record needs the Message-ID), the headers cleanup adds, then the
 * client's content byte for byte. Content goes through a per-connection
 * write buffer and leaves in large write(2)s; every return value is checked
 * and the first failure makes the transaction fail: the temporary file is
 * unlinked at once, later data is still consumed (and dropped) until the
 * client's close, which gets the failure as reply.
 *
 * Memory: all buffers belong to the transaction and are reused by the
 * next transaction on the same connection; cleanup_txn_release() frees them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "alloc.h"
#include "cleanup.h"
#include "mail_proto.h"
#include "fdio.h"
#include "msg.h"
#include "params.h"

static unsigned long tmp_counter;
static pid_t my_pid;

void cleanup_txn_init(struct cleanup_txn *txn)
{
    memset(txn, 0, sizeof(*txn));
    txn->fd = -1;
    attr_msg_init(&txn->env);
    rewrite_list_init(&txn->rw_rcpts);
}

/* Close and unlink the temporary file, if any (tmp_path set: it exists). */
static void file_discard(struct cleanup_txn *txn)
{
    if (txn->fd >= 0 && close(txn->fd) < 0)
        msg_warn("%s: close %s: %s", txn->queue_id, txn->tmp_path, strerror(errno));
    txn->fd = -1;
    if (txn->tmp_path[0] != '\0' && unlink(txn->tmp_path) < 0 && errno != ENOENT)
        msg_warn("%s: unlink %s: %s", txn->queue_id, txn->tmp_path, strerror(errno));
    txn->tmp_path[0] = '\0';
}

void cleanup_txn_reset(struct cleanup_txn *txn)
{
    file_discard(txn);
    attr_msg_reset(&txn->env);
    txn->rw_sender = xfree(txn->rw_sender);
    rewrite_list_reset(&txn->rw_rcpts);
    txn->active = 0;
    txn->tmp_path[0] = '\0';
    txn->final_path[0] = '\0';
    txn->queue_id[0] = '\0';
    txn->fail_dsn = NULL;
    txn->fail_reason = NULL;
    txn->received = 0;
    txn->written = 0;
    txn->added = 0;
    txn->hdr_done = 0;
    txn->hdr_len = 0;
    txn->line_start = 0;
    txn->search_from = 0;
    txn->wlen = 0;
}

void cleanup_txn_release(struct cleanup_txn *txn)
{
    cleanup_txn_reset(txn);
    attr_msg_free(&txn->env);
    rewrite_list_free(&txn->rw_rcpts);
    txn->rcpts = xfree(txn->rcpts);
    txn->rcpt_cap = 0;
    txn->hdr = xfree(txn->hdr);
    txn->hdr_cap = 0;
    txn->wbuf = xfree(txn->wbuf);
}

void cleanup_txn_fail(struct cleanup_txn *txn, const char *dsn, const char *reason)
{
    if (txn->fail_dsn == NULL) {
        txn->fail_dsn = dsn;
        txn->fail_reason = reason;
    }
    file_discard(txn);
    txn->wlen = 0;
}

int cleanup_txn_open(struct cleanup_txn *txn)
{
    struct stat st;

    gettimeofday(&txn->arrival, NULL);
    if (my_pid == 0)
        my_pid = getpid();
    for (int tries = 0; tries < 10; tries++) {
        snprintf(txn->tmp_path, sizeof(txn->tmp_path), "%s/%ld.%lu", QUEUE_TMP_DIR,
                 (long)my_pid, tmp_counter++);
        /* Read-write: queue_file_finish() checks the envelope with pread. */
        txn->fd = open(txn->tmp_path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
        if (txn->fd >= 0 || errno != EEXIST)
            break;
    }
    if (txn->fd < 0) {
        msg_warn("create %s: %s", txn->tmp_path, strerror(errno));
        txn->tmp_path[0] = '\0';
        return -1;
    }
    if (fstat(txn->fd, &st) < 0) {
        msg_warn("fstat %s: %s", txn->tmp_path, strerror(errno));
        file_discard(txn);
        return -1;
    }
    queue_id_make(txn->queue_id, sizeof(txn->queue_id), &txn->arrival, st.st_ino);
    queue_path(txn->final_path, sizeof(txn->final_path), QUEUE_INCOMING, txn->queue_id);
    if (txn->final_path[0] == '\0') {
        msg_warn("%s: no queue path for this queue ID", txn->queue_id);
        file_discard(txn);
        return -1;
    }
    txn->active = 1;
    return 0;
}

/* --- buffered writing --- */

static void write_failed(struct cleanup_txn *txn)
{
    msg_warn("%s: write %s: %s", txn->queue_id, txn->tmp_path, strerror(errno));
    cleanup_txn_fail(txn, DSN_TEMP_SYSTEM, CLEANUP_REASON_WRITE);
}

static int wbuf_flush(struct cleanup_txn *txn)
{
    if (txn->fd < 0)
        return -1;
    if (txn->wlen > 0 && fdio_write_all(txn->fd, txn->wbuf, txn->wlen) < 0) {
        write_failed(txn);
        return -1;
    }
    txn->wlen = 0;
    return 0;
}

void cleanup_file_write(struct cleanup_txn *txn, const void *data, size_t len)
{
    if (txn->fd < 0 || len == 0)
        return;
    txn->written += (off_t)len;
    if (txn->wbuf == NULL)
        txn->wbuf = xmalloc(CLEANUP_WBUF_SIZE);
    if (txn->wlen + len <= CLEANUP_WBUF_SIZE) {
        memcpy(txn->wbuf + txn->wlen, data, len);
        txn->wlen += len;
        return;
    }
    if (wbuf_flush(txn) < 0)
        return;
    if (len >= CLEANUP_WBUF_SIZE / 2) {
        if (fdio_write_all(txn->fd, data, len) < 0)
            write_failed(txn);
        return;
    }
    memcpy(txn->wbuf, data, len);
    txn->wlen = len;
}

/* --- the header block --- */

/* Write the envelope records (sender and recipients as rewritten); the I
 * record gets the Message-ID. */
static int write_envelope(struct cleanup_txn *txn, const char *message_id)
{
    struct queue_file env;
    size_t n = txn->rw_rcpts.count;
    char err[QF_ERR_MAX];

    memset(&env, 0, sizeof(env));
    env.version = QUEUE_FILE_VERSION;
    env.arrival = txn->arrival;
    /* queue_file_write_envelope() only reads these; the casts drop const. */
    env.sender = txn->rw_sender;
    env.client_name = (char *)attr_get(&txn->env, MAIL_ATTR_CLIENT_NAME);
    env.client_addr = (char *)attr_get(&txn->env, MAIL_ATTR_CLIENT_ADDR);
    env.helo = (char *)attr_get(&txn->env, MAIL_ATTR_HELO);
    env.protocol = (char *)attr_get(&txn->env, MAIL_ATTR_PROTOCOL);
    env.body_type = (char *)attr_get(&txn->env, MAIL_ATTR_BODY);
    env.message_id = (char *)message_id;
    txn->rcpts = xgrow(txn->rcpts, &txn->rcpt_cap, n, sizeof(*txn->rcpts));
    for (size_t i = 0; i < n; i++) {
        memset(&txn->rcpts[i], 0, sizeof(txn->rcpts[i]));
        txn->rcpts[i].address = txn->rw_rcpts.addrs[i];
        txn->rcpts[i].state = QF_RCPT_PENDING;
    }
    env.rcpts = txn->rcpts;
    env.rcpt_count = n;
    if (queue_file_write_envelope(txn->fd, &env, err, sizeof(err)) < 0) {
        msg_warn("%s: write envelope: %s", txn->queue_id, err);
        cleanup_txn_fail(txn, DSN_TEMP_SYSTEM, CLEANUP_REASON_WRITE);
        return -1;
    }
    return 0;
}

/*
 * The header block is complete: buf[0..len) holds the received bytes not
 * yet written, of which buf[0..scan_len) is the header block examined.
 * Write the envelope, the added headers, then all of buf unchanged.
 */
static void header_finish(struct cleanup_txn *txn, const char *buf, size_t len,
                          size_t scan_len)
{
    struct cleanup_hdr_info *info = &txn->info;

    txn->hdr_done = 1;
    cleanup_header_scan(buf, scan_len, info);
    cleanup_header_make_msgid(txn, info);
    if (txn->fd < 0 || write_envelope(txn, info->msgid) < 0)
        return;
    cleanup_header_add(txn, info);
    txn->added = txn->written;
    cleanup_file_write(txn, buf, len);
    txn->hdr_len = 0;
}

/* Keep bytes of an unfinished header block. */
static void header_keep(struct cleanup_txn *txn, const char *data, size_t len)
{
    txn->hdr = xgrow(txn->hdr, &txn->hdr_cap, txn->hdr_len + len, 1);
    memcpy(txn->hdr + txn->hdr_len, data, len);
    txn->hdr_len += len;
}

/*
 * Feed bytes to the unfinished header block; returns how many of data[0..len)
 * it took (the rest, if any, follows the header block).
 */
static size_t header_data(struct cleanup_txn *txn, const char *data, size_t len)
{
    size_t limit = (size_t)var_header_size_limit;
    size_t take = len < limit - txn->hdr_len ? len : limit - txn->hdr_len;
    const char *buf = data;
    size_t buf_len = take, end;
    int found;

    if (txn->hdr_len > 0) {
        header_keep(txn, data, take);
        buf = txn->hdr;
        buf_len = txn->hdr_len;
    }
    found = cleanup_header_end(buf, buf_len, &txn->line_start, &txn->search_from, &end);
    if (!found && buf_len < limit) {
        /* Not yet: keep the bytes (offsets stay valid in the copy). */
        if (buf == data)
            header_keep(txn, data, take);
        return take;
    }
    /* At the limit, only complete lines were looked at; the rest is body. */
    header_finish(txn, buf, buf_len, found ? end : txn->line_start);
    return take;
}

void cleanup_txn_data(struct cleanup_txn *txn, const char *data, size_t len)
{
    txn->received += (off_t)len;
    if (txn->fail_dsn != NULL)
        return;
    if (txn->received > var_message_size_limit) {
        msg_info("%s: message size exceeds message_size_limit (%ld): discarded",
                 txn->queue_id, var_message_size_limit);
        cleanup_txn_fail(txn, DSN_TOO_BIG, CLEANUP_REASON_SIZE);
        return;
    }
    if (!txn->hdr_done) {
        size_t took = header_data(txn, data, len);
        data += took;
        len -= took;
    }
    if (len > 0 && txn->hdr_done)
        cleanup_file_write(txn, data, len);
}

/*
 * rename(2) that never replaces an existing file: queue IDs are unique by
 * construction, but a message must not silently overwrite another one.
 */
static int rename_new(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    return rename(from, to);    /* file system without RENAME_NOREPLACE */
}

int cleanup_txn_commit(struct cleanup_txn *txn)
{
    char err[QF_ERR_MAX];

    if (txn->fail_dsn == NULL && !txn->hdr_done)
        header_finish(txn, txn->hdr, txn->hdr_len, txn->hdr_len);
    if (txn->fail_dsn != NULL || wbuf_flush(txn) < 0)
        return -1;
    if (queue_file_finish(txn->fd, txn->written, txn->added, err, sizeof(err)) < 0) {
        msg_warn("%s: finish queue file: %s", txn->queue_id, err);
        cleanup_txn_fail(txn, DSN_TEMP_SYSTEM, CLEANUP_REASON_WRITE);
        return -1;
    }
    if (close(txn->fd) < 0) {
        txn->fd = -1;
        msg_warn("%s: close %s: %s", txn->queue_id, txn->tmp_path, strerror(errno));
        cleanup_txn_fail(txn, DSN_TEMP_SYSTEM, CLEANUP_REASON_WRITE);
        return -1;
    }
    txn->fd = -1;
    if (rename_new(txn->tmp_path, txn->final_path) < 0) {
        msg_warn("%s: rename %s to %s: %s", txn->queue_id, txn->tmp_path, txn->final_path,
                 strerror(errno));
        cleanup_txn_fail(txn, DSN_TEMP_SYSTEM, CLEANUP_REASON_WRITE);
        return -1;
    }
    txn->tmp_path[0] = '\0';
    return 0;
}

void cleanup_txn_unqueue(struct cleanup_txn *txn)
{
    if (unlink(txn->final_path) < 0 && errno != ENOENT)
        msg_warn("%s: unlink %s: %s", txn->queue_id, txn->final_path, strerror(errno));
    cleanup_txn_fail(txn, DSN_TEMP_SYSTEM, CLEANUP_REASON_WRITE);
}
