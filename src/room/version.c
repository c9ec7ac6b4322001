#include "room/version.h"

#include <string.h>

/* One row per version; each differs from the row above only where its rooms/vN.rst says.
 * notifications_pl_redacted and integer_power_levels_only stay false through v6: the v6
 * text changes only m.room.aliases in redaction, and still allows "a string that is an
 * integer" in power levels (so does Synapse until v10). */
static const struct room_version versions[] = {
    {.id = "1", .event_id_format = EVID_SERVER, .special_case_aliases = true},
    /* SPEC: rooms/v2 "changing only the state resolution algorithm" */
    {.id = "2", .event_id_format = EVID_SERVER, .state_res_v2 = true, .special_case_aliases = true},
    /* SPEC: rooms/v3 "The event ID is the reference hash of the event encoded using Unpadded
     * Base64" */
    {.id = "3",
     .event_id_format = EVID_HASH_BASE64,
     .state_res_v2 = true,
     .special_case_aliases = true},
    /* SPEC: rooms/v4 "using URL-safe base64 to generate the event ID" */
    {.id = "4",
     .event_id_format = EVID_HASH_URLSAFE,
     .state_res_v2 = true,
     .special_case_aliases = true},
    /* SPEC: rooms/v5 "ensuring that signing key validity is respected" */
    {.id = "5",
     .event_id_format = EVID_HASH_URLSAFE,
     .state_res_v2 = true,
     .enforce_key_validity = true,
     .special_case_aliases = true},
    /* SPEC: rooms/v6 "all rules relating specifically to events of type m.room.aliases are
     * removed", "now include the content key notifications", "Servers MUST strictly enforce
     * the JSON format" */
    {.id = "6",
     .event_id_format = EVID_HASH_URLSAFE,
     .state_res_v2 = true,
     .enforce_key_validity = true,
     .special_case_aliases = false,
     .strict_canonical_json = true,
     .limit_notifications_pl = true},
    /* SPEC: v1.1 rooms/v7 "introduce knocking as a possible join rule and membership state" */
    {.id = "7",
     .event_id_format = EVID_HASH_URLSAFE,
     .state_res_v2 = true,
     .enforce_key_validity = true,
     .special_case_aliases = false,
     .strict_canonical_json = true,
     .limit_notifications_pl = true,
     .knocking = true},
};

const struct room_version *
room_version_get(const char *id)
{
    if (!id)
        return NULL;
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
        if (strcmp(versions[i].id, id) == 0)
            return &versions[i];
    return NULL;
}

const struct room_version *
room_version_at(size_t i)
{
    return i < sizeof(versions) / sizeof(versions[0]) ? &versions[i] : NULL;
}
