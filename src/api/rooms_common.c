#include "api/rooms_common.h"

#include <stdlib.h>
#include <string.h>

#include "api/hs.h"
#include "core/util.h"
#include "json/json.h"
#include "room/event.h"
#include "room/id.h"
#include "room/redact.h"
#include "sync/evcache.h"

void
api_reply_rooms_error(struct req *r, enum rooms_rc rc, const char *reason)
{
    switch (rc) {
    case ROOMS_UNKNOWN_ROOM: /* as for a room the sender is not in (issue 12) */
        reply_error(r, MERR_FORBIDDEN, API_NOT_MEMBER);
        break;
    case ROOMS_FORBIDDEN:
        reply_error(r, MERR_FORBIDDEN, "%s", reason);
        break;
    case ROOMS_TOO_LARGE:
        reply_error(r, MERR_TOO_LARGE, "%s", reason);
        break;
    case ROOMS_INVALID:
        reply_error(r, MERR_BAD_JSON, "%s", reason);
        break;
    default:
        reply_internal(r, "room write failed");
        break;
    }
}

char *
api_send_event_or_reply(struct req *r, const char *room_id, const char *type, const char *state_key,
                        const json_t *content, const char *redacts)
{
    struct rooms_proto p = {r->user_id, type, state_key, content, redacts};
    char reason[256] = "", **ids = NULL, *id;
    enum rooms_rc rc = rooms_send(r->hs->rooms, room_id, &p, 1, NULL, &ids, reason, sizeof(reason));

    if (rc != ROOMS_OK) {
        api_reply_rooms_error(r, rc, reason);
        return NULL;
    }
    id = ids[0];
    free(ids);
    return id;
}

static void
add_unsigned(struct req *r, json_t *out, const char *unsigned_json, int64_t origin_ts)
{
    json_t *uns = unsigned_json ? json_loads(unsigned_json, 0, NULL) : NULL;
    int64_t age = util_now_ms() - origin_ts;

    if (!uns)
        uns = json_object();
    (void)r;
    json_object_set_new(uns, "age", json_integer(age > 0 ? age : 0));
    json_object_set_new(out, "unsigned", uns);
}

/* Admin API erasure (issue 14). Synapse (element-hq/synapse, synapse/visibility.py,
 * filter_events_for_client -> _check_client_allowed_to_see_event) looks up whether each
 * event's sender was erased and "if the sender has been erased and the user was not joined at
 * the time", serves only prune_event(event), the redaction algorithm's result, without
 * redacted_because; users who were joined when the event was sent keep seeing it whole. The
 * user's membership at the event is the one in force just before it (or the event itself when
 * it joins them). Every client read path serializes events here, so this covers them all. */
static bool
erased_for_viewer(struct req *r, const struct store_event *e)
{
    struct store_state_interval *list = NULL;
    size_t n = 0;
    bool erased = false, joined = false;

    if (!e->sender)
        return false;
    /* A failed lookup errs on the side of the erasure: the event is served pruned. */
    if (store_user_is_erased(r->hs->store, e->sender, &erased) != STORE_OK)
        return true;
    if (!erased)
        return false;
    if (r->user_id && store_state_history(r->hs->store, e->room_id, "m.room.member", r->user_id,
                                          &list, &n) == STORE_OK) {
        for (size_t i = 0; i < n; i++) {
            const char *m = list[i].membership;
            bool in_force = list[i].from_pos < e->pos && e->pos <= list[i].to_pos;
            bool joins_now = list[i].from_pos == e->pos;
            if ((in_force || joins_now) && m && strcmp(m, "join") == 0)
                joined = true;
        }
    }
    store_state_intervals_free(list, n);
    return !joined;
}

