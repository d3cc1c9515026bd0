/*
 * dict_lmdb_private.h - what the two halves of lmdb: tables share.
 *
 * Only dict_lmdb.c (reading: the dict backend) and dict_lmdb_write.c
 * (postmap's build, update and delete) include it; readers use dict.h,
 * writers dict_lmdb.h.
 */
#ifndef POSTERN_DICT_LMDB_PRIVATE_H
#define POSTERN_DICT_LMDB_PRIVATE_H

/* The table file of a source: "SOURCE.lmdb" (DICT_LMDB_SUFFIX), newly
 * allocated; the caller frees it. */
char *dict_lmdb_path(const char *source);

#endif
