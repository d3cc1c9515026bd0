/*
 * fuzz_smtp_cmd.c - split arbitrary bytes as one SMTP command line and run
 * every argument parser on the result, checking the module's promises: a
 * reply exactly when a step fails, accepted addresses that re-check as
 * valid and fit the limits, a null path only from the MAIL parser, and a
 * domain lookup that stays inside the address.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct smtp_cmd cmd;

static const smtp_cmd_parse_fn parsers[] = {
    smtp_cmd_parse_none,
    smtp_cmd_parse_text,
    smtp_cmd_parse_text_optional,
    smtp_cmd_parse_hello,
    smtp_cmd_parse_mail,
    smtp_cmd_parse_rcpt,
    smtp_cmd_parse_bdat,
};

static void check_result(int ret, smtp_cmd_parse_fn parse)
{
    const char *domain;
    size_t i;

    if ((ret == 0) != (cmd.reply[0] == 0) || (ret == 0) != (cmd.err == SMTP_CMD_OK))
        abort();
    if (ret != 0 && strlen(cmd.reply) < 4)
        abort();
    if (cmd.addr != NULL) {
        size_t len = strlen(cmd.addr);

        if (len > SMTP_ADDR_MAX)
            abort();
        if (len > 0 && smtp_addr_check(cmd.addr, len) != 0)
            abort();
        if (len == 0 && parse != smtp_cmd_parse_mail)
            abort();
        if (smtp_addr_domain(cmd.addr, &domain) == 0
            && (domain <= cmd.addr || domain > cmd.addr + len || *domain == 0))
            abort();
    }
    for (i = 0; i < cmd.n_params; i++)
        if (cmd.params[i].keyword == NULL || strlen(cmd.params[i].keyword) == 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t i, k;

    for (k = 0; k < sizeof(parsers) / sizeof(parsers[0]); k++) {
        int split = smtp_cmd_split(&cmd, (const char *)data, size);
        int ret = parsers[k](&cmd);     /* also after a failed split */

        if (split != 0 && ret != -1)
            abort();
        if ((split == 0) != (cmd.rest != NULL))
            abort();
        check_result(ret, parsers[k]);
        /* Every line that splits is printable ASCII. */
        if (split == 0)
            for (i = 0; i < size; i++)
                if (data[i] < 0x20 || data[i] > 0x7e)
                    abort();
    }
    return 0;
}
