/*
 * master_lock.c - the queue directory master runs in, and the instance lock.
 *
 * master_queue_setup() creates queue_directory (and missing parents, 0755;
 * the queue directory itself 0711: others may reach public/ but list
 * nothing), gives it to mail_owner when running as root, enforces that mode,
 * enters it and lays out its subdirectories (queue_dir_create: every state
 * directory, private/, tmp/ and index/ 0700).
 *
 * The lock is flock(LOCK_EX) on pid/master.pid, held by an open descriptor
 * for master's whole life (close-on-exec, so children never inherit it). The
 * file holds master's pid while it runs and is emptied on a clean stop.
 * The file is opened without following a symbolic link and must be a plain
 * file with one link, since pid/ belongs to mail_owner.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "master.h"
#include "msg.h"
#include "queue_dir.h"

#define PID_FILE "pid/master.pid"

/* mkdir -p: parents 0755, the last component `mode`. 0 ok, -1 errno set. */
static int make_path(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

int master_queue_setup(const char *queue_dir, uid_t uid, gid_t gid, char *err, size_t errlen)
{
    struct stat st;

    if (make_path(queue_dir, 0711) < 0) {
        snprintf(err, errlen, "cannot create queue_directory %s: %s", queue_dir, strerror(errno));
        return -1;
    }
    if (stat(queue_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "queue_directory %s is not a directory", queue_dir);
        return -1;
    }
    if (uid != (uid_t)-1 && (st.st_uid != uid || st.st_gid != gid)
        && chown(queue_dir, uid, gid) < 0) {
        snprintf(err, errlen, "cannot give queue_directory %s to mail_owner: %s",
                 queue_dir, strerror(errno));
        return -1;
    }
    if ((st.st_mode & 07777) != 0711 && chmod(queue_dir, 0711) < 0) {
        snprintf(err, errlen, "cannot set mode 0711 on queue_directory %s: %s",
                 queue_dir, strerror(errno));
        return -1;
    }
    if (chdir(queue_dir) < 0) {
        snprintf(err, errlen, "cannot enter queue_directory %s: %s", queue_dir, strerror(errno));
        return -1;
    }
    if (queue_dir_create(uid, gid) < 0) {
        snprintf(err, errlen, "cannot create the directories in queue_directory %s: %s",
                 queue_dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* The pid written in the file, or 0. */
static long read_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strtol(buf, NULL, 10);
}

int master_lock_take(const char *config_dir, char *err, size_t errlen)
{
    int fd = open(PID_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    struct stat st;
    char line[32];
    int len;

    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", PID_FILE, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
        snprintf(err, errlen, "%s is not a plain file", PID_FILE);
        close(fd);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            snprintf(err, errlen, "the Postern mail system is already running (pid %ld) for %s",
                     read_pid(fd), config_dir);
        else
            snprintf(err, errlen, "cannot lock %s: %s", PID_FILE, strerror(errno));
        close(fd);
        return -1;
    }
    len = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, line, (size_t)len, 0) != len) {
        snprintf(err, errlen, "cannot write %s: %s", PID_FILE, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

void master_lock_clear(int fd)
{
    if (fd >= 0 && ftruncate(fd, 0) < 0)
        msg_warn("cannot empty %s: %s", PID_FILE, strerror(errno));
}