json_t *
api_event_for_client(struct req *r, const struct store_event *e, const struct room_version *v)
{
    /* sync speed (issue 4): the formatted event from the memo when it has it (a shallow
     * copy, since unsigned is per request); never for an event pruned for this viewer
     * (issue 14: an erased sender's), which is formatted here like a redacted one. */
    bool pruned = !e->redacted_by && erased_for_viewer(r, e);
    json_t *shared = r->hs && !pruned ? evcache_client(r->hs->evcache, e) : NULL;
    json_t *ev = NULL, *out = NULL;

    if (shared) {
        out = json_copy(shared);
        json_decref(shared);
        ev = json_incref(out);
    } else {
        if (!(ev = json_loads(e->json, 0, NULL)))
            return NULL;
        if (e->redacted_by || pruned) {
            json_t *red = redact_event(ev, v);
            json_decref(ev);
            ev = red;
        }
        out = event_client_format(ev, e->event_id);
    }
    add_unsigned(r, out, e->unsigned_json,
                 json_integer_value(json_object_get(ev, "origin_server_ts")));
    /* SPEC: unsigned.transaction_id, for the client that sent the event only. Only
     * /send and /redact take a transaction ID, so a state event never has one (sync speed,
     * issue 4: an initial sync looked up every state event its user had created). */
    if (r->access_token && r->user_id && !e->state_key && strcmp(e->sender, r->user_id) == 0) {
        char hash[65], *txn = NULL;
        util_sha256_hex(r->access_token, strlen(r->access_token), hash);
        if (store_txn_of_event(r->hs->store, hash, e->event_id, &txn) == STORE_OK)
            json_object_set_new(json_object_get(out, "unsigned"), "transaction_id",
                                json_string(txn));
        free(txn);
    }
    if (pruned) /* as for a redaction: the old content is the erased user's too */
        json_object_del(json_object_get(out, "unsigned"), "prev_content");
    if (e->redacted_by) {
        struct store_event red = {0};
        json_t *uns = json_object_get(out, "unsigned");
        /* The redacted event's prev_content is not the client's business any more. */
        json_object_del(uns, "prev_content");
        if (store_event_get(r->hs->store, e->redacted_by, &red) == STORE_OK) {
            json_t *redev = json_loads(red.json, 0, NULL);
            if (redev) {
                json_t *because = event_client_format(redev, red.event_id);
                add_unsigned(r, because, red.unsigned_json,
                             json_integer_value(json_object_get(redev, "origin_server_ts")));
                json_object_set_new(uns, "redacted_because", because);
                json_decref(redev);
            }
        }
        store_event_clear(&red);
    }
    json_decref(ev);
    return out;
}

json_t *
api_full_event_for_client(struct req *r, const char *event_id, const json_t *ev)
{
    struct store_event e = {0};
    json_t *out;
    const struct room_version *v;

    /* The store has the authoritative redaction status and unsigned data. */
    if (store_event_get(r->hs->store, event_id, &e) == STORE_OK &&
        (v = rooms_version(r->hs->rooms, e.room_id))) {
        out = api_event_for_client(r, &e, v);
        store_event_clear(&e);
        if (out)
            return out;
    }
    store_event_clear(&e);
    out = event_client_format(ev, event_id);
    add_unsigned(r, out, NULL, json_integer_value(json_object_get(ev, "origin_server_ts")));
    return out;
}

bool
api_room_id_ok_or_reply(struct req *r, const char *room_id)
{
    const char *colon = strchr(room_id, ':');
    if (room_id[0] != '!' || !colon || colon == room_id + 1 || !id_server_name_valid(colon + 1) ||
        strlen(room_id) > 255) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid room ID");
        return false;
    }
    return true;
}

const struct room_version *
api_member_room_or_reply(struct req *r, const char *room_id)
{
    const struct room_version *v;

    if (!api_room_id_ok_or_reply(r, room_id))
        return NULL;
    switch (rooms_lookup(r->hs->rooms, room_id, &v)) {
    case ROOMS_OK:
        return v;
    case ROOMS_UNKNOWN_ROOM:
        reply_error(r, MERR_FORBIDDEN, API_NOT_MEMBER);
        return NULL;
    default:
        reply_internal(r, "storage failed");
        return NULL;
    }
}

const struct room_version *
api_room_or_reply(struct req *r, const char *room_id)
{
    const struct room_version *v;

    if (!api_room_id_ok_or_reply(r, room_id))
        return NULL;
    switch (rooms_lookup(r->hs->rooms, room_id, &v)) {
    case ROOMS_OK:
        break;
    case ROOMS_UNKNOWN_ROOM:
        reply_error(r, MERR_NOT_FOUND, "Unknown room");
        break;
    default:
        reply_internal(r, "storage failed");
        break;
    }
    return v;
}
