/* libFuzzer driver: any JSON text -> canonical JSON never crashes, canonical JSON read back
 * is the same value (round trip) and writes the same bytes (idempotent). Built by
 * `make fuzz` (CMake option HEARTH_FUZZ). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json/canonical.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    json_t *w = NULL;
    char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;

    if (!v)
        return 0;
    a = json_canonical(v, true, &alen);
    if (!a)
        goto out;
    /* Without floats allowed the answer is the same or a refusal. */
    b = json_canonical(v, false, &blen);
    if (b && (blen != alen || memcmp(a, b, alen) != 0))
        abort();
    free(b);
    b = NULL;
    w = json_loadb(a, alen, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!w || !json_equal(v, w))
        abort();
    b = json_canonical(w, true, &blen);
    if (!b || blen != alen || memcmp(a, b, alen) != 0)
        abort();
out:
    free(a);
    free(b);
    json_decref(v);
    json_decref(w);
    return 0;
}
