/* third_party_membership.yaml, modules/third_party_invites.rst (issue 10): inviting by email
 * through the identity server the client names (v2 hashed lookup; a bound address is invited
 * directly, an unbound one gets an m.room.third_party_invite from the server's store-invite),
 * and the exchange of such an invite for a real one: on a join with third_party_signed, and
 * when the identity server reports a new bind (PUT /_matrix/federation/v1/3pid/onbind). */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/idserver.h"
#include "api/rooms_common.h"
#include "api/threepid.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "json/json.h"
#include "room/auth.h"
#include "room/event.h"
#include "room/id.h"
#include "rooms/rooms.h"
#include "store/store.h"

bool
third_party_invite_requested(const struct req *r)
{
    return json_object_get(r->json, "id_server") || json_object_get(r->json, "medium") ||
           json_object_get(r->json, "address");
}

static bool
is_local_user(struct hs *hs, const char *user_id)
{
    const char *lp, *server;
    size_t lp_len;

    if (!id_user_id_valid(user_id))
        return false;
    id_user_id_split(user_id, &lp, &lp_len, &server);
    return strcmp(server, hs->cfg->server_name) == 0;
}

/* The invite of a user the identity server knows (the ordinary /invite path). 0, or -1
 * after replying. */
static int
invite_user(struct req *r, const char *room_id, const char *target)
{
    json_t *content;
    struct store_user u;
    enum store_rc rc;
    char *id;

    if (!is_local_user(r->hs, target)) {
        reply_error(r, MERR_FORBIDDEN, "Inviting users of other servers needs federation");
        return -1;
    }
    rc = store_user_get(r->hs->store, target, &u);
    store_user_clear(&u);
    if (rc != STORE_OK) {
        if (rc == STORE_NOT_FOUND)
            reply_error(r, MERR_NOT_FOUND, "The identity server names an unknown user");
        else
            reply_internal(r, "user lookup failed");
        return -1;
    }
    content = json_pack("{s:s}", "membership", "invite");
    profile_add_to_member_content(r->hs, target, content);
    id = api_send_event_or_reply(r, room_id, "m.room.member", target, content, NULL);
    json_decref(content);
    if (id)
        reply_empty(r);
    free(id);
    return id ? 0 : -1;
}

/* The room's details the identity server puts in its invitation mail (store-invite). */
static json_t *
store_invite_body(struct req *r, const char *room_id, const char *medium, const char *address)
{
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "medium", medium, "address", address,
                             "room_id", room_id, "sender", r->user_id);
    static const struct {
        const char *type, *key, *field;
    } from_state[] = {
        {"m.room.canonical_alias", "alias", "room_alias"},
        {"m.room.avatar", "url", "room_avatar_url"},
        {"m.room.join_rules", "join_rule", "room_join_rules"},
        {"m.room.name", "name", "room_name"},
    };
    struct store_profile p;

    for (size_t i = 0; i < sizeof(from_state) / sizeof(from_state[0]); i++) {
        json_t *c = rooms_state_content(r->hs->rooms, room_id, from_state[i].type, "");
        const char *v = json_string_value(json_object_get(c, from_state[i].key));
        if (v)
            json_object_set_new(body, from_state[i].field, json_string(v));
        json_decref(c);
    }
    if (store_profile_get(r->hs->store, r->user_id, &p) == STORE_OK) {
        if (p.displayname)
            json_object_set_new(body, "sender_display_name", json_string(p.displayname));
        if (p.avatar_url)
            json_object_set_new(body, "sender_avatar_url", json_string(p.avatar_url));
        store_profile_clear(&p);
    }
    return body;
}

/* SPEC: "the homeserver must store the invite on the identity server and emit a valid
 * m.room.third_party_invite event to the room". 0, or -1 after replying. */
