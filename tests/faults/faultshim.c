/*
 * faultshim.c - make one chosen system call of one chosen program fail, for
 * the fault-injection tests. Built with the tests (never installed) and
 * loaded with LD_PRELOAD; it does nothing unless POSTERN_FAULT is set.
 *
 *   POSTERN_FAULT=PROG:CALL:N:ERRNO    e.g. cleanup:fsync:2:EIO
 *   POSTERN_FAULT_DIR=/abs/queue/dir   only calls on files below it count
 *   POSTERN_FAULT_LOG=/abs/file        one line appended when the fault fires
 *
 * In a process whose name (program_invocation_short_name) is PROG, the Nth
 * call of kind CALL on a file below POSTERN_FAULT_DIR fails with ERRNO
 * (ENOSPC, EDQUOT, EIO, EROFS, EMFILE, ENOENT, EACCES) instead of running.
 * Only that one call fails: the program's handling of the error is what is
 * tested. Kinds: open (open, openat, with any flags), write (write, pwrite,
 * writev on such a file), fsync (fsync, fdatasync), rename (rename, renameat,
 * renameat2), unlink (unlink, unlinkat, rmdir), mkdir.
 *
 * Counting is per process, so a daemon that master restarts counts afresh,
 * but the fault fires once per test run: when the log file already holds a
 * line (another process of PROG fired it), nothing fails again. So a cell
 * asks "what happens when the Nth such call of this daemon fails, once".
 * The log line says which call it was.
 *
 * Built with -D_FILE_OFFSET_BITS=64 like the daemons, so open and pwrite
 * here are the symbols open64 and pwrite64 the daemons call.
 *
 * Memory: none; static state only. Not thread-safe (Postern's daemons are
 * single-threaded).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

enum kind { K_OPEN, K_WRITE, K_FSYNC, K_RENAME, K_UNLINK, K_MKDIR, K_COUNT };

static const char *const kind_names[K_COUNT] = {
    "open", "write", "fsync", "rename", "unlink", "mkdir",
};

static struct {
    int ready, active, fired;
    enum kind kind;
    long nth;
    int err;
    long count;
    char dir[4096];
    size_t dir_len;
    char log[4096];
} shim;

static int errno_by_name(const char *name)
{
    static const struct { const char *name; int value; } names[] = {
        { "ENOSPC", ENOSPC }, { "EDQUOT", EDQUOT }, { "EIO", EIO }, { "EROFS", EROFS },
        { "EMFILE", EMFILE }, { "ENOENT", ENOENT }, { "EACCES", EACCES },
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(names[i].name, name) == 0)
            return names[i].value;
    }
    return 0;
}

/* Parse POSTERN_FAULT once; the shim stays inactive on anything odd. */
static void setup(void)
{
    const char *spec = getenv("POSTERN_FAULT"), *dir = getenv("POSTERN_FAULT_DIR");
    const char *log = getenv("POSTERN_FAULT_LOG");
    char prog[256], call[64], err[64];
    long nth;

    shim.ready = 1;
    if (spec == NULL || dir == NULL || dir[0] != '/')
        return;
    if (sscanf(spec, "%255[^:]:%63[^:]:%ld:%63s", prog, call, &nth, err) != 4 || nth < 1)
        return;
    if (strcmp(prog, program_invocation_short_name) != 0)
        return;
    for (int k = 0; k < K_COUNT; k++) {
        if (strcmp(call, kind_names[k]) == 0) {
            shim.kind = (enum kind)k;
            shim.active = 1;
        }
    }
    shim.nth = nth;
    shim.err = errno_by_name(err);
    if (shim.err == 0)
        shim.active = 0;
    snprintf(shim.dir, sizeof(shim.dir), "%s", dir);
    shim.dir_len = strlen(shim.dir);
    snprintf(shim.log, sizeof(shim.log), "%s", log ? log : "");
}

/* Is path (absolute, or relative to the working directory) below the dir? */
static int below_dir(const char *path)
{
    char abs[8192], cwd[4096];

    if (path == NULL)
        return 0;
    if (path[0] == '/') {
        snprintf(abs, sizeof(abs), "%s", path);
    } else {
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return 0;
        snprintf(abs, sizeof(abs), "%s/%s", cwd, path);
    }
    return strncmp(abs, shim.dir, shim.dir_len) == 0
           && (abs[shim.dir_len] == '/' || abs[shim.dir_len] == '\0');
}

/* Is fd a regular file below the dir? */
static int fd_below_dir(int fd)
{
    char link[64], path[4096];
    struct stat st;
    ssize_t n;

    if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
        return 0;
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof(path) - 1);
    if (n < 0)
        return 0;
    path[n] = '\0';
    return below_dir(path);
}

static void note(const char *what)
{
    char line[512];
    int fd, len;

    if (shim.log[0] == '\0')
        return;
    len = snprintf(line, sizeof(line), "%s[%ld]: %s #%ld failed with %s (%s)\n",
                   program_invocation_short_name, (long)getpid(), kind_names[shim.kind],
                   shim.nth, strerror(shim.err), what);
    fd = open(shim.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd >= 0) {
        (void)!write(fd, line, (size_t)len);
        close(fd);
    }
}

/* Has another process already fired this test's fault? */
static int fired_elsewhere(void)
{
    struct stat st;

    return shim.log[0] != '\0' && stat(shim.log, &st) == 0 && st.st_size > 0;
}

