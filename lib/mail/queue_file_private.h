/*
 * queue_file_private.h - what the parts of the queue file module share.
 *
 * Only queue_file.c (the format's value rules and the I/O loops),
 * queue_file_read.c (the reader), queue_file_write.c (cleanup's writer)
 * and queue_file_update.c (qmgr's changes) include it; every other module
 * uses queue_file.h.
 */
#ifndef POSTERN_QUEUE_FILE_PRIVATE_H
#define POSTERN_QUEUE_FILE_PRIVATE_H

#include <stddef.h>
#include <sys/types.h>

#include "queue_file.h"

#define QF_Z_DIGITS 12                  /* each size in the Z record */

/* --- value rules (reader and writers agree on them) --- */

/* A protocol name: 1..32 letters, digits, '-' or '_'. */
int qf_word_ok(const char *p, size_t n);
/* "7BIT" or "8BITMIME". */
int qf_body_type_ok(const char *p, size_t n);
/* P, D or B. */
int qf_rcpt_state_ok(char c);

/* --- I/O (whole reads and writes: fdio.h) --- */

/* Was fd opened O_APPEND (where pwrite appends on Linux)? */
int qf_fd_is_append(int fd);

#endif
