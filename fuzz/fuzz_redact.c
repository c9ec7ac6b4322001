/* libFuzzer driver: any JSON object as an event through the redaction algorithm of every room
 * version: no crash, the result is an object, redaction is idempotent, and the redacted event
 * can always be written as canonical JSON when the original could. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json/canonical.h"
#include "room/redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *ev = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    const struct room_version *v;

    if (!ev)
        return 0;
    for (size_t i = 0; (v = room_version_at(i)) != NULL; i++) {
        json_t *a = redact_event(ev, v);
        json_t *b = a ? redact_event(a, v) : NULL;
        char *c1, *c2;

        if (!a || !json_is_object(a) || !b || !json_equal(a, b))
            abort();
        c1 = json_canonical(ev, true, NULL);
        c2 = json_canonical(a, true, NULL);
        /* Redaction only removes keys: what was expressible stays expressible. */
        if (c1 && !c2)
            abort();
        free(c1);
        free(c2);
        json_decref(a);
        json_decref(b);
    }
    json_decref(ev);
    return 0;
}
