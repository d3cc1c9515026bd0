/*
 * queue_index.c - the LMDB index of the queue (see queue_index.h): record
 * encoding, the LMDB environment, counts, walks and reconciliation with the
 * queue files.
 *
 * This file is the one boundary with LMDB: every mdb_* result is turned into
 * an error text here ("queue index: mdb_put: MDB_MAP_FULL: ..."); callers see
 * only 0/-1 (and 1/0 for lookups).
 *
 * Record format (QINDEX_VERSION 1), little-endian, the key being the queue ID:
 *   u8 version, u8 state, i64 arrival seconds, i32 arrival microseconds,
 *   i64 size, i64 next attempt,
 *   u16 sender length, sender bytes, NUL,
 *   u32 recipient count, then per recipient:
 *     u16 length, address, NUL;  u8 length, dsn, NUL;  u16 length, reason, NUL.
 * The decoder accepts exactly what the encoder writes (no trailing bytes, no
 * embedded NUL, lengths within the QINDEX_*_MAX limits, no negative numbers),
 * so every accepted record re-encodes to the same bytes.
 *
 * Memory: struct qindex owns the LMDB handles and two scratch arrays (the
 * recipients of the entry being walked, a copy of a record being changed).
 * Decoded entries point into LMDB pages or the caller's buffer. Reconcile
 * owns a set of the IDs it saw, freed before it returns.
 *
 * Counts: loaded into struct qindex when a write transaction begins, adjusted
 * in memory by put/set_state/delete and written back at commit, so a batch
 * costs five extra puts however large it is.
 */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "errtext.h"
#include "msg.h"
#include "queue_index.h"

#define DATA_FILE QINDEX_DIR "/data.mdb"
#define LOCK_FILE QINDEX_DIR "/lock.mdb"
#define MAX_DBS 3
#define BATCH_CHANGES 10000
#define BOOT_ID_FILE "/proc/sys/kernel/random/boot_id"
#define META_TEXT_MAX 64

/* Record layout. */
#define REC_STATE_AT 1
#define REC_SIZE_AT 14
#define REC_NEXT_AT 22
#define REC_HEADER 30
#define REC_MIN (REC_HEADER + 2 + 1 + 4)
#define RCPT_MIN (2 + 1 + 1 + 1 + 2 + 1)
#define COUNT_VALUE_SIZE 16

/* Outcome of opening: fine, a hard error, or an index to throw away. */
#define OPEN_OK 0
#define OPEN_FAIL (-1)
#define OPEN_STALE (-2)

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