/* Should this call of kind k fail? */
static int fail_now(enum kind k, int relevant, const char *what)
{
    if (!shim.ready)
        setup();
    if (!shim.active || shim.fired || k != shim.kind || !relevant)
        return 0;
    if (++shim.count != shim.nth)
        return 0;
    shim.fired = 1;
    if (fired_elsewhere())
        return 0;
    note(what);
    errno = shim.err;
    return 1;
}

/* The C library's own function of that name. */
static void *next_fn(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    va_list ap;
    static __typeof__(open) *real_open;

    if (real_open == NULL)
        real_open = (__typeof__(open) *)next_fn("open");

    if (flags & (O_CREAT | O_TMPFILE)) {
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (fail_now(K_OPEN, shim.active && below_dir(path), path))
        return -1;
    return real_open(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    va_list ap;
    static __typeof__(openat) *real_openat;

    if (real_openat == NULL)
        real_openat = (__typeof__(openat) *)next_fn("openat");

    if (flags & (O_CREAT | O_TMPFILE)) {
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (fail_now(K_OPEN, shim.active && (dirfd == AT_FDCWD ? below_dir(path)
                                                           : fd_below_dir(dirfd)), path))
        return -1;
    return real_openat(dirfd, path, flags, mode);
}

ssize_t write(int fd, const void *buf, size_t len)
{
    static __typeof__(write) *real_write;

    if (real_write == NULL)
        real_write = (__typeof__(write) *)next_fn("write");

    if (fail_now(K_WRITE, shim.active && shim.kind == K_WRITE && fd_below_dir(fd), "write"))
        return -1;
    return real_write(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    static __typeof__(pwrite) *real_pwrite;

    if (real_pwrite == NULL)
        real_pwrite = (__typeof__(pwrite) *)next_fn("pwrite");

    if (fail_now(K_WRITE, shim.active && shim.kind == K_WRITE && fd_below_dir(fd), "pwrite"))
        return -1;
    return real_pwrite(fd, buf, len, off);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    static __typeof__(writev) *real_writev;

    if (real_writev == NULL)
        real_writev = (__typeof__(writev) *)next_fn("writev");

    if (fail_now(K_WRITE, shim.active && shim.kind == K_WRITE && fd_below_dir(fd), "writev"))
        return -1;
    return real_writev(fd, iov, n);
}

int fsync(int fd)
{
    static __typeof__(fsync) *real_fsync;

    if (real_fsync == NULL)
        real_fsync = (__typeof__(fsync) *)next_fn("fsync");

    if (fail_now(K_FSYNC, shim.active && fd_below_dir(fd), "fsync"))
        return -1;
    return real_fsync(fd);
}

int fdatasync(int fd)
{
    static __typeof__(fdatasync) *real_fdatasync;

    if (real_fdatasync == NULL)
        real_fdatasync = (__typeof__(fdatasync) *)next_fn("fdatasync");

    if (fail_now(K_FSYNC, shim.active && fd_below_dir(fd), "fdatasync"))
        return -1;
    return real_fdatasync(fd);
}

int rename(const char *from, const char *to)
{
    static __typeof__(rename) *real_rename;

    if (real_rename == NULL)
        real_rename = (__typeof__(rename) *)next_fn("rename");

    if (fail_now(K_RENAME, shim.active && below_dir(to), to))
        return -1;
    return real_rename(from, to);
}

int renameat(int fromfd, const char *from, int tofd, const char *to)
{
    static __typeof__(renameat) *real_renameat;

    if (real_renameat == NULL)
        real_renameat = (__typeof__(renameat) *)next_fn("renameat");

    if (fail_now(K_RENAME, shim.active && (tofd == AT_FDCWD ? below_dir(to) : fd_below_dir(tofd)),
                 to))
        return -1;
    return real_renameat(fromfd, from, tofd, to);
}

int renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned flags)
{
    static __typeof__(renameat2) *real_renameat2;

    if (real_renameat2 == NULL)
        real_renameat2 = (__typeof__(renameat2) *)next_fn("renameat2");

    if (fail_now(K_RENAME, shim.active && (tofd == AT_FDCWD ? below_dir(to) : fd_below_dir(tofd)),
                 to))
        return -1;
    return real_renameat2(fromfd, from, tofd, to, flags);
}

int unlink(const char *path)
{
    static __typeof__(unlink) *real_unlink;

    if (real_unlink == NULL)
        real_unlink = (__typeof__(unlink) *)next_fn("unlink");

    if (fail_now(K_UNLINK, shim.active && below_dir(path), path))
        return -1;
    return real_unlink(path);
}

int unlinkat(int dirfd, const char *path, int flags)
{
    static __typeof__(unlinkat) *real_unlinkat;

    if (real_unlinkat == NULL)
        real_unlinkat = (__typeof__(unlinkat) *)next_fn("unlinkat");

    if (fail_now(K_UNLINK, shim.active && (dirfd == AT_FDCWD ? below_dir(path)
                                                             : fd_below_dir(dirfd)), path))
        return -1;
    return real_unlinkat(dirfd, path, flags);
}

int rmdir(const char *path)
{
    static __typeof__(rmdir) *real_rmdir;

    if (real_rmdir == NULL)
        real_rmdir = (__typeof__(rmdir) *)next_fn("rmdir");

    if (fail_now(K_UNLINK, shim.active && below_dir(path), path))
        return -1;
    return real_rmdir(path);
}

int mkdir(const char *path, mode_t mode)
{
    static __typeof__(mkdir) *real_mkdir;

    if (real_mkdir == NULL)
        real_mkdir = (__typeof__(mkdir) *)next_fn("mkdir");

    if (fail_now(K_MKDIR, shim.active && below_dir(path), path))
        return -1;
    return real_mkdir(path, mode);
}
