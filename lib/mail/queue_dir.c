/*
 * queue_dir.c - the queue directory: state names, queue IDs, hashed paths,
 * leaf directories, creation of the tree, moves between states and walks
 * over a state.
 *
 * This file alone knows the layout: STATE/H1/H2/ID, H1 and H2 being the
 * last two (hex) characters of the ID, so leaf number H1 * 16 + H2. Other
 * modules name leaves by number (struct queue_leaf) and ask whether a name
 * belongs in one (queue_leaf_holds).
 *
 * Everything works on paths relative to the current directory, which the
 * caller has made queue_directory with chdir(). No function here allocates
 * memory that outlives the call; callers own every buffer they pass in.
 *
 * Edge cases:
 *  - queue_path()/queue_leaf_of() give an empty path for an invalid ID,
 *    so a hostile ID from a command line can never name a path outside the
 *    queue ("../../etc/passwd" is not an ID); open("") then fails ENOENT.
 *  - queue_find() looks in every state and tries a few times, because a
 *    message may be renamed from one state to another while we look.
 *  - queue_walk() hands files with a bad name, files in the wrong leaf and
 *    entries that are not regular files to bad_fn, never to fn;
 *    queue_walk_strays() hands it what sits above the leaves.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue_dir.h"

static const char *const state_names[QUEUE_STATE_COUNT] = {
    [QUEUE_INCOMING] = "incoming",
    [QUEUE_ACTIVE] = "active",
    [QUEUE_DEFERRED] = "deferred",
    [QUEUE_HOLD] = "hold",
    [QUEUE_CORRUPT] = "corrupt",
};

static const char hex_digits[] = "0123456789ABCDEF";

#define ID_SEC_DIGITS 9
#define ID_USEC_DIGITS 5
#define ID_TIME_DIGITS (ID_SEC_DIGITS + ID_USEC_DIGITS)
#define ID_SEC_MASK 0xFFFFFFFFFULL     /* 36 bits: 9 hex digits */
#define FANOUT 16                       /* subdirectories per level */

const char *queue_state_name(enum queue_state state)
{
    if ((unsigned)state >= QUEUE_STATE_COUNT)
        return "unknown";
    return state_names[state];
}

int queue_state_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < QUEUE_STATE_COUNT; i++) {
        if (strcmp(name, state_names[i]) == 0)
            return i;
    }
    return -1;
}

static int state_ok(enum queue_state state)
{
    return (unsigned)state < QUEUE_STATE_COUNT;
}

/* --- queue IDs --- */

/* Write `value` as exactly `digits` uppercase hex digits at `out`. */
static void put_hex(char *out, unsigned long long value, int digits)
{
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = hex_digits[value & 0xF];
        value >>= 4;
    }
}

