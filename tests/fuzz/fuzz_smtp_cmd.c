/*
 * fuzz_smtp_cmd.c - parse arbitrary bytes as one SMTP command line and check
 * the parser's promises: a reply exactly when it fails, accepted addresses
 * that re-check as valid and fit the limits, and a domain lookup that stays
 * inside the address.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct smtp_cmd cmd;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int ret = smtp_cmd_parse(&cmd, (const char *)data, size);
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
        if (len == 0 && cmd.verb != SMTP_VERB_MAIL)
            abort();
        if (smtp_addr_domain(cmd.addr, &domain) == 0
            && (domain <= cmd.addr || domain > cmd.addr + len || *domain == 0))
            abort();
    }
    for (i = 0; i < cmd.n_params; i++)
        if (cmd.params[i].keyword == NULL || strlen(cmd.params[i].keyword) == 0)
            abort();
    /* Every accepted line is printable ASCII. */
    if (ret == 0)
        for (i = 0; i < size; i++)
            if (data[i] < 0x20 || data[i] > 0x7e)
                abort();
    return 0;
}