static void mdb_fail(char *err, size_t errlen, const char *what, int rc)
{
    errtext_set(err, errlen, "queue index: %s: %s", what, mdb_strerror(rc));
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

static unsigned char *put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        p[i] = (unsigned char)(v & 0xFF);
        v >>= 8;
    }
    return p + bytes;
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;

    for (int i = bytes - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/*
 * How many bytes of s (len bytes) to store: up to the first NUL, at most
 * max, and when cut at max, not in the middle of a UTF-8 sequence.
 */
static size_t clamp_len(const char *s, size_t len, size_t max)
{
    size_t lim, n;

    if (s == NULL)
        return 0;
    lim = len < max ? len : max;
    n = strnlen(s, lim);
    if (n == lim && lim < len) {
        for (int k = 0; k < 3 && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; k++)
            n--;
    }
    return n;
}

static size_t rcpt_limit(const struct qindex_entry *entry)
{
    if (entry->rcpts == NULL)
        return 0;
    return entry->rcpt_count > UINT32_MAX ? UINT32_MAX : entry->rcpt_count;
}

size_t qindex_encoded_size(const struct qindex_entry *entry)
{
    size_t size = REC_HEADER + 2 + clamp_len(entry->sender, entry->sender_len,
                                             QINDEX_ADDR_MAX) + 1 + 4;
    size_t n = rcpt_limit(entry);

    for (size_t i = 0; i < n; i++) {
        const struct qindex_rcpt *r = &entry->rcpts[i];

        size += RCPT_MIN;
        size += clamp_len(r->address, r->address_len, QINDEX_ADDR_MAX);
        size += clamp_len(r->dsn, r->dsn_len, QINDEX_DSN_MAX);
        size += clamp_len(r->reason, r->reason_len, QINDEX_REASON_MAX);
    }
    return size;
}

static unsigned char *put_str(unsigned char *p, int width, const char *s, size_t len,
                              size_t max)
{
    size_t n = clamp_len(s, len, max);

    p = put_le(p, n, width);
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    return p + n + 1;
}

size_t qindex_encode(const struct qindex_entry *entry, unsigned char *buf)
{
    unsigned char *p = buf;
    size_t n = rcpt_limit(entry);

    p = put_le(p, QINDEX_VERSION, 1);
    p = put_le(p, (uint64_t)entry->state, 1);
    p = put_le(p, (uint64_t)(int64_t)entry->arrival.tv_sec, 8);
    p = put_le(p, (uint64_t)(uint32_t)(int32_t)entry->arrival.tv_usec, 4);
    p = put_le(p, (uint64_t)entry->size, 8);
    p = put_le(p, (uint64_t)entry->next_attempt, 8);
    p = put_str(p, 2, entry->sender, entry->sender_len, QINDEX_ADDR_MAX);
    p = put_le(p, n, 4);
    for (size_t i = 0; i < n; i++) {
        const struct qindex_rcpt *r = &entry->rcpts[i];

        p = put_str(p, 2, r->address, r->address_len, QINDEX_ADDR_MAX);
        p = put_str(p, 1, r->dsn, r->dsn_len, QINDEX_DSN_MAX);
        p = put_str(p, 2, r->reason, r->reason_len, QINDEX_REASON_MAX);
    }
    return (size_t)(p - buf);
}

/* A bounds-checked reader over a record. */
struct reader {
    const unsigned char *p;
    size_t left;
};

static int read_num(struct reader *r, int bytes, uint64_t *v)
{
    if (r->left < (size_t)bytes)
        return -1;
    *v = get_le(r->p, bytes);
    r->p += bytes;
    r->left -= (size_t)bytes;
    return 0;
}

static int read_str(struct reader *r, int width, size_t max, const char **s, size_t *len)
{
    uint64_t n;

    if (read_num(r, width, &n) < 0 || n > max || n >= r->left)
        return -1;
    if (r->p[n] != '\0' || memchr(r->p, '\0', (size_t)n) != NULL)
        return -1;
    *s = (const char *)r->p;
    *len = (size_t)n;
    r->p += n + 1;
    r->left -= (size_t)n + 1;
    return 0;
}

static int read_rcpt(struct reader *r, struct qindex_rcpt *out)
{
    if (read_str(r, 2, QINDEX_ADDR_MAX, &out->address, &out->address_len) < 0
        || read_str(r, 1, QINDEX_DSN_MAX, &out->dsn, &out->dsn_len) < 0
        || read_str(r, 2, QINDEX_REASON_MAX, &out->reason, &out->reason_len) < 0)
        return -1;
    return 0;
}

int qindex_decode(const unsigned char *data, size_t len, struct qindex_entry *entry,
                  struct qindex_rcpt *rcpts, size_t rcpt_cap)
{
    struct reader r = {.p = data, .left = len};
    uint64_t version, state, sec, usec, size, next, count;

    if (data == NULL || entry == NULL)
        return -1;
    if (read_num(&r, 1, &version) < 0 || version != QINDEX_VERSION
        || read_num(&r, 1, &state) < 0 || state >= QUEUE_STATE_COUNT
        || read_num(&r, 8, &sec) < 0 || sec > INT64_MAX
        || read_num(&r, 4, &usec) < 0 || usec > 999999
        || read_num(&r, 8, &size) < 0 || size > INT64_MAX
        || read_num(&r, 8, &next) < 0 || next > INT64_MAX)
        return -1;
    entry->queue_id[0] = '\0';
    entry->state = (enum queue_state)state;
    entry->arrival.tv_sec = (time_t)sec;
    entry->arrival.tv_usec = (suseconds_t)usec;
    entry->size = (int64_t)size;
    entry->next_attempt = (int64_t)next;
    if (read_str(&r, 2, QINDEX_ADDR_MAX, &entry->sender, &entry->sender_len) < 0
        || read_num(&r, 4, &count) < 0 || count > r.left / RCPT_MIN)
        return -1;
    for (uint64_t i = 0; i < count; i++) {
        struct qindex_rcpt scratch;
        struct qindex_rcpt *out = (rcpts != NULL && i < rcpt_cap) ? &rcpts[i] : &scratch;

        if (read_rcpt(&r, out) < 0)
            return -1;
    }
    if (r.left != 0)
        return -1;
    entry->rcpt_count = (size_t)count;
    entry->rcpts = rcpts;
    return 0;
}

/* State and size of a stored record, without reading the rest. */
static int peek_record(const MDB_val *val, enum queue_state *state, int64_t *size)
{
    const unsigned char *p = val->mv_data;
    uint64_t sz;

    if (val->mv_size < REC_MIN || p[0] != QINDEX_VERSION || p[REC_STATE_AT] >= QUEUE_STATE_COUNT)
        return -1;
    sz = get_le(p + REC_SIZE_AT, 8);
    if (sz > INT64_MAX)
        return -1;
    *state = (enum queue_state)p[REC_STATE_AT];
    *size = (int64_t)sz;
    return 0;
}

static int entry_valid(const struct qindex_entry *e)
{
    return e != NULL && queue_id_valid(e->queue_id)
           && (unsigned)e->state < QUEUE_STATE_COUNT
           && e->arrival.tv_sec >= 0 && e->arrival.tv_usec >= 0
           && e->arrival.tv_usec <= 999999 && e->size >= 0 && e->next_attempt >= 0
           && (e->rcpt_count == 0 || e->rcpts != NULL);
}

void qindex_entry_from_file(struct qindex_entry *entry, const char *queue_id,
                            enum queue_state state, int64_t next_attempt,
                            const struct queue_file *qf, struct qindex_rcpt *rcpts)
{
    size_t n = 0;

    memset(entry, 0, sizeof(*entry));
    snprintf(entry->queue_id, sizeof(entry->queue_id), "%s", queue_id ? queue_id : "");
    entry->state = state;
    entry->arrival = qf->arrival;
    entry->size = (int64_t)qf->content_size;
    entry->next_attempt = next_attempt;
    entry->sender = qf->sender ? qf->sender : "";
    entry->sender_len = strlen(entry->sender);
    for (size_t i = 0; i < qf->rcpt_count; i++) {
        const struct qf_rcpt *q = &qf->rcpts[i];
        struct qindex_rcpt *r;

        if (q->state != QF_RCPT_PENDING)
            continue;
        r = &rcpts[n++];
        r->address = q->address ? q->address : "";
        r->address_len = strlen(r->address);
        r->dsn = q->delay_dsn ? q->delay_dsn : "";
        r->dsn_len = strlen(r->dsn);
        r->reason = q->delay_reason ? q->delay_reason : "";
        r->reason_len = strlen(r->reason);
    }
    entry->rcpt_count = n;
    entry->rcpts = rcpts;
}

/* ------------------------------------------------------------------ */
/* Environment                                                         */
/* ------------------------------------------------------------------ */

static int txn_begin(struct qindex *qi, unsigned flags, MDB_txn **txn, char *err,
                     size_t errlen)
{
    int rc = mdb_txn_begin(qi->env, NULL, flags, txn);

    if (rc == MDB_MAP_RESIZED) {
        /* Another process grew the map: adopt its size and retry. */
        rc = mdb_env_set_mapsize(qi->env, 0);
        if (rc == 0)
            rc = mdb_txn_begin(qi->env, NULL, flags, txn);
    }
    if (rc != 0) {
        *txn = NULL;
        mdb_fail(err, errlen, "mdb_txn_begin", rc);
        return -1;
    }
    return 0;
}

static void read_boot_id(char *buf, size_t len)
{
    ssize_t n;
    int fd;

    buf[0] = '\0';
    fd = open(BOOT_ID_FILE, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    n = read(fd, buf, len - 1);
    close(fd);
    if (n <= 0)
        n = 0;
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
}

/* A small text value from "meta" into buf ("" when missing). */
static int meta_get(struct qindex *qi, MDB_txn *txn, const char *name, char *buf, size_t len,
                    char *err, size_t errlen)
{
    MDB_val key = {strlen(name), (void *)name}, val;
    int rc = mdb_get(txn, qi->meta, &key, &val);

    buf[0] = '\0';
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0) {
        mdb_fail(err, errlen, "mdb_get", rc);
        return -1;
    }
    snprintf(buf, len, "%.*s", (int)(val.mv_size < len ? val.mv_size : len - 1),
             (const char *)val.mv_data);
    return 0;
}

static int meta_put(struct qindex *qi, MDB_txn *txn, const char *name, const char *value,
                    char *err, size_t errlen)
{
    MDB_val key = {strlen(name), (void *)name}, val = {strlen(value), (void *)value};
    int rc = mdb_put(txn, qi->meta, &key, &val, 0);

    if (rc != 0) {
        mdb_fail(err, errlen, "mdb_put", rc);
        return -1;
    }
    return 0;
}

/* Left dirty by a writer before the system restarted? */
static int dirty_across_boot(struct qindex *qi, MDB_txn *txn)
{
    char dirty[META_TEXT_MAX], boot[META_TEXT_MAX], now[META_TEXT_MAX];

    if (meta_get(qi, txn, "dirty", dirty, sizeof(dirty), NULL, 0) < 0
        || meta_get(qi, txn, "boot", boot, sizeof(boot), NULL, 0) < 0)
        return 0;
    if (strcmp(dirty, "1") != 0 || boot[0] == '\0')
        return 0;
    read_boot_id(now, sizeof(now));
    return now[0] != '\0' && strcmp(now, boot) != 0;
}

/* Open the three tables; a writable open creates them in a fresh index. */
static int open_tables(struct qindex *qi, char *err, size_t errlen)
{
    unsigned create = qi->writable ? MDB_CREATE : 0;
    char version[META_TEXT_MAX], want[META_TEXT_MAX];
    MDB_txn *txn;
    int rc, fresh = 0;

    if (txn_begin(qi, qi->writable ? 0 : MDB_RDONLY, &txn, err, errlen) < 0)
        return OPEN_FAIL;
    rc = mdb_dbi_open(txn, "meta", 0, &qi->meta);
    if (rc == MDB_NOTFOUND && qi->writable) {
        fresh = 1;
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &qi->meta);
    }
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        errtext_set(err, errlen, "queue index: not built yet (no meta table)");
        return OPEN_FAIL;
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        mdb_fail(err, errlen, "mdb_dbi_open", rc);
        return OPEN_STALE;
    }
    snprintf(want, sizeof(want), "%d", QINDEX_VERSION);
    if (!fresh) {
        if (meta_get(qi, txn, "version", version, sizeof(version), err, errlen) < 0) {
            mdb_txn_abort(txn);
            return OPEN_STALE;
        }
        if (strcmp(version, want) != 0) {
            mdb_txn_abort(txn);
            errtext_set(err, errlen, "queue index: format version \"%s\", expected %s",
                        version, want);
            return OPEN_STALE;
        }
        if (qi->writable && dirty_across_boot(qi, txn)) {
            mdb_txn_abort(txn);
            errtext_set(err, errlen,
                        "queue index: left dirty before a system restart, may be damaged");
            return OPEN_STALE;
        }
    }
    if ((rc = mdb_dbi_open(txn, "msgs", create, &qi->msgs)) != 0
        || (rc = mdb_dbi_open(txn, "counts", create, &qi->counts)) != 0) {
        mdb_txn_abort(txn);
        mdb_fail(err, errlen, "mdb_dbi_open", rc);
        return OPEN_STALE;
    }
    if (fresh && (meta_put(qi, txn, "version", want, err, errlen) < 0
                  || meta_put(qi, txn, "dirty", "0", err, errlen) < 0)) {
        mdb_txn_abort(txn);
        return OPEN_FAIL;
    }
    qi->fresh = fresh;
    /* Commit (even read-only) so that the table handles stay open. */
    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        mdb_fail(err, errlen, "mdb_txn_commit", rc);
        return OPEN_FAIL;
    }
    return OPEN_OK;
}

