/*
 * fuzz_dict_pcre.c - pcre: and cidr: table files. The input is written to a
 * temporary file and opened as both types; an accepted table is asked a few
 * keys (fixed ones, and the input's first line). No crash, no leak, and a
 * lookup answers FOUND (with a value and a file:line), NOTFOUND or TEMPFAIL
 * (with a reason) and nothing else; the match limit keeps every lookup short.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "dict.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[] = "/tmp/fuzz_dict_pcre.XXXXXX";
static int fd = -1;

static void cleanup(void)
{
    unlink(path);
}

static void ask(struct dict *d, const char *key)
{
    struct dict_result res;

    switch (dict_lookup(d, key, &res)) {
    case DICT_FOUND:
        if (res.value == NULL || res.where == NULL || strchr(res.where, ':') == NULL)
            abort();
        break;
    case DICT_NOTFOUND:
        break;
    case DICT_TEMPFAIL:
        if (res.error == NULL)
            abort();
        break;
    default:
        abort();
    }
}

static void try_type(const char *type, const char *first_line)
{
    static const char *const keys[] = {
        "", "a", "Subject: hello", "To: user@example.com", "192.0.2.1", "2001:db8::1",
        "::ffff:10.0.0.1", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
    };
    char spec[64];
    char err[DICT_ERR_MAX];
    struct dict *d;

    snprintf(spec, sizeof(spec), "%s:%s", type, path);
    if (dict_open(spec, 0, &d, err, sizeof(err)) < 0)
        return;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        ask(d, keys[i]);
    ask(d, first_line);
    dict_close(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *first;
    const uint8_t *nl;

    if (fd < 0) {
        fd = mkstemp(path);
        if (fd < 0)
            abort();
        atexit(cleanup);
        msg_open("fuzz", "/dev/null", NULL);     /* TEMPFAIL warnings */
    }
    if (size > 8192)
        return 0;
    if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    nl = memchr(data, '\n', size);
    first = xstrndup((const char *)data, nl ? (size_t)(nl - data) : size);
    try_type("pcre", first);
    try_type("cidr", first);
    xfree(first);
    return 0;
}
