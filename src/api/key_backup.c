/* key_backup.yaml, modules/end_to_end_encryption.md "Server-side key backups" (Matrix v1.1):
 * a user's backup versions (algorithm + auth_data) and the encrypted room keys in them. The
 * server cannot read the keys; it keeps the better of two copies of a session by the spec's
 * rules and counts changes in the version's etag. Only the latest version takes new keys. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "core/util.h"
#include "json/canonical.h"
#include "json/json.h"
#include "store/store.h"

/* A version path or query parameter: our versions are positive integers; anything else
 * names no backup. */
static int64_t
parse_version(const char *s)
{
    int64_t v = 0;
    if (!s || util_parse_int64(s, &v) != 0 || v <= 0)
        return 0;
    return v;
}

/* Checks algorithm (a string) and auth_data (an object) of a body; canonical auth_data in
 * *auth (owned). Returns false after replying. */
static bool
version_body_or_reply(struct req *r, const char **alg, char **auth)
{
    const json_t *a = json_object_get(r->json, "algorithm"),
                 *d = json_object_get(r->json, "auth_data");
    *auth = NULL;
    if (!a || !d) {
        reply_error(r, MERR_MISSING_PARAM, "algorithm and auth_data are required");
        return false;
    }
    if (!json_is_string(a) || !json_is_object(d)) {
        reply_error(r, MERR_BAD_JSON, "algorithm must be a string and auth_data an object");
        return false;
    }
    if (!(*auth = json_canonical(d, false, NULL))) {
        reply_error(r, MERR_BAD_JSON, "auth_data cannot be written as canonical JSON");
        return false;
    }
    *alg = json_string_value(a);
    return true;
}

/* POST /_matrix/client/v3/room_keys/version */
void
backup_version_create(struct req *r)
{
    const char *alg;
    char *auth = NULL, *v;
    int64_t version = 0;

    if (!version_body_or_reply(r, &alg, &auth))
        return;
    if (store_backup_create(r->hs->store, r->user_id, alg, auth, &version) != STORE_OK) {
        reply_internal(r, "backup creation failed");
        goto out;
    }
    /* SPEC: "The backup version. This is an opaque string." */
    v = xasprintf("%lld", (long long)version);
    reply_json(r, 200, json_pack("{s:s}", "version", v));
    free(v);
out:
    free(auth);
}

static void
reply_backup(struct req *r, const struct store_backup *b)
{
    json_t *auth = json_loads(b->auth_data, 0, NULL);
    char *v = xasprintf("%lld", (long long)b->version), *etag;

    etag = xasprintf("%lld", (long long)b->etag);
    reply_json(r, 200,
               json_pack("{s:s, s:o, s:I, s:s, s:s}", "algorithm", b->algorithm, "auth_data",
                         auth ? auth : json_object(), "count", (json_int_t)b->count, "etag", etag,
                         "version", v));
    free(v);
    free(etag);
}

/* GET /room_keys/version and /room_keys/version/{version} */
void
backup_version_get(struct req *r)
{
    struct store_backup b;
    int64_t version = -1;
    enum store_rc rc;

    if (r->params[0] && !(version = parse_version(r->params[0]))) {
        reply_error(r, MERR_NOT_FOUND, "Unknown backup version");
        return;
    }
    rc = store_backup_get(r->hs->store, r->user_id, version, &b, NULL);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND,
                    version < 0 ? "No current backup version" : "Unknown backup version");
        return;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "backup lookup failed");
        return;
    }
    reply_backup(r, &b);
    store_backup_clear(&b);
}

/* PUT /room_keys/version/{version} */
void
backup_version_update(struct req *r)
{
    const json_t *bv = json_object_get(r->json, "version");
    struct store_backup b;
    int64_t version = parse_version(r->params[0]);
    const char *alg;
    char *auth = NULL;
    enum store_rc rc;

    if (!version_body_or_reply(r, &alg, &auth))
        return;
    /* SPEC: "If present, must be the same as the version in the path parameter." */
    if (bv && (!json_is_string(bv) || strcmp(json_string_value(bv), r->params[0]) != 0)) {
        reply_error(r, MERR_INVALID_PARAM, "version does not match the path");
        goto out;
    }
    rc = version ? store_backup_get(r->hs->store, r->user_id, version, &b, NULL) : STORE_NOT_FOUND;
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "Unknown backup version");
        goto out;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "backup lookup failed");
        goto out;
    }
    /* SPEC: algorithm "Must be the same as the algorithm currently used by the backup." */
    if (strcmp(b.algorithm, alg) != 0) {
        store_backup_clear(&b);
        reply_error(r, MERR_INVALID_PARAM, "Algorithm does not match");
        goto out;
    }
    store_backup_clear(&b);
    rc = store_backup_update(r->hs->store, r->user_id, version, auth);
    if (rc == STORE_NOT_FOUND)
        reply_error(r, MERR_NOT_FOUND, "Unknown backup version");
    else if (rc != STORE_OK)
        reply_internal(r, "backup update failed");
    else
        reply_empty(r);