/* Errors of the system, not of the index: rebuilding would not help. */
static int system_error(int rc)
{
    return rc == EACCES || rc == EPERM || rc == EROFS || rc == ENOSPC || rc == ENOMEM
           || rc == EAGAIN || rc == EMFILE || rc == ENFILE;
}

static int try_open(struct qindex *qi, size_t map_size, char *err, size_t errlen)
{
    unsigned flags = MDB_NOTLS | (qi->writable ? MDB_NOSYNC : 0);
    int rc, dead;

    rc = mdb_env_create(&qi->env);
    if (rc != 0) {
        qi->env = NULL;
        mdb_fail(err, errlen, "mdb_env_create", rc);
        return OPEN_FAIL;
    }
    if ((rc = mdb_env_set_maxdbs(qi->env, MAX_DBS)) != 0
        || (rc = mdb_env_set_mapsize(qi->env, map_size)) != 0) {
        mdb_fail(err, errlen, "mdb_env_set", rc);
        mdb_env_close(qi->env);
        qi->env = NULL;
        return OPEN_FAIL;
    }
    rc = mdb_env_open(qi->env, QINDEX_DIR, flags, 0600);
    if (rc != 0) {
        mdb_fail(err, errlen, "mdb_env_open", rc);
        mdb_env_close(qi->env);
        qi->env = NULL;
        return system_error(rc) ? OPEN_FAIL : OPEN_STALE;
    }
    if (qi->writable)
        (void)mdb_reader_check(qi->env, &dead);   /* slots of crashed readers */
    rc = open_tables(qi, err, errlen);
    if (rc != OPEN_OK) {
        mdb_env_close(qi->env);
        qi->env = NULL;
    }
    return rc;
}