static int
store_invite(struct req *r, const char *room_id, const char *id_server, const char *token_is,
             const char *medium, const char *address)
{
    struct idserver_resp resp;
    json_t *body = store_invite_body(r, room_id, medium, address), *content = NULL, *keys;
    const char *token, *display, *pk, *url;
    char *id = NULL;

    if (idserver_store_invite(r->hs, id_server, token_is, body, &resp) != 0) {
        idserver_reply_failure(r, &resp);
        goto out;
    }
    token = json_string_value(json_object_get(resp.body, "token"));
    display = json_string_value(json_object_get(resp.body, "display_name"));
    keys = json_object_get(resp.body, "public_keys");
    /* The older single key, else the first of public_keys (as Synapse). */
    pk = json_string_value(json_object_get(resp.body, "public_key"));
    url = json_string_value(json_object_get(resp.body, "key_validity_url"));
    if (!pk) {
        pk = json_string_value(json_object_get(json_array_get(keys, 0), "public_key"));
        url = json_string_value(json_object_get(json_array_get(keys, 0), "key_validity_url"));
    }
    if (!token || !*token || !display || !pk || !url || !json_is_array(keys)) {
        reply_error_status(r, 502, MERR_UNKNOWN,
                           "The identity server answered store-invite without token, "
                           "display_name and public keys");
        goto out;
    }
    content = json_pack("{s:s, s:O, s:s, s:s}", "display_name", display, "public_keys", keys,
                        "public_key", pk, "key_validity_url", url);
    id = api_send_event_or_reply(r, room_id, "m.room.third_party_invite", token, content, NULL);
    if (id)
        reply_empty(r);
out:
    free(id);
    json_decref(content);
    json_decref(body);
    idserver_resp_clear(&resp);
    return id ? 0 : -1;
}

static bool
may_invite(struct req *r, const char *room_id)
{
    json_t *pl = rooms_state_content(r->hs->rooms, room_id, "m.room.power_levels", "");
    json_t *create = rooms_state_get(r->hs->rooms, room_id, "m.room.create", "");
    bool ok = pl_user_level(pl, create, r->user_id) >= pl_action_level(pl, "invite");
    json_decref(pl);
    json_decref(create);
    return ok;
}

int
third_party_invite_check_or_reply(struct req *r, const json_t *obj)
{
    static const char *const fields[] = {"id_server", "id_access_token", "medium", "address", NULL};
    const char *medium, *address;

    if (!json_is_object(obj)) {
        reply_error(r, MERR_BAD_JSON, "A third-party invite must be an object");
        return -1;
    }
    for (const char *const *f = fields; *f; f++) {
        json_t *v = json_object_get(obj, *f);
        if (!v || !json_is_string(v)) {
            reply_error(r, v ? MERR_BAD_JSON : MERR_MISSING_PARAM, "%s must be a string", *f);
            return -1;
        }
    }
    if (!idserver_name_ok(json_string_value(json_object_get(obj, "id_server")))) {
        reply_error(r, MERR_SERVER_NOT_TRUSTED, "id_server must be a hostname[:port]");
        return -1;
    }
    medium = json_string_value(json_object_get(obj, "medium"));
    address = json_string_value(json_object_get(obj, "address"));
    if (strcmp(medium, "email") == 0) {
        char *canonical = threepid_canonical_email(address);
        bool ok = canonical != NULL;
        free(canonical);
        if (!ok) {
            reply_error(r, MERR_INVALID_PARAM, "Invalid email address");
            return -1;
        }
    } else if (!*medium || !*address) {
        reply_error(r, MERR_INVALID_PARAM, "medium and address must not be empty");
        return -1;
    }
    return 0;
}

int
third_party_invite_one(struct req *r, const char *room_id, const json_t *obj)
{
    const char *id_server, *medium, *address, *token_is;
    struct idserver_resp resp = {0};
    char *membership = NULL, *mxid = NULL, *canonical = NULL;
    int rc = -1;

    if (third_party_invite_check_or_reply(r, obj) != 0)
        return -1;
    id_server = json_string_value(json_object_get(obj, "id_server"));
    token_is = json_string_value(json_object_get(obj, "id_access_token"));
    medium = json_string_value(json_object_get(obj, "medium"));
    address = json_string_value(json_object_get(obj, "address"));
    if (strcmp(medium, "email") == 0) {
        canonical = threepid_canonical_email(address);
        address = canonical;
    }
    if (!api_room_or_reply(r, room_id))
        goto out;
    /* SPEC: "Only users currently in a particular room can invite other users", checked
     * before the identity server learns anything. */
    membership = rooms_membership(r->hs->rooms, room_id, r->user_id);
    if (!membership || strcmp(membership, "join") != 0) {
        reply_error(r, MERR_FORBIDDEN, "You are not in this room");
        goto out;
    }
    /* The auth rules let any member send m.room.third_party_invite (rule 7), and the invite it
     * later turns into is checked only against the signature; so the invite level is checked
     * here, as for any invite (Synapse does the same). */
    if (!may_invite(r, room_id)) {
        reply_error(r, MERR_FORBIDDEN, "You do not have the power to invite to this room");
        goto out;
    }
    if (idserver_lookup(r->hs, id_server, token_is, medium, address, &mxid, &resp) != 0) {
        idserver_reply_failure(r, &resp);
        goto out;
    }
    if (mxid)
        rc = invite_user(r, room_id, mxid);
    else
        rc = store_invite(r, room_id, id_server, token_is, medium, address);
out:
    idserver_resp_clear(&resp);
    free(canonical);
    free(membership);
    free(mxid);
    return rc;
}

