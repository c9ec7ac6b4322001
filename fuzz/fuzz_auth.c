/* libFuzzer driver: arbitrary event + state through the auth rules of every room version: no
 * crash, and the same answer (and reason) twice. Input: a JSON object
 *   {"event": {...}, "state": [{...}, ...], "events": [{...}, ...]}
 * where "events" (optional) makes auth_state.get_event available. Built by `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "room/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const json_t *
get(void *ctx, const char *type, const char *state_key)
{
    const json_t *found = NULL;
    size_t i;
    json_t *e;

    json_array_foreach(json_object_get(ctx, "state"), i, e)
    {
        const char *t = json_string_value(json_object_get(e, "type"));
        const char *sk = json_string_value(json_object_get(e, "state_key"));
        if (t && sk && strcmp(t, type) == 0 && strcmp(sk, state_key) == 0)
            found = e;
    }
    return found;
}

static const json_t *
get_event(void *ctx, const char *event_id)
{
    size_t i;
    json_t *e;

    json_array_foreach(json_object_get(ctx, "events"), i, e)
    {
        const char *id = json_string_value(json_object_get(e, "event_id"));
        if (id && strcmp(id, event_id) == 0)
            return e;
    }
    return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = json_loadb((const char *)data, size, 0, NULL);
    const struct room_version *v;
    struct auth_key keys[8];

    if (!in)
        return 0;
    for (size_t i = 0; (v = room_version_at(i)) != NULL; i++) {
        struct auth_state st = {get, in, json_object_get(in, "events") ? get_event : NULL};
        const json_t *ev = json_object_get(in, "event");
        char r1[256], r2[256];
        bool a = auth_check(v, ev, &st, r1, sizeof(r1));
        bool b = auth_check(v, ev, &st, r2, sizeof(r2));

        if (a != b || strcmp(r1, r2) != 0)
            abort();
    }
    (void)auth_events_keys(json_object_get(in, "event"), keys, 8);
    json_decref(in);
    return 0;
}