int qindex_open(int writable, size_t map_size, struct qindex **out, char *err, size_t errlen)
{
    struct qindex *qi;

    *out = NULL;
    if (writable) {
        if (mkdir(QINDEX_DIR, 0700) < 0 && errno != EEXIST) {
            errtext_set(err, errlen, "queue index: mkdir %s: %s", QINDEX_DIR, strerror(errno));
            return -1;
        }
    } else if (access(DATA_FILE, F_OK) < 0) {
        errtext_set(err, errlen, "queue index: %s: %s", DATA_FILE, strerror(errno));
        return -1;
    }
    qi = xcalloc(1, sizeof(*qi));
    qi->writable = writable ? 1 : 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = try_open(qi, map_size, err, errlen);

        if (rc == OPEN_OK) {
            *out = qi;
            return 0;
        }
        if (rc == OPEN_FAIL || !writable || attempt > 0)
            break;
        msg_warn("%s; rebuilding the index", err);
        if (qindex_destroy() < 0) {
            errtext_set(err, errlen, "queue index: cannot remove the old index: %s",
                        strerror(errno));
            break;
        }
    }
    xfree(qi);
    return -1;
}

void qindex_close(struct qindex *qi)
{
    if (qi == NULL)
        return;
    qindex_abort(qi);
    qindex_read_end(qi);
    if (qi->env != NULL) {
        if (qi->writable) {
            int rc = mdb_env_sync(qi->env, 1);
            if (rc != 0)
                msg_warn("queue index: mdb_env_sync: %s", mdb_strerror(rc));
        }
        mdb_env_close(qi->env);
    }
    xfree(qi->rcpts);
    xfree(qi->buf);
    xfree(qi);
}

const char *qindex_error(const struct qindex *qi)
{
    return qi != NULL ? qi->err : "queue index: no index";
}

int qindex_fresh(const struct qindex *qi)
{
    return qi != NULL && qi->fresh;
}

int qindex_destroy(void)
{
    if (unlink(DATA_FILE) < 0 && errno != ENOENT)
        return -1;
    if (unlink(LOCK_FILE) < 0 && errno != ENOENT)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Counts                                                              */
/* ------------------------------------------------------------------ */

static int counts_load(struct qindex *qi, MDB_txn *txn, uint64_t msgs[QUEUE_STATE_COUNT],
                       uint64_t bytes[QUEUE_STATE_COUNT], char *err, size_t errlen)
{
    for (int s = 0; s < QUEUE_STATE_COUNT; s++) {
        const char *name = queue_state_name((enum queue_state)s);
        MDB_val key = {strlen(name), (void *)name}, val;
        int rc = mdb_get(txn, qi->counts, &key, &val);

        msgs[s] = bytes[s] = 0;
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc != 0) {
            mdb_fail(err, errlen, "mdb_get", rc);
            return -1;
        }
        if (val.mv_size != COUNT_VALUE_SIZE)
            continue;           /* damaged: reconcile recomputes it */
        msgs[s] = get_le(val.mv_data, 8);
        bytes[s] = get_le((const unsigned char *)val.mv_data + 8, 8);
    }
    return 0;
}

static int counts_store(struct qindex *qi, char *err, size_t errlen)
{
    for (int s = 0; s < QUEUE_STATE_COUNT; s++) {
        const char *name = queue_state_name((enum queue_state)s);
        unsigned char value[COUNT_VALUE_SIZE];
        MDB_val key = {strlen(name), (void *)name}, val = {sizeof(value), value};
        int rc;

        put_le(put_le(value, qi->cnt_msgs[s], 8), qi->cnt_bytes[s], 8);
        rc = mdb_put(qi->wtxn, qi->counts, &key, &val, 0);
        if (rc != 0) {
            mdb_fail(err, errlen, "mdb_put", rc);
            return -1;
        }
    }
    return 0;
}

static void count_add(struct qindex *qi, enum queue_state state, int64_t size)
{
    qi->cnt_msgs[state]++;
    qi->cnt_bytes[state] += (uint64_t)size;
    qi->cnt_changed = 1;
}

static void count_sub(struct qindex *qi, enum queue_state state, int64_t size)
{
    qi->cnt_msgs[state] = qi->cnt_msgs[state] > 0 ? qi->cnt_msgs[state] - 1 : 0;
    qi->cnt_bytes[state] = qi->cnt_bytes[state] > (uint64_t)size
                           ? qi->cnt_bytes[state] - (uint64_t)size : 0;
    qi->cnt_changed = 1;
}

/* ------------------------------------------------------------------ */
/* Write transactions                                                  */
/* ------------------------------------------------------------------ */

int qindex_begin(struct qindex *qi, char *err, size_t errlen)
{
    if (!qi->writable) {
        errtext_set(err, errlen, "queue index: opened read-only");
        return -1;
    }
    if (qi->wtxn != NULL) {
        errtext_set(err, errlen, "queue index: a write transaction is already open");
        return -1;
    }
    if (txn_begin(qi, 0, &qi->wtxn, err, errlen) < 0)
        return -1;
    if (counts_load(qi, qi->wtxn, qi->cnt_msgs, qi->cnt_bytes, err, errlen) < 0) {
        qindex_abort(qi);
        return -1;
    }
    qi->cnt_changed = 0;
    return 0;
}

int qindex_commit(struct qindex *qi, char *err, size_t errlen)
{
    int rc;

    if (qi->wtxn == NULL) {
        errtext_set(err, errlen, "queue index: no write transaction to commit");
        return -1;
    }
    if (qi->cnt_changed && counts_store(qi, err, errlen) < 0) {
        qindex_abort(qi);
        return -1;
    }
    rc = mdb_txn_commit(qi->wtxn);
    qi->wtxn = NULL;
    if (rc != 0) {
        mdb_fail(err, errlen, "mdb_txn_commit", rc);
        return -1;
    }
    return 0;
}

