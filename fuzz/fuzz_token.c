/* libFuzzer driver: sync token parsing (src/sync/token.c). No crash; a token that parses
 * formats to a token that parses to the same positions, and formatting is a fixed point. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    struct sync_token a, b;
    char buf1[160], buf2[160];

    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (sync_token_parse(s, &a) == 0) {
        for (int i = 0; i < STREAM_COUNT; i++)
            if (a.pos[i] < 0)
                abort();
        sync_token_format(&a, buf1, sizeof(buf1));
        if (sync_token_parse(buf1, &b) != 0 || memcmp(&a, &b, sizeof(a)) != 0)
            abort();
        sync_token_format(&b, buf2, sizeof(buf2));
        if (strcmp(buf1, buf2) != 0)
            abort();
    }
    free(s);
    return 0;
}
