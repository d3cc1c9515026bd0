/*
 * utf8.h - recognise well-formed UTF-8.
 *
 * Well-formed means RFC 3629: no overlong forms, no surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF. Used by the JSON writer and by
 * anything that prints text a person or a program will read back.
 * No memory is owned.
 */
#ifndef POSTERN_UTF8_H
#define POSTERN_UTF8_H

#include <stddef.h>

/*
 * The length (1..4) of the well-formed UTF-8 character at p (len bytes
 * available), or 0 when the bytes there are not one (a stray continuation
 * byte, an overlong form, a surrogate, a sequence cut short). A NUL byte is
 * a character of length 1.
 */
size_t utf8_char_len(const unsigned char *p, size_t len);

/* 1 when all len bytes are well-formed UTF-8, else 0. */
int utf8_valid(const char *text, size_t len);

#endif
