/*
 * postsuper.h - postsuper's internal interfaces (postsuper/ only; nothing
 * outside this folder includes it).
 *
 * Modules and what they own:
 *   postsuper.c   main(): options, configuration, privileges, the list of
 *                 requests (run in the order given), summary, exit status.
 *   ps_ops.c      hold, release, delete and requeue of one message (also
 *                 for IDs read from stdin); the per-operation tallies; the
 *                 list of directories to flush.
 *   ps_all.c      ALL: whole leaf directories moved at once, the rest file
 *                 by file; the index brought up to date in key order.
 *   ps_trash.c    where deleted files go until a detached child frees them.
 *   ps_qmgr.c     the conversation with qmgr on private/qmgr (withdraw,
 *                 new, wakeup) and the test "is master running?".
 *   ps_index.c    keeping the LMDB index in step, in batched transactions;
 *                 an index failure is a warning, never a stop.
 *   ps_repair.c   -s: check and repair the queue, then reconcile the index.
 *   ps_out.c      what the operator sees on stderr (Postfix style lines,
 *                 progress on a terminal) and what goes to the mail log.
 *
 * Memory: every module keeps its state in file-scope variables; nothing
 * returned to a caller needs freeing. Paths are relative to
 * queue_directory (main() chdirs there before any operation).
 */
#ifndef POSTERN_POSTSUPER_H
#define POSTERN_POSTSUPER_H

#include <stddef.h>
#include <stdint.h>

#include "queue_dir.h"

/* --- ps_out.c --- */

/* tool_say / tool_warn (lib/mail/tool.h) after erasing the progress line:
 * "postsuper: [warning: ]TEXT" on stderr and in the mail log. */
void ps_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ps_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One line to the mail log only (per-message events: "ID: placed on hold"),
 * on stderr too with -v. */
void ps_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Per-message lines on stderr too (-v). */
void ps_out_verbose(int on);
int ps_out_is_verbose(void);

/*
 * Progress on a terminal: "\rpostsuper: holding: 120000/500000", redrawn at
 * most every 0.2 s, only when stderr is a terminal. total 0 = unknown.
 */
void ps_progress_start(const char *verb, unsigned long total);
void ps_progress_tick(void);
void ps_progress_add(unsigned long n);
void ps_progress_end(void);

/* --- ps_index.c --- */

/* Open the index writable (a failure is reported once; carry on without). */
void ps_index_open(void);
/* Start a write transaction if none is open (call before changing files,
 * so qmgr's own index writes about the same messages land after ours). */
void ps_index_prepare(void);
void ps_index_set_state(const char *id, enum queue_state state);
void ps_index_delete(const char *id);
/* Commit the open transaction (before waiting for qmgr, and at the end). */
void ps_index_flush(void);
/* Messages per state, or -1 when the index is not available. */
int ps_index_counts(uint64_t messages[QUEUE_STATE_COUNT]);
/* The open index, or NULL (for -s). */
struct qindex *ps_index_handle(void);
/* Throw the index away and open a fresh one (for -s). 0 ok, -1 error. */
int ps_index_rebuild(void);
void ps_index_close(void);

/* --- ps_qmgr.c --- */

enum ps_withdraw {
    PS_WD_DONE,         /* qmgr did it */
    PS_WD_NOT_ACTIVE,   /* qmgr does not have it: look again */
    PS_WD_LOST,         /* the connection broke: look again */
    PS_WD_DOWN,         /* the mail system is not running: act directly */
    PS_WD_ERROR         /* qmgr refused or cannot be reached (reason filled) */
};

/* Ask qmgr to take message id out of active/ (action: hold, delete,
 * requeue). */
enum ps_withdraw ps_qmgr_withdraw(const char *id, const char *action,
                                  char *reason, size_t reason_len);
/* A message was put into incoming/: remember it for ps_qmgr_notify_flush. */
void ps_qmgr_note_new(const char *id);
/* Tell qmgr: one req=new per noted message, or one req=wakeup for many. */
void ps_qmgr_notify_flush(void);
void ps_qmgr_close(void);
/* Is master running for this queue directory (its lock is held)? */
int ps_master_running(void);