void qindex_abort(struct qindex *qi)
{
    if (qi == NULL || qi->wtxn == NULL)
        return;
    mdb_txn_abort(qi->wtxn);
    qi->wtxn = NULL;
}

/* Run a change in the caller's transaction, or in one of its own. */
static int auto_begin(struct qindex *qi, int *own)
{
    *own = 0;
    if (qi->wtxn != NULL)
        return 0;
    if (qindex_begin(qi, qi->err, sizeof(qi->err)) < 0)
        return -1;
    *own = 1;
    return 0;
}

static int auto_end(struct qindex *qi, int own, int rc)
{
    if (!own)
        return rc;
    if (rc < 0) {
        qindex_abort(qi);
        return rc;
    }
    if (qindex_commit(qi, qi->err, sizeof(qi->err)) < 0)
        return -1;
    return rc;
}

static MDB_val id_key(const char *queue_id)
{
    MDB_val key = {strlen(queue_id), (void *)queue_id};
    return key;
}

static int put_locked(struct qindex *qi, const struct qindex_entry *entry)
{
    MDB_val key = id_key(entry->queue_id), old, val;
    enum queue_state old_state;
    int64_t old_size;
    int rc;

    rc = mdb_get(qi->wtxn, qi->msgs, &key, &old);
    if (rc == 0) {
        if (peek_record(&old, &old_state, &old_size) == 0)
            count_sub(qi, old_state, old_size);
    } else if (rc != MDB_NOTFOUND) {
        mdb_fail(qi->err, sizeof(qi->err), "mdb_get", rc);
        return -1;
    }
    val.mv_size = qindex_encoded_size(entry);
    val.mv_data = NULL;
    rc = mdb_put(qi->wtxn, qi->msgs, &key, &val, MDB_RESERVE);
    if (rc != 0) {
        mdb_fail(qi->err, sizeof(qi->err), "mdb_put", rc);
        return -1;
    }
    qindex_encode(entry, val.mv_data);
    count_add(qi, entry->state, entry->size);
    return 0;
}

int qindex_put(struct qindex *qi, const struct qindex_entry *entry)
{
    int own, rc;

    if (!entry_valid(entry)) {
        errtext_set(qi->err, sizeof(qi->err), "queue index: put: invalid entry");
        return -1;
    }
    if (auto_begin(qi, &own) < 0)
        return -1;
    rc = put_locked(qi, entry);
    return auto_end(qi, own, rc);
}

static int set_state_locked(struct qindex *qi, const char *queue_id, enum queue_state state,
                            int64_t next_attempt)
{
    MDB_val key = id_key(queue_id), old, val;
    struct qindex_entry e;
    int rc;

    rc = mdb_get(qi->wtxn, qi->msgs, &key, &old);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0) {
        mdb_fail(qi->err, sizeof(qi->err), "mdb_get", rc);
        return -1;
    }
    if (qindex_decode(old.mv_data, old.mv_size, &e, NULL, 0) < 0) {
        errtext_set(qi->err, sizeof(qi->err), "queue index: malformed entry for %s", queue_id);
        return -1;
    }
    /* A value read in a write transaction must not be changed in place. */
    qi->buf = xgrow(qi->buf, &qi->buf_cap, old.mv_size, 1);
    memcpy(qi->buf, old.mv_data, old.mv_size);
    qi->buf[REC_STATE_AT] = (unsigned char)state;
    put_le(qi->buf + REC_NEXT_AT, (uint64_t)next_attempt, 8);
    val.mv_size = old.mv_size;
    val.mv_data = qi->buf;
    rc = mdb_put(qi->wtxn, qi->msgs, &key, &val, 0);
    if (rc != 0) {
        mdb_fail(qi->err, sizeof(qi->err), "mdb_put", rc);
        return -1;
    }
    count_sub(qi, e.state, e.size);
    count_add(qi, state, e.size);
    return 1;
}

int qindex_set_state(struct qindex *qi, const char *queue_id, enum queue_state state,
                     int64_t next_attempt)
{
    int own, rc;

    if (!queue_id_valid(queue_id) || (unsigned)state >= QUEUE_STATE_COUNT || next_attempt < 0) {
        errtext_set(qi->err, sizeof(qi->err), "queue index: set_state: invalid argument");
        return -1;
    }
    if (auto_begin(qi, &own) < 0)
        return -1;
    rc = set_state_locked(qi, queue_id, state, next_attempt);
    return auto_end(qi, own, rc);
}

static int delete_locked(struct qindex *qi, const char *queue_id)
{
    MDB_val key = id_key(queue_id), old;
    enum queue_state state;
    int64_t size;
    int rc;

    rc = mdb_get(qi->wtxn, qi->msgs, &key, &old);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0) {
        mdb_fail(qi->err, sizeof(qi->err), "mdb_get", rc);
        return -1;
    }
    if (peek_record(&old, &state, &size) == 0)
        count_sub(qi, state, size);
    rc = mdb_del(qi->wtxn, qi->msgs, &key, NULL);
    if (rc != 0) {
        mdb_fail(qi->err, sizeof(qi->err), "mdb_del", rc);
        return -1;
    }
    return 1;
}

int qindex_delete(struct qindex *qi, const char *queue_id)
{
    int own, rc;

    if (!queue_id_valid(queue_id))
        return 0;               /* never stored */
    if (auto_begin(qi, &own) < 0)
        return -1;
    rc = delete_locked(qi, queue_id);
    return auto_end(qi, own, rc);
}

