/* directory.yaml: room aliases; and the m.room.canonical_alias checks of room_state.yaml. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/rooms_common.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "json/json.h"
#include "room/auth.h"
#include "room/id.h"
#include "rooms/rooms.h"
#include "store/store.h"

/* SPEC: identifier_grammar.rst "Room Aliases": #room_alias:domain, at most 255 bytes. The
 * localpart has no grammar yet (SPEC-391); we refuse whitespace and control characters, which
 * no client can display. Returns the domain (borrowed), or NULL when malformed. */
static const char *
alias_domain(const char *alias)
{
    const char *colon, *p;

    if (!alias || alias[0] != '#' || strlen(alias) > 255 || !util_valid_utf8(alias, strlen(alias)))
        return NULL;
    colon = strchr(alias, ':');
    if (!colon || colon == alias + 1 || !id_server_name_valid(colon + 1))
        return NULL;
    for (p = alias + 1; p < colon; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return NULL;
    return colon + 1;
}

static bool
user_is_admin(struct req *r)
{
    struct store_user u = {0};
    bool admin = false;

    if (r->user_id && store_user_get(r->hs->store, r->user_id, &u) == STORE_OK)
        admin = u.is_admin;
    store_user_clear(&u);
    return admin;
}

static bool
user_joined(struct req *r, const char *room_id)
{
    char *m = rooms_membership(r->hs->rooms, room_id, r->user_id);
    bool joined = m && strcmp(m, "join") == 0;
    free(m);
    return joined;
}

/* Synapse's check_can_change_room_list: a "moderator" is a joined member who could send
 * m.room.canonical_alias. */
bool
directory_user_may_edit_room(struct req *r, const char *room_id)
{
    json_t *pl, *create;
    bool ok;

    if (user_is_admin(r))
        return true;
    if (!user_joined(r, room_id))
        return false;
    pl = rooms_state_content(r->hs->rooms, room_id, "m.room.power_levels", "");
    create = rooms_state_get(r->hs->rooms, room_id, "m.room.create", "");
    ok =
        pl_user_level(pl, create, r->user_id) >= pl_event_level(pl, "m.room.canonical_alias", true);
    json_decref(pl);
    json_decref(create);
    return ok;
}

/* Replies 400 and returns NULL unless the path's alias is well formed. */
static const char *
alias_domain_or_reply(struct req *r, const char *alias)
{
    const char *domain = alias_domain(alias);
    if (!domain)
        reply_error(r, MERR_INVALID_PARAM, "Invalid room alias");
    return domain;
}

/* PUT /_matrix/client/r0/directory/room/{roomAlias} */
void
directory_put_alias(struct req *r)
{
    const char *alias = r->params[0], *domain, *room_id;
    bool wrong = false;
    enum store_rc rc;

    if (!(domain = alias_domain_or_reply(r, alias)))
        return;
    /* SPEC: client_server_api.rst "Room aliases": servers likely reject aliases on other
     * domains (Synapse: 400 M_INVALID_PARAM). */
    if (strcmp(domain, r->hs->cfg->server_name) != 0) {
        reply_error(r, MERR_INVALID_PARAM, "Room alias must be local");
        return;
    }
    /* Application services' alias namespaces (issue 13). */
    if (!api_appservice_alias_ok_or_reply(r, alias))
        return;
    room_id = json_get_str(r->json, "room_id", &wrong);
    if (!room_id) {
        reply_error(r, wrong ? MERR_BAD_JSON : MERR_MISSING_PARAM,
                    "room_id is required and must be a string");
        return;
    }
    if (!api_room_or_reply(r, room_id))
        return;
    /* As Synapse (require_membership_for_aliases): only members may point aliases at a room,
     * so nobody can squat a name on a room they do not belong to. Application services manage
     * their namespace's aliases without joining (Synapse). */
    if (!r->appservice && !user_joined(r, room_id) && !user_is_admin(r)) {
        reply_error(r, MERR_FORBIDDEN, "You must be in the room to create an alias for it");
        return;
    }
    rc = store_alias_put(r->hs->store, alias, room_id, r->user_id);
    if (rc == STORE_EXISTS) {
        /* SPEC: directory.yaml: 409 with M_UNKNOWN */
        reply_error_status(r, 409, MERR_UNKNOWN, "Room alias %s already exists", alias);
        return;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "alias insert failed");
        return;
    }
    log_info("%s created alias %s for %s", r->user_id, alias, room_id);
    reply_empty(r);
}

