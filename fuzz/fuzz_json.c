/* libFuzzer driver: request bodies through json_parse_object (Matrix's limits: one object,
 * no duplicate keys, no U+0000, integers within +/-(2^53-1), bounded depth). No crash; an
 * accepted body is an object within the limits, and dumping and re-reading it gives an equal
 * value that is accepted again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *v = NULL, *w = NULL;
    char msg[256], *s = NULL;
    enum json_status st = json_parse_object((const char *)data, size, &v, msg, sizeof(msg));

    if (st != JSONS_OK) {
        /* A refusal always says why, and leaves nothing behind. */
        if (v || memchr(msg, '\0', sizeof(msg)) == NULL || msg[0] == '\0')
            abort();
        return 0;
    }
    if (!json_is_object(v) || !json_ints_in_range(v))
        abort();
    s = json_dump_compact(v);
    if (json_parse_object(s, strlen(s), &w, msg, sizeof(msg)) != JSONS_OK || !json_equal(v, w))
        abort();
    free(s);
    json_decref(v);
    json_decref(w);
    return 0;
}