int qindex_set_dirty(struct qindex *qi, int dirty, char *err, size_t errlen)
{
    char boot[META_TEXT_MAX];
    int rc;

    if (qi->wtxn != NULL) {
        errtext_set(err, errlen, "queue index: set_dirty inside a write transaction");
        return -1;
    }
    if (qindex_begin(qi, err, errlen) < 0)
        return -1;
    read_boot_id(boot, sizeof(boot));
    if (meta_put(qi, qi->wtxn, "dirty", dirty ? "1" : "0", err, errlen) < 0
        || (dirty && meta_put(qi, qi->wtxn, "boot", boot, err, errlen) < 0)) {
        qindex_abort(qi);
        return -1;
    }
    if (qindex_commit(qi, err, errlen) < 0)
        return -1;
    rc = mdb_env_sync(qi->env, 1);
    if (rc != 0) {
        mdb_fail(err, errlen, "mdb_env_sync", rc);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

static MDB_txn *current_txn(struct qindex *qi)
{
    return qi->wtxn != NULL ? qi->wtxn : qi->rtxn;
}

/* The open transaction, or a new read-only one (*own set). */
static int reading_txn(struct qindex *qi, MDB_txn **txn, int *own, char *err, size_t errlen)
{
    *own = 0;
    *txn = current_txn(qi);
    if (*txn != NULL)
        return 0;
    if (txn_begin(qi, MDB_RDONLY, txn, err, errlen) < 0)
        return -1;
    *own = 1;
    return 0;
}

int qindex_read_begin(struct qindex *qi, char *err, size_t errlen)
{
    if (qi->rtxn != NULL) {
        errtext_set(err, errlen, "queue index: a read transaction is already open");
        return -1;
    }
    return txn_begin(qi, MDB_RDONLY, &qi->rtxn, err, errlen);
}

void qindex_read_end(struct qindex *qi)
{
    if (qi == NULL || qi->rtxn == NULL)
        return;
    mdb_txn_abort(qi->rtxn);
    qi->rtxn = NULL;
}

int qindex_get(struct qindex *qi, const char *queue_id, struct qindex_entry *entry,
               struct qindex_rcpt *rcpts, size_t rcpt_cap)
{
    MDB_txn *txn = current_txn(qi);
    MDB_val key, val;
    int rc;

    if (txn == NULL) {
        errtext_set(qi->err, sizeof(qi->err), "queue index: get outside a transaction");
        return -1;
    }
    if (!queue_id_valid(queue_id))
        return 0;
    key = id_key(queue_id);
    rc = mdb_get(txn, qi->msgs, &key, &val);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0) {
        mdb_fail(qi->err, sizeof(qi->err), "mdb_get", rc);
        return -1;
    }
    if (qindex_decode(val.mv_data, val.mv_size, entry, rcpts, rcpt_cap) < 0) {
        errtext_set(qi->err, sizeof(qi->err), "queue index: malformed entry for %s", queue_id);
        return -1;
    }
    snprintf(entry->queue_id, sizeof(entry->queue_id), "%s", queue_id);
    return 1;
}

/* Decode into the scratch recipients, growing them when needed. */
static int decode_scratch(struct qindex *qi, const MDB_val *val, struct qindex_entry *e)
{
    if (qindex_decode(val->mv_data, val->mv_size, e, qi->rcpts, qi->rcpt_cap) < 0)
        return -1;
    if (e->rcpt_count <= qi->rcpt_cap)
        return 0;
    qi->rcpts = xgrow(qi->rcpts, &qi->rcpt_cap, e->rcpt_count, sizeof(*qi->rcpts));
    return qindex_decode(val->mv_data, val->mv_size, e, qi->rcpts, qi->rcpt_cap);
}

static int walk_cursor(struct qindex *qi, MDB_cursor *cur, qindex_walk_fn fn, void *ctx,
                       char *err, size_t errlen)
{
    MDB_val key, val;
    int rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);

    for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        struct qindex_entry e;
        int stop;

        if (key.mv_size == 0 || key.mv_size > QUEUE_ID_MAX || decode_scratch(qi, &val, &e) < 0) {
            msg_warn("queue index: skipping a malformed entry (key %.*s)",
                     (int)(key.mv_size > QUEUE_ID_MAX ? QUEUE_ID_MAX : key.mv_size),
                     (const char *)key.mv_data);
            continue;
        }
        memcpy(e.queue_id, key.mv_data, key.mv_size);
        e.queue_id[key.mv_size] = '\0';
        stop = fn(&e, ctx);
        if (stop != 0)
            return stop;
    }
    if (rc != MDB_NOTFOUND) {
        mdb_fail(err, errlen, "mdb_cursor_get", rc);
        return -1;
    }
    return 0;
}

int qindex_walk(struct qindex *qi, qindex_walk_fn fn, void *ctx, char *err, size_t errlen)
{
    MDB_cursor *cur;
    MDB_txn *txn;
    int own, rc;

    if (reading_txn(qi, &txn, &own, err, errlen) < 0)
        return -1;
    rc = mdb_cursor_open(txn, qi->msgs, &cur);
    if (rc != 0) {
        mdb_fail(err, errlen, "mdb_cursor_open", rc);
        if (own)
            mdb_txn_abort(txn);
        return -1;
    }
    rc = walk_cursor(qi, cur, fn, ctx, err, errlen);
    mdb_cursor_close(cur);
    if (own)
        mdb_txn_abort(txn);
    return rc;
}

int qindex_counts(struct qindex *qi, uint64_t messages[QUEUE_STATE_COUNT],
                  uint64_t bytes[QUEUE_STATE_COUNT])
{
    MDB_txn *txn;
    int own, rc;

    if (qi->wtxn != NULL) {
        memcpy(messages, qi->cnt_msgs, sizeof(qi->cnt_msgs));
        memcpy(bytes, qi->cnt_bytes, sizeof(qi->cnt_bytes));
        return 0;
    }
    if (reading_txn(qi, &txn, &own, qi->err, sizeof(qi->err)) < 0)
        return -1;
    rc = counts_load(qi, txn, messages, bytes, qi->err, sizeof(qi->err));
    if (own)
        mdb_txn_abort(txn);
    return rc;
}