/* POST /_matrix/client/r0/rooms/{roomId}/invite with id_server, id_access_token, medium,
 * address */
void
third_party_invite(struct req *r)
{
    third_party_invite_one(r, r->params[0], r->json);
}

/* ---- the exchange ---- */

/* SPEC: third_party_invites "the server which is already participating in the room MUST
 * validate that the public key used for signing is still valid, by checking
 * key_validity_url". True when some key of the invite verifies `signed` and its identity
 * server still vouches for it. */
static bool
signed_and_valid(struct hs *hs, const json_t *tpi_content, const json_t *signed_obj)
{
    const json_t *keys = json_object_get(tpi_content, "public_keys");
    const char *pk = json_string_value(json_object_get(tpi_content, "public_key"));
    const char *url = json_string_value(json_object_get(tpi_content, "key_validity_url"));
    size_t i;
    json_t *k;

    if (pk && url && auth_signed_by(signed_obj, pk) && idserver_key_valid(hs, url, pk))
        return true;
    json_array_foreach(keys, i, k)
    {
        pk = json_string_value(json_object_get(k, "public_key"));
        url = json_string_value(json_object_get(k, "key_validity_url"));
        if (pk && auth_signed_by(signed_obj, pk) && (!url || idserver_key_valid(hs, url, pk)))
            return true;
    }
    return false;
}

enum exchange {
    EX_OK,
    EX_BAD,       /* malformed third_party_signed: 400 M_BAD_JSON */
    EX_FORBIDDEN, /* no matching invite, wrong user, bad signature: 403 M_FORBIDDEN */
    EX_ROOMS,     /* the room refused or failed: rc and reason */
};

/* Turns the room's m.room.third_party_invite named by signed.token into an invite of
 * signed.mxid from the original inviter (Synapse's exchange_third_party_invite). */
static enum exchange
exchange(struct hs *hs, const char *room_id, const json_t *signed_obj, const char *sender,
         enum rooms_rc *rc, char *reason, size_t reasonlen)
{
    const char *mxid = json_string_value(json_object_get(signed_obj, "mxid"));
    const char *token = json_string_value(json_object_get(signed_obj, "token"));
    json_t *tpi = NULL, *content = NULL, *signed_copy = NULL;
    const char *tpi_sender, *display;
    char *membership = NULL;
    enum exchange res = EX_FORBIDDEN;

