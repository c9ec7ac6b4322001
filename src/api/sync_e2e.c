/* The end-to-end encryption streams of /sync; see sync_e2e.h. */
#include "api/sync_e2e.h"

#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "rooms/rooms.h"
#include "store/store.h"
#include "sync/token.h"

static int64_t
clamp(int64_t v, int64_t max)
{
    return v > max ? max : v;
}

/* Adds the joined members of a room to set ({user_id: true}). */
static void
add_joined_members(struct hs *hs, const char *room_id, json_t *set)
{
    json_t *state = rooms_current_state(hs->rooms, room_id), *entry;
    const char *user;

    json_object_foreach(json_object_get(state, "m.room.member"), user, entry)
    {
        json_t *content = json_object_get(json_object_get(entry, "event"), "content");
        const char *m = json_string_value(json_object_get(content, "membership"));
        if (m && strcmp(m, "join") == 0)
            json_object_set_new(set, user, json_true());
    }
    json_decref(state);
}

static json_t *
keys_of(const json_t *set)
{
    json_t *arr = json_array(), *v;
    const char *k;

    json_object_foreach((json_t *)set, k, v)
    {
        json_array_append_new(arr, json_string(k));
    }
    return arr;
}

/* Membership changes after ev_since in the rooms user_id is joined to: who joined a room
 * shared with user_id (or every member, when it is user_id who joined), who left one. */
static int
membership_delta(struct hs *hs, const char *user_id, int64_t ev_since, int64_t ev_upto,
                 json_t *changed, json_t *left)
{
    char **rooms = NULL;
    size_t nrooms = 0;
    struct store_membership *mine = NULL;
    size_t nmine = 0;
    int rc = -1;

    if (store_user_rooms(hs->store, user_id, "join", &rooms, &nrooms) != STORE_OK)
        goto out;
    for (size_t i = 0; i < nrooms; i++) {
        struct store_member_change *ch = NULL;
        size_t nch = 0;
        /* Most rooms saw nothing since: the room cache says so without a query. */
        if (rooms_last_pos(hs->rooms, rooms[i]) <= ev_since)
            continue;
        if (store_room_member_changes(hs->store, rooms[i], ev_since, ev_upto, &ch, &nch) !=
            STORE_OK)
            goto out;
        for (size_t k = 0; k < nch; k++) {
            bool joined = strcmp(ch[k].membership, "join") == 0;
            bool newly = ch[k].current && joined && !ch[k].joined_before;
            if (strcmp(ch[k].user_id, user_id) == 0) {
                /* SPEC: end_to_end_encryption.rst "Note": users who now share a room with the
                 * client and did not before; every member of a newly joined room may be
                 * listed ("for the sake of simpler logic, a server may add Alice"). */
                if (newly)
                    add_joined_members(hs, rooms[i], changed);
            } else if (newly) {
                json_object_set_new(changed, ch[k].user_id, json_true());
            } else if (strcmp(ch[k].membership, "leave") == 0 ||
                       strcmp(ch[k].membership, "ban") == 0) {
                json_object_set_new(left, ch[k].user_id, json_true());
            }
        }
        store_member_changes_free(ch, nch);
    }
    /* Rooms user_id left: their members may share nothing with user_id any more. */
    if (store_user_membership_changes(hs->store, user_id, ev_since, &mine, &nmine) != STORE_OK)
        goto out;
    for (size_t i = 0; i < nmine; i++)
        if (mine[i].pos <= ev_upto && mine[i].membership &&
            (strcmp(mine[i].membership, "leave") == 0 || strcmp(mine[i].membership, "ban") == 0))
            add_joined_members(hs, mine[i].room_id, left);
    rc = 0;
out:
    store_memberships_free(mine, nmine);
    store_strings_free(rooms, nrooms);
    return rc;
}

int
sync_e2e_device_lists(struct hs *hs, const char *user_id, int64_t ev_since, int64_t ev_upto,
                      int64_t dl_since, int64_t dl_upto, json_t **changed_out, json_t **left_out)
{
    json_t *changed = json_object(), *left = json_object(), *sharers = NULL, *v;
    char **users = NULL;
    size_t n = 0;
    const char *user;
    void *tmp;
    int rc = -1;

    *changed_out = *left_out = NULL;
    if (dl_upto > dl_since &&
        store_device_list_changes(hs->store, user_id, dl_since, dl_upto, &users, &n) != STORE_OK)
        goto out;
    for (size_t i = 0; i < n; i++)
        json_object_set_new(changed, users[i], json_true());
    if (ev_upto > ev_since && membership_delta(hs, user_id, ev_since, ev_upto, changed, left) != 0)
        goto out;
    if (json_object_size(left) > 0) {
        /* SPEC: "left": users with whom the client does not share any room any more. */
        if (!(sharers = api_room_sharers(hs, user_id)))
            goto out;
        json_object_foreach_safe(left, tmp, user, v)
        {
            if (json_object_get(sharers, user))
                json_object_del(left, user);
        }
    }
    *changed_out = keys_of(changed);
    *left_out = keys_of(left);
    rc = 0;
out:
    json_decref(changed);
    json_decref(left);
    json_decref(sharers);
    store_strings_free(users, n);
    return rc;
}

