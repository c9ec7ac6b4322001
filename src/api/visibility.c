#include "api/visibility.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/hs.h"
#include "core/util.h"
#include "http/http.h"
#include "sync/evcache.h"

/* The visibility a history_visibility event's content sets. */
static const char *
hv_content(const json_t *content)
{
    const char *value = "shared"; /* SPEC: also for values not understood */
    const json_t *v = json_object_get(content, "history_visibility");

    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "world_readable") == 0)
            value = "world_readable";
        else if (strcmp(s, "invited") == 0)
            value = "invited";
        else if (strcmp(s, "joined") == 0)
            value = "joined";
    }
    return value;
}

/* The visibility a history_visibility event sets. */
static const char *
hv_value(const char *json, bool redacted)
{
    json_t *ev = json && !redacted ? json_loads(json, 0, NULL) : NULL;
    const char *value = hv_content(json_object_get(ev, "content"));

    json_decref(ev);
    return value;
}

/* After the intervals are in: forgetting, and the values now. */
static void
finish(struct visibility *out)
{
    if (out->forgotten) {
        /* A forgotten room's past is gone for the user; only world_readable remains. */
        store_state_intervals_free(out->membership, out->n_membership);
        out->membership = NULL;
        out->n_membership = 0;
    }
    if (out->n_membership && out->membership[out->n_membership - 1].to_pos == INT64_MAX)
        out->membership_now = xstrdup(out->membership[out->n_membership - 1].membership
                                          ? out->membership[out->n_membership - 1].membership
                                          : "leave");
    out->visibility_now =
        xstrdup(out->n_history && out->history[out->n_history - 1].to_pos == INT64_MAX
                    ? out->history[out->n_history - 1].membership
                    : "shared");
}

int
visibility_load(struct req *r, const char *room_id, const char *user_id, struct visibility *out)
{
    memset(out, 0, sizeof(*out));
    if (user_id && store_state_history(r->hs->store, room_id, "m.room.member", user_id,
                                       &out->membership, &out->n_membership) != STORE_OK)
        return -1;
    if (store_state_history(r->hs->store, room_id, "m.room.history_visibility", "", &out->history,
                            &out->n_history) != STORE_OK)
        return -1;
    /* Replace each interval's event ID by the visibility it set (membership is unused). */
    for (size_t i = 0; i < out->n_history; i++) {
        struct store_event e = {0};
        bool found = store_event_get(r->hs->store, out->history[i].event_id, &e) == STORE_OK;
        /* sync speed (issue 4): the memo's parsed event where it has it */
        json_t *client = found ? evcache_client(r->hs->evcache, &e) : NULL;
        free(out->history[i].membership);
        out->history[i].membership =
            xstrdup(client ? hv_content(json_object_get(client, "content"))
                           : hv_value(found ? e.json : NULL, found && e.redacted_by));
        json_decref(client);
        store_event_clear(&e);
    }
    if (user_id &&
        store_room_is_forgotten(r->hs->store, user_id, room_id, &out->forgotten) != STORE_OK)
        return -1;
    finish(out);
    return 0;
}

void
visibility_clear(struct visibility *vis)
{
    store_state_intervals_free(vis->membership, vis->n_membership);
    store_state_intervals_free(vis->history, vis->n_history);
    free(vis->membership_now);
    free(vis->visibility_now);
    memset(vis, 0, sizeof(*vis));
}

/* The value of the interval list in force just before position pos, or NULL. */
static const char *
before(const struct store_state_interval *list, size_t n, int64_t pos)
{
    for (size_t i = n; i-- > 0;)
        if (list[i].from_pos < pos && pos <= list[i].to_pos)
            return list[i].membership ? list[i].membership : "leave";
    return NULL;
}

static int
permissiveness(const char *v)
{
    if (strcmp(v, "world_readable") == 0)
        return 3;
    if (strcmp(v, "shared") == 0)
        return 2;
    if (strcmp(v, "invited") == 0)
        return 1;
    return 0;
}