/* GET /_matrix/client/r0/directory/room/{roomAlias} */
void
directory_get_alias(struct req *r)
{
    const char *alias = r->params[0], *domain;
    char *room_id = NULL;
    enum store_rc rc;

    if (!(domain = alias_domain_or_reply(r, alias)))
        return;
    /* Resolving another server's alias needs federation, which comes later. */
    if (strcmp(domain, r->hs->cfg->server_name) != 0) {
        reply_error(r, MERR_NOT_FOUND, "Room alias %s not found", alias);
        return;
    }
    rc = store_alias_get(r->hs->store, alias, &room_id, NULL);
    /* An application service may create it when asked (issue 13): this runs again once it
     * answered. */
    if (rc == STORE_NOT_FOUND && api_appservice_suspend_for_alias(r, alias))
        return;
    if (rc == STORE_NOT_FOUND)
        reply_error(r, MERR_NOT_FOUND, "Room alias %s not found", alias);
    else if (rc != STORE_OK)
        reply_internal(r, "alias lookup failed");
    else
        reply_json(
            r, 200,
            json_pack("{s:s, s:[s]}", "room_id", room_id, "servers", r->hs->cfg->server_name));
    free(room_id);
}

/* Drops `alias` from the room's m.room.canonical_alias, as the deleting user. SPEC:
 * directory.yaml: the alias is deleted even if the user may not update that event. */
static void
unpublish_alias(struct req *r, const char *room_id, const char *alias)
{
    json_t *cur = rooms_state_content(r->hs->rooms, room_id, "m.room.canonical_alias", "");
    json_t *content, *alt;
    const char *main_alias;
    bool changed = false;
    size_t i;

    if (!cur)
        return;
    content = json_deep_copy(cur);
    main_alias = json_string_value(json_object_get(content, "alias"));
    if (main_alias && strcmp(main_alias, alias) == 0) {
        json_object_del(content, "alias");
        changed = true;
    }
    alt = json_object_get(content, "alt_aliases");
    for (i = json_array_size(alt); i-- > 0;) {
        const char *a = json_string_value(json_array_get(alt, i));
        if (a && strcmp(a, alias) == 0) {
            json_array_remove(alt, i);
            changed = true;
        }
    }
    if (changed) {
        struct rooms_proto p = {r->user_id, "m.room.canonical_alias", "", content, NULL};
        char reason[256] = "";
        char **ids = NULL;
        if (rooms_send(r->hs->rooms, room_id, &p, 1, NULL, &ids, reason, sizeof(reason)) ==
            ROOMS_OK)
            rooms_ids_free(ids, 1);
        else
            log_info("could not drop %s from the canonical alias of %s: %s", alias, room_id,
                     reason);
    }
    json_decref(content);
    json_decref(cur);
}

/* DELETE /_matrix/client/r0/directory/room/{roomAlias} */
void
directory_delete_alias(struct req *r)
{
    const char *alias = r->params[0];
    char *room_id = NULL, *creator = NULL;
    enum store_rc rc;

    if (!alias_domain_or_reply(r, alias))
        return;
    /* A service deletes only in its aliases namespaces, but any alias there (issue 13). */
    if (r->appservice && !api_appservice_owns_alias(r, alias)) {
        reply_error(r, MERR_EXCLUSIVE, "Alias %s is not in this application service's namespace",
                    alias);
        return;
    }
    rc = store_alias_get(r->hs->store, alias, &room_id, &creator);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "Room alias %s not found", alias);
        goto out;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "alias lookup failed");
        goto out;
    }
    /* SPEC: directory.yaml allows "their creator or a server administrator"; Synapse adds the
     * room's moderators (power to send m.room.canonical_alias), who curate its aliases. */
    if (!r->appservice && strcmp(creator, r->user_id) != 0 &&
        !directory_user_may_edit_room(r, room_id)) {
        reply_error(r, MERR_FORBIDDEN, "You don't have permission to delete the alias");
        goto out;
    }
    if (!r->appservice && !api_appservice_alias_ok_or_reply(r, alias))
        goto out;
    rc = store_alias_delete(r->hs->store, alias);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "Room alias %s not found", alias);
        goto out;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "alias delete failed");
        goto out;
    }
    log_info("%s deleted alias %s of %s", r->user_id, alias, room_id);
    unpublish_alias(r, room_id, alias);
    reply_empty(r);