void queue_id_make(char *buf, size_t len, const struct timeval *arrival, ino_t inode)
{
    unsigned long long sec, usec, ino = (unsigned long long)inode;
    char tmp[QUEUE_ID_MAX + 1];
    int ino_digits = 6;

    if (buf == NULL || len == 0)
        return;
    sec = arrival->tv_sec < 0 ? 0 : (unsigned long long)arrival->tv_sec & ID_SEC_MASK;
    usec = (arrival->tv_usec < 0 || arrival->tv_usec > 999999) ? 0
           : (unsigned long long)arrival->tv_usec;
    while (ino_digits < 16 && (ino >> (4 * ino_digits)) != 0)
        ino_digits++;
    put_hex(tmp, sec, ID_SEC_DIGITS);
    put_hex(tmp + ID_SEC_DIGITS, usec, ID_USEC_DIGITS);
    put_hex(tmp + ID_TIME_DIGITS, ino, ino_digits);
    tmp[ID_TIME_DIGITS + ino_digits] = '\0';
    snprintf(buf, len, "%s", tmp);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static unsigned long long hex_field(const char *s, int digits)
{
    unsigned long long v = 0;

    for (int i = 0; i < digits; i++)
        v = (v << 4) | (unsigned)hex_value(s[i]);
    return v;
}

int queue_id_valid(const char *id)
{
    size_t len;

    if (id == NULL)
        return 0;
    len = strnlen(id, QUEUE_ID_MAX + 1);
    if (len < QUEUE_ID_MIN || len > QUEUE_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (hex_value(id[i]) < 0)
            return 0;
    }
    return hex_field(id + ID_SEC_DIGITS, ID_USEC_DIGITS) <= 999999;
}

int queue_id_time(const char *id, struct timeval *arrival)
{
    if (!queue_id_valid(id)) {
        errno = EINVAL;
        return -1;
    }
    arrival->tv_sec = (time_t)hex_field(id, ID_SEC_DIGITS);
    arrival->tv_usec = (suseconds_t)hex_field(id + ID_SEC_DIGITS, ID_USEC_DIGITS);
    return 0;
}

/* --- paths --- */

void queue_path(char *buf, size_t len, enum queue_state state, const char *id)
{
    size_t n;

    if (buf == NULL || len == 0)
        return;
    buf[0] = '\0';
    if (!state_ok(state) || !queue_id_valid(id))
        return;
    n = strlen(id);
    snprintf(buf, len, "%s/%c/%c/%s", state_names[state], id[n - 2], id[n - 1], id);
}

/* --- leaf directories --- */

int queue_leaf_at(struct queue_leaf *leaf, enum queue_state state, int index)
{
    leaf->state = state;
    leaf->index = -1;
    leaf->path[0] = '\0';
    if (!state_ok(state) || index < 0 || index >= QUEUE_LEAF_COUNT) {
        errno = EINVAL;
        return -1;
    }
    leaf->index = index;
    snprintf(leaf->path, sizeof(leaf->path), "%s/%c/%c", state_names[state],
             hex_digits[index / FANOUT], hex_digits[index % FANOUT]);
    return 0;
}

int queue_leaf_index(const char *id)
{
    size_t n;

    if (!queue_id_valid(id))
        return -1;
    n = strlen(id);
    return hex_value(id[n - 2]) * FANOUT + hex_value(id[n - 1]);
}

int queue_leaf_of(struct queue_leaf *leaf, enum queue_state state, const char *id)
{
    return queue_leaf_at(leaf, state, queue_leaf_index(id));
}

int queue_leaf_holds(const struct queue_leaf *leaf, const char *name)
{
    return leaf->index >= 0 && queue_leaf_index(name) == leaf->index;
}

void queue_leaf_parent(const struct queue_leaf *leaf, char *buf, size_t len)
{
    const char *slash = strrchr(leaf->path, '/');

    if (buf == NULL || len == 0)
        return;
    if (slash == NULL) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, len, "%.*s", (int)(slash - leaf->path), leaf->path);
}

/* --- creating the tree --- */

/*
 * Make one directory with exactly `mode` (chmod after mkdir defeats the
 * umask); keep it when it exists. Re-own it when asked to and running as
 * root.
 */
static int make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
    struct stat st;

    if (mkdir(path, mode) == 0) {
        if (chmod(path, mode) < 0)
            return -1;
    } else if (errno != EEXIST) {
        return -1;
    }
    if (stat(path, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    if (geteuid() == 0 && (uid != (uid_t)-1 || gid != (gid_t)-1)) {
        if (chown(path, uid, gid) < 0)
            return -1;
    }
    return 0;
}

/* The state directory, then each parent before its first leaf. */
static int make_state_tree(enum queue_state state, uid_t uid, gid_t gid)
{
    char parent[QUEUE_PATH_MAX];
    struct queue_leaf leaf;

    if (make_dir(state_names[state], 0700, uid, gid) < 0)
        return -1;
    for (int i = 0; i < QUEUE_LEAF_COUNT; i++) {
        queue_leaf_at(&leaf, state, i);
        if (i % FANOUT == 0) {
            queue_leaf_parent(&leaf, parent, sizeof(parent));
            if (make_dir(parent, 0700, uid, gid) < 0)
                return -1;
        }
        if (make_dir(leaf.path, 0700, uid, gid) < 0)
            return -1;
    }
    return 0;
}

int queue_dir_create(uid_t uid, gid_t gid)
{
    for (int s = 0; s < QUEUE_STATE_COUNT; s++) {
        if (make_state_tree((enum queue_state)s, uid, gid) < 0)
            return -1;
    }
    if (make_dir(QUEUE_TMP_DIR, 0700, uid, gid) < 0
        || make_dir("private", 0700, uid, gid) < 0
        || make_dir("public", 0711, uid, gid) < 0
        || make_dir("pid", 0700, uid, gid) < 0
        || make_dir("index", 0700, uid, gid) < 0)
        return -1;
    return 0;
}

/* --- moving and finding --- */

int queue_move(const char *id, enum queue_state from, enum queue_state to)
{
    char old_path[QUEUE_PATH_MAX], new_path[QUEUE_PATH_MAX];

    if (!queue_id_valid(id) || !state_ok(from) || !state_ok(to)) {
        errno = EINVAL;
        return -1;
    }
    queue_path(old_path, sizeof(old_path), from, id);
    queue_path(new_path, sizeof(new_path), to, id);
    return rename(old_path, new_path);
}

#define FIND_PASSES 3

int queue_find(const char *id, enum queue_state *state)
{
    char path[QUEUE_PATH_MAX];
    struct stat st;

    if (!queue_id_valid(id)) {
        errno = EINVAL;
        return -1;
    }
    /* A message may move between states while we look: try again. */
    for (int pass = 0; pass < FIND_PASSES; pass++) {
        for (int s = 0; s < QUEUE_STATE_COUNT; s++) {
            queue_path(path, sizeof(path), (enum queue_state)s, id);
            if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                if (state)
                    *state = (enum queue_state)s;
                return 0;
            }
        }
    }
    errno = ENOENT;
    return -1;
}

