/* Event filters (definitions/event_filter.yaml, room_event_filter.yaml): parsing and
 * matching. Pure. */
#ifndef HEARTH_SYNC_FILTER_H
#define HEARTH_SYNC_FILTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* A RoomEventFilter (an EventFilter when the room fields are absent). The JSON is kept and
 * consulted: filters are small. */
struct event_filter {
    json_t *json; /* owned; {} when no filter was given */
    long limit;   /* -1 when absent */
    bool lazy_load_members;
    bool include_redundant_members;
};

/* Parses and validates a filter object (borrowed). Returns 0, or -1 with a message in err
 * naming the field (for a 400 M_BAD_JSON / M_INVALID_PARAM). NULL json means "no filter". */
int filter_parse(const json_t *json, struct event_filter *out, char *err, size_t errlen);
void filter_clear(struct event_filter *f);

/* SPEC: types/not_types entries may end in '*' to match any suffix. */
bool filter_type_matches(const char *pattern, const char *type);
/* Does the event (client or federation format) pass the filter? */
bool filter_event_matches(const struct event_filter *f, const char *room_id, const json_t *ev);

/* A whole sync Filter (definitions/sync_filter.yaml). */
struct sync_filter {
    json_t *json; /* owned */
    struct event_filter presence, account_data;
    struct event_filter timeline, state, ephemeral, room_account_data;
    json_t *rooms, *not_rooms; /* borrowed from json; NULL when absent */
    json_t *event_fields;      /* borrowed; NULL when absent */
    bool include_leave;
    bool federation_format;
};

/* Validates and parses; NULL json is the empty filter. 0, or -1 with err naming the field. */
int sync_filter_parse(const json_t *json, struct sync_filter *out, char *err, size_t errlen);
void sync_filter_clear(struct sync_filter *f);
/* Is the room included by room.rooms / room.not_rooms? */
bool sync_filter_room_included(const struct sync_filter *f, const char *room_id);
/* Returns a new reference: ev cut down to event_fields (dotted paths, '\\.' for a literal
 * dot), or ev itself (incref'd) when no event_fields. */
json_t *sync_filter_apply_fields(const struct sync_filter *f, json_t *ev);

#endif