out:
    free(room_id);
    free(creator);
}

/* GET /_matrix/client/r0/rooms/{roomId}/aliases */
void
directory_room_aliases(struct req *r)
{
    const char *room_id = r->params[0];
    json_t *hv, *list;
    const char *vis;
    char **aliases = NULL;
    size_t n = 0, i;
    bool allowed;

    if (!api_member_room_or_reply(r, room_id))
        return;
    /* SPEC: directory.yaml: members, anyone when world_readable, and (our choice) server
     * admins. */
    hv = rooms_state_content(r->hs->rooms, room_id, "m.room.history_visibility", "");
    vis = json_string_value(json_object_get(hv, "history_visibility"));
    allowed =
        (vis && strcmp(vis, "world_readable") == 0) || user_joined(r, room_id) || user_is_admin(r);
    json_decref(hv);
    if (!allowed) {
        reply_error(r, MERR_FORBIDDEN, "You are not a member of the room");
        return;
    }
    if (store_room_aliases(r->hs->store, room_id, &aliases, &n) != STORE_OK) {
        reply_internal(r, "alias listing failed");
        return;
    }
    list = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(list, json_string(aliases[i]));
    store_strings_free(aliases, n);
    reply_json(r, 200, json_pack("{s:o}", "aliases", list));
}

static bool
in_content(const json_t *content, const char *alias)
{
    const json_t *alt = json_object_get(content, "alt_aliases"), *a;
    const char *main_alias = json_string_value(json_object_get(content, "alias"));
    size_t i;

    if (main_alias && strcmp(main_alias, alias) == 0)
        return true;
    json_array_foreach(alt, i, a)
    {
        if (json_is_string(a) && strcmp(json_string_value(a), alias) == 0)
            return true;
    }
    return false;
}

/* One alias of a canonical alias event: well formed, and (unless the current event already
 * lists it, as Synapse only checks what changes) pointing to room_id here. */
static bool
alias_ok_or_reply(struct req *r, const char *room_id, const json_t *v, const json_t *current)
{
    const char *alias = json_string_value(v);
    char *target = NULL;
    enum store_rc rc;
    bool ok;

    /* SPEC: room_state.yaml names M_INVALID_PARAMETER; the error list says M_INVALID_PARAM. */
    if (!alias || !alias_domain(alias)) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid room alias in m.room.canonical_alias");
        return false;
    }
    if (in_content(current, alias))
        return true;
    rc = store_alias_get(r->hs->store, alias, &target, NULL);
    if (rc == STORE_ERR) {
        reply_internal(r, "alias lookup failed");
        return false;
    }
    ok = rc == STORE_OK && strcmp(target, room_id) == 0;
    free(target);
    if (!ok)
        reply_error(r, MERR_BAD_ALIAS, "The alias '%s' does not point to this room", alias);
    return ok;
}

bool
directory_canonical_alias_ok_or_reply(struct req *r, const char *room_id, const json_t *content)
{
    const json_t *alias = json_object_get(content, "alias");
    const json_t *alt = json_object_get(content, "alt_aliases"), *a;
    json_t *current;
    bool ok = false;
    size_t i;

    /* An unknown room: the send answers 404. */
    if (!rooms_version(r->hs->rooms, room_id))
        return true;
    current = rooms_state_content(r->hs->rooms, room_id, "m.room.canonical_alias", "");
    /* SPEC: m.room.canonical_alias: "If not present, null, or empty the room should be
     * considered to have no canonical alias." */
    if (alias && !json_is_null(alias) &&
        !(json_is_string(alias) && json_string_length(alias) == 0) &&
        !alias_ok_or_reply(r, room_id, alias, current))
        goto out;
    if (alt && !json_is_array(alt)) {
        reply_error(r, MERR_INVALID_PARAM, "alt_aliases must be a list of room aliases");
        goto out;
    }
    json_array_foreach(alt, i, a)
    {
        if (!alias_ok_or_reply(r, room_id, a, current))
            goto out;
    }
    ok = true;
out:
    json_decref(current);
    return ok;
}
