/*
 * fdio.h - whole reads and writes on file descriptors, and making a
 * directory entry durable.
 *
 * The system calls may do less than asked and may be interrupted; these
 * loop until the whole job is done, retry EINTR, and report the rest.
 * Durability: after a file is written and fsync'ed, its name (a create or a
 * rename) is durable only once the directory holding it is fsync'ed too:
 * fdio_fsync_dir() / fdio_fsync_parent().
 *
 * Success convention: 0 (or a byte count) ok, -1 with errno set. A write
 * that makes no progress, or a file shorter than asked for where the whole
 * length was required, fails with errno EIO. Non-blocking descriptors get
 * EAGAIN back like any other error (the caller waits and calls again with
 * what is left: fdio_write_some() says how much went out).
 * No memory is owned.
 */
#ifndef POSTERN_FDIO_H
#define POSTERN_FDIO_H

#include <stddef.h>
#include <sys/types.h>

/* Write all len bytes. */
int fdio_write_all(int fd, const void *buf, size_t len);
/*
 * Write as much as the descriptor takes now: bytes written (possibly fewer
 * than len, 0 when a non-blocking descriptor is full), -1 on an error.
 */
ssize_t fdio_write_some(int fd, const void *buf, size_t len);
/* Read until len bytes or end of file: bytes read, -1 on error. */
ssize_t fdio_read_all(int fd, void *buf, size_t len);
/* pwrite all len bytes at off (never on an O_APPEND descriptor: Linux appends). */
int fdio_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* pread exactly len bytes at off (EIO when the file is shorter). */
int fdio_pread_all(int fd, void *buf, size_t len, off_t off);
/* pread up to len bytes at off, stopping at end of file: bytes read, -1. */
ssize_t fdio_pread_upto(int fd, void *buf, size_t len, off_t off);

/* fsync a directory by its path. */
int fdio_fsync_dir(const char *dir);
/* fsync the directory that holds path ("." for a bare name). */
int fdio_fsync_parent(const char *path);

/*
 * Read a whole regular file of at most max bytes into a new buffer, NUL-
 * terminated (the caller frees it with xfree; *len excludes the NUL).
 * 0 ok; -1 with errno (EFBIG when it is larger than max).
 */
int fdio_read_file(const char *path, size_t max, char **data, size_t *len);

#endif