/* The device's one-time key counts. Synapse always lists signed_curve25519 (0 when none are
 * left), and clients take its absence as "the server does not count them", so do we. */
static json_t *
otk_counts(struct hs *hs, const char *user_id, const char *device_id)
{
    struct store_otk_count *list = NULL;
    size_t n = 0;
    json_t *out;

    if (store_otk_counts(hs->store, user_id, device_id, &list, &n) != STORE_OK)
        return NULL;
    out = json_pack("{s:i}", "signed_curve25519", 0);
    for (size_t i = 0; i < n; i++)
        json_object_set_new(out, list[i].algorithm, json_integer(list[i].count));
    store_otk_counts_free(list, n);
    return out;
}

static int
to_device(struct req *r, const struct sync_token *since, const struct store_e2e_heads *h,
          struct sync_e2e *e)
{
    struct store_to_device *list = NULL;
    size_t n = 0;
    int64_t now = h->to_device, after;
    json_t *ignored = NULL;
    int rc = -1;

    e->to_device_next = now;
    /* Messages committed after the position wait for the next sync. */
    if (!r->device_id || h->inbox_min < 0 || h->inbox_min > now)
        return 0;
    after = since ? clamp(since->pos[STREAM_TO_DEVICE], now) : 0;
    /* SPEC: send_to_device.rst: "When the client calls /sync again with the next_batch token
     * from the first response, the server should infer that any send-to-device messages in
     * that response have been delivered successfully, and delete them from the store." */
    if (h->inbox_min <= after &&
        store_to_device_ack(r->hs->store, r->user_id, r->device_id, after) != STORE_OK)
        return -1;
    if (after >= now)
        return 0;
    if (store_to_device_pending(r->hs->store, r->user_id, r->device_id, after, now,
                                SYNC_TO_DEVICE_LIMIT, &list, &n) != STORE_OK)
        return -1;
    ignored = api_ignored_users(r->hs, r->user_id);
    for (size_t i = 0; i < n; i++) {
        json_t *content;
        /* Issue 5 (modules/ignore_users.rst as Synapse applies it): an ignored user's
         * to-device messages are dropped, acknowledged with the rest. */
        if (json_object_get(ignored, list[i].sender))
            continue;
        content = json_loads(list[i].content, 0, NULL);
        if (!content)
            goto out;
        json_array_append_new(e->to_device, json_pack("{s:s, s:s, s:o}", "sender", list[i].sender,
                                                      "type", list[i].type, "content", content));
    }
    /* The rest of a long queue comes with the next sync, from just after this answer's last. */
    if (n == SYNC_TO_DEVICE_LIMIT)
        e->to_device_next = list[n - 1].pos;
    rc = 0;
out:
    json_decref(ignored);
    store_to_device_free(list, n);
    return rc;
}

int
sync_e2e_collect(struct req *r, const struct sync_token *since, int64_t events_now,
                 struct sync_e2e *e)
{
    struct store_e2e_heads h;

    memset(e, 0, sizeof(*e));
    e->to_device = json_array();
    /* The positions first: anything committed later is left for the next sync. */
    if (store_e2e_heads(r->hs->store, r->user_id, r->device_id, &h) != STORE_OK ||
        to_device(r, since, &h, e) != 0)
        return -1;
    e->device_lists_now = h.device_lists;
    if (!r->device_id || !(e->otk_counts = otk_counts(r->hs, r->user_id, r->device_id)))
        e->otk_counts = json_object();
    /* SPEC: "The server need only populate this property for an incremental /sync". */
    if (!since) {
        e->changed = json_array();
        e->left = json_array();
        return 0;
    }
    return sync_e2e_device_lists(r->hs, r->user_id, clamp(since->pos[STREAM_EVENTS], events_now),
                                 events_now,
                                 clamp(since->pos[STREAM_DEVICE_LISTS], e->device_lists_now),
                                 e->device_lists_now, &e->changed, &e->left);
}

bool
sync_e2e_is_empty(const struct sync_e2e *e)
{
    return json_array_size(e->to_device) == 0 && json_array_size(e->changed) == 0 &&
           json_array_size(e->left) == 0;
}

void
sync_e2e_reply(struct sync_e2e *e, struct sync_token *next, json_t *body)
{
    next->pos[STREAM_TO_DEVICE] = e->to_device_next;
    next->pos[STREAM_DEVICE_LISTS] = e->device_lists_now;
    json_object_set_new(body, "to_device", json_pack("{s:o}", "events", e->to_device));
    json_object_set_new(body, "device_lists",
                        json_pack("{s:o, s:o}", "changed", e->changed ? e->changed : json_array(),
                                  "left", e->left ? e->left : json_array()));
    json_object_set_new(body, "device_one_time_keys_count",
                        e->otk_counts ? e->otk_counts : json_object());
    e->to_device = e->changed = e->left = e->otk_counts = NULL;
}

void
sync_e2e_clear(struct sync_e2e *e)
{
    json_decref(e->to_device);
    json_decref(e->changed);
    json_decref(e->left);
    json_decref(e->otk_counts);
    memset(e, 0, sizeof(*e));
}