out:
    free(auth);
}

/* DELETE /room_keys/version/{version} */
void
backup_version_delete(struct req *r)
{
    int64_t version = parse_version(r->params[0]);
    enum store_rc rc =
        version ? store_backup_delete(r->hs->store, r->user_id, version) : STORE_NOT_FOUND;

    /* SPEC: "If the backup was previously deleted, the call should succeed rather than
     * returning an error." (The store keeps deleted versions, so that is STORE_OK.) */
    if (rc == STORE_NOT_FOUND)
        reply_error(r, MERR_NOT_FOUND, "Unknown backup version");
    else if (rc != STORE_OK)
        reply_internal(r, "backup deletion failed");
    else
        reply_empty(r);
}

/* ---- keys ---- */

/* The required ?version= of the keys endpoints; 0 after replying. */
static int64_t
query_version_or_reply(struct req *r)
{
    const char *s = req_query(r, "version");
    int64_t v;
    if (!s) {
        reply_error(r, MERR_MISSING_PARAM, "version is required");
        return 0;
    }
    if (!(v = parse_version(s)))
        reply_error(r, MERR_NOT_FOUND, "Unknown backup version");
    return v;
}

/* Parses one KeyBackupData (definitions/key_backup_data.yaml) into k (session_data canonical
 * in *data, owned). Returns false after replying. */
static bool
key_data_or_reply(struct req *r, const json_t *o, struct store_room_key *k, char **data)
{
    const json_t *fmi = json_object_get(o, "first_message_index"),
                 *fc = json_object_get(o, "forwarded_count"),
                 *iv = json_object_get(o, "is_verified"), *sd = json_object_get(o, "session_data");

    *data = NULL;
    if (!json_is_object(o) || !json_is_integer(fmi) || !json_is_integer(fc) ||
        !json_is_boolean(iv) || !json_is_object(sd)) {
        reply_error(r, MERR_BAD_JSON,
                    "key data needs first_message_index and forwarded_count (integers), "
                    "is_verified (boolean) and session_data (object)");
        return false;
    }
    if (json_integer_value(fmi) < 0 || json_integer_value(fc) < 0) {
        reply_error(r, MERR_INVALID_PARAM,
                    "first_message_index and forwarded_count must not be negative");
        return false;
    }
    if (!(*data = json_canonical(sd, false, NULL))) {
        reply_error(r, MERR_BAD_JSON, "session_data cannot be written as canonical JSON");
        return false;
    }
    k->first_message_index = json_integer_value(fmi);
    k->forwarded_count = json_integer_value(fc);
    k->is_verified = json_is_true(iv);
    k->session_data = *data;
    return true;
}

/* Replies {etag, count} of the version after a change. */
static void
reply_etag_count(struct req *r, int64_t version)
{
    struct store_backup b;
    enum store_rc rc = store_backup_get(r->hs->store, r->user_id, version, &b, NULL);
    char *etag;

    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "Unknown backup version");
        return;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "backup lookup failed");
        return;
    }
    etag = xasprintf("%lld", (long long)b.etag);
    reply_json(r, 200, json_pack("{s:s, s:I}", "etag", etag, "count", (json_int_t)b.count));
    free(etag);
    store_backup_clear(&b);
}

