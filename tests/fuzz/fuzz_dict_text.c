/*
 * fuzz_dict_text.c - the "key value" source parser postmap uses for lmdb
 * tables (dict_text_parse), and the inline:/static: parsers. No crash on any
 * input, and every entry the source parser accepts has the promised shape:
 * a non-empty key of at most DICT_KEY_MAX bytes, lower case, without white
 * space; a non-empty value without white space at either end. The input is
 * also opened as inline:, static: and as a main.cf list of tables (unless it
 * names table files) and asked a few keys.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dict.h"
#include "dict_text.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static int check_entry(const char *key, const char *value, unsigned lineno, void *ctx)
{
    size_t klen = strlen(key), vlen = strlen(value);
    unsigned *last = ctx;

    if (klen == 0 || klen > DICT_KEY_MAX || vlen == 0 || lineno <= *last)
        abort();
    for (size_t i = 0; i < klen; i++)
        if (blank(key[i]) || (key[i] >= 'A' && key[i] <= 'Z'))
            abort();
    if (blank(value[0]) || blank(value[vlen - 1]))
        abort();
    *last = lineno;
    return 0;
}

/* The data as an inline:{...} / static: spec; lookups must not crash. */
static void try_spec(const char *prefix, const uint8_t *data, size_t size)
{
    char *spec = xmalloc(strlen(prefix) + size + 1);
    char err[DICT_ERR_MAX];
    struct dict_result res;
    struct dict *d;

    memcpy(spec, prefix, strlen(prefix));
    memcpy(spec + strlen(prefix), data, size);
    spec[strlen(prefix) + size] = '\0';
    int rc = *prefix ? dict_open(spec, 0, &d, err, sizeof(err))
                     : dict_open_list(spec, 0, &d, err, sizeof(err));

    if (rc == 0) {
        if (dict_lookup(d, "a", &res) == DICT_TEMPFAIL)
            abort();
        (void)dict_lookup_address(d, "user+x@a.example", "+", &res);
        (void)dict_lookup_domain(d, "a.example.", 1, &res);
        dict_close(d);
    }
    xfree(spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    char err[DICT_ERR_MAX];
    unsigned last = 0;

    if (!quiet) {
        msg_open("fuzz", "/dev/null", NULL);     /* duplicate-entry warnings */
        quiet = 1;
    }
    (void)dict_text_parse("fuzz", (const char *)data, size, check_entry, &last, err,
                          sizeof(err));
    if (size <= 4096 && memchr(data, '\0', size) == NULL) {
        try_spec("inline:", data, size);
        try_spec("static:", data, size);
        /* As a main.cf list, unless it names files to read. */
        if (memmem(data, size, "pcre:", 5) == NULL && memmem(data, size, "cidr:", 5) == NULL
            && memmem(data, size, "lmdb:", 5) == NULL)
            try_spec("", data, size);
    }
    return 0;
}
