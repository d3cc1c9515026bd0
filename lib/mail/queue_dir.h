/*
 * queue_dir.h - the queue directory: states, hashed paths, queue IDs.
 *
 * A message lives in exactly one state directory as one file named by its
 * queue ID:  STATE/H1/H2/ID  where H1 and H2 are the last two characters of
 * the ID (hex digits of its inode part), so no directory grows without bound
 * (256 leaves per state). A change of state is one rename(2). New files are
 * written under tmp/ and renamed into incoming/ when complete. Only this
 * module spells the layout out: others walk leaves with struct queue_leaf
 * and queue_walk*() (below).
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

/*
 * Leaf directories: the only place that knows how messages are spread
 * over directories. Each state has QUEUE_LEAF_COUNT leaves, numbered
 * 0 .. QUEUE_LEAF_COUNT - 1, and every message file belongs in exactly one
 * of them (by its ID). To visit every leaf of a state:
 *
 *     struct queue_leaf leaf;
 *     for (int i = 0; i < QUEUE_LEAF_COUNT; i++) {
 *         queue_leaf_at(&leaf, state, i);
 *         ... opendir(leaf.path), and for each entry:
 *             if (queue_leaf_holds(&leaf, entry_name)) ... a message ...
 *     }
 *
 * The number is the position: a walk spread over turns of an event loop
 * keeps it and resumes there. Leaves that share a parent directory have
 * consecutive numbers. A leaf's path is a directory of the tree made by
 * queue_dir_create(); it may be missing (treat ENOENT as empty).
 */
#define QUEUE_LEAF_COUNT 256

struct queue_leaf {
    enum queue_state state;
    int index;                  /* 0 .. QUEUE_LEAF_COUNT - 1 */
    char path[QUEUE_PATH_MAX];  /* "deferred/3/F" */
};

/* Leaf number `index` of `state`. 0 ok; -1 with errno EINVAL for a bad
 * state or number (leaf->path is then ""). */
int queue_leaf_at(struct queue_leaf *leaf, enum queue_state state, int index);
/* The number of the leaf an ID belongs in, or -1 for an invalid ID. */
int queue_leaf_index(const char *id);
/* The leaf an ID belongs in. 0 ok; -1 with errno EINVAL for an invalid ID
 * or state (leaf->path is then ""). */
int queue_leaf_of(struct queue_leaf *leaf, enum queue_state state, const char *id);
/* Does the directory entry `name` name a message that belongs in `leaf`
 * (a valid queue ID whose leaf it is)? Costs one queue_id_valid(). */
int queue_leaf_holds(const struct queue_leaf *leaf, const char *name);
/* The directory that holds the leaf ("deferred/3") into buf (>=
 * QUEUE_PATH_MAX): the one to fsync when the leaf itself was renamed. */
void queue_leaf_parent(const struct queue_leaf *leaf, char *buf, size_t len);

/*
 * Create every state directory with its 256 leaves, tmp/, private/, public/,
 * pid/ and index/ (the LMDB queue index, see queue_index.h) under the current directory, mode 0700 (public/ 0711), owned by
 * uid/gid when running as root (pass -1 to leave ownership). Existing
 * directories are kept (and re-owned). 0 ok, -1 error.
 */
int queue_dir_create(uid_t uid, gid_t gid);

/*
 * rename(2) between states; 0 ok, -1 error (errno ENOENT: not there, EINVAL:
 * bad ID or state). Does not fsync: call fdio_fsync_parent() on the new path
 * when the move must be durable.
 */
int queue_move(const char *id, enum queue_state from, enum queue_state to);
/*
 * Find the state a message is in (a regular file at its path); 0 found, -1
 * not found (errno ENOENT, or EINVAL for an invalid ID). Looks up to three
 * times over all states, since a message may be renamed while we look.
 */
int queue_find(const char *id, enum queue_state *state);

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

/*
 * The rest of a state's tree, above the leaves (what queue_walk does not
 * read): pass every entry of the state directory and of the directories
 * between it and the leaves that is not one of those directories - a
 * file, a link, a directory with another name - to bad_fn with its path
 * ("hold/x", "hold/3/x"). Names starting with '.' are not skipped here
 * (only "." and ".."). A missing directory is empty. Returns 0, or -1 with
 * errno of the first directory that could not be read (the others are
 * still walked).
 */
int queue_walk_strays(enum queue_state state, queue_bad_fn bad_fn, void *ctx);

#endif