/* --- ps_ops.c --- */

enum ps_op { PS_HOLD, PS_RELEASE, PS_DELETE, PS_REQUEUE, PS_OP_COUNT };

#define PS_STATE_BIT(s) (1u << (s))

/* What an operation does (the table is in ps_ops.c). */
struct ps_op_def {
    enum ps_op op;
    const char *option;         /* "-h" */
    const char *progress;       /* "holding" */
    const char *summary;        /* "Placed on hold" */
    const char *logged;         /* "placed on hold" */
    unsigned all;               /* states ALL covers (PS_STATE_BIT) */
    unsigned from;              /* states a message is taken from */
    int dest;                   /* the state it goes to; -1: deleted */
    const char *action;         /* qmgr withdraw action */
    int repeat;                 /* walk ALL again while it finds messages */
    enum queue_state order[QUEUE_STATE_COUNT];  /* walk order for ALL */
    size_t order_len;
};

enum ps_outcome { PS_DONE, PS_SKIPPED, PS_NOT_FOUND, PS_FAILED };

const struct ps_op_def *ps_op_def(enum ps_op op);
/* May `state` be named after ALL for op? */
int ps_op_queue_ok(enum ps_op op, enum queue_state state);
/*
 * Act on one message, last seen in `state` (-1: unknown). `named`: the
 * operator named it, so not finding it is an error (in ALL it is not).
 */
enum ps_outcome ps_act(const struct ps_op_def *op, const char *id, int state, int named);
/* Count n outcomes for op (failures decide the exit status). */
void ps_count(enum ps_op op, enum ps_outcome out, unsigned long n);
/* op was asked for: it gets a summary line even when it did nothing. */
void ps_op_used(enum ps_op op);
/* Log one message done by op and tell qmgr later if it went to incoming. */
void ps_op_logged(const struct ps_op_def *op, const char *id);

/* Requests: one ID, or IDs on stdin. */
void ps_op_one(enum ps_op op, const char *id);
void ps_op_stdin(enum ps_op op);
/* Print "postsuper: Placed on hold: N messages" for each op that ran. */
void ps_op_summary(void);
/* Were there failures (an ID not found, a move that failed)? */
int ps_op_failed(void);
/* Note a failure found elsewhere (-s). */
void ps_op_note_failure(void);
/* Record that a leaf (ps_touch: the leaf of this ID) or the directory
 * holding a leaf (ps_touch_parent: of leaf number `leaf`, after the leaf
 * itself was renamed) changed; ps_sync_touched fsyncs them all. */
void ps_touch(enum queue_state state, const char *id);
void ps_touch_parent(enum queue_state state, int leaf);
void ps_sync_touched(void);
/* rename(2) that never replaces a file (where the file system can tell). */
int ps_rename_noreplace(const char *from, const char *to);

/* --- ps_all.c --- */

/* ALL: queue: a state, or -1 for the op's default set. */
void ps_op_all(enum ps_op op, int queue);

/* --- ps_trash.c --- */

/*
 * Deleting = moving out of the queue into a trash directory under tmp/
 * (one rename, or one RENAME_EXCHANGE for a whole leaf); the disk space is
 * freed by a detached child after postsuper has done everything else.
 */
/* Move one message file from `from` into the trash. 0, or -1 with errno. */
int ps_trash_file(enum queue_state from, const char *id);
/*
 * Swap leaf directory `leaf` ("deferred/3/F") with a new empty directory;
 * the old one, with everything in it, is now `out` in the trash. 0, or -1
 * with errno (EINVAL: the file system cannot exchange names).
 */
int ps_trash_leaf(const char *leaf, char *out, size_t outlen);
/* Free what was trashed: in a detached child, or here if fork fails. */
void ps_trash_free(void);
/* -s: remove trash older than an hour (a postsuper that died); files removed. */
unsigned long ps_trash_sweep(void);

/* --- ps_repair.c --- */

/* -s: check and repair; prints its report. */
void ps_repair(void);

#endif
