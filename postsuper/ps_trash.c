/*
 * ps_trash.c - where deleted messages go, and how their space is freed.
 *
 * Deleting a message is taking it out of the queue: one rename of its file
 * (or one RENAME_EXCHANGE of a whole leaf directory with an empty one) into
 * tmp/.postsuper-trash.PID/, on the same file system. From then on no
 * program sees it. Unlinking the files - which frees the disk space and can
 * be slow (a file system mounted with online discard frees a few thousand
 * files a second) - is done afterwards by a detached child at idle I/O
 * priority, once postsuper has finished everything else; if it cannot fork
 * it unlinks them itself. Trash that a dead postsuper left behind is
 * removed by postsuper -s once it is an hour old.
 *
 * Layout: the trash directory holds single files (named by queue ID) and
 * whole former leaf directories ("leaf.N"), nothing deeper.
 *
 * Memory: the trash path and a counter, file-scope.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"
#include "postsuper.h"

#define TRASH_PREFIX ".postsuper-trash."
#define TRASH_PATH_MAX 128
#define TRASH_MAX_AGE 3600

/* Linux I/O priority (linux/ioprio.h): class idle. */
#define PS_IOPRIO_WHO_PROCESS 1
#define PS_IOPRIO_CLASS_IDLE 3
#define PS_IOPRIO_CLASS_SHIFT 13

static char trash_dir[TRASH_PATH_MAX];
static int trash_made;
static unsigned long leaf_seq;

/* A directory with exactly mode 0700 (as queue_dir_create makes them). */
static int make_dir(const char *path)
{
    if (mkdir(path, 0700) < 0)
        return -1;
    return chmod(path, 0700);
}

static int trash_ready(void)
{
    if (trash_made)
        return 0;
    snprintf(trash_dir, sizeof(trash_dir), "%s/%s%ld", QUEUE_TMP_DIR, TRASH_PREFIX,
             (long)getpid());
    if (make_dir(trash_dir) < 0 && errno != EEXIST)
        return -1;
    trash_made = 1;
    return 0;
}

int ps_trash_file(enum queue_state from, const char *id)
{
    char src[QUEUE_PATH_MAX], dst[TRASH_PATH_MAX + QUEUE_ID_MAX + 2];

    queue_path(src, sizeof(src), from, id);
    if (src[0] == '\0') {
        errno = EINVAL;
        return -1;
    }
    if (trash_ready() < 0)
        return -1;
    snprintf(dst, sizeof(dst), "%s/%s", trash_dir, id);
    /* Replacing a file already in the trash only frees it sooner. */
    return rename(src, dst);
}

int ps_trash_leaf(const char *leaf, char *out, size_t outlen)
{
    int n;

    if (trash_ready() < 0)
        return -1;
    n = snprintf(out, outlen, "%s/leaf.%lu", trash_dir, leaf_seq++);
    if (n < 0 || (size_t)n >= outlen) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (make_dir(out) < 0)
        return -1;
    if (renameat2(AT_FDCWD, leaf, AT_FDCWD, out, RENAME_EXCHANGE) < 0) {
        int saved = errno;
        rmdir(out);
        errno = saved;
        return -1;
    }
    return 0;
}

/* --- freeing --- */

/* Remove everything in dir (files, and directories of files), then dir. */
static unsigned long remove_tree(const char *dir, int depth)
{
    char path[TRASH_PATH_MAX + 300];
    unsigned long removed = 0;
    struct dirent *de;
    DIR *d = opendir(dir);

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
            removed++;
            continue;
        }
        if ((errno == EISDIR || errno == EPERM) && depth > 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            removed += remove_tree(path, depth - 1);
        }
    }
    closedir(d);
    if (rmdir(dir) < 0 && errno != ENOENT)
        msg_warn("cannot remove %s: %s", dir, strerror(errno));
    return removed;
}

static void become_background(void)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

    setsid();
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
    if (nice(10) < 0)
        errno = 0;
    syscall(SYS_ioprio_set, PS_IOPRIO_WHO_PROCESS, 0,
            PS_IOPRIO_CLASS_IDLE << PS_IOPRIO_CLASS_SHIFT);
}

void ps_trash_free(void)
{
    struct timespec t0, t1;
    unsigned long removed;
    pid_t pid;

    if (!trash_made)
        return;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid > 0)
        return;                 /* the child frees; we exit */
    if (pid == 0)
        become_background();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    removed = remove_tree(trash_dir, 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (removed > 0)
        ps_log("freed the space of %lu deleted queue file%s in %.1f s", removed,
               removed == 1 ? "" : "s",
               (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    if (pid == 0)
        _exit(0);
}

unsigned long ps_trash_sweep(void)
{
    char path[TRASH_PATH_MAX + 300];
    time_t limit = time(NULL) - TRASH_MAX_AGE;
    unsigned long removed = 0;
    struct dirent *de;
    struct stat st;
    DIR *d = opendir(QUEUE_TMP_DIR);

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, TRASH_PREFIX, strlen(TRASH_PREFIX)) != 0)
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
            || !S_ISDIR(st.st_mode) || st.st_mtime > limit)
            continue;
        snprintf(path, sizeof(path), "%s/%s", QUEUE_TMP_DIR, de->d_name);
        removed += remove_tree(path, 1);
    }
    closedir(d);
    return removed;
}
