/*
 * queue_dir.c - the queue directory: state names, queue IDs, hashed paths,
 * creation of the tree, moves between states and walks over a state.
 *
 * Everything works on paths relative to the current directory, which the
 * caller has made queue_directory with chdir(). No function here allocates
 * memory that outlives the call; callers own every buffer they pass in.
 *
 * Edge cases:
 *  - queue_path()/queue_leaf_dir() write an empty string for an invalid ID,
 *    so a hostile ID from a command line can never name a path outside the
 *    queue ("../../etc/passwd" is not an ID); open("") then fails ENOENT.
 *  - queue_find() looks in every state and tries a few times, because a
 *    message may be renamed from one state to another while we look.
 *  - queue_walk() hands files with a bad name, files in the wrong leaf and
 *    entries that are not regular files to bad_fn, never to fn.
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

void queue_leaf_dir(char *buf, size_t len, enum queue_state state, const char *id)
{
    size_t n;

    if (buf == NULL || len == 0)
        return;
    buf[0] = '\0';
    if (!state_ok(state) || !queue_id_valid(id))
        return;
    n = strlen(id);
    snprintf(buf, len, "%s/%c/%c", state_names[state], id[n - 2], id[n - 1]);
}

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

static int make_state_tree(const char *name, uid_t uid, gid_t gid)
{
    char path[QUEUE_PATH_MAX];

    if (make_dir(name, 0700, uid, gid) < 0)
        return -1;
    for (int h1 = 0; h1 < 16; h1++) {
        snprintf(path, sizeof(path), "%s/%c", name, hex_digits[h1]);
        if (make_dir(path, 0700, uid, gid) < 0)
            return -1;
        for (int h2 = 0; h2 < 16; h2++) {
            snprintf(path, sizeof(path), "%s/%c/%c", name, hex_digits[h1], hex_digits[h2]);
            if (make_dir(path, 0700, uid, gid) < 0)
                return -1;
        }
    }
    return 0;
}

int queue_dir_create(uid_t uid, gid_t gid)
{
    for (int s = 0; s < QUEUE_STATE_COUNT; s++) {
        if (make_state_tree(state_names[s], uid, gid) < 0)
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

int queue_sync_parent(const char *path)
{
    char dir[QUEUE_PATH_MAX * 2];
    const char *slash;
    int fd, rc, saved;

    if (path == NULL) {
        errno = EINVAL;
        return -1;
    }
    slash = strrchr(path, '/');
    if (slash == NULL) {
        snprintf(dir, sizeof(dir), ".");
    } else if (slash == path) {
        snprintf(dir, sizeof(dir), "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof(dir)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* --- walking --- */

/* Leaf paths can hold any file name a hostile local user made. */
#define WALK_PATH_MAX (QUEUE_PATH_MAX + 256 + 8)

/* Is `name` a message that belongs in leaf h1/h2? */
static int name_belongs(const char *name, char h1, char h2)
{
    size_t n;

    if (!queue_id_valid(name))
        return 0;
    n = strlen(name);
    return name[n - 2] == h1 && name[n - 1] == h2;
}

/* Walk one leaf. 0 done, fn's non-zero value when stopped, -1 error. */
static int walk_leaf(const char *leaf, char h1, char h2,
                     queue_walk_fn fn, queue_bad_fn bad_fn, void *ctx)
{
    char path[WALK_PATH_MAX];
    struct dirent *de;
    DIR *dir;
    int rc = 0, saved;

    dir = opendir(leaf);
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
        if (name_belongs(de->d_name, h1, h2)
            && (de->d_type == DT_REG || de->d_type == DT_UNKNOWN)) {
            rc = fn(de->d_name, ctx);
            if (rc != 0)
                break;
        } else if (bad_fn) {
            snprintf(path, sizeof(path), "%s/%s", leaf, de->d_name);
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
    char leaf[QUEUE_PATH_MAX];

    if (!state_ok(state) || fn == NULL) {
        errno = EINVAL;
        return -1;
    }
    for (int h1 = 0; h1 < 16; h1++) {
        for (int h2 = 0; h2 < 16; h2++) {
            int rc;

            snprintf(leaf, sizeof(leaf), "%s/%c/%c", state_names[state],
                     hex_digits[h1], hex_digits[h2]);
            rc = walk_leaf(leaf, hex_digits[h1], hex_digits[h2], fn, bad_fn, ctx);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}
