/* Room versions 1-7 (specification/rooms/v1.rst .. v6.rst, v1.1 rooms/v7.md) as one table of
 * properties. */
#ifndef HEARTH_ROOM_VERSION_H
#define HEARTH_ROOM_VERSION_H

#include <stdbool.h>
#include <stddef.h>

enum event_id_format {
    EVID_SERVER,      /* v1, v2: "$<opaque>:<server>", carried in the event */
    EVID_HASH_BASE64, /* v3: "$" + unpadded standard base64 of the reference hash */
    EVID_HASH_URLSAFE /* v4+: "$" + unpadded URL-safe base64 of the reference hash */
};

struct room_version {
    const char *id;
    enum event_id_format event_id_format;
    bool state_res_v2;              /* v2+ (only matters to federation) */
    bool enforce_key_validity;      /* v5+ (federation) */
    bool special_case_aliases;      /* v1-5: m.room.aliases has its own auth rule & redaction */
    bool strict_canonical_json;     /* v6: no floats, ints in range, in events */
    bool notifications_pl_redacted; /* "notifications" survives redaction of power levels:
                                       no version (v6 changes only m.room.aliases) */
    bool integer_power_levels_only; /* JSON integers only, no "50": no version up to 6 (rooms/v1
                                       rule 10.a allows integer strings; Synapse: from v10) */
    bool limit_notifications_pl;    /* v6: m.room.power_levels auth also checks notifications */
    bool knocking;                  /* v7: the knock join rule and membership */
};

/* SPEC: v1.1 rooms/_index.md: servers SHOULD use room version 6 as the default */
#define ROOM_VERSION_DEFAULT "6"

/* NULL if the version is unknown. */
const struct room_version *room_version_get(const char *id);
/* The i-th known version in order ("1".."7"), NULL past the end (for the capabilities list). */
const struct room_version *room_version_at(size_t i);

#endif