    if (!mxid || !token || !json_is_object(json_object_get(signed_obj, "signatures")))
        return EX_BAD;
    membership = rooms_membership(hs->rooms, room_id, mxid);
    /* Already invited or joined: nothing to exchange. */
    if (membership && (strcmp(membership, "invite") == 0 || strcmp(membership, "join") == 0)) {
        res = EX_OK;
        goto out;
    }
    tpi = rooms_state_get(hs->rooms, room_id, "m.room.third_party_invite", token);
    tpi_sender = json_string_value(json_object_get(tpi, "sender"));
    if (!tpi || !tpi_sender || (sender && strcmp(sender, tpi_sender) != 0)) {
        snprintf(reason, reasonlen, "No matching third-party invite in this room");
        goto out;
    }
    if (!is_local_user(hs, tpi_sender)) {
        snprintf(reason, reasonlen, "The inviter is on another server");
        goto out;
    }
    if (!signed_and_valid(hs, json_object_get(tpi, "content"), signed_obj)) {
        snprintf(reason, reasonlen, "The invitation's signature is not valid");
        goto out;
    }
    display = json_string_value(json_object_get(json_object_get(tpi, "content"), "display_name"));
    /* As given: the signature covers exactly what the identity server signed. */
    signed_copy = json_deep_copy(signed_obj);
    content = json_pack("{s:s, s:{s:s, s:O}}", "membership", "invite", "third_party_invite",
                        "display_name", display ? display : "", "signed", signed_copy);
    profile_add_to_member_content(hs, mxid, content);
    {
        struct rooms_proto p = {tpi_sender, "m.room.member", mxid, content, NULL};
        *rc = rooms_send(hs->rooms, room_id, &p, 1, NULL, NULL, reason, reasonlen);
        res = *rc == ROOMS_OK ? EX_OK : EX_ROOMS;
    }
out:
    json_decref(signed_copy);
    json_decref(content);
    json_decref(tpi);
    free(membership);
    return res;
}

bool
third_party_signed_or_reply(struct req *r, const char *room_id)
{
    const json_t *tps = json_object_get(r->json, "third_party_signed");
    const char *sender, *mxid;
    enum rooms_rc rc = ROOMS_OK;
    char reason[256] = "";

    if (!tps)
        return true;
    sender = json_get_str(tps, "sender", NULL);
    mxid = json_get_str(tps, "mxid", NULL);
    if (!json_is_object(tps) || !sender || !mxid || !json_get_str(tps, "token", NULL) ||
        !json_is_object(json_object_get(tps, "signatures"))) {
        reply_error(r, MERR_BAD_JSON,
                    "third_party_signed needs sender, mxid, token and signatures");
        return false;
    }
    /* SPEC: auth rules 5.c.i.4 "If mxid does not match state_key, reject": the invite is for
     * the one who joins. */
    if (strcmp(mxid, r->user_id) != 0) {
        reply_error(r, MERR_FORBIDDEN, "third_party_signed is for another user");
        return false;
    }
    switch (exchange(r->hs, room_id, tps, sender, &rc, reason, sizeof(reason))) {
    case EX_OK:
        return true;
    case EX_BAD:
        reply_error(r, MERR_BAD_JSON, "Malformed third_party_signed");
        return false;
    case EX_FORBIDDEN:
        reply_error(r, MERR_FORBIDDEN, "%s", reason);
        return false;
    case EX_ROOMS:
        api_reply_rooms_error(r, rc, reason);
        return false;
    }
    return false;
}

/* PUT /_matrix/federation/v1/3pid/onbind: the identity server tells the server of mxid that
 * an address was bound, with the invitations stored for it (server_server_api "3PID
 * invites"). Each invitation to a room here becomes an invite; failures are logged. */
void
third_party_onbind(struct req *r)
{
    const char *mxid = json_get_str(r->json, "mxid", NULL);
    const json_t *invites = json_object_get(r->json, "invites");
    size_t i;
    json_t *inv;

    if (!mxid || !json_is_array(invites)) {
        reply_error(r, MERR_BAD_JSON, "mxid and invites are required");
        return;
    }
    if (!is_local_user(r->hs, mxid)) {
        reply_error(r, MERR_INVALID_PARAM, "mxid is not a user of this server");
        return;
    }
    json_array_foreach(invites, i, inv)
    {
        const char *room_id = json_get_str(inv, "room_id", NULL);
        const json_t *signed_obj = json_object_get(inv, "signed");
        const char *smxid = json_get_str(signed_obj, "mxid", NULL);
        enum rooms_rc rc = ROOMS_OK;
        char reason[256] = "";

        if (!room_id || !json_is_object(signed_obj) || !smxid || strcmp(smxid, mxid) != 0) {
            log_warn("onbind: skipping a malformed invitation for %s", mxid);
            continue;
        }
        if (exchange(r->hs, room_id, signed_obj, json_get_str(inv, "sender", NULL), &rc, reason,
                     sizeof(reason)) != EX_OK)
            log_warn("onbind: invitation of %s to %s not exchanged: %s", mxid, room_id, reason);
    }
    reply_empty(r);
}
