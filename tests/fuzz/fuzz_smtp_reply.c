/*
 * fuzz_smtp_reply.c - split arbitrary bytes on '\n' and feed the lines to the
 * reply parser, starting a new reply after each complete or failed one.
 * Checks: codes in range, lines within limits, joined text free of CR/LF,
 * dsn of the reply's class; the EHLO reader never fails on a 250.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_complete(const struct smtp_reply *r)
{
    struct smtp_ehlo ehlo;
    size_t i;

    if (r->code < 200 || r->code > 559 || r->n_lines == 0 || r->n_lines > SMTP_REPLY_LINES_MAX)
        abort();
    if (r->text == NULL || strchr(r->text, '\r') != NULL || strchr(r->text, '\n') != NULL)
        abort();
    if (r->dsn[0] != 0 && r->dsn[0] != '0' + r->code / 100)
        abort();
    for (i = 0; i < r->n_lines; i++)
        if (strlen(r->lines[i]) > SMTP_REPLY_LINE_MAX)
            abort();
    if (smtp_ehlo_parse(r, &ehlo) != (r->code == 250 ? 0 : -1))
        abort();
    if (smtp_reply_status(r) == NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smtp_reply_parser p;
    const char *s = (const char *)data;
    const char *end = s + size;

    smtp_reply_init(&p);
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
        int ret = smtp_reply_feed(&p, s, len);

        if (ret == 1)
            check_complete(&p.reply);
        if (ret == -1 && p.err[0] == 0)
            abort();
        if (ret != 0)
            smtp_reply_reset(&p);
        s += len + (nl != NULL);
    }
    smtp_reply_free(&p);
    return 0;
}
