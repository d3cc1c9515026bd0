/*
 * test_fdio.c - whole reads and writes, pread, directory fsync, reading a
 * file with a size limit; on pipes, a full non-blocking pipe, files that
 * are shorter than asked, and paths that are not there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "check.h"
#include "fdio.h"

static char dir[] = "/tmp/test_fdio.XXXXXX";

static void path_in_dir(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

static void test_write_read_pipe(void)
{
    int p[2];
    char buf[100];

    CHECK_LONG("pipe", pipe(p), 0);
    CHECK_LONG("write_all", fdio_write_all(p[1], "hello world", 11), 0);
    close(p[1]);
    CHECK_LONG("read_all to EOF", fdio_read_all(p[0], buf, sizeof(buf)), 11);
    CHECK_TRUE("bytes", memcmp(buf, "hello world", 11) == 0);
    CHECK_LONG("read at EOF", fdio_read_all(p[0], buf, sizeof(buf)), 0);
    close(p[0]);
    CHECK_LONG("write to closed fd", fdio_write_all(p[1], "x", 1), -1);
    CHECK_LONG("errno EBADF", errno, EBADF);
}

static void test_write_some_full_pipe(void)
{
    int p[2];
    char *big = xcalloc(1, 1 << 20);
    ssize_t n;

    CHECK_LONG("pipe", pipe2(p, O_NONBLOCK), 0);
    n = fdio_write_some(p[1], big, 1 << 20);
    CHECK_TRUE("partial write into a full pipe", n > 0 && n < (1 << 20));
    CHECK_LONG("nothing more fits", fdio_write_some(p[1], big, 10), 0);
    close(p[0]);
    close(p[1]);
    xfree(big);
}

static void test_pread(void)
{
    char path[256], buf[16];
    int fd;

    path_in_dir(path, sizeof(path), "p");
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK_TRUE("create", fd >= 0);
    CHECK_LONG("write", fdio_write_all(fd, "0123456789", 10), 0);
    CHECK_LONG("pread_all middle", fdio_pread_all(fd, buf, 4, 3), 0);
    CHECK_TRUE("bytes 3..6", memcmp(buf, "3456", 4) == 0);
    CHECK_LONG("pread_all past end", fdio_pread_all(fd, buf, 4, 8), -1);
    CHECK_LONG("errno EIO", errno, EIO);
    CHECK_LONG("pread_upto past end", fdio_pread_upto(fd, buf, 4, 8), 2);
    CHECK_LONG("pread_upto at end", fdio_pread_upto(fd, buf, 4, 10), 0);
    close(fd);
}

static void test_fsync(void)
{
    char path[256];

    path_in_dir(path, sizeof(path), "p");
    CHECK_LONG("fsync dir", fdio_fsync_dir(dir), 0);
    CHECK_LONG("fsync parent", fdio_fsync_parent(path), 0);
    CHECK_LONG("fsync parent of bare name", fdio_fsync_parent("name"), 0);
    CHECK_LONG("fsync parent of /x", fdio_fsync_parent("/x"), 0);
    CHECK_LONG("fsync missing dir", fdio_fsync_dir("/nonexistent/dir"), -1);
    CHECK_LONG("errno ENOENT", errno, ENOENT);
    CHECK_LONG("fsync a file as dir", fdio_fsync_dir(path), -1);
    CHECK_LONG("errno ENOTDIR", errno, ENOTDIR);
}

static void test_read_file(void)
{
    char path[256], *data;
    size_t len;

    path_in_dir(path, sizeof(path), "p");
    CHECK_LONG("read file", fdio_read_file(path, 100, &data, &len), 0);
    CHECK_LONG("length", len, 10);
    CHECK_STR("text", data, "0123456789");
    xfree(data);
    CHECK_LONG("exactly at the limit", fdio_read_file(path, 10, &data, &len), 0);
    xfree(data);
    CHECK_LONG("over the limit", fdio_read_file(path, 9, &data, &len), -1);
    CHECK_LONG("errno EFBIG", errno, EFBIG);
    CHECK_TRUE("no data on error", data == NULL);
    CHECK_LONG("missing", fdio_read_file("/nonexistent/x", 9, &data, &len), -1);
    CHECK_LONG("errno ENOENT", errno, ENOENT);
    CHECK_LONG("a directory", fdio_read_file(dir, 9, &data, &len), -1);
    CHECK_LONG("errno EINVAL", errno, EINVAL);
    path_in_dir(path, sizeof(path), "empty");
    close(open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600));
    CHECK_LONG("empty file", fdio_read_file(path, 9, &data, &len), 0);
    CHECK_STR("empty text", data, "");
    xfree(data);
}

static void cleanup_dir(void)
{
    char path[256];

    path_in_dir(path, sizeof(path), "p");
    unlink(path);
    path_in_dir(path, sizeof(path), "empty");
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_write_read_pipe();
    test_write_some_full_pipe();
    test_pread();
    test_fsync();
    test_read_file();
    cleanup_dir();
    return check_finish("test_fdio");
}