bool
visibility_allows(const struct visibility *vis, const struct store_event *e)
{
    const char *hv = before(vis->history, vis->n_history, e->pos);
    const char *m = before(vis->membership, vis->n_membership, e->pos);

    if (!hv)
        hv = "shared";
    /* A change of visibility is seen under the more permissive of old and new, so members
     * see the event that hid the history from them (as Synapse does). */
    if (strcmp(e->type, "m.room.history_visibility") == 0 && e->state_key && !*e->state_key) {
        const char *after = NULL;
        for (size_t i = 0; i < vis->n_history; i++)
            if (vis->history[i].from_pos == e->pos)
                after = vis->history[i].membership;
        if (after && permissiveness(after) > permissiveness(hv))
            hv = after;
    }
    /* SPEC: "a user can always see m.room.member events which set their membership to join,
     * or which change their membership from join to any other value". */
    if (strcmp(e->type, "m.room.member") == 0 && vis->n_membership) {
        for (size_t i = 0; i < vis->n_membership; i++) {
            const char *set = vis->membership[i].membership;
            if (vis->membership[i].from_pos != e->pos)
                continue;
            if ((set && strcmp(set, "join") == 0) || (m && strcmp(m, "join") == 0))
                return true;
            m = set;
        }
    }
    /* SPEC: history_visibility: world_readable: anyone; shared: members see all, including
     * before they joined; invited: from their invite; joined: from their join. */
    if (strcmp(hv, "world_readable") == 0)
        return true;
    if (m && strcmp(m, "join") == 0)
        return true;
    if (strcmp(hv, "invited") == 0)
        return m && strcmp(m, "invite") == 0;
    if (strcmp(hv, "shared") == 0) {
        /* Members see all history up to when they left: joined at some point after it. */
        for (size_t i = 0; i < vis->n_membership; i++) {
            const char *jm = vis->membership[i].membership;
            if (jm && strcmp(jm, "join") == 0 && vis->membership[i].to_pos > e->pos)
                return true;
        }
        return false;
    }
    return false;
}

bool
visibility_any(const struct visibility *vis)
{
    return vis->n_membership > 0 || strcmp(vis->visibility_now, "world_readable") == 0;
}

int64_t
visibility_state_pos(const struct visibility *vis)
{
    if (vis->membership_now && strcmp(vis->membership_now, "join") == 0)
        return INT64_MAX;
    if (strcmp(vis->visibility_now, "world_readable") == 0)
        return INT64_MAX;
    /* Someone who left sees the state as it was when they left. */
    for (size_t i = vis->n_membership; i-- > 0;) {
        const char *m = vis->membership[i].membership;
        if (m && strcmp(m, "join") == 0)
            return i + 1 < vis->n_membership ? vis->membership[i + 1].from_pos : INT64_MAX;
    }
    return -1;
}

