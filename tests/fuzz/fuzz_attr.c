/*
 * fuzz_attr.c - libFuzzer target for the IPC attribute reader: arbitrary
 * bytes, fed in two pieces, must never crash or leak, and every message
 * read must pass attr_check without crashing.
 */
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

#include "attr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const required[] = {"req", NULL};
    static const char *const repeated[] = {"rcpt", NULL};
    struct evbuffer *in = evbuffer_new();
    struct attr_msg msg;
    char err[128];
    size_t split = size ? data[0] % (size + 1) : 0;
    int rc;

    attr_msg_init(&msg);
    evbuffer_add(in, data, split);
    rc = attr_read_evbuffer(in, &msg, err, sizeof(err));
    if (rc == 0) {
        evbuffer_add(in, data + split, size - split);
        rc = attr_read_evbuffer(in, &msg, err, sizeof(err));
    }
    while (rc == 1) {
        attr_check(&msg, required, NULL, repeated, err, sizeof(err));
        attr_msg_reset(&msg);
        rc = attr_read_evbuffer(in, &msg, err, sizeof(err));
    }
    attr_msg_free(&msg);
    evbuffer_free(in);
    return 0;
}
