/*
 * utf8.c - well-formed UTF-8 (see utf8.h).
 */
#include "utf8.h"

static int continuation(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

size_t utf8_char_len(const unsigned char *p, size_t len)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xBF;   /* allowed range of the second byte */
    size_t n;

    if (len == 0)
        return 0;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;                        /* overlong three-byte form */
    else if (c == 0xED)
        hi = 0x9F;                        /* surrogates */
    else if (c == 0xF0)
        lo = 0x90;                        /* overlong four-byte form */
    else if (c == 0xF4)
        hi = 0x8F;                        /* above U+10FFFF */
    if (len < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (!continuation(p[i]))
            return 0;
    }
    return n;
}

int utf8_valid(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0;

    while (i < len) {
        size_t n = utf8_char_len(p + i, len - i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}