/* --- walking --- */

/* Leaf paths can hold any file name a hostile local user made. */
#define WALK_PATH_MAX (QUEUE_PATH_MAX + 256 + 8)

/* Walk one leaf. 0 done, fn's non-zero value when stopped, -1 error. */
static int walk_leaf(const struct queue_leaf *leaf, queue_walk_fn fn, queue_bad_fn bad_fn,
                     void *ctx)
{
    char path[WALK_PATH_MAX];
    struct dirent *de;
    DIR *dir;
    int rc = 0, saved;

    dir = opendir(leaf->path);
    if (dir == NULL)
        return errno == ENOENT ? 0 : -1;
    for (;;) {
        errno = 0;
        de = readdir(dir);
        if (de == NULL) {
            rc = errno ? -1 : 0;
            break;
        }
        if (de->d_name[0] == '.')
            continue;
        if (queue_leaf_holds(leaf, de->d_name)
            && (de->d_type == DT_REG || de->d_type == DT_UNKNOWN)) {
            rc = fn(de->d_name, ctx);
            if (rc != 0)
                break;
        } else if (bad_fn) {
            snprintf(path, sizeof(path), "%s/%s", leaf->path, de->d_name);
            bad_fn(path, ctx);
        }
    }
    saved = errno;
    closedir(dir);
    errno = saved;
    return rc;
}

int queue_walk(enum queue_state state, queue_walk_fn fn, queue_bad_fn bad_fn, void *ctx)
{
    struct queue_leaf leaf;

    if (!state_ok(state) || fn == NULL) {
        errno = EINVAL;
        return -1;
    }
    for (int i = 0; i < QUEUE_LEAF_COUNT; i++) {
        int rc;

        queue_leaf_at(&leaf, state, i);
        rc = walk_leaf(&leaf, fn, bad_fn, ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* A directory of the tree below a state: one hex digit, like "3". */
static int is_branch_name(const char *name)
{
    return hex_value(name[0]) >= 0 && name[1] == '\0';
}

/*
 * Entries of `dir` (a state directory when levels is 2, a parent of
 * leaves when 1) that are not its subdirectories of the tree go to bad_fn;
 * the subdirectories are walked the same way while levels > 1. 0, or -1
 * with errno (of the first failure) when a directory could not be read.
 */
static int walk_level(const char *dirpath, int levels, queue_bad_fn bad_fn, void *ctx)
{
    char path[WALK_PATH_MAX];
    struct dirent *de;
    struct stat st;
    DIR *dir = opendir(dirpath);
    int rc = 0, first_errno = 0;

    if (dir == NULL)
        return errno == ENOENT ? 0 : -1;
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name);
        if (lstat(path, &st) < 0)
            continue;           /* gone meanwhile */
        if (is_branch_name(de->d_name) && S_ISDIR(st.st_mode)) {
            if (levels > 1 && walk_level(path, levels - 1, bad_fn, ctx) < 0 && rc == 0) {
                rc = -1;
                first_errno = errno;
            }
            continue;
        }
        bad_fn(path, ctx);
    }
    closedir(dir);
    if (rc < 0)
        errno = first_errno;
    return rc;
}

int queue_walk_strays(enum queue_state state, queue_bad_fn bad_fn, void *ctx)
{
    if (!state_ok(state) || bad_fn == NULL) {
        errno = EINVAL;
        return -1;
    }
    return walk_level(state_names[state], 2, bad_fn, ctx);
}
