/*
 * dict_lmdb.h - building and editing lmdb: tables (what postmap does).
 *
 * Reading an lmdb table goes through dict.h (dict_open "lmdb:FILE"). This
 * header is for the programs that write one:
 *
 *   dict_lmdb_build   FILE (text, dict_text.h format) -> FILE.lmdb, atomically:
 *                     the table is written to a temporary file beside it,
 *                     synced, and rename(2)d over FILE.lmdb, so a reader sees
 *                     either the old or the new table, never half of one, and
 *                     daemons that have the table open switch to the new file
 *                     within a second (dict_lmdb re-checks the file's identity).
 *                     On any error (a bad line, a full disk) nothing replaces
 *                     the old FILE.lmdb.
 *   dict_lmdb_update  add entries to FILE.lmdb (postmap -i); creates the
 *                     table when it does not exist.
 *   dict_lmdb_delete  delete keys from FILE.lmdb (postmap -d).
 *                     Like Postfix, these edits change only the .lmdb file,
 *                     never the text source: the next full build undoes them.
 *                     Unlike Postfix, an edit does not write into the file
 *                     readers have mapped: it copies the table (compacted)
 *                     to a temporary file, edits the copy and renames it over
 *                     FILE.lmdb, exactly as a rebuild does. The cost is a copy
 *                     of the table per edit (well under a second for a
 *                     million entries); the gain is that readers never lock.
 *
 * File format: an LMDB environment in one file (MDB_NOSUBDIR), unnamed
 * database, key = the folded key bytes (no NUL), value = the value bytes (no
 * NUL). No LMDB lock file is used (MDB_NOLOCK): a FILE.lmdb is never
 * changed once renamed into place, so readers need no lock at all. Writers
 * (build, update, delete) serialize on an exclusive flock(2) of the current
 * FILE.lmdb around their rename (edits: around copy, edit and rename), so
 * concurrent postmap runs do not lose each other's changes.
 *
 * The new file gets mode 0644; when run as root it is given the owner and
 * group of the source file (Postfix's postmap does likewise).
 *
 * Duplicate keys (dup_mode): DICT_LMDB_DUP_WARN keeps the first entry and
 * warns "FILE:LINE: duplicate entry "key"" (Postfix's default);
 * DICT_LMDB_DUP_IGNORE keeps the first silently (postmap -w);
 * DICT_LMDB_DUP_REPLACE keeps the last (postmap -r). For an update, the entry
 * already in the table counts as the first.
 *
 * Success convention: 0, or -1 with err filled ("FILE:LINE: message" for a
 * bad source line). Warnings go through msg_warn. No memory is handed to the
 * caller.
 */
#ifndef POSTERN_DICT_LMDB_H
#define POSTERN_DICT_LMDB_H

#include <stddef.h>

#define DICT_LMDB_SUFFIX ".lmdb"

#define DICT_LMDB_DUP_WARN 0
#define DICT_LMDB_DUP_IGNORE 1
#define DICT_LMDB_DUP_REPLACE 2

/* Compile the text file `source` into source.lmdb; *entries (may be NULL)
 * receives the number of entries stored. */
int dict_lmdb_build(const char *source, int dup_mode, size_t *entries,
                    char *err, size_t errlen);

/* Add the "key value" lines held in buf (messages name them `input_name`,
 * e.g. "stdin") to source.lmdb; *added (may be NULL) receives the number of
 * entries written. */
int dict_lmdb_update(const char *source, const char *input_name, const char *buf, size_t len,
                     int dup_mode, size_t *added, char *err, size_t errlen);

/* Delete keys (folded first) from source.lmdb in one transaction; *deleted
 * (may be NULL) receives how many were there. */
int dict_lmdb_delete(const char *source, const char *const *keys, size_t nkeys,
                     size_t *deleted, char *err, size_t errlen);

#endif