int qindex_is_dirty(struct qindex *qi)
{
    char dirty[META_TEXT_MAX];
    MDB_txn *txn;
    int own, rc;

    if (reading_txn(qi, &txn, &own, qi->err, sizeof(qi->err)) < 0)
        return -1;
    rc = meta_get(qi, txn, "dirty", dirty, sizeof(dirty), qi->err, sizeof(qi->err));
    if (own)
        mdb_txn_abort(txn);
    if (rc < 0)
        return -1;
    return strcmp(dirty, "1") == 0;
}

/* ------------------------------------------------------------------ */
/* Reconciliation                                                      */
/* ------------------------------------------------------------------ */

/* A set of queue IDs: strings in one arena, open addressing on offsets. */
struct idset {
    char *arena;
    size_t arena_len, arena_cap;
    size_t *slots;              /* offset + 1, 0 = empty */
    size_t nslots;              /* power of two */
    size_t count;
};

static uint64_t id_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    /* FNV's low bits mix poorly; the table uses them: finish with a mixer. */
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    return h;
}

/* The slot holding id, or the empty slot where it would go. */
static size_t *idset_slot(struct idset *set, const char *id)
{
    size_t mask = set->nslots - 1;
    size_t i = (size_t)id_hash(id) & mask;

    while (set->slots[i] != 0 && strcmp(set->arena + set->slots[i] - 1, id) != 0)
        i = (i + 1) & mask;
    return &set->slots[i];
}

static int idset_has(struct idset *set, const char *id)
{
    return set->nslots != 0 && *idset_slot(set, id) != 0;
}

static void idset_grow(struct idset *set)
{
    size_t *old = set->slots, old_n = set->nslots;

    set->nslots = old_n ? old_n * 2 : 1024;
    set->slots = xcalloc(set->nslots, sizeof(*set->slots));
    for (size_t i = 0; i < old_n; i++) {
        if (old[i] != 0)
            *idset_slot(set, set->arena + old[i] - 1) = old[i];
    }
    xfree(old);
}

static void idset_add(struct idset *set, const char *id)
{
    size_t len = strlen(id) + 1, *slot;

    if ((set->count + 1) * 2 > set->nslots)
        idset_grow(set);
    slot = idset_slot(set, id);
    if (*slot != 0)
        return;
    set->arena = xgrow(set->arena, &set->arena_cap, set->arena_len + len, 1);
    memcpy(set->arena + set->arena_len, id, len);
    *slot = set->arena_len + 1;
    set->arena_len += len;
    set->count++;
}

static void idset_free(struct idset *set)
{
    set->arena = xfree(set->arena);
    set->slots = xfree(set->slots);
    set->nslots = set->count = set->arena_len = set->arena_cap = 0;
}

struct reconcile {
    struct qindex *qi;
    enum queue_state state;     /* being walked */
    struct qindex_repair_stats *stats;
    qindex_bad_fn on_bad;
    void *bad_ctx;
    struct idset seen;
    unsigned long changes;      /* in the current transaction */
    char *err;
    size_t errlen;
};

/* One more change; commit when the batch is full. */
static int note_change(struct reconcile *rc)
{
    if (++rc->changes < BATCH_CHANGES)
        return 0;
    rc->changes = 0;
    if (qindex_commit(rc->qi, rc->err, rc->errlen) < 0
        || qindex_begin(rc->qi, rc->err, rc->errlen) < 0)
        return -1;
    return 0;
}

/* An unreadable file in corrupt/: index what its name and size tell. */
static int index_corrupt(struct reconcile *rc, const char *id, const struct stat *st)
{
    struct qindex_entry e;

    memset(&e, 0, sizeof(e));
    snprintf(e.queue_id, sizeof(e.queue_id), "%s", id);
    e.state = QUEUE_CORRUPT;
    if (queue_id_time(id, &e.arrival) < 0)
        return -1;
    e.size = (int64_t)st->st_size;
    e.sender = "";
    if (qindex_put(rc->qi, &e) < 0) {
        errtext_set(rc->err, rc->errlen, "%s", rc->qi->err);
        return -1;
    }
    return 0;
}

#define FILE_INDEXED 0
#define FILE_UNREADABLE 1
#define FILE_GONE 2

/* Read a file and index it: FILE_*, or -1 on an index error. */
static int index_file(struct reconcile *rc, const char *id)
{
    struct qindex *qi = rc->qi;
    char path[QUEUE_PATH_MAX], why[QF_ERR_MAX];
    struct queue_file qf;
    struct qindex_entry e;
    struct stat st;
    int fd, ret = FILE_INDEXED;

    queue_path(path, sizeof(path), rc->state, id);
    fd = queue_file_open(path, 0, &qf, why, sizeof(why));
    if (fd < 0) {
        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
            return FILE_GONE;   /* moved or removed while we looked */
        if (rc->state == QUEUE_CORRUPT)
            return index_corrupt(rc, id, &st);
        rc->stats->unreadable++;
        if (rc->on_bad)
            rc->on_bad(path, why, rc->bad_ctx);
        return FILE_UNREADABLE;
    }
    if (fstat(fd, &st) < 0)
        st.st_mtime = 0;
    qi->rcpts = xgrow(qi->rcpts, &qi->rcpt_cap, qf.rcpt_count, sizeof(*qi->rcpts));
    qindex_entry_from_file(&e, id, rc->state,
                           rc->state == QUEUE_DEFERRED ? (int64_t)st.st_mtime : 0, &qf, qi->rcpts);
    if (qindex_put(qi, &e) < 0) {
        errtext_set(rc->err, rc->errlen, "%s", qi->err);
        ret = -1;
    }
    close(fd);
    queue_file_free(&qf);
    return ret;
}

