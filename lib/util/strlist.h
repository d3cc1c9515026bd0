/*
 * strlist.h - lists as main.cf and master.cf write them.
 *
 * A list is items separated by commas and/or white space (space, tab, CR,
 * LF): "a, b c,,d" has the items a, b, c, d. A brace group is part of one
 * item however many separators it holds, so "inline:{x=1, y=2} lmdb:/t"
 * has two items; braces nest, and an unbalanced brace makes the whole list
 * invalid. This is the one list grammar of Postern: parameters (mynetworks,
 * authorized_mailq_users, ...), table lists (dict.c) and smtpd's lists all
 * split here.
 *
 * Memory: strlist_next() points into the caller's text and allocates
 * nothing; strlist_split() returns a NULL-terminated array of new strings
 * the caller releases with strlist_free() (which accepts NULL and returns
 * NULL).
 */
#ifndef POSTERN_STRLIST_H
#define POSTERN_STRLIST_H

#include <stddef.h>

/* Is c a list separator (comma or white space)? */
int strlist_is_sep(char c);

/*
 * The next item at *pos: *start points at it and its length is returned;
 * *pos moves past it. 0 at the end of the list, -1 on unbalanced braces.
 */
long strlist_next(const char **pos, const char **start);

/*
 * Every item of `text` as a NULL-terminated array of new strings; *count
 * (may be NULL) gets the number of items. Returns NULL when the braces do
 * not balance.
 */
char **strlist_split(const char *text, size_t *count);

char **strlist_free(char **list);

#endif