/* PUT /room_keys/keys, /room_keys/keys/{roomId}, /room_keys/keys/{roomId}/{sessionId} */
void
backup_keys_put(struct req *r)
{
    const char *room = r->params[0];
    const char *session = r->params[0] ? r->params[1] : NULL, *rid, *sid;
    struct store_room_key *keys = NULL;
    char **datas = NULL;
    size_t n = 0, cap = 0;
    int64_t version, current = -1;
    json_t *rooms, *rv, *sessions, *sv;
    enum store_rc rc;

    if (!(version = query_version_or_reply(r)))
        return;
    /* Normalise the three shapes into {room: {"sessions": {session: data}}}. */
    if (session) {
        rooms = json_pack("{s:{s:{s:O}}}", room, "sessions", session, r->json);
    } else if (room) {
        rooms = json_pack("{s:O}", room, r->json);
    } else {
        rooms = json_incref(json_object_get(r->json, "rooms"));
        if (!json_is_object(rooms)) {
            json_decref(rooms);
            reply_error(r, MERR_BAD_JSON, "rooms must be an object");
            return;
        }
    }
    json_object_foreach(rooms, rid, rv)
    {
        sessions = json_object_get(rv, "sessions");
        if (!json_is_object(rv) || !json_is_object(sessions)) {
            reply_error(r, MERR_BAD_JSON, "each room needs sessions (an object)");
            goto out;
        }
        cap += json_object_size(sessions);
    }
    keys = xcalloc(cap + 1, sizeof(*keys));
    datas = xcalloc(cap + 1, sizeof(*datas));
    json_object_foreach(rooms, rid, rv)
    {
        json_object_foreach(json_object_get(rv, "sessions"), sid, sv)
        {
            if (!key_data_or_reply(r, sv, &keys[n], &datas[n]))
                goto out;
            keys[n].room_id = rid;
            keys[n].session_id = sid;
            n++;
        }
    }
    rc = store_backup_keys_put(r->hs->store, r->user_id, version, keys, n, &current);
    if (rc == STORE_EXISTS) {
        /* SPEC: 403 M_WRONG_ROOM_KEYS_VERSION "the version specified does not match the
         * current backup version", with current_version. */
        char *cv = xasprintf("%lld", (long long)current);
        json_t *extra = json_pack("{s:s}", "current_version", cv);
        reply_error_extra(r, 403, MERR_WRONG_ROOM_KEYS_VERSION,
                          "Wrong backup version, current version is another", extra);
        json_decref(extra);
        free(cv);
    } else if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "Unknown backup version");
    } else if (rc != STORE_OK) {
        reply_internal(r, "backup upload failed");
    } else {
        reply_etag_count(r, version);
    }
out:
    for (size_t i = 0; i < n + 1 && datas; i++)
        free(datas[i]);
    free(datas);
    free(keys);
    json_decref(rooms);
}

static json_t *
key_json(const struct store_room_key_row *k)
{
    json_t *sd = json_loads(k->session_data, 0, NULL);
    return json_pack("{s:I, s:I, s:b, s:o}", "first_message_index",
                     (json_int_t)k->first_message_index, "forwarded_count",
                     (json_int_t)k->forwarded_count, "is_verified", k->is_verified, "session_data",
                     sd ? sd : json_object());
}

/* GET /room_keys/keys, /room_keys/keys/{roomId}, /room_keys/keys/{roomId}/{sessionId} */
void
backup_keys_get(struct req *r)
{
    const char *room = r->params[0];
    const char *session = r->params[0] ? r->params[1] : NULL;
    struct store_room_key_row *list = NULL;
    struct store_backup b;
    size_t n = 0;
    int64_t version;
    json_t *rooms;
    enum store_rc rc;

    if (!(version = query_version_or_reply(r)))
        return;
    rc = store_backup_get(r->hs->store, r->user_id, version, &b, NULL);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "Unknown backup version");
        return;
    }
    store_backup_clear(&b);
    if (rc != STORE_OK || store_backup_keys_get(r->hs->store, r->user_id, version, room, session,
                                                &list, &n) != STORE_OK) {
        reply_internal(r, "backup read failed");
        return;
    }
    if (session) {
        /* SPEC: 404 "The backup was not found" / the session has no key. */
        if (n == 0)
            reply_error(r, MERR_NOT_FOUND, "No room key found for this session");
        else
            reply_json(r, 200, key_json(&list[0]));
        goto out;
    }
    rooms = json_object();
    for (size_t i = 0; i < n; i++) {
        json_t *rm = json_object_get(rooms, list[i].room_id);
        if (!rm) {
            rm = json_pack("{s:{}}", "sessions");
            json_object_set_new(rooms, list[i].room_id, rm);
        }
        json_object_set_new(json_object_get(rm, "sessions"), list[i].session_id,
                            key_json(&list[i]));
    }
    if (room) {
        /* Synapse answers a room without keys with empty sessions. */
        json_t *rm = json_object_get(rooms, room);
        reply_json(r, 200, rm ? json_incref(rm) : json_pack("{s:{}}", "sessions"));
        json_decref(rooms);
    } else {
        reply_json(r, 200, json_pack("{s:o}", "rooms", rooms));
    }
out:
    store_backup_keys_free(list, n);
}

/* DELETE /room_keys/keys, /room_keys/keys/{roomId}, /room_keys/keys/{roomId}/{sessionId} */
void
backup_keys_delete(struct req *r)
{
    const char *room = r->params[0];
    const char *session = r->params[0] ? r->params[1] : NULL;
    struct store_backup b;
    int64_t version;
    enum store_rc rc;

    if (!(version = query_version_or_reply(r)))
        return;
    rc = store_backup_get(r->hs->store, r->user_id, version, &b, NULL);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "Unknown backup version");
        return;
    }
    store_backup_clear(&b);
    if (rc != STORE_OK ||
        store_backup_keys_delete(r->hs->store, r->user_id, version, room, session) != STORE_OK) {
        reply_internal(r, "backup deletion failed");
        return;
    }
    reply_etag_count(r, version);
}
