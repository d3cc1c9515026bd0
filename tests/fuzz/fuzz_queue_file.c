/*
 * fuzz_queue_file.c - feed arbitrary bytes to the queue file reader.
 *
 * The reader must reject or accept every input without crashing, reading
 * out of bounds or allocating more than the input justifies; on success
 * the parsed structure must be consistent with the input's size.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct queue_file qf;
    char err[QF_ERR_MAX];

    if (queue_file_parse(data, size, &qf, err, sizeof(err)) == 0) {
        /* What the reader promises about an accepted file. */
        if (qf.rcpt_count == 0 || qf.file_size != (off_t)size
            || qf.content_offset + qf.content_size + 2 > qf.file_size
            || qf.added_size > qf.content_size
            || memcmp(data + qf.content_offset + qf.content_size, "E\n", 2) != 0)
            abort();
        for (size_t i = 0; i < qf.rcpt_count; i++) {
            off_t at = qf.rcpts[i].state_offset;
            if (at < 2 || at >= qf.content_offset || data[at] != qf.rcpts[i].state
                || data[at - 2] != 'R')
                abort();
        }
        queue_file_free(&qf);
    } else if (memchr(err, '\0', sizeof(err)) == NULL || strstr(err, " at offset ") == NULL) {
        abort();
    }
    return 0;
}
