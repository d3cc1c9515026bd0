/*
 * queue_dir.h - the queue directory: states, hashed paths, queue IDs.
 *
 * A message lives in exactly one state directory as one file named by its
 * queue ID:  STATE/H1/H2/ID  where H1 and H2 are the last two characters of
 * the ID (hex digits of its inode part), so no directory grows without bound
 * (256 leaves per state). A change of state is one rename(2). New files are
 * written under tmp/ and renamed into incoming/ when complete.
 *
 * Queue IDs: 14 hex digits of arrival time (9 for seconds, 5 for
 * microseconds) followed by at least 6 hex digits of the file's inode number.
 * Two files that exist at the same time have different inodes, and two files
 * created at different microseconds have different prefixes, so IDs are
 * unique across restarts; and they sort by arrival. Characters: [0-9A-F].
 *
 * All paths are relative to queue_directory; daemons chdir() there first.
 * Success convention: 0 ok, -1 error with errno set.
 */
#ifndef POSTERN_QUEUE_DIR_H
#define POSTERN_QUEUE_DIR_H

#include <stddef.h>
#include <sys/time.h>
#include <sys/types.h>

enum queue_state {
    QUEUE_INCOMING,
    QUEUE_ACTIVE,
    QUEUE_DEFERRED,
    QUEUE_HOLD,
    QUEUE_CORRUPT,
    QUEUE_STATE_COUNT
};

#define QUEUE_ID_MIN 20
#define QUEUE_ID_MAX 40
#define QUEUE_PATH_MAX 64
#define QUEUE_TMP_DIR "tmp"

const char *queue_state_name(enum queue_state state);
/* -1 when `name` is not a state. */
int queue_state_from_name(const char *name);

/* Make an ID from an arrival time and an inode; buf >= QUEUE_ID_MAX + 1. */
void queue_id_make(char *buf, size_t len, const struct timeval *arrival, ino_t inode);
int queue_id_valid(const char *id);
/* Arrival time encoded in a valid ID. */
int queue_id_time(const char *id, struct timeval *arrival);

/*
 * "deferred/3/F/ID" into buf (>= QUEUE_PATH_MAX); H1 is the next-to-last
 * and H2 the last character of the ID. An invalid ID or state gives "" (so
 * a hostile ID never names a path outside the queue).
 */
void queue_path(char *buf, size_t len, enum queue_state state, const char *id);
/* The leaf directory of an ID: "deferred/3/F" ("" when invalid). */
void queue_leaf_dir(char *buf, size_t len, enum queue_state state, const char *id);

/*
 * Create every state directory with its 256 leaves, tmp/, private/, public/,
 * pid/ and index/ (the LMDB queue index, see queue_index.h) under the current directory, mode 0700 (public/ 0711), owned by
 * uid/gid when running as root (pass -1 to leave ownership). Existing
 * directories are kept (and re-owned). 0 ok, -1 error.
 */
int queue_dir_create(uid_t uid, gid_t gid);

/*
 * rename(2) between states; 0 ok, -1 error (errno ENOENT: not there, EINVAL:
 * bad ID or state). Does not fsync: call queue_sync_parent() on the new path
 * when the move must be durable.
 */
int queue_move(const char *id, enum queue_state from, enum queue_state to);
/*
 * Find the state a message is in (a regular file at its path); 0 found, -1
 * not found (errno ENOENT, or EINVAL for an invalid ID). Looks up to three
 * times over all states, since a message may be renamed while we look.
 */
int queue_find(const char *id, enum queue_state *state);
/* fsync the directory holding `path` (a file path relative to queue dir). */
int queue_sync_parent(const char *path);

/*
 * Iterate over all message files in a state, calling fn(id, ctx) for each
 * valid ID found; stops early when fn returns non-zero (that value is
 * returned). Files with invalid names, valid IDs in the wrong leaf and
 * entries that are not regular files are passed to bad_fn (may be NULL)
 * with their path. Names starting with '.' are skipped, as are missing
 * leaves. Returns 0 when done, fn's value when stopped early, -1 with errno
 * when a leaf cannot be read (so fn should stop with a positive value).
 */
typedef int (*queue_walk_fn)(const char *id, void *ctx);
typedef void (*queue_bad_fn)(const char *path, void *ctx);
int queue_walk(enum queue_state state, queue_walk_fn fn, queue_bad_fn bad_fn, void *ctx);

#endif