/* queue_walk callback: one file name in rc->state. */
static int reconcile_one(const char *id, void *ctx)
{
    struct reconcile *rc = ctx;
    struct qindex *qi = rc->qi;
    MDB_val key = id_key(id), val;
    enum queue_state state;
    int64_t size;
    int got, had, r;

    rc->stats->files_seen++;
    got = mdb_get(qi->wtxn, qi->msgs, &key, &val);
    if (got != 0 && got != MDB_NOTFOUND) {
        mdb_fail(rc->err, rc->errlen, "mdb_get", got);
        return 1;
    }
    had = got == 0 && peek_record(&val, &state, &size) == 0;
    if (had && state == rc->state) {
        idset_add(&rc->seen, id);
        return 0;
    }
    r = index_file(rc, id);
    if (r < 0)
        return 1;
    if (r == FILE_GONE)
        return 0;               /* the scan of the entries decides */
    if (r == FILE_INDEXED) {
        idset_add(&rc->seen, id);
        if (had)
            rc->stats->fixed_state++;
        else
            rc->stats->added++;
    } else if (got == 0 && delete_locked(qi, id) < 0) {
        errtext_set(rc->err, rc->errlen, "%s", qi->err);
        return 1;
    }
    return note_change(rc) < 0 ? 1 : 0;
}

/* Is the message's file in some state (it may have moved while we walked)? */
static int file_exists(const char *id)
{
    char path[QUEUE_PATH_MAX];
    struct stat st;

    for (int s = 0; s < QUEUE_STATE_COUNT; s++) {
        queue_path(path, sizeof(path), (enum queue_state)s, id);
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
            return 1;
    }
    return 0;
}

struct key_list {
    MDB_val *keys;
    size_t count, cap;
};

/* Entries to keep (counted) and to remove (copied into `gone`). */
static int scan_entries(struct reconcile *rc, struct key_list *gone)
{
    struct qindex *qi = rc->qi;
    MDB_cursor *cur;
    MDB_val key, val;
    int r;

    memset(qi->cnt_msgs, 0, sizeof(qi->cnt_msgs));
    memset(qi->cnt_bytes, 0, sizeof(qi->cnt_bytes));
    qi->cnt_changed = 1;
    r = mdb_cursor_open(qi->wtxn, qi->msgs, &cur);
    if (r != 0) {
        mdb_fail(rc->err, rc->errlen, "mdb_cursor_open", r);
        return -1;
    }
    for (r = mdb_cursor_get(cur, &key, &val, MDB_FIRST); r == 0;
         r = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        char id[QUEUE_ID_MAX + 1];
        enum queue_state state;
        int64_t size;

        if (key.mv_size > 0 && key.mv_size <= QUEUE_ID_MAX) {
            memcpy(id, key.mv_data, key.mv_size);
            id[key.mv_size] = '\0';
            if (queue_id_valid(id) && peek_record(&val, &state, &size) == 0
                && (idset_has(&rc->seen, id) || file_exists(id))) {
                count_add(qi, state, size);
                continue;
            }
        }
        gone->keys = xgrow(gone->keys, &gone->cap, gone->count + 1, sizeof(*gone->keys));
        gone->keys[gone->count].mv_size = key.mv_size;
        gone->keys[gone->count].mv_data = xmemdup(key.mv_data, key.mv_size);
        gone->count++;
    }
    mdb_cursor_close(cur);
    if (r != MDB_NOTFOUND) {
        mdb_fail(rc->err, rc->errlen, "mdb_cursor_get", r);
        return -1;
    }
    return 0;
}

/* Remove entries whose file is gone; the counts already leave them out. */
static int remove_entries(struct reconcile *rc, const struct key_list *gone)
{
    for (size_t i = 0; i < gone->count; i++) {
        MDB_val key = gone->keys[i];
        int r = mdb_del(rc->qi->wtxn, rc->qi->msgs, &key, NULL);

        if (r != 0 && r != MDB_NOTFOUND) {
            mdb_fail(rc->err, rc->errlen, "mdb_del", r);
            return -1;
        }
        if (r == 0)
            rc->stats->removed++;
        if (note_change(rc) < 0)
            return -1;
    }
    return 0;
}

static const enum queue_state walked_states[] = {
    QUEUE_INCOMING, QUEUE_ACTIVE, QUEUE_DEFERRED, QUEUE_HOLD, QUEUE_CORRUPT,
};

static int reconcile_files(struct reconcile *rc)
{
    for (size_t i = 0; i < sizeof(walked_states) / sizeof(walked_states[0]); i++) {
        int r;

        rc->state = walked_states[i];
        errno = 0;
        r = queue_walk(rc->state, reconcile_one, NULL, rc);
        if (r < 0) {
            errtext_set(rc->err, rc->errlen, "queue index: reconcile: reading %s: %s",
                        queue_state_name(rc->state), strerror(errno));
            return -1;
        }
        if (r != 0)
            return -1;          /* reconcile_one filled err */
    }
    return 0;
}

int qindex_reconcile(struct qindex *qi, struct qindex_repair_stats *stats,
                     qindex_bad_fn on_bad, void *ctx, char *err, size_t errlen)
{
    struct qindex_repair_stats local;
    struct key_list gone = {0};
    struct reconcile rc = {0};
    int ret = -1;

    if (stats == NULL)
        stats = &local;
    memset(stats, 0, sizeof(*stats));
    if (qi->wtxn != NULL) {
        errtext_set(err, errlen, "queue index: reconcile inside a write transaction");
        return -1;
    }
    if (qindex_begin(qi, err, errlen) < 0)
        return -1;
    rc.qi = qi;
    rc.stats = stats;
    rc.on_bad = on_bad;
    rc.bad_ctx = ctx;
    rc.err = err;
    rc.errlen = errlen;
    if (reconcile_files(&rc) == 0 && scan_entries(&rc, &gone) == 0
        && remove_entries(&rc, &gone) == 0 && qindex_commit(qi, err, errlen) == 0)
        ret = 0;
    if (ret < 0)
        qindex_abort(qi);       /* batches already committed were correct */
    for (size_t i = 0; i < gone.count; i++)
        xfree(gone.keys[i].mv_data);
    xfree(gone.keys);
    idset_free(&rc.seen);
    return ret;
}
