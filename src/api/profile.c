/* profile.yaml: display names and avatars. A change is carried into the user's m.room.member
 * event in every room they are joined to (client_server_api "Events on Change of Profile
 * Information"). */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "json/json.h"
#include "room/id.h"
#include "rooms/rooms.h"
#include "store/store.h"

/* Synapse's limits (MAX_DISPLAYNAME_LEN, MAX_AVATAR_URL_LEN), in characters. */
#define MAX_DISPLAYNAME_CHARS 256
#define MAX_AVATAR_URL_CHARS 1000

enum field { DISPLAYNAME, AVATAR_URL };
static const char *const field_key[] = {"displayname", "avatar_url"};

static size_t
utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* Loads the profile of the path's user; replies 400 for a malformed ID and 404 for an
 * unknown one (other servers' users too: there is no federation to ask). */
static bool
profile_or_reply(struct req *r, const char *user_id, struct store_profile *p)
{
    enum store_rc rc;

    memset(p, 0, sizeof(*p));
    if (!id_user_id_valid(user_id)) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid user ID");
        return false;
    }
    rc = store_profile_get(r->hs->store, user_id, p);
    /* An application service may create the user when asked (issue 13): this runs again once
     * it answered. */
    if (rc == STORE_NOT_FOUND && api_appservice_suspend_for_user(r, user_id))
        return false;
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "Profile was not found");
        return false;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "profile lookup failed");
        return false;
    }
    return true;
}

void
profile_add_to_member_content(struct hs *hs, const char *user_id, json_t *content)
{
    struct store_profile p;

    if (store_profile_get(hs->store, user_id, &p) != STORE_OK)
        return;
    if (p.displayname)
        json_object_set_new(content, "displayname", json_string(p.displayname));
    if (p.avatar_url)
        json_object_set_new(content, "avatar_url", json_string(p.avatar_url));
    store_profile_clear(&p);
}

/* A new m.room.member event in each room the user is joined to, with the other content keys
 * kept. A room that refuses it (say, power levels that forbid members to change their own
 * event) is logged and skipped: the profile itself has changed either way. */
static void
update_member_events(struct hs *hs, const char *user_id, const struct store_profile *p)
{
    char **ids = NULL;
    size_t n = 0;

    if (store_user_rooms(hs->store, user_id, "join", &ids, &n) != STORE_OK) {
        log_warn("profile of %s changed, but its rooms could not be listed", user_id);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *old = rooms_state_content(hs->rooms, ids[i], "m.room.member", user_id), *c;
        const char *m = json_string_value(json_object_get(old, "membership"));
        char reason[256];

        if (!m || strcmp(m, "join") != 0) {
            json_decref(old);
            continue;
        }
        c = json_deep_copy(old);
        /* The reason belonged to the join, not to this change. */
        json_object_del(c, "reason");
        json_object_del(c, "displayname");
        json_object_del(c, "avatar_url");
        if (p->displayname)
            json_object_set_new(c, "displayname", json_string(p->displayname));
        if (p->avatar_url)
            json_object_set_new(c, "avatar_url", json_string(p->avatar_url));
        if (!json_equal(c, old)) {
            struct rooms_proto proto = {user_id, "m.room.member", user_id, c, NULL};
            enum rooms_rc rc =
                rooms_send(hs->rooms, ids[i], &proto, 1, NULL, NULL, reason, sizeof(reason));
            if (rc != ROOMS_OK)
                log_warn("profile of %s not updated in %s: %s", user_id, ids[i],
                         rc == ROOMS_ERR ? "storage failure" : reason);
        }
        json_decref(c);
        json_decref(old);
    }
    store_strings_free(ids, n);
}

static void
get_field(struct req *r, enum field f)
{
    struct store_profile p;
    const char *v;
    json_t *out;

    if (!profile_or_reply(r, r->params[0], &p))
        return;
    v = f == DISPLAYNAME ? p.displayname : p.avatar_url;
    /* An unset field is left out (as Synapse does); the schema makes both optional. */
    out = json_object();
    if (v)
        json_object_set_new(out, field_key[f], json_string(v));
    store_profile_clear(&p);
    reply_json(r, 200, out);
}

static void
put_field(struct req *r, enum field f)
{
    const char *user_id = r->params[0], *key = field_key[f], *v;
    size_t max = f == DISPLAYNAME ? MAX_DISPLAYNAME_CHARS : MAX_AVATAR_URL_CHARS;
    json_t *value = json_object_get(r->json, key);
    struct store_profile p = {0};
    enum store_rc rc;

    if (strcmp(user_id, r->user_id) != 0) {
        reply_error(r, MERR_FORBIDDEN, "Cannot set the %s of another user", key);
        return;
    }
    if (!value) {
        reply_error(r, MERR_MISSING_PARAM, "Missing key '%s'", key);
        return;
    }
    if (!json_is_string(value)) {
        reply_error(r, MERR_INVALID_PARAM, "'%s' must be a string", key);
        return;
    }
    v = json_string_value(value);
    if (utf8_chars(v) > max) {
        reply_error(r, MERR_INVALID_PARAM, "'%s' is too long (max %zu)", key, max);
        return;
    }
    /* avatar_url is taken as given, as Synapse does: the spec expects an mxc:// URI, but a
     * client reading it must cope with anything, and media may live elsewhere. An empty
     * string clears the field (Synapse). */
    if (!*v)
        v = NULL;
    rc = f == DISPLAYNAME ? store_profile_set_displayname(r->hs->store, r->user_id, v)
                          : store_profile_set_avatar_url(r->hs->store, r->user_id, v);
    if (rc == STORE_OK)
        rc = store_profile_get(r->hs->store, r->user_id, &p);
    if (rc != STORE_OK) {
        store_profile_clear(&p);
        reply_internal(r, "profile update failed");
        return;
    }
    update_member_events(r->hs, r->user_id, &p);
    store_profile_clear(&p);
    reply_empty(r);
}

/* GET /_matrix/client/r0/profile/{userId} */
void
profile_get(struct req *r)
{
    struct store_profile p;
    json_t *out;

    if (!profile_or_reply(r, r->params[0], &p))
        return;
    out = json_object();
    if (p.displayname)
        json_object_set_new(out, "displayname", json_string(p.displayname));
    if (p.avatar_url)
        json_object_set_new(out, "avatar_url", json_string(p.avatar_url));
    store_profile_clear(&p);
    reply_json(r, 200, out);
}

/* GET /_matrix/client/r0/profile/{userId}/displayname */
void
profile_get_displayname(struct req *r)
{
    get_field(r, DISPLAYNAME);
}

/* PUT /_matrix/client/r0/profile/{userId}/displayname */
void
profile_set_displayname(struct req *r)
{
    put_field(r, DISPLAYNAME);
}

/* GET /_matrix/client/r0/profile/{userId}/avatar_url */
void
profile_get_avatar_url(struct req *r)
{
    get_field(r, AVATAR_URL);
}

/* PUT /_matrix/client/r0/profile/{userId}/avatar_url */
void
profile_set_avatar_url(struct req *r)
{
    put_field(r, AVATAR_URL);
}
