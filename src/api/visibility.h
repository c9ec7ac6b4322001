/* History visibility (modules/history_visibility.rst), enforced on every read path. */
#ifndef HEARTH_API_VISIBILITY_H
#define HEARTH_API_VISIBILITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct req;

/* What one user may see of one room: their membership and the room's history_visibility
 * over time, loaded once per request. */
struct visibility {
    struct store_state_interval *membership;
    size_t n_membership;
    struct store_state_interval *history; /* membership field holds the visibility value */
    size_t n_history;
    char *membership_now; /* NULL: never had one */
    char *visibility_now; /* "shared" when unset */
    bool forgotten;       /* the user forgot the room: no history at all */
};

int visibility_load(struct req *r, const char *room_id, const char *user_id,
                    struct visibility *out);
void visibility_clear(struct visibility *vis);
/* May the user see this event? */
bool visibility_allows(const struct visibility *vis, const struct store_event *e);
/* May the user read the room's history at all (a member now or once, or world_readable)? */
bool visibility_any(const struct visibility *vis);
/* The position whose state the user may read: INT64_MAX (current state) when joined or the
 * room is world_readable; the position of their leaving when they left; -1 if none. */
int64_t visibility_state_pos(const struct visibility *vis);
/* Server-side search: the positions at which the user may see an ordinary event (any type but
 * m.room.member and m.room.history_visibility, which have rules of their own), as sorted,
 * disjoint ranges (after, upto] (upto INT64_MAX: onwards). Exactly the positions where
 * visibility_allows says yes for such an event. Returns the number of ranges; *out is a new
 * array (free()), NULL when there are none. */
struct visibility_range {
    int64_t after, upto;
};
size_t visibility_ranges(const struct visibility *vis, struct visibility_range **out);
/* Every room where the user has or had a membership, with its visibility, read in a few
 * queries whatever the number of rooms (search). *out is a new array, sorted by room ID (free
 * with visibility_rooms_free). 0, or -1 on storage failure. */
struct visibility_room {
    char *room_id;
    struct visibility vis;
};
int visibility_load_user_rooms(struct req *r, const char *user_id, struct visibility_room **out,
                               size_t *n);
void visibility_rooms_free(struct visibility_room *rooms, size_t n);

#endif
