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

#endif