static int
cmp_pos(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Whether an ordinary event at pos is visible (what visibility_allows says for it). */
static bool
ordinary_visible(const struct visibility *vis, int64_t pos)
{
    struct store_event e = {.type = (char *)"m.room.message", .pos = pos};
    return visibility_allows(vis, &e);
}

static void
add_range(struct visibility_range **out, size_t *n, int64_t after, int64_t upto)
{
    if (after >= upto)
        return;
    if (*n > 0 && (*out)[*n - 1].upto == after) {
        (*out)[*n - 1].upto = upto;
        return;
    }
    *out = xrealloc(*out, (*n + 1) * sizeof(**out));
    (*out)[(*n)++] = (struct visibility_range){after, upto};
}

size_t
visibility_ranges(const struct visibility *vis, struct visibility_range **out)
{
    size_t nb = 0, n = 0;
    int64_t *b = xcalloc(2 * (vis->n_membership + vis->n_history) + 1, sizeof(*b));
    int64_t prev = 0;

    *out = NULL;
    /* The answer only changes at the positions where an interval starts or ends: between
     * two of them (and at each) it is the same for every position, so one probe each. */
    for (size_t i = 0; i < vis->n_membership; i++) {
        b[nb++] = vis->membership[i].from_pos;
        if (vis->membership[i].to_pos != INT64_MAX)
            b[nb++] = vis->membership[i].to_pos;
    }
    for (size_t i = 0; i < vis->n_history; i++) {
        b[nb++] = vis->history[i].from_pos;
        if (vis->history[i].to_pos != INT64_MAX)
            b[nb++] = vis->history[i].to_pos;
    }
    qsort(b, nb, sizeof(*b), cmp_pos);
    for (size_t i = 0; i < nb; i++) {
        if (b[i] <= prev)
            continue; /* duplicates, and positions before the first event */
        if (b[i] - prev > 1 && ordinary_visible(vis, prev + 1))
            add_range(out, &n, prev, b[i] - 1);
        if (ordinary_visible(vis, b[i]))
            add_range(out, &n, b[i] - 1, b[i]);
        prev = b[i];
    }
    if (prev < INT64_MAX && ordinary_visible(vis, prev + 1))
        add_range(out, &n, prev, INT64_MAX);
    free(b);
    return n;
}

static int
cmp_room(const void *a, const void *b)
{
    return strcmp(((const struct visibility_room *)a)->room_id,
                  ((const struct visibility_room *)b)->room_id);
}

static struct visibility_room *
find_room(struct visibility_room *rooms, size_t n, const char *room_id)
{
    struct visibility_room key = {(char *)room_id, {0}};
    return n ? bsearch(&key, rooms, n, sizeof(*rooms), cmp_room) : NULL;
}

static void
append(struct store_state_interval **list, size_t *n, const char *value, int64_t from, int64_t to)
{
    *list = xrealloc(*list, (*n + 1) * sizeof(**list));
    (*list)[(*n)++] = (struct store_state_interval){NULL, value ? xstrdup(value) : NULL, from, to};
}

int
visibility_load_user_rooms(struct req *r, const char *user_id, struct visibility_room **out,
                           size_t *n)
{
    struct store_history_row *mem = NULL, *hist = NULL;
    size_t nm = 0, nh = 0, nf = 0;
    char **forgotten = NULL;
    struct visibility_room *rooms = NULL, *vr;
    int rc = -1;

    *out = NULL;
    *n = 0;
    if (store_user_room_histories(r->hs->store, user_id, &mem, &nm, &hist, &nh, &forgotten, &nf) !=
        STORE_OK)
        goto out;
    /* The rows come grouped by room, each room's in order of position. */
    rooms = xcalloc(nm + 1, sizeof(*rooms));
    for (size_t i = 0; i < nm; i++) {
        if (*n == 0 || strcmp(rooms[*n - 1].room_id, mem[i].room_id) != 0)
            rooms[(*n)++].room_id = xstrdup(mem[i].room_id);
        vr = &rooms[*n - 1];
        append(&vr->vis.membership, &vr->vis.n_membership, mem[i].value, mem[i].from_pos,
               mem[i].to_pos);
    }
    qsort(rooms, *n, sizeof(*rooms), cmp_room);
    for (size_t i = 0; i < nh; i++)
        if ((vr = find_room(rooms, *n, hist[i].room_id)))
            append(&vr->vis.history, &vr->vis.n_history, hv_value(hist[i].value, hist[i].redacted),
                   hist[i].from_pos, hist[i].to_pos);
    for (size_t i = 0; i < nf; i++)
        if ((vr = find_room(rooms, *n, forgotten[i])))
            vr->vis.forgotten = true;
    for (size_t i = 0; i < *n; i++)
        finish(&rooms[i].vis);
    *out = rooms;
    rooms = NULL;
    rc = 0;
out:
    free(rooms);
    store_history_rows_free(mem, nm);
    store_history_rows_free(hist, nh);
    store_strings_free(forgotten, nf);
    return rc;
}

void
visibility_rooms_free(struct visibility_room *rooms, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rooms[i].room_id);
        visibility_clear(&rooms[i].vis);
    }
    free(rooms);
}
